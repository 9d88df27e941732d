"""Organization and dataset metadata: compared field by field, written only when they differ."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ckanapi

from pipeline.ckan.change import Change
from pipeline.ckan.connection import Portal, _validation_text
from pipeline.ckan.desired import Desired
from pipeline.errors import PortalError


def _check_rights(portal: Portal, org_name: str) -> None:
    """Refuse before the first write when the token may not publish under an existing organization."""
    if portal.show("organization_show", id=org_name) is None:
        return  # creating it needs the right to create organizations: the portal will say so
    allowed = portal.call("organization_list_for_user", permission="create_dataset")
    if org_name not in {o.get("name") for o in allowed}:
        raise PortalError(
            f"the API token has no right to publish datasets in organization {org_name!r} on {portal.url} "
            "(not authorized); nothing was changed"
        )


def _check_owner(portal: Portal, desired: Desired) -> dict[str, Any] | None:
    """The portal's dataset of this name, refused before the first write when it belongs to
    another organization: a push never moves a dataset between organizations."""
    name, ours = desired.package["name"], desired.organization["name"]
    current = portal.show("package_show", id=name)
    if current is None:
        return None
    theirs = (current.get("organization") or {}).get("name") or current.get("owner_org")
    if theirs != ours:
        held = f"organization {theirs!r}" if theirs else "no organization"
        raise PortalError(
            f"{name}: a dataset of this name already exists on {portal.url} in {held}, not in {ours!r}; "
            "a push never moves a dataset between organizations, so nothing was changed. Rename the dataset "
            "(its folder and datapackage.json name), or move or delete the other one on the portal yourself"
        )
    return current


def _portal_schema(portal: Portal) -> dict[str, Any] | None:
    try:
        return portal.call("scheming_dataset_schema_show", type="dataset")
    except (ckanapi.NotFound, ckanapi.ValidationError, PortalError):
        return None  # a portal without ckanext-scheming: stock CKAN fields only


def _sync_organization(
    portal: Portal,
    org: dict[str, Any],
    dry_run: bool,
    note: Callable[[Change], None],
    planned: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`planned` holds what an earlier dataset of the same plan would already have made of the
    organization, so a plan counts a shared organization's change once, as the push does."""
    planned = {} if planned is None else planned
    current = planned.get(org["name"]) or portal.show("organization_show", id=org["name"])
    if current is None:
        note(Change("organization", org["name"], "create"))
        if dry_run:
            planned[org["name"]] = {**org, "state": "active"}
            return org
        return portal.call("organization_create", **org)
    differs = [k for k, v in org.items() if k != "name" and (current.get(k) or "") != v]
    if current.get("state") == "deleted":
        differs.append("state")
    if not differs:
        note(Change("organization", org["name"], "unchanged"))
        return current
    note(Change("organization", org["name"], "update", ", ".join(differs)))
    if dry_run:
        planned[org["name"]] = {**current, **org, "state": "active"}
        return current
    return portal.call(
        "organization_patch", id=current["id"], state="active", **{k: v for k, v in org.items() if k != "name"}
    )


def _package_payload(desired: Desired, portal_schema: dict[str, Any] | None) -> dict[str, Any]:
    payload = dict(desired.package)
    tags = payload.pop("tags")
    fields = {f["field_name"] for f in (portal_schema or {}).get("dataset_fields", [])}
    if "tag_string" in fields:
        payload["tag_string"] = ",".join(tags)
    else:
        payload["tags"] = [{"name": t} for t in tags]
    return payload


def _package_differences(current: dict[str, Any], desired: Desired, org: dict[str, Any]) -> list[str]:
    differs = []
    for key, value in desired.package.items():
        if key == "tags":
            have = sorted(t["name"] for t in current.get("tags", []))
            if have != value:
                differs.append("tags")
        elif key == "owner_org":
            if current.get("owner_org") not in (org.get("id"), value):
                differs.append(key)
        elif _comparable(current.get(key)) != _comparable(value):
            differs.append(key)
    if current.get("state") != "active":
        differs.append("state")
    return differs


def _comparable(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return str(value).strip()


def _sync_package(
    portal: Portal,
    desired: Desired,
    org: dict[str, Any],
    portal_schema: dict[str, Any] | None,
    dry_run: bool,
    note: Callable[[Change], None],
    current: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """`current` is the portal's dataset as _check_owner read it (None: there is none)."""
    name = desired.package["name"]
    payload = _package_payload(desired, portal_schema)
    if current is None:
        note(Change("dataset", name, "create"))
        return None if dry_run else _write_package(portal, "package_create", payload, name)
    differs = _package_differences(current, desired, org)
    if not differs:
        note(Change("dataset", name, "unchanged"))
        return current
    note(Change("dataset", name, "update", ", ".join(differs)))
    if dry_run:
        return current
    return _write_package(portal, "package_patch", {"id": current["id"], "state": "active", **payload}, name)


def _write_package(portal: Portal, action: str, payload: dict[str, Any], name: str) -> dict[str, Any]:
    try:
        return portal.call(action, **payload)
    except ckanapi.ValidationError as exc:
        raise PortalError(f"{name}: the portal rejected the dataset metadata: {_validation_text(exc)}") from None
