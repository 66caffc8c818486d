"""Files read through `neo <https://neo.readthedocs.io>`_, and in-memory neo objects.

neo reads most research and laboratory formats (Spike2, Axon, BrainVision, Intan,
NIX, ...) into ``Block`` → ``Segment`` → ``AnalogSignal``/``Event`` objects carrying
``quantities`` units.  This module turns them into a :class:`edx.model.Recording`:

* every channel of every ``AnalogSignal`` becomes a :class:`~edx.model.Trace` in
  volts (or in its auxiliary unit: ampere, dimensionless trigger, ...);
* several segments (episodic recordings) make the recording discontinuous, and
  every segment of every voltage channel is also a :class:`~edx.model.Sweep` with
  its true start time and the stimuli that fall inside it;
* events and epochs become annotations; those whose text looks like a stimulus
  become stimuli (then a trigger channel, the caller's times and artifact
  detection, in that order of preference — see :mod:`edx.io._common`).

Known problems of the readers are corrected here, each only after checking that
the installed neo still has it:

* neo (0.14) reads the marker positions of a BrainVision ``.vmrk`` file, which are
  1-based ("time = (position − 1) × sampling interval"), as 0-based sample
  indices, so every marker comes one sample late.  The positions in the marker
  file are compared with neo's times, and the offset is removed when neo did not.
* neo (0.14) ignores the BrainVision channel resolution for ``IEEE_FLOAT_32``
  data (it applies it to integer data only), so float files written with a
  resolution other than 1 — pybv's default is 0.1 µV — come out 10× too large.
* Axon ABF1 episodic files without a synch array (as written by ``pyabf`` and other
  tools) are read by neo as a single segment; they are cut back into their
  episodes from the header's episode count.

neo is imported inside the functions only: importing it costs a noticeable
fraction of a second and most users never need it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DependencyError, EdxError, FormatError, MissingFileError
from ..model import Annotation, Recording, Stimulus, Sweep, Trace
from ._common import (
    TRIGGER_CHANNEL_LABEL,
    LoadOptions,
    channel_scale,
    choose_stimuli,
    find_trigger_trace,
    reading,
    select_channels,
    split_stimuli,
    trigger_stimuli,
    unit_override,
)

__all__ = ["NEO_EXTENSIONS", "read", "from_neo"]

log = logging.getLogger("edx.io")

#: Lower-case extension (with the dot) -> name of the ``neo.io`` class that reads it.
#: Folder-based formats (Neuralynx, Open Ephys, TDT) and formats that need reading
#: parameters (raw binary) are left out, as is Elan's ``.eeg`` (BrainVision data files
#: share the extension).  A plain literal, so that listing it does not import neo.
NEO_EXTENSIONS: dict[str, str] = {
    ".smr": "Spike2IO",
    ".smrx": "CedIO",
    ".abf": "AxonIO",
    ".vhdr": "BrainVisionIO",
    ".rhd": "IntanIO",
    ".rhs": "IntanIO",
    ".nix": "NixIO",
    ".mat": "NeoMatlabIO",
    ".trc": "MicromedIO",
    ".plx": "PlexonIO",
    ".ns1": "BlackrockIO",
    ".ns2": "BlackrockIO",
    ".ns3": "BlackrockIO",
    ".ns4": "BlackrockIO",
    ".ns5": "BlackrockIO",
    ".ns6": "BlackrockIO",
    ".nev": "BlackrockIO",
    ".edr": "WinEdrIO",
    ".wcp": "WinWcpIO",
    ".ibw": "IgorIO",
    ".pxp": "IgorIO",
    ".nwb": "NWBIO",
    ".axgd": "AxographIO",
    ".axgx": "AxographIO",
}

#: Optional package (pip name) each reader needs beyond neo itself, for messages
#: when the ImportError does not name the module.
_OPTIONAL_PACKAGES: dict[str, str] = {
    "CedIO": "sonpy",
    "NixIO": "nixio",
    "NWBIO": "pynwb",
    "IgorIO": "igor2",
}

# Relative tolerance when comparing sampling rates given by the caller and the file.
_RATE_RTOL = 1e-9


# --------------------------------------------------------------------------- reading


def read(path: Path, opts: LoadOptions, io_name: str) -> Recording:
    """Read a file with the neo IO class ``io_name``.

    Parameters
    ----------
    path : pathlib.Path
        The file (its existence has been checked by :func:`edx.load`).
    opts : LoadOptions
        Loader options; ``opts.fs_hz`` must agree with the file's rate when given.
    io_name : str
        Name of the class in ``neo.io`` (a value of :data:`NEO_EXTENSIONS`).

    Returns
    -------
    Recording
        ``format`` is ``"neo:<io_name>"``, ``source`` the path.

    Raises
    ------
    edx.errors.DependencyError
        neo, or the optional package the reader needs (``sonpy``, ``nixio``,
        ``pynwb``, ...), is not installed.
    edx.errors.MissingFileError
        A companion file the format needs (e.g. the BrainVision ``.eeg``) is missing.
    edx.errors.FormatError
        The file cannot be read (corrupt, truncated, wrong format).
    edx.errors.UnitError
        A channel's unit cannot be converted (see ``units=`` and ``channels=``).
    edx.errors.SignalQualityError
        A channel holds no samples or non-finite samples.
    """
    path = Path(path)
    with reading(path, f"{io_name} file"):
        blocks, neo_version, header = _read_blocks(path, io_name)
        event_shift: tuple[int, float] | None = None
        if io_name == "AxonIO":
            blocks = [_split_abf1_episodes(path, b) for b in blocks]
        elif io_name == "BrainVisionIO":
            sections = _ini_sections(path)
            blocks = [_brainvision_fix_resolution(path, b, sections, header) for b in blocks]
            event_shift = _brainvision_marker_shift(path, blocks[0], sections)
        return _convert(
            blocks,
            opts,
            source=str(path),
            format_name=f"neo:{io_name}",
            event_shift=event_shift,
            extra_metadata={"neo_io": io_name, "neo_version": neo_version},
        )


def _read_blocks(path: Path, io_name: str) -> tuple[list[Any], str, Any]:
    """Read the (first) block fully into memory.

    Returns the blocks, neo's version and the reader's ``header`` (the rawio
    channel tables, or None for readers that have none).
    """
    try:
        import neo
    except ImportError as exc:
        raise DependencyError(f"{path}: reading this file needs neo: pip install neo") from exc
    cls = getattr(neo.io, io_name, None)
    if cls is None:
        raise FormatError(
            f"{path}: the installed neo {neo.__version__} has no reader {io_name}; upgrade neo (pip install -U neo)"
        )
    kwargs: dict[str, Any] = {"mode": "ro"} if io_name == "NixIO" else {}
    try:
        io = cls(filename=str(path), **kwargs)
        try:
            if neo.Block in getattr(io, "readable_objects", ()):
                blocks = [io.read_block(lazy=False)]
            else:
                blocks = list(io.read(lazy=False))
        finally:
            _close_quietly(io)
    except ImportError as exc:
        package = _missing_package(exc, io_name)
        raise DependencyError(
            f"{path}: reading {path.suffix or 'this'} files with neo's {io_name} needs the optional package "
            f"{package!r}, which is not installed: pip install {package}  ({exc})"
        ) from exc
    except FileNotFoundError as exc:
        missing = exc.filename
        if missing is not None and Path(missing).resolve() != path.resolve():
            raise MissingFileError(
                f"{path}: companion file {missing} not found; the {io_name} format keeps part of the "
                "recording in it: put it next to the file under the name the header gives"
            ) from exc
        raise
    if not blocks or blocks[0] is None:
        raise FormatError(f"{path}: {io_name} found no data in the file")
    return blocks, str(neo.__version__), getattr(io, "header", None)


def _close_quietly(io: Any) -> None:
    close = getattr(io, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:  # noqa: BLE001 - closing must not hide the real outcome
        log.debug("closing %s failed: %s", type(io).__name__, exc)


def _missing_package(exc: ImportError, io_name: str) -> str:
    """pip name of the package whose import failed."""
    name = getattr(exc, "name", None)
    if name:
        return str(name).split(".")[0]
    return _OPTIONAL_PACKAGES.get(io_name, "the package named in the error")


# ------------------------------------------------------------- format corrections


def _ini_sections(path: Path) -> dict[str, dict[str, str]]:
    """``[Section]`` → ``{key: value}`` of a BrainVision header or marker file.

    Lenient on purpose (unknown bytes replaced, malformed lines skipped): it only
    serves the corrections below, never the reading itself.
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return {}
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        m = re.fullmatch(r"\[(.+)\]", line)
        if m is not None:
            current = sections.setdefault(m.group(1).strip(), {})
            continue
        if current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return sections


