"""The block-corruption model on bitstream damage made another way: other codecs, FFmpeg's noise.

    python3 benchmarks/block_corruption_other_way.py [--corpus DIR] [--models DIR]
                                                     [--seconds 2] [--every 8] [--json]

The shipped model (``models/block_corruption.onnx``) learned block corruption from two
simulators: H.264 in MPEG-TS with lost or garbled TS packets, concealed by FFmpeg's H.264
decoder (``harness/impairments/bitstream.py``), and pixel-domain block damage
(``harness/impairments/blocks.py``). Devices also play HEVC, MPEG-2 and VP9, whose damage
looks different (other block sizes and partitions, other concealment or none), so this checks
whether the detector carries over, with the training's rule of truth. ``--models DIR`` checks
another models directory (a candidate retrain: ``block_corruption.onnx`` + ``manifest.json``).

Content: the corpus's test-split video sources (``pristine_sources``: the sources
``training.block_data`` holds out; ``--corpus``, default ``$HARNESS_CORPUS``), the first
``--seconds`` of each, decoded and scaled once (area averaging, to fit 1280 x 720, never up) and
encoded in one FFmpeg run, every encoder single-threaded so the bytes, and with them the damage,
are the same on every run:

* HEVC: libx265 ``ultrafast``, in MPEG-TS;
* MPEG-2: FFmpeg's ``mpeg2video``, 2 B-frames, VBV at the target rate and the non-linear
  quantiser (without them it overshoots a low target several times), in MPEG-TS;
* VP9: libvpx-vp9 ``realtime``, ``cpu-used`` 8, in IVF;

each at a normal and a low rate (``Codec.bits_per_pixel``: bits per pixel per frame, so a 360p
source gets a quarter of a 720p one's rate; the tables give the rates the files reached), with
a keyframe every second, no scene-cut keyframes and closed GOPs (x265 ``open-gop=0``, MPEG-2
``+cgop``), so damage lasts until the next keyframe, unless that is hit too.

Damage: FFmpeg's ``noise`` bitstream filter on the normal-rate stream (``-c copy``), at two
strengths (``DAMAGE``): *light* overwrites about one byte in 100 000 and drops about one packet
in 100, *heavy* one byte in 20 000 and one packet in 30 -- bit errors that got past error
correction, and data lost whole. A packet is one coded frame, so a drop loses a frame; the
overwritten bytes land anywhere in a frame's data, headers included, so big frames (keyframes)
are hit most, as with channel errors. The stream's first packet is spared (a receiver has
joined the stream before its damage can show). The filter has no seed: its pseudo-random state
is a running sum of the bytes it has seen, so the damage follows from the (deterministic)
encode.

Decoding: PyAV (FFmpeg's decoders), single-threaded, with ``err_detect=ignore_err``,
``ec=guess_mvs+deblock`` (concealment, which MPEG-2's decoder has and HEVC's and VP9's do not)
and concealed frames output; a packet the decoder refuses is skipped. Damaged frames are paired
with the clean decode of the same stream by pts. Clean frames the damaged decode never outputs
(dropped packets, pictures the decoder refused) are counted as *lost* and not scored -- a
player repeats the last picture there, a stutter rather than a corrupted picture; a damaged
frame whose pts is not in the clean decode, comes twice or has another size is counted as
*unmatched* and not scored.

Truth per frame, the training rule (``training.block_data``): analysis pixels
(``analysis_picture`` at the model's trained ``max_size``, from its manifest) off the clean
decode of the same stream by more than ``VISIBLE_TOLERANCE`` (24) code values in any channel,
there and up to ``DISPLACEMENT_TOLERANCE`` (1) pixel around (``visible_damage``);
positive when their share is above ``POSITIVE_AREA`` (7 %), ignored in (0, 7 %], negative at 0.
Compression is never labelled: the clean decodes, normal and low rate, are negatives.

Scored frames: those at output positions 0, N, 2N, ... of each clean decode (``--every`` N;
the detector itself analyses one frame in two) and the damaged decodes' frames at the same pts,
each by model version 1 (area ratio), version 2 (frame probability) and FFmpeg blockdetect
(``training.blockdetect``, on the decoded picture at its own size, as ``training.block_eval``
does), at the thresholds validated in the models directory's manifest (``trained.thresholds``),
flagging a score above its threshold as the detector does. A damaged frame bit-identical to its
clean decode (before the first damage, after the keyframe that ends it) takes the clean frame's
scores rather than being scored again.

Reported, per codec and strength: frames lost and unmatched, scored frames by truth, and per
method recall, precision and F1 over the damaged stream's scored frames (its frames that look
clean are its negatives), with totals per strength; per codec, each method's false-positive rate
on the clean decodes at both rates; and everything pooled (precision and F1 then count the
clean decodes' false positives too). One process, onnxruntime and numpy on one thread; run it
under ``nice`` beside other work.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness and training

from benchmarks.ffmpeg_cli import ffmpeg_version, require_ffmpeg, run_ffmpeg  # noqa: E402
from harness.detectors.video.corruption_map import (  # noqa: E402
    CorruptionMapModel,
    analysis_picture,
)
from harness.impairments.datasets import Source, pristine_sources  # noqa: E402
from training.block_data import POSITIVE_AREA, visible_damage  # noqa: E402
from training.block_eval import METHODS, MethodMetrics, measure  # noqa: E402
from training.blockdetect import MAX_CHUNK, blockdetect_scores  # noqa: E402

MAX_SIZE = (1280, 720)  #: the encoded picture fits this (sources are scaled down, never up)
GOP_SECONDS = 1.0
CLEAN, LOW = "clean", "low bitrate"
METHOD_LABELS = {"area_ratio": "model v1 (area ratio)", "probability": "model v2 (frame head)",
                 "blockdetect": "FFmpeg blockdetect"}
#: What the decoders are told: skip nothing for errors, conceal (where the codec can), and
#: output the pictures they concealed, as a player does.
DECODER_OPTIONS = {"err_detect": "ignore_err", "ec": "guess_mvs+deblock",
                   "flags": "+output_corrupt"}


@dataclass(frozen=True)
class Codec:
    """One way of encoding the clean clip: FFmpeg encoder arguments and bit rates."""

    key: str
    label: str
    muxer: str
    suffix: str
    args: tuple[str, ...]  #: ``{gop}``: keyframe interval in frames, ``{kbps}``: target rate
    bits_per_pixel: float  #: normal rate, bits per pixel per frame
    low_bits_per_pixel: float  #: legitimate low rate (a negative)

    def encoder_args(self, gop: int, kbps: int) -> list[str]:
        return [arg.format(gop=gop, kbps=kbps) for arg in self.args]


CODECS = (
    Codec("hevc", "HEVC (libx265) in MPEG-TS", "mpegts", "ts",
          ("-c:v", "libx265", "-preset", "ultrafast", "-b:v", "{kbps}k", "-x265-params",
           "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:pools=1:frame-threads=1:"
           "log-level=error"), 0.08, 0.01),
    # VBV (maxrate, bufsize) and the non-linear quantiser, or it overshoots a low rate 4-5x.
    Codec("mpeg2", "MPEG-2 (mpeg2video) in MPEG-TS", "mpegts", "ts",
          ("-c:v", "mpeg2video", "-b:v", "{kbps}k", "-maxrate", "{kbps}k", "-bufsize",
           "{kbps}k", "-non_linear_quant", "1", "-qmax", "28", "-g", "{gop}", "-bf", "2",
           "-flags", "+cgop", "-sc_threshold", "1000000000", "-threads", "1"), 0.2, 0.04),
    Codec("vp9", "VP9 (libvpx-vp9) in IVF", "ivf", "ivf",
          ("-c:v", "libvpx-vp9", "-b:v", "{kbps}k", "-g", "{gop}", "-keyint_min", "{gop}",
           "-deadline", "realtime", "-cpu-used", "8", "-threads", "1"), 0.08, 0.01),
)


@dataclass(frozen=True)
class Damage:
    """A strength of FFmpeg ``noise`` bitstream-filter damage."""

    name: str
    byte_every: int  #: about one byte in this many is overwritten
    packet_every: int  #: about one packet (coded frame) in this many is dropped

    @property
    def bsf(self) -> str:
        """The ``-bsf:v`` value; packet 0 (the first keyframe) is left intact. Commas are
        escaped for FFmpeg's bitstream-filter list parser."""
        def after_first(value: int) -> str:
            return f"if(eq(n\\,0)\\,0\\,{value})"

        # A negative ``drop`` value drops a packet with a probability of 1 in its magnitude.
        return (f"noise=amount={after_first(self.byte_every)}"
                f":drop={after_first(-self.packet_every)}")

    def describe(self) -> str:
        return f"1 byte in {self.byte_every:,}, 1 packet in {self.packet_every}"


