"""Stage 4, validate: check normalized rows against the Table Schema, vectorized.

Implements the Frictionless Table Schema checks this project uses (required, type,
enum, pattern, minimum/maximum, unique) over whole columns at once; Frictionless itself
stays the reference (the published package must pass `frictionless validate`, and the
tests compare both on the same data). Every error names file, sheet and cell.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from pipeline import pdpa
from pipeline.columns import arrow_text
from pipeline.dataset import FieldSpec
from pipeline.issues import Issue
from pipeline.normalize import NormalizedTable

TYPE_PATTERNS = {
    "integer": r"-?[0-9]+",
    "number": r"-?[0-9]+(?:\.[0-9]+)?",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
}
TYPE_HINTS = {
    "integer": "not a whole number (e.g. a year such as 2564)",
    "number": "not a number",
    "date": "not a real date in a form the pipeline reads (2021-03-15, 15/3/2564, 15 มี.ค. 2564)",
}


def drop_duplicate_rows(table: NormalizedTable) -> tuple[NormalizedTable, list[Issue]]:
    """Rows equal in every field to an earlier row are dropped, each with a warning."""
    values = table.values
    dup = _repeated_rows(
        values, next((f.name for f in table.spec.fields if f.constraints.get("unique")), values.columns[0])
    )
    if not dup.any():
        return table, []
    group = values.groupby(list(values.columns), sort=False, dropna=False).ngroup().to_numpy()
    first_of_group = np.flatnonzero(~dup)  # groups are numbered in order of first appearance
    issues = []
    for pos in np.flatnonzero(dup):
        original = int(first_of_group[group[pos]])
        issues.append(
            Issue(
                "warning",
                "duplicate-row",
                "exact duplicate of an earlier row; dropped",
                cell=f"row {int(table.row_numbers[pos])}",
                related_cell=table.full_cells(table.spec.field_names[0], np.array([original]))[0],
                **table.where(pos),
            )
        )
    keep = ~dup
    kept = NormalizedTable(
        values=values[keep].reset_index(drop=True),
        cleaned=table.cleaned[keep].reset_index(drop=True),
        sheet_index=table.sheet_index[keep],
        row_numbers=table.row_numbers[keep],
        sheets=table.sheets,
        spec=table.spec,
    )
    return kept, issues


def _repeated_rows(values: pd.DataFrame, key: str) -> np.ndarray:
    """Rows equal in every column to an earlier row. Such rows share their key, so only rows
    whose key repeats are compared whole (keys in ascending order cannot repeat at all)."""
    keys = arrow_text(values[key])
    repeated = np.zeros(len(values), dtype=bool)
    if _descents(keys) == 0:
        return repeated
    maybe = values[key].duplicated(keep=False).to_numpy()
    if maybe.any():
        repeated[maybe] = values[maybe].duplicated(keep="first").to_numpy()
    return repeated


def validate(table: NormalizedTable) -> list[Issue]:
    """Every schema error of the table (not only the first), in row order.

    Fields are checked in parallel threads: the checks are Arrow kernels that release
    the GIL, so a 2-core machine checks two columns at once."""
    fields = table.spec.fields
    workers = max(1, min(len(fields), os.cpu_count() or 1))
    issues: list[Issue] = []
    positions: list[np.ndarray] = []
    field_numbers: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # issues of one field are built while the threads still check the next ones
        checked = pool.map(lambda f: _field_findings(table, f), fields)
        for field_no, (f, (text, findings)) in enumerate(zip(fields, checked, strict=True)):
            for finding in findings:
                issues.extend(_finding_issues(table, f, text, finding))
                positions.append(finding.positions)
                field_numbers.append(np.full(len(finding.positions), field_no))
    if not issues:
        return []
    order = np.lexsort((np.concatenate(field_numbers), np.concatenate(positions)))  # row, then field
    return [issues[i] for i in order.tolist()]


@dataclass
class _Finding:
    """Rows of one field breaking one rule (positions ascending)."""

    positions: np.ndarray
    kind: str
    rule: str
    message: str
    first_of_key: np.ndarray | None = None  # unique: the earlier row holding the same key


def _field_findings(table: NormalizedTable, f: FieldSpec) -> tuple[pa.Array | pa.ChunkedArray, list[_Finding]]:
    """Which rows break which rule of field `f`: Arrow kernels over the column, or over its
    distinct values when it repeats a lot (years, dates, provinces, results)."""
    text = arrow_text(table.values[f.name])
    c = f.constraints
    per_value = f.type in TYPE_PATTERNS or "pattern" in c  # regex checks cost more than a hash per row
    values, codes = _distinct_values(text) if per_value and not c.get("unique") else (text, None)
    findings: list[_Finding] = []

    def flag(bad: np.ndarray, kind: str, rule: str, message: str) -> None:
        rows = np.flatnonzero(bad if codes is None else bad[codes])
        if len(rows):
            findings.append(_Finding(rows, kind, rule, message))

    present = _mask(pc.not_equal(values, ""))
    if c.get("required"):
        message = f"{f.name} is required but empty"
        if f.derived_from:
            message = f"{f.name} is required but cannot be derived from an empty or invalid {f.derived_from}"
        flag(~present, "constraint-error", "required", message)
    typed_ok = present
    if f.type in TYPE_PATTERNS:
        ok = _mask(pc.match_substring_regex(values, f"^(?:{TYPE_PATTERNS[f.type]})$"))
        if f.type == "date":
            ok = _on_the_calendar(values, ok)
        flag(present & ~ok, "type-error", f"type {f.type}", TYPE_HINTS[f.type])
        typed_ok = present & ok
    if f.type == "integer":
        for rule, message, bad in _out_of_range(values, typed_ok, c):
            flag(bad, "constraint-error", rule, message)
    if "enum" in c:
        allowed = _mask(pc.is_in(values, value_set=pa.array(c["enum"], type=values.type)))
        flag(typed_ok & ~allowed, "constraint-error", "enum", "not one of the allowed values")
    if "pattern" in c:
        ok = _mask(pc.match_substring_regex(values, f"^(?:{c['pattern']})$"))
        flag(typed_ok & ~ok, "constraint-error", "pattern", f"does not match the pattern {c['pattern']}")
    if c.get("unique"):  # a unique field is checked row by row above, so `present` is per row
        findings.extend(_unique_findings(text, present))
    return text, findings


SAMPLE_ROWS = 10_000  # a column's first rows tell whether checking distinct values pays


def _distinct_values(text: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | pa.ChunkedArray, np.ndarray | None]:
    """(each distinct value, code of each row) when a sample's values repeat fourfold or more,
    else (the column, None). Encoding costs a hash per row; a regex or date check costs ~3x that."""
    sample = text.slice(0, SAMPLE_ROWS)
    if len(text) <= SAMPLE_ROWS or pc.count_distinct(sample).as_py() * 4 > len(sample):
        return text, None
    return _dictionary(text)


def _mask(result: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return result.to_numpy(zero_copy_only=False) if isinstance(result, pa.Array) else result.to_numpy()


DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _on_the_calendar(values: pa.Array | pa.ChunkedArray, shaped: np.ndarray) -> np.ndarray:
    """Which YYYY-MM-DD texts are real days (2021-02-30 and year 0000 are not), as
    Frictionless reads dates with `datetime.strptime`. Whole-column integer arithmetic."""
    iso = values.filter(pa.array(shaped))
    year, month, day = (
        pc.cast(pc.utf8_slice_codeunits(iso, start, start + width), pa.int32()).to_numpy()
        for start, width in ((0, 4), (5, 2), (8, 2))
    )
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last_day = DAYS_IN_MONTH[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    real = shaped.copy()
    real[shaped] = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= last_day)
    return real


def _out_of_range(
    values: pa.Array | pa.ChunkedArray, typed_ok: np.ndarray, c: dict
) -> list[tuple[str, str, np.ndarray]]:
    """minimum/maximum of an integer column; numbers too long for int64 are compared exactly in Python."""
    if "minimum" not in c and "maximum" not in c:
        return []
    fits = typed_ok & (_mask(pc.binary_length(values)) <= 18)
    number = pc.cast(pc.if_else(pa.array(fits), values, "0"), pa.int64()).to_numpy()
    huge = np.flatnonzero(typed_ok & ~fits)
    found = []
    for rule, compare, word in (("minimum", np.less, "less"), ("maximum", np.greater, "greater")):
        if rule not in c:
            continue
        bad = fits & compare(number, c[rule])
        if len(huge):
            bad[huge[[compare(int(v), c[rule]) for v in values.take(pa.array(huge)).to_pylist()]]] = True
        found.append((rule, f"{word} than {c[rule]}", bad))
    return found


def _unique_findings(text: pa.Array | pa.ChunkedArray, present: np.ndarray) -> list[_Finding]:
    """Same key, different content. Keys keyed in ascending order (the usual case) cannot
    repeat, which one comparison pass proves. Otherwise equal keys are found next to each
    other in a stable sort (nearly ascending keys sort 3x faster than they hash), or by
    hashing when the keys are mostly out of order."""
    rows = np.flatnonzero(present)
    keys = text if len(rows) == len(text) else text.filter(pa.array(present))
    descents = _descents(keys)
    if descents == 0:
        return []
    if descents <= len(keys) // 16:
        order = pc.sort_indices(keys).to_numpy()  # stable: the first row of a key comes first
        ordered = keys.take(pa.array(order))
        same = np.zeros(len(keys), dtype=bool)
        same[1:] = _mask(pc.equal(ordered.slice(1), ordered.slice(0, len(keys) - 1)))
        if not same.any():
            return []
        repeats = order[same]
        first = order[np.flatnonzero(~same)][np.cumsum(~same)[same] - 1]  # each repeat's first row
        by_row = np.argsort(repeats, kind="stable")
        repeat_rows, first_rows = repeats[by_row], first[by_row]
    else:
        _, codes = _dictionary(keys)
        repeat = np.zeros(len(codes), dtype=bool)
        repeat[1:] = codes[1:] <= np.maximum.accumulate(codes)[:-1]
        if not repeat.any():
            return []
        first_by_code = np.flatnonzero(~repeat)  # dictionary codes number keys in order of first appearance
        repeat_rows = np.flatnonzero(repeat)
        first_rows = first_by_code[codes[repeat_rows]]
    return [_Finding(rows[repeat_rows], "unique-error", "unique", "", first_of_key=rows[first_rows])]


def _descents(keys: pa.Array | pa.ChunkedArray) -> int:
    """How many keys are not greater than the one before (0: strictly ascending, none repeats)."""
    if len(keys) < 2:
        return 0
    return pc.sum(pc.less_equal(keys.slice(1), keys.slice(0, len(keys) - 1))).as_py() or 0


def _dictionary(text: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(distinct values in order of first appearance, the code of each row)."""
    encoded = pc.dictionary_encode(text)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return pa.array([], type=text.type), np.zeros(0, dtype=np.int32)
    # chunks share one memo table: the last chunk's dictionary holds every earlier code
    return chunks[-1].dictionary, np.concatenate([chunk.indices.to_numpy() for chunk in chunks])


