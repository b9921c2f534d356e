"""Classification metrics of the evaluation and the model card (numpy only)."""

from __future__ import annotations

import numpy as np


def confusion(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts [true class, predicted class]."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def recalls(matrix: np.ndarray) -> np.ndarray:
    """Per-class recall (NaN for a class with no examples)."""
    totals = matrix.sum(axis=1)
    return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def precisions(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=0)
    return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """Mean per-class recall over the classes present."""
    return float(np.nanmean(recalls(confusion(labels, predicted, classes))))


def _grid(lowest: float) -> np.ndarray:
    """The thresholds calibration chooses among: hundredths from ``lowest``, finer near 1."""
    return np.round(np.concatenate([np.arange(lowest, 0.99, 0.01), [0.99, 0.995, 0.999, 1.0]]), 3)


def calibrate(clean: np.ndarray, false_alarms: float, lowest: float = 0.5) -> np.ndarray:
    """Per-class thresholds from the probabilities of clean segments (N, classes): for each
    defect class the lowest threshold, from ``lowest`` up, that flags at most ``false_alarms`` of
    them (``inf`` for class 0, "none"; 1.0 where no threshold below it does)."""
    grid = _grid(lowest)
    thresholds = [np.inf]
    for column in clean.T[1:]:
        rates = (column[:, np.newaxis] >= grid).mean(axis=0)
        thresholds.append(float(grid[np.argmax(rates <= false_alarms)]))
    return np.array(thresholds)


def calibrate_each(clean_sets: list[np.ndarray], false_alarms: float, lowest: float = 0.5,
                   floors: np.ndarray | None = None) -> np.ndarray:
    """Like ``calibrate``, but the threshold must keep within ``false_alarms`` on every one of
    ``clean_sets`` (real content, each look-alike, ...), not only on all of them pooled: a
    look-alike that is a few percent of the pooled segments could otherwise be flagged often.
    With ``floors`` (per class), each threshold also lies above its floor -- the largest
    probability of a clean case that may never be flagged (``training.audio_suite``) -- at the
    grid's next step (1.0 where none is left)."""
    thresholds = np.max([calibrate(clean, false_alarms, lowest) for clean in clean_sets], axis=0)
    if floors is None:
        return thresholds
    grid = _grid(lowest)
    above = [float(grid[np.argmax(grid > floor)]) if floor < grid[-1] else 1.0
             for floor in floors[1:]]
    return np.maximum(thresholds, [np.inf, *above])
