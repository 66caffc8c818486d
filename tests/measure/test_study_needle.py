"""Needle EMG tests of the sample studies measured through :func:`edx.measure_study`."""

from __future__ import annotations

import json

import pytest

import edx

from ..conftest import SAMPLE_DATA


@pytest.fixture(scope="module")
def rows_of():
    cache: dict[str, list[dict]] = {}

    def get(name: str) -> list[dict]:
        if name not in cache:
            m = edx.measure_study(edx.read_manifest(SAMPLE_DATA / "studies" / name / "study.toml"))
            cache[name] = [r for r in m.rows() if r["type"].startswith("needle")]
        return cache[name]

    return get


def _truth(name: str) -> dict:
    return json.loads((SAMPLE_DATA / "studies" / name / "truth.json").read_text())["tests"]


def test_normal_study_has_no_denervation(rows_of):
    rest = [r for r in rows_of("normal") if r["type"] == "needle_rest"]
    assert rest and all("error" not in r for r in rest)
    assert all(r["grade"] == "0" for r in rest)
    assert all(r["n_trains"] == 0 for r in rest if r["site"] != "muscle")


@pytest.mark.parametrize("name", ["cim", "cip"])
def test_denervated_studies_show_trains_and_a_muscle_grade(rows_of, name):
    truth = _truth(name)["tibialis-anterior-rest-R"]["sites"]
    rest = {r["site"]: r for r in rows_of(name) if r["type"] == "needle_rest"}
    for site, t in truth.items():
        true_kinds = {d["kind"] for d in t["discharges"]}
        assert {"fibrillation", "positive_sharp_wave"} & true_kinds
        assert rest[site]["n_trains"] > 0 and rest[site]["grade"] not in (None, "0")
    assert rest["muscle"]["grade"] not in (None, "0")


def test_mup_summaries_follow_the_simulated_unit_kind(rows_of):
    # the CIM study's units are myopathic: short, small, polyphasic
    cim = next(r for r in rows_of("cim") if r["site"] == "MUPs")
    assert _truth("cim")["tibialis-anterior-minimal-R"]["kind"] == "myopathic"
    assert cim["mup_class"] == "myopathic"
    normal = next(r for r in rows_of("normal") if r["site"] == "MUPs")
    assert cim["mup_duration_ms"] < normal["mup_duration_ms"]
    assert cim["polyphasic_pct"] > normal["polyphasic_pct"]
    # the CIP study's units are neurogenic: few units firing fast
    cip = next(r for r in rows_of("cip") if r["site"] == "MUPs")
    assert _truth("cip")["tibialis-anterior-minimal-R"]["kind"] == "neurogenic"
    assert cip["mup_duration_ms"] > normal["mup_duration_ms"] and cip["mup_amplitude_uv"] > normal["mup_amplitude_uv"]
    assert cip["recruitment"] == "reduced"


def test_interference_pattern_is_reported_per_site(rows_of):
    rows = [r for r in rows_of("cim") if r["type"] == "needle_maximal"]
    assert rows and all(r["turns_per_s"] > 0 and r["amplitude_per_turn_uv"] > 0 for r in rows)
