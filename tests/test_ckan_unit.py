"""Pure parts of the push: row diffs, metadata fitting, token handling (no portal needed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.ckan import Desired, diff_rows, fit_to_portal_schema, read_token
from pipeline.errors import ConfigError

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
