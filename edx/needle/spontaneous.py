"""Spontaneous activity at rest: fibrillation potentials, positive sharp waves and their mimics.

:func:`detect_spontaneous` analyses one needle recording at rest; :class:`SpontaneousDetector`
does the same as a streaming detector (push chunks of any size, get the discharges as they
are confirmed; :meth:`SpontaneousDetector.result` then equals the batch result exactly);
:func:`grade_muscle` turns the results of several sites of one muscle into the grade a
reader writes in the report.

How it works (kernels in :mod:`edx.kernels.spontaneous`):

1. a causal band-pass (about 1 kHz) feeds a threshold detector whose noise level is a low
   percentile of the block RMS of the last second (discharges do not raise it);
2. every candidate is measured on the raw samples around it (centred smoothing, median
   baseline): peaks, initial phase, the slow negative phase after the positive peak,
   onset, end, phases, peak-to-peak amplitude; it is classified as a fibrillation
   potential (initial positive, short), a positive sharp wave (initial positive, then a
   slow negative phase), an end-plate spike (initial negative, short), a motor unit
   potential (larger than ~1 mV, longer, or polyphasic) or left unclassified (too small
   for its noise);
3. fibrillations and PSWs are grouped by shape (correlation with a running template,
   same kind, similar amplitude), causally, as they are confirmed;
4. at the end every group is judged: a train needs at least ``min_discharges``
   discharges at 0.5-15 Hz spanning at least ``min_span_s``, regular (interval CV, missed
   discharges allowed for) or, optionally, irregular but without the short intervals of
   end-plate spikes;
5. discharges in 1-s windows with voluntary motor unit potentials (and next to runs of
   them) are not grouped; with too little quiet rest left, or a rest next to voluntary
   units full of fibrillation-like discharges in no train (small myopathic units), the
   recording is ``not_at_rest`` and not graded.

Every threshold lives in ``edx/data/spontaneous.toml`` with its source; pass ``config=``
(a path or a dict with the same layout) to change them.

Conventions: samples in volts (G1 - G2; a fibrillation's first phase is positive),
times in seconds from the first sample; results in µV, ms, Hz.
"""

from __future__ import annotations

import functools
import logging
import math
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import SignalQualityError
from ..model import Recording, Trace
from .mup import small_noise_problem, volts_problem

__all__ = [
    "EventKind",
    "SpontaneousEvent",
    "SpontaneousTrain",
    "SpontaneousResult",
    "MuscleGrade",
    "SpontaneousDetector",
    "detect_spontaneous",
    "grade_muscle",
    "load_config",
    "GRADES",
]

logger = logging.getLogger(__name__)

EventKind = Literal["fibrillation", "positive_sharp_wave", "end_plate_spike", "motor_unit", "unclassified"]
#: Grades in increasing order.
GRADES: tuple[str, ...] = ("0", "1+", "2+", "3+", "4+")
_KIND_NAMES: dict[int, str] = {
    1: "fibrillation",
    2: "positive_sharp_wave",
    3: "end_plate_spike",
    4: "motor_unit",
    5: "unclassified",
}
_KIND_CODES: dict[str, int] = {v: k for k, v in _KIND_NAMES.items()}
#: Kind name per code (index), for building events in bulk.
_KIND_BY_CODE: tuple[str, ...] = tuple(_KIND_NAMES.get(c, "unclassified") for c in range(max(_KIND_NAMES) + 1))
#: Columns of the engine's event table (one array each, in time order).
_EVENT_COLUMNS = ("time_s", "code", "amplitude_uv", "duration_ms", "peak_time_s", "initial", "phases", "snr",
                  "noise_uv", "group", "end_open")
_COUNT_KEYS = ("fibrillation", "positive_sharp_wave", "end_plate_spike", "motor_unit", "fasciculation", "unclassified")


# ----------------------------------------------------------------------------- config


def _deep_update(base: dict[str, Any], over: Mapping[str, Any], path: str = "") -> None:
    for k, v in over.items():
        if k not in base:
            raise KeyError(f"unknown spontaneous-activity setting {path + k!r}")
        if isinstance(base[k], dict):
            if not isinstance(v, Mapping):
                raise TypeError(f"setting {path + k!r} is a table; give a mapping")
            _deep_update(base[k], v, path + k + ".")
        else:
            base[k] = v


