"""Serial screening: the CRIMYNE peroneal alert across daily studies, PENT and the
peroneal + sural two-nerve screen.

CRIMYNE (Latronico 2007; shared/CLINICAL.md §4): the peroneal CMAP of each side is
followed from the ICU-admission study (baseline).  Criterion A: a fall of more than 25 %
of the baseline; criterion B: more than 2 SD below the normal mean.  Alert (our source's
rule) when criterion A holds on two consecutive ICU days, or on criterion B.  Days
without a usable measurement are said, and break the run of consecutive days: a missing
or flagged day never produces, nor silently suppresses, an alert.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .inputs import MotorNerve, SensoryNerve, StudySummary
from .reference import Criteria, ReferenceValues, load_criteria, load_reference, normalize_nerve

__all__ = ["ScreenResult", "CrimyneDay", "CrimyneSide", "CrimyneResult", "crimyne", "pent", "two_nerve_screen",
           "screens_of"]


@dataclass(frozen=True)
class ScreenResult:
    """A screening test on one study.

    ``result`` is ``"abnormal"`` (a full EDX study is recommended), ``"normal"``,
    ``"asymmetric"`` (PENT: one side low) or ``"not_applicable"`` (the tests it needs are
    missing or unusable; ``reason`` says which).
    """

    name: str
    result: str
    statement: str
    sensitivity_pct: float | None
    specificity_pct: float | None
    source: str
    reason: str = ""
    values: Mapping[str, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def _peroneal(s: StudySummary, side: str | None = None) -> list[MotorNerve]:
    out = [m for m in s.motor if normalize_nerve(m.nerve) == "peroneal" and (side is None or m.side == side)]
    return sorted(out, key=lambda m: (m.side or "", m.test))


def _pick(ms: list[MotorNerve], muscle: str | None) -> MotorNerve | None:
    if not ms:
        return None
    if muscle is not None:
        same = [m for m in ms if (m.muscle or "").lower() == muscle.lower()]
        if same:
            return same[0]
    return ms[0]


def pent(summary: StudySummary, *, reference: Any = None, criteria: Any = None) -> ScreenResult:
    """Peroneal nerve test (PENT, CRIMYNE-2): bilateral peroneal CMAP.

    Parameters
    ----------
    summary : StudySummary
    reference, criteria : optional
        Laboratory reference values / criteria (see :func:`edx.interpret`).
    """
    ref, c = load_reference(reference), load_criteria(criteria)
    sens, spec, src = c.number("pent", "sensitivity_pct"), c.number("pent", "specificity_pct"), c.source("pent")
    vals: dict[str, float | None] = {}
    low: dict[str, bool] = {}
    for side in ("L", "R"):
        m = _pick(_peroneal(summary, side), None)
        if m is None or not m.usable:
            why = "not recorded" if m is None else (m.problem or m.status)
            return ScreenResult("PENT", "not_applicable", f"PENT needs the peroneal CMAP of both sides: {side} {why}",
                                sens, spec, src, reason=f"peroneal {side}: {why}")
        lln = ref.motor("amplitude_mv_min", m.nerve, m.muscle, age_years=summary.patient.age_years)
        if lln is None:
            return ScreenResult("PENT", "not_applicable", f"no reference value for the peroneal CMAP recorded from "
                                f"{m.muscle}", sens, spec, src, reason="no reference")
        vals[side] = m.amplitude_mv
        vals[f"{side}_lower_limit"] = lln.value
        low[side] = (m.amplitude_mv or 0.0) < lln.value
    txt = ", ".join(f"{s} {vals[s]:.2f} mV (lower limit {vals[f'{s}_lower_limit']:g})" for s in ("L", "R"))
    if low["L"] and low["R"]:
        return ScreenResult("PENT", "abnormal", f"peroneal CMAP low on both sides ({txt}): perform a full EDX study "
                            f"(PENT sensitivity {sens:g} %, specificity {spec:g} %)", sens, spec, src, values=vals)
    if low["L"] or low["R"]:
        return ScreenResult("PENT", "asymmetric", f"peroneal CMAP low on one side only ({txt}): not the bilateral "
                            "reduction PENT looks for; consider a focal lesion, and a full study if weakness persists",
                            sens, spec, src, values=vals)
    return ScreenResult("PENT", "normal", f"peroneal CMAP normal on both sides ({txt}); a normal PENT had a normal "
                        f"full study in all 23 cases of CRIMYNE-2", sens, spec, src, values=vals)


def two_nerve_screen(summary: StudySummary, *, reference: Any = None, criteria: Any = None) -> ScreenResult:
    """Peroneal motor + sural sensory screen (Moss 2014).

    Abnormal when the peroneal CMAP or the sural SNAP is below its lower limit.
    """
    ref, c = load_reference(reference), load_criteria(criteria)
    t = c["two_nerve_screen"]
    sens, spec, src = float(t["sensitivity_pct"]), float(t["specificity_pct"]), c.source("two_nerve_screen")
    m = _pick([x for x in _peroneal(summary) if x.usable], None)
    sur: list[SensoryNerve] = sorted((x for x in summary.sensory if normalize_nerve(x.nerve) == "sural" and x.usable),
                                     key=lambda x: (x.side or "", x.test))
    if m is None or not sur:
        miss = " and ".join(w for w, ok in (("a usable peroneal CMAP", m is not None), ("a usable sural SNAP", bool(sur)))
                            if not ok)
        return ScreenResult("peroneal + sural screen", "not_applicable", f"the screen needs {miss}", sens, spec, src,
                            reason=f"missing {miss}")
    sn = next((x for x in sur if x.side == m.side), sur[0])
    lm = ref.motor("amplitude_mv_min", m.nerve, m.muscle, age_years=summary.patient.age_years)
    ls = ref.sensory("amplitude_uv_min", sn.nerve, age_years=summary.patient.age_years)
    if lm is None or ls is None:
        return ScreenResult("peroneal + sural screen", "not_applicable", "no reference value for the peroneal CMAP or "
                            "the sural SNAP", sens, spec, src, reason="no reference")
    pa, sa = m.amplitude_mv or 0.0, sn.amplitude_uv or 0.0
    vals = {"peroneal_mv": pa, "peroneal_lower_limit_mv": lm.value, "sural_uv": sa, "sural_lower_limit_uv": ls.value}
    txt = f"peroneal {pa:.2f} mV (lower limit {lm.value:g}), sural {sa:.1f} µV (lower limit {ls.value:g})"
    alone = (f"; peroneal alone: {t['peroneal_alone_sensitivity_pct']:g} %/{t['peroneal_alone_specificity_pct']:g} % "
             f"(Moss), {t['peroneal_alone_kelmenson_sensitivity_pct']:g} %/"
             f"{t['peroneal_alone_kelmenson_specificity_pct']:g} % (Kelmenson 2018)")
    if pa < lm.value or sa < ls.value:
        return ScreenResult("peroneal + sural screen", "abnormal", f"{txt}: abnormal, perform a full EDX study "
                            f"(sensitivity {sens:g} %, specificity {spec:g} %{alone})", sens, spec,
                            f"{src}; {c.source('two_nerve_screen', 'kelmenson_source')}", values=vals)
    return ScreenResult("peroneal + sural screen", "normal", f"{txt}: normal (sensitivity {sens:g} %, specificity "
                        f"{spec:g} %{alone})", sens, spec, f"{src}; {c.source('two_nerve_screen', 'kelmenson_source')}",
                        values=vals)


def screens_of(summary: StudySummary, *, ref: ReferenceValues | None = None, criteria: Criteria | None = None
               ) -> list[ScreenResult]:
    """PENT and the two-nerve screen where the study holds a peroneal motor test."""
    per = _peroneal(summary)
    if not per:
        return []
    out = [two_nerve_screen(summary, reference=ref, criteria=criteria)]
    if {m.side for m in per} >= {"L", "R"}:
        out.insert(0, pent(summary, reference=ref, criteria=criteria))
    return out


# ----------------------------------------------------------------------------- CRIMYNE


@dataclass(frozen=True)
class CrimyneDay:
    """The peroneal CMAP of one side on one ICU day.

    ``status``: ``"baseline"``, ``"ok"``, ``"fall"`` (criterion A), ``"below_2sd"``
    (criterion B), ``"missing"`` (no study that day, or no test of this side) or
    ``"flagged"`` (measured but unusable; ``note`` says why).
    """

    icu_day: int
    date: _dt.date | None
    amplitude_mv: float | None
    change_pct: float | None
    change_per_day_pct: float | None
    criterion_a: bool | None
    criterion_b: bool | None
    status: str
    note: str = ""
    test: str | None = None


@dataclass(frozen=True)
class CrimyneSide:
    """The peroneal series of one side."""

    side: str
    muscle: str | None
    baseline_icu_day: int | None
    baseline_mv: float | None
    criterion_b_limit_mv: float | None
    days: tuple[CrimyneDay, ...]
    first_fall_icu_day: int | None
    alert_icu_day: int | None
    alert_reason: str
    unconfirmed: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrimyneResult:
    """CRIMYNE screening of a patient's daily studies.

    Attributes
    ----------
    patient : str
    sides : mapping of str to CrimyneSide
    alert : bool
    alert_icu_day : int or None
        First ICU day on which the alert rule is met (either side).
    alert_side : str or None
    recommendation : str
    rule : str
        The alert rule, with its source.
    warnings : tuple of str
        Missing days, flagged measurements, baseline not at admission, side changes.
    pending : str
        A fall on the last day that would alert if it persists.
    screens : mapping of int to list of ScreenResult
        PENT and the two-nerve screen of each day's study.
    sensitivity_pct, specificity_pct : float
    source : str
    """

    patient: str
    sides: Mapping[str, CrimyneSide]
    alert: bool
    alert_icu_day: int | None
    alert_side: str | None
    recommendation: str
    rule: str
    warnings: tuple[str, ...]
    pending: str
    screens: Mapping[int, tuple[ScreenResult, ...]]
    sensitivity_pct: float
    specificity_pct: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (dates as ISO strings)."""
        d = asdict(self)
        for side in d["sides"].values():
            for day in side["days"]:
                day["date"] = day["date"].isoformat() if day["date"] else None
        d["screens"] = {str(k): [s.to_dict() for s in v] for k, v in self.screens.items()}
        return d


