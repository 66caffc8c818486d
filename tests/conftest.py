"""Shared fixtures: paths to the PhysioNet records and the bundled samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests with a fixed example sequence (reproducible, never flaky);
# local runs explore new examples every time and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
EMGDB = SAMPLE_DATA / "physionet_emgdb"


@pytest.fixture(scope="session")
def emgdb() -> Path:
    """Folder with the three PhysioNet emgdb records (ODC-By, see its SOURCE.md)."""
    return EMGDB
