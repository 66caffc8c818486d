"""``edx`` command.

Exit codes (every command): 0 everything asked for was done; 1 at least one input could
not be read or analysed (the others are still done and shown); 2 usage error (bad option
or argument); 3 results could not be written (output folder, results store); 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import analyze_cmd, demo_cmd, trend_cmd, warmup_cmd
from . import batch_cmd
from .common import _each, _finish

app = typer.Typer(
    name="edx",
    help="Electrodiagnosis of ICU-acquired weakness: read NCS and needle EMG recordings, measure them, "
         "interpret studies (CIM / CIP / CINM ...) and follow patients (CRIMYNE).",
    epilog="Exit codes: 0 all done; 1 some input could not be read or analysed (the rest was done); "
           "2 usage error; 3 outputs could not be written; 130 interrupted. Every command takes --json.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # help texts: docstring line breaks joined, paragraphs kept
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # third-party readers log their own parsing chatter at WARNING; edx reports
        # what matters itself, so keep theirs for --verbose
        for name in ("neo", "mne", "wfdb", "numba"):
            logging.getLogger(name).setLevel(logging.ERROR)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show log messages (debug level).")] = False,
) -> None:
    _setup_logging(verbose)


@app.command()
def info(
    paths: Annotated[list[Path], typer.Argument(help="Recording files, manifests (.toml) or folders to scan.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
) -> None:
    """Show what files and studies hold: channels, rates, units, durations, events, sweeps, tests."""
    from .describe import describe, expand, manifest_hints
    from .render import render_info

    files = expand(paths)
    hints = manifest_hints(files)
    results, failed = _each(files, lambda p: describe(p, hints))
    if not results:
        typer.echo("no recordings or manifests found", err=True)
        raise typer.Exit(EXIT_INPUT_ERROR)
    _finish(results, failed, as_json, render_info)


@app.command()
def measure(
    paths: Annotated[list[Path], typer.Argument(help="Study manifests (.toml) or recording files.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
    kind: Annotated[str, typer.Option(
        "--type", help="For bare recordings: motor, sensory, or a needle recording at rest, "
                       "minimal or maximal effort.")] = "motor",
    channel: Annotated[str | None, typer.Option(help="For bare recordings: the channel to measure.")] = None,
) -> None:
    """Measure nerve conduction (latency, amplitude, duration, area, velocity, F-waves, RNS, DMS)
    and needle EMG (spontaneous activity, motor unit potentials, interference pattern)."""
    from .measure_cmd import KINDS, measure_path, render_measure

    if kind not in KINDS:
        raise typer.BadParameter(f"--type must be one of {', '.join(KINDS)}, got {kind!r}")
    results, failed = _each(paths, lambda p: measure_path(p, kind=kind, channel=channel))
    _finish(results, failed, as_json, render_measure)


analyze_cmd.register(app)
trend_cmd.register(app)
batch_cmd.register(app)
demo_cmd.register(app)
warmup_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
