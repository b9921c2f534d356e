"""Audio defects: dropouts, mains hum, hiss, distortion, clicks and level jumps.

Every impairment here is streaming and block-size independent (the contract in ``base``): an
output sample is a function of the seed, its position and the clean input up to that position,
never of where a block boundary fell. The building blocks that make that easy are shared with
``audio_lookalikes`` and ``av``:

* ``WindowedAudio`` finds the part of a block inside the window and hands it to ``_impair`` with
  its offset from the window start, then fades the effect in and out over ``ramp_ms`` *inside*
  the window, so samples outside stay bit-identical and a defect whose label says "hum" does not
  also start with an unlabelled click. ``ChannelAudio`` adds ``channels``: a defect on one
  channel only (a bad cable, one DAC) must be simulable, because the detector checks each one.
* ``Noise`` is Gaussian noise as a pure function of (seed, position): drawn in fixed chunks
  from generators seeded by the chunk number, so any rate and any block size get the same noise.
* ``SoundEvents`` mixes short sounds (clicks, drum hits, claps, notes) whose onsets and
  parameters are drawn in ``__init__`` in seconds, rendered at the block's rate on first use.
* ``PastInput`` keeps the clean input a delay or a repeated buffer reads back.

Levels are in dBFS as RMS relative to full scale 1.0 (the convention of
``harness.simulation.capture_path``: a full-scale sine is -3 dBFS). Additive defects take an
absolute level because a stream cannot know the programme's power ahead; the dataset writer
turns a target SNR into a level with ``level_for_snr`` on the clean segment it writes.

Clean digital silence stays digital here: a ``Dropout`` writes zeros, and the capture path
(``captured_audio``) is what turns it into the noise floor a real capture shows.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import signal, special

from harness.events import Defect
from harness.impairments.base import AudioImpairment


def from_db(level_db: float) -> float:
    """The linear ratio of a level in dB (an RMS for dBFS levels, a gain for gains)."""
    return 10.0 ** (level_db / 20.0)


def level_for_snr(clean: np.ndarray, snr_db: float) -> float:
    """The level (dBFS RMS) an additive defect needs to sit ``snr_db`` below ``clean``.

    Streaming impairments cannot measure the programme ahead, so ``Hum`` and ``Hiss`` take an
    absolute level; the dataset writer measures the clean segment it is about to write with this.
    """
    power = float(np.mean(np.square(clean, dtype=np.float64)))
    if power == 0.0:
        raise ValueError("the clean segment is digital silence: an SNR against it is undefined")
    return 10.0 * np.log10(power) - snr_db


def _edge_weights(first: int, count: int, length: int, ramp: int) -> np.ndarray:
    """Weight of the impaired signal at window offsets ``[first, first + count)``.

    Raised-cosine ramps of ``ramp`` samples at both ends, entirely inside the window of
    ``length`` samples; 1.0 (exactly) everywhere else.
    """
    offsets = np.arange(first, first + count)
    edge = np.minimum(offsets, length - 1 - offsets) + 0.5
    return np.where(edge < ramp, 0.5 - 0.5 * np.cos(np.pi * edge / max(ramp, 1)), 1.0)


class WindowedAudio(AudioImpairment):
    """An audio impairment that rewrites the part of each block inside its window.

    Subclasses implement ``_impair`` on window offsets; this class does the slicing, the fade in
    and out over ``ramp_ms`` (crossfading clean and impaired, inside the window) and leaves every
    sample outside the window bit-identical.
    """

    def __init__(self, at: float, duration: float, seed: int = 0, *, ramp_ms: float = 0.0) -> None:
        super().__init__(at, duration, seed)
        if ramp_ms < 0:
            raise ValueError(f"{self.name}: ramp_ms must be >= 0, not {ramp_ms}")
        self.ramp_ms = ramp_ms

    def params(self) -> dict[str, Any]:
        return {"ramp_ms": self.ramp_ms}

    def span(self, sample_rate: int) -> tuple[int, int]:
        """The window's first sample on the media clock and its length, at ``sample_rate``."""
        origin = round(self.at * sample_rate)
        return origin, round(self.end * sample_rate) - origin

    def selected(self, channels: int) -> slice | list[int]:
        """Index of the channels this impairment changes, out of ``channels``."""
        return slice(None)

    def apply(self, start: int, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        inside = self.window(start, len(samples), sample_rate)
        if inside.start == inside.stop:
            return samples
        origin, length = self.span(sample_rate)
        first = start + inside.start - origin
        channels = self.selected(samples.shape[1])
        clean = samples[inside, channels]
        impaired = self._impair(clean, first, sample_rate)
        ramp = min(round(self.ramp_ms * sample_rate / 1000), length // 2)
        weight = _edge_weights(first, len(clean), length, ramp)
        fading = weight < 1.0
        if fading.any():
            impaired[fading] = clean[fading] + weight[fading, np.newaxis] * (
                impaired[fading] - clean[fading]
            )
        out = samples.copy()
        out[inside, channels] = impaired
        return out

    @abstractmethod
    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        """The impaired version (a new array) of ``clean``, whose first sample lies ``first``
        samples after the window start; ``clean`` holds the selected channels only."""


class ChannelAudio(WindowedAudio):
    """A ``WindowedAudio`` that can be limited to some channels (``None``: all of them)."""

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, ramp_ms: float = 0.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms)
        self.channels = None if channels is None else sorted({int(c) for c in channels})
        if self.channels is not None and (not self.channels or self.channels[0] < 0):
            raise ValueError(f"{self.name}: channels must be indices >= 0, not {channels!r}")

    def params(self) -> dict[str, Any]:
        return {**super().params(), "channels": self.channels}

    def selected(self, channels: int) -> slice | list[int]:
        if self.channels is None:
            return slice(None)
        if self.channels[-1] >= channels:
            raise ValueError(
                f"{self.name}: channel {self.channels[-1]} asked for, the audio has {channels}"
            )
        return self.channels


#: Pink noise follows 1/f down to here and is flat below: the lowest band that matters for
#: audibility, and it keeps the FIR short (4096 taps at 48 kHz).
_PINK_LOWEST_HZ = 20.0


@lru_cache(maxsize=8)
def pink_filter(sample_rate: int) -> np.ndarray:
    """A linear-phase FIR whose power response falls 3 dB per octave, unit power gain.

    An FIR, not the usual IIR, because its output is a pure function of the last ``len`` white
    samples: pink noise at any position can be made without the filter state of a stream.
    """
    length = 2 ** int(np.ceil(np.log2(sample_rate / _PINK_LOWEST_HZ)))
    frequencies = np.fft.rfftfreq(length, 1 / sample_rate)
    magnitude = 1 / np.sqrt(np.maximum(frequencies, _PINK_LOWEST_HZ))
    taps = np.fft.fftshift(np.fft.irfft(magnitude, length)) * np.hanning(length)
    return (taps / np.sqrt(np.sum(taps**2))).astype(np.float32)


class Noise:
    """Gaussian noise, white or pink, as a pure function of (seed, sample position, width, rate).

    White noise is drawn in chunks of ``CHUNK`` samples, each from a generator seeded by (key,
    chunk number), so any position comes out the same whatever the block size or history. Pink
    noise is each white chunk convolved with ``pink_filter`` and overlap-added on that same fixed
    grid of chunks: an FFT over a block would round differently for each block size. The last
    few chunks are kept, since consecutive small blocks fall in the same ones.
    """

    CHUNK = 8192
    COLORS = ("white", "pink")
    _KEPT = 6

    def __init__(self, rng: np.random.Generator, color: str = "white") -> None:
        if color not in self.COLORS:
            raise ValueError(f"noise color must be one of {list(self.COLORS)}, not {color!r}")
        self.color = color
        self._key = int(rng.integers(2**63))
        self._chunks: dict[tuple[int, int, int], np.ndarray] = {}

    def __call__(self, first: int, count: int, width: int, sample_rate: int) -> np.ndarray:
        """``count`` x ``width`` float32 samples from position ``first`` (may be negative)."""
        reach = len(pink_filter(sample_rate)) - 1 if self.color == "pink" else 0
        out = np.zeros((count, width), np.float32)
        for index in range((first - reach) // self.CHUNK, (first + count - 1) // self.CHUNK + 1):
            chunk = self._chunk(index, width, sample_rate)
            offset = index * self.CHUNK - first
            a, b = max(0, offset), min(count, offset + len(chunk))
            out[a:b] += chunk[a - offset : b - offset]
        return out

    def _chunk(self, index: int, width: int, sample_rate: int) -> np.ndarray:
        key = (index, width, sample_rate)
        if key not in self._chunks:
            if len(self._chunks) >= self._KEPT:
                del self._chunks[next(iter(self._chunks))]
            rng = np.random.default_rng([self._key, index % 2**64, width])
            chunk = rng.standard_normal((self.CHUNK, width), dtype=np.float32)
            if self.color == "pink":
                chunk = signal.fftconvolve(chunk, pink_filter(sample_rate)[:, np.newaxis], axes=0)
            self._chunks[key] = chunk
        return self._chunks[key]


class SoundEvents:
    """Short sounds at onsets fixed in seconds, rendered on demand and summed into blocks.

    ``render(index, sample_rate)`` returns sound ``index`` as a float array of at most
    ``longest_s`` seconds, deterministic (its parameters were drawn in the owner's ``__init__``).
    A sound is rendered the first time a block reaches it and kept until blocks have passed its
    end, so every block size sums the very same samples in the same order.
    """

    def __init__(
        self, onsets: np.ndarray, longest_s: float, render: Callable[[int, int], np.ndarray]
    ) -> None:
        self.onsets = np.asarray(onsets, dtype=np.float64)
        if np.any(np.diff(self.onsets) < 0):
            raise ValueError("sound onsets must be sorted")
        self.longest_s = longest_s
        self._render = render
        self._rate = 0
        self._starts = np.empty(0, np.int64)
        self._rendered: dict[int, np.ndarray] = {}

    def mix(self, first: int, count: int, sample_rate: int) -> np.ndarray:
        """The sum of all sounds over positions ``[first, first + count)`` (window offsets)."""
        if sample_rate != self._rate:
            self._rate, self._rendered = sample_rate, {}
            self._starts = np.round(self.onsets * sample_rate).astype(np.int64)
        reach = int(np.ceil(self.longest_s * sample_rate)) + 1
        low = int(np.searchsorted(self._starts, first - reach, side="right"))
        high = int(np.searchsorted(self._starts, first + count))
        for index in [index for index in self._rendered if index < low]:
            del self._rendered[index]
        out = np.zeros(count)
        for index in range(low, high):
            if index not in self._rendered:
                self._rendered[index] = self._render(index, sample_rate)
            sound = self._rendered[index]
            offset = int(self._starts[index]) - first
            a, b = max(0, offset), min(count, offset + len(sound))
            if a < b:
                out[a:b] += sound[a - offset : b - offset]
        return out


def _spaced_onsets(rng: np.random.Generator, count: int, span: float, gap: float) -> np.ndarray:
    """``count`` sorted uniform random times in ``[0, span]``, at least ``gap`` apart."""
    room = span - (count - 1) * gap
    if room < 0:
        raise ValueError(f"{count} events at least {gap * 1000:g} ms apart do not fit {span:g} s")
    return np.sort(rng.uniform(0.0, room, count)) + np.arange(count) * gap


class AddedSounds(ChannelAudio):
    """Adds ``self.sounds`` (a ``SoundEvents`` built by the subclass) to the selected channels."""

    sounds: SoundEvents

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        return clean + self.sounds.mix(first, len(clean), sample_rate)[:, np.newaxis]


#: Half-width (taps each side) of the windowed-sinc interpolator and its Kaiser beta: errors
#: below -80 dB up to 0.75 of Nyquist. Kernels come from a table over ``_SINC_STEPS``
#: fractions for every half-width, blended linearly (error below -100 dB): computing Kaiser
#: windows per sample would cost more than everything else a block needs.
SINC_HALF_WIDTH = 16
_SINC_BETA = 8.6
_SINC_STEPS = 512
_SINC_TAPS = np.arange(1 - SINC_HALF_WIDTH, SINC_HALF_WIDTH + 1)


@lru_cache(maxsize=1)
def _sinc_table() -> np.ndarray:
    """Weights [half-width, fraction step, tap] (each row sums to 1) for reading a fraction of a
    sample past tap 0 with taps ``1 - half .. half`` (the rest weigh 0)."""
    half = np.arange(1, SINC_HALF_WIDTH + 1)[:, np.newaxis, np.newaxis]
    fraction = np.linspace(0.0, 1.0, _SINC_STEPS + 1)[:, np.newaxis]
    taps = _SINC_TAPS
    distance = taps - fraction
    taper = special.i0(_SINC_BETA * np.sqrt(np.clip(1 - (distance / half) ** 2, 0, None)))
    weights = np.where((taps > -half) & (taps <= half), np.sinc(distance) * taper, 0.0)
    return weights / weights.sum(axis=2, keepdims=True)


class PastInput:
    """The clean input of the current block plus the ``keep`` samples before it.

    For impairments that play back the past (a delay, a repeated buffer, a resampler). Blocks
    must come in order without gaps for the past to be known; after a gap only the new block is
    held, and reading further back raises, naming ``owner``.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._first = 0
        self._samples: np.ndarray | None = None

    def push(self, start: int, samples: np.ndarray, keep: int) -> None:
        held = self._samples
        if held is not None and start == self._first + len(held):
            kept = held[max(0, len(held) - keep) :]
            self._first, self._samples = start - len(kept), np.concatenate([kept, samples])
        else:
            self._first, self._samples = start, samples.copy()

    def read(self, positions: np.ndarray) -> np.ndarray:
        """The samples at integer media positions."""
        return self._held(int(positions.min()), int(positions.max()))[positions - self._first]

    def interpolate(self, positions: np.ndarray, latest: np.ndarray) -> np.ndarray:
        """Band-limited values at fractional positions, using no sample after ``latest``.

        A stream has no lookahead, so where a position lies closer than ``SINC_HALF_WIDTH`` to
        the output sample being made (``latest``), the kernel narrows to the samples there are
        (down to two taps). The kernel depends only on the position and ``latest``, never on
        what the block happens to hold, so the result is block-size independent.
        """
        base = np.floor(positions).astype(np.int64)
        half = np.clip(latest - base, 1, SINC_HALF_WIDTH)
        scaled = (positions - base) * _SINC_STEPS
        row = np.minimum(scaled.astype(np.int64), _SINC_STEPS - 1)
        blend = (scaled - row)[:, np.newaxis]
        table = _sinc_table()
        weights = (1 - blend) * table[half - 1, row] + blend * table[half - 1, row + 1]
        lowest = base - half + 1
        held = self._held(int(lowest.min()), int(latest.max()))
        # taps past ``latest`` weigh 0 (at most sinc(1) = 0 when reading ``latest`` itself)
        index = np.minimum(base[:, np.newaxis] + _SINC_TAPS, latest[:, np.newaxis])
        index = np.maximum(index, lowest[:, np.newaxis]) - self._first
        return np.matmul(weights[:, np.newaxis, :], held[index])[:, 0, :]

    def _held(self, low: int, high: int) -> np.ndarray:
        """The buffer, after checking it covers positions ``low`` to ``high``."""
        samples = self._samples
        if samples is None or low < self._first or high >= self._first + len(samples):
            last = self._first + (0 if samples is None else len(samples)) - 1
            have = "nothing" if samples is None else f"{self._first}-{last}"
            raise ValueError(
                f"{self.owner}: needs the input at samples {low}-{high} but holds {have}; "
                "apply it to every block, in order, from before its window"
            )
        return samples


class Dropout(ChannelAudio):
    """The device loses audio for the window.

    ``kind="silence"``: digital zeros, as a muted or starved output sends (the capture path adds
    its floor). ``kind="repeat"``: a buffer underrun in a player that keeps sending its last
    buffer, so the ``repeat_ms`` before the window loop for the whole window (a buzzy stutter at
    1000/``repeat_ms`` Hz). Edges are abrupt by default (``ramp_ms=0``), as real cuts are.
    """

    name = "audio_dropout"
    defect = Defect.AUDIO_DROPOUT.value
    KINDS = ("silence", "repeat")

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, kind: str = "silence",
        repeat_ms: float = 20.0, ramp_ms: float = 0.0, channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        if kind not in self.KINDS:
            raise ValueError(f"{self.name}: kind must be one of {list(self.KINDS)}, not {kind!r}")
        if kind == "repeat" and not 0 < repeat_ms <= at * 1000:
            raise ValueError(
                f"{self.name}: repeat_ms must be > 0 and fit before the window ({repeat_ms} ms, "
                f"window at {at} s)"
            )
        self.kind, self.repeat_ms = kind, repeat_ms
        self._past = PastInput(self.name)
        self._loop: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        repeat = {"repeat_ms": self.repeat_ms} if self.kind == "repeat" else {}
        return {**super().params(), "kind": self.kind, **repeat}

    def _loop_length(self, sample_rate: int) -> int:
        return max(1, round(self.repeat_ms * sample_rate / 1000))

    def apply(self, start: int, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        if self.kind == "repeat" and self._loop is None:
            channels = self.selected(samples.shape[1])
            self._past.push(start, samples[:, channels], self._loop_length(sample_rate))
        return super().apply(start, samples, sample_rate)

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        if self.kind == "silence":
            return np.zeros_like(clean)
        loop = self._loop_length(sample_rate)
        if self._loop is None:
            origin, _ = self.span(sample_rate)
            self._loop = self._past.read(np.arange(origin - loop, origin))
        return self._loop[np.arange(first, first + len(clean)) % loop]


class Hum(ChannelAudio):
    """Mains hum: ``mains_hz`` and its harmonics, ``level_dbfs`` RMS in all.

    ``harmonics_db`` are the 2nd, 3rd, ... harmonics relative to the fundamental; the default
    leans to odd harmonics, the buzz of a ground loop through a rectifier. Harmonics at or above
    Nyquist are left out (the rest still add up to ``level_dbfs``). Phases are drawn from the
    seed. ``mains_hz`` takes any value, so datasets can spread it around 50 and 60 Hz as grids do.
    """

    name = "audio_hum"
    defect = Defect.AUDIO_HUM.value

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, level_dbfs: float = -40.0,
        mains_hz: float = 50.0, harmonics_db: Sequence[float] = (-12.0, -6.0, -18.0, -12.0, -24.0),
        ramp_ms: float = 5.0, channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        if mains_hz <= 0:
            raise ValueError(f"{self.name}: mains_hz must be > 0, not {mains_hz}")
        self.level_dbfs, self.mains_hz = level_dbfs, mains_hz
        self.harmonics_db = [float(level) for level in harmonics_db]
        self._phases = self.rng.uniform(0, 2 * np.pi, 1 + len(self.harmonics_db))

    def params(self) -> dict[str, Any]:
        return {**super().params(), "level_dbfs": self.level_dbfs, "mains_hz": self.mains_hz,
                "harmonics_db": self.harmonics_db}

    def components(self, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Frequencies (Hz) and RMS levels (linear) of the hum's sines at ``sample_rate``."""
        relative = np.array([0.0, *self.harmonics_db])
        frequencies = self.mains_hz * np.arange(1, len(relative) + 1)
        kept = frequencies < sample_rate / 2
        weights = 10.0 ** (relative[kept] / 20.0)
        rms = from_db(self.level_dbfs) * weights / np.sqrt(np.sum(weights**2))
        return frequencies[kept], rms

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        frequencies, rms = self.components(sample_rate)
        t = np.arange(first, first + len(clean))[:, np.newaxis] / sample_rate
        phases = self._phases[: len(frequencies)]
        hum = np.sin(2 * np.pi * frequencies * t + phases) @ (rms * np.sqrt(2))
        return clean + hum[:, np.newaxis]


class Hiss(ChannelAudio):
    """Broadband noise at ``level_dbfs`` RMS: ``color`` white (a noisy DAC or amplifier) or
    pink (tape-like, 3 dB/octave down). Independent on each channel, as electronics noise is.

    The level is absolute; for an SNR use ``level_for_snr`` on the clean segment.
    """

    name = "audio_hiss"
    defect = Defect.AUDIO_HISS.value

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, level_dbfs: float = -45.0,
        color: str = "white", ramp_ms: float = 5.0, channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        self.level_dbfs, self.color = level_dbfs, color
        self._noise = Noise(self.rng, color)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "level_dbfs": self.level_dbfs, "color": self.color}

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        noise = self._noise(first, len(clean), clean.shape[1], sample_rate)
        return clean + from_db(self.level_dbfs) * noise


def _overdrive(u: np.ndarray) -> np.ndarray:
    """Schetzen's overdrive curve (Zolzer, DAFX): linear (gain 2) to 1/3, a quadratic knee,
    flat from 2/3: harder than tanh, softer than a clip."""
    level = np.abs(u)
    knee = (3 - (2 - 3 * np.minimum(level, 2 / 3)) ** 2) / 3
    return np.sign(u) * np.where(level < 1 / 3, 2 * level, knee)


class Distortion(ChannelAudio):
    """A stage driven past its range: gain ``gain_db``, then a curve that never exceeds
    ``threshold`` (linear full scale).

    ``kind``: ``hard`` clips flat (an overflowing DAC or a digital gain stage, threshold 1.0),
    ``soft`` saturates smoothly (tanh: an analogue stage), ``overdrive`` has a knee and a flat
    top (a cheap amplifier). Memoryless, so block independence is free.
    """

    name = "audio_distortion"
    defect = Defect.AUDIO_DISTORTION.value
    CURVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "hard": lambda u: np.clip(u, -1.0, 1.0),
        "soft": np.tanh,
        "overdrive": _overdrive,
    }

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, kind: str = "hard",
        gain_db: float = 12.0, threshold: float = 1.0, ramp_ms: float = 5.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        if kind not in self.CURVES:
            raise ValueError(f"{self.name}: kind must be one of {list(self.CURVES)}, not {kind!r}")
        if threshold <= 0:
            raise ValueError(f"{self.name}: threshold must be > 0, not {threshold}")
        self.kind, self.gain_db, self.threshold = kind, gain_db, threshold

    def params(self) -> dict[str, Any]:
        return {**super().params(), "kind": self.kind, "gain_db": self.gain_db,
                "threshold": self.threshold}

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        drive = from_db(self.gain_db) / self.threshold
        return self.threshold * self.CURVES[self.kind](clean * drive)


