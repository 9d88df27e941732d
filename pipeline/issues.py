"""Data problems as values: every issue names its file, sheet, cell, value and rule.

Types follow Frictionless error names (type-error, constraint-error, unique-error,
missing-label, duplicate-label, blank-row, row-constraint) plus a few of ours, so a
report can be read by tools that know Frictionless reports.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass

from pipeline.thai import CONTROL, FORMATTING

# what a terminal would act on or hide: control characters (ESC starts a terminal escape
# sequence), invisible formatting characters (U+202E reverses what follows), line separators
_UNPRINTABLE = re.compile(f"{CONTROL}|[{FORMATTING}\u200b-\u200d\u2028\u2029\u2060\ufeff\u00ad\n\r\t]")
MAX_WARNINGS_PER_TYPE = 200


@dataclass(slots=True)  # not frozen: a frozen init costs 3x, and a build can hold 100,000s of issues
class Issue:
    severity: str  # "error" or "warning"
    type: str  # frictionless-style error type, kebab-case
    message: str  # one line, Thai or English, never personal data
    file: str = ""
    sheet: str = ""
    cell: str = ""  # spreadsheet address, e.g. "E4"; for CSV the column letter + record number
    field: str = ""
    value: str = ""
    rule: str = ""  # the rule broken: constraint name ("enum", "required") or a short phrase
    suggestion: str = ""
    related_cell: str = ""  # the other cell of a duplicate / disagreement

    @property
    def location(self) -> str:
        """`entries.xlsx › ผลงาน › E4`; parts that do not apply are left out."""
        return " › ".join(p for p in (self.file, self.sheet, self.cell) if p)

    def line(self) -> str:
        """The one-line form printed by the CLI."""
        parts = [f"{self.severity.upper()} {self.location}" if self.location else self.severity.upper()]
        if self.field:
            parts.append(f"[{self.field}]")
        if self.value:
            parts.append(f"{self.value!r}:")
        parts.append(self.message)
        if self.suggestion:
            parts.append(f"(did you mean {self.suggestion!r}?)")
        return printable(" ".join(parts))

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v != ""}


def column_letter(index: int) -> str:
    """0-based column index to spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def printable(text: str, lines: bool = False) -> str:
    """`text` safe to print on a terminal: control and invisible characters shown as
    escapes (ESC -> "\\x1b", U+202E -> "\\u202e"), so a file name cannot rewrite the screen.
    With `lines`, line breaks are kept (a message of several lines)."""
    if lines:
        return "\n".join(printable(line) for line in text.split("\n"))
    if not _UNPRINTABLE.search(text):
        return text
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def cap_warnings(issues: list[Issue], limit: int = MAX_WARNINGS_PER_TYPE) -> list[Issue]:
    """Every error, and at most `limit` warnings of each type followed by one warning that
    counts the rest: 16,000 "unknown column" warnings help no one, their count does."""
    counts = Counter(i.type for i in issues if i.severity == "warning" and not _is_count(i))
    if all(n <= limit for n in counts.values()):
        return issues
    kept: list[Issue] = []
    seen: Counter[str] = Counter()
    for issue in issues:
        if issue.severity == "warning" and counts[issue.type] > limit and not _is_count(issue):
            seen[issue.type] += 1
            if seen[issue.type] > limit:
                continue
        kept.append(issue)
    for kind, n in sorted(counts.items()):
        if n > limit:
            kept.append(
                Issue("warning", kind, f"… and {n - limit:,} more warnings of this type ({n:,} in all), not listed")
            )
    return kept


def _is_count(issue: Issue) -> bool:
    """A warning that already counts others ("… and 300 more …"): kept whatever the cap."""
    return not issue.cell and issue.message.startswith("…")
