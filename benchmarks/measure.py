"""One measurement, run in its own process by benchmarks/run.py (so peak memory is its own).

    python -m benchmarks.measure read-calamine FILE.xlsx
    python -m benchmarks.measure same-cells FILE.xlsx    # the pipeline's reader vs cell-by-cell calamine
    python -m benchmarks.measure candidate RAW_DIR OUT.csv     # rows as normalized, before validation
    python -m benchmarks.measure frictionless FILE.csv ERRORS.json
    python -m benchmarks.measure own FILE.csv ERRORS.json
Errors are written as sorted [row, field, type] lists, Frictionless row numbers (header = 1).
The validators also print `work_seconds`: from opening the CSV to having every error, after
the interpreter and the libraries are loaded (start-up is measured apart, by the caller).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the baseline read must not load the pipeline
    from pipeline.dataset import DatasetSpec
    from pipeline.normalize import NormalizedTable

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
DATASET = "local-digital-innovation-contest"
ROW_ERRORS = ("primary-key", "foreign-key", "blank-row")  # Frictionless names no field for these


def read_calamine(path: str) -> None:
    """The baseline: python-calamine reading every cell of every sheet, nothing else."""
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(path)
    cells = 0
    for name in book.sheet_names:
        for row in book.get_sheet_by_name(name).iter_rows():
            cells += len(row)
    print(json.dumps({"cells": cells}))


def same_cells(path: str) -> None:
    """Which path the pipeline's reader took for each sheet, and whether every cell it read is
    what python-calamine reads cell by cell (the reference); for a workbook a large build reads in
    row blocks (pipeline/sheetblocks.py), the blocks too."""
    from pipeline import read, sheetblocks, stream

    sheets = []
    for grid in read.read_file(Path(path), Path(path).name):
        cells, rows = read._calamine_grid(Path(path), grid.sheet, read.QUIET)
        sheets.append(
            {"sheet": grid.sheet, "reader": grid.reader, "identical": _same(grid.cells, grid.row_numbers, cells, rows)}
        )
        del grid
        if sheetblocks.sheet_xml_bytes(Path(path)) is not None:
            try:
                blocks = list(read.workbook_batches(Path(path), Path(path).name))
            except sheetblocks.NotInBlocks as exc:
                sheets.append({"sheet": "", "reader": f"blocks refused: {exc}", "identical": True})
                continue
            in_blocks = pd.concat([b.cells for b in blocks], ignore_index=True)
            numbers = np.concatenate([b.row_numbers for b in blocks])
            same = _same(in_blocks, numbers, cells.reset_index(drop=True), rows)
            sheets.append({"sheet": blocks[0].sheet, "reader": "row blocks", "identical": same})
    if stream.wanted([Path(path)], {}, stream.STREAM_BYTES):  # what `make` does with this file
        build_path = "row blocks, streamed"
    else:
        build_path = "row blocks, in memory" if read.parsed_in_blocks(Path(path)) else "whole sheet"
    print(json.dumps({"sheets": sheets, "build_path": build_path}, ensure_ascii=False))


def _same(cells: pd.DataFrame, rows: np.ndarray, reference: pd.DataFrame, reference_rows: np.ndarray) -> bool:
    return bool(
        cells.equals(reference)
        and list(cells.columns) == list(reference.columns)
        and np.array_equal(rows, reference_rows)
    )


def candidate(raw_dir: str, out: str) -> None:
    """The rows the build would validate, written as the CSV Frictionless will check."""
    from pipeline import run, validate
    from pipeline.dataset import load_dataset
    from pipeline.normalize import normalize
    from pipeline.publish import table_for_output, write_csv

    spec = load_dataset(SCHEMAS, DATASET)
    sheets = []
    from pipeline import headers, read

    for path in read.raw_files(Path(raw_dir) / DATASET):
        for grid in read.read_file(path, path.name):
            mapped, _ = headers.map_sheet(grid, spec)
            if mapped is not None:
                sheets.append(mapped)
    table, _ = normalize(sheets, spec)
    table, _ = validate.drop_duplicate_rows(table)
    # unsorted and untyped, so invalid values stay as keyed and row numbers stay in order
    import pyarrow as pa

    write_csv(pa.table({c: table.values[c].astype("str") for c in spec.field_names}), Path(out))
    _ = run, table_for_output


def frictionless_errors(path: str, out: str) -> None:
    from frictionless import Resource, Schema, validate

    start = time.perf_counter()
    spec_schema = json.loads((SCHEMAS / DATASET / "entries.schema.json").read_text(encoding="utf-8"))
    csv_path = Path(path).resolve()
    resource = Resource(
        path=csv_path.name,
        basepath=str(csv_path.parent),
        schema=Schema.from_descriptor(spec_schema),
        encoding="utf-8-sig",
    )
    report = validate(resource, limit_errors=10**9)
    found = set()
    for error in report.tasks[0].errors:
        kind = error.type
        field = getattr(error, "field_name", "") or ""  # row errors (primary-key, foreign-key) have none
        found.add((int(error.row_number), field, kind))
    work = time.perf_counter() - start
    Path(out).write_text(json.dumps(sorted(found), ensure_ascii=False))
    print(json.dumps({"errors": len(found), "work_seconds": round(work, 3)}))


def read_text_csv(path: str, names: list[str], block_size: int | None = None) -> pd.DataFrame:
    """Every column as text, empty cells as "" (what the validator expects), straight from Arrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
    # about 16 blocks, 1-8 MB each: enough to keep both cores busy, few chunks to stitch
    size = block_size or min(max(Path(path).stat().st_size // 16, 1 << 20), 8 << 20)
    table = pacsv.read_csv(
        pa.memory_map(path), read_options=pacsv.ReadOptions(block_size=size), convert_options=options
    )
    return table.to_pandas()


def table_from_csv(path: str, spec: DatasetSpec, block_size: int | None = None) -> NormalizedTable:
    """The CSV's rows as the validator receives them from normalization (one sheet, header = row 1)."""
    from pipeline.headers import MappedSheet
    from pipeline.normalize import NormalizedTable

    frame = read_text_csv(path, spec.field_names, block_size)
    rows = np.arange(2, len(frame) + 2)
    sheet = MappedSheet(path, "", 1, frame, rows, {name: i for i, name in enumerate(frame.columns)})
    return NormalizedTable(frame, frame, np.zeros(len(frame), dtype=int), rows, [sheet], spec)


def own_errors(path: str, out: str) -> None:
    import frictionless  # noqa: F401  a library of ours too (schema checks, cell readers): loaded before the timer, as in (c)

    from pipeline.dataset import load_dataset
    from pipeline.validate import validate

    start = time.perf_counter()
    spec = load_dataset(SCHEMAS, DATASET)
    read_start = time.perf_counter()
    table = table_from_csv(path, spec)
    read = time.perf_counter() - read_start
    checks_start = time.perf_counter()
    issues = validate(table)
    checks = time.perf_counter() - checks_start
    found = set()
    for issue in issues:
        row = int("".join(ch for ch in issue.cell if ch.isdigit()))
        found.add((row, "" if issue.type in ROW_ERRORS else issue.field, issue.type))
    work = time.perf_counter() - start
    Path(out).write_text(json.dumps(sorted(found), ensure_ascii=False))
    print(
        json.dumps(
            {
                "errors": len(found),
                "work_seconds": round(work, 3),
                "read_seconds": round(read, 3),
                "validate_seconds": round(checks, 3),
            }
        )
    )


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {
        "read-calamine": read_calamine,
        "same-cells": same_cells,
        "candidate": candidate,
        "frictionless": frictionless_errors,
        "own": own_errors,
    }[command](*args)
