"""``edx batch``: every study under a folder, in parallel or on a dask cluster, with progress and a summary."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    _CRITERIA_OPT,
    _REFERENCE_OPT,
    DEFAULT_OUT,
    EXIT_INPUT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_ERROR,
    SALT_ENV,
    _check_files,
)
from .render import print_table, stdout_console

if TYPE_CHECKING:  # pragma: no cover
    from edx.batch import BatchItem, BatchSummary



@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (``kill``, ``timeout``, a scheduler's time limit, ``docker stop``)
    stops the batch as Ctrl-C does: the worker pool is shut down, finished studies are
    complete and the exit code is 130.  Without it the process died at once and left its
    worker processes (and the forkserver) running, orphaned, for ever."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to ``app``."""

    @app.command(epilog="Exit codes: 0 every input done (or skipped as not a study); 1 at least one study "
                        "failed (the others are done) or the cluster could not be used; 2 usage error; "
                        "3 outputs could not be written; 130 interrupted (finished studies are complete, "
                        "--resume continues).")
    def batch(
        folder: Annotated[Path, typer.Argument(help="Folder searched recursively for study manifests (.toml) "
                                                     "and bare recordings.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one sub-folder per study "
                                          "(results.json, CSV tables, report.html), the table of all measurements "
                                          "(measurements.parquet) and batch.json.")] = DEFAULT_OUT,
        jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes on this machine "
                                                 "(default: all cores; 1 runs in this process).")] = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="Run on a dask.distributed cluster: its scheduler address, tcp://HOST:PORT. "
                                "Study and output folders must be at the same path on every worker.")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Skip studies whose outputs are current "
                                             "(same inputs by content hash, same options).")] = False,
        anonymize: Annotated[bool, typer.Option(
            "--anonymize", help=f"Pseudonymous patient ids, no dates, no folder names and no free text in every "
                                f"output (study folders named anon-HASH; batch.json alone links them to the "
                                f"inputs). Set {SALT_ENV} to your laboratory's secret to salt the pseudonyms.")]
        = False,
        no_html: Annotated[bool, typer.Option("--no-html", help="Skip the HTML reports (the slowest output).")]
        = False,
        reference: Annotated[Path | None, _REFERENCE_OPT] = None,
        criteria: Annotated[Path | None, _CRITERIA_OPT] = None,
        bare_type: Annotated[str, typer.Option(
            "--bare-type", help="How recordings that no manifest names are measured: motor, sensory, or needle "
                                "EMG at rest, minimal or maximal effort; 'none' leaves them out.")] = "motor",
        store: Annotated[Path | None, typer.Option(
            "--store", help="Also append every finished study (analysed or resumed) to this SQLite results store "
                            "(created if missing); written by this process only.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (no progress bar).")]
        = False,
    ) -> None:
        """Analyse every study under FOLDER in parallel: per-study outputs written atomically, one tidy
        table of every measurement, a progress bar and an end summary. A failing study is reported and
        the batch goes on."""
        from edx.batch import BARE_TYPES

        if not folder.is_dir():
            raise typer.BadParameter(f"not a folder: {folder}", param_hint="FOLDER")
        if jobs is not None and jobs < 1:
            raise typer.BadParameter(f"must be at least 1, got {jobs}", param_hint="--jobs")
        if bare_type != "none" and bare_type not in BARE_TYPES:
            raise typer.BadParameter(f"must be one of {', '.join(BARE_TYPES)} or none, got {bare_type!r}",
                                     param_hint="--bare-type")
        _check_files(reference, criteria)
        code = run_batch_command(folder, out=out, jobs=jobs, scheduler=scheduler, resume=resume,
                                 anonymize=anonymize, html=not no_html, reference=reference, criteria=criteria,
                                 bare_type=None if bare_type == "none" else bare_type, as_json=as_json,
                                 store=store)
        raise typer.Exit(code)


def run_batch_command(folder: Path, *, out: Path, jobs: int | None, scheduler: str | None, resume: bool,
                      anonymize: bool, html: bool, reference: Path | None, criteria: Path | None,
                      bare_type: str | None, as_json: bool, store: Path | None = None) -> int:
    """Run the batch with a progress bar on stderr, print the summary; return the exit code."""
    from rich.console import Console
    from rich.markup import escape

    from edx.batch import run_batch
    from edx.errors import EdxError

    err = Console(stderr=True)
    salt = os.environ.get(SALT_ENV, "")
    store_obj = None
    if store is not None:
        from edx.store import ResultsStore

        try:
            store_obj = ResultsStore(store)
        except (OSError, EdxError) as exc:  # before any work: a store that cannot take the results
            return _fatal(err, as_json, f"results store not usable: {exc}", exc, EXIT_OUTPUT_ERROR)
    store_errors: list[str] = []

    def on_result(results_json: Path) -> None:
        """Append a finished study to the store; a store failure is an output error, not a failed study."""
        if store_obj is None:
            return
        try:
            doc = json.loads(results_json.read_text(encoding="utf-8"))
            store_obj.add_document(doc, anonymize=anonymize, salt=salt)
        except (OSError, ValueError, EdxError) as exc:
            store_errors.append(f"{results_json}: {exc}")

    progress, on_progress = _progress(err, enabled=not as_json and err.is_terminal)
    try:
        with _sigterm_as_interrupt(), progress:
            summary = run_batch(folder, out, jobs=jobs, scheduler=scheduler, resume=resume, anonymize=anonymize,
                                salt=salt, html=html, reference=reference, criteria=criteria,
                                bare_type=bare_type, on_progress=on_progress, on_result=on_result)
    except KeyboardInterrupt as exc:
        return _fatal(err, as_json, "interrupted: finished studies are complete; run again with --resume to go on",
                      exc, EXIT_INTERRUPTED)
    except EdxError as exc:
        return _fatal(err, as_json, str(exc), exc, EXIT_INPUT_ERROR)
    except OSError as exc:
        return _fatal(err, as_json, f"outputs could not be written: {exc}", exc, EXIT_OUTPUT_ERROR)
    finally:
        if store_obj is not None:
            store_obj.close()
    if as_json:
        doc = summary_json(summary)
        if store is not None:
            doc["store"] = {"path": str(store), "errors": store_errors}
        typer.echo(json.dumps(doc, indent=2))
    else:
        render_summary(summary)
        if store is not None and not store_errors:
            err.print(f"stored in {escape(str(store))}", highlight=False)
    for e in store_errors:
        err.print(f"[bold red]error[/] not stored: {escape(e)}", soft_wrap=True, highlight=False)
    if store_errors:
        return EXIT_OUTPUT_ERROR
    if not summary.items:
        err.print(f"no study manifests or recordings found under {escape(str(folder))}", highlight=False)
        return EXIT_INPUT_ERROR
    return EXIT_OK if summary.ok else EXIT_INPUT_ERROR


