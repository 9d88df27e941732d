"""Stage 3, normalize: turn hand-keyed text into the schema's canonical values.

Vectorized: text cleaning runs as pandas/pyarrow string kernels over whole columns, and
the parse-heavy rules (years, dates, provinces, organization names) run once per
*distinct* value (`pd.factorize` -> rule -> `take`): these columns repeat a lot, so a
million rows cost a few thousand rule calls. A value no rule can read is kept as
cleaned text, so validation reports it against the schema with its cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.columns import arrow_text, map_distinct, spread
from pipeline.dataset import DatasetSpec, Reference
from pipeline.headers import MappedSheet
from pipeline.issues import Issue, column_letter
from pipeline.thai import arabic_digits, clean_series, match_key

EXCEL_EPOCH = date(1899, 12, 30)
BE_OFFSET = 543
BE_THRESHOLD = 2400  # a year at or above this is Buddhist Era


@dataclass
class NormalizedTable:
    """Normalized values of every data row, with what is needed to point back at cells."""

    values: pd.DataFrame  # one str column per schema field ("" = missing)
    cleaned: pd.DataFrame  # the cleaned source text per mapped field, for messages
    sheet_index: np.ndarray  # index into `sheets` of each row
    row_numbers: np.ndarray
    sheets: list[MappedSheet]
    spec: DatasetSpec

    _letters: dict[tuple[int, str], str] = field(default_factory=dict, init=False, repr=False)

    def cell(self, field_name: str, position: int) -> str:
        """Spreadsheet address standing for `field_name` in row `position`."""
        return self.cells(field_name, np.array([position]))[0]

    def cells(self, field_name: str, positions: np.ndarray) -> list[str]:
        """`cell` for many rows at once: "E4", or "row 4" where the sheet has no such column."""
        sheet_of = self.sheet_index[positions].tolist()
        letters = {index: self._letter(index, field_name) for index in set(sheet_of)}
        rows = self.row_numbers[positions].tolist()
        return [f"{letters[s]}{r}" if letters[s] else f"row {r}" for s, r in zip(sheet_of, rows, strict=True)]

    def _letter(self, index: int, field_name: str) -> str:
        key = (index, field_name)
        if key not in self._letters:
            sheet = self.sheets[index]
            names = [n for n in (field_name, *self.spec.field(field_name).cell_fallback) if n in sheet.columns]
            self._letters[key] = column_letter(sheet.columns[names[0]]) if names else ""
        return self._letters[key]

    def where(self, position: int) -> dict[str, str]:
        file, sheet = self.places(np.array([position]))[0]
        return {"file": file, "sheet": sheet}

    def places(self, positions: np.ndarray) -> list[tuple[str, str]]:
        """(file, sheet) of many rows at once."""
        names = [(s.file, s.sheet) for s in self.sheets]
        return [names[s] for s in self.sheet_index[positions].tolist()]

    def full_cells(self, field_name: str, positions: np.ndarray) -> list[str]:
        """`file › sheet › E4` of many rows, for pointing at the other cell of a pair."""
        return [
            " › ".join(p for p in (file, sheet, cell) if p)
            for (file, sheet), cell in zip(self.places(positions), self.cells(field_name, positions), strict=True)
        ]

    def source_text(self, field_name: str, position: int) -> str:
        """The cleaned text as keyed (or of the field it derives from), for messages."""
        return self.source_texts(field_name, np.array([position]))[0]

    def source_texts(self, field_name: str, positions: np.ndarray) -> list[str]:
        """`source_text` for many rows at once (one Arrow take per column, not one lookup per row)."""
        texts = [""] * len(positions)
        missing = np.arange(len(positions))
        for name in (field_name, *self.spec.field(field_name).cell_fallback):
            if name not in self.cleaned.columns or not len(missing):
                continue
            values = arrow_text(self.cleaned[name]).take(pa.array(positions[missing])).to_pylist()
            still = []
            for i, value in zip(missing, values, strict=True):
                if isinstance(value, str) and value:
                    texts[i] = value
                else:
                    still.append(i)
            missing = np.array(still, dtype=int)
        return texts


class ThaiRules:
    """Rules for Thai dates, years, provinces and local-government names, built from reference tables."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    @cached_property
    def province_by_key(self) -> dict[str, str]:
        table = {}
        for row in self.reference.provinces:
            for label in (row["name_th"], row["name_en"], *filter(None, row["aliases"].split("|"))):
                table[match_key(label)] = row["name_th"]
        return table

    @cached_property
    def province_code(self) -> dict[str, str]:
        return {row["name_th"]: row["iso_code"] for row in self.reference.provinces}

    @cached_property
    def government_type_by_key(self) -> dict[str, str]:
        table = {}
        for row in self.reference.local_government_types:
            for label in (row["name_th"], *filter(None, row["abbreviations"].split("|"))):
                table[match_key(label)] = row["name_th"]
        return table

    @cached_property
    def _name_prefix(self) -> re.Pattern[str]:
        """Leading type of an organization name: full form or abbreviation, longest first.

        An abbreviation keyed without its dot must be followed by a space ("อบต ปางหมู"),
        so that a name merely starting with the same letters is left alone.
        """
        alternatives = []
        for row in self.reference.local_government_types:
            for label in (row["name_th"], *filter(None, row["abbreviations"].split("|"))):
                undotted_abbreviation = label != row["name_th"] and not label.endswith(".")
                alternatives.append((label, " +" if undotted_abbreviation else " *"))
        alternatives.sort(key=lambda a: len(a[0]), reverse=True)
        # "เทศบาล นคร ยะลา": spaces keyed inside the type are tolerated
        spaced = [(" ?".join(re.escape(ch) for ch in label), space) for label, space in alternatives]
        return re.compile("^(?:" + "|".join(f"({label}){space}" for label, space in spaced) + ")")

    @cached_property
    def month_by_key(self) -> dict[str, int]:
        table = {}
        for row in self.reference.months:
            for label in (row["name_th"], row["abbreviation_th"]):
                table[match_key(label).replace(".", "")] = int(row["month"])
        return table

    # -- single-value rules (called once per distinct value) -------------------------

    def province(self, text: str) -> str | None:
        key = match_key(text)
        key = re.sub(r"^(?:จังหวัด|จ\.)", "", key)
        return self.province_by_key.get(key)

    def government_type(self, text: str) -> str | None:
        return self.government_type_by_key.get(match_key(text))

    # "เทศบาลตำบลท่าคันโท จ.กาฬสินธุ์": the marker must follow a space, so that
    # "องค์การบริหารส่วนจังหวัดเชียงใหม่" and "อบจ.เชียงใหม่" are left whole
    _TRAILING_PROVINCE = re.compile(r"^(.*\S)\s+(?:จังหวัด|จ\.)\s*(\S+)$")

    def government_name(self, text: str) -> tuple[str, str, str]:
        """(full official name, type from the name or "", province from the name or "")."""
        if not text:
            return "", "", ""
        province = ""
        m = self._TRAILING_PROVINCE.match(text)
        if m:
            found = self.province(m.group(2))
            if found:
                text, province = m.group(1), found
            else:  # keep the unreadable province text visible to validation
                province = m.group(2)
                text = m.group(1)
        kind = ""
        m = self._name_prefix.match(text)
        if m:
            label = next(g for g in m.groups() if g)
            kind = self.government_type_by_key[match_key(label)]
            rest = text[m.end() :].strip()
            # Bangkok and Pattaya: the type *is* the organization's name
            text = kind + rest if rest or kind in ("กรุงเทพมหานคร", "เมืองพัทยา") else text
        return text, kind, province

    _YEAR = re.compile(r"^(?:(พ\.?ศ\.?)|(ค\.?ศ\.?))?([0-9]{4})$")

    def year(self, text: str) -> str | None:
        m = self._YEAR.match(arabic_digits(text).replace(" ", "").removeprefix("ปี"))
        if not m:
            return None
        year = int(m.group(3))
        if m.group(2) or year < BE_THRESHOLD:
            year += BE_OFFSET
        return str(year)

    _ISO = re.compile(r"^([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})(?:[ T][0-9:.]+)?$")
    _DMY = re.compile(r"^([0-9]{1,2}) ?[/.-] ?([0-9]{1,2}) ?[/.-] ?([0-9]{4}|[0-9]{2})$")
    _DAY_MONTH_YEAR = re.compile(r"^([0-9]{1,2}) ?([^0-9 ][^0-9]*?) ?(?:พ\.ศ\.|พ\.ศ|ค\.ศ\.)? ?([0-9]{4}|[0-9]{2})$")
    _SERIAL = re.compile(r"^[0-9]{5}$")

    def date(self, text: str) -> str | None:
        """ISO date (CE) from the forms officers key, or None when unreadable or impossible."""
        text = arabic_digits(text).removeprefix("วันที่").strip()
        if m := self._ISO.match(text):
            y, mo, d = int(m.group(1)), int(m.group(3)), int(m.group(4))
        elif m := self._DMY.match(text):
            d, mo, y = int(m.group(1)), int(m.group(2)), _expand_year(m.group(3))
        elif m := self._DAY_MONTH_YEAR.match(text):
            month = self.month_by_key.get(match_key(m.group(2)).replace(".", ""))
            if month is None:
                return None
            d, mo, y = int(m.group(1)), month, _expand_year(m.group(3))
        elif self._SERIAL.match(text):
            return (EXCEL_EPOCH + timedelta(days=int(text))).isoformat()
        else:
            return None
        if y >= BE_THRESHOLD:
            y -= BE_OFFSET
        try:
            return date(y, mo, d).isoformat()
        except ValueError:
            return None


