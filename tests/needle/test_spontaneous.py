"""Spontaneous activity at rest (edx.needle.spontaneous) against the simulator's truth.

Tolerances are the issue's, written in physical terms: a discharge is found when an
event of the kind lies within ±1 ms of its onset; recall and precision >= 0.95 for
fibrillation potentials and positive sharp waves of >= 50 µV at <= 10 µV RMS noise; fib
vs PSW correct >= 0.9; firing rate within 5 %; zero trains on rest noise and on
voluntary activity.  Fixed seeds, 10, 20 and 48 kHz.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from edx.errors import SignalQualityError
from edx.model import Recording, Trace
from edx.needle.spontaneous import (
    SpontaneousDetector,
    SpontaneousResult,
    detect_spontaneous,
    grade_muscle,
    load_config,
)
from edx.sim.needle import SpontaneousSpec, simulate_effort, simulate_rest

RATES = (10_000.0, 20_000.0, 48_000.0)
TOL_S = 1e-3
MIN_UV = 50.0 - 1e-6  # the floor, allowing for rounding of the truth amplitude (a 50 µV spec reads 49.99999...)
SPIKE_KINDS = ("fibrillation", "positive_sharp_wave")


# ----------------------------------------------------------------------------- scoring


def _score(res: SpontaneousResult, truth) -> dict:
    """Match truth discharges to detected events (nearest unused event within ±1 ms).

    Recall: truth fibrillations/PSWs >= 50 µV matched by an event of the same kind.
    Precision: events of the kind matched to a truth discharge of the same kind >= 50 µV,
    over all events of the kind except those that lie on a truth fibrillation/PSW below
    50 µV (matched to it, or inside its onset..end ± 1 ms: a real potential below the
    accuracy floor, whose onset is less certain; neither right nor wrong).  An event
    matched to a discharge of another kind, or to nothing, is a false positive.
    """
    ev_t = np.array([e.time_s for e in res.events])
    used = np.zeros(ev_t.size, dtype=bool)
    match: dict[int, int] = {}
    for i, d in enumerate(truth.discharges):
        if ev_t.size == 0:
            break
        lo = np.searchsorted(ev_t, d.time_s - TOL_S)
        hi = np.searchsorted(ev_t, d.time_s + TOL_S, side="right")
        cand = [j for j in range(lo, hi) if not used[j]]
        if cand:
            j = min(cand, key=lambda j: abs(ev_t[j] - d.time_s))
            used[j] = True
            match[i] = j
    inv = {j: i for i, j in match.items()}
    small = [(d.time_s - TOL_S, d.time_s + d.duration_ms * 1e-3 + TOL_S) for d in truth.discharges
             if d.kind in SPIKE_KINDS and d.amplitude_uv < MIN_UV]
    out: dict = {}
    for kind in SPIKE_KINDS:
        big = [i for i, d in enumerate(truth.discharges) if d.kind == kind and d.amplitude_uv >= MIN_UV]
        found = sum(1 for i in big if i in match and res.events[match[i]].kind == kind)
        tp = fp = 0
        for j, e in enumerate(res.events):
            if e.kind != kind:
                continue
            d = truth.discharges[inv[j]] if j in inv else None
            if d is not None and d.kind in SPIKE_KINDS and d.amplitude_uv < MIN_UV:
                continue
            if d is None and any(a <= e.time_s <= b for a, b in small):
                continue
            if d is not None and d.kind == kind:
                tp += 1
            else:
                fp += 1
        out[kind] = dict(found=found, n=len(big), tp=tp, fp=fp)
    # fib vs PSW: matched truth fib/PSW >= 50 µV detected as one of the two kinds
    right = wrong = 0
    for i, j in match.items():
        d = truth.discharges[i]
        k = res.events[j].kind
        if d.kind in SPIKE_KINDS and d.amplitude_uv >= MIN_UV and k in SPIKE_KINDS:
            right += k == d.kind
            wrong += k != d.kind
    out["kind_right"], out["kind_wrong"] = right, wrong
    return out


def _sum(scores: list[dict]) -> dict:
    tot: dict = {k: dict(found=0, n=0, tp=0, fp=0) for k in SPIKE_KINDS}
    tot["kind_right"] = tot["kind_wrong"] = 0
    for s in scores:
        for k in SPIKE_KINDS:
            for f in ("found", "n", "tp", "fp"):
                tot[k][f] += s[k][f]
        tot["kind_right"] += s["kind_right"]
        tot["kind_wrong"] += s["kind_wrong"]
    return tot


def _rate_errors(res: SpontaneousResult, truth) -> list[tuple[str, float | None]]:
    """For every truth fib/PSW train >= 50 µV with >= 4 discharges: relative firing-rate
    error of the detected train holding most of its discharges (None: not found)."""
    out = []
    for tt in truth.trains:
        if tt.kind not in SPIKE_KINDS or tt.amplitude_uv < MIN_UV or len(tt.times_s) < 4:
            continue
        ts = np.asarray(tt.times_s)
        best, best_m = None, 0
        for tr in res.trains:
            m = sum(1 for s in tr.times_s if np.abs(ts - s).min() <= TOL_S)
            if m > best_m and m >= 0.5 * tr.n:
                best, best_m = tr, m
        out.append((tt.source_id, None if best is None else best.firing_rate_hz / tt.firing_rate_hz - 1.0))
    return out


@lru_cache(maxsize=None)
def _rest_runs(fs: float) -> tuple:
    runs = []
    for seed in range(4):
        x, truth = simulate_rest(20.0, fs, fibrillation_trains=3, psw_trains=2, noise_rms_v=10e-6, seed=200 + seed)
        runs.append((truth, detect_spontaneous(x, fs)))
    return tuple(runs)


# ----------------------------------------------------------------------------- accuracy


# Measured recall (fixed seeds 200-203, 3 fib + 2 PSW trains of random 20-200 µV at
# 1-10 Hz, 20 s, 10 µV noise): candidates holding two potentials are split (lobes of the
# band-passed signal; a second sharp positive peak beyond the first potential's core), and
# potentials of sources whose template is known are peeled off (template subtracted, the
# residual searched for a second potential): fibrillation recall 0.955/0.960/0.967, PSW
# 0.972/0.977/0.963 at 10/20/48 kHz.  The misses left are overlaps within ~1 ms where no
# clean template is known yet, a fibrillation whose onset is measured from a small
# potential just before it, and a PSW's slow phase under a fibrillation.
_RECALL_SHORT: dict[tuple[float, str], str] = {}


def _recall_params():
    out = []
    for fs in RATES:
        for k in SPIKE_KINDS:
            why = _RECALL_SHORT.get((fs, k))
            marks = [pytest.mark.xfail(strict=True, reason=f"{why} < 0.95: overlapping potentials (measured)")] if why else []
            out.append(pytest.param(fs, k, marks=marks, id=f"{int(fs)}-{k}"))
    return out


@pytest.mark.parametrize(("fs", "kind"), _recall_params())
def test_fibrillation_and_psw_detection_recall(fs, kind):
    s = _sum([_score(r, t) for t, r in _rest_runs(fs)])[kind]
    assert s["n"] > 100, s  # enough discharges to judge
    recall = s["found"] / s["n"]
    assert recall >= 0.95, (fs, kind, round(recall, 4), s)


@pytest.mark.parametrize("fs", RATES)
def test_fibrillation_and_psw_detection_precision(fs):
    tot = _sum([_score(r, t) for t, r in _rest_runs(fs)])
    for k in SPIKE_KINDS:
        s = tot[k]
        assert s["tp"] > 100, s
        precision = s["tp"] / (s["tp"] + s["fp"])
        assert precision >= 0.95, (fs, k, round(precision, 4), s)


@pytest.mark.parametrize("fs", RATES)
def test_fibrillation_and_psw_not_confused(fs):
    tot = _sum([_score(r, t) for t, r in _rest_runs(fs)])
    right, wrong = tot["kind_right"], tot["kind_wrong"]
    assert right + wrong > 200
    assert right / (right + wrong) >= 0.9, (fs, right, wrong)


@pytest.mark.parametrize("fs", RATES)
def test_firing_rate_within_5_percent(fs):
    errs = []
    for truth, res in _rest_runs(fs):
        errs += _rate_errors(res, truth)
        for tr in res.trains:
            assert tr.kind in SPIKE_KINDS and 0.5 <= tr.firing_rate_hz <= 15.0
    assert len(errs) >= 10
    missing = [sid for sid, e in errs if e is None]
    assert not missing, (fs, errs)
    worst = max(abs(e) for _, e in errs)
    assert worst <= 0.05, (fs, errs)


@pytest.mark.parametrize("fs", RATES)
def test_no_more_trains_than_sources(fs):
    for truth, res in _rest_runs(fs):
        n_true = sum(1 for t in truth.trains if t.kind in SPIKE_KINDS and len(t.times_s) >= 4)
        assert len(res.trains) <= n_true, (fs, [(t.kind, t.n, t.firing_rate_hz) for t in res.trains])


def _train_faults(res: SpontaneousResult, truth, min_uv: float) -> list:
    """Reported trains of mean amplitude >= ``min_uv`` that are not one real source at its
    rate: at least 75 % of the discharges from one source (within ±1 ms), firing rate
    within 5 % of the source's, and no source reported twice (a split train)."""
    dt = np.array([d.time_s for d in truth.discharges])
    src = [d.source_id for d in truth.discharges]
    rates = {t.source_id: t.firing_rate_hz for t in truth.trains}
    faults, seen = [], {}
    for tr in res.trains:
        if tr.amplitude_uv < min_uv:
            continue
        count: dict = {}
        for t in tr.times_s:
            j = int(np.argmin(np.abs(dt - t)))
            key = src[j] if abs(dt[j] - t) <= TOL_S else None
            count[key] = count.get(key, 0) + 1
        sid, m = max(count.items(), key=lambda kv: kv[1])
        if sid is None or m < 0.75 * tr.n or abs(tr.firing_rate_hz / rates[sid] - 1.0) > 0.05:
            faults.append((tr.kind, tr.n, round(tr.firing_rate_hz, 3), round(tr.amplitude_uv, 1), count))
        elif sid in seen:
            faults.append(("split", sid, seen[sid], round(tr.firing_rate_hz, 3)))
        seen[sid] = round(tr.firing_rate_hz, 3)
    return faults


