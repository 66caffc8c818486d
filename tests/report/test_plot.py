"""edx.plot: the report's drawing on matplotlib Axes, markers where the measurement put them.

The checks read the artists' data (labels from ``edx.report.figures.LABELS``), not pixels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import edx
from edx.measure.ncs import measure_cmap, override_markers
from edx.report import figures as F

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402


def _ax(height: float = 3.0):
    return Figure(figsize=(7.0, height)).add_subplot()


def _artists(ax, label: str) -> list:
    return [a for a in ax.get_children() if a.get_label() == label]


def _one(ax, label: str):
    found = _artists(ax, label)
    assert len(found) == 1, (label, found)
    return found[0]


def _points(artist) -> tuple[np.ndarray, np.ndarray]:
    """The markers of a joined marker-only artist (NaN gaps dropped)."""
    x, y = (np.asarray(v, dtype=float) for v in artist.get_data())
    keep = ~np.isnan(x)
    return x[keep], y[keep]


def _segments(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The NaN-separated polylines of one joined artist."""
    cut = np.flatnonzero(np.isnan(np.asarray(x, dtype=float)))
    bounds = [-1, *cut.tolist(), len(x)]
    return [(np.asarray(x[a + 1:b], dtype=float), np.asarray(y[a + 1:b], dtype=float))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b - a > 1]


def _cmap_sweep(fs: float = 20000.0, stim: int = 100, amp_v: float = 4e-3, onset_ms: float = 4.0) -> np.ndarray:
    """A CMAP that is back at baseline well before the sweep ends (no drift or hum to remove:
    the drawn trace is the measured one)."""
    t = (np.arange(1000) - stim) / fs * 1e3
    x = np.where(t > onset_ms, -amp_v * np.sin(np.pi * (t - onset_ms) / 8.0) * np.exp(-(t - onset_ms) / 3.0), 0.0)
    return x + np.random.default_rng(0).normal(0.0, 5e-6, t.size)


def _check_markers(ax, r, y0: float = 0.0, row: int = 0) -> None:
    """Onset, negative-phase end and end ticks at their latencies; the negative peak at
    its latency and amplitude (negative up); the shaded area spans onset..negative end
    and holds the negative area."""
    mk, fs = r.markers, r.fs_hz

    def ms(i: float) -> float:
        return (i - mk.stimulus) / fs * 1e3

    onset = _segments(*_one(ax, "onset").get_data())
    assert any(np.allclose(x, r.onset_latency_ms) for x, _ in onset)
    end_ticks = [s for s in _segments(*_one(ax, "negative-phase end").get_data()) if len(s[0]) == 2]
    assert any(np.allclose(x, ms(mk.neg_end)) for x, _ in end_ticks)
    assert any(np.allclose(x, r.onset_latency_ms + r.neg_duration_ms) for x, _ in end_ticks)
    assert any(np.allclose(x, r.onset_latency_ms + r.total_duration_ms) for x, _ in _segments(*_one(ax, "end").get_data()))
    px, py = _points(_one(ax, "negative peak"))
    amp = r.amplitude_mv if hasattr(r, "amplitude_mv") else r.amplitude_uv
    # the triangle sits on the drawn trace at the peak; the amplitude is measured on the
    # smoothed peak, within 2 % of the raw sample there at these noise levels
    assert np.any(np.isclose(px, r.neg_peak_latency_ms) & np.isclose(np.asarray(py) - y0, amp, rtol=0.02))
    areas = _artists(ax, "negative area") + _artists(ax, "_area")  # only the first row's is named
    poly = areas[row].get_xy()
    assert poly[:, 0].min() == pytest.approx(r.onset_latency_ms)
    assert poly[:, 0].max() == pytest.approx(r.onset_latency_ms + r.neg_duration_ms)
    # shoelace area of the shaded polygon (display units x ms) = the measured negative area
    x, y = poly[:, 0], poly[:, 1] - y0
    shoelace = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    area = r.neg_area_mvms if hasattr(r, "neg_area_mvms") else r.neg_area_uvms
    assert shoelace == pytest.approx(area, rel=0.02)


