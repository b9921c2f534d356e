"""Sample-accurate onsets of the sync pattern's tone bursts, found by a streaming matched filter.

Why a matched filter and not a level threshold: a threshold fires wherever the rising edge
crosses it, which moves with the level, the capture's noise floor and a codec's pre-echo (AAC
spreads a sharp onset up to a block early). Correlating with the known burst uses all of its
energy: the magnitude of the complex correlation (the burst's envelope times a 1 kHz complex
exponential) peaks where the whole burst lines up, whatever its level or carrier phase, and mains
hum or broadband noise hardly correlate with it. A parabola through the peak gives the sub-sample
position.

A peak counts as a burst only if it also *looks* like one: normalised correlation near 1 (the
window holds a 1 kHz burst and little else), a minimum level, and at least 10 dB less energy in
the burst-long windows just before and just after it, so a continuous line-up tone or a held
note in music is not taken for a burst.

Streaming: samples are buffered only as long as a decision needs (five burst lengths plus a
hop), so an hour of capture costs the same memory as a second; lost audio (a jump in
``AudioBlock.start``) ends one run of samples and starts the next.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import oaconvolve

from harness.media import AudioBlock
from harness.patterns import TONE_HZ, TONE_S, tone_envelope

#: normalised correlation a burst must reach (1.0 = exactly the template, any level)
MIN_CORRELATION = 0.8
#: energy ratio between the burst and each of its neighbouring windows
ONSET_CONTRAST = 10.0
_HOP_S = 1.0


class ToneOnsets:
    """Collects tone-burst onsets (seconds on the media clock) from consecutive audio blocks."""

    def __init__(self, sample_rate: int, min_level_dbfs: float) -> None:
        self.sample_rate = sample_rate
        self.onsets: list[float] = []
        t = np.arange(round(TONE_S * sample_rate)) / sample_rate
        envelope = tone_envelope(t)
        self._length = len(t)
        # correlation with the complex carrier, as a convolution with the reversed conjugate
        self._kernel = (envelope * np.exp(-2j * np.pi * TONE_HZ * t))[::-1, np.newaxis]
        #: |correlation| of a burst of peak amplitude A is A/2 * sum(envelope^2)
        self._gain = 0.5 * float(np.sum(envelope**2))
        self._min_level = 10 ** (min_level_dbfs / 20)
        self._buffer: list[np.ndarray] = []
        self._start = 0  # sample index of the buffer's first sample
        self._size = 0
        self._next = 0  # first position not yet examined

    def push(self, block: AudioBlock) -> None:
        """Add a block; onsets found so far are appended to ``onsets``."""
        if self._size and block.start != self._start + self._size:
            self.finish()  # audio was lost: what straddles the gap cannot be measured
        if not self._size:
            self._start = self._next = block.start
        self._buffer.append(block.samples.astype(np.float64))
        self._size += len(block.samples)
        if self._size >= 5 * self._length + _HOP_S * self.sample_rate:
            self._scan()

    def finish(self) -> None:
        """End of a run of samples: examine what is left and start afresh."""
        if self._size >= 5 * self._length:
            self._scan()
        self._buffer, self._size = [], 0

    def _scan(self) -> None:
        """Find the bursts whose whole neighbourhood is buffered; keep what later ones need."""
        n = self._length
        x = np.concatenate(self._buffer)
        # position q (a window x[q:q+n]) is scored for q in [n, size-2n]: its pre-window and
        # post-window must be buffered; a peak is final with its +-n neighbours scored too
        corr = oaconvolve(x[n : len(x) - n], self._kernel, mode="valid", axes=0)
        power = np.sum(np.abs(corr) ** 2, axis=1)
        energy = _window_sums(np.sum(x**2, axis=1), n)  # energy[q] of x[q:q+n]
        burst, before, after = energy[n : len(energy) - n], energy[: -2 * n], energy[2 * n :]
        channels = x.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            correlation = np.sqrt(power / (burst * self._gain))
        level = np.sqrt(power / channels) / self._gain
        candidate = (
            (correlation >= MIN_CORRELATION)
            & (level >= self._min_level)
            & (before * ONSET_CONTRAST <= burst)
            & (after * ONSET_CONTRAST <= burst)
        )
        peak = candidate & (power >= maximum_filter1d(power, 2 * n + 1, mode="constant"))
        first = max(n, self._next - self._start - n)  # index into the scored positions
        last = len(power) - n  # exclusive: beyond it the neighbourhood is not complete
        for q in np.flatnonzero(peak[first:last]) + first:
            self.onsets.append((self._start + n + q + _vertex(np.sqrt(power), q))
                               / self.sample_rate)
        self._next = self._start + n + last
        keep = self._next - 2 * n - self._start
        self._buffer, self._start, self._size = [x[keep:]], self._start + keep, len(x) - keep


def _window_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``values[q:q+n]`` for every q (running sums; exact enough in float64)."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    return csum[n:] - csum[:-n]


def _vertex(y: np.ndarray, q: int) -> float:
    """Sub-sample offset of a peak at ``q`` from the parabola through its neighbours."""
    if q == 0 or q == len(y) - 1:
        return 0.0
    left, centre, right = y[q - 1], y[q], y[q + 1]
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else float(0.5 * (left - right) / curvature)
