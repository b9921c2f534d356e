"""Real bitstream damage: blocky, inside its span only, exact mask and label, reproducible."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harness.impairments.base import ImpairedFrame
from harness.impairments.bitstream import BitstreamCorruption
from harness.impairments.registry import create
from tests.video_content import photo, view

FPS = 25
AT, DURATION, GOP = 0.8, 0.4, 25  # window frames 20..29; the encoder starts 1..25 frames before
STRONG = {"rate": 0.2, "burst": 4.0}  # one slice per picture: a hit ruins the rest of it
SMALL = {"slices": 8, "rate": 0.005, "burst": 1.0}  # short bursts, damage kept to slice bands


def panning(width: int, height: int, count: int = 60) -> list[np.ndarray]:
    """A camera pan over a photo-like picture: texture, hard edges and motion to conceal."""
    canvas = photo(np.random.default_rng(0), width * 2, height)
    return [view(canvas, 3.0 * i, 0.0, width, height) for i in range(count)]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return panning(320, 180)


def run(impairment: BitstreamCorruption, frames: list[np.ndarray]) -> list[ImpairedFrame]:
    return [impairment.apply(i, i / FPS, frame) for i, frame in enumerate(frames)]


def impaired(seed: int = 0, **params: object) -> BitstreamCorruption:
    return BitstreamCorruption(AT, DURATION, seed=seed, **{"gop": GOP, **params})


def clean_twin(seed: int = 0, **params: object) -> BitstreamCorruption:
    """The same impairment with a channel that hits nothing: it shows the clean decode."""
    twin = impaired(seed, **params)
    twin._damage = lambda access_unit: access_unit  # type: ignore[method-assign]
    return twin


def max_channel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)


def grid_ratio(picture: np.ndarray, reference: np.ndarray) -> float:
    """How much stronger the error steps across 16-pixel macroblock edges than elsewhere.

    Concealment copies whole macroblocks, so its error changes abruptly on the macroblock grid;
    noise or a smooth distortion gives about 1.
    """
    error = picture.astype(np.float32) - reference.astype(np.float32)
    steps_x = np.abs(np.diff(error, axis=1)).mean(axis=(0, 2))  # step between columns j, j + 1
    steps_y = np.abs(np.diff(error, axis=0)).mean(axis=(1, 2))
    on_grid = [steps[15::16].mean() / steps.mean() for steps in (steps_x, steps_y)]
    return float(np.mean(on_grid))


def test_registered_under_its_name() -> None:
    impairment = create("block_corruption_bitstream", AT, DURATION, seed=1, rate=0.1)
    assert isinstance(impairment, BitstreamCorruption)
    assert impairment.defect == "block_corruption"


def test_mask_is_exactly_the_thresholded_difference_to_the_clean_decode(frames) -> None:
    impairment = impaired(1, **STRONG)
    damaged, references = [], []
    for i, frame in enumerate(frames):
        damaged.append(impairment.apply(i, i / FPS, frame))
        references.append(impairment.reference)
    clean = run(clean_twin(1, **STRONG), frames)
    decoded = [i for i, out in enumerate(damaged) if out.mask is not None]
    assert decoded and any(damaged[i].mask.any() for i in decoded)
    assert all((references[i] is None) == (i not in decoded) for i in range(len(frames)))
    for i in decoded:
        np.testing.assert_array_equal(references[i], clean[i].image)
        assert clean[i].mask is not None and not clean[i].mask.any()  # decoders agree bit-exactly
        expected = max_channel_diff(damaged[i].image, clean[i].image) > 8
        np.testing.assert_array_equal(damaged[i].mask, expected)
        # the twin shows a real decode of the input: close, not equal (compression loss)
        assert cv2.PSNR(clean[i].image, frames[i]) > 30.0
        assert not np.array_equal(clean[i].image, frames[i])


def test_untouched_before_the_encoder_and_after_recovery(frames) -> None:
    impairment = impaired(1, **STRONG)
    outs = run(impairment, frames)
    first_window_frame = round(AT * FPS)
    encoder_start = max(first_window_frame - impairment.phase, 1)  # frame 1 knows the interval
    recovery = next(i for i in range(first_window_frame + 1, len(frames)) if outs[i].mask is None)
    for i, (frame, out) in enumerate(zip(frames, outs, strict=True)):
        if i < encoder_start or i >= recovery:
            assert out.mask is None and out.image is frame
        else:
            assert out.mask is not None and out.image.shape == frame.shape
    assert (recovery - encoder_start) % GOP == 0  # the first keyframe after the window
    assert not any(outs[i].mask.any() for i in range(encoder_start, first_window_frame))


def test_label_spans_the_visible_damage_until_the_keyframe(frames) -> None:
    impairment = impaired(1, **STRONG)
    outs = run(impairment, frames)
    damaged = [i for i, out in enumerate(outs) if out.mask is not None and out.mask.any()]
    label = impairment.label()
    assert label.defect == "block_corruption"
    assert label.start == damaged[0] / FPS >= AT
    assert label.end == (damaged[-1] + 1) / FPS
    assert label.end > AT + DURATION  # the damage outlived the window
    assert all(out.area_ratio == 0.0 for out in outs[damaged[-1] + 1 :])
    assert label.frames == [{"index": i, "area_ratio": outs[i].area_ratio}
                                      for i in range(damaged[0], damaged[-1] + 1)]
    assert label.area_ratio == max(out.area_ratio for out in outs)
    assert label.params["tolerance"] == 8 and label.params["kind"] == "loss"


def test_stream_ending_while_damaged_ends_the_label_one_frame_later(frames) -> None:
    impairment = impaired(1, **STRONG)
    outs = run(impairment, frames[:27])
    assert outs[-1].mask.any()
    assert impairment.label().end == pytest.approx(27 / FPS)


def test_label_is_empty_when_no_frame_was_damaged(frames) -> None:
    impairment = impaired(1, **STRONG)
    run(impairment, frames[:15])  # the stream ends before the window
    label = impairment.label()
    assert (label.start, label.end, label.area_ratio, label.frames) == (AT, AT, 0.0, [])


def test_strong_damage_is_blocky_and_covers_much_of_the_picture(frames) -> None:
    impairment = impaired(1, **STRONG)
    damaged = run(impairment, frames)
    clean = run(clean_twin(1, **STRONG), frames)
    assert impairment.label().area_ratio > 0.3
    ratios = [grid_ratio(d.image, c.image) for d, c in zip(damaged, clean, strict=True)
              if d.mask is not None and d.mask.any()]
    assert np.median(ratios) > 1.2
    noisy = np.clip(clean[25].image + np.random.default_rng(0).normal(0, 12, clean[25].image.shape),
                    0, 255).astype(np.uint8)
    assert grid_ratio(noisy, clean[25].image) < 1.1  # the measure does not call noise blocky


@pytest.mark.parametrize(
    ("params", "low", "high"),
    [
        (SMALL, 0.0, 0.07),
        ({**SMALL, "kind": "errors"}, 0.0, 0.07),
        (STRONG, 0.3, 1.0),
        ({"kind": "errors", "rate": 0.1, "burst": 8.0}, 0.3, 1.0),
    ],
)
def test_parameters_reach_small_and_large_areas(frames, params, low, high) -> None:
    impairment = impaired(5, **params)
    run(impairment, frames)
    assert low < impairment.label().area_ratio < high


def test_same_seed_same_damage_other_seed_other_damage(frames) -> None:
    first, again, other = (run(impaired(seed, **STRONG), frames) for seed in (7, 7, 8))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        assert (a.mask is None) == (b.mask is None)
        if a.mask is not None:
            np.testing.assert_array_equal(a.mask, b.mask)
    assert any(not np.array_equal(a.image, c.image) for a, c in zip(first, other, strict=True))


@pytest.mark.parametrize(("width", "height"), [(320, 180), (854, 480), (161, 91)])
def test_any_picture_size(width: int, height: int) -> None:
    pictures = panning(width, height, count=40)
    impairment = impaired(2, rate=0.1, burst=4.0)
    outs = run(impairment, pictures)
    assert impairment.label().area_ratio > 0.0
    for out in outs:
        assert out.image.shape == (height, width, 3) and out.image.dtype == np.uint8
        assert out.mask is None or out.mask.shape == (height, width)


@pytest.mark.parametrize(
    "params",
    [{"kind": "drop"}, {"rate": 0.0}, {"rate": 0.6}, {"burst": 0.5}, {"slices": 0}, {"gop": 0}],
)
def test_rejects_bad_parameters(params) -> None:
    with pytest.raises(ValueError, match="block_corruption_bitstream"):
        impaired(**params)
