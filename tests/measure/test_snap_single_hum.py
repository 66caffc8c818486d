"""Single (unaveraged) SNAP sweeps under mains hum larger than the SNAP: measured within 4 µV or
flagged unusable, never a silent wrong number, never a false "absent" (review case)."""

from __future__ import annotations

import numpy as np
import pytest

from edx.interpretation.inputs import _problem_of
from edx.measure.ncs import measure_snap
from edx.sim import ncs
from edx.sim.ncs import Realism, SensorySpec

SEEDS = range(12)


def _sweep(fs: float, hum_uv: float, amp_uv: float, seed: int):
    """One 20 ms sweep (2 ms before the stimulus), 2 µV of noise, 50 Hz hum with its 3rd and 5th harmonics."""
    sr = ncs.simulate_sensory(SensorySpec(140, amp_uv), fs, n_sweeps=1,
                              realism=Realism(noise_uv_rms=2.0, hum_uv=hum_uv, mains_hz=50), seed=seed)
    return sr, measure_snap(sr.samples_v, fs, sr.stim_index)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_single_sweep_under_hum_is_right_or_unusable(fs):
    """10 and 20 µV SNAPs under 20, 40 and 80 µV of hum, one sweep.  Before: 16 of 216 were used by the
    interpreter but wrong (hum troughs read as the SNAP, 4.8-58 µV off, polarity taken from the hum;
    five 'absent').  Now every result the interpreter uses is present and within 4 µV (two noise SDs;
    the hum-free sweeps are within 3.5 µV); the others carry baseline_unstable with the reason.
    Measured (used of 72, worst error of those used): 10 kHz 32, 2.5 µV (before 40, of which 11 wrong,
    up to 58 µV); 20 kHz 44, 2.3 µV (before 50, 5 wrong, up to 23 µV); 48 kHz 40, 1.5 µV (unchanged)."""
    used, flagged = [], 0
    for hum in (20.0, 40.0, 80.0):
        for amp in (10.0, 20.0):
            for seed in SEEDS:
                sr, r = _sweep(fs, hum, amp, seed)
                problem = _problem_of(r)
                if problem is not None:
                    flagged += 1
                    if "baseline_unstable" in r.quality:
                        assert r.reasons, (hum, amp, seed)
                    continue
                assert r.present, ("false absent", hum, amp, seed, sorted(r.quality), dict(r.reasons))
                used.append((abs(r.amplitude_uv - sr.truth.amplitude_mv * 1e3), hum, amp, seed))
    worst = max(used)
    assert worst[0] <= 4.0, worst
    assert len(used) >= 24, (len(used), flagged)  # the check does not flag everything under hum


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_no_snap_under_hum_is_not_read_as_one(fs):
    """No SNAP, one sweep under 20-80 µV of hum.  Before: 26 of 108 read as SNAPs of up to 73 µV
    without a flag (the hum model interpolated across 12-14 ms of a 20 ms sweep).  Now: absent, or
    flagged."""
    for hum in (20.0, 40.0, 80.0):
        for seed in SEEDS:
            _, r = _sweep(fs, hum, 0.0, seed)
            assert _problem_of(r) is not None or r.status == "absent", (hum, seed, r.amplitude_uv,
                                                                         sorted(r.quality))


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
def test_without_hum_nothing_is_flagged(fs):
    """The same sweeps without hum: no baseline_unstable, nothing removed as hum, every present SNAP
    within 4 µV and every sweep without a SNAP absent."""
    for amp in (0.0, 10.0, 20.0):
        for seed in SEEDS:
            sr, r = _sweep(fs, 0.0, amp, seed)
            assert _problem_of(r) is None and not {"baseline_unstable", "hum_removed"} & r.quality, (
                amp, seed, sorted(r.quality))
            if amp == 0.0:
                assert r.status == "absent", (seed, r.amplitude_uv)
            elif r.present:
                assert abs(r.amplitude_uv - amp) <= 4.0, (amp, seed, r.amplitude_uv)


def test_reasons_name_the_setting():
    """A flagged sweep says why, naming the ResponseConfig field that decided it."""
    seen = set()
    for fs in (10_000.0, 20_000.0):
        for hum in (20.0, 40.0, 80.0):
            for amp in (0.0, 10.0):
                for seed in SEEDS:
                    _, r = _sweep(fs, hum, amp, seed)
                    if "baseline_unstable" in r.quality:
                        text = " ".join(r.reasons.values())
                        for field in ("max_hum_se", "max_unremoved_hum", "k_residual", "polarity", "max_tail_ms"):
                            if field in text:
                                seen.add(field)
                                break
                        else:
                            raise AssertionError(dict(r.reasons))
    assert {"max_hum_se", "k_residual", "max_unremoved_hum"} <= seen, seen
