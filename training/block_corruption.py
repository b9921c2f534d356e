"""Train, evaluate and export the block-corruption detector's model.

    python -m training.block_corruption --seed 0 --corpus CORPUS_DIR [--quick] [--out models]

One command, one seed, the whole job:

1. render training pictures from the corpus's train split (``training.block_data``: real
   bitstream damage, pixel-domain damage, look-alikes, clean; stored under ``--work``, each
   clip reused when a later run asks for exactly the same clip);
2. train the network (``training.block_net``; the checkpoint is kept under ``--work`` and
   reused by a run with the same pictures, seed and plan) and export it to
   ``OUT/block_corruption.onnx``;
3. evaluate the exported model -- loaded the way the detector loads it -- and FFmpeg's
   blockdetect on the same frames (``training.block_eval``): thresholds on the validation split,
   metrics on the test split, speed;
4. register the model in ``OUT/manifest.json`` and write the model card ``OUT/block_corruption.md``.

Without ``--corpus`` the simulated device's generated content stands in (what the tests use);
``--quick`` shrinks every set so the whole run takes seconds. ``--evaluate-only`` skips 1 and 2
and re-runs 3 and 4 on the model already in ``OUT`` (new thresholds, metrics and card for the
same ONNX file, its manifest entry keeping how it was trained): for a change to the evaluation
or the decision rule, without training again.
"""

import os

# Before numpy loads: BLAS threads only fight the workers and torch on a 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

from harness.detectors.video.corruption_map import MODEL  # noqa: E402
from harness.inference import model_info  # noqa: E402
from training import block_card, block_eval, block_net  # noqa: E402
from training.block_data import (  # noqa: E402
    TRUTH,
    ClipSpec,
    TrainingSet,
    clip_specs,
    index_rows,
    write_training_clip,
)
from training.registry import register, training_command  # noqa: E402

VERSION = "1"
MAX_SIZE = (960, 544)  #: analysis picture the model is trained at (the detector's default)


@dataclass(frozen=True)
class Plan:
    """How big each part of the run is."""

    train_clips: int
    keep_every: int
    steps: int
    batch: int
    val_clips: int
    test_clips: int
    whole_seconds: float | None  #: of each held-out source for the negatives (None: all)
    speed_repeats: int
    suite_frames: int  #: frames of each test-suite case that bounds the thresholds

    @classmethod
    def for_run(cls, quick: bool) -> "Plan":
        if quick:
            return cls(train_clips=4, keep_every=8, steps=4, batch=4, val_clips=3, test_clips=3,
                       whole_seconds=0.2, speed_repeats=1, suite_frames=4)
        return cls(train_clips=400, keep_every=4, steps=5000, batch=24, val_clips=100,
                   test_clips=180, whole_seconds=None, speed_repeats=15, suite_frames=50)


def _render_one(job: tuple[ClipSpec, Path, str, int]) -> dict:
    spec, out, name, keep_every = job
    return write_training_clip(spec, out, name, MAX_SIZE, keep_every)


