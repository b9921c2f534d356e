"""The OpenCV backend against real inputs: a live UDP stream that dies, a URL nobody sends to,
files, and V4L2 (skipped where the kernel has none).

Nothing here may hang: every blocking call runs under a guard thread with a generous deadline,
so a regression fails with "hung" instead of stalling the suite.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from harness.capture import sources_for
from harness.capture.opencv import OpenCVSource
from harness.capture.sounddevice import SoundDeviceSource
from harness.errors import CaptureError, CaptureLost
from harness.media import VideoFrame
from harness.pipeline import Pipeline
from harness.profiles import DeviceProfile
from tests.conftest import StreamSender
from tests.media_files import make_clip, needs_ffmpeg

CAPTURE_TIMEOUT = 2.0
#: The pipeline's watchdog runs from its construction, and opening a UDP stream takes FFmpeg
#: 1-3 s of probing: the pipeline gets the remedy CaptureLost itself suggests (a longer
#: capture_timeout), so a lost stream is found by the source's own read timeout.
PIPELINE_TIMEOUT = 5.0
#: Slack over the expected time of an outcome before the test calls it a hang.
MARGIN = 3.0


def run_guarded(call: Callable[[], Any], deadline: float) -> tuple[Any, BaseException | None]:
    """Run ``call`` in a thread; fail the test if it is still running after ``deadline`` s."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        pytest.fail(f"hung: still running after {deadline:g} s")
    return outcome.get("result"), outcome.get("error")


@pytest.mark.slow
def test_live_stream_is_captured_then_lost_when_the_sender_dies(udp_sender: StreamSender) -> None:
    source = OpenCVSource(udp_sender.url, read_timeout=CAPTURE_TIMEOUT)
    pipeline = Pipeline([source], [], device="udp-test", capture_timeout=PIPELINE_TIMEOUT)
    killed_at: list[float] = []

    def progress(media_time: float) -> None:  # called about once per second of media
        first = pipeline.stats.first_frame_time
        if not killed_at and first is not None and media_time - first >= 2.0:
            udp_sender.kill()
            killed_at.append(time.monotonic())

    _, error = run_guarded(lambda: pipeline.run(progress=progress),
                           source.open_timeout + 4.0 + PIPELINE_TIMEOUT + MARGIN)
    assert killed_at, f"the stream never delivered 2 s of frames ({error!r})"
    lost_after = time.monotonic() - killed_at[0]
    assert isinstance(error, CaptureLost), f"expected CaptureLost, got {error!r}"
    assert lost_after < CAPTURE_TIMEOUT + MARGIN
    assert error.media == "video" and error.last_frame_time is not None
    stats = error.partial.stats
    print(f"captured {stats.video_frames} frames at {stats.measured_fps:.2f} fps, "
          f"{stats.frames_dropped_by_capture} counted as dropped by the capture; "
          f"CaptureLost {lost_after:.2f} s after the sender died")
    assert stats.video_frames >= 45
    assert stats.measured_fps == pytest.approx(25.0, rel=0.1)
    assert (stats.width, stats.height) == (320, 240)
    assert source.info.fps == 25.0 and source.info.duration is None


@pytest.mark.slow
def test_url_nobody_sends_to_fails_within_the_open_timeout(udp_port: int) -> None:
    url = f"udp://127.0.0.1:{udp_port}"
    source = OpenCVSource(url, open_timeout=2.0)
    _, error = run_guarded(source.open, source.open_timeout + MARGIN)
    assert isinstance(error, CaptureError), f"expected CaptureError, got {error!r}"
    assert url in str(error) and "is the sender" in str(error)


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(CaptureError, match="nope.mp4: no such video file"):
        OpenCVSource(str(missing)).open()


def test_file_that_is_not_video_is_a_capture_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(CaptureError, match="cannot decode"):
        OpenCVSource(str(text)).open()


