"""The speech side of LipSync: programme audio as 16 kHz mono, its speech-band envelope and the
probability that someone is speaking, kept for the last few seconds so a window is scored late.

Everything is streamed block by block (filters keep their state, the VAD its recurrent state), so
each sample is processed once however much windows overlap, and a block boundary never makes a
click that would read as a syllable. The stream's clock is the media clock: 16 kHz sample 0 sits
at the first block's start, and audio the capture lost (a jump in ``AudioBlock.start``) is
filled with silence so later samples stay at their true times.

* Envelope: mean square of the 300-3000 Hz band (where speech energy and little hum or rumble
  lie) per 10 ms hop, hop ``k`` centred at ``start + (k + 0.5) * 10 ms``.
* Speech probability: silero-vad, one value per 32 ms chunk, put on the envelope's hops. It gates
  the lip-sync correlation: music, effects and silence carry no lip movement to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.signal import butter, sosfilt

from harness.detectors.audio.resample import StreamResampler
from harness.detectors.av.packaged import onnx_session, packaged_model
from harness.media import AudioBlock

SAMPLE_RATE = 16_000
HOP = 160  #: envelope hop, samples (10 ms)
HOP_S = HOP / SAMPLE_RATE
SPEECH_BAND_HZ = (300.0, 3000.0)
#: A capture gap longer than this restarts the stream instead of being filled with silence.
_MAX_GAP_S = 10.0


class VoiceActivity(Protocol):
    """A streaming speech detector: fed ``chunk`` new 16 kHz samples at a time, in order."""

    chunk: int

    def __call__(self, samples: np.ndarray) -> float:
        """Probability in [0, 1] that the chunk holds speech."""
        ...

    def reset(self) -> None:
        """Forget the past (a new stream starts)."""
        ...


class SileroVad:
    """silero-vad's ONNX model (``silero_vad/data/silero_vad.onnx``) with its recurrent state.

    Each call feeds 512 new samples after the previous chunk's last 64 (the context the model was
    trained with) and carries the LSTM state to the next call.
    """

    chunk = 512
    _CONTEXT = 64

    def __init__(self) -> None:
        path = packaged_model("silero_vad", "data/silero_vad.onnx")
        self._session = onnx_session(path, "silero-vad", threads=1)
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(self._CONTEXT, np.float32)

    def __call__(self, samples: np.ndarray) -> float:
        x = np.concatenate([self._context, samples.astype(np.float32)])[np.newaxis]
        prob, self._state = self._session.run(
            ["output", "stateN"], {"input": x, "state": self._state, "sr": self._rate}
        )
        self._context = x[0, -self._CONTEXT :]
        return float(prob[0, 0])


@dataclass(frozen=True)
class AudioSpan:
    """Audio between two media times, as a scorer sees it. Outside what was captured, samples
    and envelope are silence and the speech probability is 0."""

    start: float  #: media time of ``samples[0]`` and of the start of envelope hop 0
    samples: np.ndarray  #: 16 kHz mono float32 (for learned scorers)
    envelope: np.ndarray  #: speech-band mean square per 10 ms hop
    speech: np.ndarray  #: speech probability per 10 ms hop

    @property
    def hop_times(self) -> np.ndarray:
        """Media time of the centre of every envelope hop."""
        return self.start + (np.arange(len(self.envelope)) + 0.5) * HOP_S

    def speech_seconds(self, start: float, end: float, threshold: float) -> float:
        """How long speech is likely (probability >= ``threshold``) between two media times."""
        times = self.hop_times
        inside = (times >= start) & (times < end)
        return float(np.count_nonzero(self.speech[inside] >= threshold)) * HOP_S


class _Series:
    """A growing array of which only the most recent ``keep`` values are held; indices stay
    absolute (value ``i`` is the i-th ever appended)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.first = 0
        self._values = np.zeros(0, np.float32)
        self._parts: list[np.ndarray] = []

    @property
    def end(self) -> int:
        return self.first + len(self._values) + sum(len(p) for p in self._parts)

    def append(self, values: np.ndarray) -> None:
        self._parts.append(values.astype(np.float32))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Values ``start`` to ``stop``; zeros where nothing is held."""
        self._consolidate()
        out = np.zeros(max(0, stop - start), np.float32)
        lo, hi = max(start, self.first), min(stop, self.end)
        if hi > lo:
            out[lo - start : hi - start] = self._values[lo - self.first : hi - self.first]
        return out

    def _consolidate(self) -> None:
        if self._parts:
            values = np.concatenate([self._values, *self._parts])
            self._parts = []
            drop = max(0, len(values) - self.keep)
            self._values, self.first = values[drop:], self.first + drop


class SpeechStream:
    """Programme audio to envelope and speech probability, for the last ``keep_s`` seconds."""

    def __init__(self, vad: VoiceActivity, keep_s: float) -> None:
        self.vad = vad
        self.keep_s = keep_s
        self._rate: int | None = None

    @property
    def end_time(self) -> float | None:
        """Media time up to which audio has been received (None before any)."""
        return None if self._rate is None else self.origin + self._samples.end / SAMPLE_RATE

    def feed(self, block: AudioBlock) -> None:
        if self._rate != block.sample_rate:
            self._restart(block)
        gap = block.start - self._next
        if gap > _MAX_GAP_S * block.sample_rate or gap < -len(block.samples):
            self._restart(block)
            gap = 0
        mono = block.samples.mean(axis=1, keepdims=True)
        if gap > 0:  # audio lost by the capture: silence keeps later samples on time
            mono = np.concatenate([np.zeros((gap, 1), np.float32), mono])
        elif gap < 0:  # overlaps what was already received
            mono = mono[-gap:]
        self._next = block.end
        self._push(self._resample(mono)[:, 0])

    def span(self, start: float, end: float) -> AudioSpan:
        """The audio from ``start`` to ``end`` (media s); silence where none was received."""
        first = round((start - self.origin) * SAMPLE_RATE / HOP) if self._rate else 0
        hops = max(0, round((end - start) / HOP_S))
        if self._rate is None:
            silent = np.zeros(hops, np.float32)
            return AudioSpan(start, np.zeros(hops * HOP, np.float32), silent, silent)
        hop_times = (first + np.arange(hops) + 0.5) * HOP_S
        vad_times = (np.arange(self._vad.first, self._vad.end) + 0.5) * self.vad.chunk \
            / SAMPLE_RATE
        vad = self._vad.read(self._vad.first, self._vad.end)
        speech = np.interp(hop_times, vad_times, vad, left=0, right=0) if len(vad) else \
            np.zeros(hops)
        return AudioSpan(
            self.origin + first * HOP_S,
            self._samples.read(first * HOP, (first + hops) * HOP),
            self._envelope.read(first, first + hops),
            speech.astype(np.float32),
        )

    def _restart(self, block: AudioBlock) -> None:
        self._rate = block.sample_rate
        self.origin = block.time
        self._next = block.start
        self._resample = StreamResampler(block.sample_rate, SAMPLE_RATE, 1)
        keep = int(self.keep_s * SAMPLE_RATE)
        self._samples = _Series(keep)
        self._envelope = _Series(keep // HOP)
        self._vad = _Series(keep // self.vad.chunk)
        self._band = butter(4, SPEECH_BAND_HZ, btype="bandpass", fs=SAMPLE_RATE, output="sos")
        self._band_zi = np.zeros((self._band.shape[0], 2))
        self._pending = np.zeros(0, np.float32)  # samples not yet a whole hop / VAD chunk
        self._vad_pending = np.zeros(0, np.float32)
        self.vad.reset()

    def _push(self, samples: np.ndarray) -> None:
        self._samples.append(samples)
        band, self._band_zi = sosfilt(self._band, samples, zi=self._band_zi)
        pending = np.concatenate([self._pending, band])
        whole = len(pending) // HOP * HOP
        self._envelope.append(np.square(pending[:whole]).reshape(-1, HOP).mean(axis=1))
        self._pending = pending[whole:]
        chunk = self.vad.chunk
        pending = np.concatenate([self._vad_pending, samples])
        whole = len(pending) // chunk * chunk
        self._vad.append(np.array([self.vad(c) for c in pending[:whole].reshape(-1, chunk)]))
        self._vad_pending = pending[whole:]
