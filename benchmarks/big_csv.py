"""A messy CSV export of any size for the bounded-memory build, written row by row.

The rows of `benchmarks/generate.py` (Thai digits, BE years, abbreviated names, Thai dates,
personal-data columns, a share of defective rows), plus what a system's export gets wrong
across a large file: exact duplicate rows (some far apart), entry ids keyed twice, a blank
line, the header again in the middle, a spare value under no header, a control character,
invisible bidi marks and a formula-like title.

    python -m benchmarks.big_csv --rows 10000000 [--errors 0.01] [--messy 0.01] [--seed 2564] --out FILE.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

from benchmarks.generate import HEADER, rows


def messy_rows(n: int, errors: float, seed: int, messy: float = 0.01) -> Iterator[list[str]]:
    """`n` records after the header, as text. `errors`: share of rows with a defect the build
    refuses (and a formula and a control character now and then); `messy`: share of rows with
    what it only warns about (exact duplicates, invisible marks)."""
    rng = random.Random(seed + 1)
    recent: list[list[str]] = []
    for i, row in enumerate(rows(n, errors, seed)):
        record = [v.isoformat() if isinstance(v, dt.date) else str(v) for v in row]
        roll = rng.random()
        if roll < messy / 2 and recent:
            yield list(rng.choice(recent))  # an exact duplicate of a recent row
            continue
        if roll < messy:
            if rng.random() < 0.5:
                record[5] = record[5] + "\u200e"  # an invisible bidi mark
            else:
                record[0] = record[0] + "\u200f"  # … in a key
        if errors and i % 997 == 500:
            record[5] = '=HYPERLINK("http://example.org","คลิก")'
        if errors and i % 1_999 == 1_000:
            record[2] = record[2] + "\x07"
        if messy and i % 5_003 == 2_500:
            record.append("ค่าเกิน")  # a value under no header
        if messy and i % 20_011 == 10_000:
            yield []  # a blank line
        if messy and i % 50_021 == 25_000:
            yield list(HEADER)  # the header again
        if len(recent) < 64:
            recent.append(record)
        elif rng.random() < 0.01:
            recent[rng.randrange(64)] = record
        yield record


def write(path: Path, n: int, errors: float, seed: int, messy: float = 0.01) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        out.writerows(messy_rows(n, errors, seed, messy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--errors", type=float, default=0.0, help="share of rows with a defect the build refuses")
    parser.add_argument("--messy", type=float, default=0.01, help="share of rows with what the build warns about")
    parser.add_argument("--seed", type=int, default=2564)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write(args.out, args.rows, args.errors, args.seed, args.messy)


if __name__ == "__main__":
    main()