def _brainvision_fix_resolution(vhdr: Path, block: Any, sections: dict[str, dict[str, str]], header: Any) -> Any:
    """Apply each channel's BrainVision resolution when neo did not.

    The resolution in ``Ch<n>=<name>,<ref>,<resolution>,<unit>`` converts the stored
    numbers to the unit whatever the binary format; neo 0.14 applies it to integer
    data only, so ``IEEE_FLOAT_32`` data written with a resolution other than 1
    (pybv writes 0.1 µV by default) come out too large.  The factor applied is
    ``resolution / gain neo used``, i.e. 1 once neo applies it itself.
    """
    import neo

    infos = sections.get("Channel Infos", {})
    file_res: dict[str, float] = {}
    for key, value in infos.items():
        m = re.fullmatch(r"ch(\d+)", key, re.I)
        if m is None:
            continue
        fields = value.split(",")
        text = fields[2].strip() if len(fields) >= 3 else ""
        try:
            res = float(text) if text else 1.0
        except ValueError:
            continue
        if math.isfinite(res) and res > 0:
            file_res[str(int(m.group(1)))] = res
    neo_gain: dict[str, float] = {}
    try:
        for ch in header["signal_channels"]:
            neo_gain[str(ch["id"]).strip()] = float(ch["gain"])
    except (TypeError, KeyError, IndexError, ValueError):
        return block
    factors = {
        cid: file_res[cid] / gain
        for cid, gain in neo_gain.items()
        if cid in file_res and gain > 0 and not math.isclose(file_res[cid], gain, rel_tol=1e-12)
    }
    if not factors:
        return block
    log.debug("%s: applying BrainVision resolution neo left out: %s", vhdr, factors)
    for seg in block.segments:
        fixed = []
        for sig in seg.analogsignals:
            ids = sig.array_annotations.get("channel_ids") if hasattr(sig, "array_annotations") else None
            if ids is None or len(ids) != sig.shape[1]:
                fixed.append(sig)
                continue
            scale = np.array([factors.get(str(i).strip(), 1.0) for i in ids])
            if np.all(scale == 1.0):
                fixed.append(sig)
                continue
            fixed.append(
                neo.AnalogSignal(
                    np.asarray(sig.magnitude, dtype=np.float64) * scale,
                    units=sig.units,
                    sampling_rate=sig.sampling_rate,
                    t_start=sig.t_start,
                    name=sig.name,
                    array_annotations=dict(sig.array_annotations),
                )
            )
        seg.analogsignals = fixed
    return block


