"""FreezeDetector on captured-looking frames: a frozen picture is found to the frame although no
two captures of it are identical, and still-looking content is not taken for a freeze."""

from __future__ import annotations

import numpy as np
import pytest

from harness.detectors import create
from harness.detectors.video.freeze import FreezeDetector, FreezeSettings
from harness.events import Defect
from tests.media_files import needs_ffmpeg
from tests.video_content import (
    FPS,
    HEIGHT,
    WIDTH,
    capture,
    crowd,
    decode,
    detect,
    drop,
    encode_capture,
    faded,
    ffmpeg_intervals,
    film_grain,
    frame_spans,
    freeze_in,
    match_intervals,
    night_scene,
    pan,
    photo,
    with_moving_object,
)

FRAME = 1 / FPS


@pytest.mark.parametrize(
    ("content", "quality", "noise"),
    [("photo", 70, 1.5), ("crowd", 70, 1.5), ("photo", 50, 3.0)],
    ids=["photo", "busy-crowd", "photo-heavy-capture-noise"],
)
def test_freeze_is_found_to_the_frame(canvas, content, quality, noise):
    rng = np.random.default_rng(2)
    scene = canvas if content == "photo" else crowd(rng, WIDTH + 600, HEIGHT)
    pictures = freeze_in(pan(scene, 40, 4.0), 5, 35)
    frames = capture(pictures, rng, quality=quality, noise_sigma=noise)

    events = detect(FreezeDetector(), frames)

    assert frame_spans(events) == [(5, 35)]
    event = events[0]
    assert event.defect is Defect.FREEZE
    assert 0.5 < event.score <= 1.0
    assert 0 < event.detail["mafd"] <= FreezeSettings().noise_mafd
    assert [label for label, _ in event.evidence.frames] == ["before", "at"]
    assert event.evidence.frames[1][1] is frames[5]


def test_freeze_during_a_slow_pan_keeps_its_edges(canvas):
    """Frames of a slow pan stay under the noise threshold of a reference for a few frames, so
    a freeze would grow into them at both ends; its edges are trimmed back to the frame."""
    slow = pan(canvas, 15, 0.6)
    frames = capture(slow[:5] + [slow[5]] * 30 + slow[6:], np.random.default_rng(8))

    events = detect(FreezeDetector(), frames)

    assert frame_spans(events) == [(5, 35)]


def test_freeze_at_the_end_of_the_stream_closes_at_flush(canvas):
    frames = capture(freeze_in(pan(canvas, 35, 4.0), 5, 35), np.random.default_rng(3))

    events = detect(FreezeDetector(), frames)

    assert frame_spans(events) == [(5, 35)]


def test_capture_drops_neither_break_nor_create_a_freeze(canvas):
    rng = np.random.default_rng(4)
    frozen = capture(freeze_in(pan(canvas, 45, 4.0), 5, 40), rng)
    dropped = drop(drop(frozen, 15, 3), 25, 2)
    short = capture(freeze_in(pan(canvas, 40, 4.0), 5, 35), rng)
    mostly_lost = drop(short, 10, 12)  # 30 frames still, 12 lost: 0.72 s seen in 1.2 s

    found = detect(FreezeDetector(), dropped)
    not_found = detect(FreezeDetector(), mostly_lost)

    assert frame_spans(found) == [(5, 40)]
    assert found[0].detail["dropped_frames"] == 5
    assert not_found == []


def _slow_pan(rng: np.random.Generator) -> list[np.ndarray]:
    return pan(photo(rng, WIDTH + 100, HEIGHT), 35, 0.3)


def _slow_fade(rng: np.random.Generator) -> list[np.ndarray]:
    picture = photo(rng)
    return [faded(picture, 1 - 0.2 * i / 35) for i in range(35)]


def _near_static_small_motion(rng: np.random.Generator) -> list[np.ndarray]:
    return with_moving_object(photo(rng), 35, 4.0)


def _still_shot_with_film_grain(rng: np.random.Generator) -> list[np.ndarray]:
    picture = photo(rng)
    return [film_grain(rng, picture, 4.0) for _ in range(35)]


def _fast_motion(rng: np.random.Generator) -> list[np.ndarray]:
    return pan(photo(rng, WIDTH + 500, HEIGHT), 35, 14.0)


def _busy_crowd_slow_pan(rng: np.random.Generator) -> list[np.ndarray]:
    return pan(crowd(rng, WIDTH + 100, HEIGHT), 35, 0.5)


def _night_street_small_motion(rng: np.random.Generator) -> list[np.ndarray]:
    return with_moving_object(night_scene(rng), 35, 4.0)


def _short_freeze(rng: np.random.Generator) -> list[np.ndarray]:
    return freeze_in(pan(photo(rng, WIDTH + 300, HEIGHT), 35, 4.0), 5, 25)


@pytest.mark.parametrize(
    "make",
    [_slow_pan, _slow_fade, _near_static_small_motion, _still_shot_with_film_grain, _fast_motion,
     _busy_crowd_slow_pan, _night_street_small_motion, _short_freeze],
)  # fmt: skip
def test_look_alikes_are_not_freezes(make):
    rng = np.random.default_rng(5)
    frames = capture(make(rng), rng)

    assert detect(FreezeDetector(), frames) == []


def test_a_change_of_capture_size_is_not_one_picture(canvas):
    rng = np.random.default_rng(6)
    small = capture([canvas[:180, :320]] * 20, rng)
    large = capture([canvas[:, :WIDTH]] * 20, rng, start=20)

    events = detect(FreezeDetector(FreezeSettings(min_duration=0.5)), small + large)

    assert frame_spans(events) == [(0, 20), (20, 40)]


def test_settings_validate_and_build_from_the_registry():
    detector = create("freeze", {"min_duration": 2.0, "noise_mafd": 2.5})

    assert isinstance(detector, FreezeDetector)
    assert detector.settings.noise_mafd == 2.5
    with pytest.raises(ValueError, match="local_mafd"):
        FreezeSettings(local_mafd=-1)


@needs_ffmpeg
def test_at_least_as_exact_as_ffmpeg_freezedetect(tmp_path, canvas):
    """FFmpeg's default noise (-60 dB) never sees a captured freeze; at -40 dB it does."""
    path = tmp_path / "freeze.mkv"
    encode_capture(freeze_in(pan(canvas, 40, 4.0), 5, 35), path, np.random.default_rng(7))
    truth = (5 * FRAME, 35 * FRAME)

    (theirs,), _ = match_intervals([truth], ffmpeg_intervals(path, "freezedetect=n=-40dB:d=1"))
    events = detect(FreezeDetector(), decode(path))
    (ours,), false_positives = match_intervals([truth], [(e.start, e.end) for e in events])

    assert ours is not None, "our detector missed the freeze"
    assert false_positives == 0
    assert theirs is None or sum(ours) <= sum(theirs) + 1e-6
