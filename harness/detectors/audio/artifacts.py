"""Audio artifacts -- mains hum, hiss, distortion, clicks -- found without a reference, by a small
CNN that classifies 1-second segments of each channel (``models/audio_artifacts.onnx``).

No clean copy of the programme exists at the capture, and each of these defects has a
legitimate twin in content (a bass note, a cymbal wash or applause, a distorted guitar, a drum
hit), so a learned classifier trained on simulated defects in real content is the tool; the
model card (``models/audio_artifacts.md``) gives its data, accuracy, strength curves, and how it
compares with a classical DSP classifier on the same segments.

The capture path carries a little of two of these defects on every real capture (mains hum near
-70 dBFS, a noise floor of -66 to -58 dBFS), so the classes are defined by level: hum from
-50 dBFS RMS, hiss from -50 dBFS RMS (``training/audio_segments.py`` holds all boundaries).

Method: resample to 48 kHz where needed (``resample``), log-mel steps per channel in a tonal and
a transient view (``features``, the very code the training used), a 1-s window every 0.5 s so a
defect straddling a window boundary is whole in the next one, with the window's waveform
statistics (``waveform``: near-peak amplitudes, impulsiveness, mains lines) beside its log-mel
picture, every channel classified on its
own (a downmix would dilute a defect on one channel, so there is none). A window is flagged for
a defect when that class's probability reaches its threshold on any channel; flagged windows of
one defect in a row make one event, spanning them, its score the highest probability seen. Once
an event is open, a window whose probability only reaches ``sustain_threshold`` still extends it
(hysteresis, as sound-event detection post-processing does): one incident with a borderline
second in its middle is one event, not two, and no event is ever opened below the threshold.
The event's ``channels`` are those that reached the threshold in one of its windows: a channel
that only reached the sustain level extended the event but is not called affected.
Hum has a second witness: every 2 s the steady mains lines of the last 4 s are measured on each
channel (``mains_lines``: lines held on a mains harmonic, narrow and at one level, which no
programme keeps up for seconds, while one second cannot tell hum from a bass note); where they
are hum, the windows until the next measurement are hum on that channel whatever the model
says, with a score of 1.0, and the event says what found it and the measured mains frequency.
Windows are classified in one batch as soon as their last sample arrives; an event is reported
when a window is no longer flagged, or at ``flush``. A final stretch shorter than a window is not
classified.

Audio the capture lost (a jump in ``AudioBlock.start``) is not a device defect: open events are
closed where the audio stopped and windows restart at the new position, never spanning the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from harness.detectors.audio.features import (
    FRAMES,
    FRAMES_HOP,
    N_MELS,
    SAMPLE_RATE,
    SEGMENT,
    SEGMENT_HOP,
    SPEC,
    VIEWS,
    LogMelStream,
)
from harness.detectors.audio.mains_lines import SPAN_S, MainsHum, SteadyMainsLines
from harness.detectors.audio.resample import StreamResampler
from harness.detectors.audio.waveform import SPEC as WAVEFORM_SPEC
from harness.detectors.audio.waveform import waveform_features
from harness.detectors.base import Detector, DetectorSettings
from harness.errors import ModelError
from harness.events import Defect, Event, Evidence
from harness.inference import load_session
from harness.media import AudioBlock, AudioHistory

MODEL = "audio_artifacts"
CLASSES = ("none", "hum", "hiss", "distortion", "clicks")
DEFECTS = {
    "hum": Defect.AUDIO_HUM,
    "hiss": Defect.AUDIO_HISS,
    "distortion": Defect.AUDIO_DISTORTION,
    "clicks": Defect.AUDIO_CLICKS,
}
#: Audio kept to cut evidence from: a window is classified within a block of its end.
_HISTORY_S = 3.0
_WINDOW_S = SEGMENT / SAMPLE_RATE
_HOP_S = SEGMENT_HOP / SAMPLE_RATE
_HUM = CLASSES.index("hum")
#: How often the steady mains lines are measured (samples): every 2 s, every fourth window;
#: each measurement covers ``SPAN_S`` s and holds until the next (hum lasts; this halves the
#: cost of measuring every second).
LINES_EVERY = 4 * SEGMENT_HOP
#: Everything a trained model must agree with: the log-mel front end and the waveform statistics
#: (the manifest's ``input``; the detector refuses a model whose spec differs).
FRONT_END = {**SPEC, "waveform": WAVEFORM_SPEC}


_CALIBRATED = ("; default: the model's own, chosen on its validation split for at most 0.25 % "
               "false alarms on each clean set (models/audio_artifacts.md)")


class ArtifactSettings(DetectorSettings):
    """Per-class probability thresholds; left unset, each is the one the model was calibrated
    with (its manifest entry, ``trained.thresholds``), so a retrained model brings its own.

    Off unless a profile enables it or a run asks for its defects: the shipped model does not
    yet meet its accuracy and false-alarm targets (models/audio_artifacts.md), and a release
    gate must not fail builds on a detector's false alarms."""

    enabled: bool = Field(False, description="run on every watch (opt-in: below target yet)")

    hum_threshold: float | None = Field(
        None, gt=0, le=1, description="hum probability that flags a window" + _CALIBRATED
    )
    hiss_threshold: float | None = Field(
        None, gt=0, le=1, description="hiss probability that flags a window" + _CALIBRATED
    )
    distortion_threshold: float | None = Field(
        None, gt=0, le=1, description="distortion probability that flags a window" + _CALIBRATED
    )
    clicks_threshold: float | None = Field(
        None, gt=0, le=1, description="clicks probability that flags a window" + _CALIBRATED
    )
    mains_lines: bool = Field(
        True, description="also report hum where steady lines sit on the mains harmonics for "
        f"{SPAN_S} s (docs/audio_artifacts.md); off: the model alone"
    )
    sustain_threshold: float = Field(
        0.5, gt=0, le=1, description="probability that keeps an open event going (hysteresis; "
        "never above the class's own threshold)"
    )
    threads: int = Field(1, ge=1, description="onnxruntime intra-op threads")


