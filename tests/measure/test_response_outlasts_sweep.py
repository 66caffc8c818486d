"""A response that outlasts its sweep (issue 4).

Mechanism (edx.kernels.response.measure_into, pass 2): the post-response window of the
baseline fit starts 2 ms after the first pass's end marker (or the negative-phase end + 4x
the peak-to-crossing interval) and runs to the sweep's end; it was never judged.  When the
response has not ended there, the window's mean differed from the pre-stimulus mean, the
5-standard-error drift test fired and the linear drift (and hum) fitted across both windows
took the response's tail for baseline.  Now the kernel recognises the window is not quiet,
keeps the pre-stimulus baseline only, flags ``response_outlasts_sweep`` with a reason and
leaves the end markers None (reasons say why).

Measured before the rule on ``ringing_cmap`` (seeds 0-2, 10/20/48 kHz): amplitude +1.2..+1.7 %,
onset 0.03..0.12 ms early, flagged only ``baseline_drift_removed``.  A first rule ("post-window
residual mean square after the model > 4x the pre-stimulus noise variance") fixed these but fired
on 4 normal large CMAPs of the sample studies (2.4-12 mV in 45-95 ms sweeps) whose late positive
phase (about 1 % of the amplitude, far above the noise) is still at the window's start.

The rule (pass 2, before the model is subtracted): the response has not ended by the end of the
sweep when the residual after the model still stands beyond the end marker's own level --
its 0.5 ms average beyond max(end_fraction x amplitude, 4 SD) -- within the sweep's last 2 ms
(``OUTLAST_MS``, the guard kept after the response).  Measured: 29x that level on the ringing
tails (all seeds and rates); at most 0.92x on the accuracy matrix and 0.49x on the sample studies,
whose results are bit-identical.
"""

from __future__ import annotations

import numpy as np
import pytest

from edx.measure.ncs import measure_cmap

ONSET_MS, AMP_PCT = 0.2, 3.0


def ringing_cmap(fs: float, seed: int, drift_uv: float = 100.0) -> tuple[np.ndarray, int, float, float]:
    """A 50 ms sweep (5 ms pre-stimulus) holding a CMAP whose tail still oscillates at the
    sweep's end, with 10 µV noise, 300 µV offset and a linear drift.  Returns samples (V),
    stimulus index, true onset latency (ms) and true amplitude (mV)."""
    rng = np.random.default_rng(seed)
    n = int(0.05 * fs)
    stim = int(0.005 * fs)
    t_ms = (np.arange(n) - stim) / fs * 1e3
    onset_ms = 3.5
    u = np.clip(t_ms - onset_ms, 0.0, None)
    resp = -3e-3 * np.sin(np.pi * u / 5.0) * np.exp(-u / 40.0) * (u > 0)
    x = resp + rng.normal(0, 10e-6, n) + drift_uv * 1e-6 * np.arange(n) / n + 300e-6
    return np.ascontiguousarray(x), stim, onset_ms, -resp.min() * 1e3


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_ringing_tail_is_recognised_and_not_fitted_as_drift(fs):
    # held-out seeds beyond those looked at while writing the rule (0-2)
    for seed in range(10, 20):
        x, stim, onset_ms, amp_mv = ringing_cmap(fs, seed)
        m = measure_cmap(x, fs, stim, mains_hz=0)
        assert m.status == "ok"
        assert "response_outlasts_sweep" in m.quality, (seed, sorted(m.quality))
        assert "baseline_drift_removed" not in m.quality and "hum_removed" not in m.quality
        assert "not ended by the end of the sweep" in m.reasons["baseline"]
        assert m.markers.end is None and m.total_duration_ms is None and m.total_area_mvms is None
        assert "end" in m.reasons
        assert abs(m.onset_latency_ms - onset_ms) <= ONSET_MS, seed
        assert abs(100 * (m.amplitude_mv / amp_mv - 1)) <= AMP_PCT, seed


