"""Black frames: the device shows no picture for longer than an edit through black would last.

On a capture, black is never Y 0: depending on range handling it reads anywhere from Y 0 to about
Y 30, always with noise and MJPEG blocking. What must *not* count is as important: a dark night
scene (mostly dark, but with shading, silhouettes and a few lights) and the short black of a fade
or cut in edited content.

Each frame is judged on the shared analysis plane (luma, 480 wide) by two shares of the picture:

* **dark**: pixels at or below ``pixel_threshold``, which is FFmpeg blackdetect's whole test. It is
  cheap, so ordinary frames stop here, and bright detail (lights, a logo) counts pixel by pixel.
* **flat**: 8 x 8 blocks of the plane (32 x 32 pixels of a 1080p capture) within ``max_deviation``
  of the picture's black level (the median block). Averaging a block removes capture noise but
  keeps shading, so a night sky's gradient and the faint faces of buildings fall off the level
  while a black screen, even with a spinner or a channel logo on it, stays on it.

The frame is black when both shares reach ``min_picture_ratio``; a run of black frames becomes an
event once it lasted ``min_duration``. A capture drop (``dropped_before``) inside a run neither ends
it nor counts toward ``min_duration``: only black that was seen can prove a defect.

Event detail: ``mean_luma`` (the black level, code values), ``black_ratio`` (the mean share of
the picture that was black) and ``dropped_frames`` inside the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field

from harness.detectors.base import Detector, DetectorSettings
from harness.detectors.video.timing import FrameClock, before_and_at, duration_score
from harness.events import Defect, Event
from harness.media import VideoFrame

#: Side of the square block, in analysis pixels, whose mean is compared to the black level.
BLOCK = 8


class BlackFrameSettings(DetectorSettings):
    """Tunables of :class:`BlackFrameDetector`; luma values are 8-bit code values (0-255)."""

    pixel_threshold: int = Field(
        40,
        ge=0,
        le=255,
        description="Luma code value at or below which an analysis pixel is dark. Black reads "
        "Y 0-30 on captures (full, limited or mislabelled range) plus noise; FFmpeg's default "
        "pix_th=0.10 is Y 38 on limited range and Y 25 on full range, which misses raised black.",
    )
    max_deviation: float = Field(
        2.0,
        gt=0,
        description="Code values an 8x8-block mean may differ from the picture's black level "
        "and still be black. Capture noise averages to under 0.5 per block; the shading of a "
        "night scene is 3 or more.",
    )
    min_picture_ratio: float = Field(
        0.98,
        gt=0,
        le=1,
        description="Share of the picture (0-1) that must be dark and flat. The rest may be a "
        "logo, a spinner or a subtitle line over a dead video plane (as FFmpeg's pic_th=0.98).",
    )
    min_duration: float = Field(
        1.0,
        gt=0,
        description="Seconds of black before it is a defect. Fades and cuts through black in "
        "edited content hold black for well under a second; a device that loses its picture "
        "(decoder reset, HDCP renegotiation) goes black for one to several seconds.",
    )


@dataclass
class _Run:
    """A run of black frames still open."""

    before: VideoFrame | None
    first: VideoFrame
    last: VideoFrame
    frames: int = 1
    lost: float = 0.0
    level_sum: float = 0.0
    ratio_sum: float = 0.0
    dropped: int = 0

    def extend(self, frame: VideoFrame, lost: float) -> None:
        """Account for the capture drops just before ``frame`` (black or the first that is not)."""
        self.lost += lost
        self.dropped += frame.dropped_before

    def add(self, frame: VideoFrame, level: float, ratio: float) -> None:
        self.last = frame
        self.frames += 1
        self.level_sum += level
        self.ratio_sum += ratio


class BlackFrameDetector(Detector[VideoFrame, BlackFrameSettings]):
    """Reports each stretch of black picture that lasted at least ``min_duration``."""

    defect = Defect.BLACK_FRAMES
    media = "video"
    Settings = BlackFrameSettings

    def __init__(self, settings: BlackFrameSettings | None = None) -> None:
        super().__init__(settings)
        self._clock = FrameClock()
        self._run: _Run | None = None

    def measure(self, luma: np.ndarray) -> tuple[float, float]:
        """(share of the picture that is black, black level): the per-frame metric.

        The level is the median block mean in code values, NaN when too little is dark to matter.
        """
        settings = self.settings
        dark = float(np.count_nonzero(luma <= settings.pixel_threshold)) / luma.size
        if dark < settings.min_picture_ratio:
            return dark, float("nan")
        # Whole blocks only: INTER_AREA at an integer factor is an exact block mean, and 5x
        # faster than at the fractional factor a partial last block would force.
        rows, cols = max(1, luma.shape[0] // BLOCK), max(1, luma.shape[1] // BLOCK)
        whole = luma[: rows * BLOCK, : cols * BLOCK].astype(np.float32)
        blocks = cv2.resize(whole, (cols, rows), interpolation=cv2.INTER_AREA)
        level = float(np.median(blocks))
        flat = np.count_nonzero(np.abs(blocks - level) <= settings.max_deviation) / blocks.size
        return float(min(dark, flat)), level

    def process(self, frame: VideoFrame) -> list[Event]:
        ratio, level = self.measure(frame.analysis_luma)
        previous = self._clock.previous
        lost = self._clock.advance(frame)
        is_black = ratio >= self.settings.min_picture_ratio
        events: list[Event] = []
        run = self._run
        if run is not None:
            run.extend(frame, lost)
            if is_black:
                run.add(frame, level, ratio)
            else:
                events = self._close(run, frame.time)
                self._run = None
        elif is_black:
            self._run = _Run(previous, frame, frame, level_sum=level, ratio_sum=ratio)
        return events

    def flush(self) -> list[Event]:
        run, self._run = self._run, None
        if run is None:
            return []
        return self._close(run, run.last.time + self._clock.interval)

    def _close(self, run: _Run, end: float) -> list[Event]:
        start = run.first.time
        seen = end - start - run.lost
        if seen < self.settings.min_duration:
            return []
        evidence = before_and_at(run.before, run.first)
        detail = {
            "mean_luma": round(run.level_sum / run.frames, 2),
            "black_ratio": round(run.ratio_sum / run.frames, 4),
            "dropped_frames": run.dropped,
        }
        score = duration_score(self.settings.min_duration, seen)
        return [Event(self.defect, start, end, score, detail, evidence)]
