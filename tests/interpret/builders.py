"""Hand-built study summaries for the interpreter tests (values in the units of the records)."""

from __future__ import annotations

from dataclasses import replace

from edx.interpretation import (
    DirectStimulation,
    MotorNerve,
    NeedleEffort,
    NeedleRest,
    RnsTrain,
    Segment,
    SensoryNerve,
    StudySummary,
)
from edx.model import ClinicalContext, Patient

#: nerve, muscle, distal amplitude (mV), distal latency (ms), neg duration (ms), cv (m/s)
NORMAL_MOTOR = [
    ("median", "APB", 9.5, 3.6, 4.2, 56.0),
    ("ulnar", "ADM", 10.5, 2.9, 4.2, 59.0),
    ("peroneal", "EDB", 6.0, 4.6, 4.2, 47.0),
    ("tibial", "AH", 12.0, 4.5, 4.2, 46.0),
]
NORMAL_SENSORY = [("median", 34.0, 3.0), ("ulnar", 29.0, 2.7), ("sural", 18.0, 3.5)]


def motor(nerve: str, muscle: str, amp: float, lat: float, dur: float, cv: float | None, *, side: str = "R",
          temperature_c: float | None = 33.0, status: str = "ok", drop: float = 5.0, dur_inc: float = 8.0,
          problem: str | None = None) -> MotorNerve:
    segs = () if cv is None else (Segment("distal -> proximal", cv, drop, dur_inc),)
    return MotorNerve(f"{nerve}-motor-{side}", nerve, muscle, side, temperature_c, status, amp, lat, dur, segs,
                      problem=problem)


def sensory(nerve: str, amp: float, lat: float, *, side: str = "R", temperature_c: float | None = 33.0,
            status: str = "ok") -> SensoryNerve:
    return SensoryNerve(f"{nerve}-sensory-{side}", nerve, side, temperature_c, status, amp, lat)


def normal_study(age: float = 50.0, **context: object) -> StudySummary:
    ctx = {"icu_day": 10, "sedated": False, "mrc_sum_score": 40}
    ctx.update(context)
    return StudySummary(
        patient=Patient("T-1", age_years=age, sex="F", height_cm=165.0),
        context=ClinicalContext(**ctx),  # type: ignore[arg-type]
        motor=tuple(motor(*m) for m in NORMAL_MOTOR),
        sensory=tuple(sensory(*s) for s in NORMAL_SENSORY),
    )


def scale_motor(s: StudySummary, factor: float, *, duration_ms: float | None = None) -> StudySummary:
    return replace(s, motor=tuple(replace(m, amplitude_mv=m.amplitude_mv * factor,
                                          neg_duration_ms=duration_ms if duration_ms is not None else m.neg_duration_ms)
                                  for m in s.motor))


def scale_sensory(s: StudySummary, factor: float) -> StudySummary:
    return replace(s, sensory=tuple(replace(x, amplitude_uv=x.amplitude_uv * factor) for x in s.sensory))


def dms(ratio: float, mcmap: float, muscle: str = "tibialis anterior", side: str = "R") -> DirectStimulation:
    return DirectStimulation(f"{muscle}-dms-{side}", muscle, side, ratio * mcmap, mcmap, ratio)


def mups(cls: str | None, recruitment: str | None = None, muscle: str = "tibialis anterior",
         side: str = "R") -> NeedleEffort:
    dur, amp = {"myopathic": (6.5, 350.0), "neurogenic": (14.0, 1500.0)}.get(cls or "", (9.3, 650.0))
    return NeedleEffort(f"{muscle}-minimal-{side}", muscle, side, cls, recruitment, 20, dur, amp, 30.0)


def rest(fibs: bool, muscle: str = "tibialis anterior", side: str = "R") -> NeedleRest:
    return NeedleRest(f"{muscle}-rest-{side}", muscle, side, "2+" if fibs else "0", 2, 2 if fibs else 0)


def rns(decrement: float, nerve: str = "ulnar") -> RnsTrain:
    return RnsTrain(f"{nerve}-rns-R", nerve, "R", 3.0, decrement)


def cim_study(**context: object) -> StudySummary:
    s = scale_motor(normal_study(**context), 0.25, duration_ms=8.5)
    return replace(s, dms=(dms(0.75, 1.6),), needle_effort=(mups("myopathic", "early"),), needle_rest=(rest(True),))


def cip_study(**context: object) -> StudySummary:
    s = scale_sensory(scale_motor(normal_study(**context), 0.25), 0.2)
    return replace(s, dms=(dms(0.2, 5.0),), needle_effort=(mups("neurogenic", "reduced"),), needle_rest=(rest(True),))
