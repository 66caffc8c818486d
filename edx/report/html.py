"""The self-contained HTML report of one analysed study, laid out like a clinical EDX report.

:func:`render_html` turns a :class:`~edx.report.results.StudyAnalysis` into one HTML
document: a header (patient, date, ICU day, limb temperature, clinical context), the
motor and sensory nerve conduction tables, F-wave / RNS / DMS tables, needle EMG tables,
the impression (pattern, grade, key evidence with numbered sources, caveats, what would
firm it up, screens, every finding), the figures (:mod:`edx.report.figures`) and a
footer (edx version, reference values and criteria used, content hash, disclaimer).

Self-contained: no external resource of any kind (figures are inline SVG, the style
sheet is inline, there is no script), and a Content-Security-Policy that forbids
loading anything.  Every text is rendered by jinja2 with autoescaping on; the texts of
the tables, header and impression come from :meth:`StudyAnalysis.to_dict`, so with
``anonymize=True`` they are exactly those of the anonymized ``results.json``
(pseudonymous id, no date, no folders, free text withheld), and the figures are labelled
with the same anonymized site names.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .results import StudyAnalysis

log = logging.getLogger("edx.report")

__all__ = ["render_html", "DISCLAIMER"]

#: the research-software notice printed in every report's footer
DISCLAIMER = ("Research software: edx is not a certified medical device. The measurements and the suggested "
              "interpretation must be checked against the recordings by a qualified clinician before any clinical use.")

_TYPE_LABELS = {
    "motor": "Motor nerve conduction",
    "sensory": "Sensory nerve conduction",
    "f_wave": "F-waves",
    "rns": "Repetitive nerve stimulation",
    "dms": "Direct muscle stimulation",
    "needle_rest": "Needle EMG at rest",
    "needle_minimal": "Needle EMG, minimal effort (motor unit potentials)",
    "needle_maximal": "Needle EMG, maximal effort (interference pattern)",
}
_PATTERN_LABELS = {
    "normal": "Normal study",
    "CIM": "Critical illness myopathy (CIM)",
    "CIP": "Critical illness polyneuropathy (CIP)",
    "CINM": "Critical illness neuromyopathy (CIP + CIM)",
    "neuromuscular_junction": "Neuromuscular junction disorder",
    "demyelinating": "Demyelinating neuropathy",
    "indeterminate": "Indeterminate",
}
_DATE_WITHHELD = "withheld (anonymized)"


# ----------------------------------------------------------------------------- view model


@dataclass
class _Cell:
    text: str = ""
    cls: str = ""
    title: str | None = None


@dataclass
class _Table:
    id: str
    title: str
    columns: list[tuple[str, str]]
    rows: list[list[_Cell]] = field(default_factory=list)
    note: str | None = None


def _num(v: Any, fmt: str) -> str:
    if v is None or isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return "–"
    return format(v, fmt)


def _c(v: Any, fmt: str = ".2f", *, abn: str | None = None) -> _Cell:
    """A numeric cell; ``abn`` (the limit it is outside) marks it abnormal."""
    return _Cell(_num(v, fmt), "num abn" if abn else "num", abn)


def _t(text: Any, cls: str = "") -> _Cell:
    return _Cell("" if text is None else str(text), cls)


def _notes(row: Mapping[str, Any] | None, *, skip: Sequence[str] = ()) -> _Cell:
    """Status (when not ok), quality flags and reasons of a tidy row, as one small cell."""
    if row is None:
        return _Cell("not measured", "note")
    parts: list[str] = []
    status = row.get("status")
    if status and status != "ok":
        parts.append(str(status))
    for q in row.get("quality") or ():
        if q not in skip:
            parts.append(str(q).replace("_", " "))
    reasons = row.get("reasons") or {}
    if isinstance(reasons, Mapping):
        parts.extend(f"{v}" for v in reasons.values())
    if row.get("error"):
        parts.append(str(row["error"]))
    return _Cell("; ".join(parts), "note err" if row.get("error") else "note")


def _with_segment_note(cell: _Cell, seg: Mapping[str, Any] | None) -> _Cell:
    """A site's notes, followed by why the velocity of the segment ending there is not
    reported or is uncertain (flags ``implausible_velocity``, ``velocity_uncertain``)."""
    flags = set((seg or {}).get("quality") or ()) & {"implausible_velocity", "velocity_uncertain"}
    why = ((seg or {}).get("reasons") or {}).get("cv")
    if not (flags and why):  # an absent or unjudged response is said in the site's own notes
        return cell
    text = f"velocity: {why}"
    return _Cell(f"{cell.text}; {text}" if cell.text else text, cell.cls)


class _Limits:
    """Reference limits for marking table cells, when the interpretation used a reference
    this report can look up (the packaged one or a laboratory file)."""

    def __init__(self, analysis: StudyAnalysis) -> None:
        self.ref: Any = None
        self.name = analysis.interpretation.reference
        self.age = analysis.study.patient.age_years
        self.height = analysis.study.patient.height_cm
        try:
            from ..interpretation.reference import load_reference

            ref = load_reference(analysis.reference)
            if ref.name == self.name:
                self.ref = ref
        except Exception:  # marking is optional: never let it cost the report
            log.debug("reference limits not available for marking", exc_info=True)

    def _get(self, kind: str, key: str, nerve: str | None, muscle: str | None) -> Any:
        if self.ref is None or not nerve:
            return None
        try:
            if kind == "motor":
                return self.ref.motor(key, nerve, muscle, age_years=self.age, height_cm=self.height)
            return self.ref.sensory(key, nerve, age_years=self.age, height_cm=self.height)
        except Exception:
            return None

    def below(self, v: Any, kind: str, key: str, nerve: str | None, muscle: str | None = None) -> str | None:
        """The limit text when ``v`` is below the lower limit ``key``, else None."""
        lim = self._get(kind, key, nerve, muscle)
        if lim is None or not isinstance(v, int | float) or not math.isfinite(v) or v >= lim.value:
            return None
        return f"below the lower limit {lim.value:g} ({lim.how})"

    def above(self, v: Any, kind: str, key: str, nerve: str | None, muscle: str | None = None) -> str | None:
        """The limit text when ``v`` is above the upper limit ``key``, else None."""
        lim = self._get(kind, key, nerve, muscle)
        if lim is None or not isinstance(v, int | float) or not math.isfinite(v) or v <= lim.value:
            return None
        return f"above the upper limit {lim.value:g} ({lim.how})"


def _scrubber(analysis: StudyAnalysis, doc: Mapping[str, Any], anonymize: bool) -> Callable[[str], str]:
    """Text filter for messages made while drawing (not in ``results.json``): with
    ``anonymize``, folders, the patient id and the study date are replaced as in the
    anonymized document and any remaining absolute path is cut to its file name."""
    if not anonymize:
        return lambda s: s
    st = analysis.study
    secrets: dict[str, str] = {}
    if st.manifest_path is not None:
        secrets[str(Path(st.manifest_path).resolve().parent) + "/"] = ""
        secrets[str(Path(st.manifest_path).parent) + "/"] = ""
    pid = st.patient.id
    if len(pid) >= 3 and (not pid.isdigit() or len(pid) >= 6):  # as distinctive as results.json requires
        secrets[pid] = str(doc["patient"]["id"])
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y"):
        secrets[st.date.strftime(fmt)] = "[date withheld]"
    pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
    paths = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\\/\s:'\"]+)+[\\/]([^\\/\s:'\"]+)")

    def scrub(text: str) -> str:
        return paths.sub(lambda m: m.group(1), pattern.sub(lambda m: secrets[m.group(0)], text))

    return scrub


# ----------------------------------------------------------------------------- sections


def _header(doc: Mapping[str, Any], anonymize: bool) -> list[tuple[str, str]]:
    p, s = doc["patient"], doc["study"]
    ctx = s.get("context") or {}
    tmin, tmax = s.get("temperature_min_c"), s.get("temperature_max_c")
    if tmin is None:
        temp = "not recorded"
    elif tmin == tmax:
        temp = f"{tmin:.1f} °C"
    else:
        temp = f"{tmin:.1f}–{tmax:.1f} °C"
    items = [
        ("Patient", str(p["id"]) + (" (pseudonym)" if anonymize else "")),
        ("Study date", s["date"] or _DATE_WITHHELD),
        ("ICU day", _num(s.get("icu_day"), "d")),
        ("Limb temperature", temp),
        ("Age", _num(p.get("age_years"), "g") + " years" if p.get("age_years") is not None else "–"),
        ("Sex", p.get("sex") or "–"),
        ("Height", _num(p.get("height_cm"), "g") + " cm" if p.get("height_cm") is not None else "–"),
        ("MRC sum score", _num(ctx.get("mrc_sum_score"), "d") + " / 60" if ctx.get("mrc_sum_score") is not None
         else "–"),
        ("Handgrip", _num(ctx.get("handgrip_kg"), "g") + " kg" if ctx.get("handgrip_kg") is not None else "–"),
        ("Sedated", {True: "yes", False: "no"}.get(ctx.get("sedated"), "–")),
        ("Neuromuscular blockers", {True: "yes", False: "no"}.get(ctx.get("neuromuscular_blockers"), "–")),
        ("Oedema", ", ".join(ctx.get("oedema") or ()) or "–"),
        ("Muscle biopsy", ctx.get("biopsy") or "–"),
    ]
    return items


def _group_rows(doc: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in doc["measurements"]:
        out.setdefault(r["test"], []).append(r)
    return out


def _name(t: Mapping[str, Any]) -> str:
    return str(t.get("nerve") or t.get("muscle") or t["id"])


def _error_row(t: Mapping[str, Any], n_cols: int, first: list[_Cell]) -> list[_Cell]:
    row = first + [_Cell("") for _ in range(n_cols - len(first) - 1)]
    row.append(_Cell("not measured: " + str(t["error"]), "note err"))
    return row


_BENIGN = ("stimulus_artifact", "hum_removed", "baseline_drift_removed")


def _motor_table(analysis: StudyAnalysis, doc: Mapping[str, Any], rows: Mapping[str, list], lim: _Limits) -> _Table:
    cols = [("Nerve / muscle", ""), ("Side", ""), ("Site", ""), ("Dist. mm", "num"), ("Onset lat. ms", "num"),
            ("Amp. mV", "num"), ("Neg. dur. ms", "num"), ("Neg. area mV·ms", "num"), ("Segment CV m/s", "num"),
            ("Temp. °C", "num"), ("Notes", "")]
    table = _Table("motor", "Motor nerve conduction", cols)
    for ti, t in enumerate(doc["tests"]):
        if t["type"] != "motor":
            continue
        spec = analysis.study.tests[ti]
        label = f"{_name(t)} / {t['muscle']}" if t.get("muscle") else _name(t)
        if t["error"]:
            table.rows.append(_error_row(t, len(cols), [_t(label), _t(t.get("side"))]))
            continue
        trs = rows.get(t["id"], [])
        sites = {r["site"]: r for r in trs if "status" in r}
        segs = {r["site"]: r for r in trs if "status" not in r and "cv_m_s" in r}
        for k, site in enumerate(t["sites"]):
            r = sites.get(site)
            seg = segs.get(f"{t['sites'][k - 1]} -> {site}") if k else None
            dist = spec.sites[k].distance_mm if k == 0 else (seg or {}).get("distance_mm")
            g = r or {}
            distal = k == 0
            nerve, muscle = t.get("nerve"), t.get("muscle")
            cv = (seg or {}).get("cv_m_s")
            table.rows.append([
                _t(label if k == 0 else ""), _t(t.get("side") if k == 0 else ""), _t(site),
                _c(dist, ".0f"),
                _c(g.get("onset_latency_ms"), ".2f",
                   abn=lim.above(g.get("onset_latency_ms"), "motor", "distal_latency_ms_max", nerve, muscle)
                   if distal else None),
                _c(g.get("amplitude_mv"), ".2f",
                   abn=lim.below(g.get("amplitude_mv"), "motor", "amplitude_mv_min", nerve, muscle)
                   if distal else None),
                _c(g.get("neg_duration_ms"), ".2f",
                   abn=lim.above(g.get("neg_duration_ms"), "motor", "neg_duration_ms_max", nerve, muscle)
                   if distal else None),
                _c(g.get("neg_area_mvms"), ".2f"),
                _c(cv, ".1f", abn=lim.below(cv, "motor", "cv_m_s_min", nerve, muscle)),
                _c(t.get("temperature_c"), ".1f"),
                _with_segment_note(_notes(r, skip=_BENIGN), seg),
            ])
    return table


def _sensory_table(analysis: StudyAnalysis, doc: Mapping[str, Any], rows: Mapping[str, list], lim: _Limits) -> _Table:
    cols = [("Nerve", ""), ("Side", ""), ("Recording", ""), ("Stimulation", ""), ("Dist. mm", "num"),
            ("Onset lat. ms", "num"), ("Peak lat. ms", "num"), ("Amp. µV", "num"), ("Neg. dur. ms", "num"),
            ("CV m/s", "num"), ("Temp. °C", "num"), ("Notes", "")]
    table = _Table("sensory", "Sensory nerve conduction", cols,
                   note="CV = distance / onset latency; sweeps averaged before measuring. A later "
                        "stimulation site's distance is its whole path (the distances of the sites up to it "
                        "summed), the distance its velocity uses.")
    for ti, t in enumerate(doc["tests"]):
        if t["type"] != "sensory":
            continue
        spec = analysis.study.tests[ti]
        if t["error"]:
            table.rows.append(_error_row(t, len(cols), [_t(_name(t)), _t(t.get("side"))]))
            continue
        sites = {r["site"]: r for r in rows.get(t["id"], []) if "status" in r}
        path: float | None = 0.0
        for k, site in enumerate(t["sites"]):
            r = sites.get(site)
            g = r or {}
            seg = spec.sites[k].distance_mm
            # the whole path to this site (the manifest gives later sites as segments)
            path = None if path is None or seg is None else path + seg
            dist = g.get("distance_mm", path)
            onset = g.get("onset_latency_ms")
            cv = g.get("cv_m_s")  # distance / onset latency, measured (edx.sensory_velocity)
            nerve = t.get("nerve")
            table.rows.append([
                _t(_name(t) if k == 0 else ""), _t(t.get("side") if k == 0 else ""),
                _t(t.get("recording_site") or "" if k == 0 else ""), _t(site), _c(dist, ".0f"),
                _c(onset, ".2f"),
                _c(g.get("neg_peak_latency_ms"), ".2f",
                   abn=lim.above(g.get("neg_peak_latency_ms"), "sensory", "peak_latency_ms_max", nerve)),
                _c(g.get("amplitude_uv"), ".1f", abn=lim.below(g.get("amplitude_uv"), "sensory", "amplitude_uv_min",
                                                               nerve)),
                _c(g.get("neg_duration_ms"), ".2f"),
                _c(cv, ".1f", abn=lim.below(cv, "sensory", "cv_m_s_min", nerve)),
                _c(t.get("temperature_c"), ".1f"),
                _notes(r, skip=_BENIGN),
            ])
    return table


def _late_tables(doc: Mapping[str, Any], rows: Mapping[str, list], lim: _Limits) -> list[_Table]:
    f = _Table("fwave", "F-waves", [("Nerve / muscle", ""), ("Side", ""), ("M amp. mV", "num"),
                                    ("F min. lat. ms", "num"), ("F mean lat. ms", "num"), ("Persistence %", "num"),
                                    ("Chronodispersion ms", "num"), ("Sweeps", "num"), ("Notes", "")])
    rns = _Table("rns", "Repetitive nerve stimulation",
                 [("Nerve / muscle", ""), ("Side", ""), ("Rate Hz", "num"), ("1st amp. mV", "num"),
                  ("Decrement 1–4 %", "num"), ("Area decrement %", "num"), ("Max. decrement 1–5 %", "num"),
                  ("Notes", "")])
    dms = _Table("dms", "Direct muscle stimulation", [("Muscle (nerve)", ""), ("Side", ""), ("nCMAP mV", "num"),
                                                       ("mCMAP mV", "num"), ("nCMAP/mCMAP", "num"), ("Notes", "")])
    for t in doc["tests"]:
        kind = t["type"]
        if kind not in ("f_wave", "rns", "dms"):
            continue
        label = f"{_name(t)} / {t['muscle']}" if t.get("muscle") and kind != "dms" else _name(t)
        if kind == "dms":
            label = f"{t.get('muscle') or '?'} ({t.get('nerve') or '?'})"
        table = {"f_wave": f, "rns": rns, "dms": dms}[kind]
        if t["error"]:
            table.rows.append(_error_row(t, len(table.columns), [_t(label), _t(t.get("side"))]))
            continue
        trs = rows.get(t["id"], [])
        site_rows = [r for r in trs if "status" in r]
        if kind == "f_wave":
            fr = next((r for r in trs if "f_min_latency_ms" in r), {})
            m = site_rows[0] if site_rows else {}
            f.rows.append([_t(label), _t(t.get("side")), _c(m.get("amplitude_mv"), ".2f"),
                           _c(fr.get("f_min_latency_ms"), ".1f",
                              abn=lim.above(fr.get("f_min_latency_ms"), "motor", "f_latency_ms_max", t.get("nerve"),
                                            t.get("muscle"))),
                           _c(fr.get("f_mean_latency_ms"), ".1f"), _c(fr.get("f_persistence_pct"), ".0f"),
                           _c(fr.get("f_chronodispersion_ms"), ".1f"), _c(fr.get("n_sweeps"), "d"),
                           _notes({"reasons": fr.get("reasons"), "quality": m.get("quality")}, skip=_BENIGN)])
        elif kind == "rns":
            rr = next((r for r in trs if "decrement_pct" in r), {})
            m = site_rows[0] if site_rows else {}
            rns.rows.append([_t(label), _t(t.get("side")), _c(rr.get("rate_hz"), ".1f"),
                             _c(m.get("amplitude_mv"), ".2f"), _c(rr.get("decrement_pct"), ".1f"),
                             _c(rr.get("area_decrement_pct"), ".1f"), _c(rr.get("max_decrement_first5_pct"), ".1f"),
                             _notes({"reasons": rr.get("reasons")})])
        else:
            dr = next((r for r in trs if "dms_ratio" in r), {})
            dms.rows.append([_t(label), _t(t.get("side")), _c(dr.get("ncmap_mv"), ".2f"), _c(dr.get("mcmap_mv"), ".2f"),
                             _c(dr.get("dms_ratio"), ".2f"), _notes({"reasons": dr.get("reasons")})])
    return [tb for tb in (f, rns, dms) if tb.rows]


def _needle_tables(doc: Mapping[str, Any], rows: Mapping[str, list]) -> list[_Table]:
    rest = _Table("needle-rest", "Spontaneous activity at rest",
                  [("Muscle", ""), ("Side", ""), ("Site", ""), ("Grade", ""), ("Fibrillations", "num"),
                   ("PSWs", "num"), ("Trains fib / PSW", "num"), ("Noise µV", "num"), ("Notes", "")])
    mup = _Table("needle-mup", "Motor unit potentials (minimal effort)",
                 [("Muscle", ""), ("Side", ""), ("MUPs", "num"), ("Duration ms", "num"), ("Amp. µV", "num"),
                  ("Phases", "num"), ("Polyphasic %", "num"), ("Firing Hz", "num"), ("Duration z", "num"),
                  ("Class", ""), ("Recruitment", ""), ("Notes", "")])
    itf = _Table("needle-max", "Interference pattern (maximal effort)",
                 [("Muscle", ""), ("Side", ""), ("Site", ""), ("Turns/s", "num"), ("µV per turn", "num"),
                  ("Analysed s", "num"), ("Notes", "")])
    for t in doc["tests"]:
        kind = t["type"]
        if not kind.startswith("needle"):
            continue
        table = {"needle_rest": rest, "needle_minimal": mup, "needle_maximal": itf}[kind]
        if t["error"]:
            table.rows.append(_error_row(t, len(table.columns), [_t(t.get("muscle")), _t(t.get("side"))]))
            continue
        trs = rows.get(t["id"], [])
        first = True
        for r in trs:
            muscle = _t(t.get("muscle") if first else "")
            side = _t(t.get("side") if first else "")
            if kind == "needle_rest" and r["site"] == "muscle" and "n_sites" in r:
                rest.rows.append([muscle, side, _t("muscle grade", "em"), _t(r.get("grade") or "–", "em"),
                                  _t(""), _t(""), _t(""), _t(""),
                                  _Cell(f"{r.get('n_sites_with_trains')} of {r.get('n_sites')} sites with trains"
                                        + "".join(f"; {v}" for v in (r.get("reasons") or {}).values()), "note")])
            elif kind == "needle_rest":
                rest.rows.append([muscle, side, _t(r["site"]), _t(r.get("grade") or "–"),
                                  _c(r.get("n_fibrillations"), "d"), _c(r.get("n_positive_sharp_waves"), "d"),
                                  _t(f"{r.get('n_fibrillation_trains', 0)} / {r.get('n_psw_trains', 0)}", "num"),
                                  _c(r.get("noise_uv"), ".1f"), _notes(r)])
            elif kind == "needle_minimal":
                mup.rows.append([muscle, side, _c(r.get("n_mups"), "d"), _c(r.get("mup_duration_ms"), ".1f"),
                                 _c(r.get("mup_amplitude_uv"), ".0f"), _c(r.get("mup_phases"), ".1f"),
                                 _c(r.get("polyphasic_pct"), ".0f"), _c(r.get("firing_rate_hz"), ".1f"),
                                 _c(r.get("duration_z"), ".1f"), _t(r.get("mup_class") or "–"),
                                 _t(r.get("recruitment") or "–"), _notes(r)])
            else:
                itf.rows.append([muscle, side, _t(r["site"]), _c(r.get("turns_per_s"), ".0f"),
                                 _c(r.get("amplitude_per_turn_uv"), ".0f"), _c(r.get("duration_s"), ".1f"),
                                 _notes(r)])
            first = False
    return [tb for tb in (rest, mup, itf) if tb.rows]


class _Sources:
    """Numbers each distinct source text in order of first citation."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def cite(self, text: Any) -> int | None:
        if not text:
            return None
        s = str(text)
        if s not in self.items:
            self.items.append(s)
        return self.items.index(s) + 1


