"""Synthetic programme audio for the audio detector tests and benchmarks: the look-alikes.

Every generator returns clean (frames, channels) float32 content; ``captured`` then adds what a
capture path adds (noise floor, mains hum), so pauses and dropouts sit on the floor, never at
digital zero. Content pauses are digital silence in the clean signal: the hardest case, since a
natural pause then reaches exactly the floor a dropout reaches.

The tails are what make the look-alikes honest: recorded speech and music reach the floor by a
decay (on 594 recorded speech clips and 41 music tracks, the 5 ms before a natural fall to the
floor was never more than 6.3 dB above it), so syllables and drum hits here decay exponentially
with amplitude time constants of 6-250 ms. Synthetic speech such as espeak-ng is deliberately not
used: its stop closures are digital cuts that no edge detector can tell from a dropout.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from harness.detectors.base import Detector
from harness.events import Event
from harness.media import AudioBlock
from harness.simulation.capture_path import captured_audio
from tests.media_files import FFMPEG


def _db(level_dbfs: float) -> float:
    return 10 ** (level_dbfs / 20)


def _envelope(n: int, rate: int, attack_s: float, tau_s: float, sustain: int) -> np.ndarray:
    """Raised-cosine attack, a sustain of ``sustain`` samples, then an exponential decay."""
    t = np.arange(n) / rate
    attack = int(attack_s * rate)
    env = np.ones(n)
    env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / max(attack, 1))
    tail = t[attack + sustain :] - t[attack + sustain] if n > attack + sustain else t[:0]
    env[attack + sustain :] = np.exp(-tail / tau_s)
    return env


def _normalise(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    """Scale so the non-silent part has RMS ``level_dbfs``."""
    active = np.abs(x) > 1e-4
    rms = np.sqrt(np.mean(np.square(x[active]))) if active.any() else 1.0
    return (x * (_db(level_dbfs) / rms)).astype(np.float32)


def _glottal_cycle(f0: float, rng: np.random.Generator, size: int = 2048) -> np.ndarray:
    """One period of a vowel: harmonics of ``f0`` shaped by two random formants (a wavetable,
    so a syllable costs one lookup per sample)."""
    k = np.arange(1, int(4000 / f0))[:, np.newaxis]
    f1, f2 = rng.uniform([300, 900], [900, 2500])
    gain = (1 + 3 * np.exp(-(((k * f0 - f1) / 200) ** 2))
            + 2 * np.exp(-(((k * f0 - f2) / 300) ** 2))) / k
    return (gain * np.sin(2 * np.pi * k * np.arange(size) / size)).sum(axis=0)


def speech_like(
    seconds: float, rate: int, rng: np.random.Generator, channels: int = 1,
    level_dbfs: float = -20.0,
) -> np.ndarray:
    """Phrases of voiced syllables and fricatives with decaying tails, pauses of 0.2-1.2 s."""
    n = int(seconds * rate)
    out = np.zeros(n)
    pos = int(rng.uniform(0.1, 0.3) * rate)
    hiss = sosfilt(butter(4, 3000, "highpass", fs=rate, output="sos"), rng.normal(0, 1, n))
    while pos < n:
        phrase_end = pos + int(rng.uniform(1.0, 4.0) * rate)
        f0 = rng.uniform(100, 220)
        while pos < min(phrase_end, n):
            attack, tau = rng.uniform(0.005, 0.02), rng.uniform(0.006, 0.04)
            body = int((attack + rng.uniform(0.03, 0.2)) * rate)
            m = body + int(8 * tau * rate)  # the tail decays to -69 dB
            if pos + m > n:
                break
            seg = slice(pos, pos + m)
            t = np.arange(m) / rate
            env = _envelope(m, rate, attack, tau, body - int(attack * rate))
            if rng.random() < 0.8:
                glide = f0 * (1 + rng.uniform(-0.1, 0.1) * t / max(t[-1], 1e-3))
                cycles = np.cumsum(glide) / rate
                out[seg] += _glottal_cycle(f0, rng)[(cycles * 2048).astype(int) % 2048] * env
            else:
                out[seg] += 0.6 * hiss[seg] * env
            pos += int(body * rng.uniform(0.8, 1.6))  # syllables overlap or leave short gaps
        pos += int(rng.uniform(0.2, 1.2) * rate)  # natural pause
    x = _normalise(out, level_dbfs)
    return np.repeat(x[:, np.newaxis], channels, axis=1)


def music_like(
    seconds: float, rate: int, rng: np.random.Generator, channels: int = 2,
    level_dbfs: float = -18.0,
) -> np.ndarray:
    """Drums (sharp attacks, 15-250 ms decays) with bass and pad; every other 4 bars a sparse
    break of drums alone, so hits decay into the floor between sharp onsets."""
    n = int(seconds * rate)
    beat = 60 / rng.uniform(100, 130)
    out = np.zeros((n, 2))
    hat = sosfilt(butter(4, min(6000, 0.4 * rate), "highpass", fs=rate, output="sos"),
                  rng.normal(0, 1, n))
    noise = rng.normal(0, 1, n)

    def hit(at: int, sound: np.ndarray, pan: float) -> None:
        m = min(len(sound), n - at)
        if m > 0:
            out[at : at + m] += sound[:m, np.newaxis] * np.array([1 - pan, pan])

    for step in range(int(seconds / (beat / 4))):
        at = int(step * beat / 4 * rate)
        bar, sixteenth = divmod(step, 16)
        breakdown = (bar // 4) % 2 == 1
        t = np.arange(int(0.6 * rate)) / rate
        if sixteenth % 8 == 0:
            kick = np.sin(2 * np.pi * (50 * t + 60 * 0.04 * (1 - np.exp(-t / 0.04))))
            hit(at, kick * np.exp(-t / 0.12), 0.5)
        if sixteenth % 8 == 4 and not breakdown:
            snare = noise[at : at + len(t)] if at + len(t) <= n else noise[: len(t)]
            hit(at, (0.7 * snare + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.06), 0.45)
        if sixteenth % 2 == 0 and (not breakdown or sixteenth % 4 == 2):
            h = hat[at : at + len(t)] if at + len(t) <= n else hat[: len(t)]
            hit(at, 0.5 * h * np.exp(-t / rng.uniform(0.015, 0.04)), 0.7)
        if sixteenth == 0 and not breakdown:
            length = int(4 * beat * rate)
            tt = np.arange(length) / rate
            root = 55 * 2 ** (rng.integers(0, 7) / 12)
            bass = np.sin(2 * np.pi * root * tt) * _envelope(length, rate, 0.01, 0.25, length // 2)
            pad = sum(np.sin(2 * np.pi * root * 4 * r * tt) for r in (1, 1.26, 1.5)) / 3
            hit(at, 0.6 * bass + 0.25 * pad * _envelope(length, rate, 0.2, 0.3, length // 2), 0.5)
    x = _normalise(out, level_dbfs)
    return x if channels == 2 else np.repeat(x.mean(axis=1, keepdims=True), channels, axis=1)


def fade_out(x: np.ndarray, rate: int, start_s: float, seconds: float) -> np.ndarray:
    """Linear amplitude fade from ``start_s`` over ``seconds``, then digital silence."""
    y = x.copy()
    a, b = int(start_s * rate), int((start_s + seconds) * rate)
    y[a:b] *= np.linspace(1, 0, b - a, dtype=np.float32)[:, np.newaxis]
    y[b:] = 0
    return y


def quiet_passage(x: np.ndarray, rate: int, start_s: float, seconds: float,
                  level_dbfs: float = -50.0) -> np.ndarray:
    """From ``start_s`` the content decays (300 ms reverb tail) into a soft pad at
    ``level_dbfs`` with a few quiet plucked notes, then comes back."""
    y = x.copy()
    a, b = int(start_s * rate), int((start_s + seconds) * rate)
    t = np.arange(b - a) / rate
    y[a:b] *= np.exp(-t / 0.3)[:, np.newaxis].astype(np.float32)
    pad = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 330 * t)
    for at in np.arange(0.5, seconds - 0.5, 0.9):
        k = t >= at
        pad[k] += 2 * np.sin(2 * np.pi * 440 * t[k]) * np.exp(-(t[k] - at) / 0.2)
    fade = np.minimum(1, np.minimum(t, t[-1] - t) / 0.5)
    y[a:b] += (_normalise(pad, level_dbfs) * fade)[:, np.newaxis]
    return y


def with_dropout(
    x: np.ndarray, rate: int, start_s: float, seconds: float, channels: Iterable[int] | None = None
) -> np.ndarray:
    """The device lost ``seconds`` of audio at ``start_s``: the clean signal is zero there, so
    after ``captured`` only the capture floor remains."""
    y = x.copy()
    a, b = round(start_s * rate), round((start_s + seconds) * rate)
    y[a:b, list(range(x.shape[1])) if channels is None else list(channels)] = 0
    return y


def dropout_times(
    x: np.ndarray, rate: int, durations: Sequence[float], gap_s: float = 2.0,
    edge_dbfs: float = -35.0,
) -> list[float]:
    """Start times, in order, for dropouts of ``durations`` that begin and end inside sound (the
    5 ms either side at least ``edge_dbfs`` on every channel), ``gap_s`` apart: a dropout that
    starts in a pause is inaudible and undetectable by design, so tests place them in sound.
    Fewer times come back when the content has too few such places."""
    window, grid = rate // 200, rate // 100
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(np.square(x, dtype=float), 0)])
    level = (csum[window:] - csum[:-window]).min(axis=1) / window  # the 5 ms from each sample
    loud = level >= 10 ** (edge_dbfs / 10)
    times: list[float] = []
    a = int(gap_s * rate)
    for seconds in durations:
        length = round(seconds * rate)
        while a + length < len(loud) and not (loud[a - window] and loud[a + length]):
            a += grid
        if a + length >= len(loud):
            break
        times.append(a / rate)
        a += length + int(gap_s * rate)
    return times


def at_loudness(x: np.ndarray, rate: int, lufs: float) -> np.ndarray:
    """Scaled to an integrated loudness of ``lufs`` as pyloudnorm measures it."""
    import pyloudnorm

    measured = pyloudnorm.Meter(rate).integrated_loudness(x.astype(np.float64))
    return (x * 10 ** ((lufs - measured) / 20)).astype(np.float32)


def sine(seconds: float, rate: int, level_dbfs: float, channels: int = 2,
         hz: float = 1000.0) -> np.ndarray:
    """A sine of peak ``level_dbfs`` on every channel; EBU Tech 3341's test signals are made
    of these (1 kHz stereo at -23 dBFS reads -23.0 LUFS on a compliant meter)."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (10 ** (level_dbfs / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(wave[:, np.newaxis], channels, axis=1)


