"""Generated programme content for the simulated device: moving pictures and music-like audio.

Everything is a pure function of the frame index or sample index and a seed, so a run is
reproducible and a scripted fault can be placed exactly. The picture always moves (a pan over a
textured scene plus a moving object and a running timecode) and the audio never falls silent,
so clean content gives a clean verdict and every defect found is one that was injected.
"""

from __future__ import annotations

import functools

import numpy as np

#: Notes of a pentatonic scale (Hz) the music-like soundtrack draws from.
_SCALE = np.array([220.0, 246.94, 277.18, 329.63, 369.99, 440.0, 493.88, 554.37, 659.25])
_NOTE_SECONDS = 0.5
_BEAT_SECONDS = 1.0


class GeneratedPicture:
    """A slow pan over a textured scene, with a moving ball and a timecode, at any size."""

    def __init__(self, width: int, height: int, fps: float, seed: int) -> None:
        import cv2

        self.width, self.height, self.fps = width, height, fps
        rng = np.random.default_rng(seed)
        canvas_w, canvas_h = width * 3 // 2, height * 3 // 2
        coarse = rng.random((canvas_h // 40 + 2, canvas_w // 40 + 2, 3)).astype(np.float32)
        smooth = cv2.resize(coarse, (canvas_w, canvas_h), interpolation=cv2.INTER_CUBIC)
        detail = rng.random((canvas_h, canvas_w, 1)).astype(np.float32) * 0.25
        scene = np.clip(40 + 170 * smooth + 40 * detail, 0, 255).astype(np.uint8)
        for _ in range(12):  # hard-edged shapes, so motion is visible to any detector
            x, y = int(rng.integers(0, canvas_w)), int(rng.integers(0, canvas_h))
            colour = tuple(int(c) for c in rng.integers(30, 230, 3))
            cv2.rectangle(scene, (x, y), (x + width // 8, y + height // 6), colour, -1)
        self._scene = scene

    def frame(self, index: int) -> np.ndarray:
        import cv2

        t = index / self.fps
        spare_x = self._scene.shape[1] - self.width
        spare_y = self._scene.shape[0] - self.height
        x = int(spare_x * (0.5 + 0.5 * np.sin(2 * np.pi * t / 17.0)))
        y = int(spare_y * (0.5 + 0.5 * np.sin(2 * np.pi * t / 11.0)))
        image = self._scene[y : y + self.height, x : x + self.width].copy()
        ball = (
            int(self.width * (0.5 + 0.4 * np.sin(2 * np.pi * t / 3.0))),
            int(self.height * (0.5 + 0.35 * np.cos(2 * np.pi * t / 2.3))),
        )
        cv2.circle(image, ball, max(8, self.height // 12), (40, 200, 250), -1)
        cv2.putText(
            image,
            f"{t:8.3f} s  #{index}",
            (self.height // 20, self.height // 10),
            cv2.FONT_HERSHEY_SIMPLEX,
            self.height / 600,
            (255, 255, 255),
            max(1, self.height // 300),
            cv2.LINE_AA,
        )
        return image


class GeneratedSound:
    """Music-like audio: plucked notes every half second, a soft drum on each beat."""

    def __init__(self, sample_rate: int, channels: int, seed: int, gain: float = 1.0) -> None:
        self.sample_rate, self.channels, self.seed = sample_rate, channels, seed
        self._gain = gain

    @classmethod
    def at_loudness(cls, sample_rate: int, channels: int, seed: int, lufs: float) -> GeneratedSound:
        """The soundtrack scaled to an integrated loudness of ``lufs`` (BS.1770)."""
        return cls(sample_rate, channels, seed, _calibrated_gain(sample_rate, channels, seed, lufs))

    def samples(self, start: int, count: int) -> np.ndarray:
        """``count`` samples from sample index ``start``, shape (count, channels)."""
        rate = self.sample_rate
        n = start + np.arange(count)
        t = n / rate
        note_index = (n // int(_NOTE_SECONDS * rate)).astype(np.int64)
        freq = _SCALE[(note_index * 7 + self.seed * 3 + (note_index // 5)) % len(_SCALE)]
        since_note = t - note_index * _NOTE_SECONDS
        envelope = np.minimum(since_note / 0.01, 1.0) * np.exp(-since_note * 4.0)
        tone = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3)) * envelope * 0.3
        beat_index = (n // int(_BEAT_SECONDS * rate)).astype(np.int64)
        since_beat = t - beat_index * _BEAT_SECONDS
        drum = _hashed_noise(n, self.seed) * np.exp(-since_beat * 30.0) * 0.25
        mono = (tone + drum) * self._gain
        pan = np.linspace(0.9, 1.1, self.channels)[np.newaxis, :]
        return (mono[:, np.newaxis] * pan).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _calibrated_gain(sample_rate: int, channels: int, seed: int, loudness_lufs: float) -> float:
    """Gain that puts the soundtrack at ``loudness_lufs`` (measured once per format and seed)."""
    import pyloudnorm

    probe = GeneratedSound(sample_rate, channels, seed).samples(0, sample_rate * 10)
    measured = pyloudnorm.Meter(sample_rate).integrated_loudness(probe)
    return float(10 ** ((loudness_lufs - measured) / 20))


def _hashed_noise(n: np.ndarray, seed: int) -> np.ndarray:
    """Uniform noise in [-1, 1] that depends only on the sample index (block-size independent)."""
    x = (n.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B9)) * np.uint64(2654435761)
    x ^= x >> np.uint64(16)
    x *= np.uint64(0x45D9F3B)
    x ^= x >> np.uint64(16)
    return (x & np.uint64(0xFFFF)).astype(np.float64) / 32767.5 - 1.0
