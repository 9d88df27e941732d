"""Inputs a data officer really gets: each has a fixture made here and a defined outcome —
a correct build, or a clear one-line error naming the file (and sheet/cell), exit code 1,
no traceback, and the published folder unchanged."""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from pipeline.errors import ReadError
from pipeline.read import read_file
from pipeline.run import build

from .conftest import DATASET, HEADER, REPO, Workspace, entry, scans_split_everywhere, write_csv, write_xlsx


def published_ids(ws: Workspace) -> list[str]:
    text = ws.published_csv().read_text(encoding="utf-8-sig").splitlines()
    return [line.split(",")[0].strip('"') for line in text[1:]]


def fails_cleanly(ws: Workspace, *expected: str) -> str:
    """Build through the CLI in a subprocess: exit 1, one-line errors, no traceback, nothing changed."""
    ws.xlsx("0-good.xlsx", [HEADER, entry("OK1")])
    before = ws.snapshot()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *ws.cli_args(), "--force"], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr
    assert ws.snapshot() == before
    return done.stderr


@pytest.fixture
def ws_published(ws: Workspace) -> Workspace:
    """A workspace with something already published, which a failed build must not touch."""
    ws.xlsx("0-good.xlsx", [HEADER, entry("OK1")])
    assert build(ws.config)[0].status == "published"
    return ws


# ---------------------------------------------------------------- encodings and delimiters


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("cp874", ","), ("tis-620", ","), ("utf-8", ","), ("utf-8-sig", ","), ("utf-8", ";"), ("utf-8-sig", "\t")],
)
def test_csv_encodings_and_delimiters(ws: Workspace, encoding: str, delimiter: str) -> None:
    write_csv(
        ws.dataset_dir / "a.csv", [HEADER, entry("C1", org="อบต.ท่าช้าง", province="จ.เชียงใหม่")], encoding, delimiter
    )
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]
    row = ws.published_csv().read_text(encoding="utf-8-sig").splitlines()[1]
    assert "องค์การบริหารส่วนตำบลท่าช้าง" in row and "เชียงใหม่" in row


def test_csv_encoding_can_be_set_per_dataset(ws: Workspace, tmp_path: Path) -> None:
    import shutil

    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    fields = schemas / DATASET / "fields.yaml"
    fields.write_text(
        fields.read_text(encoding="utf-8") + "\ncsv: {encoding: cp874, delimiter: '|'}\n", encoding="utf-8"
    )
    write_csv(ws.dataset_dir / "a.csv", [HEADER, entry("E1")], "cp874", "|")
    from pipeline.run import Config

    result = build(Config(ws.raw, ws.published, ws.reports, schemas))[0]
    assert result.status == "published", [i.line() for i in result.issues]


# ---------------------------------------------------------------- empty and odd workbooks


def test_empty_file(ws_published: Workspace) -> None:
    (ws_published.dataset_dir / "empty.csv").write_bytes(b"")
    fails_cleanly(ws_published, "empty.csv", "empty file")


def test_sheet_without_header_row_is_an_error_when_it_is_the_only_one(ws_published: Workspace) -> None:
    ws_published.xlsx("notes.xlsx", [["บันทึกการประชุม"], ["ไม่มีตาราง"]])
    fails_cleanly(ws_published, "notes.xlsx", "no sheet with a header row")


def test_hidden_sheets_and_unrelated_sheets_are_skipped(ws: Workspace) -> None:
    path = ws.dataset_dir / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "ผลงาน"
    for row in [HEADER, entry("H1")]:
        wb.active.append(row)
    hidden = wb.create_sheet("ซ่อน")
    for row in [HEADER, entry("HIDDEN", province="ไม่มีจังหวัดนี้")]:
        hidden.append(row)
    hidden.sheet_state = "hidden"
    wb.create_sheet("สรุป").append(["สรุปจำนวน", 1])
    wb.save(path)
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]
    assert published_ids(ws) == ["H1"]


