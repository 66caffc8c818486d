"""A small batch folder built from the sample data: quick studies, a broken manifest, a
laboratory file that is no study, and bare recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from tests.conftest import SAMPLE_DATA

STUDIES = SAMPLE_DATA / "studies"
FORMATS = SAMPLE_DATA / "formats"
LAB_FILE = Path(__file__).resolve().parents[2] / "edx" / "data" / "reference_values.toml"

#: a manifest-like file that fails validation (no [study], a test without type or sites)
BROKEN_MANIFEST = """schema_version = 1
[patient]
id = "BROKEN-01"
[[tests]]
id = "median-motor-R"
"""

#: input -> output folder of every study the fixture holds, in the batch's order
STUDY_OUTPUTS = {
    "bare/ulnar_edfc.edf": "bare/ulnar_edfc.edf",
    "bare/ulnar_wfdb.hea": "bare/ulnar_wfdb.hea",
    "cold_limb/study.toml": "cold_limb",
    **{f"crimyne/day0{d}.toml": f"crimyne/day0{d}" for d in (1, 2, 3)},
    "normal/study.toml": "normal",
}


def make_batch_root(root: Path, *, broken: bool = True, extra_normal: int = 0) -> Path:
    """Fill ``root`` with the batch fixture's inputs; return it."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(STUDIES / "cold_limb", root / "cold_limb")
    shutil.copytree(STUDIES / "normal", root / "normal")
    for k in range(extra_normal):
        shutil.copytree(STUDIES / "normal", root / f"normal_{k + 2}")
    (root / "crimyne").mkdir()
    for d in (1, 2, 3):
        for f in STUDIES.joinpath("crimyne").glob(f"day0{d}*"):
            shutil.copy2(f, root / "crimyne" / f.name)
    (root / "bare").mkdir()
    for name in ("ulnar_edfc.edf", "ulnar_wfdb.hea", "ulnar_wfdb.dat", "ulnar_wfdb.atr"):
        shutil.copy2(FORMATS / name, root / "bare" / name)
    (root / "lab").mkdir()
    shutil.copy2(LAB_FILE, root / "lab" / "reference_values.toml")
    if broken:
        (root / "broken").mkdir()
        (root / "broken" / "study.toml").write_text(BROKEN_MANIFEST, encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "study.toml").write_text(BROKEN_MANIFEST, encoding="utf-8")
    return root


@pytest.fixture()
def batch_root(tmp_path: Path) -> Path:
    """Studies (cold_limb, normal, crimyne days 1-3), bare recordings (an EDF, a WFDB record),
    a laboratory reference file, a broken manifest and a hidden folder."""
    return make_batch_root(tmp_path / "in")


def concat_study_csvs(out: Path, outputs: list[str]) -> pd.DataFrame:
    """The per-study measurements.csv files of ``outputs`` read and stacked, as pandas reads them."""
    return pd.concat([pd.read_csv(out / o / "measurements.csv") for o in outputs], ignore_index=True, sort=False)


def assert_same_rows(table: pd.DataFrame, stacked: pd.DataFrame) -> None:
    """``table`` holds the rows and columns of ``stacked``, missing values alike (Parquet reads a
    boolean column with gaps as None, pandas' CSV reader as NaN)."""
    assert set(table.columns) == set(stacked.columns)

    def plain(df: pd.DataFrame) -> pd.DataFrame:
        df = df.reset_index(drop=True).astype(object)
        return df.where(df.notna(), None)

    assert_frame_equal(plain(table), plain(stacked[table.columns.tolist()]), check_dtype=False)
