"""Needle EMG simulator: spontaneous activity at rest and motor unit potentials on effort.

This module is the ground truth for the accuracy tests of the spontaneous-activity
detector and of motor-unit-potential (MUP) analysis.  It generates a concentric-needle
recording as ``clean + imperfections`` (the imperfections come from
:mod:`edx.sim.noise`) and returns, next to the samples, a :class:`NeedleTruth` that lists
every discharge it placed, every source (train) and every motor unit with its clean
template and its measures.

Conventions (see ``shared/DESIGN.md``)
--------------------------------------
* samples are float64 **volts** as the amplifier measured G1 − G2; a fibrillation
  potential's and a positive sharp wave's first phase is therefore **positive** (EMG
  screens draw negative up, so it looks downward there); an end-plate spike's first
  phase is **negative**;
* times are seconds from the first sample (sample ``i`` is at ``i / fs_hz``);
* clinical quantities carry their unit in the name (``amplitude_uv``, ``duration_ms``,
  ``firing_rate_hz``).

Determinism
-----------
The simulating functions take a seed (``int``, :class:`numpy.random.SeedSequence` or
:class:`numpy.random.Generator`; :func:`make_motor_unit` takes a Generator); no global
random state is touched.  The physiology
and the recording imperfections are drawn from separate child streams, so the same
seed with ``noise_rms_v=0`` (and no hum/baseline/clip) returns exactly the clean signal
of the noisy run: ``signal − clean`` is then the added imperfection alone.

Where the numbers come from
---------------------------
``CLINICAL.md`` (shared/, section 1) gives the clinical description of each waveform
and the tibialis anterior (TA) control MUP values.  Numbers it marks unconfirmed are
marked "(unconfirmed)" here too.  Numbers that are not in ``CLINICAL.md`` are either from
the edx needle-simulator brief (marked "brief, unconfirmed") or are **model
parameters** of this simulator, tuned so that simulated populations reproduce the
CLINICAL.md targets; those are marked "(model, tuned)" and are not measurements of
anatomy.  The motor-unit model in particular is phenomenological: a Gaussian-derivative
"tripole" per muscle fibre whose amplitude falls and whose width grows with the
distance to the recording surface (the qualitative behaviour of line-source models of
single-fibre potentials); it is not a volume-conductor computation.

What the simulator does not model: discharge-to-discharge variability of a MUP's shape
(neuromuscular jitter, blocking), amplifier filters, the needle's movement, the
tendon-end (terminal) far-field potential, and any muscle other than the tibialis
anterior.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from edx.sim import noise as _noise

__all__ = [
    "DURATION_FLOOR_UV",
    "DURATION_FRACTION",
    "PHASE_LEVEL_UV",
    "TURN_LEVEL_UV",
    "POLYPHASIC_MIN_PHASES",
    "TEMPLATE_MARGIN_MS",
    "RISE_TIME_ACCEPT_MS",
    "EPS_REFRACTORY_MS",
    "FASCICULATION_REFRACTORY_MS",
    "LEVEL_FORCE",
    "SpontaneousKind",
    "DischargeKind",
    "MupKind",
    "WaveformMeasures",
    "duration_threshold_v",
    "waveform_extent",
    "count_phases",
    "count_turns",
    "rise_time_ms",
    "measure_waveform",
    "Discharge",
    "TrainTruth",
    "MupTruth",
    "NeedleTruth",
    "SpontaneousSpec",
    "make_motor_unit",
    "simulate_rest",
    "simulate_effort",
    "DEFINITIONS",
]

SpontaneousKind = Literal["fibrillation", "positive_sharp_wave", "end_plate_spike", "fasciculation"]
DischargeKind = Literal["fibrillation", "positive_sharp_wave", "end_plate_spike", "fasciculation", "mup"]
MupKind = Literal["normal", "myopathic", "neurogenic"]
Seed = int | np.random.SeedSequence | np.random.Generator

# ---------------------------------------------------------------------------------------
# Measurement definitions (mirrored by the later measurement code)
# ---------------------------------------------------------------------------------------

#: Absolute floor of the onset/end threshold, µV.
DURATION_FLOOR_UV = 10.0
#: Relative part of the onset/end threshold, fraction of the peak-to-peak amplitude.
DURATION_FRACTION = 0.02
#: A baseline crossing counts as a phase boundary only if the signal goes beyond
#: ±PHASE_LEVEL_UV on both sides of it.
PHASE_LEVEL_UV = 10.0
#: A turn is a direction change with at least this change on each side, µV (MUP turns; the
#: interference-pattern turn of CLINICAL.md §1 uses 100 µV instead).
TURN_LEVEL_UV = 25.0
#: A MUP is polyphasic when it has at least this many phases (CLINICAL.md §1: > 4).
POLYPHASIC_MIN_PHASES = 5
#: Clean templates start exactly this long before their onset and end at least this long
#: after their end (the last exceeding sample of the main potential or of its satellite);
#: later when a slow sub-threshold tail is still above 0.1 µV then.
TEMPLATE_MARGIN_MS = 5.0
#: A needle position is accepted for a MUP when its rise time is at most this (common
#: practice for "sharp", nearby MUPs; unconfirmed).
RISE_TIME_ACCEPT_MS = 0.5
#: Minimum interval of an end-plate spike source (brief: "a few ms"; unconfirmed).
EPS_REFRACTORY_MS = 3.0
#: Minimum interval between two fasciculations of one unit (model; unconfirmed).
FASCICULATION_REFRACTORY_MS = 100.0
#: Force, as a fraction of a normal muscle's maximal force, of the named effort levels;
#: ``None`` means the subject's own maximum (maximal drive).  Model values: "minimal"
#: recruits three to four normal units (the examiner's "just enough to see single units").
LEVEL_FORCE: Mapping[str, float | None] = MappingProxyType({"minimal": 0.03, "moderate": 0.3, "maximal": None})


def _uv(x_v: float) -> float:
    return float(x_v) * 1e6


def duration_threshold_v(peak_to_peak_v: float) -> float:
    """Onset/end threshold of a clean waveform, volts.

    ``max(DURATION_FLOOR_UV µV, DURATION_FRACTION × peak-to-peak)``: 10 µV, or 2 % of the
    peak-to-peak amplitude for potentials larger than 500 µV.

    Parameters
    ----------
    peak_to_peak_v : float
        Peak-to-peak amplitude of the waveform, volts.

    Returns
    -------
    float
        Threshold in volts.
    """
    return max(DURATION_FLOOR_UV * 1e-6, DURATION_FRACTION * float(peak_to_peak_v))


def waveform_extent(x_v: np.ndarray) -> tuple[int, int]:
    """Onset and end sample of a clean waveform.

    The onset is the first and the end the last sample whose absolute value is strictly
    greater than :func:`duration_threshold_v` of the waveform's peak-to-peak amplitude.

    Parameters
    ----------
    x_v : numpy.ndarray
        One clean, baseline-free potential (volts), e.g. a template.

    Returns
    -------
    tuple of int
        ``(onset_index, end_index)``, both inclusive.

    Raises
    ------
    ValueError
        If no sample exceeds the threshold (e.g. an all-zero array).
    """
    x = np.asarray(x_v, dtype=np.float64)
    if x.size == 0:
        raise ValueError("empty waveform")
    thr = duration_threshold_v(float(x.max() - x.min()))
    above = np.flatnonzero(np.abs(x) > thr)
    if above.size == 0:
        raise ValueError("no sample exceeds the onset threshold (flat or sub-threshold waveform)")
    return int(above[0]), int(above[-1])


def count_phases(x_v: np.ndarray, level_v: float = PHASE_LEVEL_UV * 1e-6) -> int:
    """Phases of a waveform segment: baseline crossings + 1.

    Every sample is labelled +1 if it is above ``+level_v``, −1 if below ``−level_v``
    and ignored otherwise; a crossing is a change of label between consecutive labelled
    samples.  A crossing therefore counts only when the signal goes beyond ±``level_v``
    on both sides of zero; wiggles inside the band do not add phases.

    Parameters
    ----------
    x_v : numpy.ndarray
        The samples to count over (for a MUP: onset to end inclusive).
    level_v : float
        Half-width of the dead band, volts (default 10 µV).

    Returns
    -------
    int
        Number of phases; 0 if no sample leaves the band.
    """
    x = np.asarray(x_v, dtype=np.float64)
    lab = np.where(x > level_v, 1, np.where(x < -level_v, -1, 0))
    lab = lab[lab != 0]
    if lab.size == 0:
        return 0
    return int(np.count_nonzero(np.diff(lab))) + 1


def count_turns(x_v: np.ndarray, level_v: float = TURN_LEVEL_UV * 1e-6) -> int:
    """Turns of a waveform segment: direction changes of at least ``level_v`` each side.

    Zig-zag rule: starting from the first sample, the signal must first move by at least
    ``level_v`` away from it (this sets the direction); a turn is then counted each time
    the signal, after reaching an extreme, moves back from that extreme by at least
    ``level_v``.  Every counted turn is a local extreme reached by a change of at least
    ``level_v`` from the previous turn (or the start) and left by a change of at least
    ``level_v``.  A clean biphasic potential that starts and ends at baseline has 2 turns,
    a triphasic one 3.

    Parameters
    ----------
    x_v : numpy.ndarray
        The samples to count over (for a MUP: onset to end inclusive).
    level_v : float
        Minimum change on each side, volts (default 25 µV).

    Returns
    -------
    int
        Number of turns.
    """
    x = np.asarray(x_v, dtype=np.float64)
    if x.size < 2:
        return 0
    turns = 0
    direction = 0
    start = float(x[0])
    ext = start
    for v in x[1:].tolist():
        if direction == 0:
            if v - start >= level_v:
                direction, ext = 1, v
            elif start - v >= level_v:
                direction, ext = -1, v
        elif direction > 0:
            if v > ext:
                ext = v
            elif ext - v >= level_v:
                turns += 1
                direction, ext = -1, v
        else:
            if v < ext:
                ext = v
            elif v - ext >= level_v:
                turns += 1
                direction, ext = 1, v
    return turns


def rise_time_ms(x_v: np.ndarray, fs_hz: float) -> float:
    """Rise time of a MUP: from the positive peak preceding the main negative peak to it.

    The main negative peak is the most negative sample; the preceding positive peak is
    the nearest local maximum before it (walking back while the signal does not
    decrease).  In G1 − G2 volts the main spike of a MUP is negative.

    Parameters
    ----------
    x_v : numpy.ndarray
        Clean waveform.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    float
        Rise time in ms.
    """
    x = np.asarray(x_v, dtype=np.float64)
    i = int(np.argmin(x))
    j = i
    while j > 0 and x[j - 1] >= x[j]:
        j -= 1
    return (i - j) / fs_hz * 1e3


@dataclass(frozen=True, slots=True)
class WaveformMeasures:
    """Measures of one clean potential (see :data:`DEFINITIONS`).

    Attributes
    ----------
    onset_index, end_index, peak_index : int
        First and last sample above the threshold, and the sample of the largest
        absolute value.
    duration_ms : float
        ``(end_index − onset_index) / fs``.
    amplitude_uv : float
        Peak-to-peak amplitude over the whole array.
    phases, turns : int
        Counted over onset..end inclusive (:func:`count_phases`, :func:`count_turns`).
    area_uvms : float
        Sum of ``|x|`` over onset..end inclusive times the sampling interval.
    thickness_ms : float
        ``area_uvms / amplitude_uv``.
    rise_time_ms : float
        See :func:`rise_time_ms`.
    """

    onset_index: int
    end_index: int
    peak_index: int
    duration_ms: float
    amplitude_uv: float
    phases: int
    turns: int
    area_uvms: float
    thickness_ms: float
    rise_time_ms: float


def measure_waveform(x_v: np.ndarray, fs_hz: float) -> WaveformMeasures:
    """All truth measures of one clean, isolated potential.

    Parameters
    ----------
    x_v : numpy.ndarray
        Clean potential in volts (no noise, no baseline).
    fs_hz : float
        Sampling rate.

    Returns
    -------
    WaveformMeasures
    """
    x = np.asarray(x_v, dtype=np.float64)
    on, end = waveform_extent(x)
    seg = x[on : end + 1]
    amp_uv = _uv(float(x.max() - x.min()))
    area = float(np.abs(seg).sum()) / fs_hz * 1e9  # V·s -> µV·ms
    return WaveformMeasures(
        onset_index=on,
        end_index=end,
        peak_index=int(np.argmax(np.abs(x))),
        duration_ms=(end - on) / fs_hz * 1e3,
        amplitude_uv=amp_uv,
        phases=count_phases(seg),
        turns=count_turns(seg),
        area_uvms=area,
        thickness_ms=area / amp_uv if amp_uv > 0 else 0.0,
        rise_time_ms=rise_time_ms(x, fs_hz),
    )


# ---------------------------------------------------------------------------------------
# Truth objects
# ---------------------------------------------------------------------------------------


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class _ArrayEq:
    """Field-wise equality that compares numpy arrays by value."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_values_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]


