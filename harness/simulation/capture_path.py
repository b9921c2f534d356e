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
    import cv2

    return cv2.convertScaleAbs(bgr, alpha=219.0 / 255.0, beta=16.0)


def sensor_noise(bgr: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` code values, clipped to 0-255."""
    noise = rng.normal(0.0, sigma, bgr.shape).astype(np.float32)
    return np.clip(bgr.astype(np.float32) + noise, 0, 255).astype(np.uint8)


class VideoCapturePath:
    """The per-frame capture look at real-time cost, for the simulated device.

    Drawing fresh Gaussian noise per 720p frame costs ~30 ms; instead a noise field slightly larger
    than the frame is drawn once and a randomly offset window of it is added to each frame, which
    is just as different from frame to frame as far as any detector can tell.
    """

    _MARGIN = 32

    def __init__(
        self,
        width: int,
        height: int,
        rng: np.random.Generator,
        quality: int = 75,
        noise_sigma: float = 1.5,
    ) -> None:
        self.rng = rng
        self.quality = quality
        shape = (height + self._MARGIN, width + self._MARGIN, 3)
        self._noise = rng.normal(0.0, noise_sigma, shape).astype(np.int16)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        import cv2

        height, width = bgr.shape[:2]
        dy, dx = self.rng.integers(0, self._MARGIN, size=2)
        noise = self._noise[dy : dy + height, dx : dx + width]
        noisy = cv2.add(limited_range(bgr), noise, dtype=cv2.CV_8U)
        return mjpeg_roundtrip(noisy, self.quality)


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
