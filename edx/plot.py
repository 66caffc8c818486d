"""Plots for notebooks: responses with their markers, MUP templates, spontaneous activity,
interference patterns and the CRIMYNE trend, as matplotlib Axes.

The drawing is the HTML report's (:mod:`edx.report.figures`, :mod:`edx.report.trend_plot`):
the same traces, markers, colours and scale bars, drawn on an Axes instead of written as
SVG.  Every function takes ``ax=``: given, it draws there (and sets the Axes' limits);
None, it makes a pyplot figure of the size the plot is designed for, so that a notebook
shows it.  Every function returns the Axes it drew on.

Conventions: negative up (a CMAP's negative peak points up), time in ms from the stimulus
for nerve conduction, µV for needle EMG.  The artists carry labels (``"onset"``,
``"negative peak"``, ``"negative-phase end"``, ``"end"``, ``"negative area"``,
``"trace"``, ``"MUP template"``, ``"duration cursor"``, ``"fibrillation"``,
``"positive sharp wave"``: :data:`edx.report.figures.LABELS`), so ``ax.legend()`` names
them and a test can find them.

matplotlib is imported when a function draws, never at ``import edx`` or ``import edx.plot``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .model import Recording, Response, Sweep, Trace

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .interpretation.serial import CrimyneResult
    from .measure.ncs import CmapResult, SnapResult
    from .measure.study import TestMeasurement
    from .model import Study
    from .needle.mup import InterferencePattern, MupAnalysis
    from .needle.spontaneous import SpontaneousResult
    from .report.figures import Layout

log = logging.getLogger("edx.plot")

__all__ = [
    "plot_response",
    "plot_responses",
    "plot_test",
    "plot_spontaneous",
    "plot_mup_templates",
    "plot_interference",
    "plot_crimyne",
]

ResponseLike = Response | Sweep | np.ndarray | Sequence[float]
SignalLike = Recording | Trace | np.ndarray | Sequence[float]


# ----------------------------------------------------------------------------- helpers


def _new_axes(layout: Layout, *, constrained: bool = False) -> Axes:
    """A pyplot figure of ``layout``'s size: its designed axes rectangle, or a
    constrained layout that makes room for matplotlib's own axis labels."""
    import matplotlib.pyplot as plt

    from .report.figures import _WIDTH_IN

    height, rect = layout
    if constrained:  # matplotlib's axis labels need more room than the report's hand-drawn axes
        fig = plt.figure(figsize=(_WIDTH_IN, max(height + 0.5, 2.6)), layout="constrained")
        return fig.add_subplot()
    fig = plt.figure(figsize=(_WIDTH_IN, height))
    return fig.add_axes(rect)


def _response_trace(response: ResponseLike, result: CmapResult | SnapResult | None, label: str,
                    fs_hz: float | None, stimulus_index: int | None) -> Any:
    """A :class:`edx.report.figures.ResponseTrace` of the sweep ``result`` was measured on:
    the first sweep of a response, or the average of its sweeps for a SNAP (as
    :func:`edx.measure_snap` measures)."""
    from .measure.ncs import SnapResult
    from .report.figures import ResponseTrace, _response_samples

    if isinstance(response, Response):
        x, fs, stim = _response_samples(response, average=isinstance(result, SnapResult))
    elif isinstance(response, Sweep):
        x, fs, stim = response.samples_v, response.fs_hz, response.stimulus_index
    else:
        x = np.asarray(response, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"expected one sweep (1-D samples), got shape {x.shape}")
        fs = fs_hz if fs_hz is not None else (result.fs_hz if result is not None else None)
        if fs is None:
            raise ValueError("fs_hz is required with plain samples and no result")
        stim = None
    if fs_hz is not None and abs(float(fs_hz) - float(fs)) > 1e-9 * float(fs):
        raise ValueError(f"fs_hz={fs_hz} disagrees with the sweep's sampling rate {fs} Hz")
    if stimulus_index is not None:
        stim = int(stimulus_index)
    if stim is None and (result is None or result.markers.stimulus is None):
        raise ValueError("the stimulus position is unknown: pass stimulus_index= (or a measured result)")
    return ResponseTrace(label, np.asarray(x, dtype=np.float64), float(fs), stim, result)


