"""Validators the GD Catalog schema (ckanext-thai_gdc 2.1.0) names and CKAN 2.12 lacks or defines
differently, re-written for CKAN 2.12 with the same rules (see gdcatalog_dataset.yaml).

- tag_name_validator / tag_string_convert: Thai tags accepted. Stock CKAN checks tags with
  `[\\w \\-.]*$`; Python's `\\w` excludes the combining marks (Unicode Mn/Mc) that Thai vowels and
  tone marks are, so "นวัตกรรม" is refused. These accept letters, marks and digits of any script
  plus " ", "-", "_" and "."; like thai_gdc, a tag string with no tag at all is refused.
- package_name_validator: thai_gdc's rule: a name held by another dataset is refused, and so is
  one held by a deleted dataset still in the trash; 2 to 70 characters (stock CKAN allows 100).
- package_title_validator: thai_gdc's rule: no two live datasets (type `dataset`) share a title.
"""

from __future__ import annotations

import unicodedata
from itertools import count
from typing import Any

from ckan.common import _
from ckan.lib.navl.dictization_functions import Invalid, missing
from ckan.logic.validators import tag_length_validator

ALLOWED_PUNCTUATION = set(" -_.")
NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 70  # thai_gdc's limit (CKAN's own is 100)


def tag_name_validator(value: Any, context: Any) -> Any:
    for ch in str(value):
        if ch in ALLOWED_PUNCTUATION or unicodedata.category(ch)[0] in ("L", "M", "N"):
            continue
        raise Invalid(
            _(
                'Tag "%s" can only contain letters, marks, digits, spaces (" "), hyphens ("-"), underscores ("_") or dots (".")'
            )
            % value
        )
    return value


def tag_string_convert(key: Any, data: dict[Any, Any], errors: Any, context: Any) -> Any:
    """CKAN's tag_string_convert with the Thai-capable name check; an empty tag list is refused."""
    value = data[key]
    tags = [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else list(value)
    if not tags:
        raise Invalid(_("At least one tag is required"))
    current = max([int(k[1]) for k in data if len(k) == 3 and k[0] == "tags"] + [-1])
    for num, tag in zip(count(current + 1), tags):
        data[("tags", num, "name")] = tag
    for tag in tags:
        tag_length_validator(tag, context)
        tag_name_validator(tag, context)


def _other_packages(key: Any, data: dict[Any, Any], context: Any, column: str, value: Any) -> Any:
    model = context["model"]
    query = context["session"].query(model.Package.state).filter(getattr(model.Package, column) == value)
    package = context.get("package")
    package_id = package.id if package else data.get(key[:-1] + ("id",))
    if package_id and package_id is not missing:
        query = query.filter(model.Package.id != package_id)
    return model, query


def package_name_validator(key: Any, data: dict[Any, Any], errors: Any, context: Any) -> None:
    value = data[key]
    model, query = _other_packages(key, data, context, "name", value)
    states = {row[0] for row in query.all()}
    if states - {model.State.DELETED}:
        errors[key].append(_("That URL is already in use."))
    elif model.State.DELETED in states:
        errors[key].append(_("That URL is already in trash."))
    if len(value) < NAME_MIN_LENGTH:
        raise Invalid(_('Name "%s" length is less than minimum %s') % (value, NAME_MIN_LENGTH))
    if len(value) > NAME_MAX_LENGTH:
        raise Invalid(_('Name "%s" length is more than maximum %s') % (value, NAME_MAX_LENGTH))


def package_title_validator(key: Any, data: dict[Any, Any], errors: Any, context: Any) -> None:
    value = data[key]
    if value is missing or not value:
        return
    model, query = _other_packages(key, data, context, "title", value)
    query = query.filter(model.Package.type == "dataset", model.Package.state != model.State.DELETED)
    if query.first() is not None:
        errors[key].append(_("That title is already in use."))
