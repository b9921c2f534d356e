"""The audio artifact detector (``AudioArtifactDetector``) on defects made another way.

    python3 benchmarks/audio_artifacts_other_way.py [--corpus /work/corpus] [--seconds 30]
                                                    [--seed 0] [--json]

The shipped model learned hum, hiss, distortion and clicks from the simulator in
``harness/impairments/audio.py``; this checks it on the same kinds of fault made by other means
(FFmpeg filters and sources, and sample drops in numpy), the way real devices make them, in the
corpus's test-split audio tracks (sources the model never saw in training): the first
``--seconds`` of each track (shorter tracks whole), at 48 kHz stereo float (mono tracks on both
channels).

Variants (one function each below, its docstring says which real fault it stands for):
distortion -- digital overs (FFmpeg ``volume`` +6 / +12 dB into 16-bit PCM, so the waveform clips
flat at full scale), the same +12 dB overs turned back down 12 dB (clipped upstream, played at a
normal level), and an analogue stage saturating (``volume`` +12 dB into ``asoftclip`` tanh);
hum -- from ``aevalsrc``: a ground-loop buzz (50 Hz with odd harmonics), a full-wave-rectified
60 Hz whose 120 Hz dominates, a pure 50 Hz sine; each at -40 and -30 dBFS RMS, mixed with
``amix=normalize=0``; hiss -- ``anoisesrc`` white, pink and brown (independent per channel) at
-45 and -35 dBFS RMS; clicks -- 1-5 ms chunks of samples dropped at random times, 2 and 8 per
second (numpy, fixed seed); clean -- the track as is, a loud master (+12 dB into a -1 dBFS
``alimiter``), an MP3 round trip at 32 kb/s (libmp3lame) and, where the FFmpeg build has the
encoder, an AAC round trip at 48 kb/s. Three controls made by the simulator itself on the same
tracks (its hum, its hard clipping at the flat tops of the turned-down overs, its clicks) tell
a weak model from one that does not carry over to defects made another way.

Each variant is analysed twice: as a file (its samples as they are) and through the simulated
capture path (``captured_audio``: noise floor -62 dBFS, mains hum -70 dBFS, a fixed rng per
track), since the model was trained on captures. The detector runs as the pipeline runs it:
1024-sample ``AudioBlock``s in order, then ``flush``, default settings (the model's calibrated
thresholds). Reported per variant, pooled over tracks by duration and per content group:
``found``, the share of the track's duration inside events of the defect that was made;
``wrong``, the share inside events of any other defect; for clean variants ``false alarm``, the
share inside any event. For clipping and sample drops, which happen at instants, also ``at
defect``: the share of clipped samples (any channel) or of splices inside an event of the
defect. numpy's BLAS and onnxruntime run on one thread.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shared test helpers

from benchmarks.ffmpeg_cli import ffmpeg_version, require_ffmpeg, run_ffmpeg  # noqa: E402
from harness.detectors.audio.artifacts import DEFECTS, AudioArtifactDetector  # noqa: E402
from harness.impairments.audio import Clicks, Distortion, Hum  # noqa: E402
from harness.simulation.capture_path import captured_audio  # noqa: E402
from tests.audio_content import blocks, run  # noqa: E402

RATE = 48000
BLOCK = 1024
KINDS = tuple(DEFECTS)  # hum, hiss, distortion, clicks
LABEL = {defect: label for label, defect in DEFECTS.items()}
PATHS = ("file", "capture")
#: 16-bit full scale as read back in float: a sample here or beyond was clipped
S16_FULL = 32767 / 32768


# -- audio in and out ---------------------------------------------------------------------------



def _read(path: Path) -> np.ndarray:
    """(frames, 2) float32 at ``RATE`` from a WAV FFmpeg wrote."""
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    if rate != RATE:
        raise RuntimeError(f"{path.name}: {rate} Hz, expected {RATE}")
    return _stereo(samples)


def _stereo(samples: np.ndarray) -> np.ndarray:
    if samples.shape[1] == 1:
        return np.repeat(samples, 2, axis=1)
    return np.ascontiguousarray(samples[:, :2])


def _filtered(source: Path, audio_filter: str, codec: str, out: Path) -> np.ndarray:
    """``source`` through one FFmpeg filter chain, written with ``codec`` and read back."""
    run_ffmpeg("-i", source, "-af", audio_filter, "-c:a", codec, out)
    return _read(out)


def _mixed(source: Path, lavfi: str, out: Path) -> np.ndarray:
    """``source`` plus the FFmpeg source ``lavfi`` (already at its level), summed sample by
    sample (``amix=normalize=0``), written as float."""
    run_ffmpeg("-i", source, "-f", "lavfi", "-i", lavfi, "-filter_complex",
            "[0:a][1:a]amix=inputs=2:normalize=0:duration=first", "-c:a", "pcm_f32le", out)
    return _read(out)


def _rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def _has_encoder(name: str) -> bool:
    listing = subprocess.run([require_ffmpeg(), "-hide_banner", "-encoders"], capture_output=True,
                             text=True).stdout
    return any(line.split()[1:2] == [name] for line in listing.splitlines() if line.strip())


# -- the defects, made another way --------------------------------------------------------------
#
# A maker takes the track (as a float WAV file and as samples) and a scratch directory, and
# returns the defective samples and facts about them: ``instants``, sample indices (of the
# returned audio) where the defect happens, for defects that happen at instants.

Made = tuple[np.ndarray, dict]
Maker = Callable[[Path, np.ndarray, Path], Made]


def digital_overs(gain_db: float) -> Maker:
    """Digital overs: a gain stage in the digital path (the player's volume or loudness
    normalisation, a mixer, a decoder's downmix) raises the signal ``gain_db`` and the 16-bit
    output has no headroom, so every peak beyond full scale is cut flat there."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        y = _filtered(source, f"volume={gain_db}dB", "pcm_s16le", tmp / "overs.wav")
        clipped = np.flatnonzero((np.abs(y) >= S16_FULL).any(axis=1))
        return y, {"instants": clipped, "clipped_share": float(np.mean(np.abs(y) >= S16_FULL))}

    return make


def overs_turned_down(gain_db: float) -> Maker:
    """Clipped upstream, played at a normal level: the programme was clipped by ``gain_db`` of
    digital overs at the source (a hot master, a broadcast or stream encoder fed too loud) and
    is turned back down by as much before the device plays it, so the flat tops sit below full
    scale, as the simulator's clipping does."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        hot = tmp / "hot.wav"
        run_ffmpeg("-i", source, "-af", f"volume={gain_db}dB", "-c:a", "pcm_s16le", hot)
        clipped = np.flatnonzero((np.abs(_read(hot)) >= S16_FULL).any(axis=1))
        y = _filtered(hot, f"volume={-gain_db}dB", "pcm_f32le", tmp / "down.wav")
        return y, {"instants": clipped}

    return make


def analogue_saturation(gain_db: float) -> Maker:
    """An analogue stage driven too hot: a line output or amplifier fed ``gain_db`` over its
    range saturates smoothly (FFmpeg ``asoftclip`` tanh) instead of clipping flat."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        y = _filtered(source, f"volume={gain_db}dB,asoftclip=type=tanh", "pcm_f32le",
                      tmp / "soft.wav")
        return y, {}

    return make


