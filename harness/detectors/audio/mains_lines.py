"""Steady mains lines: hum found by what no programme does for seconds on end -- hold a line on a
mains harmonic, at one level, with nothing beside it.

The artifact classifier decides on one second, where mains hum and a held bass note look alike
(a 1-s spectrum cannot resolve 50 Hz from a note 2.5 % off, and a note sitting on the mains is
no different from hum for that second), so its hum threshold has to be high and it finds little
hum under programme, and none of a pure 50 Hz sine (models/audio_artifacts.md). Over four
seconds hum gives itself away; for each harmonic of 50 and 60 Hz up to ``HARMONICS``, the line
that peaks within ``TOLERANCE`` of it on a 4-s spectrum (the band's strongest bin, higher than
both neighbours: the flank of a note further off reaches into the band's edge) counts when

* it stands ``MIN_PROMINENCE_DB`` above the median of the spectrum 2-12 % either side (as the
  classifier's waveform statistics measure it, at 8 times the resolution);
* it is *narrow*: the power within +-0.5 Hz of it (the window's main lobe) is within
  ``MIN_NARROWNESS_DB`` of the power within +-3 Hz -- a voice's harmonics glide and a played
  note wavers, so their power spreads over several hertz in four seconds; and
* it is *steady*: its level in each of the four seconds, read at its frequency, spans at most
  ``MAX_SPREAD_DB`` -- notes start, decay and come back, hum does not (held notes at a mains
  harmonic were the look-alike in music, up to 34 dB above their surroundings:
  ``benchmarks/audio_hum_under_music.py``).

Hum is reported for a mains frequency when the counted lines include its fundamental or second
harmonic (a ground loop puts its power there, a full-wave rectifier at twice the mains; a held
note high up on the 3rd-6th harmonic alone is not hum) and together are hum by the classifier's
definition: at least ``HUM_MIN_DBFS`` RMS and at most ``HUM_BELOW_CONTENT_DB`` below the content
over the same four seconds. The thresholds were chosen on the corpus's validation tracks
(benchmarks/README.md, "Hum under mastered music"); docs/audio_artifacts.md shows what it finds.

The audio is brought to 2 kHz in two FIR stages (48 -> 6 -> 2 kHz, 70 dB down where anything
would fold onto the harmonics used), about 120 multiply-adds per 2-kHz sample and channel;
with a measurement every 2 s the whole costs about 0.45 ms of CPU per second of 48 kHz stereo,
a tenth of the detector's time (``benchmarks/audio_artifacts_speed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy.signal import firwin

from harness.detectors.audio.features import SAMPLE_RATE
from harness.detectors.audio.waveform import MAINS_HZ

#: Hum as the classifier's classes define it (``training/audio_segments.py``): this loud at
#: least (14 dB above the loudest hum of a clean capture) and no further below the content.
HUM_MIN_DBFS = -50.0
HUM_BELOW_CONTENT_DB = 25.0
#: Harmonics of each mains frequency looked at, and how far from one a line may be (relative,
#: plus ``REACH_HZ`` for the window's resolution).
HARMONICS = 6
TOLERANCE = 0.005
REACH_HZ = 0.25
#: Seconds of audio one analysis looks at, its rate, and the spectrum's zero-padding.
SPAN_S = 4
RATE = 2000
PAD = 2
#: A counted line: height above the median 2-12 % either side, power within +-``LOBE_HZ`` of it
#: against within +-``SKIRT_HZ``, and the range of its level over the span's seconds.
RING = (0.02, 0.12)
MIN_PROMINENCE_DB = 15.0
LOBE_HZ, SKIRT_HZ = 0.5, 3.0
MIN_NARROWNESS_DB = -3.0
MAX_SPREAD_DB = 6.0
#: Harmonics of which one must be counted for the lines to be hum.
LEADING = (1, 2)
#: The decimation stages from ``SAMPLE_RATE`` to ``RATE``: (factor, taps, cutoff relative to
#: Nyquist, Kaiser beta); together within 1 dB to 400 Hz (0.6 dB at 360 Hz, the highest
#: harmonic), 70 dB down where anything would fold onto it.
_STAGES = ((8, 32, 0.06, 7.0), (3, 27, 0.22, 6.5))


@dataclass(frozen=True)
class MainsHum:
    """Steady lines on one mains frequency: the fundamental they sit on (Hz, measured), their
    RMS together, and which harmonics they are."""

    mains_hz: float
    level_dbfs: float
    harmonics: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {"mains_hz": round(self.mains_hz, 2), "level_dbfs": round(self.level_dbfs, 1),
                "harmonics": list(self.harmonics)}


class _FirDecimator:
    """Low-pass FIR and keep every ``factor``-th sample, streaming: the same output however the
    input is cut into pieces of whole ``factor``s (the stream starts with zeros). Polyphase: the
    input reshaped into blocks of ``factor`` samples, one matrix product with the filter's
    blocks, and the products summed along the diagonals."""

    def __init__(self, factor: int, taps: int, cutoff: float, beta: float, channels: int
                 ) -> None:
        if taps % factor:
            raise ValueError(f"taps ({taps}) must be a multiple of the factor ({factor})")
        self.factor = factor
        weights = firwin(taps, cutoff, window=("kaiser", beta))[::-1]
        self._weights = weights.reshape(-1, factor).T.astype(np.float32)  # (factor, blocks)
        span = self._weights.shape[1]
        self._held = np.zeros((channels, (span - 1) * factor), np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """(channels, n * factor) -> (channels, n)."""
        full = np.concatenate([self._held, samples], axis=1)
        span = self._weights.shape[1]
        count = full.shape[1] // self.factor - span + 1
        products = full.reshape(len(full), -1, self.factor) @ self._weights
        self._held = full[:, count * self.factor :]
        return sum(products[:, j : j + count, j] for j in range(span))


class SteadyMainsLines:
    """Feed audio at ``SAMPLE_RATE``; ``hum(end)`` says, per channel, whether the ``SPAN_S``
    seconds ending at sample ``end`` (counted from the first sample fed) hold hum."""

    def __init__(self, channels: int) -> None:
        self._stages = [_FirDecimator(*stage, channels) for stage in _STAGES]
        self._step = int(np.prod([stage[0] for stage in _STAGES]))  # input samples per output
        self._ones = np.ones(self._step, np.float32)
        self._keep = (SPAN_S + 2) * RATE  # an analysis may lag the input by a window or two
        self._decimated = np.zeros((channels, 0), np.float32)
        #: sum of squares of the input samples behind each output sample (the content's level)
        self._energy = np.zeros((channels, 0), np.float32)
        self._pending = np.zeros((channels, 0), np.float32)  # input short of a whole step
        self._count = 0  # output samples produced since the start
        self._plan = _plan()

    def push(self, samples: np.ndarray) -> None:
        """(n, channels) float samples at ``SAMPLE_RATE``; cheapest in pieces of a few tenths of
        a second (the detector feeds what each batch of windows brought)."""
        x = np.concatenate([self._pending, samples.T.astype(np.float32)], axis=1)
        whole = x.shape[1] // self._step * self._step
        x, self._pending = x[:, :whole], x[:, whole:]
        if not whole:
            return
        squares = np.square(x).reshape(len(x), -1, self._step) @ self._ones
        for stage in self._stages:
            x = stage(x)
        self._count += x.shape[1]
        self._decimated = np.concatenate([self._decimated, x], axis=1)[:, -self._keep :]
        self._energy = np.concatenate([self._energy, squares], axis=1)[:, -self._keep :]

    def hum(self, end: int) -> list[MainsHum | None] | None:
        """Per channel, the hum in the ``SPAN_S`` s ending at input sample ``end``; None when
        fewer than that many seconds have been fed up to there, or they are no longer held."""
        held = self._count - self._decimated.shape[1]
        last = end // self._step - held
        first = last - SPAN_S * RATE
        if first < 0 or end // self._step > self._count:
            return None
        x = self._decimated[:, first:last]
        energy = self._energy[:, first:last].sum(axis=1) / (SPAN_S * SAMPLE_RATE)
        content_db = 10 * np.log10(energy + 1e-20)
        return [_steady_hum(channel, level, self._plan) for channel, level
                in zip(x, content_db, strict=True)]


@dataclass(frozen=True)
class _Plan:
    window: np.ndarray  #: Hann over the span, summing to 1 (a sine's power reads its mean square)
    second: np.ndarray  #: the same over one second
    mains: np.ndarray  #: (bands,) the mains frequency of each band
    harmonic: np.ndarray  #: (bands,) which harmonic
    lines: np.ndarray  #: (bands, width) spectrum bins of each band (the last repeated)
    ring: np.ndarray  #: (bands, 2 * RING_POINTS) bins of each band's surroundings
    top: int  #: bins above this are never looked at


#: Points of each band's surroundings whose median is the reference for its line's height.
RING_POINTS = 48


def _plan() -> _Plan:
    length = SPAN_S * RATE
    per_hz = PAD * length / RATE
    mains = np.repeat(MAINS_HZ, HARMONICS)
    harmonic = np.tile(np.arange(1, HARMONICS + 1), len(MAINS_HZ))
    centre = mains * harmonic
    low = np.floor((centre * (1 - TOLERANCE) - REACH_HZ) * per_hz).astype(int)
    high = np.ceil((centre * (1 + TOLERANCE) + REACH_HZ) * per_hz).astype(int)
    lines = np.minimum(low[:, None] + np.arange(int(np.max(high - low)) + 1), high[:, None])
    offsets = np.linspace(*RING, RING_POINTS)
    ring = np.round(np.concatenate([1 - offsets[::-1], 1 + offsets]) * centre[:, None] * per_hz)
    window, second = np.hanning(length).astype(np.float32), np.hanning(RATE).astype(np.float32)
    top = int(max(lines.max(), ring.max()) + SKIRT_HZ * per_hz) + 2
    return _Plan(window / window.sum(), second / second.sum(), mains, harmonic, lines,
                 ring.astype(int), top)


def _db(power: np.ndarray | float) -> np.ndarray:
    return 10 * np.log10(np.asarray(power) + 1e-20)


def _steady_hum(x: np.ndarray, content_db: float, plan: _Plan) -> MainsHum | None:
    """The loudest mains frequency whose steady lines are hum in ``x`` (``SPAN_S`` s at
    ``RATE``), or None."""
    per_hz = PAD * len(x) / RATE
    spectrum = scipy.fft.rfft(x * plan.window, PAD * len(x))[: plan.top]
    power = 2 * np.abs(spectrum.astype(np.complex128)) ** 2  # float64: differences of sums
    peak = plan.lines[np.arange(len(plan.lines)), np.argmax(power[plan.lines], axis=1)]
    level = power[peak]
    middle = RING_POINTS - 1, RING_POINTS  # the median of an even count: mean of the middle two
    surroundings = np.partition(power[plan.ring], middle, axis=1)[:, middle].mean(axis=1)
    total = np.concatenate([[0.0], np.cumsum(power)])
    lobe, skirt = round(LOBE_HZ * per_hz), round(SKIRT_HZ * per_hz)
    narrowness = _db(total[peak + lobe + 1] - total[peak - lobe]) - _db(
        total[peak + skirt + 1] - total[peak - skirt])
    # the strongest bin of the band is a line's peak, not the flank of one outside the
    # tolerance (a bass note 1.5 % off the mains reaches into the band's edge bin)
    peaked = (level >= power[peak - 1]) & (level >= power[peak + 1])
    candidate = ((_db(level) - _db(surroundings) >= MIN_PROMINENCE_DB)
                 & (narrowness >= MIN_NARROWNESS_DB) & peaked)
    if not candidate.any():
        return None
    frequency = peak[candidate] / per_hz
    t = np.arange(RATE) / RATE
    seconds = x.reshape(SPAN_S, RATE) * plan.second
    per_second = _db(2 * np.abs(seconds @ np.exp(-2j * np.pi * np.outer(t, frequency))) ** 2)
    steady = np.flatnonzero(candidate)[np.ptp(per_second, axis=0) <= MAX_SPREAD_DB]
    best: MainsHum | None = None
    for mains in MAINS_HZ:
        counted = steady[plan.mains[steady] == mains]
        harmonics = tuple(int(k) for k in plan.harmonic[counted])
        hum_db = float(_db(level[counted].sum()))
        if (not set(harmonics) & set(LEADING) or hum_db < HUM_MIN_DBFS
                or hum_db < content_db - HUM_BELOW_CONTENT_DB):
            continue
        lowest = counted[np.argmin(plan.harmonic[counted])]
        if best is None or hum_db > best.level_dbfs:
            best = MainsHum(float(peak[lowest] / per_hz / plan.harmonic[lowest]), hum_db,
                            harmonics)
    return best
