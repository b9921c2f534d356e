"""LipSync accuracy on the corpus: Megamind with its audio moved by known offsets, content with
no sync to find, and the cost.

    python3 benchmarks/lipsync_eval.py [--corpus DIR] [--offsets=-400,-320,...] [--hop 1]
                                       [--detect-every 4] [--min-prominence 0.1]
                                       [--skip-inconclusive]

The corpus is the one ``harness corpus build`` makes (``--corpus``, default ``$HARNESS_CORPUS``).

Megamind (``megamind``: animated dialogue, 11.3 s, 23.976 fps, four shots) is decoded once by
the recording backend ``harness analyze`` uses. For each offset its audio blocks are moved on the
media clock (positive = audio late; audio moved before 0 is cut, as a player starting late
does), and the detector runs over the frames and the moved audio. The native file counts as in
sync: its video starts 42 ms after its audio, which the backend keeps, and the method's error is
a frame either way. Every window of the clip has a visible face speaking for at least 1.4 s (the
voices told apart by pitch: a woman's around 220 Hz over her shots, a man's around 100 Hz over
his), so every window counts: for |offset| >= 160 ms a window is correct when it says
out_of_sync, at 0 when it says in_sync (an inconclusive window is not correct). The offset error
is the window's estimate minus the true offset, over the conclusive windows. "unconfirmed"
counts windows whose own tracks said out_of_sync but which no other window confirmed.

Real talking faces (the corpus's ``benchmark`` split, group ``talking_heads``: five clips of
4.5-8.7 s, people speaking to the camera with their own sound, 160x120 to 640x480) are moved
the same way. Each is shorter than two windows that share no frame plus the confirmation reach,
so an out-of-sync window can seldom be confirmed on them; besides the windows, their table counts
the face tracks' own votes (a track whose peak is prominent enough votes in_sync or out_of_sync),
which is what a longer recording of the same faces would accumulate.

Content with no sync to find, which must never be out_of_sync: ``carphone`` (a real talking
face, no audio), a faceless picture (``wallpaper-path-720p-pan``) with music
(``wesnoth-elf-land``), Megamind's picture with that music (faces, no speech), and the carphone
and Megamind pictures each with every recorded-speech item of the corpus (20 Czech recordings
from fillets-ng-data-cs, first 20 s): faces that talk and speech that is not theirs, as in a
voice-over or dubbing, the hardest case for a correlation.

Faces found in a picture are cached between runs (the video is the same every time), so only
the first run over a picture pays for face detection. The cost lines run the detector afresh:
seconds of processing per second of video, colour conversion and CenterFace included, decoding
not.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.capture.recording import RecordingSource  # noqa: E402
from harness.corpus import BENCHMARK_SPLIT, MANIFEST_NAME, Manifest  # noqa: E402
from harness.detectors.av.faces import CenterFace, Face  # noqa: E402
from harness.detectors.av.lipsync import (  # noqa: E402
    UNCONFIRMED,
    LipSyncDetector,
    LipSyncSettings,
)
from harness.media import AudioBlock, VideoFrame  # noqa: E402

OFFSETS_MS = (-400, -320, -240, -200, -160, -120, -80, -40, 0, 40, 80, 120, 160, 200, 240, 320,
              400)
DETECTABLE_MS = 160
FRAME_MS = 1000 / 23.976


class CachedFaces:
    """CenterFace, remembering the faces of every picture it has seen."""

    def __init__(self, width: int) -> None:
        self._finder = CenterFace(width)
        self._seen: dict[bytes, list[Face]] = {}

    def __call__(self, bgr: np.ndarray) -> list[Face]:
        key = hashlib.blake2b(bgr.tobytes(), digest_size=16).digest()
        if key not in self._seen:
            self._seen[key] = self._finder(bgr)
        return self._seen[key]


def decoded(path: Path, with_audio: bool = True, convert: bool = True
            ) -> list[VideoFrame | AudioBlock]:
    """Every frame and audio block of a file, in file order; pixels converted to BGR once
    (``convert``) when the items are to be run many times."""
    source = RecordingSource(path, with_audio=with_audio)
    source.open()
    try:
        items = list(source.items())
    finally:
        source.close()
    for item in items:
        if convert and isinstance(item, VideoFrame):
            _ = item.bgr
    return items


def moved(items: Iterable[VideoFrame | AudioBlock], offset_ms: float) -> Iterator:
    """The items with the audio ``offset_ms`` later on the media clock (earlier when < 0)."""
    for item in items:
        if isinstance(item, VideoFrame):
            yield item
            continue
        start = item.start + round(offset_ms * item.sample_rate / 1000)
        cut = max(0, -start)
        if cut < len(item.samples):
            yield AudioBlock(item.samples[cut:], item.sample_rate, start + cut)


def run(detector: LipSyncDetector, items: Iterable[VideoFrame | AudioBlock]) -> dict:
    for item in items:
        detector.process(item)
    detector.flush()
    summary = detector.summary()
    assert summary is not None
    return summary["av_sync"]


def talking_faces(manifest: Manifest) -> list[str]:
    """Ids of the corpus's real talking-face clips with sound (the benchmark split)."""
    return [item.id for item in manifest.select(split=BENCHMARK_SPLIT, kind="video",
                                                 tags=["talking_face"])]


