"""The edx data model: plain, typed dataclasses.

Conventions (see DESIGN.md):

* raw samples are float64 **volts** as the amplifier measured G1 − G2, so a CMAP's
  first phase is negative and a fibrillation potential's first phase positive;
* times are seconds, relative to the start of the recording the samples came from;
* sample indices are 0-based positions within the array they refer to.

The classes hold data and check it on construction (shape, finiteness, ranges); they
contain no signal processing.  Arrays are stored as read-only, C-contiguous float64
copies-if-needed so that a result computed from a model object cannot be changed
behind its back.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import SignalQualityError

__all__ = [
    "StimulusSource",
    "Annotation",
    "Stimulus",
    "FilterSettings",
    "Trace",
    "Sweep",
    "Response",
    "Recording",
    "TestType",
    "DataRef",
    "StimulationSite",
    "TestSpec",
    "Patient",
    "ClinicalContext",
    "Study",
]

#: Where a stimulus mark came from, in the order of preference used by the loaders.
StimulusSource = Literal["annotation", "trigger_channel", "manifest", "artifact", "caller"]
_STIMULUS_SOURCES = ("annotation", "trigger_channel", "manifest", "artifact", "caller")


def _finite_positive(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return v


def _as_samples(samples: Any, what: str) -> np.ndarray:
    """Return ``samples`` as a read-only, C-contiguous, finite, 1-D float64 array."""
    arr = np.asarray(samples)
    if arr.dtype.kind not in "fiu":
        raise SignalQualityError(f"{what}: samples must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 1:
        raise SignalQualityError(f"{what}: samples must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise SignalQualityError(f"{what}: zero-length signal (no samples)")
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        first = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise SignalQualityError(
            f"{what}: {bad} non-finite sample(s) (NaN or inf), first at index {first}; "
            "edx does not interpolate over gaps: cut the segment or repair the file"
        )
    if arr.flags.writeable:
        # Never freeze the caller's own array: copy unless the conversion above
        # already produced a fresh array that nobody else holds.
        if arr is samples or arr.base is not None or not arr.flags.owndata:
            arr = arr.copy()
        arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True)
class Annotation:
    """A time-stamped text from a file (EDF+ TAL, BrainVision marker, neo event, ...).

    Parameters
    ----------
    onset_s : float
        Seconds from the recording start.
    duration_s : float or None
        Duration when the file gives one.
    text : str
        The annotation text as written in the file.
    """

    onset_s: float
    duration_s: float | None
    text: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.onset_s):
            raise ValueError(f"annotation onset must be finite, got {self.onset_s!r}")


@dataclass(frozen=True, slots=True)
class Stimulus:
    """One stimulus delivery.

    Parameters
    ----------
    time_s : float
        Seconds from the recording start.
    source : {"annotation", "trigger_channel", "manifest", "artifact", "caller"}
        How the time was obtained (file annotation/event, threshold crossing on a
        trigger channel, the study manifest, detection of the stimulus artifact in
        the signal, or given directly by the caller).
    label : str
        Text of the annotation or event, if any.
    intensity_ma : float or None
        Stimulus intensity in mA when known.
    duration_ms : float or None
        Stimulus pulse duration in ms when known.
    channel : str or None
        Channel the mark belongs to, or None when it applies to every channel.
    """

    time_s: float
    source: StimulusSource
    label: str = ""
    intensity_ma: float | None = None
    duration_ms: float | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.time_s):
            raise ValueError(f"stimulus time must be finite, got {self.time_s!r}")
        if self.source not in _STIMULUS_SOURCES:
            raise ValueError(f"unknown stimulus source {self.source!r}; expected one of {_STIMULUS_SOURCES}")
        if self.intensity_ma is not None and not (math.isfinite(self.intensity_ma) and self.intensity_ma >= 0):
            raise ValueError(f"stimulus intensity must be finite and >= 0 mA, got {self.intensity_ma!r}")
        if self.duration_ms is not None and not (math.isfinite(self.duration_ms) and self.duration_ms > 0):
            raise ValueError(f"stimulus duration must be finite and > 0 ms, got {self.duration_ms!r}")


@dataclass(frozen=True, slots=True)
class FilterSettings:
    """Amplifier filter settings as recorded (measures such as CMAP duration depend on them).

    Parameters
    ----------
    highpass_hz, lowpass_hz, notch_hz : float or None
        Corner frequencies when known.
    description : str
        The text the file gave (e.g. EDF "prefiltering" field), kept verbatim.
    """

    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    notch_hz: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("highpass_hz", "lowpass_hz", "notch_hz"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
        if (
            self.highpass_hz is not None
            and self.lowpass_hz is not None
            and self.lowpass_hz > 0
            and self.highpass_hz >= self.lowpass_hz
        ):
            raise ValueError(
                f"high-pass corner {self.highpass_hz} Hz is not below low-pass corner {self.lowpass_hz} Hz"
            )

    @property
    def is_known(self) -> bool:
        """True if at least one corner frequency is known."""
        return any(v is not None for v in (self.highpass_hz, self.lowpass_hz, self.notch_hz))


@dataclass(frozen=True, eq=False)
class Trace:
    """A continuous stretch of one channel at one sampling rate.

    A continuous file gives one trace per channel; a discontinuous file (EDF+D,
    neo segments) gives one trace per channel per contiguous block, each with its
    true ``start_s``.  Channels with different rates stay at their own rates.

    Parameters
    ----------
    channel : str
        Channel label.
    fs_hz : float
        Sampling rate.
    samples_v : numpy.ndarray
        Samples in volts for voltage channels (``unit == "V"``); for auxiliary
        channels (trigger, stimulator current) in the unit given by ``unit``.
    start_s : float
        Time of the first sample, seconds from the recording start.
    unit : str
        ``"V"`` for voltage channels, otherwise the unit of the auxiliary channel
        (``"A"``, or ``""`` for dimensionless trigger/status channels).
    filters : FilterSettings or None
        Filter settings when the file gives them.
    clip_range : tuple of float or None
        Physical values of the converter's rails (same unit as the samples) when
        the file gives them, so that clipping can be detected later.
    """

    channel: str
    fs_hz: float
    samples_v: np.ndarray
    start_s: float = 0.0
    unit: str = "V"
    filters: FilterSettings | None = None
    clip_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fs_hz", _finite_positive(f"channel {self.channel!r}: fs_hz", self.fs_hz))
        object.__setattr__(self, "samples_v", _as_samples(self.samples_v, f"channel {self.channel!r}"))
        if not math.isfinite(self.start_s):
            raise ValueError(f"channel {self.channel!r}: start_s must be finite")

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.samples_v.size)

    @property
    def duration_s(self) -> float:
        """Duration covered by the samples (n / fs)."""
        return self.n_samples / self.fs_hz

    @property
    def end_s(self) -> float:
        """Time just after the last sample, seconds from the recording start."""
        return self.start_s + self.duration_s

    @property
    def is_voltage(self) -> bool:
        """True for channels whose samples are volts."""
        return self.unit == "V"


@dataclass(frozen=True, eq=False)
class Sweep:
    """One stimulus-locked epoch of one channel.

    Parameters
    ----------
    samples_v : numpy.ndarray
        Samples in volts (G1 − G2).
    fs_hz : float
        Sampling rate.
    stimulus_indices : tuple of int
        Sample indices (within this sweep) of the stimuli it contains: one for an
        ordinary sweep, several for a repetitive-stimulation train, none when the
        stimulus could not be located (measurements then report a quality failure).
    channel : str
        Channel label.
    start_s : float
        Time of sample 0, seconds from the recording start.
    index : int
        Position of the sweep in its file or selection.
    stimulus_source : str or None
        How the stimulus position was obtained (see :class:`Stimulus`).
    intensity_ma, stimulus_duration_ms : float or None
        Stimulus parameters when known.
    filters : FilterSettings or None
        Filter settings when known.
    clip_range : tuple of float or None
        Converter rails in volts when known.
    """

    samples_v: np.ndarray
    fs_hz: float
    stimulus_indices: tuple[int, ...] = ()
    channel: str = ""
    start_s: float = 0.0
    index: int = 0
    stimulus_source: str | None = None
    intensity_ma: float | None = None
    stimulus_duration_ms: float | None = None
    filters: FilterSettings | None = None
    clip_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        what = f"sweep {self.index} of channel {self.channel!r}"
        object.__setattr__(self, "fs_hz", _finite_positive(f"{what}: fs_hz", self.fs_hz))
        object.__setattr__(self, "samples_v", _as_samples(self.samples_v, what))
        idx = tuple(int(i) for i in self.stimulus_indices)
        n = self.samples_v.size
        for i in idx:
            if not 0 <= i < n:
                raise ValueError(f"{what}: stimulus index {i} outside the sweep (0..{n - 1})")
        if list(idx) != sorted(idx):
            raise ValueError(f"{what}: stimulus indices must be ascending, got {idx}")
        object.__setattr__(self, "stimulus_indices", idx)
        if idx and self.stimulus_source is None:
            raise ValueError(f"{what}: stimulus_source must say where the stimulus position came from")

    @property
    def stimulus_index(self) -> int | None:
        """Index of the first stimulus in the sweep, or None when it is unknown."""
        return self.stimulus_indices[0] if self.stimulus_indices else None

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.samples_v.size)

    @property
    def duration_s(self) -> float:
        """Duration covered by the samples (n / fs)."""
        return self.n_samples / self.fs_hz


@dataclass(frozen=True, eq=False)
class Response:
    """The sweeps recorded for one stimulation site of one test.

    A motor response is usually one supramaximal sweep, a sensory response several
    sweeps to be averaged, an F-wave study a train of ≥ 10 sweeps, a repetitive
    stimulation study one sweep holding the whole train.

    Parameters
    ----------
    sweeps : tuple of Sweep
        At least one sweep, all at the same sampling rate.
    test_id : str
        Identifier of the test in its manifest.
    site : str
        Stimulation site name (e.g. ``"ankle"``).
    distance_mm : float or None
        Distance of this segment in mm (see :class:`StimulationSite`).
    stimulated : {"nerve", "muscle"}
        What was stimulated (``"muscle"`` for direct muscle stimulation).
    """

    sweeps: tuple[Sweep, ...]
    test_id: str = ""
    site: str = ""
    distance_mm: float | None = None
    stimulated: Literal["nerve", "muscle"] = "nerve"

    def __post_init__(self) -> None:
        sweeps = tuple(self.sweeps)
        if not sweeps:
            raise ValueError(f"response {self.test_id!r}/{self.site!r} has no sweeps")
        rates = {s.fs_hz for s in sweeps}
        if len(rates) > 1:
            raise ValueError(
                f"response {self.test_id!r}/{self.site!r}: sweeps at different rates {sorted(rates)} Hz"
            )
        object.__setattr__(self, "sweeps", sweeps)
        if self.distance_mm is not None and not (math.isfinite(self.distance_mm) and self.distance_mm >= 0):
            raise ValueError(f"distance_mm must be finite and >= 0, got {self.distance_mm!r}")
        if self.stimulated not in ("nerve", "muscle"):
            raise ValueError(f"stimulated must be 'nerve' or 'muscle', got {self.stimulated!r}")

    @property
    def fs_hz(self) -> float:
        """Sampling rate shared by the sweeps."""
        return self.sweeps[0].fs_hz


@dataclass(frozen=True, eq=False)
class Recording:
    """What a file (or an in-memory object) holds.

    Parameters
    ----------
    traces : tuple of Trace
        Continuous data: one trace per channel and contiguous block.
    sweeps : tuple of Sweep
        Stimulus-locked epochs when the source stores them as such (EDF+D data
        records, neo segments, episodic Axon files); empty for purely continuous
        sources, which are cut into sweeps around ``stimuli`` on demand.
    stimuli : tuple of Stimulus
        Stimulus marks, sorted by time, each saying where it came from.
    annotations : tuple of Annotation
        Every other time-stamped text the file holds.
    start_datetime : datetime.datetime or None
        Wall-clock start when the file gives it.
    source : str
        Path or description of the origin.
    format : str
        Format name (``"EDF+D"``, ``"WFDB"``, ``"neo:BrainVisionIO"``, ...).
    continuous : bool
        False when the file's blocks are separated by gaps (EDF+D, segments).
    metadata : Mapping
        Other header fields worth showing (patient/recording fields, comments).
    """

    traces: tuple[Trace, ...] = ()
    sweeps: tuple[Sweep, ...] = ()
    stimuli: tuple[Stimulus, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    start_datetime: _dt.datetime | None = None
    source: str = ""
    format: str = ""
    continuous: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "traces", tuple(self.traces))
        object.__setattr__(self, "sweeps", tuple(self.sweeps))
        object.__setattr__(self, "stimuli", tuple(sorted(self.stimuli, key=lambda s: s.time_s)))
        object.__setattr__(self, "annotations", tuple(sorted(self.annotations, key=lambda a: a.onset_s)))
        if not self.traces and not self.sweeps:
            raise SignalQualityError(f"{self.source or 'recording'}: holds no signal (no traces, no sweeps)")

    @property
    def channels(self) -> tuple[str, ...]:
        """Channel labels in file order (each once)."""
        seen: dict[str, None] = {}
        for t in self.traces:
            seen.setdefault(t.channel, None)
        for s in self.sweeps:
            seen.setdefault(s.channel, None)
        return tuple(seen)

    @property
    def fs_by_channel(self) -> dict[str, float]:
        """Sampling rate of each channel."""
        out: dict[str, float] = {}
        for t in self.traces:
            out.setdefault(t.channel, t.fs_hz)
        for s in self.sweeps:
            out.setdefault(s.channel, s.fs_hz)
        return out

    @property
    def unit_by_channel(self) -> dict[str, str]:
        """Unit of each channel's samples (``"V"`` for voltage channels)."""
        out: dict[str, str] = {}
        for t in self.traces:
            out.setdefault(t.channel, t.unit)
        for s in self.sweeps:
            out.setdefault(s.channel, "V")
        return out

    @property
    def duration_s(self) -> float:
        """Span from time 0 to the end of the last sample of any trace or sweep."""
        ends = [t.end_s for t in self.traces] + [s.start_s + s.duration_s for s in self.sweeps]
        return max(ends)

    def traces_of(self, channel: str) -> tuple[Trace, ...]:
        """The traces of one channel, in time order."""
        return tuple(sorted((t for t in self.traces if t.channel == channel), key=lambda t: t.start_s))

    def sweeps_of(self, channel: str) -> tuple[Sweep, ...]:
        """The stored sweeps of one channel, in file order."""
        return tuple(s for s in self.sweeps if s.channel == channel)


