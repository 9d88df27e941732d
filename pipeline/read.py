"""Stage 1, read: every workbook sheet / CSV under a dataset's raw folder as a grid of text.

Cells keep their spreadsheet coordinates (1-based row numbers, 0-based column indexes)
so that every later error can name the cell the data officer has to fix. Typed Excel
cells become canonical text here (2564.0 -> "2564", a date -> "YYYY-MM-DD") so that the
normalizers see one representation whatever the source.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import fastexcel
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

from pipeline import memory, safety, sheetblocks
from pipeline.errors import ReadError
from pipeline.issues import Issue, printable
from pipeline.progress import QUIET, Progress

CHUNK_ROWS = 50_000
# a one-sheet workbook with this much sheet XML (~18,000 rows of the contest) and its text inline is
# parsed in row blocks on every core (300,000 rows: 3.3 s against 4.2 s); below, one parse is
# quicker than starting the threads. With shared strings the blocks were no faster (3.7 s both
# ways, 0.2 GB more): calamine's whole read is kept for those
BLOCKS_MIN_BYTES = 16 << 20
BLOCKS_MAX_SHARED_STRINGS = 1 << 20
TOP_ROWS = 64
SUPPORTED_SUFFIXES = (".xlsx", ".csv", ".tsv")  # .tsv is read as CSV (the delimiter is sniffed)
SAVE_AS = "open it in Excel or LibreOffice and save it as .xlsx (Excel Workbook) or CSV UTF-8"
UNSUPPORTED_SUFFIXES = {
    ".xls": f"a legacy Excel 97-2003 workbook, not read; {SAVE_AS}",
    ".xlsm": f"a macro-enabled workbook, not read (macros are never run); {SAVE_AS}",
    ".xlsb": f"a binary Excel workbook, not read; {SAVE_AS}",
    ".ods": f"an OpenDocument spreadsheet, not read; {SAVE_AS}",
    ".numbers": f"an Apple Numbers file, not read; {SAVE_AS}",
}
SYSTEM_FILES = {"Thumbs.db", "desktop.ini", "Icon\r"}
OUTPUT_MARK = ".build-fingerprint"  # written by run.py into every published dataset folder
TIME_ONLY = "^1899-12-3[01] ([0-9]{2}:[0-9]{2}:[0-9]{2})$"
BLANK = "^[ \t\n\r\f\v\u00a0\u200b\u200c\u200d\u2060\ufeff\u3000]*$"  # spelled out: RE2 runs it


@dataclass
class SheetGrid:
    """The non-blank rows of one sheet (or CSV file), all cells as text."""

    file: str  # display name, relative to the dataset's raw folder
    sheet: str  # sheet name; "" for CSV
    cells: pd.DataFrame  # columns: 0-based column index; values: str ("" for empty)
    row_numbers: np.ndarray  # 1-based spreadsheet row (CSV: record number) of each row
    reader: str = "csv"  # "fastexcel" (Arrow, the fast path) or "calamine" (cell by cell) for a sheet


def sheet_label(file: str, sheet: str) -> str:
    """A sheet as reports and summaries name it: "file › sheet", a CSV by its file alone."""
    return f"{file} › {sheet}" if sheet else file


def raw_files(raw_dir: Path) -> list[Path]:
    """The files of a dataset's raw folder that are read, in name order (see `discover`)."""
    return discover(raw_dir)[0]


def all_files(raw_dir: Path) -> list[Path]:
    """Every file under a dataset's raw folder in name order, read or not (see `discover`).

    A symlink whose target lies outside the raw folder is refused: the build reads only
    what the data officer put there.
    """
    root = raw_dir.resolve()
    files = []
    for p in raw_dir.rglob("*"):
        if not p.resolve().is_relative_to(root):
            raise ReadError(
                f"{printable(p.relative_to(raw_dir).as_posix())}: refused: a link to a file outside {raw_dir}"
            )
        if p.is_file():
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(raw_dir).as_posix())


