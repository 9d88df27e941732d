"""Stage 3, normalize: turn hand-keyed text into the schema's canonical values.

Text is cleaned by pandas/pyarrow string kernels over whole columns, then each field goes
through the normalizer its fields.yaml names (`pipeline/normalizers.py`, the registry), in an
order where a field comes after the fields it reads (derived_from, a district's province, the
field whose `fills` fill it). Parse-heavy rules run once per *distinct* value (`pd.factorize`
-> rule -> `take`), so a million rows cost a few thousand rule calls. A value no rule can
read is kept as cleaned text, so validation reports it against the schema with its cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.columns import arrow_text, per_column
from pipeline.dataset import DatasetSpec, dependency_order
from pipeline.headers import MappedSheet
from pipeline.issues import Issue, column_letter
from pipeline.normalizers import REGISTRY, Column, Problem, ThaiRules
from pipeline.thai import clean_series

__all__ = ["NormalizedTable", "ThaiRules", "normalize"]


@dataclass
class NormalizedTable:
    """Normalized values of every data row, with what is needed to point back at cells."""

    values: pd.DataFrame  # one str column per schema field ("" = missing)
    cleaned: pd.DataFrame  # the cleaned source text per mapped field, for messages
    sheet_index: np.ndarray  # index into `sheets` of each row
    row_numbers: np.ndarray
    sheets: list[MappedSheet]
    spec: DatasetSpec

    _letters: dict[tuple[int, str], str] = field(default_factory=dict, init=False, repr=False)

    def cell(self, field_name: str, position: int) -> str:
        """Spreadsheet address standing for `field_name` in row `position`."""
        return self.cells(field_name, np.array([position]))[0]

    def cells(self, field_name: str, positions: np.ndarray) -> list[str]:
        """`cell` for many rows at once: "E4", or "row 4" where the sheet has no such column."""
        sheet_of = self.sheet_index[positions].tolist()
        letters = {index: self._letter(index, field_name) for index in set(sheet_of)}
        rows = self.row_numbers[positions].tolist()
        return [f"{letters[s]}{r}" if letters[s] else f"row {r}" for s, r in zip(sheet_of, rows, strict=True)]

    def _letter(self, index: int, field_name: str) -> str:
        key = (index, field_name)
        if key not in self._letters:
            sheet = self.sheets[index]
            names = [n for n in (field_name, *self.spec.field(field_name).cell_fallback) if n in sheet.columns]
            self._letters[key] = column_letter(sheet.columns[names[0]]) if names else ""
        return self._letters[key]

    def where(self, position: int) -> dict[str, str]:
        file, sheet = self.places(np.array([position]))[0]
        return {"file": file, "sheet": sheet}

    def places(self, positions: np.ndarray) -> list[tuple[str, str]]:
        """(file, sheet) of many rows at once."""
        names = [(s.file, s.sheet) for s in self.sheets]
        return [names[s] for s in self.sheet_index[positions].tolist()]

    def full_cells(self, field_name: str, positions: np.ndarray) -> list[str]:
        """`file › sheet › E4` of many rows, for pointing at the other cell of a pair."""
        return [
            " › ".join(p for p in (file, sheet, cell) if p)
            for (file, sheet), cell in zip(self.places(positions), self.cells(field_name, positions), strict=True)
        ]

    def source_text(self, field_name: str, position: int) -> str:
        """The cleaned text as keyed (or of the field it derives from), for messages."""
        return self.source_texts(field_name, np.array([position]))[0]

    def source_texts(self, field_name: str, positions: np.ndarray) -> list[str]:
        """`source_text` for many rows at once (one Arrow take per column, not one lookup per row)."""
        texts = [""] * len(positions)
        missing = np.arange(len(positions))
        for name in (field_name, *self.spec.field(field_name).cell_fallback):
            if name not in self.cleaned.columns or not len(missing):
                continue
            values = arrow_text(self.cleaned[name]).take(pa.array(positions[missing])).to_pylist()
            still = []
            for i, value in zip(missing, values, strict=True):
                if isinstance(value, str) and value:
                    texts[i] = value
                else:
                    still.append(i)
            missing = np.array(still, dtype=int)
        return texts


def normalize(sheets: list[MappedSheet], spec: DatasetSpec) -> tuple[NormalizedTable, list[Issue]]:
    """Normalize the rows of every mapped sheet into one table, plus cross-field issues."""
    table, filled, problems = normalize_steps(sheets, spec)
    issues = [issue for _field, found in filled for issue in found]
    for problem in problems:
        issues.extend(problem_issues(table, problem))
    return table, issues


def normalize_steps(
    sheets: list[MappedSheet], spec: DatasetSpec, rules: ThaiRules | None = None
) -> tuple[NormalizedTable, list[tuple[str, list[Issue]]], list[Problem]]:
    """`normalize`, with its issues in the two groups it reports in turn: a keyed value that disagrees
    with the one another field fills in (per field), then the rows each normalizer refused
    (`pipeline/stream.py` puts a large table's batches back in that order, and hands every batch
    the same `rules`, which remember the values they worked out)."""
    mapped_fields = [f.name for f in spec.fields if not f.derived_from]
    parts = []
    for sheet in sheets:
        frame = sheet.data.reindex(columns=mapped_fields, fill_value="")
        parts.append(frame)
    if len(parts) == 1:
        raw = parts[0].reset_index(drop=True)
    else:
        raw = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=mapped_fields, dtype="str")
    sheet_index = (
        np.concatenate([np.full(len(s.data), i) for i, s in enumerate(sheets)]) if sheets else np.array([], int)
    )
    row_numbers = np.concatenate([s.row_numbers for s in sheets]) if sheets else np.array([], int)
    texts = per_column(clean_series, [raw[name] for name in mapped_fields], len(raw))
    cleaned = pd.DataFrame(dict(zip(mapped_fields, texts, strict=True)), index=raw.index)
    index = raw.index
    del raw, parts  # from here on only the cleaned text is needed

    rules = rules or ThaiRules(spec.reference)
    table = NormalizedTable(pd.DataFrame(), cleaned, sheet_index, row_numbers, sheets, spec)
    out: dict[str, pd.Series] = {}
    filled: dict[str, tuple[str, pd.Series]] = {}  # target field -> (source field, value derived for it)
    problems: list[Problem] = []
    filled_issues: list[tuple[str, list[Issue]]] = []
    fields = {f.name: f for f in spec.fields}
    for name in run_order(spec):
        f = fields[name]
        entry = REGISTRY[f.normalize]
        source = fields[f.derived_from] if f.derived_from else None
        column = Column(out[f.derived_from] if source else cleaned[f.name], f, rules, out, source=source)
        out[f.name] = entry.function(column)
        problems.extend(column.problems)
        for what, values in column.fills.items():
            filled[f.fills[what]] = (f.name, values)
        if f.name in filled:  # a value derived by another field's normalizer fills this one
            filled_issues.append((f.name, _merge_filled(table, out, f.name, *filled[f.name])))

    # a name keyed without its type ("ปางหมู" + type column) gets the type in front
    for f in spec.fields:
        type_field = f.fills.get("type")
        if type_field and type_field in out:
            name, kind = out[f.name], out[type_field]
            known = set(rules.government_type_by_key.values())
            bare = (name != "") & kind.isin(known) & ~_starts_with_any(name, known)
            out[f.name] = name.where(~bare, kind + name)

    table.values = pd.DataFrame({name: out[name] for name in spec.field_names}, index=index)
    return table, filled_issues, problems


def run_order(spec: DatasetSpec) -> list[str]:
    """Field names in the order their normalizers run: a field after those it reads
    (derived_from, a district's province field, the field whose `fills` fill it)."""
    needs: dict[str, set[str]] = {f.name: set() for f in spec.fields}
    for f in spec.fields:
        entry = REGISTRY[f.normalize]
        needs[f.name] |= {f.options[o] for o in entry.field_options if f.options.get(o)}
        if f.derived_from:
            needs[f.name].add(f.derived_from)
        for target in f.fills.values():
            needs[target].add(f.name)
    return dependency_order(needs)


def _merge_filled(
    table: NormalizedTable, out: dict[str, pd.Series], target: str, source: str, derived: pd.Series
) -> list[Issue]:
    """The value keyed for `target` where there is one, else the one derived from `source`; a keyed
    value that disagrees with the derived one is an error naming both cells."""
    given = out[target]
    keyed, other = (pc.cast(arrow_text(s), pa.large_string()) for s in (given, derived))
    conflict = pc.and_(pc.and_(pc.not_equal(keyed, ""), pc.not_equal(other, "")), pc.not_equal(keyed, other))
    issues = []
    for pos in np.flatnonzero(conflict.to_numpy(zero_copy_only=False)):
        issues.append(
            Issue(
                "error",
                "row-constraint",
                f"{target} {given.iat[pos]!r} disagrees with {derived.iat[pos]!r} in {source}",
                cell=table.cell(target, pos),
                field=target,
                value=table.source_text(target, pos),
                rule=f"{target} agrees with {source}",
                related_cell=table.cell(source, pos),
                **table.where(pos),
            )
        )
    merged = pc.if_else(pc.equal(keyed, ""), other, keyed)  # one Arrow kernel (a pandas where took 10x)
    out[target] = pd.Series(pd.array(merged, dtype="str"), index=given.index)
    return issues


def problem_issues(table: NormalizedTable, problem: Problem) -> list[Issue]:
    """Issues for the rows a normalizer refused, each naming its cell (and the other cell it compared with)."""
    cells = table.cells(problem.field, problem.positions)
    related = table.cells(problem.related, problem.positions) if problem.related else [""] * len(cells)
    values = table.source_texts(problem.field, problem.positions)
    places = table.places(problem.positions)
    return [
        Issue(
            "error",
            "row-constraint" if problem.related else "constraint-error",
            message,
            cell=cell,
            field=problem.field,
            value=value,
            rule=problem.rule,
            related_cell=other,
            file=file,
            sheet=sheet,
        )
        for message, cell, other, value, (file, sheet) in zip(
            problem.messages, cells, related, values, places, strict=True
        )
    ]


def _starts_with_any(values: pd.Series, prefixes: set[str]) -> pd.Series:
    mask = pd.Series(False, index=values.index)
    for prefix in prefixes:
        mask |= values.str.startswith(prefix)
    return mask
