"""Exceptions for problems that stop a stage; data problems are `Issue` values instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.issues import Issue


class PipelineError(Exception):
    """Base class: a one-line message fit for the data officer, no traceback."""

    exit_code = 2


class ConfigError(PipelineError):
    """Bad command line, missing folder, unreadable schema: the environment is wrong."""


class BuildLocked(PipelineError):
    """Another build holds the published folder."""


class ReadError(PipelineError):
    """A raw file cannot be read at all (corrupt, encrypted, unsupported)."""

    exit_code = 1


class DataInvalid(PipelineError):
    """The raw data breaks the schema; carries every issue found, not only the first."""

    exit_code = 1

    def __init__(self, dataset: str, issues: list[Issue]) -> None:
        errors = [i for i in issues if i.severity == "error"]
        super().__init__(f"{dataset}: {len(errors)} error(s); nothing was published")
        self.dataset = dataset
        self.issues = issues


class PublishError(PipelineError):
    """Writing the published folder failed; what was published before is kept."""


class PortalError(PipelineError):
    """The CKAN portal refused or could not be reached."""

    exit_code = 3
