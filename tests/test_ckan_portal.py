"""The push against the real local CKAN portal (started by `make test` through portal/up.sh).

Each test publishes its own uniquely named dataset and organization, built by the real
pipeline from a small workbook, and purges them afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline import ckan
from pipeline.ckan import xloader
from pipeline.cli import main
from pipeline.errors import PortalError
from pipeline.publish import sha256_file
from pipeline.run import Config, build

from .conftest import DATASET, HEADER, REPO, entry, write_xlsx

pytestmark = pytest.mark.ckan

CKAN_URL = os.environ.get("CKAN_URL", ckan.DEFAULT_URL)


def portal_token() -> str:
    try:
        return ckan.read_token(default_file=REPO / ".ckan" / "apitoken")
    except Exception as exc:  # a clear failure, not a skip: these tests are part of `make test`
        pytest.fail(f"no CKAN API token for the test portal ({exc}); start it with `make ckan-up`")


@pytest.fixture(scope="module")
def admin() -> ckan.Portal:
    portal = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
    try:
        portal.call("status_show")
    except PortalError as exc:
        pytest.fail(f"the test portal at {CKAN_URL} is not running ({exc}); start it with `make ckan-up`")
    return portal


class Site:
    """A uniquely named copy of the contest dataset: its schemas, raw workbook and published folder."""

    def __init__(self, root: Path, admin: ckan.Portal) -> None:
        self.suffix = uuid.uuid4().hex[:8]
        self.name = f"ldic-test-{self.suffix}"
        self.org = f"test-org-{self.suffix}"
        self.root = root
        self.admin = admin
        self.schemas = root / "schemas"
        shutil.copytree(REPO / "schemas", self.schemas)
        (self.schemas / DATASET).rename(self.schemas / self.name)
        descriptor_path = self.schemas / self.name / "datapackage.json"
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
        descriptor["name"] = self.name
        descriptor["title"] = f"{descriptor['title']} {self.suffix}"  # the portal requires unique titles
        descriptor["x_portal"]["organization"]["name"] = self.org
        descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
        self.descriptor_path = descriptor_path
        self.raw = root / "raw"
        self.published = root / "published"
        self.rows = [entry(f"E-{i:03d}", org=f"อบต.ทดสอบ{i}", title=f"ระบบบริการ {i}") for i in range(1, 26)]

    def build(self) -> None:
        write_xlsx(self.raw / self.name / "entries.xlsx", {"ผลงาน": [HEADER, *self.rows]})
        results = build(Config(self.raw, self.published, self.root / "reports", self.schemas))
        assert results[0].status in ("published", "unchanged"), [i.line() for i in results[0].issues]

    def push(self, portal: ckan.Portal | None = None, dry_run: bool = False) -> list[ckan.Change]:
        return ckan.push(portal or self.fresh_portal(), self.published, self.schemas, dry_run=dry_run)

    def fresh_portal(self) -> ckan.Portal:
        return ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)

    def package(self) -> dict:
        return self.admin.call("package_show", id=self.name)

    def rows_on_portal(self) -> dict[str, dict]:
        resource = next(r for r in self.package()["resources"] if Path(r["url"]).name == "entries.csv")
        result = self.admin.call("datastore_search", resource_id=resource["id"], limit=32000)
        return {r["entry_id"]: r for r in result["records"]}

    def purge(self) -> None:
        for action, ident in (("dataset_purge", self.name), ("organization_purge", self.org)):
            with contextlib.suppress(Exception):
                self.admin.call(action, id=ident)


@pytest.fixture
def site(tmp_path: Path, admin: ckan.Portal) -> Iterator[Site]:
    s = Site(tmp_path, admin)
    yield s
    s.purge()


def actions(changes: list[ckan.Change]) -> set[tuple[str, str]]:
    return {(c.kind, c.action) for c in changes}


def test_first_push_creates_everything_and_datastore_equals_csv(site: Site) -> None:
    site.build()
    portal = site.fresh_portal()
    changes = site.push(portal)
    assert ("organization", "create") in actions(changes) and ("dataset", "create") in actions(changes)
    pkg = site.package()
    assert pkg["title"] == f"ผลงานที่ส่งเข้าประกวดนวัตกรรมท้องถิ่นดิจิทัล {site.suffix}"
    assert pkg["organization"]["name"] == site.org
    assert sorted(t["name"] for t in pkg["tags"]) == sorted(
        ["ท้องถิ่นดิจิทัล", "นวัตกรรม", "องค์กรปกครองส่วนท้องถิ่น", "รัฐบาลดิจิทัล"]
    )
    csv_resource = next(r for r in pkg["resources"] if Path(r["url"]).name == "entries.csv")
    local = site.published / site.name / "entries.csv"
    assert csv_resource["hash"] == "sha256:" + sha256_file(local)
    downloaded = requests.get(csv_resource["url"], timeout=30).content
    assert downloaded == local.read_bytes()
    rows = site.rows_on_portal()
    assert sorted(rows) == [f"E-{i:03d}" for i in range(1, 26)]
    assert rows["E-001"]["organization_name"] == "องค์การบริหารส่วนตำบลทดสอบ1"
    info = site.admin.call("datastore_info", id=csv_resource["id"])
    labels = {f["id"]: (f.get("info") or {}).get("label") for f in info["fields"]}
    assert labels["province"] == "จังหวัด" and labels["entry_id"] == "รหัสผลงาน"
    views = site.admin.call("resource_view_list", id=csv_resource["id"])
    assert "datatables_view" in {v["view_type"] for v in views}, "the DataStore preview on the dataset page"
    page = requests.get(f"{CKAN_URL}/dataset/{site.name}", timeout=30)
    assert page.status_code == 200 and "รายการผลงานที่ส่งเข้าประกวด" in page.text


def test_second_push_makes_zero_writes(site: Site) -> None:
    site.build()
    site.push()
    before = site.package()
    activity_before = site.admin.call("package_activity_list", id=site.name, limit=100)
    portal = site.fresh_portal()
    changes = site.push(portal)
    assert portal.writes == []
    assert {c.action for c in changes} == {"unchanged"}
    after = site.package()
    assert after["metadata_modified"] == before["metadata_modified"]
    assert site.admin.call("package_activity_list", id=site.name, limit=100) == activity_before


def test_one_row_change_updates_that_row_and_that_file_only(site: Site) -> None:
    site.build()
    site.push()
    untouched = site.rows_on_portal()["E-002"]
    site.rows[0] = entry("E-001", org="อบต.ทดสอบ1", title="ระบบบริการ ฉบับแก้ไข")
    site.build()
    portal = site.fresh_portal()
    changes = site.push(portal)
    store = next(c for c in changes if c.kind == "datastore")
    assert (store.counts["insert"], store.counts["update"], store.counts["delete"]) == (0, 1, 0)
    # the CSV, XLSX and JSON files changed (one upload each), one DataStore row, and the
    # table's completion mark; the old rows came from the previous file, not a read-back.
    # With xloader on the portal, the Excel copy's sha256 is written back after xloader's job
    # skipped it (see pipeline/ckan/xloader.py), and waiting for its jobs polls xloader_status.
    extra = 1 if xloader.present(portal) else 0
    assert sorted(portal.writes) == ["datastore_upsert"] + ["resource_patch"] * (4 + extra)
    assert portal.reads - xloader.status_reads(portal) < 15
    rows = site.rows_on_portal()
    assert rows["E-001"]["project_title"] == "ระบบบริการ ฉบับแก้ไข"
    assert rows["E-002"] == untouched


def test_removed_row_is_deleted_from_the_datastore(site: Site) -> None:
    site.build()
    site.push()
    del site.rows[4]  # E-005
    site.build()
    changes = site.push()
    store = next(c for c in changes if c.kind == "datastore")
    assert store.counts == {"insert": 0, "update": 0, "delete": 1}
    rows = site.rows_on_portal()
    assert "E-005" not in rows and len(rows) == 24


def test_plan_lists_changes_and_changes_nothing(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.build()
    args = ["--published-dir", str(site.published), "--schemas-dir", str(site.schemas), "--ckan-url", CKAN_URL]
    env_token = {"CKAN_API_TOKEN": portal_token()}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env_token.items():
            mp.setenv(k, v)
        assert main(["plan", *args]) == 0
        out = capsys.readouterr().out
        assert f"dataset      {site.name}: create" in out
        assert "datastore    รายการผลงานที่ส่งเข้าประกวด: create (rows: 25 insert, 0 update, 0 delete)" in out
        assert site.admin.show("package_show", id=site.name) is None
        assert site.admin.show("organization_show", id=site.org) is None
        assert main(["push", *args]) == 0
        capsys.readouterr()
        assert main(["plan", *args]) == 0
        out = capsys.readouterr().out
        assert "plan: 0 change(s)" in out
        assert portal_token() not in out


def test_portal_rejecting_metadata_is_a_clear_error_with_nothing_written(site: Site) -> None:
    descriptor = json.loads(site.descriptor_path.read_text(encoding="utf-8"))
    del descriptor["x_portal"]["gdcatalog"]["maintainer_email"]
    descriptor["x_portal"]["gdcatalog"]["data_category"] = "ข้อมูลลับมาก"
    site.descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    site.build()
    portal = site.fresh_portal()
    with pytest.raises(PortalError) as err:
        site.push(portal)
    message = str(err.value)
    assert "maintainer_email" in message and "data_category" in message
    assert portal.writes == []
    assert site.admin.show("organization_show", id=site.org) is None


def test_wrong_token_is_a_clear_error(site: Site) -> None:
    site.build()
    portal = ckan.Portal(CKAN_URL, "not-a-valid-token-" + site.suffix, retry_seconds=2)
    with pytest.raises(PortalError) as err:
        site.push(portal)
    assert "not authorized" in str(err.value) and "not-a-valid-token" not in str(err.value)
    assert site.admin.show("package_show", id=site.name) is None


def test_portal_serves_the_dataset_as_dcat_with_thai_title(site: Site) -> None:
    site.build()
    site.push()
    for path in (f"/dataset/{site.name}.jsonld", f"/dataset/{site.name}.ttl", "/catalog.ttl"):
        response = requests.get(f"{CKAN_URL}{path}", timeout=60)
        assert response.status_code == 200
        assert "ผลงานที่ส่งเข้าประกวดนวัตกรรมท้องถิ่นดิจิทัล" in response.content.decode("utf-8")
