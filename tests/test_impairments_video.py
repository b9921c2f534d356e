"""Video impairments: exact ground truth, untouched outside the window, deterministic, any size.

Content is ``GeneratedPicture`` (a pan over texture, a moving ball, a running timecode), so every
frame differs from the one before, as real moving content does. Frames are handed over
read-only: an impairment that wrote into its input would fail here. Block corruption is also
run on fresh noise per frame, where every damaged pixel differs from the clean one, so the mask
shows the damage map itself (grid, clusters, persistence).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import pytest

from harness.events import Defect
from harness.impairments.base import DIFF_TOLERANCE, Label
from harness.impairments.clips import impair_video
from harness.impairments.registry import IMPAIRMENTS, create, impairment_class
from harness.simulation.content import GeneratedPicture

FPS = 25.0
COUNT = 24
#: 0.2 + 0.4 is 0.6000000000000001: frame 15 at 0.6 s must fall outside the window.
AT, DURATION = 0.2, 0.4
WINDOW = range(5, 15)

CASES = [
    ("black_frames", {"level": "limited"}),
    ("black_frames", {"level": "full"}),
    ("freeze", {}),
    ("stutter", {}),
    ("solid_color", {"kind": "solid"}),
    ("solid_color", {"kind": "green"}),
    ("solid_color", {"kind": "bars"}),
    ("flicker", {}),
    ("tearing", {}),
    ("tearing", {"shift": 12, "probability": 1.0}),
    ("interlacing", {}),
    ("interlacing", {"field_order": "bottom"}),
    ("blur", {"kind": "gaussian"}),
    ("blur", {"kind": "downscale"}),
    ("block_corruption_pixel", {"mb_size": 8}),
    ("block_corruption_pixel", {"mb_size": 16}),
    ("block_corruption_pixel", {"mb_size": 32, "keyframe_interval": 0.2}),
    ("film_grain", {}),
    ("low_bitrate", {"codec": "jpeg"}),
    ("low_bitrate", {"codec": "h264"}),
    ("short_fade", {}),
]
SPATIAL = {"tearing", "interlacing", "block_corruption_pixel"}
WHOLE_PICTURE = {"black_frames", "solid_color"}
RANDOM = ["stutter", "flicker", "tearing", "block_corruption_pixel", "film_grain"]
CASE_IDS = ["-".join([name, *map(str, params.values())]) for name, params in CASES]
#: Small, HD, not a multiple of 16 (854x480), and odd (padded for 4:2:0 and for macroblocks).
SIZES = [(320, 180), (1280, 720), (854, 480), (333, 187)]
MODULES = ("video", "picture", "blocks", "lookalikes")
VIDEO_NAMES = [n for n, t in IMPAIRMENTS.items() if t.split(":")[0].split(".")[-1] in MODULES]


@lru_cache(maxsize=8)
def clip(width: int = 320, height: int = 180, count: int = COUNT) -> tuple[np.ndarray, ...]:
    picture = GeneratedPicture(width, height, FPS, seed=7)
    return tuple(_read_only(picture.frame(i)) for i in range(count))


@lru_cache(maxsize=2)
def noise_clip(width: int = 320, height: int = 192) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1)
    shape = (height, width, 3)
    return tuple(_read_only(rng.integers(0, 256, shape, np.uint8)) for _ in range(COUNT))


def _read_only(image: np.ndarray) -> np.ndarray:
    image.setflags(write=False)
    return image


def run(
    name: str, frames: tuple[np.ndarray, ...] | None = None, seed: int = 0, **params: object
) -> tuple[list[np.ndarray], list[np.ndarray | None], Label]:
    impairment = create(name, AT, DURATION, seed=seed, **params)
    images, masks, (label,) = impair_video(frames or clip(), FPS, [impairment])
    return images, masks, label


def thresholded_diff(clean: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The ground truth a spatial mask must equal, computed independently of the code."""
    diff = np.abs(clean.astype(np.int16) - image)
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > DIFF_TOLERANCE


def record(label: Label, key: str) -> list[object]:
    return [facts[key] for facts in label.frames]


# -- the contract, for every impairment ---------------------------------------------------------


