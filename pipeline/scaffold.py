"""`python -m pipeline new`: start a dataset's schema files from one workbook or CSV.

The header is found among the first rows as the build looks for it, the table read by the
build's own reader, and each column's type and normalizer guessed from its values with Thai
in mind (provinces, districts, Buddhist-Era years, Thai dates and digits, separators, yes/no
words), where `frictionless describe` sees only text. The files are a draft for a person to
review: what cannot be known from a table (who publishes, the licence, contacts) is written
as "TODO: …", and the push refuses a descriptor that still says so.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline import headers, pdpa, read
from pipeline.dataset import Reference, load_dataset
from pipeline.errors import ConfigError
from pipeline.normalizers import FALSE_WORDS, TRUE_WORDS, ThaiRules, read_number
from pipeline.read import SheetGrid
from pipeline.thai import arabic_digits, clean_series, clean_text, match_key

TODO = "TODO:"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")  # a CKAN dataset name, also a folder name
FIT = 0.9  # share of a column's filled cells a type must read; the rest are the data's errors, by cell
PLACE_FIT = 0.8  # provinces and districts: misspellings are common, and the build names each one
MAX_ENUM = 12  # a text column with at most this many distinct values, each used more than once, is a list
KEY_CANDIDATES = 12
ROWS_BELOW = 3  # rows under a header candidate whose filled columns it must mostly label  # columns tried for a composite primary key (pairs of them)
PORTAL_SCHEMA = (
    Path(__file__).resolve().parents[1]
    / "portal"
    / "ckanext-opendata-local"
    / "ckanext_opendata_local"
    / "gdcatalog_dataset.yaml"
)
# portal fields the descriptor holds elsewhere (title, notes, tags, licence, organization, version)
PORTAL_FIELDS_ELSEWHERE = ("title", "name", "notes", "tag_string", "license_id", "owner_org", "version")
FORMATS_PUBLISHED = ["CSV", "XLS", "JSON"]  # what `make` publishes for every dataset


def _todo(what: str) -> str:
    return f"{TODO} {what}"


def _todo_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [path] if value.strip().startswith(TODO) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _todo_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _todo_paths(v, f"{path}[{i}]")]
    return []


def unfilled(descriptor_path: Path) -> list[str]:
    """Where a descriptor still says "TODO: …" (dotted paths); empty when it is ready to push."""
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # not ours to judge here: loading the dataset reports an unreadable schema
    return _todo_paths(descriptor, "")


# ---------------------------------------------------------------------------- the header


@dataclass
class Table:
    """The header and data rows of the sheets that share the chosen header."""

    grid: SheetGrid  # the sheet the header was taken from
    header_pos: int  # position of the header row in grid.cells
    labels: dict[int, str]  # column -> label as keyed (cleaned)
    rows: pd.DataFrame  # one column per labelled column (by column index), cleaned text
    title_rows: list[str]  # text above the header (titles, "ข้อมูล ณ …")
    sheets: list[str]

    @property
    def header_row(self) -> int:
        return int(self.grid.row_numbers[self.header_pos])


def _is_label(text: str) -> bool:
    """A header cell is words, not a number or a date."""
    plain = arabic_digits(text).replace(",", "").replace(" ", "")
    return bool(text) and not re.fullmatch(r"[-+]?[0-9.:/-]+", plain)


def guess_header(grid: SheetGrid) -> tuple[int, dict[int, str]] | None:
    """(position, {column: label}) of the header among the rows the build searches: the first row
    of at least as many words as the build requires (not numbers or dates) that stands over the
    rows below it (most of their filled columns are its own). Titles, "ข้อมูล ณ …" lines and group
    headings above it stand over too few of the columns below them."""
    for pos in range(len(grid.cells) - 1):  # a header needs data under it
        if grid.row_numbers[pos] > headers.HEADER_SEARCH_ROWS:
            break
        cells = _filled(grid, pos)
        labels = {c: v for c, v in cells.items() if _is_label(v)}
        if len(labels) < headers.MIN_MATCHED_LABELS or len(labels) < 0.8 * len(cells):
            continue
        below = {c for n in range(pos + 1, min(pos + 1 + ROWS_BELOW, len(grid.cells))) for c in _filled(grid, n)}
        over = len(below & set(labels))
        if over >= 0.5 * len(below) and over >= headers.MIN_MATCHED_LABELS:
            return pos, labels
    return None


def _filled(grid: SheetGrid, pos: int) -> dict[int, str]:
    return {int(c): clean_text(v) for c, v in grid.cells.iloc[pos].items() if isinstance(v, str) and v.strip()}


def read_table(path: Path, csv_options: dict[str, str] | None = None) -> Table:
    """The table of a workbook or CSV: the sheet with the most rows under a header, and every
    other sheet whose header has the same labels (the build reads them all)."""
    grids = read.read_file(path, path.name, csv_options)
    found = [(g, h) for g in grids if (h := guess_header(g)) is not None]
    if not found:
        raise ConfigError(
            f"{path.name}: no header row found in the first {headers.HEADER_SEARCH_ROWS} rows of any sheet "
            f"(a row of at least {headers.MIN_MATCHED_LABELS} column names with data under it)"
        )
    grid, (pos, labels) = max(found, key=lambda gh: len(gh[0].cells) - gh[1][0])
    keys = {match_key(v) for v in labels.values()}
    parts, sheets = [], []
    for g, (p, lab) in found:
        if {match_key(v) for v in lab.values()} != keys:
            continue
        by_key = {match_key(v): c for c, v in lab.items()}
        body = g.cells.iloc[p + 1 :]
        frame = pd.DataFrame({c: body[by_key[match_key(v)]].reset_index(drop=True) for c, v in labels.items()})
        # the header keyed again inside the data (tables pasted one under another) is not data
        again = pd.Series(True, index=frame.index)
        for c, v in labels.items():
            again &= clean_series(frame[c]).map(match_key) == match_key(v)
        parts.append(frame[~again])
        sheets.append(read.sheet_label(g.file, g.sheet))
    rows = pd.concat(parts, ignore_index=True)
    rows = pd.DataFrame({c: clean_series(rows[c]) for c in rows.columns})
    titles = [
        " ".join(clean_text(v) for v in grid.cells.iloc[p] if isinstance(v, str) and v.strip()) for p in range(pos)
    ]
    return Table(grid, pos, labels, rows, [t for t in titles if t], sheets)


# ---------------------------------------------------------------------------- what a column holds


@dataclass
class Guess:
    """The draft of one field."""

    column: int
    label: str
    name: str = ""
    type: str = "string"
    normalize: str = "text"
    options: dict[str, Any] = field(default_factory=dict)  # fields.yaml keys beside `normalize`
    constraints: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # one line for the person reviewing it
    canonical: pd.Series | None = None  # the values as they will compare (for the key search)

    @property
    def title(self) -> str:
        """The header as a Thai title: without the marks officers add ("รหัส*", "จังหวัด:")."""
        return self.label.rstrip("*:： ").strip() or self.label


class Readers:
    """Thai-aware readers of single cells, to guess a column's type: the very rules the
    normalizers apply (pipeline/normalizers.py), from the same reference tables."""

    def __init__(self, reference: Reference) -> None:
        self.rules = ThaiRules(reference)
        self.true_words = {match_key(w) for w in TRUE_WORDS}
        self.false_words = {match_key(w) for w in FALSE_WORDS}

    def province(self, text: str) -> str | None:
        return self.rules.province(text)

    def year(self, text: str) -> str | None:
        return self.rules.year(text)

    def date(self, text: str) -> str | None:
        return self.rules.date(text)

    def district(self, text: str) -> str | None:
        codes = self.rules.district_codes(text)
        return codes[0] if codes and not text.isdigit() else None

    def subdistrict(self, text: str) -> str | None:
        codes = self.rules.subdistrict_codes(text)
        return codes[0] if codes and not text.isdigit() else None

    def boolean(self, text: str) -> str | None:
        """A yes/no word; 0 and 1 alone are read as numbers (so does frictionless describe)."""
        if text.isdigit():
            return None
        key = match_key(text)
        return "true" if key in self.true_words else "false" if key in self.false_words else None

    def number(self, text: str) -> float | None:
        """As the `number` normalizer reads it; a leading zero ("007", a code) is not a number."""
        if re.match(r"^[0๐][0-9๐-๙]", text.strip()):
            return None
        value = read_number(text)
        return None if value is None else float(value)


def _share(values: pd.Series, counts: pd.Series, read: Callable[[str], Any]) -> tuple[float, pd.Series]:
    """(share of cells `read` understands, the read value per distinct text)."""
    got = pd.Series([read(v) for v in values], index=values.index, dtype=object)
    total = counts.sum()
    return (float(counts[got.notna()].sum() / total) if total else 0.0), got


def _place_share(
    distinct: pd.Series, counts: pd.Series, read: Callable[[str], Any], label: str, words: tuple[str, ...]
) -> float:
    """Share of place names, only where the header or the values say what kind of place: so many
    ตำบล share a name with a common word that a list of words would otherwise pass for one."""
    prefixed = [any(v.startswith((w, w[0] + ".")) for w in words) for v in distinct]
    said = any(w in label for w in words) or counts[prefixed].sum() >= 0.5 * counts.sum()
    return _share(distinct, counts, read)[0] if said else 0.0


def guess_column(column: int, label: str, cells: pd.Series, readers: Readers) -> Guess:
    """Type, normalizer and constraints of one column from its values (cleaned text)."""
    guess = Guess(column, label)
    filled = cells[cells != ""]
    if filled.empty:
        guess.why = "empty column: text"
        guess.canonical = cells
        return guess
    counted = filled.value_counts(sort=False)
    distinct = pd.Series(counted.index, index=counted.index, dtype=object)
    counts = counted

    def as_cells(read_values: pd.Series) -> pd.Series:
        mapped = cells.map(read_values.to_dict())
        return mapped.where(mapped.notna(), cells).astype(str)

    share, got = _share(distinct, counts, readers.boolean)
    if share >= FIT and got.nunique() <= 2:
        guess.type, guess.normalize, guess.why = "boolean", "boolean", f"{share:.0%} yes/no words"
        guess.canonical = as_cells(got)
    elif (share := _share(distinct, counts, readers.province)[0]) >= PLACE_FIT:
        guess.normalize, guess.options = "province", {"enum_from": "provinces"}
        guess.why = f"{share:.0%} Thai province names"
        guess.canonical = as_cells(_share(distinct, counts, readers.province)[1])
    else:
        year_share, years = _share(distinct, counts, readers.year)
        be = distinct[[re.search(r"25[0-9]{2}|2[4-6][0-9]{2}", arabic_digits(v)) is not None for v in distinct]]
        dates_share, dates = _share(
            distinct, counts, lambda v: None if re.fullmatch(r"[0-9๐-๙]+", v) else readers.date(v)
        )
        numbers_share, numbers = _share(distinct, counts, readers.number)
        if year_share >= FIT and counts[be.index].sum() >= 0.5 * counts.sum():
            guess.type, guess.normalize = "integer", "buddhist_year"
            guess.why = f"{year_share:.0%} years, mostly Buddhist Era"
            guess.constraints = {"minimum": 2400, "maximum": 2700}
            guess.canonical = as_cells(years)
        elif dates_share >= FIT:
            guess.type, guess.normalize, guess.why = "date", "thai_date", f"{dates_share:.0%} dates (Thai or ISO)"
            guess.canonical = as_cells(dates)
        elif numbers_share >= FIT:
            read_numbers = numbers.dropna()
            whole = all(float(x).is_integer() for x in read_numbers)
            guess.type = guess.normalize = "integer" if whole else "number"
            guess.why = f"{numbers_share:.0%} {'whole ' if whole else ''}numbers"
            if len(read_numbers) and min(read_numbers) >= 0:
                guess.constraints = {"minimum": 0}
                guess.why += ", none negative"
            guess.canonical = as_cells(numbers.map(lambda x: None if x is None else repr(float(x))))
        elif (
            share := _place_share(distinct, counts, readers.district, label, ("อำเภอ", "เขต", "district"))
        ) >= PLACE_FIT:
            guess.normalize, guess.why = "district", f"{share:.0%} district (อำเภอ / เขต) names"
            guess.canonical = as_cells(_share(distinct, counts, readers.district)[1])
        elif (share := _place_share(distinct, counts, readers.subdistrict, label, ("ตำบล", "แขวง"))) >= PLACE_FIT:
            guess.normalize, guess.why = "subdistrict", f"{share:.0%} subdistrict (ตำบล / แขวง) names"
            guess.canonical = as_cells(_share(distinct, counts, readers.subdistrict)[1])
        else:
            guess.canonical = cells
            if len(distinct) <= MAX_ENUM and len(filled) >= 2 * len(distinct) and len(filled) >= 4:
                guess.constraints = {"enum": list(distinct)}
                guess.why = f"text, {len(distinct)} distinct values: a list"
            else:
                guess.why = "text"
    if len(filled) == len(cells):
        guess.constraints = {"required": True, **guess.constraints}
    return guess


# ---------------------------------------------------------------------------- names and keys


@dataclass
class Glossary:
    data: dict[str, Any]

    @cached_property
    def names(self) -> dict[str, str]:
        return {match_key(label): name for name, labels in (self.data.get("fields") or {}).items() for label in labels}

    @cached_property
    def personal(self) -> set[str]:
        return {match_key(label) for label in self.data.get("personal_data") or ()}

    @staticmethod
    def _keys(label: str) -> list[str]:
        key = match_key(label)
        bare = match_key(re.sub(r"\s*[(（][^)）]*[)）]\s*$", "", label))
        return [key, bare] if bare and bare != key else [key]

    def name(self, label: str) -> str | None:
        return next((self.names[k] for k in self._keys(label) if k in self.names), None)

    def is_personal(self, label: str) -> bool:
        return any(k in self.personal for k in self._keys(label))


def load_glossary(reference_dir: Path) -> Glossary:
    path = reference_dir / "header-glossary.yaml"
    try:
        return Glossary(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the header glossary {path}: {exc}") from exc


def ascii_name(label: str) -> str | None:
    """snake_case of an English header ("Budget (THB)" -> budget_thb); None for Thai ones."""
    words = re.findall(r"[a-z0-9]+", label.lower())
    if not words or not re.fullmatch(r"[\x20-\x7e]+", label) or not words[0][0].isalpha():
        return None
    return "_".join(words)[:60]


def name_fields(guesses: list[Guess], glossary: Glossary) -> None:
    """ASCII snake_case names: the glossary's, an English header's own, else field_<n>; each once."""
    used: set[str] = set()
    for n, g in enumerate(guesses, start=1):
        base = glossary.name(g.label) or ascii_name(g.label) or f"field_{n}"
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        g.name = name


def _may_key(g: Guess) -> bool:
    """Text, dates, years and codes may identify a row; amounts and yes/no never do."""
    if g.type in ("string", "date") or g.normalize == "buddhist_year":
        return True
    return g.type == "integer" and (g.name in ("id", "code", "record_no") or g.name.endswith(("_id", "_code")))


def propose_key(guesses: list[Guess]) -> list[str]:
    """A column (or pair) whose values, as they will be normalized, are filled and unique."""
    candidates = [g for g in guesses if g.constraints.get("required") and g.canonical is not None and _may_key(g)]
    if not candidates or len(candidates[0].canonical) < 2:  # type: ignore[arg-type]
        return []
    # a row keyed twice, every value the same, is dropped by the build (with a warning): not a repeat
    whole = pd.DataFrame({g.name: g.canonical for g in guesses if g.canonical is not None})
    kept = ~whole.duplicated()
    for g in candidates:
        g.canonical = g.canonical[kept]  # type: ignore[index]
    # a running number ("ลำดับ") is unique but says nothing about the row: the last resort
    meaningful = [g for g in candidates if g.name != "record_no"]
    for g in meaningful:
        if g.canonical.is_unique:  # type: ignore[union-attr]
            return [g.name]
    for a, b in combinations(meaningful[:KEY_CANDIDATES], 2):
        pair = pd.DataFrame({"a": a.canonical, "b": b.canonical})
        if not pair.duplicated().any():
            return [a.name, b.name]
    return [g.name for g in candidates if g.name == "record_no" and g.canonical.is_unique][:1]  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- the files


LEVELS = {"subdistrict": "ตำบล", "district": "อำเภอ", "province": "จังหวัด"}  # GD Catalog geo_coverage choices


def geo_coverage(guesses: list[Guess], key: list[str]) -> str | None:
    """The place one row is about: the place field of the key (a row per province), else the finest
    place in the table; None when it has none (the reviewer chooses)."""
    kinds = [g.normalize for g in guesses if g.name in key] or [g.normalize for g in guesses]
    return next((LEVELS[level] for level in LEVELS if level in kinds), None)


def _portal_block(dataset: str, guesses: list[Guess], key: list[str]) -> dict[str, Any]:
    """x_portal: every GD Catalog field the portal's schema knows, known ones filled."""
    try:
        schema = yaml.safe_load(PORTAL_SCHEMA.read_text(encoding="utf-8"))
        portal_fields = [f for f in schema["dataset_fields"] if f["field_name"] not in PORTAL_FIELDS_ELSEWHERE]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the portal's dataset schema {PORTAL_SCHEMA}: {exc}") from exc
    coverage = geo_coverage(guesses, key)
    known: dict[str, Any] = {"data_format": FORMATS_PUBLISHED, "data_language": ["ไทย"]}
    if coverage:
        known["geo_coverage"] = coverage
    gdcatalog: dict[str, Any] = {}
    for f in portal_fields:
        key = f["field_name"]
        label = f.get("label")
        title = label.get("th") or label.get("en") if isinstance(label, dict) else str(label or key)
        if key.endswith("_other"):
            continue  # only when a choice is "อื่นๆ": the reviewer adds it then
        if key in known:
            gdcatalog[key] = known[key]
            continue
        choices = [c["value"] for c in f.get("choices") or ()]
        hint = f"{title}" + (f"; one of: {' | '.join(choices)}" if choices else "")
        if not f.get("required"):
            hint += " (optional: delete the key if not needed)"
        value: Any = _todo(hint)
        gdcatalog[key] = [value] if f.get("preset") == "multiple_select" else value
    return {
        "organization": {
            "name": _todo("portal name of the publishing organization (lowercase, e.g. dopa)"),
            "title": _todo("ชื่อหน่วยงานผู้เผยแพร่"),
            "description": _todo("คำอธิบายหน่วยงาน"),
        },
        "license_id": _todo("portal licence id, e.g. cc-by"),
        "gdcatalog": gdcatalog,
        "may_contain": {"maintainer_email": ["email"], "maintainer": ["person_name"]},
    }


