"""The kernels' ``njit``: numba's, with a safe fallback when its disk cache has no home.

Every kernel is ``@njit(cache=True, nogil=True)``.  numba keeps compiled kernels in a
folder it must be able to *write* (``NUMBA_CACHE_DIR`` if set, else the package's
``__pycache__``, else the user's cache folder) and refuses, at import time, a function
whose cache has nowhere writable to go (``RuntimeError: cannot cache function``): the
situation of a read-only installation run by a service account without a writable
home, common in acquisition devices.  There, this decorator compiles the kernel
without the disk cache instead (each process then compiles the kernels it uses once,
on first call: tens of seconds) and logs a warning naming the remedy; see
``docs/embedding.md``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("edx.kernels")


@functools.cache
def _warn_uncached(source: str) -> None:
    """Log (once per source file) that its kernels compile without the disk cache."""
    log.warning(
        "numba cannot write a cache for %s (no writable NUMBA_CACHE_DIR, package __pycache__ or user cache "
        "folder): its kernels compile in every process on first use. Set NUMBA_CACHE_DIR to a folder this "
        "user can write and run `edx warmup` once (docs/embedding.md).", source)


def _no_cache_location(exc: RuntimeError) -> bool:
    return "cannot cache function" in str(exc)


def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit`` with ``cache=True`` falling back to ``cache=False`` when numba has no
    writable cache location for the function's source file (logged once per file).

    Used exactly like ``numba.njit``: ``@njit(cache=True, nogil=True)``.
    """
    if args and callable(args[0]) and len(args) == 1 and not options:
        return njit()(args[0])

    def decorate(func: F) -> F:
        try:
            return numba.njit(*args, **options)(func)  # type: ignore[no-any-return]
        except RuntimeError as exc:
            if not options.get("cache") or not _no_cache_location(exc):
                raise
            _warn_uncached(func.__code__.co_filename)
            return numba.njit(*args, **{**options, "cache": False})(func)  # type: ignore[no-any-return]

    return decorate
