"""Save example pictures of real bitstream damage, to check by eye that it looks like a decoder's.

    python scripts/bitstream_examples.py OUT_DIR [--video FILE] [--size 1280x720] [--seed N]

For each setting in ``SETTINGS`` the clip goes through ``BitstreamCorruption`` and the frame with
the largest corrupted area is written as ``NAME_clean.png`` (the clean decode), ``NAME_damaged.png``
(what the receiver shows) and ``NAME_mask.png`` (the ground truth, white = corrupted); the label
is printed. Without ``--video`` the simulated device's generated programme is used; any file
PyAV reads works (a corpus clip shows the damage on real content).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from harness.impairments.bitstream import BitstreamCorruption

AT, DURATION, GOP = 2.0, 0.5, 50

#: name -> parameters: the main shapes the damage takes, from a sliver to most of the picture
SETTINGS: dict[str, dict[str, object]] = {
    "loss_one_slice": {"kind": "loss", "rate": 0.02, "burst": 4.0, "slices": 1},
    "loss_eight_slices": {"kind": "loss", "rate": 0.02, "burst": 4.0, "slices": 8},
    "errors_four_slices": {"kind": "errors", "rate": 0.02, "burst": 4.0, "slices": 4},
    "light_loss": {"kind": "loss", "rate": 0.005, "burst": 1.0, "slices": 8},
}


def pictures(video: Path | None, width: int, height: int) -> tuple[Iterator[np.ndarray], float]:
    """BGR pictures at the requested size, and their frame rate."""
    if video is None:
        from harness.simulation.content import GeneratedPicture

        generated = GeneratedPicture(width, height, 25.0, seed=0)
        return (generated.frame(i) for i in itertools.count()), 25.0
    import av

    container = av.open(str(video))
    stream = container.streams.video[0]
    fps = float(stream.average_rate or 25)
    decoded = (frame.to_ndarray(format="bgr24") for frame in container.decode(stream))
    return (cv2.resize(picture, (width, height)) for picture in decoded), fps


def worst_frame(
    impairment: BitstreamCorruption, frames: Iterator[np.ndarray], fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(clean decode, damaged, mask) of the most damaged frame, running until recovery."""
    worst, worst_ratio, decoding = None, 0.0, False
    for index, picture in enumerate(frames):
        out = impairment.apply(index, index / fps, picture)
        if out.mask is None and decoding:
            break  # recovered at the keyframe: nothing more to see
        decoding = out.mask is not None
        if decoding and out.area_ratio > worst_ratio:
            worst, worst_ratio = (impairment.reference, out.image, out.mask), out.area_ratio
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory for the PNG files")
    parser.add_argument("--video", type=Path, help="a clip to damage (default: generated)")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, params in SETTINGS.items():
        frames, fps = pictures(args.video, width, height)
        impairment = BitstreamCorruption(AT, DURATION, seed=args.seed, gop=GOP, **params)
        worst = worst_frame(impairment, frames, fps)
        label = impairment.label()
        print(f"{name}: {label.start:.2f}-{label.end:.2f} s, area ratio {label.area_ratio:.3f}")
        if worst is None:
            continue
        clean, damaged, mask = worst
        cv2.imwrite(str(args.out / f"{name}_clean.png"), clean)
        cv2.imwrite(str(args.out / f"{name}_damaged.png"), damaged)
        cv2.imwrite(str(args.out / f"{name}_mask.png"), mask.astype(np.uint8) * 255)
    return 0


if __name__ == "__main__":
    sys.exit(main())
