"""The same generated rows written by each program that makes .xlsx files officers send in.

Each writer lays out the XML its own way: Excel (and xlsxwriter, which copies Excel's layout)
writes a `<dimension>` element and shared strings; xlsxwriter's constant-memory mode and
openpyxl's write-only mode write inline strings, and write-only mode no `<dimension>`;
pandas writes through its default engine (xlsxwriter when installed, else openpyxl), header in
row 1; LibreOffice writes its own styles, spans and page margins. The reader must
take its fast path on every one of them (`benchmarks/run.py` measures it, `tests/test_writers.py`
checks every cell against the cell-by-cell reader).

    python -m benchmarks.writers WRITER --rows 300000 [--seed 2564] --out FILE.xlsx
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks.generate import HEADER, rows

SHEET = "ผลงาน"
TITLE = "ผลการประกวดนวัตกรรมท้องถิ่นดิจิทัล (ข้อมูลสังเคราะห์สำหรับวัดความเร็ว)"
Row = list[object]


def _layout(data: Iterable[Row]) -> Iterable[Row]:
    """A title row, a blank row, the header, then the data: the shape of a real report."""
    yield [TITLE]
    yield []
    yield list(HEADER)
    yield from data


def _as_datetime(value: object) -> object:
    return dt.datetime(value.year, value.month, value.day) if type(value) is dt.date else value


def excel_like(path: Path, data: Iterable[Row]) -> None:
    """xlsxwriter's default mode: Excel's own layout (`<dimension>`, shared strings, row spans)."""
    _xlsxwriter(path, data, constant_memory=False)


def xlsxwriter_constant_memory(path: Path, data: Iterable[Row]) -> None:
    """xlsxwriter row by row (`constant_memory`): inline strings, rows flushed as written."""
    _xlsxwriter(path, data, constant_memory=True)


def _xlsxwriter(path: Path, data: Iterable[Row], constant_memory: bool) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory, "strings_to_numbers": False})
    sheet = book.add_worksheet(SHEET)
    date_format = book.add_format({"num_format": "d/m/yyyy"})
    time_format = book.add_format({"num_format": "hh:mm:ss"})
    for r, row in enumerate(_layout(data)):
        for c, value in enumerate(row):
            if isinstance(value, dt.date | dt.datetime):
                sheet.write_datetime(r, c, _as_datetime(value), date_format)
            elif isinstance(value, dt.time):
                sheet.write_datetime(r, c, value, time_format)
            elif value is not None and value != "":
                sheet.write(r, c, value)
    book.close()


def openpyxl_normal(path: Path, data: Iterable[Row]) -> None:
    """openpyxl's ordinary workbook: every cell in memory, `<dimension>`, text written inline."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = SHEET
    for row in _layout(data):
        sheet.append([None if v == "" else v for v in row])
    book.save(path)


def openpyxl_write_only(path: Path, data: Iterable[Row]) -> None:
    """openpyxl's write-only mode: inline strings and no `<dimension>` element."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(SHEET)
    for row in _layout(data):
        sheet.append([None if v == "" else v for v in row])
    book.save(path)


def pandas_to_excel(path: Path, data: Iterable[Row]) -> None:
    """`DataFrame.to_excel` with pandas' default engine for .xlsx (xlsxwriter when installed), header in row 1."""
    import pandas as pd

    frame = pd.DataFrame([[None if v == "" else v for v in row] for row in data], columns=HEADER, dtype=object)
    frame.to_excel(path, sheet_name=SHEET, index=False)


def soffice() -> str | None:
    """LibreOffice's command, if it is installed (Debian: `libreoffice-calc-nogui`)."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def libreoffice(path: Path, data: Iterable[Row]) -> None:
    """The Excel-like workbook opened and saved again as .xlsx by LibreOffice Calc, headless."""
    command = soffice()
    if command is None:
        raise RuntimeError("LibreOffice is not installed (Debian package libreoffice-calc-nogui)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in" / "contest.xlsx"
        source.parent.mkdir()
        excel_like(source, data)
        out = Path(tmp) / "out"
        profile = Path(tmp) / "profile"  # its own profile: never the user's, never locked by another soffice
        subprocess.run(
            [
                command,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--norestore",
                "--convert-to",
                "xlsx:Calc MS Excel 2007 XML",
                "--outdir",
                str(out),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=3600,
            env={**os.environ, "HOME": tmp},
        )
        shutil.move(out / "contest.xlsx", path)


WRITERS: dict[str, Callable[[Path, Iterable[Row]], None]] = {
    "excel-like": excel_like,
    "xlsxwriter-constant-memory": xlsxwriter_constant_memory,
    "openpyxl": openpyxl_normal,
    "openpyxl-write-only": openpyxl_write_only,
    "pandas": pandas_to_excel,
    "libreoffice": libreoffice,
}


def available(name: str) -> str | None:
    """Why a writer cannot run on this machine, or None when it can."""
    if name == "libreoffice" and soffice() is None:
        return "LibreOffice is not installed (apt-get install libreoffice-calc-nogui); skipped"
    return None


def write(name: str, path: Path, data: Iterable[Row]) -> None:
    """Write `data` with writer `name`, atomically (a cached file is never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.xlsx")
    WRITERS[name](tmp, data)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("writer", choices=sorted(WRITERS))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2564)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write(args.writer, args.out, rows(args.rows, 0.0, args.seed))


if __name__ == "__main__":
    main()
