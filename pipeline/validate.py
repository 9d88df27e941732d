"""Stage 4, validate: check normalized rows against the whole Table Schema, vectorized.

Frictionless is the reference: what it would reject is never published. Strings, integers
and ISO dates are checked by Arrow kernels over whole columns; every other value goes
through Frictionless's own cell reader once per distinct value; unique, primaryKey,
uniqueKeys and foreignKeys compare typed values across rows. The tests compare both on
random schemas (tests/test_differential.py). Every error names file, sheet and cell.
"""

from __future__ import annotations

import builtins
import functools
import json
import math
import re
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from pipeline import pdpa
from pipeline.columns import arrow_text, column_threads
from pipeline.dataset import DatasetSpec, FieldSpec
from pipeline.issues import Issue
from pipeline.normalize import NormalizedTable

# Frictionless reads a cell's text with the field's own reader; the fast path below only
# decides, by a regex, which texts are certainly of the type. Every other text (rare in
# normalized data) gets Frictionless's own verdict, so the two can never disagree.
CERTAIN_PATTERNS = {
    "integer": r"-?[0-9]+",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "number": r"-?[0-9]{1,300}(?:\.[0-9]{1,300})?",
}
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
# Stricter than Frictionless, on purpose: the publish stage writes each value as the text that was
# validated (in the schema's own notation), and its JSON and Excel copies as numbers; a number
# Frictionless reads as not finite (`NaN`, `INF`, `-Infinity`) is no JSON or Excel number, so it is
# refused as "type-error" with rule "canonical number"; every other number and integer is published.
CANONICAL_HINTS = {
    "number": "not a finite number (NaN or infinity): the JSON and Excel copies cannot hold it; key the number, "
    "or leave the cell empty",
}
TYPE_HINTS = {
    "string": "not a valid {format}",
    "integer": "not a whole number (e.g. a year such as 2564)",
    "number": "not a number",
    "boolean": "not one of the words this field reads as true or false",
    "date": "not a real date in a form the pipeline reads (2021-03-15, 15/3/2564, 15 มี.ค. 2564)",
    "time": "not a time (e.g. 14:30:00)",
    "datetime": "not a date and time (e.g. 2021-03-15T14:30:00)",
    "year": "not a year (four digits)",
    "yearmonth": "not a year and month (e.g. 2021-03)",
    "duration": "not an ISO 8601 duration (e.g. P1Y2M)",
    "geopoint": "not a geographic point (e.g. 100.5,13.7)",
    "geojson": "not a GeoJSON object",
    "object": "not a JSON object",
    "array": "not a JSON array",
    "list": "not a list",
}
CONSTRAINT_MESSAGES = {
    "minimum": "less than {0}",
    "maximum": "greater than {0}",
    "exclusiveMinimum": "not greater than {0}",
    "exclusiveMaximum": "not less than {0}",
    "minLength": "shorter than {0} characters",
    "maxLength": "longer than {0} characters",
    "pattern": "does not match the pattern {0}",
    "enum": "not one of the allowed values",
    "constraint": "cannot be compared with the field's constraints (Frictionless fails on it: e.g. a time "
    "with a time zone against a bound without one)",
}
# the types Frictionless 5 reads (Table Schema v1, and `list` from v2)
TABLE_SCHEMA_TYPES = (
    "string", "number", "integer", "boolean", "object", "array", "list", "date", "time", "datetime",
    "year", "yearmonth", "duration", "geopoint", "geojson", "any",
)  # fmt: skip


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
    issues = duplicate_row_issues(table, np.flatnonzero(dup), first_of_group[group[dup]])
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


def duplicate_row_issues(table: NormalizedTable, rows: np.ndarray, originals: np.ndarray) -> list[Issue]:
    """A warning for each row in `rows` (ascending), naming the earlier row it repeats."""
    related = table.full_cells(table.spec.field_names[0], originals)
    return [
        Issue(
            "warning",
            "duplicate-row",
            "exact duplicate of an earlier row; dropped",
            cell=f"row {number}",
            related_cell=other,
            **where,
        )
        for number, other, where in zip(table.row_numbers[rows].tolist(), related, _wheres(table, rows), strict=True)
    ]


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


