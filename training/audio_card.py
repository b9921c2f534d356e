"""Evaluation tables of the audio artifact classifier and its model card (markdown).

``evaluate`` turns the rendered sets and both classifiers' predictions into numbers; ``card``
writes them out with what they mean. Both models are judged on exactly the same segments. Two
views of the CNN: *classification* (argmax: balanced accuracy, per-class recall) and *detection*
(what the detector reports: a class whose probability reaches its threshold), which is what the
false-alarm rates and strength curves use.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from training import audio_segments as seg
from training.audio_metrics import balanced_accuracy, confusion, precisions, recalls

if TYPE_CHECKING:
    from training.audio_artifacts import SegmentSet
    from training.audio_suite import CaseResult

#: "Reliably found": detected in at least this share of segments, at this strength and above.
RELIABLE = 0.95
_SNR_BINS = (-5, 0, 5, 10, 15, 20, 25, 30)


def _classification(y: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, Any]:
    matrix = confusion(y, predicted, classes)
    return {"balanced_accuracy": balanced_accuracy(y, predicted, classes),
            "recall": recalls(matrix).tolist(), "precision": precisions(matrix).tolist(),
            "confusion": matrix.tolist()}


def _rates(s: SegmentSet, thresholds: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """False-alarm rates of a clean set: any defect reported, by each model."""
    mask = np.ones(len(s.segments), bool) if mask is None else mask
    flags = (s.probabilities >= thresholds)[mask]
    return {"segments": int(mask.sum()), "cnn": float(flags.any(1).mean()),
            "baseline": float((s.baseline[mask] != 0).mean()),
            "cnn_by_class": {c: float(flags[:, i].mean())
                             for i, c in enumerate(seg.CLASSES) if i}}


def _detection(s: SegmentSet, label: int, thresholds: np.ndarray,
               mask: np.ndarray | None = None) -> dict:
    """Share of segments (all of class ``label``) each model reports as that defect."""
    mask = np.ones(len(s.segments), bool) if mask is None else mask
    return {"segments": int(mask.sum()),
            "cnn": float((s.probabilities[mask, label] >= thresholds[label]).mean()),
            "baseline": float((s.baseline[mask] == label).mean())}


def evaluate(sets: dict[str, SegmentSet], thresholds: np.ndarray,
             classes: Sequence[str]) -> dict[str, Any]:
    n = len(classes)
    results: dict[str, Any] = {"classes": list(classes), "thresholds": thresholds.tolist()}
    for split in ("val", "test"):
        s = sets[split]
        y = s.y
        cnn = _classification(y, s.probabilities.argmax(1), n)
        baseline = _classification(y, s.baseline, n)
        clean = y == 0
        cnn["detected"] = [_detection(s, c, thresholds, y == c)["cnn"] for c in range(1, n)]
        cnn["false_alarm"] = _rates(s, thresholds, clean)["cnn"]
        baseline["false_alarm"] = _rates(s, thresholds, clean)["baseline"]
        results[split] = {"cnn": cnn, "baseline": baseline}
    scan = sets["scan"]
    groups = np.array([s.group for s in scan.segments])
    false_alarms = {f"real content: {g}": _rates(scan, thresholds, groups == g)
                    for g in sorted(set(groups))}
    false_alarms["real content: all"] = _rates(scan, thresholds)
    for name in (n for n in sets if n.startswith("clean:")):
        false_alarms[name.removeprefix("clean:")] = _rates(sets[name], thresholds)
    results["false_alarms"] = false_alarms
    results["sweeps"] = _sweeps(sets, thresholds)
    results["by_kind"] = _by_kind(sets["test"], thresholds)
    results["hiss_snr"] = _hiss_snr(sets["test"], thresholds)
    results["weakest"] = _weakest(results["sweeps"])
    lookalikes = [false_alarms[name]["cnn"] for name in seg.LOOKALIKES]
    results["summary"] = {
        "balanced_accuracy": round(results["test"]["cnn"]["balanced_accuracy"], 4),
        "baseline_balanced_accuracy": round(results["test"]["baseline"]["balanced_accuracy"], 4),
        "recall": {c: round(r, 4)
                   for c, r in zip(classes, results["test"]["cnn"]["recall"], strict=True)},
        "false_alarm_real_content": round(false_alarms["real content: all"]["cnn"], 4),
        "false_alarm_lookalikes_max": round(max(lookalikes), 4),
    }
    return results


def operating_points(sets: dict[str, SegmentSet], rules: dict[str, np.ndarray]
                     ) -> dict[str, dict[str, Any]]:
    """For each way of setting the thresholds on validation (name -> thresholds): the test
    detection per defect, the false alarms on the test tracks and the worst clean test set."""
    test = sets["test"]
    clean = [name for name in sets if name.startswith("clean:")]
    points = {}
    for rule, thresholds in rules.items():
        points[rule] = {
            "thresholds": thresholds[1:].tolist(),
            "detected": [_detection(test, c, thresholds, test.y == c)["cnn"]
                         for c in range(1, len(thresholds))],
            "real_content": _rates(sets["scan"], thresholds)["cnn"],
            "worst_set": max(((_rates(sets[n], thresholds)["cnn"], n.removeprefix("clean:"))
                              for n in clean), default=(0.0, "-")),
        }
    return points


def suite(results: list[CaseResult], thresholds: np.ndarray, classes: Sequence[str]
          ) -> list[dict[str, Any]]:
    """Each test-suite case at the chosen thresholds: for a clean case its most defect-like
    class, for a must-find case its own class; the largest window probability, the threshold and
    whether the detector's model would do what the suite expects (the steady mains lines aside)."""
    rows = []
    for case in results:
        if case.expect == "none":
            index = int(np.argmax(case.largest[1:] - thresholds[1:])) + 1
            passes = bool(case.largest[index] < thresholds[index])
        else:
            index = list(classes).index(case.expect)
            passes = bool(case.largest[index] >= thresholds[index])
        rows.append({"case": case.name, "expect": case.expect, "known_miss": case.known_miss,
                     "class": classes[index], "largest": float(case.largest[index]),
                     "threshold": float(thresholds[index]), "passes": passes})
    return rows


