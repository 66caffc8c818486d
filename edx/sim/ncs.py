"""Nerve-conduction simulator with exact ground truth.

Physiological model
-------------------
*Motor responses (CMAP, mCMAP).*  A CMAP is the sum of the surface action potentials
of the motor units that respond.  Each unit contributes a potential that starts at
its own latency with a negative phase (a half-sine of length ``neg_ms``: linear
take-off, as the depolarisation front reaches the recording electrode) followed by a
slower positive phase (``pos_ratio`` of the unit's amplitude, a sin² lobe of length
``pos_ms``).  Both lengths scale with ``4 / mfcv_m_s``: the potential lasts as long
as the fibres take to conduct their action potential past the electrodes, so a
myopathic slowing of muscle-fibre conduction (critical illness myopathy) prolongs
every unit and hence the CMAP's duration.  Unit amplitudes are log-normal.  Unit
latencies at the distal site are the onset latency plus a delay: a quarter of the
units (the fastest axons' "front") arrive within 0.05 ms of the first, the rest with
a half-normal spread (``latency_dispersion_ms``, temporal dispersion).  Between
stimulation sites every unit conducts at its own axon velocity (the fastest at
``cv_m_s``, the others a half-normal spread below it), so proximal responses are
later and slightly more dispersed (the fastest axons are mostly those whose units
arrive first at the distal site too: large axons conduct fast in the trunk and in the
terminal branches); a conduction block removes a fraction of units
from every site proximal to the blocked segment.  Unit amplitudes are scaled so
that the distal response has exactly the requested clean amplitude.

*Sensory responses (SNAP).*  The sum of many small triphasic fibre potentials
(+ − +) whose latencies are distance / fibre velocity, the fastest fibres at
``cv_m_s`` and the rest a half-normal spread below it.

*F-waves.*  In a fraction ``persistence`` of the sweeps, one to four motor units
back-fire; their potentials arrive at a latency between the minimal F latency and
minimal + chronodispersion.

*Repetitive stimulation.*  Each response of a train is the CMAP scaled by a factor
that follows the classical decrement pattern (largest step from the 1st to the 2nd
response, maximal at the 4th–5th, slight recovery after), so the amplitude and the
area fall by the same, exactly known, percentage.

*Direct muscle stimulation.*  The muscle-evoked (mCMAP) and nerve-evoked (nCMAP)
responses are two motor responses of the same muscle: the mCMAP bypasses the nerve
(short latency, amplitude set by muscle excitability), the nCMAP adds the nerve
(amplitude further reduced by axon loss).

Ground truth
------------
All truth values are computed from the *clean* (noise-free, artifact-free) analytic
waveform on a 1 µs grid (:func:`response_truth`): onset = first departure from zero
(exact: the earliest responding unit's latency); negative peak = minimum; negative
duration = onset to the upward zero crossing after the negative peak; total duration
= onset to the last time ``|x|`` reaches 1 % of the negative-peak amplitude; areas by
trapezoidal integration.  Conduction velocity truth = segment length / difference of
the truth onset latencies, as a measurement defines it.  The recorded sweeps are
the clean waveform sampled at ``fs_hz`` plus the imperfections of :mod:`edx.sim.noise`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import noise as _noise

__all__ = [
    "Realism",
    "MotorSpec",
    "SensorySpec",
    "FWaveSpec",
    "RnsSpec",
    "DmsSpec",
    "ResponseTruth",
    "MotorTruth",
    "SimulatedResponse",
    "muap_shape",
    "response_truth",
    "simulate_motor",
    "simulate_sensory",
    "simulate_fwaves",
    "simulate_rns",
    "simulate_dms",
    "temperature_adjusted_cv",
    "RNS_PROFILE",
]

FINE_STEP_MS = 0.001  # 1 µs grid for truth
TOTAL_END_FRACTION = 0.01  # total duration ends when |x| last reaches 1 % of the negative peak
# Classical decrement pattern of a 3 Hz train in a neuromuscular transmission defect:
# fraction of the final (4th-response) decrement reached at each response.
RNS_PROFILE = (0.0, 0.55, 0.85, 1.0, 1.0, 0.96, 0.92, 0.9, 0.9, 0.9)
# Temperature: nerve conduction slows by about 2 m/s per °C below the reference
# (commonly quoted 1.5–2.5 m/s/°C; unconfirmed — not in CLINICAL.md).
CV_PER_DEG_C = 2.0
REFERENCE_TEMP_C = 33.0


@dataclass(frozen=True)
class Realism:
    """Recording imperfections added to a clean response (all optional).

    Parameters
    ----------
    noise_uv_rms : float
        White noise RMS (µV).
    hum_uv : float
        Mains hum fundamental amplitude (µV), at ``mains_hz`` with odd harmonics.
    mains_hz : float
        50 or 60.
    offset_uv, drift_uv, drift_hz : float
        Baseline offset, and amplitude/frequency of a slow baseline drift.
    artifact_mv : float
        Stimulus artifact amplitude (mV); 0 for none.
    artifact_decay_ms : float
        Time constant of the artifact's recovery tail.
    clip_mv : float or None
        Amplifier rail (mV); samples beyond it are clipped.
    """

    noise_uv_rms: float = 5.0
    hum_uv: float = 0.0
    mains_hz: float = 50.0
    offset_uv: float = 0.0
    drift_uv: float = 0.0
    drift_hz: float = 0.5
    artifact_mv: float = 0.0
    artifact_decay_ms: float = 0.3
    clip_mv: float | None = None

    def apply(self, clean_v: np.ndarray, fs_hz: float, stim_index: int | Sequence[int], rng: np.random.Generator,
              t0_s: float = 0.0) -> np.ndarray:
        """Return ``clean_v`` plus the imperfections (a new array, volts)."""
        n = clean_v.size
        x = clean_v + _noise.white_noise(n, self.noise_uv_rms * 1e-6, rng)
        if self.hum_uv:
            phase = float(rng.uniform(0, 2 * np.pi))
            x += _noise.mains_hum(n, fs_hz, self.hum_uv * 1e-6, mains_hz=self.mains_hz, phase_rad=phase, t0_s=t0_s)
        if self.offset_uv or self.drift_uv:
            phase = float(rng.uniform(0, 2 * np.pi))
            x += _noise.baseline(n, fs_hz, offset_v=self.offset_uv * 1e-6, drift_v=self.drift_uv * 1e-6,
                                 drift_hz=self.drift_hz, phase_rad=phase, t0_s=t0_s)
        if self.artifact_mv:
            for i in np.atleast_1d(stim_index):
                x += _noise.stimulus_artifact(n, fs_hz, int(i), amplitude_v=self.artifact_mv * 1e-3,
                                              decay_ms=self.artifact_decay_ms)
        if self.clip_mv is not None:
            x = _noise.clip(x, self.clip_mv * 1e-3)
        return x


def muap_shape(t_ms: np.ndarray, neg_ms: float, pos_ms: float, pos_ratio: float) -> np.ndarray:
    """One motor unit's surface potential of unit amplitude, starting at ``t = 0``.

    Negative half-sine of length ``neg_ms`` (linear take-off), then a positive sin²
    lobe of relative amplitude ``pos_ratio`` and length ``pos_ms``; zero elsewhere.
    """
    out = np.zeros_like(t_ms, dtype=np.float64)
    a = (t_ms >= 0) & (t_ms < neg_ms)
    out[a] = -np.sin(np.pi * t_ms[a] / neg_ms)
    b = (t_ms >= neg_ms) & (t_ms < neg_ms + pos_ms)
    out[b] = pos_ratio * np.sin(np.pi * (t_ms[b] - neg_ms) / pos_ms) ** 2
    return out


def _sfap_shape(t_ms: np.ndarray, width_ms: float) -> np.ndarray:
    """A sensory fibre's triphasic (+ − +) potential of unit negative amplitude, starting at 0."""
    w1, w2, w3 = 0.35 * width_ms, width_ms, 1.6 * width_ms
    out = np.zeros_like(t_ms, dtype=np.float64)
    a = (t_ms >= 0) & (t_ms < w1)
    out[a] = 0.15 * np.sin(np.pi * t_ms[a] / w1)
    b = (t_ms >= w1) & (t_ms < w1 + w2)
    out[b] = -np.sin(np.pi * (t_ms[b] - w1) / w2)
    c = (t_ms >= w1 + w2) & (t_ms < w1 + w2 + w3)
    out[c] = 0.3 * np.sin(np.pi * (t_ms[c] - w1 - w2) / w3) ** 2
    return out


