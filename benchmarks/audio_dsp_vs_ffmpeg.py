"""Audio dropout and loudness detectors against FFmpeg's silencedetect and ebur128.

    python3 benchmarks/audio_dsp_vs_ffmpeg.py [--clips 4] [--seconds 30] [--seed 0]
                                              [--real-speech DIR] [--real-music DIR]

Dropouts: WAV clips (48 kHz stereo, float) of speech-like and music-like programme through the
capture path (-62 dBFS floor, -70 dBFS hum), each with dropouts of 50 ms, 200 ms and 1 s placed
inside sound, on both channels or on one; and look-alike clips with none (speech pauses, drum
breaks, a fade-out, a quiet passage at -50 dBFS). silencedetect runs per channel (``mono=1``) at
-50 dB and -45 dB with ``d=0.02`` (our minimum); its fragments of one gap less than 5 ms apart are
merged. A detection matches a dropout it overlaps; errors are start and end in milliseconds.
With espeak-ng installed, a clip of its speech is added: a look-alike we cannot separate.
``--real-speech``/``--real-music`` add recorded files (any format soundfile reads; for instance
Debian's fillets-ng-data-cs and wesnoth-1.16-music): each file on its own, once clean (false
positives) and once with one dropout placed inside sound.

Loudness: integrated loudness (LUFS) and loudness range (LU) from ebur128, ours and pyloudnorm
(default and BS.1770-exact "DeMan" filters) on programme at several levels and EBU Tech 3341
sine cases. Cost is CPU seconds per minute of audio (ours in this process, FFmpeg's as child
CPU time, decoding included).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared test content

from harness.detectors.audio.dropout import AudioDropoutDetector  # noqa: E402
from harness.detectors.audio.loudness import LoudnessDetector  # noqa: E402
from tests.audio_content import (  # noqa: E402
    FFMPEG,
    at_loudness,
    blocks,
    captured,
    dropout_times,
    ebur128,
    fade_out,
    music_like,
    quiet_passage,
    run,
    silencedetect,
    sine,
    speech_like,
    with_dropout,
)

RATE = 48000
DURATIONS = (0.05, 0.2, 1.0)
CHANNEL_SETS = (None, [0], [1])  # both channels, left only, right only
ESPEAK = shutil.which("espeak-ng")
Span = tuple[float, float]


@dataclass
class Tally:
    """One tool's results over a set of clips."""

    found: int = 0
    total: int = 0
    start_ms: list[float] = field(default_factory=list)
    end_ms: list[float] = field(default_factory=list)
    false: int = 0
    false_where: list[str] = field(default_factory=list)
    cpu_s: float = 0.0

    def add(self, clip: str, truth: list[Span], found: list[Span]) -> None:
        self.total += len(truth)
        for start, end in truth:
            match = [f for f in found if f[0] < end and start < f[1]]
            if match:
                self.found += 1
                self.start_ms.append(abs(match[0][0] - start) * 1000)
                self.end_ms.append(abs(match[-1][1] - end) * 1000)
        for f in found:
            if not any(f[0] < end and start < f[1] for start, end in truth):
                self.false += 1
                self.false_where.append(f"{clip}@{f[0]:.2f}s")


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ours(path: Path) -> tuple[list[Span], float]:
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    start = time.process_time()
    events = run(AudioDropoutDetector(), blocks(x, rate, 1024))
    return [(e.start, e.end) for e in events], time.process_time() - start


def theirs(noise_db: float) -> Callable[[Path], tuple[list[Span], float]]:
    def detect(path: Path) -> tuple[list[Span], float]:
        before = _cpu_children()
        spans = silencedetect(path, noise_db, 0.02)
        return spans, _cpu_children() - before

    return detect


TOOLS = {"ours": ours, "silencedetect -50 dB": theirs(-50), "silencedetect -45 dB": theirs(-45)}


def write(directory: Path, name: str, x: np.ndarray, rate: int = RATE) -> Path:
    path = directory / f"{name}.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    return path


def with_dropouts(clean: np.ndarray, rate: int, seed: int) -> tuple[np.ndarray, list[Span]]:
    """Three dropouts (50 ms, 200 ms, 1 s) inside sound, on both channels or on one."""
    truth = []
    for i, (at, seconds) in enumerate(zip(dropout_times(clean, rate, DURATIONS), DURATIONS,
                                          strict=False)):
        channels = CHANNEL_SETS[(i + seed) % 3] if clean.shape[1] == 2 else None
        clean = with_dropout(clean, rate, at, seconds, channels)
        truth.append((at, at + seconds))
    return clean, truth