def _brainvision_marker_shift(
    vhdr: Path, block: Any, sections: dict[str, dict[str, str]]
) -> tuple[int, float] | None:
    """Samples to add to neo's BrainVision event times so that they are 0-based.

    BrainVision marker positions count data points from 1 ("time = (position − 1)
    × sampling interval").  neo 0.14 divides the position by the rate without
    subtracting one.  The positions in the marker file are compared with neo's
    times: if neo returned the raw positions, the shift is ``(-1, fs)`` (one
    sample at rate ``fs``); if it returned ``position - 1`` (a corrected neo), None.
    """
    positions = _vmrk_positions(vhdr, sections)
    times: list[float] = []
    fs = None
    for seg in block.segments:
        for sig in seg.analogsignals:
            fs = float(sig.sampling_rate.rescale("Hz").magnitude)
            break
        for ev in seg.events:
            times.extend(float(t) for t in ev.times.rescale("s").magnitude)
        for ep in seg.epochs:
            times.extend(float(t) for t in ep.times.rescale("s").magnitude)
    if positions is None or fs is None or not times:
        return None
    ticks = sorted(int(round(t * fs)) for t in times)
    if ticks == sorted(positions):
        log.debug("%s: BrainVision marker positions are 1-based; shifting neo's event times by one sample", vhdr)
        return (-1, fs)
    if ticks == sorted(p - 1 for p in positions):
        return None
    log.warning(
        "%s: neo's marker times do not match the positions in the marker file; "
        "marker times are used as neo gives them (they may be one sample late)",
        vhdr,
    )
    return None


