"""Stage 5, publish: write the dataset's files into a staging folder, then swap it in.

The published folder is replaced as a whole only after every file was written, so a
failed or interrupted build leaves what was published before byte-for-byte as it was.
Outputs are deterministic (no timestamps), so the same input gives the same bytes.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import validate
from pipeline.dataset import DatasetSpec
from pipeline.errors import PublishError

# Frictionless types whose JSON copy is the published text as a JSON string (ISO forms already,
# or no JSON type of their own); every other type is written as the value Frictionless reads
JSON_TEXT_TYPES = ("string", "any", "duration", "geopoint", "yearmonth")
JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"  # the text is already a JSON number
EXCEL_DIGITS = 15  # significant digits Excel keeps: a longer number is written as text


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Field:
    """How one field's validated text is published: its missing values and Frictionless's reader."""

    name: str
    type: str
    missing: tuple[str, ...]
    read: Callable[[Any], Any]
    format: str
    plain: bool  # a number in Frictionless's default notation (no decimalChar, groupChar, bareNumber options)

    @property
    def missing_text(self) -> str | None:
        """What the CSV writes for a missing cell: the schema's first missing value (None: nothing)."""
        return self.missing[0] if self.missing else None


def _fields(spec: DatasetSpec) -> list[_Field]:
    schema = validate._frictionless_schema(spec.table_schema)  # the one the rows were validated with
    found = []
    for f in spec.fields:
        fl = schema.get_field(f.name)
        missing = fl.missing_values if fl.has_defined("missing_values") else schema.missing_values
        plain = fl.type not in ("integer", "number") or (
            fl.bare_number and (fl.type == "integer" or (fl.decimal_char == "." and not fl.group_char))
        )
        found.append(_Field(f.name, fl.type, tuple(missing), fl.create_value_reader(), fl.format, plain))
    return found


def table_for_output(values: pd.DataFrame, spec: DatasetSpec) -> pa.Table:
    """Rows sorted by the primary key, each value the text that was validated, in the schema's own
    notation (decimalChar, groupChar, trueValues ...), a missing cell as the schema's first missing
    value. Never cast: what Frictionless accepted is what is published, digit for digit."""
    key = spec.table_schema.get("primaryKey") or [spec.field_names[0]]
    ordered = values.sort_values(key, kind="stable").reset_index(drop=True)
    text = {f: pa.array(ordered[f].astype("str"), type=pa.string(), from_pandas=True) for f in spec.field_names}
    return ordered_for_output(pa.table(text), spec)


def ordered_for_output(text: pa.Table, spec: DatasetSpec) -> pa.Table:
    """`table_for_output` of text columns whose rows are in published order already (a streamed
    build's buckets): a missing cell as the schema's first missing value, an empty one as none."""
    columns = {}
    for f in _fields(spec):
        column = text.column(f.name)
        if f.missing_text is not None:
            missing = pc.is_in(column, value_set=pa.array(f.missing, pa.string()))
            column = pc.if_else(missing, f.missing_text, column)
        columns[f.name] = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    return pa.table(columns)


def write_csv(table: pa.Table, path: Path, bare: Collection[str] = (), batch_rows: int = 100_000) -> str:
    """UTF-8 with BOM (so Excel shows Thai), LF line ends; text quoted as Arrow's CSV writer
    quotes it (always, `"` doubled), the columns named in `bare` (numbers) unquoted unless a
    value holds a delimiter, a quote or a line break (`1,234` in the schema's notation).
    Returns the file's sha256 (hex)."""
    return write_csv_parts([table], table.column_names, path, bare, batch_rows)


