"""Block corruption: macroblocks broken by lost or garbled stream data, found by a learned map.

Signal processing looks for block edges, so it flags crowds, foliage, film grain and legitimately
starved encodes, and misses a smeared or displaced block that has no hard edge. The model
(``corruption_map``; trained by ``training.block_corruption``) was trained on real bitstream
damage and on pixel-domain damage against exactly those look-alikes.

One frame in ``every`` is analysed (at 30 fps and ``every: 2``, 15 a second): corruption persists
until the next keyframe, so a defect lasting 3 frames or more always has an analysed frame in it.
An analysed frame is corrupted when its decision -- ``area_ratio`` (version 1: share of 32 x 32
regions the map calls corrupted) or ``probability`` (version 2: the model's learned frame
decision) -- passes the threshold set on validation data (or the profile's). Consecutive
corrupted analysed frames form one event, from the first of them to the first analysed frame that
is clean again.

Event detail: ``area_ratio`` (largest), ``mean_area_ratio``, ``probability`` (largest frame
probability; also the event's score), ``frames_analysed`` (all corrupted), ``decision``.
Evidence: the last clean analysed frame, the worst frame, and the model's map of the worst frame
(the report draws it over the frame as a heat map).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from harness.detectors.base import Detector, DetectorSettings
from harness.detectors.video.corruption_map import (
    CorruptionMapModel,
    MapResult,
    analysis_picture,
)
from harness.events import Defect, Event, Evidence
from harness.media import VideoFrame


class BlockCorruptionSettings(DetectorSettings):
    """Tunables of :class:`BlockCorruptionDetector`."""

    enabled: bool = Field(
        False,
        description="Run on every watch. Opt-in: the model is below its accuracy target on "
        "unseen content (models/block_corruption.md); `--defects block_corruption` or a "
        "profile turns it on.",
    )
    every: int = Field(
        2, ge=1, le=3,
        description="Analyse one frame in this many. Damage lasts until a keyframe, so 2 or 3 "
        "still sees any defect of 3 frames or more; 1 analyses every frame (about 30 ms each "
        "at 960 x 544 on one core).",
    )
    max_width: int = Field(960, ge=64, description="Analysis picture width limit, pixels.")
    max_height: int = Field(544, ge=64, description="Analysis picture height limit, pixels. "
                            "The model was trained and validated at 960 x 544.")
    decision: Literal["area_ratio", "probability"] = Field(
        "area_ratio",
        description="Frame decision: 'area_ratio' (version 1, share of corrupted regions) or "
        "'probability' (version 2, the model's learned decision).",
    )
    threshold: float | None = Field(
        None, gt=0, lt=1,
        description="Decision threshold; default: the one set on validation data, recorded "
        "in models/manifest.json.",
    )
    threads: int = Field(1, ge=1, description="onnxruntime intra-op threads.")


@dataclass
class _Open:
    """A corruption event still open."""

    before: VideoFrame | None
    first: VideoFrame
    worst: VideoFrame
    worst_result: MapResult
    analysed: int
    areas: list[float]
    probability: float

    @classmethod
    def start(cls, before: VideoFrame | None, frame: VideoFrame, result: MapResult) -> _Open:
        return cls(before, frame, frame, result, 1, [result.area_ratio], result.frame_probability)

    def add(self, frame: VideoFrame, result: MapResult) -> None:
        self.analysed += 1
        self.areas.append(result.area_ratio)
        self.probability = max(self.probability, result.frame_probability)
        if result.area_ratio > self.worst_result.area_ratio:
            self.worst, self.worst_result = frame, result


class BlockCorruptionDetector(Detector[VideoFrame, BlockCorruptionSettings]):
    """Reports each stretch of frames the block-corruption model calls corrupted."""

    defect = Defect.BLOCK_CORRUPTION
    media = "video"
    Settings = BlockCorruptionSettings

    def __init__(self, settings: BlockCorruptionSettings | None = None) -> None:
        super().__init__(settings)
        self.model = CorruptionMapModel(threads=self.settings.threads)
        validated = self.model.thresholds[self.settings.decision]
        self.threshold = validated if self.settings.threshold is None else self.settings.threshold
        self._max_size = (self.settings.max_width, self.settings.max_height)
        self._count = 0
        self._last_clean: VideoFrame | None = None
        self._open: _Open | None = None
        self._interval = 0.0
        self._previous_time: float | None = None

    def analyse(self, frame: VideoFrame) -> MapResult:
        """The model's view of one frame (analysis picture of its BGR image)."""
        return self.model(analysis_picture(frame.bgr, self._max_size))

    def is_corrupted(self, result: MapResult) -> bool:
        value = (result.area_ratio if self.settings.decision == "area_ratio"
                 else result.frame_probability)
        return value > self.threshold

    def process(self, frame: VideoFrame) -> list[Event]:
        if self._previous_time is not None:
            self._interval = (frame.time - self._previous_time) / (frame.dropped_before + 1)
        self._previous_time = frame.time
        analysed = self._count % self.settings.every == 0
        self._count += 1
        if not analysed:
            return []
        result = self.analyse(frame)
        if self.is_corrupted(result):
            if self._open is None:
                self._open = _Open.start(self._last_clean, frame, result)
            else:
                self._open.add(frame, result)
            return []
        self._last_clean = frame
        event, self._open = self._open, None
        return [] if event is None else [self._event(event, frame.time)]

    def flush(self) -> list[Event]:
        event, self._open = self._open, None
        if event is None or self._previous_time is None:
            return []
        return [self._event(event, self._previous_time + self._interval)]

    def _event(self, run: _Open, end: float) -> Event:
        worst = run.worst_result
        detail = {
            "area_ratio": round(worst.area_ratio, 4),
            "mean_area_ratio": round(float(np.mean(run.areas)), 4),
            "probability": round(run.probability, 4),
            "frames_analysed": run.analysed,
            "decision": self.settings.decision,
        }
        frames = [("before", run.before)] if run.before is not None else []
        evidence = Evidence(frames=[*frames, ("at", run.worst)], heat_map=worst.probabilities,
                            heat_map_threshold=worst.cell_threshold)
        return Event(self.defect, run.first.time, end, run.probability, detail, evidence)

