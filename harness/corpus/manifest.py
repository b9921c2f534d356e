"""The corpus manifest (``manifest.json``) and the train/val/test split rule.

A split is drawn by *source*, stratified by group and seeded, so a model is never tested on a
picture or recording it was trained on; every item inherits its source's split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.corpus.sources import Source
from harness.errors import HarnessError

SPLITS = ("train", "val", "test")
DEFAULT_SEED = 0
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
#: Groups added after the held-out splits were fixed, wholly for training: more content for
#: the picture and audio models without changing the val/test sources every earlier model card
#: was measured on (their results stay comparable).
TRAINING_ONLY_GROUPS = frozenset({"extra_photo", "extra_graphics", "extra_music"})
#: Groups added later wholly for the held-out splits, alternating test and val: more pictures
#: to rank models on, with every model's training sources unchanged (they stay reproducible).
HELD_OUT_ONLY_GROUPS = frozenset({"heldout_stills", "heldout_music"})
#: Groups only benchmarks read, in a split of their own that no model trains, tunes or is
#: tested on: clips too few or too short for a split, kept out of every model's data.
BENCHMARK_ONLY_GROUPS = frozenset({"talking_heads"})
BENCHMARK_SPLIT = "benchmark"
SPLIT_RULE = (
    "by source: sources are grouped (footage, photo, synthetic, music, speech, tts); within a "
    "group they are ordered by sha256('<seed>:<source id>'); the first round(15%) go to test "
    "and the next round(15%) to val, each at least 1 when the group has 3 or more sources (a "
    "group of 2 gives train + test, a group of 1 train); the rest go to train. The "
    "training-only groups (extra_photo, extra_graphics, extra_music: content added after the "
    "held-out splits were fixed) go wholly to train; the held-out-only groups (heldout_stills, "
    "heldout_music) go wholly to test and val, alternately in the same order, test first; the "
    "benchmark-only groups (talking_heads) go to a split of their own, benchmark, that no model "
    "reads. The "
    "rule runs over the whole source table, so building a subset never changes a split. Every "
    "item inherits its source's split."
)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


class CorpusError(HarnessError, RuntimeError):
    """The corpus could not be built; the message names the package or command and the fix."""


# -- manifest ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusItem:
    """One file of the corpus, as ``manifest.json`` lists it.

    ``path`` is relative to the corpus directory. Video items carry width/height/fps/frames (and
    sample_rate/channels when they have a soundtrack); audio items sample_rate/channels; images
    width/height. ``recipe`` fingerprints how the item was made, so a rebuild knows what is stale.
    """

    id: str
    source: str
    kind: str
    path: str
    split: str
    group: str
    source_package: str
    package_version: str
    licence: str
    licence_note: str
    tags: tuple[str, ...]
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frames: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    recipe: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusItem:
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if k == "tags" else v for k, v in data.items() if k in known})


@dataclass
class Manifest:
    """What a corpus directory holds: its items, and the seed and rule their splits came from."""

    items: list[CorpusItem]
    seed: int = DEFAULT_SEED
    split_rule: str = SPLIT_RULE
    version: int = MANIFEST_VERSION

    def select(
        self, split: str | None = None, kind: str | None = None, tags: Iterable[str] = ()
    ) -> list[CorpusItem]:
        """Items of one split and/or kind that carry all of ``tags``."""
        wanted = set(tags)
        return [
            item
            for item in self.items
            if (split is None or item.split == split)
            and (kind is None or item.kind == kind)
            and wanted <= set(item.tags)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "seed": self.seed,
            "split_rule": self.split_rule,
            "items": [item.to_dict() for item in self.items],
        }

    def save(self, path: Path) -> None:
        """Write atomically: an interrupted build never leaves a half-written manifest."""
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text())
            return cls(
                items=[CorpusItem.from_dict(d) for d in data["items"]],
                seed=data["seed"],
                split_rule=data["split_rule"],
                version=data["version"],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorpusError(
                f"cannot read corpus manifest {path}: {exc}. Rebuild the corpus "
                "(harness corpus build --out DIR) or delete the file."
            ) from exc


# -- splits --------------------------------------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def assign_splits(sources: Iterable[Source], seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Source id -> split, by the rule in SPLIT_RULE: by source, stratified by group, seeded."""
    groups: dict[str, list[str]] = {}
    for source in sources:
        groups.setdefault(source.group, []).append(source.id)
    ids = [sid for members in groups.values() for sid in members]
    if len(ids) != len(set(ids)):
        raise ValueError("source ids must be unique: the split is by source id")
    splits: dict[str, str] = {}
    for group, members in groups.items():
        if group in TRAINING_ONLY_GROUPS | BENCHMARK_ONLY_GROUPS:
            split = "train" if group in TRAINING_ONLY_GROUPS else BENCHMARK_SPLIT
            splits.update(dict.fromkeys(members, split))
            continue
        ordered = sorted(members, key=lambda sid: _digest(f"{seed}:{sid}"))
        if group in HELD_OUT_ONLY_GROUPS:
            splits.update((sid, ("test", "val")[rank % 2]) for rank, sid in enumerate(ordered))
            continue
        n = len(ordered)
        n_test = max(1, round(n * TEST_FRACTION)) if n >= 2 else 0
        n_val = max(1, round(n * VAL_FRACTION)) if n >= 3 else 0
        for rank, sid in enumerate(ordered):
            splits[sid] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return splits


def select_sources(sources: Sequence[Source], only: Sequence[str] | None) -> list[Source]:
    """The sources ``only`` names: a source id, a group, or an id prefix ("espeak", "wesnoth")."""
    if only is None:
        return list(sources)

    def matches(source: Source, name: str) -> bool:
        return name in (source.id, source.group) or source.id.startswith(f"{name}-")

    unknown = [name for name in only if not any(matches(s, name) for s in sources)]
    if unknown:
        groups = sorted({s.group for s in sources})
        raise CorpusError(
            f"unknown corpus source(s) {', '.join(unknown)}; use a source id, a "
            f"group ({', '.join(groups)}) or an id prefix such as 'wesnoth'"
        )
    return [s for s in sources if any(matches(s, name) for name in only)]
