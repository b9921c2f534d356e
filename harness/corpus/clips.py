"""Making and reading media: Ken Burns camera moves over photos, synthetic TV interfaces,
near-lossless encoding (H.264 CRF 14 in Matroska, FLAC at 48 kHz), decoding and probing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.corpus.manifest import CorpusError, _digest
from harness.corpus.packages import _run, _tail
from harness.corpus.sources import MAX_UPSCALE

SAMPLE_RATE = 48_000
#: Audio is scaled down (never up) to peak at -1 dBFS: decoded Vorbis overshoots full scale, and
#: writing it as is would clip, which is a defect (audio_distortion), not pristine content.
PEAK_CEILING = 10 ** (-1 / 20)
#: Near-lossless H.264: at CRF 14 a detailed 1080p photo pan comes within 1 dB (luma PSNR) of
#: lossless; "veryfast" is as good as "medium" at this CRF and 3x faster. A keyframe every 2 s,
#: as streaming services use.
X264 = (
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "14",
    "-pix_fmt",
    "yuv420p",
    "-force_key_frames",
    "expr:gte(t,n_forced*2)",
)


# -- Ken Burns clips -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Framing:
    """Where a virtual camera looks at a photo.

    ``x`` and ``y`` in [0, 1] place the crop across the room it has to move (0: left/top edge of
    the photo, 1: right/bottom edge), so every framing stays inside the picture. ``zoom`` >= 1 is
    relative to the widest crop of the clip's aspect ratio.
    """

    x: float
    y: float
    zoom: float


#: Closest zoom of the camera moves; with MAX_UPSCALE it decides which sizes a photo can make.
MAX_ZOOM = 1.25


def _unit_floats(key: str, count: int) -> list[float]:
    digest = _digest(key)
    return [int.from_bytes(digest[4 * i : 4 * i + 4], "big") / 2**32 for i in range(count)]


def camera_moves(key: str) -> dict[str, tuple[Framing, Framing]]:
    """A pan and a zoom for one clip, with directions and targets drawn from ``key``.

    Deterministic from the key (not the split seed): the corpus content never depends on how it
    is split.
    """
    r = _unit_floats(key, 6)
    pan = (Framing(0.0, 0.3 + 0.4 * r[0], 1.15), Framing(1.0, 0.3 + 0.4 * r[1], 1.15))
    zoom = (Framing(0.5, 0.5, 1.0), Framing(0.2 + 0.6 * r[2], 0.2 + 0.6 * r[3], MAX_ZOOM))
    return {"pan": pan[::-1] if r[4] < 0.5 else pan, "zoom": zoom[::-1] if r[5] < 0.5 else zoom}


def _progress_curve(t: np.ndarray | float) -> np.ndarray | float:
    """Smooth travel 0 -> 1 whose speed runs 0.5x -> 1.5x -> 0.5x of the mean: no jerk, and never
    at rest, so no stretch of a clip looks frozen (a real freeze is a defect, a pan is not)."""
    return t - 0.5 * np.sin(2 * np.pi * t) / (2 * np.pi)


def ken_burns(
    image: np.ndarray,
    size: tuple[int, int],
    seconds: float,
    fps: float,
    start: Framing,
    end: Framing,
) -> Iterator[np.ndarray]:
    """BGR frames of a camera move over ``image`` from ``start`` to ``end`` framing.

    Sub-pixel exact (``warpAffine`` with a float matrix), so motion is smooth rather than stepping
    by whole pixels. The photo is first reduced with area averaging to the scale of the closest
    framing, so the remaining warp only shrinks a little and does not alias. Raises ValueError
    when the move would upscale the photo more than MAX_UPSCALE (a soft, not pristine, clip).
    """
    import cv2

    out_w, out_h = size
    height, width = image.shape[:2]
    aspect = out_w / out_h
    widest = min(width, height * aspect)
    closest = max(start.zoom, end.zoom)
    upscale = out_w * closest / widest
    if upscale > MAX_UPSCALE + 1e-9:
        raise ValueError(
            f"a {width}x{height} photo upscaled {upscale:.2f}x for a {out_w}x{out_h} "
            f"clip at zoom {closest}: more than {MAX_UPSCALE}x is not pristine"
        )
    scale = min(1.0, upscale)
    if scale < 1.0:
        image = cv2.resize(
            image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    height, width = image.shape[:2]
    widest = min(width, height * aspect)
    count = max(2, round(seconds * fps))
    for index in range(count):
        p = float(_progress_curve(index / (count - 1)))
        zoom = start.zoom * (end.zoom / start.zoom) ** p
        x = start.x + (end.x - start.x) * p
        y = start.y + (end.y - start.y) * p
        crop_w = widest / zoom
        crop_h = crop_w / aspect
        left, top = x * (width - crop_w), y * (height - crop_h)
        s = crop_w / out_w
        # output pixel centre (u + 0.5) maps to photo coordinate left + (u + 0.5) * s
        matrix = np.array([[s, 0.0, left + 0.5 * s - 0.5], [0.0, s, top + 0.5 * s - 0.5]])
        yield cv2.warpAffine(
            image,
            matrix,
            (out_w, out_h),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )


# -- synthetic TV interfaces ---------------------------------------------------------------------

_TITLES = (
    "The Long Road",
    "Night Harbour",
    "Paper Moons",
    "Blue Planet Live",
    "Kitchen Duel",
    "Northern Lights",
    "The Last Orchard",
    "City of Glass",
    "Quiet Waters",
    "Red Canyon",
    "Midnight Jazz",
    "Wild Coast",
    "Ice Kingdom",
    "Street Food",
    "Sky Pilots",
    "Deep Forest",
    "The Archive",
    "Summer Games",
)
_ROWS = ("Continue watching", "Recommended for you", "Documentaries")
_ROLES = (
    "Director",
    "Producer",
    "Director of Photography",
    "Editor",
    "Music",
    "Sound Design",
    "Production Design",
    "Costume Design",
    "Visual Effects",
    "Colourist",
    "Gaffer",
    "Key Grip",
    "Script Supervisor",
    "Casting",
    "Location Manager",
    "Camera Operator",
)
_SYLLABLES = (
    "ma",
    "ri",
    "ko",
    "la",
    "ne",
    "to",
    "sa",
    "vi",
    "den",
    "ber",
    "lin",
    "ka",
    "mo",
    "ra",
    "el",
    "an",
    "jo",
    "ste",
    "fa",
    "nu",
)


def _name(rng: np.random.Generator) -> str:
    def word(parts: int) -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()

    return f"{word(2)} {word(int(rng.integers(2, 4)))}"


def _ease(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def _ui_menu(size: tuple[int, int], seconds: float, fps: float) -> Iterator[np.ndarray]:
    """A streaming-app home screen: rows of poster tiles, a focus frame that steps from tile to
    tile every 1.2 s with a short eased move, the row scrolling along, a description and clock."""
    import cv2

    w, h = size
    k = w / 1920
    font = cv2.FONT_HERSHEY_SIMPLEX
    rng = np.random.default_rng(7)
    tile_w, tile_h, gap = round(320 * k), round(180 * k), round(40 * k)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    background = (
        np.array([38, 18, 12], np.float32) * (1 - ramp) + np.array([80, 40, 24], np.float32) * ramp
    )
    background = np.broadcast_to(background, (h, w, 3)).astype(np.uint8)
    tiles = []
    for i in range(len(_ROWS) * 6):
        top, bottom = rng.integers(30, 230, 3), rng.integers(10, 120, 3)
        shade = np.linspace(0, 1, tile_h, dtype=np.float32)[:, None, None]
        tile = (top * (1 - shade) + bottom * shade).astype(np.uint8)
        tile = np.ascontiguousarray(np.broadcast_to(tile, (tile_h, tile_w, 3)))
        centre = (int(rng.integers(tile_w // 4, 3 * tile_w // 4)), int(tile_h * 0.4))
        colour = tuple(int(c) for c in rng.integers(120, 255, 3))
        cv2.circle(tile, centre, max(2, tile_h // 5), colour, -1, cv2.LINE_AA)
        cv2.putText(
            tile,
            _TITLES[i % len(_TITLES)],
            (round(12 * k), tile_h - round(18 * k)),
            font,
            0.8 * k,
            (255, 255, 255),
            max(1, round(2 * k)),
            cv2.LINE_AA,
        )
        tiles.append(tile)
    path = [(0, c) for c in range(6)] + [(1, c) for c in range(5, -1, -1)] + [(2, 0), (2, 1)]
    step = 1.2
    for index in range(round(seconds * fps)):
        t = index / fps
        n = min(int(t // step), len(path) - 1)
        prev = path[max(n - 1, 0)]
        cur = path[n]
        a = _ease((t - n * step) / 0.3) if n else 1.0
        focus_row = prev[0] + (cur[0] - prev[0]) * a
        focus_col = prev[1] + (cur[1] - prev[1]) * a
        frame = background.copy()
        cv2.putText(
            frame,
            "Home",
            (round(80 * k), round(100 * k)),
            font,
            1.6 * k,
            (255, 255, 255),
            max(1, round(3 * k)),
            cv2.LINE_AA,
        )
        clock = f"20:{15 + int(t) // 60:02d}"
        cv2.putText(
            frame,
            clock,
            (w - round(220 * k), round(100 * k)),
            font,
            1.4 * k,
            (230, 230, 230),
            max(1, round(2 * k)),
            cv2.LINE_AA,
        )
        for row, title in enumerate(_ROWS):
            y = round((200 + row * 270) * k)
            cv2.putText(
                frame,
                title,
                (round(80 * k), y - round(16 * k)),
                font,
                1.0 * k,
                (210, 210, 210),
                max(1, round(2 * k)),
                cv2.LINE_AA,
            )
            scroll = max(0.0, focus_col - 3) if row == round(focus_row) else 0.0
            for col in range(6):
                x = round(80 * k + (col - scroll) * (tile_w + gap))
                if x >= w or x + tile_w <= 0 or y + tile_h > h:
                    continue
                x0, x1 = max(x, 0), min(x + tile_w, w)
                frame[y : y + tile_h, x0:x1] = tiles[row * 6 + col][:, x0 - x : x1 - x]
        fx = round(80 * k + (focus_col - max(0.0, focus_col - 3)) * (tile_w + gap))
        fy = round((200 + focus_row * 270) * k)
        pad = round(8 * k)
        cv2.rectangle(
            frame,
            (fx - pad, fy - pad),
            (fx + tile_w + pad, fy + tile_h + pad),
            (255, 255, 255),
            max(1, round(6 * k)),
            cv2.LINE_AA,
        )
        title = _TITLES[(cur[0] * 6 + cur[1]) % len(_TITLES)]
        cv2.putText(
            frame,
            f"{title}  -  2024  -  1 h 32 min  -  HD",
            (round(80 * k), h - round(60 * k)),
            font,
            1.0 * k,
            (200, 200, 200),
            max(1, round(2 * k)),
            cv2.LINE_AA,
        )
        yield frame


def _ui_credits(size: tuple[int, int], seconds: float, fps: float) -> Iterator[np.ndarray]:
    """An end-credit roll already under way: white names on black scrolling up at a steady
    whole-pixel speed, as broadcast rolls do. Mostly black and slow-moving: a look-alike for
    black frames and freezes that must not be flagged."""
    import cv2

    w, h = size
    k = w / 1920
    font = cv2.FONT_HERSHEY_DUPLEX
    rng = np.random.default_rng(11)
    speed = max(1, round(3 * k))  # pixels per frame
    line_h = round(64 * k)
    count = round(seconds * fps)
    lines = (count * speed + h) // line_h + 1
    canvas = np.zeros((lines * line_h, w, 3), np.uint8)
    for i in range(lines):
        y = i * line_h + line_h // 2
        if i % 5 == 4:
            continue  # a blank line between blocks
        role, name = _ROLES[i % len(_ROLES)], _name(rng)
        thickness = max(1, round(2 * k))
        (rw, _), _ = cv2.getTextSize(role, font, 1.0 * k, thickness)
        cv2.putText(
            canvas,
            role,
            (w // 2 - round(30 * k) - rw, y),
            font,
            1.0 * k,
            (170, 170, 170),
            thickness,
            cv2.LINE_AA,
        )
        cv2.putText(
            canvas,
            name,
            (w // 2 + round(30 * k), y),
            font,
            1.0 * k,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
    for index in range(count):
        top = index * speed
        yield canvas[top : top + h].copy()


# -- encoding and probing ------------------------------------------------------------------------


def _colour_args(height: int) -> list[str]:
    """RGB -> YUV with the matrix the tags say: BT.709 for HD, BT.601 (smpte170m) below 720p,
    which is also what decoders assume for untagged video of that size."""
    matrix, tag = ("bt709", "bt709") if height >= 720 else ("bt601", "smpte170m")
    return [
        "-vf",
        f"scale=in_color_matrix={matrix}:out_color_matrix={matrix}:out_range=tv,format=yuv420p",
        "-colorspace",
        tag,
        "-color_primaries",
        tag,
        "-color_trc",
        tag,
        "-color_range",
        "tv",
    ]


def encode_frames(
    frames: Iterable[np.ndarray], size: tuple[int, int], fps: float, dest: Path
) -> None:
    """Encode BGR frames near-losslessly (X264) into ``dest`` (Matroska by its suffix)."""
    w, h = size
    if w % 2 or h % 2:
        raise ValueError(f"{w}x{h}: 4:2:0 video needs an even width and height")
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "bgr24",
        "-s",
        f"{w}x{h}",
        "-r",
        f"{fps:g}",
        "-i",
        "-",
        *_colour_args(h),
        *X264,
        str(dest),
    ]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdin is not None and process.stderr is not None
        try:
            for frame in frames:
                if frame.shape != (h, w, 3):
                    raise ValueError(f"frame of shape {frame.shape} in a {w}x{h} clip")
                process.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg died; its error is read below
        except BaseException:
            process.kill()
            raise
        error = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise CorpusError(
            f"encoding {dest.name}: ffmpeg exited with {process.returncode}: "
            f"{_tail(error)} Check that ffmpeg has libx264 (apt-get install ffmpeg)."
        )


@cache
def _ffmpeg_has_soxr() -> bool:
    result = _run(
        ["ffmpeg", "-hide_banner", "-buildconf"],
        "checking ffmpeg",
        "Install ffmpeg: apt-get install ffmpeg.",
    )
    return "--enable-libsoxr" in result.stdout + result.stderr


def decode_audio(path: Path, channels: int, max_seconds: float | None = None) -> np.ndarray:
    """Any audio FFmpeg reads -> float32 (samples, channels) at 48 kHz (SoX resampler if built)."""
    resample = (
        f"aresample={SAMPLE_RATE}:resampler=soxr:precision=28"
        if _ffmpeg_has_soxr()
        else f"aresample={SAMPLE_RATE}:filter_size=64"
    )
    limit = ["-t", f"{max_seconds:g}"] if max_seconds else []
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        *limit,
        "-vn",
        "-af",
        resample,
        "-ac",
        str(channels),
        "-f",
        "f32le",
        "-",
    ]
    try:
        result = subprocess.run(cmd, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise CorpusError(
            f"decoding {path}: ffmpeg exited with {exc.returncode}: "
            f"{_tail(exc.stderr.decode(errors='replace'))} The file may be damaged: "
            "delete the package from the cache and build again."
        ) from exc
    return np.frombuffer(result.stdout, np.float32).reshape(-1, channels).copy()


def write_audio(samples: np.ndarray, dest: Path) -> None:
    """Write 48 kHz 16-bit FLAC, scaled down to peak at -1 dBFS if louder (see PEAK_CEILING)."""
    import soundfile

    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    gain = min(1.0, PEAK_CEILING / peak) if peak > 0 else 1.0
    soundfile.write(dest, samples * gain, SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def probe(path: Path) -> dict[str, Any]:
    """Media properties for the manifest, read back from the written file (the truth)."""
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise CorpusError(f"cannot read back the image {path}; delete it and build again")
        return {"width": image.shape[1], "height": image.shape[0]}
    import av

    info: dict[str, Any] = {}
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            info["sample_rate"] = audio.codec_context.sample_rate
            info["channels"] = audio.codec_context.channels
        if container.streams.video:
            video = container.streams.video[0]
            fps = float(video.average_rate)
            frames = sum(1 for packet in container.demux(video) if packet.size)
            info.update(
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=round(fps, 3),
                frames=frames,
                duration=round(frames / fps, 3),
            )
    if "duration" not in info:
        import soundfile

        sound = soundfile.info(str(path))
        info["duration"] = round(sound.frames / sound.samplerate, 3)
    return info
