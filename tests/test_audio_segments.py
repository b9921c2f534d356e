"""The audio classifier's training simulator (``training/audio_segments.py``): the defect shapes
learnt from real faults made another way (full-scale overs, hum patterns, buffer slips) and the
loud master that must stay ``none``."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

pytest.importorskip("torch")  # the training extra

from harness.corpus import CorpusItem, Manifest  # noqa: E402
from harness.impairments.audio import from_db  # noqa: E402
from tests.audio_content import music_like  # noqa: E402
from training.audio_content import content_pool, corpus_tracks, heldout_tracks  # noqa: E402
from training.audio_segments import (  # noqa: E402
    CLASSES,
    DEFECT_MAKERS,
    LOUD_MASTER_CEILING_DBFS,
    OVERS_CEILING_DBFS,
    BufferSlips,
    SegmentSpec,
    loud_master,
    render,
)

RATE = 48000


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    """One second of generated pop-like music, mono, peaking near -6 dBFS."""
    x = music_like(2.0, RATE, np.random.default_rng(0))[RATE // 2:RATE // 2 + RATE, 0]
    return x * (0.5 / np.max(np.abs(x)))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _at_peak(x: np.ndarray) -> int:
    """Samples within 0.01 dB of the peak: a flat top is many of them."""
    return int(np.sum(np.abs(x) >= np.max(np.abs(x)) * from_db(-0.01)))


def _make(label: str, clean: np.ndarray, seed: int, **fixed: object) -> tuple[object, dict]:
    return DEFECT_MAKERS[label](np.random.default_rng(seed), clean, dict(fixed))


def test_a_loud_master_is_louder_but_never_clipped(song: np.ndarray) -> None:
    mastered = loud_master(song, np.random.default_rng(0))
    assert np.max(np.abs(mastered)) <= from_db(max(LOUD_MASTER_CEILING_DBFS)) + 1e-9
    assert _rms(mastered) > 2 * _rms(song)  # more than 6 dB louder
    clipped = np.clip(song * (np.max(np.abs(mastered)) / np.max(np.abs(song)) * 4),
                      -np.max(np.abs(mastered)), np.max(np.abs(mastered)))
    assert _at_peak(mastered) < 10 < 100 < _at_peak(clipped)


def test_overs_clip_flat_at_full_scale_and_come_out_louder(song: np.ndarray) -> None:
    overs, params = _make("distortion", song, 1, kind="overs", drive_db=0.0)
    out = overs.apply(0, song[:, np.newaxis], RATE)[:, 0]
    assert params["kind"] == "overs"
    assert from_db(min(OVERS_CEILING_DBFS)) - 1e-6 <= np.max(np.abs(out)) <= 1.0
    assert _at_peak(out) > 0.01 * RATE  # flat tops: at least 1 % of the second at the ceiling
    assert _rms(out) > 2 * _rms(song)


@pytest.mark.parametrize("kind", ["hard", "soft", "overdrive"])
def test_clipped_upstream_keeps_unit_gain(song: np.ndarray, kind: str) -> None:
    distortion, _ = _make("distortion", song, 2, kind=kind, drive_db=0.0)
    out = distortion.apply(0, song[:, np.newaxis], RATE)[:, 0]
    assert np.all(np.abs(out) <= np.abs(song) + 1e-6)  # never louder, sample by sample
    assert np.any(np.abs(out) < np.abs(song) * from_db(-1.0))  # but cut


def test_buffer_slips_replay_the_last_samples_and_keep_the_length() -> None:
    x = np.arange(100.0)
    slipped = BufferSlips(onsets=(10, 50), lengths=(3, 5)).apply(0, x, RATE)
    expected = np.concatenate([x[:10], x[7:10], x[10:50], x[45:50], x[50:]])[:100]
    np.testing.assert_array_equal(slipped, expected)


def test_slips_step_the_waveform_at_least_by_its_rms(song: np.ndarray) -> None:
    slips, params = _make("clicks", song, 3, kind="slip", per_second=5)
    assert params["kind"] == "slip" and isinstance(slips, BufferSlips)
    for onset, length in zip(slips.onsets, slips.lengths, strict=True):
        assert abs(song[onset - 1] - song[onset - length]) >= _rms(song)
        assert RATE * 0.001 - 1 <= length <= RATE * 0.005 + 1


def test_slips_in_a_quiet_passage_become_clicks(song: np.ndarray) -> None:
    quiet = song * from_db(-40)
    clicks, params = _make("clicks", quiet, 4, kind="slip")
    assert params["kind"] == "impulse" and not isinstance(clicks, BufferSlips)


def _hum_spectrum(pattern: str) -> tuple[np.ndarray, float]:
    hum, params = _make("hum", np.zeros(RATE), 5, pattern=pattern, level_dbfs=-30.0)
    out = hum.apply(0, np.zeros((RATE, 1)), RATE)[:, 0]
    return np.abs(np.fft.rfft(out)), params["mains_hz"]  # 1 Hz bins


@pytest.mark.parametrize("pattern", ["random", "odd", "rectified", "rich"])
def test_hum_patterns_have_their_harmonics(pattern: str) -> None:
    spectrum, mains = _hum_spectrum(pattern)

    def level(harmonic: int) -> float:
        centre = round(harmonic * mains)
        return float(np.max(spectrum[centre - 3:centre + 4]))

    loudest = max(level(k) for k in range(1, 13))
    if pattern == "odd":
        assert max(level(2), level(4), level(6)) < 0.01 * loudest
    if pattern == "rectified":
        assert level(1) < 0.01 * loudest and level(2) > 0.1 * loudest
    if pattern == "rich":
        assert max(level(k) for k in range(7, 13)) > 0.02 * loudest
    else:
        assert max(level(k) for k in range(7, 13) if k % 2) < 0.01 * loudest


def test_every_class_renders_from_generated_content() -> None:
    pool = content_pool("train", None)
    segments = [render(pool, SegmentSpec(label, seed)) for label in CLASSES for seed in range(4)]
    assert [CLASSES[s.label] for s in segments] == [c for c in CLASSES for _ in range(4)]
    assert all(np.all(np.isfinite(s.features)) for s in segments)


def test_training_only_audio_joins_the_pool_only_when_asked(tmp_path) -> None:
    """A model trained before other games' music was added is reproduced by its own command:
    the training-only groups are left out unless ``--extra-content`` asks for them; the
    held-out-only music never joins a pool, and is read on its own (``heldout_tracks``: scanned
    for false alarms and, where asked, calibration, never trained on)."""
    (tmp_path / "audio").mkdir()
    items = []
    for sid, group in (("wesnoth-a", "music"), ("hedgewars-b", "extra_music"),
                       ("supertux-c", "heldout_music")):
        soundfile.write(tmp_path / "audio" / f"{sid}.flac", np.zeros((4800, 2), np.int16), 48000)
        items.append(CorpusItem(id=sid, source=sid, kind="audio", path=f"audio/{sid}.flac",
                                split="train", group=group, source_package="p",
                                package_version="1", licence="GPL-2+", licence_note="",
                                tags=("music",), duration=0.1, sample_rate=48000, channels=2))
    Manifest(items=items).save(tmp_path / "manifest.json")
    assert [t.id for t in corpus_tracks(tmp_path, "train")] == ["wesnoth-a"]
    both = content_pool("train", tmp_path, extra_content=True)
    assert {"wesnoth-a", "hedgewars-b"} <= {t.id for t in both.tracks}
    assert "supertux-c" not in {t.id for t in both.tracks}
    assert "extra_music" in both.groups
    assert [(t.id, t.group) for t in heldout_tracks(tmp_path, "train")] == [
        ("supertux-c", "heldout_music")]
    assert heldout_tracks(tmp_path, "val") == []
