"""Regenerate the sample studies: ``python -m edx.sim [OUT]`` (default ``sample_data/studies``)."""

from __future__ import annotations

import sys
from pathlib import Path

from .studies import generate_all


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("sample_data") / "studies"
    for folder in generate_all(out):
        sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
