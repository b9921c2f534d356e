r"""Run capture sources through detectors: reader threads, bounded queues, drop accounting.

Shape (after PySceneDetect's decode thread, with the deadlines it lacks):

    source thread(s) --emit--> video queue --> main thread: video detectors, watchdog
                           \-> audio queue --> audio thread: audio detectors, watchdog

* A *live* source never blocks: when a queue is full the item is dropped and counted, and the next
  frame carries ``dropped_before`` so no detector mistakes the gap for a device stutter. A file
  source blocks instead, so analysing a file never loses a frame.
* A watchdog raises ``CaptureLost`` when no video (or configured audio) arrives for
  ``capture_timeout`` seconds; a source without a natural end that stops is also a lost capture.
* Errors in reader threads are re-raised in the caller; on any exit (end, duration, error,
  Ctrl-C) the stop event is set, threads are joined with a deadline and sources are closed.
* A lane no opened source feeds is not consumed: its detectors see nothing and report nothing
  (audio detectors on a video-only file, video detectors on an audio-only one). With no video
  at all (an audio-only file) the main thread consumes the audio lane instead, and audio time
  drives the duration and progress.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.capture.base import MediaSource
from harness.detectors.base import Detector
from harness.errors import CaptureError, CaptureLost
from harness.events import Event, without_subsumed
from harness.media import AudioBlock, MediaInfo, VideoFrame
from harness.results import CaptureStats, PlaybackReport

log = logging.getLogger(__name__)

#: Marks the end of one source's stream in a queue.
_END = object()
_POLL = 0.05


@dataclass
class _Lane:
    """One medium's queue and the detectors that consume it."""

    name: str
    queue: queue.Queue
    detectors: list[Detector]
    producers: int = 0
    last_received: float = field(default_factory=time.monotonic)
    events: list[Event] = field(default_factory=list)


