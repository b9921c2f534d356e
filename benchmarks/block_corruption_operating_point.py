"""A block-corruption model's figures at a given operating point, from saved frame scores.

    python3 benchmarks/block_corruption_operating_point.py --scores DIR --cell 0.6 --area 0.1636

``python -m training.block_corruption`` saves every scored frame of both held-out splits
(``DIR/val-scores.npz``, ``DIR/test-scores.npz``, DIR being its ``--work``'s ``full/``). This
reads them back and measures version 1 (cells from ``--cell``, flagged above ``--area`` of them)
at a fixed operating point instead of the one validation picked: for a model whose thresholds
are kept while the splits change, or to compare two models at the same point. No scoring, no
model: a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.block_eval import CELL_LEVELS, FrameScores, measure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", type=Path, required=True,
                        help="folder holding val-scores.npz and test-scores.npz")
    parser.add_argument("--cell", type=float, required=True, choices=CELL_LEVELS,
                        help="cell threshold: one of the levels scored")
    parser.add_argument("--area", type=float, required=True, help="area-ratio threshold")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = {}
    for split in ("val", "test"):
        path = args.scores / f"{split}-scores.npz"
        if not path.is_file():
            parser.error(f"{path} not found: run python -m training.block_corruption first")
        truth, kind, scores = FrameScores.load(path).arrays()
        figures[split] = measure(truth, kind, scores[f"area@{args.cell}"], args.area).__dict__
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"cells from {args.cell:g}, area threshold {args.area:g}; {args.scores}\n")
    print("| split | F1 | precision | recall | worst FP kind | positives |")
    print("| --- | --- | --- | --- | --- | --- |")
    for split, m in figures.items():
        kind, rate = max(m["false_positive_rate"].items(), key=lambda item: item[1])
        print(f"| {split} | {m['f1']:.4f} | {m['precision']:.4f} | {m['recall']:.4f} | "
              f"{kind} {100 * rate:.2f} % | {m['positives']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
