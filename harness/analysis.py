"""Analyse a recording or catalogue file: the engine behind `harness analyze`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from harness.capture.recording import RecordingSource
from harness.detectors import available, create, detector_class, detectors_for
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
    if defects is not None:
        names = detectors_for(defects)
    else:  # everything enabled by default (opt-in detectors, such as LipSync, only on request)
        names = [name for name in available() if detector_class(name).Settings().enabled]
    detectors = [create(name) for name in names]
    pipeline = Pipeline([RecordingSource(path)], detectors, device=str(path))
    report = pipeline.run(progress=progress)
    return report if defects is None else report.only(defects)
