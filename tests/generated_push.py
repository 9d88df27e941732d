"""Generated datasets of other shapes for the push tests (a composite key; no key at all)."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import shutil
from pathlib import Path

from .conftest import DATASET, REPO

PROVINCES = ["กรุงเทพมหานคร", "เชียงใหม่", "ขอนแก่น", "ภูเก็ต", "นครราชสีมา"]
COURSES = ["การใช้ข้อมูลเปิด", "ความมั่นคงปลอดภัยไซเบอร์", "การวิเคราะห์ข้อมูล", "ดิจิทัลพื้นฐาน"]

SHAPES = {
    "training": {
        "fields": [
            {"name": "province", "type": "string", "title": "จังหวัด"},
            {"name": "course", "type": "string", "title": "หลักสูตร"},
            {"name": "held_on", "type": "date", "title": "วันที่อบรม"},
            {"name": "participants", "type": "integer", "title": "จำนวนผู้เข้าอบรม"},
            {"name": "budget", "type": "number", "title": "งบประมาณ (บาท)"},
            {"name": "online", "type": "boolean", "title": "อบรมออนไลน์"},
            {"name": "note", "type": "string", "title": "หมายเหตุ"},
        ],
        "primaryKey": ["province", "course", "held_on"],
    },
    "notation": {  # the schema's own spelling of numbers, booleans and missing cells
        "fields": [
            {"name": "code", "type": "string", "title": "รหัส"},
            {"name": "amount", "type": "number", "title": "จำนวนเงิน", "decimalChar": ",", "groupChar": "."},
            {"name": "count", "type": "integer", "title": "จำนวน"},
            {"name": "open", "type": "boolean", "title": "เปิด", "trueValues": ["ใช่"], "falseValues": ["ไม่ใช่"]},
        ],
        "missingValues": ["-"],
        "primaryKey": ["code"],
    },
    "tally": {
        "fields": [
            {"name": "district", "type": "string", "title": "อำเภอ"},
            {"name": "category", "type": "string", "title": "ประเภท"},
            {"name": "amount", "type": "integer", "title": "จำนวน"},
        ],
    },
}


def training_rows(rng: random.Random, n: int) -> list[list[str]]:
    rows, seen = [], set()
    while len(rows) < n:
        key = (rng.choice(PROVINCES), rng.choice(COURSES), f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        if key in seen:
            continue
        seen.add(key)
        budget = (
            f"{rng.randint(0, 500000)}.{rng.choice(['5', '25', '50', '75'])}"
            if rng.random() < 0.5
            else str(rng.randint(0, 90000))
        )
        note = rng.choice(["", "", "รอบเช้า", "รอบบ่าย, ภาคค่ำ"])
        rows.append([*key, str(rng.randint(1, 300)), budget, rng.choice(["true", "false"]), note])
    return rows


def tally_rows(rng: random.Random, n: int) -> list[list[str]]:
    rows = [[f"อำเภอ{rng.randint(1, 4)}", rng.choice(["ก", "ข", ""]), str(rng.randint(0, 9))] for _ in range(n)]
    rows.append(list(rows[0]))  # the same row twice: a table without a key may hold it
    return rows


class Generated:
    """A published dataset of another shape and its schema folder, written as the build lays them out
    (the push is the stage under test, so it does not wait on what the build can normalize)."""

    def __init__(self, root: Path, name: str, org: str, shape: str, rows: list[list[str]]) -> None:
        self.root, self.name, self.org, self.shape, self.rows = root, name, org, shape, rows
        self.schema = SHAPES[shape]
        self.schemas = root / "schemas"
        self.published = root / "published"
        folder = self.schemas / name
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = json.loads((REPO / "schemas" / DATASET / "datapackage.json").read_text(encoding="utf-8"))
        descriptor.update(name=name, title=f"ชุดข้อมูลทดสอบ {shape}", description="ข้อมูลที่สร้างขึ้นเพื่อทดสอบ")
        descriptor["x_portal"]["organization"]["name"] = org
        descriptor["resources"] = [{"name": shape, "path": f"{shape}.csv", "schema": f"{shape}.schema.json"}]
        (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
        (folder / f"{shape}.schema.json").write_text(json.dumps(self.schema, ensure_ascii=False), encoding="utf-8")
        (folder / "fields.yaml").write_text("fields: {}\n", encoding="utf-8")
        if not (self.schemas / "reference").exists():
            shutil.copytree(REPO / "schemas" / "reference", self.schemas / "reference")
        self.write()

    @property
    def csv_path(self) -> Path:
        return self.published / self.name / f"{self.shape}.csv"

    def write(self) -> None:
        """The published folder as the build lays it out: the CSV and a datapackage.json with its hash."""
        folder = self.published / self.name
        folder.mkdir(parents=True, exist_ok=True)
        with self.csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
            writer.writerow([f["name"] for f in self.schema["fields"]])
            writer.writerows(self.rows)
        digest = hashlib.sha256(self.csv_path.read_bytes()).hexdigest()
        package = {
            "name": self.name,
            "title": f"ชุดข้อมูลทดสอบ {self.shape}",
            "description": "ข้อมูลที่สร้างขึ้นเพื่อทดสอบการส่งขึ้นพอร์ทัล",
            "version": "1.0.0",
            "licenses": [{"name": "CC-BY-4.0"}],
            "keywords": ["ทดสอบ"],
            "resources": [
                {
                    "name": self.shape,
                    "path": f"{self.shape}.csv",
                    "format": "csv",
                    "schema": self.schema,
                    "hash": f"sha256:{digest}",
                }
            ],
        }
        (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
