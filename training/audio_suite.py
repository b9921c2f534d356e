"""The audio artifact test suite's cases as numbers, and as bounds on threshold calibration.

``tests/test_audio_artifacts.py`` asserts, at the shipped thresholds, that made-up clean content
(music, speech, generated sound, silence, near-silence) and creative look-alikes (percussion,
distorted guitar, applause over music, a loud limited master) are never flagged, and that each
defect over music and speech is found. Calibration on the corpus holds each clean validation set
to a false-alarm budget, but a budget is a share: a look-alike nobody recorded can sit just above
a threshold in every window and still be within it elsewhere. Model 5 (docs/audio_artifacts.md)
read the suite's applause as hum at 0.976 against a calibrated 0.97. So calibration takes every
clean case's most defect-like window as a floor: a class's threshold lies above the largest
probability of that class in any window of any clean case (``lower_bounds``). The suite then
checks that the selection held; the held-out test split and the defects made another way stay
independent of it.

Must-find cases bound nothing (calibration only ever raises a threshold to meet a budget, and the
steady mains lines find hum the model misses); their margins are measured and reported. Known
misses of the shipped model (``KNOWN_MISSES``) are measured and bound nothing either: a
constraint no model meets would leave no threshold at all.

The content is the tests' own (``tests/audio_content.py``): six seconds at the model's rate,
through the capture path's floor and hum.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from harness.detectors.audio.features import SAMPLE_RATE, SEGMENT, SEGMENT_HOP, segment_features
from harness.detectors.audio.waveform import waveform_features
from harness.impairments.audio import AudioImpairment, Clicks, Distortion, Hiss, Hum
from harness.impairments.audio_lookalikes import Applause, DistortedGuitar, Percussion
from harness.simulation.content import GeneratedSound
from tests.audio_content import FFMPEG, captured, music_like, speech_like

RATE = SAMPLE_RATE
SECONDS = 6


def music() -> np.ndarray:
    """The suite's music: drums, bass and pad with sparse breaks (stereo, -18 dBFS)."""
    return music_like(SECONDS, RATE, np.random.default_rng(3))


def speech() -> np.ndarray:
    """The suite's speech: phrases of syllables and fricatives with pauses (stereo, -20 dBFS)."""
    return speech_like(SECONDS, RATE, np.random.default_rng(4), channels=2)


def _lookalike(kind: type, clean: np.ndarray) -> np.ndarray:
    return kind(0.0, SECONDS, 7, level_dbfs=-24.0).apply(0, clean, RATE)


def loud_master(x: np.ndarray) -> np.ndarray:
    """``x`` mastered loud by FFmpeg: +12 dB into a -1 dBFS brickwall limiter (``alimiter``),
    a limiter the training simulator does not use."""
    if FFMPEG is None:
        raise RuntimeError("the loud-master case needs ffmpeg on PATH (./setup.sh installs it)")
    with tempfile.TemporaryDirectory() as directory:
        source, mastered = Path(directory) / "clean.wav", Path(directory) / "mastered.wav"
        soundfile.write(source, x, RATE, subtype="FLOAT")
        subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-af",
                        "volume=12dB,alimiter=limit=0.891:level=0", "-c:a", "pcm_f32le",
                        str(mastered)], check=True)
        return soundfile.read(mastered, dtype="float32")[0]


#: The clean cases: name -> the programme (before the capture path). None may be flagged.
CLEAN: dict[str, Callable[[], np.ndarray]] = {
    "music": music,
    "speech": speech,
    # seed 12: none of the training splits' generated content
    "generated": lambda: GeneratedSound(RATE, 2, 12, gain=0.5).samples(0, SECONDS * RATE),
    "silence": lambda: np.zeros_like(music()),
    "near_silence": lambda: music() * 10 ** (-30 / 20),
    "percussion": lambda: _lookalike(Percussion, music() * 0.3),
    "distorted_guitar": lambda: _lookalike(DistortedGuitar, music() * 0.3),
    "applause": lambda: _lookalike(Applause, music() * 0.3),
    "loud_master": lambda: loud_master(music()),
}


