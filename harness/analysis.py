"""Analyse a recording or catalogue file: the engine behind `harness analyze`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from harness.capture.recording import RecordingSource
from harness.detectors import available, create
from harness.pipeline import Pipeline
from harness.results import PlaybackReport


def analyze(
    path: str | Path,
    defects: Iterable[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> PlaybackReport:
    """Run the detectors (all available, or ``defects``) over a media file, every frame.

    Raises MediaError (one line, says why) when the file cannot be analysed.
    """
    detectors = [create(name) for name in (defects if defects is not None else available())]
    source = RecordingSource(path)
    pipeline = Pipeline([source], detectors, device=str(path))
    return pipeline.run(progress=progress)