def test_every_video_impairment_is_covered_and_named_consistently() -> None:
    assert VIDEO_NAMES and {name for name, _ in CASES} == set(VIDEO_NAMES)
    for name in VIDEO_NAMES:
        cls = impairment_class(name)
        assert cls.name == name
        lookalike = IMPAIRMENTS[name].startswith("harness.impairments.lookalikes:")
        assert (cls.defect == "clean") if lookalike else (cls.defect in {d.value for d in Defect})


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_contract(name: str, params: dict, size: tuple[int, int]) -> None:
    frames = clip(*size)
    images, masks, label = run(name, frames, **params)

    defect = impairment_class(name).defect
    assert (label.defect, label.start, label.end) == (defect, AT, AT + DURATION)
    assert record(label, "index") == list(WINDOW)
    assert all(label.params[key] == value for key, value in params.items())
    for index, (clean, image, mask) in enumerate(zip(frames, images, masks, strict=True)):
        assert image.shape == clean.shape and image.dtype == np.uint8
        if index not in WINDOW:
            assert image is clean and mask is None  # untouched: the very same array
        elif name in WHOLE_PICTURE:
            assert mask is not None and mask.all()
        elif name in SPATIAL:
            assert mask is not None and mask.shape == clean.shape[:2]
            np.testing.assert_array_equal(mask, thresholded_diff(clean, image))
        else:
            assert mask is None
    # some frames may show no change (a stutter frame on time, a flip without a tear)
    assert sum(not np.array_equal(images[i], frames[i]) for i in WINDOW) >= len(WINDOW) // 2
    if name in SPATIAL or name in WHOLE_PICTURE:
        ratios = [masks[i].mean() for i in WINDOW]
        assert record(label, "area_ratio") == pytest.approx(ratios)
        assert label.area_ratio == pytest.approx(max(ratios)) and label.area_ratio > 0
    else:
        assert label.area_ratio is None


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_same_seed_same_output(name: str, params: dict) -> None:
    first, first_masks, first_label = run(name, seed=3, **params)
    second, second_masks, second_label = run(name, seed=3, **params)
    assert first_label == second_label
    for a, b, mask_a, mask_b in zip(first, second, first_masks, second_masks, strict=True):
        np.testing.assert_array_equal(a, b)
        assert (mask_a is None) == (mask_b is None)
        if mask_a is not None:
            np.testing.assert_array_equal(mask_a, mask_b)


@pytest.mark.parametrize("name", RANDOM)
def test_other_seed_other_output(name: str) -> None:
    first, _, _ = run(name, seed=1)
    second, _, _ = run(name, seed=2)
    assert any(not np.array_equal(first[i], second[i]) for i in WINDOW)


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        create("blur", 0, 1, kind="motion")
    with pytest.raises(ValueError, match="mb_size"):
        create("block_corruption_pixel", 0, 1, mb_size=12)
    with pytest.raises(ValueError, match="short_fade.*1.0 s"):
        create("short_fade", 0, 1.5)


# -- temporal and whole-picture -----------------------------------------------------------------


@pytest.mark.parametrize(("level", "value"), [("limited", 16), ("full", 0)])
def test_black_frames_level(level: str, value: int) -> None:
    images, _, _ = run("black_frames", level=level)
    assert all((images[i] == value).all() for i in WINDOW)


def test_freeze_holds_the_last_frame_before_the_window() -> None:
    frames = clip()
    images, _, label = run("freeze")
    assert record(label, "source") == [WINDOW[0] - 1] * len(WINDOW)
    assert all(np.array_equal(images[i], frames[WINDOW[0] - 1]) for i in WINDOW)


def test_freeze_from_the_first_frame_holds_that_frame() -> None:
    frames = clip()
    impairment = create("freeze", 0.0, 0.2)
    images, _, (label,) = impair_video(frames, FPS, [impairment])
    assert record(label, "source") == [0] * 5
    assert all(images[i] is frames[0] for i in range(5)) and images[5] is frames[5]


@pytest.mark.parametrize("seed", range(4))
def test_stutter_shows_the_source_frames_its_label_names(seed: int) -> None:
    frames = clip()
    images, _, label = run("stutter", seed=seed, max_lag=2)
    sources = record(label, "source")
    for index, source in zip(WINDOW, sources, strict=True):
        assert images[index] is frames[source]
        assert 0 <= index - source <= 2
    assert sources[0] == WINDOW[0] - 1  # the window opens with a repeat
    steps = np.diff([WINDOW[0] - 1, *sources])
    assert set(steps) <= {0, 1, 2} and 0 in steps


def test_solid_color_kinds() -> None:
    images, _, label = run("solid_color", kind="solid", seed=5)
    assert (images[WINDOW[0]] == label.params["color"]).all()
    images, _, _ = run("solid_color", kind="green")
    assert (images[WINDOW[0]] == (0, 135, 0)).all()
    images, _, _ = run("solid_color", kind="bars")
    colours = np.unique(images[WINDOW[0]].reshape(-1, 3), axis=0)
    assert len(colours) == 7 and (images[WINDOW[0]][0] == images[WINDOW[0]][-1]).all()


