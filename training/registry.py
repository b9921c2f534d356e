"""Writing a trained model's entry into ``models/manifest.json`` (read by ``harness.inference``).

The manifest is shared by every model, and other models' entries are kept as they are: the file
is read, this model's entry replaced, and written back atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.inference import MANIFEST, sha256_file


def training_command(module: str, *options: str | bool | None) -> str:
    """The command line that trains a model again (recorded as ``trained.command``): the
    module and the options that decide the model; a false or None option (``flag and
    "--option"``) is one left at its default and is not written."""
    written = [option for option in options if isinstance(option, str) and option]
    return " ".join(["python -m", module, *written])


def register(
    directory: Path, name: str, file: Path, *, input_spec: dict[str, Any],
    classes: tuple[str, ...], version: str, trained: dict[str, Any],
) -> dict[str, Any]:
    """Add or replace model ``name`` (``file`` inside ``directory``); returns its entry."""
    manifest = directory / MANIFEST
    entries = json.loads(manifest.read_text()) if manifest.exists() else {}
    entry = {
        "file": file.relative_to(directory).as_posix(),
        "sha256": sha256_file(file),
        "input": input_spec,
        "classes": list(classes),
        "version": version,
        "trained": trained,
    }
    entries[name] = entry
    partial = manifest.with_name(f".{manifest.name}.partial")
    partial.write_text(json.dumps(entries, indent=2) + "\n")
    partial.replace(manifest)
    return entry
