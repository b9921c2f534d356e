"""The pytest plugin: which devices and build a run is about, device fixtures, Allure output.

Loaded through the ``pytest11`` entry point on *every* pytest run on the machine, so importing it
must stay cheap: profiles, capture, detectors and report code (pydantic, numpy, cv2, ...) are
imported only when a hook or fixture of a run that uses a device needs them.

    pytest test_suites --device=tv01,tv02 --build=5.12.0-rc3 --alluredir=allure-results

``--device`` parametrizes every test that uses a device fixture, once per device (ids are the
device names), so one run can validate a build on several devices and Allure keeps their results
apart. Rig problems (no capture, bad profile) surface as errors, never as assertion failures.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import allure
import pytest

if TYPE_CHECKING:
    from harness.device import Device
    from harness.profiles import DeviceProfile, Fault
    from harness.results import PlaybackReport

#: Seconds of capture read at the setup of every test that uses ``device``: long enough to see
#: frames flow through the whole path, short enough to cost little per test. Checking at each
#: test (not once per session) keeps one test that killed the capture from failing the next.
HEALTH_CHECK_SECONDS = 0.5

EvidenceMode = Literal["on-failure", "always"]

_DEVICE_ENTRY = re.compile(r"[A-Za-z0-9_.-]+|.+\.ya?ml")
_BUILD_ID = re.compile(r"\S+")


class Watch(Protocol):
    """The ``watch`` fixture: capture the device for ``seconds`` and analyse what it played."""

    def __call__(
        self,
        seconds: float = 30.0,
        defects: Iterable[str] | None = None,
        faults: Sequence[Fault | dict[str, Any]] = (),
    ) -> PlaybackReport: ...


@dataclass
class _Harness:
    """Per-run plugin state, kept in ``config.stash``."""

    requested_devices: list[str] | None
    build: str
    profiles_dir: Path | None
    evidence: EvidenceMode
    #: names of the devices this session's tests run on, in order (an ordered set)
    used: dict[str, None] = field(default_factory=dict)
    _profiles: dict[str, DeviceProfile] = field(default_factory=dict)

    @property
    def devices(self) -> list[str]:
        """The ``--device`` entries, or the built-in simulated device."""
        if self.requested_devices:
            return self.requested_devices
        from harness.profiles import DEFAULT_DEVICE

        return [DEFAULT_DEVICE]

    def profile(self, device: str) -> DeviceProfile:
        """The validated profile of one ``--device`` entry (loaded once per run)."""
        if device not in self._profiles:
            from harness.profiles import load_profile

            self._profiles[device] = load_profile(device, self.profiles_dir)
        return self._profiles[device]


_STATE = pytest.StashKey[_Harness]()
_REPORTS = pytest.StashKey[list["PlaybackReport"]]()


# -- options -------------------------------------------------------------------------------------
# Help texts start lower case, say what the value is, and end with the default in parentheses.


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "vqa-harness: playback devices under test")
    group.addoption(
        "--device",
        dest="harness_devices",
        type=_device_list,
        default=None,
        metavar="NAME[,NAME...]",
        help="device profile name(s) or .yaml path(s); each test that uses a device runs once "
        "per device (default: the built-in simulated device, sim01)",
    )
    group.addoption(
        "--build",
        dest="harness_build",
        type=_build_id,
        default="unknown",
        metavar="BUILD",
        help="build under test, e.g. 5.12.0-rc3; shown in the Allure report (default: unknown)",
    )
    group.addoption(
        "--profiles-dir",
        dest="harness_profiles_dir",
        type=_directory,
        default=None,
        metavar="DIR",
        help="folder searched first for NAME.yaml device profiles "
        "(default: $HARNESS_PROFILES_DIR, then ./device_profiles, then the built-in ones)",
    )
    group.addoption(
        "--harness-evidence",
        dest="harness_evidence",
        choices=("on-failure", "always"),
        default="on-failure",
        help="with --alluredir, attach frames and audio of every event of failed tests only, "
        "or of every test; events and capture statistics are always attached "
        "(default: on-failure)",
    )


def _device_list(value: str) -> list[str]:
    entries = [entry.strip() for entry in value.split(",")]
    well_formed = all(_DEVICE_ENTRY.fullmatch(entry) for entry in entries)
    if not well_formed or len(set(entries)) != len(entries):
        raise pytest.UsageError(
            f"--device={value!r}: expected NAME or NAME,NAME,... with distinct profile names "
            "(letters, digits, '.', '_', '-') or paths to .yaml profiles, e.g. --device=tv01,tv02"
        )
    return entries


def _build_id(value: str) -> str:
    if not _BUILD_ID.fullmatch(value):
        raise pytest.UsageError(
            f"--build={value!r}: expected a build id without spaces, e.g. --build=5.12.0-rc3"
        )
    return value


def _directory(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise pytest.UsageError(
            f"--profiles-dir={value!r}: expected an existing folder holding NAME.yaml profiles"
        )
    return path


# -- configuration and collection ----------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_audio: skip the test on devices whose profile captures no audio "
        "(audio.backend: none)",
    )
    config.stash[_STATE] = _Harness(
        requested_devices=config.option.harness_devices,
        build=config.option.harness_build,
        profiles_dir=config.option.harness_profiles_dir,
        evidence=config.option.harness_evidence,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per ``--device``; session scope groups the tests of each device together."""
    if "device_name" not in metafunc.fixturenames:
        return
    devices = metafunc.config.stash[_STATE].devices
    metafunc.parametrize(
        "device_name", devices, ids=[Path(d).stem for d in devices], indirect=True,
        scope="session",
    )


