"""Validation reports, written outside the published folder for the data officer.

`reports/<dataset>/validation.json` has a summary and every issue with its file, sheet,
cell, value and rule, typed like a Frictionless report so tools can read it. It never
holds personal data: only schema fields are ever reported, and the personal-data columns
are named by their header label, never by a value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.issues import Issue


@dataclass
class Summary:
    dataset: str
    files: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_published: int = 0
    duplicates_dropped: int = 0
    personal_data_columns_dropped: list[str] = field(default_factory=list)

    def to_dict(self, issues: list[Issue]) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "valid": not any(i.severity == "error" for i in issues),
            "files": self.files,
            "sheets": self.sheets,
            "rows_read": self.rows_read,
            "rows_published": self.rows_published,
            "duplicates_dropped": self.duplicates_dropped,
            "personal_data_columns_dropped": sorted(set(self.personal_data_columns_dropped)),
            "errors": sum(1 for i in issues if i.severity == "error"),
            "warnings": sum(1 for i in issues if i.severity == "warning"),
        }


def report_document(summary: Summary, issues: list[Issue]) -> dict[str, Any]:
    by_type: dict[str, int] = {}
    for issue in issues:
        if issue.severity == "error":
            by_type[issue.type] = by_type.get(issue.type, 0) + 1
    return {
        "summary": summary.to_dict(issues),
        "error_types": dict(sorted(by_type.items())),
        "errors": [i.to_dict() for i in issues if i.severity == "error"],
        "warnings": [i.to_dict() for i in issues if i.severity == "warning"],
    }


def write_json_atomic(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_report(
    reports_dir: Path, summary: Summary, issues: list[Issue], fields: list[dict[str, Any]] | None = None
) -> Path:
    """validation.json and validation.html side by side; returns the HTML page's path.
    `fields` (the Table Schema's) name each field by its Thai title in the page."""
    from pipeline.pages import render_validation, write_text_atomic

    path = reports_dir / summary.dataset / "validation.json"
    document = report_document(summary, issues)
    write_json_atomic(path, document)
    html = path.with_suffix(".html")
    write_text_atomic(html, render_validation(document["summary"], issues, fields))
    return html
