"""Time the new normalizers over whole generated columns (median of 3), in this process.

    python -m benchmarks.normalizers [--rows 100000] [--seed 12]

Columns: baht amounts keyed the messy ways (each nearly distinct, the case per-distinct rules do
not help), head counts, yes/no words, and district/subdistrict rows drawn from the reference.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import pandas as pd

from pipeline.dataset import Reference
from pipeline.normalizers import REGISTRY, Column, ThaiRules
from pipeline.thai import clean_series

from .generate import REPO

THAI = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def columns(rows: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    ref = Reference(REPO / "schemas" / "reference")
    districts = {row["code"]: row for row in ref.districts}
    provinces = {row["iso_code"]: row["name_th"] for row in ref.provinces}
    places = rng.choices(ref.subdistricts, k=rows)
    amounts = [rng.randrange(0, 10**9) / 100 for _ in range(rows)]
    return {
        "amount": [
            rng.choice([f"{a:,.2f}", f"฿{a:,.2f}", f"{a:,.2f} บาท", f"{a:.2f}".translate(THAI), f"{a:.2f}"])
            for a in amounts
        ],
        "people": [rng.choice([str(n), f"{n:,} คน", str(n).translate(THAI)]) for n in rng.choices(range(5000), k=rows)],
        "yes_no": rng.choices(["ใช่", "ไม่ใช่", "✓", "✗", "มี", "ไม่มี", "TRUE", "false"], k=rows),
        "province": [provinces[districts[p["district_code"]]["province_code"]] for p in places],
        "district": ["อ." + districts[p["district_code"]]["name_th"] for p in places],
        "subdistrict": ["ต." + p["name_th"] for p in places],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    data = {k: clean_series(pd.Series(v, dtype="str")) for k, v in columns(args.rows, args.seed).items()}
    from pipeline.dataset import FieldSpec

    rules = ThaiRules(Reference(REPO / "schemas" / "reference"))
    done = {"province": data["province"], "district": data["district"]}
    cases = [
        ("number", "amount", {}),
        ("integer", "people", {"units": ["คน"]}),
        ("boolean", "yes_no", {}),
        ("district", "district", {"province": "province"}),
        ("subdistrict", "subdistrict", {"district": "district", "province": "province"}),
    ]
    rules.subdistrict("สุเทพ")  # build the reference indexes outside the timing
    for name, column, options in cases:
        spec = FieldSpec(
            name=column, type="string", title="", constraints={"enum": []}, normalize=name, options=options
        )
        times = []
        for _ in range(3):
            start = time.perf_counter()
            REGISTRY[name].function(Column(data[column], spec, rules, done))
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        print(f"{name:12s} {args.rows:>9,} rows  {seconds:6.3f} s  {args.rows / seconds:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
