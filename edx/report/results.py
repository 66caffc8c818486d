"""One study analysed end to end, as a versioned results document and tidy tables.

:func:`analyze_study` loads a manifest, measures every test and interprets the study;
the :class:`StudyAnalysis` it returns turns into

* the ``results.json`` document (:meth:`StudyAnalysis.to_dict`): schema name and version,
  edx version, the inputs' content hash, patient and study header, every measurement as
  a tidy row, and the interpretation with its evidence (JSON Schema:
  ``edx/data/results.schema.json``, :func:`results_schema`);
* tidy tables (:meth:`StudyAnalysis.measurement_table`, :meth:`StudyAnalysis.evidence_table`)
  for CSV and Parquet, one row per site, segment or train with the study and patient
  columns in front.

``anonymize=True`` replaces the patient id by a pseudonym (a hash of the id, so one
patient's studies stay linked), drops the study date, reduces file paths to file names,
withholds free text (test notes, biopsy text) and finally scrubs every remaining string
of the original id and date.  The EDF header's patient and recording fields never enter
the outputs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EdxError, ManifestError
from ..model import Study

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..interpretation import Interpretation
    from ..measure.study import StudyMeasurements

log = logging.getLogger("edx.report")

__all__ = [
    "RESULTS_SCHEMA",
    "RESULTS_SCHEMA_VERSION",
    "StudyAnalysis",
    "analyze_study",
    "content_hash",
    "study_files",
    "pseudonym",
    "results_schema",
    "resolve_manifest",
]

#: name and version of the ``results.json`` layout; bump the version on any change that
#: renames or removes a key (adding keys keeps it)
RESULTS_SCHEMA = "edx-results"
RESULTS_SCHEMA_VERSION = 1

#: what free text (notes, biopsy report) becomes in anonymized outputs
_WITHHELD = "[withheld: --anonymize]"

_STUDY_COLUMNS = ("study", "patient", "study_date", "icu_day")
_EVIDENCE_COLUMNS = (*_STUDY_COLUMNS, "pattern", "grade", "rule", "statement", "value", "limit", "unit", "comparison",
                     "weight", "supports", "against", "tests", "source")


def resolve_manifest(path: str | Path) -> Path:
    """The manifest file of ``path``: the file itself, or ``study.toml`` in a study folder.

    Raises
    ------
    edx.errors.ManifestError
        ``path`` is a folder without a ``study.toml``.
    """
    p = Path(path)
    if p.is_dir():
        m = p / "study.toml"
        if not m.is_file():
            raise ManifestError(f"{p}: folder has no study.toml (give the manifest file itself)")
        return m
    return p


def study_files(study: Study) -> list[Path]:
    """Every file a study reads: its manifest and each site's data file with its same-stem siblings
    (a WFDB ``.dat`` beside its ``.hea``, a BrainVision ``.eeg`` beside its ``.vhdr``), sorted."""
    files: set[Path] = set()
    if study.manifest_path is not None:
        files.add(Path(study.manifest_path).resolve())
    for test in study.tests:
        for site in test.sites:
            f = Path(site.data.file).resolve()
            files.add(f)
            if f.parent.is_dir():
                files.update(p.resolve() for p in f.parent.glob(f"{_glob_escape(f.stem)}.*") if p.is_file())
    return sorted(files)


def _glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in s)


def content_hash(study: Study, *, extra: Iterable[str | Path | bytes | None] = ()) -> str:
    """SHA-256 (hex) of everything a study's results depend on.

    The manifest and data files (names relative to the manifest folder, and bytes), the
    edx version, and each item of ``extra`` (a laboratory's reference or criteria file:
    its bytes; a string or bytes: as given).  A changed file, a new edx version or other
    reference values give a new hash, so ``edx batch --resume`` redoes the study.
    """
    from .. import __version__

    h = hashlib.sha256()
    h.update(f"edx {__version__}\0".encode())
    root = Path(study.manifest_path).resolve().parent if study.manifest_path else None
    for f in study_files(study):
        name = str(f.relative_to(root)) if root is not None and f.is_relative_to(root) else f.name
        h.update(name.encode() + b"\0")
        try:
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            h.update(b"<missing>")
        h.update(b"\0")
    for item in extra:
        if item is None:
            continue
        if isinstance(item, bytes):
            h.update(item)
        elif isinstance(item, Path) or (isinstance(item, str) and Path(item).is_file()):
            h.update(Path(item).read_bytes())
        else:
            h.update(str(item).encode())
        h.update(b"\0")
    return h.hexdigest()


def pseudonym(patient_id: str, salt: str = "") -> str:
    """A stable pseudonym for a patient id: ``"anon-"`` and 12 hex digits of a salted SHA-256.

    Stable so that one patient's studies stay linked across anonymized outputs; pass a
    laboratory's secret ``salt`` so that short or sequential ids cannot be recovered by
    hashing every candidate.
    """
    return "anon-" + hashlib.sha256(f"{salt}\0{patient_id}".encode()).hexdigest()[:12]


def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (``edx/data/results.schema.json``)."""
    from importlib.resources import files

    return json.loads(files("edx").joinpath("data/results.schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class StudyAnalysis:
    """A study measured and interpreted.

    Attributes
    ----------
    study : Study
    measurements : StudyMeasurements
    interpretation : Interpretation
    content_sha256 : str
        :func:`content_hash` of the inputs (manifest, data files, edx version, laboratory files).
    reference, criteria : str or None
        The laboratory reference-value and criteria files used, when given as files.
    """

    study: Study
    measurements: StudyMeasurements
    interpretation: Interpretation
    content_sha256: str
    reference: str | None = None
    criteria: str | None = None

    @property
    def study_id(self) -> str:
        """``PATIENT/DATE`` plus the ICU day when known: how tables and the store name this study."""
        return _study_id(self.study.patient.id, self.study.date, self.study.context.icu_day)

    def to_dict(self, *, anonymize: bool = False, salt: str = "") -> dict[str, Any]:
        """The ``results.json`` document (plain JSON types; NaN becomes null)."""
        from .. import __version__

        st = self.study
        it = self.interpretation.to_dict()
        temps = [t.temperature_c for t in st.tests if t.temperature_c is not None]
        doc: dict[str, Any] = {
            "schema": RESULTS_SCHEMA,
            "schema_version": RESULTS_SCHEMA_VERSION,
            "edx_version": __version__,
            "study_id": self.study_id,
            "content_sha256": self.content_sha256,
            "source": {
                "manifest": None if st.manifest_path is None else str(st.manifest_path),
                # which manifest, without saying where it is: tells apart two studies of one
                # patient and day (an NCS and a needle manifest) in anonymized outputs too
                "manifest_id": None if st.manifest_path is None
                else pseudonym(str(Path(st.manifest_path).resolve()), salt)[5:],
                "files": [str(f) for f in study_files(st)],
                "reference": self.reference,
                "criteria": self.criteria,
            },
            "patient": {"id": st.patient.id, "age_years": st.patient.age_years, "sex": st.patient.sex,
                        "height_cm": st.patient.height_cm},
            "study": {
                "date": st.date.isoformat(),
                "icu_day": st.context.icu_day,
                "temperature_min_c": min(temps) if temps else None,
                "temperature_max_c": max(temps) if temps else None,
                "context": _plain(dataclasses.asdict(st.context)),
            },
            "tests": [{"id": t.id, "type": t.type.value, "nerve": t.nerve, "muscle": t.muscle, "side": t.side,
                       "recording_site": t.recording_site, "temperature_c": t.temperature_c,
                       "sites": [s.name for s in t.sites], "notes": t.notes or None,
                       "error": tm.error}
                      for t, tm in zip(st.tests, self.measurements.tests, strict=True)],
            "measurements": _plain(self.measurements.rows()),
            "interpretation": _plain(it),
            "key_evidence": [e.statement for e in self.interpretation.key_evidence()],
            "interpreter_input": self._interpreter_input(),
        }
        if anonymize:
            doc = _anonymize(doc, st, salt)
        return doc

    def _interpreter_input(self) -> dict[str, Any]:
        from ..interpretation.inputs import summarize

        return _plain(summarize(self.measurements).to_dict())

    def measurement_records(self, *, anonymize: bool = False, salt: str = "") -> list[dict[str, Any]]:
        """The rows of :meth:`measurement_table` as plain dicts, every row with every column
        (missing values None), columns in table order; no pandas needed."""
        return measurement_records(self.to_dict(anonymize=anonymize, salt=salt))

    def evidence_records(self, *, anonymize: bool = False, salt: str = "") -> list[dict[str, Any]]:
        """The rows of :meth:`evidence_table` as plain dicts (see :meth:`measurement_records`)."""
        return evidence_records(self.to_dict(anonymize=anonymize, salt=salt))

    def measurement_table(self, *, anonymize: bool = False, salt: str = "") -> pd.DataFrame:
        """Every measurement as one tidy table: study columns, then test, type, nerve, muscle,
        side, site and every measure (units in the column names); lists and mappings are
        JSON text so the table writes to CSV and Parquet alike."""
        import pandas as pd

        return pd.DataFrame(self.measurement_records(anonymize=anonymize, salt=salt))

    def evidence_table(self, *, anonymize: bool = False, salt: str = "") -> pd.DataFrame:
        """The interpretation's evidence, one row per finding (rule, statement, value, limit,
        comparison, source, tests), with the study's pattern and grade in front."""
        import pandas as pd

        rows = self.evidence_records(anonymize=anonymize, salt=salt)
        return pd.DataFrame(rows, columns=None if rows else list(_EVIDENCE_COLUMNS))


def analyze_study(
    source: str | Path | Study,
    *,
    reference: str | Path | Mapping[str, Any] | None = None,
    criteria: str | Path | Mapping[str, Any] | None = None,
) -> StudyAnalysis:
    """Load, measure and interpret one study.

    Parameters
    ----------
    source : path or Study
        A manifest, a study folder holding ``study.toml``, or a loaded :class:`edx.Study`.
    reference, criteria : path or mapping, optional
        A laboratory's reference values and criteria overrides (see :func:`edx.interpret`).

    Returns
    -------
    StudyAnalysis

    Raises
    ------
    edx.errors.EdxError
        The manifest cannot be read or the laboratory files are invalid.  A test whose
        recording is bad does not raise: it is kept with its error, and the
        interpretation says it was not measured.
    """
    from ..interpretation import interpret
    from ..manifest import read_manifest
    from ..measure.study import measure_study

    study = source if isinstance(source, Study) else read_manifest(resolve_manifest(source))
    extra: list[Any] = []
    for lab in (reference, criteria):
        extra.append(json.dumps(lab, sort_keys=True, default=str) if isinstance(lab, Mapping) else lab)
    sha = content_hash(study, extra=extra)
    sm = measure_study(study)
    it = interpret(sm, reference=reference, criteria=criteria)
    return StudyAnalysis(study, sm, it, sha,
                         reference=None if reference is None or isinstance(reference, Mapping) else str(reference),
                         criteria=None if criteria is None or isinstance(criteria, Mapping) else str(criteria))


def measurement_records(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Tidy measurement rows of a ``results.json`` document (see :meth:`StudyAnalysis.measurement_table`)."""
    head = {"study": doc["study_id"], "patient": doc["patient"]["id"], "study_date": doc["study"]["date"],
            "icu_day": doc["study"]["icu_day"]}
    rows = [{**head, **{k: _cell(v) for k, v in r.items()}} for r in doc["measurements"]]
    return _complete(rows, [*_STUDY_COLUMNS, "test", "type", "nerve", "muscle", "side", "site"])


def evidence_records(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Tidy evidence rows of a ``results.json`` document (see :meth:`StudyAnalysis.evidence_table`)."""
    it = doc["interpretation"]
    head = {"study": doc["study_id"], "patient": doc["patient"]["id"], "study_date": doc["study"]["date"],
            "icu_day": doc["study"]["icu_day"], "pattern": it["pattern"], "grade": it["grade"]}
    rows = [{**head, **{k: _cell(v) for k, v in e.items()}} for e in it["evidence"]]
    return _complete(rows, list(_EVIDENCE_COLUMNS))


# ----------------------------------------------------------------------------- helpers


def _study_id(patient: str, date: _dt.date | str | None, icu_day: int | None) -> str:
    parts = [patient]
    if date is not None:
        parts.append(date.isoformat() if isinstance(date, _dt.date) else date)
    if icu_day is not None:
        parts.append(f"d{icu_day}")
    return "/".join(parts)


def _plain(obj: Any) -> Any:
    """JSON-able copy: tuples to lists, NaN/inf to None, dates to ISO text, Paths to text."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj) if isinstance(obj, set | frozenset) else obj
        return [_plain(v) for v in items]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, _dt.date | _dt.datetime):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return _plain(obj.item())
    if hasattr(obj, "value") and not isinstance(obj, int | str | bool):  # Enum
        return obj.value
    return obj


def _cell(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True) if v else None
    return v


def _complete(rows: list[dict[str, Any]], first: list[str]) -> list[dict[str, Any]]:
    """Give every row every column: ``first`` (those present) in order, then the others by first appearance."""
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    cols = [c for c in first if c in seen] + [c for c in seen if c not in first]
    return [{c: r.get(c) for c in cols} for r in rows]


def _anonymize(doc: dict[str, Any], st: Study, salt: str) -> dict[str, Any]:
    pid = st.patient.id
    alias = pseudonym(pid, salt)
    doc["patient"]["id"] = alias
    doc["study"]["date"] = None
    doc["study_id"] = _study_id(alias, None, st.context.icu_day)
    src = doc["source"]
    src["manifest"] = None if src["manifest"] is None else Path(src["manifest"]).name
    # data file names can carry names, ids and dates: neutral names, the extension kept
    src["files"] = [f"file{k}{Path(f).suffix}" for k, f in enumerate(src["files"], 1)]
    for key in ("reference", "criteria"):
        if src[key] is not None:
            src[key] = Path(src[key]).name
    ctx = doc["study"]["context"]
    if ctx.get("biopsy"):
        ctx["biopsy"] = _WITHHELD
    for t in doc["tests"]:
        if t["notes"]:
            t["notes"] = _WITHHELD
    summary = doc.get("interpreter_input")
    if isinstance(summary, dict):
        summary["patient"]["id"] = alias
        summary["date"] = None
        if summary["context"].get("biopsy"):
            summary["context"]["biopsy"] = _WITHHELD
        if summary.get("source"):
            summary["source"] = Path(summary["source"]).name
    it = doc["interpretation"]
    if isinstance(it.get("patient"), dict):
        it["patient"]["id"] = alias
    if isinstance(it.get("context"), dict) and it["context"].get("biopsy"):
        it["context"]["biopsy"] = _WITHHELD
    secrets = {pid: alias, st.date.isoformat(): "[date withheld]",
               st.date.strftime("%d.%m.%Y"): "[date withheld]", st.date.strftime("%d/%m/%Y"): "[date withheld]",
               st.date.strftime("%m/%d/%Y"): "[date withheld]"}
    if st.manifest_path is not None:
        folder = str(Path(st.manifest_path).resolve().parent)
        secrets[folder] = "."
        secrets[str(Path(st.manifest_path).parent)] = "."
    if st.context.biopsy:  # the biopsy report, wherever the interpretation quotes it
        secrets[st.context.biopsy] = _WITHHELD
    if not _scrubbable(pid):
        del secrets[pid]  # a short number would also hit measurements ("42 mV"); replaced where it is a field
    pattern = re.compile("|".join(rf"(?<![A-Za-z0-9.]){re.escape(s)}(?![A-Za-z0-9])" if s == pid else re.escape(s)
                                  for s in sorted(secrets, key=len, reverse=True)))  # longest first
    return _scrub(doc, pattern, secrets)


def _scrubbable(pid: str) -> bool:
    """Whether an id is distinctive enough to search for in free text."""
    return len(pid) >= 3 and (not pid.isdigit() or len(pid) >= 6)


def _scrub(obj: Any, pattern: re.Pattern[str], secrets: Mapping[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: _scrub(v, pattern, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v, pattern, secrets) for v in obj]
    if isinstance(obj, str):
        return _PATH.sub(r"\1", pattern.sub(lambda m: secrets[m.group(0)], obj))
    return obj


#: a file path in free text ("./Doe_Jane_raw/ulnar.edf", "/data/x/y.edf"): only its last part is kept
_PATH = re.compile(r"(?<![\w.])\.{0,2}/(?:[^\s/:'\"]+/)*([^\s/:'\"]+)")


def _error_document(path: str | Path, exc: EdxError) -> dict[str, Any]:
    """What a batch records for a study that could not be analysed at all."""
    return {"path": str(path), "error": str(exc), "error_type": type(exc).__name__}