def _vmrk_positions(vhdr: Path, sections: dict[str, dict[str, str]]) -> list[int] | None:
    """Marker positions (as written, 1-based) of the marker file a ``.vhdr`` names."""
    name = sections.get("Common Infos", {}).get("MarkerFile")
    if not name:
        return None
    markers = _ini_sections(vhdr.parent / name).get("Marker Infos")
    if markers is None:
        return None
    positions: list[int] = []
    for key, value in markers.items():
        if not re.fullmatch(r"mk\d+", key, re.I):
            continue
        fields = value.split(",")
        try:
            positions.append(int(fields[2].strip()))
        except (IndexError, ValueError):
            return None
    return positions


# ABF1 header: fEpisodeStartToStart (float32, seconds) at this byte offset.
_ABF1_EPISODE_START_TO_START = 178


def _split_abf1_episodes(path: Path, block: Any) -> Any:
    """Cut a single-segment ABF1 episodic block back into its episodes.

    neo's AxonIO finds the episodes of an ABF1 file from its synch array.  Files
    written without one (``nOperationMode`` 5 or 2, ``lSynchArraySize`` 0, as
    ``pyabf.abfWriter.writeABF1`` writes them) still say how many episodes they
    hold (``lActualEpisodes``) and how many samples each has
    (``lNumSamplesPerEpisode``, all channels together).  Episode ``i`` starts at
    ``i * fEpisodeStartToStart`` when the header gives that interval, otherwise
    the episodes are taken as back to back (the convention pyabf uses).
    """
    import neo
    import quantities as pq

    if len(block.segments) != 1 or not block.segments[0].analogsignals:
        return block
    try:
        from neo.rawio.axonrawio import parse_axon_soup

        info = parse_axon_soup(str(path))
    except Exception as exc:  # noqa: BLE001 - the header was already read once by neo
        log.debug("%s: cannot re-read the ABF header (%s); episodes not split", path, exc)
        return block
    if float(info.get("fFileVersionNumber", 2.0)) >= 2.0:
        return block
    mode = int(info.get("nOperationMode", 0))
    n_ep = int(info.get("lActualEpisodes", 0))
    if mode not in (2, 5) or int(info.get("lSynchArraySize", 0)) != 0 or n_ep <= 1:
        return block
    n_adc = max(1, int(info.get("nADCNumChannels", 1)))
    per_ep = int(info.get("lNumSamplesPerEpisode", 0)) // n_adc
    seg = block.segments[0]
    if per_ep <= 0 or any(sig.shape[0] != n_ep * per_ep for sig in seg.analogsignals):
        log.warning(
            "%s: ABF1 episodic file without synch array: %d episode(s) of %d sample(s) do not match "
            "the data length; kept as one segment",
            path,
            n_ep,
            per_ep,
        )
        return block
    with open(path, "rb") as fh:
        fh.seek(_ABF1_EPISODE_START_TO_START)
        raw = fh.read(4)
    interval = struct.unpack("<f", raw)[0] if len(raw) == 4 else 0.0
    out = neo.Block(name=block.name, description=block.description, file_origin=block.file_origin)
    out.rec_datetime = block.rec_datetime
    for i in range(n_ep):
        new = neo.Segment(name=f"episode {i}", index=i)
        for sig in seg.analogsignals:
            fs = float(sig.sampling_rate.rescale("Hz").magnitude)
            length = per_ep / fs
            step = interval if math.isfinite(interval) and interval >= length else length
            t0 = float(sig.t_start.rescale("s").magnitude) + i * step
            new.analogsignals.append(
                neo.AnalogSignal(
                    sig.magnitude[i * per_ep : (i + 1) * per_ep],
                    units=sig.units,
                    sampling_rate=sig.sampling_rate,
                    t_start=t0 * pq.s,
                    name=sig.name,
                    array_annotations=dict(sig.array_annotations),
                )
            )
        if i == 0:
            # Events keep their absolute times; which segment holds them does not matter.
            new.events.extend(seg.events)
            new.epochs.extend(seg.epochs)
        out.segments.append(new)
    log.debug("%s: ABF1 episodic file without synch array cut into %d episodes", path, n_ep)
    return out


# ----------------------------------------------------------------------- conversion


