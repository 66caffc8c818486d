"""What acquisition software relies on when it embeds edx (docs/embedding.md).

* Thread safety: several threads measuring at once (the kernels release the GIL, edx keeps
  no global state) give exactly the results of one thread.
* The library prints nothing; it logs under the ``edx`` logger only.
* A read-only installation whose user can write no numba cache still measures (kernels
  compiled per process, a warning logged), and ``edx warmup`` fills the cache.
* The embedding example runs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import edx
from edx.sim.ncs import MotorSpec, Realism, SensorySpec, simulate_motor, simulate_sensory
from edx.sim.needle import simulate_effort, simulate_rest

ROOT = Path(__file__).resolve().parents[1]


def _motor(n: int) -> list[tuple[np.ndarray, int]]:
    out = []
    for k in range(n):
        (r,), _ = simulate_motor(MotorSpec(3.0 + 0.02 * k, 0.3 + 0.1 * k), [("s", 70)], 20_000.0,
                                 realism=Realism(noise_uv_rms=10, artifact_mv=3.0 * (k % 2)), seed=k)
        out.append((np.ascontiguousarray(r.samples_v[0]), int(r.stim_index)))
    return out


def _sensory(n: int) -> list[tuple[np.ndarray, int]]:
    out = []
    for k in range(n):
        r = simulate_sensory(SensorySpec(130, 5.0 + k, cv_m_s=50.0), 20_000.0, realism=Realism(noise_uv_rms=3.0),
                             n_sweeps=8, seed=100 + k)
        out.append((np.ascontiguousarray(r.samples_v), int(r.stim_index)))
    return out


def _run_in_threads(jobs: list, n_threads: int = 4, rounds: int = 3) -> list[list]:
    """Run every job in ``rounds`` shuffled orders on ``n_threads`` threads started together."""
    rng = np.random.default_rng(0)
    outs = []
    for _ in range(rounds):
        order = rng.permutation(len(jobs))
        barrier = threading.Barrier(n_threads)

        def run(i: int, _b: threading.Barrier = barrier) -> object:
            if i < n_threads:
                _b.wait()  # the first n_threads jobs start at the same moment
            return jobs[i]()

        with ThreadPoolExecutor(n_threads) as pool:
            got = dict(zip(order.tolist(), pool.map(run, order.tolist())))
        outs.append([got[i] for i in range(len(jobs))])
    return outs


def test_ncs_measurements_from_several_threads_equal_one_thread():
    motor, sensory = _motor(24), _sensory(12)
    jobs = ([lambda x=x, s=s: edx.measure_cmap(x, 20_000.0, s) for x, s in motor]
            + [lambda x=x, s=s: edx.measure_snap(x, 20_000.0, s) for x, s in sensory])
    serial = [j() for j in jobs]
    assert sum(r.present for r in serial) >= 30  # real responses, not a run of failures
    for got in _run_in_threads(jobs):
        assert got == serial


def test_needle_analyses_from_several_threads_equal_one_thread():
    rest = [np.ascontiguousarray(simulate_rest(4.0, 20_000.0, fibrillation_trains=2, psw_trains=1, seed=s)[0])
            for s in (1, 2)]
    effort = [np.ascontiguousarray(simulate_effort(4.0, 10_000.0, kind=k, level="minimal", seed=3)[0])
              for k in ("normal", "myopathic")]

    def streamed(x: np.ndarray) -> object:
        det = edx.SpontaneousDetector(20_000.0)
        for a in range(0, x.size, 777):
            det.push(x[a:a + 777])
        return det.result()

    jobs = ([lambda x=x: edx.detect_spontaneous(x, 20_000.0) for x in rest]
            + [lambda x=x: streamed(x) for x in rest]
            + [lambda x=x: edx.analyze_mups(x, 10_000.0) for x in effort]
            + [lambda x=x: edx.interference_pattern(x, 10_000.0) for x in effort])
    serial = [j() for j in jobs]
    assert serial[0].counts["fibrillation"] > 0 and len(serial[4].units) > 0
    assert serial[2] == serial[0]  # streamed == batch, as in every thread
    for got in _run_in_threads(jobs, n_threads=3, rounds=2):
        for a, b in zip(got, serial):
            assert repr(a) == repr(b)  # MUP results hold NaN (not equal to itself): compare their text


def test_the_library_prints_nothing_and_logs_under_edx(capfd, caplog):
    (x, s), = _motor(1)
    bad = np.full(1000, 0.0)  # flat: a quality failure, said in the result, logged, not printed
    with caplog.at_level(logging.DEBUG):
        edx.measure_cmap(x, 20_000.0, s)
        edx.measure_cmap(bad, 20_000.0, 100)
        edx.detect_spontaneous(simulate_rest(2.0, 20_000.0, seed=5)[0], 20_000.0)
        edx.analyze_study(ROOT / "sample_data" / "studies" / "nmj_blockade")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert {r.name.split(".")[0] for r in caplog.records} <= {"edx", "numba"}


def _numba_supports_locator_override() -> bool:
    import numba

    return hasattr(numba.config, "CACHE_LOCATOR_CLASSES")


@pytest.mark.skipif(not _numba_supports_locator_override(), reason="numba without NUMBA_CACHE_LOCATOR_CLASSES")
def test_without_a_writable_cache_the_kernels_compile_and_say_so():
    """NUMBA_CACHE_LOCATOR_CLASSES=ZipCacheLocator leaves an installed module no cache location:
    the situation of a read-only install run by a user without a writable home (numba
    raises 'cannot cache function' at import).  edx compiles without the cache and logs it."""
    code = textwrap.dedent("""
        import json, logging, numpy as np
        logging.basicConfig(level=logging.WARNING, format="%(name)s|%(message)s")
        from edx.kernels.stats import median_inplace
        from edx.warmup import kernel_cache_status
        a = np.array([3.0, 1.0, 2.0])
        st = kernel_cache_status()
        print(json.dumps({"median": median_inplace(a), "uncached": len(st.uncached), "n": st.n_kernels}))
    """)
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "ZipCacheLocator"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["median"] == 2.0
    assert got["uncached"] == got["n"] > 50
    warnings = [ln for ln in out.stderr.splitlines() if ln.startswith("edx.kernels|numba cannot write a cache")]
    assert len(warnings) == 4  # once per kernel module, not once per kernel
    assert "NUMBA_CACHE_DIR" in warnings[0]


def test_warm_up_runs_the_pipeline_and_reports_the_cache():
    from edx.warmup import warm_up

    rep = warm_up()
    k = rep.kernels
    assert set(rep.seconds) == {"simulate", "cim study", "nmj study", "batch", "streaming"}
    assert k.uncached == () and k.cache_dirs
    assert k.n_ready >= 20 and k.n_loaded + k.n_compiled >= k.n_ready


def test_edx_warmup_command_json():
    out = subprocess.run([sys.executable, "-m", "edx_cli.main", "warmup", "--json"], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kernels"]["uncached"] == [] and doc["kernels"]["n_ready"] >= 20


def test_embedding_example_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "acquisition_loop.py"), "--sweeps", "40",
                          "--needle-s", "6"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "40 sweeps, 40 measured ok" in out.stdout
    assert "streamed result equals the batch result: True" in out.stdout