def schema_problems(
    table_schema: Any, resources: Collection[str] = ("",), package_profile: str | None = None
) -> list[str]:
    """What makes a Table Schema unusable, one line per problem (field, what is wrong, what is
    allowed): Frictionless's own descriptor validation, plus what it only finds while reading
    rows (constraint values its reader cannot read, patterns that do not compile, keys naming
    missing fields or resources). `resources`: the names a foreign key may reference;
    `package_profile`: the `$schema` of the data package that will carry the Table Schema
    ("" for none: Data Package v1, which Frictionless then holds the schema to; None to
    judge the schema by its own `$schema`)."""
    from frictionless import Field, FrictionlessException, Schema, system
    from frictionless.metadata.context import ValidationContext

    if not isinstance(table_schema, dict) or not isinstance(table_schema.get("fields"), list):
        return ['a Table Schema is an object with a "fields" list']
    problems: list[str] = []
    usable = []
    carrier = table_schema if package_profile is None else {"$schema": package_profile} if package_profile else {}
    context = ValidationContext(datapackage_version=Schema.effective_datapackage_version(carrier, None))
    for n, desc in enumerate(table_schema["fields"], start=1):
        if not isinstance(desc, dict) or not isinstance(desc.get("name"), str):
            problems.append(f'field {n}: a field is an object with a text "name"')
            continue
        name, kind = desc["name"], desc.get("type", "string")
        if kind not in TABLE_SCHEMA_TYPES:
            problems.append(
                f"field {name!r}: type {kind!r} is not a Table Schema type; allowed: {', '.join(TABLE_SCHEMA_TYPES)}"
            )
            usable.append({"name": name})
            continue
        cls = system.select_field_class(kind)
        allowed = ", ".join([*cls.supported_constraints, "unique"])
        try:
            notes = [e.note for e in cls.metadata_validate(desc, context=context)]
        except FrictionlessException as exc:
            notes = [exc.error.note]
        except Exception as exc:  # Frictionless trips over some malformed descriptors itself
            notes = [f"Frictionless cannot read this field ({type(exc).__name__}: {exc})"]
        for note in notes:
            hint = f" (allowed for {kind}: {allowed})" if "is not supported by type" in note else ""
            problems.append(f"field {name!r}: {note}{hint}")
        usable.append(desc if not notes else {"name": name})
        if not notes:
            try:
                problems.extend(f"field {name!r}: {p}" for p in _constraint_value_problems(Field.from_descriptor(desc)))
            except FrictionlessException as exc:
                problems.append(f"field {name!r}: {exc.error.note}")
            except Exception as exc:  # a constraint value its reader cannot even look at
                problems.append(f"field {name!r}: Frictionless cannot read its constraints ({type(exc).__name__})")
    names = {d["name"] for d in usable}
    key_problems = _key_problems(table_schema, names, resources)
    try:
        errors = Schema.metadata_validate({**table_schema, "fields": usable}, context=context)
        found = [e.note for e in errors if e.type != "field-error"]
    except FrictionlessException as exc:
        found = [exc.error.note]
    except Exception as exc:  # Frictionless trips over some malformed keys itself: ours name them
        found = [] if key_problems else [f"Frictionless cannot read this Table Schema ({type(exc).__name__}: {exc})"]
    # field errors were reported per field above; a primary key naming no field is reported below
    problems.extend(n for n in found if "primary key" not in n)
    problems.extend(key_problems)
    return problems


def _key_names(value: Any) -> list[str] | None:
    """The field names of a key (one name, or a list of names); None when it is neither."""
    found = [value] if isinstance(value, str) else value
    return found if isinstance(found, list) and all(isinstance(n, str) for n in found) else None