def from_neo(
    obj: Any,
    opts: LoadOptions | None = None,
    source: str = "neo",
    *,
    format_name: str = "neo",
) -> Recording:
    """Convert an in-memory neo object to a :class:`Recording`.

    Parameters
    ----------
    obj : neo.Block, neo.Segment or sequence of neo.Block
        The data.  The segments of several blocks are used in order.
    opts : LoadOptions, optional
        Channel selection, unit overrides and stimulus options (defaults when None).
    source : str
        Description kept in ``Recording.source`` and used in messages.
    format_name : str
        Value of ``Recording.format``.

    Returns
    -------
    Recording
        One trace per channel and segment; with several segments also one sweep
        per segment and voltage channel, and ``continuous=False``.

    Raises
    ------
    edx.errors.FormatError
        ``obj`` is not a neo object, holds no analog signal, or a requested
        channel is absent.
    edx.errors.UnitError
        A channel's unit is neither a voltage nor a known auxiliary unit.
    edx.errors.SignalQualityError
        A channel holds no samples or non-finite samples.
    """
    opts = opts or LoadOptions()
    with reading(source, "neo object"):
        return _convert(_as_blocks(obj, source), opts, source=source, format_name=format_name)


def _as_blocks(obj: Any, source: str) -> list[Any]:
    import neo

    if isinstance(obj, neo.Block):
        return [obj]
    if isinstance(obj, neo.Segment):
        return [obj]
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and obj:
        if all(isinstance(b, neo.Block) for b in obj):
            return list(obj)
    raise FormatError(
        f"{source}: expected a neo.Block, a neo.Segment or a list of neo.Block, got {type(obj).__name__}"
    )


@dataclass(frozen=True, slots=True)
class _Channel:
    """One channel of one analog signal of one segment, before conversion."""

    segment: int
    name: str
    signal: Any
    column: int


def _segments_of(blocks: Sequence[Any]) -> list[Any]:
    import neo

    segments: list[Any] = []
    for b in blocks:
        if isinstance(b, neo.Segment):
            segments.append(b)
        else:
            segments.extend(b.segments)
    return segments


def _signal_names(sig: Any, first_index: int) -> list[str]:
    """Raw channel names of one AnalogSignal (not yet made unique)."""
    n = int(sig.shape[1]) if sig.ndim == 2 else 1
    annotated: list[str] | None = None
    arr_ann = getattr(sig, "array_annotations", None) or {}
    raw = arr_ann.get("channel_names") if hasattr(arr_ann, "get") else None
    if raw is not None and len(raw) == n:
        annotated = [str(x).strip() for x in raw]
    base = str(sig.name).strip() if sig.name is not None else ""
    names: list[str] = []
    for j in range(n):
        if annotated is not None and annotated[j]:
            names.append(annotated[j])
        elif base:
            # "_" keeps "Ch1" column 0 from reading as "Ch10"
            names.append(base if n == 1 else f"{base}_{j}")
        else:
            names.append(f"ch{first_index + j}")
    return names


def _collect_channels(segments: Sequence[Any], source: str) -> list[_Channel]:
    """Name every channel of every segment, uniquely within each segment.

    Names depend only on the segment's own signals and their order, so the same
    channel gets the same name in every segment of an episodic file.
    """
    out: list[_Channel] = []
    for k, seg in enumerate(segments):
        used: set[str] = set()
        position = 0
        for sig in seg.analogsignals:
            for j, name in enumerate(_signal_names(sig, position)):
                unique = name
                n = 2
                while unique in used:
                    unique = f"{name}_{n}"
                    n += 1
                used.add(unique)
                out.append(_Channel(segment=k, name=unique, signal=sig, column=j))
            position += int(sig.shape[1]) if sig.ndim == 2 else 1
        for sig in getattr(seg, "irregularlysampledsignals", ()):
            log.warning(
                "%s: segment %d: irregularly sampled signal %r skipped (edx needs a fixed sampling rate)",
                source,
                k,
                sig.name,
            )
        if getattr(seg, "spiketrains", None):
            log.debug("%s: segment %d: %d spike train(s) ignored", source, k, len(seg.spiketrains))
    return out


def _unit_string(sig: Any) -> str:
    dim = sig.units.dimensionality
    return "" if len(dim) == 0 else str(dim.string)


def _scale(sig: Any, channel: str, source: str, override: str | None) -> tuple[str, float]:
    """Canonical unit and factor from the stored numbers (``sig.magnitude``) to it."""
    import quantities as pq

    if override is not None:
        return channel_scale(override, channel, source)
    if len(sig.units.dimensionality) == 0:  # dimensionless: a trigger/status channel or nothing
        return channel_scale("", channel, source)
    one = pq.Quantity(1.0, sig.units)
    for target, unit in ((pq.V, "V"), (pq.A, "A")):
        try:
            return unit, float(np.asarray(one.rescale(target).magnitude))
        except ValueError:
            continue
    return channel_scale(_unit_string(sig), channel, source)


