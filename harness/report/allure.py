"""Attach playback reports to the current Allure test.

For each report: the events and the capture statistics as JSON (cheap, always), then, when
evidence is wanted, what a human needs to judge each event in seconds: its frames with a caption
(defect, time span, score, detail) and, for audio, a WAV snippet to listen to.

``allure.attach`` does nothing without ``--alluredir``; the plugin still calls this module only
when Allure results are written, because rendering evidence is the expensive part.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import allure

from harness.events import Event
from harness.report.audio import encode_wav
from harness.report.images import annotate, encode_png, heat_map_overlay
from harness.report.spectrogram import spectrogram_image
from harness.results import PlaybackReport


@dataclass(frozen=True)
class Attachment:
    name: str
    body: bytes
    mime: str
    extension: str


#: Turns one event into attachments. A new kind of evidence (heat maps, spectrograms) is one more
#: function in EVIDENCE, below.
Renderer = Callable[[str, Event], Iterator[Attachment]]


def frames(device: str, event: Event) -> Iterator[Attachment]:
    """Each evidence frame ("before", "at", ...) as a PNG with a caption strip."""
    assert event.evidence is not None
    for label, frame in event.evidence.frames:
        caption = [f"{_title(event)}  score {event.score:.2f}",
                   f"{device}: {label} the defect, frame at {frame.time:.3f} s"]
        if event.detail:
            caption.append(_detail(event))
        image = encode_png(annotate(frame.bgr, caption))
        yield Attachment(f"{_title(event)}: {label} frame", image, "image/png", "png")


def audio(device: str, event: Event) -> Iterator[Attachment]:
    """The audio around the event, to listen to (Allure has no WAV type: MIME and extension)."""
    assert event.evidence is not None
    if event.evidence.audio is not None:
        yield Attachment(f"{_title(event)}: audio", encode_wav(event.evidence.audio),
                         "audio/wav", "wav")


def spectrogram(device: str, event: Event) -> Iterator[Attachment]:
    """The audio around the event as a captioned spectrogram, to see what to listen for."""
    assert event.evidence is not None
    snippet = event.evidence.audio
    if snippet is not None and len(snippet.samples) > 64:
        caption = [f"{_title(event)}  score {event.score:.2f}",
                   f"{device}: audio {snippet.time:.3f}-{snippet.end_time:.3f} s, 30 Hz-12 kHz"]
        caption += _detail_lines(event.detail)
        image = annotate(spectrogram_image(snippet.samples, snippet.sample_rate), caption)
        yield Attachment(f"{_title(event)}: spectrogram", encode_png(image), "image/png", "png")


def heat_map(device: str, event: Event) -> Iterator[Attachment]:
    """A learned detector's map drawn over the frame it was computed on (the "at" frame)."""
    assert event.evidence is not None
    at = dict(event.evidence.frames).get("at")
    if event.evidence.heat_map is not None and at is not None:
        caption = [f"{_title(event)}  score {event.score:.2f}",
                   f"{device}: model heat map of the frame at {at.time:.3f} s "
                   f"(red outline: regions at {event.evidence.heat_map_threshold:g} or above, "
                   "which the model calls defective)"]
        caption += _detail_lines(event.detail)
        image = annotate(heat_map_overlay(at.bgr, event.evidence.heat_map,
                                          event.evidence.heat_map_threshold), caption)
        yield Attachment(f"{_title(event)}: heat map", encode_png(image), "image/png", "png")


EVIDENCE: tuple[Renderer, ...] = (frames, heat_map, audio, spectrogram)


def attach_reports(reports: Sequence[PlaybackReport], *, evidence: bool) -> None:
    """Attach every report of one test; names get a "watch N" prefix when there are several."""
    for number, report in enumerate(reports, start=1):
        prefix = f"watch {number}: " if len(reports) > 1 else ""
        for attachment in attachments(report, evidence=evidence):
            allure.attach(attachment.body, name=prefix + attachment.name,
                          attachment_type=attachment.mime, extension=attachment.extension)


def attachments(report: PlaybackReport, *, evidence: bool) -> Iterator[Attachment]:
    """What one report contributes: events and capture JSON, then per-event evidence."""
    yield _json("events", [event.to_dict() for event in report.events])
    yield _json("capture", {"device": report.device, "media": report.media.to_dict(),
                            "stats": report.stats.to_dict()})
    if not evidence:
        return
    for event in report.events:
        if event.evidence is not None:
            for render in EVIDENCE:
                yield from render(report.device, event)


def _json(name: str, data: Any) -> Attachment:
    body = json.dumps(data, indent=2, default=_plain).encode()
    return Attachment(name, body, "application/json", "json")


def _plain(value: Any) -> Any:
    """numpy scalars in event details become plain numbers; anything else its text."""
    return value.item() if hasattr(value, "item") else str(value)


def _title(event: Event) -> str:
    return f"{event.defect.value} {event.start:.3f}-{event.end:.3f} s"


def _pairs(items: dict[str, Any], separator: str) -> str:
    return ", ".join(
        f"{key}{separator}{value:.3g}" if isinstance(value, float)
        else f"{key}{separator}{value}"
        for key, value in items.items()
    )


def _detail(event: Event) -> str:
    return _pairs(event.detail, "=")


def _detail_lines(detail: dict[str, Any]) -> list[str]:
    """``detail`` as caption lines short enough for a 640-px spectrogram: plain values on one
    line, each mapping (the artifact classifier's class probabilities) on a line of its own."""
    mappings = {key: value for key, value in detail.items() if isinstance(value, dict)}
    plain = {key: value for key, value in detail.items() if key not in mappings}
    return ([_pairs(plain, "=")] if plain else []) + [
        f"{key}: {_pairs(value, ' ')}" for key, value in mappings.items()]
