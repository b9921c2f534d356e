"""Events: validation, the readable line, and one incident reported once."""

from __future__ import annotations

import pytest

from harness.errors import DefectFound
from harness.events import Defect, Event, without_subsumed


def test_event_validates_and_describes_itself() -> None:
    event = Event("freeze", 3.0, 4.5, 1.7, {"mafd": 0.4})
    assert event.defect is Defect.FREEZE and event.score == 1.0 and event.duration == 1.5
    assert event.describe() == "freeze               3.000-   4.500 s  score 1.00  (mafd=0.4)"
    assert event.to_dict() == {
        "defect": "freeze",
        "start": 3.0,
        "end": 4.5,
        "score": 1.0,
        "detail": {"mafd": 0.4},
    }
    with pytest.raises(ValueError):
        Event("blurry", 0, 1, 0.5)
    with pytest.raises(ValueError, match="ends before it starts"):
        Event("freeze", 2, 1, 0.5)


def test_a_black_screen_is_not_also_a_freeze() -> None:
    black = Event("black_frames", 1.5, 3.0, 0.9)
    covered_freeze = Event("freeze", 1.533, 3.0, 0.7)
    longer_freeze = Event("freeze", 1.5, 5.0, 0.8)  # froze on black, then stayed frozen
    dropout = Event("audio_dropout", 1.6, 1.9, 1.0)
    kept = without_subsumed([black, covered_freeze, longer_freeze, dropout])
    assert kept == [black, longer_freeze, dropout]


def test_defect_found_lists_every_event_and_is_an_assertion() -> None:
    error = DefectFound("tv01", [Event("freeze", 3.0, 4.5, 0.9), Event("audio_dropout", 7, 7.2, 1)])
    assert isinstance(error, AssertionError)
    lines = str(error).splitlines()
    assert lines[0] == "2 defect(s) on device 'tv01':"
    assert lines[1].strip().startswith("freeze") and "3.000-" in lines[1]
    assert lines[2].strip().startswith("audio_dropout")


def test_registry_maps_defects_to_detectors() -> None:
    from harness.detectors import available, detectable, detectors_for

    assert {"black_frames", "freeze", "audio_dropout", "loudness"} <= set(available())
    assert "freeze" in detectable() and "captions" not in detectable()
    assert detectors_for(["freeze", "loudness"]) == ["freeze", "loudness"]


def test_audio_history_snippet_keeps_its_time_axis_across_lost_audio() -> None:
    import numpy as np

    from harness.media import AudioBlock, AudioHistory

    history = AudioHistory(seconds=10)
    history.append(AudioBlock(np.ones((100, 1), np.float32), 1000, 0))
    history.append(AudioBlock(np.ones((100, 1), np.float32), 1000, 150))  # 50 samples lost
    snippet = history.snippet(0.05, 0.2)
    assert snippet is not None and snippet.start == 50 and len(snippet.samples) == 150
    assert snippet.samples[:50].all() and not snippet.samples[50:100].any()
    assert snippet.samples[100:].all()