def _key_problems(table_schema: dict[str, Any], names: set[str], resources: Collection[str]) -> list[str]:
    """primaryKey, uniqueKeys and foreignKeys that name no field, or a resource not in the package."""
    problems = []
    keys: list[tuple[str, Any]] = []
    if "primaryKey" in table_schema:
        keys.append(("primaryKey", table_schema["primaryKey"]))
    for prop in ("uniqueKeys", "foreignKeys"):
        if not isinstance(table_schema.get(prop, []), list):
            problems.append(f"{prop} must be a list")
    for unique in table_schema.get("uniqueKeys") if isinstance(table_schema.get("uniqueKeys"), list) else []:
        keys.append(("uniqueKeys", unique))
    for fk in table_schema.get("foreignKeys") if isinstance(table_schema.get("foreignKeys"), list) else []:
        reference = fk.get("reference") if isinstance(fk, dict) else None
        resource = reference.get("resource", "") if isinstance(reference, dict) else None
        if not isinstance(resource, str) or "fields" not in fk or "fields" not in reference:
            problems.append(f'foreignKeys {fk}: needs "fields" and "reference": {{"resource", "fields"}}')
            continue
        fields, ref_fields = _key_names(fk["fields"]), _key_names(reference["fields"])
        keys += [("foreignKeys", fk["fields"]), ("foreignKeys reference", reference["fields"])]
        if resource not in resources:
            allowed = ", ".join(repr(r) for r in resources)
            problems.append(
                f"foreignKeys {fk['fields']}: resource {resource!r} is not in the package; allowed: {allowed}"
            )
        if fields is not None and ref_fields is not None and len(fields) != len(ref_fields):
            problems.append(f"foreignKeys {fields}: {len(fields)} field(s) refer to {len(ref_fields)} field(s)")
    for prop, value in keys:
        key = _key_names(value)
        if key is None:
            problems.append(f"{prop} {value!r}: allowed is a field name or a list of field names")
        elif missing := [k for k in key if k not in names]:
            problems.append(f"{prop} {key}: no field named {', '.join(missing)}")
    return problems


def _constraint_value_problems(field: Any) -> list[str]:
    """Constraint values Frictionless would only trip over while reading rows."""
    problems = []
    reader = field.create_value_reader()
    c = field.constraints
    for rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if rule in c and (c[rule] is None or reader(c[rule]) is None):
            problems.append(f"constraint {rule} {c[rule]!r} is not a valid {field.type}")
    for value in c.get("enum") or []:
        if reader(value) is None:
            problems.append(f"constraint enum: {value!r} is not a valid {field.type}")
    for rule in ("minLength", "maxLength"):
        if rule in c and (type(c[rule]) is not int or c[rule] < 0):
            problems.append(f"constraint {rule} {c[rule]!r}: allowed is a whole number, 0 or more")
    if "pattern" in c:
        try:
            re.compile(f"^{c['pattern']}$")
        except (re.error, TypeError) as exc:
            problems.append(f"constraint pattern {c['pattern']!r} is not a regular expression ({exc})")
    return problems


@dataclass(frozen=True)
class _Plan:
    """How one field is checked: the fast path it takes ("" = every value through Frictionless),
    its missing values, and Frictionless's own cell reader (type and constraints) for the rest."""

    field: FieldSpec
    number: int
    fast: str
    missing: tuple[str, ...]
    reader: Callable[[Any], tuple[Any, dict[str, str] | None]]
    value: Callable[[Any], Any]  # Frictionless's typed value of a text (None: not of the type)
    descriptor: dict[str, Any]

    @property
    def constraints(self) -> dict[str, Any]:
        return self.descriptor.get("constraints", {})


def _plans(spec: DatasetSpec) -> list[_Plan]:
    schema = _frictionless_schema(spec.table_schema)
    plans = []
    for number, f in enumerate(spec.fields):
        fl = schema.get_field(f.name)
        missing = fl.missing_values if fl.has_defined("missing_values") else schema.missing_values
        c = fl.constraints
        rest = set(c) - {"required", "unique"}
        fast = ""
        if fl.type == "string" and fl.format == "default" and rest <= {"enum", "minLength", "maxLength", "pattern"}:
            fast = "string" if all(isinstance(v, str) for v in c.get("enum", [])) else ""
        elif fl.type == "integer" and fl.bare_number and rest <= {"minimum", "maximum"}:
            fast = "integer" if all(type(c[k]) is int for k in rest) else ""
        elif fl.type == "date" and fl.format == "default" and not rest:
            fast = "date"
        elif fl.type == "number" and fl.decimal_char == "." and not fl.group_char and rest <= set(BOUNDS):
            fast = "number"
        descriptor = next(d for d in spec.table_schema["fields"] if d["name"] == f.name)
        plans.append(
            _Plan(f, number, fast, tuple(missing), fl.create_cell_reader(), fl.create_value_reader(), descriptor)
        )
    return plans


