"""The A/V sync test pattern: a white box flashes on a black picture as a 1 kHz tone burst sounds.

QA plays it on a device, captures the output, and ``SyncPatternDetector`` measures how far the
sound lands from the picture. What makes the measurement exact and unambiguous:

* **Flash times are frame boundaries.** A frame with presentation time ``t`` is *displayed from*
  ``t`` until the next one, so a flash is "seen" at the start of its first frame and the tone
  burst starts at that very instant (to the sample; with 29.97/59.94 fps a frame is not a whole
  number of 48 kHz samples, so the burst is evaluated in continuous time, not rounded). Flashes
  last ``FLASH_FRAMES`` frames, so a capture that drops one frame still sees the flash.
* **Intervals are irregular** (drawn from a seed, ``MIN_INTERVAL_S``-``MAX_INTERVAL_S``): with a
  regular beat an offset of one whole period would pair every tone with the wrong flash and read
  as in sync; with irregular gaps only the true shift lines all of them up.
* **One layout, shared with the detector** (``BOX``, ``PROBE``, ``SURROUND``): the box is drawn
  with margins around where the detector looks, so overscan or a scaled picture still measures.
* A known offset (``offset_ms``) and drift (``drift_ms_per_min``, growing from 0 at time 0) can
  be baked in by moving the tone bursts; the JSON sidecar records every flash and tone time, so
  tests and benchmarks compare against the truth, not against the request.

Written with PyAV's FFmpeg: H.264 (yuv420p, limited range) + AAC-LC 48 kHz stereo as MP4, or the
same as an HLS package (MPEG-TS segments and a VOD playlist) for players that stream.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import av

SAMPLE_RATE = 48_000
TONE_HZ = 1000.0
#: burst length; raised-cosine ramps keep it from clicking (a click is broadband and smears
#: through codecs), short enough to sound like a "pip"
TONE_S = 0.040
TONE_RAMP_S = 0.001
TONE_AMPLITUDE = 0.5  # -6 dBFS peak: loud through any capture path, far from clipping
FLASH_FRAMES = 2
LEAD_IN_S = 1.0  # players often start audio late; the first event waits for it
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.7, 1.9
GOP_S = 2.0  # keyframe interval: HLS segments start on keyframes
AUDIO_FRAME = 1024  # samples per encoded audio frame (AAC's)
HLS_SEGMENT_S = 4

#: Named frame rates; NTSC rates are the exact 1000/1001 fractions, not their decimal names.
FRAME_RATES: dict[str, Fraction] = {
    "23.976": Fraction(24000, 1001),
    "25": Fraction(25),
    "29.97": Fraction(30000, 1001),
    "30": Fraction(30),
    "50": Fraction(50),
    "59.94": Fraction(60000, 1001),
    "60": Fraction(60),
}

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of width and height
#: The flashing box, drawn white; black everywhere else but the label in the top-left corner.
BOX: Rect = (0.30, 0.30, 0.70, 0.70)
#: Where the detector reads the box: inside it with a margin of 6 % of the picture.
PROBE: Rect = (0.36, 0.36, 0.64, 0.64)
#: The detector's reference for black: a ring between these, clear of box and label.
SURROUND: tuple[Rect, Rect] = ((0.10, 0.15, 0.90, 0.90), (0.24, 0.24, 0.76, 0.76))

Format = Literal["mp4", "hls"]


def frame_rate(fps: str | float | Fraction) -> Fraction:
    """The exact rate for "29.97", 29.97, "30000/1001" or 30 (NTSC names map to n*1000/1001)."""
    rate = Fraction(str(fps)) if not isinstance(fps, Fraction) else fps
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, not {fps}")
    ntsc = min(FRAME_RATES.values(), key=lambda known: abs(known - rate))
    return ntsc if abs(ntsc - rate) < Fraction(1, 100) else rate


def tone_envelope(t: np.ndarray) -> np.ndarray:
    """The burst's amplitude envelope at times ``t`` (s) after its onset: 0 outside the burst."""
    rise = np.clip(t / TONE_RAMP_S, 0.0, 1.0)
    fall = np.clip((TONE_S - t) / TONE_RAMP_S, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))


