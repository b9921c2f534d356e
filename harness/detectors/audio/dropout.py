"""Audio dropouts: the signal falls *abruptly* to the capture noise floor, on any channel.

Through a capture path a lost buffer is not digital zero but the floor of the audio interface
(about -66 to -58 dBFS, often with mains hum), and legitimate content reaches that floor all the
time: speech pauses, the gaps between drum hits, fade-outs. What only a dropout does is get there
within a sample: the audio is at full level right up to the cut. So a dropout is a run of
floor-level audio at least ``min_duration_s`` long whose previous ``edge_s`` of audio was at least
``edge_drop_db`` louder than the at-floor threshold.

Why those defaults: on recorded content passed through ``captured_audio`` (Czech speech from
fillets-ng-data-cs, 1782 clips, 119 min; 41 wesnoth music tracks, 128 min) the loudest
``edge_s`` = 5 ms before any natural fall to the floor was 6.3 dB above the threshold (speech:
5.2 dB); before a cut at a random instant of running speech or music it is a median 31-39 dB.
15 dB keeps a 9 dB margin and still catches a cut in audio 21 dB above the floor. Synthetic
speech (espeak-ng) is the exception: its stop closures are digital cuts of 20-55 ms, as abrupt
as a dropout (see benchmarks/README.md).

Method, vectorised over samples and channels: mean-square level in ~1 ms ticks; noise floor per
channel = the quietest 50 ms seen, allowed to rise ``floor_rise_db_per_s`` so a changed input is
followed; a tick is at the floor when within ``floor_margin_db`` of it (and never above
``max_floor_dbfs``). Start and end are then refined to the sample inside the edge ticks.

A jump in ``AudioBlock.start`` is audio the capture lost (an overflow). The pipeline counts it in
``CaptureStats.audio_samples_lost``; it is a rig problem, not a device defect, so it is never
reported here: an open dropout is closed where the audio stopped and the context is forgotten,
so the two sides of the gap are never compared as an edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from harness.detectors.base import Detector, DetectorSettings
from harness.events import Defect, Event, Evidence
from harness.media import AudioBlock, AudioHistory

#: Fewest samples per level tick: the mean square of 32 samples of noise scatters by +-1 dB, so a
#: floor tick never crosses the at-floor threshold (6 dB up) by chance, even at 8 kHz.
_MIN_TICK_SAMPLES = 32
_TICK_S = 0.001
#: Window of the floor estimate: long enough that its mean square of noise is steady (+-0.3 dB).
_FLOOR_WINDOW_S = 0.05
#: Lowest floor believed: a clean file's digital silence would otherwise make every fall abrupt.
_MIN_FLOOR_MS = 10 ** (-96 / 10)
#: Audio kept for evidence; a longer dropout gets a snippet clipped at the front.
_HISTORY_S = 12.0
#: A sample more than this times the threshold's RMS is signal, never floor noise (6 sigma).
_EDGE_SAMPLE_FACTOR = 3.0


class DropoutSettings(DetectorSettings):
    """Tunables of the dropout detector; defaults from real content (see the module docstring)."""

    min_duration_s: float = Field(
        0.02, gt=0, description="shortest dropout reported (s); shorter gaps are clicks"
    )
    edge_s: float = Field(
        0.005, gt=0, le=0.05, description="audio just before the fall that is compared (s)"
    )
    edge_drop_db: float = Field(
        15.0, gt=0, description="that audio must be this far above the at-floor threshold for "
        "the fall to be abrupt (dB); natural falls measured at most 6.3 dB",
    )
    floor_margin_db: float = Field(
        6.0, gt=0, description="a 1 ms tick is at the floor when at most this far above the "
        "estimated floor (dB)",
    )
    max_floor_dbfs: float = Field(
        -50.0, description="nothing louder than this is ever the floor (dBFS RMS)"
    )
    floor_rise_db_per_s: float = Field(
        0.5, ge=0, description="how fast the floor estimate may rise while the audio never "
        "reaches it (dB/s)",
    )
    evidence_s: float = Field(
        1.0, ge=0, description="audio kept before and after a dropout as evidence (s)"
    )


@dataclass
class _Run:
    """A run of floor ticks on one channel, still open."""

    start: int  # media sample of the first floor sample
    abrupt: bool  # entered by a cut; a run that is not is followed only to see where it ends
    before_ms: float  # mean square of the edge window before it
    sum_ms: float = 0.0
    ticks: int = 0


@dataclass
class _Candidate:
    """A closed dropout, held until its evidence after the end has arrived."""

    start: int
    end: int
    channels: list[int]
    before_ms: float
    level_ms: float
    floor_ms: float


class AudioDropoutDetector(Detector[AudioBlock, DropoutSettings]):
    """Finds abrupt falls to the capture noise floor; see the module docstring for the method."""

    defect = Defect.AUDIO_DROPOUT
    media = "audio"
    Settings = DropoutSettings

    def __init__(self, settings: DropoutSettings | None = None) -> None:
        super().__init__(settings)
        self._rate = 0
        self._channels = 0
        self._next: int | None = None
        self._candidates: list[_Candidate] = []

    def _start(self, block: AudioBlock) -> None:
        """(Re)initialise for a stream of this block's rate and channel count."""
        s = self.settings
        self._rate, self._channels = block.sample_rate, block.channels
        self._tick = max(_MIN_TICK_SAMPLES, round(block.sample_rate * _TICK_S))
        tick_s = self._tick / block.sample_rate
        self._edge_ticks = max(1, round(s.edge_s / tick_s))
        self._floor_ticks = max(1, round(_FLOOR_WINDOW_S / tick_s))
        self._floor = np.full(block.channels, np.inf)
        self._history = AudioHistory(_HISTORY_S)
        self._forget(block.start)

    def _forget(self, position: int) -> None:
        """Drop all context (start of stream, or lost audio): no edge spans what was not seen."""
        self._pos = position  # media sample of the first pending sample
        self._pending = np.zeros((0, self._channels), np.float32)
        self._hist = np.zeros((0, self._channels))
        self._last_raw: np.ndarray | None = None
        self._open: list[_Run | None] = [None] * self._channels

    def process(self, block: AudioBlock) -> list[Event]:
        events: list[Event] = []
        if (block.sample_rate, block.channels) != (self._rate, self._channels):
            events = self.flush()
            self._start(block)
        elif block.start != self._next:
            self._close_open(self._pos)  # capture lost audio: not a device defect (see above)
            self._forget(block.start)
        self._next = block.end
        self._history.append(block)
        self._scan(block.samples)
        return events + self._due(block.end)

    def flush(self) -> list[Event]:
        """Close dropouts still open at the end (audio that never came back) and emit all."""
        if self._rate:
            self._close_open(self._pos)
        return self._due(None)

    def _scan(self, samples: np.ndarray) -> None:
        x = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        tick, n = self._tick, len(x) // self._tick
        self._pending = x[n * tick :]
        if n == 0:
            return
        ticked = x[: n * tick]
        ms = np.square(ticked.reshape(n, tick, self._channels), dtype=np.float64).mean(axis=1)
        first = self._pos
        self._pos += n * tick
        ext = np.concatenate([self._hist, ms])
        h = len(self._hist)
        self._update_floor(ext, n * tick / self._rate)
        cap = 10 ** (self.settings.max_floor_dbfs / 10)
        threshold = np.minimum(self._floor * 10 ** (self.settings.floor_margin_db / 10), cap)
        csum = np.concatenate([np.zeros((1, self._channels)), np.cumsum(ext, axis=0)])
        raw_offset = 0 if self._last_raw is None else tick
        raw = ticked if self._last_raw is None else np.concatenate([self._last_raw, ticked])
        frame = _Frame(first - raw_offset, raw_offset, h, csum, raw)
        is_open = np.array([run is not None for run in self._open], dtype=np.int8)
        change = np.diff((ms <= threshold).astype(np.int8), axis=0, prepend=is_open[np.newaxis])
        for ch in np.flatnonzero(change.any(axis=0) | is_open):  # most blocks: none
            self._scan_channel(int(ch), change[:, ch], float(threshold[ch]), frame)
        keep = max(self._edge_ticks, self._floor_ticks)
        self._hist = ext[-keep:]
        self._last_raw = ticked[-tick:]

    def _update_floor(self, ext: np.ndarray, seconds: float) -> None:
        """Floor = the quietest 50 ms window, rising at most ``floor_rise_db_per_s``."""
        w = self._floor_ticks
        self._floor = self._floor * 10 ** (self.settings.floor_rise_db_per_s * seconds / 10)
        if len(ext) >= w:
            csum = np.cumsum(ext, axis=0)
            windows = csum[w - 1 :] - np.concatenate([np.zeros((1, self._channels)), csum[:-w]])
            self._floor = np.minimum(self._floor, windows.min(axis=0) / w)
        self._floor = np.maximum(self._floor, _MIN_FLOOR_MS)

    def _scan_channel(self, ch: int, change: np.ndarray, threshold: float, f: _Frame) -> None:
        """Open, extend and close this channel's floor runs; ``change`` is +1 where a run of
        floor ticks starts, -1 where one ends (the first tick above the floor)."""
        run = self._open[ch]
        starts, ends = np.flatnonzero(change == 1), np.flatnonzero(change == -1)
        amp = _EDGE_SAMPLE_FACTOR * np.sqrt(threshold)
        if run is not None and len(ends):
            self._close(ch, run, 0, int(ends[0]), amp, f)
            ends = ends[1:]
        elif run is not None:
            run.sum_ms += f.tick_sums(ch, 0, len(change))
            run.ticks += len(change)
            return
        self._open[ch] = None
        edge, h = self._edge_ticks, f.hist
        loud = threshold * 10 ** (self.settings.edge_drop_db / 10)
        before = np.zeros(len(starts))
        measurable = starts + h >= edge  # no edge is measured across lost or unseen audio
        at = starts[measurable] + h
        before[measurable] = (f.csum[at, ch] - f.csum[at - edge, ch]) / edge
        abrupt = measurable & (before >= loud)
        # Runs opened and closed in this block: only long, abruptly entered ones matter.
        closed = len(ends)
        min_samples = self.settings.min_duration_s * self._rate
        long_enough = (ends - starts[:closed]) * self._tick >= min_samples
        for i in np.flatnonzero(abrupt[:closed] & long_enough):
            s, e = int(starts[i]), int(ends[i])
            new = _Run(f.refine_start(ch, s, amp, self._tick), True, float(before[i]))
            self._close(ch, new, s, e, amp, f)
        if len(starts) > closed:  # a run still open at the end of the block
            s = int(starts[-1])
            self._open[ch] = _Run(
                f.refine_start(ch, s, amp, self._tick), bool(abrupt[-1]), float(before[-1]),
                f.tick_sums(ch, s, len(change)), len(change) - s,
            )

    def _close(self, ch: int, run: _Run, first: int, end: int, amp: float, f: _Frame) -> None:
        """Finish a run whose floor ticks in this block are new ticks [first, end)."""
        run.sum_ms += f.tick_sums(ch, first, end)
        run.ticks += end - first
        self._keep(ch, run, f.refine_end(ch, end, amp, self._tick))

    def _close_open(self, end: int) -> None:
        """Close every open run at media sample ``end`` (end of stream, or lost audio)."""
        for ch, run in enumerate(self._open):
            if run is not None:
                self._keep(ch, run, end)
        self._open = [None] * self._channels

    def _keep(self, ch: int, run: _Run, end: int) -> None:
        if not run.abrupt or end - run.start < self.settings.min_duration_s * self._rate:
            return
        level = run.sum_ms / max(1, run.ticks)
        for c in self._candidates:  # the same cut on several channels is one event
            if c.start < end and run.start < c.end:
                c.start, c.end = min(c.start, run.start), max(c.end, end)
                c.channels = sorted({*c.channels, ch})
                c.before_ms, c.level_ms = max(c.before_ms, run.before_ms), max(c.level_ms, level)
                return
        self._candidates.append(
            _Candidate(run.start, end, [ch], run.before_ms, level, float(self._floor[ch]))
        )

    def _due(self, now: int | None) -> list[Event]:
        """Events whose evidence after the end has arrived (all of them at ``now=None``)."""
        wait = round(self.settings.evidence_s * self._rate)
        ready = [c for c in self._candidates if now is None or c.end + wait <= now]
        self._candidates = [c for c in self._candidates if c not in ready]
        return [self._event(c) for c in ready]

    def _event(self, c: _Candidate) -> Event:
        rate, ev = self._rate, self.settings.evidence_s
        start, end = c.start / rate, c.end / rate
        before_db = _db(c.before_ms)
        threshold_db = min(_db(c.floor_ms) + self.settings.floor_margin_db,
                           self.settings.max_floor_dbfs)
        score = (before_db - threshold_db) / (2 * self.settings.edge_drop_db)
        detail = {
            "channel": c.channels[0],
            "channels": c.channels,
            "level_dbfs": round(_db(c.level_ms), 1),
            "before_dbfs": round(before_db, 1),
            "floor_dbfs": round(_db(c.floor_ms), 1),
        }
        snippet = self._history.snippet(start - ev, end + ev)
        return Event(self.defect, start, end, score, detail, Evidence(audio=snippet))


