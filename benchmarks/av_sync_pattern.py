"""Accuracy of the A/V sync pattern measurement at every frame rate, offset and drift.

    python3 benchmarks/av_sync_pattern.py [--seconds 15] [--size 640x360] [--seed 0]
                                          [--offsets -250,-125,...] [--drift 45]
                                          [--capture-offsets -250,-45,0,40,250]

For each rate of ``harness.patterns.FRAME_RATES`` and each offset, a pattern is generated with
the offset baked in (H.264 CRF 18 + AAC-LC 128 kb/s MP4, as `harness pattern av-sync` writes it)
and measured by ``SyncPatternDetector`` through the PyAV recording backend, as `harness analyze`
does. A cell is the error of the measured median offset against the sidecar's truth (ms). The
drift column bakes in ``--drift`` ms/min and gives the error of the measured drift (ms/min).

The second table plays the same files on the simulated device with its capture path (limited
range, Gaussian noise sigma 1.5, MJPEG quality 75 on the picture; -62 dBFS noise floor and 50 Hz
hum at -70 dBFS on the sound), for ``--capture-offsets`` (empty to skip).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.capture.recording import RecordingSource
from harness.capture.simulated import SimulatedSource
from harness.detectors.av.pattern import SyncPatternDetector
from harness.patterns import FRAME_RATES, SyncPattern, generate_pattern
from harness.pipeline import Pipeline
from harness.profiles import AudioSource, Simulation


def measure(pattern: SyncPattern, capture: bool) -> SyncPatternDetector:
    """The detector after one pattern, read from the file or through the capture path."""
    source = (
        SimulatedSource(
            Simulation(content=str(pattern.media), duration=pattern.duration, realtime=False),
            AudioSource(backend="simulated"),
        )
        if capture
        else RecordingSource(pattern.media)
    )
    detector = SyncPatternDetector()
    Pipeline([source], [detector], device="benchmark").run()
    summary = detector.summary()
    if summary is None or summary["av_sync"]["offset_ms"] is None:
        raise RuntimeError(f"{pattern.media}: the pattern was not measured ({summary})")
    return detector


def errors(pattern: SyncPattern, detector: SyncPatternDetector) -> tuple[float, float]:
    """Error of the median offset, and the largest error of one pair (ms)."""
    truth = dict(zip(pattern.flash_s, np.subtract(pattern.tone_s, pattern.flash_s) * 1000,
                     strict=True))
    worst = max(abs(p.offset_ms - truth[min(truth, key=lambda f: abs(f - p.flash))])
                for p in detector.pairs)
    measured = np.median([p.offset_ms for p in detector.pairs])  # unrounded, unlike the summary
    return float(measured - np.median(list(truth.values()))), worst


def table(args: argparse.Namespace, work: Path, offsets: list[float], capture: bool) -> str:
    """One markdown table: a row per rate, a column per offset, the largest error of the
    median and of any single pair (and the drift error, for files)."""
    header = ["fps", *(f"{o:+g} ms" for o in offsets), "max abs", "worst pair"]
    header += [] if capture else [f"drift {args.drift:+g} ms/min"]
    rows = [header, ["---"] * len(header)]
    for name in FRAME_RATES:
        medians, worst = [], 0.0
        for offset in offsets:
            pattern = generate_pattern(work / f"{name}_{offset}.mp4", name, args.seconds,
                                       offset_ms=offset, seed=args.seed, size=args.size)
            median, pair = errors(pattern, measure(pattern, capture))
            medians.append(median)
            worst = max(worst, pair)
        row = [name, *(_signed(e) for e in medians), f"{max(map(abs, medians)):.3f}",
               f"{worst:.3f}"]
        if not capture:
            drifting = generate_pattern(work / f"{name}_drift.mp4", name, args.seconds,
                                        drift_ms_per_min=args.drift, seed=args.seed,
                                        size=args.size)
            drift = measure(drifting, capture).summary()["av_sync"]["drift_ms_per_min"]
            row.append(_signed(drift - args.drift, 2))
        rows.append(row)
        print(f"  {name} fps done", flush=True, file=sys.stderr)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _signed(value: float, digits: int = 3) -> str:
    return f"{round(value, digits) + 0.0:+.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def _numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each pattern")
    parser.add_argument("--size", type=_size, default=(640, 360), help="WxH of the pattern")
    parser.add_argument("--seed", type=int, default=0, help="flash schedule seed")
    parser.add_argument("--offsets", type=_numbers,
                        default=[-250, -125, -45, -10, 0, 17, 40, 125, 250])
    parser.add_argument("--drift", type=float, default=45.0, help="baked-in drift (ms/min)")
    parser.add_argument("--capture-offsets", type=_numbers, default=[-250, -45, 0, 40, 250])
    args = parser.parse_args()
    started = time.monotonic()
    width, height = args.size
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"### Recorded files: {args.seconds:g} s patterns, {width}x{height}, "
              f"seed {args.seed}; error of the median offset (ms)\n")
        print(table(args, work, args.offsets, capture=False))
        if args.capture_offsets:
            print("\n### Through the capture path (simulated device); error of the median "
                  "offset (ms)\n")
            print(table(args, work, args.capture_offsets, capture=True))
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