def _impression(doc: Mapping[str, Any]) -> dict[str, Any]:
    it = doc["interpretation"]
    src = _Sources()
    by_statement = {e["statement"]: e for e in it["evidence"]}
    key = []
    for s in doc["key_evidence"]:
        e = by_statement.get(s, {})
        key.append({"text": s, "ref": src.cite(e.get("source")), "weight": e.get("weight")})
    findings = [{"text": e["statement"], "weight": e.get("weight"), "ref": src.cite(e.get("source")),
                 "supports": ", ".join(e.get("supports") or ()), "against": ", ".join(e.get("against") or ())}
                for e in it["evidence"]]
    caveats = [{"text": c["text"], "ref": src.cite(c.get("source"))} for c in it.get("caveats") or ()]
    screens = [{"name": s.get("name"), "text": s.get("statement") or s.get("reason"), "ref": src.cite(s.get("source"))}
               for s in it.get("screens") or () if isinstance(s, Mapping)]
    index = [{"text": f"{v['nerve']}: {v['value']:.2f} ({v['meaning']})" if v.get("value") is not None
              else f"{v['nerve']}: –", "ref": src.cite(v.get("source"))}
             for v in it.get("amplitude_duration_index") or ()]
    pattern = it["pattern"]
    return {
        "pattern": pattern,
        "label": _PATTERN_LABELS.get(pattern, pattern),
        "grade": it.get("grade"),
        "summary": it.get("summary") or "",
        "key": key,
        "caveats": caveats,
        "conflicts": list(it.get("conflicts") or ()),
        "missing": list(it.get("missing") or ()),
        "discarded": [f"{d['test']}: {d['measure']} ({d['reason']})" for d in it.get("discarded") or ()],
        "screens": screens,
        "index": index,
        "findings": findings,
        "sources": list(enumerate(src.items, start=1)),
        "reference": it.get("reference"),
        "criteria": it.get("criteria"),
    }


