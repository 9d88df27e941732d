"""ckanext-xloader on the portal (as on data.go.th): kept from reloading what the push loads,
and used as the fast path of a first load.

xloader queues a job on every uploaded CSV/XLS(X). The job downloads the file and skips it
when the resource's `hash` already equals the file's md5; otherwise it truncates (or drops) the
DataStore table, COPYs the file in as text (or as the types a Data Dictionary `type_override`
names), and writes the md5 into `hash`. So the push:
- uploads with `hash` = the file's md5 (xloader skips the job: no second, text-typed load),
  waits until that job has finished, then puts the sha256 back into `hash`;
- for a first load, creates the typed table itself (Table Schema types also as
  `type_override`, Thai data dictionary, primary key) and asks xloader to COPY the file into it
  (`xloader_submit`), then checks the table: types, dictionary, row count; a one-row change
  still goes through the DataStore API, one row.
A portal without xloader (no `xloader` in status_show's extensions) keeps the plain path.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
import weakref
from pathlib import Path
from typing import Any

import ckanapi

from pipeline.ckan.connection import Portal
from pipeline.errors import PortalError

PLUGIN = "xloader"
WAIT_SECONDS = 600.0  # the longest a push waits for one xloader job
POLL_SECONDS = 0.25
# a first load of at least this many rows goes through xloader's COPY (its queue costs about two
# seconds, what the DataStore API loads of ~10,000 rows); CKAN_XLOADER_COPY=0 turns it off
COPY_MIN_ROWS = 10_000
COPY_SWITCH = "CKAN_XLOADER_COPY"
DONE = ("complete", "error")
# the resource formats xloader loads unless the portal configures others (ckanext.xloader.formats);
# a format it loads against this list only costs a write: its md5 in `hash` is put back next push
FORMATS = {"csv", "tsv", "xls", "xlsx", "ods"}
_present: weakref.WeakKeyDictionary[Portal, bool] = weakref.WeakKeyDictionary()
_polls: weakref.WeakKeyDictionary[Portal, int] = weakref.WeakKeyDictionary()


def present(portal: Portal) -> bool:
    """Whether the portal runs ckanext-xloader (asked once per Portal)."""
    if portal not in _present:
        status = portal.call("status_show")
        _present[portal] = PLUGIN in (status.get("extensions") or [])
    return _present[portal]


def md5_file(path: Path) -> str:
    """The digest xloader compares with `hash` to decide whether a file changed."""
    stat = path.stat()
    return _md5(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _md5(path: Path, _size: int, _mtime: int) -> str:  # a million-row file is read once, not per question
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file(current: dict[str, Any], sha256: str, path: Path, portal: Portal) -> bool:
    """The portal's file is this one: `hash` holds its sha256, or (xloader wrote it, or a push
    stopped before writing the sha256 back) its md5."""
    have = current.get("hash") or ""
    if have == f"sha256:{sha256}":
        return True
    return present(portal) and len(have) == 32 and have == md5_file(path)


def status_reads(portal: Portal) -> int:
    """How many of the portal's reads were xloader_status polls (they depend on the job queue)."""
    return _polls.get(portal, 0)


def _status(portal: Portal, resource_id: str) -> dict[str, Any]:
    _polls[portal] = _polls.get(portal, 0) + 1
    try:
        return portal.call("xloader_status", resource_id=resource_id) or {}
    except ckanapi.NotFound:
        return {}


def _token(status: dict[str, Any]) -> tuple[Any, Any, Any]:
    return status.get("job_id"), status.get("status"), status.get("last_updated")


def wait(portal: Portal, resource_id: str, before: tuple[Any, Any, Any] | None = None) -> dict[str, Any]:
    """Wait until xloader's latest job on the resource has finished. With `before` (the status
    read before a write), a status that has not moved since means no job was queued."""
    deadline = time.monotonic() + WAIT_SECONDS
    pause = POLL_SECONDS
    while True:
        status = _status(portal, resource_id)
        if not status or status.get("status") in DONE or (before is not None and _token(status) == before):
            return status
        if time.monotonic() > deadline:
            raise PortalError(f"xloader did not finish its job on resource {resource_id} in {WAIT_SECONDS:.0f} s")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def upload(portal: Portal, action: str, path: Path, meta: dict[str, Any], table: bool, **ids: Any) -> dict[str, Any]:
    """resource_create/resource_patch with the file. With xloader, a format it loads is sent with
    the md5 as `hash` so that its job skips the file; the sha256 goes back once the job is done:
    for the table, by the DataStore step (which waits for the job) with its completion mark."""
    if not present(portal) or str(meta.get("format", "")).lower() not in FORMATS:
        with path.open("rb") as fh:
            return portal.call(action, files={"upload": fh}, **ids, **meta)
    before = None
    if "id" in ids:  # an earlier job still queued would load the new file: let it finish first
        before = _token(wait(portal, ids["id"]))
    with path.open("rb") as fh:
        result = portal.call(action, files={"upload": fh}, **ids, **{**meta, "hash": md5_file(path)})
    if table:
        return result
    wait(portal, result["id"], before)
    return portal.call("resource_patch", id=result["id"], hash=meta["hash"])


def copy_load(
    portal: Portal, resource_id: str, fields: list[dict[str, Any]], key: list[str], expected_rows: int, pg_type: Any
) -> None:
    """First load through xloader's PostgreSQL COPY into the table the push defines."""
    typed = [
        {**f, "info": {**f.get("info", {}), "type_override": pg_type(f["type"])}, "strip_extra_white": False}
        for f in fields
    ]
    portal.call("datastore_create", resource_id=resource_id, fields=typed, primary_key=key, force=True)
    before = _token(wait(portal, resource_id))
    portal.call("xloader_submit", resource_id=resource_id, ignore_hash=True)
    status = wait(portal, resource_id, before)
    if status.get("status") != "complete":
        raise PortalError(f"xloader could not load resource {resource_id}: {status.get('error') or status}")
    # xloader recreates the table when it finds the columns changed: the key is set again (a no-op otherwise)
    portal.call("datastore_create", resource_id=resource_id, fields=typed, primary_key=key, force=True)
    total = portal.call("datastore_search", resource_id=resource_id, limit=0)["total"]
    if total != expected_rows:
        raise PortalError(
            f"xloader loaded {total:,} rows into resource {resource_id} but the CSV has {expected_rows:,}; "
            "run the push again to compare row by row"
        )


def can_copy(portal: Portal, names: list[str], rows: int) -> bool:
    """Whether a first load goes through xloader's COPY. Not for non-ASCII column names, which
    xloader transliterates (unidecode_headers)."""
    if os.environ.get(COPY_SWITCH, "1") == "0" or rows < COPY_MIN_ROWS:
        return False
    return present(portal) and all(n.isascii() for n in names)
