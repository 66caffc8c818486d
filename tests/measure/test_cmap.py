"""Motor-response measurement against simulator ground truth, with the issue's tolerances.

Tolerances (issue 4, at 10 µV RMS noise, CMAP >= 0.5 mV, fs 10/20/48 kHz): onset latency
within 0.2 ms, amplitude within 3 %, negative-peak duration within 0.3 ms, negative area
within 5 %; the same with 50/60 Hz hum of 50 µV, drift, offset and a 3 mV stimulus
artifact.  The lab's mains frequency is part of its configuration (``mains_hz``).
Cases where the present algorithm does not meet a tolerance are strict expected
failures with the measured reason, so that they are visible and flagged when fixed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import edx
from edx.measure.ncs import (
    CMAP_CONFIG,
    conduction_velocity,
    measure_cmap,
    measure_cmap_batch,
    override_markers,
    result_from_row,
    sensory_velocity,
)
from edx.sim import ncs
from edx.sim.ncs import MotorSpec, Realism

ONSET_MS, AMP_PCT, NEGDUR_MS, AREA_PCT = 0.2, 3.0, 0.3, 5.0
SEEDS = range(10)

SHAPES = {
    "normal_0.5mV": MotorSpec(3.5, 0.5),
    "normal_5mV": MotorSpec(3.5, 5.0),
    "latency_1.5ms": MotorSpec(1.5, 0.5),
    "dispersed_1mV": MotorSpec(4.0, 1.0, latency_dispersion_ms=1.5),
    "dispersed_0.5mV": MotorSpec(4.0, 0.5, latency_dispersion_ms=1.5),  # the lower amplitude bound
    "myopathic_0.5mV": MotorSpec(3.9, 0.5, mfcv_m_s=2.0),
}
CONDITIONS = {
    "noise": Realism(noise_uv_rms=10),
    "hum50": Realism(noise_uv_rms=10, hum_uv=50, mains_hz=50),
    "hum60_drift_offset": Realism(noise_uv_rms=10, hum_uv=50, mains_hz=60, offset_uv=300, drift_uv=100),
    "artifact3mV": Realism(noise_uv_rms=10, artifact_mv=3.0),
    "all": Realism(noise_uv_rms=10, hum_uv=50, mains_hz=60, offset_uv=300, drift_uv=100, artifact_mv=3.0),
}
# Cases where the algorithm does not yet meet a tolerance (measured over SEEDS; open work of
# issue 4).  Strict: when one starts passing the suite says so and the entry must go.  None
# today; the hardest case, the 10 kHz 0.5 mV myopathic CMAP (a slow take-off: 4 µV 0.1 ms and
# 14 µV 0.2 ms after the first unit, against 10 µV of noise per sample), reads +0.02 +- 0.08 ms
# over seeds 0-99 and is more than 0.2 ms off in 0-3 % of them (was +0.09 +- 0.09 ms and 6-8 %
# with the mean of the line and the best hinge), near the noise limit of a take-off whose
# initial slope the data cannot fix (see edx.kernels.response.hinge_posterior).
KNOWN: dict[tuple[float, str, str], str] = {}


def _case(fs: float, shape: str, cond: str) -> list[tuple[float, float, float, float]]:
    errs = []
    real = CONDITIONS[cond]
    for seed in SEEDS:
        (resp,), truth = ncs.simulate_motor(SHAPES[shape], [("site", 70)], fs, realism=real, seed=seed)
        t = truth.sites[0][1]
        m = measure_cmap(resp.samples_v[0], fs, resp.stim_index, mains_hz=real.mains_hz)
        assert m.status == "ok" and m.present, (seed, m.status, m.reasons)
        errs.append((
            abs(m.onset_latency_ms - t.onset_latency_ms),
            abs(100 * (m.amplitude_mv / t.amplitude_mv - 1)),
            abs(m.neg_duration_ms - t.neg_duration_ms),
            abs(100 * (m.neg_area_mvms / t.neg_area_mvms - 1)),
        ))
    return errs


PARAMS = []
for fs in (10_000.0, 20_000.0, 48_000.0):
    for shape in SHAPES:
        for cond in CONDITIONS:
            marks = []
            if (fs, shape, cond) in KNOWN:
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN[(fs, shape, cond)])]
            PARAMS.append(pytest.param(fs, shape, cond, marks=marks, id=f"{int(fs / 1000)}kHz-{shape}-{cond}"))


@pytest.mark.parametrize("fs,shape,cond", PARAMS)
def test_accuracy_against_truth(fs, shape, cond):
    errs = np.array(_case(fs, shape, cond))
    worst = errs.max(axis=0)
    assert worst[0] <= ONSET_MS, f"onset error {worst[0]:.3f} ms"
    assert worst[1] <= AMP_PCT, f"amplitude error {worst[1]:.2f} %"
    assert worst[2] <= NEGDUR_MS, f"negative duration error {worst[2]:.3f} ms"
    assert worst[3] <= AREA_PCT, f"negative area error {worst[3]:.2f} %"


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_absent_detection(fs):
    for seed in range(20):
        (small,), _ = ncs.simulate_motor(MotorSpec(3.5, 0.2), [("s", 70)], fs, realism=Realism(noise_uv_rms=10), seed=seed)
        m = measure_cmap(small.samples_v[0], fs, small.stim_index)
        assert m.present and m.status == "ok", f"0.2 mV CMAP called {m.status} (seed {seed})"
    for seed in range(50):
        (none,), _ = ncs.simulate_motor(MotorSpec(3.5, 0.0), [("s", 70)], fs,
                                        realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=seed)
        m = measure_cmap(none.samples_v[0], fs, none.stim_index)
        assert m.status == "absent" and m.present is False, f"noise called a response (seed {seed})"
        assert m.amplitude_mv == 0.0 and m.onset_latency_ms is None and 5.0 < m.noise_uv < 20.0
        assert "inverted_polarity" not in m.quality


# Velocity reads 0.6-0.8 % low on average (was 0.9-1.1 %): the proximal take-off, led by the single
# fastest unit whose first 0.1 ms is below the noise, is found later than the truth's first departure
# (the truth is distance / difference of the fastest unit's latencies).  Judged on seeds 0-59 (the
# first ten alone hid the misses).  2026-11-22: for strong responses the hinge's rise may slow down
# (a cubic term, c <= 0) and ends at 10 % of the amplitude, without the line extrapolation: noise-free
# onsets +0.01 (distal) and +0.03 ms (proximal) instead of +0.04 and +0.08; with noise, seeds 0-59:
# misses 1/0/1 -> 1/0/0 at 10/20/48 kHz, mean -1.0 % -> -0.8/-0.6/-0.6 %; held-out seeds 60-199:
# 7/4/1 -> 4/1/2 misses.  What remains is the spread (SD 0.5-0.6 %) around the lone leading unit.
# Tried and not adopted: letting the residual SD grow with 10 % of the signal (misses move, not
# vanish); a free-sign cubic (early and wide on 0.5 mV CMAPs: 42 of 900 accuracy cases fail); an
# Occam factor on the hinge's coefficients (all onsets later, no velocity gain); the cubic also for
# weak responses (10 kHz 0.5 mV myopathic: more than 0.2 ms off in 3.6 % instead of 1.4 %).
CV_SEEDS = range(60)
CV_KNOWN = {
    10_000.0: "1 of 60 pairs beyond 2 %: worst -2.11 % (seeds 0-59; mean -0.78 %)",
}


@pytest.mark.parametrize("fs", [pytest.param(f, marks=[pytest.mark.xfail(strict=True, reason=CV_KNOWN[f])]
                                             if f in CV_KNOWN else []) for f in (10_000.0, 20_000.0, 48_000.0)])
def test_conduction_velocity_within_2_percent(fs):
    for seed in CV_SEEDS:
        spec = MotorSpec(3.5, 6.0, cv_m_s=55.0)
        resp, truth = ncs.simulate_motor(spec, [("wrist", 70), ("elbow", 230)], fs, realism=Realism(noise_uv_rms=10),
                                         seed=seed)
        d, p = (measure_cmap(r.samples_v[0], fs, r.stim_index) for r in resp)
        seg = conduction_velocity(d, p, 230.0)
        assert seg.cv_m_s == pytest.approx(truth.segments[0]["cv_m_s"], rel=0.02), seed
        assert seg.amplitude_drop_pct == pytest.approx(truth.segments[0]["amplitude_drop_pct"], abs=3.0)


def test_quality_failures_are_named():
    fs = 20_000.0
    x = np.zeros(1000)
    x[500] = np.nan
    assert measure_cmap(x, fs, 100).status == "nonfinite"
    assert measure_cmap(np.zeros(1000), fs, 100).status == "flat"
    good = np.random.default_rng(0).normal(0, 1e-5, 1000)
    for stim in (-1, 1000, 5000):
        r = measure_cmap(good, fs, stim)
        assert r.status == "no_stimulus" and r.amplitude_mv is None and "all" in r.reasons
    assert measure_cmap(good[:150], fs, 100).status == "too_short"
    with pytest.raises(ValueError, match="fs_hz"):
        measure_cmap(good)


def test_samples_not_in_volts_are_refused_not_measured():
    """mV or µV passed as volts: a quality failure that says so, never an amplitude 1000x off."""
    fs = 20_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.5, 5.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=10), seed=0)
    x = r.samples_v[0]
    assert measure_cmap(x, fs, r.stim_index).status == "ok"
    for scale, unit in ((1e3, "mV"), (1e6, "µV")):
        m = measure_cmap(x * scale, fs, r.stim_index)
        assert m.status == "implausible_units" and m.present is None, unit
        assert m.amplitude_mv is None and m.onset_latency_ms is None and m.neg_area_mvms is None
        assert "mV RMS" in m.reasons["all"] and "volts" in m.reasons["all"]
        s = edx.measure_snap(x * scale, fs, r.stim_index)
        assert s.status == "implausible_units" and s.amplitude_uv is None
    # a noise-free response in mV (a synthetic test signal): refused from its noise (below any
    # recording's), and with that check off from its amplitude
    quiet = r.clean_v[0] * 1e3 + np.random.default_rng(1).normal(0.0, 1e-9, x.size)
    m = measure_cmap(quiet, fs, r.stim_index)
    assert m.status == "implausible_units" and "nV RMS" in m.reasons["all"]
    m = measure_cmap(quiet, fs, r.stim_index, min_noise_v=0.0)
    assert m.status == "implausible_units" and m.amplitude_mv is None and m.markers.onset is None
    assert "a response of 4" in m.reasons["all"]
    # samples a thousand times too small (volts converted twice): refused from the noise (review:
    # a 5 mV CMAP read 0.005 mV with status ok, a severe CIM/CIP finding); an average of many
    # sweeps is judged against a floor lowered as its noise is
    for scale in (1e-3, 1e-6):
        m = measure_cmap(x * scale, fs, r.stim_index)
        assert m.status == "implausible_units" and m.amplitude_mv is None, scale
        assert "too small" in m.reasons["all"] and "nV RMS" in m.reasons["all"]
    snaps = ncs.simulate_sensory(ncs.SensorySpec(140, 15.0), fs, n_sweeps=200, realism=Realism(noise_uv_rms=1.5),
                                 seed=3)
    assert edx.measure_snap(snaps.samples_v, fs, snaps.stim_index).status == "ok"  # 0.1 µV averaged noise
    assert edx.measure_snap(snaps.samples_v * 1e-3, fs, snaps.stim_index).status == "implausible_units"
    # an offset of volts
    assert measure_cmap(x + 2.0, fs, r.stim_index).status == "implausible_units"
    # the batched path says the same; a lab may switch a check off
    rows = measure_cmap_batch(np.stack([x, x * 1e3]), fs, r.stim_index, parallel=False)
    assert [result_from_row(row, fs).status for row in rows] == ["ok", "implausible_units"]
    assert measure_cmap(quiet, fs, r.stim_index, max_amplitude_v=0.0, min_noise_v=0.0).status == "ok"
    # the largest real responses stay measurable: a 25 mV CMAP with 50 µV of noise
    (big,), _ = ncs.simulate_motor(MotorSpec(3.5, 25.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=50), seed=2)
    assert measure_cmap(big.samples_v[0], fs, big.stim_index).status == "ok"


def test_clipped_sweep_is_a_quality_failure_not_a_number():
    study = edx.read_manifest("sample_data/studies/artifacts/study.toml")
    m = measure_cmap(edx.load_site(study, "median-motor-R", "wrist"))
    assert m.status == "clipped" and m.amplitude_mv is None and m.neg_area_mvms is None
    assert "clipped" in m.quality and "amplifier" in m.reasons["all"]


def test_late_marker_is_replaced_by_the_artifact():
    study = edx.read_manifest("sample_data/studies/artifacts/study.toml")
    resp = edx.load_site(study, "ulnar-motor-R", "wrist")
    m = measure_cmap(resp)
    assert "stimulus_from_artifact" in m.quality and m.stimulus_source == "artifact"
    assert m.markers.stimulus == resp.sweeps[0].stimulus_index - 24  # 1.2 ms at 20 kHz
    assert m.onset_latency_ms == pytest.approx(2.9, abs=ONSET_MS)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_early_marker_is_replaced_by_the_artifact(fs):
    """A marker written before the pulse (review: 1 ms early, a 5 mV artifact was measured as a 5 mV
    CMAP with status ok; 0.5 ms early, every latency 0.5 ms long, unflagged).  The artifact is
    looked for up to artifact_ahead_ms after the marker."""
    for amp, art in ((0.4, 5.0), (0.4, 50.0), (2.0, 10.0), (10.0, 3.0)):
        for seed in range(2):
            (r,), truth = ncs.simulate_motor(MotorSpec(3.5, amp), [("w", 70)], fs,
                                             realism=Realism(noise_uv_rms=5, artifact_mv=art), seed=seed)
            t = truth.sites[0][1]
            for early_ms in (0.7, 1.0, 1.5, 2.5):
                m = measure_cmap(r.samples_v[0], fs, r.stim_index - int(round(early_ms * 1e-3 * fs)))
                where = (amp, art, seed, early_ms, m.status, m.amplitude_mv, m.onset_latency_ms)
                assert m.status == "ok" and "stimulus_from_artifact" in m.quality, where
                assert abs(m.markers.stimulus - r.stim_index) <= 1, where
                assert abs(m.amplitude_mv / t.amplitude_mv - 1) <= AMP_PCT / 100, where
                assert abs(m.onset_latency_ms - t.onset_latency_ms) <= ONSET_MS, where


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_artifact_running_into_the_search_window_is_no_stimulus(fs):
    """A marker 3 ms after the pulse puts the artifact's start at the edge of the search window
    (artifact_search_ms): the response read absent, or the stimulus was taken from the middle of the
    artifact (review).  Where the pulse was cannot be said: a quality failure naming the marker."""
    for seed in range(3):
        (r,), _ = ncs.simulate_motor(MotorSpec(3.5, 0.4), [("w", 70)], fs,
                                     realism=Realism(noise_uv_rms=5, artifact_mv=5.0), seed=seed)
        for late_ms in (3.0, 3.5, 4.0):  # 3.5 and 4 ms: the artifact wholly in the baseline (read absent)
            m = measure_cmap(r.samples_v[0], fs, r.stim_index + int(round(late_ms * 1e-3 * fs)))
            assert m.status == "no_stimulus" and m.amplitude_mv is None, (seed, late_ms, m.status, m.amplitude_mv)
            assert "artifact_search_ms" in m.reasons["all"]
        # without an artifact the response's own rise just after a late marker is not taken for one
        (q,), _ = ncs.simulate_motor(MotorSpec(3.5, 10.0), [("w", 70)], fs, realism=Realism(noise_uv_rms=5), seed=seed)
        m = measure_cmap(q.samples_v[0], fs, q.stim_index + int(round(3.2e-3 * fs)))
        assert "stimulus_from_artifact" not in m.quality and m.status != "no_stimulus"


def test_a_response_rising_soon_after_the_stimulus_is_not_taken_for_the_artifact():
    """Without an artifact in the file, the steep rise of a response starting 1 ms after the marker
    is not mistaken for a late pulse (its fall is about as steep)."""
    for fs in (4_000.0, 10_000.0, 20_000.0):
        for seed in range(5):
            (r,), truth = ncs.simulate_motor(MotorSpec(1.0, 20.0), [("w", 70)], fs, realism=Realism(noise_uv_rms=5),
                                             seed=seed)
            m = measure_cmap(r.samples_v[0], fs, r.stim_index)
            assert m.status == "ok" and m.stimulus_source == "marker", (fs, seed, m.status, m.quality)
            assert m.markers.stimulus == r.stim_index and m.amplitude_mv == pytest.approx(20.0, rel=0.03)
            # (at 4 kHz a take-off 1 ms after the pulse is mostly left unplaced: onset_in_artifact)
            if m.onset_latency_ms is not None:
                assert abs(m.onset_latency_ms - truth.sites[0][1].onset_latency_ms) <= max(ONSET_MS, 1e3 / fs)


def test_inverted_export_is_detected_and_overridable():
    (r,), t = ncs.simulate_motor(MotorSpec(3.5, 4.0), [("s", 70)], 20_000.0, realism=Realism(noise_uv_rms=10), seed=2)
    normal = measure_cmap(r.samples_v[0], 20_000.0, r.stim_index)
    inv = measure_cmap(-r.samples_v[0], 20_000.0, r.stim_index)
    assert inv.polarity == "inverted" and "inverted_polarity" in inv.quality
    assert inv.amplitude_mv == pytest.approx(normal.amplitude_mv, rel=1e-6)
    forced = measure_cmap(-r.samples_v[0], 20_000.0, r.stim_index, polarity="normal")
    assert forced.polarity == "normal" and forced.amplitude_mv != pytest.approx(normal.amplitude_mv, rel=0.05)


def test_marker_override_recomputes_dependent_values():
    fs = 20_000.0
    (r,), t = ncs.simulate_motor(MotorSpec(3.5, 4.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=5), seed=3)
    x = r.samples_v[0]
    m = measure_cmap(x, fs, r.stim_index)
    later = m.markers.onset + 0.5e-3 * fs
    o = override_markers(m, x, onset=later)
    assert o.onset_latency_ms == pytest.approx(m.onset_latency_ms + 0.5)
    assert o.neg_duration_ms == pytest.approx(m.neg_duration_ms - 0.5)
    assert "markers_overridden" in o.quality
    # the area loses exactly what the trace holds between the old and the new onset
    d = -(x - m.baseline_mv * 1e-3)
    grid = np.arange(m.markers.onset, later + 1e-9, 0.01)
    lost = np.trapezoid(np.maximum(np.interp(grid, np.arange(x.size), d), 0.0), grid) / fs * 1e6
    assert o.neg_area_mvms == pytest.approx(m.neg_area_mvms - lost, rel=1e-3)
    # values whose markers did not move stay as measured
    assert (o.amplitude_mv, o.peak_to_peak_mv, o.neg_peak_latency_ms) == (m.amplitude_mv, m.peak_to_peak_mv,
                                                                          m.neg_peak_latency_ms)
    peak = m.markers.neg_peak + 1.0e-3 * fs  # 1 ms after the peak: a smaller value
    o2 = override_markers(m, x, neg_peak=peak)
    x_mv = (x - m.baseline_mv * 1e-3) * 1e3
    moved = np.interp(peak, np.arange(x_mv.size), x_mv) - np.interp(m.markers.neg_peak, np.arange(x_mv.size), x_mv)
    assert o2.amplitude_mv == pytest.approx(m.amplitude_mv - moved, rel=1e-9)
    assert o2.amplitude_mv < m.amplitude_mv
    assert o2.peak_to_peak_mv - m.peak_to_peak_mv == pytest.approx(o2.amplitude_mv - m.amplitude_mv, rel=1e-9)
    assert (o2.neg_area_mvms, o2.onset_latency_ms) == (m.neg_area_mvms, m.onset_latency_ms)
    # moving the onset away and back gives the measurement again
    back = override_markers(o, x, onset=m.markers.onset)
    assert back.neg_area_mvms == pytest.approx(m.neg_area_mvms, rel=1e-12)
    assert back.total_area_mvms == pytest.approx(m.total_area_mvms, rel=1e-12)


@pytest.mark.parametrize("realism", [Realism(noise_uv_rms=5), Realism(noise_uv_rms=10, hum_uv=50, drift_uv=100,
                                                                      artifact_mv=3.0)], ids=["clean", "hum-drift-artifact"])
def test_override_with_no_marker_moved_changes_nothing_but_the_flag(realism):
    fs = 20_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.5, 4.0), [("s", 70)], fs, realism=realism, seed=5)
    m = measure_cmap(r.samples_v[0], fs, r.stim_index)
    same = override_markers(m, r.samples_v[0], onset=m.markers.onset, neg_peak=m.markers.neg_peak)
    assert same == replace(m, quality=m.quality | {"markers_overridden"})


def test_snap_override_from_a_response_uses_the_average():
    from edx.measure.ncs import measure_snap

    study = edx.read_manifest("sample_data/studies/normal/study.toml")
    resp = edx.load_site(study, "median-sensory-R", 0)
    assert len(resp.sweeps) > 1
    avg = np.mean([s.samples_v for s in resp.sweeps], axis=0)
    m = measure_snap(resp)
    peak = m.markers.neg_peak + 0.1e-3 * m.fs_hz
    o_avg = override_markers(m, avg, neg_peak=peak)
    o_resp = override_markers(m, resp, neg_peak=peak)  # the sweeps are averaged as measure_snap does
    assert o_resp.amplitude_uv == pytest.approx(o_avg.amplitude_uv, rel=1e-12)
    first_only = override_markers(m, resp.sweeps[0].samples_v, neg_peak=peak)
    assert first_only.amplitude_uv != pytest.approx(o_avg.amplitude_uv, rel=1e-3)


def test_batch_equals_single_and_config_defaults():
    fs = 20_000.0
    rows, truths = [], []
    for seed in range(8):
        (r,), t = ncs.simulate_motor(MotorSpec(3.5, 2.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=10), seed=seed)
        rows.append(r.samples_v[0])
    from edx.measure.ncs import measure_cmap_batch, result_from_row

    for parallel in (True, False):
        out = measure_cmap_batch(np.vstack(rows), fs, 100, parallel=parallel)
        for k, row in enumerate(out):
            single = measure_cmap(rows[k], fs, 100)
            assert result_from_row(row, fs) == single
    assert CMAP_CONFIG.mains_hz == 50.0


def test_a_corrected_site_goes_back_into_the_study_with_its_segments():
    study = edx.read_manifest("sample_data/studies/demyelinating/study.toml")
    m = edx.measure_study(study)
    tm = next(t for t in m.tests if t.test.id == "ulnar-motor-R")
    prox = tm.sites["below elbow"]
    earlier = override_markers(prox, edx.load_site(study, "ulnar-motor-R", "below elbow"),
                               onset=prox.markers.onset - 0.3e-3 * prox.fs_hz)
    m2 = m.with_site("ulnar-motor-R", "below elbow", earlier)
    tm2 = next(t for t in m2.tests if t.test.id == "ulnar-motor-R")
    assert tm2.sites["below elbow"] is earlier and tm2.sites["wrist"] is tm.sites["wrist"]
    (a, b, seg), = [s for s in tm2.segments if "below elbow" in s[:2]][:1]
    assert seg.cv_m_s > next(s for s in tm.segments if s[:2] == (a, b))[2].cv_m_s  # an earlier onset: faster
    assert [t for t in m2.tests if t.test.id != "ulnar-motor-R"] == [t for t in m.tests if t.test.id != "ulnar-motor-R"]
    assert edx.interpret(m2).pattern is not None
    with pytest.raises(KeyError):
        m.with_site("nope", "wrist", earlier)
    with pytest.raises(KeyError):
        m.with_site("ulnar-motor-R", "nowhere", earlier)
    f_test = next(t for t in m.tests if t.test.type.value == "f_wave")
    with pytest.raises(ValueError):
        f_test.with_site(next(iter(f_test.sites)), earlier)


# --------------------------------------------------------------------------- sample studies


def sample_motor_errors():
    """Every present, unclipped motor response of the sample studies and every velocity between
    two measured sites, against truth.json: yields ``(where, key, signed error)`` with ``key`` one
    of ``onset`` (ms), ``amp`` (%), ``negdur`` (ms), ``area`` (%), ``cv`` (%), or ``status`` with
    the status of a response that could not be measured.  Also used by benchmarks/validation.py."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "sample_data" / "studies"
    for manifest in sorted(root.glob("*/study.toml")):
        name = manifest.parent.name
        study = edx.read_manifest(manifest)
        truth = json.loads((manifest.parent / "truth.json").read_text())["tests"]
        for test in study.tests:
            if test.type.value != "motor":
                continue
            tt, res = truth[test.id], {}
            for site in test.sites:
                st, m = tt["sites"][site.name], measure_cmap(edx.load_site(study, test.id, site.name))
                res[site.name] = m
                if not st["present"] or site.name in tt.get("clipped_sites", []):
                    continue
                where = f"{name} {test.id} {site.name}"
                if not (m.status == "ok" and m.present):
                    yield where, "status", m.status
                    continue
                yield where, "onset", m.onset_latency_ms - st["onset_latency_ms"]
                yield where, "amp", 100 * (m.amplitude_mv / st["amplitude_mv"] - 1)
                yield where, "negdur", m.neg_duration_ms - st["neg_duration_ms"]
                yield where, "area", 100 * (m.neg_area_mvms / st["neg_area_mvms"] - 1)
            for seg in tt.get("segments", []):
                a, b = res.get(seg["from"]), res.get(seg["to"])
                if a is None or b is None or not (a.present and b.present):
                    continue
                cv = conduction_velocity(a, b, seg["distance_mm"]).cv_m_s
                if cv is None:
                    continue
                want = seg["distance_mm"] / (tt["sites"][seg["to"]]["onset_latency_ms"]
                                             - tt["sites"][seg["from"]]["onset_latency_ms"])
                yield f"{name} {test.id} {seg['from']}-{seg['to']}", "cv", 100 * (cv / want - 1)


