"""Small real media files made with ffmpeg for tests (H.264/AAC, exactly known content)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)"
)


def make_clip(
    path: Path,
    seconds: float = 3.0,
    size: str = "320x240",
    fps: int = 25,
    audio_delay_ms: int = 0,
    extra_video_filter: str = "",
) -> Path:
    """A testsrc2 clip with a 1 kHz tone; ``audio_delay_ms`` starts the audio that much late."""
    assert FFMPEG is not None
    video = f"testsrc2=size={size}:rate={fps}" + (
        f",{extra_video_filter}" if extra_video_filter else ""
    )
    audio = "sine=frequency=1000:sample_rate=48000"
    if audio_delay_ms:
        audio += f",adelay={audio_delay_ms}:all=1"
    subprocess.run(
        [
            FFMPEG,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            video,
            "-f",
            "lavfi",
            "-i",
            audio,
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
            str(path),
        ],
        check=True,
    )
    return path