def _trace(ch: _Channel, source: str, opts: LoadOptions) -> Trace:
    sig = ch.signal
    unit, factor = _scale(sig, ch.name, source, unit_override(opts.units, ch.name))
    mag = np.asarray(sig.magnitude)
    column = mag[:, ch.column] if mag.ndim == 2 else mag
    samples = np.asarray(column, dtype=np.float64) * factor
    return Trace(
        channel=ch.name,
        fs_hz=float(np.asarray(sig.sampling_rate.rescale("Hz").magnitude)),
        samples_v=samples,
        start_s=float(np.asarray(sig.t_start.rescale("s").magnitude)),
        unit=unit,
    )


def _annotations(segments: Sequence[Any], shift: tuple[int, float] | None, source: str) -> list[Annotation]:
    """Events and epochs of every segment as annotations (times in seconds).

    ``shift`` = ``(n, fs)`` moves every time by ``n`` samples at rate ``fs``
    (computed on the sample scale so that whole-sample times stay exact).
    Events without a finite time are skipped with a warning.
    """

    def seconds(q: Any) -> np.ndarray:
        t = np.asarray(q.rescale("s").magnitude, dtype=float).ravel()
        if shift is not None:
            n, fs = shift
            t = (t * fs + n) / fs
        return t

    out: list[Annotation] = []
    skipped = 0
    for seg in segments:
        for ev in seg.events:
            times = seconds(ev.times)
            for t, text in zip(times, _texts(ev, times.size)):
                if not math.isfinite(t):
                    skipped += 1
                    continue
                out.append(Annotation(float(t), None, text))
        for ep in seg.epochs:
            times = seconds(ep.times)
            durations = np.asarray(ep.durations.rescale("s").magnitude, dtype=float).ravel()
            if durations.size == 1 and times.size != 1:
                durations = np.full(times.shape, float(durations[0]))
            for t, d, text in zip(times, durations, _texts(ep, times.size)):
                if not math.isfinite(t):
                    skipped += 1
                    continue
                out.append(Annotation(float(t), float(d) if math.isfinite(d) and d >= 0 else None, text))
    if skipped:
        log.warning("%s: %d event(s) without a finite time skipped", source, skipped)
    return out


def _texts(obj: Any, n: int) -> list[str]:
    """Text of each event: ``"<name>/<label>"`` (BrainVision style), or whichever exists."""
    name = str(obj.name).strip() if obj.name is not None else ""
    labels = np.asarray(obj.labels) if obj.labels is not None else np.array([])
    out: list[str] = []
    for i in range(n):
        label = ""
        if i < labels.size:
            raw = labels.ravel()[i]
            label = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).strip()
        if name and label and label != name:
            out.append(f"{name}/{label}")
        else:
            out.append(label or name)
    return out


def _segment_aware_stimuli(
    *, source: str, annotation_stimuli: list[Stimulus], traces: list[Trace], opts: LoadOptions, n_segments: int
) -> list[Stimulus]:
    """:func:`choose_stimuli`, reading a trigger channel in every segment.

    :func:`edx.io._common.find_trigger_trace` returns one trace, which for an
    episodic file is the trigger channel of the first segment only; with several
    segments the rising edges of the same channel in every segment are used.
    """
    if annotation_stimuli or n_segments <= 1:
        return choose_stimuli(source=source, annotation_stimuli=annotation_stimuli, traces=traces, options=opts)
    trig = find_trigger_trace(traces, opts.trigger_channel, source)
    if trig is not None:
        found = [s for t in traces if t.channel == trig.channel for s in trigger_stimuli(t)]
        if found:
            log.debug("%s: %d stimulus mark(s) from trigger channel %r", source, len(found), trig.channel)
            return found
    return choose_stimuli(source=source, annotation_stimuli=[], traces=traces, options=opts)


