"""Impairment names -> classes, imported lazily (like the detector registry).

Several impairments can simulate one defect in different ways (block corruption from real
bitstream damage and in the pixel domain); hard negatives simulate look-alikes whose label is
``clean``. ``defect_of(name)`` says which defect an impairment's label carries.
"""

from __future__ import annotations

import importlib

from harness.impairments.base import AudioImpairment, VideoImpairment

#: impairment name -> "module:Class"
IMPAIRMENTS: dict[str, str] = {
    # video, temporal and whole-picture (harness/impairments/video.py)
    "black_frames": "harness.impairments.video:BlackFrames",
    "freeze": "harness.impairments.video:Freeze",
    "stutter": "harness.impairments.video:Stutter",
    "solid_color": "harness.impairments.video:SolidColor",
    "flicker": "harness.impairments.video:Flicker",
    # video, spatial (harness/impairments/picture.py)
    "tearing": "harness.impairments.picture:Tearing",
    "interlacing": "harness.impairments.picture:Interlacing",
    "blur": "harness.impairments.picture:Blur",
    "block_corruption_pixel": "harness.impairments.blocks:PixelBlockCorruption",
    # video, real bitstream damage (harness/impairments/bitstream.py)
    "block_corruption_bitstream": "harness.impairments.bitstream:BitstreamCorruption",
    # video hard negatives, labelled clean (harness/impairments/lookalikes.py)
    "film_grain": "harness.impairments.lookalikes:FilmGrain",
    "low_bitrate": "harness.impairments.lookalikes:LowBitrate",
    "short_fade": "harness.impairments.lookalikes:ShortFade",
    # audio (harness/impairments/audio.py)
    "audio_dropout": "harness.impairments.audio:Dropout",
    "audio_hum": "harness.impairments.audio:Hum",
    "audio_hiss": "harness.impairments.audio:Hiss",
    "audio_distortion": "harness.impairments.audio:Distortion",
    "audio_clicks": "harness.impairments.audio:Clicks",
    "level_jump": "harness.impairments.audio:LevelJump",
    # audio hard negatives, labelled clean (harness/impairments/audio_lookalikes.py)
    "distorted_guitar": "harness.impairments.audio_lookalikes:DistortedGuitar",
    "percussion": "harness.impairments.audio_lookalikes:Percussion",
    "applause": "harness.impairments.audio_lookalikes:Applause",
    # audio-video (harness/impairments/av.py)
    "av_offset": "harness.impairments.av:AvOffset",
    "av_drift": "harness.impairments.av:AvDrift",
    "video_delay": "harness.impairments.av:VideoDelay",
}


def impairment_class(name: str) -> type[VideoImpairment] | type[AudioImpairment]:
    try:
        target = IMPAIRMENTS[name]
    except KeyError:
        known = ", ".join(IMPAIRMENTS)
        raise ValueError(f"unknown impairment {name!r}; known impairments: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(name: str, at: float, duration: float, seed: int = 0, **params: object):
    """An impairment instance active in ``[at, at + duration)``."""
    return impairment_class(name)(at, duration, seed=seed, **params)
