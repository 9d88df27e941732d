"""Differential tests: the pipeline's validator against Frictionless, the reference, on random
Table Schemas (every type, option and constraint) and random or hostile cell texts.

`make test` runs a fixed-seed set; `make fuzz` runs the same properties long, seeds unfixed
(FUZZ_EXAMPLES examples each)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

from .differential import comparable, frictionless_errors, own_errors, tables

FUZZ = int(os.environ.get("FUZZ_EXAMPLES", "0"))
CASES = settings(
    max_examples=FUZZ or 1000,
    derandomize=not FUZZ,  # a fixed seed in `make test`: the same 1,000 cases every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@CASES
@given(tables())
def test_validator_reports_exactly_what_frictionless_reports(case: tuple[dict, list[list[str]]]) -> None:
    schema, rows = case
    own, reference = comparable(own_errors(schema, rows)), frictionless_errors(schema, rows)
    if reference == {(0, "", "task-error")}:  # Frictionless fails on the table: we must not publish it
        assert own
    else:
        assert own == reference
