"""The DataStore table: rows compared by a hash of each row keyed by the primary key, and a
completion mark set only after the last batch, so an interrupted load converges when run again."""

from __future__ import annotations

import contextlib
import hashlib
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import ckanapi
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline import publish
from pipeline.ckan import xloader
from pipeline.ckan.change import Change
from pipeline.ckan.connection import Portal, _validation_text
from pipeline.ckan.desired import FileResource
from pipeline.errors import PortalError

DATASTORE_MARK = "datastore_complete_hash"  # resource field: sha256 of the file the table equals
# resource field: a digest of the columns, types, data dictionary and key the table was made with
# (the same file under another primaryKey or other titles still changes the table)
TABLE_MARK = "datastore_table_hash"
INSERT_BATCH = 10_000
UPSERT_BATCH = 5_000
READ_BLOCK = 4 << 20  # bytes of CSV parsed at a time: the push never holds the table whole
# DataStore writes in flight at once (the portal's web workers load them side by side);
# CKAN_PUSH_PARALLEL=1 sends one batch after another
PARALLEL = 2
PARALLEL_SWITCH = "CKAN_PUSH_PARALLEL"
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
    """The published CSV as text, whole (for callers that need it so; the push reads it in batches)."""
    names = [f["name"] for f in schema["fields"]]
    frames = list(csv_batches(path, names, 1 << 30))
    return frames[0] if frames else pd.DataFrame({n: pd.Series(dtype="str") for n in names})


def csv_batches(path: Path, names: list[str], rows: int = INSERT_BATCH) -> Iterator[pd.DataFrame]:
    """The CSV's columns `names` as text, `rows` rows at a time (the last batch may be shorter):
    Arrow parses a few MB at a time, so memory does not grow with the file."""
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        include_columns=names,
        strings_can_be_null=False,  # an empty cell is "", as written
        quoted_strings_can_be_null=False,
    )
    held: list[pa.RecordBatch] = []
    count = 0
    with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=READ_BLOCK), convert_options=convert) as reader:
        for batch in reader:  # Arrow skips a UTF-8 byte order mark
            held.append(batch)
            count += batch.num_rows
            while count >= rows:
                table = pa.Table.from_batches(held)
                yield _text_frame(table.slice(0, rows))
                rest = table.slice(rows)
                held, count = rest.to_batches(), rest.num_rows
        if count:
            yield _text_frame(pa.Table.from_batches(held, schema=reader.schema))


_ARROW_TEXT = {pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}  # pandas' "str", kept in Arrow


def _text_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_ARROW_TEXT.get).astype("str")  # no Python object per cell on the way


def csv_columns(path: Path) -> list[str]:
    """The CSV's header."""
    with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)) as reader:
        return reader.schema.names


def count_rows(path: Path, names: list[str]) -> int:
    """Rows in the CSV, read in batches."""
    return sum(len(frame) for frame in csv_batches(path, names[:1], 1 << 20))


NOTATION_KEYS = ("decimalChar", "groupChar", "bareNumber", "trueValues", "falseValues", "missingValues", "format")


def _own_notation(schema: dict[str, Any]) -> bool:
    """Whether any value may be spelt otherwise than the DataStore reads it (plain CSV text
    needs no conversion, and converting a million distinct numbers costs seconds)."""
    if schema.get("missingValues", [""]) != [""]:
        return True
    dated = ("date", "time", "datetime", "year", "yearmonth")
    return any(
        k in f and (k != "format" or (f.get("type") in dated and f[k] not in ("default", "any")))
        for f in schema["fields"]
        for k in NOTATION_KEYS
    )


def plain_batches(
    path: Path, names: list[str], schema: dict[str, Any], rows: int = INSERT_BATCH
) -> Iterator[pd.DataFrame]:
    """`csv_batches` as the typed DataStore reads them: a schema's own notation (1.234,5 / ฿1234 /
    "-" for missing) undone, batch by batch."""
    own = _own_notation(schema)
    for frame in csv_batches(path, names, rows):
        yield publish.plain_text(frame, schema) if own else frame


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One hash per row over its canonical text, so rows compare without comparing every cell."""
    columns = [frame[c].astype("str").fillna("") for c in frame.columns]
    if not columns:
        return pd.Series([], dtype="str")
    joined = columns[0].str.cat(columns[1:], sep="\x1f") if len(columns) > 1 else columns[0]  # vectorized
    digests = [hashlib.blake2b(s.encode(), digest_size=16).hexdigest() for s in joined.tolist()]
    return pd.Series(digests, index=frame.index, dtype="str")


def _digests(frame: pd.DataFrame) -> list[bytes]:
    """row_hashes as 16 raw bytes each: what a diff keeps of a row instead of the row."""
    if not len(frame.columns):
        return [b""] * len(frame)
    columns = [frame[c].astype("str").fillna("") for c in frame.columns]
    joined = columns[0].str.cat(columns[1:], sep="\x1f") if len(columns) > 1 else columns[0]
    return [hashlib.blake2b(s.encode(), digest_size=16).digest() for s in joined.tolist()]


def primary_key(schema: dict[str, Any]) -> list[str]:
    """The Table Schema's primaryKey as a list (it may be one name or a list; [] when there is none)."""
    key = schema.get("primaryKey") or []
    return [key] if isinstance(key, str) else list(key)