@functools.lru_cache(maxsize=1)
def _packaged_config() -> dict[str, Any]:
    """The packaged settings, parsed once (callers get deep copies)."""
    text = resources.files("edx").joinpath("data/spontaneous.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _tree_copy(v: Any) -> Any:
    """A copy of parsed TOML (nested dicts and lists of immutable values): what
    ``copy.deepcopy`` gives, a few times faster (it is made on every detector)."""
    if isinstance(v, dict):
        return {k: _tree_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_tree_copy(x) for x in v]
    return v


def load_config(config: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings of the detector: the packaged ``spontaneous.toml`` overridden by ``config``.

    Parameters
    ----------
    config : str, Path, mapping or None
        A TOML file with (part of) the layout of ``edx/data/spontaneous.toml``, or a mapping
        of the same layout (``{"trains": {"min_discharges": 5}}``); keys it does not name
        keep their packaged value.  Unknown keys are errors.

    Returns
    -------
    dict
        The full, merged settings.
    """
    base = _tree_copy(_packaged_config())
    if config is None:
        return base
    if isinstance(config, (str, Path)):
        with open(config, "rb") as fh:
            over: Mapping[str, Any] = tomllib.load(fh)
    else:
        over = config
    merged = base
    _deep_update(merged, {k: v for k, v in over.items() if k != "schema"})
    return merged


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class SpontaneousEvent:
    """One detected discharge.

    Attributes
    ----------
    time_s : float
        Onset (first sample beyond the onset threshold; a slow initial phase is followed
        back on a heavier average), seconds from the first sample.
    kind : str
        ``"fibrillation"``, ``"positive_sharp_wave"``, ``"end_plate_spike"``,
        ``"motor_unit"`` (voluntary unit or fasciculation) or ``"unclassified"``.
    amplitude_uv : float
        Peak-to-peak amplitude.
    duration_ms : float or None
        Onset to end (threshold ``max(10 µV, 2 % of the amplitude, 3 noise SDs)``, confirmed
        by a quiet stretch after it: ``[measurement] end_gap_ms``).  None when the end was
        not found: the trace was still beyond the threshold when the search had to stop --
        at the look-ahead after the peak (``[measurement] post_ms``; a positive sharp wave's
        slow phase running on into a following potential or on noise), at the end of the
        samples, or where a potential split off this one begins.
    peak_time_s : float
        Positive peak (fibrillation, PSW) or negative peak (other kinds).
    initial_phase : {"positive", "negative"}
        Sign of the first phase.
    phases : int
        Phases between onset and end.
    snr : float
        Peak-to-peak amplitude over the noise SD of the smoothed trace.
    noise_uv : float
        Noise SD of the raw samples when the event was detected (detector's estimate).
    group_id : int or None
        Shape group (fibrillations and PSWs), assigned causally as the event is confirmed.
    train_id : int or None
        The train the discharge belongs to; None for discharges outside trains and for
        events returned by :meth:`SpontaneousDetector.push` (trains are judged at the end).
    shape_kind : str or None
        The kind the discharge's own waveform was classified as, when the result revised
        ``kind``: a discharge of another kind on a regular train's grid (``[trains]
        claim_k_sd``), or a fibrillation-like potential locked to another one, the two a
        motor unit potential's pieces (``[classification] link_min_discharges``); None
        otherwise, and for events returned by :meth:`SpontaneousDetector.push` (whose
        ``kind`` is the waveform's).
    """

    time_s: float
    kind: str
    amplitude_uv: float
    duration_ms: float | None
    peak_time_s: float
    initial_phase: Literal["positive", "negative"]
    phases: int
    snr: float
    noise_uv: float
    group_id: int | None = None
    train_id: int | None = None
    shape_kind: str | None = None


@dataclass(frozen=True, slots=True)
class SpontaneousTrain:
    """A train of fibrillation potentials or positive sharp waves from one source.

    Attributes
    ----------
    train_id : int
        Index of the train in the result.
    kind : {"fibrillation", "positive_sharp_wave"}
    n : int
        Discharges found.
    firing_rate_hz : float
        Periods per second between the first and the last discharge; an interval that is
        a whole multiple of the period counts as that many periods (missed discharges).
    interval_cv : float or None
        Coefficient of variation of the intervals (each divided by its multiple).
    regular : bool
        ``interval_cv`` at most the regular limit of the settings.
    amplitude_uv : float
        Mean over the discharges.
    duration_ms : float or None
        Median over the discharges whose end was found (see
        :attr:`SpontaneousEvent.duration_ms`; a discharge whose end was read on into a
        following potential hardly moves it); None when no discharge's end was found.
    first_s, last_s : float
        Onsets of the first and last discharge.
    times_s : tuple of float
        Onsets of all discharges.
    """

    train_id: int
    kind: str
    n: int
    firing_rate_hz: float
    interval_cv: float | None
    regular: bool
    amplitude_uv: float
    duration_ms: float | None
    first_s: float
    last_s: float
    times_s: tuple[float, ...] = field(repr=False)


@dataclass(frozen=True)
class SpontaneousResult:
    """Spontaneous activity of one recording (one needle site at rest).

    Attributes
    ----------
    status : {"ok", "flat", "too_short", "not_at_rest"}
        ``"ok"``: judged; ``"flat"``: no signal (nothing reported); ``"too_short"``:
        events listed but trains and grade not judged; ``"not_at_rest"``: voluntary
        motor unit activity, or a baseline noisier than ``[quality] rest_noise_max_uv``
        (a full interference pattern, interference), leaves less than
        ``min_duration_s`` of quiet rest to judge trains and grade (also when the quiet rest
        shows no trains but ``[quality] zero_max_hidden_discharges`` or more fibrillation-like
        discharges lie where the muscle is not at rest, or the rest left between them is shorter than
        ``[quality] zero_min_rest_s``: "none" is not claimed; also when, next to
        voluntary units, the quiet rest holds ``[quality] voluntary_max_orphan_rate_hz`` or more
        fibrillation-like discharges per second in no train) -- unless no voluntary
        units are seen, nearly all discharges are fibrillations or PSWs (dense spontaneous
        activity raises the noise itself; ``[quality] noisy_grade_*``) and trains are found
        on the noisy baseline: then ``"ok"`` with the flag ``grade_lower_bound``.
    fs_hz, duration_s : float
    noise_uv : float or None
        Noise SD of the raw samples estimated from the detector's noise level (white
        noise model); None if never estimated.
    hum_uv : float
        Amplitude (peak) of the larger of the 50 and 60 Hz components.
    events : tuple of SpontaneousEvent
    trains : tuple of SpontaneousTrain
        Fibrillation and PSW trains only.
    counts : mapping of str to int
        Events per kind, plus ``"fasciculation"``: motor unit potentials with no other
        within the isolation window (fasciculation candidates).
    grade : {"0", "1+", "2+", "3+", "4+"} or None
        Single-site grade of fibrillations and PSWs; None when it cannot be judged.
    filled_fraction : float
        Fraction of the recording covered by the potentials of the trains.
    quality : frozenset of str
        ``clipped``, ``flat``, ``too_short``, ``hum``, ``voluntary_activity``,
        ``not_at_rest``, ``noisy_baseline``, ``grade_lower_bound``, ``short_rest`` (grade
        "0" from a rest shorter than ``[quality] zero_min_rest_s``: slow trains may be missed).
    reasons : mapping of str to str
        Why something was not judged or is flagged.
    """

    status: str
    fs_hz: float
    duration_s: float
    noise_uv: float | None
    hum_uv: float
    events: tuple[SpontaneousEvent, ...]
    trains: tuple[SpontaneousTrain, ...]
    counts: Mapping[str, int]
    grade: str | None
    filled_fraction: float
    quality: frozenset[str]
    reasons: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """True when the recording could be judged."""
        return self.status == "ok"


@dataclass(frozen=True)
class MuscleGrade:
    """Grade of fibrillations and positive sharp waves of one muscle over several sites.

    Attributes
    ----------
    grade : {"0", "1+", "2+", "3+", "4+"} or None
        None when no site could be judged.
    n_sites : int
        Sites judged.
    n_sites_with_trains : int
        Sites with at least one fibrillation/PSW train.
    site_grades : tuple of str or None
    reasons : mapping of str to str
    """

    grade: str | None
    n_sites: int
    n_sites_with_trains: int
    site_grades: tuple[str | None, ...]
    reasons: Mapping[str, str]


# ----------------------------------------------------------------------------- engine


def _ms(v: float, fs: float) -> int:
    return int(round(float(v) * 1e-3 * fs))


class _Engine:
    """Streaming core shared by the batch call and :class:`SpontaneousDetector`."""

    def __init__(self, fs_hz: float, cfg: dict[str, Any], rail_v: float | None) -> None:
        from ..kernels import spontaneous as K

        self.K = K
        if not (isinstance(fs_hz, (int, float)) and math.isfinite(fs_hz) and fs_hz >= 2000.0):
            raise ValueError(f"fs_hz must be a finite sampling rate >= 2000 Hz, got {fs_hz!r}")
        self.fs = float(fs_hz)
        self.cfg = cfg
        self.failed: str | None = None  # why the samples cannot be judged (samples not in volts)
        d, m, c, t = cfg["detection"], cfg["measurement"], cfg["classification"], cfg["trains"]
        fs = self.fs
        p = np.zeros(K.N_PARAMS)
        p[K.P_FS_HZ] = fs
        p[K.P_F0_HZ] = min(float(d["band_center_hz"]), 0.25 * fs)
        p[K.P_Q] = float(d["band_q"])
        p[K.P_K_THRESHOLD] = float(d["k_threshold"])
        p[K.P_BLOCK] = max(8, _ms(d["block_ms"], fs))
        p[K.P_N_BLOCKS] = int(d["n_blocks"])
        p[K.P_PERCENTILE] = float(d["noise_percentile"])
        p[K.P_GAP] = max(1, _ms(d["gap_ms"], fs))
        p[K.P_HYSTERESIS] = float(d["hysteresis"])
        p[K.P_FLOOR_V] = 1e-12
        if rail_v is not None and not (math.isfinite(float(rail_v)) and float(rail_v) > 0.0):
            raise ValueError(f"rail_v must be the amplifier's positive rail in volts, got {rail_v!r}")
        p[K.P_RAIL_V] = np.nan if rail_v is None else float(rail_v)
        p[K.P_HUM_DECIMATE] = max(1, int(round(fs / float(d["hum_decimate_hz"]))))
        p[K.P_MAX_CANDIDATE] = max(2, _ms(d["max_candidate_ms"], fs))
        p[K.P_SPLIT_RISE] = float(d["split_rise"])
        p[K.P_SPLIT_VALLEY] = float(d["split_valley_fraction"])
        p[K.P_SPLIT_BACK] = max(0, _ms(d["split_back_ms"], fs))
        p[K.P_CORE_GAP] = max(1, _ms(m["core_gap_ms"], fs))
        p[K.P_CORE_FRACTION] = float(m["core_fraction"])
        p[K.P_SECOND_FRACTION] = float(m["second_fraction"])
        p[K.P_SECOND_SNR] = float(m["second_snr"])
        p[K.P_SECOND_SEPARATION] = max(1, _ms(m["second_separation_ms"], fs))
        p[K.P_SMOOTH_HALF] = max(0, _ms(m["smooth_half_ms"], fs))
        p[K.P_BASE_FROM] = max(3, _ms(m["baseline_from_ms"], fs))
        p[K.P_BASE_TO] = _ms(m["baseline_to_ms"], fs)
        p[K.P_SPIKE_MARGIN] = _ms(m["spike_margin_ms"], fs)
        p[K.P_BASE_BEFORE_PEAK] = _ms(m["baseline_before_peak_ms"], fs)
        p[K.P_FIRST_LOBE_BACK] = max(1, _ms(m["first_lobe_ms"], fs))
        p[K.P_PRE] = (p[K.P_BASE_FROM] - p[K.P_BASE_TO] + p[K.P_BASE_BEFORE_PEAK] + p[K.P_FIRST_LOBE_BACK]
                      + p[K.P_MAX_CANDIDATE] + p[K.P_SPIKE_MARGIN] + p[K.P_SMOOTH_HALF] + 2)
        p[K.P_POST] = max(_ms(m["post_ms"], fs), _ms(m["slow_to_ms"], fs) + _ms(m["first_lobe_ms"], fs)) + 1
        p[K.P_FIRST_LOBE_FRACTION] = float(m["first_lobe_fraction"])
        p[K.P_SLOW_FROM] = _ms(m["slow_from_ms"], fs)
        p[K.P_SLOW_TO] = _ms(m["slow_to_ms"], fs)
        p[K.P_SLOW_FRACTION] = float(c["psw_slow_fraction"])
        p[K.P_SLOW_Z] = float(c["psw_slow_z"])
        p[K.P_END_SMOOTH_HALF] = max(0, _ms(m["end_smooth_half_ms"], fs))
        p[K.P_END_GAP] = max(1, _ms(m["end_gap_ms"], fs))
        p[K.P_ONSET_GAP] = max(1, _ms(m["onset_gap_ms"], fs))
        p[K.P_ONSET_SMOOTH_HALF] = max(0, _ms(m["onset_smooth_half_ms"], fs))
        p[K.P_ONSET_SMOOTH_GAP] = max(1, _ms(m["onset_smooth_gap_ms"], fs))
        p[K.P_DURATION_FLOOR_V] = float(m["duration_floor_uv"]) * 1e-6
        p[K.P_DURATION_FRACTION] = float(m["duration_fraction"])
        p[K.P_DURATION_K_NOISE] = float(m["duration_k_noise"])
        p[K.P_PHASE_FRACTION] = float(m["phase_fraction"])
        p[K.P_FIB_MAX_DURATION] = float(c["fibrillation_max_duration_ms"]) * 1e-3 * fs
        p[K.P_PSW_MAX_DURATION] = float(c["psw_max_duration_ms"]) * 1e-3 * fs
        p[K.P_EPS_MAX_DURATION] = float(c["end_plate_max_duration_ms"]) * 1e-3 * fs
        p[K.P_SPIKE_MAX_PP_V] = float(c["spike_max_amplitude_uv"]) * 1e-6
        p[K.P_MUP_MIN_PHASES] = float(c["mup_min_phases"])
        p[K.P_MIN_SNR] = float(c["min_snr"])
        p[K.P_MIN_PP_RAW_SNR] = float(c["min_raw_snr"])
        p[K.P_MIN_PP_V] = float(c["min_amplitude_uv"]) * 1e-6
        p[K.P_FAST_WINDOW] = max(1, _ms(m["fast_window_ms"], fs))
        coef = K.bandpass_coefficients(p[K.P_F0_HZ], p[K.P_Q], fs)
        imp = np.zeros(int(0.1 * fs))  # 0.1 s of impulse response (it decays within a few ms)
        imp[0] = 1.0
        h = K.bandpass(imp, coef, np.zeros(2))
        p[K.P_E_GAIN] = math.sqrt(float(np.dot(h, h)))
        # the time the noise level stays above the rest limit is counted (not a quiet rest)
        p[K.P_QUIET_MAX_E] = float(cfg["quality"]["rest_noise_max_uv"]) * 1e-6 * p[K.P_E_GAIN]
        self.p = p
        self.state = np.zeros(K.state_size(int(p[K.P_N_BLOCKS])))
        K.init_state(self.state)
        self.pre = int(p[K.P_PRE])
        self.post = int(p[K.P_POST])
        # snippets for shape grouping, at about snippet_rate_hz
        self.snip_step = max(1, int(round(fs / float(t["snippet_rate_hz"]))))
        self.snip_before = _ms(t["snippet_before_ms"], fs)
        self.snip_len_full = self.snip_before + _ms(t["snippet_after_ms"], fs)
        self.max_lag = max(1, int(round(float(t["max_lag_ms"]) * 1e-3 * fs / self.snip_step)))
        # buffers
        self.buf = np.zeros(0)
        self.buf_start = 0
        self.pending = np.zeros((0, K.N_CAND))
        # groups (causal shape clustering)
        self.templates = np.zeros((16, len(range(0, self.snip_len_full, self.snip_step))))
        self.t_count = np.zeros(16, dtype=np.int64)
        self.t_kind = np.zeros(16, dtype=np.int64)
        self.t_amp = np.zeros(16)
        # peel-off: a raw template per group (its first members), subtracted from later ones
        self.peel_before = max(1, _ms(m["peel_before_ms"], fs))
        self.peel_after = max(1, _ms(m["peel_after_ms"], fs))
        self.r_sum = np.zeros((16, self.peel_before + self.peel_after))
        self.r_n = np.zeros(16, dtype=np.int64)
        self.r_grp = np.zeros(16, dtype=np.int64)
        self.tplc = np.zeros((16, self.peel_before + self.peel_after))  # complete ones / members, as needed
        self.tpl_ok = np.zeros(16, dtype=bool)
        self.n_raw = 0
        self.gp = np.array([
            float(t["min_correlation"]), float(t["max_amplitude_ratio"]), float(self.max_lag), float(self.snip_before),
            float(self.snip_step), float(self.snip_len_full), float(int(m["peel_members"])), float(self.peel_before),
            float(self.peel_after), float(max(0, _ms(m["peel_lag_ms"], fs))), float(m["peel_snr"]),
            float(m["peel_fraction"]), float(max(1, _ms(m["peel_separation_ms"], fs))),
            float(max(1, int(round(float(m["duplicate_ms"]) * 1e-3 * fs)))), 0.0, float(m["peel_fit_sd"]),
            float(int(m["peel_templates_per_group"])), 0.0, 0.0, 0.0,
        ])
        margin = int(p[K.P_SPIKE_MARGIN])
        h = int(p[K.P_SMOOTH_HALF])
        peel_shift = int(self.gp[9])
        # Streaming equals batch by construction: a candidate is measured and grouped only
        # once every sample any of that may read is known, and in one global order.
        # * reach: samples after a scanned candidate's end (C_END) that measure and
        #   group_and_peel may read.  A second potential split off by measure has its peak
        #   and end within the spike region (< C_END + margin + 1), hence its own spike region
        #   ends before C_END + 2 * margin + 1 and so do the alignment samples of every row;
        #   measure reads up to a row's peak + post, the peel-off's residual up to
        #   max(end, second peak) + post + 4 and the raw templates up to the alignment sample
        #   + peel_after + peel_lag.  The windows are clipped at the samples known so far
        #   (n_total), which would otherwise depend on where the chunks end.
        # * lead: samples an alignment sample may lie before its scanned candidate's start
        #   (every row lies in its measure window, which starts margin + first_lobe +
        #   baseline_before_peak + (base_from - base_to) + h + 1 before the row's start, and a
        #   split row starts at most margin before its candidate).
        # * back: samples kept before the earliest pending candidate's start (measure
        #   windows, the peel-off residual and the raw templates around alignment samples
        #   up to lead before it).
        self.reach = 2 * margin + max(self.post + 5, self.peel_after + peel_shift + 2) + 8
        self.lead = (2 * margin + int(p[K.P_FIRST_LOBE_BACK]) + int(p[K.P_BASE_BEFORE_PEAK])
                     + int(p[K.P_BASE_FROM]) - int(p[K.P_BASE_TO]) + h + 2)
        self.back = max(self.pre + margin + 8, self.lead + self.peel_before + peel_shift + h + 8,
                        self.pre + 2 * margin + h + 8)
        self.n_groups = 0
        self.last_align = -(1 << 62)
        self.last_on = -(1 << 52)  # onset and end of the last event grouped
        self.last_en = -(1 << 52)
        self._chunks: list[dict[str, np.ndarray]] = []  # event columns, one dict per confirmation
        self.finished = False

    # -- sample flow -------------------------------------------------------------------
    @property
    def n_total(self) -> int:
        return int(self.state[self.K.S_N])

    def push(self, x: np.ndarray, build: bool = True) -> list[SpontaneousEvent]:
        """Scan ``x``; return the events it confirms (objects only when ``build``)."""
        K = self.K
        if self.finished:
            raise RuntimeError("the detector was flushed; create a new one for a new recording")
        if self.failed is not None:
            raise SignalQualityError(self.failed)
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"expected 1-D samples, got shape {x.shape}")
        if x.size == 0:
            return []
        cand = np.empty((x.size // int(self.p[K.P_GAP]) + 2, K.N_CAND))
        before = int(self.state[K.S_NONFINITE])
        saved = self.state.copy()  # (small: the filter, noise and candidate state)
        nc = K.scan(x, self.state, self.p, cand)
        bad = int(self.state[K.S_NONFINITE]) - before
        if bad:
            # the chunk is not taken: the detector is left as before it, so that the same
            # samples, repaired, can be pushed again
            self.state[:] = saved
            first = self.n_total + int(np.flatnonzero(~np.isfinite(x))[0])
            raise SignalQualityError(
                f"{bad} non-finite sample(s) (NaN or inf), the first at sample {first} "
                f"({first / self.fs:.4f} s): remove or interpolate them before detecting spontaneous activity "
                "(a streamed chunk holding them is not taken: push it again repaired)"
            )
        self._check_volts()
        if self.buf.size == 0:
            self.buf = x
            self.buf_start = self.n_total - x.size
        else:
            self.buf = np.concatenate([self.buf, x])
        if nc:
            self.pending = np.concatenate([self.pending, cand[:nc]]) if self.pending.size else cand[:nc].copy()
        out = self._confirm(final=False, build=build)
        self._trim()
        return out

    def _check_volts(self) -> None:
        """Refuse samples no needle recording in volts holds (``[quality] max_abs_v``,
        ``max_offset_v``), judged on the range seen so far; the detector stays failed (every
        later call raises the same error, and so does the result)."""
        K = self.K
        q = self.cfg["quality"]
        why = volts_problem(float(self.state[K.S_XMIN]), float(self.state[K.S_XMAX]), float(q["max_abs_v"]),
                            float(q["max_offset_v"]))
        if why is not None:
            self.failed = why
            raise SignalQualityError(why)

    def flush(self, build: bool = True) -> list[SpontaneousEvent]:
        K = self.K
        if self.failed is not None:
            raise SignalQualityError(self.failed)
        if self.finished:
            return []
        cand = np.empty((1, K.N_CAND))
        if K.close_candidate(self.state, cand):
            self.pending = np.concatenate([self.pending, cand]) if self.pending.size else cand
        out = self._confirm(final=True, build=build)
        self.finished = True
        return out

    def _trim(self) -> None:
        K = self.K
        keep = self.n_total - self.back
        if self.state[K.S_IN] != 0.0:
            keep = min(keep, int(self.state[K.S_CSTART]) - self.back)
        if self.pending.size:
            keep = min(keep, int(self.pending[:, K.C_START].min()) - self.back)
        keep = max(keep, self.buf_start)
        if keep - self.buf_start > max(self.buf.size // 2, 4096):
            self.buf = self.buf[keep - self.buf_start :].copy()
            self.buf_start = keep

    def _confirm(self, final: bool, build: bool = True) -> list[SpontaneousEvent]:
        K = self.K
        if not self.pending.size:
            return []
        n_total = self.n_total
        if final:
            ready = np.ones(self.pending.shape[0], dtype=bool)
        else:
            # every sample the candidate's measurement and peel-off may read is known
            ready = self.pending[:, K.C_END] + self.reach <= n_total
        if not ready.any():
            return []
        source = np.ascontiguousarray(self.pending[ready])
        later = self.pending[~ready]
        rows = source.copy()
        m = rows.shape[0]
        src = np.arange(m)  # the scanned candidate (row of source) each row comes from
        split = np.zeros(m, dtype=np.int64)  # 1: the second potential split off it
        ls = self.templates.shape[1]
        feats = np.empty((m, K.N_FEATURES))
        snips = np.empty((m, ls))
        second = np.empty((m, K.N_CAND + 2))
        K.measure(self.buf, self.buf_start, n_total, rows, self.p, feats, snips, self.snip_before, self.snip_step,
                  second)
        found = second[:, K.C_START] >= 0
        if found.any():
            # two potentials in one candidate: the first measured again without the
            # second, the second measured within its own side of the candidate
            idx = np.flatnonzero(found)
            again = rows[idx].copy()
            again[:, K.C_LO] = second[idx, K.N_CAND]
            again[:, K.C_HI] = second[idx, K.N_CAND + 1]
            extra = np.ascontiguousarray(np.concatenate([again, second[idx, : K.N_CAND]]))
            k2 = extra.shape[0]
            f2 = np.empty((k2, K.N_FEATURES))
            s2 = np.empty((k2, ls))
            K.measure(self.buf, self.buf_start, n_total, extra, self.p, f2, s2, self.snip_before, self.snip_step,
                      np.empty((0, K.N_CAND + 2)))
            feats[idx] = f2[: idx.size]
            snips[idx] = s2[: idx.size]
            rows[idx] = again
            feats = np.concatenate([feats, f2[idx.size :]])
            snips = np.concatenate([snips, s2[idx.size :]])
            rows = np.concatenate([rows, extra[idx.size :]])
            src = np.concatenate([src, idx])
            split = np.concatenate([split, np.ones(idx.size, dtype=np.int64)])
        # one total order of all rows, whatever the chunks: alignment sample, then the
        # scanned candidates' own rows before the potentials split off them, then the
        # candidate's start (the order matters: of two rows with the same potential, within
        # the duplicate distance, the first is kept)
        order = np.lexsort((source[src, K.C_START], split, feats[:, K.F_ALIGN]))
        feats, snips, rows, src = feats[order], snips[order], rows[order], src[order]
        if not final:
            # grouping is sequential: a row is grouped only when no row still to come can
            # precede it in that order (the candidates not ready, the one being scanned
            # and those not yet begun start at or after `first`, their rows align at or
            # after first - lead); the candidates of the rows held back wait whole
            first = n_total
            if later.size:
                first = min(first, int(later[:, K.C_START].min()))
            if self.state[K.S_IN] != 0.0:
                first = min(first, int(self.state[K.S_CSTART]))
            held = np.zeros(m, dtype=bool)
            held[src[feats[:, K.F_ALIGN] >= first - self.lead]] = True
            cut = feats.shape[0]
            while True:  # the rows before the first of a held candidate's; theirs held too
                hit = np.flatnonzero(held[src[:cut]])
                if not hit.size:
                    break
                cut = int(hit[0])
                held[src[cut:]] = True
            if cut < feats.shape[0]:
                later = np.concatenate([source[held], later]) if later.size else source[held]
                feats, snips, rows = feats[:cut], snips[:cut], rows[:cut]
        self.pending = later
        return self._make_events(rows, feats, snips, build)

    # -- grouping ----------------------------------------------------------------------
    def _make_events(self, rows: np.ndarray, feats: np.ndarray, snips: np.ndarray,
                     build: bool = True) -> list[SpontaneousEvent]:
        K = self.K
        fs = self.fs
        smooth = 2 * int(self.p[K.P_SMOOTH_HALF]) + 1
        m = feats.shape[0]
        if m == 0:
            return []
        feats = np.ascontiguousarray(feats)
        rows = np.ascontiguousarray(rows)
        sn = np.ascontiguousarray(snips)
        noise_w = feats[:, K.F_NOISE_V] / math.sqrt(smooth)
        need = self.n_groups + 2 * m
        if need > self.templates.shape[0]:
            # room for the groups this call may start (rows past n_groups are written before
            # they are read: left uninitialised, so that untouched pages cost nothing)
            cap = max(need, 2 * self.templates.shape[0])
            ng = self.n_groups
            self.templates, self.t_count, self.t_kind, self.t_amp = (
                _grown(a, ng, cap) for a in (self.templates, self.t_count, self.t_kind, self.t_amp))
        fo = np.empty((2 * m, K.N_FEATURES))
        go = np.empty(2 * m, dtype=np.int64)
        # the kernel leaves out a row within the duplicate distance of the previous event
        # (the same potential found again by a later candidate)
        self.gp[14] = float(max(self.last_align, -(1 << 52)))
        self.gp[17] = float(self.last_on)
        self.gp[18] = float(self.last_en)
        cnt = np.array([0, 0, self.n_raw, 0, 0, 0], dtype=np.int64)
        self.r_sum, self.r_n, self.r_grp, self.tplc, self.tpl_ok = K.group_and_peel(
            self.buf, self.buf_start, self.n_total, rows, feats, sn, noise_w, self.p, self.gp, self.templates,
            self.t_count, self.t_kind, self.t_amp, self.n_groups, self.r_sum, self.r_n, self.r_grp, self.tplc,
            self.tpl_ok, fo, go, cnt)
        self.last_align = int(cnt[3])
        self.last_on = int(cnt[4])
        self.last_en = int(cnt[5])
        m = int(cnt[0])
        self.n_groups = int(cnt[1])
        self.n_raw = int(cnt[2])
        if m == 0:
            return []
        feats, gids = fo[:m], go[:m]
        codes = feats[:, K.F_KIND].astype(np.int64)
        pps = feats[:, K.F_PP_V]
        noise_w = feats[:, K.F_NOISE_V] / math.sqrt(smooth)
        spike = (codes == K.K_FIBRILLATION) | (codes == K.K_PSW)
        peak_idx = np.where(spike, feats[:, K.F_POS_PEAK], feats[:, K.F_NEG_PEAK])
        cols = {
            "time_s": feats[:, K.F_ONSET] / fs,
            "code": codes,
            "amplitude_uv": pps * 1e6,
            "duration_ms": (feats[:, K.F_END] - feats[:, K.F_ONSET]) / fs * 1e3,
            "peak_time_s": peak_idx / fs,
            "initial": feats[:, K.F_INITIAL].copy(),
            "phases": feats[:, K.F_PHASES].astype(np.int64),
            "snr": np.where(noise_w > 0, pps / np.where(noise_w > 0, noise_w, 1.0), np.inf),
            "noise_uv": feats[:, K.F_NOISE_V] * 1e6,
            "group": gids,
            # the end not found within the look-ahead: duration_ms is a lower bound (the
            # engine's rules use it as such; the events report no duration)
            "end_open": feats[:, K.F_END_OPEN] > 0.0,
        }
        self._chunks.append(cols)
        return _events_from(cols, None) if build else []

    def columns(self) -> dict[str, np.ndarray]:
        """The event table so far: one array per name of ``_EVENT_COLUMNS``, in time order."""
        if len(self._chunks) != 1:
            if not self._chunks:
                return {k: np.zeros(0, dtype=bool if k == "end_open" else np.int64 if k in ("code", "phases", "group")
                                    else np.float64)
                        for k in _EVENT_COLUMNS}
            self._chunks = [{k: np.concatenate([c[k] for c in self._chunks]) for k in _EVENT_COLUMNS}]
        return self._chunks[0]

    # -- final result ------------------------------------------------------------------
    def result(self) -> SpontaneousResult:
        if self.failed is not None:
            raise SignalQualityError(self.failed)
        if not self.finished:
            raise RuntimeError("call flush() first")
        return _build_result(self)


#: The slots of SpontaneousEvent in field order, set column by column by :func:`_events_from`.
_EVENT_SLOTS = tuple(getattr(SpontaneousEvent, f.name).__set__ for f in fields(SpontaneousEvent))


def _grown(a: np.ndarray, n_used: int, cap: int) -> np.ndarray:
    """``a`` with ``cap`` rows, the first ``n_used`` kept and the others uninitialised."""
    out = np.empty((cap,) + a.shape[1:], dtype=a.dtype)
    out[:n_used] = a[:n_used]
    return out


def _events_from(cols: Mapping[str, np.ndarray], train: np.ndarray | None) -> list[SpontaneousEvent]:
    """Build the event objects of an event table in bulk (``train``: train per event, -1 none).

    The objects are made empty and their slots filled a column at a time (the class has
    no ``__post_init__``; the same objects as calling it field by field, in half the
    time of its frozen ``__init__``)."""
    n = cols["time_s"].size
    if n == 0:
        return []
    kinds = list(map(_KIND_BY_CODE.__getitem__, cols["code"].tolist()))
    init = list(map(("negative", "positive").__getitem__, (cols["initial"] > 0).tolist()))
    dur = cols["duration_ms"].tolist()
    if cols["end_open"].any():
        for i in np.flatnonzero(cols["end_open"]).tolist():
            dur[i] = None
    values = (cols["time_s"].tolist(), kinds, cols["amplitude_uv"].tolist(), dur,
              cols["peak_time_s"].tolist(), init, cols["phases"].tolist(), cols["snr"].tolist(),
              cols["noise_uv"].tolist(), _or_none(cols["group"]), _or_none(train, n),
              [None if c < 0 else _KIND_BY_CODE[c] for c in cols["shape_code"].tolist()] if "shape_code" in cols
              else [None] * n)
    out = list(map(object.__new__, [SpontaneousEvent] * n))
    for put, col in zip(_EVENT_SLOTS, values):
        deque(map(put, out, col), 0)
    return out


def _or_none(a: np.ndarray | None, n: int = 0) -> list[int | None]:
    """``a`` as a list of ints with None for the negative entries (all None if ``a`` is None,
    ``n`` long)."""
    if a is None:
        return [None] * n
    out: list[int | None] = [None] * a.size
    hit = np.flatnonzero(a >= 0)
    for i, v in zip(hit.tolist(), a[hit].tolist()):
        out[i] = v
    return out


def _hum_uv(state: np.ndarray, K: Any) -> float:
    n = state[K.S_HN]
    if n < 2:
        return 0.0
    a50 = 2.0 * math.hypot(state[K.S_H50C], state[K.S_H50S]) / n
    a60 = 2.0 * math.hypot(state[K.S_H60C], state[K.S_H60S]) / n
    return max(a50, a60) * 1e6


def _chains(times: np.ndarray, tol: float, max_periods: int = 10) -> list[np.ndarray]:
    """Candidate chains of discharges at whole multiples of one period, longest first.

    Seeds: each of the first four discharges with each of the eight after it (their
    interval is the trial period); the chain then accepts, in time order, a discharge
    whose distance from the last accepted one is ``k`` periods within ``tol * sqrt(k)``
    (``1 <= k <= max_periods``; missed discharges), the closest to the prediction when
    several are, and updates the period as the mean interval per period.  Discharges between (another source of the same shape, strays) are skipped.
    Distinct chains only, equal lengths in lexicographic order (one numba call,
    :func:`edx.kernels.spontaneous.seed_chains`); each an array of positions in ``times``.
    """
    from ..kernels.spontaneous import seed_chains

    members, lens = seed_chains(np.ascontiguousarray(times, dtype=np.float64), tol, max_periods)
    return [members[c, : lens[c]] for c in range(lens.size)]


def _best_chain(
    times: np.ndarray, K: Any, tol: float, nmin: int, lo: float, hi: float, cv_reg: float, cov_min: float,
    max_chance: float, all_times: np.ndarray | None = None,
) -> tuple[list[int], float, float]:
    """The longest chain of :func:`_chains` that is a regular train: at least ``nmin``
    discharges, rate within ``lo..hi``, interval CV <= ``cv_reg``, coverage >= ``cov_min``
    and a chance of stray hits <= ``max_chance`` (from the density of the other
    discharges of ``all_times``, default ``times``: the whole group, also the discharges
    of trains already taken from it).  ``([], nan, nan)`` if none."""
    ref = times if all_times is None else all_times
    for cand in _chains(times, tol):
        if len(cand) < nmin:
            break
        st = K.interval_stats(np.ascontiguousarray(times[cand]), tol)
        r_, cv_ = float(st[0]), float(st[1])
        coverage = len(cand) / (float(st[2]) + 1.0)
        # chance: how likely a same-shape discharge of the group falls into a predicted
        # window anyway (density of the others within the chain's span)
        t0, t1 = times[cand[0]], times[cand[-1]]
        n_other = int(np.count_nonzero((ref >= t0) & (ref <= t1))) - len(cand)
        period = float(st[3]) if math.isfinite(st[3]) else math.inf
        chance = 1.0 - math.exp(-n_other / max(t1 - t0, 1e-9) * 2.0 * tol * period)
        if (math.isfinite(r_) and lo <= r_ <= hi and math.isfinite(cv_) and cv_ <= cv_reg
                and coverage >= cov_min and chance <= max_chance):
            return cand.tolist(), r_, cv_
    return [], math.nan, math.nan


def _on_grid(dist: np.ndarray, period: float, tol: float, max_k: int, d: int) -> np.ndarray:
    """Distances that are a whole number ``k`` (``1 <= k <= max_k``, not a multiple of ``d``
    when ``d > 1``) of periods, within ``tol * sqrt(k)`` periods."""
    r = dist / period
    k = np.floor(r + 0.5)
    ok = (k >= 1) & (k <= max_k) & (np.abs(r - k) <= tol * np.sqrt(k))
    if d > 1:
        ok &= k % d != 0
    return ok


def _merge_trains(
    found: list[tuple[list[int], float, float, bool]], ev: Mapping[str, Any], args: tuple
) -> list[tuple[list[int], float, float, bool]]:
    """Join regular trains that are one source split into several shape groups.

    Train B joins train A (same kind, mean amplitudes within a factor 1.5, B not faster
    than A) when at least 75 % of B's discharges lie on A's period grid: a whole number
    ``k >= 1`` of A's periods from A's nearest discharge, within ``tol * sqrt(k)``.  Such a
    B is mostly discharges of A's source that the shape grouping put elsewhere: those on
    the grid join A, the others (strays) are dropped from trains.  B also joins A when it fires at A's rate
    (within 2 %) before or after A without overlapping it (the same fibre after a gap:
    a fibrillating fibre keeps its rate), and when both fire at the same rate, overlapping
    in time, with B's discharges between A's on a grid of A's period / d (d = 2..4): one
    source whose discharges the shape grouping dealt out to d groups (rate d times
    theirs).  The joined
    train's rate and CV are recomputed over all its discharges.
    """
    K, tol = args[0], args[1]
    ev_t, ev_amp, ev_code, tl = ev["time_s"], ev["amplitude_uv"], ev["code"], ev["time_list"]
    max_k = 40
    absorb = 0.75
    out = list(found)
    changed = True
    while changed:
        changed = False
        order = sorted(range(len(out)), key=lambda j: -out[j][1])
        for a in order:
            ia, ra, _, rega = out[a]
            if not rega:
                continue
            ta = ev_t[ia]
            pa = 1.0 / ra
            amp_a = float(np.mean(ev_amp[ia]))
            for b in order:
                if b == a:
                    continue
                ib, rb, _, regb = out[b]
                if not regb or rb > ra * 1.02 or ev_code[ib[0]] != ev_code[ia[0]]:
                    continue
                amp_b = float(np.mean(ev_amp[ib]))
                if max(amp_a, amp_b) > 1.5 * min(amp_a, amp_b):
                    continue
                # each of B's discharges: distance to A's nearest
                tb = ev_t[ib]
                tas = np.sort(ta)
                q = np.searchsorted(tas, tb)
                dist = np.minimum(np.abs(tas[np.maximum(q - 1, 0)] - tb), np.abs(tas[np.minimum(q, ta.size - 1)] - tb))
                on = _on_grid(dist, pa, tol, max_k, 1)
                grid = [i for i, o in zip(ib, on.tolist()) if o]
                on_grid = len(grid)
                ta0, ta1 = ta[0], ta[-1]
                tb0, tb1 = tl[ib[0]], tl[ib[-1]]
                apart = tb0 > ta1 or tb1 < ta0
                same_rate = abs(rb - ra) <= 0.02 * ra
                split = 0
                if on_grid < absorb * len(ib) and same_rate and not apart:
                    # the same source split into groups that each hold every d-th discharge:
                    # B lies between A's discharges on a grid of A's period / d
                    for d in (2, 3, 4):
                        hits = int(np.count_nonzero(_on_grid(dist, pa / d, tol, max_k, d)))
                        if hits >= 0.9 * len(ib):
                            split = d
                            break
                if on_grid < absorb * len(ib) and not (apart and same_rate) and not split:
                    continue
                keep_b = ib if ((apart and same_rate) or split) else grid
                idx = sorted(ia + keep_b, key=lambda i: tl[i])
                if split:
                    # rate of the source: d times that of each part (the parts' CV kept)
                    out[a] = (idx, split * ra, out[a][2], True)
                else:
                    st = K.interval_stats(np.ascontiguousarray(ev_t[idx]), tol, pa)
                    out[a] = (idx, float(st[0]), float(st[1]), True)
                del out[b]
                changed = True
                break
            if changed:
                break
    return out


def _train(
    tid: int, idx: list[int], ev: Mapping[str, Any], rate: float, cv: float, regular: bool
) -> SpontaneousTrain:
    times = ev["time_s"][idx].tolist()
    kinds = [_KIND_BY_CODE[c] for c in ev["code"][idx].tolist()]
    closed = ev["duration_ms"][idx][~ev["end_open"][idx]]  # durations of the discharges whose end was found
    return SpontaneousTrain(
        train_id=tid,
        kind=max(sorted(set(kinds)), key=kinds.count),
        n=len(idx),
        firing_rate_hz=rate,
        interval_cv=cv if math.isfinite(cv) else None,
        regular=regular,
        amplitude_uv=float(np.mean(ev["amplitude_uv"][idx])),
        duration_ms=float(np.median(closed)) if closed.size else None,
        first_s=float(times[0]),
        last_s=float(times[-1]),
        times_s=tuple(times),
    )


def _merge_groups(eng: _Engine) -> dict[int, int]:
    """Groups of the same kind whose final (averaged) templates correlate at least
    ``merge_correlation`` with amplitudes within ``merge_amplitude_ratio``: one source
    split by noise early on.  Returns group -> representative group."""
    t = eng.cfg["trains"]
    K = eng.K
    ng = eng.n_groups
    parent = list(range(ng))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    cmin = float(t["merge_correlation"])
    rmax = float(t["merge_amplitude_ratio"])
    tpl = eng.templates
    for a in range(ng):
        others = [b for b in range(a + 1, ng) if eng.t_kind[b] == eng.t_kind[a]
                  and max(eng.t_amp[a], eng.t_amp[b]) <= rmax * min(eng.t_amp[a], eng.t_amp[b])]
        if not others:
            continue
        res = K.match_template(np.ascontiguousarray(tpl[a]), np.ascontiguousarray(tpl[others]), len(others), eng.max_lag)
        for j, b in enumerate(others):
            if res[j, 0] >= cmin:
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return {g: root(g) for g in range(ng)}


def _fill_slots(
    times: np.ndarray, period: float, d: int, tol: float, cand_t: np.ndarray, ends: bool, t_end: float,
    primitive: bool = False,
) -> tuple[list[int], int, float]:
    """Sub-grid slots of a train and the candidates that fill them.

    Between consecutive members ``k`` periods apart, the slots are the ``k * d - 1``
    interpolated times ``j / d`` periods after the first member that are not members'
    places (``j % d != 0``; with ``d = 1`` every ``j``: the missed discharges; with
    ``primitive`` only ``gcd(j, d) == 1``: the slots on no coarser sub-grid).  With ``ends``, slots
    are also placed before the first and after the last member (up to 10 periods, within
    the recording).  A slot is filled by the nearest candidate (``cand_t``, sorted)
    within ``tol * sqrt(j') `` new periods of it (``j'`` the slot's distance in new
    periods from the nearer member, at most 0.3 new periods).

    Returns the candidate positions filling slots, the number of slots and the total
    window width (s) over all slots (for the chance of filling them at random).
    """
    from ..kernels.spontaneous import fill_slots

    hits, w = fill_slots(np.ascontiguousarray(times, dtype=np.float64), float(period), int(d), float(tol),
                         np.ascontiguousarray(cand_t, dtype=np.float64), bool(ends), float(t_end), bool(primitive))
    return hits.tolist(), int(w.size), float(2.0 * w.sum())


def _complete_train(
    idx: list[int], rate: float, cv: float, ev_t: np.ndarray, ev_amp: np.ndarray, ev_code: np.ndarray,
    available: np.ndarray, K: Any, t: Mapping[str, Any], time_list: list[float] | None = None,
) -> tuple[list[int], float, float]:
    """Complete a regular train from the discharges not yet in trains.

    Candidates: discharges flagged in ``available`` (fibrillations and PSWs of any shape group,
    not excluded) of the train's kind with an amplitude within ``max_amplitude_ratio`` of
    the train's mean.  First the source's own rate: a chain of every ``d``-th discharge of
    a source (its other discharges went to other shape groups or were taken by no chain)
    fires at ``1/d`` of the source's rate; the largest ``d`` (``d * rate`` within the
    firing-rate range) whose primitive sub-grid slots (:func:`_fill_slots`; those on no
    coarser sub-grid, so that ``d = 6`` is not taken for a source at ``3 * rate``) are
    filled by at least ``subgrid_min_fill`` of them and ``min_discharges`` candidates,
    where a random candidate falls into a slot with a chance of at most ``max_chance`` and
    fills 3 SDs fewer, makes the train ``d`` times faster with the candidates of all its
    sub-grid slots.  Then missed
    discharges (``d = 1``: gaps and the ends of the train) are filled the same way.  The
    result must still be a regular train (interval CV, rate range); otherwise the chain is
    kept as found.  Missed discharges need no minimum fill (a discharge hidden by
    another potential is simply not there), only the low chance of a random candidate in
    a slot.  ``time_list``: ``ev_t`` as a list (sort keys), made here if not given.
    """
    lo, hi = float(t["firing_rate_min_hz"]), float(t["firing_rate_max_hz"])
    tol = float(t["multiple_tolerance"])
    max_chance = float(t["max_chance"])
    cv_reg = float(t["regular_cv_max"])
    ratio = float(t["max_amplitude_ratio"])
    sub_fill = float(t["subgrid_min_fill"])
    nmin = int(t["min_discharges"])
    code = int(np.bincount(ev_code[idx]).argmax())
    amp = float(ev_amp[idx].mean())
    sel = available & (ev_code == code) & (amp / ratio <= ev_amp) & (ev_amp <= amp * ratio)
    sel[idx] = False  # not the members
    cand = np.flatnonzero(sel)
    if cand.size == 0:
        return idx, rate, cv
    cand_t = ev_t[cand]
    t_end = float(ev_t.max()) + 1.0 / rate
    span = float(ev_t[idx[-1]] - ev_t[idx[0]])
    # density of candidates around the train (its span and one period either side)
    in_span = np.count_nonzero((cand_t >= ev_t[idx[0]] - 1.0 / rate) & (cand_t <= ev_t[idx[-1]] + 1.0 / rate))
    rho = in_span / (span + 2.0 / rate)
    at = (ev_t.tolist() if time_list is None else time_list).__getitem__

    def grow(cur: list[int], r: float, d: int, ends: bool) -> list[int] | None:
        times = ev_t[cur]
        got, n_slots, width = _fill_slots(times, 1.0 / r, d, tol, cand_t, ends, t_end, primitive=d > 1)
        if n_slots == 0 or not got:
            return None
        p = 1.0 - math.exp(-rho * width / n_slots)
        if p > max_chance:
            return None
        if d > 1:
            fill = len(got) / n_slots
            if fill < sub_fill or len(got) < nmin or len(got) - n_slots * p < 3.0 * math.sqrt(n_slots * p * (1.0 - p)) + 1.0:
                return None
            got, n_slots, width = _fill_slots(times, 1.0 / r, d, tol, cand_t, ends, t_end)
        return sorted(set(cur) | set(cand[got].tolist()), key=at)

    def stats(cur: list[int], period: float) -> tuple[float, float] | None:
        st = K.interval_stats(np.ascontiguousarray(ev_t[cur]), tol, period)
        r_, cv_ = float(st[0]), float(st[1])
        if math.isfinite(r_) and lo <= r_ <= hi and math.isfinite(cv_) and cv_ <= cv_reg:
            return r_, cv_
        return None

    cur, r, c = idx, rate, cv
    for d in range(min(int(hi / rate), 10), 1, -1):
        nxt = grow(cur, r, d, False)
        if nxt is not None:
            s = stats(nxt, 1.0 / (d * r))
            if s is not None and abs(s[0] / (d * r) - 1.0) <= tol:
                cur, (r, c) = nxt, s
                break
    nxt = grow(cur, r, 1, True)
    if nxt is not None:
        s = stats(nxt, 1.0 / r)
        if s is not None:
            cur, (r, c) = nxt, s
    return cur, r, c


def _claim_on_grid(
    found: list[tuple[list[int], float, float, bool]], ev: dict[str, Any], excluded: np.ndarray, K: Any,
    t: Mapping[str, Any], cfg_c: Mapping[str, Any],
) -> list[tuple[list[int], float, float, bool]]:
    """Discharges of another kind that lie on the grid of a regular train join it.

    A fibrillation whose small initial phase is lost in the noise reads as an end-plate
    spike or is left unclassified, a positive sharp wave whose slow phase another potential
    cuts short reads as a fibrillation; the firing rhythm still names them.  In every gap
    of a regular train of ``k`` periods between two discharges (``2 <= k <=
    claim_max_gap_periods``: the jitter of a longer gap leaves the grid uncertain) the
    ``k - 1`` missed discharges are expected evenly spaced; the event closest to each expected
    time -- an end-plate spike, an unclassified potential, or a PSW for a fibrillation train
    (a fibrillation for a PSW train), no longer than the train kind's maximal duration --
    within ``claim_k_sd`` SDs of the train's interval jitter (grown as ``sqrt(j (k - j) / k)``
    towards the middle of the gap, ``j`` periods from its start) plus ``claim_timing_ms``, joins
    the train when it is in no train, at rest, its amplitude within
    ``max_amplitude_ratio`` of the train's mean, and the chance that some such event falls
    into the window anyway (their density around the gap) is at most ``max_chance``.  The
    train must stay regular; its kind is then the event's kind (``ev["code"]`` is replaced
    by a revised copy, ``ev["shape_code"]`` holds the kinds before, -1 where unchanged).
    """
    k_sd = float(t["claim_k_sd"])
    if not k_sd > 0.0 or not found:
        return found
    ev_t, ev_amp = ev["time_s"], ev["amplitude_uv"]
    code = ev["code"]
    tol = float(t["multiple_tolerance"])
    cv_reg = float(t["regular_cv_max"])
    ratio = float(t["max_amplitude_ratio"])
    t_err = float(t["claim_timing_ms"]) * 1e-3
    max_chance = float(t["max_chance"])
    claim_gap = int(t["claim_max_gap_periods"])
    ev_dur = ev["duration_ms"]
    max_ms = {K.K_FIBRILLATION: float(cfg_c["fibrillation_max_duration_ms"]),
              K.K_PSW: float(cfg_c["psw_max_duration_ms"])}
    in_train = np.zeros(ev_t.size, dtype=bool)
    for idx, _, _, _ in found:
        in_train[idx] = True
    out = []
    revised: np.ndarray | None = None
    for idx, rate, cv, regular in found:
        if not (regular and math.isfinite(cv) and rate > 0.0):
            out.append((idx, rate, cv, regular))
            continue
        tt = ev_t[idx]
        period = 1.0 / rate
        # the gaps of 2 .. claim_gap periods (most intervals are one period)
        kk = np.floor(np.diff(tt) / period + 0.5)
        gaps = np.flatnonzero((kk >= 2) & (kk <= claim_gap))
        if gaps.size == 0:
            out.append((idx, rate, cv, regular))
            continue
        tc = int(np.bincount(code[idx]).argmax())
        amp = float(ev_amp[idx].mean())
        # the kinds a discharge of the train can be taken for, within the train kind's duration
        other = (code == K.K_END_PLATE) | (code == K.K_UNCLASSIFIED) | (code == (K.K_PSW if tc == K.K_FIBRILLATION
                                                                                 else K.K_FIBRILLATION))
        dmax = max_ms[tc]
        cidx = np.flatnonzero(~in_train & ~excluded & other & (ev_dur <= dmax) & (ev_amp >= amp / ratio)
                              & (ev_amp <= amp * ratio))
        cidx = cidx[np.argsort(ev_t[cidx], kind="stable")]  # onsets can be out of order
        ct = ev_t[cidx]
        # every expected missed discharge of those gaps at once: gap g, j = 1 .. k - 1 periods in
        a, b, kg = tt[gaps], tt[gaps + 1], kk[gaps]
        # the chance of a stray from the density around the gap
        rho = (np.searchsorted(ct, b + period, side="right") - np.searchsorted(ct, a - period)) / (b - a + 2.0 * period)
        per = (kg - 1).astype(np.int64)
        gi = np.repeat(np.arange(gaps.size), per)
        j = _concat_ranges(np.ones(per.size, dtype=np.int64), per).astype(np.float64)
        a, b, kg, rho = a[gi], b[gi], kg[gi], rho[gi]
        pred = a + j * (b - a) / kg
        w = k_sd * cv * period * np.sqrt(j * (kg - j) / kg) + t_err
        lo = np.searchsorted(ct, pred - w)
        hi = np.searchsorted(ct, pred + w, side="right")
        slot = np.flatnonzero((1.0 - np.exp(-2.0 * rho * w) <= max_chance) & (hi > lo))
        got = [int(cidx[q + int(np.argmin(np.abs(ct[q:r] - c)))])
               for q, r, c in zip(lo[slot].tolist(), hi[slot].tolist(), pred[slot].tolist())]
        if got:
            new = sorted(set(idx) | set(got), key=ev_t.__getitem__)
            st = K.interval_stats(np.ascontiguousarray(ev_t[new]), tol, period)
            if math.isfinite(st[1]) and st[1] <= cv_reg:
                if revised is None:
                    revised = code.copy()
                revised[got] = tc
                in_train[got] = True
                out.append((new, float(st[0]), float(st[1]), True))
                continue
        out.append((idx, rate, cv, regular))
    if revised is not None:
        _revise_codes(ev, revised)
    return out


def _judge_trains(
    ev: Mapping[str, Any], cfg: dict[str, Any], K: Any, merged: Mapping[int, int], excluded: np.ndarray
) -> tuple[list[SpontaneousTrain], dict[int, int]]:
    """Trains from the event table ``ev`` (columns plus ``time_list``), leaving out the
    events flagged in ``excluded``; returns the trains and event index -> train."""
    t = cfg["trains"]
    lo, hi = float(t["firing_rate_min_hz"]), float(t["firing_rate_max_hz"])
    nmin = int(t["min_discharges"])
    cv_reg = float(t["regular_cv_max"])
    tol = float(t["multiple_tolerance"])
    cov_min = float(t["min_coverage"])
    max_chance = float(t["max_chance"])
    groups: dict[int, list[int]] = {}
    gid = ev["group"]
    # fibrillations and PSWs (not the discharges _link_components took for pieces of others)
    sel = np.flatnonzero((gid >= 0) & ~excluded & _codes(ev)[1])
    if sel.size:
        # events by merged group, each group's in time order
        root = np.arange(int(gid[sel].max()) + 1)
        for g, r in merged.items():
            if g < root.size:
                root[g] = r
        rg = root[gid[sel]]
        order = np.argsort(rg, kind="stable")
        rg, idx_sorted = rg[order], sel[order]
        cut = np.flatnonzero(np.diff(rg)) + 1
        for part, g in zip(np.split(idx_sorted, cut), rg[np.concatenate([[0], cut])].tolist()):
            groups[g] = part.tolist()
    trains: list[SpontaneousTrain] = []
    member: dict[int, int] = {}
    found: list[tuple[list[int], float, float, bool]] = []
    ev_t, ev_amp, ev_code = ev["time_s"], ev["amplitude_uv"], ev["code"]
    available = {i for g in groups.values() for i in g}
    avail = np.zeros(ev_t.size, dtype=bool)  # the same, as a mask
    avail[sel] = True
    for gid in sorted(groups):
        # regular trains: chains at whole multiples of a period, peeled off one by one;
        # each is completed (and densified to its source's rate) from the discharges of
        # the same kind and size of every group before the next chain is sought, so that
        # a source's discharges dealt out to other groups cannot form trains of their own
        left = [i for i in groups[gid] if i in available]
        while len(left) >= nmin:
            times = ev_t[left]
            chain, rate, cv = _best_chain(times, K, tol, nmin, lo, hi, cv_reg, cov_min, max_chance)
            if not chain:
                break
            idx = [left[j] for j in chain]
            idx, rate, cv = _complete_train(idx, rate, cv, ev_t, ev_amp, ev_code, avail, K, t, ev["time_list"])
            found.append((idx, rate, cv, True))
            available.difference_update(idx)
            avail[idx] = False
            left = [i for i in left if i in available]
        # what is left of the group: an irregular train?
        if not bool(t["report_irregular"]) or len(left) < int(t["irregular_min_discharges"]):
            continue
        left = [i for i in left if i in available]
        if len(left) < 0.5 * len(groups[gid]):
            continue  # mostly a regular train: the rest are strays
        times = ev_t[left]
        iv = np.diff(times)
        plain_cv = float(iv.std(ddof=1) / iv.mean())
        rate = (len(left) - 1) / float(times[-1] - times[0])
        if iv.min() * 1e3 < float(t["irregular_min_interval_ms"]) or plain_cv > float(t["irregular_max_cv"]):
            continue
        if not lo <= rate <= hi:
            continue
        found.append((left, rate, plain_cv, False))
    found = _merge_trains(found, ev, (K, tol, nmin, lo, hi, cv_reg, cov_min, max_chance))
    # a train is regular firing sustained for min_span_s: a shorter regular-looking run is met by
    # chance in the semi-regular firing of a voluntary unit
    min_span = float(t["min_span_s"])
    found = [f for f in found if float(ev_t[f[0]].max() - ev_t[f[0]].min()) >= min_span]
    # discharges of another kind on a regular train's grid are that train's (kind revised)
    found = _claim_on_grid(found, ev, excluded, K, t, cfg["classification"])
    tl = ev["time_list"]
    found.sort(key=lambda f: tl[f[0][0]])
    for idx, rate, cv, regular in found:
        tid = len(trains)
        trains.append(_train(tid, idx, ev, rate, cv, regular))
        for i in idx:
            member[i] = tid
    return trains, member


def _site_grade(trains: Sequence[SpontaneousTrain], filled: float, cfg: dict[str, Any]) -> str:
    g = cfg["grading"]
    n = len(trains)
    if n == 0:
        return "0"
    if filled >= float(g["filled_fraction"]):
        return "4+"
    if n >= int(g["site_3plus_trains"]):
        return "3+"
    if n >= int(g["site_2plus_trains"]):
        return "2+"
    return "1+"


def _link_components(ev: dict[str, Any], c: Mapping[str, Any]) -> int:
    """Fibrillation/PSW shape groups locked to another potential are motor unit potentials.

    A group (``ev["group"]``) of fibrillations or PSWs with at least ``link_min_discharges``
    discharges that have a companion -- an event of another group (or none) whose onset lies
    within ``link_tolerance_ms`` of one latency ``|lag| <= link_max_lag_ms`` from theirs --
    and at least ``link_min_fraction`` of the group's discharges with one, is taken for the
    components of one compound potential when the pairs last longer together (median, onset
    of the first to end of the last) than a fibrillation can (``fibrillation_max_duration_ms``;
    ``psw_max_duration_ms`` for a pair with a positive sharp wave):
    the group's events and their companions become motor unit potentials.  Pairs lasting no
    longer are one fibre's potential read as two (split at a dip of its envelope): the smaller
    of each pair, a fibrillation or PSW, is a piece of the larger and becomes unclassified, so
    that one source does not count as two trains.  ``ev["code"]`` is replaced by a revised
    copy, ``ev["shape_code"]`` holds the kinds before (-1 where unchanged).  Returns the number
    of events revised.
    """
    n_min = int(c["link_min_discharges"])
    frac = float(c["link_min_fraction"])
    max_lag = float(c["link_max_lag_ms"]) * 1e-3
    tol = float(c["link_tolerance_ms"]) * 1e-3
    max_s = float(c["fibrillation_max_duration_ms"]) * 1e-3
    max_psw_s = float(c["psw_max_duration_ms"]) * 1e-3
    t, code, grp = ev["time_s"], ev["code"], ev["group"]
    dur_s = ev["duration_ms"] * 1e-3
    if n_min <= 0 or not (max_lag > 0.0 and tol > 0.0) or t.size < 2 * n_min:
        return 0
    spike = _codes(ev)[1]
    ids, counts = np.unique(grp[spike & (grp >= 0)], return_counts=True)
    amp = ev["amplitude_uv"]
    mup = np.zeros(t.size, dtype=bool)
    piece = np.zeros(t.size, dtype=bool)
    for g in ids[counts >= n_min].tolist():
        own = np.flatnonzero((grp == g) & spike)
        lo = np.searchsorted(t, t[own] - max_lag, side="left")
        hi = np.searchsorted(t, t[own] + max_lag, side="right")
        nb = hi - lo
        owner = np.repeat(own, nb)
        other = _concat_ranges(lo, nb)
        keep = grp[other] != g
        owner, other = owner[keep], other[keep]
        if owner.size < n_min:
            continue
        lag = t[other] - t[owner]
        order = np.argsort(lag, kind="stable")
        lag, owner, other = lag[order], owner[order], other[order]
        # the latency window of width 2 tol holding the most pairs (then counted by discharge)
        ends = np.searchsorted(lag, lag + 2.0 * tol, side="right")
        a = int(np.argmax(ends - np.arange(lag.size)))
        sel = slice(a, int(ends[a]))
        n_locked = np.unique(owner[sel]).size
        if n_locked < n_min or n_locked < frac * own.size:
            continue
        # together longer than one fibre's potential can last: a motor unit's pieces
        a_t, b_t = t[owner[sel]], t[other[sel]]
        span_s = np.maximum(a_t + dur_s[owner[sel]], b_t + dur_s[other[sel]]) - np.minimum(a_t, b_t)
        # the longest a fibre's potential lasts: a PSW's when either of the pair is one
        psw = (code[owner[sel]] == _KIND_CODES["positive_sharp_wave"]) | (code[other[sel]] == _KIND_CODES[
            "positive_sharp_wave"])
        if float(np.median(span_s - np.where(psw, max_psw_s, max_s))) > 0.0:
            mup[own] = True
            mup[other[sel]] = True
        else:
            # one fibre's potential read as two: the smaller of each pair is a piece of the larger
            o, c_ = owner[sel], other[sel]
            small = (amp[c_] < amp[o]) & spike[c_]
            piece[c_[small]] = True
    piece &= ~mup
    if not (mup.any() or piece.any()):
        return 0
    revised = np.where(mup, _KIND_CODES["motor_unit"], code)
    revised[piece] = _KIND_CODES["unclassified"]
    _revise_codes(ev, revised)
    return int(np.count_nonzero(revised != code))


def _revise_codes(ev: dict[str, Any], revised: np.ndarray) -> None:
    """Replace ``ev["code"]`` by ``revised``, keeping in ``ev["shape_code"]`` the waveform's own
    kind wherever the kind now differs from it (-1 elsewhere): the code before any revision."""
    prev = ev.get("shape_code")
    shape = ev["code"] if prev is None else np.where(prev >= 0, prev, ev["code"])
    ev["shape_code"] = np.where(revised != shape, shape, -1)
    ev["code"] = revised


def _concat_ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``start[i], start[i] + 1, ..., start[i] + count[i] - 1`` for every ``i``, one after another."""
    return np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count) + np.repeat(start, count)


