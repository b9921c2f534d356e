"""Freeze: the device keeps showing one picture for longer than content holds a shot still.

A captured frozen picture is never bit-identical from frame to frame: the card's noise and its
MJPEG re-encoding change every pixel a little. Legitimate content, in turn, has shots that barely
move: slow pans and fades, a near-static shot where only a hand or a face moves, film grain over
a still scene. So each frame is compared with a *reference* (the first frame of the current
picture, as FFmpeg freezedetect does), and two mean absolute luma differences must both stay at
the noise level for the picture to count as unchanged:

* **mafd**, over the whole analysis plane: catches slow pans and fades (their difference from the
  reference grows frame after frame until it passes the noise) and film grain, which changes
  every pixel by more than a capture card's noise does.
* **local mafd**, in the most-changed tile of 30 x 30 analysis pixels: catches a small object
  moving in a static shot, which hardly moves the picture-wide mean.

Both are in code values per *captured* pixel: the analysis plane averages k x k pixels (k =
capture width / 480), which divides capture noise by about k, so the plane's differences are
multiplied by k and one default fits 720p and 1080p captures alike.

A run of unchanged frames is a freeze once it lasted ``min_duration``: from the first frame that
shows the frozen picture to the first frame that differs, as FFmpeg reports it. A slow pan into or
out of a freeze stays under the noise threshold for a few frames, which would stretch the run; so
its edges are trimmed: frames there are compared with a frame well inside the run, and those that
differ from it by more than the run's own noise floor (the median frame-to-frame difference,
steady within 10 % on a frozen picture) are still moving.

A capture drop (``dropped_before``) neither creates nor breaks a freeze: the frames on both sides
of the gap are compared with the reference like any other, and the time lost to the drop does not
count toward ``min_duration``, since nobody saw what it showed.

Event detail: ``mafd`` (the freeze's noise floor, the median frame-to-frame difference),
``local_mafd`` (the largest tile difference from the reference in the run), both per captured
pixel, and ``dropped_frames`` inside the run.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field

from harness.detectors.base import Detector, DetectorSettings
from harness.detectors.video.timing import FrameClock, before_and_at, duration_score
from harness.events import Defect, Event
from harness.media import VideoFrame

#: Side of the square tile, in analysis pixels, for the local difference (1/16 of the width).
TILE = 30
#: How many frames at each edge of a run may be trimmed: a slow pan or fade stays under the
#: noise threshold of a reference for up to about this long (0.4 s at 30 fps).
EDGE = 12
#: Frame-to-frame differences kept to estimate a run's noise floor (their median).
FLOOR_SAMPLES = 64


class FreezeSettings(DetectorSettings):
    """Tunables of :class:`FreezeDetector`; differences are 8-bit luma code values."""

    noise_mafd: float = Field(
        3.5,
        gt=0,
        description="Mean absolute luma difference from the reference, in code values per "
        "captured pixel, up to which the picture is unchanged. Capture noise and MJPEG "
        "re-encoding of one picture give 0.3-3; film grain (sigma 4) gives 5 or more, and a slow "
        "pan passes the threshold within half a second.",
    )
    local_mafd: float = Field(
        8.0,
        gt=0,
        description="The same difference in the most-changed 30x30-pixel analysis tile (about "
        "6% of the width), in code values per captured pixel. Noise on busy texture gives up to "
        "about 5; a small moving object gives 8 or more.",
    )
    drift_ratio: float = Field(
        1.25,
        gt=1,
        description="Difference from the frozen picture, as a multiple of the freeze's own noise "
        "floor, above which a frame at either edge of a freeze is still moving and is trimmed. "
        "Two captures of one picture differ by 0.9-1.1 times the floor.",
    )
    min_duration: float = Field(
        1.0,
        gt=0,
        description="Seconds a picture must stay unchanged to be a freeze. A one-second stall is "
        "plainly visible; shorter repeats belong to the stutter detector. FFmpeg's default is 2 s; "
        "raise this for content with long still shots (slideshows, title cards).",
    )


def _tile_means(plane: np.ndarray) -> np.ndarray:
    """Mean of each TILE x TILE tile of a uint8 plane (a partial last row or column is left
    out), from one integral image: ~45 us on the analysis plane, a sixth of cv2.resize's
    INTER_AREA at a non-integer factor."""
    side = min(TILE, *plane.shape)
    rows, cols = plane.shape[0] // side, plane.shape[1] // side
    sums = cv2.integral(plane)[: rows * side + 1 : side, : cols * side + 1 : side]
    totals = sums[1:, 1:] - sums[:-1, 1:] - sums[1:, :-1] + sums[:-1, :-1]
    return totals.astype(np.float32) / (side * side)


def _scale(frame: VideoFrame) -> float:
    """Capture pixels per analysis pixel along a row: how much the plane averaged noise down."""
    return max(1.0, frame.width / frame.analysis_luma.shape[1])


def _mafd(plane: np.ndarray, other: np.ndarray) -> float:
    """Mean absolute difference of two analysis planes, in analysis code values."""
    return cv2.mean(cv2.absdiff(plane, other))[0]


@dataclass
class _Run:
    """The current picture, from its reference frame on, and what its edges looked like."""

    before: VideoFrame | None
    reference: VideoFrame
    last: VideoFrame
    #: (time, analysis plane) of the first frames of the run, reference first, and of the last
    #: ones: planes, not frames, so that a run holds a few MB at most, not full-size pictures.
    lead: list[tuple[float, np.ndarray]] = field(default_factory=list)
    tail: deque[tuple[float, np.ndarray]] = field(default_factory=lambda: deque(maxlen=EDGE))
    #: Differences between consecutive frames of the run, for its noise floor.
    steps: list[float] = field(default_factory=list)
    lost: float = 0.0
    dropped: int = 0
    local_max: float = 0.0

    def __post_init__(self) -> None:
        self.lead.append((self.reference.time, self.reference.analysis_luma))

    def extend(self, frame: VideoFrame, lost: float) -> None:
        """Account for the capture drops just before ``frame`` (unchanged or the first changed)."""
        self.lost += lost
        self.dropped += frame.dropped_before

    def add(self, frame: VideoFrame, step: float, local: float) -> None:
        self.last = frame
        if len(self.lead) < EDGE:
            self.lead.append((frame.time, frame.analysis_luma))
        if len(self.steps) < FLOOR_SAMPLES:
            self.steps.append(step)
        self.tail.append((frame.time, frame.analysis_luma))
        self.local_max = max(self.local_max, local)


class FreezeDetector(Detector[VideoFrame, FreezeSettings]):
    """Reports each stretch of unchanged picture that lasted at least ``min_duration``."""

    defect = Defect.FREEZE
    media = "video"
    Settings = FreezeSettings

    def __init__(self, settings: FreezeSettings | None = None) -> None:
        super().__init__(settings)
        self._clock = FrameClock()
        self._run: _Run | None = None

    @staticmethod
    def measure(frame: VideoFrame, reference: VideoFrame) -> tuple[float, float]:
        """(mafd, local mafd) of ``frame`` against ``reference``: the per-frame metric.

        Code values per captured pixel; infinite when the two cannot show one picture (the
        capture size changed).
        """
        luma, ref = frame.analysis_luma, reference.analysis_luma
        if luma.shape != ref.shape:
            return math.inf, math.inf
        diff = cv2.absdiff(luma, ref)
        scale = _scale(frame)
        return cv2.mean(diff)[0] * scale, float(_tile_means(diff).max()) * scale

    def process(self, frame: VideoFrame) -> list[Event]:
        previous, run = self._clock.previous, self._run
        lost = self._clock.advance(frame)
        if run is None:
            self._run = _Run(previous, frame, frame)
            return []
        run.extend(frame, lost)
        mafd, local = self.measure(frame, run.reference)
        if mafd <= self.settings.noise_mafd and local <= self.settings.local_mafd:
            run.add(frame, _mafd(frame.analysis_luma, run.last.analysis_luma), local)
            return []
        self._run = _Run(previous, frame, frame)
        return self._close(run, frame.time)

    def flush(self) -> list[Event]:
        run, self._run = self._run, None
        if run is None:
            return []
        return self._close(run, run.last.time + self._clock.interval)

    def _close(self, run: _Run, end: float) -> list[Event]:
        if end - run.reference.time - run.lost < self.settings.min_duration:
            return []
        floor = float(np.median(run.steps)) if run.steps else 0.0
        start, end = self._trim(run, end, floor * self.settings.drift_ratio)
        seen = end - start - run.lost
        if seen < self.settings.min_duration:
            return []
        # The reference is within the noise of the frozen picture even when trimmed off.
        evidence = before_and_at(run.before, run.reference)
        detail = {
            "mafd": round(floor * _scale(run.reference), 3),
            "local_mafd": round(run.local_max, 3),
            "dropped_frames": run.dropped,
        }
        score = duration_score(self.settings.min_duration, seen)
        return [Event(self.defect, start, end, score, detail, evidence)]

    @staticmethod
    def _trim(run: _Run, end: float, limit: float) -> tuple[float, float]:
        """(start, end) of the run once the frames still moving at its edges are cut.

        Frames at the start are compared with the last lead frame, frames at the end with the
        first tail frame: both well inside the run unless it is barely longer than its edges.
        """
        inside = run.lead[-1][1]
        first = 0
        while first + 1 < len(run.lead) and _mafd(run.lead[first][1], inside) > limit:
            first += 1
        start = run.lead[first][0]
        if run.tail:
            inside = run.tail[0][1]
            for time, plane in reversed(run.tail):
                if time <= start or _mafd(plane, inside) <= limit:
                    break
                end = time
        return start, end
