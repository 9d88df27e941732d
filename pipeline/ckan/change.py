"""One change the push made, or the plan would make: what `make plan` and `make push` print."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOTE_KINDS = {"licence", "portal rules"}  # what the plan tells, not changes it would make


@dataclass
class Change:
    kind: str  # organization | dataset | resource | datastore
    name: str
    action: str  # create | update | unchanged | delete
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind:<12} {self.name}: {self.action}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action, "detail": self.detail, **self.counts}


def pending(changes: list[Change]) -> int:
    """How many changes a plan would make or a push made: one count for both, so they agree."""
    return sum(1 for c in changes if c.action != "unchanged" and c.kind not in NOTE_KINDS)