@pytest.mark.parametrize("fs", RATES)
def test_every_train_is_one_real_source_at_its_rate(fs):
    """Clinical safety: no train assembled from several sources' discharges, no train at a
    fraction of its source's rate, no source reported twice -- for trains of >= 50 µV."""
    for truth, res in _rest_runs(fs):
        assert _train_faults(res, truth, MIN_UV) == [], (fs, truth.seed if hasattr(truth, "seed") else None)


# Every potential at exactly 50 µV (the floor) with 10 µV of white noise per sample
# (measured, seeds 300-302; the standard runs above draw 20-200 µV).  The simulator's noise is
# per sample, so its density falls with the rate: 10 kHz is the hardest.  Tried (2026-11-22):
# the detection band (centre 200/300/600/1000 Hz, Q 0.7-1.5) moves the misses between kinds and
# rates and never clears all of them.  Mended (2026-11-22): the baseline of a slow fibrillation
# (one source here is 4.6 ms long, its initial positive phase rising for 1.1 ms) was taken from
# a window reaching into its own rise, which hid the initial phase and timed it 1-3 ms late; the
# window now ends before the potential's first peak when that is flatter (10 kHz fibrillation
# recall 0.851 -> 0.894, precision 0.905 -> 0.957; 20 kHz now passes).  Mended (2026-11-22,
# [trains] claim_k_sd): a discharge of another kind on a regular train's grid joins the train and
# takes its kind (fibrillations read as end-plate spikes or unclassified, PSWs whose slow phase
# the next potential cut read as fibrillations): 10 kHz fibrillation recall 0.894 -> 0.917, PSW
# 0.939 -> 0.953; 48 kHz fibrillation 0.950 -> 0.952, PSW 0.950 -> 0.958 (now passes).  At 10 kHz
# 52 fibrillations were still missed: 29 found but timed 1-4 ms late or not at all (the
# initial positive phase, at least 14 µV by the simulator's rule, is not told from noise on the
# smoothed trace: noise SD about 5.8 µV, lobe test at 3 SDs, so the onset is read at the spike),
# 10 of another kind off every train's grid, the rest on a grid but outside the amplitude
# ratio (measured 0.45-0.66 of the train's) or already in another train.  Mended (2026-11-23,
# [measurement] onset_smooth_half_ms): the onset of a slow initial phase is followed back on a
# heavier average (late onsets 12 -> 7): 10 kHz fibrillation recall 0.917 -> 0.925, precision
# 0.953 -> 0.963; 20 and 48 kHz unchanged; with a fibrillation no longer reported twice (an
# unclassified piece from the same onset left out in grouping), 0.929 (580/624), precision 0.968.
# Of the 47 missed before that rule at 10 kHz: 19 overlap another
# discharge within 4 ms; 5 alone are timed late (their initial phase not told from noise even on
# the heavier average: read initial-negative, their kind taken from the train); 9 are read as
# unclassified at the right time (4 of them a small unclassified piece of the same potential
# next to the fibrillation event, the nearer to the onset; the others measured below the
# signal-to-noise floor); 6 are not detected.
_EXPLICIT_50 = {
    10_000.0: "fibrillation recall 0.928 (579/624), precision 0.968; PSW recall 0.953 (342/359)",
}


def test_discharges_on_a_train_grid_take_its_kind():
    """A fibrillation read as an end-plate spike or left unclassified, or a PSW read as a
    fibrillation, that lies on a regular train's grid joins the train and takes its kind; the
    kind from its own waveform is kept in ``shape_kind`` and is what streaming returned."""
    fs = 10_000.0
    fibs = [SpontaneousSpec("fibrillation", 50.0, r) for r in (2.0, 3.3, 5.1)]
    psws = [SpontaneousSpec("positive_sharp_wave", 50.0, r) for r in (1.7, 4.3)]
    x, truth = simulate_rest(20.0, fs, fibrillation_trains=fibs, psw_trains=psws, noise_rms_v=10e-6, seed=300)
    res = detect_spontaneous(x, fs)
    off = detect_spontaneous(x, fs, config={"trains": {"claim_k_sd": 0.0}})
    revised = [e for e in res.events if e.shape_kind is not None]
    assert len(revised) >= 5 and all(e.shape_kind != e.kind for e in revised)
    assert all(e.train_id is not None and res.trains[e.train_id].kind == e.kind for e in revised)
    assert all(e.shape_kind is None for e in off.events)
    assert [e.kind for e in off.events] == [e.shape_kind or e.kind for e in res.events]
    assert res.counts["end_plate_spike"] < off.counts["end_plate_spike"]
    s_on, s_off = _score(res, truth), _score(off, truth)
    assert s_on["fibrillation"]["found"] > s_off["fibrillation"]["found"]
    assert s_on["positive_sharp_wave"]["found"] > s_off["positive_sharp_wave"]["found"]
    # streaming: the events as pushed are the waveform's kinds; the result is the batch one
    rng = np.random.default_rng(3)
    got, streamed = _stream(x, fs, iter(rng.integers(1, 5000, size=x.size)))
    assert streamed == res
    # (pushed in the order they are confirmed; the result's are in onset order)
    assert sorted(_strip(e) for e in got) == sorted(_strip(e) for e in res.events)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0])
def test_no_claims_across_a_silent_stretch(fs):
    """Review case: a regular train whose discharges of 4-7 s are removed, with end-plate spikes
    of its size firing there.  Claiming across the 3 s gap took 5-12 of them, up to half a period
    off the true grid; claims are now made only in gaps of at most claim_max_gap_periods."""
    for seed in range(4):
        rate = (4.0, 7.0, 10.0, 12.0)[seed]
        x, truth = simulate_rest(10.0, fs, fibrillation_trains=[SpontaneousSpec("fibrillation", 60.0, rate,
                                                                                 interval_cv=0.045)],
                                 end_plate=[SpontaneousSpec("end_plate_spike", 60.0, 4.0, start_s=4.0, stop_s=7.0)],
                                 noise_rms_v=10e-6, seed=2000 + seed)
        tr = next(t for t in truth.trains if t.kind == "fibrillation")
        for t0 in tr.times_s:  # the fibre falls silent for 3 s
            if 4.0 <= t0 <= 7.0:
                a = int(round(t0 * fs)) - tr.template_onset_index
                x[a:a + tr.template_v.size] -= tr.template_v[: x.size - a]
        res = detect_spontaneous(x, fs)
        assert not [e for e in res.events if e.shape_kind is not None and 4.0 <= e.time_s <= 7.0], seed


def explicit_50uv_scores(fs: float) -> dict:
    """Summed :func:`_score` of three 20 s recordings (seeds 300-302) whose three fibrillation
    and two PSW trains are all at 50 µV, with 10 µV noise (also used by benchmarks/validation.py)."""
    fibs = [SpontaneousSpec("fibrillation", 50.0, r) for r in (2.0, 3.3, 5.1)]
    psws = [SpontaneousSpec("positive_sharp_wave", 50.0, r) for r in (1.7, 4.3)]
    scores = []
    for seed in range(3):
        x, truth = simulate_rest(20.0, fs, fibrillation_trains=fibs, psw_trains=psws, noise_rms_v=10e-6, seed=300 + seed)
        scores.append(_score(detect_spontaneous(x, fs), truth))
    return _sum(scores)


@pytest.mark.parametrize("fs", [pytest.param(f, marks=[pytest.mark.xfail(strict=True, reason=_EXPLICIT_50[f])]
                                              if f in _EXPLICIT_50 else [], id=f"{int(f)}") for f in RATES])
def test_explicit_50uv_potentials(fs):
    """The hardest case of the issue: every potential at 50 µV, 10 µV noise."""
    tot = explicit_50uv_scores(fs)
    for k in SPIKE_KINDS:
        s = tot[k]
        assert s["found"] / s["n"] >= 0.95, (k, s)
        assert s["tp"] / max(s["tp"] + s["fp"], 1) >= 0.95, (k, s)


