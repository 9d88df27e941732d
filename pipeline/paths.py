"""The four folders a build works with must be separate before anything is touched.

`--published-dir` equal to `--raw-dir` once swapped the published folder over the raw
workbooks; a published folder inside a raw folder was read back as input (a deleted row
came back). Any overlap (the same folder, or one inside another, links resolved) is a
usage error naming both folders.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from pipeline.errors import ConfigError

ROLES = ("raw_dir", "published_dir", "reports_dir", "schemas_dir")
OPTION = {role: "--" + role.replace("_", "-") for role in ROLES}


def check_separate(folders: dict[str, Path]) -> None:
    """Raise ConfigError (exit 2) when two of the folders are equal or one holds another."""
    resolved = {role: Path(path).expanduser().resolve() for role, path in folders.items()}
    for (a, pa_), (b, pb) in combinations(resolved.items(), 2):
        if pa_ == pb:
            how = "is the same folder"
        elif pa_.is_relative_to(pb):
            how = "is inside the second"
        elif pb.is_relative_to(pa_):
            how = "holds the second"
        else:
            continue
        raise ConfigError(
            f"{OPTION.get(a, a)} {folders[a]} and {OPTION.get(b, b)} {folders[b]} overlap: the first {how}; "
            "keep raw, published, reports and schemas folders apart (nothing was touched)"
        )
