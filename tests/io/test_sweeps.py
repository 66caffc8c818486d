"""Cutting sweeps around stimuli."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import edx


def test_cut_sweeps_positions_and_edges(caplog):
    fs = 10_000.0
    x = np.arange(20_000, dtype=float) * 1e-9
    rec = edx.from_array(x, fs, stimulus_s=[0.0001, 0.5, 1.0, 1.9999])
    with caplog.at_level(logging.WARNING, logger="edx.io"):
        sw = edx.cut_sweeps(rec, pre_s=0.005, post_s=0.045)
    assert len(sw) == 2 and "2 of 4 stimuli" in caplog.text
    assert [s.stimulus_index for s in sw] == [50, 50]
    assert sw[0].samples_v[50] == pytest.approx(5000 * 1e-9)
    assert sw[0].start_s == pytest.approx(0.495)
    assert sw[0].stimulus_source == "caller"


def test_cut_sweeps_train_lists_later_stimuli():
    rec = edx.from_array(np.zeros(10_000), 10_000.0, stimulus_s=[0.1, 0.11, 0.5])
    sw = edx.cut_sweeps(rec, pre_s=0.005, post_s=0.02)
    assert sw[0].stimulus_indices == (50, 150)
    assert sw[1].stimulus_indices == (50,)


def test_cut_sweeps_errors():
    rec = edx.from_array(np.zeros((2, 1000)), 1000.0)
    with pytest.raises(edx.FormatError, match="say which one"):
        edx.cut_sweeps(rec)
    with pytest.raises(edx.FormatError, match="no stimulus marks"):
        edx.cut_sweeps(rec, "ch0")
    rec2 = edx.from_array(np.zeros(1000), 1000.0, stimulus_s=[0.999])
    with pytest.raises(edx.FormatError, match="full"):
        edx.cut_sweeps(rec2)
