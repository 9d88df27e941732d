"""The project's validator finds exactly the errors Frictionless finds (row, field, type),
on generated workbooks with defects; and the generator's clean variant builds cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks.generate import write_xlsx
from pipeline.run import Config, build

from .conftest import DATASET, REPO, SCHEMAS


def run_measure(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "benchmarks.measure", *args], cwd=REPO, check=True, capture_output=True)


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows as normalized from a generated workbook with defects; more rows than the validator
    samples (10,000), so columns that repeat are checked through their distinct values."""
    folder = tmp_path_factory.mktemp("parity")
    write_xlsx(folder / "raw" / DATASET / "contest.xlsx", 12_000, errors=0.1, seed=7)
    run_measure("candidate", str(folder / "raw"), str(folder / "candidate.csv"))
    return folder / "candidate.csv"


def test_own_validation_reports_the_same_errors_as_frictionless(candidate: Path, tmp_path: Path) -> None:
    run_measure("frictionless", str(candidate), str(tmp_path / "fl.json"))
    run_measure("own", str(candidate), str(tmp_path / "own.json"))
    frictionless = {tuple(e) for e in json.loads((tmp_path / "fl.json").read_text(encoding="utf-8"))}
    own = {tuple(e) for e in json.loads((tmp_path / "own.json").read_text(encoding="utf-8"))}
    assert len(frictionless) > 30, "the defects must be there for the comparison to mean anything"
    assert {t for _, _, t in frictionless} >= {"type-error", "constraint-error", "unique-error"}
    assert own == frictionless


def test_generated_clean_workbook_builds_without_errors(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_xlsx(raw / DATASET / "contest.xlsx", 500, errors=0.0, seed=11)
    result = build(Config(raw, tmp_path / "pub", tmp_path / "rep", SCHEMAS))[0]
    assert result.status == "published", [i.line() for i in result.errors][:5]
    assert result.summary.rows_published == 500
    text = (tmp_path / "pub" / DATASET / "entries.csv").read_text(encoding="utf-8-sig")
    assert "@example.org" not in text and "ผู้ประสานงาน" not in text


def test_validation_does_not_depend_on_how_columns_arrive_in_chunks(candidate: Path) -> None:
    """Columns read from a large CSV come in many Arrow chunks; the checks (and the unique
    check's sort) must give the same issues as on whole columns."""
    from benchmarks.measure import table_from_csv
    from pipeline.dataset import load_dataset
    from pipeline.validate import validate

    spec = load_dataset(SCHEMAS, DATASET)
    chunked = table_from_csv(str(candidate), spec, block_size=64 << 10)
    whole = table_from_csv(str(candidate), spec, block_size=1 << 30)
    assert getattr(pa.array(chunked.values["entry_id"]), "num_chunks", 1) > 10
    assert getattr(pa.array(whole.values["entry_id"]), "num_chunks", 1) == 1
    issues = [i.to_dict() for i in validate(chunked)]
    assert {i["type"] for i in issues} >= {"type-error", "constraint-error", "unique-error"}
    assert issues == [i.to_dict() for i in validate(whole)]


def test_impossible_calendar_dates_are_type_errors_as_in_frictionless(tmp_path: Path) -> None:
    """A date shaped like 2021-02-30 must not pass: Frictionless reads dates with strptime,
    so a published package holding one would fail `frictionless validate`."""
    schema = json.loads((SCHEMAS / DATASET / "entries.schema.json").read_text(encoding="utf-8"))
    fields = {f["name"]: f for f in schema["fields"]}
    row = {
        "entry_id": "",
        "contest_year": "2564",
        "organization_name": "องค์การบริหารส่วนตำบลทดสอบ",
        "organization_type": fields["organization_type"]["constraints"]["enum"][0],
        "province": fields["province"]["constraints"]["enum"][0],
        "province_code": "TH-10",
        "project_title": "ระบบทดสอบ",
        "submitted_date": "",
        "result": fields["result"]["constraints"]["enum"][0],
    }
    dates = ["2021-02-28", "2021-02-30", "2020-02-29", "2021-02-29", "2100-02-29", "2000-02-29", "0000-01-01"]
    dates += ["2021-13-01", "2021-00-10", "2021-04-31", "2021-04-00", "9999-12-31"]
    candidate = tmp_path / "dates.csv"
    lines = [",".join(fields)] + [
        ",".join({**row, "entry_id": f"D-{n}", "submitted_date": d}.values()) for n, d in enumerate(dates)
    ]
    candidate.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_measure("frictionless", str(candidate), str(tmp_path / "fl.json"))
    run_measure("own", str(candidate), str(tmp_path / "own.json"))
    frictionless = {tuple(e) for e in json.loads((tmp_path / "fl.json").read_text(encoding="utf-8"))}
    own = {tuple(e) for e in json.loads((tmp_path / "own.json").read_text(encoding="utf-8"))}
    impossible = {
        "2021-02-30",
        "2021-02-29",
        "2100-02-29",
        "0000-01-01",
        "2021-13-01",
        "2021-00-10",
        "2021-04-31",
        "2021-04-00",
    }
    expected = {(n + 2, "submitted_date", "type-error") for n, d in enumerate(dates) if d in impossible}
    assert frictionless == expected
    assert own == expected
