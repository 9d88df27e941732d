"""Many datasets in one run: each builds and publishes on its own, and the run says which failed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline import pages
from pipeline.cli import main
from pipeline.run import Config, build

from .conftest import DATASET, HEADER, REPO, SCHEMAS, entry, folder_args, write_xlsx

OTHER = "second-dataset"


class Two:
    """RAW_DIR with the contest dataset and a copy of its schema under another name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = root / "raw"
        self.published = root / "published"
        self.reports = root / "reports"
        self.schemas = root / "schemas"
        shutil.copytree(SCHEMAS, self.schemas)
        shutil.copytree(SCHEMAS / DATASET, self.schemas / OTHER)
        for name in (DATASET, OTHER):
            self.write(name, [HEADER, entry(f"{name[:1].upper()}1")])

    def write(self, name: str, rows: list[list[object]]) -> None:
        write_xlsx(self.raw / name / "a.xlsx", {"ผลงาน": rows})

    def config(self, *datasets: str) -> Config:
        return Config(self.raw, self.published, self.reports, self.schemas, datasets=datasets)

    def args(self, command: str = "build", *extra: str) -> list[str]:
        return [command, *folder_args(self.raw, self.published, self.reports, self.schemas), *extra]

    def files(self, name: str) -> dict[str, bytes]:
        folder = self.published / name
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}

    def listed(self) -> list[str]:
        return pages.listed_datasets((self.published / "index.html").read_text(encoding="utf-8"))


def summary_table(out: str) -> dict[str, list[str]]:
    """The table that ends a run: dataset -> its cells (columns are separated by two spaces or more)."""
    start = [m.start() for m in re.finditer(r"^dataset +status", out, flags=re.M)][-1]
    lines = out[start:].splitlines()
    rows = [re.split(r"  +", line.strip()) for line in lines[1:] if line.strip()]
    return {row[0]: row[1:] for row in rows if len(row) > 1}


@pytest.fixture
def two(tmp_path: Path) -> Two:
    return Two(tmp_path)


