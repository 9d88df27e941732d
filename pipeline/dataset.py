"""A dataset's knowledge, loaded from `schemas/<dataset>/` and `schemas/reference/`.

Fields, aliases, enums and Thai lookups live there as reviewed data; this module only
loads them into typed objects that the stages share.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError
from pipeline.normalizers import REGISTRY as NORMALIZERS
from pipeline.thai import match_key


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    title: str
    constraints: dict[str, Any]
    normalize: str
    aliases: tuple[str, ...] = ()
    derived_from: str = ""
    lookup: dict[str, list[str]] = field(default_factory=dict)
    column_optional: bool = False
    cell_fallback: tuple[str, ...] = ()
    fills: dict[str, str] = field(default_factory=dict)
    may_contain: tuple[str, ...] = ()  # personal-data kinds this field may hold (PDPA guard)
    options: dict[str, Any] = field(default_factory=dict)  # the options its normalizer declares
    descriptor: dict[str, Any] = field(default_factory=dict)  # the Table Schema field as loaded
    formulas: str = "refuse"  # a text value a spreadsheet would run: refuse | escape | allow (pipeline/cells.py)

    @property
    def free_text(self) -> bool:
        """Text not confined to a list or pattern: where personal data could slip in."""
        return self.type == "string" and "enum" not in self.constraints and "pattern" not in self.constraints

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))


@dataclass(frozen=True)
class Reference:
    """Thai lookup tables shared by every dataset (`schemas/reference/*.csv`)."""

    directory: Path

    def _rows(self, name: str) -> list[dict[str, str]]:
        path = self.directory / name
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    @cached_property
    def provinces(self) -> list[dict[str, str]]:
        return self._rows("th-provinces.csv")

    @cached_property
    def local_government_types(self) -> list[dict[str, str]]:
        return self._rows("th-local-government-types.csv")

    @cached_property
    def months(self) -> list[dict[str, str]]:
        return self._rows("th-months.csv")

    @cached_property
    def districts(self) -> list[dict[str, str]]:
        """อำเภอ / เขต: code, name_th, name_en, province_code, aliases (see SOURCES.md)."""
        return self._rows("th-districts.csv")

    @cached_property
    def subdistricts(self) -> list[dict[str, str]]:
        """ตำบล / แขวง: code, name_th, name_en, district_code, aliases (see SOURCES.md)."""
        return self._rows("th-subdistricts.csv")

    def enum(self, name: str) -> list[str]:
        """The values of reference list `name` (a key of REFERENCE_ENUMS), each once, in file order."""
        file, column = REFERENCE_ENUMS[name]
        return list(dict.fromkeys(row[column] for row in self._rows(file)))


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    directory: Path
    descriptor: dict[str, Any]
    table_schema: dict[str, Any]
    resource: dict[str, Any]
    fields: tuple[FieldSpec, ...]
    personal_data: tuple[str, ...]
    reference: Reference
    csv_options: dict[str, str]
    schema_digest: str = ""  # what passed the Table Schema check (see `load_dataset`'s `checked`)
    schema_pending: bool = False  # the check is still to run (`check_schema`)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @cached_property
    def header_index(self) -> dict[str, str]:
        """match_key(label) -> field name, or "" for personal-data columns (read and dropped)."""
        index: dict[str, str] = {match_key(label): "" for label in self.personal_data}
        for f in self.fields:
            if f.derived_from:
                continue
            for label in (f.name, f.title, *f.aliases):
                index[match_key(label)] = f.name
        return index

    def fingerprint(self) -> str:
        """Hash of every file that defines the dataset, for skipping unchanged builds."""
        digest = hashlib.sha256()
        for path in sorted([*self.directory.rglob("*"), *self.reference.directory.glob("*.csv")]):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()


def load_dataset(schemas_dir: Path, name: str, checked: Collection[str] = (), check: bool = True) -> DatasetSpec:
    """Read descriptor, Table Schema and field mapping of one dataset; fail with one clear line.
    `checked`: digests (`DatasetSpec.schema_digest`) of schemas that already passed the Table
    Schema check, which is skipped for them: it imports Frictionless, a third of a second of
    every build, the whole of a rebuild with nothing changed. `check=False` leaves the check to
    the caller (`check_schema`, `DatasetSpec.schema_pending`) when the fields are well formed
    enough to read and map a workbook by: the build runs it while the workbook is parsed."""
    directory = schemas_dir / name
    if not directory.is_dir():
        raise ConfigError(f"no schema for dataset {name!r}: expected folder {directory}")
    try:
        descriptor = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
        resource = dict(descriptor["resources"][0])
        table_schema = json.loads((directory / resource["schema"]).read_text(encoding="utf-8"))
        # libyaml's safe loader when PyYAML has it: 7x faster (200 schemas: 0.68 s -> 0.09 s), same result
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        mapping = yaml.load((directory / "fields.yaml").read_text(encoding="utf-8"), Loader=loader) or {}
    except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"dataset {name!r}: cannot load its schema files: {exc}") from exc
    reference = Reference(schemas_dir / "reference")
    table_schema = check_mapping(mapping, table_schema, directory / "fields.yaml", reference)
    resources = ["", *(r.get("name", "") for r in descriptor["resources"])]
    digest = schema_digest(table_schema, resources, descriptor.get("$schema", ""))
    pending = digest not in checked
    if pending and (check or not _well_formed(table_schema)):
        _check_schema(name, directory / resource["schema"], table_schema, resources, descriptor.get("$schema", ""))
        pending = False
    fields = []
    for desc in table_schema["fields"]:
        extra = (mapping.get("fields") or {}).get(desc["name"]) or {}
        entry = NORMALIZERS[extra.get("normalize", "text")]
        fields.append(
            FieldSpec(
                name=desc["name"],
                type=desc.get("type", "string"),
                title=desc.get("title", ""),
                constraints=desc.get("constraints", {}),
                normalize=entry.name,
                aliases=tuple(extra.get("aliases") or ()),  # a key left empty (`aliases:`) means none
                derived_from=extra.get("derived_from") or "",
                lookup=extra.get("lookup") or {},
                column_optional=bool(extra.get("column_optional", False)),
                cell_fallback=tuple(extra.get("cell_fallback") or ()),
                fills=dict(extra.get("fills") or {}),
                may_contain=tuple(extra.get("may_contain") or ()),
                options={
                    k: v for k, v in extra.items() if k in entry.options and k not in GENERIC_KEYS and v is not None
                },
                descriptor=desc,
                formulas=str(extra.get("formulas") or "refuse"),
            )
        )
    return DatasetSpec(
        name=name,
        directory=directory,
        descriptor=descriptor,
        table_schema=table_schema,
        resource=resource,
        fields=tuple(fields),
        personal_data=tuple(mapping.get("personal_data", ())),
        reference=reference,
        csv_options=dict(mapping.get("csv", {}) or {}),
        schema_digest=digest,
        schema_pending=pending,
    )


def check_schema(spec: DatasetSpec) -> None:
    """The Table Schema check `load_dataset(check=False)` left pending: ConfigError naming every problem."""
    if spec.schema_pending:
        resources = ["", *(r.get("name", "") for r in spec.descriptor["resources"])]
        path = spec.directory / spec.resource["schema"]
        _check_schema(spec.name, path, spec.table_schema, resources, spec.descriptor.get("$schema", ""))


def _check_schema(name: str, path: Path, table_schema: dict[str, Any], resources: list[str], profile: str) -> None:
    from pipeline.validate import schema_problems  # here: validate imports this module

    if problems := schema_problems(table_schema, resources, profile):
        raise ConfigError(
            f"dataset {name!r}: {path.as_posix()} is not a valid Table Schema:\n  " + "\n  ".join(problems)
        )


def _well_formed(table_schema: dict[str, Any]) -> bool:
    """What reading and mapping a workbook use of the fields is there and of the right kind
    (names, titles, types, constraints), so the full check can run beside them."""
    fields = table_schema.get("fields")
    return isinstance(fields, list) and all(
        isinstance(f, dict)
        and isinstance(f.get("name"), str)
        and isinstance(f.get("title", ""), str)
        and isinstance(f.get("type", "string"), str)
        and isinstance(f.get("constraints", {}), dict)
        for f in fields
    )


def schema_digest(table_schema: dict[str, Any], resources: list[str], profile: str) -> str:
    """Everything the Table Schema check's verdict depends on: the schema as loaded, the names a
    key may reference, the package profile, Frictionless's version and the checking code."""
    digest = hashlib.sha256(json.dumps([table_schema, resources, profile], sort_keys=True).encode())
    digest.update(_checker_digest())
    return digest.hexdigest()


