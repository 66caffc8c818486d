"""``edx batch`` in parallel: the CLI on a process pool, a worker process that dies, a batch killed
half-way and resumed, and a dask LocalCluster giving the local run's outputs."""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

from edx.batch import BatchItem, _run_local, _Task, run_batch
from edx_cli.main import app

from ._crashy import crash_on_marked
from .conftest import STUDY_OUTPUTS, assert_same_rows, concat_study_csvs, make_batch_root

runner = CliRunner()


def _task(rel: str, out: Path) -> _Task:
    return _Task(path=str(out / rel), rel=rel, kind="manifest", out=str(out / rel), out_rel=rel, resume=False,
                 anonymize=False, salt="", html=False, reference=None, criteria=None, bare_type=None)


def test_a_dying_worker_costs_only_its_own_study(tmp_path: Path) -> None:
    rels = [f"s{k}/study.toml" for k in range(5)] + ["crash/study.toml"] + [f"t{k}/study.toml" for k in range(5)]
    tasks = [_task(r, tmp_path) for r in rels]
    got: dict[int, BatchItem] = {}

    def emit(i: int, item: BatchItem) -> None:
        assert i not in got, "an item was reported twice"
        got[i] = item

    _run_local(tasks, 2, emit, work=crash_on_marked)
    assert sorted(got) == list(range(len(tasks)))
    crashed = got[rels.index("crash/study.toml")]
    assert crashed.status == "failed" and crashed.error_type == "WorkerDied" and "crash/study.toml" in crashed.error
    assert all(got[i].status == "ok" for i, r in enumerate(rels) if r != "crash/study.toml")
    assert [got[i].input for i in range(len(tasks))] == rels


def test_cli_pool_run_failure_isolated_exit_1_and_json(batch_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["batch", str(batch_root), "--out", str(out), "--jobs", "2", "--no-html", "--json"])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    st = {it["input"]: it["status"] for it in doc["items"]}
    assert st == {**dict.fromkeys(STUDY_OUTPUTS, "ok"), "broken/study.toml": "failed",
                  "lab/reference_values.toml": "skipped"}
    assert doc["options"]["jobs"] == 2 and doc["table"] == str(out / "measurements.parquet")
    assert doc["counts"] == {"ok": 7, "failed": 1, "skipped": 1, "resumed": 0}
    assert json.loads((out / "batch.json").read_text(encoding="utf-8"))["counts"] == doc["counts"]
    table = pd.read_parquet(out / "measurements.parquet")
    stacked = concat_study_csvs(out, list(STUDY_OUTPUTS.values()))
    assert_same_rows(table, stacked)

    # the summary for people: counts, the failure's one-line error, the table
    r = runner.invoke(app, ["batch", str(batch_root), "--out", str(out), "-j", "2", "--no-html", "--resume"])
    assert r.exit_code == 1
    text = " ".join(r.stdout.split())
    assert "resumed │ 7" in text and "failed broken/study.toml: ManifestError invalid study manifest" in text
    assert "more lines in batch.json" in text and "measurements.parquet" in text


@pytest.mark.parametrize("args", [["--jobs", "0"], ["--bare-type", "emg"], ["--reference", "missing.toml"]])
def test_cli_usage_errors_exit_2(batch_root: Path, tmp_path: Path, args: list[str]) -> None:
    r = runner.invoke(app, ["batch", str(batch_root), "--out", str(tmp_path / "o"), "--no-html", *args])
    assert r.exit_code == 2
    assert runner.invoke(app, ["batch", str(tmp_path / "missing"), "--no-html"]).exit_code == 2


