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
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from pipeline.issues import Issue

TEMPLATES = Path(__file__).parent / "templates"
CHART_TOP = 15
MAX_CHARTS = 6
EMPTY_LABEL = "(ว่าง)"


@lru_cache(maxsize=1)
def _wording() -> dict[str, Any]:
    """The report's Thai wording (templates/messages.th.yaml)."""
    return yaml.safe_load((TEMPLATES / "messages.th.yaml").read_text(encoding="utf-8"))


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


class _Constraints(dict):  # type: ignore[type-arg]
    """str.format_map source: a constraint missing from the field reads as "…"."""

    def __missing__(self, key: str) -> str:
        return "…"


def _constraint_text(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:10])
        return shown + (f" … (ทั้งหมด {len(value)} ค่า)" if len(value) > 10 else "")
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"  # 35,000; a year (2,564) is written as a year
    return str(value)


def describe_issue(issue: Issue, fields: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Thai title, what was expected and a hint for one issue, from its rule (else its type)."""
    wording = _wording()
    desc = fields.get(issue.field, {})
    field_type = desc.get("type", "string")
    if issue.rule.startswith("type "):
        field_type = issue.rule.removeprefix("type ") or field_type
    values = _Constraints({k: _constraint_text(v) for k, v in (desc.get("constraints") or {}).items()})
    values["type_th"] = wording["type_names"].get(field_type, field_type)
    rule = "type" if issue.rule.startswith("type ") else issue.rule
    entry = (
        wording["rules"].get(rule)
        or next((e for e in wording["patterns"] if issue.rule and re.search(e["rule"], issue.rule)), None)
        or wording["types"].get(issue.type)
    )
    if entry is None:
        other = wording["other"]
        return {"title": other["title"].format(type=issue.type), "expected": issue.message, "hint": other["hint"]}
    return {
        "title": entry["title"].format_map(values),
        "expected": entry["expected"].format_map(values) if "expected" in entry else issue.message,
        "hint": entry.get("hint", ""),
    }


def render_validation(summary: dict[str, Any], issues: list[Issue], fields: list[dict[str, Any]] | None = None) -> str:
    """Every error grouped by the rule it breaks, titled in Thai with a hint; then the warnings.
    `fields` (the Table Schema's) give each field its Thai title and the constraint values."""
    by_name = {f["name"]: f for f in fields or ()}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    warnings: dict[str, dict[str, Any]] = {}
    for issue in issues:
        text = describe_issue(issue, by_name)
        row = {
            "issue": issue,
            "expected": text["expected"],
            "field_title": by_name.get(issue.field, {}).get("title", ""),
        }
        if issue.severity == "error":
            group = groups.setdefault(
                (issue.type, issue.rule), {"title": text["title"], "hint": text["hint"], "rows": []}
            )
        else:
            group = warnings.setdefault(issue.type, {"title": text["title"], "hint": text["hint"], "rows": []})
        group["rows"].append(row)
    template = _environment().get_template("validation.html")
    return template.render(
        summary=summary, error_groups=list(groups.values()), warning_groups=list(warnings.values()), css=_css()
    )


@dataclass
class Bar:
    label: str
    count: int | float  # a count of rows, or a sum
    y: int
    width: int


def _chart(title: str, counts: pd.Series, kind: str = "count") -> dict[str, Any]:
    counts = counts.sort_values(ascending=False, kind="stable")
    if len(counts) > CHART_TOP:
        rest = counts.iloc[CHART_TOP:].sum()
        counts = pd.concat([counts.iloc[:CHART_TOP], pd.Series({"อื่นๆ": rest})])
    top = float(counts.max()) if len(counts) else 1.0
    bars = [
        Bar(str(label), _number(value), 4 + 22 * i, max(1, round(280 * float(value) / top)) if top > 0 else 1)
        for i, (label, value) in enumerate(counts.items())
    ]
    return {
        "title": title,
        "kind": kind,
        "bars": bars,
        "label_width": 190,
        "width": 190 + 280 + 110,
        "height": 8 + 22 * len(bars),
    }


def _number(value: Any) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 2)


NUMERIC = ("integer", "number")
FEW_VALUES = 20  # a category with at most this many values present is charted whole; more: the top CHART_TOP


def choose_charts(
    schema: dict[str, Any], present: dict[str, int] | None = None
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Charts the schema supports, never a dataset's own wording: rows counted by each field with
    a list of allowed values (an enum, the provinces, the ~920 districts) or a yes/no field, and
    each amount summed by the first such field. `present`: how many distinct values each field
    holds; fields with at most FEW_VALUES come first and sums go by the first of them (a field
    with more is charted as its top CHART_TOP and "อื่นๆ"). Years and a one-field key are
    neither counted nor summed."""
    categories, amounts = chartable(schema)
    many = {f["name"] for f in categories if (present or {}).get(f["name"], 0) > FEW_VALUES}
    categories.sort(key=lambda f: f["name"] in many)  # stable: schema order within each group
    sums = [(amount, categories[0]) for amount in amounts] if categories else []
    counts = categories[: MAX_CHARTS - min(len(sums), MAX_CHARTS // 2)]
    return counts, sums[: MAX_CHARTS - len(counts)]


def chartable(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The fields choose_charts may chart, in schema order: (categories, amounts). The catalog
    reads only these columns of a published table."""
    key = schema.get("primaryKey") or []
    key = {key} if isinstance(key, str) else set(key) if len(key) == 1 else set()  # a part of a pair may repeat
    fields = schema["fields"]
    categories = [
        f
        for f in fields
        if f["name"] not in key
        and (
            f.get("type") == "boolean"
            or (f.get("type", "string") == "string" and (f.get("constraints") or {}).get("enum"))
        )
    ]
    amounts = [
        f
        for f in fields
        if f.get("type") in NUMERIC
        and f["name"] not in key
        and not _looks_like_a_year(f)
        and not (f.get("constraints") or {}).get("enum")
    ]
    return categories, amounts


def _looks_like_a_year(f: dict[str, Any]) -> bool:
    c = f.get("constraints") or {}
    return f.get("type") == "year" or (isinstance(c.get("minimum"), int | float) and c["minimum"] >= 1000)


def _title(f: dict[str, Any]) -> str:
    return f.get("title") or f["name"]


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
    categories, amounts = chartable(schema)  # only these columns are read
    columns = [f["name"] for f in (*categories, *amounts)] or [schema["fields"][0]["name"]]
    rows, counts, sums = _tallies(folder / table["path"], columns, categories, amounts, _readers(schema))
    counted, summed = choose_charts(schema, {name: len(found) for name, found in counts.items()})
    charts = []
    for f in counted:
        charts.append(_chart(f"จำนวนแถว ตาม{_title(f)}", pd.Series(counts[f["name"]], dtype="int64")))
    for amount, category in summed:
        found = {label: total for label, total in sums[amount["name"], category["name"]].items() if total == total}
        if found:
            charts.append(_chart(f"ผลรวม{_title(amount)} ตาม{_title(category)}", pd.Series(found), kind="sum"))
    publishers = [c.get("title") for c in package.get("contributors", []) if c.get("role") == "publisher"]
    licence = (package.get("licenses") or [{}])[0]
    changed = dt.datetime.fromtimestamp((folder / table["path"]).stat().st_mtime, tz=dt.UTC).strftime("%Y-%m-%d")
    key = schema.get("primaryKey") or []
    key = [key] if isinstance(key, str) else key
    return {
        "folder": folder.name,
        "name": package["name"],
        "title": package.get("title", package["name"]),
        "description": package.get("description", ""),
        "table_title": table.get("title", ""),
        "rows": rows,
        "organization": publishers[0] if publishers else "",
        "license": licence.get("title") or licence.get("name", ""),
        "sources": [s.get("title", "") for s in package.get("sources", []) if s.get("title")],
        "last_change": changed,
        "downloads": [
            {"href": f"{folder.name}/{r['path']}", "format": r.get("format", ""), "size": _size(int(r.get("bytes", 0)))}
            for r in package["resources"]
        ],
        "charts": charts,
        "primary_key": key,
        "fields": [{**f, "rules": field_rules(f, in_key=f["name"] in key)} for f in schema["fields"]],
    }


# the published CSV is tallied a block at a time, in this thread: memory stays flat (threads
# reading ahead held 1 GB more at ten million rows). At a million rows (2 cores) threads took the
# same 0.29 s (the reader tokenizes every column; the tallies below are vectorized). 1 MB blocks
# are as fast and hold 36 MB of Arrow memory instead of 147 MB, but a sum past 2**53 would then
# differ in its last digits from the pages published so far (a total is added up block by block)
CATALOG_BLOCK_BYTES = 4 << 20


def _tallies(
    path: Path,
    columns: list[str],
    categories: list[dict[str, Any]],
    amounts: list[dict[str, Any]],
    readers: dict[str, Reader],
) -> tuple[int, dict[str, dict[str, int]], dict[tuple[str, str], dict[str, float]]]:
    """(rows, each category's row count per label, each amount's sum per label of each category),
    read batch by batch (a ten-million-row table is never held whole). Labels come in order of
    first appearance; a label whose amounts are all missing sums to NaN."""
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=CATALOG_BLOCK_BYTES, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),  # a quoted line break is text
        convert_options=pacsv.ConvertOptions(
            include_columns=columns, column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False
        ),
    )
    rows = 0
    counts: dict[str, dict[str, int]] = {f["name"]: {} for f in categories}
    sums: dict[tuple[str, str], dict[str, float]] = {(a["name"], f["name"]): {} for a in amounts for f in categories}
    for batch in reader:
        rows += batch.num_rows
        labels = {f["name"]: _labels(batch.column(f["name"]), readers[f["name"]].missing) for f in categories}
        for name, (texts, codes) in labels.items():
            found = counts[name]
            for label, n in zip(texts, np.bincount(codes, minlength=len(texts)).tolist(), strict=True):
                found[label] = found.get(label, 0) + n
        for amount in amounts:
            values = pd.Series(_amounts(batch.column(amount["name"]), readers[amount["name"]]))
            for category, (texts, codes) in labels.items():
                found = sums[amount["name"], category]
                # pandas' group sum (compensated, in row order) as before: the same totals to the last bit
                partial = values.groupby(codes, sort=False).sum(min_count=1)
                for code, total in zip(partial.index.tolist(), partial.tolist(), strict=True):
                    label = texts[code]
                    before = found.get(label, float("nan"))
                    found[label] = total if before != before else before if total != total else before + total
    return rows, counts, sums


