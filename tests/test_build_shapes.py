"""A dataset of another shape, built with no code: numbers, counts, yes/no, provinces, districts and
subdistricts keyed the ways officers key them, from a temporary schemas folder (issue 12).

The rows are generated from the reference tables with a fixed seed; what the published CSV must
hold is computed here from those tables and the generated numbers, not by the normalizers."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from frictionless import validate as frictionless_validate

from pipeline.cli import main
from pipeline.dataset import Reference

from .conftest import SCHEMAS, folder_args, write_xlsx
from .test_fields_config import make_schemas

THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
FIELDS = [
    {"name": "record_id", "type": "string", "title": "รหัส", "constraints": {"required": True, "unique": True}},
    {"name": "province", "type": "string", "title": "จังหวัด", "constraints": {"required": True}},
    {"name": "district", "type": "string", "title": "อำเภอ/เขต", "constraints": {"required": True}},
    {
        "name": "district_code",
        "type": "string",
        "title": "รหัสอำเภอ",
        "constraints": {"required": True, "pattern": "[0-9]{4}"},
    },
    {"name": "subdistrict", "type": "string", "title": "ตำบล/แขวง"},
    {"name": "budget", "type": "number", "title": "งบประมาณ (บาท)"},
    {"name": "trainees", "type": "integer", "title": "จำนวนผู้เข้าอบรม"},
    {"name": "online", "type": "boolean", "title": "อบรมออนไลน์"},
]
MAPPING = {
    "resource": "records",
    "fields": {
        "record_id": {"normalize": "identifier"},
        "province": {"normalize": "province", "enum_from": "provinces"},
        "district": {
            "aliases": ["อำเภอ", "เขต"],
            "normalize": "district",
            "province": "province",
            "enum_from": "districts",
        },
        "district_code": {"derived_from": "district", "normalize": "district_code", "cell_fallback": ["district"]},
        "subdistrict": {
            "aliases": ["ตำบล"],
            "normalize": "subdistrict",
            "district": "district",
            "province": "province",
        },
        "budget": {"aliases": ["งบประมาณ"], "normalize": "number"},
        "trainees": {"normalize": "integer", "units": ["คน"]},
        "online": {"normalize": "boolean", "true_words": ["ออนไลน์"], "false_words": ["ในห้อง"]},
    },
}
HEADER = ["รหัส", "จังหวัด", "อำเภอ/เขต", "ตำบล/แขวง", "งบประมาณ (บาท)", "จำนวนผู้เข้าอบรม", "อบรมออนไลน์"]


def generated_rows(count: int, seed: int) -> tuple[list[list[object]], list[dict[str, str]]]:
    """(keyed rows, expected published rows) for `count` random subdistricts of the reference."""
    ref = Reference(SCHEMAS / "reference")
    provinces = {row["iso_code"]: row for row in ref.provinces}
    districts = {row["code"]: row for row in ref.districts}
    rng = random.Random(seed)
    keyed, expected = [], []
    for i, sub in enumerate(rng.sample(ref.subdistricts, count)):
        district = districts[sub["district_code"]]
        province = provinces[district["province_code"]]
        bangkok = province["iso_code"] == "TH-10"
        baht, satang = rng.randrange(0, 5_000_000), rng.randrange(0, 100)
        people = rng.randrange(0, 3000)
        online = rng.random() < 0.5
        keyed.append(
            [
                f"trn-{i:04d}",
                rng.choice([province["name_th"], "จ." + province["name_th"], "จังหวัด" + province["name_th"]])
                if not bangkok
                else rng.choice(["กรุงเทพมหานคร", "กทม.", "กรุงเทพฯ"]),
                rng.choice(
                    [district["name_th"], district["code"].translate(THAI)]
                    + (
                        ["เขต" + district["name_th"]]
                        if bangkok
                        else ["อ." + district["name_th"], "อำเภอ" + district["name_th"]]
                    )
                    + (["อ.เมือง"] if district["code"].endswith("01") and not bangkok else [])
                ),
                rng.choice(
                    [
                        sub["name_th"],
                        ("แขวง" if bangkok else "ตำบล") + sub["name_th"],
                        ("ข." if bangkok else "ต.") + sub["name_th"],
                    ]
                ),
                rng.choice(
                    [
                        f"{baht:,}.{satang:02d}",
                        f"฿{baht:,}.{satang:02d}",
                        f"{baht:,}.{satang:02d} บาท",
                        f"{baht}.{satang:02d}".translate(THAI),
                    ]
                ),
                rng.choice([people, f"{people:,} คน", str(people).translate(THAI)]),
                rng.choice(["ใช่", "✓", "มี", "ออนไลน์", "TRUE"] if online else ["ไม่ใช่", "✗", "ไม่มี", "ในห้อง", "false"]),
            ]
        )
        expected.append(
            {
                "record_id": f"TRN-{i:04d}",
                "province": province["name_th"],
                "district": district["name_th"],
                "district_code": district["code"],
                "subdistrict": sub["name_th"],
                "budget": f"{baht}.{satang:02d}",
                "trainees": str(people),
                "online": "true" if online else "false",
            }
        )
    return keyed, expected


def run(tmp_path: Path, rows: list[list[object]], capsys: Any) -> tuple[int, str, str]:
    schemas = make_schemas(tmp_path, MAPPING, FIELDS, name="training")
    raw = tmp_path / "raw"
    write_xlsx(raw / "training" / "training.xlsx", {"อบรม": [["สถิติการอบรม ปีงบประมาณ 2567"], [], HEADER, *rows]})
    code = main(
        ["build", *folder_args(raw, tmp_path / "pub", tmp_path / "rep", schemas)]
    )
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generated_places_numbers_and_yes_no_publish_as_expected(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    keyed, expected = generated_rows(400, seed=12)
    code, _out, err = run(tmp_path, keyed, capsys)
    assert code == 0, err
    published = tmp_path / "pub" / "training"
    rows = list(csv.DictReader(io.StringIO((published / "records.csv").read_text(encoding="utf-8-sig"))))
    # the published CSV writes numbers as their float value (1200.50 -> 1200.5): compared as values
    for row in (*rows, *expected):
        row["budget"] = Decimal(row["budget"])
    assert rows == expected
    descriptor = json.loads((published / "datapackage.json").read_text(encoding="utf-8"))
    fields = {f["name"]: f for f in descriptor["resources"][0]["schema"]["fields"]}
    assert len(fields["province"]["constraints"]["enum"]) == 77
    assert len(fields["district"]["constraints"]["enum"]) > 900
    report = frictionless_validate(str(published / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_wrong_places_and_unreadable_numbers_are_named_by_cell(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    keyed, _expected = generated_rows(20, seed=3)
    bad = [
        ["BAD-1", "เชียงใหม่", "บางรัก", "สีลม", "1,2,3", "5", "ใช่"],  # a Bangkok district in Chiang Mai; a list
        ["BAD-2", "เชียงใหม่", "อ.เมือง", "สีลม", "12.3.4", "2.5", "ใช่"],  # a Bangkok subdistrict; no integer
        ["BAD-3", "ลำพูน", "ฝาง", "", "100", "10", "ไม่ใช่"],  # ฝาง is in เชียงใหม่
        ["BAD-4", "เชียงใหม่", "ไม่มีอำเภอนี้", "", "฿1,000", "๓๒ คน", "ใช่"],  # unknown district
        ["BAD-5", "เชียงใหมม", "ฝาง", "", "1", "1", "ใช่"],  # misspelt province: its enum names it, once
    ]
    code, _out, err = run(tmp_path, [*keyed, *bad], capsys)
    assert code == 1
    assert "internal error" not in err
    found = {
        (line.split("›")[-1].split()[0], line.split("[")[1].split("]")[0])
        for line in err.splitlines()
        if "[" in line and line.startswith("ERROR")
    }
    first = 4 + len(keyed)  # title row, blank row, header, then data rows
    assert {
        (f"C{first}", "district"),  # บางรัก in เชียงใหม่
        (f"E{first}", "budget"),  # 1,2,3
        (f"D{first + 1}", "subdistrict"),  # สีลม in เมืองเชียงใหม่
        (f"E{first + 1}", "budget"),  # 12.3.4
        (f"F{first + 1}", "trainees"),  # 2.5
        (f"C{first + 2}", "district"),  # ฝาง in ลำพูน
        (f"C{first + 3}", "district"),  # unknown
    } <= found, err
    province_errors = [line for line in err.splitlines() if f"B{first + 4} [province]" in line]
    assert len(province_errors) == 1 and "allowed values" in province_errors[0], err
    report = json.loads((tmp_path / "rep" / "training" / "validation.json").read_text(encoding="utf-8"))
    text = json.dumps(report, ensure_ascii=False)
    assert "is not a district of เชียงใหม่" in text and "is not a subdistrict of district เมืองเชียงใหม่" in text
    assert not (tmp_path / "pub" / "training").exists()


def test_boolean_writes_the_schemas_own_true_and_false_values(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fields = [
        {"name": "record_id", "type": "string", "title": "รหัส", "constraints": {"required": True, "unique": True}},
        {"name": "open", "type": "boolean", "title": "เปิดบริการ", "trueValues": ["เปิด"], "falseValues": ["ปิด"]},
        {"name": "visitors", "type": "integer", "title": "ผู้ใช้บริการ"},
    ]
    mapping = {
        "fields": {
            "record_id": {"normalize": "identifier"},
            "open": {"normalize": "boolean"},
            "visitors": {"normalize": "integer", "units": ["คน"]},
        }
    }
    schemas = make_schemas(tmp_path, mapping, fields, name="libraries")
    raw = tmp_path / "raw"
    rows = [
        ["รหัส", "เปิดบริการ", "ผู้ใช้บริการ"],
        ["a", "✓", "๑,๒๐๐ คน"],
        ["b", "ไม่ใช่", "0"],
        ["c", "เปิด", "−0"],
        ["d", "", ""],
    ]
    write_xlsx(raw / "libraries" / "libraries.xlsx", {"ห้องสมุด": rows})
    code = main(
        ["build", *folder_args(raw, tmp_path / "pub", tmp_path / "rep", schemas)]
    )
    assert code == 0, capsys.readouterr().err
    published = tmp_path / "pub" / "libraries"
    rows_out = list(csv.DictReader(io.StringIO((published / "records.csv").read_text(encoding="utf-8-sig"))))
    # published as validated: the integer normalizer writes "−0" as "-0" (Frictionless reads 0)
    assert [(r["open"], r["visitors"]) for r in rows_out] == [("เปิด", "1200"), ("ปิด", "0"), ("เปิด", "-0"), ("", "")]
    report = frictionless_validate(str(published / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
