"""Building the corpus: one maker per recipe type, and ``build_corpus`` over the source table.

Every item is written atomically, fingerprinted by its recipe, probed and listed in
``manifest.json``; a second build reuses the package cache and every item already built with the
same recipe, so it is cheap to re-run after an interruption or with ``only=``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.corpus.clips import (
    MAX_ZOOM,
    PEAK_CEILING,
    SAMPLE_RATE,
    X264,
    _colour_args,
    _ui_credits,
    _ui_menu,
    _unit_floats,
    camera_moves,
    decode_audio,
    encode_frames,
    ken_burns,
    probe,
    write_audio,
)
from harness.corpus.manifest import (
    BENCHMARK_SPLIT,
    DEFAULT_SEED,
    MANIFEST_NAME,
    SPLITS,
    CorpusError,
    CorpusItem,
    Manifest,
    assign_splits,
    select_sources,
)
from harness.corpus.packages import (
    FetchedPackage,
    PackageCache,
    PackageUnavailable,
    Progress,
    _require,
    _run,
    default_cache_dir,
    licence_short_name,
)
from harness.corpus.sources import (
    PACKAGES,
    SOURCES,
    Espeak,
    Lavfi,
    Music,
    PhotoMoves,
    Source,
    SpeechLines,
    SyntheticUI,
    Transcode,
)

log = logging.getLogger("harness.corpus")

#: Bump when the way items are made changes, so a rebuild replaces items made the old way.
RECIPE_VERSION = 1


@contextmanager
def _atomic(dest: Path) -> Iterator[Path]:
    """A temporary path next to ``dest`` (same suffix, so tools infer the format), renamed to
    ``dest`` only when the block succeeds: a killed build never leaves a truncated item."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.partial{dest.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _fade(samples: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    """Short fade in and out, so a cut through a waveform is not a click."""
    n = min(len(samples) // 2, round(seconds * SAMPLE_RATE))
    if n:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


# -- makers: one per recipe type -----------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """An item a maker wrote; the builder adds what is common (split, licence, probe)."""

    id: str
    kind: str
    path: Path
    tags: tuple[str, ...]
    licence_note: str | None = None


@dataclass
class _Job:
    """What a maker gets: the source, its extracted package (if any), where to write, a voice."""

    source: Source
    package: FetchedPackage | None
    out_dir: Path
    say: Progress
    drafts: list[_Draft] = field(default_factory=list)

    def input(self, relative: str, folder: bool = False) -> Path:
        """A file (or folder) of the source's package; a clear error if the layout changed."""
        assert self.package is not None, f"{self.source.id} has no package"
        path = self.package.root / relative
        if not (path.is_dir() if folder else path.is_file()):
            raise CorpusError(
                f"{self.source.id}: {relative} is not in {self.package.name} "
                f"{self.package.version} (extracted in {self.package.root}); the "
                "package layout changed: fix harness/corpus/sources.py"
            )
        return path

    @contextmanager
    def output(
        self,
        item_id: str,
        kind: str,
        suffix: str,
        tags: Iterable[str] | None = None,
        licence_note: str | None = None,
    ) -> Iterator[Path]:
        """A temporary path to write an item to; the item counts once the block succeeds.
        ``tags`` default to the source's."""
        dest = self.out_dir / kind / f"{item_id}{suffix}"
        with _atomic(dest) as tmp:
            yield tmp
        chosen = self.source.tags if tags is None else tuple(tags)
        self.drafts.append(_Draft(item_id, kind, dest, chosen, licence_note))


def _make_transcode(job: _Job, recipe: Transcode) -> None:
    src = job.input(recipe.path)
    sid = job.source.id
    audio: Path | None = None
    if recipe.audio_tags:
        job.say(f"{sid}: soundtrack -> 48 kHz FLAC")
        with job.output(
            f"{sid}-audio", "audio", ".flac", ("soundtrack", *recipe.audio_tags)
        ) as tmp:
            write_audio(_fade(decode_audio(src, 2)), tmp)
        audio = job.drafts[-1].path
    job.say(f"{sid}: transcoding {src.name}")
    with job.output(sid, "video", ".mkv") as tmp:
        mux = (
            ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "copy"]
            if audio
            else ["-map", "0:v:0"]
        )
        crop = ["-vf", "crop={}:{}:{}:{}".format(*recipe.crop)] if recipe.crop else []
        _run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *mux, *crop, *X264,
             str(tmp)],
            f"transcoding {src}",
            "Check that ffmpeg has libx264 (apt-get install ffmpeg).",
        )