DAMAGE = (Damage("light", 100_000, 100), Damage("heavy", 20_000, 30))


# -- encoding and decoding ----------------------------------------------------------------------



def _video_format(path: Path) -> tuple[float, int, int]:
    """(frame rate, width, height) of ``path``'s video."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return (float(stream.average_rate or 30), stream.codec_context.width,
                stream.codec_context.height)


def _scaled(width: int, height: int) -> tuple[int, int]:
    """(width, height) scaled to fit ``MAX_SIZE`` (never up), even for 4:2:0."""
    scale = min(1.0, MAX_SIZE[0] / width, MAX_SIZE[1] / height)
    return round(width * scale / 2) * 2, round(height * scale / 2) * 2


def encode(source: Source, seconds: float, scratch: Path) -> dict[tuple[str, str], Path]:
    """The first ``seconds`` of ``source``, scaled, in every codec at both rates: one FFmpeg
    run, so the source is decoded and scaled once. Returns (codec key, CLEAN or LOW) -> file."""
    assert source.path is not None
    fps, source_width, source_height = _video_format(source.path)
    width, height = _scaled(source_width, source_height)
    streams = [(codec, variant, bits_per_pixel) for codec in CODECS
               for variant, bits_per_pixel in ((CLEAN, codec.bits_per_pixel),
                                               (LOW, codec.low_bits_per_pixel))]
    labels = "".join(f"[v{number}]" for number in range(len(streams)))
    args: list[str | Path] = [
        "-threads", "1", "-t", f"{seconds:g}", "-i", source.path, "-filter_complex_threads", "1",
        "-filter_complex",
        f"[0:v]scale={width}:{height}:flags=area,format=yuv420p,split={len(streams)}{labels}"]
    paths = {}
    for number, (codec, variant, bits_per_pixel) in enumerate(streams):
        path = scratch / f"{codec.key}-{variant.replace(' ', '-')}.{codec.suffix}"
        kbps = round(bits_per_pixel * width * height * fps / 1000)
        args += ["-map", f"[v{number}]", *codec.encoder_args(round(GOP_SECONDS * fps), kbps),
                 "-f", codec.muxer, path]
        paths[codec.key, variant] = path
    run_ffmpeg(*args)
    return paths


def damage(clean: Path, codec: Codec, strength: Damage, out: Path) -> None:
    """``clean``'s packets through the ``noise`` bitstream filter, remuxed as they were."""
    run_ffmpeg("-i", clean, "-c", "copy", "-bsf:v", strength.bsf, "-f", codec.muxer, out)


