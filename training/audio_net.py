"""The audio artifact network, its training loop and its ONNX export.

PANN-style (Kong et al., 2020, "PANNs: Large-scale pretrained audio neural networks"): a per-band
batch norm on the log-mel input (two views, tonal and transient, as two image channels), conv
blocks (3x3 conv, batch norm, ReLU, 2x2 average pooling),
then max + mean pooling over time. Smaller than CNN14 by far (4 blocks of one conv, 16-128
channels instead of 6 blocks of two convs, 64-2048 channels): the detector has to classify every
channel of every half second at 200x real time on one core, and five classes of simulated
defects need nothing like AudioSet's 527. Unlike PANNs the frequency axis is not averaged away
before the classifier: where energy sits (hum at the bottom, hiss at the top) is half the
answer, so the pooled map is flattened over its 4 remaining bands.

A second input joins the classifier head beside the pooled map: the segment's waveform
statistics (``harness.detectors.audio.waveform``: near-peak amplitude distribution, impulsiveness,
mains lines at 0.5 Hz), each batch-normalised. They carry what a log-mel picture blurs -- a flat
clipped top, a one-sample step, a line 1.5 Hz from a bass note -- for a fraction of what wider
convolutions would cost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.detectors.audio import waveform
from harness.detectors.audio.features import FRAMES, N_MELS, VIEWS

CHANNELS = (16, 32, 64, 128)
HIDDEN = 128
INPUT_NAME = "logmel"
WAVEFORM_NAME = "waveform"
OUTPUT_NAME = "probabilities"


class ConvBlock(nn.Sequential):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__(
            nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )


class ArtifactNet(nn.Module):
    """(batch, views, N_MELS, FRAMES) scaled log-mel and (batch, waveform.SIZE) waveform
    statistics -> (batch, classes) logits."""

    def __init__(self, classes: int, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.bn0 = nn.BatchNorm1d(len(VIEWS) * N_MELS)  # each band of each view
        self.bn_waveform = nn.BatchNorm1d(waveform.SIZE)
        widths = (len(VIEWS), *self.channels)
        self.blocks = nn.Sequential(*(ConvBlock(a, b) for a, b in pairwise(widths)))
        bands = N_MELS // 2 ** len(self.channels)
        self.head = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(self.channels[-1] * bands + waveform.SIZE, HIDDEN),
            nn.ReLU(), nn.Dropout(0.2), nn.Linear(HIDDEN, classes),
        )

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        x = self.bn0(x.flatten(1, 2)).view_as(x)
        x = self.blocks(x)
        # max: a click lives in one frame; mean: a hum or a hiss is in all of them
        x = x.amax(dim=3) + x.mean(dim=3)
        return self.head(torch.cat([x.flatten(1), self.bn_waveform(side)], dim=1))


class _Probabilities(nn.Module):
    """What is exported: softmax included, so the ONNX output is what the detector thresholds."""

    def __init__(self, net: ArtifactNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x, side), dim=1)


def train(
    x: np.ndarray, side: np.ndarray, y: np.ndarray, *, classes: int, epochs: int, seed: int,
    validate: Callable[[ArtifactNet], float], channels: tuple[int, ...] = CHANNELS,
    batch: int = 64, lr: float = 3e-3, log: Callable[[str], None] = print,
) -> tuple[ArtifactNet, list[dict[str, float]]]:
    """Train on log-mel features ``x`` (N, views, N_MELS, FRAMES), waveform statistics ``side``
    (N, waveform.SIZE) and labels ``y``; keep the epoch whose ``validate`` score (higher is
    better, on the validation split) is best.

    One thread, seeded, so a run is reproducible: on a shared 2-core machine a second torch
    thread made training 6x slower, not faster.
    """
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    net = ArtifactNet(classes, channels)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(x) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    features, sides = torch.from_numpy(x), torch.from_numpy(side)
    labels = torch.from_numpy(y).long()
    best: tuple[float, dict] = (-1.0, {})
    history = []
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for index in torch.randperm(len(x), generator=order).split(batch):
            loss = nn.functional.cross_entropy(net(features[index], sides[index]), labels[index],
                                               label_smoothing=0.05)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        net.eval()
        score = validate(net)
        history.append({"epoch": epoch + 1, "loss": total / len(x), "val": score})
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}, validation {score:.4f}")
        if score > best[0]:
            best = (score, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[1])
    return net.eval(), history


@torch.no_grad()
def probabilities(net: ArtifactNet, x: np.ndarray, side: np.ndarray, batch: int = 512
                  ) -> np.ndarray:
    """Class probabilities of log-mel features ``x`` and waveform statistics ``side`` with the
    torch network."""
    net.eval()
    parts = [torch.softmax(net(torch.from_numpy(x[i : i + batch]),
                               torch.from_numpy(side[i : i + batch])), 1)
             for i in range(0, len(x), batch)]
    return torch.cat(parts).numpy()


def export(net: ArtifactNet, path: Path) -> None:
    """Write the network as ONNX (opset 17, dynamic batch), softmax included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    example = (torch.zeros(2, len(VIEWS), N_MELS, FRAMES), torch.zeros(2, waveform.SIZE))
    torch.onnx.export(
        _Probabilities(net).eval(), example, str(path), input_names=[INPUT_NAME, WAVEFORM_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, WAVEFORM_NAME: {0: "batch"},
                      OUTPUT_NAME: {0: "batch"}},
        opset_version=17, dynamo=False,
    )
