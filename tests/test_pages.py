"""The pages people look at, checked in headless Chromium: the catalog and the validation report."""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.run import Config, build

from .browser import open_page
from .conftest import DATASET, HEADER, REPO, SCHEMAS, Workspace, entry

SHOTS = REPO / "test-output"


class Elements(HTMLParser):
    """Collects tags with their attributes, and the text of table rows by class."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, tag: str, cls: str = "") -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and (not cls or cls in a.get("class", "").split())]


def parse(dom: str) -> Elements:
    parser = Elements()
    parser.feed(dom)
    return parser


def test_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<html><body><script>console.error("boom")</script><img src="missing.png"></body></html>')
    assert open_page(page).console, "a page that logs an error must not pass as clean"


def test_catalog_page_in_a_browser(sample_raw: Path, tmp_path: Path) -> None:
    published = tmp_path / "published"
    build(Config(sample_raw, published, tmp_path / "reports", SCHEMAS))
    index = published / "index.html"
    page = open_page(index, screenshot=SHOTS / "index.png")
    assert page.console == []
    dom = parse(page.dom)
    links = [a["href"] for a in dom.having("a", "download")]
    assert {Path(h).name for h in links} == {"entries.csv", "entries.xlsx", "entries.json", "datapackage.json"}
    for href in links:
        assert (published / href).is_file(), href
    schema = json.loads((SCHEMAS / DATASET / "entries.schema.json").read_text(encoding="utf-8"))
    assert all(f"<code>{f['name']}</code>" in page.dom for f in schema["fields"])
    assert all(f["title"] in page.dom for f in schema["fields"])
    assert len(dom.having("svg", "chart")) >= 2
    assert len(dom.having("rect", "bar")) >= 10  # ten provinces in the sample, and the results
    assert "ผลงานที่ส่งเข้าประกวดนวัตกรรมท้องถิ่นดิจิทัล" in page.dom and "Creative Commons" in page.dom
    assert (SHOTS / "index.png").stat().st_size > 20_000
    assert "081-234-5678" not in index.read_text(encoding="utf-8")


def test_catalog_counts_are_the_published_rows(sample_raw: Path, tmp_path: Path) -> None:
    """The row count and every bar of the charts agree with the published CSV itself."""
    published = tmp_path / "published"
    build(Config(sample_raw, published, tmp_path / "reports", SCHEMAS))
    with (published / DATASET / "entries.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    page = (published / "index.html").read_text(encoding="utf-8")
    assert f"<b>{len(rows):,}</b>แถว" in page
    for field in ("result", "province", "organization_type"):
        counts = Counter(r[field] or "(ว่าง)" for r in rows)
        assert len(counts) > 1 or field == "result"  # the sample holds the ten selected entries
        for label, n in counts.items():
            assert f"<title>{html.escape(label)}: {n}</title>" in page, (field, label, n)


def test_validation_report_in_a_browser(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER, entry("V1", province="ภูเก้ต"), entry("V2", year="สองพัน"), entry("V3", result="อาจจะ")])
    result = build(ws.config)[0]
    assert result.status == "invalid" and result.report and result.report.suffix == ".html"
    assert result.report.parent == ws.reports / DATASET
    page = open_page(result.report, screenshot=SHOTS / "validation.png", size="1200,1400")
    assert page.console == []
    dom = parse(page.dom)
    report = json.loads(result.report.with_suffix(".json").read_text(encoding="utf-8"))
    assert len(dom.having("tr", "error")) == len(report["errors"]) == len(result.errors)
    assert "a.xlsx › ผลงาน › E2" in page.dom and "ภูเก็ต" in page.dom  # the cell and the suggestion
    assert len(dom.having("section", "error-group")) == len({(e["type"], e.get("rule")) for e in report["errors"]})


@pytest.mark.parametrize("name", ["index.png", "validation.png"])
def test_screenshots_are_left_for_a_person(name: str) -> None:
    assert (SHOTS / name).is_file()
