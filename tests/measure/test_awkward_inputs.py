"""Awkward but realistic inputs to the nerve-conduction API: refused by name or flagged, never a
crash or a silent number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edx.measure.late import dms_ratio, measure_fwaves, rns_decrement
from edx.measure.ncs import measure_cmap, measure_cmap_batch, measure_snap
from edx.sim import ncs
from edx.sim.ncs import MotorSpec, Realism, SensorySpec

BAD_FS = [math.nan, math.inf, -math.inf, 0.0, -20000.0, "fast"]


@pytest.mark.parametrize("fs", BAD_FS)
def test_unusable_sampling_rate_is_refused_by_name(fs):
    # A NaN or infinite rate (a damaged header) crashed the process in the kernel (SIGSEGV), taking
    # a whole batch worker with it; 0 or a negative rate read as "the sweep is too short".
    x = np.random.default_rng(0).normal(0.0, 1e-5, 1000)
    calls = [
        lambda: measure_cmap(x, fs, 100),
        lambda: measure_snap(np.vstack([x, x]), fs, 100),
        lambda: measure_cmap_batch(np.vstack([x, x]), fs, 100),
        lambda: measure_fwaves(np.vstack([x] * 10), fs, 100),
        lambda: rns_decrement(x, fs, [100, 300, 500, 700]),
        lambda: dms_ratio(x, x, fs, nerve_stimulus_index=100, muscle_stimulus_index=100),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="fs_hz"):
            call()


def test_snap_in_millivolts_is_not_a_number_a_thousand_times_off():
    # A 20 µV SNAP (8 sweeps averaged, about 1 µV of noise) passed in mV instead of volts read as a
    # present SNAP of 19 400 µV: neither its noise (0.9 "V"-mV) nor its depth reached the CMAP's
    # plausibility limits (1 mV noise, 100 mV depth).
    fs = 20000
    sr = ncs.simulate_sensory(SensorySpec(140, 20.0), fs, seed=3)
    ok = measure_snap(sr.samples_v, fs, sr.stim_index)
    assert ok.status == "ok" and ok.amplitude_uv == pytest.approx(20.0, rel=0.1)
    r = measure_snap(sr.samples_v * 1e3, fs, sr.stim_index)
    assert r.status == "implausible_units", (r.status, r.amplitude_uv)
    assert r.amplitude_uv is None and "mV" in r.reasons["all"]
    # an absent SNAP in mV is not reported as absent against a "noise" of 900 µV
    sr0 = ncs.simulate_sensory(SensorySpec(140, 0.0), fs, seed=3)
    assert measure_snap(sr0.samples_v, fs, sr0.stim_index).status == "absent"
    assert measure_snap(sr0.samples_v * 1e3, fs, sr0.stim_index).status == "implausible_units"


def test_noisy_unaveraged_snap_in_volts_stays_judged():
    # the tighter sensory limits leave a poor single sweep in volts alone (50 µV RMS noise: absent)
    fs = 20000
    sr = ncs.simulate_sensory(SensorySpec(140, 0.0), fs, n_sweeps=1, realism=Realism(noise_uv_rms=50.0), seed=4)
    r = measure_snap(sr.samples_v, fs, sr.stim_index)
    assert r.status == "absent" and 30.0 < r.noise_uv < 80.0
    # and a large but real SNAP (150 µV) is measured
    big = ncs.simulate_sensory(SensorySpec(140, 150.0), fs, seed=5)
    rb = measure_snap(big.samples_v, fs, big.stim_index)
    assert rb.status == "ok" and rb.amplitude_uv == pytest.approx(150.0, rel=0.1)


def test_cmap_sampling_rate_sanity():
    # the fs check does not change a normal measurement
    fs = 20000
    (d,), _ = ncs.simulate_motor(MotorSpec(3.5, 5.0), [("wrist", 70)], fs, realism=Realism(noise_uv_rms=10), seed=1)
    r = measure_cmap(d.samples_v[0], np.float32(fs), d.stim_index)
    assert r.status == "ok" and r.fs_hz == fs


def test_fwave_train_with_one_dropped_packet_is_measured():
    # one NaN sample in one of 20 sweeps put NaN into the median template: the whole train was lost
    # ("the M response cannot be measured (nonfinite)")
    fs = 20000
    fw = ncs.simulate_fwaves(MotorSpec(3.5, 5.0), ncs.FWaveSpec(26.0), fs, realism=Realism(noise_uv_rms=10), seed=4)
    x, s = fw.samples_v.copy(), fw.stim_index
    ref = measure_fwaves(x, fs, s)
    x[3, 500] = np.nan
    r = measure_fwaves(x, fs, s)
    assert r.m_response is not None and r.m_response.status == "ok"
    assert "sweeps_left_out" in r.quality and "1 of 20" in r.reasons["sweeps"]
    assert r.n_sweeps == 20 and r.n_judged == ref.n_judged - 1 and len(r.sweeps) == 20
    assert r.sweeps[3].present is None and "NaN" in r.sweeps[3].reason
    assert [p.index for p in r.sweeps] == list(range(20))
    # the other sweeps keep their verdicts (the template is the other sweeps')
    same = sum(a.present == b.present for a, b in zip(r.sweeps, ref.sweeps) if a.index != 3)
    assert same >= 18
    assert r.min_latency_ms == pytest.approx(ref.min_latency_ms, abs=0.2)
    # too few usable sweeps left: said so
    x[:11, 600] = np.inf
    r = measure_fwaves(x, fs, s)
    assert "too_few_sweeps" in r.quality and r.persistence_pct is None and "9 usable" in r.reasons["all"]


@pytest.mark.parametrize("kind", ["reversed", "duplicate", "past_end", "negative"])
def test_rns_stimulus_indices_out_of_order_or_outside_are_refused(kind):
    # reversed indices gave rate_hz = -3.0 with no reason; a duplicate gave 3.33 Hz for a 3 Hz
    # train; an index past the end entered the rate (3.03 Hz)
    fs = 20000
    rn = ncs.simulate_rns(MotorSpec(3.5, 5.0), ncs.RnsSpec(3.0, 10, 20.0), fs, realism=Realism(noise_uv_rms=10),
                          seed=5)
    y, st = rn.samples_v[0], list(rn.stim_indices)
    good = rns_decrement(y, fs, st)
    assert good.rate_hz == pytest.approx(3.0, rel=1e-3) and good.decrement_pct == pytest.approx(20.0, abs=1.5)
    bad = {"reversed": st[::-1], "duplicate": [st[0]] + st, "past_end": st + [y.size + 10],
           "negative": [-100] + st[1:]}[kind]
    with pytest.raises(ValueError, match="stimulus indices"):
        rns_decrement(y, fs, bad)