@cache
def _checker_digest() -> bytes:
    """Frictionless's version and the checking code, once per process (the same for every dataset)."""
    return (
        version("frictionless").encode() + hashlib.sha256((Path(__file__).parent / "validate.py").read_bytes()).digest()
    )


# -- fields.yaml, checked at load: a mistake there is a configuration error (exit 2) naming
# the file, the field and what is allowed, never an internal error later in the build

TOP_LEVEL_KEYS = ("resource", "fields", "personal_data", "csv")
GENERIC_KEYS = (
    "aliases",
    "normalize",
    "lookup",
    "column_optional",
    "cell_fallback",
    "fills",
    "derived_from",
    "may_contain",
    "formulas",
    "enum_from",
)
# the cell guard's policy for text a spreadsheet would run as a formula (pipeline/cells.py)
FORMULA_POLICIES = ("refuse", "escape", "allow")
# enum_from: <list> gives the field the values of a reference table as its enum, in the loaded
# (and so the published) Table Schema, so Frictionless checks them without a copy in the schema
REFERENCE_ENUMS = {
    "provinces": ("th-provinces.csv", "name_th"),
    "province_codes": ("th-provinces.csv", "iso_code"),
    "districts": ("th-districts.csv", "name_th"),
    "district_codes": ("th-districts.csv", "code"),
    "subdistricts": ("th-subdistricts.csv", "name_th"),
    "subdistrict_codes": ("th-subdistricts.csv", "code"),
    "local_government_types": ("th-local-government-types.csv", "name_th"),
}


