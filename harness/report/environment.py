"""The run-wide files of an Allure results folder: environment.properties and categories.json.

environment.properties answers "what was tested with what" on the report's overview page;
categories.json sorts failures by defect and separates rig problems from device defects, so a
triager sees "freeze: 3, Capture lost: 1" instead of a flat list of red tests.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.errors import CaptureLost, HarnessError
from harness.events import Defect

#: The model manifest of a source checkout (absent from a wheel install, then no model lines).
MODELS_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "manifest.json"


def write_environment(
    results_dir: Path, devices: Sequence[str], build: str, manifest: Path = MODELS_MANIFEST
) -> Path:
    """Write environment.properties: devices, build, harness and model versions, Python, OS.

    Devices already listed by an earlier session writing to the same folder (one run per
    device, results collected together) are kept, so the overview names every device reported.
    """
    path = results_dir / "environment.properties"
    try:
        harness_version = version("vqa-harness")
    except PackageNotFoundError:
        harness_version = "not installed"
    values = {
        "device": ", ".join(dict.fromkeys([*_listed_devices(path), *devices])),
        "build": build,
        "harness": harness_version,
        **{f"model.{name}": model_version for name, model_version in _models(manifest)},
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    _replace(path, "".join(f"{key}={_escape(value)}\n" for key, value in values.items()))
    return path


def write_categories(results_dir: Path) -> Path:
    """Write categories.json (see ``categories``)."""
    path = results_dir / "categories.json"
    _replace(path, json.dumps(categories(), indent=2))
    return path


def categories() -> list[dict[str, Any]]:
    """One category per defect, then lost captures, then other rig problems.

    Allure matches ``messageRegex`` against the whole message, which for DefectFound is
    "...DefectFound: N defect(s) on device 'tv01':" followed by one indented line per event
    starting with the defect name; a test goes to the first category that matches.
    """
    # The rig errors of harness.errors only: the set must not depend on which other modules
    # (corpus, datasets) this process happened to import.
    rig_errors = sorted(
        cls.__name__ for cls in _subclasses(HarnessError)
        if cls.__module__ == HarnessError.__module__ and cls is not CaptureLost
    )
    return [
        *(
            {
                "name": f"Defect: {defect.value}",
                "matchedStatuses": ["failed"],
                "messageRegex": rf"(?s).*DefectFound: .*\n\s+{defect.value} .*",
            }
            for defect in Defect
        ),
        {
            "name": "Capture lost",
            "matchedStatuses": ["broken"],
            "messageRegex": rf"(?s).*\b{CaptureLost.__name__}: .*",
        },
        {
            "name": "Rig problems",
            "matchedStatuses": ["broken"],
            "messageRegex": rf"(?s).*\b({'|'.join(rig_errors)}): .*",
        },
    ]


def _subclasses(cls: type) -> Iterator[type]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _models(manifest: Path) -> Iterator[tuple[str, str]]:
    """(name, version) of each model in ``models/manifest.json`` (``{name: {"sha256", "version",
    ...}}``); the sha256 prefix stands in for a missing version."""
    if not manifest.is_file():
        return
    for name, entry in json.loads(manifest.read_text()).items():
        yield name, str(entry.get("version") or entry["sha256"][:12])


def _listed_devices(path: Path) -> list[str]:
    if not path.is_file():
        return []
    for line in path.read_text().splitlines():
        if line.startswith("device="):
            return [name.strip() for name in line.removeprefix("device=").split(",")]
    return []


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: concurrent writers (xdist workers, parallel jobs)
    never leave a half-written file for Allure to read."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def _escape(value: str) -> str:
    """A Java properties value: backslashes and line breaks escaped."""
    return re.sub(r"[\\\n\r]", lambda m: {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}[m[0]], value)
