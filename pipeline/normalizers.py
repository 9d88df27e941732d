"""The normalizers a `fields.yaml` may name: one function each, in one registry.

`normalize: <name>` picks one for a field; `python -m pipeline normalizers` lists them with
their options. Each function reads the field's cleaned text column (or, for a derived field,
the normalized column it derives from) and returns the canonical column, vectorized: string
kernels over the whole column, or a rule run once per *distinct* value (or distinct tuple of
values of the same row) and spread back by code. A value no rule reads is kept as keyed, so
validation names its cell; it is never changed silently. The examples in each docstring are
run as tests (`demo` runs the real normalizer on a short column).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from pipeline.columns import map_distinct, map_distinct_rows, spread, spread_or_keep
from pipeline.thai import THAI_DIGITS, arabic_digits, clean_series, match_key

R = TypeVar("R")

if TYPE_CHECKING:
    from pipeline.dataset import FieldSpec, Reference

EXCEL_EPOCH = date(1899, 12, 30)
BE_OFFSET = 543
BE_THRESHOLD = 2400  # a year at or above this is Buddhist Era


# -- the registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Normalizer:
    """One entry of the registry: what `normalize: <name>` does and which options it reads."""

    name: str
    function: Callable[[Column], pd.Series]
    reads: str
    writes: str
    options: Mapping[str, str]  # option -> what it means (fields.yaml keys beside `normalize`)
    example: tuple[str, str]  # (as keyed, as published), checked by the tests
    example_options: Mapping[str, Any]  # the options (or other fields of the row) the example needs
    derived: bool = False  # reads the normalized value of `derived_from`, not a column of its own
    field_options: tuple[str, ...] = ()  # options whose value names another field of the same row
    fills: tuple[str, ...] = ()  # what this normalizer may derive for other fields (`fills: {what: field}`)

    def example_line(self, arrow: str = "->", quote: str = "") -> str:
        """`keyed -> published`, with the options the example needs."""
        keyed, published = self.example
        given = ", ".join(f"{k}: {v[0] if isinstance(v, list) else v}" for k, v in self.example_options.items())
        return f"{quote}{keyed}{quote}" + (f" ({given})" if given else "") + f" {arrow} {quote}{published}{quote}"

    @property
    def summary(self) -> str:
        """First line of the function's docstring."""
        return (self.function.__doc__ or "").strip().splitlines()[0]


REGISTRY: dict[str, Normalizer] = {}


def normalizer(
    name: str,
    *,
    reads: str,
    writes: str,
    example: tuple[str, str],
    example_options: Mapping[str, Any] | None = None,
    options: Mapping[str, str] | None = None,
    derived: bool = False,
    field_options: tuple[str, ...] = (),
    fills: tuple[str, ...] = (),
) -> Callable[[Callable[[Column], pd.Series]], Callable[[Column], pd.Series]]:
    """Register the decorated function under `name` (the name fields.yaml uses)."""

    def register(function: Callable[[Column], pd.Series]) -> Callable[[Column], pd.Series]:
        REGISTRY[name] = Normalizer(
            name,
            function,
            reads,
            writes,
            dict(options or {}),
            example,
            dict(example_options or {}),
            derived,
            field_options,
            fills,
        )
        return function

    return register


@dataclass
class Problem:
    """Rows of one field that a normalizer itself refuses (e.g. a district of another province)."""

    field: str
    positions: np.ndarray
    messages: list[str]
    rule: str
    related: str = ""  # the other field of the row the check compared with


@dataclass
class Column:
    """What a normalizer is given: its field, the cleaned text (or the column it derives from),
    the Thai rules, and the already normalized columns it may depend on."""

    text: pd.Series
    field: FieldSpec
    rules: ThaiRules
    done: Mapping[str, pd.Series]
    source: FieldSpec | None = None  # a derived field: the field it derives from
    fills: dict[str, pd.Series] = field(default_factory=dict)  # {what: values} for `fills` targets
    problems: list[Problem] = field(default_factory=list)

    def option(self, name: str, default: Any = None) -> Any:
        return self.field.options.get(name, default)

    def flag(self, mask: np.ndarray, messages: Sequence[str] | str, rule: str, related: str = "") -> None:
        """Report the rows in `mask` (messages per flagged row, or one for all)."""
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        texts = [messages] * len(positions) if isinstance(messages, str) else list(messages)
        self.problems.append(Problem(self.field.name, positions, texts, rule, related))


def keep_unread(text: pd.Series, distinct: tuple[np.ndarray, Sequence[str | None]]) -> pd.Series:
    """Converted value where a rule could read it, else the cleaned text (for validation to flag)."""
    return spread_or_keep(*distinct, text)