def check_mapping(mapping: Any, table_schema: dict[str, Any], path: Path, reference: Reference) -> dict[str, Any]:
    """Every mistake of a fields.yaml at once, as one ConfigError; else the Table Schema with the
    enums `enum_from` asks for filled in (a copy: the file on disk is not changed)."""
    problems: list[str] = []
    fields = table_schema.get("fields") if isinstance(table_schema, dict) else None
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields):
        raise ConfigError(f"{path.parent}: the Table Schema's `fields` must be a list of objects, each with a name")
    if not isinstance(mapping, dict):
        raise ConfigError(f"{path}: expected a mapping with the keys {', '.join(TOP_LEVEL_KEYS)}")
    for key in mapping:
        if key not in TOP_LEVEL_KEYS:
            problems.append(f"unknown key {key!r}; allowed at the top level: {', '.join(TOP_LEVEL_KEYS)}")
    problems.extend(_top_level_problems(mapping))
    entries = mapping.get("fields") or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: `fields` must map field names to their settings")
    names = [f.get("name") for f in table_schema.get("fields", []) if isinstance(f, dict)]
    schema_fields = {f["name"]: f for f in table_schema.get("fields", []) if isinstance(f, dict) and "name" in f}
    table_schema = {**table_schema, "fields": [dict(f) for f in table_schema.get("fields", [])]}
    enums: dict[str, list[str]] = {}
    for field_name, extra in entries.items():
        where = f"field {field_name!r}"
        if field_name not in schema_fields:
            problems.append(f"{where} is not in the Table Schema; its fields: {', '.join(map(str, names))}")
            continue
        if extra is None:
            continue
        if not isinstance(extra, dict):
            problems.append(f"{where}: expected a mapping of settings, got {extra!r}")
            continue
        problems.extend(f"{where}: {p}" for p in _field_problems(field_name, extra, schema_fields, names))
        source = extra.get("enum_from")
        if isinstance(source, str) and source in REFERENCE_ENUMS:
            values = reference.enum(source)
            given = (schema_fields[field_name].get("constraints") or {}).get("enum")
            if given is not None and given != values:
                problems.append(
                    f"{where}: has an enum in the Table Schema and enum_from: {source}; remove one of the two"
                )
            enums[field_name] = values
    problems.extend(_cycles(entries, names))
    if problems:
        lines = "\n  ".join(problems)
        raise ConfigError(f"{path}: {lines}" if len(problems) == 1 else f"{path}: {len(problems)} problems\n  {lines}")
    for desc in table_schema["fields"]:
        if desc["name"] in enums:
            desc["constraints"] = {**(desc.get("constraints") or {}), "enum": enums[desc["name"]]}
    return table_schema