def _sweep(trace: Trace, index: int, stimuli: Sequence[Stimulus]) -> Sweep:
    """The sweep of one segment of one voltage channel, with the stimuli inside it."""
    inside: list[tuple[int, Stimulus]] = []
    for s in stimuli:
        if s.channel is not None and s.channel != trace.channel:
            continue
        i = int(round((s.time_s - trace.start_s) * trace.fs_hz))
        if 0 <= i < trace.n_samples:
            inside.append((i, s))
    inside.sort(key=lambda p: p[0])
    indices = tuple(dict.fromkeys(i for i, _ in inside))  # ascending, each once
    sources = [s.source for _, s in inside]
    intensity = next((s.intensity_ma for _, s in inside if s.intensity_ma is not None), None)
    duration = next((s.duration_ms for _, s in inside if s.duration_ms is not None), None)
    return Sweep(
        samples_v=trace.samples_v,
        fs_hz=trace.fs_hz,
        stimulus_indices=indices,
        channel=trace.channel,
        start_s=trace.start_s,
        index=index,
        stimulus_source=sources[0] if sources else None,
        intensity_ma=intensity,
        stimulus_duration_ms=duration,
    )


def _check_rate(traces: Sequence[Trace], fs_hz: float | None, source: str) -> None:
    if fs_hz is None:
        return
    rates = sorted({t.fs_hz for t in traces})
    bad = [r for r in rates if abs(r - fs_hz) > _RATE_RTOL * max(abs(r), 1.0)]
    if bad:
        raise FormatError(
            f"{source}: fs_hz={fs_hz:g} was given but the file records at {', '.join(f'{r:g}' for r in rates)} Hz; "
            "neo files carry their own sampling rate: leave fs_hz out"
        )


def _convert(
    blocks: Sequence[Any],
    opts: LoadOptions,
    *,
    source: str,
    format_name: str,
    event_shift: tuple[int, float] | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> Recording:
    """Shared conversion of neo blocks/segments (see :func:`from_neo`)."""
    segments = _segments_of(blocks)
    channels = _collect_channels(segments, source)
    if not channels:
        raise FormatError(f"{source}: no analog signal in {len(segments)} segment(s); nothing edx can analyse")
    names = list(dict.fromkeys(c.name for c in channels))

    if opts.channels is not None:
        missing = [c for c in opts.channels if c not in names]
        if missing:
            raise FormatError(f"{source}: channel(s) {missing} not in file; channels are {sorted(names)}")
        wanted = set(opts.channels)
    else:
        wanted = set(names)

    # (segment number, trace), in file order
    built = [(ch.segment, _trace(ch, source, opts)) for ch in channels if ch.name in wanted]
    traces = select_channels([t for _, t in built], opts.channels, source)
    _check_rate(traces, opts.fs_hz, source)

    # A trigger channel left out by channels=[...] still marks the stimuli.
    helpers: list[Trace] = []
    for ch in channels:
        if ch.name in wanted:
            continue
        if ch.name == opts.trigger_channel:
            helpers.append(_trace(ch, source, opts))
        elif opts.trigger_channel is None and TRIGGER_CHANNEL_LABEL.search(ch.name):
            try:
                helpers.append(_trace(ch, source, opts))
            except EdxError as exc:
                log.debug("%s: unselected trigger-like channel %r unusable: %s", source, ch.name, exc)

    annotations = _annotations(segments, event_shift, source)
    ann_stimuli, others = split_stimuli(annotations, opts.stimulus_label)
    stimuli = _segment_aware_stimuli(
        source=source,
        annotation_stimuli=ann_stimuli,
        traces=traces + helpers,
        opts=opts,
        n_segments=len(segments),
    )

    multi = len(segments) > 1
    sweeps: list[Sweep] = []
    if multi:
        # Sweeps hold volts only (see Sweep): auxiliary channels stay traces.
        sweeps = [_sweep(t, k, stimuli) for k, t in built if t.is_voltage]

    first = blocks[0]
    start = getattr(first, "rec_datetime", None)
    if start is None and segments:
        start = getattr(segments[0], "rec_datetime", None)
    metadata: dict[str, Any] = {"n_segments": len(segments)}
    for key in ("name", "description", "file_origin"):
        value = getattr(first, key, None)
        if value:
            metadata[f"neo_{key}"] = str(value)
    metadata.update(extra_metadata or {})
    log.debug(
        "%s: %d trace(s), %d sweep(s), %d stimulus mark(s), %d annotation(s)",
        source,
        len(traces),
        len(sweeps),
        len(stimuli),
        len(others),
    )
    return Recording(
        traces=tuple(traces),
        sweeps=tuple(sweeps),
        stimuli=tuple(stimuli),
        annotations=tuple(others),
        start_datetime=start if isinstance(start, _dt.datetime) else None,
        source=source,
        format=format_name,
        continuous=not multi,
        metadata=metadata,
    )

