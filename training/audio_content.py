"""Programme audio that training segments are cut from, one pool per split.

Three kinds of source, each kept to its split so a model is never tested on a recording it was
trained on:

* the pristine corpus (``harness corpus build``): music, recorded speech, TTS and film
  soundtracks, split by source as its manifest says;
* whispered and sibilant speech made with espeak-ng, where it is installed: the hard negatives of
  hiss (noise-excited speech is broadband noise with a speech envelope). The corpus has none, so
  each split gets its own sentences and voices;
* generated content (``GeneratedSound``), split by seed: what a run without a corpus trains on,
  so the tests and ``--quick`` need no corpus; with a corpus, a little of it widens the kinds
  of music seen (pure synthetic tones, noise-burst drums).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from harness.corpus import HELD_OUT_ONLY_GROUPS, TRAINING_ONLY_GROUPS, Manifest
from harness.detectors.audio.features import SAMPLE_RATE
from harness.simulation.content import GeneratedSound

#: How often a segment is cut from each kind of content, where the pool has it.
GROUP_WEIGHTS = {
    "music": 0.35, "speech": 0.25, "footage": 0.1, "tts": 0.1, "whisper": 0.1, "sibilant": 0.1,
    "generated": 0.1,
    # other games' music (training only, ``--extra-content``): on top of Wesnoth's share, so the
    # orchestral music the held-out splits are made of keeps most of its weight
    "extra_music": 0.2,
}

#: espeak-ng sentences and voices, disjoint between splits.
_ESPEAK = {
    "train": (
        ("en", "fr", "de", "es"),
        ("She sells sea shells by the sea shore, so she says.",
         "Six slippery snails slid slowly seaward, hissing softly.",
         "Please pass the salt and the fresh cheese, Susan.",
         "The church chose a chess set with sixty-six pieces.",
         "Sunshine city, sister ship, soft shadows and sharp sounds."),
    ),
    "val": (
        ("it", "pl"),
        ("Swiss wristwatches tick steadily in the silent shop.",
         "Fresh fish sizzles as the chef slices celery stalks."),
    ),
    "test": (
        ("en-us", "cs", "nl"),
        ("Surely Sam's sister should share her shoes.",
         "The sixth sick sheik's sixth sheep is sick.",
         "Sleepy sailors sing sea shanties on the sloping ship."),
    ),
}
_GENERATED_SEEDS = {"train": range(0, 6), "val": range(6, 8), "test": range(8, 10)}
_GENERATED_SECONDS = 20
_INT16 = 32768.0


@dataclass(frozen=True)
class Track:
    """One programme recording: (frames, channels) int16 at ``SAMPLE_RATE``, lossless for the
    16-bit corpus and half the memory of float."""

    id: str
    group: str
    samples: np.ndarray

    def cut(self, channel: int, start: int, length: int) -> np.ndarray:
        return self.samples[start : start + length, channel].astype(np.float32) / _INT16


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * _INT16), -_INT16, _INT16 - 1).astype(np.int16)


class ContentPool:
    """The tracks of one split; ``draw`` cuts a random mono segment, content groups weighted by
    ``GROUP_WEIGHTS`` and tracks within a group by length (every second equally likely)."""

    def __init__(self, tracks: list[Track]) -> None:
        if not tracks:
            raise ValueError("a content pool needs at least one track")
        self.tracks = tracks
        self.groups = sorted({t.group for t in tracks})

    @cached_property
    def _group_p(self) -> np.ndarray:
        """Each group's share of ``draw`` (when first drawn: a pool that is only scanned, such
        as the held-out music, needs no weights)."""
        weights = np.array([GROUP_WEIGHTS[g] for g in self.groups])
        return weights / weights.sum()

    def draw(self, rng: np.random.Generator, length: int) -> tuple[np.ndarray, Track]:
        group = self.groups[rng.choice(len(self.groups), p=self._group_p)]
        members = [t for t in self.tracks if t.group == group and len(t.samples) >= length]
        sizes = np.array([len(t.samples) - length + 1 for t in members], dtype=np.float64)
        track = members[rng.choice(len(members), p=sizes / sizes.sum())]
        channel = int(rng.integers(track.samples.shape[1]))
        start = int(rng.integers(len(track.samples) - length + 1))
        return track.cut(channel, start, length), track

    def windows(self, length: int, hop: int) -> Iterator[tuple[Track, int, int]]:
        """(track, channel, start) of every window of every channel: a whole-programme scan."""
        for track in self.tracks:
            for channel in range(track.samples.shape[1]):
                for start in range(0, len(track.samples) - length + 1, hop):
                    yield track, channel, start


def corpus_tracks(corpus: Path, split: str, extra_content: bool = False) -> list[Track]:
    """The corpus's audio items of ``split`` (video items are skipped: their soundtracks are
    audio items of their own); those of the training-only groups only with ``extra_content``,
    so a model trained before they were added is reproduced by its own command. The
    held-out-only groups never (``heldout_tracks``)."""
    return _tracks(corpus, split, lambda group: group not in HELD_OUT_ONLY_GROUPS and (
        extra_content or group not in TRAINING_ONLY_GROUPS))


def heldout_tracks(corpus: Path, split: str) -> list[Track]:
    """The audio of the corpus's held-out-only groups in ``split``: music of kinds no model
    trained on. Its test half is the benchmarks'; its validation half may calibrate thresholds
    (``training.audio_artifacts --heldout-calibration``), never train or select a network."""
    return _tracks(corpus, split, lambda group: group in HELD_OUT_ONLY_GROUPS)


def _tracks(corpus: Path, split: str, wanted: Callable[[str], bool]) -> list[Track]:
    """The audio items of ``split`` whose group is ``wanted``, as int16 at ``SAMPLE_RATE``."""
    manifest = Manifest.load(corpus / "manifest.json")
    tracks = []
    for item in manifest.select(split=split, kind="audio"):
        if not wanted(item.group):
            continue
        samples, rate = soundfile.read(corpus / item.path, dtype="int16", always_2d=True)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{item.path}: {rate} Hz, the corpus is built at {SAMPLE_RATE} Hz")
        tracks.append(Track(item.id, item.group, samples))
    return tracks


def espeak_tracks(split: str) -> list[Track]:
    """Whispered and sibilant sentences of ``split`` (none where espeak-ng is not installed)."""
    if shutil.which("espeak-ng") is None:
        return []
    voices, sentences = _ESPEAK[split]
    tracks = []
    for voice in voices:
        for variant, group in (("+whisper", "whisper"), ("", "sibilant")):
            text = " ".join(sentences)
            wav = subprocess.run(
                ["espeak-ng", "-v", voice + variant, "--stdout", text],
                check=True, capture_output=True,
            ).stdout
            speech, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
            speech = resample_poly(speech, SAMPLE_RATE, rate)
            speech *= 10 ** (-1 / 20) / np.max(np.abs(speech))  # the corpus's -1 dBFS peak
            tracks.append(Track(f"espeak-{voice}{variant}", group, _to_int16(speech[:, None])))
    return tracks


def generated_tracks(split: str) -> list[Track]:
    """Music-like generated content (``GeneratedSound``), disjoint seeds per split."""
    return [
        Track(f"generated-{seed}", "generated", _to_int16(
            GeneratedSound(SAMPLE_RATE, 1, seed).samples(0, _GENERATED_SECONDS * SAMPLE_RATE)))
        for seed in _GENERATED_SEEDS[split]
    ]


def content_pool(split: str, corpus: Path | None, extra_content: bool = False) -> ContentPool:
    """The pool of ``split``: corpus (with its training-only groups if ``extra_content``),
    espeak-ng and generated content, or generated content alone without a corpus."""
    if corpus is None:
        return ContentPool(generated_tracks(split))
    return ContentPool(corpus_tracks(corpus, split, extra_content) + espeak_tracks(split)
                       + generated_tracks(split))
