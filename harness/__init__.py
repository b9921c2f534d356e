"""vqa-harness: catch audio/video defects on real playback devices.

The public verbs and types, imported lazily so ``import harness`` (and the pytest plugin) stays
cheap: nothing heavy (cv2, PyAV, onnxruntime) loads until a verb is used.

    >>> from harness import open_device
    >>> report = open_device("sim01").watch(seconds=10)
    >>> report.assert_clean()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AudioBlock",
    "CaptureError",
    "CaptureLost",
    "Defect",
    "DefectFound",
    "Device",
    "DeviceProfile",
    "Event",
    "MediaError",
    "ModelError",
    "PlaybackReport",
    "ProfileError",
    "VideoFrame",
    "analyze",
    "load_profile",
    "open_device",
]

_HOMES = {
    "AudioBlock": "harness.media",
    "VideoFrame": "harness.media",
    "CaptureError": "harness.errors",
    "CaptureLost": "harness.errors",
    "DefectFound": "harness.errors",
    "MediaError": "harness.errors",
    "ModelError": "harness.errors",
    "ProfileError": "harness.errors",
    "Defect": "harness.events",
    "Event": "harness.events",
    "Device": "harness.device",
    "open_device": "harness.device",
    "DeviceProfile": "harness.profiles",
    "load_profile": "harness.profiles",
    "PlaybackReport": "harness.results",
    "analyze": "harness.analysis",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from harness.analysis import analyze
    from harness.device import Device, open_device
    from harness.errors import (
        CaptureError,
        CaptureLost,
        DefectFound,
        MediaError,
        ModelError,
        ProfileError,
    )
    from harness.events import Defect, Event
    from harness.media import AudioBlock, VideoFrame
    from harness.profiles import DeviceProfile, load_profile
    from harness.results import PlaybackReport
