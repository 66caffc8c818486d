from __future__ import annotations

from collections.abc import Callable

import pytest

import edx
from edx.measure.study import StudyMeasurements

from ..conftest import SAMPLE_DATA

STUDIES = SAMPLE_DATA / "studies"


@pytest.fixture(scope="session")
def sample_measurements() -> Callable[[str], StudyMeasurements]:
    """Measurements of a bundled sample study, measured once per session."""
    cache: dict[str, StudyMeasurements] = {}

    def get(name: str) -> StudyMeasurements:
        if name not in cache:
            cache[name] = edx.measure_study(edx.read_manifest(STUDIES / name / "study.toml"))
        return cache[name]

    return get