def _codes(ev: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The kind codes of the event table and the mask of fibrillations and PSWs."""
    code = ev["code"]
    return code, np.isin(code, (_KIND_CODES["fibrillation"], _KIND_CODES["positive_sharp_wave"]))


def _unrevised(ev: dict[str, Any], linked: tuple[np.ndarray, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Undo the kinds trains revised (the trains were not kept), back to ``linked`` (the
    codes and shape codes after :func:`_link_components`); returns :func:`_codes`."""
    ev["code"] = linked[0]
    if linked[1] is None:
        ev.pop("shape_code", None)
    else:
        ev["shape_code"] = linked[1]
    return _codes(ev)


def _not_graded(quality: set[str], reasons: dict[str, str], why: str) -> tuple[str, None]:
    """Flag a recording whose quiet rest cannot be graded (``not_at_rest``, the reason under
    ``"trains"``); returns the status and grade to set."""
    quality.add("not_at_rest")
    reasons["trains"] = why
    return "not_at_rest", None


def _build_result(eng: _Engine) -> SpontaneousResult:
    K = eng.K
    cfg = eng.cfg
    st = eng.state
    fs = eng.fs
    n = int(st[K.S_N])
    duration_s = n / fs
    quality: set[str] = set()
    reasons: dict[str, str] = {}
    sigma_e = float(st[K.S_SIGMA])
    noise_uv = sigma_e / float(eng.p[K.P_E_GAIN]) * 1e6 if math.isfinite(sigma_e) else None
    hum = _hum_uv(st, K)
    xmin, xmax = float(st[K.S_XMIN]), float(st[K.S_XMAX])
    lim_uv = float(cfg["quality"]["max_noise_uv"])
    if lim_uv > 0.0 and noise_uv is not None and noise_uv > lim_uv:
        raise SignalQualityError(
            f"a baseline noise of {noise_uv / 1e3:.4g} mV RMS: no needle EMG recording in volts has it (a needle at "
            "rest shows a few µV); the samples are probably in mV or µV, or after the amplifier's gain: pass volts "
            "(edx.units.volts_per_unit gives the factor of a unit)"
        )
    if noise_uv is not None and xmax > xmin:
        why = small_noise_problem(noise_uv * 1e-6, float(cfg["quality"]["min_noise_uv"]) * 1e-6)
        if why is not None:
            raise SignalQualityError(why)
    ev: dict[str, Any] = dict(eng.columns())
    # -- quality
    status = "ok"
    if n == 0 or not (xmax > xmin) or (noise_uv is not None and noise_uv == 0.0):
        status = "flat"
        quality.add("flat")
        reasons["all"] = "the signal is flat (constant samples): no needle signal to judge"
        ev = {k: v[:0] for k, v in ev.items()}
    elif noise_uv is None:
        status = "too_short"
    if status == "ok" and duration_s < float(cfg["quality"]["min_duration_s"]):
        status = "too_short"
    if status == "too_short":
        quality.add("too_short")
        reasons["trains"] = (
            f"the recording lasts {duration_s:.3f} s, less than the "
            f"{float(cfg['quality']['min_duration_s']):g} s needed to judge trains; no trains or grade reported"
        )
    rail = eng.p[K.P_RAIL_V]
    n_rail = int(st[K.S_NRAIL])
    runmax, runmin = float(st[K.S_RUNMAX]), float(st[K.S_RUNMIN])
    at_extreme = (math.isfinite(runmax) and runmax == xmax and xmax > 0) or (
        math.isfinite(runmin) and runmin == xmin and xmin < 0
    )
    if status != "flat" and (n_rail > 0 or at_extreme):
        quality.add("clipped")
        reasons["clipped"] = (
            f"{n_rail} sample(s) at the amplifier rails (±{rail * 1e6:.0f} µV)"
            if n_rail
            else "runs of identical samples at the signal's extreme: the amplifier or converter clipped"
        ) + "; potentials touching the rail are mis-measured"
    if status == "ok":
        n_linked = _link_components(ev, cfg["classification"])
        if n_linked:
            logger.debug("%d discharge(s) locked to another potential taken for motor unit components", n_linked)
    linked = (ev["code"], ev.get("shape_code"))
    if hum > float(cfg["quality"]["hum_max_uv"]):
        quality.add("hum")
        reasons["hum"] = f"mains hum of {hum:.1f} µV (peak) in the recording"
    # -- voluntary activity: windows with motor unit potentials are not at rest
    q = cfg["quality"]
    win = float(q["voluntary_window_s"])
    ev_t, ev_code = ev["time_s"], ev["code"]
    n_win = max(1, int(math.ceil(duration_s / win)))
    ev_win = np.minimum((ev_t / win).astype(np.int64), n_win - 1)  # each discharge's window
    is_mup = ev_code == _KIND_CODES["motor_unit"]
    mup_t = ev_t[is_mup]
    per_win = np.bincount(ev_win[is_mup], minlength=n_win)
    busy = per_win >= int(q["voluntary_min_mups"])
    # the windows next to a run of at least voluntary_margin_min_run busy windows are not at
    # rest either: units recruited at low force keep firing there, fewer of them classified
    # as such (small myopathic units are taken for fibrillations and end-plate spikes); a
    # lone busy window at rest is more often end-plate spikes or a fasciculation
    k_near = max(0, int(q["voluntary_margin_windows"]))
    run_min = max(1, int(q["voluntary_margin_min_run"]))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], busy.astype(np.int8), [0]))))
    core = np.zeros(n_win, dtype=bool)
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if b - a >= run_min:
            core[a:b] = True
    active = busy.copy()
    for d in range(1, k_near + 1):
        active[d:] |= core[:-d]
        active[:-d] |= core[d:]
    noisy_uv = float(q["rest_noise_max_uv"])
    excluded = active[ev_win]
    spont = _codes(ev)[1]
    noisy = (ev["noise_uv"] > noisy_uv) & ~excluded
    n_noisy = int(np.count_nonzero(noisy))
    in_effort = excluded.copy()  # discharges in windows with voluntary motor unit potentials
    excluded |= noisy
    # at rest: neither in a window with motor unit potentials nor while the baseline noise is
    # above the rest limit (a full interference pattern holds no single classified MUP, yet
    # hides every fibrillation); the two often coincide, so the larger is left out
    noisy_s = float(st[K.S_NOISY_BLOCKS]) * float(eng.p[K.P_BLOCK]) / fs
    rest_s = duration_s - max(float(active.sum()) * win, noisy_s)
    if active.any():
        quality.add("voluntary_activity")
        reasons["voluntary_activity"] = (
            f"motor unit potentials in {int(busy.sum())} of {n_win} windows of {win:g} s: the muscle is not at "
            f"rest there, nor next to runs of them ({int(active.sum())} windows in all); "
            "discharges in those windows are not grouped into trains"
        )
    trains: list[SpontaneousTrain] = []
    member: dict[int, int] = {}
    dense = False
    if status == "ok" and rest_s < float(q["min_duration_s"]) and not active.any():
        # profuse fibrillations raise the noise level themselves: with no voluntary units, a
        # noise level where fibrillation-range potentials still stand out, and discharges that
        # are nearly all fibrillations/PSWs, the trains on the noisy baseline are judged
        n_sp = int(np.count_nonzero(spont))
        n_cls = n_sp + int(np.count_nonzero(np.isin(ev_code, (_KIND_CODES["end_plate_spike"],
                                                              _KIND_CODES["motor_unit"]))))
        # the noise of the noisy stretch: the detector's level at its discharges (its level at
        # the end of the recording may be that of a quiet last second)
        lv = ev["noise_uv"][noisy]
        stretch_uv = float(np.percentile(lv, 90)) if lv.size else (noise_uv or 0.0)
        if noise_uv is not None and noise_uv > stretch_uv:
            stretch_uv = noise_uv
        if (noise_uv is not None and stretch_uv <= float(q["noisy_grade_max_noise_uv"])
                and n_sp >= int(q["noisy_grade_min_discharges"]) and n_sp >= float(q["noisy_grade_min_fraction"]) * n_cls):
            ev["time_list"] = ev_t.tolist()
            trains, member = _judge_trains(ev, cfg, K, _merge_groups(eng), in_effort)
            ev_code, spont = _codes(ev)
            if len(trains) >= int(q["noisy_grade_min_trains"]):
                dense = True
                excluded = in_effort
                quality.add("grade_lower_bound")
                reasons["grade_lower_bound"] = (
                    f"the baseline noise (up to {stretch_uv:.1f} µV RMS, above {noisy_uv:g} µV for {noisy_s:.1f} s of "
                    f"{duration_s:.1f} s) comes with {n_sp} fibrillation/PSW discharge(s), {n_sp / max(n_cls, 1):.0%} "
                    f"of the classified ones, in {len(trains)} trains, and no voluntary motor unit potentials: taken "
                    "as dense spontaneous activity and graded from those trains; smaller potentials are hidden in "
                    "the noise, so the grade is a lower bound"
                )
            else:
                trains, member = [], {}
                ev_code, spont = _unrevised(ev, linked)
    if n_noisy:
        quality.add("noisy_baseline")
        reasons["noisy_baseline"] = (
            f"{n_noisy} discharge(s) detected on a baseline noisier than {noisy_uv:g} µV RMS " + (
                f"were judged for trains (see grade_lower_bound); {sum(1 for i in member if noisy[i])} of them are "
                "in trains" if dense else "(interference or voluntary activity) were not grouped into trains")
        )
    if status == "ok" and rest_s < float(q["min_duration_s"]) and not dense:
        status = "not_at_rest"
        quality.add("not_at_rest")
        why = []
        if active.any():
            why.append(f"motor unit potentials in {int(busy.sum())} windows of {win:g} s ({int(active.sum())} with "
                       "their neighbours)")
        if noisy_s >= 0.05:
            n_spont = int(np.count_nonzero(noisy & spont))
            why.append(f"a baseline noisier than {noisy_uv:g} µV RMS for {noisy_s:.1f} s: voluntary activity, "
                       "interference, or spontaneous activity dense enough to raise the noise level, which hides "
                       "fibrillations" + (f"; {n_spont} fibrillation/PSW discharge(s) were detected on it" if n_spont
                                          else ""))
            quality.add("noisy_baseline")
            reasons.setdefault("noisy_baseline", f"the baseline noise exceeds {noisy_uv:g} µV RMS for {noisy_s:.1f} s "
                                                 f"of {duration_s:.1f} s")
        reasons["trains"] = (
            f"only {max(rest_s, 0.0):.1f} s of the recording is a quiet rest ({'; '.join(why)}); spontaneous "
            "activity cannot be graded"
        )
    # -- trains and grade
    grade: str | None = None
    filled = 0.0
    if status == "ok":
        if not dense:
            ev["time_list"] = ev_t.tolist()
            trains, member = _judge_trains(ev, cfg, K, _merge_groups(eng), excluded)
            ev_code, spont = _codes(ev)
        if trains:
            filled = _covered(np.fromiter(member, dtype=np.int64, count=len(member)), ev, fs, n) / n
        grade = _site_grade(trains, filled, cfg)
        orphan_max = float(q["voluntary_max_orphan_rate_hz"])
        if (active.any() and orphan_max > 0.0 and rest_s > 0.0
                and len(trains) < int(q["voluntary_orphan_max_trains"])):
            # next to voluntary units, a quiet rest full of fibrillation-like discharges that fire
            # in no regular train is more likely the same units, taken for fibrillations (judged by
            # the waveforms' kinds: the pieces _link_components revised are fibrillation-like too)
            orph = _codes(eng.columns())[1] & ~excluded
            if member:
                orph[np.fromiter(member, dtype=np.int64, count=len(member))] = False
            n_orph = int(np.count_nonzero(orph))
            if n_orph >= orphan_max * rest_s:
                n_found = len(trains)  # (the reason names the trains found before they are dropped)
                trains, member, filled = [], {}, 0.0
                ev_code, spont = _unrevised(ev, linked)
                status, grade = _not_graded(quality, reasons, (
                    f"the {rest_s:.1f} s of quiet rest next to voluntary motor unit potentials holds {n_orph} "
                    f"fibrillation/PSW-like discharges in no regular train ({n_orph / rest_s:.1f}/s, at least "
                    f"{orphan_max:g}/s) and only {n_found} train(s): they may be small voluntary units (a myopathic "
                    "muscle at low force looks like this) as well as fibrillations, so spontaneous activity cannot be "
                    "graded; record the site with the muscle relaxed throughout"
                ))
        if grade == "0":
            # no trains in the quiet rest, but many fibrillations/PSWs where the muscle was not
            # at rest (effort, a noisy baseline): "none" cannot be claimed from what is left
            # (those next to voluntary units or on a noisy baseline; inside a window full of
            # classified units they are mostly parts of those units)
            n_hidden = int(np.count_nonzero(spont & excluded & ~busy[ev_win]))
            zero_rest = float(q["zero_min_rest_s"])
            broken = bool(active.any()) or noisy_s >= 0.05
            # the quiet rest counted without assuming that effort and noise overlap (they need not)
            quiet_s = duration_s - float(active.sum()) * win - noisy_s
            if broken and quiet_s < zero_rest:
                # the slowest train shows too few discharges in a rest this short
                status, grade = _not_graded(quality, reasons, (
                    f"no trains in the {max(quiet_s, 0.0):.1f} s of quiet rest left between voluntary units or a noisy "
                    f"baseline, shorter than the {zero_rest:g} s in which the slowest fibrillations show a train: "
                    "'none' is not reported; record the site with the muscle relaxed throughout"
                ))
            elif not broken and duration_s < zero_rest:
                quality.add("short_rest")
                reasons["short_rest"] = (
                    f"no trains in {duration_s:.1f} s of rest; fibrillations firing slower than "
                    f"{int(cfg['trains']['min_discharges']) / duration_s:.2f} Hz may show too few discharges "
                    f"for a train in a rest this short ({zero_rest:g} s shows every rate from "
                    f"{float(cfg['trains']['firing_rate_min_hz']):g} Hz)"
                )
            elif n_hidden >= int(q["zero_max_hidden_discharges"]):
                status, grade = _not_graded(quality, reasons, (
                    f"no trains in the {max(rest_s, 0.0):.1f} s of quiet rest, but {n_hidden} fibrillation/PSW "
                    "discharge(s) were detected next to voluntary units or on a noisy baseline: they may be "
                    "fibrillations the broken rest does not show, so 'none' is not reported; record the site "
                    "with the muscle relaxed throughout"
                ))
    train_of = np.full(ev_t.size, -1, dtype=np.int64)
    if member:
        train_of[np.fromiter(member, dtype=np.int64, count=len(member))] = np.fromiter(
            member.values(), dtype=np.int64, count=len(member))
    # events in order of onset (a candidate's onset can lie before that of the one detected
    # just before it, when the two overlap)
    if ev_t.size > 1 and np.any(ev_t[1:] < ev_t[:-1]):
        order = np.argsort(ev_t, kind="stable")
        events = _events_from({k: v[order] for k, v in ev.items() if isinstance(v, np.ndarray)
                               and v.shape[:1] == ev_t.shape}, train_of[order])
    else:
        events = _events_from(ev, train_of)
    # -- counts
    counts = {k: 0 for k in _COUNT_KEYS}
    for code, c in enumerate(np.bincount(ev_code, minlength=len(_KIND_BY_CODE)).tolist()):
        if c:
            counts[_KIND_BY_CODE[code]] += c
    mup_t = ev_t[ev_code == _KIND_CODES["motor_unit"]]  # (after trains revised kinds)
    if mup_t.size:
        iso = float(cfg["classification"]["fasciculation_isolation_s"])
        d = np.diff(mup_t)
        left = np.concatenate([[np.inf], d])
        right = np.concatenate([d, [np.inf]])
        counts["fasciculation"] = int(np.count_nonzero((left > iso) & (right > iso)))
    if status == "ok" and noise_uv is not None and noise_uv > noisy_uv:
        quality.add("noisy_baseline")
        reasons.setdefault("noisy_baseline", f"baseline noise {noise_uv:.1f} µV RMS: small potentials cannot be detected")
    if "clipped" in quality and grade is not None:
        reasons.setdefault("grade", "graded on a clipped recording")
    return SpontaneousResult(
        status=status,
        fs_hz=fs,
        duration_s=duration_s,
        noise_uv=noise_uv,
        hum_uv=hum,
        events=tuple(events),
        trains=tuple(trains),
        counts=counts,
        grade=grade,
        filled_fraction=filled,
        quality=frozenset(quality),
        reasons=reasons,
    )


