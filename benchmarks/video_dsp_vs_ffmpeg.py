"""Black-frame and freeze detectors against FFmpeg's blackdetect and freezedetect.

    python3 benchmarks/video_dsp_vs_ffmpeg.py [--size 1280x720] [--fps 30] [--qscale 6]
                                              [--noise 1.5] [--seed 0]

Writes two clips the way a USB capture card records (limited range, sensor noise, MJPEG at
``-q:v`` 3-8) with known defect intervals between realistic look-alikes: a dark night street with
lights, a short fade through black, a dim room; slow pans, a slow fade, a near-static shot with one
small moving object, film grain, a busy crowd, a short still. FFmpeg's filters and our detectors
then read the same file (ours decode it with PyAV, as ``harness analyze`` does), both with a 1 s
minimum duration, and a markdown table gives, for each true interval, the start and end errors in
milliseconds, and every false positive with the look-alike it fell in. Detector cost is CPU
time of the calling thread per frame, the shared analysis plane excluded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared test content

from harness.detectors.base import Detector  # noqa: E402
from harness.detectors.video.black import BlackFrameDetector  # noqa: E402
from harness.detectors.video.freeze import FreezeDetector  # noqa: E402
from tests.video_content import (  # noqa: E402
    FFMPEG,
    Interval,
    Picture,
    black,
    crowd,
    decode,
    encode_capture,
    faded,
    ffmpeg_intervals,
    film_grain,
    match_intervals,
    night_scene,
    pan,
    photo,
    view,
    with_moving_object,
)


@dataclass
class Segment:
    """A stretch of the clip: its pictures, and whether it is a true defect or a look-alike."""

    name: str
    pictures: Callable[[], list[Picture]]
    defect: bool = False


@dataclass
class Clip:
    name: str
    segments: list[Segment]
    ours: Callable[[], Detector]
    ffmpeg_filters: dict[str, str]


def black_clip(rng: np.random.Generator, width: int, height: int, fps: int) -> Clip:
    """Hard cuts to black (at Y 16 and at a raised Y 28) between dark look-alikes."""
    canvas = photo(rng, width * 3, height)
    street = night_scene(rng, width + fps * 4, height)
    room = faded(photo(rng, width, height), 0.06)
    moving = _camera(canvas, width, height, px_per_frame=width / 320)

    def frames(seconds: float) -> int:
        return round(seconds * fps)

    def fade_through_black() -> list[Picture]:
        picture = next(moving)
        fade = [faded(picture, 1 - i / frames(0.4)) for i in range(frames(0.4))]
        return fade + [black(width, height)] * frames(0.6) + fade[::-1]

    return Clip(
        "black",
        [
            Segment("content", lambda: _take(moving, frames(3))),
            Segment("black Y16", lambda: [black(width, height)] * frames(2), defect=True),
            Segment("content", lambda: _take(moving, frames(2))),
            Segment("night street, slow pan", lambda: pan(street, frames(4), 1.0, width)),
            Segment("content", lambda: _take(moving, frames(1))),
            Segment("fade through black, 0.6 s hold", fade_through_black),
            Segment("content", lambda: _take(moving, frames(1))),
            Segment(
                "black Y28 (raised)", lambda: [black(width, height, 14)] * frames(1.6), defect=True
            ),
            Segment("content", lambda: _take(moving, frames(1))),
            Segment("dim room (6 % brightness)", lambda: [room] * frames(3)),
            Segment("content", lambda: _take(moving, frames(2))),
        ],
        BlackFrameDetector,
        {
            "FFmpeg blackdetect (defaults)": "blackdetect=d=1",
            "FFmpeg blackdetect pix_th=0.15": "blackdetect=d=1:pix_th=0.15",
        },
    )


def freeze_clip(rng: np.random.Generator, width: int, height: int, fps: int) -> Clip:
    """Freezes (one after fast motion, one during a slow pan) between still-looking content."""
    scale = width / 640
    canvas = photo(rng, width * 4, height)
    busy = crowd(rng, width + fps * 8, height)
    still = photo(rng, width, height)
    moving = _camera(canvas, width, height, px_per_frame=4 * scale)
    slow = _camera(photo(rng, width * 2, height), width, height, px_per_frame=0.6 * scale)

    def frames(seconds: float) -> int:
        return round(seconds * fps)

    def frozen(source: Iterator[Picture], seconds: float) -> list[Picture]:
        return [next(source)] * frames(seconds)

    return Clip(
        "freeze",
        [
            Segment("content", lambda: _take(moving, frames(3))),
            Segment("freeze after motion", lambda: frozen(moving, 2.5), defect=True),
            Segment("content", lambda: _take(moving, frames(1))),
            Segment("slow pan", lambda: _take(slow, frames(3))),
            Segment("freeze during slow pan", lambda: frozen(slow, 1.5), defect=True),
            Segment("slow pan", lambda: _take(slow, frames(2))),
            Segment(
                "near-static, small motion", lambda: with_moving_object(still, frames(3), 4 * scale)
            ),
            Segment(
                "still shot, film grain",
                lambda: [film_grain(rng, still, 4.0) for _ in range(frames(3))],
            ),
            Segment("busy crowd, slow pan", lambda: pan(busy, frames(3), 0.5 * scale, width)),
            Segment(
                "slow fade",
                lambda: [faded(still, 1 - 0.3 * i / frames(3)) for i in range(frames(3))],
            ),
            Segment("content", lambda: _take(moving, frames(1))),
            Segment("short still, 0.6 s", lambda: frozen(moving, 0.6)),
            Segment("content", lambda: _take(moving, frames(2))),
        ],
        FreezeDetector,
        {
            "FFmpeg freezedetect (defaults)": "freezedetect=d=1",
            "FFmpeg freezedetect n=-40dB": "freezedetect=d=1:n=-40dB",
        },
    )


def _camera(canvas: Picture, width: int, height: int, px_per_frame: float) -> Iterator[Picture]:
    """An endless camera panning back and forth over ``canvas``."""
    travel = canvas.shape[1] - width - 1
    position, step = 0.0, px_per_frame
    while True:
        yield view(canvas, position, 0.0, width, height)
        if not 0 <= position + step <= travel:
            step = -step
        position += step


def _take(source: Iterator[Picture], count: int) -> list[Picture]:
    return [next(source) for _ in range(count)]


def write(
    clip: Clip, path: Path, rng: np.random.Generator, args: argparse.Namespace
) -> tuple[list, list]:
    """Encode the clip; return its true intervals and look-alike spans as (start, end, name)."""
    truths: list[tuple[float, float, str]] = []
    spans: list[tuple[float, float, str]] = []

    def pictures() -> Iterator[Picture]:
        position = 0
        for segment in clip.segments:
            chunk = segment.pictures()
            start, position = position / args.fps, position + len(chunk)
            (truths if segment.defect else spans).append((start, position / args.fps, segment.name))
            yield from chunk

    encode_capture(pictures(), path, rng, args.fps, args.qscale, args.noise)
    return truths, spans


def run_ours(clip: Clip, path: Path) -> tuple[list[Interval], float]:
    """Our detector's intervals on the PyAV-decoded file, and its cost in microseconds/frame."""
    detector, intervals, spent, frames = clip.ours(), [], 0.0, 0
    for frame in decode(path):
        frame.analysis_luma  # noqa: B018 - shared by all detectors; not this one's cost
        begin = time.thread_time()
        intervals += [(e.start, e.end) for e in detector.process(frame)]
        spent += time.thread_time() - begin
        frames += 1
    intervals += [(e.start, e.end) for e in detector.flush()]
    return intervals, spent / max(1, frames) * 1e6


