"""How much pixel-domain damage the block-corruption model finds when lost slices are smeared.

    python3 benchmarks/block_corruption_smear.py [--corpus /work/corpus] [--models DIR]
                                                 [--split test] [--every 2]

The pixel-domain simulator (``harness/impairments/blocks.py``) can conceal a lost block as a
*smear*: each pixel column of the hole interpolated between the intact rows above and below it,
the vertical streaks a decoder leaves where it has nothing to copy from. The model is trained
without smears (``training.block_data.PIXEL_FORMS``); this measures what that costs. The
pixel-domain clips the trainer draws for ``--split`` (same specs, seed and analysis size) are
rendered twice, with the training forms and with smears only (``stripe`` and ``smear``), and
the model (``--models DIR``: a training run's ``--out``; default the shipped one) flags each
positive frame (visibly corrupted share above 7 %) at its own validated thresholds. Every
``--every``-th frame is scored, as the detector analyses by default. One thread.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.detectors.video.corruption_map import CorruptionMapModel  # noqa: E402
from training.block_corruption import MAX_SIZE, Plan  # noqa: E402
from training.block_data import PIXEL_FORMS, POSITIVE_AREA, clip_specs, render  # noqa: E402

FORMS = {"training forms": list(PIXEL_FORMS), "smears only": ["stripe", "smear"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    parser.add_argument("--models", type=Path, help="models directory (default: models/)")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--every", type=int, default=2, help="score every n-th frame")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = CorruptionMapModel(threads=1, directory=args.models)
    area = model.thresholds["area_ratio"]
    plan = Plan.for_run(quick=False)
    count = plan.val_clips if args.split == "val" else plan.test_clips
    specs = [spec for spec in clip_specs(args.corpus, args.split, count, args.seed)
             if spec.impairment == "block_corruption_pixel"]
    print(f"{len(specs)} pixel-domain clips of {args.split}, thresholds: cells "
          f"{model.cell_threshold:g}, area {area:g}\n")
    print("| damage | positive frames | found |\n| --- | --- | --- |")
    for label, forms in FORMS.items():
        positives = found = 0
        for spec in specs:
            smeared = replace(spec, params={**spec.params, "forms": forms})
            for frame in render(smeared, MAX_SIZE):
                if frame.index % args.every or frame.area_ratio <= POSITIVE_AREA:
                    continue
                positives += 1
                found += model(frame.picture).area_ratio > area
        print(f"| {label} | {positives} | {found / max(positives, 1):.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
