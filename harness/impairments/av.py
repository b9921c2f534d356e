"""Audio-video sync defects: a constant offset and a progressive drift, in either direction.

Sign convention (DESIGN.md, ``av_sync``): ``offset_ms`` is positive when audio is late (lags the
video), negative when it leads. A stream can only delay, never advance, so:

* audio late (``offset_ms > 0``): ``AvOffset`` delays the audio for the window, from a buffer of
  the past; ``AvDrift`` delays it more and more (``drift_ms_per_min``), by band-limited
  resampling, as an audio clock running slow does.
* audio early (``offset_ms < 0``): ``VideoDelay`` holds the *video* back instead, showing for
  each frame in the window the clean frame nearest to ``time - delay`` (with a
  ``drift_ms_per_min`` < 0, a video clock running slow). Video moves in whole frames, so the
  realised offset is the requested one rounded to the frame period (each frame's label entry
  names the source frame shown); pick offsets that are multiples of it for exact truth.
  A dataset writer that produces whole files can instead shift the video stream's timestamps
  (``ffmpeg -itsoffset``), which is exact to the timestamp.

At the window's edges the audio crossfades over ``ramp_ms`` (inside the window) between the
clean and the delayed signal: entering, ``offset`` ms are replayed; leaving, they are skipped,
as a player resyncing does, without an unlabelled click.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import deque
from typing import Any

import numpy as np

from harness.events import Defect
from harness.impairments.audio import SINC_HALF_WIDTH, PastInput, WindowedAudio
from harness.impairments.base import TIME_EPSILON, ImpairedFrame, Label, VideoImpairment


class _DelayedAudio(WindowedAudio):
    """Audio in the window plays from the past: ``out[n] = clean[n - delay(n)]``, all channels."""

    defect = Defect.AV_SYNC.value

    def __init__(self, at: float, duration: float, seed: int, *, ramp_ms: float) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms)
        self._past = PastInput(self.name)

    @abstractmethod
    def _longest_delay(self, sample_rate: int) -> int:
        """The most samples the window ever reads back."""

    @abstractmethod
    def _delayed(self, positions: np.ndarray, offsets: np.ndarray, sample_rate: int) -> np.ndarray:
        """The output at media ``positions``, ``offsets`` samples into the window."""

    def apply(self, start: int, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        keep = self._longest_delay(sample_rate) + SINC_HALF_WIDTH
        self._past.push(start, samples, keep)
        return super().apply(start, samples, sample_rate)

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        offsets = np.arange(first, first + len(clean))
        return self._delayed(self.span(sample_rate)[0] + offsets, offsets, sample_rate)


class AvOffset(_DelayedAudio):
    """Audio ``offset_ms`` late for the window (rounded to the sample); > 0 only, see the
    module docstring (and ``VideoDelay``) for audio that leads."""

    name = "av_offset"

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, offset_ms: float = 80.0,
        ramp_ms: float = 5.0,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms)
        if offset_ms <= 0:
            raise ValueError(
                f"{self.name}: offset_ms must be > 0 (audio late; a stream cannot play audio "
                f"early), not {offset_ms}; for audio leading use VideoDelay"
            )
        self.offset_ms = offset_ms

    def params(self) -> dict[str, Any]:
        return {"offset_ms": self.offset_ms, **super().params()}

    def _longest_delay(self, sample_rate: int) -> int:
        return round(self.offset_ms * sample_rate / 1000)

    def _delayed(self, positions: np.ndarray, offsets: np.ndarray, sample_rate: int) -> np.ndarray:
        return self._past.read(positions - self._longest_delay(sample_rate))


class AvDrift(_DelayedAudio):
    """Audio falls behind by ``drift_ms_per_min`` from the window start (0 there), resampled
    with a windowed-sinc kernel; when the window ends the player resyncs. > 0 only; a video
    falling behind is ``VideoDelay(drift_ms_per_min=...)``.

    The delay is exact throughout; the waveform is exact to -80 dB up to 0.75 of Nyquist once
    16 samples of delay have built up (0.33 s into the window at 48 kHz and 60 ms/min). Before
    that a stream has no lookahead for the full kernel: with 4-16 samples of delay the error is
    below -70 dB up to 10 kHz, and in the first 4 samples (the first 83 ms at 60 ms/min) highs
    above about 5 kHz are only approximated.
    """

    name = "av_drift"

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, drift_ms_per_min: float = 30.0,
        ramp_ms: float = 5.0,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms)
        if drift_ms_per_min <= 0:
            raise ValueError(
                f"{self.name}: drift_ms_per_min must be > 0 (audio falling behind), "
                f"not {drift_ms_per_min}; for audio drifting ahead use VideoDelay"
            )
        self.drift_ms_per_min = drift_ms_per_min
        self._slope = drift_ms_per_min / 60_000  # seconds of delay per second

    def params(self) -> dict[str, Any]:
        return {"drift_ms_per_min": self.drift_ms_per_min, **super().params()}

    def _longest_delay(self, sample_rate: int) -> int:
        return math.ceil(self._slope * self.span(sample_rate)[1]) + 1

    def _delayed(self, positions: np.ndarray, offsets: np.ndarray, sample_rate: int) -> np.ndarray:
        return self._past.interpolate(positions - self._slope * offsets, positions)


class VideoDelay(VideoImpairment):
    """The video ``-offset_ms`` late for the window, plus ``-drift_ms_per_min`` more per minute:
    audio leads, an ``av_sync`` defect with negative ``offset_ms``/``drift_ms_per_min``.

    Each frame in the window shows the clean frame nearest (the earlier on a tie) to its time
    minus the delay; the label lists them as ``{"index", "source"}``, like the other temporal
    video impairments. Frames are held by reference and must come in order from before
    ``at + offset_ms / 1000``.
    """

    name = "video_delay"
    defect = Defect.AV_SYNC.value

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, offset_ms: float = -80.0,
        drift_ms_per_min: float = 0.0,
    ) -> None:
        super().__init__(at, duration, seed)
        if offset_ms > 0 or drift_ms_per_min > 0 or offset_ms == drift_ms_per_min == 0:
            raise ValueError(
                f"{self.name}: offset_ms and drift_ms_per_min must be <= 0 (audio leading) and "
                f"not both 0, not {offset_ms}, {drift_ms_per_min}; for audio late use AvOffset"
            )
        if at * 1000 < -offset_ms:
            raise ValueError(f"{self.name}: a {-offset_ms} ms delay needs that much video before "
                             f"the window, which starts at {at} s")
        self.offset_ms, self.drift_ms_per_min = offset_ms, drift_ms_per_min
        self._held: deque[tuple[int, float, np.ndarray]] = deque()
        self._shown: list[dict[str, int]] = []

    def params(self) -> dict[str, Any]:
        return {"offset_ms": self.offset_ms, "drift_ms_per_min": self.drift_ms_per_min}

    def delay(self, time: float) -> float:
        """How late (s) the picture is at media ``time`` inside the window."""
        return -(self.offset_ms + self.drift_ms_per_min * (time - self.at) / 60) / 1000

    def apply(self, index: int, time: float, image: np.ndarray) -> ImpairedFrame:
        if time >= self.end - TIME_EPSILON:
            self._held.clear()
            return ImpairedFrame(image)
        self._held.append((index, time, image))
        active = self.active(time)
        target = time - self.delay(time) if active else self.at - self.delay(self.at)
        # targets only move forward: a frame with a later one at or before the target is done
        while len(self._held) > 1 and self._held[1][1] <= target + TIME_EPSILON:
            self._held.popleft()
        if not active:
            return ImpairedFrame(image)
        times = np.array([held_time for _, held_time, _ in self._held])
        if times[0] > target + TIME_EPSILON:
            raise ValueError(f"{self.name}: needs the frame at {target:.3f} s, the earliest seen "
                             f"is at {times[0]:.3f} s; apply it to every frame, in order")
        source, _, shown = self._held[int(np.argmin(np.abs(times - target)))]
        self._shown.append({"index": index, "source": source})
        return ImpairedFrame(shown)

    def label(self) -> Label:
        label = super().label()
        label.frames = list(self._shown)
        return label
