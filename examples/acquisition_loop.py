"""edx inside acquisition software: measure each sweep as it arrives, stream needle EMG.

A stand-in for an EMG machine's software, in two threads plus the application's:

* the *nerve-conduction* thread receives motor sweeps one by one (here simulated: a
  peroneal CMAP at the ankle, 20 kHz, 10 µV noise, a decaying stimulus artifact, its
  amplitude falling over the session) and measures each with :func:`edx.measure_cmap`
  as soon as it lands, on a small pool of worker threads (the kernels release the GIL,
  so sweeps from several channels are measured at the same time);
* the *needle* thread receives a rest recording in 10 ms blocks (48 kHz, two
  fibrillation trains and a positive-sharp-wave train) and pushes each block into an
  :class:`edx.SpontaneousDetector`, which hands back each discharge once it is confirmed;
  at the end of the recording ``result()`` is exactly what the batch call
  :func:`edx.detect_spontaneous` returns on the whole signal (checked below).

The application owns the logging configuration: edx only logs (logger ``"edx"``), never
prints.  Every figure printed is measured here: per-sweep and per-block latency
(median / 99th percentile / worst), events as they arrived.

Run: ``python examples/acquisition_loop.py [--sweeps N] [--needle-s S] [--threads T]``
(defaults 200 sweeps, 20 s of needle EMG, 2 measuring threads).  Exit code 0 when every
sweep was measured and the streamed result equals the batch result.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

import edx
from edx.sim.ncs import MotorSpec, Realism, simulate_motor
from edx.sim.needle import simulate_rest

log = logging.getLogger("acquisition")

FS_NCS_HZ = 20_000.0
FS_NEEDLE_HZ = 48_000.0
BLOCK_S = 0.010


def sweep_source(n: int, out: queue.Queue) -> None:
    """The amplifier: puts (k, samples_v, stimulus_index) on ``out``, then None."""
    for k in range(n):
        amplitude_mv = 4.0 * (1.0 - 0.5 * k / max(n - 1, 1))  # a falling CMAP over the session
        (resp,), _ = simulate_motor(MotorSpec(4.2, amplitude_mv), [("ankle", 80)], FS_NCS_HZ,
                                    realism=Realism(noise_uv_rms=10, artifact_mv=3.0), seed=k)
        out.put((k, np.ascontiguousarray(resp.samples_v[0]), int(resp.stim_index)))
    out.put(None)


def measure_sweeps(n: int, threads: int) -> tuple[list[edx.measure.CmapResult], np.ndarray]:
    """Measure each sweep the moment it arrives; returns the results in order and the latencies (s)."""
    q: queue.Queue = queue.Queue(maxsize=16)
    producer = threading.Thread(target=sweep_source, args=(n, q), name="amplifier", daemon=True)
    producer.start()
    latencies = np.full(n, np.nan)
    futures: dict[int, Future] = {}

    def measure(k: int, x: np.ndarray, stim: int, t_arrival: float) -> edx.measure.CmapResult:
        res = edx.measure_cmap(x, FS_NCS_HZ, stim)
        latencies[k] = time.perf_counter() - t_arrival
        return res

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="measure") as pool:
        while (item := q.get()) is not None:
            k, x, stim = item
            futures[k] = pool.submit(measure, k, x, stim, time.perf_counter())
    producer.join()
    return [futures[k].result() for k in range(n)], latencies


def stream_needle(seconds: float) -> tuple[edx.needle.SpontaneousResult, np.ndarray, int, np.ndarray]:
    """Push a rest recording block by block; returns the result, block latencies, events seen, signal."""
    x, _truth = simulate_rest(seconds, FS_NEEDLE_HZ, fibrillation_trains=2, psw_trains=1, noise_rms_v=8e-6, seed=7)
    x = np.ascontiguousarray(x, dtype=np.float64)
    det = edx.SpontaneousDetector(FS_NEEDLE_HZ)
    block = int(round(BLOCK_S * FS_NEEDLE_HZ))
    lat = []
    n_events = 0
    for a in range(0, x.size, block):
        t = time.perf_counter()
        events = det.push(x[a:a + block])
        lat.append(time.perf_counter() - t)
        for ev in events:
            n_events += 1
            if n_events <= 5:
                log.info("needle: %s at %.3f s, %.0f µV (confirmed %.0f ms later)", ev.kind, ev.time_s,
                         ev.amplitude_uv, 1e3 * ((a + block) / FS_NEEDLE_HZ - ev.time_s))
    n_events += len(det.flush())
    return det.result(), np.array(lat), n_events, x


def _ms(lat_s: np.ndarray) -> str:
    ms = 1e3 * lat_s
    return f"median {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms, worst {ms.max():.3f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=int, default=200)
    ap.add_argument("--needle-s", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(threadName)s %(name)s: %(message)s", stream=sys.stdout)
    logging.getLogger("numba").setLevel(logging.WARNING)

    # the first call loads the kernels from numba's cache (or compiles them: run `edx warmup` at install)
    t = time.perf_counter()
    edx.measure_cmap(np.zeros(400), FS_NCS_HZ, 40)
    log.info("kernels ready in %.2f s", time.perf_counter() - t)

    out: dict[str, object] = {}
    ncs_thread = threading.Thread(target=lambda: out.update(ncs=measure_sweeps(args.sweeps, args.threads)), name="ncs")
    needle_thread = threading.Thread(target=lambda: out.update(needle=stream_needle(args.needle_s)), name="needle")
    t = time.perf_counter()
    ncs_thread.start()
    needle_thread.start()
    ncs_thread.join()
    needle_thread.join()
    wall = time.perf_counter() - t

    results, sweep_lat = out["ncs"]  # type: ignore[misc]
    ok = [r for r in results if r.status == "ok" and r.present]
    amps = np.array([r.amplitude_mv for r in ok])
    log.info("nerve conduction: %d sweeps, %d measured ok; first %.2f mV, last %.2f mV; onset %.2f ms",
             len(results), len(ok), amps[0], amps[-1], np.median([r.onset_latency_ms for r in ok]))
    log.info("per-sweep latency (arrival to result, %d threads): %s", args.threads, _ms(sweep_lat))

    res, block_lat, n_events, x = out["needle"]  # type: ignore[misc]
    log.info("needle: %.0f s in %.0f ms blocks, %d discharges streamed; %s", args.needle_s, 1e3 * BLOCK_S, n_events,
             ", ".join(f"{k} {v}" for k, v in sorted(res.counts.items())))
    log.info("needle: grade %s, %d trains; per-block latency %s", res.grade, len(res.trains), _ms(block_lat))
    same = res == edx.detect_spontaneous(x, FS_NEEDLE_HZ)
    log.info("streamed result equals the batch result: %s; wall time %.2f s", same, wall)
    return 0 if same and len(ok) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