def prepare(spec: DatasetSpec) -> None:
    """Import Frictionless and build the dataset's Schema ahead of `validate` (a third of a
    second): the build runs this while the reader parses a workbook without holding the GIL."""
    _frictionless_schema(spec.table_schema)


def _frictionless_schema(table_schema: dict[str, Any]) -> Any:
    """The Frictionless Schema of a descriptor (built once per distinct descriptor)."""
    return _schema_from_json(json.dumps(table_schema, sort_keys=True, ensure_ascii=False))


@functools.lru_cache(maxsize=16)
def _schema_from_json(text: str) -> Any:
    from frictionless import Schema

    return Schema.from_descriptor(json.loads(text))


def validate(table: NormalizedTable) -> list[Issue]:
    """Every schema error of the table (not only the first), in row order: the cell checks
    of each field, then unique, primaryKey and foreignKeys across rows, as Frictionless does.

    Fields of a large table are checked in parallel threads: the checks are Arrow kernels that
    release the GIL, so a 2-core machine checks two columns at once (a small table is checked
    in this thread: starting threads would cost more than its checks)."""
    plans = _plans(table.spec)
    found = [*cell_findings(table, plans), *cross_row_findings(table, plans)]
    return in_row_order(found)


Located = tuple[list[Issue], np.ndarray, int]  # issues, the row of each, the rank of their check in a row


def in_row_order(found: list[Located]) -> list[Issue]:
    """The issues of every check, by row, then by check (fields in schema order, then the row-level ones)."""
    issues = [i for found_issues, _, _ in found for i in found_issues]
    if not issues:
        return []
    positions = np.concatenate([rows for _, rows, _ in found])
    numbers = np.concatenate([np.full(len(rows), rank) for _, rows, rank in found])
    order = np.lexsort((numbers, positions))  # row, then field
    return [issues[i] for i in order.tolist()]


def cell_findings(table: NormalizedTable, plans: list[_Plan] | None = None) -> list[Located]:
    """What each row breaks on its own: cell rules per field, and blank rows (`pipeline/stream.py`
    checks a large table batch by batch with it)."""
    plans = _plans(table.spec) if plans is None else plans
    blank = _blank_rows(table, plans)
    workers = column_threads(len(plans), len(table.values))
    found: list[Located] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # issues of one field are built while the threads still check the next ones
        checked = (pool if workers > 1 else builtins).map(lambda p: _field_findings(table, p), plans)
        for plan, (text, findings) in zip(plans, checked, strict=True):
            for finding in findings:
                if blank is not None:  # a blank row is one blank-row error, not a required error per cell
                    finding.positions = finding.positions[~blank[finding.positions]]
                found.append((_finding_issues(table, plan.field, text, finding), finding.positions, plan.number))
    if blank is not None:
        rows = np.flatnonzero(blank)
        issues = [
            Issue("error", "blank-row", "every cell of this row is empty or a missing value", cell=f"row {n}", **w)
            for n, w in zip(table.row_numbers[rows].tolist(), _wheres(table, rows), strict=True)
        ]
        found.append((issues, rows, len(plans)))
    return found


def cross_row_fields(spec: DatasetSpec) -> list[str]:
    """The fields the checks across rows read: `unique` ones, and those of primaryKey, uniqueKeys, foreignKeys."""
    schema = spec.table_schema
    names = [f.name for f in spec.fields if f.constraints.get("unique")]
    names += _as_list(schema.get("primaryKey") or [])
    for unique in schema.get("uniqueKeys") or []:
        names += _as_list(unique)
    for fk in schema.get("foreignKeys") or []:
        names += _as_list(fk["fields"]) + _as_list(fk["reference"]["fields"])
    known = set(spec.field_names)
    return [n for n in dict.fromkeys(names) if n in known]


