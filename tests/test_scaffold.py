"""`python -m pipeline new`: a schema drafted from a workbook, then built with no code."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml
from frictionless import describe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import scaffold
from pipeline.cli import main
from pipeline.read import SheetGrid

from .conftest import SCHEMAS, folder_args, write_csv, write_xlsx


class Place:
    """An empty project: schemas/ with only the shared reference tables, an empty RAW_DIR."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.schemas = root / "schemas"
        self.raw = root / "raw"
        self.published = root / "published"
        self.reports = root / "reports"
        shutil.copytree(SCHEMAS / "reference", self.schemas / "reference")

    def new(self, name: str, source: Path, *extra: str) -> int:
        return main(
            ["new", name, "--from", str(source), "--schemas-dir", str(self.schemas), "--raw-dir", str(self.raw), *extra]
        )

    def build(self, *extra: str) -> int:
        return main(
            ["build", *folder_args(self.raw, self.published, self.reports, self.schemas), *extra]
        )

    def schema(self, name: str) -> dict[str, dict]:  # type: ignore[type-arg]
        """field name -> its Table Schema entry, plus "" -> the schema itself."""
        document = json.loads((self.schemas / name / f"{name}.schema.json").read_text(encoding="utf-8"))
        return {"": document, **{f["name"]: f for f in document["fields"]}}

    def mapping(self, name: str) -> dict:  # type: ignore[type-arg]
        return yaml.safe_load((self.schemas / name / "fields.yaml").read_text(encoding="utf-8"))

    def descriptor(self, name: str) -> dict:  # type: ignore[type-arg]
        return json.loads((self.schemas / name / "datapackage.json").read_text(encoding="utf-8"))


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(tmp_path)


THAI_AWARE = [
    ["จำนวนผู้เข้าอบรม", "งบประมาณ (บาท)", "วันที่อบรม", "ออนไลน์", "ค่าธรรมเนียม", "จังหวัด", "ปี พ.ศ."],
    ["๓๒", "35,000", "15 มี.ค. 2564", "ใช่", "฿1,200.50", "จ.เชียงใหม่", "๒๕๖๔"],
    ["๑๒", "1,200", "1 เม.ย. 2564", "ไม่ใช่", "฿300", "กทม.", "2564"],
    ["7", "45", "๒/๔/๒๕๖๔", "ใช่", "฿5", "ภูเก็ต", "2565"],
    ["40", "12,500", "2021-04-03", "✓", "฿0.50", "Chiang Mai", "2565"],
]


