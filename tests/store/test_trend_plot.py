"""edx.report.trend_plot: the CRIMYNE figure and its PNG."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import edx
from edx.report.trend_plot import crimyne_figure, save_crimyne_plot

from ._data import SERIES, series_analyses


def _by_gid(fig, kind="lines"):
    ax = fig.axes[0]
    artists = ax.lines if kind == "lines" else ax.texts
    return {a.get_gid(): a for a in artists if a.get_gid()}


@pytest.fixture(scope="module")
def result():
    return edx.crimyne(SERIES)


def test_lines_sit_at_the_baseline_the_fall_limit_and_the_alert_day(result):
    fig = crimyne_figure(result)
    lines = _by_gid(fig)
    for side in ("L", "R"):
        s = result.sides[side]
        assert list(lines[f"baseline-{side}"].get_ydata()) == pytest.approx([s.baseline_mv] * 2)
        assert list(lines[f"fall-{side}"].get_ydata()) == pytest.approx([0.75 * s.baseline_mv] * 2)
        days = list(lines[f"cmap-{side}"].get_xdata())
        assert days == list(range(1, 8))
        assert list(lines[f"cmap-{side}"].get_ydata()) == pytest.approx([d.amplitude_mv for d in s.days])
    assert list(lines["alert"].get_xdata()) == [5, 5]
    label = _by_gid(fig, "texts")["alert-label"]
    assert "ICU day 5" in label.get_text() and "L and R" in label.get_text()
    assert "alert on ICU day 5" in fig.axes[0].get_title(loc="left")


def test_fall_line_follows_the_criteria(result):
    lines = _by_gid(crimyne_figure(result, criteria={"crimyne": {"fall_pct": 40.0}}))
    assert list(lines["fall-L"].get_ydata()) == pytest.approx([0.6 * result.sides["L"].baseline_mv] * 2)
    lines = _by_gid(crimyne_figure(result, fall_pct=10.0))
    assert list(lines["fall-R"].get_ydata()) == pytest.approx([0.9 * result.sides["R"].baseline_mv] * 2)


def test_missing_day_is_a_gap_and_no_alert_draws_no_alert_line():
    days = [a for a in series_analyses() if a.study.context.icu_day in (1, 2, 4)]
    r = edx.crimyne([a.measurements for a in days])
    assert not r.alert
    fig = crimyne_figure(r)
    lines = _by_gid(fig)
    y = lines["cmap-L"].get_ydata()
    assert list(lines["cmap-L"].get_xdata()) == [1, 2, 3, 4]
    assert math.isnan(y[2]) and not any(math.isnan(v) for v in (y[0], y[1], y[3]))
    assert "alert" not in lines
    texts = _by_gid(fig, "texts")
    assert texts["no-study-3"].get_text() == "no study" and "alert-label" not in texts


def test_png_is_written_and_not_blank(result, tmp_path):
    from matplotlib.image import imread

    path = save_crimyne_plot(result, tmp_path / "new" / "crimyne.png")
    assert path == tmp_path / "new" / "crimyne.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)[..., :3]
    assert img.shape[0] > 300 and img.shape[1] > 600
    coloured = np.mean(np.ptp(img, axis=-1) > 0.2)  # saturated pixels: the curves, the lines
    assert coloured > 0.005
    assert [p.name for p in path.parent.iterdir()] == ["crimyne.png"]  # no temporary file left


def test_unwritable_target_raises_and_leaves_nothing(result, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        save_crimyne_plot(result, blocker / "crimyne.png")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_drawing_does_not_import_pyplot(tmp_path):
    code = ("import sys, edx\n"
            "from edx.report.trend_plot import save_crimyne_plot\n"
            f"save_crimyne_plot(edx.crimyne({str(SERIES)!r}), {str(tmp_path / 'c.png')!r})\n"
            "print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_series_without_peroneal_tests_still_draws(tmp_path):
    from edx.interpretation.inputs import StudySummary
    from edx.model import ClinicalContext, Patient

    r = edx.crimyne([StudySummary(Patient("P9"), ClinicalContext(icu_day=d)) for d in (1, 3)])
    assert not r.sides
    fig = crimyne_figure(r)
    assert not [g for g in _by_gid(fig) if g.startswith(("cmap", "baseline", "fall"))]
    texts = _by_gid(fig, "texts")
    assert set(texts) == {"no-study-2", "no-peroneal"}
    assert save_crimyne_plot(r, tmp_path / "p9.png").stat().st_size > 1000
