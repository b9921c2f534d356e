"""The audio artifact classifier: the shipped model, its front end, the detector on both sides
(each defect found, clean content and look-alikes not flagged), and a tiny training run.

All content is made here (``tests/audio_content.py``, ``GeneratedSound``, the impairment
simulator), never read from the corpus, so the tests run where no corpus was built. The clean and
defect cases of the detector live in ``training/audio_suite.py``: training also measures them,
and calibrates no threshold low enough to flag a clean one. Defects are
placed well inside their classes (see ``training/audio_segments.py`` for the boundaries); how
detection falls off with strength is the model card's job, not these tests'.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.detectors import create, detector_class
from harness.detectors.audio import waveform
from harness.detectors.audio.artifacts import (
    CLASSES,
    DEFECTS,
    FRONT_END,
    MODEL,
    ArtifactSettings,
    AudioArtifactDetector,
)
from harness.detectors.audio.features import (
    FRAMES,
    N_MELS,
    SAMPLE_RATE,
    SEGMENT,
    SEGMENT_HOP,
    VIEWS,
    segment_features,
)
from harness.detectors.audio.resample import StreamResampler
from harness.errors import ModelError
from harness.events import Defect, Event
from harness.impairments.audio import Hiss, Hum
from harness.inference import MODELS_ENV, load_session, models_dir
from harness.report.allure import _detail_lines
from tests.audio_content import blocks, captured, run
from training import audio_suite
from training.audio_metrics import calibrate, calibrate_each
from training.registry import register

RATE = SAMPLE_RATE


def detect(x: np.ndarray, rate: int = RATE) -> list[Event]:
    return run(AudioArtifactDetector(), blocks(x, rate, 1024))


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return audio_suite.music()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return audio_suite.speech()


# -- the shipped model --------------------------------------------------------------------------


def test_shipped_model_loads_and_matches_its_manifest() -> None:
    session, info = load_session(MODEL)
    assert info.classes == CLASSES
    assert {k: info.input[k] for k in FRONT_END} == FRONT_END
    assert info.path.stat().st_size < 2 * 1024 * 1024
    x = np.zeros((3, len(VIEWS), N_MELS, FRAMES), np.float32)
    statistics = np.zeros((3, waveform.SIZE), np.float32)
    feeds = {info.input["name"]: x, info.input["waveform_name"]: statistics}
    probabilities = session.run(None, feeds)[0]
    assert probabilities.shape == (3, len(CLASSES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def _copy_models(tmp_path: Path) -> Path:
    for name in ("manifest.json", f"{MODEL}.onnx"):
        shutil.copy(models_dir() / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("damage", ["missing", "changed", "corrupt", "no_entry"])
def test_unusable_model_is_a_clear_model_error(tmp_path: Path, damage: str) -> None:
    directory = _copy_models(tmp_path)
    onnx = directory / f"{MODEL}.onnx"
    if damage == "missing":
        onnx.unlink()
    elif damage == "changed":
        onnx.write_bytes(onnx.read_bytes() + b"\0")
    elif damage == "corrupt":  # a file that matches its manifest but is no model
        onnx.write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
        register(directory, MODEL, onnx, input_spec={}, classes=CLASSES, version="0", trained={})
    else:
        (directory / "manifest.json").write_text("{}")
    with pytest.raises(ModelError, match="models/|retrain"):
        load_session(MODEL, directory=directory)


def test_detector_registered_and_built_by_name() -> None:
    assert detector_class("audio_artifacts") is AudioArtifactDetector
    assert set(AudioArtifactDetector.defects) == {
        Defect.AUDIO_HUM, Defect.AUDIO_HISS, Defect.AUDIO_DISTORTION, Defect.AUDIO_CLICKS}
    _, info = load_session(MODEL)
    assert AudioArtifactDetector().thresholds == info.trained["thresholds"]
    assert create("audio_artifacts", {"hum_threshold": 0.7}).thresholds["hum"] == 0.7


def test_thresholds_calibrated_to_the_false_alarm_budget() -> None:
    clean = np.zeros((1000, len(CLASSES)))
    clean[:, 0] = 1.0
    clean[:10, 1] = 0.9  # 1 % of clean windows look like hum, at 0.9
    clean[:3, 2] = 0.7  # 0.3 % like hiss, at 0.7
    clean[:2, 3] = 0.8  # 0.2 % like distortion: within a 0.25 % budget
    thresholds = calibrate(clean, 0.0025)
    assert thresholds[0] == np.inf
    np.testing.assert_allclose(thresholds[1:], [0.91, 0.71, 0.5, 0.5])
    # a look-alike set, a tenth the size, where 2 % read as clicks at 0.6: pooled, that is
    # within budget; held to the budget on its own, it raises the clicks threshold
    lookalike = np.zeros((100, len(CLASSES)))
    lookalike[:, 0] = 1.0
    lookalike[:2, 4] = 0.6
    pooled = calibrate(np.concatenate([clean, lookalike]), 0.0025)
    each = calibrate_each([clean, lookalike], 0.0025)
    assert pooled[4] == 0.5 and each[4] == 0.61
    np.testing.assert_allclose(each[1:4], thresholds[1:4])
    # a test-suite case that must not be flagged reads 0.976 hum and 0.2 hiss: the hum threshold
    # rises to the grid's next step above it, hiss stays; a floor at 1.0 leaves 1.0
    floors = np.array([1.0, 0.976, 0.2, 1.0, 0.0])
    bounded = calibrate_each([clean, lookalike], 0.0025, floors=floors)
    np.testing.assert_allclose(bounded[1:], [0.98, 0.71, 1.0, 0.61])


def test_only_clean_suite_cases_that_are_not_known_misses_bound_the_thresholds() -> None:
    def case(name: str, expect: str, miss: bool, hum: float) -> audio_suite.CaseResult:
        return audio_suite.CaseResult(name, expect, miss, np.array([0.0, hum, 0.0, 0.0, 0.0]))

    results = [case("applause", "none", False, 0.9), case("loud", "none", True, 0.99),
               case("music+hum", "hum", False, 0.999)]
    np.testing.assert_allclose(audio_suite.lower_bounds(results), [0.0, 0.9, 0.0, 0.0, 0.0])


# -- the front end: what the detector feeds the model is what training computed -----------------


class _Recorder:
    """Stands in for the onnxruntime session: keeps every batch of both inputs, answers
    "none"."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []
        self.statistics: list[np.ndarray] = []

    def run(self, outputs: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        batch, statistics = feeds.values()
        self.batches.append(batch.copy())
        self.statistics.append(statistics.copy())
        probabilities = np.zeros((len(batch), len(CLASSES)), np.float32)
        probabilities[:, 0] = 1.0
        return [probabilities]


def _recorded(x: np.ndarray, rate: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows, channels, views, N_MELS, FRAMES) and (windows, channels, waveform.SIZE): the
    model inputs the detector built."""
    detector = AudioArtifactDetector()
    recorder = _Recorder()
    detector._session = recorder
    run(detector, blocks(x, rate, block))
    channels = x.shape[1]
    return (np.concatenate(recorder.batches).reshape(-1, channels, len(VIEWS), N_MELS, FRAMES),
            np.concatenate(recorder.statistics).reshape(-1, channels, waveform.SIZE))


@pytest.mark.parametrize("block", [1024, 4801, 48000])
def test_detector_features_are_the_training_features(music: np.ndarray, block: int) -> None:
    x = captured(music, RATE)
    windows, statistics = _recorded(x, RATE, block)
    assert len(windows) == len(statistics) == (len(x) - SEGMENT) // SEGMENT_HOP + 1
    for index, window in enumerate(windows):
        for channel in range(x.shape[1]):
            segment = x[index * SEGMENT_HOP : index * SEGMENT_HOP + SEGMENT, channel]
            np.testing.assert_allclose(window[channel], segment_features(segment), atol=1e-5)
            np.testing.assert_allclose(statistics[index, channel],
                                       waveform.waveform_features(segment), atol=1e-5)


def test_resampler_is_block_independent_and_band_limited() -> None:
    rate = 44100
    t = np.arange(2 * rate) / rate
    x = np.stack([np.sin(2 * np.pi * 997 * t), np.sin(2 * np.pi * 3001 * t)], 1).astype(np.float32)
    outputs = []
    for block in (len(x), 1000, 441):
        resampler = StreamResampler(rate, RATE, 2)
        outputs.append(np.concatenate([resampler(x[i : i + block])
                                       for i in range(0, len(x), block)]))
    n = min(len(o) for o in outputs)
    np.testing.assert_array_equal(outputs[0][:n], outputs[1][:n])
    np.testing.assert_array_equal(outputs[0][:n], outputs[2][:n])
    expected = np.sin(2 * np.pi * 997 * np.arange(n) / RATE)
    assert np.max(np.abs(outputs[0][500 : n - 500, 0] - expected[500 : n - 500])) < 1e-3


# -- event logic, with a scripted model ----------------------------------------------------------


class _Scripted(_Recorder):
    """Answers "hum" for the windows and channels in ``hum`` (0.9, or the probability given),
    "none" otherwise."""

    def __init__(self, channels: int, hum: set[tuple[int, int]] | dict[tuple[int, int], float]
                 ) -> None:
        super().__init__()
        self.channels, self.window = channels, 0
        self.hum = hum if isinstance(hum, dict) else dict.fromkeys(hum, 0.9)

    def run(self, outputs: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        probabilities = super().run(outputs, feeds)[0]
        for row in range(len(probabilities)):
            window, channel = self.window + row // self.channels, row % self.channels
            if (window, channel) in self.hum:
                hum = self.hum[window, channel]
                probabilities[row] = [1 - hum, hum, 0, 0, 0]
        self.window += len(probabilities) // self.channels
        return [probabilities]


def test_consecutive_windows_merge_into_one_event_per_defect() -> None:
    x = captured(np.zeros((8 * RATE, 2), np.float32), RATE)
    detector = AudioArtifactDetector(ArtifactSettings(hum_threshold=0.5))
    detector._session = _Scripted(2, {(2, 1), (3, 0), (3, 1), (4, 1), (9, 0)})
    events = run(detector, blocks(x, RATE, 1024, start=RATE))  # the stream starts at 1 s
    assert [(e.defect, e.start, e.end, e.detail["channels"]) for e in events] == [
        (Defect.AUDIO_HUM, 2.0, 4.0, [0, 1]),
        (Defect.AUDIO_HUM, 5.5, 6.5, [0]),
    ]
    first = events[0]
    assert first.score == pytest.approx(0.9) and first.detail["windows"] == 3
    assert first.detail["probabilities"]["hum"] == pytest.approx(0.9)
    assert first.evidence is not None and first.evidence.audio.duration == pytest.approx(1.0)


def test_a_borderline_window_inside_an_event_extends_it_but_never_opens_one() -> None:
    x = captured(np.zeros((8 * RATE, 1), np.float32), RATE)
    detector = AudioArtifactDetector(ArtifactSettings(hum_threshold=0.9, sustain_threshold=0.5))
    # window 3 is borderline inside an incident, windows 8-9 borderline on their own, window 11
    # below the sustain level
    detector._session = _Scripted(1, {(1, 0): 0.95, (2, 0): 0.9, (3, 0): 0.6, (4, 0): 0.92,
                                      (8, 0): 0.7, (9, 0): 0.6, (10, 0): 0.9, (11, 0): 0.4,
                                      (12, 0): 0.9})
    events = run(detector, blocks(x, RATE, 4800))
    assert [(e.start, e.end, e.detail["windows"]) for e in events] == [
        (0.5, 3.0, 4), (5.0, 6.0, 1), (6.0, 7.0, 1)]
    assert events[0].score == pytest.approx(0.95)


def test_spectrogram_evidence_is_captioned_with_the_class_probabilities() -> None:
    x = captured(np.zeros((3 * RATE, 1), np.float32), RATE)
    detector = AudioArtifactDetector(ArtifactSettings(hum_threshold=0.5))
    detector._session = _Scripted(1, {(1, 0)})
    (event,) = run(detector, blocks(x, RATE, 4800))
    assert _detail_lines(event.detail) == [
        "channel=0, channels=[0], windows=1, found_by=model",
        "probabilities: none 0.1, hum 0.9, hiss 0, distortion 0, clicks 0",
    ]


def test_lost_audio_closes_events_and_restarts_windows() -> None:
    x = captured(np.zeros((4 * RATE, 1), np.float32), RATE)
    detector = AudioArtifactDetector(ArtifactSettings(hum_threshold=0.5))
    detector._session = _Scripted(1, {(1, 0), (2, 0), (3, 0), (4, 0)})
    items = blocks(x[: 2 * RATE], RATE, 4800) + blocks(x[2 * RATE :], RATE, 4800, start=3 * RATE)
    events = run(detector, items)
    # windows 1-2 before the gap (0.5-2.0 s); after it windows restart at 3.0 s: 3 and 4 fall
    # in a 2 s stretch that holds windows 0-2 only, window 1 and 2 of it are flagged
    assert [(e.start, e.end) for e in events] == [(0.5, 2.0), (3.0, 4.5)]


# -- the shipped model on made-up content ---------------------------------------------------------


#: Known failures of the shipped model (models/audio_artifacts.md, "Known failures"): strict, so
#: a model that fixes one turns its test red until it is taken off ``audio_suite.KNOWN_MISSES``.
BELOW_TARGET = pytest.mark.xfail(
    strict=True, reason="model below its accuracy target: see models/audio_artifacts.md")


def _marked(case: str) -> pytest.param:
    return pytest.param(case, marks=BELOW_TARGET if case in audio_suite.KNOWN_MISSES else ())


@pytest.mark.parametrize("content", [_marked(name) for name in audio_suite.CLEAN])
def test_clean_content_and_lookalikes_not_flagged(content: str) -> None:
    x = audio_suite.CLEAN[content]()
    assert detect(captured(x, RATE)) == []


@pytest.mark.parametrize("case", [_marked(f"{content}+{defect}")
                                  for content in audio_suite.CONTENT
                                  for defect in audio_suite.DEFECT_CASES])
def test_each_defect_found_where_it_is(case: str) -> None:
    content, name = case.split("+")
    defect = DEFECTS[audio_suite.DEFECT_CASES[name][0]]  # the class's event
    events = detect(captured(audio_suite.defective(content, name), RATE))
    assert {e.defect for e in events} == {defect}, [e.describe() for e in events]
    (event,) = events
    assert event.start < 3.0 and event.end > 3.5  # overlaps 2.0-4.5 s, no further than a window
    assert event.start >= 1.0 and event.end <= 5.5


def test_defect_on_one_channel_found_on_that_channel(music: np.ndarray) -> None:
    # -30 dBFS, 12 dB under the music, at the card's pooled operating point (hum 0.85): the
    # default hum threshold (0.97) leaves hum this far under music unreported (docs, accuracy)
    x = Hum(1.0, 3.0, 2, level_dbfs=-30.0, channels=[1]).apply(0, music, RATE)
    detector = AudioArtifactDetector(ArtifactSettings(hum_threshold=0.85))
    (event,) = run(detector, blocks(captured(x, RATE), RATE, 1024))
    assert event.defect is Defect.AUDIO_HUM
    assert event.detail["channels"] == [1] and event.detail["channel"] == 1


def test_a_pure_mains_sine_is_found_by_its_steady_lines(speech: np.ndarray) -> None:
    # the model finds no pure 50 Hz sine (models/audio_artifacts.md); its steady line over 4 s
    # is hum, reported from the first measured 4 s it filled (measured every 2 s: up to 2 s
    # after it began) and with what found it
    x = np.concatenate([speech, speech[: 4 * RATE]])  # 10 s
    x = Hum(1.0, 8.0, 2, level_dbfs=-40.0, mains_hz=50.05, harmonics_db=()).apply(0, x, RATE)
    events = detect(captured(x, RATE))
    assert [e.defect for e in events] == [Defect.AUDIO_HUM], [e.describe() for e in events]
    (event,) = events
    assert 1.0 <= event.start <= 3.0 and 9.0 <= event.end <= 11.0
    assert event.detail["found_by"] == "mains lines"
    assert event.detail["channels"] == [0, 1]
    mains = event.detail["mains"]
    assert mains["mains_hz"] == pytest.approx(50.05, abs=0.05) and mains["harmonics"] == [1]
    whole = run(AudioArtifactDetector(), blocks(captured(x, RATE), RATE, len(x)))
    assert [(e.start, e.end) for e in whole] == [(event.start, event.end)]  # one 10-s block
    off = run(AudioArtifactDetector(ArtifactSettings(mains_lines=False)),
              blocks(captured(x, RATE), RATE, 1024))
    assert off == []  # the switch turns the lines off; the model alone says nothing here


def test_other_sample_rates_are_resampled(music: np.ndarray) -> None:
    from scipy.signal import resample_poly

    x = Hiss(2.0, 2.5, 1, level_dbfs=-38.0).apply(0, music, RATE)
    x = resample_poly(captured(x, RATE), 147, 160, axis=0).astype(np.float32)
    events = detect(x, rate=44100)
    assert [e.defect for e in events] == [Defect.AUDIO_HISS]


# -- training, end to end, in seconds -------------------------------------------------------------


def test_heldout_calibration_without_a_corpus_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    from training.audio_artifacts import main

    with pytest.raises(SystemExit, match="needs --corpus"):
        main(["--quick", "--heldout-calibration", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir()), "nothing is written before the error"


def test_quick_training_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       music: np.ndarray) -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    from training.audio_artifacts import main

    assert main(["--seed", "0", "--quick", "--out", str(tmp_path), "--workers", "1"]) == 0
    _, info = load_session(MODEL, directory=tmp_path)
    assert info.trained["quick"] and info.trained["seed"] == 0
    assert "QUICK run" in (tmp_path / f"{MODEL}.md").read_text()
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert isinstance(detect(captured(music, RATE)), list)  # the detector runs the new model
