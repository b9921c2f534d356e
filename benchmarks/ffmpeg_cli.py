"""The FFmpeg command line as the benchmarks use it: run quietly, fail with FFmpeg's own
message, say which build made the figures."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FFMPEG = shutil.which("ffmpeg")


def require_ffmpeg() -> str:
    """The ffmpeg executable, or exit saying how to install it."""
    if FFMPEG is None:
        raise SystemExit("ffmpeg is not installed (apt-get install ffmpeg)")
    return FFMPEG


def run_ffmpeg(*args: str | Path) -> None:
    """Run FFmpeg quietly (overwriting outputs); its own error message if it fails."""
    command = [require_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed ({' '.join(command[6:])}): {done.stderr.strip()}")


def ffmpeg_version() -> str:
    """The build's version string, e.g. ``5.1.9-0+deb12u1``."""
    words = subprocess.run([require_ffmpeg(), "-version"], capture_output=True,
                           text=True).stdout.split()
    return words[2] if len(words) > 2 else "unknown"
