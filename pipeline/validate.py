"""Stage 4, validate: check normalized rows against the Table Schema, vectorized.

Implements the Frictionless Table Schema checks this project uses (required, type,
enum, pattern, minimum/maximum, unique) over whole columns at once; Frictionless itself
stays the reference (the published package must pass `frictionless validate`, and the
tests compare both on the same data). Every error names file, sheet and cell.
"""

from __future__ import annotations

import difflib

import numpy as np

from pipeline import pdpa
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
                related_cell=_full_cell(table, table.spec.field_names[0], original),
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
    """Every schema error of the table (not only the first), in row order."""
    found: list[tuple[int, int, Issue]] = []
    for field_no, f in enumerate(table.spec.fields):
        for pos, issue in _field_errors(table, f):
            found.append((pos, field_no, issue))
    found.sort(key=lambda t: (t[0], t[1]))
    return [issue for _, _, issue in found]


def _field_errors(table: NormalizedTable, f: FieldSpec) -> list[tuple[int, Issue]]:
    values = table.values[f.name]
    present = (values != "").to_numpy(dtype=bool)
    c = f.constraints
    errors: list[tuple[int, str, str, str]] = []  # (position, type, rule, message)

    def flag(mask: np.ndarray, kind: str, rule: str, message: str) -> None:
        errors.extend((int(p), kind, rule, message) for p in np.flatnonzero(mask))

    if c.get("required"):
        message = f"{f.name} is required but empty"
        if f.derived_from:
            message = f"{f.name} is required but cannot be derived from an empty or invalid {f.derived_from}"
        flag(~present, "constraint-error", "required", message)
    typed_ok = present.copy()
    if f.type in TYPE_PATTERNS:
        ok = values.str.fullmatch(TYPE_PATTERNS[f.type]).to_numpy(dtype=bool, na_value=False)
        flag(present & ~ok, "type-error", f"type {f.type}", TYPE_HINTS[f.type])
        typed_ok &= ok
    if f.type == "integer" and ("minimum" in c or "maximum" in c):
        number = values.where(typed_ok, "0").astype("int64").to_numpy()  # an Arrow cast, not a Python loop
        if "minimum" in c:
            flag(typed_ok & (number < c["minimum"]), "constraint-error", "minimum", f"less than {c['minimum']}")
        if "maximum" in c:
            flag(typed_ok & (number > c["maximum"]), "constraint-error", "maximum", f"greater than {c['maximum']}")
    if "enum" in c:
        allowed = values.isin(c["enum"]).to_numpy(dtype=bool)
        flag(typed_ok & ~allowed, "constraint-error", "enum", "not one of the allowed values")
    if "pattern" in c:
        ok = values.str.fullmatch(c["pattern"]).to_numpy(dtype=bool, na_value=False)
        flag(typed_ok & ~ok, "constraint-error", "pattern", f"does not match the pattern {c['pattern']}")

    issues = []
    suggestions: dict[str, str] = {}
    raw_texts = table.source_texts(f.name, np.array([e[0] for e in errors], dtype=int))
    for (pos, kind, rule, message), raw in zip(errors, raw_texts, strict=True):
        suggestion = ""
        if rule == "enum":
            key = values.iat[pos]
            if key not in suggestions:
                close = difflib.get_close_matches(key, c["enum"], n=1, cutoff=0.6)
                suggestions[key] = close[0] if close else ""
            suggestion = suggestions[key]
        issues.append(
            (
                pos,
                Issue(
                    "error",
                    kind,
                    message,
                    cell=table.cell(f.name, pos),
                    field=f.name,
                    value=raw,
                    rule=rule,
                    suggestion=suggestion,
                    **table.where(pos),
                ),
            )
        )
    if c.get("unique"):
        issues.extend(_unique_errors(table, f, present))
    return issues


def _unique_errors(table: NormalizedTable, f: FieldSpec, present: np.ndarray) -> list[tuple[int, Issue]]:
    """Same key, different content: an error naming both cells."""
    values = table.values[f.name]
    dup = values.duplicated(keep="first").to_numpy() & present
    if not dup.any():
        return []
    first = {}
    for pos in np.flatnonzero(values.duplicated(keep=False).to_numpy() & present):
        first.setdefault(values.iat[pos], int(pos))
    return [
        (
            int(pos),
            Issue(
                "error",
                "unique-error",
                f"{f.name} {values.iat[pos]!r} is used by another row with different content",
                cell=table.cell(f.name, int(pos)),
                field=f.name,
                value=table.source_text(f.name, int(pos)),
                rule="unique",
                related_cell=_full_cell(table, f.name, first[values.iat[pos]]),
                **table.where(int(pos)),
            ),
        )
        for pos in np.flatnonzero(dup)
    ]


def _full_cell(table: NormalizedTable, field_name: str, position: int) -> str:
    where = table.where(position)
    return " › ".join(p for p in (where["file"], where["sheet"], table.cell(field_name, position)) if p)


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
