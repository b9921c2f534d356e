"""Synthetic but realistic video for the DSP detector tests and the FFmpeg comparison.

Pictures are full-range BGR like a decoder's output; ``capture`` then sends each one through
``harness.simulation.capture_path.captured_video`` (limited range, noise, MJPEG), so no two frames
of a frozen picture are identical and black reads around Y 16, as on a real capture card. The
content is built to contain what fools naive detectors: photo-like texture with edges, a dark
night street with a few lights, a busy crowd, film grain, camera moves and fades.

The FFmpeg helpers at the end run ``blackdetect`` / ``freezedetect`` on an encoded clip, so a test
and ``benchmarks/video_dsp_vs_ffmpeg.py`` compare against the same reference the same way.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from harness.capture.recording import RecordingSource
from harness.detectors.base import Detector
from harness.events import Event
from harness.media import VideoFrame
from harness.simulation.capture_path import captured_video, limited_range, sensor_noise

#: Test frames are 640x360: big enough for the analysis plane (480 wide) to average a little,
#: small enough that a few hundred captured frames take a second or two.
WIDTH, HEIGHT = 640, 360
FPS = 25

Picture = np.ndarray  # H x W x 3 uint8 BGR, full range
Interval = tuple[float, float | None]  # seconds; an end of None is still open


# -- still pictures ---------------------------------------------------------------------------


def _octave_noise(rng: np.random.Generator, width: int, height: int, octaves: int) -> np.ndarray:
    """Smooth random field in [0, 1] with a 1/f-like spectrum, as natural images have."""
    field = np.zeros((height, width), np.float32)
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        coarse = rng.random((cells * height // width + 2, cells + 2)).astype(np.float32)
        field += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) / (octave + 1)
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def photo(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> Picture:
    """A photo-like picture: coloured 1/f texture plus hard-edged objects, full range."""
    base = np.stack([_octave_noise(rng, width, height, 7) for _ in range(3)], axis=-1)
    picture = (40 + 180 * base).astype(np.uint8)
    for _ in range(12):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        size = int(rng.integers(height // 20, height // 5))
        if rng.random() < 0.5:
            cv2.circle(picture, center, size, color, -1, cv2.LINE_AA)
        else:
            corner = (center[0] + size, center[1] + size // 2)
            cv2.rectangle(picture, center, corner, color, -1)
    return picture


def crowd(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> Picture:
    """A busy picture like a stadium crowd: hundreds of small high-contrast figures."""
    picture = photo(rng, width, height)
    radius = max(2, height // 60)
    for _ in range(width * height // (radius * radius * 6)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.ellipse(picture, (x, y), (radius, 2 * radius), 0, 0, 360, color, -1)
        cv2.circle(picture, (x, y - 2 * radius), radius, (90, 140, 200), -1)
    return picture


def night_scene(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> Picture:
    """A dark street at night: a faint sky gradient, near-black buildings, a few lights.

    Lit pixels stay under 2 % of the picture and most of it reads below FFmpeg's default black
    threshold, so only a detector that sees structure in the dark keeps it apart from black.
    """
    rows = np.linspace(10.0, 2.0, height, dtype=np.float32)[:, np.newaxis]
    sky = rows + 3.0 * _octave_noise(rng, width, height, 4)
    picture = np.repeat(sky[:, :, np.newaxis], 3, axis=2)
    x = 0
    while x < width:
        building_w = int(rng.integers(width // 12, width // 5))
        top = int(rng.integers(height // 4, height * 2 // 3))
        shade = float(rng.uniform(0.0, 4.0))
        picture[top:, x : x + building_w] = shade
        for wy in range(top + 8, height - 10, 14):
            for wx in range(x + 4, x + building_w - 6, 10):
                if rng.random() < 0.06:
                    picture[wy : wy + 6, wx : wx + 4] = (90, 170, 230)
        x += building_w
    for lamp_x in range(width // 8, width, width // 3):
        glow = np.zeros((height, width), np.float32)
        cv2.circle(glow, (lamp_x, height * 3 // 5), max(2, height // 90), 1.0, -1)
        glow = cv2.GaussianBlur(glow, (0, 0), height / 60)
        picture += 255.0 * np.minimum(glow / glow.max(), 1.0)[:, :, np.newaxis] * (0.6, 0.9, 1.0)
    return np.clip(picture, 0, 255).astype(np.uint8)


def black(width: int = WIDTH, height: int = HEIGHT, level: int = 0) -> Picture:
    """A black picture; ``level`` > 0 raises it, as a mis-set HDMI range does (full range)."""
    return np.full((height, width, 3), level, np.uint8)


def faded(picture: Picture, gain: float) -> Picture:
    """The picture at ``gain`` brightness (1 = unchanged, 0 = black), as in a fade."""
    return cv2.convertScaleAbs(picture, alpha=gain)


def film_grain(
    rng: np.random.Generator, picture: Picture, sigma: float, grain_px: float = 2.0
) -> Picture:
    """The picture with fresh film grain: clumps of ``grain_px`` pixels, ``sigma`` code values."""
    height, width = picture.shape[:2]
    small = rng.standard_normal((int(height / grain_px), int(width / grain_px)), np.float32)
    grain = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    grain *= sigma / max(float(grain.std()), 1e-6)
    return np.clip(picture + grain[:, :, np.newaxis], 0, 255).astype(np.uint8)


# -- moving pictures --------------------------------------------------------------------------


def view(canvas: Picture, x: float, y: float, width: int = WIDTH, height: int = HEIGHT) -> Picture:
    """The ``width`` x ``height`` window of a larger canvas at sub-pixel offset (x, y): a camera."""
    center = (x + (width - 1) / 2.0, y + (height - 1) / 2.0)
    return cv2.getRectSubPix(canvas, (width, height), center)


def pan(canvas: Picture, count: int, px_per_frame: float, width: int = WIDTH) -> list[Picture]:
    """``count`` views, ``width`` wide and as tall as ``canvas``, of a horizontal camera pan."""
    height = canvas.shape[0]
    return [view(canvas, i * px_per_frame, 0.0, width, height) for i in range(count)]


#: Scenes of the block-corruption look-alike checks (its tests and
#: benchmarks/block_corruption_lookalikes.py).
SCENES = ("photo", "crowd", "fast_pan", "film_grain", "night")


def scene(kind: str, seed: int, count: int) -> list[Picture]:
    """``count`` frames of one of ``SCENES``: a slow photo pan, a busy crowd panned, a fast pan
    (18 px per frame), a pan under film grain, a static night street."""
    rng = np.random.default_rng(seed)
    if kind == "crowd":
        return pan(crowd(rng, 1240, 360), count, 3.0)
    if kind == "fast_pan":
        return pan(photo(rng, 1540, 360), count, 18.0)
    if kind == "film_grain":
        return [film_grain(rng, p, 8.0) for p in pan(photo(rng, 1240, 360), count, 2.0)]
    if kind == "night":
        return [night_scene(rng)] * count
    return pan(photo(rng, 1240, 360), count, 4.0)


#: When the block-corruption checks' damage starts and how long it lasts, seconds.
DAMAGE_WINDOW = (0.8, 0.6)


def impaired(pictures: Sequence[Picture], impairment: str,
             window: tuple[float, float] = DAMAGE_WINDOW, **params: object) -> list[Picture]:
    """``pictures`` through one of the project's impairments over ``window`` (start, duration
    in seconds at ``FPS``), seed 3."""
    from harness.impairments.registry import create

    instance = create(impairment, *window, seed=3, **params)
    return [instance.apply(i, i / FPS, p).image for i, p in enumerate(pictures)]


def with_moving_object(picture: Picture, count: int, amplitude_px: float) -> list[Picture]:
    """A static shot where only one small object moves (a head nodding, a hand): ~1 % of area."""
    height, width = picture.shape[:2]
    radius = max(3, height // 18)
    frames = []
    for i in range(count):
        shot = picture.copy()
        x = width * 0.6 + amplitude_px * np.sin(i / 4.0)
        y = height * 0.4 + amplitude_px * 0.5 * np.cos(i / 5.0)
        cv2.circle(shot, (round(x), round(y)), radius, (60, 90, 170), -1, cv2.LINE_AA)
        cv2.circle(shot, (round(x), round(y) + radius // 2), radius // 3, (20, 20, 60), -1)
        frames.append(shot)
    return frames


def freeze_in(pictures: Sequence[Picture], first: int, last: int) -> list[Picture]:
    """The pictures with frames ``first``..``last - 1`` all showing picture ``first``."""
    return [pictures[first] if first <= i < last else p for i, p in enumerate(pictures)]


# -- capture ----------------------------------------------------------------------------------


def capture(
    pictures: Iterable[Picture],
    rng: np.random.Generator,
    fps: int = FPS,
    quality: int = 70,
    noise_sigma: float = 1.5,
    start: int = 0,
) -> list[VideoFrame]:
    """The pictures as a capture card delivers them, as VideoFrames on a 1/fps clock.

    ``start`` is the index (and pts) of the first frame, to continue an earlier capture.
    """
    time_base = Fraction(1, fps)
    return [
        VideoFrame.from_bgr(captured_video(p, rng, quality, noise_sigma), i, time_base, seq=i)
        for i, p in enumerate(pictures, start)
    ]


def drop(frames: list[VideoFrame], first: int, count: int) -> list[VideoFrame]:
    """The frames with ``count`` of them lost by the capture card from index ``first`` on."""
    kept = frames[:first] + frames[first + count :]
    kept[first] = dataclasses.replace(kept[first], dropped_before=count)
    return kept


def detect(detector: Detector, frames: Iterable[VideoFrame]) -> list[Event]:
    """Every event the detector reports for the frames, flush included."""
    events: list[Event] = []
    for frame in frames:
        events += detector.process(frame)
    return events + detector.flush()


def frame_spans(events: Iterable[Event], fps: int = FPS) -> list[tuple[int, int]]:
    """Each event's start and end as frame indices (rounded: exact to half a frame)."""
    return [(round(event.start * fps), round(event.end * fps)) for event in events]


