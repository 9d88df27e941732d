"""Shared fixtures: tiny workbooks written with openpyxl into a temporary RAW_DIR."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from pipeline.run import Config
from pipeline.safety import SheetScan

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
DATASET = "local-digital-innovation-contest"
HEADER = ["รหัสผลงาน", "ปี พ.ศ.", "ชื่อ อปท.", "ประเภท อปท.", "จังหวัด", "ชื่อผลงาน", "วันที่ส่งผลงาน", "ผลการพิจารณา"]


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]], origin: tuple[int, int] = (1, 1)) -> Path:
    """A workbook whose sheets hold `rows`, the first row at `origin` (row, column), 1-based."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is not None and value != "":
                    ws.cell(row=origin[0] + i, column=origin[1] + j, value=value)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8-sig", delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def entry(
    entry_id: str = "T-1",
    year: object = 2564,
    org: str = "อบต.ทดสอบ",
    kind: str = "",
    province: str = "ชลบุรี",
    title: str = "ระบบทดสอบ",
    submitted: object = "",
    result: str = "ผ่าน",
) -> list[object]:
    return [entry_id, year, org, kind, province, title, submitted, result]


def scans_split_everywhere(xml: bytes, first: int = 0) -> Iterator[tuple[int, SheetScan]]:
    """`xml` scanned as two blocks cut at every place from `first` on: (cut, the finished scan)."""
    for cut in range(first, len(xml) + 1 - first):
        scan = SheetScan()
        scan.feed(xml[:cut])
        scan.feed(xml[cut:])
        scan.close()
        yield cut, scan


def folder_args(raw: Path, published: Path, reports: Path, schemas: Path) -> list[str]:
    """The four folder options of `python -m pipeline build|validate`, as a test passes them."""
    return [
        "--raw-dir",
        str(raw),
        "--published-dir",
        str(published),
        "--reports-dir",
        str(reports),
        "--schemas-dir",
        str(schemas),
    ]


class Workspace:
    """A temporary RAW_DIR / PUBLISHED_DIR / REPORTS_DIR with the project's real schemas."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = root / "raw"
        self.published = root / "published"
        self.reports = root / "reports"
        self.dataset_dir = self.raw / DATASET
        self.dataset_dir.mkdir(parents=True)

    @property
    def config(self) -> Config:
        return Config(self.raw, self.published, self.reports, SCHEMAS)

    def cli_args(self, command: str = "build") -> list[str]:
        return [command, *folder_args(self.raw, self.published, self.reports, SCHEMAS)]

    def xlsx(self, name: str, rows: list[list[object]], sheet: str = "ผลงาน", **kw: object) -> Path:
        return write_xlsx(self.dataset_dir / name, {sheet: rows}, **kw)

    def published_csv(self) -> Path:
        return self.published / DATASET / "entries.csv"

    def snapshot(self) -> dict[str, bytes]:
        """Every file under PUBLISHED_DIR, by relative path, with its bytes."""
        if not self.published.exists():
            return {}
        return {
            p.relative_to(self.published).as_posix(): p.read_bytes()
            for p in sorted(self.published.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def sample_raw(tmp_path: Path) -> Path:
    """A copy of the committed sample raw data."""
    target = tmp_path / "sample-raw"
    shutil.copytree(REPO / "data" / "raw", target)
    return target