def test_a_fibrillation_is_one_event_not_two():
    """A fibrillation whose initial lobe (or a later phase) crosses the detection threshold as a
    candidate of its own was reported twice: as the fibrillation and, from the same onset, as an
    unclassified potential measured within the smaller candidate's region -- the nearer of the two
    to the truth, so the discharge was missed (10 kHz, 50 µV, seed 300)."""
    fs = 10_000.0
    fibs = [SpontaneousSpec("fibrillation", 50.0, r) for r in (2.0, 3.3, 5.1)]
    psws = [SpontaneousSpec("positive_sharp_wave", 50.0, r) for r in (1.7, 4.3)]
    x, truth = simulate_rest(20.0, fs, fibrillation_trains=fibs, psw_trains=psws, noise_rms_v=10e-6, seed=300)
    res = detect_spontaneous(x, fs)
    for t in (0.2756, 7.8463, 18.427):
        d = min(truth.discharges, key=lambda d: abs(d.time_s - t))
        near = [e.kind for e in res.events if abs(e.time_s - d.time_s) <= TOL_S]
        assert near == ["fibrillation"], (t, near)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0])
def test_a_long_fibrillations_later_phase_is_not_another_event(fs):
    """The slow end of a long fibrillation (a 4.6 ms source) crosses the detection threshold
    again after its candidate ended and was reported as an unclassified potential of its own:
    unclassified events starting 1 ms or more after the onset of an isolated fibrillation and
    within its duration (+1 ms), seed 300: 20 at 10 kHz and 8 at 20 kHz of 155 fibrillations
    before; now 3 and 0 (one that begins within the previous event and is smaller is left out)."""
    fibs = [SpontaneousSpec("fibrillation", 50.0, r) for r in (2.0, 3.3, 5.1)]
    psws = [SpontaneousSpec("positive_sharp_wave", 50.0, r) for r in (1.7, 4.3)]
    x, truth = simulate_rest(20.0, fs, fibrillation_trains=fibs, psw_trains=psws, noise_rms_v=10e-6, seed=300)
    res = detect_spontaneous(x, fs)
    ds = truth.discharges
    iso = [d for d in ds if d.kind == "fibrillation"
           and not any(o is not d and abs(o.time_s - d.time_s) < 0.01 for o in ds)]
    inside = [e for e in res.events if e.kind == "unclassified"
              and any(d.time_s + 1e-3 < e.time_s <= d.time_s + d.duration_ms * 1e-3 + 1e-3 for d in iso)]
    assert len(iso) > 100 and len(inside) <= 0.03 * len(iso), (len(inside), len(iso))


@pytest.mark.parametrize("fs", RATES)
def test_psw_train_duration_follows_the_slow_phase(fs):
    """A PSW's duration runs to the end of its slow negative phase (the 10 µV / 2 % rule).

    The end used to be searched on the heavier smoothing with the light smoothing's noise
    threshold (3 SDs of a 3-sample average at 10 kHz: 17 µV), above the 12-17 µV slow phase of a
    50 µV PSW: its trains read 5-11 ms for 18-29 ms at 10 kHz and 11-21 ms at 20 kHz.  The
    bound, 25 %, is the scatter of where a slow phase peaking a few µV above the 10 µV threshold
    crosses it under 10 µV of noise (measured worst: +20 %, 20 kHz); trains of the random set
    below 50 µV are left out (a 39 µV PSW at 10 kHz reads -36 %)."""
    fibs = [SpontaneousSpec("fibrillation", 50.0, r) for r in (2.0, 3.3, 5.1)]
    psws = [SpontaneousSpec("positive_sharp_wave", 50.0, r) for r in (1.7, 4.3)]
    runs = list(_rest_runs(fs))
    for seed in range(300, 303):
        x, truth = simulate_rest(20.0, fs, fibrillation_trains=fibs, psw_trains=psws, noise_rms_v=10e-6, seed=seed)
        runs.append((truth, detect_spontaneous(x, fs)))
    checked = []
    for truth, res in runs:
        for tt in truth.trains:
            if tt.kind != "positive_sharp_wave" or tt.amplitude_uv < MIN_UV or len(tt.times_s) < 4:
                continue
            ts = np.asarray(tt.times_s)
            tr = max(res.trains, key=lambda tr: sum(1 for s in tr.times_s if np.abs(ts - s).min() <= TOL_S))
            assert sum(1 for s in tr.times_s if np.abs(ts - s).min() <= TOL_S) >= 0.5 * tr.n, tt.source_id
            want = float(np.mean([d.duration_ms for d in truth.discharges if d.source_id == tt.source_id]))
            checked.append((tt.source_id, want, tr.duration_ms))
            assert abs(tr.duration_ms / want - 1.0) <= 0.25, checked[-1]
    assert len(checked) >= 10, checked


@pytest.mark.parametrize("fs", RATES)
def test_a_duration_whose_end_was_not_found_is_none(fs):
    """Never a number from a window edge: a PSW cut off by the end of the samples, or whose slow
    phase outlasts the look-ahead ([measurement] post_ms), has no duration (the engine keeps the
    lower bound for its own rules); a train's duration is the median of the ends found."""
    spec = SpontaneousSpec("positive_sharp_wave", 100.0, 3.0, duration_ms=20.0)
    x, truth = simulate_rest(4.0, fs, psw_trains=[spec], fibrillation_trains=0, noise_rms_v=5e-6, seed=11)
    full = detect_spontaneous(x, fs)
    last = truth.discharges[-1]
    cut = detect_spontaneous(x[: int((last.time_s + 0.005) * fs)], fs)
    for res, open_end in ((full, False), (cut, True)):
        psw = [e for e in res.events if e.kind == "positive_sharp_wave"]
        assert len(psw) >= 10 and abs(psw[-1].time_s - last.time_s) <= TOL_S
        assert (psw[-1].duration_ms is None) is open_end, psw[-1]
        assert all(abs(e.duration_ms - 20.0) <= 5.0 for e in psw[:-1]), [e.duration_ms for e in psw]
        (tr,) = res.trains
        assert tr.duration_ms is not None and abs(tr.duration_ms - 20.0) <= 5.0
    short = detect_spontaneous(x, fs, config={"measurement": {"post_ms": 12.0}})
    psw = [e for e in short.events if e.kind == "positive_sharp_wave"]
    assert len(psw) >= 10 and all(e.duration_ms is None for e in psw)
    assert [t.duration_ms for t in short.trains] == [None]


def test_slow_fibrillation_is_timed_from_its_initial_phase():
    """A 4.5 ms, 50 µV fibrillation whose initial positive phase rises for about 1 ms before
    the band-passed trace crosses the detection threshold: its baseline must not be taken
    from that rise (measured at 10 kHz: found within ±1 ms 169/180, 162/180 without the onset
    followed back on a heavier average -- see the next test; with the baseline window ending
    before the candidate's start alone, 103/180, the onset read at the main spike -- 127/180
    with the onset followed back.  At 20 kHz 167/180 against 162/180: too close to guard the
    change there)."""
    fs = 10_000.0

    def found_of(config=None) -> tuple[int, int]:
        found = total = 0
        for seed in range(3):
            spec = SpontaneousSpec("fibrillation", 50.0, 3.0, duration_ms=4.5)
            x, truth = simulate_rest(20.0, fs, fibrillation_trains=[spec], noise_rms_v=10e-6, seed=700 + seed)
            res = detect_spontaneous(x, fs, config=config)
            ft = np.array([e.time_s for e in res.events if e.kind == "fibrillation"])
            for d in truth.discharges:
                total += 1
                found += bool(ft.size) and float(np.abs(ft - d.time_s).min()) <= TOL_S
            if config is None:
                assert [t.kind for t in res.trains] == ["fibrillation"], res.trains
        return found, total

    found, total = found_of()
    assert found >= 0.85 * total, (found, total)
    # the rule switched off (baseline_before_peak_ms = 0, and the onset not followed back on the
    # heavier average, which recovers part of those onsets): the onset is read late again
    off, _ = found_of({"measurement": {"baseline_before_peak_ms": 0.0, "onset_smooth_half_ms": 0.0}})
    assert off < 0.7 * total, (off, total)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0], ids=["10000", "20000"])
def test_slow_initial_phase_is_followed_back_to_its_onset(fs):
    """The same 4.5 ms, 50 µV fibrillations: their initial phase rises for about 1 ms to some
    20 µV, and at 10 kHz the onset threshold of the light smoothing (3 noise SDs: 17 µV at 10 µV
    noise) is crossed late in that rise, if at all.  The onset is followed back on a heavier
    average ([measurement] onset_smooth_half_ms).  Measured (seeds 700-705, the nearest
    fibrillation within ±1 ms): 10 kHz 331/359 found, median onset error +0.1 ms, mean duration
    error 0.64 ms; with it off 318/359, +0.3 ms, 0.76 ms.  20 kHz 345/359 either way (the light
    smoothing is nearly as quiet there), median onset error 0.0 ms against +0.05 ms off: the
    average must not move onsets early either."""

    def scores(config=None) -> tuple[int, int, float, float]:
        found = total = 0
        onset_err, dur_err = [], []
        for seed in range(6):
            spec = SpontaneousSpec("fibrillation", 50.0, 3.0, duration_ms=4.5)
            x, truth = simulate_rest(20.0, fs, fibrillation_trains=[spec], noise_rms_v=10e-6, seed=700 + seed)
            ev = [e for e in detect_spontaneous(x, fs, config=config).events if e.kind == "fibrillation"]
            ft = np.array([e.time_s for e in ev])
            for d in truth.discharges:
                total += 1
                j = int(np.argmin(np.abs(ft - d.time_s)))
                if abs(ft[j] - d.time_s) <= TOL_S:
                    found += 1
                    onset_err.append(ft[j] - d.time_s)
                    dur_err.append(abs(ev[j].duration_ms - d.duration_ms))
        return found, total, float(np.median(onset_err)), float(np.mean(dur_err))

    found, total, med, dur = scores()
    off, _, med_off, dur_off = scores({"measurement": {"onset_smooth_half_ms": 0.0}})
    assert found >= (0.9 if fs == 10_000.0 else 0.95) * total, (found, off, total)
    assert found >= off, (found, off)
    assert abs(med) <= 0.15e-3, (med, med_off)
    assert dur <= dur_off, (dur, dur_off)


