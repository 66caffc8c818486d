"""Fill numba's disk cache with every kernel edx uses, ahead of the first patient.

A kernel compiles the first time it is called with a given signature and is then kept
in numba's cache (see ``docs/embedding.md`` for where).  An acquisition device, a
container image or a shared lab installation calls :func:`warm_up` (or ``edx warmup``)
once at installation, as the user that will run edx, so that no recording waits for a
compiler.  It runs the whole clinical pipeline -- the one a recording goes through --
on two simulated studies written to EDF files (a CIM study with motor, sensory,
F-wave, direct-muscle-stimulation and needle tests, and a neuromuscular-junction study
with repetitive stimulation), then the batch and streaming entry points.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["KernelCacheStatus", "WarmupReport", "kernel_cache_status", "warm_up"]

log = logging.getLogger(__name__)

_KERNEL_MODULES = ("edx.kernels.stats", "edx.kernels.response", "edx.kernels.spontaneous", "edx.kernels.mup")


@dataclass(frozen=True)
class KernelCacheStatus:
    """Where and how each kernel came to be ready in this process.

    Attributes
    ----------
    n_kernels : int
        numba dispatchers defined in ``edx.kernels``.
    n_ready : int
        Kernels called from Python in this process, with at least one signature ready (the
        helpers they call are linked into their machine code and are not counted).
    n_loaded : int
        Signatures loaded from the disk cache.
    n_compiled : int
        Signatures compiled in this process (cache misses).
    uncached : tuple of str
        Kernels whose cache has no writable location (they compile in every process).
    cache_dirs : tuple of str
        The folders numba keeps the kernels' cache in.
    """

    n_kernels: int
    n_ready: int
    n_loaded: int
    n_compiled: int
    uncached: tuple[str, ...]
    cache_dirs: tuple[str, ...]


@dataclass(frozen=True)
class WarmupReport:
    """What :func:`warm_up` did.

    Attributes
    ----------
    seconds : dict of str to float
        Wall time of each stage (``"simulate"``, ``"cim study"``, ``"nmj study"``,
        ``"batch"``, ``"streaming"``).
    kernels : KernelCacheStatus
        The kernels' state afterwards.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    kernels: KernelCacheStatus | None = None

    @property
    def total_s(self) -> float:
        """Total wall time (s)."""
        return float(sum(self.seconds.values()))


def _dispatchers() -> list[tuple[str, object]]:
    from numba.core.registry import CPUDispatcher

    out = []
    for name in _KERNEL_MODULES:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and getattr(obj, "__module__", None) == name:
                out.append((f"{name.rsplit('.', 1)[-1]}.{attr}", obj))
    return out


def kernel_cache_status() -> KernelCacheStatus:
    """The state of edx's numba kernels in this process (imports the kernel modules).

    Returns
    -------
    KernelCacheStatus
    """
    from numba.core.caching import NullCache

    n_ready = n_loaded = n_compiled = 0
    uncached: list[str] = []
    dirs: set[str] = set()
    disps = _dispatchers()
    for label, d in disps:
        cache = getattr(d, "_cache", None)
        if cache is None or isinstance(cache, NullCache):  # compiled without the disk cache (see edx.kernels._jit)
            uncached.append(label)
        else:
            path = getattr(cache, "_cache_path", None)
            if path:
                dirs.add(str(path))
        stats = d.stats  # type: ignore[attr-defined]
        n_loaded += sum(stats.cache_hits.values())
        n_compiled += sum(stats.cache_misses.values())
        if d.signatures:  # type: ignore[attr-defined]
            n_ready += 1
    return KernelCacheStatus(len(disps), n_ready, n_loaded, n_compiled, tuple(uncached), tuple(sorted(dirs)))


def warm_up(workdir: str | Path | None = None) -> WarmupReport:
    """Compile (or load from numba's cache) every kernel of the clinical pipeline.

    Parameters
    ----------
    workdir : path, optional
        Where to write the two simulated studies (a temporary folder, removed afterwards,
        by default).

    Returns
    -------
    WarmupReport
        Time per stage and the kernels' cache state.  ``report.kernels.n_compiled == 0``
        means everything came from the cache (a second warm-up, or a warm installation).
    """
    from .measure.ncs import measure_cmap_batch
    from .needle.spontaneous import SpontaneousDetector, detect_spontaneous
    from .report.results import analyze_study
    from .sim.needle import simulate_rest
    from .sim.studies import STUDIES, generate_study

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edx-warmup-", dir=workdir) as tmp:
        t = time.perf_counter()
        folders = {n: generate_study(next(d for d in STUDIES if d.name == n), Path(tmp)) for n in ("cim", "nmj_blockade")}
        seconds["simulate"] = time.perf_counter() - t
        for name, label in (("cim", "cim study"), ("nmj_blockade", "nmj study")):
            t = time.perf_counter()
            analyze_study(folders[name])
            seconds[label] = time.perf_counter() - t
            log.info("warm-up: %s analysed in %.1f s", name, seconds[label])

    t = time.perf_counter()
    rng = np.random.default_rng(0)
    sweeps = rng.normal(0.0, 1e-5, (4, 500))
    sweeps[:, 150:200] -= 1e-3
    measure_cmap_batch(sweeps, 10_000.0, 50, parallel=True)
    measure_cmap_batch(sweeps, 10_000.0, 50, parallel=False)
    seconds["batch"] = time.perf_counter() - t

    t = time.perf_counter()
    x, _ = simulate_rest(2.0, 20_000.0, fibrillation_trains=1, seed=0)
    samples = np.ascontiguousarray(x, dtype=np.float64)
    detect_spontaneous(samples, 20_000.0)
    det = SpontaneousDetector(20_000.0)
    for k in range(0, samples.size, 1000):
        det.push(samples[k:k + 1000])
    det.result()
    seconds["streaming"] = time.perf_counter() - t

    status = kernel_cache_status()
    if status.uncached:
        log.warning("warm-up: %d kernels have no writable cache location and will compile in every process",
                    len(status.uncached))
    log.info("warm-up done in %.1f s: %d of %d kernels ready (%d signatures loaded from the cache, %d compiled)",
             sum(seconds.values()), status.n_ready, status.n_kernels, status.n_loaded, status.n_compiled)
    return WarmupReport(seconds, status)
