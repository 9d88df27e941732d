"""Many small datasets of mixed shapes, each with its own schema, deterministic by seed.

For `make bench-many` and for the tests of parallel and orchestrated builds: an agency's
hundreds of datasets are not copies of one table, so each shape has its own fields, Table
Schema, header spellings and file layout:

- contest-xlsx / contest-csv: the contest table (benchmarks/generate.py's messy rows) under a
  dataset name of its own, as a workbook with a title row or as a UTF-8 CSV;
- budget-csv: budget lines (id, Buddhist-Era fiscal year, province, category by lookup, whole
  baht), a CSV in UTF-8 or TIS-620, `,` or `;`, with a responsible person's column (dropped);
- events-xlsx: events in a workbook of two quarterly sheets whose table starts at B3 under a
  title row (id, Thai or Excel dates, name, province, attendees), a phone column (dropped).

Each dataset gets `schemas/<name>/` (datapackage.json with `x_portal`, Table Schema,
fields.yaml) beside a copy of the project's `schemas/reference/`, and `raw/<name>/`. A dataset
named in `failing` gets cells the build must refuse (an unknown province, an unreadable year).

    python -m benchmarks.many --datasets 200 --rows 3000 --out DIR   # writes DIR/raw and DIR/schemas
    python -m benchmarks.many --bench --datasets 200 --jobs 2 [--out RESULT.json]   # `make bench-many`

With --bench the datasets go to a temporary folder and `python -m pipeline build` runs on them
as a user runs it (one process, wall time): serially (--jobs 1), side by side (--jobs N), the
two published folders compared byte for byte, then again with nothing changed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xlsxwriter
import yaml

from benchmarks import generate

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
SHAPES = ("contest-xlsx", "budget-csv", "events-xlsx", "contest-csv")
AGENCIES = 5  # datasets are spread over this many portal organizations
CPU_SECONDS: list[float] = []  # of each build process (its workers included), in order
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
CATEGORIES = {
    "การศึกษา": ["ศึกษา", "ด้านการศึกษา"],
    "สาธารณสุข": ["สุขภาพ", "ด้านสาธารณสุข"],
    "โครงสร้างพื้นฐาน": ["ถนน/โครงสร้าง", "ด้านโครงสร้างพื้นฐาน"],
    "สิ่งแวดล้อม": ["ขยะและสิ่งแวดล้อม", "ด้านสิ่งแวดล้อม"],
}
EVENTS = ["งานประเพณีลอยกระทง", "ตลาดนัดชุมชน", "อบรมการใช้แอปพลิเคชัน", "วิ่งเพื่อสุขภาพ", "ประชุมประชาคม"]


def _provinces() -> list[str]:
    with (SCHEMAS / "reference" / "th-provinces.csv").open(encoding="utf-8", newline="") as fh:
        return [row["name_th"] for row in csv.DictReader(fh)]


def _field(name: str, type_: str, title: str, **constraints: Any) -> dict[str, Any]:
    field = {"name": name, "type": type_, "title": title}
    return {**field, "constraints": constraints} if constraints else field


def _descriptor(name: str, title: str, agency: str, resource: str) -> dict[str, Any]:
    """The sample dataset's descriptor (licence, GD Catalog fields) under another name and agency."""
    base = json.loads((SCHEMAS / generate.DATASET / "datapackage.json").read_text(encoding="utf-8"))
    portal = base["x_portal"]
    portal["organization"] = {
        "name": agency,
        "title": f"หน่วยงานทดสอบ {agency.rsplit('-', 1)[-1]}",
        "description": "หน่วยงานสมมติสำหรับทดสอบการสร้างชุดข้อมูลจำนวนมาก",
    }
    return {
        "name": name,
        "title": title,
        "description": f"{title} (ข้อมูลสังเคราะห์สำหรับทดสอบ)",
        "version": "1.0.0",
        "licenses": base["licenses"],
        "keywords": ["ข้อมูลสังเคราะห์"],
        "contributors": [{"title": portal["organization"]["title"], "role": "publisher"}],
        "resources": [
            {"name": resource, "path": f"{resource}.csv", "title": title, "schema": f"{resource}.schema.json"}
        ],
        "x_portal": portal,
    }


