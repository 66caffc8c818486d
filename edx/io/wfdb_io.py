"""WFDB records (``.hea`` header + signal files) through the ``wfdb`` package.

Samples are read as integers and converted with each channel's ADC gain and
baseline ourselves, so that the converter rails are known (clipping can be
detected later) and WFDB's "invalid sample" code is reported instead of turning
into NaN.  Channels with several samples per frame keep their own, higher rate
(``smooth_frames=False``): nothing is resampled.  Unit spellings such as ``"mv"``
(as in PhysioNet's ``emg_myopathy``) are accepted; unknown units are an error.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from pathlib import Path

import numpy as np

from ..errors import FormatError, SignalQualityError, UnitError
from ..model import Annotation, Recording, Trace
from ._common import LoadOptions, channel_scale, choose_stimuli, reading, select_channels, split_stimuli, unit_override

log = logging.getLogger("edx.io")

__all__ = ["read"]

# WFDB's code for an invalid (missing) sample, per storage format.
_INVALID = {"16": -32768, "61": -32768, "80": -128, "160": -32768, "212": -2048, "310": -512, "311": -512, "24": -(2**23), "32": -(2**31), "8": -128}
_BITS = {"8": 8, "16": 16, "61": 16, "80": 8, "160": 16, "212": 12, "310": 10, "311": 10, "24": 24, "32": 32}
#: annotation files looked for beside the record (stimulus marks)
ANNOTATORS = ("atr", "stim", "ann", "trigger")


def read(path: Path, opts: LoadOptions, fmt: str = "WFDB") -> Recording:
    """Read a WFDB record given its ``.hea`` (or ``.dat``) path (see :func:`edx.load`)."""
    stem = path.with_suffix("")
    hea = stem.with_suffix(".hea")
    with reading(hea, "WFDB record"):
        import wfdb

        text = hea.read_bytes()
        if b"\x00" in text:
            raise FormatError(f"{hea}: WFDB header contains binary data (NUL bytes); not a WFDB header")
        own_fields = _signal_fields(text)
        header = wfdb.rdheader(str(stem))
        _check_sizes(header, stem.parent, hea)
        rec = wfdb.rdrecord(str(stem), physical=False, smooth_frames=False, m2s=True, return_res=64)
        if rec.n_sig is None or rec.n_sig < 1 or not rec.e_d_signal:
            raise FormatError(f"{hea}: record has no signals")
        if rec.fs is None or not np.isfinite(rec.fs) or rec.fs <= 0:
            raise FormatError(f"{hea}: sampling frequency {rec.fs!r} is not a positive number")
        traces: list[Trace] = []
        names = _names(rec.sig_name, rec.n_sig)
        if opts.channels is not None:
            missing = [c for c in opts.channels if c not in names]
            if missing:  # name every channel of the record, not only the ones kept
                raise FormatError(f"{hea}: channel(s) {missing} not in file; channels are {sorted(names)}")
        for i in range(rec.n_sig):
            label = names[i]
            if opts.channels is not None and label not in opts.channels:
                continue
            d = np.asarray(rec.e_d_signal[i])
            spf = int(rec.samps_per_frame[i]) if rec.samps_per_frame else 1
            fs = float(rec.fs) * spf
            fmt_i = str(rec.fmt[i]) if rec.fmt else "16"
            invalid = _INVALID.get(fmt_i)
            if d.size == 0:
                raise SignalQualityError(f"{hea}: channel {label!r}: zero-length signal (no samples)")
            if invalid is not None:
                n_bad = int(np.count_nonzero(d == invalid))
                if n_bad:
                    first = int(np.flatnonzero(d == invalid)[0])
                    raise SignalQualityError(
                        f"{hea}: channel {label!r}: {n_bad} sample(s) carry WFDB's invalid-sample code, "
                        f"first at index {first}; edx does not interpolate over gaps"
                    )
            gain = float(rec.adc_gain[i])
            own = own_fields[i] if own_fields is not None and i < len(own_fields) else None
            if own is not None and not own[0]:
                # wfdb substitutes its default 200 for a zero or missing gain; the
                # header format says such a signal is uncalibrated
                gain = 0.0 if own[0] == 0 else float("nan")
            if not np.isfinite(gain) or gain == 0:
                raise UnitError(
                    f"{hea}: channel {label!r} is uncalibrated (ADC gain {'missing' if math.isnan(gain) else gain}): "
                    "the header does not say how "
                    "counts map to a physical unit"
                )
            baseline = float(rec.baseline[i])
            # the header's own unit text: wfdb drops non-ASCII characters ("µV" read as "V")
            file_unit = own[1] if own is not None and own[1] else (rec.units[i] if rec.units else "")
            unit_text = unit_override(opts.units, label) or file_unit
            unit, factor = channel_scale(unit_text or "", label, str(hea))
            x = (d.astype(np.float64) - baseline) * (factor / gain)
            bits = _BITS.get(fmt_i)
            rails = None
            if bits is not None:
                lo_d = -(2 ** (bits - 1)) + 1 if invalid is not None else -(2 ** (bits - 1))
                hi_d = 2 ** (bits - 1) - 1
                lo, hi = sorted(((lo_d - baseline) * factor / gain, (hi_d - baseline) * factor / gain))
                rails = (lo, hi)
            traces.append(Trace(label, fs, x, start_s=0.0, unit=unit, clip_range=rails))
        traces = select_channels(traces, opts.channels, str(hea))
        annotations = _read_annotations(stem, rec.fs)
        ann_stim, others = split_stimuli(annotations, opts.stimulus_label)
        stimuli = choose_stimuli(source=str(hea), annotation_stimuli=ann_stim, traces=traces, options=opts)
        start = None
        if rec.base_datetime is not None:
            start = rec.base_datetime
        elif rec.base_time is not None and rec.base_date is not None:
            start = _dt.datetime.combine(rec.base_date, rec.base_time)
        return Recording(
            traces=tuple(traces),
            stimuli=tuple(stimuli),
            annotations=tuple(others),
            start_datetime=start,
            source=str(hea),
            format="WFDB",
            continuous=True,
            metadata={"record": rec.record_name, "comments": list(rec.comments or [])},
        )


_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "61": 2.0, "80": 1.0, "160": 2.0, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
                     "24": 3.0, "32": 4.0}


def _check_sizes(header: object, folder: Path, hea: Path) -> None:
    """Refuse a header whose signal length the signal files cannot hold (truncated or lying)."""
    sig_len = getattr(header, "sig_len", None)
    n_sig = getattr(header, "n_sig", None) or 0
    if getattr(header, "seg_name", None) is not None:  # multi-segment: each segment is checked by wfdb
        return
    if not sig_len or n_sig < 1:
        return
    per_file: dict[str, float] = {}
    offsets: dict[str, int] = {}
    for i in range(n_sig):
        fname = header.file_name[i]
        fmt = str(header.fmt[i])
        bps = _BYTES_PER_SAMPLE.get(fmt)
        if bps is None:  # compressed (FLAC) formats: sizes cannot be predicted
            return
        spf = int(header.samps_per_frame[i]) if header.samps_per_frame else 1
        per_file[fname] = per_file.get(fname, 0.0) + bps * spf
        offsets[fname] = int(header.byte_offset[i] or 0) if header.byte_offset else 0
    for fname, frame_bytes in per_file.items():
        f = folder / fname
        if not f.exists():
            raise FormatError(f"{hea}: signal file {fname!r} named by the header is missing")
        need = int(np.ceil(frame_bytes * sig_len)) + offsets[fname]
        have = f.stat().st_size
        if have < need:
            raise FormatError(
                f"{hea}: signal file {fname!r} holds {have} bytes but the header's {sig_len} samples need {need}: "
                "the file is truncated or the header is wrong"
            )


_GAIN_FIELD = re.compile(r"^(?P<gain>[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)?(?:\((?P<base>[-+]?\d+)\))?(?:/(?P<unit>\S+))?$", re.I)


def _signal_fields(text: bytes) -> list[tuple[float | None, str | None]] | None:
    """Per signal line of a single-segment header: (ADC gain or None if absent, unit text or None).

    Read from the header text itself, because wfdb reads the header as ASCII with
    the other characters dropped and replaces a zero or missing gain by 200.
    None when the header is not a single-segment header this parser understands.
    """
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        decoded = text.decode("latin-1")
    lines = [ln.strip() for ln in decoded.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return None
    rec_tokens = lines[0].split()
    if len(rec_tokens) < 2 or "/" in rec_tokens[0] or not rec_tokens[1].isdigit():
        return None
    out: list[tuple[float | None, str | None]] = []
    for line in lines[1 : 1 + int(rec_tokens[1])]:
        tokens = line.split()
        if len(tokens) < 3:
            out.append((None, None))
            continue
        m = _GAIN_FIELD.match(tokens[2])
        if m is None:
            return None
        out.append((float(m.group("gain")) if m.group("gain") else None, m.group("unit")))
    return out


def _names(raw: list[str] | None, n: int) -> list[str]:
    names = list(raw or [])
    names += [f"ch{i}" for i in range(len(names), n)]
    out: list[str] = []
    for j, nm in enumerate(names):
        nm = nm or f"ch{j}"  # a signal line without a description
        base, k = nm, 1
        while nm in out:
            k += 1
            nm = f"{base} ({k})"
        out.append(nm)
    return out


def _read_annotations(stem: Path, fs: float) -> list[Annotation]:
    import wfdb

    out: list[Annotation] = []
    for ext in ANNOTATORS:
        f = stem.with_suffix("." + ext)
        if not f.exists():
            continue
        ann = wfdb.rdann(str(stem), ext)
        afs = float(ann.fs) if ann.fs else float(fs)
        notes = ann.aux_note or [""] * len(ann.sample)
        for k, s in enumerate(ann.sample):
            text = (notes[k] or "").strip("\x00 ") or (ann.symbol[k] if ann.symbol else "")
            out.append(Annotation(float(s) / afs, None, text))
    return out