def decoded(path: Path) -> Iterator[av.VideoFrame]:
    """Every picture the decoder makes of ``path``, in output order, concealing what it can;
    packets it refuses are skipped (their pictures are then missing)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # concealment is then deterministic
        stream.codec_context.options = dict(DECODER_OPTIONS)
        for packet in container.demux(stream):  # ends with the empty packet that drains
            try:
                yield from packet.decode()
            except av.error.FFmpegError:
                continue


def _digest(bgr: np.ndarray) -> bytes:
    return hashlib.blake2b(bgr.tobytes(), digest_size=16).digest()


# -- scoring ------------------------------------------------------------------------------------

Scores = dict[str, float]  #: method -> score of one frame (blockdetect's filled in later)


@dataclass
class Frames:
    """Every scored frame, column-wise: which stream it came from, its truth and scores."""

    codec: list[str] = field(default_factory=list)
    variant: list[str] = field(default_factory=list)  #: CLEAN, LOW or a damage strength
    truth: list[float] = field(default_factory=list)  #: visible corrupted-area ratio
    scores: list[Scores] = field(default_factory=list)  #: shared with the scorer until flushed

    def add(self, codec: str, variant: str, truth: float, scores: Scores) -> None:
        self.codec.append(codec)
        self.variant.append(variant)
        self.truth.append(truth)
        self.scores.append(scores)

    def select(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Truth, stream variant and scores of the frames where ``keep`` is true."""
        kept = [scores for scores, chosen in zip(self.scores, keep, strict=True) if chosen]
        return (np.asarray(self.truth)[keep], np.asarray(self.variant)[keep],
                {m: np.array([scores[m] for scores in kept]) for m in METHODS})