#: the issue's tolerances, in the units of :func:`sample_motor_errors`
SAMPLE_TOLERANCES = {"onset": ONSET_MS, "amp": AMP_PCT, "negdur": NEGDUR_MS, "area": AREA_PCT, "cv": 2.0}


def _sample_motor_misses() -> list[str]:
    """The sample motor responses and velocities outside the issue's tolerances."""
    misses = []
    for where, key, err in sample_motor_errors():
        if key == "status":
            misses.append(f"{where}: {err}")
        elif abs(err) > SAMPLE_TOLERANCES[key]:
            misses.append(f"{where}: {key} {err:+.3f}")
    return misses


# Why the dispersed proximal onsets stay late (2026-11-22, measured on the demyelinating study's clean
# responses re-simulated with 40 fresh 8 µV noise draws): ulnar below elbow +0.159 +- 0.031 ms, median
# elbow +0.121 +- 0.044 ms; the sample files hold draws of +0.181 and +0.188 ms, and 2 % needs at most
# +0.124 and +0.175 ms.  The late part is model bias, not noise: on the noise-free trace the cubic hinge
# reads +0.15 and +0.10-0.13 ms, as the units' joining still speeds up over the fit window (c <= 0
# cannot follow).  Tried and not adopted (each judged on these samples, velocity seeds 0-59 and the
# accuracy grid): (1) a joint fit, a lead ramp from t1 plus the cubic hinge of the bulk from t2 >= t1,
# used when it lowers the residual by more than 10-16 noise variances: on the clean trace the lead is
# worth only 3.9 (ulnar) and 9.4 (median) variances at 8 µV, so on the sample files it did not move
# those sites, while it fired on the residue of a stimulus artifact (artifacts tibial ankle -0.45 ms:
# 29/33 velocities) and made proximal onsets early on the simulator (+2.64 % at 10 kHz, +2.38 % at 48
# kHz); (2) a free-sign cubic for strong responses: 30/33 with other misses (cip median and ulnar -2.14
# and -2.18 %), 10 kHz velocity misses 1 -> 3; (3) a shorter hinge window (12 SD / 6 % or 8 SD / 4 %):
# 30/33, the misses move; (4) take-offs searched further back (2-4 times the 5-20 % rise time instead
# of 0.6 ms; the window starts only 1-2.5 samples before the truth at those sites): their onsets do
# not move, the posterior is not cut by the window.
@pytest.mark.xfail(strict=True, reason=(
    "proximal sites of temporally dispersed CMAPs (measured): velocities cim median -2.01 %, demyelinating "
    "median -2.16 % and ulnar -2.79 % (66 of 66 responses and 30 of 33 velocities within; onsets were "
    "demyelinating median elbow +0.230 ms and ulnar below elbow +0.228 ms, now +0.19 and +0.18 ms). The "
    "truth's onset is the fastest unit's first departure; at a dispersed proximal site that unit leads the "
    "others by 0.1-0.4 ms with a few µV (open work of issue 4)"))