def test_plot_response_draws_the_markers_at_the_measured_positions():
    x = _cmap_sweep()
    r = measure_cmap(x, 20000.0, 100)
    assert r.status == "ok" and not r.quality
    ax = _ax()
    out = edx.plot_response(x, r, label="wrist", ax=ax)
    assert out is ax
    _check_markers(ax, r)
    # the trace is drawn negative up: its highest point is the negative peak
    tx, ty = _one(ax, "trace").get_data()
    after = np.asarray(tx) > 1.0
    assert float(np.asarray(tx)[after][np.argmax(np.asarray(ty)[after])]) == pytest.approx(r.neg_peak_latency_ms, abs=0.5)
    # the y axis gives the recorded voltage: up is negative
    fmt = ax.yaxis.get_major_formatter()
    assert fmt(2.0, 0) == "-2" and fmt(0.0, 0) == "0"
    assert ax.get_ylabel() == "mV (negative up)" and ax.get_xlabel() == "ms from stimulus"
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"onset", "negative peak", "negative-phase end", "negative area"} <= labels
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"amp {r.amplitude_mv:.2f} mV" in texts and "wrist" in texts


def test_a_moved_marker_moves_the_drawing_and_its_values():
    x = _cmap_sweep()
    r = measure_cmap(x, 20000.0, 100)
    later = r.markers.onset + 10  # 0.5 ms later
    o = override_markers(r, x, onset=later)
    assert o.onset_latency_ms == pytest.approx(r.onset_latency_ms + 0.5)
    ax = edx.plot_response(x, o, ax=_ax())
    _check_markers(ax, o)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"dur {o.neg_duration_ms:.2f} ms" in texts and f"area {o.neg_area_mvms:.2f}" in texts


def test_plot_responses_stacks_rows_at_one_gain(cim):
    tm = cim.measurements.tests[0]  # median motor: wrist, elbow
    study = cim.study
    resps = [edx.load_site(study, tm.test.id, s.name) for s in tm.test.sites]
    results = [tm.sites[s.name] for s in tm.test.sites]
    ax = edx.plot_responses(resps, results, ax=_ax(4.0))
    px, py = _points(_one(ax, "negative peak"))
    assert np.allclose(px, [r.neg_peak_latency_ms for r in results])
    # both peaks at one gain: their heights above their own baselines are the amplitudes
    spacing = (py[0] - results[0].amplitude_mv) - (py[1] - results[1].amplitude_mv)
    assert spacing > max(r.amplitude_mv for r in results)
    _check_markers(ax, results[1], y0=-spacing, row=1)
    assert not ax.yaxis.get_visible()  # a scale bar instead
    assert any(t.get_text() == "elbow" or t.get_text().startswith("elbow\n") for t in ax.texts)


def test_a_snap_is_drawn_as_measured_on_the_average(cim):
    tm = next(t for t in cim.measurements.tests if t.test.type.value == "sensory")
    resp = edx.load_site(cim.study, tm.test.id, 0)
    assert len(resp.sweeps) > 1
    r = tm.sites[tm.test.sites[0].name]
    ax = edx.plot_response(resp, r, ax=_ax())
    assert ax.get_ylabel() == "µV (negative up)"
    _check_markers(ax, r)


def test_plot_mup_templates_cursors_at_onset_and_end(cim):
    mups = cim.measurements.tests[10].mups
    units = mups.accepted_units
    ax = edx.plot_mup_templates(mups, ax=_ax(4.0))
    cursors = _segments(*_one(ax, "duration cursor").get_data())
    assert len(cursors) == 2 * len(units)
    for k, u in enumerate(units):
        (x_on, _), (x_end, _) = cursors[2 * k], cursors[2 * k + 1]
        assert x_end[0] - x_on[0] == pytest.approx((u.end_index - u.onset_index) / u.fs_hz * 1e3)
        assert x_end[0] - x_on[0] == pytest.approx(u.duration_ms, abs=1e3 / u.fs_hz + 1e-9)
    assert len(_segments(*_one(ax, "MUP template").get_data())) == len(units)
    labels = [t.get_text() for t in ax.texts if t.get_text().startswith("site ")]
    assert labels == [f"site {u.site + 1}: {u.duration_ms:.1f} ms" for u in units]


