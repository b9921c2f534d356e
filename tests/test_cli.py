"""`harness` CLI: the analyze JSON contract, tables, one-line errors, device listing and check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.media_files import make_clip, needs_ffmpeg

SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "analyze.schema.json").read_text())


def harness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def black_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of moving test card whose picture goes black from 1.5 s to 3.0 s."""
    path = tmp_path_factory.mktemp("cli") / "black.mp4"
    return make_clip(
        path, seconds=4.0, extra_video_filter="drawbox=c=black:t=fill:enable='between(t,1.5,2.999)'"
    )


@needs_ffmpeg
def test_analyze_json_follows_the_contract(black_clip: Path) -> None:
    result = harness("analyze", str(black_clip), "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    jsonschema.validate(output, SCHEMA)
    assert output["media"]["width"] == 320 and output["media"]["sample_rate"] == 48000
    black = [e for e in output["events"] if e["defect"] == "black_frames"]
    assert len(black) == 1
    assert black[0]["start"] == pytest.approx(1.5, abs=0.045)
    assert black[0]["end"] == pytest.approx(3.0, abs=0.045)
    assert not [e for e in output["events"] if e["defect"] == "freeze"]
    assert "analysing" in result.stderr  # progress on stderr, never on stdout


@needs_ffmpeg
def test_analyze_limits_detectors_and_prints_a_table(black_clip: Path) -> None:
    result = harness("analyze", str(black_clip), "--defects", "audio_dropout,loudness")
    assert result.returncode == 0, result.stderr
    assert "no defects found" in result.stdout  # the black stretch is not looked for
    assert "frames analysed" in result.stdout


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Audio-only WAVs of 6 s of music at -23 LUFS as captured: one with a 0.3 s dropout on
    both channels, one clean."""
    import numpy as np
    import soundfile as sf

    from tests.audio_content import at_loudness, captured, dropout_times, music_like, with_dropout

    rate, folder = 48000, tmp_path_factory.mktemp("tracks")
    music = at_loudness(music_like(6, rate, np.random.default_rng(2)), rate, -23.0)
    (at,) = dropout_times(music, rate, [0.3])
    sf.write(folder / "dropout.wav", captured(with_dropout(music, rate, at, 0.3), rate), rate)
    sf.write(folder / "clean.wav", captured(music, rate), rate)
    return {"dropout": folder / "dropout.wav", "clean": folder / "clean.wav", "at": at}


def test_analyze_audio_only_wav_finds_the_dropout(tracks: dict) -> None:
    result = harness("analyze", str(tracks["dropout"]), "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    jsonschema.validate(output, SCHEMA)
    media = output["media"]
    assert (media["width"], media["height"], media["fps"]) == (None, None, None)
    assert (media["sample_rate"], media["channels"]) == (48000, 2)
    assert [e["defect"] for e in output["events"]] == ["audio_dropout"]  # no video results
    assert output["events"][0]["start"] == pytest.approx(tracks["at"], abs=0.01)
    assert output["events"][0]["end"] == pytest.approx(tracks["at"] + 0.3, abs=0.01)
    assert output["av_sync"] is None
    assert output["capture"]["video_frames"] == 0 and output["capture"]["resolution"] is None
    assert output["capture"]["audio_samples_lost"] == 0


def test_analyze_clean_audio_only_wav_finds_nothing(tracks: dict) -> None:
    result = harness("analyze", str(tracks["clean"]), "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    jsonschema.validate(output, SCHEMA)
    assert output["events"] == []
    assert output["summaries"]["loudness"]["integrated_lufs"] == pytest.approx(-23, abs=1)


def test_analyze_audio_artifacts_on_an_audio_only_track(tracks: dict) -> None:
    asked = "audio_hum,audio_hiss,audio_distortion,audio_clicks"
    result = harness("analyze", str(tracks["clean"]), "--defects", asked)
    assert result.returncode == 0, result.stderr
    assert "no defects found" in result.stdout
    assert "audio 48000 Hz x2" in result.stdout
    assert "no video; audio analysed to 6.0 s" in result.stdout
    assert "not measured" not in result.stderr


@needs_ffmpeg
def test_defects_of_a_missing_medium_are_not_measured_either_way(
    tracks: dict, black_clip: Path, tmp_path: Path
) -> None:
    """Video defects on an audio-only file are treated as audio defects on a video-only file:
    analysed (exit 0), nothing reported, and a warning that they were not measured."""
    result = harness("analyze", str(tracks["dropout"]), "--defects", "black_frames,freeze")
    assert result.returncode == 0, result.stderr
    assert "no defects found" in result.stdout
    assert "has no video stream: black_frames, freeze not measured" in result.stderr

    silent = tmp_path / "silent.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(black_clip), "-an", "-c", "copy", str(silent)],
        check=True,
    )
    result = harness("analyze", str(silent), "--defects", "audio_dropout,black_frames", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert {e["defect"] for e in output["events"]} == {"black_frames"}
    assert output["media"]["sample_rate"] is None
    assert "has no audio stream: audio_dropout not measured" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "/no/such/file.mp4"], "harness: error: /no/such/file.mp4: no such file"),
        (["analyze", "__garbage__"], "cannot be decoded"),
        (["devices", "--check", "tv99"], "no device profile named 'tv99'"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path, args: list[str], message: str) -> None:
    if "__garbage__" in args:
        garbage = tmp_path / "garbage.mp4"
        garbage.write_bytes(b"\x00not a video" * 64)
        args = [str(garbage) if a == "__garbage__" else a for a in args]
    result = harness(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unknown_defect_is_a_usage_error() -> None:
    result = harness("analyze", "x.mp4", "--defects", "blurry")
    assert result.returncode == 2
    assert "unknown defect(s) blurry; available: black_frames" in result.stderr


def test_devices_lists_builtin_and_local_profiles(tmp_path: Path) -> None:
    (tmp_path / "device_profiles").mkdir()
    (tmp_path / "device_profiles" / "tv01.yaml").write_text(
        "name: tv01\nvideo: {backend: opencv, source: 0}\n"
    )
    (tmp_path / "device_profiles" / "broken.yaml").write_text("name: broken\n")
    result = harness("devices", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {"sim01", "tv01", "broken"}
    assert "opencv:0" in rows["tv01"] and "INVALID" in rows["broken"]


def test_devices_check_measures_the_simulated_capture() -> None:
    result = harness("devices", "--check", "sim01", "--seconds", "1")
    assert result.returncode == 0, result.stderr
    assert "resolution                  1280x720" in result.stdout
    assert "measured_fps                30.0" in result.stdout
    assert "WARNING" not in result.stdout


def test_watch_exits_1_on_defects_with_a_readable_table(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "simfreeze.yaml").write_text(
        "name: simfreeze\nvideo: {backend: simulated}\naudio: {backend: simulated}\n"
        "simulation:\n  width: 320\n  height: 180\n  realtime: false\n  duration: 6\n"
        "  faults: [{defect: freeze, at: 2.0, duration: 2.5}]\n"
    )
    result = harness(
        "watch",
        "--device",
        "simfreeze",
        "--profiles-dir",
        str(profiles),
        "--seconds",
        "6",
        "--defects",
        "freeze",
    )
    assert result.returncode == 1, result.stderr
    assert "freeze" in result.stdout
