"""A fields.yaml mistake is a configuration error at load: the file, the field and what is allowed,
exit 2, never an internal error (70) later in the build (issue 12)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import cells
from pipeline.cli import main
from pipeline.dataset import FORMULA_POLICIES, GENERIC_KEYS, REFERENCE_ENUMS, TOP_LEVEL_KEYS, load_dataset
from pipeline.errors import ConfigError
from pipeline.normalizers import REGISTRY

from .conftest import DATASET, SCHEMAS, write_csv

FIELDS = [
    {"name": "record_id", "type": "string", "title": "รหัส", "constraints": {"required": True, "unique": True}},
    {"name": "province", "type": "string", "title": "จังหวัด"},
    {"name": "district", "type": "string", "title": "อำเภอ"},
    {"name": "amount", "type": "number", "title": "งบประมาณ"},
    {"name": "open", "type": "boolean", "title": "เปิดบริการ"},
]
VALID = {
    "resource": "records",
    "fields": {
        "record_id": {"normalize": "identifier", "aliases": ["รหัสรายการ"]},
        "province": {"normalize": "province", "enum_from": "provinces"},
        "district": {"normalize": "district", "province": "province"},
        "amount": {"normalize": "number", "units": ["ล้านบาท"]},
        "open": {"normalize": "boolean", "true_words": ["เปิด"], "false_words": ["ปิด"]},
    },
    "personal_data": ["อีเมล"],
}


def make_schemas(root: Path, mapping: Any, fields: list[dict[str, Any]] | None = None, name: str = "records") -> Path:
    """A schemas folder with one dataset `name` (Table Schema `fields`, fields.yaml `mapping`) and the real reference."""
    schemas = root / "schemas"
    folder = schemas / name
    folder.mkdir(parents=True, exist_ok=True)
    if not (schemas / "reference").exists():
        shutil.copytree(SCHEMAS / "reference", schemas / "reference")
    descriptor = {
        "name": name,
        "title": "ชุดข้อมูลทดสอบ",
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/"}],
        "resources": [{"name": "records", "path": "records.csv", "schema": "records.schema.json"}],
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    schema = {"fields": fields or FIELDS, "primaryKey": ["record_id"], "missingValues": [""]}
    (folder / "records.schema.json").write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    text = mapping if isinstance(mapping, str) else yaml.safe_dump(mapping, allow_unicode=True)
    (folder / "fields.yaml").write_text(text, encoding="utf-8")
    return schemas


def with_field(field: str, **settings: Any) -> dict[str, Any]:
    mapping = json.loads(json.dumps(VALID))
    mapping["fields"][field] = settings
    return mapping


def load_error(tmp_path: Path, mapping: Any) -> str:
    schemas = make_schemas(tmp_path, mapping)
    with pytest.raises(ConfigError) as caught:
        load_dataset(schemas, "records")
    message = str(caught.value)
    assert str(schemas / "records" / "fields.yaml") in message, "the error names the file"
    return message


def test_valid_mapping_loads_with_its_options(tmp_path: Path) -> None:
    spec = load_dataset(make_schemas(tmp_path, VALID), "records")
    assert spec.field("amount").options == {"units": ["ล้านบาท"]}
    assert spec.field("district").options == {"province": "province"}
    assert spec.field("open").options == {"true_words": ["เปิด"], "false_words": ["ปิด"]}
    assert spec.field("record_id").options == {}


def test_enum_from_puts_the_77_provinces_into_the_loaded_and_published_schema(tmp_path: Path) -> None:
    schemas = make_schemas(tmp_path, VALID)
    on_disk = (schemas / "records" / "records.schema.json").read_bytes()
    spec = load_dataset(schemas, "records")
    enum = spec.field("province").constraints["enum"]
    assert len(enum) == 77 and enum[0] == "กรุงเทพมหานคร" and "บึงกาฬ" in enum
    published = next(f for f in spec.table_schema["fields"] if f["name"] == "province")
    assert published["constraints"]["enum"] == enum, "publish writes spec.table_schema"
    assert (schemas / "records" / "records.schema.json").read_bytes() == on_disk, "the schema file is not rewritten"
    assert "constraints" not in next(f for f in FIELDS if f["name"] == "province")


@pytest.mark.parametrize("source", sorted(REFERENCE_ENUMS))
def test_every_reference_enum_loads(tmp_path: Path, source: str) -> None:
    spec = load_dataset(make_schemas(tmp_path, with_field("district", enum_from=source)), "records")
    values = spec.field("district").constraints["enum"]
    assert len(values) == len(set(values)) > 5


def test_enum_from_beside_the_same_enum_is_accepted_a_different_one_refused(tmp_path: Path) -> None:
    spec = load_dataset(SCHEMAS.parent / "schemas", DATASET)
    provinces = spec.field("province").constraints["enum"]
    fields = [dict(f) for f in FIELDS]
    fields[1] = {**fields[1], "constraints": {"enum": provinces}}
    load_dataset(make_schemas(tmp_path / "same", VALID, fields), "records")
    fields[1] = {**fields[1], "constraints": {"enum": provinces[:10]}}
    schemas = make_schemas(tmp_path / "other", VALID, fields)
    with pytest.raises(ConfigError, match="has an enum in the Table Schema and enum_from: provinces"):
        load_dataset(schemas, "records")


def test_unknown_normalizer_names_file_field_and_allowed_names(tmp_path: Path) -> None:
    message = load_error(tmp_path, with_field("amount", normalize="numbr"))
    assert "field 'amount'" in message and "unknown normalizer 'numbr'" in message
    for name in REGISTRY:
        assert name in message
    assert "python -m pipeline normalizers" in message


def test_unknown_normalizer_exits_2_from_the_cli_never_70(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    schemas = make_schemas(tmp_path, with_field("amount", normalize="numbr"))
    raw = tmp_path / "raw"
    write_csv(raw / "records" / "records.csv", [["รหัส", "งบประมาณ"], ["A-1", "35,000"]])
    args = ["--raw-dir", str(raw), "--published-dir", str(tmp_path / "pub"), "--reports-dir", str(tmp_path / "rep")]
    for command in ("build", "validate"):
        assert main([command, *args, "--schemas-dir", str(schemas)]) == 2
        err = capsys.readouterr().err
        assert "unknown normalizer 'numbr'" in err and "field 'amount'" in err and "fields.yaml" in err
        assert "internal error" not in err
    assert not (tmp_path / "pub" / "records").exists()


def test_unknown_option_lists_generic_and_normalizer_options(tmp_path: Path) -> None:
    message = load_error(tmp_path, with_field("amount", normalize="number", unit=["คน"]))
    assert "field 'amount'" in message and "unknown option 'unit' for normalize: number" in message
    for key in (*GENERIC_KEYS, "units"):
        assert key in message
    message = load_error(tmp_path / "b", with_field("amount", normalize="text", units=["คน"]))
    assert "unknown option 'units' for normalize: text" in message


def test_field_not_in_the_table_schema(tmp_path: Path) -> None:
    mapping = with_field("budget", normalize="number")
    message = load_error(tmp_path, mapping)
    assert "field 'budget' is not in the Table Schema" in message
    assert "record_id, province, district, amount, open" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    mapping = {**VALID, "feilds": {}}
    message = load_error(tmp_path, mapping)
    assert "unknown key 'feilds'" in message
    for key in TOP_LEVEL_KEYS:
        assert key in message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    mapping = with_field("amount", normalize="numbr")
    mapping["fields"]["open"] = {"normalize": "boolean", "true_word": ["เปิด"]}
    mapping["fields"]["nope"] = {}
    mapping["extra"] = 1
    message = load_error(tmp_path, mapping)
    assert "4 problems" in message
    assert all(s in message for s in ("'numbr'", "'true_word'", "field 'nope'", "unknown key 'extra'"))


@pytest.mark.parametrize(
    ("field", "settings", "expected"),
    [
        ("district", {"normalize": "district", "province": "จังหวัด"}, "province must name another field"),
        ("district", {"normalize": "district", "province": "district"}, "province must name another field"),
        ("district", {"normalize": "district_code"}, "derived_from must name another field"),
        ("district", {"normalize": "district_code", "derived_from": "nowhere"}, "derived_from must name another field"),
        ("district", {"normalize": "text", "derived_from": "province"}, "derived_from needs a normalizer"),
        ("district", {"normalize": "text", "fills": {"type": "province"}}, "fills is read only by"),
        ("record_id", {"normalize": "local_government_name", "fills": {"kind": "province"}}, "fills must map type"),
        ("record_id", {"normalize": "lookup"}, "needs a `lookup` table"),
        ("record_id", {"normalize": "text", "lookup": {"a": ["b"]}}, "lookup is read only by normalize: lookup"),
        ("record_id", {"normalize": "lookup", "lookup": {"a": "b"}}, "lookup must map each canonical value"),
        ("record_id", {"aliases": "รหัส"}, "aliases must be a list"),
        ("amount", {"normalize": "number", "units": "คน"}, "units must be a list"),
        ("record_id", {"column_optional": "yes"}, "column_optional must be true or false"),
        ("record_id", {"cell_fallback": ["nowhere"]}, "cell_fallback must list other fields"),
        ("province", {"normalize": "province", "enum_from": "amphoe"}, "unknown enum_from 'amphoe'"),
        ("open", {"normalize": "boolean", "true_words": ["ใช่", "ตกลง"], "false_words": ["ตกลง"]}, "both true_words"),
        ("record_id", ["identifier"], "expected a mapping of settings"),
        ("record_id", {"normalize": ["text"]}, "unknown normalizer"),
    ],
)
def test_bad_settings_name_the_field_and_what_is_allowed(
    tmp_path: Path, field: str, settings: Any, expected: str
) -> None:
    message = load_error(
        tmp_path, with_field(field, **settings) if isinstance(settings, dict) else _raw(field, settings)
    )
    assert f"field {field!r}" in message and expected in message


def _raw(field: str, settings: Any) -> dict[str, Any]:
    mapping = json.loads(json.dumps(VALID))
    mapping["fields"][field] = settings
    return mapping


def test_fields_waiting_on_each_other(tmp_path: Path) -> None:
    mapping = json.loads(json.dumps(VALID))
    mapping["fields"]["province"] = {"normalize": "district_code", "derived_from": "district"}
    mapping["fields"]["district"] = {"normalize": "district", "province": "province"}
    message = load_error(tmp_path, mapping)
    assert "wait on each other" in message and "province" in message and "district" in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "fields: [a, b]\n", "fields:\n  amount: [1\n"])
def test_malformed_yaml_is_a_config_error(tmp_path: Path, text: str) -> None:
    schemas = make_schemas(tmp_path, text)
    with pytest.raises(ConfigError, match="fields.yaml|schema files"):
        load_dataset(schemas, "records")


@pytest.mark.parametrize("policy", FORMULA_POLICIES)
def test_formulas_key_is_accepted(tmp_path: Path, policy: str) -> None:
    spec = load_dataset(make_schemas(tmp_path, with_field("record_id", formulas=policy)), "records")
    assert next(f for f in spec.fields if f.name == "record_id").formulas == policy


@pytest.mark.parametrize("policy", ["escpae", "Refuse", "", None, True, ["escape"]])
def test_unknown_formulas_policy_is_refused_at_load(tmp_path: Path, policy: Any) -> None:
    """Caught when the dataset is loaded (exit 2, every allowed value named), not when its rows are processed."""
    message = load_error(tmp_path, with_field("record_id", formulas=policy))
    assert "field 'record_id'" in message and f"unknown formulas policy {policy!r}" in message
    assert "allowed: refuse, escape, allow" in message


def test_formula_policies_are_those_the_cell_guard_knows() -> None:
    assert FORMULA_POLICIES == cells.POLICIES


def test_the_committed_dataset_loads(tmp_path: Path) -> None:
    load_dataset(SCHEMAS, DATASET)


# -- a generated corpus: valid settings drawn from the registry must load, a mutation must be refused

FIELD_NAMES = [f["name"] for f in FIELDS]
WORDS = st.lists(st.text(alphabet="กขคabc", min_size=1, max_size=4), max_size=3)


@st.composite
def valid_settings(draw: st.DrawFn, field: str) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(n for n, e in REGISTRY.items() if not e.derived and not e.fills)))
    entry = REGISTRY[name]
    settings: dict[str, Any] = {"normalize": name}
    if draw(st.booleans()):
        settings["aliases"] = draw(WORDS)
    if name == "lookup":
        settings["lookup"] = {"ก": ["ข"]}
    for option in entry.options:
        if option in entry.field_options:
            others = [n for n in FIELD_NAMES if n != field]
            if draw(st.booleans()):
                settings[option] = draw(st.sampled_from(others))
        elif option != "lookup" and draw(st.booleans()):
            settings[option] = draw(WORDS)
    if name == "boolean" and "true_words" in settings and "false_words" in settings:
        settings["false_words"] = [w + "x" for w in settings["false_words"] if w + "x" not in settings["true_words"]]
    # reference enums are text: on a boolean or number field they are not a valid Table Schema (refused at load)
    if next(f["type"] for f in FIELDS if f["name"] == field) == "string" and draw(st.booleans()):
        settings["enum_from"] = draw(st.sampled_from(sorted(REFERENCE_ENUMS)))
    return settings


@settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_valid_settings_load(tmp_path: Path, data: st.DataObject) -> None:
    fields = {name: data.draw(valid_settings(name)) for name in FIELD_NAMES}
    schemas = make_schemas(tmp_path, {"fields": fields})
    try:
        load_dataset(schemas, "records")
    except ConfigError as exc:  # only a cycle through field options may be refused
        assert "wait on each other" in str(exc)


@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    key=st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
        st.sampled_from(sorted({*GENERIC_KEYS, *(o for e in REGISTRY.values() for o in e.options)})),
    ),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=5),
        st.sampled_from(FIELD_NAMES),
        st.lists(st.one_of(st.integers(), st.text(max_size=3), st.sampled_from(FIELD_NAMES)), max_size=3),
        st.dictionaries(
            st.sampled_from(["type", "province", "x"]), st.one_of(st.integers(), st.sampled_from(FIELD_NAMES))
        ),
        st.lists(st.lists(st.integers(), max_size=1), max_size=2),
    ),
)
def test_generated_wrong_settings_are_config_errors(tmp_path: Path, data: st.DataObject, key: str, value: Any) -> None:
    """An unknown key, or a known one with a value of any shape, loads or is a ConfigError: never another exception."""
    field = data.draw(st.sampled_from(FIELD_NAMES))
    settings = data.draw(valid_settings(field))
    allowed = {*GENERIC_KEYS, *REGISTRY[settings["normalize"]].options}
    settings[key] = value
    schemas = make_schemas(tmp_path, {"fields": {field: settings}})
    try:
        load_dataset(schemas, "records")
    except ConfigError as exc:
        assert f"field {field!r}" in str(exc) or "wait on each other" in str(exc)
        return
    assert key in allowed, f"unknown key {key!r} was accepted"
    assert key != "formulas" or value in FORMULA_POLICIES, f"formulas: {value!r} was accepted"


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"personal_data": "อีเมล"}, "personal_data must be a list"),
        ({"csv": {"encoding": "thai-ascii"}}, "csv encoding 'thai-ascii'"),
        ({"csv": {"delimiter": ";;"}}, "csv delimiter must be one character"),
        ({"csv": {"sep": ";"}}, "unknown csv option 'sep'"),
        ({"csv": "cp874"}, "csv must be a mapping"),
        ({"resource": ["records"]}, "resource must be"),
    ],
)
def test_bad_top_level_settings(tmp_path: Path, top: dict[str, Any], expected: str) -> None:
    assert expected in load_error(tmp_path, {**VALID, **top})


def test_good_csv_options_load(tmp_path: Path) -> None:
    spec = load_dataset(make_schemas(tmp_path, {**VALID, "csv": {"encoding": "cp874", "delimiter": ";"}}), "records")
    assert spec.csv_options == {"encoding": "cp874", "delimiter": ";"}


@pytest.mark.parametrize("fields", [{"a": {}}, [{"type": "string"}], ["name"]])
def test_a_table_schema_without_named_fields_is_a_config_error(tmp_path: Path, fields: Any) -> None:
    schemas = make_schemas(tmp_path, {"fields": {}}, fields)
    with pytest.raises(ConfigError, match="must be a list of objects, each with a name"):
        load_dataset(schemas, "records")


@pytest.mark.parametrize("kind", ["number", "integer"])
def test_number_normalizer_under_the_schema_s_own_decimal_char_is_refused(tmp_path: Path, kind: str) -> None:
    """`normalize: number` writes 1200.50; under `decimalChar: ","` (group ".") Frictionless would
    read that as 120050, a value changed silently. Refused at load, naming the way out."""
    fields = [dict(f) for f in FIELDS]
    fields[3] = {**fields[3], "type": kind, "decimalChar": ",", "groupChar": "."}
    mapping = with_field("amount", normalize=kind)
    schemas = make_schemas(tmp_path, mapping, fields)
    with pytest.raises(ConfigError) as caught:
        load_dataset(schemas, "records")
    message = str(caught.value)
    assert "field 'amount'" in message and "decimalChar" in message and "normalize: text" in message
    text_mapping = with_field("amount", normalize="text")
    load_dataset(make_schemas(tmp_path / "text", text_mapping, fields), "records")  # the schema's notation as keyed
