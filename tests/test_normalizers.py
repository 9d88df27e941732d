"""The normalizer registry: every entry documented and its examples true; numbers, yes/no words,
districts and subdistricts on ordinary, hostile and must-stay-an-error values (issue 12)."""

from __future__ import annotations

import doctest
import re
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import normalizers
from pipeline.cli import main
from pipeline.normalizers import REGISTRY, demo, demo_problems, read_number

from .conftest import SCHEMAS

REFERENCE = SCHEMAS / "reference"
EXISTING = [
    "text",
    "identifier",
    "lookup",
    "buddhist_year",
    "thai_date",
    "province",
    "province_code",
    "local_government_name",
    "local_government_type",
]


def test_docstring_examples_hold() -> None:
    """The examples in every normalizer's docstring are run, not only read."""
    result = doctest.testmod(normalizers, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= len(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_normalizer_is_documented_with_a_true_example(name: str) -> None:
    entry = REGISTRY[name]
    doc = entry.function.__doc__ or ""
    assert f'demo("{name}"' in doc, "each normalizer shows what it does in its docstring"
    assert entry.summary and entry.reads and entry.writes
    keyed, published = entry.example
    assert demo(name, [keyed], **entry.example_options) == [published]


def test_existing_names_are_kept_and_new_ones_added() -> None:
    assert set(EXISTING) <= set(REGISTRY)
    assert {"number", "integer", "boolean", "district", "subdistrict", "district_code", "subdistrict_code"} <= set(
        REGISTRY
    )


def test_cli_lists_every_normalizer_with_its_options(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["normalizers"]) == 0
    out = capsys.readouterr().out
    for name, entry in REGISTRY.items():
        assert f"\n{name}\n" in f"\n{out}"
        for option in entry.options:
            assert f"    {option}: " in out
    assert main(["normalizers", "--markdown"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| normalize | reads | writes | options | example |")
    assert len(table.strip().splitlines()) == len(REGISTRY) + 2


def test_readme_carries_the_current_normalizer_table(capsys) -> None:  # type: ignore[no-untyped-def]
    main(["normalizers", "--markdown"])
    table = capsys.readouterr().out.strip()
    readme = (SCHEMAS.parent / "README.md").read_text(encoding="utf-8")
    assert table in readme, "README's normalizer table is out of date: python -m pipeline normalizers --markdown"


# -- number / integer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyed", "number", "integer"),
    [
        ("35,000", "35000", "35000"),
        ("๓๒", "32", "32"),
        ("๓๕,๐๐๐", "35000", "35000"),
        ("฿35,000", "35000", "35000"),
        ("฿ 35,000.50", "35000.50", None),
        ("35,000 บาท", "35000", "35000"),
        ("35000บาท", "35000", "35000"),
        ("35,000 THB", "35000", "35000"),
        ("−5,000", "-5000", "-5000"),  # U+2212 minus
        ("–5", "-5", "-5"),  # en dash, as Word and Excel autocorrect a hyphen
        ("－5", "-5", "-5"),  # fullwidth
        ("-฿5", "-5", "-5"),
        ("฿-5", "-5", "-5"),
        ("+12", "12", "12"),
        ("1,200.00", "1200.00", "1200"),
        ("007", "7", "7"),
        (".5", "0.5", None),
        ("5.", "5", "5"),
        ("−0", "-0", "-0"),  # Frictionless reads -0 as 0
        ("-00", "-0", "-0"),
        ("000.50", "0.50", None),
        ("1e-05", "0.00001", None),  # a float cell as the reader renders it
        ("1.5e+20", "150000000000000000000", "150000000000000000000"),
        ("1234567890123456789012", "1234567890123456789012", "1234567890123456789012"),
        ("1e100", "1" + "0" * 100, "1" + "0" * 100),  # beyond Decimal's default precision: no crash
        ("1" * 5000, "1" * 5000, "1" * 5000),
    ],
)
def test_numbers_keyed_by_hand(keyed: str, number: str, integer: str | None) -> None:
    assert demo("number", [keyed]) == [number]
    assert demo("integer", [keyed]) == [integer if integer is not None else keyed]


@pytest.mark.parametrize(
    "keyed",
    [
        "1,2,3",  # separators not in threes: a list, not a number
        "12.3.4",
        "1,0000",
        "1,000,00",
        ",500",
        "1,",
        "12,34.5",
        "--5",
        "-+5",
        "5-",
        "฿",
        "บาท",
        "-",
        ".",
        "1 000",  # a space is no thousands separator here
        "๓๒ คน",  # a unit not declared for the field
        "12%",
        "(500)",
        "0x1F",
        "NaN",
        "inf",
        "Infinity",
        "1e5000000",
        "๑๒๓.๔.๕",
        "one",
        "35,000 ดอลลาร์",
        "\u0e51\u0e52\u200b",  # zero-width inside: cleaned away first, so this one reads (below)
    ][:-1],
)
def test_values_that_must_stay_errors(keyed: str) -> None:
    """Kept as keyed (not guessed): validation then names the cell."""
    assert demo("number", [keyed]) == [keyed.strip()]
    assert demo("integer", [keyed]) == [keyed.strip()]


def test_zero_width_and_nbsp_are_cleaned_before_reading() -> None:
    assert demo("number", ["\u0e51\u0e52\u200b", "35,000\u00a0บาท"]) == ["12", "35000"]


def test_units_are_per_field() -> None:
    assert demo("integer", ["๓๒ คน", "12 ราย", "5 ไร่"], units=["คน", "ราย"]) == ["32", "12", "5 ไร่"]
    assert demo("number", ["12.5%"], units=["%"]) == ["12.5"]


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    st.lists(
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12),
        min_size=1,
        max_size=40,
    )
)
def test_number_reads_every_grouped_form_of_a_decimal(values: list[Decimal]) -> None:
    """Any decimal written with separators, Thai digits, ฿ and a Unicode minus reads back as itself."""
    keyed, expected = [], []
    for value in values:
        grouped = f"{abs(value):,.2f}"
        thai = grouped.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
        sign = "\u2212" if value < 0 else ""
        for text in (f"{sign}{grouped}", f"{sign}฿{thai}", f"{sign}{thai} บาท", f"฿ {sign}{grouped}"):
            assert read_number(text) == value, text
            keyed.append(text)
            expected.append(value)
    published = demo("number", keyed)
    assert [Decimal(p) for p in published] == expected
    assert not any("," in p or "e" in p.lower() or p.startswith("+") for p in published)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.text(alphabet="0123456789,.-+ ๑๒\u2212฿", max_size=12), min_size=1, max_size=30))
