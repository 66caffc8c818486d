"""A batch work function whose process dies on one study (for the BrokenProcessPool test).

Lives in its own module so that the pool's worker processes can import it."""

from __future__ import annotations

import os

from edx.batch import BatchItem, _Task


def crash_on_marked(task: _Task) -> BatchItem:
    """Kill the worker process for a task whose input path contains ``crash``; otherwise succeed
    without doing any work."""
    if "crash" in task.rel:
        os._exit(3)
    return BatchItem(input=task.rel, kind=task.kind, status="ok", output=task.out_rel, seconds=0.0)