@pytest.hookimpl(tryfirst=True)  # labels must exist before allure's --allure-label selection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Load the profiles of the devices in use (a bad one stops the run before any capture),
    skip tests a device cannot run, and label each test with its device and build."""
    from harness.errors import ProfileError

    state = config.stash[_STATE]
    for item in items:
        device = _device_of(item)
        if device is None:
            continue
        try:
            profile = state.profile(device)
        except ProfileError as exc:
            raise pytest.UsageError(f"--device={device}: {exc}") from None
        if item.get_closest_marker("requires_audio") and profile.audio.backend == "none":
            item.add_marker(pytest.mark.skip(
                reason=f"device {profile.name} captures no audio (audio.backend: none)"
            ))
        state.used[profile.name] = None
        if _allure_active(config):
            _label(item, profile.name, state.build)


def _device_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("device_name") if callspec is not None else None


def _label(item: pytest.Item, device: str, build: str) -> None:
    """Device and build as Allure labels (filter and group by them); the device also names the
    parent suite, unless the test chose one, so the Suites tab reads device > module > test."""
    item.add_marker(allure.label("device", device))
    item.add_marker(allure.label("build", build))
    explicit = any(
        mark.kwargs.get("label_type") == "parentSuite" for mark in item.iter_markers("allure_label")
    )
    if not explicit:
        item.add_marker(allure.parent_suite(device))


def _allure_active(config: pytest.Config) -> bool:
    """True when allure-pytest writes results (``--alluredir``), the only time evidence is built."""
    return config.pluginmanager.hasplugin("allure_listener")


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def device_name(request: pytest.FixtureRequest) -> str:
    """The ``--device`` entry this test runs on (the first one when requested dynamically)."""
    return getattr(request, "param", request.config.stash[_STATE].devices[0])


@pytest.fixture(scope="session")
def device_profile(request: pytest.FixtureRequest, device_name: str) -> DeviceProfile:
    """The validated profile of the device under test."""
    return request.config.stash[_STATE].profile(device_name)


@pytest.fixture(scope="session")
def build(request: pytest.FixtureRequest) -> str:
    """The ``--build`` under test."""
    return request.config.stash[_STATE].build


@pytest.fixture
def device(device_profile: DeviceProfile) -> Iterator[Device]:
    """The device under test, locked for this test and its capture checked healthy first.

    A real device is held by one test process at a time (``harness.locks``; the simulated device
    needs no lock). A dead capture raises CaptureError/CaptureLost here, at setup: the test is
    reported as an error (Allure: broken), never as a device defect.
    """
    from harness.device import Device
    from harness.locks import device_lock

    checked = Device(device_profile)
    simulated = device_profile.video.backend == "simulated"
    with contextlib.nullcontext() if simulated else device_lock(checked.name):
        checked.check(seconds=HEALTH_CHECK_SECONDS)
        yield checked


@pytest.fixture
def watch(request: pytest.FixtureRequest, device: Device) -> Watch:
    """``watch(seconds=30, defects=None, faults=())``: capture and analyse, return the report.

    Every report (and the partial one of a lost capture) is kept on the test item, so its events
    and evidence reach the Allure report whatever the test then asserts.
    """
    from harness.errors import CaptureLost

    reports = request.node.stash.setdefault(_REPORTS, [])

    def watch(
        seconds: float = 30.0,
        defects: Iterable[str] | None = None,
        faults: Sequence[Fault | dict[str, Any]] = (),
    ) -> PlaybackReport:
        with allure.step(f"Watch {device.name} for {seconds:g} s"):
            try:
                report = device.watch(seconds, defects=defects, faults=faults)
            except CaptureLost as lost:
                if lost.partial is not None:
                    reports.append(lost.partial)
                raise
        reports.append(report)
        return report

    return watch


# -- reporting -----------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Attach the test's playback reports once its outcome is known (evidence depends on it)."""
    report: pytest.TestReport = yield
    reports = item.stash.get(_REPORTS, None)
    if report.when == "call" and reports and _allure_active(item.config):
        from harness.report.allure import attach_reports

        mode = item.config.stash[_STATE].evidence
        try:
            attach_reports(reports, evidence=report.failed or mode == "always")
        except Exception as exc:  # evidence is a courtesy: a rendering bug must not end the run
            item.warn(pytest.PytestWarning(f"harness: evidence not attached: {exc!r}"))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write environment.properties and categories.json into the results folder.

    At the end, not the start, because ``--clean-alluredir`` wipes the folder at startup; and
    only by a session that ran device tests, so a project that merely has this plugin installed
    keeps its own files. (Under xdist every worker writes the same content, atomically.)
    """
    config = session.config
    state = config.stash[_STATE]
    if not state.used or not _allure_active(config):
        return
    from harness.report.environment import write_categories, write_environment

    results = Path(config.option.allure_report_dir)
    write_environment(results, devices=list(state.used), build=state.build)
    write_categories(results)