@dataclass(frozen=True)
class ResponseTruth:
    """Ground-truth measures of one evoked response, from its clean waveform.

    Times are from the stimulus (ms); amplitudes mV (SNAPs: see ``to_dict(sensory=True)``).
    ``present`` is False for an absent response (all other fields None).
    """

    present: bool
    onset_latency_ms: float | None = None
    neg_peak_latency_ms: float | None = None
    amplitude_mv: float | None = None
    peak_to_peak_mv: float | None = None
    neg_duration_ms: float | None = None
    total_duration_ms: float | None = None
    neg_area_mvms: float | None = None
    total_area_mvms: float | None = None

    def to_dict(self, sensory: bool = False) -> dict[str, Any]:
        """Plain dict rounded for JSON; sensory responses in µV (``amplitude_uv``...)."""
        d = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        if sensory:
            for k in ("amplitude", "peak_to_peak"):
                v = d.pop(f"{k}_mv")
                d[f"{k}_uv"] = None if v is None else round(v * 1e3, 4)
            for k in ("neg_area", "total_area"):
                v = d.pop(f"{k}_mvms")
                d[f"{k}_uvms"] = None if v is None else round(v * 1e3, 4)
        return d


def response_truth(clean_mv: np.ndarray, t_ms: np.ndarray, onset_ms: float | None) -> ResponseTruth:
    """Measure a clean response sampled on a fine grid (see module docstring).

    Parameters
    ----------
    clean_mv : numpy.ndarray
        Clean waveform (mV) on the uniform grid ``t_ms`` (ms from the stimulus).
    t_ms : numpy.ndarray
        Grid times.
    onset_ms : float or None
        Exact onset (the earliest responding unit's latency); None when no unit responds.
    """
    if onset_ms is None or not np.any(clean_mv):
        return ResponseTruth(present=False)
    dt = float(t_ms[1] - t_ms[0])
    ipk = int(np.argmin(clean_mv))
    amp = -float(clean_mv[ipk])
    after = clean_mv[ipk:]
    up = np.flatnonzero(after >= 0)
    if up.size:
        j = ipk + int(up[0])
        # linear interpolation between j-1 (negative) and j (>= 0)
        x0, x1 = clean_mv[j - 1], clean_mv[j]
        neg_end = float(t_ms[j - 1] + dt * (-x0) / (x1 - x0))
    else:
        neg_end = float(t_ms[-1])
    big = np.flatnonzero(np.abs(clean_mv) >= TOTAL_END_FRACTION * amp)
    total_end = float(t_ms[big[-1]])
    sel = (t_ms >= onset_ms) & (t_ms <= neg_end)
    neg_area = float(-np.trapezoid(np.minimum(clean_mv[sel], 0.0), t_ms[sel]))
    sel_all = (t_ms >= onset_ms) & (t_ms <= total_end)
    total_area = float(np.trapezoid(np.abs(clean_mv[sel_all]), t_ms[sel_all]))
    return ResponseTruth(
        present=True,
        onset_latency_ms=float(onset_ms),
        neg_peak_latency_ms=float(t_ms[ipk]),
        amplitude_mv=amp,
        peak_to_peak_mv=float(clean_mv.max() - clean_mv.min()),
        neg_duration_ms=neg_end - float(onset_ms),
        total_duration_ms=total_end - float(onset_ms),
        neg_area_mvms=neg_area,
        total_area_mvms=total_area,
    )


