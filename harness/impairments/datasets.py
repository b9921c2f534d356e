"""Write labelled datasets of simulated defects: `harness simulate`.

Each sample is a short clip cut from a pristine source, with one impairment placed at a random
window inside it, written losslessly (video: FFV1 in Matroska, bit-exact BGR; audio: 32-bit float
WAV) so the ground truth stays exact, plus one JSONL row of labels. Samples are split by
*source*: the corpus manifest decides each source's split, and a sample inherits it, so train,
val and test never share a source clip. Everything is derived from ``seed``: the same call
writes the same files.

Without a corpus, the simulated device's generated content is the source (one source per
generated seed, split by a hash of its id), which keeps tests and quick experiments offline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile

from harness.capture.recording import RecordingSource
from harness.errors import HarnessError
from harness.impairments.base import AudioImpairment, VideoImpairment
from harness.impairments.registry import create, impairment_class
from harness.media import VideoFrame
from harness.simulation.content import GeneratedPicture, GeneratedSound

LABELS_FILE = "labels.jsonl"
_AUDIO_BLOCK = 4800  #: samples per block fed to an audio impairment (100 ms at 48 kHz)
_GENERATED_SIZE = (640, 360, 30.0)
_SPLIT_SHARES = (("train", 0.7), ("val", 0.15), ("test", 0.15))


class DatasetError(HarnessError, ValueError):
    """A dataset cannot be written as asked (unknown impairment, empty corpus split, ...)."""


@dataclass(frozen=True)
class Source:
    """A pristine clip to cut samples from."""

    id: str
    split: str
    path: Path | None  #: None: generated content, seeded by ``generated_seed``
    duration: float
    generated_seed: int = 0
    tags: tuple[str, ...] = ()  #: the corpus item's content tags (crowd, photo_pan, ui, ...)
    group: str = ""  #: the corpus source's split group (footage, photo, extra_photo, ...)


def write_dataset(
    impairment: str,
    count: int,
    out: Path,
    *,
    seed: int = 0,
    corpus: Path | None = None,
    split: str | None = None,
    clip_seconds: float = 3.0,
    window_seconds: tuple[float, float] = (0.5, 1.5),
    params: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``count`` samples of ``impairment`` into ``out``; returns the labels file.

    ``split`` restricts sources to one split; ``window_seconds`` bounds the impairment's
    duration; ``params`` are passed to every impairment (defaults otherwise).
    """
    cls = impairment_class(impairment)
    is_video = issubclass(cls, VideoImpairment)
    sources = pristine_sources(corpus, "video" if is_video else "audio", split, clip_seconds)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels_path = out / LABELS_FILE
    with labels_path.open("w") as labels:
        for number in range(count):
            source = sources[int(rng.integers(len(sources)))]
            offset = float(rng.uniform(0, max(0.0, source.duration - clip_seconds)))
            duration = float(rng.uniform(*window_seconds))
            at = float(rng.uniform(0.1, max(0.1, clip_seconds - duration - 0.1)))
            sample_seed = int(rng.integers(2**31))
            instance = create(impairment, at, duration, seed=sample_seed, **(params or {}))
            name = f"{impairment}-{number:05d}"
            writer = _write_video if is_video else _write_audio
            row = writer(instance, source, offset, clip_seconds, out, name)
            row.update(
                id=name,
                impairment=impairment,
                split=source.split,
                source=source.id,
                source_offset=offset,
                seed=sample_seed,
            )
            labels.write(json.dumps(row) + "\n")
            if progress is not None:
                progress(number + 1, count)
    return labels_path


def _write_video(
    impairment: VideoImpairment, source: Source, offset: float, seconds: float, out: Path, name: str
) -> dict:
    frames = list(video_frames(source, offset, seconds))
    if not frames:
        raise DatasetError(f"source {source.id} gave no frames at {offset:.2f} s")
    fps = 1 / float(frames[1].time - frames[0].time) if len(frames) > 1 else 30.0
    images, masks = [], []
    for index, frame in enumerate(frames):
        result = impairment.apply(index, index / fps, frame.bgr)
        images.append(result.image)
        masks.append(result.mask)
    clip = Path("clips") / f"{name}.mkv"
    _write_lossless_video(out / clip, images, fps)
    mask_path = None
    if any(mask is not None for mask in masks):
        mask_path = Path("masks") / f"{name}.npz"
        _write_masks(out / mask_path, masks, images[0].shape[:2])
    label = impairment.label()
    mask = None if mask_path is None else str(mask_path)
    return {**label.to_dict(), "media": str(clip), "mask": mask, "fps": round(fps, 3)}


