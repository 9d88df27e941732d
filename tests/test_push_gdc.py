"""The push against a portal that mirrors data.go.th (GD Catalog schema of ckanext-thai_gdc 2.1.0):
licence mapped to the portal's choices, every rule the portal states checked by `plan` before
any write, Thai resource names, every optional GD Catalog field settable from the descriptor."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline import ckan
from pipeline.errors import PortalError

from .test_ckan_portal import CKAN_URL, Site, portal_token

pytestmark = pytest.mark.ckan


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    admin = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
    s = Site(tmp_path, admin)
    yield s
    s.purge()


def edit(site: Site, change: Any) -> None:
    """Change the site's descriptor (schemas/<name>/datapackage.json) in place."""
    descriptor = json.loads(site.descriptor_path.read_text(encoding="utf-8"))
    change(descriptor)
    site.descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")


def test_cc_by_goes_as_the_portals_creative_commons_attributions_and_is_open(site: Site) -> None:
    site.build()
    site.push()
    pkg = site.package()
    assert pkg["license_id"] == "Creative Commons Attributions"
    assert pkg["isopen"] is True
    assert not pkg.get("license_id_other")


def test_a_licence_off_the_portals_list_goes_as_other_with_its_title(site: Site) -> None:
    def cc0(d: dict[str, Any]) -> None:
        d["licenses"] = [{"name": "CC0-1.0", "title": "CC0", "path": "https://creativecommons.org/publicdomain/zero/1.0/"}]
        del d["x_portal"]["license_id"]

    edit(site, cc0)
    site.build()
    site.push()
    pkg = site.package()
    assert pkg["license_id"] == "อื่นๆ"
    assert pkg["license_id_other"] == "Creative Commons CCZero 1.0 (CC0-1.0)"


def test_plan_lists_every_broken_portal_rule_at_once_and_push_refuses_before_any_write(site: Site) -> None:
    site.build()
    taken = f"ชื่อที่มีผู้ใช้แล้ว {site.suffix}"
    other = f"other-{site.suffix}"
    site.admin.call("organization_create", name=site.org)
    site.admin.call("package_create", **_valid_metadata(other, taken, site.org))
    try:

        def broken(d: dict[str, Any]) -> None:
            d["title"] = taken
            d["x_portal"]["gdcatalog"]["maintainer_email"] = "opendata at example.go.th"
            d["x_portal"]["gdcatalog"]["data_category"] = "ข้อมูลลับมาก"  # no อื่นๆ for this field
            d["x_portal"]["gdcatalog"]["created_date"] = "30/11/2564"

        edit(site, broken)
        site.build()
        for dry_run in (True, False):
            with pytest.raises(PortalError) as info:
                site.push(dry_run=dry_run)
            text = str(info.value)
            assert "nothing was changed" in text
            assert "maintainer_email" in text and "opendata at example.go.th" in text
            assert "title" in text and other in text
            assert "data_category" in text and "ข้อมูลลับมาก" in text
            assert "created_date" in text
            assert site.admin.show("package_show", id=site.name) is None
    finally:
        site.admin.call("dataset_purge", id=other)


def test_a_name_longer_than_70_characters_is_found_by_plan(tmp_path: Path) -> None:
    admin = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
    s = Site(tmp_path, admin)
    long_name = f"ldic-{s.suffix}-".ljust(71, "x")
    (s.schemas / s.name).rename(s.schemas / long_name)
    s.descriptor_path = s.schemas / long_name / "datapackage.json"
    edit(s, lambda d: d.update(name=long_name))
    s.name = long_name
    try:
        s.build()
        with pytest.raises(PortalError) as info:
            s.push(dry_run=True)
        assert "71 characters" in str(info.value) and "2 to 70" in str(info.value)
    finally:
        s.purge()


def test_plan_lists_the_rules_it_cannot_check(site: Site) -> None:
    site.build()
    changes = site.push(dry_run=True)
    unchecked = [c for c in changes if c.kind == "portal rules"]
    assert unchecked and any("private datasets" in c.detail for c in unchecked)
    assert site.admin.show("package_show", id=site.name) is None


def test_resources_are_named_by_their_thai_titles_and_keep_their_descriptions(site: Site) -> None:
    site.build()
    site.push()
    package = json.loads((site.published / site.name / "datapackage.json").read_text(encoding="utf-8"))
    on_portal = {Path(r["url"]).name: r for r in site.package()["resources"]}
    for res in package["resources"]:
        mine = on_portal[Path(res["path"]).name]
        assert mine["name"] == res["title"]
        assert mine["description"] == res.get("description", "")
    assert on_portal["entries.csv"]["name"] == "รายการผลงานที่ส่งเข้าประกวด"
    assert on_portal["entries.csv"]["description"] == "หนึ่งแถวต่อหนึ่งผลงาน เรียงตามรหัสผลงาน"
    portal = site.fresh_portal()
    site.push(portal)
    assert portal.writes == [], "names and descriptions compare equal on a second push"


def test_every_optional_gd_catalog_field_can_be_set_from_the_descriptor(site: Site) -> None:
    optional = {
        "allow_harvest": "True",
        "high_value_dataset": "True",
        "reference_data": "False",
        "official_statistics": "False",
        "data_support": "หน่วยงานของรัฐ",
        "data_collect": "บริษัท/ห้างร้าน/สถานประกอบการ",
        "accessible_condition": "ไม่มีเงื่อนไข",
        "created_date": "2021-01-15",
        "last_updated_date": "2021-12-31",
        "first_year_of_data": "2564",
        "last_year_of_data": "2564",
        "disaggregate": ["ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่"],
        "unit_of_measure": "ผลงาน",
        "url": "https://www.dga.or.th",
    }
    edit(site, lambda d: d["x_portal"]["gdcatalog"].update(optional))
    site.build()
    site.push()
    pkg = site.package()
    assert {k: pkg.get(k) for k in optional} == optional
    portal = site.fresh_portal()
    site.push(portal)
    assert portal.writes == [], "the optional fields compare equal on a second push"


def _valid_metadata(name: str, title: str, org: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "owner_org": org,
        "notes": "คำอธิบาย",
        "tag_string": "ข้อมูลเปิด",
        "maintainer": "ฝ่ายข้อมูล",
        "maintainer_email": "opendata@example.go.th",
        "data_type": "ข้อมูลระเบียน",
        "objective": ["พันธกิจหน่วยงาน"],
        "update_frequency_unit": "ปี",
        "geo_coverage": "ประเทศ",
        "data_source": "หน่วยงานทดสอบ",
        "data_format": ["CSV"],
        "data_category": "ข้อมูลสาธารณะ",
        "license_id": "Creative Commons Attributions",
        "id": str(uuid.uuid4()),
    }
