"""``edx analyze``: measure and interpret a study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import edx
from edx.measure.study import measure_study

from .measure_cmd import render_measure


def analyze_path(path: Path, *, reference: Path | None = None, criteria: Path | None = None) -> dict[str, Any]:
    """Measure and interpret one study manifest."""
    if path.is_dir():
        path = path / "study.toml"
    study = edx.read_manifest(path)
    sm = measure_study(study)
    it = edx.interpret(sm, reference=reference, criteria=criteria)
    return {"path": str(path), "kind": "study", "patient": study.patient.id, "date": study.date.isoformat(),
            "icu_day": study.context.icu_day, "rows": sm.rows(), "interpretation": it.to_dict(),
            "key_evidence": [e.statement for e in it.key_evidence()]}


def render_analyze(results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel

    render_measure(results)
    out = Console()
    for res in results:
        if "error" in res:
            continue
        it = res["interpretation"]
        lines = [f"[bold]{escape(it['summary'])}[/]"]
        if res["key_evidence"]:
            lines.append("")
            lines.append("[bold]Key evidence[/]")
            lines += [f"  • {escape(s)}" for s in res["key_evidence"]]
        for title, items in (("Conflicts", it["conflicts"]), ("Caveats", [c["text"] for c in it["caveats"]]),
                             ("Would change or firm up the conclusion", it["missing"]),
                             ("Not used", [f"{d['test']} {d['measure']}: {d['reason']}" for d in it["discarded"]]),
                             ("Screening", [s["statement"] for s in it["screens"]])):
            if items:
                lines += ["", f"[bold]{title}[/]"] + [f"  • {escape(str(x))}" for x in items]
        lines += ["", f"[dim]reference values: {escape(it['reference'])}; criteria: {escape(it['criteria'])}[/]"]
        grade = f" ({it['grade']})" if it["grade"] else ""
        out.print(Panel("\n".join(lines), title=f"Impression: {escape(it['pattern'])}{grade}", title_align="left"))
