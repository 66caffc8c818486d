"""edx — electrodiagnosis of ICU-acquired weakness.

Public API (heavy dependencies load on first use, never at ``import edx``):

* loading: :func:`load`, :func:`from_array`, :func:`from_mne`, :func:`from_neo`,
  :func:`read_manifest`, :func:`read_series`, :func:`load_site`, :func:`cut_sweeps`
* data model: :class:`Recording`, :class:`Trace`, :class:`Sweep`, :class:`Response`,
  :class:`Stimulus`, :class:`Annotation`, :class:`Study`, :class:`TestSpec`, ...
* measuring nerve conduction: :func:`measure_cmap`, :func:`measure_snap`,
  :func:`conduction_velocity`, :func:`sensory_velocity`, :func:`measure_fwaves`, :func:`rns_decrement`,
  :func:`dms_ratio`, :func:`measure_study`
* needle EMG: :func:`detect_spontaneous`, :class:`SpontaneousDetector` (streaming),
  :func:`grade_muscle`, :func:`analyze_mups`, :func:`interference_pattern`
* interpretation: :func:`interpret` (pattern, grade, evidence), :func:`crimyne` (serial
  peroneal alert), :func:`pent`, :func:`two_nerve_screen`, :func:`load_reference`,
  :func:`load_criteria`, :func:`summarize`
* outputs: :func:`analyze_study` (load + measure + interpret -> :class:`StudyAnalysis`,
  the ``results.json`` document and tidy tables), :func:`write_study_outputs`
* plots (matplotlib Axes, for notebooks; :mod:`edx.plot`): :func:`plot_response`,
  :func:`plot_responses`, :func:`plot_test`, :func:`plot_spontaneous`,
  :func:`plot_mup_templates`, :func:`plot_interference`, :func:`plot_crimyne`
* errors: :class:`EdxError` and its subclasses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .errors import (
    DependencyError,
    EdxError,
    FormatError,
    ManifestError,
    MissingFileError,
    ReferenceDataError,
    SignalQualityError,
    StoreError,
    UnitError,
)
from .model import (
    Annotation,
    ClinicalContext,
    DataRef,
    FilterSettings,
    Patient,
    Recording,
    Response,
    StimulationSite,
    Stimulus,
    Study,
    Sweep,
    TestSpec,
    TestType,
    Trace,
)

__version__ = "0.1.0"

logging.getLogger("edx").addHandler(logging.NullHandler())

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "load": "edx.io",
    "from_array": "edx.io",
    "from_mne": "edx.io",
    "from_neo": "edx.io",
    "supported_extensions": "edx.io",
    "cut_sweeps": "edx.io.sweeps",
    "read_manifest": "edx.manifest",
    "read_series": "edx.manifest",
    "load_site": "edx.manifest",
    "manifest_schema": "edx.manifest",
    "measure_cmap": "edx.measure.ncs",
    "measure_snap": "edx.measure.ncs",
    "override_markers": "edx.measure.ncs",
    "conduction_velocity": "edx.measure.ncs",
    "sensory_velocity": "edx.measure.ncs",
    "measure_fwaves": "edx.measure.late",
    "rns_decrement": "edx.measure.late",
    "dms_ratio": "edx.measure.late",
    "measure_study": "edx.measure.study",
    "detect_spontaneous": "edx.needle.spontaneous",
    "SpontaneousDetector": "edx.needle.spontaneous",
    "grade_muscle": "edx.needle.spontaneous",
    "analyze_mups": "edx.needle.mup",
    "interference_pattern": "edx.needle.mup",
    "interpret": "edx.interpretation",
    "crimyne": "edx.interpretation",
    "pent": "edx.interpretation",
    "two_nerve_screen": "edx.interpretation",
    "load_reference": "edx.interpretation",
    "load_criteria": "edx.interpretation",
    "summarize": "edx.interpretation",
    "Interpretation": "edx.interpretation",
    "CrimyneResult": "edx.interpretation",
    "StudySummary": "edx.interpretation",
    "analyze_study": "edx.report",
    "StudyAnalysis": "edx.report",
    "write_study_outputs": "edx.report",
    # plots: the module is edx.plot, so no public name may be "plot"
    "plot_response": "edx.plot",
    "plot_responses": "edx.plot",
    "plot_test": "edx.plot",
    "plot_spontaneous": "edx.plot",
    "plot_mup_templates": "edx.plot",
    "plot_interference": "edx.plot",
    "plot_crimyne": "edx.plot",
    "run_batch": "edx.batch",
    "ResultsStore": "edx.store",
}

if TYPE_CHECKING:  # pragma: no cover
    from .io import from_array, from_mne, from_neo, load, supported_extensions
    from .io.sweeps import cut_sweeps
    from .manifest import load_site, manifest_schema, read_manifest, read_series
    from .measure.late import dms_ratio, measure_fwaves, rns_decrement
    from .measure.study import measure_study
    from .measure.ncs import conduction_velocity, measure_cmap, measure_snap, override_markers, sensory_velocity
    from .needle.mup import analyze_mups, interference_pattern
    from .needle.spontaneous import SpontaneousDetector, detect_spontaneous, grade_muscle
    from .interpretation import (
        CrimyneResult,
        Interpretation,
        StudySummary,
        crimyne,
        interpret,
        load_criteria,
        load_reference,
        pent,
        summarize,
        two_nerve_screen,
    )
    from .report import StudyAnalysis, analyze_study, write_study_outputs
    from .plot import (
        plot_crimyne,
        plot_interference,
        plot_mup_templates,
        plot_response,
        plot_responses,
        plot_spontaneous,
        plot_test,
    )
    from .batch import run_batch
    from .store import ResultsStore


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edx' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "EdxError",
    "FormatError",
    "MissingFileError",
    "UnitError",
    "ManifestError",
    "SignalQualityError",
    "DependencyError",
    "ReferenceDataError",
    "StoreError",
    "Annotation",
    "ClinicalContext",
    "DataRef",
    "FilterSettings",
    "Patient",
    "Recording",
    "Response",
    "StimulationSite",
    "Stimulus",
    "Study",
    "Sweep",
    "TestSpec",
    "TestType",
    "Trace",
    *_LAZY,
]
