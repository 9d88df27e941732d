"""The pages people look at, checked in headless Chromium: the catalog and the validation report."""

from __future__ import annotations

import csv
import html
import json
import random
import re
from collections import Counter
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    links = [a["href"] for a in dom.having("a", "download") if a["href"].startswith(f"{DATASET}/")]
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


TRAINING = "training-per-province"
TRAINING_TITLE = "สถิติการอบรมรายจังหวัด (ข้อมูลทดสอบ)"


def training_schema(schemas: Path) -> None:
    """A second dataset of another shape, its schema written by hand: numbers, a list, a yes/no."""
    provinces = json.loads((SCHEMAS / DATASET / "entries.schema.json").read_text(encoding="utf-8"))["fields"][4]
    folder = schemas / TRAINING
    folder.mkdir(parents=True)
    descriptor = {
        "name": TRAINING,
        "title": TRAINING_TITLE,
        "description": "ตารางทดสอบที่สร้างขึ้นในการทดสอบ",
        "licenses": [{"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0"}],
        "resources": [
            {"name": "training", "path": "training.csv", "title": "การอบรม", "schema": "training.schema.json"}
        ],
    }
    schema = {
        "fields": [
            {"name": "province", "type": "string", "title": "จังหวัด", "constraints": provinces["constraints"]},
            {
                "name": "course",
                "type": "string",
                "title": "หลักสูตร",
                "constraints": {"required": True, "enum": ["ข้อมูลเปิด", "ความปลอดภัยไซเบอร์"]},
            },
            {"name": "participants", "type": "integer", "title": "จำนวนผู้เข้าอบรม", "constraints": {"minimum": 0}},
            {"name": "budget_baht", "type": "number", "title": "งบประมาณ (บาท)", "constraints": {"minimum": 0}},
            {"name": "online", "type": "boolean", "title": "อบรมออนไลน์"},
        ],
        "primaryKey": ["province", "course"],
    }
    mapping = {"resource": "training", "fields": {"province": {"normalize": "province"}}}
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    (folder / "training.schema.json").write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    (folder / "fields.yaml").write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")


TRAINING_ROWS = [
    ["จังหวัด", "หลักสูตร", "จำนวนผู้เข้าอบรม", "งบประมาณ (บาท)", "อบรมออนไลน์"],
    ["เชียงใหม่", "ข้อมูลเปิด", 30, 12000.5, "true"],
    ["เชียงใหม่", "ความปลอดภัยไซเบอร์", 25, 8000, "false"],
    ["ขอนแก่น", "ข้อมูลเปิด", 40, 15000, "true"],
    ["สงขลา", "ข้อมูลเปิด", 12, 4000, "false"],
]


@pytest.fixture
def two_datasets(sample_raw: Path, tmp_path: Path) -> Config:
    import shutil

    from .conftest import write_xlsx

    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    training_schema(schemas)
    for folder in sample_raw.iterdir():  # the contest and the training table only
        if folder.name != DATASET:
            shutil.rmtree(folder)
    write_xlsx(sample_raw / TRAINING / "training.xlsx", {"อบรม": TRAINING_ROWS})
    return Config(sample_raw, tmp_path / "published", tmp_path / "reports", schemas)


def sections(page: str) -> dict[str, str]:
    """The catalog's section of each dataset, by folder name."""
    parts = page.split('<section class="card dataset"')[1:]
    return {part.split('data-dataset="', 1)[1].split('"', 1)[0]: part for part in parts}