class Scorer:
    """The model, run at once, and blockdetect, queued: one FFmpeg run scores up to
    ``MAX_CHUNK`` same-size pictures, and starting FFmpeg costs as much as scoring 6 of them."""

    def __init__(self, models: Path) -> None:
        self.model = CorruptionMapModel(1, models)
        trained = self.model.info.trained
        if "max_size" not in trained or set(METHODS) - set(trained.get("thresholds", {})):
            raise SystemExit(f"{models}: the block_corruption manifest entry lacks max_size or "
                             f"a threshold of {', '.join(METHODS)}")
        self.max_size: tuple[int, int] = tuple(trained["max_size"])
        self.thresholds: Scores = {m: float(trained["thresholds"][m]) for m in METHODS}
        self._queue: list[tuple[np.ndarray, Scores]] = []

    def __call__(self, bgr: np.ndarray) -> tuple[np.ndarray, Scores]:
        """The analysis picture of ``bgr`` and its scores; blockdetect's arrives at ``flush``."""
        if self._queue and self._queue[0][0].shape != bgr.shape:
            self.flush()
        picture = analysis_picture(bgr, self.max_size)
        result = self.model(picture)
        scores = {"area_ratio": result.area_ratio, "probability": result.frame_probability}
        self._queue.append((bgr, scores))
        if len(self._queue) == MAX_CHUNK:
            self.flush()
        return picture, scores

    def flush(self) -> None:
        """Score the queued pictures with blockdetect, into their score dicts."""
        if self._queue:
            values = blockdetect_scores(bgr for bgr, _ in self._queue)
            for (_, scores), value in zip(self._queue, values, strict=True):
                scores["blockdetect"] = float(value)
            self._queue.clear()


@dataclass(frozen=True)
class Reference:
    """A scored frame of a clean decode: what the damaged frame at its pts is compared with."""

    picture: np.ndarray  #: analysis picture
    digest: bytes  #: of the decoded BGR picture
    shape: tuple[int, ...]
    scores: Scores


@dataclass
class StreamCount:
    """What happened to the frames of one damaged decode."""

    frames: int = 0  #: pictures of the clean decode
    lost: int = 0  #: clean pictures the damaged decode never output
    unmatched: int = 0  #: damaged pictures with no clean counterpart (pts, size, repeated)
    reused: int = 0  #: scored frames bit-identical to the clean decode

    def add(self, other: StreamCount) -> None:
        self.frames += other.frames
        self.lost += other.lost
        self.unmatched += other.unmatched
        self.reused += other.reused


