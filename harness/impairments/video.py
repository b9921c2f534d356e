"""Temporal and whole-picture video defects: black frames, freeze, stutter, solid colour, flicker.

These produce clean digital pictures, as a device's decoder or compositor would; the simulated
device then sends them through the capture path (``harness.simulation.capture_path``), which adds
what every real capture has (range handling, noise, MJPEG), so a frozen picture is not
bit-identical on the capture and black reads Y 0-30 there, not exactly 0 or 16.

Masks: black and solid colour replace every pixel, so their mask is all True (even where the
content happened to be black already: the picture is gone). Freeze, stutter and flicker are
temporal, so their mask is None; their per-frame truth is in the label (the source frame each
output frame shows, or the gain applied).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from harness.events import Defect
from harness.impairments._frames import FrameImpairment, check_choice, full_mask
from harness.impairments.base import ImpairedFrame

Color = tuple[int, int, int]  # B, G, R


class BlackFrames(FrameImpairment):
    """The picture goes black: a decoder reset, an HDCP renegotiation, a lost input.

    ``level`` is the black the device sends: ``"limited"`` (Y 16, as video range puts it, and
    what a full-range reading of a limited-range link shows) or ``"full"`` (code value 0).
    """

    name = "black_frames"
    defect = Defect.BLACK_FRAMES.value
    LEVELS = {"limited": 16, "full": 0}

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, level: str = "limited"
    ) -> None:
        super().__init__(at, duration, seed)
        check_choice(self.name, "level", level, self.LEVELS)
        self.level = level

    def params(self) -> dict[str, Any]:
        return {"level": self.level}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        black = np.full_like(image, self.LEVELS[self.level])
        return ImpairedFrame(black, full_mask(*image.shape[:2]))


class Freeze(FrameImpairment):
    """The picture stops: every frame in the window shows the last frame before it.

    Each frame's ``source`` in the label is that held frame's index (the first frame of the
    window itself when the window starts at the first frame, as there is nothing earlier).
    """

    name = "freeze"
    defect = Defect.FREEZE.value

    def __init__(self, at: float, duration: float, seed: int = 0) -> None:
        super().__init__(at, duration, seed, history=1)
        self._held: tuple[int, np.ndarray] | None = None

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        if self._held is None:
            self._held = self.history[-1] if self.history else (index, image)
        facts["source"], held = self._held
        return ImpairedFrame(held)


class Stutter(FrameImpairment):
    """Irregular cadence: the output keeps its frame rate but shows source frames unevenly.

    A device that misses a display deadline shows the previous frame again (a *repeat*, so the
    output falls one frame behind the source) and later drops one to catch up (a *skip*). Each
    output frame advances the source by 0 (repeat, ``repeat_probability``), 2 (skip,
    ``skip_probability``, only while behind) or 1 frame, never falling more than ``max_lag``
    frames behind, so at most ``max_lag`` past frames are kept. The window opens with a repeat
    (when there is an earlier frame), so its first frame is already a visible hitch; after the
    window the output is back on time (a last skip when it was still behind). Each frame's
    ``source`` in the label is the index of the source frame it shows.
    """

    name = "stutter"
    defect = Defect.STUTTER.value

    def __init__(
        self,
        at: float,
        duration: float,
        seed: int = 0,
        *,
        repeat_probability: float = 0.2,
        skip_probability: float = 0.4,
        max_lag: int = 2,
    ) -> None:
        if max_lag < 1 or not 0 <= repeat_probability + skip_probability <= 1:
            raise ValueError(f"{self.name}: need max_lag >= 1 and probabilities summing to <= 1")
        super().__init__(at, duration, seed, history=max_lag)
        self.repeat_probability, self.skip_probability = repeat_probability, skip_probability
        self.max_lag = max_lag
        self._shown: int | None = None  # source index the previous output frame showed

    def params(self) -> dict[str, Any]:
        return {
            "repeat_probability": self.repeat_probability,
            "skip_probability": self.skip_probability,
            "max_lag": self.max_lag,
        }

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        pictures = dict(self.history)
        pictures[index] = image
        shown = index - 1 if self._shown is None else self._shown
        lag = index - 1 - shown
        draw = self.rng.random()
        if self._shown is None or draw < self.repeat_probability:
            step = 0
        elif draw < self.repeat_probability + self.skip_probability:
            step = 2
        else:
            step = 1
        if not 0 <= lag + 1 - step <= self.max_lag or shown + step not in pictures:
            step = 1
        self._shown = facts["source"] = shown + step
        return ImpairedFrame(pictures[self._shown])


class SolidColor(FrameImpairment):
    """The picture is replaced by a flat colour, decoder green, or colour bars.

    ``kind``: ``"solid"`` is a no-signal screen in ``color`` (BGR; drawn from typical no-signal
    colours by the seed when not given); ``"green"`` is what a decoder shows when it outputs an
    empty buffer (YUV 0, 0, 0 converts to BGR 0, 135, 0); ``"bars"`` are 75 % colour bars, what
    a device shows when its input or pipeline is lost.
    """

    name = "solid_color"
    defect = Defect.SOLID_COLOR.value
    KINDS = ("solid", "green", "bars")
    NO_SIGNAL: tuple[Color, ...] = ((255, 0, 0), (128, 128, 128), (255, 0, 255), (235, 235, 235))
    DECODER_GREEN: Color = (0, 135, 0)
    #: 75 % bars, left to right: white, yellow, cyan, green, magenta, red, blue (BGR).
    BARS: tuple[Color, ...] = (
        (191, 191, 191), (0, 191, 191), (191, 191, 0), (0, 191, 0),
        (191, 0, 191), (0, 0, 191), (191, 0, 0),
    )  # fmt: skip

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, kind: str = "solid",
        color: Color | None = None,
    ) -> None:  # fmt: skip
        super().__init__(at, duration, seed)
        check_choice(self.name, "kind", kind, self.KINDS)
        self.kind = kind
        if color is None:
            color = self.NO_SIGNAL[self.rng.integers(len(self.NO_SIGNAL))]
        self.color = tuple(int(c) for c in color) if kind == "solid" else None
        self._picture: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "color": self.color}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        if self._picture is None or self._picture.shape != image.shape:
            self._picture = self._draw(*image.shape[:2])
        return ImpairedFrame(self._picture, full_mask(*image.shape[:2]))

    def _draw(self, height: int, width: int) -> np.ndarray:
        if self.kind == "bars":
            bar_of_column = np.arange(width) * len(self.BARS) // width
            row = np.array(self.BARS, np.uint8)[bar_of_column]
            picture = np.ascontiguousarray(np.broadcast_to(row, (height, width, 3)))
        else:
            color = self.color if self.kind == "solid" else self.DECODER_GREEN
            picture = np.empty((height, width, 3), np.uint8)
            picture[:] = color
        picture.setflags(write=False)  # shared by every frame of the window
        return picture


class Flicker(FrameImpairment):
    """Brightness pumps at ``frequency`` Hz: a failing backlight, PWM or mains beat, an AGC loop.

    Each frame is scaled by ``gain = 1 - depth * (1 + sin(2 pi f t + phase)) / 2``, between
    ``1 - depth`` and 1 (dimming, so highlights do not clip), with ``t`` the time since the window
    opened and the phase drawn by the seed. Each frame's ``gain`` is in the label.
    """

    name = "flicker"
    defect = Defect.FLICKER.value

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, frequency: float = 6.0,
        depth: float = 0.3,
    ) -> None:  # fmt: skip
        super().__init__(at, duration, seed)
        if frequency <= 0 or not 0 < depth <= 1:
            raise ValueError(f"{self.name}: need frequency > 0 and 0 < depth <= 1")
        self.frequency, self.depth = frequency, depth
        self.phase = float(self.rng.uniform(0, 2 * math.pi))

    def params(self) -> dict[str, Any]:
        return {"frequency": self.frequency, "depth": self.depth, "phase": self.phase}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        angle = 2 * math.pi * self.frequency * (time - self.at) + self.phase
        facts["gain"] = gain = 1 - self.depth * (1 + math.sin(angle)) / 2
        return ImpairedFrame(cv2.convertScaleAbs(image, alpha=gain))