def test_catalog_lists_each_dataset_with_its_own_words_and_charts(two_datasets: Config) -> None:
    results = build(two_datasets)
    assert [r.status for r in results] == ["published", "published"], [i.line() for r in results for i in r.errors]
    index = two_datasets.published_dir / "index.html"
    page = open_page(index, screenshot=SHOTS / "index-two-datasets.png")
    assert page.console == []
    by_dataset = sections(index.read_text(encoding="utf-8"))
    assert set(by_dataset) == {DATASET, TRAINING}
    training = by_dataset[TRAINING]
    assert TRAINING_TITLE in training and "<b>4</b>แถว" in training
    assert "ผลงาน" not in training and "Entries" not in training, "no contest wording on another dataset"
    # charts from the schema: rows by each list (province, course) and the yes/no; sums by the first list
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", training)
    assert captions == [
        "จำนวนแถว ตามจังหวัด",
        "จำนวนแถว ตามหลักสูตร",
        "จำนวนแถว ตามอบรมออนไลน์",
        "ผลรวมจำนวนผู้เข้าอบรม ตามจังหวัด",
        "ผลรวมงบประมาณ (บาท) ตามจังหวัด",
    ]
    with (two_datasets.published_dir / TRAINING / "training.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    budget: Counter[str] = Counter()
    for r in rows:
        budget[r["province"]] += float(r["budget_baht"])
    for province, total in budget.items():
        shown = f"{int(total):,}" if total.is_integer() else f"{total:,}"
        assert f"<title>{province}: {shown}</title>" in training, (province, shown)
    # downloads and the data dictionary with its constraints
    assert all((two_datasets.published_dir / h).is_file() for h in re.findall(r'href="([^"]+)"', training))
    assert "ไม่น้อยกว่า 0" in training and "คีย์หลัก (ไม่ซ้ำ)" in training and "ความปลอดภัยไซเบอร์" in training
    assert "<code>budget_baht</code>" in training and "งบประมาณ (บาท)" in training
    contest = by_dataset[DATASET]
    assert "จำนวนแถว ตามจังหวัด" in contest and "ผลรวม" not in contest


def test_validation_report_is_thai_with_titles_and_hints(two_datasets: Config) -> None:
    from .conftest import write_xlsx

    rows = [list(r) for r in TRAINING_ROWS]
    rows[1][2] = "สามสิบ"  # not a number
    rows[2][2] = -5  # below the minimum
    rows[3][1] = "การตลาด"  # not in the list
    write_xlsx(two_datasets.raw_dir / TRAINING / "training.xlsx", {"อบรม": rows})
    result = next(r for r in build(two_datasets) if r.name == TRAINING)
    assert result.status == "invalid" and result.report
    page = open_page(result.report, screenshot=SHOTS / "validation-training.png", size="1200,1200")
    assert page.console == []
    titles = re.findall(r'<h2 class="bad">(.*?) <span', page.dom)
    assert sorted(titles) == sorted(["อ่านเป็นจำนวนเต็มไม่ได้", "ค่าน้อยกว่าที่กำหนด", "ค่าไม่อยู่ในรายการที่อนุญาต"])
    assert all(re.fullmatch(r"[^a-zA-Z]+", t) for t in titles), "error titles in Thai, no rule names"
    assert "จำนวนผู้เข้าอบรม <code>participants</code>" in page.dom  # the Thai title, the name beside
    assert "ไม่น้อยกว่า 0" in page.dom and "ค่าใดค่าหนึ่งใน: ข้อมูลเปิด, ความปลอดภัยไซเบอร์" in page.dom
    assert page.dom.count('class="hint"') == 3
    assert "training.xlsx › อบรม › C2" in page.dom and "training.xlsx › อบรม › C3" in page.dom


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("type-error", "type integer"),
        ("type-error", "type number"),
        ("type-error", "type boolean"),
        ("type-error", "type geopoint"),
        *(
            ("constraint-error", r)
            for r in ("required", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
        ),
        *(("constraint-error", r) for r in ("minLength", "maxLength", "pattern", "a known district", "provinces")),
        ("constraint-error", "a known subdistrict"),
        ("unique-error", "unique"),
        ("primary-key", "primaryKey"),
        ("foreign-key", "foreignKeys"),
        ("blank-row", ""),
        ("row-constraint", "district lies in the row's province"),
        ("row-constraint", "province agrees with organization_name"),
        ("missing-label", "required column"),
        ("duplicate-label", "one column per field"),
        ("source-error", ""),
        ("missing-header", ""),
        ("empty-table", ""),
        ("personal-data", "no national id"),
        ("duplicate-row", ""),
        ("extra-label", ""),
        ("repeated-header", ""),
        ("unfilled-metadata", ""),
        ("no-schema", ""),
    ],
)
def test_every_kind_of_issue_has_a_thai_title_and_hint(kind: str, rule: str) -> None:
    from pipeline.issues import Issue
    from pipeline.pages import describe_issue

    field = {"name": "amount", "title": "จำนวนเงิน", "type": "integer", "constraints": {"minimum": 0, "maximum": 9}}
    text = describe_issue(Issue("error", kind, "an English message", field="amount", rule=rule), {"amount": field})
    for part in ("title", "expected"):
        assert re.search("[\u0e01-\u0e4e]", text[part]), (part, text)
        assert "English" not in text[part] and kind not in text[part], (part, text)
    assert re.search("[\u0e01-\u0e4e]", text["hint"]), text


