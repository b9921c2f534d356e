"""Real-time factor of the whole pipeline on a 1080p30 + 48 kHz stereo file.

    python3 benchmarks/pipeline_rtf.py [--seconds 60] [--detectors a,b] [--set NAME.FIELD=VALUE]

Decodes with PyAV (as `harness analyze` does) and runs the detectors (default: those enabled by
default, as `harness analyze` does) on every frame and audio block. Real-time factor = media
seconds / wall seconds: above 1 the machine keeps up with a live capture of the same stream; the
target for the DSP detectors alone is >= 4x on two cores. ``--set block_corruption.every=1``
changes one detector setting. Also reports the cost per item of each detector, same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.capture.recording import RecordingSource
from harness.detectors import available, create, detector_class
from harness.detectors.base import Detector
from harness.pipeline import Pipeline


class Timed:
    """Wraps a detector, accumulating the time its ``process`` takes; all else is delegated."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.seconds, self.calls = detector, 0.0, 0

    def process(self, item):  # noqa: ANN001, ANN201 - same contract as the wrapped detector
        start = time.perf_counter()
        events = self.detector.process(item)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return events

    def __getattr__(self, name: str):  # noqa: ANN204 - media, flush, summary, ...
        return getattr(self.detector, name)


def make_clip(path: Path, seconds: int) -> None:
    """1080p30 H.264 of a moving test card with 48 kHz stereo AAC (music-like two-tone mix)."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000",
         "-filter_complex", "[1][2]amerge=inputs=2[a]", "-map", "0:v", "-map", "[a]",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", str(path)],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="clip length")
    parser.add_argument("--detectors", help="comma-separated detector names "
                        "(default: those enabled by default)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME.FIELD=VALUE",
                        help="a detector setting, e.g. block_corruption.every=1 (repeatable)")
    args = parser.parse_args()
    names = (args.detectors.split(",") if args.detectors else
             [name for name in available() if detector_class(name).Settings().enabled])
    settings: dict[str, dict[str, str]] = {name: {} for name in names}
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        name, _, field = key.partition(".")
        settings.setdefault(name, {})[field] = value
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is needed to make the clip (apt-get install ffmpeg)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "bench-1080p30.mp4"
        print(f"making a {args.seconds} s 1080p30 + 48 kHz stereo clip ...", file=sys.stderr)
        make_clip(clip, args.seconds)
        detectors = [Timed(create(name, settings[name])) for name in names]
        start = time.perf_counter()
        report = Pipeline([RecordingSource(clip)], detectors, device="bench").run()  # type: ignore[list-item]
        wall = time.perf_counter() - start
    media_seconds = report.stats.duration + 1 / 30
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"clip: {args.seconds} s 1920x1080 @ 30 fps, 48 kHz stereo; detectors: "
          f"{', '.join(d.detector.name for d in detectors)} {' '.join(args.set)}")
    print(f"frames {report.stats.video_frames}, audio blocks {report.stats.audio_blocks}, "
          f"events {len(report.events)}")
    print(f"wall {wall:.2f} s -> real-time factor {media_seconds / wall:.1f}x "
          f"({report.stats.video_frames / wall:.0f} fps)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for timed in detectors:
        per_call = 1000 * timed.seconds / max(1, timed.calls)
        print(f"  {timed.detector.name:<14} {per_call:6.3f} ms per {timed.media} item, "
              f"{timed.seconds:6.2f} s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
