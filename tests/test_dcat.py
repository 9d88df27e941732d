"""The portal's DCAT-AP output of a pushed dataset, parsed with rdflib and checked with the project's SHACL shapes.

One dataset is built by the real pipeline and pushed with `pipeline.ckan.push` to the local portal (its
`opendata_local_dcat_ap` profile), then `/dataset/<name>.ttl`, `.jsonld` and `/catalog.ttl` are read back.
Expected values come from the workbook, the descriptor and the vocabularies' published IRIs, never from the profile.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from pyshacl import validate
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic

from pipeline import ckan
from pipeline.errors import PortalError
from pipeline.run import Config, build

from .conftest import DATASET, HEADER, REPO, SCHEMAS, entry, write_xlsx

pytestmark = pytest.mark.ckan

CKAN_URL = os.environ.get("CKAN_URL", ckan.DEFAULT_URL)
SHAPES = Path(__file__).parent / "shapes" / "dcat-ap-opendata.ttl"
VOCABULARIES = REPO / "portal" / "ckanext-opendata-local" / "ckanext_opendata_local" / "dcat_vocabularies.yaml"
# ckanext-thai_gdc's licence choices (its ckan_dataset.json, version 2.1): the values a data.go.th portal stores
THAI_GDC_LICENCES = [
    "License not specified",
    "Creative Commons Attributions",
    "Creative Commons Attribution Share-Alike",
    "Creative Commons Non-Commercial (Any)",
    "Open Data Common",
    "GNU Free Documentation License",
    "อื่นๆ",
]
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")  # plain namespaces: pytest's collection
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")  # probes module attributes, rdflib's own warn on that
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
EU = "http://publications.europa.eu/resource/authority/"
IANA = "http://www.iana.org/assignments/media-types/"
THAI = range(0x0E00, 0x0E80)

# (province, submitted date as keyed, the same date in ISO form): the data's provinces and period
ROWS = [
    ("ชลบุรี", "2021-03-05", "2021-03-05"),
    ("เชียงใหม่", "15 มี.ค. 2564", "2021-03-15"),
    ("กาฬสินธุ์", "", None),
    ("ชลบุรี", "2021-01-28", "2021-01-28"),
    ("สงขลา", "2021-06-30", "2021-06-30"),
]


def province_codes() -> dict[str, str]:
    with (SCHEMAS / "reference" / "th-provinces.csv").open(encoding="utf-8") as fh:
        return {row["name_th"]: row["iso_code"] for row in csv.DictReader(fh)}


def portal_token() -> str:
    try:
        return ckan.read_token(default_file=REPO / ".ckan" / "apitoken")
    except Exception as exc:  # a clear failure, not a skip: these tests are part of `make test`
        pytest.fail(f"no CKAN API token for the test portal ({exc}); start it with `make ckan-up`")


class Pushed:
    """A uniquely named copy of the contest dataset, built from ROWS and pushed once."""

    def __init__(self, root: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.name, self.org = f"dcat-test-{suffix}", f"dcat-org-{suffix}"
        self.schemas, self.raw, self.published = root / "schemas", root / "raw", root / "published"
        shutil.copytree(SCHEMAS, self.schemas)
        (self.schemas / DATASET).rename(self.schemas / self.name)
        path = self.schemas / self.name / "datapackage.json"
        self.descriptor = json.loads(path.read_text(encoding="utf-8"))
        self.descriptor["name"] = self.name
        # the portal's titles are unique too: a `make push` of the sample to the same portal keeps its own
        self.descriptor["title"] = f"{self.descriptor['title']} ({suffix})"
        self.descriptor["x_portal"]["organization"]["name"] = self.org
        path.write_text(json.dumps(self.descriptor, ensure_ascii=False), encoding="utf-8")
        rows = [entry(f"D-{i}", province=p, submitted=s) for i, (p, s, _) in enumerate(ROWS, 1)]
        write_xlsx(self.raw / self.name / "ผลงาน.xlsx", {"ผลงาน": [HEADER, *rows]})
        results = build(Config(self.raw, self.published, root / "reports", self.schemas))
        assert results[0].status == "published", [i.line() for i in results[0].issues]
        self.portal = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
        try:
            self.portal.call("status_show")
        except PortalError as exc:
            pytest.fail(f"the test portal at {CKAN_URL} is not running ({exc}); start it with `make ckan-up`")
        ckan.push(self.portal, self.published, self.schemas)
        self.package = self.portal.call("package_show", id=self.name)
        self.uri = URIRef(f"{CKAN_URL}/dataset/{self.package['id']}")

    def graph(self, suffix: str = ".ttl", fmt: str = "turtle") -> Graph:
        response = requests.get(f"{CKAN_URL}/dataset/{self.name}{suffix}", timeout=60)
        assert response.status_code == 200, response.text[:300]
        return Graph().parse(data=response.content, format=fmt)

    def local_file(self, name: str) -> Path:
        return self.published / self.name / name

    def purge(self) -> None:
        for action, ident in (("dataset_purge", self.name), ("organization_purge", self.org)):
            with contextlib.suppress(Exception):
                self.portal.call(action, id=ident)


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    p = Pushed(tmp_path_factory.mktemp("dcat"))
    yield p
    p.purge()


@pytest.fixture(scope="module")
def graph(pushed: Pushed) -> Graph:
    return pushed.graph()


@pytest.fixture(scope="module")
def catalog(pushed: Pushed) -> Graph:
    response = requests.get(f"{CKAN_URL}/catalog.ttl", timeout=60)
    assert response.status_code == 200
    return Graph().parse(data=response.content, format="turtle")


def distributions(g: Graph, dataset: URIRef) -> dict[str, URIRef]:
    """Distributions by the published file's name (their download URL's; their titles are the Thai ones)."""
    return {Path(str(g.value(d, DCAT.downloadURL))).name: d for d in g.objects(dataset, DCAT.distribution)}


def thai(literal: object) -> bool:
    return any(ord(c) in THAI for c in str(literal))


def shacl(data: Graph, focus: list[URIRef] | None = None) -> tuple[bool, str]:
    """pySHACL with the project's shapes; `focus` limits it to those nodes (the catalog holds other datasets too)."""
    conforms, _, text = validate(data, shacl_graph=Graph().parse(SHAPES), inference="none", focus_nodes=focus)
    return conforms, text