@pytest.mark.parametrize("fs", RATES)
def test_no_trains_on_rest_noise(fs):
    for seed in range(3):
        x, _ = simulate_rest(20.0, fs, noise_rms_v=10e-6, hum_v=5e-6, drift_v=20e-6, offset_v=50e-6, seed=400 + seed)
        res = detect_spontaneous(x, fs)
        assert res.trains == ()
        assert res.grade == "0"
        assert res.counts["fibrillation"] + res.counts["positive_sharp_wave"] <= 2, res.counts


@pytest.mark.parametrize("kind", ["normal", "myopathic", "neurogenic"])
@pytest.mark.parametrize("level", ["minimal", "moderate"])
def test_no_trains_on_voluntary_activity(kind, level):
    for fs, seed in ((10_000.0, 1), (20_000.0, 2), (48_000.0, 3)):
        x, truth = simulate_effort(10.0, fs, kind=kind, level=level, noise_rms_v=10e-6, seed=500 + seed)
        res = detect_spontaneous(x, fs)
        assert res.trains == (), (kind, level, fs, [(t.kind, t.n, t.firing_rate_hz, t.amplitude_uv) for t in res.trains])
        assert res.quality & {"voluntary_activity", "noisy_baseline", "not_at_rest"}, res.quality


# Low-force myopathic effort (1.5 % force, seeds 100-105): the small units are mostly taken for
# fibrillations and end-plate spikes, and few 1-s windows reach the 5 classified motor unit
# potentials that mark voluntary activity, so runs of a voluntary unit's discharges (or of every
# k-th of them) passed for trains: 10 kHz seeds 101/103/104 read 2+/1+/3+, 20 kHz seed 104 1+.
# Two rules (edx/data/spontaneous.toml) now keep them ungraded: a train must span at least
# [trains] min_span_s (the runs spanned 0.24-0.74 s), and next to voluntary units the quiet rest is
# not trusted when the fibrillation-like discharges in no train come at [quality]
# voluntary_max_orphan_rate_hz or more (12-17/s there; 0-7.6/s in rests with fibrillation trains
# broken by a contraction, see test_rest_broken_by_a_short_contraction_is_still_graded).
_NO_LINK = {"classification": {"link_min_discharges": 0}}
_NO_EFFORT_RULES = {"trains": {"min_span_s": 0.0}, "quality": {"voluntary_max_orphan_rate_hz": 0.0}, **_NO_LINK}


@pytest.mark.parametrize("fs", RATES)
def test_low_force_myopathic_effort_is_never_graded(fs):
    for seed in range(100, 106):
        x, _ = simulate_effort(10.0, fs, kind="myopathic", level=0.015, noise_rms_v=10e-6, seed=seed)
        res = detect_spontaneous(x, fs)
        assert res.grade in (None, "0") and res.trains == (), (seed, res.status, res.grade, len(res.trains))


@pytest.mark.parametrize("fs,seeds", [(10_000.0, (101, 103, 104)), (20_000.0, (104,))])
def test_low_force_myopathic_effort_needs_both_rules(fs, seeds):
    """Without the two rules the effort is graded (the test above can fail), and neither rule
    alone is enough: at 10 kHz the orphan rate is needed, at 20 kHz the span (the locked-components
    rule, which these cases do not need, switched off throughout)."""
    for seed in seeds:
        x, _ = simulate_effort(10.0, fs, kind="myopathic", level=0.015, noise_rms_v=10e-6, seed=seed)
        res = detect_spontaneous(x, fs, config=_NO_EFFORT_RULES)
        assert res.grade not in (None, "0") and res.trains, (seed, res.status)
    # 10 kHz seed 101: the span rule alone leaves three trains; 20 kHz seed 104: the orphan rule alone one
    x, _ = simulate_effort(10.0, fs, kind="myopathic", level=0.015, noise_rms_v=10e-6, seed=seeds[0])
    only = {"trains": {"min_span_s": 0.0}} if fs == 20_000.0 else {"quality": {"voluntary_max_orphan_rate_hz": 0.0}}
    only.update(_NO_LINK)
    res = detect_spontaneous(x, fs, config=only)
    assert res.grade not in (None, "0"), (fs, res.status)
    res = detect_spontaneous(x, fs)
    assert res.status == "not_at_rest" and res.grade is None


@pytest.mark.parametrize("fs", RATES)
def test_rest_broken_by_a_short_contraction_is_still_graded(fs):
    """The rules against effort graded as fibrillations keep real trains: 2-5 fibrillation trains
    with a 3 s contraction (normal, myopathic, neurogenic units) in the middle of 10 s are graded,
    never above the truth (measured 1+ to 3+ for truths of 2+ and 3+)."""
    order = ["0", "1+", "2+", "3+", "4+"]
    for kind in ("normal", "myopathic", "neurogenic"):
        for seed in range(3):
            z, tz = simulate_rest(10.0, fs, fibrillation_trains=3 + seed, noise_rms_v=10e-6, seed=800 + seed)
            e, _ = simulate_effort(3.0, fs, kind=kind, level="minimal", noise_rms_v=1e-9, seed=850 + seed)
            x = z.copy()
            a = int(4 * fs)
            x[a:a + e.size] += e
            res = detect_spontaneous(x, fs)
            assert res.status == "ok" and "voluntary_activity" in res.quality, (kind, seed, res.status, res.reasons)
            assert res.grade is not None and 1 <= order.index(res.grade) <= order.index(tz.grade), (kind, seed, res.grade)


# Lower forces (review): myopathic effort at 0.5-1 % force (seeds 100-111) is still graded in
# 4 / 5 / 4 of 60 recordings (levels 0.5-3 %) at 10 / 20 / 48 kHz, 1+ to 3+: 2-3 units firing at
# about 10 Hz (interval CV 0.15-0.18) give regular-looking chains of every k-th discharge (the
# jitter of k intervals adds up to a CV of 0.15 / sqrt(k)) at 0.5-4.6 Hz, sometimes with no window
# of classified units at all.  Open work: telling a sub-harmonic of a semi-regular unit from a
# regular source (measured 2026-11-22).  Tried and not adopted: rejecting a chain whose sub-grid
# (j/d of its period, d x rate up to 25 Hz) other discharges of its size fill beyond chance
# (3 SDs) unless they fire regularly themselves -- 4/5/4 graded became 3/3/3, but true trains were
# dropped in 3-4 of 23 multi-source rests per rate (a 3 Hz and a 1 Hz train beside a 12 Hz one,
# a 1.33 Hz PSW train), and neither the filling discharges' interval CV (effort 0.12-0.53, rest
# 0.12-0.36) nor their share of irregular intervals (0.06-0.41 vs 0.03-0.44) told them apart.
# Review (voluntary_orphan_max_trains 4 -> 6): 10 kHz seed 101, 20 kHz seed 103 (0.5 %) and 48 kHz seed 100 (1 %)
# were graded 3+ only through the many-trains exemption (4/5/4 trains next to voluntary units); now not_at_rest.
# Normal effort at 0.5 % force (review): seed 111 was graded 2+ at 10 and 20 kHz -- its unit (898 µV,
# 5 phases, 8.4 Hz) split at a dip of its envelope into an "end-plate spike" and a "fibrillation"
# 9.5 ms apart, so no window held a classified motor unit potential.  Locked components
# ([classification] link_min_discharges) are motor unit potentials now: normal effort is never
# graded, myopathic effort graded 4 / 5 / 3 -> 2 / 3 / 1 times at 10 / 20 / 48 kHz.  What is left:
# myopathic units whose split pieces last together no longer than a fibrillation (10 kHz seed 100:
# pairs 1.1 ms apart, 2.3 ms together) or are measured as one short fibrillation-like potential
# (10 kHz seed 103: a 457 µV 7-phase unit read as 2.0 ms, 3 phases), and the sub-harmonic chains
# above.  Neurogenic effort: never graded.
_MYO_LOW = {10_000.0: "myopathic graded 2+/3+ (0.5 % force, seeds 100/103)",
            20_000.0: "myopathic graded 2+/1+/1+ (0.5 % seeds 100/109, 1 % seed 109)",
            48_000.0: "myopathic graded 1+ (0.5 % seed 109)"}


@pytest.mark.slow
@pytest.mark.parametrize("fs", [pytest.param(f, marks=[pytest.mark.xfail(strict=True, reason=why)], id=f"{int(f)}")
                                for f, why in _MYO_LOW.items()])
