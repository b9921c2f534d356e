"""The classical baseline the CNN must beat: hand-made DSP features of a 1-s segment and an ordered
rule list whose thresholds are tuned on the validation split.

Features, each the textbook cue of one defect:

* ``flatness``: median spectral flatness (geometric / arithmetic mean power) of 4-16 kHz over
  21 ms frames -- noise is flat, music is peaky;
* ``floor_db``: the 10th percentile over frames of the 4-16 kHz power (dB) -- hiss raises the
  quietest frames, content does not stay there;
* ``mains_dbfs``, ``mains_ratio_db``: level (dBFS RMS) of the strongest mains comb (50 or 60 Hz,
  6 harmonics, +-1 % grid tolerance) on a 1 Hz spectrum, and its ratio to the median power of
  20-400 Hz -- hum is a comb of lines above a floor;
* ``crest_db``: peak to RMS ratio -- clipping flattens peaks, clicks raise them;
* ``clipped_runs``: runs of 3+ samples within 2 % of the segment's peak -- a flat top;
* ``impulses``: bursts (1 ms apart) of the second difference above 12 robust standard
  deviations -- a click is a discontinuity no band-limited content has.

Rules, first match wins: distortion, clicks, hum, hiss, else none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from harness.detectors.audio.features import SAMPLE_RATE
from training.audio_metrics import balanced_accuracy

FEATURES = ("flatness", "floor_db", "mains_dbfs", "mains_ratio_db", "crest_db", "clipped_runs",
            "impulses")
_FRAME, _FRAME_HOP = 1024, 512
_HF_HZ = (4000.0, 16000.0)
_MAINS_HZ = (50.0, 60.0)
_HARMONICS = 6
_CLIP_NEAR = 0.98
_CLIP_RUN = 3
_IMPULSE_SIGMAS = 12.0
_IMPULSE_GAP = SAMPLE_RATE // 1000
_TINY = 1e-20


def _runs(mask: np.ndarray, shortest: int) -> int:
    """Runs of True at least ``shortest`` long."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int(np.sum(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1) >= shortest))


def hand_features(x: np.ndarray) -> np.ndarray:
    """The ``FEATURES`` of one mono segment at ``SAMPLE_RATE`` (float64 array)."""
    x = np.asarray(x, np.float64)
    window = np.hanning(_FRAME)
    frames = np.lib.stride_tricks.sliding_window_view(x, _FRAME)[::_FRAME_HOP] * window
    power = np.abs(scipy.fft.rfft(frames, axis=1)) ** 2 / np.sum(window**2)
    low, high = (round(f * _FRAME / SAMPLE_RATE) for f in _HF_HZ)
    band = power[:, low:high] + _TINY
    flatness = float(np.median(np.exp(np.mean(np.log(band), 1)) / np.mean(band, 1)))
    floor_db = float(10 * np.log10(np.percentile(np.mean(band, 1), 10)))

    long_window = np.hanning(len(x))
    spectrum = np.abs(scipy.fft.rfft(x * long_window)) ** 2 / np.sum(long_window) ** 2
    hz = len(x) / SAMPLE_RATE  # bins per Hz
    combs = []
    for mains in _MAINS_HZ:
        lines = []
        for k in range(1, _HARMONICS + 1):
            reach = int(np.ceil((0.01 * k * mains + 1) * hz))
            centre = round(k * mains * hz)
            lines.append(spectrum[centre - reach : centre + reach + 1].max())
        combs.append(2 * sum(lines))  # a sine's RMS^2 is twice its one-sided peak bin
    comb = max(combs)
    background = np.median(spectrum[round(20 * hz) : round(400 * hz)]) * _HARMONICS
    rms = np.sqrt(np.mean(x**2)) + 1e-12
    peak = np.max(np.abs(x))

    curvature = np.abs(np.diff(x, 2))
    sigma = np.median(curvature) / 0.6745 + 1e-12
    big = np.flatnonzero(curvature > _IMPULSE_SIGMAS * sigma)
    impulses = int(len(big) > 0) + int(np.sum(np.diff(big) > _IMPULSE_GAP))
    return np.array([
        flatness, floor_db, 10 * np.log10(comb + _TINY),
        10 * np.log10((comb + _TINY) / (background + _TINY)), 20 * np.log10(peak / rms + 1e-12),
        _runs(np.abs(x) >= _CLIP_NEAR * peak, _CLIP_RUN), impulses,
    ])


#: Rules in order: (class, [(feature, parameter name)]): the class is predicted when every
#: named feature reaches its threshold.
RULES = (
    ("distortion", ("clipped_runs",)),
    ("clicks", ("impulses",)),
    ("hum", ("mains_dbfs", "mains_ratio_db")),
    ("hiss", ("floor_db", "flatness")),
)
#: The first feature of each rule starts "off" (+inf) and the others open (-inf), so coordinate
#: ascent begins from "predict none" and switches rules on one at a time.
RULES_FIRST = {label: names[0] for label, names in RULES}


@dataclass
class RuleClassifier:
    """The ordered rule list; ``thresholds`` maps (class, feature) to the value to reach."""

    classes: tuple[str, ...]
    thresholds: dict[tuple[str, str], float] = field(default_factory=dict)

    def predict(self, features: np.ndarray) -> np.ndarray:
        predicted = np.full(len(features), self.classes.index("none"))
        undecided = np.ones(len(features), bool)
        for label, names in RULES:
            hit = undecided.copy()
            for name in names:
                hit &= features[:, FEATURES.index(name)] >= self.thresholds[(label, name)]
            predicted[hit] = self.classes.index(label)
            undecided &= ~hit
        return predicted

    def fit(self, features: np.ndarray, labels: np.ndarray, rounds: int = 3) -> float:
        """Coordinate ascent on balanced accuracy: each threshold in turn tries 41 quantiles of
        its feature (and off); returns the balanced accuracy reached."""
        keys = [(label, name) for label, names in RULES for name in names]
        self.thresholds = {key: np.inf if key[1] == RULES_FIRST[key[0]] else -np.inf
                           for key in keys}
        best = balanced_accuracy(labels, self.predict(features), len(self.classes))
        for _ in range(rounds):
            for key in keys:
                column = features[:, FEATURES.index(key[1])]
                for value in [np.inf, *np.unique(np.quantile(column, np.linspace(0, 1, 41)))]:
                    previous, self.thresholds[key] = self.thresholds[key], float(value)
                    score = balanced_accuracy(labels, self.predict(features), len(self.classes))
                    if score > best:
                        best = score
                    else:
                        self.thresholds[key] = previous
        return best