def test_number_never_invents_a_value(keyed: list[str]) -> None:
    """A published number is either the value the text means, or the text is kept as keyed."""
    for text, published in zip(keyed, demo("number", keyed), strict=True):
        found = read_number(" ".join(text.split()))
        if found is None:
            assert published == " ".join(text.split())
        else:
            assert Decimal(published) == found
            assert any(c.isdigit() for c in text), "a number needs at least one digit"


NUMBER_ALPHABET = "0123456789,.-+ ๐๑๒\u2212\u2013฿บาTHBeคน"


KEYED_NUMBER = st.from_regex(
    r"[-\u2212\u2013+]? ?(฿ ?|THB)?[-+]?[0-9๐-๙]{1,4}(,[0-9๐-๙]{2,4}){0,3}(\.[0-9]{0,3})?( ?(บาท|฿|THB|thb|คน))?",
    fullmatch=True,
)


@settings(max_examples=80, derandomize=True, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=NUMBER_ALPHABET, max_size=14), KEYED_NUMBER), min_size=1, max_size=40))
def test_column_kernels_agree_with_the_scalar_rule(keyed: list[str]) -> None:
    """The string-kernel path over whole columns gives exactly what `read_number` gives cell by cell."""
    cleaned = [" ".join(t.split()) for t in keyed]
    for name, whole in (("number", False), ("integer", True)):
        expected = []
        for text in cleaned:
            found = read_number(text)
            if found is not None and whole and found != found.to_integral_value():
                found = None
            if found is not None and whole:
                found = found.to_integral_value()
            plain = re.fullmatch(normalizers.PLAIN_INTEGER if whole else normalizers.PLAIN_NUMBER, text)
            expected.append(text if plain or found is None else normalizers.number_text(found))
        assert demo(name, keyed) == expected, name