def _removed_baseline(r: Mapping[str, Any]) -> str:
    """What an F-wave train's sweeps had removed before the search (hum, drift), as a sentence."""
    hum, drift = r.get("f_hum_removed_uv"), r.get("f_drift_removed_uv")
    parts = [f"{what} up to {_num(v, '.0f')} µV" for what, v in (("mains hum", hum), ("drift", drift)) if v]
    return f" Removed from each sweep before the search: {' and '.join(parts)}." if parts else ""


def _caption(t: Mapping[str, Any], trs: Sequence[Mapping[str, Any]]) -> str:
    """One line of results under a figure, from the tidy rows."""
    kind = t["type"]
    if kind == "f_wave":
        r = next((r for r in trs if "f_min_latency_ms" in r), None)
        if r:
            return (f"F min. latency {_num(r.get('f_min_latency_ms'), '.1f')} ms, mean "
                    f"{_num(r.get('f_mean_latency_ms'), '.1f')} ms, persistence "
                    f"{_num(r.get('f_persistence_pct'), '.0f')} % of {_num(r.get('n_sweeps'), 'd')} sweeps; "
                    "red ticks: F onsets, dashed: minimal F latency." + _removed_baseline(r))
    if kind == "rns":
        r = next((r for r in trs if "decrement_pct" in r), None)
        if r:
            return (f"{_num(r.get('rate_hz'), '.1f')} Hz; decrement 1st–4th {_num(r.get('decrement_pct'), '.1f')} %; "
                    "amplitudes below each response in % of the first.")
    if kind == "dms":
        r = next((r for r in trs if "dms_ratio" in r), None)
        if r:
            return (f"nCMAP {_num(r.get('ncmap_mv'), '.2f')} mV, mCMAP {_num(r.get('mcmap_mv'), '.2f')} mV, "
                    f"ratio {_num(r.get('dms_ratio'), '.2f')}.")
    if kind == "needle_rest":
        return ("Up to 6 detected fibrillation potentials (purple) and positive sharp waves (orange) per site, "
                "20 ms each.")
    if kind == "needle_minimal":
        r = next((r for r in trs if "n_mups" in r), None)
        if r:
            return (f"{_num(r.get('n_mups'), 'd')} accepted MUPs: mean duration "
                    f"{_num(r.get('mup_duration_ms'), '.1f')} ms, amplitude "
                    f"{_num(r.get('mup_amplitude_uv'), '.0f')} µV ({r.get('mup_class') or 'unclassified'}); "
                    "red ticks: MUP onset and end (duration).")
    if kind == "needle_maximal":
        return "250 ms from the middle of each recording."
    return ""


