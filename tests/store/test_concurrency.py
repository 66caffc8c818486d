"""Two processes adding to one new results store at the same time lose and duplicate nothing."""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import sqlite3

from edx.store import ResultsStore

from ._data import picklable_analyses, series_analyses
from ._workers import add_studies


def test_two_writer_processes(tmp_path):
    series, others = series_analyses(), picklable_analyses()
    shared = others[2]  # both processes add this one
    jobs = {"A": [*series[:4], others[0], shared], "B": [*series[4:], others[1], shared]}
    path = tmp_path / "shared.sqlite"  # new: both processes race to create it too
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=add_studies, args=(str(path), pickle.dumps(jobs[n]), barrier, results, n))
             for n in jobs]
    for p in procs:
        p.start()
    got = {}
    try:
        for _ in procs:
            name, first, second, error = results.get(timeout=180)
            assert error is None, f"writer {name} failed:\n{error}"
            got[name] = (first, second)
    except queue.Empty:
        raise AssertionError("a writer process did not report back") from None
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    for first, second in got.values():
        assert second == first  # adding again changed nothing
    assert got["A"][0][-1] == got["B"][0][-1]  # the shared study has one id
    ids = set(got["A"][0]) | set(got["B"][0])
    unique = [*series, *others]
    assert len(ids) == len(unique) == 10

    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        shas = sorted(r[0] for r in con.execute("SELECT content_sha256 FROM studies"))
        assert shas == sorted(a.content_sha256 for a in unique)
        n = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
             for t in ("patients", "tests", "measurements", "interpretations")}
        assert n == {"patients": 4, "tests": sum(len(a.study.tests) for a in unique),
                     "measurements": sum(len(a.measurements.rows()) for a in unique), "interpretations": 10}
        per_study = dict(con.execute("SELECT s.content_sha256, count(m.id) FROM studies s "
                                     "JOIN measurements m ON m.study = s.id GROUP BY s.id").fetchall())
        assert per_study == {a.content_sha256: len(a.measurements.rows()) for a in unique}
    finally:
        con.close()
    with ResultsStore(path, create=False) as store:
        assert store.crimyne("SIM-CRIMYNE-01").alert_icu_day == 5