#: Mains hum waveforms for ``aevalsrc``, before scaling, and their RMS: 50 Hz with odd harmonics
#: at -6, -10.5 and -14 dB; the DC-free full-wave rectified 60 Hz (120 Hz 14 dB above 240 Hz, no
#: 60 Hz at all); a pure 50 Hz sine.
HUM_50_ODD = ("sin(2*PI*50*t)+0.5*sin(2*PI*150*t)+0.3*sin(2*PI*250*t)+0.2*sin(2*PI*350*t)",
              float(np.sqrt((1 + 0.5**2 + 0.3**2 + 0.2**2) / 2)))
HUM_60_RECTIFIED = ("abs(sin(2*PI*60*t))-2/PI", float(np.sqrt(0.5 - 4 / np.pi**2)))
HUM_50_SINE = ("sin(2*PI*50*t)", float(np.sqrt(0.5)))


def ground_loop_hum(wave: tuple[str, float], level_dbfs: float) -> Maker:
    """Mains hum: current through a ground loop between two mains-powered devices puts the
    mains frequency and its odd harmonics on the signal (a 50 Hz buzz), a rectifier's
    full-wave ripple does the same at twice the mains (60 Hz mains, so 120 Hz and its
    harmonics), a transformer's stray field induces a nearly pure 50 Hz; on both channels
    alike, at ``level_dbfs`` RMS; made with FFmpeg ``aevalsrc`` and summed in with ``amix``."""
    expression, rms = wave

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        term = f"{10 ** (level_dbfs / 20) / rms:.9g}*({expression})"
        lavfi = f"aevalsrc=exprs={term}|{term}:s={RATE}:d={len(x) / RATE + 1:.3f}"
        y = _mixed(source, lavfi, tmp / "hum.wav")
        return y, {"added_dbfs": _rms_dbfs(y[: len(x)] - x)}

    return make


