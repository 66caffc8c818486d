"""Each row of the pattern table (CLINICAL.md §3) on hand-built measurements, plus the
grading, the caveats and the evidence a reader needs to trace a conclusion."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import edx
from edx.interpretation import Grade, Pattern, StudySummary, interpret
from edx.interpretation.rules import grade_rank

from .builders import (
    cim_study,
    cip_study,
    dms,
    motor,
    mups,
    normal_study,
    rest,
    rns,
    scale_motor,
    scale_sensory,
    sensory,
)


def test_normal_study_is_normal():
    it = interpret(normal_study())
    assert it.pattern is Pattern.NORMAL and it.grade is None
    assert not it.conflicts


def test_cip_row():
    it = interpret(cip_study())
    assert it.pattern is Pattern.CIP
    assert it.grade is Grade.PROBABLE  # velocities measured and normal; CIP is never 'definite' here
    rules = {e.rule for e in it.evidence}
    assert {"cmap.low", "snap.low", "dms.neuropathic", "mup.neurogenic"} <= rules
    assert sum(e.rule == "cmap.low" for e in it.evidence) == 4
    assert sum(e.rule == "snap.low" for e in it.evidence) == 3


def test_cim_row_and_grades():
    it = interpret(cim_study())
    assert it.pattern is Pattern.CIM
    # one muscle group (tibialis anterior) shows it: Stevens asks for two for 'probable'
    assert it.grade is Grade.POSSIBLE
    assert any("second muscle group" in m for m in it.missing)
    two = replace(cim_study(), needle_effort=(mups("myopathic", "early"), mups("myopathic", None, "deltoid")))
    assert interpret(two).grade is Grade.PROBABLE
    biopsy = replace(two, context=replace(two.context, biopsy="necrotizing myopathy with myosin loss"))
    assert interpret(biopsy).grade is Grade.DEFINITE
    # sedated (no bedside weakness score): electrophysiology alone stays 'probable'
    sedated = replace(biopsy, context=replace(biopsy.context, sedated=True, mrc_sum_score=None))
    assert interpret(sedated).grade is Grade.PROBABLE


def test_cim_needs_a_myopathic_sign():
    bare = scale_motor(normal_study(), 0.25)  # low CMAPs, normal SNAPs, normal durations, nothing else
    it = interpret(bare)
    assert it.pattern is Pattern.INDETERMINATE
    assert any("direct muscle stimulation" in m for m in it.missing)
    # prolonged durations alone: possible CIM
    assert interpret(scale_motor(normal_study(), 0.25, duration_ms=8.5)).grade is Grade.POSSIBLE


def test_cinm_when_both_criteria_hold():
    s = replace(cip_study(), dms=(dms(0.7, 1.5),), needle_effort=(mups("myopathic"),))
    it = interpret(s)
    assert it.pattern is Pattern.CINM
    assert it.grade is Grade.POSSIBLE
    assert "CINM" in it.candidates and it.candidates["CINM"].reached


def test_contradiction_is_indeterminate_with_the_conflict_stated():
    # preserved SNAPs (CIM) but neurogenic MUPs and a neuropathic DMS ratio
    s = replace(cim_study(), dms=(dms(0.2, 5.0),), needle_effort=(mups("neurogenic", "reduced"),))
    it = interpret(s)
    assert it.pattern is Pattern.INDETERMINATE and it.grade is None
    assert it.conflicts and "neurogenic" in it.conflicts[0]
    # SNAPs low in two nerves and preserved in two others
    s2 = replace(cip_study(), sensory=cip_study().sensory[:2] + (sensory("radial", 30.0, 2.5),
                                                                   sensory("superficial peroneal", 15.0, 3.5)))
    it2 = interpret(s2)
    assert it2.pattern is Pattern.INDETERMINATE and "SNAPs low" in it2.conflicts[0]


def test_nmj_row():
    s = replace(normal_study(), rns=(rns(28.0), rns(22.0, "median")), needle_rest=(rest(False),))
    it = interpret(s)
    assert it.pattern is Pattern.NMJ and it.grade is None
    assert any(e.rule == "rns.decrement" and e.value == 28.0 and e.limit == 10.0 for e in it.evidence)
    equivocal = interpret(replace(normal_study(), rns=(rns(7.0),)))
    assert equivocal.pattern is Pattern.NORMAL and any(c.code.startswith("rns_equivocal") for c in equivocal.caveats)
    # a decrement with low CMAPs and SNAPs: conflict, not CIP and not NMJ
    assert interpret(replace(cip_study(), rns=(rns(25.0),))).pattern is Pattern.INDETERMINATE
    # CIP with a normal RNS keeps its grade, and the RNS counts as criterion met
    it_cip = interpret(replace(cip_study(), rns=(rns(2.0),)))
    assert it_cip.pattern is Pattern.CIP
    assert next(c for c in it_cip.candidates["CIP"].criteria if c.id == "no_decrement").met is True


def test_demyelinating_row_excludes_cip():
    base = scale_sensory(scale_motor(normal_study(), 0.5), 0.5)
    slow = tuple(replace(m, distal_latency_ms=m.distal_latency_ms * 1.6,
                         segments=(replace(m.segments[0], cv_m_s=28.0, amplitude_drop_pct=60.0),))
                 for m in base.motor)
    it = interpret(replace(base, motor=slow))
    assert it.pattern is Pattern.DEMYELINATING and it.grade is None
    assert "GBS" in it.summary
    # one nerve with a demyelinating feature (an entrapment) does not exclude CIP
    one = (replace(cip_study().motor[0], segments=(replace(cip_study().motor[0].segments[0], cv_m_s=25.0),)),)
    it1 = interpret(replace(cip_study(), motor=one + cip_study().motor[1:]))
    assert it1.pattern is Pattern.CIP


def test_conduction_block_needs_a_distal_cmap_of_20_percent():
    s = scale_motor(normal_study(), 0.05)  # every distal CMAP below 20 % of its lower limit
    blocked = tuple(replace(m, segments=(replace(m.segments[0], amplitude_drop_pct=70.0),)) for m in s.motor)
    it = interpret(replace(s, motor=blocked))
    assert not any("conduction block" in e.statement for e in it.evidence)
    assert any("20 %" in d.reason for d in it.discarded)


def test_too_few_nerves_is_indeterminate():
    s = replace(cip_study(), motor=cip_study().motor[:1])
    it = interpret(s)
    assert it.pattern is Pattern.INDETERMINATE
    assert any("motor conduction studies of at least 2 nerves" in m for m in it.missing)
    s2 = replace(normal_study(), sensory=normal_study().sensory[:1])
    assert interpret(s2).pattern is Pattern.INDETERMINATE


def test_unusable_measurements_are_discarded_with_the_reason():
    bad = replace(normal_study().motor[0], status="clipped", problem="clipped: the response reaches the rails")
    it = interpret(replace(normal_study(), motor=(bad,) + normal_study().motor[1:]))
    assert it.pattern is Pattern.NORMAL  # three other motor nerves
    assert any(d.test == bad.test and "clipped" in d.reason for d in it.discarded)
    two_bad = (bad, replace(normal_study().motor[1], status="flat", problem="flat"))
    it2 = interpret(replace(normal_study(), motor=two_bad + normal_study().motor[2:3]))
    assert it2.pattern is Pattern.INDETERMINATE


def test_cold_limb_sets_latencies_aside():
    cold = tuple(replace(m, temperature_c=27.0, distal_latency_ms=m.distal_latency_ms * 1.3,
                         segments=(replace(m.segments[0], cv_m_s=30.0),))
                 if m.nerve in ("peroneal", "tibial") else m for m in normal_study().motor)
    it = interpret(replace(normal_study(), motor=cold))
    assert it.pattern is Pattern.NORMAL
    assert any(c.code == "cold_limb:lower" for c in it.caveats)
    assert {(d.test, d.measure) for d in it.discarded if "cold limb" in d.reason} == {
        ("peroneal-motor-R", "velocity distal -> proximal"), ("tibial-motor-R", "distal latency")}
    # the same slowing at 33 °C is not normal
    warm = tuple(replace(m, temperature_c=33.0) for m in cold)
    assert interpret(replace(normal_study(), motor=warm)).pattern is not Pattern.NORMAL


def test_cold_limb_keeps_what_warming_could_only_improve():
    """A velocity above the demyelinating range, a normal latency or duration in a cold limb still counts."""
    cold = tuple(replace(m, temperature_c=27.0) for m in normal_study().motor)
    it = interpret(replace(normal_study(), motor=cold))
    assert not [d for d in it.discarded if d.test.startswith(("peroneal", "tibial"))]
    assert {e.tests[0] for e in it.evidence if e.rule == "cv.not_demyelinating"} >= {"peroneal-motor-R",
                                                                                     "tibial-motor-R"}
    # removing the one test that says the leg is cold must not raise CIP (hypothesis counterexample):
    # the peroneal's normal velocity counted for "normal conduction in >= 2 nerves" either way
    low = tuple(replace(m, amplitude_mv=m.amplitude_mv * 0.25, temperature_c=27.0 if m.nerve == "tibial" else None)
                for m in normal_study().motor)
    s = replace(normal_study(), motor=low, sensory=tuple(replace(x, amplitude_uv=x.amplitude_uv * 0.2)
                                                         for x in normal_study().sensory),
                context=replace(normal_study().context, sedated=True))
    with_cold = interpret(s).candidates["CIP"].grade
    without = interpret(replace(s, motor=tuple(m for m in low if m.nerve != "tibial"))).candidates["CIP"].grade
    assert grade_rank(without) <= grade_rank(with_cold)


def test_missing_temperature_is_a_caveat():
    """A limb is as cold as its coldest recorded test; with no recorded temperature it is judged as
    measured, with a caveat.  So removing the one test that says the arm is cold (median motor,
    27 °C) lets the ulnar's prolonged duration count again, judged by the arm's other readings
    (the SNAPs at 33 °C) -- review case: the temperature is context, and the policy is deliberate
    (a lab that records none still gets its findings read, the caveat naming the limitation)."""
    base = normal_study()
    mot = (motor("median", "APB", 9.5 * 0.2, 3.6, 4.2, 56.0, temperature_c=27.0),
           motor("ulnar", "ADM", 10.5 * 0.2, 2.9, 9.0, 59.0, temperature_c=None),
           motor("peroneal", "EDB", 6.0 * 0.2, 4.6, 9.0, 47.0),
           motor("tibial", "AH", 12.0 * 0.2, 4.5, 4.2, 46.0))
    s = replace(base, motor=mot, context=replace(base.context, sedated=True))
    cold = interpret(s)
    assert ("ulnar-motor-R", "CMAP duration") in {(d.test, d.measure) for d in cold.discarded}
    assert any(c.code == "cold_limb:upper" for c in cold.caveats)
    warm = interpret(replace(s, motor=mot[1:]))
    assert not warm.discarded and not any(c.code.startswith("cold_limb") for c in warm.caveats)
    assert "ulnar-motor-R" in {t for e in warm.evidence if e.rule == "cmap.duration_prolonged" for t in e.tests}
    # no temperature anywhere: counted, with the caveat
    bare = replace(s, motor=tuple(replace(m, temperature_c=None) for m in mot[1:]),
                   sensory=tuple(replace(x, temperature_c=None) for x in s.sensory))
    unknown = interpret(bare)
    assert {"temperature_missing:upper", "temperature_missing:lower"} <= {c.code for c in unknown.caveats}
    assert "ulnar-motor-R" in {t for e in unknown.evidence if e.rule == "cmap.duration_prolonged" for t in e.tests}


def test_mup_quality_flags_reach_the_reader():
    """A MUP analysis flagged for what biases its measures (hum, a short recording, a low sampling
    rate, clipping, noise, a dense background) says so in its evidence and as a caveat (review: the
    interpreter never saw those flags); the flags survive the results.json round trip."""
    s = replace(cim_study(), needle_effort=tuple(replace(m, quality=frozenset({"hum", "short_recording", "too_few_mups"}))
                                               for m in cim_study().needle_effort))
    assert s.needle_effort
    it = interpret(s)
    codes = {c.code for c in it.caveats}
    assert {f"mup_quality:{m.test}" for m in s.needle_effort} <= codes
    assert any("analysis flagged hum, short_recording" in e.statement for e in it.evidence if e.rule.startswith("mup."))
    assert StudySummary.from_dict(s.to_dict()) == s
    plain = interpret(cim_study())
    assert not any(c.code.startswith("mup_quality") for c in plain.caveats)
    short = interpret(replace(cim_study(), needle_effort=tuple(replace(m, quality=frozenset({"short_recording"}))
                                                              for m in cim_study().needle_effort)))
    assert not any(c.code.startswith("mup_quality") for c in short.caveats)  # said in the evidence only


def test_old_age_absent_sural_is_a_caveat_not_a_finding():
    s = replace(normal_study(age=72),
                sensory=normal_study().sensory[:2] + (sensory("sural", 0.0, 0.0, status="absent"),))
    it = interpret(s)
    assert it.pattern is Pattern.NORMAL
    assert any(c.code == "age_sural" for c in it.caveats)
    young = replace(s, patient=replace(s.patient, age_years=35.0))
    assert interpret(young).pattern is Pattern.INDETERMINATE  # a single abnormal SNAP is no pattern


def test_oedema_low_amplitudes_are_not_counted():
    legs_low = tuple(replace(m, amplitude_mv=0.3) if m.nerve in ("peroneal", "tibial") else m
                     for m in normal_study().motor)
    sural_low = normal_study().sensory[:2] + (sensory("sural", 0.0, 0.0, status="absent"),)
    s = replace(normal_study(oedema=("legs",)), motor=legs_low, sensory=sural_low)
    it = interpret(s)
    assert it.pattern is Pattern.INDETERMINATE  # low values in oedematous legs: neither normal nor counted
    assert any(c.code == "oedema" for c in it.caveats)
    assert any("direct muscle stimulation of tibialis anterior" in m for m in it.missing)


def test_lab_reference_changes_the_conclusion(tmp_path):
    base = normal_study()
    assert interpret(base).pattern is Pattern.NORMAL
    lab = tmp_path / "lab.toml"
    lab.write_text('name = "test lab"\n[sources.lab]\ntext = "test lab 2026"\n'
                   '[[motor]]\nnerve = "median"\nmuscle = "APB"\namplitude_mv_min = 12.5\nsource = "lab"\n'
                   '[[motor]]\nnerve = "ulnar"\nmuscle = "ADM"\namplitude_mv_min = 14.0\nsource = "lab"\n')
    it = interpret(base, reference=lab)
    assert it.pattern is Pattern.INDETERMINATE  # median and ulnar now below their (lab) limits
    ev = [e for e in it.evidence if e.rule == "cmap.low"]
    assert {e.tests[0] for e in ev} == {"median-motor-R", "ulnar-motor-R"}
    assert all("test lab 2026" in e.source for e in ev)
    # criteria too: a lab that calls 'low' below 90 % of its limit
    s = scale_motor(normal_study(), 0.35)  # median 3.3 (82 % of 4.0)
    low80 = {e.tests[0] for e in interpret(s).evidence if e.rule == "cmap.low"}
    low90 = {e.tests[0] for e in interpret(s, criteria={"amplitude": {"low_fraction_of_lln": 0.9}}).evidence
             if e.rule == "cmap.low"}
    assert "median-motor-R" not in low80 and "median-motor-R" in low90


def test_every_major_finding_is_traceable():
    for s in (cim_study(), cip_study()):
        it = interpret(s)
        for e in it.evidence:
            assert e.rule and e.statement
            if e.weight == "major":
                assert e.tests, e
                assert e.source, e
                if e.value is not None:
                    assert e.limit is not None and e.comparison in ("<", ">", "<=", ">="), e
        json.dumps(it.to_dict())  # everything serialisable


def test_amplitude_duration_index():
    it = interpret(cim_study())
    idx = {iv.nerve: iv for iv in it.amplitude_duration_index}
    assert set(idx) == {"median", "ulnar", "peroneal"}
    assert idx["median"].value == pytest.approx(9.5 * 0.25 / 8.5)
    assert idx["median"].below is (idx["median"].value < 0.35)


def test_fibrillations_by_icu_day():
    early = interpret(replace(cip_study(icu_day=5), needle_rest=(rest(False),)))
    assert any(c.code == "needle_early" for c in early.caveats)
    late = interpret(replace(cip_study(icu_day=25), needle_rest=(rest(False),)))
    assert any(e.rule == "needle.no_fibrillations_late" and "CIP" in e.against for e in late.evidence)


def test_accepts_study_measurements_and_manifests(sample_measurements):
    sm = sample_measurements("cip")
    a = interpret(sm)
    b = interpret(edx.summarize(sm))
    assert a.pattern is b.pattern is Pattern.CIP and a.grade == b.grade
    with pytest.raises(TypeError):
        interpret(42)


def test_absent_motor_response_counts_as_low():
    absent = motor("peroneal", "EDB", 0.0, 0.0, 0.0, None, status="absent")
    s = replace(cip_study(), motor=(absent,) + tuple(m for m in cip_study().motor if m.nerve != "peroneal"))
    it = interpret(s)
    assert it.pattern is Pattern.CIP
    assert any(e.rule == "cmap.low" and "absent" in e.statement for e in it.evidence)


def test_public_names_stay_callable_after_the_subpackage_is_imported():
    import edx.interpretation  # noqa: F401 - the import must not shadow edx.interpret

    assert callable(edx.interpret) and callable(edx.crimyne)
    assert edx.interpret is interpret


# ----------------------------------------------------------------------------- review cases


def _two_groups(**context):
    s = cim_study(**context)
    return replace(s, needle_effort=(mups("myopathic", "early"), mups("myopathic", None, "deltoid")))


def test_negated_biopsy_text_is_not_myopathic():
    s = _two_groups()
    for text in ("no evidence of myopathy", "myopathy excluded", "normal muscle, not myopathic"):
        it = interpret(replace(s, context=replace(s.context, biopsy=text)))
        assert it.grade is Grade.PROBABLE, text
    yes = interpret(replace(s, context=replace(s.context, biopsy="necrotizing myopathy")))
    assert yes.grade is Grade.DEFINITE


def test_bedside_weakness_decides_between_possible_and_probable():
    strong = _two_groups(mrc_sum_score=58)
    it = interpret(strong)
    assert it.pattern is Pattern.CIM and it.grade is Grade.POSSIBLE
    assert any(c.code == "no_icuaw" for c in it.caveats)
    assert interpret(_two_groups(mrc_sum_score=None)).grade is Grade.POSSIBLE  # weakness not recorded
    # sedated: bedside scores are not valid and the grade stops at 'probable', biopsy or not
    sedated = _two_groups(sedated=True, mrc_sum_score=30, biopsy="myopathy with myosin loss")
    assert interpret(sedated).grade is Grade.PROBABLE


def test_two_recordings_of_one_nerve_count_once():
    # carpal tunnel: one median nerve with a prolonged distal latency and F latency
    m0 = normal_study().motor[0]
    ctl = replace(m0, distal_latency_ms=6.0)
    from edx.interpretation import FWaveTrain
    f = FWaveTrain("median-f-R", "median", "R", 33.0, 45.0, 80.0, 9.5)
    it = interpret(replace(normal_study(), motor=(ctl,) + normal_study().motor[1:], fwaves=(f,)))
    assert it.pattern is not Pattern.DEMYELINATING
    # peroneal recorded from EDB and TA on one side: one nerve for the 'two nerves' criteria
    low = (motor("peroneal", "EDB", 0.5, 4.6, 4.2, 47.0), motor("peroneal", "tibialis anterior", 0.6, 3.5, 4.2, 47.0))
    low = (low[0], replace(low[1], test="peroneal-ta-R"))
    s = replace(cip_study(), motor=low + tuple(m for m in normal_study().motor if m.nerve in ("median", "ulnar")))
    assert interpret(s).pattern is not Pattern.CIP


def test_sural_over_60_below_its_limit_is_never_counted():
    for amp in (4.0, 5.0):  # below 80 % and between 80 and 100 % of the 6 µV limit
        s = replace(normal_study(age=70), sensory=normal_study().sensory[:2] + (sensory("sural", amp, 3.5),))
        assert interpret(s).pattern is Pattern.NORMAL, amp


def test_non_finite_amplitudes_are_unusable():
    nan = tuple(replace(m, amplitude_mv=float("nan")) for m in normal_study().motor)
    it = interpret(replace(normal_study(), motor=nan))
    assert it.pattern is Pattern.INDETERMINATE


def test_generalized_oedema_counts_for_the_legs():
    legs_low = tuple(replace(m, amplitude_mv=0.3) if m.nerve in ("peroneal", "tibial") else m
                     for m in normal_study().motor)
    it = interpret(replace(normal_study(oedema=("generalized oedema",)), motor=legs_low))
    assert any(c.code == "oedema" for c in it.caveats)


def test_dms_ratio_at_the_limit_is_neither_side():
    it = interpret(replace(cim_study(), dms=(dms(0.5, 1.0),), needle_effort=()))
    assert any(e.rule == "dms.borderline" for e in it.evidence)
    assert not any(e.rule in ("dms.inexcitable", "dms.neuropathic", "dms.normal") for e in it.evidence)


def test_nmj_without_snaps_says_so():
    it = interpret(replace(normal_study(), sensory=(), rns=(rns(25.0),)))
    assert it.pattern is Pattern.NMJ and "SNAPs not measured" in it.summary


def test_direct_muscle_stimulation_is_asked_for_once():
    s = scale_motor(normal_study(), 0.3)  # low CMAPs, SNAPs preserved, no DMS, no needle: indeterminate
    it = interpret(s)
    assert it.pattern is Pattern.INDETERMINATE
    asks = [m for m in it.missing if "direct muscle stimulation" in m]
    assert len(asks) == 1 and "tibialis anterior" in asks[0] and "0.5" in asks[0]
