"""Stage 6, push: make a CKAN portal equal to what is published, with as few writes as possible.

Everything is compared before anything is written: organization and dataset metadata
field by field, files by sha256 (kept in the resource's standard `hash` field), DataStore
rows by a hash of each row keyed by the primary key. A second push with nothing changed
makes zero write calls; a push that dies half-way converges when run again, because every
step compares the portal's actual state with the published one.

`plan` runs the same comparison and writes nothing. The API token is held by the session
only: it is never printed, logged or put into an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ckanapi
import pandas as pd
import requests
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from pipeline import __version__, pdpa
from pipeline.dataset import load_dataset
from pipeline.errors import ConfigError, PortalError
from pipeline.publish import sha256_file

DATASTORE_MARK = "datastore_complete_hash"  # resource field: sha256 of the file the table equals
DEFAULT_URL = "http://127.0.0.1:5000"  # the local portal of `make ckan-up`
DEFAULT_TOKEN_FILE = Path(".ckan/apitoken")
OTHER_CHOICE = "อื่นๆ"
INSERT_BATCH = 10_000
UPSERT_BATCH = 5_000
DELETE_BATCH = 1_000
SEARCH_PAGE = 32_000
# CKAN column types for Table Schema types (the DataStore stores PostgreSQL types)
DATASTORE_TYPES = {"string": "text", "integer": "int", "number": "numeric", "date": "date", "boolean": "bool"}
CORE_PACKAGE_KEYS = {"name", "title", "notes", "owner_org", "license_id", "tags"}
WRITE_VERBS = ("create", "update", "patch", "delete", "purge", "upsert")
# actions that give the same result when sent twice: safe to retry after a transient failure
REPEATABLE_WRITES = {"package_patch", "organization_patch", "resource_patch", "datastore_upsert", "datastore_delete"}


# ---------------------------------------------------------------------------- connection


class TransientPortalError(Exception):
    """The portal answered 5xx/409 or the connection failed: worth another try."""


def read_token(environ: dict[str, str] | None = None, default_file: Path = DEFAULT_TOKEN_FILE) -> str:
    """The API token from CKAN_API_TOKEN, else from the file CKAN_API_TOKEN_FILE (default .ckan/apitoken)."""
    env = os.environ if environ is None else environ
    token = env.get("CKAN_API_TOKEN", "").strip()
    if token:
        return token
    path = Path(env.get("CKAN_API_TOKEN_FILE") or default_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"no CKAN API token: set CKAN_API_TOKEN or CKAN_API_TOKEN_FILE (cannot read {path}: {exc.strerror})"
        ) from exc
    if not token:
        raise ConfigError(f"no CKAN API token: {path} is empty")
    return token


class Portal:
    """A CKAN action API client that counts its writes and retries only what is safe to repeat."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 120,
        retry_seconds: float = 60,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._ckan = ckanapi.RemoteCKAN(
            self.url, apikey=token, user_agent=f"opendata-pipeline/{__version__}", session=self._session
        )
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.writes: list[str] = []
        self.reads = 0

    def __repr__(self) -> str:  # never show the token
        return f"Portal({self.url!r})"

    @staticmethod
    def is_write(action: str) -> bool:
        return any(verb in action for verb in WRITE_VERBS)

    def call(self, action: str, files: dict[str, Any] | None = None, **data: Any) -> Any:
        """Call one action; transient failures are retried with jittered exponential backoff
        when the action is safe to repeat, and reported clearly when it is not."""
        write = self.is_write(action)
        repeatable = not write or (action in REPEATABLE_WRITES and not files)
        attempts = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, TransientPortalError) and repeatable),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            stop=stop_after_delay(self.retry_seconds),
            reraise=True,
        )
        try:
            for attempt in attempts:
                with attempt:
                    result = self._send(action, data, files)
        except TransientPortalError as exc:
            hint = "" if repeatable else " (not retried: repeating it could duplicate data; run the push again)"
            raise PortalError(f"{action} failed at {self.url}: {exc}{hint}") from None
        if write:
            self.writes.append(action)
        else:
            self.reads += 1
        return result

    def _send(self, action: str, data: dict[str, Any], files: dict[str, Any] | None) -> Any:
        try:
            return self._ckan.call_action(action, data, files=files, requests_kwargs={"timeout": self.timeout})
        except ckanapi.NotAuthorized as exc:
            raise PortalError(
                f"the portal refused {action}: not authorized — check the API token "
                f"(CKAN_API_TOKEN / CKAN_API_TOKEN_FILE) and its rights on the organization ({_short(exc)})"
            ) from None
        except (ckanapi.NotFound, ckanapi.ValidationError, ckanapi.SearchError):
            raise
        except ckanapi.CKANAPIError as exc:
            text = str(exc)
            if any(code in text for code in ("500", "502", "503", "504", "409")):
                raise TransientPortalError(_short(exc)) from None
            raise PortalError(f"{action} failed at {self.url}: {_short(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientPortalError(f"{type(exc).__name__}: cannot reach the portal") from None

    def download(self, url: str) -> bytes | None:
        """A resource file from the portal (with the token, for private datasets); None if it fails."""
        if not url:
            return None
        try:
            response = self._session.get(url, headers={"Authorization": self._token}, timeout=self.timeout)
        except requests.RequestException:
            return None
        return response.content if response.ok else None

    def show(self, action: str, **data: Any) -> dict[str, Any] | None:
        """A *_show call that answers None for "not found"."""
        try:
            return self.call(action, **data)
        except ckanapi.NotFound:
            return None

    def check_reachable(self) -> None:
        """Fail fast (a few seconds of retries, not the full budget) when nothing answers."""
        budget, self.retry_seconds = self.retry_seconds, min(self.retry_seconds, 8)
        try:
            self.call("status_show")
        except PortalError as exc:
            raise PortalError(f"the CKAN portal at {self.url} is not reachable; nothing was changed ({exc})") from None
        finally:
            self.retry_seconds = budget


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------------- desired state


@dataclass
class FileResource:
    name: str  # stable resource name on the portal: the published file's name
    path: Path
    format: str
    description: str
    sha256: str
    table: bool = False  # the main table: also loaded into the DataStore


@dataclass
class Desired:
    """What the portal should hold for one published dataset."""

    organization: dict[str, Any]
    package: dict[str, Any]
    resources: list[FileResource]
    schema: dict[str, Any]
    reference_dir: Path
    may_contain: dict[str, list[str]] = field(default_factory=dict)  # metadata keys allowed to hold personal data


def desired_state(published: Path, schemas_dir: Path) -> Desired:
    """The portal's target state from a published folder and the dataset's descriptor."""
    try:
        package = json.loads((published / "datapackage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{published}: no readable datapackage.json ({exc}); run `make` first") from exc
    spec = load_dataset(schemas_dir, package["name"])
    portal = spec.descriptor.get("x_portal", {})
    if "organization" not in portal:
        raise ConfigError(f"{spec.name}: the descriptor has no x_portal.organization to publish under")
    org = dict(portal["organization"])
    licenses = package.get("licenses") or [{}]
    meta: dict[str, Any] = {
        "name": package["name"],
        "title": package.get("title", package["name"]),
        "notes": package.get("description", ""),
        "owner_org": org["name"],
        "license_id": portal.get("license_id") or licenses[0].get("name", ""),
        "version": package.get("version", ""),
        "tags": sorted(package.get("keywords", [])),
    }
    meta.update(portal.get("gdcatalog", {}))
    resources = []
    schema: dict[str, Any] = {}
    for res in package.get("resources", []):
        path = published / res["path"]
        digest = (res.get("hash") or "").removeprefix("sha256:") or sha256_file(path)
        is_table = isinstance(res.get("schema"), dict) and res.get("format", "").lower() == "csv"
        if is_table and not schema:
            schema = res["schema"]
        resources.append(
            FileResource(
                name=Path(res["path"]).name,
                path=path,
                format=(res.get("format") or path.suffix.lstrip(".")).upper(),
                description=res.get("title") or res.get("description") or "",
                sha256=digest,
                table=is_table and schema is res["schema"],
            )
        )
    return Desired(org, meta, resources, schema, spec.reference.directory, dict(portal.get("may_contain", {})))


def fit_to_portal_schema(desired: Desired, portal_schema: dict[str, Any] | None) -> list[str]:
    """Map metadata onto the portal's scheming schema; return every mismatch at once.

    A value off a field's choice list goes as อื่นๆ with the text in `<field>_other`
    (the GD Catalog convention) when the schema has that field; otherwise it is a mismatch.
    """
    if not portal_schema:
        return []
    problems = []
    fields = {f["field_name"]: f for f in portal_schema.get("dataset_fields", [])}
    meta = desired.package
    # a key the portal's schema does not know would be dropped by the portal and then
    # differ on every comparison: send only what the portal keeps
    for key in [k for k in meta if k not in fields and k not in CORE_PACKAGE_KEYS]:
        del meta[key]
    for name, spec in fields.items():
        choices = [str(c.get("value")) for c in spec.get("choices", []) or []]
        value = meta.get(name)
        if "scheming_multiple_choice" in str(spec.get("validators", "")) and isinstance(value, str):
            value = meta[name] = [value]  # the portal keeps multiple-choice fields as lists
        if choices and value not in (None, "", []):
            values = value if isinstance(value, list) else [value]
            off = [v for v in values if str(v) not in choices]
            if off:
                if OTHER_CHOICE in choices and f"{name}_other" in fields:
                    kept = [v for v in values if str(v) in choices]
                    new = [*kept, OTHER_CHOICE] if isinstance(value, list) else OTHER_CHOICE
                    meta[name] = new
                    meta[f"{name}_other"] = ", ".join(str(v) for v in off)
                else:
                    problems.append(f"{name}: {off!r} is not one of the portal's choices {choices}")
        if spec.get("required") and name not in ("name", "id") and meta.get(name) in (None, "", []):
            if name in ("tag_string",) and meta.get("tags"):
                continue
            problems.append(f"{name}: required by the portal's dataset schema but not set in the descriptor")
    return problems


# ---------------------------------------------------------------------------- the sync


@dataclass
class Change:
    kind: str  # organization | dataset | resource | datastore
    name: str
    action: str  # create | update | unchanged | delete
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind:<12} {self.name}: {self.action}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action, "detail": self.detail, **self.counts}