def table(truths: list, spans: list, results: dict[str, list[Interval]]) -> list[str]:
    """A markdown table: start / end error (ms) per true interval, and the false positives."""
    true_spans = [(start, end) for start, end, _ in truths]
    heads = [f"{name} ({start:.2f}-{end:.2f} s)" for start, end, name in truths]
    rows = [
        "| detector | " + " | ".join(heads) + " | false positives |",
        "| --- |" + " --- |" * (len(heads) + 1),
    ]
    for detector, found in results.items():
        errors, _ = match_intervals(true_spans, found)
        false = [_where(i, spans) for i in found if match_intervals(true_spans, [i])[1]]
        rows.append(
            f"| {detector} | "
            + " | ".join(_ms(e) for e in errors)
            + " | "
            + (f"{len(false)}: " + "; ".join(false) if false else "0")
            + " |"
        )
    return rows


def _ms(error: tuple[float, float] | None) -> str:
    if error is None:
        return "missed"
    return " / ".join("no end" if e == float("inf") else f"{e * 1000:.0f}" for e in error)


def _where(interval: Interval, spans: list) -> str:
    start, end = interval
    end = spans[-1][1] if end is None else end
    names = sorted({name for s, e, name in spans if min(end, e) > max(start, s)})
    return f"{start:.2f}-{end:.2f} s ({', '.join(names) or 'content'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="clip size WxH (default 1280x720)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--qscale", type=int, default=6, help="MJPEG -q:v, 3-8 on capture cards")
    parser.add_argument("--noise", type=float, default=1.5, help="sensor noise sigma, code values")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if FFMPEG is None:
        sys.exit("ffmpeg is not installed (apt-get install ffmpeg)")
    width, height = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    print(
        f"{args.size} @ {args.fps} fps, MJPEG -q:v {args.qscale}, sensor noise sigma "
        f"{args.noise}, seed {args.seed}; errors are start / end in ms."
    )
    with tempfile.TemporaryDirectory() as tmp:
        for make in (black_clip, freeze_clip):
            clip = make(rng, width, height, args.fps)
            path = Path(tmp) / f"{clip.name}.mkv"
            print(f"writing the {clip.name} clip...", file=sys.stderr)
            truths, spans = write(clip, path, rng, args)
            ours, cost = run_ours(clip, path)
            results = {f"ours ({clip.ours.__name__})": ours}
            results |= {name: ffmpeg_intervals(path, f) for name, f in clip.ffmpeg_filters.items()}
            duration = max(end for _, end, _ in truths + spans)
            print(
                f"\n{clip.name} clip, {duration:.1f} s; ours costs {cost:.0f} us/frame "
                "on the analysis plane\n"
            )
            print("\n".join(table(truths, spans, results)))


if __name__ == "__main__":
    main()
