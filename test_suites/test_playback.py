"""Release validation: does the device play cleanly, with picture and sound as specified?

    pytest test_suites --device=tv01 --build=5.12.0-rc3 --alluredir=allure-results

Start the content under test on the device before running (until device control lands, the
harness watches whatever the device plays). Each test watches for a few seconds and fails with
the defect, its time span and score; a dead capture is an error, not a failure.
"""

import pytest

from harness.plugin import Watch
from harness.profiles import DeviceProfile


def test_playback_is_clean(watch: Watch) -> None:
    """Ten seconds of playback without any defect the harness knows."""
    watch(10).assert_clean()


def test_no_black_screen(watch: Watch) -> None:
    """The picture never goes black (blacks shorter than the profile's black_frames.min_duration,
    1 s by default, are fades and cuts, not defects)."""
    watch(5, defects=["black_frames"]).assert_clean()


@pytest.mark.requires_audio
def test_audio_present(watch: Watch) -> None:
    """Sound is there, above the capture's noise floor, without dropouts."""
    report = watch(5, defects=["audio_dropout"])
    assert report.stats.audio_blocks > 0, f"no audio captured from {report.device}"
    assert report.stats.audio_peak_dbfs > -40, (
        f"audio on {report.device} peaks at {report.stats.audio_peak_dbfs:.1f} dBFS: "
        "only the capture's noise floor, is the sound muted or routed elsewhere?"
    )
    report.assert_clean()


def test_resolution_as_specified(watch: Watch, device_profile: DeviceProfile) -> None:
    """The device outputs the resolution its profile expects (a wrong mode after an update
    looks fine to every defect detector)."""
    expected = device_profile.expected
    if expected.width is None or expected.height is None:
        pytest.skip(f"the profile of {device_profile.name} sets no expected resolution")
    stats = watch(2, defects=[]).stats
    assert f"{stats.width}x{stats.height}" == f"{expected.width}x{expected.height}"
