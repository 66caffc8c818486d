"""Numba kernels of the spontaneous-activity detector (needle EMG at rest).

Arrays in, numbers out: float64 C-contiguous samples (volts), a parameter vector
(:data:`P_*` indices, built by :mod:`edx.needle.spontaneous`) and, for the streaming
scan, a state vector (:data:`S_*` indices) that carries everything one chunk leaves to
the next.  Nothing here imports anything but numpy, numba and math.

The pipeline (one memory pass over the samples, then work per candidate only):

1. :func:`scan` -- a causal band-pass biquad (centre ``P_F0_HZ``, quality ``P_Q``; its
   recursion unrolled four samples at a time, :func:`_bandpass_fours`, each group of four
   absolute samples computed the same way whatever the chunks) gives the detection signal
   ``e``; its noise is the RMS of ``e`` in blocks of
   ``P_BLOCK`` samples, and the threshold of a block is ``P_K_THRESHOLD`` times a low
   percentile of the last ``P_N_BLOCKS`` block RMS values (blocks with discharges do
   not raise it; the first block only learns the noise).  A candidate starts where
   ``|e|`` crosses the threshold and ends ``P_GAP`` samples after ``|e|`` last exceeded
   ``P_HYSTERESIS`` times it.  The same pass tracks the extremes and runs of identical
   samples (clipping) and samples at the rails; the projection of every
   ``P_HUM_DECIMATE``-th sample on 50 and 60 Hz (hum; the phases rotated step by step,
   exact every ``HUM_ANCHOR``-th step) is a short loop over each stretch of samples the
   filter has just read (:func:`_hum_run`, the same sums whatever the stretches).  A non-finite sample
   leaves the filter non-finite for good: a chunk that ends so is scanned again with
   such samples as 0, and they are counted (no test per sample).  Every quantity is a
   sequential function of the samples in order, so a chunked run carries the state and
   reproduces the batch run bit for bit.
2. :func:`measure` -- for each candidate, on the raw samples around it: a centred
   moving average (:func:`smooth_into`: every value from its own samples only, the
   same whatever the window), a median baseline before it (and before its first peak when
   its own rise would reach into the window), the positive and negative peaks,
   the initial phase, the slow phase after the positive peak (positive sharp waves),
   onset, end, phases, peak-to-peak amplitude and a classification code
   (:data:`K_*`).  It reads only a fixed window around the candidate, so it gives the
   same numbers whatever chunk the samples arrived in.
3. :func:`match_template` -- normalised cross-correlation of a snippet with a set of
   templates over a small lag range (shape similarity for grouping discharges).
4. :func:`interval_stats` -- firing rate and interval regularity of a train, with
   intervals that are whole multiples of the period (a missed discharge) counted as
   such; :func:`seed_chains` -- the candidate chains of a shape group.
5. :func:`group_and_peel` -- shape grouping in order, with the template peel-off of
   overlapping potentials (the template and lag searches over all lags at once,
   :func:`_lag_sse`).

All kernels are ``@njit(cache=True, nogil=True)``.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit


# ----------------------------------------------------------------- parameter vector
P_FS_HZ = 0
P_F0_HZ = 1
P_Q = 2
P_K_THRESHOLD = 3
P_BLOCK = 4
P_N_BLOCKS = 5
P_PERCENTILE = 6
P_GAP = 7
P_HYSTERESIS = 8
P_FLOOR_V = 9
P_RAIL_V = 10
P_HUM_DECIMATE = 11
P_MAX_CANDIDATE = 12
# measurement
P_SMOOTH_HALF = 13  # samples each side of the centred moving average
P_PRE = 14  # samples kept before a candidate peak (window start)
P_POST = 15  # samples after a candidate peak (look-ahead)
P_BASE_FROM = 16  # baseline window: [start - BASE_FROM, start - BASE_TO)
P_BASE_TO = 17
P_SPIKE_MARGIN = 18  # spike region: [start - margin, end + margin]
P_FIRST_LOBE_BACK = 19  # samples before the negative peak searched for an initial positive lobe
P_FIRST_LOBE_FRACTION = 20
P_SLOW_FROM = 21  # slow-phase window after the positive peak: [+FROM, +TO)
P_SLOW_TO = 22
P_SLOW_FRACTION = 23  # PSW: slow level <= -fraction * positive peak
P_SLOW_Z = 24  # and beyond this many noise SDs of the mean
P_END_SMOOTH_HALF = 25  # half-width of the heavier smoothing used for the end of the slow phase
P_END_GAP = 26  # end: no supra-threshold sample for this many samples
P_ONSET_GAP = 27
P_DURATION_FLOOR_V = 28  # onset/end threshold: max(floor, fraction * pp, k * noise)
P_DURATION_FRACTION = 29
P_DURATION_K_NOISE = 30
P_PHASE_FRACTION = 31
P_FIB_MAX_DURATION = 32  # samples
P_PSW_MAX_DURATION = 33
P_EPS_MAX_DURATION = 34
P_SPIKE_MAX_PP_V = 35  # fibrillations / PSWs / end-plate spikes at most this large
P_MUP_MIN_PHASES = 36
P_MIN_SNR = 37  # peak-to-peak at least this many noise SDs of the smoothed trace
P_E_GAIN = 38  # RMS gain of the band-pass on white noise (sqrt of the sum of squared impulse response)
P_MIN_PP_V = 39
P_FAST_WINDOW = 40  # fib: negative peak within this many samples after the positive peak
P_MIN_PP_RAW_SNR = 41  # peak-to-peak at least this many noise SDs of the raw samples
P_SPLIT_RISE = 42  # split: a lobe of e at least this many times the smallest lobe since the largest
P_SPLIT_VALLEY = 43  # ... whose smallest lobe is at most this fraction of the largest
P_SPLIT_BACK = 44  # samples before the rising lobe where the second potential's region starts
P_CORE_GAP = 45  # a potential's core ends after this many samples within +/- P_CORE_FRACTION x pp
P_CORE_FRACTION = 46
P_SECOND_FRACTION = 47  # a second potential's positive peak: at least this fraction of pp ...
P_SECOND_SNR = 48  # ... and this many noise SDs of the smoothed trace
P_SECOND_SEPARATION = 49  # ... at least this many samples from the first potential's extreme phases
P_QUIET_MAX_E = 50  # a block whose noise level (S_SIGMA, units of e) exceeds this is counted noisy (<= 0: none)
P_BASE_BEFORE_PEAK = 51  # the baseline window ends at least this many samples before the first peak
P_ONSET_SMOOTH_HALF = 52  # onset continued back on a moving average of at most this half-width (0: not)
P_ONSET_SMOOTH_GAP = 53  # ... stopping after this many samples below its threshold
N_PARAMS = 54

# ----------------------------------------------------------------- state vector
S_N = 0  # samples seen (absolute index of the next sample)
S_T1 = 1  # b0 x[n - 1] and b0 x[n - 2] (band-pass input terms; n = S_N)
S_T2 = 2
S_BSUM = 3  # sum of e^2 in the current noise block over the samples with n % 4 == 0 (then S_BSUM1..3)
S_BCOUNT = 4
S_NBLOCKS = 5
S_THR = 6
S_IN = 7
S_CSTART = 8
S_CPEAK = 9
S_CPEAKV = 10
S_CLAST = 11
S_CSIGMA = 12
S_NONFINITE = 13
S_XMIN = 14
S_XMAX = 15
S_PREV = 16
S_RUN = 17
S_RUNMAX = 18
S_RUNMIN = 19
S_NRAIL = 20
S_H50C = 21
S_H50S = 22
S_H60C = 23
S_H60S = 24
S_HN = 25
S_SIGMA = 26  # current noise RMS of e (percentile of the ring)
S_FIRST_FINITE = 27
S_NCAND = 28
S_LSIGN = 29  # sign of the current lobe of e (inside a candidate)
S_LMAX = 30  # largest |e| of the current lobe
S_LSTART = 31  # first sample of the current lobe
S_PEAKL = 32  # largest completed lobe of the current candidate
S_VALL = 33  # smallest completed lobe since the largest
S_CLO = 34  # lower limit of the current candidate's spike region (-1: none)
S_CACT = 35  # sample at which the current candidate became active
S_SORT_BAD = 36  # 1: a NaN block RMS entered the ring; the sorted copy is not kept (sort the ring each block)
S_HC50 = 37  # cos and sin of the 50 and 60 Hz phases at the next hum sample (rotated from the last)
S_HS50 = 38
S_HC60 = 39
S_HS60 = 40
S_NOISY_BLOCKS = 41  # blocks ended with the noise level above P_QUIET_MAX_E (not a quiet rest)
S_P1 = 42  # band-pass output at the last two samples of the last complete group of four (q - 1, q - 2)
S_P2 = 43
S_U0 = 44  # band-pass input differences u of the current group of four so far (samples q, q + 1, q + 2)
S_U1 = 45
S_U2 = 46
S_Y2 = 47  # band-pass output at sample q + 2 of the current group of four
S_BSUM1 = 48  # block sums of e^2 over the samples with n % 4 == 1, 2, 3
S_BSUM2 = 49
S_BSUM3 = 50
S_RING = 52  # ring of block RMS values starts here, followed by the same values sorted
N_STATE_FIXED = 52

#: The hum projection's phases are computed exactly (cos, sin) at every HUM_ANCHOR-th hum
#: sample (absolute count) and rotated by one step's angle in between.
HUM_ANCHOR = 64

# candidate rows
C_START = 0
C_PEAK = 1
C_END = 2
C_SIGMA_E = 3
C_PEAK_E = 4
C_LO = 5  # spike region starts here (a candidate split from the one before; -1: no limit)
C_HI = 6  # spike region ends before here (a candidate split from the one after; -1: no limit)
N_CAND = 7

# ----------------------------------------------------------------- features
F_ONSET = 0
F_END = 1
F_POS_PEAK = 2
F_NEG_PEAK = 3
F_POS_V = 4
F_NEG_V = 5
F_PP_V = 6
F_INITIAL = 7  # +1 initial positive, -1 initial negative
F_SLOW_V = 8
F_FAST_RATIO = 9
F_PHASES = 10
F_NOISE_V = 11
F_BASELINE_V = 12
F_KIND = 13
F_START = 14
F_PEAK = 15
F_ALIGN = 16  # alignment sample for templates (positive peak of fib/PSW, else largest |v|)
# 1.0 when the end was not found: the trace was still beyond the end threshold fewer than
# P_END_GAP samples before the end search had to stop (the look-ahead P_POST after the peak,
# the samples known, or the limit of a split candidate): F_END is then a lower bound
F_END_OPEN = 17
N_FEATURES = 18

# ----------------------------------------------------------------- kind codes
K_NONE = 0
K_FIBRILLATION = 1
K_PSW = 2
K_END_PLATE = 3
K_MUP = 4
K_UNCLASSIFIED = 5


def state_size(n_blocks: int) -> int:
    """Length of the state vector for a ring of ``n_blocks`` block RMS values (and their sorted copy)."""
    return N_STATE_FIXED + 2 * int(n_blocks)


@njit(cache=True, nogil=True)
def init_state(state: np.ndarray) -> None:
    """Reset a state vector (any length >= ``N_STATE_FIXED``) to the start of a recording."""
    for i in range(state.size):
        state[i] = 0.0
    state[S_THR] = np.inf
    state[S_SIGMA] = np.inf
    state[S_XMIN] = np.inf
    state[S_XMAX] = -np.inf
    state[S_PREV] = np.nan
    state[S_RUNMAX] = -np.inf
    state[S_RUNMIN] = np.inf
    state[S_FIRST_FINITE] = 1.0
    state[S_VALL] = np.inf
    state[S_CLO] = -1.0


@njit(cache=True, nogil=True)
def bandpass_coefficients(f0_hz: float, q: float, fs_hz: float) -> np.ndarray:
    """Band-pass biquad (0 dB at ``f0_hz``), bilinear transform with pre-warping.

    Returns ``[b0, b2, a1, a2]`` of ``y = b0 x[n] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]``
    (``b1 = 0`` and ``b2 = -b0`` for this filter).
    """
    w0 = 2.0 * math.pi * f0_hz / fs_hz
    alpha = math.sin(w0) / (2.0 * q)
    a0 = 1.0 + alpha
    out = np.empty(4)
    out[0] = alpha / a0
    out[1] = -alpha / a0
    out[2] = -2.0 * math.cos(w0) / a0
    out[3] = (1.0 - alpha) / a0
    return out


@njit(cache=True, nogil=True)
def bandpass(x: np.ndarray, coef: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Apply the band-pass biquad to ``x`` (transposed direct form II), updating ``z`` (2 values)."""
    b0 = coef[0]
    b2 = coef[1]
    a1 = coef[2]
    a2 = coef[3]
    z1 = z[0]
    z2 = z[1]
    out = np.empty(x.size)
    for i in range(x.size):
        xi = x[i]
        y = b0 * xi + z1
        z1 = -a1 * y + z2
        z2 = b2 * xi - a2 * y
        out[i] = y
    z[0] = z1
    z[1] = z2
    return out


#: The band-pass filter state of :func:`scan` as :func:`_bandpass_fours` carries it (local
#: copy ``fz``): the state slots, in order.
_FZ_SLOTS = (S_T1, S_T2, S_P1, S_P2, S_U0, S_U1, S_U2, S_Y2, S_BSUM, S_BSUM1, S_BSUM2, S_BSUM3)


@njit(cache=True, nogil=True)
def bandpass_fours_coefficients(coef: np.ndarray) -> np.ndarray:
    """Coefficients of the band-pass of :func:`bandpass_coefficients` (``[b0, b2, a1, a2]``,
    ``b2 = -b0``) computed four samples at a time (:func:`_bandpass_fours`).

    With ``u[n] = b0 x[n] + b2 x[n - 2]`` and the samples in groups of four starting at
    absolute indices ``q`` multiple of 4, the output at ``q + r`` (``r`` = 0..3) is
    ``y[q + r] = V_r + A_r y[q - 1] + B_r y[q - 2]`` with
    ``V_r = u[q + r] + h_1 u[q + r - 1] + ... + h_r u[q]`` (``h``: the impulse response of
    ``1 / (1 + a1 z^-1 + a2 z^-2)``): the recursion unrolled, so that a group depends on
    the one before through one multiplication and two additions (not four times three).

    Returns
    -------
    ndarray
        ``[b0, A_0, A_1, A_2, A_3, B_0, B_1, B_2, B_3, h_1, h_2, h_3]``.
    """
    a1 = coef[2]
    a2 = coef[3]
    out = np.empty(12)
    out[0] = coef[0]
    # homogeneous part: (A_r, B_r) = -a1 (A_{r-1}, B_{r-1}) - a2 (A_{r-2}, B_{r-2}),
    # (A_{-1}, B_{-1}) = (1, 0), (A_{-2}, B_{-2}) = (0, 1)
    am2, bm2, am1, bm1 = 0.0, 1.0, 1.0, 0.0
    for r in range(4):
        ar = -a1 * am1 - a2 * am2
        br = -a1 * bm1 - a2 * bm2
        out[1 + r] = ar
        out[5 + r] = br
        am2, bm2, am1, bm1 = am1, bm1, ar, br
    # impulse response of the all-pole part: h_0 = 1, h_1 = -a1, h_k = -a1 h_{k-1} - a2 h_{k-2}
    h1 = -a1
    h2 = -a1 * h1 - a2
    out[9] = h1
    out[10] = h2
    out[11] = -a1 * h2 - a2 * h1
    return out


