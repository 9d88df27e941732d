"""The DataStore table: rows compared by a hash of each row keyed by the primary key, and a
completion mark set only after the last batch, so an interrupted load converges when run again."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import ckanapi
import pandas as pd

from pipeline import publish
from pipeline.ckan import xloader
from pipeline.ckan.change import Change
from pipeline.ckan.connection import Portal, _validation_text
from pipeline.ckan.desired import FileResource
from pipeline.errors import PortalError

DATASTORE_MARK = "datastore_complete_hash"  # resource field: sha256 of the file the table equals
INSERT_BATCH = 10_000
UPSERT_BATCH = 5_000
DELETE_BATCH = 1_000
SEARCH_PAGE = 32_000
# Table Schema's default spellings of booleans; the DataStore answers True / False
TRUE_VALUES = ["true", "True", "TRUE", "1"]
FALSE_VALUES = ["false", "False", "FALSE", "0"]
# CKAN column types for Table Schema types (the DataStore stores PostgreSQL types)
DATASTORE_TYPES = {"string": "text", "integer": "int", "number": "numeric", "date": "date", "boolean": "bool"}


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
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", engine="pyarrow")[names]
    # a schema's own notation (1.234,5 / ฿1234 / "-" for missing) is undone for the typed DataStore
    return publish.plain_text(frame, schema) if _own_notation(schema) else frame


NOTATION_KEYS = ("decimalChar", "groupChar", "bareNumber", "trueValues", "falseValues", "missingValues", "format")


def _own_notation(schema: dict[str, Any]) -> bool:
    """Whether any value may be spelt otherwise than the DataStore reads it (plain CSV text
    needs no conversion, and converting a million distinct numbers costs seconds)."""
    if schema.get("missingValues", [""]) != [""]:
        return True
    return any(k in f for f in schema["fields"] for k in NOTATION_KEYS)


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One hash per row over its canonical text, so rows compare without comparing every cell."""
    columns = [frame[c].astype("str").fillna("") for c in frame.columns]
    if not columns:
        return pd.Series([], dtype="str")
    joined = columns[0].str.cat(columns[1:], sep="\x1f") if len(columns) > 1 else columns[0]  # vectorized
    digests = [hashlib.blake2b(s.encode(), digest_size=16).hexdigest() for s in joined.tolist()]
    return pd.Series(digests, index=frame.index, dtype="str")


def primary_key(schema: dict[str, Any]) -> list[str]:
    """The Table Schema's primaryKey as a list (it may be one name or a list; [] when there is none)."""
    key = schema.get("primaryKey") or []
    return [key] if isinstance(key, str) else list(key)


def _portal_rows(portal: Portal, resource_id: str, names: list[str], key: list[str]) -> pd.DataFrame:
    """Every row of the DataStore table, as canonical text (paged, sorted by the key). A table
    without a key comes with its `_id` column (an int), the only way to delete one of its rows."""
    columns = names if key else ["_id", *names]
    frames = []
    offset = 0
    while True:
        page = portal.call(
            "datastore_search",
            resource_id=resource_id,
            fields=columns,
            limit=SEARCH_PAGE,
            offset=offset,
            sort=", ".join(key or ["_id"]),
            records_format="lists",
            include_total=False,
        )
        records = page.get("records", [])
        if records:
            frames.append(pd.DataFrame(records, columns=columns, dtype=object))
        if len(records) < SEARCH_PAGE:
            break
        offset += SEARCH_PAGE
    if not frames:
        return _empty_rows(names, key)
    frame = pd.concat(frames, ignore_index=True)
    text = frame[names].apply(lambda col: col.map(_canonical_cell)).astype("str")
    return text if key else pd.concat([frame[["_id"]].astype("int64"), text], axis=1)