def test_sample_motor_responses_within_tolerances():
    assert _sample_motor_misses() == []


def test_velocity_faster_than_any_nerve_is_not_reported():
    fs = 20_000.0
    resp, truth = ncs.simulate_motor(MotorSpec(3.5, 6.0, cv_m_s=55.0), [("wrist", 70), ("elbow", 230)], fs,
                                     realism=Realism(noise_uv_rms=10), seed=0)
    d, p = (measure_cmap(r.samples_v[0], fs, r.stim_index) for r in resp)
    assert conduction_velocity(d, p, 230.0).cv_m_s == pytest.approx(55.0, rel=0.02)
    wrong = conduction_velocity(d, p, 2300.0)  # a distance ten times too long
    assert wrong.cv_m_s is None and "implausible_velocity" in wrong.quality
    assert "548 m/s over 2300 mm" in wrong.reasons["cv"] and wrong.amplitude_drop_pct is not None
    assert conduction_velocity(d, p, 2300.0, max_cv_m_s=0.0).cv_m_s == pytest.approx(548.4, rel=0.01)


def test_velocity_over_a_distance_in_cm_is_flagged():
    """Review: 230 mm typed as 23 gave 5.7 m/s with no flag, read as severe demyelination (a
    normal study interpreted 'consider GBS/CIDP').  A velocity under 10 m/s over less than 50 mm is
    flagged distance_unit_suspect (the interpreter does not judge it); a slow velocity over a
    standard distance is not."""
    fs = 20_000.0
    resp, truth = ncs.simulate_motor(MotorSpec(3.5, 6.0, cv_m_s=55.0), [("wrist", 70), ("elbow", 230)], fs,
                                     realism=Realism(noise_uv_rms=10), seed=0)
    d, p = (measure_cmap(r.samples_v[0], fs, r.stim_index) for r in resp)
    for dist in (23.0, 0.23):
        seg = conduction_velocity(d, p, dist)
        # kept with the flag (review: an inching step across a focal lesion can be as slow)
        assert seg.cv_m_s == pytest.approx(dist / seg.latency_difference_ms) and "distance_unit_suspect" in seg.quality
        assert "cm or m instead of mm" in seg.reasons["cv"]
    assert "distance_unit_suspect" in sensory_velocity(d, 7.0).quality
    # a very slow nerve over a standard segment (hypomyelinating neuropathy: a few m/s) is reported
    slow, _ = ncs.simulate_motor(MotorSpec(8.0, 2.0, cv_m_s=8.0, cv_spread_m_s=0.5), [("wrist", 70), ("elbow", 100)],
                                 fs, realism=Realism(noise_uv_rms=10), seed=1)
    d, p = (measure_cmap(r.samples_v[0], fs, r.stim_index) for r in slow)
    seg = conduction_velocity(d, p, 100.0)
    assert seg.cv_m_s == pytest.approx(8.0, rel=0.1) and not {"implausible_velocity", "distance_unit_suspect"} & seg.quality


