"""Cutting stimulus-locked sweeps out of continuous recordings."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from ..errors import FormatError
from ..model import Recording, Stimulus, Sweep

log = logging.getLogger("edx.io")

__all__ = ["cut_sweeps", "pick_voltage_channel"]


def pick_voltage_channel(recording: Recording, channel: str | None) -> str:
    """The channel to use: the one named, else the recording's only voltage channel."""
    units = recording.unit_by_channel
    if channel is not None:
        if channel not in units:
            raise FormatError(f"{recording.source}: channel {channel!r} not found; channels are {list(units)}")
        if units[channel] != "V":
            raise FormatError(f"{recording.source}: channel {channel!r} is not a voltage channel (unit {units[channel]!r})")
        return channel
    volt = [c for c, u in units.items() if u == "V"]
    if len(volt) != 1:
        raise FormatError(
            f"{recording.source}: {len(volt)} voltage channels {volt}; say which one to use (channel=...)"
        )
    return volt[0]


def cut_sweeps(
    recording: Recording,
    channel: str | None = None,
    *,
    pre_s: float = 0.005,
    post_s: float = 0.045,
    stimuli: Sequence[Stimulus] | None = None,
) -> tuple[Sweep, ...]:
    """Cut one sweep per stimulus from a channel's continuous traces.

    Parameters
    ----------
    recording : Recording
        The source.
    channel : str, optional
        Voltage channel; default the recording's only voltage channel.
    pre_s, post_s : float
        Seconds kept before and after each stimulus.
    stimuli : sequence of Stimulus, optional
        Default ``recording.stimuli`` (those for this channel or for all channels).

    Returns
    -------
    tuple of Sweep
        One per stimulus whose window lies inside a trace; the stimulus sits at
        sample ``round(pre_s * fs)``.  Later stimuli falling inside the same
        window are listed too.  Stimuli whose window runs past a trace's edge
        (or into a gap) are skipped and the number skipped is logged as a warning.

    Raises
    ------
    FormatError
        If the channel is ambiguous or missing, or no stimulus yields a sweep.
    """
    if not (math.isfinite(pre_s) and math.isfinite(post_s) and pre_s >= 0 and post_s > 0):
        raise ValueError("pre_s must be >= 0 and post_s > 0")
    ch = pick_voltage_channel(recording, channel)
    marks = [s for s in (recording.stimuli if stimuli is None else stimuli) if s.channel in (None, ch)]
    if not marks:
        raise FormatError(
            f"{recording.source}: no stimulus marks for channel {ch!r} (no annotations, trigger channel, "
            "manifest stimulus_s or detectable artifact); the sweeps cannot be located"
        )
    traces = recording.traces_of(ch)
    times = [m.time_s for m in marks]
    out: list[Sweep] = []
    skipped = 0
    for k, m in enumerate(marks):
        tr = next((t for t in traces if t.start_s - 1e-12 <= m.time_s < t.end_s), None)
        if tr is None:
            skipped += 1
            continue
        pre = int(round(pre_s * tr.fs_hz))
        post = int(round(post_s * tr.fs_hz))
        centre = int(round((m.time_s - tr.start_s) * tr.fs_hz))
        a, b = centre - pre, centre + post
        if a < 0 or b > tr.n_samples:
            skipped += 1
            continue
        later = [
            int(round((t - tr.start_s) * tr.fs_hz)) - a
            for t in times[k + 1 :]
            if a + pre < int(round((t - tr.start_s) * tr.fs_hz)) < b
        ]
        out.append(
            Sweep(
                tr.samples_v[a:b],
                tr.fs_hz,
                (pre, *sorted(set(later))),
                channel=ch,
                start_s=tr.start_s + a / tr.fs_hz,
                index=len(out),
                stimulus_source=m.source,
                intensity_ma=m.intensity_ma,
                stimulus_duration_ms=m.duration_ms,
                filters=tr.filters,
                clip_range=tr.clip_range,
            )
        )
    if skipped:
        log.warning(
            "%s: %d of %d stimuli on channel %r too close to a trace edge or gap for a %.1f/%.1f ms window; skipped",
            recording.source, skipped, len(marks), ch, pre_s * 1e3, post_s * 1e3,
        )
    if not out:
        raise FormatError(
            f"{recording.source}: none of the {len(marks)} stimuli on channel {ch!r} has a full "
            f"{pre_s * 1e3:.1f} ms / {post_s * 1e3:.1f} ms window inside the data"
        )
    return tuple(out)
