"""F-waves, repetitive nerve stimulation and direct muscle stimulation.

Built on the motor-response kernel (:mod:`edx.kernels.response`):

* :func:`measure_fwaves` — a train of >= 10 supramaximal sweeps: in each, the M
  response is measured, then a late response (F-wave) is looked for after it;
  minimal and mean F latency, persistence and chronodispersion;
* :func:`rns_decrement` — one sweep holding a repetitive-stimulation train: every
  response's amplitude and negative area; decrement from the 1st to the 4th response
  and the largest decrement among the first five;
* :func:`dms_ratio` — the nCMAP/mCMAP amplitude ratio of direct muscle stimulation.

Like the responses themselves, a value that cannot be given is None with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..model import Response, Sweep
from .ncs import CMAP_CONFIG, CmapResult, ResponseConfig, SnapResult, _check_fs, measure_cmap, sweeps_given

__all__ = [
    "ConstantLateResponse",
    "SweepBaseline",
    "FWaveSweep",
    "FWaveResult",
    "measure_fwaves",
    "RnsResult",
    "rns_decrement",
    "DmsResult",
    "dms_ratio",
    "MIN_F_SWEEPS",
]

#: fewest sweeps for an F-wave study (CLINICAL.md §1: trains of >= 10–20 stimuli)
MIN_F_SWEEPS = 10


@dataclass(frozen=True)
class FWaveSweep:
    """One sweep of an F-wave train."""

    index: int
    present: bool | None
    onset_latency_ms: float | None
    peak_to_peak_uv: float | None
    onset_index: float | None
    reason: str | None = None


@dataclass(frozen=True)
class ConstantLateResponse:
    """A late response of the same latency and shape in most sweeps of an F-wave train.

    F-waves vary in latency and shape from sweep to sweep (each comes from a few of the
    motor neurons); a late response that does not is an A-wave (axon reflex, common in
    neuropathies) or one motor neuron's F-wave repeating.  It is left out of the F-wave
    statistics and reported here.

    Attributes
    ----------
    onset_latency_ms, end_latency_ms : float
        Where it leaves and regains the noise band (ms from the stimulus).
    peak_to_peak_uv : float
        Of its waveform (the mean of the sweeps that hold it).
    n_sweeps : int
        Sweeps that hold it (agree with that waveform within noise).
    """

    onset_latency_ms: float
    end_latency_ms: float
    peak_to_peak_uv: float
    n_sweeps: int


@dataclass(frozen=True)
class SweepBaseline:
    """Mains hum and baseline drift of each sweep, removed before the F-waves were looked for.

    Stimuli are not locked to the mains, so every sweep of a train carries hum of its own
    phase and a wandering baseline its own offset and slope: the M-response template, common
    to the sweeps, does not remove them (see :func:`_sweep_baselines`).

    Attributes
    ----------
    mains_hz : float or None
        Mains frequency of the removed hum (None: no hum removed, drift only).
    harmonics : tuple of int
        Mains harmonics removed (1: the fundamental).
    drift_order : int
        Polynomial order of the removed baseline (-1: none; 0: an offset; 1: a slope; 2: a bend).
    max_hum_uv : float
        Largest amplitude of the fundamental removed from one sweep (µV; 0 when the fundamental
        was not removed, even if harmonics were).  What is removed is the sweep's hum against the
        other sweeps' (their common part stays in the M-response template), so with hum of
        random phase it is up to twice the hum itself: 20 µV read 20-32 µV.
    max_drift_uv : float
        Largest range of the removed polynomial across one sweep (µV; 0 when none), likewise
        against the other sweeps.
    """

    mains_hz: float | None
    harmonics: tuple[int, ...]
    drift_order: int
    max_hum_uv: float
    max_drift_uv: float


@dataclass(frozen=True)
class FWaveResult:
    """Summary of an F-wave train.

    ``persistence_pct`` = sweeps with an F-wave / judged sweeps x 100.  Latencies are
    onset latencies (ms from the stimulus).  ``chronodispersion_ms`` = longest minus
    shortest F latency.  ``constant_responses``: late responses of constant latency and
    shape in at least half the sweeps (A-waves), left out of those figures.
    ``sweep_baseline``: the mains hum and drift removed from each sweep (None: none found).
    """

    n_sweeps: int
    n_judged: int
    n_present: int
    persistence_pct: float | None
    min_latency_ms: float | None
    mean_latency_ms: float | None
    max_latency_ms: float | None
    chronodispersion_ms: float | None
    mean_peak_to_peak_uv: float | None
    m_response: CmapResult | None
    sweeps: tuple[FWaveSweep, ...]
    quality: frozenset[str]
    reasons: Mapping[str, str]
    constant_responses: tuple[ConstantLateResponse, ...] = ()
    sweep_baseline: SweepBaseline | None = None


def _sweeps_of(x: Any, fs_hz: float | None, stimulus_index: int | None) -> tuple[list[np.ndarray], float, list[int]]:
    given = sweeps_given(x, "an F-wave study")
    if given is not None:
        if len({s.fs_hz for s in given}) != 1:
            raise ValueError("the sweeps of one F-wave study must share one sampling rate")
        return [s.samples_v for s in given], given[0].fs_hz, [-1 if s.stimulus_index is None else s.stimulus_index
                                                             for s in given]
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"expected sweeps as a 2-D array (n_sweeps, n_samples), got shape {arr.shape}")
    if fs_hz is None or stimulus_index is None:
        raise ValueError("fs_hz and stimulus_index are required with plain arrays")
    if not 0 <= int(stimulus_index) < arr.shape[1]:
        raise ValueError(f"stimulus_index {stimulus_index} lies outside the sweeps (0..{arr.shape[1] - 1})")
    return [np.ascontiguousarray(r) for r in arr], _check_fs(fs_hz), [int(stimulus_index)] * arr.shape[0]


#: length (ms) of the sliding window over which two sweeps are compared
_CONSENSUS_WINDOW_MS = 4.0
#: two sweeps agree when their normalised squared difference over the window is below
#: its chi-square mean plus this many SDs
_CONSENSUS_K = 5.0


def _baseline_sigma(x: np.ndarray, s0: int, fallback: float) -> float:
    """Noise SD of one sweep, from the sample-to-sample differences before the stimulus."""
    if s0 <= 10:
        return fallback
    v = float(np.std(np.diff(x[: max(s0 - 2, 8)])) / math.sqrt(2.0))
    return v if v > 0 else fallback


#: a group of baseline columns (an offset, a slope, a bend, one mains harmonic) is removed from
#: the sweeps when the residual sum of squares it explains over all of them, in noise variances,
#: exceeds its chi-square mean (2 per sweep for a harmonic, 1 for a polynomial term) by this many
#: of its SDs: below that it is not told from noise, and fitting it would only add the fit's error
_BASELINE_K = 5.0
#: mains harmonics fitted: the odd ones of saturating transformers and the even ones of rectifier
#: loads, up to the 5th (250 or 300 Hz; beyond it the hum of a recording room is small, and the
#: harmonics reach into the F-waves' own band)
_HARMONICS = (1, 2, 3, 4, 5)
#: Huber's loss for the first baseline fit: quadratic within this many noise SDs, linear beyond
#: (1.345: 95 % of least squares' efficiency on noise alone)
_HUBER_K = 1.345
#: a baseline model whose standard error anywhere in the sweep exceeds this many noise SDs of the
#: F-wave search's average is not used: the samples it rests on do not determine it there.  Trains of
#: 85 ms sweeps under 20 µV of hum had at most 0.45; 50 ms sweeps (little baseline after the F-waves)
#: up to 1.9, and read persistences of 30-100 % for 80 %
_BASELINE_MAX_SE = 0.5
#: samples whose 0.3 ms or 2 ms average leaves this many noise SDs of it (an F-wave, a constant
#: late response) are left out of the baseline fit, with 1 ms either side
_BASELINE_MASK_K = 3.0


def _baseline_columns(m: int, fs: float, mains_hz: float) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Columns of the per-sweep baseline model over ``m`` samples and the group of each.

    Legendre polynomials of orders 0-2 over the sweep (offset, slope, bend: a drift slower than
    the sweep) and, when ``mains_hz`` > 0, the sine and cosine of each of its harmonics in
    :data:`_HARMONICS`.
    """
    u = np.linspace(-1.0, 1.0, m)
    cols = [np.ones(m), u, 1.5 * u * u - 0.5]
    groups = [("poly", 0), ("poly", 1), ("poly", 2)]
    if mains_hz > 0:
        t = np.arange(m) / fs
        for h in _HARMONICS:
            w = 2.0 * math.pi * h * mains_hz * t
            cols += [np.sin(w), np.cos(w)]
            groups += [("hum", h), ("hum", h)]
    return np.column_stack(cols), groups


