"""The bounded-memory build of large CSV input (pipeline/stream.py) against the in-memory build:
the same published bytes, the same issues in the same order, the same report. The streamed
path is forced on small generated exports (threshold 0, small batches), so that every
batch boundary, duplicate across batches and sort across buckets is exercised."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import big_csv
from pipeline import pages, publish, stream
from pipeline.run import Config, DatasetResult, build, check

from .conftest import DATASET, HEADER, SCHEMAS, entry, write_csv


def _build_both(raw: Path, root: Path, schemas: Path = SCHEMAS, command=build) -> tuple[DatasetResult, DatasetResult]:  # type: ignore[no-untyped-def]
    results = []
    for mode, stream_bytes in (("memory", None), ("stream", 0)):
        config = Config(raw, root / f"pub-{mode}", root / f"rep-{mode}", schemas, stream_bytes=stream_bytes)
        [result] = command(config)
        assert result.bug is None and result.error is None, (result.bug, result.error)
        results.append(result)
    return results[0], results[1]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_same(root: Path, memory: DatasetResult, streamed: DatasetResult) -> None:
    assert [i.to_dict() for i in streamed.issues] == [i.to_dict() for i in memory.issues]
    assert streamed.summary == memory.summary
    assert streamed.status == memory.status
    assert _files(root / "rep-stream") == _files(root / "rep-memory")
    if (root / "pub-memory").exists():
        assert _files(root / "pub-stream") == _files(root / "pub-memory")
    assert not list((root / "pub-stream").glob(".spill-*")), "the spilled batches are removed"


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "BATCH_ROWS", 7_000)
    monkeypatch.setattr(stream, "BUCKET_ROWS", 9_000)


def test_200k_messy_export_streamed_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200,000 records with exact duplicates (some far apart), invisible marks, a repeated header,
    blank lines and spare values: published, and byte for byte what the in-memory build publishes."""
    monkeypatch.setattr(stream, "BATCH_ROWS", 45_000)
    monkeypatch.setattr(stream, "BUCKET_ROWS", 60_000)
    raw = tmp_path / "raw"
    big_csv.write(raw / DATASET / "export.csv", 200_000, errors=0.0, seed=11, messy=0.02)
    memory, streamed = _build_both(raw, tmp_path)
    assert memory.status == "published"
    assert memory.summary.duplicates_dropped > 1_000
    kinds = {i.type for i in memory.issues}
    assert {"duplicate-row", "invisible-character", "repeated-header", "unlabelled-cells"} <= kinds
    _assert_same(tmp_path, memory, streamed)


def test_errors_across_batches_are_the_in_memory_ones(tmp_path: Path, small_batches: None) -> None:
    """Refused rows (keys repeated across batches, bad years and dates, formulas, control characters)
    and capped warnings: the same issues, the same order, the same report."""
    raw = tmp_path / "raw"
    big_csv.write(raw / DATASET / "export.csv", 40_000, errors=0.03, seed=5, messy=0.05)
    memory, streamed = _build_both(raw, tmp_path)
    assert memory.status == "invalid"
    kinds = {i.type for i in memory.issues}
    assert {"unique-error", "primary-key", "formula-injection", "control-character", "type-error"} <= kinds
    counted = [i for i in memory.issues if i.type == "invisible-character" and i.message.startswith("…")]
    assert counted, "more than 200 invisible marks in a column: listed up to the cap, then counted"
    _assert_same(tmp_path, memory, streamed)


def test_check_streams_too(tmp_path: Path, small_batches: None) -> None:
    raw = tmp_path / "raw"
    big_csv.write(raw / DATASET / "export.csv", 15_000, errors=0.03, seed=8)
    memory, streamed = _build_both(raw, tmp_path, command=check)
    _assert_same(tmp_path, memory, streamed)


@pytest.fixture
def titles_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Schemas whose project_title escapes formulas (`formulas: escape`), and JSON and XLSX copies
    only up to 5,000 rows, so that a table of 20,000 is written bucket by bucket."""
    monkeypatch.setattr(publish, "JSON_MAX_ROWS", 5_000)
    monkeypatch.setattr(publish, "XLSX_MAX_ROWS", 5_000)
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    fields = schemas / DATASET / "fields.yaml"
    config = yaml.safe_load(fields.read_text(encoding="utf-8"))
    config["fields"]["project_title"]["formulas"] = "escape"
    fields.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return schemas


def test_escaped_formulas_are_capped_over_the_whole_table(
    tmp_path: Path, small_batches: None, titles_escaped: Path
) -> None:
    """`formulas: escape`: the first 200 cells named over all batches, the rest counted, values escaped;
    a table above the JSON copy's size is written bucket by bucket, byte for byte as in memory."""
    rows = [HEADER] + [entry(f"E-{i:06d}", title=f"=SUM(A{i})" if i % 40 == 0 else "ระบบทดสอบ") for i in range(20_000)]
    write_csv(tmp_path / "raw" / DATASET / "export.csv", rows)
    memory, streamed = _build_both(tmp_path / "raw", tmp_path, titles_escaped)
    assert memory.status == "published"
    assert any(i.type == "formula-escaped" and i.message.startswith("… and 300 more") for i in memory.issues)
    assert sorted(p.name for p in (tmp_path / "pub-memory" / DATASET).iterdir()) == [
        ".build-fingerprint",
        "datapackage.json",
        "entries.csv",
    ]
    _assert_same(tmp_path, memory, streamed)