class TestType(enum.StrEnum):
    """Kinds of electrodiagnostic test a manifest can describe."""

    MOTOR = "motor"
    SENSORY = "sensory"
    F_WAVE = "f_wave"
    RNS = "rns"
    DMS = "dms"
    NEEDLE_REST = "needle_rest"
    NEEDLE_MINIMAL = "needle_minimal"
    NEEDLE_MAXIMAL = "needle_maximal"

    @property
    def is_needle(self) -> bool:
        """True for needle EMG tests (continuous recordings, no stimulus)."""
        return self.value.startswith("needle")

    __test__ = False  # not a pytest test class


@dataclass(frozen=True, slots=True)
class DataRef:
    """Where a site's samples are: a file and the part of it to use.

    Parameters
    ----------
    file : pathlib.Path
        Absolute path (manifest paths are resolved against the manifest folder).
    channel : str or None
        Channel label; None when the file has a single voltage channel.
    sweeps : tuple of int or None
        Sweep numbers to use (None: all).
    window_s : tuple of float or None
        ``(start, end)`` in seconds for continuous data (None: all).
    stimulus_s : tuple of float
        Stimulus times given by the manifest (used when the file has no marks).
    fs_hz : float or None
        Sampling rate for array files that do not carry one.
    unit : str or None
        Unit for array files that do not carry one.
    """

    file: Path
    channel: str | None = None
    sweeps: tuple[int, ...] | None = None
    window_s: tuple[float, float] | None = None
    stimulus_s: tuple[float, ...] = ()
    fs_hz: float | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class StimulationSite:
    """One stimulation (or needle) site of a test.

    Parameters
    ----------
    name : str
        Site name (``"wrist"``, ``"elbow"``, ``"ankle"``, or a needle position).
    data : DataRef
        Where its samples are.
    distance_mm : float or None
        For the first (most distal) site: distance from the stimulation point to
        the active recording electrode; for every further site: distance from the
        previous site (the segment length used for conduction velocity).
    stimulated : {"nerve", "muscle"}
        ``"muscle"`` for the direct-muscle-stimulation site of a DMS test.
    intensity_ma, duration_ms : float or None
        Stimulus parameters when known.
    """

    name: str
    data: DataRef
    distance_mm: float | None = None
    stimulated: Literal["nerve", "muscle"] = "nerve"
    intensity_ma: float | None = None
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class TestSpec:
    """One test of a study with its clinical context.

    Parameters
    ----------
    id : str
        Identifier unique within the study.
    type : TestType
        Kind of test.
    nerve : str or None
        Nerve for conduction tests (``"median"``, ``"peroneal"``, ``"sural"``, ...).
    muscle : str or None
        Recording muscle (motor, F, RNS, DMS) or needled muscle.
    side : {"L", "R"} or None
        Body side.
    recording_site : str or None
        Recording site for sensory tests (``"digit 2"``) or electrode notes.
    sites : tuple of StimulationSite
        Stimulation sites, distal first (needle tests: needle positions).
    temperature_c : float or None
        Limb temperature at the recording site.
    filters : FilterSettings or None
        Filter settings from the manifest (override what the file says).
    rate_hz : float or None
        Stimulation rate for repetitive stimulation.
    notes : str
        Free text.
    """

    id: str
    type: TestType
    sites: tuple[StimulationSite, ...]
    nerve: str | None = None
    muscle: str | None = None
    side: Literal["L", "R"] | None = None
    recording_site: str | None = None
    temperature_c: float | None = None
    filters: FilterSettings | None = None
    rate_hz: float | None = None
    notes: str = ""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True, slots=True)