def test_short_segment_velocity_above_the_limit_from_sampling_alone_is_kept_and_flagged():
    """An inching segment of 10 mm at 10 kHz: a latency difference of 0.085 ms (one sample
    short of the true 0.167 ms) reads 118 m/s; within two sampling intervals it cannot be told
    from 35 m/s, so it is kept, flagged uncertain, not called a wrong distance."""
    fs = 10_000.0
    x = np.zeros(400)
    d = measure_cmap(x, fs, 50)  # stand-ins carrying fs and the onsets
    from dataclasses import replace as dc_replace

    d = dc_replace(d, status="ok", present=True, onset_latency_ms=4.0)
    p = dc_replace(d, onset_latency_ms=4.085)
    seg = conduction_velocity(d, p, 10.0)
    assert seg.cv_m_s == pytest.approx(10.0 / 0.085) and "velocity_uncertain" in seg.quality
    assert "two sampling intervals" in seg.reasons["cv"]
    far = conduction_velocity(d, dc_replace(d, onset_latency_ms=8.0), 2300.0)  # 575 m/s
    assert far.cv_m_s is None and "implausible_velocity" in far.quality


# --------------------------------------------------------------------------- onset share


def test_automatic_onset_share_is_recorded_and_repeated_when_passed():
    """The share of the cubic hinge chosen from each sweep's SNR is in the result; passing it
    back (``onset_share=``) gives exactly the automatic result, and a different share moves
    the onset of a mid-SNR sweep."""
    fs = 20_000.0
    seen = set()
    for amp, block in ((8.0, ()), (2.5, (0.5,)), (0.5, ())):
        resp, _ = ncs.simulate_motor(MotorSpec(3.5, amp, block=block), [("w", 70), ("e", 230)], fs,
                                     realism=Realism(noise_uv_rms=10), seed=1)
        for r in resp:
            auto = measure_cmap(r.samples_v[0], fs, r.stim_index)
            assert auto.present and 0.0 <= auto.onset_share <= 1.0
            assert measure_cmap(r.samples_v[0], fs, r.stim_index, onset_share=auto.onset_share) == auto
            seen.add(round(auto.onset_share, 6))
            if 0.0 < auto.onset_share < 1.0:
                other = measure_cmap(r.samples_v[0], fs, r.stim_index, onset_share=1.0)
                assert other.onset_share == 1.0 and other.onset_latency_ms != auto.onset_latency_ms
    assert {0.0, 1.0} <= seen and len(seen) >= 3  # strong, weak and blended sweeps were all exercised
    with pytest.raises(ValueError):
        measure_cmap(resp[0].samples_v[0], fs, resp[0].stim_index, onset_share=1.5)


