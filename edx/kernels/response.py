"""Numba kernels that place the markers of an evoked response (CMAP, mCMAP, SNAP).

Arrays in, numbers out: float64 C-contiguous samples (volts), the sampling rate, the
stimulus sample index and a parameter vector (:data:`P_*` indices, built by
:mod:`edx.measure`).  The result is a float64 vector (:data:`R_*` indices) in which
a marker that could not be placed is NaN and the status/flags say why; nothing is
ever taken from a window edge.

The steps for one sweep (:func:`measure_response`):

1. validity: non-finite samples, a flat or too-short sweep, a stimulus index outside
   the sweep are quality failures (status codes :data:`S_*`);
2. stimulus: the artifact is located by its slope near the marker; when it
   disagrees with the marker by more than 0.1 ms it is used instead (flag);
3. baseline and noise: mean of the pre-stimulus window and the noise from the
   standard deviation of its first differences (insensitive to slow drift and hum);
   a post-response window when there is no pre-stimulus data;
4. stimulus-artifact tail: after the stimulus pulse, a decaying exponential is
   fitted (log-linear, weighted) and subtracted when one is present;
5. a first pass locates the response; then a baseline model — offset, linear
   drift and mains harmonics (50/60 Hz, fundamental and 3rd) when they are
   significant — is fitted on the samples outside the response and subtracted (an
   artifact tail is then fitted again on the cleaned trace), and the response is
   measured again;
6. negative peak: minimum of a lightly smoothed trace (moving average), refined by
   a parabola; present when deeper than ``k_presence`` noise SDs of the smoothed
   trace (else the response is absent, a finding);
7. onset: backward from the peak to where the trace is back within the noise band;
   the take-off is a hinge model — zero before it, then a rise ``a u + b u^2 + c u^3``
   (a, b >= 0, c <= 0: it starts at the take-off and its curvature, the rate at which
   units join, does not grow) up to 20 noise SDs (within 10 % to 20 % of the
   amplitude) — weighted by its likelihood over every take-off a fifth of a sample
   apart (the posterior mean, :func:`hinge_posterior`).  For weak responses (below
   100 noise SDs: the window is cut at 20 %) the rise is quadratic (c = 0) and the
   onset is moved ``ONSET_LINE_WEIGHT`` of the way towards a line through the early
   rise extrapolated to the baseline; between 100 and 200 noise SDs the two are
   weighted linearly (:data:`P_ONSET_SHARE` fixes the cubic hinge's share instead, e.g. one
   share for every site of a nerve; :data:`R_ONSET_SHARE` is the share used); the line alone
   is the fallback.  SNAPs: a small initial positive phase flowing into the negative one
   moves the onset to its start when it stands out of the noise (a matched half-sine lobe,
   :func:`initial_positive_onset`);
8. end of the negative phase: the upward zero crossing after the negative peak
   (linear interpolation on the smoothed trace), refined to the root of a parabola
   fitted to the raw trace around it (:func:`crossing_refine`); total end: the last
   excursion beyond max(``end_fraction`` x amplitude, 3 noise SDs); areas by the
   trapezoid rule.

All kernels are ``@njit(cache=True, nogil=True)`` and allocate only small scratch
arrays, so several threads can measure at once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import njit
from .stats import median_inplace

# ----------------------------------------------------------------- parameter vector
P_SMOOTH_MS = 0
P_SEARCH_MS = 1
P_K_PRESENCE = 2
P_K_ONSET = 3
P_ONSET_BACK_MS = 4
P_PRE_GUARD_MS = 5
P_MIN_PRE_MS = 6
P_ARTIFACT_MS = 7
P_MAINS_HZ = 8
P_END_FRACTION = 9
P_RAIL_LO = 10
P_RAIL_HI = 11
P_POLARITY = 12
P_MIN_AMPLITUDE_V = 13
P_INITIAL_POSITIVE = 14
P_MIN_LATENCY_MS = 15
P_STIM_TOLERANCE_MS = 16
P_ARTIFACT_SEARCH_MS = 17
# physical plausibility of samples in volts (<= 0: not checked); see measure_into
P_MAX_NOISE_V = 18
P_MAX_OFFSET_V = 19
P_MAX_AMPLITUDE_V = 20
# share (0..1) of the cubic hinge in the onset (see _markers); NaN: from the sweep's own
# signal-to-noise ratio (automatic).  A fixed share lets two sites of one nerve place their onsets
# with the same estimator, so that a velocity differences onsets of the same bias
P_ONSET_SHARE = 21
# the latest a response is taken to last after its negative peak (ms) when the baseline model's
# window after the response is placed (<= 0: not used); see measure_into
P_MAX_TAIL_MS = 22
# responses of known kind (P_MAX_TAIL_MS > 0): hum that could not be removed, as a fraction of the
# amplitude, above which the sweep is flagged; the residual (noise SDs) that forbids "absent" after
# hum removal (<= 0: not checked); see measure_into
P_MAX_UNREMOVED_HUM = 23
P_K_RESIDUAL = 24
# responses of known kind: the baseline model's standard error at the negative peak (R_HUM_SE_V), as a
# fraction of the amplitude, above which the sweep is flagged (<= 0: not checked)
P_MAX_HUM_SE = 25
# when no artifact stands out at the marker or up to P_ARTIFACT_SEARCH_MS before it, one is looked
# for up to P_ARTIFACT_AHEAD_MS after the marker (a marker written before the pulse) and taken for
# the stimulus only when unmistakable: a step of at least P_ARTIFACT_AHEAD_MIN_V (volts) and 40
# noise SDs, half of its excursion over the next millisecond within 0.1 ms (_is_step), and
# P_ARTIFACT_AHEAD_RATIO times steeper than anything from 1 ms after it to the end of the sweep.
# Such a step wholly before the search window makes the sweep S_NO_STIMULUS.  P_ARTIFACT_AHEAD_RATIO
# <= 0 switches both off (see measure_into)
P_ARTIFACT_AHEAD_MS = 26
P_ARTIFACT_AHEAD_RATIO = 27
# a baseline noise (robust SD of the baseline's level) above zero but below this (volts RMS: samples a
# thousand times too small, volts converted twice) is not a recording in volts either (<= 0: not
# checked); see measure_into
P_MIN_NOISE_V = 28
P_ARTIFACT_AHEAD_MIN_V = 29  # (see P_ARTIFACT_AHEAD_MS)
N_PARAMS = 30

# ----------------------------------------------------------------- result vector
R_STATUS = 0
R_FLAGS = 1
R_BASELINE_V = 2
R_NOISE_V = 3
R_STIM_INDEX = 4
R_ONSET = 5
R_NEG_PEAK = 6
R_NEG_END = 7
R_POS_PEAK = 8
R_END = 9
R_AMPLITUDE_V = 10
R_P2P_V = 11
R_NEG_AREA_VS = 12
R_TOTAL_AREA_VS = 13
R_POLARITY = 14
R_ARTIFACT_END = 15
R_HUM_V = 16
R_DRIFT_V_PER_S = 17
R_SEARCH_START = 18
R_TAIL_AMP_V = 19
R_TAIL_TAU = 20
R_TAIL_START = 21
# the share of the cubic hinge actually used for the onset (NaN: onset not placed); see P_ONSET_SHARE
R_ONSET_SHARE = 22
# the standard error (V) of the baseline model (hum and drift) at the negative peak, from the noise
# and the fit's windows (NaN: no hum removed, or no peak); see model_se
R_HUM_SE_V = 23
# the first sample after the artifact tail's fit when the trace left the fitted tail while the tail was still
# above 5 noise SDs (a response growing out of it, or the noise), where the search then started early (see
# _artifact); NaN otherwise
R_TAIL_DEPARTURE = 24
# the artifact tail's fit: variance of ln|A|, covariance of ln|A| and the slope (per sample), variance of
# the slope, noise included (the model's standard error at t samples from R_TAIL_START is
# |A| exp(-t / tau) sqrt(var_a + 2 t cov + t^2 var_slope)); NaN without a tail
R_TAIL_VAR_A = 25
R_TAIL_COV = 26
R_TAIL_VAR_SLOPE = 27
N_RESULTS = 28

# ----------------------------------------------------------------- status codes
S_OK = 0
S_ABSENT = 1
S_NONFINITE = 2
S_FLAT = 3
S_TOO_SHORT = 4
S_NO_STIMULUS = 5
S_CLIPPED = 6
S_NO_BASELINE = 7
S_IMPLAUSIBLE = 8  # noise, offset or response beyond any recording in volts (units); keeps R_AMPLITUDE_V
# a deflection beyond the presence threshold runs into the start of the search window: it cannot be
# told from the stimulus artifact (neither a response nor its absence can be said)
S_ARTIFACT = 9

# ----------------------------------------------------------------- flags (bits)
F_INVERTED = 1
F_STIM_FROM_ARTIFACT = 2
F_ARTIFACT_TAIL_REMOVED = 4
F_HUM_REMOVED = 8
F_DRIFT_REMOVED = 16
F_ONSET_NOT_PLACED = 32
F_NEG_END_NOT_PLACED = 64
F_BASELINE_POST = 128
F_LOW_SNR = 256
F_END_NOT_PLACED = 512
F_CLIPPED_SAMPLES = 1024
F_ARTIFACT_OVERLAP = 2048
F_BASELINE_UNCHECKED = 4096
F_RESPONSE_OUTLASTS_SWEEP = 8192
# which plausibility check set S_IMPLAUSIBLE (samples not in volts)
F_UNITS_OFFSET = 16384
F_UNITS_NOISE = 32768
F_UNITS_AMPLITUDE = 65536
# a response of known kind (P_MAX_TAIL_MS) still off the baseline where it must have ended
F_BASELINE_UNSTABLE = 131072
# why F_BASELINE_UNSTABLE was set, for the reason given with it (not quality flags of their own):
# the cleaned trace of a SNAP under hum looks inverted; hum that could not be removed is large
# against the response; the residual after hum removal is not noise, so "absent" cannot be said
F_WHY_POLARITY = 262144
F_WHY_HUM = 524288
F_WHY_RESIDUAL = 1048576
F_WHY_HUM_SE = 2097152
# internal (no quality flag of its own): the trace left the artifact tail by more than the noise in the
# stretch the search skipped, by less than the tail's untrusted quarter; "absent" cannot be said (see _artifact)
F_TAIL_RESIDUE = 4194304
# why S_NO_STIMULUS: the artifact found near the start of the search window runs on from before it
# (a step as steep just before the window), or one lies wholly before it in the baseline (a marker
# about P_ARTIFACT_SEARCH_MS or more after the pulse)
F_WHY_ARTIFACT_EDGE = 8388608

#: the last stretch of the sweep (ms) in which a response still beyond its end level means the
#: response has not ended by the sweep's end (the guard kept between the response and the
#: post-response window of the baseline fit)
OUTLAST_MS = 2.0


@njit(cache=True, nogil=True)
def diff_sigma(x: np.ndarray, a: int, b: int) -> float:
    """Noise SD from the first differences of ``x[a:b]`` (std of diffs / sqrt 2); NaN if < 4 samples."""
    n = b - a - 1
    if n < 3:
        return np.nan
    s = 0.0
    ss = 0.0
    for i in range(a, b - 1):
        d = x[i + 1] - x[i]
        s += d
        ss += d * d
    mean = s / n
    var = ss / n - mean * mean
    if var < 0.0:
        var = 0.0
    return math.sqrt(var / 2.0)


@njit(cache=True, nogil=True)
def diff_sigma_robust(x: np.ndarray, a: int, b: int) -> float:
    """Noise SD from the median absolute first difference of ``x[a:b]`` (outliers such as an
    artifact edge do not inflate it); NaN if < 4 samples."""
    n = b - a - 1
    if n < 3:
        return np.nan
    d = np.empty(n)
    for i in range(n):
        d[i] = abs(x[a + i + 1] - x[a + i])
    # median |difference| of Gaussian noise with SD s*sqrt(2) is 0.6745 * s * sqrt(2)
    return median_inplace(d) / (0.6745 * math.sqrt(2.0))


@njit(cache=True, nogil=True)
def level_sigma_robust(x: np.ndarray, a: int, b: int) -> float:
    """Noise SD from the median absolute deviation of ``x[a:b]`` about its median; NaN if < 4
    samples.  Unlike :func:`diff_sigma_robust` it is not lowered by a low-pass filter (which
    makes neighbouring samples alike); drift and hum only raise it."""
    n = b - a
    if n < 4:
        return np.nan
    d = np.empty(n)
    for i in range(n):
        d[i] = x[a + i]
    med = median_inplace(d)
    for i in range(n):
        d[i] = abs(x[a + i] - med)
    return median_inplace(d) / 0.6745


@njit(cache=True, nogil=True)
def median_abs_diff_below(x: np.ndarray, a: int, b: int, t: float) -> int:
    """Whether the median of ``|x[i+1] - x[i]|`` over ``x[a:b]`` is below ``t``, by counting.

    Returns 1 (below), 0 (not below) or 2 when counting cannot tell (fewer than 3
    differences, a zero median, or the two middle values of an even count straddling
    ``t``): the caller then computes the median itself.
    """
    n = b - a - 1
    if n < 3:
        return 2
    below = 0
    zero = 0
    for i in range(a, b - 1):
        v = abs(x[i + 1] - x[i])
        below += 1 if v < t else 0
        zero += 1 if v == 0.0 else 0
    k = n // 2
    if zero >= k + 1:
        return 2  # median 0: the caller falls back to another noise estimate
    if below >= k + 1:
        return 1
    if n % 2 == 1 or below <= k - 1:
        return 0
    return 2


@njit(cache=True, nogil=True)
def window_mean(x: np.ndarray, a: int, b: int) -> float:
    """Mean of ``x[a:b]`` (NaN if empty)."""
    if b <= a:
        return np.nan
    s = 0.0
    if a >= 0:
        xv = x[a:]  # a view from index 0: no negative-index wraparound code in the loop
        for k in range(b - a):
            s += xv[k]
    else:
        for i in range(a, b):
            s += x[i]
    return s / (b - a)


@njit(cache=True, nogil=True)
def _minmax(x: np.ndarray, a: int, b: int) -> tuple[float, float]:
    """(min, max) of ``x[a:b]`` (``a >= 0``; NaNs are passed over; (inf, -inf) when empty).

    Four lanes (independent dependency chains) over a view from index 0; the minimum and
    maximum of a set do not depend on the order they are met in.
    """
    lo0 = np.inf
    lo1 = np.inf
    lo2 = np.inf
    lo3 = np.inf
    hi0 = -np.inf
    hi1 = -np.inf
    hi2 = -np.inf
    hi3 = -np.inf
    if b > x.size:
        b = x.size
    if b <= a:
        return lo0, hi0
    xv = x[a:]
    m = b - a
    for k in range(m // 4):
        j = 4 * k
        v0 = xv[j]
        v1 = xv[j + 1]
        v2 = xv[j + 2]
        v3 = xv[j + 3]
        lo0 = v0 if v0 < lo0 else lo0
        lo1 = v1 if v1 < lo1 else lo1
        lo2 = v2 if v2 < lo2 else lo2
        lo3 = v3 if v3 < lo3 else lo3
        hi0 = v0 if v0 > hi0 else hi0
        hi1 = v1 if v1 > hi1 else hi1
        hi2 = v2 if v2 > hi2 else hi2
        hi3 = v3 if v3 > hi3 else hi3
    for j in range(4 * (m // 4), m):
        v0 = xv[j]
        lo0 = v0 if v0 < lo0 else lo0
        hi0 = v0 if v0 > hi0 else hi0
    lo0 = lo1 if lo1 < lo0 else lo0
    lo2 = lo3 if lo3 < lo2 else lo2
    lo0 = lo2 if lo2 < lo0 else lo0
    hi0 = hi1 if hi1 > hi0 else hi0
    hi2 = hi3 if hi3 > hi2 else hi2
    hi0 = hi2 if hi2 > hi0 else hi0
    return lo0, hi0


@njit(cache=True, nogil=True)
def _ma_edge_step(x: np.ndarray, out: np.ndarray, s: float, i: int, h: int) -> float:
    """One step of the moving average where the window ``[i - h, i + h]`` may be cut by an
    edge: update the running sum ``s`` (the window of ``i - 1``) and write ``out[i]``."""
    n = x.size
    lo = i - h
    hi = i + h + 1
    if i > 0:
        if hi - 1 < n:
            s += x[hi - 1]
        if lo - 1 >= 0:
            s -= x[lo - 1]
    if lo < 0:
        lo = 0
    if hi > n:
        hi = n
    out[i] = s / (hi - lo)
    return s


@njit(cache=True, nogil=True)
def moving_average(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average of odd width ``w`` (edges averaged over the samples available).

    One pass with a rolling sum (edges, then a branch-free interior); a non-finite sample
    only spoils the windows that contain it (those windows are then recomputed directly).
    """
    n = x.size
    out = np.empty(n)
    if w <= 1:
        for i in range(n):
            out[i] = x[i]
        return out
    h = w // 2
    s = 0.0
    hi0 = h + 1 if h + 1 < n else n
    for k in range(hi0):
        s += x[k]
    finite = math.isfinite(s)
    # left edge: while the window is cut by an edge (or the sweep is shorter than it)
    i = 0
    while i < n and not (i - h - 1 >= 0 and i + h + 1 <= n):
        s = _ma_edge_step(x, out, s, i, h)
        i += 1
    # interior: full windows of w samples (a multiplication by 1/w: a division per sample
    # would cost more than the rest of the loop)
    inv = 1.0 / w
    if i + h + 1 <= n:
        # over views from index 0: no negative-index wraparound code in the loop
        cnt = n - h - i
        xa = x[i + h:]
        xb = x[i - h - 1:]
        o = out[i:]
        for k in range(cnt):
            s += xa[k] - xb[k]
            o[k] = s * inv
        i += cnt
    # right edge
    while i < n:
        s = _ma_edge_step(x, out, s, i, h)
        i += 1
    if not finite or not math.isfinite(s):
        # running sums carry a NaN forward: average each window directly
        for j in range(n):
            lo = j - h if j - h > 0 else 0
            hi = j + h + 1 if j + h + 1 < n else n
            s_ = 0.0
            for k in range(lo, hi):
                s_ += x[k]
            out[j] = s_ / (hi - lo)
    return out