def discover(raw_dir: Path, published: Path | None = None) -> tuple[list[Path], list[Issue]]:
    """(files to read, an issue naming each file that is not read): no file in the folder
    is passed over without a word. The pipeline's own outputs (a published folder, a build
    fingerprint, a descriptor, or a byte-for-byte copy of a file the dataset's `published`
    folder lists) are never read back as input: a row deleted from a raw file would be
    published again."""
    files, issues = [], []
    copies = _published_copies(published)
    for path in all_files(raw_dir):
        display = path.relative_to(raw_dir).as_posix()
        reason = _not_read(path, raw_dir, copies)
        if reason is None:
            files.append(path)
        else:
            severity, message = reason
            issues.append(
                Issue(severity, "source-error" if severity == "error" else "source-skipped", message, file=display)
            )
    return files, issues


def _published_copies(published: Path | None) -> dict[int, set[str]]:
    """Size -> sha256 digests of the files a published dataset's descriptor lists."""
    try:
        descriptor = json.loads((published / "datapackage.json").read_text(encoding="utf-8")) if published else {}
    except (OSError, ValueError):
        return {}
    copies: dict[int, set[str]] = {}
    for resource in descriptor.get("resources", []) if isinstance(descriptor, dict) else []:
        if isinstance(resource, dict) and isinstance(resource.get("bytes"), int):
            copies.setdefault(resource["bytes"], set()).add(str(resource.get("hash", "")).removeprefix("sha256:"))
    return copies


def _is_published_copy(path: Path, copies: dict[int, set[str]]) -> bool:
    """Only files of a published size are hashed, so raw folders cost nothing extra to check."""
    size = path.stat().st_size
    if size not in copies:
        return False
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest() in copies[size]


def _not_read(path: Path, raw_dir: Path, copies: dict[int, set[str]]) -> tuple[str, str] | None:
    """Why `path` is not read (severity, message), or None when it is."""
    inside = path.relative_to(raw_dir).parts
    for depth in range(len(inside)):
        folder = raw_dir.joinpath(*inside[:depth])
        if depth and inside[depth - 1].startswith((".staging-", ".retired-")) or (folder / OUTPUT_MARK).exists():
            return "error", (
                "inside a folder the pipeline published (it holds a build fingerprint): published files are never "
                "read back as input; move that folder out of the raw folder"
            )
    name, suffix = path.name, path.suffix.lower()
    if name in (OUTPUT_MARK, "datapackage.json") or _is_published_copy(path, copies):
        return "error", (
            "looks like the pipeline's own published output: raw folders hold the original workbooks only; "
            "move it out (or rename it if it really is raw data)"
        )
    if name.startswith(("~$", ".~lock")):
        return "warning", "an office lock file (is the workbook open?); skipped"
    if name.startswith(".") or name in SYSTEM_FILES:
        return "warning", "a hidden or system file; skipped"
    if any(part.startswith(".") for part in inside[:-1]):
        return "warning", "in a hidden folder; skipped"
    if suffix in UNSUPPORTED_SUFFIXES:
        return "error", UNSUPPORTED_SUFFIXES[suffix]
    if suffix not in SUPPORTED_SUFFIXES:
        return "warning", "not a spreadsheet the pipeline reads (.xlsx, .csv, .tsv); skipped"
    return None


def cell_text(value: object) -> str:
    """Canonical text of a typed spreadsheet cell, the same as fastexcel writes it: numbers
    in plain positional notation with every digit they hold (1.5e-10 -> "0.00000000015"),
    dates and times as "YYYY-MM-DD HH:MM:SS", booleans as "true"/"false"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else np.format_float_positional(value, trim="-")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).isoformat(sep=" ")
    return str(value)


def sniff_format(path: Path) -> str:
    """'xlsx' or 'csv' decided by content, not by the file name."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise ReadError(f"{path.name}: empty file")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            raise ReadError(f"{path.name}: damaged workbook (not a readable zip): {exc}") from exc
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "mimetype" in names:
            raise ReadError(f"{path.name}: OpenDocument spreadsheets are not supported; save it as .xlsx")
        raise ReadError(f"{path.name}: a zip file, but not an Excel workbook")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ReadError(
            f"{path.name}: legacy .xls or password-protected workbook; remove the password and save it as .xlsx"
        )
    return "csv"


