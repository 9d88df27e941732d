"""`python -m benchmarks.stream --rows 1000000`: the bounded-memory CSV build against the in-memory one.

A messy CSV export (`benchmarks/big_csv.py`: duplicates, invisible marks, a repeated header …,
warnings only, so the build publishes) is generated once per size under benchmarks/data/, then
built in child processes (wall time and peak RSS each), interleaved and repeated:
  in-memory   the whole table in memory (`stream_bytes=None`), skipped with --no-memory
  streamed    batch by batch (`stream_bytes=0`)
The median run of each is reported, with seconds per million rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import DATASET, REPO, median_run, timed

PY = sys.executable
CHILD = """
import sys, time
from pathlib import Path
from pipeline.cli import use_system_allocator
from pipeline.run import Config, build
use_system_allocator()  # as `make` runs it
raw, out, stream_bytes = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
config = Config(raw, out / "published", out / "reports", Path("schemas"), force=True,
                stream_bytes=None if stream_bytes == "none" else int(stream_bytes))
start = time.perf_counter()
[result] = build(config)
print(result.status, result.summary.rows_published, round(time.perf_counter() - start, 3))
sys.exit(0 if result.status == "published" else 1)
"""


def export(data: Path, rows: int, seed: int) -> Path:
    path = data / f"csv-{rows}-{seed}" / DATASET / "export.csv"
    if not path.exists():
        print(f"generating {path} …", flush=True)
        start = time.perf_counter()
        subprocess.run(
            [PY, "-m", "benchmarks.big_csv", "--rows", str(rows), "--seed", str(seed), "--out", str(path)],
            cwd=REPO,
            check=True,
        )
        print(f"  generated in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2564)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="the streamed build only (a table too large)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = REPO / "benchmarks" / "data"
    path = export(data, args.rows, args.seed)
    modes = {"streamed": "0"} if args.no_memory else {"in-memory": "none", "streamed": "0"}
    runs: dict[str, list] = {m: [] for m in modes}
    for _ in range(args.repeat):
        for mode, stream_bytes in modes.items():
            out = data / f"out-{args.rows}-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            run = timed([PY, "-c", CHILD, str(path.parents[1]), str(out), stream_bytes])
            print(mode, run["seconds"], "s", run["peak_rss_mb"], "MB", run["stdout_tail"].strip(), flush=True)
            if run["exit_code"]:
                sys.exit(f"{mode} build failed: {run['stderr_tail']}")
            runs[mode].append(run)
    report = {"rows": args.rows, "bytes": path.stat().st_size}
    for mode, found in runs.items():
        chosen = median_run(found)
        chosen["seconds_per_million_rows"] = round(chosen["seconds"] / args.rows * 1e6, 2)
        report[mode] = {k: v for k, v in chosen.items() if k not in ("stdout_tail", "stderr_tail")}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
