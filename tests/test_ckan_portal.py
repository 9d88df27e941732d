"""The push against the real local CKAN portal (started by `make test` through portal/up.sh).

Each test publishes its own uniquely named dataset and organization, built by the real
pipeline from a small workbook, and purges them afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import requests

from pipeline import ckan
from pipeline.ckan import xloader
from pipeline.ckan.change import NOTE_KINDS
from pipeline.cli import main
from pipeline.errors import ConfigError, PortalError
from pipeline.publish import sha256_file
from pipeline.run import Config, build

from .conftest import DATASET, HEADER, REPO, entry, write_xlsx
from .generated_push import Generated, tally_rows, training_rows

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
        write_xlsx(self.raw / self.name / "contest.xlsx", {"ผลงาน": [HEADER, *self.rows]})
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


# ---------------------------------------------------------------------------- the token and the portal (issue 13)


def test_dataset_of_the_same_name_in_another_organization_is_refused_before_any_write(site: Site) -> None:
    other = f"other-org-{site.suffix}"
    descriptor = json.loads(site.descriptor_path.read_text(encoding="utf-8"))
    descriptor["x_portal"]["organization"]["name"] = other
    site.descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    site.build()
    try:
        site.push()  # someone else's dataset of the same name, in their organization
        theirs = site.package()
        descriptor["x_portal"]["organization"]["name"] = site.org
        site.descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
        site.rows[0] = entry("E-001", title="ของเรา")
        site.build()
        for dry_run in (True, False):
            portal = site.fresh_portal()
            with pytest.raises(PortalError) as err:
                site.push(portal, dry_run=dry_run)
            assert other in str(err.value) and site.org in str(err.value) and "nothing was changed" in str(err.value)
            assert portal.writes == []
        after = site.package()
        assert after["organization"]["name"] == other
        assert after["metadata_modified"] == theirs["metadata_modified"]
        assert site.admin.show("organization_show", id=site.org) is None
    finally:
        site.purge()
        with contextlib.suppress(Exception):
            site.admin.call("organization_purge", id=other)


def test_resource_paths_outside_the_dataset_folder_are_refused(site: Site) -> None:
    site.build()
    secret = site.root / "secret.txt"
    secret.write_text("not for the portal", encoding="utf-8")
    folder = site.published / site.name
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    package["resources"][1]["path"] = "../../secret.txt"
    package["resources"][2]["path"] = str(secret)
    (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    (folder / "link.csv").symlink_to(secret)
    package["resources"].append({**package["resources"][2], "path": "link.csv"})
    (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    portal = site.fresh_portal()
    with pytest.raises(ConfigError) as err:
        site.push(portal)
    message = str(err.value)
    assert "'../../secret.txt'" in message and repr(str(secret)) in message and "'link.csv'" in message
    assert portal.writes == []
    assert site.admin.show("package_show", id=site.name) is None


def test_a_link_inside_the_dataset_folder_is_still_pushed(site: Site) -> None:
    site.build()
    folder = site.published / site.name
    (folder / "copy.json").symlink_to(folder / "entries.json")
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    package["resources"].append({**package["resources"][2], "path": "copy.json", "name": "copy", "title": "สำเนา"})
    (folder / "datapackage.json").write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    site.push()
    assert "copy.json" in {r["url"].rsplit("/", 1)[-1] for r in site.package()["resources"]}


@pytest.mark.parametrize("spelling", ["{name}/", "./{name}", "./{name}/"])
def test_dataset_option_takes_the_folder_as_typed_or_completed(
    site: Site, spelling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_xlsx(site.raw / site.name / "contest.xlsx", {"ผลงาน": [HEADER, *site.rows]})
    paths = ["--published-dir", str(site.published), "--schemas-dir", str(site.schemas)]
    build_args = ["build", "-q", "--raw-dir", str(site.raw), "--reports-dir", str(site.root / "reports"), *paths]
    assert main([*build_args, "--dataset", spelling.format(name=site.name)]) == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKAN_API_TOKEN", portal_token())
        code = main(["plan", *paths, "--ckan-url", CKAN_URL, "--dataset", spelling.format(name=site.name)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"dataset      {site.name}: create" in out.out


@pytest.mark.parametrize("spelling", ["..", "a/b", " ", "../{name}"])
def test_dataset_option_that_is_not_a_name_is_a_usage_error(
    site: Site, spelling: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--dataset", spelling.format(name=site.name), "--ckan-url", CKAN_URL]) == 2
    assert "is not a dataset name" in capsys.readouterr().err


def test_push_of_a_dataset_that_is_not_published_names_it(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.build()
    paths = ["--published-dir", str(site.published), "--schemas-dir", str(site.schemas), "--ckan-url", CKAN_URL]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKAN_API_TOKEN", portal_token())
        assert main(["push", *paths, "--dataset", site.name, "--dataset", "no-such-dataset"]) == 2
    assert "no-such-dataset" in capsys.readouterr().err
    assert site.admin.show("package_show", id=site.name) is None


# ---------------------------------------------------------------------------- datasets of other shapes (issue 12)


@pytest.fixture
def generated(tmp_path: Path, admin: ckan.Portal) -> Iterator[tuple[Generated, Generated]]:
    """Two generated datasets in one organization: a composite key with typed columns, and no key."""
    suffix = uuid.uuid4().hex[:8]
    org = f"test-org-{suffix}"
    rng = random.Random(12)
    keyed = Generated(tmp_path, f"gen-training-{suffix}", org, "training", training_rows(rng, 40))
    keyless = Generated(tmp_path, f"gen-tally-{suffix}", org, "tally", tally_rows(rng, 17))
    yield keyed, keyless
    for action, ident in (("dataset_purge", keyed.name), ("dataset_purge", keyless.name), ("organization_purge", org)):
        with contextlib.suppress(Exception):
            admin.call(action, id=ident)


def cli_json(command: str, root: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    args = ["--json", "--published-dir", str(root / "published"), "--schemas-dir", str(root / "schemas")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CKAN_API_TOKEN", portal_token())
        code = main([command, *args, "--ckan-url", CKAN_URL])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def counted(doc: dict) -> tuple[int, list[tuple]]:
    rows = [
        (c["kind"], c["name"], c["action"], c.get("insert"), c.get("update"), c.get("delete"))
        for c in doc["changes"]
        if c["kind"] not in NOTE_KINDS  # what the plan tells besides (licence mapping, rules not checked)
    ]
    return doc["pending"], rows


def as_text(value: object, kind: str) -> str:
    """One spelling per value, written here independently of the push's own comparison."""
    if value is None or value == "":
        return ""
    if kind in ("number", "integer"):
        return format(Decimal(str(value)).normalize(), "f")
    if kind == "boolean":
        return str(value).lower()
    return str(value)[:10] if kind == "date" else str(value)