def test_flicker_gain_is_the_recorded_one_and_pumps() -> None:
    frames = clip()
    images, _, label = run("flicker", depth=0.4, frequency=5.0)
    gains = record(label, "gain")
    for index, gain in zip(WINDOW, gains, strict=True):
        expected = cv2.convertScaleAbs(frames[index], alpha=gain)
        np.testing.assert_array_equal(images[index], expected)
    assert min(gains) >= 0.6 and max(gains) <= 1.0 and max(gains) - min(gains) > 0.2


# -- inside the picture -------------------------------------------------------------------------


def test_tearing_splits_at_the_recorded_row() -> None:
    frames = clip()
    images, masks, label = run("tearing", shift=6, probability=1.0)
    for facts in label.frames:
        index, row, shift = facts["index"], facts["row"], facts["shift"]
        torn, older = images[index], frames[index - 1]
        np.testing.assert_array_equal(torn[row:], frames[index][row:])
        width = torn.shape[1]
        if shift >= 0:
            np.testing.assert_array_equal(torn[:row, shift:], older[:row, : width - shift])
        else:
            np.testing.assert_array_equal(torn[:row, :shift], older[:row, -shift:])
        assert not masks[index][row:].any() and masks[index][:row].any()
    assert len(set(record(label, "row"))) > 3  # the tear rolls


@pytest.mark.parametrize(("field_order", "older_rows"), [("top", 0), ("bottom", 1)])
def test_interlacing_weaves_the_older_field(field_order: str, older_rows: int) -> None:
    frames = clip()
    images, masks, label = run("interlacing", field_order=field_order)
    for index in WINDOW:
        image = images[index]
        np.testing.assert_array_equal(image[older_rows::2], frames[index - 1][older_rows::2])
        current_rows = slice(1 - older_rows, None, 2)
        np.testing.assert_array_equal(image[current_rows], frames[index][current_rows])
        assert not masks[index][current_rows].any()
    assert record(label, "field_source") == [i - 1 for i in WINDOW]


@pytest.mark.parametrize("kind", ["gaussian", "downscale"])
def test_blur_removes_detail(kind: str) -> None:
    frames = clip(854, 480)
    images, _, _ = run("blur", frames, kind=kind)

    def sharpness(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())

    assert all(sharpness(images[i]) < 0.5 * sharpness(frames[i]) for i in WINDOW)


# -- block corruption ---------------------------------------------------------------------------


def damaged_cells(mask: np.ndarray, mb: int) -> np.ndarray:
    """Share of each macroblock's pixels in the mask (whole blocks only)."""
    rows, cols = mask.shape[0] // mb, mask.shape[1] // mb
    cells = mask[: rows * mb, : cols * mb].reshape(rows, mb, cols, mb)
    return cells.mean(axis=(1, 3))