def _covered(idx: np.ndarray, ev: Mapping[str, Any], fs: float, n: int) -> int:
    """Samples of ``0..n`` covered by the potentials (onset to end) of the events ``idx``."""
    a = np.round(ev["time_s"][idx] * fs).astype(np.int64)
    b = a + np.round(ev["duration_ms"][idx] * 1e-3 * fs).astype(np.int64) + 1
    a = np.maximum(a, 0)
    b = np.minimum(b, n)
    keep = b > a
    a, b = a[keep], b[keep]
    if a.size == 0:
        return 0
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    reach = np.maximum.accumulate(b)  # union of the intervals: a new run starts past the reach so far
    new = np.empty(a.size, dtype=bool)
    new[0] = True
    new[1:] = a[1:] > reach[:-1]
    run = np.cumsum(new) - 1
    starts = a[new]
    ends = np.zeros(starts.size, dtype=np.int64)
    np.maximum.at(ends, run, b)
    return int((ends - starts).sum())


# ----------------------------------------------------------------------------- public API


class SpontaneousDetector:
    """Streaming detector of spontaneous activity (for acquisition software).

    Push chunks of any size with :meth:`push`; it returns the discharges confirmed so far
    (each once, in time order, about 50 ms after they happened -- the measurement's
    look-ahead; a few ms more when the next candidate follows within a few ms, as rows
    are grouped in one order whatever the chunks; ``train_id`` is None because trains
    are judged at the end).  :meth:`flush` ends the recording and :meth:`result` then
    returns exactly what :func:`detect_spontaneous` returns on the whole signal, for
    every chunking.

    Parameters
    ----------
    fs_hz : float
        Sampling rate (>= 2 kHz).
    config : str, Path, mapping or None
        Settings overriding ``edx/data/spontaneous.toml`` (see :func:`load_config`).
    rail_v : float or None
        Amplifier rail (absolute volts): samples at or beyond it are counted as clipped.

    Raises
    ------
    SignalQualityError
        From :meth:`push`: non-finite samples, or samples not in volts (a swing beyond
        ``[quality] max_abs_v`` or an offset beyond ``max_offset_v``, judged on the range
        seen so far: the detector then stays failed and every later call raises the same
        error); from :meth:`result`: a noise beyond ``max_noise_uv`` (not volts).

    Examples
    --------
    >>> det = SpontaneousDetector(fs_hz=20_000)            # doctest: +SKIP
    >>> for chunk in stream:                               # doctest: +SKIP
    ...     for ev in det.push(chunk):
    ...         print(ev.time_s, ev.kind)
    >>> res = det.result()                                 # doctest: +SKIP
    """

    def __init__(
        self, fs_hz: float, *, config: str | Path | Mapping[str, Any] | None = None, rail_v: float | None = None
    ) -> None:
        self._cfg = load_config(config)
        self._eng = _Engine(float(fs_hz), self._cfg, rail_v)

    @property
    def fs_hz(self) -> float:
        """Sampling rate."""
        return self._eng.fs

    @property
    def n_samples(self) -> int:
        """Samples pushed so far."""
        return self._eng.n_total

    def push(self, chunk: np.ndarray | Sequence[float]) -> list[SpontaneousEvent]:
        """Add samples (volts); return the events confirmed by them.

        The samples are copied: the caller may reuse or change its buffer after the call.

        Raises
        ------
        SignalQualityError
            If the chunk holds NaN or inf (the chunk is not taken: the detector is as before
            the call, and the repaired chunk can be pushed), or the samples so far cannot be
            volts (the detector stays failed).
        """
        # a copy: the engine keeps the samples it still needs, and an acquisition loop
        # refills its buffer after the call
        return self._eng.push(np.array(chunk, dtype=np.float64))

    def flush(self) -> list[SpontaneousEvent]:
        """End of recording: return the events still waiting for their look-ahead."""
        return self._eng.flush()

    def result(self) -> SpontaneousResult:
        """The result of the whole recording (flushes first if needed)."""
        if not self._eng.finished:
            self._eng.flush()
        return self._eng.result()


