"""Data problems as values: every issue names its file, sheet, cell, value and rule.

Types follow Frictionless error names (type-error, constraint-error, unique-error,
missing-label, duplicate-label, blank-row, row-constraint) plus a few of ours, so a
report can be read by tools that know Frictionless reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
        return " ".join(parts)

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
