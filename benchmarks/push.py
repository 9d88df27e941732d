"""`make bench-push ROWS=100000`: the push against the local portal, timed against a bare
DataStore insert loop measured in the same run.

  (a) baseline: datastore_create + datastore_upsert(method=insert) in 10,000-row batches of
      the same rows, straight through ckanapi, on a scratch resource
  (b) first push of the published dataset through the DataStore API (files uploaded, table
      created and loaded in batches; xloader, when the portal runs it, kept from reloading)
  (b2) the same first push through the fast path: xloader's PostgreSQL COPY into the typed table
      the push defines (the dataset purged in between, so both are first loads)
  (c) one row changed: rebuild, push — only that row may be sent
  (d) push again with nothing changed: zero writes
Rows/s are end to end: metadata, three file uploads, the table, the checks. Each push runs in a
process of its own, which reports its peak memory (max RSS), so that the figure is the push's.
Needs the local portal (`make ckan-up`) or CKAN_URL + CKAN_API_TOKEN(_FILE).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import resource
import shutil
import sys
import time
import uuid
import zipfile
from pathlib import Path

import ckanapi

from benchmarks.generate import write_xlsx
from pipeline import ckan
from pipeline.ckan import xloader
from pipeline.run import Config, build

REPO = Path(__file__).resolve().parents[1]
DATASET = "local-digital-innovation-contest"


def _push_child(url: str, token: str, published: str, schemas: str, environ: dict[str, str], out: object) -> None:
    os.environ.update(environ)
    portal = ckan.Portal(url, token)
    start = time.perf_counter()
    changes = ckan.push(portal, Path(published), Path(schemas))
    seconds = time.perf_counter() - start
    store = next(c for c in changes if c.kind == "datastore")
    out.put(  # type: ignore[attr-defined]
        {
            "seconds": seconds,
            "detail": store.detail,
            "counts": store.counts,
            "writes": list(portal.writes),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM: its own, where ru_maxrss would also count the
    parent it was forked from before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def timed_push(url: str, token: str, published: Path, schemas: Path, **environ: str) -> dict[str, object]:
    """One push in a fresh process (spawned: nothing inherited), timed and with its peak memory."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_push_child, args=(url, token, str(published), str(schemas), environ, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def change_cell(workbook: Path, ref: str, text: str) -> None:
    """Rewrite one inline-string cell in the sheet's XML (openpyxl would load a million rows)."""
    changed = workbook.with_suffix(".changed.xlsx")
    with zipfile.ZipFile(workbook) as src, zipfile.ZipFile(changed, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                cell = f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()
                data, found = re.subn(rf'<c r="{ref}"[^>]*>.*?</c>'.encode(), cell, data, count=1)
                assert found == 1, f"cell {ref} not found"
            dst.writestr(item, data)
    changed.replace(workbook)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    url = os.environ.get("CKAN_URL", ckan.DEFAULT_URL)
    token = ckan.read_token(default_file=REPO / ".ckan" / "apitoken")
    work = REPO / "benchmarks" / "data" / f"push-{args.rows}"
    shutil.rmtree(work, ignore_errors=True)
    suffix = uuid.uuid4().hex[:8]
    name, org = f"bench-{suffix}", f"bench-org-{suffix}"
    schemas = work / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    (schemas / DATASET).rename(schemas / name)
    descriptor_path = schemas / name / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    descriptor["name"] = name
    descriptor["title"] = f"{descriptor['title']} {suffix}"  # the portal requires unique titles
    descriptor["x_portal"]["organization"]["name"] = org
    descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    raw, published = work / "raw", work / "published"
    workbook = raw / name / "contest.xlsx"
    write_xlsx(workbook, args.rows, 0.0, 2564)
    assert build(Config(raw, published, work / "reports", schemas))[0].status == "published"
    admin = ckanapi.RemoteCKAN(url, apikey=token)
    results: dict[str, object] = {"rows": args.rows}
    try:
        # (a) bare insert loop of the same rows
        schema = json.loads((schemas / name / "entries.schema.json").read_text(encoding="utf-8"))
        rows = ckan.published_rows(published / name / "entries.csv", schema)
        records = [{k: (v or None) for k, v in r.items()} for r in rows.to_dict(orient="records")]
        admin.action.organization_create(name=f"{org}-raw")
        pkg = admin.action.package_create(
            name=f"{name}-raw",
            owner_org=f"{org}-raw",
            title="bench",
            notes="bench",
            tag_string="bench",
            **{k: v for k, v in descriptor["x_portal"]["gdcatalog"].items() if k != "objective"},
            objective=["พันธกิจหน่วยงาน"],
            license_id="Creative Commons Attributions",
        )
        start = time.perf_counter()
        table = admin.action.datastore_create(
            resource={"package_id": pkg["id"], "name": "raw"},
            fields=ckan.datastore_fields(schema),
            primary_key=["entry_id"],
            force=True,
        )
        for i in range(0, len(records), ckan.INSERT_BATCH):
            admin.action.datastore_upsert(
                resource_id=table["resource_id"],
                records=records[i : i + ckan.INSERT_BATCH],
                method="insert",
                force=True,
            )
        results["baseline_insert_s"] = round(time.perf_counter() - start, 2)
        results["baseline_rows_per_s"] = round(args.rows / results["baseline_insert_s"])
        # (b) first push through the DataStore API, (b2) through xloader's COPY
        for label, copy in (("first_push", "0"), ("fast_first_push", "1")):
            run = timed_push(url, token, published, schemas, **{xloader.COPY_SWITCH: copy})
            results[f"{label}_s"] = round(run["seconds"], 2)
            results[f"{label}_rows_per_s"] = round(args.rows / run["seconds"])
            results[f"{label}_over_baseline"] = round(run["seconds"] / results["baseline_insert_s"], 2)
            results[f"{label}_datastore"] = run["detail"]
            results[f"{label}_peak_rss_mb"] = run["peak_rss_mb"]
            if copy == "0":  # purged, so that the fast path's push is a first load too
                admin.call_action("dataset_purge", {"id": name})
        results["fast_path"] = "xloader COPY" if xloader.present(ckan.Portal(url, token)) else "none (no xloader)"
        # (c) one row changed
        change_cell(workbook, "F4", "โครงการที่แก้ไขแล้ว ระยะที่ 9")
        build(Config(raw, published, work / "reports", schemas))
        run = timed_push(url, token, published, schemas)
        results["one_row_push_s"] = round(run["seconds"], 2)
        results["one_row_push_rows_sent"] = run["counts"]
        results["one_row_push_writes"] = run["writes"]
        results["one_row_push_peak_rss_mb"] = run["peak_rss_mb"]
        # (d) nothing changed
        run = timed_push(url, token, published, schemas)
        results["noop_push_s"] = round(run["seconds"], 2)
        results["noop_push_writes"] = len(run["writes"])
        results["noop_push_peak_rss_mb"] = run["peak_rss_mb"]
    finally:
        for action, ident in (
            ("dataset_purge", name),
            ("dataset_purge", f"{name}-raw"),
            ("organization_purge", org),
            ("organization_purge", f"{org}-raw"),
        ):
            with contextlib.suppress(ckanapi.CKANAPIError):
                admin.call_action(action, {"id": ident})
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