def test_ending_response_is_not_flagged():
    # the same shape, damped fast enough to end within the sweep: the drift model is used
    fs = 20_000.0
    rng = np.random.default_rng(5)
    n, stim = 1000, 100
    t_ms = (np.arange(n) - stim) / fs * 1e3
    u = np.clip(t_ms - 3.5, 0.0, None)
    resp = -3e-3 * np.sin(np.pi * u / 5.0) * np.exp(-u / 2.0) * (u > 0)
    x = np.ascontiguousarray(resp + rng.normal(0, 10e-6, n) + 300e-6 * np.arange(n) / n)
    m = measure_cmap(x, fs, stim, mains_hz=0)
    assert m.status == "ok" and "response_outlasts_sweep" not in m.quality


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("post_ms", [12.0, 16.0, 20.0])
def test_a_sweep_too_short_to_check_the_baseline_says_so(fs, post_ms):
    """A 0.5 mV myopathic CMAP (long: ~15 ms) in a sweep ending 12-20 ms after the stimulus, with
    50 µV of 60 Hz hum, drift and offset: no quiet stretch is left after the response, so hum
    and drift cannot be looked for (measured before the flag: amplitude up to 17 % off, onsets up
    to 2.9 ms off, flagged only end_not_placed).  Every result is within the tolerances or says
    that its baseline could not be checked -- never a silent number."""
    from edx.sim import ncs

    real = ncs.Realism(noise_uv_rms=10, hum_uv=50, mains_hz=60, offset_uv=300, drift_uv=100)
    silent = []
    for seed in range(10):
        (r,), t = ncs.simulate_motor(ncs.MotorSpec(3.9, 0.5, mfcv_m_s=2.0), [("s", 70)], fs, realism=real, seed=seed,
                                     post_ms=post_ms)
        m = measure_cmap(r.samples_v[0], fs, r.stim_index, mains_hz=60)
        truth = t.sites[0][1]
        if m.status != "ok" or "baseline_unchecked" in m.quality:
            assert m.status != "ok" or "hum" in m.reasons["baseline"]
            continue
        ok = (m.onset_latency_ms is not None and abs(m.onset_latency_ms - truth.onset_latency_ms) <= ONSET_MS
              and abs(100 * (m.amplitude_mv / truth.amplitude_mv - 1)) <= AMP_PCT)
        if not ok:
            silent.append(seed)
    assert silent == []


def test_the_flag_is_raised_only_where_no_quiet_stretch_is_left():
    """Never on the accuracy matrix's 50 ms sweeps; in the sample studies only where the true
    response ends less than 6 ms (2 ms guard + 4 ms to look for hum) before the sweep does
    (the demyelinating study's proximal peroneal and tibial responses, dispersed up to 42 ms)."""
    import json
    from pathlib import Path

    import edx
    from edx.sim import ncs

    from .test_cmap import CONDITIONS, SHAPES

    for fs in (10_000.0, 20_000.0, 48_000.0):
        for shape in SHAPES.values():
            for real in CONDITIONS.values():
                (r,), _ = ncs.simulate_motor(shape, [("s", 70)], fs, realism=real, seed=0)
                m = measure_cmap(r.samples_v[0], fs, r.stim_index, mains_hz=real.mains_hz)
                assert "baseline_unchecked" not in m.quality, (fs, shape, real)
    flagged = []
    for manifest in sorted(Path("sample_data/studies").glob("*/study.toml")):
        study = edx.read_manifest(manifest)
        truth = json.loads((manifest.parent / "truth.json").read_text())["tests"]
        for tm in edx.measure_study(study).tests:
            if tm.test.type.value != "motor":
                continue
            for site, res in tm.sites.items():
                if "baseline_unchecked" not in res.quality:
                    continue
                sw = edx.load_site(study, tm.test.id, site).sweeps[0]
                after_ms = (sw.n_samples - sw.stimulus_index) / sw.fs_hz * 1e3
                st = truth[tm.test.id]["sites"][site]
                true_end_ms = st["onset_latency_ms"] + st["total_duration_ms"]
                assert true_end_ms + 6.0 > after_ms, (manifest.parent.name, tm.test.id, site, true_end_ms, after_ms)
                flagged.append((manifest.parent.name, tm.test.id, site))
    assert len(flagged) <= 4, flagged  # the long dispersed responses only
