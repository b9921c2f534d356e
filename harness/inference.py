"""ONNX models of the learned detectors: found by name in ``models/manifest.json``, checked
against it, run with onnxruntime on the CPU.

The manifest maps a model name to its file, sha256, input spec, classes, version and how it was
trained. The checksum is verified on every load, so a model retrained without its manifest
entry (or a half-copied file, or a Git LFS pointer) fails here with a message saying what to do,
not later with wrong scores. onnxruntime is imported only here, and only when a model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ModelError

MANIFEST = "manifest.json"
#: Overrides the models directory (a freshly trained model, a test's).
MODELS_ENV = "HARNESS_MODELS"


def models_dir() -> Path:
    """``$HARNESS_MODELS``, or the repository's ``models/``."""
    default = Path(__file__).resolve().parent.parent / "models"
    return Path(os.environ.get(MODELS_ENV, default))


@dataclass(frozen=True)
class ModelInfo:
    """One manifest entry."""

    name: str
    path: Path
    sha256: str
    input: dict[str, Any]
    classes: tuple[str, ...]
    version: str
    trained: dict[str, Any] = field(default_factory=dict)

    @property
    def remedy(self) -> str:
        """What to do when the model is unusable: the command that rebuilds it, if recorded."""
        command = self.trained.get("command")
        rebuild = (f"rebuild it with `{command}` (needs the train extra)" if command
                   else "retrain it")
        return f"Restore models/ from git (git checkout -- models/) or {rebuild}."


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_info(name: str, directory: Path | None = None) -> ModelInfo:
    """The manifest entry of model ``name`` in ``directory`` (default ``models_dir()``);
    ModelError if there is none."""
    directory = models_dir() if directory is None else directory
    manifest = directory / MANIFEST
    try:
        entries = json.loads(manifest.read_text())
        entry = entries[name]
        return ModelInfo(
            name, directory / entry["file"], entry["sha256"], dict(entry["input"]),
            tuple(entry["classes"]), str(entry["version"]), dict(entry.get("trained", {})),
        )
    except FileNotFoundError:
        raise ModelError(f"no model manifest at {manifest}: models/ is missing or incomplete. "
                         "Restore it from git (git checkout -- models/).") from None
    except KeyError as exc:
        raise ModelError(f"model {name!r}: {manifest} has no usable entry ({exc} missing). "
                         "Restore models/ from git or retrain the model.") from None
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{manifest} is not a valid model manifest ({exc}). "
                         "Restore it from git (git checkout -- models/manifest.json).") from None


def load_session(
    name: str, threads: int = 1, directory: Path | None = None
) -> tuple[Any, ModelInfo]:
    """An onnxruntime session for model ``name`` (checksum verified) and its manifest entry.

    ``threads`` is onnxruntime's intra-op thread count: 1 by default, since the pipeline
    already runs detectors on their own threads and small models gain little from more.
    """
    info = model_info(name, directory)
    if not info.path.is_file():
        raise ModelError(f"model {name!r}: {info.path} is missing. {info.remedy}")
    actual = sha256_file(info.path)
    if actual != info.sha256:
        raise ModelError(
            f"model {name!r}: {info.path} does not match its manifest entry (sha256 {actual[:12]}"
            f"..., manifest says {info.sha256[:12]}...). {info.remedy}"
        )
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = onnxruntime.InferenceSession(
            str(info.path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
        raise ModelError(f"model {name!r}: onnxruntime cannot load {info.path} ({exc}). "
                         f"{info.remedy}") from exc
    return session, info