def _write_schema(
    folder: Path, descriptor: dict[str, Any], schema: dict[str, Any], fields_yaml: dict[str, Any]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    resource = descriptor["resources"][0]
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / resource["schema"]).write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "fields.yaml").write_text(
        yaml.safe_dump(fields_yaml, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


# ---------------------------------------------------------------------------- shapes


def contest(raw: Path, schemas: Path, name: str, rows: int, seed: int, agency: str, fail: bool, as_csv: bool) -> None:
    source = SCHEMAS / generate.DATASET
    folder = schemas / name
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.name != "datapackage.json":
            shutil.copy2(path, folder / path.name)
    base = json.loads((source / "datapackage.json").read_text(encoding="utf-8"))
    descriptor = _descriptor(name, "ผลงานประกวดนวัตกรรม (ชุดทดสอบ)", agency, "entries")
    descriptor["resources"] = base["resources"]
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False, indent=2), encoding="utf-8")
    # every defect kind the contest generator knows, in about one row in five
    errors = 0.2 if fail else 0.0
    if as_csv:
        generate.write_csv(raw / name / "ผลงาน.csv", rows, errors, seed)
    else:
        generate.write_xlsx(raw / name / "ผลงาน.xlsx", rows, errors, seed)


def budget(raw: Path, schemas: Path, name: str, rows: int, seed: int, agency: str, fail: bool) -> None:
    provinces = _provinces()
    schema = {
        "fields": [
            _field("budget_id", "string", "รหัสรายการ", required=True, unique=True),
            _field("fiscal_year", "integer", "ปีงบประมาณ (พ.ศ.)", required=True, minimum=2500, maximum=2700),
            _field("province", "string", "จังหวัด", required=True, enum=provinces),
            _field("province_code", "string", "รหัสจังหวัด", required=True, pattern="TH-[0-9]{2}"),
            _field("category", "string", "หมวดงบประมาณ", required=True, enum=list(CATEGORIES)),
            _field("amount", "integer", "จำนวนเงิน (บาท)", required=True, minimum=0),
        ],
        "primaryKey": ["budget_id"],
        "missingValues": [""],
    }
    fields_yaml = {
        "resource": "budget",
        "fields": {
            "budget_id": {"aliases": ["รหัสรายการ", "รหัส"], "normalize": "identifier"},
            "fiscal_year": {"aliases": ["ปีงบประมาณ", "ปีงบ"], "normalize": "buddhist_year"},
            "province": {"aliases": ["จังหวัด"], "normalize": "province"},
            "province_code": {"derived_from": "province", "normalize": "province_code", "cell_fallback": ["province"]},
            "category": {"aliases": ["หมวด"], "normalize": "lookup", "lookup": CATEGORIES},
            "amount": {"aliases": ["จำนวนเงิน", "งบประมาณ (บาท)"], "normalize": "text"},
        },
        "personal_data": ["ผู้รับผิดชอบ"],
    }
    _write_schema(schemas / name, _descriptor(name, "รายการงบประมาณ (ชุดทดสอบ)", agency, "budget"), schema, fields_yaml)
    rng = random.Random(seed)
    header = ["รหัสรายการ", "ปีงบประมาณ", "จังหวัด", "หมวด", "จำนวนเงิน", "ผู้รับผิดชอบ"]
    lines = []
    for i in range(rows):
        year = rng.choice([2565, 2566, 2567])
        year_cell = rng.choices([str(year), str(year).translate(THAI_DIGITS), f"พ.ศ. {year}"], [70, 20, 10])[0]
        province = rng.choice(provinces)
        province_cell = rng.choice([province, f"จ.{province}", f" {province}\u00a0"])
        canon = rng.choice(list(CATEGORIES))
        category = rng.choice([canon, *CATEGORIES[canon]])
        ident = f"BG-{i + 1:06d}"
        lines.append(
            [
                ident.lower() if i % 7 == 0 else ident,
                year_cell,
                province_cell,
                category,
                str(rng.randrange(10**7)),
                f"ผู้รับผิดชอบ {i}",
            ]
        )
    if fail:
        for i in rng.sample(range(rows), k=max(3, rows // 50)):
            lines[i][2 if i % 2 else 1] = "จังหวัดสมมติ" if i % 2 else "ปีหน้า"
    encoding = "cp874" if seed % 2 else "utf-8-sig"
    delimiter = ";" if seed % 3 == 0 else ","
    path = raw / name / "งบประมาณ-2566.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh, delimiter=delimiter)
        out.writerow(header)
        out.writerows(lines)


def events(raw: Path, schemas: Path, name: str, rows: int, seed: int, agency: str, fail: bool) -> None:
    provinces = _provinces()
    schema = {
        "fields": [
            _field("event_id", "string", "รหัสกิจกรรม", required=True, unique=True),
            _field("event_date", "date", "วันที่จัด", required=True),
            _field("event_name", "string", "ชื่อกิจกรรม", required=True),
            _field("province", "string", "จังหวัด", required=True, enum=provinces),
            _field("province_code", "string", "รหัสจังหวัด", required=True, pattern="TH-[0-9]{2}"),
            _field("attendees", "integer", "จำนวนผู้เข้าร่วม", minimum=0),
        ],
        "primaryKey": ["event_id"],
        "missingValues": [""],
    }
    fields_yaml = {
        "resource": "events",
        "fields": {
            "event_id": {"aliases": ["รหัสกิจกรรม"], "normalize": "identifier"},
            "event_date": {"aliases": ["วันที่", "วันที่จัดกิจกรรม"], "normalize": "thai_date"},
            "event_name": {"aliases": ["ชื่อกิจกรรม", "กิจกรรม"], "normalize": "text"},
            "province": {"aliases": ["จังหวัด"], "normalize": "province"},
            "province_code": {"derived_from": "province", "normalize": "province_code", "cell_fallback": ["province"]},
            "attendees": {"aliases": ["ผู้เข้าร่วม (คน)"], "normalize": "text"},
        },
        "personal_data": ["เบอร์ติดต่อ"],
    }
    _write_schema(
        schemas / name, _descriptor(name, "กิจกรรมของหน่วยงาน (ชุดทดสอบ)", agency, "events"), schema, fields_yaml
    )
    rng = random.Random(seed)
    path = raw / name / "กิจกรรม.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "d/m/yyyy"})
    header = ["รหัสกิจกรรม", "วันที่", "ชื่อกิจกรรม", "จังหวัด", "ผู้เข้าร่วม (คน)", "เบอร์ติดต่อ"]
    bad = set(rng.sample(range(rows), k=max(3, rows // 50))) if fail else set()
    half = rows // 2
    for quarter, (start, stop) in enumerate(((0, half), (half, rows)), start=1):
        sheet = book.add_worksheet(f"ไตรมาส {quarter}")
        sheet.write(0, 1, f"กิจกรรม ไตรมาส {quarter}")
        sheet.write_row(2, 1, header)
        for r, i in enumerate(range(start, stop), start=3):
            day = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(365))
            province = rng.choice(provinces)
            sheet.write(r, 1, f"EV-{i + 1:06d}")
            form = rng.random()
            if form < 0.5:
                sheet.write_datetime(r, 2, dt.datetime(day.year, day.month, day.day), date_format)
            elif form < 0.8:
                sheet.write(r, 2, f"{day.day} {generate.MONTHS[day.month - 1]} {day.year + 543}")
            else:
                sheet.write(r, 2, f"{day.day}/{day.month}/{day.year + 543}".translate(THAI_DIGITS))
            sheet.write(r, 3, f"{rng.choice(EVENTS)} ครั้งที่ {rng.randrange(1, 20)}")
            sheet.write(r, 4, "จังหวัดสมมติ" if i in bad else province)
            sheet.write(r, 5, rng.randrange(10, 2000))
            sheet.write(r, 6, f"08{rng.randrange(10**8):08d}")
    book.close()


# ---------------------------------------------------------------------------- the corpus


def names(count: int, prefix: str = "bench") -> list[str]:
    """Dataset names: `<prefix>-<index>-<shape>`, shapes in turn."""
    return [f"{prefix}-{i:03d}-{SHAPES[i % len(SHAPES)]}" for i in range(count)]


def generate_many(
    root: Path, count: int, rows: int = 3000, seed: int = 2564, failing: Iterable[str] = (), prefix: str = "bench"
) -> tuple[Path, Path]:
    """Write `count` datasets under root/raw and their schemas under root/schemas; return both folders.

    Each dataset has between rows/2 and 3*rows/2 rows (fixed by the seed); their portal
    organizations are `<prefix>-agency-<n>`.
    """
    raw, schemas = root / "raw", root / "schemas"
    shutil.copytree(SCHEMAS / "reference", schemas / "reference", dirs_exist_ok=True)
    failing = set(failing)
    rng = random.Random(seed)
    for i, name in enumerate(names(count, prefix)):
        n = rng.randrange(max(1, rows // 2), rows * 3 // 2 + 1)
        shape = SHAPES[i % len(SHAPES)]
        fail = name in failing
        args = (raw, schemas, name, n, seed + i, f"{prefix}-agency-{i % AGENCIES}", fail)
        if shape == "contest-xlsx":
            contest(*args, as_csv=False)
        elif shape == "contest-csv":
            contest(*args, as_csv=True)
        elif shape == "budget-csv":
            budget(*args)
        else:
            events(*args)
    return raw, schemas


# ---------------------------------------------------------------------------- the benchmark


def _build(root: Path, published: str, jobs: int) -> float:
    """Wall seconds of one `python -m pipeline build` process, as `make` runs it; the CPU
    seconds it and its workers used are added to CPU_SECONDS (on a shared machine the wall
    time also measures the others' load)."""
    cmd = [sys.executable, "-m", "pipeline", "build", "-q", "--jobs", str(jobs), "--raw-dir", str(root / "raw")]
    cmd += ["--schemas-dir", str(root / "schemas"), "--published-dir", str(root / published)]
    cmd += ["--reports-dir", str(root / f"reports-{published}")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS.append(round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3))
    if done.returncode != 0:
        raise SystemExit(f"build failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return round(seconds, 3)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bench(count: int, rows: int, jobs: int, seed: int, repeat: int = 3) -> dict[str, Any]:
    """Serial vs side-by-side build of `count` generated datasets, each `repeat` times, interleaved
    (the machine is shared: medians), and a rebuild with nothing changed."""
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        generate_many(root, count, rows, seed)
        generated = time.perf_counter() - start
        total_rows = 0
        for name in names(count):
            path = next((root / "raw" / name).iterdir())
            total_rows += _rows_in(path)
        print(f"{count} datasets, {total_rows:,} rows, generated in {generated:.1f} s; building …", flush=True)
        serials, parallels, serial_cpu = [], [], []
        for k in range(repeat):
            serials.append(_build(root, f"serial{k}", 1))
            serial_cpu.append(CPU_SECONDS[-1])
            # (no CPU figure: the workers are the fork server's children, not counted for the build process)
            parallels.append(_build(root, f"parallel{k}", jobs))
            print(
                f"serial (--jobs 1): {serials[-1]:.1f} s ({serial_cpu[-1]:.1f} s CPU); "
                f"side by side (--jobs {jobs}): {parallels[-1]:.1f} s",
                flush=True,
            )
        serial, parallel = statistics.median(serials), statistics.median(parallels)
        serial_files, parallel_files = _files(root / "serial0"), _files(root / "parallel0")
        identical = serial_files == parallel_files
        differing = sorted(
            p for p in serial_files.keys() | parallel_files.keys() if serial_files.get(p) != parallel_files.get(p)
        )
        before = len(CPU_SECONDS)
        nochange = [_build(root, "parallel0", jobs) for _ in range(repeat)]
        nochange_cpu = statistics.median(CPU_SECONDS[before:])
        nochange_serial = [_build(root, "serial0", 1) for _ in range(repeat)]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import pipeline.cli, pipeline.run"], cwd=REPO, check=True)
        startup = time.perf_counter() - start
    result = {
        "datasets": count,
        "rows": total_rows,
        "mean_rows": rows,
        "cores": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # a shared machine: other work competes for the cores
        "jobs": jobs,
        "repeat": repeat,
        "serial_seconds": serial,
        "serial_runs_seconds": serials,
        "serial_cpu_seconds": statistics.median(serial_cpu),
        "parallel_seconds": parallel,
        "parallel_runs_seconds": parallels,
        "speedup": round(serial / parallel, 2),
        "published_identical": identical,
        "published_files": len(serial_files),
        "differing_files": differing[:20],
        "nochange_seconds": statistics.median(nochange),
        "nochange_runs_seconds": nochange,
        "nochange_serial_seconds": statistics.median(nochange_serial),
        "nochange_serial_runs_seconds": nochange_serial,
        "nochange_cpu_seconds": nochange_cpu,
        "python_and_imports_seconds": round(startup, 3),
        "nochange_goal_seconds": 2.0,
    }
    print(
        f"no change, all {count} (--jobs {jobs}): {result['nochange_seconds']:.2f} s, "
        f"{result['nochange_cpu_seconds']:.2f} s CPU (goal < 2 s; --jobs 1: "
        f"{result['nochange_serial_seconds']:.2f} s); serial/parallel = {result['speedup']}x; "
        f"published output identical: {identical}"
    )
    if not identical:
        raise SystemExit(f"the side-by-side build published something else than the serial one: {differing[:20]}")
    return result


def _rows_in(path: Path) -> int:
    """Data rows of a generated file (the generator's own count, not the pipeline's)."""
    if path.suffix == ".csv":
        raw = path.read_bytes()
        return raw.count(b"\n") - 1
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    header_rows = 3  # a title row, a blank row and the header (both shapes)
    return sum(sheet.max_row - header_rows for sheet in book.worksheets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--rows", type=int, default=3000, help="mean rows per dataset (each has rows/2 to 3*rows/2)")
    parser.add_argument("--seed", type=int, default=2564)
    parser.add_argument("--bench", action="store_true", help="build them serially and side by side, report times")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for the side-by-side build")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each build, interleaved; medians reported")
    parser.add_argument("--out", type=Path, help="the folder to generate into, or with --bench the result JSON")
    args = parser.parse_args()
    if args.bench:
        result = bench(args.datasets, args.rows, args.jobs, args.seed, args.repeat)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    elif args.out:
        generate_many(args.out, args.datasets, args.rows, args.seed)
    else:
        parser.error("--out is required without --bench")


if __name__ == "__main__":
    main()
