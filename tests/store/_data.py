"""Analyses of the sample studies, made once per test process and shared by the store tests."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path

import edx
from edx.report import StudyAnalysis
from edx.store import SCHEMA_VERSION, ResultsStore

from ..conftest import SAMPLE_DATA

SERIES = SAMPLE_DATA / "studies" / "crimyne"
PATIENT = "SIM-CRIMYNE-01"
OTHERS = ("cim", "cip", "normal")
#: studies without motor unit analysis: their StudyAnalysis pickles (a MUP result's reasons are a
#: mappingproxy, which does not), so they can be handed to another process
PICKLABLE = ("absent_responses", "artifacts", "nmj_blockade")


@lru_cache(maxsize=None)
def series_analyses() -> tuple[StudyAnalysis, ...]:
    """The seven daily CRIMYNE studies, day 1 first."""
    return tuple(edx.analyze_study(p) for p in sorted(SERIES.glob("day*.toml")))


@lru_cache(maxsize=None)
def other_analyses() -> tuple[StudyAnalysis, ...]:
    """Single studies of three other patients."""
    return tuple(edx.analyze_study(SAMPLE_DATA / "studies" / name / "study.toml") for name in OTHERS)


@lru_cache(maxsize=None)
def picklable_analyses() -> tuple[StudyAnalysis, ...]:
    """Single studies of three other patients that can be sent to another process."""
    return tuple(edx.analyze_study(SAMPLE_DATA / "studies" / name / "study.toml") for name in PICKLABLE)


def newer_store(path: Path) -> Path:
    """An empty store as a future edx (one schema version up) would have left it."""
    ResultsStore(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    return path
