"""Motor unit potentials at minimal effort, and the interference pattern at maximal effort.

:func:`analyze_mups` detects MUP discharges in one or more needle recordings of a
muscle, sorts them into motor units by template matching, averages each unit's
template (other units peeled off), measures it and summarises the muscle against a
reference (:file:`edx/data/mup_reference.toml` or a laboratory's own).  The numba
kernels are in :mod:`edx.kernels.mup`.

:func:`interference_pattern` counts turns (changes of at least 100 µV in both
directions, CLINICAL.md §1) per second and the mean amplitude per turn.

Measure definitions (the same as the simulator's truth, :data:`edx.sim.needle.DEFINITIONS`):
onset/end threshold ``max(10 µV, 2 % of peak-to-peak)``; duration from the first to
the last sample beyond it (a sub-threshold stretch of ``end_gap_ms`` ends the
potential, so a time-locked late component is measured separately as a satellite);
amplitude peak to peak; phases = baseline crossings beyond ±10 µV + 1 (polyphasic
> 4); turns = direction changes of ≥ 25 µV each side; area = Σ|x|·dt over onset..end;
thickness = area / amplitude; size index = 2·log10(amplitude mV) + thickness
(Sonoo & Stålberg 1993, unconfirmed here).
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import SignalQualityError
from ..model import Recording, Trace

logger = logging.getLogger(__name__)

__all__ = [
    "MupConfig",
    "MotorUnit",
    "MupSummary",
    "ReferenceComparison",
    "Recruitment",
    "MupAnalysis",
    "InterferencePattern",
    "analyze_mups",
    "interference_pattern",
    "load_mup_reference",
]

Classification = Literal["myopathic", "normal", "neurogenic"]
RecruitmentPattern = Literal["early", "normal", "reduced"]
SignalLike = np.ndarray | Trace | Recording | Sequence[float]


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class MupConfig:
    """Algorithm settings of :func:`analyze_mups` (not clinical limits; those are in the reference).

    Parameters
    ----------
    detect_band_hz : tuple of float
        Band-pass (second-order Butterworth high- and low-pass, forward) of the detection
        trace; it keeps the sharp spikes of nearby MUPs.  The low-pass corner is limited
        to 0.45 × the sampling rate.
    k_detect : float
        Detection threshold in robust noise SDs of the detection trace.
    peak_half_ms : float
        A candidate is the largest detection peak within ± this.
    match_pre_ms, match_post_ms : float
        Template-matching window (detection trace) around the candidate.
    max_shift_ms : float
        Largest alignment shift tried when matching.
    max_shift_samples : int
        ... and at most this many samples (candidates are already aligned on their
        detection peak; a larger search only costs time at high sampling rates).
    match_alpha : float
        Accepted residual energy as a fraction of the template's energy.
    match_beta : float
        Accepted residual energy per sample, in noise variances.
    merge_alpha : float
        Two units whose plain-mean templates differ (at the best lag, to 1/8 sample,
        less the noise of the averages) by at most this fraction of the smaller one's
        energy may be one unit ...
    merge_max_short_fraction : float
        ... and the joined discharge train has at most this fraction of intervals shorter
        than half its median (two independent units interleave; one unit split in two
        does not).  The same test confirms a superposition's components.
    superposition_alpha : float
        A candidate unit whose filtered template is another unit's at a lag, or the sum
        of two other units' at fixed lags, within this fraction of its energy (plus the
        noise of the averages), is not a unit: a duplicate joins the other unit, a
        recurring superposition becomes discharges of both components (subtracted from
        the recording, not averaged).  Only units with more discharges explain it.
    refractory_ms : float
        Two discharges of one unit closer than this are one discharge found twice.
    residual_passes : int
        Passes of subtracting every sorted discharge's filtered template and matching
        the peaks left (discharges hidden in overlaps).
    exclude_overlaps : bool
        Leave discharges with an unexplained residual peak within their unit's
        potential (± ``end_gap_ms``) out of the average, unless that would remove more
        than half of them (dense recordings: the robust average deals with a minority).
    overlap_fraction : float
        ... counting only residual peaks of at least this fraction of the unit's own
        filtered peak.
    min_discharges : int
        A unit needs at least this many matched discharges.
    max_units : int
        Templates kept open while sorting.
    window_pre_ms, window_post_ms : float
        Averaged template around the reference (matched peak); long enough for the
        longest MUPs and a satellite up to ~25 ms after the end.
    n_peel : int
        Iterations of averaging with the other units' templates subtracted.
    reject_k : float
        A discharge whose residual SD over its window exceeds ``reject_k`` times its
        unit's median is left out of the average (undetected superposition).
    robust_average : bool
        The last averaging iteration takes the per-sample median (robust to
        unexplained background activity) instead of the mean.
    robust_max : int
        The peeled iterations use at most this many of a unit's discharges, spread
        evenly over the recording (0 = all; averaging cost grows with the number).
    robust_trim : float
        The robust average is the per-sample mean without this fraction of the lowest
        and of the highest values (0.5 = median; 0.25 = interquartile mean, which has
        the noise of a mean of ~83 % as many discharges, the median ~64 %).
    threshold_floor_uv, threshold_fraction : float
        Onset/end threshold ``max(floor, fraction × peak-to-peak)``.
    end_gap_ms : float
        A sub-threshold stretch this long ends the potential (shorter gaps are inside it).
    slope_uv_per_ms : float
        Optional slope criterion: a sample steeper than this also counts as active
        (0 = amplitude criterion only, the definition of the simulator's truth).
    phase_level_uv, turn_level_uv : float
        Dead band of a phase boundary; change on each side of a turn.
    baseline_edge_ms : float
        Baseline of an averaged template from this much at each end.
    satellite_k : float
        A late component must exceed this many template-noise SDs.
    noise_k : float
        The onset/end threshold is raised to this many template-noise SDs when the
        template is noisy (the unit is then flagged ``threshold_raised``: its duration
        is shortened compared with a clean recording).
    max_rise_time_ms : float
        Acceptance: rise time at most this (a nearby, sharp MUP; common practice,
        unconfirmed), or three sampling intervals at low sampling rates; one sampling
        interval of tolerance (the averaged template's peaks may move by a sample).
    min_amplitude_uv : float
        Acceptance: peak-to-peak at least this (unconfirmed).
    min_averaged : int
        Acceptance: at least this many discharges averaged.
    coincidence_ms : float
        A unit with more than half of its discharges within this of another unit's is
        not accepted (``coincident``: part of another unit's discharge or a superposition).
    short_interval_ms, max_short_fraction : float
        A unit with more than ``max_short_fraction`` of its interdischarge intervals shorter
        than ``short_interval_ms`` (a firing rate of 40 Hz; at minimal effort units fire at
        5-15 Hz, doublets are rare) is flagged ``short_intervals``: two units of one shape
        sorted as one, whose mixed train reads about the sum of their rates (a 97 %-alike
        pair at 10.4 and 8.3 Hz read 20.5 Hz).  Its firing rate is not given (None) and
        does not count for recruitment; its shape still does.
    mains_hz : tuple of float
        Mains frequencies checked for hum.
    hum_level_uv : float
        Hum (a mains line, above the EMG's own power next to it) above this amplitude is
        flagged, and fitted and subtracted before the analysis.
    min_duration_s : float
        Shorter recordings are refused.
    max_abs_v : float
        A signal swinging more than this either side of its middle (half its range,
        volts at the amplifier input) is refused as not in volts: the largest needle
        potentials, giant motor unit potentials, are some 10-20 mV; mV or µV passed as
        volts (or a signal after the gain) reach far beyond.  0 switches the check off.
    max_offset_v : float
        The same for the middle of the range (a DC offset), as for nerve conduction: 1 V.
    min_noise_v : float
        A signal whose robust SD (median absolute deviation / 0.6745: the noise at rest, more
        under effort) is above zero but below this (0.1 µV RMS) is refused as too small to be
        volts: the thermal noise of a needle electrode's impedance and the amplifier's
        input noise keep any real recording near 1 µV RMS or more; a signal a thousand
        times too small (volts converted twice, kV) reads nanovolts.  0 switches the check
        off (a signal mostly at one quantisation step gives 0: not judged).
    """

    detect_band_hz: tuple[float, float] = (300.0, 5000.0)
    k_detect: float = 6.0
    peak_half_ms: float = 1.5
    match_pre_ms: float = 1.5
    match_post_ms: float = 2.0
    max_shift_ms: float = 0.3
    max_shift_samples: int = 4
    match_alpha: float = 0.1
    match_beta: float = 2.0
    merge_alpha: float = 0.1
    merge_max_short_fraction: float = 0.1
    superposition_alpha: float = 0.1
    refractory_ms: float = 5.0
    residual_passes: int = 2
    exclude_overlaps: bool = True
    overlap_fraction: float = 0.1
    min_discharges: int = 6
    max_units: int = 64
    window_pre_ms: float = 20.0
    window_post_ms: float = 40.0
    n_peel: int = 2
    reject_k: float = 2.0
    robust_average: bool = True
    robust_max: int = 64
    robust_trim: float = 0.5
    threshold_floor_uv: float = 10.0
    threshold_fraction: float = 0.02
    end_gap_ms: float = 4.0
    slope_uv_per_ms: float = 0.0
    phase_level_uv: float = 10.0
    turn_level_uv: float = 25.0
    baseline_edge_ms: float = 3.0
    satellite_k: float = 5.0
    noise_k: float = 3.0
    max_rise_time_ms: float = 0.5
    min_amplitude_uv: float = 50.0
    min_averaged: int = 5
    coincidence_ms: float = 4.0
    short_interval_ms: float = 25.0
    max_short_fraction: float = 0.1
    mains_hz: tuple[float, ...] = (50.0, 60.0)
    hum_level_uv: float = 10.0
    min_duration_s: float = 1.0
    max_abs_v: float = 0.1
    max_offset_v: float = 1.0
    min_noise_v: float = 1e-7

    def measure_vector(self) -> np.ndarray:
        """Parameter vector of :func:`edx.kernels.mup.measure_mup`."""
        from ..kernels import mup as K

        q = np.zeros(K.N_QPARAMS)
        q[K.Q_FLOOR_UV] = self.threshold_floor_uv
        q[K.Q_FRACTION] = self.threshold_fraction
        q[K.Q_GAP_MS] = self.end_gap_ms
        q[K.Q_PHASE_UV] = self.phase_level_uv
        q[K.Q_TURN_UV] = self.turn_level_uv
        q[K.Q_EDGE_MS] = self.baseline_edge_ms
        q[K.Q_SLOPE_UV_PER_MS] = self.slope_uv_per_ms
        q[K.Q_SATELLITE_K] = self.satellite_k
        q[K.Q_NOISE_K] = self.noise_k
        return q


DEFAULT_CONFIG = MupConfig()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class MotorUnit:
    """One sorted motor unit with its averaged MUP and measures.

    Attributes
    ----------
    unit_id : str
        ``"s{site}u{n}"``.
    site : int
        Index of the recording (site) it came from.
    fs_hz : float
    template_v : numpy.ndarray
        Averaged, baseline-free template (volts), read-only.
    onset_index, end_index, peak_index : int
        Within ``template_v``.
    n_discharges : int
        Discharges matched to the unit.
    n_averaged : int
        Discharges averaged (superpositions and clipped ones left out).
    discharge_times_s : tuple of float
        Times of the matched discharges (the template's reference sample), seconds
        from the first sample of the recording.
    duration_ms, amplitude_uv, area_uv_ms, thickness_ms, size_index : float
    phases, turns : int
    rise_time_ms : float
    polyphasic : bool
        ``phases >= polyphasic_min_phases`` of the reference rules.
    firing_rate_hz : float or None
        1 / mean inter-discharge interval (intervals longer than 1.5 × the median,
        i.e. missed discharges, left out); None with fewer than 3 discharges.
    satellite : bool
        A time-locked late component after the end (excluded from the measures).
    satellite_latency_ms : float or None
        From the end of the main potential to the satellite's onset.
    noise_uv : float
        Residual noise SD of the template (its edges).
    accepted : bool
        Used in the muscle summary.
    quality : frozenset of str
        Why a unit is not accepted or what to watch (``remote``, ``small``,
        ``few_discharges``, ``noisy_template`` (noise above 1/12 of the amplitude),
        ``truncated``, ``coincident``; ``threshold_raised`` is a warning only).
    """

    unit_id: str
    site: int
    fs_hz: float
    template_v: np.ndarray = field(repr=False)
    onset_index: int
    end_index: int
    peak_index: int
    n_discharges: int
    n_averaged: int
    discharge_times_s: tuple[float, ...] = field(repr=False)
    duration_ms: float
    amplitude_uv: float
    phases: int
    turns: int
    area_uv_ms: float
    thickness_ms: float
    size_index: float
    rise_time_ms: float
    polyphasic: bool
    firing_rate_hz: float | None
    satellite: bool
    satellite_latency_ms: float | None
    noise_uv: float
    accepted: bool
    quality: frozenset[str]


@dataclass(frozen=True)
class MupSummary:
    """Mean MUP measures of a muscle over the accepted units."""

    n_mups: int
    mean_duration_ms: float | None
    mean_amplitude_uv: float | None
    mean_phases: float | None
    mean_turns: float | None
    mean_area_uv_ms: float | None
    mean_size_index: float | None
    polyphasic_pct: float | None
    satellite_pct: float | None
    mean_firing_rate_hz: float | None


@dataclass(frozen=True)
class ReferenceComparison:
    """The muscle summary against the reference values.

    ``classification`` is None whenever the data cannot support a class (no reference
    for the muscle, fewer MUPs than the rules require, most MUPs measured on noisy
    templates, contradicting findings); the reasons say why.  z-scores are ``(mean − reference mean) / reference SD``; the SD
    is that of control means of >= 20 MUPs, so a z-score from fewer MUPs is
    indicative only.
    """

    muscle: str | None
    age_years: float | None
    source: str | None
    duration_z: float | None
    amplitude_z: float | None
    phases_z: float | None
    duration_limits_ms: tuple[float, float] | None
    amplitude_limits_uv: tuple[float, float] | None
    polyphasic_upper_pct: float | None
    classification: Classification | None
    findings: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Recruitment:
    """Recruitment pattern, decided only when firing (or force) information allows.

    Only accepted units count (a unit refused as remote, small, truncated, coincident
    or noisy may be a fragment of another unit or not a unit at all).
    ``recruitment_ratio`` is the highest accepted unit's firing rate divided by the
    number of accepted units with a firing rate (per site; the median over sites).
    ``max_firing_rate_hz`` is the highest such rate (the recruitment frequency when
    few units fire), ``n_units_firing`` the largest count at one site.  ``early`` is
    only ever given with ``force_fraction``.
    """

    pattern: RecruitmentPattern | None
    recruitment_ratio: float | None
    max_firing_rate_hz: float | None
    n_units_firing: int
    force_fraction: float | None
    reason: str
    source: str


@dataclass(frozen=True, eq=False)
class MupAnalysis:
    """Result of :func:`analyze_mups`.

    Attributes
    ----------
    status : {"ok", "no_mups"}
        ``no_mups``: no unit could be sorted (rest, or noise only).
    units : tuple of MotorUnit
        Every sorted unit, accepted or not.
    summary : MupSummary
        Over the accepted units.
    comparison : ReferenceComparison
    recruitment : Recruitment
    quality : frozenset of str
        ``clipped``, ``hum``, ``too_few_mups``, ``low_sampling_rate``,
        ``short_recording``, ``noisy``, ``dense_background`` (activity left once the
        sorted units are subtracted: more units fire than were sorted, as at more than
        minimal effort; such a site is not used for the recruitment ratio or frequency).
    reasons : Mapping of str to str
        A sentence per quality flag.
    fs_hz : tuple of float
        Sampling rate of each site.
    noise_uv : tuple of float
        Robust noise SD of each site's detection trace.
    n_candidates, n_matched : tuple of int
        Detected candidates and those matched to a unit, per site.
    """

    status: Literal["ok", "no_mups"]
    units: tuple[MotorUnit, ...]
    summary: MupSummary
    comparison: ReferenceComparison
    recruitment: Recruitment
    quality: frozenset[str]
    reasons: Mapping[str, str]
    fs_hz: tuple[float, ...]
    noise_uv: tuple[float, ...]
    n_candidates: tuple[int, ...]
    n_matched: tuple[int, ...]

    @property
    def accepted_units(self) -> tuple[MotorUnit, ...]:
        """The units used in the summary."""
        return tuple(u for u in self.units if u.accepted)


@dataclass(frozen=True)
class InterferencePattern:
    """Turns analysis of an interference pattern (Willison).

    Attributes
    ----------
    turns_per_s : float
        Turns (changes of at least ``turn_level_uv`` in both directions) per second.
    mean_amplitude_uv : float or None
        Mean amplitude change between successive turns; None without turns.
    n_turns : int
    duration_s : float
        Analysed duration.
    epoch_turns_per_s, epoch_mean_amplitude_uv : tuple of float
        The same per epoch (NaN amplitude for an epoch without turns).
    turn_level_uv : float
    quality : frozenset of str
        ``clipped``, ``hum`` (mains hum above ``MupConfig.hum_level_uv``, fitted and
        subtracted before the turns were counted), ``low_sampling_rate`` (below 10 kHz turns
        are under-counted).
    reasons : Mapping of str to str
    """

    turns_per_s: float
    mean_amplitude_uv: float | None
    n_turns: int
    duration_s: float
    epoch_turns_per_s: tuple[float, ...]
    epoch_mean_amplitude_uv: tuple[float, ...]
    turn_level_uv: float
    quality: frozenset[str]
    reasons: Mapping[str, str]


# --------------------------------------------------------------------------- reference


_REFERENCE_RESOURCE = "data/mup_reference.toml"


def load_mup_reference(reference: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Load MUP reference values and rules.

    Parameters
    ----------
    reference : path, mapping or None
        A TOML file or an already parsed dict with the layout of
        ``edx/data/mup_reference.toml``; None loads the bundled file.

    Returns
    -------
    dict
        The parsed reference (``rules`` and a list ``muscle``).
    """
    if reference is None:
        from importlib.resources import files

        doc = tomllib.loads(files("edx").joinpath(_REFERENCE_RESOURCE).read_text(encoding="utf-8"))
    elif isinstance(reference, Mapping):
        doc = dict(reference)
    else:
        p = Path(reference)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            from ..errors import MissingFileError

            raise MissingFileError(f"{p}: MUP reference file not found") from exc
    if "rules" not in doc or not isinstance(doc.get("muscle", []), list):
        raise ValueError("a MUP reference needs a [rules] table and a list of [[muscle]] tables")
    return doc


def _muscle_key(name: str) -> str:
    """Muscle name for matching: lower case, ``_`` and ``-`` as spaces, runs of white space as one
    (``"Tibialis_Anterior"``, ``"tibialis-anterior"`` and ``"tibialis  anterior"`` are one muscle, as
    in the manifest and the interpreter)."""
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _find_band(doc: Mapping[str, Any], muscle: str | None, age: float | None) -> tuple[dict | None, dict | None, str]:
    if muscle is None:
        return None, None, "no muscle given: no reference comparison"
    key = _muscle_key(muscle)
    for m in doc.get("muscle", []):
        names = [_muscle_key(str(m.get("name", "")))] + [_muscle_key(str(a)) for a in m.get("aliases", [])]
        if key in names:
            bands = m.get("band", [])
            if not bands:
                return m, None, f"reference for {m.get('name')} has no values"
            if age is None:
                if len(bands) == 1:
                    return m, bands[0], ""
                return m, None, f"reference for {m.get('name')} is age-banded: give age_years"
            for b in bands:
                if float(b.get("age_min_years", -math.inf)) <= age <= float(b.get("age_max_years", math.inf)):
                    return m, b, ""
            return m, None, f"no reference band of {m.get('name')} covers age {age:g} years"
    return None, None, f"no reference values for muscle {muscle!r}: pass a laboratory reference"


# --------------------------------------------------------------------------- input


def _sites(signal: Any, fs_hz: float | None) -> list[tuple[np.ndarray, float, tuple[float, float] | None, str]]:
    """(samples, fs, rails, label) per site."""

    def one(obj: Any, label: str) -> list[tuple[np.ndarray, float, tuple[float, float] | None, str]]:
        if isinstance(obj, Recording):
            tr = [t for t in obj.traces if t.is_voltage]
            if not tr:
                raise SignalQualityError(f"{obj.source or 'recording'}: no voltage channel to analyse")
            chans = {t.channel for t in tr}
            if len(chans) > 1:
                raise ValueError(
                    f"{obj.source or 'recording'}: {len(chans)} voltage channels {sorted(chans)}; pass one Trace"
                )
            out = []
            for k, t in enumerate(tr):
                out.extend(one(t, f"{obj.source}:{t.channel}[{k}]"))
            return out
        if isinstance(obj, Trace):
            if not obj.is_voltage:
                raise SignalQualityError(f"channel {obj.channel!r}: unit {obj.unit!r} is not volts")
            if fs_hz is not None and abs(fs_hz - obj.fs_hz) > 1e-9 * obj.fs_hz:
                raise ValueError(f"fs_hz={fs_hz} contradicts the trace's {obj.fs_hz} Hz")
            return [(np.ascontiguousarray(obj.samples_v, dtype=np.float64), obj.fs_hz, obj.clip_range, obj.channel)]
        arr = np.asarray(obj)
        if arr.dtype.kind not in "fiu":
            raise SignalQualityError(f"{label}: samples must be numeric, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if arr.ndim != 1:
            raise SignalQualityError(f"{label}: samples must be 1-D volts, got shape {arr.shape}")
        if fs_hz is None:
            raise ValueError("fs_hz is required for an array of samples")
        fs = float(fs_hz)
        if not (math.isfinite(fs) and fs > 0):
            raise ValueError(f"fs_hz must be a finite positive number, got {fs_hz!r}")
        return [(arr, fs, None, label)]

    if isinstance(signal, (np.ndarray, Trace, Recording)):
        return one(signal, "signal")
    if isinstance(signal, Sequence) and signal and not isinstance(signal[0], (int, float, np.number)):
        out = []
        for i, s in enumerate(signal):
            out.extend(one(s, f"site {i}"))
        return out
    return one(signal, "signal")


def volts_problem(lo: float, hi: float, max_abs_v: float, max_offset_v: float) -> str | None:
    """Why samples ranging over ``[lo, hi]`` cannot be a needle recording in volts, or None.

    The swing either side of the middle of the range is judged against ``max_abs_v`` and
    the middle itself (a DC offset, which electrodes and DC-coupled amplifiers carry)
    against ``max_offset_v``; a limit of 0 is not checked.
    """
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    if max_abs_v > 0.0 and half > max_abs_v:
        what = f"samples swing {half:.4g} V either side of their middle"
    elif max_offset_v > 0.0 and abs(mid) > max_offset_v:
        what = f"samples sit at an offset of {mid:.4g} V"
    else:
        return None
    return (f"{what}: no needle EMG recording in volts does (the largest motor unit potentials are some 10-20 mV); "
            "the samples are probably in mV or µV, or after the amplifier's gain: pass volts "
            "(edx.units.volts_per_unit gives the factor of a unit)")


def small_noise_problem(noise_v: float, min_noise_v: float) -> str | None:
    """Why a recording whose noise SD is ``noise_v`` (volts) cannot be needle EMG in volts, or None.

    Above zero but below ``min_noise_v`` (0 is not checked; 0 itself is a digitally flat or
    quantised baseline, judged elsewhere)."""
    if not (min_noise_v > 0.0 and 0.0 < noise_v < min_noise_v):
        return None
    return (f"a baseline noise of {noise_v * 1e9:.3g} nV RMS: below the thermal noise of any needle electrode and "
            f"amplifier (about 1 µV RMS; limit {min_noise_v * 1e6:g} µV); the samples are probably a thousand times "
            "or more too small (volts converted twice, or kV): pass volts (edx.units.volts_per_unit gives the factor "
            "of a unit)")


def level_noise_v(x: np.ndarray, max_n: int = 200_000) -> float:
    """Robust SD of ``x`` (median absolute deviation about the median / 0.6745) over at most
    ``max_n`` evenly strided samples: a lower bound check's noise level, which an amplifier's
    low-pass does not lower (as it does the first differences') and activity only raises."""
    if x.size < 4:
        return 0.0
    v = x[:: max(1, x.size // max_n)]
    return float(np.median(np.abs(v - np.median(v)))) / 0.6745


def _check_volts(x: np.ndarray, label: str, max_abs_v: float, max_offset_v: float, min_noise_v: float = 0.0) -> None:
    """Refuse samples no needle recording in volts holds (x finite)."""
    why = volts_problem(float(x.min()), float(x.max()), max_abs_v, max_offset_v)
    if why is None and min_noise_v > 0.0:
        why = small_noise_problem(level_noise_v(x), min_noise_v)
    if why is not None:
        raise SignalQualityError(f"{label}: {why}")


def _check_samples(x: np.ndarray, fs: float, label: str, min_duration_s: float, max_abs_v: float = 0.1,
                   max_offset_v: float = 1.0, min_noise_v: float = 0.0) -> None:
    if x.size == 0:
        raise SignalQualityError(f"{label}: zero-length signal")
    bad = ~np.isfinite(x)
    if bad.any():
        raise SignalQualityError(
            f"{label}: {int(bad.sum())} non-finite sample(s) (NaN or inf), first at index "
            f"{int(np.flatnonzero(bad)[0])}; cut the segment or repair the file"
        )
    if x.size / fs < min_duration_s:
        raise SignalQualityError(
            f"{label}: {x.size / fs:.3g} s is too short for MUP analysis (at least {min_duration_s:g} s)"
        )
    if fs < 2000.0:
        raise SignalQualityError(f"{label}: {fs:g} Hz cannot resolve MUPs (at least 2 kHz, 10 kHz or more advised)")
    if float(x.max() - x.min()) == 0.0:
        raise SignalQualityError(f"{label}: flat signal (every sample equal): no needle contact or amplifier off")
    _check_volts(x, label, max_abs_v, max_offset_v, min_noise_v)


def _rails(x: np.ndarray, rails: tuple[float, float] | None) -> tuple[float, float, bool]:
    """Rails to test for clipping: the file's, else the extremes if several samples sit there."""
    if rails is not None:
        lo, hi = float(min(rails)), float(max(rails))
        tol = 1e-6 * (hi - lo)
        return lo + tol, hi - tol, True
    return float(x.min()), float(x.max()), False


def _line_uv(x: np.ndarray, fs: float, f: float, m: int) -> float:
    """Amplitude (µV, peak) of a spectral line at ``f`` in the first ``m`` samples of ``x``
    above the broadband signal's own share of that bin, 0 when the bin is not told from it.

    The broadband share is estimated from eight neighbouring frequencies (steps of
    ``max(1.5 Hz, 3 / T)``).  A broadband bin's power is exponentially distributed about
    their mean, so a line is declared only when the bin's power is more than six times
    that mean (p < 0.003 for one bin)."""
    from ..kernels import mup as K

    a = K.tone_amplitude(x, fs, float(f), m) * 1e6
    step = max(1.5, 3.0 * fs / max(m, 1))
    nb = [K.tone_amplitude(x, fs, float(f + s * k * step), m) * 1e6 for k in (1, 2, 3, 4) for s in (-1, 1)
          if 0.0 < f + s * k * step < 0.5 * fs]
    floor = float(np.mean(np.square(nb))) if nb else 0.0
    return math.sqrt(a * a - floor) if a * a > 6.0 * floor else 0.0


def _hum_uv(x: np.ndarray, fs: float, cfg: MupConfig) -> tuple[float, float]:
    """Amplitude (µV, peak) of the larger mains line and its frequency.

    Where the single-bin amplitude at a mains frequency exceeds ``cfg.hum_level_uv``, the
    broadband EMG's own share of that bin is taken out (:func:`_line_uv`): hum is a line in
    the spectrum.  Large units firing at effort have as much power next to 50 Hz as at it
    (simulated neurogenic effort, 10 kHz: 49 µV at 50 Hz, 36-55 µV at 47 and 53 Hz, with no
    hum at all), which is not hum and must not be subtracted as such."""
    from ..kernels import mup as K

    m = int(min(x.size, 10 * fs))
    best = (0.0, 0.0)
    for f in cfg.mains_hz:
        if f < 0.45 * fs:
            a = K.tone_amplitude(x, fs, float(f), m) * 1e6
            if a > cfg.hum_level_uv:
                a = _line_uv(x, fs, float(f), m)
            if a > best[0]:
                best = (a, float(f))
    return best


def _hum_harmonics(x: np.ndarray, fs: float, f: float, max_k: int) -> list[int]:
    """The harmonics ``1 .. max_k`` of a mains frequency ``f`` (below 0.45 fs) that stand
    out as lines (:func:`_line_uv`; the fundamental always): the ones to subtract."""
    m = int(min(x.size, 10 * fs))
    return [k for k in range(1, max_k + 1) if k * f < 0.45 * fs and (k == 1 or _line_uv(x, fs, k * f, m) > 0.0)]


def _remove_hum(x: np.ndarray, fs: float, f: float, harmonics: int | Sequence[int] = 3,
                block_s: float = 1.0) -> np.ndarray:
    """``x`` less a least-squares fit of sinusoids at ``f`` and its harmonics (``1 ..
    harmonics``, or the ones listed; below 0.45 fs), fitted per block of about ``block_s``
    (a whole number of periods; the hum's amplitude and phase may drift).  MUPs, short and
    sparse, hardly load the fit; each sinusoid also takes the EMG's own content within
    about ``1 / block_s`` of its frequency."""
    wanted = range(1, harmonics + 1) if isinstance(harmonics, int) else harmonics
    ks = [k for k in wanted if k * f < 0.45 * fs]
    if not ks:
        return x
    per = fs / f
    blk = max(int(round(max(1, round(block_s * f)) * per)), 1)
    n = x.size
    if n - blk < blk // 2:
        starts = [0]
    else:
        starts = list(range(0, n - blk // 2, blk))
    out = x.copy()
    for j, a in enumerate(starts):
        b = n if j == len(starts) - 1 else min(n, a + blk)
        t = np.arange(a, b) / fs
        cols = [np.ones(b - a)]
        for k in ks:
            cols += [np.cos(2 * np.pi * k * f * t), np.sin(2 * np.pi * k * f * t)]
        A = np.stack(cols, axis=1)
        coef, *_ = np.linalg.lstsq(A, x[a:b], rcond=None)
        out[a:b] = x[a:b] - A[:, 1:] @ coef[1:]
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- one site


@dataclass
class _Site:
    units: list[MotorUnit]
    noise_uv: float
    n_candidates: int
    n_matched: int
    flags: dict[str, str]
    ratio: float | None
    max_rate: float | None
    n_firing: int
    background_uv: float = 0.0


def _firing_rate(times: np.ndarray) -> float | None:
    if times.size < 3:
        return None
    iv = np.diff(np.sort(times))
    iv = iv[iv > 0]
    if iv.size < 2:
        return None
    med = float(np.median(iv))
    keep = iv[iv <= 1.5 * med]
    return float(1.0 / keep.mean()) if keep.size else None


def _duplicates(pos: np.ndarray, labels: np.ndarray, n_units: int, peak_abs: np.ndarray, lag_max: int,
                tol: int) -> np.ndarray:
    """Units that are another unit's second spike: discharging at a fixed lag after or
    before the other's in most of their discharges.  Returns a bool mask of units to drop."""
    drop = np.zeros(n_units, dtype=bool)
    times = [np.sort(pos[labels == u]) for u in range(n_units)]
    order = np.argsort(-peak_abs)  # keep larger spikes
    for ia in range(n_units):
        a = order[ia]
        if drop[a] or times[a].size == 0:
            continue
        for ib in range(ia + 1, n_units):
            b = order[ib]
            if drop[b] or times[b].size == 0:
                continue
            ta, tb = times[a], times[b]
            k = np.clip(np.searchsorted(ta, tb), 1, ta.size - 1) if ta.size > 1 else np.zeros(tb.size, int)
            if ta.size > 1:
                near = np.where(np.abs(ta[k - 1] - tb) <= np.abs(ta[k] - tb), ta[k - 1], ta[k])
            else:
                near = np.full(tb.size, ta[0])
            lag = tb - near
            close = np.abs(lag) <= lag_max
            if close.sum() < 0.5 * tb.size:
                continue
            vals, cnt = np.unique(lag[close], return_counts=True)
            # counts within ±tol of the commonest lag
            best = 0
            for v in vals:
                best = max(best, int(cnt[np.abs(vals - v) <= tol].sum()))
            if best >= 0.6 * min(ta.size, tb.size):
                drop[b] = True
    return drop


def _renumber(labels: np.ndarray, keep_units: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels of the units in ``keep_units`` (bool per unit) renumbered 0..m-1; others -1."""
    remap = np.full(keep_units.size, -1, dtype=np.int64)
    remap[keep_units] = np.arange(int(keep_units.sum()))
    return np.where(labels >= 0, remap[np.maximum(labels, 0)], labels), int(keep_units.sum())


def _dedupe(pos: np.ndarray, labels: np.ndarray, synth: np.ndarray, tol: int) -> np.ndarray:
    """Bool mask of events to keep: of two successive events of the same unit closer
    than ``tol`` samples (one discharge found twice) a real one is kept before a
    stand-in, else the earlier one."""
    keep = np.ones(pos.size, dtype=bool)
    idx = np.flatnonzero(labels >= 0)
    if idx.size < 2:
        return keep
    o = idx[np.lexsort((synth[idx], pos[idx], labels[idx]))]
    dup = (labels[o[1:]] == labels[o[:-1]]) & (np.diff(pos[o]) <= tol)
    prefer_later = synth[o[:-1]] & ~synth[o[1:]]
    keep[o[1:][dup & ~prefer_later]] = False
    keep[o[:-1][dup & prefer_later]] = False
    return keep


def _filtered_means(y: np.ndarray, pos: np.ndarray, labels: np.ndarray, synth: np.ndarray, n_units: int,
                    fpre: int, fpost: int) -> tuple[np.ndarray, np.ndarray]:
    from ..kernels import mup as K

    tpl, cnt, _ = K.average_units(y, np.ascontiguousarray(pos), np.ascontiguousarray(labels), n_units, fpre, fpost,
                                  0, 0.0, np.ascontiguousarray(synth), False)
    return tpl, cnt


def _explain_units(y: np.ndarray, pos: np.ndarray, labels: np.ndarray, synth: np.ndarray, n_units: int, pre: int,
                   post: int, fpre: int, fpost: int, sigma: float, tol: int,
                   cfg: MupConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Remove candidate units whose filtered template is another unit's at a lag (one MUP
    sorted twice: its discharges join that unit) or the sum of two other units' templates
    at fixed lags (a recurring superposition: its discharges become stand-ins of both
    components, in the reconstruction but not in the averages).  Only units with more
    discharges than the candidate explain it; the residual must be at most
    ``superposition_alpha`` of the candidate's energy plus the noise of the three averages."""
    from ..kernels import mup as K

    w = pre + post + 1
    while n_units > 1:
        ftpl, cnt = _filtered_means(y, pos, labels, synth, n_units, fpre, fpost)
        done = False
        for c in np.argsort(cnt, kind="stable"):
            if cnt[c] == 0:
                continue
            allowed = cnt > cnt[c]
            if not allowed.any():
                continue
            tc = np.ascontiguousarray(ftpl[c, fpre - pre: fpre + post + 1])
            ec = float(tc @ tc)
            r1, a1, l1, r2, a2, la, b2, lb = K.explain_template(tc, pre, ftpl, fpre, allowed, pre + post, 3)
            inv = 1.0 / max(cnt[c], 1)
            tc_real = pos[(labels == c) & ~synth]

            def fits(u: int, lag: int) -> bool:
                # c's discharges fill gaps of u's train instead of interleaving with it
                own = pos[(labels == u) & ~synth]
                joined = np.sort(np.concatenate([own, tc_real + lag]))
                if joined.size > 1:
                    joined = joined[np.r_[True, np.diff(joined) > tol]]
                lim = max(cfg.merge_max_short_fraction, _short_interval_fraction(own))
                return _short_interval_fraction(joined) <= lim

            if (a1 >= 0 and r1 <= cfg.superposition_alpha * ec + 2.0 * w * sigma**2 * (inv + 1.0 / cnt[a1])
                    and fits(a1, l1)):
                sel = labels == c
                labels[sel] = a1
                pos[sel] = pos[sel] + l1
                logger.debug("unit %d is unit %d at lag %d (residual %.3f)", c, a1, l1, r1 / ec)
            elif (a2 >= 0 and r2 <= cfg.superposition_alpha * ec + 2.0 * w * sigma**2 * (
                    inv + 1.0 / cnt[a2] + 1.0 / cnt[b2]) and fits(a2, la) and fits(b2, lb)):
                sel = np.flatnonzero(labels == c)
                labels[sel] = a2
                pos[sel] = pos[sel] + la
                synth[sel] = True
                pos = np.concatenate([pos, pos[sel] - la + lb])
                labels = np.concatenate([labels, np.full(sel.size, b2, dtype=np.int64)])
                synth = np.concatenate([synth, np.ones(sel.size, dtype=np.bool_)])
                logger.debug("unit %d is units %d (lag %d) + %d (lag %d) (residual %.3f)", c, a2, la, b2, lb, r2 / ec)
            else:
                continue
            alive = np.ones(n_units, dtype=bool)
            alive[c] = False
            labels, n_units = _renumber(labels, alive)
            k = _dedupe(pos, labels, synth, tol)
            pos, labels, synth = pos[k], labels[k], synth[k]
            done = True
            break
        if not done:
            break
    return pos, labels, synth, n_units


def _truncate(tpl: np.ndarray, cnt: np.ndarray, sigma: float, k: float = 3.0) -> np.ndarray:
    """Templates set to zero outside their first..last sample beyond ``k`` noise SDs of the average."""
    out = np.zeros_like(tpl)
    for u in range(tpl.shape[0]):
        if cnt[u] == 0:
            continue
        big = np.flatnonzero(np.abs(tpl[u]) > k * sigma / math.sqrt(cnt[u]))
        if big.size:
            out[u, big[0]: big[-1] + 1] = tpl[u, big[0]: big[-1] + 1]
    return np.ascontiguousarray(out)


def _recover_overlaps(y: np.ndarray, pos: np.ndarray, labels: np.ndarray, synth: np.ndarray, n_units: int,
                      pre: int, post: int, fpre: int, fpost: int, sigma: float, half: int, shift: int, tol: int,
                      cfg: MupConfig) -> tuple[np.ndarray, ...]:
    """Discharges hidden in overlaps: every sorted discharge's filtered template is
    subtracted, peaks are detected again in what is left and matched to the templates
    (``residual_passes`` times).  Returns the events and the residual peaks that no
    template explains and that are not a subtraction error (the residual there is at
    least half of what was subtracted)."""
    from ..kernels import mup as K

    unexplained = np.zeros(0, dtype=np.int64)
    unexplained_v = np.zeros(0)
    if n_units == 0:
        return pos, labels, synth, unexplained, unexplained_v, np.zeros(0)
    for _ in range(max(cfg.residual_passes, 1)):
        ftpl, cnt = _filtered_means(y, pos, labels, synth, n_units, fpre, fpost)
        yr = K.peel_events(y, np.ascontiguousarray(pos), np.ascontiguousarray(labels), _truncate(ftpl, cnt, sigma),
                           fpre)
        rp = K.detect_peaks(yr, cfg.k_detect * sigma, half)
        # a residual peak where most of the signal was subtracted is a subtraction error
        rp = rp[np.abs(yr[rp]) >= 0.5 * np.abs(y[rp] - yr[rp])]
        short = np.ascontiguousarray(ftpl[:, fpre - pre: fpre + post + 1])
        lab, sh, _ = K.match_events(yr, rp, short, pre, shift, cfg.match_alpha, cfg.match_beta, sigma)
        unexplained = rp[lab == -1]
        unexplained_v = np.abs(yr[unexplained])
        new = lab >= 0
        if not new.any():
            break
        n0 = pos.size
        pos = np.concatenate([pos, rp[new] + sh[new]])
        labels = np.concatenate([labels, lab[new]])
        synth = np.concatenate([synth, np.zeros(int(new.sum()), dtype=np.bool_)])
        # a match next to a discharge of the same unit is a subtraction error, not a discharge
        order = np.lexsort((np.arange(pos.size) >= n0, pos, labels))
        keep = np.ones(pos.size, dtype=bool)
        last = -1
        for e in order:
            if labels[e] < 0:
                continue
            if last >= 0 and labels[e] == labels[last] and pos[e] - pos[last] <= tol:
                if e >= n0:
                    keep[e] = False
                    continue
                if last >= n0:
                    keep[last] = False
            last = e
        added = int(keep[n0:].sum())
        pos, labels, synth = pos[keep], labels[keep], synth[keep]
        logger.debug("residual pass: %d overlapped discharge(s) recovered, %d unexplained peak(s)", added,
                     unexplained.size)
        if added == 0:
            break
    ftpl, cnt = _filtered_means(y, pos, labels, synth, n_units, fpre, fpost)
    return pos, labels, synth, unexplained, unexplained_v, np.abs(ftpl).max(axis=1)


def _overlapped(tpl: np.ndarray, pos: np.ndarray, labels: np.ndarray, unexplained: np.ndarray,
                unexplained_v: np.ndarray, peak_v: np.ndarray, fraction: float, fs: float, ref: int,
                q: np.ndarray, gap: int) -> np.ndarray:
    """Discharges with an unexplained peak within their unit's potential (± the end gap)
    at least ``fraction`` of the unit's own filtered peak: an undetected superposition
    that would leak into the average."""
    from ..kernels import mup as K

    out = np.zeros(pos.size, dtype=bool)
    for u in range(tpl.shape[0]):
        un = np.sort(unexplained[unexplained_v >= fraction * peak_v[u]]) if u < peak_v.size else np.zeros(0, np.int64)
        m, _ = K.measure_mup(np.ascontiguousarray(tpl[u]), fs, ref, q)
        if m[K.M_STATUS] != 0:
            continue
        lo_off = int(m[K.M_ONSET]) - ref - gap
        hi_off = int(m[K.M_END]) - ref + gap
        idx = np.flatnonzero(labels == u)
        a = np.searchsorted(un, pos[idx] + lo_off, side="left")
        b = np.searchsorted(un, pos[idx] + hi_off, side="right")
        hit = b > a
        # when most windows are overlapped (a dense recording) excluding them would leave
        # too few to average: the robust average deals with a minority instead
        if hit.sum() <= 0.5 * idx.size:
            out[idx] = hit
    return out


def _short_interval_fraction(times: np.ndarray) -> float:
    """Fraction of inter-discharge intervals shorter than half the median (1 for fewer than 3 times)."""
    if times.size < 3:
        return 1.0
    iv = np.diff(np.sort(times))
    med = float(np.median(iv))
    return float(np.mean(iv < 0.5 * med)) if med > 0 else 1.0


def _merge_same_mups(tpl: np.ndarray, counts: np.ndarray, labels: np.ndarray, pos: np.ndarray, synth: np.ndarray,
                     fs: float, cfg: MupConfig, max_lag: int, tol: int) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Merge units that are one MUP sorted twice (e.g. its spike sampled at different
    phases, or a variable shape split by the sorter).

    Two plain-mean templates are the same MUP when, at the best lag (found to 1/8
    sample on an interpolated cross-correlation), their difference energy less what
    the noise of the two averages explains is at most ``merge_alpha`` of the smaller
    one's energy, *and* the joined discharge train is one unit's: at most
    ``merge_max_short_fraction`` of its intervals shorter than half its median (two
    units firing independently interleave).  Discharges of the merged unit closer than
    ``tol`` samples to another of the same unit are dropped.  Returns new labels,
    positions, unit count and whether anything was merged."""
    n_units, w = tpl.shape
    if n_units < 2:
        return labels, pos, n_units, False
    edge = max(2, int(round(cfg.baseline_edge_ms * fs / 1e3)))
    base = np.concatenate([tpl[:, :edge], tpl[:, -edge:]], axis=1)
    noise_var = base.var(axis=1)
    t0 = tpl - base.mean(axis=1, keepdims=True)
    up = 8
    nfft = 1 << int(math.ceil(math.log2(2 * w)))
    spec = np.fft.rfft(t0, nfft, axis=1)
    energy = (t0 * t0).sum(axis=1)
    signal_e = np.maximum(energy - w * noise_var, 0.0)
    order = np.argsort(-counts, kind="stable")
    target = np.arange(n_units)
    lag_of = np.zeros(n_units, dtype=np.int64)
    real = (labels >= 0) & ~synth
    merged = False
    lag_up = np.r_[np.arange(0, max_lag * up + 1), np.arange(-max_lag * up, 0)]
    for ia in range(n_units):
        a = order[ia]
        if target[a] != a or signal_e[a] <= 0:
            continue
        ta = pos[real & (labels == a)]
        for ib in range(ia + 1, n_units):
            b = order[ib]
            if target[b] != b or signal_e[b] <= 0:
                continue
            # c(L) = sum_j Ta[j + L] Tb[j], interpolated by zero-padding the spectrum
            c = np.fft.irfft(spec[a] * np.conj(spec[b]), nfft * up) * up
            cl = c[lag_up % (nfft * up)]
            k = int(np.argmax(cl))
            r = energy[a] + energy[b] - 2.0 * cl[k] - w * (noise_var[a] + noise_var[b])
            if r > cfg.merge_alpha * min(signal_e[a], signal_e[b]):
                continue
            lag = int(round(lag_up[k] / up))
            tb = pos[real & (labels == b)] - lag
            joined = np.sort(np.concatenate([ta, tb]))
            if joined.size > 1:
                joined = joined[np.r_[True, np.diff(joined) > tol]]
            if _short_interval_fraction(joined) > cfg.merge_max_short_fraction:
                continue
            target[b] = a
            lag_of[b] = lag
            ta = joined
            merged = True
    if not merged:
        return labels, pos, n_units, False
    labels = labels.copy()
    pos = pos.copy()
    for b in range(n_units):
        if target[b] != b:
            sel = labels == b
            pos[sel] = pos[sel] - lag_of[b]
            labels[sel] = target[b]
    labels, n_keep = _renumber(labels, target == np.arange(n_units))
    keep = _dedupe(pos, labels, synth, tol)
    labels = np.where(keep, labels, -1)
    return labels, pos, n_keep, True


_REJECT = frozenset({"remote", "small", "few_discharges", "noisy_template", "truncated", "coincident"})


def _analyze_site(x_in: np.ndarray, fs: float, rails: tuple[float, float] | None, site: int, label: str,
                  cfg: MupConfig, poly_min: int) -> _Site:
    from ..kernels import mup as K

    flags: dict[str, str] = {}
    _check_samples(x_in, fs, label, cfg.min_duration_s, cfg.max_abs_v, cfg.max_offset_v, cfg.min_noise_v)
    x = np.ascontiguousarray(x_in - float(x_in.mean()))
    lo_r, hi_r, known = _rails(x_in, rails)
    n_rail = K.rail_runs(x_in, lo_r, hi_r, 1 if known else 3)
    if n_rail > 0:
        flags["clipped"] = (
            f"{label}: {n_rail} sample(s) at the amplifier rail; discharges touching them are not averaged"
        )
    if fs < 10_000.0:
        flags["low_sampling_rate"] = (
            f"{label}: {fs:g} Hz; MUP spikes are under-sampled below ~10 kHz (phases, turns and rise time "
            "may be underestimated)"
        )
    hum, f_hum = _hum_uv(x, fs, cfg)
    if hum > cfg.hum_level_uv:
        # averaging does not reduce hum when the firing interval is near a whole number of
        # mains periods (10 Hz firing, 50 Hz hum): the hum is fitted and subtracted first
        x = _remove_hum(x, fs, f_hum)
        left, _ = _hum_uv(x, fs, cfg)
        flags["hum"] = (f"{label}: {f_hum:g} Hz hum of {hum:.1f} µV, subtracted before averaging ({left:.1f} µV "
                        "left; check the ground electrode)")
    # detection trace
    lo_c, hi_c = cfg.detect_band_hz
    rows = [K.biquad_coefficients(1, float(lo_c), fs)]
    hi_c = min(float(hi_c), 0.45 * fs)
    if hi_c > lo_c * 1.5:
        rows.append(K.biquad_coefficients(0, hi_c, fs))
    sos = np.ascontiguousarray(np.vstack(rows))
    y = K.sos_filter(x, sos)
    sigma = float(K.noise_sigma(y, 200_000))
    noise_uv = sigma * 1e6
    if not (sigma > 0):
        raise SignalQualityError(f"{label}: no signal in the MUP band (noise estimate 0)")
    ms = fs / 1e3
    half = max(1, int(round(cfg.peak_half_ms * ms)))
    peaks = K.detect_peaks(y, cfg.k_detect * sigma, half)
    pre = max(2, int(round(cfg.match_pre_ms * ms)))
    post = max(2, int(round(cfg.match_post_ms * ms)))
    shift = min(max(1, int(round(cfg.max_shift_ms * ms))), cfg.max_shift_samples)
    labels, shifts, means = K.sort_events(
        y, peaks, pre, post, shift, cfg.match_alpha, cfg.match_beta, sigma, cfg.min_discharges, cfg.max_units
    )
    n_units = means.shape[0]
    pos = peaks + shifts
    if n_units > 1:
        peak_abs = np.abs(means).max(axis=1)
        drop = _duplicates(pos, labels, n_units, peak_abs, int(round(cfg.window_post_ms * ms)), shift + 1)
        if drop.any():
            remap = np.full(n_units, -1, dtype=np.int64)
            remap[~drop] = np.arange(int((~drop).sum()))
            labels = np.where(labels >= 0, remap[np.maximum(labels, 0)], labels)
            n_units = int((~drop).sum())
    # events: discharges (labels >= 0), unmatched candidates (-1); `synth` marks stand-ins
    # for the components of a superposition (in the reconstruction, not averaged)
    keep = labels >= -1
    pos, labels = pos[keep].astype(np.int64), labels[keep].astype(np.int64)
    synth = np.zeros(pos.size, dtype=np.bool_)
    span = pre + post
    fpre, fpost = pre + span, post + span
    refractory = int(round(cfg.refractory_ms * ms))
    pos, labels, synth, n_units = _explain_units(y, pos, labels, synth, n_units, pre, post, fpre, fpost, sigma,
                                                 refractory, cfg)
    pos, labels, synth, unexplained, unexplained_v, fpeak_v = _recover_overlaps(y, pos, labels, synth, n_units, pre, post, fpre, fpost,
                                                        sigma, half, shift, refractory, cfg)
    wpre = int(round(cfg.window_pre_ms * ms))
    wpost = int(round(cfg.window_post_ms * ms))
    # discharges whose window touches a rail sample are not averaged
    if n_rail > 0:
        at = ((x_in <= lo_r) | (x_in >= hi_r)).astype(np.int64)
        cs = np.concatenate([[0], np.cumsum(at)])
        a = np.clip(pos - wpre, 0, x.size)
        b = np.clip(pos + wpost + 1, 0, x.size)
        excluded = (cs[b] - cs[a]) > 0
    else:
        excluded = np.zeros(pos.size, dtype=np.bool_)
    excluded = excluded | synth
    # plain means first (enough to recognise one MUP sorted twice), then the peeled average
    tpl, counts, used = K.average_units(
        x, np.ascontiguousarray(pos), np.ascontiguousarray(labels), n_units, wpre, wpost, 0,
        cfg.reject_k, np.ascontiguousarray(excluded), False
    )
    labels, pos, n_units, merged = _merge_same_mups(
        tpl, counts, labels, pos, synth, fs, cfg, int(round(cfg.window_post_ms * ms / 2)), refractory
    )
    if merged:
        tpl, counts, used = K.average_units(
            x, np.ascontiguousarray(pos), np.ascontiguousarray(labels), n_units, wpre, wpost, 0,
            cfg.reject_k, np.ascontiguousarray(excluded), False
        )
    q0 = cfg.measure_vector()
    if cfg.exclude_overlaps and unexplained.size:
        if merged:  # unit numbers changed: the filtered peaks again
            fpeak_v = np.abs(_filtered_means(y, pos, labels, synth, n_units, fpre, fpost)[0]).max(axis=1)
        excluded = excluded | _overlapped(tpl, pos, labels, unexplained, unexplained_v, fpeak_v,
                                          cfg.overlap_fraction, fs, wpre, q0, int(round(cfg.end_gap_ms * ms)))
    tpl, counts, used = K.average_units(
        x, np.ascontiguousarray(pos), np.ascontiguousarray(labels), n_units, wpre, wpost, cfg.n_peel,
        cfg.reject_k, np.ascontiguousarray(excluded), cfg.robust_average, cfg.robust_max,
        cfg.robust_trim
    )
    # a unit most of whose discharges fall on another unit's (within ± coincidence_ms)
    # is a part of that unit's discharges or a superposition, not a unit of its own
    coincident = np.zeros(n_units, dtype=bool)
    near = int(round(cfg.coincidence_ms * ms))
    for u in range(n_units):
        mine = np.sort(pos[(labels == u) & ~synth])
        other = np.sort(pos[(labels >= 0) & (labels != u) & ~synth])
        if mine.size == 0 or other.size == 0:
            continue
        k = np.clip(np.searchsorted(other, mine), 1, max(other.size - 1, 1))
        d = np.minimum(np.abs(other[k - 1] - mine), np.abs(other[np.minimum(k, other.size - 1)] - mine))
        coincident[u] = float(np.mean(d <= near)) > 0.5
    q = cfg.measure_vector()
    units: list[MotorUnit] = []
    rates: list[float] = []
    n_mixed = 0  # accepted units flagged short_intervals
    for u in range(n_units):
        sel = labels == u
        times = np.sort(pos[sel]) / fs
        n_dis = int(sel.sum())
        if counts[u] == 0:
            continue
        m, base_free = K.measure_mup(np.ascontiguousarray(tpl[u]), fs, wpre, q)
        if m[K.M_STATUS] != 0:
            logger.debug("unit %d of %s: no potential above threshold", u, label)
            continue
        uq: set[str] = set()
        rise = float(m[K.M_RISE_TIME_MS])
        amp = float(m[K.M_AMPLITUDE_UV])
        on, end = int(m[K.M_ONSET]), int(m[K.M_END])
        if rise > max(cfg.max_rise_time_ms, 3e3 / fs) + 1e3 / fs + 1e-9:
            uq.add("remote")
        if amp < cfg.min_amplitude_uv:
            uq.add("small")
        if counts[u] < cfg.min_averaged:
            uq.add("few_discharges")
        if coincident[u]:
            uq.add("coincident")
        if float(m[K.M_THRESHOLD_UV]) > max(cfg.threshold_floor_uv, cfg.threshold_fraction * amp) * (1 + 1e-9):
            uq.add("threshold_raised")
        if float(m[K.M_NOISE_UV]) * cfg.noise_k > 0.25 * amp:
            uq.add("noisy_template")
        edge = int(round(cfg.baseline_edge_ms * ms))
        gap = int(round(cfg.end_gap_ms * ms))
        if on - edge < gap or (base_free.size - 1 - edge) - end < 1:
            uq.add("truncated")
        rate = _firing_rate(times)
        iv = np.diff(times)
        if iv.size >= 5 and float(np.mean(iv < cfg.short_interval_ms * 1e-3)) > cfg.max_short_fraction:
            uq.add("short_intervals")
            rate = None
            if not (uq & _REJECT):
                n_mixed += 1  # at least one unit firing, at no known rate
        if rate is not None and not (uq & _REJECT):
            rates.append(rate)  # recruitment counts accepted units only
        sat = bool(m[K.M_SATELLITE] > 0)
        t_ro = base_free.copy()
        t_ro.flags.writeable = False
        phases = int(m[K.M_PHASES])
        units.append(
            MotorUnit(
                unit_id=f"s{site}u{len(units)}",
                site=site,
                fs_hz=fs,
                template_v=t_ro,
                onset_index=on,
                end_index=end,
                peak_index=int(m[K.M_PEAK]),
                n_discharges=n_dis,
                n_averaged=int(counts[u]),
                discharge_times_s=tuple(float(t) for t in times),
                duration_ms=float(m[K.M_DURATION_MS]),
                amplitude_uv=amp,
                phases=phases,
                turns=int(m[K.M_TURNS]),
                area_uv_ms=float(m[K.M_AREA_UVMS]),
                thickness_ms=float(m[K.M_THICKNESS_MS]),
                size_index=float(m[K.M_SIZE_INDEX]),
                rise_time_ms=rise,
                polyphasic=phases >= poly_min,
                firing_rate_hz=rate,
                satellite=sat,
                satellite_latency_ms=float((m[K.M_SATELLITE_ONSET] - end) / ms) if sat else None,
                noise_uv=float(m[K.M_NOISE_UV]),
                accepted=not (uq & _REJECT),
                quality=frozenset(uq),
            )
        )
    firing = rates
    # the units flagged short_intervals fire too (two or more of one shape): counted among the
    # units firing, their mixed rate left out
    ratio = max(firing) / (len(firing) + n_mixed) if firing else None
    # activity left once every sorted discharge is subtracted: units firing that were not
    # sorted (a dense, interference-like recording) -- the firing units are then undercounted
    if n_units:
        ftpl, fcnt = _filtered_means(y, pos, labels, synth, n_units, fpre, fpost)
        background_uv = float(K.peeled_noise_sigma(y, np.ascontiguousarray(pos), np.ascontiguousarray(labels),
                                                   _truncate(ftpl, fcnt, sigma), fpre, 200_000)) * 1e6
    else:
        background_uv = noise_uv
    return _Site(
        units=units,
        noise_uv=noise_uv,
        n_candidates=int(peaks.size),
        n_matched=int(((labels >= 0) & ~synth).sum()),
        flags=flags,
        ratio=ratio,
        max_rate=max(firing) if firing else None,
        n_firing=len(firing) + n_mixed,
        background_uv=background_uv,
    )


# --------------------------------------------------------------------------- muscle level


def _mean(units: Sequence[MotorUnit], name: str) -> float | None:
    vals = [getattr(u, name) for u in units if getattr(u, name) is not None]
    return float(np.mean(vals)) if vals else None


def _summary(units: Sequence[MotorUnit]) -> MupSummary:
    n = len(units)
    return MupSummary(
        n_mups=n,
        mean_duration_ms=_mean(units, "duration_ms"),
        mean_amplitude_uv=_mean(units, "amplitude_uv"),
        mean_phases=_mean(units, "phases"),
        mean_turns=_mean(units, "turns"),
        mean_area_uv_ms=_mean(units, "area_uv_ms"),
        mean_size_index=_mean(units, "size_index"),
        polyphasic_pct=100.0 * sum(u.polyphasic for u in units) / n if n else None,
        satellite_pct=100.0 * sum(u.satellite for u in units) / n if n else None,
        mean_firing_rate_hz=_mean(units, "firing_rate_hz"),
    )


def _z(v: float | None, mean: Any, sd: Any) -> float | None:
    if v is None or mean is None or sd is None or float(sd) <= 0:
        return None
    return (v - float(mean)) / float(sd)


def _compare(s: MupSummary, doc: Mapping[str, Any], muscle: str | None, age: float | None,
             min_mups: int, n_raised: int = 0) -> ReferenceComparison:
    m, band, why = _find_band(doc, muscle, age)
    rules = doc["rules"]
    if band is None:
        return ReferenceComparison(muscle, age, m.get("source") if m else None, None, None, None, None, None, None,
                                   None, (), (why,))
    k = float(rules.get("limit_sd", 2.0))

    def limits(name: str) -> tuple[float, float] | None:
        mu, sd = band.get(f"{name}_mean"), band.get(f"{name}_sd")
        lo = band.get(f"{name}_lower", None if mu is None or sd is None else mu - k * sd)
        hi = band.get(f"{name}_upper", None if mu is None or sd is None else mu + k * sd)
        return None if lo is None or hi is None else (float(lo), float(hi))

    dl, al = limits("duration_ms"), limits("amplitude_uv")
    poly_hi = band.get("polyphasic_pct_upper")
    dz = _z(s.mean_duration_ms, band.get("duration_ms_mean"), band.get("duration_ms_sd"))
    az = _z(s.mean_amplitude_uv, band.get("amplitude_uv_mean"), band.get("amplitude_uv_sd"))
    pz = _z(s.mean_phases, band.get("phases_mean"), band.get("phases_sd"))
    findings: list[str] = []
    myo = neu = False
    if s.n_mups and dl is not None and s.mean_duration_ms is not None:
        if s.mean_duration_ms < dl[0]:
            findings.append(f"mean duration {s.mean_duration_ms:.2f} ms below {dl[0]:g} ms")
            myo = True
        elif s.mean_duration_ms > dl[1]:
            findings.append(f"mean duration {s.mean_duration_ms:.2f} ms above {dl[1]:g} ms")
            neu = True
    if s.n_mups and al is not None and s.mean_amplitude_uv is not None:
        if s.mean_amplitude_uv < al[0]:
            findings.append(f"mean amplitude {s.mean_amplitude_uv:.0f} µV below {al[0]:g} µV")
        elif s.mean_amplitude_uv > al[1]:
            findings.append(f"mean amplitude {s.mean_amplitude_uv:.0f} µV above {al[1]:g} µV")
            neu = True
    if s.polyphasic_pct is not None and poly_hi is not None and s.polyphasic_pct > float(poly_hi):
        findings.append(f"{s.polyphasic_pct:.0f} % polyphasic above {float(poly_hi):g} %")
    reasons: list[str] = []
    cls: Classification | None
    if s.n_mups < min_mups:
        cls = None
        reasons.append(
            f"only {s.n_mups} accepted MUP(s); a class needs the mean of at least {min_mups} "
            f"({rules.get('min_mups_source', 'reference rules')}); record more sites"
        )
    elif 2 * n_raised > s.n_mups:
        cls = None
        reasons.append(
            f"{n_raised} of {s.n_mups} MUPs were measured with a threshold raised above the noise "
            "(noisy templates): their durations are not comparable with the reference"
        )
    elif myo and neu:
        cls = None
        reasons.append("contradicting findings (short and long/large MUPs): indeterminate")
    elif myo:
        cls = "myopathic"
        reasons.append("short MUPs: " + "; ".join(findings))
    elif neu:
        cls = "neurogenic"
        reasons.append("long or large MUPs: " + "; ".join(findings))
    else:
        cls = "normal"
        reasons.append("mean duration and amplitude within the reference limits" + (
            " (" + "; ".join(findings) + ": not specific alone)" if findings else ""))
    if age is not None and len(m.get("band", [])) == 1:
        reasons.append(f"the reference has no age bands; age {age:g} years not used")
    return ReferenceComparison(
        muscle=str(m.get("name")),
        age_years=age,
        source=str(m.get("source", "")),
        duration_z=dz,
        amplitude_z=az,
        phases_z=pz,
        duration_limits_ms=dl,
        amplitude_limits_uv=al,
        polyphasic_upper_pct=float(poly_hi) if poly_hi is not None else None,
        classification=cls,
        findings=tuple(findings),
        reasons=tuple(reasons),
    )


def _recruitment(sites: Sequence[_Site], rules: Mapping[str, Any], force: float | None) -> Recruitment:
    src = str(rules.get("recruitment_ratio_source", ""))
    bg_lim = float(rules.get("max_background_uv", 25.0))
    # at a site with unsorted activity left the units firing are undercounted: a lower
    # bound, enough for "early" (many units) but not for the ratio or frequency rules
    dense = [s for s in sites if s.background_uv > bg_lim]
    fired_all = [s for s in sites if s.ratio is not None]
    fired = [s for s in fired_all if s.background_uv <= bg_lim]
    ratios = [s.ratio for s in fired]
    n_firing = max((s.n_firing for s in sites), default=0)
    max_rate = max((s.max_rate for s in fired_all if s.max_rate is not None), default=None)
    if force is not None:
        if not (math.isfinite(force) and 0 <= force <= 1.5):
            raise ValueError(f"force_fraction must be a fraction of maximal force (0..1), got {force!r}")
        if force <= float(rules.get("early_max_force", 0.1)) and n_firing >= int(rules.get("early_min_units", 6)):
            all_ratios = [s.ratio for s in fired_all]
            return Recruitment("early", float(np.median(all_ratios)) if all_ratios else None, max_rate, n_firing,
                               force, f"{n_firing} units firing at {force:.0%} of maximal force",
                               str(rules.get("early_source", "")))
    if not ratios and dense:
        worst = max(s.background_uv for s in dense)
        return Recruitment(None, None, max_rate, n_firing, force,
                           f"activity of {worst:.0f} µV RMS left after the sorted units are subtracted (above "
                           f"{bg_lim:g} µV) at every site with firing units: more units fire than were sorted "
                           "(effort above minimal?), recruitment not judged",
                           str(rules.get("max_background_source", src)))
    if not ratios:
        return Recruitment(None, None, max_rate, n_firing, force,
                           "no accepted unit with a firing rate (fewer than 3 discharges): recruitment not judged",
                           src)
    ratio = float(np.median(ratios))
    if ratio >= float(rules.get("reduced_ratio", 10.0)):
        return Recruitment("reduced", ratio, max_rate, n_firing, force,
                           f"recruitment ratio {ratio:.1f} (few units firing fast)", src)
    # recruitment frequency: a unit firing fast while few others are recruited
    f_lim = float(rules.get("reduced_frequency_hz", 15.0))
    u_max = int(rules.get("reduced_frequency_max_units", 2))
    fast_few = [s for s in fired if s.max_rate is not None and s.max_rate >= f_lim and s.n_firing <= u_max]
    if 2 * len(fast_few) >= len(fired):
        s0 = max(fast_few, key=lambda s: s.max_rate)
        return Recruitment("reduced", ratio, max_rate, n_firing, force,
                           f"recruitment frequency: a unit fires at {s0.max_rate:.1f} Hz (>= {f_lim:g} Hz) with "
                           f"{s0.n_firing} unit(s) firing (at most {u_max})",
                           str(rules.get("reduced_frequency_source", src)))
    if ratio <= float(rules.get("normal_ratio", 5.0)):
        if force is None:
            why = (f"recruitment ratio {ratio:.1f}: not reduced; early recruitment cannot be excluded "
                   "without force information")
            return Recruitment("normal", ratio, max_rate, n_firing, force, why, src)
        return Recruitment("normal", ratio, max_rate, n_firing, force, f"recruitment ratio {ratio:.1f}", src)
    return Recruitment(None, ratio, max_rate, n_firing, force,
                       f"recruitment ratio {ratio:.1f} between the normal and reduced limits: not decided", src)


def analyze_mups(
    signal: SignalLike | Sequence[SignalLike],
    fs_hz: float | None = None,
    *,
    muscle: str | None = None,
    age_years: float | None = None,
    reference: str | Path | Mapping[str, Any] | None = None,
    force_fraction: float | None = None,
    config: MupConfig | None = None,
) -> MupAnalysis:
    """Motor unit potential analysis of needle EMG at minimal effort.

    Parameters
    ----------
    signal : array, Trace, Recording or a sequence of them
        Samples in volts (G1 − G2) of one needle site, or several sites of the same
        muscle (their units are pooled in the summary).  A Recording must hold one
        voltage channel.
    fs_hz : float, optional
        Sampling rate; required for arrays, checked against a Trace's.
    muscle : str, optional
        Muscle name for the reference comparison (e.g. ``"tibialis anterior"``).
    age_years : float, optional
        Age for age-banded references.
    reference : path or mapping, optional
        A laboratory's reference (layout of ``edx/data/mup_reference.toml``).
    force_fraction : float, optional
        Force during the recording as a fraction of maximal voluntary force, when known;
        needed to judge early recruitment.
    config : MupConfig, optional
        Algorithm settings.

    Returns
    -------
    MupAnalysis

    Raises
    ------
    edx.errors.SignalQualityError
        Non-finite, flat, too short or too coarsely sampled input, or samples not in
        volts (``config.max_abs_v``, ``config.max_offset_v``).
    """
    cfg = config or DEFAULT_CONFIG
    doc = load_mup_reference(reference)
    rules = doc["rules"]
    poly_min = int(rules.get("polyphasic_min_phases", 5))
    min_mups = int(rules.get("min_mups", 20))
    sites_in = _sites(signal, fs_hz)
    sites = [_analyze_site(x, fs, rails, i, lab, cfg, poly_min) for i, (x, fs, rails, lab) in enumerate(sites_in)]
    units = tuple(u for s in sites for u in s.units)
    accepted = [u for u in units if u.accepted]
    summary = _summary(accepted)
    n_raised = sum("threshold_raised" in u.quality for u in accepted)
    comparison = _compare(summary, doc, muscle, age_years, min_mups, n_raised)
    recruitment = _recruitment(sites, rules, force_fraction)
    reasons: dict[str, str] = {}
    for s in sites:
        for k, v in s.flags.items():
            reasons[k] = v if k not in reasons else reasons[k] + "; " + v
    if summary.n_mups < min_mups:
        reasons["too_few_mups"] = f"{summary.n_mups} accepted MUP(s), fewer than {min_mups}"
    bg_lim = float(rules.get("max_background_uv", 25.0))
    for i, s in enumerate(sites):
        if s.background_uv > bg_lim and s.units:
            why = (f"site {i}: {s.background_uv:.0f} µV RMS of activity left after the sorted units are subtracted "
                   f"(above {bg_lim:g} µV): units fire that were not sorted (effort above minimal?); not used "
                   "for recruitment")
            reasons["dense_background"] = why if "dense_background" not in reasons else (
                reasons["dense_background"] + "; " + why)
        if s.noise_uv > 20.0:
            reasons["noisy"] = f"site {i}: noise {s.noise_uv:.0f} µV in the detection band"
        dur = sites_in[i][0].size / sites_in[i][1]
        if dur < 5.0:
            reasons["short_recording"] = f"site {i}: {dur:.2g} s; firing rates and averages are uncertain"
    status: Literal["ok", "no_mups"] = "ok" if units else "no_mups"
    return MupAnalysis(
        status=status,
        units=units,
        summary=summary,
        comparison=comparison,
        recruitment=recruitment,
        quality=frozenset(reasons),
        reasons=dict(reasons),
        fs_hz=tuple(fs for _, fs, _, _ in sites_in),
        noise_uv=tuple(s.noise_uv for s in sites),
        n_candidates=tuple(s.n_candidates for s in sites),
        n_matched=tuple(s.n_matched for s in sites),
    )


# --------------------------------------------------------------------------- interference pattern


def interference_pattern(
    signal: SignalLike,
    fs_hz: float | None = None,
    *,
    turn_level_uv: float = 100.0,
    epoch_ms: float = 500.0,
    max_abs_v: float = 0.1,
    max_offset_v: float = 1.0,
    min_noise_v: float = 1e-7,
) -> InterferencePattern:
    """Turns per second and mean amplitude per turn of a maximal-effort recording.

    A turn is a direction change with a change of at least ``turn_level_uv`` on each
    side (CLINICAL.md §1; Willison, Stålberg & Antoni 1981); the amplitude of a turn is
    its change from the previous turn.  Counted per epoch (the zig-zag restarts in each)
    and over the whole recording.

    Parameters
    ----------
    signal : array, Trace or Recording
        Samples in volts (G1 − G2) of one site.
    fs_hz : float, optional
        Required for arrays.
    turn_level_uv : float
        Minimum change on each side of a turn, µV.
    epoch_ms : float
        Epoch length.
    max_abs_v, max_offset_v, min_noise_v : float
        Samples not in volts are refused (see :class:`MupConfig`); 0 switches a check off.

    Returns
    -------
    InterferencePattern

    Raises
    ------
    edx.errors.SignalQualityError
        Non-finite, flat or too short (< one epoch) input, or samples not in volts
        (``max_abs_v``, ``max_offset_v``: as in :class:`MupConfig`).
    """
    from ..kernels import mup as K

    sites = _sites(signal, fs_hz)
    if len(sites) != 1:
        raise ValueError("interference_pattern analyses one site at a time")
    x, fs, rails, label = sites[0]
    if not (math.isfinite(epoch_ms) and epoch_ms > 0):
        raise ValueError(f"epoch_ms must be a positive number of milliseconds, got {epoch_ms!r}")
    epoch = int(round(epoch_ms * fs / 1e3))
    if x.size == 0:
        raise SignalQualityError(f"{label}: zero-length signal")
    if not np.isfinite(x).all():
        raise SignalQualityError(f"{label}: non-finite sample(s) (NaN or inf)")
    if x.size < max(epoch, 1):
        raise SignalQualityError(f"{label}: shorter than one {epoch_ms:g} ms epoch")
    if float(x.max() - x.min()) == 0.0:
        raise SignalQualityError(f"{label}: flat signal (every sample equal)")
    _check_volts(x, label, max_abs_v, max_offset_v, min_noise_v)
    if not (turn_level_uv > 0):
        raise ValueError("turn_level_uv must be positive")
    reasons: dict[str, str] = {}
    lo_r, hi_r, known = _rails(x, rails)
    n_rail = K.rail_runs(x, lo_r, hi_r, 1 if known else 3)
    if n_rail:
        reasons["clipped"] = f"{label}: {n_rail} sample(s) at the amplifier rail: amplitudes are underestimated"
    if fs < 10_000.0:
        # turns are sharp: simulated maximal effort counts 12-16 % fewer turns at 4 kHz and
        # 31-36 % fewer at 2 kHz than at 10 kHz
        reasons["low_sampling_rate"] = (
            f"{label}: {fs:g} Hz; turns of the interference pattern are under-counted below ~10 kHz "
            "(not comparable with reference values)"
        )
    hum, f_hum = _hum_uv(x, fs, DEFAULT_CONFIG)
    if hum > DEFAULT_CONFIG.hum_level_uv:
        # hum rides the zig-zag: it adds and removes turns and raises their amplitude
        # (simulated myopathic maximal effort, 10 kHz: 200 µV of 50 Hz hum took the mean
        # amplitude per turn from 282 to 317 µV), so it is fitted and subtracted first, over
        # blocks of 4 s: the fundamental, the odd harmonics mains hum carries (3rd, 5th) and
        # any other up to the 7th that stands out as a line.  At effort the EMG has much power
        # near 50-250 Hz and each fitted sinusoid also takes the EMG's content within ~1 /
        # block of it.  Simulated moderate effort, 4 s at 10 kHz, 200 µV hum: 2221 turns for
        # 2218 without hum (0.5 s blocks: 2268; the fundamental alone: 2449, its 150 and 250
        # Hz harmonics left zig-zagging; only the harmonics that stand out as lines: up to
        # 2081 for 1974 in a neurogenic muscle, whose EMG hides a 60 µV 150 Hz harmonic)
        ks = sorted({1, 3, 5} | set(_hum_harmonics(x, fs, f_hum, 7)))
        x = _remove_hum(x, fs, f_hum, harmonics=ks, block_s=4.0)
        left, _ = _hum_uv(x, fs, DEFAULT_CONFIG)
        reasons["hum"] = (f"{label}: {f_hum:g} Hz hum of {hum:.1f} µV, subtracted before counting turns ({left:.1f} µV "
                          "left; check the ground electrode)")
    turns, amps = K.ip_turns(np.ascontiguousarray(x), turn_level_uv * 1e-6, epoch)
    lens = np.full(turns.size, epoch, dtype=np.float64)
    if turns.size:
        lens[-1] = min(epoch, x.size - (turns.size - 1) * epoch)
    dur = float(lens.sum() / fs)
    n_t = int(turns.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        ep_amp = np.where(turns > 0, amps / np.maximum(turns, 1) * 1e6, np.nan)
    return InterferencePattern(
        turns_per_s=n_t / dur if dur > 0 else 0.0,
        mean_amplitude_uv=float(amps.sum() / n_t * 1e6) if n_t else None,
        n_turns=n_t,
        duration_s=dur,
        epoch_turns_per_s=tuple(float(t) for t in turns / (lens / fs)),
        epoch_mean_amplitude_uv=tuple(float(a) for a in ep_amp),
        turn_level_uv=float(turn_level_uv),
        quality=frozenset(reasons),
        reasons=dict(reasons),
    )
