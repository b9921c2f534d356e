"""A device under test: its profile, and the verbs a test uses (``check``, ``watch``).

Each ``watch`` is one capture session: sources are opened, streamed through the detectors for the
requested time, and closed, so a hung or failed test can never leave a capture open for the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from harness.capture import sources_for
from harness.detectors import available, create, detectors_for
from harness.detectors.base import Detector
from harness.errors import CaptureError
from harness.pipeline import Pipeline
from harness.profiles import DEFAULT_DEVICE, DeviceProfile, Fault, load_profile
from harness.results import PlaybackReport

log = logging.getLogger(__name__)


class Device:
    """One device, as its profile describes it."""

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile

    @property
    def name(self) -> str:
        return self.profile.name

    def __repr__(self) -> str:
        return f"Device({self.name!r}, video={self.profile.video.backend})"

    def detectors(self, defects: Iterable[str] | None = None) -> list[Detector]:
        """Build the enabled detectors, or those that look for ``defects`` (defect names)."""
        names = detectors_for(defects) if defects is not None else available()
        built = []
        for name in names:
            settings = self.profile.detector_settings(name)
            if settings.enabled or defects is not None:
                built.append(create(name, settings))
        return built

    def watch(
        self,
        seconds: float | None = None,
        *,
        defects: Iterable[str] | None = None,
        faults: Sequence[Fault | dict] = (),
        progress: Callable[[float], None] | None = None,
    ) -> PlaybackReport:
        """Capture for ``seconds`` of media time (None: until the source ends) and analyse it.

        ``faults`` are extra scripted faults for a simulated device (ignored with a warning
        otherwise, since a real device cannot be told to fail).
        """
        profile = self._with_faults(faults)
        pipeline = Pipeline(
            sources_for(profile),
            self.detectors(defects),
            device=self.name,
            capture_timeout=profile.capture_timeout,
        )
        report = pipeline.run(duration=seconds, progress=progress)
        return report if defects is None else report.only(defects)

    def check(self, seconds: float = 3.0) -> PlaybackReport:
        """Open the capture and read for a few seconds with no detectors: is the rig healthy?"""
        pipeline = Pipeline(
            sources_for(self.profile),
            [],
            device=self.name,
            capture_timeout=self.profile.capture_timeout,
        )
        report = pipeline.run(duration=seconds)
        if report.stats.video_frames == 0:
            raise CaptureError(f"device {self.name!r} delivered no video frames in {seconds:g} s")
        return report

    def _with_faults(self, faults: Sequence[Fault | dict]) -> DeviceProfile:
        if not faults:
            return self.profile
        if self.profile.simulation is None:
            log.warning("device %s is not simulated; scripted faults are ignored", self.name)
            return self.profile
        extra = [Fault.model_validate(f) if isinstance(f, dict) else f for f in faults]
        simulation = self.profile.simulation.model_copy(
            update={"faults": [*self.profile.simulation.faults, *extra]}
        )
        return self.profile.model_copy(update={"simulation": simulation})


def open_device(name: str = DEFAULT_DEVICE, profiles_dir: str | Path | None = None) -> Device:
    """The device a profile names (``sim01``, the simulated device, by default)."""
    return Device(load_profile(name, profiles_dir))
