"""The CRIMYNE trend as a figure: peroneal CMAP per side and ICU day against its baseline.

:func:`draw_crimyne` draws a :class:`edx.interpretation.CrimyneResult` on a matplotlib Axes
(:func:`edx.plot.plot_crimyne` uses it for notebooks); :func:`crimyne_figure` makes the
command line's :class:`~matplotlib.figure.Figure` with it (object-oriented API with the
Agg canvas, never pyplot, so it holds no global state and works without a display);
:func:`save_crimyne_plot` writes that figure as PNG atomically.  matplotlib is imported only
when a figure is drawn.

What the figure shows, per side (one colour each):

* the peroneal CMAP amplitude (mV) of every ICU day with a usable measurement, joined
  day to day; a day without a study, or whose measurement is unusable, is a gap in the
  line (labelled "no study" or drawn as a hollow grey marker "not usable") and is never
  bridged;
* the baseline (solid horizontal line) and the criterion A line, ``fall_pct`` below it
  (dashed, −25 % by default); criterion B's limit (more than 2 SD below the normal mean)
  when known (dotted);
* the alert day: a red vertical line with a label naming the side(s).

Every artist a test or a caller may look for has a ``gid``: ``cmap-<side>``,
``baseline-<side>``, ``fall-<side>``, ``limit2sd-<side>``, ``unusable-<side>``, ``alert``,
``alert-label``, ``no-study-<day>``, ``no-peroneal``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._atomic import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..interpretation.serial import CrimyneResult

log = logging.getLogger("edx.report")

__all__ = ["draw_crimyne", "crimyne_figure", "save_crimyne_plot", "fall_threshold_pct"]

_SIDE_COLOURS = {"L": "tab:blue", "R": "tab:orange"}
_SIDE_NAMES = {"L": "left", "R": "right"}
#: CrimyneDay statuses whose amplitude is a usable measurement
_USABLE = frozenset({"baseline", "ok", "fall", "below_2sd"})


def fall_threshold_pct(criteria: Any = None, fall_pct: float | None = None) -> float:
    """The criterion A threshold in %: ``fall_pct`` when given, else read from ``criteria``
    (:func:`edx.load_criteria`; 25 % by default)."""
    if fall_pct is not None:
        return float(fall_pct)
    from ..interpretation.reference import load_criteria

    return load_criteria(criteria).number("crimyne", "fall_pct")


def draw_crimyne(ax: Axes, result: CrimyneResult, *, fall_pct: float = 25.0) -> None:
    """Draw a CRIMYNE result on ``ax`` (no legend: the caller places it).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    result : CrimyneResult
        The result of :func:`edx.crimyne` or :meth:`edx.store.ResultsStore.crimyne`.
    fall_pct : float
        The criterion A threshold in % (:func:`fall_threshold_pct`).
    """
    from matplotlib.ticker import MaxNLocator

    # days with a study: every studied day has its screens entry, and a row on each side
    all_days = sorted(set(result.screens) | {d.icu_day for s in result.sides.values() for d in s.days})
    first, last = (all_days[0], all_days[-1]) if all_days else (1, 1)
    span = list(range(first, last + 1))
    top = 0.0
    for side, series in result.sides.items():
        colour = _SIDE_COLOURS.get(side, "tab:gray")
        name = _SIDE_NAMES.get(side, side)
        by_day = {d.icu_day: d for d in series.days}
        ys = []
        for day in span:
            d = by_day.get(day)
            ok = d is not None and d.status in _USABLE and d.amplitude_mv is not None
            ys.append(float(d.amplitude_mv) if ok and d is not None and d.amplitude_mv is not None else math.nan)
        ax.plot(span, ys, marker="o", color=colour, linewidth=1.8, label=f"{name} peroneal CMAP", gid=f"cmap-{side}")
        top = max([top, *[y for y in ys if not math.isnan(y)]])
        unusable = [(d.icu_day, d.amplitude_mv) for d in series.days
                    if d.status not in _USABLE and d.amplitude_mv is not None]
        if unusable:
            ax.plot([u[0] for u in unusable], [u[1] for u in unusable], linestyle="none", marker="o",
                    markerfacecolor="none", markeredgecolor="tab:gray", label=f"{name}: not usable",
                    gid=f"unusable-{side}")
            top = max([top, *[float(u[1] or 0.0) for u in unusable]])
        if series.baseline_mv is not None:
            base = float(series.baseline_mv)
            ax.axhline(base, color=colour, linewidth=1.0, alpha=0.8,
                       label=f"{name} baseline {base:.2f} mV (ICU day {series.baseline_icu_day})",
                       gid=f"baseline-{side}")
            ax.axhline(base * (1.0 - fall_pct / 100.0), color=colour, linewidth=1.0, linestyle="--",
                       label=f"{name} −{fall_pct:g} % ({base * (1.0 - fall_pct / 100.0):.2f} mV)", gid=f"fall-{side}")
            top = max(top, base)
        if series.criterion_b_limit_mv is not None:
            ax.axhline(float(series.criterion_b_limit_mv), color=colour, linewidth=0.8, linestyle=":",
                       label=f"{name} 2 SD below the normal mean ({series.criterion_b_limit_mv:.2f} mV)",
                       gid=f"limit2sd-{side}")
    ax.set_ylim(0.0, top * 1.18 if top > 0 else 1.0)
    if not result.sides:
        ax.text(0.5, 0.5, "no peroneal motor test in any study", ha="center", va="center", color="tab:gray",
                transform=ax.transAxes, gid="no-peroneal")
    for day in span:
        if day not in all_days:
            ax.text(day, 0.02, "no study", rotation=90, ha="center", va="bottom", color="tab:gray", fontsize=8,
                    transform=ax.get_xaxis_transform(), gid=f"no-study-{day}")
    if result.alert and result.alert_icu_day is not None:
        day = result.alert_icu_day
        ax.axvline(day, color="tab:red", linewidth=2.0, alpha=0.8, gid="alert",
                   label=f"CRIMYNE alert, ICU day {day}")
        right_half = day > 0.5 * (first + last)  # the label goes where the axes have room for it
        ax.text(day, 0.98, f" alert: ICU day {day} ({result.alert_side}) ", color="tab:red", fontweight="bold",
                ha="right" if right_half else "left", va="top", transform=ax.get_xaxis_transform(), gid="alert-label")
    ax.set_xlim(first - 0.5, last + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("ICU day")
    ax.set_ylabel("peroneal CMAP amplitude (mV)")
    state = f"alert on ICU day {result.alert_icu_day}" if result.alert else "no alert"
    ax.set_title(f"CRIMYNE: patient {result.patient}, {state}", loc="left")
    ax.grid(True, axis="y", alpha=0.3)


def crimyne_figure(result: CrimyneResult, *, criteria: Any = None, fall_pct: float | None = None) -> Figure:
    """Draw a CRIMYNE result (:func:`draw_crimyne`) on a figure of its own, legend beside it.

    Parameters
    ----------
    result : CrimyneResult
        The result of :func:`edx.crimyne` or :meth:`edx.store.ResultsStore.crimyne`.
    criteria : path or mapping, optional
        The criteria the result was computed with; the fall threshold of criterion A is
        read from it (25 % by default).
    fall_pct : float, optional
        The criterion A threshold in %, overriding ``criteria``.

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas attached (``figure.savefig`` works).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw_crimyne(ax, result, fall_pct=fall_threshold_pct(criteria, fall_pct))
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside right upper", fontsize=8)  # beside the axes: never hides a low amplitude
    return fig


def save_crimyne_plot(result: CrimyneResult, path: str | os.PathLike[str], *, criteria: Any = None,
                 fall_pct: float | None = None, dpi: int = 120) -> Path:
    """Write the CRIMYNE figure (:func:`crimyne_figure`) as a PNG file, atomically.

    Parameters
    ----------
    result : CrimyneResult
    path : path
        The PNG file; its folder is created when missing.  A failed write leaves any
        earlier file of that name as it was.
    criteria, fall_pct : optional
        As for :func:`crimyne_figure`.
    dpi : int
        Resolution of the image.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        The file cannot be written.
    """
    fig = crimyne_figure(result, criteria=criteria, fall_pct=fall_pct)
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    log.debug("CRIMYNE plot of %s written to %s", result.patient, target)
    return target