def test_numbers_column_with_many_rows_keeps_order_and_plain_values() -> None:
    keyed = ["1", "2,000", "3", "", "๔", "x", "5.5"] * 1000
    expected = ["1", "2000", "3", "", "4", "x", "5.5"] * 1000
    assert demo("number", keyed) == expected


# -- boolean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyed", "expected"),
    [
        ("ใช่", "true"),
        ("ไม่ใช่", "false"),
        ("มี", "true"),
        ("ไม่มี", "false"),
        ("ไม่ มี", "false"),
        ("✓", "true"),
        ("✔", "true"),
        ("✗", "false"),
        ("✘", "false"),
        ("true", "true"),
        ("TRUE", "true"),
        ("False", "false"),
        ("yes", "true"),
        ("No", "false"),
        ("", ""),
        ("อาจจะ", "อาจจะ"),
        ("ใช่ไหม", "ใช่ไหม"),
        ("1", "true"),  # as Frictionless reads them by default
        ("0", "false"),
        ("2", "2"),
        ("ไม่", "ไม่"),
    ],
)
def test_boolean_words(keyed: str, expected: str) -> None:
    assert demo("boolean", [keyed]) == [expected]


def test_reference_values_no_enum_catches_are_flagged_by_the_normalizer() -> None:
    """Without an enum (enum_from) validation would let a misspelt province through: the normalizer says so."""
    assert demo("province", ["ภูเก้ต", "ภูเก็ต"]) == ["ภูเก้ต", "ภูเก็ต"]
    (problem,) = demo_problems("province", ["ภูเก้ต", "ภูเก็ต", ""])
    assert problem.startswith("row 0: not in schemas/reference (provinces)") and "enum_from: provinces" in problem
    (problem,) = demo_problems("local_government_type", ["หมู่บ้าน", "อบต."])
    assert problem.startswith("row 0: not in schemas/reference (local_government_types)")


def test_boolean_per_field_words_and_schema_values() -> None:
    assert demo("boolean", ["ผ่าน", "ไม่ผ่าน", "1", "0"], true_words=["ผ่าน", "1"], false_words=["ไม่ผ่าน", "0"]) == [
        "true",
        "false",
        "true",
        "false",
    ]


# -- districts and subdistricts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyed", "province", "expected"),
    [
        ("เมืองเชียงใหม่", "เชียงใหม่", "เมืองเชียงใหม่"),
        ("อ.เมือง", "เชียงใหม่", "เมืองเชียงใหม่"),
        ("อำเภอเมือง", "ขอนแก่น", "เมืองขอนแก่น"),
        ("อำเภอ ฝาง", "เชียงใหม่", "ฝาง"),
        ("อ. ฝาง", "เชียงใหม่", "ฝาง"),
        ("Fang", "เชียงใหม่", "ฝาง"),
        ("5001", "เชียงใหม่", "เมืองเชียงใหม่"),
        ("๕๐๐๑", "", "เมืองเชียงใหม่"),
        ("เขตบางรัก", "กรุงเทพมหานคร", "บางรัก"),
        ("เขต บางรัก", "กรุงเทพมหานคร", "บางรัก"),
        ("บางรัก", "", "บางรัก"),
        ("เฉลิมพระเกียรติ", "นครศรีธรรมราช", "เฉลิมพระเกียรติ"),
    ],
)
def test_district(keyed: str, province: str, expected: str) -> None:
    assert demo("district", [keyed], province=[province]) == [expected]
    assert demo_problems("district", [keyed], province=[province]) == []


