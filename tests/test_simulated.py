"""The simulated device: clean content that moves and sounds, exact faults, a capture's look."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.capture.simulated import SimulatedSource
from harness.errors import CaptureLost
from harness.impairments.registry import IMPAIRMENTS
from harness.media import AudioBlock, VideoFrame
from harness.pipeline import Pipeline
from harness.profiles import AudioSource, Fault, Simulation
from tests.media_files import make_clip, needs_ffmpeg

AUDIO = AudioSource(backend="simulated", sample_rate=48000, channels=2)


def play(**simulation: object) -> tuple[list[VideoFrame], list[AudioBlock]]:
    settings = {"duration": 3.0, "width": 320, "height": 180, "realtime": False, **simulation}
    source = SimulatedSource(Simulation(**settings), AUDIO)
    items: list[VideoFrame | AudioBlock] = []
    with source:
        source.run(lambda item: items.append(item) or True, threading.Event())
    return (
        [i for i in items if isinstance(i, VideoFrame)],
        [i for i in items if isinstance(i, AudioBlock)],
    )


def mean_abs_diff(a: VideoFrame, b: VideoFrame) -> float:
    """Mean absolute luma difference at quarter size, where capture noise averages out."""
    small = [
        cv2.resize(f.luma, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(np.int16)
        for f in (a, b)
    ]
    return float(np.mean(np.abs(small[0] - small[1])))


def rms_dbfs(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-12)


def audio_between(blocks: list[AudioBlock], start: float, end: float) -> np.ndarray:
    samples = np.concatenate([b.samples for b in blocks])
    return samples[int(start * 48000) : int(end * 48000)]


def test_clean_content_moves_sounds_and_looks_captured() -> None:
    frames, blocks = play()
    assert len(frames) == 90
    assert [f.time for f in frames[:2]] == [0.0, pytest.approx(1 / 30)]
    assert min(mean_abs_diff(a, b) for a, b in zip(frames, frames[1:], strict=False)) > 0.5
    assert frames[0].luma.min() >= 10  # limited range: nothing reads as digital zero
    samples = np.concatenate([b.samples for b in blocks])
    assert len(samples) >= 3 * 48000
    assert rms_dbfs(samples) > -30
    for previous, block in zip(blocks, blocks[1:], strict=False):
        assert block.start == previous.end


def test_black_fault_is_exact_and_reads_as_captured_black() -> None:
    frames, _ = play(faults=[Fault(defect="black_frames", at=1.0, duration=0.5)])
    black = [f.seq for f in frames if f.luma.mean() < 35]
    assert black == list(range(30, 45))
    assert 14 <= frames[35].luma.mean() <= 32  # black as a capture reads it, never 0


def test_freeze_fault_repeats_the_picture_but_never_bit_identical() -> None:
    frames, _ = play(faults=[Fault(defect="freeze", at=1.0, duration=1.0)])
    diffs = [mean_abs_diff(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    frozen = [i + 1 for i, d in enumerate(diffs) if d < 0.5]
    assert frozen == list(range(30, 60))  # frame 29 is held through frames 30..59
    assert all(diffs[i - 1] > 0 for i in frozen)  # capture noise: never identical


def test_audio_dropout_fault_falls_to_the_noise_floor_sample_exact() -> None:
    _, blocks = play(faults=[Fault(defect="audio_dropout", at=1.2, duration=0.3)])
    gap = audio_between(blocks, 1.2, 1.5)
    assert -70 < rms_dbfs(gap) < -55  # the capture floor, not digital silence
    assert rms_dbfs(audio_between(blocks, 1.195, 1.2)) > -40
    assert rms_dbfs(audio_between(blocks, 1.5, 1.505)) > -40


def test_same_seed_same_media() -> None:
    first, _ = play(duration=0.5)
    again, _ = play(duration=0.5)
    assert all(np.array_equal(a.bgr, b.bgr) for a, b in zip(first, again, strict=True))


def test_realtime_run_is_paced_and_stall_is_a_lost_capture() -> None:
    source = SimulatedSource(Simulation(duration=10, width=160, height=90, stall_at=0.5), AUDIO)
    with pytest.raises(CaptureLost) as lost:
        Pipeline([source], [], device="sim01", capture_timeout=0.5).run()
    assert lost.value.partial.stats.video_frames == 15
    assert lost.value.partial.stats.measured_fps == pytest.approx(30, abs=0.5)


@needs_ffmpeg
def test_plays_a_media_file_with_faults(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "content.mp4", seconds=2.0)
    frames, blocks = play(
        content=str(clip), duration=1.5, faults=[Fault(defect="black_frames", at=0.4, duration=0.2)]
    )
    assert len(frames) == 38  # frames at 0.00 .. 1.48 s, 25 fps
    assert [f.seq for f in frames if f.luma.mean() < 35] == list(range(10, 15))
    assert blocks[0].sample_rate == 48000 and blocks[-1].time < 1.5


CLEAN_RUN: dict[str, tuple[list[VideoFrame], list[AudioBlock]]] = {}


def clean_run() -> tuple[list[VideoFrame], list[AudioBlock]]:
    if not CLEAN_RUN:
        CLEAN_RUN["run"] = play(duration=1.5, width=160, height=96)
    return CLEAN_RUN["run"]


@pytest.mark.parametrize("name", sorted(IMPAIRMENTS))
def test_every_impairment_can_be_a_scripted_fault(name: str) -> None:
    frames, blocks = play(
        duration=1.5, width=160, height=96, faults=[Fault(defect=name, at=0.5, duration=0.5)]
    )
    clean_frames, clean_blocks = clean_run()
    in_window = [i for i, f in enumerate(frames) if 0.5 <= f.time < 1.0]
    video_changed = any(not np.array_equal(frames[i].bgr, clean_frames[i].bgr) for i in in_window)
    audio = np.concatenate([b.samples for b in blocks])[24000:48000]
    clean_audio = np.concatenate([b.samples for b in clean_blocks])[24000:48000]
    assert video_changed or not np.array_equal(audio, clean_audio)
    assert np.array_equal(frames[0].bgr, clean_frames[0].bgr)  # before the fault: untouched