def talking_heads(manifest: Manifest, path: dict[str, Path], settings: LipSyncSettings,
                  faces: CachedFaces, offsets: list[int]) -> list[str]:
    """Each real talking-face clip moved by every offset: windows and the tracks' votes."""
    lines = ["| clip | windows | at 0: in / out / inconclusive | offset >= 160 ms either way: "
             "windows out_of_sync | track votes cast / right / scored | right votes within a "
             "frame |", "| --- | --- | --- | --- | --- | --- |"]
    totals = Counter()
    for clip in talking_faces(manifest):
        items = decoded(path[clip])
        frames = [i.time for i in items if isinstance(i, VideoFrame)]
        frame_ms = 1000 * (frames[-1] - frames[0]) / (len(frames) - 1)
        row = Counter()
        for offset in offsets:
            detector = LipSyncDetector(settings, faces=faces)
            windows = run(detector, moved(items, offset))["windows"]
            expected = expected_verdict(offset)
            if offset == 0:
                row.update(f"0 {w['verdict']}" for w in windows)
                row["windows"] = len(windows)
            elif expected is not None:
                row["far"] += len(windows)
                row["far out"] += sum(w["verdict"] == "out_of_sync" for w in windows)
            tracks = [t for w in detector.windows for t in w.tracks]
            votes = [t for t in tracks if t.verdict != "inconclusive"]
            right = [t for t in votes if t.verdict == expected]
            row["scored"] += len(tracks) if expected else 0
            row["votes"] += len(votes) if expected else 0
            row["right"] += len(right)
            row["within"] += sum(abs(t.offset_ms - offset) <= frame_ms for t in right)
            print(f"  {clip} {offset:+5d} ms: {_verdicts(windows)}", file=sys.stderr)
        totals.update(row)
        lines.append(_talking_row(clip, row))
    lines.append(_talking_row("all", totals))
    return lines


def _talking_row(name: str, row: Counter) -> str:
    return (f"| {name} | {row['windows']} | {row['0 in_sync']} / {row['0 out_of_sync']} / "
            f"{row['0 inconclusive']} | {row['far out']}/{row['far']} | {row['votes']} / "
            f"{row['right']} / {row['scored']} | {row['within']}/{row['right']} |")


def expected_verdict(offset_ms: int) -> str | None:
    """What a window must say at this offset (None: either answer is acceptable)."""
    if abs(offset_ms) >= DETECTABLE_MS:
        return "out_of_sync"
    return "in_sync" if offset_ms == 0 else None


@dataclass
class OffsetResult:
    """The windows of one run of Megamind with its audio moved ``offset_ms``."""

    offset_ms: int
    windows: list[dict]
    overall: str
    overall_offset_ms: float | None

    @property
    def expected(self) -> str | None:
        return expected_verdict(self.offset_ms)

    def count(self, verdict: str) -> int:
        return sum(w["verdict"] == verdict for w in self.windows)

    @property
    def unconfirmed(self) -> int:
        return sum(w.get("reason") == UNCONFIRMED for w in self.windows)

    def errors(self, only_correct: bool = False) -> list[float]:
        """Window offset minus the true one, over conclusive (or only correct) windows."""
        return [w["offset_ms"] - self.offset_ms for w in self.windows
                if w["offset_ms"] is not None
                and (not only_correct or w["verdict"] == self.expected)]


