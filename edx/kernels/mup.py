"""Numba kernels for motor-unit-potential (MUP) analysis and the interference pattern.

Arrays in, numbers out: float64 C-contiguous samples (volts), the sampling rate and
plain scalars or parameter vectors; no Python objects inside the loops.  The public
layer is :mod:`edx.needle.mup`, which chooses the parameters and turns the numbers
into typed results.

The pipeline of one recording:

1. :func:`biquad_coefficients` / :func:`sos_filter`: a band-pass (second-order
   Butterworth sections, forward) that keeps the sharp main spikes of nearby MUPs for
   detection; the measures are taken on the unfiltered samples;
2. :func:`noise_sigma`: robust noise SD of the filtered trace (median absolute value
   of a strided subsample);
3. :func:`detect_peaks`: candidate discharges, local extremes of ``|y|`` above a
   threshold that dominate ``±half`` samples;
4. :func:`sort_events`: template matching of the filtered windows (greedy creation,
   then reassignment to frozen means, then merging of templates that match each
   other), allowing a small alignment shift;
5. :func:`average_units`: each unit's wide template from the unfiltered samples, with
   the other units' templates peeled off and discharges with unexplained activity
   (superpositions) left out;
6. :func:`measure_mup`: duration (amplitude criterion, optionally with a slope
   criterion), peak-to-peak amplitude, phases, turns, area, thickness, size index,
   rise time and a late (satellite) component;
7. :func:`ip_turns`: turns and amplitude per turn of the interference pattern.

Every kernel is ``@njit(cache=True, nogil=True)``.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit
from .stats import median_inplace

# ----------------------------------------------------------------- measure_mup result vector
M_STATUS = 0  # 0 ok, 1 nothing above threshold, 2 empty
M_ONSET = 1
M_END = 2
M_PEAK = 3
M_DURATION_MS = 4
M_AMPLITUDE_UV = 5
M_PHASES = 6
M_TURNS = 7
M_AREA_UVMS = 8
M_THICKNESS_MS = 9
M_SIZE_INDEX = 10
M_SATELLITE = 11
M_SATELLITE_ONSET = 12
M_NOISE_UV = 13
M_THRESHOLD_UV = 14
M_RISE_TIME_MS = 15
M_BASE_START_V = 16
M_BASE_END_V = 17
N_MEASURES = 18

# ----------------------------------------------------------------- measure_mup parameter vector
Q_FLOOR_UV = 0  # absolute onset/end threshold, µV
Q_FRACTION = 1  # relative onset/end threshold, fraction of peak-to-peak
Q_GAP_MS = 2  # a sub-threshold stretch this long ends the potential
Q_PHASE_UV = 3  # phase dead band, µV
Q_TURN_UV = 4  # turn level, µV
Q_EDGE_MS = 5  # baseline from this much at each end of the template
Q_SLOPE_UV_PER_MS = 6  # slope criterion (0 = amplitude criterion only)
Q_SATELLITE_K = 7  # satellite: beyond this many template-noise SDs (and the threshold)
Q_NOISE_K = 8  # the onset/end threshold is at least this many template-noise SDs (0 = off)
N_QPARAMS = 9


@njit(cache=True, nogil=True)
def biquad_coefficients(kind: int, fc_hz: float, fs_hz: float) -> np.ndarray:
    """Second-order Butterworth section by the bilinear transform (pre-warped).

    Parameters
    ----------
    kind : int
        0 low-pass, 1 high-pass.
    fc_hz, fs_hz : float
        Corner and sampling frequency; ``0 < fc < fs / 2``.

    Returns
    -------
    numpy.ndarray
        ``[b0, b1, b2, a1, a2]`` (``a0 = 1``); NaN if the corner is out of range.
    """
    out = np.full(5, np.nan)
    if not (fc_hz > 0.0 and fc_hz < 0.5 * fs_hz):
        return out
    k = math.tan(math.pi * fc_hz / fs_hz)
    q = 1.0 / math.sqrt(2.0)
    norm = 1.0 / (1.0 + k / q + k * k)
    if kind == 0:
        b0 = k * k * norm
        b1 = 2.0 * b0
        b2 = b0
    else:
        b0 = norm
        b1 = -2.0 * b0
        b2 = b0
    out[0] = b0
    out[1] = b1
    out[2] = b2
    out[3] = 2.0 * (k * k - 1.0) * norm
    out[4] = (1.0 - k / q + k * k) * norm
    return out


@njit(cache=True, nogil=True)
def sos_filter(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Cascade of biquads (rows ``[b0, b1, b2, a1, a2]``), transposed direct form II.

    The filter is applied to ``x − x[0]`` with the sections at rest, so a constant
    offset gives no start-up transient (the offset is not added back: use it with a
    high-pass section).  NaN in gives NaN from there on.
    """
    n = x.size
    y = np.empty(n)
    if n == 0:
        return y
    x0 = x[0]
    if sos.shape[0] == 2:
        # both sections in one pass over the samples (the two recurrences overlap)
        b0, b1, b2, a1, a2 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 3], sos[0, 4]
        c0, c1, c2, d1, d2 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 3], sos[1, 4]
        z1 = 0.0
        z2 = 0.0
        u1 = 0.0
        u2 = 0.0
        for i in range(n):
            v = x[i] - x0
            o = b0 * v + z1
            z1 = b1 * v - a1 * o + z2
            z2 = b2 * v - a2 * o
            q = c0 * o + u1
            u1 = c1 * o - d1 * q + u2
            u2 = c2 * o - d2 * q
            y[i] = q
        return y
    for i in range(n):
        y[i] = x[i] - x0
    for s in range(sos.shape[0]):
        b0 = sos[s, 0]
        b1 = sos[s, 1]
        b2 = sos[s, 2]
        a1 = sos[s, 3]
        a2 = sos[s, 4]
        z1 = 0.0
        z2 = 0.0
        for i in range(n):
            v = y[i]
            o = b0 * v + z1
            z1 = b1 * v - a1 * o + z2
            z2 = b2 * v - a2 * o
            y[i] = o
    return y