CSV_OPTIONS = ("encoding", "delimiter")


def _top_level_problems(mapping: dict[str, Any]) -> list[str]:
    """Shapes of `personal_data`, `csv` and `resource`."""
    problems = []
    personal = mapping.get("personal_data")
    if personal is not None and not (isinstance(personal, list) and all(isinstance(v, str) for v in personal)):
        problems.append(f"personal_data must be a list of header labels; got {personal!r}")
    options = mapping.get("csv")
    if options is not None:
        if not isinstance(options, dict):
            problems.append(f"csv must be a mapping such as {{encoding: cp874, delimiter: ';'}}; got {options!r}")
        else:
            for key in options:
                if key not in CSV_OPTIONS:
                    problems.append(f"unknown csv option {key!r}; allowed: {', '.join(CSV_OPTIONS)}")
            encoding = options.get("encoding")
            if encoding is not None:
                try:
                    codecs.lookup(str(encoding))
                except LookupError:
                    problems.append(f"csv encoding {encoding!r} is not an encoding Python knows (e.g. utf-8, cp874)")
            delimiter = options.get("delimiter")
            if delimiter is not None and not (isinstance(delimiter, str) and len(delimiter) == 1):
                problems.append(f"csv delimiter must be one character; got {delimiter!r}")
    resource = mapping.get("resource")
    if resource is not None and not isinstance(resource, str):
        problems.append(f"resource must be the resource's name; got {resource!r}")
    return problems


NUMBER_NOTATION = ("decimalChar", "groupChar")