def _sweeps(sets: dict[str, SegmentSet], thresholds: np.ndarray) -> dict[str, list]:
    sweeps: dict[str, list] = {}
    for name in (n for n in sets if n.startswith("sweep:")):
        _, label, parameter, value = name.split(":")
        row = _detection(sets[name], seg.CLASSES.index(label), thresholds)
        sweeps.setdefault(f"{label}:{parameter}", []).append({"value": float(value), **row})
    return sweeps


def _by_kind(s: SegmentSet, thresholds: np.ndarray) -> dict[str, dict]:
    """Detection by the variant of each defect (hum pattern, hiss colour, distortion curve,
    click kind), on the test set."""
    y = s.y
    table = {}
    for label, key in (("hum", "kind"), ("hiss", "color"), ("distortion", "kind"),
                       ("clicks", "kind")):
        c = seg.CLASSES.index(label)
        kinds = np.array([x.strength.get(key, "") for x in s.segments])
        for kind in sorted(set(kinds[y == c])):
            table[f"{label}: {kind}"] = _detection(s, c, thresholds, (y == c) & (kinds == kind))
    return table


def _hiss_snr(s: SegmentSet, thresholds: np.ndarray) -> list[dict]:
    """Hiss detection on the test set by SNR against the content (where it has content)."""
    c = seg.CLASSES.index("hiss")
    snr = np.array([x.strength.get("snr_db") if x.label == c else None for x in s.segments],
                   dtype=float)
    rows = []
    edges = (-np.inf, *_SNR_BINS[1:], np.inf)
    for low, high in pairwise(edges):
        mask = (snr >= low) & (snr < high)
        if mask.any():
            rows.append({"snr": f"{low:g} to {high:g} dB", **_detection(s, c, thresholds, mask)})
    return rows


def _weakest(sweeps: dict[str, list]) -> dict[str, float | None]:
    """Per sweep, the weakest strength from which the CNN finds >= RELIABLE of segments at every
    stronger point (larger is stronger in every sweep)."""
    weakest = {}
    for name, rows in sweeps.items():
        found = None
        for row in sorted(rows, key=lambda r: -r["value"]):
            if row["cnn"] < RELIABLE:
                break
            found = row["value"]
        weakest[name] = found
    return weakest


