"""Issue 15: a large one-sheet workbook read in row blocks (pipeline/sheetblocks.py) gives the
cells the whole-sheet fast path gives, row for row, at every block size; a sheet it cannot read
exactly is refused before a block comes out; and a build that reads it so publishes the bytes
the in-memory build publishes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import generate, writers
from pipeline import read, sheetblocks, stream
from pipeline.errors import ReadError

from .conftest import DATASET, HEADER, entry, write_xlsx
from .test_stream import _assert_same, _build_both
from .test_writers import sample


def _whole(path: Path) -> read.SheetGrid:
    [grid] = read.read_file(path, path.name)
    return grid


def _in_blocks(path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int) -> list[read.SheetGrid]:
    monkeypatch.setattr(sheetblocks, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(sheetblocks, "FIRST_BLOCK_ROWS", 1)
    return list(read.workbook_batches(path, path.name))


def _assert_same_cells(blocks: list[read.SheetGrid], whole: read.SheetGrid) -> None:
    cells = pd.concat([b.cells for b in blocks], ignore_index=True)
    pd.testing.assert_frame_equal(cells, whole.cells.reset_index(drop=True))
    assert np.array_equal(np.concatenate([b.row_numbers for b in blocks]), whole.row_numbers)
    assert {b.sheet for b in blocks} == {whole.sheet}


@pytest.mark.parametrize("writer", sorted(writers.WRITERS))
@pytest.mark.parametrize("block_bytes", [1, 700, 5_000, 1 << 20])
def test_every_writers_sheet_in_blocks_is_the_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, block_bytes: int
) -> None:
    """Typed cells, times, Thai text, title rows; blocks of one row up to the whole sheet."""
    if (why := writers.available(writer)) is not None:
        pytest.skip(why)
    path = tmp_path / f"{writer}.xlsx"
    writers.write(writer, path, sample())
    blocks = _in_blocks(path, monkeypatch, block_bytes)
    assert len(blocks) > 1 or block_bytes == 1 << 20
    _assert_same_cells(blocks, _whole(path))


def _hand_written(path: Path, rows_xml: str, dimension: str = "A1:C9") -> Path:
    """A workbook whose sheet XML is written by hand: rows and cells with or without `r`."""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{rows_xml}</sheetData></worksheet>'
    )
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            book.writestr(name, text)
    return path


def _cell(ref: str | None, text: str) -> str:
    at = f' r="{ref}"' if ref else ""
    return f'<c{at} t="inlineStr"><is><t>{text}</t></is></c>'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=st.lists(
        st.tuples(st.sampled_from(["numbered", "unnumbered", "empty", "self-closed"]), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    block_bytes=st.integers(1, 600),
)
def test_rows_and_cells_without_their_number_are_placed_as_calamine_places_them(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, layout: list, block_bytes: int
) -> None:
    """A row without `r` follows the row before it, a cell without `r` the cell before it; rows
    that hold nothing and self-closed rows among them. Blocks give python-calamine's cells, or,
    where a block would start or end on a row without `r`, refuse before giving any."""
    rows_xml, number = [], 1
    for i, (kind, cell_refs) in enumerate(layout):
        number += 1 if kind == "unnumbered" else 2  # numbered rows leave a gap
        at = "" if kind == "unnumbered" else f' r="{number}"'
        if kind == "self-closed":
            rows_xml.append(f"<row{at}/>")
            continue
        if kind == "empty":
            rows_xml.append(f"<row{at}></row>")
            continue
        cells = [_cell(f"{col}{number}" if cell_refs else None, f"v{i}{col}") for col in "ABC"]
        rows_xml.append(f"<row{at}>{''.join(cells)}</row>\n")
    if not any(kind in ("numbered", "unnumbered") for kind, _ in layout):
        return
    path = _hand_written(tmp_path_factory.mktemp("hand") / "book.xlsx", "".join(rows_xml), f"A1:C{number}")
    whole = _whole(path)
    slow_cells, slow_rows = read._calamine_grid(path, "data", read.QUIET)
    pd.testing.assert_frame_equal(whole.cells.reset_index(drop=True), slow_cells.reset_index(drop=True))
    assert np.array_equal(whole.row_numbers, slow_rows)
    try:
        blocks = _in_blocks(path, monkeypatch, block_bytes)
    except sheetblocks.NotInBlocks:
        assert any(kind == "unnumbered" for kind, _ in layout), "every row has its number: readable in blocks"
        return
    _assert_same_cells(blocks, whole)


def test_a_sheet_only_the_whole_reader_places_exactly_is_refused_before_any_block(tmp_path: Path) -> None:
    two = write_xlsx(tmp_path / "two.xlsx", {"a": [HEADER, entry()], "b": [HEADER, entry()]})
    long_number = write_xlsx(tmp_path / "long.xlsx", {"a": [HEADER, [1.5e-10, *entry()[1:]]]})
    merged = tmp_path / "merged.xlsx"
    import openpyxl

    book = openpyxl.load_workbook(write_xlsx(merged, {"a": [HEADER, entry(), entry("E-002")]}))
    book.active.merge_cells("B2:B3")
    book.save(merged)
    for path in (two, long_number, merged):
        batches = read.workbook_batches(path, path.name)
        with pytest.raises(sheetblocks.NotInBlocks):
            next(batches)
    assert sheetblocks.sheet_xml_bytes(two) is None, "several worksheets: not even considered"


def test_only_a_one_sheet_workbook_may_stream_its_shared_strings_counted(tmp_path: Path) -> None:
    inline = tmp_path / "inline.xlsx"
    writers.write("openpyxl-write-only", inline, sample())
    size = sheetblocks.sheet_xml_bytes(inline)
    assert size
    assert stream.wanted([inline], {}, size // stream.XML_BYTES_PER_CSV_BYTE)
    assert not stream.wanted([inline], {}, size // stream.XML_BYTES_PER_CSV_BYTE + 1), "below the threshold"
    shared = tmp_path / "shared.xlsx"
    writers.write("excel-like", shared, sample())
    with zipfile.ZipFile(shared) as book:
        parts = {m.filename: m.file_size for m in book.infolist()}
    assert sheetblocks.sheet_xml_bytes(shared) == parts["xl/worksheets/sheet1.xml"] + parts["xl/sharedStrings.xml"]


def _with_shared_strings(path: Path, strings: list[bytes]) -> Path:
    """A workbook whose one column holds `strings` as shared strings (each a raw <si> body)."""
    rows = "".join(f'<row r="{i + 1}"><c r="A{i + 1}" t="s"><v>{i}</v></c></row>' for i in range(len(strings)))
    _hand_written(path, rows, f"A1:A{max(len(strings), 1)}")
    sst = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
        b'main" count="%d" uniqueCount="%d">'
        % (len(strings), len(strings))
        + b"".join(b"<si>" + body + b"</si>" for body in strings)
        + b"</sst>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    with zipfile.ZipFile(path) as book:
        parts = {m.filename: book.read(m) for m in book.infolist()}
    parts["xl/_rels/workbook.xml.rels"] = rels.encode()
    parts["xl/sharedStrings.xml"] = sst
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in parts.items():
            book.writestr(name, data)
    return path


_TEXT = st.lists(
    st.sampled_from(
        ["a", "b", " ", "ก", "๑", "\t", "\n", "\r", "_", "x", "&", "<", ">", '"', "'", "\u00a0", "_x000D_"]
    ),
    max_size=8,
).map("".join)
_RAW_XML = st.lists(  # already XML: character and entity references as a writer may leave them
    st.sampled_from(["a", " ", "\t", "\n", "_x000D_", "&#65;", "&amp;", "&lt;", "&quot;", "ก"]), max_size=6
).map("".join)


def _escaped(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    strings=st.lists(
        st.one_of(
            st.builds(lambda t: b"<t>" + _escaped(t) + b"</t>", _TEXT),
            st.builds(lambda t: b'<t xml:space="preserve">' + _escaped(t) + b"</t>", _TEXT),
            st.builds(lambda t: b"<t>" + t.encode() + b"</t>", _RAW_XML),
            st.builds(
                lambda a, b: b"<r><t>" + _escaped(a) + b"</t></r><r><t>" + _escaped(b) + b"</t></r>", _TEXT, _TEXT
            ),
            st.just(b"<t/>"),
        ),
        min_size=1,
        max_size=8,
    ),
    block_bytes=st.integers(1, 400),
)
def test_shared_strings_in_blocks_are_calamines_or_refused(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, strings: list[bytes], block_bytes: int
) -> None:
    """Entities, whitespace kept or trimmed, escapes, rich text: a block gives the string calamine
    gives, or the workbook is refused (then read whole); plain text is never refused."""
    path = _with_shared_strings(tmp_path_factory.mktemp("sst") / "book.xlsx", strings)
    whole = _whole(path)
    try:
        blocks = _in_blocks(path, monkeypatch, block_bytes)
    except sheetblocks.NotInBlocks:
        plain = [b for b in strings if b.startswith(b"<t") and b != b"<t/>"]
        assert len(plain) < len(strings) or any(token in b for b in strings for token in (b"_x", b"&#", b"\r")), (
            "plain shared strings were refused"
        )
        return
    if not whole.cells.empty:
        _assert_same_cells(blocks, whole)
    else:
        assert all(b.cells.empty for b in blocks)


def _build_both_ways(raw: Path, root: Path) -> None:
    """Built in memory and streamed: the same issues, summary, report and published bytes."""
    memory, streamed = _build_both(raw, root)
    _assert_same(root, memory, streamed)


@pytest.mark.parametrize("errors", [0.0, 0.05])
def test_a_workbook_built_in_blocks_publishes_what_the_in_memory_build_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errors: float
) -> None:
    """Generated rows (title rows, Thai digits, B.E. years, defects), blocks of a few hundred rows:
    the same issues in the same order, the same report and published bytes."""
    monkeypatch.setattr(sheetblocks, "BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(stream, "BUCKET_ROWS", 1_500)
    raw = tmp_path / "raw"
    generate.write_xlsx(raw / DATASET / "contest.xlsx", 4_000, errors, seed=15)
    assert stream.wanted([raw / DATASET / "contest.xlsx"], {}, 0)
    _build_both_ways(raw, tmp_path)


def test_a_workbook_that_cannot_go_in_blocks_is_built_whole_with_the_same_result(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    path = write_xlsx(raw / DATASET / "contest.xlsx", {"ผลงาน": [HEADER, entry(), entry("E-002"), entry("E-003")]})
    import openpyxl

    book = openpyxl.load_workbook(path)
    book.active.merge_cells("C2:C3")  # merged down two rows: the value fills both
    book.save(path)
    assert stream.wanted([path], {}, 0), "it looks like a candidate until its layout is read"
    _build_both_ways(raw, tmp_path)


def _contest_rows(n: int, late: str = "", at: int = 0) -> str:
    """The contest's header and `n` entries as inline-string rows; `late` replaces row `at`'s cells."""

    def cells(row: int, values: list[object]) -> str:
        out = []
        for col, value in enumerate(values):
            ref = f"{chr(65 + col)}{row}"
            if isinstance(value, int | float):
                out.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                text = str(value).replace("&", "&amp;").replace("<", "&lt;")
                out.append(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>')
        return "".join(out)

    rows = [f'<row r="1">{cells(1, HEADER)}</row>']
    for i in range(n):
        row = i + 2
        body = late if row == at and late else cells(row, entry(f"E-{i:05d}"))
        rows.append(f'<row r="{row}">{body}</row>')
    return "".join(rows)


GUARD_CORPUS = {
    "formula with its value": '<c r="A150" t="str"><f>"E-"&amp;"LATE"</f><v>E-LATE</v></c>',
    "formula without a value": '<c r="A150"><f>1+1</f></c>',
    "a cell far away": '<c r="A150" t="inlineStr"><is><t>E-X</t></is></c><c r="XFD150"><v>1</v></c>',
    "a cell just outside the dimension": '<c r="A150" t="inlineStr"><is><t>E-X</t></is></c><c r="I150"><v>1</v></c>',
    "a long number": '<c r="A150" t="inlineStr"><is><t>E-X</t></is></c><c r="B150"><v>0.1234567891234</v></c>',
    "an entity declared in the body": '<c r="A150" t="inlineStr"><is><t>E-X</t></is></c><!ENTITY x "y">',
    "nothing odd": "",
}


@pytest.mark.parametrize("case", sorted(GUARD_CORPUS))
def test_what_a_sheet_holds_late_ends_the_build_in_blocks_as_it_ends_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """A one-sheet workbook holding, far down, a formula with or without its value, a stray cell,
    a long number or a DTD piece: read in blocks where that is exact, else refused by the safety
    scan or read whole; either way the same issues, report and published files."""
    monkeypatch.setattr(sheetblocks, "BLOCK_BYTES", 8 << 10)
    raw = tmp_path / "raw"
    path = _hand_written(raw / DATASET / "contest.xlsx", _contest_rows(400, GUARD_CORPUS[case], 150), "A1:H401")
    if case in ("nothing odd", "formula with its value"):
        assert sum(len(g.cells) for g in read.workbook_batches(path, path.name)) == 401
    else:
        with pytest.raises((sheetblocks.NotInBlocks, ReadError)):
            list(read.workbook_batches(path, path.name))
    _build_both_ways(raw, tmp_path)


def test_cells_merged_down_rows_found_after_the_rows_send_the_workbook_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheetblocks, "BLOCK_BYTES", 8 << 10)
    raw = tmp_path / "raw"
    path = _hand_written(raw / DATASET / "contest.xlsx", _contest_rows(400), "A1:H401")
    with zipfile.ZipFile(path) as book:
        parts = {m.filename: book.read(m) for m in book.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="C300:C301"/></mergeCells>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in parts.items():
            book.writestr(name, data)
    with pytest.raises(sheetblocks.NotInBlocks, match="merged"):
        list(read.workbook_batches(path, path.name))
    _build_both_ways(raw, tmp_path)


@pytest.mark.parametrize("writer", ["openpyxl-write-only", "xlsxwriter-constant-memory", "openpyxl", "excel-like"])
def test_a_whole_workbook_read_in_blocks_on_every_core_is_the_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    """`read_file` parses a large one-sheet workbook of inline text in row blocks, several at once,
    and gives the grid the one whole parse gives; the safety scan runs, and `before_parse` is
    called, once either way."""
    path = tmp_path / f"{writer}.xlsx"
    writers.write(writer, path, sample())
    monkeypatch.setattr(sheetblocks, "BLOCK_BYTES", 700)
    scans, calls = [], []
    inspect = read.safety.inspect_workbook
    monkeypatch.setattr(read.safety, "inspect_workbook", lambda *a: scans.append(a) or inspect(*a))
    whole = read.read_file(path, path.name)
    monkeypatch.setattr(read, "BLOCKS_MIN_BYTES", 0)
    monkeypatch.setattr(read, "BLOCKS_MAX_SHARED_STRINGS", 1 << 40)
    scans.clear()
    blocks = read.read_file(path, path.name, before_parse=lambda: calls.append(1))
    assert len(scans) == 1 and calls == [1]
    [a], [b] = whole, blocks
    pd.testing.assert_frame_equal(a.cells.reset_index(drop=True), b.cells.reset_index(drop=True))
    assert np.array_equal(a.row_numbers, b.row_numbers) and (a.sheet, a.reader) == (b.sheet, b.reader)


def test_a_workbook_the_blocks_cannot_read_is_read_whole_after_one_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openpyxl

    path = write_xlsx(tmp_path / "merged.xlsx", {"a": [HEADER, entry(), entry("E-002")]})
    book = openpyxl.load_workbook(path)
    book.active.merge_cells("B2:B3")
    book.save(path)
    whole = read.read_file(path, path.name)
    monkeypatch.setattr(read, "BLOCKS_MIN_BYTES", 0)
    scans, calls = [], []
    inspect = read.safety.inspect_workbook
    monkeypatch.setattr(read.safety, "inspect_workbook", lambda *a: scans.append(a) or inspect(*a))
    [grid] = read.read_file(path, path.name, before_parse=lambda: calls.append(1))
    assert len(scans) == 1 and calls == [1]
    pd.testing.assert_frame_equal(grid.cells, whole[0].cells)
    assert grid.cells.iloc[2, 1] == grid.cells.iloc[1, 1], "the value merged down fills both rows"
