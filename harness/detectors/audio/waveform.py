"""Waveform statistics of a 1-s segment: the audio artifact classifier's second input, for the
three cues its log-mel picture blurs. One numpy implementation, used by the training code and by
the detector, like ``features``.

* *Near-peak amplitude distribution* (clipping): a clipped signal piles its samples up at one
  level, the clip limit; an unclipped one has few samples near its peak, and a loudness-maximised
  master (a brickwall limiter turns peaks down over milliseconds) spreads them over the last
  decibel. The share of samples in each band 0-0.02, ..., 4-6 dB below the segment's peak shows
  that shape, at any level. The classical baseline's clipped-run count, which this generalises,
  found 99 % of full-scale overs the log-mel network found 74 % of.
* *Impulsiveness* (clicks): the second difference is where a click, a dropped or replayed buffer
  (a step) stands out against band-limited content. The loudest second difference of each
  15.6 ms block, sorted, at ranks 1, 2, 4, ... 32, over the RMS of the second difference: one
  click, a few, or a crackle, against how rough the content itself is.
* *Mains lines* at 0.5 Hz resolution (hum): the log-mel front end's finest bins are 11.7 Hz, so a
  bass note a semitone from 50 or 60 Hz shares a bin with hum. A 1-s spectrum resolves them: for
  each of the first ``HARMONICS`` harmonics of 50 and 60 Hz, the strongest line within the grid's
  tolerance (+-0.6 %, and the window's half-width) and how far it stands above the median of the
  spectrum 2-12 % either side.

Speed matters (the detector classifies each channel of a window every 0.5 s at 200x real time
per core), hence the choices: the amplitude bands are counted over the samples within 6 dB of
the peak only; the mains spectrum comes from the segment summed over 8-sample blocks (6 kHz: a
boxcar keeps everything up to 500 Hz and takes 17-21 dB off what folds down from 5.3-6.7 kHz,
which is enough for lines that are compared with their own neighbourhood), Hann-windowed and
zero-padded to 0.5 Hz bins. All of it costs about 0.25 ms per channel and window, a fifth of
the detector's time on 48 kHz stereo (``benchmarks/audio_artifacts_speed.py``).

Every value is scaled to roughly [0, 5] like the log-mel input, with floors instead of -inf.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from harness.detectors.audio.features import DB_OFFSET, DB_SCALE, POWER_FLOOR, SAMPLE_RATE, SEGMENT

#: Bands below the segment's peak (dB, upper edges) whose sample shares are counted.
PEAK_BANDS_DB = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
#: Shares below this read as this (one sample in a million): log of zero is -inf.
SHARE_FLOOR = 1e-6
#: Blocks (samples) whose loudest second difference is ranked; the ranks kept.
IMPULSE_BLOCK = 750
IMPULSE_RANKS = (1, 2, 4, 8, 16, 32)
MAINS_HZ = (50.0, 60.0)
HARMONICS = 8
#: The mains grid's frequency tolerance (relative; hum is trained within +-0.5 %), widened by
#: ``LINE_REACH_HZ`` for the Hann window's main lobe.
LINE_TOLERANCE = 0.006
LINE_REACH_HZ = 0.75
#: The neighbourhood a line is compared with: this far from the harmonic (relative), each side.
RING = (0.02, 0.12)
RING_POINTS = 48
#: Decimation of the mains spectrum (boxcar sum of this many samples), and its zero-padding.
DECIMATE = 8
MAINS_PAD = 2

SIZE = 2 + len(PEAK_BANDS_DB) + 1 + len(IMPULSE_RANKS) + 2 * len(MAINS_HZ) * HARMONICS
#: Names of the ``SIZE`` values, in order (the model card and tests refer to them).
NAMES = (
    "peak", "rms", *(f"share<{db:g}dB" for db in PEAK_BANDS_DB), "curvature",
    *(f"impulse#{rank}" for rank in IMPULSE_RANKS),
    *(f"{name}{mains:g}x{k}" for mains in MAINS_HZ for k in range(1, HARMONICS + 1)
      for name in ("line", "prominence")),
)
#: What must match between a trained model and this code (part of the model manifest's input).
SPEC = f"peak{len(PEAK_BANDS_DB)}-impulse{len(IMPULSE_RANKS)}-mains{HARMONICS}-v1"


def _scaled_db(power: np.ndarray) -> np.ndarray:
    """Power -> the log-mel input's scale."""
    return (10.0 * np.log10(np.maximum(power, POWER_FLOOR)) - DB_OFFSET) / DB_SCALE