def _figures(analysis: StudyAnalysis, doc: Mapping[str, Any], rows: Mapping[str, list],
             scrub: Callable[[str], str]) -> list[dict[str, Any]]:
    from markupsafe import Markup

    from .figures import draw_test

    out = []
    for i, (t, tm) in enumerate(zip(doc["tests"], analysis.measurements.tests, strict=True)):
        title = f"{_name(t)}{' ' + t['side'] if t.get('side') else ''} — {_TYPE_LABELS.get(t['type'], t['type'])}"
        fig = {"anchor": f"fig{i + 1}", "kind": t["type"], "title": title, "test": t["id"], "svg": None,
               "error": t["error"], "problems": [], "notes": [], "caption": "", "test_notes": t.get("notes")}
        if not t["error"]:
            drawn = draw_test(analysis.study, tm, site_labels=t["sites"], key=f"f{i + 1}")
            # matplotlib writes every label as escaped XML text; the SVG holds nothing else from the inputs
            fig["svg"] = None if drawn.svg is None else Markup(drawn.svg)
            fig["problems"] = [scrub(p) for p in drawn.problems]
            fig["notes"] = list(drawn.notes)
            fig["caption"] = _caption(t, rows.get(t["id"], []))
        out.append(fig)
    return out


def _footer(doc: Mapping[str, Any], imp: Mapping[str, Any]) -> dict[str, Any]:
    src = doc["source"]
    ref = str(imp.get("reference") or "–") + (f" (file {src['reference']})" if src.get("reference") else "")
    crit = str(imp.get("criteria") or "–") + (f" (file {src['criteria']})" if src.get("criteria") else "")
    return {"version": doc["edx_version"], "reference": ref, "criteria": crit, "sha": doc["content_sha256"],
            "schema": f"{doc['schema']} v{doc['schema_version']}", "disclaimer": DISCLAIMER}


