"""Hard negatives: legitimate pictures that look like defects, labelled ``clean``.

A detector trained only on defects versus pristine content learns shortcuts: "any noise is
corruption", "any block edge is corruption", "any dark frame is black". These put the look-alikes
real content is full of into the training data and the tests, with the label that they are fine:
film grain (noise that is not corruption), heavy but legitimate compression (blocky, not broken)
and a fade through black that is shorter than a black-frame defect. No masks: nothing is wrong.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from harness.impairments._frames import FrameImpairment, check_choice
from harness.impairments.base import ImpairedFrame
from harness.simulation.capture_path import mjpeg_roundtrip

#: Seconds of black before the black-frame detector reports a defect (its default
#: ``min_duration``): a ``ShortFade`` must stay shorter, or its ``clean`` label would be a lie.
BLACK_DEFECT_SECONDS = 1.0


class FilmGrain(FrameImpairment):
    """Fresh film grain on every frame, strongest in the mid-tones as on film.

    ``strength`` is the grain's standard deviation in code values at mid-grey; it falls to a
    quarter in deep shadows and highlights. ``size`` is the grain clump size in pixels. Drawing
    fresh Gaussian noise per 720p frame costs tens of milliseconds, so a few grain fields slightly
    larger than the frame are drawn on the first frame and each frame adds a randomly chosen,
    randomly offset window of one: as different from frame to frame as any detector can tell.
    Grain is luma only (the same on B, G and R), like film grain synthesis.
    """

    name = "film_grain"
    defect = "clean"
    _FIELDS = 4
    _MARGIN = 32

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, strength: float = 6.0,
        size: float = 1.5,
    ) -> None:  # fmt: skip
        super().__init__(at, duration, seed)
        if strength <= 0 or size < 1:
            raise ValueError(f"{self.name}: need strength > 0 and size >= 1")
        self.strength, self.size = strength, size
        luma = np.arange(256) / 255
        #: Grain amplitude per luma code value, 255 = ``strength``: a bell over the tones.
        self._response = np.round(255 * (0.25 + 0.75 * 4 * luma * (1 - luma))).astype(np.uint8)
        self._fields: list[np.ndarray] = []

    def params(self) -> dict[str, Any]:
        return {"strength": self.strength, "size": self.size}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        height, width = image.shape[:2]
        shape = (height + self._MARGIN, width + self._MARGIN)
        if not self._fields or self._fields[0].shape != shape:
            self._fields = [self._grain_field(*shape) for _ in range(self._FIELDS)]
        field = self._fields[self.rng.integers(self._FIELDS)]
        dy, dx = self.rng.integers(0, self._MARGIN, size=2)
        amplitude = cv2.LUT(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), self._response)
        window = field[dy : dy + height, dx : dx + width]
        grain = cv2.multiply(window, amplitude, scale=self.strength / 255, dtype=cv2.CV_32F)
        return ImpairedFrame(cv2.add(image, cv2.merge([grain] * 3), dtype=cv2.CV_8U))

    def _grain_field(self, height: int, width: int) -> np.ndarray:
        """Unit-variance noise in clumps of ``size`` pixels."""
        small = (max(1, round(width / self.size)), max(1, round(height / self.size)))
        noise = self.rng.standard_normal(small[::-1], np.float32)
        field = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
        return field / max(float(field.std()), 1e-6)


class LowBitrate(FrameImpairment):
    """Legitimate heavy compression: blocky and smeared, yet every block is in its place.

    ``codec="jpeg"`` encodes each frame alone at JPEG ``quality`` (cheap; the 8x8 blocking of a
    starved intra coder). ``codec="h264"`` runs one libx264 encoder and decoder (PyAV) through the
    window at constant rate factor ``crf``, starting with a keyframe, so the picture also shows
    inter-frame artefacts (smearing, blocks that update late) that real low-bitrate streams have
    and a block-corruption detector must not flag.
    """

    name = "low_bitrate"
    defect = "clean"
    CODECS = ("jpeg", "h264")

    def __init__(
        self, at: float, duration: float, seed: int = 0, *, codec: str = "jpeg",
        quality: int = 12, crf: int = 42,
    ) -> None:  # fmt: skip
        super().__init__(at, duration, seed)
        check_choice(self.name, "codec", codec, self.CODECS)
        if not 1 <= quality <= 100 or not 0 <= crf <= 51:
            raise ValueError(f"{self.name}: need 1 <= quality <= 100 and 0 <= crf <= 51")
        self.codec, self.quality, self.crf = codec, quality, crf
        self._h264: _H264RoundTrip | None = None

    def params(self) -> dict[str, Any]:
        if self.codec == "jpeg":
            return {"codec": self.codec, "quality": self.quality}
        return {"codec": self.codec, "crf": self.crf}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        if self.codec == "jpeg":
            return ImpairedFrame(mjpeg_roundtrip(image, self.quality))
        if self._h264 is None:
            self._h264 = _H264RoundTrip(self.crf)
        return ImpairedFrame(self._h264(image))


class _H264RoundTrip:
    """One frame in, the same frame encoded and decoded out: libx264 with no frame delay."""

    def __init__(self, crf: int) -> None:
        import av

        self._encoder = av.CodecContext.create("libx264", "w")
        self._encoder.pix_fmt = "yuv420p"
        self._encoder.time_base = Fraction(1, 1000)
        self._encoder.options = {"crf": str(crf), "preset": "ultrafast", "tune": "zerolatency"}
        self._decoder = av.CodecContext.create("h264", "r")
        self._count = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        import av

        height, width = image.shape[:2]
        # 4:2:0 needs even sizes: code one more row/column and crop it off again
        padded = cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        if self._count == 0:
            self._encoder.width, self._encoder.height = padded.shape[1], padded.shape[0]
        frame = av.VideoFrame.from_ndarray(padded, format="bgr24")
        frame.pts = self._count
        self._count += 1
        decoded = [
            picture
            for packet in self._encoder.encode(frame)
            for picture in self._decoder.decode(packet)
        ]
        if len(decoded) != 1:
            raise RuntimeError(f"libx264 round trip gave {len(decoded)} frames for one")
        return np.ascontiguousarray(decoded[0].to_ndarray(format="bgr24")[:height, :width])


class ShortFade(FrameImpairment):
    """A fade to black and back, as an edit between scenes: gradual, and over quickly.

    The picture fades out linearly, stays black for ``hold`` seconds, and fades back in over the
    same time as it faded out, all within the window, which must be shorter than a black-frame
    defect (``BLACK_DEFECT_SECONDS``). The fade starts from full brightness at the window's start
    and is back to it at the window's end. Each frame's ``gain`` (1 = unchanged, 0 = black) is in
    the label.
    """

    name = "short_fade"
    defect = "clean"

    def __init__(self, at: float, duration: float, seed: int = 0, *, hold: float = 0.1) -> None:
        super().__init__(at, duration, seed)
        if duration >= BLACK_DEFECT_SECONDS or not 0 <= hold < duration:
            raise ValueError(
                f"{self.name}: need duration < {BLACK_DEFECT_SECONDS} s (longer black is a "
                f"defect) and 0 <= hold < duration (got {duration}, {hold})"
            )
        self.hold = hold
        self._ramp = (duration - hold) / 2

    def params(self) -> dict[str, Any]:
        return {"hold": self.hold}

    def impair(
        self, index: int, time: float, image: np.ndarray, facts: dict[str, Any]
    ) -> ImpairedFrame:
        since = time - self.at
        if since < self._ramp:
            gain = 1 - since / self._ramp
        else:
            gain = max(since - self._ramp - self.hold, 0.0) / self._ramp
        facts["gain"] = gain = min(max(gain, 0.0), 1.0)
        return ImpairedFrame(cv2.convertScaleAbs(image, alpha=gain))
