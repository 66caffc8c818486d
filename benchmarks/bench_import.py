"""Time ``import edx`` in fresh interpreters (target < 0.3 s) and list the heaviest imports.

Run: python benchmarks/bench_import.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys


def main(repeats: int = 7) -> None:
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", "import time; t=time.perf_counter(); import edx; print(time.perf_counter()-t)"],
            capture_output=True, text=True, check=True,
        )
        times.append(float(out.stdout))
    base = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", "import time; t=time.perf_counter(); import numpy; print(time.perf_counter()-t)"],
            capture_output=True, text=True, check=True,
        )
        base.append(float(out.stdout))
    med, med_np = statistics.median(times), statistics.median(base)
    print(f"import edx: median {med * 1e3:.0f} ms over {repeats} runs (target < 300 ms); "
          f"numpy alone {med_np * 1e3:.0f} ms, edx's own share {(med - med_np) * 1e3:.0f} ms")
    prof = subprocess.run([sys.executable, "-X", "importtime", "-c", "import edx"], capture_output=True, text=True, check=True)
    rows = []
    for line in prof.stderr.splitlines()[1:]:
        parts = line.split("|")
        if len(parts) == 3:
            rows.append((int(parts[1]), parts[2].rstrip()))
    print("heaviest cumulative imports (us):")
    for us, name in sorted(rows, reverse=True)[:8]:
        print(f"  {us:>8} {name}")


if __name__ == "__main__":
    main()
