"""One-second training segments: programme audio, maybe a look-alike, maybe a defect of random
strength, then the capture path; the classes and where their boundaries lie.

Class boundaries are levels, because the capture path itself carries a little of two of the
defects: every real capture has mains hum around -70 dBFS and a noise floor of -66 to -58 dBFS
(``harness.simulation.capture_path``). So:

* ``none``: content through a capture path whose hum is at most ``CAPTURE_HUM_DBFS[1]`` and
  whose floor lies in ``CAPTURE_FLOOR_DBFS``; look-alikes (distorted guitar, drums, applause,
  drones and bass lines, whispering, sibilant speech), silence and near-silence included.
* ``hum``: mains hum (50 or 60 Hz within ``MAINS_TOLERANCE``, one of ``HUM_PATTERNS``) of at least
  ``HUM_MIN_DBFS`` RMS
  (14 dB above the loudest hum a clean capture carries, audible in any pause) and at most
  ``HUM_BELOW_CONTENT_DB`` below the content's RMS: further down, programme bass masks it in
  that second (it is found in the quieter seconds around).
* ``hiss``: white or pink noise at an SNR of ``HISS_SNR_DB`` against the content, and never below
  ``HISS_MIN_DBFS`` RMS, 8 dB above the loudest capture floor.
* ``distortion``: hard clipping, tanh saturation or an overdrive curve whose limit lies
  ``DISTORTION_DRIVE_DB`` below the content's RMS (-6: the limit 6 dB above the RMS, so the
  louder peaks are cut; +6: most of the waveform is), and at least 1 dB below its peak, on
  content of at least -40 dBFS RMS (distortion of near-silence is not a thing one hears).
  Measured against the RMS, not the peak: how much of a waveform is clipped, hence how audible
  it is, depends on where the limit sits in its bulk, while one loud transient decides the peak.
  In ``FULL_SCALE`` of segments the limit is a converter's full scale (digital overs: a gain
  stage pushes the content into the ceiling and it comes out louder, flat-topped there);
  otherwise the curve keeps unit gain below its limit (clipped upstream, played at a normal
  level), so the model cannot tell distortion by loudness alone.
* ``clicks``: impulses or crackle bursts, ``CLICK_RATE`` per second, peaks ``CLICK_OVER_RMS_DB``
  above the content's RMS and at least ``CLICK_MIN_DBFS``; or (``SPLICES`` of them, on content
  of at least ``SPLICE_MIN_CONTENT_DBFS``) buffer slips: the stream replays its last 1-5 ms, a
  step in the waveform no louder than the content.

Content is as mastered or turned down, and in ``LOUD_MASTER`` of segments loudness-maximised
(pushed into a brickwall limiter): dense, loud and never clipped, the look-alike of overs.

Strengths between the classes (hum at -60 dBFS, a clip limit 12 dB above the RMS) are never
trained on; the evaluation sweeps across them to show where detection starts. Where the
boundaries sit was decided on the validation split (recall by strength), never the test split.
A defect covers the whole segment or, in ``PARTIAL`` of them, only part of it (at least half),
as at a defect's start and end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from harness.detectors.audio.features import SAMPLE_RATE, SEGMENT, segment_features
from harness.detectors.audio.mains_lines import HUM_BELOW_CONTENT_DB, HUM_MIN_DBFS
from harness.detectors.audio.waveform import waveform_features
from harness.impairments.audio import Clicks, Distortion, Hiss, Hum, from_db
from harness.impairments.audio_lookalikes import Applause, DistortedGuitar, Percussion
from harness.impairments.base import AudioImpairment
from harness.simulation.capture_path import captured_audio
from training.audio_content import ContentPool

CLASSES = ("none", "hum", "hiss", "distortion", "clicks")

CAPTURE_FLOOR_DBFS = (-66.0, -58.0)
CAPTURE_HUM_DBFS = (-80.0, -64.0)
HUM_MAX_DBFS = -20.0
HISS_MIN_DBFS = -50.0
HISS_SNR_DB = (-5.0, 30.0)
DISTORTION_DRIVE_DB = (-6.0, 6.0)
DISTORTION_MIN_CONTENT_DBFS = -40.0
CLICK_RATE = (1.0, 30.0)
CLICK_OVER_RMS_DB = (6.0, 30.0)
CLICK_MIN_DBFS = -40.0
#: Shares of distortion segments that are full-scale overs (ceiling in ``OVERS_CEILING_DBFS``),
#: and of clicks that are buffer slips (on content of at least ``SPLICE_MIN_CONTENT_DBFS``,
#: each slip's step at least the content's RMS: a slip in a quiet passage is not heard).
FULL_SCALE = 0.5
OVERS_CEILING_DBFS = (-0.5, 0.0)
SPLICES = 0.3
SPLICE_MIN_CONTENT_DBFS = -30.0
SPLICE_MS = (1.0, 5.0)
#: Loud masters: content peak-normalised to a ceiling, pushed further by ``LOUD_MASTER_PUSH_DB``
#: into a brickwall limiter (gain reduction held and smoothed over ``LIMITER_MS``, so it never
#: flat-tops the waveform as clipping does).
LOUD_MASTER = 0.15
LOUD_MASTER_PUSH_DB = (3.0, 12.0)
LOUD_MASTER_CEILING_DBFS = (-1.0, -0.2)
LIMITER_MS = 5.0
#: Hum's harmonic patterns and their shares: ``random`` levels of the 2nd-6th harmonics, ``odd``
#: harmonics only (a ground loop through a rectifier's transformer), ``rectified`` (a full-wave
#: rectifier's ripple: twice the mains and its harmonics), ``rich`` (up to the 12th: a dimmer or
#: a switching supply's buzz). A pure sine is left out: in one second it is not told from a held
#: bass note within ``MAINS_GAP`` of the mains.
HUM_PATTERNS = {"random": 0.4, "odd": 0.2, "rectified": 0.2, "rich": 0.2}

#: Content level: as mastered in ``NATURAL_LEVEL`` of segments, otherwise a gain in ``GAIN_DB``;
#: always kept below ``PEAK_LIMIT``, so only ``distortion`` clips.
NATURAL_LEVEL = 0.5
GAIN_DB = (-20.0, 3.0)
PEAK_LIMIT = 0.98
#: Shares of segments whose content is digital silence, or near-silence at these RMS levels.
SILENCE = 0.04
NEAR_SILENCE = 0.1
NEAR_SILENCE_DBFS = (-60.0, -40.0)
LOOKALIKE = 0.5
PARTIAL = 0.3
MAINS_HZ = (50.0, 60.0)
#: Hum's frequency: within this of 50 or 60 Hz. Grids hold +-0.2 % in normal operation and
#: rarely leave +-0.5 %; a wider class would swallow bass notes a semitone off the mains (58.3 and
#: 61.7 Hz are notes of the equal-tempered scale).
MAINS_TOLERANCE = 0.005
#: Bass look-alikes keep their fundamentals at least this far (relative) from every mains
#: harmonic, and a share ``NEAR_MAINS`` of them within ``NEAR_MAINS_SPAN`` of one: the gap
#: between hum and music is narrow in frequency, so the model must see notes on its far side.
MAINS_GAP = 0.025
NEAR_MAINS = 0.5
NEAR_MAINS_SPAN = 0.08
_MAINS_HARMONICS = np.outer(MAINS_HZ, np.arange(1, 7)).ravel()
_DRAWS = 100
_CLIP_BELOW_PEAK_DB = 1.0
#: The overdrive curve has a gain of 2 below its knee: this brings it to 1.
_OVERDRIVE_GAIN_DB = -20 * np.log10(2.0)


@dataclass
class Segment:
    """A rendered segment: model input, label, and what made it (for the evaluation tables)."""

    features: np.ndarray  #: (views, N_MELS, FRAMES) float32
    waveform: np.ndarray  #: (waveform.SIZE,) float32
    label: int
    strength: dict[str, Any]
    group: str
    source: str
    lookalike: str | None
    #: the captured audio, for the baseline's hand features; dropped before segments are stored
    samples: np.ndarray | None = field(default=None, repr=False)


def _rms_dbfs(x: np.ndarray) -> float:
    power = float(np.mean(np.square(x, dtype=np.float64)))
    return 10 * np.log10(power) if power > 0 else -np.inf


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _span(rng: np.random.Generator) -> tuple[float, float]:
    """Where in the segment the defect lies: all of it, or at least half at one end."""
    if rng.random() >= PARTIAL:
        return 0.0, 1.0
    duration = _uniform(rng, (0.5, 1.0))
    return (0.0 if rng.random() < 0.5 else 1.0 - duration), duration


Fixed = dict[str, Any]
Made = tuple["AudioImpairment | BufferSlips", dict]
Maker = Callable[[np.random.Generator, np.ndarray, Fixed], Made]


def _hum_shape(rng: np.random.Generator, pattern: str, mains: float) -> tuple[float, np.ndarray]:
    """The fundamental and harmonic levels (dB, 2nd harmonic first) of a ``pattern`` of hum."""
    if pattern == "rich":
        return mains, rng.uniform(-30.0, 0.0, int(rng.integers(6, 12)))
    harmonics = rng.uniform(-30.0, 0.0, 5)
    if pattern == "odd":
        harmonics[::2] = -120.0  # the 2nd, 4th and 6th
    return (2 * mains if pattern == "rectified" else mains), harmonics


def _hum(rng: np.random.Generator, clean: np.ndarray, fixed: Fixed) -> Made:
    lowest = max(HUM_MIN_DBFS, _rms_dbfs(clean) - HUM_BELOW_CONTENT_DB)
    level = fixed.get("level_dbfs", _uniform(rng, (lowest, HUM_MAX_DBFS)))
    mains = float(rng.choice(MAINS_HZ)) * _uniform(rng, (1 - MAINS_TOLERANCE, 1 + MAINS_TOLERANCE))
    pattern = fixed.get("pattern", str(rng.choice(list(HUM_PATTERNS),
                                                  p=list(HUM_PATTERNS.values()))))
    fundamental, harmonics = _hum_shape(rng, pattern, mains)
    at, duration = _span(rng)
    hum = Hum(at, duration, int(rng.integers(2**31)), level_dbfs=level, mains_hz=fundamental,
              harmonics_db=harmonics, ramp_ms=5.0)
    return hum, {"level_dbfs": level, "mains_hz": round(mains, 2), "kind": pattern}


def _hiss(rng: np.random.Generator, clean: np.ndarray, fixed: Fixed) -> Made:
    content = _rms_dbfs(clean)
    if "level_dbfs" in fixed:
        level = fixed["level_dbfs"]
    else:
        snr = _uniform(rng, HISS_SNR_DB)
        level = content - snr if np.isfinite(content) else -np.inf
        level = max(level, HISS_MIN_DBFS + _uniform(rng, (0.0, 8.0)))
    color = "white" if rng.random() < 0.6 else "pink"
    at, duration = _span(rng)
    hiss = Hiss(at, duration, int(rng.integers(2**31)), level_dbfs=level, color=color, ramp_ms=5.0)
    snr_db = content - level if np.isfinite(content) else None
    return hiss, {"level_dbfs": level, "snr_db": snr_db, "color": color}


def _distortion(rng: np.random.Generator, clean: np.ndarray, fixed: Fixed) -> Made:
    drive = fixed.get("drive_db", _uniform(rng, DISTORTION_DRIVE_DB))
    kind = fixed.get("kind", "overs" if rng.random() < FULL_SCALE else
                     str(rng.choice(["hard", "hard", "soft", "overdrive"])))
    rms, peak = from_db(_rms_dbfs(clean)), float(np.max(np.abs(clean)))
    limit = min(rms * from_db(-drive), peak * from_db(-_CLIP_BELOW_PEAK_DB))
    seed = int(rng.integers(2**31))
    if kind == "overs":  # the limit gained up to full scale, over the whole second
        ceiling = from_db(_uniform(rng, OVERS_CEILING_DBFS))
        distortion = Distortion(0.0, 1.0, seed, kind="hard", threshold=ceiling,
                                gain_db=20 * np.log10(ceiling / limit), ramp_ms=0.0)
    else:
        gain_db = _OVERDRIVE_GAIN_DB if kind == "overdrive" else 0.0
        at, duration = _span(rng)
        distortion = Distortion(at, duration, seed, kind=kind, gain_db=gain_db, threshold=limit,
                                ramp_ms=5.0)
    return distortion, {"drive_db": 20 * np.log10(rms / limit), "kind": kind}


@dataclass(frozen=True)
class BufferSlips:
    """A playback buffer slipping: at each onset the last ``lengths`` samples play again and the
    rest of the stream comes that much later, a step in the waveform heard as a click.

    For training segments only: it rewrites a whole segment (``apply`` from sample 0), where the
    simulator's impairments stream block by block.
    """

    onsets: tuple[int, ...]
    lengths: tuple[int, ...]

    def apply(self, start: int, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        pieces, previous = [], 0
        for onset, length in zip(self.onsets, self.lengths, strict=True):
            pieces += [samples[previous:onset], samples[onset - length:onset]]
            previous = onset
        pieces.append(samples[previous:])
        return np.concatenate(pieces)[: len(samples)]


def _slips(rng: np.random.Generator, clean: np.ndarray, fixed: Fixed) -> Made | None:
    """Buffer slips where the waveform's step is at least its RMS, or None when the content
    offers none (too quiet, or too smooth a second)."""
    content = _rms_dbfs(clean)
    if content < SPLICE_MIN_CONTENT_DBFS:
        return None
    wanted = max(1, round(fixed.get("per_second", _log_uniform(rng, CLICK_RATE))))
    lengths = np.round(rng.uniform(*SPLICE_MS, 8 * wanted) * SAMPLE_RATE / 1000).astype(int)
    candidates = rng.integers(int(0.01 * SAMPLE_RATE), SEGMENT, 8 * wanted)
    steps = np.abs(clean[candidates - 1] - clean[candidates - lengths])
    gap = int((Clicks._GAP + max(SPLICE_MS) / 1000) * SAMPLE_RATE)
    picked: list[tuple[int, int]] = []  # (onset, length)
    for i in np.flatnonzero(steps >= from_db(content)):
        if len(picked) < wanted and all(abs(candidates[i] - o) > gap for o, _ in picked):
            picked.append((int(candidates[i]), int(lengths[i])))
    if not picked:
        return None
    onsets, chosen = zip(*sorted(picked), strict=True)
    return BufferSlips(onsets, chosen), {"per_second": float(len(picked)), "kind": "slip"}


def _clicks(rng: np.random.Generator, clean: np.ndarray, fixed: Fixed) -> Made:
    kind = fixed.get("kind")
    if kind is None:  # a slip has no peak level, so a sweep of peak levels has no slips
        slip = "over_rms_db" not in fixed and rng.random() < SPLICES
        kind = "slip" if slip else ("impulse" if rng.random() < 0.7 else "crackle")
    if kind == "slip":
        made = _slips(rng, clean, fixed)
        if made is not None:
            return made
        kind = "impulse"  # content too quiet or too smooth to slip audibly
    at, duration = _span(rng)
    longest, gap = Clicks._LONGEST[kind], Clicks._GAP
    most = int((duration - longest) / (longest + gap)) + 1
    rate = fixed.get("per_second", _log_uniform(rng, CLICK_RATE))
    count = int(np.clip(round(rate * duration), 1, most))
    over = fixed.get("over_rms_db", _uniform(rng, CLICK_OVER_RMS_DB))
    content = _rms_dbfs(clean)
    amplitude = from_db(content + over) if np.isfinite(content) else 0.0
    amplitude = float(np.clip(amplitude, from_db(CLICK_MIN_DBFS), PEAK_LIMIT))
    clicks = Clicks(at, duration, int(rng.integers(2**31)), per_second=count / duration,
                    amplitude=amplitude, kind=kind)
    return clicks, {"per_second": count / duration, "over_rms_db": over, "kind": kind,
                    "amplitude_dbfs": 20 * np.log10(amplitude)}


DEFECT_MAKERS: dict[str, Maker] = {
    "hum": _hum, "hiss": _hiss, "distortion": _distortion, "clicks": _clicks,
}


def _bass_fundamental(rng: np.random.Generator) -> float:
    """A bass note's fundamental, 30-250 Hz and never within ``MAINS_GAP`` of a mains harmonic;
    in ``NEAR_MAINS`` of draws just off 50 or 60 Hz (the notes most like hum)."""
    if rng.random() < NEAR_MAINS:
        offset = _uniform(rng, (MAINS_GAP, NEAR_MAINS_SPAN)) * rng.choice([-1.0, 1.0])
        return float(rng.choice(MAINS_HZ)) * (1 + offset)
    fundamental = _log_uniform(rng, (30.0, 250.0))
    while np.min(np.abs(fundamental / _MAINS_HARMONICS - 1)) < MAINS_GAP:
        fundamental = _log_uniform(rng, (30.0, 250.0))
    return fundamental


def _harmonic_tone(rng: np.random.Generator, phase: np.ndarray) -> np.ndarray:
    """A tone of 1-8 harmonics of random level (a pure sine when one) on ``phase``."""
    count = int(rng.integers(1, 9))
    return sum(rng.uniform(0.1, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
               for k in range(1, count + 1))


def _at_level(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``level_dbfs`` (unchanged where it is digital silence)."""
    content = _rms_dbfs(x)
    return x * from_db(level_dbfs - content) if np.isfinite(content) else x


