"""Held-out evaluation of the block-corruption model against FFmpeg's blockdetect, same frames.

Frames come from the simulator (``training.block_data``) on sources the model never saw:

* **positives and near-positives**: clips with real bitstream damage or pixel-domain damage (and,
  in the same mix, clips with look-alikes or nothing) cut from every source of the split;
* **negatives**: *every* frame of every source of the split, clean, with film grain and with
  legitimate low-bitrate compression.

Each frame is scored three ways: version 1 (corrupted-area ratio of the map), version 2 (the
frame head's probability) and blockdetect (FFmpeg's ``lavfi.block`` on the shown picture at its
own resolution, its best case). Frames whose visible corrupted area is above 7 % are positives,
those between 0 and 7 % are left out, the rest are negatives of their kind (a look-alike or the
source's content type). Thresholds -- the model's two and blockdetect's -- are set on the
validation split -- the model's at the best F1 among thresholds whose false-positive rate is at
most ``FALSE_POSITIVE_BUDGET`` on every negative kind (best F1 outright if none is),
blockdetect's at its best F1 outright (its best case) -- then applied unchanged to the test
split. Version 1 has a second threshold, the probability from which a map cell counts as
corrupted: each of ``CELL_LEVELS`` is tried on the validation split and the one whose area
threshold gives the best F1 kept (a map can be right about *where* damage is and still spread
moderate probabilities over clean texture). Version 1's area threshold is also held inside the
bounds the test suite's made-up cases set (``block_suite``: above every clean case's worst frame,
below the must-find damage), so selection never picks a point the suite rejects; a level where
no threshold satisfies the suite is chosen only if no level can.

Speed is measured on the exported model through onnxruntime per analysis size and thread count,
and accuracy at each size on a sample of the test frames: the trade-off curve of the model card.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.detectors.video.corruption_map import (
    MODEL,
    STRIDE,
    CorruptionMapModel,
    analysis_picture,
    corrupted_area,
)
from training.block_data import (
    CLIP_SECONDS,
    POSITIVE_AREA,
    ClipSpec,
    clip_specs,
    render,
    whole_source_specs,
)
from training.block_suite import CaseResult, area_bounds, suite_areas
from training.blockdetect import best_f1_threshold, blockdetect_scores

DEFAULT_THRESHOLDS = {"area_ratio": POSITIVE_AREA, "probability": 0.5, "cell_probability": 0.5}
#: Cell thresholds version 1 is validated at (scores ``area@<level>``).
CELL_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
FALSE_POSITIVE_BUDGET = 0.001
METHODS = ("area_ratio", "probability", "blockdetect")
#: Analysis sizes of the trade-off curve, and which share of test frames it is measured on.
CURVE_SIZES = ((480, 272), (640, 352), (960, 544), (1280, 736))
CURVE_EVERY = 4
INPUT_SPEC = {
    "name": "image",
    "layout": "batch, channels (B, G, R), height, width",
    "range": "0-1 float32",
    "stride": STRIDE,
    "outputs": {
        "corruption_map": "batch, 1, height/32, width/32: probability each region is corrupted",
        "frame_probability": "batch: learned frame decision (version 2)",
    },
}


@dataclass
class FrameScores:
    """Every scored frame of one split, column-wise."""

    truth: list[float] = field(default_factory=list)  #: visible corrupted-area ratio
    kind: list[str] = field(default_factory=list)  #: negative kind, or the damage impairment
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    curve: dict[tuple[int, int], list[tuple[float, ...]]] = field(
        default_factory=lambda: defaultdict(list))  #: size -> (truth, area at each cell level)
    clips: list[tuple[int, int]] = field(default_factory=list)  #: [first, last) frame of each

    def arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        return (np.asarray(self.truth), np.asarray(self.kind),
                {name: np.asarray(values) for name, values in self.scores.items()})

    def save(self, path: Path) -> None:
        """Every frame's truth, kind and scores (``.npz``), so operating points other than the
        card's can be read off later without scoring again (``FrameScores.load``)."""
        truth, kind, scores = self.arrays()
        np.savez_compressed(path, truth=truth, kind=kind, clips=np.asarray(self.clips),
                            **{f"score_{name}": values for name, values in scores.items()})

    @classmethod
    def load(cls, path: Path) -> FrameScores:
        """Scores saved by ``save`` (without the accuracy-vs-size samples)."""
        with np.load(path) as saved:
            scores = cls(truth=saved["truth"].tolist(), kind=saved["kind"].tolist(),
                         clips=[tuple(bounds) for bounds in saved["clips"].tolist()])
            for key in saved.files:
                if key.startswith("score_"):
                    scores.scores[key.removeprefix("score_")] = saved[key].tolist()
        return scores

    def extend(self, clip: FrameScores) -> None:
        """Append one clip's scores, recording where its frames are."""
        first = len(self.truth)
        self.truth += clip.truth
        self.kind += clip.kind
        for name, values in clip.scores.items():
            self.scores[name] += values
        for size, samples in clip.curve.items():
            self.curve[size] += samples
        self.clips.append((first, len(self.truth)))