# ---------------------------------------------------------------------------- licence, checksum, files


def test_licence_on_dataset_and_every_distribution(pushed: Pushed, graph: Graph) -> None:
    cc_by = URIRef(EU + "licence/CC_BY_4_0")  # the descriptor's CC-BY-4.0 / cc-by
    assert pushed.descriptor["x_portal"]["license_id"] == "cc-by"
    assert list(graph.objects(pushed.uri, DCT.license)) == [cc_by]
    dists = distributions(graph, pushed.uri)
    assert sorted(dists) == ["entries.csv", "entries.json", "entries.xlsx"]
    for dist in dists.values():
        assert list(graph.objects(dist, DCT.license)) == [cc_by]
    assert (cc_by, RDF.type, DCT.LicenseDocument) in graph


def test_checksum_is_bare_sha256_hex_with_its_algorithm_and_the_portal_hash_stays_comparable(
    pushed: Pushed, graph: Graph
) -> None:
    for name, dist in distributions(graph, pushed.uri).items():
        digest = hashlib.sha256(pushed.local_file(name).read_bytes()).hexdigest()
        (checksum,) = graph.objects(dist, SPDX.checksum)
        assert graph.value(checksum, SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
        assert graph.value(checksum, SPDX.checksumValue) == Literal(digest, datatype=XSD.hexBinary)
        resource = next(r for r in pushed.package["resources"] if Path(r["url"]).name == name)
        assert resource["hash"] == f"sha256:{digest}"  # what the push compares is untouched


def test_download_url_serves_the_published_file_and_media_types_are_iana_iris(pushed: Pushed, graph: Graph) -> None:
    expected = {
        "entries.csv": ("text/csv", "CSV"),
        "entries.json": ("application/json", "JSON"),
        "entries.xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX"),
    }
    for name, dist in distributions(graph, pushed.uri).items():
        (download,) = graph.objects(dist, DCAT.downloadURL)
        assert isinstance(download, URIRef)
        assert requests.get(str(download), timeout=30).content == pushed.local_file(name).read_bytes()
        assert graph.value(dist, DCAT.accessURL) is not None
        media, file_type = expected[name]
        assert list(graph.objects(dist, DCAT.mediaType)) == [URIRef(IANA + media)]
        assert list(graph.objects(dist, DCT["format"])) == [URIRef(EU + "file-type/" + file_type)]


# ---------------------------------------------------------------------------- GD Catalog fields and the data


def test_language_frequency_and_country_from_the_gd_catalog_fields(pushed: Pushed, graph: Graph) -> None:
    gd = pushed.descriptor["x_portal"]["gdcatalog"]
    assert gd["data_language"] == ["ไทย"] and gd["update_frequency_unit"] == "ปี"
    assert gd["update_frequency_interval"] == "1" and gd["geo_coverage"] == "ประเทศ"
    assert list(graph.objects(pushed.uri, DCT.language)) == [URIRef(EU + "language/THA")]
    assert list(graph.objects(pushed.uri, DCT.accrualPeriodicity)) == [URIRef(EU + "frequency/ANNUAL")]
    assert URIRef(EU + "country/THA") in set(graph.objects(pushed.uri, DCT.spatial))