def test_very_low_force_effort_is_never_graded(fs):
    graded = []
    for kind in ("myopathic", "normal", "neurogenic"):
        for level in (0.005, 0.01):
            for seed in range(100, 112):
                x, _ = simulate_effort(10.0, fs, kind=kind, level=level, noise_rms_v=10e-6, seed=seed)
                res = detect_spontaneous(x, fs)
                if res.grade not in (None, "0"):
                    graded.append((kind, level, seed, res.grade))
    assert graded == []


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0])
def test_locked_components_are_motor_unit_potentials(fs):
    """A unit split into an "end-plate spike" and a "fibrillation" at one latency, lasting together
    longer than a fibrillation, is a motor unit potential (normal effort at 0.5 % force, seed 111:
    graded 2+ without the rule)."""
    x, _ = simulate_effort(10.0, fs, kind="normal", level=0.005, noise_rms_v=10e-6, seed=111)
    off = detect_spontaneous(x, fs, config=_NO_LINK)
    assert off.grade not in (None, "0") and off.trains, (off.status, off.grade)
    res = detect_spontaneous(x, fs)
    assert res.status == "not_at_rest" and res.grade is None and "voluntary_activity" in res.quality
    revised = [e for e in res.events if e.kind == "motor_unit" and e.shape_kind is not None]
    assert len(revised) >= 20 and {e.shape_kind for e in revised} <= {"fibrillation", "end_plate_spike",
                                                                       "positive_sharp_wave"}


def test_pieces_still_count_as_fibrillation_like_next_to_voluntary_units():
    """Myopathic effort at 0.5 % force (20 kHz, seed 103): its units read as fibrillations with
    pieces locked 2.0 and 2.7 ms away; the pieces made unclassified are still fibrillation-like
    discharges for the orphan-rate check ([quality] voluntary_max_orphan_rate_hz), which keeps the
    effort ungraded (counted by the revised kinds it was graded 3+)."""
    x, _ = simulate_effort(10.0, 20_000.0, kind="myopathic", level=0.005, noise_rms_v=10e-6, seed=103)
    res = detect_spontaneous(x, 20_000.0)
    assert any(e.kind == "unclassified" and e.shape_kind in ("fibrillation", "positive_sharp_wave")
               for e in res.events)
    assert res.status == "not_at_rest" and res.grade is None, (res.status, res.grade)


def test_a_psw_with_a_locked_fibrillation_is_not_a_motor_unit():
    """Review case: a PSW train (300 µV, 15 ms, 8 Hz) with a 250 µV fibrillation 8 ms into each PSW
    (20 kHz).  The pair lasts longer than a fibrillation but not than a PSW can: it is not taken for
    a motor unit (which made the rest not_at_rest); the fibrillation is a piece of the PSW, one
    train, 1+ (two trains, 2+, without [classification] link_min_discharges)."""
    fs = 20_000.0
    for seed in range(2):
        x, truth = simulate_rest(6.0, fs, psw_trains=[SpontaneousSpec("positive_sharp_wave", amplitude_uv=300.0,
                                                                      firing_rate_hz=8.0, duration_ms=15.0)],
                                 noise_rms_v=10e-6, seed=seed)
        _, tf = simulate_rest(1.0, fs, fibrillation_trains=[SpontaneousSpec("fibrillation", amplitude_uv=250.0,
                                                                            firing_rate_hz=5.0)],
                              noise_rms_v=0.0, seed=seed)
        tpl, oi = tf.trains[0].template_v, tf.trains[0].template_onset_index
        x = x.copy()
        for t0 in truth.trains[0].times_s:
            i = int(round((t0 + 8e-3) * fs)) - oi
            if i >= 0 and i + tpl.size <= x.size:
                x[i:i + tpl.size] += tpl
        assert detect_spontaneous(x, fs, config=_NO_LINK).grade == "2+"
        res = detect_spontaneous(x, fs)
        assert res.status == "ok" and res.grade == "1+", (seed, res.status, res.grade)
        assert [t.kind for t in res.trains] == ["positive_sharp_wave"]


def test_a_fibrillation_split_in_two_is_one():
    """A fibrillation read as two potentials within its own duration is one fibrillation, its smaller
    piece unclassified: without [classification] link_min_discharges one source gives two trains (3+
    for three sources).  A 166 µV, 3.75 ms fibrillation read as two potentials 2.6 ms apart in 114 of
    its 125 discharges (20 kHz)."""
    x, truth = simulate_rest(20.0, 20_000.0, fibrillation_trains=2, psw_trains=1, irregular_fraction=0.3,
                             noise_rms_v=10e-6, seed=509)
    off = detect_spontaneous(x, 20_000.0, config=_NO_LINK)
    assert (off.grade, len(off.trains)) == ("3+", 4)
    on = detect_spontaneous(x, 20_000.0)
    assert on.status == "ok" and (on.grade, len(on.trains)) == (truth.grade, 3) == ("2+", 3)
    rates = sorted(round(tr.firing_rate_hz, 1) for tr in on.trains)
    assert rates == sorted(round(tr.firing_rate_hz, 1) for tr in truth.trains)
    pieces = [e for e in on.events if e.kind == "unclassified" and e.shape_kind == "fibrillation"]
    assert len(pieces) > 0.5 * 125 and all(e.amplitude_uv < 100.0 for e in pieces)
    # shape_kind is the waveform's kind (as push returns it) also for a piece a train then claims
    # back (review: a claimed piece read shape_kind "unclassified", or the kind it had anyway)
    pushed, res = _stream(x, 20_000.0, iter([20_000] * x.size))
    assert res == on
    assert [e.kind for e in pushed] == [e.shape_kind or e.kind for e in on.events]
    assert all(e.shape_kind != e.kind for e in on.events)


def test_dense_fibrillations_broken_by_a_contraction_are_graded():
    """Review case: 15 fibrillation trains (truth 3+) with a 2 s contraction leave 11-26
    fibrillation-like discharges per second in no train; the orphan-rate check withheld the
    grade until a rest holding voluntary_orphan_max_trains trains counts as fibrillating."""
    fs = 10_000.0
    for seed in range(3):
        z, tz = simulate_rest(12.0, fs, fibrillation_trains=15, noise_rms_v=10e-6, seed=900 + seed)
        e, _ = simulate_effort(2.0, fs, kind="normal", level="minimal", noise_rms_v=1e-9, seed=950 + seed)
        x = z.copy()
        a = int(5 * fs)
        x[a:a + e.size] += e
        res = detect_spontaneous(x, fs)
        assert res.status == "ok" and res.grade == tz.grade == "3+", (seed, res.status, res.grade)
        no_exemption = detect_spontaneous(x, fs, config={"quality": {"voluntary_orphan_max_trains": 10_000}})
        assert no_exemption.status == "not_at_rest" and no_exemption.grade is None
        # the reason names the trains that were found (and dropped), not the empty list after
        assert f"only {len(res.trains)} train(s)" in no_exemption.reasons["trains"], no_exemption.reasons


@pytest.mark.parametrize("fs", RATES)
def test_no_zero_grade_when_effort_and_noise_leave_a_short_rest(fs):
    """Review case: a 2 s contraction at 1 s and 3.5 s of 28 µV noise at 7 s leave about 5.5 s of
    quiet rest in 14 s; counted as the longer of the two (9 s), "0" was reported for 0.5-0.6 Hz
    trains (true 1+).  The rest for "none" now adds the two."""
    for seed in (0, 3, 4):
        rate = (0.5, 0.6, 0.7)[seed % 3]
        z, _ = simulate_rest(14.0, fs, fibrillation_trains=[SpontaneousSpec("fibrillation", 100.0, rate)],
                             noise_rms_v=10e-6, seed=2300 + seed)
        e, _ = simulate_effort(2.0, fs, kind="normal", level="minimal", noise_rms_v=1e-9, seed=2350 + seed)
        x = z.copy()
        a = int(1.0 * fs)
        x[a:a + e.size] += e
        a, b = int(7 * fs), int(10.5 * fs)
        x[a:b] += np.random.default_rng(seed).normal(0, 28e-6, b - a)
        res = detect_spontaneous(x, fs)
        assert res.grade != "0", (seed, res.status, res.reasons)


def test_zero_from_a_short_rest_is_flagged():
    fs = 10_000.0
    x, _ = simulate_rest(6.0, fs, noise_rms_v=10e-6, seed=401)
    res = detect_spontaneous(x, fs)
    assert res.grade == "0" and "short_rest" in res.quality and "0.67 Hz" in res.reasons["short_rest"]
    x, _ = simulate_rest(10.0, fs, noise_rms_v=10e-6, seed=401)
    res = detect_spontaneous(x, fs)
    assert res.grade == "0" and "short_rest" not in res.quality


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0])
def test_no_zero_grade_from_a_rest_broken_by_effort(fs):
    """Clinical safety: ten fibrillation trains on top of low-force myopathic effort read grade
    "0" (seed 100, 10 kHz) from the little quiet rest left.  "None" is now not claimed while 20 or
    more fibrillation-like discharges lie next to windows with voluntary units or on a noisy
    baseline."""
    for seed in range(100, 106):
        x, _ = simulate_effort(10.0, fs, kind="myopathic", level=0.015, noise_rms_v=10e-6, seed=seed)
        z, _ = simulate_rest(10.0, fs, fibrillation_trains=10, noise_rms_v=1e-9, seed=seed + 200)
        res = detect_spontaneous(x + z, fs)
        assert res.grade != "0", (seed, res.status, res.reasons)


