"""F-waves, repetitive stimulation decrement and direct muscle stimulation against truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edx
from edx.measure.late import MIN_F_SWEEPS, dms_ratio, measure_fwaves, rns_decrement
from edx.sim import ncs
from edx.sim.ncs import DmsSpec, FWaveSpec, MotorSpec, Realism, RnsSpec

from ..conftest import SAMPLE_DATA

STUDIES = SAMPLE_DATA / "studies"

F_CASES = [
    ("normal", "median-f-R", 20.0),
    ("normal", "tibial-f-R", 35.0),
    ("cip", "tibial-f-R", 35.0),
    ("demyelinating", "median-f-R", 20.0),
    ("demyelinating", "tibial-f-R", 35.0),
    ("cim", "median-f-R", 20.0),
]


@pytest.mark.parametrize("study,test_id,min_lat", F_CASES)
def test_fwaves_of_the_sample_studies(study, test_id, min_lat):
    s = edx.read_manifest(STUDIES / study / "study.toml")
    truth = json.loads((STUDIES / study / "truth.json").read_text())["tests"][test_id]["fwaves"]
    f = measure_fwaves(edx.load_site(s, test_id, 0), min_latency_ms=min_lat)
    agree = sum(p.present == e["present"] for p, e in zip(f.sweeps, truth["sweeps"]))
    assert agree >= f.n_sweeps - 1, f"{agree}/{f.n_sweeps} sweeps classified like the truth"
    assert f.persistence_pct == pytest.approx(truth["persistence_pct"], abs=100.0 / f.n_judged + 1e-9)
    assert f.min_latency_ms == pytest.approx(truth["min_latency_ms"], abs=0.2)
    assert f.mean_latency_ms == pytest.approx(truth["mean_latency_ms"], abs=0.3)
    assert f.chronodispersion_ms == pytest.approx(truth["chronodispersion_ms"], abs=0.3)
    for p, e in zip(f.sweeps, truth["sweeps"]):
        if p.present and e["present"]:
            assert p.onset_latency_ms == pytest.approx(e["onset_latency_ms"], abs=0.5)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_fwaves_simulated(fs):
    for seed in range(3):
        r = ncs.simulate_fwaves(MotorSpec(3.5, 9.0), FWaveSpec(min_latency_ms=27.0, persistence=0.8), fs,
                                realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=seed)
        t = r.extra["fwaves"]
        f = measure_fwaves(r.samples_v, fs, r.stim_index)
        assert f.persistence_pct == pytest.approx(t["persistence_pct"], abs=100.0 / 20 + 1e-9), seed
        assert f.min_latency_ms == pytest.approx(t["min_latency_ms"], abs=0.2), seed


def test_fwaves_need_enough_aligned_sweeps():
    r = ncs.simulate_fwaves(MotorSpec(3.5, 9.0), FWaveSpec(min_latency_ms=27.0, n_sweeps=6), 20_000.0, seed=1)
    f = measure_fwaves(r.samples_v, 20_000.0, r.stim_index)
    assert "too_few_sweeps" in f.quality and str(MIN_F_SWEEPS) in f.reasons["all"]


@pytest.mark.parametrize("test_id,decrement", [("ulnar-rns-R", 28.0), ("median-rns-R", 22.0)])
def test_rns_of_the_sample_study(test_id, decrement):
    s = edx.read_manifest(STUDIES / "nmj_blockade" / "study.toml")
    r = rns_decrement(edx.load_site(s, test_id, 0))
    assert r.rate_hz == pytest.approx(3.0, rel=1e-3)
    assert r.decrement_pct == pytest.approx(decrement, abs=1.0)
    assert r.area_decrement_pct == pytest.approx(decrement, abs=1.0)
    assert r.max_decrement_first5_pct == pytest.approx(decrement, abs=1.0)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("decrement", [0.0, 5.0, 12.0, 30.0])
def test_rns_decrement_within_one_point(fs, decrement):
    for seed in range(3):
        sim = ncs.simulate_rns(MotorSpec(3.0, 5.0), RnsSpec(rate_hz=3.0, decrement_pct=decrement), fs,
                               realism=Realism(noise_uv_rms=10, artifact_mv=3.0, hum_uv=20, mains_hz=50), seed=seed)
        r = rns_decrement(sim.samples_v[0], fs, sim.stim_indices)
        t = sim.extra["rns"]
        assert r.decrement_pct == pytest.approx(t["decrement_pct"], abs=1.0), (seed, r.decrement_pct)
        assert r.area_decrement_pct == pytest.approx(t["area_decrement_pct"], abs=1.0)
        assert r.max_decrement_first5_pct == pytest.approx(t["max_decrement_first5_pct"], abs=1.0)


def test_rns_too_few_stimuli():
    sim = ncs.simulate_rns(MotorSpec(3.0, 5.0), RnsSpec(n_stimuli=3), 20_000.0, seed=1)
    r = rns_decrement(sim.samples_v[0], 20_000.0, sim.stim_indices)
    assert r.decrement_pct is None and "at least 4" in r.reasons["all"]
    # nor a "lowest of the first five" from three responses (it would understate the decrement)
    assert r.max_decrement_first5_pct is None and r.area_decrement_pct is None
    assert len(r.amplitudes_mv) == 3 and all(a is not None for a in r.amplitudes_mv)


@pytest.mark.parametrize("study,ratio", [("normal", 0.9), ("cim", 0.75), ("cip", 0.2), ("cinm", 0.6),
                                         ("absent_responses", 0.0)])
def test_dms_ratio_of_the_sample_studies(study, ratio):
    s = edx.read_manifest(STUDIES / study / "study.toml")
    t = "tibialis-anterior-dms-R"
    d = dms_ratio(edx.load_site(s, t, "nerve"), edx.load_site(s, t, "muscle"))
    assert d.ratio == pytest.approx(ratio, abs=0.03)
    assert d.mcmap_mv is not None and d.mcmap_mv > 1.0


def test_dms_ratio_absent_muscle_response_gives_no_ratio():
    fs = 20_000.0
    nerve, muscle, _ = ncs.simulate_dms(DmsSpec(mcmap_mv=0.0, ncmap_mv=0.0), fs, seed=3)
    d = dms_ratio(nerve.samples_v[0], muscle.samples_v[0], fs, nerve_stimulus_index=nerve.stim_index,
                  muscle_stimulus_index=muscle.stim_index)
    assert d.ratio is None and "absent" in d.reasons["ratio"]
