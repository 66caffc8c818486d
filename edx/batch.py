"""Analyse every study under a folder, in parallel, on one machine or a dask cluster.

:func:`run_batch` finds every study manifest (and, optionally, every bare recording) under
a folder, analyses each one (:func:`edx.report.analyze_study`) and writes its outputs
(:func:`edx.report.write_study_outputs`), then gathers every study's measurements in one
tidy table.  It returns a :class:`BatchSummary` and writes it as ``batch.json``.

What is analysed
----------------
* Every ``*.toml`` file under the folder that reads as a study manifest: a TOML file
  with a ``[patient]``, ``[study]`` or ``[[tests]]`` table.  Any other TOML file (a
  laboratory's reference values, a ``pyproject.toml``) is listed as *skipped*.  A
  manifest-like file that does not validate, or a file that is not TOML at all, is a
  *failure* with its error.
* With ``bare_type`` set, every recording with an extension edx reads
  (:func:`edx.supported_extensions`) that no manifest found names.  A WFDB ``.dat`` (or
  ``.mat``) beside its ``.hea``, a BrainVision ``.eeg`` beside its ``.vhdr``, and the
  same-stem siblings of a manifest's files are not separate recordings.  A bare
  recording becomes a one-test study (:func:`bare_study`) of that type.
* Hidden files and folders (names starting with ``.``) and the output folder itself are
  never searched.  Inputs are processed and reported in the order of their paths.

Outputs
-------
``OUT/<study>/`` holds ``results.json``, ``measurements.csv``, ``evidence.csv`` and
(``html=True``) ``report.html``, where ``<study>`` is the study's path below the folder:
the folder of a ``study.toml`` (``cim``), the manifest without ``.toml`` otherwise
(``crimyne/day03``), the file name of a bare recording (``extra/ulnar.edf``).  With
``anonymize=True`` folder names can carry patient names, so each study's folder is
``anon-<12 hex digits>`` instead, a salted hash of its path.  At the end ``OUT/`` gets

* ``measurements.parquet`` (``measurements.csv`` when pyarrow is not installed): every
  measurement of every study that is done, including the studies ``resume`` skipped (read
  back from their ``measurements.csv``), one row per site, segment or train, with the
  columns ``study``, ``patient``, ``study_date``, ``icu_day``, ``test``, ``type``,
  ``nerve``, ``muscle``, ``side``, ``site`` and every measure;
* ``batch.json``: one entry per input with its status (``ok``, ``failed``, ``skipped``,
  ``resumed``), the error type and message of a failure, the output folder and the
  seconds it took.  With ``anonymize=True`` it is the only file that names the inputs:
  it links pseudonymous outputs back to them, so keep it inside the laboratory.

Every file is written to a temporary name and renamed when complete, and a study's
``results.json`` is written last: a batch killed at any moment leaves complete files
or none (at most hidden ``.*.tmp`` files), and ``resume=True`` counts a study as done
when its ``results.json`` has the content hash of the current inputs
(:func:`edx.report.content_hash`: manifest, data files, edx version, reference and
criteria files; for a bare recording also its type), was written with the same
anonymization (patient id or pseudonym) and lists every output now asked for.  A study
whose data changed is analysed again.

Parallel runs
-------------
``jobs=1`` analyses in this process (easy to debug).  ``jobs>1`` uses a
:class:`concurrent.futures.ProcessPoolExecutor` (``forkserver`` start method where
available, else ``spawn``; never ``fork``, which is unsafe with threads and numba);
each worker process analyses a study, writes its outputs and returns a small
:class:`BatchItem`.  If a worker process dies (crash, out of memory), the studies that
were in flight are run again one at a time in fresh processes: the one that kills its
process is reported as failed, every other study completes.

Running on a dask cluster
-------------------------
``scheduler="tcp://HOST:8786"`` (``edx batch DIR --scheduler tcp://HOST:8786``) sends the
same per-study function to an existing ``dask.distributed`` cluster
(``pip install "edx[cluster]"``); the outputs are identical to a local run.  How a
hospital points it at its cluster:

1. On one node start the scheduler: ``dask scheduler --port 8786`` (its dashboard, if
   wanted, on ``--dashboard-address :8787``).
2. On every compute node start workers that connect to it, one single-threaded process
   per core: ``dask worker tcp://SCHEDULER-HOST:8786 --nworkers auto --nthreads 1``
   (single-threaded workers: the HTML report draws with matplotlib).  On an HPC cluster
   ``dask-jobqueue`` (SLURM, PBS) or on Kubernetes ``dask-kubernetes`` starts the same
   workers; any way of starting them works.
3. Install the same edx version (and the same Python packages) on every worker and on
   the machine that runs ``edx batch``; ``run_batch`` refuses a cluster whose workers
   report another edx version.
4. Put the study folders and the output folder on a file system every worker mounts
   under the same path (NFS, SMB, a cluster file system): the workers read the
   recordings and write the outputs themselves; only the file names and a small summary
   per study travel through dask.  ``run_batch`` checks that every worker sees the
   study folder.  Laboratory ``reference``/``criteria`` files must be on it too.
5. Firewall: the client must reach the scheduler's port (8786) and the workers'
   ports, and the workers must reach the scheduler and each other; pin the worker ports
   with ``--worker-port``/``--nanny-port`` ranges where a firewall needs fixed ports.
   Run the cluster inside the hospital network only (or configure TLS with
   ``--tls-*``/a ``Security`` object): tasks carry file paths, and the pseudonym salt
   with ``anonymize=True``.

Progress is reported through callbacks, never printed: ``on_progress(done, total,
item)`` (called once with ``done=0`` and ``item=None`` before the first study) and
``on_result(results_json)`` for each study whose outputs are complete (``ok`` or
``resumed``), both in the calling process.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import logging
import multiprocessing
import os
import time
import tomllib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._atomic import atomic_path, write_text_atomic
from .errors import DependencyError, EdxError

if TYPE_CHECKING:  # pragma: no cover
    from .model import Study
    from .report import StudyAnalysis

log = logging.getLogger("edx.batch")

__all__ = ["BATCH_SCHEMA", "BARE_TYPES", "BatchItem", "BatchSummary", "bare_study", "discover", "run_batch"]

#: name and version of the ``batch.json`` layout
BATCH_SCHEMA = "edx-batch"
BATCH_SCHEMA_VERSION = 1

#: test type of a bare recording, by ``bare_type``
BARE_TYPES = {"motor": "motor", "sensory": "sensory", "rest": "needle_rest", "minimal": "needle_minimal",
              "maximal": "needle_maximal"}

#: a file of these types names its data file(s) by its own stem (WFDB, BrainVision)
_HEADER_EXTENSIONS = (".hea", ".vhdr")
#: top-level tables that make a TOML file a study manifest
_MANIFEST_KEYS = ("patient", "study", "tests")

Status = Literal["ok", "failed", "skipped", "resumed"]
Kind = Literal["manifest", "recording", "other"]


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BatchItem:
    """What happened to one input of a batch.

    Attributes
    ----------
    input : str
        The input's path relative to the batch folder (``/``-separated).
    kind : {"manifest", "recording", "other"}
        A study manifest, a bare recording, or a file that is not a study.
    status : {"ok", "failed", "skipped", "resumed"}
        ``ok``: analysed and written; ``resumed``: its outputs were already current;
        ``skipped``: not a study (see ``note``); ``failed``: see ``error``.
    output : str or None
        The study's output folder relative to the output folder.
    study_id : str or None
        The study's id in the outputs (``PATIENT/DATE/dDAY``, pseudonymous when anonymized).
    content_sha256 : str or None
        The inputs' content hash recorded in ``results.json``.
    seconds : float
        Time spent on this input in its worker (analysis and writing, or the resume check).
    cpu_seconds : float
        CPU time the worker process spent on it (below ``seconds`` when the machine is busy
        with other work or the worker waited for the disk).
    tests_not_measured : int
        Tests of a finished study that could not be measured (their errors are in results.json).
    error_type, error : str or None
        The exception's class name and message, for a failure (the message's first line
        says what is wrong; a manifest's further lines list each problem).
    note : str or None
        Why an input was skipped.
    """

    input: str
    kind: Kind
    status: Status
    output: str | None = None
    study_id: str | None = None
    content_sha256: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    tests_not_measured: int = 0
    error_type: str | None = None
    error: str | None = None
    note: str | None = None

    @property
    def done(self) -> bool:
        """True when the study's outputs are complete and current (``ok`` or ``resumed``)."""
        return self.status in ("ok", "resumed")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the entry of ``batch.json``)."""
        return {**dataclasses.asdict(self), "seconds": round(self.seconds, 4),
                "cpu_seconds": round(self.cpu_seconds, 4)}


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of :func:`run_batch` (written as ``OUT/batch.json``).

    Attributes
    ----------
    root, out_dir : Path
        The folder searched and the output folder.
    items : tuple of BatchItem
        One per input found, in path order.
    table : Path or None
        The tidy measurement table of every finished study (None when no study finished).
    seconds : float
        Wall-clock time of the whole batch.
    options : dict
        The options the batch ran with (never the pseudonym salt).
    started : str
        UTC start time, ISO 8601.
    """

    root: Path
    out_dir: Path
    items: tuple[BatchItem, ...]
    table: Path | None
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    started: str = ""

    def counts(self) -> dict[str, int]:
        """Number of inputs per status (every status present, zero or not)."""
        out = dict.fromkeys(("ok", "failed", "skipped", "resumed"), 0)
        for it in self.items:
            out[it.status] += 1
        return out

    @property
    def failed(self) -> tuple[BatchItem, ...]:
        """The inputs that failed."""
        return tuple(it for it in self.items if it.status == "failed")

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.failed

    @property
    def studies_per_minute(self) -> float | None:
        """Studies analysed (status ``ok``) per minute of wall-clock time; None if none was."""
        n = self.counts()["ok"]
        return n * 60.0 / self.seconds if n and self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """The ``batch.json`` document."""
        from . import __version__

        spm = self.studies_per_minute
        return {
            "schema": BATCH_SCHEMA,
            "schema_version": BATCH_SCHEMA_VERSION,
            "edx_version": __version__,
            "root": str(self.root),
            "out_dir": str(self.out_dir),
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "studies_per_minute": None if spm is None else round(spm, 2),
            "options": self.options,
            "counts": self.counts(),
            "table": None if self.table is None else self.table.name,
            "items": [it.to_dict() for it in self.items],
        }