def test_types_and_normalizers_read_thai_where_frictionless_sees_text(place: Place, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in" / "training.csv", THAI_AWARE)
    assert place.new("training", source) == 0
    schema, mapping = place.schema("training"), place.mapping("training")["fields"]
    guessed = {name: (schema[name]["type"], mapping[name]["normalize"]) for name in mapping}
    assert guessed == {
        "participants": ("integer", "integer"),
        "budget_baht": ("integer", "integer"),
        "training_date": ("date", "thai_date"),
        "field_4": ("boolean", "boolean"),  # "ออนไลน์" is not in the glossary
        "field_5": ("number", "number"),
        "province": ("string", "province"),
        "year": ("integer", "buddhist_year"),
    }
    assert mapping["province"]["enum_from"] == "provinces"
    assert schema["participants"]["title"] == "จำนวนผู้เข้าอบรม" and schema["budget_baht"]["title"] == "งบประมาณ (บาท)"
    assert schema["budget_baht"]["constraints"] == {"required": True, "minimum": 0}
    # the anchor: frictionless describe reads these columns as text (or, for Thai digits, as integers)
    anchor = {f.name: f.type for f in describe(str(source)).schema.fields}  # type: ignore[union-attr]
    assert anchor["งบประมาณ (บาท)"] == anchor["วันที่อบรม"] == anchor["ออนไลน์"] == anchor["จังหวัด"] == "string"


def test_header_below_titles_personal_columns_dropped_key_proposed(place: Place, tmp_path: Path) -> None:
    rows = [
        ["รายงานผลการอบรมข้อมูลเปิด ปีงบประมาณ ๒๕๖๗"],
        [],
        ["ข้อมูล ณ วันที่ ๑ ตุลาคม ๒๕๖๗"],
        ["ลำดับ", "จังหวัด*", "หลักสูตร:", "ผู้ประสานงาน", "โทร.", "Budget (THB)", "หมายเหตุ"],
        [1, "ชลบุรี", "ข้อมูลเปิด", "นายสมมติ ตัวอย่าง", "081-234-5678", 1000, ""],
        [2, "ชลบุรี", "ความปลอดภัยไซเบอร์", "นางตัวอย่าง สมมติ", "02-000-0000", 2000, "ย้ายวัน"],
        [3, "ระยอง", "ข้อมูลเปิด", "นายสมมติ ตัวอย่าง", "081-234-5678", 1500, ""],
        [4, "ระยอง", "ความปลอดภัยไซเบอร์", "", "", 2500, ""],
    ]
    source = write_xlsx(tmp_path / "in" / "อบรม.xlsx", {"สรุป": rows}, origin=(1, 3))
    assert place.new("training", source) == 0
    schema, mapping = place.schema("training"), place.mapping("training")
    assert [f["name"] for f in schema[""]["fields"]] == ["record_no", "province", "course", "budget_baht", "note"]
    # a running number is unique but says nothing: the pair of province and course is the key
    assert schema[""]["primaryKey"] == ["province", "course"]
    assert schema["province"]["title"] == "จังหวัด" and mapping["fields"]["province"]["aliases"] == ["จังหวัด*"]
    assert schema["course"]["title"] == "หลักสูตร" and "aliases" not in mapping["fields"]["note"]
    assert mapping["personal_data"] == ["ผู้ประสานงาน", "โทร."]  # by its header, and by its values
    assert "note" in mapping["fields"] and "required" not in schema["note"].get("constraints", {})
    descriptor = place.descriptor("training")
    assert descriptor["title"] == "รายงานผลการอบรมข้อมูลเปิด ปีงบประมาณ ๒๕๖๗"
    assert (place.raw / "training" / "อบรม.xlsx").read_bytes() == source.read_bytes()
    text = "".join(p.read_text(encoding="utf-8") for p in (place.schemas / "training").iterdir())
    assert "081-234-5678" not in text and "นายสมมติ" not in text


def test_a_row_keyed_twice_does_not_hide_the_key(place: Place, tmp_path: Path) -> None:
    """The build drops an exact duplicate row (with a warning), so it does not stop a column being the key."""
    rows = [["จังหวัด", "หมายเหตุ"], ["ชลบุรี", "ก"], ["ระยอง", "ข"], ["ระยอง", "ข"], ["จ.ตราด", "ก"]]
    assert place.new("places", write_csv(tmp_path / "a.csv", rows)) == 0
    assert place.schema("places")[""]["primaryKey"] == ["province"]
    rows.append(["ตราด", "ข"])  # the same province again, with other content: no longer a key
    assert place.new("places", write_csv(tmp_path / "a.csv", rows), "--force") == 0
    assert place.schema("places")[""]["primaryKey"] == ["province", "note"]


def test_refuses_to_overwrite_a_schema_without_force(place: Place, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = write_csv(tmp_path / "a.csv", [["จังหวัด", "จำนวน"], ["ชลบุรี", 1], ["ระยอง", 2]])
    assert place.new("counts", source) == 0
    schema_file = place.schemas / "counts" / "fields.yaml"
    schema_file.write_text(schema_file.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in (place.schemas / "counts").iterdir()}
    capsys.readouterr()
    assert place.new("counts", source) == 2
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in (place.schemas / "counts").iterdir()} == before
    assert place.new("counts", source, "--force") == 0
    assert "# reviewed" not in schema_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("Bad Name", "a.csv", "dataset name"),
        ("ok-name", "missing.xlsx", "no such file"),
        ("ok-name", "notes.txt", "give a .xlsx workbook or a .csv"),
        ("ok-name", "no-header.csv", "no header row found"),
    ],
)
def test_usage_errors_exit_2(place: Place, tmp_path: Path, capsys, name: str, source: str, message: str) -> None:  # type: ignore[no-untyped-def]
    write_csv(tmp_path / "a.csv", [["จังหวัด", "จำนวน"], ["ชลบุรี", 1]])
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    write_csv(tmp_path / "no-header.csv", [["12", "13"], ["14", "15"]])
    assert place.new(name, tmp_path / source) == 2
    assert message in capsys.readouterr().err
    assert not (place.schemas / name).exists()