@njit(cache=True, nogil=True)
def artifact_candidate(x: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """Steepest event in ``x[lo:hi]``: (first sample, largest |first difference|), or (-1, 0).

    Its first sample is the one after the first difference that reaches 30 % of the
    largest one.  Whether it stands out of the noise is judged by the caller
    (:func:`locate_artifact`), so that the noise estimate is only paid for when needed.
    """
    if lo < 0:
        lo = 0
    if hi > x.size:
        hi = x.size
    if hi - lo < 3:
        return -1, 0.0
    best = 0.0
    for i in range(lo, hi - 1):
        d = abs(x[i + 1] - x[i])
        if d > best:
            best = d
    if not (best > 0.0):
        return -1, 0.0
    thr = 0.3 * best
    for i in range(lo, hi - 1):
        if abs(x[i + 1] - x[i]) >= thr:
            return i + 1, best
    return -1, 0.0


@njit(cache=True, nogil=True)
def locate_artifact(x: np.ndarray, lo: int, hi: int, sigma_d: float, z: float) -> int:
    """First sample of the stimulus artifact in ``x[lo:hi]`` by its slope, or -1.

    The artifact is the steepest event: its largest first difference must exceed
    ``z`` noise SDs of the differences; its first sample is the one after the
    first difference that reaches 30 % of that largest difference.
    """
    i, best = artifact_candidate(x, lo, hi)
    if i < 0 or not (best > z * sigma_d * math.sqrt(2.0)):
        return -1
    return i


@njit(cache=True, nogil=True)
def _steepest(x: np.ndarray, a: int, b: int) -> tuple[int, float]:
    """(i, |x[i + 1] - x[i]|) of the largest first difference within ``x[a:b]`` (the first such
    i; (-1, 0.0) when there is none)."""
    if a < 0:
        a = 0
    if b > x.size:
        b = x.size
    best = 0.0
    at = -1
    for i in range(a, b - 1):
        dd = abs(x[i + 1] - x[i])
        if dd > best:
            best = dd
            at = i
    return at, best


@njit(cache=True, nogil=True)
def _is_step(x: np.ndarray, i0: int, fs: float) -> bool:
    """Whether the trace from sample ``i0`` moves like a stimulus pulse's edge: at least half of
    its excursion over the next millisecond happens within the first 0.1 ms (at least one sample).

    A pulse seen through the amplifier's low-pass still rises within a few tens of microseconds
    (0.1 ms holds a 5 kHz second-order filter's rise), where a response's rise spreads over
    0.3-2 ms: a CMAP moves 5-25 % of its excursion within 0.1 ms (one sample at 4 kHz).
    """
    n = x.size
    if i0 < 0:
        i0 = 0
    if i0 >= n - 1:
        return False
    k = int(round(1e-4 * fs))
    if k < 1:
        k = 1
    m = int(round(1e-3 * fs))
    if m < k + 1:
        m = k + 1
    ref = x[i0]
    fast = 0.0
    for i in range(i0 + 1, min(n, i0 + k + 1)):
        if abs(x[i] - ref) > fast:
            fast = abs(x[i] - ref)
    lo_v, hi_v = _minmax(x, i0, min(n, i0 + m + 1))
    return fast >= 0.5 * (hi_v - lo_v) and fast > 0.0


@njit(cache=True, nogil=True)
def pulse_end(d: np.ndarray, stim: int, hi: int) -> int:
    """Index just after the stimulus pulse: one past the last steep edge within ``d[stim:hi]``."""
    if hi > d.size:
        hi = d.size
    best = 0.0
    for i in range(stim, hi - 1):
        v = abs(d[i + 1] - d[i])
        if v > best:
            best = v
    if best == 0.0:
        return stim
    thr = 0.25 * best
    last = stim
    for i in range(stim, hi - 1):
        if abs(d[i + 1] - d[i]) >= thr:
            last = i + 1
    return last + 1 if last + 1 < d.size else d.size - 1


@njit(cache=True, nogil=True)
def _tail_add(acc: np.ndarray, w: float, t: float, y: float) -> None:
    """Add a sample (weight ``w``, time ``t``, ln|d| ``y``) to the tail fit's sums ``acc``."""
    acc[0] += w
    acc[1] += w * t
    acc[2] += w * y
    acc[3] += w * t * t
    acc[4] += w * t * y


@njit(cache=True, nogil=True)
def fit_exp_tail(d: np.ndarray, start: int, stop: int, sigma: float, fs: float) -> tuple[float, float, int]:
    """Fit ``d[t] = A exp(-(t - start) / tau)`` on the decaying part of ``d[start:stop]``.

    ln|d| is regressed on time with weights d^2 (least squares in the log domain) over the
    samples from ``start`` while ``|d|`` keeps the sign of ``d[start]``, stays above 3 noise
    SDs and follows the tail: from the fifth sample on, each sample is compared with the fit
    of the samples before it, and the tail ends before a sample beyond 5 SDs from it, or
    before two consecutive ones beyond 3 SDs on the same side (a response growing out of the
    tail, which bends the trace away from it while the trace still decays; white noise does
    either about once in 10^5 samples); the SD is that of the noise and the prediction's error
    together (see :func:`tail_search_start`).  The deviation is judged in the log domain,
    ``|d| |ln|d| - fit|`` (the deviation itself to first order).  Within the first four samples
    the tail ends where ``|d|`` grows by 2 SDs over its lowest value.  Returns (A, tau in
    samples, last index used), or (0, 0, start) when there is no decaying tail to fit.
    """
    n = d.size
    if stop > n:
        stop = n
    if start >= stop - 3:
        return 0.0, 0.0, start
    a0 = d[start]
    if not (math.isfinite(a0) and math.isfinite(sigma)) or abs(a0) < 10.0 * sigma:
        return 0.0, 0.0, start
    sign = 1.0 if a0 > 0 else -1.0
    acc = np.zeros(5)  # the weighted sums S_1, S_t, S_y, S_tt, S_ty (see _tail_add)
    m = 0
    end = start
    prev = abs(a0)
    held = -1  # a sample beyond 3 SDs waiting for the next one to confirm a departure
    held_side = 0.0
    hw = 0.0
    hy = 0.0
    for i in range(start, stop):
        v = d[i] * sign
        if not math.isfinite(v) or v < 3.0 * sigma:
            break
        y = math.log(v)
        w = v * v
        t = float(i - start)
        if m < 4:
            if v > prev + 2.0 * sigma:  # growing again: a response, not the tail
                break
            if v < prev:
                prev = v
        else:
            sw, st, sy, stt, sty = acc[0], acc[1], acc[2], acc[3], acc[4]
            den = sw * stt - st * st
            if den > 0.0:
                slope = (sw * sty - st * sy) / den
                r = v * (y - (sy - slope * st) / sw - slope * t)
                # the prediction's own error (its variance relative to the noise's: v^2 q, see
                # tail_search_start) widens the limits where the fit is short
                g = 1.0 + w * (stt - 2.0 * t * st + t * t * sw) / den
                r2 = r * r
                if r2 > 25.0 * sigma * sigma * g:
                    break
                if r2 > 9.0 * sigma * sigma * g:
                    side = 1.0 if r > 0.0 else -1.0
                    if held >= 0 and side == held_side:
                        break
                    if held >= 0:
                        _tail_add(acc, hw, float(held - start), hy)
                        m += 1
                        end = held
                    held = i
                    held_side = side
                    hw = w
                    hy = y
                    continue
        if held >= 0:
            _tail_add(acc, hw, float(held - start), hy)
            m += 1
            held = -1
        _tail_add(acc, w, t, y)
        m += 1
        end = i
    if m < 4:
        return 0.0, 0.0, start
    sw, st, sy, stt, sty = acc[0], acc[1], acc[2], acc[3], acc[4]
    den = sw * stt - st * st
    if den <= 0.0:
        return 0.0, 0.0, start
    slope = (sw * sty - st * sy) / den
    icpt = (sy - slope * st) / sw
    if slope >= 0.0:
        return 0.0, 0.0, start
    tau = -1.0 / slope
    # plausible amplifier recovery: 0.01 .. 3 ms
    if tau < 0.00001 * fs or tau > 0.003 * fs:
        return 0.0, 0.0, start
    return sign * math.exp(icpt), tau, end


#: a tail model is trusted for extrapolation when the RMS of its residuals over the samples it was
#: fitted on is within this many noise SDs (white noise: about 1)
TAIL_MAX_RMS = 1.5
#: the search may start where the standard error of the extrapolated tail is below this many noise SDs
TAIL_MAX_SE = 2.0


@njit(cache=True, nogil=True)
def _tail_sums(d: np.ndarray, start: int, last: int) -> tuple[float, float, float]:
    """The weighted normal matrix of the tail fit on ``d[start:last + 1]`` (weights d^2): S_1, S_t, S_tt."""
    sw = 0.0
    st = 0.0
    stt = 0.0
    for i in range(start, last + 1):
        w = d[i] * d[i]
        t = float(i - start)
        sw += w
        st += w * t
        stt += w * t * t
    return sw, st, stt


@njit(cache=True, nogil=True)
def tail_search_start(d: np.ndarray, start: int, last: int, amp: float, tau: float, sigma: float) -> int:
    """First sample from which the tail fitted on ``d[start:last + 1]`` is known well enough.

    The fit (:func:`fit_exp_tail`: ln|d| on time, weights d^2) has, for white noise of SD
    ``sigma``, the covariance ``sigma^2 S^-1`` of (ln A, slope), S the weighted normal
    matrix; the model's standard error at ``t`` samples is then
    ``|A| exp(-t / tau) sigma sqrt((S_tt - 2 t S_t + t^2 S_1) / det S)``.  Returns the first
    sample at or after ``start`` from which it stays below :data:`TAIL_MAX_SE` noise SDs (it
    grows with the distance from the fitted samples while the tail decays: one hump), or -1
    when the model is not trusted: its residuals over the fitted samples have an RMS beyond
    :data:`TAIL_MAX_RMS` noise SDs (not an exponential).
    """
    n = d.size
    if not (tau > 0.0) or last >= n or last - start < 3 or not (sigma > 0.0):
        return -1
    step = math.exp(-1.0 / tau)
    v = amp
    rss = 0.0
    for i in range(start, last + 1):
        rss += (d[i] - v) ** 2
        v *= step
    if rss > (TAIL_MAX_RMS * sigma) ** 2 * (last - start + 1):
        return -1
    sw, st, stt = _tail_sums(d, start, last)
    den = sw * stt - st * st
    if not (den > 0.0):
        return -1
    v = abs(amp)
    lim = TAIL_MAX_SE * sigma
    k = start
    for i in range(start, n):
        if v < 1e-3 * sigma:  # the tail is no longer subtracted (see _artifact)
            break
        t = float(i - start)
        q = (stt - 2.0 * t * st + t * t * sw) / den
        if v * sigma * math.sqrt(q if q > 0.0 else 0.0) > lim:
            k = i + 1
        v *= step
    return k


@njit(cache=True, nogil=True)
def solve_small(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve the small linear system ``a x = b`` by Gaussian elimination with partial pivoting.

    Returns NaNs when the matrix is singular or numerically singular (a pivot below
    1e-12 of the largest entry).  ``a`` and ``b`` are modified.
    """
    k = b.size
    x = np.empty(k)
    scale = 0.0
    for r in range(k):
        for c in range(k):
            if abs(a[r, c]) > scale:
                scale = abs(a[r, c])
    tiny = 1e-12 * scale if scale > 0.0 else 1e-300
    for col in range(k):
        piv = col
        big = abs(a[col, col])
        for r in range(col + 1, k):
            if abs(a[r, col]) > big:
                big = abs(a[r, col])
                piv = r
        if not (big > tiny):  # singular or numerically singular (relative to the matrix scale)
            for i in range(k):
                x[i] = np.nan
            return x
        if piv != col:
            for c in range(k):
                tmp = a[col, c]
                a[col, c] = a[piv, c]
                a[piv, c] = tmp
            tmp = b[col]
            b[col] = b[piv]
            b[piv] = tmp
        for r in range(col + 1, k):
            f = a[r, col] / a[col, col]
            for c in range(col, k):
                a[r, c] -= f * a[col, c]
            b[r] -= f * b[col]
    for r in range(k - 1, -1, -1):
        s = b[r]
        for c in range(r + 1, k):
            s -= a[r, c] * x[c]
        x[r] = s / a[r, r]
    return x


@njit(cache=True, nogil=True)
def _basis(t: float, i: int, ncol: int, cs: np.ndarray, out: np.ndarray) -> None:
    # columns: 1, t, [sin f, cos f, sin 3f, cos 3f, sin 5f, cos 5f];
    # cs holds the running (cos, sin) of f, 3f and 5f
    out[0] = 1.0
    if ncol > 1:
        out[1] = t
    if ncol > 2:
        out[2] = cs[1]
        out[3] = cs[0]
    if ncol > 4:
        out[4] = cs[3]
        out[5] = cs[2]
    if ncol > 6:
        out[6] = cs[5]
        out[7] = cs[4]


@njit(cache=True, nogil=True)
def _mains_rotation(fs: float, mains_hz: float, cs: np.ndarray, rot: np.ndarray) -> None:
    """Set ``rot`` to the (cos, sin) per-sample phase steps of ``mains_hz`` and its 3rd and 5th
    harmonics and ``cs`` to their phase at sample 0."""
    for h in range(3):
        wh = (2 * h + 1) * 2.0 * math.pi * mains_hz / fs
        rot[2 * h] = math.cos(wh)
        rot[2 * h + 1] = math.sin(wh)
        cs[2 * h] = 1.0
        cs[2 * h + 1] = 0.0


@njit(cache=True, nogil=True)
def _normal_equations(
    x: np.ndarray, n: int, a1: int, b1: int, a2: int, b2: int, fs: float, mains_hz: float, ncol: int, at: int,
    ata: np.ndarray, atb: np.ndarray, b_at: np.ndarray,
) -> None:
    """Accumulate ``A'A`` (symmetric, whole) of the baseline model's columns over ``[a1, b1)`` and
    ``[a2, b2)`` of a sweep of ``n`` samples, and ``A'x`` when ``x`` holds samples (size 0: not);
    ``b_at``: the columns at sample ``at`` (-1: none)."""
    row = np.zeros(8)
    cs = np.zeros(6)
    rot = np.zeros(6)
    _mains_rotation(fs, mains_hz, cs, rot)
    with_x = x.size > 0
    scale = 1.0 / n
    for i in range(n):
        inside = (a1 <= i < b1) or (a2 <= i < b2)
        if inside or i == at:
            _basis(i * scale, i, ncol, cs, row)
            if i == at:
                for q in range(ncol):
                    b_at[q] = row[q]
            if inside:
                for q in range(ncol):
                    if with_x:
                        atb[q] += row[q] * x[i]
                    for r in range(q, ncol):
                        ata[q, r] += row[q] * row[r]
        _rotate(cs, rot)
    for q in range(ncol):
        for r in range(q):
            ata[q, r] = ata[r, q]


@njit(cache=True, nogil=True)
def fit_baseline_model(
    x: np.ndarray, a1: int, b1: int, a2: int, b2: int, fs: float, mains_hz: float, ncol: int
) -> np.ndarray:
    """Least-squares baseline model on ``x[a1:b1]`` and ``x[a2:b2]`` evaluated over the whole sweep.

    Columns: offset, linear drift (``ncol >= 2``), and sine/cosine of ``mains_hz`` and
    its 3rd and 5th harmonics (``ncol == 8``).  Returns the model (length ``x.size``) or an
    array of NaN when the fit is singular.
    """
    n = x.size
    if n == 0:
        return np.empty(0)
    ata = np.zeros((ncol, ncol))
    atb = np.zeros(ncol)
    _normal_equations(x, n, a1, b1, a2, b2, fs, mains_hz, ncol, -1, ata, atb, atb)
    coef = solve_small(ata, atb)
    model = np.empty(n)
    if np.isnan(coef[0]):
        for i in range(n):
            model[i] = np.nan
        return model
    row = np.zeros(8)
    cs = np.zeros(6)
    rot = np.zeros(6)
    _mains_rotation(fs, mains_hz, cs, rot)
    scale = 1.0 / n
    for i in range(n):
        _basis(i * scale, i, ncol, cs, row)
        v = 0.0
        for p in range(ncol):
            v += coef[p] * row[p]
        model[i] = v
        _rotate(cs, rot)
    return model


@njit(cache=True, nogil=True)
def model_se(a1: int, b1: int, a2: int, b2: int, n: int, fs: float, mains_hz: float, ncol: int, at: int) -> float:
    """Standard error, in noise SDs, of the :func:`fit_baseline_model` model at sample ``at``.

    The model's value there is ``b(at)' coef`` with ``coef`` fitted on ``[a1, b1)`` and ``[a2, b2)``
    of a sweep of ``n`` samples, so under white noise of SD 1 its SD is
    ``sqrt(b(at)' (A'A)^-1 b(at))``: small where the windows surround ``at`` closely, large across a
    long gap (the 5th harmonic of 50 Hz interpolated over 12 ms of a 20 ms sweep: 4.6).  NaN when
    the fit is singular or ``at`` is outside the sweep.
    """
    if not 0 <= at < n:
        return np.nan
    ata = np.zeros((ncol, ncol))
    b_at = np.zeros(ncol)
    _normal_equations(np.empty(0), n, a1, b1, a2, b2, fs, mains_hz, ncol, at, ata, b_at, b_at)
    z = solve_small(ata, b_at.copy())
    if np.isnan(z[0]):
        return np.nan
    v = 0.0
    for q in range(ncol):
        v += b_at[q] * z[q]
    return math.sqrt(v) if v > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _rotate(cs: np.ndarray, rot: np.ndarray) -> None:
    for h in range(3):
        c = cs[2 * h] * rot[2 * h] - cs[2 * h + 1] * rot[2 * h + 1]
        s_ = cs[2 * h + 1] * rot[2 * h] + cs[2 * h] * rot[2 * h + 1]
        cs[2 * h] = c
        cs[2 * h + 1] = s_


@njit(cache=True, nogil=True)
def _tone_sum(x: np.ndarray, a: int, b: int, base: float, w: float) -> tuple[float, float]:
    """``sum (x[i] - base) exp(-j w i)`` over ``i`` in ``[a, b)`` as (real, imaginary).

    Four Goertzel recurrences at ``4 w`` over the samples ``i = a + r (mod 4)`` run side by
    side (independent dependency chains, one multiply-add per sample) and are combined
    with their phases.
    """
    re = 0.0
    im = 0.0
    if b <= a:
        return re, im
    c4 = 2.0 * math.cos(4.0 * w)
    p0 = 0.0
    q0 = 0.0
    p1 = 0.0
    q1 = 0.0
    p2 = 0.0
    q2 = 0.0
    p3 = 0.0
    q3 = 0.0
    nk = (b - a) // 4  # samples in each lane
    xv = x[a:]  # a view from index 0: no negative-index wraparound code in the loop
    for k in range(nk):
        j = 4 * k
        t0 = c4 * p0 + ((xv[j] - base) - q0)  # short dependency chain: p -> t
        t1 = c4 * p1 + ((xv[j + 1] - base) - q1)  # short dependency chain: p -> t
        t2 = c4 * p2 + ((xv[j + 2] - base) - q2)  # short dependency chain: p -> t
        t3 = c4 * p3 + ((xv[j + 3] - base) - q3)  # short dependency chain: p -> t
        q0 = p0
        q1 = p1
        q2 = p2
        q3 = p3
        p0 = t0
        p1 = t1
        p2 = t2
        p3 = t3
    i = a + 4 * nk
    # lane r: Y_r = p - exp(-j 4w) q = sum_k v[a + r + 4k] exp(j 4w (nk - 1 - k)), so its
    # contribution is exp(-j w (a + r)) exp(-j 4w (nk - 1)) Y_r
    if nk > 0:
        cw = math.cos(4.0 * w)
        sw = math.sin(4.0 * w)
        for r in range(4):
            if r == 0:
                pp, qq = p0, q0
            elif r == 1:
                pp, qq = p1, q1
            elif r == 2:
                pp, qq = p2, q2
            else:
                pp, qq = p3, q3
            yr = pp - cw * qq
            yi = sw * qq
            ph = -(w * (a + r) + 4.0 * w * (nk - 1))
            cph = math.cos(ph)
            sph = math.sin(ph)
            re += yr * cph - yi * sph
            im += yr * sph + yi * cph
    while i < b:  # the last 0-3 samples directly
        v = x[i] - base
        re += v * math.cos(w * i)
        im -= v * math.sin(w * i)
        i += 1
    return re, im


@njit(cache=True, nogil=True)
def tone_amplitude(x: np.ndarray, a1: int, b1: int, a2: int, b2: int, fs: float, f: float, base: float) -> float:
    """Amplitude of the ``f`` Hz component of ``x - base`` over the two windows (projection estimate):
    ``2 |sum v_i exp(-j w i)| / m`` over the m samples inside the windows (a sample in both
    windows counts once).
    """
    w = 2.0 * math.pi * f / fs
    n = x.size
    a1 = max(a1, 0)
    a2 = max(a2, 0)
    b1 = min(b1, n)
    b2 = min(b2, n)
    if b1 < a1:
        b1 = a1
    if b2 < a2:
        b2 = a2
    if a2 < a1:
        a1, b1, a2, b2 = a2, b2, a1, b1
    if a2 < b1:  # overlapping windows: their union
        if b2 > b1:
            b1 = b2
        a2 = b1
        b2 = b1
    m = (b1 - a1) + (b2 - a2)
    if m == 0:
        return 0.0
    r1, i1 = _tone_sum(x, a1, b1, base, w)
    r2, i2 = _tone_sum(x, a2, b2, base, w)
    re = r1 + r2
    im = i1 + i2
    return 2.0 * math.sqrt(re * re + im * im) / m


@njit(cache=True, nogil=True)
def residual_excursion(d: np.ndarray, model: np.ndarray, a: int, b: int, w: int) -> float:
    """Largest ``|mean(d - model)|`` over ``w`` consecutive samples lying within ``[a, b)``.

    Parameters
    ----------
    d, model : ndarray
        The trace and the baseline model fitted to it (same length).
    a, b : int
        The stretch judged (clipped to the arrays).
    w : int
        Width of the moving average (samples, >= 1).

    Returns
    -------
    float
        The largest absolute moving average of the residual (volts); NaN when the stretch
        holds fewer than ``w`` samples or ``w < 1``.
    """
    a, b = _clipped(a, b, min(d.size, model.size))
    if w < 1 or b - a < w:
        return np.nan
    acc = 0.0
    for i in range(a, a + w):
        acc += d[i] - model[i]
    best = abs(acc)
    for i in range(a + w, b):
        acc += (d[i] - model[i]) - (d[i - w] - model[i - w])
        if abs(acc) > best:
            best = abs(acc)
    return best / w


@njit(cache=True, nogil=True)
def _rise_fit(d: np.ndarray, t0: int, end: int) -> float:
    """Residual of ``-d ~ a u + b u^2`` (u = t - t0, a >= 0, b >= 0) over ``d[t0:end]``."""
    s11 = 0.0
    s12 = 0.0
    s22 = 0.0
    r1 = 0.0
    r2 = 0.0
    yy = 0.0
    for i in range(t0, end):
        u = float(i - t0)
        u2 = u * u
        yv = -d[i]
        s11 += u2
        s12 += u2 * u
        s22 += u2 * u2
        r1 += u * yv
        r2 += u2 * yv
        yy += yv * yv
    return _rise_residual(s11, s12, s22, r1, r2, yy)


@njit(cache=True, nogil=True)
def _rise_solve(s11: float, s12: float, s22: float, r1: float, r2: float,
                yy: float) -> tuple[float, float, float]:
    """:func:`_rise_residual` with the fit: (residual, a, b)."""
    best = yy  # a = b = 0
    ba = 0.0
    bb = 0.0
    det = s11 * s22 - s12 * s12
    if det > 0.0:
        a = (r1 * s22 - r2 * s12) / det
        b = (s11 * r2 - s12 * r1) / det
        if a >= 0.0 and b >= 0.0:
            return yy - a * r1 - b * r2, a, b
    if s11 > 0.0:
        a = r1 / s11
        if a > 0.0:
            v = yy - a * r1
            if v < best:
                best = v
                ba = a
    if s22 > 0.0:
        b = r2 / s22
        if b > 0.0:
            v = yy - b * r2
            if v < best:
                best = v
                ba = 0.0
                bb = b
    return best, ba, bb


@njit(cache=True, nogil=True)
def _rise_residual(s11: float, s12: float, s22: float, r1: float, r2: float, yy: float) -> float:
    """Least-squares residual of ``y ~ a u + b u^2`` with a, b >= 0 from the window sums
    (s11 = sum u^2, s12 = sum u^3, s22 = sum u^4, r1 = sum u y, r2 = sum u^2 y, yy = sum y^2)."""
    return _rise_solve(s11, s12, s22, r1, r2, yy)[0]


@njit(cache=True, nogil=True)
def _power_sums(d: np.ndarray, a: int, b: int, origin: float,
                sign: float) -> tuple[float, float, float, float, float, float, float, float, float]:
    """Over ``d[a:b]`` with u = i - origin and y = sign * d[i]: (S0..S4 = sum u^p, T0..T2 =
    sum u^p y, yy = sum y^2), the sums of a least-squares polynomial fit up to u^2."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    yy = 0.0
    for i in range(a, b):
        v = i - origin
        v2 = v * v
        yv = sign * d[i]
        s0 += 1.0
        s1 += v
        s2 += v2
        s3 += v2 * v
        s4 += v2 * v2
        t0 += yv
        t1 += v * yv
        t2 += v2 * yv
        yy += yv * yv
    return s0, s1, s2, s3, s4, t0, t1, t2, yy


@njit(cache=True, nogil=True)
def _hinge_sums(d: np.ndarray, lo: int, k: int,
                fit_end: int) -> tuple[float, float, float, float, float, float, float, float, float, float, float,
                                       float, float]:
    """Sums for a take-off between samples ``k`` and ``k + 1``: the window is ``d[k+1:fit_end]``
    with w = i - k (1, 2, ...) and y = -d.  Returns (S0..S6 = sum w^p, T0..T3 = sum w^p y,
    yy = sum y^2 over the window, pre = sum y^2 over ``d[lo:k+1]``)."""
    pre = 0.0
    for i in range(lo, k + 1):
        pre += d[i] * d[i]
    s0, s1, s2, s3, s4, s5, s6 = _window_powers(fit_end - k - 1)
    t0, t1, t2, t3, yy = _window_moments(d, k, fit_end)
    return s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre


@njit(cache=True, nogil=True)
def hinge_residual_frac(d: np.ndarray, lo: int, k: int, fit_end: int, g: float) -> float:
    """Hinge-fit residual (see :func:`hinge_posterior`) for a take-off at ``k + g``, 0 <= g < 1:
    zero on ``d[lo:k+1]``, then ``-(a u + b u^2 + c u^3)`` (a, b >= 0, c <= 0, u = i - k - g)
    on ``d[k+1:fit_end]`` (with fewer than three samples there, c = 0)."""
    s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre = _hinge_sums(d, lo, k, fit_end)
    return _hinge_residual(s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre, g, 1.0 / (fit_end - lo))


@njit(cache=True, nogil=True)
def _rise3_residual(m2: float, m3: float, m4: float, m5: float, m6: float,
                    r1: float, r2: float, r3: float, yy: float) -> float:
    """Least-squares residual of ``y ~ a u + b u^2 + c u^3`` with a, b >= 0 and c <= 0 from the
    window sums (m_p = sum u^p, r_p = sum u^p y, yy = sum y^2).  First the best fit with c = 0
    (:func:`_rise_solve`); when lowering c from there cannot reduce the residual (the KKT
    condition r3 - m4 a - m5 b >= 0) that is the optimum (the problem is convex).  Else the
    optimum has c < 0: the best feasible fit over the faces {a, b, c}, {c}, {b, c}, {a, c}."""
    best, a0, b0 = _rise_solve(m2, m3, m4, r1, r2, yy)  # c = 0
    if r3 - m4 * a0 - m5 * b0 >= 0.0:
        return best
    c11 = m4 * m6 - m5 * m5
    c12 = m4 * m5 - m3 * m6
    c13 = m3 * m5 - m4 * m4
    c22 = m2 * m6 - m4 * m4
    det = m2 * c11 + m3 * c12 + m4 * c13
    if det > 0.0:
        c23 = m3 * m4 - m2 * m5
        c33 = m2 * m4 - m3 * m3
        a = c11 * r1 + c12 * r2 + c13 * r3
        b = c12 * r1 + c22 * r2 + c23 * r3
        c = c13 * r1 + c23 * r2 + c33 * r3
        if a >= 0.0 and b >= 0.0 and c <= 0.0:
            v = yy - (a * r1 + b * r2 + c * r3) / det
            return v if v < best else best
    if r3 < 0.0 and m6 > 0.0:  # {c}
        v = yy - r3 * r3 / m6
        if v < best:
            best = v
    best = _face_with_c(r2, r3, m4, m5, m6, c11, yy, best)  # {b, c}
    return _face_with_c(r1, r3, m2, m4, m6, c22, yy, best)  # {a, c}


@njit(cache=True, nogil=True)
def _face_with_c(rx: float, r3: float, mxx: float, mxc: float, m6: float, det: float, yy: float,
                 best: float) -> float:
    """The smaller of ``best`` and the residual of the face {x, c} of :func:`_rise3_residual`
    (x one of a, b: ``x >= 0``, ``c <= 0``), from the sums ``rx``, ``r3`` = sum u^p y, ``mxx``,
    ``mxc``, ``m6`` = sum u^p and the 2 x 2 determinant ``det = mxx m6 - mxc^2``."""
    if det > 0.0:
        x = rx * m6 - r3 * mxc
        c = mxx * r3 - mxc * rx
        if x >= 0.0 and c <= 0.0:
            v = yy - (x * rx + c * r3) / det
            if v < best:
                return v
    return best


@njit(cache=True, nogil=True)
def _hinge_residual(s0: float, s1: float, s2: float, s3: float, s4: float, s5: float, s6: float,
                    t0: float, t1: float, t2: float, t3: float, yy: float, pre: float, g: float,
                    q: float, cubic: bool = True) -> float:
    """Hinge residual from the sums of :func:`_hinge_sums` for a take-off ``g`` after sample k,
    u = w - g (binomial expansion); the fit is made in u' = q u (conditioning)."""
    if g == 0.0:
        m2, m3, m4, m5, m6 = s2, s3, s4, s5, s6
        r1, r2, r3 = t1, t2, t3
    else:
        h = -g
        h2 = h * h
        h3 = h2 * h
        h4 = h2 * h2
        m2 = s2 + 2.0 * h * s1 + h2 * s0
        m3 = s3 + 3.0 * h * s2 + 3.0 * h2 * s1 + h3 * s0
        m4 = s4 + 4.0 * h * s3 + 6.0 * h2 * s2 + 4.0 * h3 * s1 + h4 * s0
        m5 = s5 + 5.0 * h * s4 + 10.0 * h2 * s3 + 10.0 * h3 * s2 + 5.0 * h4 * s1 + h4 * h * s0
        m6 = s6 + 6.0 * h * s5 + 15.0 * h2 * s4 + 20.0 * h3 * s3 + 15.0 * h4 * s2 + 6.0 * h4 * h * s1 + h3 * h3 * s0
        r1 = t1 + h * t0
        r2 = t2 + 2.0 * h * t1 + h2 * t0
        r3 = t3 + 3.0 * h * t2 + 3.0 * h2 * t1 + h3 * t0
    if yy < 0.0:
        yy = 0.0
    if s0 < 3.0 or not cubic:
        # one or two samples: the cubic is not determined; c = 0
        if s0 < 2.0:
            # one sample (or none): a u + b u^2 is not determined as a pair (det = 0 up to
            # rounding); a single column fits the sample exactly when the rise is positive
            return pre + (yy - r1 * r1 / m2 if m2 > 0.0 and r1 > 0.0 else yy)
        return pre + _rise_residual(m2, m3, m4, r1, r2, yy)
    q2 = q * q
    q3 = q2 * q
    return pre + _rise3_residual(m2 * q2, m3 * q3, m4 * q2 * q2, m5 * q3 * q2, m6 * q3 * q3,
                                 r1 * q, r2 * q2, r3 * q3, yy)


#: the hinge fit ends where the (smoothed) rise reaches HINGE_END_SNR noise SDs, but not before
#: HINGE_END_FRACTION nor after HINGE_END_MAX of the amplitude (see _markers)
HINGE_END_FRACTION = 0.1
HINGE_END_SNR = 20.0
HINGE_END_MAX = 0.2
#: weak responses: the onset is moved this share of the way from the hinge to the line
#: extrapolation (see _markers)
ONSET_LINE_WEIGHT = 0.15
HINGE_SUB = 5  # take-off grid: a fifth of a sample (a tenth up to 2026-11: the same onsets within 0.003 ms)
HINGE_SKIP = 12.0  # take-offs whose weight is below exp(-HINGE_SKIP) (6e-6) are left out (see hinge_posterior)
HINGE_CUT = 24.0  # weights below exp(-HINGE_CUT) count as zero
# the grid's fractions j / HINGE_SUB (the same values as computed in place)
_HINGE_G = np.array([j / HINGE_SUB for j in range(HINGE_SUB)])


@njit(cache=True, nogil=True)
def _window_moments(d: np.ndarray, k: int, fit_end: int) -> tuple[float, float, float, float, float]:
    """T0..T3 = sum w^p y over ``d[k+1:fit_end]`` with w = i - k and y = -d, and yy = sum y^2."""
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    yy = 0.0
    for i in range(k + 1, fit_end):
        w = float(i - k)
        yv = -d[i]
        wy = w * yv
        t0 += yv
        t1 += wy
        t2 += w * wy
        t3 += w * w * wy
        yy += yv * yv
    return t0, t1, t2, t3, yy


@njit(cache=True, nogil=True)
def _window_powers(length: int) -> tuple[float, float, float, float, float, float, float]:
    """S0..S6 = sum w^p over w = 1 .. length (closed forms)."""
    n = float(length)
    n1 = n * (n + 1.0)
    s1 = n1 / 2.0
    s2 = n1 * (2.0 * n + 1.0) / 6.0
    s4 = s2 * (3.0 * n1 - 1.0) / 5.0
    s5 = s1 * s1 * (2.0 * n1 - 1.0) / 3.0
    s6 = s2 * (3.0 * n1 * n1 - 3.0 * n1 + 1.0) / 7.0
    return n, s1, s2, s1 * s1, s4, s5, s6


@njit(cache=True, nogil=True)
def _hinge_step(y0: float, s0: float, s1: float, s2: float, s3: float, s4: float, s5: float, s6: float,
                t0: float, t1: float, t2: float, t3: float, yy: float,
                pre: float) -> tuple[float, float, float, float, float, float, float, float, float, float, float,
                                     float, float]:
    """The sums of :func:`_hinge_sums` for a take-off one sample later: the window's first sample
    (w = 1, value ``y0`` = -d) moves to the zero part, then w -> w - 1, so the window loses
    its largest w (the powers are integers: exact while below 2^53)."""
    pre += y0 * y0
    yy -= y0 * y0
    a0 = t0 - y0
    a1 = t1 - y0
    a2 = t2 - y0
    a3 = t3 - y0
    w = s0
    w2 = w * w
    w3 = w2 * w
    return (w - 1.0, s1 - w, s2 - w2, s3 - w3, s4 - w2 * w2, s5 - w2 * w3, s6 - w3 * w3,
            a0, a1 - a0, a2 - 2.0 * a1 + a0, a3 - 3.0 * a2 + 3.0 * a1 - a0, yy, pre)


@njit(cache=True, nogil=True)
def hinge_posterior(d: np.ndarray, lo: int, hi: int, fit_end: int, sigma: float, cubic: bool = True) -> float:
    """Take-off of a negative deflection: the noise-weighted mean over the hinge fits.

    Model on ``d[lo:fit_end]``: zero up to the take-off t0, then ``-(a u + b u^2 + c u^3)``
    (u = i - t0, a, b >= 0, c <= 0: a rise that starts at t0 and whose curvature does
    not grow; c = 0, a rise that does not slow down, when ``cubic`` is false or fewer
    than three samples follow t0), white noise of SD ``sigma``.  The curvature of a
    compound take-off is the rate at which units join (times their initial slopes);
    past the first units it falls, and a constant-curvature (quadratic) rise then sits
    late (by 0.03-0.07 ms on noise-free simulated CMAPs up to 20 % of the amplitude,
    most at proximal sites).  For every t0 on a grid of ``1 / HINGE_SUB`` of a sample
    in ``[lo, hi]`` (``hi`` limited to ``fit_end - 3``) the best a, b, c give a
    residual R(t0); the take-off is the mean of t0 weighted by the likelihood
    ``exp(-(R(t0) - min R) / (2 sigma^2))`` (a uniform prior on t0: the posterior
    mean of a change point).  Where the trace leaves the baseline slowly the
    residual is flat over several samples; its minimum then jumps with the noise
    and sits late on average, while the weighted mean uses every take-off the data
    allow.  On a clean or strong take-off the weights collapse onto the best fit.

    Cost: one residual per whole sample (window sums updated in O(1)); then only the
    take-offs that can weigh: the whole samples from the first to the last whose
    weight exceeds ``exp(-HINGE_SKIP)`` (and the best one's neighbours), and the
    fractions inside a sample interval next to the best whole sample or whose better
    end exceeds that weight; weights below ``exp(-HINGE_CUT)`` count as zero.  Left
    out is at most a few ``exp(-HINGE_SKIP)`` (6e-6) of the weight.  ``sigma`` not
    > 0: the best fit on the grid (first on ties).  NaN when the window is too
    short, outside ``d`` or holds a non-finite value.
    """
    if hi > fit_end - 3:
        hi = fit_end - 3
    if hi < lo or fit_end - lo < 5 or lo < 0 or fit_end > d.size:
        return np.nan
    for i in range(lo, fit_end):
        if not math.isfinite(d[i]):
            return np.nan
    m = hi - lo + 1
    q = 1.0 / (fit_end - lo)
    # pass 1: residuals at the whole samples
    rk = np.empty(m)
    s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre = _hinge_sums(d, lo, lo, fit_end)
    kb = 0
    for k in range(m):
        if k > 0:
            s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre = _hinge_step(
                -d[lo + k], s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre)
        rk[k] = _hinge_residual(s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre, 0.0, q, cubic)
        if rk[k] < rk[kb]:
            kb = k
    weighted = sigma > 0.0 and math.isfinite(sigma)
    inv = 0.5 / (sigma * sigma) if weighted else 0.0
    skip = rk[kb] + HINGE_SKIP / inv if weighted else -np.inf
    # pass 2 covers the whole samples whose weight counts and the neighbours of the best
    k_a = kb
    for k in range(kb):
        if rk[k] <= skip:
            k_a = k
            break
    k_a = k_a - 1 if k_a > 0 else 0  # with the interval that ends there
    k_b = kb + 1 if kb < m - 1 else m - 1
    for k in range(m - 1, k_b, -1):
        if rk[k] <= skip:
            k_b = k
            break
    # the weighted mean over the grid (a running minimum keeps the exponents <= 0)
    rb = rk[kb]
    w_sum = 0.0
    wt_sum = 0.0
    tb = float(lo + kb)
    s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre = _hinge_sums(d, lo, lo + k_a, fit_end)
    for k in range(k_a, k_b + 1):
        if k > k_a:
            s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre = _hinge_step(
                -d[lo + k], s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre)
        for j in range(HINGE_SUB):
            if j == 0:
                r = rk[k]
            else:
                if k == m - 1:
                    break
                if j == 1 and not (k == kb or k == kb - 1 or min(rk[k], rk[k + 1]) <= skip):
                    break
                r = _hinge_residual(s0, s1, s2, s3, s4, s5, s6, t0, t1, t2, t3, yy, pre, _HINGE_G[j], q, cubic)
            t = lo + k + _HINGE_G[j]
            if r < rb:
                if weighted:
                    f = math.exp(-(rb - r) * inv)
                    w_sum *= f
                    wt_sum *= f
                rb = r
                tb = t
            if weighted:
                x = (r - rb) * inv
                if x < HINGE_CUT:
                    e = math.exp(-x)
                    w_sum += e
                    wt_sum += e * t
    if not weighted or not (w_sum > 0.0):
        return tb
    return wt_sum / w_sum


@njit(cache=True, nogil=True)
def peak_fit(y: np.ndarray, i: int, half: int) -> tuple[float, float]:
    """Least-squares parabola over ``y[i-half : i+half+1]``: (vertex position, vertex value).

    Falls back to the sample itself when the fit has no minimum inside the window;
    NaN when the window holds a non-finite value.
    """
    a = i - half
    b = i + half + 1
    if a < 0:
        a = 0
    if b > y.size:
        b = y.size
    if b - a < 3:
        return float(i), y[i]
    for k in range(a, b):
        if not math.isfinite(y[k]):
            return np.nan, np.nan
    mat = np.zeros((3, 3))
    rhs = np.zeros(3)
    for k in range(a, b):
        u = float(k - i)
        u2 = u * u
        mat[0, 0] += 1.0
        mat[0, 1] += u
        mat[0, 2] += u2
        mat[1, 2] += u2 * u
        mat[2, 2] += u2 * u2
        rhs[0] += y[k]
        rhs[1] += u * y[k]
        rhs[2] += u2 * y[k]
    mat[1, 0] = mat[0, 1]
    mat[1, 1] = mat[0, 2]
    mat[2, 0] = mat[0, 2]
    mat[2, 1] = mat[1, 2]
    c = solve_small(mat, rhs)
    if np.isnan(c[0]) or c[2] <= 0.0:
        return float(i), y[i]
    u = -c[1] / (2.0 * c[2])
    if u < a - i or u > b - 1 - i:
        return float(i), y[i]
    return i + u, c[0] + c[1] * u + c[2] * u * u


@njit(cache=True, nogil=True)
def _argmin(y: np.ndarray, a: int, b: int) -> int:
    """Index of the first minimum of ``y[a:b]`` (finite values), or -1 when empty.

    The minimum value is found with four independent running minima (:func:`_minmax`, no
    loop-carried branch), then its first position.  ``a >= 0``.
    """
    if b <= a:
        return -1
    m0, _ = _minmax(y, a, b)
    for i in range(a, b):
        if y[i] == m0:
            return i
    return -1


#: initial positive phase of a SNAP (:func:`initial_positive_onset`): a lobe lasts between
#: LOBE_MIN_MS and LOBE_MAX_MS and ends within LOBE_END_BEFORE_MS before .. LOBE_END_AFTER_MS after
#: the negative take-off; it is taken when its matched-filter statistic exceeds LOBE_Z
LOBE_MIN_MS = 0.1
LOBE_MAX_MS = 0.4
LOBE_END_BEFORE_MS = 0.05
LOBE_END_AFTER_MS = 0.1
LOBE_Z = 3.5


@njit(cache=True, nogil=True)
def _clipped(a: int, b: int, n: int) -> tuple[int, int]:
    """The window ``[a, b)`` clipped to ``[0, n)``."""
    return (a if a > 0 else 0), (b if b < n else n)


@njit(cache=True, nogil=True)
def _half_sine(h: np.ndarray, m: int) -> float:
    """Fill ``h[:m]`` with the half-sine ``sin(pi (k + 0.5) / m)``; return its sum of squares.

    The samples come from a rotation by ``pi / m`` (two multiply-adds each instead of a sine;
    the rounding grows by about an ulp per step).
    """
    if m < 1:
        return 0.0
    th = math.pi / m
    cr = math.cos(th)
    sr = math.sin(th)
    sv = math.sin(0.5 * th)
    cv = math.cos(0.5 * th)
    hh = 0.0
    for k in range(m):
        h[k] = sv
        hh += sv * sv
        sv, cv = sv * cr + cv * sr, cv * cr - sv * sr
    return hh


@njit(cache=True, nogil=True)
def diff_sigma_pooled(x: np.ndarray, a1: int, b1: int, a2: int, b2: int) -> float:
    """Noise SD from the first differences within ``x[a1:b1]`` and within ``x[a2:b2]``, pooled.

    Each window's differences are centred on their own mean (a drift differs between the
    windows) and their squared deviations summed over both windows: the SD is
    ``sqrt(SS / (m1 + m2) / 2)`` with m1, m2 the numbers of differences.  A window with
    fewer than 4 samples is left out; NaN when both are.  Windows are clipped to ``x``.
    """
    n = x.size
    ss = 0.0
    m = 0
    for w in range(2):
        a, b = _clipped(a1 if w == 0 else a2, b1 if w == 0 else b2, n)
        k = b - a - 1
        if k < 3:
            continue
        s = 0.0
        s2 = 0.0
        for i in range(a, b - 1):
            v = x[i + 1] - x[i]
            s += v
            s2 += v * v
        dev = s2 - s * s / k
        ss += dev if dev > 0.0 else 0.0
        m += k
    if m == 0:
        return np.nan
    return math.sqrt(ss / m / 2.0)


@njit(cache=True, nogil=True)
def positive_lobe(d: np.ndarray, lo: int, e_lo: int, e_hi: int, m_min: int, m_max: int,
                  sigma: float) -> tuple[float, int, int]:
    """Strongest positive lobe of ``d``: a half-sine over the samples ``[s, e)``.

    Over every end ``e`` in ``[e_lo, e_hi]`` and length ``m = e - s`` in ``[m_min, m_max]``
    with ``s >= lo`` and ``e <= d.size``, the matched-filter statistic
    ``z = sum_k h_k d[s + k] / (sigma sqrt(sum_k h_k^2))`` with ``h_k = sin(pi (k + 0.5) / m)``
    is formed (the amplitude's least-squares estimate over its standard error); the largest
    wins (the first met, lengths ascending then ends ascending, on ties).  Returns
    ``(z, s, e)``, or ``(-inf, -1, -1)`` when no lobe fits the bounds or sigma is not positive.
    """
    n = d.size
    best = -np.inf
    bs = -1
    be = -1
    if m_min < 1:
        m_min = 1
    if not (sigma > 0.0) or m_max < m_min:
        return best, bs, be
    h = np.empty(m_max)
    for m in range(m_min, m_max + 1):
        hh = _half_sine(h, m)
        scale = 1.0 / (sigma * math.sqrt(hh))
        for e in range(e_lo, e_hi + 1):
            s = e - m
            if s < lo or s < 0 or e > n:
                continue
            c = 0.0
            for k in range(m):
                c += h[k] * d[s + k]
            z = c * scale
            if z > best:
                best = z
                bs = s
                be = e
    return best, bs, be


@njit(cache=True, nogil=True)
def lobe_null_sd(d: np.ndarray, a1: int, b1: int, a2: int, b2: int, m: int) -> float:
    """Empirical noise SD of the lobe statistic's numerator: the RMS of ``sum_k h_k d[j + k]``
    (``h_k = sin(pi (k + 0.5) / m)``) over every placement ``[j, j + m)`` inside ``d[a1:b1]`` or
    inside ``d[a2:b2]`` (windows clipped to ``d``).  Coloured noise (hum residue, slow
    fluctuations) makes it larger than ``sigma sqrt(sum h^2)`` of white noise.  NaN with fewer
    than ``3 m`` placements or ``m < 1``.

    The sums slide along the window in O(1) per placement: with ``w = exp(i pi / m)`` the
    numerator is ``Im(w^(1/2) S_j)``, ``S_j = sum_k w^k d[j + k]``, and since ``w^m = -1``,
    ``S_(j+1) = (S_j - d[j] - d[j + m]) / w``.
    """
    n = d.size
    if m < 1:
        return np.nan
    th = math.pi / m
    cr = math.cos(th)
    sr = math.sin(th)
    sh = math.sin(0.5 * th)
    ch = math.cos(0.5 * th)
    ss = 0.0
    cnt = 0
    for w in range(2):
        a, b = _clipped(a1 if w == 0 else a2, b1 if w == 0 else b2, n)
        if b - a < m:
            continue
        # S_a directly (the rotation of w^k by recurrence)
        re = 0.0
        im = 0.0
        wr = 1.0
        wi = 0.0
        for k in range(m):
            re += wr * d[a + k]
            im += wi * d[a + k]
            wr, wi = wr * cr - wi * sr, wi * cr + wr * sr
        for j in range(a, b - m + 1):
            c = sh * re + ch * im
            ss += c * c
            cnt += 1
            if j + m < b:
                re -= d[j] + d[j + m]
                re, im = re * cr + im * sr, im * cr - re * sr
    if cnt < 3 * m:
        return np.nan
    return math.sqrt(ss / cnt)


@njit(cache=True, nogil=True)
def initial_positive_onset(d: np.ndarray, fs: float, stim: int, search_start: int, t_neg: float, ip: int,
                           neg_end: float, end: int, p: np.ndarray) -> float:
    """Start of a SNAP's small initial positive phase, or NaN when the trace shows none.

    The positive phase flows into the negative one: a lobe (:func:`positive_lobe`) of
    LOBE_MIN_MS..LOBE_MAX_MS ending between LOBE_END_BEFORE_MS before and LOBE_END_AFTER_MS
    after the negative take-off ``t_neg``.  It is taken when its amplitude exceeds LOBE_Z
    standard errors.  The noise for that comes from the samples without response: the
    pre-stimulus window and the sweep after the response (from ``end``, or four times the
    peak-to-zero-crossing interval after the crossing ``neg_end``, plus 1 ms) — the white-
    noise SD from their pooled first differences (:func:`diff_sigma_pooled`, steadier than
    the short pre-stimulus window alone), and the lobe statistic's own spread there
    (:func:`lobe_null_sd`) when that is larger (coloured noise).  The onset is the
    half-sine's start, half a sample before its first sample.
    """
    n = d.size
    guard = int(round(p[P_PRE_GUARD_MS] * 1e-3 * fs))
    b1 = stim - guard
    if b1 < 0:
        b1 = 0
    if end > ip:
        a2 = end
    elif neg_end > 0.0:
        a2 = int(neg_end + 4.0 * (neg_end - ip))
    else:
        a2 = n
    a2 += int(round(1e-3 * fs))
    sig = diff_sigma_pooled(d, 0, b1, a2, n)
    if not (sig > 0.0):
        return np.nan
    m_min = int(round(LOBE_MIN_MS * 1e-3 * fs))
    m_max = int(round(LOBE_MAX_MS * 1e-3 * fs))
    k = int(math.floor(t_neg))
    e_lo = k - int(round(LOBE_END_BEFORE_MS * 1e-3 * fs))
    e_hi = k + int(round(LOBE_END_AFTER_MS * 1e-3 * fs))
    if e_hi > ip:
        e_hi = ip
    z, s, e = positive_lobe(d, search_start + 1, e_lo, e_hi, m_min, m_max, sig)
    if s < 0 or not (z > LOBE_Z):
        return np.nan
    m = e - s
    white = sig * math.sqrt(_half_sine(np.empty(m), m))
    emp = lobe_null_sd(d, 0, b1, a2, n, m)
    if emp > white:
        z *= white / emp
        if not (z > LOBE_Z):
            return np.nan
    return s - 0.5


#: the negative phase's end is refined over +- this fraction of the peak-to-crossing interval
NEG_END_SPAN = 0.3


@njit(cache=True, nogil=True)
def crossing_refine(d: np.ndarray, t_c: float, h: float) -> float:
    """Upward zero crossing of ``d`` near ``t_c`` from a least-squares parabola over ``|i - t_c| <= h``.

    The parabola ``c0 + c1 u + c2 u^2`` (``u = i - t_c``) is fitted to the samples within
    the window and its root nearest ``t_c`` returned when it lies inside the window, within
    the samples fitted (never extrapolated past the sweep's first or last sample), and the
    parabola rises there; NaN otherwise (fewer than 5 samples, a singular fit, no such
    root, a non-finite sample).
    """
    n = d.size
    a = int(math.ceil(t_c - h))
    b = int(math.floor(t_c + h)) + 1
    if a < 0:
        a = 0
    if b > n:
        b = n
    if b - a < 5 or not (h > 0.0):
        return np.nan
    # normal equations from scalar sums, solved by Cramer's rule (no allocation: this runs
    # on every response)
    s0, s1, s2, s3, s4, t0, t1, t2, _ = _power_sums(d, a, b, t_c, 1.0)
    if not (math.isfinite(t0) and math.isfinite(t1) and math.isfinite(t2)):
        return np.nan
    # | s0 s1 s2 | |c0|   |t0|
    # | s1 s2 s3 | |c1| = |t1|
    # | s2 s3 s4 | |c2|   |t2|
    m00 = s2 * s4 - s3 * s3
    m01 = s1 * s4 - s3 * s2
    m02 = s1 * s3 - s2 * s2
    det = s0 * m00 - s1 * m01 + s2 * m02
    if not (abs(det) > 1e-12 * (s0 * s2 * s4 + 1e-300)):
        return np.nan
    c0 = (t0 * m00 - s1 * (t1 * s4 - s3 * t2) + s2 * (t1 * s3 - s2 * t2)) / det
    c1 = (s0 * (t1 * s4 - s3 * t2) - t0 * m01 + s2 * (s1 * t2 - t1 * s2)) / det
    c2 = (s0 * (s2 * t2 - t1 * s3) - s1 * (s1 * t2 - t1 * s2) + t0 * m02) / det
    best = np.nan
    if c2 == 0.0:
        if c1 > 0.0:
            best = -c0 / c1
    else:
        disc = c1 * c1 - 4.0 * c2 * c0
        if disc >= 0.0:
            sq = math.sqrt(disc)
            # the two roots without cancellation
            q = -0.5 * (c1 + sq) if c1 >= 0.0 else -0.5 * (c1 - sq)
            r1 = q / c2
            r2 = c0 / q if q != 0.0 else np.nan
            for r in (r1, r2):
                if math.isfinite(r) and c1 + 2.0 * c2 * r > 0.0:
                    if np.isnan(best) or abs(r) < abs(best):
                        best = r
    if np.isnan(best) or abs(best) > h:
        return np.nan
    root = t_c + best
    if root < a or root > b - 1:  # beyond the samples fitted: the window was cut by the sweep's edge
        return np.nan
    return root


@njit(cache=True, nogil=True)
def _smooth_width(fs: float, p: np.ndarray) -> int:
    """Odd width (samples) of the moving average the markers are placed on."""
    w = int(round(p[P_SMOOTH_MS] * 1e-3 * fs))
    if w < 1:
        w = 1
    return w | 1


@njit(cache=True, nogil=True)
def _markers(d: np.ndarray, y: np.ndarray, fs: float, stim: int, search_start: int, search_end: int,
             sigma: float, p: np.ndarray, out: np.ndarray, ymin: float = np.nan) -> None:
    """Place the markers on a baseline-corrected, artifact-corrected sweep ``d`` (negative main
    phase) and its moving average ``y`` (width :func:`_smooth_width`); ``ymin``, when known,
    is the minimum of ``y[search_start:search_end]``."""
    n = d.size
    w = _smooth_width(fs, p)
    sig_y = sigma / math.sqrt(w)
    out[R_ONSET_SHARE] = np.nan
    # negative peak
    if np.isnan(ymin):
        ip = _argmin(y, search_start, search_end)
    else:
        ip = -1
        for i in range(search_start, search_end):
            if y[i] == ymin:
                ip = i
                break
    if ip < 0:
        out[R_STATUS] = S_ABSENT
        return
    # width of the negative peak at half its depth sets the parabola's span
    half_level = 0.5 * y[ip]
    l = ip
    while l > search_start and y[l] < half_level:
        l -= 1
    r = ip
    while r < n - 1 and y[r] < half_level:
        r += 1
    half = (r - l) // 3
    if half < 1:
        half = 1
    pos, val = peak_fit(d, ip, half)
    amp = -val
    thr = p[P_K_PRESENCE] * sig_y
    if thr < p[P_MIN_AMPLITUDE_V]:
        thr = p[P_MIN_AMPLITUDE_V]
    thr_noise = thr
    if not np.isnan(out[R_TAIL_TAU]) and out[R_TAIL_TAU] > 0.0 and ip >= out[R_TAIL_START]:
        # a quarter of the removed artifact tail at the peak is not trusted as response
        thr += 0.25 * abs(out[R_TAIL_AMP_V] * math.exp(-(ip - out[R_TAIL_START]) / out[R_TAIL_TAU]))
    # presence is judged on the smoothed trace, whose noise SD the threshold is scaled to
    deep = -y[ip]
    if thr > thr_noise and thr_noise < deep <= thr:
        # deeper than the noise but within the share of the artifact tail not trusted: neither a
        # response nor its absence can be said (a 0.3 mV CMAP 2 ms after a 30 mV artifact with a 2 ms
        # tail read absent)
        out[R_STATUS] = S_ARTIFACT
        return
    if deep > thr and ip == search_start:
        # a deflection deeper than the noise running into the start of the search window, i.e. out
        # of the stimulus artifact (or its tail, where the search starts when the tail could not be
        # modelled): neither a response nor its absence can be said.  (Read "absent" before: a 2 mV
        # direct-muscle response 1.2 ms after a 3 mV artifact with a 1 ms tail)
        out[R_FLAGS] = int(out[R_FLAGS]) | F_ONSET_NOT_PLACED
        out[R_STATUS] = S_ARTIFACT
        return
    if not (deep > thr) or ip == search_end - 1:
        # no response deeper than the noise, or the minimum sits on the end of the search window
        if deep > thr:
            # a deflection running into the window edge is not a placed peak
            out[R_FLAGS] = int(out[R_FLAGS]) | F_ONSET_NOT_PLACED
        out[R_STATUS] = S_ABSENT
        out[R_AMPLITUDE_V] = 0.0
        return
    out[R_STATUS] = S_OK
    out[R_NEG_PEAK] = pos
    out[R_AMPLITUDE_V] = amp
    if amp < 10.0 * sig_y:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_LOW_SNR
    # onset: the take-off of the early rise (from max(5 % of the amplitude, k SD) on); for SNAPs,
    # a small positive phase just before the negative one belongs to the response and moves
    # the onset to its start
    band = p[P_K_ONSET] * sig_y
    low = 0.05 * amp
    if low < band:
        low = band
    high = 0.2 * amp
    if high < 2.0 * low:
        high = 2.0 * low
    if high > 0.8 * amp:
        high = 0.8 * amp
    j_hi = -1
    j_lo = -1
    for i in range(ip, search_start - 1, -1):
        if j_hi < 0 and y[i] > -high:
            j_hi = i
        if y[i] > -low:
            j_lo = i
            break
    onset = np.nan
    share = np.nan
    if j_lo >= 0 and j_hi >= 0:
        back = p[P_ONSET_BACK_MS] * 1e-3 * fs
        # the take-off: the likelihood-weighted mean over hinge fits on the raw trace
        # (hinge_posterior) up to where the smoothed rise reaches `end` of the amplitude:
        # HINGE_END_SNR noise SDs, within [HINGE_END_FRACTION, HINGE_END_MAX].  A strong
        # response (window ending at 10 %): the rise may slow down (cubic hinge) and the
        # hinge alone is the onset; a longer window takes in the bulk of the units, whose
        # joining slows, and moves the take-off late.  A weak one (window cut at 20 %, below
        # 100 noise SDs): the data cannot fix a third coefficient (10 kHz 0.5 mV myopathic
        # CMAP, seeds 0-99 x 5 conditions: more than 0.2 ms off in 3.6 % of sweeps with the
        # cubic hinge alone, 1.4 % so), so the rise does not slow down (quadratic hinge) and
        # the onset is moved ONSET_LINE_WEIGHT of the way to a line through the early rise
        # extrapolated to the baseline (steady, but late on a convex take-off): +0.02 +- 0.08
        # ms there.  In between both, weighted linearly.  Strong responses, 20 kHz, 6 mV
        # CMAP, 10 uV noise (seeds 0-199): distal +0.04 -> +0.00 ms, 230 mm more proximal
        # +0.08 -> +0.03 ms, velocities -1.1 % -> -0.7 %.  The line alone is the fallback.
        lo_h = int(j_lo - back)
        if lo_h < search_start:
            lo_h = search_start
        end = HINGE_END_SNR * sigma / amp
        if not end > HINGE_END_FRACTION:  # also a noise level that is not a number
            end = HINGE_END_FRACTION
        if end > HINGE_END_MAX:
            end = HINGE_END_MAX
        # share of the cubic hinge alone: 1 when the window ends at HINGE_END_FRACTION (a strong
        # response), 0 when it is cut at HINGE_END_MAX (a weak one), linear in between
        lam = (HINGE_END_MAX - end) / (HINGE_END_MAX - HINGE_END_FRACTION)
        if not np.isnan(p[P_ONSET_SHARE]):
            # a share fixed by the caller (two sites of one nerve: the same estimator for both)
            lam = p[P_ONSET_SHARE]
            if lam < 0.0:
                lam = 0.0
            elif lam > 1.0:
                lam = 1.0
        j_end = j_lo
        while j_end < ip and y[j_end] > -end * amp:
            j_end += 1
        t_c = hinge_posterior(d, lo_h, j_lo, j_end + 1, sigma, True) if lam > 0.0 else np.nan
        if lam < 1.0 or np.isnan(t_c):
            # a line through the early rise (5 % to 20 %) extrapolated to the baseline, kept
            # within [j_lo - back, j_lo]
            a0 = j_lo
            b0 = j_hi + 1
            if b0 - a0 < 3:
                b0 = a0 + 3 if a0 + 3 <= ip + 1 else ip + 1
            m = b0 - a0
            if m >= 2:
                st = 0.0
                sy = 0.0
                stt = 0.0
                sty = 0.0
                for i in range(a0, b0):
                    t = float(i)
                    st += t
                    sy += y[i]
                    stt += t * t
                    sty += t * y[i]
                den = m * stt - st * st
                if den > 0.0:
                    slope = (m * sty - st * sy) / den
                    icpt = (sy - slope * st) / m
                    if slope < 0.0:
                        onset = -icpt / slope
            if np.isnan(onset) or onset > j_lo:
                onset = float(j_lo)
            if onset < j_lo - back:
                onset = j_lo - back
            t_q = hinge_posterior(d, lo_h, j_lo, j_end + 1, sigma, False)
            if not np.isnan(t_q):
                onset = ONSET_LINE_WEIGHT * onset + (1.0 - ONSET_LINE_WEIGHT) * t_q
                if not np.isnan(t_c):
                    onset = lam * t_c + (1.0 - lam) * onset
                    share = lam
            if np.isnan(share):
                share = 0.0  # the share actually used: none of the cubic hinge when it was not blended in
        else:
            onset = t_c
            share = 1.0
    if np.isnan(onset) or onset <= search_start:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_ONSET_NOT_PLACED
        if not np.isnan(onset):
            out[R_FLAGS] = int(out[R_FLAGS]) | F_ARTIFACT_OVERLAP
        out[R_ONSET_SHARE] = np.nan
    else:
        out[R_ONSET] = onset
        out[R_ONSET_SHARE] = share
    # end of the negative phase: upward zero crossing after the peak
    ne = -1.0
    for i in range(ip + 1, n):
        if y[i] >= 0.0:
            y0 = y[i - 1]
            y1 = y[i]
            ne = (i - 1) + (-y0) / (y1 - y0) if y1 != y0 else float(i)
            break
    if ne > 0:
        # a slow crossing (myopathic) is moved by the noise of the few samples at it: the zero
        # of a parabola fitted to the raw trace around it, over +-NEG_END_SPAN of the
        # peak-to-crossing interval, is steadier
        ne_q = crossing_refine(d, ne, NEG_END_SPAN * (ne - ip))
        if not np.isnan(ne_q):
            ne = ne_q
    if ne < 0:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_NEG_END_NOT_PLACED
    else:
        out[R_NEG_END] = ne
    # total end: last excursion of a 0.5 ms average beyond max(end_fraction x amplitude, 4 SD),
    # scanned backward from the sweep's end with a rolling sum
    w2 = int(round(0.5e-3 * fs)) | 1
    h2 = w2 // 2
    lvl = p[P_END_FRACTION] * amp
    if lvl < 4.0 * sigma / math.sqrt(w2):
        lvl = 4.0 * sigma / math.sqrt(w2)
    last = -1
    start_i = n - 1 - h2
    # a window whose samples all stay within +-lvl cannot average beyond it: begin the
    # rolling scan at the last window that holds a sample beyond lvl
    j = n - 1
    stop = ip - h2 if ip - h2 > 0 else 0
    while j - 3 > stop:  # four samples per step while all four stay within +-lvl
        m4 = max(max(abs(d[j]), abs(d[j - 1])), max(abs(d[j - 2]), abs(d[j - 3])))
        if m4 >= lvl:
            break
        j -= 4
    while j > stop and abs(d[j]) < lvl:
        j -= 1
    if j + h2 < start_i:
        start_i = j + h2
    lvl_sum = lvl * w2  # |window sum| >= lvl * w2  <=>  |window mean| >= lvl
    if start_i > ip:
        acc = 0.0
        for k in range(start_i - h2, start_i + h2 + 1):
            acc += d[k]
        i = start_i
        while i > ip:
            if abs(acc) >= lvl_sum:
                last = i
                break
            if i - h2 - 1 < 0:
                break
            acc += d[i - h2 - 1] - d[i + h2]
            i -= 1
    if last >= n - 1 - w2:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_END_NOT_PLACED
    elif last > ip:
        out[R_END] = float(last)
    # SNAPs: a small initial positive phase flowing into the negative one starts the response
    if p[P_INITIAL_POSITIVE] > 0.0 and not np.isnan(out[R_ONSET]):
        t_pos = initial_positive_onset(d, fs, stim, search_start, out[R_ONSET], ip, ne, last, p)
        if not np.isnan(t_pos):
            out[R_ONSET] = t_pos
    # positive peak after the negative phase
    if ne > 0:
        a = int(ne) + 1
        b = last + 1 if last > a else n
        vmax = -np.inf
        jp = -1
        for i in range(a, b):
            if y[i] > vmax:
                vmax = y[i]
                jp = i
        if jp >= 0 and vmax > 0:
            out[R_POS_PEAK] = float(jp)
            out[R_P2P_V] = amp + vmax
        else:
            out[R_P2P_V] = amp
    # areas (trapezoid on d, volts x seconds)
    dt = 1.0 / fs
    if not np.isnan(out[R_ONSET]) and not np.isnan(out[R_NEG_END]):
        s = 0.0
        i0 = int(math.ceil(out[R_ONSET]))
        i1 = int(math.floor(out[R_NEG_END]))
        for i in range(i0, i1):
            a_ = d[i] if d[i] < 0 else 0.0
            b_ = d[i + 1] if d[i + 1] < 0 else 0.0
            s += 0.5 * (a_ + b_) * dt
        out[R_NEG_AREA_VS] = -s
    if not np.isnan(out[R_ONSET]) and not np.isnan(out[R_END]):
        s = 0.0
        i0 = int(math.ceil(out[R_ONSET]))
        i1 = int(out[R_END])
        for i in range(i0, i1):
            s += 0.5 * (abs(d[i]) + abs(d[i + 1])) * dt
        out[R_TOTAL_AREA_VS] = s


@njit(cache=True, nogil=True)
def _prepare(x: np.ndarray, fs: float, stim: int, p: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Steps 1–4: validity, stimulus, baseline, artifact tail.  Returns d (or empty on failure)."""
    n = x.size
    empty = np.empty(0)
    if n == 0:
        out[R_STATUS] = S_NO_STIMULUS
        return empty
    min_after = int(round((p[P_MIN_LATENCY_MS] + 5.0) * 1e-3 * fs))
    stim_ok = 0 <= stim < n
    too_short = stim_ok and n - stim < min_after
    # baseline window: before the stimulus, or after the response when there is no room
    guard = int(round(p[P_PRE_GUARD_MS] * 1e-3 * fs))
    min_pre = int(round(p[P_MIN_PRE_MS] * 1e-3 * fs))
    pre_end = stim - guard
    post = pre_end < min_pre
    ba = 0
    bb = pre_end
    if post:
        ba = n - int(round(5e-3 * fs))
        bb = n
    no_baseline = post and ba <= stim + min_after // 2
    base = 0.0
    if stim_ok and not too_short and not no_baseline:
        base = window_mean(x, ba, bb)
    # one pass: the baseline-corrected copy, non-finite samples, the range (flat sweep)
    d = np.empty(n)
    # branch-free counts, so that the loop vectorises: non-finite samples (v - v is 0 for a
    # finite sample and NaN for NaN or +-inf) and samples unlike the first (none: a flat sweep;
    # for finite samples the same as max - min <= 0)
    x0 = x[0]
    bad = 0
    differ = 0
    for i in range(n):
        v = x[i]
        d[i] = v - base
        bad += 1 if v - v != 0.0 else 0
        differ += 1 if v != x0 else 0
    if bad != 0:
        out[R_STATUS] = S_NONFINITE
        return empty
    if not stim_ok:
        out[R_STATUS] = S_NO_STIMULUS
        return empty
    if too_short:
        out[R_STATUS] = S_TOO_SHORT
        return empty
    if differ == 0:
        out[R_STATUS] = S_FLAT
        return empty
    if no_baseline:
        out[R_STATUS] = S_NO_BASELINE
        return empty
    sigma = diff_sigma(x, ba, bb)
    if post:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_POST
    if not (sigma > 0.0):
        # a digitally flat baseline: take one quantisation step as the noise floor
        step = np.inf
        for i in range(1, n):
            dd = abs(x[i] - x[i - 1])
            if dd > 0.0 and dd < step:
                step = dd
        sigma = step / math.sqrt(12.0) if math.isfinite(step) else 1e-12
    # stimulus from the artifact when the marker disagrees
    srch = int(round(p[P_ARTIFACT_SEARCH_MS] * 1e-3 * fs))
    tol = p[P_STIM_TOLERANCE_MS] * 1e-3 * fs
    if tol < 2.0:
        tol = 2.0
    half = int(round(0.5e-3 * fs))
    lo_srch = stim - srch
    # 1. the marker's own window, [stim - srch, stim + 0.5 ms): an artifact at the marker, or one
    #    before it (a marker written late)
    art, steep = artifact_candidate(x, lo_srch, stim + half)
    at_marker = art >= 0 and abs(art - stim) <= tol and steep > 40.0 * sigma * math.sqrt(2.0)
    if art >= 0 and abs(art - stim) > tol:
        # only an artifact that disagrees with the marker matters: then check that it
        # stands out of the noise (a robust SD, which the artifact edge does not inflate)
        a_r = max(0, stim - srch)
        b_r = min(n, stim + srch)
        # steep > 40 SDs of the differences  <=>  median |difference| < steep * 0.6745 / 40;
        # a counting pass decides that without sorting in all but the tie cases
        verdict = median_abs_diff_below(x, a_r, b_r, steep * 0.6745 / 40.0)
        if verdict == 0:
            art = -1
        elif verdict == 2:
            sig_r = diff_sigma_robust(x, a_r, b_r)
            if not (sig_r > 0.0):
                sig_r = sigma
            if not (steep > 40.0 * sig_r * math.sqrt(2.0)):
                art = -1
        if art >= 0 and lo_srch > 0 and art - lo_srch <= half:
            # an artifact found near the search window's start may run on from before it: a step
            # of the same size (30 % of the steepest) in the half millisecond before the window
            # says it does, and then where the pulse was cannot be said
            _, before = _steepest(x, lo_srch - half - 1, lo_srch + 1)
            if before >= 0.3 * steep:
                out[R_STATUS] = S_NO_STIMULUS
                out[R_FLAGS] = int(out[R_FLAGS]) | F_WHY_ARTIFACT_EDGE
                return empty
    elif not at_marker:
        art = -1
    ahead = int(round(p[P_ARTIFACT_AHEAD_MS] * 1e-3 * fs))
    if art < 0 and not at_marker and ahead > half and p[P_ARTIFACT_AHEAD_RATIO] > 0.0:
        # 2. nothing stands out there: a marker written before the pulse has the artifact after
        #    it.  Taken only when unmistakable (a response's rise must never be): at least
        #    P_ARTIFACT_AHEAD_MIN_V and 40 noise SDs, a step (_is_step: half of its excursion over
        #    the next millisecond within 0.1 ms) and P_ARTIFACT_AHEAD_RATIO times steeper than
        #    anything from 1 ms after its start to the end of the sweep
        fa, fsteep = artifact_candidate(x, stim + half - 2, stim + ahead)  # (overlapping: no step falls between)
        if fa >= 0 and fsteep >= p[P_ARTIFACT_AHEAD_MIN_V] and fsteep > 40.0 * sigma * math.sqrt(2.0):
            _, after = _steepest(x, fa + int(round(1e-3 * fs)), n)
            if fsteep > p[P_ARTIFACT_AHEAD_RATIO] * after and _is_step(x, fa - 1, fs):
                art = fa
    if art < 0 and not at_marker and lo_srch > 3 and p[P_ARTIFACT_AHEAD_RATIO] > 0.0:
        # 3. no artifact at the marker nor near it: one wholly before the search window (a marker more
        #    than artifact_search_ms after the pulse) sits in the baseline and the response would read
        #    absent.  A step there as unmistakable as in 2 (P_ARTIFACT_AHEAD_MIN_V, 40 noise SDs,
        #    _is_step, P_ARTIFACT_AHEAD_RATIO times steeper than anything from the marker on) is one
        i_pre, pre_steep = _steepest(x, 0, lo_srch)
        if pre_steep >= p[P_ARTIFACT_AHEAD_MIN_V] and _is_step(x, i_pre, fs):  # (the step: i_pre -> i_pre + 1)
            verdict = median_abs_diff_below(x, 0, lo_srch, pre_steep * 0.6745 / 40.0)
            if verdict == 2:
                sig_r = diff_sigma_robust(x, 0, lo_srch)
                verdict = 1 if sig_r > 0.0 and pre_steep > 40.0 * sig_r * math.sqrt(2.0) else 0
            if verdict == 1:
                _, post_max = _steepest(x, stim, n)
                if pre_steep > p[P_ARTIFACT_AHEAD_RATIO] * post_max:
                    out[R_STATUS] = S_NO_STIMULUS
                    out[R_FLAGS] = int(out[R_FLAGS]) | F_WHY_ARTIFACT_EDGE
                    return empty
    if art >= 0 and abs(art - stim) > tol:
        stim = art
        out[R_FLAGS] = int(out[R_FLAGS]) | F_STIM_FROM_ARTIFACT
        if stim - guard < min_pre and (int(out[R_FLAGS]) & F_BASELINE_POST) == 0:
            out[R_STATUS] = S_NO_BASELINE
            return empty
        if (int(out[R_FLAGS]) & F_BASELINE_POST) == 0:
            pre_end = stim - guard
            base = window_mean(x, 0, pre_end)
            sigma = diff_sigma(x, 0, pre_end)
            for i in range(n):
                d[i] = x[i] - base
    out[R_STIM_INDEX] = stim
    out[R_BASELINE_V] = base
    out[R_NOISE_V] = sigma
    # samples not in volts (mV or µV passed as volts, or after the amplifier's gain): an
    # offset or a baseline noise no nerve-conduction recording has is a quality failure.  The
    # noise is judged on the robust SD (an artifact spike in the baseline window inflates the
    # plain one), computed only on this rare path; a window too short for it is not judged
    if p[P_MAX_OFFSET_V] > 0.0 and abs(base) > p[P_MAX_OFFSET_V]:
        out[R_STATUS] = S_IMPLAUSIBLE
        out[R_FLAGS] = int(out[R_FLAGS]) | F_UNITS_OFFSET
        return empty
    if p[P_MAX_NOISE_V] > 0.0 and sigma > p[P_MAX_NOISE_V]:
        rs = diff_sigma_robust(x, ba, bb) if post else diff_sigma_robust(x, 0, stim - guard)
        if rs > p[P_MAX_NOISE_V]:
            out[R_STATUS] = S_IMPLAUSIBLE
            out[R_FLAGS] = int(out[R_FLAGS]) | F_UNITS_NOISE
            out[R_NOISE_V] = rs  # the robust SD the decision was made on
            return empty
    if p[P_MIN_NOISE_V] > 0.0 and sigma < p[P_MIN_NOISE_V]:
        # too small: judged on the robust SD of the baseline's level, which a low-pass filter does
        # not lower as it does the differences' (a quantised baseline mostly at one value reads 0
        # there and is not judged)
        rs = level_sigma_robust(x, ba, bb) if post else level_sigma_robust(x, 0, stim - guard)
        if 0.0 < rs < p[P_MIN_NOISE_V]:
            out[R_STATUS] = S_IMPLAUSIBLE
            out[R_FLAGS] = int(out[R_FLAGS]) | F_UNITS_NOISE
            out[R_NOISE_V] = rs
            return empty
    return d


@njit(cache=True, nogil=True)
def _artifact(d: np.ndarray, fs: float, stim: int, sigma: float, p: np.ndarray, out: np.ndarray,
              stop: int = -1) -> int:
    """Remove a decaying artifact tail from ``d`` in place; return the first searchable sample.

    The tail is fitted on samples before ``stop`` (all when negative).
    """
    n = d.size
    if stop < 0 or stop > n:
        stop = n
    hi = stim + int(round(p[P_ARTIFACT_MS] * 1e-3 * fs))
    pe = pulse_end(d, stim, hi)
    min_lat = stim + int(round(p[P_MIN_LATENCY_MS] * 1e-3 * fs))
    start = pe
    if pe < n - 4:
        amp, tau, last = fit_exp_tail(d, pe, stop, sigma, fs)
        if tau > 0.0:
            # where the search may start: once the removed tail is small against the noise (below
            # 5 noise SDs, where its model error is too) -- or, when the trace left the tail before
            # that (a response, or the fit stopped by the noise), once the extrapolated model's
            # standard error is (tail_search_start; not when the fit is no exponential).  The old
            # rule alone searched a 30 mV artifact's nerve response from 5.4 ms: a 1 mV response
            # peaking there read absent, and the nCMAP/mCMAP ratio 0
            step = math.exp(-1.0 / tau)
            v = amp
            k = -1
            for i in range(pe, n):
                if k < 0 and abs(v) <= 5.0 * sigma:
                    k = i
                if abs(v) < 1e-3 * sigma:
                    break
                v *= step
            sw, st, stt = _tail_sums(d, pe, last)
            den = sw * stt - st * st
            if den > 0.0:
                out[R_TAIL_VAR_A] = sigma * sigma * stt / den
                out[R_TAIL_COV] = -sigma * sigma * st / den
                out[R_TAIL_VAR_SLOPE] = sigma * sigma * sw / den
            if k < 0 or k > last + 1:
                # the trace left the tail before the tail was small.  Beyond the tail's untrusted
                # quarter and 6 noise SDs somewhere before the old start, it is a response growing
                # out of the tail: search from where the model is known well enough.  Within it, a
                # tail that is not quite an exponential (the median of F-wave sweeps) or a response
                # too small to tell from the tail's remains: keep the old start, but "absent" cannot
                # be said (F_TAIL_RESIDUE)
                hi_k = k if k >= 0 else n
                v = amp * math.exp(-(last + 1 - pe) / tau)
                excess = 0.0
                residue = False
                for i in range(last + 1, hi_k):
                    r = abs(d[i] - v)
                    residue = residue or r > 6.0 * sigma
                    if r - 0.25 * abs(v) > excess:
                        excess = r - 0.25 * abs(v)
                    v *= step
                if residue:
                    out[R_FLAGS] = int(out[R_FLAGS]) | F_TAIL_RESIDUE
                if excess > 6.0 * sigma:
                    k_se = tail_search_start(d, pe, last, amp, tau, sigma)
                    if k_se >= 0 and (k < 0 or k_se < k):
                        k = k_se
                        out[R_TAIL_DEPARTURE] = last + 1
            # subtract the tail by recurrence (one multiplication per sample) until it is
            # negligible (below 0.1 % of the noise)
            v = amp
            for i in range(pe, n):
                if abs(v) < 1e-3 * sigma:
                    break
                d[i] -= v
                v *= step
            out[R_FLAGS] = int(out[R_FLAGS]) | F_ARTIFACT_TAIL_REMOVED
            start = k if k >= 0 else n
            out[R_TAIL_AMP_V] = amp
            out[R_TAIL_TAU] = tau
            out[R_TAIL_START] = pe
    if start < min_lat:
        start = min_lat
    out[R_ARTIFACT_END] = pe
    return start


@njit(cache=True, nogil=True)
def _restore_tail(d: np.ndarray, out: np.ndarray, sigma: float) -> None:
    """Add back to ``d`` the artifact tail :func:`_artifact` subtracted (the same recurrence)."""
    tau = out[R_TAIL_TAU]
    if not (tau > 0.0):
        return
    step = math.exp(-1.0 / tau)
    v = out[R_TAIL_AMP_V]
    for i in range(int(out[R_TAIL_START]), d.size):
        if abs(v) < 1e-3 * sigma:
            break
        d[i] += v
        v *= step


@njit(cache=True, nogil=True)
def _has_repeat(x: np.ndarray, a: int, b: int) -> bool:
    """Whether ``x[i] == x[i - 1]`` for some ``i`` in ``(a, b)`` (``0 <= a``, ``b <= x.size``):
    a count over a view (no branch in the loop)."""
    if b - a < 2:
        return False
    xv = x[a:b]
    cnt = 0
    for k in range(1, b - a):
        cnt += 1 if xv[k] == xv[k - 1] else 0
    return cnt > 0


@njit(cache=True, nogil=True)
def measure_response(x: np.ndarray, fs: float, stim: int, p: np.ndarray) -> np.ndarray:
    """Measure one evoked response; see the module docstring.  Returns a result vector."""
    out = np.empty(N_RESULTS)
    measure_into(x, fs, stim, p, out)
    return out


@njit(cache=True, nogil=True)
def _auto_polarity(y: np.ndarray, start: int, search_end: int, initial_positive: bool) -> tuple[float, float, float]:
    """Polarity of the response in the smoothed trace ``y`` (1: main phase negative, -1: an
    inverted export) and the trace's minimum and maximum over ``[start, search_end)``: inverted
    when a positive half of the largest deflection comes before a negative one (for responses
    without an initial positive phase), or when the positive peak is more than 1.5 times the
    negative one (responses with one, whose first phase is positive)."""
    ymin, ymax = _minmax(y, start, search_end)
    vmin = ymin if ymin < 0.0 else 0.0
    vmax = ymax if ymax > 0.0 else 0.0
    big = max(-vmin, vmax)
    pol = 1.0
    for i in range(start, search_end):
        if y[i] <= -0.5 * big:
            break
        if y[i] >= 0.5 * big and not initial_positive:
            pol = -1.0
            break
    if initial_positive and vmax > 1.5 * (-vmin):
        pol = -1.0
    return pol, ymin, ymax


@njit(cache=True, nogil=True)
def _drop_response(out: np.ndarray) -> None:
    """Forget the response's markers and values (a response that cannot be told from the artifact)."""
    out[R_STATUS] = S_ARTIFACT
    for k in (R_ONSET, R_ONSET_SHARE, R_NEG_PEAK, R_NEG_END, R_POS_PEAK, R_END, R_AMPLITUDE_V, R_P2P_V,
              R_NEG_AREA_VS, R_TOTAL_AREA_VS):
        out[k] = np.nan


@njit(cache=True, nogil=True)
def measure_into(x: np.ndarray, fs: float, stim: int, p: np.ndarray, out: np.ndarray) -> None:
    """:func:`measure_response` writing its result vector into ``out`` (length ``N_RESULTS``)."""
    for k in range(N_RESULTS):
        out[k] = np.nan
    out[R_FLAGS] = 0.0
    out[R_POLARITY] = 1.0
    d = _prepare(x, fs, stim, p, out)
    if d.size == 0:
        return
    stim = int(out[R_STIM_INDEX])
    sigma = out[R_NOISE_V]
    n = d.size
    search_end = stim + int(round(p[P_SEARCH_MS] * 1e-3 * fs))
    if search_end > n - 1:
        search_end = n - 1
    start = _artifact(d, fs, stim, sigma, p, out)
    if start >= search_end - 2:
        out[R_STATUS] = S_TOO_SHORT
        return
    # polarity: the main phase is negative unless the export is inverted
    pol = p[P_POLARITY]
    ymin = np.nan
    ymax = np.nan
    w_s = _smooth_width(fs, p)
    y = moving_average(d, w_s)
    if pol == 0.0:
        pol, ymin, ymax = _auto_polarity(y, start, search_end, p[P_INITIAL_POSITIVE] > 0.0)
    if pol < 0.0:
        for i in range(n):
            d[i] = -d[i]
            y[i] = -y[i]
        out[R_FLAGS] = int(out[R_FLAGS]) | F_INVERTED
        out[R_POLARITY] = -1.0
    # first pass
    # the polarity pass already knows the minimum over the search window
    hint = np.nan
    if p[P_POLARITY] == 0.0 and search_end > start:
        hint = ymin if pol > 0.0 else -ymax
    _markers(d, y, fs, stim, start, search_end, sigma, p, out, hint)
    # a response grown out of the artifact tail (the search started early, see _artifact): the
    # tail's fit may hold the response's first samples, taken in before the trace left the tail by
    # 3 noise SDs (a 0.3 mV CMAP 0.5 ms after a 3 mV artifact with a 1 ms tail read 13 % low).
    # Fit the tail again on the samples before the onset found and measure again, once (again and
    # again, each onset a little earlier than the last fitted the tail on ever fewer samples).  A
    # response that begins within four samples of the pulse's end leaves no tail to fit: it cannot
    # be told from the artifact (below)
    tail_stop = -1
    entangled = False
    if not np.isnan(out[R_TAIL_DEPARTURE]) and out[R_STATUS] == S_OK and not np.isnan(out[R_ONSET]):
        tail_stop = int(out[R_ONSET])
        if tail_stop - int(out[R_TAIL_START]) < 4:
            entangled = True
            tail_stop = -1
        elif tail_stop >= int(out[R_TAIL_DEPARTURE]):
            tail_stop = -1  # the fit already ends before the onset
    if tail_stop >= 0:
        keep_out = out.copy()
        keep_d = d.copy()
        keep_start = start
        base = out[R_BASELINE_V]
        for i in range(n):
            d[i] = x[i] - base
        for k in (R_TAIL_AMP_V, R_TAIL_TAU, R_TAIL_START, R_TAIL_DEPARTURE, R_TAIL_VAR_A, R_TAIL_COV,
                          R_TAIL_VAR_SLOPE):
            out[k] = np.nan
        out[R_FLAGS] = int(out[R_FLAGS]) & ~(F_ARTIFACT_TAIL_REMOVED | F_TAIL_RESIDUE | F_ONSET_NOT_PLACED | F_NEG_END_NOT_PLACED
                                             | F_END_NOT_PLACED | F_LOW_SNR | F_ARTIFACT_OVERLAP)
        start = _artifact(d, fs, stim, sigma, p, out, tail_stop)
        if start < search_end - 2:
            if out[R_POLARITY] < 0.0:  # the polarity judged in the first pass stays
                for i in range(n):
                    d[i] = -d[i]
            for k in (R_ONSET, R_NEG_PEAK, R_NEG_END, R_POS_PEAK, R_END, R_AMPLITUDE_V, R_P2P_V,
                      R_NEG_AREA_VS, R_TOTAL_AREA_VS):
                out[k] = np.nan
            _markers(d, moving_average(d, w_s), fs, stim, start, search_end, sigma, p, out)
        if start >= search_end - 2 or out[R_STATUS] != S_OK or np.isnan(out[R_ONSET]):
            # the tail fitted on the few samples before the onset is not known well enough where the
            # response is (a 2 mV response 0.25 ms after the pulse): keep the first fit, whose share
            # of the response is small when it left the tail quickly
            out[:] = keep_out
            d[:] = keep_d
            start = keep_start
            tail_stop = -1
    # baseline model on the samples outside the response (pass 2): offset, drift and, when
    # significant, mains hum; needs a pre-stimulus window and a post-response window
    hum_polarity = False  # a SNAP whose cleaned trace still looks inverted (see below)
    if out[R_STATUS] == S_OK or out[R_STATUS] == S_ABSENT or out[R_STATUS] == S_ARTIFACT:
        guard = int(round(p[P_PRE_GUARD_MS] * 1e-3 * fs))
        capped = False  # the window after the response placed by P_MAX_TAIL_MS
        tail = p[P_MAX_TAIL_MS]
        a1, b1 = 0, stim - guard
        if (int(out[R_FLAGS]) & F_BASELINE_POST) != 0:
            b1 = 0
        if out[R_STATUS] == S_OK:
            # where the response has surely ended: the positive phase lasts at most about
            # twice the negative one; hum or drift may hide the threshold-based end
            # (the positive phase lasts about twice the negative one, i.e. about four times the
            # peak-to-zero-crossing interval); hum or drift may hide the threshold-based end
            end = out[R_END]
            if not np.isnan(out[R_NEG_END]) and not np.isnan(out[R_NEG_PEAK]):
                guess = out[R_NEG_END] + 4.0 * (out[R_NEG_END] - out[R_NEG_PEAK])
                if np.isnan(end) or guess < end:
                    end = guess
            if np.isnan(end):
                end = float(search_end)
            a2 = int(end) + int(round(2e-3 * fs))
            # a slow, long response (myopathic) in a short sweep may leave less than a mains
            # period after that guess, too little to see the hum: then allow the response
            # twice its onset-to-zero-crossing time after the crossing (total duration about
            # three times the negative-peak duration), and let pass 3 move the window if needed
            period = int(round(fs / (p[P_MAINS_HZ] if p[P_MAINS_HZ] > 0.0 else 50.0)))
            if (p[P_MAINS_HZ] != 0.0 and n - a2 < period
                    and not np.isnan(out[R_ONSET]) and not np.isnan(out[R_NEG_END])):
                alt = int(out[R_NEG_END] + 2.0 * (out[R_NEG_END] - out[R_ONSET])) + int(round(2e-3 * fs))
                if alt < a2:
                    a2 = alt
            # a response of known kind is over within P_MAX_TAIL_MS of its negative peak: hum can
            # hold the trace off the baseline long after a SNAP (its negative phase then "ends" 9 ms
            # after the peak), which left no window to see the hum in
            if tail > 0.0 and not np.isnan(out[R_NEG_PEAK]):
                cap = int(out[R_NEG_PEAK] + tail * 1e-3 * fs)
                if cap < a2:
                    a2 = cap
                    capped = True
        else:
            a2 = search_end
        b2 = n
        if a2 > b2:
            a2 = b2
        n1 = b1 - a1
        n2 = b2 - a2
        if out[R_STATUS] == S_OK:
            # the sweep ends before a quiet stretch after the response long enough to look for
            # drift (3 ms) or mains hum (4 ms, 8 ms with the pre-stimulus window): say so, the
            # amplitude and latencies may carry them
            short = n2 < int(round(3e-3 * fs))
            if p[P_MAINS_HZ] != 0.0 and (n2 < int(round(4e-3 * fs)) or n1 + n2 < int(round(8e-3 * fs))):
                short = True
            if short:
                out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_UNCHECKED
        if n1 >= int(round(1e-3 * fs)) and n2 >= int(round(3e-3 * fs)):
            m = n1 + n2
            ncol = 2
            hum_f = 0.0
            mains = p[P_MAINS_HZ]
            m1 = window_mean(d, a1, b1)  # the pre-stimulus level (d is not changed until the fit)
            if mains != 0.0 and n2 >= int(round(4e-3 * fs)) and m >= int(round(8e-3 * fs)):
                thr_h = 6.0 * sigma * math.sqrt(2.0 / m)
                # a hum below 3 µV is not fitted -- unless the response is small enough for it to
                # matter: 10 % of a SNAP of less than 30 µV (a 15 µV SNAP read 20 µV with 3 µV
                # of hum left in; CMAPs and larger SNAPs keep the 3 µV floor)
                floor_h = 3e-6
                if out[R_STATUS] == S_OK and 0.1 * out[R_AMPLITUDE_V] < floor_h:
                    floor_h = 0.1 * out[R_AMPLITUDE_V]
                if thr_h < floor_h:
                    thr_h = floor_h
                best_h = 0.0
                best_r = np.inf
                for f in (50.0, 60.0):
                    if mains > 0.0 and f != mains:
                        continue
                    # cheap screen: a projection far below the threshold means no hum worth a fit
                    proj = tone_amplitude(d, a1, b1, a2, b2, fs, f, m1)
                    if proj < 0.6 * thr_h:
                        continue
                    mod = fit_baseline_model(d, a1, b1, a2, b2, fs, f, 8)
                    if np.isnan(mod[0]):
                        continue
                    rss = 0.0
                    for i in range(a1, b1):
                        rss += (d[i] - mod[i]) ** 2
                    for i in range(a2, b2):
                        rss += (d[i] - mod[i]) ** 2
                    if rss < best_r:
                        best_r = rss
                        best_h = tone_amplitude(mod, a1, b1, a2, b2, fs, f, window_mean(mod, 0, n))
                        hum_f = f
                if best_h > thr_h:
                    ncol = 8
                else:
                    hum_f = 0.0
            # drift: only when the pre- and post-response levels differ beyond the noise
            m2 = window_mean(d, a2, b2)
            se = sigma * math.sqrt(1.0 / n1 + 1.0 / n2)
            drift = abs(m2 - m1) > 5.0 * se
            if ncol == 8 or drift:
                model = fit_baseline_model(d, a1, b1, a2, b2, fs, hum_f, ncol)
                if not np.isnan(model[0]) and ncol == 8 and tail > 0.0 and out[R_STATUS] == S_OK:
                    # a response of known kind (SNAPs): the first pass, hum in, may have taken a hum
                    # trough for the response and its polarity from the hum (single 20 ms sweeps
                    # under 20-80 µV of hum: peaks read 2-7 ms late, inverted), and the window after
                    # it then starts late: the hum is interpolated over a long gap (a 12 ms gap at
                    # 10 kHz left 11 µV of hum at a 10 µV SNAP's peak).  Judge the polarity and find
                    # the response on the cleaned trace, start the window P_MAX_TAIL_MS after that
                    # peak at the latest, fit again; up to three times, until the window stays.  (A
                    # first pass that found nothing keeps the window after the search window: moved
                    # to a peak found in noise it lost SNAPs of two noise SDs, e.g. 10 µV in 5 µV)
                    for _ in range(3):
                        d2 = d - model
                        y2 = moving_average(d2, w_s)
                        if p[P_POLARITY] == 0.0:
                            sg, _, _ = _auto_polarity(y2, start, search_end, p[P_INITIAL_POSITIVE] > 0.0)
                            if sg < 0.0:
                                for i in range(n):
                                    d2[i] = -d2[i]
                                    y2[i] = -y2[i]
                        tmp = out.copy()
                        for k in (R_ONSET, R_NEG_PEAK, R_NEG_END, R_POS_PEAK, R_END, R_AMPLITUDE_V):
                            tmp[k] = np.nan
                        _markers(d2, y2, fs, stim, start, search_end, sigma, p, tmp)
                        if tmp[R_STATUS] != S_OK or np.isnan(tmp[R_NEG_PEAK]):
                            break
                        cap = int(tmp[R_NEG_PEAK] + tail * 1e-3 * fs)
                        a2b = cap
                        if not np.isnan(tmp[R_NEG_END]):
                            g = tmp[R_NEG_END] + 4.0 * (tmp[R_NEG_END] - tmp[R_NEG_PEAK])
                            if int(g) + int(round(2e-3 * fs)) < a2b:
                                a2b = int(g) + int(round(2e-3 * fs))
                        if a2b == a2 or b2 - a2b < int(round(4e-3 * fs)):
                            break
                        a2 = a2b
                        model = fit_baseline_model(d, a1, b1, a2, b2, fs, hum_f, ncol)
                        if np.isnan(model[0]):
                            break
                elif not np.isnan(model[0]) and ncol == 8:
                    # hum distorts the first pass: measure once on the cleaned trace, move the
                    # post-response window after the response found there, and fit again
                    d2 = d - model
                    tmp = out.copy()
                    for k in (R_ONSET, R_NEG_PEAK, R_NEG_END, R_POS_PEAK, R_END, R_AMPLITUDE_V):
                        tmp[k] = np.nan
                    _markers(d2, moving_average(d2, w_s), fs, stim, start, search_end, sigma, p, tmp)
                    if tmp[R_STATUS] == S_OK and not np.isnan(tmp[R_NEG_END]) and not np.isnan(tmp[R_NEG_PEAK]):
                        g = tmp[R_NEG_END] + 4.0 * (tmp[R_NEG_END] - tmp[R_NEG_PEAK])
                        a2b = int(g) + int(round(2e-3 * fs))
                        if a2b != a2 and b2 - a2b >= int(round(4e-3 * fs)):
                            a2 = a2b
                            model = fit_baseline_model(d, a1, b1, a2, b2, fs, hum_f, ncol)
                if not np.isnan(model[0]) and out[R_STATUS] == S_OK and not capped:
                    # (a window placed by P_MAX_TAIL_MS lies after the response by that rule)
                    # a response that has not ended by the end of the sweep leaves its tail in the
                    # post-response window, where the model takes it for drift and hum.  Judged by
                    # the rule of the end marker: the residual's 0.5 ms average still beyond
                    # max(end_fraction x amplitude, 4 SD) in the sweep's last OUTLAST_MS.  Then keep
                    # the first pass (pre-stimulus baseline only) and say so; the end is unknown
                    w2 = int(round(0.5e-3 * fs)) | 1
                    lvl = p[P_END_FRACTION] * out[R_AMPLITUDE_V]
                    if not lvl >= 4.0 * sigma / math.sqrt(w2):
                        lvl = 4.0 * sigma / math.sqrt(w2)
                    a3 = b2 - int(round(OUTLAST_MS * 1e-3 * fs))
                    if a3 < a2:
                        a3 = a2
                    if residual_excursion(d, model, a3, b2, w2) >= lvl:
                        out[R_FLAGS] = int(out[R_FLAGS]) | F_RESPONSE_OUTLASTS_SWEEP | F_END_NOT_PLACED
                        out[R_END] = np.nan
                        out[R_TOTAL_AREA_VS] = np.nan
                        model[0] = np.nan
                if not np.isnan(model[0]):
                    refit = (int(out[R_FLAGS]) & F_ARTIFACT_TAIL_REMOVED) != 0
                    if refit:
                        # the artifact tail was fitted with the hum and drift still in the trace,
                        # which bends it (tens of µV left at a 1.5 ms onset): put it back and fit
                        # it again on the cleaned trace
                        _restore_tail(d, out, sigma)
                    for i in range(n):
                        d[i] -= model[i]
                    if ncol == 8 and p[P_POLARITY] == 0.0 and tail > 0.0:
                        # a response of known kind (SNAPs): an inverted export is a property of the
                        # whole file, not of one sweep, and a SNAP read upside down is a wrong number.
                        # Under hum the polarity evidence is the hum's (single 20 ms sweeps, 20-80 µV of
                        # hum on 10-20 µV SNAPs: 6 of the 16 sweeps misread without a flag had been read
                        # inverted after the hum was removed, at hum troughs 1.5-6 ms from the SNAP,
                        # amplitudes 4.8-9.9 µV off): keep the normal polarity, and when the cleaned
                        # trace still looks inverted the sweep cannot be read (baseline_unstable,
                        # below); polarity="inverted" measures such a file
                        if out[R_POLARITY] < 0.0:
                            for i in range(n):
                                d[i] = -d[i]
                            out[R_FLAGS] = int(out[R_FLAGS]) & ~F_INVERTED
                            out[R_POLARITY] = 1.0
                        pol2, _, _ = _auto_polarity(moving_average(d, w_s), start, search_end,
                                                    p[P_INITIAL_POSITIVE] > 0.0)
                        hum_polarity = pol2 < 0.0
                    elif ncol == 8 and p[P_POLARITY] == 0.0:
                        # the polarity was judged with the hum in the trace: judge it again without
                        pol2, _, _ = _auto_polarity(moving_average(d, w_s), start, search_end,
                                                    p[P_INITIAL_POSITIVE] > 0.0)
                        if pol2 < 0.0:
                            for i in range(n):
                                d[i] = -d[i]
                            out[R_FLAGS] = int(out[R_FLAGS]) ^ F_INVERTED
                            out[R_POLARITY] = -out[R_POLARITY]
                    if refit:
                        out[R_FLAGS] = int(out[R_FLAGS]) & ~(F_ARTIFACT_TAIL_REMOVED | F_TAIL_RESIDUE)
                        for k in (R_TAIL_AMP_V, R_TAIL_TAU, R_TAIL_START, R_TAIL_DEPARTURE, R_TAIL_VAR_A, R_TAIL_COV,
                          R_TAIL_VAR_SLOPE):
                            out[k] = np.nan
                        start = _artifact(d, fs, stim, sigma, p, out, tail_stop)
                        if start >= search_end - 2:
                            out[R_STATUS] = S_TOO_SHORT
                            return
                    if ncol == 8:
                        out[R_FLAGS] = int(out[R_FLAGS]) | F_HUM_REMOVED
                        out[R_HUM_V] = tone_amplitude(model, a1, b1, a2, b2, fs, hum_f, window_mean(model, 0, n))
                    if drift:
                        out[R_FLAGS] = int(out[R_FLAGS]) | F_DRIFT_REMOVED
                    keep = int(out[R_FLAGS]) & ~(F_ONSET_NOT_PLACED | F_NEG_END_NOT_PLACED | F_END_NOT_PLACED
                                                 | F_LOW_SNR | F_ARTIFACT_OVERLAP)
                    for k in (R_ONSET, R_NEG_PEAK, R_NEG_END, R_POS_PEAK, R_END, R_AMPLITUDE_V, R_P2P_V,
                              R_NEG_AREA_VS, R_TOTAL_AREA_VS):
                        out[k] = np.nan
                    out[R_FLAGS] = keep
                    _markers(d, moving_average(d, w_s), fs, stim, start, search_end, sigma, p, out)
                    if ncol == 8 and not np.isnan(out[R_NEG_PEAK]):
                        out[R_HUM_SE_V] = sigma * model_se(a1, b1, a2, b2, n, fs, hum_f, ncol,
                                                           int(round(out[R_NEG_PEAK])))
    # a SNAP has ended within P_MAX_TAIL_MS of its negative peak: a trace that has not come back
    # to the baseline by then, with sweep left after it, carries hum or drift that could not be
    # removed (the baseline model's window too short, or the model refused), and the amplitude
    # with it (a 15 µV SNAP under 50 µV of hum read 20-45 µV)
    tail = p[P_MAX_TAIL_MS]
    if (tail > 0.0 and out[R_STATUS] == S_OK and np.isnan(out[R_END]) and not np.isnan(out[R_NEG_PEAK])
            and out[R_NEG_PEAK] + tail * 1e-3 * fs < n - 1):
        out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_UNSTABLE
    if hum_polarity and out[R_STATUS] == S_OK:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_UNSTABLE | F_WHY_POLARITY
    if (tail > 0.0 and out[R_STATUS] == S_OK and p[P_MAX_HUM_SE] > 0.0
            and out[R_HUM_SE_V] > p[P_MAX_HUM_SE] * out[R_AMPLITUDE_V]):
        # the hum was interpolated across the response from windows too far from it: the model's own
        # uncertainty at the peak is a fair share of the amplitude (single 20 ms sweeps at 10 kHz whose
        # window after the response started 13-16 ms into the sweep: 0.75-0.91 of the amplitude, a
        # hum trough read as a 12-73 µV SNAP where there was none; every sweep measured within 4 µV
        # had at most 0.09)
        out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_UNSTABLE | F_WHY_HUM_SE
    mains = p[P_MAINS_HZ]
    if (tail > 0.0 and mains != 0.0 and out[R_STATUS] == S_OK and (int(out[R_FLAGS]) & F_BASELINE_UNCHECKED) != 0
            and (int(out[R_FLAGS]) & F_HUM_REMOVED) == 0):
        # the hum could not be looked for around the response (the window after it too short): how
        # much is in the sweep is still seen over the whole of it, where a SNAP's own share is at most
        # 3.6 % of its amplitude (20 ms sweeps, clean SNAPs 10-20 µV at 100-200 mm, 10-48 kHz).  Hum
        # standing out of the noise (as for the fit: 6 SE) by more than P_MAX_UNREMOVED_HUM of the
        # amplitude is in the amplitude and the latencies (single sweeps, 20-80 µV of hum: hum troughs
        # read as 10 µV SNAPs of 27-68 µV)
        h = 0.0
        mean_d = window_mean(d, 0, n)
        for f in (50.0, 60.0):
            if mains > 0.0 and f != mains:
                continue
            hf = tone_amplitude(d, 0, n, n, n, fs, f, mean_d)
            if hf > h:
                h = hf
        if h > 6.0 * sigma * math.sqrt(2.0 / n) and h > p[P_MAX_UNREMOVED_HUM] * out[R_AMPLITUDE_V]:
            out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_UNSTABLE | F_WHY_HUM
            out[R_HUM_V] = h
    if (tail > 0.0 and out[R_STATUS] == S_ABSENT and p[P_K_RESIDUAL] > 0.0
            and ((int(out[R_FLAGS]) & F_HUM_REMOVED) != 0 or hum_polarity)):
        # "absent" is said against the noise floor: after hum removal the cleaned search window must
        # be noise.  Its 0.5 ms moving average beyond P_K_RESIDUAL of its SDs (either sign) is hum
        # the model did not remove or a response it hid: the sweep cannot be judged
        # (from the earliest latency, not the search start: a decaying stretch of hum read as an
        # artifact tail moved the search start past a 10 µV SNAP at 20 kHz)
        w_r = int(round(0.5e-3 * fs)) | 1
        zero = np.zeros(n)
        ex = residual_excursion(d, zero, stim + int(round(p[P_MIN_LATENCY_MS] * 1e-3 * fs)), search_end, w_r)
        if ex > p[P_K_RESIDUAL] * sigma / math.sqrt(w_r):
            out[R_FLAGS] = int(out[R_FLAGS]) | F_BASELINE_UNSTABLE | F_WHY_RESIDUAL
    if out[R_STATUS] == S_ABSENT and (int(out[R_FLAGS]) & F_TAIL_RESIDUE) != 0 and np.isnan(out[R_TAIL_DEPARTURE]):
        # the stretch the search skipped (the artifact tail above 5 noise SDs) left the tail by more
        # than the noise: a response may hide there (a 0.3 mV CMAP 2 ms after a 30 mV artifact with a
        # 2 ms tail read absent)
        out[R_STATUS] = S_ARTIFACT
    if (out[R_STATUS] == S_OK and (int(out[R_FLAGS]) & F_TAIL_RESIDUE) != 0 and np.isnan(out[R_TAIL_DEPARTURE])
            and (np.isnan(out[R_ONSET]) or (p[P_POLARITY] == 0.0 and out[R_POLARITY] < 0.0))):
        # a response found after that stretch whose rise runs into the start of the search, or whose
        # polarity was judged from what followed the stretch: the stretch may hold its first phase
        # (2 mV and 0.3 mV responses 0.3-0.9 ms after 3-30 mV artifacts with 1 ms tails read inverted at
        # 45 % of their amplitude)
        _drop_response(out)
    if out[R_STATUS] == S_OK and not np.isnan(out[R_TAIL_DEPARTURE]):
        # a response found where the trace left the artifact tail before the tail was small: it must
        # begin where the trace left the tail, out of a quiet stretch.  Its onset not placed (the rise
        # runs into the start of the search), a deflection beyond the noise's presence threshold and
        # three standard errors of the tail model between the departure from the tail and the onset (the response's
        # first phase before a search start set late by an uncertain tail model, the second phase read
        # as the response: a 2 mV CMAP 0.5 ms after a 30 mV artifact with a 2 ms tail read inverted
        # at 44 % of its amplitude), or a start within four samples of the pulse's end: it cannot be
        # told from the artifact
        obscured = entangled or np.isnan(out[R_ONSET])
        if not obscured:
            w = _smooth_width(fs, p)
            thr0 = p[P_K_PRESENCE] * sigma / math.sqrt(w)
            if thr0 < p[P_MIN_AMPLITUDE_V]:
                thr0 = p[P_MIN_AMPLITUDE_V]
            y = moving_average(d, w)
            ts = out[R_TAIL_START]
            ta = abs(out[R_TAIL_AMP_V])
            tt = out[R_TAIL_TAU]
            va = out[R_TAIL_VAR_A]
            cv = out[R_TAIL_COV]
            vs = out[R_TAIL_VAR_SLOPE]
            lo = int(out[R_TAIL_DEPARTURE])  # from where the trace left the tail (the search may start later)
            if lo > start:
                lo = start
            for i in range(lo, int(out[R_ONSET])):
                # the noise threshold and three standard errors of the subtracted tail model there
                t = float(i - ts)
                q = va + 2.0 * t * cv + t * t * vs
                lim = thr0 + 3.0 * ta * math.exp(-t / tt) * math.sqrt(q if q > 0.0 else 0.0)
                if not (abs(y[i]) <= lim):
                    obscured = True
                    break
        if obscured:
            out[R_FLAGS] = int(out[R_FLAGS]) | F_ONSET_NOT_PLACED
            _drop_response(out)
    if (out[R_STATUS] == S_ABSENT or out[R_STATUS] == S_ARTIFACT) and (int(out[R_FLAGS]) & F_INVERTED) != 0:
        # no response (or none that can be told from the artifact): there is no polarity to speak of
        out[R_FLAGS] = int(out[R_FLAGS]) & ~F_INVERTED
        out[R_POLARITY] = 1.0
    # clipping: samples at the converter rails inside the response make amplitude unknowable
    rlo = p[P_RAIL_LO]
    rhi = p[P_RAIL_HI]
    a = int(out[R_ARTIFACT_END]) if not np.isnan(out[R_ARTIFACT_END]) else stim
    b = int(out[R_END]) + 1 if not np.isnan(out[R_END]) else search_end
    if b > n:
        b = n
    run = 0
    worst = 0
    no_rails = np.isnan(rlo) and np.isnan(rhi)
    lo_thr = rlo + 1e-9 * abs(rlo) if not np.isnan(rlo) else -np.inf
    hi_thr = rhi - 1e-9 * abs(rhi) if not np.isnan(rhi) else np.inf
    xmin = np.nan  # without known rails: a run of equal samples at the sweep's extreme
    xmax = np.nan
    if no_rails and not _has_repeat(x, a, b):
        b = a  # no two equal neighbours: no run at a rail
    for i in range(a, b):
        v = x[i]
        if no_rails:
            at_rail = False
            if i > a and v == x[i - 1]:
                if np.isnan(xmin):
                    xmin = x.min()
                    xmax = x.max()
                at_rail = v == xmax or v == xmin
        else:
            at_rail = v <= lo_thr or v >= hi_thr
        if at_rail:
            run += 1
            if run > worst:
                worst = run
        else:
            run = 0
    if worst >= 2:
        out[R_FLAGS] = int(out[R_FLAGS]) | F_CLIPPED_SAMPLES
        out[R_STATUS] = S_CLIPPED
        for k in (R_AMPLITUDE_V, R_P2P_V, R_NEG_AREA_VS, R_TOTAL_AREA_VS, R_NEG_PEAK, R_NEG_END, R_POS_PEAK, R_END):
            out[k] = np.nan
    elif out[R_STATUS] == S_OK and p[P_MAX_AMPLITUDE_V] > 0.0 and out[R_AMPLITUDE_V] > p[P_MAX_AMPLITUDE_V]:
        # a response larger than any muscle's: the samples are not in volts (the amplitude
        # that says so is kept; every marker and the other values are dropped)
        out[R_STATUS] = S_IMPLAUSIBLE
        out[R_FLAGS] = int(out[R_FLAGS]) | F_UNITS_AMPLITUDE
        for k in (R_ONSET, R_ONSET_SHARE, R_P2P_V, R_NEG_AREA_VS, R_TOTAL_AREA_VS, R_NEG_PEAK, R_NEG_END,
                  R_POS_PEAK, R_END):
            out[k] = np.nan


@njit(cache=True, nogil=True, parallel=True)
def measure_batch(x: np.ndarray, fs: float, stim: np.ndarray, p: np.ndarray) -> np.ndarray:
    """:func:`measure_response` over the rows of a 2-D array of sweeps, in parallel (``prange``)."""
    m = x.shape[0]
    out = np.empty((m, N_RESULTS))
    for k in prange(m):
        measure_into(x[k], fs, stim[k], p, out[k])
    return out


@njit(cache=True, nogil=True)
def measure_batch_serial(x: np.ndarray, fs: float, stim: np.ndarray, p: np.ndarray) -> np.ndarray:
    """:func:`measure_response` over the rows of a 2-D array of sweeps, on one thread."""
    m = x.shape[0]
    out = np.empty((m, N_RESULTS))
    for k in range(m):
        measure_into(x[k], fs, stim[k], p, out[k])
    return out


@njit(cache=True, nogil=True)
def late_response(x: np.ndarray, fs: float, a: int, b: int, base: float, sigma: float, k_detect: float,
                  k_band: float, smooth: int) -> np.ndarray:
    """A late response (F-wave) in ``x[a:b]``: presence, onset, peak-to-peak and its extremes.

    The trace minus ``base`` is smoothed (moving average of ``smooth`` samples); the
    response is present when the smoothed trace leaves ``k_detect`` noise SDs (of the
    smoothed trace) in either direction.  Its onset is found backward from that first
    crossing to where the trace was last inside ``k_band`` SDs.  Returns
    ``[present, onset, i_min, i_max, peak_to_peak_v]`` (indices in ``x``; NaN when absent).
    """
    out = np.full(5, np.nan)
    out[0] = 0.0
    n = x.size
    if a < 1:
        a = 1
    if b > n:
        b = n
    if b - a < 4 or not (sigma > 0.0):
        return out
    for i in range(a, b):
        if not math.isfinite(x[i]):
            return out
    d = np.empty(b - a)
    for i in range(a, b):
        d[i - a] = x[i] - base
    w = smooth if smooth % 2 == 1 else smooth + 1
    y = moving_average(d, w)
    s = sigma / math.sqrt(w)
    first = -1
    for i in range(y.size):
        if abs(y[i]) > k_detect * s:
            first = i
            break
    if first < 0:
        return out
    j = first
    while j > 0 and abs(y[j]) > k_band * s:
        j -= 1
    lo = 0.0
    hi = 0.0
    imin = first
    imax = first
    # extremes over the response: up to 15 ms after its onset
    end = j + int(round(15e-3 * fs))
    if end > y.size:
        end = y.size
    for i in range(j, end):
        if y[i] < lo:
            lo = y[i]
            imin = i
        if y[i] > hi:
            hi = y[i]
            imax = i
    out[0] = 1.0
    out[1] = float(a + j)
    out[2] = float(a + imin)
    out[3] = float(a + imax)
    out[4] = hi - lo
    return out