def sync(
    portal: Portal, desired: Desired, *, dry_run: bool, on_change: Callable[[Change], None] | None = None
) -> list[Change]:
    """Bring the portal to `desired`; with dry_run, only report what would change."""
    changes: list[Change] = []

    def note(change: Change) -> None:
        changes.append(change)
        if on_change:
            on_change(change)

    guard(desired)
    portal_schema = _portal_schema(portal)
    problems = fit_to_portal_schema(desired, portal_schema)
    if problems:
        raise PortalError(
            f"{desired.package['name']}: the metadata does not fit the portal's dataset schema; nothing was changed:\n  "
            + "\n  ".join(problems)
        )
    _check_rights(portal, desired.organization["name"])
    org = _sync_organization(portal, desired.organization, dry_run, note)
    package = _sync_package(portal, desired, org, portal_schema, dry_run, note)
    existing = {} if package is None else _resources_by_name(portal, package, dry_run, note)
    for res in desired.resources:
        before = existing.get(res.name)
        # the DataStore held exactly the previous file: diff against that file, not row by row
        previous = _previous_rows(portal, before, res, desired.schema) if res.table else None
        current = _sync_resource(portal, package, before, res, dry_run, note)
        if res.table:
            _sync_datastore(portal, current, res, desired.schema, dry_run, note, previous)
    return changes


