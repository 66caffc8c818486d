"""The numba kernels of edx.kernels.spontaneous against plain NumPy references.

Random input (hypothesis) and edge cases (empty, one sample, constant, chunk borders).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edx.kernels import spontaneous as K
from edx.needle.spontaneous import _Engine, load_config

finite = st.floats(-1e-3, 1e-3, allow_nan=False, allow_infinity=False)


# ----------------------------------------------------------------------------- references


def ref_bandpass(x: np.ndarray, f0: float, q: float, fs: float) -> np.ndarray:
    """Direct-form I biquad from the textbook (RBJ) band-pass formulas."""
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * q)
    b = np.array([alpha, 0.0, -alpha]) / (1 + alpha)
    a = np.array([1.0, -2 * math.cos(w0) / (1 + alpha), (1 - alpha) / (1 + alpha)])
    y = np.zeros(x.size)
    for n in range(x.size):
        acc = b[0] * x[n]
        if n >= 1:
            acc += b[1] * x[n - 1] - a[1] * y[n - 1]
        if n >= 2:
            acc += b[2] * x[n - 2] - a[2] * y[n - 2]
        y[n] = acc
    return y


def ref_smooth(x: np.ndarray, h: int) -> np.ndarray:
    return np.array([x[max(0, i - h) : i + h + 1].mean() for i in range(x.size)])


def ref_ncc(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    best, best_lag = -2.0, 0
    L = a.size
    for lag in range(-max_lag, max_lag + 1):
        i0, i1 = (0, L - lag) if lag >= 0 else (-lag, L)
        if i1 - i0 < 3:
            continue
        u = a[i0:i1] - a[i0:i1].mean()
        v = b[i0 + lag : i1 + lag] - b[i0 + lag : i1 + lag].mean()
        den = math.sqrt(float(u @ u) * float(v @ v))
        c = float(u @ v) / den if den > 0 else 0.0
        if c > best:
            best, best_lag = c, lag
    return (best if best > -2 else 0.0), best_lag


def ref_interval_stats(t: np.ndarray, tol: float, period: float = 0.0) -> tuple[float, float, float]:
    iv = np.diff(t)
    med = period if period > 0 else float(np.median(iv))
    k0 = np.floor(iv / med + 0.5)
    good = (k0 >= 1) & (np.abs(iv / med - k0) <= tol * k0)
    if good.any():
        med = iv[good].sum() / k0[good].sum()
    k = np.maximum(np.floor(iv / med + 0.5), 1)
    ok = np.abs(iv / med - k) <= tol * k
    k = np.where((k >= 2) & ~ok, 1, k)
    u = iv / k
    return k.sum() / (t[-1] - t[0]), float(u.std(ddof=1) / u.mean()), float(k.sum())


def ref_detector(x: np.ndarray, p: np.ndarray) -> list[tuple[int, int, int]]:
    """The scan's detector written plainly: band-pass, block RMS, percentile threshold,
    hysteresis candidates (start, peak, end)."""
    fs = p[K.P_FS_HZ]
    e = ref_bandpass(x, p[K.P_F0_HZ], p[K.P_Q], fs)
    block, nring = int(p[K.P_BLOCK]), int(p[K.P_N_BLOCKS])
    gap, hyst, kthr = int(p[K.P_GAP]), p[K.P_HYSTERESIS], p[K.P_K_THRESHOLD]
    max_len = int(p[K.P_MAX_CANDIDATE])
    thr = np.full(x.size, np.inf)
    rms = []
    for b in range(x.size // block):
        rms.append(math.sqrt(float(np.sum(e[b * block : (b + 1) * block] ** 2)) / block))
        last = np.array(rms[-nring:])
        s = np.sort(last)
        pos = p[K.P_PERCENTILE] * (s.size - 1)
        k = int(math.floor(pos))
        sig = s[-1] if k >= s.size - 1 else s[k] + (pos - k) * (s[k + 1] - s[k])
        thr[(b + 1) * block :] = max(kthr * sig, p[K.P_FLOOR_V])
    rise, valley, back = p[K.P_SPLIT_RISE], p[K.P_SPLIT_VALLEY], int(p[K.P_SPLIT_BACK])
    out = []
    inside = False
    for i in range(x.size):
        ae = abs(e[i])
        if inside:
            # lobes of e: split where one rises well above the valley after the largest
            sg = 1.0 if e[i] > 0 else -1.0
            if sg != lsign:
                lobes.append(lmax)
                lsign, lmax, lstart = sg, 0.0, i
            lmax = max(lmax, ae)
            top = int(np.argmax(lobes)) if lobes else 0
            peakl = lobes[top] if lobes else 0.0
            vall = min(lobes[top + 1 :], default=math.inf)
            if lmax > thr[i] and vall <= valley * peakl and lmax >= rise * vall and i - act >= gap:
                sp = max(lstart - back, start + 1)
                out.append((start, min(pk, sp - 1), min(last_i, sp - 1)))
                start, pk, pv, last_i, act, lobes = sp, i, ae, i, i, [lmax]
                continue
            if ae > thr[i] * hyst:
                last_i = i
                if ae > pv:
                    pv, pk = ae, i
            if i - last_i >= gap or i - start >= max_len:
                out.append((start, pk, last_i))
                inside = False
        elif ae > thr[i]:
            inside, start, pk, pv, last_i, act = True, i, i, ae, i, i
            lsign, lmax, lstart, lobes = (1.0 if e[i] > 0 else -1.0), ae, i, []
    if inside:
        out.append((start, pk, last_i))
    return out


# ----------------------------------------------------------------------------- tests


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(0, 300), elements=finite), st.floats(100, 2000), st.floats(0.4, 3.0))
def test_bandpass_matches_the_textbook_biquad(x, f0, q):
    fs = 10_000.0
    coef = K.bandpass_coefficients(f0, q, fs)
    got = K.bandpass(np.ascontiguousarray(x), coef, np.zeros(2))
    np.testing.assert_allclose(got, ref_bandpass(x, f0, q, fs), rtol=1e-9, atol=1e-18)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.integers(2, 400), elements=finite), st.integers(1, 399))
def test_bandpass_state_carries_over_chunks(x, cut):
    coef = K.bandpass_coefficients(300.0, 1.0, 10_000.0)
    whole = K.bandpass(x, coef, np.zeros(2))
    z = np.zeros(2)
    cut = min(cut, x.size)
    parts = np.concatenate([K.bandpass(np.ascontiguousarray(x[:cut]), coef, z),
                            K.bandpass(np.ascontiguousarray(x[cut:]), coef, z)])
    assert np.array_equal(whole, parts)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(0, 60), elements=finite), st.integers(0, 8))
def test_smooth_window_matches_reference(x, h):
    got = K.smooth_window(np.ascontiguousarray(x), 0, x.size, h)
    if x.size == 0:
        assert got.size == 0
        return
    # the kernel differences prefix sums: its rounding error is bounded by a few ulps of sum|x|
    np.testing.assert_allclose(got, ref_smooth(x, h), rtol=1e-9, atol=1e-18 + 8 * x.size * np.finfo(float).eps * np.abs(x).sum())


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 40), st.integers(0, 4), st.integers(1, 3), st.integers(0, 2**31))
def test_match_template_matches_reference(L, max_lag, nt, seed):
    rng = np.random.default_rng(seed)
    snip = rng.standard_normal(L)
    tpl = rng.standard_normal((nt, L))
    tpl[0] = np.roll(snip, 1) * 2.0 + 0.1 * rng.standard_normal(L)  # a shifted, scaled copy
    got = K.match_template(snip, tpl, nt, max_lag)
    for t in range(nt):
        c, lag = ref_ncc(snip, tpl[t], max_lag)
        assert got[t, 0] == pytest.approx(c, abs=1e-12)
        assert int(got[t, 1]) == lag


def test_match_template_edge_cases():
    z = np.zeros(10)
    out = K.match_template(z, np.ones((1, 10)), 1, 2)
    assert out[0, 0] == 0.0  # constant snippet: undefined correlation is 0
    out = K.match_template(np.arange(10.0), np.zeros((0, 10)), 0, 2)
    assert out.shape == (0, 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.05, 2.0), min_size=2, max_size=30), st.floats(0.05, 0.2), st.sampled_from([0.0, 0.1, 0.33]))
def test_interval_stats_matches_reference(iv, tol, period):
    t = np.concatenate([[0.0], np.cumsum(iv)])
    got = K.interval_stats(t, tol, period)
    rate, cv, periods = ref_interval_stats(t, tol, period)
    assert got[0] == pytest.approx(rate, rel=1e-12)
    assert got[2] == periods
    if t.size >= 3:
        assert got[1] == pytest.approx(cv, rel=1e-9, abs=1e-12)


def test_interval_stats_counts_missed_discharges():
    t = np.array([0.0, 0.5, 1.0, 2.0, 2.5, 3.0])  # one missed at 1.5 s
    rate, cv, periods, med, nirr = K.interval_stats(t, 0.1)
    assert rate == pytest.approx(2.0) and cv == pytest.approx(0.0, abs=1e-12) and periods == 6 and nirr == 0
    assert np.isnan(K.interval_stats(np.array([1.0]), 0.1)[0])
    # more than half the intervals doubled: the median misleads, a period hint does not
    t = np.cumsum([0.0, 0.5, 0.5, 0.25, 0.5, 0.5, 0.25, 0.5, 0.25])
    assert K.interval_stats(t, 0.1, 0.25)[0] == pytest.approx(4.0)
    assert K.interval_stats(t, 0.1, 0.25)[1] == pytest.approx(0.0, abs=1e-12)


def _params(fs: float) -> np.ndarray:
    return _Engine(fs, load_config(), None).p


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 5))
def test_scan_candidates_match_the_reference_detector(seed, n_spikes):
    fs = 10_000.0
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(6000) * 5e-6
    for c in rng.integers(500, 5900, size=n_spikes):
        x[c - 5 : c + 5] += rng.uniform(30e-6, 300e-6) * np.sin(np.linspace(0, 2 * np.pi, 10))
    p = _params(fs)
    state = np.zeros(K.state_size(int(p[K.P_N_BLOCKS])))
    K.init_state(state)
    cand = np.empty((x.size // int(p[K.P_GAP]) + 2, K.N_CAND))
    n = K.scan(x, state, p, cand)
    tail = np.empty((1, K.N_CAND))
    n2 = K.close_candidate(state, tail)
    rows = [tuple(int(v) for v in r[:3]) for r in cand[:n]] + [tuple(int(v) for v in r[:3]) for r in tail[:n2]]
    assert rows == ref_detector(x, p)
    assert n + n2 >= 1 or np.abs(x).max() < 50e-6


def test_scan_is_identical_in_chunks_and_counts_quality():
    fs = 10_000.0
    rng = np.random.default_rng(5)
    x = rng.standard_normal(20_000) * 5e-6
    x[3000:3010] += 200e-6
    x[9000:9005] = 1e-3  # a run at the maximum (clipping)
    p = _params(fs)

    def run(chunks):
        st_ = np.zeros(K.state_size(int(p[K.P_N_BLOCKS])))
        K.init_state(st_)
        rows = []
        for c in chunks:
            cand = np.empty((c.size // int(p[K.P_GAP]) + 2, K.N_CAND))
            k = K.scan(np.ascontiguousarray(c), st_, p, cand)
            rows.append(cand[:k].copy())
        return np.concatenate(rows), st_

    a, sa = run([x])
    b, sb = run(np.array_split(x, 37))
    c, sc = run([x[i : i + 1] for i in range(300)] + [x[300:]])
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert np.array_equal(sa, sb) and np.array_equal(sa, sc)
    assert sa[K.S_RUNMAX] == sa[K.S_XMAX] == 1e-3
    assert sa[K.S_NONFINITE] == 0 and sa[K.S_N] == x.size


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(0, 200), elements=st.one_of(finite, st.sampled_from([np.nan, np.inf, -np.inf]))))
def test_count_nonfinite_matches_numpy(x):
    assert K._count_nonfinite(np.ascontiguousarray(x)) == int(np.count_nonzero(~np.isfinite(x)))


@pytest.mark.parametrize("seed", range(4))
def test_scan_treats_nonfinite_samples_as_zero(seed):
    # a chunk with NaN/inf: the same candidates and state as with zeros there, the bad ones counted
    fs = 10_000.0
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(8000) * 5e-6
    for c in rng.integers(1500, 7900, size=4):
        x[c - 5 : c + 5] += 200e-6 * np.sin(np.linspace(0, 2 * np.pi, 10))
    bad = rng.choice(x.size, size=6, replace=False)
    y = x.copy()
    y[bad] = rng.choice([np.nan, np.inf, -np.inf], size=bad.size)
    x[bad] = 0.0
    p = _params(fs)
    out = []
    for v in (x, y):
        st_ = np.zeros(K.state_size(int(p[K.P_N_BLOCKS])))
        K.init_state(st_)
        rows = []
        for c in np.array_split(v, 5):
            cand = np.empty((c.size // int(p[K.P_GAP]) + 2, K.N_CAND))
            k = K.scan(np.ascontiguousarray(c), st_, p, cand)
            rows.append(cand[:k].copy())
        out.append((np.concatenate(rows), st_))
    (a, sa), (b, sb) = out
    assert a.shape[0] >= 1 and np.array_equal(a, b)
    assert sb[K.S_NONFINITE] == bad.size and sa[K.S_NONFINITE] == 0
    keep = np.ones(sa.size, dtype=bool)
    keep[K.S_NONFINITE] = False
    assert np.array_equal(sa[keep], sb[keep], equal_nan=True)


def test_scan_edge_cases():
    p = _params(10_000.0)
    state = np.zeros(K.state_size(int(p[K.P_N_BLOCKS])))
    K.init_state(state)
    cand = np.empty((4, K.N_CAND))
    assert K.scan(np.zeros(0), state, p, cand) == 0
    assert K.scan(np.array([np.nan]), state, p, cand) == 0
    assert state[K.S_NONFINITE] == 1
    assert K.scan(np.full(3, 2e-6), state, p, cand) == 0  # constant: no candidate, first block not complete
    assert state[K.S_N] == 4 and math.isinf(state[K.S_THR])


def ref_chain(times: np.ndarray, s0: int, s1: int, tol: float, max_periods: int) -> list[int]:
    period = times[s1] - times[s0]
    if not period > 0:
        return []
    kept, span, last = [s0, s1], 1.0, s1
    while True:
        cands = []
        for j in range(last + 1, times.size):
            r = (times[j] - times[last]) / period
            k = math.floor(r + 0.5)
            if 1 <= k <= max_periods and abs(r - k) <= tol * math.sqrt(k):
                cands.append((k, abs(r - k), j))
        if not cands:
            return kept
        k, _, j = min(cands)
        kept.append(j)
        span += k
        last = j
        period = (times[j] - times[s0]) / span


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=40), st.floats(0.03, 0.2), st.integers(1, 12))
def test_chain_from_matches_reference(iv, tol, max_periods):
    t = np.concatenate([[0.0], np.cumsum(iv)])
    out = np.empty(t.size, dtype=np.int64)
    for s1 in range(1, min(4, t.size)):
        m = K.chain_from(t, 0, s1, tol, max_periods, out)
        assert out[:m].tolist() == ref_chain(t, 0, s1, tol, max_periods)


def test_chain_from_skips_strays_and_missed_discharges():
    t = np.array([0.0, 0.21, 0.5, 1.0, 1.33, 2.0, 2.5])  # period 0.5; 0.21 and 1.33 strays; 1.5 missed
    out = np.empty(t.size, dtype=np.int64)
    m = K.chain_from(t, 0, 2, 0.1, 10, out)
    assert out[:m].tolist() == [0, 2, 3, 5, 6]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(0, 400), elements=st.floats(-1e-3, 1e-3, allow_nan=False).map(lambda v: round(v, 7))))
def test_median_of_is_numpy_median(x):
    # ties included (rounded values); the same value as np.median, bit for bit; x unchanged
    scratch = np.empty(max(2 * x.size, 1))
    xc = np.ascontiguousarray(x)
    keep = xc.copy()
    got = K.median_of(xc, 0, x.size, scratch)
    if x.size == 0:
        assert math.isnan(got)
    else:
        assert got == np.median(x)
    if x.size >= 3:
        assert K.median_of(xc, 1, x.size - 1, scratch) == np.median(x[1:-1])
    assert np.array_equal(xc, keep)


@pytest.mark.parametrize("seed", range(6))
def test_median_of_many_sizes_ties_and_nan(seed):
    rng = np.random.default_rng(seed)
    for n in [1, 2, 3, 11, 12, 13, 14, 25, 168, 169, 500, 1001]:
        for kind in ("normal", "ties", "constant", "sorted", "reversed"):
            x = rng.standard_normal(n)
            if kind == "ties":
                x = np.round(x * 2.0) / 2.0
            elif kind == "constant":
                x[:] = 3e-6
            elif kind == "sorted":
                x.sort()
            elif kind == "reversed":
                x = np.sort(x)[::-1].copy()
            scratch = np.full(2 * n, np.nan)
            assert K.median_of(x, 0, n, scratch) == np.median(x), (n, kind)
            if n >= 2:
                y = x.copy()
                y[rng.integers(0, n)] = np.nan
                assert math.isnan(K.median_of(y, 0, n, scratch))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 60), elements=finite), st.integers(0, 8), st.integers(0, 5))
def test_smooth_into_equals_smooth_window(x, h, a):
    a = min(a, x.size - 1)
    out = np.full(x.size + 3, np.nan)
    K.smooth_into(np.ascontiguousarray(x), a, x.size, h, out, np.full(K.smooth_levels(h) * x.size, np.nan))
    assert np.array_equal(out[: x.size - a], K.smooth_window(np.ascontiguousarray(x), a, x.size, h))
    np.testing.assert_allclose(out[: x.size - a], ref_smooth(x[a:], h), rtol=1e-9,
                               atol=1e-18 + 8 * x.size * np.finfo(float).eps * np.abs(x).sum())
    assert np.isnan(out[x.size - a :]).all()


# ----------------------------------------------------------------------------- peel-off


def _placed_ref(x: np.ndarray, x0: int, q0: int, q1: int, tpl: np.ndarray, t0: int, base: float) -> np.ndarray:
    """Raw samples q0..q1 (x holds absolute x0..) minus base and the template placed at t0."""
    full = np.zeros(q1 - q0)
    a, b = max(q0, t0), min(q1, t0 + tpl.size)
    if b > a:
        full[a - q0 : b - q0] = tpl[a - t0 : b - t0]
    return x[q0 - x0 : q1 - x0] - base - full


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), t0=st.integers(-40, 140), nt=st.integers(1, 60), step=st.integers(1, 6))
def test_residual_and_placed_sse_match_reference(seed, t0, nt, step):
    rng = np.random.default_rng(seed)
    x0 = 1000
    x = rng.normal(0, 1e-5, 200)
    tpl = rng.normal(0, 5e-5, nt)
    base = float(rng.normal(0, 1e-6))
    q0, q1 = x0 + 20, x0 + 150
    ref = _placed_ref(x, x0, q0, q1, tpl, x0 + t0, base)
    out = np.empty(q1 - q0)
    K._residual_into(x, x0, q0, q1, tpl, x0 + t0, base, out)
    np.testing.assert_array_equal(out, ref)  # bit for bit: (sample - base) - template
    got = K._placed_sse(x, x0, q0, q1, tpl, x0 + t0, base)
    assert got == pytest.approx(float(np.sum(ref**2)), rel=1e-12, abs=1e-30)
    got = K._placed_sse(x, x0, q0, q1, tpl, x0 + t0, base, step)  # every step-th sample
    assert got == pytest.approx(float(np.sum(ref[::step] ** 2)), rel=1e-12, abs=1e-30)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), nk=st.integers(1, 90), step=st.integers(1, 6), n_lags=st.integers(1, 40),
       t_lo=st.integers(-80, 120), nt=st.integers(1, 70))
def test_lag_sse_equals_placed_sse_at_every_lag(seed, nk, step, n_lags, t_lo, nt):
    # every lag's sum bit for bit as _placed_sse adds it (the choice of the least cannot
    # differ), and the NumPy residual energy
    rng = np.random.default_rng(seed)
    x0 = 500
    x = rng.normal(0, 1e-5, 700)
    tpl = rng.normal(0, 5e-5, nt)
    base = float(rng.normal(0, 1e-6))
    s0 = x0 + 100
    s1 = s0 + (nk - 1) * step + 1
    xd, rev, out = np.full(nk + 1, np.nan), np.empty(nk + n_lags + 2), np.full(n_lags + 5, np.nan)
    K._lag_samples(x, x0, s0, nk, step, base, xd)
    assert np.array_equal(xd[:nk], x[s0 - x0 : s1 - x0 : step] - base) and np.isnan(xd[nk])
    scale = float(rng.choice([1.0, 1.0 / 3.0]))
    K._lag_sse(xd, nk, s0, step, tpl, scale, x0 + t_lo, n_lags, rev, out)
    for lag in range(n_lags):
        t0 = x0 + t_lo + lag * step
        assert out[lag] == K._placed_sse(x, x0, s0, s1, tpl * scale, t0, base, step)
        ref = _placed_ref(x, x0, s0, s1, tpl * scale, t0, base)[::step]
        assert out[lag] == pytest.approx(float(np.sum(ref**2)), rel=1e-12, abs=1e-30)
    assert np.isnan(out[(n_lags + 3) // 4 * 4 :]).all()  # scratch only up to the next four


def _raw_templates(rng, n_raw, lt, n_groups, n_mem):
    r_n = rng.integers(1, n_mem + 1, size=n_raw)
    r_grp = rng.integers(0, n_groups, size=n_raw)
    shape = np.sin(np.linspace(0, 3 * np.pi, lt)) * np.exp(-np.linspace(0, 4, lt))
    r_sum = np.array([n * (rng.uniform(20e-6, 80e-6) * np.roll(shape, rng.integers(-5, 6)) + rng.normal(0, 2e-6, lt))
                      for n in r_n])
    return np.ascontiguousarray(r_sum), r_n.astype(np.int64), r_grp.astype(np.int64)


def _sse_ref(x, x0, s0, s1, tpl, t0, base, step=1):
    return float(np.sum(_placed_ref(x, x0, s0, s1, tpl, t0, base)[::step] ** 2))


@pytest.mark.parametrize("seed", range(12))
def test_fit_own_templates_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    lt, n_mem, n_raw = 80, 4, int(rng.integers(1, 9))
    r_sum, r_n, r_grp = _raw_templates(rng, n_raw, lt, 3, n_mem)
    x0 = 2000
    x = rng.normal(0, 3e-6, 600)
    src = int(rng.integers(0, n_raw))
    at = x0 + 200 + int(rng.integers(-4, 5))
    x[at - x0 : at - x0 + lt] += r_sum[src] / r_n[src]  # one of them is in the signal
    base = float(rng.normal(0, 1e-6))
    group = int(r_grp[src])
    c0, c1, t_lo, n_lags = x0 + 210, x0 + 260, x0 + 195, 11
    ws = (np.empty(c1 - c0), np.empty(c1 - c0 + n_lags + 2), np.empty(n_lags + 3))
    got = K._fit_own_templates(x, x0, c0, c1, base, t_lo, n_lags, group, r_sum, r_n, r_grp, n_raw, n_mem, *ws)
    # brute force: every template of the group at every placement, the first least per kind
    best = {True: (-1, 0, math.inf), False: (-1, 0, math.inf)}
    for t in range(n_raw):
        if r_grp[t] != group:
            continue
        tpl = r_sum[t] * (1.0 / r_n[t])
        for lag in range(n_lags):
            e = _sse_ref(x, x0, c0, c1, tpl, t_lo + lag, base)
            done = bool(r_n[t] >= n_mem)
            if e < best[done][2] * (1 - 1e-9):
                best[done] = (t, t_lo + lag, e)
    use, use_t0, use_sse, acc, acc_t0, acc_sse, n_own = got
    assert n_own == int(np.count_nonzero(r_grp[:n_raw] == group))
    assert (use, use_t0) == best[True][:2] and (acc, acc_t0) == best[False][:2]
    for (i, e), (_, _, ref) in (((use, use_sse), best[True]), ((acc, acc_sse), best[False])):
        assert (i < 0 and math.isinf(e)) or e == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("step", [1, 2, 5])
def test_fit_any_template_matches_brute_force(seed, step):
    rng = np.random.default_rng(100 + seed)
    lt, n_mem, n_raw = 90, 3, int(rng.integers(1, 8))
    r_sum, r_n, r_grp = _raw_templates(rng, n_raw, lt, 4, n_mem)
    x0 = 0
    x = rng.normal(0, 3e-6, 800)
    done = np.flatnonzero(r_n >= n_mem)
    if done.size:
        src = int(rng.choice(done))
        x[300 + int(rng.integers(-9, 10)) :][:lt] += r_sum[src] / n_mem
    base = 0.0
    s0, s1, t_before = 280, 280 + int(rng.integers(40, 120)), 15
    cache, ok = np.empty((n_raw, lt)), np.zeros(n_raw, dtype=np.bool_)
    n = s1 - s0 + 2 * step + 5
    ws = (np.empty(n), np.empty(2 * n), np.empty(n))
    got = K._fit_any_template(x, x0, s0, s1, base, t_before, step, r_sum, r_n, n_raw, n_mem, cache, ok, *ws)
    # brute force: coarse grid of placements on every step-th sample, then every placement
    # within step - 1 of the best on every sample
    ref_use, ref_t0, e_best = -1, 0, math.inf
    for g in done:
        tpl = r_sum[g] / n_mem
        for t0 in range(s0 - t_before, s1 - t_before + 1, step):
            e = _sse_ref(x, x0, s0, s1, tpl, t0, base, step)
            if e < e_best * (1 - 1e-9):
                ref_use, ref_t0, e_best = int(g), t0, e
    if ref_use >= 0 and step > 1:
        tpl = r_sum[ref_use] / n_mem
        fine = [_sse_ref(x, x0, s0, s1, tpl, t0, base) for t0 in range(ref_t0 - step + 1, ref_t0 + step)]
        ref_t0 = ref_t0 - step + 1 + int(np.argmin(fine))
    assert got == (ref_use, ref_t0)
    for g in done:  # the cache holds the divided templates it made
        if ok[g]:
            assert np.array_equal(cache[g], r_sum[g] / n_mem)


def test_grow_raw_keeps_the_templates():
    r_sum = np.arange(12.0).reshape(3, 4)
    tplc, ok = r_sum / 2.0, np.array([True, False, True])
    s, n, g, c, o = K._grow_raw(r_sum, np.array([1, 2, 3]), np.array([0, 0, 1]), tplc, ok)
    assert s.shape == c.shape == (16, 4) and n.shape == g.shape == o.shape == (16,)
    assert np.array_equal(s[:3], r_sum) and not s[3:].any() and np.array_equal(c[:3], tplc)
    assert n[:3].tolist() == [1, 2, 3] and g[:3].tolist() == [0, 0, 1] and o.tolist() == [True, False, True] + [False] * 13
    s2, _, _, c2, _ = K._grow_raw(s, n, g, c, o)
    assert s2.shape == (32, 4) and np.array_equal(s2[:16], s) and np.array_equal(c2[:16], c)


def test_second_in_residual_finds_a_hidden_potential_and_nothing_in_noise():
    """A known template plus a second fibrillation-like potential 0.6 ms later: the residual
    holds the second one; the template alone in noise leaves nothing."""
    fs = 20_000.0
    rng = np.random.default_rng(3)
    t = np.arange(-60, 200) / fs
    def fib(t_ms, amp):  # positive then fast negative (about 1.5 ms)
        return amp * (np.exp(-((t_ms - 0.0) / 0.15) ** 2) - 1.6 * np.exp(-((t_ms - 0.35) / 0.2) ** 2))
    tpl = fib(t * 1e3, 100e-6)
    sig = 2e-6
    n = 400
    x = rng.normal(0, sig, n)
    t0 = 100
    x[t0 : t0 + tpl.size] += tpl
    clean = x.copy()
    x[t0 + 12 : t0 + 12 + tpl.size] += fib(t * 1e3, 60e-6)  # peak 60 samples + 12 after the template's
    h, fw = 2, 30
    s0, s1 = t0 + 20, t0 + 200
    m = s1 - s0 + 2 * h + 1
    d, cs, rs, out = np.empty(m), np.empty(K.smooth_levels(h) * m), np.empty(m), np.zeros(2, dtype=np.int64)
    sig_w = sig / math.sqrt(2 * h + 1)
    args = (h, tpl, t0, 0.0, t0 + 60, sig_w, 7 * sig_w, 4, fw, 2.0, d, cs, rs, out)
    assert K._second_in_residual(x, 0, s0, s1, *args)
    assert abs(int(out[0]) - (t0 + 72)) <= 1  # the second potential's positive peak
    assert not K._second_in_residual(clean, 0, s0, s1, *args)


# ----------------------------------------------------------------------------- measure and grouping on simulated rest


def _engine_inputs(fs: float = 20_000.0, seed: int = 7):
    """The arguments of measure and group_and_peel in a batch run of simulated rest."""
    from edx.needle import spontaneous as S
    from edx.sim.needle import simulate_rest

    x, _ = simulate_rest(6.0, fs, fibrillation_trains=3, psw_trains=2, end_plate=True, noise_rms_v=8e-6, seed=seed)
    calls: dict[str, list] = {"measure": [], "group_and_peel": []}

    class Spy:  # the kernel module as the engine sees it, with the two calls recorded
        def __getattr__(self, name):
            f = getattr(K, name)
            if name not in calls:
                return f

            def g(*a):
                calls[name].append(tuple(v.copy() if isinstance(v, np.ndarray) else v for v in a))
                return f(*a)
            return g

    eng = S._Engine(fs, load_config(), None)
    eng.K = Spy()
    eng.push(x, build=False)
    eng.flush(build=False)
    return calls


def test_measure_decimated_snippets_are_every_step_th_sample():
    args = _engine_inputs()["measure"][0]
    buf, b0, n, rows, p, feats, snips, before, step, second = args
    assert step > 1 and rows.shape[0] > 20
    full = snips.shape[1] * step  # full-rate snippets covering the decimated ones
    f1, s1, sec1 = np.empty_like(feats), np.empty((rows.shape[0], full)), np.empty_like(second)
    K.measure(buf, b0, n, rows, p, f1, s1, before, 1, sec1)
    f2, s2, sec2 = np.empty_like(feats), np.empty_like(snips), np.empty_like(second)
    K.measure(buf, b0, n, rows, p, f2, s2, before, step, sec2)
    found = sec1[:, K.C_START] >= 0  # the other rows of `second` hold only that -1
    assert np.array_equal(f1, f2) and np.array_equal(sec1[:, K.C_START], sec2[:, K.C_START])
    assert np.array_equal(sec1[found], sec2[found])
    assert np.array_equal(s2, s1[:, ::step])


def _peel(args, r_cap=None, rows_sel=None):
    a = [v.copy() if isinstance(v, np.ndarray) else v for v in args]
    (buf, b0, n, rows, feats, sn, noise_w, p, gp, tpl, t_count, t_kind, t_amp, n_groups, r_sum, r_n, r_grp, tplc,
     tpl_ok, fo, go, cnt) = a
    if rows_sel is not None:
        rows, feats, sn, noise_w = (np.ascontiguousarray(v[rows_sel]) for v in (rows, feats, sn, noise_w))
    if r_cap is not None:
        r_sum, r_n, r_grp = r_sum[:r_cap].copy(), r_n[:r_cap].copy(), r_grp[:r_cap].copy()
        tplc, tpl_ok = tplc[:r_cap].copy(), tpl_ok[:r_cap].copy()
    out = K.group_and_peel(buf, b0, n, rows, feats, sn, noise_w, p, gp, tpl, t_count, t_kind, t_amp, n_groups, r_sum,
                           r_n, r_grp, tplc, tpl_ok, fo, go, cnt)
    m = int(cnt[0])
    return fo[:m], go[:m], cnt, out, tpl


def test_group_and_peel_grows_its_raw_templates():
    args = _engine_inputs()["group_and_peel"][0]
    fo, go, cnt, (r_sum, r_n, r_grp, tplc, ok), tpl = _peel(args)
    assert cnt[2] > 2  # raw templates were made
    fo1, go1, cnt1, (r_sum1, r_n1, r_grp1, tplc1, ok1), tpl1 = _peel(args, r_cap=1)
    assert np.array_equal(fo, fo1) and np.array_equal(go, go1) and np.array_equal(cnt, cnt1)
    k = int(cnt[2])
    assert r_sum1.shape[0] >= k and np.array_equal(r_sum[:k], r_sum1[:k]) and np.array_equal(r_n[:k], r_n1[:k])
    assert np.array_equal(r_grp[:k], r_grp1[:k]) and np.array_equal(tpl, tpl1)
    assert tplc1.shape == r_sum1.shape and ok1.size == r_sum1.shape[0]
    # the cache holds complete templates divided by their members, rows made as needed
    n_mem = int(args[8][6])
    for t in np.flatnonzero(ok1[:k]):
        assert r_n1[t] >= n_mem and np.array_equal(tplc1[t], r_sum1[t] / n_mem)


def test_group_and_peel_leaves_out_a_potential_found_again():
    args = _engine_inputs()["group_and_peel"][0]
    rows, feats = args[3], args[4]
    dup = int(args[8][13])
    fo, go, cnt, _, _ = _peel(args)
    # every row given again right after itself (a later candidate holding the same potential)
    twice = np.repeat(np.arange(rows.shape[0]), 2)
    fo2, go2, cnt2, _, _ = _peel(args, rows_sel=twice)
    assert np.array_equal(fo, fo2) and np.array_equal(go, go2) and np.array_equal(cnt, cnt2)
    # the events written are at least dup samples apart at their alignment samples, in
    # the order given (second potentials aside), and the last one is reported; of the rows
    # so apart only unclassified ones may be left out besides (a piece of the previous event)
    al = feats[:, K.F_ALIGN]
    kept = [int(al[0])]
    kept_kind = [int(feats[0, K.F_KIND])]
    for v, k in zip(al[1:], feats[1:, K.F_KIND]):
        if abs(int(v) - kept[-1]) >= dup:
            kept.append(int(v))
            kept_kind.append(int(k))
    assert cnt[3] == kept[-1]
    assert cnt[0] >= len(kept) - kept_kind.count(K.K_UNCLASSIFIED)
    written = fo[: cnt[0], K.F_ALIGN]
    lost = [v for v, k in zip(kept, kept_kind) if k != K.K_UNCLASSIFIED and np.abs(written - v).min() >= dup]
    assert lost == []


def test_events_are_the_objects_the_constructor_makes():
    from edx.needle import spontaneous as S

    cols = {
        "time_s": np.array([0.5, 1.25]), "code": np.array([1, 3]), "amplitude_uv": np.array([80.0, 40.0]),
        "duration_ms": np.array([2.5, 3.0]), "peak_time_s": np.array([0.5005, 1.2508]),
        "initial": np.array([1.0, -1.0]), "phases": np.array([2, 3]), "snr": np.array([12.0, np.inf]),
        "noise_uv": np.array([5.0, 5.0]), "group": np.array([0, -1]), "end_open": np.array([False, True]),
    }
    got = S._events_from(cols, np.array([-1, 2]))
    # an end not found (end_open): no duration, not the lower bound the engine keeps
    want = [S.SpontaneousEvent(0.5, "fibrillation", 80.0, 2.5, 0.5005, "positive", 2, 12.0, 5.0, 0, None),
            S.SpontaneousEvent(1.25, "end_plate_spike", 40.0, None, 1.2508, "negative", 3, np.inf, 5.0, None, 2)]
    assert got == want and [hash(e) for e in got] == [hash(e) for e in want]
    assert all(type(v) is type(w) for e, f in zip(got, want) for v, w in zip(
        (getattr(e, n) for n in e.__slots__), (getattr(f, n) for n in f.__slots__)))
    assert not hasattr(S.SpontaneousEvent, "__post_init__")  # bulk building skips nothing
    assert S._events_from(cols, None)[0].train_id is None


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=finite), st.integers(0, 15), st.integers(0, 40),
       st.integers(0, 40))
def test_smooth_value_depends_only_on_its_samples(x, h, cut_a, cut_b):
    # the same sample smoothed in two windows: the same number wherever its full window fits
    # in both (the edges shrink the average to the window); the NumPy mean within rounding
    x = np.ascontiguousarray(x)
    n = x.size
    a, b = min(cut_a, n - 1), max(n - cut_b, min(cut_a, n - 1) + 1)
    whole = K.smooth_window(x, 0, n, h)
    part = K.smooth_window(x, a, b, h)
    for i in range(a + h, b - h):
        assert part[i - a] == whole[i]
    np.testing.assert_allclose(whole, ref_smooth(x, h), rtol=1e-12, atol=1e-18 + 4 * np.finfo(float).eps * np.abs(x).max())
    assert K.smooth_levels(h) * n >= 1


@pytest.mark.parametrize("fs", [10_000.0, 48_000.0])
def test_scan_hum_projection_matches_numpy(fs):
    # the 50/60 Hz projection of every dec-th sample, in chunks of any size, against NumPy's
    # cos/sin of the exact phases (the kernel rotates the phases between exact anchors)
    p = _params(fs)
    dec = int(p[K.P_HUM_DECIMATE])
    rng = np.random.default_rng(1)
    n = int(3.3 * fs)
    t = np.arange(n) / fs
    x = rng.normal(0, 5e-6, n) + 20e-6 * np.sin(2 * np.pi * 50 * t + 0.3) + 7e-6 * np.cos(2 * np.pi * 60 * t)
    st_ = np.zeros(K.state_size(int(p[K.P_N_BLOCKS])))
    K.init_state(st_)
    for c in np.array_split(x, 17):
        K.scan(np.ascontiguousarray(c), st_, p, np.empty((c.size // int(p[K.P_GAP]) + 2, K.N_CAND)))
    i = np.arange(0, n, dec)
    for f, kc, ks in ((50.0, K.S_H50C, K.S_H50S), (60.0, K.S_H60C, K.S_H60S)):
        w = 2.0 * math.pi * f / fs
        for key, ref in ((kc, np.sum(x[i] * np.cos(w * i))), (ks, np.sum(x[i] * np.sin(w * i)))):
            assert st_[key] == pytest.approx(ref, rel=1e-9, abs=1e-12 * np.abs(x[i]).sum())
    assert st_[K.S_HN] == i.size
    amp = 2.0 * math.hypot(st_[K.S_H50C], st_[K.S_H50S]) / st_[K.S_HN]
    assert amp == pytest.approx(20e-6, rel=0.05)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=0, max_size=40), st.floats(0.03, 0.2), st.integers(1, 12))
def test_seed_chains_matches_reference(iv, tol, max_periods):
    # every seed pair (s0 < 4, s0 < s1 < s0 + 9), distinct chains, longest first then lexicographic
    t = np.concatenate([[0.0], np.cumsum(iv)]) if iv else np.zeros(0)
    want = {}
    for s0 in range(min(4, t.size)):
        for s1 in range(s0 + 1, min(s0 + 9, t.size)):
            c = ref_chain(t, s0, s1, tol, max_periods)
            if c:
                want[tuple(c)] = None
    want = sorted((list(c) for c in want), key=lambda c: (-len(c), c))
    members, lens = K.seed_chains(np.ascontiguousarray(t), tol, max_periods)
    assert [members[c, : lens[c]].tolist() for c in range(lens.size)] == want


def ref_fill_slots(times, period, d, tol, cand_t, ends, t_end, primitive):
    """Sub-grid slots of a train and the candidates filling them, in NumPy."""
    sub = period / d
    parts_t, parts_j = [], []
    if times.size >= 2:
        lo_t, span = times[:-1], np.diff(times)
        n_sub = np.maximum(1, np.floor(span / period + 0.5)).astype(np.int64) * d
        cnt = n_sub - 1
        g = np.repeat(np.arange(cnt.size), cnt)
        j = np.arange(g.size) - np.repeat(np.cumsum(cnt) - cnt, cnt) + 1
        parts_t.append(lo_t[g] + j * (span[g] / n_sub[g]))
        parts_j.append(np.minimum(j, n_sub[g] - j))
        if d > 1:
            keep = np.gcd(j, d) == 1 if primitive else j % d != 0
            parts_t[-1], parts_j[-1] = parts_t[-1][keep], parts_j[-1][keep]
    if ends:
        j = np.arange(1, 10 * d + 1)
        before, after = times[0] - j * sub, times[-1] + j * sub
        parts_t += [before[before >= 0.0], after[after <= t_end]]
        parts_j += [j[before >= 0.0], j[after <= t_end]]
    if not parts_t:
        return [], 0, 0.0
    tp = np.concatenate(parts_t)
    w = np.minimum(tol * np.sqrt(np.concatenate(parts_j)), 0.3) * sub
    if tp.size == 0 or cand_t.size == 0:
        return [], int(tp.size), float(2.0 * w.sum())
    q = np.searchsorted(cand_t, tp)
    d0 = np.where(q >= 1, tp - cand_t[np.maximum(q - 1, 0)], np.inf)
    d1 = np.where(q < cand_t.size, cand_t[np.minimum(q, cand_t.size - 1)] - tp, np.inf)
    best = np.where(d1 <= np.minimum(d0, w), q, np.where(d0 <= w, q - 1, -1))
    return np.unique(best[best >= 0]).tolist(), int(tp.size), float(2.0 * w.sum())


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), d=st.integers(1, 6), n_cand=st.integers(0, 60),
       ends=st.booleans(), primitive=st.booleans())
def test_fill_slots_matches_reference(seed, n, d, n_cand, ends, primitive):
    from edx.needle.spontaneous import _fill_slots

    rng = np.random.default_rng(seed)
    period = float(rng.uniform(0.05, 1.0))
    k = rng.integers(1, 4, size=max(n - 1, 0))  # members k periods apart, jittered
    times = np.concatenate([[rng.uniform(0.0, 2.0)], rng.uniform(0.0, 2.0) + np.cumsum(k * period)])[:n]
    times = times + rng.normal(0, 0.01 * period, times.size)
    times.sort()
    cand_t = np.sort(rng.uniform(0.0, float(times[-1]) + 3 * period, n_cand))
    t_end = float(times[-1]) + 2.5 * period
    args = (times, period, d, 0.1, cand_t, ends, t_end, primitive)
    assert _fill_slots(*args) == ref_fill_slots(*args)
