"""Device profiles: load and validate ``device_profiles/*.yaml``.

One pydantic model tree is the table of keys, defaults and validators. Every problem in a file is
reported at once, each naming the file, the key path and the fix; unknown keys are rejected with
the allowed ones listed (a typo such as ``fsp`` must never be silently ignored, or a test would
run with a default nobody chose).
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.detectors.base import DetectorSettings, detector_class
from harness.errors import ProfileError

if typing.TYPE_CHECKING:
    from harness.impairments.base import AudioImpairment, VideoImpairment

#: Profiles shipped inside the package (the simulated device), found from any directory.
BUILTIN_PROFILES_DIR = Path(__file__).parent / "builtin_profiles"
DEFAULT_DEVICE = "sim01"

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoSource(_Section):
    """Where the pictures come from."""

    backend: Literal["opencv", "recording", "simulated"] = Field(
        description="opencv: capture card index, file or stream URL; recording: a media file "
        "with its audio (PyAV); simulated: the built-in simulated device"
    )
    source: int | str | None = Field(
        None,
        description="V4L2 index (0 = /dev/video0), file path, or URL (udp://, rtsp://, srt://)",
    )
    width: PositiveInt | None = Field(None, description="requested capture width in pixels")
    height: PositiveInt | None = Field(None, description="requested capture height in pixels")
    fps: PositiveFloat | None = Field(None, description="requested capture frame rate")

    @model_validator(mode="after")
    def _needs_source(self) -> VideoSource:
        if self.backend != "simulated" and self.source is None:
            raise ValueError(f"video.source is required for backend {self.backend!r}")
        return self


class AudioSource(_Section):
    """Where the sound comes from; ``backend: none`` for a video-only rig."""

    backend: Literal["sounddevice", "recording", "simulated", "none"] = "none"
    device: int | str | None = Field(
        None, description="sounddevice input device name or index (see `python -m sounddevice`)"
    )
    sample_rate: PositiveInt = 48000
    channels: PositiveInt = 2
    block_seconds: Annotated[float, Field(gt=0, le=1)] = Field(
        0.1, description="length of each captured audio block"
    )


class Control(_Section):
    """How playback is started. Only ``none`` exists yet; adb, roku, http and lirc will add
    their own keys under ``settings``."""

    kind: Literal["none"] = "none"
    settings: dict[str, Any] = Field(default_factory=dict)


class Fault(_Section):
    """A scripted fault the simulated device injects: any impairment of ``harness.impairments``
    (a defect, or a look-alike that must not be flagged), with its parameters."""

    defect: str = Field(
        description="impairment name, e.g. freeze, block_corruption_bitstream, "
        "audio_hum, film_grain (`harness.impairments.registry.IMPAIRMENTS`)"
    )
    at: Annotated[float, Field(ge=0)] = Field(description="media time the fault starts (s)")
    duration: PositiveFloat = Field(description="how long it lasts (s)")
    params: dict[str, Any] = Field(default_factory=dict, description="impairment parameters")

    @model_validator(mode="after")
    def _known_impairment(self) -> Fault:
        from harness.impairments.registry import create

        try:
            create(self.defect, self.at, self.duration, **self.params)
        except TypeError as exc:  # an unexpected keyword: name the impairment's real ones
            raise ValueError(f"fault {self.defect!r}: bad params ({exc})") from None
        return self

    def impairment(self, seed: int) -> VideoImpairment | AudioImpairment:
        """A fresh impairment instance for one playback."""
        from harness.impairments.registry import create

        return create(self.defect, self.at, self.duration, seed=seed, **self.params)


class Simulation(_Section):
    """The simulated device: real or generated content played with scripted faults."""

    content: str = Field(
        "testsrc",
        description="'testsrc' (generated moving picture + tone/speech-like audio) or a media file",
    )
    duration: PositiveFloat = Field(30.0, description="seconds of content to play")
    width: PositiveInt = 1280
    height: PositiveInt = 720
    fps: PositiveFloat = 30.0
    realtime: bool = Field(
        True, description="pace output like a live device (false: as fast as possible)"
    )
    capture_artifacts: bool = Field(
        True,
        description="add a capture path's look: MJPEG noise, limited range, audio noise floor",
    )
    seed: int = 0
    faults: list[Fault] = Field(default_factory=list)
    stall_at: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="media time the simulated capture stops delivering (rehearses CaptureLost)",
    )


class Expected(_Section):
    """What the device should output; detectors check against it."""

    width: PositiveInt | None = None
    height: PositiveInt | None = None
    fps: PositiveFloat | None = None
    loudness_lufs: float | None = Field(
        None, description="integrated loudness target (e.g. -23, -24)"
    )


class DeviceProfile(_Section):
    """A validated device profile."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    video: VideoSource
    audio: AudioSource = AudioSource()
    control: Control = Control()
    capture_timeout: PositiveFloat = Field(
        2.0, description="seconds without video before CaptureLost"
    )
    simulation: Simulation | None = None
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    expected: Expected = Expected()
    path: Path | None = Field(None, exclude=True, description="file the profile was read from")

    @model_validator(mode="after")
    def _simulation_matches_backend(self) -> DeviceProfile:
        simulated = self.video.backend == "simulated"
        if simulated and self.simulation is None:
            raise ValueError("video.backend 'simulated' needs a 'simulation' section")
        if not simulated and self.simulation is not None:
            raise ValueError("'simulation' is only valid with video.backend 'simulated'")
        return self

    def detector_settings(self, name: str) -> DetectorSettings:
        """Validated settings for one detector, with the profile's expectations applied."""
        values = dict(self.detectors.get(name, {}))
        if name == "loudness" and self.expected.loudness_lufs is not None:
            values.setdefault("target_lufs", self.expected.loudness_lufs)
        return detector_class(name).Settings.model_validate(values)