@dataclass(frozen=True)
class SimulatedResponse:
    """Sweeps of one stimulation site with their clean waveforms and truth.

    ``samples_v`` and ``clean_v`` have shape (n_sweeps, n_samples); the stimulus is at
    sample ``stim_index`` of every sweep (RNS: ``stim_indices`` of the one sweep).
    """

    site: str
    fs_hz: float
    stim_index: int
    samples_v: np.ndarray
    clean_v: np.ndarray
    truth: ResponseTruth
    stim_indices: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- motor


@dataclass(frozen=True)
class MotorSpec:
    """A motor nerve–muscle pair.

    Parameters
    ----------
    distal_latency_ms : float
        Onset latency at the first (distal) site.
    amplitude_mv : float
        Clean negative-peak amplitude at the distal site (0: absent response).
    cv_m_s : float
        Velocity of the fastest axons between the stimulation sites.
    cv_spread_m_s : float
        Half-normal spread of axon velocities below the fastest.
    mfcv_m_s : float
        Muscle-fibre conduction velocity (normal about 4 m/s; myopathy slows it).
    n_units : int
        Number of responding motor units.
    latency_dispersion_ms : float
        Half-normal spread of unit latencies at the distal site.
    neg_ms, pos_ms, pos_ratio : float
        Per-unit potential shape at 4 m/s fibre velocity.
    block : tuple of float
        Per segment (between site k and k+1): fraction of units that fail to conduct.
    """

    distal_latency_ms: float
    amplitude_mv: float
    cv_m_s: float = 57.0
    cv_spread_m_s: float = 4.0
    mfcv_m_s: float = 4.0
    n_units: int = 120
    latency_dispersion_ms: float = 0.35
    front_fraction: float = 0.25
    neg_ms: float = 3.6
    pos_ms: float = 7.0
    pos_ratio: float = 0.45
    block: tuple[float, ...] = ()


