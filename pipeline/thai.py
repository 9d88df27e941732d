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

# Invisible characters are removed by cleaning. The zero-width ones come from ordinary Thai
# typing (word processors put ZWSP between words) and go without a word; every other one
# (bidi marks, overrides and isolates U+200E/U+202E/U+2066…, the Hangul filler U+3164,
# variation selectors, tag characters) is removed with a warning naming the cell
# (pipeline/cells.py), since it can disguise a value: "LDI-2564-001"+U+200E must be a
# repeat of "LDI-2564-001", not a second entry. The list is Unicode's format characters
# (general category Cf, Unicode 14) plus the characters that render as nothing though
# their category says otherwise (Hangul fillers, combining grapheme joiner, variation
# selectors, Mongolian/Khmer invisible marks, Braille blank).
ZERO_WIDTH = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
FORMATTING = (
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200e\u200f\u202a-\u202e"
    "\u2061-\u2064\u2066-\u206f\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
)
INVISIBLE = f"[\u200b\u200c\u200d\u2060\ufeff\u00ad{FORMATTING}]"
# control characters are not text: refused with the cell (tab, line feed and carriage
# return are whitespace, turned into one space by cleaning)
CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
WHITESPACE = "[\t\n\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
# sara am (U+0E33) typed as nikhahit (U+0E4D) + sara aa (U+0E32), a tone mark may sit between
DECOMPOSED_SARA_AM = "\u0e4d([\u0e48-\u0e4b]?)\u0e32"
# the tone mark typed after the decomposed nikhahit: น + ํ + ้ + า -> น + ้ + ำ
THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_DIGIT_TABLE = str.maketrans(THAI_DIGITS, "0123456789")

_INVISIBLE_RE = re.compile(INVISIBLE)
_WHITESPACE_RE = re.compile(WHITESPACE)
_SARA_AM_RE = re.compile(DECOMPOSED_SARA_AM)


def clean_text(value: str) -> str:
    """Trim, drop invisible formatting characters, turn NBSP and other spaces into one space, compose sara am."""
    value = _INVISIBLE_RE.sub("", value)
    value = _WHITESPACE_RE.sub(" ", value).strip()
    return _SARA_AM_RE.sub("\\1\u0e33", value)


def clean_series(values: pd.Series) -> pd.Series:
    """Vectorized `clean_text` (missing values become ""); on the distinct values only when
    a column repeats a lot (provinces, years, types), then spread back. A column cleaning does
    not change comes back as it was (no second copy of a million texts)."""
    values = values.fillna("").astype("str")
    codes, uniques = pd.factorize(values)
    if len(uniques) * 2 < len(values):
        distinct = pd.Series(uniques, dtype="str")
        cleaned = _clean_all(distinct)
        if (cleaned == distinct).all():  # already clean: the column itself, no copy of it
            return values
        return spread(codes, cleaned.tolist(), values.index)
    cleaned = _clean_all(values)
    # a column that was already clean is returned itself: a copy would only add to the build's peak memory
    return values if (cleaned == values).all() else cleaned


def _clean_all(values: pd.Series) -> pd.Series:
    values = values.str.replace(INVISIBLE, "", regex=True)
    values = values.str.replace(WHITESPACE, " ", regex=True).str.strip()
    return values.str.replace(DECOMPOSED_SARA_AM, "\\1\u0e33", regex=True)


def arabic_digits(value: str) -> str:
    """Thai digits ๐-๙ to 0-9."""
    return value.translate(_DIGIT_TABLE)


def match_key(label: str) -> str:
    """Comparison key for header labels and lookups: cleaned, case-folded, no spaces,
    without the marks officers add to headers ("รหัสผลงาน*", "จังหวัด:")."""
    return clean_text(label).casefold().replace(" ", "").strip("*:：")
