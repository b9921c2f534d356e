"""`harness simulate`: exact, reproducible, split-by-source datasets (on generated content)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from harness.impairments.base import changed
from harness.impairments.datasets import DatasetError, load_masks, write_dataset
from harness.simulation.content import GeneratedPicture, GeneratedSound


def rows(labels: Path) -> list[dict]:
    return [json.loads(line) for line in labels.read_text().splitlines()]


def source_seed(row: dict) -> int:
    return int(row["source"].removeprefix("generated-"))


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_video_samples_are_lossless_and_masks_are_the_diff_to_clean(tmp_path: Path) -> None:
    labels = write_dataset("block_corruption_pixel", 2, tmp_path, seed=3, clip_seconds=2.0)
    for row in rows(labels):
        assert row["defect"] == "block_corruption" and row["impairment"] == "block_corruption_pixel"
        assert 0 < row["start"] < row["end"] <= 2.0 and row["area_ratio"] > 0
        images = decode(tmp_path / row["media"])
        masks = load_masks(tmp_path / row["mask"])
        assert len(images) == len(masks) == 60
        picture = GeneratedPicture(640, 360, 30.0, source_seed(row))
        first = round(row["source_offset"] * 30)
        for index in (0, round(row["start"] * 30) + 2):
            clean = picture.frame(first + index)
            assert np.array_equal(masks[index], changed(clean, images[index]))
        assert not masks[0].any()  # before the window: untouched


def test_audio_samples_are_the_impairment_applied_to_clean(tmp_path: Path) -> None:
    labels = write_dataset("audio_dropout", 2, tmp_path, seed=5, clip_seconds=2.0)
    for row in rows(labels):
        samples, rate = soundfile.read(tmp_path / row["media"], dtype="float32", always_2d=True)
        assert rate == 48000 and samples.shape == (96000, 2)
        sound = GeneratedSound.at_loudness(48000, 2, source_seed(row), -23.0)
        clean = sound.samples(round(row["source_offset"] * 48000), 96000)
        start, end = round(row["start"] * 48000), round(row["end"] * 48000)
        assert np.array_equal(samples[:start], clean[:start])
        assert not samples[start:end].any()  # a digital dropout (the capture adds the floor)
        assert np.array_equal(samples[end:], clean[end:])


def test_same_seed_same_dataset_and_splits_follow_sources(tmp_path: Path) -> None:
    first = rows(write_dataset("freeze", 6, tmp_path / "a", seed=11, clip_seconds=1.0))
    again = rows(write_dataset("freeze", 6, tmp_path / "b", seed=11, clip_seconds=1.0))
    assert first == again
    for one, other in zip(first, again, strict=True):  # Matroska ids differ; pixels may not
        pairs = zip(decode(tmp_path / "a" / one["media"]), decode(tmp_path / "b" / other["media"]),
                    strict=True)
        assert all(np.array_equal(x, y) for x, y in pairs)
    split_of: dict[str, str] = {}
    for row in first:
        assert split_of.setdefault(row["source"], row["split"]) == row["split"]
    test_only = rows(
        write_dataset("freeze", 4, tmp_path / "c", seed=2, split="test", clip_seconds=1.0)
    )
    assert {row["split"] for row in test_only} == {"test"}
    assert not {row["source"] for row in test_only} & {
        r["source"] for r in first if r["split"] != "test"
    }


def test_unknown_impairment_and_missing_corpus_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown impairment 'blurry'"):
        write_dataset("blurry", 1, tmp_path)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "manifest.json").write_text(
        json.dumps({"version": 1, "seed": 0, "split_rule": "x", "items": []})
    )
    with pytest.raises(DatasetError, match="no audio source of at least 3 s"):
        write_dataset("audio_hum", 1, tmp_path / "out", corpus=tmp_path / "corpus")


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "harness.cli", "simulate", "--defect", "audio_hum", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_cli_writes_a_dataset(tmp_path: Path) -> None:
    result = simulate("--count", "2", "--seed", "1", "--out", str(tmp_path), "--clip-seconds",
                      "1.5", "--params", '{"level_dbfs": -30}')
    assert result.returncode == 0, result.stderr
    labels = rows(Path(result.stdout.strip()))
    assert [row["params"]["level_dbfs"] for row in labels] == [-30, -30]
    bad = simulate("--count", "1", "--out", str(tmp_path / "x"), "--params", '{"levl": 1}')
    assert bad.returncode == 2 and "levl" in bad.stderr and "Traceback" not in bad.stderr
