"""Mutated and truncated files: nothing but an EdxError may escape, nothing may hang.

Each example is a valid file with random byte edits (flips, overwrites, insertions,
deletions) and a random truncation, written to disk and loaded.  A loader may
return a Recording (many edits only change sample values) or raise an
``edx.EdxError`` subclass; any other exception is a bug.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edx
from edx.io.edf_write import EdfChannel, write_edf

_TMP = Path(tempfile.mkdtemp(prefix="edx-fuzz-"))
#: examples per fuzz test; raise it for a deep run: EDX_FUZZ_EXAMPLES=5000 pytest tests/io/test_fuzz.py
FUZZ_N = int(os.environ.get("EDX_FUZZ_EXAMPLES", "150"))


def _edf_bytes(bdf: bool, discontinuous: bool) -> bytes:
    rng = np.random.default_rng(1)
    p = _TMP / f"seed_{int(bdf)}{int(discontinuous)}.{'bdf' if bdf else 'edf'}"
    write_edf(
        p,
        [EdfChannel("APB", 2000, rng.normal(0, 1e-3, 400), unit="mV"), EdfChannel("Trig", 500, np.zeros(100), unit="V")],
        record_duration_s=0.05,
        record_onsets_s=[0.0, 0.5, 0.55, 2.0] if discontinuous else None,
        annotations=[(0.01, None, "Stim 10 mA"), (0.52, 0.1, "note")],
        bdf=bdf,
    )
    return p.read_bytes()


SEEDS = {
    "edf": _edf_bytes(False, False),
    "edfd": _edf_bytes(False, True),
    "bdf": _edf_bytes(True, True),
}


@st.composite
def mutations(draw, size: int):
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["flip", "set", "insert", "delete"]),
                st.integers(0, max(0, size - 1)),
                st.binary(min_size=1, max_size=8),
            ),
            min_size=1,
            max_size=6,
        )
    )
    cut = draw(st.one_of(st.none(), st.integers(0, size)))
    # bias edits towards the header, where structure lives
    header_bias = draw(st.booleans())
    return ops, cut, header_bias


def _apply(raw: bytes, ops, cut, header_bias) -> bytes:
    b = bytearray(raw)
    for op, pos, payload in ops:
        if header_bias and b:
            pos = pos % min(len(b), 1024)
        pos = min(pos, len(b))
        if op == "flip" and pos < len(b):
            b[pos] ^= payload[0] or 0xFF
        elif op == "set":
            b[pos : pos + len(payload)] = payload
        elif op == "insert":
            b[pos:pos] = payload
        elif op == "delete":
            del b[pos : pos + len(payload)]
    if cut is not None:
        b = b[:cut]
    return bytes(b)


def _load_or_edx_error(path: Path, **kw) -> None:
    try:
        edx.load(path, **kw)
    except edx.EdxError:
        pass


@pytest.mark.parametrize("kind", sorted(SEEDS))
@settings(max_examples=FUZZ_N, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_edf_bdf(kind, data):
    raw = SEEDS[kind]
    ops, cut, bias = data.draw(mutations(len(raw)))
    p = _TMP / f"m_{kind}.{'bdf' if kind == 'bdf' else 'edf'}"
    p.write_bytes(_apply(raw, ops, cut, bias))
    _load_or_edx_error(p, detect_stimulus=True)


def _wfdb_seed() -> Path:
    import wfdb

    d = _TMP / "wfdb_seed"
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(2)
    wfdb.wrsamp("r", fs=4000, units=["mV", "uV"], sig_name=["EMG", "X"], p_signal=np.column_stack(
        [rng.normal(0, 0.3, 800), rng.normal(0, 30, 800)]), fmt=["16", "212"], adc_gain=[1000.0, 10.0],
        baseline=[0, 0], write_dir=str(d))
    return d


WFDB_SEED = _wfdb_seed()


@settings(max_examples=FUZZ_N, deadline=None)
@given(data=st.data(), target=st.sampled_from(["r.hea", "r_1.dat", "r_2.dat"]))
def test_mutated_wfdb(data, target):
    work = _TMP / "wfdb_work"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(WFDB_SEED, work)
    f = work / target
    raw = f.read_bytes()
    ops, cut, bias = data.draw(mutations(len(raw)))
    f.write_bytes(_apply(raw, ops, cut, bias and target.endswith(".dat")))
    _load_or_edx_error(work / "r.hea")


@settings(max_examples=FUZZ_N // 2, deadline=None)
@given(payload=st.binary(max_size=2048), ext=st.sampled_from([".edf", ".bdf", ".hea", ".npy", ".npz", ".csv", ".vhdr", ".abf", ".nix", ".mat", ".fif"]))
def test_random_bytes_any_format(payload, ext):
    p = _TMP / f"rand{ext}"
    p.write_bytes(payload)
    _load_or_edx_error(p, fs_hz=1000.0, units="uV")
