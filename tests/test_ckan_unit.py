"""Pure parts of the push: row diffs, metadata fitting, token handling (no portal needed)."""

from __future__ import annotations

import argparse
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ckanapi
import pandas as pd
import pytest
from ckanapi.common import reverse_apicontroller_action
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.ckan import Desired, Portal, canonical_rows, diff_rows, fit_to_portal_schema, primary_key, read_token
from pipeline.ckan.connection import answer_status, check_url
from pipeline.ckan.datastore import _delete_filters, _keyed_otherwise
from pipeline.ckan.desired import _outside
from pipeline.cli import dataset_name
from pipeline.errors import ConfigError, PortalError

from .conftest import REPO


def frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["entry_id", "title"], dtype="str")


def test_diff_rows_finds_inserts_updates_deletes() -> None:
    have = frame([("A", "1"), ("B", "2"), ("C", "3")])
    want = frame([("A", "1"), ("B", "two"), ("D", "4")])
    plan = diff_rows(have, want, ["entry_id"])
    assert plan.inserts == [2]  # D, by position in `want`
    assert plan.updates == [1]  # B changed
    assert plan.deletes == ["C"]


def test_diff_rows_nothing_changed() -> None:
    rows = frame([("A", "1"), ("B", "2")])
    assert diff_rows(rows, rows.iloc[::-1].reset_index(drop=True), ["entry_id"]).changes == 0


def desired(**meta: object) -> Desired:
    package = {"name": "ds", "title": "t", "notes": "n", "owner_org": "o", "license_id": "cc-by", "tags": []}
    package.update(meta)
    return Desired({"name": "o"}, package, [], {}, REPO / "schemas" / "reference")


SCHEMA = {
    "dataset_fields": [
        {"field_name": "title", "required": True},
        {"field_name": "data_type", "required": True, "choices": [{"value": "ข้อมูลระเบียน"}, {"value": "อื่นๆ"}]},
        {"field_name": "data_type_other"},
        {"field_name": "data_language", "choices": [{"value": "ไทย"}, {"value": "อังกฤษ"}]},
        {"field_name": "maintainer_email", "required": True},
    ]
}


def test_off_list_value_goes_as_other_with_text() -> None:
    d = desired(data_type="ข้อมูลสำรวจ", maintainer_email="office@example.org")
    assert fit_to_portal_schema(d, SCHEMA) == []
    assert d.package["data_type"] == "อื่นๆ" and d.package["data_type_other"] == "ข้อมูลสำรวจ"


def test_every_mismatch_is_reported_at_once() -> None:
    d = desired(data_type="ข้อมูลระเบียน", data_language="ลาว", unknown_key="x")
    problems = fit_to_portal_schema(d, SCHEMA)
    assert len(problems) == 2
    assert any(p.startswith("data_language") for p in problems)
    assert any(p.startswith("maintainer_email") for p in problems)
    assert "unknown_key" not in d.package  # the portal would drop it: never sent, never compared


def test_token_from_env_then_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  file-token\n")
    assert read_token({"CKAN_API_TOKEN": "env-token", "CKAN_API_TOKEN_FILE": str(token_file)}) == "env-token"
    assert read_token({"CKAN_API_TOKEN_FILE": str(token_file)}) == "file-token"
    with pytest.raises(ConfigError, match="no CKAN API token"):
        read_token({}, default_file=tmp_path / "missing")


def test_diff_rows_by_a_composite_key() -> None:
    cols = ["province", "course", "n"]
    have = pd.DataFrame([("A", "x", "1"), ("A", "y", "2"), ("B", "x", "3")], columns=cols, dtype="str")
    want = pd.DataFrame([("A", "x", "1"), ("A", "y", "20"), ("B", "y", "4")], columns=cols, dtype="str")
    plan = diff_rows(have, want, ["province", "course"])
    assert (plan.inserts, plan.updates, plan.deletes) == ([2], [1], [("B", "x")])


rows_strategy = st.lists(
    st.tuples(st.sampled_from("ab"), st.sampled_from("xyz"), st.sampled_from(["", "1"])), max_size=12
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(have=rows_strategy, want=rows_strategy)
def test_rows_without_a_key_are_matched_whole_and_row_for_row(have: list[tuple], want: list[tuple]) -> None:
    """Applying the plan to the portal's rows gives exactly the wanted rows, duplicates included."""
    cols = ["a", "b", "c"]
    existing = pd.DataFrame(have, columns=cols, dtype="str")
    existing.insert(0, "_id", range(100, 100 + len(have)))
    plan = diff_rows(existing, pd.DataFrame(want, columns=cols, dtype="str"), [])
    assert plan.updates == []
    kept = [row for row_id, row in zip(existing["_id"], have, strict=True) if row_id not in set(plan.deletes)]
    assert sorted(kept + [want[i] for i in plan.inserts]) == sorted(want)
    assert len(plan.deletes) + len(plan.inserts) == sum(
        ((Counter(have) - Counter(want)) + (Counter(want) - Counter(have))).values()
    )


def ckan_filter_matches(row: dict[str, str], filters: dict[str, object]) -> bool:
    """datastore_delete's filter semantics: every column must match, a list as `IN`."""
    return all(row[k] in v if isinstance(v, list) else row[k] == v for k, v in filters.items())


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    table=st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xyz"), st.sampled_from("12")), unique=True),
    data=st.data(),
)
def test_deletes_by_a_composite_key_remove_exactly_those_rows(table: list[tuple], data: st.DataObject) -> None:
    gone = data.draw(st.lists(st.sampled_from(table), unique=True) if table else st.just([]))
    key = ["k1", "k2", "k3"]
    rows = [dict(zip(key, r, strict=True)) for r in table]
    filters = list(_delete_filters(gone, key))
    left = [tuple(r.values()) for r in rows if not any(ckan_filter_matches(r, f) for f in filters)]
    assert sorted(left) == sorted(set(table) - set(gone))


