"""Rich rendering of ``edx info`` results."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def without_errors(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print each failed input's error as one line on stderr; return the other results."""
    err = Console(stderr=True)
    ok = []
    for r in results:
        if "error" in r:
            err.print(f"[bold red]error[/] {escape(r['error'])}", markup=True, highlight=False, soft_wrap=True)
        else:
            ok.append(r)
    return ok


#: the width of text written to a pipe or a file (a lab's batch log): tables get more when they need it
PIPE_WIDTH = 120


def stdout_console() -> Console:
    """The console for results on standard output: the terminal's width on a terminal, and
    :data:`PIPE_WIDTH` columns for a pipe or a file (rich would use 80 there)."""
    probe = Console()  # rich's own terminal detection (FORCE_TERMINAL and the like), as print_table's
    return probe if probe.is_terminal else Console(width=PIPE_WIDTH)


def print_table(out: Console, table: Any) -> None:
    """Print a table; off a terminal at its natural width, so that no cell or header is cut
    to an ellipsis in a saved report (a terminal keeps its own width)."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    natural = Measurement.get(out, out.options.update(max_width=100_000), table).maximum
    if natural <= out.width:
        out.print(table)
        return
    width = out.width
    out.width = natural
    try:
        out.print(table)
    finally:
        out.width = width


def _fmt_num(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def render_info(results: list[dict[str, Any]]) -> None:
    out = stdout_console()
    for r in without_errors(results):
        if r["kind"] == "recording":
            title = (
                f"{r['path']}  [{r['format']}{'' if r['continuous'] else ', discontinuous'}]  "
                f"{r['duration_s']:.3f} s, {r['stimuli']} stimuli"
                + (f" ({', '.join(f'{k}: {v}' for k, v in r['stimulus_sources'].items())})" if r["stimuli"] else "")
                + f", {r['annotations']} other annotations, {r['sweeps']} sweeps"
            )
            t = Table(title=title, title_justify="left", expand=False)
            for col in ("channel", "fs (Hz)", "unit", "samples", "duration (s)", "blocks", "sweeps", "filters"):
                t.add_column(col, justify="right" if col not in ("channel", "unit", "filters") else "left")
            for c in r["channels"]:
                t.add_row(
                    c["channel"], _fmt_num(c["fs_hz"], "g"), c["unit"] or "-", str(c["samples"]),
                    _fmt_num(c["duration_s"], ".3f"), str(c["blocks"]), str(c["sweeps"]), c["filters"] or "",
                )
        else:
            title = (
                f"{r['path']}  [manifest] patient {r['patient']}, {r['date']}"
                + (f", ICU day {r['icu_day']}" if r["icu_day"] is not None else "")
                + (", sedated" if r.get("sedated") else "")
            )
            t = Table(title=title, title_justify="left")
            for col in ("test", "type", "nerve/muscle", "side", "site", "distance (mm)", "file", "channel"):
                t.add_column(col)
            for test in r["tests"]:
                for k, s in enumerate(test["sites"]):
                    t.add_row(
                        test["id"] if k == 0 else "", test["type"] if k == 0 else "",
                        (test["nerve"] or test["muscle"] or "") if k == 0 else "", (test["side"] or "") if k == 0 else "",
                        s["name"], _fmt_num(s["distance_mm"], "g"),
                        s["file"] + ("" if s["file_exists"] else " (missing)"), s["channel"] or "",
                    )
        print_table(out, t)