def table_on_portal(admin: ckan.Portal, g: Generated) -> list[tuple[str, ...]]:
    resource = admin.call("package_show", id=g.name)["resources"][0]
    names = [f["name"] for f in g.schema["fields"]]
    records = admin.call(
        "datastore_search", resource_id=resource["id"], fields=names, limit=32000, records_format="lists"
    )["records"]
    kinds = [f["type"] for f in g.schema["fields"]]
    return sorted(tuple(as_text(v, k) for v, k in zip(r, kinds, strict=True)) for r in records)


def table_published(g: Generated) -> list[tuple[str, ...]]:
    kinds = [f["type"] for f in g.schema["fields"]]
    return sorted(tuple(as_text(v, k) for v, k in zip(r, kinds, strict=True)) for r in g.rows)


def datastore_counts(doc: dict) -> dict[str, tuple[int, int, int]]:
    return {c["name"]: (c["insert"], c["update"], c["delete"]) for c in doc["changes"] if c["kind"] == "datastore"}


def test_plan_and_push_count_the_same_changes_on_datasets_of_other_shapes(
    generated: tuple[Generated, Generated], admin: ckan.Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed, keyless = generated
    root = keyed.root
    plan, push = cli_json("plan", root, capsys), cli_json("push", root, capsys)
    assert counted(plan) == counted(push)
    assert [c["action"] for c in push["changes"] if c["kind"] == "organization"] == ["create", "unchanged"]
    assert table_on_portal(admin, keyed) == table_published(keyed)
    assert table_on_portal(admin, keyless) == table_published(keyless)  # 18 rows, one of them twice
    assert len(table_on_portal(admin, keyless)) == 18

    keyed.rows[0][3] = str(int(keyed.rows[0][3]) + 1)  # two values changed: two updates
    keyed.rows[1][6] = "เลื่อนการอบรม"
    province, course = keyed.rows[2][0], keyed.rows[2][1]
    keyed.rows.append([province, course, "2025-01-01", "5", "0.50", "true", ""])  # same key prefix, new date
    keyed.rows.append([province, "หลักสูตรใหม่", "2025-01-02", "6", "10", "false", ""])
    del keyed.rows[2:5]  # three deleted, by a three-column key
    keyless.rows[1][2] = str((int(keyless.rows[1][2]) + 1) % 10)  # a changed row: one delete, one insert
    keyless.rows.pop()  # one of the two identical rows
    keyless.rows.append(["อำเภอ9", "ค", "7"])
    keyed.write()
    keyless.write()
    plan, push = cli_json("plan", root, capsys), cli_json("push", root, capsys)
    assert counted(plan) == counted(push)
    assert datastore_counts(push) == {"training.csv": (2, 2, 3), "tally.csv": (2, 0, 2)}
    assert table_on_portal(admin, keyed) == table_published(keyed)
    assert table_on_portal(admin, keyless) == table_published(keyless)

    plan, push = cli_json("plan", root, capsys), cli_json("push", root, capsys)
    assert plan["pending"] == push["pending"] == 0 and push["write_calls"] == 0


def test_rows_read_back_from_the_portal_compare_equal_to_the_csv(
    generated: tuple[Generated, Generated], admin: ckan.Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the completion mark (as after an interrupted push) every row is read back typed
    (7.50 as 7.5, true as True): an unchanged table must still count zero row changes."""
    keyed, keyless = generated
    cli_json("push", keyed.root, capsys)
    for g in generated:
        resource = admin.call("package_show", id=g.name)["resources"][0]
        admin.call("resource_patch", id=resource["id"], **{ckan.DATASTORE_MARK: ""})
    plan = cli_json("plan", keyed.root, capsys)
    assert datastore_counts(plan) == {"training.csv": (0, 0, 0), "tally.csv": (0, 0, 0)}
    assert any("." in r[4] and r[4].endswith("0") for r in keyed.rows), "the generated budgets include a 7.50"


def test_a_table_keyed_on_another_column_is_rebuilt_and_synced_row_for_row(
    generated: tuple[Generated, Generated], admin: ckan.Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table an older push keyed on its first column (17 rows became 15) is rebuilt, not patched."""
    _, keyless = generated
    full, shape = list(keyless.rows), keyless.schema
    keyless.schema = {**shape, "primaryKey": ["district"]}
    keyless.rows = list({r[0]: r for r in full}.values())
    keyless.write()
    cli_json("push", keyless.root, capsys)
    keyless.schema, keyless.rows = shape, full
    keyless.write()
    push = cli_json("push", keyless.root, capsys)
    store = next(c for c in push["changes"] if c["name"] == "tally.csv" and c["kind"] == "datastore")
    assert "table rebuilt" in store["detail"]
    assert table_on_portal(admin, keyless) == table_published(keyless)
    assert cli_json("plan", keyless.root, capsys)["pending"] == 0


def test_a_schema_s_own_notation_reaches_the_datastore_as_values(tmp_path: Path, admin: ckan.Portal) -> None:
    """`1.234,5` under decimalChar ",", `ใช่` under trueValues and `-` as the missing value are
    published as keyed; the typed DataStore gets the values they spell, and a re-push sends nothing."""
    suffix = uuid.uuid4().hex[:8]
    rows = [["A1", "1.234,5", "7", "ใช่"], ["A2", "-", "-", "ไม่ใช่"], ["A3", "0,25", "1200", "-"]]
    g = Generated(tmp_path, f"gen-notation-{suffix}", f"test-org-{suffix}", "notation", rows)
    try:
        ckan.push(ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5), g.published, g.schemas, dry_run=False)
        resource = admin.call("package_show", id=g.name)["resources"][0]
        records = admin.call("datastore_search", resource_id=resource["id"], sort="code")["records"]
        got = [(r["code"], r["amount"], r["count"], r["open"]) for r in records]
        assert [(c, None if a is None else Decimal(str(a)), n, o) for c, a, n, o in got] == [
            ("A1", Decimal("1234.5"), 7, True),
            ("A2", None, None, False),
            ("A3", Decimal("0.25"), 1200, None),
        ]
        again = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
        ckan.push(again, g.published, g.schemas, dry_run=False)
        assert again.writes == []
    finally:
        for action, ident in (("dataset_purge", g.name), ("organization_purge", g.org)):
            with contextlib.suppress(Exception):
                admin.call(action, id=ident)


def test_a_first_load_in_several_batches_equals_the_csv(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CSV is read and sent a few rows at a time, several batches in flight: every row once."""
    from pipeline.ckan import datastore

    monkeypatch.setattr(datastore, "INSERT_BATCH", 4)
    monkeypatch.setattr(datastore, "READ_BLOCK", 2048)  # Arrow parses a few rows at a time too
    monkeypatch.setenv("CKAN_XLOADER_COPY", "0")
    monkeypatch.setenv(datastore.PARALLEL_SWITCH, "3")
    site.build()
    portal = site.fresh_portal()
    site.push(portal)
    assert portal.writes.count("datastore_upsert") == 7  # 25 rows, 4 at a time
    local = pd.read_csv(site.published / site.name / "entries.csv", dtype=str, keep_default_na=False)
    rows = site.rows_on_portal()
    assert sorted(rows) == sorted(local["entry_id"])
    for want in local.to_dict(orient="records"):
        have = rows[want["entry_id"]]
        assert want["project_title"] == have["project_title"] and want["organization_name"] == have["organization_name"]
    again = site.fresh_portal()
    site.push(again)
    assert again.writes == []


def test_a_change_diffed_in_batches_sends_only_the_changed_rows(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Diffed against the previous file a few rows at a time: two changed rows far apart go in
    one batch, nothing else is sent."""
    from pipeline.ckan import datastore

    site.build()
    site.push()
    monkeypatch.setattr(datastore, "READ_BLOCK", 2048)
    site.rows[1] = entry("E-002", org="อบต.ทดสอบ2", title="ระบบที่แก้ไขแล้ว ก")
    site.rows[22] = entry("E-023", org="อบต.ทดสอบ23", title="ระบบที่แก้ไขแล้ว ข")
    site.build()
    portal = site.fresh_portal()
    changes = site.push(portal)
    store = next(c for c in changes if c.kind == "datastore")
    assert store.counts == {"insert": 0, "update": 2, "delete": 0}
    assert portal.writes.count("datastore_upsert") == 1
    rows = site.rows_on_portal()
    assert rows["E-002"]["project_title"] == "ระบบที่แก้ไขแล้ว ก" and rows["E-023"]["project_title"] == "ระบบที่แก้ไขแล้ว ข"


def test_a_new_key_or_data_dictionary_on_the_same_file_reaches_the_table(
    generated: tuple[Generated, Generated], admin: ckan.Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's completion mark alone would say "unchanged": the same CSV under another
    primaryKey is a table rebuilt on that key, and new field titles are its data dictionary."""
    keyed, _ = generated
    cli_json("push", keyed.root, capsys)
    file_bytes = keyed.csv_path.read_bytes()

    def datastore_change() -> dict:
        push = cli_json("push", keyed.root, capsys)
        assert keyed.csv_path.read_bytes() == file_bytes, "the file itself did not change"
        return next(c for c in push["changes"] if c["kind"] == "datastore" and c["name"] == "training.csv")

    keyed.schema = {**keyed.schema, "primaryKey": ["province", "course", "held_on", "participants"]}
    keyed.write()
    assert "table rebuilt" in datastore_change()["detail"]
    resource = admin.call("package_show", id=keyed.name)["resources"][0]
    info = admin.call("datastore_info", id=resource["id"])
    indexed = {f["id"] for f in info["fields"] if (f.get("schema") or {}).get("is_index")}
    assert indexed == {"province", "course", "held_on", "participants"}
    assert table_on_portal(admin, keyed) == table_published(keyed)

    fields = [dict(f, title="หมายเหตุอื่น ๆ") if f["name"] == "note" else f for f in keyed.schema["fields"]]
    keyed.schema = {**keyed.schema, "fields": fields}
    keyed.write()
    assert datastore_change()["detail"].startswith("data dictionary")
    info = admin.call("datastore_info", id=resource["id"])
    assert next(f for f in info["fields"] if f["id"] == "note")["info"]["label"] == "หมายเหตุอื่น ๆ"
    assert cli_json("plan", keyed.root, capsys)["pending"] == 0
