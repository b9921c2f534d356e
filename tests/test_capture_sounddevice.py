"""The sounddevice backend: its clock and overflow accounting (PortAudio's callback driven by
hand), device errors, and a real recording through a PulseAudio null sink.

The recording plays a 1 kHz tone with a 300 ms digital dropout into the sink while the
pipeline records its monitor beside a small live video source, then checks the tone's level, the
dropout (found by the audio dropout detector), and that audio and video share one clock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.capture.base import Emit, MediaSource
from harness.capture.sounddevice import SoundDeviceSource
from harness.detectors.audio.dropout import AudioDropoutDetector
from harness.detectors.base import Detector, DetectorSettings
from harness.errors import CaptureError
from harness.events import Defect, Event
from harness.media import MICROSECONDS, AudioBlock, MediaInfo, VideoFrame
from harness.pipeline import Pipeline

RATE = 48000
BLOCK = 4800  # 0.1 s


def _callback(source: SoundDeviceSource, age: float, overflow: bool = False) -> None:
    """Call the source's PortAudio callback as PortAudio would, for one 0.1 s block whose first
    sample is ``age`` seconds old (age 0: a host API without timestamps)."""
    current = time.monotonic() + 1000.0 if age else 0.0  # PortAudio's clock is not monotonic's
    time_info = SimpleNamespace(currentTime=current, inputBufferAdcTime=current - age)
    status = SimpleNamespace(input_overflow=overflow)
    source._callback(np.zeros((BLOCK, 2), np.float32), BLOCK, time_info, status)


def _drain(source: SoundDeviceSource) -> list[AudioBlock]:
    blocks: list[AudioBlock] = []
    while not source._blocks.empty():
        blocks.append(source._blocks.get_nowait())
    return blocks


def test_first_sample_is_placed_at_its_adc_time_on_the_shared_clock() -> None:
    source = SoundDeviceSource(sample_rate=RATE, block_seconds=0.1)
    source.clock_origin = time.monotonic() - 1.0  # the session started a second ago
    _callback(source, age=0.1)
    _callback(source, age=0.1)
    first, second = _drain(source)
    assert first.time == pytest.approx(0.9, abs=0.02)  # taken 0.1 s before the callback
    assert second.start == first.end  # then counted, not re-timed
    assert first.samples.shape == (BLOCK, 2) and first.samples.dtype == np.float32


def test_unusable_adc_time_falls_back_to_one_block() -> None:
    source = SoundDeviceSource(sample_rate=RATE, block_seconds=0.1)
    source.clock_origin = time.monotonic() - 1.0
    _callback(source, age=0.0)  # host APIs without timestamps report zeros
    (block,) = _drain(source)
    assert block.time == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize("overflow", [True, False], ids=["overflow", "silent-loss"])
def test_audio_lost_advances_start_by_what_the_clock_says(overflow: bool) -> None:
    """PortAudio's overflow flag, or the clock alone: PulseAudio's ALSA plugin drops audio
    without flagging it."""
    source = SoundDeviceSource(sample_rate=RATE, block_seconds=0.1)
    source.clock_origin = time.monotonic() - 1.0
    _callback(source, age=0.1)
    time.sleep(0.4)  # the next callback comes 0.4 s later: 0.3 s were never delivered
    _callback(source, age=0.1, overflow=overflow)
    first, second = _drain(source)
    lost = second.start - first.end
    assert lost / RATE == pytest.approx(0.3, abs=0.03)
    assert source.samples_lost == lost


def test_blocks_are_counted_not_re_timed_when_the_clock_shows_no_loss() -> None:
    source = SoundDeviceSource(sample_rate=RATE, block_seconds=0.1)
    source.clock_origin = time.monotonic() - 10.0
    _callback(source, age=0.1)
    # the same instant: by the clock this block starts before the last one ended
    _callback(source, age=0.1, overflow=True)
    _callback(source, age=0.1)
    blocks = _drain(source)
    assert [b.start for b in blocks[1:]] == [b.end for b in blocks[:-1]]
    assert source.samples_lost == 0


def needs_portaudio() -> None:
    """Skip unless sounddevice can load PortAudio (it raises OSError when the library is
    missing, which importorskip does not catch)."""
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"sounddevice cannot load PortAudio ({exc}): apt-get install libportaudio2")


def test_missing_sounddevice_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import now raises ImportError
    with pytest.raises(CaptureError, match="pip install sounddevice"):
        SoundDeviceSource("pulse").open()


def test_unknown_device_names_it_and_lists_the_inputs() -> None:
    needs_portaudio()
    with pytest.raises(CaptureError, match=r"audio input 'no such interface' not found") as error:
        SoundDeviceSource("no such interface").open()
    assert "audio.device" in str(error.value) or "no audio input at all" in str(error.value)


class TickSource(MediaSource):
    """A live 25 fps black picture on the session clock: the video every pipeline needs."""

    backend_name = "tick"
    is_live = True

    def open(self) -> None:
        pass

    @property
    def info(self) -> MediaInfo:
        return MediaInfo(path="tick", fps=25.0, width=64, height=36)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        assert self.clock_origin is not None
        image = np.zeros((36, 64, 3), np.uint8)
        seq = 0
        while not stop.wait(0.04):
            pts = round((time.monotonic() - self.clock_origin) * 1_000_000)
            emit(VideoFrame.from_bgr(image.copy(), pts, MICROSECONDS, seq=seq))
            seq += 1


class AudioTap(Detector[AudioBlock, DetectorSettings]):
    """Keeps every block the pipeline delivers, to measure the recording itself."""

    defect = Defect.AUDIO_DROPOUT
    media = "audio"
    Settings = DetectorSettings

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[AudioBlock] = []
        self.receiving = threading.Event()

    def process(self, item: AudioBlock) -> list[Event]:
        self.blocks.append(item)
        self.receiving.set()
        return []


#: paplay's buffer. ENVIRONMENT.md's 20 ms underruns on a loaded 2-core machine (measured: up to
#: 1.4 s of silence in 4 s at load 9, which the dropout detector rightly reports); 200 ms
#: plays cleanly there and still starts the tone within ~30 ms.
PLAYBACK_LATENCY_MS = 200


class Player:
    """Plays a file into the null sink once audio is being recorded, after a lead-in of silence.

    A PortAudio stream on PulseAudio can take up to a second to deliver its first block, and in
    its first few blocks may drop 50-200 ms of backlog; the lead-in lets that settle so the
    stimulus is recorded whole.
    """

    def __init__(self, path: Path, when: threading.Event, lead_in_s: float = 0.6) -> None:
        self.path, self.when, self.lead_in_s = path, when, lead_in_s
        self.started_at: float | None = None  # time.monotonic() when paplay was started
        self.process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._cancel = threading.Event()

    def __enter__(self) -> Player:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cancel.set()
        self._thread.join(5)
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)

    def _play(self) -> None:
        if not self.when.wait(5) or self._cancel.wait(self.lead_in_s):
            return
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            ["paplay", f"--latency-msec={PLAYBACK_LATENCY_MS}", str(self.path)])


TONE_AMPLITUDE = 0.5  # a sine of this peak is -9.03 dBFS RMS
DROPOUT_S = 0.3


def write_stimulus(path: Path, tone_before_s: float, tone_after_s: float) -> Path:
    """A 1 kHz tone, then 300 ms of digital zero, then the tone again (16-bit stereo WAV).

    The tone runs on past the end of the recording: a tone that stopped while recording would
    be a second, legitimate fall to silence.
    """
    def tone(seconds: float) -> np.ndarray:
        t = np.arange(round(seconds * RATE)) / RATE
        return TONE_AMPLITUDE * np.sin(2 * np.pi * 1000 * t)

    mono = np.concatenate([tone(tone_before_s), np.zeros(round(DROPOUT_S * RATE)),
                           tone(tone_after_s)])
    pcm = np.round(np.repeat(mono[:, None], 2, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())
    return path


def rms_dbfs(samples: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(samples, dtype=np.float64))))


def silences(mono: np.ndarray, min_seconds: float = 0.005) -> list[tuple[int, int]]:
    """(start, end) of runs of digital silence: every gap here is exact zeros (the silence
    playing, the stimulus's dropout, a playback underrun), while a 1 kHz sine stays below
    -80 dBFS for a sample at most."""
    quiet = np.concatenate([[False], np.abs(mono) < 1e-4, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    pairs = zip(edges[::2], edges[1::2], strict=True)
    return [(int(a), int(b)) for a, b in pairs if b - a >= min_seconds * RATE]


@pytest.mark.slow
def test_tone_with_dropout_recorded_through_pulseaudio(
    playback_silence: None, tmp_path: Path
) -> None:
    needs_portaudio()
    tone_before_s = 1.2
    stimulus = write_stimulus(tmp_path / "tone-dropout.wav", tone_before_s, tone_after_s=5.0)
    # The first stream of a fresh PulseAudio server can take 1.4 s to deliver its first block
    # (measured); the profile remedy for a slow-starting source is a longer capture_timeout.
    timeout = 4.0
    # A CPU-starved machine can make PulseAudio lose audio mid-stimulus; that loss is counted
    # (asserted below) but spoils the measurement, so such a take is recorded once more.
    for _take in range(2):
        audio = SoundDeviceSource("pulse", sample_rate=RATE, channels=2, block_seconds=0.1,
                                  read_timeout=timeout)
        tap, dropout = AudioTap(), AudioDropoutDetector()
        pipeline = Pipeline([TickSource(), audio], [tap, dropout], device="pulse-null-sink",
                            capture_timeout=timeout)
        with Player(stimulus, when=tap.receiving) as player:
            # long enough for the dropout to be recorded even when audio starts 3 s late
            report = pipeline.run(duration=6.0)

        origin = tap.blocks[0].start
        recording = np.zeros((tap.blocks[-1].end - origin, 2), np.float32)  # lost stays 0
        for block in tap.blocks:
            recording[block.start - origin : block.end - origin] = block.samples
        pairs = zip(tap.blocks, tap.blocks[1:], strict=False)
        losses = [(a.end - origin, b.start - origin) for a, b in pairs if b.start != a.end]
        assert sum(end - start for start, end in losses) == report.stats.audio_samples_lost
        runs = silences(recording[:, 0])
        assert runs and runs[0][0] == 0, f"the recording has no lead-in silence: {runs}"
        onset = runs[0][1]
        if all(end <= onset for _, end in losses):
            break
    # a stream may lose audio while it starts (see Player); never once the stimulus plays
    assert all(end <= onset for _, end in losses), f"audio lost during the stimulus: {losses}"

    # One clock: the tone reaches the recording a little after paplay was started, on the
    # monotonic clock the video is stamped with too (allowing the clock's 20 ms tolerance).
    assert player.started_at is not None and audio.clock_origin is not None
    tone_delay = (origin + onset) / RATE - (player.started_at - audio.clock_origin)
    assert -0.02 < tone_delay < 0.3, f"tone heard {tone_delay:.3f} s after paplay started"

    # The dropout: the silence where the stimulus has it. Any other silence after the onset is
    # a playback underrun of the rig (paplay starved of CPU), which can also lengthen it.
    expected = onset + round(tone_before_s * RATE)
    gap_start, gap_end = min(runs[1:], key=lambda run: abs(run[0] - expected))
    glitches = [(a, b) for a, b in runs[1:] if (a, b) != (gap_start, gap_end)]
    gap_s = (gap_end - gap_start) / RATE
    tone = np.zeros(len(recording), bool)
    tone[onset:] = True
    for a, b in runs[1:]:
        tone[max(0, a - 48) : b + 48] = False
    tone_level = rms_dbfs(recording[tone])
    print(f"first audio block at {tap.blocks[0].time:.3f} s, first frame at "
          f"{report.stats.first_frame_time:.3f} s; lost while starting (ms): "
          f"{[round((end - start) / RATE * 1000) for start, end in losses]}; tone heard "
          f"{tone_delay * 1000:.0f} ms after paplay started, at {tone_level:.2f} dBFS RMS; "
          f"dropout of {gap_s * 1000:.1f} ms at {(origin + gap_start) / RATE:.3f} s "
          f"({(gap_start - expected) / RATE * 1000:.1f} ms from where expected); "
          f"playback underruns (ms): {[round((b - a) / RATE * 1000) for a, b in glitches]}")
    assert tone_level == pytest.approx(20 * np.log10(TONE_AMPLITUDE / np.sqrt(2)), abs=0.3)
    assert DROPOUT_S - 0.002 < gap_s < DROPOUT_S + 0.05
    assert abs(gap_start - expected) < 0.05 * RATE

    # The detector reports that silence to the sample, and nothing that is not silence.
    events = report.of("audio_dropout")
    found = [e for e in events if e.start < (origin + gap_end) / RATE
             and (origin + gap_start) / RATE < e.end]
    assert len(found) == 1, [(round(e.start, 3), round(e.end, 3)) for e in events]
    (event,) = found
    print(f"AudioDropoutDetector: {event.start:.4f}-{event.end:.4f} s, score {event.score:.2f}; "
          f"{len(events) - 1} more event(s) at playback underruns")
    assert event.start == pytest.approx((origin + gap_start) / RATE, abs=0.002)
    assert event.end == pytest.approx((origin + gap_end) / RATE, abs=0.002)
    for other in events:
        assert any(a <= other.start * RATE - origin + 1 and other.end * RATE - origin - 1 <= b
                   for a, b in runs), f"{other} is not a silence in the recording"
