"""The entry points: push (or plan) every published dataset, checking everything locally
before the first write."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import pdpa
from pipeline.ckan.change import Change
from pipeline.ckan.connection import Portal
from pipeline.ckan.datastore import _previous_file, _sync_datastore, csv_batches
from pipeline.ckan.desired import Desired, desired_state
from pipeline.ckan.package import _check_owner, _check_rights, _portal_schema, _sync_organization, _sync_package
from pipeline.ckan.resources import _resources_by_name, _sync_resource, by_file_name
from pipeline.ckan.rules import fit_portal
from pipeline.errors import ConfigError, PortalError

SCAN_BATCH = 50_000  # rows the PDPA guard scans at a time


def sync(
    portal: Portal,
    desired: Desired,
    *,
    dry_run: bool,
    on_change: Callable[[Change], None] | None = None,
    planned: dict[str, dict[str, Any]] | None = None,
) -> list[Change]:
    """Bring the portal to `desired`; with dry_run, only report what would change (`planned`:
    the organizations an earlier dataset of the same plan would have made, see _sync_organization)."""
    changes: list[Change] = []

    def note(change: Change) -> None:
        changes.append(change)
        if on_change:
            on_change(change)

    guard(desired)
    portal_schema = _portal_schema(portal)
    problems, unchecked = fit_portal(portal, desired, portal_schema, note if dry_run else None)
    if problems:
        raise PortalError(
            f"{desired.package['name']}: the metadata does not fit the portal's dataset schema; nothing was changed:\n  "
            + "\n  ".join(problems)
        )
    if dry_run and unchecked:
        note(Change("portal rules", desired.package["name"], "not checked", "; ".join(unchecked)))
    _check_rights(portal, desired.organization["name"])
    current = _check_owner(portal, desired)
    org = _sync_organization(portal, desired.organization, dry_run, note, planned)
    package = _sync_package(portal, desired, org, portal_schema, dry_run, note, current)
    existing = {} if package is None else _resources_by_name(portal, package, dry_run, note)
    for res in desired.resources:
        before = existing.get(res.name) or by_file_name(existing, res.path.name)
        with tempfile.TemporaryDirectory(prefix="opendata-push-") as folder:
            # the DataStore held exactly the previous file: diff against that file, not row by row
            previous = _previous_file(portal, before, res, desired.schema, Path(folder)) if res.table else None
            current = _sync_resource(portal, package, before, res, dry_run, note)
            if res.table:
                _sync_datastore(portal, current, res, desired.schema, dry_run, note, previous)
    return changes


def guard(desired: Desired) -> None:
    """The PDPA guard on every payload before the first write: metadata and table rows."""
    findings = pdpa.scan_payload(
        {"organization": desired.organization, "dataset": desired.package}, desired.reference_dir, desired.may_contain
    )
    scanned = [
        f["name"]
        for f in desired.schema["fields"]
        if f.get("type", "string") == "string" and not f.get("constraints", {}).get("enum")
    ]
    for res in desired.resources:
        if not res.table or not scanned:
            continue
        start = 0
        for rows in csv_batches(res.path, scanned, SCAN_BATCH):  # in batches: memory does not grow with rows
            for name in scanned:
                findings += [
                    pdpa.Finding(x.kind, start + x.position, f"{res.name} row {start + x.position + 2} {name}")
                    for x in pdpa.scan_column(rows[name], name, desired.reference_dir)
                ]
            start += len(rows)
    if findings:
        listed = "; ".join(f"{f.field}: {pdpa.LABELS[f.kind]}" for f in findings[:20])
        raise PortalError(
            f"{desired.package['name']}: refused to push personal data (PDPA); nothing was changed: {listed}"
        )


def published_datasets(published_dir: Path, names: tuple[str, ...] = ()) -> list[Path]:
    """The published dataset folders to push: all, or the ones named (each must be there)."""
    if not published_dir.is_dir():
        raise ConfigError(f"published folder not found: {published_dir}; run `make` first")
    folders = [p for p in sorted(published_dir.iterdir()) if (p / "datapackage.json").is_file()]
    if names:
        missing = sorted(set(names) - {p.name for p in folders})
        if missing:
            raise ConfigError(f"not published under {published_dir}: {', '.join(missing)}; run `make` first")
        folders = [p for p in folders if p.name in names]
    if not folders:
        raise ConfigError(f"no published dataset under {published_dir}; run `make` first")
    return folders


def push(
    portal: Portal,
    published_dir: Path,
    schemas_dir: Path,
    *,
    dry_run: bool = False,
    datasets: tuple[str, ...] = (),
    on_change: Callable[[Change], None] | None = None,
    planned: dict[str, dict[str, Any]] | None = None,
) -> list[Change]:
    """Push (or plan) every published dataset; check everything locally before the first write.
    A caller pushing datasets one call at a time passes one `planned` to all (see sync)."""
    folders = published_datasets(published_dir, datasets)
    desired = [desired_state(folder, schemas_dir) for folder in folders]
    portal.check_reachable()
    changes: list[Change] = []
    planned = {} if planned is None else planned
    for target in desired:
        changes.extend(sync(portal, target, dry_run=dry_run, on_change=on_change, planned=planned))
    return changes
