"""Stage 5, publish: write the dataset's files into a staging folder, then swap it in.

The published folder is replaced as a whole only after every file was written, so a
failed or interrupted build leaves what was published before byte-for-byte as it was.
Outputs are deterministic (no timestamps), so the same input gives the same bytes.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.dataset import DatasetSpec
from pipeline.errors import PublishError

ARROW_TYPES = {"integer": pa.int64(), "number": pa.float64()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_for_output(values: pd.DataFrame, spec: DatasetSpec) -> pa.Table:
    """Rows sorted by the primary key, columns typed as the schema says (empty -> null)."""
    key = spec.table_schema.get("primaryKey") or [spec.field_names[0]]
    ordered = values.sort_values(key, kind="stable").reset_index(drop=True)
    columns = {}
    for f in spec.fields:
        col = ordered[f.name].astype("str")
        array = pa.array(col.mask(col == ""), type=pa.string(), from_pandas=True)
        if f.type in ARROW_TYPES:
            array = array.cast(ARROW_TYPES[f.type])
        columns[f.name] = array
    return pa.table(columns)


def write_csv(table: pa.Table, path: Path) -> None:
    """UTF-8 with BOM (so Excel shows Thai), quoted only where needed, LF line ends."""
    with path.open("wb") as fh:
        fh.write(codecs.BOM_UTF8)
        pacsv.write_csv(table, fh, pacsv.WriteOptions(quoting_style="needed", include_header=True))


def package_descriptor(spec: DatasetSpec, files: dict[str, Path], rows: int) -> dict[str, Any]:
    """The published datapackage.json: the dataset descriptor, portal-only keys removed,
    each resource with its inline schema, byte size and sha256."""
    descriptor = {k: v for k, v in spec.descriptor.items() if not k.startswith("x_")}
    main = dict(spec.resource)
    main.update(
        {
            "path": files["csv"].name,
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8-sig",
            "schema": spec.table_schema,
        }
    )
    resources = [main]
    for resource in resources:
        path = files["csv"]
        resource["bytes"] = path.stat().st_size
        resource["hash"] = f"sha256:{sha256_file(path)}"
    descriptor["resources"] = resources
    return descriptor


def stage(spec: DatasetSpec, values: pd.DataFrame, staging: Path) -> dict[str, Path]:
    """Write every published file of the dataset into `staging`."""
    table = table_for_output(values, spec)
    resource_name = spec.resource["name"]
    files = {"csv": staging / f"{resource_name}.csv"}
    write_csv(table, files["csv"])
    descriptor = package_descriptor(spec, files, table.num_rows)
    files["datapackage"] = staging / "datapackage.json"
    files["datapackage"].write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return files


def publish(
    spec: DatasetSpec, values: pd.DataFrame, published_dir: Path, extra_files: dict[str, str] | None = None
) -> Path:
    """Build the dataset folder aside and swap it in; returns the published folder."""
    published_dir.mkdir(parents=True, exist_ok=True)
    target = published_dir / spec.name
    recover(published_dir, spec.name)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.name}-", dir=published_dir))
    try:
        stage(spec, values, staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        os.chmod(staging, 0o755)
        swap_in(staging, target)
    except OSError as exc:
        raise PublishError(f"{spec.name}: cannot write {published_dir}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by `staging`: rename the old folder aside, rename the new one in."""
    retired = target.with_name(f".retired-{target.name}")
    if retired.exists():
        shutil.rmtree(retired)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    if retired.exists():
        shutil.rmtree(retired)


def recover(published_dir: Path, name: str) -> None:
    """After a crash between the two renames of `swap_in`, put the old folder back."""
    target, retired = published_dir / name, published_dir / f".retired-{name}"
    if retired.exists() and not target.exists():
        os.replace(retired, target)
    for leftover in published_dir.glob(f".staging-{name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