def _field_problems(name: str, extra: dict[str, Any], schema_fields: dict[str, Any], names: list[Any]) -> list[str]:
    """What is wrong with the settings of one field (empty when nothing)."""
    problems = []
    kind = extra.get("normalize", "text")
    entry = NORMALIZERS.get(kind) if isinstance(kind, str) else None
    if entry is None:
        return [
            f"unknown normalizer {kind!r}; allowed: {', '.join(sorted(NORMALIZERS))} (see `python -m pipeline normalizers`)"
        ]
    allowed = tuple(dict.fromkeys((*GENERIC_KEYS, *entry.options)))
    for key in extra:
        if key not in allowed:
            problems.append(f"unknown option {key!r} for normalize: {kind}; allowed: {', '.join(allowed)}")

    notation = {k: v for k, v in (schema_fields.get(name) or {}).items() if k in NUMBER_NOTATION}
    if kind in ("number", "integer") and notation.get("decimalChar", ".") != ".":
        # the normalizer reads Thai notation (1,234.50) and writes plain numbers: under the schema's
        # own notation, "1200.50" would be published and read back as 120050 (a value changed silently)
        problems.append(
            f"normalize: {kind} writes plain numbers (1234.50) but the Table Schema gives the field its own notation "
            f"({', '.join(f'{k}: {v!r}' for k, v in notation.items())}); use normalize: text to keep the values as "
            "keyed in that notation, or drop those keys to publish plain numbers"
        )

    def is_field(value: Any) -> bool:
        return isinstance(value, str) and value in schema_fields and value != name

    def text_list(key: str) -> None:
        value = extra.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{key} must be a list of words, e.g. [a, b]; got {value!r}")

    own = [o for o in entry.options if o not in entry.field_options and o not in GENERIC_KEYS]
    for key in ("aliases", "may_contain", *own):
        text_list(key)
    for key in entry.field_options:
        if key in extra and not is_field(extra[key]):
            problems.append(
                f"{key} must name another field of the Table Schema ({', '.join(map(str, names))}); got {extra[key]!r}"
            )
    fallback = extra.get("cell_fallback")
    if fallback is not None and not (isinstance(fallback, list) and all(is_field(v) for v in fallback)):
        problems.append(f"cell_fallback must list other fields of the Table Schema; got {fallback!r}")
    if "column_optional" in extra and not isinstance(extra["column_optional"], bool):
        problems.append(f"column_optional must be true or false; got {extra['column_optional']!r}")
    derived = extra.get("derived_from")
    if entry.derived and not is_field(derived):
        problems.append(f"normalize: {kind} derives its value: derived_from must name another field; got {derived!r}")
    elif derived is not None and not entry.derived:
        derivers = ", ".join(sorted(n for n, e in NORMALIZERS.items() if e.derived))
        problems.append(f"derived_from needs a normalizer that derives a value ({derivers}); normalize is {kind}")
    fills = extra.get("fills")
    if fills is not None:
        if not entry.fills:
            problems.append(f"fills is read only by normalizers that derive other fields; normalize is {kind}")
        elif not isinstance(fills, dict) or any(k not in entry.fills or not is_field(v) for k, v in fills.items()):
            problems.append(
                f"fills must map {' / '.join(entry.fills)} to other fields of the Table Schema; got {fills!r}"
            )
    lookup = extra.get("lookup")
    if kind == "lookup" and not lookup:
        problems.append("normalize: lookup needs a `lookup` table: {canonical value: [spellings]}")
    if lookup is not None:
        if kind != "lookup":
            problems.append(f"lookup is read only by normalize: lookup; normalize is {kind}")
        elif not isinstance(lookup, dict) or not all(
            isinstance(v, list) and all(isinstance(w, str) for w in v) for v in lookup.values()
        ):
            problems.append(f"lookup must map each canonical value to a list of spellings; got {lookup!r}")
    if "formulas" in extra and extra["formulas"] not in FORMULA_POLICIES:
        problems.append(f"unknown formulas policy {extra['formulas']!r}; allowed: {', '.join(FORMULA_POLICIES)}")
    source = extra.get("enum_from")
    if source is not None and not (isinstance(source, str) and source in REFERENCE_ENUMS):
        problems.append(f"unknown enum_from {source!r}; allowed: {', '.join(REFERENCE_ENUMS)}")
    words = [extra.get("true_words") or [], extra.get("false_words") or []]
    if kind == "boolean" and all(isinstance(w, list) and all(isinstance(v, str) for v in w) for w in words):
        both = {match_key(w) for w in words[0]} & {match_key(w) for w in words[1]}
        if both:
            problems.append(f"words in both true_words and false_words: {', '.join(sorted(both))}")
    return problems


def _cycles(entries: dict[str, Any], names: list[Any]) -> list[str]:
    """Fields that wait on each other (a derives from b, b's district option names a …)."""
    needs: dict[str, set[str]] = {name: set() for name in names if isinstance(name, str)}
    for name, extra in entries.items():
        kind = extra.get("normalize", "text") if isinstance(extra, dict) else None
        if name not in needs or not isinstance(kind, str) or kind not in NORMALIZERS:
            continue
        entry = NORMALIZERS[kind]
        fills = extra.get("fills") if isinstance(extra.get("fills"), dict) else {}
        for key, value in extra.items():
            if key in ("derived_from", *entry.field_options) and isinstance(value, str) and value in needs:
                needs[name].add(value)
        for target in fills.values():
            if isinstance(target, str) and target in needs:
                needs[target].add(name)
    try:
        dependency_order(needs)
    except ValueError as exc:
        return [str(exc)]
    return []


def dependency_order(needs: dict[str, set[str]]) -> list[str]:
    """Names in an order where each comes after those it needs (schema order otherwise)."""
    order: list[str] = []
    placed: set[str] = set()
    waiting = list(needs)
    while waiting:
        ready = [n for n in waiting if needs[n] <= placed]
        if not ready:
            raise ValueError(
                f"fields that wait on each other (derived_from, fills, district/province options): {', '.join(waiting)}"
            )
        order.extend(ready)
        placed.update(ready)
        waiting = [n for n in waiting if n not in placed]
    return order
