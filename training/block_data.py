"""Labelled pictures for the block-corruption model, rendered from the corpus by the simulator.

A *clip* is a short cut of a pristine source with one impairment scripted into it: real bitstream
damage (H.264 over MPEG-TS with lost or corrupted packets, FFmpeg concealment), pixel-domain
block damage, a look-alike that must stay clean (film grain, legitimate low-bitrate compression)
or nothing. Every frame of the clip goes through the impairment at the source's own resolution,
as on a device, and then to the analysis picture the detector sees
(``harness.detectors.video.corruption_map``).

Ground truth is the *visible* damage (``visible_damage``): analysis pixels whose colour is off
the clean picture by more than ``VISIBLE_TOLERANCE`` code values, there and at every place up to
``DISPLACEMENT_TOLERANCE`` pixels around. The simulator's own masks (``DIFF_TOLERANCE`` 8 at
source resolution) mark every wrong pixel, and on bitstream damage that includes concealment drift
nobody can see (a frame can read 40-70 % "corrupted" with a few % visibly broken), which would
teach the model to flag clean-looking texture. The neighbourhood forgives the other invisible
case: concealment that copies the right content a pixel off (a motion vector guessed a little
wrong, interpolation drift in the frames that follow) leaves a picture intact to the eye that
differs from the undamaged decode by far more than 24 code values wherever there is texture --
on validation clips 80 % of the bitstream frames the colour rule alone called positive were only
that (``benchmarks/block_corruption_truth.py``). The clean picture of bitstream damage is the
undamaged decode of the same stream, so compression itself is never labelled. The frame's
corrupted-area ratio is the visible mask's mean; each map cell's target is the share of its
32 x 32 pixels that are visibly corrupted.

Clips are drawn from one split of the corpus (split by source), reproducibly from a seed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from harness.corpus import TRAINING_ONLY_GROUPS
from harness.detectors.video.corruption_map import STRIDE, analysis_picture
from harness.impairments.base import changed
from harness.impairments.datasets import Source, pristine_sources, video_frames
from harness.impairments.registry import create

#: Code values (any of B, G, R, at analysis resolution) a pixel must be off to be visibly
#: corrupted: above the 8-10 that concealment drift and a stale static background reach.
VISIBLE_TOLERANCE = 24
#: Analysis pixels by which the right content may be displaced and still count as undamaged.
DISPLACEMENT_TOLERANCE = 1
#: Names the truth rule, so stored training pictures labelled by another rule are not reused.
TRUTH = f"visible-{VISIBLE_TOLERANCE}-displaced-{DISPLACEMENT_TOLERANCE}"
#: Frame-level truth, as the issue scores it: positive above this ratio, ignored in (0, this].
POSITIVE_AREA = 0.07
CLIP_SECONDS = 1.6
#: Pixel-domain damage the model learns from: every form of ``PixelBlockCorruption`` but smeared
#: blocks, which made a worse network (models/block_corruption.md, 2026-12-08). Named in each
#: clip's settings, so stored clips rendered with other forms are not reused.
PIXEL_FORMS = ("displaced", "solid", "stale", "stripe")

#: Clip kinds and their shares of a split's clips: positives first, then look-alikes.
MIX: dict[str, float] = {
    "block_corruption_bitstream": 0.42,
    "block_corruption_pixel": 0.30,
    "film_grain": 0.08,
    "low_bitrate": 0.10,
    "clean": 0.10,
}

#: Corpus tags -> the negative kind a clean frame of that source is scored under, first match.
CONTENT_KINDS = (
    ("crowd", "crowd"),
    ("fast_motion", "fast_motion"),
    ("ui", "graphics"),
    ("test_card", "graphics"),
    ("photo_pan", "photo_camera_move"),
    ("photo_zoom", "photo_camera_move"),
    ("animation", "animation"),
    ("generated", "generated"),
)
#: Generated sources (the simulated device's content: textured backgrounds with flat shapes,
#: which look like solid corrupted blocks) added to each split of a corpus.
GENERATED_SOURCES = 3


@dataclass(frozen=True)
class ClipSpec:
    """One clip to render: what, where, which impairment, and its seed."""

    source: Source
    offset: float
    impairment: str  #: an impairment name from ``MIX``, or "clean"
    at: float
    duration: float
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def negative_kind(self) -> str:
        """The kind a clean frame of this clip counts as (look-alike or content type)."""
        if self.impairment in ("film_grain", "low_bitrate"):
            return self.impairment
        tags = set(self.source.tags)
        return next((kind for tag, kind in CONTENT_KINDS if tag in tags), "other")

    def describe(self) -> dict[str, Any]:
        return {"source": self.source.id, "split": self.source.split, "offset": self.offset,
                "impairment": self.impairment, "at": self.at, "duration": self.duration,
                "seed": self.seed, "params": self.params}


@dataclass(frozen=True)
class RenderedFrame:
    """One frame of a clip: the native picture shown, its analysis picture and visible truth."""

    index: int
    shown: np.ndarray  #: what the device shows, source resolution (BGR)
    picture: np.ndarray  #: ``shown`` at analysis size
    mask: np.ndarray  #: visibly corrupted analysis pixels (bool)
    #: the analysis picture ``mask`` is measured against (``picture`` itself where the frame is
    #: clean by definition: untouched, or a look-alike)
    reference: np.ndarray

    @property
    def area_ratio(self) -> float:
        return float(self.mask.mean())


def _params(impairment: str, rng: np.random.Generator) -> dict[str, Any]:
    """Randomised settings, so the model sees the range of each defect, not its defaults."""
    if impairment == "block_corruption_bitstream":
        return {"kind": str(rng.choice(["loss", "errors"])),
                "rate": float(rng.uniform(0.005, 0.08)), "burst": float(rng.uniform(1, 12)),
                "slices": int(rng.choice([1, 2, 4, 8])), "gop": int(rng.choice([25, 50, 100])),
                "crf": float(rng.uniform(16, 30))}
    if impairment == "block_corruption_pixel":
        low = float(rng.uniform(0.02, 0.15))
        return {"mb_size": int(rng.choice([8, 16, 32])),
                "area": (low, min(0.9, low + float(rng.uniform(0.05, 0.4)))),
                "growth": float(rng.uniform(0.0, 0.15)),
                "forms": list(PIXEL_FORMS)}
    if impairment == "film_grain":
        return {"strength": float(rng.uniform(3, 14)), "size": float(rng.uniform(1, 2.5))}
    if impairment == "low_bitrate":
        if rng.random() < 0.5:
            return {"codec": "jpeg", "quality": int(rng.integers(5, 26))}
        return {"codec": "h264", "crf": int(rng.integers(36, 49))}
    return {}


def clip_specs(corpus: Path | None, split: str, count: int, seed: int, *,
               extra_content: bool = False) -> list[ClipSpec]:
    """``count`` clips of ``split``: kinds in ``MIX`` proportions (exactly, by largest
    remainder, so even a tiny set has positives), in seeded order; sources round-robin.
    ``extra_content`` adds the corpus's training-only sources (``TRAINING_ONLY_GROUPS``)."""
    sources = _sources(corpus, split, extra_content)
    rng = np.random.default_rng([seed, zlib_crc(split)])
    quotas = np.array(list(MIX.values())) * count
    counts = np.floor(quotas).astype(int)
    counts[np.argsort(counts - quotas)[: count - counts.sum()]] += 1
    kinds = rng.permutation(np.repeat(list(MIX), counts))
    specs = []
    for number, impairment in enumerate(kinds.tolist()):
        source = sources[number % len(sources)]
        duration = float(rng.uniform(0.4, 1.0))
        specs.append(ClipSpec(
            source=source,
            offset=float(rng.uniform(0, max(0.0, source.duration - CLIP_SECONDS))),
            impairment=impairment,
            at=float(rng.uniform(0.2, CLIP_SECONDS - duration - 0.1)),
            duration=duration,
            seed=int(rng.integers(2**31)),
            params=_params(impairment, rng),
        ))
    return specs


