"""`python -m pipeline new`: start a dataset's schema files from one workbook or CSV.

The files it writes are a first draft for a person to review; what it cannot know (who
publishes, the licence, contacts) is written as "TODO: …" and the push refuses it until filled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TODO = "TODO:"


def _todo_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [path] if value.strip().startswith(TODO) else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _todo_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _todo_paths(v, f"{path}[{i}]")]
    return []


def unfilled(descriptor_path: Path) -> list[str]:
    """Where a descriptor still says "TODO: …" (dotted paths); empty when it is ready to push."""
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # not ours to judge here: loading the dataset reports an unreadable schema
    return _todo_paths(descriptor, "")
