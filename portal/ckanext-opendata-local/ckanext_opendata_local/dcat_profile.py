"""DCAT-AP for GD Catalog datasets: completes ckanext-dcat's DCAT-AP output from the portal's Thai metadata and data.

ckanext-dcat's DCAT-AP 3 profile (`euro_dcat_ap_3`, the default of ckanext-dcat 2.4), extended
(`ckanext.dcat.rdf.profiles = opendata_local_dcat_ap`) with what it cannot know of a GD Catalog dataset:
licence IRIs (from CKAN licence ids and thai_gdc's licence titles), EU vocabulary IRIs for language, update
frequency, country and access rights (data category), provinces and the temporal span read from the DataStore
table, the data source as provenance, the dataset page as landing page, IANA media types, download URLs,
SPDX checksums with their algorithm, `@th` tags on Thai literals, and the catalog's publisher.
The mappings are data (dcat_vocabularies.yaml).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from ckan.common import config
from ckan.plugins import toolkit
from ckanext.dcat.profiles import DCAT, DCT, FOAF, RDF, RDFS, SPDX, XSD, EuropeanDCATAP3Profile
from ckanext.dcat.utils import resource_uri
from rdflib import BNode, Literal, URIRef
from rdflib.term import Node

log = logging.getLogger(__name__)

IANA = "http://www.iana.org/assignments/media-types/"
THAI = re.compile("[\u0e00-\u0e7f]")
CONFIG = "ckanext.opendata_local.dcat."
DATE_TYPES = ("date", "timestamp", "timestamptz")
TEXT_TYPES = ("text", "varchar")
SAMPLE_ROWS = 1000


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    text = resources.files("ckanext_opendata_local").joinpath("dcat_vocabularies.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def eu(code: str) -> URIRef:
    return URIRef(vocabulary()["eu"] + code)


def licence_node(dataset: dict[str, Any]) -> tuple[Node | None, str]:
    """The dataset's licence as an IRI (known ids and thai_gdc titles), else a labelled node; None if not specified."""
    vocab = vocabulary()
    known = {k.lower(): v for k, v in vocab["licences"].items()}
    license_id = str(dataset.get("license_id") or "").strip()
    if license_id == vocab["other_choice"]:  # thai_gdc: อื่นๆ with the licence in license_id_other
        license_id = str(dataset.get("license_id_other") or "").strip()
    if license_id in vocab["no_licence"]:
        return None, ""
    if license_id.lower() in known:
        return eu(known[license_id.lower()]), ""
    if re.match(r"https?://", license_id):
        return URIRef(license_id), ""
    if dataset.get("license_url"):
        return URIRef(dataset["license_url"]), ""
    return BNode(), str(dataset.get("license_title") or license_id)


def frequency_iri(unit: str | None, interval: Any) -> URIRef | None:
    """EU frequency for GD Catalog's unit + interval (times per unit, empty = 1)."""
    by_interval = vocabulary()["frequencies"].get(str(unit or "").strip())
    if not by_interval:
        return None
    times = str(interval or "").strip() or "1"
    code = by_interval.get("*") or by_interval.get(times)
    return eu(code) if code else None


def as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        if value.startswith("["):  # scheming keeps multiple choices as a JSON list in the database
            try:
                return [str(v) for v in json.loads(value)]
            except ValueError:  # a malformed stored value: read it as one choice
                return [value]
        return [value]
    return [str(v) for v in value]


def checksum_parts(value: str) -> tuple[str, str] | None:
    """(algorithm, bare hex) from `sha256:<hex>` (the push's form) or a bare hex hash read by its length."""
    vocab = vocabulary()
    algorithm, _, digest = value.strip().rpartition(":")
    digest = digest.lower()
    if not re.fullmatch("[0-9a-f]+", digest):
        return None
    if algorithm:
        name = vocab["checksum_algorithms"].get(algorithm.lower())
    else:
        name = vocab["checksum_lengths"].get(str(len(digest)))
    return (name, digest) if name else None


# ---------------------------------------------------------------------------- the data


