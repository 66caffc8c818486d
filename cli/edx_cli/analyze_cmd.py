"""``edx analyze``: measure and interpret studies, print the summary, write the outputs."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import (
    _CRITERIA_OPT,
    _REFERENCE_OPT,
    EXIT_INPUT_ERROR,
    EXIT_OK,
    DEFAULT_OUT,
    EXIT_OUTPUT_ERROR,
    SALT_ENV,
    _check_files,
    emit_json,
)
from .measure_cmd import _f, _needle_text
from .render import print_table, stdout_console, without_errors



def register(app: typer.Typer) -> None:
    """Add the ``analyze`` command to ``app``."""

    @app.command()
    def analyze(
        paths: Annotated[list[Path], typer.Argument(help="Study manifests (.toml) or study folders (holding study.toml).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs; each study gets a sub-folder "
                                          "with results.json, measurements.csv, evidence.csv and report.html.")]
        = DEFAULT_OUT,
        no_html: Annotated[bool, typer.Option("--no-html", help="Skip the HTML report (the slowest output).")] = False,
        no_files: Annotated[bool, typer.Option("--no-files", help="Write no files: terminal (or --json) only.")]
        = False,
        anonymize: Annotated[bool, typer.Option(
            "--anonymize", help=f"Pseudonymous patient id, no dates, no folder names and no free text in every "
                                f"output. Set {SALT_ENV} to your laboratory's secret to salt the pseudonym.")] = False,
        store: Annotated[Path | None, typer.Option(
            "--store", help="Also append the results to this SQLite results store (created if missing).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
        = False,
        reference: Annotated[Path | None, _REFERENCE_OPT] = None,
        criteria: Annotated[Path | None, _CRITERIA_OPT] = None,
    ) -> None:
        """Measure and interpret studies: CIM / CIP / CINM / NMJ / demyelinating / normal / indeterminate,
        with the grade, the evidence and what would firm up the conclusion; write results.json, CSV tables
        and an HTML report per study."""
        _check_files(reference, criteria)
        code = run_analyze(paths, out=None if no_files else out, html=not no_html, anonymize=anonymize,
                           store=store, as_json=as_json, reference=reference, criteria=criteria)
        raise typer.Exit(code)


def run_analyze(paths: list[Path], *, out: Path | None, html: bool = True, anonymize: bool = False,
                store: Path | None = None, as_json: bool = False, reference: Path | None = None,
                criteria: Path | None = None) -> int:
    """Analyse every path, write and show the results; return the exit code."""
    results, code = analyze_paths(paths, out=out, html=html, anonymize=anonymize, store=store,
                                  reference=reference, criteria=criteria)
    if as_json:
        emit_json(results)
    else:
        render_analyze(results)
    return code


def analyze_paths(paths: list[Path], *, out: Path | None, html: bool = True, anonymize: bool = False,
                  store: Path | None = None, reference: Path | None = None,
                  criteria: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """Analyse every path and write its outputs; return the per-input results and the exit code."""
    from edx.errors import EdxError
    from edx.report import analyze_study, write_study_outputs

    salt = os.environ.get(SALT_ENV, "")
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    used: set[str] = set()
    store_obj = None
    if store is not None:
        try:
            store_obj = _open_store(store)
        except (OSError, EdxError) as exc:  # before any work: a store that cannot take the results
            return [{"path": str(store), "error": f"results store not usable: {exc}",
                     "error_type": type(exc).__name__}], EXIT_OUTPUT_ERROR
    try:
        for p in paths:
            try:
                a = analyze_study(p, reference=reference, criteria=criteria)
            except EdxError as exc:
                code = max(code, EXIT_INPUT_ERROR)
                results.append({"path": str(p), "error": str(exc), "error_type": type(exc).__name__})
                continue
            doc = a.to_dict(anonymize=anonymize, salt=salt)
            res: dict[str, Any] = {"path": doc["source"]["manifest"] if anonymize else str(p), "kind": "study",
                                   **doc, "outputs": {}}
            try:
                if out is not None:
                    folder = out / _unique(_folder_name(p, a, doc, anonymize), used)
                    res["outputs"] = {k: str(v) for k, v in
                                      write_study_outputs(a, folder, anonymize=anonymize, salt=salt, html=html).items()}
                if store_obj is not None:
                    res["store_study_id"] = store_obj.add(a, anonymize=anonymize, salt=salt)
            except (OSError, EdxError) as exc:
                code = EXIT_OUTPUT_ERROR
                res["output_error"] = f"{type(exc).__name__}: {exc}"
            results.append(res)
    finally:
        if store_obj is not None:
            store_obj.close()
    return results, code


def _open_store(path: Path) -> Any:
    from edx.store import ResultsStore

    return ResultsStore(path)


def _folder_name(path: Path, analysis: Any, doc: dict[str, Any], anonymize: bool) -> str:
    """Output sub-folder of a study: the study folder's name for ``study.toml``, else the manifest's stem;
    the pseudonym and ICU day when anonymized (folder names may carry names)."""
    if anonymize:
        day = doc["study"]["icu_day"]
        name = doc["patient"]["id"] + (f"_d{day}" if day is not None else "")
    else:
        m = Path(analysis.study.manifest_path or path)
        name = m.parent.name if m.name == "study.toml" else m.stem
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "study"


def _unique(name: str, used: set[str]) -> str:
    k, cand = 1, name
    while cand in used:
        k += 1
        cand = f"{name}-{k}"
    used.add(cand)
    return cand


# ----------------------------------------------------------------------------- terminal


def render_analyze(results: list[dict[str, Any]]) -> None:
    """Print each analysed study: header, motor / sensory / F-RNS-DMS / needle tables, impression, outputs."""
    from rich.console import Console
    from rich.markup import escape

    out = stdout_console()
    err = Console(stderr=True)
    for res in without_errors(results):
        out.print(_header(res), soft_wrap=True)
        rows = res["measurements"]
        for table in (_ncs_table(rows, "motor"), _ncs_table(rows, "sensory"), _late_table(rows), _needle_table(rows)):
            if table is not None:
                print_table(out, table)
        out.print(_impression(res))
        if res["outputs"]:
            out.print("[dim]wrote[/] " + escape(", ".join(res["outputs"].values())), soft_wrap=True, highlight=False)
        if res.get("store_study_id") is not None:
            out.print(f"[dim]stored as study {res['store_study_id']}[/]", highlight=False)
        if res.get("output_error"):
            err.print(f"[bold red]error[/] {escape(res['path'])}: outputs not written: {escape(res['output_error'])}",
                      soft_wrap=True, highlight=False)


def _header(res: dict[str, Any]) -> str:
    from rich.markup import escape

    p, st = res["patient"], res["study"]
    ctx = st["context"]
    bits = [f"[bold]patient {escape(p['id'])}[/]"]
    if p["age_years"] is not None:
        bits.append(f"{p['age_years']:g} y" + (f" {p['sex']}" if p["sex"] else ""))
    if st["date"]:
        bits.append(escape(st["date"]))
    if st["icu_day"] is not None:
        bits.append(f"ICU day {st['icu_day']}")
    lo, hi = st["temperature_min_c"], st["temperature_max_c"]
    if lo is not None:
        bits.append(f"limb {lo:g} °C" if lo == hi else f"limb {lo:g}–{hi:g} °C")
    if ctx.get("sedated") is not None:
        bits.append("sedated" if ctx["sedated"] else "not sedated")
    if ctx.get("mrc_sum_score") is not None:
        bits.append(f"MRC sum {ctx['mrc_sum_score']}")
    return escape(res["path"]) + "\n" + " · ".join(bits)


def _name(r: dict[str, Any]) -> str:
    n = r.get("nerve") or r.get("muscle") or r["test"]
    return f"{n} {r['side']}" if r.get("side") else str(n)


def _flags(r: dict[str, Any]) -> str:
    if "error" in r:
        return r["error"]
    if r.get("status") not in (None, "ok"):
        return f"{r['status']}: " + "; ".join(f"{k} {v}" for k, v in (r.get("reasons") or {}).items())
    if r.get("present") is False:
        return f"absent (noise {_f(r.get('noise_uv'), '.0f')} µV)"
    return ", ".join(q for q in (r.get("quality") or ()) if q != "stimulus_artifact")


def _table(title: str, cols: tuple[tuple[str, str], ...]) -> Any:
    from rich.table import Table

    t = Table(title=title, title_justify="left", title_style="bold")
    for col, just in cols:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    return t


def _ncs_table(rows: list[dict[str, Any]], kind: str) -> Any:
    """Motor or sensory conduction in the layout of an EMG machine's report: nerve and sites,
    latencies, amplitude, duration, area, and each segment's velocity (with its drops) below its sites."""
    from rich.markup import escape

    sel = [r for r in rows if r["type"] == kind]
    if not sel:
        return None
    motor = kind == "motor"
    unit, area_unit = ("mV", "mV·ms") if motor else ("µV", "µV·ms")
    with_cv = any(" -> " in str(r.get("site", "")) or r.get("cv_m_s") is not None for r in sel)
    cols = [("nerve / site", "left"), ("onset ms", "right"), ("peak ms", "right"), (f"amp {unit}", "right"),
            ("neg dur ms", "right"), (f"area {area_unit}", "right")] + ([("CV m/s", "right")] if with_cv else [])
    t = _table("Motor nerve conduction" if motor else "Sensory nerve conduction", (*cols, ("notes", "left")))

    def add(first: str, values: list[str], cv: str, notes: str) -> None:
        t.add_row(first, *values, *([cv] if with_cv else []), notes)

    last = None
    for r in sel:
        site = str(r.get("site", ""))
        if last != r["test"]:
            add(f"[bold]{escape(_name(r))}[/]", [""] * 5, "", "")
            last = r["test"]
        if "error" in r:
            add("  (not measured)", [""] * 5, "", f"[red]{escape(r['error'])}[/]")
        elif " -> " in site:
            notes = []
            if r.get("amplitude_drop_pct") is not None:
                notes.append(f"amplitude {_change(r['amplitude_drop_pct'])}, area {_change(r.get('area_drop_pct'))}")
            if r.get("duration_increase_pct") is not None:
                notes.append(f"duration {_change(-r['duration_increase_pct'])}")
            if (r.get("reasons") or {}).get("cv"):
                notes.append(f"velocity not reported: {r['reasons']['cv']}" if r.get("cv_m_s") is None
                             else r["reasons"]["cv"])
            add(f"  [dim]{escape(site.replace(' -> ', ' – '))}[/]", [""] * 5, _f(r.get("cv_m_s"), ".1f"),
                escape(", ".join(notes)))
        else:
            amp = r.get("amplitude_mv") if motor else r.get("amplitude_uv")
            area = r.get("neg_area_mvms") if motor else r.get("neg_area_uvms")
            add(f"  {escape(site)}", [_f(r.get("onset_latency_ms"), ".2f"), _f(r.get("neg_peak_latency_ms"), ".2f"),
                                      _f(amp, ".2f" if motor else ".1f"), _f(r.get("neg_duration_ms"), ".2f"),
                                      _f(area, ".2f" if motor else ".1f")], _f(r.get("cv_m_s"), ".1f"),
                escape(_flags(r)))
    return t


