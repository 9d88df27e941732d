"""Issue 15: a workbook reads the same, and takes the fast Arrow path, whatever program wrote it.

The rows come from the benchmark's generator (Thai text, Buddhist-Era years, date cells, Thai
digits, NBSP) plus typed cells of every kind a sheet holds (a number with decimals, a time, a
date with a time, booleans); each writer lays them out its own way (`benchmarks/writers.py`).
The reference is python-calamine read cell by cell: the path the pipeline took for every
workbook before the fast path existed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import writers
from benchmarks.generate import rows
from pipeline import read

from .conftest import scans_split_everywhere

TYPED: list[object] = [2.5, 0.1, -7.25, dt.time(10, 30), dt.datetime(2021, 3, 1, 8, 15), True, False, 2564, 0]


def sample() -> list[list[object]]:
    data = [list(r) for r in rows(40, 0.03, seed=15)]
    for i, value in enumerate(TYPED):  # typed cells in the result column, among the text
        data[i][7] = value
    return data


@pytest.mark.parametrize("writer", sorted(writers.WRITERS))
def test_every_writer_takes_the_fast_path_and_reads_cell_for_cell_as_calamine(tmp_path: Path, writer: str) -> None:
    if (why := writers.available(writer)) is not None:
        pytest.skip(why)
    path = tmp_path / f"{writer}.xlsx"
    writers.write(writer, path, sample())
    grids = read.read_file(path, path.name)
    assert [g.sheet for g in grids] == [writers.SHEET]
    grid = grids[0]
    assert grid.reader == "fastexcel", f"{writer}: the sheet took the cell-by-cell reader"
    slow_cells, slow_rows = read._calamine_grid(path, writers.SHEET, read.QUIET)
    pd.testing.assert_frame_equal(grid.cells, slow_cells)
    assert np.array_equal(grid.row_numbers, slow_rows)
    # and the cells are what was written (not merely the same misreading on both paths)
    texts = set(grid.cells.to_numpy().ravel())
    assert {"2.5", "0.1", "-7.25", "10:30:00", "2021-03-01 08:15:00", "true", "false", "2564"} <= texts
    assert grid.cells.shape[1] == len(writers.HEADER)
    assert len(grid.cells) == 40 + 1 + (0 if writer == "pandas" else 1)  # rows, header, title


def test_cells_that_hold_nothing_do_not_move_the_columns(tmp_path: Path) -> None:
    """No <dimension>, and styled empty cells (`<c r="A5" s="0"/>`) left of the table: the
    columns come from the cells that hold a value, and still agree with calamine's."""
    import zipfile

    import openpyxl

    path = tmp_path / "styled.xlsx"
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(writers.SHEET)
    for row in [[writers.TITLE], [], list(writers.HEADER), *sample()]:
        sheet.append([None, *row])  # the table starts in column B
    book.save(path)
    patched = tmp_path / "patched.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                assert b"<dimension" not in data and b'r="A' not in data
                data = data.replace(b'<row r="5">', b'<row r="5"><c r="A5" s="0"/>', 1)
                assert b'<c r="A5" s="0"/>' in data
            dst.writestr(item, data)
    grid = read.read_file(patched, patched.name)[0]
    slow_cells, slow_rows = read._calamine_grid(patched, writers.SHEET, read.QUIET)
    pd.testing.assert_frame_equal(grid.cells, slow_cells)
    assert np.array_equal(grid.row_numbers, slow_rows)
    assert grid.reader == "fastexcel"
    assert list(grid.cells.columns)[0] == 1  # column B: nothing is in column A


@pytest.mark.parametrize(
    ("xml", "long"),
    [
        (b'<c r="A1"><v>2564</v></c><pageMargins left="0.7" header="0.511811023622047"/>', False),
        (b'<x:c r="A1"><x:v>4.51119775197299</x:v></x:c>', True),
        (b'<c r="A1" t="n"><v>-0.000001</v></c>', False),
        (b'<c r="A1" t="n"><v>1E-10</v></c>', True),
    ],
)
def test_only_cell_values_send_a_sheet_to_the_exact_reader(xml: bytes, long: bool) -> None:
    """LibreOffice writes page margins with 15 decimals into every sheet: not a cell, so not a
    reason to leave the fast path; a cell value with more decimals than fastexcel keeps is."""
    for cut, scan in scans_split_everywhere(xml):
        assert scan.long_numbers is long, cut


def test_a_sheet_name_with_markup_characters_takes_the_fast_path(tmp_path: Path) -> None:
    """workbook.xml escapes `&` and `<` in sheet names: the layout is found under the name as shown."""
    import xlsxwriter

    path = tmp_path / "amp.xlsx"
    book = xlsxwriter.Workbook(str(path))
    visible, hidden = book.add_worksheet("ผลงาน & <สรุป>"), book.add_worksheet("ซ่อน & ไว้")
    for r, row in enumerate([list(writers.HEADER), *sample()[:5]]):
        visible.write_row(r, 0, [v for v in row if not isinstance(v, dt.date | dt.time)])
        hidden.write_row(r, 0, ["x"])
    hidden.hide()
    book.close()
    grids = read.read_file(path, path.name)
    assert [(g.sheet, g.reader) for g in grids] == [("ผลงาน & <สรุป>", "fastexcel")]
    slow_cells, _ = read._calamine_grid(path, "ผลงาน & <สรุป>", read.QUIET)
    pd.testing.assert_frame_equal(grids[0].cells, slow_cells)