def _previous_rows(
    portal: Portal, resource: dict[str, Any] | None, res: FileResource, schema: dict[str, Any]
) -> pd.DataFrame | None:
    """The rows of the file the DataStore was last completed from, when the portal still
    serves that very file (its `hash` equals the DataStore's completion mark)."""
    if not resource or not resource.get("datastore_active"):
        return None
    mark = resource.get(DATASTORE_MARK)
    if not mark or mark != resource.get("hash") or mark == f"sha256:{res.sha256}":
        return None
    data = portal.download(resource.get("url", ""))
    if data is None or f"sha256:{hashlib.sha256(data).hexdigest()}" != mark:
        return None
    names = [f["name"] for f in schema["fields"]]
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig", engine="pyarrow")
    return frame[names] if set(names) <= set(frame.columns) else None


def guard(desired: Desired) -> None:
    """The PDPA guard on every payload before the first write: metadata and table rows."""
    findings = pdpa.scan_payload(
        {"organization": desired.organization, "dataset": desired.package}, desired.reference_dir, desired.may_contain
    )
    for res in desired.resources:
        if res.table:
            rows = published_rows(res.path, desired.schema)
            for f in desired.schema["fields"]:
                if f.get("type", "string") == "string" and not f.get("constraints", {}).get("enum"):
                    findings += [
                        pdpa.Finding(x.kind, x.position, f"{res.name} row {x.position + 2} {f['name']}")
                        for x in pdpa.scan_column(rows[f["name"]], f["name"], desired.reference_dir)
                    ]
    if findings:
        listed = "; ".join(f"{f.field}: {pdpa.LABELS[f.kind]}" for f in findings[:20])
        raise PortalError(
            f"{desired.package['name']}: refused to push personal data (PDPA); nothing was changed: {listed}"
        )


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


