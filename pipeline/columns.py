"""Text columns between pandas and Arrow without a Python object per cell.

Normalization works per distinct value (a million rows hold a few thousand distinct
provinces, dates or names); these helpers spread the per-distinct results back onto every
row with one Arrow `take`, and hand validation the Arrow array behind a pandas column.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

T = TypeVar("T")
R = TypeVar("R")
PARALLEL_ROWS = 10_000  # below this, threads cost more than they save


def column_threads(columns: int, rows: int) -> int:
    """Threads for work per column: one per core (at most one per column) from PARALLEL_ROWS rows, else 1."""
    return max(1, min(columns, os.cpu_count() or 1)) if rows >= PARALLEL_ROWS else 1


def per_column(work: Callable[[T], R], items: Sequence[T], rows: int) -> list[R]:
    """`work` on each column's item, in order; side by side on the machine's cores when the table
    has PARALLEL_ROWS or more (Arrow's kernels, which do the work, release the GIL)."""
    workers = column_threads(len(items), rows)
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))


def map_distinct(values: pd.Series, rule: Callable[[str], T]) -> tuple[np.ndarray, list[T]]:
    """`rule` applied once per distinct value: (code of each row, result of each code)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, [rule(u) for u in uniques]


def spread(codes: np.ndarray, results: Sequence[str | None], index: pd.Index) -> pd.Series:
    """A str column holding results[codes[i]] in row i (None -> missing), via one Arrow take."""
    column = pa.array(results, type=pa.large_string()).take(pa.array(codes, type=pa.int64()))
    return pd.Series(pd.array(column, dtype="str"), index=index)


def spread_or_keep(codes: np.ndarray, results: Sequence[str | None], text: pd.Series) -> pd.Series:
    """`spread`, with the row's own text (missing: "") where its result is None: one Arrow
    `coalesce` (a pandas `where` took ten times as long)."""
    read = pa.array(results, type=pa.large_string()).take(pa.array(codes, type=pa.int64()))
    kept = pc.coalesce(read, pc.cast(arrow_text(text), pa.large_string()))
    return pd.Series(pd.array(kept, dtype="str"), index=text.index)


def arrow_text(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The column as Arrow strings, empty string for missing. Zero-copy for Arrow-backed str:
    chunks are kept as they are (kernels and `take` accept them; combining copies every string)."""
    array = pa.array(values, from_pandas=True)
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.large_string())
    return pc.fill_null(array, "") if array.null_count else array


def map_distinct_rows(columns: Sequence[pd.Series], rule: Callable[..., T]) -> tuple[np.ndarray, list[T]]:
    """`rule(a, b, …)` applied once per distinct tuple of values of the same row (columns of
    equal length): (code of each row, result of each code). Codes are combined as integers,
    never by joining text, so no two tuples can collide."""
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for values in columns:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        combined, _ = pd.factorize(combined * len(uniques) + codes)  # stays below rows² < 2**63
    first = np.unique(combined, return_index=True)[1]  # codes are 0..k-1 in order of first row
    tuples = zip(*(values.take(first).tolist() for values in columns), strict=True)
    return combined, [rule(*t) for t in tuples]
