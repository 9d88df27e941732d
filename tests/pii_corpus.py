"""A generated corpus for the PDPA guard: personal values it must find, and look-alikes it must
leave alone (years, amounts, dates, ids, budget codes, organization names, titles without
a name). Deterministic (seeded); run `python -m tests.pii_corpus` to print it.

Each positive is (text, kind, the personal part as it appears in the text), so a test can
check that masking removes exactly that part.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import yaml

REFERENCE = Path(__file__).resolve().parents[1] / "schemas" / "reference"
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
FULL_WIDTH = str.maketrans("0123456789+()-.", "０１２３４５６７８９＋（）－．")
GIVEN = ["สมชาย", "สมศรี", "กิตติ", "ณัฐพล", "วิไลวรรณ", "ประยุทธ์", "อรอุมา", "เกศินี", "ธนากร", "ปิยะนุช"]
SURNAMES = ["ใจดี", "รักไทย", "ศรีสุข", "วงศ์สวัสดิ์", "แก้วมณี", "ทองคำ"]
CONTEXTS = ["{}", "ติดต่อ {}", "ระบบจองคิวออนไลน์ ({})", "{} ในเวลาราชการ", "ผู้ประสานงาน: {}"]


def national_id(rng: random.Random, valid: bool = True) -> str:
    """13 digits; the last is the check digit (or deliberately not, for look-alikes)."""
    first = [rng.randint(1, 8)] + [rng.randint(0, 9) for _ in range(11)]
    check = (11 - sum(x * (13 - i) for i, x in enumerate(first)) % 11) % 10
    return "".join(map(str, first)) + str(check if valid else (check + rng.randint(1, 9)) % 10)


def _phone_forms(rng: random.Random) -> list[str]:
    m = f"{rng.choice('689')}{rng.randint(0, 9)}{rng.randint(0, 9999999):07d}"  # mobile without the 0: 9 digits
    a, b, c = m[:2], m[2:5], m[5:]
    area = rng.choice(["2", "32", "38", "42", "53", "74"])
    line = f"{rng.randint(0, 10 ** (8 - len(area)) - 1):0{8 - len(area)}d}"
    land = area + line  # 8 digits after the 0
    return [
        f"0{m}",
        f"0{a}-{b}-{c}",
        f"0{a[0]}-{a[1]}{b}-{c}",
        f"0{a} {b} {c}",
        f"0{a}.{b}.{c}",
        f"(0{a}) {b}-{c}",
        f"+66 {a} {b} {c}",
        f"+66 {a[0]} {a[1]}{b[:3]} {b[3:]}{c}",
        f"+66(0){m}",
        f"+66-{a}-{b}-{c}",
        f"66 {a} {b} {c}",
        f"0-{land[:4]}-{land[4:]}" if area == "2" else f"0{land[:2]}-{land[2:]}",
        f"0{land[:1]} {land[1:4]} {land[4:]}",
        f"0{land}",
        f"+66 {land[:1]} {land[1:4]} {land[4:]}",
    ]


def positives(seed: int = 13) -> list[tuple[str, str, str]]:
    """(text, kind, personal part) that the guard must refuse."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for _ in range(12):
        for form in _phone_forms(rng):
            for script in (None, THAI_DIGITS, FULL_WIDTH):
                value = form.translate(script) if script else form
                out.append((rng.choice(CONTEXTS).format(value), "phone", value))
    for _ in range(25):
        d = national_id(rng)
        for form in (
            d,
            f"{d[0]}-{d[1:5]}-{d[5:10]}-{d[10:12]}-{d[12]}",
            f"{d[0]} {d[1:5]} {d[5:10]} {d[10:12]} {d[12]}",
        ):
            for script in (None, THAI_DIGITS, FULL_WIDTH):
                value = form.translate(script) if script else form
                out.append((f"เลขประจำตัวประชาชน {value}", "national_id", value))
    locals_ = ["somchai.j", "s_jaidee+contest", "สมชาย", "somchai.ใจดี", "info2564"]
    domains = ["example.com", "mail.go.th", "ตัวอย่าง.ไทย", "gmail.com", "อบต-ท่าช้าง.ไทย", "school.ac.th"]
    for local in locals_:
        for domain in domains:
            for at in ("@", "＠"):
                value = f"{local}{at}{domain}"
                out.append((rng.choice(CONTEXTS).format(value), "email", value))
    prefixes = yaml.safe_load((REFERENCE / "personal-data.yaml").read_text(encoding="utf-8"))["name_prefixes"]
    for prefix in prefixes:
        latin = prefix.isascii()
        for _ in range(3):
            given, surname = (
                (rng.choice(["John", "Somchai", "Mary"]), rng.choice(["Smith", "Jaidee"]))
                if latin
                else (rng.choice(GIVEN), rng.choice(SURNAMES))
            )
            name = f"{prefix}{rng.choice(['', ' '])}{given} {surname}"
            for context in ("{}", "ผลงานโดย{} และทีมงาน", "นายกเทศมนตรี {}", "ผู้ประสานงาน {}", "ระบบของ{}"):
                out.append((context.format(name), "person_name", name))
    return out


