"""Build the pristine-content corpus that defects are simulated in, from what packages ship.

Learned detectors are trained on defects simulated in clean content, and nothing but packages can
be downloaded, so the corpus is made from media that Debian and PyPI packages carry (the table is
``harness.corpus_sources``): real footage, photos turned into camera-move clips, synthetic test
cards and TV-like interfaces, orchestral music, recorded and synthetic speech.

``build_corpus`` fetches those packages into a cache (``apt-get download`` + ``dpkg-deb -x`` and
``pip download`` + unzip: nothing is installed, no root needed), writes every item near-losslessly
(H.264 CRF 14 in Matroska, FLAC at 48 kHz), and writes ``manifest.json``: one entry per item with
its source, licence, media properties, content tags and train/val/test split. Splits are drawn by
*source* so a model is never tested on a picture or recording it was trained on.

The corpus is built on the user's machine and never committed: the licences allow use, not all
of them redistribution. A second build reuses the cache and every item already built with the
same recipe, so it is cheap to re-run after an interruption or with ``only=``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from harness.corpus_sources import (
    MAX_UPSCALE,
    PACKAGES,
    SOURCES,
    Espeak,
    Lavfi,
    Music,
    Package,
    PhotoMoves,
    Source,
    SpeechLines,
    SyntheticUI,
    Transcode,
)
from harness.errors import HarnessError

log = logging.getLogger("harness.corpus")

Progress = Callable[[str], None]

SPLITS = ("train", "val", "test")
DEFAULT_SEED = 0
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
SPLIT_RULE = (
    "by source: sources are grouped (footage, photo, synthetic, music, speech, tts); within a "
    "group they are ordered by sha256('<seed>:<source id>'); the first round(15%) go to test "
    "and the next round(15%) to val, each at least 1 when the group has 3 or more sources (a "
    "group of 2 gives train + test, a group of 1 train); the rest go to train. The rule runs over "
    "the whole source table, so building a subset never changes a split. Every item inherits "
    "its source's split."
)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
#: Bump when the way items are made changes, so a rebuild replaces items made the old way.
RECIPE_VERSION = 1
CACHE_ENV = "VQA_HARNESS_CACHE"

SAMPLE_RATE = 48_000
#: Audio is scaled down (never up) to peak at -1 dBFS: decoded Vorbis overshoots full scale, and
#: writing it as is would clip, which is a defect (audio_distortion), not pristine content.
PEAK_CEILING = 10 ** (-1 / 20)
#: Near-lossless H.264: at CRF 14 a detailed 1080p photo pan comes within 1 dB (luma PSNR) of
#: lossless; "veryfast" is as good as "medium" at this CRF and 3x faster. A keyframe every 2 s,
#: as streaming services use.
X264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "14", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*2)")


class CorpusError(HarnessError, RuntimeError):
    """The corpus could not be built; the message names the package or command and the fix."""


class PackageUnavailable(CorpusError):
    """A package could not be downloaded: no network to the mirror, no package lists, no index."""


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

    def select(self, split: str | None = None, kind: str | None = None,
               tags: Iterable[str] = ()) -> list[CorpusItem]:
        """Items of one split and/or kind that carry all of ``tags``."""
        wanted = set(tags)
        return [item for item in self.items
                if (split is None or item.split == split) and (kind is None or item.kind == kind)
                and wanted <= set(item.tags)]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "seed": self.seed, "split_rule": self.split_rule,
                "items": [item.to_dict() for item in self.items]}

    def save(self, path: Path) -> None:
        """Write atomically: an interrupted build never leaves a half-written manifest."""
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text())
            return cls(items=[CorpusItem.from_dict(d) for d in data["items"]],
                       seed=data["seed"], split_rule=data["split_rule"], version=data["version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"cannot read corpus manifest {path}: {exc}. Rebuild the corpus "
                              "(harness corpus build --out DIR) or delete the file.") from exc


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
    for members in groups.values():
        ordered = sorted(members, key=lambda sid: _digest(f"{seed}:{sid}"))
        n = len(ordered)
        n_test = max(1, round(n * TEST_FRACTION)) if n >= 2 else 0
        n_val = max(1, round(n * VAL_FRACTION)) if n >= 3 else 0
        for rank, sid in enumerate(ordered):
            splits[sid] = ("test" if rank < n_test else
                           "val" if rank < n_test + n_val else "train")
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
        raise CorpusError(f"unknown corpus source(s) {', '.join(unknown)}; use a source id, a "
                          f"group ({', '.join(groups)}) or an id prefix such as 'wesnoth'")
    return [s for s in sources if any(matches(s, name) for name in only)]


# -- commands ------------------------------------------------------------------------------------


def _run(cmd: Sequence[str], what: str, fix: str, *, cwd: Path | None = None,
         error: type[CorpusError] = CorpusError) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure becomes ``error`` naming the command and the fix."""
    try:
        return subprocess.run(list(cmd), cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise error(f"{what}: `{cmd[0]}` is not installed. {fix}") from exc
    except subprocess.CalledProcessError as exc:
        raise error(f"{what}: `{' '.join(cmd)}` exited with {exc.returncode}: "
                    f"{_tail(exc.stderr or exc.stdout)} {fix}") from exc


def _tail(text: str, lines: int = 4) -> str:
    kept = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def _require(tool: str, fix: str) -> None:
    if shutil.which(tool) is None:
        raise CorpusError(f"`{tool}` is needed to build the corpus and is not installed: {fix}")


@cache
def _ffmpeg_has_soxr() -> bool:
    result = _run(["ffmpeg", "-hide_banner", "-buildconf"], "checking ffmpeg",
                  "Install ffmpeg: apt-get install ffmpeg.")
    return "--enable-libsoxr" in result.stdout + result.stderr


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


# -- package cache -------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$VQA_HARNESS_CACHE, else $XDG_CACHE_HOME/vqa-harness/packages (~/.cache by default)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vqa-harness" / "packages"


@dataclass(frozen=True)
class FetchedPackage:
    """An extracted package: ``root`` is where its files are (``root / 'usr/share/...'``)."""

    name: str
    version: str
    root: Path
    licence: str


class PackageCache:
    """Fetches packages into ``root`` (apt/ and pip/) and extracts each once.

    A package file already in the cache is used as is, so an offline machine can be fed by
    copying ``PKG_*.deb`` files or wheels into ``root/apt`` or ``root/pip``.
    """

    _COMPLETE = ".complete"

    def __init__(self, root: Path, progress: Progress) -> None:
        self.root = Path(root)
        self.progress = progress
        self._fetched: dict[str, FetchedPackage] = {}

    def get(self, package: Package) -> FetchedPackage:
        if package.name not in self._fetched:
            folder = self.root / package.manager
            folder.mkdir(parents=True, exist_ok=True)
            archive = (self._deb(package.name, folder) if package.manager == "apt"
                       else self._wheel(package.name, folder))
            root = self._extract(package.name, archive, folder)
            version = unquote(archive.name.split("_" if package.manager == "apt" else "-")[1])
            self._fetched[package.name] = FetchedPackage(
                package.name, version, root, _package_licence(root, package))
        return self._fetched[package.name]

    # apt: `apt-get download` + `dpkg-deb -x`

    def _deb(self, name: str, folder: Path) -> Path:
        found = _newest(folder.glob(f"{name}_*.deb"))
        if found is not None:
            return found
        _require("apt-get", f"{name} comes from Debian/Ubuntu's apt. On another system, get "
                 f"{name}_*.deb from a Debian 12 mirror and put it in {folder}.")
        self.progress(f"downloading {name} (apt-get download)")
        staging = folder / f".download-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            if not self._apt_download(name, staging):
                if os.geteuid() != 0:
                    raise PackageUnavailable(
                        f"`apt-get download {name}`: apt does not know the package (no package "
                        "lists, or they are out of date). Run `sudo apt-get update` and build "
                        "again.")
                self.progress(f"apt does not know {name}: running apt-get update (as root)")
                _run(["apt-get", "update"], f"updating apt's package lists to find {name}",
                     "Check the network to the Debian mirror (/etc/apt/sources.list, proxy).",
                     error=PackageUnavailable)
                if not self._apt_download(name, staging):
                    raise PackageUnavailable(
                        f"`apt-get download {name}`: no such package even after apt-get update. "
                        f"It is in Debian 12 (bookworm) main; add that suite to apt's sources.")
            deb = _newest(staging.glob(f"{name}_*.deb"))
            if deb is None:
                raise PackageUnavailable(f"`apt-get download {name}` succeeded but wrote no "
                                         f"{name}_*.deb in {staging}")
            return deb.replace(folder / deb.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _apt_download(self, name: str, cwd: Path) -> bool:
        """True when downloaded; False when apt does not know the package (lists missing)."""
        try:
            subprocess.run(["apt-get", "download", name], cwd=cwd, check=True,
                           capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            if re.search(r"Unable to locate package|has no installation candidate|"
                         r"Can't select candidate", exc.stderr or ""):
                return False
            raise PackageUnavailable(
                f"`apt-get download {name}` failed (exit {exc.returncode}): {_tail(exc.stderr)} "
                f"Check the network to the Debian mirror (/etc/apt/sources.list, proxy). "
                f"Offline: run `apt-get download {name}` on a connected machine and copy the "
                f".deb into {cwd.parent}.") from exc
        return True

    # pip: `pip download --no-deps` + unzip

    def _wheel(self, name: str, folder: Path) -> Path:
        pattern = f"{name.replace('-', '_')}-*.whl"
        found = _newest(folder.glob(pattern))
        if found is not None:
            return found
        self.progress(f"downloading {name} (pip download --no-deps)")
        staging = folder / f".download-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                  "--dest", str(staging), name], f"downloading the {name} wheel",
                 f"Check pip's index and network (`pip config list`). Offline: run `pip "
                 f"download --no-deps {name}` on a connected machine and copy the wheel into "
                 f"{folder}.", error=PackageUnavailable)
            wheel = _newest(staging.glob(pattern))
            if wheel is None:
                raise PackageUnavailable(f"`pip download {name}` wrote no {pattern} in {staging}")
            return wheel.replace(folder / wheel.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _extract(self, name: str, archive: Path, folder: Path) -> Path:
        dest = folder / name
        marker = dest / self._COMPLETE
        if marker.is_file() and marker.read_text() == archive.name:
            return dest
        self.progress(f"extracting {archive.name}")
        staging = folder / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        if archive.suffix == ".deb":
            _run(["dpkg-deb", "-x", str(archive), str(staging)], f"extracting {archive.name}",
                 f"dpkg-deb (package dpkg) is needed; if the .deb is damaged, delete {archive} "
                 f"and build again.")
        else:
            try:
                with zipfile.ZipFile(archive) as wheel:
                    wheel.extractall(staging)
            except (OSError, zipfile.BadZipFile) as exc:
                raise CorpusError(f"cannot unzip {archive}: {exc}. Delete it and build again.") \
                    from exc
        (staging / self._COMPLETE).write_text(archive.name)
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
        return dest


def _newest(paths: Iterable[Path]) -> Path | None:
    existing = [p for p in paths if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None


# -- licences ------------------------------------------------------------------------------------

_GPL = re.compile(r"GNU (Lesser |Library )?General Public License,? (?:as published by the Free "
                  r"Software Foundation;? )?(?:either )?version (\d)(.{0,120})", re.IGNORECASE)


def licence_short_name(text: str) -> str | None:
    """The licence short name a copyright or metadata file states, or None when it cannot tell.

    Reads, in order: a machine-readable Debian copyright file (the ``License:`` of ``Files: *``),
    a wheel's METADATA ``License:`` line, then free-form GNU licence text (``GPL-2+``, ``LGPL-2``),
    then the BSD 3-clause wording.
    """
    dep5 = re.search(r"^Files:[ \t]*\*[ \t]*$(?:\n(?!\n).*)*?\nLicense:[ \t]*(\S.*)$", text,
                     re.MULTILINE)
    if dep5:
        return dep5.group(1).strip()
    metadata = re.search(r"^License:[ \t]*(\S.*)$", text, re.MULTILINE)
    if metadata:
        return metadata.group(1).strip()
    flat = " ".join(text.split())
    gpl = _GPL.search(flat)
    if gpl:
        family = "LGPL" if gpl.group(1) else "GPL"
        later = re.search(r"any later version|or later", gpl.group(3), re.IGNORECASE)
        return f"{family}-{gpl.group(2)}{'+' if later else ''}"
    if "Redistribution and use in source and binary forms" in flat and "endorse" in flat:
        return "BSD-3-Clause"
    return None


def _package_licence(root: Path, package: Package) -> str:
    for pattern in package.licence_files:
        for path in sorted(root.glob(pattern)):
            name = licence_short_name(path.read_text(errors="replace"))
            if name:
                return name
    return f"unknown (read {', '.join(package.licence_files)} in the package)"


def _system_licence(package: str) -> str:
    """The licence of an installed Debian package, from /usr/share/doc/PKG/copyright."""
    path = Path("/usr/share/doc") / package / "copyright"
    name = licence_short_name(path.read_text(errors="replace")) if path.is_file() else None
    return name or f"unknown (see {path})"


# -- Ken Burns clips -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Framing:
    """Where a virtual camera looks at a photo.

    ``x`` and ``y`` in [0, 1] place the crop across the room it has to move (0: left/top edge of
    the photo, 1: right/bottom edge), so every framing stays inside the picture. ``zoom`` >= 1 is
    relative to the widest crop of the clip's aspect ratio.
    """

    x: float
    y: float
    zoom: float


#: Closest zoom of the camera moves; with MAX_UPSCALE it decides which sizes a photo can make.
MAX_ZOOM = 1.25


def _unit_floats(key: str, count: int) -> list[float]:
    digest = _digest(key)
    return [int.from_bytes(digest[4 * i:4 * i + 4], "big") / 2**32 for i in range(count)]


def camera_moves(key: str) -> dict[str, tuple[Framing, Framing]]:
    """A pan and a zoom for one clip, with directions and targets drawn from ``key``.

    Deterministic from the key (not the split seed): the corpus content never depends on how it
    is split.
    """
    r = _unit_floats(key, 6)
    pan = (Framing(0.0, 0.3 + 0.4 * r[0], 1.15), Framing(1.0, 0.3 + 0.4 * r[1], 1.15))
    zoom = (Framing(0.5, 0.5, 1.0), Framing(0.2 + 0.6 * r[2], 0.2 + 0.6 * r[3], MAX_ZOOM))
    return {"pan": pan[::-1] if r[4] < 0.5 else pan, "zoom": zoom[::-1] if r[5] < 0.5 else zoom}


def _progress_curve(t: np.ndarray | float) -> np.ndarray | float:
    """Smooth travel 0 -> 1 whose speed runs 0.5x -> 1.5x -> 0.5x of the mean: no jerk, and never
    at rest, so no stretch of a clip looks frozen (a real freeze is a defect, a pan is not)."""
    return t - 0.5 * np.sin(2 * np.pi * t) / (2 * np.pi)


def ken_burns(image: np.ndarray, size: tuple[int, int], seconds: float, fps: float,
              start: Framing, end: Framing) -> Iterator[np.ndarray]:
    """BGR frames of a camera move over ``image`` from ``start`` to ``end`` framing.

    Sub-pixel exact (``warpAffine`` with a float matrix), so motion is smooth rather than stepping
    by whole pixels. The photo is first reduced with area averaging to the scale of the closest
    framing, so the remaining warp only shrinks a little and does not alias. Raises ValueError
    when the move would upscale the photo more than MAX_UPSCALE (a soft, not pristine, clip).
    """
    import cv2

    out_w, out_h = size
    height, width = image.shape[:2]
    aspect = out_w / out_h
    widest = min(width, height * aspect)
    closest = max(start.zoom, end.zoom)
    upscale = out_w * closest / widest
    if upscale > MAX_UPSCALE + 1e-9:
        raise ValueError(f"a {width}x{height} photo upscaled {upscale:.2f}x for a {out_w}x{out_h} "
                         f"clip at zoom {closest}: more than {MAX_UPSCALE}x is not pristine")
    scale = min(1.0, upscale)
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA)
    height, width = image.shape[:2]
    widest = min(width, height * aspect)
    count = max(2, round(seconds * fps))
    for index in range(count):
        p = float(_progress_curve(index / (count - 1)))
        zoom = start.zoom * (end.zoom / start.zoom) ** p
        x = start.x + (end.x - start.x) * p
        y = start.y + (end.y - start.y) * p
        crop_w = widest / zoom
        crop_h = crop_w / aspect
        left, top = x * (width - crop_w), y * (height - crop_h)
        s = crop_w / out_w
        # output pixel centre (u + 0.5) maps to photo coordinate left + (u + 0.5) * s
        matrix = np.array([[s, 0.0, left + 0.5 * s - 0.5], [0.0, s, top + 0.5 * s - 0.5]])
        yield cv2.warpAffine(image, matrix, (out_w, out_h),
                             flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT_101)


# -- synthetic TV interfaces ---------------------------------------------------------------------

_TITLES = ("The Long Road", "Night Harbour", "Paper Moons", "Blue Planet Live", "Kitchen Duel",
           "Northern Lights", "The Last Orchard", "City of Glass", "Quiet Waters", "Red Canyon",
           "Midnight Jazz", "Wild Coast", "Ice Kingdom", "Street Food", "Sky Pilots",
           "Deep Forest", "The Archive", "Summer Games")
_ROWS = ("Continue watching", "Recommended for you", "Documentaries")
_ROLES = ("Director", "Producer", "Director of Photography", "Editor", "Music", "Sound Design",
          "Production Design", "Costume Design", "Visual Effects", "Colourist", "Gaffer",
          "Key Grip", "Script Supervisor", "Casting", "Location Manager", "Camera Operator")
_SYLLABLES = ("ma", "ri", "ko", "la", "ne", "to", "sa", "vi", "den", "ber", "lin", "ka", "mo",
              "ra", "el", "an", "jo", "ste", "fa", "nu")


def _name(rng: np.random.Generator) -> str:
    def word(parts: int) -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()
    return f"{word(2)} {word(int(rng.integers(2, 4)))}"


def _ease(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def _ui_menu(size: tuple[int, int], seconds: float, fps: float) -> Iterator[np.ndarray]:
    """A streaming-app home screen: rows of poster tiles, a focus frame that steps from tile to
    tile every 1.2 s with a short eased move, the row scrolling along, a description and clock."""
    import cv2

    w, h = size
    k = w / 1920
    font = cv2.FONT_HERSHEY_SIMPLEX
    rng = np.random.default_rng(7)
    tile_w, tile_h, gap = round(320 * k), round(180 * k), round(40 * k)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    background = (np.array([38, 18, 12], np.float32) * (1 - ramp)
                  + np.array([80, 40, 24], np.float32) * ramp)
    background = np.broadcast_to(background, (h, w, 3)).astype(np.uint8)
    tiles = []
    for i in range(len(_ROWS) * 6):
        top, bottom = rng.integers(30, 230, 3), rng.integers(10, 120, 3)
        shade = np.linspace(0, 1, tile_h, dtype=np.float32)[:, None, None]
        tile = (top * (1 - shade) + bottom * shade).astype(np.uint8)
        tile = np.ascontiguousarray(np.broadcast_to(tile, (tile_h, tile_w, 3)))
        centre = (int(rng.integers(tile_w // 4, 3 * tile_w // 4)), int(tile_h * 0.4))
        colour = tuple(int(c) for c in rng.integers(120, 255, 3))
        cv2.circle(tile, centre, max(2, tile_h // 5), colour, -1, cv2.LINE_AA)
        cv2.putText(tile, _TITLES[i % len(_TITLES)], (round(12 * k), tile_h - round(18 * k)),
                    font, 0.8 * k, (255, 255, 255), max(1, round(2 * k)), cv2.LINE_AA)
        tiles.append(tile)
    path = [(0, c) for c in range(6)] + [(1, c) for c in range(5, -1, -1)] + [(2, 0), (2, 1)]
    step = 1.2
    for index in range(round(seconds * fps)):
        t = index / fps
        n = min(int(t // step), len(path) - 1)
        prev = path[max(n - 1, 0)]
        cur = path[n]
        a = _ease((t - n * step) / 0.3) if n else 1.0
        focus_row = prev[0] + (cur[0] - prev[0]) * a
        focus_col = prev[1] + (cur[1] - prev[1]) * a
        frame = background.copy()
        cv2.putText(frame, "Home", (round(80 * k), round(100 * k)), font, 1.6 * k,
                    (255, 255, 255), max(1, round(3 * k)), cv2.LINE_AA)
        clock = f"20:{15 + int(t) // 60:02d}"
        cv2.putText(frame, clock, (w - round(220 * k), round(100 * k)), font, 1.4 * k,
                    (230, 230, 230), max(1, round(2 * k)), cv2.LINE_AA)
        for row, title in enumerate(_ROWS):
            y = round((200 + row * 270) * k)
            cv2.putText(frame, title, (round(80 * k), y - round(16 * k)), font, 1.0 * k,
                        (210, 210, 210), max(1, round(2 * k)), cv2.LINE_AA)
            scroll = max(0.0, focus_col - 3) if row == round(focus_row) else 0.0
            for col in range(6):
                x = round(80 * k + (col - scroll) * (tile_w + gap))
                if x >= w or x + tile_w <= 0 or y + tile_h > h:
                    continue
                x0, x1 = max(x, 0), min(x + tile_w, w)
                frame[y:y + tile_h, x0:x1] = tiles[row * 6 + col][:, x0 - x:x1 - x]
        fx = round(80 * k + (focus_col - max(0.0, focus_col - 3)) * (tile_w + gap))
        fy = round((200 + focus_row * 270) * k)
        pad = round(8 * k)
        cv2.rectangle(frame, (fx - pad, fy - pad), (fx + tile_w + pad, fy + tile_h + pad),
                      (255, 255, 255), max(1, round(6 * k)), cv2.LINE_AA)
        title = _TITLES[(cur[0] * 6 + cur[1]) % len(_TITLES)]
        cv2.putText(frame, f"{title}  -  2024  -  1 h 32 min  -  HD", (round(80 * k),
                    h - round(60 * k)), font, 1.0 * k, (200, 200, 200), max(1, round(2 * k)),
                    cv2.LINE_AA)
        yield frame


def _ui_credits(size: tuple[int, int], seconds: float, fps: float) -> Iterator[np.ndarray]:
    """An end-credit roll already under way: white names on black scrolling up at a steady
    whole-pixel speed, as broadcast rolls do. Mostly black and slow-moving: a look-alike for
    black frames and freezes that must not be flagged."""
    import cv2

    w, h = size
    k = w / 1920
    font = cv2.FONT_HERSHEY_DUPLEX
    rng = np.random.default_rng(11)
    speed = max(1, round(3 * k))  # pixels per frame
    line_h = round(64 * k)
    count = round(seconds * fps)
    lines = (count * speed + h) // line_h + 1
    canvas = np.zeros((lines * line_h, w, 3), np.uint8)
    for i in range(lines):
        y = i * line_h + line_h // 2
        if i % 5 == 4:
            continue  # a blank line between blocks
        role, name = _ROLES[i % len(_ROLES)], _name(rng)
        thickness = max(1, round(2 * k))
        (rw, _), _ = cv2.getTextSize(role, font, 1.0 * k, thickness)
        cv2.putText(canvas, role, (w // 2 - round(30 * k) - rw, y), font, 1.0 * k,
                    (170, 170, 170), thickness, cv2.LINE_AA)
        cv2.putText(canvas, name, (w // 2 + round(30 * k), y), font, 1.0 * k,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    for index in range(count):
        top = index * speed
        yield canvas[top:top + h].copy()


# -- encoding and probing ------------------------------------------------------------------------


def _colour_args(height: int) -> list[str]:
    """RGB -> YUV with the matrix the tags say: BT.709 for HD, BT.601 (smpte170m) below 720p,
    which is also what decoders assume for untagged video of that size."""
    matrix, tag = ("bt709", "bt709") if height >= 720 else ("bt601", "smpte170m")
    return ["-vf", f"scale=in_color_matrix={matrix}:out_color_matrix={matrix}:out_range=tv,"
            "format=yuv420p", "-colorspace", tag, "-color_primaries", tag, "-color_trc", tag,
            "-color_range", "tv"]


def encode_frames(frames: Iterable[np.ndarray], size: tuple[int, int], fps: float,
                  dest: Path) -> None:
    """Encode BGR frames near-losslessly (X264) into ``dest`` (Matroska by its suffix)."""
    w, h = size
    if w % 2 or h % 2:
        raise ValueError(f"{w}x{h}: 4:2:0 video needs an even width and height")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", *_colour_args(h), *X264, str(dest)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdin is not None and process.stderr is not None
        try:
            for frame in frames:
                if frame.shape != (h, w, 3):
                    raise ValueError(f"frame of shape {frame.shape} in a {w}x{h} clip")
                process.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg died; its error is read below
        except BaseException:
            process.kill()
            raise
        error = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise CorpusError(f"encoding {dest.name}: ffmpeg exited with {process.returncode}: "
                          f"{_tail(error)} Check that ffmpeg has libx264 (apt-get install ffmpeg).")


def decode_audio(path: Path, channels: int, max_seconds: float | None = None) -> np.ndarray:
    """Any audio FFmpeg reads -> float32 (samples, channels) at 48 kHz (SoX resampler if built)."""
    resample = (f"aresample={SAMPLE_RATE}:resampler=soxr:precision=28" if _ffmpeg_has_soxr()
                else f"aresample={SAMPLE_RATE}:filter_size=64")
    limit = ["-t", f"{max_seconds:g}"] if max_seconds else []
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *limit, "-vn", "-af", resample,
           "-ac", str(channels), "-f", "f32le", "-"]
    try:
        result = subprocess.run(cmd, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise CorpusError(f"decoding {path}: ffmpeg exited with {exc.returncode}: "
                          f"{_tail(exc.stderr.decode(errors='replace'))} The file may be damaged: "
                          "delete the package from the cache and build again.") from exc
    return np.frombuffer(result.stdout, np.float32).reshape(-1, channels).copy()


def write_audio(samples: np.ndarray, dest: Path) -> None:
    """Write 48 kHz 16-bit FLAC, scaled down to peak at -1 dBFS if louder (see PEAK_CEILING)."""
    import soundfile

    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    gain = min(1.0, PEAK_CEILING / peak) if peak > 0 else 1.0
    soundfile.write(dest, samples * gain, SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def _fade(samples: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    """Short fade in and out, so a cut through a waveform is not a click."""
    n = min(len(samples) // 2, round(seconds * SAMPLE_RATE))
    if n:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


def probe(path: Path) -> dict[str, Any]:
    """Media properties for the manifest, read back from the written file (the truth)."""
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise CorpusError(f"cannot read back the image {path}; delete it and build again")
        return {"width": image.shape[1], "height": image.shape[0]}
    import av

    info: dict[str, Any] = {}
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            info["sample_rate"] = audio.codec_context.sample_rate
            info["channels"] = audio.codec_context.channels
        if container.streams.video:
            video = container.streams.video[0]
            fps = float(video.average_rate)
            frames = sum(1 for packet in container.demux(video) if packet.size)
            info.update(width=video.codec_context.width, height=video.codec_context.height,
                        fps=round(fps, 3), frames=frames, duration=round(frames / fps, 3))
    if "duration" not in info:
        import soundfile

        sound = soundfile.info(str(path))
        info["duration"] = round(sound.frames / sound.samplerate, 3)
    return info


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
            raise CorpusError(f"{self.source.id}: {relative} is not in {self.package.name} "
                              f"{self.package.version} (extracted in {self.package.root}); the "
                              "package layout changed: fix harness/corpus_sources.py")
        return path

    @contextmanager
    def output(self, item_id: str, kind: str, suffix: str, tags: Iterable[str] | None = None,
               licence_note: str | None = None) -> Iterator[Path]:
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
        with job.output(f"{sid}-audio", "audio", ".flac", ("soundtrack", *recipe.audio_tags)) \
                as tmp:
            write_audio(_fade(decode_audio(src, 2)), tmp)
        audio = job.drafts[-1].path
    job.say(f"{sid}: transcoding {src.name}")
    with job.output(sid, "video", ".mkv") as tmp:
        mux = ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "copy"] if audio \
            else ["-map", "0:v:0"]
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *mux, *X264, str(tmp)],
             f"transcoding {src}", "Check that ffmpeg has libx264 (apt-get install ffmpeg).")


def _make_photo(job: _Job, recipe: PhotoMoves) -> None:
    import cv2

    src = job.input(recipe.path)
    sid = job.source.id
    note = _wallpaper_note(job.input(recipe.metadata)) if recipe.metadata else None
    with job.output(f"{sid}-still", "image", src.suffix.lower(), (*job.source.tags, "still"),
                    note) as tmp:
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
                raise CorpusError(f"{item_id}: {exc}; give this photo smaller sizes in "
                                  "harness/corpus_sources.py") from exc


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
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", recipe.graph,
              "-t", f"{recipe.seconds:g}", *_colour_args(height), *X264, str(tmp)],
             f"generating {recipe.graph}", "Install ffmpeg with lavfi and libx264.")


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
        raise CorpusError(f"{job.source.id}: no .ogg lines in {folder}; the package layout "
                          "changed: fix harness/corpus_sources.py")
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
            _run(["espeak-ng", "-v", recipe.voice, "-s", str(recipe.words_per_minute),
                  "-w", str(wav), recipe.text], f"speaking with espeak-ng voice {recipe.voice}",
                 "Check the voice name (`espeak-ng --voices`); install espeak-ng-data.")
            write_audio(decode_audio(wav, 1), tmp)
        finally:
            wav.unlink(missing_ok=True)


_MAKERS: dict[type, Callable[[_Job, Any], None]] = {
    Transcode: _make_transcode, PhotoMoves: _make_photo, Lavfi: _make_lavfi,
    SyntheticUI: _make_ui, Music: _make_music, SpeechLines: _make_speech,
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
            raise CorpusError("espeak-ng is needed for the synthetic speech and is not installed: "
                              "run `sudo apt-get install espeak-ng`, or build without it "
                              "(only=... without 'espeak').")
        say("espeak-ng is not installed: apt-get install espeak-ng (as root)")
        _run(["apt-get", "install", "-y", "--no-install-recommends", "espeak-ng"],
             "installing espeak-ng", "Run `apt-get update` first, or install it by hand.",
             error=PackageUnavailable)


@cache
def _system_version(tool: str, flag: str = "--version") -> str:
    """The version an installed tool reports ("5.1.9-0+deb12u1" from ffmpeg's banner)."""
    result = _run([tool, flag], f"asking {tool} its version", f"Install {tool}.")
    first = (result.stdout or result.stderr).splitlines()[0]
    found = re.search(r"\d+\.\d+[\w.+~-]*", first)
    return found.group(0) if found else first.strip()


def build_corpus(out_dir: Path, progress: Progress | None = None,
                 only: Sequence[str] | None = None, *, seed: int = DEFAULT_SEED,
                 cache_dir: Path | None = None,
                 sources: Sequence[Source] = SOURCES) -> Manifest:
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
                    replace(item, split=splits[item.source], group=groups[item.source]))
    complete = {sid for sid, items in by_source.items()
                if all((out_dir / item.path).is_file() for item in items)}
    by_source = {sid: items for sid, items in by_source.items() if sid in complete}

    def save() -> Manifest:
        items = sorted((item for source_items in by_source.values() for item in source_items),
                       key=lambda item: item.id)
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
    counts = {split: len(manifest.select(split=split)) for split in SPLITS}
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
        id=draft.id, source=job.source.id, kind=draft.kind,
        path=draft.path.relative_to(job.out_dir).as_posix(), split=split,
        group=job.source.group, source_package=package, package_version=version,
        licence=licence, licence_note=draft.licence_note or job.source.licence_note,
        tags=draft.tags, recipe=recipe, **probe(draft.path))
