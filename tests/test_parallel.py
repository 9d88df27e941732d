"""Datasets built side by side in worker processes (`--jobs`, `make JOBS=n`): the same published
bytes, reports and outcomes as one after another; each dataset still atomic; a failure in a
worker reported as in a serial build.
"""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.many import generate_many, names
from pipeline import run
from pipeline.cli import main
from pipeline.run import Config, build

from .conftest import REPO


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def args(root: Path, published: str, jobs: int) -> list[str]:
    return [
        "build",
        "-q",
        "--jobs",
        str(jobs),
        "--raw-dir",
        str(root / "raw"),
        "--schemas-dir",
        str(root / "schemas"),
        "--published-dir",
        str(root / published),
        "--reports-dir",
        str(root / f"reports-{published}"),
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six datasets of the four generated shapes; one with bad cells."""
    root = tmp_path_factory.mktemp("many")
    generate_many(root, 6, rows=80, failing=[names(6)[2]])
    return root


def test_side_by_side_publishes_exactly_what_serial_does(corpus: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "copy"
    shutil.copytree(corpus, root)
    serial_code = main(args(root, "serial", 1))
    serial_out = capsys.readouterr()
    parallel_code = main(args(root, "parallel", 3))
    parallel_out = capsys.readouterr()
    assert serial_code == parallel_code == 1  # one dataset has bad cells
    serial, parallel = files(root / "serial"), files(root / "parallel")
    assert sorted(p.split("/")[0] for p in serial if p.endswith("datapackage.json")) == [
        n for n in names(6) if n != names(6)[2]
    ]
    assert "index.html" in serial
    assert parallel == serial
    assert files(root / "reports-parallel") == files(root / "reports-serial")
    # the same lines for the officer, in the same order (only the folder names differ)
    assert parallel_out.out.replace("parallel", "X") == serial_out.out.replace("serial", "X")
    assert parallel_out.err.replace("parallel", "X") == serial_out.err.replace("serial", "X")


def test_side_by_side_keeps_each_dataset_atomic(corpus: Path, tmp_path: Path) -> None:
    """A dataset whose new input is bad keeps what it had published; the others update."""
    root = tmp_path / "copy"
    shutil.copytree(corpus, root)
    config = Config(root / "raw", root / "pub", root / "reports", root / "schemas", jobs=2)
    build(config)
    before = files(root / "pub")
    budget, other = names(6)[1], names(6)[5]  # two budget CSVs
    csv_path = root / "raw" / budget / "งบประมาณ-2566.csv"
    text = csv_path.read_bytes().replace(b"BG-000002", b"BG-000001")  # an id keyed twice
    csv_path.write_bytes(text)
    # the other's schema gains a header spelling: rebuilt and published again, the same rows
    fields = root / "schemas" / other / "fields.yaml"
    mapping = yaml.safe_load(fields.read_text(encoding="utf-8"))
    mapping["fields"]["amount"]["aliases"].append("จำนวนเงินงบประมาณ")
    fields.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    results = {r.name: r for r in build(config)}
    assert results[budget].status == "invalid" and results[other].status == "published"
    assert {r.status for n, r in results.items() if n not in (budget, other, names(6)[2])} == {"unchanged"}
    after = files(root / "pub")
    assert {k: v for k, v in after.items() if k.startswith(budget)} == {
        k: v for k, v in before.items() if k.startswith(budget)
    }
    assert after[f"{other}/budget.csv"] == before[f"{other}/budget.csv"]
    assert after[f"{other}/.build-fingerprint"] != before[f"{other}/.build-fingerprint"]


def test_a_broken_schema_in_a_worker_fails_that_dataset_alone(corpus: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "copy"
    shutil.copytree(corpus, root)
    contest = names(6)[0]
    (root / "schemas" / contest / "fields.yaml").write_text("fields: [unclosed\n", encoding="utf-8")
    code = main(args(root, "pub", 2))
    err = capsys.readouterr().err
    assert code == 2
    assert f"{contest}: failed" in err and "cannot load its schema files" in err
    published = {p.name for p in (root / "pub").iterdir() if p.is_dir()}
    assert published == {n for n in names(6) if n not in (contest, names(6)[2])}


def test_a_bug_in_a_worker_comes_back_with_where_it_happened_not_its_text(
    corpus: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """What a worker sends back survives pickling and still says where the bug was; the
    exception's text (it may quote a cell) does not travel. A monkeypatch does not reach a
    pool's worker processes, so the worker's function runs here and its result is pickled."""
    phone = "081-234-5678"

    def broken(table):  # type: ignore[no-untyped-def]
        raise ValueError(f"cell {phone}")

    monkeypatch.setattr("pipeline.validate.validate", broken)
    config = Config(corpus / "raw", tmp_path / "pub", tmp_path / "reports", corpus / "schemas", jobs=2)
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "progress"}
    result = pickle.loads(pickle.dumps(run._build_in_worker(settings, names(6)[0])))
    assert result.status == "failed" and result.exit_code == 70
    kind, where = run.bug_location(result.bug)
    assert kind == "ValueError"
    assert "in broken" in where and "pipeline/run.py" in where
    assert phone not in where and phone not in repr(result.bug) and phone not in str(result.bug)
    assert not (tmp_path / "pub" / names(6)[0]).exists()


def test_jobs_must_be_positive(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([*args(tmp_path, "pub", 0)]) == 2
    assert "must be 1 or more" in capsys.readouterr().err


@pytest.mark.parametrize(("variables", "expected"), [([], None), (["JOBS=3"], '--jobs "3"')])
def test_make_passes_jobs_default_the_cores(variables: list[str], expected: str | None) -> None:
    done = subprocess.run(["make", "-n", "build", *variables], capture_output=True, text=True, cwd=REPO, check=True)
    command = next(line for line in done.stdout.splitlines() if "-m pipeline" in line)
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    assert (expected or f'--jobs "{cores}"') in command
