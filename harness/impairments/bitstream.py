"""Block corruption from real bitstream damage, concealed by FFmpeg's own H.264 decoder.

The pixel-domain impairment paints corruption; this one *causes* it, so the block corruption
detector also learns from what a receiver shows when a broadcast loses packets: grey or smeared
macroblocks where a slice could not be decoded, blocks moved by guessed motion vectors, stale
picture parts, and errors that travel with the motion and persist until the next keyframe.

How a frame goes through it (in-process, streaming: one access unit in, one picture out):

1. libx264 encodes the clean picture: ``tune=zerolatency`` (no B-frames, no lookahead, so each
   frame's access unit comes out at once) and ``threads=1`` (the bitstream depends on pictures
   and settings only, so the damage is reproducible from the seed). IDR keyframes, with SPS/PPS
   repeated, come every ``gop`` frames counted from the encoder start; x264's scene-cut
   keyframes are off so the schedule is exactly ours. Weighted prediction is off: a corrupted
   weight table tints the whole picture until the keyframe, which is a colour defect, not block
   corruption, and would be a mislabelled positive (it did so in ~1 of 40 seeded runs).
2. The access unit is cut as an MPEG-TS multiplexer cuts it: a PES header (14 bytes: PTS only,
   as without B-frames) then payloads of 184 bytes, one per 188-byte TS packet. Inside the
   window a bursty channel (Gilbert-Elliott: a share ``rate`` of TS packets hit, in bursts of
   mean length ``burst``) *loses* the hit packets (``kind="loss"``: what a demuxer passes on after
   a continuity-counter gap, the bytes simply missing) or *corrupts* their payload
   (``kind="errors"``: an uncorrectable Reed-Solomon block, about one byte in eight wrong). The
   first hit falls at a seeded place in the window's first frame, so the fault starts at ``at``.
3. Two FFmpeg H.264 decoders decode the damaged and the intact access units, single-threaded so
   concealment is deterministic, with concealment set explicitly (``ec=guess_mvs+deblock``, the
   FFmpeg default that players ship) and corrupt frames output. A frame that yields no picture
   of its own (all its packets lost, or nothing decodable) shows the previous picture, as a
   player repeats the last frame it has.

Ground truth: ``mask = max over B, G, R of |shown - clean decode| > tolerance``, exactly, with no
morphology. Outside the damage the two decodes are bit-identical, so compression loss is never
labelled; the tolerance (default 8 code values) only drops concealment residue too faint to see,
such as a static background copied from the previous frame (its sensor noise differs by a few
code values). The mask marks every pixel that is *wrong*, visible or not: a stale region in a
slow pan differs along its edges, and a frame repeated because all its packets were lost (small
pictures take few TS packets, so long bursts do that) differs wherever there is motion. In
textured moving content the area ratio therefore exceeds what the eye calls corrupted.

What is shown when: the encoder starts on a keyframe ``phase`` frames (seeded, 1..gop) before
the window (from the second frame at the earliest: the lead-in and x264's rate control need the
frame interval, known from two frames), so the damage starts mid-GOP as on air. It stops at the
first scheduled keyframe at or after the window end, where the decoders provably agree again (an
IDR empties the reference buffer). From the first keyframe to the frame before the last one the
damaged decode is shown; the input passes untouched elsewhere (mask ``None``). Decoded frames
that are not damaged get an empty mask (changed by the encoding, corrupted nowhere). Showing the
decode from the first keyframe rather than from ``at`` puts the step between pristine and encoded
pictures (36-43 dB PSNR at the default CRF on our clips) on keyframes, where a real stream's
quality steps too, and never on the onset of the damage, so no detector can learn the defect from
the quality step. The stream's first access unit is never damaged: a receiver must have joined
the stream before its damage can show.

The label is the visible damage, not the window: ``start`` is the time of the first frame with a
non-empty mask, ``end`` that of the frame after the last one (damage outlives the window until the
keyframe; a perfectly concealed loss shows nothing). Both are final once the recovery keyframe has
been seen; if the stream ends before it, ``end`` is one frame interval after the last frame. If no
pixel was ever visibly damaged the label spans nothing (``start == end == at``, area ratio 0) and
a dataset writer should drop it. As for the other video impairments, ``Label.frames`` lists
``{"index", "area_ratio"}`` for every frame of the label's span (0 where a frame in between
happens to be clean) and ``area_ratio`` is their maximum. ``reference`` holds the clean decode of
the frame just applied: the same picture at the same compression without the damage, a matched
negative for training.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar, Literal

import av
import cv2
import numpy as np
from av.codec.context import CodecContext
from av.video.frame import PictureType

from harness.impairments.base import TIME_EPSILON, ImpairedFrame, Label, VideoImpairment, changed

TOLERANCE = 8  #: default: corrupted = off the clean decode by more than this on any of B, G, R
TS_PAYLOAD = 184  #: bytes of a 188-byte TS packet left after its 4-byte header
PES_HEADER = 14  #: 9 fixed bytes + a 5-byte PTS, carried by the first TS packet of a frame
ERROR_BYTE_PROBABILITY = 1 / 8  #: share of payload bytes wrong in a TS packet hit by errors

Kind = Literal["loss", "errors"]


class _Channel:
    """A Gilbert-Elliott channel over TS packets: hits come in bursts, as on air or over IP.

    In the bad state every packet is hit, in the good state none. The bad state is left with
    probability ``1 / burst`` per packet (mean burst ``burst``) and entered with the probability
    that makes the long-run share of hit packets ``rate``.
    """

    def __init__(self, rate: float, burst: float, rng: np.random.Generator) -> None:
        self.to_good = 1.0 / burst
        self.to_bad = rate * self.to_good / (1.0 - rate)
        self.rng = rng
        self.bad = False

    def hits(self, count: int, onset: int | None = None) -> np.ndarray:
        """Which of the next ``count`` packets are hit; ``onset`` forces a burst to start there."""
        hit = np.zeros(count, bool)
        draws = self.rng.random(count)
        for i in range(count):
            if i == onset:
                self.bad = True
            elif self.bad:
                self.bad = draws[i] >= self.to_good
            else:
                self.bad = draws[i] < self.to_bad
            hit[i] = self.bad
        return hit


def _ts_payloads(access_unit: bytes) -> list[bytes]:
    """The access unit cut into the payloads of the TS packets a multiplexer would carry it in."""
    first = TS_PAYLOAD - PES_HEADER
    rest = range(first, len(access_unit), TS_PAYLOAD)
    return [access_unit[:first], *(access_unit[i : i + TS_PAYLOAD] for i in rest)]


class BitstreamCorruption(VideoImpairment):
    """H.264 over MPEG-TS with packets lost or corrupted in the window (see the module doc).

    ``kind``: ``"loss"`` or ``"errors"``; ``rate``: share of TS packets hit in the window
    (0 < rate <= 0.5); ``burst``: mean run of hit packets (>= 1); ``slices`` per picture: a hit
    ruins a slice from the hit to its end, so more slices confine the damage to bands (one slice:
    the rest of the picture is concealed); ``gop``: frames between keyframes, which bounds how long
    damage persists; ``crf`` and ``preset``: x264 quality (how many TS packets a frame takes, hence
    how many a given rate hits) and tools (``superfast`` keeps CABAC and the deblocking filter, as
    broadcast encoders do); ``tolerance``: code values a pixel may be off before it is corrupted.
    """

    name: ClassVar[str] = "block_corruption_bitstream"
    defect: ClassVar[str] = "block_corruption"

    def __init__(
        self,
        at: float,
        duration: float,
        seed: int = 0,
        *,
        kind: Kind = "loss",
        rate: float = 0.02,
        burst: float = 4.0,
        slices: int = 1,
        gop: int = 50,
        crf: float = 20.0,
        preset: str = "superfast",
        tolerance: int = TOLERANCE,
    ) -> None:
        super().__init__(at, duration, seed)
        if kind not in ("loss", "errors"):
            raise ValueError(f"{self.name}: kind must be 'loss' or 'errors' (got {kind!r})")
        if not 0.0 < rate <= 0.5 or burst < 1.0:
            raise ValueError(f"{self.name}: need 0 < rate <= 0.5, burst >= 1 (got {rate}, {burst})")
        if slices < 1 or gop < 1 or not 0.0 <= crf <= 51.0 or tolerance < 0:
            raise ValueError(
                f"{self.name}: need slices >= 1, gop >= 1, 0 <= crf <= 51, tolerance >= 0"
            )
        self.kind, self.rate, self.burst, self.slices = kind, rate, burst, slices
        self.gop, self.crf, self.preset, self.tolerance = gop, crf, preset, tolerance
        self.phase = int(self.rng.integers(1, gop + 1))  #: frames from a keyframe to the window
        self._onset = float(self.rng.random())  #: where in the window's first frame damage starts
        self._channel = _Channel(rate, burst, self.rng)
        self._encoder: CodecContext | None = None
        self._damaged_decoder: CodecContext | None = None
        self._clean_decoder: CodecContext | None = None
        self._encoded = 0  # frames encoded so far; frame k is a keyframe when k % gop == 0
        self._hit_frames = 0  # frames sent through the channel so far
        self._finished = False
        self._shown: np.ndarray | None = None  # the last picture shown, repeated on a lost frame
        self._times: list[float] = []  # media times of the last two frames seen
        self.reference: np.ndarray | None = None  #: clean decode of the last frame, if decoded
        self._ratios: dict[int, float] = {}  # frame index -> corrupted share, decoded frames
        self._first_damaged: tuple[int, float] | None = None  # (index, time)
        self._last_damaged_index = -1
        self._after_damaged: float | None = None  # time of the frame after the last damaged one
        self._last_damaged = False  # the previous frame was damaged: this one may end the label
        self._max_ratio = 0.0

    def params(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "rate": self.rate, "burst": self.burst, "slices": self.slices,
            "gop": self.gop, "crf": self.crf, "preset": self.preset,
            "tolerance": self.tolerance, "phase": self.phase,
        }

    def label(self) -> Label:
        if self._first_damaged is None:
            return Label(self.defect, self.at, self.at, self.params(), 0.0)
        first, start = self._first_damaged
        end = self._after_damaged
        if end is None:  # the stream ended still damaged: one frame interval after the last
            end = self._times[-1] + self._interval()
        frames = [{"index": i, "area_ratio": ratio} for i, ratio in self._ratios.items()
                  if first <= i <= self._last_damaged_index]
        return Label(self.defect, start, end, self.params(), self._max_ratio, frames)

    def apply(self, index: int, time: float, image: np.ndarray) -> ImpairedFrame:
        self._times = [*self._times[-1:], time]
        self.reference = None
        if self._last_damaged:
            self._after_damaged, self._last_damaged = time, False
        if self._finished or not self._running(time):
            return ImpairedFrame(image)
        keyframe = self._encoded % self.gop == 0
        if keyframe and time >= self.end - TIME_EPSILON:  # recovered: the decoders agree again
            self._encoder = self._damaged_decoder = self._clean_decoder = None
            self._finished = True
            return ImpairedFrame(image)
        if self._encoder is None:
            self._open(image.shape[1], image.shape[0])
        pts = self._encoded
        access_unit = self._encode(image, keyframe)
        joined = pts > 0  # the receiver holds the stream's first keyframe
        sent = self._damage(access_unit) if joined and self.active(time) else access_unit
        height, width = image.shape[:2]
        clean = _decode(self._clean_decoder, access_unit, pts)[:height, :width]
        damaged = _decode(self._damaged_decoder, sent, pts)
        shown = self._shown if damaged is None else damaged[:height, :width]
        mask = changed(clean, shown, self.tolerance)
        self._shown, self.reference = shown, clean
        self._record(index, time, mask)
        return ImpairedFrame(shown, mask)

    def _running(self, time: float) -> bool:
        """Whether the encoder runs at ``time``: from ``phase`` frames before the window on."""
        if self._encoder is not None:
            return True
        if len(self._times) < 2:  # the frame interval is not known yet: the next frame decides
            return False
        return time + self.phase * self._interval() >= self.at - TIME_EPSILON

    def _interval(self) -> float:
        return self._times[1] - self._times[0]

    def _open(self, width: int, height: int) -> None:
        encoder = CodecContext.create("libx264", "w")
        encoder.width, encoder.height = width + width % 2, height + height % 2  # 4:2:0: even
        encoder.pix_fmt = "yuv420p"
        # x264's rate control (CRF included) scales with the frame rate, so give it the real one
        encoder.framerate = Fraction(1 / self._interval()).limit_denominator(1001)
        encoder.time_base = 1 / encoder.framerate
        encoder.thread_count = 1
        encoder.options = {
            "preset": self.preset,
            "tune": "zerolatency",
            "crf": str(self.crf),
            "forced-idr": "1",
            "x264-params": f"keyint=infinite:scenecut=0:weightp=0:aud=1:slices={self.slices}",
        }
        encoder.open()
        self._encoder = encoder
        self._damaged_decoder, self._clean_decoder = _decoder(), _decoder()

    def _encode(self, image: np.ndarray, keyframe: bool) -> bytes:
        assert self._encoder is not None
        height, width = self._encoder.height, self._encoder.width
        if image.shape[:2] != (height, width):  # odd size: repeat the last row/column
            pad = (0, height - image.shape[0], 0, width - image.shape[1])
            image = cv2.copyMakeBorder(image, *pad, cv2.BORDER_REPLICATE)
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), "yuv420p")
        frame.pts = self._encoded
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        self._encoded += 1
        return b"".join(bytes(packet) for packet in self._encoder.encode(frame))

    def _damage(self, access_unit: bytes) -> bytes:
        """The access unit after the channel: hit TS packets lost or their payload corrupted."""
        payloads = _ts_payloads(access_unit)
        onset = int(self._onset * len(payloads)) if self._hit_frames == 0 else None
        self._hit_frames += 1
        hits = self._channel.hits(len(payloads), onset)
        if self.kind == "loss":
            return b"".join(p for p, hit in zip(payloads, hits, strict=True) if not hit)
        received = []
        for payload, hit in zip(payloads, hits, strict=True):
            if hit:
                data = np.frombuffer(payload, np.uint8).copy()
                wrong = self.rng.random(data.size) < ERROR_BYTE_PROBABILITY
                data[wrong] ^= self.rng.integers(1, 256, int(wrong.sum()), dtype=np.uint8)
                payload = data.tobytes()
            received.append(payload)
        return b"".join(received)

    def _record(self, index: int, time: float, mask: np.ndarray) -> None:
        ratio = float(np.count_nonzero(mask)) / mask.size
        self._ratios[index] = ratio
        if ratio > 0.0:
            if self._first_damaged is None:
                self._first_damaged = (index, time)
            self._last_damaged_index = index
            self._max_ratio = max(self._max_ratio, ratio)
            self._after_damaged, self._last_damaged = None, True


def _decoder() -> CodecContext:
    """An H.264 decoder that conceals errors and outputs the frames it concealed."""
    decoder = CodecContext.create("h264", "r")
    decoder.thread_count = 1
    decoder.options = {"flags": "+output_corrupt", "ec": "guess_mvs+deblock"}
    decoder.open()
    return decoder


def _decode(decoder: CodecContext, data: bytes, pts: int) -> np.ndarray | None:
    """The BGR picture ``decoder`` makes of access unit ``pts``, or None when it makes none.

    A picture for another ``pts`` (a decoder confused into reordering) is not this frame's: a
    player would drop it late, so it counts as none.
    """
    if not data:
        return None
    packet = av.Packet(data)
    packet.pts = pts
    try:
        frames = decoder.decode(packet)
    except av.error.InvalidDataError:  # damage the decoder refuses outright
        return None
    for frame in frames:
        if frame.pts == pts:
            return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
    return None