def test_one_invalid_dataset_does_not_stop_the_other(two: Two, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(two.args()) == 0
    first = two.files(DATASET)
    two.write(DATASET, [HEADER, entry("D1", province="ภูเก้ต")])  # now invalid
    two.write(OTHER, [HEADER, entry("S1"), entry("S2")])  # changed and valid
    code = main(two.args())
    out = capsys.readouterr()
    assert code == 1
    assert two.files(DATASET) == first, "the invalid dataset keeps what it had published, byte for byte"
    rows = (two.published / OTHER / "entries.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 3, "the valid one published its two rows"
    table = summary_table(out.out)
    assert table[DATASET][:5] == ["INVALID (kept what was published)", "1", "-", "2", "0"]  # province and its code
    assert table[OTHER][:5] == ["published", "2", "2", "0", "0"]
    assert f"1 of 2 dataset(s) failed (each kept what it had published): {DATASET}" in out.out
    assert sorted(two.listed()) == sorted([DATASET, OTHER])


def test_a_broken_schema_fails_its_dataset_alone_with_exit_2(two: Two, capsys) -> None:  # type: ignore[no-untyped-def]
    (two.schemas / OTHER / "entries.schema.json").write_text("{ not json", encoding="utf-8")
    code = main(two.args())
    out = capsys.readouterr()
    assert code == 2
    assert two.files(DATASET), "the dataset with a good schema is published"
    assert not two.files(OTHER)
    assert f"{OTHER}: failed" in out.err and "cannot load its schema files" in out.err
    assert two.listed() == [DATASET]


def test_a_bug_in_one_dataset_exits_70_and_the_other_publishes(two: Two, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import pipeline.validate

    real = pipeline.validate.validate
    phone = "081-234-5678"

    def broken_for_one(table):  # type: ignore[no-untyped-def]
        if "S1" in set(table.values["entry_id"]):
            raise ValueError(f"cell {phone}")
        return real(table)

    monkeypatch.setattr("pipeline.validate.validate", broken_for_one)
    two.write(OTHER, [HEADER, entry("S1")])
    code = main(two.args())
    err = capsys.readouterr().err
    assert code == 70
    assert "internal error (ValueError)" in err and phone not in err
    assert two.files(DATASET) and not two.files(OTHER)


def test_folder_without_schema_is_a_warning_naming_the_scaffold_command(two: Two, capsys) -> None:  # type: ignore[no-untyped-def]
    write_xlsx(two.raw / "stray-folder" / "x.xlsx", {"Sheet": [["ก", "ข"], [1, 2]]})
    code = main(two.args())
    out = capsys.readouterr()
    assert code == 0
    assert f"make new DATASET=stray-folder FROM={two.raw / 'stray-folder' / 'x.xlsx'}" in out.err
    assert summary_table(out.out)["stray-folder"][0] == "skipped (no schema)"
    assert sorted(two.listed()) == sorted([DATASET, OTHER])
    document = json.loads(_json_run(two, capsys))
    skipped = next(d for d in document["datasets"] if d["dataset"] == "stray-folder")
    assert skipped["status"] == "skipped" and document["ok"] is True


def _json_run(two: Two, capsys) -> str:  # type: ignore[no-untyped-def]
    assert main(two.args("build", "--json", "--force")) == 0
    return capsys.readouterr().out


def test_asking_for_a_dataset_without_schema_is_an_error(two: Two, capsys) -> None:  # type: ignore[no-untyped-def]
    write_xlsx(two.raw / "stray-folder" / "x.xlsx", {"Sheet": [["ก"], [1]]})
    assert main(two.args("build", "--dataset", "stray-folder")) == 2
    assert "no schema for dataset 'stray-folder'" in capsys.readouterr().err


def test_dataset_option_builds_only_that_one(two: Two) -> None:
    results = build(two.config(OTHER))
    assert [(r.name, r.status) for r in results] == [(OTHER, "published")]
    assert not two.files(DATASET)
    assert two.listed() == [OTHER]
    results = build(two.config())
    assert [(r.name, r.status) for r in results] == [(DATASET, "published"), (OTHER, "unchanged")]
    assert sorted(two.listed()) == sorted([DATASET, OTHER])


def test_catalog_follows_what_is_published_even_when_nothing_was_rebuilt(two: Two) -> None:
    build(two.config())
    shutil.rmtree(two.published / OTHER)  # withdrawn by hand
    results = build(two.config())
    assert [r.status for r in results] == ["unchanged", "published"]  # OTHER is rebuilt
    (two.raw / OTHER / "a.xlsx").unlink()
    (two.raw / OTHER).rmdir()
    shutil.rmtree(two.published / OTHER)
    assert [r.status for r in build(two.config())] == ["unchanged"]
    assert two.listed() == [DATASET], "the page no longer lists a dataset that is not published"


def test_validate_checks_each_dataset_and_reports_all(two: Two, capsys) -> None:  # type: ignore[no-untyped-def]
    two.write(OTHER, [HEADER, entry("S1", result="อาจจะ")])
    assert main(two.args("validate")) == 1
    table = summary_table(capsys.readouterr().out)
    assert table[DATASET][0] == "valid" and table[OTHER][0].startswith("INVALID")
    assert (two.reports / DATASET / "validation.json").is_file()
    assert (two.reports / OTHER / "validation.json").is_file()
    assert not two.published.exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(
    ("target", "variables", "expected"),
    [
        ("build", ["DATASET=one"], '--dataset "one"'),
        ("build", ["DATASET=one two"], '--dataset "one" --dataset "two"'),
        ("push", ["DATASET=one"], 'push --published-dir "data/published" --schemas-dir "schemas" --dataset "one"'),
        ("plan", ["DATASET=one"], '--dataset "one"'),
        ("validate", ["DATASET=one"], '--dataset "one"'),
        ("new", ["DATASET=one", "FROM=a b.xlsx"], 'new "one" --from "a b.xlsx"'),
        ("new", ["DATASET=one", "FROM=x.csv", "FORCE=1"], "--force"),
    ],
)
def test_make_passes_dataset_as_option(target: str, variables: list[str], expected: str) -> None:
    done = subprocess.run(
        ["make", "-n", target, *variables],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    command = next(line for line in done.stdout.splitlines() if "-m pipeline" in line)
    assert expected in command


def test_make_build_without_dataset_passes_none() -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    done = subprocess.run(["make", "-n", "build"], capture_output=True, text=True, cwd=REPO, check=True)
    command = next(line for line in done.stdout.splitlines() if "-m pipeline" in line)
    assert "--dataset" not in command


def test_push_refuses_a_descriptor_with_todo_values_before_asking_the_portal(two: Two, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    build(two.config())
    descriptor_path = two.schemas / OTHER / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    descriptor["x_portal"]["gdcatalog"]["maintainer"] = "TODO: ผู้ดูแลชุดข้อมูล"
    descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("CKAN_API_TOKEN", "not-a-real-token")
    # nothing listens on port 9: had the portal been asked, this would be exit 3
    code = main(two.args("push", "--dataset", OTHER, "--ckan-url", "http://127.0.0.1:9"))
    err = capsys.readouterr().err
    assert code == 2
    assert "x_portal.gdcatalog.maintainer" in err and "not pushed" in err


SECOND = "province-admin-areas"


@pytest.mark.skipif(not (REPO / "schemas" / SECOND).is_dir(), reason="the second dataset is not in this checkout")
def test_make_publishes_both_committed_datasets(sample_raw: Path, tmp_path: Path) -> None:
    """`make` on the committed data/raw: the contest and the second dataset, of another shape, both publish."""
    import csv

    from frictionless import validate as frictionless_validate

    published = tmp_path / "published"
    results = build(Config(sample_raw, published, tmp_path / "reports", SCHEMAS))
    assert {r.name: r.status for r in results} == {DATASET: "published", SECOND: "published"}
    for name in (DATASET, SECOND):
        report = frictionless_validate(str(published / name / "datapackage.json"))
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    with (published / SECOND / f"{SECOND}.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["province"]: r for r in csv.DictReader(fh)}
    assert len(rows) == 77
    assert sum(r["coastal"] == "true" for r in rows.values()) == 23
    assert rows["กรุงเทพมหานคร"]["capital_district"] == "พระนคร" and rows["กรุงเทพมหานคร"]["coastal"] == "true"
    assert rows["ภูเก็ต"]["district_count"] == "3" and rows["ภูเก็ต"]["capital_district_code"] == "8301"
    assert rows["พะเยา"]["coastal"] == "false"
    # the counts are what the reference tables hold, as the descriptor says
    districts = list(csv.DictReader((SCHEMAS / "reference" / "th-districts.csv").open(encoding="utf-8")))
    assert sum(int(r["district_count"]) for r in rows.values()) == len(districts)
    second = next(r for r in results if r.name == SECOND)
    warnings = {i.type for i in second.issues if i.severity == "warning"}
    assert {"duplicate-row", "missing-header", "extra-label"} <= warnings  # the workbook is messy, and says so
    assert pages.listed_datasets((published / "index.html").read_text(encoding="utf-8")) == [DATASET, SECOND]
