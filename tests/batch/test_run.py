"""``edx.batch.run_batch`` in this process (jobs=1): outputs, batch.json, the tidy table, resume,
anonymization, the on_result hook, and the HTML report once it exists."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from edx.batch import run_batch
from edx.errors import DependencyError, MissingFileError
from edx.report import read_results

from .conftest import STUDIES, STUDY_OUTPUTS, assert_same_rows, concat_study_csvs

HAVE_HTML = importlib.util.find_spec("edx.report.html") is not None


def _statuses(out: Path) -> dict[str, str]:
    doc = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    return {it["input"]: it["status"] for it in doc["items"]}


def test_every_study_written_failures_isolated_table_complete(batch_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: list[Path] = []
    progress: list[tuple[int, int, str | None]] = []
    s = run_batch(batch_root, out, jobs=1, html=False, on_result=seen.append,
                  on_progress=lambda d, t, it: progress.append((d, t, None if it is None else it.input)))

    # batch.json: one entry per input with its status
    st = _statuses(out)
    assert st == {**dict.fromkeys(STUDY_OUTPUTS, "ok"), "broken/study.toml": "failed",
                  "lab/reference_values.toml": "skipped"}
    assert s.counts() == {"ok": 7, "failed": 1, "skipped": 1, "resumed": 0} and not s.ok
    (bad,) = s.failed
    assert bad.error_type == "ManifestError" and "broken/study.toml" in bad.error and "[study]" in bad.error
    assert not (out / "broken").exists()  # a failed study leaves no outputs

    # per-study outputs, and the hook saw each finished study's results.json
    for inp, folder in STUDY_OUTPUTS.items():
        doc = read_results(out / folder)
        assert doc["schema"] == "edx-results" and set(doc["outputs"]) == {"measurements", "evidence"}
        item = next(it for it in s.items if it.input == inp)
        assert item.study_id == doc["study_id"] and item.content_sha256 == doc["content_sha256"]
        assert 0 < item.cpu_seconds and 0 < item.seconds
        assert (out / folder / "evidence.csv").is_file() and not (out / folder / "report.html").exists()
    assert sorted(seen) == sorted(out / f / "results.json" for f in STUDY_OUTPUTS.values())
    assert progress[0] == (0, 8, None) and [p[0] for p in progress] == list(range(9))

    # the tidy table: the per-study CSVs stacked, study columns first
    assert s.table == out / "measurements.parquet"
    table = pd.read_parquet(s.table)
    assert list(table.columns[:10]) == ["study", "patient", "study_date", "icu_day", "test", "type", "nerve",
                                        "muscle", "side", "site"]
    assert {"amplitude_mv", "onset_latency_ms", "cv_m_s", "amplitude_uv", "n_fibrillations"} <= set(table.columns)
    stacked = concat_study_csvs(out, list(STUDY_OUTPUTS.values()))
    assert_same_rows(table, stacked)
    assert set(table["study"]) == {it.study_id for it in s.items if it.done}
    assert "SIM-NORMAL-01" in set(table["patient"])


def test_resume_skips_current_studies_and_redoes_changed_ones(batch_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_batch(batch_root, out, jobs=1, html=False, bare_type=None)
    before = {f: (out / f / "results.json").read_bytes() for f in ("normal", "crimyne/day01", "crimyne/day02")}
    again = run_batch(batch_root, out, jobs=1, html=False, bare_type=None, resume=True)
    assert {it.status for it in again.items if it.kind == "manifest" and it.input != "broken/study.toml"} == {"resumed"}
    assert [it.content_sha256 for it in again.items] == [it.content_sha256 for it in first.items]
    # the table still holds every study, the resumed ones read back from their outputs
    assert_frame_equal(pd.read_parquet(again.table), pd.read_parquet(first.table))

    # new data for one day: that study alone is analysed again
    day2 = batch_root / "crimyne" / "day02_peroneal-motor-R.edf"
    shutil.copyfile(batch_root / "crimyne" / "day03_peroneal-motor-R.edf", day2)
    third = run_batch(batch_root, out, jobs=1, html=False, bare_type=None, resume=True)
    st = {it.input: it.status for it in third.items}
    assert st["crimyne/day02.toml"] == "ok"
    assert {k: v for k, v in st.items() if k not in ("crimyne/day02.toml", "broken/study.toml",
                                                     "lab/reference_values.toml")} == dict.fromkeys(
        ["cold_limb/study.toml", "crimyne/day01.toml", "crimyne/day03.toml", "normal/study.toml"], "resumed")
    assert (out / "crimyne/day02/results.json").read_bytes() != before["crimyne/day02"]
    assert (out / "normal/results.json").read_bytes() == before["normal"]
    new = read_results(out / "crimyne/day02")["content_sha256"]
    assert new != json.loads(before["crimyne/day02"])["content_sha256"]

    # a half-missing output folder is not done either
    (out / "normal" / "evidence.csv").unlink()
    fourth = run_batch(batch_root, out, jobs=1, html=False, bare_type=None, resume=True)
    assert {it.input: it.status for it in fourth.items}["normal/study.toml"] == "ok"
    assert (out / "normal" / "evidence.csv").is_file()


def test_resume_redoes_when_the_outputs_were_written_with_other_options(batch_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    lab = batch_root / "lab" / "reference_values.toml"
    run_batch(batch_root / "crimyne", out, jobs=1, html=False)
    # another laboratory file, another salt or anonymization: everything is redone
    for kwargs in ({"reference": lab}, {"anonymize": True, "salt": "a"}, {"anonymize": True, "salt": "b"}):
        s = run_batch(batch_root / "crimyne", out, jobs=1, html=False, resume=True, **kwargs)
        assert {it.status for it in s.items} == {"ok"}, kwargs
        assert {it.status for it in run_batch(batch_root / "crimyne", out, jobs=1, html=False, resume=True,
                                              **kwargs).items} == {"resumed"}, kwargs


def test_anonymized_batch_names_nobody_outside_batch_json(batch_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    s = run_batch(batch_root, out, jobs=1, html=False, anonymize=True, salt="lab-secret")
    assert s.counts()["ok"] == 7
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 7 and all(f.startswith("anon-") for f in folders)
    secrets = ("SIM-NORMAL-01", "SIM-CRIMYNE-01", "SIM-COLD-01", "2026-03-02", str(batch_root))
    for f in [*out.glob("anon-*/*"), out / "measurements.parquet"]:
        text = f.read_bytes().decode("utf-8", errors="replace")
        assert not any(x in text for x in secrets), f
    table = pd.read_parquet(out / "measurements.parquet")
    assert all(p.startswith("anon-") for p in table["patient"]) and table["study_date"].isna().all()


def test_on_result_failure_is_that_studys_failure(batch_root: Path, tmp_path: Path) -> None:
    def hook(path: Path) -> None:
        if "day02" in str(path):
            raise RuntimeError("store is locked")

    s = run_batch(batch_root / "crimyne", tmp_path / "out", jobs=1, html=False, on_result=hook)
    st = {it.input: (it.status, it.error) for it in s.items}
    assert st["day02.toml"][0] == "failed" and "store is locked" in st["day02.toml"][1]
    assert st["day01.toml"] == ("ok", None) and st["day03.toml"] == ("ok", None)
    assert (tmp_path / "out" / "day02" / "results.json").is_file()  # its outputs were written


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError):
        run_batch(tmp_path / "nope", tmp_path / "out", html=False)
    with pytest.raises(MissingFileError, match="reference"):
        run_batch(tmp_path, tmp_path / "out", html=False, reference=tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="bare_type"):
        run_batch(tmp_path, tmp_path / "out", html=False, bare_type="emg")
    with pytest.raises(ValueError, match="jobs"):
        run_batch(tmp_path, tmp_path / "out", html=False, jobs=0)
    if not HAVE_HTML:
        with pytest.raises(DependencyError, match="--no-html"):
            run_batch(tmp_path, tmp_path / "out")


@pytest.mark.skipif(not HAVE_HTML, reason="edx.report.html (the HTML report) is not written yet")
def test_html_reports_and_resume_by_output_set(tmp_path: Path) -> None:
    root = tmp_path / "in"
    shutil.copytree(STUDIES / "cold_limb", root / "cold_limb")
    out = tmp_path / "out"
    run_batch(root, out, jobs=1, html=False)
    assert not (out / "cold_limb" / "report.html").exists()
    s = run_batch(root, out, jobs=1, html=True, resume=True)  # the report is missing: redone
    assert [it.status for it in s.items] == ["ok"]
    html = (out / "cold_limb" / "report.html").read_text(encoding="utf-8")
    assert "<table" in html and "SIM-COLD-01" in html
    assert set(read_results(out / "cold_limb")["outputs"]) == {"measurements", "evidence", "html"}
    assert [it.status for it in run_batch(root, out, jobs=1, html=True, resume=True).items] == ["resumed"]
