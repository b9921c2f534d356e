"""AudioDropoutDetector on captured audio: dropouts found to the millisecond, look-alikes not.

Both sides are asserted on the same content: a dropout is the capture floor (never digital
zero) cut into speech or music, and the look-alikes (pauses of 0.2-1.2 s, drum breaks, a fade-out,
a quiet passage) reach that same floor by a decay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pydantic import ValidationError

from harness.detectors import create
from harness.detectors.audio.dropout import AudioDropoutDetector, DropoutSettings
from harness.events import Defect
from harness.media import AudioBlock
from tests.audio_content import (
    blocks,
    captured,
    dropout_times,
    fade_out,
    music_like,
    quiet_passage,
    run,
    silencedetect,
    speech_like,
    with_dropout,
)
from tests.media_files import needs_ffmpeg

RATE = 48000
#: Start and end must be this exact (s); the detector resolves a cut to the sample.
TOLERANCE = 0.010


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_like(30, RATE, np.random.default_rng(1), channels=2)


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return music_like(30, RATE, np.random.default_rng(2))


def detect(x: np.ndarray, block: int = 4800, rate: int = RATE, **settings: float) -> list:
    return run(AudioDropoutDetector(DropoutSettings(**settings)), blocks(x, rate, block))


@pytest.mark.parametrize("content", ["speech", "music"])
@pytest.mark.parametrize("seconds", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("block", [4800, 1024])
def test_finds_dropout_on_one_channel(
    request: pytest.FixtureRequest, content: str, seconds: float, block: int
) -> None:
    clean = request.getfixturevalue(content)
    (at,) = dropout_times(clean, RATE, [seconds])
    events = detect(captured(with_dropout(clean, RATE, at, seconds, [1]), RATE), block)
    assert len(events) == 1, [e.describe() for e in events]
    event = events[0]
    assert event.defect is Defect.AUDIO_DROPOUT
    assert event.start == pytest.approx(at, abs=TOLERANCE)
    assert event.end == pytest.approx(at + seconds, abs=TOLERANCE)
    assert event.detail["channels"] == [1] and event.detail["channel"] == 1
    assert -64 < event.detail["level_dbfs"] < -58  # the capture floor, not digital zero
    assert 0.5 <= event.score <= 1.0


def test_several_dropouts_each_exact(speech: np.ndarray) -> None:
    durations = [0.05, 0.2, 1.0]
    truth = list(zip(dropout_times(speech, RATE, durations), durations, strict=True))
    for at, d in truth:
        speech = with_dropout(speech, RATE, at, d)
    events = detect(captured(speech, RATE), 1024)
    assert [(e.start, e.end) for e in events] == [
        (pytest.approx(at, abs=TOLERANCE), pytest.approx(at + d, abs=TOLERANCE))
        for at, d in truth
    ]
    assert all(e.detail["channels"] == [0, 1] for e in events)  # one cut, one event


@pytest.mark.parametrize(
    "name",
    ["speech", "music", "fade_out", "quiet_passage", "floor_-66", "floor_-58", "strong_hum"],
)
def test_look_alikes_not_flagged(name: str, speech: np.ndarray, music: np.ndarray) -> None:
    x = {
        "speech": lambda: captured(speech, RATE),
        "music": lambda: captured(music, RATE),
        "fade_out": lambda: captured(fade_out(music, RATE, 20.0, 3.0), RATE),
        "quiet_passage": lambda: captured(quiet_passage(music, RATE, 8.0, 6.0), RATE),
        "floor_-66": lambda: captured(speech, RATE, floor_dbfs=-66),
        "floor_-58": lambda: captured(speech, RATE, floor_dbfs=-58),
        "strong_hum": lambda: captured(speech, RATE)
        + (10 ** (-55 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 60 * np.arange(len(speech)) / RATE)
           )[:, np.newaxis].astype(np.float32),
    }[name]()
    for block in (4800, 1024):
        events = detect(x, block)
        assert events == [], [e.describe() for e in events]


@pytest.mark.parametrize(("rate", "channels", "lost"), [(44100, 1, 0), (22050, 1, 0),
                                                        (48000, 6, 4), (8000, 2, 0)])
def test_rates_and_layouts(rate: int, channels: int, lost: int) -> None:
    clean = music_like(20, rate, np.random.default_rng(4), channels=channels)
    (at,) = dropout_times(clean, rate, [0.2])
    x = captured(with_dropout(clean, rate, at, 0.2, [lost]), rate)
    events = detect(x, 1024, rate)
    assert [(e.detail["channels"], e.start, e.end) for e in events] == [
        ([lost], pytest.approx(at, abs=TOLERANCE), pytest.approx(at + 0.2, abs=TOLERANCE))
    ]
    assert detect(captured(clean, rate), 1024, rate) == []


def test_capture_gap_is_not_a_dropout() -> None:
    """Lost blocks (a capture overflow) are the pipeline's to count: sound before the gap and a
    pause after it must not be compared as a cut, though re-timed contiguously they would be."""
    clean = fade_out(music_like(12, RATE, np.random.default_rng(5)), RATE, 4.5, 0.5)
    clean[6 * RATE :] = music_like(12, RATE, np.random.default_rng(5))[6 * RATE :]
    x = captured(clean, RATE)
    assert detect(x) == []  # a fade into a pause, then sound again: nothing to report
    (lost_from,) = dropout_times(clean[: int(4.5 * RATE)], RATE, [0.01])
    a, b = round(lost_from * RATE), int(5.5 * RATE)  # from sound into the pause
    gapped = blocks(x[:a], RATE, 4800) + blocks(x[b:], RATE, 4800, start=b)
    assert run(AudioDropoutDetector(), gapped) == []
    retimed = detect(np.concatenate([x[:a], x[b:]]))
    assert [e.start for e in retimed] == [pytest.approx(lost_from, abs=TOLERANCE)]


def test_audio_that_never_returns_is_reported_at_flush(music: np.ndarray) -> None:
    (at,) = dropout_times(music, RATE, [0.5])
    x = captured(with_dropout(music, RATE, at, len(music) / RATE - at), RATE)
    detector = AudioDropoutDetector()
    during = [e for b in blocks(x, RATE, 4800) for e in detector.process(b)]
    assert during == []
    (event,) = detector.flush()
    assert event.start == pytest.approx(at, abs=TOLERANCE)
    assert event.end == pytest.approx(len(x) / RATE, abs=0.002)


def test_evidence_spans_a_second_either_side(music: np.ndarray) -> None:
    (at,) = dropout_times(music, RATE, [0.2])
    x = captured(with_dropout(music, RATE, at, 0.2), RATE)
    (event,) = detect(x, 1024)
    audio = event.evidence.audio
    assert isinstance(audio, AudioBlock) and audio.sample_rate == RATE
    assert audio.time == pytest.approx(event.start - 1.0, abs=0.001)
    assert audio.end_time == pytest.approx(event.end + 1.0, abs=0.03)  # whole blocks
    inside = audio.samples[round((event.start - audio.time) * RATE) + 48 :][: round(0.1 * RATE)]
    assert np.sqrt(np.mean(np.square(inside))) < 10 ** (-55 / 20)


def test_events_wait_only_for_their_evidence(music: np.ndarray) -> None:
    (at,) = dropout_times(music, RATE, [0.2])
    x = captured(with_dropout(music, RATE, at, 0.2), RATE)
    detector = AudioDropoutDetector()
    for block in blocks(x, RATE, 1024):
        if events := detector.process(block):
            assert block.end_time - events[0].end == pytest.approx(1.0, abs=0.03)
            return
    pytest.fail("the dropout was only reported at flush")


def test_clean_file_digital_silence() -> None:
    """On a clean file (no capture path) a dropout is digital zero; pauses are too."""
    clean = speech_like(20, RATE, np.random.default_rng(6))
    (at,) = dropout_times(clean, RATE, [0.2])
    assert detect(clean) == []
    events = detect(with_dropout(clean, RATE, at, 0.2))
    assert [(e.start, e.end) for e in events] == [
        (pytest.approx(at, abs=0.001), pytest.approx(at + 0.2, abs=0.001))
    ]


def test_settings_have_units_and_limits() -> None:
    detector = create("audio_dropout", {"min_duration_s": 0.1, "edge_drop_db": 20})
    assert isinstance(detector, AudioDropoutDetector)
    assert detector.settings.min_duration_s == 0.1
    for bad in ({"min_duration_s": 0}, {"edge_s": 1.0}, {"edge_drop_db": -3}, {"typo": 1}):
        with pytest.raises(ValidationError):
            DropoutSettings(**bad)
    fields = DropoutSettings.model_fields
    assert all(f.description and "(" in f.description for n, f in fields.items() if n != "enabled")


@needs_ffmpeg
def test_at_least_as_exact_as_ffmpeg_silencedetect(tmp_path: Path, music: np.ndarray) -> None:
    """FFmpeg silencedetect, given its best settings for a -62 dBFS floor (-45 dB, per channel),
    against ours on the same WAV: every dropout found, no larger errors, no more false alarms."""
    durations = [0.05, 0.2, 1.0]
    truth = list(zip(dropout_times(music, RATE, durations), durations, strict=True))
    x = music
    for at, d in truth:
        x = with_dropout(x, RATE, at, d)
    x = captured(x, RATE)
    path = tmp_path / "dropouts.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    theirs = silencedetect(path, -45, 0.02)
    ours = [(e.start, e.end) for e in detect(sf.read(path, dtype="float32")[0], 1024)]

    def score(found: list[tuple[float, float]]) -> tuple[float, int, int]:
        errors, hits = [], 0
        for at, d in truth:
            match = [f for f in found if f[0] < at + d and at < f[1]]
            hits += bool(match)
            errors += [max(abs(f[0] - at), abs(f[1] - at - d)) for f in match[:1]]
        false = [f for f in found if not any(f[0] < a + d and a < f[1] for a, d in truth)]
        return max(errors, default=np.inf), hits, len(false)

    our_error, our_hits, our_false = score(ours)
    their_error, their_hits, their_false = score(theirs)
    assert our_hits == len(truth) >= their_hits
    assert our_error <= max(their_error, 0.001)
    assert our_false == 0 <= their_false
