"""Spectrogram pictures: audio defects made visible (hum is a line, hiss a haze, clicks are
vertical strokes, a dropout a dark gap), for reports and the impairment gallery."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import signal

#: Level range shown, dB relative to full scale: from the capture noise floor to full scale.
_FLOOR_DB, _TOP_DB = -100.0, 0.0


def spectrogram_image(
    samples: np.ndarray, sample_rate: int, height: int = 256, width: int = 640,
    max_hz: float = 12_000.0,
) -> np.ndarray:
    """A BGR picture of the mono mix's spectrogram: time left to right, frequency bottom to top
    (log-spaced, so 50 Hz hum and its harmonics are as visible as 8 kHz hiss)."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    nperseg = min(2048, max(64, len(mono)))
    freqs, _, power = signal.spectrogram(mono, sample_rate, nperseg=nperseg,
                                         noverlap=nperseg * 3 // 4, scaling="spectrum")
    level = 10 * np.log10(power + 1e-20)
    log_axis = np.geomspace(30.0, min(max_hz, sample_rate / 2), height)
    rows = np.stack([np.interp(log_axis, freqs, column) for column in level.T], axis=1)
    scaled = np.clip((rows - _FLOOR_DB) / (_TOP_DB - _FLOOR_DB), 0, 1)
    picture = (scaled[::-1] * 255).astype(np.uint8)
    picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(picture, cv2.COLORMAP_INFERNO)