def test_portal_block_has_every_gd_catalog_field(place: Place, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "a.csv", [["จังหวัด", "จำนวน"], ["ชลบุรี", 1], ["ระยอง", 2]])
    assert place.new("counts", source) == 0
    portal = place.descriptor("counts")["x_portal"]
    gd = yaml.safe_load(scaffold.PORTAL_SCHEMA.read_text(encoding="utf-8"))["dataset_fields"]
    expected = {
        f["field_name"]
        for f in gd
        if f["field_name"] not in scaffold.PORTAL_FIELDS_ELSEWHERE and not f["field_name"].endswith("_other")
    }
    assert set(portal["gdcatalog"]) == expected
    assert portal["gdcatalog"]["data_format"] == ["CSV", "XLS", "JSON"]
    assert portal["gdcatalog"]["geo_coverage"] == "จังหวัด"  # the table has a province column
    for f in gd:  # what cannot be known is marked, never guessed
        value = portal["gdcatalog"].get(f["field_name"])
        if f["field_name"] in expected and f["field_name"] not in ("data_format", "geo_coverage", "data_language"):
            assert json.dumps(value, ensure_ascii=False).count("TODO:") == 1, f["field_name"]
    todo = scaffold.unfilled(place.schemas / "counts" / "datapackage.json")
    assert "x_portal.organization.name" in todo and "x_portal.license_id" in todo and "description" in todo


# ---------------------------------------------------------------------------- the anchor

INTEGERS = st.integers(min_value=-99_999, max_value=99_999).filter(lambda n: not 2400 <= n <= 2700).map(str)
DECIMALS = st.decimals(min_value=-9999, max_value=9999, places=2, allow_nan=False, allow_infinity=False).map(
    lambda d: f"{d:.2f}"
)
DATES = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2049, 12, 31)).map(dt.date.isoformat)
BOOLEANS = st.sampled_from(["true", "false"])
WORDS = st.text(alphabet="กขคงจฉชซญฐณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ", min_size=3, max_size=8)
KINDS = {"integer": INTEGERS, "number": DECIMALS, "date": DATES, "boolean": BOOLEANS, "string": WORDS}


@st.composite
def clean_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=2, max_size=6))
    n = draw(st.integers(min_value=3, max_value=25))
    columns = []
    for kind in kinds:
        values = draw(st.lists(KINDS[kind], min_size=n, max_size=n))
        if kind == "number" and all(v.endswith(".00") for v in values):
            values[0] = values[0][:-1] + "5"  # a number column has a fraction somewhere
        if kind == "boolean":
            values[:2] = ["true", "false"]
        columns.append(values)
    return kinds, [list(row) for row in zip(*columns, strict=True)]


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(table=clean_tables())
def test_on_plain_values_the_types_agree_with_frictionless_describe(tmp_path_factory, table) -> None:  # type: ignore[no-untyped-def]
    """Where nothing is Thai, `pipeline new` and `frictionless describe` must agree on every type."""
    kinds, rows = table
    root = tmp_path_factory.mktemp("anchor")
    place = Place(root)
    header = [f"column {i}" for i in range(1, len(kinds) + 1)]
    source = write_csv(root / "plain.csv", [header, *rows], encoding="utf-8")
    assert place.new("plain", source) == 0
    ours = [f["type"] for f in place.schema("plain")[""]["fields"]]
    theirs = [f.type for f in describe(str(source)).schema.fields]  # type: ignore[union-attr]
    assert ours == theirs == kinds


# ---------------------------------------------------------------------------- scaffold, then build


def training_workbook(path: Path) -> Path:
    """Shape 1: titles above a header at C4, Thai dates and digits, separators, baht, a contact column."""
    rows: list[list[object]] = [
        ["สรุปการอบรมรายจังหวัด ปีงบประมาณ ๒๕๖๔"],
        ["ข้อมูล ณ วันที่ ๓๑ มีนาคม ๒๕๖๔"],
        [],
        ["จังหวัด", "หลักสูตร", "วันที่อบรม", "จำนวนผู้เข้าอบรม", "งบประมาณ (บาท)", "ผู้ประสานงาน"],
    ]
    provinces = ["จ.เชียงใหม่", "กทม.", "ขอนแก่น", "Phuket", "สงขลา", "ชลบุรี"]
    courses = ["ข้อมูลเปิด", "ความปลอดภัยไซเบอร์"]
    for i, province in enumerate(provinces):
        for j, course in enumerate(courses):
            n = 20 + 3 * i + j
            day = ["15 มี.ค. 2564", dt.date(2021, 3, 16), "๑๗/๓/๒๕๖๔"][(i + j) % 3]
            people = str(n) if (i + j) % 2 else str(n).translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
            budget = f"{1000 * n:,}" if j else f"฿{1000 * n + 0.5:,}"
            rows.append([province, course, day, people, budget, "นายสมมติ ตัวอย่าง" if i == 0 else ""])
    return write_xlsx(path, {"สรุป": rows}, origin=(1, 3))