def _make_photo(job: _Job, recipe: PhotoMoves) -> None:
    import cv2

    src = job.input(recipe.path)
    sid = job.source.id
    note = _wallpaper_note(job.input(recipe.metadata)) if recipe.metadata else None
    with job.output(
        f"{sid}-still", "image", src.suffix.lower(), (*job.source.tags, "still"), note
    ) as tmp:
        shutil.copyfile(src, tmp)
    image = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if image is None:
        raise CorpusError(f"{sid}: OpenCV cannot read {src}")
    for width, height in recipe.sizes:
        for move, (start, end) in camera_moves(f"{sid}-{height}p").items():
            item_id = f"{sid}-{height}p-{move}"
            job.say(f"{sid}: {width}x{height} {move} clip")
            try:
                frames = ken_burns(image, (width, height), recipe.seconds, recipe.fps, start, end)
                tags = (*job.source.tags, f"photo_{move}", "camera_move")
                with job.output(item_id, "video", ".mkv", tags, note) as tmp:
                    encode_frames(frames, (width, height), recipe.fps, tmp)
            except ValueError as exc:
                raise CorpusError(
                    f"{item_id}: {exc}; give this photo smaller sizes in harness/corpus/sources.py"
                ) from exc


def _wallpaper_note(metadata: Path) -> str | None:
    """'LGPLv3, by <author>' from a KDE wallpaper's metadata.json: the per-picture licence."""
    try:
        plugin = json.loads(metadata.read_text())["KPlugin"]
        authors = ", ".join(a["Name"] for a in plugin.get("Authors", []))
        return f"{plugin['License']} (wallpaper metadata), by {authors}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _make_lavfi(job: _Job, recipe: Lavfi) -> None:
    height = int(re.search(r"size=\d+x(\d+)", recipe.graph).group(1))  # type: ignore[union-attr]
    job.say(f"{job.source.id}: ffmpeg {recipe.graph.split('=')[0]}")
    with job.output(job.source.id, "video", ".mkv") as tmp:
        _run(
            [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                recipe.graph,
                "-t",
                f"{recipe.seconds:g}",
                *_colour_args(height),
                *X264,
                str(tmp),
            ],
            f"generating {recipe.graph}",
            "Install ffmpeg with lavfi and libx264.",
        )


def _make_ui(job: _Job, recipe: SyntheticUI) -> None:
    draw = _ui_menu if recipe.style == "menu" else _ui_credits
    job.say(f"{job.source.id}: drawing the {recipe.style} interface")
    with job.output(job.source.id, "video", ".mkv") as tmp:
        encode_frames(draw(recipe.size, recipe.seconds, recipe.fps), recipe.size, recipe.fps, tmp)


def _make_music(job: _Job, recipe: Music) -> None:
    src = job.input(recipe.path)
    job.say(f"{job.source.id}: {src.name} -> 48 kHz FLAC")
    with job.output(job.source.id, "audio", ".flac") as tmp:
        write_audio(_fade(decode_audio(src, 2, recipe.max_seconds), 0.05), tmp)


