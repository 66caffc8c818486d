"""``edx measure``: manifests and bare recordings to measurement tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import edx
from edx.measure.study import measure_study

from .render import print_table, stdout_console, without_errors


#: ``--type`` values for bare recordings
KINDS = ("motor", "sensory", "rest", "minimal", "maximal")
_NEEDLE = {"rest": "needle_rest", "minimal": "needle_minimal", "maximal": "needle_maximal"}


def measure_path(path: Path, *, kind: str = "motor", channel: str | None = None) -> dict[str, Any]:
    """Measure one manifest (every test) or one recording (every sweep of a channel, or the
    needle analysis of ``kind`` rest/minimal/maximal)."""
    if path.suffix.lower() == ".toml":
        sm = measure_study(edx.read_manifest(path))
        return {"path": str(path), "kind": "study", "patient": sm.study.patient.id,
                "date": sm.study.date.isoformat(), "rows": sm.rows()}
    if kind in _NEEDLE:
        return _measure_needle_recording(path, kind, channel)
    rec = edx.load(path, channels=[channel] if channel else None, detect_stimulus=True)
    from edx.io.sweeps import cut_sweeps, pick_voltage_channel

    ch = pick_voltage_channel(rec, channel)
    sweeps = rec.sweeps_of(ch) or cut_sweeps(rec, ch, pre_s=0.005 if kind == "motor" else 0.002,
                                             post_s=0.045 if kind == "motor" else 0.018)
    from edx.measure.study import _result_dict

    rows = []
    for sw in sweeps:
        r = edx.measure_snap(sw) if kind == "sensory" else edx.measure_cmap(sw)
        rows.append({"test": path.stem, "type": kind, "site": f"sweep {sw.index}", **_result_dict(r)})
    return {"path": str(path), "kind": "recording", "channel": ch, "rows": rows}


def _measure_needle_recording(path: Path, kind: str, channel: str | None) -> dict[str, Any]:
    from edx.io.sweeps import pick_voltage_channel
    from edx.measure.study import needle_rows

    rec = edx.load(path, channels=[channel] if channel else None)
    ch = pick_voltage_channel(rec, channel)
    trace = next(t for t in rec.traces if t.channel == ch)
    base = {"test": path.stem, "type": _NEEDLE[kind], "nerve": None, "muscle": None, "side": None,
            "temperature_c": None}
    if kind == "rest":
        rows = needle_rows(base, spontaneous={ch: edx.detect_spontaneous(trace)})
    elif kind == "minimal":
        rows = needle_rows(base, mups=edx.analyze_mups(trace))
    else:
        rows = needle_rows(base, interference={ch: edx.interference_pattern(trace)})
    return {"path": str(path), "kind": "recording", "channel": ch, "rows": rows}


def _needle_text(r: dict[str, Any]) -> str:
    """One line of findings for a needle row."""
    if "n_trains" in r:
        quality = r.get("quality") or ()
        q = ", ".join(quality)
        text = (f"trains: {r['n_fibrillation_trains']} fibrillation, {r['n_psw_trains']} PSW; "
                f"grade {r['grade'] or '-'}")
        if not {"voluntary_activity", "noisy_baseline"} & set(quality):
            # single discharges are only worth counting on a quiet baseline at rest
            text += f"; discharges: {r['n_fibrillations']} fibrillation, {r['n_positive_sharp_waves']} PSW"
        return text + (f"  [{q}]" if q else "")
    if r.get("site") == "muscle":
        why = r.get("reasons") or {}
        low = " (lower bound)" if "lower_bound" in why else ""
        text = f"grade {r['grade'] or '-'}{low} ({r['n_sites_with_trains']} of {r['n_sites']} sites with trains)"
        return text + (f": {why['grade']}" if "grade" in why else "")
    if "n_mups" in r:
        return (f"{r['n_mups']} MUPs: duration {_f(r['mup_duration_ms'], '.1f')} ms, amplitude "
                f"{_f(r['mup_amplitude_uv'], '.0f')} µV, polyphasic {_f(r['polyphasic_pct'], '.0f')} %; "
                f"{r['mup_class'] or 'no class'}; recruitment {r['recruitment'] or 'not judged'}")
    if "turns_per_s" in r:
        return (f"{_f(r['turns_per_s'], '.0f')} turns/s, {_f(r['amplitude_per_turn_uv'], '.0f')} µV per turn")
    return ""


#: per late-response row: the value that is None when the row could not be measured, and the
#: reasons that say why (the first one present is shown)
_LATE_WHY = {"F-waves": ("f_min_latency_ms", ("all", "latency")),
             "RNS": ("decrement_pct", ("all", "overlap", "decrement")),
             "nCMAP/mCMAP": ("dms_ratio", ("ratio",))}


def _late_text(r: dict[str, Any]) -> str | None:
    """The findings of an F-wave, RNS or DMS row with its quality flags, and why its value is
    missing when it is (None for other rows).  A bare number without its flags would read as
    a clean measurement."""
    site = r.get("site")
    if site == "F-waves" or r.get("f_min_latency_ms") is not None:
        site = "F-waves"
        text = (f"F min {_f(r.get('f_min_latency_ms'), '.1f')} ms, mean {_f(r.get('f_mean_latency_ms'), '.1f')}"
                f" ms, persistence {_f(r.get('f_persistence_pct'), '.0f')} %")
    elif site == "RNS":
        text = f"decrement {_f(r.get('decrement_pct'), '.1f')} % at {_f(r.get('rate_hz'), '.1f')} Hz"
    elif site == "nCMAP/mCMAP":
        text = f"ratio {_f(r.get('dms_ratio'), '.2f')} (mCMAP {_f(r.get('mcmap_mv'), '.2f')} mV)"
    else:
        return None
    flags = [q for q in r.get("quality") or () if not q.endswith("stimulus_artifact")]
    if flags:
        text += f"  [{', '.join(flags)}]"
    key, whys = _LATE_WHY[site]
    reasons = r.get("reasons") or {}
    why = next((reasons[k] for k in whys if reasons.get(k)), None)
    if r.get(key) is None and why:
        text += f": {why}"
    return text


def _f(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def render_measure(results: list[dict[str, Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = stdout_console()
    for res in without_errors(results):
        title = res["path"] + (f"  patient {res['patient']}, {res['date']}" if res["kind"] == "study" else "")
        t = Table(title=escape(title), title_justify="left")
        for col, just in (("test", "left"), ("site", "left"), ("status", "left"), ("onset ms", "right"),
                          ("peak ms", "right"), ("amplitude", "right"), ("neg dur ms", "right"),
                          ("neg area", "right"), ("velocity m/s", "right"), ("other", "left")):
            t.add_column(col, justify=just)
        for r in res["rows"]:
            if str(r.get("type", "")).startswith("needle"):
                continue
            if "error" in r:
                t.add_row(escape(r["test"]), "", "[red]error[/]", "", "", "", "", "", "", escape(r["error"][:80]))
                continue
            amp = ""
            if r.get("amplitude_mv") is not None:
                amp = f"{r['amplitude_mv']:.2f} mV"
            elif r.get("amplitude_uv") is not None:
                amp = f"{r['amplitude_uv']:.1f} µV"
            area = ""  # with its unit, as the amplitude: motor mV·ms, sensory µV·ms
            if r.get("neg_area_mvms") is not None:
                area = f"{r['neg_area_mvms']:.2f} mV·ms"
            elif r.get("neg_area_uvms") is not None:
                area = f"{r['neg_area_uvms']:.1f} µV·ms"
            other = _late_text(r)
            if other is None:
                other = ", ".join(q for q in r.get("quality") or () if q != "stimulus_artifact")
            if "distance_mm" in r and r.get("cv_m_s") is None and r.get("status") in (None, "ok"):
                # a segment (or a measured SNAP) without a velocity says why (a blank row reads as
                # a value forgotten); an absent or unjudged response's status already says it
                why = (r.get("reasons") or {}).get("cv") or (r.get("reasons") or {}).get("all")
                if why:
                    other = f"{other}: {why}" if other else f"no velocity: {why}"
            t.add_row(escape(str(r["test"])), escape(str(r.get("site", ""))), str(r.get("status", "")),
                      _f(r.get("onset_latency_ms"), ".2f"), _f(r.get("neg_peak_latency_ms"), ".2f"), amp,
                      _f(r.get("neg_duration_ms"), ".2f"), area, _f(r.get("cv_m_s"), ".1f"), escape(other))
        ncs = [r for r in res["rows"] if not str(r.get("type", "")).startswith("needle")]
        needle = [r for r in res["rows"] if str(r.get("type", "")).startswith("needle")]
        if ncs:
            print_table(out, t)
        if needle:
            nt = Table(title=escape(title) + "  needle EMG", title_justify="left")
            for col in ("test", "site", "status", "findings"):
                nt.add_column(col)
            for r in needle:
                if "error" in r:
                    nt.add_row(escape(r["test"]), "", "[red]error[/]", escape(r["error"][:100]))
                else:
                    nt.add_row(escape(str(r["test"])), escape(str(r.get("site", ""))), str(r.get("status") or ""),
                               escape(_needle_text(r)))
            print_table(out, nt)
