"""MNE objects (``mne.io.Raw``) and ``.fif`` files to :class:`edx.model.Recording`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UnitError
from ..model import Annotation, Recording, Trace
from ._common import DEFAULT_STIMULUS_LABEL, LoadOptions, choose_stimuli, reading, split_stimuli

__all__ = ["from_mne", "read"]

# FIFF unit codes (mne.io.constants.FIFF.FIFF_UNIT_*): V, A, none
_FIFF_V, _FIFF_A, _FIFF_NONE = 107, 112, -1


def from_mne(raw: Any, *, stimulus_label: str = DEFAULT_STIMULUS_LABEL, picks: Sequence[str] | None = None,
             options: LoadOptions | None = None, source: str | None = None) -> Recording:
    """See :func:`edx.from_mne`."""
    opts = options or LoadOptions(stimulus_label=stimulus_label)
    names = list(picks) if picks is not None else list(raw.ch_names)
    if opts.channels is not None:
        names = [n for n in names if n in opts.channels]
    src = source or (str(raw.filenames[0]) if getattr(raw, "filenames", None) and raw.filenames[0] else "mne.Raw")
    fs = float(raw.info["sfreq"])
    data = raw.get_data(picks=names)
    types = raw.get_channel_types(picks=names)
    hp, lp = raw.info.get("highpass"), raw.info.get("lowpass")
    from ..model import FilterSettings

    filt = FilterSettings(highpass_hz=float(hp) if hp else None, lowpass_hz=float(lp) if lp else None) if (hp or lp) else None
    traces: list[Trace] = []
    for i, name in enumerate(names):
        ch = raw.info["chs"][raw.ch_names.index(name)]
        unit_code = int(ch["unit"])
        if types[i] == "stim":
            unit = ""
        elif unit_code == _FIFF_V:
            unit = "V"
        elif unit_code == _FIFF_A:
            unit = "A"
        else:
            raise UnitError(
                f"{src}: channel {name!r} (type {types[i]}) has no voltage unit in MNE (FIFF unit code {unit_code}); "
                "leave it out with picks=[...]"
            )
        traces.append(Trace(name, fs, np.asarray(data[i], dtype=np.float64), unit=unit, filters=filt if unit == "V" else None))
    ann = raw.annotations
    offset = raw.first_time if ann.orig_time is not None else 0.0
    annotations = [
        Annotation(float(o) - offset, float(d) if d else None, str(t))
        for o, d, t in zip(ann.onset, ann.duration, ann.description)
    ]
    ann_stim, others = split_stimuli(annotations, opts.stimulus_label)
    stimuli = choose_stimuli(source=src, annotation_stimuli=ann_stim, traces=traces, options=opts)
    start = raw.info.get("meas_date")
    return Recording(
        traces=tuple(traces),
        stimuli=tuple(stimuli),
        annotations=tuple(others),
        start_datetime=start.replace(tzinfo=None) if start is not None else None,
        source=src,
        format="mne",
        continuous=True,
    )


def read(path: Path, opts: LoadOptions, fmt: str = "FIF") -> Recording:
    """Read a ``.fif`` raw file through MNE (see :func:`edx.load`)."""
    with reading(path, "FIF raw file"):
        import mne

        raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
        return from_mne(raw, options=opts, source=str(path))