def _moving_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average of odd length ``w`` (``np.convolve(x, ones(w) / w, "same")``, by a
    running sum).  The edges count the samples beyond the sweep as zeros, as the convolution does;
    the kernel's :func:`edx.kernels.response.moving_average` averages them over the samples there
    are, which leaves other samples out of the baseline fits."""
    h = w // 2
    c = np.concatenate(([0.0], np.cumsum(x)))
    i = np.arange(x.size)
    return (c[np.minimum(i + h + 1, x.size)] - c[np.maximum(i - h, 0)]) / w


def _lsq(b: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """(Weighted) least-squares coefficients of the columns ``b`` for ``y``, by the normal equations
    (the baseline columns are few and far from collinear over a sweep); by SVD when they are
    singular."""
    bw = b if w is None else b * w[:, None]
    try:
        return np.linalg.solve(bw.T @ b, bw.T @ y)
    except np.linalg.LinAlgError:
        sw = np.ones(b.shape[0]) if w is None else np.sqrt(w)
        return np.linalg.lstsq(b * sw[:, None], y * sw, rcond=None)[0]


def _model_se(basis: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Standard error, at every sample, of a least-squares fit of ``basis`` on the samples of
    ``mask``, in noise SDs (the square root of each sample's leverage); None when singular."""
    try:
        inv = np.linalg.inv(basis[mask].T @ basis[mask])
    except np.linalg.LinAlgError:
        return None
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", basis, inv, basis), 0.0))


