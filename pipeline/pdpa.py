"""The PDPA guard: no phone number, e-mail, national ID or personal name leaves the building.

Runs on every value about to be published (every field, not only free text: a phone keyed
into `province` is refused too), every payload about to go to CKAN, and every issue about to
be shown (a personal value quoted by another error is masked: `mask_issues`). Only fields a
dataset declares (`may_contain` in fields.yaml, `x_portal.may_contain` for portal metadata)
may hold a kind.

Two passes: a vectorized superset test over the distinct values of a column (RE2 through
Arrow, one pattern for all kinds), then an exact check in Python on the few candidates:
digits of any script (Thai ๐-๙, full-width ０-９) read as digits, separators and brackets
dropped, the country code +66 (and "(0)") folded into the national form; a phone is then a
Thai landline (0[2-7] + 7 digits) or mobile (0[689] + 8 digits), a national ID 13 digits
with a valid check digit. Names are a prefix from schemas/reference/personal-data.yaml
followed by a first name and a surname, checked at every prefix (so a title before a name,
"นายกเทศมนตรี นายสมชาย ใจดี", does not hide the name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from pipeline.columns import arrow_text

DIGIT = "[0-9\u0e50-\u0e59\uff10-\uff19]"
# what may sit between the digits of one number: spaces, hyphens and dashes, dots, brackets
# (ASCII and full-width), at most three in a row: "(081) 234-5678", "+66 (0) 81 234 5678"
SEPARATOR = "[ \u00a0\\-.()\u2010-\u2015\u2212\uff0d\uff0e\uff08\uff09\u3000]"
NUMBER_RUN = f"[+\uff0b]?[(\uff08]?{DIGIT}(?:{SEPARATOR}{{0,3}}{DIGIT})*"
# RE2 supersets, each from the start of a digit group: a phone starts with 0 or the country
# code 66 and has 9 digits or more; an ID has 13 or more (so "LDI-2564-000001" is no candidate)
PHONE_LIKE = (
    f"(?:^|[^0-9\u0e50-\u0e59\uff10-\uff19])[+\uff0b]?[(\uff08]?"
    f"(?:[0\u0e50\uff10]|[6\u0e56\uff16][6\u0e56\uff16])(?:{SEPARATOR}{{0,3}}{DIGIT}){{8,}}"
)
ID_LIKE = f"(?:^|[^0-9\u0e50-\u0e59\uff10-\uff19]){DIGIT}(?:{SEPARATOR}{{0,3}}{DIGIT}){{12,}}"
AT = "[@\uff20]"
DOT = "[.\uff0e\u3002]"
EMAIL_CHAR = "[^\\s@\uff20<>()\\[\\],;:\"'`]"
LABEL_CHAR = "[^\\s@\uff20<>()\\[\\],;:\"'`.\uff0e\u3002]"
EMAIL = f"{EMAIL_CHAR}+{AT}{LABEL_CHAR}+(?:{DOT}{LABEL_CHAR}+)*{DOT}[A-Za-z\u0e01-\u0e4e]{{2,}}"
EMAIL_LOOSE = f"{AT}{LABEL_CHAR}+{DOT}"  # RE2 superset: an @ with a dotted domain after it
THAI_WORD = "[\u0e01-\u0e2e\u0e40-\u0e44][\u0e01-\u0e4e]+"  # a word may start with a leading vowel (ใ, เ …)
LATIN_WORD = "[A-Z][a-z]+"
NEUTRAL_WORD = "ฮฮ"  # stands in for an exception: a Thai word that starts no prefix
_TO_ASCII = str.maketrans("๐๑๒๓๔๕๖๗๘๙０１２３４５６７８９", "01234567890123456789")
LANDLINE_OR_MOBILE = re.compile(r"0[2-7][0-9]{7}|0[689][0-9]{8}")
KINDS = ("email", "phone", "national_id", "person_name")
LABELS = {
    "email": "an e-mail address",
    "phone": "a phone number",
    "national_id": "a national ID number",
    "person_name": "a personal name",
}
MASKS = {kind: f"‹{LABELS[kind]}, hidden›" for kind in KINDS}


@dataclass(frozen=True)
class Finding:
    kind: str
    position: int  # row position in the scanned column, or -1 for a payload key
    field: str


@dataclass(frozen=True)
class Rules:
    """The name rules of personal-data.yaml, compiled."""

    name_prefilter: str  # RE2: a prefix, a word, a space, a word (a superset of names)
    names: re.Pattern[str]  # Python: the same at every position (overlapping), prefix captured
    name_at: re.Pattern[str]  # Python: the name starting at a position (its extent, for masking)
    not_names: tuple[str, ...]
    not_name_words: tuple[str, ...]
    not_after: tuple[str, ...]
    exceptions: str  # RE2: every title, place and word ending that is not a name, for the second superset pass


@lru_cache(maxsize=4)
def _rules(reference_dir: str) -> Rules:
    data = yaml.safe_load((Path(reference_dir) / "personal-data.yaml").read_text(encoding="utf-8"))
    prefixes = sorted(data["name_prefixes"], key=len, reverse=True)
    thai = "|".join(re.escape(p) for p in prefixes if not p.isascii())
    latin = "|".join(re.escape(p) for p in prefixes if p.isascii())
    name = f"(?:{thai}) ?{THAI_WORD} +{THAI_WORD}"
    if latin:
        name += f"|(?:{latin}) ?{LATIN_WORD} +{LATIN_WORD}"
    overlapping = f"(?=((?:{thai}))( ?)({THAI_WORD}) +{THAI_WORD})"
    if latin:
        overlapping += f"|(?=((?:{latin}))( ?)({LATIN_WORD}) +{LATIN_WORD})"
    return Rules(
        name_prefilter=name,
        names=re.compile(overlapping),
        name_at=re.compile(name),
        not_names=tuple(data.get("not_names", ())),
        not_name_words=tuple(data.get("not_name_words", ())),
        not_after=tuple(data.get("not_after", ())),
        exceptions="|".join(
            re.escape(w)
            for w in sorted({*data.get("not_names", ()), *data.get("not_after", ())}, key=len, reverse=True)
        ),
    )


def valid_national_id(digits: str) -> bool:
    """Thai 13-digit ID: the last digit is (11 - sum(d_i * (13 - i)) mod 11) mod 10."""
    d = [int(c) for c in digits.translate(_TO_ASCII) if c.isdigit()]
    if len(d) != 13:
        return False
    return (11 - sum(x * (13 - i) for i, x in enumerate(d[:12])) % 11) % 10 == d[12]


def _number_kinds(run: str) -> set[str]:
    """Phone / national ID in one run of digits and separators: the whole run, or a stretch
    of its digit groups (a phone after a list number, two phones keyed one after the other).
    A phone is grouped as people key one: a first group of at most 4 digits ("0", "02",
    "081", "0812") and then groups of 3 or more ("234-5678"), or all digits glued; so the
    digits of a date and time ("25.09.2566 10.30") or a budget code do not make a phone."""
    plus = run.lstrip("(\uff08").startswith(("+", "\uff0b"))
    groups = [g.translate(_TO_ASCII) for g in re.findall(f"{DIGIT}+", run)]
    found = set()
    for i in range(len(groups)):
        for j in range(i + 1, len(groups) + 1):
            stretch = groups[i:j]
            digits = "".join(stretch)
            if len(digits) > 14:
                break
            if len(digits) == 13 and valid_national_id(digits):
                found.add("national_id")
            if stretch[0] == "66" or (plus and i == 0 and stretch[0].startswith("66")):
                national = [stretch[0][2:], *stretch[1:]] if len(stretch[0]) > 2 else stretch[1:]
                national = [g for g in national if g]
                if national and national[0] == "0":  # +66 (0) 81 …: the trunk 0 keyed in brackets
                    national = national[1:]
                if not national:
                    continue
                national = ["0" + national[0], *national[1:]]
            else:
                national = stretch
            number = "".join(national)
            grouped = (
                len(national) == 1
                or (len(national[0]) <= 4 and all(len(g) >= 3 for g in national[1:]))
                or (national[0] == "0" and all(len(g) >= 3 for g in national[1:]))
            )
            if grouped and LANDLINE_OR_MOBILE.fullmatch(number):
                found.add("phone")
    return found


def personal_spans(text: str, reference_dir: Path, kinds: tuple[str, ...] = KINDS) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every personal value in `text` (exact check, Python)."""
    spans = []
    if "email" in kinds:
        spans += [(m.start(), m.end(), "email") for m in re.finditer(EMAIL, text)]
    if "phone" in kinds or "national_id" in kinds:
        for m in re.finditer(NUMBER_RUN, text):
            for kind in _number_kinds(m.group()):
                if kind in kinds:
                    spans.append((m.start(), m.end(), kind))
    if "person_name" in kinds:
        rules = _rules(str(reference_dir))
        for m in rules.names.finditer(text):
            prefix, space, word = m.group(1, 2, 3) if m.group(1) is not None else m.group(4, 5, 6)
            if _is_name(text, m.start(), prefix, space, word, rules):
                whole = rules.name_at.match(text, m.start())
                spans.append((m.start(), whole.end() if whole else m.start() + len(prefix), "person_name"))
    return sorted(set(spans))