def _samples_of(signal: Any, fs_hz: float | None, channel: str | int | None) -> tuple[np.ndarray, float, float | None]:
    if isinstance(signal, Recording):
        if not signal.traces:
            raise SignalQualityError(f"recording {signal.source or '(in memory)'} holds no continuous trace")
        if channel is None:
            if len(signal.traces) > 1:
                raise ValueError(
                    f"recording {signal.source or '(in memory)'} has {len(signal.traces)} channels; name one with channel="
                )
            trace = signal.traces[0]
        elif isinstance(channel, int):
            trace = signal.traces[channel]
        else:
            names = [t.channel for t in signal.traces]
            if channel not in names:
                raise ValueError(f"no channel {channel!r}; the recording has {names}")
            trace = signal.traces[names.index(channel)]
        signal = trace
    if isinstance(signal, Trace):
        rail = None
        if signal.clip_range is not None:
            rail = min(abs(signal.clip_range[0]), abs(signal.clip_range[1]))
        if fs_hz is not None and float(fs_hz) != signal.fs_hz:
            raise ValueError(f"fs_hz={fs_hz} contradicts the trace's {signal.fs_hz} Hz")
        return np.ascontiguousarray(signal.samples_v, dtype=np.float64), float(signal.fs_hz), rail
    if fs_hz is None:
        raise ValueError("fs_hz is required with a plain array")
    x = np.ascontiguousarray(np.asarray(signal, dtype=np.float64))
    if x.ndim != 1:
        raise ValueError(f"expected 1-D samples (volts), got shape {x.shape}")
    return x, float(fs_hz), None