def facilities_csv(path: Path) -> Path:
    """Shape 2: a CSV with codes, Buddhist-Era years, yes/no words in three spellings, no province."""
    rows: list[list[object]] = [["รหัส", "ชื่อ", "ปี พ.ศ.", "มีห้องน้ำ", "ความจุ"]]
    for i in range(1, 13):
        yes = ["ใช่", "ไม่ใช่", "TRUE", "false", "มี", "ไม่มี"][i % 6]
        year = "๒๕๖๕" if i % 4 == 0 else str(2560 + i % 5)
        rows.append([f"F-{i:03d}", f"ห้องประชุม {i}", year, yes, f"{10 * i}"])
    return write_csv(path, rows, encoding="cp874")


def stations_workbook(path: Path) -> Path:
    """Shape 3: English headers, two sheets of the same table plus a notes sheet, decimals, a pair key."""
    header = ["Station", "Month", "Rainfall (mm)", "ค่าเฉลี่ยสะสม"]

    def sheet(station: str, base: float) -> list[list[object]]:
        return [
            header,
            *([station, f"2564-{m:02d}", round(base + m * 1.25, 2), f"{base * m:,.2f}"] for m in range(1, 7)),
        ]

    return write_xlsx(
        path,
        {"north": sheet("CM-01", 10.5), "south": sheet("SK-02", 120.75), "notes": [["ข้อมูลทดสอบ"], ["สร้างในการทดสอบ"]]},
    )


SHAPES = {
    "training-per-province": (training_workbook, "training.xlsx", 12),
    "meeting-rooms": (facilities_csv, "rooms.csv", 12),
    "rain-stations": (stations_workbook, "stations.xlsx", 12),
}


def test_three_generated_workbooks_of_different_shapes_build_with_no_code(place: Place, tmp_path: Path) -> None:
    """`pipeline new` on each, then `make`'s build: all three publish, Frictionless accepts each package."""
    from frictionless import validate as frictionless_validate

    for name, (make, file_name, _rows) in SHAPES.items():
        assert place.new(name, make(tmp_path / "in" / file_name)) == 0, name
    assert place.build() == 0
    for name, (_make, _file, rows) in SHAPES.items():
        package = place.published / name / "datapackage.json"
        report = frictionless_validate(str(package))
        assert report.valid, (name, report.flatten(["rowNumber", "fieldName", "type", "note"]))
        published = json.loads((place.published / name / f"{name}.json").read_text(encoding="utf-8"))
        assert len(published) == rows, name
    training = json.loads((place.published / "training-per-province" / "training-per-province.json").read_text())
    first = training[0]
    assert set(first) == {"province", "course", "training_date", "participants", "budget_baht"}
    assert {r["province"] for r in training} == {"เชียงใหม่", "กรุงเทพมหานคร", "ขอนแก่น", "ภูเก็ต", "สงขลา", "ชลบุรี"}
    assert {r["training_date"] for r in training} == {"2021-03-15", "2021-03-16", "2021-03-17"}
    assert all(isinstance(r["participants"], int) for r in training)
    assert {r["budget_baht"] for r in training if r["course"] == "ข้อมูลเปิด"} >= {20000.5}
    assert "นายสมมติ" not in (place.published / "training-per-province" / "training-per-province.csv").read_text(
        encoding="utf-8-sig"
    )
    assert place.schema("training-per-province")[""]["primaryKey"] == ["province", "course"]
    rooms = json.loads((place.published / "meeting-rooms" / "meeting-rooms.json").read_text())
    assert {r["field_4"] for r in rooms} <= {True, False, "true", "false"}  # (the JSON copy writes text today)
    assert {str(r["field_4"]).lower() for r in rooms} == {"true", "false"}
    assert {r["year"] for r in rooms} <= set(range(2560, 2566))
    assert place.schema("meeting-rooms")[""]["primaryKey"] == ["id"]
    stations = place.schema("rain-stations")
    assert [f["name"] for f in stations[""]["fields"]] == ["station", "month", "rainfall_mm", "field_4"]
    assert stations["rainfall_mm"]["type"] == "number" and stations["field_4"]["type"] == "number"
    assert stations[""]["primaryKey"] == ["station", "month"]


