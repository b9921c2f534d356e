"""A recorded file with its audio, decoded by PyAV: the backend behind `harness analyze`.

Time zero is the container's start time for both streams, so the file's own A/V alignment is
kept exactly. Pixels stay in the decoder's format until asked for: DSP detectors read the luma
plane directly (no colour conversion), BGR is made only for models and evidence.

An audio-only file (WAV, FLAC, M4A, MP3 ...) is read too where the caller allows it
(``require_video=False``, as `harness analyze` does): ``provides_video`` is then False after
``open`` and only audio blocks come out. Callers that need pictures (device profiles, the
simulator's content, datasets) keep the default and get a MediaError saying so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from harness.capture.base import Emit, MediaSource
from harness.errors import MediaError
from harness.media import AudioBlock, MediaInfo, VideoFrame
from harness.profiles import DeviceProfile

log = logging.getLogger(__name__)

#: Decode errors logged individually before going quiet (the count is always kept).
_MAX_LOGGED_DECODE_ERRORS = 5
_LUMA_PLANE_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"}


class RecordingSource(MediaSource):
    """Video and/or audio of a media file, as fast as the consumer takes it.

    ``provides_video`` says True until ``open`` finds out: an audio-only file (allowed with
    ``require_video=False``) sets it False on the instance.
    """

    backend_name = "recording"
    is_live = False
    has_end = True
    provides_video = True

    def __init__(
        self,
        path: str | Path,
        with_audio: bool = True,
        sample_rate: int | None = None,
        channels: int | None = None,
        *,
        require_video: bool = True,
    ) -> None:
        self.path = Path(path)
        self.want_audio = with_audio
        self.require_video = require_video
        self.sample_rate = sample_rate
        self.channels = channels
        self.decode_failures = 0
        self._container: av.container.InputContainer | None = None
        self._info: MediaInfo | None = None

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> RecordingSource:
        audio = profile.audio
        wants_audio = audio.backend == "recording"
        return cls(
            str(profile.video.source),
            with_audio=wants_audio,
            sample_rate=audio.sample_rate if wants_audio else None,
            channels=audio.channels if wants_audio else None,
        )

    def open(self) -> None:
        if not self.path.is_file():
            raise MediaError(f"{self.path}: no such file; check the path")
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"{self.path}: cannot be decoded ({exc}); is it a media file?"
            ) from None
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and (problem := self._without_video(audio is not None)):
            container.close()
            raise MediaError(f"{self.path}: {problem}")
        self._container = container
        if video is not None:
            video.thread_type = "AUTO"
        audio = audio if self.want_audio else None
        self.provides_video = video is not None
        self.provides_audio = audio is not None
        if audio is not None:
            self.sample_rate = self.sample_rate or audio.rate
            self.channels = self.channels or audio.channels
        duration = container.duration / av.time_base if container.duration else None
        fps = float(video.average_rate) if video is not None and video.average_rate else None
        self._info = MediaInfo(
            path=str(self.path),
            duration=duration,
            fps=fps,
            width=video.width if video is not None else None,
            height=video.height if video is not None else None,
            sample_rate=self.sample_rate if audio else None,
            channels=self.channels if audio else None,
        )

    def _without_video(self, has_audio: bool) -> str | None:
        """Why a file without a video stream cannot be read here, or None when its audio will do."""
        if not has_audio:
            return (
                "has neither a video nor an audio stream; only video, audio or audio+video "
                "files can be analysed"
            )
        if self.require_video:
            return "has no video stream (audio only); a video or audio+video file is needed here"
        if not self.want_audio:
            return "has no video stream and its audio is not read here; use a video file"
        return None

    @property
    def info(self) -> MediaInfo:
        if self._info is None:
            raise RuntimeError("RecordingSource.info read before open()")
        return self._info

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        assert self._container is not None, "run() before open()"
        for item in self.items():
            if stop.is_set():
                return
            emit(item)
        if self.info.duration is None and self.decode_failures:
            log.warning("%s: %d packets could not be decoded", self.path, self.decode_failures)

    def items(self) -> Iterator[VideoFrame | AudioBlock]:
        """Decoded frames and audio blocks in file order, on the file's media clock."""
        container = self._container
        assert container is not None
        video = container.streams.video[0] if self.provides_video else None
        streams = ([video] if video is not None else []) + (
            [container.streams.audio[0]] if self.provides_audio else []
        )
        origin = Fraction(container.start_time or 0, av.time_base)
        resampler = (
            av.AudioResampler(format="flt", layout=_layout(self.channels), rate=self.sample_rate)
            if self.provides_audio
            else None
        )
        seq = 0
        next_sample: int | None = None
        decoded_any = False
        for packet in container.demux(streams):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self._decode_failed(exc)
                continue
            for frame in frames:
                decoded_any = True
                if isinstance(frame, av.VideoFrame):
                    assert video is not None
                    yield _video_frame(frame, video.time_base, origin, seq)
                    seq += 1
                else:
                    assert resampler is not None
                    for block in resampler.resample(frame):
                        if next_sample is None:
                            next_sample = _first_sample(frame, origin, self.sample_rate)
                        samples = block.to_ndarray().reshape(-1, self.channels)
                        yield AudioBlock(samples, self.sample_rate, next_sample)
                        next_sample += len(samples)
        if not decoded_any:
            raise MediaError(f"{self.path}: no frame could be decoded; the file is corrupt")

    def _decode_failed(self, exc: Exception) -> None:
        self.decode_failures += 1
        if self.decode_failures <= _MAX_LOGGED_DECODE_ERRORS:
            log.warning("%s: undecodable packet skipped (%s)", self.path, exc)


def _video_frame(
    frame: av.VideoFrame, time_base: Fraction, origin: Fraction, seq: int
) -> VideoFrame:
    pts = frame.pts if frame.pts is not None else seq
    offset = round(origin / time_base)

    def decode(fmt: str) -> np.ndarray:
        if fmt == "gray" and frame.format.name in _LUMA_PLANE_FORMATS:
            plane = frame.planes[0]
            rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
            return rows[:, : plane.width].copy()
        return frame.to_ndarray(format=fmt)

    return VideoFrame.lazy(frame.width, frame.height, pts - offset, time_base, decode, seq=seq)


def _first_sample(frame: av.AudioFrame, origin: Fraction, rate: int) -> int:
    if frame.pts is None or frame.time_base is None:
        return 0
    return max(0, round((frame.pts * frame.time_base - origin) * rate))


def _layout(channels: int | None) -> str:
    return {1: "mono", 2: "stereo"}.get(channels or 2, f"{channels}c")
