"""The local portal mirrors data.go.th: the GD Catalog schema of ckanext-thai_gdc 2.1.0, its
licence list, thai_gdc's validators (rewritten for CKAN 2.12) and xloader with a jobs worker.

Every expectation below is written from the published thai_gdc 2.1.0 schema
(ckanext/thai_gdc/ckan_dataset.json), not from the portal's files; each test talks to the
real local portal started by `make test` (portal/up.sh).
"""

from __future__ import annotations

import contextlib
import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import ckanapi
import pytest

from pipeline import ckan

from .test_ckan_portal import CKAN_URL, portal_token

pytestmark = pytest.mark.ckan

# thai_gdc 2.1.0's dataset fields, in the published order
GDC_DATASET_FIELDS = [
    "data_type", "data_type_other", "title", "name", "owner_org", "allow_harvest", "reference_url_catalog",
    "maintainer", "maintainer_email", "tag_string", "notes", "objective", "objective_other",
    "update_frequency_unit", "update_frequency_unit_other", "update_frequency_interval", "geo_coverage",
    "geo_coverage_other", "data_source", "data_format", "data_format_other", "data_category", "license_id",
    "license_id_other", "accessible_condition", "data_support", "data_support_other", "data_collect",
    "data_collect_other", "url", "data_language", "data_language_other", "created_date", "last_updated_date",
    "data_release_calendar", "first_year_of_data", "last_year_of_data", "disaggregate", "disaggregate_other",
    "unit_of_measure", "unit_of_multiplier", "unit_of_multiplier_other", "calculation_method", "standard",
    "geographic_data_set", "equivalent_scale", "equivalent_scale_other", "west_bound_longitude",
    "east_bound_longitude", "north_bound_longitude", "south_bound_longitude", "positional_accuracy",
    "reference_period", "data_release_date", "high_value_dataset", "reference_data", "official_statistics",
]  # fmt: skip
GDC_REQUIRED = {
    "data_type", "title", "maintainer", "maintainer_email", "tag_string", "notes", "objective",
    "update_frequency_unit", "geo_coverage", "data_source", "data_format", "data_category", "license_id",
}  # fmt: skip
GDC_LICENCES = [
    "License not specified",
    "Creative Commons Attributions",
    "Creative Commons Attribution Share-Alike",
    "Creative Commons Non-Commercial (Any)",
    "Open Data Common",
    "GNU Free Documentation License",
    "อื่นๆ",
]
GDC_DATA_FORMATS = [
    "Database", "CSV", "XML", "Image", "Video", "Audio", "Text", "JSON", "HTML", "DOC/DOCX", "XLS", "PDF", "RDF",
    "NoSQL", "Arc/Info Coverage", "Shapefile", "GeoTiff", "GML", "ไม่ทราบ", "อื่นๆ",
]  # fmt: skip


def valid_metadata(org: str, suffix: str) -> dict[str, Any]:
    return {
        "name": f"gdc-{suffix}",
        "title": f"ชุดข้อมูลทดสอบ {suffix}",
        "owner_org": org,
        "notes": "คำอธิบาย",
        "tag_string": "ข้อมูลเปิด,ดิจิทัล",
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
    }


@pytest.fixture(scope="module")
def portal() -> ckan.Portal:
    return ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)


@pytest.fixture
def org(portal: ckan.Portal) -> Iterator[str]:
    name = f"gdc-org-{uuid.uuid4().hex[:8]}"
    portal.call("organization_create", name=name)
    created: list[str] = []
    portal.created = created  # type: ignore[attr-defined]
    yield name
    for ident in created:
        with contextlib.suppress(Exception):
            portal.call("dataset_purge", id=ident)
    with contextlib.suppress(Exception):
        portal.call("organization_purge", id=name)


def create(portal: ckan.Portal, meta: dict[str, Any]) -> dict[str, Any]:
    portal.created.append(meta["name"])  # type: ignore[attr-defined]
    return portal.call("package_create", **meta)


def refusal(portal: ckan.Portal, meta: dict[str, Any]) -> dict[str, Any]:
    portal.created.append(meta["name"])  # type: ignore[attr-defined]
    with pytest.raises(ckanapi.ValidationError) as info:
        portal.call("package_create", **meta)
    return info.value.error_dict