def read_file(
    path: Path,
    display_name: str,
    csv_options: dict[str, str] | None = None,
    progress: Progress = QUIET,
    before_parse: Callable[[], None] | None = None,
) -> list[SheetGrid]:
    """All grids of one raw file: one per visible worksheet, or one for a CSV. `before_parse` is
    called once the file passed the safety checks, as the parser starts (a workbook is parsed
    in Rust without the GIL: the caller's other work can run beside it). A large one-sheet
    workbook is parsed in row blocks on every core (`workbook_batches`), the same cells."""
    if sniff_format(path) != "xlsx":
        if before_parse is not None:
            before_parse()
        return [_read_csv(path, display_name, csv_options or {}, progress)]
    scanned: list[dict[str, safety.SheetLayout]] = []
    if parsed_in_blocks(path):
        blocks = workbook_batches(path, display_name, progress, os.cpu_count() or 1, scanned, before_parse)
        try:
            grids = list(blocks)
        except sheetblocks.NotInBlocks:
            grids = []
        if grids:
            cells = pd.concat([g.cells for g in grids], ignore_index=True) if len(grids) > 1 else grids[0].cells
            numbers = np.concatenate([g.row_numbers for g in grids])
            return [SheetGrid(display_name, grids[0].sheet, cells, numbers, "fastexcel")]
    # read whole: the blocks refused the sheet (or found no row), with the layouts they scanned
    layouts, opened = (scanned[0], None) if scanned else _inspected_and_opened(path, display_name)
    if before_parse is not None and not scanned:
        before_parse()
    return list(_read_xlsx(path, display_name, progress, layouts, opened))


def _inspected_and_opened(
    path: Path, display_name: str
) -> tuple[dict[str, safety.SheetLayout], Future[fastexcel.ExcelReader]]:
    """The safety scan, and fastexcel opening the workbook on another thread as soon as every part
    but the worksheets has passed it: the opening parses the shared strings and styles (half a
    second at 300,000 rows of Excel's layout) while the worksheets are scanned."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opening")
    opened: list[Future[fastexcel.ExcelReader]] = []
    try:
        layouts = safety.inspect_workbook(
            path, display_name, lambda: opened.append(pool.submit(fastexcel.read_excel, str(path)))
        )
    finally:
        pool.shutdown(wait=False)
    return layouts, opened[0]


def parsed_in_blocks(path: Path) -> bool:
    """Whether `read_file` parses this workbook in row blocks on every core (it may still find a
    reason to read it whole)."""
    sizes = sheetblocks.part_sizes(path)
    return sizes is not None and sizes[0] >= BLOCKS_MIN_BYTES and sizes[1] <= BLOCKS_MAX_SHARED_STRINGS


def _read_xlsx(
    path: Path,
    display_name: str,
    progress: Progress,
    layouts: dict[str, safety.SheetLayout],
    opened: Future[fastexcel.ExcelReader] | None = None,
) -> Iterator[SheetGrid]:
    """Visible worksheets, read by fastexcel straight into Arrow text columns (calamine in
    Rust, no Python object per cell); python-calamine takes over for a sheet whose layout
    could not be read from its XML, so every cell address stays exact. `opened`: the reader
    opened already (see `_inspected_and_opened`)."""
    try:
        reader = opened.result() if opened is not None else fastexcel.read_excel(str(path))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine raises its own errors, and a Rust panic is a BaseException
        raise ReadError(f"{display_name}: cannot open workbook: {_short(exc)}") from exc
    for name in reader.sheet_names:
        try:
            progress.step(printable(f"reading {display_name} › {name}"))
            layout = layouts.get(name)
            if layout is None or layout.visible is None:  # visibility unknown: fastexcel tells, lazily
                sheet = reader.load_sheet(name, header_row=None, dtypes="string", skip_rows=0)
                if sheet.visible != "visible":
                    continue
                batch = sheet.to_arrow()
                del sheet  # the parsed cells (in Rust memory) go before the Arrow copies are made
            elif not layout.visible:
                continue
            else:
                # eager: straight to Arrow from calamine's borrowing reader (shared strings are not
                # copied into every cell), so the parsed sheet takes a third less memory
                batch = reader.load_sheet(name, header_row=None, dtypes="string", skip_rows=0, eager=True)
            memory.return_freed()
            grid = _fast_grid(batch, layout, progress)
            del batch
            memory.return_freed()
            reader_used = "fastexcel"
            if grid is None:
                grid = _calamine_grid(path, name, progress)
                reader_used = "calamine"
        except (ReadError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise ReadError(f"{display_name} › {name}: cannot read sheet: {_short(exc)}") from exc
        cells, row_numbers = grid
        yield SheetGrid(display_name, name, cells, row_numbers, reader_used)


def _fast_grid(
    batch: pa.RecordBatch,
    layout: safety.SheetLayout | None,
    progress: Progress,
    first_row: int = 1,
    pinned: bool = False,
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """Rows come from the sheet's row `first_row`, columns from its first used column: that column
    is taken from the sheet's <dimension>, and checked against the cells (same width, a value
    in the first column, unless a block's sentinel `pinned` the columns: sheetblocks.py)."""
    if layout is None or layout.first_col is None:
        return None
    if batch.num_columns == 0 or batch.num_rows == 0:
        return pd.DataFrame(), np.array([], dtype=np.int64)
    if batch.num_columns != layout.width or (
        layout.first_col and not pinned and batch.column(0).null_count == batch.num_rows
    ):
        return None  # the dimension disagrees with the cells: let python-calamine place them
    if layout.exact_numbers:
        return None  # fastexcel writes numbers with at most 9 decimals (1.5e-10 -> "0"): calamine keeps every digit
    columns = [pc.fill_null(c, "") for c in batch.columns]
    # a time of day (no date) comes as "1899-12-31 10:30:00" from fastexcel, "10:30:00" from
    # python-calamine: the time alone, either way (a date of 1899 would be read as a real day)
    columns = [
        pc.replace_substring_regex(c, TIME_ONLY, "\\1") if pc.any(pc.starts_with(c, "1899-12-3")).as_py() else c
        for c in columns
    ]
    keep = ~_blank_rows(columns)
    progress.advance(batch.num_rows)
    table = pa.table({str(layout.first_col + i): c for i, c in enumerate(columns)})
    del columns
    if not keep.all():
        # blank rows sit mostly among the title rows: filter the top, and copy the body only
        # when it has blank rows of its own (a zero-copy slice otherwise)
        top = min(TOP_ROWS, len(keep))
        body = table.slice(top) if keep[top:].all() else table.slice(top).filter(pa.array(keep[top:]))
        table = pa.concat_tables([table.slice(0, top).filter(pa.array(keep[:top])), body])
    cells = table.to_pandas()
    cells.columns = [int(c) for c in cells.columns]
    row_numbers = (np.arange(batch.num_rows) + first_row)[keep]
    merged = [(r, c) for r, c in layout.merged if r[0] != c[0]]
    if merged and len(cells):
        cells = _fill_vertical_merges(cells, row_numbers, merged)
    return cells, row_numbers


