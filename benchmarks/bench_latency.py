"""Latency of edx's calls as acquisition software makes them: one sweep, one block at a time.

``bench_ncs.py`` and ``bench_spontaneous.py`` measure throughput on whole arrays; a device
cares about the time from a sweep's (or a block's) arrival to its result, through the
public Python API with its checks and result objects.  This prints, on one core, after
the kernels are loaded:

* ``edx.measure_cmap`` on one 1 000-sample sweep (20 kHz, 10 µV noise, 3 mV artifact), and
  ``edx.measure_snap`` on the average of 10 sweeps: median, 99th percentile and worst
  call, against the straightforward scipy/NumPy way of the same markers per sweep
  (``bench_ncs.scipy_way``);
* ``edx.SpontaneousDetector.push`` on 60 s of 48 kHz rest EMG in blocks of 1, 10, 50 and
  100 ms: the same statistics per block, how long after a discharge it is reported
  (the detector's look-ahead), and the whole minute's time against the batch call;
  against the straightforward *streaming* scipy way (``scipy.signal.sosfilt`` carrying its
  filter state from block to block, ``find_peaks`` on each block's envelope with a
  running noise estimate);
* several threads measuring sweeps at once (the kernels release the GIL): sweeps per
  second with 1 and 2 threads, and whether the results are identical.

Tests never assert on time; this is the place for the figures.  Run:

    python benchmarks/bench_latency.py [--sweeps N] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

FS_NCS = 20_000.0
FS_NEEDLE = 48_000.0


def _stats_ms(lat_s: np.ndarray) -> str:
    ms = 1e3 * np.asarray(lat_s)
    return f"median {np.median(ms):7.3f}  p99 {np.percentile(ms, 99):7.3f}  worst {ms.max():7.3f} ms"


def _timed(fn, items) -> np.ndarray:
    out = np.empty(len(items))
    for k, it in enumerate(items):
        t = time.perf_counter()
        fn(it)
        out[k] = time.perf_counter() - t
    return out


def motor_sweeps(n: int) -> tuple[np.ndarray, int]:
    from edx.sim.ncs import MotorSpec, Realism, simulate_motor

    (r,), _ = simulate_motor(MotorSpec(3.8, 4.0), [("ankle", 80)], FS_NCS,
                             realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=3)
    base = r.samples_v[0][:1000]
    rng = np.random.default_rng(0)
    return np.ascontiguousarray(base[None, :] + rng.normal(0, 10e-6, (n, base.size))), int(r.stim_index)


def sensory_averages(n: int) -> tuple[list[np.ndarray], int]:
    from edx.sim.ncs import Realism, SensorySpec, simulate_sensory

    resp = simulate_sensory(SensorySpec(130, 20.0, cv_m_s=55.0), FS_NCS,
                            realism=Realism(noise_uv_rms=5.0, artifact_mv=1.0), n_sweeps=10, seed=4)
    x = np.asarray(resp.samples_v)
    rng = np.random.default_rng(1)
    return [np.ascontiguousarray(x + rng.normal(0, 5e-6, x.shape)) for _ in range(n)], int(resp.stim_index)


def scipy_stream(x: np.ndarray, fs: float, block: int) -> np.ndarray:
    """The straightforward streaming way, per block: causal band-pass carrying its state,
    running MAD noise, find_peaks on the block's rectified output; returns per-block times."""
    from scipy.signal import butter, find_peaks, sosfilt, sosfilt_zi

    sos = butter(2, [150.0, 1500.0], btype="bandpass", fs=fs, output="sos")
    zi = sosfilt_zi(sos) * 0.0
    sigma = None
    lat = []
    found = 0
    for a in range(0, x.size, block):
        t = time.perf_counter()
        e, zi = sosfilt(sos, x[a:a + block], zi=zi)
        s = np.median(np.abs(e)) / 0.6745
        sigma = s if sigma is None else 0.95 * sigma + 0.05 * s
        peaks, _ = find_peaks(np.abs(e), height=4.0 * sigma, distance=int(0.002 * fs))
        found += peaks.size
        lat.append(time.perf_counter() - t)
    return np.array(lat)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import edx
    from bench_ncs import _best, scipy_way
    from edx.sim.needle import simulate_rest

    x, stim = motor_sweeps(args.sweeps)
    snaps, sstim = sensory_averages(max(args.sweeps // 10, 20))
    edx.measure_cmap(x[0], FS_NCS, stim)  # load the kernels (numba cache)
    edx.measure_snap(snaps[0], FS_NCS, sstim)
    scipy_way(x[0], FS_NCS, stim)  # import scipy.signal outside the timing
    scipy_stream(np.zeros(4800), FS_NEEDLE, 480)

    print(f"one core, kernels loaded; {args.sweeps} motor sweeps of {x.shape[1]} samples at {FS_NCS / 1e3:g} kHz")
    lat = _timed(lambda s: edx.measure_cmap(s, FS_NCS, stim), list(x))
    ref = _timed(lambda s: scipy_way(s, FS_NCS, stim), list(x[: min(len(x), 1000)]))
    print(f"  edx.measure_cmap, per sweep   : {_stats_ms(lat)}")
    print(f"  scipy/NumPy way, per sweep    : {_stats_ms(ref)}  -> edx median {np.median(ref) / np.median(lat):.1f}x faster")
    lat = _timed(lambda s: edx.measure_snap(s, FS_NCS, sstim), snaps)
    print(f"  edx.measure_snap, 10-sweep avg: {_stats_ms(lat)}  ({len(snaps)} averages)")

    print(f"\nstreaming: {args.seconds:g} s of 48 kHz rest EMG (2 fibrillation trains, 1 PSW train, 8 µV noise)")
    sig, _ = simulate_rest(args.seconds, FS_NEEDLE, fibrillation_trains=2, psw_trains=1, noise_rms_v=8e-6, seed=11)
    sig = np.ascontiguousarray(sig, dtype=np.float64)
    det = edx.SpontaneousDetector(FS_NEEDLE)
    det.push(sig[:4800])  # load the kernels
    det.result()
    batch = edx.detect_spontaneous(sig, FS_NEEDLE)
    t_batch = _best(lambda: edx.detect_spontaneous(sig, FS_NEEDLE))
    print(f"  batch edx.detect_spontaneous  : {1e3 * t_batch:7.1f} ms for the whole recording (best of 3)")
    for block_ms in (1, 10, 50, 100):
        block = int(round(block_ms * 1e-3 * FS_NEEDLE))
        det = edx.SpontaneousDetector(FS_NEEDLE)
        lat = []
        delays = []
        for a in range(0, sig.size, block):
            t = time.perf_counter()
            evs = det.push(sig[a:a + block])
            lat.append(time.perf_counter() - t)
            now_s = min(a + block, sig.size) / FS_NEEDLE
            delays.extend(now_s - ev.time_s for ev in evs)
        t = time.perf_counter()
        det.flush()
        res = det.result()
        t_end = time.perf_counter() - t
        lat_a = np.array(lat)
        same = "equal to batch" if res == batch else "DIFFERS from batch"
        ref = scipy_stream(sig, FS_NEEDLE, block)
        print(f"  push {block_ms:>3} ms blocks ({block:>5} samples): {_stats_ms(lat_a)}; total {1e3 * lat_a.sum():6.1f} ms "
              f"+ end {1e3 * t_end:5.1f} ms; reported {1e3 * np.median(delays):.0f} ms (median) after the discharge; "
              f"{same}")
        print(f"      scipy streaming way       : {_stats_ms(ref)}; total {1e3 * ref.sum():6.1f} ms "
              f"-> edx total {ref.sum() / lat_a.sum():.1f}x faster (the scipy way detects, does not classify)")

    print("\nthreads measuring motor sweeps at once (GIL released in the kernels)")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    serial = [edx.measure_cmap(s, FS_NCS, stim) for s in x]
    for n_threads in (1, 2):
        with ThreadPoolExecutor(n_threads) as pool:
            got = list(pool.map(lambda s: edx.measure_cmap(s, FS_NCS, stim), x))
            dt = _best(lambda: list(pool.map(lambda s: edx.measure_cmap(s, FS_NCS, stim), x)))
        print(f"  {n_threads} thread(s): {len(x) / dt:8.0f} sweeps/s (best of 3); results identical to serial: "
              f"{got == serial}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
