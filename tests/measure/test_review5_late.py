"""Review of F-waves, RNS and DMS: overlapping responses, early F-waves, reporting."""

from __future__ import annotations

import pytest

from edx.measure.late import measure_fwaves, rns_decrement
from edx.sim import ncs
from edx.sim.ncs import FWaveSpec, MotorSpec, Realism, RnsSpec

FS = 20_000.0


@pytest.mark.parametrize("rate_hz,motor", [
    (30.0, MotorSpec(3.0, 1.0, mfcv_m_s=2.0, neg_ms=8.0, pos_ms=14.0)),  # long myopathic response
    (50.0, MotorSpec(3.0, 1.0, mfcv_m_s=2.0, neg_ms=8.0, pos_ms=14.0)),
    (50.0, MotorSpec(8.0, 5.0)),  # long latency: the response runs into the next stimulus
])
def test_rns_responses_overlapping_the_next_stimulus_give_no_decrement(rate_hz, motor):
    # each response's tail lies on the next one's baseline: the decrement read was -8 %, 53 %
    # and 3 % for a true 20 %
    sim = ncs.simulate_rns(motor, RnsSpec(rate_hz=rate_hz, decrement_pct=20.0), FS,
                           realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=0)
    r = rns_decrement(sim.samples_v[0], FS, sim.stim_indices)
    assert r.decrement_pct is None and r.area_decrement_pct is None and r.max_decrement_first5_pct is None
    assert "responses_overlap" in r.quality and "lower rate" in r.reasons["overlap"]
    assert r.amplitudes_mv[0] == pytest.approx(sim.extra["rns"]["amplitudes_mv"][0], rel=0.02)
    assert all(a is None for a in r.amplitudes_mv[1:])


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("rate_hz", [3.0, 20.0, 50.0])
def test_rns_short_responses_at_high_rates_are_still_measured(fs, rate_hz):
    # a normal CMAP (total duration about 11 ms) has ended before the next stimulus even at 50 Hz
    sim = ncs.simulate_rns(MotorSpec(3.0, 5.0), RnsSpec(rate_hz=rate_hz, decrement_pct=20.0), fs,
                           realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=1)
    r = rns_decrement(sim.samples_v[0], fs, sim.stim_indices)
    assert "responses_overlap" not in r.quality
    assert r.decrement_pct == pytest.approx(20.0, abs=1.0)


@pytest.mark.parametrize("fspec,motor,min_lat", [
    # upper limb F-waves of 17-23 ms searched from 20 ms: min latency read 20.1 ms (truth 17)
    (FWaveSpec(min_latency_ms=17.0, chronodispersion_ms=6.0, persistence=0.8), MotorSpec(3.5, 9.0), 20.0),
    # a short patient's lower-limb F-waves of 30-36 ms searched from 35 ms: read 35.1 ms, persistence 60 % (80)
    (FWaveSpec(min_latency_ms=30.0, chronodispersion_ms=6.0, persistence=0.8), MotorSpec(4.5, 6.0), 35.0),
])
def test_fwaves_beginning_before_the_search_window_give_no_latency(fspec, motor, min_lat):
    r = ncs.simulate_fwaves(motor, fspec, FS, realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=0)
    f = measure_fwaves(r.samples_v, FS, r.stim_index, min_latency_ms=min_lat)
    assert "activity_at_window_start" in f.quality and "lower min_latency_ms" in f.reasons["all"]
    assert f.min_latency_ms is None and f.mean_latency_ms is None and f.persistence_pct is None
    assert f.chronodispersion_ms is None
    # searched from early enough, the same train is measured
    g = measure_fwaves(r.samples_v, FS, r.stim_index, min_latency_ms=fspec.min_latency_ms - 3.0)
    assert "activity_at_window_start" not in g.quality
    assert g.min_latency_ms == pytest.approx(r.extra["fwaves"]["min_latency_ms"], abs=0.3)
    assert g.persistence_pct == pytest.approx(r.extra["fwaves"]["persistence_pct"], abs=5.0 + 1e-9)
