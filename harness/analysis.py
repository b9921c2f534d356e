"""Analyse a recording or catalogue file: the engine behind `harness analyze`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from harness.capture.recording import RecordingSource
from harness.detectors import available, create, detectors_for
from harness.pipeline import Pipeline
from harness.results import PlaybackReport


def analyze(
    path: str | Path,
    defects: Iterable[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> PlaybackReport:
    """Run every detector (or those looking for ``defects``) over a media file, every frame.

    Raises MediaError (one line, says why) when the file cannot be analysed.
    """
    names = detectors_for(defects) if defects is not None else available()
    pipeline = Pipeline([RecordingSource(path)], [create(n) for n in names], device=str(path))
    report = pipeline.run(progress=progress)
    return report if defects is None else report.only(defects)