def cross_row_findings(table: NormalizedTable, plans: list[_Plan] | None = None) -> list[Located]:
    """unique, primaryKey, uniqueKeys and foreignKeys: values compared across the whole table
    (which needs only the fields `cross_row_fields` names)."""
    plans = _plans(table.spec) if plans is None else plans
    row_level = len(plans)
    found: list[Located] = []
    unique_findings: dict[str, list[_Finding]] = {}
    for plan in plans:
        if plan.constraints.get("unique"):
            unique_findings[plan.field.name] = _unique_value_findings(table, plan)
            for finding in unique_findings[plan.field.name]:
                issues = _finding_issues(table, plan.field, _text(table, plan), finding)
                found.append((issues, finding.positions, row_level + 1))
    for kind, issues, rows in _key_issues(table, plans, unique_findings):
        found.append((issues, rows, row_level + {"primary-key": 2, "unique-error": 3, "foreign-key": 4}[kind]))
    return found


def _text(table: NormalizedTable, plan: _Plan) -> pa.Array | pa.ChunkedArray:
    return arrow_text(table.values[plan.field.name])


def _wheres(table: NormalizedTable, rows: np.ndarray) -> list[dict[str, str]]:
    return [{"file": file, "sheet": sheet} for file, sheet in table.places(rows)]


def _is_missing(values: pa.Array | pa.ChunkedArray, missing: tuple[str, ...]) -> np.ndarray:
    if not missing:
        return np.zeros(len(values), dtype=bool)
    if len(missing) == 1:  # the usual [""]: a comparison is cheaper than a hash lookup
        return _mask(pc.equal(values, missing[0]))
    return _mask(pc.is_in(values, value_set=pa.array(missing, type=values.type)))


def _blank_rows(table: NormalizedTable, plans: list[_Plan]) -> np.ndarray | None:
    """Rows whose every cell is a missing value (Frictionless: blank-row), or None when there are none."""
    blank = None
    for plan in plans:
        missing = _is_missing(_text(table, plan), plan.missing)
        blank = missing if blank is None else blank & missing
        if not blank.any():
            return None
    return blank


@dataclass
class _Finding:
    """Rows of one field breaking one rule (positions ascending)."""

    positions: np.ndarray
    kind: str
    rule: str
    message: str
    first_of_key: np.ndarray | None = None  # unique: the earlier row holding the same key


