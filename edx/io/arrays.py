"""``.npy``, ``.npz`` and ``.csv`` files.

These carry no header a reader can trust, so the sampling rate and unit come from
the caller (``fs_hz=``, ``units=``) or the manifest, unless the file holds them:

* ``.npz`` may contain ``samples`` (or one array per channel), ``fs_hz``,
  ``unit``/``units``, ``channel_names`` and ``stimulus_s``;
* ``.csv`` may have a header row; a column named ``time``/``time_s``/``t`` gives the
  sampling rate (uniform spacing is checked), and a column header written
  ``name [uV]`` or ``name (mV)`` gives that column's unit.

A value the file and the caller both give must agree; a missing rate or unit is
an error, never a default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError, UnitError
from ..units import volts_per_unit
from ..model import Recording
from ._common import LoadOptions, choose_stimuli, reading, select_channels
from .memory import traces_from_matrix

__all__ = ["read"]

_UNIT_IN_HEADER = re.compile(r"^(?P<name>.*?)\s*[\[(](?P<unit>[^\])]+)[\])]\s*$")
_TIME_NAMES = {"time", "time_s", "t", "t_s", "seconds"}


def _rate(file_fs: float | None, opts: LoadOptions, path: Path) -> float:
    if file_fs is not None and opts.fs_hz is not None and not np.isclose(file_fs, opts.fs_hz, rtol=1e-6):
        raise FormatError(f"{path}: file says fs = {file_fs} Hz but {opts.fs_hz} Hz was given")
    fs = opts.fs_hz if opts.fs_hz is not None else file_fs
    if fs is None:
        raise FormatError(f"{path}: the file does not carry its sampling rate; pass fs_hz= (or set fs_hz in the manifest)")
    return float(fs)


def _same_unit(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return volts_per_unit(a) == volts_per_unit(b)
    except UnitError:
        return False


def _units(file_units: list[str | None] | None, opts: LoadOptions, names: list[str], path: Path) -> list[str]:
    out = []
    if file_units is not None and len(file_units) != len(names):
        raise FormatError(f"{path}: {len(file_units)} unit(s) stored for {len(names)} channel(s)")
    for i, name in enumerate(names):
        given = opts.units if isinstance(opts.units, str) else (opts.units or {}).get(name)
        own = file_units[i] if file_units else None
        if given and own and not _same_unit(given, own):
            raise UnitError(f"{path}: channel {name!r}: file says unit {own!r} but {given!r} was given")
        u = given or own
        if not u:
            raise UnitError(f"{path}: channel {name!r}: the file does not say its unit; pass units= (e.g. 'uV')")
        out.append(u)
    return out


def read(path: Path, opts: LoadOptions, fmt: str) -> Recording:
    """Read a ``.npy``/``.npz``/``.csv`` file (see :func:`edx.load`)."""
    with reading(path, f"{fmt} file"):
        file_fs: float | None = None
        file_units: list[str | None] | None = None
        names: list[str] | None = None
        file_stim: tuple[float, ...] = ()
        if fmt == "NPY":
            samples = np.load(path, allow_pickle=False)
        elif fmt == "NPZ":
            samples, file_fs, file_units, names, file_stim = _npz(path)
        else:
            samples, file_fs, file_units, names = _csv(path)
        arr = np.atleast_2d(np.asarray(samples))
        if names is None:
            names = [f"ch{i}" for i in range(arr.shape[0])] if arr.ndim == 2 else None
        fs = _rate(file_fs, opts, path)
        if arr.ndim != 2:
            raise FormatError(f"{path}: expected 1-D or 2-D (channels x samples) samples, got shape {arr.shape}")
        if file_units is not None and len(file_units) == 1 and arr.shape[0] > 1:
            file_units = file_units * arr.shape[0]
        units = _units(file_units, opts, list(names), path)
        traces = traces_from_matrix(arr, fs, units, names, str(path))
        traces = select_channels(traces, opts.channels, str(path))
        o = opts if opts.stimulus_s or not file_stim else LoadOptions(
            channels=opts.channels, units=opts.units, fs_hz=opts.fs_hz, stimulus_label=opts.stimulus_label,
            trigger_channel=opts.trigger_channel, stimulus_s=file_stim, detect_stimulus=opts.detect_stimulus,
        )
        stimuli = choose_stimuli(source=str(path), annotation_stimuli=[], traces=traces, options=o)
        return Recording(traces=tuple(traces), stimuli=tuple(stimuli), source=str(path), format=fmt, continuous=True)


def _npz(path: Path) -> tuple[Any, float | None, list[str] | None, list[str] | None, tuple[float, ...]]:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        meta = {"fs_hz", "fs", "unit", "units", "channel_names", "stimulus_s"}
        fs = None
        for k in ("fs_hz", "fs"):
            if k in z:
                fs = float(np.asarray(z[k]).reshape(-1)[0])
        units = None
        for k in ("units", "unit"):
            if k in z:
                units = [str(u) for u in np.atleast_1d(z[k])]
        names = [str(n) for n in np.atleast_1d(z["channel_names"])] if "channel_names" in z else None
        stim = tuple(float(t) for t in np.atleast_1d(z["stimulus_s"])) if "stimulus_s" in z else ()
        if "samples" in z:
            samples = z["samples"]
        else:
            data_keys = [k for k in keys if k not in meta]
            if not data_keys:
                raise FormatError(f"{path}: no sample arrays in the archive (keys {keys})")
            arrays = [np.asarray(z[k]) for k in data_keys]
            if any(a.ndim != 1 for a in arrays) or len({a.size for a in arrays}) != 1:
                raise FormatError(f"{path}: channel arrays {data_keys} must be 1-D and of equal length (or store 'samples')")
            samples = np.vstack(arrays)
            names = names or data_keys
    return samples, fs, units, names, stim


def _csv(path: Path) -> tuple[np.ndarray, float | None, list[str | None] | None, list[str] | None]:
    import pandas as pd

    with path.open("rb") as fh:
        first = fh.readline()
    try:
        first_text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a UTF-8 text CSV file") from None
    cells = [c.strip() for c in first_text.strip().split(",")]
    for sep, name in ((";", "semicolons"), ("\t", "tabs")):
        if sep in first_text:
            raise FormatError(
                f"{path}: the first line is separated by {name}; edx reads comma-separated files with '.' "
                "as the decimal point (a spreadsheet in a locale with decimal commas writes this form): "
                "export with commas and decimal points"
            )
    has_header = any(c and not _is_number(c) for c in cells)
    df = pd.read_csv(path, header=0 if has_header else None, skip_blank_lines=True)
    if df.empty:
        raise FormatError(f"{path}: no rows")
    if not isinstance(df.index, pd.RangeIndex):
        # pandas turns the extra leading fields of rows longer than the header into an index
        raise FormatError(
            f"{path}: rows hold more comma-separated fields than the header names ({df.shape[1]}); "
            "decimal commas (\"1,5\") or a missing column name?"
        )
    numeric = [pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in df.dtypes]
    if not all(numeric):
        bad = [str(c) for c, ok in zip(df.columns, numeric) if not ok]
        raise FormatError(f"{path}: non-numeric values in column(s) {bad}")
    fs = None
    units: list[str] | None = None
    names: list[str] | None = None
    data = df
    if has_header:
        cols = [str(c) for c in df.columns]
        tcol = next((c for c in cols if _UNIT_IN_HEADER.sub(r"\g<name>", c).strip().lower() in _TIME_NAMES), None)
        if tcol is not None:
            t = df[tcol].to_numpy(dtype=np.float64)
            m = _UNIT_IN_HEADER.match(tcol)
            t_scale = {"ms": 1e-3, "s": 1.0, "us": 1e-6}.get(m.group("unit").strip() if m else "s")
            if t_scale is None:
                raise UnitError(f"{path}: time column {tcol!r} in an unknown unit")
            dt = np.diff(t) * t_scale
            if dt.size == 0 or np.any(dt <= 0) or not np.allclose(dt, dt[0], rtol=1e-3, atol=0):
                raise FormatError(f"{path}: time column {tcol!r} is not uniformly increasing; cannot derive fs")
            fs = 1.0 / float(np.mean(dt))
            if m is None and fs < _MIN_UNITLESS_TIME_FS_HZ:
                # a time column without a unit is taken in seconds: a rate this low for nerve
                # conduction or EMG is milliseconds (or samples) read as seconds
                raise UnitError(
                    f"{path}: time column {tcol!r} has no unit; read as seconds it gives {fs:g} Hz, too slow for "
                    f"nerve conduction or EMG: name its unit in the header (\"{tcol} [ms]\") or pass fs_hz"
                )
            data = df.drop(columns=[tcol])
            cols = [c for c in cols if c != tcol]
        names, units_found = [], []
        for c in cols:
            m = _UNIT_IN_HEADER.match(c)
            names.append(m.group("name").strip() if m else c)
            units_found.append(m.group("unit").strip() if m else None)
        # a column without a unit in its header takes the caller's; one with a unit keeps it
        units = units_found if any(units_found) else None
    arr = data.to_numpy(dtype=np.float64).T
    return arr, fs, units, names


#: the slowest rate a time column without a unit may give (read as seconds): nerve conduction
#: and EMG are sampled at kilohertz (surface EMG at 1 kHz or more)
_MIN_UNITLESS_TIME_FS_HZ = 500.0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
