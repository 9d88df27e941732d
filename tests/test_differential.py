"""Differential tests: the pipeline's validator against Frictionless, the reference, on random
Table Schemas (every type, option and constraint) and random or hostile cell texts.

`make test` runs a fixed-seed set; `make fuzz` runs the same properties long, seeds unfixed
(FUZZ_EXAMPLES examples each)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.errors import ConfigError
from pipeline.run import Config, build
from pipeline.validate import schema_problems

from .conftest import SCHEMAS, write_csv
from .differential import comparable, expected_canonical, frictionless_errors, own_errors, tables

FUZZ = int(os.environ.get("FUZZ_EXAMPLES", "0"))
CASES = settings(
    max_examples=FUZZ or 1000,
    derandomize=not FUZZ,  # a fixed seed in `make test`: the same 1,000 cases every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
SEEN: Counter[str] = Counter()  # what the cases reached, for the test below


@CASES
@given(tables())
def test_validator_reports_exactly_what_frictionless_reports(case: tuple[dict, list[list[str]]]) -> None:
    schema, rows = case
    own, reference = own_errors(schema, rows), frictionless_errors(schema, rows)
    SEEN.update(f"{kind} {rule}" if kind == "constraint-error" else kind for _, _, kind, rule in own)
    SEEN.update(f"type {f['type']}" for f in schema["fields"])
    if reference == {(0, "", "task-error")}:  # Frictionless fails on the table: we must not publish it
        assert own
    else:
        assert comparable(own) == reference
        canonical = {(row, field, kind) for row, field, kind, rule in own if rule.startswith("canonical")}
        assert canonical == expected_canonical(schema, rows, reference)


def test_the_cases_reach_every_type_and_every_kind_of_error() -> None:
    """The comparison above means something only if the drawn cases break every rule."""
    if not SEEN:
        pytest.skip("runs after the differential test, in the same session")
    rules = ("required", "enum", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    expected = {f"constraint-error {r}" for r in (*rules, "minLength", "maxLength")}
    expected |= {"type-error", "unique-error", "primary-key", "foreign-key", "blank-row"}
    expected |= {f"type {t}" for t in ("string", "number", "integer", "boolean", "date", "time", "datetime")}
    expected |= {f"type {t}" for t in ("year", "yearmonth", "duration", "geopoint", "geojson", "object", "array")}
    expected |= {"type any", "type list"}
    assert expected <= set(SEEN), sorted(expected - set(SEEN))


# -- the build, end to end, on a dataset of another shape ---------------------------------------

TRAINING_SCHEMA = {
    "fields": [
        {"name": "province", "type": "string", "title": "จังหวัด", "constraints": {"required": True}},
        {"name": "course", "type": "string", "title": "หลักสูตร", "constraints": {"required": True}},
        {"name": "session_date", "type": "date", "title": "วันที่อบรม", "constraints": {"required": True}},
        {"name": "participants", "type": "integer", "title": "จำนวนผู้เข้าอบรม", "constraints": {"minimum": 0}},
        {"name": "budget", "type": "number", "title": "งบประมาณ (บาท)", "constraints": {"minimum": 0}},
    ],
    "primaryKey": ["province", "course", "session_date"],
    "missingValues": ["", "-"],
}
TRAINING_ROWS = [
    ["province", "course", "session_date", "participants", "budget"],
    ["ชลบุรี", "ข้อมูลเปิด", "2021-03-15", "25", "15000.50"],
    ["ชลบุรี", "ข้อมูลเปิด", "2021-03-16", "30", ""],
    ["ระยอง", "ข้อมูลเปิด", "2021-03-15", "", "12000"],
    ["ระยอง", "ความปลอดภัยไซเบอร์", "2021-03-15", "18", "0"],
]


def training_workspace(root: Path, schema: dict, rows: list[list[str]]) -> Config:
    """A schemas folder holding one dataset of training sessions (not the contest), and its raw CSV."""
    schemas = root / "schemas"
    shutil.copytree(SCHEMAS / "reference", schemas / "reference")
    folder = schemas / "training"
    folder.mkdir()
    descriptor = {
        "name": "training",
        "title": "การอบรมรายจังหวัด",
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/"}],
        "resources": [{"name": "sessions", "path": "sessions.csv", "schema": "sessions.schema.json"}],
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    (folder / "sessions.schema.json").write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    (folder / "fields.yaml").write_text("resource: sessions\nfields: {}\n", encoding="utf-8")
    write_csv(root / "raw" / "training" / "sessions.csv", rows)
    return Config(root / "raw", root / "published", root / "reports", schemas)


def test_published_package_of_another_shape_passes_frictionless_validate(tmp_path: Path) -> None:
    config = training_workspace(tmp_path, TRAINING_SCHEMA, TRAINING_ROWS)
    result = build(config)[0]
    assert result.status == "published", [i.line() for i in result.errors]
    package = config.published_dir / "training" / "datapackage.json"
    check = subprocess.run(
        [sys.executable, "-m", "frictionless", "validate", "--json", str(package)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout[-2000:]
    assert json.loads(check.stdout)["valid"] is True


def test_negative_budget_and_repeated_composite_key_fail_the_build_as_in_frictionless(tmp_path: Path) -> None:
    """Issue 12: `minimum: 0` on a number field, and a composite primaryKey, were not enforced."""
    rows = [*TRAINING_ROWS, ["ชลบุรี", "ข้อมูลเปิด", "2021-03-15", "12", "-5000"]]
    config = training_workspace(tmp_path, TRAINING_SCHEMA, rows)
    result = build(config)[0]
    assert result.status == "invalid"
    found = {(i.cell, i.type, i.rule) for i in result.errors}
    assert found == {("E6", "constraint-error", "minimum"), ("A6", "primary-key", "primaryKey")}
    key_error = next(i for i in result.errors if i.type == "primary-key")
    assert key_error.related_cell == "sessions.csv › A2"
    assert not (config.published_dir / "training").exists()
    assert frictionless_errors(TRAINING_SCHEMA, rows[1:]) == {(6, "budget", "constraint-error"), (6, "", "primary-key")}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"budget": {"type": "decimal"}}, ["'budget'", "'decimal'", "allowed: string, number, integer"]),
        ({"participants": {"constraints": {"minLength": 1}}}, ["'participants'", "minLength", "allowed for integer"]),
        ({"budget": {"constraints": {"minimum": "zero"}}}, ["'budget'", "minimum 'zero'"]),
        ({"course": {"constraints": {"pattern": "[ก-"}}}, ["'course'", "pattern"]),
        ({"primaryKey": ["province", "district"]}, ["primaryKey", "district"]),
        ({"uniqueKeys": [["course", "trainer"]]}, ["uniqueKeys", "trainer"]),
        (
            {"foreignKeys": [{"fields": ["province"], "reference": {"resource": "provinces", "fields": ["name"]}}]},
            ["resource 'provinces' is not in the package", "allowed: '', 'sessions'", "no field named name"],
        ),
        ({"budget": {"constraints": {"exclusiveMinimum": 0}}}, ["'budget'", "exclusiveMinimum", "v2"]),
    ],
)
def test_a_schema_frictionless_would_refuse_is_a_config_error_naming_file_and_field(
    tmp_path: Path, change: dict, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schema = copy.deepcopy(TRAINING_SCHEMA)
    for name, patch in change.items():
        if name not in {f["name"] for f in schema["fields"]}:  # a schema-level property
            schema[name] = patch
            continue
        field = next(f for f in schema["fields"] if f["name"] == name)
        field.update({k: v for k, v in patch.items() if k != "constraints"})
        field.setdefault("constraints", {}).update(patch.get("constraints", {}))
    config = training_workspace(tmp_path, schema, TRAINING_ROWS)
    result = build(config)[0]
    assert result.status == "failed" and isinstance(result.error, ConfigError) and result.exit_code == 2
    message = str(result.error)
    assert "sessions.schema.json" in message
    for part in expected:
        assert part in message
    args = ["build", "--raw-dir", str(config.raw_dir), "--published-dir", str(config.published_dir)]
    args += ["--reports-dir", str(config.reports_dir), "--schemas-dir", str(config.schemas_dir)]
    assert main(args) == 2
    assert "sessions.schema.json" in capsys.readouterr().err


def test_a_large_table_checked_through_distinct_values_agrees_with_frictionless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a large table, columns that repeat are checked once per distinct value, and columns
    in parallel threads: the same findings, on every fast-path type and a few others. (The
    thresholds are lowered so that Frictionless has 3,000 rows to read, not 12,000.)"""
    import random

    from pipeline import columns, validate

    from .differential import HOSTILE, VALID

    monkeypatch.setattr(validate, "SAMPLE_ROWS", 1000)
    monkeypatch.setattr(columns, "PARALLEL_ROWS", 1000)

    schema = {
        "fields": [
            {"name": "code", "type": "string", "constraints": {"pattern": "[A-Z]-[0-9]+", "required": True}},
            {"name": "year", "type": "integer", "constraints": {"minimum": 2500, "maximum": 2600}},
            {"name": "day", "type": "date"},
            {"name": "amount", "type": "number", "constraints": {"minimum": 0}},
            {"name": "done", "type": "boolean"},
            {"name": "kind", "type": "string", "constraints": {"enum": ["a", "b", "ภูเก็ต"], "minLength": 1}},
        ],
        "primaryKey": ["code", "year"],
        "missingValues": ["", "-"],
    }
    pick = random.Random(12)
    pools = [
        [f"A-{n}" for n in range(40)] + ["a-1", "A-", ""],
        ["2564", "2565", "2499", "2601", "+2564", "02564", "", "x"],
        VALID["date"] + ["2021-1-5", "2021-02-30", "-"],
        VALID["number"] + ["-1", "1,000", "NaN", ""],
        VALID["boolean"] + ["yes", ""],
        ["a", "b", "ภูเก็ต", "c", ""] + HOSTILE[:3],
    ]
    rows = [[pick.choice(pool) for pool in pools] for _ in range(3_000)]
    own = comparable(own_errors(schema, rows))
    assert len(own) > 300 and {kind for _, _, kind in own} >= {"type-error", "constraint-error", "primary-key"}
    assert own == frictionless_errors(schema, rows)


