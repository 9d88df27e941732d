"""Chains the stages: read -> map -> normalize -> validate -> publish, per dataset.

Library entry points (`build`, `check`) used by the CLI and by tests; no printing here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import pickle
import shlex
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock
import pandas as pd

from pipeline import cells, headers, memory, normalize, pages, paths, pdpa, publish, read, scaffold, stream, validate
from pipeline.dataset import DatasetSpec, check_schema, load_dataset
from pipeline.errors import BuildLocked, ConfigError, PipelineError, ReadError
from pipeline.issues import Issue, cap_warnings
from pipeline.progress import QUIET, Progress
from pipeline.report import Summary, write_report
from pipeline.sheetblocks import NotInBlocks

FINGERPRINT_FILE = read.OUTPUT_MARK  # raw discovery refuses folders holding one


@dataclass(frozen=True)
class Config:
    raw_dir: Path
    published_dir: Path
    reports_dir: Path
    schemas_dir: Path
    datasets: tuple[str, ...] = ()
    force: bool = False
    progress: Progress = QUIET
    lock_timeout: float = 300.0
    jobs: int = 1  # datasets built side by side in this many processes
    stream_bytes: int | None = stream.STREAM_BYTES  # CSV input this large is built in bounded memory


SCAFFOLD_COMMAND = "make new DATASET={name} FROM={source}"


@dataclass
class DatasetResult:
    name: str
    # "published", "unchanged", "valid" (checked only), "invalid" (the data's errors),
    # "failed" (its schema or the environment is wrong, or a bug), "skipped" (a folder without a schema)
    status: str
    summary: Summary
    issues: list[Issue] = field(default_factory=list)
    report: Path | None = None
    published: Path | None = None
    error: PipelineError | None = None  # why it "failed", when the environment or schema is wrong
    bug: BaseException | None = None  # why it "failed", when the pipeline itself broke

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def exit_code(self) -> int:
        """0 ok (skipped included), 1 invalid data, 2 schema/environment, 70 a bug."""
        if self.bug is not None:
            return 70
        if self.error is not None:
            return self.error.exit_code
        return 1 if self.status == "invalid" else 0


def exit_code(results: list[DatasetResult]) -> int:
    """One code for a run of many datasets: the worst one's (a bug > environment > data)."""
    codes = {r.exit_code for r in results}
    for code in (70, 3, 2, 1):
        if code in codes:
            return code
    return 0


def has_schema(config: Config, name: str) -> bool:
    return (config.schemas_dir / name / "datapackage.json").is_file()