def write_csv_parts(
    tables: Iterable[pa.Table], names: list[str], path: Path, bare: Collection[str] = (), batch_rows: int = 100_000
) -> str:
    """`write_csv` of tables written one after another (`pipeline/stream.py` writes a table too
    large for memory bucket by bucket). A second thread writes and hashes each batch while the
    next is made: both release the GIL, and the file is not read back to be hashed."""
    digest = hashlib.sha256()
    with path.open("wb") as fh, ThreadPoolExecutor(max_workers=1) as writer:
        pending: list[Future[None]] = []

        def put(data: bytes | memoryview) -> None:
            if len(pending) >= 2:  # two batches in flight at most: memory stays flat
                pending.pop(0).result()
            pending.append(writer.submit(_write_hashed, fh, digest, data))

        put(codecs.BOM_UTF8 + (",".join(_quoted(name) for name in names) + "\n").encode())
        for table in tables:
            for batch in table.to_batches(max_chunksize=batch_rows):
                cells = [
                    _csv_cells(column, name in bare)
                    for name, column in zip(batch.schema.names, batch.columns, strict=True)
                ]
                lines = pc.binary_join_element_wise(*cells, ",") if len(cells) > 1 else cells[0]
                if len(lines):
                    lines = pc.binary_join_element_wise(lines, "\n", "")
                    put(_text_bytes(lines))
        for done in pending:
            done.result()
    return digest.hexdigest()


def _write_hashed(fh: BinaryIO, digest: Any, data: bytes | memoryview) -> None:
    fh.write(data)
    digest.update(data)


