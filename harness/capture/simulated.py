"""The simulated device: plays real or generated content with scripted faults, as a capture sees it.

It is the embedded default (``sim01``), so the whole harness -- pipeline, detectors, pytest
verdicts, Allure evidence -- runs on any machine. Faults are applied to clean content at exact
media times, then the capture path's look (limited range, noise, MJPEG; an audio noise floor
with hum) is added on top, so a frozen picture is not bit-identical and a dropout is the floor,
never digital zero, exactly as on a real rig.

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
from harness.media import AudioBlock, MediaInfo, VideoFrame
from harness.profiles import AudioSource, DeviceProfile, Fault, Simulation
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
        self._info = MediaInfo(path=f"sim:{sim.content}", duration=sim.duration, fps=sim.fps,
                               width=sim.width, height=sim.height, sample_rate=rate,
                               channels=channels)

    @property
    def info(self) -> MediaInfo:
        if self._info is None:
            raise RuntimeError("SimulatedSource.info read before open()")
        return self._info

    def run(self, emit: Emit, stop: threading.Event) -> None:
        sim = self.simulation
        faults = _FaultScript(sim.faults)
        rng = np.random.default_rng(sim.seed)
        origin = self.clock_origin if self.clock_origin is not None else time.monotonic()
        look: VideoCapturePath | None = None
        held: np.ndarray | None = None  # the picture a freeze keeps showing
        for item in self._content():
            if stop.is_set():
                return
            if sim.stall_at is not None and item.time >= sim.stall_at:
                stop.wait()  # a dead capture: nothing more, ever
                return
            if sim.realtime and (delay := origin + item.time - time.monotonic()) > 0:
                if stop.wait(delay):
                    return
            if isinstance(item, VideoFrame):
                image = item.bgr
                if faults.active("freeze", item.time) and held is not None:
                    image = held
                else:
                    held = image
                if faults.active("black_frames", item.time):
                    image = np.zeros_like(image)
                if sim.capture_artifacts:
                    look = look or VideoCapturePath(item.width, item.height, rng)
                    image = look(image)
                emit(VideoFrame.from_bgr(image, item.pts, item.time_base, item.seq))
            else:
                samples = faults.silence(item)
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
        picture = GeneratedPicture(sim.width, sim.height, sim.fps, sim.seed)
        rate, channels = self.audio.sample_rate, self.audio.channels
        sound = (GeneratedSound(rate, channels, sim.seed, GENERATED_LOUDNESS_LUFS)
                 if self.provides_audio else None)
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
        source = RecordingSource(path, with_audio=self.provides_audio, sample_rate=rate,
                                 channels=channels)
        with source:
            for item in source.items():
                if item.time < self.simulation.duration:
                    yield item
                elif isinstance(item, VideoFrame):
                    return  # audio is interleaved slightly ahead: only video ends the programme


#: Fault windows are compared with this slack, so 0.4 + 0.2 covers frames up to 0.56 s and not
#: the frame at 0.6 s that float addition would otherwise let in.
_TIME_EPSILON = 1e-6


class _FaultScript:
    """The scripted faults, asked by media time."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults

    def active(self, defect: str, at: float) -> bool:
        return any(
            f.defect == defect and f.at - _TIME_EPSILON <= at < f.at + f.duration - _TIME_EPSILON
            for f in self.faults
        )

    def silence(self, block: AudioBlock) -> np.ndarray:
        """The block's samples with every scripted dropout zeroed, sample-exact."""
        samples = block.samples
        for fault in self.faults:
            if fault.defect != "audio_dropout":
                continue
            first = round(fault.at * block.sample_rate) - block.start
            last = round((fault.at + fault.duration) * block.sample_rate) - block.start
            if last > 0 and first < len(samples):
                samples = samples.copy() if samples is block.samples else samples
                samples[max(0, first) : max(0, last)] = 0.0
        return samples