def _clipping(x: np.ndarray, drive_db: float) -> Distortion:
    """Hard clipping at a limit ``drive_db`` below the content's RMS."""
    limit = np.sqrt(np.mean(np.square(x))) * 10 ** (-drive_db / 20)
    return Distortion(2.0, 2.5, 1, kind="hard", gain_db=0.0, threshold=limit)


#: The defects the suite must find, 2.0-4.5 s into the content: name -> (class, impairment).
DEFECT_CASES: dict[str, tuple[str, Callable[[np.ndarray], AudioImpairment]]] = {
    "hum": ("hum", lambda x: Hum(2.0, 2.5, 1, level_dbfs=-40.0, mains_hz=60.0)),
    "hiss": ("hiss", lambda x: Hiss(2.0, 2.5, 1, level_dbfs=-38.0)),
    "distortion": ("distortion", lambda x: _clipping(x, -3.0)),
    # digital overs: 18 dB of gain into full scale, flat tops at 0 dBFS
    "overs": ("distortion",
              lambda x: Distortion(2.0, 2.5, 1, kind="hard", gain_db=18.0, threshold=1.0)),
    "clicks": ("clicks", lambda x: Clicks(2.0, 2.5, 1, per_second=6, amplitude=0.5)),
}
CONTENT: dict[str, Callable[[], np.ndarray]] = {"music": music, "speech": speech}

#: Cases the shipped model fails (the tests mark them strict xfail, so a model that passes one
#: turns its test red until it is taken off this list): measured, never a bound.
KNOWN_MISSES = frozenset({
    "music+hum",  # -40 dBFS, 22 dB under the music: 0.957 at most, below the hum threshold
    "speech+distortion",  # found in its first second only, not through the pauses
    # clipping 3 dB above the music's RMS: one window of the four inside reaches the distortion
    # threshold (0.965 against 0.95; the others 0.87-0.90), so it is found from 3.0 s, not 2.0
    "music+distortion",
})


def defective(content: str, defect: str) -> np.ndarray:
    """``content`` with ``defect`` on channel 1 from 2.0 to 4.5 s (before the capture path)."""
    clean = CONTENT[content]()
    return DEFECT_CASES[defect][1](clean).apply(0, clean, RATE)


@dataclass(frozen=True)
class CaseResult:
    """A case's most defect-like window under one model: the largest probability of each class
    over every window and channel (``classes`` order)."""

    name: str
    expect: str  # "none", or the class the suite must find
    known_miss: bool
    largest: np.ndarray


def window_probabilities(model: Callable[[dict[str, np.ndarray]], np.ndarray],
                         inputs: tuple[str, str], x: np.ndarray) -> np.ndarray:
    """(windows * channels, classes): every 1-s window of every channel of ``x`` at the
    detector's hop, classified the way the detector does (features as the tests check they
    match)."""
    starts = range(0, len(x) - SEGMENT + 1, SEGMENT_HOP)
    segments = [x[s : s + SEGMENT, c] for s in starts for c in range(x.shape[1])]
    feeds = {inputs[0]: np.stack([segment_features(s) for s in segments]),
             inputs[1]: np.stack([waveform_features(s) for s in segments])}
    return model(feeds)


def suite_results(model: Callable[[dict[str, np.ndarray]], np.ndarray],
                  inputs: tuple[str, str]) -> list[CaseResult]:
    """Every case of the suite under ``model`` (feeds -> probabilities)."""
    programmes = [(name, "none", name in KNOWN_MISSES, make) for name, make in CLEAN.items()]
    programmes += [(f"{content}+{defect}", label, f"{content}+{defect}" in KNOWN_MISSES,
                    lambda c=content, d=defect: defective(c, d))
                   for content in CONTENT for defect, (label, _) in DEFECT_CASES.items()]
    return [CaseResult(name, expect, miss,
                       window_probabilities(model, inputs, captured(make(), RATE)).max(axis=0))
            for name, expect, miss, make in programmes]


def lower_bounds(results: list[CaseResult]) -> np.ndarray:
    """Per class, the largest probability any clean case that is not a known miss reached: a
    threshold must lie above it (the detector flags at ``>=``)."""
    clean = [r.largest for r in results if r.expect == "none" and not r.known_miss]
    return np.max(clean, axis=0)
