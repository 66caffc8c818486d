"""Throughput of ``edx batch`` and the cold start of ``edx analyze``.

Builds N studies (default 1 008: 63 replicas of the 16 sample studies, each replica with its
own patient ids; data files hard-linked, so the tree costs almost no disk), then times
``edx batch`` over them as a user runs it (a fresh ``edx`` process, ``--json``):

* ``-j 1`` (in one process) and ``-j 2`` (a process pool),
* ``--scheduler`` on a dask ``LocalCluster`` of 2 single-threaded worker processes on loopback
  (started before the clock runs: the cluster is an existing engine),

and prints studies per minute and the speed-up over one job (after an untimed warm-up batch
that fills numba's cache); the three runs' tables must be equal.  Then it times one ``edx analyze`` of the CIM sample study (needle EMG included) in a
fresh process, first with an empty numba cache (``NUMBA_CACHE_DIR`` pointing at a new folder:
every kernel compiles) and then with that cache warm (best of 3), with and without the
HTML report.

Run: python benchmarks/bench_batch.py [--n 1008] [--html] [--settings 1,2,dask] [--no-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "sample_data" / "studies"
SAMPLES = ["absent_responses", "artifacts", "cim", "cinm", "cip", "cold_limb", "demyelinating", "nmj_blockade",
           "normal"] + [f"crimyne/day0{d}" for d in range(1, 8)]


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system: copy
        shutil.copy2(src, dst)


def _with_patient(text: str, suffix: str) -> str:
    pid = tomllib.loads(text)["patient"]["id"]
    old = f'id = "{pid}"'
    assert old in text, f"patient id line not found: {old}"  # noqa: S101 - benchmark script
    return text.replace(old, f'id = "{pid}-{suffix}"', 1)


def build_tree(dest: Path, n: int) -> int:
    """N studies under ``dest``: replica r holds every sample study with patient ids ``ID-r``."""
    count = 0
    r = 0
    while count < n:
        rep = dest / f"r{r:03d}"
        for name in SAMPLES:
            if count >= n:
                break
            if name.startswith("crimyne/"):
                src_dir, manifest = STUDIES / "crimyne", STUDIES / f"{name}.toml"
                out_dir, out_manifest = rep / "crimyne", rep / f"{name}.toml"
                files = sorted(src_dir.glob(f"{manifest.stem}_*"))
            else:
                src_dir, manifest = STUDIES / name, STUDIES / name / "study.toml"
                out_dir, out_manifest = rep / name, rep / name / "study.toml"
                files = [f for f in sorted(src_dir.iterdir()) if f.name not in ("study.toml", "truth.json")]
            out_dir.mkdir(parents=True, exist_ok=True)
            for f in files:
                if not (out_dir / f.name).exists():
                    _link(f, out_dir / f.name)
            out_manifest.write_text(_with_patient(manifest.read_text(encoding="utf-8"), f"{r:03d}"), encoding="utf-8")
            count += 1
        r += 1
    return count


def _edx() -> list[str]:
    script = Path(sys.executable).with_name("edx")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "edx_cli.main"]


def run_cli_batch(tree: Path, out: Path, extra: list[str], html: bool) -> dict:
    cmd = [*_edx(), "batch", str(tree), "--out", str(out), "--json", *([] if html else ["--no-html"]), *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"edx batch failed ({r.returncode}): {r.stderr[-2000:]}")
    doc = json.loads(r.stdout)
    doc["wall_s"] = wall
    return doc


def bench_batch(n: int, html: bool, settings: list[str], workdir: Path) -> dict:
    import pandas as pd

    tree = workdir / "studies"
    t0 = time.perf_counter()
    built = build_tree(tree, n)
    print(f"built {built} studies in {tree} ({time.perf_counter() - t0:.1f} s; html {'on' if html else 'off'})")
    # untimed warm-up over one replica: numba's cache is filled (the cold start is timed apart)
    warm = run_cli_batch(tree / "r000", workdir / "out-warmup", ["-j", "1"], html)
    shutil.rmtree(workdir / "out-warmup", ignore_errors=True)
    print(f"warm-up: {warm['counts']['ok']} studies in {warm['wall_s']:.1f} s (untimed)", flush=True)
    results: dict[str, dict] = {}
    tables = {}
    for setting in settings:
        out = workdir / f"out-{setting}"
        if setting == "dask":
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                doc = run_cli_batch(tree, out, ["--scheduler", cluster.scheduler_address], html)
        else:
            doc = run_cli_batch(tree, out, ["-j", setting], html)
        ok = doc["counts"]["ok"]
        spm = ok * 60.0 / doc["wall_s"]
        workers = 2 if setting == "dask" else int(setting)
        cpu = sum(it.get("cpu_seconds", 0.0) for it in doc["items"])
        # the workers' CPU time over what they could have had: below 1 when other processes on the
        # machine take cores (load average), when workers start or wait for the disk or the scheduler
        results[setting] = {"studies": ok, "failed": doc["counts"]["failed"], "wall_s": round(doc["wall_s"], 2),
                            "batch_s": doc["seconds"], "studies_per_minute": round(spm, 1),
                            "worker_cpu_s_per_study": round(cpu / max(ok, 1), 4),
                            "worker_cpu_share": round(cpu / (workers * doc["wall_s"]), 3),
                            "load_average_after": round(os.getloadavg()[0], 2)}
        tables[setting] = pd.read_parquet(doc["table"])
        print(f"  {setting:>4}: {ok} studies ({doc['counts']['failed']} failed) in {doc['wall_s']:.1f} s "
              f"= {spm:.0f} studies/min; worker CPU {1000 * cpu / max(ok, 1):.0f} ms per study, "
              f"{100 * cpu / (workers * doc['wall_s']):.0f} % of {workers} core(s) x wall time; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    first = settings[0]
    for s in settings[1:]:
        same = tables[s].equals(tables[first])
        results[s]["table_equal_to_" + first] = same
        if not same:
            print(f"  WARNING: the {s} table differs from the {first} table")
    if "1" in results:
        base = results["1"]["studies_per_minute"]
        for s, r in results.items():
            r["speedup_vs_1"] = round(r["studies_per_minute"] / base, 2)
        print("  speed-up over 1 job: " + ", ".join(f"{s}: {r['speedup_vs_1']:.2f}x" for s, r in results.items()))
    return results


def bench_cold_start(workdir: Path, repeats: int = 3) -> dict:
    """One ``edx analyze`` of the CIM study in a fresh process: empty numba cache, then warm."""
    study = STUDIES / "cim"
    cache = workdir / "numba-cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    help_text = subprocess.run([*_edx(), "analyze", "--help"], capture_output=True, text=True).stdout
    writes = "--out" in help_text
    out: dict[str, float | list[float] | str] = {"study": "sample_data/studies/cim"}

    def once(html: bool) -> float:
        args = [*_edx(), "analyze", str(study), "--json"]
        if writes:
            args += ["--out", str(workdir / "analyze-out")] + ([] if html else ["--no-html"])
        t0 = time.perf_counter()
        r = subprocess.run(args, capture_output=True, text=True, env=env)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"edx analyze failed ({r.returncode}): {r.stderr[-2000:]}")
        return dt

    variants = [False, True] if writes and _have_html() else [False]
    for html in variants:
        label = "with_html" if html else "no_html"
        shutil.rmtree(cache, ignore_errors=True)
        cold = once(html)
        warm = [once(html) for _ in range(repeats)]
        out[f"{label}_cold_s"] = round(cold, 2)
        out[f"{label}_warm_s"] = round(min(warm), 2)
        out[f"{label}_warm_runs_s"] = [round(w, 2) for w in warm]
        print(f"edx analyze cim ({label.replace('_', ' ')}): first run with an empty numba cache {cold:.2f} s; "
              f"warm cache best of {repeats} {min(warm):.2f} s (median {statistics.median(warm):.2f} s; "
              f"target < 2 s)", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    out["bare_python_s"] = round(time.perf_counter() - t0, 3)
    return out


def _have_html() -> bool:
    import importlib.util

    return importlib.util.find_spec("edx.report.html") is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1008, help="number of studies (default 1008)")
    ap.add_argument("--html", action="store_true", help="also write each study's HTML report")
    ap.add_argument("--settings", default="1,2,dask", help="comma-separated: job counts and/or 'dask'")
    ap.add_argument("--no-cold", action="store_true", help="skip the edx analyze cold-start timing")
    ap.add_argument("--workdir", type=Path, default=None, help="where to build the studies (default: a temp dir)")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edx-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"edx batch benchmark on {os.cpu_count()} cores, {sys.version.split()[0]}; work folder {work}; "
          f"load average {os.getloadavg()[0]:.2f} (other processes on the machine slow every figure)")
    figures: dict[str, object] = {"n": args.n, "html": args.html, "cores": os.cpu_count(),
                                  "load_average_before": round(os.getloadavg()[0], 2)}
    try:
        figures["batch"] = bench_batch(args.n, args.html, args.settings.split(","), work)
        if not args.no_cold:
            figures["analyze_cold_start"] = bench_cold_start(work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
