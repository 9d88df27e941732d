"""`python -m benchmarks.engines --rows 1000000`: which engine should read a CSV too large for memory.

The bounded-memory build (`pipeline/stream.py`) reads a large CSV batch by batch. This measures
the engines it could read it with, on the same messy export (`benchmarks/big_csv.py`), each in
its own process (wall time and peak RSS), each turning every record into Arrow text columns
100,000 records at a time:
  pipeline     the project's reader (`read.csv_batches`: Python's csv module, record numbers,
               ragged records kept, blank rows dropped, a pandas frame per batch)
  python-csv   Python's csv module alone, batches made into Arrow text columns (the baseline)
  pyarrow      pyarrow.csv.open_csv, every column as text, ragged records counted and skipped
  polars       polars.scan_csv(...).collect_batches, every column as text, ragged records cut
  duckdb       duckdb.read_csv(all_varchar, null_padding, ignore_errors), fetched as Arrow batches
polars and duckdb are optional (`pip install polars duckdb`); an engine not installed is named
and skipped. What matters besides speed is printed too: whether the engine can tell the
physical record number of every row (a cell address in an error), and what it does with a
record that has more values than the header.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.run import REPO, median_run, timed
from benchmarks.stream import export

PY = sys.executable
BATCH = 100_000
CHILD = r"""
import json, sys, time
from pathlib import Path
engine, path = sys.argv[1], Path(sys.argv[2])
BATCH = int(sys.argv[3])
start = time.perf_counter()
records = ragged = 0
if engine == "pipeline":
    from pipeline.read import csv_batches
    for grid in csv_batches(path, path.name, {}, "utf-8-sig", BATCH):
        records += len(grid.cells)
elif engine == "python-csv":
    import csv, itertools
    import pyarrow as pa
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        width = len(next(reader))
        while chunk := list(itertools.islice(reader, BATCH)):
            ragged += sum(len(r) != width for r in chunk)
            rows = [r[:width] + [""] * (width - len(r)) for r in chunk]
            columns = [pa.array(c, type=pa.string()) for c in zip(*rows)]
            records += len(chunk)
elif engine == "pyarrow":
    import pyarrow as pa, pyarrow.csv as pacsv
    def skip(row):
        global ragged
        ragged += 1
        return "skip"
    with open(path, "rb") as fh:
        names = fh.readline().decode("utf-8-sig").rstrip("\r\n").split(",")
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(column_types={n.strip('"'): pa.string() for n in names}),
    )
    for batch in reader:
        records += batch.num_rows
elif engine == "polars":
    import polars as pl
    frames = pl.scan_csv(path, infer_schema=False, truncate_ragged_lines=True).collect_batches(chunk_size=BATCH)
    for frame in frames:
        frame.to_arrow()
        records += frame.height
elif engine == "duckdb":
    import duckdb
    # a record with more values than the header is an error to DuckDB, even with null_padding: skipped
    relation = duckdb.read_csv(str(path), all_varchar=True, null_padding=True, header=True, ignore_errors=True)
    for batch in relation.to_arrow_reader(BATCH):
        records += batch.num_rows
print(json.dumps({"records": records, "ragged": ragged, "work_seconds": round(time.perf_counter() - start, 3)}))
"""

ENGINES = ("pipeline", "python-csv", "pyarrow", "polars", "duckdb")
# what each engine gives the build besides text columns (from its documentation, checked on the export)
TRAITS = {
    "pipeline": "physical record numbers; ragged records kept (extra values warned about)",
    "python-csv": "physical record numbers (counted); ragged records seen one by one",
    "pyarrow": "no record numbers for rows (blocks are parsed in parallel); ragged records only skipped",
    "polars": "row index only (not the physical record with quoted line breaks); ragged records cut silently",
    "duckdb": "no physical record numbers; a record with extra values is an error (skipped here)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2564)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = REPO / "benchmarks" / "data"
    path = export(data, args.rows, args.seed)
    available = [e for e in ENGINES if e in ("pipeline", "python-csv", "pyarrow") or importlib.util.find_spec(e)]
    for engine in sorted(set(ENGINES) - set(available)):
        print(f"{engine}: not installed (pip install {engine}), skipped")
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in available}
    for _ in range(args.repeat):  # interleaved: a change in the machine's load hits every engine
        for engine in available:
            runs[engine].append(timed([PY, "-c", CHILD, engine, str(path), str(BATCH)]))
    size = path.stat().st_size
    print(f"\n{args.rows:,} records, {size / 1e9:.2f} GB (median of {args.repeat} runs, interleaved)")
    print(f"  {'engine':12} {'wall':>8} {'work':>8} {'x csv':>6} {'peak':>8}  {'records':>11} {'ragged':>7}  gives")
    results: dict[str, Any] = {}
    baseline = None
    for engine in available:
        run = median_run(runs[engine])
        if run["exit_code"] != 0:
            print(f"  {engine:12} FAILED: {run['stderr_tail'].strip().splitlines()[-1:]}")
            results[engine] = {"failed": run["stderr_tail"]}
            continue
        found = json.loads(run["stdout_tail"].strip().splitlines()[-1])
        if engine == "python-csv":
            baseline = found["work_seconds"]
        results[engine] = {**run, **found, "traits": TRAITS[engine]}
    for engine, r in results.items():
        if "failed" in r:
            continue
        ratio = f"{r['work_seconds'] / baseline:6.2f}" if baseline else "     -"
        print(
            f"  {engine:12} {r['seconds']:7.1f}s {r['work_seconds']:7.1f}s {ratio} {r['peak_rss_mb']:6,.0f}MB"
            f"  {r['records']:11,} {r['ragged']:7,}  {r['traits']}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": args.rows, "bytes": size, "engines": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
