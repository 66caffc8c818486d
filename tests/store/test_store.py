"""edx.store.ResultsStore: adding, idempotence, supersession, anonymization, queries, CRIMYNE."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pandas as pd
import pytest

import edx
from edx.errors import StoreError
from edx.report import pseudonym
from edx.store import APPLICATION_ID, SCHEMA_VERSION, ResultsStore, measure_unit

from ._data import PATIENT, SERIES, other_analyses, series_analyses


def _filled(path, anonymize=False, salt=""):
    store = ResultsStore(path)
    ids = [store.add(a, anonymize=anonymize, salt=salt) for a in series_analyses()]
    return store, ids


def _counts(path):
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("patients", "studies", "tests", "measurements", "measure_values", "interpretations")}
    finally:
        con.close()


def _numeric(row):
    return sum(1 for v in row.values() if isinstance(v, int | float) and not isinstance(v, bool) and v == v)


def test_new_store_layout_and_pragmas(tmp_path):
    path = tmp_path / "sub" / "results.sqlite"
    with ResultsStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "patients", "studies", "tests", "measurements", "measure_values", "interpretations"} <= tables
    con.close()


def test_add_stores_every_row_once_and_is_idempotent(tmp_path):
    path = tmp_path / "r.sqlite"
    store, ids = _filled(path)
    assert ids == sorted(set(ids)) and len(ids) == 7
    analyses = series_analyses()
    expected = {
        "patients": 1, "studies": 7, "interpretations": 7,
        "tests": sum(len(a.study.tests) for a in analyses),
        "measurements": sum(len(a.measurements.rows()) for a in analyses),
        "measure_values": sum(_numeric(r) for a in analyses for r in a.to_dict()["measurements"]),
    }
    assert _counts(path) == expected
    again = [store.add(a) for a in analyses]  # same content: nothing added, same ids
    assert again == ids
    assert _counts(path) == expected
    store.close()


def test_stored_document_and_tables_equal_the_analysis(tmp_path):
    store, ids = _filled(tmp_path / "r.sqlite")
    analyses = series_analyses()
    for sid, a in zip(ids, analyses, strict=True):
        assert store.document(sid) == json.loads(json.dumps(a.to_dict()))
    got = store.measurements(PATIENT)
    want = pd.concat([a.measurement_table() for a in analyses], ignore_index=True)
    assert list(got.columns[:10]) == list(want.columns[:10])
    pd.testing.assert_frame_equal(got[sorted(got.columns)], want[sorted(want.columns)].astype(object),
                                  check_dtype=False)
    it = store.interpretations(PATIENT)
    assert list(it["pattern"]) == [a.interpretation.pattern.value for a in analyses]
    assert json.loads(it["key_evidence"][0]) == [e.statement for e in analyses[0].interpretation.key_evidence()]
    st = store.studies(PATIENT)
    assert list(st["icu_day"]) == list(range(1, 8))
    assert list(st["content_sha256"]) == [a.content_sha256 for a in analyses]
    assert list(st["manifest"]) == [f"day0{d}.toml" for d in range(1, 8)]
    assert st["added_utc"].notna().all() and st["superseded_by"].isna().all()
    store.close()


def test_measure_values_long_format(tmp_path):
    store, _ = _filled(tmp_path / "r.sqlite")
    amp = store.measure_values(PATIENT, measure="amplitude_mv")
    per = amp[amp["nerve"] == "peroneal"]
    assert set(per["unit"]) == {"mV"} and len(per) == 14  # 7 days x 2 sides
    day1_r = per[(per["icu_day"] == 1) & (per["side"] == "R")]["value"].item()
    want = next(r["amplitude_mv"] for r in series_analyses()[0].to_dict()["measurements"]
                if r["test"] == "peroneal-motor-R")
    assert day1_r == pytest.approx(want, rel=1e-12)
    everything = store.measure_values()
    assert {"onset_latency_ms", "amplitude_uv", "marker_onset"} <= set(everything["measure"])
    store.close()


@pytest.mark.parametrize("measure, unit", [("amplitude_mv", "mV"), ("amplitude_uv", "µV"), ("cv_m_s", "m/s"),
                                           ("neg_area_mvms", "mV·ms"), ("f_persistence_pct", "%"),
                                           ("onset_latency_ms", "ms"), ("turns_per_s", "1/s"),
                                           ("marker_onset", "sample"), ("n_sweeps", "count"),
                                           ("distance_mm", "mm"), ("temperature_c", "°C"), ("dms_ratio", None)])
def test_measure_unit_from_the_column_name(measure, unit):
    assert measure_unit(measure) == unit


def test_crimyne_from_the_store_equals_the_folder(tmp_path):
    store, _ = _filled(tmp_path / "r.sqlite")
    got = store.crimyne(PATIENT).to_dict()
    want = edx.crimyne(SERIES).to_dict()
    assert got == want
    assert got["alert_icu_day"] == 5
    # the lab's criteria reach the store's CRIMYNE too
    late = store.crimyne(PATIENT, criteria={"crimyne": {"fall_pct": 45.0}}).to_dict()
    assert late == edx.crimyne(SERIES, criteria={"crimyne": {"fall_pct": 45.0}}).to_dict()
    assert late["alert_icu_day"] != 5
    store.close()


def test_store_keeps_patients_apart(tmp_path):
    store, _ = _filled(tmp_path / "r.sqlite")
    for a in other_analyses():
        store.add(a)
    pats = store.patients()
    assert list(pats["patient"]) == sorted([PATIENT, *(a.study.patient.id for a in other_analyses())])
    row = pats.set_index("patient").loc[PATIENT]
    assert (row["n_studies"], row["first_icu_day"], row["last_icu_day"]) == (7, 1, 7)
    cim = other_analyses()[0]
    assert list(store.studies(cim.study.patient.id)["content_sha256"]) == [cim.content_sha256]
    assert set(store.measurements()["patient"]) == set(pats["patient"])
    assert len(store.interpretations()) == 10
    assert store.interpretations(cim.study.patient.id)["pattern"].item() == cim.interpretation.pattern.value
    store.close()


def test_unknown_patient_names_close_matches(tmp_path):
    store, _ = _filled(tmp_path / "r.sqlite")
    with pytest.raises(StoreError, match="did you mean 'SIM-CRIMYNE-01'"):
        store.crimyne("SIM-CRIMYNE-1")
    with pytest.raises(StoreError, match="did you mean 'SIM-CRIMYNE-01'"):
        store.studies("sim-crimyne-01")
    with pytest.raises(StoreError, match="no patient 'XYZ'") as exc:
        store.measurements("XYZ")
    assert "did you mean" not in str(exc.value)
    store.close()
    with ResultsStore(tmp_path / "empty.sqlite") as empty, pytest.raises(StoreError, match="holds no studies"):
        empty.crimyne(PATIENT)


def test_reanalysis_supersedes_and_an_old_analysis_can_return(tmp_path):
    path = tmp_path / "r.sqlite"
    store, ids = _filled(path)
    before = _counts(path)
    day1 = SERIES / "day01.toml"
    redo = edx.analyze_study(day1, criteria={"crimyne": {"fall_pct": 30.0}})  # other lab criteria: new content
    assert redo.content_sha256 != series_analyses()[0].content_sha256
    new_id = store.add(redo)
    assert new_id not in ids
    cur = store.studies(PATIENT)
    assert len(cur) == 7 and cur["id"].iloc[0] == new_id
    hist = store.studies(PATIENT, include_superseded=True)
    old = hist.set_index("id").loc[ids[0]]
    assert old["superseded_by"] == new_id
    # the old rows are kept (marked), but every query reads the current study only
    after = _counts(path)
    assert after["studies"] == before["studies"] + 1
    assert after["measurements"] == before["measurements"] + len(redo.measurements.rows())
    assert len(store.measurements(PATIENT)) == before["measurements"]
    assert len(store.interpretations(PATIENT)) == 7 and len(store.summaries(PATIENT)) == 7
    assert store.add(redo) == new_id  # idempotent
    # adding the superseded analysis again makes it the current one again
    assert store.add(series_analyses()[0]) == ids[0]
    hist = store.studies(PATIENT, include_superseded=True).set_index("id")
    assert pd.isna(hist.loc[ids[0], "superseded_by"]) and hist.loc[new_id, "superseded_by"] == ids[0]
    assert list(store.studies(PATIENT)["id"]) == ids
    assert _counts(path)["studies"] == before["studies"] + 1
    store.close()


def test_anonymized_store_holds_no_identity(tmp_path):
    path = tmp_path / "anon.sqlite"
    store, ids = _filled(path, anonymize=True, salt="lab-secret")
    alias = pseudonym(PATIENT, "lab-secret")
    assert store.patients()["patient"].tolist() == [alias]
    for sid, a in zip(ids, series_analyses(), strict=True):
        assert store.document(sid) == json.loads(json.dumps(a.to_dict(anonymize=True, salt="lab-secret")))
    st = store.studies(alias)
    assert st["study_date"].isna().all() and st["added_utc"].isna().all()
    assert list(st["study"]) == [f"{alias}/d{d}" for d in range(1, 8)]
    s0 = store.summaries(alias)[0]
    assert s0.patient.id == alias and s0.date is None and s0.source == "day01.toml"
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert PATIENT not in dump and "2026-04" not in dump and str(SERIES) not in dump
    # the CRIMYNE result is the folder's, under the pseudonym and without dates
    got, want = store.crimyne(alias).to_dict(), edx.crimyne(SERIES).to_dict()
    assert got["patient"] == alias and got["alert_icu_day"] == want["alert_icu_day"] == 5
    for side in want["sides"]:
        for g, w in zip(got["sides"][side]["days"], want["sides"][side]["days"], strict=True):
            assert g["date"] is None
            assert {**g, "date": None} == {**w, "date": None}
    assert {k: v for k, v in got.items() if k not in ("patient", "sides")} == \
        {k: v for k, v in want.items() if k not in ("patient", "sides")}
    with pytest.raises(StoreError, match="pseudonym"):
        store.crimyne(PATIENT)
    # an anonymized store takes no identified study, and no other salt
    with pytest.raises(StoreError, match="anonymized"):
        store.add(other_analyses()[0])
    with pytest.raises(StoreError, match="another salt"):
        store.add(other_analyses()[0], anonymize=True, salt="other")
    assert _counts(path)["studies"] == 7
    store.close()
    with ResultsStore(tmp_path / "plain.sqlite") as plain:
        plain.add(other_analyses()[0])
        with pytest.raises(StoreError, match="identified"):
            plain.add(other_analyses()[1], anonymize=True)


def _without_icu_day(a, sha):
    ctx = dataclasses.replace(a.study.context, icu_day=None)
    study = dataclasses.replace(a.study, context=ctx)
    return dataclasses.replace(a, study=study, measurements=dataclasses.replace(a.measurements, study=study),
                               content_sha256=sha)


def test_anonymized_studies_without_icu_day_are_told_apart_by_their_manifest(tmp_path):
    a = other_analyses()[0]
    first, second = _without_icu_day(a, "a" * 64), _without_icu_day(a, "b" * 64)
    with ResultsStore(tmp_path / "anon.sqlite") as store:
        i1 = store.add(first, anonymize=True)
        i2 = store.add(second, anonymize=True)
        assert i1 != i2
        alias = pseudonym(a.study.patient.id)
        # no date, no ICU day, but the same manifest (source.manifest_id): a re-analysis, it supersedes
        assert list(store.studies(alias)["id"]) == [i2]
    with ResultsStore(tmp_path / "plain.sqlite") as store:  # identified: the date tells, the second supersedes
        i1 = store.add(first)
        i2 = store.add(second)
        assert list(store.studies(a.study.patient.id)["id"]) == [i2]


def test_locked_store_retries_then_gives_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    store = ResultsStore(path, timeout_s=0.05, retries=3)
    import edx.store as mod

    naps = []
    monkeypatch.setattr(mod.time, "sleep", lambda s: naps.append(s))
    with pytest.raises(StoreError, match="stayed locked"):
        store.add(series_analyses()[0])
    assert len(naps) == 2  # three attempts, a pause between each
    assert _counts(path)["studies"] == 0

    def release(_s):  # the other process commits while we wait
        naps.append(_s)
        if blocker.in_transaction:
            blocker.execute("COMMIT")

    naps.clear()
    monkeypatch.setattr(mod.time, "sleep", release)
    assert blocker.in_transaction  # still locked
    sid = store.add(series_analyses()[0])
    assert len(naps) == 1 and store.studies(PATIENT)["id"].tolist() == [sid]
    store.close()
    blocker.close()
