"""The results store: analysed studies in one SQLite file, for serial monitoring and queries.

:class:`ResultsStore` keeps what :func:`edx.analyze_study` produced for many studies and
patients in a single SQLite database (Python's own :mod:`sqlite3`; no server), so that
``edx analyze``/``edx batch --store PATH`` can append to it and ``edx trend PATIENT
--store PATH`` can follow a patient's daily studies (CRIMYNE) without the recordings.

Layout (schema version 2, kept in ``PRAGMA user_version``; ``PRAGMA application_id`` marks
the file as an edx store):

``meta``
    Key/value facts about the store: ``anonymized`` (``"0"``/``"1"``, fixed by the first
    study added) and ``salt_check`` (a pseudonym of a fixed text under the salt used, so
    that studies pseudonymized with another salt, which would split a patient in two, are
    refused).
``patients``
    One row per patient id (the pseudonym in an anonymized store): age, sex, height as
    last added.
``studies``
    One row per analysed study: patient, ``study_id`` (``PATIENT/DATE/dICU``), date, ICU
    day, manifest file name, ``content_sha256`` (unique), edx version, results-schema
    version, laboratory reference/criteria file names, ``added_utc``, ``superseded_by``,
    the interpreter's input (``summary_json``: :meth:`StudySummary.to_dict`, what CRIMYNE
    reads) and the whole ``results.json`` document (``document_json``).
``tests``
    One row per test of a study (id, type, nerve, muscle, side, temperature, sites, error).
``measurements``
    The tidy measurement rows of :meth:`StudyMeasurements.rows` (one per site, segment or
    train), each stored whole as JSON (``row_json``) with its test, site and status as
    columns.
``measure_values``
    Every numeric measure of every row in long format (measurement, measure, value, unit;
    the unit read from the column name: ``amplitude_mv`` is in mV), for queries in SQL.
    Added in version 2 and filled from ``row_json`` when an older store is opened.
``interpretations``
    One row per study: pattern, grade, summary, key evidence and evidence (JSON), and the
    interpretation document (JSON).

Adding a study (:meth:`ResultsStore.add`):

* The same ``content_sha256`` again adds nothing and returns the existing row id.
* A study is identified by (patient id, date, ICU day, manifest file name).  A new
  analysis of the same study with other content (changed recordings, a new edx version,
  other reference values) **supersedes** the current one: the old rows stay, for the
  record, with ``superseded_by`` pointing at the new study, and every query reads only
  current studies.  Adding a superseded analysis again makes it the current one again:
  the last analysis added wins.  An anonymized study without ICU day has no date either,
  so it cannot be told apart from another study of the same patient and never supersedes.
* ``anonymize=True`` stores only what the anonymized ``results.json`` document holds
  (pseudonym, no dates, file names without folders, free text withheld); the interpreter
  input is anonymized the same way and ``added_utc`` is left empty.  A store is either
  anonymized or not, with one salt: mixing is refused (:class:`StoreError`).

Concurrency: the database is in WAL mode (readers never block the writer), every write is
one ``BEGIN IMMEDIATE`` transaction (the write lock is taken first, so a transaction never
has to upgrade a read lock, which SQLite may refuse without waiting), lock waits use the
busy timeout and a transaction that still meets a locked database is retried a few times
with a random back-off.  Several processes may therefore add to one store at once (``edx
batch`` in two terminals, dask workers on one host).  Open one :class:`ResultsStore` per
process (and per thread); a connection must not cross a ``fork``.  WAL needs a local file
system: do not put the store on a network share (NFS/SMB) that several hosts write to.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import StoreError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .interpretation.inputs import StudySummary
    from .interpretation.serial import CrimyneResult
    from .report.results import StudyAnalysis

log = logging.getLogger("edx.store")

__all__ = ["ResultsStore", "SCHEMA_VERSION", "APPLICATION_ID", "measure_unit"]

#: layout version written to ``PRAGMA user_version``
SCHEMA_VERSION = 2
#: ``PRAGMA application_id`` of an edx results store ("EDXR")
APPLICATION_ID = 0x45445852

_T = TypeVar("_T")

# Version 1: studies, tests, the tidy rows as JSON, interpretations.
_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    """CREATE TABLE patients (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL UNIQUE,
        age_years REAL,
        sex TEXT,
        height_cm REAL)""",
    """CREATE TABLE studies (
        id INTEGER PRIMARY KEY,
        patient INTEGER NOT NULL REFERENCES patients(id),
        study_id TEXT NOT NULL,
        study_key TEXT,
        study_date TEXT,
        icu_day INTEGER,
        manifest TEXT,
        content_sha256 TEXT NOT NULL UNIQUE,
        edx_version TEXT NOT NULL,
        results_schema_version INTEGER NOT NULL,
        reference TEXT,
        criteria TEXT,
        anonymized INTEGER NOT NULL,
        added_utc TEXT,
        superseded_by INTEGER REFERENCES studies(id),
        summary_json TEXT NOT NULL,
        document_json TEXT NOT NULL)""",
    "CREATE INDEX studies_patient ON studies(patient, icu_day)",
    # one current analysis per study; NULL keys (unidentifiable studies) never collide
    "CREATE UNIQUE INDEX studies_current ON studies(study_key) WHERE superseded_by IS NULL",
    """CREATE TABLE tests (
        id INTEGER PRIMARY KEY,
        study INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
        test_id TEXT NOT NULL,
        type TEXT NOT NULL,
        nerve TEXT,
        muscle TEXT,
        side TEXT,
        recording_site TEXT,
        temperature_c REAL,
        sites_json TEXT NOT NULL,
        error TEXT,
        UNIQUE (study, test_id))""",
    """CREATE TABLE measurements (
        id INTEGER PRIMARY KEY,
        study INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
        test INTEGER NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
        row_index INTEGER NOT NULL,
        site TEXT,
        status TEXT,
        row_json TEXT NOT NULL,
        UNIQUE (study, row_index))""",
    "CREATE INDEX measurements_test ON measurements(test)",
    """CREATE TABLE interpretations (
        id INTEGER PRIMARY KEY,
        study INTEGER NOT NULL UNIQUE REFERENCES studies(id) ON DELETE CASCADE,
        pattern TEXT NOT NULL,
        grade TEXT,
        summary TEXT NOT NULL,
        key_evidence_json TEXT NOT NULL,
        evidence_json TEXT NOT NULL,
        document_json TEXT NOT NULL)""",
)

# Version 2: the numeric measures in long format, for SQL queries.
_V2 = (
    """CREATE TABLE measure_values (
        measurement INTEGER NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
        measure TEXT NOT NULL,
        value REAL NOT NULL,
        unit TEXT,
        PRIMARY KEY (measurement, measure)) WITHOUT ROWID""",
    "CREATE INDEX measure_values_measure ON measure_values(measure)",
)


def _create_v1(cur: sqlite3.Cursor) -> None:
    for sql in _V1:
        cur.execute(sql)


def _v1_to_v2(cur: sqlite3.Cursor) -> None:
    for sql in _V2:
        cur.execute(sql)
    rows = cur.execute("SELECT id, row_json FROM measurements").fetchall()
    for mid, row_json in rows:
        _insert_values(cur, mid, json.loads(row_json))
    if rows:
        log.info("store migration to version 2: numeric values of %d measurement rows filled in", len(rows))


#: ordered steps; step ``i`` takes a store from version ``i`` to ``i + 1``
_MIGRATIONS: tuple[Callable[[sqlite3.Cursor], None], ...] = (_create_v1, _v1_to_v2)

# unit of a measure by the end of its column name, longest first
_UNIT_SUFFIXES = (
    ("_per_s", "1/s"), ("_mvms", "mV·ms"), ("_uvms", "µV·ms"), ("_m_s", "m/s"), ("_pct", "%"), ("_hz", "Hz"),
    ("_mv", "mV"), ("_uv", "µV"), ("_ms", "ms"), ("_mm", "mm"), ("_ma", "mA"), ("_c", "°C"), ("_s", "s"),
    ("_z", "SD"),
)


def measure_unit(measure: str) -> str | None:
    """The unit of a measurement column, read from its name.

    Parameters
    ----------
    measure : str
        A column of the tidy measurement rows, e.g. ``"amplitude_mv"`` or ``"cv_m_s"``.

    Returns
    -------
    str or None
        ``"mV"``, ``"m/s"``, ... ; ``"sample"`` for the ``marker_*`` sample indices,
        ``"count"`` for ``n_*``; None for a dimensionless number (a ratio).
    """
    if measure.startswith("marker_"):
        return "sample"
    if measure.startswith("n_"):
        return "count"
    for suffix, unit in _UNIT_SUFFIXES:
        if measure.endswith(suffix):
            return unit
    return None


def _insert_values(cur: sqlite3.Cursor, measurement_id: int, row: Mapping[str, Any]) -> None:
    cur.executemany(
        "INSERT INTO measure_values (measurement, measure, value, unit) VALUES (?, ?, ?, ?)",
        [(measurement_id, k, float(v), measure_unit(k)) for k, v in row.items()
         if isinstance(v, int | float) and not isinstance(v, bool) and v == v])  # v == v: not NaN


def _locked(exc: sqlite3.Error) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """Analysed studies of many patients in one SQLite file (see the module documentation).

    Parameters
    ----------
    path : str or Path
        The database file.  Created (with its folder) when missing and ``create`` is true.
    create : bool
        False to refuse a missing file instead of creating an empty store (for readers).
    timeout_s : float
        How long one statement waits for another process's lock (SQLite busy timeout).
    retries : int
        How many times a write transaction is tried when the database stays locked.

    Raises
    ------
    edx.errors.StoreError
        The file is not an SQLite database, is an SQLite database of something else, was
        written by a newer edx (a higher schema version), or is missing and ``create`` is
        false.

    Examples
    --------
    >>> with ResultsStore("results.sqlite") as store:  # doctest: +SKIP
    ...     store.add(edx.analyze_study("day01.toml"))
    ...     store.crimyne("SIM-CRIMYNE-01").alert_icu_day
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout_s: float = 30.0, retries: int = 5) -> None:
        self.path = Path(path)
        self._retries = max(1, int(retries))
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a results store file")
        if not self.path.exists():
            if not create:
                raise StoreError(f"{self.path}: no results store there (add studies with `edx analyze --store` or "
                                 "`edx batch --store` first)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the results store: {exc}") from exc
        try:
            self._open(create)
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening and schema

    def _open(self, create: bool) -> None:
        # a store being created by another process is briefly locked in ways SQLite's busy
        # timeout does not cover (switching a new file to WAL needs an exclusive lock): retry
        for attempt in range(1, 4 * self._retries + 1):
            try:
                self._open_once(create)
                return
            except _LockedOnOpen as exc:
                if attempt == 4 * self._retries:
                    raise StoreError(f"{self.path}: cannot open the results store: {exc.__cause__}") from exc
                time.sleep(random.uniform(0.05, 0.25) * min(attempt, 8))

    def _open_once(self, create: bool) -> None:
        try:
            version, app, n_objects = self._identity()
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise _LockedOnOpen() from exc
            raise StoreError(f"{self.path}: not an SQLite database, or a damaged one ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not an SQLite database, or a damaged one ({exc})") from exc
        self._check_identity(version, app, n_objects)
        if version == 0 and not create:
            raise StoreError(f"{self.path}: an empty file, not a results store")
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise _LockedOnOpen() from exc
            raise StoreError(f"{self.path}: cannot open the results store: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the results store: {exc}") from exc
        if str(mode).lower() != "wal":
            log.warning("%s: journal mode is %s, not WAL: writers and readers wait for each other", self.path, mode)
        if version < SCHEMA_VERSION:
            self._write(self._migrate)

    def _identity(self) -> tuple[int, int, int]:
        """Schema version, application id and number of schema objects, read from one snapshot
        (another process may be creating or migrating the store between three separate reads)."""
        c = self._conn
        own = not c.in_transaction
        if own:
            c.execute("BEGIN")
        try:
            version = int(c.execute("PRAGMA user_version").fetchone()[0])
            app = int(c.execute("PRAGMA application_id").fetchone()[0])
            n_objects = int(c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        finally:
            if own and c.in_transaction:
                c.execute("COMMIT")
        return version, app, n_objects

    def _check_identity(self, version: int, app: int, n_objects: int) -> None:
        if version == 0 and app == 0 and n_objects == 0:
            return  # a new, empty database
        if app != APPLICATION_ID:
            raise StoreError(f"{self.path}: an SQLite database, but not an edx results store (application id "
                             f"{app:#x}, {n_objects} tables and indexes); give another file name")
        if version > SCHEMA_VERSION:
            from . import __version__

            raise StoreError(f"{self.path}: written by a newer edx (store schema version {version}; edx {__version__} "
                             f"reads up to version {SCHEMA_VERSION}): upgrade edx to use it")

    def _migrate(self, cur: sqlite3.Cursor) -> None:
        # re-read inside the write transaction: another process may have created or migrated it meanwhile
        version, app, n_objects = self._identity()
        self._check_identity(version, app, n_objects)
        for step in range(version, SCHEMA_VERSION):
            _MIGRATIONS[step](cur)
        if version < SCHEMA_VERSION:
            cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if version == 0:
                from . import __version__

                cur.execute("INSERT INTO meta (key, value) VALUES ('created_by', ?)", (f"edx {__version__}",))
                log.info("%s: new results store (schema version %d)", self.path, SCHEMA_VERSION)
            else:
                log.info("%s: results store migrated from schema version %d to %d", self.path, version,
                         SCHEMA_VERSION)

    @property
    def schema_version(self) -> int:
        """The store's layout version (``PRAGMA user_version``)."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ transactions

    def _write(self, work: Callable[[sqlite3.Cursor], _T]) -> _T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction, retried while the database is locked."""
        conn = self._conn
        for attempt in range(1, self._retries + 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn.cursor())
                conn.execute("COMMIT")
                return result
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _locked(exc):
                    if attempt < self._retries:
                        pause = random.uniform(0.05, 0.25) * attempt
                        log.info("%s: database locked (%s), retry %d of %d in %.2f s", self.path, exc, attempt,
                                 self._retries - 1, pause)
                        time.sleep(pause)
                        continue
                    raise StoreError(f"{self.path}: the results store stayed locked by another process "
                                     f"({self._retries} attempts): {exc}") from exc
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"{self.path}: results store write failed: {exc}") from exc
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the connection (the store stays consistent whether or not this is called)."""
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # ------------------------------------------------------------------ adding

    def add(self, analysis: StudyAnalysis, *, anonymize: bool = False, salt: str = "") -> int:
        """Store an analysed study; return its row id in ``studies``.

        Parameters
        ----------
        analysis : StudyAnalysis
            The result of :func:`edx.analyze_study`.
        anonymize : bool
            Store only the anonymized document (pseudonymous patient id, no dates, no folders).
        salt : str
            The laboratory's secret for the pseudonym (see :func:`edx.report.pseudonym`).

        Returns
        -------
        int
            The study's row id.  Adding the same content again (same ``content_sha256``)
            changes nothing and returns the existing id; a new analysis of a stored study
            supersedes it (module documentation).

        Raises
        ------
        edx.errors.StoreError
            The store is anonymized and this study is not (or the reverse), the salt differs
            from the store's, or the store stayed locked.
        """
        return self.add_document(analysis.to_dict(anonymize=anonymize, salt=salt), anonymize=anonymize, salt=salt)

    def add_document(self, document: Mapping[str, Any], *, anonymize: bool = False, salt: str = "") -> int:
        """Store a study from its ``results.json`` document (e.g. one written by ``edx batch``).

        Parameters
        ----------
        document : mapping
            The document as :meth:`edx.report.StudyAnalysis.to_dict` made it (read back from
            ``results.json``), with its ``interpreter_input``.
        anonymize, salt : bool, str
            How the document was made: an anonymized document goes only into an anonymized
            store made with the same salt.

        Returns
        -------
        int
            The study's row id (see :meth:`add`).

        Raises
        ------
        edx.errors.StoreError
            The document is not an edx results document this store reads, or as for :meth:`add`.
        """
        from .report.results import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION

        doc = dict(document)
        summary = doc.get("interpreter_input")
        if doc.get("schema") != RESULTS_SCHEMA or not isinstance(summary, dict):
            raise StoreError(f"{self.path}: not an edx results document with its interpreter input "
                             f"(schema {doc.get('schema')!r}); analyse the study again with this edx")
        if doc.get("schema_version") != RESULTS_SCHEMA_VERSION:
            raise StoreError(f"{self.path}: results document version {doc.get('schema_version')}, this edx reads "
                             f"version {RESULTS_SCHEMA_VERSION}: analyse the study again with this edx")
        if anonymize and doc["study"].get("date") is not None:
            raise StoreError(f"{self.path}: {doc['study_id']}: the document is not anonymized")
        doc.pop("outputs", None)
        return self._write(lambda cur: self._add(cur, doc, summary, anonymize, salt))

    def _add(self, cur: sqlite3.Cursor, doc: dict[str, Any], summary: dict[str, Any], anonymize: bool,
             salt: str) -> int:
        self._check_mode(cur, anonymize, salt)
        sha = doc["content_sha256"]
        found = cur.execute("SELECT id, superseded_by FROM studies WHERE content_sha256 = ?", (sha,)).fetchone()
        key = _study_key(doc)
        if found is not None:
            sid, superseded_by = found
            if superseded_by is None:
                log.info("%s: %s already stored (study %d)", self.path, doc["study_id"], sid)
                return int(sid)
            # an older analysis added again: it becomes the current one again
            cur.execute("UPDATE studies SET superseded_by = ? WHERE study_key = ? AND superseded_by IS NULL",
                        (sid, key))
            cur.execute("UPDATE studies SET superseded_by = NULL WHERE id = ?", (sid,))
            log.info("%s: %s: stored analysis %d is current again", self.path, doc["study_id"], sid)
            return int(sid)
        current = None
        if key is not None:
            row = cur.execute("SELECT id FROM studies WHERE study_key = ? AND superseded_by IS NULL", (key,)).fetchone()
            if row is not None:
                current = int(row[0])
                # out of the way of the one-current-per-study index until the new id is known
                cur.execute("UPDATE studies SET superseded_by = id WHERE id = ?", (current,))
        pid = self._upsert_patient(cur, doc["patient"])
        st = doc["study"]
        src = doc["source"]
        cur.execute(
            """INSERT INTO studies (patient, study_id, study_key, study_date, icu_day, manifest, content_sha256,
                   edx_version, results_schema_version, reference, criteria, anonymized, added_utc, summary_json,
                   document_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (pid, doc["study_id"], key, st["date"], st["icu_day"], _name(src["manifest"]), sha, doc["edx_version"],
             doc["schema_version"], src["reference"], src["criteria"], int(anonymize),
             None if anonymize else _now_utc(), json.dumps(summary), json.dumps(doc)))
        sid = int(cur.lastrowid or 0)
        if current is not None:
            cur.execute("UPDATE studies SET superseded_by = ? WHERE id = ?", (sid, current))
            log.info("%s: %s: new analysis %d supersedes %d", self.path, doc["study_id"], sid, current)
        self._insert_rows(cur, sid, doc)
        log.debug("%s: %s stored as study %d", self.path, doc["study_id"], sid)
        return sid

    def _check_mode(self, cur: sqlite3.Cursor, anonymize: bool, salt: str) -> None:
        from .report.results import pseudonym

        meta = dict(cur.execute("SELECT key, value FROM meta").fetchall())
        mode = "1" if anonymize else "0"
        if "anonymized" not in meta:
            cur.execute("INSERT INTO meta (key, value) VALUES ('anonymized', ?)", (mode,))
            if anonymize:
                cur.execute("INSERT INTO meta (key, value) VALUES ('salt_check', ?)",
                            (pseudonym("edx results store salt check", salt),))
            return
        if meta["anonymized"] != mode:
            raise StoreError(f"{self.path}: the store holds {'anonymized' if meta['anonymized'] == '1' else 'identified'}"
                             f" studies; add this one {'with' if meta['anonymized'] == '1' else 'without'} --anonymize,"
                             " or use another store")
        if anonymize and meta.get("salt_check") != pseudonym("edx results store salt check", salt):
            raise StoreError(f"{self.path}: the store's pseudonyms were made with another salt; the same patient "
                             "would appear under two ids: use the store's salt")

    @staticmethod
    def _upsert_patient(cur: sqlite3.Cursor, patient: Mapping[str, Any]) -> int:
        cur.execute(
            """INSERT INTO patients (patient_id, age_years, sex, height_cm) VALUES (?, ?, ?, ?)
               ON CONFLICT (patient_id) DO UPDATE SET age_years = excluded.age_years, sex = excluded.sex,
                   height_cm = excluded.height_cm""",
            (patient["id"], patient.get("age_years"), patient.get("sex"), patient.get("height_cm")))
        return int(cur.execute("SELECT id FROM patients WHERE patient_id = ?", (patient["id"],)).fetchone()[0])

    @staticmethod
    def _insert_rows(cur: sqlite3.Cursor, sid: int, doc: Mapping[str, Any]) -> None:
        test_ids: dict[str, int] = {}
        for t in doc["tests"]:
            cur.execute(
                """INSERT INTO tests (study, test_id, type, nerve, muscle, side, recording_site, temperature_c,
                       sites_json, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (sid, t["id"], t["type"], t["nerve"], t["muscle"], t["side"], t["recording_site"], t["temperature_c"],
                 json.dumps(t["sites"]), t["error"]))
            test_ids[t["id"]] = int(cur.lastrowid or 0)
        for i, row in enumerate(doc["measurements"]):
            cur.execute(
                "INSERT INTO measurements (study, test, row_index, site, status, row_json) VALUES (?, ?, ?, ?, ?, ?)",
                (sid, test_ids[row["test"]], i, row.get("site"), row.get("status"), json.dumps(row)))
            _insert_values(cur, int(cur.lastrowid or 0), row)
        it = doc["interpretation"]
        cur.execute(
            """INSERT INTO interpretations (study, pattern, grade, summary, key_evidence_json, evidence_json,
                   document_json) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (sid, it["pattern"], it["grade"], it["summary"], json.dumps(doc["key_evidence"]),
             json.dumps(it["evidence"]), json.dumps(it)))

    # ------------------------------------------------------------------ queries

    def patients(self) -> pd.DataFrame:
        """Every patient with current studies: id, age, sex, height, number of studies, first and
        last ICU day and date."""
        import pandas as pd

        cols = ["patient", "age_years", "sex", "height_cm", "n_studies", "first_icu_day", "last_icu_day",
                "first_date", "last_date"]
        rows = self._conn.execute(
            """SELECT p.patient_id, p.age_years, p.sex, p.height_cm, count(s.id), min(s.icu_day), max(s.icu_day),
                      min(s.study_date), max(s.study_date)
               FROM patients p JOIN studies s ON s.patient = p.id AND s.superseded_by IS NULL
               GROUP BY p.id ORDER BY p.patient_id""").fetchall()
        return pd.DataFrame(rows, columns=cols)

    def patient_ids(self) -> list[str]:
        """The ids of every patient with current studies, sorted."""
        return [r[0] for r in self._conn.execute(
            """SELECT DISTINCT p.patient_id FROM patients p JOIN studies s ON s.patient = p.id
               WHERE s.superseded_by IS NULL ORDER BY p.patient_id""")]

    def _patient(self, patient_id: str) -> int:
        row = self._conn.execute("SELECT id FROM patients WHERE patient_id = ?", (patient_id,)).fetchone()
        if row is not None:
            return int(row[0])
        known = self.patient_ids()
        close = difflib.get_close_matches(patient_id, known, n=3, cutoff=0.6)
        close += [k for k in known if k.lower() == patient_id.lower() and k not in close]
        if close:
            hint = "; did you mean " + " or ".join(repr(k) for k in close) + "?"
        elif not known:
            hint = "; the store holds no studies"
        else:
            hint = f"; the store holds {len(known)} patient{'s' if len(known) != 1 else ''}"
        anon = self._conn.execute("SELECT value FROM meta WHERE key = 'anonymized'").fetchone()
        if anon is not None and anon[0] == "1":
            hint += " (an anonymized store: give the pseudonym, edx.report.pseudonym(id, salt))"
        raise StoreError(f"{self.path}: no patient {patient_id!r} in the results store{hint}")

    def studies(self, patient_id: str, *, include_superseded: bool = False) -> pd.DataFrame:
        """A patient's studies, by ICU day then date.

        Parameters
        ----------
        patient_id : str
        include_superseded : bool
            Also list analyses replaced by a newer one (their ``superseded_by`` says by which).

        Returns
        -------
        pandas.DataFrame
            Columns ``id`` (row id), ``study``, ``study_date``, ``icu_day``, ``manifest``,
            ``content_sha256``, ``edx_version``, ``reference``, ``criteria``, ``added_utc``,
            ``superseded_by``, ``pattern``, ``grade``.

        Raises
        ------
        edx.errors.StoreError
            No such patient (the message names close matches).
        """
        import pandas as pd

        pid = self._patient(patient_id)
        cols = ["id", "study", "study_date", "icu_day", "manifest", "content_sha256", "edx_version", "reference",
                "criteria", "added_utc", "superseded_by", "pattern", "grade"]
        rows = self._conn.execute(
            f"""SELECT s.id, s.study_id, s.study_date, s.icu_day, s.manifest, s.content_sha256, s.edx_version,
                       s.reference, s.criteria, s.added_utc, s.superseded_by, i.pattern, i.grade
                FROM studies s LEFT JOIN interpretations i ON i.study = s.id
                WHERE s.patient = ? {"" if include_superseded else "AND s.superseded_by IS NULL"}
                ORDER BY s.icu_day, s.study_date, s.id""", (pid,)).fetchall()
        return pd.DataFrame(rows, columns=cols)

    def _current(self, patient_id: str | None, columns: str, join: str = "", join_args: tuple[Any, ...] = (),
                 then_by: str = "") -> list[tuple[Any, ...]]:
        """Rows of the current studies (of one patient or all), by patient, ICU day, date, id, then ``then_by``."""
        where, args = "s.superseded_by IS NULL", join_args
        if patient_id is not None:
            where += " AND s.patient = ?"
            args = (*join_args, self._patient(patient_id))
        return self._conn.execute(
            f"""SELECT {columns} FROM studies s JOIN patients p ON p.id = s.patient {join} WHERE {where}
                ORDER BY p.patient_id, s.icu_day, s.study_date, s.id{", " + then_by if then_by else ""}""",
            args).fetchall()

    def measurements(self, patient_id: str | None = None) -> pd.DataFrame:
        """The tidy measurement table of the current studies (of one patient, or all).

        The columns of :meth:`StudyAnalysis.measurement_table`: ``study``, ``patient``,
        ``study_date``, ``icu_day``, then test, type, nerve, muscle, side, site and every
        measure; lists and mappings as JSON text.
        """
        import pandas as pd

        from .report.results import _STUDY_COLUMNS, _cell, _complete

        rows = self._current(patient_id, "s.study_id, p.patient_id, s.study_date, s.icu_day, m.row_json",
                             "JOIN measurements m ON m.study = s.id", then_by="m.row_index")
        data = [{"study": sid, "patient": pat, "study_date": date, "icu_day": day,
                 **{k: _cell(v) for k, v in json.loads(rj).items()}} for sid, pat, date, day, rj in rows]
        first = [*_STUDY_COLUMNS, "test", "type", "nerve", "muscle", "side", "site"]
        return pd.DataFrame(_complete(data, first), columns=None if data else first)

    def measure_values(self, patient_id: str | None = None, measure: str | None = None) -> pd.DataFrame:
        """Numeric measures in long format: one row per study, test, site and measure.

        Parameters
        ----------
        patient_id : str, optional
        measure : str, optional
            Only this measure (e.g. ``"amplitude_mv"``).

        Returns
        -------
        pandas.DataFrame
            Columns ``study``, ``patient``, ``icu_day``, ``test``, ``nerve``, ``side``, ``site``,
            ``measure``, ``value``, ``unit``.
        """
        import pandas as pd

        join = ("JOIN measurements m ON m.study = s.id JOIN tests t ON t.id = m.test "
                "JOIN measure_values v ON v.measurement = m.id" + ("" if measure is None else " AND v.measure = ?"))
        cols = "s.study_id, p.patient_id, s.icu_day, t.test_id, t.nerve, t.side, m.site, v.measure, v.value, v.unit"
        rows = self._current(patient_id, cols, join, () if measure is None else (measure,), "m.row_index, v.measure")
        return pd.DataFrame(rows, columns=["study", "patient", "icu_day", "test", "nerve", "side", "site", "measure",
                                           "value", "unit"])

    def interpretations(self, patient_id: str | None = None) -> pd.DataFrame:
        """The interpretation of each current study (of one patient, or all).

        Returns
        -------
        pandas.DataFrame
            Columns ``study``, ``patient``, ``study_date``, ``icu_day``, ``pattern``, ``grade``,
            ``summary``, ``key_evidence`` (JSON text: list of statements), ``n_evidence``.
        """
        import pandas as pd

        rows = self._current(patient_id, "s.study_id, p.patient_id, s.study_date, s.icu_day, i.pattern, i.grade, "
                             "i.summary, i.key_evidence_json, json_array_length(i.evidence_json)",
                             "JOIN interpretations i ON i.study = s.id")
        return pd.DataFrame(rows, columns=["study", "patient", "study_date", "icu_day", "pattern", "grade", "summary",
                                           "key_evidence", "n_evidence"])

    def document(self, study: int) -> dict[str, Any]:
        """The stored ``results.json`` document of a study (by row id, as :meth:`add` returned it)."""
        row = self._conn.execute("SELECT document_json FROM studies WHERE id = ?", (int(study),)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no study with id {study}")
        return dict(json.loads(row[0]))

    def summaries(self, patient_id: str) -> list[StudySummary]:
        """What the interpreter reads of each current study of a patient, by ICU day then date."""
        from .interpretation.inputs import StudySummary

        rows = self._current(patient_id, "s.summary_json")
        return [StudySummary.from_dict(json.loads(r[0])) for r in rows]

    def crimyne(self, patient_id: str, *, reference: Any = None, criteria: Any = None) -> CrimyneResult:
        """CRIMYNE screening of a patient's stored daily studies (see :func:`edx.crimyne`).

        Parameters
        ----------
        patient_id : str
            The id as stored (the pseudonym in an anonymized store).
        reference, criteria : path or mapping, optional
            Laboratory reference values and criteria, as for :func:`edx.crimyne`.

        Raises
        ------
        edx.errors.StoreError
            No such patient (the message names close matches).
        """
        from .interpretation.serial import crimyne

        return crimyne(self.summaries(patient_id), reference=reference, criteria=criteria)


# ----------------------------------------------------------------------------- documents


def _name(path: str | None) -> str | None:
    return None if path is None else Path(path).name


class _LockedOnOpen(Exception):
    """The database was locked while the store was being opened (retried by ``_open``)."""


def _study_key(doc: Mapping[str, Any]) -> str | None:
    """What identifies a study across re-analyses: patient, date, ICU day and which manifest
    (``source.manifest_id``, a salted hash of its path; the file name in older documents)."""
    st = doc["study"]
    manifest = doc["source"].get("manifest_id") or _name(doc["source"]["manifest"])
    if st["date"] is None and st["icu_day"] is None and not doc["source"].get("manifest_id"):
        return None  # anonymized without ICU day: nothing tells two studies of one patient apart
    return json.dumps([doc["patient"]["id"], st["date"], st["icu_day"], manifest])