"""Random Table Schemas and hostile cell texts, and the two validators run on the same table:
the pipeline's `validate.validate` and Frictionless itself (the reference).

Each side reports a set of (row, field, error type); row errors (primary-key, foreign-key,
blank-row) name no field, as in Frictionless. Used by tests/test_differential.py.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from frictionless import Field
from hypothesis import strategies as st

from pipeline import validate
from pipeline.dataset import DatasetSpec, FieldSpec, Reference
from pipeline.headers import MappedSheet
from pipeline.normalize import NormalizedTable

REFERENCE = Path(__file__).resolve().parents[1] / "schemas" / "reference"
V2 = "https://datapackage.org/profiles/2.0/tableschema.json"
ROW_ERRORS = ("primary-key", "foreign-key", "blank-row")
UNHASHABLE = ("object", "array", "geojson", "list")  # typed as dicts/lists: Frictionless cannot compare them

# texts that are valid for a type, with its options at their defaults
VALID = {
    "string": ["a", "ภูเก็ต", "TH-10", "x y", "กรุงเทพมหานคร", "a1", "12"],
    "number": [
        "0",
        "1",
        "-1",
        "1.5",
        "10",
        "1000",
        "-0.5",
        "3.14159",
        "1e3",
        "0.0",
        "1.50",
        "1000.0000000000000001",
        "1.4999999999999999999",
    ],
    "integer": ["0", "1", "-1", "10", "2564", "1000", "-20", "99999999999999999999"],
    "boolean": ["true", "false", "True", "FALSE", "1", "0"],
    "date": ["2021-03-15", "2020-02-29", "1999-12-31", "2564-01-01", "0001-01-01"],
    "time": ["14:30:00", "00:00:00", "23:59:59", "08:05:00"],
    "datetime": ["2021-03-15T14:30:00", "2021-03-15T14:30:00Z", "2020-02-29T00:00:00"],
    "year": ["2021", "2564", "1999", "0", "-1"],
    "yearmonth": ["2021-03", "2564-12", "1999-01"],
    "duration": ["P1Y2M", "PT5M", "P3D", "P1Y2M3DT4H5M6S"],
    "geopoint": ["100.5,13.7", "0,0", "-180,90", "180,-90"],
    "geojson": [
        '{"type": "Point", "coordinates": [100.5, 13.7]}',
        '{"type": "LineString", "coordinates": [[1, 2], [3, 4]]}',
    ],
    "object": ['{"a": 1}', "{}", '{"b": [1, 2]}'],
    "array": ["[1, 2]", "[]", '["a"]'],
    "list": ["a,b", "1,2,3", "x"],
    "any": ["a", "1", "", "ภูเก็ต"],
}
HOSTILE = [
    "", " ", "-", "NA", "n/a", "null", "None", "0", "-0", "+1", "01", "007", "1 ", " 1", "1,000", "1 000", "1_000",
    "1.000,50", "1,5", "๓๒", "٣", "１２", "1e400", "1E-2", "NaN", "nan", "inf", "-Infinity", ".5", "5.", "$5", "5%",
    "฿1,200", "−5", "yes", "no", "Y", "ใช่", "ไม่ใช่", "2021-1-5", "2021-02-30", "2021-13-01", "0000-01-01",
    "15/03/2021", "15/03/2564", "2021/03/15", "25:00:00", "14:30", "2021-03-15 14:30:00", "2021-03-15T25:00:00",
    "2021-00", "21", "99999", "P", "1Y", "P1.5Y", "200,100", "100.5, 13.7", "[100.5, 13.7]", '{"lon": 100.5, "lat": 13.7}',
    '{"type": "Point"}', "{", "[1,", '"a"', "a@b.co", "not an email", "user@", "http://example.org/x",
    "example.org", "urn:isbn:0451450523", "550e8400-e29b-41d4-a716-446655440000", "550e8400e29b41d4a716446655440000",
    "a\nb", "x\n", "\t", "\u200b", "ก\u0e4dา", "'; drop table", "=1+1", "a,b", 'he said "hi"', "a" * 40,
]  # fmt: skip
PATTERNS = ["[a-z]+", "[0-9]{2,4}", "TH-[0-9]{2}", r"\d+", "a|b", ".*x", "[ก-๙ ]+", r"\w+", "[A-Z]?[0-9]*"]
FORMATS = {
    "string": ["default", "email", "uri", "uuid"],
    "date": ["default", "%d/%m/%Y", "any"],
    "time": ["default", "%H:%M", "any"],
    "datetime": ["default", "%Y-%m-%d %H:%M:%S", "any"],
    "geopoint": ["default", "array", "object"],
    "geojson": ["default", "topojson"],
}
BOUNDS = {
    "number": [-1, 0, 1.5, 10, 1000, "5"],
    "integer": [-1, 0, 1, 10, 2564, "5"],
    "year": [0, 2000, 2564],
    "date": ["2020-01-01", "2564-01-01"],
    "time": ["08:00:00", "12:00:00"],
    "datetime": ["2021-01-01T00:00:00"],
    "yearmonth": ["2021-01"],
}
TYPES = list(VALID)
LENGTH_TYPES = ("string", "array", "object", "list")


@st.composite
def field_descriptors(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """One field of any type, with options and constraints drawn from what the type supports."""
    kind = draw(st.sampled_from(TYPES))
    field: dict[str, Any] = {"name": name, "type": kind}
    if kind in FORMATS and draw(st.booleans()):
        field["format"] = draw(st.sampled_from(FORMATS[kind]))
    if kind == "number":
        if draw(st.booleans()):
            field["decimalChar"] = draw(st.sampled_from([".", ","]))
        if draw(st.booleans()):
            field["groupChar"] = draw(st.sampled_from([",", " ", ".", "'"]))
        if draw(st.booleans()):
            field["bareNumber"] = draw(st.booleans())
    if kind == "integer":
        if draw(st.booleans()):
            field["bareNumber"] = draw(st.booleans())
        if draw(st.booleans()):
            field["groupChar"] = draw(st.sampled_from([",", " "]))  # v2; Frictionless 5 ignores it
    if kind == "boolean" and draw(st.booleans()):
        field["trueValues"] = draw(
            st.lists(st.sampled_from(["yes", "y", "1", "ใช่", "true", "✓"]), min_size=1, max_size=3, unique=True)
        )
        field["falseValues"] = draw(
            st.lists(st.sampled_from(["no", "n", "0", "ไม่ใช่", "false", "✗"]), min_size=1, max_size=3, unique=True)
        )
    if kind == "list" and draw(st.booleans()):
        field["delimiter"] = draw(st.sampled_from([";", "|"]))
    if kind == "list" and draw(st.booleans()):
        field["itemType"] = draw(st.sampled_from(["string", "integer", "number", "boolean", "date"]))
    if draw(st.integers(0, 5)) == 0:
        field["missingValues"] = draw(st.sampled_from([["-"], ["", "NA"], [], [{"value": "-", "label": "ไม่ทราบ"}]]))
    constraints: dict[str, Any] = {}
    if draw(st.booleans()):
        constraints["required"] = True
    if kind not in UNHASHABLE and draw(st.integers(0, 3)) == 0:
        constraints["unique"] = True
    if kind in BOUNDS:
        for rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if draw(st.integers(0, 3)) == 0:
                constraints[rule] = draw(st.sampled_from(BOUNDS[kind]))
    if kind in LENGTH_TYPES:
        for rule in ("minLength", "maxLength"):
            if draw(st.integers(0, 3)) == 0:
                constraints[rule] = draw(st.integers(0, 4))
    if kind == "string" and draw(st.integers(0, 3)) == 0:
        constraints["pattern"] = draw(st.sampled_from(PATTERNS))
    if kind not in ("object", "array", "list", "geojson") and draw(st.integers(0, 3)) == 0:
        constraints["enum"] = draw(
            st.lists(st.sampled_from(VALID[kind] + HOSTILE[:12]), min_size=1, max_size=4, unique=True)
        )
    # constraint values the field's own reader cannot read make an invalid schema: left out
    read = Field.from_descriptor({k: v for k, v in field.items() if k != "missingValues"}).create_value_reader()
    if "enum" in constraints:
        constraints["enum"] = [v for v in constraints["enum"] if read(v) is not None]
        if not constraints["enum"]:
            del constraints["enum"]
    for rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if rule in constraints and read(constraints[rule]) is None:
            del constraints[rule]
    if constraints:
        field["constraints"] = constraints
    return field


@st.composite
def table_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Table Schema (v2) of 1-4 fields, maybe with missingValues and keys."""
    names = [f"f{n}" for n in range(draw(st.integers(1, 4)))]
    schema: dict[str, Any] = {"$schema": V2, "fields": [draw(field_descriptors(n)) for n in names]}
    if draw(st.booleans()):
        schema["missingValues"] = draw(
            st.sampled_from([["", "-"], ["NA"], [], ["", "n/a", "0"], [{"value": ""}, {"value": "-", "label": "ไม่มี"}]])
        )
    hashable = [f["name"] for f in schema["fields"] if f["type"] not in UNHASHABLE]
    if hashable and draw(st.booleans()):
        schema["primaryKey"] = draw(st.lists(st.sampled_from(hashable), min_size=1, max_size=2, unique=True))
    if hashable and draw(st.integers(0, 3)) == 0:
        target = draw(st.lists(st.sampled_from(hashable), min_size=1, max_size=2, unique=True))
        source = draw(st.lists(st.sampled_from(hashable), min_size=len(target), max_size=len(target), unique=True))
        resource = draw(st.sampled_from(["", "table"]))  # "" or its own name: a reference to itself
        schema["foreignKeys"] = [{"fields": target, "reference": {"resource": resource, "fields": source}}]
    if hashable and draw(st.integers(0, 4)) == 0:
        schema["uniqueKeys"] = [draw(st.lists(st.sampled_from(hashable), min_size=1, max_size=2, unique=True))]
    return schema


