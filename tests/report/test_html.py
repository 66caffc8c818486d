"""The HTML report: tables, figures and markers, escaping, anonymization, failures, self-containment."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

import edx
from edx.measure.ncs import measure_cmap
from edx.report import analyze_study, pseudonym, write_study_outputs
from edx.report import figures as F
from edx.report.html import DISCLAIMER, render_html

from .conftest import PAYLOAD, STUDIES, Page

# ----------------------------------------------------------------------------- tables


def test_cim_motor_table_rows_follow_the_manifest(cim, cim_html):
    page = Page(cim_html)
    rows = page.tables["motor"]
    assert len(rows) == 8  # 4 nerves x 2 stimulation sites
    assert page.column("motor", 2) == ["wrist", "elbow", "wrist", "below elbow", "ankle", "fibular head", "ankle",
                                       "popliteal fossa"]
    assert [c for c in page.column("motor", 0) if c] == ["median / APB", "ulnar / ADM", "peroneal / EDB", "tibial / AH"]
    # values are those measured, rounded as displayed
    median = cim.measurements.tests[0]
    assert rows[0][5][0] == f"{median.sites['wrist'].amplitude_mv:.2f}"
    assert rows[0][4][0] == f"{median.sites['wrist'].onset_latency_ms:.2f}"
    assert rows[1][8][0] == f"{median.segments[0][2].cv_m_s:.1f}"  # velocity on the proximal site's row
    assert rows[0][8][0] == "–"


def test_cim_other_tables(cim_html):
    page = Page(cim_html)
    assert page.column("sensory", 0) == ["median", "ulnar", "sural"]
    assert [r[2][0] for r in page.tables["sensory"]] == ["digit 2", "digit 5", "lateral malleolus"]
    assert len(page.tables["fwave"]) == 1 and page.tables["fwave"][0][3][0] == "27.4"
    assert len(page.tables["dms"]) == 1 and page.tables["dms"][0][4][0] == "0.75"
    assert "rns" not in page.tables  # no RNS in this study: no empty table
    assert page.column("needle-rest", 2) == ["site 1", "site 2", "muscle grade"]
    assert page.tables["needle-rest"][0][4][0] == "41"  # fibrillations at site 1
    assert len(page.tables["needle-mup"]) == 1 and page.tables["needle-mup"][0][9][0] == "myopathic"
    assert len(page.tables["needle-max"]) == 1


def test_abnormal_values_are_marked_against_the_reference(cim_html):
    page = Page(cim_html)
    motor = page.tables["motor"]
    assert "abn" in motor[0][5][1]  # median distal CMAP 2.40 mV < 4 mV
    assert "abn" not in motor[1][5][1]  # proximal amplitudes are not compared with the distal limit
    assert "abn" not in motor[1][8][1]  # 53.7 m/s is normal
    assert all("abn" not in r[7][1] for r in page.tables["sensory"])  # SNAPs preserved in CIM


def test_header_and_impression(cim, cim_html):
    page = Page(cim_html)
    text = " ".join(page.text)
    for item in ("SIM-CIM-01", "2026-03-03", "ICU day", "12", "31.5–33.0 °C", "62 years"):
        assert item in text
    assert "Critical illness myopathy (CIM)" in text and "possible" in text
    assert cim.interpretation.summary in text
    for ev in cim.interpretation.key_evidence():
        assert ev.statement in text
    assert "Stevens et al. 2009" in text  # sources are listed
    assert DISCLAIMER in text and cim.content_sha256 in text and "edx defaults" in text


# ----------------------------------------------------------------------------- figures


def test_one_figure_per_test_in_manifest_order(cim, cim_html):
    page = Page(cim_html)
    assert [f["type"] for f in page.figures] == [t.type.value for t in cim.study.tests]
    assert all(f["svg"] == 1 and not f["errors"] for f in page.figures)


def test_figures_carry_the_markers(cim, cim_html):
    page = Page(cim_html)
    svgs = re.findall(r"<svg.*?</svg>", cim_html, flags=re.S)
    motor = svgs[0]
    for colour in (F.COLOURS["onset"], F.COLOURS["neg_end"], F.COLOURS["peak"], F.COLOURS["area"]):
        assert colour in motor
    assert "wrist" in motor and "elbow" in motor and "ms from stimulus" in motor
    # one F-onset tick per sweep with an F-wave, and nothing else drawn as markers
    f = next(fig for fig in page.figures if fig["type"] == "f_wave")
    assert f["uses"] == cim.measurements.tests[7].fwaves.n_present == 12
    # every accepted MUP template is drawn and labelled with its duration
    mups = cim.measurements.tests[10].mups
    mup_fig = next(fig for fig in page.figures if fig["type"] == "needle_minimal")
    labels = [t for t in mup_fig["text"] if re.fullmatch(r"site \d: \d+\.\d ms", t.strip())]
    assert len(labels) == len(mups.accepted_units) == 28
    # six snippets per site at rest, both kinds
    rest = next(fig for fig in page.figures if fig["type"] == "needle_rest")
    kinds = [t.strip() for t in rest["text"] if t.strip() in ("fib", "PSW")]
    assert len(kinds) == 12 and {"fib", "PSW"} <= set(kinds)


def _cmap_sweep(fs: float = 20000.0, stim: int = 100, amp_v: float = 4e-3, onset_ms: float = 4.0) -> np.ndarray:
    t = (np.arange(1000) - stim) / fs * 1e3
    x = np.where(t > onset_ms, -amp_v * np.sin(np.pi * (t - onset_ms) / 8.0) * np.exp(-(t - onset_ms) / 12.0), 0.0)
    return x + np.random.default_rng(0).normal(0.0, 5e-6, t.size)


def test_response_figure_marks_a_present_response_and_labels_an_absent_one():
    x = _cmap_sweep()
    present = measure_cmap(x, 20000.0, 100)
    assert present.status == "ok"
    noise = np.random.default_rng(1).normal(0.0, 8e-6, 1000)
    absent = measure_cmap(noise, 20000.0, 100)
    assert absent.status == "absent"
    svg = F.response_figure([F.ResponseTrace("distal", x, 20000.0, 100, present),
                             F.ResponseTrace("proximal", noise, 20000.0, 100, absent),
                             F.ResponseTrace("missing", None, None, None, None, "file could not be loaded")],
                            key="t1")
    assert f"amp {present.amplitude_mv:.2f} mV" in svg
    assert f"absent (noise {absent.noise_uv:.1f} µV)" in svg
    assert "not drawn: file could not be loaded" in svg
    assert svg.count(F.COLOURS["area"]) == 1  # only the present response has its area shaded
    only_absent = F.response_figure([F.ResponseTrace("proximal", noise, 20000.0, 100, absent)], key="t2")
    assert F.COLOURS["area"] not in only_absent and F.COLOURS["onset"] not in only_absent


def test_negative_is_drawn_up():
    """The CMAP's negative peak must be the highest point of its trace (SVG y grows downwards)."""
    x = _cmap_sweep()
    r = measure_cmap(x, 20000.0, 100)
    svg = F.response_figure([F.ResponseTrace("site", x, 20000.0, 100, r)], key="t3")
    trace = max(re.findall(r'<path d="([^"]+)"[^>]*stroke: #1b1b1b', svg), key=len)
    ys = np.array([float(v) for v in re.findall(r"[ML] [-\d.]+ ([-\d.]+)", trace)])
    xs = np.array([float(v) for v in re.findall(r"[ML] ([-\d.]+) [-\d.]+", trace)])
    top = xs[np.argmin(ys)]
    span = xs.max() - xs.min()
    t_top = -2.0 + (top - xs.min()) / span * (45.0 + 2.0)
    assert abs(t_top - r.neg_peak_latency_ms) < 1.0


