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
    dup = values.duplicated(keep="first").to_numpy()
    if not dup.any():
        return table, []
    first = values.groupby(list(values.columns), sort=False, dropna=False).ngroup().to_numpy()
    first_position: dict[int, int] = {}
    for pos, group in enumerate(first):
        first_position.setdefault(int(group), pos)
    issues = []
    for pos in np.flatnonzero(dup):
        original = first_position[int(first[pos])]
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


def validate(table: NormalizedTable) -> list[Issue]:
    """Every schema error of the table (not only the first), in row order.

    Fields are checked in parallel threads: the checks are Arrow kernels that release
    the GIL, so a 2-core machine checks two columns at once."""
    fields = table.spec.fields
    workers = max(1, min(len(fields), os.cpu_count() or 1))
    found: list[tuple[int, int, Issue]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # issues of one field are built while the threads still check the next ones
        for field_no, (f, (text, findings)) in enumerate(
            zip(fields, pool.map(lambda f: _field_findings(table, f), fields), strict=True)
        ):
            for pos, issue in _field_issues(table, f, text, findings):
                found.append((pos, field_no, issue))
    found.sort(key=lambda t: (t[0], t[1]))
    return [issue for _, _, issue in found]


@dataclass
class _Finding:
    """Rows of one field breaking one rule (positions ascending)."""

    positions: np.ndarray
    kind: str
    rule: str
    message: str
    first_of_key: np.ndarray | None = None  # unique: the earlier row holding the same key


def _field_findings(table: NormalizedTable, f: FieldSpec) -> tuple[pa.Array, list[_Finding]]:
    """Which rows break which rule of field `f`: Arrow kernels over the whole column."""
    text = arrow_text(table.values[f.name])
    present = pc.not_equal(text, "")
    c = f.constraints
    findings: list[_Finding] = []

    def flag(mask: pa.Array, kind: str, rule: str, message: str) -> None:
        rows = pc.indices_nonzero(mask).to_numpy()
        if len(rows):
            findings.append(_Finding(rows, kind, rule, message))

    if c.get("required"):
        message = f"{f.name} is required but empty"
        if f.derived_from:
            message = f"{f.name} is required but cannot be derived from an empty or invalid {f.derived_from}"
        flag(pc.invert(present), "constraint-error", "required", message)
    typed_ok = present
    if f.type in TYPE_PATTERNS:
        ok = pc.match_substring_regex(text, f"^(?:{TYPE_PATTERNS[f.type]})$")
        flag(pc.and_(present, pc.invert(ok)), "type-error", f"type {f.type}", TYPE_HINTS[f.type])
        typed_ok = pc.and_(present, ok)
    if f.type == "integer" and ("minimum" in c or "maximum" in c):
        findings.extend(_range_findings(text, typed_ok, c))
    if "enum" in c:
        allowed = pc.is_in(text, value_set=pa.array(c["enum"], type=text.type))
        flag(pc.and_(typed_ok, pc.invert(allowed)), "constraint-error", "enum", "not one of the allowed values")
    if "pattern" in c:
        ok = pc.match_substring_regex(text, f"^(?:{c['pattern']})$")
        flag(
            pc.and_(typed_ok, pc.invert(ok)),
            "constraint-error",
            "pattern",
            f"does not match the pattern {c['pattern']}",
        )
    if c.get("unique"):
        findings.extend(_unique_findings(text, present))
    return text, findings


def _range_findings(text: pa.Array, typed_ok: pa.Array, c: dict) -> list[_Finding]:
    """minimum/maximum of an integer column; numbers too long for int64 are compared exactly in Python."""
    ok = typed_ok.to_numpy(zero_copy_only=False)
    fits = ok & (pc.utf8_length(text).to_numpy() <= 18)
    number = pc.cast(pc.if_else(pa.array(fits), text, "0"), pa.int64()).to_numpy()
    huge = np.flatnonzero(ok & ~fits)
    findings = []
    for rule, compare, word in (("minimum", np.less, "less"), ("maximum", np.greater, "greater")):
        if rule not in c:
            continue
        bad = fits & compare(number, c[rule])
        if len(huge):
            values = text.take(pa.array(huge)).to_pylist()
            bad[huge[[compare(int(v), c[rule]) for v in values]]] = True
        rows = np.flatnonzero(bad)
        if len(rows):
            findings.append(_Finding(rows, "constraint-error", rule, f"{word} than {c[rule]}"))
    return findings


def _unique_findings(text: pa.Array, present: pa.Array) -> list[_Finding]:
    """Same key, different content. Keys keyed in ascending order (the usual case) cannot
    repeat, which one comparison pass proves; otherwise the keys are hashed. Dictionary codes
    are numbered in order of first appearance, so a row repeats an earlier key exactly when
    its code is not a new maximum."""
    keys = text if pc.all(present).as_py() else text.filter(present)
    if len(keys) < 2 or pc.all(pc.greater(keys.slice(1), keys.slice(0, len(keys) - 1))).as_py():
        return []
    codes = pc.dictionary_encode(text).indices.to_numpy()
    repeat = np.zeros(len(codes), dtype=bool)
    repeat[1:] = codes[1:] <= np.maximum.accumulate(codes)[:-1]
    rows = np.flatnonzero(repeat & present.to_numpy(zero_copy_only=False))
    if not len(rows):
        return []
    first_rows = np.flatnonzero(~repeat)  # first_rows[code] = the row where that key first appears
    return [_Finding(rows, "unique-error", "unique", "", first_of_key=first_rows[codes[rows]])]


def _field_issues(
    table: NormalizedTable, f: FieldSpec, text: pa.Array, findings: list[_Finding]
) -> list[tuple[int, Issue]]:
    """Issues for a field's findings, built in bulk (one Arrow take per column, not a lookup per row)."""
    issues: list[tuple[int, Issue]] = []
    suggestions: dict[str, str] = {}
    for finding in findings:
        rows = finding.positions
        keys = text.take(pa.array(rows)).to_pylist()
        raw_texts = table.source_texts(f.name, rows)
        cells = table.cells(f.name, rows)
        places = table.places(rows)
        related = [""] * len(rows)
        if finding.first_of_key is not None:
            related = table.full_cells(f.name, finding.first_of_key)
        for i, pos in enumerate(rows.tolist()):
            message, suggestion = finding.message, ""
            if finding.rule == "enum":
                key = keys[i]
                if key not in suggestions:
                    close = process.extractOne(key, f.constraints["enum"], scorer=fuzz.ratio, score_cutoff=60)
                    suggestions[key] = close[0] if close else ""
                suggestion = suggestions[key]
            elif finding.rule == "unique":
                message = f"{f.name} {keys[i]!r} is used by another row with different content"
            file, sheet = places[i]
            issues.append(
                (
                    pos,
                    Issue(
                        "error",
                        finding.kind,
                        message,
                        file=file,
                        sheet=sheet,
                        cell=cells[i],
                        field=f.name,
                        value=raw_texts[i],
                        rule=finding.rule,
                        suggestion=suggestion,
                        related_cell=related[i],
                    ),
                )
            )
    return issues


def personal_data(table: NormalizedTable) -> list[Issue]:
    """The PDPA guard on every free-text value about to be published; the value itself is
    never repeated in the issue (it is the thing that must not leak)."""
    issues = []
    for f in table.spec.fields:
        if not f.free_text:
            continue
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