# ----------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _Task:
    """One study to analyse: everything a worker needs, as plain picklable values."""

    path: str  # absolute
    rel: str  # relative to the batch folder, '/'-separated
    kind: Kind
    out: str  # absolute output folder
    out_rel: str
    resume: bool
    anonymize: bool
    salt: str
    html: bool
    reference: str | None
    criteria: str | None
    bare_type: str | None


@dataclass(frozen=True)
class _Found:
    """An input found under the batch folder."""

    path: Path
    rel: str
    kind: Kind
    note: str | None = None  # why it is skipped (kind "other")


def discover(root: str | Path, *, bare_type: str | None = "motor",
             exclude: Sequence[str | Path] = ()) -> list[tuple[str, str, str | None]]:
    """The inputs :func:`run_batch` would process under ``root``, in order.

    Parameters
    ----------
    root : path
        The folder to search (recursively).
    bare_type : str or None
        As in :func:`run_batch`: None leaves bare recordings out.
    exclude : sequence of paths
        Folders not to search (the output folder).

    Returns
    -------
    list of (str, str, str or None)
        ``(relative path, kind, note)`` per input: kind ``"manifest"``, ``"recording"`` or
        ``"other"`` (a TOML file that is not a study, with the reason as note).
    """
    return [(f.rel, f.kind, f.note) for f in _discover(Path(root), bare_type=bare_type, exclude=[Path(p) for p in exclude])]


