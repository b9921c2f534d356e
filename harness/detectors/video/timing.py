"""Frame timing and scoring shared by the video detectors that report stretches of frames.

A capture can drop frames, so a detector cannot count frames to measure time: ``FrameClock``
follows the frame interval from timestamps and ``dropped_before``, and says how much time a drop
took (time nobody saw, which must neither start, end nor lengthen a defect).
"""

from __future__ import annotations

from harness.events import Evidence
from harness.media import VideoFrame


class FrameClock:
    """The previous frame and the current frame interval of one stream."""

    def __init__(self) -> None:
        self.previous: VideoFrame | None = None
        self.interval = 0.0

    def advance(self, frame: VideoFrame) -> float:
        """Move to ``frame``; return the seconds lost to capture drops just before it."""
        lost = 0.0
        if self.previous is not None:
            gap = frame.time - self.previous.time
            self.interval = gap / (frame.dropped_before + 1)
            lost = gap - self.interval
        self.previous = frame
        return lost


def duration_score(min_duration: float, seen: float) -> float:
    """Confidence that a stretch is a defect and not an edit or a still shot: 0.5 at the
    minimum duration, 0.75 at twice it, 0.9 at five times."""
    return 1.0 - 0.5 * min_duration / seen


def before_and_at(before: VideoFrame | None, at: VideoFrame) -> Evidence:
    """Evidence frames: the last good picture (when known) and the defect."""
    frames = [("before", before)] if before is not None else []
    return Evidence(frames=[*frames, ("at", at)])