def _masked_fit(r: np.ndarray, basis: np.ndarray, fit: np.ndarray, sigma: float, smooth: int,
                fs: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Least-squares fit of ``basis`` to ``r`` on the samples of ``fit`` that are baseline.

    A first fit with Huber's loss (:data:`_HUBER_K`, noise SD ``sigma``) is followed by
    least-squares fits on the samples left where the residual's ``smooth``-sample or 2 ms
    average (the second finds the low slow tail of an F-wave) stays within
    :data:`_BASELINE_MASK_K` of its SDs (from ``sigma``, or the average's robust SD over ``fit``
    when that is larger), with 1 ms either side left out too, until the samples stop changing
    (at most five rounds).  When fewer than half the samples of ``fit`` would be left, the
    Huber fit stands.  Returns ``(coef, mask)`` (``mask``: the samples the fit rests on), or
    None when ``fit`` has fewer than four samples per column, or when the model's standard error
    somewhere in the sweep exceeds :data:`_BASELINE_MAX_SE` noise SDs of the ``smooth``-sample
    average (the samples do not hold it).
    """
    p = basis.shape[1]
    idx = np.flatnonzero(fit)
    if idx.size < 4 * p:
        return None
    need = max(4 * p, idx.size // 2)
    b_fit, r_fit = basis[idx], r[idx]
    # a first fit robust to the F-waves and to the negative image of F-waves alike in the template
    # (Huber's loss, convex: the same fit from any start, each sample's pull bounded); a least-squares
    # first fit is pulled by them, and with the pull taken for baseline the next rounds need not
    # leave it, while samples told from the trace itself leave out the peaks of a large hum, and
    # without its peaks the hum's amplitude is not determined
    wts = np.ones(idx.size)
    coef = np.zeros(p)
    for _ in range(8):
        coef = _lsq(b_fit, r_fit, wts)
        ae = np.abs(r_fit - b_fit @ coef)
        wts = np.minimum(1.0, _HUBER_K * sigma / np.maximum(ae, 1e-300))
    robust = coef
    spread = np.ones(2 * int(round(1e-3 * fs)) + 1)
    widths = (smooth, max(smooth, int(round(2e-3 * fs)) | 1))
    mask = np.zeros_like(fit)
    for _ in range(5):
        e = r - basis @ coef
        out = np.zeros(r.size, dtype=bool)
        for w in widths:
            ew = _moving_mean(e, w)
            # the scale is the noise's, or the residual's own (robust) while the model is still off
            # (a candidate model without the hum's frequency, a sweep with more hum than its
            # neighbours): leaving out all that moves would leave too few samples for the next fit
            scale = max(sigma / math.sqrt(w), 1.4826 * float(np.median(np.abs(ew[fit]))))
            out |= np.abs(ew) > _BASELINE_MASK_K * scale
        if out.any():
            out = np.convolve(out.astype(np.float64), spread, mode="same") > 0.5
        new = fit & ~out
        if int(new.sum()) < need:  # activity over half the samples: the robust fit stands
            inliers = fit & (np.abs(r - basis @ robust) <= _HUBER_K * sigma)
            coef, mask = robust, (inliers if int(inliers.sum()) >= 4 * p else fit)
            break
        if np.array_equal(new, mask):
            break
        mask = new
        coef = _lsq(basis[mask], r[mask])
    # the model is subtracted from the whole sweep: where the samples it rests on leave it loose (a
    # sweep that ends soon after its F-wave, harmonics across a long stretch left out) it is no
    # baseline.  On 50 ms sweeps it swung by millivolts between its samples.
    se = _model_se(basis, mask)
    if se is None or not float(se.max()) * math.sqrt(smooth) <= _BASELINE_MAX_SE:
        return None
    return coef, mask


def _significant_groups(resid: Sequence[np.ndarray], fits: Sequence[tuple[np.ndarray, np.ndarray] | None],
                        basis: np.ndarray, groups: list[tuple[str, int]], var: float) -> list[tuple[str, int]]:
    """The groups of columns of ``basis`` that explain more of the traces ``resid`` than noise would.

    A group's share is the rise of the residual sum of squares when it is left out of each
    trace's fit (``fits``: coefficients and samples), in noise variances ``var`` and summed over
    the traces: chi-square with one degree of freedom per column and trace under noise alone; the
    group counts when it exceeds that mean by :data:`_BASELINE_K` SDs.
    """
    keep: list[tuple[str, int]] = []
    for g in dict.fromkeys(groups):
        rest = [i for i, gg in enumerate(groups) if gg != g]
        rise = 0.0
        dof = 0
        for r_all, c in zip(resid, fits):
            if c is None:
                continue
            coef, mask = c
            r = r_all[mask]
            full = float(((r - basis[mask] @ coef) ** 2).sum())
            sub = basis[mask][:, rest]
            reduced = float(((r - sub @ _lsq(sub, r)) ** 2).sum())
            rise += (reduced - full) / var
            dof += len(groups) - len(rest)
        if dof and rise > dof + _BASELINE_K * math.sqrt(2.0 * dof):
            keep.append(g)
    return keep


def _sweep_baselines(stack: np.ndarray, fs: float, fit: np.ndarray, sigma: float, smooth: int,
                     mains_hz: float) -> tuple[np.ndarray, np.ndarray, SweepBaseline, tuple[tuple[str, int], ...],
                                           np.ndarray] | None:
    """Each sweep's own mains hum and baseline drift in ``stack`` (sweeps x samples).

    Stimuli are not locked to the mains, so the hum's phase and the baseline's level and slope
    differ from sweep to sweep: the M-response template keeps only what the sweeps have in
    common (see :func:`_template_baseline`), and the rest stays in each sweep.  8 µV of hum at
    20 kHz was read as F-waves in sweeps without one (persistence 95 % for 80 %), and more hum
    or a drift put activity at the start of every search window.  A baseline model
    (:func:`_baseline_columns`) is fitted to each sweep minus the template, on the samples of
    ``fit`` (the M response and the artifact left out) that hold no F-wave
    (:func:`_masked_fit`).  The template, the median of the sweeps without their models, and
    the models are found in turn (the median of sweeps whose hum differs in phase holds a part
    of it that is no sinusoid, and is only rid of it once the models are removed).

    Which groups of columns are removed is decided for the train (:func:`_significant_groups`): a
    lab's mains has the same harmonics in every sweep.  ``mains_hz``: 50 or 60; -1 chooses the
    one whose model leaves less of the sweeps unexplained; 0 fits no hum.  ``sigma``: the noise
    SD of one sweep minus the template.

    Returns ``(model, se, summary, groups, unfitted)``: the model to subtract (sweeps x samples,
    volts), its standard error at each sample from the noise and the samples it was fitted on
    (volts; largest across a stretch left out), what was removed, the groups of columns removed,
    and which sweeps could not be fitted (:func:`_masked_fit` gave none: they keep their hum and
    drift, and must not be judged); None when nothing stands out from the noise, nothing could
    reach the F-wave search's threshold, or no sweep could be fitted.
    """
    n, m = stack.shape
    var = sigma * sigma

    def fit_all(basis: np.ndarray, model: np.ndarray, prev: list[tuple[np.ndarray, np.ndarray] | None] | None
                ) -> tuple[list[tuple[np.ndarray, np.ndarray] | None], np.ndarray]:
        # the template: where the previous round told each sweep's baseline from its activity, the
        # mean of the sweeps that are baseline there (the median of sweeps of which many hold
        # F-waves alike holds part of them, and every other sweep its negative image), else the
        # median sweep
        y = stack - model
        tmpl = np.median(y, axis=0)
        if prev is not None:
            w = np.zeros(stack.shape, dtype=bool)
            for k, c in enumerate(prev):
                if c is not None:
                    w[k] = c[1]
            cnt = w.sum(axis=0)
            sel = cnt >= 2
            tmpl[sel] = (y * w).sum(axis=0)[sel] / cnt[sel]
        resid = stack - tmpl
        return [_masked_fit(resid[k], basis, fit, sigma, smooth, fs) for k in range(n)], resid

    def models(basis: np.ndarray, fits: list[tuple[np.ndarray, np.ndarray] | None]) -> np.ndarray:
        out = np.zeros_like(stack)
        for k, c in enumerate(fits):
            if c is not None:  # else too little baseline left in this sweep: it keeps its hum and drift
                out[k] = basis @ c[0]
        return out

    best: tuple[float, np.ndarray, list[tuple[str, int]], float, list[tuple[np.ndarray, np.ndarray] | None],
                np.ndarray] | None = None
    for f in ((50.0, 60.0) if mains_hz < 0 else (max(mains_hz, 0.0),)):
        full, full_groups = _baseline_columns(m, fs, f)
        # the whole model, or, where the sweeps' quiet stretches do not hold it (a sweep that ends
        # soon after its F-wave), the fundamental with an offset and a slope only
        for subset in (None, (("poly", 0), ("poly", 1), ("hum", 1))):
            cols = [i for i, g in enumerate(full_groups) if subset is None or g in subset]
            basis, groups = full[:, cols], [full_groups[i] for i in cols]
            fits, resid = fit_all(basis, np.zeros_like(stack), None)
            done = [(k, c) for k, c in enumerate(fits) if c is not None]
            if 2 * len(done) >= n:
                break
        if 2 * len(done) < n:
            continue
        # the share of the sweeps' variance left unexplained, per sample fitted
        left = sum(float(((resid[k][c[1]] - basis[c[1]] @ c[0]) ** 2).mean()) for k, c in done) / len(done)
        if best is None or left < best[0]:
            best = (left, basis, groups, f, fits, resid)
    if best is None:
        return None
    _, basis_all, groups, f, fits, resid = best
    late = np.flatnonzero(fit)
    late = late[late > int(np.flatnonzero(~fit)[0])] if (~fit).any() else late
    sd_search = sigma / math.sqrt(smooth)  # noise SD of the F-wave search's average

    def small(model: np.ndarray) -> bool:
        # hum and drift are in every sweep: the typical sweep's (the median of the sweeps' largest
        # values after the M response) below the noise of the F-wave search's average does not matter
        return late.size == 0 or float(np.median(np.abs(model[:, late]).max(axis=1))) <= sd_search

    # each sweep's own part
    model = models(basis_all, fits)
    if small(model):  # the whole model, noise fitted included, is already small
        return None
    for _ in range(2):
        fits, resid = fit_all(basis_all, model, fits)
        model = models(basis_all, fits)
    keep = _significant_groups(list(resid), fits, basis_all, groups, var)
    if not keep:
        return None
    basis = basis_all[:, [i for i, g in enumerate(groups) if g in keep]]
    for _ in range(2):
        fits, resid = fit_all(basis, model, fits)
        model = models(basis, fits)
    # removed only when it could matter: below that the fit costs more than it gains (an F-wave's
    # remnants fitted as a few µV of hum, in trains without any, moved onsets by up to 0.9 ms)
    if small(model):
        return None
    se = np.zeros_like(stack)
    for k, c in enumerate(fits):
        if c is not None:
            se_k = _model_se(basis, c[1])  # (held: _masked_fit checked it)
            assert se_k is not None
            se[k] = sigma * se_k
    # what was removed, on the whole model of each sweep: its fundamental's amplitude and the
    # range of its polynomial part
    used = [i for i, g in enumerate(groups) if g in keep]
    coef = np.linalg.lstsq(basis_all[:, used], model.T, rcond=None)[0]
    used_groups = [groups[i] for i in used]
    fund = [j for j, g in enumerate(used_groups) if g == ("hum", 1)]
    poly = [j for j, g in enumerate(used_groups) if g[0] == "poly"]
    hum_uv = float(np.hypot(*coef[fund]).max()) * 1e6 if fund else 0.0
    drift_uv = 0.0
    if poly:
        drift = basis_all[:, [used[j] for j in poly]] @ coef[poly]
        drift_uv = float((drift.max(axis=0) - drift.min(axis=0)).max()) * 1e6
    harmonics = tuple(sorted({h for kind, h in keep if kind == "hum"}))
    orders = [h for kind, h in keep if kind == "poly"]
    summary = SweepBaseline(f if harmonics else None, harmonics, max(orders) if orders else -1, hum_uv, drift_uv)
    return model, se, summary, tuple(keep), np.array([c is None for c in fits])


def _other_mains_hum(stack: np.ndarray, fit: np.ndarray, sigma: float, smooth: int, fs: float,
                     mains_hz: float) -> float | None:
    """The other mains frequency (60 for 50 Hz and back) when the sweeps' own baselines are
    better explained with it (:func:`_sweep_baselines` choosing between the two) and hold its
    hum; else None."""
    other = 60.0 if mains_hz == 50.0 else 50.0 if mains_hz == 60.0 else None
    if other is None:
        return None
    found = _sweep_baselines(stack, fs, fit, sigma, smooth, -1.0)
    if found is None or found[2].mains_hz != other or 1 not in found[2].harmonics:
        return None
    return other


def _template_baseline(tmpl: np.ndarray, flat: np.ndarray, sigma_t: float, fs: float, smooth: int, mains_hz: float,
                       allowed: tuple[tuple[str, int], ...]) -> tuple[np.ndarray, np.ndarray] | str | None:
    """Hum and drift common to all sweeps, in the M-response template ``tmpl`` where it must be flat.

    After the M response has ended the template is the baseline: a constant, unless what the
    sweeps' hum of different phases has in common (about the hum over the square root of the
    number of sweeps) rides on it.  The groups of baseline columns removed from the sweeps
    (``allowed``, with ``mains_hz``) are fitted to the template on the samples of ``flat``
    (before the stimulus, and after the M response has ended) that hold no late response
    (:func:`_masked_fit`), and kept when they stand out from the template's noise ``sigma_t``
    (:func:`_significant_groups`; the offset is always kept).  Only those groups: a template's
    late activity (the median of F-waves alike, an A-wave) is no hum, and fitted as hum it was
    read as a late response of constant latency.

    Returns ``(model, se)`` (over the whole sweep, volts), None when no group but the offset
    stands out, or ``"unfit"`` when the samples of ``flat`` do not determine the model (a sweep
    that ends soon after the M response and the F-waves).
    """
    basis, groups = _baseline_columns(tmpl.size, fs, mains_hz)
    cols = [i for i, g in enumerate(groups) if g in allowed or g == ("poly", 0)]
    basis, groups = basis[:, cols], [groups[i] for i in cols]
    c = _masked_fit(tmpl, basis, flat, sigma_t, smooth, fs)
    if c is None:
        return "unfit"
    keep = _significant_groups([tmpl], [c], basis, groups, sigma_t * sigma_t)
    if not [g for g in keep if g != ("poly", 0)]:
        return None
    sub = basis[:, [i for i, g in enumerate(groups) if g in keep or g == ("poly", 0)]]
    c = _masked_fit(tmpl, sub, flat, sigma_t, smooth, fs)
    if c is None:  # (fewer columns than a fit that held: only when its samples moved)
        return "unfit"
    se = _model_se(sub, c[1])
    assert se is not None  # (held: _masked_fit checked it)
    se = sigma_t * se
    return sub @ c[0], se


def _consensus_members(stack: np.ndarray, sigma: float, w: int, start: int, k_sd: float) -> np.ndarray:
    """Which sweeps hold nothing but the M response, sample by sample (``out[t, i]``).

    Every sweep holds the same M response; an F-wave is something *added* to some
    sweeps, at a latency and with a shape that vary from sweep to sweep.  Before
    ``start`` (the M response itself) all sweeps are members.  From there the set is
    followed in time: at each sample, a member whose squared difference from the mean of
    the other members, over the ``w`` samples around it and in units of its noise
    variance (chi-square with ``w`` degrees of freedom when it differs by noise alone),
    exceeds the chi-square mean by ``k_sd`` SDs has departed; the one departing most is
    dropped first, and the others are judged again without it.  A sweep outside the set
    rejoins when it agrees in the same way with the members' mean.

    Following the set from where all sweeps agree is what keeps it on the M response
    while F-waves start one after another: each is an outlier among sweeps that still
    agree, and the sweeps without an F-wave never depart.  (A per-sample robust
    statistic cannot do this: with F-waves in most sweeps, their median or mode is on
    the F-waves.)  The limit: when F-waves that are alike (long myopathic potentials)
    start in most sweeps within about a window's length of each other, they outnumber
    the sweeps without one, and those are the ones that depart.
    """
    n, m = stack.shape
    w = max(2, min(w, m))
    thr = w + k_sd * math.sqrt(2.0 * w)
    out = np.ones((m, n), dtype=bool)
    cur = np.ones(n, dtype=bool)
    var = sigma * sigma
    for t in range(max(start, 0), m):
        lo = min(max(t - w // 2, 0), m - w)
        seg = stack[:, lo : lo + w]
        cand = cur.copy()
        if not cand.any():
            cand[:] = True
        while True:
            k = int(cand.sum())
            tot = seg[cand].sum(axis=0)
            if k < 2:
                d = np.full(n, np.inf)
                break
            # members against the mean of the others; outsiders against the mean of all members
            loo = np.where(cand[:, None], (tot[None, :] - seg) / (k - 1), tot[None, :] / k)
            kk = np.where(cand, k - 1, k).astype(np.float64)
            d = ((seg - loo) ** 2).sum(axis=1) / (var * (1.0 + 1.0 / kk))
            dm = np.where(cand, d, -np.inf)
            worst = int(np.argmax(dm))
            if dm[worst] <= thr:
                break
            cand[worst] = False
        cand |= ~cur & (d <= thr)
        cur = cand
        out[t] = cur
    return out


def _constant_late(resid: np.ndarray, a: int, b: int, sigma: float, smooth: int, k_detect: float, k_band: float,
                   k_agree: float) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Late responses of constant latency and shape in ``resid`` (sweeps x samples, the M
    response removed), searched in ``[a, b)``.

    At each sample the sweeps' median stands for what at least half of them hold; an
    F-wave, whose latency and shape vary, is there in few sweeps at any one sample.  Where
    the median's ``smooth``-sample average leaves ``k_detect`` SDs of its noise (a median
    of n sweeps: ``sigma * sqrt(pi / 2n)``), from where it was last inside ``k_band`` SDs
    to where it is back inside them, a constant response (or one phase of it) is a
    candidate; it is one when at
    least half the sweeps agree with the median there within noise (normalised squared
    difference below the chi-square mean plus ``k_agree`` SDs): F-waves alike enough to
    tip the median at some samples do not agree with it over their whole extent.  A sweep
    agreeing with the median must also differ from a flat baseline in the same way (a small
    median, within a few noise SDs, is agreed with by every sweep).  The component is then
    taken again as the mean of the sweeps that hold it, and they are counted again (three
    rounds).  Returns ``(start, stop, component, sweeps holding it)`` per response.
    """
    n, m = resid.shape
    if n < 2 or b - a < smooth + 2:
        return []
    med = np.median(resid[:, a:b], axis=0)
    k = np.ones(smooth) / smooth
    med_s = np.convolve(med, k, mode="same")
    sd = sigma * math.sqrt(math.pi / (2.0 * n)) / math.sqrt(smooth)
    hot = np.abs(med_s) > k_detect * sd
    quiet = np.abs(med_s) <= k_band * sd
    spans: list[list[int]] = []
    i = 0
    while i < hot.size:
        if not hot[i]:
            i += 1
            continue
        c0 = i
        while c0 > 0 and not quiet[c0 - 1]:
            c0 -= 1
        c1 = i
        while c1 < hot.size and not quiet[c1]:
            c1 += 1
        i = c1 + 1
        spans.append([c0, c1])
    out: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for c0, c1 in spans:
        seg = resid[:, a + c0 : a + c1]
        comp = med[c0:c1]
        L = c1 - c0
        var = sigma * sigma * (1.0 + math.pi / (2.0 * n))
        lim = L + k_agree * math.sqrt(2.0 * L)
        flat = (seg ** 2).sum(axis=1) / var <= lim
        agree = np.zeros(n, dtype=bool)
        for _ in range(3):
            # holds it: agrees with the component, and not with a flat baseline; the component is
            # then the mean of those sweeps (the median of sweeps of which only some hold it is
            # pulled towards the baseline)
            agree = (((seg - comp[None, :]) ** 2).sum(axis=1) / var <= lim) & ~flat
            if int(agree.sum()) < 2:
                break
            comp = seg[agree].mean(axis=0)
            var = sigma * sigma * (1.0 + 1.0 / int(agree.sum()))
        if 2 * int(agree.sum()) >= n:
            out.append((a + c0, a + c1, comp.copy(), agree))
    return out