def megamind(items: list, settings: LipSyncSettings, faces: CachedFaces,
             offsets: Iterable[int]) -> list[OffsetResult]:
    results = []
    for offset in offsets:
        result = run(LipSyncDetector(settings, faces=faces), moved(items, offset))
        results.append(OffsetResult(offset, result["windows"], result["verdict"],
                                    result["offset_ms"]))
        print(f"  {offset:+5d} ms: {_verdicts(result['windows'])}", file=sys.stderr)
    return results


def _verdicts(windows: list[dict]) -> str:
    short = {"in_sync": "in", "out_of_sync": "OUT", "inconclusive": "?"}
    return " ".join(
        f"{short[w['verdict']]}" + (f"({w['offset_ms']:+.0f})" if w["offset_ms"] is not None
                                    else f"[{w.get('reason', '')}]")
        for w in windows
    )


def megamind_table(results: list[OffsetResult]) -> list[str]:
    lines = [
        "| offset (ms) | windows | in_sync | out_of_sync | inconclusive (unconfirmed) | correct "
        "| median error (ms) | within 1 frame | overall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        correct = "-" if r.expected is None else f"{r.count(r.expected)}/{len(r.windows)}"
        errors = r.errors()
        median = f"{np.median(errors):+.0f}" if errors else "-"
        within = f"{sum(abs(e) <= FRAME_MS for e in errors)}/{len(errors)}" if errors else "-"
        overall = r.overall + (f" {r.overall_offset_ms:+.0f}" if r.overall_offset_ms is not None
                               else "")
        lines.append(f"| {r.offset_ms:+d} | {len(r.windows)} | {r.count('in_sync')} | "
                     f"{r.count('out_of_sync')} | {r.count('inconclusive')} ({r.unconfirmed}) | "
                     f"{correct} | {median} | {within} | {overall} |")
    far = [r for r in results if abs(r.offset_ms) >= DETECTABLE_MS]
    native = [r for r in results if r.offset_ms == 0]
    hits = [e for r in results if r.expected for e in r.errors(only_correct=True)]
    lines += ["", _share("|offset| >= 160 ms, windows out_of_sync",
                         sum(r.count("out_of_sync") for r in far),
                         sum(len(r.windows) for r in far)),
              _share("native (in sync), windows in_sync", sum(r.count("in_sync") for r in native),
                     sum(len(r.windows) for r in native)),
              f"- false out_of_sync windows at 0 ms: {sum(r.count('out_of_sync') for r in native)}",
              _share("offset within one frame (41.7 ms), correct windows",
                     sum(abs(e) <= FRAME_MS for e in hits), len(hits)),
              f"- overall verdict right at every offset >= 160 ms and at 0: "
              f"{all(r.overall == r.expected for r in results if r.expected)}"]
    return lines


def _share(what: str, hits: int, total: int) -> str:
    return f"- {what}: {hits}/{total} ({100 * hits / max(total, 1):.0f} %)"


def must_be_inconclusive(manifest: Manifest, path: dict[str, Path], settings: LipSyncSettings,
                         faces: CachedFaces, megamind: list) -> list[str]:
    """Content where there is no sync to find; each group's windows and overall verdicts."""
    carphone = decoded(path["carphone"])
    pictures = {"carphone": [i for i in carphone if isinstance(i, VideoFrame)],
                "Megamind": [i for i in megamind if isinstance(i, VideoFrame)]}
    speech = [item.id for item in manifest.select(kind="audio", tags=["recorded", "speech"])
              if item.split != BENCHMARK_SPLIT]  # not the talking faces' own soundtracks
    real_faces = [[i for i in decoded(path[clip], with_audio=False) if isinstance(i, VideoFrame)]
                  for clip in talking_faces(manifest)]
    groups = {
        "carphone: talking face, no audio": [carphone],
        "faceless pan + music": [_with_audio(decoded(path["wallpaper-path-720p-pan"], False),
                                             path["wesnoth-elf-land"])],
        "Megamind picture + music": [_with_audio(pictures["Megamind"],
                                                 path["wesnoth-elf-land"])],
        **{f"{name} picture + someone else's speech ({len(speech)} recordings)": [
            _with_audio(frames, path[item]) for item in speech]
           for name, frames in pictures.items()},
        f"real talking faces ({len(real_faces)} clips) + someone else's speech": [
            _with_audio(frames, path[item]) for frames in real_faces for item in speech],
    }
    lines = ["| content | runs: overall in / out / inconclusive | windows: in / out / "
             "inconclusive | of which unconfirmed | reasons |", "| --- | --- | --- | --- | --- |"]
    for name, runs in groups.items():
        overall, windows = Counter(), Counter()
        reasons: set[str] = set()
        for items in runs:
            result = run(LipSyncDetector(settings, faces=faces), items)
            overall[result["verdict"]] += 1
            windows.update(w["verdict"] for w in result["windows"])
            windows["unconfirmed"] += sum(w.get("reason") == UNCONFIRMED
                                          for w in result["windows"])
            reasons |= {w["reason"] for w in result["windows"] if "reason" in w}
        lines.append(f"| {name} | {_counts(overall)} | {_counts(windows)} | "
                     f"{windows['unconfirmed']} | {', '.join(sorted(reasons)) or '-'} |")
    return lines


def _counts(counter: Counter) -> str:
    return " / ".join(str(counter[v]) for v in ("in_sync", "out_of_sync", "inconclusive"))


def _with_audio(items: list, audio_path: Path) -> list:
    """The video items with the audio of another file, interleaved by time."""
    frames = [item for item in items if isinstance(item, VideoFrame)]
    end = frames[-1].time + 0.5
    blocks = [block for block in decoded_audio(audio_path) if block.time < end]
    return sorted(frames + blocks, key=lambda item: item.time)


def decoded_audio(path: Path) -> list[AudioBlock]:
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True, frames=20 * 48_000)
    size = 1024
    return [AudioBlock(samples[i : i + size], rate, i) for i in range(0, len(samples), size)]


