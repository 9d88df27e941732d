"""Checks a workbook must pass before a spreadsheet parser is allowed near it.

An .xlsx is a zip of XML. A hostile or broken one can declare small sizes and expand to
gigabytes (a zip bomb), carry XML entity definitions that expand exponentially, or hold
formulas whose results were never computed. These checks read the zip directory and
stream the members with bounded memory, so a refusal comes within seconds.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

from pipeline.errors import ReadError

# A genuine 1,000,000-row contest sheet is ~0.4-0.6 GB of XML (about 40 bytes per cell,
# 12 cells a row) compressing ~8-15x; limits leave room for twice that and refuse a bomb.
MAX_MEMBER_BYTES = 2 * 1024**3
MAX_TOTAL_BYTES = 3 * 1024**3
MAX_RATIO = 200  # XML of real sheets compresses 5-30x; bombs compress 1000x and more
STREAM_BLOCK = 1 << 20
DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
FORMULA = re.compile(rb"<(?:\w+:)?f[ >/]")
CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
CACHED_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]+</(?:\w+:)?v>|<(?:\w+:)?is>")  # <v/> and <v></v> hold nothing
CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')


def inspect_workbook(path: Path, display_name: str) -> None:
    """Refuse a zip bomb, XML entity tricks and formulas without a cached value."""
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
        for member in members:
            _check_member(archive, member, display_name, names.get(member.filename, member.filename))


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
        names[path] = m.group(1).decode("utf-8")
    return names


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, display_name: str, label: str) -> None:
    if member.file_size > MAX_MEMBER_BYTES:
        raise ReadError(f"{display_name}: refused: {member.filename} would expand to {member.file_size:,} bytes")
    ratio = member.file_size / max(member.compress_size, 1)
    if ratio > MAX_RATIO:
        raise ReadError(f"{display_name}: refused: {member.filename} is compressed {ratio:,.0f}:1, a zip bomb")
    if not member.filename.endswith((".xml", ".rels")):
        return
    is_sheet = member.filename.startswith("xl/worksheets/")
    actual = 0
    head = b""
    carry = b""
    formulas = False
    try:
        with archive.open(member) as stream:
            while block := stream.read(STREAM_BLOCK):
                actual += len(block)
                # sizes in the zip directory can lie: count what really comes out
                if actual > MAX_MEMBER_BYTES or actual > MAX_RATIO * max(member.compress_size, 1) + STREAM_BLOCK:
                    raise ReadError(f"{display_name}: refused: {member.filename} expands beyond its declared size")
                if len(head) < 4096:
                    head += block[: 4096 - len(head)]
                if is_sheet and not formulas:
                    # plain substring search (GB/s); a regex over the whole XML would be the slow part
                    formulas = b"<f" in block or b":f>" in block or b"<f" in carry + block[:8]
                    carry = block[-8:]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ReadError(f"{display_name}: damaged workbook ({member.filename}: {exc})") from exc
    if DOCTYPE.search(head):
        raise ReadError(f"{display_name}: refused: {member.filename} declares a DTD/entities (XML entity expansion)")
    if formulas:
        _check_formulas(archive, member, display_name, label)


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
