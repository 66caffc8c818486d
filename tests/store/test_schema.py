"""Opening a results store: new, older (migrated), newer, foreign and broken files."""

from __future__ import annotations

import sqlite3

import pytest

import edx.store as mod
from edx.errors import StoreError
from edx.store import APPLICATION_ID, SCHEMA_VERSION, ResultsStore

from ._data import PATIENT, newer_store, series_analyses


def _schema(con):
    return sorted(r for r in con.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def _values(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT measurement, measure, value, unit FROM measure_values "
                           "ORDER BY measurement, measure").fetchall()
    finally:
        con.close()


def test_version_1_store_is_migrated_on_open(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        for a in series_analyses()[:3]:
            store.add(a)
    values = _values(path)
    assert len(values) > 50
    # turn it into what edx wrote at schema version 1: no long-format values table
    con = sqlite3.connect(path)
    con.execute("DROP TABLE measure_values")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    v1 = sqlite3.connect(":memory:")
    mod._create_v1(v1.cursor())
    assert _schema(con) == _schema(v1)  # exactly the version 1 layout
    con.close()
    with ResultsStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert _values(path) == values  # filled in from the stored rows
        amp = store.measure_values(PATIENT, "amplitude_mv")
        assert len(amp[amp["nerve"] == "peroneal"]) == 6
        store.add(series_analyses()[3])  # and usable as a version 2 store
        assert len(store.studies(PATIENT)) == 4


def test_failed_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.add(series_analyses()[0])

    def broken_step(cur):
        cur.execute("CREATE TABLE half_done (x)")
        cur.execute("UPDATE studies SET icu_day = 99")
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(mod, "_MIGRATIONS", (*mod._MIGRATIONS, broken_step))
    monkeypatch.setattr(mod, "SCHEMA_VERSION", 3)
    with pytest.raises(StoreError, match="simulated"):
        ResultsStore(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    assert con.execute("SELECT icu_day FROM studies").fetchall() == [(1,)]
    con.close()


def test_store_of_a_newer_edx_is_refused(tmp_path):
    with pytest.raises(StoreError, match="newer edx"):
        ResultsStore(newer_store(tmp_path / "r.sqlite"))


def test_text_file_is_not_a_store(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are not the droids you are looking for\n" * 200)
    with pytest.raises(StoreError, match="not an SQLite database"):
        ResultsStore(path)
    assert path.read_text().startswith("these are not")


def test_other_sqlite_database_is_not_a_store_and_is_left_alone(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an edx results store"):
        ResultsStore(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    assert con.execute("PRAGMA user_version").fetchone()[0] == 0
    con.close()
    con = sqlite3.connect(tmp_path / "app.db")  # someone else's application id, even without tables
    con.execute("PRAGMA application_id = 1234")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an edx results store"):
        ResultsStore(tmp_path / "app.db")


def test_readers_do_not_create_stores(tmp_path):
    with pytest.raises(StoreError, match="no results store there"):
        ResultsStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    (tmp_path / "empty.sqlite").touch()
    with pytest.raises(StoreError, match="empty file"):
        ResultsStore(tmp_path / "empty.sqlite", create=False)
    with pytest.raises(StoreError, match="is a folder"):
        ResultsStore(tmp_path)


def test_opening_an_existing_store_does_not_write(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.add(series_analyses()[0])
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")  # a writer busy elsewhere must not stop a reader from opening
    with ResultsStore(path, create=False, timeout_s=0.05, retries=1) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert len(store.studies(PATIENT)) == 1
    con.execute("ROLLBACK")
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    con.close()
