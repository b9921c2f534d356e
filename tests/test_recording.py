"""The PyAV recording backend: exact frames and samples on one clock, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.capture.recording import RecordingSource
from harness.errors import MediaError
from harness.media import AudioBlock, VideoFrame
from tests.media_files import make_clip, needs_ffmpeg

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4")


def read_all(path: Path, **kwargs: object) -> tuple[list[VideoFrame], list[AudioBlock]]:
    with RecordingSource(path, **kwargs) as source:
        items = list(source.items())
    return (
        [i for i in items if isinstance(i, VideoFrame)],
        [i for i in items if isinstance(i, AudioBlock)],
    )


def test_every_frame_and_sample_on_the_file_clock(clip: Path) -> None:
    frames, blocks = read_all(clip)
    assert len(frames) == 75
    assert [round(f.time, 6) for f in frames[:3]] == [0.0, 0.04, 0.08]
    assert frames[10].luma.shape == (240, 320)
    assert frames[10].bgr.shape == (240, 320, 3)
    assert blocks[0].start == 0 and blocks[0].channels == 2
    for previous, block in zip(blocks, blocks[1:], strict=False):
        assert block.start == previous.end  # contiguous: no lost or invented samples
    total = blocks[-1].end / 48000
    assert total == pytest.approx(3.0, abs=0.05)
    tone = np.concatenate([b.samples[:, 0] for b in blocks])[4800:-4800]
    spectrum = np.abs(np.fft.rfft(tone))
    assert np.argmax(spectrum) * 48000 / len(tone) == pytest.approx(1000, abs=2)


def test_audio_offset_in_the_file_is_kept(tmp_path: Path) -> None:
    _, blocks = read_all(make_clip(tmp_path / "late.mp4", audio_delay_ms=500))
    samples = np.concatenate([b.samples[:, 0] for b in blocks])
    first_loud = blocks[0].start + int(np.argmax(np.abs(samples) > 0.05))
    assert first_loud / 48000 == pytest.approx(0.5, abs=0.03)


def test_resamples_and_downmixes_on_request(clip: Path) -> None:
    _, blocks = read_all(clip, sample_rate=16000, channels=1)
    assert blocks[0].sample_rate == 16000 and blocks[0].channels == 1
    assert blocks[-1].end / 16000 == pytest.approx(3.0, abs=0.05)


def test_info(clip: Path) -> None:
    with RecordingSource(clip) as source:
        info = source.info
    assert (info.width, info.height, info.fps, info.sample_rate, info.channels) == (
        320,
        240,
        25,
        48000,
        2,
    )
    assert info.duration == pytest.approx(3.0, abs=0.1)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        RecordingSource(tmp_path / "nope.mp4").open()


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MediaError, match="cannot be decoded"):
        RecordingSource(path).open()


def test_truncated_file_keeps_what_decodes(clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.ts"
    import subprocess

    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy", str(path)], check=True
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    frames, _ = read_all(path)
    assert 10 < len(frames) < 75