def _discover(root: Path, *, bare_type: str | None, exclude: Sequence[Path]) -> list[_Found]:
    root_abs = Path(os.path.abspath(root))
    skip_dirs = {os.path.normcase(os.path.abspath(p)) for p in exclude}
    exts = set(_supported_extensions())
    tomls: list[Path] = []
    recordings: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root_abs):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.normcase(os.path.join(dirpath, d)) not in skip_dirs)
        for name in filenames:
            if name.startswith("."):
                continue
            p = Path(dirpath, name)
            suffix = p.suffix.lower()
            if suffix == ".toml":
                tomls.append(p)
            elif suffix in exts and p.is_file():
                recordings.append(p)

    found: list[_Found] = []
    referenced: set[str] = set()  # absolute, normalized paths the manifests name
    for m in tomls:
        rel = _rel(m, root_abs)
        try:
            doc = tomllib.loads(m.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            # cannot tell whether it is meant as a manifest: the worker's read_manifest says what is wrong
            found.append(_Found(m, rel, "manifest"))
            continue
        if not any(k in doc for k in _MANIFEST_KEYS):
            keys = ", ".join(sorted(doc)[:5]) or "nothing"
            found.append(_Found(m, rel, "other", note=f"not a study manifest (no [patient], [study] or [[tests]]; "
                                                      f"it holds {keys})"))
            continue
        found.append(_Found(m, rel, "manifest"))
        referenced.update(_manifest_files(doc, m.parent))

    if bare_type is not None:
        headers = {(str(p.parent), p.stem) for p in recordings if p.suffix.lower() in _HEADER_EXTENSIONS}
        named = {(os.path.dirname(r), Path(r).stem) for r in referenced}
        for p in recordings:
            if p.suffix.lower() not in _HEADER_EXTENSIONS and _has_stem_in(p, headers):
                continue  # the data file of a WFDB / BrainVision header
            if os.path.normpath(str(p)) in referenced or _has_stem_in(p, named):
                continue  # a manifest reads it (or reads it with a same-stem sibling, as study_files counts)
            found.append(_Found(p, _rel(p, root_abs), "recording"))
    found.sort(key=lambda f: f.rel)
    return found


def _supported_extensions() -> list[str]:
    from .io import supported_extensions

    return list(supported_extensions())


def _rel(p: Path, root: Path) -> str:
    return Path(os.path.relpath(p, root)).as_posix()


def _manifest_files(doc: dict[str, Any], folder: Path) -> set[str]:
    """Data files a (parsed, maybe invalid) manifest names, as absolute normalized paths."""
    out: set[str] = set()
    tests = doc.get("tests")
    for t in tests if isinstance(tests, list) else ():
        sites = t.get("sites") if isinstance(t, dict) else None
        for s in sites if isinstance(sites, list) else ():
            f = s.get("file") if isinstance(s, dict) else None
            if isinstance(f, str) and f:
                out.add(os.path.normpath(os.path.join(os.path.abspath(folder), f)))
    return out


def _has_stem_in(p: Path, stems: set[tuple[str, str]]) -> bool:
    """Whether ``p`` is ``STEM.*`` beside a file of one of the (folder, stem) pairs."""
    parent = str(p.parent)
    return any((parent, p.name[:i]) in stems for i, c in enumerate(p.name) if c == "." and i > 0)


def _output_names(found: Sequence[_Found], anonymize: bool, salt: str, root: Path) -> dict[str, str]:
    """Output sub-folder of every study, by its relative input path (unique)."""
    names: dict[str, str] = {}
    for f in found:
        if f.kind == "other":
            continue
        if anonymize:
            names[f.rel] = "anon-" + hashlib.sha256(f"{salt}\0{f.rel}".encode()).hexdigest()[:12]
        elif f.kind == "recording":
            names[f.rel] = f.rel
        elif f.path.name == "study.toml":
            parent = Path(f.rel).parent.as_posix()
            names[f.rel] = parent if parent != "." else (Path(os.path.abspath(root)).name or "study")
        else:
            names[f.rel] = Path(f.rel).with_suffix("").as_posix()
    taken: dict[str, list[str]] = {}
    for rel, name in names.items():
        taken.setdefault(name, []).append(rel)
    for name, rels in taken.items():
        if len(rels) > 1:  # e.g. a/study.toml and a.toml: the latter keeps its file name
            for rel in rels:
                if not rel.endswith("/study.toml") and rel != "study.toml":
                    names[rel] = rel
    if len(set(names.values())) != len(names):  # pragma: no cover - only by contrived names
        raise EdxError("two inputs map to the same output folder: " +
                       ", ".join(sorted(r for r, n in names.items() if list(names.values()).count(n) > 1)))
    return names


# ----------------------------------------------------------------------------- bare recordings


def bare_study(path: str | Path, kind: str = "motor", *, patient_id: str | None = None,
               test_id: str | None = None) -> Study:
    """A one-test study of a bare recording (no manifest), measured like ``edx measure --type``.

    Parameters
    ----------
    path : path
        The recording (any format :func:`edx.load` reads, one voltage channel).
    kind : {"motor", "sensory", "rest", "minimal", "maximal"}
        Motor or sensory conduction (one site per sweep, named ``sweep 0``, ``sweep 1``, ...;
        continuous data is cut around its stimuli), or needle EMG at rest, minimal or
        maximal effort (the whole recording as one site).
    patient_id : str, optional
        The study's patient id; default the file name.  Nerve, muscle, side and distances
        are unknown, so no conduction velocity is computed and the interpretation is
        limited to what one unlabelled test can say.
    test_id : str, optional
        The test's id; default the file name without its extension (``edx batch --anonymize``
        names it by its type instead: file names can carry names and dates).

    Returns
    -------
    Study
        Dated by the recording's start date, else the file's modification date (UTC).

    Raises
    ------
    edx.errors.EdxError
        The file cannot be read, has no single voltage channel, or (conduction) holds no
        sweep and no detectable stimulus.
    """
    from .io import load
    from .manifest import load_site
    from .model import ClinicalContext, DataRef, Patient, StimulationSite, Study, TestSpec, TestType

    if kind not in BARE_TYPES:
        raise ValueError(f"kind must be one of {', '.join(BARE_TYPES)}, got {kind!r}")
    p = Path(os.path.abspath(path))
    ttype = TestType(BARE_TYPES[kind])
    rec = load(p, detect_stimulus=False)
    if rec.start_datetime is not None:
        date = rec.start_datetime.date()
    else:
        date = _dt.datetime.fromtimestamp(p.stat().st_mtime, tz=_dt.timezone.utc).date()
    patient = Patient(id=patient_id or p.name)
    tid = test_id or p.stem

    def study(sites: tuple[StimulationSite, ...]) -> Study:
        return Study(patient=patient, date=date, context=ClinicalContext(),
                     tests=(TestSpec(id=tid, type=ttype, sites=sites),))

    whole = study((StimulationSite(name="needle" if ttype.is_needle else "sweeps", data=DataRef(file=p)),))
    if ttype.is_needle:
        return whole
    n = len(load_site(whole, tid, 0).sweeps)
    return study(tuple(StimulationSite(name=f"sweep {i}", data=DataRef(file=p, sweeps=(i,))) for i in range(n)))


# ----------------------------------------------------------------------------- one study (worker side)


def _process_task(task: _Task) -> BatchItem:
    """Analyse one study and write its outputs (or find them current); never raises for
    a bad study: the error is returned in the item."""
    t0, c0 = time.perf_counter(), time.process_time()
    base = {"input": task.rel, "kind": task.kind, "output": task.out_rel}
    try:
        item = _analyse_and_write(task)
    except Exception as exc:  # noqa: BLE001 - one study's failure, whatever it is, must not stop the batch
        if not isinstance(exc, EdxError):
            log.debug("%s: unexpected error", task.path, exc_info=True)
        item = BatchItem(**base, status="failed", error_type=type(exc).__name__, error=_message(exc))
    return dataclasses.replace(item, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)


def _analyse_and_write(task: _Task) -> BatchItem:
    from .report import analyze_study, content_hash, pseudonym, write_study_outputs
    from .report.outputs import OUTPUT_FILES

    out = Path(task.out)
    base = {"input": task.rel, "kind": task.kind, "output": task.out_rel}
    reference = None if task.reference is None else Path(task.reference)
    criteria = None if task.criteria is None else Path(task.criteria)
    extra: list[Any] = [reference, criteria]
    if task.kind == "manifest":
        from .manifest import read_manifest

        study = read_manifest(task.path)
    else:
        # anonymized: the test is named by its type, not by the file (file names carry names and dates)
        study = bare_study(task.path, task.bare_type or "motor", patient_id=task.rel,
                           test_id=f"{task.bare_type or 'motor'}-recording" if task.anonymize else None)
        extra.append(f"edx batch bare recording, type {task.bare_type}")
    # the hash analyze_study records, computed here when needed before the analysis (resume) or
    # when it must also cover the bare recording's type
    sha = content_hash(study, extra=extra) if task.resume or task.kind == "recording" else None

    if sha is not None and task.resume:
        doc = _current_results(out, sha, pseudonym(study.patient.id, task.salt) if task.anonymize
                               else study.patient.id, task.html)
        if doc is not None:
            return BatchItem(**base, status="resumed", study_id=doc.get("study_id"), content_sha256=sha,
                             tests_not_measured=_tests_not_measured(doc))

    analysis: StudyAnalysis = analyze_study(study, reference=reference, criteria=criteria)
    if sha is not None and analysis.content_sha256 != sha:
        analysis = dataclasses.replace(analysis, content_sha256=sha)
    if not task.html:  # a report left by an earlier run would not match these outputs
        with contextlib.suppress(FileNotFoundError):
            (out / OUTPUT_FILES["html"]).unlink()
    written = write_study_outputs(analysis, out, anonymize=task.anonymize, salt=task.salt, html=task.html)
    doc = json.loads(written["json"].read_text(encoding="utf-8"))
    return BatchItem(**base, status="ok", study_id=doc.get("study_id"), content_sha256=analysis.content_sha256,
                     tests_not_measured=_tests_not_measured(doc))


def _current_results(out: Path, sha: str, patient_id: str, html: bool) -> dict[str, Any] | None:
    """The study's ``results.json`` if it is current: same content hash, written with the
    same anonymization, listing every output asked for, all of them present."""
    from .report.outputs import OUTPUT_FILES

    try:
        doc = json.loads((out / OUTPUT_FILES["json"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("content_sha256") != sha:
        return None
    if (doc.get("patient") or {}).get("id") != patient_id:
        return None
    outputs = doc.get("outputs") or {}
    need = {"measurements", "evidence"} | ({"html"} if html else set())
    if not need <= set(outputs) or not all((out / str(name)).is_file() for name in outputs.values()):
        return None
    return doc


def _tests_not_measured(doc: dict[str, Any]) -> int:
    return sum(1 for t in doc.get("tests") or () if isinstance(t, dict) and t.get("error"))


def _message(exc: BaseException) -> str:
    """The exception's message (its first line is the one-line summary), capped in length."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 4000 else text[:3997] + "..."


def _init_worker(level: int) -> None:
    """Worker process start: forward edx's log messages to stderr when the caller wants them
    below WARNING (``edx -v``); otherwise workers stay quiet (their findings are in the outputs)."""
    if level < logging.WARNING:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s[%(process)d]: %(message)s")


def _worker_facts(root: str) -> dict[str, Any]:
    """What a dask worker reports before the batch: its edx version and whether it sees the folder."""
    from . import __version__

    return {"edx_version": __version__, "sees_root": os.path.isdir(root)}


# ----------------------------------------------------------------------------- runners (caller side)

_Emit = Callable[[int, BatchItem], None]


def _mp_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_serial(tasks: Sequence[_Task], emit: _Emit, work: Callable[[_Task], BatchItem]) -> None:
    for i, t in enumerate(tasks):
        emit(i, work(t))


def _run_local(tasks: Sequence[_Task], jobs: int, emit: _Emit,
               work: Callable[[_Task], BatchItem] = _process_task) -> None:
    """Run ``work`` over ``tasks`` in a process pool; a dead worker process costs only its study.

    At most ``2 * jobs`` tasks are in flight.  When the pool breaks, those tasks are run
    again one at a time, each in a fresh one-process pool: a task that breaks its pool
    alone is the culprit and is reported failed; the others complete.  Then the remaining
    tasks continue on a fresh pool.
    """
    ctx = _mp_context()
    level = logging.getLogger("edx").getEffectiveLevel()
    pending: deque[int] = deque(range(len(tasks)))
    suspects: deque[int] = deque()
    while pending or suspects:
        if suspects:
            i = suspects.popleft()
            emit(i, _run_isolated(tasks[i], ctx, level, work))
            continue
        n = max(1, min(jobs, len(pending)))
        running: dict[Future[BatchItem], int] = {}
        pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(level,))
        broken = False
        try:
            while (pending or running) and not broken:
                while pending and len(running) < 2 * n:
                    i = pending.popleft()
                    try:
                        running[pool.submit(work, tasks[i])] = i
                    except BrokenProcessPool:
                        pending.appendleft(i)
                        broken = True
                        break
                if broken or not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        item = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    emit(running.pop(fut), item)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if broken:
            log.warning("a worker process died; running its %d in-flight studies again one by one", len(running))
            for fut, i in running.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    emit(i, fut.result())
                else:
                    suspects.append(i)
            suspects = deque(sorted(suspects))


def _run_isolated(task: _Task, ctx: multiprocessing.context.BaseContext, level: int,
                  work: Callable[[_Task], BatchItem]) -> BatchItem:
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker, initargs=(level,)) as pool:
        try:
            return pool.submit(work, task).result()
        except BrokenProcessPool:
            return BatchItem(input=task.rel, kind=task.kind, status="failed", output=task.out_rel,
                             error_type="WorkerDied",
                             error=f"{task.path}: the worker process analysing this study died (a crash in "
                                   "native code, or killed, e.g. out of memory); no outputs written")


def _run_dask(tasks: Sequence[_Task], scheduler: Any, root: Path, emit: _Emit) -> None:
    """Submit every task to a dask.distributed cluster and collect the items as they finish."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise DependencyError("--scheduler needs dask.distributed: pip install \"edx[cluster]\"") from exc
    from . import __version__

    own = isinstance(scheduler, str)
    if own:
        try:
            client = Client(scheduler, set_as_default=False, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise EdxError(f"cannot reach the dask scheduler at {scheduler}: {_message(exc)}; "
                           "check the address (tcp://HOST:PORT), that the scheduler runs and the firewall") from exc
    else:
        client = scheduler
    try:
        facts = client.run(_worker_facts, str(root))
        if not facts:
            raise EdxError(f"the dask cluster at {client.scheduler.address} has no workers")
        wrong = {w: f["edx_version"] for w, f in facts.items() if f["edx_version"] != __version__}
        if wrong:
            raise EdxError(f"dask workers run another edx version than this client ({__version__}): "
                           + ", ".join(f"{w} has {v}" for w, v in sorted(wrong.items()))
                           + "; install the same edx on every worker")
        blind = sorted(w for w, f in facts.items() if not f["sees_root"])
        if blind:
            raise EdxError(f"dask workers {', '.join(blind)} do not see {root}: the study and output folders must "
                           "be on a file system every worker mounts under the same path")
        futures = {client.submit(_process_task, t, pure=False): i for i, t in enumerate(tasks)}
        for fut in as_completed(futures, loop=client.loop):
            i = futures[fut]
            try:
                item = fut.result()
            except Exception as exc:  # noqa: BLE001 - the cluster lost the task (KilledWorker, ...)
                t = tasks[i]
                item = BatchItem(input=t.rel, kind=t.kind, status="failed", output=t.out_rel,
                                 error_type=type(exc).__name__, error=f"{t.path}: dask: {_message(exc)}")
            emit(i, item)
    finally:
        if own:
            client.close()


# ----------------------------------------------------------------------------- the batch


def run_batch(
    root: str | Path,
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    anonymize: bool = False,
    salt: str = "",
    html: bool = True,
    reference: str | Path | None = None,
    criteria: str | Path | None = None,
    bare_type: str | None = "motor",
    on_progress: Callable[[int, int, BatchItem | None], None] | None = None,
    on_result: Callable[[Path], None] | None = None,
) -> BatchSummary:
    """Analyse every study under ``root`` and write the outputs to ``out_dir``.

    Parameters
    ----------
    root : path
        Folder searched recursively for study manifests and bare recordings (see the
        module docstring for what counts).
    out_dir : path
        Output folder (created): one sub-folder per study, the tidy table and
        ``batch.json``.  It is never searched for inputs, even inside ``root``.
    jobs : int, optional
        Worker processes on this machine (default: every core this process may use);
        1 runs in this process.  Ignored with ``scheduler``.
    scheduler : str or distributed.Client, optional
        A dask scheduler address (``"tcp://HOST:8786"``) or a connected client: run the
        studies on that cluster instead.
    resume : bool
        Skip studies whose outputs are current (reported ``resumed``).
    anonymize : bool
        Pseudonymous patient ids, no dates, no folder names, no free text in every output
        (:meth:`edx.report.StudyAnalysis.to_dict`); study folders named by a hash.
    salt : str
        The laboratory's secret for pseudonyms (:func:`edx.report.pseudonym`).
    html : bool
        Write each study's HTML report (the slowest output).
    reference, criteria : path, optional
        A laboratory's reference values and criteria overrides (TOML files).
    bare_type : {"motor", "sensory", "rest", "minimal", "maximal"} or None
        How bare recordings are measured (:func:`bare_study`); None leaves them out.
    on_progress : callable, optional
        ``on_progress(done, total, item)`` after each study (``item`` its
        :class:`BatchItem`), and once before the first with ``done=0, item=None``.
    on_result : callable, optional
        ``on_result(results_json_path)`` for each study whose outputs are complete (status
        ``ok`` or ``resumed``), in this process, as they finish; e.g. to add it to a
        results store.  If it raises, the study is reported failed (its outputs stay) and
        the batch goes on.

    Returns
    -------
    BatchSummary
        Also written to ``out_dir/batch.json``.

    Raises
    ------
    edx.errors.MissingFileError
        ``root`` (or a reference/criteria file) does not exist.
    edx.errors.DependencyError
        ``html=True`` without the HTML report module, or ``scheduler`` without dask.distributed.
    edx.errors.EdxError
        The dask scheduler cannot be reached or its workers cannot run this batch.
    OSError
        The output folder, table or ``batch.json`` cannot be written.
    """
    import importlib.util

    from .errors import MissingFileError

    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    root_p = Path(os.path.abspath(root))
    out_p = Path(os.path.abspath(out_dir))
    if not root_p.is_dir():
        raise MissingFileError(f"{root}: folder not found" if not root_p.exists() else f"{root}: not a folder")
    for name, lab in (("reference", reference), ("criteria", criteria)):
        if lab is not None and not Path(lab).is_file():
            raise MissingFileError(f"{lab}: {name} file not found")
    # a malformed laboratory file is one error before any work, not the same error for every study
    from .interpretation.reference import load_criteria, load_reference

    load_reference(reference)
    load_criteria(criteria)
    if bare_type is not None and bare_type not in BARE_TYPES:
        raise ValueError(f"bare_type must be one of {', '.join(BARE_TYPES)} or None, got {bare_type!r}")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if html and importlib.util.find_spec("edx.report.html") is None:
        raise DependencyError("HTML reports are not available in this edx (no edx.report.html); "
                              "run without them (html=False, --no-html)")
    out_p.mkdir(parents=True, exist_ok=True)

    found = _discover(root_p, bare_type=bare_type, exclude=[out_p])
    names = _output_names(found, anonymize, salt, root_p)
    items: list[BatchItem | None] = [None] * len(found)
    tasks: list[_Task] = []
    slots: list[int] = []  # index into items of each task
    for k, f in enumerate(found):
        if f.kind == "other":
            items[k] = BatchItem(input=f.rel, kind="other", status="skipped", note=f.note)
        else:
            tasks.append(_Task(path=str(f.path), rel=f.rel, kind=f.kind, out=str(out_p / names[f.rel]),
                               out_rel=names[f.rel], resume=resume, anonymize=anonymize, salt=salt, html=html,
                               reference=None if reference is None else os.path.abspath(reference),
                               criteria=None if criteria is None else os.path.abspath(criteria),
                               bare_type=bare_type if f.kind == "recording" else None))
            slots.append(k)
    n_jobs = jobs or _cpu_count()
    log.info("batch %s -> %s: %d studies, %d other files, %s", root_p, out_p, len(tasks),
             len(found) - len(tasks), f"dask {scheduler}" if scheduler is not None else f"{n_jobs} job(s)")

    done = 0
    total = len(tasks)

    def emit(i: int, item: BatchItem) -> None:
        nonlocal done
        if item.done and on_result is not None:
            try:
                on_result(out_p / item.output / "results.json")  # type: ignore[operator]
            except Exception as exc:  # noqa: BLE001 - a store failure is this study's failure, not the batch's
                log.error("%s: on_result failed: %s", item.input, exc)
                item = dataclasses.replace(item, status="failed", error_type=type(exc).__name__,
                                           error=f"outputs written, but on_result failed: {_message(exc)}")
        items[slots[i]] = item
        done += 1
        if item.status == "failed":
            log.info("%s failed: %s", item.input, item.error)
        if on_progress is not None:
            on_progress(done, total, item)

    if on_progress is not None:
        on_progress(0, total, None)
    if scheduler is not None:
        _run_dask(tasks, scheduler, root_p, emit)
    elif n_jobs == 1 or total <= 1:
        _run_serial(tasks, emit, _process_task)
    else:
        _run_local(tasks, n_jobs, emit)

    final = tuple(it for it in items if it is not None)
    table = _write_table(out_p, [it for it in final if it.done])
    options = {"jobs": None if scheduler is not None else n_jobs,
               "scheduler": None if scheduler is None else _address(scheduler),
               "resume": resume, "anonymize": anonymize, "html": html,
               "reference": None if reference is None else str(reference),
               "criteria": None if criteria is None else str(criteria), "bare_type": bare_type}
    summary = BatchSummary(root=root_p, out_dir=out_p, items=final, table=table,
                           seconds=time.perf_counter() - t0, options=options, started=started)
    write_text_atomic(out_p / "batch.json", json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _address(scheduler: Any) -> str:
    if isinstance(scheduler, str):
        return scheduler
    with contextlib.suppress(Exception):
        return str(scheduler.scheduler.address)
    return repr(scheduler)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- the tidy table


def _write_table(out_dir: Path, items: Sequence[BatchItem]) -> Path | None:
    """Every finished study's ``measurements.csv`` in one table (Parquet with pyarrow, else CSV).

    The per-study CSVs are read as text and joined, and the column types are inferred once
    over the whole table, so a column is numeric only when every study's values are.
    """
    import importlib.util

    import pandas as pd

    from .report.outputs import OUTPUT_FILES

    rows: list[dict[str, str]] = []
    columns: dict[str, None] = {}  # every study's columns, in order of first appearance
    n_studies = 0
    for it in items:
        p = out_dir / str(it.output) / OUTPUT_FILES["measurements"]
        try:
            with open(p, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                got = list(reader)
        except OSError as exc:
            log.warning("%s: not in the table: %s", p, exc)
            continue
        if reader.fieldnames:
            columns.update(dict.fromkeys(reader.fieldnames))
        if got:
            rows.extend(got)
            n_studies += 1
    parquet = importlib.util.find_spec("pyarrow") is not None
    target = out_dir / ("measurements.parquet" if parquet else "measurements.csv")
    if not rows:
        for stale in (out_dir / "measurements.parquet", out_dir / "measurements.csv"):
            stale.unlink(missing_ok=True)  # a table of an earlier batch would pass for this one's
        return None
    # one CSV text of all rows, parsed once: column types are inferred over the whole table
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=list(columns), restval="")
    w.writeheader()
    w.writerows(rows)
    text.seek(0)
    table = pd.read_csv(text, keep_default_na=False, na_values=[""], low_memory=False)
    with atomic_path(target) as tmp:
        if parquet:
            table.to_parquet(tmp, index=False, engine="pyarrow")
        else:
            table.to_csv(tmp, index=False)
    log.info("table of %d rows from %d studies: %s", len(table), n_studies, target)
    return target