@pytest.mark.parametrize("fs", RATES)
def test_no_zero_grade_from_a_short_broken_rest(fs):
    """Clinical safety: 0.5 and 0.7 Hz fibrillation trains broken by a 2 s contraction show 3
    discharges each in the 6 s of rest left, and read "0" (measured at all rates) until "none"
    needed [quality] zero_min_rest_s = 8 s of quiet rest (4 periods of the slowest train)."""
    z, _ = simulate_rest(10.0, fs, fibrillation_trains=[SpontaneousSpec("fibrillation", 100.0, 0.5),
                                                        SpontaneousSpec("fibrillation", 80.0, 0.7)],
                         noise_rms_v=10e-6, seed=830)
    e, _ = simulate_effort(2.0, fs, kind="myopathic", level="minimal", noise_rms_v=1e-9, seed=880)
    x = z.copy()
    a = int(4 * fs)
    x[a:a + e.size] += e
    before = detect_spontaneous(x, fs, config={"quality": {"zero_min_rest_s": 0.0}})
    assert before.grade == "0", (before.status, before.grade)
    res = detect_spontaneous(x, fs)
    assert res.status == "not_at_rest" and res.grade is None and "8 s" in res.reasons["trains"], res.reasons


def test_end_plate_spikes_and_fasciculations_are_not_fibrillations():
    fs = 20_000.0
    for seed in range(3):
        x, truth = simulate_rest(
            20.0, fs, end_plate=2, fasciculations=2, noise_rms_v=10e-6, seed=600 + seed
        )
        res = detect_spontaneous(x, fs)
        n_mimic = len(truth.discharges)
        n_spike = res.counts["fibrillation"] + res.counts["positive_sharp_wave"]
        assert n_spike <= 0.05 * n_mimic, (n_spike, n_mimic, res.counts)
        assert res.trains == ()
        # end-plate spikes are recognised as such far more often than mistaken for fibs
        # (measured: 62-90 % of them counted as end-plate spikes on these seeds; the rest,
        # overlapping at 5-50 Hz, end up unclassified or as motor units)
        assert res.counts["end_plate_spike"] >= 10 * max(n_spike, 1), res.counts


# ----------------------------------------------------------------------------- streaming


def _stream(x: np.ndarray, fs: float, sizes) -> tuple[list, SpontaneousResult]:
    det = SpontaneousDetector(fs)
    got = []
    pos = 0
    it = iter(sizes)
    while pos < x.size:
        n = next(it)
        got += det.push(x[pos : pos + n])
        pos += n
    got += det.flush()
    return got, det.result()


@pytest.fixture(scope="module")
def stream_signal():
    fs = 10_000.0
    eps = [SpontaneousSpec("end_plate_spike", 150.0, 10.0)]
    fibs = [SpontaneousSpec("fibrillation", 120.0, 4.0), SpontaneousSpec("fibrillation", 90.0, 7.0)]
    psws = [SpontaneousSpec("positive_sharp_wave", 100.0, 3.0)]
    x, truth = simulate_rest(4.0, fs, fibrillation_trains=fibs, psw_trains=psws, end_plate=eps, noise_rms_v=8e-6, seed=7)
    return x, fs, detect_spontaneous(x, fs)


def _strip(ev):
    """The fields of an event as :meth:`SpontaneousDetector.push` returns it (the kind from its
    waveform; trains, judged at the end, may revise it in the result)."""
    return (ev.time_s, ev.shape_kind or ev.kind, ev.amplitude_uv, ev.duration_ms, ev.peak_time_s, ev.initial_phase, ev.phases, ev.snr,
            ev.noise_uv, ev.group_id)


@pytest.mark.parametrize("mode", ["whole", "random", "prime", "large"])
def test_streaming_equals_batch(stream_signal, mode):
    x, fs, batch = stream_signal
    rng = np.random.default_rng(11)
    sizes = {
        "whole": iter([x.size]),
        "random": iter(rng.integers(1, 3000, size=x.size)),
        "prime": iter([997] * x.size),
        "large": iter([15_000] * x.size),
    }[mode]
    events, res = _stream(x, fs, sizes)
    assert res == batch
    assert [_strip(e) for e in events] == [_strip(e) for e in batch.events]
    assert all(e.train_id is None for e in events)
    assert len(batch.trains) >= 2  # the comparison covers trains too


def test_streaming_one_sample_chunks(stream_signal):
    x, fs, batch = stream_signal
    n = 8000  # 0.8 s one sample at a time (the rest in one go) keeps the test fast
    det = SpontaneousDetector(fs)
    got = []
    for v in x[:n]:
        got += det.push(np.array([v]))
    got += det.push(x[n:])
    got += det.flush()
    res = det.result()
    assert res == batch
    assert [_strip(e) for e in got] == [_strip(e) for e in batch.events]


def test_streaming_events_arrive_as_they_are_confirmed(stream_signal):
    x, fs, batch = stream_signal
    det = SpontaneousDetector(fs)
    step = int(0.1 * fs)
    for pos in range(0, x.size, step):
        for ev in det.push(x[pos : pos + step]):
            # confirmed within the look-ahead (post window + candidate end) of the push
            assert ev.time_s <= (pos + step) / fs
            assert (pos + step) / fs - ev.time_s < 0.2
    det.flush()
    with pytest.raises(RuntimeError):
        det.push(x[:10])


def _stream_blocks(x: np.ndarray, fs: float, bounds) -> SpontaneousResult:
    det = SpontaneousDetector(fs)
    for a, b in zip(bounds[:-1], bounds[1:]):
        det.push(x[a:b])
    det.flush()
    return det.result()


@lru_cache(maxsize=1)
def _long_rest() -> tuple[np.ndarray, float]:
    fs = 48_000.0
    x, _ = simulate_rest(60.0, fs, fibrillation_trains=2, psw_trains=1, noise_rms_v=8e-6, seed=11)
    return np.ascontiguousarray(x), fs


@pytest.mark.parametrize("block", [48, 480, 4800])
def test_streaming_keeps_the_batch_row_of_a_potential_found_twice(block):
    # 0.2 s of a recording where a candidate holds two potentials: the second, split off it,
    # is also the start of the next candidate (the same alignment sample).  Of the two rows
    # the first in order is kept; that order was the order within each confirmation (the
    # batch sorted all rows at once, the stream only those confirmed together), so blocks of
    # 48 or 480 samples kept the split-off row (90.70 µV, 1.73 ms) where the batch kept the
    # candidate's (90.85 µV, 1.71 ms).
    x, fs = _long_rest()
    y = np.ascontiguousarray(x[int(46.9 * fs) : int(47.1 * fs)])
    batch = detect_spontaneous(y, fs)
    assert len(batch.events) >= 2
    assert _stream_blocks(y, fs, list(range(0, y.size, block)) + [y.size]) == batch


