"""The block-corruption network, its training loop and its ONNX export (torch: training only).

A ResNet18-shaped, fully convolutional backbone (7x7 stem and max-pool, four stages of two basic
blocks, output stride 32) with two heads:

* **map** (version 1): the classifier replaced by a 1 x 1 convolution, one logit per 32 x 32
  region, so any input size gives a map (1080p analysed at 960 x 544: 17 x 30);
* **frame** (version 2): a small MLP on size-free summaries of the map and the features (mean
  and maximum cell probability, per-channel maxima of the last features), trained jointly, so the
  frame decision is learned rather than a fixed area threshold.

Widths are ResNet18's divided by four by default (16-32-64-128): the full width runs at about
1 fps on a 1080p frame on two cores, this one about 35 fps at 960 x 544 on one core (see the
model card's speed table), and the task -- block edges, flat or displaced macroblocks -- is local
and needs far less capacity than ImageNet.

Training takes random 256 x 256 crops on the 32-pixel grid of the stored analysis pictures (so
each crop's 8 x 8 target map is exact), biased towards corrupted regions, flipped at random.
Loss: binary cross-entropy of each cell against its target, plus that of the frame head against
"more than 7 % of the crop corrupted" (crops with 0-7 % are left out of the frame loss, as frames
are in scoring). Two recipes (``RECIPES``), named in the checkpoint and the manifest:

* ``share`` (the shipped model): a cell's target is the share of it visibly corrupted;
* ``ramp-jitter``: the target saturates with that share (``Recipe.cell_target``) -- damage is
  rarely visible on every pixel of a region (a mosaic block over sky differs from the clean
  picture only where the sky had detail), so the raw share teaches the network to answer
  0.1-0.4 over plainly broken regions, which a cell threshold then discards -- and each crop's
  colours are jittered (a gain per channel, a brightness offset). Better on held-out corpus
  content, worse on the test suite's synthetic crowd and fast pan (the model card has both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from harness.detectors.video.corruption_map import STRIDE
from training.block_data import POSITIVE_AREA, TrainingSet

WIDTHS = (16, 32, 64, 128)
CROP = 256
#: Share of crops centred on a corrupted cell when the picture has one.
CORRUPTED_CROP_SHARE = 0.6
#: Colour jitter of a training crop: gain range per channel, and brightness offset range (0-1).
CHANNEL_GAIN = (0.8, 1.2)
BRIGHTNESS_SHIFT = 0.08


@dataclass(frozen=True)
class Recipe:
    """How training crops become inputs and targets."""

    #: Visibly corrupted share of a cell below which its target is 0 and from which it is 1
    #: (linear between); None: the share itself is the target.
    cell_share_ramp: tuple[float, float] | None = None
    colour_jitter: bool = False

    def cell_target(self, share: np.ndarray) -> np.ndarray:
        """Training target of map cells from their visibly corrupted share."""
        if self.cell_share_ramp is None:
            return share.astype(np.float32)
        low, high = self.cell_share_ramp
        return np.clip((share - low) / (high - low), 0.0, 1.0).astype(np.float32)


#: Named recipes (``--recipe``); the name is part of the checkpoint's, so a run with another
#: recipe never reuses a network trained by this one. A ramp of 2-12 %: a few stray pixels are
#: not damage; a tenth of a cell (more than one 8 x 8 block of the analysis picture) is.
RECIPES = {
    "share": Recipe(),
    "ramp-jitter": Recipe(cell_share_ramp=(0.02, 0.12), colour_jitter=True),
}
DEFAULT_RECIPE = "share"


class _BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = functional.relu(self.bn1(self.conv1(x)))
        return functional.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class BlockCorruptionNet(nn.Module):
    """Picture (N x 3 x H x W, BGR 0-1) -> (map logits N x 1 x H/32 x W/32, frame logits N)."""

    def __init__(self, widths: Sequence[int] = WIDTHS) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.45))
        self.register_buffer("scale", torch.full((1, 3, 1, 1), 1 / 0.25))
        layers: list[nn.Module] = [
            nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        ]
        inputs = widths[0]
        for stage, width in enumerate(widths):
            layers += [_BasicBlock(inputs, width, 1 if stage == 0 else 2),
                       _BasicBlock(width, width, 1)]
            inputs = width
        self.backbone = nn.Sequential(*layers)
        self.map_head = nn.Conv2d(inputs, 1, 1)
        self.frame_head = nn.Sequential(nn.Linear(inputs + 2, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone((image - self.mean) * self.scale)
        logits = self.map_head(features)
        probabilities = torch.sigmoid(logits).flatten(1)
        summary = torch.cat([
            probabilities.mean(1, keepdim=True),
            probabilities.amax(1, keepdim=True),
            features.amax((2, 3)),
        ], 1)
        return logits, self.frame_head(summary).squeeze(1)


class _InferenceWrapper(nn.Module):
    """What is exported: probabilities, not logits, under the names the detector reads."""

    def __init__(self, net: BlockCorruptionNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, frame = self.net(image)
        return torch.sigmoid(logits), torch.sigmoid(frame)


def _jitter_colours(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images (N x 3 x H x W, 0-1) with a random gain per channel and brightness offset each."""
    count = len(images)
    gain = rng.uniform(*CHANNEL_GAIN, (count, 3, 1, 1)).astype(np.float32)
    shift = rng.uniform(-BRIGHTNESS_SHIFT, BRIGHTNESS_SHIFT, (count, 1, 1, 1)).astype(np.float32)
    return np.clip(images * gain + shift, 0.0, 1.0)