def _calamine_grid(path: Path, name: str, progress: Progress) -> tuple[pd.DataFrame, np.ndarray]:
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return _sheet_grid(workbook.get_sheet_by_name(name), progress)
    finally:
        workbook.close()


def _blank_rows(columns: list[pa.Array]) -> np.ndarray:
    """Rows whose every cell is blank. Each column is checked only in the rows still blank after
    the columns before it: past the first column of a table, that is a handful of rows."""
    blank = pc.match_substring_regex(columns[0], BLANK).to_numpy(zero_copy_only=False)
    for column in columns[1:]:
        rows = np.flatnonzero(blank)
        if not len(rows):
            break
        blank[rows] = pc.match_substring_regex(column.take(pa.array(rows)), BLANK).to_numpy(zero_copy_only=False)
    return blank


def _sheet_grid(sheet: python_calamine.CalamineSheet, progress: Progress) -> tuple[pd.DataFrame, np.ndarray]:
    start = sheet.start or (0, 0)
    # iter_rows yields rows from the sheet's first row, columns from its first used column
    col_offset = start[1]
    rows = sheet.iter_rows()
    merged = [(r, c) for r, c in (sheet.merged_cell_ranges or []) if r[0] != c[0]]
    cells, row_numbers = _grid_from_rows(rows, first_row_number=1, col_offset=col_offset, progress=progress)
    if merged and len(cells):
        cells = _fill_vertical_merges(cells, row_numbers, merged)
    return cells, row_numbers


def _fill_vertical_merges(cells: pd.DataFrame, row_numbers: np.ndarray, merged: list) -> pd.DataFrame:
    """A cell merged down over several rows holds its value in every row it covers."""
    position = {int(r): i for i, r in enumerate(row_numbers)}
    for (r0, c0), (r1, _c1) in merged:
        if c0 not in cells.columns or (r0 + 1) not in position:
            continue
        value = cells.at[position[r0 + 1], c0]
        targets = [position[r + 1] for r in range(r0 + 1, r1 + 1) if (r + 1) in position]
        if targets:
            cells.loc[targets, c0] = value
    return cells


