"""NumPy references of the MUP kernels (edx.kernels.mup) against the numba ones.

Random input through hypothesis plus the edge cases (empty, one sample, constant, NaN).
The simulator's NumPy measures (edx.sim.needle) are the reference of the waveform measures.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edx.kernels import mup as K
from edx.sim import needle as nd

FINITE = st.floats(-2e-3, 2e-3, allow_nan=False, allow_infinity=False)


def ref_sos(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Plain per-sample recurrence y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]."""
    y = np.asarray(x, dtype=np.float64) - (x[0] if x.size else 0.0)
    for b0, b1, b2, a1, a2 in sos:
        out = np.zeros_like(y)
        for n in range(y.size):
            v = b0 * y[n]
            if n >= 1:
                v += b1 * y[n - 1] - a1 * out[n - 1]
            if n >= 2:
                v += b2 * y[n - 2] - a2 * out[n - 2]
            out[n] = v
        y = out
    return y


def ref_peaks(y: np.ndarray, thr: float, half: int) -> np.ndarray:
    a = np.abs(y)
    cand = [i for i in range(1, y.size - 1) if a[i] > thr and a[i] >= a[i - 1] and a[i] > a[i + 1]]
    keep = []
    for c, i in enumerate(cand):
        before = [j for j in cand[:c] if j >= i - half]
        after = [j for j in cand[c + 1 :] if j <= i + half]
        if all(a[j] < a[i] for j in before) and all(a[j] <= a[i] for j in after):
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def test_biquad_coefficients_have_the_butterworth_response():
    fs = 10_000.0
    for kind, fc in ((0, 1000.0), (1, 300.0)):
        b0, b1, b2, a1, a2 = K.biquad_coefficients(kind, fc, fs)
        w = 2 * np.pi * np.array([fc / 10, fc, min(fc * 4, 0.49 * fs)]) / fs
        z = np.exp(1j * w)
        h = np.abs((b0 + b1 / z + b2 / z**2) / (1 + a1 / z + a2 / z**2))
        assert h[1] == pytest.approx(1 / math.sqrt(2), rel=1e-9)  # -3 dB at the corner
        if kind == 0:
            assert h[0] == pytest.approx(1.0, abs=1e-3)
        else:
            assert h[2] == pytest.approx(1.0, abs=0.01)
    assert np.isnan(K.biquad_coefficients(0, 6000.0, fs)).all()  # corner above Nyquist


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=FINITE))
def test_sos_filter_matches_the_recurrence(x):
    sos = np.vstack([K.biquad_coefficients(1, 300.0, 10_000.0), K.biquad_coefficients(0, 3000.0, 10_000.0)])
    np.testing.assert_allclose(K.sos_filter(x, sos), ref_sos(x, sos), rtol=1e-9, atol=1e-15)


def test_sos_filter_edge_cases():
    sos = K.biquad_coefficients(1, 300.0, 10_000.0).reshape(1, 5)
    assert K.sos_filter(np.zeros(0), sos).size == 0
    assert np.array_equal(K.sos_filter(np.full(50, 3e-4), sos), np.zeros(50))  # offset: no transient
    x = np.zeros(20)
    x[5] = np.nan
    y = K.sos_filter(x, sos)
    assert np.isfinite(y[:5]).all() and np.isnan(y[5:]).all()


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(0, 400), elements=FINITE), st.integers(1, 12), st.floats(0.0, 1e-3))
def test_detect_peaks_matches_reference(y, half, thr):
    np.testing.assert_array_equal(K.detect_peaks(y, thr, half), ref_peaks(y, thr, half))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 2000), elements=FINITE))
def test_noise_sigma_is_the_median_absolute_value(y):
    assert K.noise_sigma(y, 0) == pytest.approx(np.median(np.abs(y)) / 0.6744897501960817, rel=1e-12)
    assert math.isnan(K.noise_sigma(np.zeros(0), 0))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=st.floats(-300e-6, 300e-6)))
