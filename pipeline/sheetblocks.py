"""A large worksheet read in row blocks, so that its cells are never in memory all at once.

calamine (under fastexcel) parses a whole sheet before it hands out one row: 1.3 GB for a
million rows of inline strings, whatever `n_rows` says. Here the sheet's XML is inflated a
block at a time and cut after a `</row>`; each block becomes a small uncompressed workbook of
its own (the file's other parts, the sheet's opening up to `<sheetData>`, the block's rows and
a sentinel row after them) that fastexcel parses exactly as it parses the whole file, so every
value comes out as the same text. The sentinel row holds a cell in the sheet's first and last
column, so every block spans the columns the whole sheet spans, and `skip_rows` drops the rows
above the block. A block is parsed on a thread of its own (Rust, without the GIL) while the
caller works on the previous one.

Only a sheet this can read exactly is read in blocks (one worksheet, unprefixed tags, shared
strings small enough to repeat in every block); any surprise raises NotInBlocks before a wrong
cell could come out, and the caller reads the workbook whole.
"""

from __future__ import annotations

import queue
import re
import struct
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import fastexcel
import pyarrow as pa
from isal import isal_zlib

from pipeline import safety

BLOCK_BYTES = 24 << 20  # of sheet XML per block: ~25,000 rows of ten columns, ~150 MB while parsed
FIRST_BLOCK_ROWS = 64  # rows the first block holds at least (the header search looks at the top)
# every block repeats the shared strings: beyond this the whole-sheet read is cheaper and no larger
SHARED_STRINGS_MAX = 8 << 20
SHEET_DATA = b"<sheetData>"
_ROW_NUMBER = re.compile(rb'\sr="([0-9]+)"')
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet\b")
_DIMENSION = re.compile(rb'(<dimension\s+ref=")[^"]*"')


class NotInBlocks(Exception):
    """This sheet cannot be read block by block exactly; read the workbook whole."""


def sheet_xml_bytes(path: Path) -> int | None:
    """The size of the workbook's one worksheet's XML, if it is a workbook this module may read in
    blocks (one worksheet, small shared strings); None otherwise. Reads the zip directory only."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    sheets = [m for m in members if m.filename.startswith("xl/worksheets/") and m.filename.count("/") == 2]
    strings = sum(m.file_size for m in members if m.filename.lower().endswith("sharedstrings.xml"))
    if len(sheets) != 1 or strings > SHARED_STRINGS_MAX:
        return None
    return sheets[0].file_size


def row_blocks(
    path: Path, member: str, first_col: int, width: int, block_bytes: int | None = None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(the sheet row of the batch's first row, its text columns) for each block of rows, in order;
    the columns are the sheet's `width` columns from `first_col` (0-based)."""
    block_bytes = block_bytes or BLOCK_BYTES
    results: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in _parsed_blocks(path, member, first_col, width, block_bytes):
                if not hand_over(item):
                    return
            hand_over(done)
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            hand_over(exc)

    worker = threading.Thread(target=produce, name="sheet-blocks", daemon=True)
    worker.start()
    try:
        while (item := results.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def _parsed_blocks(
    path: Path, member: str, first_col: int, width: int, block_bytes: int
) -> Iterator[tuple[int, pa.RecordBatch]]:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        book = _StoredZip(
            [(m.filename, archive.read(m)) for m in archive.infolist() if m.filename != member and not m.is_dir()]
        )
        previous_last = 0
        for opening, rows in _xml_blocks(archive, info, block_bytes):
            first, last, rows = _row_span(rows, previous_last)
            if first is None:
                continue  # only whitespace between rows
            yield _parse(book, member, opening, rows, first, last, first_col, width)
            previous_last = last


class _StoredZip:
    """A workbook whose parts are stored (not compressed), written by hand: the other parts once,
    the sheet per block, its CRC-32 by ISA-L and the whole file in one join (zipfile copied each
    block three times and took its CRC at a tenth of the speed)."""

    def __init__(self, parts: list[tuple[str, bytes]]) -> None:
        self.entries: list[bytes] = []
        self.directory: list[bytes] = []
        self.offset = 0
        for name, data in parts:
            self._add(name.encode(), [data], isal_zlib.crc32(data), len(data), self.entries, self.directory)

    def _add(
        self, name: bytes, data: list[bytes], crc: int, size: int, entries: list[bytes], directory: list[bytes]
    ) -> None:
        offset = sum(len(e) for e in entries)
        fields = (20, 0, 0, 0, 0x21, crc, size, size, len(name))
        entries.append(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name)
        entries.extend(data)
        directory.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, offset) + name)

    def with_part(self, name: str, data: list[bytes]) -> bytes:
        """The workbook with one more part, `data` joined."""
        crc = 0
        for piece in data:
            crc = isal_zlib.crc32(piece, crc)
        entries, directory = list(self.entries), list(self.directory)
        self._add(name.encode(), data, crc, sum(len(d) for d in data), entries, directory)
        start = sum(len(e) for e in entries)
        central = b"".join(directory)
        end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(directory), len(directory), len(central), start, 0)
        return b"".join([*entries, central, end])