def _ramp_onset(resid: np.ndarray, j: int, a: int, fs: float, sigma: float, k_detect: float, smooth: int,
                p2p_v: float) -> float:
    """Onset of a late response as the corner of a ramp fitted to its take-off.

    A motor unit potential leaves the baseline along a straight line, so after the M
    response has been subtracted the trace is 0 before a corner ``t0`` and
    ``slope * (t - t0)`` after it.  The band crossing ``j`` (where the smoothed trace
    was last within a few noise SDs) lies after the true departure by about
    band / slope: a fraction of a millisecond for the slow take-off of a myopathic unit.
    The corner is fitted by least squares, on a quarter-sample grid, to the samples from
    up to 2 ms before ``j`` to where the smoothed trace has risen a third of the
    response's peak-to-peak amplitude (beyond the detection level; the take-off is still
    nearly straight there), at most 3 ms after ``j``.  It is looked for within 1 ms before
    ``j`` and must rise with the response's sign; otherwise ``j`` stands.
    """
    w = max(1, smooth) | 1
    s_sm = sigma / math.sqrt(w)
    y = np.convolve(resid, np.ones(w) / w, mode="same")
    n = resid.size
    hi = j
    while hi < n - 1 and abs(y[hi]) <= k_detect * s_sm:
        hi += 1
    sign = 1.0 if y[hi] > 0 else -1.0
    level = max(k_detect * s_sm, p2p_v / 3.0)
    last = min(n - 1, j + int(round(3e-3 * fs)))
    while hi < last and sign * y[hi] <= level:
        hi += 1
    lo = max(a, j - int(round(2e-3 * fs)))
    if hi - lo < 6 or j - lo < 3:
        return float(j)
    seg = resid[lo : hi + 1] * sign
    i = np.arange(lo, hi + 1, dtype=np.float64)
    cand = np.arange(max(lo + 2.0, j - 1e-3 * fs), hi - 1.0, 0.25)
    if cand.size == 0:
        return float(j)
    u = np.maximum(0.0, i[None, :] - cand[:, None])
    suu = (u * u).sum(axis=1)
    sur = (u * seg[None, :]).sum(axis=1)
    # the residual sum of squares of the best slope for each corner is sum(seg^2) - sur^2/suu
    gain = np.where((sur > 0) & (suu > 0), sur * sur / np.where(suu > 0, suu, 1.0), -np.inf)
    best = int(np.argmax(gain))
    if not np.isfinite(gain[best]):
        return float(j)
    return float(min(cand[best], j))


def _m_tail_end(m: CmapResult, fs: float, n: int) -> int:
    """Sample from which the M response has surely ended (``n`` when that cannot be said): its
    positive phase lasts about four times the interval from the negative peak to the end of the
    negative phase, and 3 ms more are allowed."""
    mk = m.markers
    if mk.neg_end is None or mk.neg_peak is None:
        return n
    return min(n, int(mk.neg_end + 4.0 * (mk.neg_end - mk.neg_peak)) + int(round(3e-3 * fs)))