@njit(cache=True, nogil=True)
def _bandpass_fours(x: np.ndarray, j0: int, j1: int, r: int, out: np.ndarray, fz: np.ndarray,
                    fc: np.ndarray) -> None:
    """Band-pass ``x[j0:j1]`` into ``out[:j1 - j0]`` four samples at a time, and add the
    squared outputs to the block sums.

    ``r``: the absolute index of ``x[j0]`` modulo 4; ``fz``: the filter state (the slots
    :data:`_FZ_SLOTS`: ``b0 x`` of the two samples before, the outputs at the last two
    samples of the last complete group, the ``u`` of the current group so far, its output
    at ``r = 2``, and four sums of squared outputs, one per absolute index modulo 4),
    updated; ``fc``: :func:`bandpass_fours_coefficients`.  Every output (and every sum) is
    the same expression of the same values whatever ``j0`` and ``j1`` (the samples may
    arrive in chunks of any size): a group cut by a chunk's end is finished one sample at
    a time by the next call.
    """
    b0 = fc[0]
    A0 = fc[1]
    A1 = fc[2]
    A2 = fc[3]
    A3 = fc[4]
    B0 = fc[5]
    B1 = fc[6]
    B2 = fc[7]
    B3 = fc[8]
    h1 = fc[9]
    h2 = fc[10]
    h3 = fc[11]
    T1 = fz[0]
    T2 = fz[1]
    P1 = fz[2]
    P2 = fz[3]
    U0 = fz[4]
    U1 = fz[5]
    U2 = fz[6]
    Y2 = fz[7]
    s0 = fz[8]
    s1 = fz[9]
    s2 = fz[10]
    s3 = fz[11]
    j = j0
    # the rest of a group begun before (one sample at a time)
    while r != 0 and j < j1:
        t = b0 * x[j]
        u = t - T2
        T2 = T1
        T1 = t
        if r == 1:
            U1 = u
            y = ((u + h1 * U0) + A1 * P1) + B1 * P2
            s1 += y * y
        elif r == 2:
            U2 = u
            y = (((u + h1 * U1) + h2 * U0) + A2 * P1) + B2 * P2
            Y2 = y
            s2 += y * y
        else:
            y = ((((u + h1 * U2) + h2 * U1) + h3 * U0) + A3 * P1) + B3 * P2
            s3 += y * y
            P2 = Y2
            P1 = y
        out[j - j0] = y
        j += 1
        r = (r + 1) & 3
    # whole groups
    o = out[j - j0 : j1 - j0]
    xs = x[j:j1]
    m = (j1 - j) & ~3
    for k in range(0, m, 4):
        t0 = b0 * xs[k]
        t1 = b0 * xs[k + 1]
        t2 = b0 * xs[k + 2]
        t3 = b0 * xs[k + 3]
        u0 = t0 - T2
        u1 = t1 - T1
        u2 = t2 - t0
        u3 = t3 - t1
        T2 = t2
        T1 = t3
        y0 = (u0 + A0 * P1) + B0 * P2
        y1 = ((u1 + h1 * u0) + A1 * P1) + B1 * P2
        y2 = (((u2 + h1 * u1) + h2 * u0) + A2 * P1) + B2 * P2
        y3 = ((((u3 + h1 * u2) + h2 * u1) + h3 * u0) + A3 * P1) + B3 * P2
        o[k] = y0
        o[k + 1] = y1
        o[k + 2] = y2
        o[k + 3] = y3
        s0 += y0 * y0
        s1 += y1 * y1
        s2 += y2 * y2
        s3 += y3 * y3
        P2 = y2
        P1 = y3
        U0 = u0
        U1 = u1
        U2 = u2
        Y2 = y2
    j += m
    # the start of a group the next call finishes
    while j < j1:
        t = b0 * x[j]
        u = t - T2
        T2 = T1
        T1 = t
        if r == 0:
            U0 = u
            y = (u + A0 * P1) + B0 * P2
            s0 += y * y
        elif r == 1:
            U1 = u
            y = ((u + h1 * U0) + A1 * P1) + B1 * P2
            s1 += y * y
        else:
            U2 = u
            y = (((u + h1 * U1) + h2 * U0) + A2 * P1) + B2 * P2
            Y2 = y
            s2 += y * y
        out[j - j0] = y
        j += 1
        r += 1
    fz[0] = T1
    fz[1] = T2
    fz[2] = P1
    fz[3] = P2
    fz[4] = U0
    fz[5] = U1
    fz[6] = U2
    fz[7] = Y2
    fz[8] = s0
    fz[9] = s1
    fz[10] = s2
    fz[11] = s3


@njit(cache=True, nogil=True)
def _bandpass_quality_fours(
    x: np.ndarray, j0: int, j1: int, r: int, out: np.ndarray, fz: np.ndarray, fc: np.ndarray, prev: float,
    xmin: float, xmax: float, run: int, runmax: float, runmin: float, nrail: int,
) -> tuple[float, float, float, int, float, float, int]:
    """:func:`_bandpass_fours` and :func:`_quality_run` (without the rail count) in one pass:
    the same outputs, block sums, counts and runs; the extremes kept per position in the
    filter's groups of four (absolute index modulo 4) and joined at the end, which leaves
    the same smallest and largest value -- of the zeros 0.0 and -0.0 possibly another one
    than :func:`_quality_run` (a caller redoes the quality run when an extreme is zero).
    The quality work fills the cycles the filter's recursion leaves idle."""
    b0 = fc[0]
    A0 = fc[1]
    A1 = fc[2]
    A2 = fc[3]
    A3 = fc[4]
    B0 = fc[5]
    B1 = fc[6]
    B2 = fc[7]
    B3 = fc[8]
    h1 = fc[9]
    h2 = fc[10]
    h3 = fc[11]
    T1 = fz[0]
    T2 = fz[1]
    P1 = fz[2]
    P2 = fz[3]
    U0 = fz[4]
    U1 = fz[5]
    U2 = fz[6]
    Y2 = fz[7]
    s0 = fz[8]
    s1 = fz[9]
    s2 = fz[10]
    s3 = fz[11]
    mn0 = xmin
    mx0 = xmax
    j = j0
    # the rest of a group begun before (one sample at a time)
    while r != 0 and j < j1:
        xi = x[j]
        mn0, mx0, run, runmax, runmin, nrail = _sample_quality(
            xi, prev, mn0, mx0, run, runmax, runmin, nrail, False, 0.0)
        prev = xi
        t = b0 * xi
        u = t - T2
        T2 = T1
        T1 = t
        if r == 1:
            U1 = u
            y = ((u + h1 * U0) + A1 * P1) + B1 * P2
            s1 += y * y
        elif r == 2:
            U2 = u
            y = (((u + h1 * U1) + h2 * U0) + A2 * P1) + B2 * P2
            Y2 = y
            s2 += y * y
        else:
            y = ((((u + h1 * U2) + h2 * U1) + h3 * U0) + A3 * P1) + B3 * P2
            s3 += y * y
            P2 = Y2
            P1 = y
        out[j - j0] = y
        j += 1
        r = (r + 1) & 3
    # whole groups
    o = out[j - j0 : j1 - j0]
    xs = x[j:j1]
    m = (j1 - j) & ~3
    mn1 = mn2 = mn3 = mn0
    mx1 = mx2 = mx3 = mx0
    for k in range(0, m, 4):
        v0 = xs[k]
        v1 = xs[k + 1]
        v2 = xs[k + 2]
        v3 = xs[k + 3]
        if (v0 == prev) | (v1 == v0) | (v2 == v1) | (v3 == v2):
            # identical samples: the quality one at a time
            for kk in range(k, k + 4):
                xi = xs[kk]
                mn0, mx0, run, runmax, runmin, nrail = _sample_quality(
                    xi, prev, mn0, mx0, run, runmax, runmin, nrail, False, 0.0)
                prev = xi
        else:
            run = 0
            mn0 = v0 if v0 < mn0 else mn0
            mx0 = v0 if v0 > mx0 else mx0
            mn1 = v1 if v1 < mn1 else mn1
            mx1 = v1 if v1 > mx1 else mx1
            mn2 = v2 if v2 < mn2 else mn2
            mx2 = v2 if v2 > mx2 else mx2
            mn3 = v3 if v3 < mn3 else mn3
            mx3 = v3 if v3 > mx3 else mx3
            prev = v3
        t0 = b0 * v0
        t1 = b0 * v1
        t2 = b0 * v2
        t3 = b0 * v3
        u0 = t0 - T2
        u1 = t1 - T1
        u2 = t2 - t0
        u3 = t3 - t1
        T2 = t2
        T1 = t3
        y0 = (u0 + A0 * P1) + B0 * P2
        y1 = ((u1 + h1 * u0) + A1 * P1) + B1 * P2
        y2 = (((u2 + h1 * u1) + h2 * u0) + A2 * P1) + B2 * P2
        y3 = ((((u3 + h1 * u2) + h2 * u1) + h3 * u0) + A3 * P1) + B3 * P2
        o[k] = y0
        o[k + 1] = y1
        o[k + 2] = y2
        o[k + 3] = y3
        s0 += y0 * y0
        s1 += y1 * y1
        s2 += y2 * y2
        s3 += y3 * y3
        P2 = y2
        P1 = y3
        U0 = u0
        U1 = u1
        U2 = u2
        Y2 = y2
    j += m
    mn0 = mn1 if mn1 < mn0 else mn0
    mn2 = mn3 if mn3 < mn2 else mn2
    mn0 = mn2 if mn2 < mn0 else mn0
    mx0 = mx1 if mx1 > mx0 else mx0
    mx2 = mx3 if mx3 > mx2 else mx2
    mx0 = mx2 if mx2 > mx0 else mx0
    # the start of a group the next call finishes
    while j < j1:
        xi = x[j]
        mn0, mx0, run, runmax, runmin, nrail = _sample_quality(
            xi, prev, mn0, mx0, run, runmax, runmin, nrail, False, 0.0)
        prev = xi
        t = b0 * xi
        u = t - T2
        T2 = T1
        T1 = t
        if r == 0:
            U0 = u
            y = (u + A0 * P1) + B0 * P2
            s0 += y * y
        elif r == 1:
            U1 = u
            y = ((u + h1 * U0) + A1 * P1) + B1 * P2
            s1 += y * y
        else:
            U2 = u
            y = (((u + h1 * U1) + h2 * U0) + A2 * P1) + B2 * P2
            Y2 = y
            s2 += y * y
        out[j - j0] = y
        j += 1
        r += 1
    fz[0] = T1
    fz[1] = T2
    fz[2] = P1
    fz[3] = P2
    fz[4] = U0
    fz[5] = U1
    fz[6] = U2
    fz[7] = Y2
    fz[8] = s0
    fz[9] = s1
    fz[10] = s2
    fz[11] = s3
    return prev, mn0, mx0, run, runmax, runmin, nrail


@njit(cache=True, nogil=True)
def _percentile_of(ring: np.ndarray, n: int, q: float, scratch: np.ndarray) -> float:
    """Lower-interpolated ``q`` quantile (0..1) of the first ``n`` values of ``ring``."""
    for i in range(n):
        scratch[i] = ring[i]
    # insertion sort: n is small (tens)
    for i in range(1, n):
        v = scratch[i]
        j = i - 1
        while j >= 0 and scratch[j] > v:
            scratch[j + 1] = scratch[j]
            j -= 1
        scratch[j + 1] = v
    return _quantile_sorted(scratch, n, q)


@njit(cache=True, nogil=True)
def _quantile_sorted(srt: np.ndarray, n: int, q: float) -> float:
    """Lower-interpolated ``q`` quantile (0..1) of the first ``n`` values of ``srt`` (sorted)."""
    pos = q * (n - 1)
    k = int(math.floor(pos))
    if k >= n - 1:
        return srt[n - 1]
    f = pos - k
    return srt[k] + f * (srt[k + 1] - srt[k])


@njit(cache=True, nogil=True)
def _sorted_replace(srt: np.ndarray, n: int, old: float, new: float) -> None:
    """In the sorted first ``n`` values of ``srt`` (no NaN), replace one ``old`` by ``new``, keeping it sorted."""
    j = 0
    while srt[j] != old:
        j += 1
    if new >= old:
        while j + 1 < n and srt[j + 1] < new:
            srt[j] = srt[j + 1]
            j += 1
    else:
        while j > 0 and srt[j - 1] > new:
            srt[j] = srt[j - 1]
            j -= 1
    srt[j] = new


@njit(cache=True, nogil=True)
def _sorted_insert(srt: np.ndarray, n: int, new: float) -> None:
    """Insert ``new`` into the sorted first ``n`` values of ``srt`` (room for ``n + 1``)."""
    j = n
    while j > 0 and srt[j - 1] > new:
        srt[j] = srt[j - 1]
        j -= 1
    srt[j] = new


@njit(cache=True, nogil=True)
def _sample_quality(
    xi: float, prev: float, xmin: float, xmax: float, run: int, runmax: float, runmin: float, nrail: int,
    check_rail: bool, rail: float,
) -> tuple[float, float, int, float, float, int]:
    """One sample's update of the extremes, the runs of identical samples (the extremes of
    samples equal to the two before them) and the count at the rails."""
    if xi < xmin:
        xmin = xi
    if xi > xmax:
        xmax = xi
    if xi == prev:
        run += 1
        if run >= 2:  # three identical samples in a row
            if xi > runmax:
                runmax = xi
            if xi < runmin:
                runmin = xi
    else:
        run = 0
    if check_rail and abs(xi) >= rail:
        nrail += 1
    return xmin, xmax, run, runmax, runmin, nrail


@njit(cache=True, nogil=True)
def _quality_run(
    x: np.ndarray, j0: int, j1: int, prev: float, xmin: float, xmax: float, run: int, runmax: float,
    runmin: float, nrail: int, check_rail: bool, rail: float,
) -> tuple[float, float, float, int, float, float, int]:
    """:func:`_sample_quality` over ``x[j0:j1]`` in order (``prev``: the sample before):
    the same counts and extremes, four samples at a time where none equals the one before
    it (the extremes then kept per position in the group and joined at the end, which
    leaves the same smallest and largest value).  Returns ``(prev, xmin, xmax, run, runmax,
    runmin, nrail)``."""
    j = j0
    if j1 - j0 >= 8 and not check_rail:
        xs = x[j0:j1]
        m = (j1 - j0) & ~3
        mn0 = xmin
        mn1 = xmin
        mn2 = xmin
        mn3 = xmin
        mx0 = xmax
        mx1 = xmax
        mx2 = xmax
        mx3 = xmax
        k = 0
        while k < m:
            v0 = xs[k]
            v1 = xs[k + 1]
            v2 = xs[k + 2]
            v3 = xs[k + 3]
            if (v0 == prev) | (v1 == v0) | (v2 == v1) | (v3 == v2):
                # identical samples: one at a time
                for kk in range(k, k + 4):
                    xi = xs[kk]
                    mn0, mx0, run, runmax, runmin, nrail = _sample_quality(
                        xi, prev, mn0, mx0, run, runmax, runmin, nrail, check_rail, rail)
                    prev = xi
            else:
                run = 0
                mn0 = v0 if v0 < mn0 else mn0
                mx0 = v0 if v0 > mx0 else mx0
                mn1 = v1 if v1 < mn1 else mn1
                mx1 = v1 if v1 > mx1 else mx1
                mn2 = v2 if v2 < mn2 else mn2
                mx2 = v2 if v2 > mx2 else mx2
                mn3 = v3 if v3 < mn3 else mn3
                mx3 = v3 if v3 > mx3 else mx3
                prev = v3
            k += 4
        mn0 = mn1 if mn1 < mn0 else mn0
        mn2 = mn3 if mn3 < mn2 else mn2
        xmin = mn2 if mn2 < mn0 else mn0
        mx0 = mx1 if mx1 > mx0 else mx0
        mx2 = mx3 if mx3 > mx2 else mx2
        xmax = mx2 if mx2 > mx0 else mx0
        j = j0 + m
    for k in range(j, j1):
        xi = x[k]
        xmin, xmax, run, runmax, runmin, nrail = _sample_quality(
            xi, prev, xmin, xmax, run, runmax, runmin, nrail, check_rail, rail)
        prev = xi
    return prev, xmin, xmax, run, runmax, runmin, nrail


@njit(cache=True, nogil=True)
def _put_candidate(cand: np.ndarray, k: int, start: float, peak: float, end: float, sigma_e: float, peak_e: float,
                   c_lo: float, c_hi: float) -> None:
    """Write candidate row ``k`` (the columns ``C_*``)."""
    cand[k, C_START] = start
    cand[k, C_PEAK] = peak
    cand[k, C_END] = end
    cand[k, C_SIGMA_E] = sigma_e
    cand[k, C_PEAK_E] = peak_e
    cand[k, C_LO] = c_lo
    cand[k, C_HI] = c_hi


