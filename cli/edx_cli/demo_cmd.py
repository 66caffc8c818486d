"""``edx demo``: the bundled CIM study analysed and the CRIMYNE series followed, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import EXIT_INPUT_ERROR, EXIT_OK, emit_json

#: where the sample studies are looked for, in this order, when ``--data`` is not given
_SAMPLE_REL = Path("sample_data") / "studies"


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""

    @app.command()
    def demo(
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's outputs.")] = Path("edx-demo"),
        data: Annotated[Path | None, typer.Option(
            "--data", help="Folder of the sample studies (holding cim/ and crimyne/). Default: sample_data/studies "
                           "of the current folder or of the edx source tree; if neither exists they are simulated "
                           "afresh into OUT/sample_data (seeded, identical to the committed ones).")] = None,
        no_html: Annotated[bool, typer.Option("--no-html", help="Skip the HTML report.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
        = False,
    ) -> None:
        """Run the main job on the bundled sample data: analyze the CIM study (tables, impression,
        results.json, CSV and HTML report) and follow the CRIMYNE series (timeline, alert, plot)."""
        raise typer.Exit(run_demo(out, data=data, html=not no_html, as_json=as_json))


def find_sample_studies(data: Path | None, out: Path) -> tuple[Path, str]:
    """The sample-studies folder and how it was found (given, found, or simulated into ``out``)."""
    if data is not None:
        if not (data / "cim" / "study.toml").is_file():
            raise typer.BadParameter(f"{data} holds no cim/study.toml", param_hint="--data")
        return data, "given"
    import edx

    for cand in (Path.cwd() / _SAMPLE_REL, Path(edx.__file__).resolve().parents[1] / _SAMPLE_REL):
        if (cand / "cim" / "study.toml").is_file() and (cand / "crimyne").is_dir():
            return cand, "found"
    from edx.sim.studies import STUDIES, generate_crimyne, generate_study

    target = out / "sample_data"
    generate_study(next(d for d in STUDIES if d.name == "cim"), target)
    generate_crimyne(target)
    return target, "simulated"


def run_demo(out: Path, *, data: Path | None = None, html: bool = True, as_json: bool = False) -> int:
    """Analyse the CIM sample study and the CRIMYNE series into ``out``; return the exit code."""
    from rich.console import Console

    from .analyze_cmd import analyze_paths, render_analyze
    from .common import _each
    from .trend_cmd import render_trend, trend_path

    studies, how = find_sample_studies(data, out)
    console = Console(stderr=as_json)
    console.print(f"[bold]edx demo[/]: sample studies {how} in {studies}", highlight=False)
    analysed, code = analyze_paths([studies / "cim"], out=out / "analyze", html=html)
    trend, failed = _each([studies / "crimyne"], lambda p: trend_path(p, plot_dir=out / "trend"))
    code = max(code, EXIT_INPUT_ERROR if failed else EXIT_OK)
    files = sorted(str(p) for p in out.rglob("*") if p.is_file() and "sample_data" not in p.relative_to(out).parts)
    if as_json:
        emit_json({"sample_studies": str(studies), "analyze": analysed, "trend": trend, "outputs": files,
                   "exit_code": code})
        return code
    render_analyze(analysed)
    render_trend(trend)
    console.print("\n[bold]Outputs[/]")
    for f in files:
        console.print(f"  {f}", highlight=False)
    report = out / "analyze" / "cim" / "report.html"
    if report.is_file():
        console.print(f"\nOpen the report in a browser: {report.resolve().as_uri()}", highlight=False)
    return code
