"""The push with ckanext-xloader on the portal (as on data.go.th): the dataset ends exactly as
without it — DataStore typed from the Table Schema, Thai data dictionary, rows equal to the
CSV, no second (text-typed) load by xloader, zero writes on an unchanged re-push, converging
after a kill -9 — and first loads go through xloader's COPY."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline import ckan
from pipeline.ckan import xloader
from pipeline.publish import sha256_file

from .conftest import REPO, entry
from .test_ckan_portal import CKAN_URL, Site, portal_token

pytestmark = pytest.mark.ckan

COPY_ROWS = xloader.COPY_MIN_ROWS  # the smallest first load that goes through xloader's COPY
# the same portal without xloader (portal/up.sh starts it on CKAN_PORT + 50)
PLAIN_URL = os.environ.get("CKAN_PLAIN_URL") or f"http://127.0.0.1:{int(CKAN_URL.rsplit(':', 1)[1]) + 50}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    admin = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
    s = Site(tmp_path, admin)
    yield s
    s.purge()


def table_resource(site: Site) -> dict[str, Any]:
    return next(r for r in site.package()["resources"] if Path(r["url"]).name == "entries.csv")


def settle(site: Site, resource_id: str) -> dict[str, Any]:
    """Wait for any xloader job on the resource to finish, so nothing changes after we look."""
    return xloader.wait(site.admin, resource_id)


def assert_datastore_equals_csv(site: Site) -> None:
    res = table_resource(site)
    status = settle(site, res["id"])
    res = table_resource(site)
    local = site.published / site.name / "entries.csv"
    assert res["hash"] == "sha256:" + sha256_file(local), "the sha256 is back after xloader's md5"
    schema = {f["name"]: f for f in _schema(site)["fields"]}
    info = site.admin.call("datastore_info", id=res["id"])
    fields = {f["id"]: f for f in info["fields"] if not f["id"].startswith("_")}
    assert list(fields) == list(schema), "the columns of the Table Schema, in order"
    pg = {"string": "text", "integer": "int4", "number": "numeric", "date": "date", "boolean": "bool"}
    assert {k: f["type"] for k, f in fields.items()} == {k: pg[f.get("type", "string")] for k, f in schema.items()}
    assert {k: f["info"]["label"] for k, f in fields.items()} == {k: f["title"] for k, f in schema.items()}
    with local.open(encoding="utf-8-sig", newline="") as fh:
        want = sorted(tuple(row) for row in list(csv.reader(fh))[1:])
    got = []
    offset = 0
    while True:
        page = site.admin.call(
            "datastore_search",
            resource_id=res["id"],
            fields=list(schema),
            limit=32000,
            offset=offset,
            records_format="csv",
            sort="_id",
        )
        chunk = list(csv.reader(io.StringIO(page["records"])))
        got += [tuple(_canonical(v) for v in row) for row in chunk]
        if len(chunk) < 32000:
            break
        offset += 32000
    assert sorted(got) == want, "DataStore rows equal the CSV, each once"
    assert status.get("status") in (None, "complete"), status


def _canonical(value: str) -> str:
    return value[:10] if len(value) == 19 and value.endswith("T00:00:00") else value


def _schema(site: Site) -> dict[str, Any]:
    return json.loads((site.schemas / site.name / "entries.schema.json").read_text(encoding="utf-8"))


def test_portal_runs_xloader() -> None:
    assert xloader.present(ckan.Portal(CKAN_URL, portal_token()))


def test_small_first_push_keeps_xloader_from_reloading(site: Site) -> None:
    site.build()
    portal = site.fresh_portal()
    site.push(portal)
    assert "xloader_submit" not in portal.writes
    time.sleep(1.5)  # a queued xloader job would run now
    assert_datastore_equals_csv(site)
    again = site.fresh_portal()
    site.push(again)
    assert again.writes == [], "zero writes on an unchanged re-push"


def test_large_first_push_goes_through_xloader_copy_typed_and_then_one_row_sends_one_row(site: Site) -> None:
    site.rows = [entry(f"E-{i:05d}", org=f"อบต.ทดสอบ{i}", title=f"ระบบ {i}") for i in range(1, COPY_ROWS + 1)]
    site.build()
    portal = site.fresh_portal()
    changes = site.push(portal)
    store = next(c for c in changes if c.kind == "datastore")
    assert store.counts["insert"] == COPY_ROWS and "xloader" in store.detail
    assert "datastore_upsert" not in portal.writes, "the rows went through COPY, not the API"
    assert_datastore_equals_csv(site)
    again = site.fresh_portal()
    site.push(again)
    assert again.writes == []
    site.rows[7] = entry("E-00008", org="อบต.แก้ไขแล้ว", title="ระบบที่แก้ไข")
    site.build()
    changed = site.fresh_portal()
    changes = site.push(changed)
    store = next(c for c in changes if c.kind == "datastore")
    assert store.counts == {"insert": 0, "update": 1, "delete": 0}
    assert changed.writes.count("datastore_upsert") == 1
    assert_datastore_equals_csv(site)


def test_killed_during_the_copy_load_then_rerun_converges(site: Site) -> None:
    site.rows = [entry(f"E-{i:05d}", org=f"อบต.ทดสอบ{i}", title=f"ระบบ {i}") for i in range(1, COPY_ROWS + 1)]
    site.build()
    env = {**os.environ, "CKAN_API_TOKEN": portal_token(), "CKAN_URL": CKAN_URL}
    args = [sys.executable, "-m", "pipeline", "push", "-q", "--published-dir", str(site.published)]
    child = subprocess.Popen(
        [*args, "--schemas-dir", str(site.schemas)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    resource = None
    while time.monotonic() < deadline and child.poll() is None:
        pkg = site.admin.show("package_show", id=site.name)
        resource = next((r for r in (pkg or {}).get("resources", []) if r.get("datastore_active")), None)
        if resource:
            break
        time.sleep(0.05)
    assert resource is not None, "the push reached the DataStore load"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    portal = site.fresh_portal()
    site.push(portal)
    assert_datastore_equals_csv(site)
    again = site.fresh_portal()
    site.push(again)
    assert again.writes == []


def test_a_portal_without_xloader_keeps_the_plain_path(site: Site) -> None:
    plain = ckan.Portal(PLAIN_URL, portal_token(), retry_seconds=5)
    assert not xloader.present(plain), "status_show of the portal without xloader does not list it"
    site.rows = [entry(f"E-{i:05d}", org=f"อบต.ทดสอบ{i}", title=f"ระบบ {i}") for i in range(1, COPY_ROWS + 1)]
    site.build()
    changes = ckan.push(plain, site.published, site.schemas)
    store = next(c for c in changes if c.kind == "datastore")
    assert store.counts["insert"] == COPY_ROWS and "xloader" not in store.detail
    assert "datastore_upsert" in plain.writes and xloader.status_reads(plain) == 0
    assert_datastore_equals_csv(site)
    again = ckan.Portal(PLAIN_URL, portal_token())
    ckan.push(again, site.published, site.schemas)
    assert again.writes == []