def test_merged_cells_inside_the_data_fill_every_row_they_cover(ws: Workspace) -> None:
    path = ws.dataset_dir / "merged.xlsx"
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(HEADER)
    for i in range(3):
        sheet.append(entry(f"M{i}", province="ลำปาง" if i == 0 else ""))
    sheet.merge_cells("E2:E4")  # one province keyed for three entries
    wb.save(path)
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]
    rows = ws.published_csv().read_text(encoding="utf-8-sig").splitlines()[1:]
    assert all(',"ลำปาง","TH-52",' in r for r in rows)


# ---------------------------------------------------------------- detected by content


def test_corrupt_xlsx(ws_published: Workspace) -> None:
    data = (REPO / "data/raw" / DATASET / "ท้องถิ่นดิจิทัล-2564.xlsx").read_bytes()
    (ws_published.dataset_dir / "cut.xlsx").write_bytes(data[: len(data) // 2])
    fails_cleanly(ws_published, "cut.xlsx", "damaged workbook")


@pytest.mark.parametrize("name", ["protected.xlsx", "legacy.xls.xlsx"])
def test_password_protected_or_legacy_xls(ws_published: Workspace, name: str) -> None:
    # both are OLE compound files (an encrypted .xlsx is one too), whatever the name says
    (ws_published.dataset_dir / name).write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)
    fails_cleanly(ws_published, name, "password")


def test_ods(ws_published: Workspace) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    (ws_published.dataset_dir / "sheet.xlsx").write_bytes(buffer.getvalue())
    fails_cleanly(ws_published, "sheet.xlsx", "OpenDocument")


def test_csv_that_is_really_xlsx_and_xlsx_that_is_really_csv(ws: Workspace) -> None:
    write_xlsx(ws.dataset_dir / "really-a-workbook.csv", {"ผลงาน": [HEADER, entry("X1")]})
    write_csv(ws.dataset_dir / "really-text.xlsx", [HEADER, entry("X2")])
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]
    assert published_ids(ws) == ["X1", "X2"]


# ---------------------------------------------------------------- formulas


def test_formula_cached_values_are_used(ws: Workspace) -> None:
    path = ws.dataset_dir / "formulas.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("ผลงาน")
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, entry("F1"))
    sheet.write_formula(1, 1, "=2500+64", None, 2564)  # contest_year computed, cached 2564
    book.close()
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]
    assert ",2564," in ws.published_csv().read_text(encoding="utf-8-sig")


def test_formula_without_cached_value_is_an_error_naming_the_cell(ws_published: Workspace) -> None:
    path = ws_published.dataset_dir / "uncalculated.xlsx"
    wb = openpyxl.Workbook()  # openpyxl writes formulas without a computed value
    wb.active.title = "ผลงาน"
    wb.active.append(HEADER)
    wb.active.append([*entry("F2")[:1], "=2500+64", *entry("F2")[2:]])
    wb.save(path)
    fails_cleanly(ws_published, "uncalculated.xlsx › ผลงาน › B2", "formula without a calculated value")


# ---------------------------------------------------------------- bombs


def _peak_rss_mb(cmd: list[str]) -> tuple[int, float, str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read() if proc.stderr else ""
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, err, time.perf_counter() - start


def test_zip_bomb_is_refused_fast_with_little_memory(ws_published: Workspace) -> None:
    path = ws_published.dataset_dir / "bomb.xlsx"
    good = REPO / "data/raw" / DATASET / "ท้องถิ่นดิจิทัล-2564.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, src.read(item))
        with dst.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b" " * (1 << 24)
            for _ in range(64):  # 1 GiB of XML whitespace from a ~1 MB file
                sheet.write(block)
    assert path.stat().st_size < 5_000_000
    code, rss, err, seconds = _peak_rss_mb([sys.executable, "-m", "pipeline", *ws_published.cli_args(), "--force"])
    assert code == 1 and "bomb.xlsx" in err and "zip bomb" in err and "Traceback" not in err
    assert seconds < 30 and rss < 1024


def test_xml_entity_expansion_is_refused(ws_published: Workspace) -> None:
    path = ws_published.dataset_dir / "laughs.xlsx"
    write_xlsx(path, {"ผลงาน": [HEADER, entry("L1")]})
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        + ']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        "<si><t>&lol9;</t></si></sst>"
    )
    patched = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "xl/sharedStrings.xml":
                dst.writestr(item, src.read(item))
        dst.writestr("xl/sharedStrings.xml", laughs)
    path.write_bytes(patched.getvalue())
    fails_cleanly(ws_published, "laughs.xlsx", "entity")


