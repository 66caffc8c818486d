"""The NCS simulator: determinism, physiology, and truth = measures of the clean signal."""

from __future__ import annotations

import numpy as np
import pytest

from edx.sim import ncs
from edx.sim.ncs import DmsSpec, FWaveSpec, MotorSpec, Realism, RnsSpec, SensorySpec

QUIET = Realism(noise_uv_rms=0.0)
FS_FINE = 1_000_000.0  # 1 µs sampling: the clean sweep measured independently of the truth code


def _measure_clean(clean_v: np.ndarray, fs: float, stim: int) -> dict[str, float]:
    """Independent plain measurement of a clean sampled response (volts -> ms, mV)."""
    x = clean_v * 1e3
    t = (np.arange(x.size) - stim) / fs * 1e3
    nz = np.flatnonzero(x != 0)
    onset = t[nz[0]]
    ipk = int(np.argmin(x))
    up = ipk + int(np.flatnonzero(x[ipk:] >= 0)[0])
    neg = (t >= onset) & (t <= t[up])
    return {
        "onset_latency_ms": onset,
        "neg_peak_latency_ms": t[ipk],
        "amplitude_mv": -x[ipk],
        "peak_to_peak_mv": x.max() - x.min(),
        "neg_duration_ms": t[up] - onset,
        "neg_area_mvms": -np.trapezoid(np.minimum(x[neg], 0), t[neg]),
    }


def test_motor_is_deterministic():
    spec = MotorSpec(distal_latency_ms=3.5, amplitude_mv=8.0)
    a, ta = ncs.simulate_motor(spec, [("wrist", 70), ("elbow", 230)], 20_000, seed=4)
    b, tb = ncs.simulate_motor(spec, [("wrist", 70), ("elbow", 230)], 20_000, seed=4)
    c, _ = ncs.simulate_motor(spec, [("wrist", 70), ("elbow", 230)], 20_000, seed=5)
    assert np.array_equal(a[1].samples_v, b[1].samples_v) and ta.to_dict() == tb.to_dict()
    assert not np.array_equal(a[1].samples_v, c[1].samples_v)


@pytest.mark.parametrize("mfcv,disp", [(4.0, 0.35), (2.0, 0.35), (4.0, 1.5)])
def test_motor_truth_equals_measures_of_the_clean_signal(mfcv, disp):
    spec = MotorSpec(distal_latency_ms=3.5, amplitude_mv=6.0, mfcv_m_s=mfcv, latency_dispersion_ms=disp)
    (r,), truth = ncs.simulate_motor(spec, [("wrist", 70)], FS_FINE, realism=QUIET, post_ms=40.0, seed=1)
    t = truth.sites[0][1]
    m = _measure_clean(r.clean_v[0], FS_FINE, r.stim_index)
    assert t.amplitude_mv == pytest.approx(6.0, rel=1e-12)
    assert m["amplitude_mv"] == pytest.approx(t.amplitude_mv, rel=1e-4)
    assert m["onset_latency_ms"] == pytest.approx(t.onset_latency_ms, abs=0.0011)
    assert m["neg_peak_latency_ms"] == pytest.approx(t.neg_peak_latency_ms, abs=0.002)
    assert m["neg_duration_ms"] == pytest.approx(t.neg_duration_ms, abs=0.002)
    assert m["peak_to_peak_mv"] == pytest.approx(t.peak_to_peak_mv, rel=1e-4)
    assert m["neg_area_mvms"] == pytest.approx(t.neg_area_mvms, rel=1e-3)
    assert t.onset_latency_ms == 3.5  # the earliest unit starts exactly at the distal latency


def test_myopathic_slowing_prolongs_duration_beyond_the_efns_limit():
    normal = ncs.simulate_motor(MotorSpec(3.6, 9.5), [("wrist", 70)], 20_000, seed=3)[1].sites[0][1]
    cim = ncs.simulate_motor(MotorSpec(3.9, 2.4, mfcv_m_s=2.0), [("wrist", 70)], 20_000, seed=3)[1].sites[0][1]
    median_uln_ms = 6.6  # EFNS/PNS upper limit of distal median CMAP negative-peak duration (CLINICAL.md §2)
    assert normal.neg_duration_ms < median_uln_ms < cim.neg_duration_ms
    assert cim.neg_duration_ms == pytest.approx(2 * normal.neg_duration_ms, rel=0.15)


def test_velocity_truth_and_block_and_dispersion():
    _, t = ncs.simulate_motor(MotorSpec(3.5, 8.0, cv_m_s=55.0), [("wrist", 70), ("elbow", 230)], 20_000, seed=2)
    seg = t.segments[0]
    assert seg["cv_m_s"] == pytest.approx(55.0, rel=1e-9)  # the fastest unit leads at both sites
    assert 0 < seg["amplitude_drop_pct"] < 15 and seg["blocked_units_fraction"] == 0.0
    _, tb = ncs.simulate_motor(MotorSpec(6.0, 6.0, cv_m_s=30.0, cv_spread_m_s=8.0, block=(0.5,)),
                               [("wrist", 70), ("elbow", 230)], 20_000, seed=2)
    sb = tb.segments[0]
    assert sb["blocked_units_fraction"] == 0.5
    assert sb["amplitude_drop_pct"] > 50 and sb["area_drop_pct"] > 40 and sb["duration_increase_pct"] > 30


