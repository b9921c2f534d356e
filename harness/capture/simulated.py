"""The simulated device: plays real or generated content with scripted faults, as a capture sees it.

It is the embedded default (``sim01``), so the whole harness -- pipeline, detectors, pytest
verdicts, Allure evidence -- runs on any machine. Faults are the impairments of
``harness.impairments`` (every simulated defect and look-alike: the same objects the training
data is made with), applied to clean content at exact media times. Then the capture path's look
is added on top (limited range, noise, MJPEG; an audio noise floor with hum), so a frozen
picture is not bit-identical and a dropout is the floor, never digital zero, as on a real rig.

Time: frame ``i`` has pts ``i`` in units of 1/fps, audio sample ``n`` is at n / sample_rate,
both from zero at the start of the programme. In real-time mode items are paced against
``clock_origin`` so the simulator behaves like a live device (drops when the harness lags).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from harness.capture.base import Emit, MediaSource
from harness.impairments.base import AudioImpairment, VideoImpairment
from harness.media import AudioBlock, MediaInfo, VideoFrame
from harness.profiles import AudioSource, DeviceProfile, Simulation
from harness.simulation.capture_path import VideoCapturePath, captured_audio
from harness.simulation.content import GeneratedPicture, GeneratedSound

#: Loudness of the generated soundtrack (EBU R128 target), so a clean run is compliant.
GENERATED_LOUDNESS_LUFS = -23.0


class SimulatedSource(MediaSource):
    """A simulated set-top box: one source giving both video and audio."""

    backend_name = "simulated"
    has_end = True
    provides_video = True

    def __init__(self, simulation: Simulation, audio: AudioSource) -> None:
        self.simulation = simulation
        self.audio = audio
        self.provides_audio = audio.backend == "simulated"
        self.is_live = simulation.realtime
        self._info: MediaInfo | None = None
        self._picture: GeneratedPicture | None = None
        self._sound: GeneratedSound | None = None

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> SimulatedSource:
        assert profile.simulation is not None, "validated profiles have a simulation section"
        return cls(profile.simulation, profile.audio)

    def open(self) -> None:
        sim = self.simulation
        if sim.content != "testsrc":
            from harness.capture.recording import RecordingSource

            probe = RecordingSource(sim.content, with_audio=self.provides_audio)
            with probe:
                self._info = probe.info
            self._info.duration = min(sim.duration, self._info.duration or sim.duration)
            self._info.sample_rate, self._info.channels = self._audio_format()
            return
        rate, channels = self._audio_format()
        self._info = MediaInfo(
            path=f"sim:{sim.content}",
            duration=sim.duration,
            fps=sim.fps,
            width=sim.width,
            height=sim.height,
            sample_rate=rate,
            channels=channels,
        )
        # built here, not in the reader thread, so set-up never counts against capture_timeout
        self._picture = GeneratedPicture(sim.width, sim.height, sim.fps, sim.seed)
        self._sound = (
            GeneratedSound.at_loudness(
                self.audio.sample_rate, self.audio.channels, sim.seed, GENERATED_LOUDNESS_LUFS
            )
            if self.provides_audio
            else None
        )

    @property
    def info(self) -> MediaInfo:
        if self._info is None:
            raise RuntimeError("SimulatedSource.info read before open()")
        return self._info

    def run(self, emit: Emit, stop: threading.Event) -> None:
        sim = self.simulation
        faults = [
            fault.impairment(seed=sim.seed + number) for number, fault in enumerate(sim.faults)
        ]
        video_faults = [f for f in faults if isinstance(f, VideoImpairment)]
        audio_faults = [f for f in faults if isinstance(f, AudioImpairment)]
        rng = np.random.default_rng(sim.seed)
        origin = self.clock_origin if self.clock_origin is not None else time.monotonic()
        look: VideoCapturePath | None = None
        for item in self._content():
            if stop.is_set():
                return
            if sim.stall_at is not None and item.time >= sim.stall_at:
                stop.wait()  # a dead capture: nothing more, ever
                return
            pace = origin + item.time - time.monotonic() if sim.realtime else 0.0
            if pace > 0 and stop.wait(pace):
                return
            if isinstance(item, VideoFrame):
                image = item.bgr
                for fault in video_faults:
                    image = fault.apply(item.seq, item.time, image).image
                if sim.capture_artifacts:
                    look = look or VideoCapturePath(item.width, item.height, rng)
                    image = look(image)
                emit(VideoFrame.from_bgr(image, item.pts, item.time_base, item.seq))
            else:
                samples = item.samples
                for fault in audio_faults:
                    samples = fault.apply(item.start, samples, item.sample_rate)
                if sim.capture_artifacts:
                    samples = captured_audio(samples, item.sample_rate, rng, start=item.start)
                emit(AudioBlock(samples, item.sample_rate, item.start))

    def _audio_format(self) -> tuple[int | None, int | None]:
        if not self.provides_audio:
            return None, None
        return self.audio.sample_rate, self.audio.channels

    def _content(self) -> Iterator[VideoFrame | AudioBlock]:
        sim = self.simulation
        if sim.content == "testsrc":
            return self._generated()
        return self._from_file(Path(sim.content))

    def _generated(self) -> Iterator[VideoFrame | AudioBlock]:
        """Frames and audio blocks interleaved in media-time order."""
        sim = self.simulation
        time_base = 1 / Fraction(sim.fps).limit_denominator(10_000)
        picture, sound = self._picture, self._sound
        assert picture is not None, "_generated() before open()"
        rate = self.audio.sample_rate
        block = max(1, int(self.audio.block_seconds * rate))
        next_sample = 0
        frames = int(sim.duration * sim.fps)
        for index in range(frames):
            frame_time = float(index * time_base)
            while sound is not None and next_sample / rate <= frame_time:
                yield AudioBlock(sound.samples(next_sample, block), rate, next_sample)
                next_sample += block
            yield VideoFrame.from_bgr(picture.frame(index), index, time_base, seq=index)

    def _from_file(self, path: Path) -> Iterator[VideoFrame | AudioBlock]:
        from harness.capture.recording import RecordingSource

        rate, channels = self._audio_format()
        source = RecordingSource(
            path, with_audio=self.provides_audio, sample_rate=rate, channels=channels
        )
        with source:
            for item in source.items():
                if item.time < self.simulation.duration:
                    yield item
                elif isinstance(item, VideoFrame):
                    return  # audio is interleaved slightly ahead: only video ends the programme
