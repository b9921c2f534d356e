"""Analyse a recording or catalogue file: the engine behind `harness analyze`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from harness.capture.recording import RecordingSource
from harness.detectors import Detector, available, create, detector_class, detectors_for
from harness.events import Defect
from harness.pipeline import Pipeline
from harness.results import PlaybackReport

log = logging.getLogger(__name__)


def analyze(
    path: str | Path,
    defects: Iterable[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> PlaybackReport:
    """Run every detector (or those looking for ``defects``) over a media file, every frame.

    Video, audio+video and audio-only files are accepted; the detectors of a medium the file
    lacks see nothing and report nothing (asked for by name, they are logged as not measured).
    Raises MediaError (one line, says why) when the file cannot be analysed.
    """
    if defects is not None:
        defects = list(defects)
        names = detectors_for(defects)
    else:  # everything enabled by default (opt-in detectors, such as LipSync, only on request)
        names = [name for name in available() if detector_class(name).Settings().enabled]
    detectors = [create(name) for name in names]
    source = RecordingSource(path, require_video=False)
    pipeline = Pipeline([source], detectors, device=str(path))
    report = pipeline.run(progress=progress)
    if defects is None:
        return report
    _warn_unmeasured(source, detectors, defects)
    return report.only(defects)


def _warn_unmeasured(
    source: RecordingSource, detectors: Sequence[Detector], defects: Sequence[str]
) -> None:
    """Log the defects asked for by name that the file cannot show: every detector reporting
    them needs a medium (video, audio) the file lacks. The report itself stays as it is."""
    present = {"video": source.provides_video, "audio": source.provides_audio}
    for medium in (m for m, there in present.items() if not there):
        blind = [
            name
            for name in defects
            if all(d.media in (medium, "av") for d in detectors if Defect(name) in d.defects)
        ]
        if blind:
            log.warning(
                "%s has no %s stream: %s not measured", source.path, medium, ", ".join(blind)
            )