def _make_speech(job: _Job, recipe: SpeechLines) -> None:
    """Join a level's lines in file order with pauses of 0.25-1.0 s between them (the pauses
    of natural dialogue, which a dropout detector must not flag), up to ``max_seconds``."""
    folder = job.input(recipe.folder, folder=True)
    lines = sorted(folder.glob("*.ogg"))
    if not lines:
        raise CorpusError(
            f"{job.source.id}: no .ogg lines in {folder}; the package layout "
            "changed: fix harness/corpus/sources.py"
        )
    job.say(f"{job.source.id}: joining up to {len(lines)} lines")
    parts: list[np.ndarray] = []
    limit = round(recipe.max_seconds * SAMPLE_RATE)
    for index, line in enumerate(lines):
        if sum(len(part) for part in parts) >= limit:
            break
        if index:
            pause = 0.25 + 0.75 * _unit_floats(f"{job.source.id}:{index}", 1)[0]
            parts.append(np.zeros((round(pause * SAMPLE_RATE), 1), np.float32))
        parts.append(_fade(decode_audio(line, 1)))
    with job.output(job.source.id, "audio", ".flac") as tmp:
        write_audio(_fade(np.concatenate(parts)[:limit]), tmp)


def _make_espeak(job: _Job, recipe: Espeak) -> None:
    job.say(f"{job.source.id}: speaking with voice {recipe.voice}")
    with job.output(job.source.id, "audio", ".flac") as tmp:
        wav = tmp.with_suffix(".wav")
        try:
            _run(
                [
                    "espeak-ng",
                    "-v",
                    recipe.voice,
                    "-s",
                    str(recipe.words_per_minute),
                    "-w",
                    str(wav),
                    recipe.text,
                ],
                f"speaking with espeak-ng voice {recipe.voice}",
                "Check the voice name (`espeak-ng --voices`); install espeak-ng-data.",
            )
            write_audio(decode_audio(wav, 1), tmp)
        finally:
            wav.unlink(missing_ok=True)


_MAKERS: dict[type, Callable[[_Job, Any], None]] = {
    Transcode: _make_transcode,
    PhotoMoves: _make_photo,
    Lavfi: _make_lavfi,
    SyntheticUI: _make_ui,
    Music: _make_music,
    SpeechLines: _make_speech,
    Espeak: _make_espeak,
}


# -- the build -----------------------------------------------------------------------------------


def _fingerprint(source: Source) -> str:
    """What an item's content depends on: the recipe, tags, notes and the encoding settings."""
    text = repr((RECIPE_VERSION, source, X264, SAMPLE_RATE, PEAK_CEILING, MAX_ZOOM))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_tools(sources: Sequence[Source], say: Progress) -> None:
    _require("ffmpeg", "apt-get install ffmpeg")
    if any(isinstance(s.recipe, Espeak) for s in sources) and shutil.which("espeak-ng") is None:
        if os.geteuid() != 0:
            raise CorpusError(
                "espeak-ng is needed for the synthetic speech and is not installed: "
                "run `sudo apt-get install espeak-ng`, or build without it "
                "(only=... without 'espeak')."
            )
        say("espeak-ng is not installed: apt-get install espeak-ng (as root)")
        _run(
            ["apt-get", "install", "-y", "--no-install-recommends", "espeak-ng"],
            "installing espeak-ng",
            "Run `apt-get update` first, or install it by hand.",
            error=PackageUnavailable,
        )


@cache
def _system_version(tool: str, flag: str = "--version") -> str:
    """The version an installed tool reports ("5.1.9-0+deb12u1" from ffmpeg's banner)."""
    result = _run([tool, flag], f"asking {tool} its version", f"Install {tool}.")
    first = (result.stdout or result.stderr).splitlines()[0]
    found = re.search(r"\d+\.\d+[\w.+~-]*", first)
    return found.group(0) if found else first.strip()


def _system_licence(package: str) -> str:
    """The licence of an installed Debian package, from /usr/share/doc/PKG/copyright."""
    path = Path("/usr/share/doc") / package / "copyright"
    name = licence_short_name(path.read_text(errors="replace")) if path.is_file() else None
    return name or f"unknown (see {path})"