def dataset_names(config: Config) -> list[str]:
    """Datasets to build: the folders under RAW_DIR (or those asked for)."""
    if not config.raw_dir.is_dir():
        raise ConfigError(f"raw data folder not found: {config.raw_dir}")
    names = list(dict.fromkeys(config.datasets)) or sorted(
        p.name for p in config.raw_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not names:
        raise ConfigError(f"no dataset folders under {config.raw_dir}")
    return names


def _skipped(config: Config, name: str) -> DatasetResult | None:
    """A folder under RAW_DIR with no schema (when not asked for by name) is a warning, not a failure."""
    if config.datasets or has_schema(config, name) or (config.schemas_dir / name).is_dir():
        return None
    try:
        files = read.raw_files(config.raw_dir / name)
    except ReadError:
        files = []
    source = shlex.quote(files[0].as_posix()) if files else "<workbook-or-csv>"
    warning = Issue(
        "warning",
        "no-schema",
        f"folder {name!r} under {config.raw_dir} has no schema in {config.schemas_dir / name}; skipped. "
        f"Start one from its workbook: {SCAFFOLD_COMMAND.format(name=name, source=source)}",
        file=name,
    )
    return DatasetResult(name, "skipped", Summary(name), [warning])


class WorkerBug(Exception):
    """A bug in a worker process, carried back to the parent with its kind and where it
    happened, but without its text (which may quote a cell)."""

    def __init__(self, kind: str, where: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.where = where

    def __reduce__(self) -> tuple[type[WorkerBug], tuple[str, str]]:
        return WorkerBug, (self.kind, self.where)


def bug_location(exc: BaseException) -> tuple[str, str]:
    """The kind of a bug and the last source lines it went through, never its message."""
    if isinstance(exc, WorkerBug):
        return exc.kind, exc.where
    return type(exc).__name__, "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)[-6:]))


def _failed(name: str, exc: BaseException) -> DatasetResult:
    if isinstance(exc, PipelineError):
        return DatasetResult(name, "failed", Summary(name), error=exc)
    return DatasetResult(name, "failed", Summary(name), bug=exc)


def process(
    spec: DatasetSpec,
    raw_dir: Path,
    progress: Progress = QUIET,
    published_dir: Path | None = None,
    stream_bytes: int | None = stream.STREAM_BYTES,
) -> tuple[pd.DataFrame | stream.StreamedTable, list[Issue], Summary]:
    """Read, map, normalize and validate one dataset; returns rows ready to publish (a raw file
    that is a copy of what `published_dir` holds for it is refused, never read back). CSV input
    of `stream_bytes` or more is built batch by batch in bounded memory (`pipeline/stream.py`)."""
    memory.reuse_freed_blocks()
    summary = Summary(spec.name)
    issues: list[Issue] = []
    mapped: list[headers.MappedSheet] = []
    folder = raw_dir / spec.name
    if not folder.is_dir():
        raise ConfigError(f"raw data folder not found: {folder}")
    files, skipped = read.discover(folder, published_dir / spec.name if published_dir else None)
    issues.extend(skipped)
    if stream.wanted(files, spec.csv_options, stream_bytes):
        check_schema(spec)
        try:
            streamed, found, summary = stream.process(spec, folder, files, progress, published_dir)
            return streamed, _finish(spec, issues + found, summary), summary
        except NotInBlocks as exc:  # the same rows, read whole: only the memory differs
            progress.step(f"{spec.name}: a workbook is read whole ({exc})")
    # the Table Schema check and validation's setup on another thread, started as the first file
    # is parsed (a workbook is parsed in Rust without the GIL; its safety scan needs both cores)
    ready = _Ahead(lambda: _prepare(spec))
    for path in files:
        display = path.relative_to(folder).as_posix()
        summary.files.append(display)
        try:
            grids = read.read_file(path, display, spec.csv_options, progress, before_parse=ready.begin)
        except ReadError as exc:
            issues.append(Issue("error", "source-error", str(exc).removeprefix(f"{display}: "), file=display))
            continue
        file_sheets = 0
        for grid in grids:
            sheet, sheet_issues = headers.map_sheet(grid, spec)
            issues.extend(sheet_issues)
            if sheet is None:
                continue
            issues.extend(cells.unlabelled_cells(grid, sheet))
            issues.extend(cells.hidden_characters(sheet))
            file_sheets += 1
            summary.sheets.append(read.sheet_label(display, grid.sheet))
            summary.personal_data_columns_dropped.extend(sheet.dropped_personal)
            summary.rows_read += len(sheet.data)
            mapped.append(sheet)
        grids = grid = None  # unmapped columns (contact details among them) are not kept in memory
        if not file_sheets:
            issues.append(
                Issue("error", "missing-header", "no sheet with a header row of known column names", file=display)
            )
    if not summary.files:
        issues.append(Issue("error", "source-error", f"no .xlsx, .csv or .tsv files in {folder}"))
    progress.step(f"{spec.name}: normalizing and validating")
    progress.advance(summary.rows_read)
    ready.begin()  # if no file got as far as its parser
    ready.wait()  # a Table Schema the check refuses stops the build here (exit 2), before any output
    table, row_issues = normalize.normalize(mapped, spec)
    issues.extend(row_issues)
    table, duplicate_issues = validate.drop_duplicate_rows(table)
    summary.duplicates_dropped = len(duplicate_issues)
    issues.extend(duplicate_issues)
    # three independent checks of the same table, side by side (their Arrow kernels release the GIL)
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks = [
            pool.submit(check, table) for check in (cells.check_values, validate.validate, validate.personal_data)
        ]
        for found in checks:
            issues.extend(found.result())
    summary.rows_published = len(table.values)
    progress.done()
    return table.values, _finish(spec, issues, summary), summary


class _Ahead(threading.Thread):
    """Work started early (`begin`, once) on another thread; `wait` joins it and raises what it raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self._failure: BaseException | None = None

    def begin(self) -> None:
        if self.ident is None:
            self.start()

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - raised again by wait(), on the caller's thread
            self._failure = exc

    def wait(self) -> None:
        self.join()
        if self._failure is not None:
            raise self._failure


def _prepare(spec: DatasetSpec) -> None:
    """What the build can do while the workbook is read: the pending Table Schema check, then
    validation's setup (a failure there is met again, and reported, by validation itself)."""
    check_schema(spec)
    with contextlib.suppress(Exception):
        validate.prepare(spec)


def _finish(spec: DatasetSpec, issues: list[Issue], summary: Summary) -> list[Issue]:
    """The checks of the dataset as a whole, then every issue capped and masked for the report."""
    issues.extend(_descriptor_personal_data(spec))
    issues.extend(_unfilled_metadata(spec))
    if summary.rows_published == 0 and summary.files:
        issues.append(
            Issue("error", "empty-table", "no data rows: refusing to publish an empty table over the published one")
        )
    return pdpa.mask_issues(cap_warnings(issues), spec.reference.directory)


def _descriptor_personal_data(spec: DatasetSpec) -> list[Issue]:
    """The published metadata goes through the PDPA guard too (portal-only keys excluded)."""
    public = {k: v for k, v in spec.descriptor.items() if not k.startswith("x_")}
    return [
        Issue(
            "error",
            "personal-data",
            f"looks like {pdpa.LABELS[f.kind]} in the dataset descriptor: personal data is not published (PDPA)",
            file=f"{spec.name}/datapackage.json",
            field=f.field,
            rule=f"no {f.kind.replace('_', ' ')}",
        )
        for f in pdpa.scan_payload(public, spec.reference.directory)
    ]


def _unfilled_metadata(spec: DatasetSpec) -> list[Issue]:
    """Descriptor values `pipeline new` could not know: built and published, not pushed until filled."""
    todo = scaffold.unfilled(spec.directory / "datapackage.json")
    if not todo:
        return []
    message = (
        f"{len(todo)} value(s) still say TODO in schemas/{spec.name}/datapackage.json; "
        f"`make push` refuses them until filled: {', '.join(todo)}"
    )
    return [Issue("warning", "unfilled-metadata", message, file=f"{spec.name}/datapackage.json")]


def input_fingerprint(spec: DatasetSpec, raw_dir: Path) -> str:
    """Hash of the raw files, the dataset's schema files and the pipeline's own code."""
    digest = hashlib.sha256(spec.fingerprint().encode())
    for path in read.all_files(raw_dir / spec.name):  # files not read too: their warnings must show
        digest.update(path.relative_to(raw_dir).as_posix().encode() + b"\0")
        digest.update(publish.sha256_file(path).encode())
    digest.update(_code_digest().encode())
    return digest.hexdigest()


@functools.cache
def _code_digest() -> str:
    """The pipeline's own code, hashed once per process (the same for every dataset)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _stamp(config: Config, name: str) -> list[str]:
    """The published folder's stamp: the input fingerprint it was built from, then the digest of
    the Table Schema that passed its check (older stamps have only the first line)."""
    try:
        return (config.published_dir / name / FINGERPRINT_FILE).read_text().split()
    except (OSError, UnicodeDecodeError):
        return []


def _load(config: Config, name: str) -> DatasetSpec:
    """The dataset's spec, its Table Schema check skipped if the published stamp says it passed."""
    return load_dataset(config.schemas_dir, name, checked=_stamp(config, name)[1:2], check=False)


def is_up_to_date(spec: DatasetSpec, config: Config, fingerprint: str) -> bool:
    folder = config.published_dir / spec.name
    if config.force or _stamp(config, spec.name)[:1] != [fingerprint]:
        return False
    try:
        descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all((folder / r["path"]).is_file() for r in descriptor.get("resources", []))


def check(config: Config) -> list[DatasetResult]:
    """Validate every dataset without publishing anything; one failing does not stop the others."""
    _check_folders(config)
    results = []
    for name in dataset_names(config):
        results.append(_skipped(config, name) or _guarded(name, lambda name=name: _check_one(config, name)))
    return results


def _guarded(name: str, work: Callable[[], DatasetResult]) -> DatasetResult:
    """Run one dataset's work; a schema error or a bug fails that dataset alone."""
    try:
        return work()
    except BuildLocked:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the result; the CLI reports it without its text
        return _failed(name, exc)


def _check_one(config: Config, name: str) -> DatasetResult:
    spec = load_dataset(config.schemas_dir, name)
    _values, issues, summary = process(spec, config.raw_dir, config.progress, config.published_dir, config.stream_bytes)
    result = DatasetResult(name, "invalid" if _has_errors(issues) else "valid", summary, issues)
    result.report = write_report(config.reports_dir, summary, issues, spec.table_schema.get("fields"))
    return result


def build(config: Config) -> list[DatasetResult]:
    """Validate and publish each dataset on its own: one that fails keeps what it had published
    and does not stop the others.

    One build at a time per published folder: a second one waits for the lock (up to
    `config.lock_timeout` seconds) and then gives up with a clear message, so two runs can
    never interleave their files.
    """
    _check_folders(config)
    config.published_dir.mkdir(parents=True, exist_ok=True)
    # beside the published folder, not in it: the folder holds only what is published
    lock = filelock.FileLock(str(config.published_dir.parent / f".{config.published_dir.name}.lock"))
    try:
        lock.acquire(timeout=config.lock_timeout)
    except filelock.Timeout:
        raise BuildLocked(
            f"another build is publishing into {config.published_dir} (waited {config.lock_timeout:g} s); "
            "try again when it has finished"
        ) from None
    try:
        return _build_locked(config)
    finally:
        lock.release()


def _build_locked(config: Config) -> list[DatasetResult]:
    names = dataset_names(config)
    if config.jobs > 1:
        results = _build_side_by_side(config, names)
    else:
        results = [
            _skipped(config, name) or _guarded(name, lambda name=name: build_one(config, name)) for name in names
        ]
    if any(r.status == "published" for r in results) or _catalog_stale(config.published_dir):
        pages.write_catalog(config.published_dir)
    return results


def _check_folders(config: Config) -> None:
    paths.check_separate({role: getattr(config, role) for role in paths.ROLES})


def build_one(config: Config, name: str) -> DatasetResult:
    """Read, check and (if it has no error) publish one dataset; the caller holds the lock."""
    spec = _load(config, name)
    fingerprint = input_fingerprint(spec, config.raw_dir)
    if is_up_to_date(spec, config, fingerprint):
        return DatasetResult(name, "unchanged", Summary(name), published=config.published_dir / name)
    values, issues, summary = process(spec, config.raw_dir, config.progress, config.published_dir, config.stream_bytes)
    result = DatasetResult(name, "invalid" if _has_errors(issues) else "valid", summary, issues)
    result.report = write_report(config.reports_dir, summary, issues, spec.table_schema.get("fields"))
    if result.status == "valid":
        config.progress.step(f"{spec.name}: publishing")
        result.published = publish.publish(
            spec, values, config.published_dir, extra_files={FINGERPRINT_FILE: f"{fingerprint}\n{spec.schema_digest}\n"}
        )
        result.status = "published"
        config.progress.done()
    return result


def _build_side_by_side(config: Config, names: list[str]) -> list[DatasetResult]:
    """Datasets that need building go to `config.jobs` worker processes, each published
    atomically as in a serial build; unchanged ones are recognised here without starting
    any. The lock and the catalog page stay with this process."""
    results: dict[str, DatasetResult] = {}
    todo = []
    for name in names:
        done = _skipped(config, name) or _guarded(name, lambda name=name: _unchanged(config, name))
        if done is None:
            todo.append(name)
        else:
            results[name] = done
    if len(todo) == 1:
        results[todo[0]] = _guarded(todo[0], lambda: build_one(config, todo[0]))
    elif todo:
        # the settings without the progress display (a terminal stream stays here): workers are quiet
        settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "progress"}
        config.progress.step(f"building {len(todo)} datasets in {min(config.jobs, len(todo))} processes")
        # forkserver, not fork: a forked copy of a process running Arrow's threads can deadlock
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipeline.run"])
        with ProcessPoolExecutor(max_workers=min(config.jobs, len(todo)), mp_context=context) as pool:
            futures = {name: pool.submit(_build_in_worker, settings, name) for name in todo}
            for name, future in futures.items():
                # a worker that died (killed, out of memory) fails its datasets, not the others' results
                results[name] = _guarded(name, future.result)
        config.progress.done()
    return [results[name] for name in names]


def _unchanged(config: Config, name: str) -> DatasetResult | None:
    spec = _load(config, name)
    if is_up_to_date(spec, config, input_fingerprint(spec, config.raw_dir)):
        return DatasetResult(name, "unchanged", Summary(name), published=config.published_dir / name)
    return None


def _build_in_worker(settings: dict[str, Any], name: str) -> DatasetResult:
    """`build_one` in a worker process; what goes back to the parent must survive pickling."""
    config = Config(**settings)
    result = _guarded(name, lambda: build_one(config, name))
    if result.bug is not None:
        result.bug = WorkerBug(*bug_location(result.bug))
    if result.error is not None:
        try:
            pickle.loads(pickle.dumps(result.error))
        except Exception:  # noqa: BLE001 - an exception type that cannot cross processes
            error = PipelineError(str(result.error))
            error.exit_code = result.error.exit_code
            result.error = error
    return result


def _catalog_stale(published_dir: Path) -> bool:
    """index.html must list exactly the datasets published (and be newer than each of them)."""
    index = published_dir / "index.html"
    folders = [p for p in published_dir.iterdir() if (p / "datapackage.json").is_file()]
    if not index.is_file():
        return bool(folders)  # nothing published yet: no page either
    listed = set(pages.listed_datasets(index.read_text(encoding="utf-8")))
    if listed != {p.name for p in folders}:
        return True
    stamp = index.stat().st_mtime_ns
    return any((p / "datapackage.json").stat().st_mtime_ns > stamp for p in folders)


def _has_errors(issues: list[Issue]) -> bool:
    return any(i.severity == "error" for i in issues)