def _grid_from_rows(
    rows: Iterable[list[object]], first_row_number: int, col_offset: int, progress: Progress = QUIET
) -> tuple[pd.DataFrame, np.ndarray]:
    """Collect rows chunk by chunk into Arrow text columns, dropping blank rows.

    A column of Python strings goes to Arrow in one C call; only columns holding numbers
    or dates pay for a per-cell conversion to text.
    """
    tables: list[pa.Table] = []
    numbers: list[np.ndarray] = []
    seen = 0
    chunk: list[list[object]] = []

    def flush() -> None:
        nonlocal seen
        width = max(len(r) for r in chunk)
        if width == 0:  # nothing but empty lines
            seen += len(chunk)
            chunk.clear()
            return
        padded = [r if len(r) == width else [*r, *([""] * (width - len(r)))] for r in chunk]
        columns = []
        for values in zip(*padded, strict=True):
            try:
                columns.append(pa.array(values, type=pa.string()))
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers or dates among the text
                columns.append(pa.array([v if type(v) is str else cell_text(v) for v in values], type=pa.string()))
        blank = _blank_rows(columns)
        keep = pa.array(~blank)
        tables.append(pa.table({str(col_offset + i): c for i, c in enumerate(columns)}).filter(keep))
        numbers.append((np.arange(len(chunk)) + seen + first_row_number)[~blank])
        seen += len(chunk)
        progress.advance(len(chunk))
        chunk.clear()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            flush()
    if chunk:
        flush()
    if not tables:
        return pd.DataFrame(), np.array([], dtype=np.int64)
    table = pa.concat_tables(tables, promote_options="default")
    cells = table.to_pandas()
    cells.columns = [int(c) for c in cells.columns]
    return cells.fillna(""), np.concatenate(numbers)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# After a Windows-874 decode, text in another code page (Latin-1 "Café" -> "Caf้", Greek,
# Cyrillic …) shows Thai marks where Thai spelling cannot put them: a vowel or tone mark
# above/below with no consonant before it, a following vowel (ะ า ำ) after no Thai letter,
# a leading vowel (เ แ โ ใ ไ) before no consonant. Windows-874 is one byte a character
# (U+0E00 + n is byte 0xA0 + n), so the check runs with numpy over the bytes themselves.
_CP874_CLASS = np.zeros(256, dtype=np.uint8)
CONSONANT, MARK, FOLLOWING, LEADING, OTHER_THAI = 1, 2, 4, 8, 16
_CP874_CLASS[0xA1:0xEF] = OTHER_THAI
_CP874_CLASS[0xA1:0xCF] = CONSONANT  # ก-ฮ
_CP874_CLASS[[0xD1, *range(0xD4, 0xDB), *range(0xE7, 0xEF)]] = MARK  # ั ิ-ฺ ็-ํ
_CP874_CLASS[[0xD0, 0xD2, 0xD3]] = FOLLOWING  # ะ า ำ
_CP874_CLASS[0xE0:0xE5] = LEADING  # เ แ โ ใ ไ


def _implausible_thai(data: bytes) -> int | None:
    """Position of the first character that Thai spelling cannot hold where it stands, or None."""
    kind = _CP874_CLASS[np.frombuffer(data, dtype=np.uint8)]
    before = np.concatenate(([0], kind[:-1]))
    after = np.concatenate((kind[1:], [0]))
    bad = (kind == MARK) & ((before & (CONSONANT | MARK)) == 0)
    bad |= (kind == FOLLOWING) & (before == 0)
    bad |= (kind == LEADING) & (after != CONSONANT)
    where = np.flatnonzero(bad)
    return int(where[0]) if len(where) else None


MAX_CSV_COLUMNS = 16_384  # Excel's limit: a wider record is not a table an officer keyed


