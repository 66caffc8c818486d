"""Child-process side of the concurrency test (importable by spawned processes)."""

from __future__ import annotations

import pickle
import traceback
from typing import Any


def add_studies(store_path: str, payload: bytes, barrier: Any, results: Any, name: str) -> None:
    """Wait for the other writer, then add every pickled analysis twice (the second pass must
    change nothing); report the row ids, or the traceback, on ``results``."""
    try:
        analyses = pickle.loads(payload)
        from edx.store import ResultsStore

        barrier.wait(timeout=120)
        with ResultsStore(store_path) as store:  # both processes may create the new store
            first = [store.add(a) for a in analyses]
            second = [store.add(a) for a in analyses]
        results.put((name, first, second, None))
    except BaseException:  # report everything to the parent
        results.put((name, None, None, traceback.format_exc()))
