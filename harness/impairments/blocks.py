"""Block corruption in the pixel domain: what a decoder shows when part of the stream is lost.

The detector must generalise from this to real bitstream damage (``bitstream.py``), so this
imitates how real damage looks rather than drawing random squares:

* **On the macroblock grid, in clusters.** A lost or garbled slice damages a run of macroblocks
  in raster order: a horizontal band with ragged ends (a *slice stripe*); garbled data damages a
  patch around where it was decoded (a *blob*, wider than tall, with an irregular edge). Damage
  is never uniform confetti.
* **Filled the way error concealment fills it.** *Displaced* blocks are predicted with wrong
  motion vectors: content from elsewhere in the previous (already damaged) picture, so damage
  drags and smears from frame to frame. *Solid* blocks are flat: mid-grey where nothing was
  decoded, decoder green where a YUV buffer was left at zero, or each block's mean colour where
  its detail was lost (a mosaic). *Stale* blocks are the co-located blocks of the picture before
  the damage, frozen while the rest of the picture moves on. *Smeared* blocks are spatial
  concealment with nothing to copy from: each pixel column of the hole is interpolated between
  the intact row above it and the one below, so a lost slice shows as vertical streaks -- over
  smooth content they break no texture, which is what makes them hard to see for a detector.
* **Persisting and spreading until a keyframe.** Later frames predict from the damaged picture,
  so damage stays and grows into neighbouring blocks (by ``growth`` of its size per frame, up to
  a limit) until a keyframe clears it. The window's end is that keyframe; ``keyframe_interval``
  adds keyframes inside the window, each followed at once by a new loss.

A loss damages a share of the macroblocks drawn from ``area``; spreading then takes it up to a
second draw between that and ``area``'s top, so the damaged-block share of every frame stays
within ``area``. The mask is the pixels that differ from the clean frame by more than
``DIFF_TOLERANCE`` (a stale block where nothing moved, or a displaced one that lands on the same
content, is not counted), so the per-frame ``area_ratio`` in the label can be below the
damaged-block share (``block_ratio``, also recorded per frame), never above it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.events import Defect
from harness.impairments._frames import FrameImpairment, check_choice
from harness.impairments.base import TIME_EPSILON, ImpairedFrame, changed

# What fills a damaged macroblock (codes in the damage map; 0 = intact).
DISPLACED, SOLID, STALE, SMEARED = 1, 2, 3, 4
_FILLS = {"displaced": DISPLACED, "solid": SOLID, "stale": STALE, "smear": SMEARED}
#: Flat colours of undecoded blocks (BGR): mid-grey, and YUV 0, 0, 0 seen as BGR.
_FLAT_COLORS = ((128, 128, 128), (0, 135, 0))
#: Neighbour offsets a spreading block inherits its fill from, first match wins.
_NEIGHBOURS = ((0, -1), (-1, 0), (0, 1), (1, 0))


class PixelBlockCorruption(FrameImpairment):
    """Clustered, persistent macroblock damage: displaced, solid, stale or smeared blocks and
    slice stripes.

    ``mb_size``: macroblock side (8, 16 or 32 pixels). ``area``: (low, high) share of the
    macroblocks damaged per frame. ``forms``: what a loss may produce, each cluster drawing one:
    ``"displaced"``, ``"solid"``, ``"stale"`` and ``"smear"`` blobs, or a ``"stripe"`` filled in
    one of the ways ``forms`` names (in any of the four when it names none).
    ``growth``: share by which damage spreads per frame.
    ``keyframe_interval``: seconds between keyframes inside the window (None: damage lasts the
    whole window).
    """

    name = "block_corruption_pixel"
    defect = Defect.BLOCK_CORRUPTION.value
    FORMS = ("displaced", "solid", "stale", "smear", "stripe")
    MB_SIZES = (8, 16, 32)

    def __init__(
        self,
        at: float,
        duration: float,
        seed: int = 0,
        *,
        mb_size: int = 16,
        area: tuple[float, float] = (0.05, 0.3),
        forms: Sequence[str] = FORMS,
        growth: float = 0.05,
        keyframe_interval: float | None = None,
    ) -> None:
        super().__init__(at, duration, seed, history=1)
        low, high = area
        check_choice(self.name, "mb_size", mb_size, self.MB_SIZES)
        if not 0 < low <= high <= 1:
            raise ValueError(f"{self.name}: area must be (low, high) with 0 < low <= high <= 1")
        if not forms or set(forms) - set(self.FORMS):
            raise ValueError(f"{self.name}: forms must be some of {list(self.FORMS)}, not {forms}")
        if growth < 0 or (keyframe_interval is not None and keyframe_interval <= 0):
            raise ValueError(f"{self.name}: need growth >= 0 and keyframe_interval > 0")
        self.mb_size, self.area, self.forms = mb_size, (low, high), tuple(forms)
        self.growth, self.keyframe_interval = growth, keyframe_interval
        self._next_loss = at
        self._damage: _DamageMap | None = None

    def params(self) -> dict[str, Any]:
        return {
            "mb_size": self.mb_size,
            "area": list(self.area),
            "forms": list(self.forms),
            "growth": self.growth,
            "keyframe_interval": self.keyframe_interval,
        }

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        height, width = image.shape[:2]
        clean = self._pad(image)
        previous = self._pad(self.history[-1][1]) if self.history else clean
        if self._damage is None or self._damage.shape != clean.shape:
            self._damage = _DamageMap(clean.shape, self.mb_size, self.rng, reference=previous)
        if time >= self._next_loss - TIME_EPSILON:
            self._loss(self._damage, previous)
            facts["loss"] = True
            self._next_loss += self.keyframe_interval or math.inf
        else:
            self._damage.spread(previous, self.growth)
        corrupted = self._damage.compose(clean)
        if corrupted.shape != image.shape:
            corrupted = np.ascontiguousarray(corrupted[:height, :width])
        facts["block_ratio"] = self._damage.ratio
        return ImpairedFrame(corrupted, changed(image, corrupted))

    def _pad(self, image: np.ndarray) -> np.ndarray:
        """The image grown to whole macroblocks (edge pixels repeated), as a codec codes it."""
        height, width = image.shape[:2]
        bottom, right = -height % self.mb_size, -width % self.mb_size
        if not bottom and not right:
            return image
        return cv2.copyMakeBorder(image, 0, bottom, 0, right, cv2.BORDER_REPLICATE)

    def _loss(self, damage: _DamageMap, previous: np.ndarray) -> None:
        """A keyframe clears the damage, and a new loss damages 1-3 clusters."""
        rng = self.rng
        low, high = self.area
        share = rng.uniform(low, high)
        damage.clear(limit=rng.uniform(share, high))
        target = max(1, round(share * damage.count))
        fills = [form for form in self.forms if form in _FILLS] or list(_FILLS)
        for size in rng.multinomial(target, rng.dirichlet(np.ones(rng.integers(1, 4)))):
            if size == 0:
                continue
            form = self.forms[rng.integers(len(self.forms))]
            if form == "stripe":
                cells = damage.stripe(size)
                form = fills[rng.integers(len(fills))]
            else:
                cells = damage.blob(size)
            damage.fill(cells, _FILLS[form], previous)
        damage.spread(previous, up_to=target)  # clusters may overlap: make up the difference


class _DamageMap:
    """Per-macroblock damage (what fills each block) and the pictures it is drawn from."""

    def __init__(
        self, shape: tuple[int, ...], mb_size: int, rng: np.random.Generator,
        reference: np.ndarray,
    ) -> None:  # fmt: skip
        self.shape, self.mb, self.rng = shape, mb_size, rng
        self.rows, self.cols = shape[0] // mb_size, shape[1] // mb_size
        self.count = self.rows * self.cols
        self.kind = np.zeros((self.rows, self.cols), np.uint8)
        self.vector = np.zeros((self.rows, self.cols, 2), np.int32)  # dy, dx of displaced blocks
        self.color = np.zeros((self.rows, self.cols, 3), np.uint8)  # colour of solid blocks
        self.stale = np.zeros(shape, np.uint8)  # content of stale blocks, at their positions
        self.reference = reference  # the previous output picture, that displaced blocks copy
        self.limit = 0

    @property
    def ratio(self) -> float:
        return float(np.count_nonzero(self.kind)) / self.count

    def clear(self, limit: float) -> None:
        self.kind[:] = 0
        self.limit = max(1, round(limit * self.count))

    def stripe(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A run of ``size`` blocks in raster order: the rest of a lost slice."""
        size = min(size, self.count)
        start = int(self.rng.integers(0, self.count - size + 1))
        return np.divmod(np.arange(start, start + size), self.cols)

    def blob(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` intact blocks around a random seed, wider than tall, with a ragged edge."""
        rows, cols = np.indices((self.rows, self.cols), dtype=np.float32)
        seed_row, seed_col = self.rng.integers(self.rows), self.rng.integers(self.cols)
        roughness = cv2.GaussianBlur(self.rng.random(self.kind.shape, np.float32), (0, 0), 1.5)
        roughness *= 3 / max(float(roughness.std()), 1e-6)
        score = roughness - np.hypot(2 * (rows - seed_row), cols - seed_col)
        score[self.kind != 0] = -np.inf
        size = min(size, self.count - np.count_nonzero(self.kind))
        best = np.argpartition(score.ravel(), -size)[-size:] if size else np.array([], int)
        return np.divmod(best, self.cols)

    def fill(self, cells: tuple[np.ndarray, np.ndarray], kind: int, previous: np.ndarray) -> None:
        """Damage ``cells`` with one fill, as one concealment decision for the whole cluster
        (smeared blocks need nothing stored: ``compose`` draws them from their surroundings)."""
        rows, cols = cells
        self.kind[rows, cols] = kind
        if kind == DISPLACED:
            mb = self.mb
            vector = self.rng.integers(-3 * mb, 3 * mb + 1, size=2)
            if np.abs(vector).max() < mb // 2:  # a tiny wrong vector hardly shows
                vector[1] = mb
            jitter = self.rng.integers(-mb, mb + 1, size=(rows.size, 2))
            jitter[self.rng.random(rows.size) > 0.25] = 0  # a few blocks garbled on their own
            self.vector[rows, cols] = vector + jitter
        elif kind == SOLID:
            choice = self.rng.integers(len(_FLAT_COLORS) + 1)
            if choice == len(_FLAT_COLORS):  # detail lost: each block keeps its mean colour
                means = cv2.resize(previous, (self.cols, self.rows), interpolation=cv2.INTER_AREA)
                self.color[rows, cols] = means[rows, cols]
            else:
                self.color[rows, cols] = _FLAT_COLORS[choice]
        elif kind == STALE:
            _blocks(self.stale, self.mb)[rows, cols] = _blocks(previous, self.mb)[rows, cols]

    def spread(self, previous: np.ndarray, growth: float = 0.0, up_to: int | None = None) -> None:
        """Damage intact blocks next to damaged ones, each taking a damaged neighbour's fill.

        Grows by ``growth`` of the damaged count (at least one block) up to ``limit``, or to
        exactly ``up_to`` blocks when given.
        """
        damaged = np.count_nonzero(self.kind)
        if up_to is None:
            up_to = min(self.limit, math.ceil(damaged * (1 + growth))) if growth else damaged
        frontier = cv2.dilate((self.kind != 0).astype(np.uint8), _CROSS) & (self.kind == 0)
        rows, cols = np.nonzero(frontier)
        take = min(up_to - damaged, rows.size)
        if take <= 0:
            return
        chosen = self.rng.choice(rows.size, size=take, replace=False)
        rows, cols = rows[chosen], cols[chosen]
        parent_rows, parent_cols = rows.copy(), cols.copy()
        found = np.zeros(take, bool)
        for d_row, d_col in _NEIGHBOURS:
            r, c = rows + d_row, cols + d_col
            ok = ~found & (r >= 0) & (r < self.rows) & (c >= 0) & (c < self.cols)
            ok[ok] = self.kind[r[ok], c[ok]] != 0
            parent_rows[ok], parent_cols[ok], found = r[ok], c[ok], found | ok
        self.kind[rows, cols] = self.kind[parent_rows, parent_cols]
        self.vector[rows, cols] = self.vector[parent_rows, parent_cols]
        self.color[rows, cols] = self.color[parent_rows, parent_cols]
        stale = self.kind[rows, cols] == STALE
        stale_cells = rows[stale], cols[stale]
        _blocks(self.stale, self.mb)[stale_cells] = _blocks(previous, self.mb)[stale_cells]

    def compose(self, clean: np.ndarray) -> np.ndarray:
        """The clean picture with every damaged block filled; becomes the next reference."""
        mb = self.mb
        out = clean.copy()
        out_blocks = _blocks(out, mb)
        rows, cols = np.nonzero(self.kind == DISPLACED)
        if rows.size:
            tops = np.clip(rows * mb + self.vector[rows, cols, 0], 0, self.shape[0] - mb)
            lefts = np.clip(cols * mb + self.vector[rows, cols, 1], 0, self.shape[1] - mb)
            windows = sliding_window_view(self.reference, (mb, mb), axis=(0, 1))
            out_blocks[rows, cols] = windows[tops, lefts].transpose(0, 2, 3, 1)
        rows, cols = np.nonzero(self.kind == SOLID)
        out_blocks[rows, cols] = self.color[rows, cols][:, np.newaxis, np.newaxis, :]
        rows, cols = np.nonzero(self.kind == STALE)
        out_blocks[rows, cols] = _blocks(self.stale, mb)[rows, cols]
        _smear(out, self.kind == SMEARED, mb)  # last: it interpolates from the blocks around
        self.reference = out
        return out


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _smear(picture: np.ndarray, smeared: np.ndarray, mb: int) -> None:
    """Fill the ``smeared`` macroblocks of ``picture`` in place, each vertical run of them per
    block column by interpolating every pixel column between the row just above the run and the
    row just below it (only one of them at the picture's edge; mid-grey with neither)."""
    height = picture.shape[0]
    edges = np.diff(np.pad(smeared.astype(np.int8), ((1, 1), (0, 0))), axis=0)
    for col in np.flatnonzero(smeared.any(axis=0)):
        starts, ends = np.flatnonzero(edges[:, col] == 1), np.flatnonzero(edges[:, col] == -1)
        xs = slice(col * mb, (col + 1) * mb)
        for start, end in zip(starts * mb, ends * mb, strict=True):
            above = picture[start - 1, xs].astype(np.float32) if start > 0 else None
            below = picture[end, xs].astype(np.float32) if end < height else None
            above = below if above is None else above
            below = above if below is None else below
            if above is None:
                picture[start:end, xs] = 128
                continue
            weight = (np.arange(1, end - start + 1, dtype=np.float32) / (end - start + 1))
            weight = weight[:, np.newaxis, np.newaxis]
            picture[start:end, xs] = np.rint(above * (1 - weight) + below * weight)


def _blocks(image: np.ndarray, mb: int) -> np.ndarray:
    """A (rows, cols, mb, mb, 3) view of an image that is whole macroblocks in size."""
    height, width = image.shape[:2]
    return image.reshape(height // mb, mb, width // mb, mb, 3).swapaxes(1, 2)