def _text_bytes(text: pa.Array) -> memoryview:
    """The UTF-8 bytes of a text array without nulls, end to end, straight from its data buffer
    (joining a million Python strings took longer than making the lines)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32 if text.type == pa.string() else np.int64)
    first, last = offsets[text.offset], offsets[text.offset + len(text)]
    return memoryview(text.buffers()[2])[first:last]


def bare_fields(spec: DatasetSpec) -> list[str]:
    """The fields whose CSV cells are written unquoted: numbers."""
    return [f.name for f in spec.fields if f.type in ("integer", "number")]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _csv_cells(column: pa.Array, bare: bool) -> pa.Array:
    """Each value as a CSV cell: quoted (unless `bare` and it needs none); a null as nothing."""
    text = column.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    if bare:
        needs = pc.match_substring_regex(text, '[,"\r\n]')
        quoted = pc.if_else(needs, quoted, text)
    return pc.fill_null(quoted, "")


# Above this an analyst is better served by the CSV: writing XLSX costs ~6 s per 100,000 rows
# (xlsxwriter with shared strings, which every reader understands), the rest of a build ~2 s.
XLSX_MAX_ROWS = 50_000
JSON_MAX_ROWS = 200_000  # a JSON download of a million records (~0.5 GB) serves no one; the CSV does
XLSX_MEDIATYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIXED_TIMESTAMP = dt.datetime(2000, 1, 1)
# the table's convenience copies: format, title label, resource properties. The XLSX
# carries the Table Schema too, its Thai-title row declared a comment row (Table Dialect),
# so `frictionless validate datapackage.json` checks the copy's values like the CSV's.
COPIES = (
    (
        "xlsx",
        "Excel",
        {
            "mediatype": XLSX_MEDIATYPE,
            "description": "สำเนาของตารางสำหรับเปิดด้วย Excel: แถวแรกเป็นชื่อฟิลด์ แถวที่สองเป็นชื่อภาษาไทย "
            "(ตัวเลขที่ยาวเกิน 15 หลักเก็บเป็นข้อความ เพื่อไม่ให้ Excel ปัดหลักทิ้ง)",
            "dialect": {"commentRows": [2]},
        },
    ),
    (
        "json",
        "JSON",
        {
            "mediatype": "application/json",
            "encoding": "utf-8",
            "description": "สำเนาของตารางในรูปแบบ JSON (รายการของระเบียน)",
        },
    ),
)  # document properties must not carry the build time


def write_xlsx(table: pa.Table, spec: DatasetSpec, path: Path) -> None:
    """For analysts: field names as a bold frozen header, Thai titles beneath, numbers, yes/no and
    dates as Excel values (a number Excel cannot hold exactly, beyond 15 significant digits, as
    its text), columns sized to their content. Deterministic bytes (fixed document timestamps)."""
    import xlsxwriter

    # shared strings (not constant_memory inline strings): every reader, frictionless included, reads them
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    book.set_properties({"title": spec.descriptor.get("title", ""), "created": FIXED_TIMESTAMP})
    sheet = book.add_worksheet(spec.resource["name"][:31])
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
    thai = book.add_format({"italic": True, "font_color": "#444444", "bg_color": "#F4F6FA", "border": 1})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sample = table.slice(0, 1000).to_pylist()
    for c, f in enumerate(spec.fields):
        width = max([len(f.name), len(f.title)] + [len(str(r[f.name] or "")) for r in sample])
        sheet.set_column(c, c, min(max(width + 2, 8), 60), date_format if f.type == "date" else None)
        sheet.write_string(0, c, f.name, bold)
        sheet.write_string(1, c, f.title, thai)
    sheet.freeze_panes(2, 0)
    columns = [_excel_values(table[f.name], f) for f in _fields(spec)]
    for r, row in enumerate(zip(*columns, strict=True), start=2):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(r, c, value)
            elif isinstance(value, bool):
                sheet.write_boolean(r, c, value)
            elif isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, date_format)
            else:
                sheet.write_number(r, c, value)
    book.close()


def _excel_values(column: pa.ChunkedArray, f: _Field) -> list[Any]:
    """Each cell of one column as the XLSX copy holds it: a number, a boolean or a date where Excel
    holds the value exactly, else the published text (a missing cell: the text the CSV writes)."""
    missing = set(f.missing)

    def convert(text: str) -> Any:
        if text in missing:
            return text
        value = f.read(text)
        if f.type in ("integer", "year", "number") and value is not None and not isinstance(value, bool):
            return _excel_number(value) if _excel_number(value) is not None else text
        if f.type == "boolean" and isinstance(value, bool):
            return value
        if f.type == "date" and isinstance(value, dt.date) and value.year >= 1900:
            return dt.datetime(value.year, value.month, value.day)
        return text

    dictionary, codes = _dictionary(column)
    converted = [convert(v) for v in dictionary.to_pylist()]
    return [None if code is None else converted[code] for code in codes.to_pylist()]


def _excel_number(value: int | float | Decimal) -> int | float | None:
    """The number as Excel holds it, when it holds it exactly (at most 15 significant digits,
    in a double's range); None when only text keeps every digit."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite() or len(number.normalize().as_tuple().digits) > EXCEL_DIGITS:
        return None
    if isinstance(value, int):
        return value
    as_float = float(number)
    return as_float if math.isfinite(as_float) and Decimal(repr(as_float)) == number else None


def _dictionary(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """(each distinct value, each row's index into them; null for a null)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    return encoded.dictionary, encoded.indices


def _per_distinct(column: pa.ChunkedArray | pa.Array, convert: Callable[[str], str]) -> pa.Array:
    """`convert` of each value, called once per distinct value (nulls stay null)."""
    dictionary, codes = _dictionary(column)
    return pa.array([convert(v) for v in dictionary.to_pylist()], type=pa.string()).take(codes)


XLSX_CELL_LIMIT = 32_767  # characters in one Excel cell: xlsxwriter cuts longer text without failing


def _too_long_for_excel(table: pa.Table) -> bool:
    """A text longer than an Excel cell holds: the XLSX copy would cut it, so it is not
    written (the build warned about each such cell; the CSV and JSON keep the whole value)."""
    return any(
        (pc.max(pc.utf8_length(column)).as_py() or 0) > XLSX_CELL_LIMIT
        for column in table.columns
        if pa.types.is_string(column.type)
    )


def write_json(table: pa.Table, path: Path, batch_rows: int = 50_000, spec: DatasetSpec | None = None) -> None:
    """Records, one object per line, nulls for empty cells, Thai as UTF-8 (not \\u escapes);
    written batch by batch so a million rows never sit in memory as one string. Each
    record is assembled by Arrow string kernels over whole columns (see `_json_values`).
    With `spec`, `table` holds the published text and each value is written as its field's
    type: numbers as JSON numbers (every digit kept), true/false, dates as ISO text."""
    if spec is not None:
        table = pa.table({f.name: _json_literals(table[f.name], f) for f in _fields(spec)})
    with path.open("wb") as fh:
        fh.write(b"[")
        for i, batch in enumerate(table.to_batches(max_chunksize=batch_rows)):
            members = []
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                literals = column if spec is not None else _json_values(column)
                members += ["," if members else "{", orjson.dumps(name).decode() + ":", literals]
            records = pc.binary_join_element_wise(*members, "}", "")
            fh.write((b",\n" if i else b"\n") + ",\n".join(records.to_pylist()).encode())
        fh.write(b"\n]\n")


def _json_literals(column: pa.ChunkedArray, f: _Field) -> pa.Array:
    """Each published text of one field as JSON text of its value ("null" for a missing cell):
    by string kernels where the text is already the JSON form, else Frictionless's reader once
    per distinct value."""
    present = column.combine_chunks()
    if f.missing:
        missing = pc.is_in(present, value_set=pa.array(f.missing, type=pa.string()))
        present = pc.if_else(missing, pa.scalar(None, type=pa.string()), present)
    if f.type in JSON_TEXT_TYPES or (f.type == "date" and f.format == "default"):
        return _json_values(present)
    json_form = f.type in ("integer", "number") and f.plain
    if json_form and pc.all(pc.match_substring_regex(present, f"^(?:{JSON_NUMBER})$")).as_py() is not False:
        return pc.fill_null(present, "null")
    return pc.fill_null(_per_distinct(present, lambda text: _json_literal(f.read(text), text)), "null")


def _json_literal(value: Any, text: str) -> str:
    """JSON text of a value as Frictionless reads it (`text`, the published text, when it reads none)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            raise PublishError(f"{text!r} is not a finite number: JSON has no such number")
        return str(value) if isinstance(value, Decimal) else repr(value)
    if isinstance(value, dt.date | dt.time):  # datetimes too
        return f'"{value.isoformat()}"'
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{orjson.dumps(str(k)).decode()}:{_json_literal(v, str(v))}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_literal(v, str(v)) for v in value) + "]"
    return orjson.dumps(text if value is None else str(value)).decode()


def _json_values(column: pa.Array) -> pa.Array:
    """Each value of `column` as JSON text. Strings are escaped with two replacements
    (backslash, quote); a column holding a control character, or of a type not handled
    here, is encoded value by value by orjson instead."""
    if pa.types.is_integer(column.type):
        text = pc.cast(column, pa.string())
    elif pa.types.is_date(column.type) or (
        pa.types.is_string(column.type) and not pc.any(pc.match_substring_regex(column, "[\\x00-\\x1f]")).as_py()
    ):
        text = pc.cast(column, pa.string())
        escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
        text = pc.binary_join_element_wise('"', escaped, '"', "")
    else:
        return pa.array([orjson.dumps(v).decode() for v in column.to_pylist()], type=pa.string())
    return pc.fill_null(text, "null")


def plain_text(frame: pd.DataFrame, spec_schema: dict[str, Any]) -> pd.DataFrame:
    """The published CSV's text (read as text, empty cells as "") as a typed store such as the
    CKAN DataStore reads it: a missing value as "", numbers as plain decimals (the schema's
    decimalChar, groupChar and bareNumber undone, every digit kept), booleans as true/false,
    dates as ISO text. Other values unchanged. Read once per distinct value."""
    schema = validate._frictionless_schema(spec_schema)
    out = frame.copy()
    for fl in schema.fields:
        if fl.name not in out.columns:
            continue
        missing = set(fl.missing_values if fl.has_defined("missing_values") else schema.missing_values) | {""}
        read = fl.create_value_reader()
        typed = fl.type in ("integer", "number", "boolean", "date", "year")

        def convert(
            text: str, missing: set[str] = missing, read: Callable[[Any], Any] = read, typed: bool = typed
        ) -> str:
            if text in missing:
                return ""
            if not typed:
                return text
            value = read(text)
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, Decimal):
                return format(value, "f")
            if isinstance(value, dt.date):
                return value.isoformat()
            return text if value is None else str(value)

        column = pa.array(out[fl.name].astype("str"), type=pa.string())
        out[fl.name] = pd.Series(_per_distinct(column, convert).to_pylist(), index=out.index, dtype="str")
    return out