def test_svg_ids_are_unique_per_figure_and_references_resolve(cim_html):
    svgs = re.findall(r"<svg.*?</svg>", cim_html, flags=re.S)
    seen: set[str] = set()
    for svg in svgs:
        ids = set(re.findall(r'\sid="([^"]+)"', svg))
        assert not ids & seen
        seen |= ids
        refs = set(re.findall(r'url\(#([^)]+)\)', svg)) | set(re.findall(r'href="#([^"]+)"', svg))
        assert refs <= ids
    assert len(set(re.findall(r'\sid="([^"]+)"', cim_html))) == len(re.findall(r'\sid="([^"]+)"', cim_html))


def test_rendering_is_deterministic(cim, cim_html):
    assert render_html(cim) == cim_html


def test_envelope_keeps_extremes_in_time_order():
    rng = np.random.default_rng(3)
    y = rng.normal(size=5003)
    y[1234] = 40.0
    y[4321] = -35.0
    t = np.arange(y.size) * 0.05
    tt, yy = F._envelope(t, y, 400)
    assert yy.size <= 402 and tt.size == yy.size
    assert yy.max() == 40.0 and yy.min() == -35.0
    assert np.all(np.diff(tt) >= 0)
    assert set(tt) <= set(t)
    t2, y2 = F._envelope(t[:100], y[:100], 400)
    assert np.array_equal(y2, y[:100])


@pytest.mark.parametrize(("x", "nice"), [(0.73, 0.5), (7.3, 5.0), (2.0, 2.0), (1.0, 1.0), (19.0, 10.0), (450.0, 200.0)])
def test_nice_scale_numbers(x, nice):
    assert F._nice(x) == pytest.approx(nice)


