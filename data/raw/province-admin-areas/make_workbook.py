"""Writes the messy workbook of the `province-admin-areas` example dataset, as an officer might key it.

Every number is public fact, counted from the reference tables in schemas/reference/ (DOPA's
administrative codes, source and licence in schemas/reference/SOURCES.md): per province, its
districts (อำเภอ / เขต), its subdistricts (ตำบล / แขวง) and its first district by DOPA code
(the capital district, อำเภอเมือง). Whether a province has a sea coast follows the Department of
Marine and Coastal Resources' list of 23 coastal provinces. The mess is deterministic: spellings
(จ., กทม., English names, stray spaces), Thai digits, yes/no words in four forms, a title above
the header, a notes sheet and one row keyed twice.

    python data/raw/province-admin-areas/make_workbook.py   # rewrites จำนวนอำเภอตำบลรายจังหวัด.xlsx

The schema in schemas/province-admin-areas/ was started from that workbook with
`python -m pipeline new province-admin-areas --from <the workbook>`, then reviewed by hand (see
the head of its fields.yaml).
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parents[2] / "schemas" / "reference"
OUT = HERE / "จำนวนอำเภอตำบลรายจังหวัด.xlsx"
COASTAL = {  # กรมทรัพยากรทางทะเลและชายฝั่ง: 17 on the Gulf of Thailand, 6 on the Andaman Sea
    "ตราด", "จันทบุรี", "ระยอง", "ชลบุรี", "ฉะเชิงเทรา", "สมุทรปราการ", "กรุงเทพมหานคร", "สมุทรสาคร",
    "สมุทรสงคราม", "เพชรบุรี", "ประจวบคีรีขันธ์", "ชุมพร", "สุราษฎร์ธานี", "นครศรีธรรมราช", "สงขลา",
    "ปัตตานี", "นราธิวาส", "ระนอง", "พังงา", "ภูเก็ต", "กระบี่", "ตรัง", "สตูล",
}  # fmt: skip
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def table() -> list[dict[str, object]]:
    """One clean row per province, in the reference's order."""
    districts = rows("th-districts.csv")
    subdistricts = rows("th-subdistricts.csv")
    out = []
    for province in rows("th-provinces.csv"):
        mine = [d for d in districts if d["province_code"] == province["iso_code"]]
        codes = {d["code"] for d in mine}
        first = min(mine, key=lambda d: d["code"])
        out.append(
            {
                "province": province["name_th"],
                "name_en": province["name_en"],
                "districts": len(mine),
                "subdistricts": sum(1 for s in subdistricts if s["district_code"] in codes),
                "capital": first["name_th"],
                "coastal": province["name_th"] in COASTAL,
            }
        )
    assert len(out) == 77 and sum(r["coastal"] for r in out) == 23
    return out


def messy(i: int, row: dict[str, object]) -> list[object]:
    """The row as keyed: the i-th province gets the i-th kind of mess."""
    name = str(row["province"])
    province: object = name
    if name == "กรุงเทพมหานคร":
        province = "กทม."
    elif i % 7 == 3:
        province = f"จ.{name}"
    elif i % 11 == 5:
        province = str(row["name_en"])
    elif i % 13 == 8:
        province = f" {name}\u00a0"
    capital = str(row["capital"])
    if name == "กรุงเทพมหานคร":
        capital = f"เขต{capital}"
    elif i % 4 == 1:
        capital = f"อ.{capital}"
    elif i % 4 == 2:
        capital = f"อำเภอ{capital}"
    districts: object = row["districts"] if i % 3 else str(row["districts"]).translate(THAI_DIGITS)
    subdistricts: object = row["subdistricts"] if i % 5 else f" {row['subdistricts']} "
    if i % 6 == 4:
        subdistricts = str(row["subdistricts"]).translate(THAI_DIGITS)
    words = ("ใช่", "ไม่ใช่") if i % 2 else ("✓", "✗")
    coastal = words[0] if row["coastal"] else words[1]
    return [i + 1, province, capital, districts, subdistricts, coastal]


def main() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "รายจังหวัด"
    sheet["B1"] = "จำนวนอำเภอ ตำบล และจังหวัดชายฝั่งทะเล รายจังหวัด"
    sheet["B2"] = "ที่มา: รหัสเขตการปกครอง กรมการปกครอง; จังหวัดชายฝั่งทะเล 23 จังหวัด กรมทรัพยากรทางทะเลและชายฝั่ง"
    header = ["ลำดับ", "จังหวัด", "อำเภอเมือง", "จำนวนอำเภอ/เขต", "จำนวนตำบล/แขวง", "ติดทะเล"]
    keyed = [messy(i, row) for i, row in enumerate(table())]
    keyed.insert(40, list(keyed[39]))  # the same row keyed twice
    for r, values in enumerate([header, *keyed], start=4):
        for c, value in enumerate(values, start=2):
            sheet.cell(row=r, column=c, value=value)
    notes = book.create_sheet("หมายเหตุ")
    notes["A1"] = "กรุงเทพมหานครแบ่งเป็นเขตและแขวง นับรวมในคอลัมน์อำเภอ/เขต และตำบล/แขวง"
    notes["A2"] = "อำเภอเมือง คืออำเภอที่มีรหัสลำดับแรกของจังหวัดตามรหัสของกรมการปกครอง"
    book.properties.creator = "opendata-pipeline example"
    book.save(OUT)


if __name__ == "__main__":
    main()
