"""The Detector contract and the registry that maps defect names to detectors.

A detector is fed one item at a time (a VideoFrame or an AudioBlock) and returns the events it
can already close; ``flush`` closes whatever is still open when the stream ends. Its tunables live
in a pydantic ``Settings`` model (units in the field descriptions), so the same table validates a
device profile, documents the defaults and builds the detector.

Detector modules are imported only when a detector is built or its settings are validated, so
``import harness`` stays cheap and a detector with a heavy dependency (onnxruntime) costs
nothing to a run that does not use it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from harness.events import Defect, Event
from harness.media import AudioBlock, VideoFrame

Item = TypeVar("Item", VideoFrame, AudioBlock)


class DetectorSettings(BaseModel):
    """Settings every detector accepts; subclasses add their tunables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run this detector on the device.")


SettingsT = TypeVar("SettingsT", bound=DetectorSettings)


class Detector(ABC, Generic[Item, SettingsT]):
    """Base of all detectors: one defect name, one media kind, a settings model."""

    defect: ClassVar[Defect]
    media: ClassVar[Literal["video", "audio"]]
    Settings: ClassVar[type[DetectorSettings]]

    def __init__(self, settings: SettingsT | None = None) -> None:
        self.settings: SettingsT = settings if settings is not None else self.Settings()  # type: ignore[assignment]

    @abstractmethod
    def process(self, item: Item) -> list[Event]:
        """Consume one frame or audio block; return events that ended before or at it."""

    def flush(self) -> list[Event]:
        """End of stream: return events still open (default: none)."""
        return []


#: defect name -> "module:Class". Modules register nothing at import; this table is the registry,
#: so an unknown name can list every valid one without importing anything.
BUILTIN_DETECTORS: dict[Defect, str] = {
    Defect.BLACK_FRAMES: "harness.detectors.video.black:BlackFrameDetector",
    Defect.FREEZE: "harness.detectors.video.freeze:FreezeDetector",
    Defect.AUDIO_DROPOUT: "harness.detectors.audio.dropout:AudioDropoutDetector",
    Defect.LOUDNESS: "harness.detectors.audio.loudness:LoudnessDetector",
}


def available() -> list[str]:
    """Names of the defects a detector exists for, in contract order."""
    return [defect.value for defect in Defect if defect in BUILTIN_DETECTORS]


def detector_class(name: str) -> type[Detector]:
    """The detector class for a defect name; a clear ValueError lists valid names otherwise."""
    try:
        defect = Defect(name)
        target = BUILTIN_DETECTORS[defect]
    except (ValueError, KeyError):
        known = ", ".join(available())
        raise ValueError(f"no detector for {name!r}; available detectors: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(name: str, settings: dict | DetectorSettings | None = None) -> Detector:
    """Build a detector from its name and (validated) settings."""
    cls = detector_class(name)
    if not isinstance(settings, DetectorSettings):
        settings = cls.Settings.model_validate(settings or {})
    return cls(settings)
