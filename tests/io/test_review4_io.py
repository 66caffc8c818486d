"""Loader defects found in review 4: each test holds the file that showed the defect."""

from __future__ import annotations

from pathlib import Path

import edfio
import numpy as np
import pytest

import edx
from edx.io import edf as edf_mod
from edx.io.edf_write import EdfChannel, write_edf


def _raw_edf(path: Path, dims: list[bytes], spr: int = 10, n_records: int = 2) -> np.ndarray:
    """Plain EDF, one record of ``spr`` int16 samples per signal, physical = digital / 10."""
    ns = len(dims)

    def f(v: object, w: int) -> bytes:
        return (v if isinstance(v, bytes) else str(v).encode("ascii")).ljust(w)[:w]

    h = f("0", 8) + f("X", 80) + f("X", 80) + f("01.01.20", 8) + f("10.00.00", 8)
    h += f(256 * (ns + 1), 8) + f("", 44) + f(n_records, 8) + f(1, 8) + f(ns, 4)
    cols = {
        16: [f"C{i}" for i in range(ns)], 80: [""] * ns,
    }
    h += b"".join(f(c, 16) for c in cols[16]) + b"".join(f(c, 80) for c in cols[80])
    h += b"".join(f(d, 8) for d in dims)
    for v in ("-3276.8", "3276.7", "-32768", "32767"):
        h += b"".join(f(v, 8) for _ in dims)
    h += b"".join(f("", 80) for _ in dims) + b"".join(f(spr, 8) for _ in dims) + b"".join(f("", 32) for _ in dims)
    d = (np.arange(spr * n_records * ns, dtype="<i2") % 97 - 48) * 10
    body = b"".join(d[(r * ns + i) * spr : (r * ns + i + 1) * spr].tobytes() for r in range(n_records) for i in range(ns))
    path.write_bytes(h + body)
    return d


def test_utf8_micro_sign_in_edf_unit(tmp_path):
    # UTF-8 "µV" (C2 B5 56) was read as the unknown unit 'ÂuV'
    p = tmp_path / "utf8.edf"
    d = _raw_edf(p, ["µV".encode("utf-8"), "µV".encode("latin-1")])
    rec = edx.load(p)
    for ch in ("C0", "C1"):
        x = rec.traces_of(ch)[0].samples_v
        assert rec.traces_of(ch)[0].unit == "V"
        assert np.abs(x).max() < 1e-2  # microvolts, not volts
    np.testing.assert_allclose(rec.traces_of("C0")[0].samples_v[:10], d[:10] / 10 * 1e-6, rtol=1e-9)


def test_one_channel_decodes_only_that_channel(tmp_path, monkeypatch):
    p = tmp_path / "many.edf"
    _raw_edf(p, [b"uV"] * 6, spr=100)
    seen = {}
    real = edf_mod._decode_records

    def spy(hdr, body, wanted=None):
        out = real(hdr, body, wanted)
        seen["decoded"] = [i for i, v in enumerate(out) if v is not None]
        return out

    monkeypatch.setattr(edf_mod, "_decode_records", spy)
    full = edx.load(p)
    one = edx.load(p, channels=["C3"])
    assert seen["decoded"] == [3]
    np.testing.assert_array_equal(one.traces[0].samples_v, full.traces_of("C3")[0].samples_v)


def test_missing_channel_error_lists_the_files_channels(tmp_path):
    # it said "channels are []": only the requested channels had been built
    p = tmp_path / "c.edf"
    _raw_edf(p, [b"uV", b"uV"])
    with pytest.raises(edx.FormatError, match=r"\['APX'\] not in file; channels are \['C0', 'C1'\]"):
        edx.load(p, channels=["APX"])


def test_writer_timekeeping_tal_is_readable_by_edfio(tmp_path):
    # "+0\x14\x00" (no empty annotation) made edfio refuse every file edx wrote
    p = tmp_path / "d.edf"
    x = np.random.default_rng(1).normal(0, 1e-4, 800 * 3)
    write_edf(p, [EdfChannel("APB", 20_000, x, unit="mV")], record_duration_s=0.04,
              record_onsets_s=[0.0, 1.0, 2.5], annotations=[(1.005, None, "Stimulus 20 mA")])
    back = edfio.read_edf(p)
    assert [(a.onset, a.text) for a in back.annotations] == [(1.005, "Stimulus 20 mA")]
    rec = edx.load(p)
    assert [s.time_s for s in rec.stimuli] == [1.005]


def test_writer_micro_sign_unit_and_non_ascii_label(tmp_path):
    # "µV" was written as "?V", a file edx itself could not read back
    x = np.random.default_rng(2).normal(0, 1e-4, 2000)
    p = write_edf(tmp_path / "mu.edf", [EdfChannel("APB", 1000, x, unit="µV")], record_duration_s=1.0)
    rec = edx.load(p)
    assert np.abs(rec.traces[0].samples_v - x).max() < 1e-7
    with pytest.raises(ValueError, match="not ASCII"):
        write_edf(tmp_path / "lab.edf", [EdfChannel("Ab. hallucis é", 1000, x)], record_duration_s=1.0)