def descriptor(
    dataset: str, resource: str, table: Table, guesses: list[Guess], key: list[str], source_name: str
) -> dict[str, Any]:
    title = table.title_rows[0] if table.title_rows else _todo("ชื่อชุดข้อมูล (ภาษาไทย)")
    return {
        "name": dataset,
        "title": title,
        "description": _todo("คำอธิบายชุดข้อมูล: เนื้อหา ช่วงเวลา ขอบเขต หน่วยงานที่จัดทำ"),
        "version": "1.0.0",
        "licenses": [{"name": _todo("licence, e.g. CC-BY-4.0"), "title": _todo("licence title")}],
        "keywords": [_todo("คำสำคัญ")],
        "sources": [{"title": _todo(f"แหล่งที่มาของข้อมูล (ไฟล์ต้นฉบับ: {source_name})")}],
        "contributors": [{"title": _todo("หน่วยงานผู้เผยแพร่"), "role": "publisher"}],
        "resources": [
            {
                "name": resource,
                "path": f"{resource}.csv",
                "title": title,
                "description": _todo("หนึ่งแถวต่ออะไร เรียงตามอะไร"),
                "schema": f"{resource}.schema.json",
            }
        ],
        "x_portal": _portal_block(dataset, guesses, key),
    }


def table_schema(guesses: list[Guess], key: list[str]) -> dict[str, Any]:
    fields = []
    for g in guesses:
        desc: dict[str, Any] = {"name": g.name, "type": g.type, "title": g.title}
        if g.constraints:
            desc["constraints"] = g.constraints
        fields.append(desc)
    schema: dict[str, Any] = {"fields": fields}
    if key:
        schema["primaryKey"] = key
    return schema