def tone_burst(t: np.ndarray) -> np.ndarray:
    """The burst waveform at times ``t`` after its onset (sine phase 0 at the onset)."""
    return TONE_AMPLITUDE * tone_envelope(t) * np.sin(2 * np.pi * TONE_HZ * t)


@dataclass(frozen=True)
class SyncPattern:
    """A generated pattern: where it is and the exact truth (also stored as the JSON sidecar)."""

    media: Path  #: the .mp4 file, or the HLS playlist inside the package directory
    fps: str  #: exact rate as a fraction, e.g. "30000/1001"
    duration: float
    width: int
    height: int
    seed: int
    offset_ms: float
    drift_ms_per_min: float
    flash_s: tuple[float, ...]  #: presentation time of each flash's first frame
    tone_s: tuple[float, ...]  #: onset of each tone burst (offset and drift included)

    @property
    def sidecar(self) -> Path:
        """``pattern.mp4`` -> ``pattern.json``; an HLS playlist's (``index.json``) beside it."""
        return self.media.with_suffix(".json")

    def write_sidecar(self) -> None:
        record = {**asdict(self), "media": self.media.name, "sample_rate": SAMPLE_RATE,
                  "tone_hz": TONE_HZ, "tone_ms": TONE_S * 1000, "flash_frames": FLASH_FRAMES}
        self.sidecar.write_text(json.dumps(record, indent=1) + "\n")

    @classmethod
    def load(cls, sidecar: Path) -> SyncPattern:
        record = json.loads(sidecar.read_text())
        fields = {name: record[name] for name in cls.__dataclass_fields__}
        fields["media"] = sidecar.parent / record["media"]
        return cls(**{**fields, "flash_s": tuple(fields["flash_s"]),
                      "tone_s": tuple(fields["tone_s"])})


def _flash_frames(rate: Fraction, duration: float, seed: int, tail_s: float) -> list[int]:
    """Frame index of each flash: irregular gaps from ``seed``, the last ``tail_s`` kept free."""
    rng = np.random.default_rng(seed)
    frames, t = [], LEAD_IN_S
    while t + tail_s <= duration:
        frames.append(round(t * rate))
        t = float(frames[-1] / rate) + rng.uniform(MIN_INTERVAL_S, MAX_INTERVAL_S)
    return frames


def generate_pattern(
    out: Path,
    fps: str | float = "30",
    duration: float = 60.0,
    fmt: Format = "mp4",
    offset_ms: float = 0.0,
    drift_ms_per_min: float = 0.0,
    seed: int = 0,
    size: tuple[int, int] = (1920, 1080),
) -> SyncPattern:
    """Write the pattern and its sidecar; ``out`` is the .mp4 file, or the HLS directory.

    ``offset_ms`` > 0 makes the audio late; the tone of a flash at ``t`` starts at ``t +
    (offset_ms + drift_ms_per_min * t / 60) / 1000``. Both must keep every tone inside the
    lead-in's reach (|shift| < ``LEAD_IN_S``), so no burst is cut off at either end.
    """
    rate = frame_rate(fps)
    shift_at_end = abs(offset_ms) + abs(drift_ms_per_min) * duration / 60
    if shift_at_end >= LEAD_IN_S * 1000:
        raise ValueError(
            f"offset {offset_ms} ms with drift {drift_ms_per_min} ms/min shifts tones by up to "
            f"{shift_at_end:.0f} ms over {duration} s; keep it under {LEAD_IN_S * 1000:.0f} ms"
        )
    width, height = size
    if width % 2 or height % 2 or min(size) < 64:
        raise ValueError(f"size {width}x{height}: use even dimensions of at least 64 (yuv420p)")
    if duration < LEAD_IN_S + MAX_INTERVAL_S + 1:
        raise ValueError(f"duration {duration} s is too short for a pattern; use at least 5 s")
    frames = _flash_frames(rate, duration, seed, tail_s=shift_at_end / 1000 + TONE_S + 0.2)
    flash_s = [float(index / rate) for index in frames]
    tone_s = [t + (offset_ms + drift_ms_per_min * t / 60) / 1000 for t in flash_s]
    if fmt == "hls":
        out.mkdir(parents=True, exist_ok=True)
        media = out / "index.m3u8"
    elif fmt == "mp4":
        out.parent.mkdir(parents=True, exist_ok=True)
        media = out
    else:
        raise ValueError(f"unknown pattern format {fmt!r}; use 'mp4' or 'hls'")
    pattern = SyncPattern(
        media, f"{rate.numerator}/{rate.denominator}", duration, width, height, seed,
        offset_ms, drift_ms_per_min, tuple(flash_s), tuple(tone_s),
    )
    _encode(pattern, rate, frames, fmt)
    pattern.write_sidecar()
    return pattern