def score_clean(path: Path, scorer: Scorer, every: int
                ) -> tuple[dict[int, Reference], list[int]]:
    """Score the frames at output positions 0, ``every``, 2 ``every``, ... of a clean decode:
    those frames by pts, and the pts of every frame."""
    references, every_pts = {}, []
    for index, frame in enumerate(decoded(path)):
        every_pts.append(frame.pts)
        if index % every == 0:
            bgr = frame.to_ndarray(format="bgr24")
            picture, scores = scorer(bgr)
            references[frame.pts] = Reference(picture, _digest(bgr), bgr.shape, scores)
    return references, every_pts


def score_damaged(path: Path, references: dict[int, Reference], every_pts: list[int],
                  scorer: Scorer, add: Callable[[float, Scores], None]) -> StreamCount:
    """Pair the damaged decode's frames with the clean decode's by pts, score those at the
    clean decode's scored pts (``add(truth, scores)``) and count what could not be paired."""
    count = StreamCount(frames=len(every_pts))
    clean_pts, seen = set(every_pts), set()
    for frame in decoded(path):
        if frame.pts not in clean_pts or frame.pts in seen:
            count.unmatched += 1
            continue
        seen.add(frame.pts)
        reference = references.get(frame.pts)
        if reference is None:
            continue  # not a scored position
        bgr = frame.to_ndarray(format="bgr24")
        if bgr.shape != reference.shape:
            count.unmatched += 1
        elif _digest(bgr) == reference.digest:
            count.reused += 1
            add(0.0, reference.scores)
        else:
            picture, scores = scorer(bgr)
            add(float(visible_damage(reference.picture, picture).mean()), scores)
    count.lost = len(clean_pts - seen)
    return count


@dataclass
class Run:
    """Everything measured, before metrics."""

    frames: Frames = field(default_factory=Frames)
    counts: dict[tuple[str, str], StreamCount] = field(
        default_factory=lambda: defaultdict(StreamCount))  #: (codec, damage) -> counts
    kbps: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list))  #: (codec, CLEAN or LOW) -> per source


def score_source(source: Source, scorer: Scorer, seconds: float, every: int, run: Run,
                 scratch: Path, progress: Callable[[str], None]) -> None:
    """Encode ``source`` every way, score the clean decodes, then damage each normal-rate
    stream at each strength and score its decodes against the clean one."""
    paths = encode(source, seconds, scratch)
    for codec in CODECS:
        started = time.monotonic()
        decodes = {}
        for variant in (CLEAN, LOW):
            path = paths[codec.key, variant]
            run.kbps[codec.key, variant].append(path.stat().st_size * 8 / seconds / 1000)
            decodes[variant] = score_clean(path, scorer, every)
            for reference in decodes[variant][0].values():
                run.frames.add(codec.key, variant, 0.0, reference.scores)
        references, every_pts = decodes[CLEAN]
        for strength in DAMAGE:
            damaged = scratch / f"{codec.key}-{strength.name}.{codec.suffix}"
            damage(paths[codec.key, CLEAN], codec, strength, damaged)
            add = partial(run.frames.add, codec.key, strength.name)
            run.counts[codec.key, strength.name].add(
                score_damaged(damaged, references, every_pts, scorer, add))
        progress(f"  {codec.key}: {time.monotonic() - started:.0f} s, "
                 f"{len(run.frames.truth)} frames scored so far")


# -- metrics ------------------------------------------------------------------------------------


