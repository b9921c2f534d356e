"""The block-corruption model on the test suite's look-alikes and damage, as numbers.

    python3 benchmarks/block_corruption_lookalikes.py [--models DIR] [--frames 50] [--json]

``tests/test_block_corruption.py`` asserts pass/fail at the shipped thresholds; this prints how
far each case is from the threshold, for the shipped model or a candidate (``--models DIR``:
``block_corruption.onnx`` + ``manifest.json`` of a training run's ``--out``). Validation F1 on
the corpus once picked a candidate that flags the suite's crowd and fast pan (model card,
"Known failures"): run this on every candidate before choosing one.

Cases (``training/block_suite.py``, which training also uses to bound the thresholds it picks;
built by ``tests/video_content.py``, 640 x 360 at 25 fps, every frame through the capture path's
MJPEG and noise, analysed at the detector's default 960 x 544 limit, so at their own size):
the five clean scenes (slow photo pan, crowd, fast pan, film grain, night street), the photo
at JPEG quality 10 and H.264 CRF 44 (legitimate, starved compression), the damage the suite
expects found (pixel-domain 8-px and 16-px solid blocks) and its known misses (16-px mixed
blocks, H.264 packet loss).
Per case: the worst frame's corrupted-area ratio at the model's validated cell threshold and at
0.5-0.9, the largest frame-head probability, and whether version 1 flags it. One thread.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.detectors.video.corruption_map import CorruptionMapModel  # noqa: E402
from harness.inference import models_dir  # noqa: E402
from training.block_suite import CaseResult, suite_areas  # noqa: E402

LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9)


def table(results: list[CaseResult], model: CorruptionMapModel, threshold: float) -> str:
    header = ("| case | should be flagged | worst area (cells from "
              f"{model.cell_threshold:g}) | flagged (> {threshold:.3g}) | "
              + " | ".join(f"area @{level:g}" for level in LEVELS) + " | frame head max |")
    lines = [header, "|" + " --- |" * (5 + len(LEVELS))]
    expect = {True: "yes", False: "no", None: "yes (known miss)"}
    for result in results:
        area = result.area_at[model.cell_threshold]
        flagged = area > threshold
        verdict = "yes" if flagged else "no"
        if result.case.expect is not None and flagged != result.case.expect:
            verdict += " (wrong)"
        lines.append(
            f"| {result.case.name} | {expect[result.case.expect]} | {area:.3f} | {verdict} | "
            + " | ".join(f"{result.area_at[level]:.3f}" for level in LEVELS)
            + f" | {result.frame_probability:.3f} |")
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
    results = suite_areas(model, tuple(sorted({*LEVELS, model.cell_threshold})), args.frames)
    if args.json:
        print(json.dumps([{"case": r.case.name, "expect": r.case.expect,
                           "area_at": r.area_at, "frame_probability": r.frame_probability}
                          for r in results], indent=1))
        return 0
    where = args.models or models_dir()
    print(f"models {where}: cells from {model.cell_threshold:g}, area threshold "
          f"{threshold:.4g}; {args.frames} frames per case\n")
    print(table(results, model, threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
