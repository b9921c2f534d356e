"""Device profiles: the built-in sim01 loads; bad files fail naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ProfileError
from harness.profiles import list_profiles, load_profile

VALID = """\
name: tv01
video: {backend: opencv, source: "udp://127.0.0.1:5000", fps: 30}
audio: {backend: sounddevice, device: pulse, sample_rate: 48000, channels: 2}
detectors:
  freeze: {enabled: false}
expected: {width: 1920, height: 1080, fps: 30, loudness_lufs: -24}
"""


def write(tmp_path: Path, text: str, name: str = "tv01") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_builtin_sim01_loads_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    profile = load_profile("sim01")
    assert profile.video.backend == "simulated"
    assert profile.simulation is not None and profile.simulation.fps == 30
    assert ("sim01", profile.path) in list(list_profiles())


def test_valid_profile_and_its_detector_settings(tmp_path: Path) -> None:
    profile = load_profile("tv01", profiles_dir=write(tmp_path, VALID).parent)
    assert profile.video.source == "udp://127.0.0.1:5000"
    assert profile.detector_settings("freeze").enabled is False
    assert profile.detector_settings("loudness").target_lufs == -24


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("fps: 30}", "fsp: 30}", 1))
    with pytest.raises(ProfileError) as error:
        load_profile(str(path))
    message = str(error.value)
    assert str(path) in message
    assert "video.fsp: unknown key; did you mean 'fps'?" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("sample_rate: 48000", "sample_rate: -1").replace(
        "freeze: {enabled: false}", "freeze: {enabled: false, min_duraton: 3}\n  blurr: {}"
    )
    with pytest.raises(ProfileError) as error:
        load_profile(str(write(tmp_path, text)))
    message = str(error.value)
    assert "audio.sample_rate: Input should be greater than 0 (got -1)" in message
    assert "detectors.freeze.min_duraton: unknown key" in message
    assert "detectors.blurr: no detector named 'blurr'; available detectors:" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: tv01\nvideo: {backend: opencv}\n", "video: Value error, video.source is required"),
        ("name: tv01\n", "video: required key is missing"),
        ("- just\n- a list\n", "a profile is a YAML mapping"),
        ("name: tv01\nvideo: {backend: [\n", "not valid YAML"),
        ("name: tv01\nvideo: {backend: simulated}\n", "needs a 'simulation' section"),
        ("name: tv02\nvideo: {backend: opencv, source: 0}\n", "differs from the file name"),
    ],
)
def test_invalid_profiles_say_what_to_fix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ProfileError, match="tv01.yaml") as error:
        load_profile(str(write(tmp_path, text)))
    assert expected.removeprefix("video: Value error, ") in str(error.value)


def test_missing_device_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as error:
        load_profile("tv99", profiles_dir=tmp_path)
    assert "no device profile named 'tv99'" in str(error.value)
    assert "sim01" in str(error.value)
