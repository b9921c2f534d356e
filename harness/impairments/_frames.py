"""Frame-by-frame bookkeeping shared by every video impairment, so each one only draws its defect.

``FrameImpairment.apply`` does what the contract in ``base`` asks of all of them alike: it leaves
frames outside the window untouched (the very same array), keeps the last few clean frames for
impairments that show an earlier picture (freeze, stutter, tearing, stale blocks), and writes a
per-frame record of the truth into the label: ``Label.frames`` lists, for each impaired frame,
its ``index`` plus what the impairment noted (the source frame shown, the tear row, ...) and, where
a mask was produced, its ``area_ratio``; ``Label.area_ratio`` is the largest of those.

Frames are taken by reference, never copied: callers hand each frame as a fresh array and do not
write to it afterwards (decoders and ``GeneratedPicture`` do so), and impairments never write to
their input.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Collection
from functools import lru_cache
from typing import Any

import numpy as np

from harness.impairments.base import ImpairedFrame, Label, VideoImpairment


def check_choice(owner: str, what: str, value: object, options: Collection[object]) -> None:
    """Refuse a setting that is not one of ``options``, naming the ones that are."""
    if value not in options:
        raise ValueError(f"{owner}: {what} must be one of {list(options)}, not {value!r}")


@lru_cache(maxsize=8)
def full_mask(height: int, width: int) -> np.ndarray:
    """An all-True mask, shared read-only: whole-picture defects replace every pixel."""
    mask = np.ones((height, width), bool)
    mask.setflags(write=False)
    return mask


class FrameImpairment(VideoImpairment):
    """A video impairment that draws its defect in ``impair``, called only inside the window."""

    def __init__(self, at: float, duration: float, seed: int = 0, history: int = 0) -> None:
        super().__init__(at, duration, seed)
        #: (index, clean image) of the last ``history`` frames before the current one.
        self.history: deque[tuple[int, np.ndarray]] = deque(maxlen=history)
        self._record: list[dict[str, Any]] = []

    def apply(self, index: int, time: float, image: np.ndarray) -> ImpairedFrame:
        if self.active(time):
            facts: dict[str, Any] = {"index": index}
            result = self.impair(index, time, image, facts)
            if result.mask is not None:
                facts["area_ratio"] = result.area_ratio
            self._record.append(facts)
        else:
            result = ImpairedFrame(image)
        self.history.append((index, image))
        return result

    @abstractmethod
    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        """Impair one frame inside the window; put this frame's ground truth into ``facts``."""

    def label(self) -> Label:
        label = super().label()
        label.frames = [dict(facts) for facts in self._record]
        ratios = [facts["area_ratio"] for facts in self._record if "area_ratio" in facts]
        label.area_ratio = max(ratios, default=None)
        return label
