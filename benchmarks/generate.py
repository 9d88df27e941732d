"""Realistic contest workbooks at any size, deterministic by seed.

Thai text in the messy forms the build accepts: Thai digits, BE and CE years, abbreviated
organization names with a trailing "จ.<province>", Thai month dates, Excel date cells
(some with Buddhist-Era years), NBSP and zero-width spaces, stray spaces, personal-data
columns. With `errors` > 0, that share of rows carries one defect the build must report
(misspelt province, unreadable year, impossible date, empty title, unknown result, an
entry id already used by an earlier row).

    python -m benchmarks.generate --rows 100000 [--errors 0.03] [--seed 2564] --out FILE.xlsx|.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import xlsxwriter

from pipeline.dataset import load_dataset

REPO = Path(__file__).resolve().parents[1]
DATASET = "local-digital-innovation-contest"
VERSION = 2  # part of the cache key in benchmarks/run.py: bump when the generated rows change
HEADER = [
    "รหัสผลงาน",
    "ปี พ.ศ.",
    "ชื่อ อปท.",
    "ประเภท อปท.",
    "จังหวัด",
    "ชื่อผลงาน",
    "วันที่ส่งผลงาน",
    "ผลการพิจารณา",
    "ผู้ประสานงาน",
    "เบอร์โทรศัพท์",
    "อีเมล",
]
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
PLACES = [
    "บ้านนา",
    "หนองบัว",
    "ดอนตูม",
    "ท่าช้าง",
    "โคกสูง",
    "นาดี",
    "บางปลา",
    "วังน้ำเย็น",
    "ป่าแดด",
    "ทุ่งใหญ่",
    "สันทราย",
    "แม่ริม",
    "บ่อวิน",
    "คลองหลวง",
    "ห้วยยาง",
    "เขาพระ",
    "บางพลี",
    "ศรีสำราญ",
    "โนนสูง",
    "หนองแวง",
    "นาเกลือ",
    "บ้านโป่ง",
    "ท่าม่วง",
    "ห้วยทราย",
    "สามโคก",
    "บางระกำ",
    "ปากพลี",
    "เมืองเก่า",
    "ทับกวาง",
    "นาโพธิ์",
    "หนองหาร",
    "ดอยสะเก็ด",
    "แม่สาย",
    "บ้านใหม่",
    "คำใหญ่",
    "โพนทอง",
]
KINDS = [
    ("องค์การบริหารส่วนตำบล", "อบต."),
    ("เทศบาลตำบล", "ทต."),
    ("เทศบาลเมือง", "ทม."),
    ("เทศบาลนคร", "ทน."),
    ("องค์การบริหารส่วนจังหวัด", "อบจ."),
]
KIND_WEIGHTS = [60, 25, 8, 2, 5]
TOPICS = [
    "ระบบบริการประชาชนออนไลน์",
    "แอปพลิเคชันแจ้งเหตุ",
    "ระบบจัดการขยะอัจฉริยะ",
    "ระบบคิวออนไลน์",
    "ตลาดชุมชนดิจิทัล",
    "ระบบติดตามผู้สูงอายุ",
    "ระบบสารสนเทศภูมิศาสตร์",
    "ระบบรับเรื่องร้องเรียน",
    "ระบบชำระภาษีออนไลน์",
]
MONTHS = ["ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."]
MONTHS_FULL = [
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
]
RESULTS = ["ได้รับการคัดเลือก", "ได้รับคัดเลือก", "ผ่าน", "ไม่ผ่าน", "ไม่ได้รับการคัดเลือก", ""]


def rows(n: int, errors: float, seed: int) -> Iterator[list[object]]:
    """`n` data rows (header excluded); cells are str, int or date like a keyed workbook."""
    rng = random.Random(seed)
    provinces = [r["name_th"] for r in load_dataset(REPO / "schemas", DATASET).reference.provinces]
    for i in range(n):
        year_be = rng.choice([2563, 2564, 2565, 2566])
        year: object = rng.choices(
            [year_be, str(year_be).translate(THAI_DIGITS), f"พ.ศ. {year_be}", year_be - 543], [70, 15, 10, 5]
        )[0]
        (kind, abbr) = rng.choices(KINDS, KIND_WEIGHTS)[0]
        place, province = rng.choice(PLACES), rng.choice(provinces)
        name, prov_cell, kind_cell = f"{kind}{place}", province, kind
        style = rng.random()
        if style < 0.3:
            name = f"{abbr}{place}"
        elif style < 0.4:
            name, prov_cell = f"{abbr}{place} จ.{province}", ""
        elif style < 0.5:
            kind_cell = ""
        elif style < 0.55:
            prov_cell = f"จ.{province}\u00a0"
        day = dt.date(year_be - 543, 1, 1) + dt.timedelta(days=rng.randrange(365))
        form = rng.random()
        if form < 0.5:
            date: object = day
        elif form < 0.6:
            date = dt.date(day.year + 543, day.month, day.day) if not (day.month == 2 and day.day == 29) else day
        elif form < 0.75:
            date = f"{day.day} {MONTHS[day.month - 1]} {day.year + 543}"
        elif form < 0.85:
            date = f"{day.day} {MONTHS_FULL[day.month - 1]} {day.year + 543}".translate(THAI_DIGITS)
        elif form < 0.95:
            date = f"{day.day}/{day.month}/{day.year + 543}"
        else:
            date = ""
        title = f"โครงการ{rng.choice(TOPICS)} {place} ระยะที่ {rng.randrange(1, 5)}"
        if rng.random() < 0.05:
            title = "  " + title.replace(" ", "\u00a0", 1) + "\u200b "
        result = rng.choice(RESULTS)
        row: list[object] = [
            f"LDI-{i + 1:08d}",
            year,
            name,
            kind_cell,
            prov_cell,
            title,
            date,
            result,
            f"ผู้ประสานงาน {i}",
            f"08{rng.randrange(10**8):08d}",
            f"contact{i}@example.org",
        ]
        if errors and rng.random() < errors:
            defect = rng.randrange(6)
            if defect == 0:
                row[4], row[2] = province[:-1] + "ก", f"{kind}{place}"  # misspelt province
            elif defect == 1:
                row[1] = "สองพันห้าร้อย"
            elif defect == 2:
                row[6] = f"31/02/{year_be}"
            elif defect == 3:
                row[5] = ""
            elif defect == 4 or i == 0:
                row[7] = "รอพิจารณา"
            else:
                row[0] = f"LDI-{rng.randrange(1, i + 1):08d}"  # keyed twice by mistake
        yield row


def write_xlsx(path: Path, n: int, errors: float, seed: int) -> None:
    """A workbook with a merged title row above the header, like a real one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.xlsx")
    book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("ผลงาน")
    date_format = book.add_format({"num_format": "d/m/yyyy"})
    sheet.merge_range(0, 0, 0, len(HEADER) - 1, "ผลการประกวดนวัตกรรมท้องถิ่นดิจิทัล (ข้อมูลสังเคราะห์สำหรับวัดความเร็ว)")
    sheet.write_row(2, 0, HEADER)
    for r, row in enumerate(rows(n, errors, seed), start=3):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), date_format)
            elif value != "":
                sheet.write(r, c, value)
    book.close()
    tmp.replace(path)


def write_csv(path: Path, n: int, errors: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for row in rows(n, errors, seed):
            out.writerow([v.isoformat() if isinstance(v, dt.date) else v for v in row])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--errors", type=float, default=0.0, help="share of rows with a defect (e.g. 0.03)")
    parser.add_argument("--seed", type=int, default=2564)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    writer = write_csv if args.out.suffix == ".csv" else write_xlsx
    writer(args.out, args.rows, args.errors, args.seed)


if __name__ == "__main__":
    main()