def _portal_rows(portal: Portal, resource_id: str, names: list[str], key: list[str]) -> Iterator[pd.DataFrame]:
    """Every row of the DataStore table, as canonical text, one page at a time (sorted by the key).
    A table without a key comes with its `_id` column (an int), the only way to delete one of its rows."""
    columns = names if key else ["_id", *names]
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
            frame = pd.DataFrame(records, columns=columns, dtype=object)
            text = frame[names].apply(lambda col: col.map(_canonical_cell)).astype("str")
            yield text if key else pd.concat([frame[["_id"]].astype("int64"), text], axis=1)
        if len(records) < SEARCH_PAGE:
            return
        offset += SEARCH_PAGE


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
    previous: Path | None = None,
) -> None:
    """Make the DataStore table equal the published CSV. A completion mark on the resource
    (the sha256 of the file the table was last completed from) is set only after the last
    batch: a push that dies half-way leaves no mark, and the next one compares every row."""
    names = [f["name"] for f in schema["fields"]]
    key = primary_key(schema)  # none: rows are matched whole, never by some other column
    fields = datastore_fields(schema)
    digest = f"sha256:{res.sha256}"
    table = _table_digest(fields, key)
    if (
        resource is not None
        and resource.get("datastore_active")
        and resource.get(DATASTORE_MARK) == digest
        and resource.get(TABLE_MARK) == table
    ):
        note(
            Change(
                "datastore", res.name, "unchanged", "complete for this file", {"insert": 0, "update": 0, "delete": 0}
            )
        )
        return
    info = None
    if resource is not None and xloader.present(portal) and not _skipped_by_xloader(resource, res):
        xloader.wait(portal, resource["id"])  # a load xloader is still running would race the comparison
    if resource is not None and resource.get("datastore_active"):
        info = portal.show("datastore_info", id=resource["id"])
    recreate = False
    if info is not None:
        have = [(f["id"], f.get("type")) for f in info.get("fields", []) if not f["id"].startswith("_")]
        want = [(f["id"], _pg_type(f["type"])) for f in fields]
        recreate = [i for i, _ in have] != [i for i, _ in want] or [t for _, t in have] != [t for _, t in want]
        recreate = recreate or _keyed_otherwise(info, key)  # e.g. on its first column by an older push
    if info is None or recreate:  # a first load: every row is an insert, nothing to compare
        plan = RowPlan(range(count_rows(res.path, names)), [], [])
    elif previous is not None and key:  # without a key, deleting needs the portal's _id of each row
        # both written by the build: the same text for the same value
        plan = plan_rows(csv_batches(previous, names), csv_batches(res.path, names), key, names)
    else:  # read back: the portal's values are typed (7.50 comes back 7.5, true as True): compare canonically
        plan = plan_rows(
            (canonical_rows(f, schema) for f in _portal_rows(portal, resource["id"], names, key)),
            (canonical_rows(f, schema) for f in plain_batches(res.path, names, schema)),
            key,
            names,
        )
    dictionary_differs = info is not None and not recreate and _dictionary_differs(info, fields)
    action = "create" if info is None else ("update" if recreate or plan.changes or dictionary_differs else "unchanged")
    detail = f"rows: {len(plan.inserts)} insert, {len(plan.updates)} update, {len(plan.deletes)} delete"
    if recreate:
        detail = "columns or key changed, table rebuilt; " + detail
    elif dictionary_differs:
        detail = "data dictionary; " + detail
    # xloader COPYs the file as written: only plain notation (else the rows go through the API, converted)
    copy = info is None and not _own_notation(schema) and xloader.can_copy(portal, names, len(plan.inserts))
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
        xloader.copy_load(portal, rid, fields, key, len(plan.inserts), _pg_type)
        plan.inserts = range(0)
    elif info is None or recreate or dictionary_differs:
        portal.call("datastore_create", resource_id=rid, fields=fields, primary_key=key, force=True)
    if info is None:  # a new table: let the portal add its data preview (e.g. datatables_view)
        with contextlib.suppress(ckanapi.ValidationError, ckanapi.NotFound):
            fresh = portal.call("resource_show", id=rid)  # now with datastore_active
            portal.call("resource_create_default_resource_views", resource=fresh, create_datastore_views=True)
    for filters in _delete_filters(plan.deletes, key):
        portal.call("datastore_delete", resource_id=rid, filters=filters, force=True)
    _send_rows(portal, rid, res, names, schema, plan.updates, "upsert", UPSERT_BATCH)
    _send_rows(portal, rid, res, names, schema, plan.inserts, "insert", INSERT_BATCH)
    # the table is now complete for this file: mark it (the last write of the load)
    # (with xloader, `hash` goes back to the sha256 in the same write: a COPY load leaves its md5 there)
    if xloader.present(portal):  # its job must have seen the md5 (and skipped) before `hash` changes
        xloader.wait(portal, rid)
    portal.call(
        "resource_patch",
        id=rid,
        **{DATASTORE_MARK: digest, TABLE_MARK: table, **({"hash": digest} if xloader.present(portal) else {})},
    )