def lookalikes(seed: int = 13) -> list[str]:
    """Texts that look like personal data and are not: the guard must let them through."""
    rng = random.Random(seed)
    out = []
    for year in range(2540, 2571):
        out += [str(year), f"พ.ศ. {year}", f"ปีงบประมาณ {year}-{year + 1}", f"ค.ศ. {year - 543}"]
    for _ in range(40):
        amount = rng.randint(1_000, 999_999_999)
        out += [f"งบประมาณ {amount:,} บาท", f"{amount:,}.50 บาท", f"{amount} บาท", f"จำนวน {amount % 100_000:,} ราย"]
    for _ in range(40):
        d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2560, 2568)
        out += [
            f"{d:02d}/{m:02d}/{y}",
            f"{y - 543}-{m:02d}-{d:02d}",
            f"{y - 543}-{m:02d}-{d:02d} 08:30:00",
            f"{d:02d}.{m:02d}.{y} 10.30 น.",
            f"{d} มี.ค. {y}".translate(THAI_DIGITS),
            f"วันที่ {d:02d}-{m:02d}-{y}",
        ]
    for i in range(1, 60):
        out += [f"LDI-2564-{i:03d}", f"LDI-2564-{i:04d}", f"อบต-2564/{i:04d}", f"TH-{i:02d}"]
    for _ in range(30):
        out.append(f"รหัสงบประมาณ {rng.randint(10000, 99999)} {rng.randint(0, 99999):05d} {rng.randint(0, 9999):04d}")
        out.append(f"รหัสโครงการ {national_id(rng, valid=False)}")
    out += ["สายด่วน 1111", "โทร 1669", "รหัสไปรษณีย์ 10110", "0.5 ล้านบาท", "ร้อยละ 99.5", "1 ต.ค. 2563 - 30 ก.ย. 2564"]
    for row in (REFERENCE / "th-provinces.csv").read_text(encoding="utf-8").splitlines()[1:]:
        province = row.split(",")[0]
        out += [
            f"องค์การบริหารส่วนจังหวัด{province}",
            f"เทศบาลเมือง{province}",
            f"องค์การบริหารส่วนตำบลท่าช้าง จังหวัด{province}",
        ]
    out += [
        "องค์การบริหารส่วนตำบลนางแล",
        "เทศบาลเมืองนางรอง",
        "เทศบาลตำบลนายาง",
        "องค์การบริหารส่วนตำบลนาคำ",
        "นายกเทศมนตรีตำบลบ้านใหม่",
        "นายกเทศมนตรี เทศบาลตำบลท่าช้าง",
        "นายกองค์การบริหารส่วนตำบล ท่าช้าง",
        "นายอำเภอเมือง เชียงใหม่",
        "นายทะเบียนท้องถิ่น ประจำเทศบาล",
        "นายช่างโยธา ชำนาญงาน",
        "นายแพทย์ชำนาญการ ประจำโรงพยาบาลส่งเสริมสุขภาพตำบล",
        "นางพยาบาล วิชาชีพ",
        "อาจารย์ประจำ หลักสูตรวิศวกรรม",
        "คุณภาพชีวิต ผู้สูงอายุ",
        "คุณค่าของ ชุมชน",
        "ระบบส่งเสริมคุณธรรม จริยธรรม",
        "ระบบทำนายผลผลิต ข้าวโพด",
        "ขอบคุณผู้สนับสนุน ทุกท่าน",
        "ดูแลคุณแม่ตั้งครรภ์ ในชุมชน",
        "ปลัดองค์การบริหารส่วนตำบล",
        "ผู้อำนวยการกองช่าง",
        "อ.สันทราย เชียงใหม่",
        "ระบบ LINE @ศาลากลาง",
        "ราคา 5@10 บาท",
        "www.example.go.th",
        "อบต.ท่าช้าง",
        "ระบบแจ้งเหตุ @home",
        "ระบบบริหารจัดการขยะอัจฉริยะ",
        "แอปพลิเคชันท่าช้างคอนเนกต์",
        "ระบบ Smart Farming ด้วย IoT",
        "Mr Smith",  # no dot, one word after it: not the name shape
    ]
    return out


if __name__ == "__main__":
    for text, kind, _part in positives():
        sys.stdout.write(f"+\t{kind}\t{text}\n")
    for text in lookalikes():
        sys.stdout.write(f"-\t\t{text}\n")
