"""Outputs of an analysis: the versioned ``results.json`` document, tidy tables, and reports.

* :func:`analyze_study` -> :class:`StudyAnalysis` (``to_dict``, ``measurement_table``,
  ``evidence_table``);
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

__all__ = [
    "RESULTS_SCHEMA", "RESULTS_SCHEMA_VERSION", "StudyAnalysis", "analyze_study", "content_hash", "pseudonym",
    "resolve_manifest", "results_schema", "study_files", "OUTPUT_FILES", "read_results", "write_study_outputs",
]
