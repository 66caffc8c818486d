"""``edx trend``: the CRIMYNE timeline of one patient's daily studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

import edx

from .common import _CRITERIA_OPT, _REFERENCE_OPT, _check_files, _each, _finish
from .render import without_errors


def register(app: typer.Typer) -> None:
    """Add the ``trend`` command to ``app``."""

    @app.command()
    def trend(
        paths: Annotated[list[Path], typer.Argument(help="Folders of one patient's daily study manifests.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
        reference: Annotated[Path | None, _REFERENCE_OPT] = None,
        criteria: Annotated[Path | None, _CRITERIA_OPT] = None,
    ) -> None:
        """CRIMYNE screening: the peroneal CMAP per side and ICU day against its admission baseline, and the
        alert (fall > 25 % on two consecutive days, or > 2 SD below the normal mean)."""
        _check_files(reference, criteria)
        results, failed = _each(paths, lambda p: trend_path(p, reference=reference, criteria=criteria))
        _finish(results, failed, as_json, render_trend)


def trend_path(path: Path, *, reference: Path | None = None, criteria: Path | None = None) -> dict[str, Any]:
    """CRIMYNE screening of a folder of daily manifests (or one manifest file)."""
    r = edx.crimyne(path, reference=reference, criteria=criteria)
    return {"path": str(path), "kind": "crimyne", **r.to_dict()}


def render_trend(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console()
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
        out.print(t)
        head = (f"[bold red]ALERT on ICU day {res['alert_icu_day']} ({escape(res['alert_side'])})[/]" if res["alert"]
                else "[green]no alert[/]")
        out.print(head + ": " + escape(res["recommendation"]), soft_wrap=True)
        out.print(f"[dim]rule: {escape(res['rule'])}; sensitivity {res['sensitivity_pct']:g} %, specificity "
                  f"{res['specificity_pct']:g} %[/]", soft_wrap=True)
        for w in res["warnings"]:
            out.print(f"[yellow]note[/] {escape(w)}", soft_wrap=True)