def _candidate_ends(x: np.ndarray, fs: float) -> tuple[np.ndarray, int]:
    """The end sample of every scanned candidate and the detector's look-ahead after it."""
    from edx.kernels import spontaneous as K
    from edx.needle.spontaneous import _Engine

    eng = _Engine(fs, load_config(), None)
    cand = np.empty((x.size // int(eng.p[K.P_GAP]) + 2, K.N_CAND))
    n = K.scan(x, eng.state, eng.p, cand)
    n += K.close_candidate(eng.state, cand[n:])
    return cand[:n, K.C_END].astype(np.int64), eng.reach


@pytest.mark.parametrize("fs", RATES)
def test_streaming_with_chunks_ending_where_candidates_are_confirmed(fs):
    # the most adverse chunking for windows clipped at the samples known so far: every
    # candidate is confirmed at the first sample that allows it, and candidates near each
    # other are confirmed by different pushes
    x, _ = simulate_rest(20.0, fs, fibrillation_trains=3, psw_trains=2, noise_rms_v=10e-6, seed=200)
    x = np.ascontiguousarray(x)
    ends, reach = _candidate_ends(x, fs)
    cuts = np.unique(np.concatenate([ends + reach, ends + reach + 1]))
    cuts = cuts[(cuts > 0) & (cuts < x.size)]
    assert cuts.size > 100
    assert _stream_blocks(x, fs, [0, *cuts.tolist(), x.size]) == detect_spontaneous(x, fs)


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_equals_batch_random_chunks_of_a_long_recording(seed):
    x, fs = _long_rest()
    batch = detect_spontaneous(x, fs)
    assert len(batch.trains) >= 2
    rng = np.random.default_rng(seed)
    top = (600, 6000)[seed]  # mean chunks of 6 ms, 60 ms
    sizes = rng.integers(1, top, size=2 * x.size // top + 100)
    bounds = np.minimum(np.concatenate([[0], np.cumsum(sizes)]), x.size)
    bounds = np.unique(bounds)
    assert bounds[-1] == x.size
    assert _stream_blocks(x, fs, bounds.tolist()) == batch


# ----------------------------------------------------------------------------- inputs


def test_recording_and_trace_inputs_give_the_array_result(stream_signal):
    x, fs, batch = stream_signal
    tr = Trace(channel="EMG", fs_hz=fs, samples_v=x)
    assert detect_spontaneous(tr) == batch
    assert detect_spontaneous(Recording(traces=(tr,))) == batch
    with pytest.raises(ValueError):
        detect_spontaneous(x)  # no fs


def test_nan_is_an_error_naming_the_sample():
    x = np.zeros(20_000)
    x[1234] = np.nan
    with pytest.raises(SignalQualityError, match="1234"):
        detect_spontaneous(x, 10_000.0)
    det = SpontaneousDetector(10_000.0)
    det.push(np.ones(100) * 1e-6)
    with pytest.raises(SignalQualityError):
        det.push(np.array([1e-6, np.inf]))


def test_streaming_from_a_reused_buffer_equals_batch(stream_signal):
    """An acquisition loop refills one buffer after every push (review: the detector kept the
    first chunk's array itself, so the refills rewrote its look-back and the first PSW read as
    a 14 µV unclassified potential)."""
    x, fs, batch = stream_signal
    det = SpontaneousDetector(fs)
    buf = np.empty(1500)
    # the first chunk holds a discharge measured only once the next chunk has come
    assert any(0.1 < e.time_s < 0.15 for e in batch.events)
    got = []
    for i in range(0, x.size, buf.size):
        part = x[i:i + buf.size]
        buf[:part.size] = part
        got += det.push(buf[:part.size])
        buf[:] = 0.0  # the driver clears it
    got += det.flush()
    assert det.result() == batch
    assert [_strip(e) for e in got] == [_strip(e) for e in batch.events]


def test_a_streamed_chunk_with_nan_is_not_taken_and_can_be_pushed_again(stream_signal):
    """Review: after the error the detector went on from a state advanced over the bad chunk,
    its samples misaligned from there on (a recording with fibrillation trains graded 0)."""
    x, fs, batch = stream_signal
    det = SpontaneousDetector(fs)
    det.push(x[:10_000])
    bad = x[10_000:15_000].copy()
    bad[1234] = np.nan
    with pytest.raises(SignalQualityError, match="sample 11234 .* push it again repaired"):
        det.push(bad)
    assert det.n_samples == 10_000
    det.push(x[10_000:15_000])
    det.push(x[15_000:])
    assert det.result() == batch


def test_flat_signal_is_flagged_with_nothing_reported():
    res = detect_spontaneous(np.full(50_000, 3e-6), 10_000.0)
    assert res.status == "flat" and "flat" in res.quality and res.grade is None
    assert res.events == () and res.trains == ()


def test_too_short_recording_reports_no_trains_or_grade():
    x, _ = simulate_rest(1.0, 10_000.0, fibrillation_trains=[SpontaneousSpec("fibrillation", 150.0, 8.0)], seed=3)
    res = detect_spontaneous(x, 10_000.0)
    assert res.status == "too_short" and "too_short" in res.quality
    assert res.trains == () and res.grade is None and "trains" in res.reasons
    assert res.counts["fibrillation"] >= 5  # the discharges are still listed
    assert detect_spontaneous(np.zeros(0), 10_000.0).status == "flat"


def test_clipping_is_flagged():
    fs = 10_000.0
    spec = [SpontaneousSpec("fibrillation", 400.0, 5.0)]
    x, _ = simulate_rest(5.0, fs, fibrillation_trains=spec, clip_v=100e-6, seed=5)
    res = detect_spontaneous(x, fs)
    assert "clipped" in res.quality and "clipped" in res.reasons
    res_rail = detect_spontaneous(x, fs, rail_v=100e-6)
    assert "clipped" in res_rail.quality
    for bad in (0.0, -1e-3, float("nan")):  # review: every sample was counted clipped, and graded
        with pytest.raises(ValueError, match="rail_v"):
            detect_spontaneous(x, fs, rail_v=bad)
    clean, _ = simulate_rest(5.0, fs, fibrillation_trains=spec, seed=5)
    assert "clipped" not in detect_spontaneous(clean, fs).quality


def test_hum_is_flagged_and_does_not_create_trains():
    fs = 10_000.0
    x, _ = simulate_rest(5.0, fs, noise_rms_v=5e-6, hum_v=40e-6, seed=8)
    res = detect_spontaneous(x, fs)
    assert "hum" in res.quality and res.hum_uv == pytest.approx(40.0, rel=0.1)
    assert res.trains == ()
    quiet, _ = simulate_rest(5.0, fs, noise_rms_v=5e-6, seed=8)
    assert "hum" not in detect_spontaneous(quiet, fs).quality


# ----------------------------------------------------------------------------- grading and config


def test_site_grade_follows_the_number_of_trains():
    fs = 20_000.0
    grades = []
    for n_fib in (0, 1, 2, 4):
        specs = [SpontaneousSpec("fibrillation", 120.0 + 40 * i, 2.0 + 1.3 * i) for i in range(n_fib)]
        x, truth = simulate_rest(10.0, fs, fibrillation_trains=specs, noise_rms_v=5e-6, seed=700 + n_fib)
        res = detect_spontaneous(x, fs)
        grades.append((res.grade, truth.grade))
    assert grades == [("0", "0"), ("1+", "1+"), ("2+", "2+"), ("3+", "3+")]


def _fake(grade: str | None) -> SpontaneousResult:
    return SpontaneousResult(
        status="ok" if grade else "too_short", fs_hz=1e4, duration_s=10.0, noise_uv=5.0, hum_uv=0.0, events=(),
        trains=(), counts={}, grade=grade, filled_fraction=0.0, quality=frozenset(), reasons={},
    )


@pytest.mark.parametrize(
    ("sites", "expected"),
    [
        (["0", "0", "0"], "0"),
        (["1+", "0", "0"], "0"),  # one area only: below 1+
        (["1+", "1+", "0"], "1+"),
        (["2+", "2+", "1+"], "1+"),
        (["2+", "2+", "2+", "0"], "2+"),
        (["3+", "3+", "3+"], "3+"),
        (["3+", "3+", "2+"], "2+"),
        (["4+", "4+", "4+"], "4+"),
        (["4+", "4+", "3+"], "3+"),
        ([None, None], None),
    ],
)
def test_grade_muscle(sites, expected):
    g = grade_muscle([_fake(s) for s in sites])
    assert g.grade == expected
    if sites == ["1+", "0", "0"]:
        assert "grade" in g.reasons


def test_grade_muscle_says_why_high_site_grades_give_a_low_muscle_grade():
    g = grade_muscle([_fake("3+"), _fake("3+")])
    assert g.grade == "1+" and "needs >= 3 areas" in g.reasons["grade"] and "3+, 3+" in g.reasons["grade"]
    assert "grade" not in grade_muscle([_fake("1+"), _fake("1+")]).reasons
    g = grade_muscle([_fake("3+"), _fake("0")])  # both reasons: trains in one area only, and too few areas
    assert g.grade == "0" and "1+ needs persistent trains" in g.reasons["grade"] and ">= 3 areas" in g.reasons["grade"]


def test_grade_muscle_says_when_a_site_grade_is_a_lower_bound():
    sites = [_fake("3+"), _fake("3+"), _fake("3+")]
    assert "lower_bound" not in grade_muscle(sites).reasons
    sites[1] = replace(sites[1], quality=frozenset({"grade_lower_bound", "noisy_baseline"}))
    g = grade_muscle(sites)
    assert g.grade == "3+" and "1 site grade(s) are lower bounds" in g.reasons["lower_bound"]
    assert "may be higher" in g.reasons["lower_bound"]
    top = [replace(_fake("4+"), quality=frozenset({"grade_lower_bound"}))] + [_fake("4+")] * 2
    g = grade_muscle(top)
    assert g.grade == "4+" and "may be higher" not in g.reasons["lower_bound"]


def test_config_overrides_and_sources():
    cfg = load_config()
    # every clinical number names its source and status
    for table in ("classification", "trains", "grading"):
        assert any(k.endswith("_source") for k in cfg[table]), table
        assert any("unconfirmed" in str(v) for k, v in cfg[table].items() if k.endswith("_status")), table
    assert cfg["trains"]["firing_rate_min_hz"] == 0.5 and cfg["trains"]["firing_rate_max_hz"] == 15.0
    with pytest.raises(KeyError):
        load_config({"trains": {"no_such_key": 1}})
    # a lab that requires more discharges per train gets fewer trains
    x, _ = simulate_rest(3.0, 20_000.0, fibrillation_trains=[SpontaneousSpec("fibrillation", 150.0, 2.0)], seed=9)
    assert len(detect_spontaneous(x, 20_000.0).trains) == 1
    assert detect_spontaneous(x, 20_000.0, config={"trains": {"min_discharges": 10}}).trains == ()


# ----------------------------------------------------------------------------- real records


def _emgdb(emgdb, name):
    import edx

    return detect_spontaneous(edx.load(emgdb / f"emg_{name}.hea"))


def test_emgdb_healthy_has_no_fibrillation_trains(emgdb):
    """No trains in the healthy record.  It is a recording of gentle contraction (motor unit
    potentials in 4 of its 13 windows of 1 s, 46 classified in all), so it is not a rest: it
    read grade "0" from 3.8 s between the contractions while 194 discharges taken for
    fibrillations/PSWs lay next to them or on a noisy baseline; "none" is not claimed from that
    any more."""
    res = _emgdb(emgdb, "healthy")
    assert [t for t in res.trains if t.kind in SPIKE_KINDS] == []
    assert res.grade in (None, "0")
    assert res.status == "not_at_rest" and "voluntary_activity" in res.quality


@pytest.mark.parametrize("name", ["myopathy", "neuropathy"])
def test_emgdb_other_records_are_analysed(emgdb, name):
    res = _emgdb(emgdb, name)
    # both records hold voluntary activity (gentle dorsiflexion, then relaxation)
    assert res.status in ("ok", "not_at_rest")
    assert res.quality & {"voluntary_activity", "noisy_baseline", "not_at_rest"}
    assert math.isfinite(res.noise_uv)


@pytest.mark.xfail(strict=True, reason=(
    "below the 50 µV accuracy floor (measured, seed 202: five sources of 23-39 µV at 10 µV noise): 10 kHz a "
    "4.62 Hz chain of 9 discharges from four sources and noise, and a 0.51 Hz chain of a 4.17 Hz source; 20 kHz "
    "a 0.91 Hz chain of a 9.48 Hz source and a 9.85 Hz train mixing the 9.48 and 9.90 Hz sources; 48 kHz a "
    "0.62 Hz chain of a 9.90 Hz source (every 16th discharge) -- too few of those discharges are detected to "
    "restore the source's rate"))
def test_every_train_is_one_real_source_below_50uv():
    faults = [f for fs in RATES for truth, res in _rest_runs(fs) for f in _train_faults(res, truth, 0.0)]
    assert faults == []


def test_samples_not_in_volts_are_refused():
    """mV or µV passed as volts is an error naming it, never events a thousand times too large."""
    fs = 20_000.0
    x, _ = simulate_rest(4.0, fs, fibrillation_trains=2, noise_rms_v=10e-6, seed=31)
    assert detect_spontaneous(x, fs).status == "ok"
    with pytest.raises(SignalQualityError, match="mV RMS.*volts"):  # fibrillations of mV: only the noise says so
        detect_spontaneous(x * 1e3, fs)
    with pytest.raises(SignalQualityError, match="samples swing .* V either side"):
        detect_spontaneous(x * 1e6, fs)
    det = SpontaneousDetector(fs)
    det.push(x[:20_000] * 1e3)  # within the range a needle can record
    with pytest.raises(SignalQualityError, match="swing"):
        det.push(x[20_000:] * 1e6)
    # the detector stays failed: no later push, flush or result pretends otherwise
    for call in (lambda: det.push(x[:100]), det.flush, det.result):
        with pytest.raises(SignalQualityError, match="swing"):
            call()
    # a DC offset an electrode or a DC-coupled amplifier carries is not a unit error
    off = detect_spontaneous(x + 0.15, fs)
    assert off.status == "ok" and off.grade == detect_spontaneous(x, fs).grade
    with pytest.raises(SignalQualityError, match="offset of 2"):
        detect_spontaneous(x + 2.0, fs)
    det = SpontaneousDetector(fs)
    det.push(x * 1e3)
    det.flush()
    with pytest.raises(SignalQualityError, match="mV RMS"):
        det.result()
    # a thousand times too small (volts converted twice): review, graded 0 where the truth is 2+
    with pytest.raises(SignalQualityError, match="nV RMS.*too small"):
        detect_spontaneous(x * 1e-3, fs)
    assert detect_spontaneous(x * 1e-3, fs, config={"quality": {"min_noise_uv": 0.0}}).status == "ok"
    # a lab may switch the checks off
    off = {"quality": {"max_abs_v": 0.0, "max_offset_v": 0.0, "max_noise_uv": 0.0}}
    assert detect_spontaneous(x * 1e6, fs, config=off).status in ("ok", "not_at_rest")
    # maximal voluntary effort in volts is not taken for a unit error
    for kind in ("normal", "neurogenic"):
        y, _ = simulate_effort(2.0, 48_000.0, kind=kind, level="maximal", seed=3)
        assert detect_spontaneous(y, 48_000.0).status == "not_at_rest"


# Dense fibrillations (40 trains, 10 s, truth grade 3+) raise the detector's noise level (a low
# percentile of 20 ms block RMS) above rest_noise_max_uv (18-41 µV at 10-48 kHz): the baseline
# between them is filled with smaller ones.  Such a recording was once graded "0" (every
# discharge on a noisy baseline kept out of trains), then not graded (too little quiet rest).
# With no voluntary units, nearly all discharges fibrillations/PSWs and at least three trains,
# the trains on the noisy baseline are now judged and the grade flagged as a lower bound
# (measured on seeds 7-12: 10 kHz 3+/2+/2+/2+/1+/3+, 20 kHz 3+ x4 and 2+ x2, 48 kHz 3+ x4 and
# two not graded; never above the truth).
@pytest.mark.parametrize("fs", RATES)
def test_dense_fibrillations_are_graded(fs):
    x, truth = simulate_rest(10.0, fs, fibrillation_trains=40, noise_rms_v=10e-6, seed=7)
    res = detect_spontaneous(x, fs)
    assert res.status == "ok" and res.grade == truth.grade, (res.status, res.grade, res.noise_uv)
    if res.noise_uv > load_config()["quality"]["rest_noise_max_uv"]:
        assert "grade_lower_bound" in res.quality and "lower bound" in res.reasons["grade_lower_bound"]


@pytest.mark.parametrize("fs", RATES)
def test_noisy_baseline_is_graded_only_from_spontaneous_discharges(fs):
    """Clinical safety of grading on a noisy baseline: maximal effort (a full interference
    pattern, no single classified unit), white noise of 25-45 µV (interference), a periodic
    artifact on interference and interference with a quiet last second are never graded;
    profuse spontaneous activity is graded at most at its true grade."""
    for kind, seed in (("normal", 1), ("myopathic", 2), ("neurogenic", 3)):
        x, _ = simulate_effort(10.0, fs, kind=kind, level="maximal", noise_rms_v=10e-6, seed=510 + seed)
        res = detect_spontaneous(x, fs)
        assert res.status == "not_at_rest" and res.grade is None and res.trains == (), (kind, res.quality)
    for i, nv in enumerate((25e-6, 35e-6, 45e-6)):
        x, _ = simulate_rest(10.0, fs, noise_rms_v=nv, hum_v=5e-6, seed=900 + i)
        res = detect_spontaneous(x, fs)
        assert res.status == "not_at_rest" and res.grade is None, (nv, res.status, res.grade)
        assert "grade_lower_bound" not in res.quality
    # a periodic artifact (80 µV, 1 ms, every 100 ms) on interference: one "train", not graded
    rng = np.random.default_rng(1)
    x, _ = simulate_rest(10.0, fs, noise_rms_v=30e-6, seed=960)
    k = int(1e-3 * fs)
    for t in np.arange(0.05, 9.9, 0.1):
        i = int((t + rng.uniform(-1e-3, 1e-3)) * fs)
        x[i:i + k] += 80e-6 * np.sin(np.linspace(0.0, 2.0 * np.pi, k))
    res = detect_spontaneous(x, fs)
    assert res.status == "not_at_rest" and res.grade is None, (res.status, res.grade, len(res.trains))
    # interference over most of the recording and a quiet last second: the noise judged is
    # that of the noisy stretch, not the detector's level at the end
    x, _ = simulate_rest(10.0, fs, fibrillation_trains=8, noise_rms_v=10e-6, seed=40)
    x[: int(8.5 * fs)] += np.random.default_rng(0).normal(0.0, 120e-6, int(8.5 * fs))
    res = detect_spontaneous(x, fs)
    assert res.status == "not_at_rest" and res.grade is None, (res.status, res.grade, res.noise_uv)
    # profuse fibrillations and PSWs on a noisy baseline: graded at most at their true grade
    order = ["0", "1+", "2+", "3+", "4+"]
    graded = 0
    for seed in range(3):
        x, truth = simulate_rest(10.0, fs, fibrillation_trains=20, psw_trains=10, noise_rms_v=10e-6, seed=8 + seed)
        res = detect_spontaneous(x, fs)
        if res.grade is not None:
            graded += "grade_lower_bound" in res.quality
            assert res.grade != "0" and order.index(res.grade) <= order.index(truth.grade), (res.grade, truth.grade)
        else:
            assert res.status == "not_at_rest"
    assert graded >= 1


def test_noisy_baseline_grading_can_be_switched_off():
    x, _ = simulate_rest(10.0, 20_000.0, fibrillation_trains=40, noise_rms_v=10e-6, seed=7)
    res = detect_spontaneous(x, 20_000.0, config={"quality": {"noisy_grade_min_fraction": 1.01}})
    assert res.status == "not_at_rest" and res.grade is None
    assert "fibrillation/PSW discharge(s) were detected" in res.reasons["trains"]


@pytest.mark.parametrize("fs", RATES)
def test_fused_and_plain_scan_paths_agree(fs):
    """Without a rail the scan runs the band-pass and the quality counts in one fused pass
    (_bandpass_quality_fours); with a rail (never reached here) the plain filter and the
    quality run: the events, noise level and hum must be the same."""
    x, _ = simulate_rest(6.0, fs, fibrillation_trains=2, psw_trains=1, end_plate=True, noise_rms_v=8e-6,
                         hum_v=5e-6, seed=41)
    a = detect_spontaneous(x, fs)
    b = detect_spontaneous(x, fs, rail_v=1.0)
    assert a.events == b.events and a.trains == b.trains
    assert a.noise_uv == b.noise_uv and a.hum_uv == b.hum_uv and a.quality == b.quality