# -- markdown -------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _confusion(matrix: list[list[int]], classes: Sequence[str]) -> str:
    return _table(["true \\ predicted", *classes],
                  [[c, *row] for c, row in zip(classes, matrix, strict=True)])


_SWEEP_UNITS = {
    "hum:level_dbfs": "hum level (dBFS RMS)",
    "hiss:level_dbfs": "hiss level (dBFS RMS)",
    "distortion:drive_db": "content RMS relative to the clip limit (dB)",
    "clicks:over_rms_db": "click peak above content RMS (dB)",
    "clicks:per_second": "clicks per second",
}


def card(r: dict[str, Any]) -> str:
    classes = r["classes"]
    test, val = r["test"], r["val"]
    cnn, base = test["cnn"], test["baseline"]
    t = r["timing"]
    trained = r["trained"]
    channels = r["model"]["channels"]
    defaults = ", ".join(f"{c} {v:g}"
                         for c, v in zip(classes[1:], r["thresholds"][1:], strict=True))
    out = [
        "# audio_artifacts: no-reference audio artifact classifier",
        "",
        "Classifies 1-second segments of one audio channel as `none`, `hum`, `hiss`, "
        "`distortion` or `clicks`; run by `harness.detectors.audio.artifacts."
        "AudioArtifactDetector` on every channel, a window every 0.5 s. A small PANN-style CNN on "
        "log-mel features and waveform statistics, trained from scratch on defects simulated in "
        "pristine content. This card is written by the training command; every number below "
        "is from that run.",
        "",
        f"- Reproduce: `{trained['command']}` (seed {trained['seed']}; `pip install -e "
        "'.[train]'`; the corpus from `harness corpus build`).",
        f"- Corpus: {trained['corpus'] or 'none (generated content: a test model)'}; "
        f"{'QUICK run: tiny sets, numbers meaningless. ' if trained['quick'] else ''}"
        f"training took {t['train_s'] / 60:.1f} min, the whole run {t['total_s'] / 60:.1f} min "
        f"({t['workers']} rendering processes, torch on 1 thread).",
        f"- Model: {r['model']['parameters']:,} parameters, ONNX {r['model']['bytes'] / 1024:.0f} "
        "KiB, fp32" + _network_share(r["speed"]) + ".",
        "",
        "## Summary (test split: sources never seen in training)",
        "",
        _table(["metric", "CNN", "DSP baseline", "target"], [
            ["balanced accuracy (5 classes)", f"{cnn['balanced_accuracy']:.4f}",
             f"{base['balanced_accuracy']:.4f}", ">= 0.99"],
            *[[f"recall `{c}`", _pct(a), _pct(b), ">= 97 %"]
              for c, a, b in zip(classes, cnn["recall"], base["recall"], strict=True)],
            ["false alarms, clean real content (scan)",
             _pct(r["false_alarms"]["real content: all"]["cnn"]),
             _pct(r["false_alarms"]["real content: all"]["baseline"]), "<= 1 %"],
            *[[f"false alarms, {name.replace('_', ' ')} over content",
               _pct(r["false_alarms"][name]["cnn"]), _pct(r["false_alarms"][name]["baseline"]),
               "<= 1 %"] for name in seg.LOOKALIKES],
        ]),
        "",
        _verdict(r),
        "",
        "Largest confusions of the CNN (true -> predicted, test segments): "
        + ", ".join(f"{classes[a]} -> {classes[b]} {n}" for a, b, n in _confusions(cnn)) + ".",
        "",
        "## Classes and where their boundaries lie",
        "",
        "Every real capture carries a little hum and noise: mains hum near -70 dBFS and a noise "
        "floor of -66 to -58 dBFS (`harness/simulation/capture_path.py`). A classifier that "
        "called those `hum` or `hiss` would flag every capture, so the classes are defined by "
        "level, with a gap no training segment falls in:",
        "",
        _table(["class", "what it is", "strength trained on"], [
            ["none", "content through a capture path; look-alikes, silence, near-silence",
             f"capture floor {seg.CAPTURE_FLOOR_DBFS[0]:g} to {seg.CAPTURE_FLOOR_DBFS[1]:g} dBFS, "
             f"capture hum {seg.CAPTURE_HUM_DBFS[0]:g} to {seg.CAPTURE_HUM_DBFS[1]:g} dBFS"],
            ["hum", f"mains hum, 50 or 60 Hz +-{100 * seg.MAINS_TOLERANCE:g} %: "
             + ", ".join(f"{name} {100 * share:.0f} %"
                         for name, share in seg.HUM_PATTERNS.items())
             + " (random: 2nd-6th harmonics at -30 to 0 dB; odd: odd harmonics only; rectified: "
             "twice the mains and its harmonics; rich: up to the 12th)",
             f"{seg.HUM_MIN_DBFS:g} to {seg.HUM_MAX_DBFS:g} dBFS RMS (14 dB above the loudest "
             f"hum of a clean capture) and at most {seg.HUM_BELOW_CONTENT_DB:g} dB below the "
             "content's RMS (further down, programme bass masks it in that second)"],
            ["hiss", "white (60 %) or pink noise",
             f"SNR {seg.HISS_SNR_DB[0]:g} to {seg.HISS_SNR_DB[1]:g} dB against the content, "
             f"never below {seg.HISS_MIN_DBFS:g} dBFS RMS (8 dB above the loudest capture floor)"],
            ["distortion", f"full-scale overs ({100 * seg.FULL_SCALE:.0f} %: gained up to a "
             f"ceiling of {seg.OVERS_CEILING_DBFS[0]:g} to {seg.OVERS_CEILING_DBFS[1]:g} dBFS, "
             "clipped flat there); otherwise clipped upstream at unit gain below the limit: "
             "hard clip (half), tanh, overdrive curve",
             f"content RMS {seg.DISTORTION_DRIVE_DB[0]:g} to {seg.DISTORTION_DRIVE_DB[1]:g} dB "
             "relative to the limit (the limit at least 1 dB below the peak); content >= "
             f"{seg.DISTORTION_MIN_CONTENT_DBFS:g} dBFS"],
            ["clicks", f"buffer slips ({100 * seg.SPLICES:.0f} % where the content is at least "
             f"{seg.SPLICE_MIN_CONTENT_DBFS:g} dBFS: the last {seg.SPLICE_MS[0]:g}-"
             f"{seg.SPLICE_MS[1]:g} ms replayed, a waveform step of at least the content's RMS); "
             "otherwise impulses (70 %, 0.05-0.4 ms ringing) or crackle bursts (10-40 ms)",
             f"{seg.CLICK_RATE[0]:g} to {seg.CLICK_RATE[1]:g} per s, peak "
             f"{seg.CLICK_OVER_RMS_DB[0]:g} to {seg.CLICK_OVER_RMS_DB[1]:g} dB above content RMS, "
             f"at least {seg.CLICK_MIN_DBFS:g} dBFS"],
        ]),
        "",
        "Strengths between the classes (hum at -60 dBFS, a clip limit 12 dB above the RMS) are "
        "never trained on; the strength curves below sweep through them. The boundaries were set "
        "from the validation split's recall by strength (a first model trained on wider classes "
        "-- hum down to 50 dB below the content, clip limits up to 9 dB above the RMS -- hedged "
        "on clean loud music), never from the test split. The test split was not untouched, "
        "though: the previous model's test results (bass notes a semitone from 60 Hz read as "
        "hum, near-silent drums as clicks) and the detector's tests (synthetic pop-like music) "
        "led to the bass-line look-alike, near-silent mixes and the narrower hum frequency of "
        "this run, so its test figures are a little optimistic. Likewise the full-scale overs, "
        "loud masters, hum patterns and buffer slips came from the previous model's misses on "
        "defects made another way (`benchmarks/audio_artifacts_other_way.py`, on the test "
        "tracks): that benchmark now checks fault mechanisms the simulator imitates, though made "
        "by other code (FFmpeg filters; samples dropped, not replayed), so it is less "
        "independent than it was. And the thresholds' rule (each clean validation set held to "
        "the false-alarm budget on its own) was adopted after the pooled rule's thresholds were "
        "seen to false-alarm on 2.7 % of the test tracks (the operating points below), so the "
        "test false-alarm rates at the default thresholds are a little optimistic too. A "
        "segment carries one defect; "
        f"{100 * seg.PARTIAL:.0f} % of defect segments have it over only part (0.5-1 s) of the "
        "second, as at the start or end of a real one.",
        "",
        "## Data",
        "",
        "Segments are rendered on the fly for each run (nothing is stored): a random second of "
        "one channel of a content track, at its level as mastered or (in "
        f"{100 * (1 - seg.NATURAL_LEVEL):.0f} %) a gain of -20 to +3 dB, peak kept below "
        f"{seg.PEAK_LIMIT}; {100 * seg.LOUD_MASTER:.0f} % loud masters (peak-normalised to "
        f"{seg.LOUD_MASTER_CEILING_DBFS[0]:g} to {seg.LOUD_MASTER_CEILING_DBFS[1]:g} dBFS, "
        f"pushed {seg.LOUD_MASTER_PUSH_DB[0]:g} to {seg.LOUD_MASTER_PUSH_DB[1]:g} dB further "
        f"into a {seg.LIMITER_MS:g} ms brickwall limiter); {100 * seg.SILENCE:.0f} % digital "
        "silence, "
        f"{100 * seg.NEAR_SILENCE:.0f} % near-silence (content and look-alike together at "
        f"{seg.NEAR_SILENCE_DBFS[0]:g} to {seg.NEAR_SILENCE_DBFS[1]:g} dBFS); in "
        f"{100 * seg.LOOKALIKE:.0f} % a look-alike mixed in (distorted guitar, drum kit, "
        "applause/rain from `harness/impairments/audio_lookalikes.py`; from "
        "`training/audio_segments.py` a drone of sustained bass notes and a bass line of notes "
        "over a kick drum, their fundamentals at least "
        f"{100 * seg.MAINS_GAP:g} % from any mains harmonic and half of them within "
        f"{100 * seg.NEAR_MAINS_SPAN:g} % of 50 or 60 Hz; for every "
        "class, so a look-alike never implies `none`), the defect "
        "(`harness/impairments/audio.py`), then the capture path (random floor, hum level and "
        "50/60 Hz). Classes are balanced.",
        "",
        "Content per split (the corpus manifest's split, by source; whispered and sibilant "
        "espeak-ng speech, the look-alikes of hiss, with sentences and voices of their own per "
        "split; a little `GeneratedSound` music, seeds of its own per split):",
        "",
        _table(["split", "tracks", "minutes by group"], [
            [split, len(tracks), ", ".join(
                f"{g} {sum(s for _, gg, s in tracks if gg == g) / 60:.1f}"
                for g in sorted({g for _, g, _ in tracks}))]
            for split, tracks in r["pools"].items()
        ]),
        "",
        f"Segments: {r['budget']['train']} per class for training, {r['budget']['val']} per class "
        f"for validation (epoch selection, baseline tuning), {r['budget']['test']} per class for "
        f"test, {r['budget']['sweep']} per strength point, {r['budget']['false_alarm']} per "
        "clean set (the test's, and a validation copy of each for the thresholds), and every "
        "1-s window (hop 0.5 s, each channel) of the test tracks for the false-alarm scan (of "
        "the validation tracks for the thresholds).",
        "",
        "## Model",
        "",
        "Input (`harness/detectors/audio/features.py`, the same numpy code in training and "
        "detector): 48 kHz audio in 20 ms steps, two log-power views per step stacked as two "
        "input channels -- *tonal*: a 4096-sample Hann frame (85 ms); *transient*: the loudest "
        "of eight 256-sample frames (5 ms) around the tonal frame's centre, where a click is "
        "~9 dB more prominent against content. 64 bands each: 32 single 11.7 Hz bins from 23 to "
        "387 Hz (mains hum and its first harmonics, apart from bass notes), then 32 HTK-mel "
        "bands to 16 kHz. Power in dB with fixed scaling (absolute levels: the class boundaries "
        "are levels). 46 steps per 1-s segment. Second input (`harness/detectors/audio/"
        "waveform.py`, shared the same way): 54 waveform statistics of the segment -- peak and "
        "RMS level, the share of samples in 13 bands from 0 to 6 dB below the peak (a clipped "
        "top piles samples up at one level), the loudest second difference of 15.6 ms blocks at "
        "ranks 1-32 against its RMS (clicks, slips), and for the first 8 harmonics of 50 and "
        "60 Hz the strongest line on a 0.5 Hz spectrum and its height above the spectrum 2-12 % "
        "away (hum apart from bass notes). Network (`training/audio_net.py`): per-band "
        f"batch norm, {len(channels)} conv blocks (3x3 conv {'/'.join(map(str, channels))}, "
        "batch norm, ReLU, 2x2 average pool), "
        "max + mean over time, flatten the 4 remaining bands, joined by the batch-normalised "
        "waveform statistics, 128-unit hidden layer, softmax. "
        "AdamW, one-cycle learning rate 3e-3, batch 64, label smoothing 0.05, "
        f"{r['budget']['epochs']} epochs, the epoch with the best validation balanced accuracy "
        "kept.",
        "",
        _table(["epoch", "train loss", "val balanced accuracy"],
               [[h["epoch"], f"{h['loss']:.4f}", f"{h['val']:.4f}"] for h in r["history"]]),
        "",
        "## Test results",
        "",
        "Classification (argmax), CNN:",
        "",
        _confusion(cnn["confusion"], classes),
        "",
        "DSP baseline:",
        "",
        _confusion(base["confusion"], classes),
        "",
        _table(["", *classes], [
            ["CNN recall", *(_pct(v) for v in cnn["recall"])],
            ["CNN precision", *(_pct(v) for v in cnn["precision"])],
            ["baseline recall", *(_pct(v) for v in base["recall"])],
            ["baseline precision", *(_pct(v) for v in base["precision"])],
        ]),
        "",
        f"Validation: CNN balanced accuracy {val['cnn']['balanced_accuracy']:.4f}, baseline "
        f"{val['baseline']['balanced_accuracy']:.4f} (tuned there).",
        "",
        f"Detection with the detector's default thresholds ({defaults}; calibrated on the "
        "validation split: for each defect the lowest probability from 0.5 up that flags at most "
        "0.25 % of each clean validation set -- every window of the validation tracks, the "
        "validation set's `none` segments, and a validation copy of each clean set below"
        + (", the validation half of the held-out-only music" if "--heldout-calibration"
           in trained["command"] else "")
        + " -- so at most 1 % of any set for the four together, then raised where needed above "
        "every window of the test suite's clean cases, below): "
        + ", ".join(f"{c} found in {_pct(v)}"
                    for c, v in zip(classes[1:], cnn["detected"], strict=True))
        + f"; {_pct(cnn['false_alarm'])} of the test split's `none` segments flagged.",
        "",
        "Operating points: other ways of setting the thresholds on the same validation "
        "segments, and what each gives on the test split (a profile can set any thresholds; "
        "these show the trade-off):",
        "",
        _table(["thresholds set on validation", "hum / hiss / distortion / clicks",
                "found: hum / hiss / distortion / clicks", "false alarms, real content",
                "worst clean set"],
               [[rule, " / ".join(f"{t:g}" for t in p["thresholds"]),
                 " / ".join(_pct(d) for d in p["detected"]), _pct(p["real_content"]),
                 f"{p['worst_set'][1]} {_pct(p['worst_set'][0])}"]
                for rule, p in r["operating_points"].items()]),
        "",
        "The test suite's cases (`training/audio_suite.py`, the content of "
        "`tests/test_audio_artifacts.py`): the largest probability any window of the case "
        "reached, of the class a clean case came closest to flagging or of the class a "
        "defect case must be found as. Clean cases that are not known misses bound the "
        "thresholds from below; the rest are measured (the steady mains lines, not shown, find "
        "hum on their own).",
        "",
        _table(["case", "suite expects", "class", "largest", "threshold", "model alone"],
               [[c["case"], ("known miss" if c["known_miss"] else
                             "not flagged" if c["expect"] == "none" else "found"),
                 c["class"], f"{c['largest']:.3f}", f"{c['threshold']:g}",
                 "as expected" if c["passes"] else "**not**"]
                for c in r["suite"]]),
        "",
        "By defect variant (detection):",
        "",
        _table(["variant", "segments", "CNN", "baseline"],
               [[k, v["segments"], _pct(v["cnn"]), _pct(v["baseline"])]
                for k, v in r["by_kind"].items()]),
        "",
        "## False alarms on clean content",
        "",
        "Share of 1-s segments in which any defect is reported (CNN: the detector's thresholds; "
        "baseline: any class but `none`). `real content` is every window of every channel of the "
        "test tracks as mastered, through a capture path; the look-alikes are mixed over test "
        "content at -36 to -12 dBFS (applause -45 to -15, 10-400 claps/s; drone and bass line "
        "-40 to -15); "
        "silence is the capture floor alone; loud master is test content through the training "
        "simulator's brickwall limiter.",
        "",
        _table(["set", "segments", "CNN", "baseline", "CNN reports"],
               [[k, v["segments"], _pct(v["cnn"]), _pct(v["baseline"]),
                 ", ".join(f"{c} {_pct(p)}" for c, p in v["cnn_by_class"].items() if p) or "-"]
                for k, v in r["false_alarms"].items()]),
        "",
        "## Accuracy vs defect strength",
        "",
        "Each point is a fresh set of test segments with that strength pinned (all else drawn as "
        "in training); the share in which each model reports the defect. A pinned hum level "
        "ignores the content: in loud content, hum more than "
        f"{seg.HUM_BELOW_CONTENT_DB:g} dB below the content's RMS is outside the class, and "
        "counts here as missed.",
        "",
    ]
    for name, rows in r["sweeps"].items():
        out += [f"**{_SWEEP_UNITS.get(name, name)}**", "",
                _table(["strength", *(f"{row['value']:g}" for row in rows)], [
                    ["CNN", *(_pct(row["cnn"]) for row in rows)],
                    ["baseline", *(_pct(row["baseline"]) for row in rows)],
                ]), ""]
    out += [
        "**hiss by SNR against the content** (test set, segments with content)",
        "",
        _table(["SNR", "segments", "CNN", "baseline"],
               [[row["snr"], row["segments"], _pct(row["cnn"]), _pct(row["baseline"])]
                for row in r["hiss_snr"]]),
        "",
        f"**Weakest defect found reliably** (CNN finds >= {RELIABLE:.0%} of segments at that "
        "strength and every stronger one):",
        "",
        *[f"- {_SWEEP_UNITS.get(k, k)}: "
          + ("not reached in the sweep" if v is None else f"{v:g}")
          for k, v in r["weakest"].items()],
        "",
        "## Speed",
        "",
    ]
    out += _speed(r["speed"])
    out += [
        "",
        "## Trained from scratch: what that costs against PANNs",
        "",
        "PANNs (CNN14 and kin) are pretrained on AudioSet: about 5000 hours of real recordings in "
        "527 classes. Their weights cannot be downloaded here, so this network has seen only "
        "what the corpus holds (orchestral game music, Czech dialogue, TTS, two film "
        "soundtracks) plus synthetic look-alikes. What that costs:",
        "",
        "- Knowing content. Most errors above are content mistaken for a defect or a defect "
        "lost in content (loud orchestral music read as hum or distortion, sparse applause as "
        "clicks): telling a tutti from a clipped mix is knowledge of what real music sounds "
        "like, which a pretrained embedding brings and this network must learn from a few hours "
        "of one game's music and one language's dialogue. The PANNs paper shows fine-tuned "
        "pretrained models clearly ahead of the same networks trained from scratch on small "
        "sets; expect the same here.",
        "- Coverage. Content unlike the corpus -- rock and electronic music (distorted, noisy, "
        "percussive by design), live crowds, rain and wind, vinyl with its own crackle -- is "
        "untested; a pretrained embedding has met it thousands of times. The false-alarm rates "
        "above hold for this corpus only: expect more on such content, and raise the thresholds "
        "in the profile of a suite that plays it.",
        "- The look-alikes are synthetic (Karplus-Strong guitar, a drum machine, noise-burst "
        "applause, additive drones and bass lines, espeak-ng whispers). Real ones are richer; the "
        "model may key "
        "on artefacts of the synthesis.",
        "- What from scratch buys: size and speed. CNN14 has about 80 M parameters (this "
        f"network {r['model']['parameters'] / 1e6:.2f} M) and could not classify every channel "
        "every half second at 200x real time on one core; a distilled or pruned PANN would be "
        "the way to have both.",
        "",
        "## Limitations",
        "",
        "- One label per segment: hum and hiss together are reported as whichever dominates.",
        "- Multichannel layouts are classified channel by channel; an LFE channel (only bass) was "
        "never in training and may read as hum.",
        "- Time resolution is the 0.5 s window hop: an event spans the flagged windows (up to "
        "0.5 s more than the defect on each side; windows at the detector's `sustain_threshold` "
        "extend an open event); a final stretch shorter than 1 s is not classified.",
        "- Other sample rates are resampled to 48 kHz first; the model never saw content "
        "band-limited below 16 kHz other than through the corpus's own codecs.",
        "",
    ]
    return "\n".join(out)


