"""The ``edx`` command: info over files, manifests and folders; exit codes; JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from edx.io.edf_write import EdfChannel, write_edf
from edx_cli.main import app

from .conftest import SAMPLE_DATA

runner = CliRunner()


def test_info_over_sample_data_json():
    res = runner.invoke(app, ["info", str(SAMPLE_DATA), "--json"])
    assert res.exit_code == 0, res.output
    items = json.loads(res.stdout)
    by_name = {Path(i["path"]).name: i for i in items}
    assert {"emg_healthy.hea", "emg_myopathy.hea", "emg_neuropathy.hea"} <= set(by_name)
    h = by_name["emg_healthy.hea"]
    assert h["format"] == "WFDB" and h["channels"][0]["fs_hz"] == 4000.0 and h["channels"][0]["samples"] == 50860
    assert not any("error" in i for i in items)


def test_info_table_and_bad_paths_keep_going(tmp_path):
    good = tmp_path / "ok.edf"
    write_edf(good, [EdfChannel("APB", 1000, np.zeros(1000), unit="uV")], record_duration_s=1.0,
              annotations=[(0.1, None, "Stim")])
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       garbage")
    res = runner.invoke(app, ["info", str(good), str(tmp_path / "missing.edf"), str(bad)])
    assert res.exit_code == 1
    assert "APB" in res.stdout and "EDF+C" in res.stdout
    err = res.stderr
    assert "missing.edf: file not found" in err
    assert "bad.edf" in err and "too short" in err
    assert "Traceback" not in res.output


def test_info_json_reports_errors(tmp_path):
    res = runner.invoke(app, ["info", str(tmp_path / "x.unknown"), "--json"])
    assert res.exit_code == 1
    (item,) = json.loads(res.stdout)
    assert item["error_type"] in ("MissingFileError", "FormatError")


def test_info_empty_folder(tmp_path):
    res = runner.invoke(app, ["info", str(tmp_path)])
    assert res.exit_code == 1 and "no recordings" in res.stderr


def test_console_script_installed(tmp_path):
    exe = shutil.which("edx", path=str(Path(sys.executable).parent))
    assert exe is not None, "the 'edx' console script is not installed beside this Python"
    out = subprocess.run([exe, "info", str(SAMPLE_DATA / "physionet_emgdb" / "emg_myopathy.hea"), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["channels"][0]["samples"] == 110337
    help_ = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and "info" in help_.stdout


def test_measure_study_json_has_every_kind_of_row():
    res = runner.invoke(app, ["measure", str(SAMPLE_DATA / "studies" / "nmj_blockade" / "study.toml"), "--json"])
    assert res.exit_code == 0, res.output
    (study,) = json.loads(res.stdout)
    rows = study["rows"]
    sites = {(r["test"], r.get("site")) for r in rows}
    assert ("ulnar-motor-R", "wrist -> below elbow") in sites
    rns = next(r for r in rows if r["test"] == "ulnar-rns-R" and r.get("site") == "RNS")
    assert abs(rns["decrement_pct"] - 28.0) <= 1.0
    motor = next(r for r in rows if r["test"] == "median-motor-R" and r.get("site") == "wrist")
    assert motor["status"] == "ok" and abs(motor["amplitude_mv"] - 9.5) < 0.3
    # needle EMG at rest: a row per site with its grade, and the muscle's grade
    rest = [r for r in rows if r["test"] == "tibialis-anterior-rest-R"]
    assert all("error" not in r for r in rest) and {r["site"] for r in rest} >= {"site 1", "muscle"}
    assert all(r["grade"] is not None for r in rest)
    # a neuromuscular-junction study: no fibrillation trains at rest
    assert all(r["grade"] == "0" for r in rest)


def test_measure_table_and_bare_recording_and_errors(tmp_path):
    res = runner.invoke(app, ["measure", str(SAMPLE_DATA / "studies" / "cim" / "study.toml")])
    assert res.exit_code == 0 and "wrist" in res.stdout
    rec = runner.invoke(app, ["measure", str(SAMPLE_DATA / "formats" / "ulnar_edfd.edf"), "--json"])
    assert rec.exit_code == 0
    rows = json.loads(rec.stdout)[0]["rows"]
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    bad = runner.invoke(app, ["measure", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 1 and "not found" in bad.stderr


def test_tables_written_to_a_pipe_are_not_cut():
    """A lab's saved log holds every header and cell whole (rich cuts to 80 columns off a terminal)."""
    study = str(SAMPLE_DATA / "studies" / "demyelinating" / "study.toml")
    for args in (["measure", study], ["analyze", study, "--no-files"], ["info", study]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "…" not in res.stdout, args
    res = runner.invoke(app, ["measure", study])
    assert "velocity m/s" in res.stdout and "ulnar-motor-R" in res.stdout and "popliteal fossa" in res.stdout
    # areas carry their unit, as amplitudes do: motor mV·ms, sensory µV·ms
    assert "mV·ms" in res.stdout and "µV·ms" in res.stdout


def test_measure_table_says_why_a_segment_has_no_velocity():
    """The clipped median sweeps of the artifacts study: the segment row gives the reason, not blanks."""
    res = runner.invoke(app, ["measure", str(SAMPLE_DATA / "studies" / "artifacts" / "study.toml")])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if "wrist -> elbow" in line)
    assert "no velocity: the proximal response could not be judged (clipped)" in row
    # segments with a velocity carry no such text
    row = next(line for line in res.stdout.splitlines() if "wrist -> below elbow" in line)
    assert "no velocity" not in row and "59." in row


