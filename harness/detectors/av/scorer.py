"""How well a face's mouth agrees with the audio at each candidate offset: the ``SyncScorer``.

The interface is what a learned SyncNet-style model would also need: the mouth crops of one face
track with their media times, the audio around them (16 kHz samples, envelope, speech
probability), and the lags to try. It returns one agreement value per lag; the detector takes the
peak as the offset and its prominence as the confidence, whatever the scorer.

``CorrelationScorer`` needs no training. Mouth opening and closing change the mouth region's
appearance (dark mouth interior, teeth, lips: its contrast, its deviation from the crop's median
level, its darkness) at the moments the speech envelope rises and falls, so the time derivatives
of those three measures are correlated with the derivative of the log speech-band envelope, each
sample weighted by the speech probability (music and silence carry no lip movement): one Pearson
correlation per lag, averaged over the three measures. Derivatives rather than levels: a level
drifts with head pose and lighting over seconds, an opening is a change within a syllable.

A lag at which the track's frames meet little speech is a correlation over few samples, as
likely high by chance as not, so it is scaled by the square root of the share of the track that
meets speech at that lag (without this, a face shown mostly in silence found its best match at
lags that put its few speaking frames on someone else's words). The correlation is signed: the
measures are taken to rise as the mouth opens (a dark interior and teeth both raise contrast and
deviation); a face on which they fall gives no clear peak, hence no vote. Of the pairings tried
on Megamind (levels, high-passed levels, frame differences, optical-flow residuals, pixel-wise
correlation, per-lag regression on several measures), these derivatives matched most windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.ndimage import uniform_filter1d

from harness.detectors.av.speech import AudioSpan

#: Log-envelope smoothing before the derivative, in hops (40 ms: about one video frame, so
#: both signals carry the same bandwidth).
_ENVELOPE_SMOOTHING = 4
#: Envelope floor (mean square) so silence does not dominate the log.
_ENVELOPE_FLOOR = 1e-7


@dataclass(frozen=True)
class MouthTrack:
    """The mouth of one face through part of a shot."""

    times: np.ndarray  #: media time of each frame (s)
    crops: np.ndarray  #: (frames, height, width) float32 luma of the mouth box, face-aligned


class SyncScorer(Protocol):
    """Agreement between a mouth and the audio at candidate offsets (higher is better)."""

    def curve(self, track: MouthTrack, audio: AudioSpan, lags: np.ndarray) -> np.ndarray:
        """One value per lag (s, > 0 = audio late: the sound of frame t is heard at t + lag)."""
        ...


class CorrelationScorer:
    """Mouth appearance changes vs speech-envelope changes; see the module docstring."""

    def curve(self, track: MouthTrack, audio: AudioSpan, lags: np.ndarray) -> np.ndarray:
        # per frame and per hop: a correlation does not care for the scale
        measures = [np.gradient(m) for m in mouth_measures(track.crops)]
        level = uniform_filter1d(np.log(audio.envelope + _ENVELOPE_FLOOR), _ENVELOPE_SMOOTHING)
        change = np.gradient(level)
        hops = audio.hop_times
        at = track.times[np.newaxis, :] + lags[:, np.newaxis]  # (lags, frames)
        sound = np.interp(at, hops, change)
        weight = np.interp(at, hops, audio.speech)
        agreement = np.mean([weighted_correlation(m, sound, weight) for m in measures], axis=0)
        return agreement * np.sqrt(weight.mean(axis=1))


def mouth_measures(crops: np.ndarray) -> list[np.ndarray]:
    """Per frame: contrast, deviation from the crop's median and darkness of the crop's centre
    (half its width and height, where the lips part)."""
    frames, height, width = crops.shape
    centre = crops[:, height // 4 : height - height // 4, width // 4 : width - width // 4]
    flat = centre.reshape(frames, -1)
    median = np.median(crops.reshape(frames, -1), axis=1, keepdims=True)
    return [flat.std(axis=1), np.abs(flat - median).mean(axis=1), -flat.mean(axis=1)]


def weighted_correlation(x: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation of ``x`` (n) with each row of ``ys`` (lags, n), each row
    with its own weights; 0 where either side does not vary."""
    total = weights.sum(axis=1, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    dx = x[np.newaxis, :] - (weights * x).sum(axis=1, keepdims=True) / safe
    dy = ys - (weights * ys).sum(axis=1, keepdims=True) / safe
    cov = (weights * dx * dy).sum(axis=1)
    var = (weights * dx * dx).sum(axis=1) * (weights * dy * dy).sum(axis=1)
    return np.where(var > 0, cov / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)


@dataclass(frozen=True)
class Peak:
    """The best lag of a curve: ``offset`` (s, refined between lags), its ``value``, and its
    ``prominence`` over the best value farther than ``separation`` from it (the rival offset)."""

    offset: float
    value: float
    prominence: float


def find_peak(lags: np.ndarray, curve: np.ndarray, separation: float) -> Peak:
    """The curve's maximum with a parabola through it and its neighbours (sub-lag offset)."""
    i = int(np.argmax(curve))
    offset = float(lags[i])
    if 0 < i < len(curve) - 1:
        left, mid, right = curve[i - 1 : i + 2]
        bend = left - 2 * mid + right
        if bend < 0:
            offset += 0.5 * (left - right) / bend * float(lags[i + 1] - lags[i])
    rivals = curve[np.abs(lags - offset) > separation]
    rival = float(rivals.max()) if len(rivals) else float(curve.min())
    return Peak(offset, float(curve[i]), float(curve[i]) - rival)