def search_dirs(profiles_dir: str | Path | None = None) -> list[Path]:
    """Where profiles are looked up, first match wins: the given dir, $HARNESS_PROFILES_DIR,
    ./device_profiles, then the built-in ones."""
    candidates = [profiles_dir, os.environ.get("HARNESS_PROFILES_DIR"), "device_profiles"]
    dirs = [Path(c) for c in candidates if c]
    return [d for d in dirs if d.is_dir()] + [BUILTIN_PROFILES_DIR]


def find_profile(name: str, profiles_dir: str | Path | None = None) -> Path:
    path = Path(name)
    if path.suffix in {".yaml", ".yml"}:
        if path.is_file():
            return path
        raise ProfileError(f"{path}: no such profile file; check the path.")
    dirs = search_dirs(profiles_dir)
    for directory in dirs:
        for suffix in (".yaml", ".yml"):
            if (candidate := directory / f"{name}{suffix}").is_file():
                return candidate
    known = ", ".join(sorted({p.stem for d in dirs for p in _profile_files(d)})) or "none"
    where = ", ".join(str(d) for d in dirs)
    raise ProfileError(
        f"no device profile named {name!r} (looked in {where}). Known devices: {known}. "
        f"Create {dirs[0] / (name + '.yaml')} or pass --profiles-dir."
    )


def load_profile(name: str, profiles_dir: str | Path | None = None) -> DeviceProfile:
    """Load a profile by device name (``tv01``) or by path (``lab/tv01.yaml``)."""
    return parse_profile(find_profile(name, profiles_dir))


def parse_profile(path: Path) -> DeviceProfile:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(
            f"{path}: a profile is a YAML mapping (name:, video: ...), got {type(data).__name__}"
        )
    problems: list[str] = []
    profile: DeviceProfile | None = None
    try:
        profile = DeviceProfile.model_validate({**data, "path": path})
    except ValidationError as exc:
        problems += [_explain(error, DeviceProfile) for error in exc.errors()]
    detectors = data.get("detectors") or {}
    if isinstance(detectors, dict):
        problems += list(_detector_problems(detectors))
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ProfileError(f"{path} is not a valid device profile:\n{lines}")
    assert profile is not None
    if profile.name != path.stem:
        raise ProfileError(
            f"{path}: name: {profile.name!r} differs from the file name; rename the file to "
            f"{profile.name}.yaml or set name: {path.stem}"
        )
    return profile


def list_profiles(profiles_dir: str | Path | None = None) -> Iterator[tuple[str, Path]]:
    """(name, path) of every profile found, first match per name."""
    seen: set[str] = set()
    for directory in search_dirs(profiles_dir):
        for path in _profile_files(directory):
            if path.stem not in seen:
                seen.add(path.stem)
                yield path.stem, path


def _profile_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def _detector_problems(detectors: dict[str, Any]) -> Iterator[str]:
    for name, settings in detectors.items():
        try:
            cls = detector_class(str(name))
        except ValueError as exc:
            yield f"detectors.{name}: {exc}"
            continue
        try:
            cls.Settings.model_validate(settings or {})
        except ValidationError as exc:
            for error in exc.errors():
                yield _explain(error, cls.Settings, prefix=("detectors", name))


def _explain(error: dict[str, Any], root: type[BaseModel], prefix: tuple = ()) -> str:
    """One line per pydantic error: the key path, what is wrong, and how to fix it."""
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in (*prefix, *loc)) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = (
            sorted(_model_at(root, loc[:-1]).model_fields) if _model_at(root, loc[:-1]) else []
        )
        allowed = [a for a in allowed if a != "path"]
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {guess[0]!r}? " if guess else ""
        return f"{key}: unknown key; {hint}allowed keys: {', '.join(allowed)}"
    if error["type"] == "missing":
        return f"{key}: required key is missing; add it"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{key}: {message}{shown}"


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class found by following a pydantic error location from ``root``."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        model = _as_model(current)
        if model is None or part not in model.model_fields:
            return None
        current = model.model_fields[part].annotation
    return _as_model(current)


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            if (model := _as_model(arg)) is not None:
                return model
    return None