def _table_digest(fields: list[dict[str, Any]], key: list[str]) -> str:
    """The table's definition as one short digest: columns, types, data dictionary, key."""
    return "sha256:" + hashlib.sha256(orjson.dumps([fields, key], option=orjson.OPT_SORT_KEYS)).hexdigest()


def _skipped_by_xloader(resource: dict[str, Any], res: FileResource) -> bool:
    """A new table for a file this push uploaded with its md5 as `hash`: xloader's job on it skips,
    so the load need not wait for it (its download of the file runs beside the load)."""
    return not resource.get("datastore_active") and resource.get("hash") == xloader.md5_file(res.path)


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
    inserts: Sequence[int]  # positions in the CSV (a range for a first load)
    updates: Sequence[int]
    deletes: list[Any]  # key values (a tuple for a composite key; `_id` without a key) to delete

    @property
    def changes(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.deletes)


def diff_rows(existing: pd.DataFrame, wanted: pd.DataFrame, key: list[str]) -> RowPlan:
    """Rows to insert, update and delete so that `existing` becomes `wanted`, by row hash.
    Without a key, a row is its whole content: a changed row is one delete and one insert."""
    if existing.empty:  # a first load: every row is an insert
        return RowPlan(list(range(len(wanted))), [], [])
    plan = plan_rows([existing], [wanted], key, list(wanted.columns))
    return RowPlan(list(plan.inserts), list(plan.updates), plan.deletes)


def plan_rows(
    existing: Iterable[pd.DataFrame], wanted: Iterable[pd.DataFrame], key: list[str], names: list[str]
) -> RowPlan:
    """diff_rows over two streams of batches, holding only each existing row's key and 16-byte
    hash (a row's `_id` without a key), never the rows: positions of the wanted rows to send."""
    inserts, updates = array("q"), array("q")
    pos = 0
    if not key:  # match rows by their whole content, as a multiset (a row kept twice is matched twice)
        pool: dict[bytes, list[Any]] = {}
        seen = 0
        for frame in existing:
            ids = frame["_id"].tolist() if "_id" in frame.columns else range(seen, seen + len(frame))
            seen += len(frame)
            for digest, row_id in zip(_digests(frame[names]), ids, strict=True):
                pool.setdefault(digest, []).append(row_id)
        for frame in wanted:
            for digest in _digests(frame[names]):
                held = pool.get(digest)
                if held:
                    held.pop()
                else:
                    inserts.append(pos)
                pos += 1
        return RowPlan(inserts, updates, [row_id for held in pool.values() for row_id in held])
    have: dict[Any, bytes] = {}
    for frame in existing:
        have.update(zip(_key_values(frame, key), _digests(frame[names]), strict=True))
    for frame in wanted:
        for kv, digest in zip(_key_values(frame, key), _digests(frame[names]), strict=True):
            old = have.pop(kv, None)
            if old is None:
                inserts.append(pos)
            elif old != digest:
                updates.append(pos)
            pos += 1
    return RowPlan(inserts, updates, list(have))


