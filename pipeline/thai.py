"""Thai text cleaning shared by header matching and value normalization.

Hand-keyed Thai text carries invisible differences (NBSP, zero-width spaces, a sara am
typed as nikhahit + sara aa, Thai digits) that make equal values compare unequal.
Each function exists twice: a scalar form for single strings and a vectorized form for
pandas Series (pyarrow regex engine, so character classes are spelled out: RE2's \\s is
ASCII-only).
"""

from __future__ import annotations

import re

import pandas as pd

from pipeline.columns import spread

ZERO_WIDTH = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
WHITESPACE = "[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
# sara am (U+0E33) typed as nikhahit (U+0E4D) + sara aa (U+0E32), a tone mark may sit between
DECOMPOSED_SARA_AM = "\u0e4d([\u0e48-\u0e4b]?)\u0e32"
# the tone mark typed after the decomposed nikhahit: น + ํ + ้ + า -> น + ้ + ำ
THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_DIGIT_TABLE = str.maketrans(THAI_DIGITS, "0123456789")

_ZERO_WIDTH_RE = re.compile(ZERO_WIDTH)
_WHITESPACE_RE = re.compile(WHITESPACE)
_SARA_AM_RE = re.compile(DECOMPOSED_SARA_AM)


def clean_text(value: str) -> str:
    """Trim, drop zero-width characters, turn NBSP and other spaces into one space, compose sara am."""
    value = _ZERO_WIDTH_RE.sub("", value)
    value = _WHITESPACE_RE.sub(" ", value).strip()
    return _SARA_AM_RE.sub("\\1\u0e33", value)


def clean_series(values: pd.Series) -> pd.Series:
    """Vectorized `clean_text` (missing values become ""); on the distinct values only when
    a column repeats a lot (provinces, years, types), then spread back."""
    values = values.fillna("").astype("str")
    codes, uniques = pd.factorize(values)
    if len(uniques) * 2 < len(values):
        cleaned = _clean_all(pd.Series(uniques, dtype="str")).tolist()
        return spread(codes, cleaned, values.index)
    return _clean_all(values)


def _clean_all(values: pd.Series) -> pd.Series:
    values = values.str.replace(ZERO_WIDTH, "", regex=True)
    values = values.str.replace(WHITESPACE, " ", regex=True).str.strip()
    return values.str.replace(DECOMPOSED_SARA_AM, "\\1\u0e33", regex=True)


def arabic_digits(value: str) -> str:
    """Thai digits ๐-๙ to 0-9."""
    return value.translate(_DIGIT_TABLE)


def match_key(label: str) -> str:
    """Comparison key for header labels and lookups: cleaned, case-folded, no spaces,
    without the marks officers add to headers ("รหัสผลงาน*", "จังหวัด:")."""
    return clean_text(label).casefold().replace(" ", "").strip("*:：")