def _reference_values(column: Column, distinct: tuple[np.ndarray, Sequence[str | None]], table: str) -> pd.Series:
    """`keep_unread` for values from a reference table; when the field has no enum (`enum_from: <table>`
    gives it one), a value not in the table is flagged here, as validation would not see it."""
    if "enum" not in column.field.constraints:
        codes, results = distinct
        unread = np.array([r is None for r in results], dtype=bool)[codes] & _mask(column.text != "")
        column.flag(
            unread, f"not in schemas/reference ({table}); `enum_from: {table}` lets Frictionless check it too", table
        )
    return keep_unread(column.text, distinct)


# -- Thai rules built from schemas/reference/ -------------------------------------------------

REMEMBERED_MAX = 200_000  # values each rule remembers; beyond, it works them out again


def _remembered(rule: Callable[[Any, str], R]) -> Callable[[Any, str], R]:
    """A single-value rule that remembers its answers on its ThaiRules: the batches of a streamed
    table repeat most of their distinct dates and names, and one ThaiRules serves them all."""
    slot = f"_remembered_{rule.__name__}"

    @wraps(rule)
    def remembering(self: Any, text: str) -> R:
        memo: dict[str, R] = self.__dict__.setdefault(slot, {})
        if text in memo:
            return memo[text]
        result = rule(self, text)
        if len(memo) < REMEMBERED_MAX:
            memo[text] = result
        return result

    return remembering