def test_phases_and_turns_match_the_simulator_definitions(x):
    assert K.count_phases(x, 0, x.size - 1, nd.PHASE_LEVEL_UV * 1e-6) == nd.count_phases(x)
    assert K.count_turns(x, 0, x.size - 1, nd.TURN_LEVEL_UV * 1e-6)[0] == nd.count_turns(x)
    assert K.count_turns(x, 0, x.size - 1, 100e-6)[0] == nd.count_turns(x, level_v=100e-6)


def test_turn_amplitude_sum_of_a_hand_made_zigzag():
    uv = 1e-6
    x = np.array([0, 300, 100, 400, 0]) * uv
    # turns at 300 (from 0), 100 (from 300), 400 (from 100); the fall to 0 ends the record
    n, amp = K.count_turns(x, 0, x.size - 1, 100 * uv)
    assert n == 3 and amp == pytest.approx((300 + 200 + 300) * uv)
    turns, amps = K.ip_turns(x, 100 * uv, 5)
    assert turns.tolist() == [3] and amps[0] == pytest.approx(amp)
    assert K.ip_turns(np.zeros(0), 100 * uv, 5)[0].size == 0


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(10, 400), elements=st.floats(-1e-3, 1e-3)), st.integers(3, 60))
def test_ip_turns_restart_in_each_epoch(x, epoch):
    turns, _ = K.ip_turns(x, 100e-6, epoch)
    n_full = x.size // epoch
    rest = x.size - n_full * epoch
    expected = [nd.count_turns(x[k * epoch : (k + 1) * epoch], level_v=100e-6) for k in range(n_full)]
    if rest and rest >= epoch // 2:
        expected.append(nd.count_turns(x[n_full * epoch :], level_v=100e-6))
    assert turns.tolist() == expected


def test_tone_amplitude_and_rail_runs():
    fs = 10_000.0
    t = np.arange(int(fs)) / fs
    x = 7e-6 * np.sin(2 * np.pi * 50 * t + 0.3) + 1e-4
    assert K.tone_amplitude(x, fs, 50.0, 0) == pytest.approx(7e-6, rel=1e-6)
    assert K.tone_amplitude(x, fs, 60.0, 0) < 1e-9
    y = np.array([0.0, 1.0, 1.0, 1.0, 0.0, -1.0, 0.5, -1.0, -1.0])
    assert K.rail_runs(y, -1.0, 1.0, 1) == 6
    assert K.rail_runs(y, -1.0, 1.0, 2) == 5
    assert K.rail_runs(y, -1.0, 1.0, 3) == 3


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_measure_mup_on_clean_templates_equals_the_truth_measures(fs):
    """A clean template (with its satellite) measures exactly as the simulator's truth of
    its main potential; the satellite is flagged, not measured."""
    rng = np.random.default_rng(int(fs))
    q = np.zeros(K.N_QPARAMS)
    q[K.Q_FLOOR_UV], q[K.Q_FRACTION], q[K.Q_GAP_MS] = 10.0, 0.02, 4.0
    q[K.Q_PHASE_UV], q[K.Q_TURN_UV], q[K.Q_EDGE_MS], q[K.Q_SATELLITE_K], q[K.Q_NOISE_K] = 10.0, 25.0, 1.0, 5.0, 3.0
    n_sat = 0
    for kind in ("normal", "myopathic", "neurogenic"):
        for _ in range(8):
            u = nd.make_motor_unit(kind, rng, fs_hz=fs)
            pad = np.zeros(int(0.01 * fs))
            t = np.ascontiguousarray(np.concatenate([pad, u.template_v, pad]))
            m, _ = K.measure_mup(t, fs, pad.size + int(np.argmax(np.abs(u.main_template_v))), q)
            assert m[K.M_STATUS] == 0
            assert m[K.M_DURATION_MS] == pytest.approx(u.duration_ms, abs=1e-9)
            assert m[K.M_ONSET] - pad.size == u.template_onset_index
            assert m[K.M_AMPLITUDE_UV] == pytest.approx(u.amplitude_uv, rel=1e-9)
            assert (m[K.M_PHASES], m[K.M_TURNS]) == (u.phases, u.turns)
            assert m[K.M_AREA_UVMS] == pytest.approx(u.area_uvms, rel=1e-9)
            assert m[K.M_THICKNESS_MS] == pytest.approx(u.thickness_ms, rel=1e-9)
            assert m[K.M_SIZE_INDEX] == pytest.approx(2 * math.log10(u.amplitude_uv / 1e3) + u.thickness_ms)
            assert bool(m[K.M_SATELLITE]) == u.satellite
            n_sat += u.satellite
    assert n_sat > 0