def _unit(results: Sequence[Any], unit: str | None) -> str:
    from .measure.ncs import SnapResult

    if unit is not None:
        if unit not in ("mV", "µV", "uV"):
            raise ValueError(f"unit must be 'mV' or 'µV', got {unit!r}")
        return "µV" if unit == "uV" else unit
    return "µV" if any(isinstance(r, SnapResult) for r in results) else "mV"


def _matplotlib_axes(ax: Axes, stack: Any, *, legend: bool) -> None:
    """Real axes for responses drawn with ``bare=False``: a time axis in ms; one row gets
    a voltage axis (labels with their true sign: negative up), several rows a scale bar."""
    from matplotlib.ticker import FuncFormatter

    from .report.figures import response_scale_bar

    ax.set_xlabel("ms from stimulus")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if stack.n_rows == 1:
        # the drawing is negated (negative up); the labels give the recorded voltage
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{-v + 0.0:g}"))
        ax.set_ylabel(f"{stack.unit} (negative up)")
    else:
        ax.yaxis.set_visible(False)
        ax.spines["left"].set_visible(False)
        response_scale_bar(ax, stack)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        keep = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab != "trace"]
        if keep:
            ax.legend(*zip(*keep, strict=True), loc="upper right", fontsize=7, framealpha=0.85, edgecolor="none")


def _sites(signal: SignalLike | Sequence[SignalLike], result: Any, fs_hz: float | None,
           label: str | Sequence[str] | None, kind: str) -> list[Any]:
    """:class:`edx.report.figures.NeedleSite` for one site or a sequence of them."""
    from .report.figures import NeedleSite

    many = isinstance(result, (list, tuple))
    signals = list(signal) if many else [signal]  # type: ignore[arg-type]
    results = list(result) if many else [result]
    if len(signals) != len(results):
        raise ValueError(f"{len(signals)} signals but {len(results)} {kind} results")
    if label is None:
        labels = [f"site {k + 1}" for k in range(len(signals))] if many else [""]
    elif isinstance(label, str):
        labels = [label]
    else:
        labels = list(label)
    if len(labels) != len(signals):
        raise ValueError(f"{len(labels)} labels for {len(signals)} sites")
    out = []
    for sig, res, lab in zip(signals, results, labels, strict=True):
        x, fs = _samples(sig, fs_hz)
        out.append(NeedleSite(lab, x, fs, res))
    return out


def _samples(signal: SignalLike, fs_hz: float | None) -> tuple[np.ndarray, float]:
    if isinstance(signal, Recording):
        if len(signal.traces) != 1:
            raise ValueError(f"the recording holds {len(signal.traces)} channels: pass one (recording.traces[i])")
        signal = signal.traces[0]
    if isinstance(signal, Trace):
        return signal.samples_v, signal.fs_hz
    if fs_hz is None:
        raise ValueError("fs_hz is required with plain samples")
    return np.asarray(signal, dtype=np.float64), float(fs_hz)


# ----------------------------------------------------------------------------- nerve conduction


def plot_response(response: ResponseLike, result: CmapResult | SnapResult | None = None, *,
                  fs_hz: float | None = None, stimulus_index: int | None = None, label: str = "",
                  unit: str | None = None, legend: bool = True, ax: Axes | None = None) -> Axes:
    """One motor or sensory response, negative up, with the markers of its measurement.

    Parameters
    ----------
    response : Response, Sweep or array_like
        The response as loaded (:func:`edx.load_site`), one sweep, or samples in volts.
        A SNAP's sweeps are averaged, as :func:`edx.measure_snap` averages them.
    result : CmapResult or SnapResult, optional
        Its measurement (:func:`edx.measure_cmap`, :func:`edx.measure_snap`,
        :func:`edx.override_markers`); without it only the trace is drawn.
    fs_hz : float, optional
        Sampling rate of plain samples (default: the result's).
    stimulus_index : int, optional
        Sample of the stimulus (default: the result's marker, else the sweep's).
    label : str
        Name of the row (the stimulation site), written beside the values.
    unit : {"mV", "µV"}, optional
        Display unit (default: µV for a SNAP, mV otherwise).
    legend : bool
        Name the markers in a legend.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Time in ms from the stimulus; the y axis in the display unit with the recorded
        sign (negative up); onset (blue tick), negative peak (red triangle), end of the
        negative phase (green tick) with the negative-phase duration bracketed and its
        area shaded, end of the response (grey tick); the measured values beside it.
    """
    from .report.figures import draw_responses, response_layout

    tr = _response_trace(response, result, label, fs_hz, stimulus_index)
    u = _unit([result], unit)
    ax = ax if ax is not None else _new_axes(response_layout(1), constrained=True)
    stack = draw_responses(ax, [tr], unit=u, bare=False)
    _matplotlib_axes(ax, stack, legend=legend)
    return ax