def test_a_batch_that_loses_duplicates_is_checked_again_without_them(
    tmp_path: Path, small_batches: None, titles_escaped: Path
) -> None:
    """The checks of each batch are made as it is read; a batch that then loses exact duplicates
    (within it and across batches, formula cells among them) is checked again: the issues, the
    escaped values and the rows published are still the in-memory build's."""
    rows = [entry(f"E-{i:06d}", title=f"=SUM(A{i})" if i % 30 == 0 else f"ระบบ {i}") for i in range(20_000)]
    repeated = [rows[i] for i in (0, 30, 31, 6_990, 7_020, 13_500, 19_980)]
    body = rows[:3_000] + repeated + rows[3_000:15_000] + repeated[::-1] + rows[15_000:]
    write_csv(tmp_path / "raw" / DATASET / "export.csv", [HEADER, *body])
    memory, streamed = _build_both(tmp_path / "raw", tmp_path, titles_escaped)
    assert memory.status == "published"
    assert memory.summary.duplicates_dropped == 2 * len(repeated)
    assert any(i.type == "formula-escaped" for i in memory.issues)
    _assert_same(tmp_path, memory, streamed)


def test_a_file_unreadable_midway_counts_for_nothing_but_its_error(tmp_path: Path, small_batches: None) -> None:
    """A record too wide for a spreadsheet far down a file: the file gives only that error, as in memory;
    a second file without a header and a third that is fine are reported as the in-memory build does."""
    folder = tmp_path / "raw" / DATASET
    rows = [HEADER] + [entry(f"A-{i:06d}") for i in range(12_000)]
    rows.insert(10_000, ["x"] * 20_000)
    write_csv(folder / "a.csv", rows)
    write_csv(folder / "b.csv", [["หัวข้อ", "อื่น"], ["1", "2"]])
    write_csv(folder / "c.csv", [["รายงาน"], HEADER] + [entry(f"C-{i:06d}") for i in range(8_000)] * 2)
    memory, streamed = _build_both(tmp_path / "raw", tmp_path)
    assert {"source-error", "missing-header", "duplicate-row"} <= {i.type for i in memory.issues}
    _assert_same(tmp_path, memory, streamed)


def test_only_large_utf8_csv_input_streams(tmp_path: Path) -> None:
    folder = tmp_path / "raw" / DATASET
    utf8 = write_csv(folder / "a.csv", [HEADER, entry()])
    size = utf8.stat().st_size
    assert stream.wanted([utf8], {}, size)
    assert not stream.wanted([utf8], {}, size + 1), "below the threshold: the in-memory build"
    assert not stream.wanted([utf8], {}, None)
    thai = write_csv(folder / "b.csv", [HEADER, entry()], encoding="cp874")
    assert not stream.wanted([thai], {}, 0), "a Thai code page is told apart by the whole-file reader"
    assert stream.wanted([thai], {"encoding": "cp874"}, 0), "unless fields.yaml names it"
    xlsx_named_csv = folder / "c.csv"
    xlsx_named_csv.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    assert not stream.wanted([utf8, xlsx_named_csv], {}, 0)


def test_catalog_page_tallies_the_published_csv_block_by_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog's charts count a ten-million-row CSV a block at a time: a page tallied in
    4 KB blocks is the page tallied in one block."""
    raw = tmp_path / "raw"
    big_csv.write(raw / DATASET / "export.csv", 3_000, errors=0.0, seed=3, messy=0.02)
    config = Config(raw, tmp_path / "pub", tmp_path / "rep", SCHEMAS)
    [result] = build(config)
    assert result.status == "published"
    whole = (tmp_path / "pub" / "index.html").read_bytes()
    assert "จำนวนแถว".encode() in whole
    monkeypatch.setattr(pages, "CATALOG_BLOCK_BYTES", 4096)
    pages.write_catalog(tmp_path / "pub")
    assert (tmp_path / "pub" / "index.html").read_bytes() == whole


CELLS = st.sampled_from(["", "x", "x ", "y", "ก", "๑", "nan", "None", None]) | st.text(max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS, CELLS), max_size=40), st.integers(0, 40))
def test_row_hashes_find_exactly_the_rows_pandas_finds_repeated(rows: list[tuple[object, ...]], cut: int) -> None:
    """The streamed build's exact duplicates, from hashes of batches hashed apart, are the rows
    pandas' `duplicated` finds in the whole table (a missing cell equals a missing cell only,
    not "" nor the text "nan"); each repeat points at the first row it repeats."""
    frame = pd.DataFrame({c: pd.Series([r[i] for r in rows], dtype="str") for i, c in enumerate("abc")})
    later = pd.concat([frame.iloc[cut : cut + 3], frame.iloc[cut + 3 :]], ignore_index=True)  # columns of 2 chunks
    parts = [stream._row_hashes(frame.iloc[:cut]), stream._row_hashes(later)]
    dup, originals = stream._duplicates(*(np.concatenate([p[k] for p in parts]) for k in (0, 1)))
    expected = frame.duplicated(keep="first").to_numpy()
    assert dup.tolist() == expected.tolist()
    group = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy() if rows else []
    first_of = {g: i for i, g in reversed(list(enumerate(group)))}
    assert originals.tolist() == [first_of[group[row]] for row in np.flatnonzero(dup)]
