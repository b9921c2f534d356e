"""The MediaSource contract every capture backend implements.

A source is opened, then ``run`` reads in its own thread and hands each VideoFrame/AudioBlock to
``emit`` until the media ends or ``stop`` is set. The pipeline owns threads, queues and timeouts;
a source only reads. Every blocking read in a backend must have a deadline (a dead HDMI stream
must never hang a test): the pipeline's watchdog raises CaptureLost, but it can only join a
reader that eventually returns.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from harness.media import AudioBlock, MediaInfo, VideoFrame

#: Called by a source for each item; returns False when a live item had to be dropped.
Emit = Callable[[VideoFrame | AudioBlock], bool]


class MediaSource(ABC):
    """A capture backend: some video, some audio, or both, on one media clock."""

    backend_name: ClassVar[str]

    #: A live source cannot be paused: when the pipeline falls behind, frames are dropped (and
    #: counted) instead of blocking the reader.
    is_live: bool = True
    #: The media has a natural end (a file, a simulated programme). A source without one that
    #: stops delivering has lost the capture, and the pipeline raises CaptureLost.
    has_end: bool = False
    provides_video: bool = True
    provides_audio: bool = False

    #: ``time.monotonic()`` of media time zero, shared by all sources of one capture session so
    #: live video and live audio land on one clock. The pipeline sets it just before ``open``;
    #: sources that carry their own timestamps (files, the simulator) ignore it.
    clock_origin: float | None = None

    def __enter__(self) -> MediaSource:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def open(self) -> None:
        """Acquire the source; raise CaptureError saying what to check when it cannot."""

    @abstractmethod
    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read and emit items until the media ends or ``stop`` is set."""

    def close(self) -> None:  # noqa: B027 - optional hook: sources holding nothing skip it
        """Release the source (idempotent); the default holds nothing to release."""

    @property
    @abstractmethod
    def info(self) -> MediaInfo:
        """What is known of the media (valid after ``open``)."""
