"""The orchestrated run (pipeline/orchestrate.py): generated datasets of three shapes, one with
bad cells, run as Prefect tasks in this process against a temporary Prefect server, and pushed
to the real local CKAN portal.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from prefect.testing.utilities import prefect_test_harness

from benchmarks.many import generate_many, names
from pipeline import ckan, orchestrate

from .test_ckan_portal import CKAN_URL, admin, portal_token  # noqa: F401  (the `admin` fixture)


@pytest.fixture(scope="module", autouse=True)
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (SQLite in a temporary folder) for this module."""
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # the server would try to send telemetry
    with prefect_test_harness(server_startup_timeout=90):
        yield


class Corpus:
    """Three generated datasets (contest workbook, budget CSV, events workbook); the budget one fails."""

    def __init__(self, root: Path) -> None:
        self.prefix = f"orch{uuid.uuid4().hex[:6]}"
        self.names = names(3, self.prefix)
        self.failing = self.names[1]
        self.raw, self.schemas = generate_many(root, 3, rows=120, failing=[self.failing], prefix=self.prefix)
        self.published = root / "published"
        self.reports = root / "reports"

    def paths(self) -> dict[str, str]:
        return {
            "raw_dir": str(self.raw),
            "published_dir": str(self.published),
            "reports_dir": str(self.reports),
            "schemas_dir": str(self.schemas),
        }

    def rows(self, name: str) -> int:
        resource = json.loads((self.published / name / "datapackage.json").read_text(encoding="utf-8"))["resources"][0]
        with (self.published / name / resource["path"]).open(encoding="utf-8-sig", newline="") as fh:
            return sum(1 for _ in csv.reader(fh)) - 1


def task_runs(flow_run_id: object) -> dict[str, object]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name: r for r in runs}


def push_intervals(flow_run_id: object, datasets: list[str]) -> dict[str, list[float]]:
    """When each dataset's push held its portal slot, from the run's own logs in the Prefect
    server (sent in batches: waited for until both lines of every push are there)."""
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        spans: dict[str, list[float]] = {}
        for log in logs:
            if ": push to " in log.message and log.message.endswith(("started", "finished")):
                spans.setdefault(log.message.split(":")[0], []).append(log.timestamp.timestamp())
        if sorted(spans) == sorted(datasets) and all(len(s) == 2 for s in spans.values()):
            return spans
        if time.monotonic() > deadline:
            raise AssertionError(f"push log lines missing from the Prefect server: {spans}")
        time.sleep(0.2)


@pytest.mark.ckan
def test_three_datasets_one_failing_build_and_push_as_tasks(tmp_path: Path, admin: ckan.Portal) -> None:  # noqa: F811
    corpus = Corpus(tmp_path)
    good = [n for n in corpus.names if n != corpus.failing]
    try:
        state = orchestrate.publish_datasets(
            **corpus.paths(), ckan_url=CKAN_URL, portal_concurrency=1, return_state=True
        )
        # the run is failed and names the failing dataset only; the others went all the way
        assert state.is_failed()
        failure = state.result(raise_on_failure=False)
        assert isinstance(failure, orchestrate.DatasetsFailed)
        assert str(failure) == f"1 of 3 dataset(s) failed: {corpus.failing}"
        assert "DataInvalid" in failure.outcomes[corpus.failing]["failed"]
        for name in good:
            outcome = failure.outcomes[name]
            assert outcome["build"] == "published" and outcome["rows"] == corpus.rows(name)
            assert outcome["portal_changes"] > 0
            package = admin.call("package_show", id=name)
            table = next(r for r in package["resources"] if r["url"].endswith(".csv"))
            assert admin.call("datastore_search", resource_id=table["id"], limit=0)["total"] == corpus.rows(name)
        # the failing dataset: nothing published, nothing on the portal, every problem in its report
        assert not (corpus.published / corpus.failing).exists()
        report = json.loads((corpus.reports / corpus.failing / "validation.json").read_text(encoding="utf-8"))
        assert report["summary"]["errors"] == len(report["errors"]) > 0
        assert admin.show("package_show", id=corpus.failing) is None

        # visible runs: one task run per dataset, named after it; bad data is not retried
        runs = task_runs(state.state_details.flow_run_id)
        assert {name: runs[name].state.type.value for name in corpus.names} == {
            good[0]: "COMPLETED",
            corpus.failing: "FAILED",
            good[1]: "COMPLETED",
        }
        assert runs[corpus.failing].run_count == 1

        # one slot for this portal: the two pushes did not overlap
        spans = push_intervals(state.state_details.flow_run_id, good)
        first, second = sorted(sorted(s) for s in spans.values())
        assert first[1] <= second[0]
    finally:
        for name in good:
            with contextlib.suppress(Exception):
                admin.call("dataset_purge", id=name)
        for i in range(3):
            with contextlib.suppress(Exception):
                admin.call("organization_purge", id=f"{corpus.prefix}-agency-{i}")


def test_a_build_held_up_by_another_is_retried(tmp_path: Path) -> None:
    """Another build holding the published folder is a failure that passes: the task waits,
    gives up, is retried, and publishes once the folder is free. Build only: no portal."""
    corpus = Corpus(tmp_path)
    name = corpus.names[0]
    corpus.published.mkdir()
    other_build = filelock.FileLock(str(corpus.published.parent / f".{corpus.published.name}.lock"))
    other_build.acquire()
    outcome: dict[str, object] = {}

    def orchestrated() -> None:
        outcome["state"] = orchestrate.publish_datasets(
            **corpus.paths(), datasets=[name], lock_timeout=0.2, retry_delays=[2, 2], return_state=True
        )

    worker = threading.Thread(target=orchestrated)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        seen_retry = False
        while time.monotonic() < deadline and not seen_retry:
            with get_client(sync_client=True) as client:
                seen_retry = any(r.state and r.state.name == "AwaitingRetry" for r in client.read_task_runs())
            time.sleep(0.05)
        assert seen_retry, "the task did not wait for a retry"
    finally:
        other_build.release()
        worker.join(timeout=120)
    state = outcome["state"]
    assert state.is_completed()
    assert state.result()[name]["build"] == "published"
    assert task_runs(state.state_details.flow_run_id)[name].run_count == 2
    assert (corpus.published / name / "datapackage.json").is_file()
