"""Plain-data descriptions of recordings and manifests for ``edx info``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import edx
from edx.model import Recording, Study

#: what counts as a recording or manifest when a folder is given
def recording_extensions() -> set[str]:
    return set(edx.supported_extensions())


def expand(paths: list[Path]) -> list[Path]:
    """Files named directly, plus every manifest/recording under named folders (sorted)."""
    exts = recording_extensions() | {".toml"}
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in exts and not f.name.startswith("."))
            # a WFDB record is listed once, by its header
            out.extend(f for f in found if f.suffix.lower() != ".dat")
        else:
            out.append(p)
    return out


def describe_recording(rec: Recording) -> dict[str, Any]:
    """Channels, rates, units, durations, sweeps, stimuli and annotations of a recording."""
    chans = []
    for ch in rec.channels:
        traces = rec.traces_of(ch)
        sweeps = rec.sweeps_of(ch)
        n = sum(t.n_samples for t in traces) or sum(s.n_samples for s in sweeps)
        fs = rec.fs_by_channel[ch]
        filt = (traces[0].filters if traces else sweeps[0].filters) if (traces or sweeps) else None
        chans.append(
            {
                "channel": ch,
                "fs_hz": fs,
                "unit": rec.unit_by_channel[ch],
                "samples": int(n),
                "duration_s": n / fs,
                "blocks": len(traces),
                "sweeps": len(sweeps),
                "filters": filt.description or _filters(filt) if filt else None,
            }
        )
    return {
        "kind": "recording",
        "format": rec.format,
        "continuous": rec.continuous,
        "start": rec.start_datetime.isoformat() if rec.start_datetime else None,
        "duration_s": rec.duration_s,
        "channels": chans,
        "stimuli": len(rec.stimuli),
        "stimulus_sources": dict(Counter(s.source for s in rec.stimuli)),
        "annotations": len(rec.annotations),
        "sweeps": len(rec.sweeps),
    }


def _filters(f: Any) -> str:
    parts = []
    if f.highpass_hz is not None:
        parts.append(f"HP {f.highpass_hz:g} Hz")
    if f.lowpass_hz is not None:
        parts.append(f"LP {f.lowpass_hz:g} Hz")
    if f.notch_hz is not None:
        parts.append(f"notch {f.notch_hz:g} Hz")
    return ", ".join(parts)


def describe_study(study: Study) -> dict[str, Any]:
    """Patient, date and tests of a manifest, with whether each data file exists."""
    tests = []
    for t in study.tests:
        tests.append(
            {
                "id": t.id,
                "type": t.type.value,
                "nerve": t.nerve,
                "muscle": t.muscle,
                "side": t.side,
                "temperature_c": t.temperature_c,
                "sites": [
                    {
                        "name": s.name,
                        "distance_mm": s.distance_mm,
                        "stimulated": s.stimulated,
                        "file": _rel(s.data.file, study.manifest_path),
                        "channel": s.data.channel,
                        "file_exists": s.data.file.exists(),
                    }
                    for s in t.sites
                ],
            }
        )
    c = study.context
    return {
        "kind": "manifest",
        "patient": study.patient.id,
        "age_years": study.patient.age_years,
        "sex": study.patient.sex,
        "date": study.date.isoformat(),
        "icu_day": c.icu_day,
        "sedated": c.sedated,
        "tests": tests,
    }


def _rel(p: Path, manifest: Path | None) -> str:
    if manifest is None:
        return str(p)
    try:
        return str(p.relative_to(manifest.parent))
    except ValueError:
        return str(p)


def manifest_hints(paths: list[Path]) -> dict[Path, dict[str, Any]]:
    """Rate and unit that manifests among ``paths`` give for bare array files they name.

    A ``.npy`` or ``.csv`` file carries no sampling rate or unit of its own; when a
    manifest in the same listing describes it, ``edx info`` reads it with those.
    Manifests that do not parse are skipped here (they are reported on their own).
    """
    hints: dict[Path, dict[str, Any]] = {}
    for p in paths:
        if p.suffix.lower() != ".toml":
            continue
        try:
            study = edx.read_manifest(p)
        except edx.EdxError:
            continue
        for test in study.tests:
            for site in test.sites:
                d = site.data
                if d.fs_hz is not None or d.unit is not None:
                    hints.setdefault(d.file.resolve(), {"fs_hz": d.fs_hz, "units": d.unit})
    return hints


def describe(path: Path, hints: dict[Path, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Describe one file: a manifest (``.toml``) or a recording."""
    if path.suffix.lower() == ".toml":
        d = describe_study(edx.read_manifest(path))
    else:
        hint = (hints or {}).get(path.resolve(), {})
        d = describe_recording(edx.load(path, **{k: v for k, v in hint.items() if v is not None}))
        if hint:
            d["rate_and_unit_from"] = "manifest"
    d["path"] = str(path)
    return d