def _summaries(series: Any) -> list[StudySummary]:
    from .rules import _as_summary

    if isinstance(series, (str, Path)):
        p = Path(series)
        if p.is_dir():
            from ..manifest import read_series

            return [_as_summary(st) for st in read_series(p)]
        return [_as_summary(p)]
    if isinstance(series, Iterable):
        return [_as_summary(x) for x in series]
    raise TypeError(f"crimyne() takes a folder, or a list of studies/measurements/summaries, not {type(series).__name__}")


def crimyne(series: Any, *, reference: Any = None, criteria: Any = None) -> CrimyneResult:
    """CRIMYNE alert across a patient's daily studies.

    Parameters
    ----------
    series : folder, or sequence of StudySummary / StudyMeasurements / Study / manifest paths
        The daily studies of one patient (any order; each needs its ICU day, or a date).
    reference, criteria : optional
        Laboratory reference values (normal mean and SD for criterion B) and criteria.

    Returns
    -------
    CrimyneResult
    """
    ref, c = load_reference(reference), load_criteria(criteria)
    studies = _summaries(series)
    if not studies:
        raise ValueError("crimyne() needs at least one study")
    warnings: list[str] = []
    patients = sorted({s.patient.id for s in studies})
    if len(patients) > 1:
        raise ValueError(f"crimyne() follows one patient; the series holds {', '.join(patients)}")
    days: dict[int, StudySummary] = {}
    first_date = min((s.date for s in studies if s.date is not None), default=None)
    studies = sorted(studies, key=lambda s: (s.context.icu_day or 0, s.date or _dt.date.min, s.source))
    for s in studies:
        day = s.context.icu_day
        if day is None:
            if s.date is None or first_date is None:
                warnings.append(f"a study ({s.source or 'unnamed'}) has neither ICU day nor date: left out")
                continue
            day = (s.date - first_date).days + 1
            warnings.append(f"{s.source or s.date}: no ICU day given; day {day} counted from the first study's date")
        if day in days:
            warnings.append(f"two studies on ICU day {day}: the later one (by date, then file name) is used: "
                            f"{s.source or s.date}")
        days[day] = s
    ordered = sorted(days)
    a_pct = c.number("crimyne", "fall_pct")
    need = int(c.number("crimyne", "consecutive_days"))
    k_sd = c.number("crimyne", "sd_below_mean")
    if ordered and ordered[0] != 1:
        warnings.append(f"the first study is on ICU day {ordered[0]}, not at admission (day 1): the baseline is later "
                        "than CRIMYNE's")
    for a, b in zip(ordered, ordered[1:], strict=False):
        for gap in range(a + 1, b):
            warnings.append(f"no study on ICU day {gap}: consecutive-day falls cannot be confirmed across it")
    sides_seen = sorted({m.side or "?" for s in days.values() for m in _peroneal(s)})
    if not sides_seen:
        warnings.append("no peroneal motor test in any study: CRIMYNE cannot be applied")
    out_sides: dict[str, CrimyneSide] = {}
    age = studies[0].patient.age_years
    for side in sides_seen:
        out_sides[side] = _side_series(side, days, ordered, ref, age, a_pct, need, k_sd, warnings)
    alerts = [(sd.alert_icu_day, sd.side) for sd in out_sides.values() if sd.alert_icu_day is not None]
    alert_day = min(alerts)[0] if alerts else None
    alert_side = " and ".join(sd for d, sd in sorted(alerts) if d == alert_day) if alerts else None
    rule = (f"alert when the peroneal CMAP is more than {a_pct:g} % below its ICU-admission baseline on {need} "
            f"consecutive days (the rule of our source), or more than {k_sd:g} SD below the normal mean "
            f"(criterion B): {c.source('crimyne')}")
    pending = ""
    if not alerts and ordered:
        last = ordered[-1]
        hits = [sd.side for sd in out_sides.values()
                for d in sd.days if d.icu_day == last and d.criterion_a]
        if hits:
            pending = (f"peroneal CMAP ({', '.join(hits)}) more than {a_pct:g} % below baseline on ICU day {last}: "
                       f"the alert is given if the fall persists on day {last + 1}; repeat tomorrow")
    if alert_day is not None:
        why = "; ".join(f"{sd.side}: {sd.alert_reason}" for sd in out_sides.values() if sd.alert_icu_day == alert_day)
        rec = (f"CRIMYNE alert on ICU day {alert_day} ({why}): perform a full electrodiagnostic study (motor and "
               "sensory NCS, needle EMG, direct muscle stimulation)")
    elif pending or any(sd.unconfirmed for sd in out_sides.values()):
        notes = [f"{sd.side}: {u}" for sd in out_sides.values() for u in sd.unconfirmed]
        rec = "; ".join(([pending] if pending else []) + notes)
        if notes:
            rec += ("; the alert cannot be excluded: repeat the peroneal CMAP, or perform a full electrodiagnostic "
                    "study")
    else:
        rec = "no CRIMYNE alert: continue daily peroneal CMAP screening"
    screens = {d: tuple(screens_of(days[d], ref=ref, criteria=c)) for d in ordered}
    return CrimyneResult(
        patient=patients[0], sides=out_sides, alert=alert_day is not None, alert_icu_day=alert_day,
        alert_side=alert_side, recommendation=rec, rule=rule, warnings=tuple(warnings), pending=pending,
        screens=screens, sensitivity_pct=c.number("crimyne", "sensitivity_pct"),
        specificity_pct=c.number("crimyne", "specificity_pct"), source=c.source("crimyne"))