def _metrics(frames: Frames, keep: np.ndarray, thresholds: Scores) -> dict[str, Any]:
    """Frame counts by truth, and each method's ``measure`` plus how many frames it flagged,
    on the kept frames; the negative kinds are the stream variants."""
    truth, variant, scores = frames.select(keep)
    scored, negative = (truth == 0) | (truth > POSITIVE_AREA), truth == 0
    out: dict[str, Any] = {
        "scored": int(scored.sum()), "positive": int((truth > POSITIVE_AREA).sum()),
        "ignored": int((~scored).sum()),
        "negatives": {v: int(np.count_nonzero(negative & (variant == v)))
                      for v in sorted(set(variant[negative].tolist()))},
    }
    for method in METHODS:
        metrics: MethodMetrics = measure(truth, variant, scores[method], thresholds[method])
        out[method] = {
            "recall": metrics.recall if metrics.positives else None,
            "precision": metrics.precision,
            "f1": metrics.f1,
            "flagged": int(np.count_nonzero(scores[method][scored] > thresholds[method])),
            "false_positive_rate": metrics.false_positive_rate,
        }
    return out


def _counts(run: Run, codecs: list[str], damages: list[str]) -> dict[str, int]:
    total = StreamCount()
    for codec in codecs:
        for name in damages:
            total.add(run.counts[codec, name])
    return vars(total)


def summarise(run: Run, thresholds: Scores) -> dict[str, Any]:
    """Per codec x strength, per codec's clean decodes, totals per strength and overall."""
    codec, variant = np.asarray(run.frames.codec), np.asarray(run.frames.variant)
    keys, names = [c.key for c in CODECS], [d.name for d in DAMAGE]
    damaged = np.isin(variant, names)
    rows = [{"codec": c, "damage": name, **_counts(run, [c], [name]),
             **_metrics(run.frames, (codec == c) & (variant == name), thresholds)}
            for c in keys for name in names]
    rows += [{"codec": "all", "damage": name, **_counts(run, keys, [name]),
              **_metrics(run.frames, variant == name, thresholds)} for name in names]
    rows.append({"codec": "all", "damage": "all", **_counts(run, keys, names),
                 **_metrics(run.frames, damaged, thresholds)})
    clean = [{"codec": c, "kbps": {v: float(np.mean(run.kbps[c, v])) for v in (CLEAN, LOW)},
              **_metrics(run.frames, (codec == c) & ~damaged, thresholds)} for c in keys]
    clean.append({"codec": "all", **_metrics(run.frames, ~damaged, thresholds)})
    everything = _metrics(run.frames, np.ones(len(codec), bool), thresholds)
    return {"rows": rows, "clean": clean, "everything": everything}


def measure_all(corpus: Path, models: Path, seconds: float, every: int,
                progress: Callable[[str], None]) -> dict[str, Any]:
    """Score every test-split source (``progress``: a line per step) and summarise; the JSON
    the script prints with ``--json``."""
    require_ffmpeg()
    began = time.perf_counter()
    scorer = Scorer(models)
    sources = pristine_sources(corpus, "video", "test", seconds)
    run = Run()
    with tempfile.TemporaryDirectory(prefix="block-other-way-") as scratch:
        for number, source in enumerate(sources, 1):
            progress(f"source {number}/{len(sources)}: {source.id}")
            score_source(source, scorer, seconds, every, run, Path(scratch), progress)
    scorer.flush()  # the last blockdetect scores
    version = ffmpeg_version()
    return {
        "corpus": str(corpus), "models": str(models), "seconds": seconds, "every": every,
        "max_size": list(scorer.max_size), "thresholds": scorer.thresholds,
        "cell_threshold": scorer.model.cell_threshold,
        "ffmpeg": version,
        "codecs": {c.key: c.label for c in CODECS},
        "damage": {d.name: d.describe() for d in DAMAGE},
        "sources": [s.id for s in sources],
        **summarise(run, scorer.thresholds),
        "wall_s": time.perf_counter() - began,
    }


# -- printing -----------------------------------------------------------------------------------


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f} %"


def _method_cell(metrics: dict[str, Any]) -> str:
    """recall / precision / F1; precision and F1 '-' when the method flagged nothing."""
    if not metrics["flagged"]:
        return f"{_pct(metrics['recall'])} / - / -"
    return f"{_pct(metrics['recall'])} / {metrics['precision']:.2f} / {metrics['f1']:.3f}"


