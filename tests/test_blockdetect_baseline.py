"""The blockdetect baseline of issue 4: real ffmpeg scores per frame, and the F1-tuned threshold.

Pictures are made here: a smooth shaded image, the same image averaged over 8x8 blocks (the
look of a coarse-quantised or damaged codec picture), and fine texture (blurred noise). A little
noise on each keeps them natural: without it flat blocks score +inf.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from training import blockdetect
from training.blockdetect import BlockdetectError, best_f1_threshold, blockdetect_scores

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

HEIGHT, WIDTH = 144, 192


def _bgr(gray: np.ndarray, seed: int) -> np.ndarray:
    noisy = gray + np.random.default_rng(seed).normal(0, 1.5, gray.shape)
    return np.repeat(np.clip(noisy, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _smooth() -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return 40 + 150 * (0.5 + 0.5 * np.sin(x / 37) * np.cos(y / 23))


def _blocky() -> np.ndarray:
    blocks = _smooth().reshape(HEIGHT // 8, 8, WIDTH // 8, 8).mean(axis=(1, 3), keepdims=True)
    return np.broadcast_to(blocks, (HEIGHT // 8, 8, WIDTH // 8, 8)).reshape(HEIGHT, WIDTH)


def _texture() -> np.ndarray:
    return 128 + 60 * gaussian_filter(np.random.default_rng(7).normal(0, 1, (HEIGHT, WIDTH)), 1.0)


@needs_ffmpeg
def test_blocking_scores_clearly_above_smooth_and_textured_pictures() -> None:
    blocky, smooth, texture = blockdetect_scores(
        [_bgr(_blocky(), 1), _bgr(_smooth(), 1), _bgr(_texture(), 1)])

    assert smooth < 1.3 and texture < 1.3
    assert blocky > 3 * max(smooth, texture)


@needs_ffmpeg
def test_each_frame_scored_alone_in_input_order_across_chunks() -> None:
    """Alternating frames, more than one chunk: blockdetect's sums would carry the blocky
    frames' score into the smooth ones if the frames shared a filter instance."""
    blocky, smooth = _bgr(_blocky(), 1), _bgr(_smooth(), 1)
    count = blockdetect.MAX_CHUNK + 6
    scores = blockdetect_scores(blocky if i % 2 == 0 else smooth for i in range(count))

    assert scores.shape == (count,)
    assert np.all(scores[0::2] == blockdetect_scores([blocky])[0])
    assert np.all(scores[1::2] == blockdetect_scores([smooth])[0])


@needs_ffmpeg
def test_flat_frame_scores_zero_not_nan() -> None:
    assert blockdetect_scores([np.zeros((HEIGHT, WIDTH, 3), np.uint8)]).tolist() == [0.0]


def test_no_frames_no_scores() -> None:
    assert blockdetect_scores([]).shape == (0,)


@pytest.mark.parametrize("second", [np.zeros((HEIGHT, WIDTH + 8, 3), np.uint8),
                                    np.zeros((HEIGHT, WIDTH), np.uint8),
                                    np.zeros((HEIGHT, WIDTH, 3), np.float32)])
def test_bad_frames_raise_before_ffmpeg_runs(monkeypatch: pytest.MonkeyPatch,
                                             second: np.ndarray) -> None:
    monkeypatch.setattr(blockdetect, "FFMPEG", "/nonexistent/ffmpeg")  # a run would fail
    with pytest.raises(ValueError, match="frame 1"):
        blockdetect_scores([np.zeros((HEIGHT, WIDTH, 3), np.uint8), second])


def test_missing_ffmpeg_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockdetect, "FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(BlockdetectError, match="cannot run '/nonexistent/ffmpeg'"):
        blockdetect_scores([_bgr(_smooth(), 1)])


@needs_ffmpeg
def test_ffmpeg_failure_carries_its_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockdetect, "PERIOD_MAX", 99)  # outside the filter's 2..64
    with pytest.raises(BlockdetectError, match="period_max.*out of range"):
        blockdetect_scores([_bgr(_smooth(), 1)])


def test_best_threshold_treats_tied_scores_as_one_decision() -> None:
    """Flagging above 1.5 catches 3 of 4 positives, no false alarm: F1 6/7. Splitting the tie
    at 1.2 (a positive listed first) would seem to give 8/9, but no threshold can do that."""
    scores = np.array([1.0, 1.2, 1.2, 1.5, 2.0, 2.0, 3.0])
    positive = np.array([False, True, False, False, True, True, True])

    assert best_f1_threshold(scores, positive) == (1.5, pytest.approx(6 / 7))


def test_best_threshold_flags_everything_with_minus_infinity() -> None:
    assert best_f1_threshold(np.array([1.0, 2.0]), np.array([True, True])) == (-np.inf, 1.0)


def test_best_threshold_matches_brute_force_with_many_ties() -> None:
    rng = np.random.default_rng(3)
    scores = np.append(rng.integers(0, 12, 300).astype(float), np.inf)
    positive = rng.random(301) < 0.3 + 0.05 * np.minimum(scores, 12)
    candidates = np.append(np.unique(scores), -np.inf)
    flagged = scores[None, :] > candidates[:, None]
    true_pos = (flagged & positive).sum(1)
    f1 = 2 * true_pos / (flagged.sum(1) + positive.sum())

    threshold, best = best_f1_threshold(scores, positive)

    assert best == pytest.approx(f1.max())
    assert f1[candidates == threshold][0] == pytest.approx(f1.max())


@pytest.mark.parametrize(("scores", "positive", "message"), [
    ([1.0, np.nan], [True, False], "nan"),
    ([1.0, 2.0], [False, False], "no positive"),
    ([1.0, 2.0], [True], "as many labels"),
])
def test_best_threshold_rejects_unusable_input(scores: list[float], positive: list[bool],
                                               message: str) -> None:
    with pytest.raises(ValueError, match=message):
        best_f1_threshold(np.array(scores), np.array(positive))