def _crop(data: TrainingSet, index: int, rng: np.random.Generator, crop: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """A grid-aligned crop of picture ``index`` and its target cells, flipped at random."""
    picture, target = data.pictures[index], data.targets[index]
    cells = crop // STRIDE
    rows, cols = target.shape
    top_max, left_max = max(0, rows - cells), max(0, cols - cells)
    corrupted = np.argwhere(target > 0.25)
    if len(corrupted) and rng.random() < CORRUPTED_CROP_SHARE:
        row, col = corrupted[rng.integers(len(corrupted))]
        top = int(np.clip(row - rng.integers(cells), 0, top_max))
        left = int(np.clip(col - rng.integers(cells), 0, left_max))
    else:
        top, left = int(rng.integers(top_max + 1)), int(rng.integers(left_max + 1))
    cell_slice = np.s_[top : top + cells, left : left + cells]
    pixel_slice = np.s_[top * STRIDE : (top + cells) * STRIDE,
                        left * STRIDE : (left + cells) * STRIDE]
    image, cells_target = np.asarray(picture[pixel_slice]), target[cell_slice]
    if image.shape[:2] != (crop, crop):  # a picture smaller than the crop: pad with edge pixels
        pad = ((0, crop - image.shape[0]), (0, crop - image.shape[1]))
        image = np.pad(image, (*pad, (0, 0)), mode="edge")
        cells_target = np.pad(cells_target, ((0, cells - cells_target.shape[0]),
                                             (0, cells - cells_target.shape[1])), mode="edge")
    if rng.random() < 0.5:
        image, cells_target = image[:, ::-1], cells_target[:, ::-1]
    return image, cells_target


def _batch(data: TrainingSet, rng: np.random.Generator, size: int, crop: int, recipe: Recipe
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    indices = rng.integers(len(data.pictures), size=size)
    crops = [_crop(data, int(i), rng, crop) for i in indices]
    images = np.stack([c[0] for c in crops]).astype(np.float32).transpose(0, 3, 1, 2) / 255
    if recipe.colour_jitter:
        images = _jitter_colours(images, rng)
    shares = np.stack([c[1] for c in crops]).astype(np.float32)[:, None]
    targets = recipe.cell_target(shares)
    area = shares.mean((1, 2, 3))
    frame_target = (area > POSITIVE_AREA).astype(np.float32)
    frame_weight = ((area == 0) | (area > POSITIVE_AREA)).astype(np.float32)
    return (torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(targets),
            torch.from_numpy(frame_target), torch.from_numpy(frame_weight))


def train(
    data: TrainingSet, *, seed: int, steps: int, batch: int = 24, crop: int = CROP,
    learning_rate: float = 3e-3, widths: Sequence[int] = WIDTHS,
    recipe: Recipe = RECIPES[DEFAULT_RECIPE], progress: Callable[[str], None] = print,
) -> BlockCorruptionNet:
    """Train from scratch (one-cycle cosine schedule, AdamW); deterministic for a seed."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = BlockCorruptionNet(widths)
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    net.train()
    started, running = time.monotonic(), 0.0
    for step in range(1, steps + 1):
        images, targets, frame_target, frame_weight = _batch(data, rng, batch, crop, recipe)
        logits, frame_logits = net(images)
        map_loss = functional.binary_cross_entropy_with_logits(logits, targets)
        frame_loss = functional.binary_cross_entropy_with_logits(
            frame_logits, frame_target, weight=frame_weight)
        loss = map_loss + 0.5 * frame_loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running = loss.item() if step == 1 else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0 or step == steps:
            elapsed = time.monotonic() - started
            eta = elapsed / step * (steps - step)
            progress(f"step {step}/{steps}  loss {running:.4f}  "
                     f"{elapsed / 60:.1f} min, {math.ceil(eta / 60)} min left")
    return net.eval()


def export(net: BlockCorruptionNet, path: Path) -> None:
    """ONNX with dynamic batch and picture size: ``image`` -> ``corruption_map``,
    ``frame_probability``."""
    example = torch.zeros(1, 3, 2 * CROP, 2 * CROP)
    torch.onnx.export(
        _InferenceWrapper(net).eval(), (example,), str(path),
        input_names=["image"], output_names=["corruption_map", "frame_probability"],
        dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                      "corruption_map": {0: "batch", 2: "rows", 3: "columns"},
                      "frame_probability": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