@dataclass
class _Frame:
    """One block's tick arrays and where they sit on the media clock."""

    origin: int  # media sample of raw[0]
    raw_offset: int  # samples of the previous block's last tick at the front of raw
    hist: int  # ticks of context at the front of csum
    csum: np.ndarray  # cumulative tick mean squares, context included, leading zero row
    raw: np.ndarray  # samples: the previous last tick, then this block's whole ticks

    def tick_sums(self, ch: int, start: int, end: int) -> float:
        """Sum of the tick mean squares of new ticks [start, end)."""
        return float(self.csum[end + self.hist, ch] - self.csum[start + self.hist, ch])

    def refine_start(self, ch: int, tick_index: int, amp: float, tick: int) -> int:
        """First floor sample: just after the last loud sample of the tick before the run."""
        at = self.raw_offset + tick_index * tick
        seg = self.raw[max(0, at - tick) : at, ch]
        loud = np.flatnonzero(np.abs(seg) > amp)
        return self.origin + at - len(seg) + int(loud[-1]) + 1 if len(loud) else self.origin + at

    def refine_end(self, ch: int, tick_index: int, amp: float, tick: int) -> int:
        """First sample after the run: the first loud sample of the tick that ends it."""
        at = self.raw_offset + tick_index * tick
        loud = np.flatnonzero(np.abs(self.raw[at : at + tick, ch]) > amp)
        return self.origin + at + (int(loud[0]) if len(loud) else 0)


def _db(mean_square: float) -> float:
    return 10 * float(np.log10(max(mean_square, 1e-20)))