# ---------------------------------------------------------------- names and links


def test_thai_file_names_with_spaces(ws: Workspace) -> None:
    write_xlsx(ws.dataset_dir / "ผลงาน อปท ภาคเหนือ (ฉบับแก้ไข).xlsx", {"ผลงาน": [HEADER, entry("T1")]})
    result = build(ws.config)[0]
    assert result.status == "published"
    assert result.summary.files == ["ผลงาน อปท ภาคเหนือ (ฉบับแก้ไข).xlsx"]


def test_symlink_pointing_outside_the_raw_folder_is_refused(ws_published: Workspace, tmp_path: Path) -> None:
    outside = write_xlsx(tmp_path / "elsewhere" / "secret.xlsx", {"ผลงาน": [HEADER, entry("S1")]})
    (ws_published.dataset_dir / "link.xlsx").symlink_to(outside)
    fails_cleanly(ws_published, "link.xlsx", "outside")


# ---------------------------------------------------------------- fuzzing the readers


def test_fuzzed_workbooks_give_only_defined_errors(tmp_path: Path) -> None:
    """Mutated copies of a real workbook: every read either works or raises ReadError."""
    seed = random.Random(2564)
    original = (REPO / "data/raw" / DATASET / "ท้องถิ่นดิจิทัล-2564.xlsx").read_bytes()
    outcomes = {"read": 0, "refused": 0}
    deadline = time.monotonic() + 60
    for i in range(80):
        data = bytearray(original)
        for _ in range(seed.randint(1, 12)):
            data[seed.randrange(len(data))] = seed.randrange(256)
        if seed.random() < 0.2:
            data = data[: seed.randrange(1, len(data))]
        path = tmp_path / f"fuzz-{i}.xlsx"
        path.write_bytes(bytes(data))
        try:
            read_file(path, path.name)
            outcomes["read"] += 1
        except ReadError as exc:
            assert str(exc).startswith(path.name)
            outcomes["refused"] += 1
        assert time.monotonic() < deadline, "a mutated workbook hung the reader"
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 80


def test_fuzzed_csv_text_never_crashes(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.binary(max_size=400))
    def read_any(data: bytes) -> None:
        path = tmp_path / "fuzz.csv"
        path.write_bytes(data)
        with contextlib.suppress(ReadError):
            read_file(path, "fuzz.csv")

    read_any()


# ---------------------------------------------------------------- two builds at once


def test_two_builds_at_once_never_mix(ws: Workspace) -> None:
    import filelock

    ws.xlsx("a.xlsx", [HEADER, entry("A1")])
    lock = filelock.FileLock(str(ws.published.parent / f".{ws.published.name}.lock"))
    with lock:  # another build is running
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *ws.cli_args(), "--lock-timeout", "1"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
    assert done.returncode == 2 and "another build is publishing" in done.stderr and "Traceback" not in done.stderr
    assert not ws.published_csv().exists()
    # and a build that waits gets its turn once the first one is done
    lock.acquire()
    waiting = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *ws.cli_args(), "--lock-timeout", "60"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.5)
    assert waiting.poll() is None, "the second build must wait for the lock"
    lock.release()
    assert waiting.wait(60) == 0
    assert published_ids(ws) == ["A1"]


# ---------------------------------------------------------------- personal data (PDPA)