@settings(CASES, max_examples=FUZZ or 100)
@given(tables())
def test_schema_problems_accepts_the_schemas_frictionless_accepts(case: tuple[dict, list[list[str]]]) -> None:
    """The drawn schemas are valid Table Schemas (Frictionless reads them and validates rows
    above); the load-time check must not refuse any of them."""
    assert schema_problems(case[0], ["", "table"]) == []


def published_rows(config: Config) -> tuple[list[dict[str, str]], list[dict], bool]:
    """(the published CSV's rows as text, the JSON copy's records with exact numbers, whether
    `frictionless validate` passes the published datapackage.json)."""
    import csv
    from decimal import Decimal

    folder = config.published_dir / "training"
    with (folder / "sessions.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    records = json.loads((folder / "sessions.json").read_text(encoding="utf-8"), parse_float=Decimal)
    check = subprocess.run(
        [sys.executable, "-m", "frictionless", "validate", "--json", str(folder / "datapackage.json")],
        capture_output=True,
        text=True,
    )
    return rows, records, check.returncode == 0 and json.loads(check.stdout)["valid"] is True


@pytest.mark.parametrize(
    ("field", "text", "published", "value"),
    [
        ("participants", "1_000", "1_000", 1000),
        ("participants", "+25", "+25", 25),
        ("participants", "-", "", None),  # a declared missing value: written as the first one, ""
        ("participants", "9" * 20, "9" * 20, int("9" * 20)),
        ("budget", "1234567890.123456789", "1234567890.123456789", "1234567890.123456789"),
        ("budget", "0.1", "0.1", "0.1"),
        ("budget", "15000.50", "15000.50", "15000.50"),
        ("budget", "1e3", "1e3", "1E+3"),
    ],
)
def test_numbers_are_published_digit_for_digit_as_validated(
    tmp_path: Path, field: str, text: str, published: str, value: object
) -> None:
    """What Frictionless accepted is what is published: `1234567890.123456789` is not cut to a
    float's 17 digits, a 20-digit integer is not refused, `+25` is not rewritten; the JSON copy
    holds the same number (every digit), and `frictionless validate` passes the package."""
    from decimal import Decimal

    rows = copy.deepcopy(TRAINING_ROWS)
    rows[1][rows[0].index(field)] = text
    config = training_workspace(tmp_path, TRAINING_SCHEMA, rows)
    result = build(config)[0]
    assert result.status == "published", [i.line() for i in result.errors]
    csv_rows, records, valid = published_rows(config)
    first = next(i for i, r in enumerate(csv_rows) if r["session_date"] == "2021-03-15" and r["province"] == "ชลบุรี")
    assert csv_rows[first][field] == published
    expected = Decimal(value) if isinstance(value, str) else value
    assert records[first][field] == expected and type(records[first][field]) is type(expected)
    if isinstance(value, str):
        assert str(records[first][field]) == value, "the JSON number keeps every digit"
    assert valid


@pytest.mark.parametrize("text", ["NaN", "-Infinity", "inf"])
def test_a_number_the_copies_cannot_hold_is_an_error_not_a_crash(tmp_path: Path, text: str) -> None:
    """Frictionless reads NaN and infinities as numbers; JSON and Excel have no such number, so
    they are refused by cell (exit 1, rule "canonical number"), never a crash at publish (exit 70)."""
    rows = copy.deepcopy(TRAINING_ROWS)
    rows[1][rows[0].index("budget")] = text
    config = training_workspace(tmp_path, TRAINING_SCHEMA, rows)
    result = build(config)[0]
    found = {(i.cell, i.type, i.rule) for i in result.errors}
    assert ("E2", "type-error", "canonical number") in found and {cell for cell, _, _ in found} == {"E2"}
    assert not (config.published_dir / "training").exists()
    args = ["build", "--raw-dir", str(config.raw_dir), "--published-dir", str(config.published_dir)]
    args += ["--reports-dir", str(config.reports_dir), "--schemas-dir", str(config.schemas_dir)]
    assert main(args) == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "f0", "integer", "decimal", "[a-"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "type", "fields"]), inner, max_size=3)
    ),
    max_leaves=8,
)
PROPERTIES = ["fields", "primaryKey", "uniqueKeys", "foreignKeys", "missingValues"]
FIELD_KEYS = ["name", "type", "format", "constraints", "missingValues", "trueValues", "decimalChar", "bareNumber"]
CONSTRAINTS = ["required", "unique", "minimum", "maximum", "exclusiveMinimum", "minLength", "pattern", "enum"]


@settings(CASES, max_examples=FUZZ or 300)
@given(
    st.dictionaries(st.sampled_from(PROPERTIES), JSON, max_size=4),
    st.lists(
        st.dictionaries(st.sampled_from(FIELD_KEYS), JSON, max_size=4)
        | st.fixed_dictionaries({"name": st.sampled_from(["f0", "f1"]), "type": st.sampled_from(["integer", "date"])}),
        max_size=3,
    ),
    st.dictionaries(st.sampled_from(CONSTRAINTS), JSON, max_size=3),
)
def test_any_descriptor_is_judged_without_crashing_and_what_passes_frictionless_reads(
    extra: dict, fields: list, constraints: dict
) -> None:
    """A hand-written schema can hold anything: the load-time check answers with problems (a
    configuration error, exit 2), never an exception (exit 70); what it lets through,
    Frictionless builds a schema from and reads a cell with."""
    from frictionless import Schema

    schema = {"fields": fields, **{k: v for k, v in extra.items() if k != "fields"}}
    if fields and isinstance(fields[0], dict):
        fields[0]["constraints"] = constraints
    problems = schema_problems(schema)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if not problems:
        readers = [f.create_cell_reader() for f in Schema.from_descriptor(schema).fields]
        for read in readers:
            read("1")
