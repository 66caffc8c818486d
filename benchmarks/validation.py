"""Regenerate the tables of docs/validation.md (and the latency block of docs/embedding.md).

Every table in those documents sits between ``<!-- BEGIN name (...) -->`` and
``<!-- END name -->`` markers and is written by one section of this script. The sections
score with the test suite's own functions and seeds, imported from ``tests/``, so a table
and its test cannot drift apart.

Sections:

* ``ncs-sim``: motor-response markers against simulator ground truth: 3 rates, 6 shapes,
  5 recording conditions, seeds 0-9 (``tests/measure/test_cmap.py``);
* ``ncs-samples``: every motor and sensory response of the bundled sample studies, and
  every conduction velocity, against its ``truth.json``;
* ``spontaneous``: fibrillation/PSW detection recall and precision, and fib-vs-PSW
  classification (``tests/needle/test_spontaneous.py``);
* ``mup-sim``: MUP measures of simulated units (``tests/needle/test_mup.py``);
* ``emgdb``: the three PhysioNet needle records (healthy / myopathy / neuropathy);
* ``interpreter``: sample studies end to end (files -> measures -> pattern) against the
  expected pattern, and the CRIMYNE series;
* ``speed``: the benchmark scripts' output, verbatim, with the machine they ran on;
* ``latency``: ``bench_latency.py`` (into docs/embedding.md).

Run from the repository root, with the test extra installed:

    python benchmarks/validation.py                 # print every section
    python benchmarks/validation.py --write         # and write them into the documents
    python benchmarks/validation.py --write emgdb   # one section
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VALIDATION = ROOT / "docs" / "validation.md"
EMBEDDING = ROOT / "docs" / "embedding.md"
STUDIES = ROOT / "sample_data" / "studies"
EMGDB = ROOT / "sample_data" / "physionet_emgdb"


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# ------------------------------------------------------------------------------ nerve conduction


def ncs_sim() -> str:
    from tests.measure import test_cmap as T

    rows = []
    failing = []
    for fs in (10_000.0, 20_000.0, 48_000.0):
        for shape in T.SHAPES:
            worst = np.zeros(4)
            for cond in T.CONDITIONS:
                e = np.array(T._case(fs, shape, cond)).max(axis=0)
                worst = np.maximum(worst, e)
                lim = np.array([T.ONSET_MS, T.AMP_PCT, T.NEGDUR_MS, T.AREA_PCT])
                if (e > lim).any():
                    failing.append(f"{int(fs / 1000)} kHz {shape} {cond}: onset {e[0]:.3f} ms, amplitude "
                                   f"{e[1]:.2f} %, negative duration {e[2]:.3f} ms, area {e[3]:.2f} %")
            rows.append([f"{int(fs / 1000)} kHz", shape.replace("_", " "), f"{worst[0]:.3f}", f"{worst[1]:.2f}",
                         f"{worst[2]:.3f}", f"{worst[3]:.2f}"])
    text = _table(["rate", "simulated CMAP", "onset, worst (ms)", "amplitude, worst (%)",
                   "negative duration, worst (ms)", "negative area, worst (%)"], rows)
    text += (f"\n\nWorst absolute error over 5 recording conditions × 10 seeds per row. Tolerances (issue 4): onset "
             f"{T.ONSET_MS} ms, amplitude {T.AMP_PCT} %, negative duration {T.NEGDUR_MS} ms, area {T.AREA_PCT} %.")
    text += ("\n\nOutside a tolerance: " + ("; ".join(failing) + "." if failing else "none."))
    return text


def _site_measures(study, test_id: str, site: str, kind: str):
    import edx

    r = edx.load_site(study, test_id, site)
    return edx.measure_cmap(r) if kind == "motor" else edx.measure_snap(r)


def ncs_samples() -> str:
    import edx
    from tests.measure.test_cmap import sample_motor_errors

    motor_err = {"onset": [], "amp": [], "negdur": [], "area": [], "cv": []}
    sens_err = {"onset": [], "peak": [], "amp": [], "cv": []}
    snap_amp_outside = 0  # beyond 3 % and beyond two noise SDs of the average (the tests' tolerance)
    n_absent_ok = n_absent = 0
    worst_where: dict[str, tuple[float, str]] = {}

    def note(key: str, err: float, where: str) -> None:
        if key not in worst_where or abs(err) > abs(worst_where[key][0]):
            worst_where[key] = (err, where)

    for folder in sorted(p.parent for p in STUDIES.glob("*/study.toml")):
        study = edx.read_manifest(folder / "study.toml")
        truth = json.loads((folder / "truth.json").read_text())["tests"]
        for test in study.tests:
            kind = test.type.value
            if kind not in ("motor", "sensory"):
                continue
            tt = truth[test.id]
            for site in test.sites:
                st = tt["sites"][site.name]
                if kind == "motor" and st["present"]:
                    continue  # scored below
                m = _site_measures(study, test.id, site.name, kind)
                where = f"{folder.name} {test.id} {site.name}"
                if not st["present"]:
                    n_absent += 1
                    n_absent_ok += m.status == "absent"
                    continue
                if site.name in tt.get("clipped_sites", []) or m.status != "ok" or not m.present:
                    continue
                if kind == "sensory":
                    if st["amplitude_uv"] < 3.0 * m.noise_uv:
                        continue  # below three noise SDs of the average (as the tests)
                    tol_uv = max(0.03 * st["amplitude_uv"], 2.0 * m.noise_uv)
                    snap_amp_outside += abs(m.amplitude_uv - st["amplitude_uv"]) > tol_uv
                    for key, got, want, rel in (("onset", m.onset_latency_ms, st["onset_latency_ms"], False),
                                                ("peak", m.neg_peak_latency_ms, st["neg_peak_latency_ms"], False),
                                                ("amp", m.amplitude_uv, st["amplitude_uv"], True)):
                        e = 100 * (got / want - 1) if rel else got - want
                        sens_err[key].append(e)
                        note("s" + key, e, where)
                    cv = edx.sensory_velocity(m, site.distance_mm).cv_m_s
                    if cv is not None:
                        e = 100 * (cv / (site.distance_mm / st["onset_latency_ms"]) - 1)
                        sens_err["cv"].append(e)
                        note("scv", e, where)

    # motor responses and velocities: scored by the sample-study test's own function
    for where, key, err in sample_motor_errors():
        if key != "status":
            motor_err[key].append(err)
            note("m" + key, err, where)

    def row(label: str, errs: list[float], unit: str, key: str, tol: str) -> list[str]:
        a = np.abs(errs)
        w = worst_where.get(key)
        return [label, str(len(errs)), f"{np.median(a):.3f}", f"{a.max():.3f}", unit, tol,
                str(int((a > float(tol.split()[0])).sum())) if tol[0].isdigit() else "—",
                f"{w[1]} ({w[0]:+.3f})" if w else "—"]

    rows = [
        row("CMAP onset latency", motor_err["onset"], "ms", "monset", "0.2 ms"),
        row("CMAP amplitude", motor_err["amp"], "%", "mamp", "3 %"),
        row("CMAP negative-peak duration", motor_err["negdur"], "ms", "mnegdur", "0.3 ms"),
        row("CMAP negative area", motor_err["area"], "%", "marea", "5 %"),
        row("motor conduction velocity", motor_err["cv"], "%", "mcv", "2 %"),
        row("SNAP onset latency", sens_err["onset"], "ms", "sonset", "0.2 ms"),
        row("SNAP negative-peak latency", sens_err["peak"], "ms", "speak", "0.1 ms"),
        row("SNAP amplitude", sens_err["amp"], "%", "samp", "3 % or 2 noise SD"),
        row("sensory conduction velocity (distance / onset)", sens_err["cv"], "%", "scv", "—"),
    ]
    rows[-2][6] = str(snap_amp_outside)
    text = _table(["measure", "n", "median abs. error", "worst abs. error", "unit", "tolerance", "outside",
                   "worst case (signed)"], rows)
    text += (f"\n\nAbsent responses (truth: no response): {n_absent_ok} of {n_absent} reported absent. Clipped sites "
             "and SNAPs below three noise SDs of their average are left out, as in the tests. SNAP amplitude "
             "tolerance: 3 % or two noise SDs of the averaged trace, whichever is larger (small SNAPs: the relative error "
             "of a 5 µV SNAP with 1 µV of averaged noise is large by nature). The sensory velocity has no tolerance of its "
             "own in issue 4: at a 2-3 ms onset latency the onset's 0.2 ms is 7-10 % of it, and the velocity reads low "
             "as the onset reads late (the truth's onset is the first departure of the fastest fibre).")
    return text


# ------------------------------------------------------------------------------ needle EMG


def spontaneous() -> str:
    from tests.needle import test_spontaneous as T

    rows = []
    runs = [(fs, "20-200 µV", T._sum([T._score(r, t) for t, r in T._rest_runs(fs)])) for fs in T.RATES]
    runs += [(fs, "all at 50 µV", T.explicit_50uv_scores(fs)) for fs in T.RATES]
    for fs, amplitudes, s in runs:
        cells = [f"{int(fs / 1000)} kHz", amplitudes]
        for k in T.SPIKE_KINDS:
            q = s[k]
            cells += [f"{q['found'] / q['n']:.3f} ({q['found']}/{q['n']})", f"{q['tp'] / (q['tp'] + q['fp']):.3f}"]
        right = s["kind_right"] / max(s["kind_right"] + s["kind_wrong"], 1)
        cells.append(f"{right:.3f}")
        rows.append(cells)
    head = ["rate", "potentials"]
    for k in T.SPIKE_KINDS:
        head += [f"{k.replace('_', ' ')} recall", f"{k.replace('_', ' ')} precision"]
    head.append("fib vs PSW correct")
    return _table(head, rows) + ("\n\nPotentials of at least 50 µV scored, noise 10 µV RMS per sample, a discharge "
                                 "found when an event lies within 1 ms; targets: recall and precision ≥ 0.95, kinds ≥ 0.9. "
                                 "20-200 µV: three fibrillation and two PSW trains of random amplitude (seeds 200-203); "
                                 "all at 50 µV: the issue's floor for every potential (seeds 300-302); the rates "
                                 f"below target ({', '.join(f'{int(f / 1000)} kHz' for f in T._EXPLICIT_50)}) are "
                                 "strict expected failures in the tests.")


def mup_sim() -> str:
    from tests.needle import test_mup as T

    cases = [("normal", 10_000.0, (1, 2, 3, 4)), ("normal", 20_000.0, (1, 2)), ("normal", 48_000.0, (1,)),
             ("neurogenic", 10_000.0, (1, 2, 3, 4)), ("neurogenic", 20_000.0, (1, 2)), ("neurogenic", 48_000.0, (1,)),
             ("myopathic", 10_000.0, range(1, 7)), ("myopathic", 20_000.0, range(1, 7)),
             ("myopathic", 48_000.0, range(1, 7))]
    rows = []
    for kind, fs, seeds in cases:
        errs, n_ident, n_truth = T.check_rows(T.run_accuracy(kind, fs, seeds))
        d = np.array([abs(e["d_ms"]) for e in errs])
        a = np.array([abs(e["amp"]) * 100 for e in errs])
        ph = np.array([e["dph"] != 0 for e in errs])
        rows.append([kind, f"{int(fs / 1000)} kHz", str(len(list(seeds))), f"{n_ident}/{n_truth}",
                     f"{np.median(d):.2f}", f"{d.max():.2f}", str(int((d > T.DUR_TOL_MS).sum())),
                     f"{np.median(a):.1f}", f"{a.max():.1f}", str(int((a > 100 * T.AMP_TOL).sum())),
                     str(int(ph.sum()))])
    return _table(["simulated muscle", "rate", "seeds", "units identified / true", "duration median err (ms)",
                   "duration worst (ms)", f"duration > {T.DUR_TOL_MS} ms", "amplitude median err (%)",
                   "amplitude worst (%)", f"amplitude > {100 * T.AMP_TOL:g} %", "phases wrong"], rows) + (
        "\n\nMinimal effort, 10 s per seed, 5 µV noise; every identified unit counted. The myopathic rows are the "
        "strict expected failure `test_myopathic_mup_measures_against_truth` (six small, overlapping units).")


def emgdb() -> str:
    import edx
    from edx.needle.mup import analyze_mups
    from edx.needle.spontaneous import detect_spontaneous

    rows = []
    notes: list[str] = []
    for name in ("emg_healthy", "emg_myopathy", "emg_neuropathy"):
        rec = edx.load(EMGDB / f"{name}.hea")
        tr = rec.traces[0]
        age = re.search(r"<age>:\s*(\d+)", str(rec.metadata.get("comments", "")))
        # the header: tibialis anterior, the subject's age; compared with the TA reference values
        res = analyze_mups(tr.samples_v, tr.fs_hz, muscle="tibialis anterior",
                           age_years=float(age.group(1)) if age else None)
        sp = detect_spontaneous(tr)
        s, rc = res.summary, res.recruitment
        rows.append([name.removeprefix("emg_"), f"{tr.duration_s:.1f}", str(s.n_mups), _fmt(s.mean_duration_ms),
                     _fmt(float(np.median([u.duration_ms for u in res.units if u.accepted]))
                          if any(u.accepted for u in res.units) else None),
                     _fmt(s.mean_amplitude_uv, ".0f"), _fmt(s.polyphasic_pct, ".0f"),
                     str(getattr(res.comparison.classification, "value", res.comparison.classification)
                         or "not classified"),
                     str(rc.pattern), f"{len(sp.trains)} ({sp.status})"])
        if res.comparison.classification is None:
            notes.append(f"{name.removeprefix('emg_')}: " + "; ".join(res.comparison.findings + res.comparison.reasons))
    return _table(["record", "length (s)", "MUPs", "mean duration (ms)", "median duration (ms)",
                   "mean amplitude (µV)", "polyphasic (%)", "vs reference", "recruitment",
                   "fibrillation/PSW trains"], rows) + (
        "\n\nPhysioNet EMG examples (tibialis anterior, 4 kHz, 25 mm concentric needle; Goldberger et al. 2000, ODC-By "
        "licence, `sample_data/physionet_emgdb/`), compared with the tibialis-anterior reference at the age in each "
        "header. Issue 5 asks: myopathy shorter and more polyphasic than healthy, neuropathy longer and larger, no "
        "trains in the healthy record.\n\nNot classified against the reference:\n\n" + "\n".join(f"- {n}" for n in notes))


# ------------------------------------------------------------------------------ interpreter


def interpreter() -> str:
    import edx

    rows = []
    for folder in sorted(p.parent for p in STUDIES.glob("*/study.toml")):
        exp = json.loads((folder / "truth.json").read_text())["expected"]
        a = edx.analyze_study(folder)
        it = a.interpretation
        got = it.pattern.value
        grade = None if it.grade is None else it.grade.value
        ok = got == exp["pattern"]
        rows.append([folder.name, exp["pattern"], str(exp.get("grade_at_most") or "—"), got, str(grade or "—"),
                     "yes" if ok else "**no**", str(len(it.evidence)), str(len(it.caveats))])
    text = _table(["sample study", "expected pattern", "grade at most", "edx pattern", "edx grade", "agrees",
                   "evidence items", "caveats"], rows)
    c = edx.crimyne(STUDIES / "crimyne")
    truth = json.loads((STUDIES / "crimyne" / "truth.json").read_text())["expected"]
    n_days = max(len(sd.days) for sd in c.sides.values())
    text += (f"\n\nCRIMYNE series ({n_days} daily studies, both peroneal nerves): alert "
             f"{'on ICU day ' + str(c.alert_icu_day) if c.alert else 'not raised'}; expected ICU day "
             f"{truth['alert_icu_day']}.")
    return text


# ------------------------------------------------------------------------------ speed


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return (f"{dt.date.today().isoformat()}, commit {rev or '?'}, {cpu}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load average {load:.2f} at the start")


def _run(script: str, *args: str) -> str:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=3600)
    body = out.stdout.strip() + (f"\n[exit {out.returncode}] {out.stderr.strip()[-500:]}" if out.returncode else "")
    return f"$ python benchmarks/{script} {' '.join(args)}".rstrip() + f"   # {time.perf_counter() - t:.0f} s\n{body}"


def speed() -> str:
    parts = [_run("bench_ncs.py"), _run("bench_spontaneous.py"), _run("bench_mup.py")]
    return f"Run {_machine()}.\n\n```text\n" + "\n\n".join(parts) + "\n```"


def latency() -> str:
    return f"Run {_machine()}.\n\n```text\n" + _run("bench_latency.py") + "\n```"


SECTIONS: dict[str, tuple[Callable[[], str], Path]] = {
    "ncs-sim": (ncs_sim, VALIDATION),
    "ncs-samples": (ncs_samples, VALIDATION),
    "spontaneous": (spontaneous, VALIDATION),
    "mup-sim": (mup_sim, VALIDATION),
    "emgdb": (emgdb, VALIDATION),
    "interpreter": (interpreter, VALIDATION),
    "speed": (speed, VALIDATION),
    "latency": (latency, EMBEDDING),
}


def write_block(path: Path, name: str, body: str) -> None:
    """Replace the text between ``<!-- BEGIN name ... -->`` and ``<!-- END name -->`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    pat = re.compile(rf"(<!-- BEGIN {re.escape(name)}\b[^>]*-->\n)(.*?)(\n<!-- END {re.escape(name)} -->)", re.S)
    if not pat.search(text):
        raise SystemExit(f"{path}: no block named {name!r}")
    new = pat.sub(lambda m: m.group(1) + body.strip() + m.group(3), text, count=1)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sections", nargs="*", choices=[[], *SECTIONS], metavar="SECTION",
                    help=f"any of {', '.join(SECTIONS)} (default: all but speed and latency, which take minutes)")
    ap.add_argument("--write", action="store_true", help="write the tables into the documents")
    args = ap.parse_args(argv)
    names = args.sections or [n for n in SECTIONS if n not in ("speed", "latency")]
    for name in names:
        fn, path = SECTIONS[name]
        t = time.perf_counter()
        body = fn()
        print(f"## {name}  ({time.perf_counter() - t:.0f} s)\n\n{body}\n", flush=True)
        if args.write:
            write_block(path, name, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
