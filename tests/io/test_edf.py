"""EDF / EDF+C / EDF+D / BDF reading, checked against edfio and mne on the same files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import numpy as np
import pytest

import edx
from edx.io.edf import parse_prefiltering
from edx.io.edf_write import EdfChannel, write_edf

RNG = np.random.default_rng(7)


def _edfio_file(path: Path, *, bdf: bool = False, annotations=None) -> tuple[np.ndarray, np.ndarray]:
    """Two channels at different rates written by edfio; returns the exact physical values stored."""
    fs1, fs2, dur = 10_000, 2_000, 2.0
    a = RNG.normal(0, 500.0, int(fs1 * dur))  # uV
    b = RNG.normal(0, 2.0, int(fs2 * dur))  # mV
    sig_cls = edfio.BdfSignal if bdf else edfio.EdfSignal
    sigs = [
        sig_cls(a, fs1, label="APB", physical_dimension="uV", physical_range=(-4000, 4000), prefiltering="HP:2Hz LP:10kHz"),
        sig_cls(b, fs2, label="ADM", physical_dimension="mV", physical_range=(-10, 10)),
    ]
    cls = edfio.Bdf if bdf else edfio.Edf
    f = cls(sigs, starttime=dt.time(9, 30, 0), annotations=annotations)
    f.write(path)
    back = (edfio.read_bdf if bdf else edfio.read_edf)(path)
    return back.signals[0].data, back.signals[1].data


@pytest.mark.parametrize("bdf", [False, True])
def test_continuous_file_matches_edfio_and_keeps_rates(tmp_path, bdf):
    p = tmp_path / ("x.bdf" if bdf else "x.edf")
    ann = [edfio.EdfAnnotation(0.25, None, "Stim 25 mA"), edfio.EdfAnnotation(1.5, 0.5, "movement")]
    a_uv, b_mv = _edfio_file(p, bdf=bdf, annotations=ann)
    rec = edx.load(p)
    assert rec.format == ("BDF+C" if bdf else "EDF+C")
    assert rec.continuous
    assert rec.fs_by_channel == {"APB": 10_000.0, "ADM": 2_000.0}, "mixed rates must stay at their own rates"
    (apb,) = rec.traces_of("APB")
    (adm,) = rec.traces_of("ADM")
    np.testing.assert_allclose(apb.samples_v, a_uv * 1e-6, rtol=0, atol=1e-12)
    np.testing.assert_allclose(adm.samples_v, b_mv * 1e-3, rtol=0, atol=1e-12)
    assert apb.filters is not None and apb.filters.highpass_hz == 2.0 and apb.filters.lowpass_hz == 10_000.0
    assert apb.clip_range == pytest.approx((-4000e-6, 4000e-6))
    assert [(s.time_s, s.source, s.intensity_ma) for s in rec.stimuli] == [(0.25, "annotation", 25.0)]
    assert [(a.onset_s, a.duration_s, a.text) for a in rec.annotations] == [(1.5, 0.5, "movement")]
    assert rec.start_datetime is not None and rec.start_datetime.time() == dt.time(9, 30, 0)
    assert rec.sweeps == ()


def test_plain_edf_without_annotations_matches_mne(tmp_path):
    import mne

    p = tmp_path / "plain.edf"
    a_uv, _ = _edfio_file(p)
    rec = edx.load(p)
    assert rec.format == "EDF"
    raw = mne.io.read_raw_edf(p, preload=True, verbose="error")
    # mne resamples mixed-rate files to the highest rate; compare the channel stored at that rate
    np.testing.assert_allclose(rec.traces_of("APB")[0].samples_v, raw.get_data(picks=["APB"])[0], atol=1e-12)


def _sweep_file(path: Path, *, bdf: bool = False, unit: str = "mV") -> tuple[np.ndarray, list[float]]:
    fs, rec_s = 20_000, 0.04
    n = 6
    onsets = [0.0, 1.0, 2.0, 3.5, 3.54, 7.25]  # 3.54 abuts the previous record: contiguous there
    x = RNG.normal(0, 1e-4, int(fs * rec_s) * n)
    ann = [(o + 0.005, None, "Stimulus 30.0 mA 0.1 ms") for o in onsets] + [(3.0, None, "patient moved")]
    write_edf(
        path, [EdfChannel("TA", fs, x, unit=unit, prefiltering="HP:20Hz LP:10kHz")],
        record_duration_s=rec_s, record_onsets_s=onsets, annotations=ann, bdf=bdf,
        start_datetime=dt.datetime(2026, 3, 14, 10, 0, 0),
    )
    return x, onsets


@pytest.mark.parametrize("bdf", [False, True])
def test_discontinuous_keeps_true_record_times(tmp_path, bdf):
    p = tmp_path / ("sweeps.bdf" if bdf else "sweeps.edf")
    x, onsets = _sweep_file(p, bdf=bdf)
    rec = edx.load(p)
    assert rec.format == ("BDF+D" if bdf else "EDF+D")
    assert not rec.continuous
    # one sweep per data record, each at its true start
    assert [s.start_s for s in rec.sweeps] == pytest.approx(onsets)
    assert all(s.stimulus_indices == (100,) for s in rec.sweeps)  # 5 ms at 20 kHz
    assert all(s.stimulus_source == "annotation" and s.intensity_ma == 30.0 for s in rec.sweeps)
    assert all(s.stimulus_duration_ms == pytest.approx(0.1) for s in rec.sweeps)
    # contiguous records merge into one block; gaps split blocks
    assert [round(t.start_s, 6) for t in rec.traces] == [0.0, 1.0, 2.0, 3.5, 7.25]
    got = np.concatenate([s.samples_v for s in rec.sweeps])
    lsb = (2 * np.max(np.abs(x)) * 1.06) / (2 ** (24 if bdf else 16))
    assert np.max(np.abs(got - x)) <= lsb
    assert [a.onset_s for a in rec.annotations] == pytest.approx([3.0])
    # the stimuli are where the file put them, not shifted by the gaps
    assert [s.time_s for s in rec.stimuli] == pytest.approx([o + 0.005 for o in onsets])


def test_edf_plus_d_is_misread_as_continuous_by_mne(tmp_path):
    """Document why edx parses EDF+D itself: mne shifts everything after the first gap."""
    import mne

    p = tmp_path / "sweeps.edf"
    _sweep_file(p)
    raw = mne.io.read_raw_edf(p, preload=False, verbose="error")
    assert raw.n_times / raw.info["sfreq"] == pytest.approx(6 * 0.04)  # gaps vanished
    assert edx.load(p).duration_s == pytest.approx(7.25 + 0.04)


def test_units_override_and_unknown_units(tmp_path):
    p = tmp_path / "u.edf"
    x = RNG.normal(0, 1, 1000)
    write_edf(p, [EdfChannel("EMG", 1000, x * 1e-6, unit="uV")], record_duration_s=1.0)
    rec = edx.load(p)
    np.testing.assert_allclose(rec.traces[0].samples_v, x * 1e-6, atol=2 * np.max(np.abs(x)) * 1e-6 / 65536)
    # force a different interpretation: the numbers are then millivolts
    rec_mv = edx.load(p, units={"EMG": "mV"})
    np.testing.assert_allclose(rec_mv.traces[0].samples_v, rec.traces[0].samples_v * 1e3)
    bad = tmp_path / "bad_unit.edf"
    raw = bytearray(p.read_bytes())
    # physical dimension field of signal 0 sits after 16 label + 80 transducer bytes of the 1 signal (+1 annotation)
    ns = int(raw[252:256])
    off = 256 + 16 * ns + 80 * ns
    raw[off : off + 8] = b"furlong "
    bad.write_bytes(bytes(raw))
    with pytest.raises(edx.UnitError, match=r"bad_unit.edf.*'EMG'.*furlong"):
        edx.load(bad)
    rec2 = edx.load(bad, units="uV")
    np.testing.assert_allclose(rec2.traces[0].samples_v, rec.traces[0].samples_v)


def test_trigger_channel_and_channel_selection(tmp_path):
    p = tmp_path / "trig.edf"
    fs = 5000
    trig = np.zeros(fs)
    for t0 in (0.1, 0.4, 0.7):
        trig[int(t0 * fs) : int(t0 * fs) + 5] = 5.0
    emg = RNG.normal(0, 1e-5, fs)
    write_edf(
        p,
        [EdfChannel("EMG", fs, emg, unit="uV"), EdfChannel("Trigger", fs, trig, unit="V")],
        record_duration_s=1.0,
        plus=False,
    )
    rec = edx.load(p)
    assert [(round(s.time_s, 6), s.source) for s in rec.stimuli] == [
        (0.1, "trigger_channel"), (0.4, "trigger_channel"), (0.7, "trigger_channel")
    ]
    only = edx.load(p, channels=["EMG"])
    assert only.channels == ("EMG",) and only.stimuli == ()
    with pytest.raises(edx.FormatError, match="not in file"):
        edx.load(p, channels=["nope"])


def test_artifact_detection_fallback_and_manifest_times(tmp_path):
    fs = 20_000
    x = RNG.normal(0, 5e-6, fs)
    for t0 in (0.2, 0.6):
        i = int(t0 * fs)
        x[i : i + 4] += np.array([3e-3, -2e-3, 1e-3, -0.5e-3])  # several-mV artifact
        # a large but physiological CMAP-like wave 3 ms later (slow slope)
        k = np.arange(200)
        x[i + 60 : i + 260] += -5e-3 * np.sin(np.pi * k / 200) ** 2
    p = tmp_path / "art.edf"
    write_edf(p, [EdfChannel("APB", fs, x, unit="mV")], record_duration_s=1.0, plus=False)
    assert edx.load(p).stimuli == ()
    rec = edx.load(p, detect_stimulus=True)
    assert [s.source for s in rec.stimuli] == ["artifact", "artifact"]
    assert [s.time_s for s in rec.stimuli] == pytest.approx([0.2, 0.6], abs=0.5 / fs)  # first artifact sample
    rec_m = edx.load(p, stimulus_s=[0.2, 0.6], detect_stimulus=True)
    assert [s.source for s in rec_m.stimuli] == ["manifest", "manifest"], "manifest marks outrank detection"


def test_prefiltering_parser():
    f = parse_prefiltering("HP:0.5Hz LP:3kHz N:50Hz")
    assert (f.highpass_hz, f.lowpass_hz, f.notch_hz) == (0.5, 3000.0, 50.0)
    assert parse_prefiltering("HP:DC").highpass_hz == 0.0
    assert parse_prefiltering("") is None
    assert parse_prefiltering("none") is None


# ---------------------------------------------------------------- bad input


@pytest.fixture()
def good_edf(tmp_path) -> Path:
    p = tmp_path / "good.edf"
    write_edf(
        p, [EdfChannel("EMG", 1000, RNG.normal(0, 1e-4, 3000), unit="uV")],
        record_duration_s=1.0, annotations=[(0.5, None, "Stim")],
    )
    return p


def _mutate(src: Path, dst: Path, offset: int, value: bytes) -> Path:
    raw = bytearray(src.read_bytes())
    raw[offset : offset + len(value)] = value
    dst.write_bytes(bytes(raw))
    return dst


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(edx.MissingFileError, match="nothere.edf"):
        edx.load(tmp_path / "nothere.edf")
    q = tmp_path / "data.xyz"
    q.write_bytes(b"123")
    with pytest.raises(edx.FormatError, match=r"data.xyz.*unknown file type '.xyz'"):
        edx.load(q)


def test_truncated_edf(good_edf, tmp_path):
    raw = good_edf.read_bytes()
    cut = tmp_path / "cut.edf"
    cut.write_bytes(raw[:-7])
    with pytest.raises(edx.FormatError, match=r"cut.edf: truncated.*3 data records"):
        edx.load(cut)
    head_only = tmp_path / "head.edf"
    head_only.write_bytes(raw[:300])
    with pytest.raises(edx.FormatError, match="head.edf"):
        edx.load(head_only)
    tiny = tmp_path / "tiny.edf"
    tiny.write_bytes(raw[:100])
    with pytest.raises(edx.FormatError, match="too short"):
        edx.load(tiny)
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    with pytest.raises(edx.FormatError, match="too short"):
        edx.load(empty)


def test_header_that_lies_about_records(good_edf, tmp_path):
    more = _mutate(good_edf, tmp_path / "more.edf", 236, b"4       ")
    with pytest.raises(edx.FormatError, match="truncated: header promises 4"):
        edx.load(more)
    fewer = _mutate(good_edf, tmp_path / "fewer.edf", 236, b"2       ")
    with pytest.raises(edx.FormatError, match="record count or sizes are wrong"):
        edx.load(fewer)
    # samples-per-record of signal 0 (ns = 2): after label, transducer, dim, pmin, pmax, dmin, dmax, prefilt
    ns = 2
    spr_off = 256 + ns * (16 + 80 + 8 * 5 + 80)
    bigger = _mutate(good_edf, tmp_path / "spr.edf", spr_off, b"1001    ")
    with pytest.raises(edx.FormatError, match="spr.edf"):
        edx.load(bigger)
    hb = _mutate(good_edf, tmp_path / "hb.edf", 184, b"999     ")
    with pytest.raises(edx.FormatError, match="header size field"):
        edx.load(hb)
    nan = _mutate(good_edf, tmp_path / "nrec.edf", 236, b"abc     ")
    with pytest.raises(edx.FormatError, match="number of data records.*'abc'"):
        edx.load(nan)
    # unfinished recording: -1 records is allowed and taken from the size
    unfinished = _mutate(good_edf, tmp_path / "unf.edf", 236, b"-1      ")
    assert edx.load(unfinished).traces[0].n_samples == 3000


def test_impossible_signal_headers(good_edf, tmp_path):
    ns = 2
    pmin_off = 256 + ns * (16 + 80 + 8)
    pmax_off = pmin_off + 8 * ns
    dmin_off = pmax_off + 8 * ns
    flat = good_edf.read_bytes()[pmin_off : pmin_off + 8]
    same = _mutate(good_edf, tmp_path / "same.edf", pmax_off, flat)
    with pytest.raises(edx.FormatError, match="physical minimum equals maximum"):
        edx.load(same)
    dig = _mutate(good_edf, tmp_path / "dig.edf", dmin_off, b"40000   ")
    with pytest.raises(edx.FormatError, match="digital minimum"):
        edx.load(dig)
    notedf = _mutate(good_edf, tmp_path / "ver.edf", 0, b"XYZ     ")
    with pytest.raises(edx.FormatError, match="not an EDF/BDF file"):
        edx.load(notedf)


def test_missing_timekeeping_annotation(good_edf, tmp_path):
    raw = bytearray(good_edf.read_bytes())
    hb = int(raw[184:192])
    # first data record: 1000 int16 samples of EMG, then the annotation signal
    start = hb + 2000
    raw[start : start + 4] = b"\x00\x00\x00\x00"
    bad = tmp_path / "notk.edf"
    bad.write_bytes(bytes(raw))
    with pytest.raises(edx.FormatError, match="record 0"):
        edx.load(bad)


def test_zero_records_is_a_zero_length_signal(good_edf, tmp_path):
    raw = good_edf.read_bytes()
    hb = int(raw[184:192])
    empty = tmp_path / "zero.edf"
    empty.write_bytes(raw[:236] + b"0       " + raw[244:hb])
    with pytest.raises(edx.FormatError, match="zero-length"):
        edx.load(empty)


def test_writer_refuses_samples_beyond_a_given_range(tmp_path):
    """A sample beyond the physical range would be stored at the rail and read back as
    another value: an error naming it, unless the caller asks for the rails (clip=True)."""
    x = np.zeros(1000)
    x[10] = 5.2e-3  # 5200 uV in a +-5000 uV range
    x[500] = -6e-3
    p = tmp_path / "over.edf"
    with pytest.raises(ValueError, match=r"APB: 2 sample\(s\) outside the physical range .*sample 10"):
        write_edf(p, [EdfChannel("APB", 1000, x, unit="uV", physical_range=(-5000, 5000))], record_duration_s=1.0)
    assert not p.exists()  # nothing half-written
    # within the range (the rail itself included): written as given
    y = np.clip(x, -5e-3, 5e-3)
    write_edf(p, [EdfChannel("APB", 1000, y, unit="uV", physical_range=(-5000, 5000))], record_duration_s=1.0)
    tr = edx.load(p).traces[0]
    assert tr.samples_v[10] == pytest.approx(5e-3, abs=2e-7) and tr.samples_v[500] == pytest.approx(-5e-3, abs=2e-7)
    # clip=True: stored at the rails, which the reader knows as the clip range
    q = tmp_path / "clipped.edf"
    write_edf(q, [EdfChannel("APB", 1000, x, unit="uV", physical_range=(-5000, 5000), clip=True)],
              record_duration_s=1.0)
    tr = edx.load(q).traces[0]
    assert tr.samples_v[10] == pytest.approx(5e-3, abs=2e-7) and tr.samples_v[500] == pytest.approx(-5e-3, abs=2e-7)
    assert tr.clip_range == pytest.approx((-5e-3, 5e-3))
    with pytest.raises(ValueError, match="empty"):
        write_edf(p, [EdfChannel("APB", 1000, y, unit="uV", physical_range=(5000, -5000))], record_duration_s=1.0)