def test_absent_motor_response_is_noise_only():
    (r,), t = ncs.simulate_motor(MotorSpec(4.0, 0.0), [("ankle", 90)], 20_000, realism=Realism(noise_uv_rms=10.0), seed=1)
    assert not t.sites[0][1].present and t.sites[0][1].amplitude_mv is None
    assert not np.any(r.clean_v)
    assert np.std(r.samples_v) == pytest.approx(10e-6, rel=0.1)


def test_sensory_truth_and_shape():
    spec = SensorySpec(distance_mm=140, amplitude_uv=18.0, cv_m_s=50.0)
    r = ncs.simulate_sensory(spec, FS_FINE, n_sweeps=1, realism=QUIET, post_ms=12.0, seed=9)
    t = r.truth
    assert t.onset_latency_ms == pytest.approx(140 / 50.0)
    m = _measure_clean(r.clean_v[0], FS_FINE, r.stim_index)
    assert m["amplitude_mv"] * 1e3 == pytest.approx(18.0, rel=1e-4)
    assert m["onset_latency_ms"] == pytest.approx(t.onset_latency_ms, abs=0.0011)
    x = r.clean_v[0]
    first = x[np.flatnonzero(np.abs(x) > 1e-9)[0]]
    assert first > 0, "antidromic SNAP starts with a small positive phase"
    d = t.to_dict(sensory=True)
    assert d["amplitude_uv"] == 18.0 and "amplitude_mv" not in d


def test_fwave_truth():
    spec = FWaveSpec(min_latency_ms=28.0, chronodispersion_ms=2.0, persistence=0.75, n_sweeps=20, amplitude_mv=0.3)
    r = ncs.simulate_fwaves(MotorSpec(3.5, 9.0), spec, 20_000, realism=QUIET, seed=11)
    f = r.extra["fwaves"]
    assert f["persistence_pct"] == 75.0
    assert f["min_latency_ms"] == 28.0 and f["chronodispersion_ms"] == pytest.approx(2.0)
    m_only = r.clean_v[[e["sweep"] for e in f["sweeps"] if not e["present"]][0]]
    for e in f["sweeps"]:
        late = r.clean_v[e["sweep"]] - m_only
        t_ms = (np.arange(late.size) - r.stim_index) / 20_000 * 1e3
        nz = np.flatnonzero(np.abs(late) > 0)
        if e["present"]:
            assert t_ms[nz[0]] == pytest.approx(e["onset_latency_ms"], abs=0.051)
            assert (late.max() - late.min()) * 1e3 == pytest.approx(e["peak_to_peak_mv"], rel=0.05)
        else:
            assert nz.size == 0


def test_rns_decrement_truth_matches_the_clean_train():
    r = ncs.simulate_rns(MotorSpec(3.0, 10.0), RnsSpec(rate_hz=3.0, n_stimuli=10, decrement_pct=25.0), 20_000,
                         realism=QUIET, seed=5)
    rns = r.extra["rns"]
    assert rns["decrement_pct"] == 25.0 and rns["max_decrement_first5_pct"] == 25.0
    x = r.clean_v[0] * 1e3
    win = int(0.1 * 20_000)
    amps = [-x[i : i + win].min() for i in r.stim_indices]
    np.testing.assert_allclose(amps, rns["amplitudes_mv"], rtol=1e-3)
    assert (amps[0] - amps[3]) / amps[0] * 100 == pytest.approx(25.0, abs=0.1)


def test_dms_ratio_truth():
    nerve, muscle, s = ncs.simulate_dms(DmsSpec(mcmap_mv=1.6, ncmap_mv=1.2, mfcv_m_s=2.0), 20_000, seed=1)
    assert s["ratio"] == pytest.approx(0.75) and s["mcmap_amplitude_mv"] == 1.6
    assert muscle.truth.onset_latency_ms < nerve.truth.onset_latency_ms
    _, _, s0 = ncs.simulate_dms(DmsSpec(mcmap_mv=4.5, ncmap_mv=0.0), 20_000, seed=1)
    assert s0["ratio"] == 0.0 and s0["ncmap_amplitude_mv"] is None


def test_realism_components():
    fs = 20_000.0
    clean = np.zeros(20_000)
    rng = np.random.default_rng(0)
    x = Realism(noise_uv_rms=10.0).apply(clean, fs, 100, rng)
    assert np.std(x) == pytest.approx(10e-6, rel=0.05)
    art = Realism(noise_uv_rms=0.0, artifact_mv=3.0).apply(clean, fs, 100, rng)
    assert art[99] == 0.0 and art[100] == pytest.approx(3e-3)
    assert abs(art[100 + int(0.002 * fs)]) < 1e-4  # decayed below 0.1 mV 2 ms later
    hum = Realism(noise_uv_rms=0.0, hum_uv=50.0, mains_hz=60.0).apply(clean, fs, 0, rng)
    spec = np.abs(np.fft.rfft(hum))
    assert np.argmax(spec) == 60  # 1 s of signal: bin = Hz
    clipped = Realism(noise_uv_rms=0.0, artifact_mv=8.0, clip_mv=5.0).apply(clean, fs, 10, rng)
    assert clipped.max() == pytest.approx(5e-3)


def test_temperature_adjustment():
    assert ncs.temperature_adjusted_cv(50.0, 27.0) == pytest.approx(50.0 - 2.0 * 6.0)
    assert ncs.temperature_adjusted_cv(50.0, 35.0) == 50.0
