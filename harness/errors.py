"""The harness's exceptions, split the way Allure splits results.

A defect found on the device is a *test failure* (``AssertionError``, Allure "failed", filed under
"Product defects"). A broken rig -- no capture, a bad profile, a missing model -- is *not* an
assertion: Allure files it as "broken", so nobody files a product bug for an unplugged cable.
Each rig error also derives from the stdlib class a caller would naturally catch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.events import Event


class HarnessError(Exception):
    """Base of every rig-side error; its message always says what to do next."""


class ProfileError(HarnessError, ValueError):
    """A device profile is missing or invalid. The message names the file, the key and the fix."""


class CaptureError(HarnessError, OSError):
    """A capture source could not be opened or read (wrong index, unreachable URL, no server)."""


class CaptureLost(CaptureError):
    """A capture that was working stopped delivering frames for longer than ``capture_timeout``."""

    def __init__(
        self, device: str, last_frame_time: float | None, timeout: float, media: str = "video"
    ) -> None:
        self.device = device
        self.last_frame_time = last_frame_time
        self.timeout = timeout
        self.media = media
        #: what was analysed before the capture died (a PlaybackReport), so nothing is lost
        self.partial = None
        last = (
            f"no {media} was ever received"
            if last_frame_time is None
            else (f"last {media} at media time {last_frame_time:.3f} s")
        )
        super().__init__(
            f"CaptureLost(device={device!r}, last_frame_time={last_frame_time}): no {media} for "
            f"{timeout:g} s ({last}). Check the cable, the capture interface and that the device "
            "is still playing; raise capture_timeout in the profile if the source is slow to start."
        )


class MediaError(HarnessError, ValueError):
    """An input file cannot be decoded (missing, corrupt, or has no video/audio stream)."""


class ModelError(HarnessError, RuntimeError):
    """A model file is missing, corrupt or does not match its manifest entry."""


class DefectFound(AssertionError):
    """The device showed one or more defects; the message lists defect, time span, device, score."""

    def __init__(self, device: str, events: Sequence[Event]) -> None:
        self.device = device
        self.events = list(events)
        lines = [f"{len(self.events)} defect(s) on device {device!r}:"]
        lines += [f"  {event.describe()}" for event in self.events]
        super().__init__("\n".join(lines))
