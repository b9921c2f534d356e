"""Programme loudness (EBU R 128 / ITU-R BS.1770-4), measured while streaming.

A device that plays content too loud or too quiet (a wrong gain stage, a missing loudness
normalisation, an ad break louder than the programme) fails a loudness target, not a level
threshold: BS.1770 weights by how loud a signal sounds (K-weighting) and gates out silence.

Streaming, so a programme of any length costs a few hundred kB: the K-weighting biquads run
per block with their state carried across blocks (``scipy.signal.sosfilt`` with ``zi``), and only
the channel-weighted energy of each 100 ms step is kept (8 bytes per 100 ms, 0.3 MB per hour).
At ``flush`` the 400 ms gating blocks (75 % overlap), the absolute (-70 LUFS) and relative
(-10 LU) gates give the integrated loudness, and 3 s short-term values the loudness range (EBU
Tech 3342). Short-term loudness is also checked as it arrives: a stretch louder than target +
``short_term_excess_lu`` for ``min_excess_s`` is an event of its own (EBU R 128 s1 caps the
short-term loudness of short-form content at target + 5 LU).

The K-weighting coefficients are pyloudnorm's, from its ``Meter`` with ``filter_class="DeMan"``:
those reproduce BS.1770's published 48 kHz coefficients exactly (and derive them for other rates),
so a -23 dBFS sine at 997 Hz (the standard's calibration point) reads -23.000, as FFmpeg's
ebur128 does to 0.01 LU. pyloudnorm's default ("K-weighting", RBJ cookbook biquads) reads about
0.04 LU low at 44.1/48 kHz and 0.09 LU at 22.05 kHz; this meter matches pyloudnorm's DeMan meter
to 0.01 LU and its default to 0.1 LU (benchmarks/README.md).

Audio lost between blocks (a jump in ``AudioBlock.start``, a capture overflow counted by the
pipeline) is simply not measured; the programme still spans first to last sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyloudnorm
from pydantic import Field
from scipy.signal import sosfilt

from harness.detectors.base import Detector, DetectorSettings
from harness.events import Defect, Event
from harness.media import AudioBlock

#: BS.1770 absolute gate (LUFS) and relative gates (LU below the mean) for integrated and LRA.
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
_LRA_RELATIVE_GATE = -20.0
_STEPS_PER_S = 10  # 100 ms steps: the hop of gating blocks and short-term values
_BLOCK_STEPS = 4  # 400 ms gating block
_SHORT_TERM_STEPS = 30  # 3 s short-term window
#: pyloudnorm's filter class with BS.1770's exact coefficients (see the module docstring).
_FILTER_CLASS = "DeMan"


class LoudnessSettings(DetectorSettings):
    """Tunables of the loudness meter; the target comes from the profile's expected loudness."""

    target_lufs: float = Field(
        -23.0, description="integrated loudness target (LUFS): EBU R 128 -23, ATSC A/85 -24"
    )
    tolerance_lu: float = Field(
        2.0, gt=0, description="allowed |integrated - target| (LU); R 128 allows 1 LU for "
        "live programmes, a capture path's gain adds its own uncertainty",
    )
    min_programme_s: float = Field(
        10.0, gt=0, description="shortest programme given an integrated verdict (s)"
    )
    short_term_excess_lu: float = Field(
        5.0, gt=0, description="short-term (3 s) loudness above target + this is too loud (LU)"
    )
    min_excess_s: float = Field(
        1.0, ge=0, description="how long short-term loudness must stay too loud (s)"
    )


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel gains: pyloudnorm's order (L, R, C, Ls, Rs) up to 5 channels; from 6 on
    the 5.1 order (L, R, C, LFE, Ls, Rs, ...): LFE excluded, surrounds +1.5 dB."""
    if channels <= 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41][:channels])
    return np.array([1.0, 1.0, 1.0, 0.0] + [1.41] * (channels - 4))


def k_weighting(sample_rate: int) -> np.ndarray:
    """The K-weighting cascade as second-order sections, taken from pyloudnorm's Meter (its
    filters are only reachable through the private ``_filters``; pyloudnorm is pinned >=0.1.1)."""
    filters = pyloudnorm.Meter(sample_rate, filter_class=_FILTER_CLASS)._filters.values()
    return np.array([np.concatenate([f.passband_gain * f.b, f.a]) for f in filters])


def _lufs(mean_square: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(mean_square)


class LoudnessDetector(Detector[AudioBlock, LoudnessSettings]):
    """Integrated loudness against a target, and stretches of excessive short-term loudness."""

    defect = Defect.LOUDNESS
    media = "audio"
    Settings = LoudnessSettings

    def __init__(self, settings: LoudnessSettings | None = None) -> None:
        super().__init__(settings)
        self._rate = 0
        self._channels = 0

    def _start(self, block: AudioBlock) -> None:
        self._rate, self._channels = block.sample_rate, block.channels
        self._sos = k_weighting(block.sample_rate)
        self._zi = np.zeros((len(self._sos), 2, block.channels))
        self._weights = channel_weights(block.channels)
        self._first = block.start
        self._last = block.start
        self._seen = 0  # samples measured
        self._partial = 0.0  # weighted energy of the unfinished 100 ms step
        self._steps = np.zeros(1024)  # weighted energy per finished 100 ms step
        self._count = 0
        self._excess: list[float] | None = None  # [start, end, peak] of a too-loud stretch

    def process(self, block: AudioBlock) -> list[Event]:
        events: list[Event] = []
        if (block.sample_rate, block.channels) != (self._rate, self._channels):
            events = self.flush()  # a new format is a new programme: verdict on the old one
            self._start(block)
        if not len(block.samples):
            return events
        self._last = block.end
        y, self._zi = sosfilt(self._sos, block.samples.astype(np.float64), axis=0, zi=self._zi)
        energy = np.square(y) @ self._weights
        first_new = self._count
        self._add_steps(energy)
        return events + self._check_short_term(first_new)

    def flush(self) -> list[Event]:
        """The integrated verdict for the programme, and a too-loud stretch still open."""
        if not self._rate:
            return []
        events = self._close_excess()
        seconds = self._seen / self._rate
        if seconds >= self.settings.min_programme_s:
            events += self._integrated_event(seconds)
        return events

    def summary(self) -> dict[str, Any] | None:
        """The programme's loudness whether or not it failed, for reports: {"loudness": {...}}."""
        if not self._rate:
            return None
        integrated, lra = self.integrated()
        return {self.defect.value: {
            "integrated_lufs": round(integrated, 2) if np.isfinite(integrated) else None,
            "lra": None if lra is None else round(lra, 1),
            "target_lufs": self.settings.target_lufs,
            "programme_s": round(self._seen / self._rate, 1),
        }}

    def _add_steps(self, energy: np.ndarray) -> None:
        """Split the block's per-sample energy at the 100 ms step boundaries of the programme."""
        rate, n, seen = self._rate, len(energy), self._seen
        k_first = self._count + 1
        k_last = (_STEPS_PER_S * (seen + n + 1) - 1) // rate  # last boundary inside the block
        bounds = np.arange(k_first, k_last + 1) * rate // _STEPS_PER_S - seen
        csum = np.concatenate([[0.0], np.cumsum(energy)])
        if len(bounds):
            cuts = csum[bounds]
            sums = np.diff(cuts, prepend=0.0)
            sums[0] += self._partial
            self._append(sums)
            self._partial = csum[-1] - cuts[-1]
        else:
            self._partial += csum[-1]
        self._seen += n

    def _append(self, sums: np.ndarray) -> None:
        if self._count + len(sums) > len(self._steps):
            self._steps = np.resize(self._steps, 2 * (self._count + len(sums)))
        self._steps[self._count : self._count + len(sums)] = sums
        self._count += len(sums)

    def _windows(self, steps: int, first: int = 0) -> np.ndarray:
        """Mean squares of ``steps``-long windows ending at steps ``first+steps``..``count``."""
        lo = max(0, first)
        csum = np.concatenate([[0.0], np.cumsum(self._steps[lo : self._count])])
        return (csum[steps:] - csum[:-steps]) / (steps * self._rate / _STEPS_PER_S)

    def _check_short_term(self, first_new: int) -> list[Event]:
        """Track short-term values of the steps just finished against target + excess."""
        first = first_new - _SHORT_TERM_STEPS + 1
        if self._count < _SHORT_TERM_STEPS or self._count == first_new:
            return []
        short_term = _lufs(self._windows(_SHORT_TERM_STEPS, first))
        end_step = np.arange(self._count - len(short_term) + 1, self._count + 1)
        centres = (end_step - _SHORT_TERM_STEPS / 2) / _STEPS_PER_S + self._first / self._rate
        limit = self.settings.target_lufs + self.settings.short_term_excess_lu
        events: list[Event] = []
        for centre, value in zip(centres, short_term, strict=True):
            if value > limit:
                if self._excess is None:
                    self._excess = [centre, centre, value]
                self._excess[1:] = [centre, max(self._excess[2], value)]
            elif self._excess is not None:
                events += self._close_excess()
        return events

    def _close_excess(self) -> list[Event]:
        if self._excess is None:
            return []
        start, end, peak = self._excess
        self._excess = None
        s = self.settings
        if end - start + 1 / _STEPS_PER_S < s.min_excess_s:
            return []
        detail = {
            "kind": "short_term",
            "short_term_max_lufs": round(float(peak), 1),
            "target_lufs": s.target_lufs,
            "limit_lufs": s.target_lufs + s.short_term_excess_lu,
        }
        score = (peak - s.target_lufs) / (2 * s.short_term_excess_lu)
        return [Event(self.defect, start, end, score, detail)]

    def integrated(self) -> tuple[float, float | None]:
        """Integrated loudness (LUFS, -inf when all is below the absolute gate) and loudness
        range (LU, None for less than 3 s) of what has been measured so far."""
        if not self._rate:
            return float("-inf"), None
        blocks = self._windows(_BLOCK_STEPS)
        loud = _lufs(blocks)
        gated = blocks[loud >= _ABSOLUTE_GATE]
        if not len(gated):
            return float("-inf"), None
        relative = _lufs(gated.mean()) + _RELATIVE_GATE
        integrated = float(_lufs(gated[_lufs(gated) > relative].mean()))
        return integrated, self._loudness_range()

    def _loudness_range(self) -> float | None:
        """EBU Tech 3342: spread (10th to 95th percentile) of gated short-term loudness."""
        if self._count < _SHORT_TERM_STEPS:
            return None
        short = self._windows(_SHORT_TERM_STEPS)
        short = short[_lufs(short) >= _ABSOLUTE_GATE]
        if not len(short):
            return None
        values = _lufs(short[_lufs(short) >= _lufs(short.mean()) + _LRA_RELATIVE_GATE])
        low, high = np.percentile(values, [10, 95])
        return float(high - low)

    def _integrated_event(self, seconds: float) -> list[Event]:
        s = self.settings
        integrated, lra = self.integrated()
        deviation = integrated - s.target_lufs
        if abs(deviation) <= s.tolerance_lu:
            return []
        finite = np.isfinite(integrated)
        detail = {
            "kind": "integrated",
            "integrated_lufs": round(integrated, 2) if finite else None,
            "target_lufs": s.target_lufs,
            "deviation_lu": round(deviation, 2) if finite else None,
            "tolerance_lu": s.tolerance_lu,
            "lra": None if lra is None else round(lra, 1),
            "programme_s": round(seconds, 1),
        }
        score = abs(deviation) / (2 * s.tolerance_lu) if finite else 1.0
        start, end = self._first / self._rate, self._last / self._rate
        return [Event(self.defect, start, end, score, detail)]