# -- FFmpeg reference -------------------------------------------------------------------------

FFMPEG = shutil.which("ffmpeg")


def encode_capture(
    pictures: Iterable[Picture],
    path: Path,
    rng: np.random.Generator,
    fps: int = FPS,
    qscale: int = 5,
    noise_sigma: float = 1.5,
) -> None:
    """Write a clip the way a USB capture card records: limited range, noise, MJPEG ``-q:v``."""
    pictures = iter(pictures)
    first = next(pictures)
    height, width = first.shape[:2]
    command = [
        FFMPEG or "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-c:v", "mjpeg", "-q:v", str(qscale), "-pix_fmt", "yuvj422p", str(path),
    ]  # fmt: skip
    with subprocess.Popen(command, stdin=subprocess.PIPE) as encoder:
        assert encoder.stdin is not None
        for picture in itertools.chain([first], pictures):
            if picture.shape != first.shape:
                raise ValueError(f"picture of {picture.shape} in a clip of {first.shape}")
            encoder.stdin.write(sensor_noise(limited_range(picture), noise_sigma, rng).tobytes())
        encoder.stdin.close()
        if encoder.wait() != 0:
            raise RuntimeError(f"ffmpeg could not encode {path}")


def decode(path: Path) -> Iterator[VideoFrame]:
    """The clip's frames as ``harness analyze`` reads them (the PyAV recording backend)."""
    with RecordingSource(path, with_audio=False) as source:
        yield from (item for item in source.items() if isinstance(item, VideoFrame))


