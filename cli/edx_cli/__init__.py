"""The ``edx`` command line (typer + rich)."""
