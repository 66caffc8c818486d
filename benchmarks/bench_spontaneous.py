"""Benchmark: spontaneous-activity detection on 60 s of 48 kHz needle EMG, one core.

Prints samples per second and ratios for
* edx: ``edx.needle.spontaneous.detect_spontaneous`` (filter, detect, classify, group
  into trains; numba, one thread);
* a scipy pipeline doing the same job, written here: zero-phase band-pass
  (``sosfiltfilt``), ``find_peaks`` on the band-passed signal, per-peak classification
  from the raw window (initial phase, slow negative phase, duration) and grouping by
  amplitude and firing regularity;
* the floor: one NumPy pass over the samples (``np.abs(x).sum()``).

Every time is the best of N runs (the machine is shared; medians drift with the load), as
wall time and as the CPU time of the running thread (``time.thread_time``: what one core
spends, not counting the time another process holds it); the ratios are given for both.

Targets (issue 5): edx <= 30 ms, >= 5x ahead of the scipy pipeline, within 10x of the
one-pass floor.  Run:

    /root/venv/bin/python benchmarks/bench_spontaneous.py

``--accuracy`` also prints the fibrillation/PSW recall and precision per sampling rate that
tests/needle/test_spontaneous.py checks (its scoring, its fixed seeds).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np


def _best(fn, repeat: int = 7) -> tuple[float, float]:
    """Best wall time and best CPU time (this thread) of ``repeat`` runs, in seconds."""
    wall = cpu = np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        c1, t1 = time.thread_time(), time.perf_counter()
        wall, cpu = min(wall, t1 - t0), min(cpu, c1 - c0)
    return wall, cpu


def scipy_pipeline(x: np.ndarray, fs: float) -> dict:
    """The straightforward scipy way: zero-phase band-pass, find_peaks, classify, group."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    sos = butter(2, [150.0, 1500.0], btype="bandpass", fs=fs, output="sos")
    e = sosfiltfilt(sos, x)
    sigma = np.median(np.abs(e)) / 0.6745
    dist = int(0.002 * fs)
    peaks, _ = find_peaks(np.abs(e), height=4.0 * sigma, distance=dist)
    pre, post = int(0.004 * fs), int(0.02 * fs)
    h = max(1, int(0.0001 * fs))
    kernel = np.ones(2 * h + 1) / (2 * h + 1)
    kinds, amps, times = [], [], []
    for p in peaks:
        if p - pre < 0 or p + post > x.size:
            continue
        w = np.convolve(x[p - pre : p + post], kernel, mode="same")
        w -= np.median(w[: pre // 2])
        ip, im = int(np.argmax(w[pre - h * 10 : pre + h * 20])), int(np.argmin(w[pre - h * 10 : pre + h * 20]))
        pp = float(w.max() - w.min())
        slow = float(w[pre + int(0.003 * fs) : pre + int(0.01 * fs)].mean())
        thr = max(10e-6, 0.02 * pp)
        above = np.flatnonzero(np.abs(w) > thr)
        dur = (above[-1] - above[0]) / fs * 1e3 if above.size else 0.0
        if ip < im and slow < -0.1 * w.max():
            kind = "positive_sharp_wave"
        elif ip < im and dur <= 6.0:
            kind = "fibrillation"
        elif ip > im and dur <= 6.0:
            kind = "end_plate_spike"
        else:
            kind = "motor_unit"
        kinds.append(kind)
        amps.append(pp)
        times.append(p / fs)
    # group: same kind, amplitude within 30 %, then regular intervals
    kinds_a, amps_a, times_a = np.array(kinds), np.array(amps), np.array(times)
    trains = []
    for kind in ("fibrillation", "positive_sharp_wave"):
        sel = kinds_a == kind
        order = np.argsort(amps_a[sel])
        a, t = amps_a[sel][order], times_a[sel][order]
        start = 0
        for i in range(1, a.size + 1):
            if i == a.size or a[i] > 1.3 * a[start]:
                tt = np.sort(t[start:i])
                if tt.size >= 4:
                    iv = np.diff(tt)
                    if iv.std() / iv.mean() < 0.1:
                        trains.append((kind, tt.size, (tt.size - 1) / (tt[-1] - tt[0])))
                start = i
    return dict(n_events=len(kinds), trains=trains)


def accuracy() -> None:
    """Recall and precision per rate, as the accuracy tests score them (their seeds)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "needle"))
    import test_spontaneous as T

    for fs in T.RATES:
        s = T._sum([T._score(r, t) for t, r in T._rest_runs(fs)])
        parts = []
        for k in T.SPIKE_KINDS:
            q = s[k]
            parts.append(f"{k} recall {q['found'] / q['n']:.3f} ({q['found']}/{q['n']}), "
                         f"precision {q['tp'] / (q['tp'] + q['fp']):.3f}")
        right = s["kind_right"] / max(s["kind_right"] + s["kind_wrong"], 1)
        print(f"{int(fs) // 1000:2d} kHz: " + "; ".join(parts) + f"; fib vs PSW right {right:.3f}")


def main() -> None:
    import sys

    import numba

    if "--accuracy" in sys.argv[1:]:
        accuracy()

    from edx.needle.spontaneous import detect_spontaneous
    from edx.sim.needle import simulate_rest

    numba.set_num_threads(1)
    fs = 48_000.0
    x, truth = simulate_rest(
        60.0, fs, fibrillation_trains=3, psw_trains=2, end_plate=True, fasciculations=1, noise_rms_v=5e-6, seed=1
    )
    x = np.ascontiguousarray(x)
    n = x.size
    res = detect_spontaneous(x, fs)  # compile / load the cache
    n_edx, n_scipy, n_floor = 9, 3, 20
    t_edx = _best(lambda: detect_spontaneous(x, fs), repeat=n_edx)
    sp = scipy_pipeline(x, fs)
    t_scipy = _best(lambda: scipy_pipeline(x, fs), repeat=n_scipy)
    t_floor = _best(lambda: np.abs(x).sum(), repeat=n_floor)
    print(f"signal: 60 s at 48 kHz = {n:,} samples, {len(truth.discharges)} discharges in the truth")
    print(f"best of {n_edx} (edx), {n_scipy} (scipy), {n_floor} (floor) runs in one process, one thread; "
          f"wall time | CPU time of the thread")
    rows = (("edx detect_spontaneous", t_edx, f"events {len(res.events)}, trains {len(res.trains)}, grade {res.grade}"),
            ("scipy pipeline", t_scipy, f"events {sp['n_events']}, trains {len(sp['trains'])}"),
            ("one NumPy pass (floor)", t_floor, ""))
    for name, (w, c), what in rows:
        print(f"{name:23s}: {w * 1e3:7.1f} ms | {c * 1e3:7.1f} ms  {n / w / 1e6:8.1f} Msamples/s  {what}")
    (we, ce), (ws, cs), (wf, cf) = t_edx, t_scipy, t_floor
    print(f"edx vs scipy           : {ws / we:7.1f} x  | {cs / ce:7.1f} x  faster (target >= 5x)")
    print(f"edx vs floor           : {we / wf:7.1f} x  | {ce / cf:7.1f} x  slower (target <= 10x)")
    print(f"edx time               : {we * 1e3:7.1f} ms | {ce * 1e3:7.1f} ms        (target <= 30 ms)")


if __name__ == "__main__":
    main()