def _verdict(r: dict[str, Any]) -> str:
    """One line: which of the issue's targets this run meets."""
    cnn = r["test"]["cnn"]
    fa = r["false_alarms"]
    checks = {
        "balanced accuracy >= 0.99": cnn["balanced_accuracy"] >= 0.99,
        "every recall >= 97 %": min(cnn["recall"]) >= 0.97,
        "false alarms on clean real content <= 1 %": fa["real content: all"]["cnn"] <= 0.01,
        "false alarms on every look-alike <= 1 %": all(fa[n]["cnn"] <= 0.01
                                                        for n in seg.LOOKALIKES),
    }
    met = [k for k, ok in checks.items() if ok]
    missed = [k for k, ok in checks.items() if not ok]
    return f"Targets met: {', '.join(met) or 'none'}. Missed: {', '.join(missed) or 'none'}."


def _confusions(model: dict[str, Any], count: int = 4) -> list[tuple[int, int, int]]:
    """The ``count`` largest off-diagonal cells of a confusion matrix."""
    matrix = np.array(model["confusion"])
    np.fill_diagonal(matrix, 0)
    order = np.argsort(matrix, axis=None)[::-1][:count]
    rows, columns = np.unravel_index(order, matrix.shape)
    return [(int(i), int(j), int(matrix[i, j])) for i, j in zip(rows, columns, strict=True)]


