"""npy / npz / csv files: rate and unit from the file or the caller, never a default."""

from __future__ import annotations

import numpy as np
import pytest

import edx

RNG = np.random.default_rng(11)


def test_npy_needs_rate_and_unit(tmp_path):
    x = RNG.normal(0, 100, (2, 500))
    p = tmp_path / "x.npy"
    np.save(p, x)
    with pytest.raises(edx.FormatError, match="fs_hz"):
        edx.load(p, units="uV")
    with pytest.raises(edx.UnitError, match="unit"):
        edx.load(p, fs_hz=1000)
    rec = edx.load(p, fs_hz=1000, units="uV")
    assert rec.channels == ("ch0", "ch1")
    np.testing.assert_allclose(rec.traces[1].samples_v, x[1] * 1e-6)


def test_npy_transposed_is_refused(tmp_path):
    p = tmp_path / "t.npy"
    np.save(p, np.zeros((500, 2)))
    with pytest.raises(edx.FormatError, match="transpose"):
        edx.load(p, fs_hz=1000, units="V")


def test_npy_nan_and_empty(tmp_path):
    p = tmp_path / "nan.npy"
    x = np.zeros(100)
    x[17] = np.nan
    np.save(p, x)
    with pytest.raises(edx.SignalQualityError, match="index 17"):
        edx.load(p, fs_hz=1000, units="V")
    e = tmp_path / "empty.npy"
    np.save(e, np.zeros(0))
    with pytest.raises(edx.EdxError):
        edx.load(e, fs_hz=1000, units="V")
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(edx.FormatError, match="junk.npy"):
        edx.load(junk, fs_hz=1000, units="V")


def test_npz_with_metadata_and_disagreement(tmp_path):
    x = RNG.normal(0, 1, (1, 300))
    p = tmp_path / "m.npz"
    np.savez(p, samples=x, fs_hz=20000.0, unit="mV", channel_names=np.array(["APB"]), stimulus_s=np.array([0.001]))
    rec = edx.load(p)
    assert rec.fs_by_channel == {"APB": 20000.0}
    np.testing.assert_allclose(rec.traces[0].samples_v, x[0] * 1e-3)
    assert [(s.time_s, s.source) for s in rec.stimuli] == [(0.001, "manifest")]
    with pytest.raises(edx.FormatError, match="20000"):
        edx.load(p, fs_hz=10000)
    with pytest.raises(edx.UnitError, match="'mV' but 'uV'"):
        edx.load(p, units="uV")


def test_npz_one_array_per_channel(tmp_path):
    p = tmp_path / "c.npz"
    np.savez(p, TA=np.ones(50), EDB=np.zeros(50))
    rec = edx.load(p, fs_hz=1000, units="uV")
    assert set(rec.channels) == {"TA", "EDB"}


def test_csv_with_time_column_and_units(tmp_path):
    fs = 5000.0
    t = np.arange(200) / fs
    a = RNG.normal(0, 100, 200)
    p = tmp_path / "s.csv"
    lines = ["time_s,APB [uV],ADM (mV)"] + [f"{ti:.6f},{ai:.6f},{ai / 1000:.9f}" for ti, ai in zip(t, a)]
    p.write_text("\n".join(lines) + "\n")
    rec = edx.load(p)
    assert rec.fs_by_channel["APB"] == pytest.approx(fs, rel=1e-6)
    np.testing.assert_allclose(rec.traces_of("APB")[0].samples_v, a * 1e-6, atol=1e-12)
    np.testing.assert_allclose(rec.traces_of("ADM")[0].samples_v, a * 1e-6, atol=1e-12)


def test_csv_without_header_and_bad_csv(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("1.0,2.0\n3.0,4.0\n5.0,6.0\n")
    rec = edx.load(p, fs_hz=100, units="mV")
    np.testing.assert_allclose(rec.traces[0].samples_v, [1e-3, 3e-3, 5e-3])
    bad = tmp_path / "b.csv"
    bad.write_text("a,b\n1,x\n")
    with pytest.raises(edx.FormatError, match="non-numeric"):
        edx.load(bad, fs_hz=100, units="mV")
    jag = tmp_path / "t.csv"
    jag.write_text("time,EMG [uV]\n0,1\n0.001,2\n0.003,3\n")
    with pytest.raises(edx.FormatError, match="uniformly"):
        edx.load(jag)