def _encode(pattern: SyncPattern, rate: Fraction, flashes: list[int], fmt: Format) -> None:
    """Encode frame by frame, each preceded by the audio up to its end, so the muxer only ever
    holds a frame's worth of packets (an hour-long pattern costs no more memory)."""
    import av

    options = (
        {"hls_time": str(HLS_SEGMENT_S), "hls_playlist_type": "vod",
         "hls_segment_filename": str(pattern.media.parent / "segment%03d.ts")}
        if fmt == "hls"
        else {"movflags": "+faststart"}
    )
    frame_count = math.floor(pattern.duration * rate)
    total = round(frame_count / rate * SAMPLE_RATE)
    lit = {first + k for first in flashes for k in range(FLASH_FRAMES)}
    pictures = _Pictures(pattern.width, pattern.height, rate, pattern.seed)
    tones = np.array(pattern.tone_s)
    with av.open(str(pattern.media), "w", format=fmt, options=options) as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = pattern.width, pattern.height, "yuv420p"
        video.options = {"crf": "18", "preset": "veryfast", "g": str(round(GOP_S * rate))}
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        audio.bit_rate = 128_000
        next_sample = 0
        for index in range(frame_count):
            until = min(total, round((index + 1) / rate * SAMPLE_RATE))
            while next_sample < until:
                count = min(AUDIO_FRAME, total - next_sample)
                container.mux(audio.encode(_audio_frame(next_sample, count, tones)))
                next_sample += count
            image = pictures.frame(index, flash=index in lit)
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.pts, frame.time_base = index, 1 / rate
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def _audio_frame(first: int, count: int, tones: np.ndarray) -> av.AudioFrame:
    """``count`` stereo samples from sample ``first``: silence, and the bursts that overlap it
    evaluated in continuous time (a burst starts between samples as often as on one)."""
    import av

    t = (first + np.arange(count)) / SAMPLE_RATE
    mono = np.zeros(count)
    for onset in tones[(tones <= t[-1]) & (tones + TONE_S > t[0])]:
        mono += tone_burst(t - onset)
    planar = np.repeat(mono[np.newaxis, :].astype(np.float32), 2, axis=0)
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
    frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, first, Fraction(1, SAMPLE_RATE)
    return frame


class _Pictures:
    """The two pictures (box off, box on) drawn once, straight in limited-range yuv420p (an RGB
    frame would cost a colour conversion per frame: half the encoding time at 1080p); each frame
    adds its label."""

    BLACK, WHITE, LABEL, NEUTRAL = 16, 235, 150, 128  # Y code values; Cb/Cr of grey

    def __init__(self, width: int, height: int, rate: Fraction, seed: int) -> None:
        self.width, self.height, self.rate, self.seed = width, height, rate, seed
        self._dark = np.full((height * 3 // 2, width), self.NEUTRAL, np.uint8)
        self._dark[:height] = self.BLACK
        self._lit = self._dark.copy()
        x0, y0, x1, y1 = pixel_rect(BOX, width, height)
        self._lit[y0:y1, x0:x1] = self.WHITE

    def frame(self, index: int, flash: bool) -> np.ndarray:
        """A frame with a running label (so a capture shows it plays, and which frame it is)."""
        import cv2

        image = (self._lit if flash else self._dark).copy()
        label = f"A/V sync  {float(self.rate):.3f} fps  seed {self.seed}  frame {index}"
        cv2.putText(image[: self.height], label, (self.height // 30, self.height // 14),
                    cv2.FONT_HERSHEY_SIMPLEX, self.height / 900, self.LABEL,
                    max(1, self.height // 400), cv2.LINE_AA)
        return image


def pixel_rect(rect: Rect, width: int, height: int) -> tuple[int, int, int, int]:
    """A layout rectangle in pixels of a ``width`` x ``height`` picture."""
    x0, y0, x1, y1 = rect
    return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)
