"""The contract every impairment follows: clean media + seed -> impaired media + exact truth.

Impairments are *streaming*: the simulated device applies them frame by frame and block by
block while it plays, and the dataset writer applies the very same objects to whole clips, so
what the detectors are trained on is what the simulated device shows.

* A ``VideoImpairment`` sees every frame in order (``index``, media ``time``, clean BGR image)
  and returns the impaired image and, where the defect is spatial, a per-pixel boolean mask of
  what it changed (the ground truth, by the ``changed`` rule; ``None`` when the frame is
  untouched or the defect is temporal only; all False when the picture changed but nothing is
  corrupted). It may keep state (a freeze keeps the held picture).
* Callers hand each frame or block as a fresh array and never write to it afterwards;
  impairments never write to their input (so history can be kept by reference).
* An ``AudioImpairment`` sees every block in order, including outside its window (first sample
  index, (frames, channels) float32 samples, rate) and returns the impaired samples. Its output
  must not depend on how the audio is cut into blocks: anything random is drawn in ``__init__``
  from the seed and indexed by absolute sample position.

Both act only inside their window ``[at, at + duration)`` of media time and report one ``Label``
per window. Times are compared with a 1 µs slack so float sums such as 0.4 + 0.2 do not catch
the frame at exactly 0.6 s.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

TIME_EPSILON = 1e-6

#: Code values (0-255) a pixel must move in some channel to count as changed in a mask: above
#: rounding and codec noise in flat areas, far below what a corrupted block or a tear changes,
#: so a displaced block that lands on the same content is not counted as damage.
DIFF_TOLERANCE = 8


def changed(clean: np.ndarray, impaired: np.ndarray, tolerance: int = DIFF_TOLERANCE) -> np.ndarray:
    """The ground-truth mask rule: where ``impaired`` differs from ``clean`` by more than
    ``tolerance`` in any channel (H x W bool)."""
    import cv2

    diff = cv2.absdiff(clean, impaired)
    if diff.ndim == 2:
        return diff > tolerance
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > tolerance


@dataclass
class Label:
    """Ground truth of one impairment window (the JSONL row of a dataset, minus paths).

    ``defect`` is a contract name (``harness.events.Defect``) or ``"clean"`` for a hard negative
    (a look-alike that must NOT be flagged). ``start``/``end`` are media seconds: by default the
    scripted window ``[at, at + duration)``; an impairment whose damage outlives the window
    (bitstream damage lasts until the next keyframe) reports the span actually damaged.
    ``params`` are the settings that shaped it. ``frames`` is the exact per-frame truth of video
    impairments: one dict per impaired frame with its ``index`` and what the impairment did to it
    (the source frame shown, the tear row, ``area_ratio`` where a mask exists). ``area_ratio`` is
    the largest per-frame fraction of pixels changed (1.0 for whole-picture defects such as
    black or solid colour; None where no mask is meaningful, e.g. blur or freeze).

    A label is final once the stream has passed the impairment's damage, not before.
    """

    defect: str
    start: float
    end: float
    params: dict[str, Any] = field(default_factory=dict)
    area_ratio: float | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImpairedFrame:
    image: np.ndarray
    mask: np.ndarray | None = None  #: bool H x W, True where the picture was corrupted

    @property
    def area_ratio(self) -> float:
        return 0.0 if self.mask is None else float(self.mask.mean())


class _Windowed(ABC):
    """An impairment active in ``[at, at + duration)`` of media time."""

    name: ClassVar[str]
    defect: ClassVar[str]

    def __init__(self, at: float, duration: float, seed: int = 0) -> None:
        if at < 0 or duration <= 0:
            raise ValueError(f"{self.name}: need at >= 0 and duration > 0 (got {at}, {duration})")
        self.at, self.duration, self.seed = at, duration, seed
        self.rng = np.random.default_rng(seed)

    @property
    def end(self) -> float:
        return self.at + self.duration

    def active(self, time: float) -> bool:
        return self.at - TIME_EPSILON <= time < self.end - TIME_EPSILON

    def params(self) -> dict[str, Any]:
        """The settings that shaped this instance (recorded in the label)."""
        return {}

    def label(self) -> Label:
        return Label(self.defect, self.at, self.end, self.params())


class VideoImpairment(_Windowed):
    @abstractmethod
    def apply(self, index: int, time: float, image: np.ndarray) -> ImpairedFrame:
        """Impair one frame (called for every frame, in order, including outside the window)."""


class AudioImpairment(_Windowed):
    @abstractmethod
    def apply(self, start: int, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Impair one block; ``start`` is the index of its first sample on the media clock."""

    def window(self, start: int, count: int, sample_rate: int) -> slice:
        """The part of a block ``[start, start + count)`` that lies inside the active window."""
        first = round(self.at * sample_rate) - start
        last = round(self.end * sample_rate) - start
        return slice(min(max(0, first), count), min(max(0, last), count))
