"""Outputs of an analysis: the versioned ``results.json`` document, tidy tables, and reports.

* :func:`analyze_study` -> :class:`StudyAnalysis` (``to_dict``, ``measurement_table``,
  ``evidence_table``);
* :func:`render_html` (the self-contained HTML report of a :class:`StudyAnalysis`);
* :func:`write_study_outputs` (atomic ``results.json``, CSV tables, ``report.html``);
* :func:`content_hash`, :func:`pseudonym`, :func:`results_schema`.
"""

from .results import (
    RESULTS_SCHEMA,
    RESULTS_SCHEMA_VERSION,
    StudyAnalysis,
    analyze_study,
    content_hash,
    pseudonym,
    resolve_manifest,
    results_schema,
    study_files,
)
from .outputs import OUTPUT_FILES, read_results, write_study_outputs



def __getattr__(name: str) -> object:
    """``render_html`` on first use (it imports jinja2; matplotlib only when drawing)."""
    if name == "render_html":
        from .html import render_html

        return render_html
    raise AttributeError(f"module 'edx.report' has no attribute {name!r}")


__all__ = [
    "RESULTS_SCHEMA", "RESULTS_SCHEMA_VERSION", "StudyAnalysis", "analyze_study", "content_hash", "pseudonym",
    "resolve_manifest", "results_schema", "study_files", "OUTPUT_FILES", "read_results", "write_study_outputs", "render_html",
]