def test_velocity_across_a_block_uses_one_onset_share():
    """Across a 50 % block the 2.5 mV proximal CMAP leans to the weak-response estimator and the
    distal one to the cubic hinge; the study's path measures both sites with the smaller share.
    Measured (seeds 0-29, 20 kHz, 10 µV): mean velocity error -1.03 % (6 beyond 2 %) with each
    site's own share, -0.79 % (5) with one share."""
    from edx.measure.study import _common_onset_share

    fs = 20_000.0
    own, common, n_mixed = [], [], 0
    for seed in range(30):
        resp, truth = ncs.simulate_motor(MotorSpec(3.5, 2.5, block=(0.5,)), [("w", 70), ("e", 230)], fs,
                                         realism=Realism(noise_uv_rms=10), seed=seed)
        x = {r.site: (r.samples_v[0], fs, r.stim_index) for r in resp}
        res = {name: measure_cmap(*a) for name, a in x.items()}
        again = _common_onset_share(res, lambda name, share: measure_cmap(*x[name], onset_share=share))
        both = {**res, **again}
        low = min(r.onset_share for r in res.values())
        assert both["w"].onset_share == both["e"].onset_share == low
        assert set(again) == {name for name, r in res.items() if r.onset_share != low}
        mixed = conduction_velocity(res["w"], res["e"], 230.0)
        one = conduction_velocity(both["w"], both["e"], 230.0)
        n_mixed += "onset_estimators_differ" in mixed.quality
        assert "onset_estimators_differ" not in one.quality
        cv = truth.segments[0]["cv_m_s"]
        own.append(100 * (mixed.cv_m_s / cv - 1))
        common.append(100 * (one.cv_m_s / cv - 1))
    assert n_mixed >= 20  # the block case does mix estimators
    assert abs(np.mean(common)) < abs(np.mean(own))
    assert np.mean(np.abs(common)) < np.mean(np.abs(own))
    assert sum(abs(e) > 2.0 for e in common) < sum(abs(e) > 2.0 for e in own)