@dataclass(frozen=True)
class _UnitPool:
    lat_ms: np.ndarray
    amp: np.ndarray
    neg_ms: np.ndarray
    pos_ms: np.ndarray
    cv_m_s: np.ndarray
    pos_ratio: float


def _pool(spec: MotorSpec, rng: np.random.Generator) -> _UnitPool:
    n = int(spec.n_units)
    if n < 1:
        raise ValueError("n_units must be >= 1")
    nf = max(1, int(round(spec.front_fraction * n)))
    delay = np.concatenate([rng.uniform(0.0, 0.05, nf), 0.05 + np.abs(rng.normal(0.0, spec.latency_dispersion_ms, n - nf))])
    delay[0] = 0.0
    k = 4.0 / spec.mfcv_m_s
    # the slowest conducting axons keep at least half the fastest velocity
    cv = np.clip(spec.cv_m_s - np.abs(rng.normal(0.0, spec.cv_spread_m_s, n)), 0.5 * spec.cv_m_s, spec.cv_m_s)
    cv[0] = spec.cv_m_s
    # Large axons conduct fast both in the nerve trunk and in their terminal branches:
    # the units that arrive first distally are mostly the fast ones.  Order the velocities
    # by a noisy rank of the distal delay (rank correlation about 0.8).
    noisy_rank = np.argsort(np.argsort(delay + rng.normal(0.0, 0.6 * (delay.std() + 1e-9), n)))
    cv = np.sort(cv)[::-1][noisy_rank]
    cv[0] = spec.cv_m_s
    return _UnitPool(
        lat_ms=spec.distal_latency_ms + delay,
        amp=rng.lognormal(0.0, 0.5, n),
        neg_ms=spec.neg_ms * k * rng.uniform(0.85, 1.15, n),
        pos_ms=spec.pos_ms * k * rng.uniform(0.85, 1.15, n),
        cv_m_s=cv,
        pos_ratio=spec.pos_ratio,
    )


def _sum_units(t_ms: np.ndarray, pool: _UnitPool, lat_ms: np.ndarray, present: np.ndarray, scale: float) -> np.ndarray:
    x = np.zeros_like(t_ms)
    for i in np.flatnonzero(present):
        x += pool.amp[i] * muap_shape(t_ms - lat_ms[i], pool.neg_ms[i], pool.pos_ms[i], pool.pos_ratio)
    return x * scale


@dataclass(frozen=True)
class MotorTruth:
    """Truth of a multi-site motor study: per-site responses and per-segment velocities."""

    sites: tuple[tuple[str, ResponseTruth], ...]
    segments: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sites": {name: t.to_dict() for name, t in self.sites}, "segments": list(self.segments)}


def _grid(end_ms: float) -> np.ndarray:
    return np.arange(0.0, end_ms, FINE_STEP_MS)


def _pool_grid(pool: _UnitPool) -> np.ndarray:
    """Truth grid long enough for the latest unit of ``pool`` at the distal site."""
    return _grid(float(pool.lat_ms.max() + (pool.neg_ms + pool.pos_ms).max() + 2.0))


def _sample_times(fs_hz: float, pre_ms: float, post_ms: float) -> tuple[np.ndarray, int]:
    pre = int(round(pre_ms * 1e-3 * fs_hz))
    post = int(round(post_ms * 1e-3 * fs_hz))
    idx = np.arange(-pre, post)
    return idx / fs_hz * 1e3, pre


