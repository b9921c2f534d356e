"""The types that flow from capture to detectors: VideoFrame, AudioBlock, MediaInfo.

One clock: every frame and audio block carries an integer position on the *media clock*, whose
zero is the start of the capture (or of the file). Video uses ``pts`` in ``time_base`` units,
audio the index of its first sample at ``sample_rate``; seconds are derived, never stored, so
no rounding drift accumulates over a long run. See docs/architecture.md, "A/V alignment".

Frames convert lazily: a PyAV frame is only turned into BGR when someone (a learned detector, a
report) asks, and every DSP detector shares one small analysis-size luma plane per frame.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

#: Width of the luma plane DSP detectors analyse. Averaging down to this size removes most
#: capture-card noise (MJPEG ringing, sensor-like grain) while keeping every defect we look for.
ANALYSIS_WIDTH = 480

#: Timestamps of live captures are taken from time.monotonic() in microseconds.
MICROSECONDS = Fraction(1, 1_000_000)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(eq=False)
class VideoFrame:
    """One captured picture.

    ``seq`` counts frames in capture order; ``dropped_before`` says how many frames were lost
    between this one and the previous (by the capture card, or by a full pipeline queue), so
    detectors never mistake a capture drop for a device stutter.
    """

    pts: int
    time_base: Fraction
    width: int
    height: int
    seq: int = 0
    dropped_before: int = 0
    _bgr: np.ndarray | None = field(default=None, repr=False)
    _luma: np.ndarray | None = field(default=None, repr=False)
    _decode: Callable[[str], np.ndarray] | None = field(default=None, repr=False)
    _analysis: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_bgr(cls, image: np.ndarray, pts: int, time_base: Fraction, seq: int = 0) -> VideoFrame:
        height, width = image.shape[:2]
        return cls(pts, time_base, width, height, seq, _bgr=_readonly(image))

    @classmethod
    def lazy(
        cls,
        width: int,
        height: int,
        pts: int,
        time_base: Fraction,
        decode: Callable[[str], np.ndarray],
        seq: int = 0,
    ) -> VideoFrame:
        """A frame whose pixels are converted on first use; ``decode(fmt)`` takes "bgr24"/"gray"."""
        return cls(pts, time_base, width, height, seq, _decode=decode)

    @functools.cached_property
    def time(self) -> float:
        """Media time in seconds (derived from pts once; detectors read it often)."""
        return float(self.pts * self.time_base)

    @property
    def bgr(self) -> np.ndarray:
        """The picture as a read-only H x W x 3 uint8 BGR array (OpenCV's convention)."""
        if self._bgr is None:
            assert self._decode is not None, "frame has neither pixels nor a decoder"
            self._bgr = _readonly(self._decode("bgr24"))
        return self._bgr

    @property
    def luma(self) -> np.ndarray:
        """Full-resolution luma (Y) as a read-only H x W uint8 array."""
        if self._luma is None:
            if self._bgr is None and self._decode is not None:
                self._luma = _readonly(self._decode("gray"))
            else:
                import cv2

                self._luma = _readonly(cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY))
        return self._luma

    @property
    def analysis_luma(self) -> np.ndarray:
        """Luma area-averaged down to ``ANALYSIS_WIDTH`` (computed once, shared by detectors)."""
        if self._analysis is None:
            luma = self.luma
            if self.width > ANALYSIS_WIDTH:
                import cv2

                height = max(1, round(self.height * ANALYSIS_WIDTH / self.width))
                luma = cv2.resize(luma, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)
            self._analysis = _readonly(luma)
        return self._analysis


@dataclass(eq=False)
class AudioBlock:
    """A run of audio samples: ``samples`` is (frames, channels) float32 in [-1, 1].

    ``start`` is the index of the first sample on the media clock, so block N+1 starts where
    block N ends unless audio was lost (``start`` then jumps, and the gap is visible).
    """

    samples: np.ndarray
    sample_rate: int
    start: int

    def __post_init__(self) -> None:
        if self.samples.ndim == 1:
            self.samples = self.samples[:, np.newaxis]
        if self.samples.dtype != np.float32:
            self.samples = self.samples.astype(np.float32)

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def end(self) -> int:
        """Sample index one past the last sample."""
        return self.start + len(self.samples)

    @property
    def time(self) -> float:
        return self.start / self.sample_rate

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def end_time(self) -> float:
        return self.end / self.sample_rate


@dataclass
class MediaInfo:
    """What is known of a source before (or while) reading it; ``None`` when not applicable."""

    path: str
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "duration": None if self.duration is None else round(self.duration, 3),
            "fps": None if self.fps is None else round(self.fps, 3),
            "width": self.width,
            "height": self.height,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
        }


class AudioHistory:
    """The last ``seconds`` of audio, so a detector can cut an evidence snippet after the fact."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._blocks: deque[AudioBlock] = deque()

    def append(self, block: AudioBlock) -> None:
        self._blocks.append(block)
        horizon = block.end - int(self.seconds * block.sample_rate)
        while self._blocks and self._blocks[0].end <= horizon:
            self._blocks.popleft()

    def snippet(self, start_time: float, end_time: float) -> AudioBlock | None:
        """Audio between two media times (clipped to what is still held), or None.

        Audio lost between blocks is filled with silence, so the snippet's time axis stays true.
        """
        if not self._blocks:
            return None
        rate = self._blocks[0].sample_rate
        first = max(int(start_time * rate), self._blocks[0].start)
        last = min(int(end_time * rate), self._blocks[-1].end)
        if last <= first:
            return None
        samples = np.zeros((last - first, self._blocks[0].channels), np.float32)
        for block in self._blocks:
            lo, hi = max(first, block.start), min(last, block.end)
            if lo < hi:
                source = block.samples[lo - block.start : hi - block.start]
                samples[lo - first : hi - first] = source
        return AudioBlock(samples, rate, first)