def _xml_blocks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, block_bytes: int) -> Iterator[tuple[bytes, bytes]]:
    """(the sheet's XML up to and with `<sheetData>`, whole rows): each block is cut at the first
    `</row>` once it holds `block_bytes`, the first once it also holds FIRST_BLOCK_ROWS rows."""
    opening = b""
    pending: list[bytes] = []
    size = 0
    carry = b""
    first = True
    for piece in safety.member_blocks(archive, info):
        if not opening:
            carry += piece
            at = carry.find(SHEET_DATA)
            if at < 0:
                if len(carry) > 1 << 20 or b"<sheetData/>" in carry:
                    raise NotInBlocks("no <sheetData> element (an empty sheet, or prefixed tags)")
                continue
            opening, piece, carry = carry[: at + len(SHEET_DATA)], carry[at + len(SHEET_DATA) :], b""
            root = _ROOT.search(opening)
            if root is None or root.group(1):
                raise NotInBlocks("the sheet's root element is not an unprefixed <worksheet>")
        while piece:
            end = piece.find(b"</row>", max(block_bytes - size, 0))
            if end < 0:
                pending.append(piece)
                size += len(piece)
                break
            pending.append(piece[: end + 6])
            size += end + 6
            piece = piece[end + 6 :]
            rows = b"".join(pending)
            if first and rows.count(b"</row>") < FIRST_BLOCK_ROWS:
                pending = [rows]  # the header is looked for in the first block: hold on to more rows
                continue
            first = False
            yield opening, rows
            pending, size = [], 0
    if not opening:
        raise NotInBlocks("no <sheetData> element (an empty sheet, or prefixed tags)")
    rows = b"".join(pending)
    end = rows.find(b"</sheetData>")
    if end < 0:
        raise NotInBlocks("the sheet's XML ends before </sheetData>")
    if rows[:end].strip():
        yield opening, rows[:end]


def _row_span(rows: bytes, previous_last: int) -> tuple[int | None, int, bytes]:
    """The sheet rows of a block's first and last row tags, from their `r`. A row without `r`
    inside the block is counted by calamine from the one before it, as in the whole sheet; at
    either end of a block it could only be guessed, so the sheet is read whole (every program
    measured writes `r` on every row)."""
    start = rows.find(b"<row")
    if start < 0:
        if b"<c" in rows:
            raise NotInBlocks("cells outside a <row>")
        return None, previous_last, rows
    first, last = _row_number(rows, start), _row_number(rows, rows.rfind(b"<row"))
    if first is None or last is None:
        raise NotInBlocks("a row without its number (r) at the edge of a block")
    if first <= previous_last or last < first:
        raise NotInBlocks(f"rows out of order ({previous_last}, then {first}..{last})")
    return first, last, rows


def _row_number(rows: bytes, at: int) -> int | None:
    found = _ROW_NUMBER.search(rows, at, rows.index(b">", at))
    return int(found.group(1)) if found else None


def _parse(
    book: _StoredZip,
    member: str,
    opening: bytes,
    rows: bytes,
    first: int,
    last: int,
    first_col: int,
    width: int,
) -> tuple[int, pa.RecordBatch]:
    """(the sheet row of the first row given, the rows down to `last`)."""
    sentinel_row = last + 1
    refs = sorted({first_col, first_col + width - 1})
    sentinel = b'<row r="%d">' % sentinel_row + b"".join(
        b'<c r="%s%d" t="inlineStr"><is><t>.</t></is></c>' % (_letters(c), sentinel_row) for c in refs
    )
    # the block's own span: calamine sizes its cell list from <dimension>, the whole sheet's otherwise
    span = b"%s%d:%s%d" % (_letters(refs[0]), first, _letters(refs[-1]), sentinel_row)
    opening = _DIMENSION.sub(lambda m: m.group(1) + span + b'"', opening, count=1)
    data = book.with_part(member, [opening, rows, sentinel, b"</row></sheetData></worksheet>"])
    del rows
    reader = fastexcel.read_excel(data)
    del data
    # skip_rows=None: fastexcel starts at the block's first row that holds a value (skip_rows=first-1
    # would build every row above the block first, and cost grew with the row number); the rows it
    # leaves out hold nothing, and the sentinel row, always last, tells where the rest begin
    batch = reader.load_sheet(0, header_row=None, dtypes="string", skip_rows=None, eager=True)
    start = sentinel_row - batch.num_rows + 1
    if batch.num_columns != width or start < first:
        raise NotInBlocks(
            f"rows {first}-{last} came out as {batch.num_rows - 1} rows x {batch.num_columns} columns, "
            f"not at most {last - first + 1} x {width}"
        )
    return start, batch.slice(0, batch.num_rows - 1)


def _letters(col: int) -> bytes:
    """0 -> b"A", 27 -> b"AB"."""
    out = b""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        out = bytes([65 + rest]) + out
    return out
