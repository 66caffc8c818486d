"""Interpretation of a study (CIM / CIP / CINM and their differentials) and serial screening.

* :func:`interpret` — measurements -> :class:`Interpretation` (pattern, grade, evidence,
  what is missing, caveats);
* :func:`crimyne` — the CRIMYNE peroneal alert across daily studies; :func:`pent` and
  :func:`two_nerve_screen` on one study;
* :func:`load_reference`, :func:`load_criteria` — the packaged reference values and
  criteria (``edx/data/reference_values.toml``, ``edx/data/interpretation.toml``) with a
  laboratory's overrides;
* :func:`summarize` and the input records (:class:`StudySummary`, :class:`MotorNerve`, ...)
  for measurements made elsewhere.
"""

from .inputs import (
    DirectStimulation,
    FWaveTrain,
    MotorNerve,
    NeedleEffort,
    NeedleRest,
    RnsTrain,
    Segment,
    SensoryNerve,
    StudySummary,
    summarize,
)
from .reference import Criteria, Limit, ReferenceValues, load_criteria, load_reference
from .rules import (
    Candidate,
    Caveat,
    CriterionCheck,
    Discarded,
    Evidence,
    Grade,
    IndexValue,
    Interpretation,
    Pattern,
    interpret,
)
from .serial import CrimyneDay, CrimyneResult, CrimyneSide, ScreenResult, crimyne, pent, two_nerve_screen

__all__ = [
    "interpret", "Interpretation", "Pattern", "Grade", "Evidence", "Discarded", "Caveat", "CriterionCheck",
    "Candidate", "IndexValue",
    "crimyne", "CrimyneResult", "CrimyneSide", "CrimyneDay", "pent", "two_nerve_screen", "ScreenResult",
    "load_reference", "load_criteria", "ReferenceValues", "Criteria", "Limit",
    "summarize", "StudySummary", "MotorNerve", "SensoryNerve", "Segment", "FWaveTrain", "RnsTrain",
    "DirectStimulation", "NeedleRest", "NeedleEffort",
]
