"""What the interpreter reads: one typed record per nerve, train, muscle.

:func:`summarize` turns the measurements of a study (:class:`edx.measure.study.StudyMeasurements`)
into a :class:`StudySummary`.  Acquisition software that measures with its own engine can
build a :class:`StudySummary` directly from these records and still use
:func:`edx.interpret`.

A record whose measurement could not be used carries ``problem`` (a sentence) and is
never counted as normal or abnormal; an absent response (``status="absent"``) is a finding
(amplitude 0), not a problem.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model import ClinicalContext, Patient, TestType

if TYPE_CHECKING:  # pragma: no cover
    from ..measure.study import StudyMeasurements, TestMeasurement

__all__ = [
    "Segment",
    "MotorNerve",
    "SensoryNerve",
    "FWaveTrain",
    "RnsTrain",
    "DirectStimulation",
    "NeedleRest",
    "NeedleEffort",
    "StudySummary",
    "summarize",
]

#: quality flags of a response that make its amplitude unusable (the rest are notes)
_UNUSABLE_FLAGS = frozenset({"clipped", "flat", "nonfinite", "no_stimulus", "too_short", "no_baseline",
                             "implausible_units", "baseline_unstable"})


@dataclass(frozen=True)
class Segment:
    """Conduction between two stimulation sites of a motor nerve (proximal vs distal)."""

    name: str
    cv_m_s: float | None = None
    amplitude_drop_pct: float | None = None
    duration_increase_pct: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class MotorNerve:
    """A motor nerve: its distal CMAP and its segments.

    ``status`` is ``"ok"`` (a response), ``"absent"`` (no response above the noise: a
    finding, amplitude 0) or the reason it could not be measured (``"clipped"``, ...);
    ``problem`` says why in words whenever the amplitude cannot be used.
    """

    test: str
    nerve: str
    muscle: str | None = None
    side: str | None = None
    temperature_c: float | None = None
    status: str = "ok"
    amplitude_mv: float | None = None
    distal_latency_ms: float | None = None
    neg_duration_ms: float | None = None
    segments: tuple[Segment, ...] = ()
    quality: frozenset[str] = frozenset()
    problem: str | None = None

    @property
    def usable(self) -> bool:
        """True when the amplitude can be judged (a response or an absent response)."""
        return (self.problem is None and self.status in ("ok", "absent") and self.amplitude_mv is not None
                and math.isfinite(self.amplitude_mv))


@dataclass(frozen=True)
class SensoryNerve:
    """A sensory nerve action potential (SNAP); same conventions as :class:`MotorNerve`."""

    test: str
    nerve: str
    side: str | None = None
    temperature_c: float | None = None
    status: str = "ok"
    amplitude_uv: float | None = None
    peak_latency_ms: float | None = None
    quality: frozenset[str] = frozenset()
    problem: str | None = None

    @property
    def usable(self) -> bool:
        """True when the amplitude can be judged."""
        return (self.problem is None and self.status in ("ok", "absent") and self.amplitude_uv is not None
                and math.isfinite(self.amplitude_uv))


@dataclass(frozen=True)
class FWaveTrain:
    """F-waves of a motor nerve: minimal latency (ms) and persistence (%)."""

    test: str
    nerve: str
    side: str | None = None
    temperature_c: float | None = None
    min_latency_ms: float | None = None
    persistence_pct: float | None = None
    m_amplitude_mv: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class RnsTrain:
    """Repetitive nerve stimulation: decrement (%) from the 1st to the 4th response."""

    test: str
    nerve: str | None
    side: str | None = None
    rate_hz: float | None = None
    decrement_pct: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class DirectStimulation:
    """Direct muscle stimulation of one muscle: nCMAP, mCMAP (mV) and their ratio."""

    test: str
    muscle: str | None
    side: str | None = None
    ncmap_mv: float | None = None
    mcmap_mv: float | None = None
    ratio: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class NeedleRest:
    """Spontaneous activity of one muscle: grade 0-4+ and whether fibrillations/PSW trains were found."""

    test: str
    muscle: str | None
    side: str | None = None
    grade: str | None = None
    n_sites: int = 0
    n_sites_with_trains: int = 0
    problem: str | None = None

    @property
    def denervation(self) -> bool | None:
        """True when fibrillation/PSW trains were found, None when not judged."""
        if self.problem is not None or self.n_sites == 0:
            return None
        return self.n_sites_with_trains > 0 or (self.grade not in (None, "0"))


@dataclass(frozen=True)
class NeedleEffort:
    """Motor unit potentials of one muscle at minimal effort, against its reference."""

    test: str
    muscle: str | None
    side: str | None = None
    mup_class: str | None = None
    recruitment: str | None = None
    n_mups: int = 0
    mean_duration_ms: float | None = None
    mean_amplitude_uv: float | None = None
    polyphasic_pct: float | None = None
    problem: str | None = None
    quality: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StudySummary:
    """Everything the interpreter reads about one study."""

    patient: Patient
    context: ClinicalContext = field(default_factory=ClinicalContext)
    date: _dt.date | None = None
    motor: tuple[MotorNerve, ...] = ()
    sensory: tuple[SensoryNerve, ...] = ()
    fwaves: tuple[FWaveTrain, ...] = ()
    rns: tuple[RnsTrain, ...] = ()
    dms: tuple[DirectStimulation, ...] = ()
    needle_rest: tuple[NeedleRest, ...] = ()
    needle_effort: tuple[NeedleEffort, ...] = ()
    not_measured: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: records as dicts, quality flags as sorted lists, the date as ISO text.

        :meth:`from_dict` turns it back into an equal :class:`StudySummary`; the results store keeps
        a study's summary this way so that CRIMYNE can be run without the recordings.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in _RECORDS:
                out[f.name] = [_record_dict(r) for r in v]
            elif f.name == "not_measured":
                out[f.name] = [list(pair) for pair in v]
            elif f.name == "date":
                out[f.name] = None if v is None else v.isoformat()
            elif f.name in ("patient", "context"):
                out[f.name] = {k: list(x) if isinstance(x, tuple) else x for k, x in dataclasses.asdict(v).items()}
            else:
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudySummary:
        """The :class:`StudySummary` of a :meth:`to_dict` document.

        Keys this version does not know (a document written by a newer edx) are ignored.

        Raises
        ------
        ValueError
            A record or the patient is missing a required field, or the date is not ISO text.
        """
        try:
            patient = Patient(**_known(Patient, data["patient"]))
            ctx = dict(_known(ClinicalContext, data.get("context") or {}))
            ctx["oedema"] = tuple(ctx.get("oedema") or ())
            date = data.get("date")
            kwargs: dict[str, Any] = {
                "patient": patient,
                "context": ClinicalContext(**ctx),
                "date": None if date is None else _dt.date.fromisoformat(date),
                "not_measured": tuple((str(t), str(e)) for t, e in data.get("not_measured") or ()),
                "source": str(data.get("source") or ""),
            }
            for name, rec in _RECORDS.items():
                kwargs[name] = tuple(_record_of(rec, r) for r in data.get(name) or ())
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a StudySummary document: {exc}") from exc
        return cls(**kwargs)


#: StudySummary fields holding records, and the record type of each
_RECORDS: dict[str, type] = {
    "motor": MotorNerve, "sensory": SensoryNerve, "fwaves": FWaveTrain, "rns": RnsTrain,
    "dms": DirectStimulation, "needle_rest": NeedleRest, "needle_effort": NeedleEffort,
}


def _record_dict(rec: Any) -> dict[str, Any]:
    out = dataclasses.asdict(rec)
    if "quality" in out:
        out["quality"] = sorted(out["quality"])
    if "segments" in out:
        out["segments"] = [dict(s) for s in out["segments"]]
    return out


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _record_of(cls: type, data: Mapping[str, Any]) -> Any:
    kw = _known(cls, data)
    if "quality" in kw:
        kw["quality"] = frozenset(kw["quality"] or ())
    if "segments" in kw:
        kw["segments"] = tuple(Segment(**_known(Segment, s)) for s in kw["segments"] or ())
    return cls(**kw)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _problem_of(result: Any) -> str | None:
    """A sentence when a CMAP/SNAP result cannot be used, else None."""
    if result is None:
        return "not measured"
    if result.status not in ("ok", "absent"):
        why = "; ".join(f"{k}: {v}" for k, v in result.reasons.items()) or result.status
        return f"{result.status}: {why}"
    bad = _UNUSABLE_FLAGS & set(result.quality)
    if bad:
        return ", ".join(sorted(bad))
    return None


def _motor(tm: TestMeasurement) -> MotorNerve:
    t = tm.test
    names = list(tm.sites)
    d = tm.sites.get(names[0]) if names else None
    problem = _problem_of(d)
    segs = []
    for a, b, s in tm.segments:
        prox = tm.sites.get(b)
        seg_problem = _problem_of(prox) if problem is None else problem
        flagged = {"implausible_velocity", "distance_unit_suspect"} & set(getattr(s, "quality", ()))
        if seg_problem is None and flagged:
            # a velocity not reported, or one a distance in the wrong unit may explain: not judged,
            # and said, not skipped
            seg_problem = (", ".join(sorted(flagged)) + ": "
                           + (getattr(s, "reasons", {}) or {}).get("cv", "check the distance"))
        segs.append(Segment(f"{a} -> {b}", _num(s.cv_m_s), _num(s.amplitude_drop_pct), _num(s.duration_increase_pct),
                            seg_problem))
    return MotorNerve(
        test=t.id, nerve=t.nerve or "", muscle=t.muscle, side=t.side, temperature_c=t.temperature_c,
        status=d.status if d is not None else "not_measured",
        amplitude_mv=_num(getattr(d, "amplitude_mv", None)),
        distal_latency_ms=_num(getattr(d, "onset_latency_ms", None)),
        neg_duration_ms=_num(getattr(d, "neg_duration_ms", None)),
        segments=tuple(segs), quality=frozenset(getattr(d, "quality", ())), problem=problem)


def _sensory(tm: TestMeasurement) -> SensoryNerve:
    t = tm.test
    d = next(iter(tm.sites.values()), None)
    return SensoryNerve(
        test=t.id, nerve=t.nerve or "", side=t.side, temperature_c=t.temperature_c,
        status=d.status if d is not None else "not_measured",
        amplitude_uv=_num(getattr(d, "amplitude_uv", None)),
        peak_latency_ms=_num(getattr(d, "neg_peak_latency_ms", None)),
        quality=frozenset(getattr(d, "quality", ())), problem=_problem_of(d))


def summarize(measurements: StudyMeasurements) -> StudySummary:
    """The interpreter's view of a measured study.

    Parameters
    ----------
    measurements : StudyMeasurements
        The result of :func:`edx.measure_study`.

    Returns
    -------
    StudySummary
    """
    study = measurements.study
    motor, sensory, fw, rns, dms, rest, effort, failed = [], [], [], [], [], [], [], []
    for tm in measurements.tests:
        t = tm.test
        if tm.error:
            failed.append((t.id, tm.error))
            continue
        if t.type is TestType.MOTOR:
            motor.append(_motor(tm))
        elif t.type is TestType.SENSORY:
            sensory.append(_sensory(tm))
        elif t.type is TestType.F_WAVE and tm.fwaves is not None:
            f = tm.fwaves
            why = "; ".join(f"{k}: {v}" for k, v in f.reasons.items()) or None
            fw.append(FWaveTrain(t.id, t.nerve or "", t.side, t.temperature_c, _num(f.min_latency_ms),
                                 _num(f.persistence_pct),
                                 _num(f.m_response.amplitude_mv) if f.m_response is not None else None,
                                 None if f.persistence_pct is not None else (why or "F-waves not judged")))
        elif t.type is TestType.RNS and tm.rns is not None:
            r = tm.rns
            why = "; ".join(f"{k}: {v}" for k, v in r.reasons.items()) or "decrement not measured"
            dec = _num(r.decrement_pct)
            rns.append(RnsTrain(t.id, t.nerve, t.side, _num(r.rate_hz), dec, None if dec is not None else why))
        elif t.type is TestType.DMS and tm.dms is not None:
            d = tm.dms
            prob = _problem_of(d.muscle) or (None if d.ratio is not None else
                                             "; ".join(f"{k}: {v}" for k, v in d.reasons.items()) or "no ratio")
            dms.append(DirectStimulation(t.id, t.muscle, t.side, _num(d.ncmap_mv), _num(d.mcmap_mv), _num(d.ratio),
                                         prob))
        elif t.type is TestType.NEEDLE_REST:
            g = tm.muscle_grade
            if g is None or g.n_sites == 0:
                rest.append(NeedleRest(t.id, t.muscle, t.side, problem="no site could be judged at rest"))
            else:
                rest.append(NeedleRest(t.id, t.muscle, t.side, g.grade, g.n_sites, g.n_sites_with_trains))
        elif t.type is TestType.NEEDLE_MINIMAL and tm.mups is not None:
            m = tm.mups
            problem = None
            if m.status != "ok":
                problem = "no motor unit potentials could be sorted"
            effort.append(NeedleEffort(
                t.id, t.muscle, t.side, m.comparison.classification, m.recruitment.pattern, m.summary.n_mups,
                _num(m.summary.mean_duration_ms), _num(m.summary.mean_amplitude_uv), _num(m.summary.polyphasic_pct),
                problem, frozenset(m.quality)))
    return StudySummary(
        patient=study.patient, context=study.context, date=study.date, motor=tuple(motor), sensory=tuple(sensory),
        fwaves=tuple(fw), rns=tuple(rns), dms=tuple(dms), needle_rest=tuple(rest), needle_effort=tuple(effort),
        not_measured=tuple(failed), source=str(study.manifest_path or ""))
