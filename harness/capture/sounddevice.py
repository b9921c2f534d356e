"""Audio from a sound interface through sounddevice (PortAudio): the capture card's or a USB
interface's line input, or PulseAudio/PipeWire's ``pulse`` device.

Clock. Audio must land on the media clock the video uses, or every A/V-sync verdict is off by
however long the two sources took to start. Both sources share the session's ``clock_origin``
(``time.monotonic()`` at media time zero, set by the pipeline). Each block's first sample has an
ADC time, ``inputBufferAdcTime`` in PortAudio's time info, on PortAudio's stream clock; it is
mapped to ``monotonic`` by the offset ``monotonic() - currentTime`` measured in the callback, the
smallest of the last few seconds' offsets (a callback that waited for the GIL reads late, never
early). Where the host API gives no usable ADC time (zero or implausible) a block's first sample
is taken to be one block old, the newest being about as old as the callback.

Sample 0 of the capture is the first sample of the first callback, at
``start = round((adc_time - clock_origin) * rate)`` (never below 0: an estimate a few samples
before media time zero is noise). From then on blocks are *counted*: each starts where the
previous one ended, exact and jitter-free. Each block is also placed by the clock, and when the
clock says it starts more than ``LOSS_TOLERANCE_S`` later than counted, audio was lost and
``start`` jumps forward to the clock's position, so the gap is visible to detectors and counted
in ``samples_lost`` / ``CaptureStats.audio_samples_lost``. PortAudio's ``input_overflow`` flag
is not enough: through PulseAudio's ALSA plugin, a stream that starts with a backlog silently
discards 50-200 ms of it within its first blocks (measured on the test rig), which counting
alone would turn into a permanent A/V offset. On an overflow the jump is taken at any size.

Limits, stated so nobody reads more into the numbers than is there: the interface's crystal and
the system clock differ by tens of ppm (0.1-0.2 s an hour). An interface slower than the system
clock is pulled back into line by a ``LOSS_TOLERANCE_S`` jump every few minutes (counted as lost
samples); one faster than it runs ahead, since blocks never move backwards: at most 0.2 s an
hour, against runs of minutes. Audio before the first callback is not recorded at all (up to a
second on PulseAudio while a stream starts).

sounddevice is imported in ``open``, so a machine without PortAudio can still import this
module, and the error says what to install. PortAudio lists devices once, when it starts: an
interface plugged in (or a PulseAudio server started) later is invisible until it restarts, so a
device not found makes PortAudio list them again -- only while no stream of ours is open, since
restarting it stops every stream in the process.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from harness.capture.base import Emit, MediaSource
from harness.errors import CaptureError
from harness.media import AudioBlock, MediaInfo
from harness.profiles import DeviceProfile

log = logging.getLogger(__name__)

#: A block placed this much later by the clock than by counting means audio was lost.
#: Ten times the clock's jitter measured at steady state (under 2 ms).
LOSS_TOLERANCE_S = 0.02
#: Blocks held between PortAudio's callback and the reader thread; at 0.1 s blocks, 10 s.
_QUEUE_BLOCKS = 100
_POLL = 0.05
#: Seconds of callbacks over which the smallest clock offset is taken (a few seconds, so the
#: mapping follows a step of the system's wall clock, which PortAudio's stream clock may use).
_OFFSET_WINDOW_S = 5.0

#: Input streams this process has open; PortAudio is only restarted (to list devices again)
#: while this is zero.
_open_streams = 0
_open_streams_lock = threading.Lock()


class SoundDeviceSource(MediaSource):
    """Live audio blocks from one sounddevice input stream, on the session's media clock."""

    backend_name = "sounddevice"
    is_live = True
    has_end = False
    provides_video = False
    provides_audio = True

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate: int = 48000,
        channels: int = 2,
        block_seconds: float = 0.1,
        read_timeout: float = 2.0,
    ) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.blocksize = max(1, round(sample_rate * block_seconds))
        self._tolerance = round(LOSS_TOLERANCE_S * sample_rate)
        self.read_timeout = read_timeout
        #: samples found missing by the clock (already reflected in block starts)
        self.samples_lost = 0
        #: blocks dropped because the reader thread did not empty the hand-over queue in time
        self.blocks_dropped = 0
        self._stream: Any = None
        self._device_name = "default" if device is None else str(device)
        self._blocks: queue.Queue[AudioBlock] = queue.Queue(_QUEUE_BLOCKS)
        self._next_start: int | None = None
        self._last_callback = 0.0
        self._offsets: deque[float] = deque(maxlen=max(1, round(_OFFSET_WINDOW_S / block_seconds)))

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> SoundDeviceSource:
        audio = profile.audio
        return cls(audio.device, sample_rate=audio.sample_rate, channels=audio.channels,
                   block_seconds=audio.block_seconds, read_timeout=profile.capture_timeout)

    def open(self) -> None:
        global _open_streams
        sd = _import_sounddevice()
        device = _find_input(sd, self.device)
        self._device_name = f"{device['name']} (#{device['index']})"
        if self.clock_origin is None:
            self.clock_origin = time.monotonic()  # used on its own, outside a Pipeline
        # a source opened again starts afresh: nothing from the last stream is handed out
        self._blocks = queue.Queue(_QUEUE_BLOCKS)
        self._next_start = None
        self._offsets.clear()
        self.samples_lost = self.blocks_dropped = 0
        try:
            self._stream = sd.InputStream(
                device=device["index"], samplerate=self.sample_rate, channels=self.channels,
                dtype="float32", blocksize=self.blocksize, callback=self._callback,
            )
            with _open_streams_lock:
                _open_streams += 1
            self._last_callback = time.monotonic()
            self._stream.start()
        except sd.PortAudioError as exc:
            self.close()
            raise CaptureError(
                f"audio input {self._device_name} cannot record {self.channels} channel(s) at "
                f"{self.sample_rate} Hz ({exc}); it offers up to {device['max_input_channels']} "
                f"input channels, default rate {device['default_samplerate']:g} Hz. Fix "
                "audio.channels / audio.sample_rate in the profile."
            ) from None

    @property
    def info(self) -> MediaInfo:
        return MediaInfo(path=f"sounddevice:{self._device_name}", sample_rate=self.sample_rate,
                         channels=self.channels)

    def close(self) -> None:
        global _open_streams
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()
            with _open_streams_lock:
                _open_streams -= 1

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: stamp the block and hand it over; never block here."""
        now = time.monotonic()
        self._last_callback = now
        position = self._clock_position(now, frames, time_info)
        if self._next_start is None:
            self._next_start = max(0, position)
        elif position - self._next_start > (0 if status.input_overflow else self._tolerance):
            self.samples_lost += position - self._next_start
            self._next_start = position
        block = AudioBlock(indata.copy(), self.sample_rate, self._next_start)
        self._next_start += frames
        try:
            self._blocks.put_nowait(block)
        except queue.Full:
            self.blocks_dropped += 1

    def _clock_position(self, now: float, frames: int, time_info: Any) -> int:
        """Media-clock sample index of this callback's first sample, from its ADC time."""
        assert self.clock_origin is not None
        age = time_info.currentTime - time_info.inputBufferAdcTime
        if 0.0 < age < 1.0 + frames / self.sample_rate:
            self._offsets.append(now - time_info.currentTime)
            adc_time = time_info.inputBufferAdcTime + min(self._offsets)
        else:
            adc_time = now - frames / self.sample_rate
        return round((adc_time - self.clock_origin) * self.sample_rate)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                block = self._blocks.get(timeout=_POLL)
            except queue.Empty:
                stream = self._stream
                silent_for = time.monotonic() - self._last_callback
                if stream is None or not stream.active or silent_for > self.read_timeout:
                    log.warning("%s: no audio for %.1f s; the capture ended",
                                self._device_name, silent_for)
                    return
                continue
            emit(block)


