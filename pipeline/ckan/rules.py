"""The portal's rules, checked before the first write: every rule its dataset schema states
that can be checked from outside (choices and required fields are fitted in `desired`;
here: e-mail format, unique titles, name rules, tags, dates, resource names), all findings
at once. Rules that cannot be checked from outside are listed as such for the plan.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from pipeline.ckan import licence
from pipeline.ckan.change import Change
from pipeline.ckan.connection import Portal
from pipeline.ckan.desired import Desired, fit_to_portal_schema

# CKAN's own e-mail rule (ckan.logic.validators.email_validator, CKAN 2.9-2.12), so that the
# plan refuses exactly what the portal refuses; a stricter library would refuse more.
EMAIL = re.compile(
    r"^[\w.!#$%&'*+/=?^`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
NAME = re.compile(r"^[a-z0-9_\-]*$")  # CKAN's name_validator
NAME_MIN, NAME_MAX_CKAN, NAME_MAX_GDC = 2, 100, 70
TAG_MIN, TAG_MAX = 2, 100  # CKAN's tag_length_validator
# validators whose rule this module or `desired` checks, or that cannot refuse a value the
# push sends (converters, defaults); any other name a schema uses is reported as not checked
KNOWN_VALIDATORS = {
    "not_empty", "ignore_missing", "ignore_empty", "unicode_safe", "unicode", "strip_value", "remove_whitespace",
    "scheming_required", "scheming_choices", "scheming_multiple_choice", "scheming_multiple_choice_output",
    "email_validator", "package_title_validator", "package_name_validator", "name_validator", "if_empty_same_as",
    "owner_org_validator", "tag_string_convert", "isodate", "convert_to_json_if_date", "scheming_isodatetime",
    "convert_to_json_if_datetime", "clean_format", "if_empty_guess_format", "package_version_validator",
    "url_validator", "default",
}  # fmt: skip
ALWAYS_UNCHECKED = [
    "title uniqueness among private datasets of organizations this token cannot read",
    "a dataset name held by a deleted dataset in the trash, when the token cannot read that dataset",
]


def _validators(field: dict[str, Any]) -> list[str]:
    return [v.split("(")[0] for v in str(field.get("validators") or "").split()]


def check(portal: Portal, desired: Desired, portal_schema: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(findings, rules not checked): every finding at once, before anything is written."""
    if not portal_schema:
        return [], ["the portal has no scheming dataset schema: only CKAN's core rules apply"]
    meta = desired.package
    fields = {f["field_name"]: f for f in portal_schema.get("dataset_fields", [])}
    findings: list[str] = []
    unchecked: list[str] = []
    for name, spec in fields.items():
        validators = _validators(spec)
        value = meta.get(name)
        if "email_validator" in validators and value not in (None, "") and not EMAIL.match(str(value)):
            findings.append(f"{name}: {value!r} is not an e-mail address the portal accepts (email_validator)")
        if ("isodate" in validators or spec.get("preset") == "date") and value not in (None, ""):
            try:
                dt.date.fromisoformat(str(value)[:10])
            except ValueError:
                findings.append(f"{name}: {value!r} is not an ISO date (YYYY-MM-DD)")
        unchecked += [f"{name}: validator {v}" for v in validators if v not in KNOWN_VALIDATORS]
    findings += _name_rules(portal, meta, fields)
    if "package_title_validator" in _validators(fields.get("title", {})):
        findings += _title_taken(portal, meta)
    tag_spec = fields.get("tag_string", {})
    tags = meta.get("tags") or []
    if tag_spec.get("required") and not tags:
        findings.append("tag_string: the portal requires at least one tag (keywords in the descriptor)")
    findings += [
        f"tags: {t!r} must be {TAG_MIN} to {TAG_MAX} characters long" for t in tags if not TAG_MIN <= len(t) <= TAG_MAX
    ]
    resource_fields = {f["field_name"]: f for f in portal_schema.get("resource_fields", [])}
    for res in desired.resources:
        sent = {"name": res.name, "description": res.description, "format": res.format, "url": res.path.name}
        for name, spec in resource_fields.items():
            if spec.get("required") and not sent.get(name):
                findings.append(f"resource {res.path.name}: {name} is required by the portal's resource schema")
    for name, spec in resource_fields.items():
        unchecked += [f"resource {name}: validator {v}" for v in _validators(spec) if v not in KNOWN_VALIDATORS]
    return findings, [*unchecked, *ALWAYS_UNCHECKED]


def _name_rules(portal: Portal, meta: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    name = str(meta.get("name", ""))
    validators = _validators(fields.get("name", {}))
    found = []
    # package_title_validator is thai_gdc's own: its package_name_validator caps names at 70
    limit = NAME_MAX_GDC if "package_title_validator" in _validators(fields.get("title", {})) else NAME_MAX_CKAN
    if not NAME_MIN <= len(name) <= limit:
        found.append(f"name: {name!r} is {len(name)} characters; the portal takes {NAME_MIN} to {limit}")
    if "name_validator" in validators and not NAME.match(name):
        found.append(f"name: {name!r} may hold only lowercase letters, digits, '-' and '_'")
    return found


def _title_taken(portal: Portal, meta: dict[str, Any]) -> list[str]:
    title = str(meta.get("title") or "")
    if not title:
        return []
    phrase = title.replace("\\", "\\\\").replace('"', '\\"')
    result = portal.call("package_search", fq=f'title:"{phrase}"', include_private=True, include_drafts=True, rows=1000)
    others = sorted(
        p["name"]
        for p in result.get("results", [])
        if p.get("title") == title and p.get("name") != meta.get("name") and p.get("type", "dataset") == "dataset"
    )
    if not others:
        return []
    return [f"title: {title!r} is already the title of dataset {', '.join(others)} (the portal requires unique titles)"]


def fit_portal(
    portal: Portal, desired: Desired, portal_schema: dict[str, Any] | None, note: Callable[[Change], None] | None
) -> tuple[list[str], list[str]]:
    """Fit the metadata to the portal (licence, choices) and check its rules: (findings, not checked).
    `note` (the plan's) is told how the licence was mapped."""
    name = desired.package["name"]
    register = portal.call("license_list")
    fit = licence.fit_licence(
        str(desired.package.get("license_id") or ""),
        desired.licenses,
        licence.load_licences(desired.reference_dir),
        portal_schema,
        register,
    )
    desired.package["license_id"] = fit.license_id
    if fit.other is not None:
        desired.package["license_id_other"] = fit.other
    if note is not None and fit.note != fit.license_id:
        note(Change("licence", name, "mapped", fit.note))
    problems = [fit.problem] if fit.problem else []
    problems += fit_to_portal_schema(desired, portal_schema)
    findings, unchecked = check(portal, desired, portal_schema)
    if fit.open and fit.portal_open is False:
        unchecked.append(f"isopen: the portal's licence register does not mark {fit.license_id!r} as open")
    return problems + findings, unchecked