def _change(drop_pct: float | None) -> str:
    """A proximal-vs-distal drop in % as a signed change ("-12 %")."""
    if drop_pct is None:
        return "-"
    v = round(-drop_pct)
    return f"{v:+d} %" if v else "0 %"


def _late_table(rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape

    sel = [r for r in rows if r["type"] in ("f_wave", "rns", "dms")]
    if not sel:
        return None
    t = _table("F-waves, repetitive stimulation, direct muscle stimulation",
               (("test", "left"), ("site", "left"), ("result", "left"), ("notes", "left")))
    for r in sel:
        site = str(r.get("site", ""))
        if "error" in r:
            res = ""
        elif site == "F-waves":
            res = (f"F min {_f(r.get('f_min_latency_ms'), '.1f')} ms, mean {_f(r.get('f_mean_latency_ms'), '.1f')} ms, "
                   f"persistence {_f(r.get('f_persistence_pct'), '.0f')} %, chronodispersion "
                   f"{_f(r.get('f_chronodispersion_ms'), '.1f')} ms ({r.get('n_sweeps')} sweeps)")
        elif site == "RNS":
            res = (f"decrement {_f(r.get('decrement_pct'), '.1f')} % (area {_f(r.get('area_decrement_pct'), '.1f')} %) "
                   f"at {_f(r.get('rate_hz'), '.1f')} Hz")
        elif site == "nCMAP/mCMAP":
            res = (f"ratio {_f(r.get('dms_ratio'), '.2f')} (nCMAP {_f(r.get('ncmap_mv'), '.2f')} mV, "
                   f"mCMAP {_f(r.get('mcmap_mv'), '.2f')} mV)")
        else:
            res = (f"onset {_f(r.get('onset_latency_ms'), '.2f')} ms, amplitude {_f(r.get('amplitude_mv'), '.2f')} mV, "
                   f"neg duration {_f(r.get('neg_duration_ms'), '.2f')} ms")
        reasons = r.get("reasons") or {}
        notes = _flags(r) if site not in ("F-waves", "RNS", "nCMAP/mCMAP") else "; ".join(
            f"{k}: {v}" for k, v in reasons.items())
        t.add_row(escape(_name(r)) + f" [dim]{escape(r['type'])}[/]", escape(site), escape(res), escape(notes))
    return t


def _needle_table(rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape

    sel = [r for r in rows if str(r["type"]).startswith("needle")]
    if not sel:
        return None
    t = _table("Needle EMG", (("muscle", "left"), ("", "left"), ("site", "left"), ("findings", "left")))
    kinds = {"needle_rest": "rest", "needle_minimal": "minimal effort", "needle_maximal": "maximal effort"}
    for r in sel:
        text = r["error"] if "error" in r else _needle_text(r)
        t.add_row(escape(_name(r)), kinds.get(r["type"], r["type"]), escape(str(r.get("site", ""))), escape(text))
    return t


def _impression(res: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.panel import Panel

    it = res["interpretation"]
    lines = [f"[bold]{escape(it['summary'])}[/]"]
    if res["key_evidence"]:
        lines += ["", "[bold]Key evidence[/]"] + [f"  • {escape(s)}" for s in res["key_evidence"]]
    for title, items in (("Conflicts", it["conflicts"]), ("Caveats", [c["text"] for c in it["caveats"]]),
                         ("Would change or firm up the conclusion", it["missing"]),
                         ("Not used", [f"{d['test']} {d['measure']}: {d['reason']}" for d in it["discarded"]]),
                         ("Screening", [s["statement"] for s in it["screens"]])):
        if items:
            lines += ["", f"[bold]{title}[/]"] + [f"  • {escape(str(x))}" for x in items]
    lines += ["", f"[dim]reference values: {escape(it['reference'])}; criteria: {escape(it['criteria'])}[/]"]
    grade = f" ({it['grade']})" if it["grade"] else ""
    return Panel("\n".join(lines), title=f"Impression: {escape(it['pattern'])}{grade}", title_align="left")
