"""Stage 2, map: find the header row of a grid and map its labels onto schema fields.

The header is the row, among the first HEADER_SEARCH_ROWS, whose labels match the most
known aliases; everything above it (titles, merged banners) is skipped, and columns
left of or without a label are ignored. Personal-data columns are recognised so they
can be dropped, never carried forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.dataset import DatasetSpec
from pipeline.issues import Issue, column_letter
from pipeline.read import SheetGrid
from pipeline.thai import clean_series, clean_text, match_key

HEADER_SEARCH_ROWS = 20
MIN_MATCHED_LABELS = 2


@dataclass
class MappedSheet:
    """Data rows of one sheet with columns renamed to schema fields."""

    file: str
    sheet: str
    header_row: int
    data: pd.DataFrame  # one column per mapped field (str), in source order
    row_numbers: np.ndarray
    columns: dict[str, int]  # field -> 0-based source column index
    dropped_personal: list[str] = field(default_factory=list)  # header labels only

    def cell(self, field_name: str, row_number: int) -> str:
        col = self.columns.get(field_name)
        return f"{column_letter(col)}{row_number}" if col is not None else f"row {row_number}"


def find_header(grid: SheetGrid, spec: DatasetSpec) -> tuple[int, dict[int, str]] | None:
    """(position in grid, {column: label}) of the best header candidate, or None."""
    best: tuple[int, int, dict[int, str]] | None = None
    index = spec.header_index
    for pos in range(len(grid.cells)):
        if grid.row_numbers[pos] > HEADER_SEARCH_ROWS:
            break
        labels = {int(c): clean_text(v) for c, v in grid.cells.iloc[pos].items() if isinstance(v, str) and v.strip()}
        score = sum(1 for v in labels.values() if match_key(v) in index)
        if score >= MIN_MATCHED_LABELS and (best is None or score > best[0]):
            best = (score, pos, labels)
    return None if best is None else (best[1], best[2])


def map_sheet(grid: SheetGrid, spec: DatasetSpec) -> tuple[MappedSheet | None, list[Issue]]:
    """Map one grid; a grid without a header row gives None (and a warning)."""
    where = {"file": grid.file, "sheet": grid.sheet}
    found = find_header(grid, spec)
    if found is None:
        return None, [
            Issue(
                "warning",
                "missing-header",
                f"no header row in the first {HEADER_SEARCH_ROWS} rows; sheet skipped",
                **where,
            )
        ]
    pos, labels = found
    header_row = int(grid.row_numbers[pos])
    issues: list[Issue] = []
    columns: dict[str, int] = {}
    personal: list[str] = []
    for col, label in sorted(labels.items()):
        cell = f"{column_letter(col)}{header_row}"
        target = spec.header_index.get(match_key(label))
        if target is None:
            issues.append(
                Issue("warning", "extra-label", "unknown column, not published", cell=cell, value=label, **where)
            )
        elif target == "":
            personal.append(label)
        elif target in columns:
            issues.append(
                Issue(
                    "error",
                    "duplicate-label",
                    f"a second column for field {target}",
                    cell=cell,
                    field=target,
                    value=label,
                    rule="one column per field",
                    related_cell=f"{column_letter(columns[target])}{header_row}",
                    **where,
                )
            )
        else:
            columns[target] = col
    for f in spec.fields:
        if f.required and not f.derived_from and not f.column_optional and f.name not in columns:
            issues.append(
                Issue(
                    "error",
                    "missing-label",
                    f"no column for required field {f.name} ({f.title})",
                    cell=f"row {header_row}",
                    field=f.name,
                    rule="required column",
                    **where,
                )
            )
    body, body_rows = grid.cells.iloc[pos + 1 :], grid.row_numbers[pos + 1 :]
    data, row_numbers, body_issues = map_body(body, body_rows, columns, spec, where)
    issues.extend(body_issues)
    mapped = MappedSheet(
        file=grid.file,
        sheet=grid.sheet,
        header_row=header_row,
        data=data,
        row_numbers=row_numbers,
        columns=columns,
        dropped_personal=personal,
    )
    return mapped, issues


def map_body(
    body: pd.DataFrame, row_numbers: np.ndarray, columns: dict[str, int], spec: DatasetSpec, where: dict[str, str]
) -> tuple[pd.DataFrame, np.ndarray, list[Issue]]:
    """The rows under a found header, as mapped fields (a header row met again skipped, with a
    warning); `pipeline/stream.py` maps a large CSV's later batches with it."""
    data = pd.DataFrame({name: body[col].reset_index(drop=True) for name, col in columns.items()})
    issues = []
    repeated = _repeated_header_rows(data, spec)
    if repeated.any():
        for row in row_numbers[repeated]:
            issues.append(
                Issue("warning", "repeated-header", "the header row again; skipped", cell=f"row {row}", **where)
            )
        data = data[~repeated].reset_index(drop=True)
        row_numbers = row_numbers[~repeated]
    return data, row_numbers, issues


def _repeated_header_rows(data: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """Rows that are a header again (tables pasted one under another): every filled cell is a
    label of its own column's field, and at least MIN_MATCHED_LABELS of them (filled cells are
    counted only in rows with that many labels: in most tables, none)."""
    labels = np.zeros(len(data), dtype=int)
    longest = max((len(k) for k in spec.header_index), default=0) * 2 + 8
    digits_in_labels = any(ch.isdigit() for k in spec.header_index for ch in k)
    for name in data.columns:
        codes, uniques = pd.factorize(data[name], use_na_sentinel=False)
        if not len(uniques):
            continue
        distinct = pd.Series(uniques, dtype="str")
        # only short values without digits can be a label: ids and titles are skipped cheaply
        maybe = (distinct.str.len() <= longest).to_numpy(dtype=bool).copy()
        if not digits_in_labels:
            maybe &= ~distinct.str.contains("[0-9๐-๙]", regex=True).to_numpy(dtype=bool)
        if maybe.any():
            is_label = np.zeros(len(distinct), dtype=bool)
            is_label[maybe] = (label_keys(distinct[maybe]).map(spec.header_index) == name).to_numpy(dtype=bool)
            labels += is_label[codes]
    candidates = np.flatnonzero(labels >= MIN_MATCHED_LABELS)
    repeated = np.zeros(len(data), dtype=bool)
    if len(candidates):
        filled = data.take(candidates).apply(lambda column: column.str.strip() != "").sum(axis=1).to_numpy()
        repeated[candidates] = labels[candidates] == filled
    return repeated


def label_keys(values: pd.Series) -> pd.Series:
    """Vectorized `match_key`."""
    return clean_series(values).str.lower().str.replace(" ", "", regex=False).str.strip("*:：")