@pytest.mark.parametrize(
    ("field_index", "value", "kind"),
    [
        (5, "ระบบแจ้งเหตุ โทร 081-234-5678", "phone"),
        (5, "ติดต่อ somchai@example.org", "e-mail"),
        (2, "อบต.ท่าช้าง (นายสมชาย ใจดี)", "personal name"),
        (0, "1101400010397", "national ID"),
    ],
)
def test_personal_data_in_a_published_field_is_refused_naming_the_cell(
    ws_published: Workspace, field_index: int, value: str, kind: str
) -> None:
    row = entry("P1")
    row[field_index] = value
    ws_published.xlsx("leak.xlsx", [HEADER, row])
    err = fails_cleanly(ws_published, f"leak.xlsx › ผลงาน › {'ABCDEFGH'[field_index]}2", kind)
    assert value not in err  # the guard never repeats what it found
    report = (ws_published.reports / DATASET / "validation.json").read_text(encoding="utf-8")
    assert value not in report


def test_names_titles_and_places_are_not_mistaken_for_personal_data(ws: Workspace) -> None:
    ws.xlsx(
        "a.xlsx",
        [
            HEADER,
            entry("N1", org="เทศบาลตำบลนางรอง", title="ระบบนายกเทศมนตรี พบประชาชน โควิด-19 ปี 2564"),
            entry("N2", title="นางรอง บุรีรัมย์ Smart City 2021-03-15"),
        ],
    )
    result = build(ws.config)[0]
    assert result.status == "published", [i.line() for i in result.issues]


@pytest.mark.parametrize("dimension", [None, '<dimension ref="A1:K9"/>'])
def test_cell_addresses_stay_exact_without_or_with_a_wrong_dimension_tag(ws: Workspace, dimension: str | None) -> None:
    """The fast reader takes the first column from <dimension>; when it is missing or wrong,
    the other reader places the cells, and errors still name the right cell."""
    import re

    path = write_xlsx(ws.dataset_dir / "a.xlsx", {"ผลงาน": [HEADER, entry("D1", province="ภูเก้ต")]}, origin=(3, 3))
    patched = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"<dimension[^>]*/>", (dimension or "").encode(), data)
            dst.writestr(item, data)
    path.write_bytes(patched.getvalue())
    errors = build(ws.config)[0].errors
    assert ("G4", "province") in {(e.cell, e.field) for e in errors}


@pytest.mark.parametrize("dimension", ['<dimension ref="A1:XFD1048576"/>', '<dimension ref="A1:H2"/>'])
def test_stray_cell_far_from_the_table_is_refused_not_allocated(ws_published: Workspace, dimension: str) -> None:
    """A1 and XFD1048576 in a 6 KB workbook would make calamine allocate 17 billion cells and
    abort the process; the refusal names the sheet, whatever the <dimension> tag claims."""
    import re

    path = write_xlsx(ws_published.dataset_dir / "stray.xlsx", {"ผลงาน": [HEADER, entry("S1")]})
    patched = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"<dimension[^>]*/>", dimension.encode(), data)
                stray = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
                data = data.replace(b"</sheetData>", stray + b"</sheetData>")
            dst.writestr(item, data)
    path.write_bytes(patched.getvalue())
    assert path.stat().st_size < 20_000
    err = fails_cleanly(ws_published, "stray.xlsx › ผลงาน", "1,048,576 rows x 16,384 columns")
    assert "refused" in err


@pytest.mark.parametrize("formula", [b"", b"<f>1+1</f>", b'<x:f t="shared" si="0"/>'])
def test_sheet_scan_is_exact_wherever_the_stream_splits_the_xml(formula: bytes) -> None:
    xml = (
        b'<sheetData><row r="2"><c r="C2" t="s"><v>1</v></c><c r="XFD1048576">'
        + formula
        + b'<v>2</v></c></row><row r="3"><c r="D3" t="inlineStr"><is><t>&lt;f a:f</t></is></c></row></sheetData>'
    )
    for cut, scan in scans_split_everywhere(xml, first=1):
        assert (scan.rows, scan.cols, scan.formulas) == ([2, 1_048_576], [3, 16_384], bool(formula)), cut
