"""Responses overlapping large stimulus artifacts: how many are measured, obscured or misread.

Three grids of simulated sweeps (10 µV noise, 10/20/48 kHz), measured with the default CMAP settings:

* ``dms``: direct muscle stimulation, a 2 mV muscle-evoked response 1.2 ms and a 1 mV nerve-evoked
  one 3.4 ms after 3-50 mV artifacts with 0.3-2 ms tails (seeds 0-3);
* ``early``: 2 mV and 0.3 mV responses 0.3-3.4 ms after 3-30 mV artifacts with 0.3-2 ms tails
  (seeds 0-1);
* ``none``: no response under 3-50 mV artifacts with 0.3-2 ms tails (seeds 0-3).

Each response is counted as within tolerance (amplitude within 3 % and onset within 0.2 ms),
amplitude within 3 % with the onset off or not placed, amplitude off by 3-10 % or by more,
absent, or ``artifact_obscured``.

Run: ``python benchmarks/artifact_overlap.py``.
"""

from __future__ import annotations

import collections

import numpy as np

FS = (10_000.0, 20_000.0, 48_000.0)


def _verdict(res, truth) -> str:
    if res.status != "ok":
        return res.status
    e = res.amplitude_mv / truth.amplitude_mv - 1.0
    on = res.onset_latency_ms
    if abs(e) <= 0.03 and on is not None and abs(on - truth.onset_latency_ms) <= 0.2:
        return "within 3 % and 0.2 ms"
    if abs(e) <= 0.03:
        return "amplitude within 3 %, onset off or not placed"
    return "amplitude off 3-10 %" if abs(e) <= 0.1 else "amplitude off > 10 %"


def main() -> None:
    import edx
    from edx.sim.ncs import DmsSpec, MotorSpec, Realism, simulate_dms, simulate_motor

    def real(a, t):
        return Realism(noise_uv_rms=10, artifact_mv=a, artifact_decay_ms=t)

    dms: collections.Counter[str] = collections.Counter()
    for fs in FS:
        for a in (3, 10, 30, 50):
            for t in (0.3, 0.5, 1.0, 2.0):
                for seed in range(4):
                    nv, m, _ = simulate_dms(DmsSpec(mcmap_mv=2, ncmap_mv=1), fs, realism=real(a, t), seed=seed)
                    for sim in (nv, m):
                        dms[_verdict(edx.measure_cmap(sim.samples_v[0], fs, sim.stim_index), sim.truth)] += 1
    print("dms:", dict(dms))
    early: collections.Counter[str] = collections.Counter()
    for fs in FS:
        for lat in (0.3, 0.5, 0.7, 0.9, 1.2, 2.0, 3.4):
            for a, t in ((3, 0.3), (3, 1.0), (30, 1.0), (30, 2.0), (10, 0.5)):
                for seed in range(2):
                    spec = DmsSpec(mcmap_mv=2, ncmap_mv=0.3, mcmap_latency_ms=lat, ncmap_latency_ms=lat)
                    nv, m, _ = simulate_dms(spec, fs, realism=real(a, t), seed=seed)
                    for sim in (m, nv):
                        early[_verdict(edx.measure_cmap(sim.samples_v[0], fs, sim.stim_index), sim.truth)] += 1
    print("early:", dict(early))
    none: collections.Counter[str] = collections.Counter()
    for fs in FS:
        for a in (3, 10, 30, 50):
            for t in (0.3, 0.5, 1.0, 2.0):
                for seed in range(4):
                    (r,), _ = simulate_motor(MotorSpec(3.5, 0.0), [("x", 0.0)], fs, realism=real(a, t), seed=seed)
                    none[edx.measure_cmap(np.asarray(r.samples_v[0]), fs, r.stim_index).status] += 1
    print("none:", dict(none))


if __name__ == "__main__":
    main()