def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    """UTF-8 (with or without BOM) first, then the Thai Windows code page (a superset of TIS-620),
    kept only if it reads as plausible Thai: any byte decodes as Windows-874, so a Latin-1 or
    Greek file would otherwise be read as garbled Thai without a word."""
    if encoding:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ReadError(f"{printable(path.name)}: cannot decode as {encoding}: {exc}") from exc
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise ReadError(f"{printable(path.name)}: starts as UTF-8 but is not: {exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp874")
    except UnicodeDecodeError as exc:
        raise ReadError(
            f"{printable(path.name)}: not UTF-8 and not Thai (TIS-620/Windows-874) text{_guess(data)}: {exc}"
        ) from exc
    if (at := _implausible_thai(data)) is not None:
        line = text.count("\n", 0, at) + 1
        raise ReadError(
            f"{printable(path.name)}: not UTF-8, and read as Thai (Windows-874) it is garbled "
            f"(line {line}: {printable(text[max(0, at - 12) : at + 12])!r}){_guess(data)}; save it as CSV UTF-8, "
            "or name its encoding in fields.yaml (csv: {encoding: ...})"
        )
    return text


def _guess(data: bytes) -> str:
    """Which code page the bytes look like (charset-normalizer, already installed with requests)."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
    except Exception:  # a guess for a message only: never let it fail the read
        return ""
    if best is None or best.encoding in ("cp874", "tis_620", "ascii", "utf_8"):
        return "; its code page could not be guessed (Latin-1/Windows-1252 is common)"
    return f"; it looks like {best.encoding}" + (f" ({best.language})" if best.language != "Unknown" else "")


def _read_csv(path: Path, display_name: str, options: dict[str, str], progress: Progress) -> SheetGrid:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise ReadError(f"{display_name}: binary content, not a CSV text file")
    text = _decode(path, data, options.get("encoding"))
    dialect = _sniff_dialect(text, options.get("delimiter"))
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        progress.step(f"reading {printable(display_name)}")
        cells, row_numbers = _grid_from_rows(
            _limited(reader, display_name), first_row_number=1, col_offset=0, progress=progress
        )
    except csv.Error as exc:
        raise ReadError(f"{display_name}: malformed CSV: {exc}") from exc
    return SheetGrid(display_name, "", cells, row_numbers)


def _limited(reader: Iterator[list[str]], display_name: str, cell_limit: bool = True) -> Iterator[list[str]]:
    """Records as they come, refusing one wider than Excel's 16,384 columns before it is
    turned into columns (a 1 MB row of 500,000 empty fields once took 56 s and 2.7 GB), and
    a file whose rectangle exceeds the workbook cell limit (`safety.MAX_USED_CELLS`)."""
    width = 0
    for number, record in enumerate(reader, start=1):
        if len(record) > width:
            width = len(record)
            if width > MAX_CSV_COLUMNS:
                raise ReadError(
                    f"{display_name}: record {number} has {width:,} fields, more than a spreadsheet holds "
                    f"({MAX_CSV_COLUMNS:,}); check the delimiter and remove the empty columns"
                )
        if cell_limit and number * width > safety.MAX_USED_CELLS:
            raise ReadError(
                f"{display_name}: refused: {number:,} records x {width:,} fields is more than "
                f"{safety.MAX_USED_CELLS:,} cells, the limit a workbook has too; split the file"
            )
        yield record


def _sniff_dialect(text: str, delimiter: str | None) -> type[csv.Dialect]:
    """The delimiter and whether a space follows it, as the sniffer sees them (not the
    delimiter alone: `a, "b, c"` is two fields, not three). Quoting stays RFC 4180, as
    Excel writes it (`"` doubled inside quotes): the sniffer's guesses there are weaker."""
    sample = "\n".join(text[:65536].splitlines()[:50])
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=delimiter or ",;\t|")
    except csv.Error:
        sniffed = csv.excel

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter or sniffed.delimiter
    Dialect.skipinitialspace = bool(sniffed.skipinitialspace)
    return Dialect


# -- large CSV files, read batch by batch (pipeline/stream.py) --------------------------------

STREAM_SAMPLE_BYTES = 1 << 20


