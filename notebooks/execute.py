"""Re-execute the notebooks in this folder in place, so that their saved outputs (tables,
figures, printed conclusions) are those of the current edx.

    python notebooks/execute.py                              # every notebook
    python notebooks/execute.py 03_serial_monitoring.ipynb   # some of them

Run it after a change to the algorithms or the sample data, look at the diff of the
outputs, and commit the notebooks with it.  Each notebook runs top to bottom with the
``python3`` kernel, from this folder (their paths are relative: ``../sample_data``); a
cell that raises, or an ``assert`` that fails, stops that notebook and leaves its file
untouched.  Cells get no timing metadata, so an unchanged result gives an unchanged
file apart from the PNG bytes of the figures.  The test suite executes the same
notebooks without saving them (``tests/test_notebooks.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent


def execute(path: Path, *, timeout_s: int = 600, kernel: str = "python3") -> float:
    """Execute one notebook in place; returns the seconds it took (kernel start included).

    Raises ``nbclient.exceptions.CellExecutionError`` when a cell fails (the file is then
    not written).
    """
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout_s, kernel_name=kernel, record_timing=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: every *.ipynb in this folder)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    paths = [p if p.is_absolute() or p.exists() else HERE / p for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    failed = 0
    for path in paths:
        try:
            elapsed = execute(path, timeout_s=args.timeout)
        except nbclient.exceptions.CellExecutionError as exc:
            failed += 1
            print(f"{path.name}: FAILED\n{exc}", file=sys.stderr)
            continue
        print(f"{path.name}: {elapsed:.1f} s, {path.stat().st_size / 1e3:.0f} kB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
