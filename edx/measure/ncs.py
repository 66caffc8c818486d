"""Motor and sensory responses: from samples (or a loaded :class:`~edx.model.Response`) to results.

:func:`measure_cmap` and :func:`measure_snap` place the markers with the numba kernel
(:mod:`edx.kernels.response`) and turn its result vector into a typed, unit-named
result with quality flags and the marker positions (sample indices), so that a plot
or a user can check and override them (:func:`override_markers` recomputes every
dependent value).  An absent response is a finding (``present=False``, amplitude 0,
latencies None, the noise level given); a sweep that cannot be judged (NaN, flat,
clipped, stimulus missing, too short) is a quality failure whose ``status`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from ..model import Recording, Response, Sweep, Trace

__all__ = [
    "ResponseConfig",
    "CMAP_CONFIG",
    "SNAP_CONFIG",
    "Markers",
    "CmapResult",
    "SnapResult",
    "measure_cmap",
    "measure_snap",
    "measure_cmap_batch",
    "override_markers",
    "result_from_row",
    "SegmentResult",
    "sensory_velocity",
    "MAX_CV_M_S",
    "conduction_velocity",
    "STATUS",
    "FLAGS",
]

#: kernel status code -> name (see edx.kernels.response.S_*)
STATUS = {0: "ok", 1: "absent", 2: "nonfinite", 3: "flat", 4: "too_short", 5: "no_stimulus", 6: "clipped", 7: "no_baseline",
          8: "implausible_units", 9: "artifact_obscured"}
#: kernel flag bit -> quality flag name
FLAGS = {
    1: "inverted_polarity",
    2: "stimulus_from_artifact",
    4: "stimulus_artifact",
    8: "hum_removed",
    16: "baseline_drift_removed",
    32: "onset_not_placed",
    64: "negative_end_not_placed",
    128: "baseline_after_response",
    256: "low_snr",
    512: "end_not_placed",
    1024: "clipped",
    2048: "onset_in_artifact",
    4096: "baseline_unchecked",
    8192: "response_outlasts_sweep",
    16384: "units_offset",
    32768: "units_noise",
    65536: "units_amplitude",
    131072: "baseline_unstable",
}
#: status names that are quality failures (nothing can be said about the response)
FAILURES = frozenset({"nonfinite", "flat", "too_short", "no_stimulus", "clipped", "no_baseline", "implausible_units",
                      "artifact_obscured"})


@dataclass(frozen=True)
class ResponseConfig:
    """Settings of the marker placement (algorithm settings, not clinical limits).

    Parameters
    ----------
    smooth_ms : float
        Width of the moving average used to find the peak and the take-off.
    search_ms : float
        The negative peak is searched up to this latency.
    k_presence : float
        A response must be deeper than this many noise SDs of the smoothed trace.
    k_onset : float
        Noise band (SDs) used to find the take-off region.
    onset_back_ms : float
        How far before the noise-band crossing the take-off may lie.
    pre_guard_ms, min_pre_ms : float
        Samples just before the stimulus left out of the baseline; minimum baseline.
    artifact_ms : float
        Longest stimulus pulse (the artifact's steep part) after the stimulus.
    mains_hz : float
        Mains frequency for hum removal: 50 or 60; -1 to choose from the data
        (ambiguous on short sweeps); 0 to switch hum removal off.
    end_fraction : float
        The total duration ends at the last excursion beyond this fraction of the amplitude.
    polarity : {"auto", "normal", "inverted"}
        ``auto`` detects an inverted export from the initial deflection.
    min_amplitude_v : float
        Absolute floor of a present response (volts).
    initial_positive : bool
        The response may start with a small positive phase (SNAPs).
    min_latency_ms : float
        No marker before this latency (stimulus pulse).
    stimulus_tolerance_ms : float
        Marker and artifact disagreeing by more than this: the artifact is used.
    artifact_search_ms : float
        The artifact is looked for this far before the marker (and 0.5 ms after it).  When
        the step found lies within 0.5 ms of that window's start and a step of 30 % of its
        size lies in the half millisecond before the window (the artifact runs on from
        before it) the stimulus cannot be placed: status ``no_stimulus``.
    artifact_ahead_ms, artifact_ahead_ratio, artifact_ahead_min_v : float
        When no artifact stands out at the marker or before it, one is looked for up to
        ``artifact_ahead_ms`` after the marker (a marker written before the pulse), and
        taken for the stimulus only when unmistakable: a step of at least
        ``artifact_ahead_min_v`` (0.5 mV; a SNAP's rise is microvolts) and 40 noise SDs,
        making half of its excursion over the next millisecond within 0.1 ms (a response's
        rise spreads over 0.3-2 ms), and
        ``artifact_ahead_ratio`` times steeper than anything from 1 ms after it to the end
        of the sweep.  Such a step wholly before the search window (a marker more than
        ``artifact_search_ms`` late) makes the sweep ``no_stimulus``.  An
        ``artifact_ahead_ratio`` of 0 switches both off.
    rails_v : tuple of float or None
        Converter rails in volts (from the file); clipping at them is a quality failure.
    max_noise_v, max_offset_v, max_amplitude_v : float
        Physical plausibility of samples in volts, referred to the amplifier input: a
        baseline noise above ``max_noise_v`` RMS (1 mV: a hundred times a poor
        nerve-conduction baseline of 1-10 µV), an offset above ``max_offset_v`` (1 V) or
        a response deeper than ``max_amplitude_v`` (100 mV: four to five times the
        largest surface CMAPs, about 20-25 mV) means the samples are not in volts
        (millivolts or microvolts passed as volts, or a signal after the amplifier's
        gain): the status is ``implausible_units``, never a number a thousand times off.
        0 switches a check off.
    min_noise_v : float
        The other way: a baseline noise (robust SD of the baseline's level, which an
        amplifier's low-pass does not lower) above zero but below ``min_noise_v`` RMS (20
        nV: the thermal noise of surface electrodes and the amplifier's input noise keep a
        single sweep near 1 µV or more, and a machine's average of 1000 such sweeps near 30
        nV) means samples a thousand times or more too small (volts converted twice, kV):
        ``implausible_units`` too.  An average of n sweeps made here is judged against
        ``min_noise_v / sqrt(n)``.  0 switches the check off.
    onset_share : float or None
        Share (0 to 1) of the cubic hinge in the onset estimate; the rest is the
        quadratic hinge moved part of the way to a line through the early rise.  None
        (default): chosen per sweep from its signal-to-noise ratio (1 above 200 noise SDs,
        0 below 100, linear in between).  A fixed share lets several sites of one nerve
        place their onsets with the same estimator (see :func:`measure_cmap`).
    max_unremoved_hum : float
        Responses of known kind (``max_tail_ms`` > 0): when the hum could not be looked for
        around the response (``baseline_unchecked``), the mains component of the whole sweep
        (fundamental; a SNAP's own share of it is at most 3.6 % of its amplitude in 20 ms
        sweeps) above this fraction of the amplitude, and out of the noise, flags the sweep
        ``baseline_unstable``.  Default 0.1, the share of a small SNAP's amplitude from which
        hum is fitted at all.  Measured: single 20 ms sweeps under 20-80 µV of hum whose hum
        trough was read as a 10 µV SNAP (27-68 µV, status ok) were not flagged before.
    k_residual : float
        Responses of known kind: after hum removal, "absent" needs the cleaned trace from
        ``min_latency_ms`` to ``search_ms`` to be noise: its 0.5 ms moving average within this
        many of its SDs (either sign).  Beyond it the status stays ``absent`` but the sweep is
        flagged ``baseline_unstable`` (cannot be judged).  Default 5 (10 and 20 µV SNAPs under
        40 µV of hum, 20 kHz, read absent when a decaying stretch of hum was taken for an artifact
        tail; a 10 µV one at 10 kHz under 80 µV); 0 switches the check off.  Costs true absences:
        of 108 single sweeps without a SNAP under 20-80 µV of hum (2 µV noise, 10-48 kHz) 30 read
        absent and 20 absent but flagged (the other 58 flagged present; before: 34 absent, 48
        flagged, 26 read as SNAPs of up to 73 µV unflagged).
    max_hum_se : float
        Responses of known kind: the standard error of the removed hum model at the negative
        peak (from the noise and the windows it was fitted on) above this fraction of the
        amplitude flags ``baseline_unstable``.  Measured on single 20 ms sweeps under 20-80 µV
        of hum: every sweep read within 4 µV had at most 0.09; the hum troughs read as SNAPs
        (12-73 µV where there was none or a 10 µV one) 0.75-0.91 (a window after the response
        starting 13-16 ms into the sweep).  Default 0.25; 0 switches the check off.
    max_tail_ms : float
        The latest the response lasts after its negative peak (ms); 0 (CMAPs): not used.
        The window in which the baseline model looks for mains hum and drift after the
        response starts there at the latest, and a response still off the baseline there
        (its end not found, with sweep left after that point) is flagged
        ``baseline_unstable``: hum or drift that could not be removed is in its amplitude.
    """

    smooth_ms: float = 0.2
    search_ms: float = 30.0
    k_presence: float = 6.0
    k_onset: float = 2.0
    onset_back_ms: float = 0.6
    pre_guard_ms: float = 0.1
    min_pre_ms: float = 1.0
    artifact_ms: float = 1.0
    mains_hz: float = 50.0
    end_fraction: float = 0.01
    polarity: Literal["auto", "normal", "inverted"] = "auto"
    min_amplitude_v: float = 0.0
    initial_positive: bool = False
    min_latency_ms: float = 0.5
    stimulus_tolerance_ms: float = 0.1
    artifact_search_ms: float = 3.0
    artifact_ahead_ms: float = 3.0
    artifact_ahead_ratio: float = 4.0
    artifact_ahead_min_v: float = 5e-4
    rails_v: tuple[float, float] | None = None
    max_noise_v: float = 1e-3
    min_noise_v: float = 2e-8
    max_offset_v: float = 1.0
    max_amplitude_v: float = 0.1
    onset_share: float | None = None
    max_tail_ms: float = 0.0
    max_unremoved_hum: float = 0.1
    k_residual: float = 5.0
    max_hum_se: float = 0.25

    def vector(self) -> np.ndarray:
        """The kernel's parameter vector."""
        from ..kernels import response as K

        p = np.zeros(K.N_PARAMS)
        p[K.P_SMOOTH_MS] = self.smooth_ms
        p[K.P_SEARCH_MS] = self.search_ms
        p[K.P_K_PRESENCE] = self.k_presence
        p[K.P_K_ONSET] = self.k_onset
        p[K.P_ONSET_BACK_MS] = self.onset_back_ms
        p[K.P_PRE_GUARD_MS] = self.pre_guard_ms
        p[K.P_MIN_PRE_MS] = self.min_pre_ms
        p[K.P_ARTIFACT_MS] = self.artifact_ms
        p[K.P_MAINS_HZ] = self.mains_hz
        p[K.P_END_FRACTION] = self.end_fraction
        p[K.P_RAIL_LO] = self.rails_v[0] if self.rails_v else np.nan
        p[K.P_RAIL_HI] = self.rails_v[1] if self.rails_v else np.nan
        if self.polarity not in ("auto", "normal", "inverted"):
            raise ValueError(f"polarity must be 'auto', 'normal' or 'inverted', got {self.polarity!r}")
        p[K.P_POLARITY] = {"auto": 0.0, "normal": 1.0, "inverted": -1.0}[self.polarity]
        p[K.P_MIN_AMPLITUDE_V] = self.min_amplitude_v
        p[K.P_INITIAL_POSITIVE] = 1.0 if self.initial_positive else 0.0
        p[K.P_MIN_LATENCY_MS] = self.min_latency_ms
        p[K.P_STIM_TOLERANCE_MS] = self.stimulus_tolerance_ms
        p[K.P_ARTIFACT_SEARCH_MS] = self.artifact_search_ms
        p[K.P_ARTIFACT_AHEAD_MS] = self.artifact_ahead_ms
        p[K.P_ARTIFACT_AHEAD_RATIO] = self.artifact_ahead_ratio
        p[K.P_ARTIFACT_AHEAD_MIN_V] = self.artifact_ahead_min_v
        p[K.P_MAX_NOISE_V] = self.max_noise_v
        p[K.P_MIN_NOISE_V] = self.min_noise_v
        p[K.P_MAX_OFFSET_V] = self.max_offset_v
        p[K.P_MAX_AMPLITUDE_V] = self.max_amplitude_v
        p[K.P_MAX_TAIL_MS] = self.max_tail_ms
        p[K.P_MAX_UNREMOVED_HUM] = self.max_unremoved_hum
        p[K.P_K_RESIDUAL] = self.k_residual
        p[K.P_MAX_HUM_SE] = self.max_hum_se
        if self.onset_share is None:
            p[K.P_ONSET_SHARE] = np.nan
        else:
            share = float(self.onset_share)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"onset_share must be between 0 and 1 (or None), got {self.onset_share!r}")
            p[K.P_ONSET_SHARE] = share
        return p


#: defaults for motor responses (CMAP, mCMAP)
CMAP_CONFIG = ResponseConfig()
#: defaults for sensory responses: narrower peak, earlier, small initial positive phase.
#: The plausibility limits are a SNAP's, not a CMAP's: the largest normal SNAPs (antidromic
#: median, young adults) are 100-150 µV, so one deeper than 1 mV is not in volts; a baseline
#: noise of 200 µV RMS is twenty times a poor unaveraged sensory baseline (about 10 µV).  With
#: the CMAP's limits (100 mV, 1 mV) a 20 µV SNAP averaged to about 1 µV of noise and passed in
#: mV read as a present SNAP of 20 000 µV, an absent one as absent against 900 µV of noise.
#: A SNAP is over within ``max_tail_ms`` = 5 ms of its negative peak (its negative phase lasts about
#: 1 ms and the positive one after it about as long; a dispersed SNAP 3-4 ms): the window where the
#: baseline model looks for hum and drift starts there at the latest.  Without it, 20 µV of mains
#: hum on a 15 µV SNAP (8 sweeps averaged, 20 ms sweeps) held the trace off the baseline until
#: 9 ms after the peak, no window was left to see the hum in, and the amplitude read up to 26 µV.
SNAP_CONFIG = ResponseConfig(smooth_ms=0.2, search_ms=10.0, onset_back_ms=0.3, initial_positive=True,
                             min_latency_ms=0.4, max_amplitude_v=1e-3, max_noise_v=2e-4, max_tail_ms=5.0)


@dataclass(frozen=True)
class Markers:
    """Marker positions as (fractional) sample indices in the sweep; None = not placed."""

    stimulus: int | None
    onset: float | None
    neg_peak: float | None
    neg_end: float | None
    pos_peak: float | None
    end: float | None


@dataclass(frozen=True)
class _Common:
    status: str
    present: bool | None
    quality: frozenset[str]
    markers: Markers
    reasons: Mapping[str, str]
    fs_hz: float
    stimulus_source: str
    polarity: Literal["normal", "inverted"]
    baseline_mv: float | None
    noise_uv: float | None
    onset_latency_ms: float | None
    neg_peak_latency_ms: float | None
    neg_duration_ms: float | None
    total_duration_ms: float | None

    @property
    def ok(self) -> bool:
        """True when the sweep could be judged (present or absent)."""
        return self.status in ("ok", "absent")


@dataclass(frozen=True)
class CmapResult(_Common):
    """A motor response (CMAP or direct-muscle mCMAP), amplitudes in mV, areas in mV·ms."""

    amplitude_mv: float | None = None
    peak_to_peak_mv: float | None = None
    neg_area_mvms: float | None = None
    total_area_mvms: float | None = None
    #: share (0 to 1) of the cubic hinge in the onset actually used, whether chosen from the
    #: sweep's signal-to-noise ratio or fixed by the caller (``onset_share``); 0 also when the
    #: cubic hinge could not be fitted; None when no onset was placed (or it was moved by hand)
    onset_share: float | None = None


@dataclass(frozen=True)
class SnapResult(_Common):
    """A sensory response, amplitudes in µV, areas in µV·ms."""

    amplitude_uv: float | None = None
    peak_to_peak_uv: float | None = None
    neg_area_uvms: float | None = None
    total_area_uvms: float | None = None


def _f(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _latency_ms(i: float | None, stim: int | None, fs: float) -> float | None:
    """Marker index to latency from the stimulus (ms); None when either is missing."""
    return None if i is None or stim is None else (i - stim) / fs * 1e3


def _interval_ms(a: float | None, b: float | None, fs: float) -> float | None:
    """Time between two marker indices (ms); None when either is missing."""
    return None if a is None or b is None else (b - a) / fs * 1e3


def _implausible_reason(r: np.ndarray, kind: str = "cmap") -> str:
    """Why a sweep's samples cannot be volts, with the measured value."""
    from ..kernels import response as K

    flags = int(r[K.R_FLAGS])
    if kind == "snap" and flags & K.F_UNITS_AMPLITUDE and not flags & (K.F_UNITS_OFFSET | K.F_UNITS_NOISE):
        return (f"a response of {r[K.R_AMPLITUDE_V] * 1e3:.4g} mV is beyond any sensory nerve action potential "
                "(tens of µV; the limit, ResponseConfig.max_amplitude_v, is 1 mV): a motor response measured as "
                "sensory (check the test type, the channel and the stimulus marker), or samples in mV or µV passed "
                "as volts (edx.units.volts_per_unit gives the factor of a unit)")
    if flags & K.F_UNITS_OFFSET:
        what = f"an offset of {r[K.R_BASELINE_V]:.4g} V"
    elif flags & K.F_UNITS_NOISE and r[K.R_NOISE_V] < 1e-6:
        return (f"a baseline noise of {r[K.R_NOISE_V] * 1e9:.3g} nV RMS is below the thermal and amplifier noise of "
                "any nerve-conduction recording in volts (about 1 µV RMS per sweep, some 30 nV for an average of 1000; "
                "ResponseConfig.min_noise_v): the "
                "samples are probably a thousand times or more too small (volts converted twice, or kV); pass volts "
                "(edx.units.volts_per_unit gives the factor of a unit)")
    elif flags & K.F_UNITS_NOISE:
        what = f"a baseline noise of {r[K.R_NOISE_V] * 1e3:.4g} mV RMS"
    else:
        what = f"a response of {r[K.R_AMPLITUDE_V] * 1e3:.4g} mV"
    return (f"{what} is beyond any nerve-conduction recording in volts: the samples are probably in mV or µV "
            "(or after the amplifier's gain); pass volts (edx.units.volts_per_unit gives the factor of a unit)")


def _from_vector(r: np.ndarray, fs: float, marker_stim: int, kind: str) -> CmapResult | SnapResult:
    from ..kernels import response as K

    status = STATUS[int(r[K.R_STATUS])]
    flags = int(r[K.R_FLAGS])
    quality = {name for bit, name in FLAGS.items() if flags & bit}
    if status == "clipped":
        quality.add("clipped")
    stim = None if math.isnan(r[K.R_STIM_INDEX]) else int(r[K.R_STIM_INDEX])
    mk = Markers(
        stimulus=stim,
        onset=_f(r[K.R_ONSET]),
        neg_peak=_f(r[K.R_NEG_PEAK]),
        neg_end=_f(r[K.R_NEG_END]),
        pos_peak=_f(r[K.R_POS_PEAK]),
        end=_f(r[K.R_END]),
    )
    reasons: dict[str, str] = {}
    if status in FAILURES:
        reasons["all"] = {
            "nonfinite": "the sweep holds NaN or infinite samples",
            "flat": "the sweep is flat (no signal)",
            "too_short": "the sweep is too short after the stimulus to hold a response",
            "no_stimulus": ("a stimulus artifact lies before the search window, or runs into it (more than "
                            "ResponseConfig.artifact_search_ms before the marker): the marker is wrong and where the "
                            "pulse was cannot be said; give the stimulus position" if flags & K.F_WHY_ARTIFACT_EDGE
                            else "the stimulus position is missing or outside the sweep"),
            "clipped": "the response reaches the amplifier's rails: amplitude and area cannot be known",
            "no_baseline": "no stimulus-free window to estimate the baseline and noise",
            "implausible_units": _implausible_reason(r, kind),
            "artifact_obscured": ("a deflection deeper than the noise runs into the start of the search window, out of "
                                  "the stimulus artifact and its tail: a response cannot be told from the artifact, nor "
                                  "its absence said (reduce the artifact: stimulus intensity and duration, ground "
                                  "between stimulator and recording electrodes, electrode placement)"),
        }[status]
    if status == "absent":
        reasons["all"] = "no deflection deeper than the noise floor: response absent"
        if flags & K.F_WHY_RESIDUAL:
            reasons["all"] = ("no deflection deeper than the noise floor, but the trace left after the mains hum was "
                              "removed is not noise (beyond ResponseConfig.k_residual SDs): hum the model could not "
                              "remove, or a response it hides; whether the response is absent cannot be said from "
                              "this sweep (baseline_unstable: not usable for interpretation)")
    if status == "ok":
        if mk.onset is None:
            reasons["onset"] = ("the take-off lies within the stimulus artifact" if "onset_in_artifact" in quality
                                else "no take-off from the noise band found before the peak")
        if mk.neg_end is None:
            reasons["neg_end"] = "the trace does not return to baseline after the negative peak within the sweep"
        if mk.end is None:
            reasons["end"] = "the response does not end within the sweep"
        if "baseline_unchecked" in quality:
            reasons["baseline"] = ("the sweep ends before a quiet stretch after the response: mains hum and baseline "
                                   "drift could not be looked for, and amplitude and latencies may carry them")
        if "baseline_unstable" in quality:
            if flags & K.F_WHY_POLARITY:
                reasons["amplitude"] = ("with the mains hum removed the trace still looks inverted: under hum one sweep "
                                        "cannot tell an inverted export from a hum trough read as the response; the "
                                        "normal polarity was kept and the amplitude is not usable for interpretation "
                                        "(measure an inverted file with polarity='inverted')")
            elif flags & K.F_WHY_HUM_SE:
                reasons["amplitude"] = (f"the mains hum removed was interpolated across the response from windows far "
                                        f"from it: uncertain by {r[K.R_HUM_SE_V] * 1e6:.2g} µV at the negative peak, "
                                        "more than ResponseConfig.max_hum_se of the amplitude; not usable for "
                                        "interpretation")
            elif flags & K.F_WHY_HUM:
                reasons["amplitude"] = (f"mains hum of {r[K.R_HUM_V] * 1e6:.2g} µV could not be removed (no quiet "
                                        "stretch after the response) and is more than ResponseConfig.max_unremoved_hum "
                                        "of the amplitude: it is in the amplitude and latencies; not usable for "
                                        "interpretation")
            else:
                reasons["amplitude"] = ("the trace has not come back to the baseline where the response must have "
                                        "ended (ResponseConfig.max_tail_ms after its negative peak): mains hum or "
                                        "drift that could not be removed is in the amplitude; not usable for "
                                        "interpretation")
        if "response_outlasts_sweep" in quality:
            reasons["baseline"] = ("the response is not ended by the end of the sweep: its tail fills the stretch "
                                   "after it, so drift and hum were not estimated (pre-stimulus baseline only)")
            reasons["end"] = "the response is not ended by the end of the sweep"

    common = dict(
        status=status,
        present=True if status == "ok" else (False if status == "absent" else None),
        quality=frozenset(quality),
        markers=mk,
        reasons=reasons,
        fs_hz=fs,
        stimulus_source="artifact" if "stimulus_from_artifact" in quality else "marker",
        polarity="inverted" if r[K.R_POLARITY] < 0 else "normal",
        baseline_mv=_f(r[K.R_BASELINE_V] * 1e3),
        noise_uv=_f(r[K.R_NOISE_V] * 1e6),
        onset_latency_ms=_latency_ms(mk.onset, stim, fs),
        neg_peak_latency_ms=_latency_ms(mk.neg_peak, stim, fs),
        neg_duration_ms=_interval_ms(mk.onset, mk.neg_end, fs),
        total_duration_ms=_interval_ms(mk.onset, mk.end, fs),
    )
    amp = r[K.R_AMPLITUDE_V]
    if status == "absent":
        amp = 0.0
    elif status in FAILURES:
        amp = math.nan
    if kind == "cmap":
        return CmapResult(
            **common,
            amplitude_mv=_f(amp * 1e3),
            peak_to_peak_mv=_f(r[K.R_P2P_V] * 1e3),
            neg_area_mvms=_f(r[K.R_NEG_AREA_VS] * 1e6),
            total_area_mvms=_f(r[K.R_TOTAL_AREA_VS] * 1e6),
            onset_share=_f(r[K.R_ONSET_SHARE]),
        )
    return SnapResult(
        **common,
        amplitude_uv=_f(amp * 1e6),
        peak_to_peak_uv=_f(r[K.R_P2P_V] * 1e6),
        neg_area_uvms=_f(r[K.R_NEG_AREA_VS] * 1e9),
        total_area_uvms=_f(r[K.R_TOTAL_AREA_VS] * 1e9),
    )


def _mean_of_finite(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """The mean of the sweeps (rows) without a NaN or infinite sample, and how many were left
    out; all of them (NaN follows: a quality failure) when none is whole."""
    whole = np.isfinite(rows).all(axis=1)
    if whole.all() or not whole.any():
        return np.ascontiguousarray(rows.mean(axis=0)), 0
    return np.ascontiguousarray(rows[whole].mean(axis=0)), int(rows.shape[0] - whole.sum())


def _check_fs(fs_hz: Any) -> float:
    """``fs_hz`` as a float; ValueError unless it is a finite positive number.

    A sampling rate of 0, a negative one, NaN or infinity (a damaged header, a missing
    value) is unusable input: the marker kernels would turn it into sample counts that
    mean nothing (NaN or infinity crashed the process), so it is refused here by name.
    """
    try:
        v = float(fs_hz)
    except (TypeError, ValueError):
        raise ValueError(f"fs_hz must be a finite positive number (Hz), got {fs_hz!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"fs_hz must be a finite positive number (Hz), got {fs_hz!r}")
    return v


def sweeps_given(x: Any, what: str) -> tuple[Sweep, ...] | None:
    """The sweeps of ``x`` when it is a Response, a Sweep or a sequence of Sweeps (what
    :func:`edx.cut_sweeps` returns), None for samples; a Recording or Trace is refused with
    what to pass instead (its samples are a continuous signal, not sweeps around a stimulus)."""
    if isinstance(x, Response):
        return tuple(x.sweeps)
    if isinstance(x, Sweep):
        return (x,)
    if isinstance(x, (Recording, Trace)):
        kind = "a Recording" if isinstance(x, Recording) else "a continuous Trace"
        raise TypeError(f"{what} needs sweeps around a stimulus, not {kind}: cut them first "
                        "(edx.cut_sweeps(recording, channel)), or load a study's site (edx.load_site)")
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, Sweep) for v in x):
        return tuple(x)
    return None


def _stim_index(i: Any) -> int:
    """A stimulus sample index (-1: none given; one outside the sweep is the status no_stimulus)."""
    if i is None:
        return -1
    if isinstance(i, (float, np.floating)) and not (math.isfinite(i) and float(i).is_integer()):
        raise ValueError(f"stimulus_index must be a whole sample index, got {i!r}")
    return int(i)


def _averaged(config: ResponseConfig, n: int) -> ResponseConfig:
    """The settings for an average of ``n`` sweeps: its noise floor falls as 1 / sqrt(n)."""
    if n > 1 and config.min_noise_v > 0.0:
        return replace(config, min_noise_v=config.min_noise_v / math.sqrt(n))
    return config


def _samples(
    x: Any, fs_hz: float | None, stimulus_index: int | None, config: ResponseConfig, average: bool
) -> tuple[np.ndarray, float, int, ResponseConfig, int]:
    """(samples, fs, stimulus index, config with the file's rails, sweeps left out of the average)."""
    given = sweeps_given(x, "measuring a nerve-conduction response")
    if given is not None:
        sweeps = given
        if len({s.fs_hz for s in sweeps}) != 1:
            raise ValueError("sweeps to measure together must share one sampling rate")
        if fs_hz is not None and float(fs_hz) != sweeps[0].fs_hz:
            raise ValueError(f"fs_hz={fs_hz} contradicts the sweep's {sweeps[0].fs_hz} Hz")
    else:
        if fs_hz is None:
            raise ValueError("fs_hz is required with a plain array")
        fs_hz = _check_fs(fs_hz)
        if np.iscomplexobj(x):
            raise TypeError("samples must be real volts, got complex values")
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
        left_out = 0
        if arr.ndim == 2 and average:
            n_rows = arr.shape[0]
            arr, left_out = _mean_of_finite(arr)
            config = _averaged(config, n_rows - left_out)
        if arr.ndim != 1:
            raise ValueError(f"expected one sweep (1-D samples), got shape {arr.shape}")
        return arr, float(fs_hz), _stim_index(stimulus_index), config, left_out
    first = sweeps[0]
    stim = first.stimulus_index if stimulus_index is None else _stim_index(stimulus_index)
    if average and len(sweeps) > 1:
        n = min(s.n_samples for s in sweeps)
        idx = {s.stimulus_index for s in sweeps}
        if len(idx) != 1:
            raise ValueError("sweeps to average must have the stimulus at the same sample")
        arr, left_out = _mean_of_finite(np.array([s.samples_v[:n] for s in sweeps], dtype=np.float64))
        config = _averaged(config, len(sweeps) - left_out)
    else:
        arr, left_out = np.ascontiguousarray(first.samples_v), 0
    if config.rails_v is None and first.clip_range is not None:
        config = replace(config, rails_v=first.clip_range)
    return arr, first.fs_hz, -1 if stim is None else int(stim), config, left_out


def measure_cmap(
    x: Any,
    fs_hz: float | None = None,
    stimulus_index: int | None = None,
    *,
    config: ResponseConfig = CMAP_CONFIG,
    onset_share: float | None = None,
    **overrides: Any,
) -> CmapResult:
    """Measure a motor response (CMAP, or the mCMAP of direct muscle stimulation).

    Parameters
    ----------
    x : array_like, Sweep or Response
        Samples in volts (G1 − G2), or a loaded sweep/response (its first sweep is used).
    fs_hz : float, optional
        Sampling rate (required with a plain array).
    stimulus_index : int, optional
        Sample of the stimulus (default: the sweep's; required with a plain array).
    config : ResponseConfig
        Marker-placement settings; keyword arguments override single fields
        (e.g. ``mains_hz=60``, ``polarity="normal"``).
    onset_share : float, optional
        Share (dimensionless, 0 to 1) of the cubic-hinge estimator in the onset: 1 is the
        cubic hinge alone (used automatically for strong responses, above 200 noise SDs),
        0 the quadratic hinge moved part of the way to a line through the early rise
        (weak responses, below 100 noise SDs).  None (default, or ``config.onset_share``
        when set): chosen from this sweep's signal-to-noise ratio.  The two estimators
        differ slightly in bias, so a velocity between two sites is better taken from
        onsets placed with one share (:func:`edx.measure.study.measure_study` measures
        the sites of a motor test with the smallest share among them).  The share used
        is in the result's ``onset_share``; passing it back repeats the automatic
        measurement.

    Returns
    -------
    CmapResult
        Latencies (ms from the stimulus), amplitude baseline-to-negative-peak and
        peak-to-peak (mV), negative-peak and total duration (ms), areas (mV·ms),
        baseline and noise, polarity, quality flags, marker positions, the onset share
        used and, for every marker not placed, the reason.

    Raises
    ------
    TypeError
        A Recording or continuous Trace (cut sweeps first: :func:`edx.cut_sweeps`).
    ValueError
        ``onset_share`` outside 0 to 1; with a plain array, ``fs_hz`` missing or not a
        finite positive number; ``fs_hz`` contradicting a sweep's; a stimulus index that is
        not a whole sample; ``polarity`` not ``auto``, ``normal`` or ``inverted``.
    """
    from ..kernels import response as K

    if onset_share is not None:
        overrides["onset_share"] = onset_share
    if overrides:
        config = replace(config, **overrides)
    arr, fs, stim, config, _ = _samples(x, fs_hz, stimulus_index, config, average=False)
    r = K.measure_response(arr, fs, stim, config.vector())
    return _from_vector(r, fs, stim, "cmap")  # type: ignore[return-value]


def measure_snap(
    x: Any,
    fs_hz: float | None = None,
    stimulus_index: int | None = None,
    *,
    config: ResponseConfig = SNAP_CONFIG,
    average: bool = True,
    **overrides: Any,
) -> SnapResult:
    """Measure a sensory response (SNAP), averaging the sweeps of a response first.

    Parameters are those of :func:`measure_cmap`; a 2-D array or a multi-sweep
    :class:`~edx.model.Response` is averaged (``average=True``); rows of a 2-D array
    holding a NaN or infinite sample (a dropped packet from an amplifier) are left out of
    the average (flag ``sweeps_left_out``, with the count), unless none is whole (then the
    status is ``nonfinite``); a loaded :class:`~edx.model.Sweep` cannot hold them.  Amplitudes are
    in µV.  The onset is the first departure from baseline: the start of a small
    initial positive phase when one stands out of the noise (its half-sine fit exceeds
    3.5 standard errors), otherwise the negative take-off.  A tuple of sweeps (what
    :func:`edx.cut_sweeps` returns) is averaged too.  Raises as :func:`measure_cmap`.
    """
    from ..kernels import response as K

    if overrides:
        config = replace(config, **overrides)
    arr, fs, stim, config, left_out = _samples(x, fs_hz, stimulus_index, config, average=average)
    r = K.measure_response(arr, fs, stim, config.vector())
    res: SnapResult = _from_vector(r, fs, stim, "snap")  # type: ignore[assignment]
    if left_out:
        total = len(x.sweeps) if isinstance(x, Response) else int(np.shape(x)[0])
        res = replace(res, quality=res.quality | {"sweeps_left_out"},
                      reasons={**res.reasons, "sweeps": f"{left_out} of {total} sweeps held NaN or infinite samples and "
                                                        "were left out of the average"})
    return res


def measure_cmap_batch(
    sweeps: np.ndarray, fs_hz: float, stimulus_index: int | Sequence[int], *,
    config: ResponseConfig = CMAP_CONFIG, parallel: bool = True,
) -> np.ndarray:
    """Measure many motor sweeps (rows of a 2-D array) in one call; returns the kernel's result matrix.

    The columns are the ``R_*`` indices of :mod:`edx.kernels.response`; use
    :func:`result_from_row` to turn a row into a :class:`CmapResult`.  With
    ``parallel=True`` the rows are spread over the cores (numba ``prange``).
    """
    from ..kernels import response as K

    x = np.ascontiguousarray(np.asarray(sweeps, dtype=np.float64))
    if x.ndim != 2:
        raise ValueError("sweeps must be a 2-D array (n_sweeps, n_samples)")
    stim = np.ascontiguousarray(np.broadcast_to(np.asarray(stimulus_index, dtype=np.int64), (x.shape[0],)))
    fn = K.measure_batch if parallel else K.measure_batch_serial
    return fn(x, _check_fs(fs_hz), stim, config.vector())


def result_from_row(row: np.ndarray, fs_hz: float, kind: Literal["cmap", "snap"] = "cmap") -> CmapResult | SnapResult:
    """Typed result from one row of :func:`measure_cmap_batch`."""
    from ..kernels import response as K

    stim = row[K.R_STIM_INDEX]
    return _from_vector(row, fs_hz, -1 if math.isnan(stim) else int(stim), kind)


def _integral(v: np.ndarray, a: float, b: float, fs: float) -> float:
    """Integral (V·s) of the piecewise-linear trace ``v`` from fractional sample ``a`` to ``b``
    (negative when ``b < a``)."""
    if b < a:
        return -_integral(v, b, a, fs)
    n = v.size
    a, b = min(max(a, 0.0), n - 1.0), min(max(b, 0.0), n - 1.0)
    ia, ib = math.ceil(a), math.floor(b)
    if ib < ia:  # a and b within one sample interval
        va, vb = np.interp([a, b], np.arange(n), v)
        return float(0.5 * (va + vb) * (b - a)) / fs
    va, vb = np.interp([a, b], np.arange(n), v)
    total = 0.5 * (va + v[ia]) * (ia - a) + 0.5 * (v[ib] + vb) * (b - ib)
    if ib > ia:
        total += float(np.trapezoid(v[ia:ib + 1]))
    return float(total) / fs


def override_markers(
    result: CmapResult | SnapResult,
    x: Any,
    *,
    onset: float | None = None,
    neg_peak: float | None = None,
    neg_end: float | None = None,
    end: float | None = None,
    stimulus: int | None = None,
) -> CmapResult | SnapResult:
    """Recompute a result after the user moved markers (fractional sample indices).

    Parameters
    ----------
    result : CmapResult or SnapResult
        The machine's measurement.
    x : array_like, Sweep or Response
        The samples it was measured on (volts).  A multi-sweep Response given with a SNAP
        result is averaged first, as :func:`measure_snap` does.
    onset, neg_peak, neg_end, end, stimulus : float or int, optional
        The moved markers; the others stay where they were.

    Returns
    -------
    CmapResult or SnapResult
        A copy carrying the ``markers_overridden`` flag.  Latencies and durations follow
        the markers.  A value whose markers did not move is kept exactly as measured.  A
        value whose markers moved changes by what the samples add or remove between the
        old and the new position (baseline-corrected trace): the amplitude by the trace's
        difference between the old and the new negative peak, an area by the integral
        over the stretch a bound moved across.  The measurement's own corrections (hum,
        drift, artifact tail, smoothing at the peak) are thereby kept for the unchanged
        part of the response.  A marker the machine could not place and the user places
        gets its value from the baseline-corrected samples alone.
    """
    if isinstance(x, (Response, Sweep)):
        arr, _, _, _, _ = _samples(x, result.fs_hz, None, CMAP_CONFIG, average=isinstance(result, SnapResult))
    else:
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 2:
            arr = _mean_of_finite(arr)[0] if isinstance(result, SnapResult) else arr[0]
    fs = result.fs_hz
    mk = result.markers
    moved = {"onset": onset, "neg_peak": neg_peak, "neg_end": neg_end, "end": end, "stimulus": stimulus}
    _check_moved(moved, arr.size)
    new = Markers(
        stimulus=mk.stimulus if stimulus is None else int(stimulus),
        onset=mk.onset if onset is None else float(onset),
        neg_peak=mk.neg_peak if neg_peak is None else float(neg_peak),
        neg_end=mk.neg_end if neg_end is None else float(neg_end),
        pos_peak=mk.pos_peak,
        end=mk.end if end is None else float(end),
    )
    _check_order(new)
    base = (result.baseline_mv or 0.0) * 1e-3
    sign = -1.0 if result.polarity == "inverted" else 1.0
    d = sign * (arr - base)
    neg_part, abs_part = np.maximum(-d, 0.0), np.abs(d)  # the negative phase's magnitude, |trace|
    grid = np.arange(d.size)
    is_cmap = isinstance(result, CmapResult)
    scale = 1e3 if is_cmap else 1e6  # V -> mV or µV
    old_amp = result.amplitude_mv if is_cmap else result.amplitude_uv  # type: ignore[union-attr]
    old_p2p = result.peak_to_peak_mv if is_cmap else result.peak_to_peak_uv  # type: ignore[union-attr]
    old_neg_area = result.neg_area_mvms if is_cmap else result.neg_area_uvms  # type: ignore[union-attr]
    old_total_area = result.total_area_mvms if is_cmap else result.total_area_uvms  # type: ignore[union-attr]

    def at(i: float) -> float:
        return float(np.interp(i, grid, d))

    # the samples must be in the measurement's unit (volts): their noise within a factor of 100 of
    # the measured one (an average and one of its sweeps differ by the square root of their count)
    stim_at = new.stimulus if new.stimulus is not None and new.stimulus >= 10 else arr.size
    dif = np.abs(np.diff(arr[: min(stim_at, arr.size)]))
    noise_here = float(np.median(dif)) / 0.6745 / math.sqrt(2.0) * 1e6 if dif.size else 0.0
    if result.noise_uv and noise_here > 0.0 and not (0.01 <= noise_here / result.noise_uv <= 100.0):
        raise ValueError(f"the samples do not match the measurement: their noise is {noise_here:.4g} µV, the measured "
                         f"{result.noise_uv:.4g} µV; pass the samples it was measured on, in volts")

    amp, p2p = old_amp, old_p2p
    if new.neg_peak != mk.neg_peak:
        if new.neg_peak is None:
            amp = p2p = None
        elif mk.neg_peak is not None and old_amp is not None:
            amp = old_amp - (at(new.neg_peak) - at(mk.neg_peak)) * scale
            p2p = None if old_p2p is None else old_p2p + (amp - old_amp)
        else:
            amp = -at(new.neg_peak) * scale
            pos = at(new.pos_peak) if new.pos_peak is not None else None
            p2p = amp + max(pos, 0.0) * scale if pos is not None else amp

    def area(part: np.ndarray, old: float | None, a0: float | None, b0: float | None, a: float | None,
             b: float | None) -> float | None:
        if a is None or b is None or b <= a:
            return None
        if (a, b) == (a0, b0):
            return old
        if old is not None and a0 is not None and b0 is not None:
            # what the bounds moved across, added or removed, on top of the measured area
            return old + (_integral(part, a, a0, fs) + _integral(part, b0, b, fs)) * scale * 1e3
        return _integral(part, a, b, fs) * scale * 1e3

    neg_area = area(neg_part, old_neg_area, mk.onset, mk.neg_end, new.onset, new.neg_end)
    total_area = area(abs_part, old_total_area, mk.onset, mk.end, new.onset, new.end)
    values: dict[str, Any] = dict(
        markers=new,
        quality=result.quality | {"markers_overridden"},
        reasons={k: v for k, v in result.reasons.items() if getattr(new, k, None) is None},
        onset_latency_ms=_latency_ms(new.onset, new.stimulus, fs),
        neg_peak_latency_ms=_latency_ms(new.neg_peak, new.stimulus, fs),
        neg_duration_ms=_interval_ms(new.onset, new.neg_end, fs),
        total_duration_ms=_interval_ms(new.onset, new.end, fs),
    )
    if is_cmap:
        values.update(amplitude_mv=amp, peak_to_peak_mv=p2p, neg_area_mvms=neg_area, total_area_mvms=total_area)
    else:
        values.update(amplitude_uv=amp, peak_to_peak_uv=p2p, neg_area_uvms=neg_area, total_area_uvms=total_area)
    if is_cmap and new.onset != mk.onset:
        values["onset_share"] = None  # a hand-placed onset comes from no estimator
    if new.onset is not None or new.neg_peak is not None:
        values["present"] = True if result.present is not False or neg_peak is not None else result.present
        if values["present"] and result.status == "absent":
            values["status"] = "ok"  # a response the user placed on a sweep read as absent
            values["reasons"] = {k: v for k, v in values["reasons"].items() if k != "all"}
    return replace(result, **values)


def _check_moved(moved: Mapping[str, Any], n: int) -> None:
    """Refuse hand-placed markers that are not finite, lie outside the sweep's ``n`` samples,
    or (the stimulus) are not a whole sample."""
    for name, v in moved.items():
        if v is None:
            continue
        f = float(v)
        if not math.isfinite(f) or not 0.0 <= f <= n - 1:
            raise ValueError(f"{name}={v!r} is not a sample index of the sweep (0..{n - 1}): markers are sample "
                             "indices, not milliseconds")
    if moved.get("stimulus") is not None and float(moved["stimulus"]) != int(moved["stimulus"]):
        raise ValueError(f"stimulus={moved['stimulus']!r} must be a whole sample index")


def _check_order(new: Markers) -> None:
    """Refuse markers out of order (stimulus <= onset < negative peak < negative end <= end)."""
    order = [(k, getattr(new, k)) for k in ("stimulus", "onset", "neg_peak", "neg_end", "end")]
    placed = [(k, v) for k, v in order if v is not None]
    for (ka, va), (kb, vb) in zip(placed, placed[1:]):
        ok = va <= vb if (ka == "stimulus" or kb == "end") else va < vb
        if not ok:
            raise ValueError(f"markers out of order: {ka} at {va:g} and {kb} at {vb:g} (a response runs stimulus <= "
                             "onset < negative peak < negative end <= end)")


@dataclass(frozen=True)
class SegmentResult:
    """Conduction between two stimulation sites of one nerve.

    ``cv_m_s`` = distance / (proximal − distal onset latency).  Drops and increases are
    proximal relative to distal (conduction block, temporal dispersion).  A value that
    cannot be computed is None and ``reasons`` says why.
    """

    distance_mm: float
    cv_m_s: float | None
    latency_difference_ms: float | None
    amplitude_drop_pct: float | None
    area_drop_pct: float | None
    duration_increase_pct: float | None
    quality: frozenset[str]
    reasons: Mapping[str, str]


#: no human nerve conducts faster: normal median motor velocity is 57 +- 5 m/s (CLINICAL.md §2)
#: and the fastest fibres conduct at about 70-80 m/s.  A faster value is a distance in the wrong
#: unit (cm as mm), swapped sites or a misplaced onset: it is not reported as a velocity.
MAX_CV_M_S = 100.0
#: a distance in the wrong unit the other way (cm or m typed as mm) makes a velocity ten or a
#: thousand times too slow, which would read as severe demyelination.  Velocities are measured
#: over segments of about 10 cm and more (the standard distances: 7-9 cm distal, 10 cm across the
#: elbow, 20-40 cm forearm and leg segments; CLINICAL.md §2), and even hereditary hypomyelinating
#: neuropathies conduct at a few m/s over such segments: a velocity below SLOW_CV_M_S over a
#: distance below SHORT_DISTANCE_MM is taken for a possible distance in the wrong unit.  A
#: slow velocity over a standard distance is reported as measured.  It is kept, flagged
#: ``distance_unit_suspect`` with the reason: an inching study's 10-20 mm step across a focal
#: lesion can be as slow (the interpreter does not judge it).
SHORT_DISTANCE_MM = 50.0
SLOW_CV_M_S = 10.0


def _plausible_cv(distance_mm: float, dl_ms: float, fs_hz: float, max_cv_m_s: float, reasons: dict[str, str],
                  quality: set[str], short_mm: float = SHORT_DISTANCE_MM, slow_cv_m_s: float = SLOW_CV_M_S) -> float | None:
    """``distance / dl``; None with the reason and flag ``implausible_velocity`` when above
    ``max_cv_m_s`` even with two sampling intervals added to the latency (a distance in the
    wrong unit, swapped sites); kept with the flag ``distance_unit_suspect`` when below
    ``slow_cv_m_s`` over less than ``short_mm`` (a distance in cm or m, or an inching step
    across a focal lesion), and with ``velocity_uncertain`` when only the latency's sampling
    error can explain a fast one (short, inching segments)."""
    cv = distance_mm / dl_ms
    if distance_mm < short_mm and cv < slow_cv_m_s:
        # kept with a flag: an inching study's 10-20 mm step across a focal lesion can be this slow
        quality.add("distance_unit_suspect")
        reasons["cv"] = (f"{cv:.2g} m/s over {distance_mm:g} mm: a distance shorter than any standard segment (about "
                         f"70 mm and more) and a velocity slower than {slow_cv_m_s:g} m/s point to a distance in cm or m "
                         f"instead of mm, unless this is an inching step across a focal lesion; check the distance (mm)")
        return cv
    if not (max_cv_m_s > 0 and cv > max_cv_m_s):
        return cv
    slack_ms = 2e3 / fs_hz if fs_hz > 0 else 0.0
    if distance_mm / (dl_ms + slack_ms) > max_cv_m_s:
        quality.add("implausible_velocity")
        reasons["cv"] = (f"{cv:.0f} m/s over {distance_mm:g} mm is faster than any human nerve (at most about "
                         f"70-80 m/s; limit {max_cv_m_s:g}): check the distance (mm), the sites' order and the onsets")
        return None
    quality.add("velocity_uncertain")
    reasons["cv"] = (f"{cv:.0f} m/s: a latency difference of {dl_ms:.3f} ms over {distance_mm:g} mm is within two "
                     f"sampling intervals ({slack_ms:.2f} ms) of its own error; the velocity is uncertain")
    return cv


def conduction_velocity(distal: CmapResult | SnapResult, proximal: CmapResult | SnapResult,
                        distance_mm: float, *, max_cv_m_s: float = MAX_CV_M_S) -> SegmentResult:
    """Velocity and block/dispersion measures between a distal and a proximal response.

    Parameters
    ----------
    distal, proximal : CmapResult or SnapResult
        Measured responses of the same nerve at the two sites.
    distance_mm : float
        Segment length between the two stimulation sites (from the manifest).
    max_cv_m_s : float
        A velocity above this, even with two sampling intervals added to the latency
        difference, is not reported (``cv_m_s`` None, flag ``implausible_velocity``, with
        the reason): see :data:`MAX_CV_M_S`; one above it only within that sampling error
        (a short, inching segment) is kept, flagged ``velocity_uncertain``.  0 switches the
        check off.  A velocity below :data:`SLOW_CV_M_S` over less than
        :data:`SHORT_DISTANCE_MM` is flagged ``distance_unit_suspect`` with the reason (a
        distance in cm or m, unless an inching step across a focal lesion).

    Notes
    -----
    A CMAP's onset blends two estimators by its own signal-to-noise ratio (its
    ``onset_share``).  Two responses measured with shares more than 0.01 apart (e.g. a
    smaller proximal CMAP across a conduction block) difference onsets of estimators with
    slightly different biases: the segment is flagged ``onset_estimators_differ``.
    :func:`~edx.measure.study.measure_study` avoids it by measuring the sites of a motor
    test with one share (pass ``onset_share=`` to :func:`measure_cmap` to do the same).
    """
    if not (distance_mm > 0 and math.isfinite(distance_mm)):
        raise ValueError(f"distance_mm must be a positive number, got {distance_mm!r}")
    reasons: dict[str, str] = {}
    quality = set()
    for name, r in (("distal", distal), ("proximal", proximal)):
        if r.status in FAILURES:
            reasons["all"] = f"the {name} response could not be judged ({r.status})"
        elif r.present is False:
            reasons["cv"] = f"the {name} response is absent"
        quality |= {f"{name}:{q}" for q in r.quality}
    shares = [getattr(r, "onset_share", None) for r in (distal, proximal)]
    if None not in shares and abs(shares[0] - shares[1]) > 0.01:
        quality.add("onset_estimators_differ")
    cv = dl = None
    if distal.onset_latency_ms is not None and proximal.onset_latency_ms is not None and "all" not in reasons:
        dl = proximal.onset_latency_ms - distal.onset_latency_ms
        if dl > 0:
            cv = _plausible_cv(distance_mm, dl, distal.fs_hz, max_cv_m_s, reasons, quality)
        else:
            reasons["cv"] = ("the proximal onset is not later than the distal one (sites swapped?): no velocity, and "
                             "the amplitude, area and duration changes are not reported either")
    elif "cv" not in reasons and "all" not in reasons:
        reasons["cv"] = "an onset latency was not placed"

    def amp(r: CmapResult | SnapResult) -> float | None:
        return r.amplitude_mv if isinstance(r, CmapResult) else r.amplitude_uv

    def area(r: CmapResult | SnapResult) -> float | None:
        return r.neg_area_mvms if isinstance(r, CmapResult) else r.neg_area_uvms

    def drop(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or a <= 0 else 100.0 * (1.0 - b / a)

    inc = None
    if distal.neg_duration_ms and proximal.neg_duration_ms is not None:
        inc = 100.0 * (proximal.neg_duration_ms / distal.neg_duration_ms - 1.0)
    swapped = dl is not None and dl <= 0  # proximal relative to distal would read the wrong way round
    return SegmentResult(
        distance_mm=float(distance_mm),
        cv_m_s=cv,
        latency_difference_ms=dl,
        amplitude_drop_pct=None if swapped else drop(amp(distal), amp(proximal)),
        area_drop_pct=None if swapped else drop(area(distal), area(proximal)),
        duration_increase_pct=None if swapped else inc,
        quality=frozenset(quality),
        reasons=reasons,
    )


def sensory_velocity(response: SnapResult | CmapResult, distance_mm: float, *,
                     max_cv_m_s: float = MAX_CV_M_S) -> SegmentResult:
    """Conduction velocity from the stimulus to the recording electrodes: distance / onset latency.

    The sensory velocity of one stimulation site (CLINICAL.md §1): a sensory nerve action
    potential crosses no synapse, so its onset latency is conduction time alone.

    Parameters
    ----------
    response : SnapResult (or CmapResult)
        The measured response.
    distance_mm : float
        Stimulating cathode to active recording electrode (the site's distance in the manifest).
    max_cv_m_s : float
        As in :func:`conduction_velocity`.

    Returns
    -------
    SegmentResult
        ``cv_m_s`` and ``latency_difference_ms`` (the onset latency); the drops and the
        duration increase are None (one site).
    """
    if not (distance_mm > 0 and math.isfinite(distance_mm)):
        raise ValueError(f"distance_mm must be a positive number, got {distance_mm!r}")
    reasons: dict[str, str] = {}
    quality: set[str] = set()
    cv = None
    lat = response.onset_latency_ms
    if response.status in FAILURES:
        reasons["all"] = f"the response could not be judged ({response.status})"
    elif response.present is False:
        reasons["cv"] = "the response is absent"
    elif lat is None:
        reasons["cv"] = "the onset latency was not placed"
    elif not lat > 0:
        reasons["cv"] = "the onset latency is not after the stimulus"
    else:
        cv = _plausible_cv(distance_mm, lat, response.fs_hz, max_cv_m_s, reasons, quality)
    return SegmentResult(distance_mm=float(distance_mm), cv_m_s=cv, latency_difference_ms=lat,
                         amplitude_drop_pct=None, area_drop_pct=None, duration_increase_pct=None,
                         quality=frozenset(quality), reasons=reasons)
