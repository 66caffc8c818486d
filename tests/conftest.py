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


@pytest.fixture
def two_site_sensory_study(tmp_path: Path) -> Path:
    """A copy of the normal sample study whose median sensory test has a second stimulation
    site, "palm", given as its 80 mm segment from the first ("stim", 130 mm; the same
    recording stands in for it).  Returns the manifest's path."""
    import shutil

    dst = tmp_path / "normal"
    shutil.copytree(SAMPLE_DATA / "studies" / "normal", dst)
    text = (dst / "study.toml").read_text()
    site = """  [[tests.sites]]
  name = "stim"
  distance_mm = 130
  intensity_ma = 12.0
  duration_ms = 0.1
  file = "median-sensory-R.edf"
  channel = "SNAP"
"""
    assert text.count(site) == 1
    (dst / "study.toml").write_text(text.replace(site, site + site.replace('"stim"', '"palm"').replace("130", "80")))
    return dst / "study.toml"
