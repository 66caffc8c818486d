"""The CIM report opened in headless Chromium: it renders (a screenshot that is not blank)
and its DOM holds the tables, the impression and the figures.

Skipped only when Chromium is missing outside CI; in CI (``CI`` set) a missing Chromium
is a failure: ``.ci/run`` installs Debian's ``chromium`` package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .conftest import Page

_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync")
_TIMEOUT_S = 120


def _chromium() -> str:
    for c in _CANDIDATES:
        found = c if os.path.isabs(c) and os.access(c, os.X_OK) else shutil.which(c)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed but CI is set: install Debian's 'chromium' package "
                    "(.ci/run does: apt-get install -y --no-install-recommends chromium)")
    pytest.skip("Chromium is not installed (set CI to make this a failure)")


@pytest.fixture(scope="module")
def rendered(cim_html: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    exe = _chromium()
    tmp = tmp_path_factory.mktemp("chromium")
    report = tmp / "report.html"
    report.write_text(cim_html, encoding="utf-8")
    png = tmp / "report.png"

    def run(*args: str, profile: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *_FLAGS, f"--user-data-dir={tmp / profile}", *args, report.as_uri()],
                              capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)

    shot = run(f"--screenshot={png}", "--window-size=1280,2400", profile="shot")
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    dom = run("--dump-dom", profile="dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    return {"png": png, "dom": dom.stdout}


def test_screenshot_is_not_blank(rendered):
    from matplotlib.image import imread

    img = imread(rendered["png"])
    assert img.shape[0] == 2400 and img.shape[1] == 1280
    rgb = img[..., :3]
    if rgb.dtype != np.uint8:
        rgb = np.round(rgb * 255).astype(np.uint8)
    ink = (rgb < 235).any(axis=-1)
    assert 0.02 < ink.mean() < 0.6, ink.mean()  # text, tables and rules, on a white page
    q = (rgb // 16).astype(np.int32)
    colours = np.count_nonzero(np.bincount((q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]).ravel(), minlength=4096))
    assert colours >= 12, colours  # black text, grey rules, the red marks of abnormal values, ...
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    assert red.sum() > 50  # abnormal values of the motor table are shown in red


def test_dom_has_the_tables_the_impression_and_the_figures(rendered, cim):
    page = Page(rendered["dom"])
    for table in ("motor", "sensory", "fwave", "dms", "needle-rest", "needle-mup", "needle-max", "findings"):
        assert page.tables.get(table), table
    assert len(page.tables["motor"]) == 8
    text = " ".join(page.text)
    assert "Impression" in text and "Critical illness myopathy (CIM)" in text
    assert cim.interpretation.summary in text
    assert len(page.figures) == len(cim.study.tests)
    assert all(f["svg"] == 1 for f in page.figures)
    assert "<script" not in rendered["dom"].lower()