def synthetic_clips(directory: Path, clips: int, seconds: float, seed: int):
    """(name, path, truth) for dropout clips and look-alike clips."""
    for i in range(clips):
        rng = np.random.default_rng(seed + i)
        for kind, make in (("speech", speech_like), ("music", music_like)):
            clean, truth = with_dropouts(make(seconds, RATE, rng, channels=2), RATE, i)
            yield f"{kind}{i}", write(directory, f"{kind}{i}", captured(clean, RATE, i)), truth
    rng = np.random.default_rng(seed + 100)
    music = music_like(seconds, RATE, rng)
    lookalikes = {
        "speech_pauses": speech_like(seconds, RATE, rng, channels=2),
        "drum_breaks": music,
        "fade_out": fade_out(music, RATE, seconds / 2, 3.0),
        "quiet_passage": quiet_passage(music, RATE, seconds / 3, 6.0),
    }
    for name, clean in lookalikes.items():
        yield name, write(directory, name, captured(clean, RATE, seed)), []


def espeak_clip(directory: Path) -> Iterator[tuple[str, Path, list[Span]]]:
    """Two minutes of espeak-ng text-to-speech, captured: no dropouts, but formant synthesis
    ends its stop closures with digital cuts, as abrupt as a dropout."""
    sentence = ("the quick brown fox jumps over a lazy dog while seven tall kings quietly packed "
                "their bags, then it started to rain on the distant hills.")
    words = sentence.split(" ")
    text = " ".join(words[(i * 7) % len(words)] for i in range(300))
    raw = directory / "espeak.wav"
    subprocess.run([ESPEAK, "-w", str(raw), "-s", "160", text], check=True)
    x, rate = sf.read(raw, dtype="float32", always_2d=True)
    g = gcd(RATE, rate)
    x = at_loudness(resample_poly(x, RATE // g, rate // g, axis=0), RATE, -23.0)
    yield "espeak-ng", write(directory, "espeak", captured(x, RATE)), []


def real_clips(directory: Path, folder: Path, kind: str, seed: int, every: int):
    """Each recorded file alone (every ``every``-th): once clean, once with one dropout inside
    sound."""
    rng = np.random.default_rng(seed)
    files = sorted(p for p in folder.rglob("*") if p.is_file())[::every]
    for i, file in enumerate(files):
        try:
            x, rate = sf.read(file, dtype="float32", always_2d=True)
        except sf.LibsndfileError:
            continue
        if rate != RATE:
            g = gcd(RATE, rate)
            x = resample_poly(x, RATE // g, rate // g, axis=0).astype(np.float32)
        name = f"{kind}:{file.stem}"
        yield name, write(directory, f"{kind}{i}_clean", captured(x, RATE, i)), []
        seconds = DURATIONS[i % 3]
        times = dropout_times(x, RATE, [seconds], gap_s=1.0)
        if times:
            channels = CHANNEL_SETS[int(rng.integers(3))] if x.shape[1] == 2 else None
            y = captured(with_dropout(x, RATE, times[0], seconds, channels), RATE, i)
            yield name, write(directory, f"{kind}{i}_drop", y), [(times[0], times[0] + seconds)]


def dropout_table(title: str, clips: Iterator[tuple[str, Path, list[Span]]]) -> None:
    """Run every tool on each clip as it is written (then delete it), and print one table."""
    tallies = {tool: Tally() for tool in TOOLS}
    seconds = count = 0
    for name, path, truth in clips:
        seconds += sf.info(path).duration
        count += 1
        for tool, detect in TOOLS.items():
            spans, cpu = detect(path)
            tallies[tool].add(name, truth, spans)
            tallies[tool].cpu_s += cpu
        path.unlink()
    minutes = seconds / 60
    print(f"\n### Dropouts: {title} ({count} clips, {minutes:.1f} min)\n")
    print("| detector | found | start err median / max (ms) | end err median / max (ms) "
          "| false positives | CPU s per audio min |")
    print("|---|---|---|---|---|---|")
    for tool, tally in tallies.items():
        s, e = np.array(tally.start_ms or [np.nan]), np.array(tally.end_ms or [np.nan])
        print(f"| {tool} | {tally.found}/{tally.total} | {np.median(s):.1f} / {s.max():.1f} "
              f"| {np.median(e):.1f} / {e.max():.1f} | {tally.false} "
              f"| {tally.cpu_s / minutes:.2f} |")
    if tallies["ours"].false:
        print(f"\nOurs, false positives at: {', '.join(tallies['ours'].false_where[:10])}")


def loudness_table(directory: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tech = "-23.0 +-0.1"
    gated = [sine(10, RATE, -36.0), sine(60, RATE, -23.0), sine(10, RATE, -36.0)]
    cases: dict[str, tuple[np.ndarray, int, str]] = {
        "BS.1770 calibration: 997 Hz -23 dBFS, 20 s": (sine(20, RATE, -23.0, hz=997), RATE,
                                                        "-23.000"),
        "Tech 3341 #1: 1 kHz -23 dBFS, 20 s": (sine(20, RATE, -23.0), RATE, tech),
        "Tech 3341 #2: 1 kHz -33 dBFS, 20 s": (sine(20, RATE, -33.0), RATE, "-33.0 +-0.1"),
        "Tech 3341 #3: -36/-23/-36 dBFS, 10/60/10 s": (np.concatenate(gated), RATE, tech),
    }
    for kind, make in (("speech", speech_like), ("music", music_like)):
        for target in (-23.0, -17.0, -30.0):
            x = at_loudness(make(60, RATE, rng, channels=2), RATE, target)
            cases[f"{kind} at {target:g} LUFS, 60 s, captured"] = (captured(x, RATE), RATE, "")
    x = at_loudness(music_like(60, 44100, rng), 44100, -23.0)
    cases["music at -23 LUFS, 44.1 kHz, captured"] = (captured(x, 44100), 44100, "")
    print("\n### Loudness: integrated (LUFS) and loudness range (LU)\n")
    print("| programme | expected | ebur128 I | ours I | pyloudnorm I (default / DeMan) "
          "| ebur128 LRA | ours LRA | pyloudnorm LRA |")
    print("|---|---|---|---|---|---|---|---|")
    ours_cpu = ffmpeg_cpu = minutes = 0.0
    for name, (x, rate, expected) in cases.items():
        path = write(directory, "loudness", x, rate)
        before = _cpu_children()
        their_i, their_lra = ebur128(path)
        ffmpeg_cpu += _cpu_children() - before
        samples = sf.read(path, dtype="float32", always_2d=True)[0]
        start = time.process_time()
        detector = LoudnessDetector()
        run(detector, blocks(samples, rate, rate // 10))
        our_i, our_lra = detector.integrated()
        ours_cpu += time.process_time() - start
        minutes += len(samples) / rate / 60
        data = samples.astype(np.float64)
        default = pyloudnorm.Meter(rate).integrated_loudness(data)
        deman = pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(data)
        lra = pyloudnorm.Meter(rate).loudness_range(data)
        print(f"| {name} | {expected} | {their_i:.3f} "
              f"| {our_i:.3f} | {default:.3f} / {deman:.3f} | {their_lra:.2f} "
              f"| {our_lra or 0:.2f} | {lra:.2f} |")
    print(f"\nCPU s per audio minute: ours {ours_cpu / minutes:.3f}, "
          f"ebur128 {ffmpeg_cpu / minutes:.3f} (its decoding included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4, help="synthetic clips per content kind")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each clip (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-speech", type=Path, help="folder of recorded speech files")
    parser.add_argument("--real-music", type=Path, help="folder of recorded music files")
    parser.add_argument("--every", type=int, default=1, help="take every N-th recorded file")
    args = parser.parse_args()
    if FFMPEG is None:
        sys.exit("ffmpeg is not installed (apt-get install ffmpeg); nothing to compare with")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        synthetic = synthetic_clips(directory, args.clips, args.seconds, args.seed)
        dropout_table("synthetic, captured", synthetic)
        for kind, folder in (("speech", args.real_speech), ("music", args.real_music)):
            if folder is not None:
                clips = real_clips(directory, folder, kind, args.seed, args.every)
                dropout_table(f"recorded {kind}, captured", clips)
        if ESPEAK is not None:
            dropout_table("espeak-ng text-to-speech, captured", espeak_clip(directory))
        loudness_table(directory, args.seed)


if __name__ == "__main__":
    main()
