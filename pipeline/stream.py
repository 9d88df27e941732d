"""Large CSV inputs and one-sheet workbooks in bounded memory: the same stages as
`run.process`, batch by batch.

A table too large to hold (a ten-million-row export, a million-row workbook read in row blocks
by `pipeline/sheetblocks.py`) is read in batches of records; each
batch goes through the very stage functions of the in-memory build (map, normalize, the cell
checks of validate, the cell guard, the PDPA guard), and only what the checks across rows
need stays in memory: two 64-bit hashes of each row (exact duplicates), the text of the key
fields (unique, primaryKey, uniqueKeys, foreignKeys, the sort order) and where each row came
from. The checks of one row at a time are made on each batch as it is read, as if no row were
a duplicate (the usual case); a batch that loses exact duplicates once the whole table is
hashed is read back and checked again without them. Normalized batches are spilled to one
Arrow IPC file (LZ4) beside the published folder; the published CSV is written from it, sorted
by the primary key from buckets of known output positions (a distribution sort: the order is
known before any row is moved).

Issues are the in-memory build's, in its order: each stage's issues are put back in the order
the whole-table call gives them (field by field, or row by row), and warnings capped per
column are capped over the whole table.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import cells, headers, memory, normalize, publish, read, sheetblocks, validate
from pipeline.dataset import DatasetSpec
from pipeline.errors import ReadError
from pipeline.headers import MappedSheet
from pipeline.issues import MAX_WARNINGS_PER_TYPE, Issue
from pipeline.normalize import NormalizedTable
from pipeline.normalizers import Problem, ThaiRules
from pipeline.progress import QUIET, Progress
from pipeline.report import Summary

STREAM_BYTES = 256 << 20  # CSV input at least this large is built batch by batch
# a sheet's XML spells a table out in about twice the bytes of its CSV (tags and cell addresses)
XML_BYTES_PER_CSV_BYTE = 2
BATCH_ROWS = 100_000  # records per batch: a few hundred MB of working memory
BUCKET_ROWS = 500_000  # published rows written per sorted bucket
IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
HASH_KEYS = ("0123456789123456", "6543210987654321")  # two independent 64-bit row hashes (_row_hashes)
_COUNT = re.compile(r"^… and ([0-9,]+) more")  # a warning that counts those not listed


def _trim() -> None:
    """Give the pages freed by a batch back to the system once the process holds more than
    memory.STREAM_RESIDENT_BUDGET: below it the next batch reuses them (a page given back and
    touched again costs a fault), above it the peak would grow with the number of batches."""
    memory.return_freed_above(memory.STREAM_RESIDENT_BUDGET)


def wanted(files: list[Path], options: dict[str, str], stream_bytes: int | None) -> bool:
    """Stream when every file can be read batch by batch (a CSV, or a one-sheet workbook:
    `sheetblocks.sheet_xml_bytes`) and together they reach `stream_bytes` of CSV, a sheet's XML
    counted as the CSV it would make."""
    if stream_bytes is None or not files:
        return False
    total = 0
    try:
        for path in files:
            if read.sniff_format(path) == "xlsx":
                size = sheetblocks.sheet_xml_bytes(path)
                if size is None:
                    return False
                total += size // XML_BYTES_PER_CSV_BYTE
            elif read.stream_encoding(path, options):
                total += path.stat().st_size
            else:
                return False
    except ReadError:
        return False  # the whole-file reader says what is wrong with it
    return total >= stream_bytes


@dataclass
class _File:
    """What one file gave in the first pass (dropped whole if reading it fails midway, as the
    in-memory build drops a file it cannot read)."""

    display: str
    issues: list[Issue] = field(default_factory=list)
    sheet: MappedSheet | None = None
    rows: int = 0
    batches: list[int] = field(default_factory=list)  # its batches in the spill
    checked: list[_Checked] = field(default_factory=list)  # what the checks of each found
    filled: list[tuple[int, str, list[Issue]]] = field(default_factory=list)  # (batch, field, issues)
    problems: list[tuple[int, Problem, list[Issue]]] = field(default_factory=list)


class _Spill:
    """An Arrow IPC file of record batches of one schema, written once, read back batch by batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pa.ipc.RecordBatchFileWriter | None = None
        self.schema: pa.Schema | None = None
        self.count = 0

    def write(self, table: pa.Table) -> int:
        if self.writer is None:
            self.schema = table.schema
            self.writer = pa.ipc.new_file(str(self.path), table.schema, options=IPC_OPTIONS)
        # one record batch per write, so that batch numbers are write numbers (a table whose
        # columns come in several chunks would otherwise be written as several batches)
        self.writer.write_table(table.cast(self.schema).combine_chunks(), max_chunksize=max(table.num_rows, 1))
        self.count += 1
        return self.count - 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def batches(self, numbers: Iterable[int] | None = None) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(number, batch) of the batches written, or of those `numbers` (in order), only those read."""
        self.close()
        if not self.count:
            return
        with pa.OSFile(str(self.path)) as source:  # read, not mapped: the pages read are let go
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches) if numbers is None else sorted(numbers):
                yield i, reader.get_batch(i)


def _text_table(frame: pd.DataFrame, numbers: np.ndarray) -> pa.Table:
    """A batch of text columns (and row numbers) with one schema whatever its content."""
    columns = {name: pa.array(frame[name], type=pa.string(), from_pandas=True) for name in frame.columns}
    return pa.table({**columns, ROW: pa.array(numbers, type=pa.int64())})


ROW = "\0row"
CLEANED = "\0cleaned:"


def process(
    spec: DatasetSpec,
    folder: Path,
    files: list[Path],
    progress: Progress = QUIET,
    spill_dir: Path | None = None,
    batch_rows: int | None = None,
) -> tuple[StreamedTable, list[Issue], Summary]:
    """Read, map, normalize and validate one dataset's CSV files and one-sheet workbooks batch by
    batch; the issues are those `run.process` finds in the whole table, in the same order (up to
    its common tail). Whatever stops it midway, the spilled batches are removed at once."""
    memory.reuse_freed_blocks()
    work = Path(
        tempfile.mkdtemp(prefix=f".spill-{spec.name}-", dir=spill_dir if spill_dir and spill_dir.is_dir() else None)
    )
    result = StreamedTable(spec, work)
    try:
        return _process(spec, folder, files, progress, batch_rows, result)
    except BaseException:
        result.discard()
        raise


def _process(
    spec: DatasetSpec,
    folder: Path,
    files: list[Path],
    progress: Progress,
    batch_rows: int | None,
    result: StreamedTable,
) -> tuple[StreamedTable, list[Issue], Summary]:
    summary = Summary(spec.name)
    batch_rows = max(batch_rows or BATCH_ROWS, headers.HEADER_SEARCH_ROWS + 1)  # the header lies in the first batch
    first = result.spill
    names = _KeyNames.of(spec, result.sort_key)
    hashes: list[tuple[np.ndarray, np.ndarray]] = []
    numbers: list[np.ndarray] = []
    done: list[_File] = []
    rules = ThaiRules(spec.reference)
    for path in files:
        one = _File(path.relative_to(folder).as_posix())
        summary.files.append(one.display)
        try:
            _first_pass(spec, path, one, first, hashes, numbers, progress, batch_rows, rules, names)
        except ReadError as exc:
            message = str(exc).removeprefix(f"{one.display}: ")
            done.append(_File(one.display, [Issue("error", "source-error", message, file=one.display)]))
            continue
        done.append(one)
    first.close()
    mapped = [f for f in done if f.sheet is not None]
    sheets = [f.sheet for f in mapped if f.sheet is not None]
    sheet_of_batch = {b: i for i, f in enumerate(mapped) for b in f.batches}
    issues: list[Issue] = []
    for one in done:
        issues.extend(one.issues)
        if one.sheet is not None:
            summary.sheets.append(read.sheet_label(one.display, one.sheet.sheet))
            summary.personal_data_columns_dropped.extend(one.sheet.dropped_personal)
            summary.rows_read += one.rows
    if not summary.files:
        issues.append(Issue("error", "source-error", f"no .xlsx, .csv or .tsv files in {folder}"))
    progress.step(f"{spec.name}: normalizing and validating")
    issues.extend(_normalize_issues(spec, mapped))

    # exact duplicates across the whole table, from the rows' hashes
    live = sorted(sheet_of_batch)
    h1 = np.concatenate([hashes[i][0] for i in live]) if live else np.zeros(0, np.uint64)
    h2 = np.concatenate([hashes[i][1] for i in live]) if live else np.zeros(0, np.uint64)
    del hashes
    dup, originals = _duplicates(h1, h2)
    del h1, h2
    _trim()
    if dup.any():
        sheet_index = np.concatenate([np.full(len(numbers[i]), sheet_of_batch[i], np.int32) for i in live])
        everything = NormalizedTable(
            pd.DataFrame(), pd.DataFrame(), sheet_index, np.concatenate([numbers[i] for i in live]), sheets, spec
        )
        found = validate.duplicate_row_issues(everything, np.flatnonzero(dup), originals)
        summary.duplicates_dropped = len(found)
        issues.extend(found)
        del everything, sheet_index
    del numbers

    # the checks of each batch were made in the first pass; a batch that lost duplicate rows is
    # checked again without them (read back from the spill), the others are taken as they are
    keep = ~dup
    found = {number: checks for f in mapped for number, checks in zip(f.batches, f.checked, strict=True)}
    again: dict[int, np.ndarray] = {}
    start = 0
    for number in live:
        mask = keep[start : start + found[number].rows]
        start += len(mask)
        if not mask.all():
            again[number] = mask
    for number, batch in first.batches(again):
        table = _batch_table(spec, sheets, sheet_of_batch[number], batch.filter(pa.array(again[number])))
        found[number] = _check_batch(table, names)
        del table
    thin: dict[str, list[pa.Array]] = {n: [] for n in names.keys}
    thin_cleaned: dict[str, list[pa.Array]] = {}
    checked: list[tuple[int, list[Issue]]] = []
    personal: list[tuple[int, list[Issue]]] = []
    located: list[validate.Located] = []
    kept_sheets: list[np.ndarray] = []
    kept_rows: list[np.ndarray] = []
    offset = 0
    for number in live:
        checks = found.pop(number)
        checked.append((number, checks.values))
        located.extend((issues_found, rows + offset, rank) for issues_found, rows, rank in checks.located)
        personal.append((number, checks.personal))
        for name, text in checks.keys.items():
            thin[name].append(text)
        for name, text in checks.cleaned_keys.items():
            thin_cleaned.setdefault(name, []).append(text)
        if checks.escaped:
            result.escaped[number] = checks.escaped
        kept_sheets.append(np.full(checks.rows, sheet_of_batch[number], np.int32))
        kept_rows.append(checks.row_numbers)
        offset += checks.rows
    if not start:  # no rows: the checks still run once (a field's bad `formulas` policy is an error)
        checked.append((0, cells.check_values(_batch_table(spec, sheets, 0, None))))
    result.kept = {number: again.get(number) for number in live}
    result.rows = offset
    values = pd.DataFrame({n: pd.Series(_joined(thin.pop(n)), dtype="str") for n in names.keys})
    cleaned = pd.DataFrame({n: pd.Series(_joined(thin_cleaned.pop(n)), dtype="str") for n in list(thin_cleaned)})
    sheet_index = np.concatenate(kept_sheets) if kept_sheets else np.zeros(0, np.int32)
    row_numbers = np.concatenate(kept_rows) if kept_rows else np.zeros(0, np.int64)
    whole = NormalizedTable(values, cleaned, sheet_index, row_numbers, sheets, spec)
    located.extend(validate.cross_row_findings(whole))
    result.keys = values[result.sort_key]
    del whole, cleaned, values, thin, thin_cleaned
    _trim()

    position = {f.name: i for i, f in enumerate(spec.fields)}
    issues.extend(
        _merge(checked, position, _check_values_rank, "formula-escaped", lambda n, i: cells.more_escaped(n, i.field))
    )
    issues.extend(validate.in_row_order(located))
    issues.extend(_merge(personal, position, lambda _i: 0, None, None))
    summary.rows_published = result.rows
    progress.done()
    return result, issues, summary


def _first_pass(
    spec: DatasetSpec,
    path: Path,
    one: _File,
    spill: _Spill,
    hashes: list[tuple[np.ndarray, np.ndarray]],
    numbers: list[np.ndarray],
    progress: Progress,
    batch_rows: int,
    rules: ThaiRules,
    names: _KeyNames,
) -> None:
    """Read, map, normalize and check one file batch by batch into `spill`; its issues into `one`.
    The checks of each batch are made here, on the rows as spilled, as if none were a duplicate
    (the usual case): the build then need not read the table back."""
    width = 0
    unlabelled: dict[int, tuple[int, int]] = {}
    labelled: set[int] = set()
    hidden: list[tuple[int, list[Issue]]] = []
    header_seen = False
    for grid in read.batches(path, one.display, spec.csv_options, batch_rows, progress):
        width = max([width, *(int(c) + 1 for c in grid.cells.columns)])
        grid.cells = grid.cells.reindex(columns=range(width), fill_value="")
        if not header_seen:
            header_seen = True
            sheet, sheet_issues = headers.map_sheet(grid, spec)
            one.issues.extend(sheet_issues)
            if sheet is None:
                continue  # read on: a malformed record further down is still this file's error
            pos = int(np.flatnonzero(grid.row_numbers == sheet.header_row)[0])
            labels = grid.cells.iloc[pos].tolist()
            labelled = {c for c, label in enumerate(labels) if isinstance(label, str) and label.strip()}
            body, body_rows = grid.cells.iloc[pos + 1 :], grid.row_numbers[pos + 1 :]
            one.sheet = MappedSheet(
                sheet.file, sheet.sheet, sheet.header_row, pd.DataFrame(), np.zeros(0, np.int64),
                sheet.columns, sheet.dropped_personal,
            )  # fmt: skip
            batch = sheet
        elif one.sheet is None:
            continue
        else:
            body, body_rows = grid.cells, grid.row_numbers
            where = {"file": grid.file, "sheet": grid.sheet}
            data, rows, body_issues = headers.map_body(body, body_rows, one.sheet.columns, spec, where)
            one.issues.extend(body_issues)
            batch = MappedSheet(
                grid.file, grid.sheet, one.sheet.header_row, data, rows, one.sheet.columns, one.sheet.dropped_personal
            )
        for col, (count, row) in cells.unlabelled_counts(body, body_rows, labelled).items():
            before = unlabelled.get(col)
            unlabelled[col] = (count + before[0], before[1]) if before else (count, row)
        del grid, body
        number = spill.count
        hidden.append((number, cells.hidden_characters(batch)))
        one.rows += len(batch.data)
        table, filled, problems = normalize.normalize_steps([batch], spec, rules)
        for name, found in filled:
            one.filled.append((number, name, found))
        for problem in problems:
            one.problems.append((number, problem, normalize.problem_issues(table, problem)))
        values = table.values
        hashes.append(_row_hashes(values))
        numbers.append(np.asarray(table.row_numbers, dtype=np.int64))
        frame = pd.concat([values, table.cleaned.add_prefix(CLEANED)], axis=1)
        spilled = _text_table(frame, table.row_numbers)
        one.batches.append(spill.write(spilled))
        del table, values, frame, batch
        one.checked.append(_check_batch(_batch_table(spec, [one.sheet], 0, spilled), names))
        del spilled
        _trim()
    if one.sheet is None:
        one.issues.append(
            Issue("error", "missing-header", "no sheet with a header row of known column names", file=one.display)
        )
        return
    one.issues.extend(cells.unlabelled_issues(dict(sorted(unlabelled.items())), one.display, one.sheet.sheet))
    order = {name: i for i, name in enumerate(one.sheet.columns)}
    place = {"file": one.display, "sheet": one.sheet.sheet}
    one.issues.extend(
        _merge(hidden, order, _count_last, "invisible-character", lambda n, i: cells.more_invisible(n, i.field, place))
    )


def _count_last(issue: Issue) -> int:
    return 1 if _is_count(issue) else 0


def _is_count(issue: Issue) -> bool:
    return not issue.cell and bool(_COUNT.match(issue.message))


def _merge(
    parts: list[tuple[int, list[Issue]]],
    position: dict[str, int],
    rank: Callable[[Issue], int],
    capped: str | None,
    count: Callable[[int, Issue], Issue] | None,
) -> list[Issue]:
    """Issues of a field-by-field check made batch by batch, as one call over the whole table
    gives them: by field, then by `rank` within a field, then batch after batch. The warnings of
    type `capped` are listed up to MAX_WARNINGS_PER_TYPE per field, then counted by `count`."""
    tagged = sorted(
        (
            (position.get(i.field, len(position)), rank(i), number, n, i)
            for number, found in parts
            for n, i in enumerate(found)
        ),
        key=lambda t: t[:4],
    )
    if capped is None or count is None:
        return [t[-1] for t in tagged]
    merged: list[Issue] = []
    shown: dict[str, int] = {}
    more: dict[str, int] = {}
    last: dict[str, Issue] = {}
    for *_, issue in tagged:
        if issue.type != capped or issue.severity != "warning":
            merged.append(issue)
            continue
        if _is_count(issue):
            more[issue.field] = more.get(issue.field, 0) + int(_COUNT.match(issue.message).group(1).replace(",", ""))  # type: ignore[union-attr]
        else:
            shown[issue.field] = shown.get(issue.field, 0) + 1
            if shown[issue.field] > MAX_WARNINGS_PER_TYPE:
                more[issue.field] = more.get(issue.field, 0) + 1
            else:
                merged.append(issue)
        last[issue.field] = issue
    return _with_counts(merged, more, last, count)


def _with_counts(
    merged: list[Issue], more: dict[str, int], last: dict[str, Issue], count: Callable[[int, Issue], Issue]
) -> list[Issue]:
    """The count of each field's unlisted warnings, after that field's last issue (as the whole-table call ends a field)."""
    if not any(more.values()):
        return merged
    out: list[Issue] = []
    for i, issue in enumerate(merged):
        out.append(issue)
        name = issue.field
        if more.get(name) and (i + 1 == len(merged) or merged[i + 1].field != name):
            out.append(count(more[name], last[name]))
    return out


def _normalize_issues(spec: DatasetSpec, done: list[_File]) -> list[Issue]:
    """The issues of `normalize.normalize` over the whole table: first the filled-in values that
    disagree (field by field, in the order the normalizers run), then each normalizer's refusals
    (field by field; a field's kinds of refusal in the order its normalizer reports them)."""
    rank = {name: i for i, name in enumerate(normalize.run_order(spec))}
    filled = sorted(
        ((rank[name], number, found) for one in done for number, name, found in one.filled), key=lambda t: t[:2]
    )
    issues = [i for _, _, found in filled for i in found]
    kinds: dict[str, list[tuple[str, str]]] = {}  # field -> its kinds of refusal, in the order they come
    by_batch: dict[int, list[Problem]] = {}
    for one in done:
        for number, problem, _ in one.problems:
            by_batch.setdefault(number, []).append(problem)
    for number in sorted(by_batch):
        seen: dict[str, list[tuple[str, str]]] = {}
        for problem in by_batch[number]:
            seen.setdefault(problem.field, []).append((problem.rule, problem.related))
        for name, sequence in seen.items():
            kinds[name] = _merge_sequences(kinds.get(name, []), sequence)
    problems = sorted(
        (
            (rank[p.field], kinds[p.field].index((p.rule, p.related)), number, found)
            for one in done
            for number, p, found in one.problems
        ),
        key=lambda t: t[:3],
    )
    return issues + [i for *_, found in problems for i in found]


def _merge_sequences(known: list[tuple[str, str]], sequence: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`known` with the items of `sequence` it lacks, each put before the next item of `sequence` it has."""
    merged = list(known)
    for i, item in enumerate(sequence):
        if item in merged:
            continue
        after = next((merged.index(x) for x in sequence[i + 1 :] if x in merged), len(merged))
        merged.insert(after, item)
    return merged


def _check_values_rank(issue: Issue) -> int:
    """Within a field, `cells.check_values` lists cells too long, then formulas, then their count."""
    if issue.type == "cell-too-long":
        return 0
    return 2 if _is_count(issue) else 1


@dataclass(frozen=True)
class _KeyNames:
    """The fields whose text the checks across rows need (unique, keys, the sort order), and the
    fields their cells may come from (cell_fallback), kept as cleaned."""

    keys: list[str]
    cleaned: list[str]

    @classmethod
    def of(cls, spec: DatasetSpec, sort_key: list[str]) -> _KeyNames:
        keys = list(dict.fromkeys([*validate.cross_row_fields(spec), *sort_key]))
        return cls(keys, list(dict.fromkeys(n for name in keys for n in (name, *spec.field(name).cell_fallback))))


@dataclass
class _Checked:
    """What the checks of one batch found (rows counted from the batch's first), and the text
    of its key fields."""

    rows: int
    values: list[Issue]
    located: list[validate.Located]
    personal: list[Issue]
    keys: dict[str, pa.Array]
    cleaned_keys: dict[str, pa.Array]
    row_numbers: np.ndarray
    escaped: dict[str, tuple[np.ndarray, pa.Array]]  # field -> the rows `formulas: escape` changed, their text


def _check_batch(table: NormalizedTable, names: _KeyNames) -> _Checked:
    """The checks of one row at a time (cells, Table Schema, personal data) on one batch, and
    the values the cell guard escaped (it changes `table.values`; the spill keeps them as read)."""
    escapable = [f.name for f in table.spec.fields if f.formulas == "escape" and f.type == "string"]
    before = {name: _large_text(table.values[name]) for name in escapable}
    values, located, personal = cells.check_values(table), validate.cell_findings(table), validate.personal_data(table)
    escaped = {}
    for name, text in before.items():
        now = _large_text(table.values[name])
        rows = np.flatnonzero(pc.invert(pc.fill_null(pc.equal(text, now), True)).to_numpy(zero_copy_only=False))
        if len(rows):
            escaped[name] = (rows, now.take(pa.array(rows)))
    keys = {name: _large_text(table.values[name]) for name in names.keys}
    cleaned_keys = {}
    for name in names.cleaned:
        if name in table.cleaned.columns:
            text = _large_text(table.cleaned[name])
            if name in keys and text.equals(keys[name]):
                text = keys[name]  # the same buffers: a key keyed as published costs nothing twice
            cleaned_keys[name] = text
    return _Checked(len(table.values), values, located, personal, keys, cleaned_keys, table.row_numbers, escaped)


def _large_text(column: pd.Series) -> pa.Array:
    """A text column as Arrow large_string: pandas' str columns wrap it without a copy."""
    return pa.array(column, type=pa.large_string(), from_pandas=True)


def _batch_table(
    spec: DatasetSpec, sheets: list[MappedSheet], index: int, batch: pa.RecordBatch | pa.Table | None
) -> NormalizedTable:
    """A spilled batch as the NormalizedTable the stage functions take."""
    if batch is None:
        empty = pd.DataFrame({n: pd.Series([], dtype="str") for n in spec.field_names})
        return NormalizedTable(empty, empty.copy(), np.zeros(0, np.int32), np.zeros(0, np.int64), sheets, spec)
    frame = batch.to_pandas()
    cleaned = {c.removeprefix(CLEANED): frame[c] for c in frame.columns if c.startswith(CLEANED)}
    return NormalizedTable(
        frame[spec.field_names],
        pd.DataFrame(cleaned),
        np.full(len(frame), index, dtype=np.int32),
        frame[ROW].to_numpy(),
        sheets,
        spec,
    )


def _joined(arrays: list[pa.Array]) -> pa.ChunkedArray:
    return pa.chunked_array(arrays, type=pa.large_string())


MISSING_HASH = np.uint64(0x9E3779B97F4A7C15)  # a missing value's hash, apart from every text's (even "")


def _row_hashes(values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each row (SipHash under each of HASH_KEYS, pandas'
    `hash_array`): each column's distinct values are hashed once (dictionary-encoded by Arrow),
    and a row's columns are combined in order as pandas' `hash_pandas_object` combines them.
    (That function hashed the whole frame once per key: 0.6 s of a million-row build.)"""
    per_key: list[list[np.ndarray]] = [[] for _ in HASH_KEYS]
    for name in values.columns:
        text = _large_text(values[name])
        if isinstance(text, pa.ChunkedArray):  # a column of several Arrow chunks: one dictionary
            text = text.combine_chunks()
        encoded = pc.dictionary_encode(text, null_encoding="encode")
        distinct = encoded.dictionary.fill_null("").to_numpy(zero_copy_only=False)
        missing = encoded.dictionary.is_null().to_numpy(zero_copy_only=False)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        for hashed, key in zip(per_key, HASH_KEYS, strict=True):
            found = pd.util.hash_array(distinct, hash_key=key, categorize=False)
            found[missing] = MISSING_HASH
            hashed.append(found[codes])
    first, second = (_combined(columns, len(values)) for columns in per_key)
    return first, second


def _combined(columns: list[np.ndarray], rows: int) -> np.ndarray:
    """One hash per row from its columns' hashes, order-sensitive (CPython's old tuple hash)."""
    out = np.full(rows, 0x345678, dtype=np.uint64)
    factor = np.uint64(1000003)
    for i, column in enumerate(columns):
        out ^= column
        out *= factor
        factor += np.uint64(82520 + 2 * (len(columns) - i))
    return out + np.uint64(97531)


def _duplicates(h1: np.ndarray, h2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(which rows repeat an earlier row, the first row each repeat repeats), by two 64-bit hashes
    of the whole row: equal rows are next to each other in a stable sort, the earliest first.
    Past the sort, only the repeats (few) are worked on: at ten million rows every array of the
    table's length is another 80 MB at the build's peak."""
    dup = np.zeros(len(h1), dtype=bool)
    if len(h1) < 2:
        return dup, np.zeros(0, np.int64)
    order = np.lexsort((h2, h1))
    first = h1[order]
    at = np.flatnonzero(first[1:] == first[:-1]) + 1  # sorted positions whose first hash repeats
    del first
    at = at[h2[order[at]] == h2[order[at - 1]]]  # and the second too: a repeat of the row before
    if not len(at):
        return dup, np.zeros(0, np.int64)
    # each run of repeats follows the row it repeats: the position before the run's first
    starts = np.ones(len(at), dtype=bool)
    starts[1:] = at[1:] != at[:-1] + 1
    original = order[(at[starts] - 1)[np.cumsum(starts) - 1]]
    rows = order[at]
    dup[rows] = True
    return dup, original[np.argsort(rows, kind="stable")]


class StreamedTable:
    """The normalized rows of a streamed build, on disk; `publish.stage` asks it to write itself."""

    def __init__(self, spec: DatasetSpec, work: Path) -> None:
        self.work = work
        self.spill = _Spill(work / "normalized.arrow")  # every batch read, normalized (and cleaned)
        self.kept: dict[int, np.ndarray | None] = {}  # the batches published: the rows kept (None: all)
        self.escaped: dict[int, dict[str, tuple[np.ndarray, pa.Array]]] = {}  # of the rows kept: see _Checked
        self.columns = [*spec.field_names, ROW]
        self.rows = 0
        self.sort_key: list[str] = list(spec.table_schema.get("primaryKey") or [spec.field_names[0]])
        self.keys = pd.DataFrame()
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(work), True)

    def discard(self) -> None:
        """Remove the spilled batches now (a build stopped midway: not when the object is collected)."""
        self._cleanup()

    def __len__(self) -> int:
        return self.rows

    def stage(self, spec: DatasetSpec, staging: Path) -> dict[str, Path]:
        """Write the published files: a table small enough for a JSON or XLSX copy is handed to
        `publish.stage` whole; a larger one's CSV is written sorted by the primary key, bucket by
        bucket (no copy at that size), then the descriptor."""
        if self.rows <= max(publish.JSON_MAX_ROWS, publish.XLSX_MAX_ROWS):
            parts = list(self._sorted())
            whole = pa.concat_tables(parts).to_pandas() if parts else self._empty(spec)
            return publish.stage(spec, whole, staging)
        files = {"csv": staging / f"{spec.resource['name']}.csv"}
        tables = (publish.ordered_for_output(part, spec) for part in self._sorted())
        digest = publish.write_csv_parts(tables, spec.field_names, files["csv"], bare=publish.bare_fields(spec))
        descriptor = publish.package_descriptor(spec, files, {"csv": digest})
        files["datapackage"] = staging / "datapackage.json"
        files["datapackage"].write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return files

    @staticmethod
    def _empty(spec: DatasetSpec) -> pd.DataFrame:
        return pd.DataFrame({n: pd.Series([], dtype="str") for n in spec.field_names})

    def _kept_batches(self) -> Iterator[pa.RecordBatch]:
        """The published rows of the spilled batches, in the order read (a file that failed
        midway and the exact duplicates left out), formulas escaped."""
        for number, batch in self.spill.batches(self.kept):
            mask = self.kept[number]
            batch = (batch if mask is None else batch.filter(pa.array(mask))).select(self.columns)
            for name, (rows, text) in self.escaped.get(number, {}).items():
                at = batch.schema.get_field_index(name)
                where = np.zeros(batch.num_rows, dtype=bool)
                where[rows] = True
                column = pc.replace_with_mask(batch.column(at), pa.array(where), text.cast(batch.column(at).type))
                batch = batch.set_column(at, name, column)
            yield batch

    def _sorted(self) -> Iterator[pa.Table]:
        """The rows in published order (stable by the sort key, as `publish.table_for_output`), a bucket at a time."""
        if not self.rows:
            return
        order = pc.sort_indices(
            pa.table({n: self.keys[n] for n in self.sort_key}), [(n, "ascending") for n in self.sort_key]
        )
        order = order.to_numpy()
        if np.all(order[1:] > order[:-1]):  # already in order: no bucket is needed
            for batch in self._kept_batches():
                yield pa.Table.from_batches([batch])
            return
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        del order
        buckets = [_Spill(self.work / f"bucket-{i}.arrow") for i in range((self.rows - 1) // BUCKET_ROWS + 1)]
        start = 0
        for batch in self._kept_batches():
            ranks = rank[start : start + batch.num_rows]
            start += batch.num_rows
            which = ranks // BUCKET_ROWS
            table = pa.Table.from_batches([batch]).append_column("\0rank", pa.array(ranks))
            for b in np.unique(which):
                buckets[b].write(table.filter(pa.array(which == b)))
        del rank
        for bucket in buckets:
            table = pa.Table.from_batches([batch for _, batch in bucket.batches()])
            table = table.take(pc.sort_indices(table, [("\0rank", "ascending")]))
            bucket.path.unlink()
            yield table.drop_columns(["\0rank"])
            del table
            _trim()