@needs_ffmpeg
def test_file_plays_to_its_end_on_its_own_timestamps(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, size="160x120", fps=25)
    source = OpenCVSource(str(clip))
    assert not source.is_live and source.has_end
    report, error = run_guarded(
        lambda: Pipeline([source], [], device="file-test", capture_timeout=CAPTURE_TIMEOUT).run(),
        30.0,
    )
    assert error is None
    assert report.stats.video_frames == 25
    assert report.stats.first_frame_time == 0.0
    assert report.stats.last_frame_time == pytest.approx(0.96)
    assert report.media.fps == 25.0 and report.media.duration == pytest.approx(1.0)


class _ScriptedCapture:
    """Stands in for cv2.VideoCapture: each read waits as scripted, then the stream ends."""

    def __init__(self, waits: list[float], fps: float) -> None:
        self.waits, self.fps, self.reads = list(waits), fps, 0

    def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_WIDTH: 64.0,
                cv2.CAP_PROP_FRAME_HEIGHT: 36.0}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.waits:
            return False, None
        time.sleep(self.waits.pop(0))
        self.reads += 1
        return True, np.full((36, 64, 3), self.reads, np.uint8)

    def release(self) -> None:
        pass


def test_stale_frames_are_skipped_and_late_frames_count_drops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five frames queued at open come back at once and are discarded; the first two reads that
    wait for a frame mark the stream as live. Later, a frame 3 intervals late follows 2 drops."""
    interval = 0.1
    waits = [0.0] * 5 + [interval, interval, interval, 3 * interval, interval]
    capture = _ScriptedCapture(waits, fps=1 / interval)
    monkeypatch.setattr("harness.capture.opencv.cv2.VideoCapture", lambda *args: capture)
    source = OpenCVSource("udp://127.0.0.1:9", read_timeout=CAPTURE_TIMEOUT)
    source.open()
    frames: list[VideoFrame] = []
    _, error = run_guarded(lambda: source.run(lambda f: frames.append(f) or True,
                                              threading.Event()), 10.0)
    source.close()
    assert error is None
    assert [int(f.bgr[0, 0, 0]) for f in frames] == [7, 8, 9, 10]  # reads 1-6 discarded
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    assert [f.dropped_before for f in frames] == [0, 0, 2, 0]
    assert source.frames_dropped == 2
    gaps = np.diff([f.time for f in frames])
    assert gaps == pytest.approx([interval, 3 * interval, interval], abs=0.05)


def test_missing_v4l2_device_names_the_device_and_the_check() -> None:
    index = 63
    while os.path.exists(f"/dev/video{index}"):
        index += 1
    with pytest.raises(CaptureError, match=rf"no /dev/video{index}: is the capture card plugged"):
        OpenCVSource(index).open()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/video0"),
                    reason="no V4L2 devices on this machine (no kernel support)")
def test_v4l2_device_delivers_frames() -> None:
    source = OpenCVSource(0, read_timeout=CAPTURE_TIMEOUT)
    report, error = run_guarded(
        lambda: Pipeline([source], [], device="v4l2-test",
                         capture_timeout=CAPTURE_TIMEOUT).run(duration=2.0),
        2.0 + CAPTURE_TIMEOUT + 5.0 + MARGIN,
    )
    assert error is None, f"capture from /dev/video0 failed: {error!r}"
    assert report.stats.video_frames > 10



def test_profile_builds_opencv_and_sounddevice_sources() -> None:
    profile = DeviceProfile.model_validate({
        "name": "tv01", "capture_timeout": 3.0,
        "video": {"backend": "opencv", "source": 0, "width": 1920, "height": 1080, "fps": 60},
        "audio": {"backend": "sounddevice", "device": "USB Audio", "sample_rate": 44100,
                  "channels": 1, "block_seconds": 0.05},
    })
    video, audio = sources_for(profile)
    assert isinstance(video, OpenCVSource) and isinstance(audio, SoundDeviceSource)
    assert (video.device_index, video.width, video.height, video.fps) == (0, 1920, 1080, 60)
    assert video.is_live and not video.has_end and video.read_timeout == 3.0
    assert (audio.device, audio.sample_rate, audio.channels, audio.blocksize) == (
        "USB Audio", 44100, 1, 2205)
    assert audio.read_timeout == 3.0
