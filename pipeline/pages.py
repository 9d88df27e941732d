"""The pages people look at: the validation report and the static catalog (index.html).

Self-contained HTML (inline CSS and SVG, no scripts, no network), Thai-first with a font
stack that finds a Thai font on Linux, macOS and Windows. Rendered with Jinja2, with
autoescaping on: every value from a workbook is text, never markup.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline.issues import Issue

TEMPLATES = Path(__file__).parent / "templates"
RULE_TITLES = {
    "required": "ค่าว่างในฟิลด์ที่ต้องมีค่า (required)",
    "enum": "ค่าไม่อยู่ในรายการที่อนุญาต (enum)",
    "type integer": "อ่านเป็นจำนวนเต็มไม่ได้ (integer)",
    "type date": "อ่านเป็นวันที่ไม่ได้ หรือเป็นวันที่ที่ไม่มีจริง (date)",
    "unique": "รหัสเดียวกันแต่ข้อมูลต่างกัน (unique)",
    "minimum": "ค่าน้อยกว่าที่กำหนด (minimum)",
    "maximum": "ค่ามากกว่าที่กำหนด (maximum)",
    "pattern": "รูปแบบไม่ตรงที่กำหนด (pattern)",
    "required column": "ไม่มีคอลัมน์ที่จำเป็น (missing column)",
    "one column per field": "มีคอลัมน์ซ้ำสำหรับฟิลด์เดียวกัน (duplicate column)",
}
CHART_TOP = 15


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )


def _css() -> str:
    return (TEMPLATES / "_base.css").read_text(encoding="utf-8")


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def render_validation(summary: dict[str, Any], issues: list[Issue]) -> str:
    """Every error grouped by the rule it breaks, then the warnings."""
    groups: dict[str, list[Issue]] = {}
    for issue in issues:
        if issue.severity == "error":
            title = RULE_TITLES.get(issue.rule) or f"{issue.type}" + (f" ({issue.rule})" if issue.rule else "")
            groups.setdefault(title, []).append(issue)
    error_groups = [{"title": title, "issues": items} for title, items in groups.items()]
    warnings = [i for i in issues if i.severity == "warning"]
    template = _environment().get_template("validation.html")
    return template.render(summary=summary, error_groups=error_groups, warnings=warnings, css=_css())


@dataclass
class Bar:
    label: str
    count: int
    y: int
    width: int


def _chart(title: str, counts: pd.Series) -> dict[str, Any]:
    counts = counts.sort_values(ascending=False, kind="stable")
    if len(counts) > CHART_TOP:
        rest = int(counts.iloc[CHART_TOP:].sum())
        counts = pd.concat([counts.iloc[:CHART_TOP], pd.Series({"อื่นๆ (others)": rest})])
    top = int(counts.max()) if len(counts) else 1
    bars = [
        Bar(str(label), int(n), 4 + 22 * i, max(1, round(280 * int(n) / max(top, 1))))
        for i, (label, n) in enumerate(counts.items())
    ]
    return {"title": title, "bars": bars, "label_width": 190, "width": 190 + 280 + 70, "height": 8 + 22 * len(bars)}


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _dataset_view(folder: Path) -> dict[str, Any]:
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    table = next(r for r in package["resources"] if isinstance(r.get("schema"), dict))
    schema = table["schema"]
    charted = [f["name"] for f in schema["fields"] if f.get("constraints", {}).get("enum")]
    columns = charted or [schema["fields"][0]["name"]]  # only the charted ones (or one, to count rows)
    frame = pacsv.read_csv(
        folder / table["path"],
        parse_options=pacsv.ParseOptions(newlines_in_values=True),  # a quoted line break is text
        convert_options=pacsv.ConvertOptions(
            include_columns=columns, column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
        ),
    )
    charts = []
    for f in schema["fields"]:
        if f["name"] in charted:
            counted = pc.value_counts(frame[f["name"]])
            labels = [v or "(ว่าง / not yet)" for v in counted.field("values").to_pylist()]
            counts = pd.Series(counted.field("counts").to_numpy(), index=labels)
            charts.append(_chart(f"ตาม{f.get('title', f['name'])} (by {f['name']})", counts))
    publishers = [c.get("title") for c in package.get("contributors", []) if c.get("role") == "publisher"]
    licence = (package.get("licenses") or [{}])[0]
    changed = dt.datetime.fromtimestamp((folder / table["path"]).stat().st_mtime, tz=dt.UTC).strftime("%Y-%m-%d")
    return {
        "folder": folder.name,
        "name": package["name"],
        "title": package.get("title", package["name"]),
        "description": package.get("description", ""),
        "rows": frame.num_rows,
        "organization": publishers[0] if publishers else "",
        "license": licence.get("title") or licence.get("name", ""),
        "last_change": changed,
        "downloads": [
            {"href": f"{folder.name}/{r['path']}", "format": r.get("format", ""), "size": _size(int(r.get("bytes", 0)))}
            for r in package["resources"]
        ],
        "charts": charts,
        "fields": [
            {**f, "enum": f.get("constraints", {}).get("enum"), "pattern": f.get("constraints", {}).get("pattern")}
            for f in schema["fields"]
        ],
    }


def listed_datasets(catalog_html: str) -> list[str]:
    """The dataset folders a catalog page lists (to tell whether it matches what is published)."""
    return [html.unescape(n) for n in re.findall(r'data-dataset="([^"]*)"', catalog_html)]


def write_catalog(published_dir: Path) -> Path:
    """PUBLISHED_DIR/index.html listing every published dataset ("last change" is when its
    table file was last published, the only date on this page)."""
    folders = [p for p in sorted(published_dir.iterdir()) if (p / "datapackage.json").is_file()]
    html = _environment().get_template("index.html").render(datasets=[_dataset_view(f) for f in folders], css=_css())
    path = published_dir / "index.html"
    write_text_atomic(path, html)
    return path