def test_access_rights_provenance_and_landing_page(pushed: Pushed, graph: Graph) -> None:
    gd = pushed.descriptor["x_portal"]["gdcatalog"]
    assert gd["data_category"] == "ข้อมูลสาธารณะ"  # public data
    assert list(graph.objects(pushed.uri, DCT.accessRights)) == [URIRef(EU + "access-right/PUBLIC")]
    (provenance,) = graph.objects(pushed.uri, DCT.provenance)
    assert graph.value(provenance, RDFS.label) == Literal(gd["data_source"], lang="th")
    (page,) = graph.objects(pushed.uri, DCAT.landingPage)
    assert page == URIRef(f"{CKAN_URL}/dataset/{pushed.name}")
    assert requests.get(str(page), timeout=30).status_code == 200


def test_provinces_and_period_come_from_the_published_table(pushed: Pushed, graph: Graph) -> None:
    codes = province_codes()
    places = [p for p in graph.objects(pushed.uri, DCT.spatial) if isinstance(p, BNode)]
    assert sorted(str(graph.value(p, DCT.identifier)) for p in places) == sorted({codes[p] for p, _, _ in ROWS})
    assert all((p, RDF.type, DCT.Location) in graph for p in places)
    (period,) = graph.objects(pushed.uri, DCT.temporal)
    dates = sorted(iso for _, _, iso in ROWS if iso)
    assert graph.value(period, DCAT.startDate) == Literal(dates[0], datatype=XSD.date)
    assert graph.value(period, DCAT.endDate) == Literal(dates[-1], datatype=XSD.date)


def test_every_thai_literal_is_tagged_th(pushed: Pushed, graph: Graph, catalog: Graph) -> None:
    assert graph.value(pushed.uri, DCT.title) == Literal(pushed.descriptor["title"], lang="th")
    assert set(graph.objects(pushed.uri, DCAT.keyword)) == {
        Literal(k, lang="th") for k in pushed.descriptor["keywords"]
    }
    publisher = graph.value(pushed.uri, DCT.publisher)
    assert graph.value(publisher, FOAF.name).language == "th"
    assert graph.value(graph.value(pushed.uri, DCAT.contactPoint), VCARD.fn).language == "th"
    for g in (graph, catalog):
        untagged = [(s, p, o) for s, p, o in g if isinstance(o, Literal) and thai(o) and o.language != "th"]
        assert untagged == []


def test_jsonld_says_the_same_as_turtle(pushed: Pushed, graph: Graph) -> None:
    assert isomorphic(pushed.graph(".jsonld", "json-ld"), graph)


def test_variants_map_thai_gdc_licence_titles_frequencies_languages_and_coverage(pushed: Pushed) -> None:
    """The thai_gdc forms of the fields (licence titles) and other choices map to their vocabulary IRIs."""
    cases = [
        (
            {"license_id": "Creative Commons Attribution Share-Alike", "update_frequency_unit": "เดือน",
             "update_frequency_interval": "2", "data_language": ["ไทย", "อังกฤษ"], "geo_coverage": "โลก"},
            {DCT.license: {EU + "licence/CC_BYSA_4_0"}, DCT.accrualPeriodicity: {EU + "frequency/MONTHLY_2"},
             DCT.language: {EU + "language/THA", EU + "language/ENG"}},
        ),
        (
            {"license_id": "Creative Commons Attributions", "update_frequency_unit": "ไม่มีการปรับปรุงหลังจากการจัดเก็บข้อมูล",
             "update_frequency_interval": "", "data_language": ["ญี่ปุ่น"], "geo_coverage": "จังหวัด"},
            {DCT.license: {EU + "licence/CC_BY_4_0"}, DCT.accrualPeriodicity: {EU + "frequency/NEVER"},
             DCT.language: {EU + "language/JPN"}},
        ),
        (
            {"license_id": "License not specified", "update_frequency_unit": "ไตรมาส",
             "update_frequency_interval": "1", "data_language": ["ไทย"], "geo_coverage": "ไม่ทราบ"},
            {DCT.license: set(), DCT.accrualPeriodicity: {EU + "frequency/QUARTERLY"},
             DCT.language: {EU + "language/THA"}},
        ),
    ]  # fmt: skip
    try:
        for fields, expected in cases:
            pushed.portal.call("package_patch", id=pushed.name, **fields)
            g = pushed.graph()
            for predicate, iris in expected.items():
                assert {str(o) for o in g.objects(pushed.uri, predicate)} == iris, (fields, predicate)
            for dist in g.objects(pushed.uri, DCAT.distribution):
                assert {str(o) for o in g.objects(dist, DCT.license)} == expected[DCT.license]
            country = URIRef(EU + "country/THA") in set(g.objects(pushed.uri, DCT.spatial))
            assert country == (fields["geo_coverage"] == "จังหวัด"), fields  # โลก and ไม่ทราบ name no country
    finally:
        gd = pushed.descriptor["x_portal"]["gdcatalog"]
        keys = ("update_frequency_unit", "update_frequency_interval", "data_language", "geo_coverage")
        pushed.portal.call(
            "package_patch", id=pushed.name, license_id=pushed.descriptor["x_portal"]["license_id"],
            **{k: gd[k] for k in keys},
        )  # fmt: skip