def _import_sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise CaptureError(
            "the sounddevice package is missing; install it: pip install sounddevice"
        ) from None
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise CaptureError(
            f"PortAudio is not installed ({exc}); install it: apt-get install libportaudio2 "
            "(and libasound2-plugins to record from PulseAudio/PipeWire through the 'pulse' "
            "device)"
        ) from None
    return sounddevice


def _find_input(sd: Any, device: int | str | None) -> dict[str, Any]:
    """The input device PortAudio knows by this name or index, or a CaptureError listing all."""
    try:
        return dict(sd.query_devices(device, "input"))
    except (ValueError, sd.PortAudioError):
        with _open_streams_lock:
            if _open_streams == 0:
                sd._terminate()  # documented way to list devices again (sounddevice #125)
                sd._initialize()
    try:
        return dict(sd.query_devices(device, "input"))
    except (ValueError, sd.PortAudioError) as exc:
        wanted = "the default input device" if device is None else f"audio input {device!r}"
        inputs = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
        if not inputs:
            raise CaptureError(
                f"{wanted} not found ({exc}) and this machine has no audio input at all: is the "
                "capture card / USB audio interface plugged in (`arecord -l`)? To record through "
                "PulseAudio, check it runs (`pactl info`) and install libasound2-plugins so "
                "PortAudio sees its 'pulse' device."
            ) from None
        listing = "; ".join(
            f"{d['index']}: {d['name']!r} ({d['max_input_channels']} ch)" for d in inputs
        )
        raise CaptureError(
            f"{wanted} not found ({exc}). Input devices here: {listing}. Set audio.device in "
            "the profile to one of these names or indices (`python -m sounddevice` lists them)."
        ) from None