def cell_texts(field: dict[str, Any]) -> st.SearchStrategy[str]:
    """Texts for one field: valid ones, its constraint values, hostile ones, random text."""
    c = field.get("constraints", {})
    own = [str(v) for v in (*c.get("enum", []), *(c[k] for k in c if k in ("minimum", "maximum")))]
    pool = VALID[field["type"]] + own + field.get("trueValues", []) + field.get("falseValues", [])
    return st.one_of(
        st.sampled_from(pool),
        st.sampled_from(HOSTILE),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
    )


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[str, Any], list[list[str]]]:
    """(schema, rows of cell texts): 1-8 rows, values repeated often so unique and keys trip."""
    schema = draw(table_schemas())
    columns = []
    for field in schema["fields"]:
        distinct = draw(st.lists(cell_texts(field), min_size=1, max_size=5))
        columns.append(draw(st.lists(st.sampled_from(distinct) | cell_texts(field), min_size=1, max_size=8)))
    length = min(len(c) for c in columns)
    rows = [[c[i] for c in columns] for i in range(length)]
    return schema, rows


def spec_for(schema: dict[str, Any], name: str = "table") -> DatasetSpec:
    """A dataset of one resource holding `schema`, as load_dataset would build it."""
    fields = tuple(
        FieldSpec(
            name=f["name"],
            type=f.get("type", "string"),
            title="",
            constraints=f.get("constraints", {}),
            normalize="text",
        )
        for f in schema["fields"]
    )
    resource = {"name": name, "path": f"{name}.csv", "schema": schema}
    return DatasetSpec(
        name, REFERENCE.parent, {"resources": [resource]}, schema, resource, fields, (), Reference(REFERENCE), {}
    )