def test_measure_needle_study_table_and_bare_needle_recordings():
    res = runner.invoke(app, ["measure", str(SAMPLE_DATA / "studies" / "cim" / "study.toml")])
    assert res.exit_code == 0, res.output
    assert "needle EMG" in res.stdout and "MUPs" in res.stdout and "turns/s" in res.stdout
    rest = runner.invoke(app, ["measure", "--type", "rest", str(SAMPLE_DATA / "physionet_emgdb" / "emg_healthy.hea"),
                               "--json"])
    assert rest.exit_code == 0, rest.output
    (row,) = json.loads(rest.stdout)[0]["rows"]
    # the healthy record (gentle voluntary effort) has no fibrillation or PSW trains
    assert row["type"] == "needle_rest" and row["n_trains"] == 0
    table = runner.invoke(app, ["measure", "--type", "rest", str(SAMPLE_DATA / "physionet_emgdb" / "emg_healthy.hea")])
    # discharge counts are withheld where the baseline is not quiet (they would be voluntary MUP pieces)
    assert table.exit_code == 0 and "voluntary_activity" in table.stdout and "discharges:" not in table.stdout
    mup = runner.invoke(app, ["measure", "--type", "minimal",
                              str(SAMPLE_DATA / "physionet_emgdb" / "emg_neuropathy.hea"), "--json"])
    assert mup.exit_code == 0, mup.output
    (row,) = json.loads(mup.stdout)[0]["rows"]
    assert row["site"] == "MUPs" and row["n_mups"] > 0
    bad = runner.invoke(app, ["measure", "--type", "needle", str(SAMPLE_DATA / "physionet_emgdb" / "emg_healthy.hea")])
    assert bad.exit_code == 2


def test_analyze_prints_the_impression_and_json(tmp_path):
    cim = SAMPLE_DATA / "studies" / "cim"
    res = subprocess.run([sys.executable, "-m", "edx_cli.main", "analyze", str(cim / "study.toml"), "--no-files"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert list(tmp_path.iterdir()) == []  # --no-files: terminal only
    res.exit_code, res.output = res.returncode, res.stdout
    assert res.exit_code == 0, res.output
    assert "Impression: CIM (possible)" in res.output and "Key evidence" in res.output
    assert "nCMAP/mCMAP 0.75" in res.output
    res = runner.invoke(app, ["analyze", str(cim), "--json", "--out", str(tmp_path), "--no-html"])
    assert res.exit_code == 0
    out = json.loads(res.output)[0]
    assert out["interpretation"]["pattern"] == "CIM" and out["interpretation"]["grade"] == "possible"
    assert out["measurements"] and out["key_evidence"]
    assert set(out["outputs"]) == {"json", "measurements", "evidence"}


def test_analyze_with_a_lab_reference_and_errors(tmp_path):
    lab = tmp_path / "lab.toml"
    lab.write_text('[[motor]]\nnerve = "median"\nmuscle = "APB"\namplitude_mv_min = 12.0\n'
                   '[[motor]]\nnerve = "ulnar"\nmuscle = "ADM"\namplitude_mv_min = 13.0\n')
    normal = SAMPLE_DATA / "studies" / "normal" / "study.toml"
    res = runner.invoke(app, ["analyze", str(normal), "--json", "--no-files", "--reference", str(lab)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["interpretation"]["pattern"] == "indeterminate"
    res = runner.invoke(app, ["analyze", str(normal), "--reference", str(tmp_path / "none.toml")])
    assert res.exit_code == 2
    res = runner.invoke(app, ["analyze", str(tmp_path / "missing.toml"), "--json", "--no-files"])
    assert res.exit_code == 1 and "error" in json.loads(res.output)[0]


def test_trend_prints_the_crimyne_timeline():
    series = SAMPLE_DATA / "studies" / "crimyne"
    res = runner.invoke(app, ["trend", str(series), "--no-plot"])
    assert res.exit_code == 0, res.output
    assert "ALERT on ICU day 5" in res.output
    res = runner.invoke(app, ["trend", str(series), "--json", "--no-plot"])
    out = json.loads(res.output)[0]
    assert out["alert_icu_day"] == 5 and out["sides"]["R"]["first_fall_icu_day"] == 4


def test_needle_muscle_line_says_when_the_grade_is_a_lower_bound():
    from edx_cli.measure_cmd import _needle_text

    row = {"site": "muscle", "grade": "3+", "n_sites": 3, "n_sites_with_trains": 3, "reasons": None}
    assert _needle_text(row) == "grade 3+ (3 of 3 sites with trains)"
    row["reasons"] = {"lower_bound": "1 site grade(s) are lower bounds (graded on a noisy baseline ...)"}
    assert _needle_text(row) == "grade 3+ (lower bound) (3 of 3 sites with trains)"
    row = {"site": "muscle", "grade": "1+", "n_sites": 2, "n_sites_with_trains": 2,
           "reasons": {"grade": "only 2 area(s) sampled"}}
    assert _needle_text(row) == "grade 1+ (2 of 2 sites with trains): only 2 area(s) sampled"