def _write_audio(
    impairment: AudioImpairment, source: Source, offset: float, seconds: float, out: Path, name: str
) -> dict:
    clean = _audio_samples(source, offset, seconds)
    rate = 48_000
    impaired = np.concatenate(
        [
            impairment.apply(start, clean[start : start + _AUDIO_BLOCK], rate)
            for start in range(0, len(clean), _AUDIO_BLOCK)
        ]
    )
    clip = Path("clips") / f"{name}.wav"
    (out / clip).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(out / clip, impaired, rate, subtype="FLOAT")
    return {**impairment.label().to_dict(), "media": str(clip), "mask": None, "sample_rate": rate}


def _write_lossless_video(path: Path, images: list[np.ndarray], fps: float) -> None:
    """FFV1 in Matroska with BGR planes: decodes back bit-exact, so masks stay true."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "bgr0"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())


def _write_masks(path: Path, masks: list[np.ndarray | None], shape: tuple[int, ...]) -> None:
    """Bit-packed per-frame masks (frames x H x W bool); a frame without a mask is all False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = np.stack([np.zeros(shape, bool) if m is None else m for m in masks])
    np.savez_compressed(path, packed=np.packbits(stack, axis=-1), shape=np.array(stack.shape))


def load_masks(path: Path) -> np.ndarray:
    """The masks written by ``harness simulate`` for one clip (frames x H x W bool)."""
    data = np.load(path)
    shape = tuple(int(n) for n in data["shape"])
    return np.unpackbits(data["packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)


def video_frames(source: Source, offset: float, seconds: float) -> Iterator[VideoFrame]:
    """The frames of ``source`` in ``[offset, offset + seconds)``, as decoded (BGR), with
    their times in the source (so the first is at about ``offset``)."""
    if source.path is None:
        width, height, fps = _GENERATED_SIZE
        picture = GeneratedPicture(width, height, fps, source.generated_seed)
        first = round(offset * fps)
        for index in range(first, first + round(seconds * fps)):
            yield VideoFrame.from_bgr(picture.frame(index), index, Fraction(1, int(fps)))
        return
    with RecordingSource(source.path, with_audio=False) as recording:
        for item in recording.items():
            if item.time >= offset + seconds:
                return
            if item.time >= offset:
                yield item


def _audio_samples(source: Source, offset: float, seconds: float) -> np.ndarray:
    """``seconds`` of 48 kHz stereo from ``offset`` (corpus audio is 48 kHz FLAC: read by seek)."""
    rate = 48_000
    first, count = round(offset * rate), round(seconds * rate)
    if source.path is None:
        return GeneratedSound.at_loudness(rate, 2, source.generated_seed, -23.0).samples(
            first, count
        )
    samples, file_rate = soundfile.read(
        source.path, start=first, frames=count, dtype="float32", always_2d=True
    )
    if file_rate != rate:
        raise DatasetError(f"{source.path}: {file_rate} Hz; corpus audio is 48 kHz, rebuild it")
    return np.repeat(samples, 2, axis=1) if samples.shape[1] == 1 else samples[:, :2]


def pristine_sources(
    corpus: Path | None, kind: str, split: str | None, clip_seconds: float
) -> list[Source]:
    """The ``kind`` ("video" or "audio") sources of ``split`` (None: all) at least
    ``clip_seconds`` long: the corpus's, or generated content when ``corpus`` is None."""
    if corpus is None:
        generated = [
            Source(f"generated-{n}", _hash_split(f"generated-{n}"), None, 60.0, n, ("generated",))
            for n in range(20)
        ]
        chosen = [s for s in generated if split is None or s.split == split]
    else:
        from harness.corpus import Manifest

        manifest = Manifest.load(corpus / "manifest.json")
        chosen = [
            Source(
                item.id, item.split, corpus / item.path, item.duration or 0.0, tags=item.tags,
                group=item.group,
            )
            for item in manifest.select(split=split, kind=kind)
            if (item.duration or 0.0) >= clip_seconds
        ]
    if not chosen:
        where = "generated content" if corpus is None else f"the corpus at {corpus}"
        raise DatasetError(
            f"no {kind} source of at least {clip_seconds:g} s in split "
            f"{split or 'any'} of {where}; build the corpus (harness corpus build)"
        )
    return chosen


def _hash_split(source_id: str) -> str:
    """Split of a generated source, stable across runs (same rule shape as the corpus's)."""
    point = int.from_bytes(hashlib.sha256(source_id.encode()).digest()[:8], "big") / 2**64
    cumulative = 0.0
    for name, share in _SPLIT_SHARES:
        cumulative += share
        if point < cumulative:
            return name
    return _SPLIT_SHARES[-1][0]