def _finding_issues(
    table: NormalizedTable, f: FieldSpec, text: pa.Array | pa.ChunkedArray, finding: _Finding
) -> list[Issue]:
    """Issues for one finding, built in bulk (one Arrow take per column, not a lookup per row)."""
    rows = finding.positions
    count = len(rows)
    messages, suggestions, related = [finding.message] * count, [""] * count, [""] * count
    if finding.rule == "enum":
        keys = text.take(pa.array(rows)).to_pylist()
        closest = {}
        for key in set(keys):
            match = process.extractOne(key, f.constraints["enum"], scorer=fuzz.ratio, score_cutoff=60)
            closest[key] = match[0] if match else ""
        suggestions = [closest[key] for key in keys]
    elif finding.rule == "unique" and finding.first_of_key is not None:
        keys = text.take(pa.array(rows)).to_pylist()
        messages = [f"{f.name} {key!r} is used by another row with different content" for key in keys]
        related = table.full_cells(f.name, finding.first_of_key)
    return [
        Issue(
            "error",
            finding.kind,
            message,
            file=file,
            sheet=sheet,
            cell=cell,
            field=f.name,
            value=value,
            rule=finding.rule,
            suggestion=suggestion,
            related_cell=other,
        )
        for message, (file, sheet), cell, value, suggestion, other in zip(
            messages,
            table.places(rows),
            table.cells(f.name, rows),
            table.source_texts(f.name, rows),
            suggestions,
            related,
            strict=True,
        )
    ]


def personal_data(table: NormalizedTable) -> list[Issue]:
    """The PDPA guard on every value about to be published, in every field (a phone keyed
    into `province` is as personal as one in a title); the value itself is never repeated
    in the issue (it is the thing that must not leak)."""
    issues = []
    for f in table.spec.fields:
        for finding in pdpa.scan_column(
            table.values[f.name], f.name, table.spec.reference.directory, set(f.may_contain)
        ):
            issues.append(
                Issue(
                    "error",
                    "personal-data",
                    f"looks like {pdpa.LABELS[finding.kind]}: personal data is not published (PDPA); "
                    "remove it from this cell",
                    cell=table.cell(f.name, finding.position),
                    field=f.name,
                    rule=f"no {finding.kind.replace('_', ' ')}",
                    **table.where(finding.position),
                )
            )
    return issues
