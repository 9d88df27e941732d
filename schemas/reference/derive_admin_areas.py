"""Derive th-districts.csv and th-subdistricts.csv from kongvut/thai-province-data (MIT).

Usage: python schemas/reference/derive_admin_areas.py <checkout of kongvut/thai-province-data> [commit]
Reads `formats/csv/{districts,sub_districts}.csv` at `commit` (default HEAD) with `git show`, and
writes the two compact tables beside this script: DOPA codes (a district's first two digits are its
province's code, as in ISO 3166-2:TH), Thai name without the เขต prefix Bangkok's districts carry in
the source, English name, parent code, and an alias where the source writes one in parentheses.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALIAS = re.compile(r"^(.*?)\s*\((.+)\)$")


def source_rows(checkout: Path, commit: str, path: str) -> list[dict[str, str]]:
    text = subprocess.run(
        ["git", "-C", str(checkout), "show", f"{commit}:{path}"], check=True, capture_output=True
    ).stdout.decode("utf-8-sig")
    return [r for r in csv.DictReader(io.StringIO(text)) if not (r.get("deleted_at") or "").strip()]


def split_alias(name: str) -> tuple[str, str]:
    m = ALIAS.match(name.strip())
    return (m.group(1).strip(), m.group(2).strip()) if m else (" ".join(name.split()), "")


def main(checkout: Path, commit: str = "HEAD") -> None:
    provinces = {}
    with (HERE / "th-provinces.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            provinces[row["iso_code"].removeprefix("TH-")] = row["name_th"]
    source_provinces = {
        r["id"]: r["name_th"].strip() for r in source_rows(checkout, commit, "formats/csv/provinces.csv")
    }
    districts = []
    for r in source_rows(checkout, commit, "formats/csv/districts.csv"):
        code = r["id"].strip()
        assert re.fullmatch(r"[0-9]{4}", code) and code[:2] in provinces, code
        # the code's first two digits name the same province in both tables
        assert source_provinces[r["province_id"]] == provinces[code[:2]], (code, source_provinces[r["province_id"]])
        name, alias = split_alias(r["name_th"])
        if code.startswith("10"):  # Bangkok: เขตพระนคร -> พระนคร (the เขต is the kind, as อำเภอ elsewhere)
            name = name.removeprefix("เขต")
        name_en = re.sub(r"^Khet ", "", r["name_en"].strip())
        districts.append([code, name, name_en, f"TH-{code[:2]}", alias])
    district_codes = {d[0] for d in districts}
    subdistricts = []
    for r in source_rows(checkout, commit, "formats/csv/sub_districts.csv"):
        code, parent = r["id"].strip(), r["district_id"].strip()
        assert re.fullmatch(r"[0-9]{6}", code) and parent in district_codes and code.startswith(parent), code
        name, alias = split_alias(r["name_th"])
        subdistricts.append([code, name, r["name_en"].strip(), parent, alias])
    for name, header, rows in (
        ("th-districts.csv", ["code", "name_th", "name_en", "province_code", "aliases"], districts),
        ("th-subdistricts.csv", ["code", "name_th", "name_en", "district_code", "aliases"], subdistricts),
    ):
        with (HERE / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(sorted(rows))
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:3])
