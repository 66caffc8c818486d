"""The bundled format samples: one ulnar study in every format gives the same sweeps.

``sample_data/formats/formats.toml`` names the same two responses stored as EDF+D,
BDF+D, EDF+C, WFDB, BrainVision, Axon ABF, npy, npz and csv.  Loaded through the
manifest, every format must give the same samples (within the format's own
quantisation), the same stimulus position and the true sweep start times.
"""

from __future__ import annotations

import numpy as np
import pytest

import edx

from ..conftest import SAMPLE_DATA

MANIFEST = SAMPLE_DATA / "formats" / "formats.toml"
# one converter step (V) of each stored format for this ~8 mV signal; the reference (.npz) is float64
STEP_V = {
    "ulnar-edfd": 2 * 8.4e-3 / 65535,
    "ulnar-bdfd": 2 * 8.4e-3 / 2**24,
    "ulnar-edfc": 2 * 8.4e-3 / 65535,
    "ulnar-wfdb": 1e-3 / 2000,  # gain 2000 adu/mV
    "ulnar-brainvision": 1e-8,  # float32 at 0.01 uV resolution
    "ulnar-axon": None,  # ABF1 int16 with pyabf's own scale: measured from the file below
    "ulnar-npy": 1e-12,
    "ulnar-csv": 1e-9,  # six decimals of mV
}


@pytest.fixture(scope="module")
def study():
    return edx.read_manifest(MANIFEST)


@pytest.fixture(scope="module")
def reference(study):
    return {s: edx.load_site(study, "ulnar-npz", s).sweeps[0] for s in ("wrist", "elbow")}


@pytest.mark.parametrize("test_id", sorted(STEP_V))
@pytest.mark.parametrize("site", ["wrist", "elbow"])
def test_every_format_gives_the_same_sweep(study, reference, test_id, site):
    resp = edx.load_site(study, test_id, site)
    assert resp.site == site and resp.test_id == test_id
    assert resp.distance_mm == (70 if site == "wrist" else 230)
    (sw,) = resp.sweeps
    ref = reference[site]
    assert sw.fs_hz == 20_000.0
    assert sw.stimulus_index == 100, f"stimulus from {sw.stimulus_source}"
    step = STEP_V[test_id]
    tol = 0.51 * step if step is not None else None  # rounding writers: half a step
    if step is None:
        # pyabf truncates to its own step: up to one step, measured from the stored levels
        levels = np.unique(sw.samples_v)
        step = float(np.min(np.diff(levels)))
        assert step < 1e-6, "ABF resolution should be well below 1 uV"
        tol = 1.01 * step
    np.testing.assert_allclose(sw.samples_v[: ref.n_samples], ref.samples_v, rtol=0, atol=tol + 1e-12)


def test_stimulus_sources_are_recorded(study):
    src = {t: edx.load_site(study, t, "wrist").sweeps[0].stimulus_source for t in STEP_V}
    assert src["ulnar-edfd"] == src["ulnar-wfdb"] == src["ulnar-brainvision"] == "annotation"
    assert src["ulnar-npy"] == "manifest"
    assert src["ulnar-axon"] == src["ulnar-csv"] == "artifact"  # the files hold no marks


def test_discontinuous_sweeps_keep_true_times(study):
    elbow = edx.load_site(study, "ulnar-edfd", "elbow").sweeps[0]
    assert elbow.start_s == pytest.approx(2.0)
    cont = edx.load_site(study, "ulnar-edfc", "elbow").sweeps[0]
    assert cont.start_s == pytest.approx(1.495)


@pytest.mark.parametrize(("name", "onsets_s"), [("ulnar_edfd.edf", [0.005, 2.005]), ("ulnar_bdfd.bdf", [0.005, 2.005]),
                                               ("ulnar_edfc.edf", [0.5, 1.5])])
def test_edf_samples_are_readable_by_edfio(name, onsets_s):
    """The bundled EDF+/BDF+ files are valid for other readers too (their stimulus annotations included)."""
    import edfio

    path = SAMPLE_DATA / "formats" / name
    f = edfio.read_bdf(path) if name.endswith(".bdf") else edfio.read_edf(path)
    assert [a.text for a in f.annotations] == ["Stimulus 18.0 mA 0.2 ms"] * 2
    assert [a.onset for a in f.annotations] == pytest.approx(onsets_s)
