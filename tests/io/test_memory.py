"""In-memory sources: arrays and MNE Raw objects (and MNE's own EDF export)."""

from __future__ import annotations

import mne
import numpy as np
import pytest

import edx


def test_from_array_units_and_stimuli():
    x = np.vstack([np.full(100, 2.0), np.full(100, 3.0)])
    rec = edx.from_array(x, 1000.0, units=["mV", "uV"], channel_names=["A", "B"], stimulus_index=[10, 50])
    assert rec.traces_of("A")[0].samples_v[0] == pytest.approx(2e-3)
    assert rec.traces_of("B")[0].samples_v[0] == pytest.approx(3e-6)
    assert [(s.time_s, s.source) for s in rec.stimuli] == [(0.01, "caller"), (0.05, "caller")]
    with pytest.raises(edx.UnitError, match="'B'"):
        edx.from_array(x, 1000.0, units=["mV", "bananas"], channel_names=["A", "B"])
    with pytest.raises(ValueError, match="outside"):
        edx.from_array(x, 1000.0, stimulus_index=[100])


def _raw(first_samp: int = 0) -> mne.io.RawArray:
    fs = 2000.0
    rng = np.random.default_rng(5)
    data = np.vstack([rng.normal(0, 1e-4, 4000), np.zeros(4000)])
    data[1, 1000:1010] = 1.0
    info = mne.create_info(["TA", "STI 014"], fs, ch_types=["emg", "stim"])
    raw = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    return raw


def test_from_mne_stim_channel_and_units():
    raw = _raw()
    rec = edx.from_mne(raw)
    assert rec.unit_by_channel == {"TA": "V", "STI 014": ""}
    np.testing.assert_allclose(rec.traces_of("TA")[0].samples_v, raw.get_data(picks=["TA"])[0])
    assert [(s.time_s, s.source) for s in rec.stimuli] == [(0.5, "trigger_channel")]


def test_from_mne_annotations_relative_to_first_sample():
    raw = _raw(first_samp=2000)  # data start 1 s after measurement start
    raw.set_meas_date(1_700_000_000)
    raw.set_annotations(mne.Annotations(onset=[1.25], duration=[0.0], description=["stim"], orig_time=raw.info["meas_date"]))
    rec = edx.from_mne(raw, picks=["TA"])
    assert [(round(s.time_s, 9), s.source) for s in rec.stimuli] == [(0.25, "annotation")]


def test_mne_misc_channel_needs_picks():
    info = mne.create_info(["X"], 100.0, ch_types=["misc"])
    raw = mne.io.RawArray(np.zeros((1, 100)), info, verbose="error")
    with pytest.raises(edx.UnitError, match="'X'"):
        edx.from_mne(raw)


def test_mne_export_edf_round_trip(tmp_path):
    raw = _raw().pick(["TA"])
    raw.set_annotations(mne.Annotations([0.75], [0.0], ["Stim"]))
    p = tmp_path / "mne.edf"
    mne.export.export_raw(p, raw, fmt="edf", verbose="error")
    rec = edx.load(p)
    lsb = 2 * np.abs(raw.get_data()).max() / 65535
    np.testing.assert_allclose(rec.traces_of("TA")[0].samples_v[:4000], raw.get_data()[0], atol=lsb)
    assert [s.time_s for s in rec.stimuli] == pytest.approx([0.75])


def test_fif_file(tmp_path):
    raw = _raw()
    p = tmp_path / "x_raw.fif"
    raw.save(p, verbose="error")
    rec = edx.load(p)
    assert rec.fs_by_channel["TA"] == 2000.0
    assert len(rec.stimuli) == 1
