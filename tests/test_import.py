"""``import edx`` stays light: no heavy dependency is imported, no kernel compiled."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["scipy", "scipy.signal", "mne", "neo", "wfdb", "matplotlib", "numba", "pandas", "edfio", "jsonschema",
         "typer", "rich", "quantities"]


def test_import_edx_pulls_no_heavy_modules():
    code = (
        "import sys, json, edx; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_public_names_resolve_lazily():
    code = "import edx, sys; edx.load; print('edx.io.edf' in sys.modules, 'neo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_plot_functions_are_lazy_and_import_no_matplotlib():
    """``edx.plot`` is a module; its functions are lazy names of ``edx`` (none called
    ``plot``, which would shadow the module), and matplotlib loads only when one draws."""
    code = (
        "import sys, types, edx; "
        "assert 'plot' not in edx._LAZY; "
        "f = edx.plot_response; import edx.plot; "
        "assert isinstance(edx.plot, types.ModuleType) and f is edx.plot.plot_response; "
        "assert all(getattr(edx, n) is getattr(edx.plot, n) for n in edx.plot.__all__); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False"]
