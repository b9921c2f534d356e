"""OpenCV capture: an HDMI capture card (V4L2), a stream URL, or a video file.

Three kinds of source, told apart by ``source``:

* an ``int`` (or ``"/dev/videoN"``): a V4L2 capture card, live. Requested width, height and fps
  are set on the device; what it actually delivers is read back into ``info``.
* a URL (anything with ``://``: udp, rtsp, srt, http ...): a network stream through OpenCV's
  FFmpeg backend, live. Open and read timeouts are passed *at construction*, the only way the
  FFmpeg backend takes them (``cap.set`` afterwards is ignored), so a dead sender ends ``read``
  after ``read_timeout`` instead of blocking for FFmpeg's 30 s.
* anything else: a file, not live, timed by its own timestamps (``CAP_PROP_POS_MSEC``).

Live timing. A live frame is stamped with ``time.monotonic()`` when ``read`` returns, relative to
the session's ``clock_origin`` (shared with the audio source, so A/V land on one clock), in
microseconds. That includes a roughly constant decode/transport delay, which A/V-sync
calibration absorbs per rig. Frames already queued when reading starts (FFmpeg buffers what
arrives while it probes a stream, ~1-3 s) are discarded, so the first frame handed out is a
current one and the timeline does not start with a burst of stale, bunched-up frames. A frame
FFmpeg returns only after its read timeout is a decoder flush of a dead stream, not live video:
the capture ends there.

Drop heuristic. A capture card that loses frames delivers the next one late: when two
consecutive reads are more than 1.5 nominal frame intervals apart, ``round(gap / interval) - 1``
frames are counted as dropped before the later frame (``VideoFrame.dropped_before``). Nominal fps
is the requested fps, else what the device reports (ignored outside 1-300). The heuristic
assumes the reader keeps up: a reader stalled longer than half a frame (GIL contention) that
then drains buffered frames reads as a drop followed by a burst, which is why the reader thread
does nothing but read and hand over.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from harness.capture.base import Emit, MediaSource
from harness.errors import CaptureError
from harness.media import MICROSECONDS, MediaInfo, VideoFrame
from harness.profiles import DeviceProfile

log = logging.getLogger(__name__)

_V4L2_PATH = re.compile(r"^/dev/video(\d+)$")
#: A gap longer than this many nominal frame intervals means the card dropped frames.
DROP_GAP_INTERVALS = 1.5
#: Frame rates reported outside this range are treated as unknown (no drop detection).
_PLAUSIBLE_FPS = (1.0, 300.0)
#: While catching up to live, a read that blocked this fraction of a frame interval or more
#: waited for a new frame (instead of returning one already queued).
_WAITED_READ_INTERVALS = 0.5
#: A read that took this fraction of the read timeout or more hit the timeout.
_TIMED_OUT = 0.9
#: Catching up never discards more than this much media (a source faster than its nominal fps
#: would otherwise be drained forever).
_MAX_CATCH_UP_S = 5.0


class OpenCVSource(MediaSource):
    """Video from ``cv2.VideoCapture``: V4L2 index, stream URL or file (see the module doc)."""

    backend_name = "opencv"
    provides_video = True
    provides_audio = False

    def __init__(
        self,
        source: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        open_timeout: float = 5.0,
        read_timeout: float = 2.0,
    ) -> None:
        self.source = source
        self.width, self.height, self.fps = width, height, fps
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.device_index = _v4l2_index(source)
        self.is_url = self.device_index is None and "://" in str(source)
        self.is_live = self.device_index is not None or self.is_url
        self.has_end = not self.is_live
        #: frames counted as lost by the drop heuristic (live sources only)
        self.frames_dropped = 0
        self._cap: cv2.VideoCapture | None = None
        self._info: MediaInfo | None = None
        self._interval: float | None = None
        # read() and release() must never overlap (releasing under a blocked read crashes
        # inside FFmpeg); the reader holds this while reading.
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> OpenCVSource:
        video = profile.video
        assert video.source is not None, "validated profiles have video.source for opencv"
        return cls(video.source, width=video.width, height=video.height, fps=video.fps,
                   read_timeout=profile.capture_timeout)

    @property
    def name(self) -> str:
        """How the source is named in messages and ``info.path``."""
        if self.device_index is not None:
            return f"/dev/video{self.device_index}"
        return str(self.source)

    def open(self) -> None:
        if self.device_index is not None:
            cap = self._open_v4l2(self.device_index)
        elif self.is_url:
            cap = self._open_url(str(self.source))
        else:
            cap = self._open_file(Path(str(self.source)))
        if self.is_live and self.clock_origin is None:
            self.clock_origin = time.monotonic()  # used on its own, outside a Pipeline
        reported_fps = cap.get(cv2.CAP_PROP_FPS)
        fps = reported_fps if _PLAUSIBLE_FPS[0] <= reported_fps <= _PLAUSIBLE_FPS[1] else None
        nominal = self.fps or fps
        self._interval = 1.0 / nominal if nominal else None
        duration = None
        if not self.is_live and fps:
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            duration = count / fps if count > 0 else None
        self._info = MediaInfo(
            path=self.name, duration=duration, fps=fps,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or None,
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or None,
        )
        self._cap = cap
        self._closed = False

    def _open_v4l2(self, index: int) -> cv2.VideoCapture:
        device = f"/dev/video{index}"
        if not os.path.exists(device):
            raise CaptureError(
                f"no {device}: is the capture card plugged in and powered? List capture devices "
                "with `v4l2-ctl --list-devices` and set video.source in the profile to its index."
            )
        # The V4L2 backend takes no read timeout; it waits in select() for
        # OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT seconds (default 10), read once per process at the
        # first V4L2 capture. Bound it by our read timeout unless the user chose a value.
        os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT",
                              str(max(1, math.ceil(self.read_timeout))))
        cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if not cap.isOpened():
            raise CaptureError(
                f"{device} exists but cannot be opened for capture: is another program using it "
                f"(`fuser {device}`), may this user read it (group `video`), and is it a capture "
                f"node (`v4l2-ctl -d {device} --all`)?"
            )
        requested = {cv2.CAP_PROP_FRAME_WIDTH: self.width, cv2.CAP_PROP_FRAME_HEIGHT: self.height,
                     cv2.CAP_PROP_FPS: self.fps}
        for prop, value in requested.items():
            if value is not None:
                cap.set(prop, value)
        got = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT),
               cap.get(cv2.CAP_PROP_FPS))
        wanted = (self.width, self.height, self.fps)
        if any(w is not None and abs(w - g) > 0.01 for w, g in zip(wanted, got, strict=True)):
            log.warning(
                "%s delivers %dx%d at %.2f fps, not the requested %sx%s at %s fps; see its modes "
                "with `v4l2-ctl -d %s --list-formats-ext`", device, got[0], got[1], got[2],
                self.width, self.height, self.fps, device,
            )
        return cap

    def _open_url(self, url: str) -> cv2.VideoCapture:
        # Joining a live stream mid-GOP makes FFmpeg log "non-existing PPS" errors per frame
        # until the next keyframe: expected, and only noise to a QA engineer, since every real
        # capture problem reaches them as a CaptureError. Fatal only (8), unless the user set it.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(self.open_timeout * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(self.read_timeout * 1000)]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            raise CaptureError(
                f"nothing received from {url} within {self.open_timeout:g} s: is the sender "
                "(encoder, device or ffmpeg) running and sending to this address and port, and "
                f"does a firewall let it through? Try `ffplay {url}`. Joining a running stream "
                "also waits for its next keyframe: keep them under a second apart (ffmpeg "
                "`-g 30`; x264's default is 250 frames)."
            )
        return cap

    def _open_file(self, path: Path) -> cv2.VideoCapture:
        if not path.is_file():
            raise CaptureError(
                f"{path}: no such video file; check video.source in the profile (a capture card "
                "is an integer index, a stream a URL such as udp://0.0.0.0:5000)"
            )
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise CaptureError(f"{path}: OpenCV cannot decode it; is it a video file? "
                               f"Check with `ffprobe {path}`.")
        return cap

    @property
    def info(self) -> MediaInfo:
        if self._info is None:
            raise RuntimeError("OpenCVSource.info read before open()")
        return self._info

    def close(self) -> None:
        self._closed = True
        # The pipeline joins the reader before closing; should a read still be blocked (it ends
        # within read_timeout), the reader releases the capture itself on its way out.
        if self._lock.acquire(timeout=self.read_timeout + 1.0):
            try:
                self._release()
            finally:
                self._lock.release()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        try:
            if self.is_live:
                self._run_live(emit, stop)
            else:
                self._run_file(emit, stop)
        finally:
            with self._lock:
                if self._closed:
                    self._release()

    def _read(self) -> tuple[bool, np.ndarray | None]:
        with self._lock:
            if self._cap is None or self._closed:
                return False, None
            return self._cap.read()

    def _run_file(self, emit: Emit, stop: threading.Event) -> None:
        seq = 0
        while not stop.is_set():
            with self._lock:
                if self._cap is None or self._closed:
                    return
                ok, image = self._cap.read()
                position_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            if not ok or image is None:
                return  # end of file
            emit(VideoFrame.from_bgr(image, round(position_ms * 1000), MICROSECONDS, seq=seq))
            seq += 1

    def _run_live(self, emit: Emit, stop: threading.Event) -> None:
        assert self.clock_origin is not None, "open() sets the clock origin of a live source"
        ok, image, read_at = self._catch_up(stop)
        seq = 0
        previous: float | None = None
        while ok and image is not None and not stop.is_set():
            frame = VideoFrame.from_bgr(image, round((read_at - self.clock_origin) * 1_000_000),
                                        MICROSECONDS, seq=seq)
            if previous is not None:
                frame.dropped_before = self._dropped_between(previous, read_at)
                self.frames_dropped += frame.dropped_before
            emit(frame)
            seq += 1
            previous = read_at
            ok, image = self._read()
            read_at = time.monotonic()
            # After its read timeout FFmpeg flushes the frames still in its decoder; they are
            # not live video, and the stream is dead.
            ok = ok and read_at - previous < _TIMED_OUT * self.read_timeout
        if not ok and not stop.is_set():
            log.warning("%s: no frame for %g s; the capture ended", self.name, self.read_timeout)

    def _catch_up(self, stop: threading.Event) -> tuple[bool, np.ndarray | None, float]:
        """Discard frames queued before reading began; return the first live one.

        A read that returns a waiting frame takes well under a millisecond, one that waits for
        a live frame most of a frame interval. Two waiting reads in a row mean the queue is
        empty (one alone can be a scheduling hiccup on a busy machine), so the frame of the
        second is live; the first of the two is discarded, which costs one live frame.
        """
        waited = _WAITED_READ_INTERVALS * (self._interval or 1 / 30)
        started = time.monotonic()
        discarded = 0
        waits_in_a_row = 0
        while True:
            before = time.monotonic()
            ok, image = self._read()
            read_at = time.monotonic()
            waits_in_a_row = waits_in_a_row + 1 if read_at - before >= waited else 0
            if (not ok or stop.is_set() or waits_in_a_row == 2
                    or read_at - started >= _MAX_CATCH_UP_S):
                if discarded:
                    log.debug("%s: discarded %d frames queued at open", self.name, discarded)
                return ok, image, read_at
            discarded += 1

    def _dropped_between(self, previous: float, current: float) -> int:
        if self._interval is None:
            return 0
        gap = current - previous
        if gap <= DROP_GAP_INTERVALS * self._interval:
            return 0
        return round(gap / self._interval) - 1


def _v4l2_index(source: int | str) -> int | None:
    if isinstance(source, int):
        return source
    match = _V4L2_PATH.match(source)
    return int(match.group(1)) if match else None


__all__ = ["DROP_GAP_INTERVALS", "OpenCVSource"]
