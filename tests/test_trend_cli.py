"""``edx trend``: a folder of daily manifests or a patient in a results store, with the plot."""

from __future__ import annotations

import json
import pytest
from typer.testing import CliRunner

from edx.report import pseudonym
from edx.store import ResultsStore
from edx_cli.main import app
from edx_cli.trend_cmd import plot_file_name

from .store._data import PATIENT, SERIES, newer_store, series_analyses

runner = CliRunner()

_WHERE = ("path", "store", "plot")  # where the studies came from and went: differ between the two sources


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "results.sqlite"
    with ResultsStore(path) as store:
        for a in series_analyses():
            store.add(a)
    return path


def _json(res):
    assert res.exit_code in (0, 1, 3), res.output
    return json.loads(res.stdout)


def test_folder_prints_the_timeline_and_writes_the_plot(tmp_path):
    res = runner.invoke(app, ["trend", str(SERIES), "--out", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    plot = tmp_path / "plots" / "crimyne_SIM-CRIMYNE-01.png"
    assert "ALERT on ICU day 5" in res.stdout and "plot:" in res.stdout
    assert plot.read_bytes()[:4] == b"\x89PNG"
    (out,) = _json(runner.invoke(app, ["trend", str(SERIES), "--json", "--out", str(tmp_path)]))
    assert out["plot"] == str(tmp_path / "crimyne_SIM-CRIMYNE-01.png") and out["alert_icu_day"] == 5


def test_no_plot_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["trend", str(SERIES), "--no-plot", "--json"])
    assert res.exit_code == 0, res.output
    (out,) = json.loads(res.stdout)
    assert "plot" not in out and list(tmp_path.iterdir()) == []


def test_plot_goes_to_the_current_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["trend", str(SERIES), "--json"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in tmp_path.iterdir()] == ["crimyne_SIM-CRIMYNE-01.png"]


def test_store_gives_the_same_result_as_the_folder(store_path, tmp_path):
    (got,) = _json(runner.invoke(app, ["trend", PATIENT, "--store", str(store_path), "--json", "--out",
                                       str(tmp_path)]))
    (want,) = _json(runner.invoke(app, ["trend", str(SERIES), "--json", "--no-plot"]))
    assert got["store"] == str(store_path) and got["plot"] == str(tmp_path / "crimyne_SIM-CRIMYNE-01.png")
    assert {k: v for k, v in got.items() if k not in _WHERE} == {k: v for k, v in want.items() if k not in _WHERE}
    res = runner.invoke(app, ["trend", PATIENT, "--store", str(store_path), "--no-plot"])
    assert res.exit_code == 0 and "ALERT on ICU day 5" in res.stdout


def test_unknown_patient_fails_alone_with_close_matches(store_path, tmp_path):
    res = runner.invoke(app, ["trend", "SIM-CRIMYNE-1", PATIENT, "--store", str(store_path), "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "did you mean 'SIM-CRIMYNE-01'" in res.stderr and "Traceback" not in res.output
    assert "ALERT on ICU day 5" in res.stdout
    out = _json(runner.invoke(app, ["trend", "SIM-CRIMYNE-1", "--store", str(store_path), "--json", "--no-plot"]))
    assert out[0]["error_type"] == "StoreError"


def test_missing_or_foreign_store_is_an_input_error(tmp_path):
    missing = tmp_path / "none.sqlite"
    res = runner.invoke(app, ["trend", PATIENT, "--store", str(missing)])
    assert res.exit_code == 1 and "no results store there" in res.stderr
    assert not missing.exists()
    newer = newer_store(tmp_path / "newer.sqlite")
    (out,) = _json(runner.invoke(app, ["trend", PATIENT, "--store", str(newer), "--json"]))
    assert "newer edx" in out["error"]


def test_unwritable_plot_folder_exits_3(store_path, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    res = runner.invoke(app, ["trend", PATIENT, "--store", str(store_path), "--out", str(blocker), "--json"])
    assert res.exit_code == 3
    (out,) = json.loads(res.stdout)
    assert "plot" not in out and "not-a-folder" in out["plot_error"] and out["alert_icu_day"] == 5


def test_anonymized_store_by_pseudonym(tmp_path):
    path = tmp_path / "anon.sqlite"
    with ResultsStore(path) as store:
        for a in series_analyses():
            store.add(a, anonymize=True, salt="s")
    alias = pseudonym(PATIENT, "s")
    (out,) = _json(runner.invoke(app, ["trend", alias, "--store", str(path), "--json", "--out", str(tmp_path)]))
    assert out["patient"] == alias and out["alert_icu_day"] == 5
    assert out["plot"] == str(tmp_path / f"crimyne_{alias}.png")
    res = runner.invoke(app, ["trend", PATIENT, "--store", str(path), "--no-plot"])
    assert res.exit_code == 1 and "pseudonym" in res.stderr


@pytest.mark.parametrize("patient, name", [
    ("SIM-CRIMYNE-01", "crimyne_SIM-CRIMYNE-01.png"),
    ("../../etc/passwd", "crimyne_etc_passwd.png"),
    ("a b/c\\d:e", "crimyne_a_b_c_d_e.png"),
    ("..", "crimyne_patient.png"),
    ("Müller", "crimyne_M_ller.png"),
])
def test_plot_file_name_is_safe(patient, name):
    assert plot_file_name(patient) == name
