"""Mains hum on small SNAPs: removed when it can be seen, flagged when it cannot (review case)."""

from __future__ import annotations

import numpy as np
import pytest

from edx.interpretation.inputs import _problem_of
from edx.measure.ncs import measure_snap
from edx.sim import ncs
from edx.sim.ncs import Realism, SensorySpec

SEEDS = range(12)


def _snaps(fs: float, hum_uv: float, amp_uv: float = 15.0, n_sweeps: int = 8):
    for seed in SEEDS:
        sr = ncs.simulate_sensory(SensorySpec(140, amp_uv), fs, n_sweeps=n_sweeps,
                                  realism=Realism(noise_uv_rms=5.0, hum_uv=hum_uv, mains_hz=50), seed=seed)
        yield sr, measure_snap(sr.samples_v, fs, sr.stim_index)


@pytest.mark.parametrize("fs", [10_000.0, 20_000.0, 48_000.0])
@pytest.mark.parametrize("hum_uv", [10.0, 20.0])
def test_hum_on_a_small_snap_is_removed_or_flagged(fs, hum_uv):
    """A 15 µV SNAP, 8 sweeps of 20 ms averaged (about 1.8 µV of noise left), under 10-20 µV of 50 Hz
    hum: hum held the trace off the baseline for up to 9 ms after the negative peak, no window was
    left to fit the hum in, and the amplitude read up to 26 µV with status ok; the polarity was judged
    with the hum in and flipped (two 'absent' SNAPs).  Now the window after the response starts
    5 ms after the negative peak at the latest, the polarity is judged again on the cleaned trace,
    and a hum of 10 % of a SNAP under 30 µV is fitted: every SNAP is present, within 4 µV (about two
    noise SDs; without hum the worst is 3.6 µV) or flagged baseline_unstable (measured: 0-3 of 12)."""
    flagged, errors = 0, []
    for sr, r in _snaps(fs, hum_uv):
        assert r.status == "ok" and r.present, (r.status, r.reasons)
        if "baseline_unstable" in r.quality:
            flagged += 1
            assert _problem_of(r) == "baseline_unstable" and "amplitude" in r.reasons
        else:
            errors.append(r.amplitude_uv - sr.truth.amplitude_mv * 1e3)
    assert flagged <= 3 and np.max(np.abs(errors)) <= 4.0, (flagged, np.round(errors, 1))


def test_hum_that_cannot_be_removed_is_flagged():
    """50 µV of hum on a 15 µV SNAP (8 sweeps, 20 kHz): where the trace has not come back to the
    baseline 5 ms after the negative peak (a SNAP has ended by then) the amplitude carries the hum:
    flagged baseline_unstable, not usable for interpretation.  Measured: 3 of 12 flagged, read
    29-43 µV; the unflagged within 3 µV of the truth.  Without hum: none flagged."""
    unflagged_errors, flagged = [], []
    for sr, r in _snaps(20_000.0, 50.0):
        if "baseline_unstable" in r.quality:
            flagged.append(r.amplitude_uv)
        else:
            unflagged_errors.append(r.amplitude_uv - sr.truth.amplitude_mv * 1e3)
    assert len(flagged) >= 2 and min(flagged) > 25.0
    assert np.max(np.abs(unflagged_errors)) <= 4.0, np.round(unflagged_errors, 1)
    assert not any("baseline_unstable" in r.quality for _, r in _snaps(20_000.0, 0.0))