def test_schema_is_thai_gdc_2_1_field_for_field(portal: ckan.Portal) -> None:
    schema = portal.call("scheming_dataset_schema_show", type="dataset")
    fields = {f["field_name"]: f for f in schema["dataset_fields"]}
    assert [f["field_name"] for f in schema["dataset_fields"]] == GDC_DATASET_FIELDS
    assert {n for n, f in fields.items() if f.get("required")} == GDC_REQUIRED
    assert [c["value"] for c in fields["license_id"]["choices"]] == GDC_LICENCES
    assert [c["value"] for c in fields["data_format"]["choices"]] == GDC_DATA_FORMATS
    assert [c["value"] for c in fields["allow_harvest"]["choices"]] == ["False", "True"]
    assert [c["value"] for c in fields["data_category"]["choices"]] == [
        "ข้อมูลสาธารณะ",
        "ข้อมูลส่วนบุคคล",
        "ข้อมูลความมั่นคง",
        "ข้อมูลความลับทางราชการ",
    ]
    assert "package_title_validator" in fields["title"]["validators"]
    assert "package_name_validator" in fields["name"]["validators"]
    assert "email_validator" in fields["maintainer_email"]["validators"]
    resources = {f["field_name"]: f for f in schema["resource_fields"]}
    assert len(resources) == 23 and resources["name"].get("required") is True
    assert "resource_data_collect" in resources and "resource_official_statistics" in resources


def test_valid_gdc_dataset_is_accepted_with_thai_tags_and_open_licence(portal: ckan.Portal, org: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    pkg = create(portal, {**valid_metadata(org, suffix), "allow_harvest": "True", "high_value_dataset": "False"})
    assert sorted(t["name"] for t in pkg["tags"]) == ["ข้อมูลเปิด", "ดิจิทัล"]
    assert pkg["isopen"] is True and pkg["license_title"] == "Creative Commons Attributions"
    assert pkg["allow_harvest"] == "True" and pkg["objective"] == ["พันธกิจหน่วยงาน"]
    closed = create(
        portal,
        {**valid_metadata(org, suffix + "b"), "license_id": "Creative Commons Non-Commercial (Any)"},
    )
    assert closed["isopen"] is False


def test_thai_gdc_rules_are_enforced(portal: ckan.Portal, org: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    first = valid_metadata(org, suffix)
    create(portal, first)
    same_title = {**valid_metadata(org, suffix + "x"), "title": first["title"]}
    assert "title" in refusal(portal, same_title)
    assert "maintainer_email" in refusal(portal, {**valid_metadata(org, suffix + "e"), "maintainer_email": "ไม่ใช่อีเมล"})
    assert "tag_string" in refusal(portal, {**valid_metadata(org, suffix + "t"), "tag_string": " , "})
    long_name = ("n" + suffix).ljust(71, "x")
    assert "name" in refusal(portal, {**valid_metadata(org, suffix + "l"), "name": long_name})
    create(portal, {**valid_metadata(org, suffix + "m"), "name": long_name[:70]})  # 70 is allowed
    assert "data_category" in refusal(portal, {**valid_metadata(org, suffix + "c"), "data_category": "ข้อมูลลับมาก"})
    assert "objective" in refusal(portal, {**valid_metadata(org, suffix + "o"), "objective": ["ไม่มีในรายการ"]})


def test_a_name_in_the_trash_is_refused_but_a_deleted_title_is_free(portal: ckan.Portal, org: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    meta = valid_metadata(org, suffix)
    create(portal, meta)
    portal.call("package_delete", id=meta["name"])
    errors = refusal(portal, {**meta, "title": "ชื่อใหม่ " + suffix})
    assert any("trash" in str(e) for e in errors["name"]), errors
    create(portal, {**meta, "name": meta["name"] + "-2"})  # the deleted dataset's title may be reused


def test_resource_name_is_required(portal: ckan.Portal, org: str) -> None:
    pkg = create(portal, valid_metadata(org, uuid.uuid4().hex[:8]))
    with pytest.raises(ckanapi.ValidationError) as info:
        portal.call("resource_create", package_id=pkg["id"], url="https://example.go.th/a.csv", format="CSV")
    assert "name" in info.value.error_dict


def test_xloader_is_enabled_and_its_worker_loads_an_upload(portal: ckan.Portal, org: str) -> None:
    assert "xloader" in portal.call("status_show")["extensions"]
    pkg = create(portal, valid_metadata(org, uuid.uuid4().hex[:8]))
    data = "code,amount\nก,1\nข,2\n".encode()
    res = portal.call(
        "resource_create",
        files={"upload": ("t.csv", io.BytesIO(data))},
        package_id=pkg["id"],
        name="ตาราง",
        format="CSV",
    )
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = portal.call("xloader_status", resource_id=res["id"])
        if status.get("status") in ("complete", "error"):
            break
        time.sleep(0.3)
    assert status.get("status") == "complete", status
    rows = portal.call("datastore_search", resource_id=res["id"])["records"]
    assert [(r["code"], r["amount"]) for r in rows] == [("ก", "1"), ("ข", "2")], "xloader loads text columns"