def _field_findings(table: NormalizedTable, plan: _Plan) -> tuple[pa.Array | pa.ChunkedArray, list[_Finding]]:
    """Which rows break which cell rule of one field: Arrow kernels over the column, or over its
    distinct values when it repeats a lot (years, dates, provinces, results); Frictionless's own
    reader for values the fast path cannot vouch for, and for every value of other types."""
    f, c = plan.field, plan.constraints
    text = _text(table, plan)
    if not plan.fast:
        values, codes = _dictionary(text)
    elif plan.fast in CERTAIN_PATTERNS or "pattern" in c:  # regex checks cost more than a hash per row
        values, codes = _distinct_values(text)
    else:
        values, codes = text, None
    findings: list[_Finding] = []

    def flag(bad: np.ndarray, kind: str, rule: str, message: str) -> None:
        rows = np.flatnonzero(bad if codes is None else bad[codes])
        if len(rows):
            findings.append(_Finding(rows, kind, rule, message))

    present = ~_is_missing(values, plan.missing)
    if c.get("required"):
        message = f"{f.name} is required but empty"
        if f.derived_from:
            message = f"{f.name} is required but cannot be derived from an empty or invalid {f.derived_from}"
        flag(~present, "constraint-error", "required", message)
    certain = present.copy() if plan.fast else np.zeros(len(values), dtype=bool)
    if plan.fast in CERTAIN_PATTERNS:
        certain &= _mask(pc.match_substring_regex(values, f"^(?:{CERTAIN_PATTERNS[plan.fast]})$"))
        if plan.fast == "date":
            certain = _on_the_calendar(values, certain)
    number_bounds: list[tuple[str, np.ndarray]] = []
    if plan.fast == "number" and any(rule in c for rule in BOUNDS):
        number_bounds = _number_out_of_bounds(values, certain, c, plan.value)
        for rule, bad in number_bounds:
            if rule == "tie":  # too close to a bound to decide in floating point: Frictionless decides
                certain &= ~bad
    verdicts = _frictionless_verdicts(values, present & ~certain, plan.reader)
    if f.type in CANONICAL_HINTS:  # only texts the fast path did not vouch for can read as NaN or infinity
        unwritable = np.zeros(len(values), dtype=bool)
        rows = np.flatnonzero(present & ~certain & ~verdicts.get("type", np.zeros(len(values), dtype=bool)))
        for row, cell in zip(rows.tolist(), values.take(pa.array(rows, type=pa.int64())).to_pylist(), strict=True):
            number = plan.value(cell)
            if isinstance(number, Decimal | float):
                unwritable[row] = not (number.is_finite() if isinstance(number, Decimal) else math.isfinite(number))
        flag(unwritable, "type-error", f"canonical {f.type}", CANONICAL_HINTS[f.type])
    for rule, bad in verdicts.items():
        if rule == "type":
            hint = TYPE_HINTS.get(f.type, f"not a valid {f.type}").format(format=plan.descriptor.get("format", ""))
            flag(bad, "type-error", f"type {f.type}", hint)
        else:
            flag(bad, "constraint-error", rule, CONSTRAINT_MESSAGES.get(rule, rule).format(c.get(rule)))
    if plan.fast == "integer":
        for rule, message, bad in _out_of_range(values, certain, c):
            flag(bad, "constraint-error", rule, message)
    for rule, bad in number_bounds:
        if rule != "tie":
            flag(certain & bad, "constraint-error", rule, CONSTRAINT_MESSAGES[rule].format(c[rule]))
    if plan.fast == "string":
        if "minLength" in c or "maxLength" in c:
            length = _mask(pc.utf8_length(values))
            if "minLength" in c:
                flag(
                    certain & (length < c["minLength"]),
                    "constraint-error",
                    "minLength",
                    CONSTRAINT_MESSAGES["minLength"].format(c["minLength"]),
                )
            if "maxLength" in c:
                flag(
                    certain & (length > c["maxLength"]),
                    "constraint-error",
                    "maxLength",
                    CONSTRAINT_MESSAGES["maxLength"].format(c["maxLength"]),
                )
        if "pattern" in c:
            # Python's `re`, compiled as Frictionless compiles it (RE2 differs: \d, $ before a newline)
            pattern = re.compile(f"^{c['pattern']}$")
            ok = np.ones(len(values), dtype=bool)
            rows = np.flatnonzero(certain)
            ok[rows] = [pattern.match(v) is not None for v in values.take(pa.array(rows)).to_pylist()]
            flag(certain & ~ok, "constraint-error", "pattern", CONSTRAINT_MESSAGES["pattern"].format(c["pattern"]))
        if "enum" in c:
            allowed = _mask(pc.is_in(values, value_set=pa.array(c["enum"], type=values.type)))
            flag(certain & ~allowed, "constraint-error", "enum", CONSTRAINT_MESSAGES["enum"])
    return text, findings


def _frictionless_verdicts(
    values: pa.Array | pa.ChunkedArray, which: np.ndarray, reader: Callable[[Any], tuple[Any, dict | None]]
) -> dict[str, np.ndarray]:
    """Frictionless's own verdict on the values at `which`: rule ("type", "minimum", ...) ->
    which values break it. One reader call per value (callers pass distinct values)."""
    rows = np.flatnonzero(which)
    broken: dict[str, np.ndarray] = {}
    if not len(rows):
        return broken
    for row, value in zip(rows.tolist(), values.take(pa.array(rows)).to_pylist(), strict=True):
        try:
            _, notes = reader(value)
        except Exception:  # Frictionless itself fails on it (e.g. a zoned time against a bound without zone)
            notes = {"constraint": ""}
        for rule in notes or ():
            broken.setdefault(rule, np.zeros(len(values), dtype=bool))[row] = True
    return broken


