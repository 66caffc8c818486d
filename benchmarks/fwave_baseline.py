"""F-wave trains under per-sweep mains hum and baseline drift: how many read right, refused or wrong.

Stimuli are not locked to the mains, so each sweep of an F-wave train carries hum of its own
phase, and a wandering baseline its own offset and slope; the M-response template (common to the
sweeps) does not remove them.  Simulated trains of 20 sweeps (3.5 mV M response, F-waves from
27 ms, 10 µV noise, 3 mV stimulus artifact) at 10/20/48 kHz, seeds 0-5, under:

* ``hum``: 50 Hz hum of 2-50 µV (odd harmonics), and 60 Hz hum of 20 µV;
* ``drift``: 0.5 Hz baseline drift of 10-100 µV with random phase;
* ``both``: 20 µV hum and 30 µV drift, F-waves in 20, 80 and 100 % of the sweeps, and 100 µV of
  each;
* ``clean``: neither (the reference);
* ``none``: no F-waves (persistence 0) under 20 µV hum and 30 µV drift.

A train is counted ``right`` when the persistence is within one sweep of the truth and the minimal
latency within 0.5 ms, ``refused`` when the figures are not given (a reason says why), and
``wrong`` otherwise (a silent misreading, the outcome to avoid).

Run: ``python benchmarks/fwave_baseline.py``.
"""

from __future__ import annotations

import collections

FS = (10_000.0, 20_000.0, 48_000.0)


def _verdict(res, truth) -> str:
    if res.persistence_pct is None:
        return "refused"
    if abs(res.persistence_pct - truth["persistence_pct"]) > 100.0 / 20 + 1e-9:
        return "wrong"
    if truth["min_latency_ms"] is None:
        return "right" if res.min_latency_ms is None else "wrong"
    if res.min_latency_ms is None or abs(res.min_latency_ms - truth["min_latency_ms"]) > 0.5:
        return "wrong"
    return "right"


def main() -> None:
    import edx
    from edx.sim.ncs import FWaveSpec, MotorSpec, Realism, simulate_fwaves

    grids: dict[str, list[tuple[dict[str, float], float]]] = {
        "clean": [({}, 0.8)],
        "hum": [({"hum_uv": h}, 0.8) for h in (2, 5, 8, 20, 50)] + [({"hum_uv": 20, "mains_hz": 60}, 0.8)],
        "drift": [({"drift_uv": d}, 0.8) for d in (10, 30, 100)],
        "both": [({"hum_uv": 20, "drift_uv": 30}, p) for p in (0.2, 0.8, 1.0)] + [({"hum_uv": 100, "drift_uv": 100}, 0.8)],
        "none": [({"hum_uv": 20, "drift_uv": 30}, 0.0)],
    }
    for name, cases in grids.items():
        count: collections.Counter[str] = collections.Counter()
        for kw, pers in cases:
            for fs in FS:
                for seed in range(6):
                    sim = simulate_fwaves(MotorSpec(3.5, 9.0), FWaveSpec(27.0, persistence=pers), fs,
                                          realism=Realism(noise_uv_rms=10, artifact_mv=3, **kw), seed=seed)
                    res = edx.measure_fwaves(sim.samples_v, fs, sim.stim_index)
                    count[_verdict(res, sim.extra["fwaves"])] += 1
        print(f"{name}:", dict(sorted(count.items())))


if __name__ == "__main__":
    main()
