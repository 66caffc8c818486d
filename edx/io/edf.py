"""EDF, EDF+ (continuous and discontinuous) and BDF/BDF+ reader.

Why our own parser: EDF+D ("discontinuous") is how NCS machines store sweeps — one
sweep per data record, each record's true start written in its time-keeping
annotation (TAL).  mne, pyedflib and edfio all read EDF+D as if the records were
contiguous, shifting every sweep and event after the first gap.  They also repair
or reject headers that lie about the number or size of records in ways we cannot
report precisely.  The format is small and fully specified
(https://www.edfplus.info/specs/), so this module parses the header itself,
checks it against the file size, reads the samples with one memory map, takes
each record's start from its TAL, and keeps every signal at its own rate.  The
tests check the samples against edfio and mne on continuous files.

Time base: seconds from the start of the first data record (the header's start
time plus the sub-second offset of the first TAL in EDF+).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..model import Annotation, FilterSettings, Recording, Sweep, Trace
from ._common import (
    LoadOptions,
    channel_scale,
    choose_stimuli,
    reading,
    select_channels,
    split_stimuli,
    unit_override,
)

log = logging.getLogger("edx.io")

__all__ = ["read", "EdfHeader", "SignalHeader", "read_header", "parse_prefiltering"]

_SIGNAL_FIELDS = (
    ("label", 16),
    ("transducer", 80),
    ("physical_dimension", 8),
    ("physical_min", 8),
    ("physical_max", 8),
    ("digital_min", 8),
    ("digital_max", 8),
    ("prefiltering", 80),
    ("samples_per_record", 8),
    ("reserved", 32),
)


@dataclass(frozen=True, slots=True)
class SignalHeader:
    """One signal's header fields, parsed."""

    label: str
    transducer: str
    physical_dimension: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    prefiltering: str
    samples_per_record: int

    @property
    def is_annotation(self) -> bool:
        """True for the ``EDF Annotations`` / ``BDF Annotations`` signal."""
        return self.label in ("EDF Annotations", "BDF Annotations")


@dataclass(frozen=True, slots=True)
class EdfHeader:
    """The fixed and per-signal header of an EDF/BDF file, checked against the file size."""

    is_bdf: bool
    patient: str
    recording: str
    start_datetime: _dt.datetime | None
    header_bytes: int
    reserved: str
    n_records: int
    record_duration_s: float
    signals: tuple[SignalHeader, ...]

    @property
    def bytes_per_sample(self) -> int:
        """2 for EDF, 3 for BDF."""
        return 3 if self.is_bdf else 2

    @property
    def record_bytes(self) -> int:
        """Bytes of one data record."""
        return sum(s.samples_per_record for s in self.signals) * self.bytes_per_sample

    @property
    def is_plus(self) -> bool:
        """True for EDF+/BDF+ (reserved field starts with ``EDF+``/``BDF+``)."""
        return self.reserved[:4] in ("EDF+", "BDF+")

    @property
    def is_discontinuous(self) -> bool:
        """True when the header declares EDF+D/BDF+D."""
        return self.reserved[:5] in ("EDF+D", "BDF+D")

    @property
    def format_name(self) -> str:
        """``"EDF"``, ``"EDF+C"``, ``"EDF+D"``, ``"BDF"``, ``"BDF+C"`` or ``"BDF+D"``."""
        base = "BDF" if self.is_bdf else "EDF"
        if self.is_plus:
            return base + ("+D" if self.is_discontinuous else "+C")
        return base


def _ascii(raw: bytes, path: Path, field: str) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        # The EDF spec requires printable US-ASCII in the header.  Writers break it
        # with UTF-8 ("µV" as C2 B5 56) or Latin-1 ("µV" as B5 56); text fields are
        # kept as the first of these that decodes; numeric fields fail below.
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            text = raw.decode("latin-1").strip()
        log.warning("%s: header field %s holds non-ASCII bytes", path, field)
        return text