def _typed_ids(table: NormalizedTable, plan: _Plan, canon: dict[Any, int] | None, nan_base: int) -> np.ndarray:
    """Each row's value as Frictionless types it, as an integer id: equal ids for equal values
    (1 == 1.0 == "01" as integers), -1 for a missing value or a type error. A value not equal
    to itself (NaN) equals nothing, so it gets an id of its own (from `nan_base + row`).
    Ids come in order of first appearance; `canon` shares them between fields (foreign keys)."""
    values, codes = _dictionary(_text(table, plan))
    if plan.fast == "string" and canon is None:  # the text is the value: its dictionary code is its id
        ids = np.arange(len(values), dtype=np.int64)
        ids[_is_missing(values, plan.missing)] = -1
        return ids[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    canon = {} if canon is None else canon
    ids = np.full(len(values), -1, dtype=np.int64)
    nan = np.zeros(len(values), dtype=bool)
    missing = set(plan.missing)
    for i, text in enumerate(values.to_pylist()):
        typed = None if text in missing else plan.value(text)
        if typed is None:
            continue
        if typed != typed:
            nan[i] = True
            continue
        try:
            key = (typed,) if hash(typed) is not None else None
        except TypeError:  # objects and arrays: equal when their JSON is
            key = ("json", json.dumps(typed, sort_keys=True, default=str))
        ids[i] = canon.setdefault(key, len(canon))
    row_ids = ids[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    nan_rows = np.flatnonzero(nan[codes]) if len(codes) else np.zeros(0, dtype=np.int64)
    row_ids[nan_rows] = nan_base + nan_rows
    return row_ids


def _unique_value_findings(table: NormalizedTable, plan: _Plan) -> list[_Finding]:
    """`unique`: a value (as typed) seen in an earlier row. Missing values and type errors are not compared."""
    if plan.fast == "string":  # the text is the value
        text = _text(table, plan)
        return _unique_findings(text, ~_is_missing(text, plan.missing))
    ids = _typed_ids(table, plan, None, nan_base=1 << 40)
    return _unique_findings(pa.array(ids), ids >= 0)


def _as_list(names: str | list[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def _key_issues(
    table: NormalizedTable, plans: list[_Plan], unique_findings: dict[str, list[_Finding]]
) -> list[tuple[str, list[Issue], np.ndarray]]:
    """primaryKey (a repeated key, or a key whose every cell is missing), uniqueKeys and foreignKeys
    (a key not found among the referenced rows), compared on typed values as Frictionless does.
    `unique_findings`: the repeats already found per field with the `unique` constraint."""
    schema = table.spec.table_schema
    by_name = {p.field.name: p for p in plans}
    found = []
    key = _as_list(schema.get("primaryKey") or [])
    if len(key) == 1 and key[0] in by_name and by_name[key[0]].fast == "string":
        # one plain-text field: its repeats are those of `unique` (already found when it has that constraint)
        plan = by_name[key[0]]
        rows = np.flatnonzero(_is_missing(_text(table, plan), plan.missing))
        repeats = unique_findings.get(plan.field.name)
        repeats = _unique_value_findings(table, plan) if repeats is None else repeats
    elif key and all(k in by_name for k in key):
        ids = [_typed_ids(table, by_name[k], None, nan_base=1 << 40) for k in key]
        none = np.logical_and.reduce([i < 0 for i in ids])
        combined = ids[0] if len(ids) == 1 else _tuple_ids(ids)
        rows = np.flatnonzero(none)
        repeats = _unique_findings(pa.array(combined), ~none)
    if key and all(k in by_name for k in key):
        found.append(
            ("primary-key", _key_row_issues(table, key, rows, "every cell of the primary key is empty", None), rows)
        )
        for finding in repeats:
            message = f"primary key ({', '.join(key)}) repeats that of another row"
            issues = _key_row_issues(table, key, finding.positions, message, finding.first_of_key)
            found.append(("primary-key", issues, finding.positions))
    for names in schema.get("uniqueKeys") or []:
        # Frictionless 5 does not check uniqueKeys (Table Schema v2); we do, skipping (as SQL does)
        # a row where any of the fields is missing
        names = _as_list(names)
        if not names or not all(k in by_name for k in names):
            continue
        ids = [_typed_ids(table, by_name[k], None, nan_base=1 << 40) for k in names]
        some_none = np.logical_or.reduce([i < 0 for i in ids])
        combined = ids[0] if len(ids) == 1 else _tuple_ids(ids)
        for finding in _unique_findings(pa.array(combined), ~some_none):
            message = f"({', '.join(names)}) repeats the values of another row (uniqueKeys)"
            issues = _key_row_issues(table, names, finding.positions, message, finding.first_of_key, "unique-error")
            found.append(("unique-error", issues, finding.positions))
    own = table.spec.resource.get("name", "")
    for fk in schema.get("foreignKeys") or []:
        fields, reference = _as_list(fk["fields"]), fk["reference"]
        ref_fields, resource = _as_list(reference["fields"]), reference.get("resource", "")
        if resource not in ("", own) or not all(k in by_name for k in fields + ref_fields):
            continue  # schema_problems refuses such a schema at load
        canon: dict[Any, int] = {}
        source = [_typed_ids(table, by_name[k], canon, nan_base=1 << 40) for k in ref_fields]
        target = [_typed_ids(table, by_name[k], canon, nan_base=1 << 50) for k in fields]
        source_none = np.logical_and.reduce([i < 0 for i in source])
        target_none = np.logical_and.reduce([i < 0 for i in target])
        lookup = pd.MultiIndex.from_arrays([i[~source_none] for i in source])
        known = pd.MultiIndex.from_arrays(target).isin(lookup)
        rows = np.flatnonzero(~known & ~target_none)
        where = f"{resource or own}" + (f" ({', '.join(ref_fields)})" if ref_fields != fields or resource else "")
        message = f"({', '.join(fields)}) not found among the values of {where or 'this table'}"
        found.append(("foreign-key", _key_row_issues(table, fields, rows, message, None, kind="foreign-key"), rows))
    return found


def _tuple_ids(ids: list[np.ndarray]) -> np.ndarray:
    """One id per distinct tuple of ids, in order of first appearance."""
    frame = pd.DataFrame({str(n): i for n, i in enumerate(ids)})
    return frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy().astype(np.int64)


def _key_row_issues(
    table: NormalizedTable,
    fields: list[str],
    rows: np.ndarray,
    message: str,
    first: np.ndarray | None,
    kind: str = "primary-key",
) -> list[Issue]:
    """One issue per row for a key of one or more fields: its cell is the key's first field."""
    if not len(rows):
        return []
    texts = [table.source_texts(name, rows) for name in fields]
    related = table.full_cells(fields[0], first) if first is not None else [""] * len(rows)
    return [
        Issue(
            "error",
            kind,
            message,
            file=file,
            sheet=sheet,
            cell=cell,
            field=", ".join(fields),
            value=" | ".join(parts) if any(parts) else "",
            rule={"primary-key": "primaryKey", "foreign-key": "foreignKeys", "unique-error": "uniqueKeys"}[kind],
            related_cell=other,
        )
        for (file, sheet), cell, other, *parts in zip(
            table.places(rows), table.cells(fields[0], rows), related, *texts, strict=True
        )
    ]


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


def _number_out_of_bounds(
    values: pa.Array | pa.ChunkedArray, certain: np.ndarray, c: dict, read: Callable[[Any], Any]
) -> list[tuple[str, np.ndarray]]:
    """Bounds of a plain decimal column, compared in float64: rounding is monotonic, so a value
    whose float is below the bound's float is below the bound. Values whose float equals the
    bound's are returned as "tie", for Frictionless to decide exactly (Decimal)."""
    number = pc.cast(pc.if_else(pa.array(certain), values, "0"), pa.float64()).to_numpy()
    found, tie = [], np.zeros(len(number), dtype=bool)
    for rule in BOUNDS:
        if rule not in c:
            continue
        bound = float(read(c[rule]))
        tie |= certain & (number == bound)
        below, above = number < bound, number > bound
        found.append((rule, below if rule in ("minimum", "exclusiveMinimum") else above))
    return [*found, ("tie", tie)]


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