def _portal_schema(portal: Portal) -> dict[str, Any] | None:
    try:
        return portal.call("scheming_dataset_schema_show", type="dataset")
    except (ckanapi.NotFound, ckanapi.ValidationError, PortalError):
        return None  # a portal without ckanext-scheming: stock CKAN fields only


def _sync_organization(
    portal: Portal, org: dict[str, Any], dry_run: bool, note: Callable[[Change], None]
) -> dict[str, Any]:
    current = portal.show("organization_show", id=org["name"])
    if current is None:
        note(Change("organization", org["name"], "create"))
        return org if dry_run else portal.call("organization_create", **org)
    differs = [k for k, v in org.items() if k != "name" and (current.get(k) or "") != v]
    if current.get("state") == "deleted":
        differs.append("state")
    if not differs:
        note(Change("organization", org["name"], "unchanged"))
        return current
    note(Change("organization", org["name"], "update", ", ".join(differs)))
    if dry_run:
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
) -> dict[str, Any] | None:
    name = desired.package["name"]
    current = portal.show("package_show", id=name)
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


def _validation_text(exc: ckanapi.ValidationError) -> str:
    errors = getattr(exc, "error_dict", None) or {}
    parts = [f"{k}: {v}" for k, v in errors.items() if k != "__type"]
    return "; ".join(parts) or _short(exc)


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
        with res.path.open("rb") as fh:
            return portal.call("resource_create", files={"upload": fh}, package_id=package["id"], **meta)
    if current.get("hash") != meta["hash"]:
        note(Change("resource", res.name, "update", f"file changed, upload {size}"))
        if dry_run:
            return current
        with res.path.open("rb") as fh:
            return portal.call("resource_patch", files={"upload": fh}, id=current["id"], **meta)
    differs = [k for k in ("format", "description") if (current.get(k) or "") != meta[k]]
    if differs:
        note(Change("resource", res.name, "update", ", ".join(differs)))
        return current if dry_run else portal.call("resource_patch", id=current["id"], **meta)
    note(Change("resource", res.name, "unchanged"))
    return current


# ---------------------------------------------------------------------------- DataStore


def datastore_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """DataStore columns from the Table Schema: types mapped, Thai title/description as the data dictionary."""
    return [
        {
            "id": f["name"],
            "type": DATASTORE_TYPES.get(f.get("type", "string"), "text"),
            "info": {"label": f.get("title", ""), "notes": f.get("description", "")},
        }
        for f in schema["fields"]
    ]