def test_study_measures_the_sites_of_a_motor_test_with_one_onset_share():
    study = edx.read_manifest("sample_data/studies/demyelinating/study.toml")
    for tm in edx.measure_study(study).tests:
        if tm.test.type.value != "motor":
            continue
        shares = {r.onset_share for r in tm.sites.values() if r.present and r.onset_share is not None}
        assert len(shares) <= 1, (tm.test.id, shares)
        assert not any("onset_estimators_differ" in seg.quality for _, _, seg in tm.segments)


def test_what_load_and_cut_sweeps_return_is_measured_or_refused_with_what_to_pass():
    """Review: a Recording or Trace passed to the measure functions gave 'fs_hz is required with a
    plain array' or a TypeError from float(); the tuple of sweeps edx.cut_sweeps returns was refused."""
    rec = edx.load("sample_data/formats/ulnar_edfd.edf")
    sweeps = edx.cut_sweeps(rec, "ADM")
    for call in (lambda: measure_cmap(rec), lambda: measure_cmap(rec.traces[0]), lambda: edx.measure_snap(rec),
                 lambda: edx.measure_fwaves(rec), lambda: edx.rns_decrement(rec)):
        with pytest.raises(TypeError, match="sweeps around a stimulus.*edx.cut_sweeps"):
            call()
    assert measure_cmap(sweeps) == measure_cmap(sweeps[0])  # the first sweep, as of a Response
    with pytest.raises(ValueError, match="contradicts"):
        measure_cmap(sweeps[0], fs_hz=10_000.0)
    with pytest.raises(ValueError, match="stimulus_index must be a whole sample index"):
        measure_cmap(sweeps[0].samples_v, sweeps[0].fs_hz, float("nan"))
    with pytest.raises(ValueError, match="polarity must be"):
        measure_cmap(sweeps[0], polarity="bogus")
    with pytest.raises(ValueError, match=r"got shape \(1, "):
        edx.rns_decrement(np.zeros((1, 20_000)), 20_000.0, [100, 5000, 10_000, 15_000])