def test_plot_spontaneous_shows_the_picked_discharges(cim):
    tm = cim.measurements.tests[9]
    names = [s.name for s in tm.test.sites]
    recs = [edx.load_site(cim.study, tm.test.id, n) for n in names]
    results = [tm.spontaneous[n] for n in names]
    ax = edx.plot_spontaneous(recs, results, label=names, ax=_ax(4.0))
    picked = [F.pick_discharges(r, 6) for r in results]
    for kind, label in (("fibrillation", "fibrillation"), ("positive_sharp_wave", "positive sharp wave")):
        n = sum(e.kind == kind for p in picked for e in p)
        assert n > 0
        assert len(_segments(*_one(ax, label).get_data())) == n
    text = " ".join(t.get_text() for t in ax.texts)
    assert all(f"grade {r.grade}" in text for r in results)
    with pytest.raises(ValueError, match="signals but"):
        edx.plot_spontaneous(recs[:1], results, ax=_ax())


def test_plot_interference_rows(cim):
    tm = cim.measurements.tests[11]
    name = tm.test.sites[0].name
    rec = edx.load_site(cim.study, tm.test.id, name)
    ip = tm.interference[name]
    ax = edx.plot_interference(rec, ip, label=name, ax=_ax())
    assert f"{ip.turns_per_s:.0f} turns/s" in " ".join(t.get_text() for t in ax.texts)
    tx, _ = _one(ax, "trace").get_data()
    assert np.nanmax(tx) <= 250.0


def test_plot_test_draws_every_test_of_a_study(cim):
    for tm in cim.measurements.tests:
        ax = edx.plot_test(cim.study, tm, ax=_ax())
        assert ax.get_children()
    motor = cim.measurements.tests[0]
    ax = edx.plot_test(cim.study, motor, ax=_ax())
    px, _ = _points(_one(ax, "negative peak"))
    assert np.allclose(px, [motor.sites[s.name].neg_peak_latency_ms for s in motor.test.sites])


def test_plot_crimyne_trend():
    result = edx.crimyne(edx.read_series(_crimyne_folder()))
    ax = edx.plot_crimyne(result, ax=_ax(4.0))
    by_gid = {a.get_gid(): a for a in ax.get_children() if a.get_gid()}
    assert np.allclose(by_gid["alert"].get_xdata(), result.alert_icu_day)
    for side, series in result.sides.items():
        x, y = by_gid[f"cmap-{side}"].get_data()
        assert np.allclose(np.asarray(y, dtype=float), [d.amplitude_mv for d in series.days])
        assert np.allclose(by_gid[f"fall-{side}"].get_ydata(), 0.75 * series.baseline_mv)
    assert ax.get_legend() is not None


def test_without_ax_a_pyplot_figure_is_made():
    import matplotlib.pyplot as plt

    x = _cmap_sweep()
    r = measure_cmap(x, 20000.0, 100)
    ax = edx.plot_response(x, r)
    try:
        assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]
    finally:
        plt.close(ax.figure)


def test_inputs_are_checked():
    x = _cmap_sweep()
    with pytest.raises(ValueError, match="fs_hz is required"):
        edx.plot_response(x, ax=_ax())
    with pytest.raises(ValueError, match="stimulus position is unknown"):
        edx.plot_response(x, fs_hz=20000.0, ax=_ax())
    ax = edx.plot_response(x, fs_hz=20000.0, stimulus_index=100, ax=_ax())  # the trace alone
    assert not _artists(ax, "onset") and _artists(ax, "trace")
    with pytest.raises(ValueError, match="unit"):
        edx.plot_response(x, measure_cmap(x, 20000.0, 100), unit="V", ax=_ax())
    assert math.isfinite(ax.get_xlim()[1])


def _crimyne_folder():
    from ..conftest import SAMPLE_DATA

    return SAMPLE_DATA / "studies" / "crimyne"
