"""Recording imperfections added to clean simulated signals.

Every function takes a ``numpy.random.Generator`` (or needs none) and returns a new
array in volts, so a simulated recording is ``clean + sum of imperfections`` and the
clean part stays available as ground truth.
"""

from __future__ import annotations

import numpy as np

__all__ = ["white_noise", "mains_hum", "baseline", "stimulus_artifact", "clip"]


def white_noise(n: int, rms_v: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise of the given RMS (volts)."""
    if rms_v < 0:
        raise ValueError("rms_v must be >= 0")
    if rms_v == 0:
        return np.zeros(n)
    return rng.normal(0.0, rms_v, n)


def mains_hum(
    n: int,
    fs_hz: float,
    amplitude_v: float,
    *,
    mains_hz: float = 50.0,
    harmonics: tuple[float, ...] = (1.0, 0.3, 0.15),
    phase_rad: float = 0.0,
    t0_s: float = 0.0,
) -> np.ndarray:
    """Power-line interference: the fundamental (50 or 60 Hz) and odd harmonics.

    ``amplitude_v`` is the fundamental's amplitude (peak); ``harmonics`` are the
    relative amplitudes of the 1st, 3rd, 5th, ... harmonic.
    """
    t = t0_s + np.arange(n) / fs_hz
    out = np.zeros(n)
    for k, rel in enumerate(harmonics):
        h = 2 * k + 1
        out += rel * np.sin(2 * np.pi * mains_hz * h * t + h * phase_rad)
    return amplitude_v * out


def baseline(
    n: int,
    fs_hz: float,
    *,
    offset_v: float = 0.0,
    drift_v: float = 0.0,
    drift_hz: float = 0.3,
    phase_rad: float = 0.0,
    t0_s: float = 0.0,
) -> np.ndarray:
    """Baseline offset plus slow drift (a sinusoid of ``drift_hz``, amplitude ``drift_v``)."""
    t = t0_s + np.arange(n) / fs_hz
    return offset_v + drift_v * np.sin(2 * np.pi * drift_hz * t + phase_rad)


def stimulus_artifact(
    n: int,
    fs_hz: float,
    index: int,
    *,
    amplitude_v: float = 3e-3,
    decay_ms: float = 0.3,
    pulse_ms: float = 0.2,
    tail_fraction: float = 0.3,
) -> np.ndarray:
    """Stimulus artifact starting at sample ``index``.

    A rectangular pulse of ``amplitude_v`` lasting the stimulus (``pulse_ms``), then an
    exponential recovery of the opposite sign starting at ``tail_fraction`` of the
    amplitude and decaying with time constant ``decay_ms`` (amplifier recovery).  A
    3 mV artifact with 0.3 ms decay is still about 0.1 mV after 1 ms and 4 µV after
    2 ms, so it overlaps short latencies as real artifacts do.
    """
    out = np.zeros(n)
    if not 0 <= index < n:
        return out
    t_ms = (np.arange(n - index)) / fs_hz * 1e3
    seg = np.where(
        t_ms < pulse_ms,
        amplitude_v,
        -tail_fraction * amplitude_v * np.exp(-(t_ms - pulse_ms) / decay_ms),
    )
    out[index:] = seg
    return out


def clip(x: np.ndarray, rail_v: float) -> np.ndarray:
    """Amplifier saturation: values beyond ±``rail_v`` stick at the rail."""
    return np.clip(x, -rail_v, rail_v)
