"""Package index and package_search backed by CKAN's own PostgreSQL tables.

CKAN 2.12 indexes inside package_create and fails without Solr (the
`automatic_indexing` switch is gone since 2.10), and Solr cannot be installed where
this portal runs. CKAN has no public search-backend interface, so this swaps the
private objects of `ckan.lib.search`: indexing becomes a no-op and package queries
read the package tables.

Supported: `q` free text (every word must occur, case-insensitive substring — so
Thai, which has no word breaks, matches) in name, title, notes, tags and extras;
`field:value` tokens in q and fq for state, capacity, owner_org, organization, groups,
tags, name, title (exact), id, type/dataset_type, license_id, res_format and any extra / scheming
field (`extras_<key>` or the bare key); `+`/`-` prefixes, `field:(a OR b)`, quotes;
sort on metadata_modified, metadata_created, name, title; rows/start; facets on
owner_org, organization, groups, tags, license_id, res_format; `fl`.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

import ckan.lib.search as ckan_search
import ckan.model as model
import sqlalchemy as sa
from ckan.lib.search.common import SearchError
from ckan.lib.search.index import NoopSearchIndex
from ckan.lib.search.query import SearchQuery

log = logging.getLogger(__name__)

FIELD_TOKEN = re.compile(r'([+-]?)([A-Za-z_][\w.]*):(?:"((?:[^"\\]|\\.)*)"|\(([^)]*)\)|(\S+))')
MATCH_ALL = {"", "*:*", '""', "''"}
IGNORED_FIELDS = {"site_id", "entity_type", "permission_labels", "dataset_type_facet"}
SORT_COLUMNS = {
    "metadata_modified": "metadata_modified",
    "metadata_created": "metadata_created",
    "name": "name",
    "title": "title",
    "title_string": "title",
}


def _token_values(m: re.Match[str]) -> list[str]:
    quoted, group, bare = m.group(3), m.group(4), m.group(5)
    if quoted is not None:
        return [quoted]
    if group is not None:
        return [v.strip().strip('"') for v in re.split(r"\s+OR\s+", group.strip()) if v.strip()]
    return [bare.strip('"')]


def _field_clause(field: str, values: list[str]) -> Any:
    """SQL condition for one field filter, or None when the field is not supported."""
    P = model.Package
    if field == "capacity":
        return {"public": P.private.is_(False), "private": P.private.is_(True)}.get(values[0])
    if field == "state":
        return P.state.in_(values)
    if field in ("name", "id", "license_id", "owner_org", "type", "title"):
        return getattr(P, field).in_(values)
    if field == "dataset_type":
        return P.type.in_(values)
    if field == "organization":
        return P.owner_org.in_(sa.select(model.Group.id).where(model.Group.name.in_(values)))
    if field == "groups":
        members = (
            sa.select(model.Member.table_id)
            .join(model.Group, model.Group.id == model.Member.group_id)
            .where(
                model.Member.table_name == "package",
                model.Member.state == "active",
                model.Group.is_organization.is_(False),
                model.Group.name.in_(values),
            )
        )
        return P.id.in_(members)
    if field == "tags":
        tagged = (
            sa.select(model.PackageTag.package_id)
            .join(model.Tag, model.Tag.id == model.PackageTag.tag_id)
            .where(model.PackageTag.state == "active", model.Tag.name.in_(values))
        )
        return P.id.in_(tagged)
    if field == "res_format":
        formats = sa.select(model.Resource.package_id).where(
            model.Resource.state == "active", sa.func.upper(model.Resource.format).in_([v.upper() for v in values])
        )
        return P.id.in_(formats)
    if field in IGNORED_FIELDS:
        return None
    key = field.removeprefix("extras_")
    # CKAN 2.12 keeps extras (and scheming's custom fields) in the JSONB column package.extras
    return P.extras[key].astext.in_(values)


def _text_clause(word: str) -> Any:
    P = model.Package
    like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    tagged = (
        sa.select(model.PackageTag.package_id)
        .join(model.Tag, model.Tag.id == model.PackageTag.tag_id)
        .where(model.PackageTag.state == "active", model.Tag.name.ilike(like))
    )
    return sa.or_(
        P.name.ilike(like),
        P.title.ilike(like),
        P.notes.ilike(like),
        sa.cast(P.extras, sa.Text).ilike(like),
        P.id.in_(tagged),
    )


def _package_dicts(package_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from ckan import logic

    context: Any = {"ignore_auth": True, "user": "", "session": model.Session}
    return logic.package_show_default_and_custom_schemas(context, package_id)


class DatabasePackageQuery(SearchQuery):
    """PackageSearchQuery that answers from PostgreSQL."""

    def get_all_entity_ids(self, max_results: int = 1000) -> list[str]:
        rows = model.Session.query(model.Package.id).filter(model.Package.state == "active").limit(max_results)
        return [r[0] for r in rows]

    def get_index(self, reference: str) -> dict[str, Any]:
        raise SearchError("no search index: package_show reads the database")

    def run(self, query: dict[str, Any], permission_labels: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        P = model.Package
        sql = model.Session.query(P)
        fqs = query.get("fq") or []
        fqs = [fqs] if isinstance(fqs, str) else list(fqs)
        fqs += list(query.get("fq_list") or [])
        q = str(query.get("q") or "").strip()
        q = "" if q in MATCH_ALL else q
        tokens = [m for fq in fqs for m in FIELD_TOKEN.finditer(fq)] + list(FIELD_TOKEN.finditer(q))
        filters_state = False
        for m in tokens:
            field, values = m.group(2), _token_values(m)
            filters_state |= field == "state"
            clause = _field_clause(field, values)
            if clause is not None:
                sql = sql.filter(sa.not_(clause) if m.group(1) == "-" else clause)
        if not filters_state:
            sql = sql.filter(P.state == "active")
        for word in FIELD_TOKEN.sub(" ", q).split():
            word = word.strip('"')
            if word and word.upper() not in ("AND", "OR", "*"):
                sql = sql.filter(_text_clause(word))
        order = []
        for part in str(query.get("sort") or "metadata_modified desc").split(","):
            bits = part.split()
            if bits and bits[0] in SORT_COLUMNS:
                column = getattr(P, SORT_COLUMNS[bits[0]])
                order.append(column.desc() if len(bits) > 1 and bits[1].lower() == "desc" else column.asc())
        packages = sql.order_by(*order, P.id.asc()).all()
        if permission_labels is not None:
            from ckan.lib.plugins import get_permission_labels

            labeler = get_permission_labels()
            allowed = set(permission_labels)
            packages = [pkg for pkg in packages if allowed & set(labeler.get_dataset_labels(pkg))]
        self.count = len(packages)
        start, rows = int(query.get("start") or 0), int(query.get("rows", 10))
        page = packages[start : start + rows] if rows >= 0 else packages[start:]
        self.results = [self._result(pkg, query.get("fl") or "name") for pkg in page]
        self.facets = self._facets(query, packages)
        return {"results": self.results, "count": self.count}

    @staticmethod
    def _result(pkg: model.Package, fl: Any) -> Any:
        fields = [f for f in (fl if isinstance(fl, list) else re.split(r"[\s,]+", fl)) if f]
        if fields in (["id"], ["name"]):
            return getattr(pkg, fields[0])
        row: dict[str, Any] = {"id": pkg.id, "name": pkg.name}
        default: dict[str, Any] | None = None
        custom: dict[str, Any] = {}
        for f in fields:
            if f in row or f == "*":
                continue
            if default is None:
                default, custom = _package_dicts(pkg.id)
            if f == "data_dict":
                row[f] = json.dumps(default, default=str)
            elif f == "validated_data_dict":
                row[f] = json.dumps(custom, default=str)
            elif f == "groups":
                row[f] = [g["name"] for g in default.get("groups", [])]
            elif f in default:
                row[f] = default[f]
        return row

    @staticmethod
    def _facets(query: dict[str, Any], packages: list[model.Package]) -> dict[str, dict[str, int]]:
        if str(query.get("facet", "true")).lower() == "false":
            return {}
        wanted = query.get("facet.field") or []
        if isinstance(wanted, str):
            try:
                wanted = json.loads(wanted)
            except ValueError:
                wanted = [wanted]
        limit = int(query.get("facet.limit", 50))
        mincount = int(query.get("facet.mincount", 1))
        org_names = dict(
            model.Session.query(model.Group.id, model.Group.name).filter(model.Group.is_organization.is_(True))
        )
        values_of = {
            "owner_org": lambda pkg: [pkg.owner_org],
            "organization": lambda pkg: [org_names.get(pkg.owner_org)],
            "groups": lambda pkg: [g.name for g in pkg.get_groups()],
            "tags": lambda pkg: [t.name for t in pkg.get_tags()],
            "license_id": lambda pkg: [pkg.license_id],
            "res_format": lambda pkg: list({r.format for r in pkg.resources if r.format}),
        }
        facets: dict[str, dict[str, int]] = {}
        for field in wanted:
            counter: Counter[str] = Counter()
            for pkg in packages:
                counter.update(v for v in values_of.get(field, lambda _p: [])(pkg) if v)
            items = [(k, n) for k, n in counter.most_common() if n >= mincount]
            facets[field] = dict(items if limit < 0 else items[:limit])
        return facets


def install() -> None:
    """Swap Solr out of ckan.lib.search (idempotent)."""
    ckan_search._INDICES["package"] = NoopSearchIndex
    ckan_search._QUERIES["package"] = DatabasePackageQuery
    ckan_search.PackageSearchQuery = DatabasePackageQuery  # used by model_dictize
    ckan_search.check_solr_schema_version = lambda *a, **kw: False


# at import, so that CKAN's start-up check of the Solr schema is skipped too
install()
