"""F-waves over a long (myopathic) M response: the consensus template and the ramp onset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edx.measure.late import _consensus_members, _ramp_onset, measure_fwaves
from edx.sim import ncs
from edx.sim.ncs import FWaveSpec, MotorSpec, Realism


@pytest.mark.parametrize("persistence", [0.3, 0.6])
@pytest.mark.parametrize("fs", [10_000.0, 20_000.0])
def test_fwaves_over_a_myopathic_m_response(persistence, fs):
    # slow muscle-fibre conduction: the M response and the F-waves last tens of ms and overlap
    for seed in range(3):
        r = ncs.simulate_fwaves(MotorSpec(distal_latency_ms=3.9, amplitude_mv=2.4, mfcv_m_s=2.0),
                                FWaveSpec(min_latency_ms=27.5, persistence=persistence, amplitude_mv=0.15), fs,
                                realism=Realism(noise_uv_rms=8.0, artifact_mv=3.0), seed=seed)
        t = r.extra["fwaves"]
        f = measure_fwaves(r.samples_v, fs, r.stim_index, min_latency_ms=20.0)
        agree = sum(p.present == e["present"] for p, e in zip(f.sweeps, t["sweeps"]))
        assert agree >= f.n_sweeps - 1, (seed, agree)
        assert f.persistence_pct == pytest.approx(t["persistence_pct"], abs=100.0 / f.n_judged + 1e-9), seed
        assert f.mean_latency_ms == pytest.approx(t["mean_latency_ms"], abs=0.3), seed
        assert f.min_latency_ms == pytest.approx(t["min_latency_ms"], abs=0.5), seed
        err = [abs(p.onset_latency_ms - e["onset_latency_ms"]) for p, e in zip(f.sweeps, t["sweeps"])
               if p.present and e["present"]]
        assert float(np.median(err)) <= 0.25, seed


def _unit(t_ms: np.ndarray, neg_ms: float, pos_ms: float) -> np.ndarray:
    """A biphasic potential (negative half-sine, then a smaller positive lobe) from t = 0."""
    out = np.zeros_like(t_ms)
    a = (t_ms >= 0) & (t_ms < neg_ms)
    out[a] = -np.sin(np.pi * t_ms[a] / neg_ms)
    b = (t_ms >= neg_ms) & (t_ms < neg_ms + pos_ms)
    out[b] = 0.4 * np.sin(np.pi * (t_ms[b] - neg_ms) / pos_ms)
    return out


def test_consensus_follows_the_m_response_under_a_majority_of_f_waves():
    fs, n, sigma = 20_000.0, 20, 8e-6
    t_ms = np.arange(int(80e-3 * fs)) / fs * 1e3
    rng = np.random.default_rng(7)
    # a long M response whose positive tail is still large where the F-waves start
    m = 2e-3 * _unit(t_ms - 4.0, 8.0, 24.0)
    with_f = np.zeros(n, dtype=bool)
    with_f[rng.choice(n, size=12, replace=False)] = True
    stack = np.tile(m, (n, 1)) + rng.normal(0.0, sigma, (n, t_ms.size))
    lat = {}
    for k in np.flatnonzero(with_f):
        lat[k] = rng.uniform(27.0, 31.0)
        stack[k] += rng.uniform(60e-6, 120e-6) * _unit(t_ms - lat[k], 7.0, 14.0)
    w = int(4e-3 * fs)
    members = _consensus_members(stack, sigma, w, int(14e-3 * fs), 5.0)
    after = slice(int(14e-3 * fs), t_ms.size)
    # the sweeps without an F-wave never leave the consensus
    assert members[after][:, ~with_f].all()
    # a sweep is out while its F-wave is large
    for k, lk in lat.items():
        i = int(round((lk + 3.0) * 1e-3 * fs))
        assert not members[i, k], k
    # the template (the members' mean) is the M response within a few SEs, the pointwise
    # median is not
    n_c = members.sum(axis=1)
    tpl = (stack * members.T).sum(axis=0) / n_c
    win = slice(int(26e-3 * fs), int(50e-3 * fs))
    z = np.abs(tpl[win] - m[win]) / (sigma / np.sqrt(n_c[win]))
    assert z.max() < 5.0
    assert np.abs(np.median(stack, axis=0)[win] - m[win]).max() > 5 * sigma


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0])
def test_ramp_onset_finds_the_corner_of_a_slow_take_off(fs):
    sigma = 8e-6
    smooth = max(1, int(round(0.3e-3 * fs))) | 1
    errs, band = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        t_ms = np.arange(int(20e-3 * fs)) / fs * 1e3
        t0 = 8.0 + rng.uniform(0.0, 1.0)
        clean = 100e-6 * _unit(t_ms - t0, 8.0, 12.0)  # slope about 40 uV/ms at the corner
        x = clean + rng.normal(0.0, sigma, t_ms.size)
        # the band crossing: last sample within 2 SDs of the smoothed trace before it leaves 5 SDs
        y = np.convolve(x, np.ones(smooth) / smooth, mode="same")
        s = sigma / math.sqrt(smooth)
        first = int(np.flatnonzero(np.abs(y[int(2e-3 * fs):]) > 5 * s)[0]) + int(2e-3 * fs)
        j = first
        while j > 0 and abs(y[j]) > 2 * s:
            j -= 1
        p2p = float(clean.max() - clean.min())
        on = _ramp_onset(x, j, int(2e-3 * fs), fs, sigma, 5.0, smooth, p2p)
        assert on <= j
        errs.append(on / fs * 1e3 - t0)
        band.append(j / fs * 1e3 - t0)
    # the band crossing is late by band / slope; the fitted corner is not
    assert np.mean(band) > 0.1
    assert abs(np.mean(errs)) < 0.05
    assert np.percentile(np.abs(errs), 90) < 0.3
