"""Defects inside the picture: tearing, interlace combing, blur and resolution drop.

Tearing and combing mix two moments of the source in one frame; both are streaming, so the other
moment is the previous source frame (the only one already seen). Their mask is the honest truth
of what a viewer can see: the pixels that differ from the clean frame by more than
``DIFF_TOLERANCE`` (``base.changed``). Rows taken from the older frame where nothing moved are
identical to the clean ones and so not in the mask; where nothing moved at all the mask is empty.

Blur has no mask (None): it degrades the whole picture, but by the diff to clean it would change
only edges and texture, so neither an all-True mask nor the diff would say what a detector has
to find; its truth is the window and the ``kind`` and strength in the label.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from harness.events import Defect
from harness.impairments._frames import FrameImpairment, check_choice
from harness.impairments.base import ImpairedFrame, changed


class Tearing(FrameImpairment):
    """The frame is split at a row: above it the previous frame, below it the current one.

    This is a buffer flip during scan-out without vsync: the rows already sent come from the old
    buffer. Unsynchronised rendering makes the tear roll: it starts at a random height and moves
    by a steady step per frame (plus jitter), wrapping around. A frame tears with
    ``probability`` (a flip that lands in the blanking interval shows no tear), and the old part
    is shifted horizontally by up to ``shift`` pixels (0: a pure temporal tear), with black
    brought in at the edge. Each frame's tear ``row`` (None: no tear) and ``shift`` are in the
    label.
    """

    name = "tearing"
    defect = Defect.TEARING.value

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, shift: int = 0,
        probability: float = 0.9,
    ) -> None:  # fmt: skip
        super().__init__(at, duration, seed, history=1)
        if shift < 0 or not 0 < probability <= 1:
            raise ValueError(f"{self.name}: need shift >= 0 and 0 < probability <= 1")
        self.shift, self.probability = shift, probability
        self._position = float(self.rng.uniform(0.15, 0.85))  # tear height, share of the picture
        self._roll = float(self.rng.uniform(0.03, 0.25) * self.rng.choice((-1, 1)))

    def params(self) -> dict[str, Any]:
        return {"shift": self.shift, "probability": self.probability, "roll": self._roll}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        height, width = image.shape[:2]
        tears = self.rng.random() < self.probability
        shift = int(self.rng.integers(-self.shift, self.shift + 1))
        shift = max(-(width - 1), min(width - 1, shift))
        row = min(max(1, int(self._position * height)), height - 1)
        self._position = (self._position + self._roll + self.rng.normal(0, 0.01)) % 1.0
        if not (tears and self.history):
            facts["row"] = facts["shift"] = None
            return ImpairedFrame(image, np.zeros((height, width), bool))
        older = self.history[-1][1]
        torn = image.copy()
        top = torn[:row]
        if shift >= 0:
            top[:, shift:] = older[:row, : width - shift]
            top[:, :shift] = 0
        else:
            top[:, :shift] = older[:row, -shift:]
            top[:, shift:] = 0
        facts["row"], facts["shift"] = row, shift
        return ImpairedFrame(torn, changed(image, torn))


class Interlacing(FrameImpairment):
    """Combing: one field of each frame comes from the previous frame, as when interlaced
    video is shown without deinterlacing (or a deinterlacer fails).

    ``field_order`` names the older field: ``"top"`` (even rows, top field first, as broadcast
    1080i) or ``"bottom"`` (odd rows). Moving edges comb; still areas look normal, and so are
    not in the mask. Each frame's ``field_source`` (the older field's frame index) is in the label.
    """

    name = "interlacing"
    defect = Defect.INTERLACING.value
    FIELD_ORDERS = {"top": 0, "bottom": 1}

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, field_order: str = "top"
    ) -> None:
        super().__init__(at, duration, seed, history=1)
        check_choice(self.name, "field_order", field_order, self.FIELD_ORDERS)
        self.field_order = field_order

    def params(self) -> dict[str, Any]:
        return {"field_order": self.field_order}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        facts["field_source"], older = self.history[-1] if self.history else (index, image)
        first_row = self.FIELD_ORDERS[self.field_order]
        woven = image.copy()
        woven[first_row::2] = older[first_row::2]
        return ImpairedFrame(woven, changed(image, woven))


class Blur(FrameImpairment):
    """Soft picture: a defocused-looking blur, or a resolution drop (a low-resolution stream or
    a scaler fallback, upscaled back to the output size).

    ``kind="gaussian"`` blurs with ``sigma`` pixels of a 1080-line picture, scaled to the frame's
    height so the blur looks the same at any resolution. ``kind="downscale"`` shrinks by
    ``factor`` (area average) and enlarges back (bilinear), as a player's upscaler does.
    """

    name = "blur"
    defect = Defect.BLUR.value
    KINDS = ("gaussian", "downscale")

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, kind: str = "gaussian",
        sigma: float = 4.0, factor: float = 4.0,
    ) -> None:  # fmt: skip
        super().__init__(at, duration, seed)
        check_choice(self.name, "kind", kind, self.KINDS)
        if sigma <= 0 or factor <= 1:
            raise ValueError(f"{self.name}: need sigma > 0 and factor > 1")
        self.kind, self.sigma, self.factor = kind, sigma, factor

    def params(self) -> dict[str, Any]:
        if self.kind == "gaussian":
            return {"kind": self.kind, "sigma": self.sigma}
        return {"kind": self.kind, "factor": self.factor}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        height, width = image.shape[:2]
        if self.kind == "gaussian":
            return ImpairedFrame(cv2.GaussianBlur(image, (0, 0), self.sigma * height / 1080))
        small = (max(1, round(width / self.factor)), max(1, round(height / self.factor)))
        reduced = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        return ImpairedFrame(cv2.resize(reduced, (width, height), interpolation=cv2.INTER_LINEAR))