@njit(cache=True, nogil=True)
def noise_sigma(y: np.ndarray, max_samples: int) -> float:
    """Robust SD: median of ``|y|`` over a strided subsample (at most ``max_samples``) / 0.6745.

    NaN for an empty array.  Activity that occupies less than half of the samples
    hardly moves it.
    """
    n = y.size
    if n == 0:
        return np.nan
    step = _subsample_step(n, max_samples)
    m = (n + step - 1) // step
    a = np.empty(m)
    j = 0
    for i in range(0, n, step):
        a[j] = abs(y[i])
        j += 1
    return float(np.median(a[:j])) / 0.6744897501960817


@njit(cache=True, nogil=True)
def _subsample_step(n: int, max_samples: int) -> int:
    """The stride of :func:`noise_sigma`'s subsample: every sample, or at most ``max_samples``."""
    if max_samples > 0 and n > max_samples:
        return (n + max_samples - 1) // max_samples
    return 1


@njit(cache=True, nogil=True)
def detect_peaks(y: np.ndarray, thr: float, half: int) -> np.ndarray:
    """Candidate discharges: samples where ``|y| > thr`` is the largest within ``±half``.

    A local maximum of ``|y|`` (``>=`` the previous, ``>`` the next sample) above the
    threshold is kept when no other such maximum within ``half`` samples is larger (ties:
    the earlier one wins).  Returns ascending int64 indices.
    """
    n = y.size
    cand = np.empty(max(n // 2 + 1, 1), dtype=np.int64)
    nc = 0
    for i in range(1, n - 1):
        a = abs(y[i])
        if a > thr and a >= abs(y[i - 1]) and a > abs(y[i + 1]):
            cand[nc] = i
            nc += 1
    keep = np.empty(nc, dtype=np.int64)
    nk = 0
    for c in range(nc):
        i = cand[c]
        a = abs(y[i])
        ok = True
        k = c - 1
        while k >= 0 and cand[k] >= i - half:
            if abs(y[cand[k]]) >= a:
                ok = False
                break
            k -= 1
        if ok:
            k = c + 1
            while k < nc and cand[k] <= i + half:
                if abs(y[cand[k]]) > a:
                    ok = False
                    break
                k += 1
        if ok:
            keep[nk] = i
            nk += 1
    return keep[:nk].copy()


@njit(cache=True, nogil=True)
def _best_match(
    y: np.ndarray, p: int, pre: int, w: int, means: np.ndarray, energy: np.ndarray, active: np.ndarray,
    max_shift: int,
) -> tuple[int, int, float]:
    """Template (index), shift and residual energy of the best match of the window at ``p``.

    Exhaustive over the active templates and shifts ``|s| <= max_shift``; a pair is
    skipped when the lower bound ``(‖window‖ − ‖template‖)²`` of its residual already
    exceeds the best so far (``energy[k]`` must be ``Σ means[k]²``), and a residual sum
    is abandoned once it does.  Ties: the lower template index, then the lower shift.
    """
    best_k = -1
    best_s = 0
    best_r = np.inf
    n = y.size
    ns = 2 * max_shift + 1
    wnorm = np.full(ns, np.nan)
    a0 = p - max_shift - pre
    # window norms of every shift by a running sum
    acc = 0.0
    lo_ok = max(a0, 0)
    for i in range(lo_ok, min(a0 + w, n)):
        acc += y[i] * y[i]
    for si in range(ns):
        a = a0 + si
        if si > 0:
            if a - 1 >= 0:
                acc -= y[a - 1] * y[a - 1]
            if a + w - 1 < n and a + w - 1 >= 0:
                acc += y[a + w - 1] * y[a + w - 1]
        if a >= 0 and a + w <= n:
            wnorm[si] = math.sqrt(max(acc, 0.0))
    for k in range(means.shape[0]):
        if not active[k]:
            continue
        tn = math.sqrt(max(energy[k], 0.0))
        for si in range(ns):
            if not wnorm[si] >= 0.0:
                continue
            lb = wnorm[si] - tn
            if lb * lb * (1.0 - 1e-9) >= best_r:
                continue
            a = a0 + si
            r = 0.0
            for j in range(w):
                d = y[a + j] - means[k, j]
                r += d * d
                if r >= best_r:
                    break
            if r < best_r:
                best_r = r
                best_k = k
                best_s = si - max_shift
    return best_k, best_s, best_r


@njit(cache=True, nogil=True)
def _merge(means: np.ndarray, energy: np.ndarray, counts: np.ndarray, active: np.ndarray, nk: int, w: int,
           max_shift: int, alpha: float, noise_e: float) -> None:
    """Deactivate every template that matches a larger one (shifts up to ``2·max_shift``)."""
    for a_ in range(nk):
        if not active[a_]:
            continue
        for b_ in range(nk):
            if b_ == a_ or not active[b_] or counts[b_] > counts[a_]:
                continue
            if counts[b_] == counts[a_] and b_ < a_:
                continue
            best = np.inf
            for s in range(-2 * max_shift, 2 * max_shift + 1):
                r = 0.0
                for j in range(w):
                    jj = j + s
                    vb = means[b_, jj] if 0 <= jj < w else 0.0
                    d = means[a_, j] - vb
                    r += d * d
                if r < best:
                    best = r
            if best <= alpha * min(energy[a_], energy[b_]) + 2.0 * noise_e / max(min(counts[a_], counts[b_]), 1):
                active[b_] = False
                counts[a_] += counts[b_]


@njit(cache=True, nogil=True)
def sort_events(
    y: np.ndarray, peaks: np.ndarray, pre: int, post: int, max_shift: int, alpha: float, beta: float,
    sigma: float, min_count: int, max_templates: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort candidate discharges into units by template matching of filtered windows.

    A window ``y[p − pre : p + post + 1]`` matches a template ``T`` at shift ``s``
    (``|s| <= max_shift``) when its residual energy ``Σ (w − T)²`` is at most
    ``alpha · Σ T² + beta · n_w · sigma²`` (a relative shape/size tolerance plus an
    allowance for the noise).  Pass 1 goes through the candidates in time order,
    adding each to the best matching template (running mean) or starting a new one;
    templates with fewer than ``min_count`` members are dropped; templates that match
    each other are merged, and all candidates are reassigned to the frozen means
    (merge and reassignment twice).

    Returns
    -------
    labels : int64 array
        Unit number (0..n_units-1) per candidate, -1 when no template matches (e.g. a
        superposition) and -2 when the window does not fit in the signal.
    shifts : int64 array
        Alignment shift per candidate (the discharge's reference sample is
        ``peak + shift``).
    means : float64 array, shape (n_units, pre + post + 1)
        The final filtered templates.
    """
    n_ev = peaks.size
    w = pre + post + 1
    n = y.size
    labels = np.full(n_ev, -1, dtype=np.int64)
    shifts = np.zeros(n_ev, dtype=np.int64)
    kmax = max(max_templates, 1)
    sums = np.zeros((kmax, w))
    counts = np.zeros(kmax, dtype=np.int64)
    means = np.zeros((kmax, w))
    energy = np.zeros(kmax)
    active = np.zeros(kmax, dtype=np.bool_)
    noise_e = beta * w * sigma * sigma
    nk = 0
    # ---- pass 1: greedy, time order
    for e in range(n_ev):
        p = peaks[e]
        if p - pre - max_shift < 0 or p + post + max_shift >= n:
            labels[e] = -2
            continue
        k, s, r = _best_match(y, p, pre, w, means, energy, active, max_shift)
        if k >= 0 and r <= alpha * energy[k] + noise_e:
            labels[e] = k
            shifts[e] = s
            a = p + s - pre
            counts[k] += 1
            en = 0.0
            for j in range(w):
                sums[k, j] += y[a + j]
                m = sums[k, j] / counts[k]
                means[k, j] = m
                en += m * m
            energy[k] = en
        elif nk < kmax:
            k = nk
            nk += 1
            labels[e] = k
            shifts[e] = 0
            counts[k] = 1
            active[k] = True
            en = 0.0
            for j in range(w):
                v = y[p - pre + j]
                sums[k, j] = v
                means[k, j] = v
                en += v * v
            energy[k] = en
    for k in range(nk):
        if counts[k] < min_count:
            active[k] = False
    # ---- merge templates that match each other, then reassign to the frozen means (twice)
    for it in range(2):
        _merge(means, energy, counts, active, nk, w, max_shift, alpha, noise_e)
        for k in range(nk):
            counts[k] = 0
            for j in range(w):
                sums[k, j] = 0.0
        for e in range(n_ev):
            if labels[e] == -2:
                continue
            p = peaks[e]
            k, s, r = _best_match(y, p, pre, w, means, energy, active, max_shift)
            if k >= 0 and r <= alpha * energy[k] + noise_e:
                labels[e] = k
                shifts[e] = s
                counts[k] += 1
                a = p + s - pre
                for j in range(w):
                    sums[k, j] += y[a + j]
            else:
                labels[e] = -1
        for k in range(nk):
            if active[k] and counts[k] >= min_count:
                en = 0.0
                for j in range(w):
                    m = sums[k, j] / counts[k]
                    means[k, j] = m
                    en += m * m
                energy[k] = en
            elif active[k]:
                active[k] = False
    # ---- renumber the surviving units 0..m-1
    remap = np.full(kmax, -1, dtype=np.int64)
    m = 0
    for k in range(nk):
        if active[k] and counts[k] >= min_count:
            remap[k] = m
            m += 1
    out_means = np.zeros((m, w))
    for k in range(nk):
        if remap[k] >= 0:
            out_means[remap[k]] = means[k]
    for e in range(n_ev):
        if labels[e] >= 0:
            labels[e] = remap[labels[e]]
            if labels[e] < 0:
                labels[e] = -1
    return labels, shifts, out_means


@njit(cache=True, nogil=True)
def peel_events(y: np.ndarray, pos: np.ndarray, labels: np.ndarray, tpl: np.ndarray, pre: int) -> np.ndarray:
    """``y`` minus every labelled event's template: ``tpl[labels[e]]`` placed with its sample
    ``pre`` at ``pos[e]`` (parts outside the signal dropped; events with a label < 0 or
    beyond the templates skipped).  Returns a new array."""
    out = y.copy()
    _peel_strided(out, y.size, pos, labels, tpl, pre, 1)
    return out


@njit(cache=True, nogil=True)
def peeled_noise_sigma(y: np.ndarray, pos: np.ndarray, labels: np.ndarray, tpl: np.ndarray, pre: int,
                       max_samples: int) -> float:
    """``noise_sigma(peel_events(y, pos, labels, tpl, pre), max_samples)`` computed on the
    strided subsample only (the templates subtracted where they meet it): the same value
    without a copy of the whole signal."""
    n = y.size
    if n == 0:
        return np.nan
    step = _subsample_step(n, max_samples)
    sub = y[::step].copy()
    _peel_strided(sub, n, pos, labels, tpl, pre, step)
    return noise_sigma(sub, 0)


@njit(cache=True, nogil=True)
def _peel_strided(out: np.ndarray, n: int, pos: np.ndarray, labels: np.ndarray, tpl: np.ndarray, pre: int,
                  step: int) -> None:
    """Subtract the events' templates (as :func:`peel_events`) from ``out``, which holds every
    ``step``-th sample of a signal of ``n`` samples: only where they meet those samples."""
    w = tpl.shape[1]
    for e in range(pos.size):
        u = labels[e]
        if u < 0 or u >= tpl.shape[0]:
            continue
        a = pos[e] - pre
        lo = max(0, -a)
        hi = min(w, n - a)
        j = lo + (-(a + lo)) % step  # the first j in [lo, hi) with a + j a multiple of step
        while j < hi:
            out[(a + j) // step] -= tpl[u, j]
            j += step


@njit(cache=True, nogil=True)
def match_events(
    y: np.ndarray, peaks: np.ndarray, means: np.ndarray, pre: int, max_shift: int, alpha: float, beta: float,
    sigma: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match each candidate window to the frozen templates (the acceptance rule of
    :func:`sort_events`: residual ``<= alpha · Σ T² + beta · n_w · sigma²``).

    Returns
    -------
    labels : int64 array
        Template per candidate, -1 no match, -2 window (with shifts) outside the signal.
    shifts : int64 array
    residual : float64 array
        Residual energy of the best match (inf when none was tried).
    """
    n_ev = peaks.size
    nu = means.shape[0]
    w = means.shape[1]
    post = w - 1 - pre
    labels = np.full(n_ev, -1, dtype=np.int64)
    shifts = np.zeros(n_ev, dtype=np.int64)
    resid = np.full(n_ev, np.inf)
    energy = np.zeros(nu)
    for k in range(nu):
        en = 0.0
        for j in range(w):
            en += means[k, j] * means[k, j]
        energy[k] = en
    active = np.ones(nu, dtype=np.bool_)
    noise_e = beta * w * sigma * sigma
    for e in range(n_ev):
        p = peaks[e]
        if p - pre - max_shift < 0 or p + post + max_shift >= y.size:
            labels[e] = -2
            continue
        if nu == 0:
            continue
        k, s, r = _best_match(y, p, pre, w, means, energy, active, max_shift)
        resid[e] = r
        if k >= 0 and r <= alpha * energy[k] + noise_e:
            labels[e] = k
            shifts[e] = s
    return labels, shifts, resid


@njit(cache=True, nogil=True)
def _shifted_residual(tc: np.ndarray, base: np.ndarray, pre: int, wide: np.ndarray, u: int, wpre: int,
                      lag: int, stop: float) -> float:
    """``Σ_j (tc[j] − base[j] − wide[u, wpre + j − pre − lag])²`` (zero outside ``wide``),
    abandoned (returns a value >= ``stop``) once it exceeds ``stop``."""
    w = tc.size
    big = wide.shape[1]
    r = 0.0
    for j in range(w):
        k = wpre + j - pre - lag
        v = wide[u, k] if 0 <= k < big else 0.0
        d = tc[j] - base[j] - v
        r += d * d
        if r >= stop:
            return r
    return r


@njit(cache=True, nogil=True)
def _place_shifted(out: np.ndarray, pre: int, wide: np.ndarray, u: int, wpre: int, lag: int) -> None:
    big = wide.shape[1]
    for j in range(out.size):
        k = wpre + j - pre - lag
        out[j] = wide[u, k] if 0 <= k < big else 0.0


@njit(cache=True, nogil=True)
def explain_template(
    tc: np.ndarray, pre: int, wide: np.ndarray, wpre: int, allowed: np.ndarray, max_lag: int, n_try: int,
) -> tuple[float, int, int, float, int, int, int, int]:
    """Explain a template by one other template, or the sum of two, at integer lags.

    ``tc`` is a template over ``−pre .. w − 1 − pre`` samples around its reference;
    ``wide[u]`` are the other templates over a wider window with the reference at
    ``wpre``.  Unit ``u`` at lag ``l`` contributes ``wide[u, wpre + j − pre − l]`` to
    sample ``j`` of ``tc`` (its reference ``l`` samples after ``tc``'s).  Only units
    with ``allowed[u]`` are used; lags ``|l| <= max_lag``.

    One template: the exhaustive best ``(a, l)``.  Two templates: from each of the
    ``n_try`` best single fits ``(a, la)``, the best ``(b, lb)`` on what is left, then
    ``la`` re-fitted once given ``(b, lb)``; the lowest residual is kept.

    Returns
    -------
    r1, a1, l1 : float, int, int
        Residual energy ``Σ (tc − T_a)²`` of the best single fit (inf, -1, 0 if none).
    r2, a2, la2, b2, lb2 : float, int, int, int, int
        The same for the best pair (inf, -1, 0, -1, 0 if none).
    """
    w = tc.size
    nu = wide.shape[0]
    nl = 2 * max_lag + 1
    zero = np.zeros(w)
    r1 = np.full(nu * nl, np.inf)
    for a in range(nu):
        if not allowed[a]:
            continue
        for li in range(nl):
            r1[a * nl + li] = _shifted_residual(tc, zero, pre, wide, a, wpre, li - max_lag, np.inf)
    order = np.argsort(r1)
    best1 = r1[order[0]] if r1.size else np.inf
    a1 = -1
    l1 = 0
    if r1.size and best1 < np.inf:
        a1 = order[0] // nl
        l1 = order[0] % nl - max_lag
    r2 = np.inf
    a2 = -1
    la2 = 0
    b2 = -1
    lb2 = 0
    base = np.empty(w)
    for t in range(min(n_try, r1.size)):
        idx = order[t]
        if not r1[idx] < np.inf:
            break
        a = idx // nl
        la = idx % nl - max_lag
        _place_shifted(base, pre, wide, a, wpre, la)
        best = np.inf
        bb = -1
        lb = 0
        for b in range(nu):
            if not allowed[b] or b == a:
                continue
            for li in range(nl):
                r = _shifted_residual(tc, base, pre, wide, b, wpre, li - max_lag, best)
                if r < best:
                    best = r
                    bb = b
                    lb = li - max_lag
        if bb < 0:
            continue
        # re-fit a's lag given b
        _place_shifted(base, pre, wide, bb, wpre, lb)
        best_a = best
        for li in range(nl):
            r = _shifted_residual(tc, base, pre, wide, a, wpre, li - max_lag, best_a)
            if r < best_a:
                best_a = r
                la = li - max_lag
        if best_a < r2:
            r2 = best_a
            a2 = a
            la2 = la
            b2 = bb
            lb2 = lb
    return best1, a1, l1, r2, a2, la2, b2, lb2


@njit(cache=True, nogil=True)
def _median_inplace(a: np.ndarray) -> float:
    """Median of ``a`` by quickselect in place (``a`` is reordered; no allocation, unlike
    ``np.partition``, which copies): :func:`edx.kernels.stats.median_inplace`."""
    return median_inplace(a)


@njit(cache=True, nogil=True)
def _trimmed_mean_inplace(a: np.ndarray, k: int) -> float:
    """Mean of ``a`` without its ``k`` smallest and ``k`` largest values (partial
    selection; ``a`` is reordered).  ``2k >= a.size`` gives the median."""
    n = a.size
    if 2 * k >= n - 1:
        return _median_inplace(a)
    if k <= 0:
        return a.sum() / n
    kth = np.empty(2, dtype=np.int64)
    kth[0] = k
    kth[1] = n - k - 1
    p = np.partition(a, kth)
    mid = 0.0
    for i in range(k, n - k):
        mid += p[i]
    return mid / (n - 2 * k)


@njit(cache=True, nogil=True)
def average_units(
    x: np.ndarray, pos: np.ndarray, labels: np.ndarray, n_units: int, pre: int, post: int, n_iter: int,
    reject_k: float, excluded: np.ndarray, robust: bool, robust_max: int = 0, trim: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit's averaged template of ``x`` around its discharges, others peeled off.

    Iteration 0 is the plain mean of the usable windows ``x[p − pre : p + post + 1]``
    (inside the signal, not ``excluded``).  Each further iteration rebuilds the
    recording from the templates (every labelled discharge), and a unit's template
    becomes the mean of its windows of ``x − (reconstruction − own contribution)``:
    the other units' templates are subtracted from each window before averaging.
    Those iterations use at most ``robust_max`` of a unit's usable discharges, spread
    evenly over its list (0 = all); of these, one whose residual variance over the
    window exceeds ``reject_k²`` times the median of the unit's is left out
    (unexplained activity: an undetected superposition).  With ``robust`` the last
    iteration takes, per sample, the mean without the ``trim`` fraction of lowest and
    of highest values (partial selection; ``trim >= 0.5`` is the median) instead of
    the mean.

    Returns
    -------
    templates : float64 array (n_units, pre + post + 1)
    counts : int64 array (n_units,)
        Discharges averaged into each template.
    used : bool array (n_events,)
        Which discharges were averaged.
    """
    n = x.size
    w = pre + post + 1
    n_ev = pos.size
    tpl = np.zeros((n_units, w))
    counts = np.zeros(n_units, dtype=np.int64)
    used = np.zeros(n_ev, dtype=np.bool_)
    ok = np.zeros(n_ev, dtype=np.bool_)
    for e in range(n_ev):
        u = labels[e]
        a = pos[e] - pre
        if u >= 0 and u < n_units and a >= 0 and a + w <= n and not excluded[e]:
            ok[e] = True
            used[e] = True
    for e in range(n_ev):
        if used[e]:
            u = labels[e]
            a = pos[e] - pre
            counts[u] += 1
            for j in range(w):
                tpl[u, j] += x[a + j]
    for u in range(n_units):
        if counts[u] > 0:
            for j in range(w):
                tpl[u, j] /= counts[u]
    if n_iter <= 0:
        return tpl, counts, used
    # the capped, evenly spread set of each unit's usable discharges
    sel = np.zeros(n_ev, dtype=np.bool_)
    seen = np.zeros(n_units, dtype=np.int64)
    taken = np.zeros(n_units, dtype=np.int64)
    for e in range(n_ev):
        if ok[e]:
            u = labels[e]
            c = counts[u]
            if robust_max <= 0 or c <= robust_max:
                sel[e] = True
            else:
                # take discharge number s when it is the first at or after k·c/robust_max
                s = seen[u]
                if taken[u] < robust_max and s * robust_max >= taken[u] * c:
                    sel[e] = True
                    taken[u] += 1
            seen[u] += 1
    n_sel = np.zeros(n_units, dtype=np.int64)
    for e in range(n_ev):
        if sel[e]:
            n_sel[labels[e]] += 1
    # the reconstruction is only read inside the selected windows: only events whose
    # window overlaps one of them are placed
    starts = np.empty(int(n_sel.sum()), dtype=np.int64)
    k = 0
    for e in range(n_ev):
        if sel[e]:
            starts[k] = pos[e] - pre
            k += 1
    starts.sort()
    place = np.zeros(n_ev, dtype=np.bool_)
    for e in range(n_ev):
        if labels[e] >= 0 and labels[e] < n_units and starts.size:
            a = pos[e] - pre
            k = np.searchsorted(starts, a - w + 1)
            place[e] = k < starts.size and starts[k] < a + w
    recon = np.zeros(n)
    resid_var = np.zeros(n_ev)
    for it in range(n_iter):
        last_robust = robust and it == n_iter - 1
        for k in range(starts.size):
            recon[starts[k]:starts[k] + w] = 0.0
        for e in range(n_ev):
            if place[e]:
                u = labels[e]
                a = pos[e] - pre
                lo = max(0, -a)
                hi = min(w, n - a)
                for j in range(lo, hi):
                    recon[a + j] += tpl[u, j]
        # residual variance of every selected discharge's window
        for e in range(n_ev):
            if sel[e]:
                a = pos[e] - pre
                s1 = 0.0
                s2 = 0.0
                for j in range(w):
                    d = x[a + j] - recon[a + j]
                    s1 += d
                    s2 += d * d
                m = s1 / w
                resid_var[e] = s2 / w - m * m
        new = np.zeros((n_units, w))
        for u in range(n_units):
            counts[u] = 0
            if n_sel[u] == 0:
                continue
            vals = np.empty(n_sel[u])
            k = 0
            for e in range(n_ev):
                if sel[e] and labels[e] == u:
                    vals[k] = resid_var[e]
                    k += 1
            med = np.median(vals)
            lim = reject_k * reject_k * med
            idx = np.empty(n_sel[u], dtype=np.int64)
            for e in range(n_ev):
                if ok[e] and labels[e] == u:
                    keep = sel[e] and (resid_var[e] <= lim or med <= 0.0)
                    used[e] = keep
                    if keep:
                        idx[counts[u]] = e
                        counts[u] += 1
            nu = counts[u]
            if nu == 0:
                continue
            if last_robust:
                col = np.empty(nu)
                kt = int(trim * nu)
                for j in range(w):
                    for k in range(nu):
                        a = pos[idx[k]] - pre
                        col[k] = x[a + j] - recon[a + j]
                    new[u, j] = _trimmed_mean_inplace(col, kt) + tpl[u, j]
            else:
                for k in range(nu):
                    a = pos[idx[k]] - pre
                    for j in range(w):
                        new[u, j] += x[a + j] - recon[a + j]
                for j in range(w):
                    new[u, j] = tpl[u, j] + new[u, j] / nu
        for u in range(n_units):
            if counts[u] > 0:
                for j in range(w):
                    tpl[u, j] = new[u, j]
    return tpl, counts, used


@njit(cache=True, nogil=True)
def count_phases(x: np.ndarray, lo: int, hi: int, level: float) -> int:
    """Phases of ``x[lo:hi + 1]``: sign changes between samples beyond ``±level``, + 1 (0 if none)."""
    last = 0
    ph = 0
    for i in range(max(lo, 0), min(hi + 1, x.size)):
        v = x[i]
        lab = 1 if v > level else (-1 if v < -level else 0)
        if lab == 0:
            continue
        if last == 0:
            ph = 1
        elif lab != last:
            ph += 1
        last = lab
    return ph


@njit(cache=True, nogil=True)
def count_turns(x: np.ndarray, lo: int, hi: int, level: float) -> tuple[int, float]:
    """Turns of ``x[lo:hi + 1]`` by the zig-zag rule, and the summed amplitude between them.

    From the first sample the signal must move by ``level`` to set a direction; a turn
    is counted each time it then comes back by at least ``level`` from the running
    extreme.  The second value is the sum of ``|extreme − previous extreme|`` over the
    counted turns (the first measured from the start sample).
    """
    lo = max(lo, 0)
    hi = min(hi, x.size - 1)
    if hi < lo:
        return 0, 0.0
    start = x[lo]
    ext = start
    prev = start
    direction = 0
    turns = 0
    amp = 0.0
    for i in range(lo + 1, hi + 1):
        v = x[i]
        if direction == 0:
            if v - start >= level:
                direction = 1
                ext = v
            elif start - v >= level:
                direction = -1
                ext = v
        elif direction > 0:
            if v > ext:
                ext = v
            elif ext - v >= level:
                turns += 1
                amp += abs(ext - prev)
                prev = ext
                direction = -1
                ext = v
        else:
            if v < ext:
                ext = v
            elif v - ext >= level:
                turns += 1
                amp += abs(ext - prev)
                prev = ext
                direction = 1
                ext = v
    return turns, amp


@njit(cache=True, nogil=True)
def _active(x: np.ndarray, i: int, thr: float, slope: float, dt_ms: float) -> bool:
    """Sample ``i`` is part of a potential: beyond the threshold or (slope > 0) steeper than it."""
    if abs(x[i]) > thr:
        return True
    if slope > 0.0 and i + 1 < x.size and abs(x[i + 1] - x[i]) / dt_ms > slope:
        return True
    return False


@njit(cache=True, nogil=True)
def _extent(x: np.ndarray, ref: int, lo_lim: int, hi_lim: int, thr: float, gap: int, slope: float,
            dt_ms: float) -> tuple[int, int]:
    """First and last active sample connected to ``ref`` by sub-threshold gaps shorter than ``gap``."""
    # nearest active sample to ref (ref itself normally)
    on = -1
    for r in range(0, hi_lim - lo_lim + 1):
        if ref - r >= lo_lim and _active(x, ref - r, thr, slope, dt_ms):
            on = ref - r
            break
        if ref + r <= hi_lim and _active(x, ref + r, thr, slope, dt_ms):
            on = ref + r
            break
    if on < 0:
        return -1, -1
    end = on
    i = on - 1
    run = 0
    while i >= lo_lim:
        if _active(x, i, thr, slope, dt_ms):
            on = i
            run = 0
        else:
            run += 1
            if run >= gap:
                break
        i -= 1
    i = end + 1
    run = 0
    while i <= hi_lim:
        if _active(x, i, thr, slope, dt_ms):
            end = i
            run = 0
        else:
            run += 1
            if run >= gap:
                break
        i += 1
    return on, end


@njit(cache=True, nogil=True)
def measure_mup(t: np.ndarray, fs: float, ref: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Measures of one averaged MUP template (volts).

    A straight baseline through the means of the first and last ``Q_EDGE_MS`` is
    subtracted; the template noise is the SD of those edge samples about it.  The
    onset/end threshold is ``max(Q_FLOOR_UV, Q_FRACTION × peak-to-peak, Q_NOISE_K ×
    noise)`` (the last term only matters for noisy templates); the potential
    is the stretch of samples beyond it (or, with ``Q_SLOPE_UV_PER_MS > 0``, steeper
    than that) connected to ``ref`` by sub-threshold gaps shorter than ``Q_GAP_MS``
    (found twice: the second time with the peak-to-peak of the first extent).  After
    the end, a later stretch beyond ``max(Q_FLOOR_UV, Q_SATELLITE_K × noise)`` is a
    satellite (late component), excluded from the measures.

    Returns
    -------
    measures : float64 array (N_MEASURES,)
        See the ``M_*`` indices; duration in ms, amplitude µV, area µV·ms, thickness ms,
        size index ``2·log10(amplitude mV) + thickness``.
    baseline_free : float64 array
        The template after baseline subtraction.
    """
    out = np.full(N_MEASURES, np.nan)
    n = t.size
    x = t.copy()
    if n < 4:
        out[M_STATUS] = 2
        return out, x
    dt_ms = 1e3 / fs
    edge = max(1, int(round(q[Q_EDGE_MS] / dt_ms)))
    edge = min(edge, n // 4)
    m0 = 0.0
    m1 = 0.0
    for i in range(edge):
        m0 += t[i]
        m1 += t[n - 1 - i]
    m0 /= edge
    m1 /= edge
    c0 = 0.5 * (edge - 1)
    c1 = n - 1 - c0
    slope_b = (m1 - m0) / (c1 - c0) if c1 > c0 else 0.0
    for i in range(n):
        x[i] = t[i] - (m0 + slope_b * (i - c0))
    s2 = 0.0
    for i in range(edge):
        s2 += x[i] * x[i] + x[n - 1 - i] * x[n - 1 - i]
    noise = math.sqrt(s2 / (2 * edge))
    out[M_NOISE_UV] = noise * 1e6
    out[M_BASE_START_V] = m0
    out[M_BASE_END_V] = m1
    lo_lim = edge
    hi_lim = n - 1 - edge
    if ref < lo_lim or ref > hi_lim:
        ref = lo_lim + int(np.argmax(np.abs(x[lo_lim:hi_lim + 1])))
    gap = max(1, int(round(q[Q_GAP_MS] / dt_ms)))
    floor = q[Q_FLOOR_UV] * 1e-6
    frac = q[Q_FRACTION]
    slope = q[Q_SLOPE_UV_PER_MS] * 1e-6
    pp = x[lo_lim:hi_lim + 1].max() - x[lo_lim:hi_lim + 1].min()
    on = -1
    end = -1
    noise_thr = q[Q_NOISE_K] * noise
    for it in range(3):
        thr = max(floor, frac * pp, noise_thr)
        on, end = _extent(x, ref, lo_lim, hi_lim, thr, gap, slope, dt_ms)
        if on < 0:
            out[M_STATUS] = 1
            out[M_THRESHOLD_UV] = thr * 1e6
            return out, x
        seg = x[on:end + 1]
        new_pp = seg.max() - seg.min()
        if new_pp == pp:
            break
        pp = new_pp
    thr = max(floor, frac * pp, noise_thr)
    seg = x[on:end + 1]
    pk = on + int(np.argmax(np.abs(seg)))
    amp = seg.max() - seg.min()
    area = 0.0
    for i in range(on, end + 1):
        area += abs(x[i])
    area_uvms = area * dt_ms * 1e6
    amp_uv = amp * 1e6
    ph = count_phases(x, on, end, q[Q_PHASE_UV] * 1e-6)
    tn, _ = count_turns(x, on, end, q[Q_TURN_UV] * 1e-6)
    # rise time: most negative sample back to the preceding local maximum
    imin = on + int(np.argmin(seg))
    j = imin
    while j > on and x[j - 1] >= x[j]:
        j -= 1
    # satellite: a later stretch clearly beyond the threshold and the template noise
    sat_thr = max(floor, q[Q_SATELLITE_K] * noise)
    sat_on = -1
    for i in range(end + gap, hi_lim + 1):
        if abs(x[i]) > sat_thr:
            sat_on = i
            break
    out[M_STATUS] = 0
    out[M_ONSET] = on
    out[M_END] = end
    out[M_PEAK] = pk
    out[M_DURATION_MS] = (end - on) * dt_ms
    out[M_AMPLITUDE_UV] = amp_uv
    out[M_PHASES] = ph
    out[M_TURNS] = tn
    out[M_AREA_UVMS] = area_uvms
    thick = area_uvms / amp_uv if amp_uv > 0 else np.nan
    out[M_THICKNESS_MS] = thick
    out[M_SIZE_INDEX] = 2.0 * math.log10(amp_uv * 1e-3) + thick if amp_uv > 0 else np.nan
    out[M_SATELLITE] = 1.0 if sat_on >= 0 else 0.0
    out[M_SATELLITE_ONSET] = sat_on
    out[M_THRESHOLD_UV] = thr * 1e6
    out[M_RISE_TIME_MS] = (imin - j) * dt_ms
    return out, x


@njit(cache=True, nogil=True)
def ip_turns(x: np.ndarray, level: float, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Interference-pattern turns per epoch of ``epoch`` samples (the zig-zag restarts
    in each epoch; a last partial epoch shorter than half an epoch is dropped).

    Returns
    -------
    turns : int64 array (n_epochs,)
    amplitude_sum : float64 array (n_epochs,)
        Sum of the amplitude changes between successive turns (volts).
    """
    n = x.size
    if epoch <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    ne = n // epoch
    if n - ne * epoch >= epoch // 2 and n - ne * epoch > 0:
        ne += 1
    turns = np.zeros(ne, dtype=np.int64)
    amps = np.zeros(ne)
    for k in range(ne):
        lo = k * epoch
        hi = min(n, lo + epoch) - 1
        tk, ak = count_turns(x, lo, hi, level)
        turns[k] = tk
        amps[k] = ak
    return turns, amps


@njit(cache=True, nogil=True)
def tone_amplitude(x: np.ndarray, fs: float, f: float, max_samples: int) -> float:
    """Amplitude of a sinusoid at ``f`` Hz in ``x`` (single-bin DFT over a whole number of
    periods, at most about ``max_samples`` samples from the start)."""
    n = x.size
    if n < 4 or f <= 0.0:
        return 0.0
    per = fs / f
    m = min(n, max_samples) if max_samples > 0 else n
    k = int(m / per)
    if k < 1:
        return 0.0
    m = int(round(k * per))
    m = min(m, n)
    mean = 0.0
    for i in range(m):
        mean += x[i]
    mean /= m
    c = 0.0
    s = 0.0
    w = 2.0 * math.pi * f / fs
    cr = math.cos(w)
    sr = math.sin(w)
    cc = 1.0
    ss = 0.0
    for i in range(m):
        v = x[i] - mean
        c += v * cc
        s += v * ss
        cc, ss = cc * cr - ss * sr, ss * cr + cc * sr
    return 2.0 * math.sqrt(c * c + s * s) / m


@njit(cache=True, nogil=True)
def rail_runs(x: np.ndarray, lo: float, hi: float, min_run: int) -> int:
    """Samples in runs of at least ``min_run`` consecutive samples at or beyond a rail
    (``<= lo`` or ``>= hi``); isolated touches do not count."""
    n = x.size
    total = 0
    run = 0
    for i in range(n + 1):
        at = i < n and (x[i] <= lo or x[i] >= hi)
        if at:
            run += 1
        else:
            if run >= min_run:
                total += run
            run = 0
    return total