FIELDS_YAML_HEAD = """\
# Written by `python -m pipeline new {dataset} --from {source}`: a draft to review.
# How each column of the workbook becomes a field of {resource}.schema.json:
#   aliases    header labels accepted for the field (the field name and its Thai title always are)
#   normalize  what turns the text as keyed into the published value (`python -m pipeline normalizers`)
# Guessed from the values; check each, then `make DATASET={dataset}`:
{guesses}
"""


def fields_yaml(dataset: str, resource: str, source: str, guesses: list[Guess], personal: list[str]) -> str:
    lines = [f"#   {g.name}: {g.why}" for g in guesses]
    body: dict[str, Any] = {"resource": resource, "fields": {}}
    for g in guesses:
        entry: dict[str, Any] = {"normalize": g.normalize, **g.options}
        if g.title != g.label:
            entry["aliases"] = [g.label]  # the header as keyed
        body["fields"][g.name] = entry
    if personal:
        body["personal_data"] = personal
    head = FIELDS_YAML_HEAD.format(dataset=dataset, source=source, resource=resource, guesses="\n".join(lines))
    text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=120)
    if personal:
        text = text.replace(
            "personal_data:",
            "# Personal data (PDPA): these columns are read and dropped, never published.\npersonal_data:",
        )
    return head + text


