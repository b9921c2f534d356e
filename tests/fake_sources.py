"""Small in-process MediaSources for pipeline tests: exact timing, no hardware, no files."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np

from harness.capture.base import Emit, MediaSource
from harness.media import AudioBlock, MediaInfo, VideoFrame


class FrameSource(MediaSource):
    """Emits ``count`` grey 64x36 frames at ``fps``; optionally dies (stops delivering) early."""

    backend_name = "fake"

    def __init__(
        self,
        count: int = 30,
        fps: float = 30.0,
        live: bool = True,
        has_end: bool = True,
        stall_after: int | None = None,
        fail_after: int | None = None,
        pace: bool = False,
        audio: bool = False,
    ) -> None:
        self.count, self.fps, self.is_live, self.has_end = count, fps, live, has_end
        self.stall_after, self.fail_after, self.pace = stall_after, fail_after, pace
        self.provides_audio = audio
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    @property
    def info(self) -> MediaInfo:
        return MediaInfo(
            path="fake",
            fps=self.fps,
            width=64,
            height=36,
            sample_rate=48000 if self.provides_audio else None,
            channels=1 if self.provides_audio else None,
        )

    def run(self, emit: Emit, stop: threading.Event) -> None:
        time_base = Fraction(1, 1000)
        for index in range(self.count):
            if stop.is_set():
                return
            if index == self.stall_after:
                stop.wait()
                return
            if index == self.fail_after:
                raise RuntimeError("capture card unplugged")
            if self.pace:
                time.sleep(1 / self.fps)
            image = np.full((36, 64, 3), 100 + index % 50, np.uint8)
            emit(VideoFrame.from_bgr(image, round(index * 1000 / self.fps), time_base, seq=index))
            if self.provides_audio:
                samples = np.zeros((1600, 1), np.float32)
                emit(AudioBlock(samples, 48000, index * 1600))