def test_a_scaffolded_dataset_with_bad_cells_fails_by_cell(place: Place, tmp_path: Path) -> None:
    """`make` right after `pipeline new` reports the data's own errors, each by its cell."""
    source = training_workbook(tmp_path / "in" / "training.xlsx")
    assert place.new("training-per-province", source) == 0
    import openpyxl

    book = openpyxl.load_workbook(place.raw / "training-per-province" / "training.xlsx")
    sheet = book["สรุป"]
    sheet["F6"] = "สามสิบ"  # participants, second data row
    sheet["C7"] = "ภูเก้ต"  # a misspelt province
    book.save(place.raw / "training-per-province" / "training.xlsx")
    assert place.build() == 1
    report = json.loads((place.reports / "training-per-province" / "validation.json").read_text(encoding="utf-8"))
    assert {(e["cell"], e["field"]) for e in report["errors"]} >= {("F6", "participants"), ("C7", "province")}


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_new_then_make_builds_it(place: Place, tmp_path: Path) -> None:
    """The Make targets themselves (the virtualenv taken as installed: `make test` made it)."""
    import subprocess

    from .conftest import REPO

    source = facilities_csv(tmp_path / "rooms.csv")
    paths = [f"RAW_DIR={place.raw}", f"SCHEMAS_DIR={place.schemas}", f"PUBLISHED_DIR={place.published}"]
    paths.append(f"REPORTS_DIR={place.reports}")
    made = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "new", "DATASET=rooms", f"FROM={source}", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "make DATASET=rooms" in made.stdout
    again = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "new", "DATASET=rooms", f"FROM={source}", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    built = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "DATASET=rooms", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    assert (place.published / "rooms" / "rooms.csv").is_file()


def test_districts_and_subdistricts_are_read_and_checked_against_the_row(place: Place, tmp_path: Path) -> None:
    """อำเภอ and ตำบล columns get their normalizers, each told which field holds the row's province
    (and district); the build then publishes their official names."""
    rows = [
        ["จังหวัด", "อำเภอ/เขต", "ตำบล/แขวง", "ร้านค้า"],
        ["เชียงใหม่", "อ.เมือง", "ต.สุเทพ", "ร้านหนึ่ง"],
        ["เชียงใหม่", "อำเภอเมืองเชียงใหม่", "ช้างเผือก", "ร้านสอง"],
        ["กทม.", "เขตบางรัก", "แขวงสีลม", "ร้านสาม"],
        ["กรุงเทพมหานคร", "บางรัก", "สุริยวงศ์", "ร้านสี่"],
        ["ภูเก็ต", "กะทู้", "ป่าตอง", "ร้านห้า"],
        ["ภูเก็ต", "อ.เมืองภูเก็ต", "กะรน", "ร้านหก"],
    ]
    assert place.new("shops", write_csv(tmp_path / "shops.csv", rows)) == 0
    mapping = place.mapping("shops")["fields"]
    assert mapping["district"] == {"normalize": "district", "province": "province"}
    assert mapping["subdistrict"] == {"normalize": "subdistrict", "district": "district", "province": "province"}
    assert mapping["field_4"] == {"normalize": "text"}  # shop names are not places, whatever they spell
    assert place.descriptor("shops")["x_portal"]["gdcatalog"]["geo_coverage"] == "ตำบล"
    assert place.build() == 0
    published = json.loads((place.published / "shops" / "shops.json").read_text(encoding="utf-8"))
    assert {(r["district"], r["subdistrict"]) for r in published} == {
        ("เมืองเชียงใหม่", "สุเทพ"),
        ("เมืองเชียงใหม่", "ช้างเผือก"),
        ("บางรัก", "สีลม"),
        ("บางรัก", "สุริยวงศ์"),
        ("กะทู้", "ป่าตอง"),
        ("เมืองภูเก็ต", "กะรน"),
    }