def _side_series(side: str, days: Mapping[int, StudySummary], ordered: Sequence[int], ref: ReferenceValues,
                 age: float | None, a_pct: float, need: int, k_sd: float, warnings: list[str]) -> CrimyneSide:
    rows: list[CrimyneDay] = []
    baseline: tuple[int, float] | None = None
    muscle: str | None = None
    run = 0
    prev_day: int | None = None
    prev: tuple[int, float] | None = None
    first_fall = alert = None
    alert_reason = ""
    b_limit: float | None = None
    b_checked = False
    unconfirmed: list[str] = []
    last_fall: int | None = None
    for day in ordered:
        s = days[day]
        m = _pick(_peroneal(s, side if side != "?" else None), muscle)
        consecutive = prev_day is not None and day == prev_day + 1
        if not consecutive and prev_day is not None and last_fall == prev_day and alert is None:
            unconfirmed.append(f"the fall on ICU day {prev_day} could not be confirmed: no study on day {prev_day + 1}")
        prev_day = day
        usable = m is not None and m.usable and not (muscle is not None and m.muscle and m.muscle.lower() != muscle.lower())
        if not usable and last_fall is not None and last_fall == day - 1 and alert is None:
            why = "no test" if m is None else (m.problem or m.status or "another recording muscle")
            unconfirmed.append(f"the fall on ICU day {last_fall} could not be confirmed on day {day} ({why})")
        if m is None:
            rows.append(CrimyneDay(day, s.date, None, None, None, None, None, "missing",
                                   f"no {side} peroneal motor test in this study"))
            warnings.append(f"ICU day {day}: no {side} peroneal CMAP; the consecutive-day rule restarts after it")
            run = 0
            continue
        if muscle is not None and m.muscle and muscle and m.muscle.lower() != muscle.lower():
            warnings.append(f"ICU day {day}: {side} peroneal recorded from {m.muscle}, the baseline from {muscle}: "
                            "not comparable, day not counted")
            rows.append(CrimyneDay(day, s.date, m.amplitude_mv, None, None, None, None, "flagged",
                                   f"recorded from {m.muscle}, baseline from {muscle}", m.test))
            run = 0
            continue
        if not m.usable:
            why = m.problem or m.status
            rows.append(CrimyneDay(day, s.date, None, None, None, None, None, "flagged", why, m.test))
            warnings.append(f"ICU day {day}: {side} peroneal CMAP not usable ({why}); not counted, and the "
                            "consecutive-day rule restarts after it")
            run = 0
            continue
        amp = float(m.amplitude_mv or 0.0)
        if b_limit is None and not b_checked:
            b_checked = True
            mean = ref.motor_mean(m.nerve, m.muscle, age_years=age)
            if mean is not None:
                b_limit = mean[0] - k_sd * mean[1]
            else:
                warnings.append(f"{side} side: criterion B (> {k_sd:g} SD below the normal mean) not checked: no "
                                f"normative mean for the peroneal CMAP from {m.muscle or 'an unnamed muscle'}"
                                + ("" if age is not None else " without the patient's age"))
        crit_b = None if b_limit is None else amp < b_limit
        if baseline is None:
            if amp <= 0.0:
                rows.append(CrimyneDay(day, s.date, amp, None, None, None, crit_b, "flagged",
                                       "absent response: cannot serve as baseline", m.test))
                warnings.append(f"ICU day {day}: {side} peroneal CMAP absent, no baseline")
                continue
            baseline, muscle = (day, amp), m.muscle
            if day != ordered[0]:
                warnings.append(f"{side} side: baseline taken on ICU day {day}, the first usable {side} measurement")
            status = "below_2sd" if crit_b else "baseline"
            rows.append(CrimyneDay(day, s.date, amp, 0.0, None, False, crit_b, status,
                                   "baseline (ICU admission)" if day == 1 else "baseline", m.test))
            if crit_b and alert is None:
                alert, alert_reason = day, f"{amp:.2f} mV, more than {k_sd:g} SD below the normal mean ({b_limit:.2f} mV)"
            prev = (day, amp)
            continue
        change = 100.0 * (amp / baseline[1] - 1.0)
        per_day = None
        if prev is not None and prev[1] > 0 and day > prev[0]:
            per_day = 100.0 * (amp / prev[1] - 1.0) / (day - prev[0])
        crit_a = change < -a_pct
        run = run + 1 if crit_a and (consecutive or run == 0) else (1 if crit_a else 0)
        if crit_a and first_fall is None:
            first_fall = day
        status = "fall" if crit_a else "ok"
        note = ""
        if crit_b:
            status = "below_2sd"
            if alert is None:
                alert, alert_reason = day, (f"{amp:.2f} mV, more than {k_sd:g} SD below the normal mean "
                                            f"({b_limit:.2f} mV)")
        if crit_a and run >= need and alert is None:
            alert = day
            alert_reason = f"fall of {-change:.0f} % from baseline {baseline[1]:.2f} mV, over {a_pct:g} % on {run} consecutive days"
        if crit_a and run < need:
            note = f"fall {-change:.0f} % (> {a_pct:g} %): day {run} of {need}"
        last_fall = day if crit_a else None
        rows.append(CrimyneDay(day, s.date, amp, change, per_day, crit_a, crit_b, status, note, m.test))
        prev = (day, amp)
    return CrimyneSide(side, muscle, baseline[0] if baseline else None, baseline[1] if baseline else None, b_limit,
                       tuple(rows), first_fall, alert, alert_reason, tuple(unconfirmed))
