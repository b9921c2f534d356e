"""Evidence sounds: an audio snippet as a WAV file any browser plays inline."""

from __future__ import annotations

import io
import wave

import numpy as np

from harness.media import AudioBlock


def encode_wav(block: AudioBlock) -> bytes:
    """16-bit PCM WAV of a block (float samples are clipped to [-1, 1])."""
    pcm = (np.clip(block.samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(block.channels)
        wav.setsampwidth(2)
        wav.setframerate(block.sample_rate)
        wav.writeframes(pcm.tobytes())
    return buffer.getvalue()
