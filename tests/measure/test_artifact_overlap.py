"""Responses under large stimulus artifacts whose tails overlap them (direct muscle stimulation).

Before: the search for a response began where the removed artifact tail had fallen below 5 noise
SDs.  A 30 mV artifact with a 1 ms tail moved that to 5.4 ms: a nerve-evoked response peaking
there read absent (nCMAP/mCMAP 0, a neuropathic reading for a truth of 0.5), and a direct-muscle
response 1.2 ms after a 10 mV artifact read inverted at 44 % of its amplitude (ratio 1.13).
"""

from __future__ import annotations

import pytest

import edx
from edx.sim.ncs import DmsSpec, MotorSpec, Realism, simulate_dms, simulate_motor


def _dms(fs, artifact_mv, decay_ms, seed, **spec):
    kw = {"mcmap_mv": 2.0, "ncmap_mv": 1.0, **spec}
    return simulate_dms(DmsSpec(**kw), fs, realism=Realism(noise_uv_rms=10, artifact_mv=artifact_mv,
                                                           artifact_decay_ms=decay_ms), seed=seed)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("artifact_mv,decay_ms", [(3.0, 1.0), (10.0, 1.0), (30.0, 1.0), (50.0, 2.0)])
def test_dms_under_large_artifacts_measures_both_responses(fs, artifact_mv, decay_ms):
    # the muscle-evoked response starts 1.2 ms after the stimulus, inside the tail
    for seed in (0, 1):
        nerve, muscle, truth = _dms(fs, artifact_mv, decay_ms, seed)
        d = edx.dms_ratio(nerve.samples_v[0], muscle.samples_v[0], fs, nerve_stimulus_index=nerve.stim_index,
                          muscle_stimulus_index=muscle.stim_index)
        for res, sim in ((d.nerve, nerve), (d.muscle, muscle)):
            assert res.status == "ok", (seed, res.status, res.reasons)
            assert res.amplitude_mv == pytest.approx(sim.truth.amplitude_mv, rel=0.03)
            assert res.onset_latency_ms == pytest.approx(sim.truth.onset_latency_ms, abs=0.2)
            assert res.polarity == "normal"
        assert d.ratio == pytest.approx(truth["ratio"], rel=0.06)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("artifact_mv,decay_ms", [(3.0, 0.3), (3.0, 2.0), (30.0, 1.0), (50.0, 2.0)])
def test_no_response_under_large_artifacts_reads_absent(fs, artifact_mv, decay_ms):
    # the earlier search start must not turn the tail's remains into a response (before: 2 of 192
    # such sweeps read 33-57 µV responses at 48 kHz)
    for seed in range(3):
        (r,), _ = simulate_motor(MotorSpec(3.5, 0.0), [("x", 0.0)], fs,
                                 realism=Realism(noise_uv_rms=10, artifact_mv=artifact_mv, artifact_decay_ms=decay_ms),
                                 seed=seed)
        res = edx.measure_cmap(r.samples_v[0], fs, r.stim_index)
        assert res.status == "absent", (seed, res.status, res.amplitude_mv)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_small_response_under_an_overwhelming_tail_is_not_called_absent(fs):
    # 0.3 mV, 2 ms after a 30 mV artifact with a 2 ms tail (3.7 mV left at the onset): read absent
    # before; the deflection is deeper than the noise but within what the tail's model leaves
    # uncertain, so neither presence nor absence can be said
    for seed in (0, 1):
        nerve, _, _ = _dms(fs, 30.0, 2.0, seed, ncmap_mv=0.3, ncmap_latency_ms=2.0)
        res = edx.measure_cmap(nerve.samples_v[0], fs, nerve.stim_index)
        assert res.status != "absent"
        if res.status == "ok":
            assert res.amplitude_mv == pytest.approx(0.3, rel=0.03)
        else:
            assert res.status == "artifact_obscured" and "artifact" in res.reasons["all"]
            assert res.amplitude_mv is None and res.markers.onset is None and not res.ok


def test_response_whose_first_phase_is_inside_the_tail_is_obscured_not_inverted():
    # a 2 mV response 0.5 ms after a 30 mV artifact with a 2 ms tail: the tail's model, fitted on the
    # 0.3 ms before the response, is uncertain until 4.5 ms, and the second (positive) phase after it
    # read as an inverted response of 0.87 mV
    fs = 20_000.0
    _, muscle, _ = _dms(fs, 30.0, 2.0, 1, mcmap_latency_ms=0.5)
    res = edx.measure_cmap(muscle.samples_v[0], fs, muscle.stim_index)
    assert res.status == "artifact_obscured"


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("latency_ms", [0.5, 0.7, 0.9])
def test_early_responses_in_the_tail_are_measured_or_obscured_never_misread(fs, latency_ms):
    # responses 0.5-0.9 ms after the stimulus, under 3-30 mV artifacts with 1-2 ms tails: either
    # measured (amplitude within 5 %) or said to be obscured; never absent, never read inverted
    for artifact_mv, decay_ms in ((3.0, 1.0), (30.0, 1.0), (30.0, 2.0)):
        for seed in (0, 1):
            nerve, muscle, _ = _dms(fs, artifact_mv, decay_ms, seed, mcmap_latency_ms=latency_ms)
            res = edx.measure_cmap(muscle.samples_v[0], fs, muscle.stim_index)
            assert res.status in ("ok", "artifact_obscured"), (artifact_mv, decay_ms, seed, res.status)
            if res.status == "ok":
                assert res.polarity == "normal"
                assert res.amplitude_mv == pytest.approx(muscle.truth.amplitude_mv, rel=0.05)


def test_dms_ratio_with_an_obscured_nerve_response_gives_no_ratio():
    fs = 20_000.0
    nerve, muscle, _ = _dms(fs, 30.0, 2.0, 0, ncmap_mv=0.3, ncmap_latency_ms=2.0)
    n = edx.measure_cmap(nerve.samples_v[0], fs, nerve.stim_index)
    assert n.status == "artifact_obscured"
    d = edx.dms_ratio(n, edx.measure_cmap(muscle.samples_v[0], fs, muscle.stim_index))
    assert d.ratio is None and "artifact_obscured" in d.reasons["ratio"] and d.ncmap_mv is None
