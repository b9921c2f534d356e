"""The pytest plugin, run from outside: real sessions through pytester, Allure results read back.

Each session runs in a fresh process, as a QA engineer's would (the plugin loads through its
entry point; in-process runs would also unload numpy between sessions). The devices are simulated
ones in a temporary profiles folder, small and not paced in real time, so a session takes a few
seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.report.environment import categories, write_environment

BUILD = "5.12.0-rc3"
FREEZE = {"defect": "freeze", "at": 2.0, "duration": 1.5}


def simulated(name: str, **simulation: Any) -> dict[str, Any]:
    """A small, fast simulated device profile. A cold simulator takes 1-2.5 s to its first frame
    (imports, loudness calibration) and the watchdog counts that time, hence the long timeout."""
    return {
        "name": name,
        "video": {"backend": "simulated"},
        "audio": {"backend": "simulated"},
        "capture_timeout": 5.0,
        "simulation": {"duration": 8, "width": 640, "height": 360, "realtime": False,
                       **simulation},
    }


@pytest.fixture
def lab(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder with a ``profiles`` folder of simulated devices."""
    profiles = pytester.mkdir("profiles")
    devices = [
        simulated("simfast"),
        simulated("simfast2", seed=1),
        simulated("stalls", stall_at=1.0),
        {**simulated("dead", stall_at=0.0), "capture_timeout": 1.0},
        {**simulated("mute"), "audio": {"backend": "none"}},
    ]
    for profile in devices:
        (profiles / f"{profile['name']}.yaml").write_text(yaml.safe_dump(profile))
    return pytester


def run(lab: pytest.Pytester, *args: str) -> pytest.RunResult:
    return lab.runpytest_subprocess(
        "--profiles-dir=profiles", f"--build={BUILD}", "-p", "no:cacheprovider", *args
    )


def allure_results(folder: Path) -> dict[str, dict[str, Any]]:
    """Allure test results by test name (``test_x[device]``)."""
    results = [json.loads(p.read_text()) for p in folder.glob("*-result.json")]
    return {result["name"]: result for result in results}


def labels(result: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for label in result["labels"]:
        found.setdefault(label["name"], []).append(label["value"])
    return found


def attachment_types(result: dict[str, Any]) -> list[str]:
    return sorted({attachment["type"] for attachment in result.get("attachments", [])})


def category_of(result: dict[str, Any]) -> str | None:
    """The categories.json entry Allure files this result under (first match wins)."""
    message = result["statusDetails"]["message"]
    for category in categories():
        if result["status"] in category["matchedStatuses"] and re.fullmatch(
            category["messageRegex"], message
        ):
            return category["name"]
    return None


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    """The entry point loads on every pytest run on the machine (DESIGN.md, plugin load cost)."""
    heavy = ["cv2", "onnxruntime", "torch", "sounddevice", "av"]
    code = (
        "import sys, harness.plugin\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_clean_device_passes_once_per_device_with_distinct_history(lab: pytest.Pytester) -> None:
    lab.makepyfile("def test_clean(watch):\n    watch(3).assert_clean()\n")
    result = run(lab, "-v", "--device=simfast,simfast2", "--alluredir=results")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_clean[[]simfast[]] PASSED*",
                                 "*test_clean[[]simfast2[]] PASSED*"])
    tests = allure_results(lab.path / "results")
    assert set(tests) == {"test_clean[simfast]", "test_clean[simfast2]"}
    for device in ("simfast", "simfast2"):
        test = tests[f"test_clean[{device}]"]
        assert labels(test)["device"] == [device]
        assert labels(test)["parentSuite"] == [device]
        assert {"name": "device_name", "value": f"'{device}'"} in test["parameters"]
        assert attachment_types(test) == ["application/json"]  # no frames: nothing to show
    assert len({test["historyId"] for test in tests.values()}) == 2  # not "retries" of one test


def test_scripted_defects_fail_with_evidence_in_allure(lab: pytest.Pytester) -> None:
    lab.makepyfile(f"""
        def test_freeze(watch):
            watch(5, faults=[{FREEZE!r}]).assert_clean()

        def test_dropout(watch):
            faults = [{{"defect": "audio_dropout", "at": 2.0, "duration": 1.0}}]
            watch(5, defects=["audio_dropout"], faults=faults).assert_clean()

        def test_tolerated_freeze(watch):
            watch(5, faults=[{FREEZE!r}]).assert_clean(ignore=["freeze"])
    """)
    result = run(lab, "--device=simfast", "--alluredir=results")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*DefectFound: 1 defect(s) on device 'simfast':*"])
    span = re.search(r"freeze\s+([\d.]+)-\s*([\d.]+) s", result.stdout.str())
    assert span, result.stdout.str()
    assert float(span[1]) == pytest.approx(FREEZE["at"], abs=0.2)
    assert float(span[2]) == pytest.approx(FREEZE["at"] + FREEZE["duration"], abs=0.2)

    tests = allure_results(lab.path / "results")
    freeze, dropout = tests["test_freeze[simfast]"], tests["test_dropout[simfast]"]
    assert freeze["status"] == dropout["status"] == "failed"
    assert labels(freeze)["device"] == ["simfast"] and labels(freeze)["build"] == [BUILD]
    assert category_of(freeze) == "Defect: freeze"
    assert category_of(dropout) == "Defect: audio_dropout"
    assert attachment_types(freeze) == ["application/json", "image/png"]
    assert "audio/wav" in attachment_types(dropout)
    assert attachment_types(tests["test_tolerated_freeze[simfast]"]) == ["application/json"]
    for attachment in freeze["attachments"] + dropout["attachments"]:
        assert (lab.path / "results" / attachment["source"]).stat().st_size > 0

    environment = (lab.path / "results" / "environment.properties").read_text()
    assert "device=simfast\n" in environment and f"build={BUILD}\n" in environment
    assert json.loads((lab.path / "results" / "categories.json").read_text()) == categories()


