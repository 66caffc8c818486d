"""Tests of the needle EMG simulator (edx.sim.needle).

The simulator is the ground truth of later accuracy tests, so these tests check that
its truth is what the signal holds, that its waveforms and firing follow the physiology
it claims (CLINICAL.md §1), and that its MUP populations match the clinical targets.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edx.sim import needle as nd
from edx.sim.needle import (
    EPS_REFRACTORY_MS,
    FASCICULATION_REFRACTORY_MS,
    TEMPLATE_MARGIN_MS,
    SpontaneousSpec,
    count_phases,
    count_turns,
    duration_threshold_v,
    make_motor_unit,
    measure_waveform,
    simulate_effort,
    simulate_rest,
    waveform_extent,
)

FS = 20_000.0
SAMPLE_MS = 1e3 / FS


def _first_lobe_sign(x: np.ndarray) -> float:
    """Sign of the first sample beyond the onset threshold."""
    on, _ = waveform_extent(x)
    return float(np.sign(x[on]))


def _cv(times: tuple[float, ...]) -> float:
    iv = np.diff(np.asarray(times))
    return float(iv.std(ddof=1) / iv.mean())


def _rebuild_clean(truth: nd.NeedleTruth, n: int) -> np.ndarray:
    """The clean signal as the truth describes it: every template at its onset."""
    out = np.zeros(n)
    for tr in truth.trains:
        for t in tr.times_s:
            start = int(round(t * truth.fs_hz)) - tr.template_onset_index
            lo, hi = max(start, 0), min(start + tr.template_v.size, n)
            out[lo:hi] += tr.template_v[lo - start : hi - start]
    return out


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_recording_and_truth_different_seed_differs():
    kw = dict(fibrillation_trains=2, psw_trains=1, end_plate=True, fasciculations=1, hum_v=3e-6)
    x1, t1 = simulate_rest(3.0, FS, seed=11, **kw)
    x2, t2 = simulate_rest(3.0, FS, seed=11, **kw)
    x3, t3 = simulate_rest(3.0, FS, seed=12, **kw)
    assert np.array_equal(x1, x2)
    assert t1 == t2
    assert not np.array_equal(x1, x3)
    assert t1 != t3
    e1, u1 = simulate_effort(1.0, FS, kind="neurogenic", level="moderate", seed=5)
    e2, u2 = simulate_effort(1.0, FS, kind="neurogenic", level="moderate", seed=5)
    e3, u3 = simulate_effort(1.0, FS, kind="neurogenic", level="moderate", seed=6)
    assert np.array_equal(e1, e2) and u1 == u2
    assert not np.array_equal(e1, e3) and u1 != u3


def test_a_generator_seed_is_used_and_no_global_state_is_touched():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    a, ta = simulate_rest(1.0, FS, fibrillation_trains=1, seed=np.random.default_rng(3))
    b, tb = simulate_rest(1.0, FS, fibrillation_trains=1, seed=np.random.default_rng(3))
    assert np.array_equal(a, b) and ta == tb
    assert np.array_equal(np.random.get_state()[1], before)


# --------------------------------------------------------------------------- waveforms


def test_spontaneous_waveforms_polarity_duration_amplitude():
    fib_specs = [SpontaneousSpec("fibrillation", 20.0, 3.0), SpontaneousSpec("fibrillation", 1000.0, 3.0)]
    _, truth = simulate_rest(
        2.0,
        FS,
        fibrillation_trains=24,
        psw_trains=12,
        end_plate=6,
        noise_rms_v=0.0,
        seed=21,
    )
    small_psw = [SpontaneousSpec("positive_sharp_wave", 30.0, 2.0)]
    _, edge = simulate_rest(2.0, FS, fibrillation_trains=fib_specs, psw_trains=small_psw, seed=22)
    trains = truth.trains + edge.trains
    kinds = {t.kind for t in trains}
    assert kinds == {"fibrillation", "positive_sharp_wave", "end_plate_spike"}
    for t in trains:
        x = t.template_v
        m = measure_waveform(x, FS)
        assert m.amplitude_uv == pytest.approx(t.amplitude_uv) and m.duration_ms == pytest.approx(t.duration_ms)
        assert t.template_onset_index == m.onset_index == round(TEMPLATE_MARGIN_MS * FS / 1e3)
        if t.kind == "end_plate_spike":
            assert _first_lobe_sign(x) < 0, t.source_id
            assert 3.0 - SAMPLE_MS <= t.duration_ms <= 4.0 + SAMPLE_MS
            assert 100.0 - 1e-9 <= t.amplitude_uv <= 200.0 + 1e-9
        else:
            assert _first_lobe_sign(x) > 0, t.source_id
        if t.kind == "fibrillation":
            assert 1.0 - SAMPLE_MS <= t.duration_ms <= 5.0 + SAMPLE_MS, t.source_id
            assert 20.0 - 1e-9 <= t.amplitude_uv <= 1000.0 + 1e-9
        if t.kind == "positive_sharp_wave":
            # a whole number of samples: the 10 ms floor holds to within one sample
            assert 10.0 - SAMPLE_MS <= t.duration_ms <= 30.0 + SAMPLE_MS, t.source_id
            on = t.template_onset_index
            rise = (int(np.argmax(x)) - on) * SAMPLE_MS
            assert 0.5 - SAMPLE_MS <= rise <= 1.0 + SAMPLE_MS
            assert x.min() < -duration_threshold_v(np.ptp(x))  # a real slow negative phase
    counted = [t for t in truth.trains if t.kind == "fibrillation"]
    assert all(20.0 - 1e-9 <= t.amplitude_uv <= 200.0 + 1e-9 for t in counted)
    # "typically 1–2 ms"
    assert np.median([t.duration_ms for t in counted]) < 2.0 + SAMPLE_MS
    assert {round(t.amplitude_uv, 6) for t in edge.trains} == {20.0, 1000.0, 30.0}


def test_truth_reproduces_the_clean_signal_and_onsets_are_where_the_signal_is():
    kw = dict(
        fibrillation_trains=[SpontaneousSpec("fibrillation", 80.0, 4.0)],
        psw_trains=1,
        end_plate=True,
        fasciculations=[SpontaneousSpec("fasciculation", None, 1.0)],
    )
    noisy, truth = simulate_rest(4.0, FS, noise_rms_v=8e-6, hum_v=5e-6, offset_v=2e-5, drift_v=1e-5, seed=31, **kw)
    clean, truth0 = simulate_rest(4.0, FS, noise_rms_v=0.0, seed=31, **kw)
    assert truth.discharges == truth0.discharges and truth.trains == truth0.trains
    assert np.std(noisy - clean) > 8e-6  # the imperfections are on top of the same clean signal
    assert np.allclose(_rebuild_clean(truth, clean.size), clean, rtol=0, atol=1e-12)
    # every onset: first sample over the threshold of the isolated clean waveform
    for tr in truth.trains:
        thr = duration_threshold_v(tr.amplitude_uv * 1e-6)
        # the same seed with only this source's slot filled: the source alone (each kind
        # of source has its own random stream)
        only = {k: (v if k == _slot(tr.kind) else 0) for k, v in kw.items()}
        iso, _ = simulate_rest(4.0, FS, noise_rms_v=0.0, seed=31, **only)
        for d in truth.discharges_of(tr.source_id):
            i = int(round(d.time_s * FS))
            assert d.time_s == i / FS
            assert abs(iso[i]) > thr >= abs(iso[i - 1]), (tr.source_id, d.time_s)
            p = int(round(d.peak_time_s * FS))
            seg = iso[i : i + int(d.duration_ms / SAMPLE_MS) + 1]
            assert abs(iso[p]) == pytest.approx(np.abs(seg).max())
    # a known, isolated discharge: measured directly on the clean recording
    d0 = truth.discharges_of("fib0")[0]
    i0 = int(round(d0.time_s * FS))
    seg = clean[i0 - 40 : i0 + 200]
    assert np.ptp(seg) * 1e6 == pytest.approx(80.0, rel=1e-9)


def _slot(kind: str) -> str:
    return {
        "fibrillation": "fibrillation_trains",
        "positive_sharp_wave": "psw_trains",
        "end_plate_spike": "end_plate",
        "fasciculation": "fasciculations",
    }[kind]


# --------------------------------------------------------------------------- firing


def test_regular_and_irregular_trains():
    specs = [
        SpontaneousSpec("fibrillation", 60.0, 0.8),
        SpontaneousSpec("fibrillation", 100.0, 7.3),
        SpontaneousSpec("fibrillation", 150.0, 14.0),
        SpontaneousSpec("fibrillation", 60.0, 5.0, irregular=True),
        SpontaneousSpec("fibrillation", 60.0, 9.0, irregular=True),
    ]
    psws = [
        SpontaneousSpec("positive_sharp_wave", 90.0, 3.0),
        SpontaneousSpec("positive_sharp_wave", 90.0, 4.0, irregular=True),
    ]
    _, truth = simulate_rest(20.0, 10_000.0, fibrillation_trains=specs, psw_trains=psws, noise_rms_v=0.0, seed=41)
    for spec, tr in zip(specs + psws, truth.trains, strict=True):
        assert len(tr.times_s) >= 10
        rate = (len(tr.times_s) - 1) / (tr.times_s[-1] - tr.times_s[0])
        cv = _cv(tr.times_s)
        assert tr.firing_rate_hz == pytest.approx(rate) and tr.interval_cv == pytest.approx(cv)
        assert tr.regular is (not spec.irregular)
        if spec.irregular:
            assert cv > 0.25, tr.source_id
        else:
            assert cv < 0.05, tr.source_id
            assert rate == pytest.approx(spec.firing_rate_hz, rel=0.01), tr.source_id
    # count-given trains: regular, 1–10 Hz, CV below 5 %
    _, rnd = simulate_rest(20.0, 10_000.0, fibrillation_trains=8, psw_trains=4, noise_rms_v=0.0, seed=42)
    for tr in rnd.trains:
        assert tr.regular and tr.interval_cv < 0.05
        assert 1.0 * 0.99 <= tr.firing_rate_hz <= 10.0 * 1.01
        assert tr.firing_rate_hz == pytest.approx(tr.nominal_rate_hz, rel=0.01)


def test_end_plate_spikes_are_irregular_with_a_refractory_period_and_fasciculations_rare():
    _, truth = simulate_rest(
        10.0,
        FS,
        end_plate=[SpontaneousSpec("end_plate_spike", 150.0, 40.0), SpontaneousSpec("end_plate_spike", 120.0, 8.0)],
        fasciculations=[SpontaneousSpec("fasciculation", None, 0.8)] * 3,
        noise_rms_v=0.0,
        seed=51,
    )
    eps = [t for t in truth.trains if t.kind == "end_plate_spike"]
    for tr in eps:
        iv = np.diff(tr.times_s)
        assert not tr.regular
        assert _cv(tr.times_s) > 0.25
        assert iv.min() >= EPS_REFRACTORY_MS * 1e-3 - 1e-12
    fas = [t for t in truth.trains if t.kind == "fasciculation"]
    n_fas = sum(len(t.times_s) for t in fas)
    # Poisson-like at 0.8 Hz with a 100 ms dead time: ~24 in 3 × 10 s (SD < 5)
    assert 10 <= n_fas <= 40
    for tr in fas:
        if len(tr.times_s) > 1:
            assert np.diff(tr.times_s).min() >= FASCICULATION_REFRACTORY_MS * 1e-3 - 1e-12
    # fasciculations are whole motor units: MUP-sized, listed as units
    assert {u.unit_id for u in truth.units} == {t.source_id for t in fas if t.times_s}
    assert all(u.origin == "fasciculation" and u.amplitude_uv > 200 for u in truth.units)


# --------------------------------------------------------------------------- MUPs


@pytest.fixture(scope="module")
def mup_populations() -> dict[str, list[nd.MupTruth]]:
    out = {}
    for kind, seed in (("normal", 101), ("myopathic", 102), ("neurogenic", 103)):
        rng = np.random.default_rng(seed)
        out[kind] = [make_motor_unit(kind, rng, fs_hz=FS, unit_id=f"u{i}") for i in range(40)]
    return out


def _mean(units: list[nd.MupTruth], name: str) -> float:
    return float(np.mean([getattr(u, name) for u in units]))


def test_normal_mup_population_matches_tibialis_anterior_controls(mup_populations):
    # CLINICAL.md §1 (JNNP control table): means of >= 20 MUPs per subject are
    # 9.35 ± 0.93 ms, 662 ± 92 µV, 3.47 ± 0.36 phases, <= 35 % polyphasic.  The SDs are
    # between-subject SDs of such means, so a simulated "subject" of 40 MUPs must lie
    # within one SD of the control mean: it then looks like a typical control.
    units = mup_populations["normal"]
    assert abs(_mean(units, "duration_ms") - 9.35) <= 0.93
    assert abs(_mean(units, "amplitude_uv") - 662.0) <= 92.0
    assert abs(_mean(units, "phases") - 3.47) <= 0.36
    assert np.mean([u.polyphasic for u in units]) <= 0.35


def test_myopathic_and_neurogenic_populations(mup_populations):
    norm, myo, neu = (mup_populations[k] for k in ("normal", "myopathic", "neurogenic"))
    assert _mean(myo, "duration_ms") < _mean(norm, "duration_ms")
    assert _mean(myo, "amplitude_uv") < _mean(norm, "amplitude_uv")
    assert np.mean([u.phases > 4 for u in myo]) >= 0.5
    # the targets the generator is tuned to (brief): short, small
    assert 5.0 <= _mean(myo, "duration_ms") <= 7.0
    assert 200.0 <= _mean(myo, "amplitude_uv") <= 450.0
    assert _mean(neu, "duration_ms") > _mean(norm, "duration_ms")
    assert _mean(neu, "amplitude_uv") > _mean(norm, "amplitude_uv")
    assert 13.0 <= _mean(neu, "duration_ms") <= 18.0
    assert 1200.0 <= _mean(neu, "amplitude_uv") <= 3000.0
    assert 0.05 <= np.mean([u.polyphasic for u in neu]) <= 0.6  # "some polyphasic"


def test_mup_truth_is_the_measure_of_its_clean_template(mup_populations):
    m0 = round(TEMPLATE_MARGIN_MS * FS / 1e3)
    n_sat = 0
    for units in mup_populations.values():
        for u in units:
            m = measure_waveform(u.main_template_v, FS)
            assert u.template_onset_index == m.onset_index == m0
            assert (u.duration_ms, u.phases, u.turns) == (m.duration_ms, m.phases, m.turns)
            assert u.amplitude_uv == pytest.approx(m.amplitude_uv)
            assert u.area_uvms == pytest.approx(m.area_uvms)
            assert u.thickness_ms == pytest.approx(m.area_uvms / m.amplitude_uv)
            assert not u.template_v.flags.writeable
            if u.satellite:
                n_sat += 1
                sat = u.satellite_v
                s_on = int(np.flatnonzero(np.abs(sat) > 0)[0])
                assert s_on > m.end_index  # after the main potential
                s_ext = np.flatnonzero(np.abs(sat) > duration_threshold_v(np.ptp(sat)))
                gap_ms = (s_ext[0] - m.end_index) * SAMPLE_MS
                assert gap_ms == pytest.approx(u.satellite_delay_ms, abs=SAMPLE_MS)
                assert 5.0 - SAMPLE_MS <= gap_ms <= 15.0 + SAMPLE_MS
            else:
                assert u.satellite_v is None
    assert n_sat > 0
    # the needle is moved until the MUP is sharp (rise time <= 0.5 ms); the generator keeps
    # the sharpest of 20 positions when none qualifies, which must stay rare
    rises = [u.rise_time_ms for units in mup_populations.values() for u in units]
    assert np.mean(np.asarray(rises) <= nd.RISE_TIME_ACCEPT_MS) >= 0.95


def test_make_motor_unit_refuses_uncalibrated_muscles_and_kinds():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="tibialis anterior"):
        make_motor_unit("normal", rng, fs_hz=FS, muscle="biceps brachii")
    with pytest.raises(ValueError, match="kind"):
        make_motor_unit("dystrophic", rng, fs_hz=FS)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- measures


def _burst(cycles: float, amp_v: float, period_ms: float = 4.0, fs: float = FS) -> np.ndarray:
    n = int(round(cycles * period_ms * fs / 1e3))
    x = np.zeros(n + 200)
    x[100 : 100 + n] = amp_v * np.sin(2 * np.pi * np.arange(n) / (period_ms * fs / 1e3))
    return x


def test_phases_of_hand_made_biphasic_and_triphasic_waveforms():
    assert count_phases(_burst(1.0, 200e-6)) == 2
    assert count_phases(_burst(1.5, 200e-6)) == 3
    assert measure_waveform(_burst(1.0, 200e-6), FS).phases == 2
    assert measure_waveform(_burst(1.5, 200e-6), FS).phases == 3
    # a dip that does not leave the ±10 µV band adds no phase
    x = np.zeros(300)
    x[50:100] = 100e-6
    x[100:110] = -5e-6
    x[110:160] = 100e-6
    assert count_phases(x) == 1
    x[100:110] = -15e-6
    assert count_phases(x) == 3


def test_duration_area_thickness_of_a_known_compact_waveform():
    fs = 10_000.0
    x = np.zeros(1000)
    x[300:501] = 100e-6  # 100 µV plateau, 201 samples: threshold 10 µV
    m = measure_waveform(x, fs)
    assert (m.onset_index, m.end_index) == (300, 500)
    assert m.duration_ms == pytest.approx(20.0)
    assert m.amplitude_uv == pytest.approx(100.0)
    assert m.area_uvms == pytest.approx(100.0 * 201 * 0.1)
    assert m.thickness_ms == pytest.approx(20.1)
    # large potential: the threshold is 2 % of the peak-to-peak, not 10 µV
    tri = np.concatenate([np.zeros(100), np.linspace(0, 2e-3, 201), np.linspace(2e-3, 0, 201)[1:], np.zeros(100)])
    on, end = waveform_extent(tri)
    thr = 0.02 * 2e-3
    assert tri[on] > thr >= tri[on - 1] and tri[end] > thr >= tri[end + 1]
    assert (on, end) == (100 + 5, 100 + 395)
    with pytest.raises(ValueError):
        waveform_extent(np.zeros(10))


def test_turns_of_a_hand_made_zigzag():
    uv = 1e-6
    x = np.array([0, 100, 60, 90, 80, 0, -50, -20, -40, 0]) * uv
    # turns at 100 (up 100, down 40), 60 (down 40, up 30), 90 (up 30, down 140; the dip
    # to 80 is only 10 µV) and −50 (down 140, up 30); not at −20 (the fall to −40 is only
    # 20 µV), and the final rise from −40 to 0 ends the record without a reversal.
    assert count_turns(x) == 4
    assert count_turns(x, level_v=35 * uv) == 2  # 100 and −50
    assert count_turns(_burst(1.0, 200e-6)) == 2
    assert count_turns(_burst(1.5, 200e-6)) == 3


# --------------------------------------------------------------------------- recruitment


def test_recruitment_at_the_same_force():
    force = [0.1]  # 10 % of a normal maximal force, constant
    res = {}
    for kind in ("normal", "myopathic", "neurogenic"):
        _, truth = simulate_effort(2.0, 10_000.0, kind=kind, level=force, noise_rms_v=0.0, seed=61)
        rates = [u.firing_rate_hz for u in truth.units]
        res[kind] = (len(truth.units), float(np.mean(rates)), truth.recruitment)
    assert res["normal"][2] == "normal" and res["myopathic"][2] == "early" and res["neurogenic"][2] == "reduced"
    assert res["neurogenic"][0] < res["normal"][0]
    assert res["neurogenic"][1] > res["normal"][1]
    assert res["myopathic"][0] > res["normal"][0]


def _recruitment_frequency(truth: nd.NeedleTruth) -> float:
    """Rate of the first unit (mean of its last three intervals) when the second starts."""
    trains = sorted((t for t in truth.trains if t.times_s), key=lambda t: t.times_s[0])
    first, second = np.asarray(trains[0].times_s), trains[1].times_s[0]
    k = int(np.searchsorted(first, second))
    return float(1.0 / np.diff(first[max(k - 3, 0) : k + 1]).mean())


def test_recruitment_frequency_on_a_force_ramp():
    ramp = np.linspace(0.0, 0.15, 50)
    _, normal = simulate_effort(4.0, 10_000.0, kind="normal", level=ramp, noise_rms_v=0.0, seed=71)
    _, neuro = simulate_effort(4.0, 10_000.0, kind="neurogenic", level=ramp, noise_rms_v=0.0, seed=71)
    # normal: a second unit joins before the first exceeds ~10–15 Hz
    assert _recruitment_frequency(normal) < 13.0
    # reduced recruitment: the first unit fires fast before the next joins
    assert _recruitment_frequency(neuro) > 15.0
    # semi-regular firing of voluntary units (CV 0.1–0.2 at steady force)
    _, steady = simulate_effort(3.0, 10_000.0, kind="normal", level="minimal", noise_rms_v=0.0, seed=72)
    for tr in steady.trains:
        if len(tr.times_s) >= 15:
            assert 0.06 <= tr.interval_cv <= 0.3
    assert 2 <= len(steady.units) <= 6


def test_minimal_effort_truth_and_maximal_effort_interference():
    sig, truth = simulate_effort(1.0, FS, kind="normal", level="minimal", noise_rms_v=0.0, seed=81)
    assert 2 <= len(truth.units) <= 6
    assert all(d.kind == "mup" for d in truth.discharges)
    assert {d.source_id for d in truth.discharges} == {u.unit_id for u in truth.units}
    assert np.allclose(_rebuild_clean(truth, sig.size), sig, rtol=0, atol=1e-12)
    for u in truth.units:
        tr = next(t for t in truth.trains if t.source_id == u.unit_id)
        assert u.firing_rate_hz == tr.firing_rate_hz
        assert u.origin == "voluntary" and 0 < u.recruitment_threshold < 0.05
    _, mx = simulate_effort(0.5, FS, kind="normal", level="maximal", noise_rms_v=0.0, seed=82)
    rates = [u.firing_rate_hz for u in mx.units]
    assert len(mx.units) == mx.pool_size >= 10
    assert 20.0 <= np.mean(rates) <= 35.0


# --------------------------------------------------------------------------- imperfections


def test_noise_hum_baseline_and_clip_do_what_they_say():
    kw = dict(fibrillation_trains=2, psw_trains=1, seed=91)
    clean, _ = simulate_rest(5.0, FS, noise_rms_v=0.0, **kw)
    noisy, t = simulate_rest(5.0, FS, noise_rms_v=5e-6, **kw)
    assert t.noise_rms_v == 5e-6
    assert np.sqrt(np.mean((noisy - clean) ** 2)) == pytest.approx(5e-6, rel=0.05)
    noisy20, _ = simulate_rest(5.0, FS, noise_rms_v=20e-6, **kw)
    assert np.sqrt(np.mean((noisy20 - clean) ** 2)) == pytest.approx(20e-6, rel=0.05)
    # hum: a 60 Hz line of the requested amplitude, nothing else
    hum, _ = simulate_rest(5.0, FS, noise_rms_v=0.0, hum_v=10e-6, mains_hz=60.0, **kw)
    d = hum - clean
    spec = np.abs(np.fft.rfft(d)) * 2 / d.size
    freqs = np.fft.rfftfreq(d.size, 1 / FS)
    assert freqs[np.argmax(spec)] == pytest.approx(60.0)
    assert spec.max() == pytest.approx(10e-6, rel=0.01)
    # offset and drift
    clean10, _ = simulate_rest(10.0, FS, noise_rms_v=0.0, **kw)
    base, _ = simulate_rest(10.0, FS, noise_rms_v=0.0, offset_v=50e-6, drift_v=20e-6, **kw)
    d = base - clean10  # three whole 0.3 Hz drift cycles: the mean is the offset
    assert d.mean() == pytest.approx(50e-6, abs=0.1e-6)
    assert np.ptp(d) == pytest.approx(40e-6, rel=0.01)
    # clipping: everything beyond the rail sits at the rail, the rest is untouched
    rail = 40e-6
    clipped, tc = simulate_rest(5.0, FS, noise_rms_v=5e-6, clip_v=rail, **kw)
    assert np.abs(clipped).max() == rail
    over = np.abs(noisy) >= rail
    assert over.any() and tc.n_clipped == int(over.sum())
    assert np.array_equal(clipped[over], np.sign(noisy[over]) * rail)
    assert np.array_equal(clipped[~over], noisy[~over])


def test_noise_only_rest_recording_has_no_discharges():
    x, truth = simulate_rest(2.0, FS, seed=3)
    assert truth.discharges == () and truth.trains == () and truth.units == ()
    assert truth.grade == "0" and truth.recruitment is None
    assert x.size == 40_000
    assert np.std(x) == pytest.approx(5e-6, rel=0.05)


def test_single_site_grade():
    def grade(**kw):
        return simulate_rest(5.0, 10_000.0, noise_rms_v=0.0, seed=4, **kw)[1].grade

    one = [SpontaneousSpec("fibrillation", 50.0, 2.0)]
    assert grade(fibrillation_trains=one) == "1+"
    assert grade(fibrillation_trains=one * 2, psw_trains=[SpontaneousSpec("positive_sharp_wave", 50.0, 2.0)]) == "2+"
    assert grade(fibrillation_trains=one * 4) == "3+"
    psw_fill = [SpontaneousSpec("positive_sharp_wave", 100.0, 10.0, duration_ms=30.0)] * 6
    assert grade(psw_trains=psw_fill) == "4+"
    assert grade(end_plate=True, fasciculations=1) == "0"  # mimics do not grade


def test_small_fibrillations_stay_positive_first_at_a_low_sampling_rate():
    specs = [SpontaneousSpec("fibrillation", 20.0, 5.0, duration_ms=1.0)] * 6
    _, truth = simulate_rest(1.0, 4000.0, fibrillation_trains=specs, end_plate=4, noise_rms_v=0.0, seed=8)
    for t in truth.trains:
        assert _first_lobe_sign(t.template_v) == (1.0 if t.kind == "fibrillation" else -1.0)


def test_invalid_specs_are_refused():
    with pytest.raises(ValueError, match="kind"):
        simulate_rest(1.0, FS, fibrillation_trains=[SpontaneousSpec("positive_sharp_wave", 50.0, 2.0)], seed=0)
    with pytest.raises(ValueError, match="slow negative phase"):
        simulate_rest(1.0, FS, psw_trains=[SpontaneousSpec("positive_sharp_wave", 22.0, 2.0)], seed=0)
    with pytest.raises(ValueError):
        SpontaneousSpec("fasciculation", None, 0.5, duration_ms=10.0)
    with pytest.raises(ValueError):
        simulate_effort(1.0, FS, level="heroic", seed=0)
    with pytest.raises(ValueError):
        simulate_rest(1.0, 1000.0, seed=0)
    assert math.isfinite(duration_threshold_v(0.0))
