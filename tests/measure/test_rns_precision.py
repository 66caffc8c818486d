"""Repetitive stimulation of small responses: the decrement's precision, said with it.

A peak amplitude is read off a few samples; each response's size is now fitted to the train's
mean response over the top of its negative phase, with its own hum and drift, and the decrement
carries a standard error from the noise.  Before, a 0.3 mV CMAP at 10 µV of noise read 21.6 % for
20 % with nothing said, and a 1 mV train under 20 µV of hum at 10 kHz gave no decrement at all
(its first response "had not ended" 333 ms later).
"""

from __future__ import annotations

import numpy as np
import pytest

from edx.measure.late import rns_decrement
from edx.sim import ncs
from edx.sim.ncs import MotorSpec, Realism, RnsSpec

FS = (10_000.0, 20_000.0, 48_000.0)


def _train(amp_mv: float, fs: float, seed: int, decrement: float = 20.0) -> ncs.SimulatedResponse:
    return ncs.simulate_rns(MotorSpec(3.0, amp_mv), RnsSpec(rate_hz=3.0, decrement_pct=decrement), fs,
                            realism=Realism(noise_uv_rms=10, artifact_mv=3.0, hum_uv=20, mains_hz=50), seed=seed)


@pytest.mark.parametrize("fs", FS)
@pytest.mark.parametrize("amp_mv", [0.3, 0.5])
def test_the_standard_error_says_how_far_the_decrement_may_be_off(fs, amp_mv):
    err, se = [], []
    for seed in range(6):
        sim = _train(amp_mv, fs, seed)
        r = rns_decrement(sim.samples_v[0], fs, sim.stim_indices)
        assert r.decrement_pct is not None and r.decrement_se_pct is not None, (seed, r.reasons)
        err.append(r.decrement_pct - sim.extra["rns"]["decrement_pct"])
        se.append(r.decrement_se_pct)
    err_a, se_a = np.array(err), np.array(se)
    assert np.all(np.abs(err_a) <= 3.0 * se_a), (err, se)
    # calibrated: the errors' spread is the standard error's size (measured 0.9-1.2 of it)
    assert 0.5 < float(np.sqrt(np.mean(err_a ** 2)) / np.mean(se_a)) < 1.6


@pytest.mark.parametrize("fs", FS)
def test_one_millivolt_decrements_within_one_point(fs):
    for seed in range(4):
        sim = _train(1.0, fs, seed)
        r = rns_decrement(sim.samples_v[0], fs, sim.stim_indices)
        t = sim.extra["rns"]
        assert r.decrement_pct == pytest.approx(t["decrement_pct"], abs=1.0), seed
        assert r.area_decrement_pct == pytest.approx(t["area_decrement_pct"], abs=1.0), seed
        assert r.max_decrement_first5_pct == pytest.approx(t["max_decrement_first5_pct"], abs=1.0), seed
        assert "decrement_imprecise" not in r.quality
        assert r.relative_amplitudes_pct[3] == pytest.approx(100.0 - r.decrement_pct)


def test_a_small_noisy_train_is_flagged_imprecise():
    sim = _train(0.3, 10_000.0, 0)
    r = rns_decrement(sim.samples_v[0], 10_000.0, sim.stim_indices)
    assert "decrement_imprecise" in r.quality and "±" in r.reasons["decrement_precision"]
    assert r.decrement_pct is not None  # the value is still given, with its uncertainty


def test_hum_does_not_make_a_slow_train_overlap():
    # 1 mV, 20 µV of hum, 10 kHz, seed 7: the first response's end marker was not placed (the hum
    # holds the trace off the baseline) and the 3 Hz train read as overlapping
    sim = _train(1.0, 10_000.0, 7)
    r = rns_decrement(sim.samples_v[0], 10_000.0, sim.stim_indices)
    assert "responses_overlap" not in r.quality
    assert r.decrement_pct == pytest.approx(sim.extra["rns"]["decrement_pct"], abs=1.0)


def test_sixty_hertz_hum_with_the_default_settings():
    # the CMAP settings' mains is 50 Hz: 60 Hz hum failed the train's mean response and the decrement
    # fell back on single peak readings (2.7 points off, no standard error); both are tried now
    sim = ncs.simulate_rns(MotorSpec(3.0, 0.5), RnsSpec(rate_hz=3.0, decrement_pct=20.0), 10_000.0,
                           realism=Realism(noise_uv_rms=10, artifact_mv=3.0, hum_uv=30, mains_hz=60), seed=0)
    r = rns_decrement(sim.samples_v[0], 10_000.0, sim.stim_indices)
    assert "decrement_from_peaks" not in r.quality and r.decrement_se_pct is not None
    assert abs(r.decrement_pct - sim.extra["rns"]["decrement_pct"]) <= 3.0 * r.decrement_se_pct
