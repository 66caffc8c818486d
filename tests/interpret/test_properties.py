"""Properties of the interpreter on random studies (hypothesis)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from edx.interpretation import Pattern, StudySummary, interpret
from edx.interpretation.reference import limb_of
from edx.interpretation.rules import grade_rank
from edx.model import ClinicalContext, Patient

from .builders import NORMAL_MOTOR, NORMAL_SENSORY, dms, motor, mups, rest, rns, scale_motor, scale_sensory, sensory

factor = st.floats(0.0, 1.6, allow_nan=False)


@st.composite
def studies(draw: st.DrawFn) -> StudySummary:
    # a study-wide level per modality (so that whole patterns appear), with per-nerve jitter
    m_level = draw(st.sampled_from([0.25, 0.6, 1.0, None]))
    s_level = draw(st.sampled_from([0.2, 1.0, None]))
    rare = st.sampled_from([False] * 15 + [True])  # demyelinating features now and then
    d_level = draw(st.sampled_from([1.0, 1.0, 2.0]))  # prolonged CMAP durations in some studies
    motors = []
    for nerve, muscle, amp, lat, dur, cv in NORMAL_MOTOR[: draw(st.sampled_from([4, 4, 3, 2, 1, 0]))]:
        f = draw(factor) if m_level is None else m_level * draw(st.floats(0.8, 1.2))
        if draw(st.sampled_from([False] * 9 + [True])):
            f = 0.0
        motors.append(motor(nerve, muscle, amp * f, lat * (1.5 if draw(rare) else draw(st.floats(0.9, 1.1))),
                            dur * d_level * draw(st.floats(0.9, 1.1)),
                            draw(st.sampled_from([None, cv, cv, cv * 0.85])) if not draw(rare) else cv * 0.55,
                            status="absent" if f == 0.0 else "ok",
                            temperature_c=draw(st.sampled_from([None, 27.0] + [33.0] * 6)),
                            drop=60.0 if draw(rare) else 5.0, dur_inc=40.0 if draw(rare) else 5.0))
    sens = []
    for nerve, amp, lat in NORMAL_SENSORY[: draw(st.sampled_from([3, 3, 2, 1, 0]))]:
        f = draw(factor) if s_level is None else s_level * draw(st.floats(0.8, 1.2))
        if draw(st.sampled_from([False] * 9 + [True])):
            f = 0.0
        sens.append(sensory(nerve, amp * f, lat, status="absent" if f == 0.0 else "ok"))
    ctx = ClinicalContext(icu_day=draw(st.sampled_from([None, 3, 12, 25])), sedated=draw(st.booleans()),
                          oedema=draw(st.sampled_from([(), ("legs",)])),
                          mrc_sum_score=draw(st.sampled_from([None, 30, 55])),
                          biopsy=draw(st.sampled_from([None, "myopathy with myosin loss"])))
    return StudySummary(
        patient=Patient("H-1", age_years=draw(st.sampled_from([None, 40.0, 70.0])), sex="M"),
        context=ctx, motor=tuple(motors), sensory=tuple(sens),
        dms=tuple(draw(st.lists(st.sampled_from([dms(0.75, 1.5), dms(0.2, 5.0), dms(0.9, 6.0), dms(0.3, 1.0)]),
                                max_size=2, unique_by=lambda d: d.ratio))),
        rns=tuple(draw(st.lists(st.sampled_from([rns(2.0), rns(7.0), rns(25.0)]), max_size=1))),
        needle_rest=tuple(draw(st.lists(st.sampled_from([rest(True), rest(False)]), max_size=1))),
        needle_effort=tuple(draw(st.lists(st.sampled_from(
            [mups("myopathic", "early"), mups("neurogenic", "reduced"), mups("normal", "normal"),
             mups("myopathic", None, "deltoid"), mups(None, "reduced")]), max_size=2, unique_by=lambda m: m.muscle))),
    )


SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(studies(), st.floats(0.0, 1.0))
def test_smaller_amplitudes_never_make_an_abnormal_study_normal(s, k):
    before = interpret(s)
    after = interpret(scale_sensory(scale_motor(s, k), k))
    if before.pattern is not Pattern.NORMAL:
        assert after.pattern is not Pattern.NORMAL, (before.summary, after.summary)


@SETTINGS
@given(studies(), st.randoms(use_true_random=False))
def test_reordering_tests_changes_nothing(s, rnd):
    def shuffled(t: tuple) -> tuple:
        items = list(t)
        rnd.shuffle(items)
        return tuple(items)

    s2 = replace(s, motor=shuffled(s.motor), sensory=shuffled(s.sensory), dms=shuffled(s.dms),
                 needle_effort=shuffled(s.needle_effort))
    a, b = interpret(s), interpret(s2)
    assert (a.pattern, a.grade, a.summary) == (b.pattern, b.grade, b.summary)
    assert Counter((e.rule, e.statement) for e in a.evidence) == Counter((e.rule, e.statement) for e in b.evidence)
    assert set(a.missing) == set(b.missing) and set(a.conflicts) == set(b.conflicts)


def _limb_temperatures_pinned(s: StudySummary) -> StudySummary:
    """``s`` with every motor/sensory test's temperature made explicit: its own, else the one the
    interpreter takes for it (the coldest recorded on the same limb and side).

    A limb's temperature is context, not a measurement of the nerve: removing the test that carried
    it turns the limb's other tests from "cold" into "temperature not recorded", which the
    interpreter judges as measured, with a caveat (a deliberate policy: a lab that records no
    temperatures still gets its findings read; see test_missing_temperature_is_a_caveat).  The
    removal properties hold the limb temperatures fixed, so that they test the measurements."""
    def coldest(limb, side):
        temps = [x.temperature_c for x in (*s.motor, *s.sensory) if x.temperature_c is not None
                 and limb_of(x.nerve, getattr(x, "muscle", None)) == limb and (side is None or x.side in (None, side))]
        return min(temps) if temps else None

    def pin(x):
        if x.temperature_c is not None:
            return x
        return replace(x, temperature_c=coldest(limb_of(x.nerve, getattr(x, "muscle", None)), x.side))

    return replace(s, motor=tuple(map(pin, s.motor)), sensory=tuple(map(pin, s.sensory)))


def _removals(s: StudySummary) -> list[StudySummary]:
    s = _limb_temperatures_pinned(s)
    out = [replace(s, dms=()), replace(s, needle_rest=()), replace(s, needle_effort=()), replace(s, rns=()),
           replace(s, motor=tuple(replace(m, segments=()) for m in s.motor)),
           replace(s, context=replace(s.context, mrc_sum_score=None, biopsy=None))]
    out += [replace(s, sensory=s.sensory[:i] + s.sensory[i + 1:]) for i in range(len(s.sensory))]
    out += [replace(s, motor=s.motor[:i] + s.motor[i + 1:]) for i in range(len(s.motor))]
    return out


@SETTINGS
@given(studies())
def test_removing_data_never_raises_a_grade(s):
    before = interpret(s)
    # the limb temperatures made explicit change nothing (the interpreter infers the same)
    pinned = interpret(_limb_temperatures_pinned(s))
    assert (pinned.pattern, pinned.grade, {k: c.grade for k, c in pinned.candidates.items()}) == (
        before.pattern, before.grade, {k: c.grade for k, c in before.candidates.items()})
    for s2 in _removals(s):
        after = interpret(s2)
        for name, cand in before.candidates.items():
            assert grade_rank(after.candidates[name].grade) <= grade_rank(cand.grade), name
        if after.pattern is before.pattern:
            assert grade_rank(after.grade) <= grade_rank(before.grade)


@SETTINGS
@given(studies())
def test_too_few_measurable_motor_nerves_is_indeterminate(s):
    few = replace(s, motor=s.motor[:1])
    assert interpret(few).pattern is Pattern.INDETERMINATE
    unusable = replace(s, motor=tuple(replace(m, status="flat", problem="flat trace") for m in s.motor))
    assert interpret(unusable).pattern is Pattern.INDETERMINATE