def test_primary_key_may_be_one_name_or_none() -> None:
    assert primary_key({"primaryKey": "entry_id"}) == ["entry_id"]
    assert primary_key({"primaryKey": ["a", "b"]}) == ["a", "b"]
    assert primary_key({"fields": []}) == []  # never another column in its place


def test_canonical_rows_spell_each_value_once() -> None:
    schema = {
        "fields": [{"name": "n", "type": "number"}, {"name": "i", "type": "integer"}, {"name": "b", "type": "boolean"}]
    }
    csv_side = pd.DataFrame([("7.50", "070", "true"), ("", "1", "0")], columns=["n", "i", "b"], dtype="str")
    portal_side = pd.DataFrame([("7.5", "70", "True"), ("", "1", "False")], columns=["n", "i", "b"], dtype="str")
    assert canonical_rows(csv_side, schema).equals(canonical_rows(portal_side, schema))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "http://localhost:5000/",
        "http://[::1]:5000",
        "http://127.8.0.1",
        "https://portal.example",
    ],
)
def test_portal_urls_the_token_may_go_to(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://portal.example", "http://10.0.0.5:5000", "http://127.0.0.1.example", "ftp://127.0.0.1", "portal.example"],
)
def test_portal_urls_refused_without_the_explicit_flag(url: str) -> None:
    with pytest.raises(ConfigError):
        Portal(url, "secret-token")
    if url.startswith("http://"):
        Portal(url, "secret-token", allow_http=True)  # said explicitly: allowed


def test_scrub_removes_the_token_as_is_and_url_encoded() -> None:
    portal = Portal("http://127.0.0.1:9", "ab/c+d=")
    assert portal.scrub("Authorization: ab/c+d= and ?t=ab%2Fc%2Bd%3D") == "Authorization: [token] and ?t=[token]"
    assert "ab/c+d=" not in repr(portal)


def test_same_origin_is_scheme_host_and_port() -> None:
    portal = Portal("http://127.0.0.1:5000", "t")
    assert portal.same_origin("http://127.0.0.1:5000/dataset/x/resource/y/download/e.csv")
    assert not portal.same_origin("http://127.0.0.1:5001/e.csv")
    assert not portal.same_origin("https://127.0.0.1:5000/e.csv")
    assert not portal.same_origin("http://127.0.0.1.evil.example:5000/e.csv")
    assert Portal("https://Portal.example", "t").same_origin("https://portal.example:443/e.csv")


@pytest.mark.parametrize("typed", ["ds", "ds/", "./ds", "./ds/", " ds "])
def test_dataset_names_as_typed_or_completed(typed: str) -> None:
    assert dataset_name(typed) == "ds"


@pytest.mark.parametrize("typed", ["", ".", "..", "../ds", "a/b", "/abs/ds"])
def test_dataset_names_that_are_not_a_folder_name(typed: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        dataset_name(typed)


def info_with(indexed: dict[str, str | None]) -> dict:
    return {
        "fields": [{"id": "_id", "type": "int"}]
        + [{"id": f, "schema": {"is_index": bool(i), "index_name": i}} for f, i in indexed.items()]
    }


def test_a_table_is_keyed_otherwise_only_when_its_indexes_say_so() -> None:
    composite = info_with({"a": "ix1", "b": "ix1", "c": None})
    assert not _keyed_otherwise(composite, ["b", "a"])
    assert _keyed_otherwise(composite, ["a"])
    assert _keyed_otherwise(composite, [])  # a keyless table must have no unique index left
    assert _keyed_otherwise(info_with({"a": "ix1", "b": None}), ["a", "b"])
    assert not _keyed_otherwise(info_with({"a": None, "b": None}), [])
    assert not _keyed_otherwise({"fields": [{"id": "a", "type": "text"}]}, ["a"])  # the portal does not say


segment = st.text(alphabet="abcกข0_-. ", min_size=1, max_size=8).filter(
    lambda s: s.strip(" .") != "" and s not in (".", "..")
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    parts=st.lists(segment, min_size=1, max_size=3),
    hostile=st.sampled_from(["", "/", "../", "x/../../", "..\\", "C:\\"]),
)
def test_resource_paths_are_confined_to_the_dataset_folder(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str], hostile: str
) -> None:
    """A path naming a file inside the folder passes (`a..b.csv` too); one that leaves it never does."""
    root = tmp_path_factory.mktemp("pub")
    folder = root / "ds"
    target = folder.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("x", encoding="utf-8")
    (root / parts[-1]).write_text("outside", encoding="utf-8")  # what `../` would reach
    path = hostile + "/".join(parts)
    assert (_outside(folder, path) == "") == (hostile == "")