@dataclass(frozen=True)
class Reader:
    """How a field's cells read as values, as the table was validated: its missing values,
    Frictionless's value reader, and the pattern of a plain number Arrow may read instead."""

    missing: tuple[str, ...]
    read: Any
    plain: str | None = None
    group: str = ""
    decimal: str = "."


def _readers(schema: dict[str, Any]) -> dict[str, Reader]:
    """Each field's Reader: a value in the schema's own notation (decimalChar, groupChar,
    bareNumber) reads as its number."""
    from pipeline.validate import _frictionless_schema

    typed = _frictionless_schema(schema)
    found = {}
    for fl in typed.fields:
        missing = fl.missing_values if fl.has_defined("missing_values") else typed.missing_values
        notation = (fl.group_char, fl.decimal_char) if fl.type == "number" else ("", ".")
        found[fl.name] = Reader(tuple(missing), fl.create_value_reader(), _plain_number(fl), *notation)
    return found


# around a number: whitespace str.strip() drops, and (bareNumber false) text Frictionless drops
# as it holds no digit (ASCII, Thai letters, currency signs; never any of Unicode's digits)
SPACE = r"[ \t\n\r\x0b\x0c]*"
WORDS = r"\t\n\r\x0b\x0c\x20-\x2c\x2e\x2f\x3a-\x7e\x{a0}\x{a2}-\x{a5}\x{e01}-\x{e4f}\x{20a0}-\x{20cf}"


