"""Device locks: a second process waits for the device, then gets a clear error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import CaptureError
from harness.locks import device_lock


def test_a_held_device_is_refused_with_the_holder_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path))
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from harness.locks import device_lock
            with device_lock("tv01"):
                print("held", flush=True)
                time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
        env={"HARNESS_LOCK_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = pytest.raises(CaptureError, match=rf"'tv01' is in use by pid {holder.pid}")
        with refused, device_lock("tv01", wait=0.5):
            pass
        with device_lock("tv02", wait=0.5):  # other devices are free
            pass
    finally:
        holder.kill()
        holder.wait()
    with device_lock("tv01", wait=2):  # the kernel released the dead holder's lock
        pass
