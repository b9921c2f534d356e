"""FFmpeg's ``blockdetect`` filter as the frame-level baseline of the block-corruption detector.

Issue 4 compares the learned detector with "FFmpeg blockdetect with its threshold tuned for best
F1 on the validation split", same frames, same run. :func:`blockdetect_scores` runs the real
``ffmpeg`` binary on in-memory frames and :func:`best_f1_threshold` tunes the threshold.

What the score means (``libavfilter/vf_blockdetect.c``, Muijs & Kirenko, EUSIPCO 2005, without
the paper's linear correction): for every pixel, the step to its right neighbour is divided by
the sum of the six steps around it (three either side, at least 1), and these normalised steps
are summed down each column. For every period ``p`` from ``period_min`` to ``period_max`` the mean
over the grid columns (those just before a multiple of ``p``, each taking the largest of itself
and its two neighbours, a one-pixel tolerance) is divided by the mean over the other columns; the
same is done along rows, and the score is the largest ratio of all. About 1 means no periodic
edge structure (noise scores 1.02, the neighbour max biases it up); a visible 8x8 grid scores
several times that.

Four properties of the filter (seen with the installed FFmpeg 5.1 and in the upstream source)
shape this wrapper:

* **Its column and row sums are never reset.** It keeps them in the first row and column of a
  buffer it allocates once, so in one stream the score of frame ``n`` is that of frames ``0..n``
  summed: one blocky frame keeps the following clean frames' scores high for seconds. Every frame
  therefore gets its own filter instance here: frames go to ffmpeg in chunks, each frame of a
  chunk through its own ``select`` + ``blockdetect`` branch, merged back by ``interleave``. A
  process per frame would do the same at 2 to 6 times the cost (ffmpeg starts in about 0.1 s).
* **"The first plane" is green on BGR input.** ``planes`` defaults to 1 (plane 0 only), meant as
  luma, but ffmpeg feeds bgr24 to the filter as planar GBR. The frames are converted to gray
  (``format=gray``, full-range BT.601 luma) first, so the score is the luma one it gives on a
  decoded YUV stream. Luma alone, as the default: coded blocks show in luma, chroma's grid is
  subsampled (8 chroma pixels are 16 luma pixels in 4:2:0) and would only dilute the average.
* **The grid is anchored at the top-left pixel.** An 8x8 grid scoring 10.5 in phase scored 4.7,
  2.8, 3.3 and 6.8 shifted by 1 to 4 pixels: a cropped or offset picture hides its blocks.
* **0/0 gives nan,** and nan wins the filter's max: a picture whose rows are all alike (black
  or any flat frame, pure vertical bars) scores nan whatever its horizontal score. It is
  returned as 0.0 (no blockiness), so sorting and thresholding stay defined. The mirror case,
  steps only on grid positions (flat blocks, simple graphics), scores +inf and is kept.

Periods keep the filter's defaults, 3 to 24: they hold the 4, 8 and 16 pixel transform and
macroblock grids and those grids scaled up by as much as 3x (8 px of 360p shown at 1080p is 24).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import IO

import numpy as np

FFMPEG = "ffmpeg"
PERIOD_MIN, PERIOD_MAX = 3, 24
#: Each blockdetect instance holds a float per pixel, so a chunk holds at most this many pixels
#: (about 130 MB of buffers, 16 frames at 1080p) and at most MAX_CHUNK frames (the ffmpeg start
#: is well amortised by then; more branches gain nothing).
CHUNK_PIXELS = 16 * 1920 * 1080
MAX_CHUNK = 32
_STDERR_TAIL = 2000
#: One frame in the report of ``metadata=mode=print``: its pts, then its score.
_ENTRY = re.compile(r"pts:(-?\d+)\s+pts_time:\S+\s+lavfi\.block=(\S+)")


class BlockdetectError(RuntimeError):
    """ffmpeg is missing, failed, or reported something other than one score per frame."""


def blockdetect_scores(frames: Iterable[np.ndarray]) -> np.ndarray:
    """FFmpeg blockdetect's score (``lavfi.block``) of each frame, in input order.

    ``frames`` are BGR uint8 pictures (H, W, 3) of one size; any iterable, consumed chunk by
    chunk so a long generator is never held in memory. Each frame is scored on its own (see the
    module docstring for why that takes some care). A frame that is not BGR uint8 or not the
    size of the first raises ValueError before it reaches ffmpeg; a missing or failing ffmpeg
    raises BlockdetectError with the end of ffmpeg's stderr.
    """
    scores = [_score_chunk(chunk) for chunk in _chunks(frames)]
    return np.concatenate(scores) if scores else np.empty(0)


def best_f1_threshold(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The threshold whose rule "flag when score > threshold" has the best F1, and that F1.

    Candidates are every distinct score (flag all frames above it) and -inf (flag all): the only
    thresholds that give different decisions, so the optimum is among them and ties -- frames
    of one score are flagged together or not at all -- are handled by construction. Among equal
    F1s the highest threshold wins, the one flagging fewest frames.
    """
    scores = np.asarray(scores, dtype=float).ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    if scores.shape != positive.shape or not scores.size:
        raise ValueError(f"need as many labels as scores, at least one: {scores.size} scores, "
                         f"{positive.size} labels")
    if np.isnan(scores).any():
        raise ValueError("scores contain nan: a nan is never flagged, so no threshold fits it")
    if not positive.any():
        raise ValueError("no positive frame: F1 is 0 at every threshold")
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], positive[order]
    group_ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    true_pos = np.append(0, np.cumsum(hits)[group_ends])
    flagged = np.append(0, group_ends + 1)
    f1 = 2 * true_pos / (flagged + positive.sum())  # 2TP / (2TP + FP + FN)
    thresholds = np.append(ranked[np.append(0, group_ends[:-1] + 1)], -np.inf)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def _chunks(frames: Iterable[np.ndarray]) -> Iterator[list[np.ndarray]]:
    """Checked frames in lists small enough for one ffmpeg run (see CHUNK_PIXELS)."""
    chunk: list[np.ndarray] = []
    shape: tuple[int, ...] | None = None
    for index, frame in enumerate(frames):
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {index}: need BGR uint8 (H, W, 3), got {frame.dtype} "
                             f"{frame.shape}")
        if shape is None:
            shape = frame.shape
            size = max(1, min(MAX_CHUNK, CHUNK_PIXELS // (shape[0] * shape[1])))
        elif frame.shape != shape:
            raise ValueError(f"frame {index} is {frame.shape}, frame 0 is {shape}: one call "
                             "takes frames of one size")
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _filtergraph(count: int) -> str:
    """Luma, split into ``count`` branches that each score one frame with a fresh blockdetect,
    merged back in pts order, the scores printed to stdout."""
    split = "".join(f"[in{i}]" for i in range(count))
    merged = "".join(f"[out{i}]" for i in range(count))
    branches = "".join(
        f"[in{i}]select='eq(n\\,{i})',"
        f"blockdetect=period_min={PERIOD_MIN}:period_max={PERIOD_MAX}:planes=1[out{i}];"
        for i in range(count))
    return (f"[0:v]format=gray,split={count}{split};{branches}"
            f"{merged}interleave=nb_inputs={count},metadata=mode=print:file='pipe\\:1'")


def _command(height: int, width: int, count: int) -> list[str]:
    return [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-video_size", f"{width}x{height}", "-i", "-",
            "-filter_complex", _filtergraph(count), "-f", "null", "-"]


def _score_chunk(chunk: list[np.ndarray]) -> np.ndarray:
    """One ffmpeg run: frames in on stdin from a thread (ffmpeg writes stdout while it reads, so
    writing everything first could deadlock), scores out on stdout, stderr kept in a file."""
    height, width = chunk[0].shape[:2]
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(_command(height, width, len(chunk)),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=stderr)
        except OSError as error:
            raise BlockdetectError(f"cannot run {FFMPEG!r} ({error}): the blockdetect "
                                   "baseline needs FFmpeg") from error
        with process:
            writer = threading.Thread(target=_feed, args=(process.stdin, chunk), daemon=True)
            writer.start()
            report = process.stdout.read().decode(errors="replace")
            process.wait()
            writer.join()
        if process.returncode != 0:
            raise BlockdetectError(f"ffmpeg blockdetect exited with {process.returncode}: "
                                   f"{_tail(stderr)}")
    return _parse(report, len(chunk))


def _feed(stdin: IO[bytes], frames: list[np.ndarray]) -> None:
    """Write the raw frames and close stdin (the end of the stream). A broken pipe means ffmpeg
    stopped early; its exit status and stderr say why, so it is not raised here."""
    with suppress(BrokenPipeError):
        try:
            for frame in frames:
                stdin.write(frame)
        finally:
            stdin.close()


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read()[-_STDERR_TAIL:].decode(errors="replace").strip() or "(no stderr)"


def _parse(report: str, count: int) -> np.ndarray:
    """The scores of a ``metadata=mode=print`` report, ordered by pts (input order), nan as 0."""
    entries = _ENTRY.findall(report)
    if len(entries) != count:
        raise BlockdetectError(f"ffmpeg reported {len(entries)} blockdetect scores for {count} "
                               f"frames: {report[-_STDERR_TAIL:]!r}")
    pts = np.array([int(stamp) for stamp, _ in entries])
    scores = np.array([float(value) for _, value in entries])[np.argsort(pts, kind="stable")]
    return np.where(np.isnan(scores), 0.0, scores)