# ----------------------------------------------------------------------------- entry point


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("edx.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(analysis: StudyAnalysis, *, anonymize: bool = False, salt: str = "",
                document: dict[str, Any] | None = None) -> str:
    """The self-contained HTML report of one analysed study.

    Parameters
    ----------
    analysis : StudyAnalysis
        From :func:`edx.report.analyze_study`.
    anonymize : bool
        Take every text from the anonymized results document (pseudonymous patient id,
        no study date, file names without folders, free text withheld); figure labels
        and messages made while drawing carry no folder, id or date either.
    salt : str
        Secret mixed into the pseudonym (see :func:`edx.report.pseudonym`).
    document : dict, optional
        ``analysis.to_dict(anonymize=anonymize, salt=salt)`` when the caller has it already
        (read only, not changed).

    Returns
    -------
    str
        One HTML document: inline style sheet and SVG figures, no script and no
        external resource, printable on A4.  A test that could not be measured, or a
        site whose file cannot be loaded, shows its error text instead of (a row of)
        its figure; nothing in the inputs makes the report itself fail.
    """
    t0 = time.perf_counter()
    doc = analysis.to_dict(anonymize=anonymize, salt=salt) if document is None else document
    rows = _group_rows(doc)
    lim = _Limits(analysis)
    scrub = _scrubber(analysis, doc, anonymize)
    tables = [_motor_table(analysis, doc, rows, lim), _sensory_table(analysis, doc, rows, lim)]
    imp = _impression(doc)
    context = {
        "title": f"EDX report — {doc['patient']['id']}"
                 + (f", {doc['study']['date']}" if doc["study"]["date"] else ""),
        "study_id": doc["study_id"],
        "manifest": doc["source"].get("manifest") or "(in memory)",
        "anonymized": anonymize,
        "header": _header(doc, anonymize),
        "ncs_tables": [tb for tb in tables if tb.rows],
        "late_tables": _late_tables(doc, rows, lim),
        "needle_tables": _needle_tables(doc, rows),
        "limits_name": lim.name if lim.ref is not None else None,
        "impression": imp,
        "footer": _footer(doc, imp),
    }
    t1 = time.perf_counter()
    context["figures"] = _figures(analysis, doc, rows, scrub)
    t2 = time.perf_counter()
    html = _environment().get_template("report.html.j2").render(**context)
    log.debug("report %s: tables %.0f ms, figures %.0f ms, template %.0f ms", doc["study_id"], (t1 - t0) * 1e3,
              (t2 - t1) * 1e3, (time.perf_counter() - t2) * 1e3)
    return html