def _drone(rng: np.random.Generator) -> np.ndarray:
    """Sustained low notes with harmonics -- an organ pedal, a bass synth, a cello drone: steady
    lines in the bass as mains hum has, at fundamentals that are not mains frequencies. The one
    look-alike the impairment simulator lacks, and the first model's main false alarm."""
    t = np.arange(SEGMENT) / SAMPLE_RATE
    drone = np.zeros(SEGMENT)
    for _ in range(int(rng.integers(1, 4))):
        vibrato = 1 + rng.uniform(0, 0.004) * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
        phase = 2 * np.pi * np.cumsum(_bass_fundamental(rng) * vibrato) / SAMPLE_RATE
        drone += _harmonic_tone(rng, phase)
    drone *= np.linspace(*rng.uniform(0.5, 1.0, 2), SEGMENT)  # a slow swell or fade
    return _at_level(drone, _uniform(rng, (-40.0, -15.0)))


def _bassline(rng: np.random.Generator) -> np.ndarray:
    """A bass line over a kick drum, the low end of pop and electronic music: notes on the beat
    that start, hold and decay (pure sines to bright tones, half of them a few per cent off the
    mains frequencies) and, in most segments, kicks whose pitch falls to 40-65 Hz. Bass notes a
    semitone from 60 Hz were the second model's main false alarm: a held note fills the same
    11.7 Hz bin as hum, and only how it starts, decays and sits in the bin tells them apart."""
    t = np.arange(SEGMENT) / SAMPLE_RATE
    beat = 60.0 / _uniform(rng, (80.0, 160.0))
    bass = np.zeros(SEGMENT)
    onset = -_uniform(rng, (0.0, 4 * beat))  # the second starts anywhere in a note
    while onset < 1.0:
        length = beat * float(rng.choice([1, 2, 4]))
        local = t - onset
        attack, hold = _uniform(rng, (0.005, 0.03)), _uniform(rng, (0.0, length))
        envelope = (np.clip(local / attack, 0, 1)
                    * np.exp(-np.maximum(local - attack - hold, 0) / _uniform(rng, (0.1, 0.6)))
                    * np.clip((length - local) / 0.01, 0, 1))  # a 10 ms release, never a cut
        envelope[local < 0] = 0
        bass += envelope * _harmonic_tone(rng, 2 * np.pi * _bass_fundamental(rng) * local)
        onset += length
    kick = np.zeros(SEGMENT)
    if rng.random() < 0.7:
        low, high, sweep = _uniform(rng, (40.0, 65.0)), _uniform(rng, (90.0, 160.0)), 0.03
        for onset in np.arange(-_uniform(rng, (0.0, beat)), 1.0, beat):
            local = np.maximum(t - onset, 0)
            phase = 2 * np.pi * (low * local + (high - low) * sweep * (1 - np.exp(-local / sweep)))
            kick += (t >= onset) * np.sin(phase) * np.exp(-local / _uniform(rng, (0.08, 0.25)))
    mix = bass + kick * from_db(_uniform(rng, (-12.0, 6.0)))
    return _at_level(mix, _uniform(rng, (-40.0, -15.0)))


