"""Speed of MUP analysis against the scipy/NumPy way and the one-pass floor.

Analyses 60 s of simulated minimal-effort needle EMG at 48 kHz (normal tibialis
anterior, 5 µV noise; 2.88 million samples) on one core and prints the time and
samples/s of

* ``edx.needle.mup.analyze_mups`` (numba kernels: band-pass, detection, template
  sorting, peeled averaging, measures, plus the quality screens);
* (a) a straightforward scipy/NumPy way of the same job, written here: Butterworth
  band-pass (``scipy.signal.sosfilt``), MAD noise, ``scipy.signal.find_peaks``,
  window extraction by fancy indexing, greedy template matching vectorised over the
  templates and shifts, plain mean templates, threshold measures with NumPy;
* (b) one NumPy pass over the samples (``np.abs(x).max()``): the memory floor;

and the ratios.  Target (issue 5): <= 200 ms on one core.  Timings are the best of
repeated runs (best of 7; 1 for the slow scipy way) after a warm-up call (numba
compilation is cached on disk).

Run: ``python benchmarks/bench_mup.py [DURATION_S] [FS_HZ]`` (default 60 s, 48 kHz).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def scipy_way(x: np.ndarray, fs: float) -> list[tuple[float, float, int]]:
    """MUP analysis the straightforward way; returns (duration ms, amplitude µV, n) per unit."""
    from scipy.signal import butter, find_peaks, sosfilt

    sos = butter(2, [300.0, min(5000.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    y = sosfilt(sos, x - x[0])
    sigma = np.median(np.abs(y)) / 0.6745
    peaks, _ = find_peaks(np.abs(y), height=6 * sigma, distance=int(1.5e-3 * fs))
    pre, post, sh = int(1.5e-3 * fs), int(2.0e-3 * fs), int(0.3e-3 * fs)
    peaks = peaks[(peaks > pre + sh) & (peaks < y.size - post - sh - 1)]
    idx = peaks[:, None] + np.arange(-pre - sh, post + sh + 1)[None, :]
    win = y[idx]  # (n_events, w + 2 sh)
    w = pre + post + 1
    templates: list[np.ndarray] = []
    counts: list[int] = []
    labels = np.full(peaks.size, -1)
    shifts = np.zeros(peaks.size, dtype=int)
    noise_e = 2.0 * w * sigma**2
    for e in range(peaks.size):
        cand = np.lib.stride_tricks.sliding_window_view(win[e], w)  # (2 sh + 1, w)
        if templates:
            t = np.asarray(templates)
            r = ((cand[None, :, :] - t[:, None, :]) ** 2).sum(axis=2)  # (k, shifts)
            k, s = np.unravel_index(np.argmin(r), r.shape)
            if r[k, s] <= 0.1 * (t[k] ** 2).sum() + noise_e:
                counts[k] += 1
                templates[k] = templates[k] + (cand[s] - templates[k]) / counts[k]
                labels[e], shifts[e] = k, s - sh
                continue
        templates.append(cand[sh].copy())
        counts.append(1)
        labels[e] = len(templates) - 1
    out = []
    wpre, wpost = int(20e-3 * fs), int(40e-3 * fs)
    for k in range(len(templates)):
        if counts[k] < 6:
            continue
        pos = peaks[labels == k] + shifts[labels == k]
        pos = pos[(pos > wpre) & (pos < x.size - wpost - 1)]
        seg = x[pos[:, None] + np.arange(-wpre, wpost + 1)[None, :]]
        tpl = seg.mean(axis=0)
        tpl = tpl - np.median(np.r_[tpl[: int(3e-3 * fs)], tpl[-int(3e-3 * fs) :]])
        thr = max(10e-6, 0.02 * np.ptp(tpl))
        above = np.flatnonzero(np.abs(tpl) > thr)
        out.append(((above[-1] - above[0]) / fs * 1e3, np.ptp(tpl) * 1e6, int(pos.size)))
    return out


def timed(fn, repeat: int) -> float:
    """Best of ``repeat`` runs (the machine may be shared: the best is the least disturbed)."""
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts))


def main(duration_s: float = 60.0, fs: float = 48_000.0) -> None:
    one_core()
    from edx.needle.mup import analyze_mups
    from edx.sim.needle import simulate_effort

    t0 = time.perf_counter()
    x, truth = simulate_effort(duration_s, fs, kind="normal", level="minimal", seed=1)
    gen = time.perf_counter() - t0
    n = x.size
    res = analyze_mups(x, fs)  # warm-up (loads the numba cache, compiles if absent)
    t_edx = timed(lambda: analyze_mups(x, fs), 7)
    t_np = timed(lambda: scipy_way(x, fs), 1)
    t_one = timed(lambda: np.abs(x).max(), 7)
    print(f"signal: {duration_s:g} s at {fs / 1e3:g} kHz = {n:,} samples (simulated in {gen:.1f} s), "
          f"{len(truth.units)} true units, {len(truth.discharges)} discharges")
    print(f"edx analyze_mups         {t_edx * 1e3:8.1f} ms  {n / t_edx / 1e6:8.1f} M samples/s  "
          f"({len(res.units)} units, {len(res.accepted_units)} accepted)  target <= 200 ms: "
          f"{'met' if t_edx <= 0.2 else 'NOT met'}")
    print(f"(a) scipy/NumPy way      {t_np * 1e3:8.1f} ms  {n / t_np / 1e6:8.1f} M samples/s  "
          f"-> edx is {t_np / t_edx:.1f}x faster")
    print(f"(b) one NumPy pass       {t_one * 1e3:8.1f} ms  {n / t_one / 1e6:8.1f} M samples/s  "
          f"-> edx costs {t_edx / t_one:.1f} passes")


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:3]]
    main(*args)