@dataclass(frozen=True)
class _Job:
    spec: ClipSpec
    seconds: float | None
    max_size: tuple[int, int]
    curve: bool


_worker_model: CorruptionMapModel | None = None


def _load_worker_model(models: Path) -> None:
    global _worker_model
    _worker_model = CorruptionMapModel(1, models)


def _score_clip(job: _Job) -> FrameScores:
    """Every frame of one clip scored by the model (both decisions) and by blockdetect."""
    model = _worker_model
    assert model is not None, "worker started without its model"
    out, shown = FrameScores(), []
    for frame in render(job.spec, job.max_size, job.seconds):
        result = model(frame.picture)
        truth = frame.area_ratio
        out.truth.append(truth)
        out.kind.append(job.spec.impairment if truth > 0 else job.spec.negative_kind)
        for level in CELL_LEVELS:
            out.scores[f"area@{level}"].append(corrupted_area(result.probabilities, level))
        out.scores["probability"].append(result.frame_probability)
        shown.append(frame.shown)
        if job.curve and frame.index % CURVE_EVERY == 0:
            for size in CURVE_SIZES:
                picture = (frame.picture if size == job.max_size
                           else analysis_picture(frame.shown, size))
                probabilities = model(picture).probabilities
                out.curve[size].append(
                    (truth, *(corrupted_area(probabilities, level) for level in CELL_LEVELS)))
    out.scores["blockdetect"] = blockdetect_scores(shown).tolist()
    return out


def score_split(models: Path, corpus: Path | None, split: str, clips: int, seed: int,
                max_size: tuple[int, int], *, curve: bool = False,
                whole_seconds: float | None = None, workers: int = 2,
                progress: Callable[[str], None] = print) -> FrameScores:
    """Score the mixed clips and the whole-source negatives of ``split`` (``whole_seconds``
    None: each source to its end), clips spread over ``workers`` processes, each running the
    model on one thread (rendering and blockdetect are single-threaded too)."""
    jobs = [_Job(spec, CLIP_SECONDS, max_size, curve)
            for spec in clip_specs(corpus, split, clips, seed)]
    jobs += [_Job(spec, whole_seconds, max_size, curve)
             for kind in ("clean", "film_grain", "low_bitrate")
             for spec in whole_source_specs(corpus, split, kind, seed)]
    scores = FrameScores()
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _load_worker_model, (models,)) as pool:
        for number, clip in enumerate(pool.imap(_score_clip, jobs), 1):
            scores.extend(clip)
            if number % 20 == 0 or number == len(jobs):
                progress(f"{split}: {number}/{len(jobs)} clips, {len(scores.truth)} frames "
                         f"({time.monotonic() - started:.0f} s)")
    return scores


@dataclass
class MethodMetrics:
    """One method's frame-level results on one split at one threshold."""

    threshold: float
    f1: float
    precision: float
    recall: float
    positives: int
    false_positive_rate: dict[str, float]  #: per negative kind
    negatives: dict[str, int]  #: frames per negative kind
    recall_by_damage: dict[str, float]  #: per impairment that made the positives


def _f1(true_pos: np.ndarray, false_pos: np.ndarray, positives: int) -> np.ndarray:
    precision = true_pos / np.maximum(true_pos + false_pos, 1)
    recall = true_pos / max(positives, 1)
    return 2 * precision * recall / np.maximum(precision + recall, 1e-12)


def measure(truth: np.ndarray, kind: np.ndarray, score: np.ndarray, threshold: float
            ) -> MethodMetrics:
    """Frame-level metrics of flagging ``score > threshold``."""
    positive, negative = truth > POSITIVE_AREA, truth == 0
    flagged = score > threshold
    true_pos = int(np.count_nonzero(flagged & positive))
    false_pos = int(np.count_nonzero(flagged & negative))
    kinds = sorted(set(kind[negative].tolist()))
    damages = sorted(set(kind[positive].tolist()))
    return MethodMetrics(
        threshold=float(threshold),
        f1=float(_f1(np.array(true_pos), np.array(false_pos), int(positive.sum()))),
        precision=true_pos / max(true_pos + false_pos, 1),
        recall=true_pos / max(int(positive.sum()), 1),
        positives=int(positive.sum()),
        false_positive_rate={k: float(flagged[negative & (kind == k)].mean()) for k in kinds},
        negatives={k: int(np.count_nonzero(negative & (kind == k))) for k in kinds},
        recall_by_damage={d: float(flagged[positive & (kind == d)].mean()) for d in damages},
    )


