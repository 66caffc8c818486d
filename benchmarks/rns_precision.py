"""Repetitive stimulation: how far the decrement is off, and how far its standard error says it may be.

Simulated 3 Hz trains of 10 responses with a 20 % decrement (10 µV noise, 20 µV of 50 Hz hum, 3 mV
stimulus artifacts), CMAPs of 0.3, 0.5, 1 and 3 mV at 10/20/48 kHz, seeds 0-11.  Per cell: the RMS
and largest error of ``decrement_pct`` (percentage points), the mean ``decrement_se_pct``, the
largest error in standard errors, and how many trains are flagged ``decrement_imprecise``.

Run: ``python benchmarks/rns_precision.py``.
"""

from __future__ import annotations

import numpy as np


def main() -> None:
    from edx.measure.late import rns_decrement
    from edx.sim import ncs
    from edx.sim.ncs import MotorSpec, Realism, RnsSpec

    print("CMAP mV | fs kHz | RMS error | largest error | mean SE | largest |error|/SE | flagged imprecise")
    for amp in (0.3, 0.5, 1.0, 3.0):
        for fs in (10_000.0, 20_000.0, 48_000.0):
            err, se, flagged = [], [], 0
            for seed in range(12):
                sim = ncs.simulate_rns(MotorSpec(3.0, amp), RnsSpec(rate_hz=3.0, decrement_pct=20.0), fs,
                                       realism=Realism(noise_uv_rms=10, artifact_mv=3.0, hum_uv=20, mains_hz=50),
                                       seed=seed)
                r = rns_decrement(sim.samples_v[0], fs, sim.stim_indices)
                if r.decrement_pct is None or r.decrement_se_pct is None:
                    err.append(np.nan)
                    se.append(np.nan)
                    continue
                err.append(r.decrement_pct - sim.extra["rns"]["decrement_pct"])
                se.append(r.decrement_se_pct)
                flagged += "decrement_imprecise" in r.quality
            e, s = np.array(err), np.array(se)
            print(f"{amp:7.1f} | {fs / 1e3:6.0f} | {np.sqrt(np.nanmean(e ** 2)):9.2f} | {np.nanmax(np.abs(e)):13.2f} | "
                  f"{np.nanmean(s):7.2f} | {np.nanmax(np.abs(e) / s):18.2f} | {flagged:2d} of {np.isfinite(e).sum()}")


if __name__ == "__main__":
    main()