class ThaiRules:
    """Rules for Thai dates, years, places and local-government names, built from reference tables."""

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

    # how pandas and numpy print a missing number: in a province column it means "empty", not น่าน (Nan)
    _MISSING_NOT_NAN = frozenset({"NaN", "nan"})

    @_remembered
    def province(self, text: str) -> str | None:
        if text in self._MISSING_NOT_NAN:
            return None
        key = match_key(text)
        key = re.sub(r"^(?:จังหวัด|จ\.)", "", key)
        return self.province_by_key.get(key)

    @_remembered
    def government_type(self, text: str) -> str | None:
        return self.government_type_by_key.get(match_key(text))

    # "เทศบาลตำบลท่าคันโท จ.กาฬสินธุ์": the marker must follow a space, so that
    # "องค์การบริหารส่วนจังหวัดเชียงใหม่" and "อบจ.เชียงใหม่" are left whole
    _TRAILING_PROVINCE = re.compile(r"^(.*\S)\s+(?:จังหวัด|จ\.)\s*(\S+)$")

    @_remembered
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

    @_remembered
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

    @_remembered
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

    # -- districts (อำเภอ / เขต) and subdistricts (ตำบล / แขวง) ---------------------------

    @cached_property
    def districts(self) -> dict[str, dict[str, str]]:
        """DOPA code -> row of th-districts.csv."""
        return {row["code"]: row for row in self.reference.districts}

    @cached_property
    def subdistricts(self) -> dict[str, dict[str, str]]:
        return {row["code"]: row for row in self.reference.subdistricts}

    @cached_property
    def _district_codes_by_key(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        for code, row in self.districts.items():
            labels = {row["name_th"], row["name_en"], code, *filter(None, row["aliases"].split("|"))}
            if code.endswith("01") and row["province_code"] != "TH-10":  # "อ.เมือง": the capital district
                labels |= {"เมือง", "Mueang"}
            for label in labels:
                table.setdefault(match_key(label), []).append(code)
        return table

    @cached_property
    def _subdistrict_codes_by_key(self) -> dict[str, list[str]]:
        table: dict[str, list[str]] = {}
        for code, row in self.subdistricts.items():
            for label in {row["name_th"], row["name_en"], code, *filter(None, row["aliases"].split("|"))}:
                table.setdefault(match_key(label), []).append(code)
        return table

    _DISTRICT_PREFIX = re.compile(r"^(?:กิ่งอำเภอ|กิ่งอ\.|อำเภอ|อ\.|เขต|ข\.)")
    _SUBDISTRICT_PREFIX = re.compile(r"^(?:ตำบล|ต\.|แขวง|ข\.)")

    def district_codes(self, text: str) -> list[str]:
        """Codes of every district this text may name ("อ.เมือง" names one per province)."""
        key = self._DISTRICT_PREFIX.sub("", match_key(arabic_digits(text)))
        return self._district_codes_by_key.get(key, [])

    def subdistrict_codes(self, text: str) -> list[str]:
        key = self._SUBDISTRICT_PREFIX.sub("", match_key(arabic_digits(text)))
        return self._subdistrict_codes_by_key.get(key, [])

    def district(self, text: str, province: str = "") -> tuple[str | None, str]:
        """(DOPA code, "") of the district `text` names in `province`; (None, why) when it names
        a district elsewhere or several; (None, "") when it names none.

        `province` is the row's normalized province ("" when the row has none or it is unreadable).
        """
        codes = self.district_codes(text)
        if not codes:
            return None, ""
        iso = self.province_code.get(province)
        if iso:
            inside = [c for c in codes if self.districts[c]["province_code"] == iso]
            if len(inside) == 1:
                return inside[0], ""
            if inside:
                names = ", ".join(self.districts[c]["name_th"] for c in inside)
                return None, f"{text!r} names several districts of {province} ({names}); the row must say which"
            return None, f"{text!r} is not a district of {province} (it is in {self._provinces_of(codes)})"
        if len(codes) == 1:
            return codes[0], ""
        return (
            None,
            f"{text!r} names a district in several provinces ({self._provinces_of(codes)}); the row must say which",
        )

    def subdistrict(self, text: str, district: str = "", province: str = "") -> tuple[str | None, str]:
        """(DOPA code, "") of the subdistrict `text` names in the row's district and province, as `district`."""
        codes = self.subdistrict_codes(text)
        if not codes:
            return None, ""
        where = []
        if district:
            parent, _ = self.district(district, province)
            if parent:
                codes_in = [c for c in codes if self.subdistricts[c]["district_code"] == parent]
                where.append(f"district {self.districts[parent]['name_th']}")
            else:
                codes_in = codes
        else:
            codes_in = codes
        iso = self.province_code.get(province)
        if iso:
            codes_in = [
                c for c in codes_in if self.districts[self.subdistricts[c]["district_code"]]["province_code"] == iso
            ]
            where.append(f"province {province}")
        if len(codes_in) == 1:
            return codes_in[0], ""
        places = sorted({self.districts[self.subdistricts[c]["district_code"]]["name_th"] for c in codes})
        if not codes_in:
            shown = ", ".join(places[:5]) + (" …" if len(places) > 5 else "")
            return None, f"{text!r} is not a subdistrict of {' and '.join(where)} (it is in district {shown})"
        return None, f"{text!r} names a subdistrict in several districts; the row must say which district"

    def _provinces_of(self, district_codes: list[str]) -> str:
        names = {row["iso_code"]: row["name_th"] for row in self.reference.provinces}
        found = sorted({names[self.districts[c]["province_code"]] for c in district_codes})
        return ", ".join(found[:5]) + (" …" if len(found) > 5 else "")


def _expand_year(text: str) -> int:
    """Two-digit years are Buddhist Era 25YY (hand-keyed '64' means 2564)."""
    return 2500 + int(text) if len(text) == 2 else int(text)


# -- numbers and yes/no words ---------------------------------------------------------------

MINUS_SIGNS = "\u2212\u2013\u2012\ufe63\uff0d"  # minus, en dash, figure dash, small and fullwidth hyphen-minus
CURRENCY = ("฿", "บาท", "THB")
# already canonical: most cells of a numeric column, kept as they are without a rule call
PLAIN_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
PLAIN_INTEGER = r"-?(?:0|[1-9][0-9]*)"
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$")
_UNGROUPED = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_EXPONENT = re.compile(r"^(.*?)[eE]([+-]?[0-9]{1,3})$")


def read_number(text: str, units: Sequence[str] = ()) -> Decimal | None:
    """The number a hand-keyed cell means, or None: Thai digits, thousands separators in groups
    of three, ฿ / บาท / THB or another unit word before or after, a minus of any dash form.

    >>> read_number("๓๒"), read_number("35,000 บาท"), read_number("−1,200.50"), read_number("฿ -5")
    (Decimal('32'), Decimal('35000'), Decimal('-1200.50'), Decimal('-5'))
    >>> read_number("1,2,3"), read_number("12.3.4"), read_number("1,0000"), read_number("5 คน")
    (None, None, None, None)
    >>> read_number("5 คน", units=["คน"])
    Decimal('5')
    """
    text = arabic_digits(text).translate({ord(c): "-" for c in MINUS_SIGNS}).strip()
    for unit in sorted({*CURRENCY, *units}, key=len, reverse=True):
        if text.casefold().endswith(unit.casefold()):
            text = text[: -len(unit)].rstrip()
            break
    sign = ""
    if text[:1] in "+-":
        sign, text = text[:1], text[1:].lstrip()
    for unit in ("฿", "THB"):
        if text.startswith(unit):
            text = text[len(unit) :].lstrip()
            break
    if text[:1] in "+-" and not sign:
        sign, text = text[:1], text[1:]
    exponent = ""
    if m := _EXPONENT.match(text):
        text, exponent = m.group(1), "e" + m.group(2)
    if not (_GROUPED.match(text) or _UNGROUPED.match(text)):
        return None
    try:
        return Decimal(sign.replace("+", "") + text.replace(",", "") + exponent)
    except InvalidOperation:
        return None


def number_text(value: Decimal) -> str:
    """Plain decimal text Frictionless reads as a number: no exponent, no separators, no "+".

    >>> number_text(Decimal("1200.50")), number_text(Decimal("1.5e3")), number_text(Decimal("5."))
    ('1200.50', '1500', '5')
    """
    return format(value, "f")


# 1 and 0 as Frictionless reads them by default; the rest as Thai forms are filled in
TRUE_WORDS = ("true", "yes", "y", "1", "ใช่", "มี", "จริง", "✓", "✔", "☑")
FALSE_WORDS = ("false", "no", "n", "0", "ไม่ใช่", "ไม่มี", "ไม่จริง", "✗", "✘", "☒")


# -- the normalizers ------------------------------------------------------------------------


@normalizer("text", reads="any text", writes="the cleaned text", example=("ระบบ   ทดสอบ", "ระบบ ทดสอบ"))
def text(column: Column) -> pd.Series:
    """Text as keyed, cleaned: spaces trimmed and collapsed, zero-width characters removed, sara am composed.

    >>> demo("text", ["  ระบบ\u00a0 ทดสอบ ", "ส\u0e4d\u0e32หรับ"])
    ['ระบบ ทดสอบ', 'สำหรับ']
    """
    return column.text


@normalizer(
    "identifier", reads="a code or id", writes="the code in upper case", example=("ldi-2564-001", "LDI-2564-001")
)
def identifier(column: Column) -> pd.Series:
    """An identifier, upper-cased so that "ldi-001" and "LDI-001" are one key.

    >>> demo("identifier", ["ldi-2564-001", "LDI-2564-002"])
    ['LDI-2564-001', 'LDI-2564-002']
    """
    return column.text.str.upper()


@normalizer(
    "lookup",
    reads="any of the spellings listed under `lookup`",
    writes="the canonical value they are listed under",
    options={"lookup": "canonical value -> the spellings accepted for it, e.g. {ได้รับการคัดเลือก: [ผ่าน]}"},
    example=("ผ่าน", "ได้รับการคัดเลือก"),
    example_options={"lookup": {"ได้รับการคัดเลือก": ["ผ่าน"]}},
)
def lookup(column: Column) -> pd.Series:
    """The canonical value of a spelling listed in the field's `lookup` table (case and spaces ignored).

    >>> demo("lookup", ["ผ่าน", "ไม่ ผ่าน", "รอผล"], lookup={"ได้รับการคัดเลือก": ["ผ่าน"], "ไม่ได้รับการคัดเลือก": ["ไม่ผ่าน"]})
    ['ได้รับการคัดเลือก', 'ไม่ได้รับการคัดเลือก', 'รอผล']
    """
    table = {match_key(v): canon for canon, variants in column.field.lookup.items() for v in (canon, *variants)}
    return keep_unread(column.text, map_distinct(column.text, lambda v: table.get(match_key(v))))


@normalizer(
    "number",
    reads="a number: Thai digits, 35,000, ฿ / บาท, a minus of any dash form",
    writes="plain decimal text (35000, -1200.50)",
    options={"units": "more unit words a value may carry before or after it, e.g. [คน, ไร่, '%']"},
    example=("฿35,000.50", "35000.50"),
)
def number(column: Column) -> pd.Series:
    """A number as Frictionless reads it: separators, currency and units dropped, Thai digits made Arabic.

    "1,2,3" (separators not in threes) and "12.3.4" stay as keyed, so validation names their cells.

    >>> demo("number", ["35,000", "๓๒", "฿1,200.50", "−5", "2,500 บาท", "1,2,3", "12.3.4", ""])
    ['35000', '32', '1200.50', '-5', '2500', '1,2,3', '12.3.4', '']
    """
    units = tuple(column.option("units", ()))

    def rule(value: str) -> str | None:
        found = read_number(value, units)
        return None if found is None else number_text(found)

    return _numbers(column.text, PLAIN_NUMBER, rule, whole=False)


@normalizer(
    "integer",
    reads="a whole number, keyed as `number` reads it (35,000.00 too)",
    writes="plain integer text (35000)",
    options={"units": "more unit words a value may carry, e.g. [คน, ราย]"},
    example=("๓๒ คน", "32"),
    example_options={"units": ["คน"]},
)
def integer(column: Column) -> pd.Series:
    """A whole number: as `number`, and a fraction of zeros dropped; 2.5 stays as keyed (an error).

    >>> demo("integer", ["35,000", "๓๒", "1,200.00", "−7", "2.5", "1,2,3"])
    ['35000', '32', '1200', '-7', '2.5', '1,2,3']
    >>> demo("integer", ["32 คน", "32 ไร่"], units=["คน"])
    ['32', '32 ไร่']
    """
    units = tuple(column.option("units", ()))

    def rule(value: str) -> str | None:
        found = read_number(value, units)
        if found is None or found != found.to_integral_value():
            return None
        return number_text(found.to_integral_value())

    return _numbers(column.text, PLAIN_INTEGER, rule, whole=True)


def _numbers(text: pd.Series, plain: str, rule: Callable[[str], str | None], whole: bool) -> pd.Series:
    """Cells already plain are kept, the common keyed forms (Thai digits, separators in threes, ฿ / บาท,
    a Unicode minus) made plain by string kernels over the column; only what is left (units, exponents,
    values that stay errors) goes to `rule`, once per distinct value. Same result as `rule` on every cell."""
    keep = _mask(text.str.fullmatch(plain)) | _mask(text == "")
    if keep.all():
        return text
    rest = text[~keep]
    tidy = _tidy_numbers(rest, whole)
    done = _mask(tidy.str.fullmatch(plain))
    result = text.copy()
    rest = rest.where(~done, tidy)
    left = rest[~done]
    if len(left):
        rest[~done] = keep_unread(left, map_distinct(left, rule))
    result[~keep] = rest
    return result


GROUPED_FORM = r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"


def _tidy_numbers(text: pd.Series, whole: bool) -> pd.Series:
    """`read_number` for its common forms, over the whole column (pyarrow regex kernels); any other cell
    comes out not plain, for the rule to read."""
    if text.str.contains("[๐-๙]", regex=True).any():
        for i, digit in enumerate(THAI_DIGITS):
            text = text.str.replace(digit, str(i), regex=False)
    text = text.str.replace(f"[{MINUS_SIGNS}]", "-", regex=True)
    text = text.str.replace(r"^([+-]?) ?(?:฿|THB) ?", r"\1", regex=True)
    text = text.str.replace(r" ?(?:บาท|฿|THB)$", "", regex=True)
    grouped = _mask(text.str.fullmatch(GROUPED_FORM))
    text = text.str.replace(",", "", regex=False).str.replace(r"^\+", "", regex=True)
    text = text.str.replace(r"^(-?)0+([0-9])", r"\1\2", regex=True)
    if whole:
        text = text.str.replace(r"\.0+$", "", regex=True)
    return text.where(grouped, "x")  # "x": not plain, so the rule decides


def _mask(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=bool, na_value=False)


@normalizer(
    "boolean",
    reads="ใช่/ไม่ใช่, มี/ไม่มี, ✓/✗, true/false, yes/no, 1/0 and the field's own words",
    writes="true / false (or the Table Schema's first trueValues / falseValues)",
    options={
        "true_words": "more words meaning yes for this field, e.g. [ผ่าน, เปิด]",
        "false_words": "more words meaning no, e.g. [ไม่ผ่าน, ปิด]",
    },
    example=("ไม่มี", "false"),
)
def boolean(column: Column) -> pd.Series:
    """Yes/no words to the two values Frictionless reads as a boolean; any other word stays as keyed.

    >>> demo("boolean", ["ใช่", "ไม่มี", "✓", "✗", "TRUE", "No", "ผ่าน", "อาจจะ"], true_words=["ผ่าน"])
    ['true', 'false', 'true', 'false', 'true', 'false', 'true', 'อาจจะ']
    """
    schema = column.field.descriptor
    yes = (schema.get("trueValues") or ["true"])[0]
    no = (schema.get("falseValues") or ["false"])[0]
    table = {match_key(w): yes for w in (*TRUE_WORDS, *column.option("true_words", ()), *schema.get("trueValues", ()))}
    table |= {
        match_key(w): no for w in (*FALSE_WORDS, *column.option("false_words", ()), *schema.get("falseValues", ()))
    }
    return keep_unread(column.text, map_distinct(column.text, lambda v: table.get(match_key(v))))


@normalizer(
    "buddhist_year",
    reads="a year: 2564, พ.ศ. ๒๕๖๔, ค.ศ. 2021, 2021",
    writes="the Buddhist Era year (2564)",
    example=("ค.ศ. 2021", "2564"),
)
def buddhist_year(column: Column) -> pd.Series:
    """A year in the Buddhist Era; a year below 2400 or marked ค.ศ. is Common Era and gets 543 added.

    >>> demo("buddhist_year", ["2564", "พ.ศ. ๒๕๖๔", "2021", "ค.ศ. 2021", "256"])
    ['2564', '2564', '2564', '2564', '256']
    """
    return keep_unread(column.text, map_distinct(column.text, column.rules.year))


@normalizer(
    "thai_date",
    reads="15/3/2564, 15 มี.ค. 64, 20 มีนาคม 2564, 2021-03-15, an Excel serial",
    writes="ISO date, Common Era (2021-03-15)",
    example=("15 มี.ค. 2564", "2021-03-15"),
)
def thai_date(column: Column) -> pd.Series:
    """A date keyed the ways Thai officers key it, as an ISO date; an impossible day stays as keyed.

    >>> demo("thai_date", ["15/3/2564", "22 มี.ค. 64", "๑๕/๓/๒๕๖๔", "44270", "31/02/2564"])
    ['2021-03-15', '2021-03-22', '2021-03-15', '2021-03-15', '31/02/2564']
    """
    return keep_unread(column.text, map_distinct(column.text, column.rules.date))


@normalizer(
    "province",
    reads="a province: its name, จ./จังหวัด before it, English name, กทม./กรุงเทพฯ",
    writes="the official Thai name of one of the 77 provinces",
    example=("จ.ภูเก็ต", "ภูเก็ต"),
)
def province(column: Column) -> pd.Series:
    """One of the 77 provinces (schemas/reference/th-provinces.csv) by its standard Thai name.

    >>> demo("province", ["จ.ภูเก็ต", "กทม.", "Chiang Mai", "สุราษฎร์ ธานี", "ภูเก้ต"])
    ['ภูเก็ต', 'กรุงเทพมหานคร', 'เชียงใหม่', 'สุราษฎร์ธานี', 'ภูเก้ต']
    """
    return _reference_values(column, map_distinct(column.text, column.rules.province), "provinces")


@normalizer(
    "province_code",
    reads="the normalized province of `derived_from`",
    writes="its ISO 3166-2 code (TH-46)",
    derived=True,
    example=("กาฬสินธุ์", "TH-46"),
)
def province_code(column: Column) -> pd.Series:
    """The ISO 3166-2:TH code of the province in the field named by `derived_from`; empty when unknown.

    >>> demo("province_code", ["กาฬสินธุ์", "กรุงเทพมหานคร", "ภูเก้ต"])
    ['TH-46', 'TH-10', '']
    """
    return spread(*map_distinct(column.text, column.rules.province_code.get), column.text.index).fillna("")


@normalizer(
    "local_government_type",
    reads="a kind of local government or its abbreviation (อบต., ทต., เทศบาล ตำบล)",
    writes="its full name (องค์การบริหารส่วนตำบล)",
    example=("อบต.", "องค์การบริหารส่วนตำบล"),
)
def local_government_type(column: Column) -> pd.Series:
    """The full name of one of the seven kinds of local government (th-local-government-types.csv).

    >>> demo("local_government_type", ["อบต.", "เทศบาล ตำบล", "ทน.", "หมู่บ้าน"])
    ['องค์การบริหารส่วนตำบล', 'เทศบาลตำบล', 'เทศบาลนคร', 'หมู่บ้าน']
    """
    return _reference_values(column, map_distinct(column.text, column.rules.government_type), "local_government_types")


@normalizer(
    "local_government_name",
    reads="an organization's name, abbreviated or not, maybe followed by จ.<province>",
    writes="the full official name; with `fills`, its type and province into other fields",
    fills=("type", "province"),
    example=("ทต.ท่าคันโท จ.กาฬสินธุ์", "เทศบาลตำบลท่าคันโท"),
)
def local_government_name(column: Column) -> pd.Series:
    """A local government's full name: the abbreviated type spelled out, a trailing province moved to `fills`.

    >>> demo("local_government_name", ["อบต.ปางหมู", "ทต.ท่าคันโท จ.กาฬสินธุ์", "ทม.แสนสุข"])
    ['องค์การบริหารส่วนตำบลปางหมู', 'เทศบาลตำบลท่าคันโท', 'เทศบาลเมืองแสนสุข']
    """
    codes, triples = map_distinct(column.text, column.rules.government_name)
    for what in column.field.fills:
        position = {"type": 1, "province": 2}[what]
        column.fills[what] = spread(codes, [t[position] for t in triples], column.text.index).fillna("")
    return spread(codes, [t[0] for t in triples], column.text.index).fillna("")


@normalizer(
    "district",
    reads="an อำเภอ / เขต: name with or without อำเภอ, อ., เขต; its DOPA code; English name; อ.เมือง",
    writes="the official name (เมืองเชียงใหม่, บางรัก), checked against the row's province",
    options={"province": "the field holding the province of the same row (recommended: names repeat across provinces)"},
    field_options=("province",),
    example=("อ.เมือง", "เมืองเชียงใหม่"),
    example_options={"province": ["เชียงใหม่"]},
)
def district(column: Column) -> pd.Series:
    """An อำเภอ or Bangkok เขต (th-districts.csv) by its official name; one in another province than the row's is an error.

    >>> demo("district", ["อ.เมือง", "เขตบางรัก", "อำเภอฝาง", "5001", "บางรัก"],
    ...      province=["เชียงใหม่", "กรุงเทพมหานคร", "เชียงใหม่", "", "เชียงใหม่"])
    ['เมืองเชียงใหม่', 'บางรัก', 'ฝาง', 'เมืองเชียงใหม่', 'บางรัก']
    >>> demo_problems("district", ["บางรัก", "เชียงดาว"], province=["เชียงใหม่", "เชียงใหม่"])
    ["row 0: 'บางรัก' is not a district of เชียงใหม่ (it is in กรุงเทพมหานคร)"]
    """
    codes = _place_codes(column, column.rules.district, ("province",))
    return _place_names(column, codes, column.rules.districts, "district", "อำเภอ/เขต")


@normalizer(
    "district_code",
    reads="the normalized district of `derived_from` (and that field's province)",
    writes="its 4-digit DOPA code (5001)",
    derived=True,
    example=("เมือง", "5001"),
    example_options={"province": ["เชียงใหม่"]},
)
def district_code(column: Column) -> pd.Series:
    """The DOPA code of the district in the field named by `derived_from`; empty when unknown.

    >>> demo("district_code", ["เมืองเชียงใหม่", "บางรัก", "ไม่มีอำเภอนี้"])
    ['5001', '1004', '']
    """
    return _place_codes(column, column.rules.district, ("province",), flag=False).fillna("")


@normalizer(
    "subdistrict",
    reads="a ตำบล / แขวง: name with or without ตำบล, ต., แขวง; its DOPA code; English name",
    writes="the official name, checked against the row's district and province",
    options={
        "district": "the field holding the district of the same row (subdistrict names repeat a lot)",
        "province": "the field holding the province of the same row",
    },
    field_options=("district", "province"),
    example=("ต.สุเทพ", "สุเทพ"),
    example_options={"district": ["เมืองเชียงใหม่"]},
)
def subdistrict(column: Column) -> pd.Series:
    """A ตำบล or Bangkok แขวง (th-subdistricts.csv) by its official name, resolved within the row's district.

    >>> demo("subdistrict", ["ต.สุเทพ", "แขวงสีลม", "500101"], district=["เมืองเชียงใหม่", "บางรัก", ""],
    ...      province=["เชียงใหม่", "กรุงเทพมหานคร", ""])
    ['สุเทพ', 'สีลม', 'ศรีภูมิ']
    """
    codes = _place_codes(column, column.rules.subdistrict, ("district", "province"))
    return _place_names(column, codes, column.rules.subdistricts, "subdistrict", "ตำบล/แขวง")


@normalizer(
    "subdistrict_code",
    reads="the normalized subdistrict of `derived_from` (and that field's district and province)",
    writes="its 6-digit DOPA code (500108)",
    derived=True,
    example=("สุเทพ", "500108"),
    example_options={"district": ["เมืองเชียงใหม่"]},
)
def subdistrict_code(column: Column) -> pd.Series:
    """The DOPA code of the subdistrict in the field named by `derived_from`; empty when unknown.

    >>> demo("subdistrict_code", ["สุเทพ", "สีลม"], district=["เมืองเชียงใหม่", "บางรัก"])
    ['500108', '100402']
    """
    return _place_codes(column, column.rules.subdistrict, ("district", "province"), flag=False).fillna("")


def _place_codes(
    column: Column, rule: Callable[..., tuple[str | None, str]], context: tuple[str, ...], flag: bool = True
) -> pd.Series:
    """Code of the place each row names, resolved once per distinct (text, district, province) of the row;
    rows naming a place of another district or province are flagged (when `flag`)."""
    source = column.field
    if source.derived_from:  # a code field reads the options of the field it derives from
        source = column.source
    others = [column.done[source.options[o]] if source.options.get(o) else None for o in context]
    empty = pd.Series("", index=column.text.index, dtype="str")
    columns = [column.text, *(o if o is not None else empty for o in others)]
    codes, results = map_distinct_rows(columns, rule)
    found = spread(codes, [r[0] for r in results], column.text.index)
    if flag:
        bad = np.array([bool(r[1]) for r in results], dtype=bool)[codes]  # per distinct tuple, then per row
        messages = [results[c][1] for c in codes[bad].tolist()]  # flagged rows only
        related = next((source.options[o] for o in context if source.options.get(o)), "")
        column.flag(bad, messages, f"{source.name} lies in the row's {related or 'place'}", related)
    return found


def _place_names(
    column: Column, codes: pd.Series, table: Mapping[str, Mapping[str, str]], what: str, thai: str
) -> pd.Series:
    """Official names of the found codes; the rest as keyed, flagged when no enum will catch them."""
    distinct, uniques = map_distinct(codes.fillna(""), lambda c: table[c]["name_th"] if c else None)
    names = spread(distinct, uniques, codes.index)
    if "enum" not in column.field.constraints:
        unread = (names.isna() & (column.text != "")).to_numpy(dtype=bool)
        already = np.zeros(len(codes), dtype=bool)
        for problem in column.problems:
            already[problem.positions] = True
        column.flag(unread & ~already, f"not a {what} ({thai}) in schemas/reference/th-{what}s.csv", f"a known {what}")
    return names.where(names.notna(), column.text).fillna("")


# -- examples, for docstrings and `python -m pipeline normalizers` ---------------------------

DEMO_REFERENCE = Path(__file__).resolve().parents[1] / "schemas" / "reference"


def demo(name: str, values: Sequence[str], reference: Path | None = None, **options: Any) -> list[str]:
    """What normalizer `name` makes of `values` (cleaned first, as the build does), with fields.yaml options;
    a list given for a field option (province=[…]) is that field's normalized column."""
    return _demo(name, values, reference, options)[0]


def demo_problems(name: str, values: Sequence[str], reference: Path | None = None, **options: Any) -> list[str]:
    """The rows normalizer `name` itself refuses, as "row i: message"."""
    problems = _demo(name, values, reference, options)[1]
    return [
        f"row {p}: {m}"
        for problem in problems
        for p, m in zip(problem.positions.tolist(), problem.messages, strict=True)
    ]


@lru_cache(maxsize=4)
def _demo_rules(reference: Path) -> ThaiRules:
    """One set of rules per reference folder: building the subdistrict index costs a fraction of a second."""
    from pipeline.dataset import Reference

    return ThaiRules(Reference(reference))


def _demo(
    name: str, values: Sequence[str], reference: Path | None, options: dict[str, Any]
) -> tuple[list[str], list[Problem]]:
    from pipeline.dataset import FieldSpec

    entry = REGISTRY[name]
    rules = _demo_rules(reference or DEMO_REFERENCE)
    index = pd.RangeIndex(len(values))
    done = {}
    plain: dict[str, Any] = {}
    for key, value in options.items():
        if key in entry.field_options or (entry.derived and key in ("province", "district")):
            done[key] = pd.Series(list(value), index=index, dtype="str")
            plain[key] = key
        else:
            plain[key] = value
    lookup = plain.pop("lookup", {})
    text = clean_series(pd.Series(list(values), index=index, dtype="str"))
    spec = FieldSpec(
        name="value", type="string", title="", constraints={}, normalize=name, lookup=lookup, options=plain
    )
    source = None
    if entry.derived:  # the field it derives from, with the row's other places as its options
        source = FieldSpec(
            name="source", type="string", title="", constraints={}, normalize="", options={k: k for k in done}
        )
        spec = FieldSpec(name="value", type="string", title="", constraints={}, normalize=name, derived_from="source")
    column = Column(text, spec, rules, done, source=source)
    return entry.function(column).tolist(), column.problems


def describe(markdown: bool = False) -> str:
    """The registry for people: `python -m pipeline normalizers` (plain text) or the README table (`--markdown`)."""
    entries = [REGISTRY[name] for name in sorted(REGISTRY)]
    if markdown:
        lines = [
            "| normalize | reads | writes | options | example |",
            "|---|---|---|---|---|",
        ]
        for e in entries:
            options = "<br>".join(f"`{k}`: {v}" for k, v in e.options.items())
            if e.derived:
                options = "`derived_from` (required)" + (f"<br>{options}" if options else "")
            if e.fills:
                options = f"`fills`: {{{', '.join(e.fills)}: field}}" + (f"<br>{options}" if options else "")
            example = e.example_line("→", "`").replace("|", "\\|")
            lines.append(f"| `{e.name}` | {e.reads} | {e.writes} | {options or '—'} | {example} |")
        return "\n".join(lines)
    blocks = []
    for e in entries:
        lines = [f"{e.name}", f"    {e.summary}", f"    reads:   {e.reads}", f"    writes:  {e.writes}"]
        if e.derived:
            lines.append("    derived_from: the field it derives from (required)")
        if e.fills:
            lines.append(f"    fills:   {{{', '.join(e.fills)}: <field>}} values it derives for other fields")
        lines.extend(f"    {k}: {v}" for k, v in e.options.items())
        lines.append(f"    example: {e.example_line()}")
        blocks.append("\n".join(lines))
    generic = "aliases, normalize, column_optional, cell_fallback, may_contain, enum_from, formulas"
    return "\n\n".join(blocks) + f"\n\nEvery field also takes: {generic} (see the README, 'fields.yaml')."
