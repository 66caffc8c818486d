"""Review of F-waves, RNS and DMS: overlapping responses, early F-waves, reporting."""

from __future__ import annotations

import pytest

import edx
from edx.measure.late import measure_fwaves, rns_decrement
from edx.measure.study import measure_study
from edx.sim import ncs
from edx.sim.ncs import FWaveSpec, MotorSpec, Realism, RnsSpec

from ..conftest import SAMPLE_DATA

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


def test_rns_and_dms_rows_carry_their_quality_flags():
    # the RNS and DMS rows had no quality column: a train with an absent or clipped response,
    # or a nerve response read with inverted polarity, looked clean in the table and JSON
    s = edx.read_manifest(SAMPLE_DATA / "studies" / "nmj_blockade" / "study.toml")
    sm = measure_study(s)
    rows = sm.rows()
    for tm in sm.tests:
        if tm.rns is not None:
            row = next(r for r in rows if r["test"] == tm.test.id and r["site"] == "RNS")
            assert row["quality"] == sorted(tm.rns.quality)
        if tm.dms is not None:
            row = next(r for r in rows if r["test"] == tm.test.id and r["site"] == "nCMAP/mCMAP")
            assert row["quality"] == sorted(tm.dms.quality) and row["quality"]
        if tm.fwaves is not None:
            row = next(r for r in rows if r["test"] == tm.test.id and r["site"] == "F-waves")
            assert (row["n_judged"], row["n_present"]) == (tm.fwaves.n_judged, tm.fwaves.n_present)


def test_cli_table_shows_late_response_flags_and_why_a_value_is_missing(capsys):
    from edx_cli.measure_cmd import render_measure

    rows = [
        {"test": "ulnar-rns", "type": "rns", "site": "RNS", "rate_hz": 50.0, "decrement_pct": None,
         "quality": ["responses_overlap"], "reasons": {"overlap": "response 1 has not ended", "decrement": "x"}},
        {"test": "ta-dms", "type": "dms", "site": "nCMAP/mCMAP", "dms_ratio": 0.6, "mcmap_mv": 1.2,
         "quality": ["muscle:stimulus_artifact", "nerve:low_snr"], "reasons": None},
        {"test": "median-f", "type": "f_wave", "site": "F-waves", "f_min_latency_ms": None,
         "quality": ["activity_at_window_start"], "reasons": {"all": "3 of 20 sweeps hold activity"}},
    ]
    render_measure([{"path": "x.toml", "kind": "study", "patient": "p", "date": "2026-01-01", "rows": rows}])
    out = capsys.readouterr().out
    assert "[responses_overlap]: response 1 has not ended" in out
    assert "[nerve:low_snr]" in out and "muscle:stimulus_artifact" not in out
    assert "[activity_at_window_start]: 3 of 20 sweeps hold activity" in out


def test_missing_train_figures_say_why():
    import numpy as np

    # a train whose 2nd response is lost (a dropped packet): the decrement from the 1st to the 4th
    # stands, the lowest of the first five does not, and says why (it was None with no reason)
    sim = ncs.simulate_rns(MotorSpec(3.0, 5.0), RnsSpec(rate_hz=3.0, decrement_pct=20.0), FS,
                           realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=0)
    x = sim.samples_v[0].copy()
    s1 = sim.stim_indices[1]
    x[s1 + 80 : s1 + 120] = np.nan
    r = rns_decrement(x, FS, sim.stim_indices)
    assert r.decrement_pct == pytest.approx(20.0, abs=1.0)
    assert r.max_decrement_first5_pct is None and "response 2" in r.reasons["max_decrement_first5"]
    # one F-wave in the train: no chronodispersion, with the reason
    f = ncs.simulate_fwaves(MotorSpec(3.5, 9.0), FWaveSpec(min_latency_ms=27.0, persistence=0.05), FS,
                            realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=0)
    m = measure_fwaves(f.samples_v, FS, f.stim_index)
    assert m.n_present == 1 and m.chronodispersion_ms is None and "at least two" in m.reasons["chronodispersion"]