def measure_fwaves(
    x: Any,
    fs_hz: float | None = None,
    stimulus_index: int | None = None,
    *,
    min_latency_ms: float = 20.0,
    config: ResponseConfig = CMAP_CONFIG,
    k_detect: float = 5.0,
    k_band: float = 2.0,
    smooth_ms: float = 0.3,
    edge_ms: float = 0.5,
    mains_hz: float = -1.0,
) -> FWaveResult:
    """Measure an F-wave train.

    Parameters
    ----------
    x : Response, or 2-D array (sweeps x samples)
        The train (>= :data:`MIN_F_SWEEPS` sweeps).
    fs_hz, stimulus_index : optional
        Required with plain arrays.
    min_latency_ms : float
        F-waves are looked for from the later of this latency and 2 ms after the end
        of the M response's negative phase (upper limbs about 20 ms, lower limbs about
        35 ms).  The M response is subtracted first, so its slow tail does not count:
        sample by sample, the mean of the sweeps that still agree with one another
        within noise (:func:`_consensus_members`; after the M response has surely ended,
        the pre-stimulus baseline level).
    config : ResponseConfig
        Settings of the M-response measurement.
    k_detect, k_band : float
        An F-wave leaves ``k_detect`` noise SDs (of the ``smooth_ms`` average; the noise
        is pooled over the sweeps' pre-stimulus baselines, with the template's own
        noise added); it is first placed where it was last inside ``k_band`` SDs, then
        refined to the corner of a ramp fitted to its take-off (:func:`_ramp_onset`).
    smooth_ms : float
        Moving-average length of the F-wave search (ms).
    edge_ms : float
        An onset is placed only with this much quiet trace before it inside the search
        window: one placed within ``edge_ms`` of the window's start, like activity already
        there at the start, may belong to an F-wave that began before the window (its onset
        piles up at the window's start: simulated F-waves of 17-23 ms searched from 20 ms
        read 20.1 ms).  0.5 ms: a few times the smoothing, and well under the 2-6 ms
        chronodispersion of a train.  When any sweep has such activity, F-waves may start
        before the window: the train's latencies, persistence and amplitude are not given
        (flag ``activity_at_window_start``; lower ``min_latency_ms``).
    mains_hz : float
        Mains frequency of the hum removed from each sweep (:func:`_sweep_baselines`): 50 or 60;
        -1 (default) chooses from the sweeps (the 50-100 ms of an F-wave sweep tell 50 from
        60 Hz); 0 removes drift only.  Each sweep's hum and drift are removed when they stand out
        from the noise and could reach the F-wave search's threshold; what was removed is in
        ``sweep_baseline``.  (``config.mains_hz`` is the M response's own.)

    Notes
    -----
    A sweep holding a NaN or infinite sample is left out (not judged, with the reason;
    flag ``sweeps_left_out``); the train needs :data:`MIN_F_SWEEPS` usable sweeps.
    Sweeps without an F-wave are recognised by their agreement with each other, which
    fails when similar F-waves (long myopathic potentials) start in nearly all sweeps
    within a few milliseconds of each other: then the few sweeps without one stand
    apart from the many and may be called positive.  The quality flag
    ``m_template_uncertain`` says when, somewhere in the search window, no two sweeps
    agreed (the median sweep is used there).
    """
    from ..kernels import response as K

    rows, fs, stims = _sweeps_of(x, fs_hz, stimulus_index)
    reasons: dict[str, str] = {}
    quality: set[str] = set()
    if len(rows) < MIN_F_SWEEPS:
        quality.add("too_few_sweeps")
        reasons["all"] = f"{len(rows)} sweeps: an F-wave study needs at least {MIN_F_SWEEPS}"
    per: list[FWaveSweep] = []
    smooth = max(1, int(round(smooth_ms * 1e-3 * fs))) | 1
    aligned = len({r.size for r in rows}) == 1 and len(set(stims)) == 1 and stims[0] >= 0
    if not aligned:
        reasons.setdefault("all", "the sweeps are not aligned on the stimulus (same length and stimulus sample)")
        return FWaveResult(len(rows), 0, 0, None, None, None, None, None, None, None, (), frozenset(quality), reasons)
    stack = np.vstack(rows)
    # a sweep holding a NaN or infinite sample (a dropped packet) is left out, as measure_snap
    # leaves it out of its average: one bad sweep would otherwise put NaN into the template and
    # lose the whole train ("the M response cannot be measured")
    whole = np.isfinite(stack).all(axis=1)
    kept = np.arange(stack.shape[0])
    dropped: list[FWaveSweep] = []
    if whole.any() and not whole.all():
        kept = np.flatnonzero(whole)
        dropped = [FWaveSweep(int(k), None, None, None, None, "the sweep holds NaN or infinite samples: left out")
                   for k in np.flatnonzero(~whole)]
        stack = stack[whole]
        quality.add("sweeps_left_out")
        reasons["sweeps"] = f"{len(dropped)} of {len(rows)} sweeps held NaN or infinite samples and were left out"
        if kept.size < MIN_F_SWEEPS and "all" not in reasons:
            quality.add("too_few_sweeps")
            reasons["all"] = (f"{kept.size} usable sweeps (of {len(rows)}): an F-wave study needs at least "
                              f"{MIN_F_SWEEPS}")
    # The M response (and the artifact) is the same in every sweep; F-waves vary in latency
    # and shape.  The pointwise median sweep is therefore the M response: subtracting it
    # leaves the F-waves on a flat baseline.
    n_sw = stack.shape[0]
    sweep_base: SweepBaseline | None = None
    model_se: np.ndarray | None = None  # standard error of each sweep's removed baseline model
    common_se: np.ndarray | None = None  # and of the template's, after the M response
    base_groups: tuple[tuple[str, int], ...] = ()
    unfitted = np.zeros(n_sw, dtype=bool)  # sweeps whose hum and drift could not be removed
    before: tuple[Any, ...] = ()
    first_fit: tuple[Any, ...] = ()  # the sweeps and settings the baseline models were first fitted with
    for attempt in range(2):
        template = np.median(stack, axis=0)
        m_first = measure_cmap(np.ascontiguousarray(template), fs, stims[0], config=config)
        if (m_first.status != "ok" or m_first.markers.stimulus is None) and attempt:
            stack, template, _, s0, m_end, a, b, sigma, sig_pool = before
            sweep_base, model_se, base_groups = None, None, ()
            unfitted[:] = False
            # the hum and drift found in the sweeps are still in them: the figures are not given (read
            # with them, 8 µV of hum made false F-waves)
            quality.add("baseline_not_removed")
            reasons["all"] = ("each sweep's hum or drift stands out from the noise, but once it was removed the M response "
                              f"could not be measured ({m_first.status}): the F-wave figures are not given")
            m_first = before[2]
            break
        if m_first.status != "ok" or m_first.markers.stimulus is None:
            reasons.setdefault("all", f"the M response cannot be measured ({m_first.status})")
            return FWaveResult(len(rows), 0, 0, None, None, None, None, None, None, m_first, (),
                               frozenset(quality), reasons)
        s0 = m_first.markers.stimulus
        # the template subtraction removes the M response's slow tail, so the search may start
        # soon after its negative phase (its "total end" on the template would include F energy)
        m_end = m_first.markers.neg_end
        a = s0 + int(round(min_latency_ms * 1e-3 * fs))
        if m_end is not None:
            a = max(a, int(m_end) + int(round(2e-3 * fs)))
        b = stack.shape[1] - int(round(1e-3 * fs))
        # noise of one sweep from the template's (lower by the median's efficiency): the fallback
        # when the sweeps' own baselines are too short
        sigma = ((m_first.noise_uv or 0.0) * 1e-6 * math.sqrt(n_sw * 2.0 / math.pi)
                 * math.sqrt(1.0 + math.pi / (2 * n_sw)))
        if b - a < int(round(5e-3 * fs)):
            reasons.setdefault("all", "the sweeps end too soon after the M response to look for F-waves")
        # the noise is the recording's, the same in every sweep: pooled over the sweeps'
        # pre-stimulus baselines (one sweep's few milliseconds give a ragged estimate)
        sig_pool = math.sqrt(float(np.mean([_baseline_sigma(stack[k], s0, sigma) ** 2 for k in range(n_sw)])))
        if attempt or "all" in reasons:
            break
        # each sweep's own hum and drift (not in the template): fitted outside the artifact and
        # the M response's negative phase, removed, and the M response measured again
        guard = max(s0 - int(round(0.1e-3 * fs)) - 1, 0)
        fit = np.ones(stack.shape[1], dtype=bool)
        fit[guard : (int(m_end) if m_end is not None else a) + int(round(2e-3 * fs))] = False
        fitted = _sweep_baselines(stack, fs, fit, sig_pool * math.sqrt(1.0 + math.pi / (2 * n_sw)),
                                  smooth, mains_hz)
        first_fit = (stack, fit, sig_pool * math.sqrt(1.0 + math.pi / (2 * n_sw)))
        if fitted is None:
            break
        before = (stack, template, m_first, s0, m_end, a, b, sigma, sig_pool)
        model, model_se, sweep_base, base_groups, unfitted = fitted
        stack = stack - model
    if unfitted.any() and "all" not in reasons:
        # the other sweeps' models rest on as little (50 ms sweeps with 8 µV of hum at 20 kHz: a minimal
        # latency 4.5 ms early from the sweeps that were fitted)
        quality.add("baseline_not_removed")
        reasons["all"] = (f"the hum or drift of {int(unfitted.sum())} of {n_sw} sweeps could not be told from their "
                          "activity (too little quiet baseline in the sweeps): the F-wave figures are not given")
    found: list[np.ndarray] = []
    constant: list[ConstantLateResponse] = []
    inflate = 1.0
    if "all" not in reasons:
        # F-waves of a persistent train overlap in time (and, in a myopathy, the M response's
        # long tail), so the pointwise median holds part of them.  The M response is the
        # same in every sweep: where the sweeps without an F-wave agree with one another
        # within noise, their mean is the M response (see _consensus_members).
        t0 = int(m_end) if m_end is not None else a
        members = _consensus_members(stack, sig_pool, max(4, int(round(_CONSENSUS_WINDOW_MS * 1e-3 * fs))), t0,
                                     _CONSENSUS_K)
        n_c = members.sum(axis=1)
        refined = template.copy()
        ok = n_c >= 2
        refined[ok] = (stack.T[ok] * members[ok]).sum(axis=1) / n_c[ok]
        # after the M response has surely ended (its positive phase lasts about four times the
        # peak-to-zero-crossing interval), the template is just the baseline
        tail_end = _m_tail_end(m_first, fs, refined.size)
        if tail_end < refined.size:
            # unless hum or drift common to the sweeps rides on it (see _template_baseline): then
            # the baseline there is that model, fitted on the median sweep (the consensus may have
            # lost its members among F-waves there) before the stimulus and after the M response
            flat = np.ones(refined.size, dtype=bool)
            flat[max(s0 - int(round(0.1e-3 * fs)) - 1, 0) : tail_end] = False
            common = None
            if sweep_base is not None:
                common = _template_baseline(template, flat, sig_pool * math.sqrt(math.pi / (2.0 * n_sw)), fs,
                                            smooth, sweep_base.mains_hz or 0.0, base_groups)
            if isinstance(common, str):
                # the sweeps' own hum was removed but what they share cannot be: it would be read as
                # a late response in every sweep (20 µV of hum on 50 ms sweeps: persistence 100 %)
                quality.add("baseline_not_removed")
                reasons["all"] = ("the hum or drift the sweeps share could not be told from the F-waves (too "
                                  "little quiet baseline after them): the F-wave figures are not given")
                refined[tail_end:] = float(np.mean(template[: max(s0 - int(round(0.1e-3 * fs)), 1)]))
            elif common is not None:
                refined[tail_end:] = common[0][tail_end:]
                common_se = common[1]
            else:
                refined[tail_end:] = float(np.mean(template[: max(s0 - int(round(0.1e-3 * fs)), 1)]))
        lost = ~ok[a:min(b, tail_end)]
        if lost.any():
            quality.add("m_template_uncertain")
            reasons["template"] = (f"{int(lost.sum())} samples of the search window have no two sweeps in agreement: "
                                   "the median sweep stands for the M response there")
        # the template's own noise (a mean of n_c sweeps) adds to each sweep's
        span = n_c[a:min(b, tail_end)]
        inflate = math.sqrt(1.0 + 1.0 / max(int(span.min()), 1)) if span.size else 1.0
        resid_all = stack - refined
        # late responses of constant latency and shape (A-waves) are not F-waves: taken out of
        # the sweeps that hold them before the F-waves are looked for, and reported
        pieces: list[list[Any]] = []  # [start, stop, min, max, sweeps] of each response
        for c0, c1, comp, agree in _constant_late(resid_all, a, b, sig_pool * inflate, smooth, k_detect, k_band,
                                                  _CONSENSUS_K):
            resid_all[np.ix_(agree, np.arange(c0, c1))] -= comp[None, :]
            if pieces and c0 - pieces[-1][1] <= int(round(1e-3 * fs)):  # the next phase of the same response
                last = pieces[-1]
                last[1], last[2], last[3] = c1, min(last[2], comp.min()), max(last[3], comp.max())
                last[4] = min(last[4], int(agree.sum()))
            else:
                pieces.append([c0, c1, comp.min(), comp.max(), int(agree.sum())])
        constant = [ConstantLateResponse((c0 - s0) / fs * 1e3, (c1 - s0) / fs * 1e3, float(hi - lo) * 1e6, k)
                    for c0, c1, lo, hi, k in pieces]
        if constant:
            quality.add("constant_late_response")
            reasons["constant_late_response"] = "; ".join(
                f"a late response of constant latency and shape at {c.onset_latency_ms:.1f}-{c.end_latency_ms:.1f} ms "
                f"({c.peak_to_peak_uv:.0f} µV) in {c.n_sweeps} of {n_sw} sweeps" for c in constant
            ) + ": an A-wave (or one motor neuron's F-wave repeating), left out of the F-wave figures"
        for k in range(n_sw):
            resid = np.ascontiguousarray(resid_all[k])
            sig_k = sig_pool * inflate
            slow = 0.0
            if model_se is not None:
                slow += float(model_se[k, a:b].max()) ** 2
            if common_se is not None:
                slow += float(common_se[a:b].max()) ** 2
            if slow:
                # the removed baseline models' own error is as slow as the models: smoothing does not
                # reduce it (late_response divides sigma by the square root of the smoothing length)
                sig_k = math.sqrt(sig_k * sig_k + smooth * slow)
            found.append(K.late_response(resid, fs, a, b, 0.0, sig_k, k_detect, k_band, smooth))
    n_edge = 0  # sweeps with activity at the start of the search window
    for k in range(n_sw):
        i = int(kept[k])  # the sweep's index in the train
        if "all" in reasons:
            per.append(FWaveSweep(i, None, None, None, None, reasons["all"]))
            continue
        r = found[k]
        if r[0] == 1.0 and r[1] <= a + 1:
            n_edge += 1
            per.append(FWaveSweep(i, None, None, None, None,
                                  "activity already at the start of the search window: no onset can be placed"))
        elif r[0] == 1.0:
            on = _ramp_onset(resid_all[k], int(r[1]), a, fs, sig_pool * inflate, k_detect, smooth, r[4])
            if on < a + edge_ms * 1e-3 * fs:
                n_edge += 1
                per.append(FWaveSweep(i, None, None, None, None,
                                      f"activity within {edge_ms:g} ms of the start of the search window: it may "
                                      "have begun before the window, no onset can be placed"))
            else:
                per.append(FWaveSweep(i, True, (on - s0) / fs * 1e3, r[4] * 1e6, on))
        else:
            per.append(FWaveSweep(i, False, None, None, None))
    per = sorted(per + dropped, key=lambda p: p.index)
    judged = [p for p in per if p.present is not None]
    present = [p for p in judged if p.present]
    lats = [p.onset_latency_ms for p in present if p.onset_latency_ms is not None]
    if n_edge and "all" not in reasons:
        # the sweeps left unjudged are the ones whose F-wave may begin earliest: the minimal
        # latency would be overstated (a prolonged F latency read) and the persistence understated
        quality.add("activity_at_window_start")
        a_ms = (a - s0) / fs * 1e3
        why = (f"min_latency_ms ({min_latency_ms:g} ms)" if a_ms <= min_latency_ms + 1e-6 else
               f"2 ms after the M response's negative phase (the window would start at {min_latency_ms:g} ms)")
        reasons["all"] = (f"{n_edge} of {len(rows)} sweeps hold activity at the start of the F-wave search window "
                          f"({a_ms:.1f} ms, from {why}): F-waves may begin before it, so the minimal latency and "
                          "persistence cannot be given (lower min_latency_ms; or the baseline wanders from sweep to sweep: "
                          "drift or mains hum)")
    if not judged:
        reasons.setdefault("all", "no sweep could be judged")
    elif not present and not n_edge:
        reasons["latency"] = "no F-wave in any sweep"
    elif len(lats) == 1 and not n_edge:
        reasons["chronodispersion"] = "one F-wave in the train: chronodispersion needs at least two"
    n_judged, n_present = len(judged), len(present)
    if n_edge:
        judged, present, lats = [], [], []
    if mains_hz > 0 and first_fit and "all" in reasons and quality & {"activity_at_window_start", "baseline_not_removed"}:
        # refused with the lab's mains frequency given: hum at the other one (a 60 Hz recording measured with
        # mains_hz = 50) is fitted only in part by the given harmonics and the drift terms; say so
        other = _other_mains_hum(*first_fit, smooth=smooth, fs=fs, mains_hz=mains_hz)
        if other is not None:
            reasons["all"] += (f". The sweeps hold mains hum at {other:g} Hz, not at the {mains_hz:g} Hz given "
                               f"(mains_hz): measure with mains_hz={other:g}, or -1 to choose from the sweeps")
    return FWaveResult(
        n_sweeps=len(rows),
        n_judged=n_judged,
        n_present=n_present,
        persistence_pct=100.0 * len(present) / len(judged) if judged else None,
        min_latency_ms=min(lats) if lats else None,
        mean_latency_ms=float(np.mean(lats)) if lats else None,
        max_latency_ms=max(lats) if lats else None,
        chronodispersion_ms=(max(lats) - min(lats)) if len(lats) >= 2 else None,
        mean_peak_to_peak_uv=float(np.mean([p.peak_to_peak_uv for p in present])) if present else None,
        m_response=m_first,
        sweeps=tuple(per),
        quality=frozenset(quality),
        reasons=reasons,
        constant_responses=tuple(constant),
        sweep_baseline=sweep_base,
    )