def test_measure_mup_edge_cases():
    q = np.zeros(K.N_QPARAMS)
    q[K.Q_FLOOR_UV], q[K.Q_FRACTION], q[K.Q_GAP_MS], q[K.Q_EDGE_MS] = 10.0, 0.02, 4.0, 1.0
    assert K.measure_mup(np.zeros(2), 10_000.0, 0, q)[0][K.M_STATUS] == 2
    assert K.measure_mup(np.zeros(400), 10_000.0, 200, q)[0][K.M_STATUS] == 1  # nothing above 10 µV
    m, _ = K.measure_mup(np.full(400, 5e-3), 10_000.0, 200, q)  # constant = baseline only
    assert m[K.M_STATUS] == 1


def test_sort_events_separates_two_shapes_and_rejects_superpositions():
    rng = np.random.default_rng(3)
    fs = 10_000.0
    n = int(5 * fs)
    y = rng.normal(0, 5e-6, n)
    a = np.array([0, 100, 300, -400, -100, 50, 0]) * 1e-6
    b = np.array([0, -200, 250, 250, -200, 0, 0]) * 1e-6
    ta = np.arange(500, n - 500, 997)
    tb = np.arange(800, n - 500, 1301)
    for t in ta:
        y[t : t + 7] += a
    for t in tb:
        y[t : t + 7] += b
    peaks = K.detect_peaks(y, 6 * 5e-6, 15)
    labels, shifts, means = K.sort_events(y, peaks, 10, 15, 3, 0.1, 2.0, 5e-6, 5, 16)
    assert means.shape[0] == 2
    both = np.sort(np.concatenate([ta, tb]))
    seen = []
    for times in (ta, tb):
        # isolated discharges (no other within the matching window) all go to one unit
        iso = [t for t in times if np.sort(np.abs(both - t))[1] > 30]
        hits = {int(labels[np.argmin(np.abs(peaks - (t + 3)))]) for t in iso}
        assert len(iso) > 20 and len(hits) == 1 and min(hits) >= 0
        seen.append(hits.pop())
    assert seen[0] != seen[1]
    empty = K.sort_events(y, np.zeros(0, dtype=np.int64), 10, 15, 3, 0.1, 2.0, 5e-6, 5, 16)
    assert empty[0].size == 0 and empty[2].shape[0] == 0


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=FINITE))
def test_partition_median_matches_numpy(a):
    assert K._median_inplace(a.copy()) == pytest.approx(np.median(a), rel=1e-12, abs=1e-18)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=st.integers(-3, 3).map(float)))
def test_median_with_ties_equals_numpy(a):
    """Quantised samples (many ties) as in integer-coded recordings."""
    assert K._median_inplace(a.copy()) == np.median(a)


# --------------------------------------------------------------------------- overlap kernels


def ref_peel(y, pos, labels, tpl, pre):
    out = y.copy()
    for p, u in zip(pos, labels):
        if 0 <= u < tpl.shape[0]:
            for j in range(tpl.shape[1]):
                if 0 <= p - pre + j < y.size:
                    out[p - pre + j] -= tpl[u, j]
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 12), st.integers(1, 30))
def test_peel_events_matches_reference(seed, n_ev, n):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    tpl = rng.normal(size=(3, 7))
    pos = rng.integers(-5, n + 5, n_ev).astype(np.int64)
    labels = rng.integers(-2, 4, n_ev).astype(np.int64)  # -2..3: invalid labels skipped
    np.testing.assert_allclose(K.peel_events(y, pos, labels, tpl, 3), ref_peel(y, pos, labels, tpl, 3), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 12), st.integers(1, 60), st.integers(0, 9))
