"""The block-corruption model on the test suite's look-alikes and damage, as numbers.

    python3 benchmarks/block_corruption_lookalikes.py [--models DIR] [--frames 50] [--json]

``tests/test_block_corruption.py`` asserts pass/fail at the shipped thresholds; this prints how
far each case is from the threshold, for the shipped model or a candidate (``--models DIR``:
``block_corruption.onnx`` + ``manifest.json`` of a training run's ``--out``). Validation F1 on
the corpus once picked a candidate that flags the suite's crowd and fast pan (model card,
"Known failures"): run this on every candidate before choosing one.

Cases (``tests/video_content.py``, 640 x 360 at 25 fps, every frame through the capture path's
MJPEG and noise, analysed at the detector's default 960 x 544 limit, so at their own size):
the five clean scenes (slow photo pan, crowd, fast pan, film grain, night street), the photo
at JPEG quality 10 and H.264 CRF 44 (legitimate, starved compression), and the damage the
suite expects found (pixel-domain 8-px solid blocks, 16-px mixed blocks, H.264 packet loss).
Per case: the worst frame's corrupted-area ratio at the model's validated cell threshold and at
0.5-0.9, the largest frame-head probability, and whether version 1 flags it. One thread.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.detectors.video.corruption_map import (  # noqa: E402
    CorruptionMapModel,
    analysis_picture,
    corrupted_area,
)
from harness.inference import models_dir  # noqa: E402
from tests.video_content import SCENES, capture, impaired, scene  # noqa: E402

MAX_SIZE = (960, 544)
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: (case, scene, scene seed, impairment or None, its parameters, should be flagged)
CASES: tuple[tuple[str, str, int, str | None, dict, bool], ...] = (
    *((kind, kind, 2, None, {}, False) for kind in SCENES),
    ("JPEG quality 10", "photo", 4, "low_bitrate", {"codec": "jpeg", "quality": 10}, False),
    ("H.264 CRF 44", "photo", 4, "low_bitrate", {"codec": "h264", "crf": 44}, False),
    ("8-px solid blocks", "photo", 1, "block_corruption_pixel",
     {"mb_size": 8, "area": (0.15, 0.3), "forms": ["solid"]}, True),
    ("16-px blocks", "photo", 1, "block_corruption_pixel",
     {"mb_size": 16, "area": (0.15, 0.3)}, True),
    ("H.264 packet loss", "photo", 1, "block_corruption_bitstream",
     {"rate": 0.05, "burst": 6.0, "slices": 4, "gop": 50}, True),
)


def measure(model: CorruptionMapModel, frames: int) -> list[dict]:
    """Every case's worst-frame figures under ``model``."""
    rows = []
    for name, kind, seed, impairment, params, expected in CASES:
        pictures = scene(kind, seed, frames)
        if impairment is not None:
            pictures = impaired(pictures, impairment, **params)
        captured = capture(pictures, np.random.default_rng(0), quality=90, noise_sigma=1.0)
        results = [model(analysis_picture(frame.bgr, MAX_SIZE)) for frame in captured]
        rows.append({
            "case": name, "damaged": expected,
            "area": max(result.area_ratio for result in results),
            "area_at": {level: max(corrupted_area(r.probabilities, level) for r in results)
                        for level in LEVELS},
            "frame_probability": max(result.frame_probability for result in results),
        })
    return rows


def table(rows: list[dict], model: CorruptionMapModel, threshold: float) -> str:
    header = ("| case | should be flagged | worst area (cells from "
              f"{model.cell_threshold:g}) | flagged (> {threshold:.3g}) | "
              + " | ".join(f"area @{level:g}" for level in LEVELS) + " | frame head max |")
    lines = [header, "|" + " --- |" * (5 + len(LEVELS))]
    for row in rows:
        flagged = row["area"] > threshold
        verdict = "yes" if flagged else "no"
        if flagged != row["damaged"]:
            verdict += " (wrong)"
        lines.append(
            f"| {row['case']} | {'yes' if row['damaged'] else 'no'} | {row['area']:.3f} | "
            f"{verdict} | " + " | ".join(f"{row['area_at'][level]:.3f}" for level in LEVELS)
            + f" | {row['frame_probability']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=None,
                        help="models directory (default: the shipped models/)")
    parser.add_argument("--frames", type=int, default=50, help="frames per case (25 fps)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    model = CorruptionMapModel(1, args.models)
    threshold = float(model.thresholds["area_ratio"])
    rows = measure(model, args.frames)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    where = args.models or models_dir()
    print(f"models {where}: cells from {model.cell_threshold:g}, area threshold "
          f"{threshold:.4g}; {args.frames} frames per case\n")
    print(table(rows, model, threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
