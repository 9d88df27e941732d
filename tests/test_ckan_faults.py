"""Faults while pushing, against the real local CKAN behind a fault-injecting proxy (127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline import ckan
from pipeline.errors import ConfigError, PortalError

from .conftest import REPO, entry
from .faultproxy import Collector, Fault, Proxy
from .test_ckan_portal import CKAN_URL, Site, portal_token

pytestmark = pytest.mark.ckan


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    admin = ckan.Portal(CKAN_URL, portal_token(), retry_seconds=5)
    s = Site(tmp_path, admin)
    yield s
    s.purge()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy(CKAN_URL)
    p.url = p.start()  # type: ignore[attr-defined]
    yield p
    p.stop()


def through(proxy: Proxy, retry_seconds: float = 20, timeout: float = 30) -> ckan.Portal:
    return ckan.Portal(proxy.url, portal_token(), retry_seconds=retry_seconds, timeout=timeout)  # type: ignore[attr-defined]


def run_cli(
    site: Site, command: list[str], env: dict[str, str], url: str | None = CKAN_URL
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline <command>` on the site's published folder, as a data officer runs it."""
    args = [
        sys.executable,
        "-m",
        "pipeline",
        *command,
        "--published-dir",
        str(site.published),
        "--schemas-dir",
        str(site.schemas),
    ]
    if url:
        args += ["--ckan-url", url]
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def assert_portal_equals_published(site: Site) -> None:
    """One dataset, each resource once with the published file's hash, DataStore rows = CSV rows."""
    pkg = site.package()
    names = [Path(r["url"]).name for r in pkg["resources"]]
    assert sorted(names) == sorted(set(names)), f"duplicate resources: {names}"
    package = json.loads((site.published / site.name / "datapackage.json").read_text(encoding="utf-8"))
    hashes = {Path(r["path"]).name: r["hash"] for r in package["resources"]}
    assert {Path(r["url"]).name: r["hash"] for r in pkg["resources"]} == hashes
    rows = site.rows_on_portal()
    csv_ids = [
        line.split(",")[0].strip('"')
        for line in (site.published / site.name / "entries.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    ]
    assert sorted(rows) == sorted(csv_ids)
    again = site.fresh_portal()
    site.push(again)
    assert again.writes == [], "after convergence a push has nothing left to write"


@pytest.mark.parametrize(
    "fault",
    [
        Fault("package_show", "503", times=2),
        Fault("organization_show", "502"),
        Fault("package_show", "reset"),
        Fault("datastore_upsert", "409"),
        Fault("datastore_info", "500"),
    ],
)
def test_transient_faults_on_repeatable_calls_are_retried(site: Site, proxy: Proxy, fault: Fault) -> None:
    site.build()
    if fault.action in ("datastore_info",):
        site.push()  # the table must exist for the push to read it back
        site.rows[0] = entry("E-001", title="ปรับปรุง")
        site.build()
    proxy.faults.append(fault)
    site.push(through(proxy))
    assert fault.times == 0, "the fault was injected"
    assert proxy.seen.count(fault.action) >= 2, "and the call was sent again"
    assert_portal_equals_published(site)


def test_timeout_is_retried_within_a_bounded_time(site: Site, proxy: Proxy) -> None:
    site.build()
    proxy.faults.append(Fault("package_show", "delay", delay=3))
    start = time.monotonic()
    site.push(through(proxy, timeout=1))
    assert time.monotonic() - start < 30
    assert_portal_equals_published(site)


def test_retries_give_up_with_a_clear_error_after_a_bounded_time(site: Site, proxy: Proxy) -> None:
    site.build()
    proxy.faults.append(Fault("package_show", "503", times=1000))
    start = time.monotonic()
    with pytest.raises(PortalError, match="package_show failed"):
        site.push(through(proxy, retry_seconds=3))
    assert time.monotonic() - start < 20


def test_unrepeatable_call_is_not_retried_and_a_rerun_converges(site: Site, proxy: Proxy) -> None:
    site.build()
    proxy.faults.append(Fault("resource_create", "502"))
    with pytest.raises(PortalError, match="not retried"):
        site.push(through(proxy))
    assert proxy.seen.count("resource_create") == 1
    site.push()  # run again, no faults
    assert_portal_equals_published(site)


def test_killed_mid_push_then_rerun_ends_exactly_in_the_published_state(site: Site, proxy: Proxy) -> None:
    site.rows = [entry(f"E-{i:05d}", org=f"อบต.ทดสอบ{i}", title=f"ระบบ {i}") for i in range(1, 25_001)]
    site.build()
    proxy.faults.append(Fault("datastore_upsert", "delay", times=1, delay=5))
    proxy.hit["datastore_upsert"] = threading.Event()
    env = {**os.environ, "CKAN_API_TOKEN": portal_token(), "CKAN_URL": proxy.url}  # type: ignore[attr-defined]
    env["CKAN_XLOADER_COPY"] = "0"  # this kill is in the DataStore API load (test_xloader kills a COPY load)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "push",
            "-q",
            "--published-dir",
            str(site.published),
            "--schemas-dir",
            str(site.schemas),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proxy.hit["datastore_upsert"].wait(120), "the push reached the DataStore load"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(6)  # let the delayed batch (if it goes through) land before looking
    changes = site.push()  # the re-run
    store = next(c for c in changes if c.kind == "datastore")
    assert store.counts["insert"] > 0, "the interrupted load was completed by the re-run"
    assert_portal_equals_published(site)


def test_ckan_down_is_a_clear_error(site: Site, tmp_path: Path) -> None:
    site.build()
    with socket_closed_port() as url:
        env = {**os.environ, "CKAN_API_TOKEN": portal_token(), "CKAN_URL": url}
        done = run_cli(site, ["push"], env, url=None)
    assert done.returncode == 3
    assert "not reachable" in done.stderr and "nothing was changed" in done.stderr and "Traceback" not in done.stderr


class socket_closed_port:
    """A loopback URL where nothing listens."""

    def __enter__(self) -> str:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        pass


def test_missing_token_is_a_clear_error(site: Site, tmp_path: Path) -> None:
    site.build()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKAN_API_TOKEN")}
    env["CKAN_API_TOKEN_FILE"] = str(tmp_path / "no-such-token")
    done = run_cli(site, ["push"], env)
    assert done.returncode == 2 and "no CKAN API token" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(ConfigError):
        ckan.read_token({"CKAN_API_TOKEN_FILE": str(tmp_path / "no-such-token")})


def test_token_without_rights_on_the_organization_changes_nothing(site: Site) -> None:
    site.build()
    site.push()  # the organization and dataset exist, owned by the sysadmin's organization
    before = site.package()["metadata_modified"]
    name = f"officer-{uuid.uuid4().hex[:8]}"
    site.admin.call("user_create", name=name, email=f"{name}@localhost.invalid", password=uuid.uuid4().hex + "Aa1!")
    token = site.admin.call("api_token_create", user=name, name="test")["token"]
    site.rows[0] = entry("E-001", title="แก้โดยผู้ไม่มีสิทธิ์")
    site.build()
    outsider = ckan.Portal(CKAN_URL, token, retry_seconds=2)
    with pytest.raises(PortalError, match="no right to publish"):
        site.push(outsider)
    assert outsider.writes == []
    assert site.package()["metadata_modified"] == before
    site.admin.call("user_delete", id=name)


def test_token_never_appears_in_output_reports_or_published_files(site: Site, tmp_path: Path) -> None:
    site.build()
    token = portal_token()
    env = {**os.environ, "CKAN_API_TOKEN": token}
    outputs = []
    for args in (["push"], ["plan", "--json"], ["push", "--json"]):
        done = run_cli(site, args, env)
        outputs.append(done.stdout + done.stderr)
    bad = run_cli(site, ["push"], env, url="http://127.0.0.1:9")  # an error path too
    outputs.append(bad.stdout + bad.stderr)
    files = [p for root in (site.published, site.root / "reports") for p in root.rglob("*") if p.is_file()]
    texts = outputs + [p.read_text(encoding="utf-8", errors="replace") for p in files]
    pkg = requests.get(f"{CKAN_URL}/api/3/action/package_show", params={"id": site.name}, timeout=30).text
    texts.append(pkg)
    assert all(token not in t for t in texts)
    assert all(token[:16] not in t for t in texts)


# ---------------------------------------------------------------------------- the token (issue 13)


@pytest.mark.parametrize(
    ("fault", "command"),
    [
        (Fault("status_show", "echo", status=400), ["push"]),  # a text error page quoting the request
        (Fault("status_show", "echo", status=502, times=1000), ["push", "--json"]),  # retried, then given up
        (Fault("organization_show", "echo", status=403), ["push"]),
        (Fault("package_create", "echo", status=409, body="json"), ["push", "--json"]),  # a CKAN error document
    ],
    ids=["400-text", "502-retried", "403-text", "409-json"],
)
def test_token_is_scrubbed_from_messages_that_echo_it(
    site: Site, proxy: Proxy, fault: Fault, command: list[str]
) -> None:
    site.build()
    token = portal_token()
    proxy.faults.append(fault)
    done = run_cli(site, command, {**os.environ, "CKAN_API_TOKEN": token}, url=proxy.url)  # type: ignore[attr-defined]
    text = done.stdout + done.stderr
    assert done.returncode == 3, text
    assert fault.action in proxy.seen, "the echoing answer was sent"
    assert token not in text and token[:16] not in text and token[-16:] not in text
    assert "[token]" in text or fault.status == 403, "the quoted request is still shown, without the token"
    assert "Traceback" not in text


def test_download_sends_the_token_only_to_the_portals_own_address(site: Site) -> None:
    """A resource whose URL names another host: its file is fetched without the token."""
    site.build()
    site.push()
    token = portal_token()
    resource = next(r for r in site.package()["resources"] if r["url"].rsplit("/", 1)[-1] == "entries.csv")
    elsewhere = Collector(payload=(site.published / site.name / "entries.csv").read_bytes())
    url = elsewhere.start()
    try:
        site.admin.call("resource_patch", id=resource["id"], url=f"{url}/entries.csv", url_type="")
        site.rows[0] = entry("E-001", title="แก้ไขหลังย้ายไฟล์")
        site.build()
        site.push()
        assert elsewhere.requests, "the push fetched the previous file from where the resource points"
        for request in elsewhere.requests:
            assert all(token not in v and token[:16] not in v for v in request.values()), request.keys()
            assert "Authorization" not in request and "X-CKAN-API-Key" not in request
    finally:
        elsewhere.stop()
    assert_portal_equals_published(site)


def test_portal_redirecting_an_action_elsewhere_is_a_clear_error_and_the_token_stays(site: Site, proxy: Proxy) -> None:
    site.build()
    elsewhere = Collector()
    url = elsewhere.start()
    proxy.faults.append(Fault("package_show", "redirect", location=url))
    try:
        with pytest.raises(PortalError, match="redirect") as err:
            site.push(through(proxy))
        assert url in str(err.value)
        assert all(portal_token()[:16] not in str(r) for r in elsewhere.requests)
    finally:
        elsewhere.stop()


@pytest.mark.parametrize("url", ["http://192.0.2.10:5000", "http://portal.example.go.th", "http://127.0.0.1.example"])
def test_plain_http_to_another_machine_is_refused_before_anything_is_sent(site: Site, url: str) -> None:
    site.build()
    env = {k: v for k, v in os.environ.items() if k != "CKAN_ALLOW_HTTP"}
    env["CKAN_API_TOKEN"] = portal_token()
    start = time.monotonic()
    done = run_cli(site, ["push"], env, url=url)
    assert done.returncode == 2, done.stderr
    assert "clear text" in done.stderr and "--allow-http" in done.stderr and "nothing was sent" in done.stderr
    assert time.monotonic() - start < 20, "refused at once, not after trying to connect"


@pytest.mark.parametrize(
    ("command", "setting", "code"),
    [(["plan"], "1", 3), (["plan", "--allow-http"], "", 3), (["plan"], "no", 2), (["plan"], "0", 2)],
)
def test_plain_http_to_another_address_only_when_said_explicitly(
    site: Site, command: list[str], setting: str, code: int
) -> None:
    """0.0.0.0 is not a loopback name (refused by default) but reaches this machine, where nothing
    listens: allowed, the push gets as far as finding no portal (exit 3); refused, exit 2 at once."""
    site.build()
    env = {**os.environ, "CKAN_API_TOKEN": portal_token(), "CKAN_ALLOW_HTTP": setting}
    done = run_cli(site, command, env, url="http://0.0.0.0:9")
    assert done.returncode == code, done.stderr
    assert ("not reachable" if code == 3 else "clear text") in done.stderr
