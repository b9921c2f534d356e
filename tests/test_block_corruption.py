"""Block corruption: the shipped model through the detector on both sides, its geometry, its
evidence, bad-model errors, and a tiny end-to-end training run.

Content is built here (tests/video_content.py) and impaired by the project's own simulators, so
the tests need no corpus: real H.264 bitstream damage and pixel-domain damage must be found; a
crowd, a fast pan, film grain, a night scene and legitimately starved compression, all through a
capture card's path, must not be.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.detectors.video.block_corruption import (
    BlockCorruptionDetector,
    BlockCorruptionSettings,
)
from harness.detectors.video.corruption_map import (
    CorruptionMapModel,
    MapResult,
    analysis_picture,
    analysis_size,
)
from harness.errors import ModelError
from harness.impairments.registry import create
from harness.inference import MODELS_ENV, models_dir
from tests.video_content import DAMAGE_WINDOW, FPS, SCENES, capture, detect, impaired, scene

FRAMES = 50  #: two seconds at 25 fps


@pytest.fixture(scope="module")
def detector_settings() -> BlockCorruptionSettings:
    return BlockCorruptionSettings()


def _pictures(kind: str, seed: int) -> list[np.ndarray]:
    return scene(kind, seed, FRAMES)


def _impaired(pictures: list[np.ndarray], impairment: str, **params: object) -> list[np.ndarray]:
    return impaired(pictures, impairment, **params)


def _run(pictures: list[np.ndarray], settings: BlockCorruptionSettings, seed: int = 0):
    frames = capture(pictures, np.random.default_rng(seed), quality=90, noise_sigma=1.0)
    return detect(BlockCorruptionDetector(settings), frames)


def test_analysis_size_keeps_regions_whole() -> None:
    assert analysis_size(1920, 1080, (960, 544)) == (960, 544)
    assert analysis_size(1280, 720, (960, 544)) == (960, 544)
    assert analysis_size(640, 360, (960, 544)) == (640, 352)  # never scaled up
    assert analysis_size(3840, 2160, (480, 272)) == (480, 256)  # 270 rounds to 8 regions
    width, height = analysis_size(176, 144, (960, 544))
    assert width % 32 == 0 and height % 32 == 0


def test_shipped_model_loads_and_maps_any_size() -> None:
    model = CorruptionMapModel()
    assert model.info.input["name"] == "image"
    for width, height in ((1920, 1080), (640, 360), (176, 144)):
        picture = analysis_picture(np.full((height, width, 3), 128, np.uint8), (960, 544))
        result = model(picture)
        assert result.probabilities.shape == (picture.shape[0] // 32, picture.shape[1] // 32)
        assert 0.0 <= result.frame_probability <= 1.0
        assert 0.0 <= result.area_ratio <= 1.0
    assert model(analysis_picture(np.zeros((1080, 1920, 3), np.uint8), (960, 544))
                 ).probabilities.shape == (17, 30)


def test_the_cell_threshold_comes_from_the_manifest(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = json.loads((models_dir() / "manifest.json").read_text())
    manifest["block_corruption"]["trained"]["thresholds"]["cell_probability"] = 0.9
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(models_dir() / "block_corruption.onnx", tmp_path)
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    model = CorruptionMapModel()
    assert model.cell_threshold == 0.9
    result = model(analysis_picture(np.full((360, 640, 3), 128, np.uint8), (960, 544)))
    assert result.cell_threshold == 0.9
    probabilities = np.linspace(0.0, 1.0, result.probabilities.size).reshape(
        result.probabilities.shape)
    shifted = MapResult(probabilities, result.frame_probability, model.cell_threshold)
    assert shifted.area_ratio == pytest.approx(np.mean(probabilities >= 0.9))
    assert MapResult(probabilities, 0.0).area_ratio == pytest.approx(np.mean(probabilities >= 0.5))


#: Known misses and false alarms of the shipped model (test-split F1 0.32 at its validated
#: threshold, models/block_corruption.md): strict, so a better model turns them into failures
#: that say "remove the mark".
BELOW_TARGET = pytest.mark.xfail(
    strict=True, reason="model below its accuracy target: see models/block_corruption.md")


@pytest.mark.parametrize(
    ("impairment", "params"),
    [
        pytest.param("block_corruption_bitstream",
                     {"rate": 0.05, "burst": 6.0, "slices": 4, "gop": 50}, marks=BELOW_TARGET),
        pytest.param("block_corruption_pixel", {"mb_size": 16, "area": (0.15, 0.3)},
                     marks=BELOW_TARGET),
        ("block_corruption_pixel", {"mb_size": 8, "area": (0.15, 0.3), "forms": ["solid"]}),
        ("block_corruption_pixel", {"mb_size": 16, "area": (0.3, 0.45), "forms": ["solid"]}),
    ],
)
def test_corruption_is_found_in_its_window(
    impairment: str, params: dict, detector_settings: BlockCorruptionSettings
) -> None:
    events = _run(_impaired(_pictures("photo", 1), impairment, **params), detector_settings)
    assert events, f"{impairment} was not found"
    event = max(events, key=lambda e: e.detail["area_ratio"])
    start, duration = DAMAGE_WINDOW
    assert start - 0.1 <= event.start <= start + duration
    assert event.detail["area_ratio"] > 0.07
    assert [label for label, _ in event.evidence.frames] == ["before", "at"]
    heat_map = event.evidence.heat_map
    assert heat_map.shape == (11, 20)
    cells = heat_map >= event.evidence.heat_map_threshold
    assert cells.mean() == pytest.approx(event.detail["area_ratio"], abs=1e-3)


@pytest.mark.parametrize("kind", SCENES)
def test_clean_content_is_not_flagged(kind: str, detector_settings: BlockCorruptionSettings
                                      ) -> None:
    every_frame = detector_settings.model_copy(update={"every": 1})
    assert _run(_pictures(kind, 2), every_frame) == []


@pytest.mark.parametrize("params", [{"codec": "jpeg", "quality": 10},
                                    {"codec": "h264", "crf": 44}])
def test_legitimate_low_bitrate_is_not_flagged(
    params: dict, detector_settings: BlockCorruptionSettings
) -> None:
    pictures = _impaired(_pictures("photo", 4), "low_bitrate", **params)
    assert _run(pictures, detector_settings.model_copy(update={"every": 1})) == []


def test_every_nth_frame_still_catches_a_three_frame_defect(
    detector_settings: BlockCorruptionSettings
) -> None:
    pictures = _pictures("photo", 5)
    instance = create("block_corruption_pixel", 20 / FPS, 3 / FPS, seed=1,
                      mb_size=16, area=(0.25, 0.35), forms=["solid"])
    damaged = [instance.apply(i, i / FPS, p).image for i, p in enumerate(pictures)]
    for phase in range(3):
        settings = detector_settings.model_copy(update={"every": 3})
        frames = capture(damaged, np.random.default_rng(0), quality=90, noise_sigma=1.0)
        events = detect(BlockCorruptionDetector(settings), frames[phase:])
        assert len(events) == 1, f"phase {phase}: {events}"


def test_missing_or_altered_model_says_what_to_do(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(models_dir() / "manifest.json", tmp_path / "manifest.json")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(ModelError, match="missing.*git checkout"):
        BlockCorruptionDetector()
    (tmp_path / "block_corruption.onnx").write_bytes(b"version https://git-lfs pointer")
    with pytest.raises(ModelError, match="does not match its manifest"):
        BlockCorruptionDetector()


def test_quick_training_run_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    from training.block_corruption import main

    assert main(["--seed", "0", "--quick", "--out", str(tmp_path), "--work",
                 str(tmp_path / "work"), "--workers", "1"]) == 0
    entry = json.loads((tmp_path / "manifest.json").read_text())["block_corruption"]
    thresholds = entry["trained"]["thresholds"]
    assert set(thresholds) == {"area_ratio", "cell_probability", "probability", "blockdetect"}
    card = (tmp_path / "block_corruption.md").read_text()
    assert "FFmpeg blockdetect" in card and "| 960 x 544 |" in card
    from training.block_eval import CELL_LEVELS, FrameScores

    saved = FrameScores.load(tmp_path / "work" / "quick" / "test-scores.npz")
    truth, kind, scores = saved.arrays()
    assert len(truth) == len(kind) == saved.clips[-1][1] > 0
    assert set(scores) == {"probability", "blockdetect",
                           *(f"area@{level}" for level in CELL_LEVELS)}
    assert all(len(values) == len(truth) for values in scores.values())

    onnx = (tmp_path / "block_corruption.onnx").read_bytes()
    assert main(["--seed", "0", "--quick", "--out", str(tmp_path), "--work",
                 str(tmp_path / "work"), "--workers", "1", "--evaluate-only"]) == 0
    again = json.loads((tmp_path / "manifest.json").read_text())["block_corruption"]
    assert (tmp_path / "block_corruption.onnx").read_bytes() == onnx
    assert again["sha256"] == entry["sha256"] and "reevaluation_minutes" in again["trained"]
    assert again["trained"]["train_pictures"] == entry["trained"]["train_pictures"]
    assert "re-evaluation of the same ONNX" in (tmp_path / "block_corruption.md").read_text()


def test_training_pictures_are_reused_clip_by_clip(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    from dataclasses import replace

    from training.block_corruption import Plan, build_training_set

    plan = Plan.for_run(quick=True)
    first = build_training_set(None, tmp_path, 0, plan, workers=1)
    assert "rendering 4 training clips, reusing 0" in capsys.readouterr().out
    stored = {path.name: path.stat().st_mtime_ns for path in tmp_path.glob("clip-*.npy")}
    index = tmp_path / "index.jsonl"
    rows = [json.loads(line) for line in index.read_text().splitlines()]
    rows[1]["key"] = "rendered by an older simulator"
    index.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "net-share-seed0.pt").write_bytes(b"a network trained on these pictures")

    again = build_training_set(None, tmp_path, 0, plan, workers=1)
    assert "rendering 1 training clips, reusing 3" in capsys.readouterr().out
    changed = {path.name for path in tmp_path.glob("clip-*.npy")
               if path.stat().st_mtime_ns != stored[path.name]}
    assert changed == {"clip-0001.pictures.npy", "clip-0001.targets.npy"}
    assert len(again.pictures) == len(first.pictures)
    np.testing.assert_array_equal(again.area_ratio, first.area_ratio)  # rendered the same
    assert (tmp_path / "net-share-seed0.pt").exists()  # the same pictures: still valid

    other = build_training_set(None, tmp_path, 0, replace(plan, train_clips=3), workers=1)
    assert len(other.area_ratio) != len(first.area_ratio)
    assert not (tmp_path / "net-share-seed0.pt").exists()  # trained on another set


def test_truth_forgives_right_content_a_pixel_off_but_not_broken_or_stale_blocks() -> None:
    """Concealment that copies the right texture a pixel off is intact to the eye; a grey block,
    or texture displaced by a whole 4 px (a block left behind in a pan), is damage."""
    from training.block_data import visible_damage

    texture = np.random.default_rng(0).integers(0, 256, (96, 128, 3), np.uint8)
    nudged, grey, stale = texture.copy(), texture.copy(), texture.copy()
    nudged[32:64, 32:64] = texture[33:65, 31:63]  # the block's content 1 px off
    grey[32:64, 32:64] = 128
    stale[32:64, 32:64] = texture[36:68, 28:60]  # 4 px off
    assert not visible_damage(texture, nudged).any()
    assert visible_damage(texture, nudged, displacement=0)[32:64, 32:64].mean() > 0.5
    for damaged in (grey, stale):
        mask = visible_damage(texture, damaged)
        assert mask[32:64, 32:64].mean() > 0.5 and not mask[:32].any()


def test_training_target_saturates_with_the_visibly_corrupted_share() -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    from training.block_net import RECIPES

    recipe = RECIPES["ramp-jitter"]
    assert recipe.cell_share_ramp is not None
    low, high = recipe.cell_share_ramp
    shares = np.array([0.0, low / 2, low, (low + high) / 2, high, 0.5, 1.0])
    assert RECIPES["share"].cell_target(shares).tolist() == pytest.approx(shares.tolist())
    targets = recipe.cell_target(shares)
    assert targets.tolist()[:3] == [0.0, 0.0, 0.0], "a few stray pixels are not damage"
    assert targets[3] == pytest.approx(0.5)
    assert targets.tolist()[4:] == [1.0, 1.0, 1.0], "a cell a tenth broken is broken"


def test_each_recipe_makes_its_targets_and_trains_a_step() -> None:
    """The same first batch under both recipes (same seed): raw or saturated targets, plain or
    jittered colours; then one training step each on a tiny set."""
    pytest.importorskip("torch", reason="training needs the train extra")
    from training.block_data import TrainingSet
    from training.block_net import RECIPES, _batch, train

    rng = np.random.default_rng(0)
    shares = np.zeros((8, 8), np.float32)
    shares[2:5, 2:5] = 0.08  # partly visible damage: target 0.08 (share) or 0.6 (ramp)
    data = TrainingSet([rng.integers(0, 256, (256, 256, 3), np.uint8) for _ in range(2)],
                       [shares, np.zeros_like(shares)], np.array([0.0, 0.0], np.float32))
    plain = _batch(data, np.random.default_rng(1), 4, 256, RECIPES["share"])
    ramped = _batch(data, np.random.default_rng(1), 4, 256, RECIPES["ramp-jitter"])
    assert plain[1].max().item() == pytest.approx(0.08)
    assert ramped[1].max().item() == pytest.approx(0.6)
    assert not np.allclose(plain[0].numpy(), ramped[0].numpy()), "colours are jittered"
    for recipe in RECIPES.values():
        train(data, seed=0, steps=1, batch=2, recipe=recipe, progress=lambda line: None)


def test_heat_map_evidence_is_drawn_over_the_at_frame() -> None:
    from fractions import Fraction

    import cv2

    from harness.events import Event, Evidence
    from harness.media import VideoFrame
    from harness.report.allure import heat_map

    picture = np.full((352, 640, 3), 128, np.uint8)
    probabilities = np.zeros((11, 20), np.float32)
    probabilities[2, 3] = 0.9  # the region x 96-127, y 64-95
    frame = VideoFrame.from_bgr(picture, 25, Fraction(1, 25))
    event = Event("block_corruption", 1.0, 1.4, 0.9, {"area_ratio": 0.0045},
                  Evidence(frames=[("at", frame)], heat_map=probabilities))
    (attachment,) = heat_map("sim01", event)
    assert attachment.name.endswith("heat map") and attachment.mime == "image/png"
    image = cv2.imdecode(np.frombuffer(attachment.body, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 640 and image.shape[0] > 352  # the picture above its caption
    red = (image[:352, :, 2] > 200) & (image[:352, :, 1] < 80)
    rows, columns = np.nonzero(red)
    assert rows.min() == 64 and rows.max() == 95 and columns.min() == 96 and columns.max() == 127
    stricter = Event("block_corruption", 1.0, 1.4, 0.9, {},
                     Evidence(frames=[("at", frame)], heat_map=probabilities,
                              heat_map_threshold=0.95))
    (attachment,) = heat_map("sim01", stricter)
    image = cv2.imdecode(np.frombuffer(attachment.body, np.uint8), cv2.IMREAD_COLOR)
    assert not np.any((image[:352, :, 2] > 200) & (image[:352, :, 1] < 80))  # 0.9 < 0.95
    no_map = Event("block_corruption", 1.0, 1.4, 0.9, {}, Evidence(frames=[("at", frame)]))
    assert list(heat_map("sim01", no_map)) == []


def test_threshold_selection_keeps_inside_the_suites_bounds() -> None:
    from training.block_eval import choose_threshold

    truth = np.array([0.2] * 10 + [0.0] * 990)  # 10 corrupted frames, 990 clean
    kind = np.array(["pixel"] * 10 + ["photo"] * 990)
    score = np.concatenate([np.linspace(0.05, 0.5, 10), np.linspace(0.0, 0.1, 990)])
    free = choose_threshold(truth, kind, score)
    assert free.within_budget and free.within_bounds
    bounded = choose_threshold(truth, kind, score, bounds=(0.2, 0.3))
    assert 0.2 <= bounded.threshold < 0.3 and bounded.within_bounds and bounded.within_budget
    # nothing inside the bounds keeps the clean frames within budget: the bounds still hold
    crowded = choose_threshold(truth, kind, score, bounds=(0.0, 0.05))
    assert crowded.within_bounds and not crowded.within_budget
    assert 0.0 <= crowded.threshold < 0.05
    # the suite allows nothing: the budget alone decides, as without bounds
    impossible = choose_threshold(truth, kind, score, bounds=(0.4, 0.1))
    assert not impossible.within_bounds and impossible.threshold == free.threshold


def test_suite_bounds_lie_between_clean_cases_and_must_find_damage() -> None:
    from training.block_suite import CASES, CaseResult, area_bounds

    areas = {False: 0.05, True: 0.2, None: 0.9}  # a known miss bounds nothing, however large
    results = [CaseResult(case, {0.8: areas[case.expect] + 0.01 * i}, 0.5)
               for i, case in enumerate(CASES)]
    low, high = area_bounds(results, 0.8)
    clean = [r.area_at[0.8] for r in results if r.case.expect is False]
    found = [r.area_at[0.8] for r in results if r.case.expect is True]
    assert low == max(clean) and high == min(found) and low < high
