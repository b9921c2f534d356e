"""A/V sync measured on the sync test pattern (``harness.patterns``): exact, for release checks.

Video: every frame's box (``PROBE``) is compared with the black ring around it (``SURROUND``);
a *flash* starts at the first frame whose box is lit. Its time is that frame's presentation
time, the moment the flash appears on screen; video has no finer clock, so a flash is exact to
the frame on a file and to one capture frame on a live capture (where a card that is not
genlocked adds a constant phase, part of the rig's offset). Partially lit frames (a deinterlacer
or frame-rate converter blending the flash in) count from half the flash's contrast. A flash
whose first frame follows a dropped frame is skipped: its true first frame may be the lost one.

Audio: tone bursts by a streaming matched filter, to the sample (``tone_onsets``).

Pairing: of the tones within ``max_offset_ms`` of a flash, it takes the one whose offset its
neighbouring flashes agree with (``pair_events``). The irregular gaps of the pattern make a
wrong tone's offset one that few neighbours share, so an offset larger than half a gap (a
Bluetooth sink's 300 ms) is measured, not aliased to a whole-period error; a sudden jump is
followed from the next flash on, a drift all along. Missing flashes or tones (a dropped frame,
lost audio) just leave events unpaired.

Result: the offset of every pair (tone minus flash, ms; > 0 = audio late), their median, the
drift (ms per minute, Theil-Sen regression over the run: robust to a stray pair) and the spread
(standard deviation about the drift line). The verdict uses the tolerance of the profile
(``SyncTolerance``); out-of-sync stretches are runs of pairs whose offset, smoothed over three
pairs (one misread pair is not a stretch), is outside it; each is an ``av_sync`` event, and the
verdict is ``out_of_sync`` exactly when there is one.

Content that is not the pattern (the picture is not mostly black-ring-and-box, or fewer than two
flashes) gives no summary at all (``None``), so it never stands in for another A/V method's
verdict; the pattern without enough tones gives ``inconclusive`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from scipy.ndimage import median_filter
from scipy.stats import theilslopes

from harness.detectors.av.tolerance import SyncTolerance
from harness.detectors.av.tone_onsets import ToneOnsets
from harness.detectors.base import Detector
from harness.events import Defect, Event
from harness.media import AudioBlock, VideoFrame
from harness.patterns import PROBE, SURROUND, Rect, pixel_rect

#: a region is flat (one level plus capture noise) below this standard deviation (code values)
FLAT_STD = 12.0
#: share of frames that must show the pattern's flat box and ring for the content to be one
MIN_PATTERN_SHARE = 0.5
#: box-minus-ring contrast (code values) a flash must reach; limited range white is 219
MIN_FLASH_CONTRAST = 60.0
#: a lit box longer than this is a still picture, not a flash
MAX_FLASH_S = 0.25
#: pairing: how many flashes either side vote on a flash's offset, how closely their offsets
#: must agree (s; a capture's frame timing moves a flash by up to a frame), how many must
NEIGHBOURS = 3
PAIR_TOLERANCE_S = 0.06
MIN_SUPPORT = 3


class SyncPatternSettings(SyncTolerance):
    """Tolerance (preset or early/late ms) and the measurement's own tunables."""

    rig_offset_ms: float = Field(
        0.0,
        description="the capture rig's own offset (ms, > 0 = its audio path is slower), "
        "measured once with the pattern from a reference source and subtracted",
    )
    min_pairs: int = Field(5, ge=2, description="flash/tone pairs needed for a verdict")
    max_offset_ms: float = Field(
        1000.0, gt=0, le=5000, description="largest offset searched for (ms, either way)"
    )
    min_tone_dbfs: float = Field(
        -40.0, le=0, description="quietest tone burst counted (peak level, dBFS)"
    )


@dataclass(frozen=True)
class Pair:
    """One flash and its tone, on the media clock (s); ``offset_ms`` > 0 = audio late."""

    flash: float
    tone: float
    offset_ms: float


