"""Audio and A/V impairments: exact ground truth, streaming, determinism, channel choice.

Every impairment is checked against the contract (untouched outside its window, the same output
whatever the block size, the same for the same seed) and its effect is *measured* inside the
window: hum and hiss levels, clipped fraction, click count, dropout bounds, gain, A/V offset and
drift recovered by cross-correlation, look-alike levels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from scipy import signal

from harness.impairments import registry
from harness.impairments.audio import (
    Clicks,
    Distortion,
    Dropout,
    Hiss,
    Hum,
    LevelJump,
    level_for_snr,
)
from harness.impairments.av import AvDrift, AvOffset, VideoDelay
from harness.impairments.base import AudioImpairment
from tests.audio_content import music_like

RATE = 48_000
AT, DURATION = 1.0, 1.5
BLOCK_SIZES = (480, 1024, 4800)

class Case(NamedTuple):
    impairment: str  #: registry name
    params: dict[str, object]
    defect: str  #: what the label must say
    seeded: bool = False  #: whether another seed changes the output


CASES: dict[str, Case] = {
    "dropout-silence": Case("audio_dropout", {}, "audio_dropout"),
    "dropout-repeat": Case("audio_dropout", {"kind": "repeat", "repeat_ms": 30.0}, "audio_dropout"),
    "hum-50": Case("audio_hum", {}, "audio_hum", seeded=True),
    "hum-60": Case("audio_hum", {"mains_hz": 60.0, "level_dbfs": -50.0}, "audio_hum", True),
    "hiss-white": Case("audio_hiss", {}, "audio_hiss", True),
    "hiss-pink": Case("audio_hiss", {"color": "pink"}, "audio_hiss", True),
    "distortion-hard": Case("audio_distortion", {"gain_db": 9.0}, "audio_distortion"),
    "distortion-soft": Case("audio_distortion", {"kind": "soft", "threshold": 0.3},
                            "audio_distortion"),
    "distortion-overdrive": Case("audio_distortion", {"kind": "overdrive", "threshold": 0.5},
                                 "audio_distortion"),
    "clicks-impulse": Case("audio_clicks", {"per_second": 6.0}, "audio_clicks", True),
    "clicks-crackle": Case("audio_clicks", {"kind": "crackle", "per_second": 3.0}, "audio_clicks",
                           True),
    "level-jump": Case("level_jump", {"gain_db": -8.0}, "loudness"),
    "distorted-guitar": Case("distorted_guitar", {}, "clean", True),
    "percussion": Case("percussion", {}, "clean", True),
    "applause": Case("applause", {}, "clean", True),
    "av-offset": Case("av_offset", {"offset_ms": 45.0}, "av_sync"),
    "av-drift": Case("av_drift", {"drift_ms_per_min": 120.0}, "av_sync"),
}
AV = {"av-offset", "av-drift"}
LOOKALIKES = {"distorted-guitar", "percussion", "applause"}


@pytest.fixture(scope="module")
def programme() -> np.ndarray:
    """3 s of stereo music-like content (drums, bass, pad) at 48 kHz."""
    return music_like(3.0, RATE, np.random.default_rng(7))


def make(case: str, seed: int = 0, **extra: object) -> AudioImpairment:
    name, params = CASES[case].impairment, CASES[case].params
    return registry.create(name, AT, DURATION, seed=seed, **{**params, **extra})


def run(impairment: AudioImpairment, x: np.ndarray, rate: int = RATE, block: int = 0) -> np.ndarray:
    """Apply block by block (``block`` samples, 0 for one shot) and join the output."""
    size = block or len(x)
    starts = range(0, len(x), size)
    out = np.concatenate([impairment.apply(i, x[i : i + size], rate) for i in starts])
    assert out.dtype == np.float32 and out.shape == x.shape
    return out


def bounds(impairment: AudioImpairment, rate: int = RATE) -> tuple[int, int]:
    return round(impairment.at * rate), round(impairment.end * rate)


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


# --- the contract, for every impairment ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_untouched_outside_the_window_and_changed_inside(case: str, programme: np.ndarray) -> None:
    impairment = make(case)
    out = run(impairment, programme)
    first, stop = bounds(impairment)
    np.testing.assert_array_equal(out[:first], programme[:first])
    np.testing.assert_array_equal(out[stop:], programme[stop:])
    assert np.any(out[first:stop] != programme[first:stop])


@pytest.mark.parametrize("case", CASES)
def test_output_does_not_depend_on_block_size(case: str, programme: np.ndarray) -> None:
    whole = run(make(case), programme)
    for block in BLOCK_SIZES:
        np.testing.assert_array_equal(run(make(case), programme, block=block), whole)


@pytest.mark.parametrize("case", CASES)
def test_deterministic_by_seed(case: str, programme: np.ndarray) -> None:
    out = run(make(case, seed=3), programme, block=1024)
    np.testing.assert_array_equal(run(make(case, seed=3), programme, block=4800), out)
    if CASES[case].seeded:
        assert np.any(run(make(case, seed=4), programme) != out)


@pytest.mark.parametrize("case", sorted(set(CASES) - AV))
def test_one_channel_only(case: str, programme: np.ndarray) -> None:
    impairment = make(case, channels=[1])
    out = run(impairment, programme, block=1024)
    first, stop = bounds(impairment)
    np.testing.assert_array_equal(out[:, 0], programme[:, 0])
    assert np.any(out[first:stop, 1] != programme[first:stop, 1])
    assert impairment.label().params["channels"] == [1]
    with pytest.raises(ValueError, match="channel 2"):
        make(case, channels=[2]).apply(0, programme, RATE)


@pytest.mark.parametrize("case", CASES)
def test_label(case: str) -> None:
    impairment = make(case)
    label = impairment.label()
    assert label.defect == CASES[case].defect
    assert (label.start, label.end) == (AT, AT + DURATION)
    assert CASES[case].params.items() <= label.params.items()


def test_any_rate_and_channel_count() -> None:
    x = music_like(2.0, 22_050, np.random.default_rng(1), channels=6)
    for case in CASES:
        out = run(make(case), x, rate=22_050, block=1000)
        assert np.all(np.isfinite(out))


# --- measured effects -----------------------------------------------------------------------------


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_hum_components_at_the_requested_levels(mains_hz: float, programme: np.ndarray) -> None:
    harmonics = (-10.0, -4.0, -20.0)
    hum = Hum(AT, DURATION, level_dbfs=-42.0, mains_hz=mains_hz, harmonics_db=harmonics)
    first, _ = bounds(hum)
    second = slice(first + RATE // 4, first + RATE // 4 + RATE)  # 1 s: whole cycles of every sine
    added = (run(hum, programme) - programme)[second, 0]
    spectrum = np.abs(np.fft.rfft(added)) * np.sqrt(2) / len(added)  # bin k is k Hz; RMS
    relative = 10 ** (np.array([0.0, *harmonics]) / 20)
    expected = 20 * np.log10(10 ** (-42.0 / 20) * relative / np.linalg.norm(relative))
    measured = 20 * np.log10(spectrum[(mains_hz * np.arange(1, 5)).astype(int)])
    np.testing.assert_allclose(measured, expected, atol=1.0)
    assert db(added) == pytest.approx(-42.0, abs=1.0)


def test_hum_at_a_target_snr(programme: np.ndarray) -> None:
    clean = programme[RATE : RATE + RATE]
    hum = Hum(AT, DURATION, level_dbfs=level_for_snr(clean, 20.0))
    added = (run(hum, programme) - programme)[RATE + 480 : 2 * RATE]
    assert db(clean) - db(added) == pytest.approx(20.0, abs=1.0)
    with pytest.raises(ValueError, match="silence"):
        level_for_snr(np.zeros((100, 2), np.float32), 20.0)


@pytest.mark.parametrize("color, tilt_db", [("white", 0.0), ("pink", 9.0)])
def test_hiss_level_and_colour(color: str, tilt_db: float, programme: np.ndarray) -> None:
    hiss = Hiss(AT, DURATION, level_dbfs=-50.0, color=color)
    first, stop = bounds(hiss)
    added = (run(hiss, programme, block=1024) - programme)[first + 480 : stop - 480]
    for channel in range(2):
        assert db(added[:, channel]) == pytest.approx(-50.0, abs=1.0)
    assert abs(np.corrcoef(added.T)[0, 1]) < 0.05  # independent channels
    frequencies, psd = signal.welch(added[:, 0], RATE, nperseg=4096)
    band = lambda centre: np.mean(psd[(frequencies > centre / 1.4) & (frequencies < centre * 1.4)])  # noqa: E731
    assert 10 * np.log10(band(500.0) / band(4000.0)) == pytest.approx(tilt_db, abs=1.5)


def test_hard_clipping_ratio(programme: np.ndarray) -> None:
    clip = Distortion(AT, DURATION, kind="hard", gain_db=9.0, threshold=0.8, ramp_ms=0.0)
    first, stop = bounds(clip)
    out, clean = run(clip, programme)[first:stop], programme[first:stop]
    driven = clean * 10 ** (9.0 / 20)
    expected = np.mean(np.abs(driven) >= 0.8)
    assert 0.01 < expected < 0.5
    assert np.mean(np.abs(out) == np.float32(0.8)) == pytest.approx(expected, abs=1e-4)
    np.testing.assert_allclose(out, np.clip(driven, -0.8, 0.8), atol=1e-6)


@pytest.mark.parametrize("kind", ["soft", "overdrive"])
def test_saturation_stays_under_threshold(kind: str, programme: np.ndarray) -> None:
    drive = Distortion(AT, DURATION, kind=kind, gain_db=12.0, threshold=0.4)
    first, stop = bounds(drive)
    out = run(drive, programme)[first:stop]
    assert np.abs(out).max() <= 0.4 + 1e-6
    assert np.abs(out).max() > 0.3


def click_groups(added: np.ndarray, gap: int) -> list[np.ndarray]:
    """Runs of non-zero samples, merged across gaps shorter than ``gap``."""
    hits = np.flatnonzero(added)
    return np.split(hits, np.flatnonzero(np.diff(hits) > gap) + 1)


@pytest.mark.parametrize("kind, per_second", [("impulse", 8.0), ("crackle", 4.0)])
def test_click_count_and_amplitude(kind: str, per_second: float, programme: np.ndarray) -> None:
    clicks = Clicks(AT, DURATION, seed=5, kind=kind, per_second=per_second, amplitude=0.25)
    added = (run(clicks, programme, block=480) - programme).astype(np.float64)
    groups = click_groups(added[:, 0], gap=RATE // 100)
    assert len(groups) == clicks.count == round(per_second * DURATION)
    first, stop = bounds(clicks)
    assert first <= groups[0][0] and groups[-1][-1] < stop
    for group in groups:
        assert np.abs(added[group, 0]).max() == pytest.approx(0.25, rel=1e-3)


@pytest.mark.parametrize("at", [1.0, 1.23456])
def test_dropout_silence_exact_bounds(at: float, programme: np.ndarray) -> None:
    dropout = Dropout(at, 0.3137)
    out = run(dropout, programme, block=1024)
    first, stop = bounds(dropout)
    assert not np.any(out[first:stop])
    np.testing.assert_array_equal(out[[first - 1, stop]], programme[[first - 1, stop]])


def test_dropout_repeats_the_last_buffer(programme: np.ndarray) -> None:
    dropout = Dropout(AT, 0.5, kind="repeat", repeat_ms=25.0)
    out = run(dropout, programme, block=480)
    first, stop = bounds(dropout)
    loop = round(0.025 * RATE)
    source = first - loop + np.arange(stop - first) % loop
    np.testing.assert_array_equal(out[first:stop], programme[source])
    with pytest.raises(ValueError, match="in order"):
        Dropout(AT, 0.5, kind="repeat").apply(first, programme[first:], RATE)
    with pytest.raises(ValueError, match="fit before"):
        Dropout(0.01, 0.5, kind="repeat", repeat_ms=20.0)


def test_level_jump_gain_is_exact(programme: np.ndarray) -> None:
    jump = LevelJump(AT, DURATION, gain_db=-8.0, ramp_ms=5.0)
    first, stop = bounds(jump)
    ramp = round(0.005 * RATE)
    out = run(jump, programme, block=1024)
    steady = slice(first + ramp, stop - ramp)
    np.testing.assert_array_equal(out[steady], programme[steady] * 10 ** (-8.0 / 20))
    assert db(out[steady]) - db(programme[steady]) == pytest.approx(-8.0, abs=1e-4)
    ramps = np.abs(out[first : first + ramp, 0]) / np.abs(programme[first : first + ramp, 0])
    assert np.all((ramps >= 10 ** (-8.0 / 20) - 1e-6) & (ramps <= 1 + 1e-6))


# --- audio-video sync -----------------------------------------------------------------------------


def lag(out: np.ndarray, clean: np.ndarray, most: int) -> float:
    """Delay of ``out`` behind ``clean`` in samples (parabolic peak of the cross-correlation)."""
    correlation = signal.correlate(out, clean, method="fft")
    lags = signal.correlation_lags(len(out), len(clean))
    search = np.flatnonzero(np.abs(lags) <= most)
    peak = search[np.argmax(correlation[search])]
    left, centre, right = correlation[peak - 1 : peak + 2]
    return lags[peak] + 0.5 * (left - right) / (left - 2 * centre + right)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    """Broadband content: one unambiguous correlation peak, whatever the offset."""
    return (0.1 * np.random.default_rng(2).standard_normal((RATE * 3, 2))).astype(np.float32)


@pytest.mark.parametrize("offset_ms", [20.0, 45.0, 123.4])
def test_av_offset_recovered_by_cross_correlation(offset_ms: float, noise: np.ndarray) -> None:
    delay = AvOffset(AT, DURATION, offset_ms=offset_ms)
    first, stop = bounds(delay)
    out = run(delay, noise, block=1024)
    inside = slice(first + 2400, stop - 2400)
    measured = lag(out[inside, 0], noise[inside, 0], most=RATE // 5)
    assert measured == pytest.approx(offset_ms * RATE / 1000, abs=1.0)
    samples = round(offset_ms * RATE / 1000)
    source = slice(inside.start - samples, inside.stop - samples)
    np.testing.assert_array_equal(out[inside], noise[source])
    with pytest.raises(ValueError, match="VideoDelay"):
        AvOffset(AT, DURATION, offset_ms=-40.0)


def test_av_drift_measured_within_1_ms_per_minute() -> None:
    rate, drift = 16_000, 90.0
    # low-passed noise: a smooth correlation peak that a parabola locates to a hundredth of a ms
    white = 0.1 * np.random.default_rng(3).standard_normal((rate * 22, 1))
    x = signal.sosfilt(signal.butter(8, 0.2 * rate, fs=rate, output="sos"), white, axis=0)
    x = x.astype(np.float32)
    drifting = AvDrift(1.0, 20.0, drift_ms_per_min=drift)
    out = run(drifting, x, rate=rate, block=4800)
    times = np.arange(2.0, 20.0, 2.0)
    delays_ms = []
    for t in times:  # short pieces, so the delay barely moves inside one
        piece = slice(round((1.0 + t - 0.1) * rate), round((1.0 + t + 0.1) * rate))
        delays_ms.append(lag(out[piece, 0], x[piece, 0], most=rate // 20) * 1000 / rate)
    slope, start = np.polyfit(times / 60, delays_ms, 1)
    assert slope == pytest.approx(drift, abs=1.0)
    assert start == pytest.approx(0.0, abs=0.5)
    with pytest.raises(ValueError, match="VideoDelay"):
        AvDrift(AT, DURATION, drift_ms_per_min=-10.0)


def frames(count: int, fps: float) -> list[tuple[int, float, np.ndarray]]:
    """Frames whose picture is their own index."""
    return [(i, i / fps, np.full((4, 4, 3), i % 256, np.uint8)) for i in range(count)]


@pytest.mark.parametrize("offset_ms, drift", [(-80.0, 0.0), (-40.0, -600.0)])
def test_video_delay_makes_audio_lead(offset_ms: float, drift: float) -> None:
    fps = 25.0
    delay = VideoDelay(1.0, 2.0, offset_ms=offset_ms, drift_ms_per_min=drift)
    shown = [int(delay.apply(i, t, image).image[0, 0, 0]) for i, t, image in frames(100, fps)]
    for index, time in ((i, i / fps) for i in range(100)):
        if 1.0 <= time < 3.0 - 1e-6:
            target = time + (offset_ms + drift * (time - 1.0) / 60) / 1000
            assert shown[index] == round(target * fps - 1e-9)
        else:
            assert shown[index] == index
    label = delay.label()
    assert label.defect == "av_sync" and label.params["offset_ms"] == offset_ms
    assert label.frames[0] == {"index": 25, "source": 25 + round(offset_ms * fps / 1000)}
    with pytest.raises(ValueError, match="AvOffset"):
        VideoDelay(1.0, 2.0, offset_ms=40.0)


# --- look-alikes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(LOOKALIKES))
@pytest.mark.parametrize("level_dbfs", [-20.0, -35.0])
def test_lookalikes_add_content_at_the_level(
    case: str, level_dbfs: float, programme: np.ndarray
) -> None:
    lookalike = make(case, seed=1, level_dbfs=level_dbfs)
    first, stop = bounds(lookalike)
    added = (run(lookalike, programme, block=1024) - programme)[first:stop]
    assert db(added[:, 0]) == pytest.approx(level_dbfs, abs=1.0)
    np.testing.assert_allclose(added[:, 0], added[:, 1], atol=1e-6)  # the same content in each
    assert lookalike.label().defect == "clean"


def test_lookalikes_have_their_character(programme: np.ndarray) -> None:
    """Percussion has sharp attacks (a high crest factor); the overdriven guitar spends much of
    its time near its peak, as a saturated waveform does."""

    def added(case: str, **params: object) -> np.ndarray:
        impairment = make(case, **params)
        first, stop = bounds(impairment)
        return (run(impairment, programme) - programme)[first:stop, 0].astype(np.float64)

    def near_peak(x: np.ndarray) -> float:
        return float(np.mean(np.abs(x) > 0.5 * np.abs(x).max()))

    hits = added("percussion")
    assert np.abs(hits).max() / np.sqrt(np.mean(hits**2)) > 4
    assert near_peak(added("distorted-guitar", drive_db=30.0)) > 2 * near_peak(
        added("distorted-guitar", drive_db=0.0)
    )
