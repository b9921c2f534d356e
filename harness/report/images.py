"""Evidence pictures: a captured frame with a caption strip saying what the reader is looking at.

The caption is drawn below the picture, never over it, so the strip cannot hide the defect.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Frames wider than this are scaled down: a 4K PNG of noisy captured video weighs tens of MB,
#: and 1920 px still shows macroblocks and tearing at 1:1 for 1080p sources.
MAX_WIDTH = 1920

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT = (255, 255, 255)
_HEADLINE = (80, 80, 255)  # BGR: light red, the line naming the defect
_STRIP = (32, 32, 32)


def annotate(bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``bgr`` (scaled to at most MAX_WIDTH) above a dark strip with one text line per entry;
    the first line is the headline."""
    if bgr.shape[1] > MAX_WIDTH:
        height = round(bgr.shape[0] * MAX_WIDTH / bgr.shape[1])
        bgr = cv2.resize(bgr, (MAX_WIDTH, height), interpolation=cv2.INTER_AREA)
    width = bgr.shape[1]
    scale = max(0.4, width / 1600)
    thickness = max(1, round(scale * 1.5))
    line_height = round(34 * scale)
    strip = np.full((line_height * len(lines) + line_height // 2, width, 3), _STRIP, np.uint8)
    for row, text in enumerate(lines):
        colour = _HEADLINE if row == 0 else _TEXT
        origin = (round(12 * scale), line_height * (row + 1))
        cv2.putText(strip, text, origin, _FONT, scale, colour, thickness, cv2.LINE_AA)
    return np.vstack([bgr, strip])


def encode_png(bgr: np.ndarray) -> bytes:
    """PNG bytes of a BGR image: lossless, so compression adds no artefacts to the evidence.

    Fastest zlib level: captured video is noisy and barely compresses further (a 720p frame is
    1.12 MB at level 1 in 54 ms, 1.02 MB at level 6 in 336 ms).
    """
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"PNG encoding failed for an image of shape {bgr.shape}")
    return encoded.tobytes()


def heat_map_overlay(bgr: np.ndarray, heat_map: np.ndarray, outline_at: float = 0.5) -> np.ndarray:
    """``bgr`` with a per-region map (rows x columns, 0-1) blended over it as colours (blue 0,
    red 1), each region at or above ``outline_at`` outlined in red so the flagged area reads at
    a glance even where the colours are faint."""
    height, width = bgr.shape[:2]
    levels = (np.clip(heat_map, 0, 1) * 255).astype(np.uint8)
    colours = cv2.applyColorMap(
        cv2.resize(levels, (width, height), interpolation=cv2.INTER_NEAREST), cv2.COLORMAP_JET
    )
    overlay = cv2.addWeighted(bgr, 0.6, colours, 0.4, 0)
    rows, columns = heat_map.shape
    for row, column in np.argwhere(heat_map >= outline_at):
        top_left = (column * width // columns, row * height // rows)
        bottom_right = ((column + 1) * width // columns - 1, (row + 1) * height // rows - 1)
        cv2.rectangle(overlay, top_left, bottom_right, (0, 0, 255), max(1, width // 640))
    return overlay