@dataclass(frozen=True)
class RnsResult:
    """A repetitive-stimulation train: per-response values and decrements (%)."""

    rate_hz: float | None
    responses: tuple[CmapResult, ...]
    amplitudes_mv: tuple[float | None, ...]
    neg_areas_mvms: tuple[float | None, ...]
    decrement_pct: float | None
    area_decrement_pct: float | None
    max_decrement_first5_pct: float | None
    quality: frozenset[str]
    reasons: Mapping[str, str]
    #: each response's size in % of the first's, from which the decrements are computed (see
    #: :func:`_rns_scales`; None where a response is not measured)
    relative_amplitudes_pct: tuple[float | None, ...] = ()
    #: standard error of ``decrement_pct`` from the recording's noise (percentage points)
    decrement_se_pct: float | None = None


#: the decrement is measured over the top of the negative phase: the samples around the train's
#: mean response's negative peak where it is beyond this fraction of its amplitude
_RNS_PEAK_FRACTION = 0.5
#: a decrement whose 95 % interval from the noise (1.96 standard errors) is wider than this many
#: percentage points either side is flagged ``decrement_imprecise`` (the precision the measurement is
#: specified to; 10 µV of noise per sample left a 0.5 mV CMAP's decrement uncertain by ±0.9 at 20 kHz
#: and ±1.3 at 10 kHz, a 1 mV one by ±0.5-0.6)
_RNS_PRECISION_PCT = 1.0


