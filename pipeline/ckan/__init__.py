"""Stage 6, push: make a CKAN portal equal to what is published, with as few writes as possible.

Everything is compared before anything is written: organization and dataset metadata
field by field, files by sha256 (kept in the resource's standard `hash` field), DataStore
rows by a hash of each row keyed by the primary key. A second push with nothing changed
makes zero write calls; a push that dies half-way converges when run again, because every
step compares the portal's actual state with the published one.

`plan` runs the same comparison and writes nothing. The API token is held by the session
only: it is never printed, logged or put into an error message.

Modules, in the order a push runs: `connection` (token, action client), `desired` (the target
state from a published folder), `change` (what is reported), `package` (organization and
dataset metadata), `resources` (files), `datastore` (table rows), `entry` (sync, push).
"""

from pipeline.ckan.change import Change, pending
from pipeline.ckan.connection import (
    DEFAULT_TOKEN_FILE,
    DEFAULT_URL,
    REPEATABLE_WRITES,
    WRITE_VERBS,
    Portal,
    TransientPortalError,
    read_token,
)
from pipeline.ckan.datastore import (
    DATASTORE_MARK,
    DATASTORE_TYPES,
    DELETE_BATCH,
    INSERT_BATCH,
    SEARCH_PAGE,
    UPSERT_BATCH,
    RowPlan,
    canonical_rows,
    datastore_fields,
    diff_rows,
    primary_key,
    published_rows,
    row_hashes,
)
from pipeline.ckan.desired import (
    CORE_PACKAGE_KEYS,
    OTHER_CHOICE,
    Desired,
    FileResource,
    desired_state,
    fit_to_portal_schema,
)
from pipeline.ckan.entry import guard, published_datasets, push, sync

__all__ = [
    "CORE_PACKAGE_KEYS",
    "DATASTORE_MARK",
    "DATASTORE_TYPES",
    "DEFAULT_TOKEN_FILE",
    "DEFAULT_URL",
    "DELETE_BATCH",
    "INSERT_BATCH",
    "OTHER_CHOICE",
    "REPEATABLE_WRITES",
    "SEARCH_PAGE",
    "UPSERT_BATCH",
    "WRITE_VERBS",
    "Change",
    "Desired",
    "FileResource",
    "Portal",
    "RowPlan",
    "TransientPortalError",
    "canonical_rows",
    "datastore_fields",
    "desired_state",
    "diff_rows",
    "fit_to_portal_schema",
    "guard",
    "primary_key",
    "published_datasets",
    "pending",
    "published_rows",
    "push",
    "read_token",
    "row_hashes",
    "sync",
]
