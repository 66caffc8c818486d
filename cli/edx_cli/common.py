"""Pieces shared by the ``edx`` subcommands: exit codes, per-input error handling, options."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

#: exit codes of every ``edx`` command (documented in the README and ``edx --help``)
EXIT_OK = 0  #: everything asked for was done
EXIT_INPUT_ERROR = 1  #: at least one input could not be read or analysed (the others were done)
EXIT_USAGE = 2  #: bad option or argument (typer/click's own code)
EXIT_OUTPUT_ERROR = 3  #: results could not be written (output folder, results store)
EXIT_INTERRUPTED = 130  #: stopped by Ctrl-C; finished outputs are complete, unfinished ones absent

#: where ``edx analyze`` and ``edx batch`` write when ``--out`` is not given
DEFAULT_OUT = Path("edx-results")
#: environment variable holding the laboratory's secret for pseudonyms (``--anonymize``)
SALT_ENV = "EDX_ANON_SALT"


def emit_json(results: Any) -> None:
    """Print ``results`` as JSON on stdout (NaN never appears: it is null in every document)."""
    typer.echo(json.dumps(results, indent=2, default=str))


def _each(paths: list[Path], work: Callable[[Path], dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Run ``work`` on every path; an input error becomes a result entry, never a stop."""
    from edx.errors import EdxError

    results: list[dict[str, Any]] = []
    failed = 0
    for p in paths:
        try:
            results.append(work(p))
        except EdxError as exc:
            failed += 1
            results.append({"path": str(p), "error": str(exc), "error_type": type(exc).__name__})
    return results, failed


def _finish(results: list[dict[str, Any]], failed: int, as_json: bool, render: Callable[[list[dict[str, Any]]], None]) -> None:
    if as_json:
        emit_json(results)
    else:
        render(results)
    raise typer.Exit(EXIT_INPUT_ERROR if failed else EXIT_OK)


_REFERENCE_OPT = typer.Option("--reference", help="A laboratory's reference values (TOML, layout of "
                                                  "edx/data/reference_values.toml), merged over the defaults.")
_CRITERIA_OPT = typer.Option("--criteria", help="Overrides of the interpretation criteria (TOML, layout of "
                                                "edx/data/interpretation.toml).")


def _check_files(*paths: Path | None) -> None:
    for p in paths:
        if p is not None and not p.is_file():
            raise typer.BadParameter(f"file not found: {p}")
