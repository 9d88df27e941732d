"""The PDPA guard: no phone number, e-mail, national ID or personal name leaves the building.

Runs on every value about to be published and every payload about to go to CKAN. Only
fields a dataset declares (`may_contain` in fields.yaml, `x_portal.may_contain` for
portal metadata) may hold a kind; anything else is refused with the cell that holds it.
Patterns run vectorized (pyarrow regex); the national-ID check digit only on candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# Thai mobile (06/08/09 + 8 digits) and landline (0 + area + 6-7 digits), +66 form too
PHONE = (
    r"(?:^|[^0-9])(?:\+66[ -]?|0)(?:[689][0-9][ -]?[0-9]{3}[ -]?[0-9]{4}|[2-7][0-9]?[ -]?[0-9]{3}[ -]?[0-9]{3,4})"
    r"(?:[^0-9]|$)"
)
ID_DIGITS = r"[0-9][ -]?[0-9]{4}[ -]?[0-9]{5}[ -]?[0-9]{2}[ -]?[0-9]"
NATIONAL_ID = rf"(?:^|[^0-9]){ID_DIGITS}(?:[^0-9]|$)"
NATIONAL_ID_GROUP = re.compile(rf"(?:^|[^0-9])({ID_DIGITS})(?=[^0-9]|$)")
THAI_WORD = "[\u0e01-\u0e2e\u0e40-\u0e44][\u0e01-\u0e4e]+"  # a word may start with a leading vowel (ใ, เ …)
KINDS = ("email", "phone", "national_id", "person_name")
LABELS = {
    "email": "an e-mail address",
    "phone": "a phone number",
    "national_id": "a national ID number",
    "person_name": "a personal name",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    position: int  # row position in the scanned column, or -1 for a payload key
    field: str


@lru_cache(maxsize=4)
def _rules(reference_dir: str) -> tuple[str, tuple[str, ...]]:
    data = yaml.safe_load((Path(reference_dir) / "personal-data.yaml").read_text(encoding="utf-8"))
    prefixes = "|".join(re.escape(p) for p in sorted(data["name_prefixes"], key=len, reverse=True))
    name = rf"(?:^|[ (])(?:{prefixes}) ?{THAI_WORD} +{THAI_WORD}"
    return name, tuple(data["not_names"])


def valid_national_id(digits: str) -> bool:
    """Thai 13-digit ID: the last digit is (11 - sum(d_i * (13 - i)) mod 11) mod 10."""
    d = [int(c) for c in digits if c.isdigit()]
    if len(d) != 13:
        return False
    return (11 - sum(x * (13 - i) for i, x in enumerate(d[:12])) % 11) % 10 == d[12]


def scan_column(values: pd.Series, field: str, reference_dir: Path, allowed: set[str] = frozenset()) -> list[Finding]:
    """Findings in one text column: one vectorized pass over the distinct values with all
    patterns at once, then each kind checked on the few candidates only."""
    name_pattern, not_names = _rules(str(reference_dir))
    patterns = {"email": EMAIL, "phone": PHONE, "person_name": name_pattern, "national_id": NATIONAL_ID}
    patterns = {k: v for k, v in patterns.items() if k not in allowed}
    if not patterns or not len(values):
        return []
    codes, uniques = pd.factorize(values.fillna("").astype("str"), use_na_sentinel=False)
    distinct = pd.Series(uniques, dtype="str")
    combined = "|".join(f"(?:{p})" for p in patterns.values())
    candidates = np.flatnonzero(distinct.str.contains(combined, regex=True).to_numpy(dtype=bool, na_value=False))
    kinds_of: dict[int, list[str]] = {}
    for u in candidates:
        text = distinct.iat[u]
        kinds = []
        for kind, pattern in patterns.items():
            if kind == "national_id":
                if any(valid_national_id(m) for m in NATIONAL_ID_GROUP.findall(text)):
                    kinds.append(kind)
            elif re.search(pattern, text) and not (
                kind == "person_name" and _only_exceptions(text, name_pattern, not_names)
            ):
                kinds.append(kind)
        if kinds:
            kinds_of[int(u)] = kinds
    if not kinds_of:
        return []
    hit_codes = np.isin(codes, list(kinds_of))
    return [Finding(kind, int(pos), field) for pos in np.flatnonzero(hit_codes) for kind in kinds_of[int(codes[pos])]]


def _only_exceptions(value: str, name_pattern: str, not_names: tuple[str, ...]) -> bool:
    """True when every name-like match is a title or a place ("นายกเทศมนตรี", "นางรอง")."""
    for m in re.finditer(name_pattern, value):
        word = m.group(0).lstrip(" (")
        if not word.startswith(not_names):
            return False
    return True


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