def detect_spontaneous(
    signal: Any,
    fs_hz: float | None = None,
    *,
    channel: str | int | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    rail_v: float | None = None,
) -> SpontaneousResult:
    """Detect and classify spontaneous activity of a needle EMG recording at rest.

    Parameters
    ----------
    signal : array_like, Trace or Recording
        Samples in volts (G1 - G2), or a loaded trace/recording (``edx.load``).
    fs_hz : float, optional
        Sampling rate; required with a plain array.
    channel : str or int, optional
        Channel of a multi-channel recording.
    config : str, Path, mapping or None
        Settings overriding ``edx/data/spontaneous.toml``.
    rail_v : float, optional
        Amplifier rail (default: the trace's clip range, if known).

    Returns
    -------
    SpontaneousResult
        Events (time, kind, amplitude, duration, train), fibrillation/PSW trains (firing
        rate, interval CV, regularity, mean amplitude, median duration), counts per kind, the
        single-site grade, quality flags and reasons.

    Raises
    ------
    SignalQualityError
        Non-finite samples, samples not in volts (beyond ``[quality] max_abs_v`` or a
        noise beyond ``max_noise_uv``), or a recording without a trace.
    ValueError
        A missing or contradictory sampling rate, or samples that are not 1-D.
    """
    x, fs, rail = _samples_of(signal, fs_hz, channel)
    if rail_v is not None:
        rail = float(rail_v)
    cfg = load_config(config)
    eng = _Engine(fs, cfg, rail)
    if x.size:
        eng.push(x, build=False)
    eng.flush(build=False)
    res = eng.result()
    logger.debug("spontaneous activity: %d events, %d trains, grade %s", len(res.events), len(res.trains), res.grade)
    return res