@lru_cache(maxsize=1)
def _mains_plan() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hann window of the decimated segment, and for each (mains, harmonic) the spectrum bins of
    its line (padded by repeating the last) and of its ring."""
    rate = SAMPLE_RATE / DECIMATE
    length = SEGMENT // DECIMATE
    bins_per_hz = MAINS_PAD * length / rate
    window = np.hanning(length).astype(np.float32)
    window /= np.sum(window)  # a sine of amplitude a reads a / 2 at its peak bin
    harmonics = np.outer(MAINS_HZ, np.arange(1, HARMONICS + 1)).ravel()
    reach = LINE_TOLERANCE * harmonics + LINE_REACH_HZ
    low = np.floor((harmonics - reach) * bins_per_hz).astype(int)
    high = np.ceil((harmonics + reach) * bins_per_hz).astype(int)
    width = int(np.max(high - low)) + 1
    lines = np.minimum(low[:, None] + np.arange(width), high[:, None])
    offsets = np.linspace(RING[0], RING[1], RING_POINTS)
    ring = np.concatenate([1 - offsets[::-1], 1 + offsets]) * harmonics[:, None]
    return window, lines, np.round(ring * bins_per_hz).astype(int)


def _mean_square(x: np.ndarray) -> np.ndarray:
    """Mean square of each row, as one dot product per row (a third of ``np.mean``'s time)."""
    return np.einsum("ij,ij->i", x, x) / x.shape[1]


def _peak_shares(magnitude: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """(channels, samples) |x| and (channels,) peaks -> (channels, bands) share of samples in
    each band below the peak."""
    edges = 10.0 ** (-np.asarray(PEAK_BANDS_DB)[::-1] / 20)  # ascending, relative to the peak
    shares = np.empty((len(magnitude), len(edges)))
    for channel, (a, p) in enumerate(zip(magnitude, peak, strict=True)):
        near = a[a >= edges[0] * p]
        counts = np.bincount(np.searchsorted(edges * p, near, side="right"),
                             minlength=len(edges) + 1)[1:]
        shares[channel] = counts[::-1] / a.size  # closest to the peak first
    return shares


def waveform_features(segment: np.ndarray) -> np.ndarray:
    """The ``SIZE`` waveform statistics of a segment of ``SEGMENT`` samples at ``SAMPLE_RATE``:
    (SEGMENT,) -> (SIZE,) or (SEGMENT, channels) -> (channels, SIZE) float32."""
    x = np.asarray(segment, dtype=np.float32)
    if len(x) != SEGMENT:
        raise ValueError(f"a segment is {SEGMENT} samples at {SAMPLE_RATE} Hz, not {len(x)}")
    mono = x.ndim == 1
    x = np.ascontiguousarray(x.reshape(SEGMENT, -1).T)  # (channels, samples)
    magnitude = np.abs(x)
    peak = magnitude.max(axis=1)
    levels = _scaled_db(np.stack([peak**2, _mean_square(x)], axis=1))
    shares = np.log10(np.maximum(_peak_shares(magnitude, peak), SHARE_FLOOR)) / 2 + 3

    curvature = x[:, 2:] + x[:, :-2]  # |x[n+1] - 2 x[n] + x[n-1]|, in place (speed)
    curvature -= 2 * x[:, 1:-1]
    np.abs(curvature, out=curvature)
    blocks = curvature.shape[1] // IMPULSE_BLOCK
    loudest = curvature[:, : blocks * IMPULSE_BLOCK].reshape(len(x), blocks, -1).max(axis=2)
    ranked = -np.sort(-loudest, axis=1)[:, np.asarray(IMPULSE_RANKS) - 1]
    rough = _mean_square(curvature)[:, np.newaxis]
    impulses = (_scaled_db(ranked**2) - _scaled_db(rough)) / 2
    curvature_level = _scaled_db(rough)

    window, lines, ring = _mains_plan()
    decimated = x.reshape(len(x), -1, DECIMATE) @ np.full(DECIMATE, 1 / DECIMATE, np.float32)
    spectrum = scipy.fft.rfft(decimated * window, MAINS_PAD * decimated.shape[1], axis=1)
    power = 2 * (np.square(spectrum.real) + np.square(spectrum.imag))  # a sine's mean square
    line_db = _scaled_db(power[:, lines].max(axis=2))
    middle = RING_POINTS - 1, RING_POINTS  # the ring has 2 * RING_POINTS bins: median of two
    ring_db = _scaled_db(np.partition(power[:, ring], middle, axis=2)[..., middle].mean(axis=2))
    mains = np.stack([line_db, line_db - ring_db], axis=2).reshape(len(x), -1)

    features = np.concatenate([levels, shares, curvature_level, impulses, mains], axis=1)
    features = features.astype(np.float32)
    return features[0] if mono else features