def whole_source_specs(
    corpus: Path | None, split: str, impairment: str, seed: int
) -> list[ClipSpec]:
    """Every source of ``split`` from start to end under ``impairment`` ("clean" or a
    look-alike): the negatives of the evaluation, every frame of every held-out corpus source
    (without a corpus: of every generated one)."""
    rng = np.random.default_rng([seed, zlib_crc(split + impairment)])
    return [
        ClipSpec(source, 0.0, impairment, 0.0, source.duration + 1.0, int(rng.integers(2**31)),
                 _params(impairment, rng))
        for source in pristine_sources(corpus, "video", split, CLIP_SECONDS)
    ]


def _sources(corpus: Path | None, split: str, extra_content: bool = False) -> list[Source]:
    """The video sources of ``split``: the corpus's (its training-only groups only with
    ``extra_content``) plus a few generated ones, so the model learns the simulated device's
    content is clean (only generated ones without a corpus)."""
    generated = pristine_sources(None, "video", split, CLIP_SECONDS)
    if corpus is None:
        return generated
    corpus_sources = [source for source in pristine_sources(corpus, "video", split, CLIP_SECONDS)
                      if extra_content or source.group not in TRAINING_ONLY_GROUPS]
    return corpus_sources + generated[:GENERATED_SOURCES]


def zlib_crc(text: str) -> int:
    """A stable number from a string (``hash()`` changes between runs)."""
    return zlib.crc32(text.encode())


