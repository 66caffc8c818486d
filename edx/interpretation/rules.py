"""The interpreter: measurements -> pattern, grade and the evidence behind them.

Reading order (criteria and their sources in :file:`edx/data/interpretation.toml`,
normal values in :file:`edx/data/reference_values.toml`; shared/CLINICAL.md §3):

1. Every nerve, train and muscle is judged against its reference value; each judgement
   becomes an :class:`Evidence` item (rule id, sentence, value, limit, source, tests).
   Measurements that cannot be judged (quality failure, no reference, a cold limb for
   prolonged latencies and durations and slow velocities, oedema for low amplitudes, an
   age-related absent sural SNAP) are listed in ``discarded`` with the reason, never
   counted.  Cold only sets aside what cold can cause: a normal latency or duration, or a
   velocity above the demyelinating range, in a cold limb would only improve with warming,
   so it counts.
2. The criteria of each candidate pattern are checked from positive findings only, so a
   candidate's grade can only fall when data are removed.
3. Exclusions and conflicts choose the pattern: demyelinating features in >= 2 nerves
   (consider GBS/CIDP), a decrement > 10 % (neuromuscular junction) unless it comes with
   low CMAPs or SNAPs (conflict), CIP and CIM criteria both met (CINM), contradicting
   findings (indeterminate, with the conflict stated).  Fewer measurable nerves than the
   minimum gives "indeterminate", naming what is missing.  "normal" needs every judged
   value within its limits.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model import ClinicalContext, Patient
from .inputs import MotorNerve, SensoryNerve, StudySummary
from .reference import Criteria, Limit, ReferenceValues, limb_of, load_criteria, load_reference, normalize_muscle, \
    normalize_nerve

__all__ = ["Pattern", "Grade", "Evidence", "Discarded", "Caveat", "CriterionCheck", "Candidate", "IndexValue",
           "Interpretation", "interpret"]


class Pattern(enum.StrEnum):
    """The conclusions the interpreter can reach."""

    NORMAL = "normal"
    CIM = "CIM"
    CIP = "CIP"
    CINM = "CINM"
    NMJ = "neuromuscular_junction"
    DEMYELINATING = "demyelinating"
    INDETERMINATE = "indeterminate"


class Grade(enum.StrEnum):
    """Certainty of a CIP / CIM / CINM conclusion (Stevens 2009)."""

    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"

    @property
    def rank(self) -> int:
        """1 possible, 2 probable, 3 definite."""
        return {"possible": 1, "probable": 2, "definite": 3}[self.value]


def grade_rank(g: Grade | None) -> int:
    """0 for no grade, else :attr:`Grade.rank`."""
    return 0 if g is None else g.rank


_P = Pattern
_DISEASE = (_P.CIP, _P.CIM, _P.CINM)


@dataclass(frozen=True)
class Evidence:
    """One finding and what it means for each candidate pattern.

    Attributes
    ----------
    rule : str
        Stable rule id (``"cmap.low"``, ``"dms.inexcitable"``, ...).
    statement : str
        The finding in words, with the value and the limit.
    supports, against : tuple of str
        Patterns (values of :class:`Pattern`) the finding supports or argues against.
    value, limit : float or None
        The measured value and the limit it was compared with (same unit).
    unit : str or None
    comparison : str or None
        How value and limit compare (``"<"``, ``">"``, ``">="``...).
    source : str or None
        Where the limit comes from.
    tests : tuple of str
        Test ids of the manifest the finding comes from.
    weight : {"major", "minor", "info"}
        ``major`` findings are the criteria themselves.
    """

    rule: str
    statement: str
    supports: tuple[str, ...] = ()
    against: tuple[str, ...] = ()
    value: float | None = None
    limit: float | None = None
    unit: str | None = None
    comparison: str | None = None
    source: str | None = None
    tests: tuple[str, ...] = ()
    weight: str = "major"


@dataclass(frozen=True)
class Discarded:
    """A measurement the interpreter did not use, and why."""

    test: str
    measure: str
    reason: str


@dataclass(frozen=True)
class Caveat:
    """Something that limits the conclusion (cold limb, oedema, age, sedation...)."""

    code: str
    text: str
    source: str | None = None


@dataclass(frozen=True)
class CriterionCheck:
    """One criterion of a candidate pattern: met (True), not met (False) or not judged (None)."""

    id: str
    text: str
    met: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Candidate:
    """A candidate pattern: its criteria and the grade they reach (None: not reached)."""

    pattern: str
    grade: Grade | None
    reached: bool
    criteria: tuple[CriterionCheck, ...]
    why: str


@dataclass(frozen=True)
class IndexValue:
    """CMAP amplitude/duration index of one nerve (amplitude mV / negative-peak duration ms)."""

    test: str
    nerve: str
    value: float
    limit: float | None
    below: bool | None
    meaning: str
    source: str


@dataclass(frozen=True)
class Interpretation:
    """What the study shows, how sure, why, and what would change it.

    Attributes
    ----------
    pattern : Pattern
    grade : Grade or None
        For CIP, CIM and CINM; None for the other patterns.
    summary : str
        The impression in one or two sentences.
    evidence : tuple of Evidence
        Every finding, for and against each candidate pattern.
    candidates : mapping of str to Candidate
        The criteria of CIP, CIM, CINM, NMJ and demyelinating and whether they are met.
    conflicts : tuple of str
        Contradicting findings (the reason for an "indeterminate" or a caveat).
    missing : tuple of str
        Tests or information that would change or firm up the conclusion.
    discarded : tuple of Discarded
        Measurements left out, with the reason (quality flags, cold limb, ...).
    caveats : tuple of Caveat
    amplitude_duration_index : tuple of IndexValue
    screens : tuple
        PENT and the peroneal + sural screen when the study allows them
        (:class:`edx.interpretation.serial.ScreenResult`).
    reference : str
        Name of the reference values used; ``criteria`` the criteria set.
    patient : Patient
    context : ClinicalContext
    """

    pattern: Pattern
    grade: Grade | None
    summary: str
    evidence: tuple[Evidence, ...]
    candidates: Mapping[str, Candidate]
    conflicts: tuple[str, ...]
    missing: tuple[str, ...]
    discarded: tuple[Discarded, ...]
    caveats: tuple[Caveat, ...]
    amplitude_duration_index: tuple[IndexValue, ...]
    screens: tuple[Any, ...]
    reference: str
    criteria: str
    patient: Patient
    context: ClinicalContext = field(default_factory=ClinicalContext)

    def key_evidence(self, limit: int = 10) -> tuple[Evidence, ...]:
        """The findings that support the pattern, major ones first and every kind of finding
        represented before a second of the same kind (for an indeterminate study, the major
        findings of any kind); at most ``limit``."""
        order = {"major": 0, "minor": 1, "info": 2}
        if self.pattern is _P.INDETERMINATE:
            chosen = [e for e in self.evidence if e.weight == "major"]
        else:
            chosen = sorted((e for e in self.evidence if self.pattern.value in e.supports),
                            key=lambda e: order.get(e.weight, 3))
        groups: dict[str, list[Evidence]] = {}
        for e in chosen:
            groups.setdefault(e.rule, []).append(e)
        picked: list[Evidence] = []
        depth = 0
        while len(picked) < min(limit, len(chosen)):
            for g in groups.values():
                if depth < len(g) and len(picked) < limit:
                    picked.append(g[depth])
            depth += 1
        return tuple(sorted(picked, key=chosen.index))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        d = asdict(self)
        d["pattern"] = self.pattern.value
        d["grade"] = None if self.grade is None else self.grade.value
        d["candidates"] = {k: {**asdict(c), "grade": None if c.grade is None else c.grade.value}
                           for k, c in self.candidates.items()}
        d["screens"] = [s.to_dict() if hasattr(s, "to_dict") else s for s in self.screens]
        return d


# ----------------------------------------------------------------------------- helpers


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def _limit_text(lim: Limit) -> str:
    return lim.source if lim.how == "fixed" else f"{lim.source} ({lim.how})"


def _name(nerve: str | None, side: str | None, test: str) -> str:
    n = nerve or test
    return f"{n} {side}" if side else n


class _Reader:
    """Collects evidence, discards, caveats and recommendations while judging a study."""

    def __init__(self, summary: StudySummary, ref: ReferenceValues, crit: Criteria) -> None:
        self.s = summary
        self.ref = ref
        self.c = crit
        self.age = summary.patient.age_years
        self.height = summary.patient.height_cm
        self.evidence: list[Evidence] = []
        self.discarded: list[Discarded] = []
        self.caveats: dict[str, Caveat] = {}
        self.missing: dict[str, None] = {}
        self.conflicts: list[str] = []
        self.oedema = {o.lower() for o in summary.context.oedema}
        # counts
        self.motor_judged: list[MotorNerve] = []
        self.sensory_judged: list[SensoryNerve] = []
        self.cmap_low: list[str] = []
        self.cmap_below_lln: list[str] = []
        self.snap_low: list[str] = []
        self.snap_preserved: list[str] = []
        self.dur_prolonged: list[str] = []
        self.demyel: dict[str, list[str]] = {}
        self.cv_normal: list[str] = []
        self.abnormal: list[str] = []  # anything that forbids "normal"
        self.decrement: list[tuple[float, str]] = []
        self.muscle_myopathic: set[str] = set()
        self.muscle_neurogenic: set[str] = set()
        self.dms_inexcitable: set[str] = set()
        self.dms_neuropathic: set[str] = set()
        self.denervation: list[str] = []
        self.no_denervation: list[str] = []
        self.amp_index: list[IndexValue] = []
        self.distal_amp: dict[str, tuple[float, float]] = {}
        self.early_no_fibs: int | None = None
        self.nerve_key: dict[str, str] = {}

    def n_nerves(self, tests: list[str] | dict[str, Any] | set[str]) -> int:
        """Distinct nerves (nerve and side) among test ids: two recordings of one nerve count once."""
        return len({self.nerve_key.get(t, t) for t in tests})

    # -- bookkeeping
    def ev(self, rule: str, statement: str, supports: tuple[Pattern, ...] = (), against: tuple[Pattern, ...] = (),
           **kw: Any) -> None:
        self.evidence.append(Evidence(rule, statement, tuple(p.value for p in supports),
                                      tuple(p.value for p in against), **kw))

    def caveat(self, code: str, text: str, source: str | None = None) -> None:
        self.caveats.setdefault(code, Caveat(code, text, source))

    def need(self, text: str) -> None:
        self.missing.setdefault(text, None)

    def discard(self, test: str, measure: str, reason: str) -> None:
        self.discarded.append(Discarded(test, measure, reason))

    # -- context
    def limb_temperature(self, limb: str | None, side: str | None) -> float | None:
        """The lowest temperature recorded on any test of this limb (and side, when known)."""
        temps = [x.temperature_c for x in (*self.s.motor, *self.s.sensory, *self.s.fwaves)
                 if x.temperature_c is not None and limb_of(x.nerve, getattr(x, "muscle", None)) == limb
                 and (side is None or x.side in (None, side))]
        return min(temps) if temps else None

    def cold(self, temperature_c: float | None, limb: str | None, test: str, side: str | None = None) -> bool:
        t = self.c["temperature"]
        if limb is None:
            return False
        if temperature_c is None:
            temperature_c = self.limb_temperature(limb, side)
        lim = t["foot_min_c"] if limb == "lower" else t["hand_min_c"]
        if temperature_c is None:
            self.caveat(f"temperature_missing:{limb}",
                        f"limb temperature not recorded ({limb} limb): slowing by cold cannot be excluded",
                        self.c.source("temperature"))
            return False
        if temperature_c < lim:
            where = "foot" if limb == "lower" else "hand"
            self.caveat(f"cold_limb:{limb}",
                        f"cold limb: {where} at {temperature_c:g} °C (< {lim:g} °C) slows conduction and prolongs "
                        f"latencies and durations; prolonged latencies and durations and velocities in the demyelinating "
                        f"range there are set aside. Warm the limb and repeat.",
                        self.c.source("temperature"))
            self.need(f"warm the {limb} limb to at least {lim:g} °C and repeat its latencies and velocities")
            return True
        return False

    def oedematous(self, limb: str | None) -> bool:
        if limb is None or not self.oedema:
            return False
        words = {"lower": ("leg", "legs", "lower", "lower limbs", "feet", "foot", "ankle", "ankles", "both legs"),
                 "upper": ("arm", "arms", "upper", "upper limbs", "hands", "hand")}[limb]
        whole = ("generalized", "generalised", "anasarca", "whole body", "all limbs", "diffuse")
        return any(any(w in o for w in words + whole) for o in self.oedema)

    # -- motor
    def motor(self, m: MotorNerve) -> None:
        name = _name(m.nerve, m.side, m.test)
        if not m.usable:
            self.discard(m.test, "CMAP", m.problem or f"status {m.status}")
            return
        lln = self.ref.motor("amplitude_mv_min", m.nerve, m.muscle, age_years=self.age, height_cm=self.height)
        if lln is None:
            self.discard(m.test, "CMAP amplitude",
                         f"no reference value for the {m.nerve} nerve recorded from {m.muscle or 'an unnamed muscle'}")
            return
        limb = limb_of(m.nerve, m.muscle)
        cold = self.cold(m.temperature_c, limb, m.test, m.side)
        oedema = self.oedematous(limb)
        frac = self.c.number("amplitude", "low_fraction_of_lln")
        amp = float(m.amplitude_mv or 0.0)
        self.motor_judged.append(m)
        self.nerve_key[m.test] = f"{normalize_nerve(m.nerve)}|{m.side or ''}"
        self.distal_amp[m.test] = (amp, lln.value)
        absent = m.status == "absent"
        flag = " (low signal-to-noise)" if "low_snr" in m.quality else ""
        amp_txt = "absent" if absent else f"{amp:.2f} mV"
        if amp < lln.value and oedema:
            self.discard(m.test, "CMAP amplitude",
                         f"{amp_txt} below the lower limit in an oedematous limb: oedema lowers surface amplitudes")
            self.abnormal.append(f"{name} CMAP {amp_txt} (oedematous limb)")
            self.caveat("oedema", "oedema lowers surface CMAP and SNAP amplitudes: low amplitudes in oedematous limbs "
                                  "are not counted", self.c.source("temperature"))
        elif amp < frac * lln.value:
            self.cmap_low.append(m.test)
            self.cmap_below_lln.append(m.test)
            self.abnormal.append(f"{name} CMAP {amp_txt}")
            self.ev("cmap.low", f"{name} CMAP {amp_txt}{flag} < {frac * lln.value:.2f} mV (80 % of the lower limit "
                                f"{lln.value:g} mV)", (_P.CIP, _P.CIM, _P.CINM), (_P.NORMAL, _P.NMJ),
                    value=amp, limit=frac * lln.value, unit="mV", comparison="<",
                    source=f"{_limit_text(lln)}; 80 %: {self.c.source('amplitude')}", tests=(m.test,))
        elif amp < lln.value:
            self.cmap_below_lln.append(m.test)
            self.abnormal.append(f"{name} CMAP {amp_txt}")
            self.ev("cmap.borderline", f"{name} CMAP {amp_txt} below the lower limit {lln.value:g} mV but above 80 % "
                                       f"of it", (), (_P.NORMAL,), value=amp, limit=lln.value, unit="mV",
                    comparison="<", source=_limit_text(lln), tests=(m.test,), weight="minor")
        else:
            self.ev("cmap.normal", f"{name} CMAP {amp_txt} >= lower limit {lln.value:g} mV", (_P.NORMAL, _P.NMJ),
                    (_P.CIP, _P.CIM, _P.CINM), value=amp, limit=lln.value, unit="mV", comparison=">=",
                    source=_limit_text(lln), tests=(m.test,), weight="minor")
        # duration
        uln_d = self.ref.motor("neg_duration_ms_max", m.nerve, m.muscle, age_years=self.age, height_cm=self.height)
        if m.neg_duration_ms is not None and uln_d is not None:
            if cold and m.neg_duration_ms > uln_d.value:
                self.discard(m.test, "CMAP duration", f"{m.neg_duration_ms:.1f} ms prolonged in a cold limb")
            elif m.neg_duration_ms > uln_d.value:
                self.dur_prolonged.append(m.test)
                self.abnormal.append(f"{name} CMAP duration {m.neg_duration_ms:.1f} ms")
                self.ev("cmap.duration_prolonged", f"{name} distal CMAP negative-peak duration "
                        f"{m.neg_duration_ms:.1f} ms > upper limit {uln_d.value:g} ms", (_P.CIM, _P.CINM), (_P.CIP,),
                        value=m.neg_duration_ms, limit=uln_d.value, unit="ms", comparison=">",
                        source=f"{_limit_text(uln_d)}; meaning: {self.c.source('duration')}", tests=(m.test,))
            elif not absent:
                self.ev("cmap.duration_normal", f"{name} CMAP duration {m.neg_duration_ms:.1f} ms <= {uln_d.value:g} ms",
                        (_P.CIP, _P.NORMAL), (_P.CIM,), value=m.neg_duration_ms, limit=uln_d.value, unit="ms",
                        comparison="<=", source=_limit_text(uln_d), tests=(m.test,), weight="minor")
        # amplitude / duration index
        key = normalize_nerve(m.nerve)
        if not absent and not cold and m.neg_duration_ms and key in ("median", "ulnar", "peroneal"):
            idx_lim = self.c.number("amplitude_duration_index", f"{key}_below")
            v = amp / m.neg_duration_ms
            meaning = ("favours CIM+CIP over pure CIM" if key != "peroneal" else "separates patients from controls")
            self.amp_index.append(IndexValue(m.test, m.nerve, v, idx_lim, v < idx_lim,
                                             f"below {idx_lim:g} {meaning}", self.c.source("amplitude_duration_index")))
        # distal latency
        uln_l = self.ref.motor("distal_latency_ms_max", m.nerve, m.muscle, age_years=self.age, height_cm=self.height)
        if m.distal_latency_ms is not None and uln_l is not None and not absent:
            if cold and m.distal_latency_ms > uln_l.value:
                self.discard(m.test, "distal latency", f"{m.distal_latency_ms:.2f} ms prolonged in a cold limb")
            elif not cold:
                k = self.c.number("demyelination", "distal_latency_fraction_of_uln")
                if m.distal_latency_ms > k * uln_l.value:
                    self._demyel(m.test, name, f"distal latency {m.distal_latency_ms:.2f} ms > {k * 100:.0f} % of the "
                                 f"upper limit ({k * uln_l.value:.2f} ms)", m.distal_latency_ms, k * uln_l.value, "ms",
                                 f"{_limit_text(uln_l)}; {self.c.source('demyelination')}")
                elif m.distal_latency_ms > uln_l.value:
                    self.abnormal.append(f"{name} distal latency {m.distal_latency_ms:.2f} ms")
                    self.ev("latency.prolonged", f"{name} distal latency {m.distal_latency_ms:.2f} ms > upper limit "
                            f"{uln_l.value:g} ms (not in the demyelinating range)", (), (_P.NORMAL,),
                            value=m.distal_latency_ms, limit=uln_l.value, unit="ms", comparison=">",
                            source=_limit_text(uln_l), tests=(m.test,), weight="minor")
        # segments
        lln_cv = self.ref.motor("cv_m_s_min", m.nerve, m.muscle, age_years=self.age, height_cm=self.height)
        prox_larger = self.c.number("stimulation", "proximal_larger_pct")
        for seg in m.segments:
            if seg.problem is not None:
                self.discard(m.test, f"segment {seg.name}", seg.problem)
                continue
            if seg.cv_m_s is not None and lln_cv is not None:
                k = self.c.number("demyelination", "cv_fraction_of_lln")
                if cold and seg.cv_m_s < k * lln_cv.value:
                    # cold slows conduction: a slow velocity in a cold limb is set aside
                    self.discard(m.test, f"velocity {seg.name}",
                                 f"{seg.cv_m_s:.1f} m/s in the demyelinating range in a cold limb")
                elif seg.cv_m_s < k * lln_cv.value:
                    self._demyel(m.test, name, f"velocity {seg.name} {seg.cv_m_s:.1f} m/s < {k * 100:.0f} % of the "
                                 f"lower limit ({k * lln_cv.value:.1f} m/s)", seg.cv_m_s, k * lln_cv.value, "m/s",
                                 f"{_limit_text(lln_cv)}; {self.c.source('demyelination')}", comparison="<")
                else:
                    # above the demyelinating range: warming could only make it faster, so it counts even in
                    # a cold limb (and is not called abnormal there)
                    self.cv_normal.append(m.test)
                    slowed = seg.cv_m_s < lln_cv.value
                    if slowed and not cold:
                        self.abnormal.append(f"{name} velocity {seg.cv_m_s:.1f} m/s")
                    self.ev("cv.not_demyelinating",
                            f"{name} velocity {seg.cv_m_s:.1f} m/s "
                            + ("normal" if not slowed else
                               "mildly slowed in a cold limb (not demyelinating: warming can only speed it up)" if cold
                               else "mildly slowed (axonal range)")
                            + f" (lower limit {lln_cv.value:g} m/s, demyelinating below {k * lln_cv.value:.1f})",
                            (_P.CIP, _P.CIM, _P.CINM) + ((_P.NORMAL,) if not slowed else ()),
                            (_P.DEMYELINATING,), value=seg.cv_m_s, limit=lln_cv.value, unit="m/s",
                            comparison=">=", source=_limit_text(lln_cv), tests=(m.test,), weight="minor")
            d = self.c["demyelination"]
            if seg.amplitude_drop_pct is not None:
                if seg.amplitude_drop_pct >= d["conduction_block_drop_pct"]:
                    if amp >= d["conduction_block_min_distal_fraction_of_lln"] * lln.value:
                        self._demyel(m.test, name, f"conduction block {seg.name}: proximal amplitude "
                                     f"{seg.amplitude_drop_pct:.0f} % lower (>= {d['conduction_block_drop_pct']:g} %)",
                                     seg.amplitude_drop_pct, float(d["conduction_block_drop_pct"]), "%",
                                     self.c.source("demyelination", "efns_source"), comparison=">=")
                    else:
                        self.discard(m.test, f"conduction block {seg.name}",
                                     "distal CMAP below 20 % of the lower limit: block cannot be judged")
                elif seg.amplitude_drop_pct < -prox_larger:
                    self.caveat(f"submaximal:{m.test}",
                                f"{name}: proximal CMAP {-seg.amplitude_drop_pct:.0f} % larger than the distal one "
                                f"({seg.name}): the distal stimulus may have been submaximal, so its amplitude may be "
                                f"underestimated", self.c.source("stimulation"))
            if seg.duration_increase_pct is not None and seg.duration_increase_pct > d["temporal_dispersion_increase_pct"]:
                if cold:
                    self.discard(m.test, f"temporal dispersion {seg.name}",
                                 f"duration +{seg.duration_increase_pct:.0f} % in a cold limb")
                else:
                    self._demyel(m.test, name, f"temporal dispersion {seg.name}: duration +{seg.duration_increase_pct:.0f}"
                                 f" % (> {d['temporal_dispersion_increase_pct']:g} %)", seg.duration_increase_pct,
                                 float(d["temporal_dispersion_increase_pct"]), "%",
                                 self.c.source("demyelination", "efns_source"), comparison=">")

    def _demyel(self, test: str, name: str, text: str, value: float, limit: float, unit: str, source: str,
                comparison: str = ">") -> None:
        self.demyel.setdefault(test, []).append(text)
        self.abnormal.append(f"{name} {text}")
        self.ev("demyelination.feature", f"{name}: {text}", (_P.DEMYELINATING,), (_P.CIP, _P.NORMAL),
                value=value, limit=limit, unit=unit, comparison=comparison, source=source, tests=(test,))

    # -- sensory
    def sensory(self, sn: SensoryNerve) -> None:
        name = _name(sn.nerve, sn.side, sn.test)
        if not sn.usable:
            self.discard(sn.test, "SNAP", sn.problem or f"status {sn.status}")
            return
        lln = self.ref.sensory("amplitude_uv_min", sn.nerve, age_years=self.age, height_cm=self.height)
        if lln is None:
            self.discard(sn.test, "SNAP amplitude", f"no reference value for the {sn.nerve} SNAP")
            return
        limb = limb_of(sn.nerve)
        cold = self.cold(sn.temperature_c, limb, sn.test, sn.side)
        frac = self.c.number("amplitude", "low_fraction_of_lln")
        amp = float(sn.amplitude_uv or 0.0)
        absent = sn.status == "absent"
        amp_txt = "absent" if absent else f"{amp:.1f} µV"
        flag = " (low signal-to-noise)" if "low_snr" in sn.quality else ""
        old = self.c.number("age", "sural_absent_may_be_normal_from_years")
        if normalize_nerve(sn.nerve) == "sural" and self.age is not None and self.age > old and amp < lln.value:
            self.discard(sn.test, "SNAP amplitude", f"sural SNAP {amp_txt} at age {self.age:g} (> {old:g}): may be "
                                                    "normal for age, not counted")
            self.caveat("age_sural", f"age {self.age:g} > {old:g} with {'an absent' if absent else 'a low'} sural SNAP: "
                                     "sural SNAPs may be absent in healthy people over 60-70", self.c.source("age"))
            return
        self.sensory_judged.append(sn)
        self.nerve_key[sn.test] = f"sensory {normalize_nerve(sn.nerve)}|{sn.side or ''}"
        if amp < lln.value and self.oedematous(limb):
            self.discard(sn.test, "SNAP amplitude", f"{amp_txt} below the lower limit in an oedematous limb")
            self.sensory_judged.remove(sn)
            self.abnormal.append(f"{name} SNAP {amp_txt} (oedematous limb)")
            self.caveat("oedema", "oedema lowers surface CMAP and SNAP amplitudes: low amplitudes in oedematous limbs "
                                  "are not counted", self.c.source("temperature"))
            self.need("SNAPs low or absent with leg oedema: perform direct muscle stimulation of tibialis anterior to "
                      "separate CIM from CIP")
            return
        if amp < frac * lln.value:
            self.snap_low.append(sn.test)
            self.abnormal.append(f"{name} SNAP {amp_txt}")
            self.ev("snap.low", f"{name} SNAP {amp_txt}{flag} < {frac * lln.value:.1f} µV (80 % of the lower limit "
                                f"{lln.value:g} µV)", (_P.CIP, _P.CINM), (_P.CIM, _P.NORMAL, _P.NMJ), value=amp,
                    limit=frac * lln.value, unit="µV", comparison="<",
                    source=f"{_limit_text(lln)}; 80 %: {self.c.source('amplitude')}", tests=(sn.test,))
        else:
            self.snap_preserved.append(sn.test)
            below = amp < lln.value
            if below:
                self.abnormal.append(f"{name} SNAP {amp_txt}")
            self.ev("snap.preserved", f"{name} SNAP {amp_txt} >= {frac * lln.value:.1f} µV (80 % of the lower limit "
                                      f"{lln.value:g} µV)" + (", below the limit itself" if below else ""),
                    (_P.CIM,) + (() if below else (_P.NORMAL, _P.NMJ)), (_P.CIP, _P.CINM), value=amp,
                    limit=frac * lln.value, unit="µV", comparison=">=",
                    source=f"{_limit_text(lln)}; 80 %: {self.c.source('amplitude')}", tests=(sn.test,))
        uln = self.ref.sensory("peak_latency_ms_max", sn.nerve, age_years=self.age, height_cm=self.height)
        if sn.peak_latency_ms is not None and uln is not None and not absent:
            if cold and sn.peak_latency_ms > uln.value:
                self.discard(sn.test, "SNAP peak latency", f"{sn.peak_latency_ms:.2f} ms prolonged in a cold limb")
            elif sn.peak_latency_ms > uln.value:
                self.abnormal.append(f"{name} SNAP peak latency {sn.peak_latency_ms:.2f} ms")
                self.ev("snap.latency_prolonged", f"{name} SNAP peak latency {sn.peak_latency_ms:.2f} ms > "
                        f"{uln.value:g} ms", (), (_P.NORMAL,), value=sn.peak_latency_ms, limit=uln.value, unit="ms",
                        comparison=">", source=_limit_text(uln), tests=(sn.test,), weight="minor")


# ----------------------------------------------------------------------------- main


def _sorted(items: tuple[Any, ...]) -> list[Any]:
    # a total order (ties on the test id broken by the whole record), so input order never matters
    return sorted(items, key=lambda r: (r.test, repr(r)))


def _icuaw(ctx: ClinicalContext, patient: Patient, crit: Criteria) -> tuple[bool | None, str]:
    w = crit["weakness"]
    parts = []
    met: bool | None = None
    if ctx.sedated:
        # a sedated patient cannot cooperate: a strength score given anyway is not a valid test
        return None, "not assessable (sedated): bedside scores not used"
    if ctx.mrc_sum_score is not None:
        if ctx.mrc_sum_score < w["mrc_sum_score_below"]:
            return True, f"MRC sum score {ctx.mrc_sum_score} < {w['mrc_sum_score_below']}"
        met = False
        parts.append(f"MRC sum score {ctx.mrc_sum_score} >= {w['mrc_sum_score_below']}")
    if ctx.handgrip_kg is not None and patient.sex in ("M", "F"):
        lim = w["handgrip_kg_below_male"] if patient.sex == "M" else w["handgrip_kg_below_female"]
        if ctx.handgrip_kg < lim:
            return True, f"handgrip {ctx.handgrip_kg:g} kg < {lim:g} kg"
        met = False
        parts.append(f"handgrip {ctx.handgrip_kg:g} kg >= {lim:g} kg")
    return met, "; ".join(parts) or ("not assessable (sedated)" if ctx.sedated else "no bedside score given")


def interpret(
    data: Any,
    *,
    reference: str | Path | Mapping[str, Any] | ReferenceValues | None = None,
    criteria: str | Path | Mapping[str, Any] | Criteria | None = None,
) -> Interpretation:
    """Interpret a study: pattern, grade, evidence, what is missing.

    Parameters
    ----------
    data : StudySummary, StudyMeasurements, Study, str or Path
        The measurements (:func:`edx.measure_study`), a hand-built
        :class:`edx.interpretation.StudySummary`, a :class:`edx.Study` or a manifest path (then
        measured first).
    reference : path, mapping or ReferenceValues, optional
        A laboratory's normal values, merged over ``edx/data/reference_values.toml``.
    criteria : path, mapping or Criteria, optional
        Overrides of ``edx/data/interpretation.toml``.

    Returns
    -------
    Interpretation
    """
    summary = _as_summary(data)
    ref = load_reference(reference)
    crit = load_criteria(criteria)
    r = _Reader(summary, ref, crit)
    ctx = summary.context
    for m in _sorted(summary.motor):
        r.motor(m)
    for sn in _sorted(summary.sensory):
        r.sensory(sn)
    for test, err in sorted(summary.not_measured):
        r.discard(test, "test", err)
    _late_and_needle(r, summary)
    _context_notes(r, summary)
    return _conclude(r, summary)


def _as_summary(data: Any) -> StudySummary:
    if isinstance(data, StudySummary):
        return data
    from ..measure.study import StudyMeasurements, measure_study
    from ..model import Study
    from .inputs import summarize

    if isinstance(data, (str, Path)):
        from ..manifest import read_manifest

        data = read_manifest(data)
    if isinstance(data, Study):
        data = measure_study(data)
    if isinstance(data, StudyMeasurements):
        return summarize(data)
    raise TypeError(f"interpret() takes a StudySummary, StudyMeasurements, Study or manifest path, not "
                    f"{type(data).__name__}")


def _late_and_needle(r: _Reader, s: StudySummary) -> None:
    c = r.c
    # F-waves
    d = c["demyelination"]
    for f in _sorted(s.fwaves):
        name = _name(f.nerve, f.side, f.test)
        if f.problem is not None:
            r.discard(f.test, "F-waves", f.problem)
            continue
        uln = r.ref.motor("f_latency_ms_max", f.nerve, None, age_years=r.age, height_cm=r.height)
        if uln is None:
            # F-wave tests name the nerve; the recording muscle of the nerve's motor entry decides
            for m in s.motor:
                if normalize_nerve(m.nerve) == normalize_nerve(f.nerve):
                    uln = r.ref.motor("f_latency_ms_max", f.nerve, m.muscle, age_years=r.age, height_cm=r.height)
                    if uln is not None:
                        break
        if f.min_latency_ms is None or uln is None:
            if f.persistence_pct == 0:
                r.ev("f.absent", f"{name}: no F-waves in the train", (), (_P.NORMAL,), tests=(f.test,), weight="info")
            continue
        r.nerve_key[f.test] = f"{normalize_nerve(f.nerve)}|{f.side or ''}"
        if r.cold(f.temperature_c, limb_of(f.nerve), f.test, f.side) and f.min_latency_ms > uln.value:
            r.discard(f.test, "F latency", f"{f.min_latency_ms:.1f} ms prolonged in a cold limb")
            continue
        lln = r.ref.motor("amplitude_mv_min", f.nerve, None) or next(
            (r.ref.motor("amplitude_mv_min", f.nerve, m.muscle) for m in s.motor
             if normalize_nerve(m.nerve) == normalize_nerve(f.nerve)), None)
        low_m = (f.m_amplitude_mv is not None and lln is not None
                 and f.m_amplitude_mv < c.number("amplitude", "low_fraction_of_lln") * lln.value)
        k = d["f_latency_fraction_of_uln_low_cmap"] if low_m else d["f_latency_fraction_of_uln"]
        if f.min_latency_ms > k * uln.value:
            r._demyel(f.test, name, f"minimal F latency {f.min_latency_ms:.1f} ms > {k * 100:.0f} % of the upper limit "
                      f"({k * uln.value:.1f} ms)", f.min_latency_ms, k * uln.value, "ms",
                      f"{_limit_text(uln)}; {c.source('demyelination', 'efns_source')}")
        elif f.min_latency_ms > uln.value:
            r.abnormal.append(f"{name} F latency {f.min_latency_ms:.1f} ms")
            r.ev("f.prolonged", f"{name} minimal F latency {f.min_latency_ms:.1f} ms > upper limit {uln.value:g} ms",
                 (), (_P.NORMAL,), value=f.min_latency_ms, limit=uln.value, unit="ms", comparison=">",
                 source=_limit_text(uln), tests=(f.test,), weight="minor")
        else:
            r.ev("f.normal", f"{name} minimal F latency {f.min_latency_ms:.1f} ms <= {uln.value:g} ms",
                 (_P.NORMAL, _P.CIP, _P.CIM), (_P.DEMYELINATING,), value=f.min_latency_ms, limit=uln.value, unit="ms",
                 comparison="<=", source=_limit_text(uln), tests=(f.test,), weight="minor")
    # RNS
    rn = c["rns"]
    for t in _sorted(s.rns):
        name = _name(t.nerve, t.side, t.test)
        if t.problem is not None or t.decrement_pct is None:
            r.discard(t.test, "RNS decrement", t.problem or "not measured")
            continue
        r.decrement.append((t.decrement_pct, t.test))
        rate = f" at {t.rate_hz:g} Hz" if t.rate_hz else ""
        if t.decrement_pct > rn["decrement_abnormal_pct"]:
            r.abnormal.append(f"{name} decrement {t.decrement_pct:.0f} %")
            r.ev("rns.decrement", f"{name} decrement{rate} {t.decrement_pct:.1f} % > {rn['decrement_abnormal_pct']:g} %",
                 (_P.NMJ,), (_P.NORMAL, _P.CIP, _P.CIM), value=t.decrement_pct,
                 limit=float(rn["decrement_abnormal_pct"]), unit="%", comparison=">", source=c.source("rns"),
                 tests=(t.test,))
        elif t.decrement_pct >= rn["decrement_equivocal_pct"]:
            r.caveat(f"rns_equivocal:{t.test}", f"{name} decrement {t.decrement_pct:.1f} % is equivocal "
                     f"({rn['decrement_equivocal_pct']:g}-{rn['decrement_abnormal_pct']:g} %): repeat",
                     c.source("rns"))
            r.ev("rns.equivocal", f"{name} decrement{rate} {t.decrement_pct:.1f} % (equivocal)", (), (),
                 value=t.decrement_pct, limit=float(rn["decrement_equivocal_pct"]), unit="%", comparison=">=",
                 source=c.source("rns"), tests=(t.test,), weight="minor")
        else:
            r.ev("rns.no_decrement", f"{name} decrement{rate} {t.decrement_pct:.1f} % < "
                 f"{rn['decrement_equivocal_pct']:g} %", (_P.CIP, _P.CIM, _P.NORMAL), (_P.NMJ,),
                 value=t.decrement_pct, limit=float(rn["decrement_equivocal_pct"]), unit="%", comparison="<",
                 source=c.source("rns"), tests=(t.test,))
    # direct muscle stimulation
    dm = c["dms"]
    ratio_src, mcmap_src = c.source("dms", "ratio_source"), c.source("dms", "mcmap_source")
    for t in _sorted(s.dms):
        muscle = normalize_muscle(t.muscle) or t.test
        name = f"{t.muscle or t.test}{' ' + t.side if t.side else ''}"
        if t.problem is not None or t.ratio is None or t.mcmap_mv is None:
            r.discard(t.test, "nCMAP/mCMAP", t.problem or "ratio not measured")
            continue
        key = f"{muscle}|{t.side or ''}"
        lim, low = float(dm["ratio_limit"]), float(dm["mcmap_low_mv"])
        txt = f"{name}: nCMAP/mCMAP {t.ratio:.2f}, mCMAP {t.mcmap_mv:.2f} mV"
        src = f"{ratio_src}; {mcmap_src}"
        if t.ratio == lim:
            r.ev("dms.borderline", f"{txt}: ratio at the limit {lim:g}, neither side of it", (), (),
                 value=t.ratio, limit=lim, unit="ratio", comparison="==", source=src, tests=(t.test,), weight="minor")
        elif t.ratio > lim and t.mcmap_mv < low:
            r.dms_inexcitable.add(key)
            r.abnormal.append(txt)
            r.ev("dms.inexcitable", f"{txt}: ratio > {lim:g} with mCMAP < {low:g} mV, the muscle membrane itself is "
                 "inexcitable", (_P.CIM, _P.CINM), (_P.CIP, _P.NORMAL), value=t.ratio, limit=lim, unit="ratio",
                 comparison=">", source=src, tests=(t.test,))
        elif t.ratio < lim and t.mcmap_mv >= low:
            r.dms_neuropathic.add(key)
            r.abnormal.append(txt)
            r.ev("dms.neuropathic", f"{txt}: ratio < {lim:g} with a normal mCMAP (>= {low:g} mV), the muscle is "
                 "excitable and the nerve is not", (_P.CIP,), (_P.CIM, _P.NORMAL), value=t.ratio, limit=lim,
                 unit="ratio", comparison="<", source=src, tests=(t.test,))
        elif t.ratio < lim:
            r.abnormal.append(txt)
            r.ev("dms.mixed", f"{txt}: low ratio and low mCMAP, both nerve and muscle excitability reduced",
                 (_P.CINM,), (_P.NORMAL,), value=t.ratio, limit=lim, unit="ratio", comparison="<", source=src,
                 tests=(t.test,), weight="minor")
        else:
            r.ev("dms.normal", f"{txt}: ratio > {lim:g} with a normal mCMAP is not myopathic", (_P.NORMAL, _P.NMJ),
                 (_P.CIM,), value=t.mcmap_mv, limit=low, unit="mV", comparison=">=", source=src, tests=(t.test,),
                 weight="minor")
    # needle EMG at rest
    nd = c["needle"]
    day = s.context.icu_day
    for t in _sorted(s.needle_rest):
        name = f"{t.muscle or t.test}{' ' + t.side if t.side else ''}"
        den = t.denervation
        if den is None:
            r.discard(t.test, "spontaneous activity", t.problem or "not judged")
            continue
        if den:
            r.denervation.append(t.test)
            r.abnormal.append(f"{name} fibrillations/PSWs")
            r.ev("needle.fibrillations", f"{name}: fibrillation potentials / positive sharp waves (grade {t.grade}, "
                 f"trains at {t.n_sites_with_trains} of {t.n_sites} sites)", (_P.CIP, _P.CIM, _P.CINM),
                 (_P.NORMAL, _P.NMJ), source=c.source("needle"), tests=(t.test,), weight="minor")
            if day is not None and day < nd["denervation_expected_from_icu_day"]:
                r.ev("needle.fibrillations_early", f"fibrillations on ICU day {day}, before the 2-3 weeks after which "
                     "they follow axonal loss in CIP", (_P.CIM,), (), value=float(day),
                     limit=float(nd["denervation_expected_from_icu_day"]), unit="day", comparison="<",
                     source=c.source("needle"), tests=(t.test,), weight="info")
        else:
            r.no_denervation.append(t.test)
            r.ev("needle.no_spontaneous", f"{name}: no fibrillations or positive sharp waves", (_P.NORMAL, _P.NMJ),
                 (), source=c.source("needle"), tests=(t.test,), weight="minor")
            if day is not None and day >= nd["denervation_expected_by_icu_day"]:
                r.ev("needle.no_fibrillations_late", f"no fibrillations on ICU day {day} (>= "
                     f"{nd['denervation_expected_by_icu_day']}): expected by then in CIP", (), (_P.CIP,),
                     value=float(day), limit=float(nd["denervation_expected_by_icu_day"]), unit="day",
                     comparison=">=", source=c.source("needle"), tests=(t.test,), weight="minor")
            elif day is not None and day < nd["denervation_expected_from_icu_day"]:
                r.early_no_fibs = day
    # needle EMG at effort
    for t in _sorted(s.needle_effort):
        name = f"{t.muscle or t.test}{' ' + t.side if t.side else ''}"
        key = f"{normalize_muscle(t.muscle) or t.test}|{t.side or ''}"
        if t.problem is not None:
            r.discard(t.test, "motor unit potentials", t.problem)
            continue
        desc = (f"{t.n_mups} MUPs, mean duration {_f(t.mean_duration_ms, '.1f')} ms, amplitude "
                f"{_f(t.mean_amplitude_uv, '.0f')} µV, {_f(t.polyphasic_pct, '.0f')} % polyphasic")
        noted = sorted(t.quality & (_MUP_CAVEAT_FLAGS | {"short_recording"}))
        if noted:
            desc += f"; analysis flagged {', '.join(noted)}"
        flagged = sorted(t.quality & _MUP_CAVEAT_FLAGS)
        if flagged:
            r.caveat(f"mup_quality:{t.test}", f"{name}: the motor unit potential analysis is flagged "
                     f"{', '.join(flagged)} (see its reasons): its durations, amplitudes and recruitment may be off",
                     c.source("needle"))
        if t.mup_class == "myopathic":
            r.muscle_myopathic.add(key)
            r.abnormal.append(f"{name} myopathic MUPs")
            r.ev("mup.myopathic", f"{name}: short, small, polyphasic MUPs ({desc})", (_P.CIM, _P.CINM),
                 (_P.CIP, _P.NORMAL), source=c.source("needle"), tests=(t.test,))
        elif t.mup_class == "neurogenic":
            r.muscle_neurogenic.add(key)
            r.abnormal.append(f"{name} neurogenic MUPs")
            r.ev("mup.neurogenic", f"{name}: long, large MUPs ({desc})", (_P.CIP, _P.CINM), (_P.CIM, _P.NORMAL),
                 source=c.source("needle"), tests=(t.test,))
        elif t.mup_class == "normal":
            r.ev("mup.normal", f"{name}: MUPs within reference ({desc})", (_P.NORMAL, _P.NMJ), (),
                 source=c.source("needle"), tests=(t.test,), weight="minor")
        else:
            r.discard(t.test, "MUP class", f"no class ({desc}): too few MUPs or no reference")
        if t.recruitment == "early":
            r.abnormal.append(f"{name} early recruitment")
            r.ev("mup.early_recruitment", f"{name}: early recruitment", (_P.CIM,), (_P.CIP,), source=c.source("needle"),
                 tests=(t.test,), weight="minor")
        elif t.recruitment == "reduced":
            r.abnormal.append(f"{name} reduced recruitment")
            r.ev("mup.reduced_recruitment", f"{name}: reduced recruitment", (_P.CIP,), (_P.CIM, _P.NORMAL),
                 source=c.source("needle"), tests=(t.test,), weight="minor")
            if t.mup_class is None:
                r.muscle_neurogenic.add(key)


#: quality flags of a MUP analysis that can bias its measures (said in the evidence and as a caveat;
#: a short recording, under 5 s per site, only in the evidence: the sample studies' 4 s sites are)
_MUP_CAVEAT_FLAGS = frozenset({"clipped", "hum", "low_sampling_rate", "noisy", "dense_background"})


def _context_notes(r: _Reader, s: StudySummary) -> None:
    ctx = s.context
    if ctx.sedated:
        r.caveat("sedated", "sedated patient: no voluntary effort (MUPs, recruitment) and no bedside strength score",
                 r.c.source("grades"))
    if ctx.neuromuscular_blockers:
        r.caveat("nmba", "recent neuromuscular blocking agents: a decrement and low CMAPs may reflect prolonged "
                         "blockade", r.c.source("rns"))


def _candidates(r: _Reader, s: StudySummary) -> dict[str, Candidate]:
    c = r.c
    n_min = int(c.number("amplitude", "min_nerves"))
    groups_min = int(c.number("dms", "min_muscle_groups"))
    icuaw, icuaw_txt = _icuaw(s.context, s.patient, c)
    words = [w.lower() for w in c["grades"]["biopsy_myopathic_words"]]
    negations = [w.lower() for w in c["grades"]["biopsy_negation_words"]]
    biopsy = f" {(s.context.biopsy or '').lower()} "
    # free text: read as myopathic only when a myopathic word is there and no negation is
    biopsy_myo = any(w in biopsy for w in words) and not any(n in biopsy for n in negations)
    # "probable" needs ICU-acquired weakness at the bedside, or a sedated patient in whom it
    # cannot be tested (electrophysiology alone); weakness absent or not recorded: "possible"
    may_be_probable = icuaw is True or (icuaw is None and bool(s.context.sedated))
    cmap_low = r.n_nerves(r.cmap_low) >= n_min
    snap_low = r.n_nerves(r.snap_low) >= n_min
    snap_ok = r.n_nerves(r.snap_preserved) >= n_min
    cv_ok = r.n_nerves(set(r.cv_normal)) >= int(c.number("minimum_data", "motor_nerves"))
    muscle_groups = r.muscle_myopathic | r.dms_inexcitable
    n_groups = len({g.split("|")[0] for g in muscle_groups})
    dur = r.n_nerves(r.dur_prolonged) >= int(c.number("duration", "min_nerves"))
    cip_cap = Grade(c["grades"]["cip_highest"])

    def chk(i: str, text: str, met: bool | None, detail: str = "") -> CriterionCheck:
        return CriterionCheck(i, text, met, detail)

    icuaw_check = chk("icuaw", "ICU-acquired weakness (MRC sum score < 48 or low handgrip)", icuaw, icuaw_txt)
    # CIP
    cip_checks = (
        icuaw_check,
        chk("cmap_low", f"CMAP < 80 % of the lower limit in >= {n_min} nerves", cmap_low, ", ".join(r.cmap_low)),
        chk("snap_low", f"SNAP < 80 % of the lower limit in >= {n_min} nerves", snap_low, ", ".join(r.snap_low)),
        chk("conduction", "normal or near-normal velocities (not demyelinating) measured in >= 2 nerves", cv_ok,
            ", ".join(sorted(set(r.cv_normal)))),
        chk("no_decrement", "no decrement on repetitive stimulation",
            None if not r.decrement else not any(d > c["rns"]["decrement_abnormal_pct"] for d, _ in r.decrement)),
    )
    cip_grade: Grade | None = None
    if cmap_low and snap_low:
        cip_grade = Grade.PROBABLE if cv_ok and may_be_probable else Grade.POSSIBLE
        if cip_grade.rank > cip_cap.rank:
            cip_grade = cip_cap
    # CIM
    cim_checks = (
        icuaw_check,
        chk("cmap_low", f"CMAP < 80 % of the lower limit in >= {n_min} nerves", cmap_low, ", ".join(r.cmap_low)),
        chk("snap_preserved", f"SNAP > 80 % of the lower limit in >= {n_min} nerves", snap_ok,
            ", ".join(r.snap_preserved)),
        chk("muscle", f"myopathic MUPs or reduced muscle excitability on direct stimulation in >= {groups_min} muscle "
                      "groups", (n_groups >= groups_min) if n_groups else None,
            f"{n_groups} muscle group(s): {', '.join(sorted(muscle_groups))}" if n_groups else "not shown"),
        chk("duration", f"CMAP duration prolonged in >= {int(c.number('duration', 'min_nerves'))} nerves",
            dur if r.motor_judged else None, ", ".join(r.dur_prolonged)),
        chk("biopsy", "muscle biopsy consistent with myopathy",
            True if biopsy_myo else (False if biopsy.strip() else None), s.context.biopsy or "no biopsy"),
    )
    cim_grade: Grade | None = None
    if cmap_low and snap_ok:
        if n_groups >= groups_min:
            cim_grade = Grade.PROBABLE
            if biopsy_myo and icuaw is True:
                cim_grade = Grade.DEFINITE
        elif n_groups >= 1 or dur:
            cim_grade = Grade.PROBABLE if biopsy_myo else Grade.POSSIBLE
        if cim_grade is not None and cim_grade.rank >= Grade.PROBABLE.rank and not may_be_probable:
            cim_grade = Grade.POSSIBLE
        if s.context.sedated and cim_grade is Grade.DEFINITE:
            cim_grade = Grade.PROBABLE  # from electrophysiology in a sedated patient: at most probable
    # CINM
    cinm_grade: Grade | None = None
    if cip_grade is not None and n_groups >= 1:
        muscle_g = Grade.PROBABLE if n_groups >= groups_min else Grade.POSSIBLE
        cinm_grade = min(cip_grade, muscle_g, key=lambda g: g.rank)
    cinm_checks = (
        chk("cip", "CIP criteria (low CMAPs and SNAPs)", cip_grade is not None),
        chk("muscle", "myopathic MUPs or muscle inexcitability on direct stimulation", n_groups >= 1 if n_groups else None,
            ", ".join(sorted(muscle_groups))),
    )
    dec = [d for d, _ in r.decrement]
    nmj = bool(dec) and max(dec) > c["rns"]["decrement_abnormal_pct"]
    n_dem = r.n_nerves(r.demyel)
    dem_min = int(c.number("demyelination", "min_nerves"))
    return {
        _P.CIP.value: Candidate(_P.CIP.value, cip_grade, cip_grade is not None, cip_checks,
                                "low CMAPs and SNAPs" if cip_grade else "criteria not met"),
        _P.CIM.value: Candidate(_P.CIM.value, cim_grade, cim_grade is not None, cim_checks,
                                "low CMAPs, preserved SNAPs and a myopathic sign" if cim_grade else "criteria not met"),
        _P.CINM.value: Candidate(_P.CINM.value, cinm_grade, cinm_grade is not None, cinm_checks,
                                 "CIP criteria with muscle evidence" if cinm_grade else "criteria not met"),
        _P.NMJ.value: Candidate(_P.NMJ.value, None, nmj, (
            chk("decrement", f"decrement > {c['rns']['decrement_abnormal_pct']:g} % on repetitive stimulation",
                nmj if dec else None, f"max {max(dec):.1f} %" if dec else "not done"),), "decrement" if nmj else ""),
        _P.DEMYELINATING.value: Candidate(_P.DEMYELINATING.value, None, n_dem >= dem_min, (
            chk("features", f"demyelinating features in >= {dem_min} nerves", n_dem >= dem_min,
                "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(r.demyel.items()))),), ""),
    }


def _conclude(r: _Reader, s: StudySummary) -> Interpretation:
    c = r.c
    cands = _candidates(r, s)
    n_motor, n_sens = len(r.motor_judged), len(r.sensory_judged)
    min_motor = int(c.number("minimum_data", "motor_nerves"))
    min_sens = int(c.number("minimum_data", "sensory_nerves"))
    n_min = int(c.number("amplitude", "min_nerves"))
    cip, cim, cinm = cands["CIP"], cands["CIM"], cands["CINM"]
    pattern: Pattern
    grade: Grade | None = None
    why = ""
    neurogenic = sorted(r.muscle_neurogenic | r.dms_neuropathic)
    if n_motor < min_motor:
        pattern = _P.INDETERMINATE
        why = f"only {n_motor} motor nerve(s) could be judged (at least {min_motor} needed)"
        r.need(f"motor conduction studies of at least {min_motor} nerves")
    elif cands["demyelinating"].reached:
        pattern = _P.DEMYELINATING
        why = "demyelinating features in " + ", ".join(sorted(r.demyel)) + " (this excludes CIP)"
    elif cands["neuromuscular_junction"].reached:
        if r.n_nerves(r.cmap_low) >= n_min or r.n_nerves(r.snap_low) >= n_min or r.denervation:
            pattern = _P.INDETERMINATE
            r.conflicts.append("decrement > 10 % together with low CMAPs/SNAPs or fibrillations: blockade lowers CMAPs "
                               "too, and the CIP/CIM criteria require no decrement")
            r.need("repeat when neuromuscular blocking agents have cleared")
        else:
            pattern = _P.NMJ
            why = ("decrement on repetitive stimulation with CMAPs not reduced below 80 % of their limits and "
                   + ("SNAPs not reduced" if n_sens >= min_sens else "SNAPs not measured"))
    elif r.n_nerves(r.snap_low) >= n_min and r.n_nerves(r.snap_preserved) >= n_min:
        pattern = _P.INDETERMINATE
        r.conflicts.append(f"SNAPs low in {', '.join(r.snap_low)} but preserved in {', '.join(r.snap_preserved)}: "
                           "neither the CIP nor the CIM sensory criterion holds alone")
    elif cinm.reached:
        pattern, grade = _P.CINM, cinm.grade
        why = "criteria of both CIP (low CMAPs and SNAPs) and CIM (muscle evidence) are met"
    elif cip.reached:
        pattern, grade = _P.CIP, cip.grade
        why = "axonal sensorimotor pattern: low CMAPs and SNAPs without demyelination"
        if r.n_nerves(r.dur_prolonged) >= int(c.number("duration", "min_nerves")):
            r.caveat("cip_long_duration", "CMAP durations are prolonged although the pattern is CIP: a myopathic "
                                          "component (CINM) is possible")
            r.need("direct muscle stimulation (nCMAP/mCMAP) or needle EMG at effort to look for a myopathic "
                   "component (CINM)")
    elif cim.reached:
        if neurogenic:
            pattern = _P.INDETERMINATE
            r.conflicts.append(f"low CMAPs with preserved SNAPs (CIM) but neurogenic findings in {', '.join(neurogenic)}")
        else:
            pattern, grade = _P.CIM, cim.grade
            why = "low CMAPs with preserved SNAPs and myopathic signs"
    elif r.n_nerves(r.cmap_low) >= n_min:
        pattern = _P.INDETERMINATE
        if n_sens < min_sens:
            why = f"low CMAPs but only {n_sens} SNAP(s) could be judged: CIP and CIM cannot be separated"
            r.need(f"sensory studies of at least {min_sens} nerves")
        elif r.n_nerves(r.snap_preserved) >= n_min:
            why = ("low CMAPs with preserved SNAPs but no myopathic sign: CIM, prolonged neuromuscular blockade "
                   "or a motor neuronopathy")
        else:
            why = "low CMAPs with too few judged SNAPs to separate CIP from CIM"
    elif r.abnormal:
        pattern = _P.INDETERMINATE
        why = "abnormal findings that do not make a pattern: " + "; ".join(r.abnormal[:6])
    elif n_sens < min_sens:
        pattern = _P.INDETERMINATE
        why = f"motor studies normal but only {n_sens} SNAP(s) could be judged"
        r.need(f"sensory studies of at least {min_sens} nerves")
    else:
        pattern = _P.NORMAL
        why = "all judged amplitudes, durations, latencies and velocities within their limits"
    if pattern is _P.INDETERMINATE and r.conflicts and not why:
        why = r.conflicts[0]
    # grade ceilings and notes
    if grade is not None:
        if pattern is _P.CIM and grade is not Grade.DEFINITE:
            r.need("'definite' CIM needs a muscle biopsy consistent with myopathy (Stevens 2009)")
        if pattern in (_P.CIM, _P.CINM) and cim.criteria[3].met is not True:
            r.need("needle EMG or direct muscle stimulation of a second muscle group for 'probable' (Stevens 2009: "
                   ">= 2 muscle groups)")
        if cip.criteria[0].met is False and pattern in _DISEASE:
            r.caveat("no_icuaw", f"bedside strength does not show ICU-acquired weakness ({cip.criteria[0].detail}): "
                                 "the electrophysiological pattern is subclinical; graded 'possible' at most",
                     c.source("weakness"))
    if pattern in _DISEASE or r.n_nerves(r.cmap_low) >= n_min:
        if not s.rns:
            r.need("repetitive nerve stimulation at 2-3 Hz to exclude a neuromuscular-junction disorder (the CIP "
                   "criteria require no decrement)")
        if not s.dms and not any("direct muscle stimulation" in m for m in r.missing):  # asked once, not twice
            r.need("direct muscle stimulation of tibialis anterior (nCMAP/mCMAP) separates CIM (ratio > 0.5, "
                   "mCMAP < 3 mV) from CIP")
        if not s.needle_rest:
            r.need("needle EMG at rest (fibrillations, positive sharp waves)")
        if not s.needle_effort and not s.context.sedated:
            r.need("needle EMG at minimal effort (MUP duration, amplitude, recruitment)")
        if not s.needle_effort and s.context.sedated:
            r.need("MUP analysis needs voluntary effort: repeat needle EMG when the patient can cooperate")
    if s.context.mrc_sum_score is None and s.context.handgrip_kg is None:
        r.need("MRC sum score or handgrip dynamometry when the patient can cooperate (ICU-acquired weakness)")
    # amplitude/duration index against pure CIM
    if pattern is _P.CIM:
        low_idx = [iv for iv in r.amp_index if iv.below and normalize_nerve(iv.nerve) in ("median", "ulnar")]
        for iv in low_idx:
            r.ev("index.favours_cinm", f"{iv.nerve} CMAP amplitude/duration index {iv.value:.2f} < {iv.limit:g}: "
                 "favours CIM+CIP over pure CIM", (_P.CINM,), (_P.CIM,), value=iv.value, limit=iv.limit,
                 comparison="<", source=iv.source, tests=(iv.test,), weight="minor")
        if low_idx:
            r.caveat("index", "the CMAP amplitude/duration index favours CIM+CIP over pure CIM in "
                     + ", ".join(iv.nerve for iv in low_idx) + "; the preserved SNAPs argue against a neuropathy",
                     c.source("amplitude_duration_index"))
    for iv in r.amp_index:
        if normalize_nerve(iv.nerve) == "peroneal" and iv.below:
            r.ev("index.peroneal", f"peroneal CMAP amplitude/duration index {iv.value:.2f} < {iv.limit:g} (patients vs "
                 "controls)", (_P.CIP, _P.CIM, _P.CINM), (_P.NORMAL,), value=iv.value, limit=iv.limit, comparison="<",
                 source=iv.source, tests=(iv.test,), weight="info")
    if r.early_no_fibs is not None and pattern in (_P.NORMAL, _P.CIP, _P.CIM, _P.CINM, _P.INDETERMINATE):
        r.caveat("needle_early", f"ICU day {r.early_no_fibs}: fibrillations from axonal loss appear only after 2-3 "
                 "weeks; their absence does not argue against CIP yet", c.source("needle"))
    if s.context.sedated and pattern in _DISEASE:
        r.caveat("sedated_grade", "from electrophysiology alone in a sedated patient the grade is at most 'probable'",
                 c.source("grades"))
    _criteria_counts(r, n_min)
    from .serial import screens_of

    screens = screens_of(s, ref=r.ref, criteria=c)
    summary_text = _summary_text(pattern, grade, why, r)
    return Interpretation(
        pattern=pattern, grade=grade, summary=summary_text, evidence=tuple(r.evidence), candidates=cands,
        conflicts=tuple(r.conflicts), missing=tuple(r.missing), discarded=tuple(r.discarded),
        caveats=tuple(r.caveats.values()), amplitude_duration_index=tuple(r.amp_index), screens=tuple(screens),
        reference=r.ref.name, criteria=c.name, patient=s.patient, context=s.context)


def _criteria_counts(r: _Reader, n_min: int) -> None:
    """The nerve-count criteria as evidence items of their own, placed first."""
    by_test = {e.tests[0]: e for e in r.evidence if e.tests}
    src = r.c.source("amplitude")

    def values(tests: list[str], rule: str) -> str:
        parts = []
        for t in tests:
            e = next((x for x in r.evidence if x.rule == rule and x.tests == (t,)), by_test.get(t))
            if e is not None and e.value is not None:
                name = e.statement.split(" CMAP")[0].split(" SNAP")[0].split(" distal")[0]
                parts.append(f"{name} {e.value:.3g} {e.unit or ''}".rstrip())
        return ", ".join(parts)

    items = []
    for rule, tests, what, sup, ag in (
        ("criterion.cmap_low", r.cmap_low, "CMAP below 80 % of the lower limit", (_P.CIP, _P.CIM, _P.CINM),
         (_P.NORMAL, _P.NMJ)),
        ("criterion.snap_low", r.snap_low, "SNAP below 80 % of the lower limit", (_P.CIP, _P.CINM), (_P.CIM,)),
        ("criterion.snap_preserved", r.snap_preserved, "SNAP above 80 % of the lower limit", (_P.CIM,),
         (_P.CIP, _P.CINM)),
        ("criterion.duration_prolonged", r.dur_prolonged, "CMAP negative-peak duration above its upper limit",
         (_P.CIM, _P.CINM), (_P.CIP,)),
    ):
        if r.n_nerves(tests) >= n_min:
            detail = values(tests, rule.replace("criterion.", "cmap.") if "duration" in rule else
                            {"criterion.cmap_low": "cmap.low", "criterion.snap_low": "snap.low",
                             "criterion.snap_preserved": "snap.preserved"}[rule])
            items.append(Evidence(rule, f"{what} in {r.n_nerves(tests)} nerves ({detail}); >= {n_min} needed",
                                  tuple(p.value for p in sup), tuple(p.value for p in ag),
                                  value=float(r.n_nerves(tests)),
                                  limit=float(n_min), unit="nerves", comparison=">=", source=src,
                                  tests=tuple(tests)))
    r.evidence[:0] = items


_LABEL = {
    _P.NORMAL: "Normal study",
    _P.CIM: "critical illness myopathy (CIM)",
    _P.CIP: "critical illness polyneuropathy (CIP)",
    _P.CINM: "critical illness polyneuromyopathy (CINM: CIP and CIM)",
    _P.NMJ: "Neuromuscular-junction dysfunction (e.g. prolonged neuromuscular blockade)",
    _P.DEMYELINATING: "Demyelinating polyneuropathy: consider GBS/CIDP",
    _P.INDETERMINATE: "Indeterminate",
}


def _summary_text(pattern: Pattern, grade: Grade | None, why: str, r: _Reader) -> str:
    head = f"{grade.value.capitalize()} {_LABEL[pattern]}" if grade is not None else _LABEL[pattern]
    text = f"{head}: {why}." if why else f"{head}."
    if pattern is _P.INDETERMINATE and r.conflicts:
        text += " Conflict: " + "; ".join(r.conflicts) + "."
    return text.replace("..", ".")
