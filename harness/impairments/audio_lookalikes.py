"""Creative sounds that look like audio defects but are content: hard negatives, labelled clean.

The artifact classifier must not call a distorted guitar "distortion", a drum kit "clicks" or
applause and rain "hiss". Each impairment here mixes such a sound over the programme at
``level_dbfs`` (RMS over the window, in the dBFS convention of ``audio``), in the selected
channels, so the same clip exists with and without it. They are synthesised (no samples can be
shipped), with what makes the real thing hard to tell apart: sharp attacks, flat-topped overdriven
waveforms, dense noise made of many short bursts.

Every sound's parameters are drawn in ``__init__`` from the seed and rendered per note/hit/clap
on demand (``SoundEvents``), so these stream block by block like the defects.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import signal

from harness.impairments.audio import AddedSounds, SoundEvents, from_db

#: Label of a look-alike: content, not a defect (see ``base.Label``).
CLEAN = "clean"


def _decay(length: int, sample_rate: int, tau_s: float) -> np.ndarray:
    return np.exp(-np.arange(length) / (tau_s * sample_rate))


@lru_cache(maxsize=32)
def _band(low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    """Second-order sections of a 2nd-order Butterworth band-pass, kept below Nyquist."""
    high = min(high_hz, 0.45 * sample_rate)
    edges = [min(low_hz, 0.5 * high), high]
    return signal.butter(2, edges, "bandpass", fs=sample_rate, output="sos")


def _resonator(centre_hz: float, q: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A biquad band-pass (RBJ cookbook, 0 dB peak) in closed form: one per clap, where a
    Butterworth design per clap would cost more than the clap."""
    w0 = 2 * np.pi * min(centre_hz, 0.45 * sample_rate) / sample_rate
    alpha = np.sin(w0) / (2 * q)
    return np.array([alpha, 0.0, -alpha]), np.array([1 + alpha, -2 * np.cos(w0), 1 - alpha])


class Lookalike(AddedSounds):
    """Content mixed over the programme at ``level_dbfs``; ``self.sounds`` is built by the
    subclass so that the sounds' RMS over the whole window is that level."""

    defect = CLEAN

    def __init__(
        self, at: float, duration: float, seed: int, *, level_dbfs: float, ramp_ms: float,
        channels: Sequence[int] | None,
    ) -> None:
        super().__init__(at, duration, seed, ramp_ms=ramp_ms, channels=channels)
        self.level_dbfs = level_dbfs

    def params(self) -> dict[str, Any]:
        return {**super().params(), "level_dbfs": self.level_dbfs}

    def _tempo(self, tempo_bpm: float | None) -> float:
        """The tempo asked for, or one drawn from the seed (so datasets vary it by default)."""
        return float(self.rng.uniform(85.0, 150.0)) if tempo_bpm is None else float(tempo_bpm)