def plot_responses(responses: Sequence[ResponseLike], results: Sequence[CmapResult | SnapResult | None], *,
                   labels: Sequence[str] | None = None, fs_hz: float | None = None, unit: str | None = None,
                   legend: bool = False, ax: Axes | None = None) -> Axes:
    """Several responses stacked top to bottom at one common gain, as on an EMG machine.

    Parameters
    ----------
    responses : sequence of Response, Sweep or array_like
        Distal site first (or one row per day, per side, ...).
    results : sequence of CmapResult, SnapResult or None
        The measurement of each.
    labels : sequence of str, optional
        Row names (default: the responses' site names, else ``row 1``, ``row 2``, ...).
    fs_hz : float, optional
        Sampling rate of plain samples.
    unit : {"mV", "µV"}, optional
    legend : bool
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Time in ms from the stimulus; an amplitude scale bar instead of a y axis (row
        ``k``'s baseline at ``y = -k * spacing``); the markers and values of
        :func:`plot_response` on every row.
    """
    from .report.figures import draw_responses, response_layout

    if len(responses) != len(results):
        raise ValueError(f"{len(responses)} responses but {len(results)} results")
    if labels is None:
        labels = [getattr(r, "site", "") or f"row {k + 1}" for k, r in enumerate(responses)]
    if len(labels) != len(responses):
        raise ValueError(f"{len(labels)} labels for {len(responses)} responses")
    traces = [_response_trace(r, res, lab, fs_hz, None) for r, res, lab in zip(responses, results, labels, strict=True)]
    u = _unit(results, unit)
    ax = ax if ax is not None else _new_axes(response_layout(len(traces)), constrained=True)
    stack = draw_responses(ax, traces, unit=u, bare=False)
    _matplotlib_axes(ax, stack, legend=legend)
    return ax


def plot_test(study: Study, measurement: TestMeasurement, *, site_labels: Sequence[str] | None = None,
              ax: Axes | None = None) -> Axes:
    """The HTML report's figure of one test of a study, loaded from its files.

    Parameters
    ----------
    study : Study
        The study (:func:`edx.read_manifest`); its manifest locates the files.
    measurement : TestMeasurement
        One entry of :func:`edx.measure_study`'s ``tests``.
    site_labels : sequence of str, optional
        Row labels (default: the manifest's site names).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Motor, sensory and direct-muscle tests: the sites stacked with their markers;
        F-waves: the sweeps rastered; RNS: the train's responses side by side; needle at
        rest: snippets of the fibrillations and positive sharp waves; minimal effort: the
        MUP templates; maximal effort: a stretch of each site.  Bare axes with scale bars.

    Raises
    ------
    ValueError
        The test was not measured, or nothing of it could be loaded.
    """
    from .report.figures import draw_test_on

    def axes_for(layout: Layout) -> Axes:
        return ax if ax is not None else _new_axes(layout)

    drawn, problems, _notes = draw_test_on(axes_for, study, measurement, site_labels=site_labels)
    if drawn is None:
        raise ValueError(f"test {measurement.test.id} not drawn: {'; '.join(problems) or 'nothing to draw'}")
    for p in problems:
        log.warning("test %s: %s", measurement.test.id, p)
    return drawn


# ----------------------------------------------------------------------------- needle EMG