def _rns_scales(arr: np.ndarray, fs: float, stims: Sequence[int], usable: Sequence[bool], pre: int,
                config: ResponseConfig) -> tuple[list[float | None], list[float | None], list[float | None]] | str:
    """Each usable response's size against the train's mean response, with its own hum and drift.

    The responses of a train have one shape; what changes from one to the next is their size.
    Each response (``x_k``, from ``pre`` samples before its stimulus to the shortest stretch any
    has before the next) is fitted as ``s_k * T`` over the top of its negative phase (the samples
    around the negative peak of the mean response ``T`` where it is beyond
    :data:`_RNS_PEAK_FRACTION` of its amplitude), plus its own baseline: offset, slope and mains
    hum (50 and 60 Hz both tried, with their 3rd and 5th harmonics; none when
    ``config.mains_hz`` is 0),
    fitted together with the scale on the same samples and on the stretches before the
    stimulus and after ``T`` has surely ended (:func:`_m_tail_end`).  ``T`` is the mean of the responses without their
    baselines (three rounds).  The peak amplitude is read off a few samples, so its noise
    (10 µV at 10-20 kHz) moved the decrement of a 0.5 mV CMAP by up to 1.4 percentage points;
    the fit averages over the whole top of the phase.  For responses of one shape ``s_4 / s_1``
    is the amplitude ratio; a change of shape away from the peak does not enter.

    Returns ``(scale, scale_se, area)`` per response (None where not usable; ``area``: the
    negative area in V·s over the negative phase of ``T``, the baseline removed), or a reason
    why the train's mean response cannot be measured.
    """
    idx = [k for k, u in enumerate(usable) if u]
    n_resp = len(stims)
    if len(idx) < 2:
        return "fewer than two responses measured"
    pre = min(pre, *(stims[k] for k in idx))
    post = min((stims[k + 1] - int(round(1e-3 * fs)) if k + 1 < n_resp else arr.size) - stims[k] for k in idx)
    if pre < 10 or post < int(round(10e-3 * fs)):
        return "too short a stretch around each stimulus"
    x = np.stack([arr[stims[k] - pre : stims[k] + post] for k in idx]).astype(np.float64)
    m = x.shape[1]
    guard = max(1, int(round(0.1e-3 * fs)))
    u = np.linspace(-1.0, 1.0, m)
    t = np.arange(m) / fs
    # the train's seconds tell 50 from 60 Hz: both are tried unless hum removal is off (with the
    # CMAP default of 50 Hz, 60 Hz hum failed the mean response and the estimate fell back)
    mains = (50.0, 60.0) if config.mains_hz != 0 else ()
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    failed = "the train's mean response cannot be measured"
    for f in mains or (0.0,):
        cols = [np.ones(m), u]
        if f > 0:
            for h in (1, 3, 5):
                cols += [np.sin(2 * np.pi * h * f * t), np.cos(2 * np.pi * h * f * t)]
        nb = np.column_stack(cols)
        cfg = replace(config, search_ms=min(config.search_ms, post / fs * 1e3 - 6.0), mains_hz=f)
        nuis = np.repeat(x[:, : pre - guard].mean(axis=1, keepdims=True), m, axis=1)
        scale = se = area = np.zeros(0)
        rss = 0.0
        for _ in range(3):
            tm = (x - nuis).mean(axis=0)
            tm = tm - tm[: pre - guard].mean()
            mt = measure_cmap(np.ascontiguousarray(tm), fs, pre, config=cfg)
            mk = mt.markers
            if mt.status != "ok" or not mt.present or mk.neg_peak is None or mk.onset is None or mk.neg_end is None:
                failed = f"the train's mean response cannot be measured ({mt.status})"
                break
            ip = int(round(mk.neg_peak))
            sign = 1.0 if tm[ip] > 0 else -1.0
            lo = hi = ip
            level = _RNS_PEAK_FRACTION * sign * tm[ip]
            while lo > 0 and sign * tm[lo - 1] >= level:
                lo -= 1
            while hi < m - 1 and sign * tm[hi + 1] >= level:
                hi += 1
            shape = np.zeros(m)
            shape[lo : hi + 1] = tm[lo : hi + 1]
            rows = np.zeros(m, dtype=bool)
            rows[: pre - guard] = True
            rows[lo : hi + 1] = True
            # after the response has surely ended (not its end marker: residual hum in the mean
            # response may hold that off the baseline, and the hum is then fitted on too little)
            rows[_m_tail_end(mt, fs, m):] = True
            design = np.column_stack([shape, nb])[rows]
            inv = np.linalg.pinv(design.T @ design)
            coef = inv @ design.T @ x[:, rows].T  # columns: responses
            nuis = (nb @ coef[1:]).T
            resid = x[:, rows] - (design @ coef).T
            dof = max(int(rows.sum()) - design.shape[1], 1)
            rss = float((resid ** 2).sum())
            sd = np.sqrt((resid ** 2).sum(axis=1) / dof)
            peak = float(sign * tm[ip])
            scale = coef[0] * peak  # the response's amplitude on the top of the mean's negative phase (V)
            se = sd * math.sqrt(max(float(inv[0, 0]), 0.0)) * peak
            a, b = int(math.floor(mk.onset)), int(math.ceil(mk.neg_end))
            area = sign * (x - nuis)[:, a : b + 1].sum(axis=1) / fs
        else:
            if best is None or rss < best[0]:
                best = (rss, scale, se, area)
    if best is None:
        return failed
    _, scale, se, area = best
    out_s: list[float | None] = [None] * n_resp
    out_e: list[float | None] = [None] * n_resp
    out_a: list[float | None] = [None] * n_resp
    for j, k in enumerate(idx):
        out_s[k], out_e[k], out_a[k] = float(scale[j]), float(se[j]), float(area[j])
    return out_s, out_e, out_a