def _number(raw: bytes, path: Path, field: str, kind: type = float) -> float:
    text = _ascii(raw, path, field)
    try:
        value = int(text) if kind is int else float(text)
    except ValueError:
        raise FormatError(f"{path}: header field {field!r} is not a number: {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise FormatError(f"{path}: header field {field!r} is not finite: {text!r}")
    return value


def _parse_start(date: str, time: str, path: Path) -> _dt.datetime | None:
    m_d = re.fullmatch(r"(\d\d)\.(\d\d)\.(\d\d)", date)
    m_t = re.fullmatch(r"(\d\d)\.(\d\d)\.(\d\d)", time)
    if not (m_d and m_t):
        log.warning("%s: start date/time %r %r not in dd.mm.yy hh.mm.ss form; start time unknown", path, date, time)
        return None
    dd, mm, yy = (int(g) for g in m_d.groups())
    year = 1900 + yy if yy >= 85 else 2000 + yy  # EDF clipping date 1985
    try:
        return _dt.datetime(year, mm, dd, *(int(g) for g in m_t.groups()))
    except ValueError:
        log.warning("%s: start date/time %r %r is not a valid date; start time unknown", path, date, time)
        return None


def read_header(path: Path, data: bytes | memoryview | np.ndarray, file_size: int) -> EdfHeader:
    """Parse and check the header; the record count must agree with the file size.

    Raises
    ------
    FormatError
        Not an EDF/BDF file, unparsable fields, impossible values, truncated file,
        or a record count/size that disagrees with the file length.
    """
    buf = bytes(data[:256])
    if len(buf) < 256:
        raise FormatError(f"{path}: too short for an EDF/BDF file ({file_size} bytes; the header alone needs 256)")
    version = buf[:8]
    if version == b"\xffBIOSEMI":
        is_bdf = True
    elif version.strip() == b"0":
        is_bdf = False
    else:
        raise FormatError(f"{path}: not an EDF/BDF file (version field {version!r}; EDF writes '0', BDF '\\xffBIOSEMI')")
    patient = _ascii(buf[8:88], path, "patient")
    recording = _ascii(buf[88:168], path, "recording")
    start = _parse_start(_ascii(buf[168:176], path, "startdate"), _ascii(buf[176:184], path, "starttime"), path)
    header_bytes = int(_number(buf[184:192], path, "number of bytes in header", int))
    reserved = _ascii(buf[192:236], path, "reserved")
    n_records = int(_number(buf[236:244], path, "number of data records", int))
    duration = float(_number(buf[244:252], path, "duration of a data record"))
    ns = int(_number(buf[252:256], path, "number of signals", int))
    if ns < 1:
        raise FormatError(f"{path}: header declares {ns} signals; an EDF/BDF file needs at least one")
    if header_bytes != 256 * (ns + 1):
        raise FormatError(
            f"{path}: header size field says {header_bytes} bytes but {ns} signals need {256 * (ns + 1)}; the header is corrupt"
        )
    if file_size < header_bytes:
        raise FormatError(f"{path}: file ends inside the header ({file_size} of {header_bytes} header bytes): truncated")
    if duration < 0:
        raise FormatError(f"{path}: negative data-record duration {duration}")
    sig_raw = bytes(data[256:header_bytes])
    fields: dict[str, list[bytes]] = {}
    off = 0
    for name, width in _SIGNAL_FIELDS:
        fields[name] = [sig_raw[off + i * width : off + (i + 1) * width] for i in range(ns)]
        off += width * ns
    dig_lim = (-(2**23), 2**23 - 1) if is_bdf else (-32768, 32767)
    signals: list[SignalHeader] = []
    for i in range(ns):
        label = _ascii(fields["label"][i], path, f"label of signal {i}")
        what = f"signal {i} ({label!r})"
        sh = SignalHeader(
            label=label,
            transducer=_ascii(fields["transducer"][i], path, f"transducer of {what}"),
            physical_dimension=_ascii(fields["physical_dimension"][i], path, f"physical dimension of {what}"),
            physical_min=float(_number(fields["physical_min"][i], path, f"physical minimum of {what}")),
            physical_max=float(_number(fields["physical_max"][i], path, f"physical maximum of {what}")),
            digital_min=int(_number(fields["digital_min"][i], path, f"digital minimum of {what}", int)),
            digital_max=int(_number(fields["digital_max"][i], path, f"digital maximum of {what}", int)),
            prefiltering=_ascii(fields["prefiltering"][i], path, f"prefiltering of {what}"),
            samples_per_record=int(_number(fields["samples_per_record"][i], path, f"samples per record of {what}", int)),
        )
        if sh.samples_per_record < 1:
            raise FormatError(f"{path}: {what} has {sh.samples_per_record} samples per data record")
        if not sh.is_annotation:
            if sh.digital_min >= sh.digital_max:
                raise FormatError(f"{path}: {what}: digital minimum {sh.digital_min} is not below maximum {sh.digital_max}")
            if sh.digital_min < dig_lim[0] or sh.digital_max > dig_lim[1]:
                raise FormatError(f"{path}: {what}: digital range {sh.digital_min}..{sh.digital_max} exceeds the format's {dig_lim}")
            if sh.physical_min == sh.physical_max:
                raise FormatError(f"{path}: {what}: physical minimum equals maximum ({sh.physical_min}); gain undefined")
            if duration == 0:
                raise FormatError(f"{path}: {what}: data-record duration is 0, so the sampling rate is undefined")
        signals.append(sh)
    hdr = EdfHeader(is_bdf, patient, recording, start, header_bytes, reserved, n_records, duration, tuple(signals))
    data_bytes = file_size - header_bytes
    rb = hdr.record_bytes
    complete, rest = divmod(data_bytes, rb)
    if n_records == -1:  # allowed while recording: take the count from the size
        if rest:
            raise FormatError(f"{path}: truncated: last data record incomplete ({rest} of {rb} bytes)")
        log.info("%s: header gives -1 data records (unfinished recording); file holds %d", path, complete)
        return _with_records(hdr, complete)
    if n_records < 0:
        raise FormatError(f"{path}: header declares {n_records} data records")
    expected = n_records * rb
    if data_bytes < expected:
        raise FormatError(
            f"{path}: truncated: header promises {n_records} data records ({expected} bytes) "
            f"but the file holds {data_bytes} bytes ({complete} complete record(s))"
        )
    if data_bytes > expected:
        raise FormatError(
            f"{path}: header says {n_records} data records of {rb} bytes, but the file holds "
            f"{data_bytes} data bytes ({complete} records + {rest} bytes): the record count or sizes are wrong"
        )
    return hdr


def _with_records(hdr: EdfHeader, n: int) -> EdfHeader:
    return EdfHeader(
        hdr.is_bdf, hdr.patient, hdr.recording, hdr.start_datetime, hdr.header_bytes,
        hdr.reserved, n, hdr.record_duration_s, hdr.signals,
    )


_HZ = r"([0-9]*\.?[0-9]+)\s*(k?)hz"


def parse_prefiltering(text: str) -> FilterSettings | None:
    """Parse an EDF prefiltering text such as ``"HP:2Hz LP:10kHz N:50Hz"``.

    ``HP:DC`` gives a high-pass corner of 0 Hz.  Returns None when nothing is recognised.
    """
    t = text.lower()

    def grab(tag: str) -> float | None:
        m = re.search(tag + r"\s*:?\s*" + _HZ, t)
        if m:
            return float(m.group(1)) * (1000.0 if m.group(2) else 1.0)
        return None

    hp = 0.0 if re.search(r"hp\s*:?\s*dc", t) else grab("hp")
    lp = grab("lp")
    notch = grab(r"(?:n|notch)")
    if hp is None and lp is None and notch is None:
        return None
    try:
        return FilterSettings(highpass_hz=hp, lowpass_hz=lp, notch_hz=notch, description=text)
    except ValueError as exc:
        log.warning("prefiltering %r not usable: %s", text, exc)
        return FilterSettings(description=text)


_ONSET = re.compile(rb"^[+-]\d+(\.\d*)?$")


def _parse_tals(raw: bytes, path: Path, record: int) -> list[tuple[float, float | None, list[str]]]:
    """Parse the TALs of one annotation-signal data record."""
    out: list[tuple[float, float | None, list[str]]] = []
    for chunk in raw.split(b"\x00"):
        if not chunk:
            continue
        parts = chunk.split(b"\x14")
        timing = parts[0]
        if b"\x15" in timing:
            onset_b, dur_b = timing.split(b"\x15", 1)
        else:
            onset_b, dur_b = timing, b""
        if not _ONSET.match(onset_b):
            raise FormatError(f"{path}: data record {record}: malformed annotation onset {onset_b[:20]!r}")
        try:
            dur = float(dur_b) if dur_b else None
        except ValueError:
            raise FormatError(f"{path}: data record {record}: malformed annotation duration {dur_b[:20]!r}") from None
        texts = [p.decode("utf-8", errors="replace") for p in parts[1:] if p]
        out.append((float(onset_b), dur, texts))
    return out


def _decode_records(hdr: EdfHeader, body: np.ndarray, wanted: set[int] | None = None) -> list[np.ndarray | None]:
    """Per signal: a (n_records, samples_per_record) array of digital values.

    Only the signals in ``wanted`` (default: all) are decoded; the others are None,
    so loading one channel of a long multi-channel file reads only that channel's
    bytes from the memory map.
    """
    bps = hdr.bytes_per_sample
    offsets = np.cumsum([0] + [s.samples_per_record * bps for s in hdr.signals])
    recs = body.reshape(hdr.n_records, hdr.record_bytes)
    out: list[np.ndarray | None] = []
    for i, s in enumerate(hdr.signals):
        if wanted is not None and i not in wanted:
            out.append(None)
            continue
        block = recs[:, offsets[i] : offsets[i + 1]]
        if s.is_annotation:
            out.append(block)  # raw bytes
        elif bps == 2:
            out.append(np.ascontiguousarray(block).view("<i2"))
        else:
            b = block.reshape(hdr.n_records, s.samples_per_record, 3).astype(np.int32)
            v = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
            v = np.where(v >= 1 << 23, v - (1 << 24), v)
            out.append(v)
    return out


def _unique_labels(labels: list[str], path: Path) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        lab = lab or "unnamed"
        if lab in seen:
            seen[lab] += 1
            new = f"{lab} ({seen[lab]})"
            log.warning("%s: duplicate channel label %r renamed %r", path, lab, new)
            out.append(new)
        else:
            seen[lab] = 1
            out.append(lab)
    return out


def read(path: Path, opts: LoadOptions, fmt: str = "EDF") -> Recording:
    """Read an EDF/EDF+/BDF/BDF+ file (see :func:`edx.load`)."""
    with reading(path, "EDF/BDF"):
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(256)
        if len(head) == 256:
            ns_text = head[252:256]
            try:
                hb = 256 * (int(ns_text.strip()) + 1)
            except ValueError:
                hb = 256
        else:
            hb = len(head)
        with path.open("rb") as fh:
            header_raw = fh.read(min(max(hb, 256), size))
        hdr = read_header(path, header_raw, size)
        if hdr.n_records == 0:
            raise FormatError(f"{path}: holds no data records (zero-length signal)")
        body = np.memmap(path, dtype=np.uint8, mode="r", offset=hdr.header_bytes, shape=(hdr.n_records * hdr.record_bytes,))
        try:
            return _build(path, hdr, body, opts)
        finally:
            del body


def _build(path: Path, hdr: EdfHeader, body: np.ndarray, opts: LoadOptions) -> Recording:
    dur = hdr.record_duration_s
    ann_idx = [i for i, s in enumerate(hdr.signals) if s.is_annotation]
    data_idx = [i for i, s in enumerate(hdr.signals) if not s.is_annotation]
    labels = _unique_labels([hdr.signals[i].label for i in data_idx], path)
    wanted = set(ann_idx) | {i for label, i in zip(labels, data_idx) if opts.channels is None or label in opts.channels}
    per_signal = _decode_records(hdr, body, wanted)
    n = hdr.n_records

    # --- record start times and annotations -------------------------------
    onsets = np.arange(n, dtype=np.float64) * dur
    first_onset = 0.0
    annotations: list[Annotation] = []
    if hdr.is_plus:
        if not ann_idx:
            raise FormatError(f"{path}: {hdr.format_name} file without an 'EDF Annotations' signal (required by EDF+)")
        tk: list[float] = []
        for r in range(n):
            for k, si in enumerate(ann_idx):
                tals = _parse_tals(bytes(per_signal[si][r]), path, r)
                if k == 0:
                    if not tals or tals[0][2]:
                        raise FormatError(f"{path}: data record {r} lacks its time-keeping annotation (EDF+ requires one)")
                    tk.append(tals[0][0])
                    tals = tals[1:]
                for onset, d, texts in tals:
                    for text in texts:
                        annotations.append(Annotation(onset, d, text))
        rec_onsets = np.asarray(tk)
        first_onset = float(rec_onsets[0])
        onsets = rec_onsets - first_onset
        annotations = [Annotation(a.onset_s - first_onset, a.duration_s, a.text) for a in annotations]
        step = np.diff(onsets)
        if np.any(step < dur - 1e-7):
            bad = int(np.flatnonzero(step < dur - 1e-7)[0]) + 1
            raise FormatError(
                f"{path}: data record {bad} starts at {onsets[bad]:.6f} s, before the previous record ends "
                f"({onsets[bad - 1] + dur:.6f} s): record times overlap or go backwards"
            )
    contiguous = np.abs(np.diff(onsets) - dur) <= 1e-7
    if hdr.is_plus and not hdr.is_discontinuous and not contiguous.all():
        log.warning("%s: header says EDF+C but the record times have gaps; using the true record times", path)
    start_dt = hdr.start_datetime
    if start_dt is not None and first_onset:
        start_dt = start_dt + _dt.timedelta(seconds=first_onset)

    # --- signals -> traces ------------------------------------------------
    if not data_idx:
        raise FormatError(f"{path}: holds only annotations, no signal")
    if opts.channels is not None:
        missing = [c for c in opts.channels if c not in labels]
        if missing:  # name every channel of the file, not only the ones kept
            raise FormatError(f"{path}: channel(s) {missing} not in file; channels are {sorted(labels)}")
    # block boundaries: runs of contiguous records
    breaks = np.flatnonzero(~contiguous) + 1
    blocks = np.split(np.arange(n), breaks)
    traces: list[Trace] = []
    # label -> (signal index, fs, scale to canonical unit, offset, unit, filters, rails)
    info: dict[str, tuple[int, float, float, float, str, FilterSettings | None, tuple[float, float]]] = {}
    for label, i in zip(labels, data_idx):
        if opts.channels is not None and label not in opts.channels:
            continue
        s = hdr.signals[i]
        unit, factor = channel_scale(unit_override(opts.units, label) or s.physical_dimension, label, str(path))
        gain = (s.physical_max - s.physical_min) / (s.digital_max - s.digital_min)
        scale = gain * factor
        offset = (s.physical_min - gain * s.digital_min) * factor
        lo, hi = sorted((s.physical_min * factor, s.physical_max * factor))
        info[label] = (i, s.samples_per_record / dur, scale, offset, unit, parse_prefiltering(s.prefiltering), (lo, hi))
    for label, (i, fs, scale, offset, unit, filt, rails) in info.items():
        for blk in blocks:
            x = per_signal[i][blk].reshape(-1) * scale + offset
            traces.append(Trace(label, fs, x, start_s=float(onsets[blk[0]]), unit=unit, filters=filt, clip_range=rails))
    traces = select_channels(traces, opts.channels, str(path))

    # --- stimuli ----------------------------------------------------------
    ann_stim, others = split_stimuli(annotations, opts.stimulus_label)
    stimuli = choose_stimuli(source=str(path), annotation_stimuli=ann_stim, traces=traces, options=opts)

    # --- sweeps: one per data record in EDF+D ------------------------------
    sweeps: list[Sweep] = []
    if hdr.is_discontinuous:
        times = np.array([st.time_s for st in stimuli], dtype=np.float64)
        for label, (i, fs, scale, offset, unit, filt, rails) in info.items():
            if unit != "V":
                continue
            for r in range(n):
                x = per_signal[i][r] * scale + offset
                t0 = float(onsets[r])
                inside = [
                    k for k, st in enumerate(stimuli) if st.channel in (None, label) and t0 <= times[k] < t0 + dur
                ]
                idx = sorted({j for j in (int(round((times[k] - t0) * fs)) for k in inside) if j < x.size})
                first = stimuli[inside[0]] if idx else None
                sweeps.append(
                    Sweep(
                        x, fs, tuple(idx), channel=label, start_s=t0, index=r,
                        stimulus_source=first.source if first else None,
                        intensity_ma=first.intensity_ma if first else None,
                        stimulus_duration_ms=first.duration_ms if first else None,
                        filters=filt, clip_range=rails,
                    )
                )
    meta = {
        "patient": hdr.patient,
        "recording": hdr.recording,
        "reserved": hdr.reserved,
        "n_records": hdr.n_records,
        "record_duration_s": dur,
        "annotation_signals": len(ann_idx),
    }
    return Recording(
        traces=tuple(traces),
        sweeps=tuple(sweeps),
        stimuli=tuple(stimuli),
        annotations=tuple(others),
        start_datetime=start_dt,
        source=str(path),
        format=hdr.format_name,
        continuous=bool(contiguous.all()),
        metadata=meta,
    )