@pytest.mark.parametrize(
    ("keyed", "province", "why"),
    [
        ("บางรัก", "เชียงใหม่", "is not a district of เชียงใหม่ (it is in กรุงเทพมหานคร)"),
        ("เมืองเชียงใหม่", "ลำพูน", "is not a district of ลำพูน"),
        ("เฉลิมพระเกียรติ", "", "names a district in several provinces"),
        ("อ.เมือง", "", "names a district in several provinces"),
        ("ไม่มีอำเภอนี้", "เชียงใหม่", "not a district (อำเภอ/เขต)"),
        ("9999", "", "not a district"),
    ],
)
def test_district_refused_and_kept_as_keyed(keyed: str, province: str, why: str) -> None:
    assert demo("district", [keyed], province=[province]) == [keyed]
    (problem,) = demo_problems("district", [keyed], province=[province])
    assert why in problem


def test_district_codes_follow_the_row() -> None:
    assert demo(
        "district_code", ["เมือง", "เมือง", "บางรัก", "ฝาง", "ไม่มี"], province=["เชียงใหม่", "ลำพูน", "", "เชียงใหม่", ""]
    ) == [
        "5001",
        "5101",
        "1004",
        "5009",
        "",
    ]


@pytest.mark.parametrize(
    ("keyed", "district", "province", "expected"),
    [
        ("สุเทพ", "เมืองเชียงใหม่", "เชียงใหม่", "สุเทพ"),
        ("ต.สุเทพ", "อ.เมือง", "เชียงใหม่", "สุเทพ"),
        ("ตำบล สุเทพ", "", "เชียงใหม่", "สุเทพ"),
        ("แขวงสีลม", "บางรัก", "กรุงเทพมหานคร", "สีลม"),
        ("แขวง สีลม", "เขตบางรัก", "", "สีลม"),
        ("500108", "", "", "สุเทพ"),
        ("ศรีภูมิ", "เมืองเชียงใหม่", "", "ศรีภูมิ"),
        ("ปอพาน", "เมืองร้อยเอ็ด", "ร้อยเอ็ด", "ปอภาร"),  # the alternative spelling the source lists
    ],
)
def test_subdistrict(keyed: str, district: str, province: str, expected: str) -> None:
    assert demo("subdistrict", [keyed], district=[district], province=[province]) == [expected]


@pytest.mark.parametrize(
    ("keyed", "district", "province", "why"),
    [
        ("สีลม", "เมืองเชียงใหม่", "เชียงใหม่", "is not a subdistrict of district เมืองเชียงใหม่"),
        ("สุเทพ", "", "ลำพูน", "is not a subdistrict of province ลำพูน"),
        ("ศรีภูมิ", "", "", "several districts"),  # in three provinces: the row must say which
        ("ไม่มีตำบลนี้", "เมืองเชียงใหม่", "เชียงใหม่", "not a subdistrict (ตำบล/แขวง)"),
    ],
)
def test_subdistrict_refused_and_kept_as_keyed(keyed: str, district: str, province: str, why: str) -> None:
    assert demo("subdistrict", [keyed], district=[district], province=[province]) == [keyed]
    (problem,) = demo_problems("subdistrict", [keyed], district=[district], province=[province])
    assert why in problem


def test_reference_tables_are_complete_and_consistent() -> None:
    """929 districts and 7,451 subdistricts, each under a known parent, codes unique, Bangkok's 50 เขต."""
    from pipeline.dataset import Reference

    ref = Reference(REFERENCE)
    provinces = {row["iso_code"] for row in ref.provinces}
    districts = {row["code"]: row for row in ref.districts}
    assert len(districts) == len(ref.districts) == 929
    assert all(row["province_code"] in provinces for row in districts.values())
    assert {row["province_code"] for row in districts.values()} == provinces
    assert sum(row["province_code"] == "TH-10" for row in districts.values()) == 50
    assert not any(row["name_th"].startswith(("เขต", "อำเภอ")) for row in districts.values())
    subdistricts = ref.subdistricts
    assert len({row["code"] for row in subdistricts}) == len(subdistricts) == 7451
    assert all(
        row["district_code"] in districts and row["code"].startswith(row["district_code"]) for row in subdistricts
    )
    assert "MIT" in (REFERENCE / "SOURCES.md").read_text(encoding="utf-8")
    assert "MIT License" in (REFERENCE / "LICENSE-thai-province-data.txt").read_text(encoding="utf-8")