def test_peeled_noise_sigma_is_noise_sigma_of_the_peeled_signal(seed, n_ev, n, max_samples):
    """The subsampled peel gives the robust SD of the whole peeled signal's same subsample."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    tpl = rng.normal(size=(3, 7))
    pos = rng.integers(-5, n + 5, n_ev).astype(np.int64)
    labels = rng.integers(-2, 4, n_ev).astype(np.int64)
    want = np.median(np.abs(ref_peel(y, pos, labels, tpl, 3)[::max(1, -(-n // max_samples)) if max_samples else 1]))
    got = K.peeled_noise_sigma(y, pos, labels, tpl, 3, max_samples)
    assert got == pytest.approx(want / 0.6744897501960817, rel=1e-12, abs=1e-15)
    assert math.isnan(K.peeled_noise_sigma(np.zeros(0), pos, labels, tpl, 3, max_samples))


def ref_match(y, peaks, means, pre, max_shift, alpha, beta, sigma):
    w = means.shape[1]
    post = w - 1 - pre
    out = []
    for p in peaks:
        if p - pre - max_shift < 0 or p + post + max_shift >= y.size:
            out.append((-2, 0))
            continue
        r = np.array([[((y[p + s - pre: p + s - pre + w] - m) ** 2).sum() for s in range(-max_shift, max_shift + 1)]
                      for m in means])
        k, si = np.unravel_index(np.argmin(r), r.shape)
        ok = r[k, si] <= alpha * (means[k] ** 2).sum() + beta * w * sigma**2
        out.append((int(k), int(si - max_shift)) if ok else (-1, 0))
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_match_events_matches_reference(seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(3, 9))
    y = rng.normal(0, 0.2, 300)
    peaks = np.sort(rng.integers(0, 300, 12)).astype(np.int64)
    for p in peaks[::2]:
        if 10 <= p < 285:
            y[p - 4: p + 5] += means[rng.integers(0, 3)]
    lab, sh, _ = K.match_events(y, peaks, means, 4, 2, 0.1, 2.0, 0.2)
    assert list(zip(lab.tolist(), sh.tolist())) == ref_match(y, peaks, means, 4, 2, 0.1, 2.0, 0.2)
    empty = K.match_events(y, np.zeros(0, dtype=np.int64), means, 4, 2, 0.1, 2.0, 0.2)
    assert empty[0].size == 0


def test_explain_template_finds_a_shifted_copy_and_a_superposition():
    rng = np.random.default_rng(5)
    wpre, big = 30, 70
    wide = np.zeros((3, big))
    for u in range(3):
        wide[u, wpre - 3: wpre + 4] = rng.normal(size=7)
    pre, w = 8, 20

    def shifted(u, lag):
        return np.array([wide[u, wpre + j - pre - lag] if 0 <= wpre + j - pre - lag < big else 0.0 for j in range(w)])

    allowed = np.array([True, True, False])
    copy = shifted(1, 3)
    r1, a1, l1, *_ = K.explain_template(copy, pre, wide, wpre, allowed, 10, 3)
    assert (a1, l1) == (1, 3) and r1 == pytest.approx(0.0, abs=1e-20)
    sup = shifted(0, -4) + shifted(1, 5)
    r1, a1, l1, r2, a2, la, b2, lb = K.explain_template(sup, pre, wide, wpre, allowed, 10, 3)
    assert {(a2, la), (b2, lb)} == {(0, -4), (1, 5)} and r2 == pytest.approx(0.0, abs=1e-20)
    # NumPy check of the single fit: exhaustive over allowed units and lags
    ref = min((((sup - shifted(u, l)) ** 2).sum(), u, l) for u in (0, 1) for l in range(-10, 11))
    assert r1 == pytest.approx(ref[0], rel=1e-12) and (a1, l1) == ref[1:]
    none = K.explain_template(sup, pre, wide, wpre, np.zeros(3, dtype=np.bool_), 10, 3)
    assert none[1] == -1 and none[4] == -1 and math.isinf(none[0])


# --------------------------------------------------------------------------- averaging


def ref_trimmed(a, k):
    a = np.sort(a)
    return float(np.median(a)) if 2 * k >= a.size - 1 else float(a[k: a.size - k].mean())


def ref_average(x, pos, labels, n_units, pre, post, n_iter, reject_k, excluded, robust, cap, trim):
    """Plain NumPy: full reconstruction from every labelled event (no window restriction)."""
    n, w = x.size, pre + post + 1
    ok = (labels >= 0) & (labels < n_units) & (pos - pre >= 0) & (pos - pre + w <= n) & ~excluded
    win = lambda sig, e: sig[pos[e] - pre: pos[e] - pre + w]  # noqa: E731
    tpl = np.zeros((n_units, w))
    counts = np.zeros(n_units, dtype=np.int64)
    for u in range(n_units):
        ev = np.flatnonzero(ok & (labels == u))
        counts[u] = ev.size
        if ev.size:
            tpl[u] = np.mean([win(x, e) for e in ev], axis=0)
    used = ok.copy()
    if n_iter <= 0:
        return tpl, counts, used
    sel = np.zeros(pos.size, dtype=bool)
    for u in range(n_units):
        ev = np.flatnonzero(ok & (labels == u))
        if cap <= 0 or ev.size <= cap:
            sel[ev] = True
        else:
            taken = 0
            for s, e in enumerate(ev):
                if taken < cap and s * cap >= taken * ev.size:
                    sel[e] = True
                    taken += 1
    for it in range(n_iter):
        recon = np.zeros(n)
        for e in np.flatnonzero((labels >= 0) & (labels < n_units)):
            for j in range(w):
                if 0 <= pos[e] - pre + j < n:
                    recon[pos[e] - pre + j] += tpl[labels[e], j]
        new = tpl.copy()
        for u in range(n_units):
            ev = np.flatnonzero(sel & (labels == u))
            if ev.size == 0:
                counts[u] = 0
                continue
            res = np.array([win(x, e) - win(recon, e) for e in ev])
            rv = res.var(axis=1)
            med = np.median(rv)
            keep = (rv <= reject_k**2 * med) | (med <= 0)
            used[ok & (labels == u)] = False
            used[ev[keep]] = True
            counts[u] = keep.sum()
            if robust and it == n_iter - 1:
                k = int(trim * keep.sum())
                new[u] = tpl[u] + np.array([ref_trimmed(res[keep, j], k) for j in range(w)])
            else:
                new[u] = tpl[u] + res[keep].mean(axis=0)
        tpl = new
    return tpl, counts, used


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 30), st.integers(0, 2), st.booleans(), st.integers(0, 6),
       st.sampled_from([0.0, 0.2, 0.25, 0.5]))
def test_average_units_matches_reference(seed, n_ev, n_iter, robust, cap, trim):
    rng = np.random.default_rng(seed)
    n, pre, post, n_units = 200, 4, 6, 3
    shapes = rng.normal(size=(n_units, pre + post + 1))
    labels = rng.integers(-2, n_units + 1, n_ev).astype(np.int64)  # -2..3: invalid labels skipped
    pos = rng.integers(-3, n + 3, n_ev).astype(np.int64)
    x = rng.normal(0, 0.3, n)
    for p, u in zip(pos, labels):
        if 0 <= u < n_units and pre <= p < n - post:
            x[p - pre: p + post + 1] += shapes[u]
    excluded = rng.random(n_ev) < 0.1
    got = K.average_units(x, pos, labels, n_units, pre, post, n_iter, 2.0, excluded, robust, cap, trim)
    want = ref_average(x, pos, labels, n_units, pre, post, n_iter, 2.0, excluded, robust, cap, trim)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-12)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[2], want[2])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=FINITE), st.integers(0, 40))
def test_trimmed_mean_matches_numpy(a, k):
    assert K._trimmed_mean_inplace(a.copy(), k) == pytest.approx(ref_trimmed(a, k), rel=1e-9, abs=1e-15)
