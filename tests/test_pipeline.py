"""The streaming pipeline: durations, drop accounting, dead captures, errors and shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from harness.detectors.base import Detector, DetectorSettings
from harness.errors import CaptureError, CaptureLost
from harness.events import Defect, Event
from harness.media import AudioBlock, VideoFrame
from harness.pipeline import Pipeline
from tests.fake_sources import FrameSource


class SlowDetector(Detector[VideoFrame, DetectorSettings]):
    """Takes ``delay`` per frame and reports each frame that arrived after a capture drop."""

    defect = Defect.STUTTER
    media = "video"
    Settings = DetectorSettings

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.seen: list[VideoFrame] = []

    def process(self, item: VideoFrame) -> list[Event]:
        time.sleep(self.delay)
        self.seen.append(item)
        return [Event(Defect.STUTTER, item.time, item.time, 1.0)] if item.dropped_before else []


class AudioCounter(Detector[AudioBlock, DetectorSettings]):
    defect = Defect.AUDIO_DROPOUT
    media = "audio"
    Settings = DetectorSettings

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0

    def process(self, item: AudioBlock) -> list[Event]:
        self.samples += len(item.samples)
        return []


class Interrupting(SlowDetector):
    def process(self, item: VideoFrame) -> list[Event]:
        if item.seq == 5:
            raise KeyboardInterrupt
        return []


def threads_named_harness() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("harness-") and t.is_alive()]


def test_file_source_is_never_dropped_even_with_slow_detectors() -> None:
    detector = SlowDetector(delay=0.002)
    report = Pipeline(
        [FrameSource(count=60, live=False)], [detector], device="fake", video_queue_size=2
    ).run()
    assert [frame.seq for frame in detector.seen] == list(range(60))
    assert report.stats.frames_dropped_by_pipeline == 0
    assert report.events == []


def test_live_source_drops_are_counted_and_marked_not_hidden() -> None:
    detector = SlowDetector(delay=0.01)
    report = Pipeline(
        [FrameSource(count=100, fps=250, pace=True)], [detector], device="fake", video_queue_size=2
    ).run()
    stats = report.stats
    assert stats.frames_dropped_by_pipeline > 0
    assert stats.video_frames + stats.frames_dropped_by_pipeline == 100
    # each gap in the sequence is announced, exactly, on the frame after it
    seen = detector.seen
    assert any(frame.dropped_before for frame in seen)
    for previous, frame in zip(seen, seen[1:], strict=False):
        assert frame.dropped_before == frame.seq - previous.seq - 1
    assert stats.frames_dropped_by_capture == 0
    # the device's own rate counts the frames the rig lost; the delivered rate does not
    assert stats.output_fps > 1.5 * stats.measured_fps


def test_duration_stops_at_media_time() -> None:
    audio = AudioCounter()
    report = Pipeline(
        [FrameSource(count=300, fps=30, live=False, audio=True)],
        [SlowDetector(), audio],
        device="fake",
    ).run(duration=2.0)
    assert report.stats.video_frames == 60
    assert audio.samples == 60 * 1600  # audio stops where video stopped
    assert report.media.sample_rate == 48000


def test_dead_capture_raises_capture_lost_with_partial_report() -> None:
    with pytest.raises(CaptureLost) as lost:
        Pipeline(
            [FrameSource(count=100, stall_after=10, live=False)],
            [SlowDetector()],
            device="tv01",
            capture_timeout=0.3,
        ).run()
    assert lost.value.device == "tv01"
    assert lost.value.last_frame_time == pytest.approx(9 / 30)
    assert "tv01" in str(lost.value) and "no video for 0.3 s" in str(lost.value)
    assert lost.value.partial.stats.video_frames == 10
    assert not isinstance(lost.value, AssertionError)  # Allure: broken, not failed
    assert threads_named_harness() == []


def test_endless_source_that_stops_is_a_lost_capture() -> None:
    with pytest.raises(CaptureLost):
        Pipeline([FrameSource(count=5, has_end=False)], [], device="tv01").run()


def test_no_frame_at_all_is_a_lost_capture() -> None:
    with pytest.raises(CaptureLost, match="no video was ever received"):
        Pipeline([FrameSource(stall_after=0)], [], device="tv01", capture_timeout=0.2).run()


def test_reader_error_is_raised_in_the_caller_and_sources_closed() -> None:
    source = FrameSource(count=50, fail_after=3)
    with pytest.raises(CaptureError, match="capture card unplugged"):
        Pipeline([source], [], device="tv01").run()
    assert source.closed
    assert threads_named_harness() == []


def test_ctrl_c_stops_threads_and_closes_sources() -> None:
    source = FrameSource(count=1000, pace=True)
    with pytest.raises(KeyboardInterrupt):
        Pipeline([source], [Interrupting()], device="tv01").run()
    assert source.closed
    assert threads_named_harness() == []


def test_a_profile_without_video_is_refused() -> None:
    source = FrameSource()
    source.provides_video = False
    with pytest.raises(CaptureError, match="no video source"):
        Pipeline([source], [], device="tv01")


class AvRecorder(Detector[VideoFrame | AudioBlock, DetectorSettings]):
    """Records what an "av" detector is fed, and whether two calls ever overlapped."""

    defect = Defect.AV_SYNC
    media = "av"
    Settings = DetectorSettings

    def __init__(self) -> None:
        super().__init__()
        self.frames = self.blocks = self.flushes = 0
        self.busy = self.overlapped = False

    def process(self, item: VideoFrame | AudioBlock) -> list[Event]:
        self.overlapped |= self.busy
        self.busy = True
        time.sleep(0.0005)
        if isinstance(item, VideoFrame):
            self.frames += 1
        else:
            self.blocks += 1
        self.busy = False
        return []

    def flush(self) -> list[Event]:
        self.flushes += 1
        return []


def test_av_detectors_see_both_media_one_call_at_a_time() -> None:
    detector = AvRecorder()
    Pipeline([FrameSource(count=120, live=False, audio=True)], [detector], device="fake").run()
    assert (detector.frames, detector.blocks) == (120, 120)
    assert not detector.overlapped
    assert detector.flushes == 1  # in both lanes, flushed once


def test_a_conclusive_summary_is_not_replaced_by_an_inconclusive_one() -> None:
    from harness.pipeline import _merge_summaries

    summaries: dict[str, dict] = {}
    _merge_summaries(summaries, {"av_sync": {"verdict": "out_of_sync", "offset_ms": 200.0}})
    _merge_summaries(summaries, {"av_sync": {"verdict": "inconclusive", "offset_ms": None}})
    _merge_summaries(summaries, {"av_sync": {"verdict": "in_sync", "offset_ms": 20.0}})
    assert summaries["av_sync"] == {"verdict": "out_of_sync", "offset_ms": 200.0}
    _merge_summaries(summaries, {"loudness": {"integrated_lufs": -23.1}})
    assert summaries["loudness"] == {"integrated_lufs": -23.1}