def _empty_rows(names: list[str], key: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({n: pd.Series(dtype="str") for n in names})
    return frame if key else pd.concat([pd.DataFrame({"_id": pd.Series(dtype="int64")}), frame], axis=1)


def canonical_rows(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """Rows with one text per value of a numeric or boolean field (`7.50` and `7.5`, `True` and
    `true`), so the CSV's text and the DataStore's typed values compare equal when they are."""
    out = frame.copy()
    for f in schema["fields"]:
        kind = f.get("type", "string")
        if kind in ("number", "integer"):
            out[f["name"]] = out[f["name"]].map(_canonical_number)
        elif kind == "boolean":
            truth = {**dict.fromkeys(f.get("falseValues", FALSE_VALUES), "false")}
            truth.update(dict.fromkeys(f.get("trueValues", TRUE_VALUES), "true"))
            out[f["name"]] = out[f["name"]].map(lambda v, t=truth: t.get(v, v))
    return out


def _canonical_number(text: str) -> str:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return text  # not a number (or empty): compared as written
    return format(number.normalize(), "f") if number.is_finite() else text


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
    key = primary_key(schema)  # none: rows are matched whole, never by some other column
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
    if resource is not None and xloader.present(portal):
        xloader.wait(portal, resource["id"])  # a load xloader is still running would race the comparison
    if resource is not None and resource.get("datastore_active"):
        info = portal.show("datastore_info", id=resource["id"])
    recreate = False
    if info is not None:
        have = [(f["id"], f.get("type")) for f in info.get("fields", []) if not f["id"].startswith("_")]
        want = [(f["id"], _pg_type(f["type"])) for f in fields]
        recreate = [i for i, _ in have] != [i for i, _ in want] or [t for _, t in have] != [t for _, t in want]
        recreate = recreate or _keyed_otherwise(info, key)  # e.g. on its first column by an older push
    if info is None or recreate:
        plan = diff_rows(_empty_rows(names, key), wanted, key)
    elif previous is not None and key:  # without a key, deleting needs the portal's _id of each row
        plan = diff_rows(previous, wanted, key)  # both written by the build: the same text for the same value
    else:  # read back: the portal's values are typed (7.50 comes back 7.5, true as True): compare canonically
        existing = _portal_rows(portal, resource["id"], names, key)
        plan = diff_rows(canonical_rows(existing, schema), canonical_rows(wanted, schema), key)
    dictionary_differs = info is not None and not recreate and _dictionary_differs(info, fields)
    action = "create" if info is None else ("update" if recreate or plan.changes or dictionary_differs else "unchanged")
    detail = f"rows: {len(plan.inserts)} insert, {len(plan.updates)} update, {len(plan.deletes)} delete"
    if recreate:
        detail = "columns or key changed, table rebuilt; " + detail
    elif dictionary_differs:
        detail = "data dictionary; " + detail
    copy = info is None and xloader.can_copy(portal, names, len(plan.inserts))
    if copy:
        detail += " (through xloader's COPY)"
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
    if copy:
        xloader.copy_load(portal, rid, fields, key, len(wanted), _pg_type)
        plan.inserts = []
    elif info is None or recreate or dictionary_differs:
        portal.call("datastore_create", resource_id=rid, fields=fields, primary_key=key, force=True)
    if info is None:  # a new table: let the portal add its data preview (e.g. datatables_view)
        with contextlib.suppress(ckanapi.ValidationError, ckanapi.NotFound):
            fresh = portal.call("resource_show", id=rid)  # now with datastore_active
            portal.call("resource_create_default_resource_views", resource=fresh, create_datastore_views=True)
    for filters in _delete_filters(plan.deletes, key):
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
    # (with xloader, `hash` goes back to the sha256 in the same write: a COPY load leaves its md5 there)
    portal.call("resource_patch", id=rid, **{DATASTORE_MARK: digest, **({"hash": digest} if xloader.present(portal) else {})})


def _pg_type(datastore_type: str) -> str:
    return {"int": "int4", "text": "text", "numeric": "numeric", "date": "date", "bool": "bool"}.get(
        datastore_type, datastore_type
    )


def _keyed_otherwise(info: dict[str, Any], key: list[str]) -> bool:
    """Whether the table's indexes say it is keyed otherwise than `key`, from datastore_info's
    per-field schema (CKAN 2.11+; a portal that does not say is taken at its word). Columns that
    share an index name form one index; the key must be one of them, and a table without a key
    must have none (the pipeline creates no other index on data columns)."""
    fields = [f for f in info.get("fields", []) if not f["id"].startswith("_")]
    if not fields or any(not isinstance(f.get("schema"), dict) for f in fields):
        return False
    indexes: dict[str, set[str]] = {}
    for f in fields:
        if f["schema"].get("is_index"):
            indexes.setdefault(str(f["schema"].get("index_name")), set()).add(f["id"])
    return set(key) not in indexes.values() if key else bool(indexes)


def _dictionary_differs(info: dict[str, Any], fields: list[dict[str, Any]]) -> bool:
    have = {f["id"]: f.get("info") or {} for f in info.get("fields", [])}
    return any(
        (have.get(f["id"], {}).get("label") or "") != f["info"]["label"]
        or (have.get(f["id"], {}).get("notes") or "") != f["info"]["notes"]
        for f in fields
    )


def _delete_filters(deletes: list[Any], key: list[str]) -> Iterator[dict[str, Any]]:
    """datastore_delete filters that delete exactly these rows: a list of values on the last key
    column, the other key columns fixed (a filter's lists are matched column by column, so
    a list on two columns would also delete their cross product); `_id`s without a key."""
    if not key:
        for batch in _batches([int(i) for i in deletes], DELETE_BATCH):
            yield {"_id": batch}
        return
    if len(key) == 1:
        for batch in _batches(deletes, DELETE_BATCH):
            yield {key[0]: batch}
        return
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for values in deletes:
        groups.setdefault(tuple(values[:-1]), []).append(values[-1])
    for prefix, last in groups.items():
        for batch in _batches(last, DELETE_BATCH):
            yield {**dict(zip(key[:-1], prefix, strict=True)), key[-1]: batch}


@dataclass
class RowPlan:
    inserts: list[int]  # positions in the wanted frame
    updates: list[int]
    deletes: list[Any]  # key values (a tuple for a composite key; `_id` without a key) to delete

    @property
    def changes(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.deletes)


def diff_rows(existing: pd.DataFrame, wanted: pd.DataFrame, key: list[str]) -> RowPlan:
    """Rows to insert, update and delete so that `existing` becomes `wanted`, by row hash.
    Without a key, a row is its whole content: a changed row is one delete and one insert."""
    if existing.empty:  # a first load: every row is an insert (hashing them all cost seconds per 100k)
        return RowPlan(list(range(len(wanted))), [], [])
    if not key:
        return _diff_whole_rows(existing, wanted)
    want_key = _key_values(wanted, key)
    have_key = _key_values(existing, key)
    have = dict(zip(have_key, row_hashes(existing[list(wanted.columns)]), strict=True)) if len(existing) else {}
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


def _key_values(frame: pd.DataFrame, key: list[str]) -> list[Any]:
    if len(key) == 1:
        return frame[key[0]].tolist()
    return list(zip(*(frame[c].tolist() for c in key), strict=True))


def _diff_whole_rows(existing: pd.DataFrame, wanted: pd.DataFrame) -> RowPlan:
    """Match rows by their whole content, as a multiset (a row kept twice is matched twice)."""
    names = list(wanted.columns)
    ids = existing["_id"].tolist() if "_id" in existing.columns else list(range(len(existing)))
    pool: dict[str, list[Any]] = {}
    for digest, row_id in zip(row_hashes(existing[names]) if len(existing) else [], ids, strict=True):
        pool.setdefault(digest, []).append(row_id)
    inserts = []
    for pos, digest in enumerate(row_hashes(wanted) if len(wanted) else []):
        held = pool.get(digest)
        if held:
            held.pop()
        else:
            inserts.append(pos)
    return RowPlan(inserts, [], [row_id for held in pool.values() for row_id in held])


def _records(frame: pd.DataFrame, positions: list[int]) -> list[dict[str, Any]]:
    if not positions:
        return []
    part = frame.iloc[positions]
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in part.to_dict(orient="records")]


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
