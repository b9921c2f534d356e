"""A streaming rational resampler: a capture at any rate, brought to the classifier's rate.

``scipy.signal.resample_poly`` on each block would put filter edge effects at every block
boundary, which a click detector would then find. This resampler keeps the input it still needs
and computes output sample ``j`` (at time ``j / target`` on the stream's clock) only once every
input sample under its filter has arrived, with the same polyphase filter as ``resample_poly``
(a Kaiser-windowed sinc of ``10 * max(up, down)`` taps each side), so the output does not depend on
how the input was cut into blocks. The stream starts with zeros before its first sample.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import firwin, upfirdn

#: Filter half-length per unit of max(up, down), and its Kaiser beta: resample_poly's defaults.
_HALF_LENGTH = 10
_KAISER_BETA = 5.0


class StreamResampler:
    """Resample (n, channels) blocks from ``rate`` to ``target`` Hz, block-size independent."""

    def __init__(self, rate: int, target: int, channels: int) -> None:
        divisor = gcd(rate, target)
        self.up, self.down = target // divisor, rate // divisor
        self._half = _HALF_LENGTH * max(self.up, self.down)
        taps = firwin(2 * self._half + 1, 1.0 / max(self.up, self.down),
                      window=("kaiser", _KAISER_BETA))
        self._taps = (taps * self.up).astype(np.float32)
        # Chunks start at inputs s with s * up = half (mod down), so the chunk's outputs fall
        # on the global output grid.
        self._phase = (self._half * pow(self.up, -1, self.down)) % self.down if self.down > 1 else 0
        self._held = np.zeros((0, channels), np.float32)
        self._held_start = 0  # input index of _held[0]
        self._next = 0  # next output index

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The output samples that the input so far fully determines (possibly none)."""
        held = np.concatenate([self._held, samples]) if len(self._held) else samples
        received = self._held_start + len(held)
        last = ((received - 1) * self.up - self._half) // self.down
        if last < self._next:
            self._held = held
            return np.zeros((0, samples.shape[1]), np.float32)
        first_input = -(-(self._next * self.down + self._half - 2 * self._half) // self.up)
        start = self._phase + self.down * ((first_input - self._phase) // self.down)
        if start < self._held_start:  # only at the beginning: the stream is zeros before it
            pad = np.zeros((self._held_start - start, held.shape[1]), np.float32)
            held, self._held_start = np.concatenate([pad, held]), start
        chunk = held[start - self._held_start :]
        offset = self._next - (start * self.up - self._half) // self.down
        out = upfirdn(self._taps, chunk, self.up, self.down, axis=0)
        out = out[offset : offset + last - self._next + 1].astype(np.float32)
        self._held, self._held_start = chunk, start
        self._next = last + 1
        return out