def test_a_link_out_of_the_dataset_folder_is_refused_and_one_inside_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "entries.csv").write_text("x", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("s", encoding="utf-8")
    (folder / "out.csv").symlink_to(tmp_path / "secret.txt")
    (folder / "in.csv").symlink_to(folder / "entries.csv")
    (folder / "dir").symlink_to(tmp_path)
    assert _outside(folder, "in.csv") == ""
    assert "outside" in _outside(folder, "out.csv")
    assert "outside" in _outside(folder, "dir/secret.txt")
    assert _outside(folder, "missing.csv") and _outside(folder, "") and _outside(folder, None)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(octets=st.tuples(*[st.integers(0, 255)] * 4), port=st.integers(1, 65535))
def test_plain_http_is_allowed_to_loopback_addresses_only(octets: tuple[int, ...], port: int) -> None:
    host = ".".join(map(str, octets))
    url = f"http://{host}:{port}"
    if octets[0] == 127:
        check_url(url)
    else:
        with pytest.raises(ConfigError, match="clear text"):
            check_url(url)
        check_url(f"https://{host}:{port}")


def test_the_csv_read_in_batches_is_the_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of exactly the size asked for, in order, every cell as written (BOM, quotes, empty cells, Thai)."""
    from pipeline.ckan import datastore

    monkeypatch.setattr(datastore, "READ_BLOCK", 128)
    rows = [[f"K{i:03d}", f'ชื่อ, "{i}"' if i % 3 else "", "7.50" if i % 2 else "0"] for i in range(53)]
    path = tmp_path / "t.csv"
    pd.DataFrame(rows, columns=["k", "name", "n"]).to_csv(path, index=False, encoding="utf-8-sig")
    batches = list(datastore.csv_batches(path, ["k", "name", "n"], 10))
    assert [len(b) for b in batches] == [10, 10, 10, 10, 10, 3]
    assert [list(r) for b in batches for r in b.itertuples(index=False)] == rows
    assert datastore.count_rows(path, ["k", "name", "n"]) == 53


def test_a_diff_in_batches_equals_the_diff_of_whole_tables() -> None:
    """plan_rows over batches of any size finds what diff_rows finds on the whole tables, keyed and keyless."""
    from pipeline.ckan import datastore

    rng = random.Random(7)
    for _ in range(50):
        have = [[f"K{i}", rng.choice("abc")] for i in rng.sample(range(40), 25)]
        want = [[f"K{i}", rng.choice("abc")] for i in rng.sample(range(40), 25)]
        old, new = (pd.DataFrame(x, columns=["k", "v"], dtype="str") for x in (have, want))
        size = rng.randint(1, 9)

        def parts(frame: pd.DataFrame, size: int = size) -> list[pd.DataFrame]:
            return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]

        for key in (["k"], []):
            whole = diff_rows(old, new, key)
            streamed = datastore.plan_rows(parts(old), parts(new), key, ["k", "v"])
            assert list(streamed.inserts) == whole.inserts and list(streamed.updates) == whole.updates
            assert sorted(streamed.deletes) == sorted(whole.deletes)


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(100, 599),
    body=st.text(max_size=80) | st.from_regex(r"[a-z ]*(409|50[0234])[a-z ]*", fullmatch=True),
    action=st.from_regex(r"[a-z_]{1,30}", fullmatch=True),
)
def test_the_answer_status_is_the_one_ckanapi_was_given(status: int, body: str, action: str) -> None:
    """Read from ckanapi's own report of an answer it does not recognize, whatever the body says."""
    try:
        reverse_apicontroller_action(f"http://127.0.0.1:5000/api/action/{action}", status, body)
    except ckanapi.CKANAPIError as exc:
        assert answer_status(exc) == status
    else:
        assume(False)  # ckanapi read the body as a CKAN answer: no status to report


class _Answering(BaseHTTPRequestHandler):
    """Answers every action with one status and a text body quoting numbers that look like statuses."""

    status = 400
    count = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        type(self).count += 1
        body = b"Bad request. Your request was: Content-Length: 409, X-Id: 500-502-503-504"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "retried"), [(400, False), (403, False), (413, False), (502, True), (409, True)])
def test_only_a_transient_status_is_retried_whatever_the_body_quotes(status: int, retried: bool) -> None:
    """A 400 whose body happens to hold "409" or "500" is a plain refusal, sent once (a CI run whose
    token held such digits retried a 400 and succeeded on the second try)."""
    handler = type("Answering", (_Answering,), {"status": status, "count": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        portal = Portal(f"http://127.0.0.1:{server.server_address[1]}", "t", retry_seconds=1.5)
        with pytest.raises(PortalError):
            portal.call("status_show")
    finally:
        server.shutdown()
        server.server_close()
    assert (handler.count > 1) is retried
