"""BlackFrameDetector on captured-looking frames: black is found to the frame, look-alikes not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harness.detectors import create
from harness.detectors.video.black import BlackFrameDetector, BlackFrameSettings
from harness.events import Defect
from tests.media_files import needs_ffmpeg
from tests.video_content import (
    FPS,
    HEIGHT,
    WIDTH,
    black,
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
    match_intervals,
    night_scene,
    pan,
    photo,
)

FRAME = 1 / FPS


def _with_black(canvas: np.ndarray, before: int, black_frames: list[np.ndarray], after: int):
    """Panning content, then the black pictures, then panning content again."""
    moving = pan(canvas, before + after, 4.0)
    return moving[:before] + black_frames + moving[before:]


@pytest.mark.parametrize(
    ("level", "quality", "noise"),
    [(0, 70, 1.5), (14, 50, 3.0)],
    ids=["black-Y16", "raised-black-Y28-heavy-noise"],
)
def test_cut_to_black_is_found_to_the_frame(canvas, level, quality, noise):
    rng = np.random.default_rng(2)
    pictures = _with_black(canvas, 5, [black(level=level)] * 30, 5)
    frames = capture(pictures, rng, quality=quality, noise_sigma=noise)

    events = detect(BlackFrameDetector(), frames)

    assert frame_spans(events) == [(5, 35)]
    event = events[0]
    assert event.defect is Defect.BLACK_FRAMES
    assert 0.5 < event.score <= 1.0
    assert event.detail["mean_luma"] == pytest.approx(16 + level * 219 / 255, abs=2)
    assert [label for label, _ in event.evidence.frames] == ["before", "at"]
    assert event.evidence.frames[1][1] is frames[5]


def test_black_behind_a_spinner_is_still_black(canvas):
    spinner = black()
    cv2.circle(spinner, (WIDTH // 2, HEIGHT // 2), HEIGHT // 16, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(spinner, "Loading", (WIDTH // 2 - 40, HEIGHT // 2 + 50),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, (230, 230, 230), 1, cv2.LINE_AA)  # fmt: skip
    frames = capture(_with_black(canvas, 5, [spinner] * 30, 5), np.random.default_rng(3))

    events = detect(BlackFrameDetector(), frames)

    assert frame_spans(events) == [(5, 35)]


def test_black_at_the_end_of_the_stream_closes_at_flush(canvas):
    frames = capture(pan(canvas, 5, 4.0) + [black()] * 30, np.random.default_rng(4))

    events = detect(BlackFrameDetector(), frames)

    assert frame_spans(events) == [(5, 35)]


def test_capture_drops_neither_split_nor_lengthen_black(canvas):
    rng = np.random.default_rng(5)
    long_black = capture(_with_black(canvas, 5, [black()] * 35, 5), rng)
    dropped = drop(drop(long_black, 15, 3), 30, 2)
    short_black = capture(_with_black(canvas, 5, [black()] * 30, 5), rng)
    mostly_lost = drop(short_black, 7, 12)  # 30 frames, 12 lost: 0.72 s seen in 1.2 s

    found = detect(BlackFrameDetector(), dropped)
    not_found = detect(BlackFrameDetector(), mostly_lost)

    assert frame_spans(found) == [(5, 40)]
    assert found[0].detail["dropped_frames"] == 5
    assert not_found == []


def _night_street(rng: np.random.Generator) -> list[np.ndarray]:
    return [night_scene(rng)] * 35


def _night_pan_with_grain(rng: np.random.Generator) -> list[np.ndarray]:
    street = night_scene(rng, WIDTH + 200, HEIGHT)
    return [film_grain(rng, view, 3.0) for view in pan(street, 35, 1.0)]


def _short_fade_through_black(rng: np.random.Generator) -> list[np.ndarray]:
    picture = photo(rng)
    fade = [faded(picture, 1 - i / 10) for i in range(10)]
    return [picture] * 5 + fade + [black()] * 15 + fade[::-1] + [picture] * 5


def _slow_fade_to_dim(rng: np.random.Generator) -> list[np.ndarray]:
    picture = photo(rng)
    return [faded(picture, max(0.08, 1 - i / 20)) for i in range(45)]


def _dark_room(rng: np.random.Generator) -> list[np.ndarray]:
    return [faded(photo(rng), 0.06)] * 35


def _busy_crowd_fast_pan(rng: np.random.Generator) -> list[np.ndarray]:
    return pan(crowd(rng, WIDTH + 600, HEIGHT), 35, 8.0)


@pytest.mark.parametrize(
    "make",
    [_night_street, _night_pan_with_grain, _short_fade_through_black, _slow_fade_to_dim,
     _dark_room, _busy_crowd_fast_pan],
)  # fmt: skip
def test_look_alikes_are_not_black(make):
    rng = np.random.default_rng(6)
    frames = capture(make(rng), rng)

    assert detect(BlackFrameDetector(), frames) == []


def test_night_scene_fools_the_dark_share_alone():
    """The flatness test is what saves the night scene: most of it is darker than black's limit."""
    frames = capture([night_scene(np.random.default_rng(7))] * 3, np.random.default_rng(8))
    detector = BlackFrameDetector()
    luma = frames[-1].analysis_luma

    dark = np.count_nonzero(luma <= detector.settings.pixel_threshold) / luma.size
    ratio, _ = detector.measure(luma)

    assert dark >= detector.settings.min_picture_ratio
    assert ratio < 0.6


def test_settings_validate_and_build_from_the_registry():
    detector = create("black_frames", {"min_duration": 2.5, "pixel_threshold": 32})

    assert isinstance(detector, BlackFrameDetector)
    assert detector.settings.min_duration == 2.5
    with pytest.raises(ValueError, match="min_picture_ratio"):
        BlackFrameSettings(min_picture_ratio=1.5)


@needs_ffmpeg
def test_at_least_as_exact_as_ffmpeg_blackdetect(tmp_path, canvas):
    path = tmp_path / "black.mkv"
    pictures = _with_black(canvas, 10, [black(level=4)] * 30, 10)
    encode_capture(pictures, path, np.random.default_rng(9))
    truth = (10 * FRAME, 40 * FRAME)

    (theirs,), _ = match_intervals([truth], ffmpeg_intervals(path, "blackdetect=d=1"))
    events = detect(BlackFrameDetector(), decode(path))
    (ours,), false_positives = match_intervals([truth], [(e.start, e.end) for e in events])

    assert ours is not None, "our detector missed the black interval"
    assert false_positives == 0
    assert theirs is None or sum(ours) <= sum(theirs) + 1e-6
