"""How far audio may lead or lag the picture: the published tolerances, and explicit limits.

Sign convention (DESIGN.md): ``offset_ms`` > 0 means audio is late, < 0 that it leads. Each
standard gives two one-sided limits because viewers notice sound that arrives before the lips
move much sooner than sound that arrives after (as it does in nature, from a distance):

* ``itu-r-bt1359``: ITU-R BT.1359-1 detectability thresholds, audio early 45 ms, late 125 ms
  (what a viewer notices; a consumer device beyond them has a visible defect).
* ``ebu-r37``: EBU R37, early 40 ms, late 60 ms (end-to-end broadcast chain).
* ``atsc-is191``: ATSC IS-191, early 15 ms, late 45 ms (the DTV chain up to the receiver).

A profile names a preset, may override either side (``early_ms``/``late_ms``), or sets both
without a preset. The settings live here so every A/V sync method shares them; a method may
default to its own limits (no preset) without masking a preset a profile chooses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.detectors.base import DetectorSettings

#: preset -> (audio early limit, audio late limit), ms, both positive
PRESETS: dict[str, tuple[float, float]] = {
    "itu-r-bt1359": (45.0, 125.0),
    "ebu-r37": (40.0, 60.0),
    "atsc-is191": (15.0, 45.0),
}


class SyncTolerance(DetectorSettings):
    """The allowed A/V offset: a preset, optionally with one or both sides overridden."""

    preset: Literal["itu-r-bt1359", "ebu-r37", "atsc-is191"] | None = Field(
        "itu-r-bt1359",
        description="published tolerance: itu-r-bt1359 (early 45 / late 125 ms), ebu-r37 "
        "(40 / 60 ms), atsc-is191 (15 / 45 ms); null to give early_ms and late_ms",
    )
    early_ms: float | None = Field(
        None, gt=0, description="most the audio may lead the picture (ms); overrides the preset"
    )
    late_ms: float | None = Field(
        None, gt=0, description="most the audio may lag the picture (ms); overrides the preset"
    )

    @model_validator(mode="after")
    def _complete(self) -> SyncTolerance:
        if self.preset is None and (self.early_ms is None or self.late_ms is None):
            raise ValueError("without a preset, set both early_ms and late_ms")
        return self

    def limits(self) -> tuple[float, float]:
        """(early, late) in ms, both positive: in sync when -early <= offset_ms <= late.

        With a preset, only a side the profile *gives* overrides it: a method's own default
        limits (a subclass may default early_ms/late_ms) never mask the preset a profile names.
        """
        if self.preset is None:
            assert self.early_ms is not None and self.late_ms is not None  # validated
            return self.early_ms, self.late_ms
        early, late = PRESETS[self.preset]
        given = self.model_fields_set
        return (
            self.early_ms if "early_ms" in given and self.early_ms is not None else early,
            self.late_ms if "late_ms" in given and self.late_ms is not None else late,
        )

    def limit_for(self, offset_ms: float) -> float:
        """The limit on the side ``offset_ms`` falls (late for >= 0, early otherwise)."""
        early, late = self.limits()
        return late if offset_ms >= 0 else early

    def in_sync(self, offset_ms: float) -> bool:
        return abs(offset_ms) <= self.limit_for(offset_ms)