def _key_values(frame: pd.DataFrame, key: list[str]) -> list[Any]:
    if len(key) == 1:
        return frame[key[0]].tolist()
    return list(zip(*(frame[c].tolist() for c in key), strict=True))


def _records_json(frame: pd.DataFrame) -> orjson.Fragment:
    """The rows as the DataStore's JSON records ("" as null), serialized once by orjson: no
    per-call re-encoding, and UTF-8 rather than ckanapi's \\u escapes (half the bytes for Thai)."""
    names = list(frame.columns)
    columns = [frame[c].tolist() for c in names]
    return orjson.Fragment(
        orjson.dumps(
            [
                {k: (v if v != "" else None) for k, v in zip(names, row, strict=True)}
                for row in zip(*columns, strict=True)
            ]
        )
    )


def _selected(
    path: Path, names: list[str], schema: dict[str, Any], positions: Sequence[int], size: int
) -> Iterator[pd.DataFrame]:
    """The CSV rows at `positions` (ascending), `size` at a time, read in batches."""
    if isinstance(positions, range) and positions.step == 1 and positions.start == 0:
        yield from plain_batches(path, names, schema, size)  # every row: a first load
        return
    wanted = np.asarray(positions, dtype=np.int64)
    pending: list[pd.DataFrame] = []
    count = start = 0
    for frame in plain_batches(path, names, schema, INSERT_BATCH):
        lo, hi = np.searchsorted(wanted, [start, start + len(frame)])
        start += len(frame)
        if hi > lo:
            pending.append(frame.iloc[wanted[lo:hi] - (start - len(frame))])
            count += hi - lo
        while count >= size:
            joined = pd.concat(pending, ignore_index=True)
            yield joined.iloc[:size]
            pending, count = [joined.iloc[size:]], len(joined) - size
    if count:
        yield pd.concat(pending, ignore_index=True)


def _send_rows(
    portal: Portal,
    rid: str,
    res: FileResource,
    names: list[str],
    schema: dict[str, Any],
    positions: Sequence[int],
    method: str,
    size: int,
) -> None:
    """Send the CSV rows at `positions` with datastore_upsert, a few batches in flight at once
    (each batch read, serialized and sent while the portal loads the previous ones)."""
    if not len(positions):
        return

    def send(records: orjson.Fragment, count: bool | str) -> None:
        call = {"resource_id": rid, "records": records, "force": True, "calculate_record_count": count}
        try:  # insert is ~2x faster than upsert in CKAN, which upserts row by row
            portal.call("datastore_upsert", method=method, **call)
        except ckanapi.ValidationError as exc:
            if method != "insert" or "duplicate key" not in str(exc):
                raise PortalError(f"the DataStore refused rows of {res.name}: {_validation_text(exc)}") from None
            # rows an interrupted earlier push sent after we looked: make the batch idempotent
            portal.call("datastore_upsert", method="upsert", **call)

    workers = max(1, int(os.environ.get(PARALLEL_SWITCH, PARALLEL)))
    batches = _selected(res.path, names, schema, positions, size)
    ahead = next(batches, None)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        flying: list[Future[None]] = []
        for frame in batches:
            if len(flying) >= workers:  # bounded: at most `workers` batches wait in memory
                flying.pop(0).result()
            # no record count per batch: CKAN would queue a count job for each (its default)
            flying.append(pool.submit(send, _records_json(ahead), False))
            ahead = frame
        for future in flying:
            future.result()
    if ahead is not None:  # the last batch, alone: the portal counts the table's rows once, now
        send(_records_json(ahead), "background" if len(positions) <= size else True)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _previous_file(
    portal: Portal, resource: dict[str, Any] | None, res: FileResource, schema: dict[str, Any], folder: Path
) -> Path | None:
    """The file the DataStore was last completed from, downloaded into `folder`, when the portal
    still serves that very file (its `hash` equals the DataStore's completion mark)."""
    if not resource or not resource.get("datastore_active"):
        return None
    mark = resource.get(DATASTORE_MARK)
    if not mark or mark != resource.get("hash") or mark == f"sha256:{res.sha256}":
        return None
    target = folder / "previous.csv"
    if not portal.download_to(resource.get("url", ""), target):
        return None
    digest = hashlib.sha256()
    with target.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if f"sha256:{digest.hexdigest()}" != mark:
        return None
    names = [f["name"] for f in schema["fields"]]
    try:
        return target if set(names) <= set(csv_columns(target)) else None
    except pa.ArrowInvalid:
        return None
