"""StudySummary.to_dict / from_dict: what the store keeps for CRIMYNE and the interpreter."""

from __future__ import annotations

import json

import pytest

import edx
from edx.interpretation.inputs import MotorNerve, Segment, StudySummary
from edx.model import ClinicalContext, Patient

from ..conftest import SAMPLE_DATA
from ._data import other_analyses, series_analyses


@pytest.mark.parametrize("name", ["nmj_blockade", "demyelinating", "absent_responses"])
def test_round_trip_of_sample_studies(name):
    s = edx.summarize(edx.measure_study(edx.read_manifest(SAMPLE_DATA / "studies" / name / "study.toml")))
    back = StudySummary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s


def test_round_trip_keeps_every_kind_of_record():
    for a in (*other_analyses(), series_analyses()[0]):
        s = edx.summarize(a.measurements)
        d = json.loads(json.dumps(s.to_dict()))
        back = StudySummary.from_dict(d)
        assert back == s
        assert edx.interpret(back).to_dict() == a.interpretation.to_dict()  # the interpreter reads it alike
    cim = edx.summarize(other_analyses()[0].measurements)
    assert cim.needle_rest and cim.needle_effort and cim.fwaves and cim.dms and cim.motor[0].segments


def test_hand_made_summary_round_trip_and_types():
    s = StudySummary(
        patient=Patient("P1", 61.0, "F", 165.0),
        context=ClinicalContext(icu_day=4, oedema=("legs",), biopsy="necrosis"),
        motor=(MotorNerve("pm", "peroneal", "EDB", "L", 30.0, "ok", 2.5, 4.1, 5.0,
                          (Segment("ankle -> fibular head", 41.0, 12.0, 5.0),), frozenset({"noisy_baseline", "a"})),),
        not_measured=(("sural", "file missing"),), source="day04.toml")
    d = s.to_dict()
    assert d["motor"][0]["quality"] == ["a", "noisy_baseline"] and d["context"]["oedema"] == ["legs"]
    assert d["not_measured"] == [["sural", "file missing"]] and d["date"] is None
    back = StudySummary.from_dict(json.loads(json.dumps(d)))
    assert back == s
    assert isinstance(back.motor[0].quality, frozenset) and isinstance(back.motor[0].segments[0], Segment)
    assert isinstance(back.context.oedema, tuple)


def test_unknown_keys_are_ignored_and_missing_ones_refused():
    s = edx.summarize(series_analyses()[0].measurements)
    d = s.to_dict()
    d["future_field"] = 1
    d["motor"][0]["future_measure_ms"] = 3.0
    assert StudySummary.from_dict(d) == s
    del d["patient"]
    with pytest.raises(ValueError, match="not a StudySummary"):
        StudySummary.from_dict(d)
    d = s.to_dict()
    del d["motor"][0]["test"]
    with pytest.raises(ValueError, match="not a StudySummary"):
        StudySummary.from_dict(d)
