"""What was validated is what is published, in every copy (issue 12): numbers keep every digit and
the schema's own notation (decimalChar, groupChar, bareNumber), a missing cell is written as the
schema's first missing value, and the CSV, the JSON copy and the XLSX copy hold the same values.

The rows are generated with fixed seeds; each expected value is computed here from the generated
number, not by the pipeline, and `frictionless validate` judges the published package."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.run import Config, build

from .test_differential import training_workspace


def keyed(value: Decimal, decimal: str = ".", group: str = "", prefix: str = "", suffix: str = "") -> str:
    """`value` as an officer keys it in the schema's notation (digits grouped in threes by `group`)."""
    sign, digits = ("-", str(-value)) if value < 0 else ("", str(value))
    whole, _, fraction = digits.partition(".")
    if group:
        whole = f"{int(whole):,}".replace(",", group)
    return f"{prefix}{sign}{whole}{decimal + fraction if fraction else ''}{suffix}"


def numbers(seed: int, count: int) -> list[Decimal]:
    """Generated amounts: whole, with 1-3 decimals, negative, and some of 19-21 significant digits."""
    rng = random.Random(seed)
    found = []
    for i in range(count):
        places = rng.choice([0, 1, 2, 3, 9])
        whole = rng.randrange(10**11, 10**12) if places == 9 else rng.randrange(0, 10_000_000)
        low = (
            10 ** (places - 1) if places == 9 else 0
        )  # a long fraction never starts with 0 (a phone, to the PDPA guard)
        value = Decimal(whole) + Decimal(rng.randrange(low, 10**places)) / (10**places) if places else Decimal(whole)
        found.append(-value if i % 5 == 4 else value)
    return found


# each schema option, as a number field of a generated dataset; `style` keys the values in its notation
VARIANTS = {
    "decimalChar": ({"decimalChar": ","}, {"decimal": ","}),
    "decimalChar+groupChar": ({"decimalChar": ",", "groupChar": "."}, {"decimal": ",", "group": "."}),
    "groupChar space": ({"groupChar": " "}, {"group": " "}),
    "groupChar apostrophe": ({"groupChar": "'"}, {"group": "'"}),
    "bareNumber false, currency": ({"bareNumber": False}, {"prefix": "฿"}),
    "bareNumber false, unit": ({"bareNumber": False, "groupChar": ","}, {"group": ",", "suffix": " บาท"}),
}
MISSING = {"dash only": ["-"], "text first": ["ไม่มีข้อมูล", ""], "default": None}


def publish(tmp_path: Path, schema: dict[str, Any], rows: list[list[str]]) -> tuple[Config, Path]:
    config = training_workspace(tmp_path, schema, rows)
    result = build(config)[0]
    assert result.status == "published", [i.line() for i in result.errors][:10]
    return config, config.published_dir / "training"


