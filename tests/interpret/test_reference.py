"""Reference values and criteria: every number has a source; laboratory overrides merge key
by key; mistakes in an override are errors, never silently ignored."""

from __future__ import annotations

import pytest

from edx.errors import MissingFileError, ReferenceDataError
from edx.interpretation import load_criteria, load_reference
from edx.interpretation.reference import MOTOR_LIMITS, SENSORY_LIMITS, limb_of, normalize_muscle, normalize_nerve


def test_clinical_md_table_values():
    r = load_reference()
    assert r.motor("amplitude_mv_min", "median", "APB").value == 4.0
    assert r.motor("distal_latency_ms_max", "ulnar", "ADM").value == 3.3
    assert r.motor("cv_m_s_min", "peroneal", "EDB").value == 44.0
    assert r.motor("amplitude_mv_min", "peroneal", "tibialis anterior").value == 3.0
    assert r.motor("f_latency_ms_max", "tibial", "AH").value == 56.0
    assert r.motor("neg_duration_ms_max", "tibial", "AH").value == 8.8
    assert r.sensory("amplitude_uv_min", "sural").value == 6.0
    assert r.sensory("peak_latency_ms_max", "ulnar").value == 3.1
    assert "EFNS/PNS" in r.motor("neg_duration_ms_max", "median", "APB").source
    assert "unconfirmed" in r.motor("amplitude_mv_min", "median", "APB").source


def test_every_default_limit_has_a_source():
    r = load_reference()
    for e in r.as_dict()["motor"]:
        for k in MOTOR_LIMITS:
            if k in e:
                lim = r.motor(k, e["nerve"], e["muscle"])
                assert lim is not None and lim.source and lim.value == e[k]
    for e in r.as_dict()["sensory"]:
        for k in SENSORY_LIMITS:
            if k in e:
                assert r.sensory(k, e["nerve"]).source


def test_names_and_ambiguity():
    r = load_reference()
    assert normalize_nerve("Fibular") == "peroneal" and normalize_muscle("Extensor digitorum brevis") == "edb"
    assert r.motor("amplitude_mv_min", "fibular", "extensor digitorum brevis").value == 2.0
    # two peroneal recordings (EDB, TA): without the muscle there is no single limit
    assert r.motor("amplitude_mv_min", "peroneal", None) is None
    assert r.motor("amplitude_mv_min", "median", None).value == 4.0
    assert r.motor("amplitude_mv_min", "facial", "nasalis") is None
    assert limb_of("sural") == "lower" and limb_of("median") == "upper" and limb_of(None) is None


def test_age_bands_of_the_normative_means():
    r = load_reference()
    mean, sd, lim = r.motor_mean("peroneal", "EDB", age_years=30)
    assert (mean, sd) == (6.8, 2.5) and lim.how == "age -40"
    assert r.motor_mean("peroneal", "EDB", age_years=40)[:2] == (5.1, 2.5)
    assert r.motor_mean("peroneal", "EDB", age_years=None) is None  # the band needs the age


def test_lab_file_merges_key_by_key(tmp_path):
    p = tmp_path / "lab.toml"
    p.write_text('name = "St Example EMG lab"\n'
                 '[[motor]]\nnerve = "median"\nmuscle = "APB"\namplitude_mv_min = 5.0\n'
                 '[[sensory]]\nnerve = "sural"\nage_min_years = 60\namplitude_uv_min = 3.0\n')
    r = load_reference(p)
    assert r.name == "St Example EMG lab"
    lim = r.motor("amplitude_mv_min", "median", "APB")
    assert lim.value == 5.0 and "St Example EMG lab" in lim.source
    # the limits the lab did not name keep the default value and source
    assert r.motor("distal_latency_ms_max", "median", "APB").value == 4.4
    assert "EFNS/PNS" in r.motor("neg_duration_ms_max", "median", "APB").source
    # an age band the defaults do not have is added and wins for that age
    assert r.sensory("amplitude_uv_min", "sural", age_years=70).value == 3.0
    assert r.sensory("amplitude_uv_min", "sural", age_years=30).value == 6.0


def test_replace_defaults_and_equations():
    lab = {"replace_defaults": True, "sources": {"eq": {"text": "a lab's regression"}},
           "motor": [{"nerve": "peroneal", "muscle": "EDB", "source": "eq", "amplitude_mv_min": 2.0,
                      "amplitude_mv_min_equation": {"intercept": 4.0, "per_year": -0.03, "per_cm": 0.0}}]}
    r = load_reference(lab)
    assert r.motor("amplitude_mv_min", "median", "APB") is None
    lim = r.motor("amplitude_mv_min", "peroneal", "EDB", age_years=50)
    assert lim.value == pytest.approx(2.5) and lim.how.startswith("equation") and "regression" in lim.source
    # without the age the equation cannot be used: the fixed value
    assert r.motor("amplitude_mv_min", "peroneal", "EDB").value == 2.0


@pytest.mark.parametrize("bad", [
    {"motor": [{"nerve": "median", "muscle": "APB", "amplitude_mv_minimum": 5.0}]},
    {"motor": [{"nerve": "median", "muscle": "APB", "amplitude_mv_min": -1.0}]},
    {"motor": [{"muscle": "APB", "amplitude_mv_min": 5.0}]},
    {"motor": [{"nerve": "median", "muscle": "APB", "amplitude_mv_min": 5.0, "source": "nowhere"}]},
    {"nerves": []},
])
def test_bad_lab_values_are_errors(bad):
    with pytest.raises(ReferenceDataError):
        load_reference(bad)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(MissingFileError):
        load_reference(tmp_path / "nope.toml")
    p = tmp_path / "broken.toml"
    p.write_text("[[motor]\n")
    with pytest.raises(ReferenceDataError):
        load_reference(p)


def test_criteria_defaults_overrides_and_errors():
    c = load_criteria()
    assert c.number("amplitude", "low_fraction_of_lln") == 0.8
    assert c.number("rns", "decrement_abnormal_pct") == 10.0
    assert c.number("dms", "ratio_limit") == 0.5 and c.number("dms", "mcmap_low_mv") == 3.0
    assert c.number("crimyne", "fall_pct") == 25.0 and c.number("crimyne", "consecutive_days") == 2
    assert "Stevens" in c.source("amplitude") and "Weber-Carstens" in c.source("dms", "mcmap_source")
    c2 = load_criteria({"rns": {"decrement_abnormal_pct": 12.0}})
    assert c2.number("rns", "decrement_abnormal_pct") == 12.0 and c2.number("rns", "decrement_equivocal_pct") == 5.0
    with pytest.raises(ReferenceDataError):
        load_criteria({"rns": {"decrement_abnormal": 12.0}})
    with pytest.raises(ReferenceDataError):
        load_criteria({"amplitude": {"source": "nobody"}})
    with pytest.raises(ReferenceDataError):
        load_criteria({"amplitude": {"low_fraction_of_lln": "0.8"}}).number("amplitude", "low_fraction_of_lln")


def test_every_criteria_section_names_a_source():
    c = load_criteria()
    for section, body in c.as_dict().items():
        if section in ("schema", "sources"):
            continue
        keys = [k for k in body if k == "source" or k.endswith("_source")]
        assert keys, section
        assert all(c.source(section, k) for k in keys)
