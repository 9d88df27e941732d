"""Checks a workbook must pass before a spreadsheet parser is allowed near it.

An .xlsx is a zip of XML. A hostile or broken one can declare small sizes and expand to
gigabytes (a zip bomb), carry XML entity definitions that expand exponentially, hold
formulas whose results were never computed, or place two cells so far apart (A1 and
XFD1048576) that calamine would allocate their whole rectangle (17 billion cells) and the
process would abort. These checks read the zip directory and stream the members with
bounded memory, so a refusal comes within seconds.
"""

from __future__ import annotations

import html
import os
import queue
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from isal import isal_zlib

from pipeline.errors import ReadError

# A genuine 1,000,000-row contest sheet is ~0.4-0.6 GB of XML (about 40 bytes per cell,
# 12 cells a row) compressing ~8-15x; limits leave room for twice that and refuse a bomb.
MAX_MEMBER_BYTES = 2 * 1024**3
MAX_TOTAL_BYTES = 3 * 1024**3
MAX_RATIO = 200  # XML of real sheets compresses 5-30x; bombs compress 1000x and more
STREAM_BLOCK = (
    2 << 20
)  # 2 MiB: fewer trips through Python than 1 MiB, still in cache (measured 0.46 s -> 0.40 s for 270 MB of XML)
PADDING = 64  # zero bytes after the XML a scan looks at
SCAN_THREADS = max(1, min(4, os.cpu_count() or 1))  # numpy releases the GIL: blocks scan side by side
# calamine holds the rectangle from the first to the last cell, about 32 bytes a cell:
# 32 Mi cells is 1 GiB (1,048,576 rows x 32 columns); a 1,000,000-row contest sheet is 11 Mi
MAX_USED_CELLS = 32 << 20
DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)  # Excel never writes one, in any part
FORMULA = re.compile(rb"<(?:\w+:)?f[ >/]")
CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
CACHED_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]+</(?:\w+:)?v>|<(?:\w+:)?is>")  # <v/> and <v></v> hold nothing
DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+[0-9]+)(?::([A-Z]+[0-9]+))?"')
MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"')
CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
WORKSHEETS = "xl/worksheets/"


@dataclass
class SheetLayout:
    """What the reader needs from a sheet's XML besides its cells (0-based, like calamine)."""

    first_col: int | None = None  # the first used column: from <dimension ref="C3:F8">, else from the cells
    width: int | None = None  # and how many columns it spans
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    # a number fastexcel would write differently from python-calamine: more than 8 decimals
    # (it rounds to 9), an exponent (1.5E-10 -> "0"), or 16 digits and more (beyond a float)
    exact_numbers: bool = False
    visible: bool | None = None  # from workbook.xml (None: not known, ask the reader)
    member: str = ""  # the sheet's part in the zip, e.g. "xl/worksheets/sheet1.xml"


