"""Late responses of constant latency and shape (A-waves) are not F-waves (review case)."""

from __future__ import annotations

import numpy as np
import pytest

from edx.measure.late import measure_fwaves
from edx.sim import ncs
from edx.sim.ncs import FWaveSpec, MotorSpec, Realism


def _train(fs: float, spec: FWaveSpec, seed: int) -> tuple[np.ndarray, int]:
    fw = ncs.simulate_fwaves(MotorSpec(3.5, 5.0), spec, fs, realism=Realism(noise_uv_rms=10), seed=seed)
    return fw.samples_v.copy(), fw.stim_index


def _a_wave(x: np.ndarray, fs: float, stim: int, latency_ms: float, amp_v: float = 200e-6) -> np.ndarray:
    t = (np.arange(x.shape[1]) - stim) / fs * 1e3
    return -amp_v * np.exp(-((t - latency_ms - 1.0) / 0.5) ** 2) + 0.6 * amp_v * np.exp(-((t - latency_ms - 2.2) / 0.7) ** 2)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("latency_ms", [20.0, 40.0])
def test_a_constant_late_response_is_not_counted_as_f_waves(fs, latency_ms):
    """A 200 µV late response at the same latency in every sweep (each sweep with its own noise)
    was counted as F-waves: with no F-waves at all, persistence 100 % and a minimal F latency of
    20.1 ms; with F-waves from 26 ms, the minimal latency 20.1 ms.  It is reported instead, and
    the F-wave figures are those of the train without it."""
    for spec in (FWaveSpec(26.0), FWaveSpec(26.0, persistence=0.0)):
        x, stim = _train(fs, spec, seed=4)
        plain = measure_fwaves(x, fs, stim)
        res = measure_fwaves(x + _a_wave(x, fs, stim, latency_ms)[None, :], fs, stim)
        if spec.persistence > 0:
            assert (res.persistence_pct, res.min_latency_ms, res.mean_latency_ms, res.chronodispersion_ms) == (
                plain.persistence_pct, plain.min_latency_ms, plain.mean_latency_ms, plain.chronodispersion_ms)
        else:  # (a stray noise "F-wave" of the plain train may lie under it: at most the plain figure)
            assert res.persistence_pct <= plain.persistence_pct <= 5.0
        assert "constant_late_response" in res.quality and "A-wave" in res.reasons["constant_late_response"]
        (c,) = res.constant_responses
        assert c.n_sweeps == x.shape[0] and abs(c.onset_latency_ms - latency_ms) < 0.5
        assert 250.0 < c.peak_to_peak_uv < 400.0


def test_a_constant_response_in_most_sweeps_is_found():
    """In 12-15 of 20 sweeps (22 ms, 100 µV): found, and the F-wave figures unchanged.  (In fewer
    than half the sweeps it is not told from a repeating F-wave: not looked for.)"""
    fs = 20_000.0
    for seed in (1, 2, 3):
        x, stim = _train(fs, FWaveSpec(26.0), seed)
        hold = np.random.default_rng(seed).random(x.shape[0]) < 0.6
        assert 2 * hold.sum() > x.shape[0]
        plain = measure_fwaves(x, fs, stim)
        res = measure_fwaves(x + hold[:, None] * _a_wave(x, fs, stim, 22.0, 100e-6)[None, :], fs, stim)
        assert res.constant_responses and res.constant_responses[0].n_sweeps <= hold.sum()
        assert (res.persistence_pct, res.min_latency_ms) == (plain.persistence_pct, plain.min_latency_ms)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_f_waves_alone_hold_no_constant_response(fs):
    """F-waves vary in latency and shape: never taken for a constant response (measured: 0 of 810
    simulated trains, 30 seeds x 3 train types x 3 M responses x 3 rates; here 10 seeds).  A small
    median deflection (7-12 µV at 10 µV noise) was agreed with by every sweep until a sweep also
    had to differ from a flat baseline."""
    for seed in range(10):
        for spec in (FWaveSpec(26.0), FWaveSpec(30.0, persistence=1.0), FWaveSpec(45.0, persistence=0.6)):
            x, stim = _train(fs, spec, seed)
            res = measure_fwaves(x, fs, stim)
            assert res.constant_responses == () and "constant_late_response" not in res.quality, (seed, spec)
