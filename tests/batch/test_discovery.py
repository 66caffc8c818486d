"""What ``edx batch`` finds under a folder, where each study's outputs go, and bare recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edx.batch import _discover, _output_names, bare_study, discover
from edx.model import TestType

from .conftest import FORMATS, STUDIES, STUDY_OUTPUTS


def test_discovery_lists_studies_bare_recordings_and_other_files(batch_root: Path) -> None:
    found = discover(batch_root)
    kinds = {rel: kind for rel, kind, _ in found}
    assert [rel for rel, _, _ in found] == sorted(kinds)  # deterministic: path order
    assert kinds == {**dict.fromkeys(["broken/study.toml", "cold_limb/study.toml", "crimyne/day01.toml",
                                      "crimyne/day02.toml", "crimyne/day03.toml", "normal/study.toml"], "manifest"),
                     "bare/ulnar_edfc.edf": "recording", "bare/ulnar_wfdb.hea": "recording",
                     "lab/reference_values.toml": "other"}
    # the lab file is listed with the reason it is not a study
    note = next(n for rel, _, n in found if rel == "lab/reference_values.toml")
    assert note is not None and "not a study manifest" in note
    # files the manifests name (cold_limb's EDFs, crimyne's day files) are not bare recordings;
    # neither the WFDB .dat beside its .hea nor anything in a hidden folder
    assert not any(rel.endswith(".dat") or rel.startswith(".hidden") or rel.startswith("crimyne/day01_")
                   for rel in kinds)


def test_discovery_without_bare_recordings_and_outside_the_output_folder(batch_root: Path) -> None:
    out = batch_root / "results"
    shutil.copytree(STUDIES / "cold_limb", out / "old_copy")  # e.g. a previous output folder inside DIR
    (out / "stray.edf").write_bytes((FORMATS / "ulnar_edfc.edf").read_bytes())
    rels = [f.rel for f in _discover(batch_root, bare_type=None, exclude=[out])]
    assert "bare/ulnar_edfc.edf" not in rels and "bare/ulnar_wfdb.hea" not in rels
    assert not any(r.startswith("results/") for r in rels)
    # without the exclusion the copy would be found
    assert "results/old_copy/study.toml" in [f.rel for f in _discover(batch_root, bare_type=None, exclude=[])]


def test_a_toml_that_does_not_parse_is_a_study_to_fail_not_a_skip(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[patient\nid = 1\n", encoding="utf-8")
    assert discover(tmp_path) == [("bad.toml", "manifest", None)]


def test_output_folders_follow_the_input_paths_and_never_collide(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for p in (tmp_path / "a" / "study.toml", tmp_path / "a.toml", tmp_path / "b" / "day1.toml"):
        p.parent.mkdir(exist_ok=True)
        p.write_text('[patient]\nid = "P"\n', encoding="utf-8")
    found = _discover(tmp_path, bare_type=None, exclude=[])
    names = _output_names(found, anonymize=False, salt="", root=tmp_path)
    assert names == {"a/study.toml": "a", "a.toml": "a.toml", "b/day1.toml": "b/day1"}
    anon = _output_names(found, anonymize=True, salt="s", root=tmp_path)
    assert len(set(anon.values())) == 3 and all(v.startswith("anon-") for v in anon.values())
    assert _output_names(found, anonymize=True, salt="other", root=tmp_path) != anon  # salted


def test_the_fixture_outputs_match_the_naming_rule(batch_root: Path) -> None:
    found = _discover(batch_root, bare_type="motor", exclude=[])
    names = _output_names(found, anonymize=False, salt="", root=batch_root)
    assert {k: v for k, v in names.items() if k in STUDY_OUTPUTS} == STUDY_OUTPUTS
    assert names["broken/study.toml"] == "broken"


def test_bare_study_one_site_per_sweep_or_one_needle_site(tmp_path: Path) -> None:
    motor = bare_study(FORMATS / "ulnar_edfc.edf", "motor")
    (test,) = motor.tests
    assert test.type is TestType.MOTOR and [s.name for s in test.sites] == ["sweep 0", "sweep 1"]
    assert [s.data.sweeps for s in test.sites] == [(0,), (1,)]
    assert motor.patient.id == "ulnar_edfc.edf" and motor.date.isoformat() == "2026-03-14"  # EDF start date
    rest = bare_study(STUDIES / "normal" / "tibialis-anterior-rest-R-1.edf", "rest", patient_id="x/rest")
    assert rest.tests[0].type is TestType.NEEDLE_REST and len(rest.tests[0].sites) == 1
    assert rest.patient.id == "x/rest"
    with pytest.raises(ValueError, match="kind must be one of"):
        bare_study(FORMATS / "ulnar_edfc.edf", "f_wave")