def _lookalike(rng: np.random.Generator, name: str) -> AudioImpairment:
    seed = int(rng.integers(2**31))
    if name == "distorted_guitar":
        return DistortedGuitar(0.0, 1.0, seed, level_dbfs=_uniform(rng, (-36.0, -12.0)),
                               drive_db=_uniform(rng, (15.0, 40.0)))
    if name == "percussion":
        return Percussion(0.0, 1.0, seed, level_dbfs=_uniform(rng, (-36.0, -12.0)))
    return Applause(0.0, 1.0, seed, level_dbfs=_uniform(rng, (-45.0, -15.0)),
                    claps_per_second=_log_uniform(rng, (10.0, 400.0)))


LOOKALIKES = ("distorted_guitar", "percussion", "applause", "drone", "bassline")
#: The look-alikes made here (the rest are ``harness.impairments.audio_lookalikes``).
_MADE_HERE = {"drone": _drone, "bassline": _bassline}


@dataclass(frozen=True)
class SegmentSpec:
    """Everything that decides a segment, so workers can render any of them from the pool.

    ``level`` forces the content level (``"silence"``, ``"near_silence"``, ``"normal"``) and
    ``lookalike`` the look-alike (a name, or ``"none"``); left ``None`` both are drawn.
    ``fixed`` pins defect strengths (a sweep).
    """

    label: str
    seed: int
    fixed: tuple[tuple[str, Any], ...] = ()
    level: str | None = None
    lookalike: str | None = None


