"""A large worksheet read in row blocks, so that its cells are never in memory all at once.

calamine (under fastexcel) parses a whole sheet before it hands out one row: 1.3 GB for a
million rows of inline strings, whatever `n_rows` says. Here the sheet's XML is inflated a
block at a time and cut after a `</row>`; each block becomes a small uncompressed workbook of
its own (the file's other parts, the sheet's opening up to `<sheetData>`, the block's rows and
a sentinel row after them) that fastexcel parses exactly as it parses the whole file, so every
value comes out as the same text. The sentinel row holds a cell in the sheet's first and last
column, so every block spans the columns the whole sheet spans; being always last, it also tells
which sheet row each parsed row is. A block is parsed on a thread of its own (Rust, without the
GIL) while the caller works on the previous one.

Shared strings (what Excel writes) are not handed to calamine with every block: parsing them
took 2.4 s per block at a million rows. They are read once, into one Arrow array, and a block's
shared-string cells (`t="s"><v>7</v>`) are turned into text cells holding a private-use mark and
the index (`t="str"><v>\ue0007</v>`), which Arrow's `take` replaces with the string after the
parse. Only plain strings are read this way (one `<t>` each, the five named entities); rich text,
character references or `_xHHHH_` escapes leave the workbook to be read whole.

Only a sheet this can read exactly is read in blocks (one worksheet, unprefixed tags, numbered
rows at the edges of blocks, plain shared strings); any surprise raises NotInBlocks before a
wrong cell could come out, and the caller reads the workbook whole.
"""

from __future__ import annotations

import os
import queue
import re
import struct
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import fastexcel
import pyarrow as pa
import pyarrow.compute as pc
from isal import isal_zlib

from pipeline import safety

BLOCK_BYTES = 24 << 20  # of sheet XML per block: ~27,000 rows of the contest (inline strings), ~60,000 (shared)
# rows the first block holds at least: more than the 20 the header is looked for in, so a batch
# after the first never holds the header
FIRST_BLOCK_ROWS = 64
MARK = "\ue000"  # private use: a shared-string cell comes out of a block as MARK + its index
_MARK = MARK.encode()
_SHARED_CELL, _MARKED_CELL = b't="s"><v>', b't="str"><v>' + _MARK
_PLAIN, _PRESERVE = b"<si><t>", b'<si><t xml:space="preserve">'
_XML_SPACE = " \t\n\r"  # what calamine trims from a string not marked xml:space="preserve"
# a plain string that needs nothing done: no tag, entity, escape or carriage return inside, no
# whitespace at its edges (calamine trims it)
_SIMPLE_STRING = r"^<si><t>(?:[^<&_\r\s](?:[^<&_\r]*[^<&_\r\s])?)?</t>$"
STRINGS_AT_ONCE = 500_000  # shared strings turned into text per step (bounds the copies)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))
SHEET_DATA = b"<sheetData>"
_ROW_NUMBER = re.compile(rb'\sr="([0-9]+)"')
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet\b")
_DIMENSION = re.compile(rb'(<dimension\s+ref=")[^"]*"')


class NotInBlocks(Exception):
    """This sheet cannot be read block by block exactly; read the workbook whole."""


def sheet_xml_bytes(path: Path) -> int | None:
    """The size of the XML of the workbook's one worksheet and its shared strings, if it has one
    worksheet; None otherwise. Reads the zip directory only."""
    sizes = part_sizes(path)
    return sum(sizes) if sizes else None