@njit(cache=True, nogil=True)
def _count_nonfinite(x: np.ndarray) -> int:
    """Number of NaN and infinite values in ``x``."""
    c = 0
    for i in range(x.size):
        v = x[i]
        c += not (v - v == 0.0)
    return c


@njit(cache=True, nogil=True)
def _hum_run(
    x: np.ndarray, j0: int, j1: int, n0: int, dec: int, w50: float, w60: float, rc50: float, rs50: float,
    rc60: float, rs60: float, h50c: float, h50s: float, h60c: float, h60s: float, hn: int, c50: float, s50: float,
    c60: float, s60: float,
) -> tuple[float, float, float, float, int, float, float, float, float]:
    """The hum projection of :func:`scan` over ``x[j0:j1]`` (``x[j]`` is absolute sample
    ``n0 + j``): every ``dec``-th absolute sample (non-finite samples as 0), in order; the
    phases at the k-th such sample exact when k is a multiple of HUM_ANCHOR, else the
    previous ones rotated by one step (``rc50, rs50, rc60, rs60``: cos and sin of the step's
    angles).  The sums, count and phases carried from the samples before are returned
    updated: the same numbers however the samples are split into runs."""
    a = n0 + j0
    i = a + (dec - a % dec) % dec
    while i < n0 + j1:
        if (i // dec) % HUM_ANCHOR == 0:
            c50 = math.cos(w50 * i)
            s50 = math.sin(w50 * i)
            c60 = math.cos(w60 * i)
            s60 = math.sin(w60 * i)
        xi = x[i - n0]
        if not (xi - xi == 0.0):
            xi = 0.0
        h50c += xi * c50
        h50s += xi * s50
        h60c += xi * c60
        h60s += xi * s60
        hn += 1
        c50, s50 = c50 * rc50 - s50 * rs50, s50 * rc50 + c50 * rs50
        c60, s60 = c60 * rc60 - s60 * rs60, s60 * rc60 + c60 * rs60
        i += dec
    return h50c, h50s, h60c, h60s, hn, c50, s50, c60, s60


@njit(cache=True, nogil=True)
def _scan_core(x: np.ndarray, state: np.ndarray, p: np.ndarray, cand: np.ndarray) -> int:
    """The sample loop of :func:`scan` (filter, quality counts, hum, noise blocks,
    candidates) on finite samples; updates ``state`` and returns the rows written."""
    fs = p[P_FS_HZ]
    fc = bandpass_fours_coefficients(bandpass_coefficients(p[P_F0_HZ], p[P_Q], fs))
    k_thr = p[P_K_THRESHOLD]
    block = int(p[P_BLOCK])
    nring = int(p[P_N_BLOCKS])
    pct = p[P_PERCENTILE]
    gap = int(p[P_GAP])
    hyst = p[P_HYSTERESIS]
    floor_v = p[P_FLOOR_V]
    rail = p[P_RAIL_V]
    check_rail = rail == rail
    max_len = int(p[P_MAX_CANDIDATE])
    split_rise = p[P_SPLIT_RISE]
    split_valley = p[P_SPLIT_VALLEY]
    split_back = int(p[P_SPLIT_BACK])

    n0 = int(state[S_N])
    fz = np.empty(len(_FZ_SLOTS))
    for k in range(len(_FZ_SLOTS)):
        fz[k] = state[_FZ_SLOTS[k]]
    eb = np.empty(min(block, x.size))  # the band-passed samples of one stretch
    bcount = int(state[S_BCOUNT])
    nblocks = int(state[S_NBLOCKS])
    thr = state[S_THR]
    thr_lo = thr * hyst
    inside = state[S_IN] != 0.0
    cstart = int(state[S_CSTART])
    cpeak = int(state[S_CPEAK])
    cpeakv = state[S_CPEAKV]
    clast = int(state[S_CLAST])
    csigma = state[S_CSIGMA]
    xmin = state[S_XMIN]
    xmax = state[S_XMAX]
    prev = state[S_PREV]
    run = int(state[S_RUN])
    runmax = state[S_RUNMAX]
    runmin = state[S_RUNMIN]
    nrail = int(state[S_NRAIL])
    sigma = state[S_SIGMA]
    quiet_max = p[P_QUIET_MAX_E]
    count_noisy = quiet_max > 0.0
    noisy = state[S_NOISY_BLOCKS]
    lsign = state[S_LSIGN]
    lmax = state[S_LMAX]
    lstart = int(state[S_LSTART])
    peakl = state[S_PEAKL]
    vall = state[S_VALL]
    clo = state[S_CLO]
    cact = int(state[S_CACT])
    scratch = np.empty(max(nring, 1))
    ring = state[S_RING : S_RING + nring]
    srt = state[S_RING + nring : S_RING + 2 * nring]
    sort_bad = state[S_SORT_BAD] != 0.0
    # hum (50 and 60 Hz projection of every dec-th absolute sample), run by run
    dec = int(p[P_HUM_DECIMATE])
    w50 = 2.0 * math.pi * 50.0 / fs
    w60 = 2.0 * math.pi * 60.0 / fs
    rc50 = math.cos(w50 * dec)
    rs50 = math.sin(w50 * dec)
    rc60 = math.cos(w60 * dec)
    rs60 = math.sin(w60 * dec)
    h50c = state[S_H50C]
    h50s = state[S_H50S]
    h60c = state[S_H60C]
    h60s = state[S_H60S]
    hn = int(state[S_HN])
    c50 = state[S_HC50]
    s50 = state[S_HS50]
    c60 = state[S_HC60]
    s60 = state[S_HS60]

    nout = 0
    n = x.size
    j = 0
    e = 0.0
    while j < n:
        # the samples up to the end of the current noise block (its threshold holds for them):
        # band-passed first (one pass, four samples at a time), then the quality counts, then
        # the detector
        seg = n if n - j < block - bcount else j + block - bcount
        j0 = j
        if check_rail or seg - j0 < 8:
            _bandpass_fours(x, j0, seg, (n0 + j0) & 3, eb, fz, fc)
            prev, xmin, xmax, run, runmax, runmin, nrail = _quality_run(
                x, j0, seg, prev, xmin, xmax, run, runmax, runmin, nrail, check_rail, rail)
        else:
            q = _bandpass_quality_fours(x, j0, seg, (n0 + j0) & 3, eb, fz, fc, prev, xmin, xmax, run, runmax,
                                        runmin, nrail)
            if q[1] == 0.0 or q[2] == 0.0:
                # an extreme is zero: which of 0.0 and -0.0, as the quality run alone keeps it
                q = _quality_run(x, j0, seg, prev, xmin, xmax, run, runmax, runmin, nrail, check_rail, rail)
            prev, xmin, xmax, run, runmax, runmin, nrail = q
        h50c, h50s, h60c, h60s, hn, c50, s50, c60, s60 = _hum_run(
            x, j0, seg, n0, dec, w50, w60, rc50, rs50, rc60, rs60, h50c, h50s, h60c, h60s, hn, c50, s50, c60, s60)
        while j < seg:
            if not inside:
                # outside candidates (most samples): until |e| crosses the threshold (64
                # samples at a time while none does -- a count, vectorised -- then the first
                # that does)
                crossed = False
                while j + 64 <= seg:
                    ev = eb[j - j0 : j - j0 + 64]
                    c = 0
                    for t in range(64):
                        c += abs(ev[t]) > thr
                    if c:
                        break
                    j += 64
                while j < seg:
                    e = eb[j - j0]
                    j += 1
                    if abs(e) > thr:
                        crossed = True
                        break
                if crossed:  # a candidate starts
                    i = n0 + j - 1
                    ae = abs(e)
                    inside = True
                    cstart = i
                    cpeak = i
                    cpeakv = ae
                    clast = i
                    csigma = sigma
                    lsign = 1.0 if e > 0.0 else -1.0
                    lmax = ae
                    lstart = i
                    peakl = 0.0
                    vall = np.inf
                    clo = -1.0
                    cact = i
                continue
            # inside a candidate: the candidate's state machine, sample by sample
            e = eb[j - j0]
            i = n0 + j
            j += 1
            ae = abs(e)
            # lobes of e (between sign changes): a second potential is a lobe that rises
            # again well above the valley left by the decay of the first
            sg = 1.0 if e > 0.0 else -1.0
            if sg != lsign:
                if lmax > peakl:
                    peakl = lmax
                    vall = np.inf
                elif lmax < vall:
                    vall = lmax
                lsign = sg
                lmax = 0.0
                lstart = i
            if ae > lmax:
                lmax = ae
            if lmax > thr and vall <= split_valley * peakl and lmax >= split_rise * vall and i - cact >= gap:
                sp = lstart - split_back
                if sp <= cstart:
                    sp = cstart + 1
                _put_candidate(cand, nout, cstart, cpeak if cpeak < sp else sp - 1,
                               clast if clast < sp else sp - 1, csigma, cpeakv, clo, sp)
                nout += 1
                cstart = sp
                clo = sp
                cpeak = i
                cpeakv = ae
                clast = i
                cact = i
                csigma = sigma
                peakl = lmax
                vall = np.inf
            else:
                if ae > thr_lo:
                    clast = i
                    if ae > cpeakv:
                        cpeakv = ae
                        cpeak = i
                if i - clast >= gap or i - cstart >= max_len:
                    _put_candidate(cand, nout, cstart, cpeak, clast, csigma, cpeakv, clo, -1.0)
                    nout += 1
                    inside = False
        bcount += seg - j0
        if bcount == block:
            rms = math.sqrt(((fz[8] + fz[9]) + (fz[10] + fz[11])) / block)
            slot = nblocks % nring
            if rms != rms:
                sort_bad = True
            if not sort_bad:  # the sorted copy: the same quantile as sorting the ring
                if nblocks < nring:
                    _sorted_insert(srt, nblocks, rms)
                else:
                    _sorted_replace(srt, nring, ring[slot], rms)
            ring[slot] = rms
            nblocks += 1
            m = nblocks if nblocks < nring else nring
            if sort_bad:
                sigma = _percentile_of(ring, m, pct, scratch)
            else:
                sigma = _quantile_sorted(srt, m, pct)
            thr = k_thr * sigma
            if thr < floor_v:
                thr = floor_v
            thr_lo = thr * hyst
            if count_noisy and sigma > quiet_max:
                noisy += 1.0
            fz[8] = 0.0
            fz[9] = 0.0
            fz[10] = 0.0
            fz[11] = 0.0
            bcount = 0

    state[S_N] = n0 + x.size
    for k in range(len(_FZ_SLOTS)):
        state[_FZ_SLOTS[k]] = fz[k]
    state[S_BCOUNT] = bcount
    state[S_NBLOCKS] = nblocks
    state[S_THR] = thr
    state[S_IN] = 1.0 if inside else 0.0
    state[S_CSTART] = cstart
    state[S_CPEAK] = cpeak
    state[S_CPEAKV] = cpeakv
    state[S_CLAST] = clast
    state[S_CSIGMA] = csigma
    state[S_XMIN] = xmin
    state[S_XMAX] = xmax
    state[S_PREV] = prev
    state[S_RUN] = run
    state[S_RUNMAX] = runmax
    state[S_RUNMIN] = runmin
    state[S_NRAIL] = nrail
    state[S_SIGMA] = sigma
    state[S_NOISY_BLOCKS] = noisy
    state[S_LSIGN] = lsign
    state[S_LMAX] = lmax
    state[S_LSTART] = lstart
    state[S_PEAKL] = peakl
    state[S_VALL] = vall
    state[S_CLO] = clo
    state[S_CACT] = cact
    state[S_SORT_BAD] = 1.0 if sort_bad else 0.0
    state[S_H50C] = h50c
    state[S_H50S] = h50s
    state[S_H60C] = h60c
    state[S_H60S] = h60s
    state[S_HN] = hn
    state[S_HC50] = c50
    state[S_HS50] = s50
    state[S_HC60] = c60
    state[S_HS60] = s60
    return nout


@njit(cache=True, nogil=True)
def scan(x: np.ndarray, state: np.ndarray, p: np.ndarray, cand: np.ndarray) -> int:
    """Filter, track the noise and find candidates in one chunk; returns the number of rows written.

    Parameters
    ----------
    x : ndarray
        The next chunk of samples (volts).
    state : ndarray
        State vector from :func:`init_state` (length :func:`state_size`),
        updated in place.
    p : ndarray
        Parameter vector.
    cand : ndarray
        ``(m, N_CAND)`` output rows: absolute start, peak and end sample of each finished
        candidate, the noise RMS of ``e`` and the signed ``e`` at the peak.  ``m`` must be
        at least ``x.size // P_GAP + 2``.

    Returns
    -------
    int
        Rows written.
    """
    saved = state.copy()
    nout = _scan_core(x, state, p, cand)
    finite = True
    for k in range(8):  # the filter's state (not the block sums)
        v = state[_FZ_SLOTS[k]]
        finite = finite and v - v == 0.0
    if not finite:
        # the filter never recovers from a NaN or inf: the chunk had one (or overflowed).
        # Again from the saved state, with such samples as 0, and counted
        bad = _count_nonfinite(x)
        if bad:
            state[:] = saved
            xs = x.copy()
            for j in range(x.size):
                if not (xs[j] - xs[j] == 0.0):
                    xs[j] = 0.0
            nout = _scan_core(xs, state, p, cand)
            state[S_NONFINITE] += bad
    state[S_NCAND] += nout
    return nout


@njit(cache=True, nogil=True)
def close_candidate(state: np.ndarray, cand: np.ndarray) -> int:
    """At the end of the recording: emit the candidate still open (if any) into ``cand[0]``."""
    if state[S_IN] == 0.0:
        return 0
    _put_candidate(cand, 0, state[S_CSTART], state[S_CPEAK], state[S_CLAST], state[S_CSIGMA], state[S_CPEAKV],
                   state[S_CLO], -1.0)
    state[S_IN] = 0.0
    state[S_NCAND] += 1
    return 1


@njit(cache=True, nogil=True)
def _kth_smallest(src: np.ndarray, k: int, scratch: np.ndarray) -> float:
    """The ``k``-th smallest (from 0) of ``src`` (no NaN), using ``scratch`` (at least
    ``2 * src.size`` long).

    Quickselect with a branch-free partition (every value is written to both ends of the
    other half of ``scratch`` and only the counts move, so the comparisons cost no
    mispredicted branches) around a median-of-three pivot, three ways (below, equal,
    above); small rests are insertion-sorted.  Views throughout (indices provably in range).
    """
    n = src.size
    m = n
    half = 0  # the half of scratch written next
    while True:
        d = scratch[half * n : half * n + m]
        if m <= 12:
            for i in range(m):
                v = src[i]
                j = i
                while j > 0 and d[j - 1] > v:
                    d[j] = d[j - 1]
                    j -= 1
                d[j] = v
            return d[k]
        p0 = src[0]
        p2 = src[m - 1]
        p1 = max(min(p0, p2), min(max(p0, p2), src[m // 2]))  # median of three
        nl = 0
        ng = 0
        top = m - 1
        for i in range(m):
            v = src[i]
            d[nl] = v
            d[top - ng] = v
            nl += v < p1
            ng += v > p1
        if k < nl:
            m = nl
            src = d[:nl]
        elif k >= m - ng:
            k -= m - ng
            src = d[m - ng :]
            m = ng
        else:
            return p1
        half = 1 - half


@njit(cache=True, nogil=True)
def _even_median(vals: np.ndarray, upper: float, below: int, n: int) -> float:
    """Median of ``n`` (even) values whose upper middle value is ``upper``: the lower middle
    value is the largest value below ``upper`` (of ``vals``, which hold it; ``below`` values
    below ``upper`` are not in ``vals``) unless fewer than ``n / 2`` values are below it."""
    lmax = -np.inf
    for i in range(vals.size):
        v = vals[i]
        b = v < upper
        below += b
        c = v if b else -np.inf
        lmax = c if c > lmax else lmax
    lower = lmax if below >= n // 2 else upper
    return (lower + upper) / 2.0


@njit(cache=True, nogil=True)
def median_of(a: np.ndarray, lo: int, hi: int, scratch: np.ndarray) -> float:
    """Median of ``a[lo:hi]`` (NaN if empty or if a value is NaN), using ``scratch`` (at
    least ``2 * (hi - lo)`` long) as workspace; ``a`` is not changed.

    The same value as ``np.median``: the middle value, or for an even count the mean
    ``(a + b) / 2`` of the two middle ones.  First a bracket: the values within 0.2 SD of
    the mean (four partial sums each, so that no pass waits on one chain of additions)
    are gathered; when the middle ranks lie among them (counted: fewer values below and
    above the bracket than the middle rank leaves room for) and they are at most half of
    all, the middle values are selected among those only (:func:`_kth_smallest`); when
    they lie beyond one side of it, among those of a second bracket on that side (out to
    0.6 SD from the mean) on the same terms; else among all (and so when a middle value
    found in the second bracket is zero: of 0.0 and -0.0 the one the selection among
    all returns).  The brackets only decide where to look: the values are exact either way.
    """
    n = hi - lo
    if n <= 0:
        return np.nan
    x = a[lo:hi]
    n4 = n - n % 4
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(0, n4, 4):
        s0 += x[i]
        s1 += x[i + 1]
        s2 += x[i + 2]
        s3 += x[i + 3]
    for i in range(n4, n):
        s0 += x[i]
    s = (s0 + s1) + (s2 + s3)
    if not (s - s == 0.0):  # a NaN or inf somewhere
        nan = 0
        for i in range(n):
            nan += x[i] != x[i]
        if nan:
            return np.nan
    k = n // 2
    klo = k - 1 if n % 2 == 0 else k
    mu = s / n
    q0 = 0.0
    q1 = 0.0
    q2 = 0.0
    q3 = 0.0
    for i in range(0, n4, 4):
        d0 = x[i] - mu
        d1 = x[i + 1] - mu
        d2 = x[i + 2] - mu
        d3 = x[i + 3] - mu
        q0 += d0 * d0
        q1 += d1 * d1
        q2 += d2 * d2
        q3 += d3 * d3
    w = 0.2 * math.sqrt(((q0 + q1) + (q2 + q3)) / n)
    plo = mu - w
    phi = mu + w
    if plo == plo and phi == phi:
        cl = 0
        ch = 0
        for i in range(n):
            cl += x[i] < plo
            ch += x[i] > phi
        mm = n - cl - ch
        if cl <= klo and k < n - ch and 2 * mm <= n:
            c = scratch[:n]
            mm = 0
            for i in range(n):
                v = x[i]
                c[mm] = v
                mm += (v >= plo) & (v <= phi)
            upper = _kth_smallest(c[:mm], k - cl, scratch[n : n + 2 * mm])
            if n % 2 == 1:
                return upper
            return _even_median(c[:mm], upper, cl, n)
        # the middle ranks lie below the bracket (or above it): a second one next to it,
        # three times as far from the mean
        if 2 * mm <= n and (cl > klo or k >= n - ch):
            below = cl > klo
            if below:
                q_lo = mu - 3.0 * w
                q_hi = plo
            else:
                q_lo = phi
                q_hi = mu + 3.0 * w
            c2l = 0
            c2h = 0
            for i in range(n):
                c2l += x[i] < q_lo if below else x[i] <= q_lo
                c2h += x[i] >= q_hi if below else x[i] > q_hi
            m2 = n - c2l - c2h
            if c2l <= klo and k < n - c2h and 2 * m2 <= n:
                c = scratch[:n]
                m2 = 0
                for i in range(n):
                    v = x[i]
                    c[m2] = v
                    m2 += ((v >= q_lo) & (v < q_hi)) if below else ((v > q_lo) & (v <= q_hi))
                upper = _kth_smallest(c[:m2], k - c2l, scratch[n : n + 2 * m2])
                # (a zero middle value is left to the selection among all below: of 0.0
                # and -0.0 it keeps the one it always kept)
                if n % 2 == 1:
                    if upper != 0.0:
                        return upper
                else:
                    # the lower middle value as _even_median finds it
                    lmax = -np.inf
                    nb = c2l
                    for i in range(m2):
                        v = c[i]
                        b = v < upper
                        nb += b
                        cv = v if b else -np.inf
                        lmax = cv if cv > lmax else lmax
                    lower = lmax if nb >= n // 2 else upper
                    if upper != 0.0 and lower != 0.0:
                        return (lower + upper) / 2.0
    upper = _kth_smallest(x, k, scratch)
    if n % 2 == 1:
        return upper
    return _even_median(x, upper, 0, n)


@njit(cache=True, nogil=True)
def _window_trend(w: np.ndarray, b0: int, b1: int, scratch: np.ndarray) -> float:
    """Median of the second half of ``w[b0:b1]`` minus the median of its first half."""
    mid = (b0 + b1) // 2
    return median_of(w, mid, b1, scratch) - median_of(w, b0, mid, scratch)


@njit(cache=True, nogil=True)
def _flatter_window(
    w: np.ndarray, b0: int, b1: int, e1: int, length: int, sign: float, pp: float, scratch: np.ndarray
) -> tuple[int, int]:
    """The baseline window ``[b0, b1)``, or the one of ``length`` samples ending at ``e1``
    (clipped at 0) when the first moves towards the potential's first peak (its halves'
    medians differ with the peak's ``sign``), spans less than the potential's peak-to-peak
    ``pp`` (more is another potential, not this one's rise) and the second's halves differ
    less: ``(end, start)``.  The first is kept when either has fewer than 6 samples."""
    e0 = e1 - length
    if e0 < 0:
        e0 = 0
    if e1 - e0 < 6 or b1 - b0 < 6:
        return b1, b0
    lo_v = w[b0]
    hi_v = w[b0]
    for i in range(b0 + 1, b1):
        if w[i] < lo_v:
            lo_v = w[i]
        if w[i] > hi_v:
            hi_v = w[i]
    if not hi_v - lo_v < pp:
        return b1, b0
    t_b = sign * _window_trend(w, b0, b1, scratch)
    if t_b > 0.0 and abs(_window_trend(w, e0, e1, scratch)) < t_b:
        return e1, e0
    return b1, b0


@njit(cache=True, nogil=True)
def smooth_levels(h: int) -> int:
    """Rows of the workspace :func:`smooth_into` needs for half-width ``h`` (at least 1)."""
    width = 2 * h + 1
    k = 0
    while (2 << k) <= width:
        k += 1
    return max(k, 1)


@njit(cache=True, nogil=True)
def _edge_mean(buf: np.ndarray, a: int, n: int, h: int, i: int) -> float:
    """Mean of ``buf[a:a + n]`` over ``i - h .. i + h`` clipped to the window, summed in order."""
    lo = i - h
    hi = i + h + 1
    if lo < 0:
        lo = 0
    if hi > n:
        hi = n
    s = 0.0
    for k in range(lo, hi):
        s += buf[a + k]
    return s / (hi - lo)


@njit(cache=True, nogil=True)
def smooth_into(buf: np.ndarray, a: int, b: int, h: int, out: np.ndarray, ws: np.ndarray) -> None:
    """Centred moving average (half-width ``h``) of ``buf[a:b]`` into ``out[:b - a]``, averaging
    only samples inside the window.

    Every output is the sum of its own samples divided by their number, the sum always
    taken the same way whatever the window (so it depends only on those samples): for
    the full width ``2h + 1``, from sums of 2, 4, 8 ... consecutive samples (each level
    one vectorised pass, the widest first, then the narrower ones the width's binary
    digits call for); at the edges, where the average shrinks, one after another.
    ``ws``: workspace of at least ``smooth_levels(h) * (b - a)`` values.
    """
    n = b - a
    if n <= 0:
        return
    width = 2 * h + 1
    i_in0 = h if h < n else n
    i_in1 = n - h
    if i_in1 < i_in0:
        i_in1 = i_in0
    for i in range(i_in0):
        out[i] = _edge_mean(buf, a, n, h, i)
    for i in range(i_in1, n):
        out[i] = _edge_mean(buf, a, n, h, i)
    m = i_in1 - i_in0  # full windows, starting at samples 0 .. m - 1
    if m <= 0:
        return
    # level k (row k - 1 of ws): sums of 2^k consecutive samples, for every start that fits
    top = 0
    while (2 << top) <= width:
        top += 1
    x = buf[a:b]
    span = 1
    for k in range(1, top + 1):
        cnt = n - 2 * span + 1
        dst = ws[(k - 1) * n : (k - 1) * n + cnt]
        # (views, so that every index is provably in range and the loops vectorise)
        if k == 1:
            x1 = x[1:]
            for i in range(cnt):
                dst[i] = x[i] + x1[i]
        else:
            src = ws[(k - 2) * n : (k - 2) * n + cnt]
            src2 = ws[(k - 2) * n + span : (k - 2) * n + span + cnt]
            for i in range(cnt):
                dst[i] = src[i] + src2[i]
        span *= 2
    # the window's sum: the widest level first, then the narrower ones of width's digits
    # (added in that order; up to four in one pass, the same additions as one pass each)
    o = out[i_in0 : i_in0 + m]
    wd = float(width)
    nterm = 0
    for k in range(top + 1):
        nterm += (width >> k) & 1
    if nterm <= 4:
        t0 = x[0:m]
        t1 = x[0:m]
        t2 = x[0:m]
        t3 = x[0:m]
        off = 0
        j = 0
        for k in range(top, -1, -1):
            span = 1 << k
            if not (width & span):
                continue
            if k == 0:
                lev = x[off : off + m]
            else:
                lev = ws[(k - 1) * n + off : (k - 1) * n + off + m]
            if j == 0:
                t0 = lev
            elif j == 1:
                t1 = lev
            elif j == 2:
                t2 = lev
            else:
                t3 = lev
            j += 1
            off += span
        if nterm == 1:
            for i in range(m):
                o[i] = t0[i] / wd
        elif nterm == 2:
            for i in range(m):
                o[i] = (t0[i] + t1[i]) / wd
        elif nterm == 3:
            for i in range(m):
                o[i] = ((t0[i] + t1[i]) + t2[i]) / wd
        else:
            for i in range(m):
                o[i] = (((t0[i] + t1[i]) + t2[i]) + t3[i]) / wd
        return
    off = 0
    first = True
    for k in range(top, -1, -1):
        span = 1 << k
        if not (width & span):
            continue
        if k == 0:
            lev = x[off : off + m]
        else:
            lev = ws[(k - 1) * n + off : (k - 1) * n + off + m]
        if first:
            for i in range(m):
                o[i] = lev[i]
            first = False
        else:
            for i in range(m):
                o[i] += lev[i]
        off += span
    for i in range(m):
        o[i] /= wd


@njit(cache=True, nogil=True)
def smooth_window(buf: np.ndarray, a: int, b: int, h: int) -> np.ndarray:
    """Centred moving average (half-width ``h``) of ``buf[a:b]``, averaging only samples inside it."""
    n = b - a
    out = np.empty(max(n, 0))
    if n <= 0:
        return out
    smooth_into(buf, a, b, h, out, np.empty(smooth_levels(h) * n))
    return out


@njit(cache=True, nogil=True)
def measure(
    buf: np.ndarray,
    buf_start: int,
    n_total: int,
    cand: np.ndarray,
    p: np.ndarray,
    feats: np.ndarray,
    snippets: np.ndarray,
    snip_before: int,
    snip_step: int,
    second: np.ndarray,
) -> None:
    """Measure and classify candidates from the raw samples around them.

    Parameters
    ----------
    buf : ndarray
        Raw samples (volts) of absolute indices ``buf_start .. buf_start + buf.size``.
    buf_start : int
        Absolute index of ``buf[0]``.
    n_total : int
        Samples known so far (the window never reaches beyond it).
    cand : ndarray
        ``(m, N_CAND)`` candidates from :func:`scan`.  The buffer must hold
        ``[peak - P_PRE, min(peak + P_POST, n_total))`` of each (clipped at 0).
    p : ndarray
        Parameter vector.
    feats : ndarray
        ``(m, N_FEATURES)`` output; sample positions are absolute indices.
    snippets : ndarray
        ``(m, L)`` output: every ``snip_step``-th sample of the baseline-free smoothed
        trace from ``snip_before`` samples before the alignment sample (zero outside the
        window).
    snip_before : int
        Samples of the snippet before the alignment sample.
    snip_step : int
        Decimation of the snippet (1: every sample).
    second : ndarray
        ``(m, N_CAND + 2)`` output, or ``(0, N_CAND + 2)`` not to look for second
        potentials: a second potential in the candidate's spike region outside the core
        of the measured one (its extreme phases, until ``P_CORE_GAP`` samples lie within
        ``P_CORE_FRACTION`` of its peak-to-peak) -- a sharp positive peak of at least
        ``P_SECOND_FRACTION`` of the peak-to-peak and ``P_SECOND_SNR`` noise SDs, with a
        valley before it and a fall after it -- as a candidate row limited to its side
        (``C_START`` -1 if none), and in the last two columns the limits (``C_LO``,
        ``C_HI``) for measuring the first potential again without it.  After the first
        potential anywhere in the region; before it only when the first is a positive
        sharp wave (a fibrillation's own initial lobe lies before its main peaks).  Only
        after fibrillations and positive sharp waves.
    """
    fs = p[P_FS_HZ]
    h = int(p[P_SMOOTH_HALF])
    pre = int(p[P_PRE])
    post = int(p[P_POST])
    base_from = int(p[P_BASE_FROM])
    base_to = int(p[P_BASE_TO])
    margin = int(p[P_SPIKE_MARGIN])
    lobe_back = int(p[P_FIRST_LOBE_BACK])
    lobe_frac = p[P_FIRST_LOBE_FRACTION]
    before_peak = int(p[P_BASE_BEFORE_PEAK])
    slow_from = int(p[P_SLOW_FROM])
    slow_to = int(p[P_SLOW_TO])
    slow_frac = p[P_SLOW_FRACTION]
    slow_z = p[P_SLOW_Z]
    end_h = int(p[P_END_SMOOTH_HALF])
    end_gap = int(p[P_END_GAP])
    onset_gap = int(p[P_ONSET_GAP])
    on_h_max = int(p[P_ONSET_SMOOTH_HALF])
    on_h_gap = int(p[P_ONSET_SMOOTH_GAP])
    dur_floor = p[P_DURATION_FLOOR_V]
    dur_frac = p[P_DURATION_FRACTION]
    dur_k = p[P_DURATION_K_NOISE]
    ph_frac = p[P_PHASE_FRACTION]
    fib_max = p[P_FIB_MAX_DURATION]
    psw_max = p[P_PSW_MAX_DURATION]
    eps_max = p[P_EPS_MAX_DURATION]
    spike_max_pp = p[P_SPIKE_MAX_PP_V]
    mup_phases = p[P_MUP_MIN_PHASES]
    min_snr = p[P_MIN_SNR]
    e_gain = p[P_E_GAIN]
    min_pp = p[P_MIN_PP_V]
    fast_win = int(p[P_FAST_WINDOW])
    raw_snr = p[P_MIN_PP_RAW_SNR]
    core_gap = int(p[P_CORE_GAP])
    core_frac = p[P_CORE_FRACTION]
    sec_frac = p[P_SECOND_FRACTION]
    sec_snr = p[P_SECOND_SNR]
    sec_sep = int(p[P_SECOND_SEPARATION])
    do_second = second.shape[0] > 0
    L = snippets.shape[1]
    short = margin + max(slow_to, base_from - base_to + 1, (L - 1) * snip_step + 1) + 2
    # workspaces, grown when a window needs more
    cap = 0
    wbuf = np.empty(0)
    levels = smooth_levels(h)
    cs = np.empty(1)
    scratch = np.empty(0)

    for r in range(cand.shape[0]):
        start = int(cand[r, C_START])
        peak = int(cand[r, C_PEAK])
        end = int(cand[r, C_END])
        sig_e = cand[r, C_SIGMA_E]
        c_lo = int(cand[r, C_LO])
        c_hi = int(cand[r, C_HI])
        lo = start - margin - lobe_back - before_peak - (base_from - base_to) - h - 1
        if lo < 0:
            lo = 0
        hi_full = peak + post
        if hi_full > n_total:
            hi_full = n_total
        # the smoothed trace is needed only up to the slow phase, the post-candidate
        # baseline and the snippet; the end of a long slow phase is followed on the raw samples
        hi = (peak if peak > end else end) + short
        if hi > hi_full:
            hi = hi_full
        n = hi - lo
        if n > cap:
            cap = max(n, 2 * cap, 1024)
            wbuf = np.empty(cap)
            cs = np.empty(levels * cap)
            scratch = np.empty(2 * cap)
        w = wbuf[:n]
        smooth_into(buf, lo - buf_start, hi - buf_start, h, w, cs)
        # noise SD of the raw samples (white-noise model of the detection filter), and of w
        sig_raw = sig_e / e_gain
        sig_w = sig_raw / math.sqrt(2.0 * h + 1.0)
        # spike region
        s0 = start - margin - lo
        s1 = end + margin + 1 - lo
        # a candidate split from its neighbour: its spike region stops at the split
        lim_lo = 0 if c_lo < 0 else c_lo - lo
        if s0 < lim_lo:
            s0 = lim_lo
        if c_hi >= 0 and s1 > c_hi - lo:
            s1 = c_hi - lo
        if s0 < 0:
            s0 = 0
        if s1 > n:
            s1 = n
        if s1 <= s0:
            s0 = 0
            s1 = n
        ip = s0
        im = s0
        vp = w[s0]
        vn = w[s0]
        for i in range(s0, s1):  # the first largest and smallest
            v = w[i]
            if v > vp:
                vp = v
                ip = i
            if v < vn:
                vn = v
                im = i
        # baseline: the median of a window ending before the candidate's start -- or, when
        # that window rises or falls towards the potential (a slow potential's initial phase
        # can begin well before the band-passed trace crosses the detection threshold) and
        # one ending before_peak samples before its first peak is flatter, that one
        b1 = start - base_to - lo
        b0 = b1 - (base_from - base_to)
        if b0 < 0:
            b0 = 0
        first0 = ip if ip < im else im
        if before_peak > 0 and first0 - before_peak < b1:
            b1, b0 = _flatter_window(w, b0, b1, first0 - before_peak, base_from - base_to,
                                     1.0 if ip < im else -1.0, vp - vn, scratch)
        if b1 - b0 >= 3:
            base = median_of(w, b0, b1, scratch)
        else:
            base = median_of(w, 0, n, scratch)
        for i in range(n):
            w[i] -= base
        base_w = base  # what was taken off the raw samples (the baseline, then its correction)
        vp -= base
        vn -= base
        pp = vp - vn
        # initial phase
        initial = -1.0
        ip_first = ip
        if ip < im:
            initial = 1.0
        else:
            k0 = im - lobe_back
            if k0 < lim_lo:
                k0 = lim_lo
            if k0 < 0:
                k0 = 0
            best = -np.inf
            for i in range(k0, im):
                if w[i] > best:
                    best = w[i]
            need = lobe_frac * pp
            if need < 3.0 * sig_w:
                need = 3.0 * sig_w
            if best >= need:
                initial = 1.0
                # the initial positive lobe is the peak to align on
                ib = k0
                vb = w[k0]
                for i in range(k0, im):
                    if w[i] > vb:
                        vb = w[i]
                        ib = i
                ip_first = ib
                if before_peak > 0 and ip_first - before_peak < b1 and b1 - b0 >= 3:
                    # the same choice for a window ending before the initial lobe
                    c1, c0 = _flatter_window(w, b0, b1, ip_first - before_peak, base_from - base_to, 1.0, pp, scratch)
                    if c1 != b1:
                        b0 = c0
                        b1 = c1
                        nb = median_of(w, b0, b1, scratch)
                        base_w += nb
                        for i in range(n):
                            w[i] -= nb
                        vp -= nb
                        vn -= nb
        # fast negative after the (initial) positive peak
        fmin = 0.0
        f1 = ip_first + fast_win
        if f1 > n:
            f1 = n
        for i in range(ip_first, f1):
            if w[i] < fmin:
                fmin = w[i]
        fast_ratio = -fmin / vp if vp > 0 else 0.0
        # slow phase after the (initial) positive peak
        a = ip_first + slow_from
        b = ip_first + slow_to
        if b > n:
            b = n
        if c_hi >= 0 and b > c_hi - lo:
            b = c_hi - lo
        slow = 0.0
        if b - a >= 3:
            acc = 0.0
            for i in range(a, b):
                acc += w[i]
            slow = acc / (b - a)
            sig_slow = sig_raw / math.sqrt(b - a)
        else:
            sig_slow = np.inf
        psw_like = slow <= -slow_frac * vp and slow <= -slow_z * sig_slow and vp > -vn and initial > 0
        slope = 0.0
        xa = 0.0
        if not psw_like and c_hi < 0:
            # re-reference to a straight line between the median before the candidate and
            # the median after it (a potential riding on the slow phase of another)
            c0 = end + margin + 1 - lo
            c1 = c0 + (base_from - base_to)
            if c1 > n:
                c1 = n
            if c1 - c0 >= 3 and b1 - b0 >= 3:
                post_base = median_of(w, c0, c1, scratch)
                xa = 0.5 * (b0 + b1)
                xb = 0.5 * (c0 + c1)
                slope = post_base / (xb - xa)
                for i in range(n):
                    w[i] -= slope * (i - xa)
                vp = w[ip]
                vn = w[im]
                for i in range(s0, s1):
                    if w[i] > vp:
                        vp = w[i]
                        ip = i
                    if w[i] < vn:
                        vn = w[i]
                        im = i
                pp = vp - vn
        # onset / end threshold: the truth rule (thr_rule), raised to the light smoothing's noise
        thr_rule = dur_floor
        if dur_frac * pp > thr_rule:
            thr_rule = dur_frac * pp
        thr = thr_rule
        if dur_k * sig_w > thr:
            thr = dur_k * sig_w
        # onset: back from the first extreme of the spike
        first = ip_first if ip_first < im else im
        on = first
        i = first
        while i > lim_lo and i > 0 and on - i <= onset_gap:
            i -= 1
            if abs(w[i]) > thr:
                on = i
        # ... and on, on a heavier smoothing: a slow initial phase (a fibrillation rising for a
        # millisecond or more) stays below thr on the light smoothing for much of its rise.  A
        # moving average of the raw samples (baseline and slope removed) of the narrowest
        # half-width whose noise (dur_k SDs) is below the truth rule's threshold (at most
        # on_h_max) is followed back while it has the initial phase's sign beyond that
        # threshold, until on_h_gap samples in a row are not.  The average takes no sample
        # from the onset found on the light smoothing on (it would spread a sharp onset back
        # by up to its half-width): a sharp potential's onset moves only where the samples
        # before it are themselves beyond the threshold on average.
        if on_h_max > 0:
            hh = on_h_max
            if thr_rule > 0.0 and dur_k * sig_raw < thr_rule * math.sqrt(2.0 * on_h_max + 1.0):
                hh = int(math.ceil(0.5 * ((dur_k * sig_raw / thr_rule) ** 2 - 1.0) - 1e-9))
            if hh > h:  # (else the light smoothing is as quiet)
                thr_on = dur_k * sig_raw / math.sqrt(2.0 * hh + 1.0)
                if thr_rule > thr_on:
                    thr_on = thr_rule
                on_l = on
                i = on
                while i > lim_lo and i > 0 and on - i <= on_h_gap:
                    i -= 1
                    a_o = i - hh
                    if a_o < lim_lo:
                        a_o = lim_lo
                    if a_o < 0:
                        a_o = 0
                    b_o = i + hh + 1
                    if b_o > on_l:
                        b_o = on_l
                    ssum = 0.0
                    for k in range(a_o + lo, b_o + lo):
                        ssum += buf[k - buf_start]
                    val = ssum / (b_o - a_o) - base_w - slope * (0.5 * (a_o + b_o - 1) - xa)
                    if initial * val > thr_on:
                        on = i
        # end: forward on a heavier smoothing (a moving average of the raw samples of
        # half-width end_h, baseline and slope removed), stop after end_gap quiet samples;
        # the slow phase of a PSW is followed down to that smoothing's own noise threshold
        thr_end = thr_rule if psw_like else thr
        noise_end = dur_k * sig_raw / math.sqrt(2.0 * end_h + 1.0)
        if noise_end > thr_end:
            thr_end = noise_end
        last = ip if ip > im else im
        en = last + lo  # absolute indices from here
        i = en
        a_s = i + 1 - end_h
        b_s = a_s
        ssum = 0.0
        lim = hi_full - 1
        if c_hi >= 0 and lim > c_hi - 1:
            lim = c_hi - 1
        i_steady = hi_full - end_h - 1  # the window stays whole up to here
        if i_steady > lim:
            i_steady = lim
        while i < lim and i - en <= end_gap:
            i += 1
            a_new = i - end_h
            b_new = i + end_h + 1
            if a_new == a_s + 1 and b_new == b_s + 1 and a_new > lo and b_new <= hi_full and a_new < b_s:
                # steady state: one sample leaves, one enters (the same operations as below),
                # and it stays so up to i_steady
                ssum -= buf[a_s - buf_start]
                ssum += buf[b_s - buf_start]
                a_s = a_new
                b_s = b_new
                val = ssum / (b_s - a_s) - base - slope * (0.5 * (a_s + b_s - 1) - lo - xa)
                if abs(val) > thr_end:
                    en = i
                while i < i_steady and i - en <= end_gap:
                    i += 1
                    ssum -= buf[a_s - buf_start]
                    ssum += buf[b_s - buf_start]
                    a_s += 1
                    b_s += 1
                    val = ssum / (b_s - a_s) - base - slope * (0.5 * (a_s + b_s - 1) - lo - xa)
                    if abs(val) > thr_end:
                        en = i
                continue
            if a_new < lo:
                a_new = lo
            if b_new > hi_full:
                b_new = hi_full
            if a_new >= b_s or b_new <= a_s:
                ssum = 0.0
                for k in range(a_new, b_new):
                    ssum += buf[k - buf_start]
            else:
                for k in range(a_s, a_new):
                    ssum -= buf[k - buf_start]
                for k in range(b_s, b_new):
                    ssum += buf[k - buf_start]
            a_s = a_new
            b_s = b_new
            val = ssum / (b_s - a_s) - base - slope * (0.5 * (a_s + b_s - 1) - lo - xa)
            if abs(val) > thr_end:
                en = i
        # the search stopped at its limit before end_gap quiet samples confirmed the end
        end_open = 1.0 if i - en <= end_gap else 0.0
        en -= lo
        if en >= n:  # the slow phase outlasts the smoothed window: phases counted within it
            en_ph = n - 1
        else:
            en_ph = en
        # phases between onset and end (dead band)
        band = ph_frac * pp
        if 3.0 * sig_w > band:
            band = 3.0 * sig_w
        phases = 0
        lab = 0
        for i in range(on, en_ph + 1):
            v = w[i]
            c = 0
            if v > band:
                c = 1
            elif v < -band:
                c = -1
            if c != 0 and c != lab:
                phases += 1
                lab = c
        # classification
        dur = en - on
        kind = K_UNCLASSIFIED
        if pp < min_pp or pp < min_snr * sig_w or pp < raw_snr * sig_raw:
            kind = K_UNCLASSIFIED
        elif pp > spike_max_pp:
            kind = K_MUP
        elif initial > 0 and psw_like and dur <= psw_max:
            kind = K_PSW
        elif phases >= mup_phases:
            kind = K_MUP
        elif initial > 0 and dur <= fib_max:
            kind = K_FIBRILLATION
        elif initial < 0 and dur <= eps_max:
            kind = K_END_PLATE
        else:
            kind = K_MUP
        align = ip_first
        if kind == K_END_PLATE or kind == K_MUP or kind == K_UNCLASSIFIED:
            align = im
        feats[r, F_ONSET] = on + lo
        feats[r, F_END] = en + lo
        feats[r, F_POS_PEAK] = ip_first + lo
        feats[r, F_NEG_PEAK] = im + lo
        feats[r, F_POS_V] = w[ip_first]
        feats[r, F_NEG_V] = vn
        feats[r, F_PP_V] = pp
        feats[r, F_INITIAL] = initial
        feats[r, F_SLOW_V] = slow
        feats[r, F_FAST_RATIO] = fast_ratio
        feats[r, F_PHASES] = phases
        feats[r, F_NOISE_V] = sig_raw
        feats[r, F_BASELINE_V] = base
        feats[r, F_KIND] = kind
        feats[r, F_START] = start
        feats[r, F_PEAK] = peak
        feats[r, F_ALIGN] = align + lo
        feats[r, F_END_OPEN] = end_open
        for k in range(L):
            i = align - snip_before + k * snip_step
            snippets[r, k] = w[i] if 0 <= i < n else 0.0
        if do_second:
            _second_potential(w, lo, n, r, s0, s1, ip, ip_first, im, pp, sig_w, kind, start, end, c_lo, c_hi,
                              sig_e, cand[r, C_PEAK_E], core_gap, core_frac, sec_frac, sec_snr, sec_sep, fast_win, spike_max_pp,
                              second)


@njit(cache=True, nogil=True)
def _second_potential(w, lo, n, r, s0, s1, ip, ip_first, im, pp, sig_w, kind, start, end, c_lo, c_hi, sig_e, peak_e,
                      core_gap, core_frac, sec_frac, sec_snr, min_sep, fast_win, spike_max_pp, second):
    """The second-potential search of :func:`measure` (see there) for row ``r``."""
    second[r, C_START] = -1.0
    if not (kind == K_FIBRILLATION or kind == K_PSW) or pp > spike_max_pp:
        return
    band = core_frac * pp
    if band < 3.0 * sig_w:
        band = 3.0 * sig_w
    need = sec_frac * pp
    if need < sec_snr * sig_w:
        need = sec_snr * sig_w
    # after the core
    last = ip_first if ip_first > im else im
    c1 = last
    i = last
    while i + 1 < s1 and i - c1 <= core_gap:
        i += 1
        if abs(w[i]) > band:
            c1 = i
    k = -1
    j0 = last + min_sep
    if j0 < i:
        j0 = i
    for j in range(j0, s1):
        if k < 0 or w[j] > w[k]:
            k = j
    if k >= 0 and w[k] >= need:
        vmin = w[k]
        jv = c1 + 1  # its region starts where it rises from the baseline (last sample <= 0)
        for j in range(c1 + 1, k):
            if w[j] < vmin:
                vmin = w[j]
            if w[j] <= 0.0:
                jv = j
        fmin = w[k]
        f1 = k + fast_win
        if f1 > n:
            f1 = n
        for j in range(k, f1):
            if w[j] < fmin:
                fmin = w[j]
        if w[k] - vmin >= 0.5 * w[k] and w[k] - fmin >= 0.6 * w[k]:
            cut = c1 + 1 + lo
            _put_candidate(second, r, jv + lo, k + lo, k + lo if k + lo > end else end, sig_e, peak_e, jv + lo, c_hi)
            second[r, N_CAND] = c_lo
            second[r, N_CAND + 1] = cut
            return
    if kind != K_PSW:
        return
    # before a positive sharp wave's peak
    c0 = ip
    i = ip
    while i - 1 >= s0 and c0 - i <= core_gap:
        i -= 1
        if abs(w[i]) > band:
            c0 = i
    k = -1
    j1 = ip - min_sep
    if j1 > i:
        j1 = i
    for j in range(s0, j1 + 1):
        if k < 0 or w[j] > w[k]:
            k = j
    if k < 0 or w[k] < need:
        return
    vmin = w[k]
    for j in range(k, c0):
        if w[j] < vmin:
            vmin = w[j]
    if w[k] - vmin < 0.6 * w[k]:
        return
    cut = c0 + lo
    _put_candidate(second, r, start if start < k + lo else k + lo, k + lo, k + lo, sig_e, peak_e, c_lo, cut)
    second[r, N_CAND] = cut
    second[r, N_CAND + 1] = c_hi


@njit(cache=True, nogil=True)
def match_template(snip: np.ndarray, templates: np.ndarray, n_templates: int, max_lag: int) -> np.ndarray:
    """Best normalised cross-correlation of ``snip`` with each of the first ``n_templates`` rows.

    The correlation is taken over the overlap at lags ``-max_lag .. max_lag``
    (``snip[i]`` against ``template[i + lag]``), on mean-free overlaps.

    Returns
    -------
    ndarray
        ``(n_templates, 2)``: best correlation (-1..1; 0 if undefined) and its lag.

    Notes
    -----
    The snippet's sums at a lag are taken once for all templates, and four templates are
    correlated in one loop (independent sums, each in the order of the one-template loop:
    the same numbers, without waiting on one chain of additions).
    """
    L = snip.size
    out = np.zeros((n_templates, 2))
    for t in range(n_templates):
        out[t, 0] = -2.0
    for lag in range(-max_lag, max_lag + 1):
        i0 = 0 if lag >= 0 else -lag
        i1 = L if lag <= 0 else L - lag
        m = i1 - i0
        if m < 3:
            continue
        sa = 0.0
        for i in range(i0, i1):
            sa += snip[i]
        ma = sa / m
        saa = 0.0
        for i in range(i0, i1):
            da = snip[i] - ma
            saa += da * da
        t = 0
        while t + 4 <= n_templates:
            ra = templates[t]
            rb = templates[t + 1]
            rc = templates[t + 2]
            rd = templates[t + 3]
            sb0 = 0.0
            sb1 = 0.0
            sb2 = 0.0
            sb3 = 0.0
            for i in range(i0, i1):
                j = i + lag
                sb0 += ra[j]
                sb1 += rb[j]
                sb2 += rc[j]
                sb3 += rd[j]
            mb0 = sb0 / m
            mb1 = sb1 / m
            mb2 = sb2 / m
            mb3 = sb3 / m
            x0 = 0.0
            x1 = 0.0
            x2 = 0.0
            x3 = 0.0
            y0 = 0.0
            y1 = 0.0
            y2 = 0.0
            y3 = 0.0
            for i in range(i0, i1):
                j = i + lag
                da = snip[i] - ma
                d0 = ra[j] - mb0
                d1 = rb[j] - mb1
                d2 = rc[j] - mb2
                d3 = rd[j] - mb3
                x0 += da * d0
                x1 += da * d1
                x2 += da * d2
                x3 += da * d3
                y0 += d0 * d0
                y1 += d1 * d1
                y2 += d2 * d2
                y3 += d3 * d3
            _best_correlation(out, t, lag, x0, saa, y0)
            _best_correlation(out, t + 1, lag, x1, saa, y1)
            _best_correlation(out, t + 2, lag, x2, saa, y2)
            _best_correlation(out, t + 3, lag, x3, saa, y3)
            t += 4
        while t < n_templates:
            ra = templates[t]
            sb = 0.0
            for i in range(i0, i1):
                sb += ra[i + lag]
            mb = sb / m
            sab = 0.0
            sbb = 0.0
            for i in range(i0, i1):
                da = snip[i] - ma
                db = ra[i + lag] - mb
                sab += da * db
                sbb += db * db
            _best_correlation(out, t, lag, sab, saa, sbb)
            t += 1
    for t in range(n_templates):
        if out[t, 0] == -2.0:  # no lag with an overlap of 3 samples
            out[t, 0] = 0.0
    return out


@njit(cache=True, nogil=True)
def _best_correlation(out: np.ndarray, t: int, lag: int, sab: float, saa: float, sbb: float) -> None:
    """Keep in ``out[t]`` the correlation ``sab / sqrt(saa * sbb)`` (0 if undefined) and ``lag``
    when it beats the best so far (the first of equal ones: lags in increasing order)."""
    if saa > 0.0 and sbb > 0.0:
        c = sab / math.sqrt(saa * sbb)
    else:
        c = 0.0
    if c > out[t, 0]:
        out[t, 0] = c
        out[t, 1] = lag


@njit(cache=True, nogil=True)
def interval_stats(times_s: np.ndarray, multiple_tolerance: float, period_s: float = 0.0) -> np.ndarray:
    """Firing rate and interval regularity of one train.

    The period is first ``period_s`` when given (> 0), else the median interval; an
    interval within ``multiple_tolerance`` (a fraction) of a whole multiple ``k`` of it
    counts as ``k`` periods (``k >= 2``: missed discharges).  The period is then refined
    once to the mean interval per period of those intervals, and the multiples are taken
    again with it.  Returns ``[rate_hz, cv, n_periods, period_s, n_irregular]``: the rate
    is periods per second over the span, the CV that of the intervals divided by their
    multiple, ``n_irregular`` the intervals that are neither one period nor a whole
    multiple within the tolerance.  NaN where undefined (fewer than 2 or 3 times).
    """
    out = np.full(5, np.nan)
    n = times_s.size
    if n < 2:
        return out
    m = n - 1
    iv = np.empty(m)
    for i in range(m):
        iv[i] = times_s[i + 1] - times_s[i]
    if period_s > 0.0:
        med = period_s
    else:
        srt = iv.copy()
        srt.sort()
        med = srt[m // 2] if m % 2 == 1 else 0.5 * (srt[m // 2 - 1] + srt[m // 2])
    if not (med > 0.0):
        return out
    # refine: mean interval per period over the intervals that are whole multiples
    acc = 0.0
    kk = 0.0
    for i in range(m):
        k = math.floor(iv[i] / med + 0.5)
        if k >= 1 and abs(iv[i] / med - k) <= multiple_tolerance * k:
            acc += iv[i]
            kk += k
    if kk > 0.0:
        med = acc / kk
    periods = 0.0
    s = 0.0
    nirr = 0
    u = np.empty(m)
    for i in range(m):
        k = math.floor(iv[i] / med + 0.5)
        if k < 1:
            k = 1
        ok = abs(iv[i] / med - k) <= multiple_tolerance * k
        if k >= 2 and not ok:
            k = 1  # not a multiple: an irregular interval, counted as it is
        if not ok:
            nirr += 1
        periods += k
        u[i] = iv[i] / k
        s += u[i]
    span = times_s[n - 1] - times_s[0]
    out[0] = periods / span if span > 0 else np.nan
    out[3] = med
    out[2] = periods
    out[4] = nirr
    if m >= 2:
        mean = s / m
        ss = 0.0  # two-pass variance (no cancellation on near-equal intervals)
        for i in range(m):
            ss += (u[i] - mean) * (u[i] - mean)
        out[1] = math.sqrt(ss / (m - 1)) / mean
    return out


@njit(cache=True, nogil=True)
def chain_from(times_s: np.ndarray, s0: int, s1: int, tol: float, max_periods: int, out: np.ndarray) -> int:
    """Grow a chain of discharges at whole multiples of one period from the seed pair ``(s0, s1)``.

    In time order, the next member is the discharge ``k`` periods (``1 <= k <=
    max_periods``) after the last member within ``tol * sqrt(k)`` periods, the smallest
    ``k`` and then the closest to the prediction; the period is then updated to the mean
    interval per period since ``s0``.  Writes the member indices into ``out`` and returns
    their number (0 if the seed interval is not positive).
    """
    n = times_s.size
    period = times_s[s1] - times_s[s0]
    if not (period > 0.0):
        return 0
    out[0] = s0
    out[1] = s1
    m = 2
    span = 1.0
    last = s1
    while True:
        bj = -1
        bk = 0
        berr = np.inf
        for j in range(last + 1, n):
            r = (times_s[j] - times_s[last]) / period
            if bj >= 0 and r > bk + 0.5:
                break
            if r > max_periods + 0.5:
                break
            k = math.floor(r + 0.5)
            if k < 1:
                continue
            err = abs(r - k)
            if err <= tol * math.sqrt(k) and (bj < 0 or k < bk or err < berr):
                bj = j
                bk = int(k)
                berr = err
        if bj < 0:
            break
        out[m] = bj
        m += 1
        span += bk
        last = bj
        period = (times_s[bj] - times_s[s0]) / span
    return m


@njit(cache=True, nogil=True)
def seed_chains(times_s: np.ndarray, tol: float, max_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct chains of :func:`chain_from` from the seed pairs ``(s0, s1)``, ``s0 < 4``,
    ``s0 < s1 < s0 + 9``, longest first, equal lengths in lexicographic order of their
    members.  Returns ``(members, lengths)``: chain ``c`` is ``members[c, :lengths[c]]``.
    """
    n = times_s.size
    n_seeds = 0
    for s0 in range(min(4, n)):
        n_seeds += min(s0 + 9, n) - s0 - 1
    store = np.empty((max(n_seeds, 1), max(n, 2)), dtype=np.int64)
    lens = np.zeros(max(n_seeds, 1), dtype=np.int64)
    c = 0
    for s0 in range(min(4, n)):
        for s1 in range(s0 + 1, min(s0 + 9, n)):
            m = chain_from(times_s, s0, s1, tol, max_periods, store[c])
            if m == 0:
                continue
            dup = False
            for k in range(c):
                if lens[k] == m:
                    same = True
                    for q in range(m):
                        if store[k, q] != store[c, q]:
                            same = False
                            break
                    if same:
                        dup = True
                        break
            if not dup:
                lens[c] = m
                c += 1
    # order: longest first, then lexicographic (insertion sort of the row indices)
    order = np.arange(c)
    for a in range(1, c):
        v = order[a]
        b = a - 1
        while b >= 0 and _chain_before(store, lens, v, order[b]):
            order[b + 1] = order[b]
            b -= 1
        order[b + 1] = v
    members = np.empty((c, max(n, 2)), dtype=np.int64)
    out_len = np.empty(c, dtype=np.int64)
    for k in range(c):
        members[k] = store[order[k]]
        out_len[k] = lens[order[k]]
    return members, out_len


@njit(cache=True, nogil=True)
def _chain_before(store: np.ndarray, lens: np.ndarray, u: int, v: int) -> bool:
    """Whether chain ``u`` sorts before chain ``v``: longer, or as long and lexicographically smaller."""
    if lens[u] != lens[v]:
        return lens[u] > lens[v]
    for q in range(lens[u]):
        if store[u, q] != store[v, q]:
            return store[u, q] < store[v, q]
    return False


@njit(cache=True, nogil=True)
def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@njit(cache=True, nogil=True)
def fill_slots(
    times: np.ndarray, period: float, d: int, tol: float, cand_t: np.ndarray, ends: bool, t_end: float,
    primitive: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-grid slots of a train and the candidates that fill them (the work of
    ``edx.needle.spontaneous._fill_slots``, which documents the slots).

    Slots in order: between consecutive members (``times``), then before the first and
    after the last member (with ``ends``).  Returns the sorted distinct candidate
    positions (in ``cand_t``, sorted) that fill slots, and the window half-width of every
    slot (its number is the number of slots).
    """
    sub = period / d
    n = times.size
    # count the slots
    ns = 0
    for g in range(n - 1):
        span = times[g + 1] - times[g]
        nsub = max(1.0, math.floor(span / period + 0.5))
        n_sub = int(nsub) * d
        for j in range(1, n_sub):
            if d > 1 and (_gcd(j, d) != 1 if primitive else j % d == 0):
                continue
            ns += 1
    if ends and n >= 1:
        for j in range(1, 10 * d + 1):
            if times[0] - j * sub >= 0.0:
                ns += 1
        for j in range(1, 10 * d + 1):
            if times[n - 1] + j * sub <= t_end:
                ns += 1
    tp = np.empty(ns)
    w = np.empty(ns)
    k = 0
    for g in range(n - 1):
        span = times[g + 1] - times[g]
        nsub = max(1.0, math.floor(span / period + 0.5))
        n_sub = int(nsub) * d
        step = span / n_sub
        for j in range(1, n_sub):
            if d > 1 and (_gcd(j, d) != 1 if primitive else j % d == 0):
                continue
            tp[k] = times[g] + j * step
            w[k] = min(tol * math.sqrt(min(j, n_sub - j)), 0.3) * sub
            k += 1
    if ends and n >= 1:
        for j in range(1, 10 * d + 1):
            t = times[0] - j * sub
            if t >= 0.0:
                tp[k] = t
                w[k] = min(tol * math.sqrt(j), 0.3) * sub
                k += 1
        for j in range(1, 10 * d + 1):
            t = times[n - 1] + j * sub
            if t <= t_end:
                tp[k] = t
                w[k] = min(tol * math.sqrt(j), 0.3) * sub
                k += 1
    nc = cand_t.size
    if ns == 0 or nc == 0:
        return np.empty(0, dtype=np.int64), w
    # the nearest candidate of each slot, if within its window (the later one when as near)
    best = np.empty(ns, dtype=np.int64)
    nb = 0
    for s in range(ns):
        q = np.searchsorted(cand_t, tp[s])
        d0 = tp[s] - cand_t[q - 1] if q >= 1 else np.inf
        d1 = cand_t[q] - tp[s] if q < nc else np.inf
        if d1 <= min(d0, w[s]):
            best[nb] = q
            nb += 1
        elif d0 <= w[s]:
            best[nb] = q - 1
            nb += 1
    return np.unique(best[:nb]), w


@njit(cache=True, nogil=True)
def _find_group(
    s: np.ndarray,
    code: int,
    pp: float,
    noise: float,
    min_corr: float,
    max_ratio: float,
    max_lag: int,
    templates: np.ndarray,
    t_kind: np.ndarray,
    t_amp: np.ndarray,
    n_groups: int,
    cand: np.ndarray,
    sub: np.ndarray,
) -> int:
    """The group a fibrillation/PSW snippet would join (see :func:`assign_groups`); -1: a
    new group (or another kind).  Changes nothing."""
    if code != K_FIBRILLATION and code != K_PSW:
        return -1
    L = s.size
    mu = 0.0
    for i in range(L):
        mu += s[i]
    mu /= L
    var = 0.0
    for i in range(L):
        var += (s[i] - mu) ** 2
    var /= L
    if var > 0.0:
        q = 1.0 - noise * noise / var
        reach = math.sqrt(q if q > 0.25 else 0.25)
    else:
        reach = 0.5
    need = min_corr * reach
    nc = 0
    for g in range(n_groups):
        if t_kind[g] == code and t_amp[g] <= pp * max_ratio and t_amp[g] * max_ratio >= pp:
            cand[nc] = g
            for i in range(L):
                sub[nc, i] = templates[g, i]
            nc += 1
    best = -1
    if nc > 0:
        res = match_template(s, sub, nc, max_lag)
        bc = need
        for j in range(nc):
            if res[j, 0] >= bc and (best < 0 or res[j, 0] > bc):
                bc = res[j, 0]
                best = cand[j]
    return best


@njit(cache=True, nogil=True)
def _join_group(
    s: np.ndarray,
    code: int,
    pp: float,
    best: int,
    templates: np.ndarray,
    t_count: np.ndarray,
    t_kind: np.ndarray,
    t_amp: np.ndarray,
    n_groups: int,
) -> int:
    """Add a fibrillation/PSW snippet to group ``best`` (running template and amplitude, the
    last 20), or start group ``n_groups`` with it when ``best`` < 0; other kinds: -1."""
    if code != K_FIBRILLATION and code != K_PSW:
        return -1
    L = s.size
    if best < 0:
        g = n_groups
        for i in range(L):
            templates[g, i] = s[i]
        t_count[g] = 1
        t_kind[g] = code
        t_amp[g] = pp
        return g
    c = t_count[best] + 1
    if c > 20:
        c = 20
    for i in range(L):
        templates[best, i] += (s[i] - templates[best, i]) / c
    t_amp[best] += (pp - t_amp[best]) / c
    t_count[best] += 1
    return best


@njit(cache=True, nogil=True)
def _assign_one(
    s: np.ndarray,
    code: int,
    pp: float,
    noise: float,
    min_corr: float,
    max_ratio: float,
    max_lag: int,
    templates: np.ndarray,
    t_count: np.ndarray,
    t_kind: np.ndarray,
    t_amp: np.ndarray,
    n_groups: int,
    cand: np.ndarray,
    sub: np.ndarray,
) -> int:
    """One step of :func:`assign_groups`: the group of one discharge (``-1`` for kinds
    other than fibrillation and PSW); a new group is numbered ``n_groups``."""
    best = _find_group(s, code, pp, noise, min_corr, max_ratio, max_lag, templates, t_kind, t_amp, n_groups, cand, sub)
    return _join_group(s, code, pp, best, templates, t_count, t_kind, t_amp, n_groups)


@njit(cache=True, nogil=True)
def assign_groups(
    snips: np.ndarray,
    codes: np.ndarray,
    pps: np.ndarray,
    noise: np.ndarray,
    min_corr: float,
    max_ratio: float,
    max_lag: int,
    templates: np.ndarray,
    t_count: np.ndarray,
    t_kind: np.ndarray,
    t_amp: np.ndarray,
    n_groups: int,
    out: np.ndarray,
) -> int:
    """Causal shape grouping of discharges (in the order given).

    A discharge whose ``codes[r]`` is fibrillation or PSW joins the group of the same
    kind, with a mean amplitude within ``max_ratio`` of its own, whose template it
    correlates best with (:func:`match_template`), if that correlation is at least
    ``min_corr`` times the correlation the noise lets it reach
    (``sqrt(max(1 - noise² / var(snippet), 0.25))``); the template and amplitude are
    then running means (the last 20).  Otherwise it starts a new group.  Other kinds get
    -1.  ``templates`` etc. must have room for ``n_groups + len(snips)`` groups.
    Returns the new number of groups; ``out[r]`` is the group of discharge ``r``.
    """
    m, L = snips.shape
    cand = np.empty(templates.shape[0], dtype=np.int64)
    sub = np.empty((templates.shape[0], L))
    for r in range(m):
        g = _assign_one(snips[r], codes[r], pps[r], noise[r], min_corr, max_ratio, max_lag, templates, t_count,
                        t_kind, t_amp, n_groups, cand, sub)
        out[r] = g
        if g == n_groups:
            n_groups += 1
    return n_groups



@njit(cache=True, nogil=True)
def _residual_into(
    buf: np.ndarray, buf_start: int, q0: int, q1: int, tpl: np.ndarray, t0: int, base: float, out: np.ndarray
) -> None:
    """``out[:q1 - q0]`` = raw samples ``q0..q1`` minus ``base`` and minus ``tpl`` placed with its
    first sample at ``t0``."""
    # three branch-free runs (before the template, along it, after it), views indexed from 0
    n = q1 - q0
    if n <= 0:
        return
    nt = tpl.size
    x = buf[q0 - buf_start : q1 - buf_start]
    o = out[:n]
    a = t0 - q0  # first sample along the template
    if a < 0:
        a = 0
    if a > n:
        a = n
    b = t0 + nt - q0  # first sample after it
    if b > n:
        b = n
    if b < a:
        b = a
    for i in range(a):
        o[i] = x[i] - base
    xa = x[a:b]
    oa = o[a:b]
    ta = tpl[a + q0 - t0 : b + q0 - t0]
    for i in range(b - a):
        oa[i] = (xa[i] - base) - ta[i]
    for i in range(b, n):
        o[i] = x[i] - base


@njit(cache=True, nogil=True)
def _placed_sse(
    buf: np.ndarray, buf_start: int, s0: int, s1: int, tpl: np.ndarray, t0: int, base: float, step: int = 1
) -> float:
    """Residual energy over every ``step``-th sample of ``s0..s1`` of the raw samples minus
    ``base`` and ``tpl`` placed at ``t0``, summed in sample order."""
    nt = tpl.size
    sse = 0.0
    for i in range(s0, s1, step):
        v = buf[i - buf_start] - base
        j = i - t0
        if 0 <= j < nt:
            v -= tpl[j]
        sse += v * v
    return sse


@njit(cache=True, nogil=True)
def _lag_samples(buf: np.ndarray, buf_start: int, s0: int, nk: int, step: int, base: float, xd: np.ndarray) -> None:
    """``xd[k]`` = raw sample ``s0 + k * step`` minus ``base``, for ``k < nk`` (for :func:`_lag_sse`)."""
    for k in range(nk):
        xd[k] = buf[s0 + k * step - buf_start] - base


@njit(cache=True, nogil=True)
def _lag_sse(
    xd: np.ndarray, nk: int, s0: int, step: int, tpl: np.ndarray, scale: float, t_lo: int, n_lags: int,
    rev: np.ndarray, out: np.ndarray,
) -> None:
    """:func:`_placed_sse` of the template ``tpl * scale`` placed at ``t_lo + l * step`` for
    every lag ``l < n_lags``, over the ``nk`` samples ``s0, s0 + step, ...`` (given minus
    the baseline in ``xd``, :func:`_lag_samples`): ``out[l]``, bit for bit.

    All lags at once: the template, reversed and zero outside, goes to ``rev``
    (``rev[nk - 1 - k + l]`` meets sample ``k`` at lag ``l``), so that each sample updates
    every lag's sum with one contiguous (vectorised) sweep; every sum still adds its terms
    in sample order, as :func:`_placed_sse` does.  The lags are computed in whole fours
    (``out[n_lags:]`` up to the next multiple of 4 is scratch).  Workspaces: ``rev`` at
    least ``nk + n_lags + 2`` long, ``out`` at least ``n_lags + 3``.
    """
    if n_lags <= 0:
        return
    nl = (n_lags + 3) // 4 * 4
    nt = tpl.size
    j_top = s0 - t_lo + (nk - 1) * step
    for q in range(nk + nl - 1):
        j = j_top - q * step
        rev[q] = tpl[j] * scale if 0 <= j < nt else 0.0
    o = out[:nl]
    for lag in range(nl):
        o[lag] = 0.0
    k = 0
    while k + 4 <= nk:
        x0 = xd[k]
        x1 = xd[k + 1]
        x2 = xd[k + 2]
        x3 = xd[k + 3]
        b = nk - 1 - k
        r0 = rev[b : b + nl]
        r1 = rev[b - 1 : b - 1 + nl]
        r2 = rev[b - 2 : b - 2 + nl]
        r3 = rev[b - 3 : b - 3 + nl]
        for lag in range(nl):
            s = o[lag]
            v = x0 - r0[lag]
            s += v * v
            v = x1 - r1[lag]
            s += v * v
            v = x2 - r2[lag]
            s += v * v
            v = x3 - r3[lag]
            s += v * v
            o[lag] = s
        k += 4
    while k < nk:
        xk = xd[k]
        b = nk - 1 - k
        r0 = rev[b : b + nl]
        for lag in range(nl):
            v = xk - r0[lag]
            o[lag] += v * v
        k += 1


@njit(cache=True, nogil=True)
def _divided_template(r_sum: np.ndarray, g: int, n_mem: int, tplc: np.ndarray, tpl_ok: np.ndarray) -> np.ndarray:
    """Raw template ``g`` divided by ``n_mem`` (its member count once complete), made once
    into row ``g`` of the cache ``tplc`` (``tpl_ok`` marks the rows made)."""
    if not tpl_ok[g]:
        for i in range(r_sum.shape[1]):
            tplc[g, i] = r_sum[g, i] / n_mem
        tpl_ok[g] = True
    return tplc[g]


@njit(cache=True, nogil=True)
def _fit_own_templates(
    buf: np.ndarray, buf_start: int, c0: int, c1: int, base: float, t_lo: int, n_lags: int, group: int,
    r_sum: np.ndarray, r_n: np.ndarray, r_grp: np.ndarray, n_raw: int, n_mem: int, xd: np.ndarray,
    rev: np.ndarray, lsse: np.ndarray,
) -> tuple[int, int, float, int, int, float, int]:
    """The raw templates of shape group ``group`` fitted to the raw samples ``c0..c1`` (minus
    ``base``) at the placements ``t_lo .. t_lo + n_lags - 1`` (residual energy,
    :func:`_placed_sse`; a template is its sum times ``1 / members``).

    Returns ``(use, use_t0, use_sse, acc, acc_t0, acc_sse, n_own)``: the complete template
    (at least ``n_mem`` members) and placement of least residual, the first in template
    and placement order among equal ones (-1, 0, inf if none), the same among the
    templates still being made, and the number of templates of the group.  ``xd``,
    ``rev``, ``lsse``: workspaces (:func:`_lag_sse`).
    """
    use = -1
    use_t0 = 0
    use_sse = np.inf
    acc = -1
    acc_t0 = 0
    acc_sse = np.inf
    n_own = 0
    _lag_samples(buf, buf_start, c0, c1 - c0, 1, base, xd)
    for t in range(n_raw):
        if r_grp[t] != group:
            continue
        n_own += 1
        nm = r_n[t]
        _lag_sse(xd, c1 - c0, c0, 1, r_sum[t], 1.0 / nm, t_lo, n_lags, rev, lsse)
        for lag in range(n_lags):
            if nm >= n_mem and lsse[lag] < use_sse:
                use_sse = lsse[lag]
                use = t
                use_t0 = t_lo + lag
            if nm < n_mem and lsse[lag] < acc_sse:
                acc_sse = lsse[lag]
                acc = t
                acc_t0 = t_lo + lag
    return use, use_t0, use_sse, acc, acc_t0, acc_sse, n_own


@njit(cache=True, nogil=True)
def _fit_any_template(
    buf: np.ndarray, buf_start: int, s0: int, s1: int, base: float, t_before: int, step: int, r_sum: np.ndarray,
    r_n: np.ndarray, n_raw: int, n_mem: int, tplc: np.ndarray, tpl_ok: np.ndarray, xd: np.ndarray, rev: np.ndarray,
    lsse: np.ndarray,
) -> tuple[int, int]:
    """The complete raw template (at least ``n_mem`` members, divided by ``n_mem``) and its
    placement that leave the least residual energy in ``s0..s1`` (raw samples minus
    ``base``): first coarse, every ``step``-th placement from ``s0 - t_before`` to
    ``s1 - t_before`` on every ``step``-th sample, then the placements within
    ``step - 1`` of the best one on every sample; the first in template and placement
    order among equal ones.  Returns ``(template, placement)``, ``(-1, 0)`` if there is no
    complete template.  ``tplc``, ``tpl_ok``: the cache of :func:`_divided_template`;
    ``xd``, ``rev``, ``lsse``: workspaces (:func:`_lag_sse`).
    """
    use = -1
    t0 = 0
    best = np.inf
    t_lo = s0 - t_before
    n_lags = (s1 - s0) // step + 1
    nk = (s1 - s0 + step - 1) // step
    _lag_samples(buf, buf_start, s0, nk, step, base, xd)
    for g in range(n_raw):
        if r_n[g] < n_mem:
            continue
        _lag_sse(xd, nk, s0, step, _divided_template(r_sum, g, n_mem, tplc, tpl_ok), 1.0, t_lo, n_lags, rev, lsse)
        for lag in range(n_lags):
            if lsse[lag] < best:
                best = lsse[lag]
                use = g
                t0 = t_lo + lag * step
    if use >= 0 and step > 1:
        a = t0 - step + 1
        _lag_samples(buf, buf_start, s0, s1 - s0, 1, base, xd)
        _lag_sse(xd, s1 - s0, s0, 1, tplc[use], 1.0, a, 2 * step - 1, rev, lsse)
        best = np.inf
        for lag in range(2 * step - 1):
            if lsse[lag] < best:
                best = lsse[lag]
                t0 = a + lag
    return use, t0


@njit(cache=True, nogil=True)
def _second_in_residual(
    buf: np.ndarray, buf_start: int, s0: int, s1: int, h: int, tpl: np.ndarray, t0: int, base: float, peak: int,
    sig_w: float, need: float, sep: int, fast_win: int, fit: float, d: np.ndarray, cs: np.ndarray, rs: np.ndarray,
    out: np.ndarray,
) -> bool:
    """A second potential in the residual of ``s0..s1`` (raw minus ``base`` and ``tpl`` at
    ``t0``, smoothed with half-width ``h``): the largest sharp positive peak at least
    ``sep`` samples from ``peak``, with a valley before it (down by half)
    and a fall after it (by 60 % within ``fast_win``), while the residual away from it
    (before its rise and beyond ``2 * fast_win`` after its peak) has a mean square of at most
    ``fit²`` times ``sig_w²`` (the template fits the rest).  The peak is the local maximum
    (above 2 SDs) followed by the largest fall within ``fast_win``, and that fall (the
    sharp positive-negative transition of a fibrillation or PSW) must be at least ``need``.
    The template must be present away from the second potential: energy at least
    ``need² / 2`` there, and the raw samples' amplitude along it within 0.7-1.3 of it.  Writes ``[peak, start]``
    (absolute) into ``out``; ``d``, ``rs`` are workspaces of ``s1 - s0 + 2h + 1`` values, ``cs``
    of ``smooth_levels(h)`` times that (:func:`smooth_into`)."""
    nr = s1 - s0 + 2 * h
    _residual_into(buf, buf_start, s0 - h, s1 + h, tpl, t0, base, d)
    smooth_into(d, 0, nr, h, rs, cs)
    i0 = h
    i1 = nr - h
    # no fall within the residual's range reaches need: nothing to look for (the search
    # below would find a smaller drop, or none)
    vmax = -np.inf
    vmin = np.inf
    for i in range(i0, i1):
        v = rs[i]
        vmax = v if v > vmax else vmax
        vmin = v if v < vmin else vmin
    if not (vmax - vmin >= need):
        return False
    # the positive peak (local maximum above 2 SDs) followed by the largest fall within fast_win
    k = -1
    best_drop = 0.0
    lo2 = 2.0 * sig_w
    for i in range(i0, i1):
        v = rs[i]
        if v < lo2 or abs(i + s0 - h - peak) < sep:
            continue
        if (i > 0 and rs[i - 1] > v) or (i + 1 < nr and rs[i + 1] >= v):
            continue
        f1 = i + fast_win
        if f1 > i1:
            f1 = i1
        fm = v
        for j in range(i, f1):
            if rs[j] < fm:
                fm = rs[j]
        if v - fm > best_drop:
            best_drop = v - fm
            k = i
    if k < 0 or best_drop < need:
        return False
    vmin = rs[k]
    jv = i0
    for j in range(i0, k):
        if rs[j] < vmin:
            vmin = rs[j]
        if rs[j] <= 0.0:
            jv = j
    fmin = rs[k]
    f1 = k + fast_win
    if f1 > i1:
        f1 = i1
    for j in range(k, f1):
        if rs[j] < fmin:
            fmin = rs[j]
    if rs[k] - vmin < 0.5 * rs[k] or rs[k] - fmin < 0.6 * rs[k]:
        return False
    x1 = k + 2 * fast_win
    sse = 0.0
    nn = 0
    for j in range(i0, i1):
        if j < jv or j > x1:
            sse += rs[j] * rs[j]
            nn += 1
    if nn < fast_win or sse > fit * fit * sig_w * sig_w * nn:
        return False
    # ... and the template must be there: away from the second potential it holds at least
    # need² / 2 of energy (raw samples) and the samples' amplitude along it is 0.7-1.3 of it
    stt = 0.0
    sdt = 0.0
    nt = tpl.size
    for j in range(i0, i1):
        if j < jv or j > x1:
            q = j + s0 - h - t0
            if 0 <= q < nt:
                stt += tpl[q] * tpl[q]
                sdt += d[j] * tpl[q]
    if stt < 0.5 * need * need or abs(sdt) > 0.3 * stt:
        return False
    out[0] = k + s0 - h
    out[1] = jv + s0 - h
    return True


@njit(cache=True, nogil=True)
def _grow_raw(
    r_sum: np.ndarray, r_n: np.ndarray, r_grp: np.ndarray, tplc: np.ndarray, tpl_ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The raw-template arrays (and the cache of :func:`_divided_template`) with twice the
    rows (at least 16), their contents kept."""
    cap = max(16, 2 * r_sum.shape[0])
    s = np.zeros((cap, r_sum.shape[1]))
    n = np.zeros(cap, dtype=np.int64)
    g = np.zeros(cap, dtype=np.int64)
    c = np.zeros((cap, r_sum.shape[1]))
    ok = np.zeros(cap, dtype=np.bool_)
    s[: r_sum.shape[0]] = r_sum
    n[: r_n.size] = r_n
    g[: r_grp.size] = r_grp
    c[: tplc.shape[0]] = tplc
    ok[: tpl_ok.size] = tpl_ok
    return s, n, g, c, ok


@njit(cache=True, nogil=True)
def group_and_peel(
    buf: np.ndarray,
    buf_start: int,
    n_total: int,
    rows: np.ndarray,
    feats: np.ndarray,
    snips: np.ndarray,
    noise_w: np.ndarray,
    p: np.ndarray,
    gp: np.ndarray,
    templates: np.ndarray,
    t_count: np.ndarray,
    t_kind: np.ndarray,
    t_amp: np.ndarray,
    n_groups: int,
    r_sum: np.ndarray,
    r_n: np.ndarray,
    r_grp: np.ndarray,
    tplc: np.ndarray,
    tpl_ok: np.ndarray,
    feats_out: np.ndarray,
    gids_out: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shape grouping (:func:`assign_groups`, in the order given) with template peel-off.

    Each fibrillation/PSW group keeps a full-rate template of the raw samples (baseline
    removed) from ``G_BEFORE`` samples before to ``G_AFTER`` after the alignment sample:
    the mean of its first ``G_MEMBERS`` members that fit it (after the best lag within
    ``G_LAG`` samples, the residual around the peak has a mean square of at most ``G_FIT²``
    noise variances: one source, although a shape group may hold similar shapes of
    several), then frozen.  A discharge is peeled when

    * it would join a group with a template: the template is subtracted at the lag
      within ``G_LAG`` samples that leaves the least residual energy in its spike region;
    * it would start a new group (or is a motor unit potential within the size of
      fibrillations): of all templates at all lags in its spike region, the one that
      leaves the least residual energy is subtracted (two potentials of known sources
      measured as one shape that matches neither);

    (all lags of a template at once, :func:`_lag_sse`) and the residual of the spike
    region holds a second potential
    (:func:`_second_in_residual`: at least ``G_SNR`` noise SDs of the smoothed residual and
    ``G_FRACTION`` of the discharge's peak-to-peak, at least ``G_SEPARATION`` samples from
    its alignment sample, the template fitting the rest).  The second potential is measured
    (:func:`measure`) on the residual and kept when it is a fibrillation or a PSW at least
    ``dup`` samples from the previous event; the discharge is then measured again with the
    second potential replaced by the template (over the second's onset..end), and both are
    grouped.  A row whose alignment sample lies within ``dup`` samples of the previous
    event's is the same potential found again by a later candidate: it is left out; so is an
    unclassified row whose onset lies within ``dup`` samples of the previous event's and whose
    two peaks lie within that event's onset..end (a part of it -- a fibrillation's initial lobe,
    a later phase -- found by a candidate of its own and measured within its smaller region),
    and an unclassified row whose onset lies within the previous event's onset..end (+ ``dup``)
    and which is no larger than it (the slow end of a long fibrillation crossing the detection
    threshold again after its candidate ended).
    Nothing of the peel-off is tried on a spike region of at most ``2 * P_FAST_WINDOW``
    samples.

    Parameters
    ----------
    buf, buf_start, n_total
        As for :func:`measure`; the buffer must hold ``[start - P_PRE - P_SPIKE_MARGIN - 8,
        end + P_POST + 8)`` of every row (clipped to ``0..n_total``).
    rows, feats, snips, noise_w
        The candidate rows (in time order of their alignment samples), their features,
        their snippets decimated to the grouping rate (``snips.shape[1]`` = template
        length) and the noise SD of the smoothed trace.
    p : ndarray
        Parameter vector.
    gp : ndarray
        ``[min_corr, max_ratio, max_lag, snip_before, snip_step, snip_len_full,
        G_MEMBERS, G_BEFORE, G_AFTER, G_LAG, G_SNR, G_FRACTION, G_SEPARATION, dup,
        last_align, G_FIT, G_PER_GROUP, last_onset, last_end, last_pp]``: at most ``G_PER_GROUP``
        raw templates per shape group; ``last_align``, ``last_onset`` and ``last_end`` describe the
        previous event (as ``counts`` returns them), ``last_pp`` its peak-to-peak amplitude (volts;
        written back here for the next rows).
    templates, t_count, t_kind, t_amp, n_groups
        Grouping state (:func:`assign_groups`), room for ``n_groups + 2 * len(rows)``.
    r_sum, r_n, r_grp
        Raw templates: sums ``(capacity, G_BEFORE + G_AFTER)``, member counts and shape
        group; grown here when full (see Returns).
    tplc, tpl_ok
        The complete raw templates divided by their member count (:func:`_divided_template`),
        rows made as needed and kept from call to call (a complete template never changes);
        as many rows as ``r_sum``.
    feats_out, gids_out
        ``(2 * len(rows), ...)`` outputs: features and group of every event, in order.
    counts
        ``[events written, n_groups, raw templates, last alignment sample, last onset, last
        end]``: the third is read on entry (the raw templates so far) and all are written (the
        last three: the previous event's alignment sample, onset and end, to pass in ``gp``
        with the next rows).

    Returns
    -------
    tuple of ndarray
        ``(r_sum, r_n, r_grp, tplc, tpl_ok)``: the arrays given, or larger copies when they
        filled up.
    """
    min_corr = gp[0]
    max_ratio = gp[1]
    max_lag = int(gp[2])
    snip_before = int(gp[3])
    snip_step = int(gp[4])
    n_mem = int(gp[6])
    t_before = int(gp[7])
    t_after = int(gp[8])
    max_shift = int(gp[9])
    peel_snr = gp[10]
    peel_frac = gp[11]
    peel_sep = int(gp[12])
    dup = int(gp[13])
    last_align = int(gp[14])
    last_on = int(gp[17])
    last_en = int(gp[18])
    last_pp = gp[19]
    peel_fit = gp[15]
    max_own = int(gp[16])
    n_raw = int(counts[2])
    acc_t0 = 0
    h = int(p[P_SMOOTH_HALF])
    margin = int(p[P_SPIKE_MARGIN])
    pre = int(p[P_PRE])
    post = int(p[P_POST])
    e_gain = p[P_E_GAIN]
    fast_win = int(p[P_FAST_WINDOW])
    spike_max_pp = p[P_SPIKE_MAX_PP_V]
    lt = t_before + t_after
    m = rows.shape[0]
    L = snips.shape[1]
    n_sub = max(n_groups, 16)
    cand = np.empty(n_sub, dtype=np.int64)
    sub = np.empty((n_sub, L))
    tpl = np.empty(lt)
    row2 = np.empty((1, N_CAND))
    f2 = np.empty((1, N_FEATURES))
    s2 = np.empty((1, L))
    s3 = np.empty((1, L))
    no_second = np.empty((0, N_CAND + 2))
    hit = np.empty(2, dtype=np.int64)
    cap = 0
    rbuf = np.empty(0)
    d = np.empty(0)
    cs = np.empty(1)
    rs = np.empty(0)
    # workspaces of _lag_sse (grown with the spike region)
    lcap = 0
    xd = np.empty(0)
    rev = np.empty(0)
    lsse = np.empty(0)
    nout = 0
    buf_end = buf_start + buf.size
    for r in range(m):
        align = int(feats[r, F_ALIGN])
        if abs(align - last_align) < dup:
            continue  # the same potential found again by a later candidate
        code = int(feats[r, F_KIND])
        if code == K_UNCLASSIFIED:
            # a part of the previous event found by a candidate of its own, measured as an
            # unclassified potential: (a) within its smaller spike region (a fibrillation's initial
            # lobe, or a later phase), its onset the event's and both its peaks inside the event;
            # (b) a later phase (the slow end of a long fibrillation) that crossed the detection
            # threshold again after the event's candidate ended, beginning within it and smaller
            on_r = feats[r, F_ONSET]
            if ((abs(int(on_r) - last_on) < dup and last_on <= feats[r, F_POS_PEAK] <= last_en
                 and last_on <= feats[r, F_NEG_PEAK] <= last_en)
                    or (last_on <= on_r <= last_en + dup and feats[r, F_PP_V] <= last_pp)):
                continue
        pp = feats[r, F_PP_V]
        base = feats[r, F_BASELINE_V]
        start = int(rows[r, C_START])
        end = int(rows[r, C_END])
        c_lo = int(rows[r, C_LO])
        c_hi = int(rows[r, C_HI])
        sig_raw = rows[r, C_SIGMA_E] / e_gain
        if n_groups > n_sub:
            n_sub = 2 * n_groups
            cand = np.empty(n_sub, dtype=np.int64)
            sub = np.empty((n_sub, L))
        best = _find_group(snips[r], code, pp, noise_w[r], min_corr, max_ratio, max_lag, templates, t_kind, t_amp,
                           n_groups, cand, sub)
        # -- peel-off
        found = False
        best_t0 = 0
        s0 = start - margin
        s1 = end + margin + 1
        if c_lo >= 0 and s0 < c_lo:
            s0 = c_lo
        if c_hi >= 0 and s1 > c_hi:
            s1 = c_hi
        if s0 - h < buf_start:
            s0 = buf_start + h
        if s1 + h > buf_end:
            s1 = buf_end - h
        if s1 > n_total - h:
            s1 = n_total - h
        wide = s1 - s0 > 2 * fast_win  # room to peel (nothing below is used otherwise)
        if wide and s1 - s0 + 2 * max_shift + 2 > lcap:
            lcap = max(s1 - s0 + 2 * max_shift + 2, 2 * lcap, 256)
            xd = np.empty(lcap)
            rev = np.empty(2 * lcap + 2 * snip_step + 8)
            lsse = np.empty(lcap + 2 * snip_step + 8)
        # raw templates of the shape group: the best-fitting complete one (to peel) and
        # the best-fitting one still being made (to add the discharge to); the fit of a
        # template (and its lag) is judged around the discharge's peak
        c0 = align - fast_win
        c1 = align + fast_win
        if c0 < s0:
            c0 = s0
        if c1 > s1:
            c1 = s1
        use = -1
        acc = -1
        acc_sse = np.inf
        n_own = 0
        if best >= 0 and wide:
            use, best_t0, _, acc, acc_t0, acc_sse, n_own = _fit_own_templates(
                buf, buf_start, c0, c1, base, align - t_before - max_shift, 2 * max_shift + 1, best, r_sum, r_n, r_grp,
                n_raw, n_mem, xd, rev, lsse)
        elif best < 0 and wide and (code == K_FIBRILLATION or code == K_PSW or code == K_MUP) and pp <= spike_max_pp:
            # the template (and lag) that explains most of the spike region
            use, best_t0 = _fit_any_template(buf, buf_start, s0, s1, base, t_before, snip_step, r_sum, r_n, n_raw,
                                             n_mem, tplc, tpl_ok, xd, rev, lsse)
        tq = tpl
        best_sse = np.inf
        if use >= 0 and wide:
            tq = _divided_template(r_sum, use, n_mem, tplc, tpl_ok)
            best_sse = _placed_sse(buf, buf_start, c0, c1, tq, best_t0, base)
            nr = s1 - s0 + 2 * h
            if nr + 1 > cap:
                cap = max(nr + 1, 2 * cap, 512)
                d = np.empty(cap)
                cs = np.empty(smooth_levels(h) * cap)
                rs = np.empty(cap)
            sig_w = sig_raw * math.sqrt(1.0 + 1.0 / n_mem) / math.sqrt(2.0 * h + 1.0)
            need = peel_snr * sig_w
            if need < peel_frac * pp:
                need = peel_frac * pp
            found = _second_in_residual(buf, buf_start, s0, s1, h, tq, best_t0, base, best_t0 + t_before, sig_w,
                                        need, peel_sep, fast_win, peel_fit, d, cs, rs, hit)
        q0 = 0
        q1 = 0
        code2 = 0
        if found:
            k_abs = hit[0]
            jv_abs = hit[1]
            # the residual around both, to measure the second potential on
            q0 = (start if start < jv_abs else jv_abs) - pre - margin - 4
            q1 = (end if end > k_abs else k_abs) + post + 4
            if q0 < buf_start:
                q0 = buf_start
            if q1 > buf_end:
                q1 = buf_end
            if q1 > n_total:
                q1 = n_total
            if q1 - q0 > rbuf.size:
                rbuf = np.empty(max(q1 - q0, 2 * rbuf.size))
            rb = rbuf[: q1 - q0]
            _residual_into(buf, buf_start, q0, q1, tq, best_t0, 0.0, rb)
            _put_candidate(row2, 0, jv_abs, k_abs, k_abs, rows[r, C_SIGMA_E], rows[r, C_PEAK_E], -1.0, -1.0)
            measure(rb, q0, n_total, row2, p, f2, s2, snip_before, snip_step, no_second)
            code2 = int(f2[0, F_KIND])
            al2 = int(f2[0, F_ALIGN])
            found = (code2 == K_FIBRILLATION or code2 == K_PSW) and abs(al2 - (best_t0 + t_before)) >= peel_sep
            if found and abs(al2 - last_align) < dup:
                found = False
        if not found:
            g = _join_group(snips[r], code, pp, best, templates, t_count, t_kind, t_amp, n_groups)
            if g == n_groups:
                n_groups += 1
            if g >= 0 and wide:
                # a raw template of the discharge's source: the one being made that it fits,
                # else a new one when no template of its group fits it (another source)
                lim = peel_fit * peel_fit * sig_raw * sig_raw * (c1 - c0)
                if acc >= 0 and acc_sse <= lim * (1.0 + 1.0 / r_n[acc]):
                    t = acc
                    a0 = acc_t0
                elif n_own < max_own and not (use >= 0 and best_sse <= lim * (1.0 + 1.0 / n_mem)):
                    if n_raw == r_sum.shape[0]:
                        r_sum, r_n, r_grp, tplc, tpl_ok = _grow_raw(r_sum, r_n, r_grp, tplc, tpl_ok)
                    t = n_raw
                    n_raw += 1
                    r_n[t] = 0
                    r_grp[t] = g
                    for i in range(lt):
                        r_sum[t, i] = 0.0
                    a0 = align - t_before
                else:
                    t = -1
                if t >= 0:
                    for i in range(lt):
                        k = a0 + i
                        if buf_start <= k < buf_end and k < n_total:
                            r_sum[t, i] += buf[k - buf_start] - base
                    r_n[t] += 1
            for c in range(N_FEATURES):
                feats_out[nout, c] = feats[r, c]
            gids_out[nout] = g
            nout += 1
            last_align = align
            last_on = int(feats[r, F_ONSET])
            last_en = int(feats[r, F_END])
            last_pp = feats[r, F_PP_V]
            continue
        # the discharge measured again without the second potential (the template in its place)
        on2 = int(f2[0, F_ONSET])
        en2 = int(f2[0, F_END])
        rb2 = rbuf[: q1 - q0]
        for i in range(q0, q1):
            v = buf[i - buf_start]
            if on2 <= i <= en2:
                j = i - best_t0
                v = base + (tq[j] if 0 <= j < lt else 0.0)
            rb2[i - q0] = v
        measure(rb2, q0, n_total, rows[r : r + 1], p, feats_out[nout : nout + 1], s3, snip_before, snip_step, no_second)
        for c in range(N_FEATURES):
            feats_out[nout + 1, c] = f2[0, c]
        # both join groups like any other discharge
        for e in range(2):
            src = s3 if e == 0 else s2
            fe = feats_out[nout + e]
            if n_groups > n_sub:
                n_sub = 2 * n_groups
                cand = np.empty(n_sub, dtype=np.int64)
                sub = np.empty((n_sub, L))
            ge = _assign_one(src[0], int(fe[F_KIND]), fe[F_PP_V], fe[F_NOISE_V] / math.sqrt(2.0 * h + 1.0), min_corr,
                             max_ratio, max_lag, templates, t_count, t_kind, t_amp, n_groups, cand, sub)
            if ge == n_groups:
                n_groups += 1
            gids_out[nout + e] = ge
        if feats_out[nout + 1, F_ONSET] < feats_out[nout, F_ONSET]:  # in time order
            for c in range(N_FEATURES):
                v = feats_out[nout, c]
                feats_out[nout, c] = feats_out[nout + 1, c]
                feats_out[nout + 1, c] = v
            gids_out[nout], gids_out[nout + 1] = gids_out[nout + 1], gids_out[nout]
        last_on = int(feats_out[nout + 1, F_ONSET])
        last_en = int(max(feats_out[nout, F_END], feats_out[nout + 1, F_END]))
        last_pp = max(feats_out[nout, F_PP_V], feats_out[nout + 1, F_PP_V])
        nout += 2
        last_align = align
    counts[0] = nout
    counts[1] = n_groups
    counts[2] = n_raw
    counts[3] = last_align
    counts[4] = last_on
    counts[5] = last_en
    gp[19] = last_pp
    return r_sum, r_n, r_grp, tplc, tpl_ok
