"""What a watch returns: the events found and what the capture itself did.

Capture statistics are kept apart from device defects on purpose: frames the capture card or the
harness lost are a rig problem, reported here, never an event a test could fail on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import DefectFound
from harness.events import Defect, Event
from harness.media import AudioBlock, MediaInfo, VideoFrame


@dataclass
class CaptureStats:
    """Counters of one capture run, filled by the pipeline."""

    video_frames: int = 0
    #: frames lost before reaching the harness (capture card, network), as reported by the source
    frames_dropped_by_capture: int = 0
    #: frames the harness had to drop because detectors fell behind a live source
    frames_dropped_by_pipeline: int = 0
    audio_blocks: int = 0
    audio_blocks_dropped_by_pipeline: int = 0
    #: samples missing between consecutive audio blocks (capture overflow)
    audio_samples_lost: int = 0
    first_frame_time: float | None = None
    last_frame_time: float | None = None
    last_audio_time: float | None = None
    width: int | None = None
    height: int | None = None
    audio_peak_dbfs: float = float("-inf")
    _next_audio_start: int | None = field(default=None, repr=False)
    _dropped_seen: int = field(default=0, repr=False)

    def record_frame(self, frame: VideoFrame) -> None:
        self.video_frames += 1
        self.last_frame_time = frame.time
        self._dropped_seen += frame.dropped_before
        self.frames_dropped_by_capture = max(
            0, self._dropped_seen - self.frames_dropped_by_pipeline
        )

    def record_audio(self, block: AudioBlock) -> None:
        import numpy as np

        self.audio_blocks += 1
        if self._next_audio_start is not None and block.start > self._next_audio_start:
            self.audio_samples_lost += block.start - self._next_audio_start
        self._next_audio_start = block.end
        self.last_audio_time = block.end_time
        peak = float(np.max(np.abs(block.samples))) if block.samples.size else 0.0
        if peak > 0:
            self.audio_peak_dbfs = max(self.audio_peak_dbfs, 20 * float(np.log10(peak)))

    @property
    def duration(self) -> float:
        if self.first_frame_time is None or self.last_frame_time is None:
            return 0.0
        return self.last_frame_time - self.first_frame_time

    @property
    def measured_fps(self) -> float | None:
        """Frames that reached the harness per second of media time (drops excluded)."""
        if self.video_frames < 2 or self.duration <= 0:
            return None
        return (self.video_frames - 1) / self.duration

    @property
    def output_fps(self) -> float | None:
        """The device's own frame rate: frames delivered plus frames the rig lost, per second.

        Use this, not ``measured_fps``, to check a device's output rate: the rig's drops are
        not the device's fault.
        """
        if self.measured_fps is None:
            return None
        lost = self.frames_dropped_by_capture + self.frames_dropped_by_pipeline
        return (self.video_frames - 1 + lost) / self.duration

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_frames": self.video_frames,
            "frames_dropped_by_capture": self.frames_dropped_by_capture,
            "frames_dropped_by_pipeline": self.frames_dropped_by_pipeline,
            "measured_fps": None if self.measured_fps is None else round(self.measured_fps, 3),
            "output_fps": None if self.output_fps is None else round(self.output_fps, 3),
            "resolution": None if self.width is None else f"{self.width}x{self.height}",
            "audio_blocks": self.audio_blocks,
            "audio_blocks_dropped_by_pipeline": self.audio_blocks_dropped_by_pipeline,
            "audio_samples_lost": self.audio_samples_lost,
            "audio_peak_dbfs": None
            if self.audio_peak_dbfs == float("-inf")
            else round(self.audio_peak_dbfs, 1),
        }


@dataclass
class PlaybackReport:
    """The events one watch found, with the capture's own statistics."""

    device: str
    events: list[Event]
    stats: CaptureStats
    media: MediaInfo
    #: whole-programme results by name (e.g. "av_sync": {"verdict": ..., "offset_ms": ...})
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def only(self, defects: Iterable[str]) -> PlaybackReport:
        """The same report restricted to some defects (a detector may report several)."""
        wanted = {Defect(name) for name in defects}
        kept = [event for event in self.events if event.defect in wanted]
        summaries = {k: v for k, v in self.summaries.items() if k in {d.value for d in wanted}}
        return replace(self, events=kept, summaries=summaries)

    def of(self, defect: str | Defect) -> list[Event]:
        """Events of one defect."""
        return [event for event in self.events if event.defect == Defect(defect)]

    def defects(
        self, ignore: Iterable[str] = (), tolerance: Mapping[str, float] | None = None
    ) -> list[Event]:
        """Events that count: not ignored, and longer than their defect's tolerance (seconds)."""
        ignored = {Defect(name) for name in ignore}
        allowed = {Defect(name): seconds for name, seconds in (tolerance or {}).items()}
        return [
            event
            for event in self.events
            if event.defect not in ignored and event.duration > allowed.get(event.defect, -1.0)
        ]

    def assert_clean(
        self, ignore: Iterable[str] = (), tolerance: Mapping[str, float] | None = None
    ) -> None:
        """Raise DefectFound listing every counted event (defect, time span, score, detail).

        ``ignore`` names defects not to check; ``tolerance`` maps a defect to the longest event
        (in seconds) that is still acceptable, e.g. ``{"black_frames": 0.5}``.
        """
        if found := self.defects(ignore, tolerance):
            raise DefectFound(self.device, found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "media": self.media.to_dict(),
            "events": [event.to_dict() for event in self.events],
            "summaries": self.summaries,
            "capture": self.stats.to_dict(),
        }
