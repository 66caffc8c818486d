"""Figures of edx: drawn once on a matplotlib Axes, as inline SVG for the HTML report or as
matplotlib objects for notebooks (:mod:`edx.plot`).

One pair of functions per kind of figure: ``draw_*`` draws on an Axes it is given (sets
its limits, draws the traces, markers, labels and scale bars), ``*_figure`` makes a
figure of the report's size, calls it and returns the SVG text:

* :func:`draw_responses` / :func:`response_figure` — motor or sensory responses of one
  nerve, stimulation sites stacked top to bottom (distal first, as on an EMG machine),
  negative up, time in ms from the stimulus, with the onset, negative peak and
  negative-phase end marked, the negative-phase duration bracketed and its area shaded;
* :func:`draw_fwaves` / :func:`fwave_figure` — the sweeps of an F-wave train rastered,
  F onsets marked;
* :func:`draw_rns` / :func:`rns_figure` — the responses of a repetitive-stimulation train
  side by side, each with its amplitude relative to the first;
* :func:`draw_spontaneous` / :func:`spontaneous_figure` — snippets of detected
  fibrillation potentials and positive sharp waves, one row per needle site;
* :func:`draw_mups` / :func:`mup_figure` — averaged motor unit potential templates with
  their duration markers;
* :func:`draw_interference` / :func:`interference_figure` — a stretch of each
  maximal-effort recording.

:func:`draw_test` loads a test's samples (:func:`edx.manifest.load_site`), chooses the
figure and returns it as SVG; :func:`draw_test_on` does the same on Axes supplied by the
caller (:func:`edx.plot.plot_test`).  ``*_layout`` functions give the figure height and
the axes rectangle each kind is designed for.  Drawing uses matplotlib's object-oriented
API (the report's figures have their own canvas, never pyplot's global figure list);
matplotlib is imported inside the functions so that ``import edx.report`` stays light.
Axes are bare (no y axis, a scale bar instead) because tick machinery is most of a small
figure's drawing time; :func:`draw_responses` can leave the axes to the caller
(``bare=False``).

The artists a caller may look for carry a label: ``"trace"``, ``"onset"``,
``"negative peak"``, ``"negative-phase end"``, ``"end"`` and ``"negative area"``
(responses), ``"MUP template"`` and ``"duration cursor"`` (MUPs), ``"fibrillation"`` and
``"positive sharp wave"`` (spontaneous activity); the first artist of each kind is
labelled, so ``ax.legend()`` lists each once.

Every text that comes from a manifest (site labels) is given by the caller, already
anonymized when it must be; matplotlib writes it into the SVG as escaped XML text and
never parses it as mathtext.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..measure.late import FWaveResult, RnsResult
    from ..measure.ncs import CmapResult, SnapResult
    from ..measure.study import TestMeasurement
    from ..model import Study
    from ..needle.mup import InterferencePattern, MotorUnit, MupAnalysis
    from ..needle.spontaneous import SpontaneousEvent, SpontaneousResult

log = logging.getLogger("edx.report")

__all__ = [
    "COLOURS",
    "LABELS",
    "ResponseTrace",
    "NeedleSite",
    "TestFigure",
    "ResponseStack",
    "Layout",
    "response_layout",
    "draw_responses",
    "response_scale_bar",
    "response_figure",
    "fwave_layout",
    "draw_fwaves",
    "fwave_figure",
    "rns_layout",
    "draw_rns",
    "rns_figure",
    "spontaneous_layout",
    "draw_spontaneous",
    "spontaneous_figure",
    "pick_discharges",
    "mup_layout",
    "draw_mups",
    "mup_figure",
    "interference_layout",
    "draw_interference",
    "interference_figure",
    "draw_test_on",
    "draw_test",
]

#: colours of the figures (the report's legend uses the same)
COLOURS = {
    "trace": "#1b1b1b",
    "onset": "#1565c0",
    "peak": "#c62828",
    "neg_end": "#2e7d32",
    "end": "#9e9e9e",
    "area": "#90caf9",
    "stimulus": "#bdbdbd",
    "fibrillation": "#6a1b9a",
    "positive_sharp_wave": "#e65100",
    "f_wave": "#c62828",
    "scale": "#424242",
}
#: labels of the artists a caller may look for (legend entries), by marker or kind
LABELS = {
    "trace": "trace",
    "onset": "onset",
    "neg_peak": "negative peak",
    "neg_end": "negative-phase end",
    "end": "end",
    "area": "negative area",
    "mup": "MUP template",
    "cursor": "duration cursor",
    "fibrillation": "fibrillation",
    "positive_sharp_wave": "positive sharp wave",
}

_WIDTH_IN = 7.0  # fits an A4 page between 15 mm margins
_FONT = 7.0
_KINDS = {"fibrillation": "fib", "positive_sharp_wave": "PSW"}
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}

#: a figure's height (inches, at the report's width) and its axes rectangle (figure fractions)
Layout = tuple[float, tuple[float, float, float, float]]
@dataclass(frozen=True)
class ResponseTrace:
    """One response to draw: its samples and measured result.

    Attributes
    ----------
    label : str
        Row label (the stimulation site), shown beside the trace.
    samples_v : numpy.ndarray or None
        The sweep the result was measured on (volts); None when it could not be loaded.
    fs_hz : float or None
        Sampling rate (from the result when None).
    stimulus_index : int or None
        Sample of the stimulus (the result's marker is preferred).
    result : CmapResult, SnapResult or None
    problem : str or None
        Why the trace is missing (drawn as a note in its row).
    """

    label: str
    samples_v: np.ndarray | None
    fs_hz: float | None
    stimulus_index: int | None
    result: CmapResult | SnapResult | None
    problem: str | None = None


@dataclass(frozen=True)
class NeedleSite:
    """One needle site to draw: its samples and the result measured on them.

    Attributes
    ----------
    label : str
    samples_v : numpy.ndarray or None
        The recording (volts); None when it could not be loaded.
    fs_hz : float or None
    result : SpontaneousResult, InterferencePattern or None
    problem : str or None
    """

    label: str
    samples_v: np.ndarray | None
    fs_hz: float | None
    result: Any
    problem: str | None = None


@dataclass(frozen=True)
class TestFigure:
    """The figure of one test, or why there is none.

    Attributes
    ----------
    svg : str or None
        Inline SVG (no XML prolog, ids unique to the figure's key).
    problems : tuple of str
        Sites that could not be loaded or a figure that could not be drawn, with the
        error text (raw: the caller escapes it and, when anonymizing, scrubs it).
    notes : tuple of str
        How to read the figure when it departs from the usual display.
    """

    svg: str | None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    __test__ = False  # not a pytest test class


# ----------------------------------------------------------------------------- plumbing


def _figure(height_in: float, width_in: float = _WIDTH_IN) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=72)
    FigureCanvasAgg(fig)
    return fig


def _report_axes(layout: Layout) -> Axes:
    """A report figure of ``layout``'s height with its axes."""
    height, rect = layout
    return _figure(height).add_axes(rect)


def _frame(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], *, bare: bool = True) -> None:
    """Fixed limits, no autoscaling; ``bare``: no axis machinery (time axes and scale bars
    are drawn by hand)."""
    if bare:
        ax.set_axis_off()
    ax.set_autoscale_on(False)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def _axes_size_in(ax: Axes) -> tuple[float, float]:
    """Width and height of the axes in inches."""
    bb = ax.get_window_extent()
    dpi = float(ax.figure.dpi)  # type: ignore[union-attr]
    return bb.width / dpi, bb.height / dpi


def _width_points(ax: Axes, share: float = 1.0) -> int:
    """Points to keep across ``share`` of the axes' width: two per typographic point."""
    return max(int(round(2 * share * _axes_size_in(ax)[0] * 72)), 8)


_GAP = np.array([np.nan])
_GAP.setflags(write=False)
#: matplotlib's SVG settings are process-wide rcParams: one figure written at a time
_SVG_LOCK = threading.Lock()


def _joined(parts: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Several polylines as one, separated by NaN (one artist draws them all)."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for x, y in parts:
        xs += [np.asarray(x, dtype=np.float64), _GAP]
        ys += [np.asarray(y, dtype=np.float64), _GAP]
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs[:-1]), np.concatenate(ys[:-1])


def _line(ax: Axes, parts: Sequence[tuple[Any, Any]], *, transform: Any = None, **style: Any) -> None:
    from matplotlib.lines import Line2D

    x, y = _joined(parts)
    if x.size == 0:
        return
    line = Line2D(x, y, **style)
    if transform is not None:
        line.set_transform(transform)
    ax.add_artist(line)


def _text(ax: Axes, x: float, y: float, s: str, *, transform: Any = None, **kw: Any) -> None:
    """Text that is never parsed as mathtext (labels come from manifests)."""
    kw.setdefault("fontsize", _FONT)
    ax.text(x, y, s, parse_math=False, clip_on=False, transform=ax.transData if transform is None else transform, **kw)


def _time_axis(ax: Axes, label: str = "ms from stimulus") -> None:
    """A time axis under the axes: line, ticks at round milliseconds, labels."""
    from matplotlib.ticker import MaxNLocator

    lo, hi = ax.get_xlim()
    ticks = [t for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
    tr = ax.get_xaxis_transform()
    pt = 1.0 / (_axes_size_in(ax)[1] * 72.0)  # one point in axes units
    _line(ax, [((lo, hi), (0.0, 0.0))] + [((t, t), (0.0, -3 * pt)) for t in ticks], transform=tr,
          color=COLOURS["scale"], lw=0.8, clip_on=False)
    for t in ticks:
        _text(ax, t, -5 * pt, f"{t:g}", transform=tr, ha="center", va="top")
    _text(ax, 0.5 * (lo + hi), -15 * pt, label, transform=tr, ha="center", va="top")


def _amplitude_bar(ax: Axes, y_bottom: float, length: float, label: str, *, x_axes: float = -0.025,
                   side: str = "left") -> None:
    """A vertical scale bar at axes x ``x_axes`` from data y ``y_bottom``, labelled beside it."""
    tr = ax.get_yaxis_transform()
    _line(ax, [((x_axes, x_axes), (y_bottom, y_bottom + length))], transform=tr, color=COLOURS["scale"], lw=1.5,
          clip_on=False, solid_capstyle="butt")
    if side == "left":
        _text(ax, x_axes - 0.012, y_bottom + length / 2, label, transform=tr, rotation=90, ha="right", va="center")
    else:
        _text(ax, x_axes + 0.008, y_bottom + length / 2, label, transform=tr, ha="left", va="center")


def _time_bar(ax: Axes, x_left: float, y: float, length_ms: float) -> None:
    """A horizontal time scale bar at data position (``x_left``, ``y``)."""
    _line(ax, [((x_left, x_left + length_ms), (y, y))], color=COLOURS["scale"], lw=1.5, clip_on=False,
          solid_capstyle="butt")
    _text(ax, x_left + length_ms / 2, y, f"{length_ms:g} ms", ha="center", va="top")


_ID_TAG = re.compile(r'<[^<>]*?(?:\sid="|url\(#|href="#)[^<>]*>')


def _svg(fig: Figure, key: str) -> str:
    """The figure as inline SVG: text as text, no metadata, no namespace declarations
    (HTML knows inline SVG), ids prefixed with ``key`` so that several figures can share
    one document."""
    import matplotlib

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
        raise ValueError(f"figure key must be a plain identifier, got {key!r}")
    buf = io.StringIO()
    with _SVG_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata=_NO_METADATA)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    cut = text.index(">") + 1
    head = re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", text[:cut])
    head = head.replace("<svg", f'<svg class="edx-figure" role="img" data-figure="{key}"', 1)
    body = _ID_TAG.sub(lambda m: m.group(0).replace(' id="', f' id="{key}-').replace("url(#", f"url(#{key}-")
                       .replace('href="#', f'href="#{key}-'), text[cut:])
    return (head + body).strip()


def _nice(x: float) -> float:
    """The largest 1-2-5 number not above ``x`` (scale bars)."""
    if not (x > 0 and math.isfinite(x)):
        return 1.0
    e = math.floor(math.log10(x))
    for m in (5.0, 2.0, 1.0):
        if m * 10.0**e <= x * (1 + 1e-9):
            return m * 10.0**e
    return 10.0**e  # pragma: no cover - m = 1 always fits


def _fmt_uv(v: float) -> str:
    return f"{v / 1e3:g} mV" if v >= 1000 else f"{v:g} µV"


def _envelope(t: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points keeping each bin's minimum and maximum (in time
    order), so that spikes survive the thinning of a long trace."""
    n = y.size
    if n <= max_points:
        return t, y
    k = int(math.ceil(2 * n / max_points))
    m = n // k
    yb = y[: m * k].reshape(m, k)
    tb = t[: m * k].reshape(m, k)
    lo, hi = yb.argmin(axis=1), yb.argmax(axis=1)
    rows = np.arange(m)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    tt = np.column_stack([tb[rows, first], tb[rows, second]]).ravel()
    yy = np.column_stack([yb[rows, first], yb[rows, second]]).ravel()
    if m * k < n:
        tt = np.append(tt, t[-1])
        yy = np.append(yy, y[-1])
    return tt, yy


def _row_text(ax: Axes, y: float, lines: Sequence[str], *, x_axes: float = 1.015) -> None:
    _text(ax, x_axes, y, "\n".join(lines), ha="left", va="center", linespacing=1.3,
          transform=ax.get_yaxis_transform())


def _fmt(v: float | None, fmt: str) -> str:
    return "–" if v is None or not math.isfinite(v) else format(v, fmt)



# ----------------------------------------------------------------------------- NCS responses


def _response_values(r: CmapResult | SnapResult) -> tuple[str, str, float | None, float | None]:
    """Unit, area unit, amplitude and negative area of a result in its display unit."""
    if hasattr(r, "amplitude_uv"):
        return "µV", "µV·ms", r.amplitude_uv, r.neg_area_uvms  # type: ignore[union-attr]
    return "mV", "mV·ms", r.amplitude_mv, r.neg_area_mvms  # type: ignore[union-attr]


def _display(tr: ResponseTrace, scale: float) -> dict[str, Any] | None:
    """The trace relative to its baseline, negative up, in display units, with its time axis."""
    r = tr.result
    if tr.samples_v is None:
        return None
    x = np.asarray(tr.samples_v, dtype=np.float64)
    fs = tr.fs_hz if tr.fs_hz else (r.fs_hz if r is not None else None)
    stim = r.markers.stimulus if r is not None and r.markers.stimulus is not None else tr.stimulus_index
    if not x.size or not fs or stim is None or not 0 <= stim < x.size:
        return None
    sign = -1.0 if r is not None and r.polarity == "inverted" else 1.0
    if r is not None and r.baseline_mv is not None:
        base = r.baseline_mv * 1e-3
    else:
        pre = x[:stim][np.isfinite(x[:stim])]
        base = float(np.median(pre)) if pre.size else 0.0
    y = -sign * (x - base) * scale
    y = np.where(np.isfinite(y), y, 0.0)
    guard = stim + int(round(1e-3 * fs))  # the stimulus artifact does not set the gain
    body = y[guard:] if guard < y.size else y
    return {"t": (np.arange(x.size) - stim) / fs * 1e3, "y": y, "fs": fs, "stim": stim, "hi": float(body.max()),
            "lo": float(body.min())}




@dataclass(frozen=True)
class ResponseStack:
    """Where :func:`draw_responses` put the rows (display units: mV or µV, negative up).

    Attributes
    ----------
    n_rows : int
    spacing : float
        Distance between the baselines of two rows; row ``k``'s baseline is at ``-k * spacing``.
    lo, hi : float
        Lowest and highest point of the traces relative to their baseline (after the
        stimulus artifact); ``extent = hi - lo``.
    extent : float
    unit : str
    """

    n_rows: int
    spacing: float
    lo: float
    hi: float
    extent: float
    unit: str


def response_layout(n_rows: int) -> Layout:
    """Height (inches) and axes rectangle of a figure of ``n_rows`` stacked responses."""
    height = 0.45 + 0.85 * max(n_rows, 1)
    return height, (0.07, 0.38 / height, 0.62, 1 - 0.45 / height)


def draw_responses(ax: Axes, traces: Sequence[ResponseTrace], *, unit: str = "mV", bare: bool = True) -> ResponseStack:
    """Draw responses of one nerve on ``ax``, stacked (distal site on top), negative up.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Its limits are set (x: ms from the stimulus; y: display units, row ``k``'s
        baseline at ``-k * spacing``) and autoscaling switched off.
    traces : sequence of ResponseTrace
        One per stimulation site, distal first.
    unit : {"mV", "µV"}
        Display unit (motor: mV, sensory: µV).
    bare : bool
        Draw the report's bare axes: no matplotlib axis, a time axis and an amplitude
        scale bar drawn by hand.  ``False`` leaves the axes' own axis to the caller.

    Returns
    -------
    ResponseStack
        Every row shows the trace relative to its baseline at one common gain, time zero
        at the stimulus, the onset (blue), the negative peak (red), the end of the
        negative phase (green) with the negative-phase duration bracketed and its area
        shaded, and the measured values beside it; an absent response says
        ``absent (noise X µV)``, a response that could not be judged names its status.
    """
    from matplotlib.patches import Polygon

    scale = 1e3 if unit == "mV" else 1e6
    shown = [_display(tr, scale) for tr in traces]
    drawn = [d for d in shown if d is not None]
    hi = max([d["hi"] for d in drawn] + [0.0])
    lo = min([d["lo"] for d in drawn] + [0.0])
    extent = hi - lo
    if not extent > 0:
        extent, hi, lo = 1.0, 0.5, -0.5
    spacing = 1.12 * extent
    n = max(len(traces), 1)
    t_left = max(min((d["t"][0] for d in drawn), default=-2.0), -2.0)
    t_right = max((d["t"][-1] for d in drawn), default=20.0)
    _frame(ax, (t_left, t_right), (-(n - 1) * spacing + lo - 0.06 * extent, hi + 0.06 * extent), bare=bare)
    width_pts = _width_points(ax)
    base: list[tuple[Any, Any]] = []
    curves: list[tuple[Any, Any]] = []
    marks: dict[str, list[tuple[Any, Any]]] = {"onset": [], "neg_end": [], "end": []}
    peaks: list[tuple[float, float]] = []
    tick = 0.09 * extent
    for k, (tr, d) in enumerate(zip(traces, shown, strict=True)):
        y0 = -k * spacing
        r = tr.result
        if d is None:
            why = tr.problem or ("no samples" if tr.samples_v is None or not len(tr.samples_v)
                                 else "no stimulus position")
            _row_text(ax, y0, [tr.label, "not drawn: " + why])
            continue
        keep = d["t"] >= t_left
        base.append(((t_left, t_right), (y0, y0)))
        tt, yy_ = _envelope(d["t"][keep], np.clip(d["y"][keep], lo - 0.04 * extent, hi + 0.04 * extent), width_pts)
        curves.append((tt, yy_ + y0))
        if r is None:
            _row_text(ax, y0, [tr.label, "not measured"])
            continue
        if r.status == "absent":
            _row_text(ax, y0, [tr.label, f"absent (noise {_fmt(r.noise_uv, '.1f')} µV)"])
            continue
        if r.status != "ok":
            _row_text(ax, y0, [tr.label, f"not judged: {r.status}"])
            continue
        yy, idx, stim, fs = d["y"], np.arange(d["y"].size), d["stim"], d["fs"]

        def at(i: float, _y: np.ndarray = yy, _i: np.ndarray = idx) -> float:
            return float(np.interp(i, _i, _y))

        def ms(i: float, _stim: int = stim, _fs: float = fs) -> float:
            return (i - _stim) / _fs * 1e3

        mk = r.markers
        if mk.onset is not None and mk.neg_end is not None and mk.neg_end > mk.onset:
            grid = np.arange(math.ceil(mk.onset), math.floor(mk.neg_end) + 1)
            xs = np.concatenate([[mk.onset], grid, [mk.neg_end]])
            ys = np.maximum(np.interp(xs, idx, yy), 0.0)
            poly = np.column_stack([np.concatenate([[ms(mk.onset)], (xs - stim) / fs * 1e3, [ms(mk.neg_end)]]),
                                    np.concatenate([[y0], y0 + ys, [y0]])])
            ax.add_artist(Polygon(poly, closed=True, facecolor=COLOURS["area"], edgecolor="none", alpha=0.7,
                                  zorder=1, label=LABELS["area"] if not marks["neg_end"] else "_area"))
            yb = y0 - 0.05 * extent
            marks["neg_end"].append(((ms(mk.onset), ms(mk.onset), ms(mk.neg_end), ms(mk.neg_end)),
                                     (yb + 0.02 * extent, yb, yb, yb + 0.02 * extent)))
        for name in ("onset", "neg_end", "end"):
            i = getattr(mk, name)
            if i is not None:
                marks[name].append(((ms(i), ms(i)), (y0 + at(i) - tick, y0 + at(i) + tick)))
        if mk.neg_peak is not None:
            peaks.append((ms(mk.neg_peak), y0 + at(mk.neg_peak)))
        u, area_unit, amp, area = _response_values(r)
        digits = ".2f" if u == "mV" else ".1f"
        _row_text(ax, y0, [tr.label,
                           f"onset {_fmt(r.onset_latency_ms, '.2f')} ms · "
                           f"peak {_fmt(r.neg_peak_latency_ms, '.2f')} ms",
                           f"amp {_fmt(amp, digits)} {u} · dur {_fmt(r.neg_duration_ms, '.2f')} ms",
                           f"area {_fmt(area, digits)} {area_unit}"])
    _line(ax, [((0.0, 0.0), ax.get_ylim())], color=COLOURS["stimulus"], lw=0.6, ls=(0, (2, 2)))
    _line(ax, base, color=COLOURS["stimulus"], lw=0.4)
    _line(ax, curves, color=COLOURS["trace"], lw=0.8, label=LABELS["trace"])
    for name, parts in marks.items():
        _line(ax, parts, color=COLOURS[name], lw=1.1, label=LABELS[name])
    if peaks:
        _line(ax, [(p[0:1], p[1:2]) for p in peaks], ls="none", marker="v", ms=4.5, color=COLOURS["peak"],
              label=LABELS["neg_peak"])
    stack = ResponseStack(n, spacing, lo, hi, extent, unit)
    if bare:
        _time_axis(ax)
        response_scale_bar(ax, stack)
    return stack


def response_scale_bar(ax: Axes, stack: ResponseStack) -> None:
    """The amplitude scale bar of :func:`draw_responses` (left of the lowest row)."""
    bar = _nice(0.5 * stack.extent)
    _amplitude_bar(ax, -(stack.n_rows - 1) * stack.spacing + stack.lo, bar,
                   _fmt_uv(bar * (1e3 if stack.unit == "mV" else 1.0)))


def response_figure(traces: Sequence[ResponseTrace], *, unit: str = "mV", key: str = "fig") -> str:
    """Stacked responses of one nerve (distal site on top), negative up, with markers.

    Parameters
    ----------
    traces : sequence of ResponseTrace
        One per stimulation site, distal first.
    unit : {"mV", "µV"}
        Display unit (motor: mV, sensory: µV).
    key : str
        Identifier that makes the SVG's ids unique in the report.

    Returns
    -------
    str
        Inline SVG of :func:`draw_responses`.
    """
    ax = _report_axes(response_layout(len(traces)))
    draw_responses(ax, traces, unit=unit)
    return _svg(ax.figure, key)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- F-waves


def fwave_layout(n_sweeps: int) -> Layout:
    """Height (inches) and axes rectangle of an F-wave raster of ``n_sweeps`` rows."""
    height = 0.55 + 0.16 * max(n_sweeps, 1)
    return height, (0.07, 0.42 / height, 0.78, 1 - 0.5 / height)


def draw_fwaves(ax: Axes, samples_v: np.ndarray, fs_hz: float, stimulus_index: int, result: FWaveResult | None, *,
                split_ms: float | None = None) -> None:
    """Draw the sweeps of an F-wave train rastered, the M response and the F-waves at two gains.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Bare after the call, its limits set (x: ms from the stimulus; row ``k`` at y = -k).
    samples_v : numpy.ndarray
        Sweeps x samples (volts), the stimulus at ``stimulus_index`` in every sweep.
    fs_hz : float
    stimulus_index : int
    result : FWaveResult or None
    split_ms : float, optional
        Where the display changes from the M-response gain to the F-wave gain (default:
        2 ms after the M response's negative phase, where the F-wave search may begin).

    Notes
    -----
    One sweep per row (first on top), negative up; left of the dotted line at a gain
    that fits the M response, right of it at a gain that shows the F-waves (cut at the
    row's edges), with a scale bar for each; a red tick at each F onset and a dashed
    line at the minimal F latency.
    """
    x = np.atleast_2d(np.asarray(samples_v, dtype=np.float64))
    n_sw, n = x.shape
    m = result.m_response if result is not None else None
    sign = -1.0 if m is not None and m.polarity == "inverted" else 1.0
    pre = x[:, : max(stimulus_index, 1)]
    y = -sign * (x - np.nanmean(pre, axis=1, keepdims=True)) * 1e6
    y = np.where(np.isfinite(y), y, 0.0)
    t = (np.arange(n) - stimulus_index) / fs_hz * 1e3
    if split_ms is None:
        split_ms = (m.markers.neg_end - stimulus_index) / fs_hz * 1e3 + 2.0 if m is not None and \
            m.markers.neg_end is not None else t[-1] / 3
    if result is not None and result.min_latency_ms is not None:
        split_ms = min(split_ms, result.min_latency_ms - 1.0)
    guard = stimulus_index + int(round(1e-3 * fs_hz))
    left = (t < split_ms) & (np.arange(n) >= guard)
    right = t >= split_ms
    m_ext = float(np.abs(y[:, left]).max()) if left.any() else 1.0
    f_ref = result.mean_peak_to_peak_uv if result is not None and result.mean_peak_to_peak_uv else None
    if not f_ref:
        f_ref = float(np.percentile(np.abs(y[:, right]), 99)) * 2 if right.any() else 100.0
    g_m = 0.45 / max(m_ext, 1e-9)
    g_f = 0.7 / max(f_ref, 1e-9)
    t_left = max(t[0], -2.0)
    _frame(ax, (t_left, t[-1]), (-(n_sw - 1) - 0.6, 0.6))
    width_pt = _axes_size_in(ax)[0] * 72
    lm = (t >= t_left) & (t < split_ms)
    parts = []
    share = (t[-1] - split_ms) / (t[-1] - t_left)
    for k in range(n_sw):  # one point per typographic point across: twenty rows add up
        tt, yy = _envelope(t[lm], np.clip(y[k, lm] * g_m, -0.55, 0.55), int(width_pt * (1 - share)) + 2)
        parts.append((tt, yy - k))
        tt, yy = _envelope(t[right], np.clip(y[k, right] * g_f, -0.55, 0.55), int(width_pt * share) + 2)
        parts.append((tt, yy - k))
    _line(ax, parts, color=COLOURS["trace"], lw=0.6, label=LABELS["trace"])
    _line(ax, [((0.0, 0.0), ax.get_ylim())], color=COLOURS["stimulus"], lw=0.6, ls=(0, (2, 2)))
    _line(ax, [((split_ms, split_ms), ax.get_ylim())], color=COLOURS["scale"], lw=0.6, ls=(0, (1, 2)))
    if result is not None:
        on = [(s.onset_latency_ms, -s.index) for s in result.sweeps if s.present and s.onset_latency_ms is not None]
        if on:
            _line(ax, [((a,), (b,)) for a, b in on], ls="none", marker="|", ms=9, mew=1.5, color=COLOURS["f_wave"],
                  label="F onset")
        if result.min_latency_ms is not None:
            _line(ax, [((result.min_latency_ms,) * 2, ax.get_ylim())], color=COLOURS["f_wave"], lw=0.6,
                  ls=(0, (4, 3)), label="minimal F latency")
    bottom = -(n_sw - 1) - 0.5
    bar_m, bar_f = _nice(2.0 / g_m), _nice(2.0 / g_f)  # one to two rows long
    _amplitude_bar(ax, bottom, bar_m * g_m, "M " + _fmt_uv(bar_m))
    _amplitude_bar(ax, bottom, bar_f * g_f, "F " + _fmt_uv(bar_f), x_axes=1.015, side="right")
    _time_axis(ax)


def fwave_figure(samples_v: np.ndarray, fs_hz: float, stimulus_index: int, result: FWaveResult | None, *,
                 split_ms: float | None = None, key: str = "fig") -> str:
    """The sweeps of an F-wave train rastered (:func:`draw_fwaves`) as inline SVG.

    Parameters
    ----------
    samples_v, fs_hz, stimulus_index, result, split_ms
        As for :func:`draw_fwaves`.
    key : str
        Identifier that makes the SVG's ids unique in the report.

    Returns
    -------
    str
    """
    ax = _report_axes(fwave_layout(np.atleast_2d(np.asarray(samples_v)).shape[0]))
    draw_fwaves(ax, samples_v, fs_hz, stimulus_index, result, split_ms=split_ms)
    return _svg(ax.figure, key)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- RNS


def rns_layout() -> Layout:
    """Height (inches) and axes rectangle of a repetitive-stimulation figure."""
    return 2.0, (0.07, 0.24, 0.9, 0.7)


def draw_rns(ax: Axes, samples_v: np.ndarray, fs_hz: float, stimulus_indices: Sequence[int], result: RnsResult, *,
             max_responses: int = 10) -> None:
    """Draw the responses of a repetitive-stimulation train side by side.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Bare after the call, its limits set (x: ms, the responses one after the other).
    samples_v : numpy.ndarray
        The sweep holding the train (volts).
    fs_hz : float
    stimulus_indices : sequence of int
        The stimuli, in the sweep.
    result : RnsResult
        Its responses were measured on the stretch from 5 ms before each stimulus.
    max_responses : int
        The first responses drawn (a tetanic train holds hundreds).

    Notes
    -----
    Each response from 2 ms before its stimulus, negative up at one gain,
        its negative peak marked and the peaks joined, the first amplitude in mV and the
        others in % of it below.
    """
    x = np.asarray(samples_v, dtype=np.float64)
    stims = [int(s) for s in stimulus_indices][:max_responses]
    pre_meas = int(round(5e-3 * fs_hz))
    before = int(round(2e-3 * fs_hz))
    segs = []
    for k, s in enumerate(stims):
        stop = stims[k + 1] - int(round(1e-3 * fs_hz)) if k + 1 < len(stims) else x.size
        stop = min(stop, s + int(round(25e-3 * fs_hz)), x.size)
        a = max(0, s - before)
        r = result.responses[k] if k < len(result.responses) else None
        sign = -1.0 if r is not None and r.polarity == "inverted" else 1.0
        base = r.baseline_mv * 1e-3 if r is not None and r.baseline_mv is not None else float(np.median(x[a:s + 1]))
        yk = -sign * (x[a:stop] - base) * 1e3
        segs.append((a, s, np.where(np.isfinite(yk), yk, 0.0), r))
    width_ms = max((seg[2].size for seg in segs), default=1) / fs_hz * 1e3
    gap = 0.25 * width_ms
    guard = int(round(1e-3 * fs_hz)) + before
    body = [seg[2][guard:] for seg in segs if seg[2].size > guard]
    hi = max([float(b.max()) for b in body] + [1e-3])
    lo = min([float(b.min()) for b in body] + [0.0])
    ext = hi - lo
    x_right = len(segs) * (width_ms + gap)
    _frame(ax, (-gap, x_right), (lo - 0.05 * ext, hi + 0.08 * ext))
    first = result.amplitudes_mv[0] if result.amplitudes_mv else None
    curves, peaks = [], []
    for k, (a, s, yk, r) in enumerate(segs):
        x0 = k * (width_ms + gap) + 2.0
        curves.append((x0 + (np.arange(yk.size) + a - s) / fs_hz * 1e3, np.clip(yk, lo - 0.04 * ext, hi + 0.07 * ext)))
        if r is not None and r.markers.neg_peak is not None and r.status == "ok":
            i = r.markers.neg_peak + max(0, s - pre_meas) - a  # measured on the stretch from 5 ms before
            peaks.append((x0 + (i + a - s) / fs_hz * 1e3, float(np.interp(i, np.arange(yk.size), yk))))
        amp = result.amplitudes_mv[k] if k < len(result.amplitudes_mv) else None
        # the later responses in % of the first as the decrement measures them (relative_amplitudes_pct)
        rel = result.relative_amplitudes_pct[k] if k < len(result.relative_amplitudes_pct) else None
        if rel is None and amp is not None and first:
            rel = 100 * amp / first
        label = ("–" if amp is None else f"{amp:.2f} mV") if k == 0 else ("–" if rel is None else f"{rel:.0f} %")
        _text(ax, x0 - 2.0 + width_ms / 2, lo - 0.08 * ext, f"{k + 1}: {label}", ha="center", va="top")
    _line(ax, curves, color=COLOURS["trace"], lw=0.7, label=LABELS["trace"])
    if peaks:
        _line(ax, [(tuple(p[0] for p in peaks), tuple(p[1] for p in peaks))], ls=(0, (1, 2)), lw=0.7,
              color=COLOURS["peak"], marker="v", ms=4, label=LABELS["neg_peak"])
    bar = _nice(0.5 * ext)
    _amplitude_bar(ax, lo, bar, _fmt_uv(bar * 1e3), x_axes=-0.01)
    _time_bar(ax, x_right - gap - 5.0, lo - 0.22 * ext, 5.0)


def rns_figure(samples_v: np.ndarray, fs_hz: float, stimulus_indices: Sequence[int], result: RnsResult, *,
               max_responses: int = 10, key: str = "fig") -> str:
    """The responses of a repetitive-stimulation train side by side (:func:`draw_rns`) as
    inline SVG; ``key`` makes its ids unique in the report."""
    ax = _report_axes(rns_layout())
    draw_rns(ax, samples_v, fs_hz, stimulus_indices, result, max_responses=max_responses)
    return _svg(ax.figure, key)  # type: ignore[arg-type]




# ----------------------------------------------------------------------------- needle


def pick_discharges(result: SpontaneousResult, n: int = 6) -> list[SpontaneousEvent]:
    """Up to ``n`` fibrillation potentials and positive sharp waves to show, in time order.

    Members of trains first, then by signal-to-noise ratio; the two kinds alternate so
    that both are shown when both were found.
    """
    pools = {kind: sorted((e for e in result.events if e.kind == kind), key=lambda e: (e.train_id is None, -e.snr))
             for kind in _KINDS}
    picked: list[SpontaneousEvent] = []
    while len(picked) < n and any(pools.values()):
        for kind in _KINDS:
            if pools[kind] and len(picked) < n:
                picked.append(pools[kind].pop(0))
    return sorted(picked, key=lambda e: e.time_s)



def spontaneous_layout(n_sites: int) -> Layout:
    """Height (inches) and axes rectangle of the spontaneous-activity figure of ``n_sites`` sites."""
    height = 0.3 + 0.95 * max(n_sites, 1)
    return height, (0.07, 0.3 / height, 0.66, 1 - 0.4 / height)


def draw_spontaneous(ax: Axes, sites: Sequence[NeedleSite], *, max_snippets: int = 6) -> None:
    """Draw snippets of the fibrillation potentials and positive sharp waves found at each site.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Bare after the call, its limits set (x: ms along the row of snippets; row ``k``
        centred on a baseline below the previous).
    sites : sequence of NeedleSite
        One per needle site at rest, with its SpontaneousResult.
    max_snippets : int
        Snippets per site (chosen by :func:`pick_discharges`).

    Notes
    -----
    A row per site, 20 ms per snippet from 3 ms before the discharge's onset, negative
    up at one gain, coloured by kind (fibrillation purple, PSW orange) and labelled; a
    site without any says so with its noise level and shows a stretch of its recording
    instead.  The grade, the counts and the trains are written beside each row.
    """
    win_ms, pre_ms, gap_ms = 20.0, 3.0, 4.0
    total = max_snippets * (win_ms + gap_ms) - gap_ms
    n = max(len(sites), 1)
    _frame(ax, (-1.0, total + 1.0), (0.0, 1.0))  # the vertical extent is set below, once the gain is known
    cell_pts = _width_points(ax, 1.0 / max_snippets)
    rows: list[list[tuple[str, np.ndarray, np.ndarray]]] = []
    for site in sites:
        snips: list[tuple[str, np.ndarray, np.ndarray]] = []
        r = site.result
        if site.samples_v is not None and site.fs_hz and r is not None:
            x = np.asarray(site.samples_v, dtype=np.float64)
            fs = site.fs_hz
            for j, e in enumerate(pick_discharges(r, max_snippets)):
                a = int(round((e.time_s - pre_ms * 1e-3) * fs))
                b = a + int(round(win_ms * 1e-3 * fs))
                a0, b0 = max(a, 0), min(b, x.size)
                if b0 - a0 < 4:
                    continue
                seg = x[a0:b0]
                base = float(np.median(seg[: max(2, int(round(2e-3 * fs)))]))
                y = np.where(np.isfinite(seg), -(seg - base) * 1e6, 0.0)
                t = j * (win_ms + gap_ms) + (np.arange(a0, b0) - a) / fs * 1e3
                snips.append((e.kind, *_envelope(t, y, cell_pts)))
        rows.append(snips)
    pps = [float(s[2].max() - s[2].min()) for row in rows for s in row]
    noise = [s.result.noise_uv for s in sites if s.result is not None and s.result.noise_uv]
    extent = max(pps) if pps else 10.0 * max(noise, default=10.0)
    spacing = 1.35 * extent
    ax.set_ylim(-(n - 1) * spacing - 0.5 * spacing, 0.5 * spacing)
    curves: dict[str, list[tuple[Any, Any]]] = {kind: [] for kind in _KINDS}
    quiet: list[tuple[Any, Any]] = []
    for k, (site, snips) in enumerate(zip(sites, rows, strict=True)):
        y0 = -k * spacing
        for kind, t, y in snips:
            curves[kind].append((t, y - 0.5 * (y.max() + y.min()) + y0))
            _text(ax, t[0] + 0.5, y0 + 0.5 * spacing - 0.02 * extent, _KINDS[kind], va="top", color=COLOURS[kind])
        r = site.result
        lines = [site.label]
        if site.samples_v is None or r is None:
            lines.append("not drawn: " + (site.problem or "not measured"))
        else:
            c = r.counts
            n_fib = sum(tr.kind == "fibrillation" for tr in r.trains)
            lines += [f"grade {r.grade or '–'} · {c.get('fibrillation', 0)} fib, "
                      f"{c.get('positive_sharp_wave', 0)} PSW",
                      f"trains: {n_fib} fib, {len(r.trains) - n_fib} PSW"]
            if r.status != "ok":
                lines.append(f"status: {r.status}")
            if not snips:  # show what the silence looks like: a stretch from the middle of the recording
                x = np.asarray(site.samples_v, dtype=np.float64)
                w = min(x.size, int(round(total * 1e-3 * (site.fs_hz or 1.0))))
                seg = x[(x.size - w) // 2:(x.size - w) // 2 + w]
                if seg.size > 1 and site.fs_hz:
                    y = np.clip(np.where(np.isfinite(seg), -(seg - np.median(seg)) * 1e6, 0.0), -0.45 * spacing,
                                0.45 * spacing)
                    t, y = _envelope(np.arange(seg.size) / site.fs_hz * 1e3, y, _width_points(ax))
                    quiet.append((t, y + y0))
                _text(ax, total / 2, y0 + 0.48 * spacing,
                      f"no fibrillation or PSW detected (noise {_fmt(r.noise_uv, '.1f')} µV)", ha="center", va="top")
        _row_text(ax, y0, lines)
    for kind, parts in curves.items():
        _line(ax, parts, color=COLOURS[kind], lw=0.8, label=LABELS[kind])
    _line(ax, quiet, color=COLOURS["trace"], lw=0.6, label=LABELS["trace"])
    bar = _nice(0.5 * extent)
    _amplitude_bar(ax, -(n - 1) * spacing - 0.45 * spacing, bar, _fmt_uv(bar), x_axes=-0.01)
    _time_bar(ax, total - 5.0, -(n - 1) * spacing - 0.47 * spacing, 5.0)


def spontaneous_figure(sites: Sequence[NeedleSite], *, max_snippets: int = 6, key: str = "fig") -> str:
    """Snippets of the fibrillation potentials and positive sharp waves found at each site
    (:func:`draw_spontaneous`) as inline SVG; ``key`` makes its ids unique in the report."""
    ax = _report_axes(spontaneous_layout(len(sites)))
    draw_spontaneous(ax, sites, max_snippets=max_snippets)
    return _svg(ax.figure, key)  # type: ignore[arg-type]


def _shown_units(mups: MupAnalysis, max_units: int) -> list[MotorUnit]:
    """The units a MUP figure shows: the accepted ones in order, or all sorted units when
    none was accepted; at most ``max_units``."""
    return [u for u in mups.units if u.accepted][:max_units] or list(mups.units[:max_units])


def mup_layout(mups: MupAnalysis, *, max_units: int = 32, columns: int = 8) -> Layout:
    """Height (inches) and axes rectangle of the MUP template grid of ``mups``."""
    units = _shown_units(mups, max_units)
    if not units:
        return 0.5, (0.0, 0.0, 1.0, 1.0)
    nrows = int(math.ceil(len(units) / min(columns, len(units))))
    height = 0.3 + 0.85 * nrows
    return height, (0.06, 0.3 / height, 0.92, 1 - 0.35 / height)


def draw_mups(ax: Axes, mups: MupAnalysis, *, site_labels: Sequence[str] = (), max_units: int = 32,
              columns: int = 8) -> None:
    """Draw the averaged templates of the accepted motor units with their duration cursors.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Bare after the call, its limits set (x: ms, one cell per unit, ``columns`` per
        row; y: µV, negative up).
    mups : MupAnalysis
    site_labels : sequence of str
        Names of the sites by index (the unit's site is shown with it).
    max_units : int
        At most this many units (the accepted ones, in order; all sorted units when
        none was accepted).
    columns : int
        Templates per row.

    Notes
    -----
    Every template over one common time window centred on its onset-to-end span and at
    one common gain, negative up, onset and end marked in red (the duration cursors),
    its site (unless one signal without a label was analysed) and duration below.
    """
    units = _shown_units(mups, max_units)
    if not units:
        _frame(ax, (0.0, 1.0), (0.0, 1.0))
        _text(ax, 0.5, 0.5, "no motor unit potential could be sorted", ha="center", va="center")
        return
    span = max((u.end_index - u.onset_index) / u.fs_hz * 1e3 for u in units)
    win_ms = max(20.0, span + 6.0)
    gap_ms = 0.15 * win_ms
    extent = max(max(float(np.ptp(u.template_v)) * 1e6 for u in units), 1e-3)
    spacing = 1.6 * extent
    cols = min(columns, len(units))
    nrows = int(math.ceil(len(units) / cols))
    _frame(ax, (-gap_ms, cols * (win_ms + gap_ms)), (-(nrows - 1) * spacing - 1.0 * extent, 0.6 * extent))
    cell_pts = _width_points(ax, 1.0 / cols)
    one_site = len(mups.fs_hz) == 1 and not site_labels  # one signal analysed: no site to name
    curves, ticks = [], []
    for j, u in enumerate(units):
        r, c = divmod(j, cols)
        x0, y0 = c * (win_ms + gap_ms) + win_ms / 2, -r * spacing
        fs = u.fs_hz
        centre = 0.5 * (u.onset_index + u.end_index)
        half = int(round(win_ms / 2 * 1e-3 * fs))
        a, b = max(int(centre) - half, 0), min(int(centre) + half, u.template_v.size)
        curves.append(_envelope(x0 + (np.arange(a, b) - centre) / fs * 1e3,
                                y0 - np.asarray(u.template_v[a:b], dtype=np.float64) * 1e6, cell_pts))
        for i in (u.onset_index, u.end_index):
            ti = x0 + (i - centre) / fs * 1e3
            ticks.append(((ti, ti), (y0 - 0.22 * extent, y0 + 0.22 * extent)))
        site = site_labels[u.site] if 0 <= u.site < len(site_labels) else f"site {u.site + 1}"
        text = f"{u.duration_ms:.1f} ms" if one_site else f"{site}: {u.duration_ms:.1f} ms"
        _text(ax, x0, y0 - 0.5 * extent, text, ha="center", va="top", fontsize=_FONT - 1)
    _line(ax, curves, color=COLOURS["trace"], lw=0.7, label=LABELS["mup"])
    _line(ax, ticks, color=COLOURS["peak"], lw=1.0, label=LABELS["cursor"])
    bar = _nice(0.5 * extent)
    _amplitude_bar(ax, -(nrows - 1) * spacing - 0.3 * extent, bar, _fmt_uv(bar), x_axes=-0.01)
    _time_bar(ax, cols * (win_ms + gap_ms) - gap_ms - 5.0, -(nrows - 1) * spacing - 0.92 * extent, 5.0)


def mup_figure(mups: MupAnalysis, *, site_labels: Sequence[str] = (), max_units: int = 32, columns: int = 8,
               key: str = "fig") -> str:
    """The averaged templates of the accepted motor units with their duration markers
    (:func:`draw_mups`) as inline SVG; ``key`` makes its ids unique in the report."""
    ax = _report_axes(mup_layout(mups, max_units=max_units, columns=columns))
    draw_mups(ax, mups, site_labels=site_labels, max_units=max_units, columns=columns)
    return _svg(ax.figure, key)  # type: ignore[arg-type]


def interference_layout(n_sites: int) -> Layout:
    """Height (inches) and axes rectangle of the interference figure of ``n_sites`` sites."""
    height = 0.3 + 0.8 * max(n_sites, 1)
    return height, (0.07, 0.3 / height, 0.66, 1 - 0.4 / height)


def draw_interference(ax: Axes, sites: Sequence[NeedleSite], *, window_ms: float = 250.0) -> None:
    """Draw a ``window_ms`` stretch from the middle of each maximal-effort recording.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Bare after the call, its limits set (x: ms; y: µV, negative up, row ``k`` below
        the previous).
    sites : sequence of NeedleSite
        One per site, with its InterferencePattern.
    window_ms : float

    Notes
    -----
    One row per site, negative up at one gain, turns per second and amplitude per turn
    beside it.
    """
    rows: list[tuple[np.ndarray, np.ndarray] | None] = []
    for site in sites:
        if site.samples_v is None or not site.fs_hz:
            rows.append(None)
            continue
        x = np.asarray(site.samples_v, dtype=np.float64)
        w = min(x.size, int(round(window_ms * 1e-3 * site.fs_hz)))
        a = (x.size - w) // 2
        seg = x[a:a + w]
        y = np.where(np.isfinite(seg), -(seg - np.median(seg)) * 1e6, 0.0)
        rows.append(_envelope(np.arange(w) / site.fs_hz * 1e3, y, 1200))
    ext = [float(np.percentile(np.abs(r[1]), 99.5)) for r in rows if r is not None and r[1].size]
    half = max(max(ext, default=100.0), 1e-3) * 1.05
    spacing = 2.2 * half
    n = max(len(rows), 1)
    _frame(ax, (0.0, window_ms), (-(n - 1) * spacing - 1.05 * half, 1.05 * half))
    curves = []
    for k, (site, row) in enumerate(zip(sites, rows, strict=True)):
        y0 = -k * spacing
        lines = [site.label]
        if row is None:
            lines.append("not drawn: " + (site.problem or "no samples"))
        else:
            curves.append((row[0], np.clip(row[1], -half, half) + y0))
        ip: InterferencePattern | None = site.result
        if ip is not None:
            lines.append(f"{ip.turns_per_s:.0f} turns/s · {_fmt(ip.mean_amplitude_uv, '.0f')} µV/turn")
        _row_text(ax, y0, lines)
    _line(ax, curves, color=COLOURS["trace"], lw=0.5, label=LABELS["trace"])
    bar = _nice(half)
    _amplitude_bar(ax, -(n - 1) * spacing - half, bar, _fmt_uv(bar), x_axes=-0.01)
    length_ms = _nice(0.2 * window_ms)  # 50 ms in the report's 250 ms
    _time_bar(ax, window_ms - length_ms, -(n - 1) * spacing - 1.08 * half, length_ms)


def interference_figure(sites: Sequence[NeedleSite], *, window_ms: float = 250.0, key: str = "fig") -> str:
    """A ``window_ms`` stretch from the middle of each maximal-effort recording
    (:func:`draw_interference`) as inline SVG; ``key`` makes its ids unique in the report."""
    ax = _report_axes(interference_layout(len(sites)))
    draw_interference(ax, sites, window_ms=window_ms)
    return _svg(ax.figure, key)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- one test


def _response_samples(resp: Any, average: bool) -> tuple[np.ndarray, float, int | None]:
    """The sweep a response was measured on: the first, or the average of all (SNAPs)."""
    sweeps = resp.sweeps
    first = sweeps[0]
    if average and len(sweeps) > 1 and len({s.stimulus_index for s in sweeps}) == 1:
        n = min(s.n_samples for s in sweeps)
        return np.mean([s.samples_v[:n] for s in sweeps], axis=0), first.fs_hz, first.stimulus_index
    return first.samples_v, first.fs_hz, first.stimulus_index


def _f_search_start_ms(test: Any, result: FWaveResult | None, fs_hz: float) -> float | None:
    """Where the F-wave search of the measurement begins: the limb's earliest F latency or
    2 ms after the M response's negative phase, whichever is later."""
    from ..interpretation.reference import limb_of
    from ..measure.study import F_MIN_LATENCY_MS

    m = result.m_response if result is not None else None
    if m is None or m.markers.stimulus is None:
        return None
    start = F_MIN_LATENCY_MS["lower" if limb_of(test.nerve, test.muscle) == "lower" else "upper"]
    if m.markers.neg_end is not None:
        start = max(start, (m.markers.neg_end - m.markers.stimulus) / fs_hz * 1e3 + 2.0)
    return start


def draw_test_on(axes_for: Callable[[Layout], Axes], study: Study, measurement: TestMeasurement, *,
                 site_labels: Sequence[str] | None = None, problems: list[str] | None = None
                 ) -> tuple[Axes | None, tuple[str, ...], tuple[str, ...]]:
    """Load one test's samples and draw its figure on the Axes ``axes_for`` gives.

    Parameters
    ----------
    axes_for : callable
        Called once, with the :data:`Layout` the figure is designed for, when there is
        something to draw; returns the Axes to draw on.
    study : Study
        The study the test belongs to (its manifest locates the files).
    measurement : TestMeasurement
        The test's results.  A test whose measurement failed (``error`` set) is not drawn.
    site_labels : sequence of str, optional
        Labels of the test's sites in manifest order (default: the site names).
    problems : list of str, optional
        Where the problems are collected as they arise (kept when drawing then raises).

    Returns
    -------
    ax : Axes or None
        The Axes drawn on; None when nothing could be drawn.
    problems : tuple of str
        Sites that could not be loaded (left out of the figure), or why nothing was drawn.
    notes : tuple of str
        How to read the figure when it departs from the usual display.

    Raises
    ------
    Exception
        Whatever drawing raises (:func:`draw_test` turns it into a problem).
    """
    from ..manifest import load_site
    from ..model import TestType

    test = measurement.test
    if measurement.error:
        return None, (f"not measured: {measurement.error}",), ()
    labels = list(site_labels) if site_labels is not None else [s.name for s in test.sites]
    labels += [s.name for s in test.sites[len(labels):]]
    problems = [] if problems is None else problems
    notes: list[str] = []

    def load(k: int) -> Any:
        try:
            return load_site(study, test.id, k)
        except Exception as exc:  # one unreadable file must not cost the figure
            problems.append(f"{labels[k]}: {exc}")
            return None

    def needle_sites(results: Mapping[str, Any]) -> list[NeedleSite]:
        sites = []
        for k, site in enumerate(test.sites):
            rec = load(k)
            if rec is None:
                sites.append(NeedleSite(labels[k], None, None, results.get(site.name), "file could not be loaded"))
            else:
                trace = rec.traces[0]  # load_site keeps the manifest's channel only
                sites.append(NeedleSite(labels[k], trace.samples_v, trace.fs_hz, results.get(site.name)))
        return sites

    kind = test.type
    ax: Axes
    if kind in (TestType.MOTOR, TestType.SENSORY, TestType.DMS):
        traces = []
        for k, site in enumerate(test.sites):
            resp = load(k)
            res = measurement.sites.get(site.name)
            label = labels[k]
            if kind is TestType.DMS:
                label = f"{'mCMAP' if site.stimulated == 'muscle' else 'nCMAP'} · {label}"
            if resp is None:
                traces.append(ResponseTrace(label, None, None, None, res, "file could not be loaded"))
                continue
            x, fs, stim = _response_samples(resp, average=kind is TestType.SENSORY)
            traces.append(ResponseTrace(label, x, fs, stim, res))
            if kind is TestType.SENSORY and len(resp.sweeps) > 1 and not notes:
                notes.append(f"the average of the {len(resp.sweeps)} sweeps is drawn, as measured")
        ax = axes_for(response_layout(len(traces)))
        draw_responses(ax, traces, unit="µV" if kind is TestType.SENSORY else "mV")
    elif kind is TestType.F_WAVE:
        resp = load(0)
        if resp is None:
            return None, tuple(problems), ()
        n = min(s.n_samples for s in resp.sweeps)
        stack = np.vstack([s.samples_v[:n] for s in resp.sweeps])
        stim = resp.sweeps[0].stimulus_index
        if stim is None and measurement.fwaves is not None and measurement.fwaves.m_response is not None:
            stim = measurement.fwaves.m_response.markers.stimulus
        if stim is None:
            return None, (*problems, "no stimulus position: the sweeps cannot be drawn"), ()
        ax = axes_for(fwave_layout(stack.shape[0]))
        draw_fwaves(ax, stack, resp.fs_hz, stim, measurement.fwaves,
                    split_ms=_f_search_start_ms(test, measurement.fwaves, resp.fs_hz))
        notes.append("right of the dotted line at the F-wave gain (larger deflections cut at each row's edges)")
    elif kind is TestType.RNS:
        resp = load(0)
        if resp is None or measurement.rns is None:
            return None, tuple(problems), ()
        sw = resp.sweeps[0]
        ax = axes_for(rns_layout())
        draw_rns(ax, sw.samples_v, sw.fs_hz, sw.stimulus_indices, measurement.rns)
        if len(sw.stimulus_indices) > 10:
            notes.append(f"the first 10 of {len(sw.stimulus_indices)} responses are shown")
    elif kind is TestType.NEEDLE_REST:
        sites = needle_sites(measurement.spontaneous)
        ax = axes_for(spontaneous_layout(len(sites)))
        draw_spontaneous(ax, sites)
    elif kind is TestType.NEEDLE_MINIMAL:
        if measurement.mups is None:
            return None, tuple(problems), ()
        ax = axes_for(mup_layout(measurement.mups))
        draw_mups(ax, measurement.mups, site_labels=labels)
        shown = sum(u.accepted for u in measurement.mups.units)
        if shown > 32:
            notes.append(f"the first 32 of {shown} accepted units are shown")
    elif kind is TestType.NEEDLE_MAXIMAL:
        sites = needle_sites(measurement.interference)
        ax = axes_for(interference_layout(len(sites)))
        draw_interference(ax, sites)
    else:  # pragma: no cover - every TestType is handled above
        return None, (f"no figure for tests of type {kind.value}",), ()
    return ax, tuple(problems), tuple(notes)


def draw_test(study: Study, measurement: TestMeasurement, *, site_labels: Sequence[str] | None = None,
              key: str = "fig") -> TestFigure:
    """Load one test's samples and draw its figure as inline SVG; never raises.

    Parameters
    ----------
    study : Study
        The study the test belongs to (its manifest locates the files).
    measurement : TestMeasurement
        The test's results.  A test whose measurement failed (``error`` set) gets no
        figure: the report shows its error instead.
    site_labels : sequence of str, optional
        Labels of the test's sites in manifest order (default: the site names); pass
        the anonymized ones when anonymizing.
    key : str
        Identifier that makes the SVG's ids unique in the report.

    Returns
    -------
    TestFigure
        The SVG, or None with the problems when nothing could be drawn; a site that
        cannot be loaded is listed in ``problems`` and left out of the figure.
    """
    if measurement.error:
        return TestFigure(None)
    seen: list[str] = []
    try:
        ax, problems, notes = draw_test_on(_report_axes, study, measurement, site_labels=site_labels, problems=seen)
        if ax is None:
            return TestFigure(None, problems)
        svg = _svg(ax.figure, key)  # type: ignore[arg-type]
    except Exception as exc:  # a figure that cannot be drawn must not cost the report
        log.warning("figure of test %s not drawn", measurement.test.id, exc_info=True)
        return TestFigure(None, (*seen, f"figure not drawn: {type(exc).__name__}: {exc}"))
    return TestFigure(svg, problems, notes)
