"""``edx trend``: the CRIMYNE timeline of one patient's daily studies, with its plot.

The studies come from a folder of daily manifests (``edx trend FOLDER``) or from a results
store (``edx trend PATIENT --store PATH``, filled by ``edx analyze/batch --store``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import edx

from .common import (
    _CRITERIA_OPT,
    _REFERENCE_OPT,
    EXIT_INPUT_ERROR,
    EXIT_OK,
    EXIT_OUTPUT_ERROR,
    _check_files,
    _each,
    emit_json,
)
from .render import print_table, stdout_console, without_errors

if TYPE_CHECKING:  # pragma: no cover
    from edx.interpretation import CrimyneResult
    from edx.store import ResultsStore


def register(app: typer.Typer) -> None:
    """Add the ``trend`` command to ``app``."""

    @app.command()
    def trend(
        targets: Annotated[list[str], typer.Argument(
            metavar="FOLDER|PATIENT",
            help="Folders of one patient's daily study manifests; with --store, patient ids in the store.")],
        store: Annotated[Path | None, typer.Option(
            "--store", help="Read the patients' studies from this results store (written by `edx analyze --store` "
                            "or `edx batch --store`); the arguments are then patient ids.")] = None,
        out: Annotated[Path, typer.Option(
            "--out", help="Folder for the plot crimyne_PATIENT.png (created if missing).")] = Path("."),
        no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not write the plot.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
        reference: Annotated[Path | None, _REFERENCE_OPT] = None,
        criteria: Annotated[Path | None, _CRITERIA_OPT] = None,
    ) -> None:
        """CRIMYNE screening: the peroneal CMAP per side and ICU day against its admission baseline, and the
        alert (fall > 25 % on two consecutive days, or > 2 SD below the normal mean). Writes a plot of the
        series (baseline, -25 % line, alert day) unless --no-plot."""
        _check_files(reference, criteria)
        plot_dir = None if no_plot else out
        if store is None:
            results, failed = _each([Path(t) for t in targets],
                                    lambda p: trend_path(p, reference=reference, criteria=criteria, plot_dir=plot_dir))
        else:
            results, failed = trend_store(store, targets, reference=reference, criteria=criteria, plot_dir=plot_dir)
        code = EXIT_INPUT_ERROR if failed else EXIT_OK
        if any("plot_error" in r for r in results):
            code = max(code, EXIT_OUTPUT_ERROR)
        if as_json:
            emit_json(results)
        else:
            render_trend(results)
        raise typer.Exit(code)


def trend_path(path: Path, *, reference: Path | None = None, criteria: Path | None = None,
               plot_dir: Path | None = None) -> dict[str, Any]:
    """CRIMYNE screening of a folder of daily manifests (or one manifest file); with ``plot_dir``,
    also its plot (``plot`` in the result)."""
    r = edx.crimyne(path, reference=reference, criteria=criteria)
    return _with_plot({"path": str(path), "kind": "crimyne", **r.to_dict()}, r, plot_dir, criteria)


def trend_store(store: Path, patients: list[str], *, reference: Path | None = None,
                criteria: Path | None = None, plot_dir: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """CRIMYNE screening of each patient held in a results store; return the results and how many failed.

    A store that cannot be opened fails as one input; an unknown patient fails alone (its
    error names close matches).  With ``plot_dir``, each patient's plot is written there.
    """
    from edx.errors import StoreError
    from edx.store import ResultsStore

    try:
        st = ResultsStore(store, create=False)
    except StoreError as exc:
        return [{"path": str(store), "error": str(exc), "error_type": type(exc).__name__}], 1
    with st:
        # patient ids go through the per-input loop as they are (its items are only shown and passed on)
        return _each(patients, lambda pid: _store_result(st, str(pid), reference, criteria, plot_dir))  # type: ignore[arg-type]


def _store_result(st: ResultsStore, patient: str, reference: Path | None, criteria: Path | None,
                  plot_dir: Path | None) -> dict[str, Any]:
    r = st.crimyne(patient, reference=reference, criteria=criteria)
    return _with_plot({"path": str(st.path), "store": str(st.path), "kind": "crimyne", **r.to_dict()}, r, plot_dir,
                      criteria)


def plot_file_name(patient: str) -> str:
    """``crimyne_<patient>.png`` with every character but letters, digits, ``.``, ``_`` and ``-``
    replaced, so that a patient id can never name a folder or a hidden file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", patient).strip("._-") or "patient"
    return f"crimyne_{safe}.png"


def _with_plot(entry: dict[str, Any], result: CrimyneResult, plot_dir: Path | None, criteria: Path | None
               ) -> dict[str, Any]:
    """Write the plot of ``result`` into ``plot_dir`` (when given) and note its path in ``entry``
    (``plot``), or why it could not be written (``plot_error``)."""
    if plot_dir is None:
        return entry
    from edx.report.trend_plot import save_crimyne_plot

    target = plot_dir / plot_file_name(result.patient)
    try:
        entry["plot"] = str(save_crimyne_plot(result, target, criteria=criteria))
    except OSError as exc:
        entry["plot_error"] = f"{target}: {exc.strerror or exc}"
    return entry


def render_trend(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = stdout_console()
    err = Console(stderr=True)
    for res in without_errors(results):
        days = sorted({d["icu_day"] for s in res["sides"].values() for d in s["days"]})
        t = Table(title=escape(f"{res['path']}  patient {res['patient']}: peroneal CMAP (CRIMYNE)"),
                  title_justify="left")
        t.add_column("ICU day", justify="right")
        for side, s in res["sides"].items():
            base = f"{s['baseline_mv']:.2f} mV" if s["baseline_mv"] is not None else "none"
            t.add_column(f"{side} mV (baseline {base})", justify="right")
            t.add_column(f"{side} vs baseline", justify="right")
            t.add_column(f"{side} status")
        for day in days:
            cells = [str(day)]
            for s in res["sides"].values():
                d = next((x for x in s["days"] if x["icu_day"] == day), None)
                if d is None:
                    cells += ["", "", "missing"]
                    continue
                amp = "" if d["amplitude_mv"] is None else f"{d['amplitude_mv']:.2f}"
                ch = "" if d["change_pct"] is None else f"{d['change_pct']:+.0f} %"
                status = d["status"] + ("  ◀ ALERT" if s["alert_icu_day"] == day else "")
                style = "bold red" if s["alert_icu_day"] == day else ("yellow" if d["status"] == "fall" else "")
                cells += [amp, ch, f"[{style}]{escape(status)}[/]" if style else escape(status)]
            t.add_row(*cells)
        print_table(out, t)
        head = (f"[bold red]ALERT on ICU day {res['alert_icu_day']} ({escape(res['alert_side'])})[/]" if res["alert"]
                else "[green]no alert[/]")
        out.print(head + ": " + escape(res["recommendation"]), soft_wrap=True)
        out.print(f"[dim]rule: {escape(res['rule'])}; sensitivity {res['sensitivity_pct']:g} %, specificity "
                  f"{res['specificity_pct']:g} %[/]", soft_wrap=True)
        for w in res["warnings"]:
            out.print(f"[yellow]note[/] {escape(w)}", soft_wrap=True)
        if res.get("plot"):
            out.print(f"plot: {escape(res['plot'])}", soft_wrap=True, highlight=False)
        if res.get("plot_error"):
            err.print(f"[bold red]error[/] plot not written: {escape(res['plot_error'])}", soft_wrap=True)