@dataclass
class Scaffolded:
    dataset: str
    schema_dir: Path
    raw_copy: Path
    header: str  # file › sheet › row of the header
    guesses: list[Guess]
    primary_key: list[str]
    personal: list[str]
    todo: list[str]
    rows: int
    other_files: list[str] = field(default_factory=list)  # already in RAW_DIR/<dataset>/: the build reads them too


def _check_target(dataset: str, schemas_dir: Path, force: bool) -> Path:
    if not NAME.match(dataset):
        raise ConfigError(
            f"dataset name {dataset!r}: use 2-100 lowercase letters, digits, - or _ (it becomes the portal's URL name)"
        )
    target = schemas_dir / dataset
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(f"{target} already exists; refusing to overwrite a schema (use --force to replace it)")
    return target


def new_dataset(dataset: str, source: Path, schemas_dir: Path, raw_dir: Path, *, force: bool = False) -> Scaffolded:
    """Write schemas/<dataset>/ from one workbook or CSV and copy it under RAW_DIR/<dataset>/."""
    target = _check_target(dataset, schemas_dir, force)
    if not source.is_file():
        raise ConfigError(f"no such file: {source}")
    if source.suffix.lower() not in read.SUPPORTED_SUFFIXES:
        raise ConfigError(f"{source.name}: give a .xlsx workbook or a .csv file")
    raw_copy = raw_dir / dataset / source.name
    copy = not (raw_copy.exists() and raw_copy.resolve() == source.resolve())
    if copy and raw_copy.exists():
        if raw_copy.read_bytes() == source.read_bytes():
            copy = False
        elif not force:
            raise ConfigError(f"{raw_copy} already exists with other content; refusing to replace it (use --force)")
    reference = Reference(schemas_dir / "reference")
    glossary = load_glossary(reference.directory)
    table = read_table(source)
    readers = Readers(reference)
    guesses: list[Guess] = []
    personal: list[str] = []
    for column, label in sorted(table.labels.items()):
        cells = table.rows[column]
        if glossary.is_personal(label) or pdpa.scan_column(cells, label, reference.directory):
            personal.append(label)
            continue
        guesses.append(guess_column(column, label, cells, readers))
    if not guesses:
        raise ConfigError(f"{source.name}: every column looks like personal data; nothing to publish")
    name_fields(guesses, glossary)
    _link_places(guesses)
    key = propose_key(guesses)
    for g in guesses:
        if g.name in key:
            g.constraints = {"required": True, **g.constraints}
    resource = dataset
    documents = {
        "datapackage.json": descriptor(dataset, resource, table, guesses, key, source.name),
        f"{resource}.schema.json": table_schema(guesses, key),
    }
    staging = target.with_name(f".{dataset}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for file_name, document in documents.items():
            text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
            (staging / file_name).write_text(text, encoding="utf-8")
        (staging / "fields.yaml").write_text(
            fields_yaml(dataset, resource, source.name, guesses, personal), encoding="utf-8"
        )
        _check_build_finds_header(staging, dataset, table)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if copy:
        raw_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, raw_copy)
    others = [p.relative_to(raw_copy.parent).as_posix() for p in read.raw_files(raw_copy.parent) if p != raw_copy]
    where = " › ".join(p for p in (table.grid.file, table.grid.sheet, f"row {table.header_row}") if p)
    return Scaffolded(
        dataset,
        target,
        raw_copy,
        where,
        guesses,
        key,
        personal,
        unfilled(target / "datapackage.json"),
        len(table.rows),
        others,
    )


def _link_places(guesses: list[Guess]) -> None:
    """A district is checked against the province of its row, a subdistrict against both."""
    by_kind = {g.normalize: g.name for g in reversed(guesses)}
    for g in guesses:
        if g.normalize == "district" and "province" in by_kind:
            g.options["province"] = by_kind["province"]
        if g.normalize == "subdistrict":
            for kind in ("district", "province"):
                if kind in by_kind:
                    g.options[kind] = by_kind[kind]


def _check_build_finds_header(staging: Path, dataset: str, table: Table) -> None:
    """Load the draft as the build will and make sure it finds the same header row."""
    work = staging.parent / f".{dataset}.check"
    shutil.rmtree(work, ignore_errors=True)
    try:
        shutil.copytree(staging, work / dataset)
        (work / "reference").symlink_to((staging.parent / "reference").resolve())
        spec = load_dataset(work, dataset)
        found = headers.find_header(table.grid, spec)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if found is None or found[0] != table.header_pos:
        raise ConfigError(
            f"{table.grid.file}: the build would not find the header at row {table.header_row}; "
            "move the table's header into the first rows, or name the columns"
        )