def test_place_rules_run_once_per_distinct_row_tuple() -> None:
    """A million rows of a few places cost a few rule calls: the rule sees each (text, province) once."""
    from pipeline.columns import map_distinct_rows

    calls: list[tuple[str, str]] = []
    a = pd.Series(["x", "y", "x", "x", "y"] * 1000, dtype="str")
    b = pd.Series(["1", "1", "2", "1", "1"] * 1000, dtype="str")
    codes, results = map_distinct_rows([a, b], lambda s, t: calls.append((s, t)) or s + t)
    assert sorted(calls) == [("x", "1"), ("x", "2"), ("y", "1")]
    assert [results[c] for c in codes[:5]] == ["x1", "y1", "x2", "x1", "y1"]


def test_every_district_and_subdistrict_of_the_reference_reads_back_in_its_row() -> None:
    """All 929 districts keyed with อำเภอ/อ./เขต or as a code, and all 7,451 subdistricts keyed with
    ตำบล/ต./แขวง, read back as themselves beside their own province (and district): no name is
    ambiguous where the row says where it is."""
    from pipeline.dataset import Reference

    ref = Reference(REFERENCE)
    province_name = {row["iso_code"]: row["name_th"] for row in ref.provinces}
    districts = {row["code"]: row for row in ref.districts}
    keyed, provinces, expected, codes = [], [], [], []
    for row in ref.districts:
        kind = "เขต" if row["province_code"] == "TH-10" else "อำเภอ"
        for text in (row["name_th"], kind + row["name_th"], f"{kind} {row['name_th']}", row["code"]):
            keyed.append(text)
            provinces.append(province_name[row["province_code"]])
            expected.append(row["name_th"])
            codes.append(row["code"])
    assert demo("district", keyed, province=provinces) == expected
    assert demo("district_code", expected, province=provinces) == codes
    keyed, district_names, provinces, expected, codes = [], [], [], [], []
    for row in ref.subdistricts:
        parent = districts[row["district_code"]]
        kind = "แขวง" if parent["province_code"] == "TH-10" else "ตำบล"
        for text in (row["name_th"], kind + row["name_th"]):
            keyed.append(text)
            district_names.append(parent["name_th"])
            provinces.append(province_name[parent["province_code"]])
            expected.append(row["name_th"])
            codes.append(row["code"])
    assert demo("subdistrict", keyed, district=district_names, province=provinces) == expected
    assert demo("subdistrict_code", expected, district=district_names, province=provinces) == codes


HOSTILE = [
    "",
    "\x00",
    "\x1f",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "🙂",
    "\u202eอำเภอ",
    "NaN",
    "None",
    "null",
    "-",
    "—",
    "٣٢",  # Arabic-Indic digits: not Thai, not read as a number
    "３２",  # fullwidth digits: idem
    "1e309",
    "ก" * 5000,
    "1" * 5000,
    "๐" * 50,
    "อ.",
    "ต.",
    "เขต",
    "แขวง",
    "อำเภอ" * 10,
    "จ.",
]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_hostile_values_never_crash_and_are_never_invented(name: str) -> None:
    """Every normalizer takes any text: it returns one value per row, and a value it cannot read
    is the cleaned text as keyed (derived codes: empty), never something made up."""
    context = {"province": ["เชียงใหม่"] * len(HOSTILE), "district": ["เมืองเชียงใหม่"] * len(HOSTILE)}
    options = {k: v for k, v in context.items() if k in REGISTRY[name].field_options or REGISTRY[name].derived}
    if name == "lookup":
        options["lookup"] = {"ได้รับการคัดเลือก": ["ผ่าน"]}
    out = demo(name, HOSTILE, **options)
    assert len(out) == len(HOSTILE) and all(isinstance(v, str) for v in out)
    cleaned = demo("text", HOSTILE)
    assert out[0] == "", "empty stays empty"
    for keyed, value in zip(cleaned[1:], out[1:], strict=True):
        if REGISTRY[name].derived:
            assert value == "" or value.isdigit() or value.startswith("TH-")
        elif name in ("number", "integer"):
            assert value == keyed or Decimal(value) == read_number(keyed)
        elif name not in ("text", "identifier"):
            assert value == keyed, (keyed[:20], value[:20])