def frictionless_validate(folder: Path) -> None:
    check = subprocess.run(
        [sys.executable, "-m", "frictionless", "validate", "--json", str(folder / "datapackage.json")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and json.loads(check.stdout)["valid"] is True, check.stdout[-3000:]


def csv_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "sessions.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def json_rows(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / "sessions.json").read_text(encoding="utf-8"), parse_float=Decimal)


def xlsx_rows(folder: Path) -> list[dict[str, Any]]:
    sheet = openpyxl.load_workbook(folder / "sessions.xlsx").active
    names = [c.value for c in sheet[1]]
    return [dict(zip(names, (c.value for c in row), strict=True)) for row in sheet.iter_rows(min_row=3)]


@pytest.mark.parametrize("missing", list(MISSING))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_numbers_in_the_schemas_own_notation_are_published(tmp_path: Path, variant: str, missing: str) -> None:
    options, style = VARIANTS[variant]
    missing_values = MISSING[missing]
    amount = {"name": "amount", "type": "number", "title": "จำนวนเงิน", **options}
    count = {"name": "people", "type": "integer", "title": "จำนวนคน"}
    if options.get("bareNumber") is False:
        count["bareNumber"] = False
    schema: dict[str, Any] = {
        "fields": [
            {"name": "code", "type": "string", "title": "รหัส", "constraints": {"required": True}},
            amount,
            count,
        ],
        "primaryKey": ["code"],
    }
    if missing_values is not None:
        schema["missingValues"] = missing_values
    blank = (missing_values or [""])[-1]  # a missing value other than the first one, where there are two
    values = numbers(seed=len(variant) * 7 + len(missing), count=30)
    rows = [["code", "amount", "people"]]
    for i, value in enumerate(values):
        people = str(i * 1000 + 7) + (" คน" if options.get("bareNumber") is False else "")
        rows.append([f"R{i:03d}", keyed(value, **style), people])
    rows[3][1] = rows[5][2] = blank  # missing cells, as keyed
    config, folder = publish(tmp_path, schema, rows)
    frictionless_validate(folder)
    first_missing = (missing_values or [""])[0]
    published, records, cells = csv_rows(folder), json_rows(folder), xlsx_rows(folder)
    assert [r["code"] for r in published] == [r[0] for r in rows[1:]]  # codes sort as keyed
    for n, (row, record, cell) in enumerate(zip(published, records, cells, strict=True)):
        text, keyed_people = rows[n + 1][1], rows[n + 1][2]
        if n + 1 == 3:
            assert row["amount"] == first_missing and record["amount"] is None
            assert cell["amount"] == (first_missing or None)
            continue
        assert row["amount"] == text, "the CSV carries the value as keyed, in the schema's notation"
        assert record["amount"] == values[n] and str(record["amount"]) == str(values[n]), "every digit"
        assert cell["amount"] == (text if len(values[n].as_tuple().digits) > 15 else float(values[n]))
        if n + 1 == 5:
            assert row["people"] == first_missing and record["people"] is None
        else:
            assert row["people"] == keyed_people and record["people"] == (n * 1000 + 7) == cell["people"]
    # for a typed store (the DataStore): plain decimals, every digit, a missing cell empty
    import pandas as pd

    from pipeline.publish import plain_text

    frame = pd.read_csv(folder / "sessions.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    plain = plain_text(
        frame, json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))["resources"][0]["schema"]
    )
    expected_amounts = [format(v, "f") for v in values]
    expected_amounts[2] = ""
    assert plain["amount"].tolist() == expected_amounts
    assert plain["people"].tolist() == ["" if n == 4 else str(n * 1000 + 7) for n in range(len(values))]


ROUND_TRIP_FIELDS = [
    {"name": "code", "type": "string", "title": "รหัส"},
    {"name": "count", "type": "integer", "title": "จำนวน"},
    {"name": "amount", "type": "number", "title": "จำนวนเงิน"},
    {"name": "open", "type": "boolean", "title": "เปิด", "trueValues": ["ใช่"], "falseValues": ["ไม่ใช่"]},
    {"name": "flag", "type": "boolean", "title": "ธง"},
    {"name": "day", "type": "date", "title": "วันที่"},
    {"name": "thai_day", "type": "date", "format": "%d/%m/%Y", "title": "วันที่ (วว/ดด/ปปปป)"},
    {"name": "at", "type": "datetime", "title": "เวลาบันทึก"},
    {"name": "clock", "type": "time", "title": "เวลา"},
    {"name": "year", "type": "year", "title": "ปี"},
    {"name": "month", "type": "yearmonth", "title": "เดือน"},
    {"name": "span", "type": "duration", "title": "ระยะเวลา"},
    {"name": "point", "type": "geopoint", "title": "พิกัด"},
    {"name": "extra", "type": "object", "title": "ข้อมูลเพิ่ม"},
    {"name": "tags", "type": "array", "title": "ป้าย"},
    {"name": "note", "type": "any", "title": "หมายเหตุ"},
]


def round_trip_rows(seed: int, count: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows = [[f["name"] for f in ROUND_TRIP_FIELDS]]
    for i in range(count):
        day = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(0, 9000))
        amount = numbers(seed + i, 1)[0]
        row = [
            f"C{i:03d}",
            str(rng.randrange(-(10**20), 10**20)) if i % 4 == 0 else str(rng.randrange(0, 5000)),
            str(amount),
            rng.choice(["ใช่", "ไม่ใช่"]),
            rng.choice(["true", "false", "1", "0", "TRUE"]),
            day.isoformat(),
            day.strftime("%d/%m/%Y"),
            f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00",
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00",
            str(rng.randrange(1990, 2030)),
            f"{rng.randrange(1990, 2030)}-{rng.randrange(1, 13):02d}",
            rng.choice(["P1Y2M", "PT5M", "P3D"]),
            f"{rng.uniform(97, 106):.4f},{rng.uniform(5, 21):.4f}",
            json.dumps({"n": rng.randrange(100), "ชื่อ": "ทดสอบ"}, ensure_ascii=False),
            json.dumps(["a", rng.randrange(10)]),
            rng.choice(["ข้อความ", "12", "x"]),
        ]
        if i % 7 == 3:  # a missing cell in every field but the key
            row[1 + i % (len(row) - 1)] = ""
        rows.append(row)
    return rows