def cost(path: Path, settings: LipSyncSettings) -> float:
    """Seconds of processing per second of video: colour conversion and CenterFace included,
    nothing cached (decoding not included)."""
    items = decoded(path, convert=False)
    detector = LipSyncDetector(settings)
    started = time.perf_counter()
    run(detector, items)
    frames = [item for item in items if isinstance(item, VideoFrame)]
    return (time.perf_counter() - started) / (frames[-1].time - frames[0].time)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("HARNESS_CORPUS"),
                        help="corpus directory (default: $HARNESS_CORPUS)")
    parser.add_argument("--offsets", default=",".join(map(str, OFFSETS_MS)),
                        help="audio offsets to test, ms (> 0 = audio late)")
    parser.add_argument("--hop", type=float, default=LipSyncSettings().hop_s,
                        help="window hop (s; default: the detector's)")
    parser.add_argument("--detect-every", type=int, default=LipSyncSettings().detect_every,
                        help="face detection on every n-th frame")
    parser.add_argument("--min-prominence", type=float,
                        default=LipSyncSettings().min_prominence,
                        help="peak prominence a face track needs to vote")
    parser.add_argument("--skip-inconclusive", action="store_true",
                        help="only the Megamind offsets")
    args = parser.parse_args()
    if not args.corpus:
        parser.error("no corpus: pass --corpus DIR or set HARNESS_CORPUS "
                     "(build one with `harness corpus build --out DIR`)")
    corpus = Path(args.corpus)
    manifest = Manifest.load(corpus / MANIFEST_NAME)
    settings = LipSyncSettings(hop_s=args.hop, detect_every=args.detect_every,
                               min_prominence=args.min_prominence)
    faces = CachedFaces(settings.detect_width)
    path = {item.id: corpus / item.path for item in manifest.items}
    items = decoded(path["megamind"])
    offsets = [int(o) for o in args.offsets.split(",")]
    results = megamind(items, settings, faces, offsets)
    print(f"### Megamind, window {settings.window_s:g} s, hop {settings.hop_s:g} s, faces on "
          f"every {settings.detect_every}th frame, tolerance +-{settings.late_ms:g} ms\n")
    print("\n".join(megamind_table(results)))
    print("\n### Real talking faces (benchmark split), moved by the same offsets\n")
    print("\n".join(talking_heads(manifest, path, settings, faces, offsets)))
    if not args.skip_inconclusive:
        print("\n### Content with no sync to find (must never be out_of_sync)\n")
        print("\n".join(must_be_inconclusive(manifest, path, settings, faces, items)))
    print("\n### Cost (s of processing per s of video, 2 cores, CenterFace included)\n")
    print(f"- Megamind 720x528 @ 23.976: {cost(path['megamind'], settings):.2f}")
    print(f"- Big Buck Bunny 1280x720 @ 25: {cost(path['bigbuckbunny'], settings):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