# ---------------------------------------------------------------------------- catalog and SHACL


def test_catalog_has_description_publisher_language_and_the_dataset(pushed: Pushed, catalog: Graph) -> None:
    (cat,) = catalog.subjects(RDF.type, DCAT.Catalog)
    description = catalog.value(cat, DCT.description)
    assert description is not None and description.language == "th" and thai(description)
    publisher = catalog.value(cat, DCT.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in catalog
    assert catalog.value(publisher, FOAF.name) == Literal("สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)", lang="th")
    assert list(catalog.objects(cat, DCT.language)) == [URIRef(EU + "language/THA")]
    assert pushed.uri in set(catalog.objects(cat, DCAT.dataset))


def test_dataset_and_catalog_conform_to_the_project_shapes(pushed: Pushed, graph: Graph, catalog: Graph) -> None:
    conforms, text = shacl(graph)
    assert conforms, text
    (cat,) = catalog.subjects(RDF.type, DCAT.Catalog)
    conforms, text = shacl(catalog, focus=[cat, pushed.uri])
    assert conforms, text


def test_shapes_catch_the_defects_the_portal_used_to_have(pushed: Pushed, graph: Graph) -> None:
    """The shapes fail on the old output: prefixed checksum, no algorithm, no licence, media type as text, untagged Thai."""
    broken = Graph()
    for triple in graph:
        broken.add(triple)
    dist = distributions(broken, pushed.uri)["entries.csv"]
    checksum = broken.value(dist, SPDX.checksum)
    value = broken.value(checksum, SPDX.checksumValue)
    broken.set((checksum, SPDX.checksumValue, Literal(f"sha256:{value}", datatype=XSD.hexBinary)))
    broken.remove((checksum, SPDX.algorithm, None))
    broken.remove((pushed.uri, DCT.license, None))
    broken.set((dist, DCAT.mediaType, Literal("text/csv")))
    broken.set((pushed.uri, DCT.title, Literal(pushed.descriptor["title"])))
    conforms, text = shacl(broken)
    assert not conforms
    for path in ("spdx:checksumValue", "spdx:algorithm", "dct:license", "dcat:mediaType", "dct:title"):
        assert f"Result Path: {path}" in text, path


def test_every_gd_catalog_choice_is_mapped_or_declared_unmapped(pushed: Pushed) -> None:
    """A choice the portal offers never drops out of the DCAT output unnoticed: it maps to an IRI or is listed as having none."""
    vocab = yaml.safe_load(VOCABULARIES.read_text(encoding="utf-8"))
    schema = pushed.portal.call("scheming_dataset_schema_show", type="dataset")
    choices = {f["field_name"]: [str(c["value"]) for c in f.get("choices") or []] for f in schema["dataset_fields"]}
    covered = {
        "data_language": set(vocab["languages"]) | set(vocab["languages_unmapped"]),
        "update_frequency_unit": set(vocab["frequencies"]) | set(vocab["frequencies_unmapped"]),
        "geo_coverage": set(vocab["geo_coverage_in_country"]) | set(vocab["geo_coverage_no_country"]),
        "data_category": set(vocab["access_rights"]),
        "license_id": {k.lower() for k in vocab["licences"]}
        | {k.lower() for k in vocab["no_licence"] + vocab["licences_label_only"] + [vocab["other_choice"]]},
    }
    for field in ("data_language", "update_frequency_unit", "geo_coverage", "data_category"):
        assert choices[field], f"the portal's schema has no choices for {field}"
    choices["license_id"] = [*choices.get("license_id", []), *THAI_GDC_LICENCES]
    for field, values in choices.items():
        if field in covered:
            missing = [v for v in values if (v.lower() if field == "license_id" else v) not in covered[field]]
            assert missing == [], f"{field}: {missing} neither mapped nor declared unmapped in {VOCABULARIES.name}"
    assert not set(vocab["geo_coverage_in_country"]) & set(vocab["geo_coverage_no_country"])
