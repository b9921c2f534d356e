"""Steady mains lines (``harness.detectors.audio.mains_lines``): hum found by lines held on the
mains harmonics for four seconds, on both sides -- hum of each shape found, on the channel it is
on, and held notes off the mains, notes re-struck on it, a lone high harmonic, speech, music and
hum below the class not taken for hum.

Content is made here (``tests/audio_content.py``, the impairment simulator); every signal goes
through the capture path, whose own hum (-70 dBFS at 50 Hz) must never count.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.detectors.audio.features import SAMPLE_RATE
from harness.detectors.audio.mains_lines import (
    HUM_BELOW_CONTENT_DB,
    HUM_MIN_DBFS,
    SPAN_S,
    MainsHum,
    SteadyMainsLines,
)
from harness.impairments.audio import Hum
from tests.audio_content import captured, music_like, speech_like

RATE = SAMPLE_RATE
SECONDS = 8


def measure(x: np.ndarray, block: int = 24000) -> list[MainsHum | None]:
    """Feed ``x`` (frames, channels) in ``block``-sample pieces; the hum of its last 4 s."""
    lines = SteadyMainsLines(x.shape[1])
    for start in range(0, len(x), block):
        lines.push(x[start : start + block])
    result = lines.hum(len(x) // RATE * RATE)
    assert result is not None
    return result


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_like(SECONDS, RATE, np.random.default_rng(4), channels=2)


def _with_hum(x: np.ndarray, level_dbfs: float, mains_hz: float, harmonics_db: tuple = (),
              channels: list[int] | None = None) -> np.ndarray:
    hum = Hum(0.0, SECONDS, 1, level_dbfs=level_dbfs, mains_hz=mains_hz,
              harmonics_db=harmonics_db, channels=channels)
    return captured(hum.apply(0, x, RATE), RATE)


def test_a_pure_mains_sine_under_speech_is_hum(speech: np.ndarray) -> None:
    # the hum the classifier never finds (models/audio_artifacts.md): one line, no harmonics
    found = measure(_with_hum(speech, -40.0, 50.1))
    for hum in found:
        assert hum is not None
        assert hum.mains_hz == pytest.approx(50.1, abs=0.05)
        assert hum.harmonics == (1,)
        assert hum.level_dbfs == pytest.approx(-40.0, abs=1.0)


def test_rectifier_buzz_without_its_fundamental_is_hum_on_its_mains(speech: np.ndarray) -> None:
    # a full-wave rectifier: twice the mains (119.8 Hz) and its harmonics, nothing at 59.9 Hz
    (hum, _) = measure(_with_hum(speech, -38.0, 2 * 59.9, (-8.0, -14.0)))
    assert hum is not None
    assert hum.mains_hz == pytest.approx(59.9, abs=0.05)
    assert 2 in hum.harmonics and 1 not in hum.harmonics


def test_hum_on_one_channel_is_found_on_that_channel_only(speech: np.ndarray) -> None:
    found = measure(_with_hum(speech, -40.0, 60.0, (-6.0, -10.0), channels=[1]))
    assert found[0] is None
    assert found[1] is not None and found[1].mains_hz == pytest.approx(60.0, abs=0.05)


def _tone(fundamental: float, harmonics: int = 4, level_dbfs: float = -25.0) -> np.ndarray:
    t = np.arange(SECONDS * RATE) / RATE
    x = sum(np.sin(2 * np.pi * k * fundamental * t) / k for k in range(1, harmonics + 1))
    x *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(np.square(x)))
    return np.repeat(x[:, np.newaxis], 2, axis=1).astype(np.float32)


def _restruck(fundamental: float, every_s: float, decay_s: float) -> np.ndarray:
    """A note struck again and again (each time at a phase of its own), decaying in between:
    a plucked bass or a piano on the mains. Struck every second or faster, it reads as steady
    (docs/audio_artifacts.md, limits); this one is struck every ``every_s``."""
    t = np.arange(SECONDS * RATE) / RATE
    strike = (t // every_s).astype(int)
    phase = np.random.default_rng(1).uniform(0, 2 * np.pi, strike.max() + 1)[strike]
    x = sum(np.sin(k * (2 * np.pi * fundamental * t + phase)) / k for k in (1, 2, 3))
    x *= np.exp(-(t % every_s) / decay_s)
    x *= 10 ** (-25 / 20) / np.sqrt(np.mean(np.square(x)))
    return np.repeat(x[:, np.newaxis], 2, axis=1).astype(np.float32)


@pytest.mark.parametrize("content", [
    "speech",
    "music",
    "held note 2.5 % above 50 Hz",
    "held note 2.5 % below 60 Hz",
    "held note 1.5 % below 60 Hz",
    "held note on 150 Hz alone",
    "note re-struck on 100 Hz",
    "hum below the class",
    "hum masked by content",
])
def test_lookalikes_and_hum_outside_the_class_are_not_hum(speech: np.ndarray,
                                                          content: str) -> None:
    x = {
        "speech": lambda: captured(speech, RATE),
        "music": lambda: captured(music_like(SECONDS, RATE, np.random.default_rng(3)), RATE),
        # a drone: steady and narrow, but not on the mains
        "held note 2.5 % above 50 Hz": lambda: captured(_tone(50 * 1.025) + speech, RATE),
        "held note 2.5 % below 60 Hz": lambda: captured(_tone(60 * 0.975) + speech, RATE),
        # closer: its peak lies outside the tolerance, but its flank reaches into the band
        "held note 1.5 % below 60 Hz": lambda: captured(_tone(60 * 0.985) + speech, RATE),
        # on the mains, steady, but the third harmonic alone is no hum pattern
        "held note on 150 Hz alone": lambda: captured(_tone(150.0, harmonics=1) + speech, RATE),
        # on the mains, but its level falls and jumps: not steady
        "note re-struck on 100 Hz": lambda: captured(_restruck(100.0, 1.5, 0.4) + speech, RATE),
        "hum below the class": lambda: _with_hum(speech, HUM_MIN_DBFS - 6, 50.0),
        "hum masked by content": lambda: _with_hum(
            speech * 10 ** (6 / 20), -14 - HUM_BELOW_CONTENT_DB - 6, 50.0),
    }[content]()
    assert measure(x) == [None, None]


def test_the_answer_does_not_depend_on_how_the_audio_is_cut(speech: np.ndarray) -> None:
    x = _with_hum(speech, -44.0, 50.0, (-10.0, -6.0))
    assert measure(x, block=1024) == measure(x, block=RATE) == measure(x, block=7 * 1000 + 3)


def test_no_answer_before_the_span_is_fed_or_after_it_is_dropped(speech: np.ndarray) -> None:
    lines = SteadyMainsLines(2)
    lines.push(_with_hum(speech, -40.0, 50.0))
    assert lines.hum((SPAN_S - 1) * RATE) is None  # not four seconds in yet
    assert lines.hum(SECONDS * RATE + RATE) is None  # not fed yet
    assert lines.hum(SECONDS * RATE) is not None