# Kebab-case texts in modules that build issues with a computed type, which are not issue types
NOT_ISSUE_TYPES = {"field-error"}  # validate.py: a Frictionless schema error it filters, never an Issue


def emitted_issue_types() -> set[str]:
    """Every issue type the pipeline can emit, read from its source: the type of each `Issue(...)`
    written as text, and, in a module that passes a computed type, every kebab-case text in it."""
    import ast

    found: set[str] = set()
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        computed = False
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or getattr(node.func, "id", getattr(node.func, "attr", "")) != "Issue":
                continue
            kind = node.args[1] if len(node.args) > 1 else next(k.value for k in node.keywords if k.arg == "type")
            if isinstance(kind, ast.Constant):
                found.add(kind.value)
            elif path.name != "issues.py":  # issues.py only copies the type of issues it counts
                computed = True
        if computed:
            found |= {
                n.value
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.fullmatch(r"[a-z]+(-[a-z]+)+", n.value)
            } - NOT_ISSUE_TYPES
    return found


def test_the_source_scan_finds_the_issue_types() -> None:
    """The scan sees literal types (cells.py, read.py) and computed ones (validate.py's keys and findings)."""
    found = emitted_issue_types()
    assert {"formula-injection", "source-skipped", "primary-key", "foreign-key", "blank-row", "type-error"} <= found


def test_every_issue_type_the_pipeline_emits_has_thai_wording() -> None:
    """A new issue type without a Thai title, expected value and hint in messages.th.yaml fails here."""
    import yaml

    from pipeline.issues import Issue
    from pipeline.pages import TEMPLATES, describe_issue

    wording = yaml.safe_load((TEMPLATES / "messages.th.yaml").read_text(encoding="utf-8"))["types"]
    missing = sorted(t for t in emitted_issue_types() if t not in wording)
    assert not missing, f"no Thai wording in pipeline/templates/messages.th.yaml for: {', '.join(missing)}"
    for kind in emitted_issue_types():
        text = describe_issue(Issue("error", kind, "an English message"), {})
        for part in ("title", "expected", "hint"):
            assert re.search("[\u0e01-\u0e4e]", text[part]) and kind not in text[part], (kind, part, text)