def part_sizes(path: Path) -> tuple[int, int] | None:
    """(the XML of the workbook's one worksheet, that of its shared strings), if it has one
    worksheet; None otherwise. Reads the zip directory only."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    sheets = [m for m in members if m.filename.startswith(safety.WORKSHEETS) and m.filename.count("/") == 2]
    strings = _shared_strings_part(members)
    return (sheets[0].file_size, strings.file_size if strings else 0) if len(sheets) == 1 else None


def _shared_strings_part(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    return next((m for m in members if m.filename.lower().endswith("sharedstrings.xml")), None)


Layout = tuple[str, int, int]  # the sheet's part in the zip, its first column (0-based), its width


def row_blocks(
    path: Path, layout: Callable[[], Layout], block_bytes: int | None = None, parsers: int = 1
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(the sheet row of the batch's first row, its text columns) for each block of rows, in order.
    `layout()` runs on the caller's thread (the safety scan, which also finds the sheet's columns)
    while the worker reads the shared strings; no block is parsed before it has returned.
    `parsers`: blocks parsed at once (a build that streams keeps one: its stages need the other core)."""
    block_bytes = block_bytes or BLOCK_BYTES
    results: queue.Queue[object] = queue.Queue(maxsize=1)
    stop, placed = threading.Event(), threading.Event()
    where: list[Layout] = []
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
            with zipfile.ZipFile(path) as archive:
                part = _shared_strings_part(archive.infolist())
                strings = _shared_strings(archive, part) if part else None
                placed.wait()
                if stop.is_set():
                    return
                for item in _parsed_blocks(archive, *where[0], block_bytes, strings, part, parsers):
                    if not hand_over(item):
                        return
            hand_over(done)
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            hand_over(exc)

    worker = threading.Thread(target=produce, name="sheet-blocks", daemon=True)
    worker.start()
    try:
        try:
            where.append(layout())
        except BaseException:
            stop.set()
            raise
        finally:
            placed.set()
        while (item := results.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def _parsed_blocks(
    archive: zipfile.ZipFile,
    member: str,
    first_col: int,
    width: int,
    block_bytes: int,
    strings: pa.Array | None,
    strings_part: zipfile.ZipInfo | None,
    parsers: int,
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Blocks cut and marked here, parsed by `parsers` threads at once (calamine releases the
    GIL), handed out in order; no more than `parsers` blocks are in the parsers' hands."""
    info = archive.getinfo(member)
    book = _StoredZip(
        [
            (m.filename, archive.read(m))
            for m in archive.infolist()
            if m.filename != member and m is not strings_part and not m.is_dir()
        ]
    )

    def parse(opening: bytes, rows: bytes, first: int, last: int, marked: int) -> tuple[int, pa.RecordBatch]:
        start, batch = _parse(book, member, opening, rows, first, last, first_col, width)
        return start, batch if strings is None else _with_shared_strings(batch, strings, marked)

    previous_last = 0
    with ThreadPoolExecutor(max_workers=parsers, thread_name_prefix="sheet-block") as pool:
        parsing: deque[Future[tuple[int, pa.RecordBatch]]] = deque()
        for opening, rows in _xml_blocks(archive, info, block_bytes):
            first, last, rows = _row_span(rows, previous_last)
            if first is None:
                continue  # only whitespace between rows
            marked = 0
            if strings is not None:
                rows, marked = _mark_shared_cells(rows)
            parsing.append(pool.submit(parse, opening, rows, first, last, marked))
            del rows
            previous_last = last
            if len(parsing) >= parsers:
                yield parsing.popleft().result()
        while parsing:
            yield parsing.popleft().result()


def _shared_strings(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> pa.Array:
    """Every shared string, as calamine gives it, in one Arrow array (index = `<v>` of the cell):
    the text of its one `<t>`, trimmed of XML whitespace unless xml:space="preserve", the five
    named entities replaced. Any other form raises NotInBlocks. It is read while the safety scan
    runs: a part the scan would refuse for its size is not read, nor more than it declares."""
    if part.file_size > safety.MAX_MEMBER_BYTES or part.file_size > safety.MAX_RATIO * max(part.compress_size, 1):
        raise NotInBlocks("shared strings the safety scan refuses")
    blocks, size = [], 0
    for block in safety.member_blocks(archive, part):
        size += len(block)
        if size > part.file_size:
            raise NotInBlocks("shared strings larger than the zip says")
        blocks.append(block)
    data = b"".join(blocks)
    del blocks
    start, end = data.find(b"<si>"), data.rfind(b"</sst>")
    if data.find(b"<sst") < 0 or end < 0 or b"<si" in data[: start if start >= 0 else end]:
        raise NotInBlocks("shared strings in a form other than <sst><si>")
    if start < 0:
        return pa.array([], pa.string())
    plain = _plain_only(data, start, end)
    if plain is not None:
        return plain
    offsets = pa.array([start, end], pa.int64()).buffers()[1]
    whole = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    pieces = pc.split_pattern(whole, b"</si>").flatten()  # one copy; `data` goes after it
    del whole, data
    pieces = pieces.slice(0, len(pieces) - 1)  # after the last </si>: nothing
    chunks = [pieces.slice(at, STRINGS_AT_ONCE) for at in range(0, len(pieces), STRINGS_AT_ONCE)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # Arrow's kernels release the GIL
        parts = list(pool.map(_plain_strings, chunks))
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def _plain_only(data: bytes, start: int, end: int) -> pa.Array | None:
    """The shared strings when every one is `<si><t>text</t></si>` (xml:space="preserve" or not)
    with nothing to undo, what Excel writes for plain cells: a preserved string's opening tag
    becomes a mark (U+0001, which XML 1.0 cannot hold), each boundary a NUL, split there; the
    checks on the bytes. None when any string needs more: the general path decides."""
    marked = data.replace(_PRESERVE, _PLAIN + b"\x01")
    joined = marked.replace(b"</t></si><si><t>", b"\0")
    del marked
    last = joined.rfind(b"</t></si>")
    if not joined.startswith(_PLAIN, start) or last < 0:
        return None
    begin = start + len(_PLAIN)
    if any(joined.find(token, begin, last) >= 0 for token in (b"<", b"&", b"_x", b"\r")):
        return None  # a tag left (rich text, an empty <t/>), an entity or escape to undo
    offsets = pa.array([begin, last], pa.int64()).buffers()[1]
    whole = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(joined)])
    text = pc.cast(pc.split_pattern(whole, b"\0").flatten(), pa.large_string())  # checks the UTF-8
    del whole, joined
    preserved = pc.starts_with(text, "\x01")
    edges = pc.match_substring_regex(text, r"^[ \t\n]|[ \t\n]$")
    if pc.any(pc.and_(edges, pc.invert(preserved))).as_py():
        return None  # whitespace at an edge of a string not preserved: calamine trims it
    if pc.any(preserved).as_py():
        text = pc.replace_with_mask(text, preserved, pc.utf8_slice_codeunits(text.filter(preserved), 1))
    return pc.cast(text, pa.string())


def _plain_strings(pieces: pa.Array) -> pa.Array:
    if pc.all(pc.match_substring_regex(pieces, _SIMPLE_STRING)).as_py():  # most of them: text and nothing else
        return pc.cast(pc.cast(pc.binary_slice(pieces, len(_PLAIN), -len(b"</t>")), pa.large_string()), pa.string())
    if not pc.all(pc.equal(pc.count_substring(pieces, b"<"), 3)).as_py():
        raise NotInBlocks("rich text, phonetic runs or empty <t/> among the shared strings")
    preserved = pc.starts_with(pieces, _PRESERVE)
    if (
        not pc.all(pc.or_(preserved, pc.starts_with(pieces, _PLAIN))).as_py()
        or not pc.all(pc.ends_with(pieces, b"</t>")).as_py()
    ):
        raise NotInBlocks("a shared string other than <si><t>…</t>")
    if pc.any(preserved).as_py():
        pieces = pc.replace_substring(pieces, _PRESERVE, _PLAIN, max_replacements=1)
    text = pc.cast(pc.binary_slice(pieces, len(_PLAIN), -len(b"</t>")), pa.large_string())  # checks the UTF-8
    if pc.any(pc.match_substring_regex(text, "&#|_x[0-9A-Fa-f]{4}_|\\r")).as_py():
        raise NotInBlocks("shared strings with character references, _xHHHH_ escapes or carriage returns")
    if not pc.all(preserved).as_py():
        text = pc.if_else(preserved, text, pc.utf8_trim(text, _XML_SPACE))
    if pc.any(pc.match_substring(text, "&")).as_py():
        for entity, char in _ENTITIES:
            text = pc.replace_substring(text, entity, char)
    return pc.cast(text, pa.string())


def _mark_shared_cells(rows: bytes) -> tuple[bytes, int]:
    """Shared-string cells as text cells holding MARK and their index, and how many (counted from
    the lengths: one replace, one count, instead of four passes over the block)."""
    marked = rows.replace(_SHARED_CELL, _MARKED_CELL)
    if b't="s"' in marked:
        raise NotInBlocks('a shared-string cell written other than t="s"><v>')
    return marked, (len(marked) - len(rows)) // (len(_MARKED_CELL) - len(_SHARED_CELL))


def _with_shared_strings(batch: pa.RecordBatch, strings: pa.Array, marked: int) -> pa.RecordBatch:
    """The block's cells with each mark replaced by its shared string; the marks found must be the
    ones made (a cell of the sheet's own that starts with U+E000 would be one more)."""
    columns, found = [], 0
    for column in batch.columns:
        is_marked = pc.starts_with(column, MARK)
        count = pc.sum(is_marked).as_py() or 0
        if count:
            found += count
            index = pc.cast(pc.utf8_slice_codeunits(pc.if_else(is_marked, column, None), 1), pa.int64())
            try:
                column = pc.if_else(is_marked, strings.take(index), column)
            except (IndexError, pa.ArrowInvalid) as exc:
                raise NotInBlocks(f"a shared-string index that is not one of the {len(strings):,} strings") from exc
        columns.append(column)
    if found != marked:
        raise NotInBlocks("a cell of the sheet's own starts with U+E000 (the mark of shared strings)")
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


class _StoredZip:
    """A workbook whose parts are stored (not compressed), written by hand: the other parts once,
    the sheet per block, its CRC-32 by ISA-L and the whole file in one join (zipfile copied each
    block three times and took its CRC at a tenth of the speed)."""

    def __init__(self, parts: list[tuple[str, bytes]]) -> None:
        self.entries: list[bytes] = []
        self.directory: list[bytes] = []
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
