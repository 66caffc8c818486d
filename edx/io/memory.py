"""In-memory arrays to :class:`edx.model.Recording`."""

from __future__ import annotations

import math

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import FormatError, SignalQualityError, UnitError
from ..model import Recording, Stimulus, Trace
from ..units import volts_per_unit
from ._common import LoadOptions, choose_stimuli

__all__ = ["from_array", "traces_from_matrix"]


def traces_from_matrix(
    samples: Any,
    fs_hz: float,
    units: str | Sequence[str],
    channel_names: Sequence[str] | None,
    source: str,
) -> list[Trace]:
    """Rows of a (n_channels, n_samples) array (or one 1-D channel) as volt traces."""
    arr = np.asarray(samples)
    if arr.dtype.kind not in "fiu":
        raise SignalQualityError(f"{source}: samples must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise FormatError(f"{source}: expected 1-D or 2-D (channels x samples) samples, got shape {arr.shape}")
    n_ch, n = arr.shape
    if n_ch > n:
        raise FormatError(
            f"{source}: shape {arr.shape} has more channels ({n_ch}) than samples ({n}); "
            "samples must be (n_channels, n_samples): transpose the array"
        )
    if fs_hz is None:
        raise FormatError(f"{source}: no sampling rate; pass fs_hz=")
    names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(n_ch)]
    if len(names) != n_ch or len(set(names)) != n_ch:
        raise FormatError(f"{source}: {len(names)} channel names (must be {n_ch} distinct names)")
    unit_list = [units] * n_ch if isinstance(units, str) else list(units)
    if len(unit_list) != n_ch:
        raise UnitError(f"{source}: {len(unit_list)} units given for {n_ch} channels")
    out = []
    for i in range(n_ch):
        try:
            factor = volts_per_unit(unit_list[i])
        except UnitError as exc:
            raise UnitError(f"{source}: channel {names[i]!r}: {exc}") from None
        out.append(Trace(names[i], fs_hz, arr[i].astype(np.float64) * factor, unit="V"))
    return out


def from_array(
    samples: Any,
    fs_hz: float,
    *,
    units: str | Sequence[str] = "V",
    channel_names: Sequence[str] | None = None,
    stimulus_s: Sequence[float] = (),
    stimulus_index: Sequence[int] | None = None,
    detect_stimulus: bool = False,
    source: str = "array",
) -> Recording:
    """Wrap an in-memory array as a :class:`Recording`.

    Parameters
    ----------
    samples : array_like
        1-D (one channel) or 2-D ``(n_channels, n_samples)`` samples.
    fs_hz : float
        Sampling rate.
    units : str or sequence of str
        Unit of ``samples`` (``"V"``, ``"mV"``, ``"uV"``, ...): one for all
        channels or one per channel.  Converted to volts.
    channel_names : sequence of str, optional
        Default ``"ch0"``, ``"ch1"``, ...
    stimulus_s : sequence of float, optional
        Stimulus times in seconds.
    stimulus_index : sequence of int, optional
        Stimulus sample indices (alternative to ``stimulus_s``).
    detect_stimulus : bool
        Locate stimuli from the artifact when none are given.
    source : str
        Description kept in ``Recording.source``.

    Returns
    -------
    Recording
        One trace per channel in volts, with the stimuli given (source ``"caller"``)
        or detected (source ``"artifact"``).
    """
    traces = traces_from_matrix(samples, fs_hz, units, channel_names, source)
    if stimulus_index is not None:
        if stimulus_s:
            raise ValueError("give stimulus_s or stimulus_index, not both")
        n = traces[0].n_samples
        for i in stimulus_index:
            if not 0 <= int(i) < n:
                raise ValueError(f"stimulus index {i} outside 0..{n - 1}")
        stimuli = [Stimulus(time_s=int(i) / float(fs_hz), source="caller") for i in stimulus_index]
    elif stimulus_s:
        dur = traces[0].n_samples / float(fs_hz)
        for t in stimulus_s:
            if not (math.isfinite(float(t)) and 0.0 <= float(t) < dur):
                raise ValueError(f"stimulus time {t!r} s outside the recording (0..{dur:g} s)")
        stimuli = [Stimulus(time_s=float(t), source="caller") for t in stimulus_s]
    else:
        stimuli = choose_stimuli(
            source=source, annotation_stimuli=[], traces=traces, options=LoadOptions(detect_stimulus=detect_stimulus)
        )
    return Recording(traces=tuple(traces), stimuli=tuple(stimuli), source=source, format="array")