def build_corpus(
    out_dir: Path,
    progress: Progress | None = None,
    only: Sequence[str] | None = None,
    *,
    seed: int = DEFAULT_SEED,
    cache_dir: Path | None = None,
    sources: Sequence[Source] = SOURCES,
) -> Manifest:
    """Build (or bring up to date) the pristine corpus in ``out_dir``; returns its manifest.

    ``only`` restricts the build to some sources (ids, groups or id prefixes, see
    ``select_sources``); items of other sources already in ``out_dir`` stay in the manifest.
    Items whose recipe is unchanged and whose file exists are not rebuilt, and packages already
    in the cache (``cache_dir``, default ``default_cache_dir()``) are not downloaded again. The
    manifest is saved after every source, so an interrupted build resumes where it stopped.
    ``sources`` replaces the table (tests use a tiny one).
    """
    say = progress or log.info
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = select_sources(sources, only)
    splits = assign_splits(sources, seed)
    groups = {s.id: s.group for s in sources}
    _check_tools(chosen, say)
    cache_root = Path(cache_dir) if cache_dir else default_cache_dir()
    packages = PackageCache(cache_root, say)
    manifest_path = out_dir / MANIFEST_NAME

    # What is already there: re-split with this seed (cheap), and forget sources no longer in
    # the table. A source with any file missing is rebuilt if chosen, dropped if not.
    by_source: dict[str, list[CorpusItem]] = {}
    if manifest_path.is_file():
        for item in Manifest.load(manifest_path).items:
            if item.source in splits:
                by_source.setdefault(item.source, []).append(
                    replace(item, split=splits[item.source], group=groups[item.source])
                )
    complete = {
        sid
        for sid, items in by_source.items()
        if all((out_dir / item.path).is_file() for item in items)
    }
    by_source = {sid: items for sid, items in by_source.items() if sid in complete}

    def save() -> Manifest:
        items = sorted(
            (item for source_items in by_source.values() for item in source_items),
            key=lambda item: item.id,
        )
        manifest = Manifest(items=items, seed=seed)
        manifest.save(manifest_path)
        return manifest

    say(f"building {len(chosen)} source(s) into {out_dir} (package cache {cache_root})")
    for number, source in enumerate(chosen, 1):
        label = f"[{number}/{len(chosen)}]"
        recipe = _fingerprint(source)
        previous = by_source.get(source.id, [])
        if previous and all(item.recipe == recipe for item in previous):
            say(f"{label} {source.id}: up to date ({len(previous)} item(s))")
            continue
        say(f"{label} {source.id}: building")
        fetched = packages.get(PACKAGES[source.package]) if source.package else None
        job = _Job(source, fetched, out_dir, lambda message, label=label: say(f"{label} {message}"))
        _MAKERS[type(source.recipe)](job, source.recipe)
        made = [_finish(draft, job, splits[source.id], recipe) for draft in job.drafts]
        for stale in {i.path for i in previous} - {i.path for i in made}:
            (out_dir / stale).unlink(missing_ok=True)  # an item the recipe no longer makes
        by_source[source.id] = made
        save()
    manifest = save()
    counts = {split: len(manifest.select(split=split)) for split in (*SPLITS, BENCHMARK_SPLIT)}
    summary = ", ".join(f"{n} {split}" for split, n in counts.items())
    say(f"corpus ready: {len(manifest.items)} items ({summary}); manifest {manifest_path}")
    return manifest


def _provenance(job: _Job) -> tuple[str, str, str]:
    """(package, version, licence) of what a source's items are made from."""
    if job.package is not None:
        return job.package.name, job.package.version, job.package.licence
    if isinstance(job.source.recipe, Espeak):
        return "espeak-ng", _system_version("espeak-ng"), _system_licence("espeak-ng-data")
    if isinstance(job.source.recipe, Lavfi):
        return "ffmpeg (lavfi)", _system_version("ffmpeg", "-version"), "none (generated)"
    return "harness", "generated", "none (generated)"


def _finish(draft: _Draft, job: _Job, split: str, recipe: str) -> CorpusItem:
    package, version, licence = _provenance(job)
    return CorpusItem(
        id=draft.id,
        source=job.source.id,
        kind=draft.kind,
        path=draft.path.relative_to(job.out_dir).as_posix(),
        split=split,
        group=job.source.group,
        source_package=package,
        package_version=version,
        licence=licence,
        licence_note=draft.licence_note or job.source.licence_note,
        tags=draft.tags,
        recipe=recipe,
        **probe(draft.path),
    )