def _network_share(speed: dict | None) -> str:
    """Why the network is not quantised, in this run's numbers (48 kHz stereo)."""
    if not speed:
        return ""
    case = speed["cases"][0]
    return (f" (not quantised: the network is {case['model_ms'] / case['ms_per_s']:.0%} of the "
            f"detector's cost on {case['name']}, see Speed)")


def _speed(speed: dict | None) -> list[str]:
    if not speed:
        return ["Not measured in this run (`--quick`, or the benchmark failed). Run "
                "`python3 benchmarks/audio_artifacts_speed.py`."]
    return [
        f"`python3 benchmarks/audio_artifacts_speed.py` ({speed['seconds']:g} s of audio in "
        f"{speed['block']}-sample blocks, one thread for numpy and onnxruntime, the best of "
        f"{speed['repeats']} runs on a shared machine; CPU: {speed['cpu']}):",
        "",
        _table(["input", "x real time per core", "ms CPU per s of audio", "front end ms",
                "network ms", "mains lines ms", "x real time, mains lines off"],
               [[c["name"], f"{c['realtime']:.0f}", f"{c['ms_per_s']:.2f}",
                 f"{c['front_end_ms']:.2f}", f"{c['model_ms']:.2f}",
                 f"{c['mains_lines_ms']:.2f}", f"{c['realtime_without_lines']:.0f}"]
                for c in speed["cases"]]),
        "",
        "Target: at least 200x real time per core for 48 kHz stereo.",
    ]
