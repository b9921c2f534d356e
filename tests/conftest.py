"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["pytester"]


# --- Real capture: a free UDP port, an ffmpeg stream sender, a PulseAudio server ------------
# Used by tests/test_capture_*.py. Real processes, not mocks: killing the sender is a real dead
# stream, and the audio goes through a real sound server (see ENVIRONMENT.md, "Capture").

AUDIO_SERVER_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audio-server.sh"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def udp_port() -> int:
    """A UDP port on 127.0.0.1 nobody listens on."""
    return _free_udp_port()


class StreamSender:
    """An ffmpeg process sending a live 320x240 25 fps H.264 test picture over MPEG-TS.

    A keyframe every second (``-g 25``), so a receiver that misses the first packets still
    decodes within a second (x264's default GOP of 250 frames would make it wait 10 s).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
             "-i", "testsrc2=size=320x240:rate=25", "-c:v", "libx264", "-preset", "veryfast",
             "-g", "25", "-f", "mpegts", self.url],
        )

    def kill(self) -> None:
        """Kill the sender at once: to the receiver, the stream simply stops."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def udp_sender(udp_port: int) -> Iterator[StreamSender]:
    """A running ffmpeg sender to ``sender.url``; killed at teardown if the test did not."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    sender = StreamSender(f"udp://127.0.0.1:{udp_port}")
    sender.start()
    yield sender
    sender.kill()


@pytest.fixture(scope="session")
def audio_server() -> Iterator[None]:
    """A PulseAudio server with a null sink (scripts/audio-server.sh, as CI runs it).

    Stopped at the end only if this session started it, so a server CI or a developer started
    keeps running.
    """
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat", "paplay")
               if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"no PulseAudio server possible here ({', '.join(missing)} not installed; "
                    "apt-get install pulseaudio pulseaudio-utils)")
    script = str(AUDIO_SERVER_SCRIPT)
    was_running = subprocess.run([script, "status"], capture_output=True).returncode == 0
    started = subprocess.run([script, "start"], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail(f"{script} start failed:\n{started.stdout}{started.stderr}")
    yield
    if not was_running:
        subprocess.run([script, "stop"], capture_output=True)


@pytest.fixture
def playback_silence(audio_server: None) -> Iterator[None]:
    """Digital silence playing into the null sink for the whole test.

    The sink's monitor delivers samples only while something plays, so without this a recording
    would begin at the stimulus, not when it was started. pacat's default buffer is 2 s; at
    20 ms the silence reaches the sink at once.
    """
    process = subprocess.Popen(["pacat", "--playback", "--latency-msec=20", "/dev/zero"])
    time.sleep(0.5)  # the first recording stream after a new playback one can start late
    yield
    process.terminate()
    process.wait(5)


@pytest.fixture(scope="module")
def canvas() -> np.ndarray:
    """A photo wider than the frame, so the camera can pan across it (video detector tests)."""
    from tests.video_content import HEIGHT, WIDTH, photo

    return photo(np.random.default_rng(1), WIDTH + 600, HEIGHT)