def grade_muscle(
    results: Iterable[SpontaneousResult], *, config: str | Path | Mapping[str, Any] | None = None
) -> MuscleGrade:
    """The grade of fibrillations and positive sharp waves of one muscle over several sites.

    CLINICAL.md §1 (common practice, unconfirmed): 0 none; 1+ persistent single trains in
    >= 2 areas; 2+ moderate number in >= 3 areas; 3+ many in all areas; 4+ fill the
    baseline.  Here "a train" = site grade >= 1+, "moderate" = site grade >= 2+,
    "many" = >= 3+, "fill" = 4+ in every area (counts in ``[grading]`` of the settings).
    Trains in fewer areas than 1+ needs give "0" with a reason saying so.

    Parameters
    ----------
    results : iterable of SpontaneousResult
        One per needle site (area) of the muscle.
    config : str, Path, mapping or None
        Settings overriding ``edx/data/spontaneous.toml``.

    Returns
    -------
    MuscleGrade
    """
    cfg = load_config(config)
    g = cfg["grading"]
    res = list(results)
    site = tuple(r.grade for r in res)
    judged = [s for s in site if s is not None]
    reasons: dict[str, str] = {}
    skipped = len(site) - len(judged)
    if skipped:
        reasons["sites"] = (f"{skipped} site(s) could not be graded (flat, too short or not at rest) and were left "
                            "out")
    if not judged:
        reasons["grade"] = "no site could be graded"
        return MuscleGrade(None, 0, 0, site, reasons)
    level = [GRADES.index(s) for s in judged]
    n = len(level)
    with_trains = sum(1 for v in level if v >= 1)
    a1, a2 = int(g["muscle_1plus_areas"]), int(g["muscle_2plus_areas"])
    if all(v >= 4 for v in level) and n >= a1:
        grade = "4+"
    elif all(v >= 3 for v in level) and n >= a2:
        grade = "3+"
    elif sum(1 for v in level if v >= 2) >= a2:
        grade = "2+"
    elif with_trains >= a1:
        grade = "1+"
    else:
        grade = "0"
        if with_trains:
            reasons["grade"] = (
                f"trains in {with_trains} area(s) only; 1+ needs persistent trains in >= {a1} areas "
                "(sample more areas)"
            )
    if grade in ("3+", "4+") and n < a2:
        reasons.setdefault("grade", f"only {n} areas sampled")
    if n < a2 and grade in ("0", "1+") and max(level) >= 2:
        # sites graded 2+ or more, but too few areas for a muscle grade of 2+ or 3+
        few = (f"only {n} area(s) sampled (site grades {', '.join(judged)}): a muscle grade of 2+ or 3+ needs "
               f">= {a2} areas; sample more areas")
        reasons["grade"] = f"{reasons['grade']}; {few}" if "grade" in reasons else few
    low = sum(1 for r in res if r.grade is not None and "grade_lower_bound" in r.quality)
    if low:
        reasons["lower_bound"] = (f"{low} site grade(s) are lower bounds (graded on a noisy baseline, where smaller "
                                  "potentials are hidden)" + ("" if grade == "4+" else ": the muscle grade may be higher"))
    return MuscleGrade(grade, n, with_trains, site, reasons)