def build_training_set(corpus: Path | None, work: Path, seed: int, plan: Plan, workers: int,
                       extra_content: bool = False) -> TrainingSet:
    """Render the training pictures under ``work``, reusing each clip an earlier run stored
    with the same key (``_clip_key``): a change to one kind of clip re-renders only those."""
    specs = clip_specs(corpus, "train", plan.train_clips, seed, extra_content=extra_content)
    names = [f"clip-{n:04d}" for n in range(len(specs))]
    keys = [_clip_key(spec, plan.keep_every) for spec in specs]
    stored = _stored_rows(work)
    rows = [row if (row := stored.get(name)) and row.get("key") == key else None
            for name, key in zip(names, keys, strict=True)]
    todo = [n for n, row in enumerate(rows) if row is None]
    work.mkdir(parents=True, exist_ok=True)
    stamp, fingerprint = work / "fingerprint", hashlib.sha256("".join(keys).encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != fingerprint:
        stamp.unlink(missing_ok=True)
        for stale in work.glob("net-*.pt"):  # trained on other pictures
            stale.unlink()
    if todo:
        print(f"rendering {len(todo)} training clips, reusing {len(specs) - len(todo)} "
              f"stored in {work}", flush=True)
        index_rows([row for row in rows if row is not None], work)  # none about to change
        jobs = [(specs[n], work, names[n], plan.keep_every) for n in todo]
        started = time.monotonic()
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            rendered = zip(todo, pool.imap(_render_one, jobs), strict=True)
            for done, (n, row) in enumerate(rendered, 1):
                rows[n] = {**row, "key": keys[n]}
                if done % 20 == 0 or done == len(jobs):
                    print(f"training clips {done}/{len(jobs)} "
                          f"({time.monotonic() - started:.0f} s)", flush=True)
    else:
        print(f"reusing the training pictures in {work}", flush=True)
    index_rows(rows, work)
    stamp.write_text(fingerprint)
    return TrainingSet.load(work)


def _clip_key(spec: ClipSpec, keep_every: int) -> str:
    """What decides a stored clip's pictures and targets: its description, the analysis size,
    which frames are kept and the truth rule."""
    return hashlib.sha256(json.dumps(
        [spec.describe(), list(MAX_SIZE), keep_every, TRUTH]).encode()).hexdigest()


def _stored_rows(work: Path) -> dict[str, dict[str, Any]]:
    """The clips an earlier run stored under ``work`` whose files are all there, by name."""
    index = work / "index.jsonl"
    if not index.exists():
        return {}
    rows = (json.loads(line) for line in index.read_text().splitlines())
    return {row["name"]: row for row in rows
            if all((work / f"{row['name']}.{part}.npy").exists() for part in ("pictures",
                                                                          "targets"))}


def train_or_reuse(data: TrainingSet, work: Path, seed: int, plan: Plan, recipe: str
                   ) -> tuple[block_net.BlockCorruptionNet, float | None]:
    """Train the network, or load the one a previous run trained on the same pictures with
    the same seed and plan (a checkpoint under ``work``); also the minutes training took
    (None when reused)."""
    checkpoint = work / f"net-{recipe}-seed{seed}-steps{plan.steps}-batch{plan.batch}.pt"
    net = block_net.BlockCorruptionNet()
    if checkpoint.exists():
        print(f"reusing the network trained in {checkpoint}", flush=True)
        net.load_state_dict(torch.load(checkpoint))
        return net.eval(), None
    started = time.monotonic()
    net = block_net.train(data, seed=seed, steps=plan.steps, batch=plan.batch,
                          recipe=block_net.RECIPES[recipe],
                          progress=lambda line: print(line, flush=True))
    torch.save(net.state_dict(), checkpoint)
    return net, round((time.monotonic() - started) / 60, 1)


def train_and_export(args: argparse.Namespace, plan: Plan, work: Path) -> dict[str, Any]:
    """Steps 1 and 2: the ONNX file in ``args.out``, registered; how it was trained."""
    data = build_training_set(args.corpus, work, args.seed, plan, args.workers,
                              args.extra_content)
    print(f"{len(data.pictures)} training pictures, "
          f"{(data.area_ratio > block_eval.POSITIVE_AREA).mean():.0%} positive", flush=True)
    net, train_minutes = train_or_reuse(data, work, args.seed, plan, args.recipe)
    args.out.mkdir(parents=True, exist_ok=True)
    block_net.export(net, args.out / f"{MODEL}.onnx")
    trained = {"command": _command(args), "seed": args.seed, "quick": args.quick,
               "max_size": list(MAX_SIZE), "steps": plan.steps, "recipe": args.recipe,
               "thresholds": block_eval.DEFAULT_THRESHOLDS,
               "train_pictures": len(data.pictures), "train_clips": plan.train_clips}
    if train_minutes is not None:
        trained["train_minutes"] = train_minutes
    _register(args.out, trained)
    return trained


def _command(args: argparse.Namespace) -> str:
    """The command that trains this model again: the options that decide it, nothing else."""
    return training_command(
        "training.block_corruption", f"--seed {args.seed}", "--corpus CORPUS",
        args.train_clips is not None and f"--train-clips {args.train_clips}",
        args.extra_content and "--extra-content",
        args.recipe != block_net.DEFAULT_RECIPE and f"--recipe {args.recipe}",
    )


def _register(out: Path, trained: dict[str, Any]) -> None:
    register(out, MODEL, out / f"{MODEL}.onnx", trained=trained,
             input_spec=block_eval.INPUT_SPEC, classes=("corrupted",), version=VERSION)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.block_corruption",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, help="corpus directory (harness corpus build)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "models", help="models directory to write (default: models/)")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "vqa-harness"
                        / "block-corruption", help="where training pictures are stored")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering clips")
    parser.add_argument("--quick", action="store_true", help="tiny sets: a smoke run")
    parser.add_argument("--train-clips", type=int, metavar="N",
                        help="training clips to render (default 400; --quick: 4)")
    parser.add_argument("--recipe", choices=sorted(block_net.RECIPES),
                        default=block_net.DEFAULT_RECIPE,
                        help="training targets and augmentation (training/block_net.py)")
    parser.add_argument("--extra-content", action="store_true",
                        help="also train on the corpus's training-only sources (extra_photo, "
                             "extra_graphics)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="re-evaluate the model already in --out: thresholds, metrics, card")
    args = parser.parse_args(argv)
    plan = Plan.for_run(args.quick)
    if args.train_clips is not None:
        plan = replace(plan, train_clips=args.train_clips)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.monotonic()
    work = args.work / ("quick" if args.quick else "full")
    if args.evaluate_only:
        trained = dict(model_info(MODEL, args.out).trained)
    else:
        trained = train_and_export(args, plan, work)
    report = block_eval.evaluate(args.out, args.corpus, args.seed, plan.val_clips,
                                 plan.test_clips, MAX_SIZE, whole_seconds=plan.whole_seconds,
                                 speed_repeats=plan.speed_repeats, scores_dir=work,
                                 suite_frames=plan.suite_frames)
    minutes = round((time.monotonic() - started) / 60, 1)
    trained.update(thresholds=report.thresholds, metrics=report.headline())
    trained["reevaluation_minutes" if args.evaluate_only else "minutes"] = minutes
    _register(args.out, trained)
    block_card.write(args.out / f"{MODEL}.md", report, trained, plan)
    print(json.dumps(report.headline(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