def _sql(sql: str) -> list[dict[str, Any]]:
    result = toolkit.get_action("datastore_search_sql")({"ignore_auth": True}, {"sql": sql})
    return result.get("records", [])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def data_facts(resource_id: str, version: str) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(first date, last date, province codes) of a DataStore table; `version` keys the cache to the resource's state."""
    del version
    info = toolkit.get_action("datastore_info")({"ignore_auth": True}, {"id": resource_id})
    fields = [f for f in info.get("fields", []) if not f["id"].startswith("_")]
    dates = [f["id"] for f in fields if f.get("type") in DATE_TYPES]
    texts = [f["id"] for f in fields if f.get("type") in TEXT_TYPES]
    table = _quoted(resource_id)
    pattern = vocabulary()["province_code_pattern"]
    start = end = None
    if dates:
        parts = [f"min({_quoted(d)})::text AS s{i}, max({_quoted(d)})::text AS e{i}" for i, d in enumerate(dates)]
        row = _sql(f"SELECT {', '.join(parts)} FROM {table}")[0]
        starts = [row[f"s{i}"] for i in range(len(dates)) if row.get(f"s{i}")]
        ends = [row[f"e{i}"] for i in range(len(dates)) if row.get(f"e{i}")]
        start, end = (min(starts)[:10] if starts else None), (max(ends)[:10] if ends else None)
    codes: list[str] = []
    if texts:
        # a sample first, so only columns that look like province codes are read in full
        checks = [
            f"bool_and({_quoted(t)} ~ '{pattern}') AND count({_quoted(t)}) > 0 AS c{i}" for i, t in enumerate(texts)
        ]
        sample = _sql(f"SELECT {', '.join(checks)} FROM (SELECT * FROM {table} LIMIT {SAMPLE_ROWS}) AS sample")[0]
        for i, column in enumerate(texts):
            if not sample.get(f"c{i}"):
                continue
            col = _quoted(column)
            row = _sql(f"SELECT bool_and({col} ~ '{pattern}') AS ok, array_agg(DISTINCT {col}) AS codes FROM {table}")[
                0
            ]
            if row.get("ok"):
                codes.extend(c for c in row.get("codes") or [] if c)
    return start, end, tuple(sorted(set(codes)))


def _table_resource(dataset: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in dataset.get("resources", []) if r.get("datastore_active")), None)


# ---------------------------------------------------------------------------- the profile


