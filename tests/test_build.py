"""End-to-end builds of a temporary RAW_DIR: what a data officer gets from `make`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from frictionless import validate as frictionless_validate

from pipeline.cli import main
from pipeline.run import Config, build

from .conftest import DATASET, HEADER, REPO, SCHEMAS, Workspace, entry, folder_args, write_csv, write_xlsx

PERSONAL = ["นายสมมติ ตัวอย่าง", "081-234-5678", "0812345679", "contact1@example.org", "นางตัวอย่าง สมมติ", "02-000-0000"]


def read_published(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM so Excel shows Thai"
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))


def all_output_text(ws: Workspace) -> str:
    files = [*ws.published.rglob("*"), *ws.reports.rglob("*")]
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files if p.is_file())


def test_committed_sample_builds_the_ten_selected_entries(sample_raw: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    published = tmp_path / "pub"
    code = main(
        [
            "build",
            "--raw-dir",
            str(sample_raw),
            "--published-dir",
            str(published),
            "--reports-dir",
            str(tmp_path / "rep"),
            "--schemas-dir",
            str(SCHEMAS),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = read_published(published / DATASET / "entries.csv")
    assert len(rows) == 10
    assert [r["entry_id"] for r in rows] == [f"LDI-2564-{i:03d}" for i in range(1, 11)]
    first = rows[0]
    assert first["organization_name"] == "เทศบาลตำบลท่าคันโท"
    assert first["organization_type"] == "เทศบาลตำบล"
    assert first["province"] == "กาฬสินธุ์" and first["province_code"] == "TH-46"
    assert "สำหรับ" in first["project_title"]
    assert {r["contest_year"] for r in rows} == {"2564"}
    assert {r["result"] for r in rows} == {"ได้รับการคัดเลือก"}
    by_id = {r["entry_id"]: r for r in rows}
    assert by_id["LDI-2564-005"]["organization_name"] == "องค์การบริหารส่วนตำบลปางหมู"
    assert by_id["LDI-2564-009"]["province"] == "สุราษฎร์ธานี"
    assert list(rows[0]) == [
        "entry_id",
        "contest_year",
        "organization_name",
        "organization_type",
        "province",
        "province_code",
        "project_title",
        "submitted_date",
        "result",
    ]
    text = (published / DATASET / "entries.csv").read_text(encoding="utf-8-sig") + out.out + out.err
    text += (tmp_path / "rep" / DATASET / "validation.json").read_text(encoding="utf-8")
    for value in PERSONAL:
        assert value not in text


def test_published_package_passes_frictionless(sample_raw: Path, tmp_path: Path) -> None:
    build(Config(sample_raw, tmp_path / "pub", tmp_path / "rep", SCHEMAS))
    descriptor = tmp_path / "pub" / DATASET / "datapackage.json"
    report = frictionless_validate(str(descriptor))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    # the Excel copy is checked against the Table Schema too: ten typed rows, not inferred text
    xlsx_task = next(t for t in report.tasks if t.name == "entries-xlsx")
    assert xlsx_task.stats["rows"] == 10 and xlsx_task.stats["fields"] == 9
    package = json.loads(descriptor.read_text(encoding="utf-8"))
    assert package["title"] and all(
        f["title"] and f["description"] for f in package["resources"][0]["schema"]["fields"]
    )
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert "x_portal" not in package


def test_same_input_gives_byte_identical_output(sample_raw: Path, tmp_path: Path) -> None:
    build(Config(sample_raw, tmp_path / "a", tmp_path / "ra", SCHEMAS))
    build(Config(sample_raw, tmp_path / "b", tmp_path / "rb", SCHEMAS))
    for name in ("entries.csv", "entries.xlsx", "entries.json", "datapackage.json"):
        assert (tmp_path / "a" / DATASET / name).read_bytes() == (tmp_path / "b" / DATASET / name).read_bytes()


def test_unchanged_inputs_are_skipped_and_files_untouched(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER, entry("A1")])
    assert build(ws.config)[0].status == "published"
    before = {p: p.stat().st_mtime_ns for p in ws.published.rglob("*")}
    assert build(ws.config)[0].status == "unchanged"
    assert {p: p.stat().st_mtime_ns for p in ws.published.rglob("*")} == before
    ws.xlsx("a.xlsx", [HEADER, entry("A1"), entry("A2")])
    assert build(ws.config)[0].status == "published"
    assert len(read_published(ws.published_csv())) == 2


def test_messy_workbook_title_rows_offset_header_blank_rows_mixed_types(ws: Workspace) -> None:
    rows = [
        ["ผลการประกวด ท้องถิ่นดิจิทัล ๒๕๖๔"],
        [],
        ["ข้อมูล ณ วันที่ ๑ เมษายน ๒๕๖๔"],
        [
            " รหัส ",
            "ปี",
            "หน่วยงาน",
            "ประเภท",
            "จังหวัด",
            "ชื่อ\u00a0โครงการ",
            "วันที่ส่ง",
            "ผลการคัดเลือก",
            "เบอร์โทรศัพท์",
            "หมายเหตุ",
        ],
        ["b-01", "๒๕๖๔", "ทต.บางปลา", "", "สมุทรสาคร", "ระบบ  บริการ", dt.date(2021, 3, 15), "ผ่าน", "0812345678", "x"],
        [],
        ["b-02", 2021.0, "อบต. ปางหมู จ.แม่ฮ่องสอน", "อบต.", "", "ระบบ\u200bจอง", "15 มี.ค. 2564", "ไม่ผ่าน", "", ""],
        ["b-03", "2564", "เทศบาล นคร ยะลา", "", "จ.ยะลา", "ระบบติดตาม", dt.datetime(2564, 3, 20), "", "", ""],
        ["b-04", 2564, "ทม.แสนสุข", "เทศบาลเมือง", "ชลบุรี", "ระบบสุขภาพ", "22/3/64", "ผ่านการคัดเลือก", "", ""],
        ["b-04", 2564, "ทม.แสนสุข", "เทศบาลเมือง", "ชลบุรี", "ระบบสุขภาพ", "22/3/64", "ผ่านการคัดเลือก", "", ""],
    ]
    path = write_xlsx(ws.dataset_dir / "messy.xlsx", {"ผลงาน": rows}, origin=(2, 3))
    results = build(ws.config)
    result = results[0]
    assert result.status == "published", [i.line() for i in result.issues]
    out = {r["entry_id"]: r for r in read_published(ws.published_csv())}
    assert list(out) == ["B-01", "B-02", "B-03", "B-04"]
    assert out["B-01"]["contest_year"] == "2564" and out["B-02"]["contest_year"] == "2564"
    assert out["B-01"]["submitted_date"] == "2021-03-15"
    assert out["B-02"]["submitted_date"] == "2021-03-15"
    assert out["B-03"]["submitted_date"] == "2021-03-20"
    assert out["B-04"]["submitted_date"] == "2021-03-22"
    assert out["B-02"]["organization_name"] == "องค์การบริหารส่วนตำบลปางหมู"
    assert out["B-02"]["province"] == "แม่ฮ่องสอน" and out["B-02"]["province_code"] == "TH-58"
    assert out["B-03"]["organization_type"] == "เทศบาลนคร"
    assert out["B-01"]["project_title"] == "ระบบ บริการ" and out["B-02"]["project_title"] == "ระบบจอง"
    assert out["B-03"]["result"] == "" and out["B-02"]["result"] == "ไม่ได้รับการคัดเลือก"
    warnings = {(i.type, i.cell) for i in result.issues if i.severity == "warning"}
    assert ("extra-label", "L5") in warnings  # หมายเหตุ: unknown column, header at C5
    assert ("duplicate-row", "row 11") in warnings
    duplicate = next(i for i in result.issues if i.type == "duplicate-row")
    assert duplicate.related_cell == "messy.xlsx › ผลงาน › C10"  # the row it repeats, entry_id column
    assert "0812345678" not in ws.published_csv().read_text(encoding="utf-8-sig")
    assert path.exists()


def test_bad_input_lists_every_error_with_cells_and_publishes_nothing(ws: Workspace, capsys) -> None:  # type: ignore[no-untyped-def]
    ws.xlsx("good.xlsx", [HEADER, entry("G1")])
    assert main(ws.cli_args()) == 0
    before = ws.snapshot()
    assert before
    ws.xlsx(
        "good.xlsx",
        [
            HEADER,
            entry("G1"),
            entry("G2", province="ภูเก้ต"),
            entry("G3", year="สองพัน"),
            entry("G4", submitted="31/02/2564"),
            entry("", title=""),
            entry("G5", result="อาจจะ"),
            entry("G6", submitted="2021-02-29"),  # shaped like a date, not on the calendar
        ],
    )
    code = main(ws.cli_args())
    err = capsys.readouterr().err
    assert code == 1
    assert ws.snapshot() == before, "published folder must be byte-for-byte unchanged"
    report = json.loads((ws.reports / DATASET / "validation.json").read_text(encoding="utf-8"))
    found = {(e["cell"], e["field"], e["type"], e.get("rule")) for e in report["errors"]}
    assert found == {
        ("E3", "province", "constraint-error", "enum"),
        ("E3", "province_code", "constraint-error", "required"),  # derived from the invalid province
        ("B4", "contest_year", "type-error", "type integer"),
        ("G5", "submitted_date", "type-error", "type date"),
        ("A6", "entry_id", "constraint-error", "required"),
        ("A6", "entry_id", "primary-key", "primaryKey"),  # as Frictionless: a primary key with no value
        ("F6", "project_title", "constraint-error", "required"),
        ("H7", "result", "constraint-error", "enum"),
        ("G8", "submitted_date", "type-error", "type date"),
    }
    province_error = next(e for e in report["errors"] if e["field"] == "province")
    assert province_error["value"] == "ภูเก้ต" and province_error["suggestion"] == "ภูเก็ต"
    assert province_error["file"] == "good.xlsx" and province_error["sheet"] == "ผลงาน"
    assert "good.xlsx › ผลงาน › E3" in err and "ภูเก้ต" in err and "ภูเก็ต" in err
    assert not (ws.published / DATASET / "validation.json").exists()


def test_exact_duplicate_far_from_its_original_is_dropped_with_a_pointer(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER, entry("X3"), entry("X1", title="หนึ่ง"), entry("X2"), entry("X1", title="หนึ่ง")])
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.errors]
    duplicates = [(i.cell, i.related_cell) for i in result.issues if i.type == "duplicate-row"]
    assert duplicates == [("row 5", "a.xlsx › ผลงาน › A3")]
    assert [r["entry_id"] for r in read_published(ws.published_csv())] == ["X1", "X2", "X3"]


def test_same_id_different_content_names_both_cells(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER, entry("X1", title="หนึ่ง")])
    write_csv(ws.dataset_dir / "b.csv", [HEADER, entry(" x1", title="สอง")])
    result = build(ws.config)[0]
    errors = [i for i in result.errors if i.type == "unique-error"]
    assert len(errors) == 1
    assert errors[0].location == "b.csv › A2" and errors[0].related_cell == "a.xlsx › ผลงาน › A2"
    assert result.status == "invalid"


@pytest.mark.parametrize(
    ("ids", "repeated_rows"),
    [
        (["T-1", "T-2", "T-3", "T-4"], []),  # keyed in order: no key can repeat
        (["T-4", "T-2", "T-9", "T-1"], []),  # out of order, all distinct
        (["T-3", "T-1", "T-3", "T-2", "T-1"], [(4, 2), (6, 3)]),  # (row, row of the first use)
        # nearly in order, as keyed by hand: one key used three times, the checks go by sorting
        (
            [f"T-{n:02d}" for n in range(1, 16)] + ["T-05"] + [f"T-{n:02d}" for n in range(16, 31)] + ["T-05"],
            [(17, 6), (33, 6)],
        ),
    ],
)
def test_every_reused_entry_id_points_at_its_first_use(
    ws: Workspace, ids: list[str], repeated_rows: list[tuple[int, int]]
) -> None:
    ws.xlsx("a.xlsx", [HEADER, *(entry(i, title=f"ผลงาน {n}") for n, i in enumerate(ids))])
    errors = [i for i in build(ws.config)[0].errors if i.type == "unique-error"]
    assert [(e.cell, e.related_cell) for e in errors] == [
        (f"A{row}", f"a.xlsx › ผลงาน › A{first}") for row, first in repeated_rows
    ]


def test_province_in_name_must_agree_with_province_column(ws: Workspace) -> None:
    ws.xlsx(
        "a.xlsx",
        [
            HEADER,
            entry("P1", org="ทต.ท่าคันโท จ.กาฬสินธุ์", province="ขอนแก่น"),
            entry("P2", org="อบต.ทดสอบ", kind="เทศบาลนคร"),
        ],
    )
    errors = build(ws.config)[0].errors
    assert {(e.cell, e.field, e.type, e.related_cell) for e in errors} == {
        ("E2", "province", "row-constraint", "C2"),
        ("D3", "organization_type", "row-constraint", "C3"),
    }


def test_organization_type_column_may_be_absent(ws: Workspace) -> None:
    header = [h for h in HEADER if h != "ประเภท อปท."]
    ws.xlsx(
        "a.xlsx",
        [header, ["T1", 2564, "ทน.ขอนแก่น", "ขอนแก่น", "ระบบ", "", ""], ["T2", 2564, "ขอนแก่น", "ขอนแก่น", "ระบบ", "", ""]],
    )
    result = build(ws.config)[0]
    assert [(e.cell, e.field, e.rule) for e in result.errors] == [("C3", "organization_type", "required")]


def test_multiple_sheets_and_csv_in_name_order(ws: Workspace) -> None:
    write_xlsx(
        ws.dataset_dir / "b.xlsx",
        {"ชีต1": [HEADER, entry("S2")], "ชีต2": [HEADER, entry("S1")], "อื่นๆ": [["บันทึก"], ["ไม่มีหัวตาราง"]]},
    )
    write_csv(ws.dataset_dir / "a.csv", [HEADER, entry("S3")], encoding="cp874")
    result = build(ws.config)[0]
    assert result.status == "published"
    assert result.summary.files == ["a.csv", "b.xlsx"]
    assert result.summary.sheets == ["a.csv", "b.xlsx › ชีต1", "b.xlsx › ชีต2"]
    assert [r["entry_id"] for r in read_published(ws.published_csv())] == ["S1", "S2", "S3"]


def test_header_only_workbook_is_refused(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER])
    result = build(ws.config)[0]
    assert [e.type for e in result.errors] == ["empty-table"]
    assert not ws.published.exists() or ws.snapshot() == {}


def test_missing_required_column_is_an_error(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [["รหัส", "ปี", "หน่วยงาน", "จังหวัด"], ["A", 2564, "อบต.ก", "ชลบุรี"]])
    result = build(ws.config)[0]
    assert ("missing-label", "project_title") in {(e.type, e.field) for e in result.errors}


@pytest.mark.parametrize("argv", [["--help"], ["build", "--help"], ["validate", "--help"]])
def test_cli_help(argv: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(argv) == 0
    assert "exit codes" in capsys.readouterr().out


def test_cli_usage_and_environment_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["frobnicate"]) == 2
    assert main(["build", "--raw-dir", str(tmp_path / "nope")]) == 2
    assert "raw data folder not found" in capsys.readouterr().err


def test_a_bug_exits_70_naming_where_without_quoting_data(ws: Workspace, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    ws.xlsx("a.xlsx", [HEADER, entry("B1")])
    assert main(ws.cli_args()) == 0
    before = ws.snapshot()

    phone = "081-234-5678"

    def broken_check(table: object) -> list[object]:
        raise ValueError(f"unexpected cell {phone}")

    monkeypatch.setattr("pipeline.validate.validate", broken_check)
    assert main([*ws.cli_args(), "--force"]) == 70
    err = capsys.readouterr().err
    assert "internal error (ValueError)" in err and "broken_check" in err
    assert "081-234-5678" not in err
    assert ws.snapshot() == before


def test_validate_publishes_nothing(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER, entry("V1")])
    assert main(ws.cli_args("validate")) == 0
    assert ws.snapshot() == {}
    assert (ws.reports / DATASET / "validation.json").exists()


def test_repeated_header_rows_inside_the_data_are_skipped(ws: Workspace) -> None:
    ws.xlsx("a.xlsx", [HEADER, entry("R1"), HEADER, entry("R2"), ["รหัส*", "ปี:", "", "", "", "", "", ""]])
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]
    assert [r["entry_id"] for r in read_published(ws.published_csv())] == ["R1", "R2"]
    assert [(i.type, i.cell) for i in result.issues] == [("repeated-header", "row 3"), ("repeated-header", "row 5")]


def test_analyst_downloads_xlsx_and_json_beside_the_csv(ws: Workspace) -> None:
    import openpyxl

    ws.xlsx("a.xlsx", [HEADER, entry("J2", submitted="15 มี.ค. 2564"), entry("J1", submitted="")])
    assert build(ws.config)[0].status == "published"
    folder = ws.published / DATASET
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    by_path = {r["path"]: r for r in package["resources"]}
    assert set(by_path) == {"entries.csv", "entries.xlsx", "entries.json"}
    for path, resource in by_path.items():
        data = (folder / path).read_bytes()
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + __import__("hashlib").sha256(data).hexdigest()
    records = json.loads((folder / "entries.json").read_text(encoding="utf-8"))
    assert [r["entry_id"] for r in records] == ["J1", "J2"]
    assert records[1]["contest_year"] == 2564 and records[1]["submitted_date"] == "2021-03-15"
    assert records[0]["submitted_date"] is None
    book = openpyxl.load_workbook(folder / "entries.xlsx")
    sheet = book.active
    assert sheet.freeze_panes == "A3"
    assert [c.value for c in sheet[1]][:3] == ["entry_id", "contest_year", "organization_name"]
    assert sheet["A1"].font.bold
    assert [c.value for c in sheet[2]][:2] == ["รหัสผลงาน", "ปีที่ประกวด (พ.ศ.)"]
    assert sheet["B4"].value == 2564
    assert sheet["H4"].value == dt.datetime(2021, 3, 15) and sheet["H4"].is_date
    assert sheet.column_dimensions["G"].width > 10


@pytest.mark.parametrize("batch_rows", [1, 2, 50_000])
def test_json_copy_round_trips_any_text(tmp_path: Path, batch_rows: int) -> None:
    """Quotes, backslashes, control characters, Thai and nulls come back exactly, whatever
    the batch size (the writer escapes whole columns, falling back per value)."""
    import pyarrow as pa

    from pipeline.publish import write_json

    records = [  # "id": quotes and backslashes (escaped per column); "note": control characters
        {"id": 'a "quoted" \\ path\\', "year": 2564, "day": dt.date(2021, 3, 15), "note": "ไทย\tแท็บ"},
        {"id": "ชื่อ / \u2028 é", "year": None, "day": None, "note": None},
        {"id": "", "year": -1, "day": dt.date(1999, 12, 31), "note": "บรรทัด\nใหม่ \u0001"},
    ]
    path = tmp_path / "out.json"
    write_json(pa.Table.from_pylist(records), path, batch_rows=batch_rows)
    back = json.loads(path.read_text(encoding="utf-8"))
    expected = [{**r, "day": r["day"].isoformat() if r["day"] else None} for r in records]
    assert back == expected
    assert "ไทย" in path.read_text(encoding="utf-8"), "Thai stays UTF-8, not \\u escapes"


def test_progress_is_plain_lines_without_a_terminal_and_a_bar_on_one(ws: Workspace) -> None:
    import io
    import subprocess
    import sys

    from pipeline.progress import Progress

    ws.xlsx("a.xlsx", [HEADER, entry("P1"), entry("P2")])
    done = subprocess.run([sys.executable, "-m", "pipeline", *ws.cli_args()], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "reading a.xlsx › ผลงาน: done (3 rows" in done.stderr  # header + two rows
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert "report:" in done.stdout and "validation.html" in done.stdout

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress(stream=screen)
    progress.step("reading big.xlsx", total=100)
    progress.advance(60)
    progress.done()
    assert "\r" in screen.getvalue() and "60/100" in screen.getvalue()


def test_blank_rows_deep_in_a_long_sheet_keep_every_address(ws: Workspace) -> None:
    rows: list[list[object]] = [HEADER]
    for i in range(1, 121):
        rows.append(entry(f"L{i:03d}", province="ภูเก้ต" if i == 110 else "ชลบุรี"))
        if i in (70, 90):
            rows.append([])  # blank rows far below the header
    ws.xlsx("long.xlsx", rows)
    result = build(ws.config)[0]
    assert result.summary.rows_read == 120
    # header at row 1, two blank rows before entry 110: it sits on row 1 + 110 + 2
    assert ("E113", "province") in {(e.cell, e.field) for e in result.errors}


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [("constraints", {"minLength": -1}, "minLength -1"), ("title", 5, "title")],  # checked beside the read; at load
)
def test_a_table_schema_changed_after_a_publish_is_checked_again(
    ws: Workspace, key: str, value: object, problem: str
) -> None:
    """The Table Schema check is skipped only for the schema the published stamp says passed it:
    a schema broken after a good build is refused (exit 2), and the published files stay as they were."""
    import shutil

    schemas = ws.root / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    config = Config(ws.raw, ws.published, ws.reports, schemas)
    ws.xlsx("a.xlsx", [HEADER, entry("A1")])
    assert build(config)[0].status == "published"
    stamp = (ws.published / DATASET / ".build-fingerprint").read_text().split()
    assert len(stamp) == 2  # input fingerprint, then the digest of the schema that passed
    before = ws.snapshot()
    path = schemas / DATASET / "entries.schema.json"
    table_schema = json.loads(path.read_text(encoding="utf-8"))
    table_schema["fields"][0][key] = value
    path.write_text(json.dumps(table_schema, ensure_ascii=False), encoding="utf-8")
    result = build(config)[0]
    assert result.status == "failed"
    assert "is not a valid Table Schema" in str(result.error) and problem in str(result.error)
    assert ws.snapshot() == before
    assert main(["build", "--quiet", *folder_args(ws.raw, ws.published, ws.reports, schemas)]) == 2