_INTERVAL = re.compile(r"(black|freeze)_(start|end):\s*([0-9.]+)")


def ffmpeg_intervals(path: Path, video_filter: str) -> list[Interval]:
    """Run one FFmpeg detection filter (e.g. ``"blackdetect=d=1"``) and parse its intervals.

    Both filters log ``*_start`` and ``*_end`` times to stderr; an interval still open at the end
    of the clip has no end (None).
    """
    result = subprocess.run(
        [FFMPEG or "ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-vf", video_filter,
         "-an", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    intervals: list[Interval] = []
    for _, edge, value in _INTERVAL.findall(result.stdout + result.stderr):
        if edge == "start":
            intervals.append((float(value), None))
        elif intervals and intervals[-1][1] is None:
            intervals[-1] = (intervals[-1][0], float(value))
    return intervals


def match_intervals(
    truths: Sequence[tuple[float, float]], found: Sequence[Interval]
) -> tuple[list[tuple[float, float] | None], int]:
    """Score detected intervals against the true ones.

    Returns, for each true interval, the (start, end) absolute errors in seconds of the detected
    interval that overlaps it most (None when none does; an open end is an infinite error), and
    the number of detected intervals that overlap no true one (false positives).
    """
    closed = [(start, math.inf if end is None else end) for start, end in found]

    def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
        return min(a[1], b[1]) - max(a[0], b[0])

    errors: list[tuple[float, float] | None] = []
    for truth in truths:
        best = max(closed, key=lambda interval: overlap(interval, truth), default=None)
        if best is None or overlap(best, truth) <= 0:
            errors.append(None)
        else:
            errors.append((abs(best[0] - truth[0]), abs(best[1] - truth[1])))
    false = sum(all(overlap(interval, truth) <= 0 for truth in truths) for interval in closed)
    return errors, false
