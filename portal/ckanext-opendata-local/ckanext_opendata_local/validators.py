"""Tag validators that accept Thai.

Stock CKAN checks tags with `[\\w \\-.]*$`; Python's `\\w` excludes the combining marks
(Unicode category Mn/Mc) that Thai vowels and tone marks are, so "นวัตกรรม" is refused.
These accept letters, marks and digits of any script, plus space, "-", "_" and ".".
"""

from __future__ import annotations

import unicodedata
from itertools import count
from typing import Any

from ckan.common import _
from ckan.lib.navl.dictization_functions import Invalid
from ckan.logic.validators import tag_length_validator

ALLOWED_PUNCTUATION = set(" -_.")


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
    """CKAN's tag_string_convert with the Thai-capable name check."""
    value = data[key]
    tags = [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else list(value)
    current = max([int(k[1]) for k in data if len(k) == 3 and k[0] == "tags"] + [-1])
    for num, tag in zip(count(current + 1), tags):
        data[("tags", num, "name")] = tag
    for tag in tags:
        tag_length_validator(tag, context)
        tag_name_validator(tag, context)