@dataclass
class _Open:
    """Consecutive flagged windows of one defect; ``best`` is the most confident window."""

    start: float
    end: float
    score: float
    channels: set[int]
    channel: int
    probabilities: np.ndarray
    snippet: AudioBlock | None
    windows: int = 1
    mains: MainsHum | None = None  #: the loudest steady mains lines seen (hum only)
    found_by: set[str] = field(default_factory=set)


class AudioArtifactDetector(Detector[AudioBlock, ArtifactSettings]):
    """Classifies each channel's 1-s windows; see the module docstring for the method."""

    name = "audio_artifacts"
    defects = tuple(DEFECTS.values())
    media = "audio"
    Settings = ArtifactSettings

    def __init__(self, settings: ArtifactSettings | None = None) -> None:
        super().__init__(settings)
        self._session, info = load_session(MODEL, threads=self.settings.threads)
        differs = {k: info.input.get(k) for k, v in FRONT_END.items() if info.input.get(k) != v}
        if differs or info.classes != CLASSES:
            raise ModelError(
                f"model {MODEL!r} was trained for another front end or classes ({differs or ''}"
                f"{info.classes if info.classes != CLASSES else ''}); this code expects "
                f"{FRONT_END} and {CLASSES}. {info.remedy}"
            )
        self._inputs = (info.input["name"], info.input["waveform_name"])
        calibrated = info.trained.get("thresholds", {})
        self.thresholds = {
            label: getattr(self.settings, f"{label}_threshold") or calibrated.get(label, 0.5)
            for label in DEFECTS
        }
        self._thresholds = np.array([np.inf, *self.thresholds.values()], np.float32)
        self._sustain = np.minimum(self._thresholds, self.settings.sustain_threshold)
        self._format: tuple[int, int] = (0, 0)
        self._next = 0
        self._open: dict[str, _Open] = {}
        self._hum_ended = -np.inf  # end of the last hum event: a new one never reaches back over it

    def _restart(self, block: AudioBlock) -> None:
        """Start windows afresh at this block (start of stream, new format, or lost audio)."""
        self._origin = block.time
        self._stream = LogMelStream(block.channels)
        self._resampler = (None if block.sample_rate == SAMPLE_RATE else
                           StreamResampler(block.sample_rate, SAMPLE_RATE, block.channels))
        self._window = 0  # index of the next window to classify
        # log-mel frames and samples at SAMPLE_RATE from the first of window self._window on
        self._frames = np.zeros((0, block.channels, len(VIEWS), N_MELS), np.float32)
        self._audio: list[np.ndarray] = []
        self._samples = 0  # samples at SAMPLE_RATE pushed since the restart
        self._lines = SteadyMainsLines(block.channels) if self.settings.mains_lines else None
        self._unmeasured: list[np.ndarray] = []  # samples not yet given to the mains lines
        self._measured = 0  # samples given to them
        self._mains: list[MainsHum | None] = [None] * block.channels

    def process(self, block: AudioBlock) -> list[Event]:
        events: list[Event] = []
        if (block.sample_rate, block.channels) != self._format:
            events = self.flush()
            self._format = (block.sample_rate, block.channels)
            self._history = AudioHistory(_HISTORY_S)
            self._restart(block)
        elif block.start != self._next:
            events = self._close(list(self._open))
            self._restart(block)
        self._next = block.end
        self._history.append(block)
        samples = block.samples if self._resampler is None else self._resampler(block.samples)
        self._stream.push(samples)
        self._audio.append(samples)
        if self._lines is not None:
            self._unmeasured.append(samples)
        self._samples += len(samples)
        # a window's frames are complete a little before its last sample: wait for the sample,
        # so the evidence snippet is the whole window
        if self._samples >= self._window * SEGMENT_HOP + SEGMENT:
            events += self._classify()
        return events

    def flush(self) -> list[Event]:
        return self._close(list(self._open))

    def _classify(self) -> list[Event]:
        self._frames = np.concatenate([self._frames, self._stream.frames()])
        count = (self._samples - SEGMENT) // SEGMENT_HOP + 1 - self._window
        # (windows, frames, channels, views, mels) -> (windows * channels, views, mels, frames)
        windows = np.stack([self._frames[i * FRAMES_HOP :][:FRAMES] for i in range(count)])
        batch = windows.transpose(0, 2, 3, 4, 1).reshape(-1, len(VIEWS), N_MELS, FRAMES)
        audio = np.concatenate(self._audio)
        statistics = np.concatenate([waveform_features(audio[i * SEGMENT_HOP :][:SEGMENT])
                                     for i in range(count)])
        probabilities = self._session.run(None, dict(zip(self._inputs, (batch, statistics),
                                                         strict=True)))[0]
        probabilities = probabilities.reshape(count, windows.shape[2], len(CLASSES))
        events = []
        for i in range(count):
            self._measure_mains((self._window + i) * SEGMENT_HOP + SEGMENT)
            events += self._flag(self._origin + (self._window + i) * _HOP_S, probabilities[i])
        self._window += count
        self._frames = self._frames[count * FRAMES_HOP :]
        self._audio = [audio[count * SEGMENT_HOP :]]
        return events

    def _measure_mains(self, end: int) -> None:
        """The steady mains lines of the ``SPAN_S`` s up to sample ``end`` (since the restart),
        on every ``LINES_EVERY``-th sample; the last measurement holds in between."""
        if self._lines is not None and end % LINES_EVERY == 0:
            unmeasured = np.concatenate(self._unmeasured)
            take = end - self._measured  # up to this window's end, in one piece: cheaper
            self._lines.push(unmeasured[:take])
            self._unmeasured, self._measured = [unmeasured[take:]], end
            self._mains = self._lines.hum(end) or [None] * len(self._mains)

    def _flag(self, start: float, probabilities: np.ndarray) -> list[Event]:
        """Open, extend or close each defect's event with one window's (channels, classes)
        probabilities, hum also with the steady mains lines measured last."""
        lines = np.array([hum is not None for hum in self._mains])
        # where the lines are hum, hum scores 1.0 (a measurement, not a probability): it is
        # flagged, sustained and scored like any class from there
        scores = probabilities.copy()
        scores[lines, _HUM] = 1.0
        flagged = scores >= self._thresholds
        sustained = scores >= self._sustain
        ended = []
        for index, label in enumerate(CLASSES[1:], start=1):
            event = self._open.get(label)
            channels = np.flatnonzero((flagged if event is None else sustained)[:, index])
            if not len(channels):
                ended.append(label)
                continue
            channel = int(channels[np.argmax(scores[channels, index])])
            score = float(scores[channel, index])
            if event is None:
                event = self._open[label] = _Open(
                    start, start + _WINDOW_S, score, set(channels.tolist()), channel,
                    probabilities[channel], self._snippet(start))
                if index == _HUM:
                    self._note_hum(event, channels, probabilities, lines, opened=True)
                continue
            event.end, event.windows = start + _WINDOW_S, event.windows + 1
            if index == _HUM:
                self._note_hum(event, channels, probabilities, lines, opened=False)
            # a channel is affected where it reached the threshold, not only the sustain level
            event.channels.update(np.flatnonzero(flagged[:, index]).tolist())
            if score > event.score:
                event.score, event.channel = score, channel
                event.probabilities, event.snippet = probabilities[channel], self._snippet(start)
        return self._close([label for label in ended if label in self._open])

    def _note_hum(self, event: _Open, channels: np.ndarray, probabilities: np.ndarray,
                  lines: np.ndarray, opened: bool) -> None:
        """What found the hum in this window (the model, the steady mains lines), the loudest
        lines so far; an event the lines open starts where their ``SPAN_S`` s began (the hum was
        steady all through it), never before the previous hum event or the restart."""
        if (probabilities[channels, _HUM] >= self._thresholds[_HUM]).any():
            event.found_by.add("model")
        measured = [self._mains[c] for c in channels if lines[c]]
        if not measured:
            return
        event.found_by.add("mains lines")
        loudest = max(measured, key=lambda hum: hum.level_dbfs)
        if event.mains is None or loudest.level_dbfs > event.mains.level_dbfs:
            event.mains = loudest
        if opened and event.found_by == {"mains lines"}:
            event.start = max(event.end - SPAN_S, self._hum_ended, self._origin)

    def _snippet(self, start: float) -> AudioBlock | None:
        return self._history.snippet(start, start + _WINDOW_S)

    def _close(self, labels: list[str]) -> list[Event]:
        events = []
        for label in labels:
            event = self._open.pop(label)
            detail = {
                "channel": event.channel,
                "channels": sorted(event.channels),
                "probabilities": {c: round(float(p), 3)
                                  for c, p in zip(CLASSES, event.probabilities, strict=True)},
                "windows": event.windows,
            }
            if label == "hum":
                self._hum_ended = event.end
                detail["found_by"] = " + ".join(sorted(event.found_by))
                if event.mains is not None:
                    detail["mains"] = event.mains.to_dict()
            events.append(Event(DEFECTS[label], event.start, event.end, event.score, detail,
                                Evidence(audio=event.snippet)))
        return events
