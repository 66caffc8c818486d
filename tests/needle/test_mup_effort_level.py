"""MUP analysis of a recording at more than minimal effort (review): the sorter isolates
only a few of the units firing, so the recruitment ratio and frequency rules, which count
sorted units, must not read "reduced" (few units firing fast) from it."""

from __future__ import annotations

import pytest

from edx.needle.mup import analyze_mups, load_mup_reference
from edx.sim.needle import simulate_effort

FS = 20_000.0


@pytest.mark.parametrize("kind, level, seed", [
    ("normal", "maximal", 0),     # read "reduced" (ratio 16.6 from 2 of 15 units) before
    ("myopathic", "maximal", 0),  # read "reduced" (ratio 11.2 from 4 of 15 units; truth: early)
    ("myopathic", "moderate", 1),
    ("normal", "moderate", 1),
])
def test_dense_effort_is_flagged_and_recruitment_not_judged(kind, level, seed):
    x, truth = simulate_effort(5.0, FS, kind=kind, level=level, seed=seed)
    assert truth.recruitment != "reduced"
    res = analyze_mups(x, FS, muscle="tibialis anterior")
    assert "dense_background" in res.quality, res.reasons
    assert "not used for recruitment" in res.reasons["dense_background"]
    assert res.recruitment.pattern is None
    assert "more units fire than were sorted" in res.recruitment.reason


@pytest.mark.parametrize("seed", [0, 1])
def test_minimal_effort_is_not_dense_and_neurogenic_recruitment_stays_reduced(seed):
    for kind in ("normal", "myopathic", "neurogenic"):
        x, truth = simulate_effort(5.0, FS, kind=kind, level="minimal", seed=seed)
        res = analyze_mups(x, FS)
        assert "dense_background" not in res.quality, (kind, res.reasons)
        if kind == "neurogenic":
            assert res.recruitment.pattern == "reduced"


def test_background_limit_is_in_the_reference_with_a_source():
    rules = load_mup_reference()["rules"]
    assert rules["max_background_uv"] > 0
    assert rules["max_background_source"] and rules["max_background_status"] == "unconfirmed"
