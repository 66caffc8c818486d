"""Write a study's outputs to a folder, every file atomically.

``results.json`` (the versioned document), ``measurements.csv`` and ``evidence.csv`` (tidy
tables) and ``report.html`` (the self-contained clinical report).  Each file is written to
a temporary name beside it and renamed when complete, so an interrupted run leaves either
the previous file or the new one, never half of one.  ``results.json`` is written last: its
presence with the right content hash is what ``edx batch --resume`` takes as "done".
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from .._atomic import atomic_path, write_text_atomic
from .results import StudyAnalysis, evidence_records, measurement_records

log = logging.getLogger("edx.report")

__all__ = ["OUTPUT_FILES", "write_study_outputs", "read_results"]

#: the files :func:`write_study_outputs` writes, by kind
OUTPUT_FILES = {"json": "results.json", "measurements": "measurements.csv", "evidence": "evidence.csv",
                "html": "report.html"}


def write_study_outputs(
    analysis: StudyAnalysis,
    out_dir: str | Path,
    *,
    anonymize: bool = False,
    salt: str = "",
    html: bool = True,
) -> dict[str, Path]:
    """Write ``results.json``, ``measurements.csv``, ``evidence.csv`` and (``html=True``)
    ``report.html`` for one analysed study into ``out_dir`` (created if needed).

    Parameters
    ----------
    analysis : StudyAnalysis
    out_dir : path
    anonymize : bool
        Pseudonymous patient id, no dates, file names without folders, free text withheld
        (see :mod:`edx.report.results`); applies to every file written.
    salt : str
        Secret mixed into the pseudonym (see :func:`edx.report.pseudonym`).
    html : bool
        Also write the HTML report (the slowest output: one figure per response).

    Returns
    -------
    dict of str to Path
        The files written, by kind (``"json"``, ``"measurements"``, ``"evidence"``, ``"html"``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    doc = analysis.to_dict(anonymize=anonymize, salt=salt)  # once: every file is made from this document
    for kind, rows in (("measurements", measurement_records(doc)), ("evidence", evidence_records(doc))):
        with atomic_path(out / OUTPUT_FILES[kind]) as tmp:
            _write_csv(tmp, rows)
        written[kind] = out / OUTPUT_FILES[kind]
    if html:
        from .html import render_html

        written["html"] = write_text_atomic(out / OUTPUT_FILES["html"],
                                            render_html(analysis, anonymize=anonymize, salt=salt, document=doc))
    doc["outputs"] = {k: p.name for k, p in written.items()}
    written["json"] = write_text_atomic(out / OUTPUT_FILES["json"], json.dumps(doc, indent=2, allow_nan=False) + "\n")
    log.debug("wrote %s", ", ".join(str(p) for p in written.values()))
    return written


def _write_csv(path: Path, rows: list[dict]) -> None:
    """Rows with identical keys to CSV (None as an empty cell, floats at full precision)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in rows)


def read_results(path: str | Path) -> dict:
    """Read a ``results.json`` (a file or the folder holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / OUTPUT_FILES["json"]
    return json.loads(p.read_text(encoding="utf-8"))