def analogue_hiss(color: str, level_dbfs: float, seed: int) -> Maker:
    """Hiss from noisy analogue electronics: a DAC or amplifier with a poor noise floor (white),
    a tape-like or 1/f-dominated stage (pink), or low-frequency rumble-heavy noise from a
    failing preamp or a microphone-level input (brown); independent on each channel, at
    ``level_dbfs`` RMS; made with FFmpeg ``anoisesrc`` and summed in with ``amix``."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        noise = tmp / "noise.wav"
        seconds = f"{len(x) / RATE + 1:.3f}"
        run_ffmpeg("-filter_complex",
                f"anoisesrc=c={color}:a=0.5:r={RATE}:d={seconds}:seed={seed}[l];"
                f"anoisesrc=c={color}:a=0.5:r={RATE}:d={seconds}:seed={seed + 1}[r];"
                "[l][r]amerge=inputs=2", "-c:a", "pcm_f32le", noise)
        gain = 10 ** ((level_dbfs - _rms_dbfs(_read(noise)[: len(x)])) / 20)
        run_ffmpeg("-i", source, "-i", noise, "-filter_complex",
                f"[1:a]volume={gain:.9g}[n];[0:a][n]amix=inputs=2:normalize=0:duration=first",
                "-c:a", "pcm_f32le", tmp / "hissy.wav")
        y = _read(tmp / "hissy.wav")
        return y, {"added_dbfs": _rms_dbfs(y[: len(x)] - x)}

    return make


def buffer_underruns(per_second: float, seed: int) -> Maker:
    """Playback glitches: after buffer underruns (or a clock-drift correction done without a
    crossfade) the player skips 1-5 ms of samples and carries on, so the waveform jumps at
    every splice -- how real clicks come from an overloaded audio thread. ``per_second`` drops
    at random times (at least 20 ms apart) on all channels at once; numpy, fixed seed."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        rng = np.random.default_rng([seed, int(per_second * 1000)])
        count = max(1, round(per_second * len(x) / RATE))
        lengths = rng.integers(RATE // 1000, 5 * RATE // 1000 + 1, count)
        gap = RATE // 50
        room = len(x) - int(lengths.sum()) - count * gap
        starts = np.sort(rng.integers(0, room, count)) + np.cumsum(np.r_[0, lengths[:-1] + gap])
        keep = np.ones(len(x), bool)
        for start, length in zip(starts, lengths, strict=True):
            keep[start : start + length] = False
        splices = starts - np.cumsum(np.r_[0, lengths[:-1]])  # where they land in the output
        return x[keep], {"instants": splices, "dropped_ms": float(lengths.sum() * 1000 / RATE)}

    return make


def as_is() -> Maker:
    """Clean: the track exactly as it is."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        return x, {}

    return make


def loud_master(gain_db: float) -> Maker:
    """Clean: a loudness-war master -- the programme raised ``gain_db`` into a look-ahead
    brickwall limiter at -1 dBFS (FFmpeg ``alimiter``, 5 ms attack, 50 ms release), as much pop,
    rock and electronic music is released: loud and dense, its peaks held by gain riding rather
    than cut, and no device defect."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        limit = 10 ** (-1 / 20)
        y = _filtered(source, f"volume={gain_db}dB,alimiter=limit={limit:.4f}:level=0",
                      "pcm_f32le", tmp / "loud.wav")
        return y, {}

    return make


def lossy_round_trip(codec: str, bitrate: str, suffix: str) -> Maker:
    """Clean: a legitimate low-bitrate stream (``codec`` at ``bitrate``) decoded and played:
    band-limited and full of coding noise, but not a device defect, so never to be flagged."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        coded = tmp / f"coded.{suffix}"
        run_ffmpeg("-i", source, "-c:a", codec, "-b:a", bitrate, coded)
        y = _filtered(coded, "anull", "pcm_f32le", tmp / "decoded.wav")
        return y, {}

    return make


# -- controls: the simulator the model was trained on, same tracks --


def simulator_hum(level_dbfs: float, seed: int) -> Maker:
    """Control: the simulator's own mains hum (``Hum``: 50 Hz and harmonics 2-6 at its default
    -12, -6, -18, -12, -24 dB) at ``level_dbfs`` RMS over the whole track."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        hum = Hum(0.0, len(x) / RATE, seed, level_dbfs=level_dbfs, mains_hz=50.0, ramp_ms=0.0)
        return hum.apply(0, x, RATE), {}

    return make