def _plain_number(fl: Any) -> str | None:
    """A pattern of texts whose number Arrow reads exactly as Frictionless does: the digits
    (group "core": ASCII digits, an optional leading minus, a number field's group characters
    between digits and one decimal part) read once the group characters are dropped and the
    decimal character is a point; before and after them only what Frictionless strips."""
    if fl.type not in ("integer", "number"):
        return None
    group, decimal = (fl.group_char, fl.decimal_char) if fl.type == "number" else ("", ".")
    if len(decimal) != 1 or decimal in "0123456789-" or group == decimal or any(c in "0123456789-" for c in group):
        return None
    grouped = f"(?:{re.escape(group)}[0-9]+)*" if group else ""
    fraction = f"(?:{re.escape(decimal)}[0-9]+)?" if fl.type == "number" else ""
    before, after = (SPACE, SPACE) if fl.bare_number else (f"[{WORDS}]*", f"[{WORDS}\\-]*")
    return rf"^{before}(?P<core>-?[0-9]+{grouped}{fraction}){after}$"


def _labels(column: pa.ChunkedArray | pa.Array, missing: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """The column's chart labels in order of first appearance (an empty or missing cell is
    "(ว่าง)") and each cell's position among them."""
    encoded = pc.dictionary_encode(_one_chunk(column))
    texts = [EMPTY_LABEL if t == "" or t in missing else t for t in encoded.dictionary.to_pylist()]
    where = {label: i for i, label in enumerate(dict.fromkeys(texts))}  # "" and "-" are both "(ว่าง)"
    remap = np.array([where[t] for t in texts], dtype=np.int64)
    return list(where), remap[encoded.indices.to_numpy(zero_copy_only=False)]


def _amounts(column: pa.ChunkedArray | pa.Array, reader: Reader) -> np.ndarray:
    """Each cell's number as float64 (NaN when missing), read once per distinct text: a plain
    number by Arrow, any other text by Frictionless."""
    encoded = pc.dictionary_encode(_one_chunk(column))
    texts = encoded.dictionary
    numbers = np.full(len(texts), np.nan)
    blank = pc.is_in(texts, value_set=pa.array(("", *reader.missing), type=pa.string())).to_numpy(zero_copy_only=False)
    plain = np.zeros(len(texts), dtype=bool)
    if reader.plain:
        found = pc.extract_regex(texts, reader.plain)
        plain = ~blank & found.is_valid().to_numpy(zero_copy_only=False)
        if plain.any():
            digits = pc.filter(found.field("core"), pa.array(plain))
            if reader.group:
                digits = pc.replace_substring(digits, reader.group, "")
            if reader.decimal != ".":
                digits = pc.replace_substring(digits, reader.decimal, ".")
            numbers[plain] = pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False)
    other = ~blank & ~plain
    for i, text in zip(np.flatnonzero(other).tolist(), pc.filter(texts, pa.array(other)).to_pylist(), strict=True):
        value = reader.read(text)
        numbers[i] = np.nan if value is None or isinstance(value, bool) else float(value)
    return numbers[encoded.indices.to_numpy(zero_copy_only=False)]