def test_a_district_field_is_charted_as_its_top_values_and_the_rest(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A field with `enum_from: districts` (~920 allowed values, dozens present) or any long list is
    charted as its CHART_TOP most frequent values and one "อื่นๆ" bar for the rest; the fields with
    few values present come first, and sums go by the first of them, not by the districts."""
    from pipeline.pages import CHART_TOP

    from .test_build_shapes import generated_rows, run

    keyed, _expected = generated_rows(300, seed=5)
    code, _out, err = run(tmp_path, keyed, capsys)
    assert code == 0, err
    folder = tmp_path / "pub" / "training"
    with (folder / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    districts = Counter(r["district"] for r in rows)
    assert len(districts) > 3 * CHART_TOP, "the generated rows spread over many districts"
    page = sections((tmp_path / "pub" / "index.html").read_text(encoding="utf-8"))["training"]
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions[0] == "จำนวนแถว ตามอบรมออนไลน์", captions  # two values present: first
    assert "จำนวนแถว ตามอำเภอ/เขต" in captions and "ผลรวมงบประมาณ (บาท) ตามอบรมออนไลน์" in captions
    figures = dict(zip(captions, page.split("<figcaption>")[1:], strict=True))
    bars = re.findall(r"<title>(.*?): ([0-9,]+)</title>", figures["จำนวนแถว ตามอำเภอ/เขต"])
    assert len(bars) == CHART_TOP + 1 and bars[-1][0] == "อื่นๆ"
    top = districts.most_common()
    assert {html.unescape(label) for label, _ in bars[:-1]} <= {d for d, _ in top}
    assert [int(n.replace(",", "")) for _, n in bars[:-1]] == [n for _, n in top[:CHART_TOP]]
    assert int(bars[-1][1].replace(",", "")) == sum(n for _, n in top[CHART_TOP:])


def test_choose_charts_puts_few_valued_fields_first() -> None:
    from pipeline.pages import FEW_VALUES, choose_charts

    schema = {
        "fields": [
            {"name": "district", "type": "string", "constraints": {"enum": [f"d{i}" for i in range(920)]}},
            {"name": "kind", "type": "string", "constraints": {"enum": ["a", "b", "c"]}},
            {"name": "amount", "type": "number"},
        ]
    }
    counted, summed = choose_charts(schema, {"district": FEW_VALUES + 1, "kind": 3})
    assert [f["name"] for f in counted] == ["kind", "district"]
    assert [(a["name"], c["name"]) for a, c in summed] == [("amount", "kind")]
    counted, summed = choose_charts(schema, {"district": FEW_VALUES, "kind": 3})
    assert [f["name"] for f in counted] == ["district", "kind"] and summed[0][1]["name"] == "district"


def test_the_canonical_number_rule_has_its_own_thai_title() -> None:
    from pipeline.issues import Issue
    from pipeline.pages import describe_issue

    issue = Issue("error", "type-error", "not a finite number", field="amount", rule="canonical number")
    text = describe_issue(issue, {"amount": {"name": "amount", "type": "number"}})
    assert "NaN" in text["title"] and re.search("[\u0e01-\u0e4e]", text["hint"]), text


def _in_notation(cents: int, r: random.Random) -> str:
    """A number of baht as a person types it in a schema with decimalChar ",", groupChar "." and
    bareNumber false: 1234567 cents -> "฿12.345,67" or "12345,67 บาท"."""
    whole, part = divmod(abs(cents), 100)
    digits = f"{whole:,}".replace(",", ".") if r.random() < 0.5 else str(whole)
    text = ("-" if cents < 0 else "") + digits + (f",{part:02d}" if part or r.random() < 0.3 else "")
    return r.choice(["", "฿"]) + text + r.choice(["", " บาท"]) if cents >= 0 else text


def _expected_bars(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Bars as the page shows them: the largest first, a tie in order of first appearance."""
    ordered = sorted(enumerate(values.items()), key=lambda item: (-item[1][1], item[0]))
    return [(label, f"{value:,}") for _, (label, value) in ordered]


@pytest.mark.parametrize("block_bytes", [4096, 64 << 20])
def test_catalog_sums_amounts_in_the_schema_notation_by_category(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """A published table whose amounts are written in the schema's own notation: each category's
    rows are counted and its amounts summed (missing cells left out), a category whose amounts
    are all missing has no bar in the sum chart, an empty or missing category is "(ว่าง)", and
    ties come in order of first appearance: the same page whether the CSV is read in 4 KB blocks
    (a label first seen in a late block) or in one block. Expected values are worked out here
    from the rows, in exact decimals."""
    from pipeline import pages

    r = random.Random(11)
    kinds = ["ก่อสร้าง"] * 900 + ["อบรม"] * 700 + ["", "ไม่ระบุ"] * 350 + ["จัดซื้อ"] * 500
    r.shuffle(kinds)
    kinds = ["อบรม", "", *kinds, *["ซ่อมแซม"] * 500]  # ซ่อมแซม ties จัดซื้อ and is first seen after row 3,000
    rows, amounts, people = [], {}, {}
    for n, kind in enumerate(kinds):
        label = "(ว่าง)" if kind in ("", "ไม่ระบุ") else kind
        cents = r.choice([r.randint(-5_000, 5_000), r.randint(0, 10**9)])
        cents = None if kind == "จัดซื้อ" or r.random() < 0.1 else cents
        heads = None if r.random() < 0.2 else r.randint(0, 40)
        amounts.setdefault(label, [])
        people.setdefault(label, [])
        if cents is not None:
            amounts[label].append(Decimal(cents) / 100)
        if heads is not None:
            people[label].append(heads)
        rows.append(
            [
                f"P{n:05d}",
                kind,
                r.choice(["", "-"]) if cents is None else _in_notation(cents, r),
                r.choice(["", "n/a"]) if heads is None else f"{heads} คน",
                str(r.randint(2560, 2567)),
            ]
        )
    folder = tmp_path / "pub" / "projects"
    folder.mkdir(parents=True)
    with (folder / "projects.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["id", "kind", "budget", "people", "fiscal_year"], *rows])
    notation = {"decimalChar": ",", "groupChar": ".", "bareNumber": False}
    schema = {
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "kind", "type": "string", "title": "ประเภท", "constraints": {"enum": sorted(set(kinds) - {""})}},
            {"name": "budget", "type": "number", "title": "งบประมาณ", **notation, "missingValues": ["", "-"]},
            {"name": "people", "type": "integer", "title": "ผู้เข้าร่วม", "bareNumber": False},
            {"name": "fiscal_year", "type": "integer", "constraints": {"minimum": 2500}},
        ],
        "missingValues": ["", "ไม่ระบุ", "n/a"],
        "primaryKey": ["id"],
    }
    package = {"name": "projects", "resources": [{"name": "projects", "path": "projects.csv", "schema": schema}]}
    (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(pages, "CATALOG_BLOCK_BYTES", block_bytes)

    page = sections(pages.write_catalog(tmp_path / "pub").read_text(encoding="utf-8"))["projects"]

    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions == ["จำนวนแถว ตามประเภท", "ผลรวมงบประมาณ ตามประเภท", "ผลรวมผู้เข้าร่วม ตามประเภท"]
    figures = dict(zip(captions, page.split("<figcaption>")[1:], strict=True))
    bar = r"<title>(.*?): (-?[0-9,.]+)</title>"
    shown = {c: [(html.unescape(a), b) for a, b in re.findall(bar, figures[c])] for c in captions}
    counted = Counter("(ว่าง)" if kind in ("", "ไม่ระบุ") else kind for kind in kinds)
    assert shown["จำนวนแถว ตามประเภท"] == _expected_bars(dict(counted))
    assert [label for label, _ in shown["จำนวนแถว ตามประเภท"]] == ["ก่อสร้าง", "อบรม", "(ว่าง)", "จัดซื้อ", "ซ่อมแซม"]
    budget = {label: sum(found) for label, found in amounts.items() if found}
    assert "จัดซื้อ" not in budget and all(len(amounts[label]) > 100 for label in budget)
    assert shown["ผลรวมงบประมาณ ตามประเภท"] == _expected_bars(
        {label: int(total) if total == total.to_integral_value() else float(total) for label, total in budget.items()}
    )
    assert shown["ผลรวมผู้เข้าร่วม ตามประเภท"] == _expected_bars({label: sum(found) for label, found in people.items()})


NOTATIONS = [
    {"type": "integer"},
    {"type": "integer", "bareNumber": False},
    {"type": "number"},
    {"type": "number", "decimalChar": ","},
    {"type": "number", "groupChar": ","},
    {"type": "number", "decimalChar": ",", "groupChar": "."},
    {"type": "number", "decimalChar": ",", "groupChar": " ", "bareNumber": False},
    {"type": "number", "groupChar": "'", "bareNumber": False},
]
# around a number: signs, spaces, words, currency signs, digits of other scripts
AROUND = ["-", "+", ".", ",", " ", "'", "\t", "\n", "\u00a0", "\x1c", "e", "๑", "٣", "²", "½", "฿", "$", "€", "%", "บาท", "NaN"]
SEPARATORS = [",", ".", " ", "'", "", "_"]


@st.composite
def amount_cells(draw: st.DrawFn) -> str:
    """A number's digits in groups and a decimal part, each separator any of several, with
    text before and after it, or a missing value."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["", "-", "NA"]))
    groups = draw(st.lists(st.from_regex(r"[0-9]{1,4}", fullmatch=True), min_size=1, max_size=4))
    digits = draw(st.sampled_from(SEPARATORS)).join(groups)
    if draw(st.booleans()):
        digits += draw(st.sampled_from(SEPARATORS)) + draw(st.from_regex(r"[0-9]{1,3}", fullmatch=True))
    around = st.lists(st.sampled_from(AROUND), max_size=2).map("".join)
    return draw(around) + draw(st.sampled_from(["", "-"])) + digits + draw(around)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(notation=st.sampled_from(NOTATIONS), cells=st.lists(amount_cells(), min_size=1, max_size=40))
def test_catalog_reads_each_amount_as_frictionless_does(notation: dict[str, Any], cells: list[str]) -> None:
    """Each cell of an amount column is the number Frictionless reads from it in the schema's
    notation (missing, unreadable or a yes/no: no number), whichever way the catalog reads it."""
    from pipeline import pages
    from pipeline.validate import _frictionless_schema

    schema = {"fields": [{"name": "amount", **notation}], "missingValues": ["", "-", "NA"]}
    reader = pages._readers(schema)["amount"]
    field = _frictionless_schema(schema).fields[0]
    expected = []
    for cell in cells:
        value = None if cell in ("", "-", "NA") else field.create_value_reader()(cell)
        expected.append(None if value is None or isinstance(value, bool) else float(value))
    got = pages._amounts(pa.array(cells, type=pa.string()), reader).tolist()
    assert [None if v != v else v for v in got] == [None if v is None or v != v else v for v in expected]