def package_descriptor(
    spec: DatasetSpec, files: dict[str, Path], digests: dict[str, str] | None = None
) -> dict[str, Any]:
    """The published datapackage.json: the dataset descriptor, portal-only keys removed,
    the table with its inline schema, and every file with its byte size and sha256
    (`digests`: the sha256 of files hashed as they were written, by format)."""
    descriptor = {k: v for k, v in spec.descriptor.items() if not k.startswith("x_")}
    name = spec.resource["name"]
    title = spec.resource.get("title", name)
    resources = [
        {
            **spec.resource,
            "path": files["csv"].name,
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8-sig",
            "schema": spec.table_schema,
        }
    ]
    for fmt, label, extra in COPIES:
        if fmt in files:
            resources.append(
                {
                    "name": f"{name}-{fmt}",
                    "path": files[fmt].name,
                    "title": f"{title} ({label})",
                    "format": fmt,
                    **extra,
                    **({"schema": spec.table_schema} if "dialect" in extra else {}),
                }
            )
    for resource in resources:
        path = files[resource["format"]]
        resource["bytes"] = path.stat().st_size
        resource["hash"] = f"sha256:{(digests or {}).get(resource['format']) or sha256_file(path)}"
    descriptor["resources"] = resources
    return descriptor


def stage(spec: DatasetSpec, values: pd.DataFrame, staging: Path) -> dict[str, Path]:
    """Write every published file of the dataset into `staging`."""
    if not isinstance(values, pd.DataFrame):  # a table built batch by batch writes itself (pipeline/stream.py)
        return values.stage(spec, staging)
    table = table_for_output(values, spec)
    name = spec.resource["name"]
    files = {"csv": staging / f"{name}.csv"}
    digests = {"csv": write_csv(table, files["csv"], bare=bare_fields(spec))}
    if table.num_rows <= JSON_MAX_ROWS:
        files["json"] = staging / f"{name}.json"
        write_json(table, files["json"], spec=spec)
    if table.num_rows <= XLSX_MAX_ROWS and not _too_long_for_excel(table):
        files["xlsx"] = staging / f"{name}.xlsx"
        write_xlsx(table, spec, files["xlsx"])
    descriptor = package_descriptor(spec, files, digests)
    files["datapackage"] = staging / "datapackage.json"
    files["datapackage"].write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return files


def publish(
    spec: DatasetSpec, values: pd.DataFrame, published_dir: Path, extra_files: dict[str, str] | None = None
) -> Path:
    """Build the dataset folder aside and swap it in; returns the published folder."""
    published_dir.mkdir(parents=True, exist_ok=True)
    target = published_dir / spec.name
    recover(published_dir, spec.name)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.name}-", dir=published_dir))
    try:
        stage(spec, values, staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        os.chmod(staging, 0o755)
        swap_in(staging, target)
    except OSError as exc:
        raise PublishError(f"{spec.name}: cannot write {published_dir}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by `staging`: rename the old folder aside, rename the new one in."""
    retired = target.with_name(f".retired-{target.name}")
    if retired.exists():
        shutil.rmtree(retired)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    if retired.exists():
        shutil.rmtree(retired)


def recover(published_dir: Path, name: str) -> None:
    """After a crash between the two renames of `swap_in`, put the old folder back."""
    target, retired = published_dir / name, published_dir / f".retired-{name}"
    if retired.exists() and not target.exists():
        os.replace(retired, target)
    for leftover in published_dir.glob(f".staging-{name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