def render(spec: ClipSpec, max_size: tuple[int, int], seconds: float | None = CLIP_SECONDS
           ) -> Iterator[RenderedFrame]:
    """The frames of one clip, impaired and labelled (``seconds`` None: to the source's end)."""
    impairment = None
    if spec.impairment != "clean":
        impairment = create(spec.impairment, spec.at, spec.duration, seed=spec.seed, **spec.params)
    length = spec.source.duration if seconds is None else seconds
    frames = video_frames(spec.source, spec.offset, length)
    for index, frame in enumerate(frames):
        clean = frame.bgr
        time = frame.time - spec.offset
        shown = clean if impairment is None else impairment.apply(index, time, clean).image
        # Bitstream damage is judged against the undamaged decode of the same stream.
        reference = getattr(impairment, "reference", None)
        if reference is None or reference.shape != clean.shape:
            reference = clean
        picture = analysis_picture(shown, max_size)
        if shown is clean or impairment.defect == "clean":  # look-alikes are clean by definition
            reference_picture, mask = picture, np.zeros(picture.shape[:2], bool)
        else:
            reference_picture = analysis_picture(reference, max_size)
            mask = visible_damage(reference_picture, picture)
        yield RenderedFrame(index, shown, picture, mask, reference_picture)


def visible_damage(reference: np.ndarray, shown: np.ndarray,
                   displacement: int = DISPLACEMENT_TOLERANCE) -> np.ndarray:
    """Pixels of ``shown`` visibly corrupted against ``reference`` (same-size BGR pictures, H x W
    bool): off by more than ``VISIBLE_TOLERANCE`` in some channel from the reference pixel at the
    same place and from every reference pixel up to ``displacement`` pixels away (one shift for
    all channels), so content that is right but displaced that little is not damage."""
    mask = changed(reference, shown, VISIBLE_TOLERANCE)
    if displacement == 0 or not mask.any():
        return mask
    height, width = reference.shape[:2]
    padded = cv2.copyMakeBorder(reference, *[displacement] * 4, cv2.BORDER_REPLICATE)
    for dy in range(2 * displacement + 1):
        for dx in range(2 * displacement + 1):
            if mask.any() and (dy, dx) != (displacement, displacement):
                mask &= changed(padded[dy : dy + height, dx : dx + width], shown,
                                VISIBLE_TOLERANCE)
    return mask


def cell_targets(mask: np.ndarray) -> np.ndarray:
    """Share of each ``STRIDE`` x ``STRIDE`` cell that is visibly corrupted (float32 map)."""
    rows, cols = mask.shape[0] // STRIDE, mask.shape[1] // STRIDE
    cells = mask[: rows * STRIDE, : cols * STRIDE].astype(np.float32)
    return cv2.resize(cells, (cols, rows), interpolation=cv2.INTER_AREA)


def write_training_clip(spec: ClipSpec, out: Path, name: str, max_size: tuple[int, int],
                        keep_every: int) -> dict[str, Any]:
    """Render one clip and store every ``keep_every``-th frame (seeded phase) for training:
    ``NAME.pictures.npy`` (N x H x W x 3 uint8) and ``NAME.targets.npy`` (N x H/32 x W/32
    float16). Returns the clip's index row."""
    phase = spec.seed % keep_every
    kept = [f for f in render(spec, max_size) if f.index % keep_every == phase]
    pictures = np.stack([f.picture for f in kept])
    targets = np.stack([cell_targets(f.mask) for f in kept]).astype(np.float16)
    np.save(out / f"{name}.pictures.npy", pictures)
    np.save(out / f"{name}.targets.npy", targets)
    return {"name": name, **spec.describe(), "frames": [f.index for f in kept],
            "area_ratio": [round(f.area_ratio, 5) for f in kept]}


@dataclass
class TrainingSet:
    """The stored training pictures, memory-mapped, with their cell targets and frame truth."""

    pictures: list[np.ndarray]  #: per stored frame, H x W x 3 uint8 (memory-mapped)
    targets: list[np.ndarray]  #: per stored frame, H/32 x W/32 float (share corrupted)
    area_ratio: np.ndarray  #: per stored frame

    @classmethod
    def load(cls, directory: Path) -> TrainingSet:
        pictures, targets, ratios = [], [], []
        for row in map(json.loads, (directory / "index.jsonl").read_text().splitlines()):
            clip_pictures = np.load(directory / f"{row['name']}.pictures.npy", mmap_mode="r")
            clip_targets = np.load(directory / f"{row['name']}.targets.npy")
            pictures.extend(clip_pictures)
            targets.extend(clip_targets.astype(np.float32))
            ratios.extend(row["area_ratio"])
        return cls(pictures, targets, np.asarray(ratios, np.float32))


def index_rows(rows: list[dict[str, Any]], directory: Path) -> None:
    (directory / "index.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