def _pluck(frequency: float, length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A Karplus-Strong string: a one-period noise burst fed back through a lossy two-point
    average. Computed a period at a time (each period depends only on the one before), so the
    recursion is vectorised."""
    period = max(2, round(sample_rate / frequency))
    lead = period + 1  # y[-period-1 .. -1] = 0
    y = np.zeros(lead + length)
    y[lead : lead + min(period, length)] = rng.uniform(-1.0, 1.0, min(period, length))
    for start in range(lead, lead + length, period):
        stop = min(start + period, lead + length)
        before = slice(start - period, stop - period)
        y[start:stop] += 0.498 * (y[before] + y[before.start - 1 : before.stop - 1])
    return y[lead:]


class DistortedGuitar(Lookalike):
    """A riff of power chords and single notes, picked Karplus-Strong strings through an overdrive
    (``drive_db`` into tanh) and a speaker-like band-pass: clipped, flat-topped, full of harmonics,
    and part of the content.

    Notes tile the window (each rings until the next is picked, then is damped in 5 ms), and each
    is normalised to ``level_dbfs``, so the window's RMS is exactly that level.
    """

    name = "distorted_guitar"
    #: E minor pentatonic over two octaves from E2, in semitones
    SCALE = (0, 3, 5, 7, 10, 12, 15, 17)
    LOW_E_HZ = 82.41
    BEATS = (0.25, 0.5, 0.5, 0.5, 1.0)
    _DAMP_S = 0.005

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, level_dbfs: float = -24.0,
        drive_db: float = 30.0, tempo_bpm: float | None = None, ramp_ms: float = 5.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, level_dbfs=level_dbfs, ramp_ms=ramp_ms,
                         channels=channels)
        self.drive_db, self.tempo_bpm = drive_db, self._tempo(tempo_bpm)
        beat = 60.0 / self.tempo_bpm
        lengths = self.rng.choice(self.BEATS, int(np.ceil(duration / (0.25 * beat))) + 1) * beat
        onsets = np.concatenate([[0.0], np.cumsum(lengths)])
        self._onsets = onsets[onsets < duration]
        count = len(self._onsets)
        self._roots = self.LOW_E_HZ * 2 ** (self.rng.choice(self.SCALE, count) / 12)
        self._chords = self.rng.random(count) < 0.6
        self._keys = self.rng.integers(2**63, size=count)
        self.sounds = SoundEvents(self._onsets, float(lengths.max()), self._note)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "drive_db": self.drive_db, "tempo_bpm": self.tempo_bpm}

    def _note(self, index: int, sample_rate: int) -> np.ndarray:
        start = round(self._onsets[index] * sample_rate)
        stop = (round(self._onsets[index + 1] * sample_rate) if index + 1 < len(self._onsets)
                else self.span(sample_rate)[1])
        length = stop - start
        rng = np.random.default_rng(self._keys[index])
        root = self._roots[index]
        strings = (root, root * 2 ** (7 / 12), 2 * root) if self._chords[index] else (root,)
        raw = sum(_pluck(frequency, length, sample_rate, rng) for frequency in strings)
        driven = np.tanh(from_db(self.drive_db) * raw / np.max(np.abs(raw)))
        note = signal.sosfilt(_band(90.0, 5000.0, sample_rate), driven)
        damp = min(length, round(self._DAMP_S * sample_rate))
        note[length - damp :] *= np.linspace(1.0, 0.0, damp)
        return note * (from_db(self.level_dbfs) / np.sqrt(np.mean(note**2)))


class Percussion(Lookalike):
    """A drum kit on a 16th-note grid: kick (a pitch-swept sine with a beater click), snare (noise
    and a 190 Hz shell tone), closed hi-hat (high-passed noise), humanised in time and velocity.

    Sharp attacks on every hit, the classic false alarm of a click detector. Each drum is one
    sound (as a drum machine plays it) scaled by velocity; the kit is scaled so the window's RMS
    is ``level_dbfs`` (hits overlapping add a little, well under 1 dB).
    """

    name = "percussion"
    #: (kick, snare, hat): always-on steps of the 16 in a bar, probability of an extra hit
    #: elsewhere, velocity range
    ALWAYS = ((0, 8), (4, 12), (0, 2, 4, 6, 8, 10, 12, 14))
    EXTRA = (0.15, 0.08, 0.25)
    _LONGEST_S = 0.4
    _JITTER_S = 0.003

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, level_dbfs: float = -24.0,
        tempo_bpm: float | None = None, ramp_ms: float = 5.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, level_dbfs=level_dbfs, ramp_ms=ramp_ms,
                         channels=channels)
        self.tempo_bpm = self._tempo(tempo_bpm)
        step = 15.0 / self.tempo_bpm
        steps = np.arange(int(duration / step))
        on = np.stack([np.isin(steps % 16, always) for always in self.ALWAYS], axis=1)
        on |= self.rng.random(on.shape) < np.array(self.EXTRA)
        hit_step, self._drums = np.nonzero(on)
        if not len(hit_step):
            raise ValueError(
                f"{self.name}: {duration} s is shorter than a 16th at {self.tempo_bpm:.0f} bpm"
            )
        self._velocity = np.where(np.isin(hit_step % 16, [0, 4, 8, 12]), 1.0, 0.6) * (
            self.rng.uniform(0.8, 1.0, len(hit_step))
        )
        jitter = self.rng.normal(0.0, self._JITTER_S, len(hit_step))
        onsets = np.clip(hit_step * step + jitter, 0.0, None)
        order = np.argsort(onsets, kind="stable")
        self._drums, self._velocity = self._drums[order], self._velocity[order]
        self._kit_key = int(self.rng.integers(2**63))
        self._kit: tuple[int, list[np.ndarray]] = (0, [])
        self.sounds = SoundEvents(onsets[order], self._LONGEST_S, self._hit)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "tempo_bpm": self.tempo_bpm}

    def _drum_sounds(self, sample_rate: int) -> list[np.ndarray]:
        """Kick, snare and hat at unit peak, then all scaled so the window has the level."""
        n = round(self._LONGEST_S * sample_rate)
        t = np.arange(n) / sample_rate
        noise = np.random.default_rng(self._kit_key).standard_normal((2, n))
        sweep = 2 * np.pi * (50.0 * t + 100.0 * 0.03 * (1 - np.exp(-t / 0.03)))
        beater = 0.3 * noise[0] * _decay(n, sample_rate, 0.002)
        kick = np.sin(sweep) * _decay(n, sample_rate, 0.15) + beater
        snare = (signal.sosfilt(_band(1000.0, 8000.0, sample_rate), noise[0])
                 + 0.5 * np.sin(2 * np.pi * 190.0 * t)) * _decay(n, sample_rate, 0.06)
        high = signal.butter(4, min(7000.0, 0.4 * sample_rate), "highpass", fs=sample_rate,
                             output="sos")
        hat = signal.sosfilt(high, noise[1]) * _decay(n, sample_rate, 0.03)
        drums = [sound / np.max(np.abs(sound)) for sound in (kick, snare, hat)]
        energy = np.array([np.sum(sound**2) for sound in drums])
        total = np.sum(self._velocity**2 * energy[self._drums])
        scale = from_db(self.level_dbfs) * np.sqrt(self.span(sample_rate)[1] / total)
        return [scale * sound for sound in drums]

    def _hit(self, index: int, sample_rate: int) -> np.ndarray:
        if self._kit[0] != sample_rate:
            self._kit = (sample_rate, self._drum_sounds(sample_rate))
        return self._velocity[index] * self._kit[1][self._drums[index]]


class Applause(Lookalike):
    """Applause or rain: ``claps_per_second`` short band-passed noise bursts (a sharp attack,
    3-10 ms decay, a centre of 0.6-2.5 kHz each) at random times. Dense, it is broadband noise
    with a texture, the look-alike of hiss; sparse, of clicks.

    Each burst carries an equal share of the energy, so the window's RMS is ``level_dbfs``
    (bursts are independent noise: overlaps add power, not amplitude).
    """

    name = "applause"
    _LONGEST_S = 0.08

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, level_dbfs: float = -30.0,
        claps_per_second: float = 150.0, ramp_ms: float = 5.0,
        channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(at, duration, seed, level_dbfs=level_dbfs, ramp_ms=ramp_ms,
                         channels=channels)
        count = round(claps_per_second * duration)
        if count < 1:
            raise ValueError(f"{self.name}: claps_per_second * duration must give a clap")
        self.claps_per_second = claps_per_second
        onsets = np.sort(self.rng.uniform(0.0, max(0.0, duration - self._LONGEST_S), count))
        self._centre_hz = np.exp(self.rng.uniform(np.log(600.0), np.log(2500.0), count))
        self._decay_s = self.rng.uniform(0.003, 0.010, count)
        self._keys = self.rng.integers(2**63, size=count)
        self.sounds = SoundEvents(onsets, self._LONGEST_S, self._clap)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "claps_per_second": self.claps_per_second}

    def _clap(self, index: int, sample_rate: int) -> np.ndarray:
        length = round(self._LONGEST_S * sample_rate)
        noise = np.random.default_rng(self._keys[index]).standard_normal(length)
        burst = signal.lfilter(*_resonator(self._centre_hz[index], 1.2, sample_rate), noise)
        burst *= (1 - _decay(length, sample_rate, 0.0004)) * _decay(
            length, sample_rate, self._decay_s[index]
        )
        share = self.span(sample_rate)[1] / len(self.sounds.onsets)
        return burst * (from_db(self.level_dbfs) * np.sqrt(share / np.sum(burst**2)))