class SheetScan:
    """What a sheet's XML holds, found with numpy: the smallest and largest row and column
    of its cell references (`<c r="B7">`), and whether any formula element (`<f>`) is there.
    Blocks are scanned on worker threads while the next block is decompressed (both
    release the GIL), so the scan costs little wall time. (A plain `b"<f" in block`
    took longer than decompressing: every tag starts with "<".) `track_values=False` skips
    finding the columns that hold values, which only a sheet without <dimension> needs."""

    REF_START = int(np.frombuffer(b' r="', dtype=np.uint32)[0])
    FORMULA_START = (int(np.frombuffer(b"<f", dtype=np.uint16)[0]), int(np.frombuffer(b":f", dtype=np.uint16)[0]))
    VALUE_START = int(np.frombuffer(b"v>", dtype=np.uint16)[0])  # after it, a cell's value (or "</v>")

    def __init__(self) -> None:
        self.track_values = True
        self.rows = [1 << 62, -1]
        self.cols = [1 << 62, -1]
        self.value_cols = [1 << 62, -1]  # columns of cells that are not self-closing (`<c r="B2" s="1"/>`)
        self.formulas = False
        self.long_numbers = False  # see SheetLayout.exact_numbers
        self._pending = b""  # the tag cut by a block's end, scanned with the next block
        self._queue: queue.Queue[tuple[bytes, bytes, int] | None] = queue.Queue(maxsize=4 * SCAN_THREADS)
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._workers = [threading.Thread(target=self._drain, daemon=True) for _ in range(SCAN_THREADS)]
        for worker in self._workers:
            worker.start()

    def feed(self, block: bytes) -> None:
        """Queue `block` (with the tag the previous block cut) and keep the tag it cuts itself."""
        held, n = len(self._pending), len(self._pending) + len(block)
        cut = block.rfind(b"<")
        cut = held + cut if cut >= 0 else self._pending.rfind(b"<")
        if cut < 0 or cut < n - 4096:  # no tag was cut (a long text is no reference)
            cut = n
        self._queue.put((self._pending, block, cut))
        self._pending = block[cut - held :] if cut >= held else self._pending[cut:] + block

    def close(self) -> None:
        """Wait for the blocks fed so far to be scanned."""
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()
        if self._failure is not None:
            raise self._failure
        self.scan(self._pending)

    def _drain(self) -> None:
        """Scan blocks, each with the tag the previous one cut, copied once into a reused buffer
        (copies of the bytes, not the scan, had become the largest cost). Blocks are independent,
        so every core scans: the bounds are folded under a lock."""
        buffer = np.zeros(0, dtype=np.uint8)
        try:
            while (work := self._queue.get()) is not None:
                pending, block, cut = work
                held = min(len(pending), cut)  # the cut may fall in the held tag (a block without "<")
                if len(buffer) < cut + PADDING:
                    buffer = np.zeros(cut + PADDING, dtype=np.uint8)
                buffer[:held] = np.frombuffer(pending, dtype=np.uint8, count=held)
                buffer[held:cut] = np.frombuffer(block, dtype=np.uint8, count=cut - held)
                buffer[cut : cut + PADDING] = 0
                self._scan(buffer[: cut + PADDING], cut)
        except BaseException as exc:  # reported by close(), on the caller's thread
            self._failure = exc

    def scan(self, xml: bytes) -> None:
        """Fold the references of complete tags in `xml` into the bounds."""
        self._scan(np.frombuffer(xml + b"\0" * PADDING, dtype=np.uint8), len(xml))

    def _scan(self, a: np.ndarray, n: int) -> None:
        """`scan` of the first `n` bytes of `a`, which has PADDING zero bytes after them (every
        run of letters or digits read past a tag stops there)."""
        formula, values = self._pairs(a, n)
        long_number = not self.long_numbers and len(values) > 0 and self._has_long_number(a, values)
        if formula or long_number:
            with self._lock:
                self.formulas = self.formulas or formula
                self.long_numbers = self.long_numbers or long_number
        starts = []
        for offset in range(4):  # ' r="' compared as one 32-bit word, at each of the 4 alignments
            words = (n - 3 - offset) // 4
            if words > 0:
                view = a[offset : offset + 4 * words].view(np.uint32)
                starts.append(np.flatnonzero(view == self.REF_START) * 4 + (offset + 4))
        at = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
        at = at[(a[at] >= 0x41) & (a[at] <= 0x5A)]  # a letter: a cell reference, not a row number
        if not len(at):
            return
        col = np.zeros(len(at), dtype=np.int64)
        more = np.ones(len(at), dtype=bool)
        while more.any():  # letters, then digits: "XFD1048576" -> column 16384, row 1048576
            ch = a[at].astype(np.int64)
            more &= (ch >= 0x41) & (ch <= 0x5A) & (col < 1 << 40)  # a hostile run of letters stays huge, never wraps
            col = np.where(more, col * 26 + ch - 0x40, col)
            at = at + more
        valued = self._valued(a, n, at) if self.track_values else np.zeros(0, dtype=bool)
        if valued.any():
            with self._lock:
                self.value_cols = [
                    min(self.value_cols[0], int(col[valued].min())),
                    max(self.value_cols[1], int(col[valued].max())),
                ]
        row = np.zeros(len(at), dtype=np.int64)
        more[:] = True
        while more.any():
            ch = a[at].astype(np.int64)
            more &= (ch >= 0x30) & (ch <= 0x39) & (row < 1 << 40)
            row = np.where(more, row * 10 + ch - 0x30, row)
            at = at + more
        with self._lock:
            self.rows = [min(self.rows[0], int(row.min())), max(self.rows[1], int(row.max()))]
            self.cols = [min(self.cols[0], int(col.min())), max(self.cols[1], int(col.max()))]

    @staticmethod
    def _valued(a: np.ndarray, n: int, at: np.ndarray) -> np.ndarray:
        """Whether each reference's tag holds a value: it does not end with "/>"."""
        closing = np.flatnonzero(a[:n] == 0x3E)  # every ">"
        end = np.searchsorted(closing, at)  # the ">" that ends each reference's tag
        inside = end < len(closing)
        valued = np.ones(len(at), dtype=bool)  # a tag cut by the block's end counts as holding a value
        valued[inside] = a[closing[end[inside]] - 1] != 0x2F  # "/>": a cell with nothing in it
        return valued

    def _has_long_number(self, a: np.ndarray, at: np.ndarray) -> bool:
        """A cell value (at `at`, what follows "v>") of 16 digits and more, with 9 decimals and more, or
        with a negative exponent (1.5E-10). Only values are looked at: a page margin of
        0.511811023622047 (LibreOffice writes one into every sheet) is no cell. A false alarm
        only sends the sheet to python-calamine (slower, same cells). Digits are counted on the
        values still in a run of them, so the work follows the digits there are (most values
        are short), not 16 looks at every value."""
        at = at + (a[at] == 0x2D)  # a minus sign
        lead = _digit_runs(a, at, 16)
        if (lead >= 16).any():  # 16 digits before any point: beyond what a float holds exactly
            return True
        at = at + lead
        point = np.flatnonzero(a[at] == 0x2E)
        decimals = _digit_runs(a, at[point] + 1, 9)
        if (decimals >= 9).any():  # fastexcel rounds to 9 decimals
            return True
        at[point] += decimals + 1
        sign = ((a[at] == 0x45) | (a[at] == 0x65)) & (a[at + 1] == 0x2D) & (lead > 0)
        return bool(_digit_runs(a, at[sign] + 2, 1).any())

    def _pairs(self, a: np.ndarray, n: int) -> tuple[bool, np.ndarray]:
        """One pass over the byte pairs at both alignments: whether `<f` or `<x:f` is followed by
        ">", " " or "/" (a formula element, checked exactly later), and where values start
        (after "v>", also "</v>", where no digit follows)."""
        formula = False
        values = []
        for offset in (0, 1):
            words = a[offset : offset + 2 * ((n - offset) // 2)].view(np.uint16)
            if not formula and not self.formulas:
                after = np.flatnonzero((words == self.FORMULA_START[0]) | (words == self.FORMULA_START[1]))
                after = after * 2 + offset + 2
                formula = bool(len(after) and np.isin(a[after], (0x3E, 0x20, 0x2F)).any())
            if not self.long_numbers:
                values.append(np.flatnonzero(words == self.VALUE_START) * 2 + offset + 2)
        return formula, np.concatenate(values) if values else np.zeros(0, dtype=np.int64)

    @property
    def cells(self) -> int:
        if self.rows[1] < 0:
            return 0
        return (self.rows[1] - self.rows[0] + 1) * (self.cols[1] - self.cols[0] + 1)


def inspect_workbook(
    path: Path, display_name: str, parts_checked: Callable[[], None] | None = None
) -> dict[str, SheetLayout]:
    """Refuse a zip bomb, XML entity tricks and formulas without a cached value; return the
    layout of each worksheet (by sheet name), read on the same pass. The worksheets are checked
    last: `parts_checked` is called once every other part has passed (a reader may then open the
    workbook, which parses its shared strings and styles, while the worksheets are checked)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise ReadError(f"{display_name}: damaged workbook (not a readable zip): {exc}") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if any(m.flag_bits & 0x1 for m in members):
            raise ReadError(f"{display_name}: the workbook is encrypted; remove the password and save it again")
        declared = sum(m.file_size for m in members)
        if declared > MAX_TOTAL_BYTES:
            raise ReadError(
                f"{display_name}: refused: it would expand to {declared:,} bytes (limit {MAX_TOTAL_BYTES:,})"
            )
        names = _sheet_names(archive)
        hidden = _hidden_sheets(archive)
        layouts = {}
        members.sort(key=lambda m: m.filename.startswith(WORKSHEETS))  # stable: the zip's order otherwise
        for member in members:
            if parts_checked is not None and member.filename.startswith(WORKSHEETS):
                parts_checked()
                parts_checked = None
            label = names.get(member.filename, member.filename)
            layout = _check_member(archive, member, display_name, label)
            if member.filename in names:
                layout.visible = label not in hidden
                layout.member = member.filename
                layouts[label] = layout
        if parts_checked is not None:
            parts_checked()
        return layouts


def _sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Member path of each worksheet -> its name as the officer sees it."""
    try:
        book = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except (KeyError, zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError, RuntimeError):
        return {}
    targets = {
        m.group(1).decode(): m.group(2).decode()
        for m in re.finditer(rb'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)
    }
    targets.update(
        {
            m.group(2).decode(): m.group(1).decode()
            for m in re.finditer(rb'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)
        }
    )
    names = {}
    for m in re.finditer(rb'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', book):
        target = targets.get(m.group(2).decode(), "")
        path = target.lstrip("/") if target.startswith("/") else "xl/" + target
        names[path] = html.unescape(m.group(1).decode("utf-8"))
    return names


def _hidden_sheets(archive: zipfile.ZipFile) -> set[str]:
    """Names of the sheets workbook.xml marks hidden or very hidden (`state="hidden"`)."""
    try:
        book = archive.read("xl/workbook.xml")
    except (KeyError, zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError, RuntimeError):
        return set()
    hidden = set()
    for tag in re.finditer(rb"<(?:\w+:)?sheet\b[^>]*>", book):
        name = re.search(rb'\sname="([^"]*)"', tag.group(0))
        state = re.search(rb'\sstate="([^"]*)"', tag.group(0))
        if name and state and state.group(1) != b"visible":
            hidden.add(html.unescape(name.group(1).decode("utf-8")))
    return hidden


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, display_name: str, label: str) -> SheetLayout:
    if member.file_size > MAX_MEMBER_BYTES:
        raise ReadError(f"{display_name}: refused: {member.filename} would expand to {member.file_size:,} bytes")
    ratio = member.file_size / max(member.compress_size, 1)
    if ratio > MAX_RATIO:
        raise ReadError(f"{display_name}: refused: {member.filename} is compressed {ratio:,.0f}:1, a zip bomb")
    layout = SheetLayout()
    # every part is streamed, whatever its name: calamine finds shared strings, styles and
    # sheets through relationships, so any member may be parsed as XML
    is_sheet = member.filename.startswith(WORKSHEETS)
    actual = 0
    head = b""
    carry = b""
    declared_dtd = False
    scan = SheetScan() if is_sheet else None
    try:
        for block in member_blocks(archive, member):
            actual += len(block)
            # sizes in the zip directory can lie: count what really comes out
            if actual > MAX_MEMBER_BYTES or actual > MAX_RATIO * max(member.compress_size, 1) + STREAM_BLOCK:
                raise ReadError(f"{display_name}: refused: {member.filename} expands beyond its declared size")
            if len(head) < 4096:
                head += block[: 4096 - len(head)]
                if scan is not None and len(head) >= 4096:  # the sheet's own <dimension> places its columns
                    scan.track_values = DIMENSION.search(head) is None
            # "!" is rare in a sheet and found at memchr speed; "<!" is not ("<" starts every tag)
            if not declared_dtd and (b"!" in block or b"!" in carry[-16:]):
                declared_dtd = DOCTYPE.search(carry[-16:] + block) is not None
            if scan is not None:
                if b"mergeCell " in block or b"mergeCell " in carry + block[:64]:
                    for m in MERGE.finditer(carry + block):
                        layout.merged.append((_cell(m.group(1)), _cell(m.group(2))))
                scan.feed(block)
            carry = block[-64:]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ReadError(f"{display_name}: damaged workbook ({member.filename}: {exc})") from exc
    finally:
        if scan is not None:
            scan.close()
    if declared_dtd:
        raise ReadError(f"{display_name}: refused: {member.filename} declares a DTD/entities (XML entity expansion)")
    if scan is not None and scan.cells > MAX_USED_CELLS:
        raise ReadError(
            f"{display_name} › {label}: refused: its cells span {scan.rows[1] - scan.rows[0] + 1:,} rows x "
            f"{scan.cols[1] - scan.cols[0] + 1:,} columns ({scan.cells:,} cells, limit {MAX_USED_CELLS:,}); "
            "delete the stray cells far from the table and save it again"
        )
    if scan is not None:
        layout.exact_numbers = scan.long_numbers
    if scan is not None and scan.formulas:
        _check_formulas(archive, member, display_name, label)
    if is_sheet and (m := DIMENSION.search(head)):
        layout.first_col = _cell(m.group(1))[1]
        layout.width = (_cell(m.group(2))[1] if m.group(2) else layout.first_col) - layout.first_col + 1
    elif scan is not None and scan.value_cols[1] >= 0:
        # no <dimension> (openpyxl's write-only mode, many report generators): the columns of the
        # cells that hold something, which contain calamine's range (the reader checks the width)
        layout.first_col = scan.value_cols[0] - 1
        layout.width = scan.value_cols[1] - scan.value_cols[0] + 1
    layout.merged = sorted(set(layout.merged))
    return layout


def _digit_runs(a: np.ndarray, at: np.ndarray, most: int) -> np.ndarray:
    """How many ASCII digits follow each position `at` in `a` (up to `most`); `a` ends with
    bytes that are not digits."""
    runs = np.zeros(len(at), dtype=np.int64)
    going = np.arange(len(at))
    for k in range(most):
        if not len(going):
            break
        going = going[(a[at[going] + k] - np.uint8(0x30)) < 10]  # uint8: below "0" wraps round, above 9
        runs[going] += 1
    return runs


def member_blocks(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's bytes, up to STREAM_BLOCK at a time. Deflate (every part Excel, LibreOffice or
    a library writes) is inflated by ISA-L, four times faster than zlib, which was most of the
    scan's time; its CRC-32 is checked like zipfile checks it. Other methods go to zipfile."""
    if member.compress_type != zipfile.ZIP_DEFLATED or not archive.filename:
        with archive.open(member) as stream:
            while block := stream.read(STREAM_BLOCK):
                yield block
        return
    with open(archive.filename, "rb") as fh:
        fh.seek(member.header_offset)
        header = fh.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local file header of {member.filename}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        fh.seek(member.header_offset + 30 + name_length + extra_length)
        inflater = isal_zlib.decompressobj(-15)  # raw deflate, as zip stores it
        crc = 0
        left = member.compress_size
        while left > 0 or inflater.unconsumed_tail:
            chunk = inflater.unconsumed_tail
            if not chunk:
                chunk = fh.read(min(left, 1 << 18))
                if not chunk:
                    raise EOFError(f"{member.filename} is cut short")
                left -= len(chunk)
            try:
                block = inflater.decompress(chunk, STREAM_BLOCK)
            except isal_zlib.error as exc:  # reported like zipfile's own zlib.error
                raise zlib.error(str(exc)) from exc
            if block:
                crc = isal_zlib.crc32(block, crc)
                yield block
            if inflater.eof:
                break
        if not inflater.eof or crc != member.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 or truncated data in {member.filename}")


def _cell(ref: bytes) -> tuple[int, int]:
    """b"C3" -> (2, 2): 0-based row and column."""
    letters = ref.rstrip(b"0123456789")
    col = 0
    for ch in letters:
        col = col * 26 + (ch - 64)
    return int(ref[len(letters) :] or 1) - 1, col - 1


def _check_formulas(archive: zipfile.ZipFile, member: zipfile.ZipInfo, display_name: str, label: str) -> None:
    """A formula cell without a cached value (<v>) has no value the pipeline could read."""
    try:
        with archive.open(member) as stream:
            xml = stream.read()  # only sheets that hold formulas get here; size already bounded
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ReadError(f"{display_name}: damaged workbook ({member.filename}: {exc})") from exc
    missing = []
    for m in CELL.finditer(xml):
        body = m.group(3) or b""
        if FORMULA.search(body) and not CACHED_VALUE.search(body):
            ref = CELL_REF.search(m.group(1))
            missing.append(ref.group(1).decode() if ref else "?")
    if missing:
        cells = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise ReadError(
            f"{display_name} › {label} › {cells}: formula without a calculated value; "
            "open the workbook in Excel or LibreOffice, let it calculate, and save it again"
        )
