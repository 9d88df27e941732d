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
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.dataset import DatasetSpec
from pipeline.errors import PublishError

ARROW_TYPES = {"integer": pa.int64(), "number": pa.float64()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_for_output(values: pd.DataFrame, spec: DatasetSpec) -> pa.Table:
    """Rows sorted by the primary key, columns typed as the schema says (empty -> null)."""
    key = spec.table_schema.get("primaryKey") or [spec.field_names[0]]
    ordered = values.sort_values(key, kind="stable").reset_index(drop=True)
    columns = {}
    for f in spec.fields:
        col = ordered[f.name].astype("str")
        array = pa.array(col.mask(col == ""), type=pa.string(), from_pandas=True)
        if f.type in ARROW_TYPES:
            array = array.cast(ARROW_TYPES[f.type])
        columns[f.name] = array
    return pa.table(columns)


def write_csv(table: pa.Table, path: Path) -> None:
    """UTF-8 with BOM (so Excel shows Thai), quoted only where needed, LF line ends."""
    with path.open("wb") as fh:
        fh.write(codecs.BOM_UTF8)
        pacsv.write_csv(table, fh, pacsv.WriteOptions(quoting_style="needed", include_header=True))


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
            "description": "สำเนาของตารางสำหรับเปิดด้วย Excel: แถวแรกเป็นชื่อฟิลด์ แถวที่สองเป็นชื่อภาษาไทย",
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
    """For analysts: field names as a bold frozen header, Thai titles beneath, dates as real
    dates, columns sized to their content. Deterministic bytes (fixed document timestamps)."""
    import xlsxwriter

    # shared strings (not constant_memory inline strings): every reader, frictionless included, reads them
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    book.set_properties({"title": spec.descriptor.get("title", ""), "created": FIXED_TIMESTAMP})
    sheet = book.add_worksheet(spec.resource["name"][:31])
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
    thai = book.add_format({"italic": True, "font_color": "#444444", "bg_color": "#F4F6FA", "border": 1})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    columns = table.column_names
    sample = table.slice(0, 1000).to_pylist()
    for c, f in enumerate(spec.fields):
        width = max([len(f.name), len(f.title)] + [len(str(r[f.name] or "")) for r in sample])
        sheet.set_column(c, c, min(max(width + 2, 8), 60), date_format if f.type == "date" else None)
        sheet.write_string(0, c, f.name, bold)
        sheet.write_string(1, c, f.title, thai)
    sheet.freeze_panes(2, 0)
    kinds = [f.type for f in spec.fields]
    for r, row in enumerate(table.to_pylist(), start=2):
        for c, name in enumerate(columns):
            value = row[name]
            if value is None:
                continue
            if kinds[c] == "date":
                sheet.write_datetime(r, c, dt.datetime.fromisoformat(value), date_format)
            elif kinds[c] in ("integer", "number"):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, value)
    book.close()


XLSX_CELL_LIMIT = 32_767  # characters in one Excel cell: xlsxwriter cuts longer text without failing


def _too_long_for_excel(table: pa.Table) -> bool:
    """A text longer than an Excel cell holds: the XLSX copy would cut it, so it is not
    written (the build warned about each such cell; the CSV and JSON keep the whole value)."""
    return any(
        (pc.max(pc.utf8_length(column)).as_py() or 0) > XLSX_CELL_LIMIT
        for column in table.columns
        if pa.types.is_string(column.type)
    )


def write_json(table: pa.Table, path: Path, batch_rows: int = 50_000) -> None:
    """Records, one object per line, nulls for empty cells, Thai as UTF-8 (not \\u escapes);
    written batch by batch so a million rows never sit in memory as one string. Each
    record is assembled by Arrow string kernels over whole columns (see `_json_values`)."""
    with path.open("wb") as fh:
        fh.write(b"[")
        for i, batch in enumerate(table.to_batches(max_chunksize=batch_rows)):
            members = []
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                members += ["," if members else "{", orjson.dumps(name).decode() + ":", _json_values(column)]
            records = pc.binary_join_element_wise(*members, "}", "")
            fh.write((b",\n" if i else b"\n") + ",\n".join(records.to_pylist()).encode())
        fh.write(b"\n]\n")


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


def package_descriptor(spec: DatasetSpec, files: dict[str, Path]) -> dict[str, Any]:
    """The published datapackage.json: the dataset descriptor, portal-only keys removed,
    the table with its inline schema, and every file with its byte size and sha256."""
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
        resource["hash"] = f"sha256:{sha256_file(path)}"
    descriptor["resources"] = resources
    return descriptor


def stage(spec: DatasetSpec, values: pd.DataFrame, staging: Path) -> dict[str, Path]:
    """Write every published file of the dataset into `staging`."""
    table = table_for_output(values, spec)
    name = spec.resource["name"]
    files = {"csv": staging / f"{name}.csv"}
    write_csv(table, files["csv"])
    if table.num_rows <= JSON_MAX_ROWS:
        files["json"] = staging / f"{name}.json"
        write_json(table, files["json"])
    if table.num_rows <= XLSX_MAX_ROWS and not _too_long_for_excel(table):
        files["xlsx"] = staging / f"{name}.xlsx"
        write_xlsx(table, spec, files["xlsx"])
    descriptor = package_descriptor(spec, files)
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