def simulator_clipping(limit: float) -> Maker:
    """Control: the simulator's own hard clipping (``Distortion``, unit gain) at ``limit``
    (0.25: the same flat tops as +12 dB overs turned down 12 dB)."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        clip = Distortion(0.0, len(x) / RATE, 0, kind="hard", gain_db=0.0, threshold=limit,
                          ramp_ms=0.0)
        clipped = np.flatnonzero((np.abs(x) >= limit).any(axis=1))
        return clip.apply(0, x, RATE), {"instants": clipped}

    return make


def simulator_clicks(per_second: float, amplitude: float, seed: int) -> Maker:
    """Control: the simulator's own clicks (``Clicks``, impulses ringing down in 0.05-0.4 ms)
    of peak ``amplitude``, ``per_second`` of them."""

    def make(source: Path, x: np.ndarray, tmp: Path) -> Made:
        clicks = Clicks(0.0, len(x) / RATE, seed, per_second=per_second, amplitude=amplitude)
        onsets = np.round(clicks.sounds.onsets * RATE).astype(np.int64)
        return clicks.apply(0, x, RATE).astype(np.float32), {"instants": onsets}

    return make


@dataclass(frozen=True)
class Variant:
    name: str
    expected: str | None  #: the defect made (a detector label), None for clean
    make: Maker
    fault: str  #: the real fault it stands for (its maker's docstring)


def _variant(name: str, expected: str | None, factory: Callable[..., Maker], *args) -> Variant:
    fault = " ".join((factory.__doc__ or "").split())
    return Variant(name, expected, factory(*args), fault)


def variants(seed: int) -> list[Variant]:
    out = [
        _variant("overs +6 dB (16-bit)", "distortion", digital_overs, 6),
        _variant("overs +12 dB (16-bit)", "distortion", digital_overs, 12),
        _variant("overs +12 dB, turned down 12 dB", "distortion", overs_turned_down, 12),
        _variant("asoftclip tanh, +12 dB drive", "distortion", analogue_saturation, 12),
    ]
    for wave, name in ((HUM_50_ODD, "50 Hz odd harmonics"), (HUM_60_RECTIFIED, "60 Hz rectified"),
                       (HUM_50_SINE, "50 Hz sine")):
        for level in (-40, -30):
            out.append(_variant(f"hum {name}, {level} dBFS", "hum", ground_loop_hum, wave, level))
    for color in ("white", "pink", "brown"):
        for level in (-45, -35):
            out.append(_variant(f"hiss {color}, {level} dBFS", "hiss", analogue_hiss, color,
                                level, seed + 1))
    for rate in (2, 8):
        out.append(_variant(f"dropped 1-5 ms chunks, {rate}/s", "clicks", buffer_underruns,
                            rate, seed))
    out += [
        _variant("simulator: hum 50 Hz, -30 dBFS", "hum", simulator_hum, -30, seed),
        _variant("simulator: hard clip at 0.25", "distortion", simulator_clipping, 0.25),
        _variant("simulator: clicks 8/s, peak 0.3", "clicks", simulator_clicks, 8, 0.3, seed),
        _variant("clean", None, as_is),
        _variant("clean, loud master (+12 dB into a limiter)", None, loud_master, 12),
        _variant("clean, MP3 32 kb/s", None, lossy_round_trip, "libmp3lame", "32k", "mp3"),
    ]
    if _has_encoder("aac"):
        out.append(_variant("clean, AAC 48 kb/s", None, lossy_round_trip, "aac", "48k", "m4a"))
    return out


# -- the detector and what it covered ----------------------------------------------------------


@dataclass
class Track:
    id: str
    group: str
    samples: np.ndarray  #: (frames, 2) float32 at RATE


def load_tracks(corpus: Path, seconds: float) -> list[Track]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    tracks = []
    for item in manifest["items"]:
        if item["kind"] != "audio" or item["split"] != "test":
            continue
        path = corpus / item["path"]
        rate = soundfile.info(path).samplerate
        frames = int(seconds * rate) if seconds > 0 else -1
        x, _ = soundfile.read(path, frames=frames, dtype="float32", always_2d=True)
        if rate != RATE:
            x = resample_poly(x, RATE, rate, axis=0).astype(np.float32)
        tracks.append(Track(item["id"], item["group"], _stereo(x)))
    if not tracks:
        raise SystemExit(f"no test-split audio in {corpus / 'manifest.json'}")
    return tracks


def _union(spans: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted((max(0.0, a), min(duration, b)) for a, b in spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _seconds(spans: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in spans)


def _inside(times: np.ndarray, spans: list[tuple[float, float]]) -> int:
    """How many of ``times`` (s) lie inside ``spans`` (sorted, disjoint)."""
    if not spans or not len(times):
        return 0
    starts, ends = np.array(spans).T
    index = np.searchsorted(starts, times, side="right") - 1
    return int(np.sum((index >= 0) & (times <= ends[np.maximum(index, 0)])))


def measure_one(y: np.ndarray, expected: str | None, instants: np.ndarray | None) -> dict:
    """Run the detector over ``y``; seconds covered by each defect's events, by the expected
    one, by any other, by any at all; instants of the defect inside an expected event."""
    duration = len(y) / RATE
    events = run(AudioArtifactDetector(), blocks(y, RATE, BLOCK))
    spans = {kind: _union([(e.start, e.end) for e in events if LABEL[e.defect] == kind], duration)
             for kind in KINDS}
    other = [s for kind in KINDS if kind != expected for s in spans[kind]]
    result = {
        "seconds": duration,
        "events": len(events),
        "by_kind": {kind: _seconds(spans[kind]) for kind in KINDS},
        "found": _seconds(spans[expected]) if expected else 0.0,
        "wrong": _seconds(_union(other, duration)),
    }
    if instants is not None and expected:
        result["instants"] = len(instants)
        result["instants_found"] = _inside(np.asarray(instants) / RATE, spans[expected])
    return result


def _pool(rows: list[dict]) -> dict:
    """Duration-weighted shares over tracks."""
    seconds = sum(r["seconds"] for r in rows)
    pooled = {
        "seconds": seconds,
        "found": sum(r["found"] for r in rows) / seconds,
        "wrong": sum(r["wrong"] for r in rows) / seconds,
        "by_kind": {k: sum(r["by_kind"][k] for r in rows) / seconds for k in KINDS},
    }
    if all("instants" in r for r in rows):
        count = sum(r["instants"] for r in rows)
        pooled["instants"] = count
        pooled["at_defect"] = sum(r["instants_found"] for r in rows) / count if count else None
    return pooled


def measure(corpus: Path, seconds: float, seed: int) -> dict:
    require_ffmpeg()
    began = time.perf_counter()
    tracks = load_tracks(corpus, seconds)
    chosen = variants(seed)
    rows: dict[str, dict[str, list[dict]]] = {v.name: {p: [] for p in PATHS} for v in chosen}
    facts: dict[str, dict[str, dict]] = {v.name: {} for v in chosen}
    for number, track in enumerate(tracks):
        with tempfile.TemporaryDirectory(prefix="artifacts-other-way-") as scratch:
            tmp = Path(scratch)
            source = tmp / "track.wav"
            soundfile.write(source, track.samples, RATE, subtype="FLOAT")
            for variant in chosen:
                y, made = variant.make(source, track.samples, tmp)
                instants = made.pop("instants", None)
                facts[variant.name][track.id] = made
                captured = captured_audio(y, RATE, np.random.default_rng([seed, number]))
                for path, audio in (("file", y), ("capture", captured)):
                    row = measure_one(audio, variant.expected, instants)
                    rows[variant.name][path].append({"track": track.id, "group": track.group,
                                                     **row})
    groups = sorted({t.group for t in tracks}, key=lambda g: -sum(
        len(t.samples) for t in tracks if t.group == g))
    results = []
    for variant in chosen:
        entry = {"name": variant.name, "expected": variant.expected,
                 "fault": variant.fault,
                 "facts": facts[variant.name]}
        for path in PATHS:
            per_track = rows[variant.name][path]
            entry[path] = {
                **_pool(per_track),
                "groups": {g: _pool([r for r in per_track if r["group"] == g]) for g in groups},
                "tracks": per_track,
            }
        results.append(entry)
    version = ffmpeg_version()
    return {
        "corpus": str(corpus), "seconds_per_track": seconds, "seed": seed,
        "ffmpeg": version,
        "tracks": [{"id": t.id, "group": t.group, "seconds": len(t.samples) / RATE}
                   for t in tracks],
        "groups": groups,
        "variants": results,
        "wall_s": time.perf_counter() - began,
    }


# -- printing -----------------------------------------------------------------------------------


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f} %"


def _instead(pooled: dict, expected: str | None) -> str:
    """The other defects reported, largest first (those over 0.5 % of the duration)."""
    shares = sorted(((s, k) for k, s in pooled["by_kind"].items() if k != expected and s >= 0.005),
                    reverse=True)
    return ", ".join(f"{k} {_pct(s)}" for s, k in shares) or "-"


def _cell(pooled: dict, expected: str | None) -> str:
    if expected is None:
        return _pct(pooled["wrong"])
    return f"{_pct(pooled['found'])} / {_pct(pooled['wrong'])}"


def print_tables(result: dict) -> None:
    tracks = result["tracks"]
    minutes = sum(t["seconds"] for t in tracks) / 60
    by_group = {g: sum(1 for t in tracks if t["group"] == g) for g in result["groups"]}
    print(f"{len(tracks)} test-split tracks, {minutes:.1f} min "
          f"({', '.join(f'{g} {n}' for g, n in by_group.items())}), first "
          f"{result['seconds_per_track']:g} s of each; FFmpeg {result['ffmpeg']}; "
          f"{result['wall_s']:.0f} s wall")
    defects = [v for v in result["variants"] if v["expected"]]
    clean = [v for v in result["variants"] if not v["expected"]]
    print()
    print("Found / wrong: share of the duration inside events of the defect made / of any other "
          "defect; at defect: clipped samples or splices inside an event of the defect.")
    print()
    print("| variant | defect | as file: found / wrong | as file: at defect | "
          "capture path: found / wrong | capture path: at defect | capture path: reported "
          "instead |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for v in defects:
        f, c = v["file"], v["capture"]
        print(f"| {v['name']} | {v['expected']} | {_cell(f, v['expected'])} | "
              f"{_pct(f.get('at_defect'))} | {_cell(c, v['expected'])} | "
              f"{_pct(c.get('at_defect'))} | {_instead(c, v['expected'])} |")
    print()
    print("| clean variant | as file: false alarm | as file: reported | capture path: false alarm "
          "| capture path: reported |")
    print("| --- | --- | --- | --- | --- |")
    for v in clean:
        f, c = v["file"], v["capture"]
        print(f"| {v['name']} | {_pct(f['wrong'])} | {_instead(f, None)} | {_pct(c['wrong'])} | "
              f"{_instead(c, None)} |")
    for path, title in (("capture", "capture path"), ("file", "as file")):
        print()
        print(f"By group, {title} (found / wrong; clean: false alarm):")
        print()
        print("| variant | " + " | ".join(result["groups"]) + " |")
        print("| --- |" + " --- |" * len(result["groups"]))
        for v in result["variants"]:
            cells = [_cell(v[path]["groups"][g], v["expected"]) for g in result["groups"]]
            print(f"| {v['name']} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="the first N seconds of each track (0: whole tracks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    result = measure(args.corpus, args.seconds, args.seed)
    if args.json:
        print(json.dumps(result, default=float))
        return 0
    print_tables(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
