"""Review of F-waves, RNS and DMS: overlapping responses, early F-waves, reporting."""

from __future__ import annotations

import pytest

from edx.measure.late import rns_decrement
from edx.sim import ncs
from edx.sim.ncs import MotorSpec, Realism, RnsSpec

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