def _readonly(x: np.ndarray) -> np.ndarray:
    a = np.array(x, dtype=np.float64, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class Discharge:
    """One discharge placed in the recording.

    Attributes
    ----------
    time_s : float
        Onset: time of the first sample at which the source's clean, isolated waveform
        exceeds ``max(10 µV, 2 % of its peak-to-peak)`` in absolute value (the rule of
        :func:`waveform_extent`).  Overlap with other potentials, noise, hum and clipping
        do not move it.  Always a whole number of samples: ``index / fs_hz``.
    kind : str
        ``"fibrillation"``, ``"positive_sharp_wave"``, ``"end_plate_spike"``,
        ``"fasciculation"`` or ``"mup"``.
    source_id : str
        The train (``TrainTruth.source_id``) or motor unit (``MupTruth.unit_id``).
    amplitude_uv : float
        Peak-to-peak amplitude of the clean waveform (for a MUP: main potential, without
        its satellite).
    duration_ms : float
        Onset to end of the clean waveform (same threshold rule).
    peak_time_s : float
        Time of the sample of largest absolute value of the clean waveform.
    """

    time_s: float
    kind: DischargeKind
    source_id: str
    amplitude_uv: float
    duration_ms: float
    peak_time_s: float


@dataclass(frozen=True, eq=False)
class TrainTruth(_ArrayEq):
    """One source of repeated discharges (a fibre, an end-plate region or a motor unit).

    Attributes
    ----------
    source_id : str
        Identifier used by its discharges.
    kind : str
        Discharge kind of the source.
    firing_rate_hz : float or None
        Realised mean rate: ``(n − 1) / (last − first discharge time)``; None with fewer
        than two discharges.
    regular : bool
        True for pacemaker-like sources generated with an interval CV ≤ 5 % (regular
        fibrillations and positive sharp waves); False for irregular fibrillations/PSWs,
        end-plate spikes, fasciculations and voluntary MUP trains (semi-regular).
    interval_cv : float or None
        Realised coefficient of variation of the inter-discharge intervals (sample SD
        with ddof=1 over the mean); None with fewer than three discharges.
    amplitude_uv, duration_ms : float
        Measures of the source's clean waveform (as in :class:`Discharge`).
    times_s : tuple of float
        Onset times of all its discharges in the recording.
    nominal_rate_hz, nominal_cv : float or None
        What the generator was asked for (None for voluntary MUP trains, whose rate
        follows the force).
    template_v : numpy.ndarray
        Clean waveform of one discharge, volts, beginning ``TEMPLATE_MARGIN_MS`` before
        its onset and ending at least ``TEMPLATE_MARGIN_MS`` after its end (see
        :class:`MupTruth`); a discharge at onset time t occupies the samples from
        ``round(t·fs) − template_onset_index`` on.
    template_onset_index : int
        Index of the onset within ``template_v``.
    """

    source_id: str
    kind: DischargeKind
    firing_rate_hz: float | None
    regular: bool
    interval_cv: float | None
    amplitude_uv: float
    duration_ms: float
    times_s: tuple[float, ...]
    nominal_rate_hz: float | None = None
    nominal_cv: float | None = None
    template_v: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    template_onset_index: int = 0


@dataclass(frozen=True, eq=False)
class MupTruth(_ArrayEq):
    """A motor unit: its clean MUP template and the truth measures of the template.

    All measures are computed on the **main** potential (``main_template_v``), i.e.
    without the satellite, with the definitions of :func:`measure_waveform` (see
    :data:`DEFINITIONS`).

    Attributes
    ----------
    unit_id : str
        Identifier used by the unit's discharges.
    kind : {"normal", "myopathic", "neurogenic"}
        Generative model of the unit.
    fs_hz : float
        Sampling rate of the template.
    template_v : numpy.ndarray
        Clean template (volts), main potential plus satellite if any, starting exactly
        ``TEMPLATE_MARGIN_MS`` before the onset (``template_onset_index`` =
        ``round(TEMPLATE_MARGIN_MS · fs / 1000)``) and ending ``TEMPLATE_MARGIN_MS`` after
        the last supra-threshold sample of the main potential or of its satellite (later
        if a sub-threshold tail is still above 0.1 µV).  The outer half of each margin is
        tapered (cosine ramp), which only touches sub-threshold samples.
    template_onset_index : int
        Onset of the main potential within ``template_v``.
    duration_ms, amplitude_uv, phases, turns, area_uvms, thickness_ms, rise_time_ms
        Measures of the main potential.
    satellite : bool
        True if a time-locked satellite (late component) follows the main potential.
    satellite_v : numpy.ndarray or None
        The satellite alone, same length as ``template_v``.
    satellite_delay_ms : float or None
        From the end of the main potential to the onset of the satellite.
    firing_rate_hz : float or None
        Realised mean firing rate in the recording (None for a template not fired).
    recruitment_threshold : float or None
        Force (fraction of a normal muscle's maximal force) at which the unit starts to
        fire; None for templates and fasciculating units.
    n_fibres : int
        Number of muscle fibres in the simulated unit.
    origin : {"template", "voluntary", "fasciculation"}
        How the unit appears in the recording.
    """

    unit_id: str
    kind: MupKind
    fs_hz: float
    template_v: np.ndarray = field(repr=False)
    template_onset_index: int
    duration_ms: float
    amplitude_uv: float
    phases: int
    turns: int
    area_uvms: float
    thickness_ms: float
    rise_time_ms: float
    satellite: bool
    satellite_v: np.ndarray | None = field(default=None, repr=False)
    satellite_delay_ms: float | None = None
    firing_rate_hz: float | None = None
    recruitment_threshold: float | None = None
    n_fibres: int = 0
    origin: Literal["template", "voluntary", "fasciculation"] = "template"

    @property
    def main_template_v(self) -> np.ndarray:
        """The template without its satellite (what the measures describe)."""
        if self.satellite_v is None:
            return self.template_v
        return self.template_v - self.satellite_v

    @property
    def polyphasic(self) -> bool:
        """True when ``phases >= POLYPHASIC_MIN_PHASES`` (more than four)."""
        return self.phases >= POLYPHASIC_MIN_PHASES


@dataclass(frozen=True, eq=False)
class NeedleTruth(_ArrayEq):
    """Everything the simulator knows about one recording.

    Attributes
    ----------
    fs_hz, duration_s : float
        Sampling rate and duration (``n_samples / fs_hz``).
    noise_rms_v : float
        RMS of the added white noise.
    discharges : tuple of Discharge
        Every discharge placed, sorted by onset time.
    trains : tuple of TrainTruth
        Every source, also those that happened not to discharge.
    units : tuple of MupTruth
        Motor units that discharged (voluntary ones on effort, fasciculating ones at rest).
    recruitment : {"normal", "reduced", "early"} or None
        Recruitment pattern of an effort recording; None at rest.
    grade : {"0", "1+", "2+", "3+", "4+"} or None
        Single-site grade of fibrillations and positive sharp waves of a rest recording
        (see :data:`DEFINITIONS`); None on effort.
    definitions : dict of str to str
        Plain-language definition of every truth quantity.
    recording : {"rest", "effort"}
    hum_v, mains_hz, offset_v, drift_v : float
        Other imperfections added.
    clip_v : float or None
        Amplifier rail, if clipping was applied.
    n_clipped : int
        Samples sitting at the rail after clipping.
    level : str or None
        Effort level name, or ``"profile"`` for a force array.
    force_fraction : float or None
        Mean requested force over the recording (fraction of a normal maximal force).
    force_saturated : bool
        True if the requested force exceeded what the simulated muscle can produce at
        some time (it then works at its maximum).
    pool_size : int
        Motor units available under the needle (effort); 0 at rest.
    """

    fs_hz: float
    duration_s: float
    noise_rms_v: float
    discharges: tuple[Discharge, ...]
    trains: tuple[TrainTruth, ...]
    units: tuple[MupTruth, ...]
    recruitment: str | None
    grade: str | None
    definitions: dict[str, str] = field(repr=False)
    recording: Literal["rest", "effort"] = "rest"
    hum_v: float = 0.0
    mains_hz: float = 50.0
    offset_v: float = 0.0
    drift_v: float = 0.0
    clip_v: float | None = None
    n_clipped: int = 0
    level: str | None = None
    force_fraction: float | None = None
    force_saturated: bool = False
    pool_size: int = 0

    def discharges_of(self, source_id: str) -> tuple[Discharge, ...]:
        """The discharges of one source, in time order."""
        return tuple(d for d in self.discharges if d.source_id == source_id)


@dataclass(frozen=True, slots=True)
class SpontaneousSpec:
    """Explicit parameters of one spontaneous source for :func:`simulate_rest`.

    Attributes
    ----------
    kind : {"fibrillation", "positive_sharp_wave", "end_plate_spike", "fasciculation"}
    amplitude_uv : float or None
        Target peak-to-peak amplitude (the clean waveform is scaled to it exactly).  None
        draws a plausible value (for a fasciculation: the unit's own amplitude).
    firing_rate_hz : float or None
        Mean rate; None draws a plausible value.
    irregular : bool
        Fibrillations/PSWs only: fire irregularly (Partanen) instead of regularly.
        End-plate spikes and fasciculations always fire irregularly.
    duration_ms : float or None
        Target duration by the threshold rule (fibrillation, PSW, end-plate spike); the
        realised value is within about one sample of it.  Not allowed for fasciculations
        (their duration is that of their motor unit).
    start_s, stop_s : float or None
        Active window; the first onset is at ``start_s`` when it is given, otherwise at a
        random phase after the window start.
    interval_cv : float or None
        Interval CV for fibrillations/PSWs; None draws 1–4.5 % (regular) or 30–60 %
        (irregular).
    mup_kind : {"normal", "myopathic", "neurogenic"}
        Fasciculations only: the kind of motor unit that fasciculates.
    """

    kind: SpontaneousKind
    amplitude_uv: float | None = None
    firing_rate_hz: float | None = None
    irregular: bool = False
    duration_ms: float | None = None
    start_s: float | None = None
    stop_s: float | None = None
    interval_cv: float | None = None
    mup_kind: MupKind = "normal"

    def __post_init__(self) -> None:
        if self.kind not in ("fibrillation", "positive_sharp_wave", "end_plate_spike", "fasciculation"):
            raise ValueError(f"unknown spontaneous kind {self.kind!r}")
        for name in ("amplitude_uv", "firing_rate_hz", "duration_ms", "interval_cv"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite positive number, got {v!r}")
        for name in ("start_s", "stop_s"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
        if self.interval_cv is not None:
            if self.kind not in ("fibrillation", "positive_sharp_wave"):
                raise ValueError("interval_cv applies to fibrillations and positive sharp waves only")
            if not self.irregular and self.interval_cv > 0.05:
                raise ValueError(
                    f"a regular train has an interval CV of at most 5 %, got {self.interval_cv:g}; "
                    "set irregular=True for an irregular one"
                )
        if self.kind == "fasciculation" and self.duration_ms is not None:
            raise ValueError("a fasciculation's duration is that of its motor unit; do not give duration_ms")
        if self.mup_kind not in _MU_MODEL:
            raise ValueError(f"unknown motor unit kind {self.mup_kind!r}")


# ---------------------------------------------------------------------------------------
# Plain-language definitions of every truth quantity
# ---------------------------------------------------------------------------------------

DEFINITIONS: Mapping[str, str] = MappingProxyType(
    {
        "signal": "Samples in volts as G1 − G2 = clean + white noise + mains hum + baseline offset/drift, "
        "then clipped at ±clip_v if asked.",
        "clean": "Sum of every discharge's clean waveform (template_v) placed at its onset; what the "
        "recording would show with no noise, hum, baseline or clipping (same seed with those set to zero).",
        "fibrillation": "Action potential of one denervated muscle fibre: bi- or triphasic, first phase "
        "positive, 1–5 ms, fires regularly (or, flagged, irregularly).",
        "positive_sharp_wave": "Sharp positive deflection (rise 0.5–1 ms) followed by a slow, long negative "
        "phase; 10–30 ms; fires like a fibrillation.",
        "end_plate_spike": "Mimic from the end-plate region: biphasic, first phase negative, 3–4 ms, fires "
        "irregularly (Poisson-like with a dead time of EPS_REFRACTORY_MS).",
        "fasciculation": "Mimic: a whole motor unit firing spontaneously, irregularly and rarely; its "
        "waveform is a MUP (listed in units with origin 'fasciculation').",
        "mup": "Motor unit potential of a voluntarily firing unit (effort recordings).",
        "kind": "Discharge/train kind (one of the five above) or, for a unit, its model: normal, "
        "myopathic (short, small, polyphasic) or neurogenic (long, large).",
        "source_id": "Identifier of the train a discharge belongs to: fibN, pswN, epsN, fascN or muN.",
        "unit_id": "Identifier of a motor unit; equals the source_id of its discharges.",
        "threshold": f"Onset/end threshold of a clean waveform: max({DURATION_FLOOR_UV:g} µV, "
        f"{DURATION_FRACTION * 100:g} % of its peak-to-peak amplitude).",
        "time_s": "Onset of a discharge: time of the first sample at which the source's clean isolated "
        "waveform exceeds the threshold in absolute value (index / fs); for a MUP, of its main potential.",
        "times_s": "Onset times of all discharges of one train, ascending.",
        "peak_time_s": "Time of the sample of largest absolute value of the clean isolated waveform (for "
        "a MUP, of the main potential).",
        "duration_ms": "From onset to end: (last − first sample exceeding the threshold) / fs, on the clean "
        "waveform; for a MUP on the main potential without its satellite.",
        "amplitude_uv": "Peak-to-peak amplitude (max − min) of the clean waveform, µV; for a MUP without "
        "its satellite.",
        "phases": f"Baseline crossings within onset..end + 1; a crossing counts only if the signal goes "
        f"beyond ±{PHASE_LEVEL_UV:g} µV on both sides. Polyphasic: phases >= {POLYPHASIC_MIN_PHASES} (> 4).",
        "turns": f"Direction changes within onset..end with a change of >= {TURN_LEVEL_UV:g} µV on each "
        "side (zig-zag rule from the onset sample).",
        "area_uvms": "Sum of |x| over onset..end (inclusive) times the sampling interval, µV·ms.",
        "thickness_ms": "area_uvms / amplitude_uv, ms.",
        "rise_time_ms": "From the local positive peak just before the most negative sample to that sample.",
        "satellite": "A small single-fibre potential, time-locked to the MUP, starting 5–15 ms after the "
        "end of the main potential; part of template_v, excluded from every MUP measure.",
        "satellite_v": "The satellite alone, aligned with template_v (template_v − satellite_v is the "
        "main potential, main_template_v).",
        "satellite_delay_ms": "From the end of the main potential to the onset of the satellite.",
        "n_fibres": "Number of muscle fibres of the simulated motor unit.",
        "origin": "How a unit appears: 'voluntary' (effort), 'fasciculation' (rest) or 'template' "
        "(make_motor_unit alone).",
        "firing_rate_hz": "Realised mean rate of a train: (n − 1) / (last − first onset); None if n < 2.",
        "interval_cv": "Realised SD (ddof=1) / mean of the inter-onset intervals; None if n < 3.",
        "nominal_rate_hz": "Rate the generator was asked for or drew (spontaneous sources).",
        "nominal_cv": "Interval CV the generator was asked for or drew (fibrillations and PSWs).",
        "regular": "Generated as a pacemaker-like train (interval CV <= 5 %): regular fibrillations and "
        "positive sharp waves only.",
        "recruitment_threshold": "Force (fraction of a normal muscle's maximal force) at which a unit starts to fire.",
        "recruitment": "Recruitment pattern of the unit pool: 'normal' (a new unit joins before the active "
        "ones exceed ~10–15 Hz), 'reduced' (few units firing fast before the next joins: neurogenic), "
        "'early' (many units at low force: myopathic).",
        "grade": "Single-site adaptation of the 0–4+ grading (CLINICAL.md §1, unconfirmed), counting only "
        "fibrillation and positive-sharp-wave trains with >= 2 discharges: '0' none; '1+' one train; "
        "'2+' two or three trains; '3+' four or more; '4+' their potentials (onset..end) cover >= 50 % of "
        "the recording (baseline filled). The clinical grade needs several areas of a muscle; one site "
        "cannot decide 'in >= 2 areas', so this is an approximation.",
        "template_v": f"Clean waveform of one discharge, volts, starting {TEMPLATE_MARGIN_MS:g} ms before the "
        f"onset and ending {TEMPLATE_MARGIN_MS:g} ms after the end (or the satellite's end), later if a slow "
        "sub-threshold tail is still above 0.1 µV; the outer half of each margin is tapered.",
        "template_onset_index": "Index of the onset within template_v.",
        "noise_rms_v": "RMS of the added Gaussian white noise, volts.",
        "hum_v": "Amplitude (peak) of the mains fundamental, volts; odd harmonics at 0.3 and 0.15 of it.",
        "mains_hz": "Mains frequency of the hum.",
        "offset_v": "Constant baseline offset, volts.",
        "drift_v": "Amplitude of a slow 0.3 Hz baseline drift, volts.",
        "clip_v": "Amplifier rail: samples beyond ±clip_v are set to ±clip_v.",
        "n_clipped": "Number of samples at the rail after clipping.",
        "level": "Effort level name, or 'profile' when a force array was given.",
        "force_fraction": "Mean requested force, fraction of a normal muscle's maximal force.",
        "force_saturated": "True if the requested force exceeded the simulated muscle's maximum at some "
        "time (the muscle then works at maximal drive).",
        "pool_size": "Motor units available under the needle (effort recordings).",
    }
)


# ---------------------------------------------------------------------------------------
# Random streams
# ---------------------------------------------------------------------------------------


def _root(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a SeedSequence or a numpy Generator, got {type(seed).__name__}")


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


# ---------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    wave_v: np.ndarray
    onset: int
    end: int
    peak: int
    amplitude_uv: float
    duration_ms: float


#: Level below which a slow tail after the end is considered gone (template end), volts.
_TAIL_LEVEL_V = 0.1e-6


def _margin_samples(fs_hz: float) -> int:
    return int(round(TEMPLATE_MARGIN_MS * 1e-3 * fs_hz))


def _cut_bounds(x: np.ndarray, onset: int, last: int, fs_hz: float) -> tuple[int, int]:
    """Template window ``[lo, hi)`` around a waveform: from ``TEMPLATE_MARGIN_MS`` before
    ``onset`` to ``TEMPLATE_MARGIN_MS`` after ``last`` -- later if a slow sub-threshold
    tail is still above ``_TAIL_LEVEL_V`` then (to half a margin after that tail)."""
    m = _margin_samples(fs_hz)
    tail = np.flatnonzero(np.abs(x[last:]) >= _TAIL_LEVEL_V)
    last_tail = last + int(tail[-1]) if tail.size else last
    return onset - m, max(last + m, last_tail + m // 2) + 1


def _apply_cut(x: np.ndarray, lo: int, hi: int, fs_hz: float) -> np.ndarray:
    """``x[lo:hi]`` zero-padded outside ``x``, its outer half-margins tapered with a
    half-cosine (they hold only sub-threshold samples)."""
    out = np.zeros(hi - lo)
    src_lo, src_hi = max(lo, 0), min(hi, x.size)
    out[src_lo - lo : src_hi - lo] = x[src_lo:src_hi]
    nt = _margin_samples(fs_hz) // 2
    if nt > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(nt) + 0.5) / nt)
        out[:nt] *= ramp
        out[-nt:] *= ramp[::-1]
    return out


def _finish_template(x: np.ndarray, fs_hz: float, amplitude_uv: float | None) -> _Template:
    """Scale a clean waveform to the requested peak-to-peak, cut it with margins, measure."""
    x = np.asarray(x, dtype=np.float64)
    if amplitude_uv is not None:
        x = x * (amplitude_uv * 1e-6 / float(x.max() - x.min()))
    on, end = waveform_extent(x)
    lo, hi = _cut_bounds(x, on, end, fs_hz)
    cut = _apply_cut(x, lo, hi, fs_hz)
    m = measure_waveform(cut, fs_hz)
    if m.onset_index != on - lo:  # taper touched a supra-threshold sample: cannot happen
        raise RuntimeError("template cut moved the onset")
    return _Template(cut, m.onset_index, m.end_index, m.peak_index, m.amplitude_uv, m.duration_ms)


def _gauss_family(u: np.ndarray, phi: float, stretch: float) -> np.ndarray:
    """Weighted first and second derivative of a Gaussian ("tripole"), first lobe positive.

    ``cos(phi)·(u² − 1)·g(u) + sin(phi)·(−u)·g(u)``; ``phi = 0`` is the symmetric
    positive–negative–positive tripole, ``phi → π/2`` the positive–negative biphasic
    dipole.  Everything after the first zero crossing ``u0`` is stretched in time by
    ``stretch`` and divided by it (area preserved), which lowers and widens the later
    phases relative to the initial positive one.
    """
    c, s = math.cos(phi), math.sin(phi)
    u0 = -2.0 * c / (s + math.sqrt(s * s + 4.0 * c * c))
    w = np.where(u <= u0, u, u0 + (u - u0) / stretch)
    f = (c * (w * w - 1.0) - s * w) * np.exp(-0.5 * w * w)
    return np.where(u <= u0, f, f / stretch)


_FINE_DU = 0.002


def _family_stats(phi: float, stretch: float, rel_thr: float) -> tuple[float, float]:
    """(share of the initial positive lobe in the peak-to-peak, duration in u-units at
    the relative threshold) of :func:`_gauss_family`."""
    u = np.arange(-10.0, 10.0 * stretch + 10.0, _FINE_DU)
    f = _gauss_family(u, phi, stretch)
    pp = float(f.max() - f.min())
    c, s = math.cos(phi), math.sin(phi)
    u0 = -2.0 * c / (s + math.sqrt(s * s + 4.0 * c * c))
    share = float(f[u <= u0].max()) / pp
    above = np.flatnonzero(np.abs(f) > rel_thr * pp)
    return share, (above[-1] - above[0]) * _FINE_DU


def _spike_template(
    kind: Literal["fibrillation", "end_plate_spike"],
    amplitude_uv: float,
    duration_ms: float,
    fs_hz: float,
    rng: np.random.Generator,
) -> _Template:
    """Fibrillation potential (initial positive) or end-plate spike (initial negative).

    Fibrillation: a shape of :func:`_gauss_family` with random mixing angle
    (bi- to triphasic) and stretch, chosen so that the initial positive lobe exceeds the
    onset threshold by a margin (8 % of the peak-to-peak): small fibrillations are drawn
    with a dominant initial positive phase, as they must be to be seen positive first.
    End-plate spike: the mirror image (initial negative) of a nearly biphasic member.
    The width is scaled so the threshold-rule duration equals ``duration_ms``.
    """
    rel = duration_threshold_v(amplitude_uv * 1e-6) / (amplitude_uv * 1e-6)
    if kind == "fibrillation":
        phi = float(rng.uniform(0.1, 1.45))
        stretch = float(rng.uniform(1.0, 1.3))
        sign = 1.0
    else:
        phi = float(rng.uniform(1.2, 1.5))
        stretch = float(rng.uniform(1.0, 1.3))
        sign = -1.0
    need = rel + 0.08
    for _ in range(60):
        share, dur_u = _family_stats(phi, stretch, rel)
        if share >= need:
            sigma_ms = duration_ms / dur_u
            dt_ms = 1e3 / fs_hz
            span = 10.0 * sigma_ms * (stretch + 1.0)
            t = np.arange(-span, span + dt_ms, dt_ms)
            tpl = _finish_template(sign * _gauss_family(t / sigma_ms, phi, stretch), fs_hz, amplitude_uv)
            # sampling can shave the initial lobe's peak: the first supra-threshold sample
            # must still have the initial phase's sign, else make that phase more dominant
            if np.sign(tpl.wave_v[tpl.onset]) == sign:
                return tpl
            need = share + 0.03
        if stretch < 3.0:
            stretch = min(3.0, stretch * 1.15)
        elif phi < 1.5:
            phi = min(1.5, phi + 0.1)
        else:
            break
    raise ValueError(
        f"cannot make a {amplitude_uv:g} µV, {duration_ms:g} ms {kind.replace('_', ' ')} whose initial phase "
        f"exceeds the onset threshold at {fs_hz:g} Hz"
    )


def _psw_shape(t_ms: np.ndarray, p: float, n_abs: float, sigma_p: float, tau1: float, tau2: float) -> np.ndarray:
    """Positive sharp wave: a Gaussian positive spike peaking at t = 0 and a slow negative
    phase ``−n_abs · h(t)`` starting at the peak, ``h ∝ (1 − e^{−t/τ1}) e^{−(t/τ2)²}``
    normalised to a maximum of 1 (falls within ~τ1, returns smoothly to baseline over
    ~2 τ2)."""
    s = np.maximum(t_ms, 0.0)
    probe = np.linspace(0.0, 3.0 * (tau1 + tau2), 3001)
    hmax = float(((1.0 - np.exp(-probe / tau1)) * np.exp(-((probe / tau2) ** 2))).max())
    h = (1.0 - np.exp(-s / tau1)) * np.exp(-((s / tau2) ** 2)) / hmax
    return p * np.exp(-0.5 * (t_ms / sigma_p) ** 2) - n_abs * h


def _psw_template(
    amplitude_uv: float, duration_ms: float, rise_ms: float, fs_hz: float, rng: np.random.Generator
) -> _Template:
    """Positive sharp wave of the given peak-to-peak, threshold-rule duration and rise.

    The negative phase's depth is 25–50 % of the positive peak (model), raised when
    needed so that it exceeds the onset threshold by 25 %; its decay constant is fitted
    (bisection) so that the threshold-rule duration equals ``duration_ms``.
    """
    pp = amplitude_uv * 1e-6
    thr = duration_threshold_v(pp)
    q = 1.25 * thr / pp
    n_min = q / (1.0 - q) if q < 1.0 else math.inf
    n = max(float(rng.uniform(0.25, 0.5)), n_min)
    if n > 0.8:
        raise ValueError(
            f"a {amplitude_uv:g} µV positive sharp wave cannot have its slow negative phase above the "
            f"{DURATION_FLOOR_UV:g} µV onset threshold; use at least 30 µV"
        )
    p = pp / (1.0 + n)
    n_abs = n * p
    sigma_p = rise_ms / math.sqrt(2.0 * math.log(p / thr))
    tau1 = float(rng.uniform(0.8, 1.5))
    dt_fine = 0.005

    def measured(tau2: float) -> float:
        t = np.arange(-6 * sigma_p, 4.0 * (tau1 + tau2) + 5.0, dt_fine)
        x = _psw_shape(t, p, n_abs, sigma_p, tau1, tau2)
        x = x * (pp / float(x.max() - x.min()))
        above = np.flatnonzero(np.abs(x) > thr)
        return (above[-1] - above[0]) * dt_fine

    lo, hi = 0.5, 200.0
    if measured(hi) < duration_ms:
        raise ValueError(f"positive sharp wave duration {duration_ms} ms is out of reach")
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        if measured(mid) < duration_ms:
            lo = mid
        else:
            hi = mid
    tau2 = math.sqrt(lo * hi)
    dt_ms = 1e3 / fs_hz
    t = np.arange(-6 * sigma_p - 1.0, 4.0 * (tau1 + tau2) + 5.0, dt_ms)
    return _finish_template(_psw_shape(t, p, n_abs, sigma_p, tau1, tau2), fs_hz, amplitude_uv)


# ---------------------------------------------------------------------------------------
# Motor units
# ---------------------------------------------------------------------------------------

#: Generative parameters of a motor unit per kind.  All "(model, tuned)": chosen so that
#: populations of simulated units match the CLINICAL.md TA control means (normal) and the
#: brief's targets (myopathic: duration ~5–7 ms, 200–450 µV, >= 50 % polyphasic;
#: neurogenic: ~13–18 ms, 1.2–3 mV, some polyphasic).  Magnitudes are in the range of
#: textbook values where such exist (fibre density of a unit a few per mm², i.e. an
#: SFEMG fibre density around 1.5; territory diameter 5–6 mm; muscle-fibre diameter
#: ~55 µm; conduction 4 m/s) but none of them is confirmed in CLINICAL.md.
#: density_per_mm2: fibres of the unit per mm² within its territory;
#: territory_radius_mm: mean radius (SD 10 %); diameter_um / diameter_sd_log: lognormal
#: fibre diameters (clipped to 20–110 µm); terminal_sd_ms: SD of terminal-axon and
#: end-plate delays; satellite_p: probability of a satellite.
_MU_MODEL: dict[str, dict[str, float]] = {
    "normal": dict(
        density_per_mm2=5.0,
        territory_radius_mm=2.8,
        diameter_um=55.0,
        diameter_sd_log=0.10,
        terminal_sd_ms=0.25,
        satellite_p=0.05,
    ),
    # Myopathic: fibre loss (fewer fibres), small and variable fibre diameters, scattered
    # terminal delays (regenerating fibres), smaller territory.
    "myopathic": dict(
        density_per_mm2=3.0,
        territory_radius_mm=2.0,
        diameter_um=35.0,
        diameter_sd_log=0.50,
        terminal_sd_ms=0.6,
        satellite_p=0.25,
    ),
    # Neurogenic (reinnervated): collateral sprouting adopts denervated fibres (higher
    # density, fibre-type grouping), larger territory, immature slow sprouts scatter the
    # arrival times.
    "neurogenic": dict(
        density_per_mm2=18.0,
        territory_radius_mm=4.5,
        diameter_um=60.0,
        diameter_sd_log=0.20,
        terminal_sd_ms=1.0,
        satellite_p=0.25,
    ),
}

#: Parameters shared by all kinds (model, tuned; unconfirmed):
_SFP_AMPLITUDE_V = 1.35e-3  # peak-to-peak of a 55 µm fibre's SFP at zero distance (limit)
_SFP_R0_MM = 0.15  # amplitude ∝ (1 + r / r0)^-p
_SFP_POWER = 2.0
_SFP_DIAMETER_EXP = 1.7  # amplitude ∝ (diameter / 55 µm)^1.7
_SFP_WIDTH0_MM = 1.0  # spatial width (Gaussian sigma) of the potential next to the fibre
_SFP_WIDTH_SLOPE = 2.0  # width grows as sqrt(width0² + (slope·r)²)
# first-derivative weight of the tripole (< 0: initial positive phase smaller than the terminal one)
_SFP_ASYM_MEAN, _SFP_ASYM_SD = -0.3, 0.1
_CV_AT_55UM_M_S = 4.0  # muscle-fibre conduction velocity, linear in diameter:
_CV_INTERCEPT_M_S = 1.5  # v = 1.5 + 2.5·d/55 µm (m/s)
_ENDPLATE_SD_MM = 2.3  # axial scatter of the unit's end-plates
_NEEDLE_AXIAL_MM = (5.0, 15.0)  # needle distance from the end-plate zone (uniform)
_NEEDLE_MIN_MM = 0.05  # closest approach (the needle pushes fibres aside)
_NEEDLE_RADIAL_FRACTION = 0.8  # needle uniformly within this fraction of the territory radius
_NEEDLE_TRIES = 20

_W_GRID = np.linspace(-0.5, 1.5, 201)
_U_GRID = np.linspace(-8.0, 8.0, 8001)
_PP_GRID = np.array([np.ptp(((_U_GRID**2 - 1.0) - w * _U_GRID) * np.exp(-0.5 * _U_GRID**2)) for w in _W_GRID])


def _sfp_sum(t_ms: np.ndarray, t_arr: np.ndarray, sigma: np.ndarray, amp: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum of single-fibre potentials ``amp·((u² − 1) − w·u)·exp(−u²/2) / pp(w)``,
    ``u = (t − t_arr) / sigma`` (positive–negative–positive, peak-to-peak ``amp``)."""
    out = np.zeros(t_ms.size)
    scale = amp / np.interp(w, _W_GRID, _PP_GRID)
    for lo in range(0, t_arr.size, 256):
        sl = slice(lo, lo + 256)
        u = (t_ms[None, :] - t_arr[sl, None]) / sigma[sl, None]
        out += (scale[sl, None] * ((u * u - 1.0) - w[sl, None] * u) * np.exp(-0.5 * u * u)).sum(axis=0)
    return out


def make_motor_unit(
    kind: MupKind,
    rng: np.random.Generator,
    *,
    fs_hz: float,
    muscle: str = "tibialis anterior",
    unit_id: str = "mu0",
    satellite: bool | None = None,
) -> MupTruth:
    """Simulate one motor unit's MUP as seen by a concentric needle, with its measures.

    Model (phenomenological, parameters in ``_MU_MODEL`` and the ``_SFP_*`` constants):

    1. the unit's fibres lie uniformly in a circular territory (radius ~N(R, 0.1 R)),
       their number Poisson with mean density × area;
    2. fibre diameters are lognormal; conduction velocity is linear in diameter;
    3. each fibre's potential reaches the needle at
       ``terminal delay + |needle axial position − end-plate| / velocity``, end-plates
       scattered axially (SD 2.3 mm), the needle 5–15 mm from the end-plate zone;
    4. each fibre contributes a positive–negative–positive single-fibre potential whose
       amplitude falls as ``(1 + r/0.15 mm)^-2`` with the distance r to the recording
       surface (and grows as diameter^1.7) and whose width grows as
       ``sqrt(1.0² + (2.0 r)²) mm / velocity``;
    5. the needle is placed at random within the territory until the MUP's rise time is
       at most ``RISE_TIME_ACCEPT_MS`` (at most 20 positions; otherwise the sharpest
       one is kept), as an examiner accepts only nearby, sharp MUPs;
    6. optionally a satellite: one small, slowly conducting fibre 0.1–0.35 mm away whose
       potential starts 5–15 ms after the end of the main potential.

    Parameters
    ----------
    kind : {"normal", "myopathic", "neurogenic"}
    rng : numpy.random.Generator
        Source of randomness (the unit is a deterministic function of its state).
    fs_hz : float
        Sampling rate of the template (measures depend on it slightly).
    muscle : str
        Only ``"tibialis anterior"`` is calibrated.
    unit_id : str
        Identifier stored in the result.
    satellite : bool or None
        Force a satellite on or off; None draws it with the kind's probability.

    Returns
    -------
    MupTruth
        With ``origin="template"``, no firing rate and no recruitment threshold.
    """
    if kind not in _MU_MODEL:
        raise ValueError(f"unknown motor unit kind {kind!r}; expected one of {tuple(_MU_MODEL)}")
    if muscle.strip().lower() not in ("tibialis anterior", "ta"):
        raise ValueError(f"motor units are calibrated for the tibialis anterior only, not {muscle!r}")
    if not (math.isfinite(fs_hz) and fs_hz >= 4000):
        raise ValueError(f"fs_hz must be >= 4000 Hz for MUP templates, got {fs_hz!r}")
    par = _MU_MODEL[kind]
    radius = max(0.5, float(rng.normal(par["territory_radius_mm"], 0.1 * par["territory_radius_mm"])))
    n = max(3, int(rng.poisson(par["density_per_mm2"] * math.pi * radius**2)))
    rr = radius * np.sqrt(rng.uniform(0.0, 1.0, n))
    th = rng.uniform(0.0, 2.0 * math.pi, n)
    fx, fy = rr * np.cos(th), rr * np.sin(th)
    diam = np.clip(par["diameter_um"] * np.exp(rng.normal(0.0, par["diameter_sd_log"], n)), 20.0, 110.0)
    vel = _CV_INTERCEPT_M_S + (_CV_AT_55UM_M_S - _CV_INTERCEPT_M_S) * diam / 55.0
    z_ep = rng.normal(0.0, _ENDPLATE_SD_MM, n)
    z_needle = float(rng.uniform(*_NEEDLE_AXIAL_MM))
    t_arr = rng.normal(0.0, par["terminal_sd_ms"], n) + np.abs(z_needle - z_ep) / vel  # mm / (m/s) = ms
    asym = np.clip(rng.normal(_SFP_ASYM_MEAN, _SFP_ASYM_SD, n), -0.4, 1.4)
    amp_d = _SFP_AMPLITUDE_V * (diam / 55.0) ** _SFP_DIAMETER_EXP
    dt_ms = 1e3 / fs_hz

    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(_NEEDLE_TRIES):
        rn = _NEEDLE_RADIAL_FRACTION * radius * math.sqrt(float(rng.uniform()))
        tn = float(rng.uniform(0.0, 2.0 * math.pi))
        dist = np.hypot(np.hypot(fx - rn * math.cos(tn), fy - rn * math.sin(tn)), _NEEDLE_MIN_MM)
        amp = amp_d * (1.0 + dist / _SFP_R0_MM) ** (-_SFP_POWER)
        sigma = np.hypot(_SFP_WIDTH0_MM, _SFP_WIDTH_SLOPE * dist) / vel
        t0 = float((t_arr - 6.0 * sigma).min())
        t1 = float((t_arr + 6.0 * sigma).max())
        t = t0 + dt_ms * np.arange(int(math.ceil((t1 - t0) / dt_ms)) + 1)
        x = _sfp_sum(t, t_arr, sigma, amp, asym)
        rise = rise_time_ms(x, fs_hz)
        if best is None or rise < best[0]:
            best = (rise, x, t)
        if rise <= RISE_TIME_ACCEPT_MS:
            break
    if best is None:  # pragma: no cover - _NEEDLE_TRIES >= 1
        raise RuntimeError("no needle position tried")
    _rise, main, t = best

    has_sat = bool(rng.uniform() < par["satellite_p"]) if satellite is None else bool(satellite)
    on, end = waveform_extent(main)
    sat = np.zeros(main.size)
    delay: float | None = None
    if has_sat:
        delay = float(rng.uniform(5.0, 15.0))
        d_sat = float(rng.uniform(25.0, 35.0))
        v_sat = _CV_INTERCEPT_M_S + (_CV_AT_55UM_M_S - _CV_INTERCEPT_M_S) * d_sat / 55.0
        r_sat = float(rng.uniform(0.1, 0.35))
        sig_sat = math.hypot(_SFP_WIDTH0_MM, _SFP_WIDTH_SLOPE * r_sat) / v_sat
        a_sat = _SFP_AMPLITUDE_V * (d_sat / 55.0) ** _SFP_DIAMETER_EXP * (1.0 + r_sat / _SFP_R0_MM) ** (-_SFP_POWER)
        w_sat = float(np.clip(rng.normal(_SFP_ASYM_MEAN, _SFP_ASYM_SD), -0.4, 1.4))
        # place the satellite so that its own threshold-rule onset falls `delay` after the end
        probe_t = np.arange(-8.0 * sig_sat, 8.0 * sig_sat + dt_ms, dt_ms)
        probe = _sfp_sum(probe_t, np.zeros(1), np.array([sig_sat]), np.array([a_sat]), np.array([w_sat]))
        p_on, p_end = waveform_extent(probe)
        start = end + int(round(delay / dt_ms)) - p_on
        need = start + probe.size
        if need > main.size:
            main = np.concatenate([main, np.zeros(need - main.size)])
            sat = np.zeros(main.size)
        sat[start : start + probe.size] = probe
        last = start + p_end
    else:
        last = end
    full = main + sat
    lo, hi = _cut_bounds(full, on, last, fs_hz)
    cut_full = _apply_cut(full, lo, hi, fs_hz)
    cut_main = _apply_cut(main, lo, hi, fs_hz)
    meas = measure_waveform(cut_main, fs_hz)
    if meas.onset_index != on - lo:  # pragma: no cover - guarded by construction
        raise RuntimeError("template cut moved the onset")
    return MupTruth(
        unit_id=unit_id,
        kind=kind,
        fs_hz=float(fs_hz),
        template_v=_readonly(cut_full),
        template_onset_index=meas.onset_index,
        duration_ms=meas.duration_ms,
        amplitude_uv=meas.amplitude_uv,
        phases=meas.phases,
        turns=meas.turns,
        area_uvms=meas.area_uvms,
        thickness_ms=meas.thickness_ms,
        rise_time_ms=meas.rise_time_ms,
        satellite=has_sat,
        satellite_v=_readonly(cut_full - cut_main) if has_sat else None,
        satellite_delay_ms=delay,
        n_fibres=n,
        origin="template",
    )


def _unit_template(unit: MupTruth) -> _Template:
    main = unit.main_template_v
    m = measure_waveform(main, unit.fs_hz)
    return _Template(unit.template_v, m.onset_index, m.end_index, m.peak_index, m.amplitude_uv, m.duration_ms)


# ---------------------------------------------------------------------------------------
# Discharge timing
# ---------------------------------------------------------------------------------------


def _moment_matched_intervals(n: int, mean_s: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` lognormal intervals whose sample mean is exactly ``mean_s`` and whose sample
    CV (ddof=1) is exactly ``cv`` (for n >= 2): the realised rate and regularity of a
    train are then what was asked for, not a random draw around it."""
    if n <= 0:
        return np.zeros(0)
    if n == 1 or cv <= 0:
        return np.full(n, mean_s)
    z = rng.standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1)

    def cv_of(b: float) -> float:
        y = np.exp(b * z)
        return float(y.std(ddof=1) / y.mean())

    lo, hi = 0.0, 1.0
    while cv_of(hi) < cv:
        hi *= 2.0
        if hi > 64:  # pragma: no cover - cv far beyond what the callers allow
            raise ValueError(f"interval CV {cv} is out of reach")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if cv_of(mid) < cv:
            lo = mid
        else:
            hi = mid
    y = np.exp(0.5 * (lo + hi) * z)
    return mean_s * y / y.mean()


def _dead_time_poisson(
    start_s: float, stop_s: float, rate_hz: float, dead_s: float, rng: np.random.Generator
) -> list[float]:
    """Poisson process with a dead time: intervals ``dead + Exp(1/rate − dead)``."""
    mean_free = max(1.0 / rate_hz - dead_s, 1e-6)
    times: list[float] = []
    t = start_s + float(rng.exponential(1.0 / rate_hz))
    while t <= stop_s:
        times.append(t)
        t += dead_s + float(rng.exponential(mean_free))
    return times


def _realised(times_idx: Sequence[int], fs_hz: float) -> tuple[float | None, float | None]:
    t = np.asarray(times_idx, dtype=np.float64) / fs_hz
    rate = (t.size - 1) / float(t[-1] - t[0]) if t.size >= 2 and t[-1] > t[0] else None
    if t.size >= 3:
        iv = np.diff(t)
        cv: float | None = float(iv.std(ddof=1) / iv.mean())
    else:
        cv = None
    return rate, cv


# ---------------------------------------------------------------------------------------
# Rendering and imperfections
# ---------------------------------------------------------------------------------------


def _place(clean: np.ndarray, tpl: np.ndarray, start: int) -> None:
    lo, hi = max(start, 0), min(start + tpl.size, clean.size)
    if hi > lo:
        clean[lo:hi] += tpl[lo - start : hi - start]


def _imperfections(
    clean: np.ndarray,
    fs_hz: float,
    rng: np.random.Generator,
    *,
    noise_rms_v: float,
    hum_v: float,
    mains_hz: float,
    offset_v: float,
    drift_v: float,
    clip_v: float | None,
) -> tuple[np.ndarray, int]:
    n = clean.size
    # phases first, so that switching the noise off does not change the hum or drift
    hum_phase = float(rng.uniform(0.0, 2.0 * math.pi))
    drift_phase = float(rng.uniform(0.0, 2.0 * math.pi))
    x = clean + _noise.white_noise(n, noise_rms_v, rng)
    if hum_v:
        x = x + _noise.mains_hum(n, fs_hz, hum_v, mains_hz=mains_hz, phase_rad=hum_phase)
    if offset_v or drift_v:
        x = x + _noise.baseline(n, fs_hz, offset_v=offset_v, drift_v=drift_v, phase_rad=drift_phase)
    n_clipped = 0
    if clip_v is not None:
        x = _noise.clip(x, clip_v)
        n_clipped = int(np.count_nonzero(np.abs(x) >= clip_v))
    return x, n_clipped


def _check_common(duration_s: float, fs_hz: float, noise_rms_v: float, hum_v: float, clip_v: float | None) -> int:
    if not (math.isfinite(fs_hz) and fs_hz >= 4000):
        raise ValueError(f"fs_hz must be finite and >= 4000 Hz for needle EMG, got {fs_hz!r}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be finite and > 0, got {duration_s!r}")
    if not (math.isfinite(noise_rms_v) and noise_rms_v >= 0):
        raise ValueError(f"noise_rms_v must be finite and >= 0, got {noise_rms_v!r}")
    if not (math.isfinite(hum_v) and hum_v >= 0):
        raise ValueError(f"hum_v must be finite and >= 0, got {hum_v!r}")
    if clip_v is not None and not (math.isfinite(clip_v) and clip_v > 0):
        raise ValueError(f"clip_v must be finite and > 0, got {clip_v!r}")
    n = int(round(duration_s * fs_hz))
    if n < 1:
        raise ValueError("the recording would have no samples")
    return n


# ---------------------------------------------------------------------------------------
# Rest recording
# ---------------------------------------------------------------------------------------

#: Random-draw ranges of spontaneous sources (used when a count is given).
#: fibrillation: 20–200 µV log-uniform, 1–10 Hz log-uniform (CLINICAL.md §1, Daube & Rubin,
#: unconfirmed: "20–200 µV", "usually 1–10 Hz"); duration 1–2 ms in 80 %, 2–5 ms in 20 %
#: (CLINICAL.md: "about 1–5 ms", brief: "typically 1–2").
#: PSW: 30–200 µV (brief 20–200; below ~30 µV the slow phase cannot exceed the 10 µV
#: threshold), duration 10–30 ms (CLINICAL.md), rise 0.5–1 ms (brief, unconfirmed).
#: end-plate spike: 100–200 µV, 3–4 ms, 5–50 Hz log-uniform (brief, unconfirmed).
#: fasciculation: 0.1–1 Hz log-uniform (brief, unconfirmed).
_AMP_RANGE = {"fibrillation": (20.0, 200.0), "positive_sharp_wave": (30.0, 200.0), "end_plate_spike": (100.0, 200.0)}
#: Amplitudes accepted in a spec (CLINICAL.md: up to ~1 mV).
_AMP_LIMITS = {"fibrillation": (20.0, 1000.0), "positive_sharp_wave": (30.0, 1000.0), "end_plate_spike": (20.0, 1000.0)}
_REGULAR_CV = (0.01, 0.045)  # brief "about 1–5 %" (unconfirmed); top kept below 5 %
_IRREGULAR_CV = (0.30, 0.60)  # brief "e.g. 30–60 %" (Partanen; unconfirmed)
_PREFIX = {"fibrillation": "fib", "positive_sharp_wave": "psw", "end_plate_spike": "eps", "fasciculation": "fasc"}


def _resolve_specs(
    arg: int | Sequence[SpontaneousSpec] | bool, kind: SpontaneousKind, what: str
) -> list[SpontaneousSpec | None]:
    if isinstance(arg, bool):
        return [None] if arg else []
    if isinstance(arg, (int, np.integer)):
        if arg < 0:
            raise ValueError(f"{what} must be >= 0, got {arg}")
        return [None] * int(arg)
    specs = list(arg)
    for s in specs:
        if not isinstance(s, SpontaneousSpec):
            raise TypeError(f"{what}: expected SpontaneousSpec objects, got {type(s).__name__}")
        if s.kind != kind:
            raise ValueError(f"{what}: spec of kind {s.kind!r} given where {kind!r} is expected")
    return list(specs)


def _spontaneous_source(
    kind: SpontaneousKind,
    spec: SpontaneousSpec | None,
    index: int,
    n: int,
    fs_hz: float,
    rng: np.random.Generator,
    irregular_fraction: float,
    fasciculation_kind: MupKind,
) -> tuple[TrainTruth, list[Discharge], list[tuple[int, np.ndarray]], MupTruth | None]:
    sid = f"{_PREFIX[kind]}{index}"
    explicit = spec is not None
    spec = spec if spec is not None else SpontaneousSpec(kind, mup_kind=fasciculation_kind)
    unit: MupTruth | None = None
    # --- waveform --------------------------------------------------------------------
    if kind == "fasciculation":
        unit = make_motor_unit(spec.mup_kind, rng, fs_hz=fs_hz, unit_id=sid)
        if spec.amplitude_uv is not None:
            k = spec.amplitude_uv / unit.amplitude_uv
            unit = replace(
                unit,
                template_v=_readonly(unit.template_v * k),
                satellite_v=None if unit.satellite_v is None else _readonly(unit.satellite_v * k),
            )
            m = measure_waveform(unit.main_template_v, fs_hz)
            unit = replace(
                unit,
                amplitude_uv=m.amplitude_uv,
                duration_ms=m.duration_ms,
                phases=m.phases,
                turns=m.turns,
                area_uvms=m.area_uvms,
                thickness_ms=m.thickness_ms,
                rise_time_ms=m.rise_time_ms,
                template_onset_index=m.onset_index,
            )
        tpl = _unit_template(unit)
    else:
        lo, hi = _AMP_LIMITS[kind]
        amp = spec.amplitude_uv if spec.amplitude_uv is not None else _loguniform(rng, *_AMP_RANGE[kind])
        if not lo <= amp <= hi:
            why = {
                "fibrillation": "below 20 µV the initial positive phase cannot reach the 10 µV onset threshold",
                "positive_sharp_wave": "below 30 µV the slow negative phase cannot exceed the 10 µV onset threshold",
                "end_plate_spike": "outside the range the waveform model was made for",
            }[kind]
            raise ValueError(f"{kind} amplitude {amp:g} µV outside the simulated range {lo:g}–{hi:g} µV ({why})")
        if kind == "fibrillation":
            dur = spec.duration_ms
            if dur is None:
                dur = float(rng.uniform(1.0, 2.0)) if rng.uniform() < 0.8 else float(rng.uniform(2.0, 5.0))
            if not 0.5 <= dur <= 10.0:
                raise ValueError(f"fibrillation duration {dur} ms outside 0.5–10 ms")
            tpl = _spike_template("fibrillation", amp, dur, fs_hz, rng)
        elif kind == "end_plate_spike":
            dur = spec.duration_ms if spec.duration_ms is not None else float(rng.uniform(3.0, 4.0))
            if not 0.5 <= dur <= 10.0:
                raise ValueError(f"end-plate spike duration {dur} ms outside 0.5–10 ms")
            tpl = _spike_template("end_plate_spike", amp, dur, fs_hz, rng)
        else:
            dur = spec.duration_ms if spec.duration_ms is not None else float(rng.uniform(10.0, 30.0))
            if not 3.0 <= dur <= 100.0:
                raise ValueError(f"positive sharp wave duration {dur} ms outside 3–100 ms")
            tpl = _psw_template(amp, dur, float(rng.uniform(0.5, 1.0)), fs_hz, rng)
    # --- timing ----------------------------------------------------------------------
    ext = tpl.end - tpl.onset  # samples from onset to end
    first_ok = 0
    last_ok = n - 1 - ext  # latest onset index whose end is inside the recording
    win_lo = spec.start_s if spec.start_s is not None else 0.0
    win_hi = min(spec.stop_s if spec.stop_s is not None else math.inf, last_ok / fs_hz)
    regular = False
    nominal_cv: float | None
    if kind in ("fibrillation", "positive_sharp_wave"):
        rate = spec.firing_rate_hz if spec.firing_rate_hz is not None else _loguniform(rng, 1.0, 10.0)
        irregular = spec.irregular if explicit else bool(rng.uniform() < irregular_fraction)
        regular = not irregular
        cv_range = _IRREGULAR_CV if irregular else _REGULAR_CV
        cv = spec.interval_cv if spec.interval_cv is not None else float(rng.uniform(*cv_range))
        nominal_cv = cv
        period = 1.0 / rate
        first = spec.start_s if spec.start_s is not None else win_lo + float(rng.uniform(0.0, period))
        if first > win_hi:
            times: list[float] = []
        else:
            k = int(math.floor((win_hi - first) / period + 1e-9))
            iv = _moment_matched_intervals(k, period, cv, rng)
            times = [first, *(first + np.cumsum(iv)).tolist()]
    elif kind == "end_plate_spike":
        rate = spec.firing_rate_hz if spec.firing_rate_hz is not None else _loguniform(rng, 5.0, 50.0)
        nominal_cv = None
        times = _dead_time_poisson(win_lo, win_hi, rate, EPS_REFRACTORY_MS * 1e-3, rng)
    else:
        rate = spec.firing_rate_hz if spec.firing_rate_hz is not None else _loguniform(rng, 0.1, 1.0)
        nominal_cv = None
        times = _dead_time_poisson(win_lo, win_hi, rate, FASCICULATION_REFRACTORY_MS * 1e-3, rng)
    idx = sorted({int(round(t * fs_hz)) for t in times})
    idx = [i for i in idx if first_ok <= i <= last_ok]
    if kind in ("end_plate_spike", "fasciculation"):  # rounding must not break the dead time
        dead = EPS_REFRACTORY_MS if kind == "end_plate_spike" else FASCICULATION_REFRACTORY_MS
        min_gap = math.ceil(dead * 1e-3 * fs_hz - 1e-9)
        kept: list[int] = []
        for i in idx:
            if not kept or i - kept[-1] >= min_gap:
                kept.append(i)
        idx = kept
    r_rate, r_cv = _realised(idx, fs_hz)
    dkind: DischargeKind = kind
    discharges = [
        Discharge(
            time_s=i / fs_hz,
            kind=dkind,
            source_id=sid,
            amplitude_uv=tpl.amplitude_uv,
            duration_ms=tpl.duration_ms,
            peak_time_s=(i - tpl.onset + tpl.peak) / fs_hz,
        )
        for i in idx
    ]
    placements = [(i - tpl.onset, tpl.wave_v) for i in idx]
    train = TrainTruth(
        source_id=sid,
        kind=dkind,
        firing_rate_hz=r_rate,
        regular=regular,
        interval_cv=r_cv,
        amplitude_uv=tpl.amplitude_uv,
        duration_ms=tpl.duration_ms,
        times_s=tuple(i / fs_hz for i in idx),
        nominal_rate_hz=float(rate),
        nominal_cv=nominal_cv,
        template_v=_readonly(tpl.wave_v),
        template_onset_index=tpl.onset,
    )
    if unit is not None:
        unit = replace(unit, firing_rate_hz=r_rate, origin="fasciculation")
    return train, discharges, placements, unit


def _rest_grade(trains: Sequence[TrainTruth], n: int, fs_hz: float) -> str:
    active = [t for t in trains if t.kind in ("fibrillation", "positive_sharp_wave") and len(t.times_s) >= 2]
    if not active:
        return "0"
    covered = np.zeros(n, dtype=bool)
    for t in active:
        d = int(round(t.duration_ms * 1e-3 * fs_hz))
        for ts in t.times_s:
            i = int(round(ts * fs_hz))
            covered[i : i + d + 1] = True
    if covered.mean() >= 0.5:
        return "4+"
    if len(active) >= 4:
        return "3+"
    if len(active) >= 2:
        return "2+"
    return "1+"


def simulate_rest(
    duration_s: float,
    fs_hz: float,
    *,
    fibrillation_trains: int | Sequence[SpontaneousSpec] = 0,
    psw_trains: int | Sequence[SpontaneousSpec] = 0,
    end_plate: bool | int | Sequence[SpontaneousSpec] = False,
    fasciculations: int | Sequence[SpontaneousSpec] = 0,
    irregular_fraction: float = 0.0,
    fasciculation_kind: MupKind = "normal",
    noise_rms_v: float = 5e-6,
    hum_v: float = 0.0,
    mains_hz: float = 50.0,
    offset_v: float = 0.0,
    drift_v: float = 0.0,
    clip_v: float | None = None,
    seed: Seed,
) -> tuple[np.ndarray, NeedleTruth]:
    """Needle EMG at rest: spontaneous activity plus recording imperfections.

    Parameters
    ----------
    duration_s, fs_hz : float
        Length and sampling rate (>= 4 kHz) of the recording.
    fibrillation_trains, psw_trains : int or sequence of SpontaneousSpec
        A count (random plausible parameters, see the module's ``_AMP_RANGE`` comment) or
        explicit specs of kind ``"fibrillation"`` / ``"positive_sharp_wave"``.  Each
        train is one denervated fibre firing from a random phase (or ``start_s``) to the
        end of the recording (or ``stop_s``).  Regular trains have an interval CV of
        1–4.5 %, irregular ones 30–60 %; the realised mean interval and CV equal the
        nominal values exactly (up to rounding to samples).
    end_plate : bool, int or sequence of SpontaneousSpec
        End-plate spike sources (True = one): initial negative, irregular (Poisson with a
        ``EPS_REFRACTORY_MS`` dead time), 5–50 Hz.
    fasciculations : int or sequence of SpontaneousSpec
        Spontaneously firing whole motor units: MUP-shaped, irregular (Poisson with a
        ``FASCICULATION_REFRACTORY_MS`` dead time), 0.1–1 Hz.
    irregular_fraction : float
        Probability that a randomly drawn (count-given) fibrillation/PSW train is
        irregular.
    fasciculation_kind : {"normal", "myopathic", "neurogenic"}
        Kind of motor unit for count-given fasciculations.
    noise_rms_v : float
        RMS of the added Gaussian white noise (default 5 µV).
    hum_v, mains_hz : float
        Mains hum fundamental amplitude (peak, volts) and frequency (50 or 60 Hz).
    offset_v, drift_v : float
        Baseline offset and slow (0.3 Hz) drift amplitude.
    clip_v : float or None
        Amplifier rail: samples beyond ±clip_v are set to it.
    seed : int, SeedSequence or numpy.random.Generator
        Randomness; the same seed gives the same recording.

    Returns
    -------
    signal : numpy.ndarray
        Samples in volts (G1 − G2), ``round(duration_s · fs_hz)`` of them.
    truth : NeedleTruth
        Discharges, trains, fasciculating units and the single-site grade.

    Notes
    -----
    Only discharges whose clean waveform has its onset and end inside the recording are
    placed (and listed); the sub-threshold tails of a template may be cut at the edges.
    """
    n = _check_common(duration_s, fs_hz, noise_rms_v, hum_v, clip_v)
    if not 0.0 <= irregular_fraction <= 1.0:
        raise ValueError("irregular_fraction must be within 0..1")
    groups: list[tuple[SpontaneousKind, list[SpontaneousSpec | None]]] = [
        ("fibrillation", _resolve_specs(fibrillation_trains, "fibrillation", "fibrillation_trains")),
        ("positive_sharp_wave", _resolve_specs(psw_trains, "positive_sharp_wave", "psw_trains")),
        ("end_plate_spike", _resolve_specs(end_plate, "end_plate_spike", "end_plate")),
        ("fasciculation", _resolve_specs(fasciculations, "fasciculation", "fasciculations")),
    ]
    root = _root(seed)
    phys, imperf = root.spawn(2)
    kind_streams = phys.spawn(len(groups))
    clean = np.zeros(n)
    trains: list[TrainTruth] = []
    discharges: list[Discharge] = []
    units: list[MupTruth] = []
    for (kind, specs), stream in zip(groups, kind_streams, strict=True):
        children = stream.spawn(len(specs)) if specs else []
        for i, (spec, rng) in enumerate(zip(specs, children, strict=True)):
            train, dis, placements, unit = _spontaneous_source(
                kind, spec, i, n, fs_hz, rng, irregular_fraction, fasciculation_kind
            )
            trains.append(train)
            discharges.extend(dis)
            for start, tpl in placements:
                _place(clean, tpl, start)
            if unit is not None and dis:
                units.append(unit)
    signal, n_clipped = _imperfections(
        clean,
        fs_hz,
        imperf,
        noise_rms_v=noise_rms_v,
        hum_v=hum_v,
        mains_hz=mains_hz,
        offset_v=offset_v,
        drift_v=drift_v,
        clip_v=clip_v,
    )
    truth = NeedleTruth(
        fs_hz=float(fs_hz),
        duration_s=n / fs_hz,
        noise_rms_v=float(noise_rms_v),
        discharges=tuple(sorted(discharges, key=lambda d: (d.time_s, d.source_id))),
        trains=tuple(trains),
        units=tuple(units),
        recruitment=None,
        grade=_rest_grade(trains, n, fs_hz),
        definitions=dict(DEFINITIONS),
        recording="rest",
        hum_v=float(hum_v),
        mains_hz=float(mains_hz),
        offset_v=float(offset_v),
        drift_v=float(drift_v),
        clip_v=clip_v,
        n_clipped=n_clipped,
    )
    return signal, truth


# ---------------------------------------------------------------------------------------
# Effort: unit pool, force, firing
# ---------------------------------------------------------------------------------------

#: Unit pool under the needle per kind (model; unconfirmed).  ``n_units``: units whose
#: territory covers the needle after disease; ``survival``: fraction of the original
#: pool left (neurogenic: axon loss; the survivors are spread over the threshold range);
#: ``force_scale``: twitch force of a unit relative to normal (myopathic: fibre loss and
#: atrophy; neurogenic: enlarged, reinnervated units that do not fully compensate).
_POOL_MODEL: dict[str, dict[str, Any]] = {
    "normal": dict(n_units=15, survival=1.0, force_scale=1.0, recruitment="normal"),
    "myopathic": dict(n_units=15, survival=1.0, force_scale=0.35, recruitment="early"),
    "neurogenic": dict(n_units=3, survival=0.2, force_scale=1.5, recruitment="reduced"),
}
#: Recruitment thresholds in drive units (0..1, 1 = maximal drive):
#: ``0.6 · ((j + U(0.25, 0.75)) / n)^1.2`` for unit j of the original pool (model).
_THRESHOLD_MAX = 0.6
_THRESHOLD_EXP = 1.2
#: Rate coding: ``rate = r0 + gain · (drive − threshold)``, capped at ``rmax``.
#: r0 5–8 Hz (brief "~5–8 Hz at threshold", unconfirmed); gain 80 Hz per unit drive
#: (model: an active normal unit gains ~2–3 Hz before the next one joins, so the first fires
#: at ~9 Hz when the second is recruited, and ~22 Hz in the neurogenic pool, whose
#: survivors are further apart); rmax 25–32 Hz (brief: 20–30 Hz at maximal effort,
#: unconfirmed); interval CV 0.1–0.2 (brief, unconfirmed).
_R0_HZ = (5.0, 8.0)
_RATE_GAIN_HZ = 80.0
_RMAX_HZ = (25.0, 32.0)
_FIRING_CV = (0.10, 0.20)
#: Size principle: twitch force grows tenfold from the first to the last unit (model).
_TWITCH_RANGE = 10.0
#: Rate-to-force (fraction of tetanic force): r³ / (r³ + 12³) (model, unconfirmed).
_RATE_HALF_FORCE_HZ = 12.0
_RATE_FORCE_EXP = 3.0
_REF_RATE_HZ = 28.5  # mean rmax: a normal pool at maximal drive gives force ≈ 1


def _rate_force(rate_hz: np.ndarray) -> np.ndarray:
    r = np.asarray(rate_hz, dtype=np.float64) ** _RATE_FORCE_EXP
    return r / (r + _RATE_HALF_FORCE_HZ**_RATE_FORCE_EXP)


@dataclass(frozen=True)
class _Pool:
    threshold: np.ndarray  # drive units, ascending
    r0: np.ndarray
    rmax: np.ndarray
    cv: np.ndarray
    twitch: np.ndarray
    n_original: int
    recruitment: str

    def rates(self, drive: float | np.ndarray) -> np.ndarray:
        """Firing rate of every unit at the given drive (0 below threshold); shape
        ``(n_units,) + shape(drive)``."""
        e = np.asarray(drive, dtype=np.float64)[None, ...]
        th = self.threshold.reshape((-1,) + (1,) * (e.ndim - 1))
        r0 = self.r0.reshape(th.shape)
        rmax = self.rmax.reshape(th.shape)
        r = np.minimum(r0 + _RATE_GAIN_HZ * (e - th), rmax)
        return np.where(e >= th, r, 0.0)

    def force(self, drive: float | np.ndarray) -> np.ndarray:
        """Muscle force at the given drive, fraction of a normal muscle's maximal force."""
        r = self.rates(drive)
        tw = self.twitch.reshape((-1,) + (1,) * (r.ndim - 1))
        ref = self.n_original * float(_rate_force(np.array(_REF_RATE_HZ)))
        return (tw * _rate_force(r)).sum(axis=0) / ref


def _make_pool(kind: MupKind, n_units: int | None, rng: np.random.Generator) -> _Pool:
    m = _POOL_MODEL[kind]
    n = int(n_units) if n_units is not None else int(m["n_units"])
    if n < 1:
        raise ValueError(f"n_units must be >= 1, got {n_units}")
    n_orig = max(n, int(round(n / float(m["survival"]))))
    j = np.arange(n_orig)
    thr = _THRESHOLD_MAX * ((j + rng.uniform(0.25, 0.75, n_orig)) / n_orig) ** _THRESHOLD_EXP
    twitch = np.exp(math.log(_TWITCH_RANGE) * j / max(n_orig - 1, 1))
    twitch /= twitch.mean()
    if n < n_orig:
        sel = np.floor((np.arange(n) + rng.uniform(0.2, 0.8, n)) * n_orig / n).astype(int)
        sel = np.unique(np.clip(sel, 0, n_orig - 1))
    else:
        sel = j
    k = sel.size
    return _Pool(
        threshold=thr[sel],
        r0=rng.uniform(*_R0_HZ, k),
        rmax=rng.uniform(*_RMAX_HZ, k),
        cv=rng.uniform(*_FIRING_CV, k),
        twitch=twitch[sel] * float(m["force_scale"]),
        n_original=n_orig,
        recruitment=str(m["recruitment"]),
    )


def _drive_from_force(pool: _Pool, force: np.ndarray) -> tuple[np.ndarray, bool]:
    """Invert the (monotone) force–drive relation; force above the pool's maximum is
    produced at maximal drive (flagged)."""
    grid = np.linspace(0.0, 1.0, 4001)
    f = pool.force(grid) + 1e-12 * grid  # strictly increasing for np.interp
    saturated = bool(np.any(force > f[-1]))
    return np.interp(np.minimum(force, f[-1]), f, grid), saturated


def _fire_unit(pool: _Pool, i: int, drive: np.ndarray, fs_hz: float, rng: np.random.Generator) -> list[int]:
    """Onset sample indices of one unit: semi-regular intervals ``(1 + cv·z) / rate``
    (z standard normal clipped to ±2.5) at the rate set by the drive at each discharge;
    silent while the drive is below threshold, restarting at a random phase."""
    n = drive.size
    active = np.flatnonzero(drive >= pool.threshold[i])
    if active.size == 0:
        return []
    th, r0, rmax, cv = pool.threshold[i], pool.r0[i], pool.rmax[i], pool.cv[i]

    def rate(k: int) -> float:
        return float(min(r0 + _RATE_GAIN_HZ * (drive[k] - th), rmax))

    out: list[int] = []
    k0 = int(active[0])
    t = k0 / fs_hz + float(rng.uniform()) / rate(k0)
    while True:
        k = int(round(t * fs_hz))
        if k >= n:
            break
        if drive[k] < th:
            pos = int(np.searchsorted(active, k))
            if pos >= active.size:
                break
            k0 = int(active[pos])
            t = k0 / fs_hz + float(rng.uniform()) / rate(k0)
            continue
        out.append(k)
        z = float(np.clip(rng.standard_normal(), -2.5, 2.5))
        t += (1.0 + cv * z) / rate(k)
    return out


def simulate_effort(
    duration_s: float,
    fs_hz: float,
    *,
    kind: MupKind = "normal",
    level: str | Sequence[float] | np.ndarray = "minimal",
    n_units: int | None = None,
    noise_rms_v: float = 5e-6,
    hum_v: float = 0.0,
    mains_hz: float = 50.0,
    offset_v: float = 0.0,
    drift_v: float = 0.0,
    clip_v: float | None = None,
    muscle: str = "tibialis anterior",
    seed: Seed,
) -> tuple[np.ndarray, NeedleTruth]:
    """Needle EMG during voluntary effort: motor unit potential trains summed.

    Model
    -----
    A pool of motor units lies under the needle (``_POOL_MODEL``); each has a
    recruitment threshold in drive units, a twitch force (size principle) and a rate
    that starts at 5–8 Hz at threshold, rises 80 Hz per unit drive and saturates at
    25–32 Hz.  The requested force (fraction of a normal muscle's maximal force) is
    converted into the drive that makes the pool produce it; weaker pools need more
    drive for the same force:

    * normal: 15 units, thresholds spread so that a unit gains ~2–3 Hz before the next
      joins (the first fires at ~9 Hz when the second is recruited; recruitment ratio
      below ~5);
    * myopathic (early recruitment): the same pool with units of 35 % force, so more
      units fire at a given force;
    * neurogenic (reduced recruitment): 3 survivors of a 15-unit pool, with 1.5 times the
      normal twitch force (30 % strength); they fire fast (about 20 Hz) before the next joins.

    Parameters
    ----------
    duration_s, fs_hz : float
        Length and sampling rate (>= 4 kHz).
    kind : {"normal", "myopathic", "neurogenic"}
        Kind of motor units and of recruitment.
    level : {"minimal", "moderate", "maximal"} or array of float
        ``"minimal"``: 3 % of a normal maximal force (about three normal units,
        separable for MUP analysis); ``"moderate"``: 30 %; ``"maximal"``: maximal drive
        (interference pattern).  An array is a force profile (fractions of a normal
        maximal force) spread evenly over the recording and linearly interpolated (one
        value = constant force; e.g. ``np.linspace(0, 0.3, 50)`` is a ramp).
    n_units : int or None
        Units in the pool (default 15, 15, 3 by kind).
    noise_rms_v, hum_v, mains_hz, offset_v, drift_v, clip_v
        Recording imperfections, as in :func:`simulate_rest`.
    muscle : str
        Only ``"tibialis anterior"`` is calibrated.
    seed : int, SeedSequence or numpy.random.Generator

    Returns
    -------
    signal : numpy.ndarray
        Samples in volts (G1 − G2).
    truth : NeedleTruth
        Every MUP discharge (kind ``"mup"``, ``source_id`` = unit id), one train per pool
        unit, the units that fired (``origin="voluntary"``) and ``recruitment``.
    """
    n = _check_common(duration_s, fs_hz, noise_rms_v, hum_v, clip_v)
    if kind not in _POOL_MODEL:
        raise ValueError(f"unknown kind {kind!r}; expected one of {tuple(_POOL_MODEL)}")
    root = _root(seed)
    phys, imperf = root.spawn(2)
    pool_rng, unit_rng, fire_rng = phys.spawn(3)
    pool = _make_pool(kind, n_units, pool_rng)
    t = np.arange(n) / fs_hz
    if isinstance(level, str):
        if level not in LEVEL_FORCE:
            raise ValueError(f"unknown effort level {level!r}; expected one of {tuple(LEVEL_FORCE)} or a force array")
        target = LEVEL_FORCE[level]
        level_name = level
        if target is None:
            drive = np.ones(n)
            force = np.full(n, float(pool.force(1.0)))
            saturated = False
        else:
            force = np.full(n, target)
            drive, saturated = _drive_from_force(pool, force)
    else:
        prof = np.asarray(level, dtype=np.float64).ravel()
        if prof.size == 0 or not np.isfinite(prof).all() or (prof < 0).any():
            raise ValueError("a force profile must be a non-empty array of finite values >= 0")
        level_name = "profile"
        force = np.full(n, prof[0]) if prof.size == 1 else np.interp(t, np.linspace(0.0, t[-1], prof.size), prof)
        drive, saturated = _drive_from_force(pool, force)

    unit_streams = unit_rng.spawn(pool.threshold.size)
    fire_streams = fire_rng.spawn(pool.threshold.size)
    clean = np.zeros(n)
    trains: list[TrainTruth] = []
    units: list[MupTruth] = []
    discharges: list[Discharge] = []
    thresholds_force = pool.force(pool.threshold)
    for i in range(pool.threshold.size):
        uid = f"mu{i}"
        unit = make_motor_unit(kind, unit_streams[i], fs_hz=fs_hz, muscle=muscle, unit_id=uid)
        tpl = _unit_template(unit)
        ext = tpl.end - tpl.onset
        idx = [k for k in _fire_unit(pool, i, drive, fs_hz, fire_streams[i]) if k + ext <= n - 1]
        rate, cv = _realised(idx, fs_hz)
        for k in idx:
            _place(clean, tpl.wave_v, k - tpl.onset)
            discharges.append(
                Discharge(
                    time_s=k / fs_hz,
                    kind="mup",
                    source_id=uid,
                    amplitude_uv=tpl.amplitude_uv,
                    duration_ms=tpl.duration_ms,
                    peak_time_s=(k - tpl.onset + tpl.peak) / fs_hz,
                )
            )
        trains.append(
            TrainTruth(
                source_id=uid,
                kind="mup",
                firing_rate_hz=rate,
                regular=False,
                interval_cv=cv,
                amplitude_uv=tpl.amplitude_uv,
                duration_ms=tpl.duration_ms,
                times_s=tuple(k / fs_hz for k in idx),
                template_v=unit.template_v,
                template_onset_index=tpl.onset,
            )
        )
        if idx:
            units.append(
                replace(
                    unit,
                    firing_rate_hz=rate,
                    recruitment_threshold=float(thresholds_force[i]),
                    origin="voluntary",
                )
            )
    signal, n_clipped = _imperfections(
        clean,
        fs_hz,
        imperf,
        noise_rms_v=noise_rms_v,
        hum_v=hum_v,
        mains_hz=mains_hz,
        offset_v=offset_v,
        drift_v=drift_v,
        clip_v=clip_v,
    )
    truth = NeedleTruth(
        fs_hz=float(fs_hz),
        duration_s=n / fs_hz,
        noise_rms_v=float(noise_rms_v),
        discharges=tuple(sorted(discharges, key=lambda d: (d.time_s, d.source_id))),
        trains=tuple(trains),
        units=tuple(units),
        recruitment=pool.recruitment,
        grade=None,
        definitions=dict(DEFINITIONS),
        recording="effort",
        hum_v=float(hum_v),
        mains_hz=float(mains_hz),
        offset_v=float(offset_v),
        drift_v=float(drift_v),
        clip_v=clip_v,
        n_clipped=n_clipped,
        level=level_name,
        force_fraction=float(force.mean()),
        force_saturated=saturated,
        pool_size=int(pool.threshold.size),
    )
    return signal, truth
