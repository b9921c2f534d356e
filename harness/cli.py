"""`harness`: analyse files, list and check devices, watch a device.

Results go to stdout (a table, or JSON with --json); progress and logs go to stderr. Known
errors become one line on stderr and a non-zero exit: 2 for rig/input problems (the input could
not be analysed), 130 for Ctrl-C. Finding defects is not an error for `analyze` (exit 0);
`watch` exits 1 when the device showed defects, like a failing test.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.events import Defect
from harness.results import PlaybackReport

if TYPE_CHECKING:
    from harness.profiles import DeviceProfile

log = logging.getLogger("harness")

EXIT_DEFECTS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.run(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="check a recording or catalogue file")
    analyze.add_argument(
        "path", help="video, audio+video or audio-only file (any container/codec FFmpeg reads)"
    )
    analyze.add_argument("--json", action="store_true", help="print the JSON contract to stdout")
    analyze.add_argument(
        "--defects",
        type=_defect_list,
        default=None,
        help="comma-separated defects to check (default: all available)",
    )
    analyze.set_defaults(run=_analyze)

    devices = commands.add_parser("devices", help="list device profiles, or check one's capture")
    devices.add_argument("--check", metavar="NAME", help="open NAME's capture and measure it")
    devices.add_argument("--seconds", type=float, default=3.0, help="how long --check captures")
    devices.add_argument("--profiles-dir", help="directory of device profiles")
    devices.set_defaults(run=_devices)

    watch = commands.add_parser("watch", help="capture a device for a while and report defects")
    watch.add_argument("--device", default="sim01", help="device profile name (default sim01)")
    watch.add_argument("--seconds", type=float, default=10.0, help="media seconds to watch")
    watch.add_argument("--profiles-dir", help="directory of device profiles")
    watch.add_argument(
        "--defects",
        type=_defect_list,
        default=None,
        help="comma-separated defects to check (default: all enabled)",
    )
    watch.add_argument("--json", action="store_true", help="print the report as JSON")
    watch.set_defaults(run=_watch)

    simulate = commands.add_parser(
        "simulate", help="write a labelled dataset of a simulated defect"
    )
    simulate.add_argument(
        "--defect",
        required=True,
        metavar="IMPAIRMENT",
        help="impairment name (a defect or a look-alike; see docs/impairments.md)",
    )
    simulate.add_argument("--count", type=int, required=True, help="samples to write")
    simulate.add_argument(
        "--out", required=True, help="output directory (labels.jsonl, clips/, masks/)"
    )
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--corpus", help="pristine corpus directory (default: generated content)")
    simulate.add_argument(
        "--split", choices=("train", "val", "test"), help="only sources of this split"
    )
    simulate.add_argument("--clip-seconds", type=float, default=3.0, help="length of each sample")
    simulate.add_argument(
        "--params",
        type=json.loads,
        default=None,
        help="impairment parameters as JSON, e.g. '{\"level_dbfs\": -40}'",
    )
    simulate.set_defaults(run=_simulate)

    pattern = commands.add_parser("pattern", help="generate test content to load on a device")
    pattern_kinds = pattern.add_subparsers(required=True, metavar="KIND")
    av_sync = pattern_kinds.add_parser("av-sync", help="flashes and tone bursts at irregular times")
    av_sync.add_argument("--out", required=True, help=".mp4 file, or the directory with --hls")
    av_sync.add_argument(
        "--fps", default="30", help="23.976, 25, 29.97, 30, 50, 59.94, 60 or any rate (default 30)"
    )
    av_sync.add_argument("--seconds", type=float, default=60.0, help="length (default 60)")
    av_sync.add_argument("--hls", action="store_true", help="write an HLS package instead of MP4")
    av_sync.add_argument("--size", type=_size, default=(1920, 1080), help="WxH (default 1920x1080)")
    av_sync.add_argument(
        "--offset-ms",
        type=float,
        default=0.0,
        help="bake in an A/V offset, positive = audio late (rehearsal)",
    )
    av_sync.add_argument(
        "--drift-ms-per-min", type=float, default=0.0, help="bake in a drift (rehearsal)"
    )
    av_sync.add_argument("--seed", type=int, default=0, help="the flash schedule")
    av_sync.set_defaults(run=_pattern_av_sync)

    corpus = commands.add_parser("corpus", help="the pristine content corpus")
    corpus_commands = corpus.add_subparsers(required=True, metavar="ACTION")
    build = corpus_commands.add_parser("build", help="fetch packages and build the corpus")
    build.add_argument("--out", required=True, help="corpus directory")
    build.add_argument(
        "--only",
        type=lambda t: [x for x in t.split(",") if x],
        help="comma-separated source ids to build (default: all)",
    )
    build.add_argument("--seed", type=int, default=0, help="split assignment seed")
    build.add_argument("--cache", help="package download cache (default ~/.cache/vqa-harness)")
    build.set_defaults(run=_corpus_build)
    return parser


def _defect_list(text: str) -> list[str]:
    from harness.detectors import detectable

    names = [name.strip() for name in text.split(",") if name.strip()]
    known = detectable()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown defect(s) {', '.join(unknown)}; available: {', '.join(known)}"
        )
    return names


def _analyze(args: argparse.Namespace) -> int:
    from harness.analysis import analyze

    with _Progress(f"analysing {args.path}") as progress:
        report = analyze(args.path, args.defects, progress=progress.update)
    if args.json:
        print(json.dumps(analysis_json(report), indent=2))
    else:
        print(_table(report))
    return 0


def analysis_json(report: PlaybackReport) -> dict:
    """The `harness analyze --json` contract (DESIGN.md), plus whole-programme summaries (e.g.
    integrated loudness) and the capture statistics.

    ``av_sync`` is null until an A/V sync detector has measured it: absent evidence is reported
    as absent, never as a made-up verdict.
    """
    return {
        "media": report.media.to_dict(),
        "events": [event.to_dict() for event in report.events],
        "av_sync": report.summaries.get(Defect.AV_SYNC.value),
        "summaries": report.summaries,
        "capture": report.stats.to_dict(),
    }


def _devices(args: argparse.Namespace) -> int:
    from harness.device import open_device
    from harness.profiles import list_profiles, parse_profile

    if args.check is None:
        rows = []
        for name, path in list_profiles(args.profiles_dir):
            try:
                profile = parse_profile(path)
                source = profile.video.source
                video = f"{profile.video.backend}:{'-' if source is None else source}"
                audio = profile.audio.backend
            except HarnessError as exc:
                video, audio = "INVALID", str(exc).splitlines()[0]
            rows.append((name, video, audio, str(path)))
        print(_columns(("device", "video", "audio", "profile"), rows))
        return 0
    device = open_device(args.check, args.profiles_dir)
    print(f"checking {device.name} for {args.seconds:g} s ...", file=sys.stderr)
    report = device.check(seconds=args.seconds)
    print(_check_summary(device.profile, report))
    return 0


def _check_summary(profile: DeviceProfile, report: PlaybackReport) -> str:
    stats = report.stats.to_dict()
    expected = profile.expected
    lines = [f"device {profile.name}: capture OK"]
    for key in (
        "resolution",
        "measured_fps",
        "frames_dropped_by_capture",
        "frames_dropped_by_pipeline",
        "audio_peak_dbfs",
        "audio_samples_lost",
    ):
        lines.append(f"  {key:<27} {stats[key]}")
    if expected.width and stats["resolution"] != f"{expected.width}x{expected.height}":
        lines.append(f"  WARNING: expected {expected.width}x{expected.height}")
    fps = report.stats.measured_fps
    if expected.fps and fps and abs(fps - expected.fps) > 0.5:
        lines.append(f"  WARNING: expected {expected.fps:g} fps")
    return "\n".join(lines)


def _watch(args: argparse.Namespace) -> int:
    from harness.device import open_device

    device = open_device(args.device, args.profiles_dir)
    with _Progress(f"watching {device.name}") as progress:
        report = device.watch(args.seconds, defects=args.defects, progress=progress.update)
    print(json.dumps(report.to_dict(), indent=2) if args.json else _table(report))
    return EXIT_DEFECTS if report.events else 0


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.impairments.datasets import write_dataset

    def progress(done: int, total: int) -> None:
        print(f"\rsimulating {args.defect}: {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        labels = write_dataset(
            args.defect,
            args.count,
            Path(args.out),
            seed=args.seed,
            corpus=Path(args.corpus) if args.corpus else None,
            split=args.split,
            clip_seconds=args.clip_seconds,
            params=args.params,
            progress=progress,
        )
    except (ValueError, TypeError) as exc:  # unknown impairment or parameter
        raise HarnessError(str(exc)) from None
    print(file=sys.stderr)
    print(labels)
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WxH, e.g. 1920x1080") from None
    return width, height


def _pattern_av_sync(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.patterns import generate_pattern

    try:
        pattern = generate_pattern(
            Path(args.out),
            args.fps,
            args.seconds,
            "hls" if args.hls else "mp4",
            args.offset_ms,
            args.drift_ms_per_min,
            args.seed,
            args.size,
        )
    except ValueError as exc:
        raise HarnessError(str(exc)) from None
    print(f"{pattern.media} ({len(pattern.flash_s)} flashes; truth in {pattern.sidecar})")
    return 0


def _corpus_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.corpus import build_corpus

    manifest = build_corpus(
        Path(args.out),
        progress=lambda line: print(line, file=sys.stderr),
        only=args.only,
        seed=args.seed,
        cache_dir=Path(args.cache) if args.cache else None,
    )
    print(f"{len(manifest.items)} items in {args.out}/manifest.json")
    return 0


def _table(report: PlaybackReport) -> str:
    media = report.media
    parts = []
    if media.width:
        parts.append(f"{media.width}x{media.height}")
        if media.fps:
            parts[-1] += f" @ {media.fps:.3f} fps"
    if media.sample_rate:
        parts.append(f"audio {media.sample_rate} Hz x{media.channels}")
    head = f"{media.path}: {', '.join(parts) or 'no video or audio read'}"
    rows = [
        (
            e.defect.value,
            f"{e.start:.3f}",
            f"{e.end:.3f}",
            f"{e.score:.2f}",
            ", ".join(f"{k}={v}" for k, v in e.detail.items()),
        )
        for e in report.events
    ]
    body = (
        _columns(("defect", "start", "end", "score", "detail"), rows)
        if rows
        else "no defects found"
    )
    stats = report.stats
    if media.width or stats.video_frames:
        capture = (
            f"{stats.video_frames} frames analysed, {stats.frames_dropped_by_capture} dropped by "
            f"capture, {stats.frames_dropped_by_pipeline} dropped by harness"
        )
    else:  # an audio-only file
        capture = (
            f"no video; audio analysed to {stats.last_audio_time or 0.0:.1f} s "
            f"({stats.audio_blocks} blocks, {stats.audio_samples_lost} samples lost)"
        )
    return f"{head}\n{body}\n{capture}"


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


class _Progress:
    """Progress on stderr: a live line on a terminal, a line every 10 s of media otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last_logged = -10.0

    def __enter__(self) -> _Progress:
        print(f"{self.label} ...", file=sys.stderr)
        return self

    def update(self, media_time: float) -> None:
        if self.tty:
            print(f"\r{self.label}: {media_time:7.1f} s", end="", file=sys.stderr, flush=True)
        elif media_time - self._last_logged >= 10.0:
            print(f"{self.label}: {media_time:.0f} s", file=sys.stderr)
            self._last_logged = media_time

    def __exit__(self, *exc: object) -> None:
        if self.tty:
            print(file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