def _is_name(text: str, start: int, prefix: str, space: str, word: str, rules: Rules) -> bool:
    if (text[:start] + prefix).endswith(rules.not_after):
        return False
    if (prefix + space + word).startswith(rules.not_names) or (prefix + word).startswith(rules.not_names):
        return False
    return not word.startswith(rules.not_name_words)


def _prefilter(reference_dir: Path, kinds: tuple[str, ...]) -> str:
    """One RE2 pattern that every personal value matches (and some look-alikes)."""
    parts = []
    if "email" in kinds:
        parts.append(EMAIL_LOOSE)
    if "phone" in kinds:
        parts.append(PHONE_LIKE)
    if "national_id" in kinds:
        parts.append(ID_LIKE)
    if "person_name" in kinds:
        parts.append(_rules(str(reference_dir)).name_prefilter)
    return "|".join(f"(?:{p})" for p in parts)


def candidates(values: pa.Array | pa.ChunkedArray, reference_dir: Path, kinds: tuple[str, ...] = KINDS) -> np.ndarray:
    """Positions of the values that may hold personal data (vectorized superset test)."""
    if not kinds or not len(values):
        return np.zeros(0, dtype=np.int64)
    pattern = _prefilter(reference_dir, kinds)
    maybe = np.flatnonzero(_mask(pc.match_substring_regex(values, pattern)))
    rules = _rules(str(reference_dir))
    if "person_name" in kinds and len(maybe) and rules.exceptions:
        # titles and places that start like a name ("คุณภาพชีวิต ผู้สูงอายุ", "นายกเทศมนตรี …")
        # are common: with each replaced by a neutral word, most stop matching, and Python
        # checks only the rest (a real name beside a title still matches)
        subset = values.take(pa.array(maybe, type=pa.int64()))
        neutral = pc.replace_substring_regex(subset, rules.exceptions, NEUTRAL_WORD)
        maybe = maybe[_mask(pc.match_substring_regex(neutral, pattern))]
    return maybe


