"""Writer for EDF/EDF+ (continuous or discontinuous) and BDF/BDF+ files.

edfio writes EDF+C well but cannot write EDF+D, the form in which NCS sweeps are
stored (one sweep per data record, each with its own start time), so edx writes
these files itself.  The output follows the EDF+ specification: a time-keeping
TAL opens every data record of the first annotation signal, and the reserved
field says ``EDF+C``/``EDF+D``.  Files are written to a temporary file and renamed,
so a crash never leaves a half-written file.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..units import normalize_unit, volts_per_unit

__all__ = ["EdfChannel", "write_edf"]


@dataclass(frozen=True)
class EdfChannel:
    """One signal to write.

    Parameters
    ----------
    label : str
        Up to 16 ASCII characters.
    fs_hz : float
        Sampling rate; ``fs_hz * record_duration_s`` must be a whole number.
    samples_v : numpy.ndarray
        Samples in volts, ``n_records * samples_per_record`` long.
    unit : str
        Unit written in the header (samples are scaled from volts to it).
    physical_range : tuple of float, optional
        Physical minimum and maximum in ``unit``; default: the data range with a
        small margin (symmetric about zero).  Samples beyond a given range are an error
        unless ``clip`` is set.
    prefiltering : str
        E.g. ``"HP:2Hz LP:10kHz"``.
    transducer : str
        E.g. ``"AgAgCl surface electrode"``.
    clip : bool
        Store samples beyond ``physical_range`` at its limits (an amplifier's rails:
        readers then see the samples at the rails and flag them clipped) instead of
        refusing them.
    """

    label: str
    fs_hz: float
    samples_v: np.ndarray
    unit: str = "uV"
    physical_range: tuple[float, float] | None = None
    prefiltering: str = ""
    transducer: str = ""
    clip: bool = False


def _field(value: str, width: int, what: str | None = None) -> bytes:
    if what is not None and not value.isascii():
        # EDF headers are ASCII: a replaced character would make the label or unit
        # unreadable (a "µV" written as "?V" cannot be read back)
        raise ValueError(f"{what} {value!r} is not ASCII; EDF header fields must be ASCII")
    raw = value.encode("ascii", errors="replace")
    if len(raw) > width:
        raise ValueError(f"header value {value!r} longer than {width} characters")
    return raw.ljust(width, b" ")


def _num(value: float, width: int = 8) -> str:
    if float(value).is_integer() and abs(value) < 10 ** (width - 1):
        return str(int(value))
    for prec in range(width, 0, -1):
        text = f"{value:.{prec}g}"
        if len(text) <= width:
            return text
    raise ValueError(f"{value} cannot be written in {width} characters")


def _tal(onset: float, duration: float | None, texts: Sequence[str]) -> bytes:
    head = f"{onset:+.7f}".rstrip("0").rstrip(".")
    if not head[1:]:
        head = "+0"
    if duration is not None:
        head += "\x15" + (f"{duration:.7f}".rstrip("0").rstrip(".") or "0")
    # every annotation ends with 20 (0x14); the time-keeping TAL holds one empty annotation,
    # so it reads "+onset\x14\x14\x00" (EDF+ spec 2.2.4; edfio refuses "+onset\x14\x00")
    return (head + "\x14" + "".join(t + "\x14" for t in (texts or [""]))).encode("utf-8") + b"\x00"


def write_edf(
    path: str | Path,
    channels: Sequence[EdfChannel],
    *,
    record_duration_s: float,
    record_onsets_s: Sequence[float] | None = None,
    annotations: Sequence[tuple[float, float | None, str]] = (),
    start_datetime: _dt.datetime | None = None,
    patient: str = "X X X X",
    recording: str = "Startdate X X X X",
    bdf: bool = False,
    plus: bool = True,
) -> Path:
    """Write an EDF/EDF+/BDF/BDF+ file.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file (written atomically).
    channels : sequence of EdfChannel
        The signals; each holds ``n_records`` records of samples.
    record_duration_s : float
        Duration of one data record (seconds).
    record_onsets_s : sequence of float, optional
        Start of each record (EDF+D).  Default: contiguous records (EDF+C).
        Records may not overlap.
    annotations : sequence of (onset_s, duration_s or None, text)
        Annotations, written into the record that contains their onset (or the
        last record before it).
    start_datetime : datetime.datetime, optional
        Recording start; default 1 January 2000 00:00:00 (EDF needs one).
    patient, recording : str
        EDF+ patient and recording identification fields.
    bdf : bool
        Write BDF (24-bit) instead of EDF (16-bit).
    plus : bool
        Write EDF+/BDF+ (with an annotation signal).  Must be True for
        discontinuous records or annotations.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    if record_duration_s <= 0 or not math.isfinite(record_duration_s):
        raise ValueError("record_duration_s must be a finite positive number")
    if not channels:
        raise ValueError("at least one channel is needed")
    spr = []
    for ch in channels:
        k = ch.fs_hz * record_duration_s
        if abs(k - round(k)) > 1e-6 or round(k) < 1:
            raise ValueError(f"{ch.label}: fs {ch.fs_hz} Hz x record {record_duration_s} s is not a whole number of samples")
        spr.append(int(round(k)))
    n_records = None
    for ch, k in zip(channels, spr):
        n, rest = divmod(np.asarray(ch.samples_v).size, k)
        if rest:
            raise ValueError(f"{ch.label}: {ch.samples_v.size} samples are not a whole number of {k}-sample records")
        if n_records is None:
            n_records = n
        elif n != n_records:
            raise ValueError(f"{ch.label}: {n} records, other channels {n_records}")
    assert n_records is not None
    if record_onsets_s is None:
        onsets = np.arange(n_records) * record_duration_s
        discontinuous = False
    else:
        onsets = np.asarray(record_onsets_s, dtype=np.float64)
        if onsets.size != n_records:
            raise ValueError(f"{onsets.size} record onsets for {n_records} records")
        if np.any(np.diff(onsets) < record_duration_s - 1e-9):
            raise ValueError("record onsets overlap")
        discontinuous = not np.allclose(np.diff(onsets), record_duration_s, atol=1e-9)
    if (discontinuous or annotations) and not plus:
        raise ValueError("discontinuous records and annotations need EDF+ (plus=True)")
    bps = 3 if bdf else 2
    dmin, dmax = ((-(2**23), 2**23 - 1) if bdf else (-32768, 32767))

    # annotation signal contents per record
    tal_records: list[bytes] = []
    if plus:
        per_rec: list[list[bytes]] = [[] for _ in range(n_records)]
        for onset, dur, text in sorted(annotations, key=lambda a: a[0]):
            r = int(np.searchsorted(onsets, onset, side="right")) - 1
            per_rec[max(r, 0)].append(_tal(onset, dur, [text]))
        for r in range(n_records):
            tal_records.append(_tal(float(onsets[r]), None, []) + b"".join(per_rec[r]))
        ann_bytes = max(len(t) for t in tal_records)
        ann_spr = -(-ann_bytes // bps) + 1
    labels = [ch.label for ch in channels] + (["BDF Annotations" if bdf else "EDF Annotations"] if plus else [])
    ns = len(labels)

    digital: list[np.ndarray] = []
    phys: list[tuple[float, float]] = []
    for ch in channels:
        x = np.asarray(ch.samples_v, dtype=np.float64) / volts_per_unit(ch.unit)
        if not np.isfinite(x).all():
            raise ValueError(f"{ch.label}: non-finite samples")
        if ch.physical_range is None:
            peak = float(np.max(np.abs(x))) if x.size else 1.0
            peak = peak * 1.05 if peak > 0 else 1.0
            pmin, pmax = -float(_num(peak)), float(_num(peak))
            if pmax < peak:
                pmax = float(_num(peak * 1.01))
                pmin = -pmax
        else:
            pmin, pmax = ch.physical_range
        pmin, pmax = float(_num(pmin)), float(_num(pmax))
        if not pmax > pmin:
            raise ValueError(f"{ch.label}: physical range ({pmin:g}, {pmax:g}) {ch.unit} is empty")
        d = np.round((x - pmin) / (pmax - pmin) * (dmax - dmin) + dmin)
        over = (d < dmin) | (d > dmax)
        if not ch.clip and over.any():
            # a value stored at the rail would read back as another number, silently
            k = int(np.count_nonzero(over))
            first = int(np.flatnonzero(over)[0])
            raise ValueError(
                f"{ch.label}: {k} sample(s) outside the physical range ({pmin:g}, {pmax:g}) {ch.unit} (the first, "
                f"sample {first}, is {x[first]:.6g} {ch.unit}): widen physical_range, leave it out to fit the data, "
                "or set clip=True to store them at the range's limits"
            )
        digital.append(np.clip(d, dmin, dmax).astype(np.int32))
        phys.append((pmin, pmax))

    start = start_datetime or _dt.datetime(2000, 1, 1)
    reserved = ""
    if plus:
        reserved = ("BDF+" if bdf else "EDF+") + ("D" if discontinuous else "C")
    header = b"".join(
        [
            b"\xffBIOSEMI" if bdf else _field("0", 8),
            _field(patient, 80),
            _field(recording, 80),
            _field(start.strftime("%d.%m.%y"), 8),
            _field(start.strftime("%H.%M.%S"), 8),
            _field(str(256 * (ns + 1)), 8),
            _field(reserved if not bdf else (reserved or "24BIT"), 44),
            _field(str(n_records), 8),
            _field(_num(record_duration_s), 8),
            _field(str(ns), 4),
        ]
    )
    sig_units = [normalize_unit(ch.unit) for ch in channels] + ([""] if plus else [])
    sig_pmin = [_num(p[0]) for p in phys] + (["-1"] if plus else [])
    sig_pmax = [_num(p[1]) for p in phys] + (["1"] if plus else [])
    sig_dmin = [str(dmin)] * ns
    sig_dmax = [str(dmax)] * ns
    sig_filt = [ch.prefiltering for ch in channels] + ([""] if plus else [])
    sig_trans = [ch.transducer for ch in channels] + ([""] if plus else [])
    sig_spr = [str(k) for k in spr] + ([str(ann_spr)] if plus else [])
    for values, width, what in (
        (labels, 16, "channel label"), (sig_trans, 80, None), (sig_units, 8, "unit"), (sig_pmin, 8, None),
        (sig_pmax, 8, None), (sig_dmin, 8, None), (sig_dmax, 8, None), (sig_filt, 80, None), (sig_spr, 8, None),
        ([""] * ns, 32, None),
    ):
        header += b"".join(_field(v, width, what) for v in values)

    def encode(values: np.ndarray) -> bytes:
        if bdf:
            v = values.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            return v.tobytes()
        return values.astype("<i2").tobytes()

    chunks = [header]
    for r in range(n_records):
        for d, k in zip(digital, spr):
            chunks.append(encode(d[r * k : (r + 1) * k]))
        if plus:
            chunks.append(tal_records[r].ljust(ann_spr * bps, b"\x00"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(chunks))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
