"""The log-mel front end of the audio artifact classifier: one numpy implementation, used by the
training code to make its examples and by the detector at run time, so the two never drift.

Two log-mel views of the same 20 ms steps, stacked as the network's two input channels:

* *tonal*: 4096-sample Hann frames (85 ms, 11.7 Hz bins), fine enough in frequency to show mains
  hum and its harmonics as steady lines apart from bass notes, and hiss as a steady floor;
* *transient*: for the same step, the loudest of eight 256-sample frames (5 ms, hop 120 samples)
  around the tonal frame's centre. A click's energy sits in one 5 ms frame instead of being
  spread over 43 ms, about 9 dB more prominent against programme content than in the tonal
  view -- what the first trained model lacked when it missed clicks a second-difference
  detector found.

Why these numbers:

* 48 kHz, the rate HDMI capture delivers: the common case needs no resampling (other rates are
  resampled first, ``harness.detectors.audio.resample``), and defects are simulated at the rate a
  device makes them (a clipped signal's harmonics above the band are filtered the way a capture
  filters them, never aliased).
* A 20 ms step (not the common 10 ms): the transient view keeps the time detail, and the
  detector must run at 200x real time per core; a 10 ms step doubles the network's cost.
* 64 bands: the 32 lowest are single 11.7 Hz bins from 23 to 387 Hz, where mains hum and its
  first six harmonics live (a mel scale there would be 38 Hz wide and blur a 50 Hz comb into a
  55 Hz bass note; that was the first trained model's main false alarm on orchestral music), then
  32 mel bands (HTK scale) up to 16 kHz: hiss and clicks show best high up, where programme
  content has least energy; 16 kHz is where lossy codecs cut off anyway. The transient view's
  187.5 Hz bins leave its lowest bands empty (at the floor); clicks live higher.
* Absolute levels, never normalised per segment: the class boundaries are levels (hum at
  -70 dBFS is the capture path, at -50 dBFS it is a defect), so the model must see them. Power
  is divided by the window's energy, so a bin reads a tone's power whatever the frame length,
  then floored at ``POWER_FLOOR`` (digital silence would otherwise be -inf) and scaled with fixed
  constants to roughly [0, 5].

Step ``k`` covers samples ``[k * HOP, k * HOP + N_FFT)`` of whatever signal it is cut from, with
no padding, so the frames of a 1-s segment are exactly the frames a stream computes for the same
samples when the segment starts on the stream's 20 ms grid (``LogMelStream``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 48_000
N_FFT = 4096
HOP = 960
N_MELS = 64
#: The lowest bands are single bins of the tonal spectrum, from this bin on.
LINEAR_BANDS = 32
FIRST_BIN = 2
F_MAX = 16_000.0
#: Short frames of the transient view: length, hop, and how many per step (``HOP / SHORT_HOP``).
SHORT_FFT = 256
SHORT_HOP = 120
SHORT_PER_STEP = HOP // SHORT_HOP
#: Index of step 0's first short frame: centres the step's short frames on the tonal frame.
SHORT_OFFSET = (N_FFT // 2 - HOP // 2 - SHORT_FFT // 2) // SHORT_HOP
VIEWS = ("tonal", "transient")
#: Power floor (-100 dB): below the quietest capture floor by 30 dB, far above float noise.
POWER_FLOOR = 1e-10
#: feature = (10 log10(power) - DB_OFFSET) / DB_SCALE
DB_OFFSET = -100.0
DB_SCALE = 25.0

#: Length (samples at ``SAMPLE_RATE``) of one classified segment, and the hop between segments.
SEGMENT = SAMPLE_RATE
SEGMENT_HOP = SAMPLE_RATE // 2
#: Frames in one segment, and frames between consecutive segments.
FRAMES = 1 + (SEGMENT - N_FFT) // HOP
FRAMES_HOP = SEGMENT_HOP // HOP

#: Everything that must match between a trained model and this front end (the model manifest's
#: ``input``; the detector refuses a model whose spec differs).
SPEC: dict[str, float | int | str] = {
    "sample_rate": SAMPLE_RATE,
    "n_fft": N_FFT,
    "hop": HOP,
    "short_fft": SHORT_FFT,
    "short_hop": SHORT_HOP,
    "views": ",".join(VIEWS),
    "n_mels": N_MELS,
    "linear_bands": LINEAR_BANDS,
    "first_bin": FIRST_BIN,
    "f_max": F_MAX,
    "mel_scale": "htk",
    "power_floor": POWER_FLOOR,
    "db_offset": DB_OFFSET,
    "db_scale": DB_SCALE,
    "frames": FRAMES,
}


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=2)
def _window(length: int) -> np.ndarray:
    """Periodic Hann window scaled so that power is divided by its energy."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)
    return (window / np.sqrt(np.sum(window**2))).astype(np.float32)


def band_centres() -> np.ndarray:
    """Centre frequencies (Hz) of the ``N_MELS`` bands: ``LINEAR_BANDS`` tonal bins, then
    mel-spaced up to ``F_MAX``."""
    step = SAMPLE_RATE / N_FFT
    linear = (FIRST_BIN + np.arange(LINEAR_BANDS)) * step
    mel = np.linspace(_hz_to_mel(linear[-1]), _hz_to_mel(F_MAX), N_MELS - LINEAR_BANDS + 2)
    return np.concatenate([linear, _mel_to_hz(mel[1:-1])])


