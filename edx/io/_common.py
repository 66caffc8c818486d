"""Shared loader machinery: error wrapping, unit handling, stimulus marks.

Every loader returns an :class:`edx.model.Recording`.  Stimulus marks are taken, in
this order of preference, from

1. the file's own annotations/events whose text looks like a stimulus
   (``stimulus_label`` regular expression),
2. a trigger channel (named by the caller, or recognised by its label),
3. stimulus times given by the caller or the manifest,
4. detection of the stimulus artifact in the signal (opt-in: ``detect_stimulus``),

and each mark records which of these it came from.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EdxError, FormatError, MissingFileError, UnitError
from ..model import Annotation, Stimulus, Trace
from ..units import normalize_unit, volts_per_unit

log = logging.getLogger("edx.io")

#: Annotation/event texts that mark a stimulus (case-insensitive search).  "R1"/"R2"
#: are not among them: they name the blink reflex's responses (and BrainVision's
#: response markers), and a response taken for a stimulus shifts every latency.
#: "Pulse ox ..." (an oximeter note in an ICU recording) is not a stimulus either.
DEFAULT_STIMULUS_LABEL = r"stim|trig|pulse(?!\s*-?\s*ox)|shock|^\s*s\s*\d+\s*$"
#: Channel labels recognised as trigger/stimulus-marker channels.
TRIGGER_CHANNEL_LABEL = re.compile(r"^\s*(trig(ger)?|sti\d*|stim(ulus)?|status|marker|sync|ttl)\b", re.I)

# Non-voltage channel units edx keeps as auxiliary channels (in SI where it matters).
_AUX_UNITS: dict[str, tuple[str, float]] = {
    "a": ("A", 1.0),
    "ma": ("A", 1e-3),
    "ua": ("A", 1e-6),
    "na": ("A", 1e-9),
    "pa": ("A", 1e-12),
    "degc": ("degC", 1.0),
    "°c": ("degC", 1.0),
    "%": ("%", 1.0),
}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Options every loader understands (see :func:`edx.load`)."""

    channels: tuple[str, ...] | None = None
    units: str | Mapping[str, str] | None = None
    fs_hz: float | None = None
    stimulus_label: str = DEFAULT_STIMULUS_LABEL
    trigger_channel: str | None = None
    stimulus_s: tuple[float, ...] = ()
    detect_stimulus: bool = False


@contextlib.contextmanager
def reading(path: Path | str, what: str) -> Iterator[None]:
    """Turn any failure inside the block into an :class:`EdxError` naming the file.

    ``EdxError`` passes through unchanged; a missing file becomes
    :class:`MissingFileError`; anything else a dependency raises becomes
    :class:`FormatError` chained to the original exception.
    """
    try:
        yield
    except EdxError:
        raise
    except FileNotFoundError as exc:
        missing = exc.filename if exc.filename and str(exc.filename) != str(path) else None
        if missing is not None:
            raise MissingFileError(f"{path}: companion file {missing} not found") from exc
        raise MissingFileError(f"{path}: file not found") from exc
    except MemoryError as exc:
        raise FormatError(f"{path}: {what}: the header asks for more memory than is available; the file is corrupt") from exc
    except RecursionError as exc:  # pragma: no cover - defensive
        raise FormatError(f"{path}: {what}: structure nested too deeply; the file is corrupt") from exc
    except Exception as exc:  # noqa: BLE001 - the boundary: nothing but EdxError escapes a loader
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"{path}: cannot read as {what}: {msg}") from exc


def unit_override(units: str | Mapping[str, str] | None, channel: str) -> str | None:
    """The caller's unit for ``channel`` (a single string applies to every channel)."""
    if units is None:
        return None
    if isinstance(units, str):
        return units
    return units.get(channel)


def channel_scale(unit: str, channel: str, source: str) -> tuple[str, float]:
    """Classify a channel's unit: ``("V", factor_to_volts)`` or an auxiliary unit.

    Parameters
    ----------
    unit : str
        Unit as written in the file (or given by the caller).
    channel : str
        Channel label (trigger-like labels may have an empty unit).
    source : str
        File name for messages.

    Returns
    -------
    (str, float)
        Canonical unit (``"V"``, ``"A"``, ``"degC"``, ``"%"`` or ``""``) and the
        factor that converts the stored values to it.

    Raises
    ------
    UnitError
        For a unit that is neither a voltage nor a known auxiliary unit.
    """
    u = normalize_unit(unit)
    if not u and TRIGGER_CHANNEL_LABEL.search(channel):
        return "", 1.0
    aux = _AUX_UNITS.get(u.lower())
    if aux is not None and u not in ("MA", "PA", "NA"):  # mega/peta/... amperes: refuse to guess
        return aux
    try:
        return "V", volts_per_unit(u)
    except UnitError as exc:
        raise UnitError(
            f"{source}: channel {channel!r}: {exc}; pass units={{'{channel}': 'uV'}} (the right unit) "
            f"or leave the channel out with channels=[...]"
        ) from None


def split_stimuli(
    annotations: Iterable[Annotation], pattern: str, channel: str | None = None
) -> tuple[list[Stimulus], list[Annotation]]:
    """Separate stimulus annotations from the others.

    An annotation whose text matches ``pattern`` (case-insensitive) becomes a
    :class:`Stimulus` with ``source="annotation"``; intensity/duration written in
    the text as ``"12.5 mA"`` / ``"0.2 ms"`` are kept.
    """
    rx = re.compile(pattern, re.I)
    stim: list[Stimulus] = []
    other: list[Annotation] = []
    for a in annotations:
        if a.text and rx.search(a.text):
            stim.append(
                Stimulus(
                    time_s=a.onset_s,
                    source="annotation",
                    label=a.text,
                    intensity_ma=_number_before(a.text, "ma"),
                    duration_ms=_number_before(a.text, "ms"),
                    channel=channel,
                )
            )
        else:
            other.append(a)
    return stim, other