class Pipeline:
    """Streams one device's sources through its detectors for a duration or to the end."""

    def __init__(
        self,
        sources: Sequence[MediaSource],
        detectors: Sequence[Detector],
        *,
        device: str,
        capture_timeout: float = 2.0,
        video_queue_size: int = 8,
        audio_queue_size: int = 256,
    ) -> None:
        if not any(s.provides_video for s in sources):
            raise CaptureError(f"device {device!r} has no video source; every profile needs one")
        self.sources = list(sources)
        self.device = device
        self.capture_timeout = capture_timeout
        self.stats = CaptureStats()
        self._video = _Lane(
            "video", queue.Queue(video_queue_size), [d for d in detectors if d.media != "audio"]
        )
        self._audio = _Lane(
            "audio", queue.Queue(audio_queue_size), [d for d in detectors if d.media != "video"]
        )
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._pending_drops = 0
        #: media time analysis stops at (first frame + duration); both lanes honour it
        self._end_time: float | None = None
        self._video_started = threading.Event()

    def run(
        self, duration: float | None = None, progress: Callable[[float], None] | None = None
    ) -> PlaybackReport:
        """Analyse until the media ends, or ``duration`` seconds of media time have passed."""
        with contextlib.ExitStack() as stack:
            origin = time.monotonic()
            for source in self.sources:
                source.clock_origin = origin
                stack.enter_context(source)
            # the watchdog measures the capture, not how long opening the sources took
            self._video.last_received = self._audio.last_received = time.monotonic()
            threads = [self._start_reader(source) for source in self.sources]
            # with no video (an audio-only file) audio drives the run from the main thread
            audio_leads = self._audio.producers > 0 and self._video.producers == 0
            audio_thread = None
            if self._audio.producers and not audio_leads:
                audio_thread = threading.Thread(
                    target=self._audio_thread, args=(duration,), name="harness-audio", daemon=True
                )
                audio_thread.start()
            try:
                if audio_leads:
                    self._consume_audio(duration, progress, leads=True)
                else:
                    self._consume_video(duration, progress)
            except CaptureLost as lost:
                self._shutdown(threads, audio_thread)
                lost.partial = self._report(flush=False)
                raise
            finally:
                self._shutdown(threads, audio_thread)
            self._raise_reader_error()
            return self._report(flush=True)

    # -- readers -------------------------------------------------------------------------------

    def _start_reader(self, source: MediaSource) -> threading.Thread:
        lanes = [
            lane
            for lane, wanted in (
                (self._video, source.provides_video),
                (self._audio, source.provides_audio),
            )
            if wanted
        ]
        for lane in lanes:
            lane.producers += 1

        def read() -> None:
            try:
                source.run(self._emitter(source.is_live), self._stop)
            except BaseException as exc:  # re-raised in the caller
                self._errors.append(exc)
            finally:
                for lane in lanes:
                    self._put_blocking(lane.queue, (source, _END))

        thread = threading.Thread(target=read, name=f"harness-{source.backend_name}", daemon=True)
        thread.start()
        return thread

    def _emitter(self, live: bool) -> Callable[[VideoFrame | AudioBlock], bool]:
        def emit(item: VideoFrame | AudioBlock) -> bool:
            lane = self._video if isinstance(item, VideoFrame) else self._audio
            if isinstance(item, VideoFrame) and self._pending_drops:
                item.dropped_before += self._pending_drops
                self._pending_drops = 0
            if not live:
                return self._put_blocking(lane.queue, item)
            try:
                lane.queue.put_nowait(item)
                return True
            except queue.Full:
                if isinstance(item, VideoFrame):
                    self._pending_drops += 1 + item.dropped_before
                    self.stats.frames_dropped_by_pipeline += 1
                else:
                    self.stats.audio_blocks_dropped_by_pipeline += 1
                return False

        return emit

    def _put_blocking(self, target: queue.Queue, item: object) -> bool:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    # -- consumers -----------------------------------------------------------------------------

    def _consume_video(
        self, duration: float | None, progress: Callable[[float], None] | None
    ) -> None:
        """Main-thread loop: until the media ends or ``duration`` of media time has passed."""
        lane, stats = self._video, self.stats
        next_progress = 0.0
        while True:
            item = self._next(lane)
            if item is None:
                return
            frame: VideoFrame = item
            if stats.first_frame_time is None:
                stats.first_frame_time = frame.time
                stats.width, stats.height = frame.width, frame.height
                if duration is not None:
                    self._end_time = frame.time + duration
                self._video_started.set()
            if self._end_time is not None and frame.time >= self._end_time:
                return
            stats.record_frame(frame)
            for detector in lane.detectors:
                lane.events += detector.process(frame)
            if progress is not None and frame.time >= next_progress:
                progress(frame.time)
                next_progress = frame.time + 1.0

    def _audio_thread(self, duration: float | None) -> None:
        try:
            self._consume_audio(duration)
        except BaseException as exc:  # re-raised in the caller
            self._errors.append(exc)

    def _consume_audio(
        self,
        duration: float | None,
        progress: Callable[[float], None] | None = None,
        *,
        leads: bool = False,
    ) -> None:
        """The audio lane: beside video in its own thread, or in the main thread ``leading`` the
        run (analysed span, progress) when there is no video."""
        lane = self._audio
        next_progress = 0.0
        while (item := self._next(lane)) is not None:
            if leads:
                if duration is not None and self._end_time is None:
                    self._end_time = item.time + duration
            elif duration is not None and not self._video_started.is_set():
                self._await_video_start()
            if self._end_time is not None and item.time >= self._end_time:
                if leads:
                    return
                continue  # past the analysed span: video stops there too
            self.stats.record_audio(item)
            for detector in lane.detectors:
                lane.events += detector.process(item)
            if progress is not None and item.time >= next_progress:
                progress(item.time)
                next_progress = item.time + 1.0

    def _await_video_start(self) -> None:
        """The analysed span is known once video starts; audio must not run past it meanwhile."""
        while not self._video_started.wait(_POLL):
            if self._stop.is_set():
                return

    def _next(self, lane: _Lane) -> VideoFrame | AudioBlock | None:
        """The lane's next item; None when all its producers ended (or stop was set)."""
        while True:
            self._raise_reader_error()
            try:
                item = lane.queue.get(timeout=_POLL)
            except queue.Empty:
                if self._stop.is_set():
                    return None
                if time.monotonic() - lane.last_received > self.capture_timeout:
                    last = (
                        self.stats.last_frame_time
                        if lane is self._video
                        else self.stats.last_audio_time
                    )
                    raise CaptureLost(self.device, last, self.capture_timeout, lane.name) from None
                continue
            lane.last_received = time.monotonic()
            if isinstance(item, tuple) and item[1] is _END:
                source: MediaSource = item[0]
                if not source.has_end and not self._stop.is_set() and not self._errors:
                    last = (
                        self.stats.last_frame_time
                        if lane is self._video
                        else self.stats.last_audio_time
                    )
                    raise CaptureLost(self.device, last, self.capture_timeout, lane.name)
                lane.producers -= 1
                if lane.producers == 0:
                    return None
                continue
            return item

    def _raise_reader_error(self) -> None:
        if self._errors:
            error = self._errors[0]
            if isinstance(error, CaptureError | KeyboardInterrupt):
                raise error
            raise CaptureError(f"capture on device {self.device!r} failed: {error!r}") from error

    # -- shutdown ------------------------------------------------------------------------------

    def _shutdown(self, readers: list[threading.Thread], audio: threading.Thread | None) -> None:
        """Stop readers, let the audio lane drain what was captured, join everything."""
        self._stop.set()
        deadline = time.monotonic() + self.capture_timeout + 1.0
        for thread in [*readers, *([audio] if audio else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("thread %s did not stop in time; abandoning it", thread.name)

    def _report(self, flush: bool) -> PlaybackReport:
        events = self._video.events + self._audio.events
        summaries = {}
        if flush:
            # an "av" detector sits in both lanes: flush it (and read its summary) once
            for detector in dict.fromkeys(self._video.detectors + self._audio.detectors):
                events += detector.flush()
                if (summary := detector.summary()) is not None:
                    _merge_summaries(summaries, summary)
        info = _merged_info(self.sources)
        events = sorted(without_subsumed(events), key=lambda e: (e.start, e.defect))
        return PlaybackReport(self.device, events, self.stats, info, summaries)


def _merge_summaries(summaries: dict[str, dict], new: dict[str, dict]) -> None:
    """Add ``new``. Where two detectors judge the same thing (the sync pattern and LipSync both
    judge ``av_sync``) the first conclusive verdict stands: detectors report in registry order,
    so the exact pattern measurement outranks LipSync's estimate."""
    for key, value in new.items():
        held = summaries.get(key)
        if held is None or held.get("verdict") == "inconclusive":
            summaries[key] = value


def _merged_info(sources: Sequence[MediaSource]) -> MediaInfo:
    video = next((s.info for s in sources if s.provides_video), None)
    audio = next((s.info for s in sources if s.provides_audio), None)
    if video is None:  # an audio-only file: its info has no picture fields
        return audio if audio is not None else sources[0].info
    if audio is not None and audio is not video:
        video.sample_rate, video.channels = audio.sample_rate, audio.channels
    return video
