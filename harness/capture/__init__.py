"""Capture backends, one module each; ``open_sources`` builds what a device profile describes.

Backends are imported only when a profile uses them, so a machine without PortAudio can still
run the simulated device, and the pytest plugin loads no cv2 at startup.
"""

from __future__ import annotations

import importlib

from harness.capture.base import Emit, MediaSource
from harness.profiles import DeviceProfile

#: backend name -> "module:Class"; each class has ``from_profile(profile)``.
_BACKENDS: dict[str, str] = {
    "opencv": "harness.capture.opencv:OpenCVSource",
    "sounddevice": "harness.capture.sounddevice:SoundDeviceSource",
    "recording": "harness.capture.recording:RecordingSource",
    "simulated": "harness.capture.simulated:SimulatedSource",
}


def sources_for(profile: DeviceProfile) -> list[MediaSource]:
    """The (unopened) sources of a profile: one that gives both media, or one per medium."""
    video, audio = profile.video.backend, profile.audio.backend
    sources = [_backend(video).from_profile(profile)]
    if audio not in ("none", video):
        sources.append(_backend(audio).from_profile(profile))
    return sources


def _backend(name: str) -> type:
    module_name, class_name = _BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["Emit", "MediaSource", "sources_for"]
