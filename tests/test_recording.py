"""The PyAV recording backend: exact frames and samples on one clock, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.capture.recording import RecordingSource
from harness.errors import MediaError
from harness.media import AudioBlock, VideoFrame
from tests.audio_content import sine
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


# -- audio-only files (catalogue tracks: WAV, FLAC, M4A/AAC ...) ---------------------------------


def tone(seconds: float = 2.0) -> np.ndarray:
    """A 1 kHz stereo sine at -12 dBFS, 48 kHz."""
    return sine(seconds, 48000, -12.0)


def write_m4a(path: Path, x: np.ndarray, rate: int = 48000) -> Path:
    """``x`` (frames, 2) as AAC in an M4A container, encoded with PyAV (no video stream)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate, layout="stereo")
        for i in range(0, len(x), 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(x[i : i + 1024].T), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_audio(path: Path, x: np.ndarray, rate: int = 48000) -> Path:
    """WAV/FLAC with soundfile, M4A with PyAV's AAC encoder."""
    if path.suffix == ".m4a":
        return write_m4a(path, x, rate)
    import soundfile as sf

    sf.write(path, x, rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".m4a"])
def test_audio_only_file_reads_its_audio_alone(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"track{suffix}", tone())
    source = RecordingSource(path, require_video=False)
    assert source.provides_video  # unknown before open: the class default
    with source:
        assert not source.provides_video and source.provides_audio
        info = source.info
        items = list(source.items())
    assert (info.fps, info.width, info.height) == (None, None, None)
    assert (info.sample_rate, info.channels) == (48000, 2)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert items and all(isinstance(i, AudioBlock) for i in items)
    for previous, block in zip(items, items[1:], strict=False):
        assert block.start == previous.end
    assert items[-1].end / 48000 == pytest.approx(2.0, abs=0.05)
    samples = np.concatenate([b.samples[:, 0] for b in items])[4800:-4800]
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 48000 / len(samples) == pytest.approx(1000, abs=2)


def test_audio_only_file_is_refused_where_video_is_needed(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "track.wav", tone(0.5))
    with pytest.raises(MediaError, match="has no video stream .audio only.; a video"):
        RecordingSource(path).open()  # device profiles, simulator content, datasets
    with pytest.raises(MediaError, match="its audio is not read here"):
        RecordingSource(path, with_audio=False, require_video=False).open()


def test_file_with_neither_video_nor_audio_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "captions.srt"
    path.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    with pytest.raises(MediaError, match="has neither a video nor an audio stream"):
        RecordingSource(path, require_video=False).open()


def test_audio_only_file_through_the_pipeline_honours_a_duration(tmp_path: Path) -> None:
    from harness.pipeline import Pipeline

    path = write_audio(tmp_path / "track.wav", tone(3.0))
    seen: list[float] = []
    report = Pipeline([RecordingSource(path, require_video=False)], [], device="track").run(
        duration=1.0, progress=seen.append
    )
    assert report.stats.video_frames == 0 and report.media.width is None
    assert report.stats.last_audio_time == pytest.approx(1.0, abs=0.05)
    assert seen and seen[0] == 0.0  # progress follows audio time when there is no video


def test_m4a_track_with_a_dropout_is_analysed(tmp_path: Path) -> None:
    from harness.analysis import analyze
    from tests.audio_content import captured, dropout_times, music_like, with_dropout

    music = music_like(5, 48000, np.random.default_rng(3))
    (at,) = dropout_times(music, 48000, [0.3])
    path = write_m4a(tmp_path / "track.m4a", captured(with_dropout(music, 48000, at, 0.3), 48000))
    report = analyze(path, ["audio_dropout", "black_frames"])
    assert report.media.sample_rate == 48000 and report.media.width is None
    [event] = report.events
    assert event.defect.value == "audio_dropout"
    assert event.start == pytest.approx(at, abs=0.02)
    assert event.end == pytest.approx(at + 0.3, abs=0.02)
    clean = analyze(write_m4a(tmp_path / "clean.m4a", captured(music, 48000)), ["audio_dropout"])
    assert clean.events == []
