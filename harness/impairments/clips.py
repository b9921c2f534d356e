"""Apply video impairments to a whole clip: what the tests and the dataset writer need."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.impairments.base import Label, VideoImpairment


def impair_video(
    frames: Sequence[np.ndarray], fps: float, impairments: Sequence[VideoImpairment]
) -> tuple[list[np.ndarray], list[np.ndarray | None], list[Label]]:
    """The frames through every impairment in order (frame ``i`` at ``i / fps`` s).

    Returns the impaired frames, one mask per frame (the impairments' masks OR-ed; None where
    none gave one) and each impairment's label. Each impairment sees the previous one's output,
    so a later mask is relative to that, as the simulated device stacks its faults.
    """
    images: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for index, image in enumerate(frames):
        mask = None
        for impairment in impairments:
            result = impairment.apply(index, index / fps, image)
            image = result.image
            if result.mask is not None:
                mask = result.mask if mask is None else mask | result.mask
        images.append(image)
        masks.append(mask)
    return images, masks, [impairment.label() for impairment in impairments]