def plot_spontaneous(signal: SignalLike | Sequence[SignalLike],
                     result: SpontaneousResult | Sequence[SpontaneousResult], *, fs_hz: float | None = None,
                     label: str | Sequence[str] | None = None, max_snippets: int = 6,
                     ax: Axes | None = None) -> Axes:
    """Snippets of the fibrillation potentials and positive sharp waves detected at rest.

    Parameters
    ----------
    signal : Recording, Trace or array_like, or a sequence of them
        The needle recording of each site (volts).
    result : SpontaneousResult or a sequence of them
        :func:`edx.detect_spontaneous` of each site (a sequence: one row per site).
    fs_hz : float, optional
        Sampling rate of plain samples.
    label : str or sequence of str, optional
        Row names.
    max_snippets : int
        Discharges shown per site: members of trains first, both kinds when both were found.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        20 ms per snippet from 3 ms before the discharge's onset, negative up at one
        gain, fibrillations purple and positive sharp waves orange; the grade, counts
        and trains beside each row; a site without any shows a stretch of its recording.
    """
    from .report.figures import draw_spontaneous, spontaneous_layout

    sites = _sites(signal, result, fs_hz, label, "spontaneous")
    ax = ax if ax is not None else _new_axes(spontaneous_layout(len(sites)))
    draw_spontaneous(ax, sites, max_snippets=max_snippets)
    return ax


def plot_mup_templates(mups: MupAnalysis, *, site_labels: Sequence[str] = (), max_units: int = 32,
                       columns: int = 8, ax: Axes | None = None) -> Axes:
    """The averaged motor unit potential templates in a grid, with their duration cursors.

    Parameters
    ----------
    mups : MupAnalysis
        :func:`edx.analyze_mups`.
    site_labels : sequence of str
        Names of the analysed signals by index (default ``site 1``, ``site 2``, ...).
    max_units : int
        At most this many templates: the accepted units in order, or every sorted unit
        when none was accepted.
    columns : int
        Templates per row.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Every template over one common window centred on its onset-to-end span, at one
        common gain, negative up; red cursors at its onset and end (the duration
        measured); site and duration below.  The cursors are the artist labelled
        ``"duration cursor"``: pairs of vertical segments, one pair per unit.
    """
    from .report.figures import draw_mups, mup_layout

    ax = ax if ax is not None else _new_axes(mup_layout(mups, max_units=max_units, columns=columns))
    draw_mups(ax, mups, site_labels=site_labels, max_units=max_units, columns=columns)
    return ax


def plot_interference(signal: SignalLike | Sequence[SignalLike],
                      result: InterferencePattern | Sequence[InterferencePattern], *, fs_hz: float | None = None,
                      label: str | Sequence[str] | None = None, window_ms: float = 250.0,
                      ax: Axes | None = None) -> Axes:
    """A stretch of each effort recording with its turns per second and amplitude per turn.

    Parameters
    ----------
    signal : Recording, Trace or array_like, or a sequence of them
    result : InterferencePattern or a sequence of them
        :func:`edx.interference_pattern` of each.
    fs_hz : float, optional
    label : str or sequence of str, optional
    window_ms : float
        Length of the stretch shown, from the middle of the recording.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One row per site, negative up at one gain, with a µV and a ms scale bar.
    """
    from .report.figures import draw_interference, interference_layout

    sites = _sites(signal, result, fs_hz, label, "interference")
    ax = ax if ax is not None else _new_axes(interference_layout(len(sites)))
    draw_interference(ax, sites, window_ms=window_ms)
    return ax


# ----------------------------------------------------------------------------- serial monitoring


def plot_crimyne(result: CrimyneResult, *, criteria: Any = None, fall_pct: float | None = None,
                 legend: bool = True, ax: Axes | None = None) -> Axes:
    """The CRIMYNE trend: peroneal CMAP per side and ICU day against its baseline.

    Parameters
    ----------
    result : CrimyneResult
        :func:`edx.crimyne` or :meth:`edx.ResultsStore.crimyne`.
    criteria : path or mapping, optional
        The criteria the result was computed with (the criterion A threshold is read
        from it; 25 % by default).
    fall_pct : float, optional
        The criterion A threshold in %, overriding ``criteria``.
    legend : bool
        A legend to the right of the axes.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Each side's amplitude per day (gaps where a day has no usable measurement,
        never bridged), its baseline (solid), the criterion A line ``fall_pct`` below it
        (dashed), criterion B's limit when known (dotted) and the alert day (red). The
        command line's PNG (:func:`edx.report.trend_plot.save_crimyne_plot`) is the same drawing.
    """
    from .report.trend_plot import draw_crimyne, fall_threshold_pct

    if ax is None:
        import matplotlib.pyplot as plt

        _fig, ax = plt.subplots(figsize=(9.0, 4.0), layout="constrained")
    draw_crimyne(ax, result, fall_pct=fall_threshold_pct(criteria, fall_pct))
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    return ax