def test_blink_reflex_r1_is_not_a_stimulus(tmp_path):
    p = tmp_path / "blink.edf"
    x = np.zeros(2000)
    write_edf(p, [EdfChannel("OOc", 10_000, x, unit="uV")], record_duration_s=0.1,
              annotations=[(0.01, None, "Stim 12 mA"), (0.0215, None, "R1"), (0.045, None, "R2")])
    rec = edx.load(p)
    assert [s.time_s for s in rec.stimuli] == [0.01]
    assert [a.text for a in rec.annotations] == ["R1", "R2"]


def test_csv_column_unit_is_not_overridden_by_a_unit_for_the_others(tmp_path):
    # "APB [mV],ADM" with units={'ADM': 'uV'}: APB was read in uV (1000 x too small)
    p = tmp_path / "mix.csv"
    p.write_text("time,APB [mV],ADM\n" + "".join(f"{i / 1000},1.0,2.0\n" for i in range(50)))
    rec = edx.load(p, units={"ADM": "uV"})
    assert rec.traces_of("APB")[0].samples_v[0] == pytest.approx(1e-3)
    assert rec.traces_of("ADM")[0].samples_v[0] == pytest.approx(2e-6)
    with pytest.raises(edx.UnitError, match="file says unit 'mV' but 'uV'"):
        edx.load(p, units="uV")
    # the same unit spelled otherwise is no conflict
    q = tmp_path / "mu.csv"
    q.write_text("APB [µV]\n" + "".join(f"{i}\n" for i in range(50)))
    assert edx.load(q, units="uV", fs_hz=1000).traces[0].samples_v[3] == pytest.approx(3e-6)


@pytest.mark.parametrize(
    "text",
    [
        "time;APB [uV]\n" + "".join(f"0,{i:03d};{i % 7},5\n" for i in range(50)),  # decimal commas, semicolons
        "time,APB [uV]\n" + "".join(f"0,{i:03d},{i % 7},5\n" for i in range(50)),  # decimal commas, commas
    ],
)
def test_csv_with_decimal_commas_is_refused(tmp_path, text):
    # the first read as channel 'time;APB' holding only the digits after the comma (5 uV)
    p = tmp_path / "eu.csv"
    p.write_text(text)
    with pytest.raises(edx.FormatError, match="decimal comma|semicolons"):
        edx.load(p, fs_hz=1000, units="uV")


@pytest.mark.parametrize(
    "spec, message",
    [("w.dat 16 0/mV 16 0 0 0 0 APB", "uncalibrated"), ("w.dat 16", "uncalibrated \\(ADC gain missing\\)")],
)
def test_wfdb_zero_or_missing_gain_is_uncalibrated(tmp_path, spec, message):
    # wfdb replaces a 0 or missing gain by 200: the channel read as calibrated mV
    (np.arange(20, dtype="<i2") * 10).tofile(tmp_path / "w.dat")
    (tmp_path / "w.hea").write_text(f"w 1 1000 20\n{spec}\n")
    with pytest.raises(edx.UnitError, match=message):
        edx.load(tmp_path / "w.hea")


def test_wfdb_micro_sign_unit(tmp_path):
    # wfdb drops non-ASCII header characters: "µV" became "V" (10^6 too large)
    d = np.arange(20, dtype="<i2") * 10 - 100
    d.tofile(tmp_path / "w.dat")
    (tmp_path / "w.hea").write_bytes("w 1 1000 20\nw.dat 16 200(-5)/µV 16 0 0 0 0 APB\n".encode("utf-8"))
    rec = edx.load(tmp_path / "w.hea")
    np.testing.assert_allclose(rec.traces[0].samples_v, (d + 5) / 200 * 1e-6, rtol=1e-12)


def test_csv_time_column_without_unit_too_slow_is_refused(tmp_path):
    """A time column without a unit is read in seconds; written in ms (0.05 ms steps) it gave
    fs = 20 Hz silently.  Below 500 Hz that is refused, naming the fix; with its unit it loads."""
    p = tmp_path / "ms.csv"
    p.write_text("time,APB [uV]\n" + "".join(f"{i * 0.05:.2f},{i % 5}\n" for i in range(200)))
    with pytest.raises(edx.UnitError, match=r"no unit; read as seconds it gives 20 Hz"):
        edx.load(p)
    q = tmp_path / "ms_unit.csv"
    q.write_text("time [ms],APB [uV]\n" + "".join(f"{i * 0.05:.2f},{i % 5}\n" for i in range(200)))
    assert edx.load(q).traces[0].fs_hz == pytest.approx(20_000.0)


def test_pulse_oximeter_note_is_not_a_stimulus(tmp_path):
    p = tmp_path / "ox.edf"
    write_edf(p, [EdfChannel("APB", 10_000, np.zeros(2000), unit="uV")], record_duration_s=0.1,
              annotations=[(0.01, None, "Pulse"), (0.05, None, "Pulse ox off"), (0.12, None, "stim pulse 2")])
    rec = edx.load(p)
    assert [s.time_s for s in rec.stimuli] == [0.01, 0.12]