def test_evidence_always_attaches_frames_of_passing_tests(lab: pytest.Pytester) -> None:
    lab.makepyfile(f"""
        def test_tolerated_freeze(watch):
            watch(4, defects=["freeze"], faults=[{FREEZE!r}]).assert_clean(ignore=["freeze"])
    """)
    run(lab, "--device=simfast", "--alluredir=results", "--harness-evidence=always")
    test = allure_results(lab.path / "results")["test_tolerated_freeze[simfast]"]
    assert test["status"] == "passed"
    assert "image/png" in attachment_types(test)


def test_a_failing_evidence_renderer_only_warns(lab: pytest.Pytester) -> None:
    lab.makeconftest("""
        import harness.report.allure

        def broken(image):
            raise ValueError("no PNG today")

        harness.report.allure.encode_png = broken
    """)
    lab.makepyfile(f"""
        def test_freeze(watch):
            watch(4, defects=["freeze"], faults=[{FREEZE!r}]).assert_clean()
    """)
    result = run(lab, "--device=simfast", "--alluredir=results")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*harness: evidence not attached: ValueError('no PNG today')*"])
    test = allure_results(lab.path / "results")["test_freeze[simfast]"]
    assert test["status"] == "failed" and attachment_types(test) == ["application/json"]


def test_lost_capture_is_broken_not_a_device_defect(lab: pytest.Pytester) -> None:
    """A capture that dies during a watch fails the call, one dead at setup errors the test;
    both are "broken" in Allure, filed under "Capture lost", never a product defect."""
    lab.makepyfile("def test_watch(watch):\n    watch(3, defects=[])\n")
    result = run(lab, "--device=stalls,dead", "--alluredir=results")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["E * CaptureLost(device='stalls', last_frame_time=0.9*",
                                 "FAILED *test_watch[[]stalls[]]*", "ERROR *test_watch[[]dead[]]*"])
    tests = allure_results(lab.path / "results")
    for test in tests.values():
        assert test["status"] == "broken"
        assert category_of(test) == "Capture lost"
    # what was analysed before the capture died is still attached
    assert attachment_types(tests["test_watch[stalls]"]) == ["application/json"]


def test_unknown_device_is_a_usage_error_listing_known_devices(lab: pytest.Pytester) -> None:
    lab.makepyfile("def test_x(device):\n    pass\n")
    result = run(lab, "--device=simfast,tv99")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --device=tv99: no device profile named 'tv99'*"
                                 "Known devices: *dead, mute, sim01, simfast, simfast2, stalls*"])


@pytest.mark.parametrize(
    ("option", "accepted"),
    [
        ("--device=tv01,,tv02", "expected NAME or NAME,NAME,..."),
        ("--device=tv01,tv01", "expected NAME or NAME,NAME,... with distinct profile names"),
        ("--build=5.12 rc3", "expected a build id without spaces"),
        ("--profiles-dir=nowhere", "expected an existing folder"),
        ("--harness-evidence=sometimes", "invalid choice: 'sometimes'"),
    ],
)
def test_malformed_options_name_the_accepted_form(
    pytester: pytest.Pytester, option: str, accepted: str
) -> None:
    result = pytester.runpytest_subprocess(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert accepted in result.stderr.str()


def test_audio_tests_skip_on_a_video_only_rig(lab: pytest.Pytester) -> None:
    lab.makepyfile("""
        import pytest

        @pytest.mark.requires_audio
        def test_sound(device_profile):
            pass
    """)
    result = run(lab, "-rs", "--device=mute,simfast")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*device mute captures no audio (audio.backend: none)*"])


def test_sessions_without_device_tests_leave_allure_results_alone(
    pytester: pytest.Pytester,
) -> None:
    """The plugin loads in every project on the machine: it must not write their environment."""
    pytester.makepyfile("def test_unrelated():\n    pass\n")
    pytester.runpytest_subprocess("--alluredir=results").assert_outcomes(passed=1)
    assert not (pytester.path / "results" / "environment.properties").exists()
    assert not (pytester.path / "results" / "categories.json").exists()


def test_environment_names_every_device_reported_into_one_folder(tmp_path: Path) -> None:
    """Two sessions (one per device) writing into one results folder: both devices listed."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"blockiness": {"file": "b.onnx", "sha256": "ab" * 32}}))
    write_environment(tmp_path, ["tv01"], BUILD, manifest)
    environment = write_environment(tmp_path, ["tv02", "tv01"], BUILD, manifest).read_text()
    assert environment.startswith(f"device=tv01, tv02\nbuild={BUILD}\nharness=")
    assert f"model.blockiness={'ab' * 6}\n" in environment