class GDCatalogDCATAPProfile(EuropeanDCATAP3Profile):
    """DCAT-AP 3 completed for GD Catalog metadata; parsing (harvest) is ckanext-dcat's own."""

    def graph_from_dataset(self, dataset_dict: dict[str, Any], dataset_ref: Node) -> None:
        # the base writes the hash field as spdx:checksumValue: give it the bare hex and the algorithm
        # (the portal's own `hash` keeps `sha256:<hex>`, which the push compares)
        resources_ = []
        for resource in dataset_dict.get("resources", []):
            parts = checksum_parts(str(resource.get("hash") or ""))
            algorithm = {"hash_algorithm": str(SPDX["checksumAlgorithm_" + parts[0]])} if parts else {}
            resources_.append({**resource, "hash": parts[1] if parts else None, **algorithm})
        dataset_dict = {**dataset_dict, "resources": resources_}
        super().graph_from_dataset(dataset_dict, dataset_ref)
        g = self.g
        licence, label = licence_node(dataset_dict)
        if licence is not None:
            g.add((licence, RDF.type, DCT.LicenseDocument))
            if label:
                g.add((licence, RDFS.label, Literal(label)))
            g.set((dataset_ref, DCT.license, licence))
        for name in as_list(dataset_dict.get("data_language")):
            code = vocabulary()["languages"].get(name)
            if code:
                g.add((dataset_ref, DCT.language, eu(code)))
                g.add((eu(code), RDF.type, DCT.LinguisticSystem))
        frequency = frequency_iri(
            dataset_dict.get("update_frequency_unit"), dataset_dict.get("update_frequency_interval")
        )
        if frequency is not None:
            g.set((dataset_ref, DCT.accrualPeriodicity, frequency))
            g.add((frequency, RDF.type, DCT.Frequency))
        access = vocabulary()["access_rights"].get(str(dataset_dict.get("data_category") or ""))
        if access:
            g.set((dataset_ref, DCT.accessRights, eu(access)))
            g.add((eu(access), RDF.type, DCT.RightsStatement))
        if dataset_dict.get("data_source") and (dataset_ref, DCT.provenance, None) not in g:
            provenance = BNode()
            g.add((dataset_ref, DCT.provenance, provenance))
            g.add((provenance, RDF.type, DCT.ProvenanceStatement))
            g.add((provenance, RDFS.label, Literal(str(dataset_dict["data_source"]))))
        if (dataset_ref, DCAT.landingPage, None) not in g and dataset_dict.get("name"):
            page = URIRef(f"{config.get('ckan.site_url', '').rstrip('/')}/dataset/{dataset_dict['name']}")
            g.add((dataset_ref, DCAT.landingPage, page))
            g.add((page, RDF.type, FOAF.Document))
        self._spatial_and_temporal(dataset_dict, dataset_ref)
        for resource in dataset_dict.get("resources", []):
            self._distribution(resource, URIRef(resource_uri(resource)), licence)
        tag_thai(g, [dataset_ref])

    def _spatial_and_temporal(self, dataset: dict[str, Any], dataset_ref: Node) -> None:
        g, vocab = self.g, vocabulary()
        if dataset.get("geo_coverage") in vocab["geo_coverage_in_country"]:
            country = eu(vocab["country"])
            g.add((dataset_ref, DCT.spatial, country))
            g.add((country, RDF.type, DCT.Location))
        table = _table_resource(dataset)
        if table is None:
            return
        try:
            start, end, codes = data_facts(
                table["id"], str(table.get("metadata_modified") or table.get("last_modified"))
            )
        except Exception as exc:  # noqa: BLE001 - the metadata must render even when the DataStore cannot answer
            log.warning("opendata_local DCAT: no temporal/spatial facts from the DataStore of %s: %s", table["id"], exc)
            return
        for code in codes:
            place = BNode()
            g.add((dataset_ref, DCT.spatial, place))
            g.add((place, RDF.type, DCT.Location))
            g.add((place, DCT.identifier, Literal(code)))
        if start or end:
            for old in list(g.objects(dataset_ref, DCT.temporal)):
                g.remove((old, None, None))
                g.remove((dataset_ref, DCT.temporal, old))
            period = BNode()
            g.add((dataset_ref, DCT.temporal, period))
            g.add((period, RDF.type, DCT.PeriodOfTime))
            if start:
                g.add((period, DCAT.startDate, Literal(start, datatype=XSD.date)))
            if end:
                g.add((period, DCAT.endDate, Literal(end, datatype=XSD.date)))

    def _distribution(self, resource: dict[str, Any], dist: URIRef, licence: Node | None) -> None:
        g, vocab = self.g, vocabulary()
        if licence is not None and (dist, DCT.license, None) not in g:
            g.add((dist, DCT.license, licence))
        if resource.get("url") and (resource.get("url_type") == "upload" or resource.get("download_url")):
            g.set((dist, DCAT.downloadURL, URIRef(resource.get("download_url") or resource["url"])))
        fmt = vocab["formats"].get(str(resource.get("format") or "").strip().upper())
        if fmt:
            g.remove((dist, DCAT.mediaType, None))
            g.remove((dist, DCT["format"], None))
            media, file_type = URIRef(IANA + fmt["media"]), eu("file-type/" + fmt["file_type"])
            g.add((dist, DCAT.mediaType, media))
            g.add((media, RDF.type, DCT.MediaType))
            g.add((dist, DCT["format"], file_type))
            g.add((file_type, RDF.type, DCT.MediaTypeOrExtent))

    def graph_from_catalog(self, catalog_dict: dict[str, Any] | None, catalog_ref: Node) -> None:
        super().graph_from_catalog(catalog_dict, catalog_ref)
        g, vocab = self.g, vocabulary()
        locale = config.get("ckan.locale_default") or "en"
        code = vocab["locales"].get(locale)
        if code:
            g.remove((catalog_ref, DCT.language, None))
            g.add((catalog_ref, DCT.language, eu(code)))
            g.add((eu(code), RDF.type, DCT.LinguisticSystem))
        name = config.get(CONFIG + "publisher_name")
        if name and (catalog_ref, DCT.publisher, None) not in g:
            uri = config.get(CONFIG + "publisher_uri")
            publisher = URIRef(uri) if uri else BNode()
            g.add((catalog_ref, DCT.publisher, publisher))
            g.add((publisher, RDF.type, FOAF.Agent))
            g.add((publisher, FOAF.name, Literal(name)))
            if config.get(CONFIG + "publisher_url"):
                g.add((publisher, FOAF.homepage, URIRef(config.get(CONFIG + "publisher_url"))))
            if config.get(CONFIG + "publisher_type"):
                g.add((publisher, DCT.type, URIRef(config.get(CONFIG + "publisher_type"))))
        spatial = config.get(CONFIG + "catalog_spatial")
        if spatial:
            g.add((catalog_ref, DCT.spatial, URIRef(spatial)))
            g.add((URIRef(spatial), RDF.type, DCT.Location))
        tag_thai(g, [catalog_ref], follow=lambda p: p != DCAT.dataset)


def tag_thai(g: Any, roots: Iterable[Node], follow: Any = None) -> None:
    """Give every untagged plain literal written in Thai script, reachable from `roots`, the language tag th."""
    seen: set[Node] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for p, o in list(g.predicate_objects(node)):
            if isinstance(o, Literal):
                if o.language is None and o.datatype is None and THAI.search(str(o)):
                    g.remove((node, p, o))
                    g.add((node, p, Literal(str(o), lang="th")))
            elif (follow is None or follow(p)) and o not in seen and (o, None, None) in g:
                todo.append(o)
