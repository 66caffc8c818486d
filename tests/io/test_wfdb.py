"""WFDB records: the PhysioNet emgdb examples and records the tests write with wfdb."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

import edx

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "emgdb"

# (record, samples, min mV, max mV) from the dataset documentation (SOURCE.md)
EMGDB = [
    ("emg_healthy", 50860, -0.515, 1.113),
    ("emg_myopathy", 110337, -0.670, 0.775),
    ("emg_neuropathy", 147858, -3.277, 3.275),
]


@pytest.mark.parametrize("name,n,lo_mv,hi_mv", EMGDB)
def test_physionet_records_load_in_volts(emgdb, name, n, lo_mv, hi_mv):
    rec = edx.load(emgdb / f"{name}.hea")
    (tr,) = rec.traces
    assert rec.format == "WFDB" and tr.fs_hz == 4000.0 and tr.n_samples == n
    assert tr.unit == "V"
    assert tr.samples_v.min() == pytest.approx(lo_mv * 1e-3, abs=1e-6)
    assert tr.samples_v.max() == pytest.approx(hi_mv * 1e-3, abs=1e-6)
    # int16 rails at gain 10000 adu/mV: +-3.2767 mV
    assert tr.clip_range == pytest.approx((-3.2767e-3, 3.2767e-3))
    # loading the .dat resolves to the same record
    assert edx.load(emgdb / f"{name}.dat").traces[0].n_samples == n


def test_lowercase_mv_header_is_millivolts(emgdb):
    """emg_myopathy's header writes 'mv'; the values must equal wfdb's own physical conversion in mV."""
    rec = edx.load(emgdb / "emg_myopathy.hea")
    ref = wfdb.rdrecord(str(emgdb / "emg_myopathy")).p_signal[:, 0]
    np.testing.assert_allclose(rec.traces[0].samples_v, ref * 1e-3, rtol=0, atol=1e-12)


def test_sample_copies_equal_shared_originals(emgdb):
    if not SHARED.exists():
        pytest.skip("shared/ not beside the checkout")
    for name, *_ in EMGDB:
        for ext in (".hea", ".dat"):
            assert (emgdb / f"{name}{ext}").read_bytes() == (SHARED / f"{name}{ext}").read_bytes()


def _write(tmp: Path, units=("uV", "mV"), name="rec") -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    sig = np.column_stack([rng.normal(0, 50, 2000), rng.normal(0, 0.5, 2000)])
    wfdb.wrsamp(name, fs=10_000, units=list(units), sig_name=["TA", "EDB"], p_signal=sig, fmt=["16", "16"],
                adc_gain=[100.0, 10000.0], baseline=[0, 0], write_dir=str(tmp))
    return tmp / f"{name}.hea", sig


def test_written_record_two_units(tmp_path):
    hea, sig = _write(tmp_path)
    rec = edx.load(hea)
    assert rec.channels == ("TA", "EDB")
    np.testing.assert_allclose(rec.traces_of("TA")[0].samples_v, sig[:, 0] * 1e-6, atol=0.5e-6 / 100 + 1e-12)
    np.testing.assert_allclose(rec.traces_of("EDB")[0].samples_v, sig[:, 1] * 1e-3, atol=0.5e-3 / 10000 + 1e-12)


def test_unknown_unit_and_override(tmp_path):
    hea, sig = _write(tmp_path, units=("furlong", "mV"))
    with pytest.raises(edx.UnitError, match=r"rec.hea.*'TA'.*furlong"):
        edx.load(hea)
    rec = edx.load(hea, units={"TA": "uV"})
    np.testing.assert_allclose(rec.traces_of("TA")[0].samples_v, sig[:, 0] * 1e-6, atol=1e-8)


def test_invalid_sample_code_is_refused(tmp_path):
    hea, _ = _write(tmp_path)
    dat = hea.with_suffix(".dat")
    raw = bytearray(dat.read_bytes())
    raw[40:42] = (-32768).to_bytes(2, "little", signed=True)  # frame 10, channel TA
    dat.write_bytes(bytes(raw))
    with pytest.raises(edx.SignalQualityError, match="invalid-sample code.*index 10"):
        edx.load(hea)


def test_corrupt_header_and_missing_signal_file(tmp_path):
    hea, _ = _write(tmp_path)
    good = hea.read_text()
    hea.write_text("rec x 10000 2000\n" + good.split("\n", 1)[1])
    with pytest.raises(edx.FormatError, match="rec.hea"):
        edx.load(hea)
    hea.write_text(good)
    hea.with_suffix(".dat").unlink()
    with pytest.raises(edx.EdxError, match="rec"):
        edx.load(hea)


def test_truncated_signal_file(tmp_path):
    hea, _ = _write(tmp_path)
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:1001])
    with pytest.raises(edx.EdxError):
        edx.load(hea)


def test_stimulus_annotations_from_annotation_file(tmp_path):
    hea, _ = _write(tmp_path)
    wfdb.wrann("rec", "atr", np.array([100, 1100]), symbol=["\"", "\""], aux_note=["stim", "stim"],
               fs=10_000, write_dir=str(tmp_path))
    rec = edx.load(hea)
    assert [(s.time_s, s.source) for s in rec.stimuli] == [(0.01, "annotation"), (0.11, "annotation")]


def test_copy_of_record_elsewhere(tmp_path, emgdb):
    for ext in (".hea", ".dat"):
        shutil.copy(emgdb / f"emg_healthy{ext}", tmp_path / f"emg_healthy{ext}")
    assert edx.load(tmp_path / "emg_healthy.hea").traces[0].n_samples == 50860
