"""``edx warmup``: compile every kernel into numba's cache, once, at installation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from .common import EXIT_OK, EXIT_OUTPUT_ERROR, emit_json


def register(app: typer.Typer) -> None:
    """Add the ``warmup`` command to ``app``."""

    @app.command()
    def warmup(
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    ) -> None:
        """Compile every measurement kernel into numba's disk cache (or load it from there) by
        running the whole pipeline on two simulated studies, and say where the cache is.

        Run it once after installing, as the user that will run edx, with the same
        NUMBA_CACHE_DIR (docs/embedding.md). Exit code 3 when some kernels have no writable
        cache location (they would compile in every process).
        """
        from edx.warmup import warm_up

        rep = warm_up()
        k = rep.kernels
        assert k is not None
        code = EXIT_OUTPUT_ERROR if k.uncached else EXIT_OK
        if as_json:
            emit_json({"seconds": {s: round(v, 3) for s, v in rep.seconds.items()}, "total_s": round(rep.total_s, 3),
                       "kernels": asdict(k)})
        else:
            typer.echo(f"edx warm-up: {rep.total_s:.1f} s ("
                       + ", ".join(f"{s} {v:.1f} s" for s, v in rep.seconds.items()) + ")")
            typer.echo(f"kernels: {k.n_ready} entry kernels ready; {k.n_loaded} signatures loaded from the cache, "
                       f"{k.n_compiled} compiled now")
            for d in k.cache_dirs:
                typer.echo(f"cache: {d}")
            if k.uncached:
                typer.echo(f"{len(k.uncached)} kernels have no writable cache location and compile in every "
                           "process: set NUMBA_CACHE_DIR to a folder this user can write", err=True)
        raise typer.Exit(code)
