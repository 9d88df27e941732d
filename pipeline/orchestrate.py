"""Many datasets as tasks of Prefect: one task per dataset (build, then push), retried when the
failure may pass, pushes limited per portal, every run visible in the Prefect UI.

Optional (`pip install .[orchestrate]`); `make` needs none of it. It calls the library entry
points `pipeline.run.build` and `pipeline.ckan.push`, as the CLI does. Why Prefect and not
Dagster, and how to run workers on several machines: README, "Many datasets, many machines".
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.futures import wait

from pipeline import ckan, run, scaffold
from pipeline.errors import ConfigError, DataInvalid, PipelineError

RETRIES = 2
RETRY_DELAYS = [10, 60]  # seconds before the first and the second retry
PORTAL_CONCURRENCY = 2  # pushes at once to one portal, over every worker on every machine


class PipelineBug(Exception):
    """An unexpected exception, raised again with where it happened but not its text,
    which could quote a cell (personal data must not reach the orchestrator's logs)."""


class DatasetsFailed(Exception):
    """Some datasets failed; the others were built and pushed. Carries every outcome."""

    def __init__(self, message: str, outcomes: dict[str, dict[str, Any]]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


def portal_limit_name(url: str) -> str:
    """The Prefect global concurrency limit of one portal (the same name on every machine)."""
    parts = urlsplit(url)
    return f"ckan-push {parts.netloc or parts.path}".rstrip("/")


def ensure_portal_limit(url: str, slots: int = PORTAL_CONCURRENCY) -> str:
    """Create the portal's concurrency limit unless it exists (an operator's own setting is kept)."""
    name = portal_limit_name(url)
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another flow created it meanwhile
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
    return name


def _worth_retrying(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry what may pass (portal down or busy, another build holding the folder); not bad
    data, a bad setup or a bug, which give the same result every time."""
    return not isinstance(state.result(raise_on_failure=False), DataInvalid | ConfigError | PipelineBug)


@task(
    name="build-and-push",
    task_run_name="{dataset}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=_worth_retrying,
    cache_policy=NO_CACHE,  # the build's own fingerprint decides what is unchanged
    persist_result=False,
)
def build_and_push(
    dataset: str,
    raw_dir: str,
    published_dir: str,
    reports_dir: str,
    schemas_dir: str,
    ckan_url: str | None = None,
    lock_timeout: float = 300.0,
) -> dict[str, Any]:
    """Build one dataset, then push it (when a portal is given). A retry builds again, which
    costs nothing when the inputs did not change, and the push converges where it stopped."""
    logger = get_run_logger()
    config = run.Config(
        Path(raw_dir), Path(published_dir), Path(reports_dir), Path(schemas_dir), (dataset,), lock_timeout=lock_timeout
    )
    try:
        [result] = run.build(config)
        if result.status == "failed":  # its schema or environment is wrong, or a bug
            if result.error is not None:
                raise result.error
            raise result.bug or PipelineBug(dataset)
        if result.status == "invalid":
            logger.error("%s: every problem is listed in %s", dataset, result.report)
            raise DataInvalid(dataset, result.issues)
        outcome: dict[str, Any] = {
            "dataset": dataset,
            "build": result.status,
            "rows": result.summary.rows_published,
            "report": str(result.report) if result.report else None,
        }
        logger.info("%s: %s", dataset, result.status)
        if ckan_url:
            todo = scaffold.unfilled(Path(schemas_dir) / dataset / "datapackage.json")
            if todo:  # as `make push` does: checked before the portal is asked anything
                raise ConfigError(
                    f"{dataset}: not pushed: its datapackage.json still has TODO values: {', '.join(todo)}"
                )
            allow_http = os.environ.get("CKAN_ALLOW_HTTP", "").strip().lower() in ("1", "true", "yes")
            portal = ckan.Portal(ckan_url, ckan.read_token(), allow_http=allow_http)
            with concurrency(portal_limit_name(ckan_url), occupy=1, strict=True):
                logger.info("%s: push to %s started", dataset, portal.url)
                try:
                    changes = ckan.push(
                        portal,
                        Path(published_dir),
                        Path(schemas_dir),
                        datasets=(dataset,),
                        on_change=lambda change: logger.info("%s", portal.scrub(change.line())),
                    )
                except PipelineError as exc:  # whatever the portal's message quotes, the token is not logged
                    exc.args = (portal.scrub(str(exc)),)
                    raise
                logger.info("%s: push to %s finished", dataset, portal.url)
            outcome["portal_changes"] = ckan.pending(changes)
            outcome["portal_writes"] = len(portal.writes)
        return outcome
    except PipelineError:
        raise
    except Exception as exc:
        kind, where = run.bug_location(exc)
        raise PipelineBug(f"{dataset}: internal error ({kind}), a bug in the pipeline, at\n{where.rstrip()}") from None


@flow(name="publish-dataset", flow_run_name="{dataset}")
def publish_dataset(
    dataset: str,
    raw_dir: str = "data/raw",
    published_dir: str = "data/published",
    reports_dir: str = "reports",
    schemas_dir: str = "schemas",
    ckan_url: str | None = None,
    portal_concurrency: int = PORTAL_CONCURRENCY,
) -> dict[str, Any]:
    """One dataset: what a deployment runs on whichever worker, on whichever machine, takes it."""
    if ckan_url:
        ensure_portal_limit(ckan_url, portal_concurrency)
    return build_and_push(dataset, raw_dir, published_dir, reports_dir, schemas_dir, ckan_url)


@task(name="run-on-a-worker", task_run_name="{dataset}", cache_policy=NO_CACHE, persist_result=False)
def _run_on_a_worker(deployment: str, dataset: str, parameters: dict[str, Any]) -> dict[str, Any]:
    flow_run = run_deployment(deployment, parameters={**parameters, "dataset": dataset}, timeout=None)
    state = flow_run.state
    if state is None or not state.is_completed():
        raise PipelineError(f"{dataset}: {state.name if state else 'no state'}: {state.message if state else ''}")
    return {"dataset": dataset, "flow_run": str(flow_run.id), "state": state.name}


@flow(name="publish-datasets")
def publish_datasets(
    raw_dir: str = "data/raw",
    published_dir: str = "data/published",
    reports_dir: str = "reports",
    schemas_dir: str = "schemas",
    datasets: list[str] | None = None,
    ckan_url: str | None = None,
    portal_concurrency: int = PORTAL_CONCURRENCY,
    deployment: str | None = None,
    lock_timeout: float = 300.0,
    retry_delays: list[float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every dataset under raw_dir (or those named), one task each. With `deployment` (the
    `publish-dataset` flow deployed to a work pool), each dataset is a run of it, taken by
    the pool's workers on any machine. One failing dataset does not stop the others; the
    run then ends failed, naming them. `retry_delays`: seconds before each retry (default 10, 60)."""
    config = run.Config(Path(raw_dir), Path(published_dir), Path(reports_dir), Path(schemas_dir), tuple(datasets or ()))
    names = run.dataset_names(config)
    if ckan_url:
        ensure_portal_limit(ckan_url, portal_concurrency)
    paths = {"raw_dir": raw_dir, "published_dir": published_dir, "reports_dir": reports_dir, "schemas_dir": schemas_dir}
    if deployment:
        parameters = {**paths, "ckan_url": ckan_url, "portal_concurrency": portal_concurrency}
        futures = {name: _run_on_a_worker.submit(deployment, name, parameters) for name in names}
    else:
        step = build_and_push if retry_delays is None else build_and_push.with_options(retry_delay_seconds=retry_delays)
        futures = {name: step.submit(name, ckan_url=ckan_url, lock_timeout=lock_timeout, **paths) for name in names}
    wait(list(futures.values()))
    outcomes: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        state = future.state
        if state.is_completed():
            outcomes[name] = future.result()
        else:
            outcomes[name] = {"dataset": name, "failed": state.message or state.name}
    failed = sorted(name for name, outcome in outcomes.items() if "failed" in outcome)
    if failed:
        raise DatasetsFailed(f"{len(failed)} of {len(names)} dataset(s) failed: {', '.join(failed)}", outcomes)
    return outcomes
