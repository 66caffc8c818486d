"""Loaders: files and in-memory objects to :class:`edx.model.Recording`.

One module per source; :func:`load` picks one by file extension (or ``format=``).
The format modules import their third-party readers (edfio, wfdb, neo, mne) only
when they are used, so ``import edx`` stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ..model import Recording
from ._common import DEFAULT_STIMULUS_LABEL, LoadOptions, check_exists
from .memory import from_array

__all__ = ["load", "from_array", "from_mne", "from_neo", "supported_extensions", "FORMATS"]

#: extension -> (module, format name).  neo covers many more; see ``neo_io.NEO_EXTENSIONS``.
FORMATS: dict[str, tuple[str, str]] = {
    ".edf": ("edf", "EDF"),
    ".bdf": ("edf", "BDF"),
    ".hea": ("wfdb_io", "WFDB"),
    ".npy": ("arrays", "NPY"),
    ".npz": ("arrays", "NPZ"),
    ".csv": ("arrays", "CSV"),
    ".fif": ("mne_io", "FIF"),
}


def _neo_extensions() -> dict[str, str]:
    from .neo_io import NEO_EXTENSIONS

    return NEO_EXTENSIONS


def supported_extensions() -> list[str]:
    """All file extensions :func:`load` recognises (lower case, with the dot)."""
    return sorted(set(FORMATS) | set(_neo_extensions()))


def load(
    path: str | Path,
    *,
    format: str | None = None,
    channels: Sequence[str] | None = None,
    units: str | Mapping[str, str] | None = None,
    fs_hz: float | None = None,
    stimulus_label: str = DEFAULT_STIMULUS_LABEL,
    trigger_channel: str | None = None,
    stimulus_s: Sequence[float] = (),
    detect_stimulus: bool = False,
) -> Recording:
    """Load a recording file into volts and seconds.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.  For WFDB give the ``.hea`` (or the ``.dat``) file.
    format : str, optional
        Force a reader: an extension such as ``"edf"`` or ``"vhdr"``; default from the
        file's extension.
    channels : sequence of str, optional
        Load only these channels (also a way to skip channels with unusable units).
    units : str or mapping, optional
        Unit of the stored samples when the file does not say or says wrongly:
        one string for every channel, or ``{channel: unit}``.  Required for ``.npy``,
        ``.npz`` and ``.csv`` files that do not carry it.
    fs_hz : float, optional
        Sampling rate for array files that do not carry one.
    stimulus_label : str, optional
        Regular expression (case-insensitive) for annotation texts that mark a stimulus.
    trigger_channel : str, optional
        Channel whose rising edges mark the stimuli (default: a channel labelled
        like ``Trigger``/``STI``/``Status`` when the file has no stimulus annotations).
    stimulus_s : sequence of float, optional
        Stimulus times (s from recording start), used when the file has neither
        stimulus annotations nor a trigger channel.
    detect_stimulus : bool, optional
        As the last resort, locate stimuli from the stimulus artifact's slope.

    Returns
    -------
    Recording
        Traces in volts, stored sweeps, stimulus marks (each with its source) and
        the other annotations.

    Raises
    ------
    edx.errors.MissingFileError
        The file does not exist.
    edx.errors.FormatError
        Unknown extension, or a file that is corrupt, truncated or self-contradicting.
    edx.errors.UnitError
        A channel's unit is unknown or ambiguous.
    edx.errors.SignalQualityError
        Samples are NaN/inf or the signal is empty.
    """
    p = Path(path)
    ext = ("." + format.lower().lstrip(".")) if format else p.suffix.lower()
    if ext == ".dat" and p.with_suffix(".hea").exists():
        ext = ".hea"
    check_exists(p)
    opts = LoadOptions(
        channels=tuple(channels) if channels is not None else None,
        units=units,
        fs_hz=fs_hz,
        stimulus_label=stimulus_label,
        trigger_channel=trigger_channel,
        stimulus_s=tuple(float(t) for t in stimulus_s),
        detect_stimulus=detect_stimulus,
    )
    if ext in FORMATS:
        module, fmt = FORMATS[ext]
        reader = import_module(f"{__name__}.{module}")
        return reader.read(p, opts, fmt)
    neo_ext = _neo_extensions()
    if ext in neo_ext:
        from . import neo_io

        return neo_io.read(p, opts, neo_ext[ext])
    raise FormatError(
        f"{p}: unknown file type {ext or '(no extension)'!r}; edx reads {', '.join(supported_extensions())} "
        "(pass format= to force a reader)"
    )


def from_mne(raw: Any, *, stimulus_label: str = DEFAULT_STIMULUS_LABEL, picks: Sequence[str] | None = None) -> Recording:
    """Convert an ``mne.io.BaseRaw`` to a :class:`Recording`.

    MNE keeps data in SI units already; channel types without a voltage unit
    (stim channels) become auxiliary traces, and their rising edges stimuli when
    there are no stimulus annotations.
    """
    from .mne_io import from_mne as _impl

    return _impl(raw, stimulus_label=stimulus_label, picks=picks)


def from_neo(
    obj: Any,
    *,
    channels: Sequence[str] | None = None,
    units: str | Mapping[str, str] | None = None,
    stimulus_label: str = DEFAULT_STIMULUS_LABEL,
    trigger_channel: str | None = None,
    stimulus_s: Sequence[float] = (),
    source: str = "neo",
) -> Recording:
    """Convert a ``neo.Block`` (or ``neo.Segment``, or a list of blocks) to a :class:`Recording`.

    Several segments become sweeps (one per segment and voltage channel) with
    their true start times; events whose label looks like a stimulus become
    stimuli; ``quantities`` units are rescaled to volts.  The keyword arguments
    mean what they mean for :func:`load`.
    """
    from .neo_io import from_neo as _impl

    opts = LoadOptions(
        channels=tuple(channels) if channels is not None else None,
        units=units,
        stimulus_label=stimulus_label,
        trigger_channel=trigger_channel,
        stimulus_s=tuple(float(t) for t in stimulus_s),
    )
    return _impl(obj, opts, source=source)