@dataclass(frozen=True)
class ScanSpec:
    """One window of a whole-programme scan: clean content as mastered, through a capture path."""

    track: int  #: index into the pool's tracks
    channel: int
    start: int
    seed: int


def loud_master(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` loudness-maximised: peak-normalised to a ceiling, pushed a few dB further and
    brickwall-limited back under it. The gain is the least needed within ``LIMITER_MS`` either
    side, smoothed over as long, so it is never above what a sample needs (the ceiling holds
    exactly) and changes over milliseconds: peaks are turned down, not cut flat."""
    peak = float(np.max(np.abs(x)))
    if peak == 0:
        return x
    ceiling = from_db(_uniform(rng, LOUD_MASTER_CEILING_DBFS))
    pushed = x * (ceiling / peak * from_db(_uniform(rng, LOUD_MASTER_PUSH_DB)))
    needed = np.minimum(1.0, ceiling / np.maximum(np.abs(pushed), 1e-12))
    width = 2 * round(LIMITER_MS / 1000 * SAMPLE_RATE / 2) + 1  # odd, so both windows centre
    gain = uniform_filter1d(minimum_filter1d(needed, width), width)
    return pushed * gain


def _content(pool: ContentPool, rng: np.random.Generator, spec: SegmentSpec) -> tuple:
    level = spec.level
    if level is None:
        draw = rng.random()
        level = "silence" if draw < SILENCE else (
            "near_silence" if draw < SILENCE + NEAR_SILENCE else (
                "loud_master" if draw < SILENCE + NEAR_SILENCE + LOUD_MASTER else "normal"))
    clean, track = pool.draw(rng, SEGMENT)
    if spec.label == "distortion":  # needs content to distort: a pause would be redrawn anyway
        level = "loud_master" if level == "loud_master" else "normal"
        for _ in range(_DRAWS):
            if _rms_dbfs(clean) >= DISTORTION_MIN_CONTENT_DBFS - max(GAIN_DB):
                break
            clean, track = pool.draw(rng, SEGMENT)
        else:
            raise ValueError(f"no content above {DISTORTION_MIN_CONTENT_DBFS} dBFS to distort")
    if level == "silence":
        return np.zeros_like(clean), track, level
    if level == "near_silence":  # brought down with its look-alike, in ``render``
        return clean, track, level
    if level == "loud_master":
        return loud_master(clean, rng), track, level
    content = _rms_dbfs(clean)
    gain = 0.0 if rng.random() < NATURAL_LEVEL else _uniform(rng, GAIN_DB)
    if spec.label == "distortion" and content + gain < DISTORTION_MIN_CONTENT_DBFS:
        gain = DISTORTION_MIN_CONTENT_DBFS - content + _uniform(rng, (0.0, 10.0))
    peak = float(np.max(np.abs(clean)))
    if peak > 0:
        gain = min(gain, 20 * np.log10(PEAK_LIMIT / peak))
    return clean * from_db(gain), track, level


def render(pool: ContentPool, spec: SegmentSpec) -> Segment:
    """The segment ``spec`` describes, cut from ``pool``."""
    rng = np.random.default_rng(spec.seed)
    clean, track, level = _content(pool, rng, spec)
    lookalike = spec.lookalike
    if lookalike is None:
        lookalike = str(rng.choice(LOOKALIKES)) if rng.random() < LOOKALIKE else "none"
    x = clean[:, np.newaxis]
    if lookalike in _MADE_HERE:
        x = x + _MADE_HERE[lookalike](rng)[:, np.newaxis]
    elif lookalike != "none":
        x = _lookalike(rng, lookalike).apply(0, x, SAMPLE_RATE)
    peak = float(np.max(np.abs(x)))
    if peak > PEAK_LIMIT:
        x = x * (PEAK_LIMIT / peak)
    if level == "near_silence":  # the whole mix is quiet: drums and bass too, not just content
        x = _at_level(x, _uniform(rng, NEAR_SILENCE_DBFS))
    strength: dict[str, Any] = {"content_dbfs": _rms_dbfs(x), "level": level}
    if spec.label != "none":
        defect, params = DEFECT_MAKERS[spec.label](rng, x[:, 0], dict(spec.fixed))
        x = defect.apply(0, x, SAMPLE_RATE)
        strength.update(params)
    captured = _capture(x, rng)
    return Segment(segment_features(captured), waveform_features(captured),
                   CLASSES.index(spec.label), strength, track.group, track.id,
                   None if lookalike == "none" else lookalike, captured)


def render_scan(pool: ContentPool, spec: ScanSpec) -> Segment:
    """The window ``spec`` names, clean."""
    track = pool.tracks[spec.track]
    clean = track.cut(spec.channel, spec.start, SEGMENT)
    captured = _capture(clean[:, np.newaxis], np.random.default_rng(spec.seed))
    return Segment(segment_features(captured), waveform_features(captured), 0,
                   {"content_dbfs": _rms_dbfs(clean)}, track.group, track.id, None, captured)


def _capture(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A capture path of random floor, hum level and mains frequency; mono result."""
    return captured_audio(
        x, SAMPLE_RATE, rng, start=int(rng.integers(SAMPLE_RATE)),
        floor_dbfs=_uniform(rng, CAPTURE_FLOOR_DBFS), hum_dbfs=_uniform(rng, CAPTURE_HUM_DBFS),
        mains_hz=float(rng.choice(MAINS_HZ)),
    )[:, 0]
