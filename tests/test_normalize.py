"""Every normalization rule of the contest dataset, on single values (issue #3 table)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dataset import load_dataset
from pipeline.normalize import ThaiRules
from pipeline.thai import clean_series, clean_text

from .conftest import DATASET, SCHEMAS

SPEC = load_dataset(SCHEMAS, DATASET)
RULES = ThaiRules(SPEC.reference)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  ระบบ   ทดสอบ ", "ระบบ ทดสอบ"),
        ("ระบบ\u00a0ทดสอบ", "ระบบ ทดสอบ"),
        ("ระบบ\u200bทดสอบ\u200c", "ระบบทดสอบ"),
        ("\ufeffน\u0e4d\u0e32", "นำ"),
        ("ส\u0e4d\u0e32หรับ", "สำหรับ"),
        ("น\u0e4d\u0e49\u0e32", "น\u0e49\u0e33"),  # tone mark typed after nikhahit
        ("a\tb\nc", "a b c"),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected
    assert clean_series(pd.Series([raw])).iat[0] == expected


@given(st.text())
def test_clean_series_matches_scalar_rule(text: str) -> None:
    assert clean_series(pd.Series([text], dtype="str")).iat[0] == clean_text(text)


@given(st.text())
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert once == once.strip()
    assert "  " not in once and "\u00a0" not in once and "\u200b" not in once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2564", "2564"),
        ("๒๕๖๔", "2564"),
        ("พ.ศ. 2564", "2564"),
        ("พ.ศ.๒๕๖๔", "2564"),
        ("2021", "2564"),
        ("ค.ศ. 2021", "2564"),
        ("ปี 2564", "2564"),
        ("256", None),
        ("สองพัน", None),
        ("2564.5", None),
    ],
)
def test_buddhist_year(raw: str, expected: str | None) -> None:
    assert RULES.year(raw) == expected


@given(st.integers(min_value=1000, max_value=2399))
def test_ce_year_becomes_be(year: int) -> None:
    assert RULES.year(str(year)) == str(year + 543)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2021-03-15", "2021-03-15"),
        ("2564-03-15", "2021-03-15"),  # an Excel date cell keyed with a BE year
        ("2564-03-15 00:00:00", "2021-03-15"),
        ("15/3/2564", "2021-03-15"),
        ("15/03/2021", "2021-03-15"),
        ("15/3/64", "2021-03-15"),
        ("๑๕/๓/๒๕๖๔", "2021-03-15"),
        ("15 มี.ค. 2564", "2021-03-15"),
        ("20 มีนาคม 2564", "2021-03-20"),
        ("22 มี.ค. 64", "2021-03-22"),
        ("๒๒ มี.ค. ๖๔", "2021-03-22"),
        ("1 ม.ค. 2565", "2022-01-01"),
        ("29 กุมภาพันธ์ 2563", "2020-02-29"),
        ("44270", "2021-03-15"),  # Excel serial number
        ("15 มีนาคม พ.ศ. 2564", "2021-03-15"),
        ("วันที่ 15 มีนาคม 2564", "2021-03-15"),
        ("15มี.ค.64", "2021-03-15"),
        ("2021/03/15", "2021-03-15"),
        ("31/02/2564", None),
        ("29 ก.พ. 2564", None),  # 2021 is not a leap year
        ("15 มีนา 2564", None),
        ("เมื่อวาน", None),
    ],
)
def test_thai_date(raw: str, expected: str | None) -> None:
    assert RULES.date(raw) == expected


@given(st.dates(min_value=pd.Timestamp("1950-01-01").date(), max_value=pd.Timestamp("2099-12-31").date()))
def test_date_forms_round_trip(day) -> None:  # type: ignore[no-untyped-def]
    months = [row["abbreviation_th"] for row in SPEC.reference.months]
    be = day.year + 543
    for text in (
        day.isoformat(),
        f"{day.day}/{day.month}/{be}",
        f"{day.day}/{day.month}/{day.year}",
        f"{day.day} {months[day.month - 1]} {be}",
    ):
        assert RULES.date(text) == day.isoformat(), text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ภูเก็ต", "ภูเก็ต"),
        ("จ.ภูเก็ต", "ภูเก็ต"),
        ("จ. ภูเก็ต", "ภูเก็ต"),
        ("จังหวัดภูเก็ต", "ภูเก็ต"),
        ("กรุงเทพฯ", "กรุงเทพมหานคร"),
        ("กทม.", "กรุงเทพมหานคร"),
        ("สุราษฎร์ ธานี", "สุราษฎร์ธานี"),
        ("อ่างทอง", "อ่างทอง"),
        ("ภูเก้ต", None),
        ("พัทยา", None),
        ("Nan", "น่าน"),
        ("NaN", None),  # pandas' missing value, not the province
        ("nan", None),
    ],
)
def test_province(raw: str, expected: str | None) -> None:
    assert RULES.province(clean_text(raw)) == expected


def test_province_table_is_the_77_of_the_schema() -> None:
    names = [row["name_th"] for row in SPEC.reference.provinces]
    assert len(names) == len(set(names)) == 77
    assert names == SPEC.field("province").constraints["enum"]
    assert RULES.province_code["กาฬสินธุ์"] == "TH-46"
    assert RULES.province_code["กรุงเทพมหานคร"] == "TH-10"
    codes = [row["iso_code"] for row in SPEC.reference.provinces]
    assert len(set(codes)) == 77


@pytest.mark.parametrize(
    ("raw", "name", "kind", "province"),
    [
        ("อบต.ปางหมู", "องค์การบริหารส่วนตำบลปางหมู", "องค์การบริหารส่วนตำบล", ""),
        ("อบต. ปางหมู", "องค์การบริหารส่วนตำบลปางหมู", "องค์การบริหารส่วนตำบล", ""),
        ("อบต ปางหมู", "องค์การบริหารส่วนตำบลปางหมู", "องค์การบริหารส่วนตำบล", ""),
        ("ทต.ท่าคันโท จ.กาฬสินธุ์", "เทศบาลตำบลท่าคันโท", "เทศบาลตำบล", "กาฬสินธุ์"),
        ("ทม.แสนสุข", "เทศบาลเมืองแสนสุข", "เทศบาลเมือง", ""),
        ("ทน.เกาะสมุย จังหวัดสุราษฎร์ธานี", "เทศบาลนครเกาะสมุย", "เทศบาลนคร", "สุราษฎร์ธานี"),
        ("เทศบาลนคร ขอนแก่น", "เทศบาลนครขอนแก่น", "เทศบาลนคร", ""),
        ("อบจ.เชียงใหม่", "องค์การบริหารส่วนจังหวัดเชียงใหม่", "องค์การบริหารส่วนจังหวัด", ""),
        ("องค์การบริหารส่วนจังหวัดเชียงใหม่", "องค์การบริหารส่วนจังหวัดเชียงใหม่", "องค์การบริหารส่วนจังหวัด", ""),
        ("กทม.", "กรุงเทพมหานคร", "กรุงเทพมหานคร", ""),
        ("เมืองพัทยา", "เมืองพัทยา", "เมืองพัทยา", ""),
        ("ทุ่งใหญ่", "ทุ่งใหญ่", "", ""),
    ],
)
def test_government_name(raw: str, name: str, kind: str, province: str) -> None:
    assert RULES.government_name(clean_text(raw)) == (name, kind, province)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("อบต.", "องค์การบริหารส่วนตำบล"),
        ("เทศบาล ตำบล", "เทศบาลตำบล"),
        ("ทน.", "เทศบาลนคร"),
        ("เมืองพัทยา", "เมืองพัทยา"),
        ("หมู่บ้าน", None),
    ],
)
def test_government_type(raw: str, expected: str | None) -> None:
    assert RULES.government_type(raw) == expected