def captured(x: np.ndarray, rate: int, seed: int = 0, floor_dbfs: float = -62.0) -> np.ndarray:
    """The content as an audio interface delivers it (noise floor, mains hum)."""
    return captured_audio(x, rate, np.random.default_rng(seed), floor_dbfs=floor_dbfs)


def blocks(x: np.ndarray, rate: int, size: int, start: int = 0) -> list[AudioBlock]:
    """Cut into AudioBlocks of ``size`` samples on the media clock starting at ``start``."""
    return [AudioBlock(x[i : i + size], rate, start + i) for i in range(0, len(x), size)]


def run(detector: Detector, items: Iterable[AudioBlock]) -> list[Event]:
    """Feed every block, then flush: all the events of the stream."""
    events = [event for block in items for event in detector.process(block)]
    return events + detector.flush()


# -- FFmpeg's reference filters -----------------------------------------------------------------


def _ffmpeg_log(path: Path, audio_filter: str) -> str:
    """Run one audio filter over a file; filters log their findings on stderr."""
    assert FFMPEG is not None, "ffmpeg is not installed"
    command = [FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-af", audio_filter,
               "-f", "null", "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stderr


def silencedetect(path: Path, noise_db: float, min_s: float) -> list[tuple[float, float]]:
    """FFmpeg silencedetect per channel (``mono=1``), intervals of all channels merged where
    they overlap or are less than 5 ms apart (its fragments of one gap count as one)."""
    log = _ffmpeg_log(path, f"silencedetect=noise={noise_db}dB:d={min_s}:mono=1")
    open_at: dict[str, float] = {}
    spans = []
    for channel, kind, value in re.findall(r"channel: (\d+) \| silence_(start|end): ([\d.]+)", log):
        if kind == "start":
            open_at[channel] = float(value)
        elif channel in open_at:
            spans.append((open_at.pop(channel), float(value)))
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 0.005:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def ebur128(path: Path) -> tuple[float, float]:
    """FFmpeg ebur128's integrated loudness (LUFS) and loudness range (LU) at the end of the
    file, read from its frame metadata (0.001 steps; the printed summary rounds to 0.1)."""
    log = _ffmpeg_log(path, "ebur128=metadata=1,ametadata=mode=print")
    integrated = re.findall(r"lavfi\.r128\.I=(-?[\d.]+|-inf)", log)
    lra = re.findall(r"lavfi\.r128\.LRA=(-?[\d.]+)", log)
    assert integrated and lra, f"no ebur128 metadata in ffmpeg's output: {log[-300:]}"
    return float(integrated[-1]), float(lra[-1])