def _mask(result: pa.Array | pa.ChunkedArray) -> np.ndarray:
    array = result.to_numpy(zero_copy_only=False) if isinstance(result, pa.Array) else result.to_numpy()
    return np.asarray(array, dtype=bool)


def scan_column(values: pd.Series, field: str, reference_dir: Path, allowed: set[str] = frozenset()) -> list[Finding]:
    """Findings in one column: one vectorized pass over its distinct values (Arrow hashing,
    then the RE2 superset test), each candidate checked exactly, and the rows holding a
    personal value found with one Arrow `index_in`."""
    kinds = tuple(k for k in KINDS if k not in allowed)
    if not kinds or not len(values):
        return []
    text = arrow_text(values.astype("str") if values.dtype != "str" else values)
    distinct = pc.unique(text)
    maybe = candidates(distinct, reference_dir, kinds)
    hits: list[str] = []
    kinds_of: list[list[str]] = []
    for value in distinct.take(pa.array(maybe, type=pa.int64())).to_pylist():
        found = sorted({kind for _s, _e, kind in personal_spans(value, reference_dir, kinds)}, key=KINDS.index)
        if found:
            hits.append(value)
            kinds_of.append(found)
    if not hits:
        return []
    which = pc.index_in(text, value_set=pa.array(hits, type=text.type))
    which = which.to_numpy(zero_copy_only=False) if isinstance(which, pa.Array) else which.to_numpy()
    which = np.asarray(which, dtype=float)  # nulls (no hit) come as NaN
    rows = np.flatnonzero(~np.isnan(which))
    return [Finding(kind, int(pos), field) for pos in rows for kind in kinds_of[int(which[pos])]]


def mask(text: str, reference_dir: Path) -> str:
    """`text` with every personal value replaced by what it is ("‹a phone number, hidden›")."""
    spans = personal_spans(text, reference_dir)
    if not spans:
        return text
    out, at = [], 0
    for start, end, kind in spans:
        if start < at:  # overlapping finds (a number that is a phone and an ID): one mask
            continue
        out += [text[at:start], MASKS[kind]]
        at = end
    return "".join(out) + text[at:]


MASKED_ATTRIBUTES = ("value", "message", "suggestion", "file", "sheet")


def mask_issues(issues: list[Any], reference_dir: Path) -> list[Any]:
    """Issues with every personal value they quote masked (an enum error on a phone keyed in
    `province`, a duplicate-key message quoting a name): reports, validation.json and the
    terminal never repeat one. One vectorized pass over the distinct quoted texts."""
    texts = sorted({getattr(i, a) for i in issues for a in MASKED_ATTRIBUTES if getattr(i, a)})
    if not texts:
        return issues
    array = pa.array(texts, type=pa.large_string())
    masked = {}
    for position in candidates(array, reference_dir).tolist():
        text = texts[position]
        if (hidden := mask(text, reference_dir)) != text:
            masked[text] = hidden
    if not masked:
        return issues
    return [
        replace(i, **{a: masked[getattr(i, a)] for a in MASKED_ATTRIBUTES if getattr(i, a) in masked})
        if any(getattr(i, a) in masked for a in MASKED_ATTRIBUTES)
        else i
        for i in issues
    ]


def scan_payload(payload: Any, reference_dir: Path, allowed: dict[str, list[str]] | None = None) -> list[Finding]:
    """Findings in a nested JSON-like payload (CKAN metadata); `field` is the key path."""
    allowed = allowed or {}
    found: list[Finding] = []
    for path, value in _strings(payload, ""):
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        found.extend(scan_column(pd.Series([value], dtype="str"), path, reference_dir, set(allowed.get(key, ()))))
    return [Finding(f.kind, -1, f.field) for f in found]


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