def test_a_different_file_of_the_same_name_in_raw_is_not_replaced_silently(
    place: Place, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    source = write_csv(tmp_path / "a.csv", [["จังหวัด", "จำนวน"], ["ชลบุรี", 1], ["ระยอง", 2]])
    kept = write_csv(place.raw / "counts" / "a.csv", [["จังหวัด", "จำนวน"], ["ตราด", 9]])
    before = kept.read_bytes()
    assert place.new("counts", source) == 2
    assert "already exists with other content" in capsys.readouterr().err
    assert kept.read_bytes() == before and not (place.schemas / "counts").exists()
    write_csv(place.raw / "counts" / "b.csv", [["จังหวัด", "จำนวน"], ["ตราด", 9]])
    assert place.new("counts", source, "--force") == 0
    out = capsys.readouterr().out
    assert kept.read_bytes() == source.read_bytes()
    assert "also holds b.csv; the build reads every file there" in out
    assert not list(place.schemas.glob(".counts*")), "no staging folder left behind"


# ---------------------------------------------------------------------------- the header, over many layouts

THAI_WORD = st.text(alphabet="กขคงจฉชซญดตถทธนบปผพฟภมยรลวสหอฮะาิีึืุูเแโใไ่้๊๋็์", min_size=2, max_size=10)
CELL = st.one_of(
    THAI_WORD,
    st.integers(-9999, 99999).map(str),
    st.integers(0, 99).map(lambda n: str(n).translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))),
    st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2030, 12, 31)).map(dt.date.isoformat),
    st.decimals(0, 99999, places=2).map(lambda d: f"{d:,.2f}"),
)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[list[str]], int | None, list[str]]:
    """Rows of a sheet (as the reader gives them: non-blank, text) and where its header is (None: no header)."""
    width = draw(st.integers(2, 8))
    offset = draw(st.integers(0, 4))
    labels = draw(st.lists(THAI_WORD, min_size=width, max_size=width, unique=True))
    above: list[list[str]] = []
    for _ in range(draw(st.integers(0, 4))):  # titles and as-of lines, one cell each
        if draw(st.booleans()):
            above.append([draw(THAI_WORD) + " " + draw(THAI_WORD)])
        else:
            above.append(["ข้อมูล ณ วันที่ ๑ เมษายน ๒๕๖๔"])
    has_header = draw(st.integers(0, 9)) > 0  # one in ten: a notes sheet, no table
    if not has_header:
        return [[""] * offset + r for r in above] + [[draw(THAI_WORD)] for _ in range(3)], None, []
    if draw(st.booleans()):  # a group heading right above the header, over fewer than half its columns
        above.append([draw(THAI_WORD) if i % 3 == 0 and i < width // 2 else "" for i in range(width)])
    unlabeled = draw(st.booleans()) and width >= 2
    header = [*labels, ""] if unlabeled else labels
    body = [draw(st.lists(CELL, min_size=len(header), max_size=len(header))) for _ in range(draw(st.integers(1, 8)))]
    rows = [*above, header, *body]
    return [[""] * offset + r for r in rows], len(above), labels


def grid_of(rows: list[list[str]]) -> SheetGrid:
    import numpy as np
    import pandas as pd

    width = max(len(r) for r in rows)
    kept = [r + [""] * (width - len(r)) for r in rows if any(c.strip() for c in r)]
    return SheetGrid("x.xlsx", "ชีต", pd.DataFrame(kept, dtype="str"), np.arange(1, len(kept) + 1))


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(layout=layouts())
def test_the_header_is_found_over_many_generated_layouts(layout) -> None:  # type: ignore[no-untyped-def]
    """Titles, "ข้อมูล ณ …", group headings, offsets, an unlabelled column, text-only data rows: the
    header is the row under them; a notes sheet has none."""
    rows, header_at, labels = layout
    grid = grid_of(rows)
    found = scaffold.guess_header(grid)
    if header_at is None:
        assert found is None
        return
    assert found is not None
    position, got = found
    kept_above = sum(1 for r in rows[:header_at] if any(c.strip() for c in r))
    assert position == kept_above
    assert list(got.values()) == labels


def test_new_help(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["new", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--from FILE" in out and "--force" in out and "exit codes" in out
