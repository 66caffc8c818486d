"""Fixtures of the report tests: the CIM sample analysed once, copies to tamper with, an
HTML reader that collects what the tests look at."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from edx.report import StudyAnalysis, analyze_study
from edx.report.html import render_html

from ..conftest import SAMPLE_DATA

STUDIES = SAMPLE_DATA / "studies"
#: the script tag and every character HTML must escape
PAYLOAD = "<script>alert(1)</script>&<>\"'"


@pytest.fixture(scope="session")
def cim() -> StudyAnalysis:
    """The bundled CIM study, measured and interpreted once per session."""
    return analyze_study(STUDIES / "cim")


@pytest.fixture(scope="session")
def cim_html(cim: StudyAnalysis) -> str:
    return render_html(cim)


@pytest.fixture(scope="session")
def cim_html_anon(cim: StudyAnalysis) -> str:
    return render_html(cim, anonymize=True, salt="lab-secret")


@pytest.fixture
def study_copy(tmp_path: Path) -> Callable[..., Path]:
    """Copy a sample study into ``tmp_path`` (under a folder name of choice); returns its folder."""

    def make(name: str = "cim", folder: str = "study") -> Path:
        dst = tmp_path / folder
        shutil.copytree(STUDIES / name, dst)
        return dst

    return make


class Page(HTMLParser):
    """What the tests look at in a report: tables (rows of cell texts and classes), figures,
    attributes that load something, tags and the text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self.figures: list[dict] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._cell_cls = ""
        self._in_tbody = False
        self._fig_depth = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        cls = (a.get("class") or "").split()
        if tag == "table" and "data" in cls:
            self._table = next(c for c in cls if c != "data")
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._table and self._in_tbody:
            self.tables[self._table].append([])
        elif tag == "td" and self._table and self._in_tbody:
            self._cell, self._cell_cls = [], a.get("class") or ""
        elif tag == "figure":
            self.figures.append({"id": a.get("id"), "type": a.get("data-test-type"), "svg": 0, "uses": 0,
                                 "errors": [], "text": []})
        elif tag == "svg" and self.figures:
            self.figures[-1]["svg"] += 1
        elif tag == "use" and self.figures:
            self.figures[-1]["uses"] += 1
        elif tag == "div" and "error" in cls and self.figures:
            self.figures[-1]["errors"].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.tables[self._table][-1].append(("".join(self._cell).strip(), self._cell_cls))
            self._cell = None
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self.figures:
            self.figures[-1]["text"].append(data)
            if self.figures[-1]["errors"] and self.lasttag == "div":
                self.figures[-1]["errors"][-1] += data

    def column(self, table: str, index: int) -> list[str]:
        return [row[index][0] for row in self.tables[table]]