def published_rows(path: Path, schema: dict[str, Any]) -> pd.DataFrame:
    """The published CSV as text, keyed by the primary key."""
    names = [f["name"] for f in schema["fields"]]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", engine="pyarrow")
    return frame[names]


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One hash per row over its canonical text, so rows compare without comparing every cell."""
    columns = [frame[c].astype("str").fillna("") for c in frame.columns]
    if not columns:
        return pd.Series([], dtype="str")
    joined = columns[0].str.cat(columns[1:], sep="\x1f") if len(columns) > 1 else columns[0]  # vectorized
    digests = [hashlib.blake2b(s.encode(), digest_size=16).hexdigest() for s in joined.tolist()]
    return pd.Series(digests, index=frame.index, dtype="str")


def _portal_rows(portal: Portal, resource_id: str, names: list[str], key: list[str]) -> pd.DataFrame:
    """Every row of the DataStore table, as canonical text (paged, sorted by the key)."""
    frames = []
    offset = 0
    while True:
        page = portal.call(
            "datastore_search",
            resource_id=resource_id,
            fields=names,
            limit=SEARCH_PAGE,
            offset=offset,
            sort=", ".join(key),
            records_format="lists",
            include_total=False,
        )
        records = page.get("records", [])
        if records:
            frames.append(pd.DataFrame(records, columns=names, dtype=object))
        if len(records) < SEARCH_PAGE:
            break
        offset += SEARCH_PAGE
    if not frames:
        return pd.DataFrame({n: pd.Series(dtype="str") for n in names})
    frame = pd.concat(frames, ignore_index=True)
    return frame.apply(lambda col: col.map(_canonical_cell)).astype("str")


def _canonical_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # date columns come back as "2021-03-15" or "2021-03-15T00:00:00"
    return text[:10] if len(text) == 19 and text.endswith("T00:00:00") else text


def _sync_datastore(
    portal: Portal,
    resource: dict[str, Any] | None,
    res: FileResource,
    schema: dict[str, Any],
    dry_run: bool,
    note: Callable[[Change], None],
    previous: pd.DataFrame | None = None,
) -> None:
    """Make the DataStore table equal the published CSV. A completion mark on the resource
    (the sha256 of the file the table was last completed from) is set only after the last
    batch: a push that dies half-way leaves no mark, and the next one compares every row."""
    names = [f["name"] for f in schema["fields"]]
    key = list(schema.get("primaryKey") or names[:1])
    fields = datastore_fields(schema)
    digest = f"sha256:{res.sha256}"
    if resource is not None and resource.get("datastore_active") and resource.get(DATASTORE_MARK) == digest:
        note(
            Change(
                "datastore", res.name, "unchanged", "complete for this file", {"insert": 0, "update": 0, "delete": 0}
            )
        )
        return
    wanted = published_rows(res.path, schema)
    info = None
    if resource is not None and resource.get("datastore_active"):
        info = portal.show("datastore_info", id=resource["id"])
    recreate = False
    if info is not None:
        have = [(f["id"], f.get("type")) for f in info.get("fields", []) if not f["id"].startswith("_")]
        want = [(f["id"], _pg_type(f["type"])) for f in fields]
        recreate = [i for i, _ in have] != [i for i, _ in want] or [t for _, t in have] != [t for _, t in want]
    if info is None or recreate:
        existing = pd.DataFrame({n: pd.Series(dtype="str") for n in names})
    elif previous is not None:
        existing = previous
    else:
        existing = _portal_rows(portal, resource["id"], names, key)
    plan = diff_rows(existing, wanted, key)
    dictionary_differs = info is not None and not recreate and _dictionary_differs(info, fields)
    action = "create" if info is None else ("update" if recreate or plan.changes or dictionary_differs else "unchanged")
    detail = f"rows: {len(plan.inserts)} insert, {len(plan.updates)} update, {len(plan.deletes)} delete"
    if recreate:
        detail = "columns changed, table rebuilt; " + detail
    elif dictionary_differs:
        detail = "data dictionary; " + detail
    note(
        Change(
            "datastore",
            res.name,
            action,
            detail,
            {"insert": len(plan.inserts), "update": len(plan.updates), "delete": len(plan.deletes)},
        )
    )
    if dry_run or resource is None:
        return
    rid = resource["id"]
    if recreate:
        portal.call("datastore_delete", resource_id=rid, force=True)
    if info is None or recreate or dictionary_differs:
        portal.call("datastore_create", resource_id=rid, fields=fields, primary_key=key, force=True)
    if info is None:  # a new table: let the portal add its data preview (e.g. datatables_view)
        with contextlib.suppress(ckanapi.ValidationError, ckanapi.NotFound):
            fresh = portal.call("resource_show", id=rid)  # now with datastore_active
            portal.call("resource_create_default_resource_views", resource=fresh, create_datastore_views=True)
    for batch in _batches(plan.deletes, DELETE_BATCH):
        filters = {key[0]: batch} if len(key) == 1 else None
        if filters is None:
            raise PortalError("deleting rows by a composite primary key is not supported")
        portal.call("datastore_delete", resource_id=rid, filters=filters, force=True)
    for batch in _batches(_records(wanted, plan.updates), UPSERT_BATCH):
        portal.call("datastore_upsert", resource_id=rid, records=batch, method="upsert", force=True)
    for batch in _batches(_records(wanted, plan.inserts), INSERT_BATCH):
        try:  # insert is ~2x faster than upsert in CKAN, which upserts row by row
            portal.call("datastore_upsert", resource_id=rid, records=batch, method="insert", force=True)
        except ckanapi.ValidationError as exc:
            if "duplicate key" not in str(exc):
                raise PortalError(f"the DataStore refused rows of {res.name}: {_validation_text(exc)}") from None
            # rows an interrupted earlier push sent after we looked: make the batch idempotent
            portal.call("datastore_upsert", resource_id=rid, records=batch, method="upsert", force=True)
    # the table is now complete for this file: mark it (the last write of the load)
    portal.call("resource_patch", id=rid, **{DATASTORE_MARK: digest})


def _pg_type(datastore_type: str) -> str:
    return {"int": "int4", "text": "text", "numeric": "numeric", "date": "date", "bool": "bool"}.get(
        datastore_type, datastore_type
    )


def _dictionary_differs(info: dict[str, Any], fields: list[dict[str, Any]]) -> bool:
    have = {f["id"]: f.get("info") or {} for f in info.get("fields", [])}
    return any(
        (have.get(f["id"], {}).get("label") or "") != f["info"]["label"]
        or (have.get(f["id"], {}).get("notes") or "") != f["info"]["notes"]
        for f in fields
    )


@dataclass
class RowPlan:
    inserts: list[int]  # positions in the wanted frame
    updates: list[int]
    deletes: list[Any]  # primary-key values to delete

    @property
    def changes(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.deletes)


def diff_rows(existing: pd.DataFrame, wanted: pd.DataFrame, key: list[str]) -> RowPlan:
    """Rows to insert, update and delete so that `existing` becomes `wanted`, by row hash."""
    k = key[0] if len(key) == 1 else None
    want_key = wanted[k] if k else row_hashes(wanted[key])
    have_key = existing[k] if k else row_hashes(existing[key])
    have = dict(zip(have_key, row_hashes(existing), strict=True)) if len(existing) else {}
    want_hash = row_hashes(wanted) if len(wanted) else pd.Series(dtype="str")
    inserts, updates = [], []
    for pos, (kv, h) in enumerate(zip(want_key, want_hash, strict=True)):
        old = have.get(kv)
        if old is None:
            inserts.append(pos)
        elif old != h:
            updates.append(pos)
    wanted_keys = set(want_key)
    deletes = [kv for kv in have_key if kv not in wanted_keys]
    return RowPlan(inserts, updates, deletes)


def _records(frame: pd.DataFrame, positions: list[int]) -> list[dict[str, Any]]:
    if not positions:
        return []
    part = frame.iloc[positions]
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in part.to_dict(orient="records")]


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------- entry points


def published_datasets(published_dir: Path, names: tuple[str, ...] = ()) -> list[Path]:
    if not published_dir.is_dir():
        raise ConfigError(f"published folder not found: {published_dir}; run `make` first")
    folders = [p for p in sorted(published_dir.iterdir()) if (p / "datapackage.json").is_file()]
    if names:
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
) -> list[Change]:
    """Push (or plan) every published dataset; check everything locally before the first write."""
    folders = published_datasets(published_dir, datasets)
    desired = [desired_state(folder, schemas_dir) for folder in folders]
    portal.check_reachable()
    changes: list[Change] = []
    for target in desired:
        changes.extend(sync(portal, target, dry_run=dry_run, on_change=on_change))
    return changes