@dataclass(frozen=True)
class Choice:
    """A threshold and which of the selection's conditions it meets."""

    threshold: float
    within_budget: bool  #: every negative kind's false-positive rate within the budget
    within_bounds: bool  #: inside the bounds given (the test suite's, ``block_suite``)


def choose_threshold(truth: np.ndarray, kind: np.ndarray, score: np.ndarray,
                     budget: float = FALSE_POSITIVE_BUDGET,
                     bounds: tuple[float, float] = (-np.inf, np.inf)) -> Choice:
    """The threshold with the best F1 among those in ``bounds`` (``[low, high)``) keeping every
    negative kind's false-positive rate within ``budget``; failing that, the best in the bounds,
    then the best within the budget, then the best outright."""
    positive, negative = truth > POSITIVE_AREA, truth == 0
    candidates = np.unique(score[positive | negative])
    if len(candidates) > 4000:
        candidates = np.unique(np.quantile(candidates, np.linspace(0, 1, 4000)))
    low, high = bounds
    extra = [low] if np.isfinite(low) else []  # the lowest threshold the bounds allow
    candidates = np.unique(np.concatenate([[-np.inf], candidates, extra]))
    flagged = score[None, :] > candidates[:, None]
    true_pos = (flagged & positive).sum(1)
    false_pos = (flagged & negative).sum(1)
    f1 = _f1(true_pos, false_pos, int(positive.sum()))
    budgeted = np.ones(len(candidates), bool)
    for name in set(kind[negative].tolist()):
        members = negative & (kind == name)
        budgeted &= (flagged & members).sum(1) <= budget * members.sum()
    bounded = (candidates >= low) & (candidates < high)
    for allowed in (budgeted & bounded, bounded, budgeted):
        if allowed.any():
            break
    else:
        allowed = np.ones(len(candidates), bool)
    best = int(np.argmax(np.where(allowed, f1, -1.0)))
    return Choice(float(candidates[best]), bool(budgeted[best]), bool(bounded[best]))