def test_pick_discharges_alternates_kinds_and_caps(cim):
    res = cim.measurements.tests[9].spontaneous["site 2"]
    picked = F.pick_discharges(res, 6)
    assert len(picked) == 6
    assert sum(e.kind == "fibrillation" for e in picked) == 3
    assert [e.time_s for e in picked] == sorted(e.time_s for e in picked)
    assert len(F.pick_discharges(res, 2)) == 2


# ----------------------------------------------------------------------------- escaping


def _toml_string(s: str) -> str:
    return json.dumps(s)  # JSON's escapes of these characters are valid TOML basic strings


def _tampered(folder: Path) -> edx.Study:
    """The study with the payload in every free text the manifest allows, and in the patient
    id (which the manifest's schema forbids, but another source of studies might not)."""
    m = folder / "study.toml"
    text = m.read_text()
    p = _toml_string(PAYLOAD)
    text = text.replace('temperature_c = 33.0\n  [[tests.sites]]\n  name = "wrist"',
                        f'temperature_c = 33.0\nnotes = {p}\nrecording_site = {p}\n  [[tests.sites]]\n'
                        f'  name = {_toml_string("wrist " + PAYLOAD)}', 1)
    # the biopsy text differs from the other payloads: anonymization withholds it wherever it appears
    text = text.replace("handgrip_kg = 5.0", f"handgrip_kg = 5.0\nbiopsy = {_toml_string(PAYLOAD + ' (biopsy)')}")
    m.write_text(text)
    study = edx.read_manifest(m)
    assert study.tests[0].notes == PAYLOAD and study.tests[0].sites[0].name.endswith(PAYLOAD)
    return dataclasses.replace(study, patient=dataclasses.replace(study.patient, id="X" + PAYLOAD))


def test_every_text_is_escaped(study_copy):
    analysis = analyze_study(_tampered(study_copy()))
    html = render_html(analysis)
    assert PAYLOAD not in html
    assert "<script" not in html.lower()
    assert "&<>" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # patient id (header, title), notes, recording site, biopsy, site name (table and figure)
    assert html.count(escaped) >= 6
    svg = re.findall(r"<svg.*?</svg>", html, flags=re.S)[0]
    assert escaped in svg  # the site name drawn in the figure is escaped too
    anon = render_html(analysis, anonymize=True)
    assert PAYLOAD not in anon and "<script" not in anon.lower()
    assert "alert(1)" in anon  # the site name survives anonymization, escaped
    assert anon.count("alert(1)") < html.count("alert(1)")  # notes, biopsy and the id are gone


# ----------------------------------------------------------------------------- anonymization


def test_anonymized_report_drops_names_dates_and_folders(study_copy):
    folder = study_copy(folder="SIM-CIM-01_2026-03-03_ward7")
    m = folder / "study.toml"
    m.write_text(m.read_text().replace('side = "R"\ntemperature_c = 31.5',
                                       'side = "R"\ntemperature_c = 31.5\nnotes = "seen by Dr Jones"', 1))
    analysis = analyze_study(folder)
    plain = render_html(analysis)
    assert "SIM-CIM-01" in plain and "2026-03-03" in plain and "Dr Jones" in plain  # the check below can fail
    html = render_html(analysis, anonymize=True, salt="s3cret")
    for secret in ("SIM-CIM-01", "2026-03-03", "03.03.2026", "03/03/2026", "ward7", str(folder.parent),
                   "Dr Jones"):
        assert secret not in html, secret
    assert pseudonym("SIM-CIM-01", "s3cret") in html
    assert "withheld" in html
    assert len(Page(html).figures) == len(analysis.study.tests)


def test_anonymized_cim_report(cim, cim_html_anon):
    assert "SIM-CIM-01" not in cim_html_anon and "2026-03-03" not in cim_html_anon
    assert str(STUDIES) not in cim_html_anon and "sample_data" not in cim_html_anon
    page = Page(cim_html_anon)
    assert len(page.tables["motor"]) == 8 and all(f["svg"] == 1 for f in page.figures)


# ----------------------------------------------------------------------------- failures


def test_missing_data_file_shows_the_test_error(study_copy):
    folder = study_copy()
    (folder / "ulnar-sensory-R.edf").unlink()
    analysis = analyze_study(folder)
    err = analysis.measurements.tests[5].error
    assert err and "ulnar-sensory-R.edf" in err
    html = render_html(analysis)
    page = Page(html)
    fig = page.figures[5]
    assert fig["svg"] == 0 and fig["errors"] and "ulnar-sensory-R.edf" in fig["errors"][0]
    assert sum(f["svg"] for f in page.figures) == len(page.figures) - 1
    row = page.tables["sensory"][1]
    assert row[0][0] == "ulnar" and "not measured" in row[-1][0] and "err" in row[-1][1]
    anon = render_html(analysis, anonymize=True)
    assert str(folder) not in anon and "ulnar-sensory-R.edf" in anon