def _number_before(text: str, unit: str) -> float | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*" + unit + r"\b", text, re.I)
    if m is None:
        return None
    value = float(m.group(1))
    if unit == "ms" and value <= 0:
        return None
    return value


def find_trigger_trace(traces: Sequence[Trace], name: str | None, source: str) -> Trace | None:
    """The trigger channel: the one named by the caller, else one recognised by label."""
    if name is not None:
        hits = [t for t in traces if t.channel == name]
        if not hits:
            raise FormatError(
                f"{source}: trigger channel {name!r} not found; channels are {sorted({t.channel for t in traces})}"
            )
        return hits[0]
    for t in traces:
        if TRIGGER_CHANNEL_LABEL.search(t.channel):
            return t
    return None


def trigger_stimuli(trace: Trace) -> list[Stimulus]:
    """Stimuli at the rising edges of a trigger channel.

    The threshold is the midpoint between the channel's minimum and maximum, so TTL
    levels of any scale work; a channel with no level change yields no stimuli.
    """
    x = trace.samples_v
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 0:
        return []
    thr = 0.5 * (lo + hi)
    above = x > thr
    edges = np.flatnonzero(~above[:-1] & above[1:]) + 1
    if above[0]:
        edges = np.concatenate(([0], edges))
    return [
        Stimulus(time_s=trace.start_s + i / trace.fs_hz, source="trigger_channel", label=trace.channel)
        for i in edges
    ]


def detect_artifact_stimuli(
    trace: Trace,
    *,
    z_threshold: float = 40.0,
    min_slope_v_per_s: float = 20.0,
    refractory_s: float = 0.02,
) -> list[Stimulus]:
    """Locate stimulus artifacts by their slope.

    A stimulus artifact is the steepest event in an NCS trace: its first samples
    change by millivolts within one or two sample periods.  A sample is a
    candidate when the absolute first difference (in V/s) exceeds both
    ``z_threshold`` robust standard deviations of the trace's differences and an
    absolute floor (``min_slope_v_per_s``, 20 V/s = 2 mV in 0.1 ms, far steeper than
    any CMAP, SNAP or motor unit potential).  Candidates closer than
    ``refractory_s`` belong to the same artifact; its time is the first sample
    that carries the artifact (the sample after the last quiet one).

    The slope, not the amplitude, decides, so a large CMAP is not mistaken for an
    artifact and a small artifact is still found.
    """
    x = trace.samples_v
    if x.size < 3:
        return []
    d = np.abs(np.diff(x)) * trace.fs_hz
    med = float(np.median(d))
    mad = float(np.median(np.abs(d - med))) * 1.4826
    thr = max(med + z_threshold * mad, min_slope_v_per_s)
    cand = np.flatnonzero(d > thr)
    if cand.size == 0:
        return []
    gap = max(1, int(round(refractory_s * trace.fs_hz)))
    # d[i] compares x[i+1] with x[i]: the artifact's first sample is i + 1
    starts = [int(cand[0]) + 1]
    last = int(cand[0])
    for c in cand[1:]:
        c = int(c)
        if c - last > gap:
            starts.append(c + 1)
        last = c
    return [Stimulus(time_s=trace.start_s + s / trace.fs_hz, source="artifact", channel=trace.channel) for s in starts]


def choose_stimuli(
    *,
    source: str,
    annotation_stimuli: Sequence[Stimulus],
    traces: Sequence[Trace],
    options: LoadOptions,
) -> list[Stimulus]:
    """Apply the order of preference and log which source was used."""
    if annotation_stimuli:
        log.debug("%s: %d stimulus mark(s) from file annotations", source, len(annotation_stimuli))
        return list(annotation_stimuli)
    trig = find_trigger_trace(traces, options.trigger_channel, source)
    if trig is not None:
        # every block of the trigger channel (discontinuous files have several)
        found = [s for t in traces if t.channel == trig.channel for s in trigger_stimuli(t)]
        if found:
            log.debug("%s: %d stimulus mark(s) from trigger channel %r", source, len(found), trig.channel)
            return found
    if options.stimulus_s:
        log.debug("%s: %d stimulus mark(s) from the caller/manifest", source, len(options.stimulus_s))
        return [Stimulus(time_s=float(t), source="manifest") for t in options.stimulus_s]
    if options.detect_stimulus:
        voltage = [t for t in traces if t.is_voltage]
        out: list[Stimulus] = []
        for t in voltage:
            out.extend(detect_artifact_stimuli(t))
        log.debug("%s: %d stimulus mark(s) detected from the artifact", source, len(out))
        return out
    return []


def select_channels(traces: list[Trace], wanted: Sequence[str] | None, source: str) -> list[Trace]:
    """Keep only the wanted channels; name the missing ones in the error."""
    if wanted is None:
        return traces
    have = {t.channel for t in traces}
    missing = [c for c in wanted if c not in have]
    if missing:
        raise FormatError(f"{source}: channel(s) {missing} not in file; channels are {sorted(have)}")
    keep = set(wanted)
    return [t for t in traces if t.channel in keep]


def check_exists(path: Path) -> None:
    """Raise :class:`MissingFileError` naming ``path`` when it is not a readable file."""
    if not path.exists():
        raise MissingFileError(f"{path}: file not found")
    if path.is_dir():
        raise FormatError(f"{path}: is a folder, not a recording file")