def as_json(value: Any) -> Any:
    """What the JSON copy must hold for a value Frictionless read from the CSV."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def test_csv_json_and_xlsx_hold_the_same_values_for_every_type(tmp_path: Path) -> None:
    from frictionless import Package

    rows = round_trip_rows(seed=13, count=40)
    schema = {"fields": ROUND_TRIP_FIELDS, "primaryKey": ["code"]}
    _config, folder = publish(tmp_path, schema, rows)
    frictionless_validate(folder)
    package = Package(str(folder / "datapackage.json"))
    from_csv = [r.to_dict() for r in package.get_resource("sessions").read_rows()]
    from_xlsx = [r.to_dict() for r in package.get_resource("sessions-xlsx").read_rows()]
    records = json_rows(folder)
    published = csv_rows(folder)
    assert len(from_csv) == len(from_xlsx) == len(records) == len(rows) - 1
    text_types = {"yearmonth", "duration", "geopoint", "any", "string"}  # written as the published text
    for text, typed, excel, record in zip(published, from_csv, from_xlsx, records, strict=True):
        for f in ROUND_TRIP_FIELDS:
            name = f["name"]
            assert excel[name] == typed[name], (name, excel[name], typed[name])
            if typed[name] is None:
                assert record[name] is None and text[name] == "", name
            elif f["type"] in text_types:
                assert record[name] == text[name], name
            elif isinstance(typed[name], Decimal):  # a JSON number: 7 reads back as an int, 7.5 as a Decimal
                assert isinstance(record[name], int | Decimal) and not isinstance(record[name], bool), name
                assert Decimal(record[name]) == typed[name], name
            else:
                assert record[name] == as_json(typed[name]) and type(record[name]) is type(as_json(typed[name])), name
    # the JSON copy writes booleans as true/false and numbers as numbers, never as text
    raw = (folder / "sessions.json").read_text(encoding="utf-8")
    assert '"open":true' in raw or '"open":false' in raw
    assert '"flag":"' not in raw and '"count":"' not in raw and '"amount":"' not in raw
    keyed_rows = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    for text in published:  # the CSV holds every value as keyed
        assert text == keyed_rows[text["code"]], text["code"]


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(max_size=8)),
            st.one_of(st.none(), st.text(alphabet='0123456789-.,"\n ', max_size=6)),
        ),
        max_size=12,
    )
)
def test_csv_writer_quotes_text_as_arrows_writer_does(rows: list[tuple[str | None, str | None]]) -> None:
    """Text columns come out byte for byte as Arrow's CSV writer writes them (so a published CSV
    does not change for nothing); a number column is bare unless a value needs quotes."""
    import io
    import tempfile

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from pipeline.publish import write_csv

    table = pa.table(
        {"name": [r[0] for r in rows], "amount": [r[1] for r in rows]},
        schema=pa.schema([("name", pa.string()), ("amount", pa.string())]),
    )
    with tempfile.TemporaryDirectory() as tmp:
        ours = Path(tmp) / "a.csv"
        write_csv(table, ours)
        arrow = io.BytesIO()
        pacsv.write_csv(table, arrow, pacsv.WriteOptions(quoting_style="needed", include_header=True))
        assert ours.read_bytes() == b"\xef\xbb\xbf" + arrow.getvalue()
        write_csv(table, ours, bare=["amount"])
        back = list(csv.reader(io.StringIO(ours.read_bytes().decode("utf-8-sig"), newline="")))
        text = ours.read_bytes().decode("utf-8-sig")
    assert back[1:] == [[r[0] or "", r[1] or ""] for r in rows]
    plain = [r[1] for r in rows if r[1] and not any(c in r[1] for c in ',"\r\n')]
    assert all(f",{value}\n" in text for value in plain), "numbers without quotes where none are needed"