def test_file_lost_after_measuring_shows_the_site_error(study_copy):
    folder = study_copy(folder="SIM-CIM-01-files")
    analysis = analyze_study(folder)
    (folder / "peroneal-motor-R.edf").unlink()
    for anonymize in (False, True):
        page = Page(render_html(analysis, anonymize=anonymize))
        fig = page.figures[2]
        assert fig["svg"] == 1  # the figure is drawn, its rows say they could not be
        assert len(fig["errors"]) == 2 and all("peroneal-motor-R.edf" in e for e in fig["errors"])
        assert "not drawn: file could not be loaded" in " ".join(fig["text"])
        if anonymize:
            assert all(str(folder) not in e and "SIM-CIM-01" not in e for e in fig["errors"])
        assert all(f["svg"] == 1 for i, f in enumerate(page.figures) if i != 2)


def test_a_figure_that_fails_to_draw_does_not_cost_the_report(cim, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("drawing <b>failed</b>")

    monkeypatch.setattr(F, "draw_responses", broken)
    html = render_html(cim)
    page = Page(html)
    drawn = [f for f in page.figures if f["svg"]]
    assert len(drawn) == 4  # F-waves, needle rest, MUPs, interference
    assert "figure not drawn: RuntimeError: drawing <b>failed</b>" in page.figures[0]["errors"][0]
    assert "<b>failed" not in html


# ----------------------------------------------------------------------------- self-contained


def test_report_is_self_contained(cim_html):
    page = Page(cim_html)
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed", "img", "base")]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset", "data"):
                assert not re.match(r"\s*(https?:)?//", value or ""), (tag, name, value)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", cim_html)
    assert "@import" not in cim_html
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    assert "@page" in cim_html and "A4" in cim_html


@pytest.mark.parametrize("name", ["cip", "cinm", "normal", "demyelinating", "nmj_blockade", "absent_responses",
                                  "artifacts", "cold_limb"])
def test_every_sample_study_renders(name):
    analysis = analyze_study(STUDIES / name)
    page = Page(render_html(analysis, anonymize=True))
    assert len(page.figures) == len(analysis.study.tests)
    assert all(f["svg"] == 1 and not f["errors"] for f in page.figures)
    types = {t.type.value for t in analysis.study.tests}
    if "rns" in types:
        assert len(page.tables["rns"]) == sum(t.type.value == "rns" for t in analysis.study.tests)
    if name == "absent_responses":
        assert "absent (noise" in " ".join(page.text)


def test_write_study_outputs_writes_the_report(cim, tmp_path):
    written = write_study_outputs(cim, tmp_path, anonymize=True, salt="x")
    html = written["html"].read_text(encoding="utf-8")
    assert html == render_html(cim, anonymize=True, salt="x")
    assert "SIM-CIM-01" not in html


def test_a_velocity_not_reported_says_why_in_the_motor_table(tmp_path):
    """A distance typed ten times too long: the segment's velocity cell is empty and the
    proximal site's notes say why (it used to vanish between the measurement and the report)."""
    import shutil

    dst = tmp_path / "study"
    shutil.copytree(STUDIES / "normal", dst)
    text = (dst / "study.toml").read_text()
    head = text.index('id = "median-motor-R"')
    elbow = text.index('name = "elbow"', head)
    k = text.index("distance_mm = ", elbow)
    end = text.index("\n", k)
    (dst / "study.toml").write_text(text[:k] + "distance_mm = 2300" + text[end:])
    html = render_html(analyze_study(dst / "study.toml"))
    assert "faster than any human nerve" in html
    normal = render_html(analyze_study(STUDIES / "normal" / "study.toml"))
    assert "faster than any human nerve" not in normal


def test_a_later_sensory_site_shows_the_distance_its_velocity_uses(two_site_sensory_study):
    """The manifest gives a later sensory site's segment; its velocity uses the whole path, and
    the report's distance column shows that path (it showed the segment, so distance / onset
    latency in the table did not give the velocity printed beside it)."""
    page = Page(render_html(analyze_study(two_site_sensory_study)))
    table = page.tables["sensory"]
    i = next(k for k, r in enumerate(table) if r[0][0] == "median")
    rows = table[i:i + 2]
    assert [(r[3][0], r[4][0]) for r in rows] == [("stim", "130"), ("palm", "210")]
    on, cv = float(rows[1][5][0]), float(rows[1][9][0])
    assert cv == pytest.approx(210.0 / on, rel=0.01)
