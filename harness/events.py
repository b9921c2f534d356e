"""Defect names and the Event record every detector emits.

The names are a stable contract: they appear in events, profiles, Allure categories and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from harness.media import AudioBlock, VideoFrame


class Defect(StrEnum):
    BLACK_FRAMES = "black_frames"
    FREEZE = "freeze"
    STUTTER = "stutter"
    BLOCK_CORRUPTION = "block_corruption"
    TEARING = "tearing"
    SOLID_COLOR = "solid_color"
    INTERLACING = "interlacing"
    ASPECT_RATIO = "aspect_ratio"
    BLUR = "blur"
    FLICKER = "flicker"
    AUDIO_DROPOUT = "audio_dropout"
    AUDIO_CLICKS = "audio_clicks"
    AUDIO_HUM = "audio_hum"
    AUDIO_HISS = "audio_hiss"
    AUDIO_DISTORTION = "audio_distortion"
    LOUDNESS = "loudness"
    AV_SYNC = "av_sync"
    CAPTIONS = "captions"


#: A picture that is black or one solid colour is also, trivially, frozen: report the specific
#: defect only, so one incident is one event.
_SUBSUMED_BY = {Defect.FREEZE: (Defect.BLACK_FRAMES, Defect.SOLID_COLOR)}
#: How far (s) a subsumed event may stick out of the one covering it (detectors decide edges
#: frame by frame, on different statistics).
_COVER_SLACK = 0.1

AUDIO_DEFECTS = frozenset(d for d in Defect if d.value.startswith("audio_") or d is Defect.LOUDNESS)


@dataclass
class Evidence:
    """What a human needs to judge an event in seconds; rendered by ``harness.report``.

    ``frames`` are (label, frame) pairs such as ("before", f0), ("at", f1); ``audio`` is a snippet
    around the event; ``heat_map`` is a learned detector's map over the "at" frame (rows x
    columns, 0-1, each cell an equal region of the picture), drawn over it by the report with
    the cells at or above ``heat_map_threshold`` (the detector's own cell threshold) outlined.
    Detectors attach only what they already hold, so evidence costs nothing when no report is
    written.
    """

    frames: list[tuple[str, VideoFrame]] = field(default_factory=list)
    audio: AudioBlock | None = None
    heat_map: np.ndarray | None = None
    heat_map_threshold: float = 0.5


@dataclass
class Event:
    """One defect occurrence on the media clock (seconds)."""

    defect: Defect
    start: float
    end: float
    score: float
    detail: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.defect = Defect(self.defect)
        if self.end < self.start:
            raise ValueError(f"event ends before it starts: {self.start} > {self.end}")
        self.score = float(min(1.0, max(0.0, self.score)))

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the `harness analyze` contract (evidence is not serialised)."""
        return {
            "defect": self.defect.value,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": round(self.score, 3),
            "detail": self.detail,
        }

    def describe(self) -> str:
        """One readable line: defect, time span, score and the detail that explains it."""
        detail = ", ".join(f"{key}={_fmt(value)}" for key, value in self.detail.items())
        text = (
            f"{self.defect.value:<17} {self.start:8.3f}-{self.end:8.3f} s  score {self.score:.2f}"
        )
        return f"{text}  ({detail})" if detail else text


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def without_subsumed(events: list[Event]) -> list[Event]:
    """Drop events that only restate a more specific one over the same span (a black screen
    is not also reported as a freeze)."""

    def covered(event: Event) -> bool:
        return any(
            other.defect in _SUBSUMED_BY.get(event.defect, ())
            and other.start - _COVER_SLACK <= event.start
            and event.end <= other.end + _COVER_SLACK
            for other in events
        )

    return [event for event in events if not covered(event)]
