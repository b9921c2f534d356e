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
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

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
    """Base of all detectors: a registry name, the defects it reports, one media kind, settings.

    A detector reporting a single defect just sets ``defect``; its ``name`` and ``defects``
    follow. One reporting several (the audio artifact classifier: hum, hiss, distortion, clicks)
    sets ``name`` and ``defects``.
    """

    name: ClassVar[str]
    defects: ClassVar[tuple[Defect, ...]]
    defect: ClassVar[Defect]
    #: "video" or "audio": fed that medium. "av": fed both, frames from the video thread and
    #: blocks from the audio thread; the base serialises the calls (``process`` is never run
    #: twice at once), so an A/V detector only buffers, it never locks.
    media: ClassVar[Literal["video", "audio", "av"]]
    Settings: ClassVar[type[DetectorSettings]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "defect" in cls.__dict__:
            cls.defects = cls.__dict__.get("defects", (cls.defect,))
            cls.name = cls.__dict__.get("name", cls.defect.value)

    def __init__(self, settings: SettingsT | None = None) -> None:
        self.settings: SettingsT = settings if settings is not None else self.Settings()  # type: ignore[assignment]
        if self.media == "av":
            self.process = _serialised(self.process)  # type: ignore[method-assign]

    @abstractmethod
    def process(self, item: Item) -> list[Event]:
        """Consume one frame or audio block; return events that ended before or at it."""

    def flush(self) -> list[Event]:
        """End of stream: return events still open (default: none)."""
        return []

    def summary(self) -> dict[str, Any] | None:
        """A whole-programme result beside the events, read after ``flush`` (e.g. the A/V sync
        verdict and offset); None when the detector has none."""
        return None


def _serialised(process: Callable[[Any], list[Event]]) -> Callable[[Any], list[Event]]:
    lock = threading.Lock()

    def locked(item: Any) -> list[Event]:
        with lock:
            return process(item)

    return locked


@dataclass(frozen=True)
class Registration:
    """Where a detector lives and what it reports, known without importing it."""

    target: str  #: "module:Class"
    defects: tuple[Defect, ...]


#: detector name -> registration. This table is the registry: an unknown name can list every
#: valid one, and ``--defects`` can pick detectors, without importing any detector module.
BUILTIN_DETECTORS: dict[str, Registration] = {
    "black_frames": Registration(
        "harness.detectors.video.black:BlackFrameDetector", (Defect.BLACK_FRAMES,)
    ),
    "freeze": Registration("harness.detectors.video.freeze:FreezeDetector", (Defect.FREEZE,)),
    "block_corruption": Registration(
        "harness.detectors.video.block_corruption:BlockCorruptionDetector",
        (Defect.BLOCK_CORRUPTION,),
    ),
    "audio_dropout": Registration(
        "harness.detectors.audio.dropout:AudioDropoutDetector", (Defect.AUDIO_DROPOUT,)
    ),
    "loudness": Registration(
        "harness.detectors.audio.loudness:LoudnessDetector", (Defect.LOUDNESS,)
    ),
    "av_sync_pattern": Registration(
        "harness.detectors.av.pattern:SyncPatternDetector", (Defect.AV_SYNC,)
    ),
    "audio_artifacts": Registration(
        "harness.detectors.audio.artifacts:AudioArtifactDetector",
        (Defect.AUDIO_HUM, Defect.AUDIO_HISS, Defect.AUDIO_DISTORTION, Defect.AUDIO_CLICKS),
    ),
    "lipsync": Registration("harness.detectors.av.lipsync:LipSyncDetector", (Defect.AV_SYNC,)),
}


def available() -> list[str]:
    """Names of the registered detectors."""
    return list(BUILTIN_DETECTORS)


def detectable() -> list[str]:
    """Defect names some registered detector reports, in contract order."""
    reported = {d for registration in BUILTIN_DETECTORS.values() for d in registration.defects}
    return [defect.value for defect in Defect if defect in reported]


def detectors_for(defects: Iterable[str]) -> list[str]:
    """The detectors needed to look for ``defects`` (defect names)."""
    wanted = {Defect(name) for name in defects}
    return [name for name, reg in BUILTIN_DETECTORS.items() if wanted & set(reg.defects)]


def detector_class(name: str) -> type[Detector]:
    """The detector class for a detector name; a clear ValueError lists valid names otherwise."""
    try:
        target = BUILTIN_DETECTORS[name].target
    except KeyError:
        known = ", ".join(available())
        raise ValueError(f"no detector named {name!r}; available detectors: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(name: str, settings: dict | DetectorSettings | None = None) -> Detector:
    """Build a detector from its name and (validated) settings."""
    cls = detector_class(name)
    if not isinstance(settings, DetectorSettings):
        settings = cls.Settings.model_validate(settings or {})
    return cls(settings)
