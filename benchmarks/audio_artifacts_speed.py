"""Speed of the audio artifact detector (``AudioArtifactDetector``) on one core.

    python3 benchmarks/audio_artifacts_speed.py [--seconds 60] [--block 1024] [--repeats 3]
                                                [--json]

Music-like programme (``tests/audio_content.py``) through the capture path, fed to the detector in
``--block``-sample blocks as the pipeline feeds it, for three inputs: 48 kHz stereo (the target:
200x real time per core), 44.1 kHz stereo (the resampling path) and 48 kHz mono. numpy's BLAS and
onnxruntime run on one thread, so process CPU time is one core's time. Reported: audio seconds per
CPU second ("x real time per core"), and the CPU milliseconds per second of audio of the whole
detector, of its front end alone (resampling, log-mel, the waveform statistics of each window),
of the network alone (onnxruntime on the same windows) and of the steady mains lines alone
(``mains_lines``: decimation every half second, a 4-s measurement every 2 s), and the
detector's speed with the mains lines off. The best of ``--repeats`` runs is kept: the machine
is shared, and other jobs only ever make a run slower. ``$HARNESS_MODELS`` picks another models
directory.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared test content

from harness.detectors.audio.artifacts import (  # noqa: E402
    LINES_EVERY,
    MODEL,
    ArtifactSettings,
    AudioArtifactDetector,
)
from harness.detectors.audio.features import (  # noqa: E402
    FRAMES,
    FRAMES_HOP,
    SAMPLE_RATE,
    SEGMENT,
    SEGMENT_HOP,
    LogMelStream,
)
from harness.detectors.audio.mains_lines import SteadyMainsLines  # noqa: E402
from harness.detectors.audio.resample import StreamResampler  # noqa: E402
from harness.detectors.audio.waveform import waveform_features  # noqa: E402
from harness.inference import load_session  # noqa: E402
from tests.audio_content import blocks, captured, music_like  # noqa: E402


def _cpu(work: Callable[[], object], repeats: int) -> float:
    """Least process CPU seconds of ``repeats`` runs."""
    best = np.inf
    for _ in range(repeats):
        before = time.process_time()
        work()
        best = min(best, time.process_time() - before)
    return best


def _detector(audio: np.ndarray, rate: int, block: int, mains_lines: bool = True
              ) -> Callable[[], object]:
    items = blocks(audio, rate, block)

    def run() -> None:
        detector = AudioArtifactDetector(ArtifactSettings(mains_lines=mains_lines))
        for item in items:
            detector.process(item)
        detector.flush()

    return run


def _front_end(audio: np.ndarray, rate: int, block: int) -> Callable[[], object]:
    def run() -> None:
        stream = LogMelStream(audio.shape[1])
        resampler = None if rate == SAMPLE_RATE else StreamResampler(rate, SAMPLE_RATE,
                                                                     audio.shape[1])
        pushed: list[np.ndarray] = []
        for start in range(0, len(audio), block):
            samples = audio[start : start + block]
            pushed.append(samples if resampler is None else resampler(samples))
            stream.push(pushed[-1])
            if stream.available >= FRAMES_HOP:
                stream.frames()
        resampled = np.concatenate(pushed)
        for start in range(0, len(resampled) - SEGMENT + 1, SEGMENT_HOP):
            waveform_features(resampled[start : start + SEGMENT])

    return run


def _mains_lines(audio: np.ndarray, rate: int) -> Callable[[], object]:
    """The steady mains lines alone, as the detector runs them: fed every half second, measured
    every second."""
    x = audio if rate == SAMPLE_RATE else resample_poly(audio, SAMPLE_RATE, rate, axis=0)
    x = x.astype(np.float32)

    def run() -> None:
        lines = SteadyMainsLines(x.shape[1])
        for end in range(SEGMENT, len(x) + 1, SEGMENT_HOP):
            lines.push(x[end - SEGMENT_HOP : end] if end > SEGMENT else x[:end])
            if end % LINES_EVERY == 0:
                lines.hum(end)

    return run


def _network(audio: np.ndarray, rate: int) -> Callable[[], object]:
    """onnxruntime alone, on the batches the detector sends (every channel of one window)."""
    session, info = load_session(MODEL)
    x = audio if rate == SAMPLE_RATE else resample_poly(audio, SAMPLE_RATE, rate, axis=0)
    x = x.astype(np.float32)
    stream = LogMelStream(audio.shape[1])
    stream.push(x)
    frames = stream.frames()
    windows = (len(frames) - FRAMES) // FRAMES_HOP + 1
    logmel = [frames[i * FRAMES_HOP :][:FRAMES].transpose(1, 2, 3, 0) for i in range(windows)]
    statistics = [waveform_features(x[i * SEGMENT_HOP :][:SEGMENT]) for i in range(windows)]
    names = (info.input["name"], info.input["waveform_name"])
    feeds = [dict(zip(names, (np.ascontiguousarray(a), b), strict=True))
             for a, b in zip(logmel, statistics, strict=True)]

    def run() -> None:
        for feed in feeds:
            session.run(None, feed)

    return run


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def measure(seconds: float, block: int, repeats: int) -> dict:
    music = captured(music_like(seconds, SAMPLE_RATE, np.random.default_rng(0)), SAMPLE_RATE)
    inputs = {
        "48 kHz stereo": (music, SAMPLE_RATE),
        "44.1 kHz stereo": (resample_poly(music, 147, 160, axis=0).astype(np.float32), 44100),
        "48 kHz mono": (music[:, :1].copy(), SAMPLE_RATE),
    }
    cases = []
    for name, (audio, rate) in inputs.items():
        total = _cpu(_detector(audio, rate, block), repeats)
        without = _cpu(_detector(audio, rate, block, mains_lines=False), repeats)
        front = _cpu(_front_end(audio, rate, block), repeats)
        model = _cpu(_network(audio, rate), repeats)
        lines = _cpu(_mains_lines(audio, rate), repeats)
        cases.append({"name": name, "realtime": seconds / total, "ms_per_s": 1000 * total / seconds,
                      "front_end_ms": 1000 * front / seconds, "model_ms": 1000 * model / seconds,
                      "mains_lines_ms": 1000 * lines / seconds,
                      "realtime_without_lines": seconds / without})
    return {"seconds": seconds, "block": block, "repeats": repeats, "cpu": _cpu_name(),
            "cases": cases}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    result = measure(args.seconds, args.block, args.repeats)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['seconds']:g} s of audio, {result['block']}-sample blocks, best of "
          f"{result['repeats']}, CPU: {result['cpu']}")
    print("| input | x real time per core | ms CPU per s of audio | front end ms | network ms "
          "| mains lines ms | x real time, mains lines off |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in result["cases"]:
        print(f"| {c['name']} | {c['realtime']:.0f} | {c['ms_per_s']:.2f} | "
              f"{c['front_end_ms']:.2f} | {c['model_ms']:.2f} | {c['mains_lines_ms']:.2f} | "
              f"{c['realtime_without_lines']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