def simulate_motor(
    spec: MotorSpec,
    sites: Sequence[tuple[str, float]],
    fs_hz: float,
    *,
    realism: Realism = Realism(),
    pre_ms: float = 5.0,
    post_ms: float = 45.0,
    seed: int = 0,
) -> tuple[list[SimulatedResponse], MotorTruth]:
    """Simulate the CMAPs of one motor nerve at several stimulation sites.

    Parameters
    ----------
    spec : MotorSpec
        The nerve–muscle model.
    sites : sequence of (name, distance_mm)
        Distal first; the first distance is stimulation-to-recording (kept for the
        manifest), later ones are segment lengths from the previous site.
    fs_hz : float
        Sampling rate of the sweeps.
    realism : Realism
        Imperfections added to each sweep.
    pre_ms, post_ms : float
        Sweep window around the stimulus.
    seed : int
        Seed of the random generator (deterministic output).

    Returns
    -------
    responses : list of SimulatedResponse
        One sweep per site.
    truth : MotorTruth
        Per-site response truth and per-segment conduction velocity, amplitude and
        area drop and duration increase (conduction block / temporal dispersion).
    """
    rng = np.random.default_rng(seed)
    pool = _pool(spec, rng)
    n = pool.amp.size
    # truth grid: long enough for the slowest unit at the most proximal site
    reach = float(pool.lat_ms.max() + sum(d for _, d in sites[1:]) / pool.cv_m_s.min()
                  + (pool.neg_ms + pool.pos_ms).max() + 2.0)
    fine = _grid(reach)
    t_s, stim = _sample_times(fs_hz, pre_ms, post_ms)
    present = np.ones(n, bool)
    lat = pool.lat_ms.copy()
    # scale so that the distal clean amplitude is exactly the requested one
    if spec.amplitude_mv > 0:
        distal = _sum_units(fine, pool, lat, present, 1.0)
        scale = spec.amplitude_mv / -distal.min()
    else:
        scale = 0.0
    responses: list[SimulatedResponse] = []
    truths: list[tuple[str, ResponseTruth]] = []
    segments: list[dict[str, Any]] = []
    for k, (name, dist_mm) in enumerate(sites):
        if k > 0:
            lat = lat + dist_mm / pool.cv_m_s  # mm / (m/s) = ms
            frac = spec.block[k - 1] if k - 1 < len(spec.block) else 0.0
            if frac > 0:
                alive = np.flatnonzero(present)
                drop = rng.choice(alive, size=int(round(frac * alive.size)), replace=False)
                present[drop] = False
        clean_fine = _sum_units(fine, pool, lat, present, scale)
        onset = float(lat[present].min()) if scale > 0 and present.any() else None
        truth = response_truth(clean_fine, fine, onset)
        clean = _sum_units(t_s, pool, lat, present, scale) * 1e-3
        x = realism.apply(clean, fs_hz, stim, rng)
        responses.append(SimulatedResponse(name, fs_hz, stim, x[None, :], clean[None, :], truth))
        truths.append((name, truth))
        if k > 0:
            prev = truths[k - 1][1]
            seg: dict[str, Any] = {"from": truths[k - 1][0], "to": name, "distance_mm": float(dist_mm)}
            if prev.present and truth.present:
                seg.update(
                    cv_m_s=round(dist_mm / (truth.onset_latency_ms - prev.onset_latency_ms), 6),
                    amplitude_drop_pct=round(100 * (1 - truth.amplitude_mv / prev.amplitude_mv), 6),
                    area_drop_pct=round(100 * (1 - truth.neg_area_mvms / prev.neg_area_mvms), 6),
                    duration_increase_pct=round(100 * (truth.neg_duration_ms / prev.neg_duration_ms - 1), 6),
                    blocked_units_fraction=round(float(1 - present.sum() / n), 6),
                )
            segments.append(seg)
    return responses, MotorTruth(tuple(truths), tuple(segments))


# --------------------------------------------------------------------------- sensory


@dataclass(frozen=True)
class SensorySpec:
    """A sensory nerve (antidromic SNAP).

    Parameters
    ----------
    distance_mm : float
        Stimulation to recording electrode.
    amplitude_uv : float
        Clean baseline-to-negative-peak amplitude (0: absent).
    cv_m_s : float
        Velocity of the fastest fibres (onset latency = distance / cv).
    cv_spread_m_s : float
        Half-normal spread of fibre velocities below the fastest.
    n_fibres : int
    sfap_ms : float
        Negative-phase width of one fibre's potential.
    """

    distance_mm: float
    amplitude_uv: float
    cv_m_s: float = 58.0
    cv_spread_m_s: float = 5.0
    n_fibres: int = 400
    front_fraction: float = 0.2
    sfap_ms: float = 0.55


