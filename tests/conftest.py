"""Shared fixtures: paths to the PhysioNet records and the bundled samples."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
EMGDB = SAMPLE_DATA / "physionet_emgdb"


@pytest.fixture(scope="session")
def emgdb() -> Path:
    """Folder with the three PhysioNet emgdb records (ODC-By, see its SOURCE.md)."""
    return EMGDB