def rns_decrement(
    x: Any,
    fs_hz: float | None = None,
    stimulus_indices: Sequence[int] | None = None,
    *,
    config: ResponseConfig = CMAP_CONFIG,
) -> RnsResult:
    """Decrement of a repetitive-stimulation train held in one sweep.

    Each response is measured between its stimulus and the next (with the
    inter-stimulus stretch before it as baseline).  ``decrement_pct`` =
    (A1 − A4) / A1 x 100 on amplitude, ``area_decrement_pct`` the same on negative
    area, ``max_decrement_first5_pct`` uses the smallest of the first five.  The sizes compared
    are each response's fit to the train's mean response over the top of its negative phase,
    with its own hum and drift (:func:`_rns_scales`; ``relative_amplitudes_pct``, and the
    decrement's standard error from the noise in ``decrement_se_pct``), and its area over the
    mean response's negative phase: for responses of one shape, the amplitude and area ratios
    with a fraction of the noise of single peak readings.  ``amplitudes_mv`` and
    ``neg_areas_mvms`` are each response's own measurement.

    Raises
    ------
    ValueError
        ``fs_hz`` not a finite positive number, or stimulus indices outside the sweep or
        not strictly increasing.
    """
    given = sweeps_given(x, "repetitive stimulation")
    if given is not None:
        sw = given[0]
        arr, fs, stims = sw.samples_v, sw.fs_hz, list(sw.stimulus_indices)
    else:
        if fs_hz is None or stimulus_indices is None:
            raise ValueError("fs_hz and stimulus_indices are required with a plain array")
        arr, fs, stims = np.asarray(x, dtype=np.float64), _check_fs(fs_hz), [int(i) for i in stimulus_indices]
        if arr.ndim != 1:
            raise ValueError(f"expected one sweep holding the train (1-D samples), got shape {arr.shape}")
    # one train's stimuli are distinct moments of the sweep, in order: anything else (indices
    # swapped, duplicated by a loader, past the end) gave a negative or wrong rate and shifted
    # every response's window, so it is refused by name (as a loaded Sweep refuses it)
    if any(not 0 <= i < np.shape(arr)[-1] for i in stims):
        raise ValueError(f"stimulus indices must lie within the sweep (0..{np.shape(arr)[-1] - 1}), got {stims}")
    if any(b <= a for a, b in zip(stims, stims[1:])):
        raise ValueError(f"stimulus indices must be strictly increasing, got {stims}")
    reasons: dict[str, str] = {}
    quality: set[str] = set()
    if len(stims) < 4:
        reasons["all"] = f"{len(stims)} stimuli: the decrement needs at least 4"
    pre = int(round(5e-3 * fs))
    results: list[CmapResult] = []
    for k, s in enumerate(stims):
        a = max(0, s - pre)
        b = stims[k + 1] - int(round(1e-3 * fs)) if k + 1 < len(stims) else arr.size
        seg = np.ascontiguousarray(arr[a:b])
        cfg = replace(config, search_ms=min(config.search_ms, (b - s) / fs * 1e3 - 6.0))
        results.append(measure_cmap(seg, fs, s - a, config=cfg))
    # Each response's baseline is the stretch before its stimulus.  At high rates (or with long
    # myopathic responses, or long latencies) the previous response may not have ended there:
    # its tail then sits on this response's baseline and shifts its amplitude and area
    # (simulated 30 Hz, 20 % decrement, myopathic 1 mV CMAP: -8 % read; 50 Hz, 8 ms latency:
    # 3 % read).  A response whose predecessor has not regained the noise band (its end
    # marker) before this response's baseline stretch starts is not measured, and nor are the
    # ones after it (their predecessors' ends were placed on a tail-laden baseline).
    overlap_from = None
    for k in range(len(results) - 1):
        r = results[k]
        if r.status != "ok" or not r.present:
            continue
        start_k = max(0, stims[k] - pre)
        next_baseline = max(0, stims[k + 1] - pre)
        # where it ends: its end marker, but no later than where a response has surely ended (its
        # positive phase lasts about four times its peak-to-zero-crossing interval, _m_tail_end).
        # Hum can hold the trace off the baseline long after: a 1 mV CMAP under 20 µV of hum at
        # 10 kHz had no end marker, and a 3 Hz train read as overlapping (333 ms apart).
        sure = _m_tail_end(r, fs, 2**62)
        end = min(r.markers.end, float(sure)) if r.markers.end is not None else (
            float(sure) if sure < 2**62 else None)
        if end is None or start_k + end > next_baseline:
            overlap_from = k + 1
            end_txt = ("has not ended before the next stimulus" if end is None else
                       f"ends {(start_k + end - stims[k]) / fs * 1e3:.1f} ms after its stimulus")
            quality.add("responses_overlap")
            reasons["overlap"] = (
                f"response {k + 1} {end_txt}, inside the baseline stretch ({pre / fs * 1e3:.0f} ms) before "
                f"stimulus {k + 2} ({(stims[k + 1] - stims[k]) / fs * 1e3:.1f} ms later): its tail shifts the "
                f"baseline of responses {k + 2} to {len(stims)}, which are not measured (use a lower rate)")
            break
    usable = [r.status == "ok" and (overlap_from is None or k < overlap_from) for k, r in enumerate(results)]
    amps = tuple(r.amplitude_mv if u else None for r, u in zip(results, usable))
    areas = tuple(r.neg_area_mvms if u else None for r, u in zip(results, usable))
    for k, r in enumerate(results):
        if r.status != "ok":
            quality.add(f"response_{k + 1}:{r.status}")
    rate = None
    if len(stims) >= 2:
        rate = fs / float(np.mean(np.diff(stims)))

    # the decrements from each response's size against the train's mean response (see _rns_scales);
    # when that mean cannot be measured, from the responses' own amplitudes and areas
    sizes: tuple[float | None, ...] = amps
    size_areas: tuple[float | None, ...] = areas
    size_se: tuple[float | None, ...] = (None,) * len(amps)
    fitted = _rns_scales(arr, fs, stims, usable, pre, config) if "all" not in reasons else "too few stimuli"
    if isinstance(fitted, str):
        if "all" not in reasons and sum(usable) >= 2:
            quality.add("decrement_from_peaks")
            reasons["decrement_estimator"] = (f"{fitted}: the decrements are from the responses' own amplitudes "
                                              "and areas, without a standard error (less precise)")
    else:
        sizes, size_se, size_areas = tuple(fitted[0]), tuple(fitted[1]), tuple(fitted[2])

    def dec(v: tuple[float | None, ...], j: int) -> float | None:
        if len(v) <= j or v[0] is None or v[j] is None or v[0] <= 0:
            return None
        return 100.0 * (v[0] - v[j]) / v[0]

    d4 = dec(sizes, 3)
    d4_se = None
    if d4 is not None and size_se[0] is not None and size_se[3] is not None:
        s1, s4 = sizes[0], sizes[3]
        assert s1 is not None and s4 is not None
        # d = 100 (1 - s4/s1): var = 100^2 (e4^2 + (s4/s1)^2 e1^2) / s1^2
        d4_se = 100.0 * math.hypot(size_se[3], s4 / s1 * size_se[0]) / abs(s1)
    if d4 is None and "all" not in reasons:
        reasons["decrement"] = "the 1st or 4th response could not be measured"
    if d4_se is not None and 1.96 * d4_se > _RNS_PRECISION_PCT:
        quality.add("decrement_imprecise")
        reasons["decrement_precision"] = (
            f"the noise leaves the decrement uncertain by ±{1.96 * d4_se:.1f} percentage points (95 %): more than "
            f"{_RNS_PRECISION_PCT:g} (a small response or a noisy recording; repeat, or average trains)")
    # the lowest of the first five (at least four: the decrement is largest at the 4th-5th response)
    first5 = [a for a in sizes[:5] if a is not None]
    mx = None
    if len(sizes) >= 4 and sizes[0] and len(first5) == min(5, len(sizes)):
        mx = 100.0 * (sizes[0] - min(first5)) / sizes[0]
    elif len(sizes) >= 4 and "all" not in reasons:
        missing = [k + 1 for k, a in enumerate(sizes[:5]) if a is None]
        reasons["max_decrement_first5"] = (
            f"response {', '.join(map(str, missing))} of the first five could not be measured: the lowest of "
            "them is unknown" if missing else "the 1st response's amplitude is zero")
    first = sizes[0] if sizes and sizes[0] else None
    return RnsResult(
        rate_hz=rate,
        responses=tuple(results),
        amplitudes_mv=amps,
        neg_areas_mvms=areas,
        decrement_pct=d4,
        area_decrement_pct=dec(size_areas, 3),
        max_decrement_first5_pct=mx,
        quality=frozenset(quality),
        reasons=reasons,
        relative_amplitudes_pct=tuple(None if v is None or first is None else 100.0 * v / first for v in sizes),
        decrement_se_pct=d4_se,
    )


@dataclass(frozen=True)
class DmsResult:
    """Direct muscle stimulation: nerve- and muscle-evoked amplitudes and their ratio."""

    ncmap_mv: float | None
    mcmap_mv: float | None
    ratio: float | None
    nerve: CmapResult
    muscle: CmapResult
    quality: frozenset[str]
    reasons: Mapping[str, str]


def dms_ratio(nerve: Any, muscle: Any, fs_hz: float | None = None, *,
              nerve_stimulus_index: int | None = None, muscle_stimulus_index: int | None = None,
              config: ResponseConfig = CMAP_CONFIG) -> DmsResult:
    """nCMAP/mCMAP amplitude ratio (Rich 1996/1997; CLINICAL.md §1).

    ``nerve`` and ``muscle`` are responses (or sweeps / arrays with ``fs_hz`` and the
    stimulus indices) or already measured :class:`CmapResult`.  An absent nerve-evoked
    response gives ratio 0 (a finding: the muscle is excitable, the nerve is not); a
    muscle-evoked response that is absent or cannot be judged gives no ratio.
    """
    def get(v: Any, stim: int | None) -> CmapResult:
        if isinstance(v, SnapResult):
            raise TypeError("dms_ratio compares two motor responses (CmapResult, or the sweeps to measure as CMAPs); "
                            "got a SnapResult")
        return v if isinstance(v, CmapResult) else measure_cmap(v, fs_hz, stim, config=config)

    n = get(nerve, nerve_stimulus_index)
    m = get(muscle, muscle_stimulus_index)
    reasons: dict[str, str] = {}
    ratio = None
    if m.status != "ok":
        reasons["ratio"] = (f"the muscle-evoked response is {m.status}" if m.status == "absent"
                            else f"the muscle-evoked response cannot be judged ({m.status})")
    elif n.status == "absent":
        ratio = 0.0
    elif n.status != "ok":
        reasons["ratio"] = f"the nerve-evoked response cannot be judged ({n.status})"
    elif m.amplitude_mv:
        ratio = n.amplitude_mv / m.amplitude_mv
    quality = {f"nerve:{q}" for q in n.quality} | {f"muscle:{q}" for q in m.quality}
    return DmsResult(
        ncmap_mv=n.amplitude_mv if n.status in ("ok", "absent") else None,
        mcmap_mv=m.amplitude_mv if m.status in ("ok", "absent") else None,
        ratio=ratio,
        nerve=n,
        muscle=m,
        quality=frozenset(quality),
        reasons=reasons,
    )