def _expand_year(text: str) -> int:
    """Two-digit years are Buddhist Era 25YY (hand-keyed '64' means 2564)."""
    return 2500 + int(text) if len(text) == 2 else int(text)


def normalize(sheets: list[MappedSheet], spec: DatasetSpec) -> tuple[NormalizedTable, list[Issue]]:
    """Normalize the rows of every mapped sheet into one table, plus cross-field issues."""
    mapped_fields = [f.name for f in spec.fields if not f.derived_from]
    parts = []
    for sheet in sheets:
        frame = sheet.data.reindex(columns=mapped_fields, fill_value="")
        parts.append(frame)
    if len(parts) == 1:
        raw = parts[0].reset_index(drop=True)
    else:
        raw = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=mapped_fields, dtype="str")
    sheet_index = (
        np.concatenate([np.full(len(s.data), i) for i, s in enumerate(sheets)]) if sheets else np.array([], int)
    )
    row_numbers = np.concatenate([s.row_numbers for s in sheets]) if sheets else np.array([], int)
    cleaned = pd.DataFrame({name: clean_series(raw[name]) for name in mapped_fields}, index=raw.index)
    index = raw.index
    del raw, parts  # from here on only the cleaned text is needed

    rules = ThaiRules(spec.reference)
    out: dict[str, pd.Series] = {}
    filled: dict[str, pd.Series] = {}  # values derived by one field's normalizer for another
    for f in spec.fields:
        if f.derived_from:
            continue
        text = cleaned[f.name]
        kind = f.normalize
        if kind == "text":
            out[f.name] = text
        elif kind == "identifier":
            out[f.name] = text.str.upper()
        elif kind == "lookup":
            table = {match_key(v): canon for canon, variants in f.lookup.items() for v in (canon, *variants)}
            out[f.name] = _keep_unread(text, map_distinct(text, lambda v, t=table: t.get(match_key(v))))
        elif kind == "buddhist_year":
            out[f.name] = _keep_unread(text, map_distinct(text, rules.year))
        elif kind == "thai_date":
            out[f.name] = _keep_unread(text, map_distinct(text, rules.date))
        elif kind == "province":
            out[f.name] = _keep_unread(text, map_distinct(text, rules.province))
        elif kind == "local_government_type":
            out[f.name] = _keep_unread(text, map_distinct(text, rules.government_type))
        elif kind == "local_government_name":
            codes, triples = map_distinct(text, rules.government_name)
            out[f.name] = spread(codes, [t[0] for t in triples], text.index).fillna("")
            for what, target in f.fills.items():
                position = {"type": 1, "province": 2}[what]
                filled[target] = spread(codes, [t[position] for t in triples], text.index).fillna("")
        else:
            raise ValueError(f"{spec.name}: unknown normalizer {kind!r} for field {f.name}")

    table = NormalizedTable(pd.DataFrame(), cleaned, sheet_index, row_numbers, sheets, spec)
    issues: list[Issue] = []
    for target, derived in filled.items():
        source = next(f.name for f in spec.fields if target in f.fills.values())
        given = out.get(target, pd.Series("", index=index, dtype="str"))
        conflict = (given != "") & (derived != "") & (given != derived)
        for pos in np.flatnonzero(conflict.to_numpy()):
            issues.append(
                Issue(
                    "error",
                    "row-constraint",
                    f"{target} {given.iat[pos]!r} disagrees with {derived.iat[pos]!r} in {source}",
                    cell=table.cell(target, pos),
                    field=target,
                    value=table.source_text(target, pos),
                    rule=f"{target} agrees with {source}",
                    related_cell=table.cell(source, pos),
                    **table.where(pos),
                )
            )
        out[target] = given.where(given != "", derived)

    # a name keyed without its type ("ปางหมู" + type column) gets the type in front
    for f in spec.fields:
        type_field = f.fills.get("type")
        if type_field and type_field in out:
            name, kind = out[f.name], out[type_field]
            known = set(rules.government_type_by_key.values())
            bare = (name != "") & kind.isin(known) & ~_starts_with_any(name, known)
            out[f.name] = name.where(~bare, kind + name)

    for f in spec.fields:
        if f.normalize == "province_code":
            province = out[f.derived_from]
            out[f.name] = spread(*map_distinct(province, rules.province_code.get), province.index).fillna("")
    table.values = pd.DataFrame({name: out[name] for name in spec.field_names}, index=index)
    return table, issues


def _keep_unread(text: pd.Series, distinct: tuple[np.ndarray, list[str | None]]) -> pd.Series:
    """Converted value where a rule could read it, else the cleaned text (for validation to flag)."""
    result = spread(*distinct, text.index)
    return result.where(result.notna(), text).fillna("")


def _starts_with_any(values: pd.Series, prefixes: set[str]) -> pd.Series:
    mask = pd.Series(False, index=values.index)
    for prefix in prefixes:
        mask |= values.str.startswith(prefix)
    return mask
