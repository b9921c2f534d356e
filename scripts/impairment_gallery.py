"""Render one example picture per impairment for docs/impairments.md.

    python3 scripts/impairment_gallery.py [--out docs/img/impairments]

Video impairments: clean frame | impaired frame | ground-truth mask (where one exists), taken
from inside the impairment's window on the simulated device's generated content. Audio
impairments: spectrograms of the clean and the impaired soundtrack (the window is 1.0-2.0 s).
Everything is generated from fixed seeds, so the pictures are reproducible.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from harness.impairments.base import AudioImpairment, VideoImpairment
from harness.impairments.registry import IMPAIRMENTS, create
from harness.report.images import annotate
from harness.report.spectrogram import spectrogram_image
from harness.simulation.content import GeneratedPicture, GeneratedSound

WIDTH, HEIGHT, FPS, RATE = 480, 270, 30.0, 48_000
AT, DURATION = 1.0, 1.0
#: Frame shown for each impairment (some need a few frames inside the window to develop).
SHOWN_INDEX = {"block_corruption_bitstream": 36, "stutter": 38, "freeze": 40, "short_fade": 44}
#: Windows that must differ from the default (a short fade is only clean while under 1 s).
DURATIONS = {"short_fade": 0.6}


def video_example(name: str, impairment: VideoImpairment) -> np.ndarray:
    picture = GeneratedPicture(WIDTH, HEIGHT, FPS, seed=3)
    shown = SHOWN_INDEX.get(name, 35)
    for index in range(shown + 1):
        clean = picture.frame(index)
        result = impairment.apply(index, index / FPS, clean)
    panels = [annotate(clean, ["clean"]), annotate(result.image, [name])]
    if result.mask is not None:
        mask = cv2.cvtColor(result.mask.astype(np.uint8) * 255, cv2.COLOR_GRAY2BGR)
        panels.append(annotate(mask, [f"mask, area {result.area_ratio:.2f}"]))
    return np.hstack(panels)


def audio_example(name: str, impairment: AudioImpairment) -> np.ndarray:
    sound = GeneratedSound.at_loudness(RATE, 2, seed=3, lufs=-23.0)
    block = RATE // 10
    clean, impaired = [], []
    for start in range(0, 3 * RATE, block):
        samples = sound.samples(start, block)
        clean.append(samples)
        impaired.append(impairment.apply(start, samples, RATE))
    return np.vstack([
        annotate(spectrogram_image(np.concatenate(clean), RATE, width=720), ["clean, 0-3 s"]),
        annotate(spectrogram_image(np.concatenate(impaired), RATE, width=720),
                 [f"{name}, window 1-2 s"]),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/impairments"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in IMPAIRMENTS:
        impairment = create(name, AT, DURATIONS.get(name, DURATION), seed=7)
        if isinstance(impairment, VideoImpairment):
            image = video_example(name, impairment)
        else:
            image = audio_example(name, impairment)
        path = args.out / f"{name}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        print(f"{path}  {impairment.label().defect}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