def simulate_sensory(
    spec: SensorySpec,
    fs_hz: float,
    *,
    n_sweeps: int = 8,
    realism: Realism = Realism(noise_uv_rms=2.0),
    pre_ms: float = 2.0,
    post_ms: float = 18.0,
    site: str = "stim",
    seed: int = 0,
) -> SimulatedResponse:
    """Simulate ``n_sweeps`` SNAP sweeps (to be averaged) of one sensory nerve.

    The truth is the clean SNAP's: onset latency (first departure, the initial
    positive phase), negative-peak latency, amplitude baseline-to-negative-peak and
    peak-to-peak (``ResponseTruth`` in mV; ``to_dict(sensory=True)`` gives µV).
    """
    rng = np.random.default_rng(seed)
    n = int(spec.n_fibres)
    nf = max(1, int(round(spec.front_fraction * n)))
    slow = np.concatenate([rng.uniform(0.0, 0.3, nf), 0.3 + np.abs(rng.normal(0.0, spec.cv_spread_m_s, n - nf))])
    slow[0] = 0.0
    cv = np.maximum(spec.cv_m_s - slow, 0.5 * spec.cv_m_s)
    lat = spec.distance_mm / cv
    amp = rng.lognormal(0.0, 0.3, n)
    width = spec.sfap_ms * rng.uniform(0.9, 1.1, n)
    fine = _grid(float(lat.max() + 3.0 * width.max() + 2.0))

    def total(t: np.ndarray) -> np.ndarray:
        x = np.zeros_like(t)
        for i in range(n):
            x += amp[i] * _sfap_shape(t - lat[i], width[i])
        return x

    if spec.amplitude_uv > 0:
        base = total(fine)
        scale = spec.amplitude_uv * 1e-3 / -base.min()
        truth = response_truth(base * scale, fine, float(lat.min()))
    else:
        scale = 0.0
        truth = ResponseTruth(present=False)
    t_s, stim = _sample_times(fs_hz, pre_ms, post_ms)
    clean = total(t_s) * scale * 1e-3
    sweeps = np.vstack([realism.apply(clean, fs_hz, stim, rng) for _ in range(n_sweeps)])
    return SimulatedResponse(site, fs_hz, stim, sweeps, np.tile(clean, (n_sweeps, 1)), truth)


# --------------------------------------------------------------------------- F-waves


@dataclass(frozen=True)
class FWaveSpec:
    """F-waves of a train of supramaximal stimuli.

    Parameters
    ----------
    min_latency_ms : float
        Shortest F latency of the train.
    chronodispersion_ms : float
        Longest minus shortest F latency.
    persistence : float
        Fraction of sweeps with an F-wave (rounded to whole sweeps).
    amplitude_mv : float
        Typical F-wave peak-to-peak amplitude (each varies by ±50 %).
    n_sweeps : int
    """

    min_latency_ms: float
    chronodispersion_ms: float = 2.5
    persistence: float = 0.9
    amplitude_mv: float = 0.3
    n_sweeps: int = 20