def stream_encoding(path: Path, options: dict[str, str]) -> str | None:
    """The encoding a large CSV is read in batch by batch: the one fields.yaml names, else UTF-8
    when its first megabyte is UTF-8; None when only the whole-file reader can tell (Thai code pages)."""
    if options.get("encoding"):
        return options["encoding"]
    with path.open("rb") as fh:
        head = fh.read(STREAM_SAMPLE_BYTES)
    if b"\x00" in head[:4096]:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not a character cut at the end of the sample
            return None
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def batches(
    path: Path, display_name: str, options: dict[str, str], batch_rows: int, progress: Progress = QUIET
) -> Iterator[SheetGrid]:
    """A file's rows a batch at a time: a CSV's `batch_rows` records, a workbook's blocks of rows
    (`workbook_batches`)."""
    if sniff_format(path) == "xlsx":
        return workbook_batches(path, display_name, progress)
    encoding = stream_encoding(path, options) or "utf-8"
    return csv_batches(path, display_name, options, encoding, batch_rows, progress)


def workbook_batches(
    path: Path,
    display_name: str,
    progress: Progress = QUIET,
    parsers: int = 1,
    scanned: list[dict[str, safety.SheetLayout]] | None = None,
    before_parse: Callable[[], None] | None = None,
) -> Iterator[SheetGrid]:
    """The rows of a one-sheet workbook a block at a time (`pipeline/sheetblocks.py`), after the
    same safety scan and as the fast path reads them whole, cell for cell; `parsers` blocks are
    parsed at once. Raises sheetblocks.NotInBlocks (before any block, unless a block surprises
    it) for a sheet that only the whole-workbook reader places exactly: merged cells, long
    numbers, several sheets. The scan's layouts are put in `scanned`, for that reader."""
    found: list[tuple[str, safety.SheetLayout]] = []

    def layout() -> sheetblocks.Layout:  # on this thread, while the shared strings are read
        layouts = safety.inspect_workbook(path, display_name)
        if scanned is not None:
            scanned.append(layouts)
        if before_parse is not None:
            before_parse()
        if len(layouts) != 1:
            raise sheetblocks.NotInBlocks(f"{len(layouts)} worksheets")
        [(name, sheet)] = layouts.items()
        if not sheet.visible or sheet.first_col is None or sheet.width is None:
            raise sheetblocks.NotInBlocks("a hidden sheet, or no cells")
        if sheet.exact_numbers or any(top[0] != bottom[0] for top, bottom in sheet.merged):
            raise sheetblocks.NotInBlocks("numbers only python-calamine writes exactly, or cells merged down rows")
        found.append((name, sheet))
        progress.step(printable(f"reading {display_name} › {name}"))
        return sheet.member, sheet.first_col, sheet.width

    try:
        for first, batch in sheetblocks.row_blocks(path, layout, parsers=parsers):
            name, sheet = found[0]
            grid = _fast_grid(batch, sheet, progress, first_row=first, pinned=True)
            del batch
            if grid is None:
                raise sheetblocks.NotInBlocks("a block's columns differ from the sheet's")
            yield SheetGrid(display_name, name, grid[0], grid[1], "fastexcel")
    except (sheetblocks.NotInBlocks, ReadError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # calamine raises its own errors, and a Rust panic is a BaseException
        where = f"{display_name} › {found[0][0]}" if found else display_name
        raise ReadError(f"{where}: cannot read sheet: {_short(exc)}") from exc


def csv_batches(
    path: Path, display_name: str, options: dict[str, str], encoding: str, batch_rows: int, progress: Progress = QUIET
) -> Iterator[SheetGrid]:
    """The records of a CSV as grids of up to `batch_rows` records each, read as `_read_csv` reads
    the whole file (same dialect sniffing, same parser, record numbers counted over the whole
    file), without the cell limit: each batch is let go before the next is read."""
    try:
        with path.open(encoding=encoding, newline="") as fh:
            dialect = _sniff_dialect(fh.read(65536), options.get("delimiter"))
            fh.seek(0)
            records = _limited(csv.reader(fh, dialect), display_name, cell_limit=False)
            progress.step(f"reading {printable(display_name)}")
            first = 1
            while chunk := list(itertools.islice(records, batch_rows)):
                cells, row_numbers = _grid_from_rows(chunk, first_row_number=first, col_offset=0, progress=progress)
                first += len(chunk)
                del chunk
                yield SheetGrid(display_name, "", cells, row_numbers)
    except csv.Error as exc:
        raise ReadError(f"{display_name}: malformed CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ReadError(
            f"{printable(display_name)}: cannot decode as {encoding} (a large CSV is read as UTF-8 unless fields.yaml "
            f"names its encoding: csv: {{encoding: ...}}): {exc}"
        ) from exc
