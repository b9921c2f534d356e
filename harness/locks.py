"""One test process per physical device at a time.

Under pytest-xdist every worker runs session fixtures of its own, so two workers could drive one
capture card and one remote at once and corrupt each other's verdicts. A device lock is an
advisory ``flock`` on a file named after the device: held for as long as a test uses the device,
released by the kernel if the process dies, so a crashed worker never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import CaptureError

#: How long a test waits for another process to finish with the device.
DEFAULT_WAIT_SECONDS = 600.0
_POLL_SECONDS = 0.2


def lock_dir() -> Path:
    """Where device locks live: ``$HARNESS_LOCK_DIR``, or the system's temporary directory."""
    return Path(os.environ.get("HARNESS_LOCK_DIR") or tempfile.gettempdir()) / "vqa-harness-locks"


@contextlib.contextmanager
def device_lock(device: str, wait: float = DEFAULT_WAIT_SECONDS) -> Iterator[None]:
    """Hold the device's lock; raise CaptureError naming the holder after ``wait`` seconds."""
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{device}.lock"
    with path.open("a+") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise CaptureError(
                        f"device {device!r} is in use by {holder} (lock {path}) for over "
                        f"{wait:g} s; run one pytest worker per device (e.g. "
                        "`pytest -n 2 --device=tv01,tv02 --dist loadgroup`)"
                    ) from None
                time.sleep(_POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