def _one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def field_rules(f: dict[str, Any], in_key: bool = False) -> list[dict[str, Any]]:
    """Every constraint of a field in Thai, for the data dictionary (an enum as a list)."""
    c = f.get("constraints") or {}
    rules: list[dict[str, Any]] = []
    if in_key:
        rules.append({"text": "คีย์หลัก (ไม่ซ้ำ)"})
    if c.get("required"):
        rules.append({"text": "ต้องมีค่า"})
    if c.get("unique"):
        rules.append({"text": "ไม่ซ้ำ"})
    words = {
        "minimum": "ไม่น้อยกว่า",
        "maximum": "ไม่มากกว่า",
        "exclusiveMinimum": "มากกว่า",
        "exclusiveMaximum": "น้อยกว่า",
        "minLength": "ยาวอย่างน้อย",
        "maxLength": "ยาวไม่เกิน",
    }
    for name, word in words.items():
        if name in c:
            rules.append({"text": f"{word} {_constraint_text(c[name])}", "code": name})
    if "pattern" in c:
        rules.append({"text": "รูปแบบ", "pattern": c["pattern"]})
    if c.get("enum"):
        rules.append({"text": f"ค่าที่อนุญาต {len(c['enum'])} ค่า", "enum": [str(v) for v in c["enum"]]})
    if f.get("format") and f.get("format") != "default":
        rules.append({"text": f"รูปแบบ {f['format']}"})
    return rules


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
