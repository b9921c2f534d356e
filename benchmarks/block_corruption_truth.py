"""How much of the block-corruption ground truth is damage anyone can see.

    python3 benchmarks/block_corruption_truth.py [--corpus /work/corpus] [--clips 20]
                                                 [--split val] [--seed 0] [--figure JPG]

The training and evaluation truth (``training.block_data.visible_damage``) marks an analysis
pixel corrupted when its colour is off the clean picture by more than 24 code values -- and,
since 2026-12-07, off every clean pixel up to one pixel around as well. This measures what that
neighbourhood changes, on the first ``--clips`` clips of each damage kind the trainer draws for
``--split`` (the same specs, seed and analysis size as training): for each frame the corrupted
share under displacement tolerances of 0 (the colour rule alone), 1 and 2 pixels, and how many
of the frames positive under the colour rule alone (share above 7 %) stay positive. ``--figure``
writes, for the bitstream frames that lose the most, the clean and damaged pictures with each
rule's mask, so a reader can judge whether what was dropped is visible.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.block_data import POSITIVE_AREA, clip_specs, render, visible_damage  # noqa: E402

MAX_SIZE = (960, 544)
DISPLACEMENTS = (0, 1, 2)
KINDS = ("block_corruption_bitstream", "block_corruption_pixel")


def _overlay(picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    marked = picture.copy()
    marked[mask] = (0.4 * marked[mask] + 0.6 * np.array([0, 0, 255])).astype(np.uint8)
    return marked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    parser.add_argument("--clips", type=int, default=20, help="clips of each damage kind")
    parser.add_argument("--split", default="val")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path,
                        help="write frames that lose positives here (.jpg or .png)")
    args = parser.parse_args()
    specs = clip_specs(args.corpus, args.split, 150, args.seed)
    shares: dict[str, list[list[float]]] = {kind: [] for kind in KINDS}
    dropped: list[tuple[float, np.ndarray, np.ndarray]] = []  # bitstream frames that lose most
    for kind in KINDS:
        chosen = [spec for spec in specs if spec.impairment == kind][: args.clips]
        for number, spec in enumerate(chosen, 1):
            # the clean picture of bitstream damage is the undamaged decode, as in training
            for frame in render(spec, MAX_SIZE):
                shown = frame.picture
                masks = [visible_damage(frame.reference, shown, d) for d in DISPLACEMENTS]
                shares[kind].append([float(m.mean()) for m in masks])
                if kind == KINDS[0] and masks[0].mean() > POSITIVE_AREA:
                    loss = float(masks[0].mean() - masks[1].mean())
                    dropped.append((loss, shown, np.stack(masks[:2])))
            print(f"{kind}: {number}/{len(chosen)} clips", file=sys.stderr, flush=True)
    print(f"{args.split} split, first {args.clips} clips of each damage kind (seed {args.seed}), "
          f"analysed at {MAX_SIZE[0]} x {MAX_SIZE[1]}; a frame is positive above "
          f"{POSITIVE_AREA:.0%} corrupted\n")
    print("| damage | frames | displacement forgiven | positive frames | of the colour rule's "
          "positives, still positive | mean corrupted share |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, rows in shares.items():
        table = np.array(rows)
        base = table[:, 0] > POSITIVE_AREA
        for column, displacement in enumerate(DISPLACEMENTS):
            positive = table[:, column] > POSITIVE_AREA
            kept = (positive & base).sum() / max(1, base.sum())
            print(f"| {kind} | {len(table)} | {displacement} px | {positive.mean():.1%} | "
                  f"{kept:.1%} | {table[:, column].mean():.4f} |")
    if args.figure is not None and dropped:
        dropped.sort(key=lambda item: -item[0])
        rows = [np.concatenate([cv2.resize(image, (480, 272)) for image in
                                (shown, _overlay(shown, masks[0]), _overlay(shown, masks[1]))], 1)
                for _, shown, masks in dropped[:: max(1, len(dropped) // 4)][:4]]
        cv2.imwrite(str(args.figure), np.concatenate(rows, 0))
        print(f"\nfigure: {args.figure} (damaged frame | colour rule | 1 px forgiven)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