def test_override_refuses_markers_no_response_can_have():
    """Review: an onset beyond the sweep read 245 ms with a negative duration, an onset typed in ms a
    latency of -4.8 ms, samples in µV an area of -1332 mV·ms; all with status ok."""
    fs = 20_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.5, 4.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=5), seed=3)
    x = r.samples_v[0]
    m = measure_cmap(x, fs, r.stim_index)
    mk = m.markers
    for kw, match in ((dict(onset=5000.0), "not a sample index"), (dict(onset=float("nan")), "not a sample index"),
                      (dict(onset=3.5), "out of order"), (dict(onset=mk.neg_end + 20), "out of order"),
                      (dict(stimulus=10**6), "not a sample index"), (dict(stimulus=100.5), "whole sample"),
                      (dict(stimulus=float("nan")), "not a sample index"),
                      (dict(neg_peak=mk.onset - 5), "out of order")):
        with pytest.raises(ValueError, match=match):
            override_markers(m, x, **kw)
    with pytest.raises(ValueError, match="do not match the measurement"):
        override_markers(m, x * 1e6, onset=mk.onset + 1)
    # a response the user places on a sweep read as absent is no longer absent
    (a,), _ = ncs.simulate_motor(MotorSpec(3.5, 0.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=10), seed=1)
    ab = measure_cmap(a.samples_v[0], fs, a.stim_index)
    assert ab.status == "absent"
    placed = override_markers(ab, a.samples_v[0], onset=a.stim_index + 70, neg_peak=a.stim_index + 110)
    assert placed.status == "ok" and placed.present is True and "all" not in placed.reasons


def test_swapped_sites_give_no_velocity_and_no_block_figures():
    """Review: with the sites swapped the velocity was refused but a -4.5 % 'amplitude drop' was
    still reported (proximal relative to distal, the wrong way round)."""
    fs = 20_000.0
    resp, _ = ncs.simulate_motor(MotorSpec(3.5, 6.0), [("wrist", 70), ("elbow", 230)], fs,
                                 realism=Realism(noise_uv_rms=10), seed=0)
    d, p = (measure_cmap(r.samples_v[0], fs, r.stim_index) for r in resp)
    right = conduction_velocity(d, p, 230.0)
    assert right.cv_m_s is not None and right.amplitude_drop_pct is not None
    wrong = conduction_velocity(p, d, 230.0)
    assert wrong.cv_m_s is None and "sites swapped" in wrong.reasons["cv"]
    assert (wrong.amplitude_drop_pct, wrong.area_drop_pct, wrong.duration_increase_pct) == (None, None, None)


def test_a_cmap_measured_as_a_snap_says_so():
    fs = 20_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.5, 6.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=5), seed=0)
    s = edx.measure_snap(r.samples_v[0], fs, r.stim_index)
    assert s.status == "implausible_units" and "motor response measured as sensory" in s.reasons["all"]


def test_a_snap_rising_soon_after_the_marker_is_not_taken_for_the_artifact():
    """Review of the after-marker search: at 4-5 kHz a SNAP's rise (one or two samples) passed for a
    pulse when no artifact stood out at the marker, and a normal SNAP read absent (25 of 108 at 4 kHz).
    The after-marker search runs only when nothing stands out at the marker, and takes a step of at
    least artifact_ahead_min_v (0.5 mV)."""
    moved = []
    for fs in (4_000.0, 5_000.0, 10_000.0):
        for dist in (70.0, 100.0, 140.0):
            for amp in (10.0, 60.0):
                for art in (0.0, 0.005):
                    s = ncs.simulate_sensory(ncs.SensorySpec(distance_mm=dist, amplitude_uv=amp), fs, n_sweeps=50,
                                             realism=Realism(noise_uv_rms=2.0, artifact_mv=art), seed=0)
                    r = edx.measure_snap(s.samples_v, fs, s.stim_index)
                    if r.status != "ok" or r.markers.stimulus != s.stim_index:
                        moved.append((fs, dist, amp, art, r.status, r.markers.stimulus, s.stim_index))
    assert moved == []


