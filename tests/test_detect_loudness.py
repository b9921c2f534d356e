"""LoudnessDetector: a streaming BS.1770-4 meter that agrees with pyloudnorm and EBU Tech 3341,
flags programmes off target and stretches too loud, and leaves compliant ones alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from pydantic import ValidationError

from harness.detectors import create
from harness.detectors.audio.loudness import LoudnessDetector, LoudnessSettings
from harness.events import Defect
from harness.media import AudioBlock
from harness.profiles import Expected, load_profile
from tests.audio_content import (
    at_loudness,
    blocks,
    captured,
    ebur128,
    music_like,
    run,
    sine,
    speech_like,
)
from tests.media_files import needs_ffmpeg


def measure(x: np.ndarray, rate: int, block: int = 4800, **settings: float) -> tuple:
    """(integrated LUFS, LRA, events) of a stream cut into ``block``-sample blocks."""
    detector = LoudnessDetector(LoudnessSettings(**settings))
    events = run(detector, blocks(x, rate, block))
    return (*detector.integrated(), events)


def signal(name: str, rate: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return captured({
        "speech": lambda: speech_like(15, rate, rng, channels=2),
        "music": lambda: music_like(15, rate, rng),
        "mono_music": lambda: music_like(12, rate, rng, channels=1),
        "noise_5ch": lambda: (0.05 * rng.standard_normal((12 * rate, 5))).astype(np.float32),
    }[name](), rate)


@pytest.mark.parametrize(
    ("name", "rate"),
    [("speech", 48000), ("music", 44100), ("music", 22050), ("mono_music", 48000),
     ("noise_5ch", 48000)],
)
def test_matches_pyloudnorm(name: str, rate: int) -> None:
    """To 0.01 LU against pyloudnorm's meter with the same (BS.1770-exact) filters, to 0.1 LU
    against its default filters, whatever the block size."""
    x = signal(name, rate).astype(np.float64)
    same_filters = pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(x)
    default = pyloudnorm.Meter(rate).integrated_loudness(x)
    for block in (4800, 1024, 777, len(x)):
        integrated, _, _ = measure(x, rate, block)
        assert integrated == pytest.approx(same_filters, abs=0.01), f"block {block}"
        assert integrated == pytest.approx(default, abs=0.1), f"block {block}"


@pytest.mark.parametrize(
    ("segments", "expected"),
    [([(20, -23.0)], -23.0), ([(10, -36.0), (60, -23.0), (10, -36.0)], -23.0),
     ([(20, -33.0)], -33.0)],
)
def test_ebu_tech_3341_signals(segments: list[tuple[float, float]], expected: float) -> None:
    """Tech 3341 cases 1, 3 (the gates drop the -36 dBFS parts) and 2: 1 kHz stereo sines."""
    x = np.concatenate([sine(seconds, 48000, level) for seconds, level in segments])
    integrated, _, _ = measure(x, 48000)
    assert integrated == pytest.approx(expected, abs=0.1)


def test_flags_programme_six_lu_too_loud() -> None:
    x = captured(at_loudness(music_like(30, 48000, np.random.default_rng(8)), 48000, -17.0), 48000)
    _, _, events = measure(x, 48000, 1024)
    (integrated,) = [e for e in events if e.detail["kind"] == "integrated"]
    assert integrated.defect is Defect.LOUDNESS
    assert integrated.detail["integrated_lufs"] == pytest.approx(-17.0, abs=0.1)
    assert integrated.detail["deviation_lu"] == pytest.approx(6.0, abs=0.1)
    assert (integrated.start, integrated.end) == (0.0, pytest.approx(30.0, abs=0.001))
    assert integrated.score == 1.0 and integrated.detail["lra"] is not None
    too_loud = [e for e in events if e.detail["kind"] == "short_term"]
    assert sum(e.duration for e in too_loud) > 10  # all but the drum breaks: over target + 5 LU


@pytest.mark.parametrize("content", [speech_like, music_like])
@pytest.mark.parametrize("lufs", [-24.5, -21.5])
def test_compliant_programme_not_flagged(content, lufs: float) -> None:
    x = at_loudness(content(20, 48000, np.random.default_rng(9), channels=2), 48000, lufs)
    _, _, events = measure(captured(x, 48000), 48000)
    assert events == [], [e.describe() for e in events]


def test_flags_programme_too_quiet() -> None:
    x = at_loudness(speech_like(20, 48000, np.random.default_rng(10)), 48000, -31.0)
    _, _, events = measure(captured(x, 48000), 48000)
    assert [round(e.detail["deviation_lu"]) for e in events] == [-8]


def test_short_term_excess_is_its_own_event() -> None:
    """A 3 s advert 8 LU over a -23 LUFS programme: integrated still within 2 LU, the advert
    reported for its stretch (3 s windows smear its edges by up to 1.5 s)."""
    rate = 48000
    programme = at_loudness(speech_like(40, rate, np.random.default_rng(11), 2), rate, -23.0)
    advert = at_loudness(music_like(3, rate, np.random.default_rng(12)), rate, -15.0)
    programme[20 * rate : 23 * rate] = advert
    x = captured(programme, rate)
    integrated, _, events = measure(x, rate)
    assert abs(integrated + 23) < 2
    (event,) = events
    assert event.detail["kind"] == "short_term"
    assert event.start == pytest.approx(20.0, abs=1.5) and event.end == pytest.approx(23.0, abs=1.5)
    assert event.detail["short_term_max_lufs"] > -18
    assert measure(x, rate, short_term_excess_lu=10.0)[2] == []


def test_summary_reports_the_loudness_of_a_compliant_programme() -> None:
    x = captured(at_loudness(music_like(12, 48000, np.random.default_rng(15)), 48000, -23), 48000)
    detector = LoudnessDetector()
    assert detector.summary() is None
    assert run(detector, blocks(x, 48000, 4800)) == []
    summary = detector.summary()["loudness"]
    assert summary["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert summary["target_lufs"] == -23.0 and summary["programme_s"] == 12.0
    assert summary["lra"] is not None


def test_short_programme_has_no_integrated_verdict() -> None:
    x = captured(sine(5, 48000, -10.0), 48000)
    _, _, events = measure(x, 48000, min_excess_s=10.0)
    assert events == []


def test_silence_and_floor_only() -> None:
    """Digital silence has no integrated loudness (all gated out); a capture floor alone is far
    too quiet. Both fail the target."""
    silent = np.zeros((15 * 48000, 2), np.float32)
    (event,) = measure(silent, 48000)[2]
    assert event.detail["integrated_lufs"] is None and event.score == 1.0
    (event,) = measure(captured(silent, 48000), 48000)[2]
    assert event.detail["integrated_lufs"] < -50


def test_lost_audio_is_not_measured() -> None:
    rate = 48000
    x = signal("music", rate)
    items = blocks(x, rate, 4800)
    kept = items[:60] + items[90:]
    detector = LoudnessDetector()
    events = run(detector, kept)
    remaining = np.concatenate([b.samples for b in kept]).astype(np.float64)
    assert detector.integrated()[0] == pytest.approx(
        pyloudnorm.Meter(rate).integrated_loudness(remaining), abs=0.1)
    (event,) = [e for e in events if e.detail["kind"] == "integrated"]
    assert event.end == pytest.approx(len(x) / rate) and event.detail["programme_s"] == 12.0


def test_memory_does_not_grow_with_the_programme() -> None:
    """A minute in 100 ms blocks: the meter keeps 8 bytes per 100 ms, never samples."""
    rate, block = 48000, np.random.default_rng(13).normal(0, 0.05, (4800, 2)).astype(np.float32)
    detector = LoudnessDetector()
    for i in range(600):
        detector.process(AudioBlock(block, rate, i * 4800))
    held = sum(v.nbytes for v in vars(detector).values() if isinstance(v, np.ndarray))
    assert held < 64 * 1024
    reference = pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(
        np.tile(block, (50, 1)).astype(np.float64))
    assert detector.integrated()[0] == pytest.approx(reference, abs=0.01)


def test_settings_and_profile_target() -> None:
    profile = load_profile("sim01")
    assert profile.detector_settings("loudness").target_lufs == -23
    atsc = profile.model_copy(update={"expected": Expected(loudness_lufs=-24.0)})
    settings = atsc.detector_settings("loudness")
    assert settings.target_lufs == -24.0
    detector = create("loudness", settings)
    assert isinstance(detector, LoudnessDetector)
    for bad in ({"tolerance_lu": 0}, {"min_programme_s": -1}, {"target": -23}):
        with pytest.raises(ValidationError):
            LoudnessSettings(**bad)


@needs_ffmpeg
@pytest.mark.parametrize("case", ["steady", "gated"])
def test_at_least_as_exact_as_ffmpeg_ebur128(tmp_path: Path, case: str) -> None:
    """The same WAV through FFmpeg ebur128 and ours. 997 Hz is BS.1770's calibration frequency
    (K-weighting +0.691 dB), so a -23 dBFS sine is -23.000 LUFS by definition; the gated case is
    Tech 3341 #3 (-36/-23/-36 dBFS), -23.0 +-0.1."""
    rate = 48000
    x = sine(20, rate, -23, hz=997)
    if case == "gated":
        x = np.concatenate([sine(10, rate, -36, hz=997), sine(60, rate, -23, hz=997),
                            sine(10, rate, -36, hz=997)])
    path = tmp_path / f"{case}.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    theirs, _ = ebur128(path)
    ours, _, _ = measure(sf.read(path, dtype="float32")[0], rate)
    assert abs(ours + 23) <= abs(theirs + 23)
    assert abs(ours + 23) <= (0.001 if case == "steady" else 0.1)