class SyncPatternDetector(Detector[VideoFrame | AudioBlock, SyncPatternSettings]):
    """Flash and tone times of the sync pattern -> offset, drift, spread and verdict."""

    defect = Defect.AV_SYNC
    name = "av_sync_pattern"
    media = "av"
    Settings = SyncPatternSettings

    def __init__(self, settings: SyncPatternSettings | None = None) -> None:
        super().__init__(settings)
        self._frames: list[tuple[float, float, bool, bool]] = []  # time, contrast, flat, drop
        self._tones: ToneOnsets | None = None
        self._onsets: list[float] = []
        self._result: dict[str, Any] | None = None
        self.pairs: list[Pair] = []  #: every paired flash and tone, after ``flush``

    def process(self, item: VideoFrame | AudioBlock) -> list[Event]:
        if isinstance(item, VideoFrame):
            self._frames.append((item.time, *_box_and_ring(item.analysis_luma),
                                 item.dropped_before > 0))
            return []
        if self._tones is None or self._tones.sample_rate != item.sample_rate:
            self._finish_tones()
            self._tones = ToneOnsets(item.sample_rate, self.settings.min_tone_dbfs)
        self._tones.push(item)
        return []

    def flush(self) -> list[Event]:
        """Pair and judge the whole run; the out-of-sync stretches are the events."""
        self._finish_tones()
        flashes = self._flash_onsets()
        if flashes is None:
            self._result = None
            return []
        tones = np.array(sorted(self._onsets))
        s = self.settings
        self.pairs = [
            Pair(float(flashes[i]), float(tones[j]),
                 float(tones[j] - flashes[i]) * 1000 - s.rig_offset_ms)
            for i, j in pair_events(flashes, tones, s.max_offset_ms / 1000)
        ]
        early, late = s.limits()
        self._result = {
            "verdict": "inconclusive", "offset_ms": None, "drift_ms_per_min": None,
            "spread_ms": None, "pairs": len(self.pairs), "flashes": len(flashes),
            "tones": len(tones), "method": "pattern", "preset": s.preset,
            "tolerance_ms": {"early": early, "late": late},
        }
        if len(self.pairs) < s.min_pairs:
            self._result["reason"] = _why_too_few(len(flashes), len(tones), len(self.pairs), s)
            return []
        events = self._stretches()
        self._result.update(
            _statistics(self.pairs),
            verdict="out_of_sync" if events else "in_sync",
            per_event=[[round(p.flash, 4), round(p.offset_ms, 2)] for p in self.pairs],
        )
        return events

    def summary(self) -> dict[str, Any] | None:
        """{"av_sync": {...}} for pattern content (read after ``flush``), None for anything else."""
        return None if self._result is None else {self.defect.value: self._result}

    def _finish_tones(self) -> None:
        if self._tones is not None:
            self._tones.finish()
            self._onsets += self._tones.onsets
            self._tones = None

    def _flash_onsets(self) -> np.ndarray | None:
        """Presentation times of the flashes, or None when the picture is not the pattern."""
        if not self._frames:
            return None
        times, contrast, flat, dropped = (np.array(column) for column in zip(*self._frames,
                                                                             strict=True))
        if flat.mean() < MIN_PATTERN_SHARE:
            return None
        dark, bright = float(np.median(contrast[flat])), float(contrast[flat].max())
        if bright - dark < MIN_FLASH_CONTRAST:
            return None
        lit = flat & (contrast > (dark + bright) / 2)
        edges = np.diff(lit.astype(np.int8))
        starts, ends = np.flatnonzero(edges == 1) + 1, np.flatnonzero(edges == -1) + 1
        onsets = [
            times[i] for i in starts
            if flat[i - 1] and not dropped[i]
            and (after := ends[ends > i]).size and times[after[0]] - times[i] <= MAX_FLASH_S
        ]
        return np.array(onsets) if len(onsets) >= 2 else None

    def _stretches(self) -> list[Event]:
        """Runs of pairs out of tolerance (offsets smoothed over three pairs) as events."""
        offsets = np.array([p.offset_ms for p in self.pairs])
        smoothed = median_filter(offsets, size=3, mode="nearest")
        out = np.array([not self.settings.in_sync(o) for o in smoothed], np.int8)
        edges = np.diff(np.concatenate([[0], out, [0]]))
        events = []
        for first, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1),
                               strict=True):
            run = self.pairs[first:stop]
            offset = float(np.median(offsets[first:stop]))
            limit = self.settings.limit_for(offset)
            detail = {"offset_ms": round(offset, 2), "limit_ms": limit, "pairs": len(run),
                      "method": "pattern"}
            start = min(run[0].flash, run[0].tone)
            end = max(run[-1].flash, run[-1].tone)
            events.append(Event(self.defect, start, end, abs(offset) / (2 * limit), detail))
        return events