def test_late_marker_is_corrected_when_the_cmap_is_steeper_than_its_artifact():
    """Review: with the search window reaching 3 ms after the marker, a 10 mV CMAP's rise was the
    steepest thing in it and the 0.1 mV artifact before the marker was not found (onset 1 ms short)."""
    fs = 10_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.0, 10.0), [("d", 0.0)], fs, realism=Realism(noise_uv_rms=1, artifact_mv=0.1),
                                 seed=1)
    for late_ms in (0.5, 1.0, 1.5):
        m = measure_cmap(r.samples_v[0], fs, r.stim_index + int(round(late_ms * 1e-3 * fs)))
        assert m.stimulus_source == "artifact" and m.markers.stimulus == r.stim_index, late_ms
        assert m.onset_latency_ms == pytest.approx(3.0, abs=ONSET_MS)


@pytest.mark.parametrize("lowpass_hz", [3_000.0, 5_000.0])
def test_early_marker_with_an_artifact_shaped_by_the_amplifier_filter(lowpass_hz):
    """Review: a pulse seen through a 5 kHz second-order low-pass rises over several samples at 48 kHz;
    a test per sample missed it and the 10 mV artifact was measured as a 10.8 mV CMAP."""
    from scipy.signal import butter, sosfilt

    fs = 48_000.0
    (r,), t = ncs.simulate_motor(MotorSpec(3.5, 2.0), [("w", 70)], fs, realism=Realism(noise_uv_rms=5, artifact_mv=10.0),
                                 seed=0)
    x = sosfilt(butter(2, lowpass_hz, fs=fs, output="sos"), r.samples_v[0])
    for early_ms in (0.7, 1.0, 2.5):
        m = measure_cmap(x, fs, r.stim_index - int(round(early_ms * 1e-3 * fs)))
        assert m.status == "ok" and m.stimulus_source == "artifact", (early_ms, m.status, m.amplitude_mv)
        assert abs(m.markers.stimulus - r.stim_index) <= 2
        assert m.amplitude_mv == pytest.approx(t.sites[0][1].amplitude_mv, rel=0.05)


def test_real_low_noise_recordings_pass_the_noise_floor():
    """Review: the floor was judged on first differences, which an amplifier's low-pass lowers
    tenfold at 48 kHz, and an average exported as one trace had no allowance."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(0)
    for fs in (20_000.0, 48_000.0):
        s = ncs.simulate_sensory(ncs.SensorySpec(distance_mm=140, amplitude_uv=20), fs, n_sweeps=1,
                                 realism=Realism(noise_uv_rms=0))
        nz = sosfilt(butter(4, [20, 2_000], btype="band", fs=fs, output="sos"), rng.normal(0, 1, s.clean_v[0].size))
        x = s.clean_v[0] + nz / nz[200:].std() * 0.5e-6  # 0.5 µV of band-limited noise
        assert edx.measure_snap(x, fs, s.stim_index).status == "ok", fs
    s = ncs.simulate_sensory(ncs.SensorySpec(140, 20.0), 20_000.0, n_sweeps=200, realism=Realism(noise_uv_rms=1.0),
                             seed=3)
    assert edx.measure_snap(s.samples_v.mean(axis=0), 20_000.0, s.stim_index).status == "ok"  # a machine's average


def test_a_motor_unit_potential_in_the_baseline_is_not_taken_for_a_misplaced_artifact():
    """Review: a 0.8 mV voluntary potential 10 ms before the stimulus, a 0.2 mV CMAP and no visible
    artifact read no_stimulus."""
    fs = 10_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.0, 0.2), [("d", 0.0)], fs, realism=Realism(noise_uv_rms=5.0), pre_ms=20.0,
                                 seed=2)
    x = r.samples_v[0].copy()
    t = (np.arange(x.size) - (r.stim_index - 100)) / fs * 1e3
    mup = np.where((t > 0) & (t < 2.0), -np.sin(np.pi * t) * np.exp(-t / 0.8), 0.0)
    x += 800e-6 * mup / np.abs(mup).max()
    m = measure_cmap(x, fs, r.stim_index)
    assert m.status == "ok" and m.amplitude_mv == pytest.approx(0.2, rel=0.05)


def test_remaining_input_mistakes_are_named():
    """Review (smaller items): complex samples were measured with the imaginary part dropped, a
    negative F-wave stimulus index read as unaligned sweeps and a 3-D array as one sweep, dms_ratio
    given a SNAP said 'fs_hz is required', from_array took stimulus times outside the recording."""
    fs = 20_000.0
    (r,), _ = ncs.simulate_motor(MotorSpec(3.5, 4.0), [("s", 70)], fs, realism=Realism(noise_uv_rms=5), seed=3)
    x = r.samples_v[0]
    with pytest.raises(TypeError, match="real volts"):
        measure_cmap(x.astype(complex), fs, r.stim_index)
    sweeps = np.tile(x, (12, 1))
    with pytest.raises(ValueError, match="outside the sweeps"):
        edx.measure_fwaves(sweeps, fs, -1)
    with pytest.raises(ValueError, match="2-D array"):
        edx.measure_fwaves(sweeps[None], fs, r.stim_index)
    m = measure_cmap(x, fs, r.stim_index)
    with pytest.raises(TypeError, match="SnapResult"):
        edx.dms_ratio(m, edx.measure_snap(x * 1e-3, fs, r.stim_index))
    with pytest.raises(ValueError, match="outside the recording"):
        edx.from_array(x, fs, units="V", stimulus_s=[10.0])
    with pytest.raises(ValueError, match="outside the recording"):
        edx.from_array(x, fs, units="V", stimulus_s=[-1.0])