def event_recall(truth: np.ndarray, flagged: np.ndarray, clips: list[tuple[int, int]],
                 every: int, min_frames: int = 3) -> tuple[float, int]:
    """Share of corruption events (runs of >= ``min_frames`` positive frames) caught when
    only every ``every``-th frame is analysed, averaged over the sampling phase; and the
    number of events."""
    caught, events = 0.0, 0
    for first, last in clips:
        positive = truth[first:last] > POSITIVE_AREA
        edges = np.flatnonzero(np.diff(np.concatenate([[0], positive.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start < min_frames:
                continue
            events += 1
            hits = flagged[first + start : first + stop]
            positions = np.arange(first + start, first + stop)
            caught += np.mean([hits[positions % every == phase].any()
                               for phase in range(every)])
    return (caught / events if events else float("nan")), events


def inference_ms(models: Path, threads: int, size: tuple[int, int], repeats: int) -> float:
    """Median milliseconds per frame of the model in ``models`` at ``size`` (width, height)."""
    model = CorruptionMapModel(threads, models)
    picture = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), np.uint8)
    model(picture)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        model(picture)
        timings.append(time.perf_counter() - started)
    return 1000 * float(np.median(timings))


@dataclass(frozen=True)
class CellLevel:
    """Version 1 at one cell threshold: its area threshold as chosen, and the validation F1."""

    level: float
    choice: Choice
    f1: float


@dataclass
class Report:
    """Everything the model card shows."""

    thresholds: dict[str, float]
    #: version 1 on the validation split at each cell level
    cell_levels: list[CellLevel]
    #: the test suite's cases under this model (``block_suite``), which bound the selection
    suite: list[CaseResult]
    val: dict[str, MethodMetrics]
    test: dict[str, MethodMetrics]
    curve: list[dict[str, Any]]  #: per analysis size: F1 and milliseconds per frame
    events: dict[int, tuple[float, int]]  #: frames analysed 1 in N -> (event recall, events)
    frames: dict[str, int]  #: scored frames per split
    model_bytes: int

    def headline(self) -> dict[str, Any]:
        def summary(metrics: MethodMetrics) -> dict[str, Any]:
            return {"f1": round(metrics.f1, 4), "recall": round(metrics.recall, 4),
                    "max_false_positive_rate": round(max(metrics.false_positive_rate.values(),
                                                         default=0.0), 5)}

        return {method: summary(metrics) for method, metrics in self.test.items()}


def evaluate(models: Path, corpus: Path | None, seed: int, val_clips: int, test_clips: int,
             max_size: tuple[int, int], *, whole_seconds: float | None = None,
             speed_repeats: int = 15, scores_dir: Path | None = None, suite_frames: int = 50,
             progress: Callable[[str], None] = print) -> Report:
    """Set thresholds on the validation split and measure everything on the test split
    (``whole_seconds``: how much of each source the negatives take, None: all of it;
    ``suite_frames``: frames per test-suite case); the per-frame scores of both splits go to
    ``scores_dir`` (``val-scores.npz``, ``test-scores.npz``) when given."""
    workers = os.cpu_count() or 1
    val = score_split(models, corpus, "val", val_clips, seed, max_size,
                      whole_seconds=whole_seconds, workers=workers, progress=progress)
    test = score_split(models, corpus, "test", test_clips, seed, max_size, curve=True,
                       whole_seconds=whole_seconds, workers=workers, progress=progress)
    if scores_dir is not None:
        scores_dir.mkdir(parents=True, exist_ok=True)
        val.save(scores_dir / "val-scores.npz")
        test.save(scores_dir / "test-scores.npz")
    val_truth, val_kind, val_scores = val.arrays()
    test_truth, test_kind, test_scores = test.arrays()
    progress(f"the test suite's cases ({suite_frames} frames each)")
    suite = suite_areas(CorruptionMapModel(1, models), CELL_LEVELS, suite_frames)
    cell_levels = []
    for level in CELL_LEVELS:
        choice = choose_threshold(val_truth, val_kind, val_scores[f"area@{level}"],
                                  bounds=area_bounds(suite, level))
        f1 = measure(val_truth, val_kind, val_scores[f"area@{level}"], choice.threshold).f1
        cell_levels.append(CellLevel(level, choice, f1))
    # the best F1 among the levels whose threshold passes the suite within the budget (failing
    # that: passes the suite; failing that: any); the lowest such level on a tie
    passing = ([row for row in cell_levels if row.choice.within_bounds and row.choice.within_budget]
               or [row for row in cell_levels if row.choice.within_bounds] or cell_levels)
    best = max(passing, key=lambda row: row.f1)
    cell_level, area_threshold = best.level, best.choice.threshold
    for scores in (val_scores, test_scores):
        scores["area_ratio"] = scores[f"area@{cell_level}"]
    thresholds = {"area_ratio": area_threshold,
                  "probability": choose_threshold(val_truth, val_kind,
                                                  val_scores["probability"]).threshold}
    scored = (val_truth == 0) | (val_truth > POSITIVE_AREA)  # 0-7 % frames are left out
    if (val_truth > POSITIVE_AREA).any():
        thresholds["blockdetect"] = best_f1_threshold(
            val_scores["blockdetect"][scored], val_truth[scored] > POSITIVE_AREA)[0]
    else:  # only a smoke run's tiny validation set can lack positives
        progress("no positive validation frame: thresholds are not meaningful")
        thresholds["blockdetect"] = float(np.max(val_scores["blockdetect"]))
    results = {
        split: {method: measure(truth, kind, scores[method], thresholds[method])
                for method in METHODS}
        for split, (truth, kind, scores) in
        (("val", (val_truth, val_kind, val_scores)), ("test", (test_truth, test_kind, test_scores)))
    }
    flagged = test_scores["area_ratio"] > thresholds["area_ratio"]
    events = {every: event_recall(test_truth, flagged, test.clips, every) for every in (1, 2, 3)}
    curve = []
    column = 1 + CELL_LEVELS.index(cell_level)
    for size in CURVE_SIZES:
        samples = np.asarray(test.curve[size]).reshape(-1, 1 + len(CELL_LEVELS))
        kinds = np.full(len(samples), "sample")
        metrics = measure(samples[:, 0], kinds, samples[:, column], thresholds["area_ratio"])
        curve.append({"size": size, "f1": metrics.f1, "recall": metrics.recall,
                      "false_positive_rate": metrics.false_positive_rate.get("sample", 0.0),
                      "ms_1_thread": inference_ms(models, 1, size, speed_repeats),
                      "ms_2_threads": inference_ms(models, 2, size, speed_repeats)})
    return Report(
        thresholds={"area_ratio": thresholds["area_ratio"],
                    "cell_probability": cell_level,
                    "probability": thresholds["probability"],
                    "blockdetect": thresholds["blockdetect"]},
        cell_levels=cell_levels,
        suite=suite,
        val=results["val"], test=results["test"], curve=curve, events=events,
        frames={"val": len(val.truth), "test": len(test.truth)},
        model_bytes=(models / f"{MODEL}.onnx").stat().st_size,
    )
