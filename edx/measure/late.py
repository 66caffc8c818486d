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
from .ncs import CMAP_CONFIG, CmapResult, ResponseConfig, measure_cmap

__all__ = [
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
class FWaveResult:
    """Summary of an F-wave train.

    ``persistence_pct`` = sweeps with an F-wave / judged sweeps x 100.  Latencies are
    onset latencies (ms from the stimulus).  ``chronodispersion_ms`` = longest minus
    shortest F latency.
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


def _sweeps_of(x: Any, fs_hz: float | None, stimulus_index: int | None) -> tuple[list[np.ndarray], float, list[int]]:
    if isinstance(x, Response):
        return [s.samples_v for s in x.sweeps], x.fs_hz, [-1 if s.stimulus_index is None else s.stimulus_index
                                                        for s in x.sweeps]
    if isinstance(x, Sweep):
        return [x.samples_v], x.fs_hz, [-1 if x.stimulus_index is None else x.stimulus_index]
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if fs_hz is None or stimulus_index is None:
        raise ValueError("fs_hz and stimulus_index are required with plain arrays")
    return [np.ascontiguousarray(r) for r in arr], float(fs_hz), [int(stimulus_index)] * arr.shape[0]


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
        35 ms).  The train's median sweep (the M response, refined by leaving out each
        sweep's F-wave) is subtracted first, so the M response's slow tail does not count.
    config : ResponseConfig
        Settings of the M-response measurement.
    k_detect, k_band : float
        An F-wave leaves ``k_detect`` noise SDs (of the ``smooth_ms`` average); its
        onset is where it was last inside ``k_band`` SDs.
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
    # The M response (and the artifact) is the same in every sweep; F-waves vary in latency
    # and shape.  The pointwise median sweep is therefore the M response: subtracting it
    # leaves the F-waves on a flat baseline.
    template = np.median(stack, axis=0)
    m_first = measure_cmap(np.ascontiguousarray(template), fs, stims[0], config=config)
    if m_first.status != "ok" or m_first.markers.stimulus is None:
        reasons.setdefault("all", f"the M response cannot be measured ({m_first.status})")
        return FWaveResult(len(rows), 0, 0, None, None, None, None, None, None, m_first, (), frozenset(quality),
                           reasons)
    s0 = m_first.markers.stimulus
    # the template subtraction removes the M response's slow tail, so the search may start
    # soon after its negative phase (its "total end" on the template would include F energy)
    m_end = m_first.markers.neg_end
    a = s0 + int(round(min_latency_ms * 1e-3 * fs))
    if m_end is not None:
        a = max(a, int(m_end) + int(round(2e-3 * fs)))
    b = stack.shape[1] - int(round(1e-3 * fs))
    # noise of one sweep (the template's noise is lower by the median's efficiency)
    n_sw = stack.shape[0]
    sigma = (m_first.noise_uv or 0.0) * 1e-6 * math.sqrt(n_sw * 2.0 / math.pi) * math.sqrt(1.0 + math.pi / (2 * n_sw))
    if b - a < int(round(5e-3 * fs)):
        reasons.setdefault("all", "the sweeps end too soon after the M response to look for F-waves")
    def detect(tpl: np.ndarray, k_det: float) -> list[np.ndarray]:
        found = []
        for k in range(n_sw):
            resid = np.ascontiguousarray(stack[k] - tpl)
            sig_k = float(np.std(np.diff(resid[: max(s0 - 2, 8)])) / math.sqrt(2.0)) if s0 > 10 else sigma
            found.append(K.late_response(resid, fs, a, b, 0.0, sig_k if sig_k > 0 else sigma, k_det, k_band,
                                         smooth))
        return found

    if "all" not in reasons:
        # first pass with a stricter threshold: only clear F-waves are left out of the template
        first = detect(template, 1.6 * k_detect)
        # F-waves of a persistent train overlap in time, so the plain median holds part of
        # them: recompute it leaving out each sweep's detected F-wave (onset to 15 ms after)
        masked = stack.astype(np.float64, copy=True)
        span = int(round(15e-3 * fs))
        for k, r in enumerate(first):
            if r[0] == 1.0:
                i0 = int(r[1]) - int(round(1e-3 * fs))
                masked[k, max(i0, 0) : int(r[1]) + span] = np.nan
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are replaced below
            refined = np.nanmedian(masked, axis=0)
        n_left = np.sum(~np.isnan(masked), axis=0)
        refined[n_left == 0] = template[n_left == 0]
        # after the M response has surely ended (its positive phase lasts about four times the
        # peak-to-zero-crossing interval), the template is just the baseline
        mk = m_first.markers
        if mk.neg_end is not None and mk.neg_peak is not None:
            tail_end = int(mk.neg_end + 4.0 * (mk.neg_end - mk.neg_peak)) + int(round(3e-3 * fs))
            if tail_end < refined.size:
                level = float(np.mean(template[: max(s0 - int(round(0.1e-3 * fs)), 1)]))
                refined[tail_end:] = level
        found = detect(refined, k_detect)
    for k in range(n_sw):
        if "all" in reasons:
            per.append(FWaveSweep(k, None, None, None, None, reasons["all"]))
            continue
        r = found[k]
        if r[0] == 1.0 and r[1] <= a + 1:
            per.append(FWaveSweep(k, None, None, None, None,
                                  "activity already at the start of the search window: no onset can be placed"))
        elif r[0] == 1.0:
            per.append(FWaveSweep(k, True, (r[1] - s0) / fs * 1e3, r[4] * 1e6, float(r[1])))
        else:
            per.append(FWaveSweep(k, False, None, None, None))
    judged = [p for p in per if p.present is not None]
    present = [p for p in judged if p.present]
    lats = [p.onset_latency_ms for p in present if p.onset_latency_ms is not None]
    if not judged:
        reasons.setdefault("all", "no sweep could be judged")
    elif not present:
        reasons["latency"] = "no F-wave in any sweep"
    return FWaveResult(
        n_sweeps=len(rows),
        n_judged=len(judged),
        n_present=len(present),
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
    area, ``max_decrement_first5_pct`` uses the smallest of the first five.
    """
    if isinstance(x, Response):
        sw = x.sweeps[0]
        arr, fs, stims = sw.samples_v, sw.fs_hz, list(sw.stimulus_indices)
    elif isinstance(x, Sweep):
        arr, fs, stims = x.samples_v, x.fs_hz, list(x.stimulus_indices)
    else:
        if fs_hz is None or stimulus_indices is None:
            raise ValueError("fs_hz and stimulus_indices are required with a plain array")
        arr, fs, stims = np.asarray(x, dtype=np.float64), float(fs_hz), [int(i) for i in stimulus_indices]
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
    amps = tuple(r.amplitude_mv if r.status == "ok" else None for r in results)
    areas = tuple(r.neg_area_mvms if r.status == "ok" else None for r in results)
    for k, r in enumerate(results):
        if r.status != "ok":
            quality.add(f"response_{k + 1}:{r.status}")
    rate = None
    if len(stims) >= 2:
        rate = fs / float(np.mean(np.diff(stims)))

    def dec(v: tuple[float | None, ...], j: int) -> float | None:
        if len(v) <= j or v[0] is None or v[j] is None or v[0] <= 0:
            return None
        return 100.0 * (v[0] - v[j]) / v[0]

    d4 = dec(amps, 3)
    if d4 is None and "all" not in reasons:
        reasons["decrement"] = "the 1st or 4th response could not be measured"
    first5 = [a for a in amps[:5] if a is not None]
    mx = (100.0 * (amps[0] - min(first5)) / amps[0]) if amps and amps[0] and len(first5) == min(5, len(amps)) else None
    return RnsResult(
        rate_hz=rate,
        responses=tuple(results),
        amplitudes_mv=amps,
        neg_areas_mvms=areas,
        decrement_pct=d4,
        area_decrement_pct=dec(areas, 3),
        max_decrement_first5_pct=mx,
        quality=frozenset(quality),
        reasons=reasons,
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
