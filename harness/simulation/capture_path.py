"""Make clean digital media look like it came through a cheap HDMI/USB capture path.

Detectors are built for captures, not for clean files (see DESIGN.md, "What real captures look
like"): MJPEG compression so no two frames of a frozen picture are identical, limited-range
levels so black reads around Y 16 rather than 0, a little sensor-like noise, and on the audio
side a noise floor (about -66 to -58 dBFS) with a trace of mains hum, so a dropout is the floor,
never digital zero. Used by the simulated device and by tests that need realistic look-alikes.
"""

from __future__ import annotations

import numpy as np


def mjpeg_roundtrip(bgr: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality`` (cheap capture cards sit around 50-85)."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def limited_range(bgr: np.ndarray) -> np.ndarray:
    """Squeeze full-range 0-255 into video range 16-235, as a mislabelled HDMI link does."""
    return (bgr.astype(np.float32) * (219.0 / 255.0) + 16.0).astype(np.uint8)


def sensor_noise(bgr: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` code values, clipped to 0-255."""
    noise = rng.normal(0.0, sigma, bgr.shape).astype(np.float32)
    return np.clip(bgr.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def captured_video(
    bgr: np.ndarray, rng: np.random.Generator, quality: int = 70, noise_sigma: float = 1.5
) -> np.ndarray:
    """A frame as a capture card delivers it: limited range, noise, then MJPEG."""
    return mjpeg_roundtrip(sensor_noise(limited_range(bgr), noise_sigma, rng), quality)


def captured_audio(
    samples: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    start: int = 0,
    floor_dbfs: float = -62.0,
    hum_dbfs: float = -70.0,
    mains_hz: float = 50.0,
) -> np.ndarray:
    """Add the capture path's noise floor and mains hum to (frames, channels) float samples.

    ``start`` is the index of the first sample, so consecutive blocks get a continuous hum.
    """
    frames, channels = samples.shape
    floor = 10 ** (floor_dbfs / 20)
    hum = 10 ** (hum_dbfs / 20) * np.sqrt(2)
    t = (start + np.arange(frames)) / sample_rate
    mains = hum * np.sin(2 * np.pi * mains_hz * t)[:, np.newaxis]
    noise = rng.normal(0.0, floor, (frames, channels))
    return (samples + mains + noise).astype(np.float32)