@pytest.mark.parametrize("mb", [8, 16, 32])
def test_block_corruption_is_on_the_grid_clustered_and_within_area(mb: int) -> None:
    low, high = 0.05, 0.25
    images, masks, label = run(
        "block_corruption_pixel", noise_clip(), mb_size=mb, area=(low, high), seed=mb
    )
    block_ratios = record(label, "block_ratio")
    for index, block_ratio in zip(WINDOW, block_ratios, strict=True):
        cells = damaged_cells(masks[index], mb)
        assert ((cells > 0.95) | (cells == 0)).all()  # whole macroblocks, on the grid
        damaged = (cells > 0.95).astype(np.uint8)
        assert low <= block_ratio <= high
        assert damaged.mean() == pytest.approx(block_ratio, abs=0.02)
        components = cv2.connectedComponents(damaged, connectivity=8)[0] - 1
        assert components <= max(4, damaged.sum() // 8)  # clusters, not confetti
    assert block_ratios == sorted(block_ratios)  # spreads, never heals before a keyframe
    first, last = (damaged_cells(masks[i], mb) > 0.95 for i in (WINDOW[0], WINDOW[-1]))
    assert (last >= first).all()  # persists


def test_block_corruption_mask_skips_blocks_that_land_on_identical_content() -> None:
    still = tuple(clip()[:1]) * COUNT  # a still picture: stale blocks equal the clean ones
    images, masks, label = run("block_corruption_pixel", still, forms=("stale",))
    assert all(not masks[i].any() and np.array_equal(images[i], still[i]) for i in WINDOW)
    assert label.area_ratio == 0 and min(record(label, "block_ratio")) > 0


def test_block_corruption_forms() -> None:
    frames = noise_clip()
    first = WINDOW[0]
    images, masks, _ = run("block_corruption_pixel", frames, forms=("solid",), seed=4)
    cells = damaged_cells(masks[first], 16) > 0
    blocks = images[first].reshape(12, 16, 20, 16, 3).swapaxes(1, 2)[cells]
    assert len(blocks) and (blocks == blocks[:, :1, :1]).all()  # flat blocks
    images, masks, _ = run("block_corruption_pixel", frames, forms=("stale",), seed=4)
    damaged = masks[first]
    np.testing.assert_array_equal(images[first][damaged], frames[first - 1][damaged])
    images, masks, _ = run("block_corruption_pixel", frames, forms=("smear",), seed=4)
    cells = damaged_cells(masks[first], 16) > 0
    blocks = images[first].reshape(12, 16, 20, 16, 3).swapaxes(1, 2)[cells].astype(int)
    assert len(blocks) and (np.abs(np.diff(blocks, n=2, axis=1)) <= 1).all()  # straight down
    assert blocks.std(axis=2).mean() > 20  # in streaks: each pixel column its own
    images, masks, _ = run(
        "block_corruption_pixel", frames, forms=("stripe",), area=(0.5, 0.5), seed=4
    )
    cells = (damaged_cells(masks[first], 16) > 0).astype(np.uint8)
    assert cells.all(axis=1).any()  # runs of whole macroblock rows
    assert cv2.connectedComponents(cells, connectivity=8)[0] - 1 <= 3  # one band per cluster


def test_block_corruption_keyframe_clears_and_a_new_loss_follows() -> None:
    images, masks, label = run("block_corruption_pixel", noise_clip(), keyframe_interval=0.2)
    losses = [facts["index"] for facts in label.frames if facts.get("loss")]
    assert losses == [5, 10]
    before, after = (damaged_cells(masks[i], 16) > 0.95 for i in (9, 10))
    assert (before != after).any()


# -- look-alikes ---------------------------------------------------------------------------------


def test_film_grain_follows_luma() -> None:
    ramp = np.repeat(np.linspace(0, 255, 320, dtype=np.float32)[np.newaxis], 180, axis=0)
    gray = _read_only(cv2.cvtColor(ramp.astype(np.uint8), cv2.COLOR_GRAY2BGR))
    images, _, _ = run("film_grain", (gray,) * COUNT, strength=8.0)
    grain = images[WINDOW[0]].astype(np.float32) - gray
    assert grain[:, 150:170].std() > 2.5 * grain[:, 5:20].std() > 0
    assert not np.array_equal(images[WINDOW[0]], images[WINDOW[1]])  # fresh every frame


@pytest.mark.parametrize("codec", ["jpeg", "h264"])
def test_low_bitrate_is_degraded_but_intact(codec: str) -> None:
    frames = clip(333, 187)
    images, _, _ = run("low_bitrate", frames, codec=codec)
    for index in WINDOW:
        assert 22 < cv2.PSNR(images[index], frames[index]) < 40


def test_short_fade_goes_to_black_and_back() -> None:
    frames = clip()
    images, _, label = run("short_fade", hold=0.08)
    gains = record(label, "gain")
    assert gains[0] == 1.0 and min(gains) == 0.0 and gains.count(0.0) >= 2
    assert gains[: gains.index(0.0)] == sorted(gains[: gains.index(0.0)], reverse=True)
    assert 0 < gains[-1] < 1
    assert all(not images[i].any() for i, g in zip(WINDOW, gains, strict=True) if g == 0)
    assert images[WINDOW[-1] + 1] is frames[WINDOW[-1] + 1]


# -- clips --------------------------------------------------------------------------------------


def test_impair_video_stacks_impairments_and_ors_masks() -> None:
    frames = clip()

    def stack() -> list:
        return [create("tearing", 0.2, 0.4, seed=1), create("block_corruption_pixel", 0.4, 0.4),
                create("film_grain", 0.0, 0.1)]

    images, masks, labels = impair_video(frames, FPS, stack())
    assert [label.defect for label in labels] == ["tearing", "block_corruption", "clean"]
    tearing, blocks, grain = stack()
    torn, torn_masks, _ = impair_video(frames, FPS, [tearing])
    corrupted, block_masks, _ = impair_video(torn, FPS, [blocks])
    grainy, _, _ = impair_video(corrupted, FPS, [grain])
    for index in range(COUNT):
        np.testing.assert_array_equal(images[index], grainy[index])
        parts = [m for m in (torn_masks[index], block_masks[index]) if m is not None]
        if parts:
            np.testing.assert_array_equal(masks[index], np.logical_or.reduce(parts))
        else:
            assert masks[index] is None
    assert masks[12] is not None and images[20] is frames[20]