class Clicks(AddedSounds):
    """``per_second`` clicks on average, exactly ``round(per_second * duration)`` of them.

    ``kind="impulse"``: each click is a spike of peak ``amplitude`` and random polarity ringing
    down in 0.05-0.4 ms (a bit error, a splice, a scratch). ``kind="crackle"``: each one is a
    10-40 ms burst of single-sample impulses at about 1500/s whose largest is ``amplitude``
    (vinyl crackle, a failing connector). At least 20 ms pass between the end of one event and
    the next, so each is heard (and counted) as one click.
    """

    name = "audio_clicks"
    defect = Defect.AUDIO_CLICKS.value
    KINDS = ("impulse", "crackle")
    #: longest event (s) of each kind, and the least quiet (s) between one event and the next
    _LONGEST = {"impulse": 0.002, "crackle": 0.04}
    _GAP = 0.02
    _CRACKLE_RATE = 1500.0

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, per_second: float = 4.0,
        amplitude: float = 0.3, kind: str = "impulse", ramp_ms: float = 0.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        if kind not in self.KINDS:
            raise ValueError(f"{self.name}: kind must be one of {list(self.KINDS)}, not {kind!r}")
        count = round(per_second * duration)
        if count < 1 or amplitude <= 0:
            raise ValueError(
                f"{self.name}: need at least one click of amplitude > 0 (per_second="
                f"{per_second}, duration={duration}, amplitude={amplitude})"
            )
        self.per_second, self.amplitude, self.kind, self.count = per_second, amplitude, kind, count
        longest = self._LONGEST[kind]
        onsets = _spaced_onsets(self.rng, count, duration - longest, longest + self._GAP)
        if kind == "impulse":
            self._polarity = self.rng.choice([-1.0, 1.0], count)
            self._decay_s = self.rng.uniform(0.05e-3, 0.4e-3, count)
            self._ring_hz = self.rng.uniform(1500.0, 6000.0, count)
            self.sounds = SoundEvents(onsets, longest, self._impulse)
        else:
            self._burst_s = self.rng.uniform(0.01, longest, count)
            self._keys = self.rng.integers(2**63, size=count)
            self.sounds = SoundEvents(onsets, longest, self._crackle)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "per_second": self.per_second, "amplitude": self.amplitude,
                "kind": self.kind, "count": self.count}

    def _impulse(self, index: int, sample_rate: int) -> np.ndarray:
        decay = self._decay_s[index]
        t = np.arange(max(1, int(5 * decay * sample_rate))) / sample_rate
        ring = min(self._ring_hz[index], 0.45 * sample_rate)
        peak = self._polarity[index] * self.amplitude
        return peak * np.exp(-t / decay) * np.cos(2 * np.pi * ring * t)

    def _crackle(self, index: int, sample_rate: int) -> np.ndarray:
        rng = np.random.default_rng(self._keys[index])
        length = max(1, round(self._burst_s[index] * sample_rate))
        count = min(length, max(1, round(self._CRACKLE_RATE * self._burst_s[index])))
        sizes = rng.uniform(0.0, 1.0, count) ** 4
        sizes[rng.integers(count)] = 1.0  # the burst peaks at the requested amplitude
        burst = np.zeros(length)
        where = rng.choice(length, count, replace=False)
        burst[where] = self.amplitude * sizes * rng.choice([-1.0, 1.0], count)
        return burst


class LevelJump(ChannelAudio):
    """The level steps by ``gain_db`` for the window (a volume or normalisation glitch, an
    advert mixed hot), reaching it over ``ramp_ms`` as digital gain stages do."""

    name = "level_jump"
    defect = Defect.LOUDNESS.value

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, gain_db: float = 10.0,
        ramp_ms: float = 5.0, channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        if gain_db == 0:
            raise ValueError(f"{self.name}: gain_db must not be 0")
        self.gain_db = gain_db

    def params(self) -> dict[str, Any]:
        return {**super().params(), "gain_db": self.gain_db}

    def _impair(self, clean: np.ndarray, first: int, sample_rate: int) -> np.ndarray:
        return clean * from_db(self.gain_db)
