"""Resource files: compared by sha256 (the resource's standard `hash` field), uploaded only when changed
(through `xloader` when the portal runs it, so that it does not load them a second time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.ckan import xloader
from pipeline.ckan.change import Change
from pipeline.ckan.connection import Portal
from pipeline.ckan.desired import FileResource


def _resources_by_name(
    portal: Portal, package: dict[str, Any], dry_run: bool, note: Callable[[Change], None]
) -> dict[str, dict[str, Any]]:
    """Resources by name; a name held twice (an interrupted earlier push) keeps its first."""
    by_name: dict[str, dict[str, Any]] = {}
    for res in package.get("resources", []):
        if res["name"] in by_name:
            note(Change("resource", res["name"], "delete", "duplicate left by an interrupted push"))
            if not dry_run:
                portal.call("resource_delete", id=res["id"])
            continue
        by_name[res["name"]] = res
    return by_name


def by_file_name(existing: dict[str, dict[str, Any]], file_name: str) -> dict[str, Any] | None:
    """The resource whose uploaded file has this name (resources pushed before they were named by title)."""
    return next((r for r in existing.values() if r.get("url", "").rsplit("/", 1)[-1] == file_name), None)


def _sync_resource(
    portal: Portal,
    package: dict[str, Any] | None,
    current: dict[str, Any] | None,
    res: FileResource,
    dry_run: bool,
    note: Callable[[Change], None],
) -> dict[str, Any] | None:
    meta = {"name": res.name, "format": res.format, "description": res.description, "hash": f"sha256:{res.sha256}"}
    size = f"{res.path.stat().st_size:,} bytes"
    if current is None:
        note(Change("resource", res.name, "create", f"upload {size}"))
        if dry_run or package is None:
            return None
        return xloader.upload(portal, "resource_create", res.path, meta, res.table, package_id=package["id"])
    if not xloader.same_file(current, res.sha256, res.path, portal):
        note(Change("resource", res.name, "update", f"file changed, upload {size}"))
        if dry_run:
            return current
        return xloader.upload(portal, "resource_patch", res.path, meta, res.table, id=current["id"])
    differs = [k for k in ("name", "format", "description", "hash") if (current.get(k) or "") != meta[k]]
    if differs:
        note(Change("resource", res.name, "update", ", ".join(differs)))
        return current if dry_run else portal.call("resource_patch", id=current["id"], **meta)
    note(Change("resource", res.name, "unchanged"))
    return current