def simulate_fwaves(
    motor: MotorSpec,
    spec: FWaveSpec,
    fs_hz: float,
    *,
    realism: Realism = Realism(),
    pre_ms: float = 5.0,
    post_ms: float = 80.0,
    site: str = "distal",
    seed: int = 0,
) -> SimulatedResponse:
    """Simulate an F-wave train: the M response plus, in some sweeps, a late F response.

    Truth (``extra["fwaves"]``): per sweep whether an F-wave is present, its onset
    latency (first departure of the F component) and peak-to-peak amplitude; and the
    train's minimal and mean latency, persistence and chronodispersion.
    """
    if spec.min_latency_ms + spec.chronodispersion_ms + 15.0 > post_ms:
        raise ValueError("post_ms too short for the F-waves")
    rng = np.random.default_rng(seed)
    pool = _pool(motor, rng)
    fine_m = _pool_grid(pool)
    m_base = _sum_units(fine_m, pool, pool.lat_ms, np.ones(pool.amp.size, bool), 1.0)
    scale = motor.amplitude_mv / -m_base.min() if motor.amplitude_mv > 0 else 0.0
    m_truth = response_truth(m_base * scale, fine_m, float(pool.lat_ms.min()) if scale else None)
    t_s, stim = _sample_times(fs_hz, pre_ms, post_ms)
    m_clean = _sum_units(t_s, pool, pool.lat_ms, np.ones(pool.amp.size, bool), scale)
    n = int(spec.n_sweeps)
    k_present = int(round(spec.persistence * n))
    present_idx = sorted(rng.choice(n, size=k_present, replace=False).tolist()) if k_present else []
    lats = rng.uniform(spec.min_latency_ms, spec.min_latency_ms + spec.chronodispersion_ms, k_present)
    if k_present >= 2:
        lats[np.argmin(lats)] = spec.min_latency_ms
        lats[np.argmax(lats)] = spec.min_latency_ms + spec.chronodispersion_ms
    elif k_present == 1:
        lats[0] = spec.min_latency_ms
    sweeps, cleans, per_sweep = [], [], []
    fine_f = _grid(40.0)
    j = 0
    for s in range(n):
        clean = m_clean.copy()
        entry: dict[str, Any] = {"sweep": s, "present": False, "onset_latency_ms": None, "peak_to_peak_mv": None}
        if s in present_idx:
            n_u = int(rng.integers(1, 5))
            units = rng.choice(pool.amp.size, size=n_u, replace=False)
            offs = np.concatenate([[0.0], rng.uniform(0.0, 0.8, n_u - 1)])
            target = spec.amplitude_mv * rng.uniform(0.5, 1.5)
            f_fine = np.zeros_like(fine_f)
            f_s = np.zeros_like(t_s)
            for u, o in zip(units, offs):
                f_fine += pool.amp[u] * muap_shape(fine_f - 1.0 - o, pool.neg_ms[u], pool.pos_ms[u], pool.pos_ratio)
                f_s += pool.amp[u] * muap_shape(t_s - lats[j] - o, pool.neg_ms[u], pool.pos_ms[u], pool.pos_ratio)
            fscale = target / (f_fine.max() - f_fine.min())
            clean = clean + f_s * fscale
            entry.update(present=True, onset_latency_ms=round(float(lats[j]), 6), peak_to_peak_mv=round(float(target), 6))
            j += 1
        cleans.append(clean * 1e-3)
        sweeps.append(realism.apply(clean * 1e-3, fs_hz, stim, rng))
        per_sweep.append(entry)
    f_lats = [e["onset_latency_ms"] for e in per_sweep if e["present"]]
    summary = {
        "n_sweeps": n,
        "persistence_pct": round(100.0 * len(f_lats) / n, 6),
        "min_latency_ms": round(min(f_lats), 6) if f_lats else None,
        "mean_latency_ms": round(float(np.mean(f_lats)), 6) if f_lats else None,
        "max_latency_ms": round(max(f_lats), 6) if f_lats else None,
        "chronodispersion_ms": round(max(f_lats) - min(f_lats), 6) if f_lats else None,
        "sweeps": per_sweep,
    }
    return SimulatedResponse(site, fs_hz, stim, np.vstack(sweeps), np.vstack(cleans), m_truth, extra={"fwaves": summary})


# --------------------------------------------------------------------------- RNS


@dataclass(frozen=True)
class RnsSpec:
    """A repetitive-stimulation train.

    Parameters
    ----------
    rate_hz : float
        Stimulation rate (2–3 Hz for neuromuscular transmission testing).
    n_stimuli : int
    decrement_pct : float
        Amplitude (and area) decrement from the 1st to the 4th response.
    """

    rate_hz: float = 3.0
    n_stimuli: int = 10
    decrement_pct: float = 0.0


def simulate_rns(
    motor: MotorSpec,
    spec: RnsSpec,
    fs_hz: float,
    *,
    realism: Realism = Realism(),
    pre_ms: float = 20.0,
    post_ms: float = 300.0,
    site: str = "distal",
    seed: int = 0,
) -> SimulatedResponse:
    """Simulate one continuous sweep holding a whole repetitive-stimulation train.

    Truth (``extra["rns"]``): each response's amplitude and negative area, the
    decrement from the 1st to the 4th response (amplitude and area, %), and the
    largest decrement among the first five responses.
    """
    if spec.n_stimuli > len(RNS_PROFILE):
        raise ValueError(f"at most {len(RNS_PROFILE)} stimuli")
    rng = np.random.default_rng(seed)
    pool = _pool(motor, rng)
    allu = np.ones(pool.amp.size, bool)
    fine = _pool_grid(pool)
    base = _sum_units(fine, pool, pool.lat_ms, allu, 1.0)
    scale = motor.amplitude_mv / -base.min()
    one = response_truth(base * scale, fine, float(pool.lat_ms.min()))
    period_ms = 1000.0 / spec.rate_hz
    factors = [1.0 - spec.decrement_pct / 100.0 * RNS_PROFILE[k] for k in range(spec.n_stimuli)]
    total_ms = pre_ms + (spec.n_stimuli - 1) * period_ms + post_ms
    n = int(round(total_ms * 1e-3 * fs_hz))
    t_ms = np.arange(n) / fs_hz * 1e3
    stims = [int(round((pre_ms + k * period_ms) * 1e-3 * fs_hz)) for k in range(spec.n_stimuli)]
    clean = np.zeros(n)
    for k, i0 in enumerate(stims):
        clean += factors[k] * _sum_units(t_ms - i0 / fs_hz * 1e3, pool, pool.lat_ms, allu, scale)
    clean *= 1e-3
    x = realism.apply(clean, fs_hz, stims, rng)
    amps = [one.amplitude_mv * f for f in factors]
    areas = [one.neg_area_mvms * f for f in factors]
    first5 = factors[: min(5, len(factors))]
    rns = {
        "rate_hz": spec.rate_hz,
        "n_stimuli": spec.n_stimuli,
        "amplitudes_mv": [round(a, 6) for a in amps],
        "neg_areas_mvms": [round(a, 6) for a in areas],
        "decrement_pct": round(100.0 * (1 - factors[3]), 6) if len(factors) >= 4 else None,
        "area_decrement_pct": round(100.0 * (1 - factors[3]), 6) if len(factors) >= 4 else None,
        "max_decrement_first5_pct": round(100.0 * (1 - min(first5)), 6),
    }
    return SimulatedResponse(site, fs_hz, stims[0], x[None, :], clean[None, :], one, stim_indices=tuple(stims),
                             extra={"rns": rns})