def own_errors(schema: dict[str, Any], rows: list[list[str]]) -> set[tuple[int, str, str]]:
    """What the pipeline's validator reports for these rows (as normalized text), header = row 1."""
    spec = spec_for(schema)
    names = spec.field_names
    frame = pd.DataFrame({n: pd.Series([r[i] for r in rows], dtype="str") for i, n in enumerate(names)})
    numbers = np.arange(2, len(rows) + 2)
    sheet = MappedSheet("table.csv", "", 1, frame, numbers, {n: i for i, n in enumerate(names)})
    table = NormalizedTable(frame, frame, np.zeros(len(rows), dtype=int), numbers, [sheet], spec)
    found = set()
    for issue in validate.validate(table):
        row = int("".join(ch for ch in issue.cell if ch.isdigit()))
        found.add((row, "" if issue.type in ROW_ERRORS else issue.field, issue.type, issue.rule))
    return found


def frictionless_errors(schema: dict[str, Any], rows: list[list[str]]) -> set[tuple[int, str, str]]:
    """What Frictionless reports for the same rows and schema."""
    from frictionless import Resource

    names = [f["name"] for f in schema["fields"]]
    resource = Resource.from_descriptor(
        {
            "$schema": V2.replace("tableschema", "dataresource"),
            "name": "table",
            "data": [names, *rows],
            "schema": schema,
        }
    )
    try:
        report = resource.validate(limit_errors=10**6)
    except Exception:  # Frictionless fails on the table itself (e.g. comparing zoned and naive times)
        return {(0, "", "task-error")}
    not_rows = [e for e in report.tasks[0].errors if not hasattr(e, "row_number")]
    if not_rows:  # Frictionless failed on the table itself (e.g. comparing zoned and naive times)
        assert all(e.type == "task-error" for e in not_rows), [e.message for e in not_rows]
        return {(0, "", "task-error")}
    return {(int(e.row_number), getattr(e, "field_name", "") or "", e.type) for e in report.tasks[0].errors}


def comparable(own: set[tuple[int, str, str, str]]) -> set[tuple[int, str, str]]:
    """Our findings less those where we differ from Frictionless on purpose (documented in
    pipeline/validate.py): uniqueKeys (a v2 rule Frictionless 5 does not check), and numbers
    the JSON and Excel copies cannot hold (rule "canonical number": NaN, infinity)."""
    return {
        (row, field, kind)
        for row, field, kind, rule in own
        if rule != "uniqueKeys" and not rule.startswith("canonical")
    }


def expected_canonical(
    schema: dict[str, Any], rows: list[list[str]], reference: set[tuple[int, str, str]]
) -> set[tuple[int, str, str]]:
    """Where we must be stricter than Frictionless: a number cell Frictionless reads (not a missing
    value) as NaN or an infinity, unless Frictionless already calls it a type error or the row blank."""
    from frictionless import Schema

    blank = {row for row, _, kind in reference if kind == "blank-row"}
    typed = Schema.from_descriptor(schema)
    found = set()
    for n, field in enumerate(schema["fields"]):
        if field["type"] != "number":
            continue
        fl = typed.get_field(field["name"])
        missing = fl.missing_values if fl.has_defined("missing_values") else typed.missing_values
        read = fl.create_value_reader()
        for row, cells in enumerate(rows, start=2):
            text = cells[n]
            value = None if text in missing else read(text)
            infinite = isinstance(value, Decimal | float) and not (
                value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
            )
            if infinite and row not in blank and (row, field["name"], "type-error") not in reference:
                found.add((row, field["name"], "type-error"))
    return found