def print_tables(result: dict[str, Any]) -> None:
    thresholds = ", ".join(f"{METHOD_LABELS[m]} {v:.4g}" for m, v in result["thresholds"].items())
    print(f"{len(result['sources'])} test-split sources, first {result['seconds']:g} s of each, "
          f"one frame in {result['every']} scored; models {result['models']} (analysis "
          f"{result['max_size'][0]} x {result['max_size'][1]}; thresholds: {thresholds}, "
          f"map cells from {result['cell_threshold']:g}); "
          f"FFmpeg {result['ffmpeg']}; {result['wall_s']:.0f} s wall")
    labels = {**result["codecs"], "all": "all codecs"}
    damage = {**result["damage"], "all": "both strengths"}
    print()
    print("Damaged decodes. Frames: lost / unmatched / all frames of the clean decodes; scored "
          "frames by truth; reused: scored frames bit-identical to the clean decode. Cells: "
          "recall / precision / F1 ('-': nothing to find, or nothing flagged).")
    print()
    methods = " | ".join(METHOD_LABELS[m] for m in METHODS)
    print(f"| codec | damage | lost / unmatched / all | scored | positive | ignored | reused "
          f"| {methods} |")
    print("| --- | --- | --- | --- | --- | --- | --- |" + " --- |" * len(METHODS))
    for row in result["rows"]:
        cells = " | ".join(_method_cell(row[m]) for m in METHODS)
        print(f"| {labels[row['codec']]} | {row['damage']} ({damage[row['damage']]}) "
              f"| {row['lost']} / {row['unmatched']} / {row['frames']} | {row['scored']} "
              f"| {row['positive']} | {row['ignored']} | {row['reused']} | {cells} |")
    print()
    print("Clean decodes (legitimate compression, every frame a negative): false-positive "
          "rate.")
    print()
    print("| codec | decode | kb/s (mean) | frames | " + " | ".join(
        f"FP {METHOD_LABELS[m]}" for m in METHODS) + " |")
    print("| --- | --- | --- | --- |" + " --- |" * len(METHODS))
    for row in result["clean"]:
        for variant in (CLEAN, LOW):
            rate = f"{row['kbps'][variant]:.0f}" if "kbps" in row else ""
            cells = " | ".join(_pct(row[m]["false_positive_rate"].get(variant))
                               for m in METHODS)
            print(f"| {labels[row['codec']]} | {variant} | {rate} "
                  f"| {row['negatives'].get(variant, 0)} | {cells} |")
    everything = result["everything"]
    print()
    print(f"Everything together ({everything['scored']} frames scored, "
          f"{everything['positive']} positive; precision and F1 count the clean decodes' false "
          "positives too):")
    print()
    print("| method | threshold | recall / precision / F1 |")
    print("| --- | --- | --- |")
    for m in METHODS:
        print(f"| {METHOD_LABELS[m]} | {result['thresholds'][m]:.4g} "
              f"| {_method_cell(everything[m])} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=os.environ.get("HARNESS_CORPUS"),
                        help="corpus directory (default: $HARNESS_CORPUS)")
    parser.add_argument("--models", type=Path, default=Path(__file__).resolve().parents[1]
                        / "models", help="models directory with block_corruption.onnx and "
                        "manifest.json (default: the shipped models/)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="the first N seconds of each source")
    parser.add_argument("--every", type=int, default=8, help="score one frame in N")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    if not args.corpus:
        parser.error("no corpus: pass --corpus DIR or set HARNESS_CORPUS "
                     "(build one with `harness corpus build --out DIR`)")
    if args.seconds <= 0 or args.every < 1:
        parser.error("--seconds must be > 0 and --every >= 1")
    result = measure_all(Path(args.corpus), args.models, args.seconds, args.every,
                         lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(result))
    else:
        print_tables(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
