"""``edx analyze`` outputs (results.json, CSV tables), anonymization, exit codes, and ``edx demo``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from edx.report import pseudonym, results_schema
from edx_cli import demo_cmd
from edx_cli.main import app

from .conftest import SAMPLE_DATA

runner = CliRunner()
CIM = SAMPLE_DATA / "studies" / "cim"


@pytest.fixture(scope="module")
def cim_outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze")
    res = runner.invoke(app, ["analyze", str(CIM), "--out", str(out), "--no-html", "--json"])
    assert res.exit_code == 0, res.output
    return out, json.loads(res.stdout)[0]


def test_results_json_follows_its_schema_and_matches_the_terminal_json(cim_outputs):
    out, printed = cim_outputs
    doc = json.loads((out / "cim" / "results.json").read_text())
    jsonschema.validate(doc, results_schema())
    assert doc["schema"] == "edx-results" and doc["schema_version"] == 1
    assert doc["study_id"] == "SIM-CIM-01/2026-03-03/d12"
    assert doc["interpretation"]["pattern"] == "CIM"
    assert doc["measurements"] == printed["measurements"]
    assert len(doc["content_sha256"]) == 64 and doc["outputs"] == {"measurements": "measurements.csv",
                                                                     "evidence": "evidence.csv"}


def test_csv_tables_are_tidy_and_complete(cim_outputs):
    out, printed = cim_outputs
    with open(out / "cim" / "measurements.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(printed["measurements"])
    assert list(rows[0])[:10] == ["study", "patient", "study_date", "icu_day", "test", "type", "nerve", "muscle",
                                  "side", "site"]
    wrist = next(r for r in rows if r["test"] == "median-motor-R" and r["site"] == "wrist")
    want = next(r for r in printed["measurements"] if r["test"] == "median-motor-R" and r.get("site") == "wrist")
    assert float(wrist["amplitude_mv"]) == pytest.approx(want["amplitude_mv"], rel=1e-12)
    assert json.loads(wrist["quality"]) == want["quality"] or (wrist["quality"] == "" and not want["quality"])
    with open(out / "cim" / "evidence.csv", newline="") as fh:
        ev = list(csv.DictReader(fh))
    assert {e["pattern"] for e in ev} == {"CIM"} and all(e["source"] for e in ev)
    assert any(e["rule"] == "criterion.cmap_low" for e in ev)


def test_anonymize_leaves_no_id_date_or_folder_in_any_output(tmp_path):
    study = tmp_path / "Doe_Jane_1961"
    shutil.copytree(CIM, study)
    text = (study / "study.toml").read_text()
    text = text.replace('id = "SIM-CIM-01"', 'id = "JANE-DOE-4711"')
    assert "JANE-DOE-4711" in text
    (study / "study.toml").write_text(text)
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", str(study), "--out", str(out), "--no-html", "--anonymize", "--json"],
                        env={"EDX_ANON_SALT": "lab-secret"})
    assert res.exit_code == 0, res.output
    alias = pseudonym("JANE-DOE-4711", "lab-secret")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"results.json", "measurements.csv", "evidence.csv"}
    for content in [p.read_text() for p in files] + [res.stdout]:
        for secret in ("JANE-DOE-4711", "2026-03-03", "03.03.2026", "Doe_Jane", str(study)):
            assert secret not in content
    doc = json.loads((files[0].parent / "results.json").read_text())
    assert doc["patient"]["id"] == alias and doc["study"]["date"] is None
    assert files[0].parent.name == f"{alias}_d12"  # the folder name carries no name either


def test_an_analysis_pickles_for_worker_processes():
    import pickle

    from edx.report import analyze_study

    a = analyze_study(CIM)  # needle MUPs included: their results must pickle too
    b = pickle.loads(pickle.dumps(a))
    assert b.to_dict() == a.to_dict()


def test_unwritable_output_is_exit_code_3_and_the_analysis_still_shown(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    res = runner.invoke(app, ["analyze", str(CIM), "--out", str(blocker), "--no-html"])
    assert res.exit_code == 3
    assert "Impression: CIM (possible)" in res.stdout
    assert "outputs not written" in res.stderr


def test_bad_input_is_exit_code_1_and_good_ones_still_written(tmp_path):
    res = runner.invoke(app, ["analyze", str(tmp_path / "missing"), str(CIM), "--out", str(tmp_path / "o"),
                              "--no-html", "--json"])
    assert res.exit_code == 1
    items = json.loads(res.stdout)
    assert "error" in items[0] and items[1]["interpretation"]["pattern"] == "CIM"
    assert (tmp_path / "o" / "cim" / "results.json").is_file()


def test_rich_markup_in_manifest_text_is_printed_literally(tmp_path):
    study = tmp_path / "s"
    shutil.copytree(SAMPLE_DATA / "studies" / "normal", study)
    text = (study / "study.toml").read_text()
    assert text.count('name = "wrist"') >= 1
    (study / "study.toml").write_text(text.replace('name = "wrist"', 'name = "wrist [red]X[/red]"', 1))
    res = runner.invoke(app, ["analyze", str(study), "--no-files"])
    assert res.exit_code == 0, res.output
    assert "wrist [red]X[/red]" in res.stdout


def test_demo_simulates_the_sample_studies_when_none_are_found(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_cmd, "_SAMPLE_REL", Path("no_such_sample_folder"))
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--no-html", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["sample_studies"] == str(tmp_path / "demo" / "sample_data")
    # the simulator is seeded: the demo's study is the committed one, byte for byte
    assert (tmp_path / "demo" / "sample_data" / "cim" / "study.toml").read_bytes() == (CIM / "study.toml").read_bytes()
    assert out["analyze"][0]["interpretation"]["pattern"] == "CIM"
    assert out["trend"][0]["alert_icu_day"] == 5
    assert out["trend"][0]["plot"] == str(tmp_path / "demo" / "trend" / "crimyne_SIM-CRIMYNE-01.png")
    assert Path(out["trend"][0]["plot"]).stat().st_size > 10_000
    assert str(tmp_path / "demo" / "analyze" / "cim" / "results.json") in out["outputs"]


def test_analyze_appends_to_a_store_that_trend_follows(tmp_path):
    days = sorted((SAMPLE_DATA / "studies" / "crimyne").glob("day*.toml"))
    assert len(days) == 7
    store = tmp_path / "results.sqlite"
    res = runner.invoke(app, ["analyze", *map(str, days), "--no-files", "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(r["store_study_id"] for r in json.loads(res.stdout)) == list(range(1, 8))
    res = runner.invoke(app, ["trend", "SIM-CRIMYNE-01", "--store", str(store), "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)[0]
    assert out["alert_icu_day"] == 5 and Path(out["plot"]).is_file()


def test_an_unusable_store_stops_analyze_before_any_work_with_exit_code_3(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    res = runner.invoke(app, ["analyze", str(CIM), "--no-files", "--store", str(bad)])
    assert res.exit_code == 3
    assert "results store not usable" in res.stderr and "Impression" not in res.stdout


def test_batch_appends_every_finished_study_to_the_store(tmp_path):
    series = tmp_path / "in" / "crimyne"
    shutil.copytree(SAMPLE_DATA / "studies" / "crimyne", series)
    store = tmp_path / "results.sqlite"
    args = ["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-html", "--jobs", "1",
            "--store", str(store), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["store"] == {"path": str(store), "errors": []}
    res = runner.invoke(app, ["trend", "SIM-CRIMYNE-01", "--store", str(store), "--no-plot", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["alert_icu_day"] == 5
    # a resumed batch adds the same documents again: nothing new in the store
    from edx.store import ResultsStore

    with ResultsStore(store) as s:
        before = len(s.studies("SIM-CRIMYNE-01"))
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    with ResultsStore(store) as s:
        assert len(s.studies("SIM-CRIMYNE-01")) == before == 7


def test_anonymize_withholds_biopsy_text_file_names_and_folders_wherever_they_appear(tmp_path):
    study = tmp_path / "Doe_John_19650412"
    shutil.copytree(CIM, study)
    (study / "Doe_John_raw").mkdir()
    text = (study / "study.toml").read_text()
    # a data file named with the id, one moved into a folder named after the patient (and then missing)
    (study / "median-motor-R.edf").rename(study / "MRN12345678_median-motor-R.edf")
    text = text.replace('file = "median-motor-R.edf"', 'file = "MRN12345678_median-motor-R.edf"')
    text = text.replace('file = "ulnar-motor-R.edf"', 'file = "Doe_John_raw/ulnar-motor-R.edf"')
    text = text.replace('id = "SIM-CIM-01"', 'id = "MRN12345678"')
    text = text.replace("[study]", '[study]\nbiopsy = "Muscle biopsy of John Doe: loss of myosin, myopathic"', 1)
    (study / "study.toml").write_text(text)
    res = runner.invoke(app, ["analyze", str(study), "--out", str(tmp_path / "out"), "--anonymize", "--json"])
    assert res.exit_code == 0, res.output
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"results.json", "measurements.csv", "evidence.csv", "report.html"}
    doc = json.loads(next(p for p in files if p.name == "results.json").read_text())
    assert any("ulnar-motor-R.edf" in (t["error"] or "") for t in doc["tests"])  # the error is kept ...
    for content in [p.read_text() for p in files] + [res.stdout]:
        for secret in ("MRN12345678", "John Doe", "Doe_John", "2026-03-03"):
            assert secret not in content  # ... without the folder, the id, the name or the date


def test_two_manifests_of_one_patient_and_day_are_both_current_in_the_store(tmp_path):
    from edx.store import ResultsStore

    for part in ("ncs", "other"):
        shutil.copytree(CIM, tmp_path / "in" / part)
    other = tmp_path / "in" / "other" / "study.toml"  # another manifest of the same patient and day
    text = other.read_text()
    assert "temperature_c = 33.0" in text
    other.write_text(text.replace("temperature_c = 33.0", "temperature_c = 33.5", 1))
    store = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["analyze", str(tmp_path / "in" / "ncs"), str(tmp_path / "in" / "other"),
                              "--no-files", "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    with ResultsStore(store) as s:
        assert len(s.studies("SIM-CIM-01")) == 2


def test_outputs_get_the_umask_permissions_not_private_temp_file_ones(tmp_path):
    import os

    from edx._atomic import write_text_atomic

    old = os.umask(0o022)
    try:
        p = write_text_atomic(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_batch_json_reports_a_fatal_error_as_json(tmp_path):
    (tmp_path / "in").mkdir()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = runner.invoke(app, ["batch", str(tmp_path / "in"), "--out", str(blocker), "--json"])
    assert res.exit_code == 3
    out = json.loads(res.stdout)
    assert out["exit_code"] == 3 and "outputs could not be written" in out["error"]