@lru_cache(maxsize=2)
def mel_filterbank(n_fft: int = N_FFT) -> np.ndarray:
    """Triangular filters centred on ``band_centres()``, each reaching its neighbours' centres,
    on the bins of an ``n_fft`` spectrum up to ``F_MAX``: (bins, ``N_MELS``) float32, peak 1 (a
    band reads the summed power of the bins under it; on the tonal spectrum a linear band is
    exactly one bin)."""
    bins = int(np.ceil(F_MAX * n_fft / SAMPLE_RATE)) + 1
    frequencies = np.arange(bins) * SAMPLE_RATE / n_fft
    centres = band_centres()
    edges = np.concatenate([[centres[0] - SAMPLE_RATE / N_FFT], centres, [F_MAX]])
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (frequencies - low) / (centre - low)
    falling = (high - frequencies) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


@lru_cache(maxsize=2)
def _sparse_filterbank(n_fft: int) -> scipy.sparse.csr_array:
    """``mel_filterbank(n_fft).T`` as a sparse matrix: each bin feeds at most two bands, so the
    sparse product is 30x less work than the dense one, and it never wakes BLAS threads (a
    dense BLAS product this small costs milliseconds on a busy machine, in thread start-up)."""
    return scipy.sparse.csr_array(mel_filterbank(n_fft).T)


def _scaled_log_mel(frames: np.ndarray) -> np.ndarray:
    """(..., n_fft) frames -> (..., N_MELS) scaled log-mel power."""
    n_fft = frames.shape[-1]
    filters = _sparse_filterbank(n_fft)
    spectrum = scipy.fft.rfft(frames * _window(n_fft), axis=-1)[..., : filters.shape[1]]
    power = np.square(spectrum.real) + np.square(spectrum.imag)
    mel = (filters @ power.reshape(-1, filters.shape[1]).T).T
    mel = np.maximum(mel, POWER_FLOOR).reshape(*power.shape[:-1], N_MELS)
    return ((10.0 * np.log10(mel) - DB_OFFSET) / DB_SCALE).astype(np.float32)


def frame_count(samples: int) -> int:
    """Whole steps in ``samples`` samples."""
    return 0 if samples < N_FFT else 1 + (samples - N_FFT) // HOP


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Both views of a signal at ``SAMPLE_RATE``, step by step.

    ``samples`` is (n,) or (n, channels) float; returns (steps, 2, N_MELS) or
    (steps, channels, 2, N_MELS) float32, step ``k`` from samples ``[k * HOP, k * HOP + N_FFT)``.
    """
    x = np.asarray(samples, dtype=np.float32)
    count = frame_count(len(x))
    if count == 0:
        return np.zeros((0, *x.shape[1:], len(VIEWS), N_MELS), np.float32)
    channels_first = np.ascontiguousarray(x.T)  # frames of one channel contiguous: 3x faster
    tonal = sliding_window_view(channels_first, N_FFT, axis=-1)[..., : count * HOP : HOP, :]
    short = sliding_window_view(channels_first, SHORT_FFT, axis=-1)[
        ..., SHORT_OFFSET * SHORT_HOP : (SHORT_OFFSET + count * SHORT_PER_STEP) * SHORT_HOP
        : SHORT_HOP, :]
    transient = _scaled_log_mel(short).reshape(*short.shape[:-2], count, SHORT_PER_STEP, N_MELS)
    views = np.stack([_scaled_log_mel(tonal), transient.max(axis=-2)], axis=-2)
    return np.moveaxis(views, -3, 0)  # (steps, [channels,] views, mels)


def segment_features(segment: np.ndarray) -> np.ndarray:
    """The model input of one mono segment of ``SEGMENT`` samples: (2, N_MELS, FRAMES)."""
    if len(segment) != SEGMENT:
        raise ValueError(f"a segment is {SEGMENT} samples at {SAMPLE_RATE} Hz, not {len(segment)}")
    return np.ascontiguousarray(log_mel(segment).transpose(1, 2, 0))


class LogMelStream:
    """Both views of a multichannel stream at ``SAMPLE_RATE``, computed lazily in batches.

    ``push`` only stores samples; ``frames`` computes every whole step not yet computed, in one
    vectorised call, and returns them as (steps, channels, 2, N_MELS). Computing per 0.5 s rather
    than per capture block (often 20 ms) is what keeps the front end at a fraction of a
    millisecond per second of audio. Step ``k`` starts at sample ``k * HOP`` of the stream.
    """

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self._pending: list[np.ndarray] = []
        self._tail = np.zeros((0, channels), np.float32)
        self._buffered = 0

    @property
    def available(self) -> int:
        """Steps ``frames()`` would return now, without computing them."""
        return frame_count(len(self._tail) + self._buffered)

    def push(self, samples: np.ndarray) -> None:
        """Append (n, channels) samples."""
        self._pending.append(samples)
        self._buffered += len(samples)

    def frames(self) -> np.ndarray:
        x = np.concatenate([self._tail, *self._pending]) if self._pending else self._tail
        self._pending, self._buffered = [], 0
        count = frame_count(len(x))
        self._tail = x[count * HOP :]
        return log_mel(x[: (count - 1) * HOP + N_FFT] if count else x)
