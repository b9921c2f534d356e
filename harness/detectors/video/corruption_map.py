"""The block-corruption model's side of the detector: picture in, corruption map out.

Shared by the detector and by the training code (``training.block_corruption``), so the picture
the model was trained and evaluated on is, to the pixel, the one it sees on a device:

* **Analysis picture.** The capture is scaled with area averaging to fit ``max_size`` (never
  up), each side rounded to a multiple of ``STRIDE`` so every map cell covers exactly 32 x 32
  analysis pixels. At the default 960 x 544 a 1080p macroblock (16 px) becomes 8 px: still two
  or more pixels per block edge, which is what the model needs to see a block boundary.
* **Model input.** BGR scaled to 0-1, N x 3 x H x W float32; the network normalises inside its
  graph, so nothing else about the input has to be agreed on.
* **Outputs.** ``corruption_map`` (N x 1 x H/32 x W/32, probability that a cell is corrupted,
  version 1) and ``frame_probability`` (N, the learned frame decision, version 2).

Version 1's frame decision is the corrupted-area ratio: the share of map cells whose probability
is at least the cell threshold, compared with an area threshold; both are set on validation data
and travel in the model's manifest entry (``trained.thresholds``: ``cell_probability``,
``area_ratio``), so a retrained model brings its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from harness.inference import ModelInfo, load_session

MODEL = "block_corruption"
STRIDE = 32  #: analysis pixels per map cell, each way (the backbone's output stride)
#: A map cell counts as corrupted at this probability or above, unless the manifest sets one.
CELL_THRESHOLD = 0.5


def analysis_size(width: int, height: int, max_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the analysis picture: fits ``max_size``, multiples of ``STRIDE``."""
    scale = min(1.0, max_size[0] / width, max_size[1] / height)

    def snap(side: float) -> int:
        return max(STRIDE, round(side / STRIDE) * STRIDE)

    return snap(width * scale), snap(height * scale)


def analysis_picture(bgr: np.ndarray, max_size: tuple[int, int]) -> np.ndarray:
    """``bgr`` scaled (area averaging) to its analysis size."""
    height, width = bgr.shape[:2]
    size = analysis_size(width, height, max_size)
    if size == (width, height):
        return bgr
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def model_input(pictures: list[np.ndarray]) -> np.ndarray:
    """Analysis pictures of one size (H x W x 3 uint8 BGR) as the model's N x 3 x H x W input."""
    batch = np.stack(pictures).astype(np.float32) * np.float32(1 / 255)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def corrupted_area(probabilities: np.ndarray, cell_threshold: float = CELL_THRESHOLD) -> float:
    """Version 1's frame measure: share of map cells at or above ``cell_threshold``."""
    return float(np.count_nonzero(probabilities >= cell_threshold)) / probabilities.size


@dataclass(frozen=True)
class MapResult:
    """The model's view of one picture."""

    probabilities: np.ndarray  #: H/32 x W/32 map, probability each cell is corrupted
    frame_probability: float  #: the learned (version 2) decision
    cell_threshold: float = CELL_THRESHOLD  #: the probability from which a cell is corrupted

    @property
    def area_ratio(self) -> float:
        return corrupted_area(self.probabilities, self.cell_threshold)


class CorruptionMapModel:
    """The shipped ONNX model in an onnxruntime session (checksum checked at load)."""

    def __init__(self, threads: int = 1, directory: Path | None = None) -> None:
        """``directory``: the models directory (default: ``harness.inference.models_dir()``)."""
        self.session: Any
        self.info: ModelInfo
        self.session, self.info = load_session(MODEL, threads, directory)
        self.cell_threshold = float(self.thresholds.get("cell_probability", CELL_THRESHOLD))

    @property
    def thresholds(self) -> dict[str, float]:
        """Thresholds set on validation data: ``area_ratio`` (v1), ``probability`` (v2) and,
        for models that set one, ``cell_probability`` (v1's cell threshold)."""
        return dict(self.info.trained["thresholds"])

    def __call__(self, picture: np.ndarray) -> MapResult:
        """Run one analysis picture (from ``analysis_picture``)."""
        maps, frame = self.session.run(None, {"image": model_input([picture])})
        return MapResult(maps[0, 0], float(frame[0]), self.cell_threshold)