def _fatal(err: Any, as_json: bool, message: str, exc: BaseException, code: int) -> int:
    """A batch that could not run (or was stopped): one line on stderr, and with ``--json`` the same
    as a JSON object on stdout; return the exit code."""
    from rich.markup import escape

    err.print(f"[bold red]error[/] {escape(message)}", soft_wrap=True, highlight=False)
    if as_json:
        typer.echo(json.dumps({"error": message, "error_type": type(exc).__name__, "exit_code": code}, indent=2))
    return code


def _progress(console: Any, *, enabled: bool) -> tuple[Any, Any]:
    """A rich progress bar (a no-op context when disabled) and the ``on_progress`` callback driving it."""
    from rich.markup import escape
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console, disable=not enabled,
                        transient=False)
    state: dict[str, Any] = {"task": None, "failed": 0}

    def on_progress(done: int, total: int, item: BatchItem | None) -> None:
        if state["task"] is None:
            state["task"] = progress.add_task("studies", total=total, failed=0)
        if item is None:
            return
        if item.status == "failed":
            state["failed"] += 1
            if enabled:
                progress.console.print(f"[red]failed[/] {escape(item.input)}: "
                                       f"{escape(_first_line(item.error))}", soft_wrap=True, highlight=False)
        progress.update(state["task"], completed=done, failed=state["failed"],
                        description=escape(item.input if len(item.input) <= 40 else "…" + item.input[-39:]))

    return progress, on_progress


def _first_line(text: str | None, width: int = 160) -> str:
    """The first line of an error message, shortened; says when batch.json holds more."""
    lines = (text or "").strip().splitlines() or [""]
    line = lines[0] if len(lines[0]) <= width else lines[0][: width - 1] + "…"
    return line + (f" [{len(lines) - 1} more lines in batch.json]" if len(lines) > 1 else "")


def summary_json(summary: BatchSummary) -> dict[str, Any]:
    """The ``--json`` output: the ``batch.json`` document with the table and log as full paths."""
    doc = summary.to_dict()
    doc["table"] = None if summary.table is None else str(summary.table)
    doc["batch_json"] = str(summary.out_dir / "batch.json")
    return doc


def render_summary(summary: BatchSummary) -> None:
    """The end summary: counts per status, failures with their one-line errors, where the table is, speed."""
    from rich.markup import escape
    from rich.table import Table

    out = stdout_console()
    c = summary.counts()
    t = Table(title=f"edx batch: {len(summary.items)} inputs under {escape(str(summary.root))}", title_justify="left")
    t.add_column("status")
    t.add_column("inputs", justify="right")
    t.add_column("meaning")
    for status, style, meaning in (("ok", "green", "analysed, outputs written"),
                                   ("resumed", "cyan", "outputs already current (--resume)"),
                                   ("failed", "red", "not analysed: see below"),
                                   ("skipped", "dim", "not a study (e.g. a laboratory file)")):
        t.add_row(f"[{style}]{status}[/]", str(c[status]), meaning)
    print_table(out, t)
    for it in summary.failed:
        out.print(f"[red]failed[/] {escape(it.input)}: [bold]{escape(it.error_type or '')}[/] "
                  f"{escape(_first_line(it.error))}", soft_wrap=True, highlight=False)
    partial = [it for it in summary.items if it.done and it.tests_not_measured]
    if partial:
        out.print(f"[yellow]note[/] {len(partial)} finished studies have tests that could not be measured "
                  "(their errors are in each results.json)", highlight=False)
    if summary.table is not None:
        out.print(f"table: {escape(str(summary.table))}", soft_wrap=True, highlight=False)
    out.print(f"batch log: {escape(str(summary.out_dir / 'batch.json'))}", soft_wrap=True, highlight=False)
    spm = summary.studies_per_minute
    where = (f"on {summary.options['scheduler']}" if summary.options.get("scheduler")
             else f"{summary.options.get('jobs')} job(s)")
    speed = f"{spm:.1f} studies per minute" if spm is not None else "no study analysed"
    out.print(f"{summary.seconds:.1f} s, {speed} ({escape(where)})", highlight=False)
