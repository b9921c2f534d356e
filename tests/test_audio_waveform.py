"""The audio classifier's waveform statistics: each cue moves for its defect and stays put for
the look-alike next to it (a drum hit beside a click, a bass note 3 % off the mains beside hum),
whatever the channel layout; digital silence gives finite values."""

from __future__ import annotations

import numpy as np
import pytest

from harness.detectors.audio.waveform import NAMES, SIZE, waveform_features
from harness.impairments.audio import Clicks, Distortion, Hum
from harness.impairments.audio_lookalikes import Percussion
from tests.audio_content import captured, music_like, sine, speech_like

RATE = 48_000


def _statistics(x: np.ndarray) -> dict[str, float]:
    """Named statistics of the first channel of ``x`` through a capture path."""
    return dict(zip(NAMES, waveform_features(captured(x, RATE)[:, 0]).tolist(), strict=True))


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return music_like(1, RATE, np.random.default_rng(0))


def test_shape_per_channel_and_silence() -> None:
    stereo = (np.random.default_rng(1).standard_normal((RATE, 2)) * 0.1).astype(np.float32)
    both = waveform_features(stereo)
    assert both.shape == (2, SIZE) == (2, len(NAMES))
    np.testing.assert_allclose(both[1], waveform_features(stereo[:, 1]), atol=1e-6)
    silence = waveform_features(np.zeros(RATE, np.float32))
    assert np.isfinite(silence).all()
    with pytest.raises(ValueError, match="48000 samples"):
        waveform_features(np.zeros(RATE - 1))


def test_clipping_piles_samples_up_below_the_peak(music: np.ndarray) -> None:
    clean = _statistics(music)
    # upstream: clipped at half the content's peak, at unit gain; overs: 12 dB into full scale
    limit = float(np.abs(music).max()) / 2
    upstream = _statistics(Distortion(0, 1, kind="hard", gain_db=0.0, threshold=limit)
                           .apply(0, music, RATE))
    overs = _statistics(Distortion(0, 1, kind="hard", gain_db=12.0, threshold=0.9)
                        .apply(0, music, RATE))
    for band in ("share<0.5dB", "share<1dB"):
        assert upstream[band] > clean[band] + 0.5
    for band in ("share<0.02dB", "share<0.05dB", "share<0.1dB"):
        assert overs[band] > clean[band] + 0.8


def test_clicks_stand_out_in_the_second_difference() -> None:
    for content in (sine(1, RATE, -20.0), speech_like(1, RATE, np.random.default_rng(4), 2)):
        clean = _statistics(content)
        clicks = _statistics(Clicks(0, 1, per_second=4, amplitude=0.3).apply(0, content, RATE))
        drums = _statistics(Percussion(0, 1, level_dbfs=-18).apply(0, content, RATE))
        for rank in ("impulse#1", "impulse#2", "impulse#4"):
            assert clicks[rank] > clean[rank] + 0.3
            assert clicks[rank] > drums[rank] + 0.2


def test_hum_lines_stand_apart_from_a_bass_note_three_percent_off(music: np.ndarray) -> None:
    clean = _statistics(music)
    hum = _statistics(Hum(0, 1, level_dbfs=-40, mains_hz=50).apply(0, music, RATE))
    t = np.arange(RATE) / RATE
    note = 0.01 * sum(10 ** (-6 * k / 20) * np.sin(2 * np.pi * 51.6 * k * t) for k in range(1, 7))
    bass = _statistics(music + note[:, np.newaxis].astype(np.float32))
    for harmonic in ("prominence50x2", "prominence50x3"):
        assert hum[harmonic] > clean[harmonic] + 0.2
        assert abs(bass[harmonic] - clean[harmonic]) < 0.05
    assert abs(hum["prominence60x2"] - clean["prominence60x2"]) < 0.05
