import math

import numpy as np
import pytest

import edx
from edx.model import Recording, Response, Stimulus, Sweep, Trace


def test_trace_samples_are_readonly_float64_copies():
    x = np.arange(10, dtype=np.int16)
    t = Trace("EMG", 1000.0, x)
    assert t.samples_v.dtype == np.float64 and t.samples_v.flags.c_contiguous
    assert not t.samples_v.flags.writeable
    y = np.ones(5)
    t2 = Trace("EMG", 1000.0, y)
    assert y.flags.writeable, "the caller's array must not be frozen"
    y[0] = 7.0
    assert t2.samples_v[0] == 1.0, "the trace must not share memory with a writable caller array"
    assert t.duration_s == pytest.approx(0.01)
    assert t.end_s == pytest.approx(0.01)


@pytest.mark.parametrize("bad", [np.array([0.0, np.nan, 1.0]), np.array([np.inf, 0.0])])
def test_non_finite_samples_are_refused_with_position(bad):
    with pytest.raises(edx.SignalQualityError, match="non-finite.*index"):
        Trace("EMG", 1000.0, bad)


def test_zero_length_and_bad_shapes():
    with pytest.raises(edx.SignalQualityError, match="zero-length"):
        Trace("EMG", 1000.0, np.array([]))
    with pytest.raises(edx.SignalQualityError, match="1-D"):
        Sweep(np.zeros((2, 3)), 1000.0)
    with pytest.raises(edx.SignalQualityError, match="numeric"):
        Trace("EMG", 1000.0, np.array(["a", "b"]))


@pytest.mark.parametrize("fs", [0.0, -1.0, math.nan, math.inf])
def test_sampling_rate_must_be_positive_finite(fs):
    with pytest.raises(ValueError, match="fs_hz"):
        Trace("EMG", fs, np.zeros(4))


def test_sweep_stimulus_indices_validated():
    s = Sweep(np.zeros(100), 10_000.0, (5, 40), stimulus_source="annotation")
    assert s.stimulus_index == 5
    with pytest.raises(ValueError, match="outside"):
        Sweep(np.zeros(100), 10_000.0, (100,), stimulus_source="annotation")
    with pytest.raises(ValueError, match="ascending"):
        Sweep(np.zeros(100), 10_000.0, (40, 5), stimulus_source="annotation")
    with pytest.raises(ValueError, match="stimulus_source"):
        Sweep(np.zeros(100), 10_000.0, (5,))
    assert Sweep(np.zeros(3), 1.0).stimulus_index is None


def test_stimulus_validation():
    with pytest.raises(ValueError, match="source"):
        Stimulus(0.1, "guess")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="intensity"):
        Stimulus(0.1, "caller", intensity_ma=-1.0)


def test_response_requires_same_rate():
    a = Sweep(np.zeros(10), 1000.0)
    b = Sweep(np.zeros(10), 2000.0)
    with pytest.raises(ValueError, match="different rates"):
        Response((a, b))
    with pytest.raises(ValueError, match="no sweeps"):
        Response(())


def test_recording_sorts_and_reports_channels():
    tr = (Trace("A", 1000.0, np.zeros(1000)), Trace("B", 250.0, np.zeros(10), start_s=2.0))
    rec = Recording(traces=tr, stimuli=(Stimulus(0.5, "caller"), Stimulus(0.1, "caller")))
    assert [s.time_s for s in rec.stimuli] == [0.1, 0.5]
    assert rec.channels == ("A", "B")
    assert rec.fs_by_channel == {"A": 1000.0, "B": 250.0}
    assert rec.duration_s == pytest.approx(2.04)
    with pytest.raises(edx.SignalQualityError, match="no signal"):
        Recording()