def test_cli_nothing_to_do_is_exit_1(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--no-html"])
    assert r.exit_code == 1 and "no study manifests or recordings found" in r.stderr


def _rows(f: Path) -> int:
    """Rows of a complete output file (raises on a truncated JSON document); an empty CSV is
    what the writer leaves for a table without rows."""
    if f.suffix == ".json":
        return len(json.loads(f.read_text(encoding="utf-8")))
    return 0 if f.stat().st_size == 0 else len(pd.read_csv(f))


def _wait_for_first_result(proc: subprocess.Popen, out: Path) -> None:
    """Until the running batch has written its first results.json (120 s at most)."""
    deadline = time.monotonic() + 120
    while not list(out.glob("**/results.json")):
        assert proc.poll() is None, "the batch ended before the first study was written"
        assert time.monotonic() < deadline, "no results.json within 120 s"
        time.sleep(0.005)


def test_killed_batch_leaves_only_complete_files_and_resume_finishes(tmp_path: Path) -> None:
    root = make_batch_root(tmp_path / "in", broken=False, extra_normal=3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edx_cli.main", "batch", str(root), "--out", str(out), "-j", "2", "--no-html"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_first_result(proc, out)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its worker processes, at once
        proc.wait()
    done = {p.parent.relative_to(out).as_posix() for p in out.glob("**/results.json")}
    assert done and not (out / "batch.json").exists()  # stopped before its end
    files = [f for f in out.rglob("*") if f.is_file() and not f.name.startswith(".")]
    assert files and all(_rows(f) >= 0 for f in files)
    for d in done:  # a results.json present means its study's tables are complete, every row
        doc = json.loads((out / d / "results.json").read_text(encoding="utf-8"))
        assert _rows(out / d / "measurements.csv") == len(doc["measurements"]) > 0
        assert _rows(out / d / "evidence.csv") == len(doc["interpretation"]["evidence"])

    r = subprocess.run([*cmd, "--resume", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout[-3000:]
    doc = json.loads(r.stdout)
    st = {it["output"]: it["status"] for it in doc["items"] if it["status"] != "skipped"}
    assert {k for k, v in st.items() if v == "resumed"} == done, (st, done)
    assert set(st.values()) <= {"ok", "resumed"} and len(st) == len(STUDY_OUTPUTS) + 3
    assert len(pd.read_parquet(out / "measurements.parquet")["study"].unique()) == len(st) - 3  # copies share ids


def test_sigterm_stops_the_batch_like_ctrl_c_and_leaves_no_worker_running(tmp_path: Path) -> None:
    # SIGTERM (kill, timeout, a scheduler's time limit) to the batch alone killed it at once and left
    # the forkserver and its worker processes (~270 MB each) running, orphaned, for ever
    root = make_batch_root(tmp_path / "in", broken=False, extra_normal=3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edx_cli.main", "batch", str(root), "--out", str(out), "-j", "2", "--no-html"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait_for_first_result(proc, out)
        proc.send_signal(signal.SIGTERM)  # the batch process only, as kill and schedulers do
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        deadline = time.monotonic() + 15  # the forkserver and resource tracker leave on their own
        while left := subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split():
            assert time.monotonic() < deadline, f"processes of the batch still running after it exited: {left}"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not [f for f in out.rglob(".*") if f.is_file()]  # no stray temporary files
    for p in out.glob("**/results.json"):
        doc = json.loads(p.read_text(encoding="utf-8"))
        assert _rows(p.parent / "measurements.csv") == len(doc["measurements"]) > 0


def test_dask_local_cluster_gives_the_local_results(batch_root: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    local = run_batch(batch_root, tmp_path / "local", jobs=1, html=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_batch(batch_root, tmp_path / "dask", scheduler=cluster.scheduler_address, html=False)
    assert remote.options["scheduler"] == cluster.scheduler_address
    assert [(it.input, it.status, it.output, it.error_type) for it in remote.items] == \
        [(it.input, it.status, it.output, it.error_type) for it in local.items]
    for it in local.items:
        if it.done:
            for f in ("results.json", "measurements.csv", "evidence.csv"):
                assert filecmp.cmp(tmp_path / "local" / it.output / f, tmp_path / "dask" / it.output / f,
                                   shallow=False), (it.output, f)
    assert_frame_equal(pd.read_parquet(remote.table), pd.read_parquet(local.table))