class Patient:
    """The patient, pseudonymous.

    Parameters
    ----------
    id : str
        Pseudonymous identifier (never a name).
    age_years : float or None
    sex : {"M", "F", "X"} or None
    height_cm : float or None
    """

    id: str
    age_years: float | None = None
    sex: Literal["M", "F", "X"] | None = None
    height_cm: float | None = None


@dataclass(frozen=True, slots=True)
class ClinicalContext:
    """Clinical circumstances of a study that change how it is read.

    Parameters
    ----------
    icu_day : int or None
        Day in the ICU (admission day = 1).
    sedated : bool or None
        True if the patient could not cooperate (no voluntary effort on needle EMG).
    oedema : tuple of str
        Limbs with oedema (``"legs"``, ``"arms"``, ...).
    mrc_sum_score : int or None
        Medical Research Council sum score (0–60).
    handgrip_kg : float or None
        Handgrip dynamometry.
    biopsy : str or None
        Muscle biopsy finding when known (needed for a "definite" CIM).
    neuromuscular_blockers : bool or None
        Recent neuromuscular blocking agents.
    """

    icu_day: int | None = None
    sedated: bool | None = None
    oedema: tuple[str, ...] = ()
    mrc_sum_score: int | None = None
    handgrip_kg: float | None = None
    biopsy: str | None = None
    neuromuscular_blockers: bool | None = None


@dataclass(frozen=True, slots=True)
class Study:
    """A study as described by its manifest.

    Parameters
    ----------
    patient : Patient
    date : datetime.date
        Study date.
    context : ClinicalContext
    tests : tuple of TestSpec
    manifest_path : pathlib.Path or None
        The manifest file, when the study came from one.
    schema_version : int
        Manifest schema version.
    """

    patient: Patient
    date: _dt.date
    context: ClinicalContext
    tests: tuple[TestSpec, ...]
    manifest_path: Path | None = None
    schema_version: int = 1

    def test(self, test_id: str) -> TestSpec:
        """Return the test with this id (KeyError if absent)."""
        for t in self.tests:
            if t.id == test_id:
                return t
        raise KeyError(test_id)