def _box_and_ring(luma: np.ndarray) -> tuple[float, bool]:
    """Contrast of the box over the ring, and whether both are flat as the pattern's are."""
    box = _region(luma, PROBE)
    outer, inner = (_region(luma, rect) for rect in SURROUND)
    count = outer.size - inner.size
    total = outer.sum(dtype=np.float64) - inner.sum(dtype=np.float64)
    squares = np.square(outer, dtype=np.float64).sum() - np.square(inner, dtype=np.float64).sum()
    ring_mean = total / count
    ring_std = np.sqrt(max(0.0, squares / count - ring_mean**2))
    flat = bool(box.std() <= FLAT_STD and ring_std <= FLAT_STD)
    return float(box.mean() - ring_mean), flat


def _region(luma: np.ndarray, rect: Rect) -> np.ndarray:
    x0, y0, x1, y1 = pixel_rect(rect, luma.shape[1], luma.shape[0])
    return luma[y0:y1, x0:x1]


def pair_events(flashes: np.ndarray, tones: np.ndarray, max_offset: float) -> list[tuple[int, int]]:
    """(flash index, tone index) pairs; both arrays are sorted times (s).

    Each flash takes, of the tones within ``max_offset`` (s) of it, the one whose offset the
    most neighbouring flashes (``NEIGHBOURS`` either side) agree with: they have a tone at that
    same offset, within ``PAIR_TOLERANCE_S``. With irregular gaps a wrong tone (a neighbour's)
    gives an offset few others share, however large the true offset; a jump in the offset is
    followed from the first flash after it, a drift all along. A flash whose best offset fewer
    than ``MIN_SUPPORT`` flashes share (its tone is missing) stays unpaired. Ties go to the
    offset nearest the previous pair's.
    """
    pairs: list[tuple[int, int]] = []
    previous = 0.0
    for i, flash in enumerate(flashes):
        lo, hi = np.searchsorted(tones, [flash - max_offset, flash + max_offset], side="right")
        scored = [(_support(flashes, tones, i, tones[j] - flash), j) for j in range(lo, hi)]
        if not scored:
            continue
        support, j = max(scored, key=lambda c: (c[0], -abs(tones[c[1]] - flash - previous)))
        if support >= MIN_SUPPORT:
            pairs.append((i, j))
            previous = float(tones[j] - flash)
    return pairs


def _support(flashes: np.ndarray, tones: np.ndarray, i: int, offset: float) -> int:
    """How many flashes near flash ``i`` (itself included) have a tone ``offset`` after them."""
    expected = flashes[max(0, i - NEIGHBOURS) : i + NEIGHBOURS + 1] + offset
    right = np.clip(np.searchsorted(tones, expected), 0, len(tones) - 1)
    left = np.clip(right - 1, 0, len(tones) - 1)
    gap = np.minimum(np.abs(tones[right] - expected), np.abs(tones[left] - expected))
    return int(np.sum(gap <= PAIR_TOLERANCE_S))


def _statistics(pairs: list[Pair]) -> dict[str, Any]:
    """Median offset, drift (Theil-Sen, ms/min) and spread about the drift line (ms)."""
    times = np.array([p.flash for p in pairs])
    offsets = np.array([p.offset_ms for p in pairs])
    slope, intercept = theilslopes(offsets, times)[:2]
    residuals = offsets - (intercept + slope * times)
    return {
        "offset_ms": round(float(np.median(offsets)), 2),
        "drift_ms_per_min": round(float(slope) * 60, 2),
        "spread_ms": round(float(residuals.std()), 2),
    }


def _why_too_few(flashes: int, tones: int, pairs: int, settings: SyncPatternSettings) -> str:
    if not tones:
        return (f"{flashes} flashes but no tone burst (no audio, muted, or quieter than "
                f"{settings.min_tone_dbfs:g} dBFS)")
    return (f"{pairs} of {flashes} flashes paired with a tone ({tones} tones found, "
            f"{settings.min_pairs} pairs needed; searched +-{settings.max_offset_ms:g} ms)")
