"""Thin command line: parse arguments, call `pipeline.run`, print, map failures to exit codes.

Exit codes: 0 success; 1 the data is invalid (nothing published); 2 usage or
environment error (missing folder, bad schema); 3 the CKAN portal refused or failed;
70 a bug in the pipeline itself (EX_SOFTWARE), so scripts can tell it from bad data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline import __version__, run, scaffold
from pipeline.errors import ConfigError, PipelineError
from pipeline.issues import printable
from pipeline.progress import Progress

DEFAULT_CKAN_URL = "http://127.0.0.1:5000"
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_PORTAL, EXIT_BUG = 0, 1, 2, 3, 70
MAX_PRINTED_ISSUES = 1000

PORTAL_HELP = """

The API token is read from the environment, never from the command line:
CKAN_API_TOKEN, or the file named by CKAN_API_TOKEN_FILE (default .ckan/apitoken,
written by `make ckan-up` for the local portal). It is never printed."""

EPILOG = """exit codes:
  0  success
  1  invalid data: every problem is listed; that dataset published nothing (the others did)
  2  usage or environment error (bad option, missing folder, unreadable schema)
  3  the CKAN portal refused or could not be reached
  70 a bug in the pipeline, not in the data (where it failed is printed)
"""


def dataset_name(value: str) -> str:
    """A dataset's folder name as typed or tab-completed (`name/`, `./name`) -> `name`."""
    name = os.path.normpath(value.strip()) if value.strip() else ""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not a dataset name (a folder name under --raw-dir)")
    return name


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--raw-dir",
        type=Path,
        default=Path("data/raw"),
        help="raw workbooks, one folder per dataset (default: data/raw)",
    )
    parser.add_argument(
        "--published-dir",
        type=Path,
        default=Path("data/published"),
        help="where validated datasets are published (default: data/published)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports"),
        help="validation reports, kept outside the published folder (default: reports)",
    )
    parser.add_argument(
        "--schemas-dir",
        type=Path,
        default=Path("schemas"),
        help="dataset descriptors, Table Schemas and reference tables (default: schemas)",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME",
        type=dataset_name,
        help="only this dataset (repeatable; default: every folder under --raw-dir)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON summary instead of text")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines (errors and the summary still print)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Turn hand-keyed Thai contest workbooks into validated open datasets and push them to CKAN.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"opendata-pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser(
        "build",
        help="read, normalize, validate and publish every dataset",
        description="Read every workbook/CSV of each dataset, normalize and validate it, and publish it atomically "
        "(CSV + datapackage.json). Each dataset on its own: one with an error keeps what it had published and "
        "does not stop the others; the exit code is the worst one's. Datasets whose inputs, "
        "schema and pipeline code did not change are skipped.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_paths(p)
    p.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for another build on the same published folder (default: 300)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=1,
        metavar="N",
        help="build up to N datasets side by side in separate processes (default: 1; `make` passes the machine's cores)",
    )
    p = sub.add_parser(
        "validate",
        help="check every dataset without publishing",
        description="Read, normalize and validate every dataset; write the reports; publish nothing.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_paths(p)
    for name, help_text, description in (
        (
            "push",
            "push every published dataset to a CKAN portal",
            "Create or update the organization, dataset, resources and DataStore table of every published dataset "
            "so the portal equals what is published. Files are uploaded only when their sha256 changed, DataStore rows "
            "only when their content changed; a second push with nothing changed writes nothing.",
        ),
        (
            "plan",
            "show what `push` would change, change nothing",
            "Compare every published dataset with the portal and print create / update / unchanged for each "
            "organization, dataset and resource, and the DataStore rows to insert / update / delete.",
        ),
    ):
        p = sub.add_parser(
            name,
            help=help_text,
            description=description + PORTAL_HELP,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_paths(p)
        p.add_argument("--ckan-url", default=None, help=f"portal URL (default: $CKAN_URL or {DEFAULT_CKAN_URL})")
        p.add_argument(
            "--allow-http",
            action="store_true",
            help="allow a plain http:// portal URL that is not this machine (the token then travels in clear; "
            "also CKAN_ALLOW_HTTP=1). Without it such a URL is refused",
        )
    p = sub.add_parser(
        "new",
        help="start a dataset's schema from a workbook or CSV",
        description="Find the header of FILE as the build does, guess each column's field name, type and normalizer "
        "from its values (Thai provinces, districts, Buddhist-Era years, Thai dates and digits, separators, yes/no "
        "words), and write schemas/DATASET/ (datapackage.json, the Table Schema, fields.yaml) for you to review; "
        "FILE is copied under RAW_DIR/DATASET/. What a table cannot tell (publisher, licence, contacts) is written "
        "as TODO: the build warns, the push refuses until it is filled.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="DATASET", help="the new dataset's name: lowercase letters, digits, - or _")
    p.add_argument("--from", dest="source", type=Path, required=True, metavar="FILE", help="a .xlsx workbook or .csv")
    p.add_argument("--raw-dir", type=Path, default=Path("data/raw"), help="where FILE is copied (default: data/raw)")
    p.add_argument("--schemas-dir", type=Path, default=Path("schemas"), help="where the schema is written")
    p.add_argument("--force", action="store_true", help="replace an existing schema of that name")
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON summary instead of text")
    p = sub.add_parser(
        "normalizers",
        help="list the normalizers a fields.yaml may name, with their options",
        description="Print every normalizer (`normalize: <name>` in fields.yaml): what it reads, what it writes, "
        "its options and an example.",
    )
    p.add_argument("--markdown", action="store_true", help="print the README's normalizer table instead")
    return parser


def use_system_allocator() -> None:
    """Arrow's default pool (mimalloc) keeps what the read freed for Arrow alone; with the
    system allocator, normalization reuses it: 1M rows peak 2.24 GB -> 1.76 GB, same speed."""
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())


def main(argv: Sequence[str] | None = None) -> int:
    use_system_allocator()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "new":
        return _new(args)
    if args.command == "normalizers":
        from pipeline.normalizers import describe

        print(describe(markdown=args.markdown))
        return EXIT_OK
    config = run.Config(
        raw_dir=args.raw_dir,
        published_dir=args.published_dir,
        reports_dir=args.reports_dir,
        schemas_dir=args.schemas_dir,
        datasets=tuple(args.dataset),
        force=getattr(args, "force", False),
        lock_timeout=getattr(args, "lock_timeout", 300.0),
        jobs=getattr(args, "jobs", 1),
        progress=Progress(enabled=not args.json and not getattr(args, "quiet", False)),
    )
    try:
        if args.command in ("push", "plan"):
            return _push(args, config)
        results = run.build(config) if args.command == "build" else run.check(config)
    except PipelineError as exc:
        _fail(str(exc), args.json, exc.exit_code)
        return exc.exit_code
    except Exception as exc:  # a bug: say where, but not the message, which may quote a cell
        _fail(_bug_report(exc), args.json, EXIT_BUG)
        return EXIT_BUG
    code = run.exit_code(results)
    if args.json:
        print(
            json.dumps(
                {"ok": code == EXIT_OK, "datasets": [_result_json(r) for r in results]}, ensure_ascii=False, indent=2
            )
        )
    else:
        for result in results:
            _print_result(result)
        _print_summary_table(results, args.command)
    return code


def _push(args: argparse.Namespace, config: run.Config) -> int:
    """Push (or plan) each published dataset on its own: one the portal refuses does not stop the others."""
    from pipeline import ckan  # imported here: building does not need the HTTP stack

    url = args.ckan_url or os.environ.get("CKAN_URL") or DEFAULT_CKAN_URL
    allow_http = args.allow_http or os.environ.get("CKAN_ALLOW_HTTP", "").strip().lower() in ("1", "true", "yes")
    portal = ckan.Portal(url, ckan.read_token(), allow_http=allow_http)
    dry_run = args.command == "plan"

    def show(change: ckan.Change) -> None:
        if not args.json:
            print(portal.scrub(change.line()), flush=True)

    folders = ckan.published_datasets(config.published_dir, config.datasets)
    failures: dict[str, PipelineError] = {}
    for folder in folders:  # checked locally before the portal is asked anything
        todo = scaffold.unfilled(config.schemas_dir / folder.name / "datapackage.json")
        if todo:
            failures[folder.name] = ConfigError(
                f"{folder.name}: not pushed: schemas/{folder.name}/datapackage.json still has values to fill "
                f"(written as TODO by `pipeline new`): " + ", ".join(todo)
            )
            if not args.json:
                print(f"Error: {failures[folder.name]}", file=sys.stderr)
    ready = [f for f in folders if f.name not in failures]
    try:
        if ready:
            portal.check_reachable()  # unreachable: one message, not one per dataset
    except PipelineError as exc:  # whatever the message quotes, the token is not printed
        exc.args = (portal.scrub(str(exc)),)
        raise
    changes: list[ckan.Change] = []
    planned: dict[str, dict[str, object]] = {}  # what this plan would already have made: counted once, as in a push
    for folder in ready:
        try:
            changes.extend(
                ckan.push(
                    portal,
                    config.published_dir,
                    config.schemas_dir,
                    dry_run=dry_run,
                    datasets=(folder.name,),
                    on_change=show,
                    planned=planned,
                )
            )
        except PipelineError as exc:
            exc.args = (portal.scrub(str(exc)),)
            failures[folder.name] = exc
            if not args.json:
                print(f"Error: {exc}", file=sys.stderr)
    pending = ckan.pending(changes)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not failures,
                    "dry_run": dry_run,
                    "url": portal.url,
                    "write_calls": len(portal.writes),
                    "pending": pending,
                    "changes": [c.to_dict() for c in changes],
                    "failed": {name: str(exc) for name, exc in failures.items()},
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif dry_run:
        print(f"plan: {pending} change(s) to make at {portal.url}; nothing was changed")
    else:
        print(f"push: {pending} change(s) made at {portal.url} with {len(portal.writes)} write call(s)")
    if failures and not args.json:
        print(f"{len(failures)} of {len(folders)} dataset(s) not pushed: " + ", ".join(failures), file=sys.stderr)
    return max((exc.exit_code for exc in failures.values()), default=EXIT_OK)


def _new(args: argparse.Namespace) -> int:
    try:
        made = scaffold.new_dataset(args.name, args.source, args.schemas_dir, args.raw_dir, force=args.force)
    except PipelineError as exc:
        _fail(str(exc), args.json, exc.exit_code)
        return exc.exit_code
    except Exception as exc:  # a bug: say where, but not the message, which may quote a cell
        _fail(_bug_report(exc), args.json, EXIT_BUG)
        return EXIT_BUG
    fields = [
        {"name": g.name, "title": g.title, "type": g.type, "normalize": g.normalize, **g.options, "why": g.why}
        for g in made.guesses
    ]
    if args.json:
        document = {
            "ok": True,
            "dataset": made.dataset,
            "schema": str(made.schema_dir),
            "raw": str(made.raw_copy),
            "header": made.header,
            "rows": made.rows,
            "fields": fields,
            "primary_key": made.primary_key,
            "personal_data": made.personal,
            "todo": made.todo,
            "other_files": made.other_files,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{made.dataset}: header at {made.header}, {made.rows} row(s) under it")
    width = max(len(g.name) for g in made.guesses)
    for g in made.guesses:
        extra = "".join(f", {k}: {v}" for k, v in g.options.items())
        print(f"  {g.name.ljust(width)}  {g.type:<8} normalize: {g.normalize}{extra}  ← {g.label} ({g.why})")
    print(
        f"  primary key: {', '.join(made.primary_key) if made.primary_key else 'none found (no column or pair is unique)'}"
    )
    if made.personal:
        print(f"  personal data, read and dropped: {', '.join(made.personal)}")
    print(f"wrote {made.schema_dir}/ (datapackage.json, {made.dataset}.schema.json, fields.yaml)")
    print(f"copied the file to {made.raw_copy}")
    if made.other_files:
        print(
            f"note: {made.raw_copy.parent} also holds {', '.join(made.other_files)}; the build reads every file there"
        )
    print(f"{len(made.todo)} value(s) marked TODO in datapackage.json: `make push` refuses them until filled")
    print(f"next: review the three files, then `make DATASET={made.dataset}`")
    return EXIT_OK


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _bug_report(exc: BaseException) -> str:
    """Where the pipeline failed (source lines of its own code), without the exception's
    text: that text can quote a cell value, and cell values may be personal data."""
    kind, frames = run.bug_location(exc)
    return (
        f"internal error ({kind}); this is a bug in the pipeline, not in your data. "
        "Please report it with these lines:\n" + frames.rstrip()
    )


def _fail(message: str, as_json: bool, code: int) -> None:
    if as_json:
        print(json.dumps({"ok": False, "error": message, "exit_code": code}, ensure_ascii=False))
    else:
        print(f"Error: {printable(message, lines=True)}", file=sys.stderr)


def _result_json(result: run.DatasetResult) -> dict[str, object]:
    return {
        "dataset": result.name,
        "status": result.status,
        "summary": result.summary.to_dict(result.issues),
        "report": str(result.report) if result.report else None,
        "published": str(result.published) if result.published else None,
        "errors": [i.to_dict() for i in result.errors],
        "warnings": [i.to_dict() for i in result.issues if i.severity == "warning"]
        if result.status == "skipped"
        else [],
        "failure": _failure_text(result) or None,
    }


def _failure_text(result: run.DatasetResult) -> str:
    """Why a dataset failed outright (schema, environment or a bug), never quoting a cell."""
    if result.bug is not None:
        return _bug_report(result.bug)
    return str(result.error) if result.error is not None else ""


def _print_result(result: run.DatasetResult) -> None:
    s = result.summary
    if result.status == "unchanged":
        print(printable(f"{result.name}: unchanged (inputs, schema and code as at the last build); skipped"))
        return
    if result.status == "failed":
        print(printable(f"{result.name}: failed — {_failure_text(result)}", lines=True), file=sys.stderr)
        return
    if result.status == "skipped":
        for issue in result.issues:
            print(printable(f"WARNING {issue.message}"), file=sys.stderr)
        return
    out = sys.stdout if result.status != "invalid" else sys.stderr
    for printed, issue in enumerate(result.issues):
        if printed == MAX_PRINTED_ISSUES:
            print(f"… {len(result.issues) - printed} more in {result.report}", file=out)
            break
        print(issue.line(), file=out)
    errors = len(result.errors)
    warnings = len(result.issues) - errors
    line = (
        f"{result.name}: {result.status} — {len(s.files)} file(s), {len(s.sheets)} sheet(s), "
        f"{s.rows_read} row(s) read, {s.rows_published if result.status != 'invalid' else 0} row(s) to publish, "
        f"{s.duplicates_dropped} duplicate(s) dropped, "
        f"{errors} error(s), {warnings} warning(s)"
    )
    print(printable(line), file=out)
    if result.published:
        print(printable(f"  published: {result.published}"), file=out)
    if result.report:
        print(printable(f"  report:    {result.report}"), file=out)


STATUS_WORDS = {
    "published": "published",
    "unchanged": "unchanged",
    "valid": "valid",
    "invalid": "INVALID (kept what was published)",
    "failed": "FAILED",
    "skipped": "skipped (no schema)",
}


def _print_summary_table(results: list[run.DatasetResult], command: str) -> None:
    """One line per dataset, so a run over many datasets ends with what happened to each."""
    rows = [("dataset", "status", "rows read", "rows out", "errors", "warnings", "report")]
    for r in results:
        s = r.summary
        counted = r.status not in ("unchanged", "failed", "skipped")
        rows.append(
            (
                r.name,
                STATUS_WORDS.get(r.status, r.status),
                f"{s.rows_read:,}" if counted else "-",
                f"{s.rows_published:,}" if counted and r.status != "invalid" else "-",
                str(len(r.errors)) if counted else "-",
                str(len(r.issues) - len(r.errors)),
                str(r.report) if r.report else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    bad = [r for r in results if r.status in ("invalid", "failed")]
    if bad:
        kept = " (each kept what it had published)" if command == "build" else ""
        print(f"{len(bad)} of {len(results)} dataset(s) failed{kept}: " + ", ".join(r.name for r in bad))
    else:
        print(f"{len(results)} dataset(s): all ok")