# --------------------------------------------------------------------------- DMS


@dataclass(frozen=True)
class DmsSpec:
    """Direct muscle stimulation: muscle- and nerve-evoked responses of one muscle.

    Parameters
    ----------
    mcmap_mv : float
        Clean amplitude of the muscle-evoked response (excitable muscle 0.5–10 mV, Rich 1996).
    ncmap_mv : float
        Clean amplitude of the nerve-evoked response.
    mcmap_latency_ms, ncmap_latency_ms : float
        Onset latencies (the muscle is stimulated close to the recording site).
    mfcv_m_s : float
        Muscle-fibre conduction velocity (shapes both responses).
    """

    mcmap_mv: float
    ncmap_mv: float
    mcmap_latency_ms: float = 1.2
    ncmap_latency_ms: float = 3.4
    mfcv_m_s: float = 4.0


def simulate_dms(
    spec: DmsSpec,
    fs_hz: float,
    *,
    realism: Realism = Realism(artifact_mv=2.0),
    pre_ms: float = 5.0,
    post_ms: float = 45.0,
    seed: int = 0,
) -> tuple[SimulatedResponse, SimulatedResponse, dict[str, Any]]:
    """Simulate the nerve-evoked (nCMAP) and muscle-evoked (mCMAP) responses.

    Returns the nerve response, the muscle response and the truth summary
    (both amplitudes and the nCMAP/mCMAP ratio of the clean amplitudes).
    """
    muscle = MotorSpec(distal_latency_ms=spec.mcmap_latency_ms, amplitude_mv=spec.mcmap_mv, mfcv_m_s=spec.mfcv_m_s,
                       latency_dispersion_ms=0.2, n_units=150)
    nerve = MotorSpec(distal_latency_ms=spec.ncmap_latency_ms, amplitude_mv=spec.ncmap_mv, mfcv_m_s=spec.mfcv_m_s,
                      n_units=120)
    (m,), _ = simulate_motor(muscle, [("muscle", 0.0)], fs_hz, realism=realism, pre_ms=pre_ms, post_ms=post_ms, seed=seed)
    (nv,), _ = simulate_motor(nerve, [("nerve", 0.0)], fs_hz, realism=realism, pre_ms=pre_ms, post_ms=post_ms, seed=seed + 1)
    ratio = None
    if m.truth.present and nv.truth.present and m.truth.amplitude_mv:
        ratio = nv.truth.amplitude_mv / m.truth.amplitude_mv
    elif m.truth.present:
        ratio = 0.0
    summary = {
        "ncmap_amplitude_mv": None if not nv.truth.present else round(nv.truth.amplitude_mv, 6),
        "mcmap_amplitude_mv": None if not m.truth.present else round(m.truth.amplitude_mv, 6),
        "ratio": None if ratio is None else round(ratio, 6),
    }
    return nv, m, summary


def temperature_adjusted_cv(cv_m_s: float, temperature_c: float, reference_c: float = REFERENCE_TEMP_C) -> float:
    """Conduction velocity at ``temperature_c`` given the value at the reference temperature.

    Linear slowing of :data:`CV_PER_DEG_C` m/s per °C below the reference (none above).
    """
    return max(cv_m_s - CV_PER_DEG_C * max(0.0, reference_c - temperature_c), 1.0)
