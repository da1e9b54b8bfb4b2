"""Every YAML case under tests/cases, run through the engine with its one policy."""

from __future__ import annotations

import pytest

import policies
from policies.gateway.indexes import INDEXES
from tests.support import TESTS
from webhook.offline.cases import Case, discover, run_case

CASES = discover(TESTS / "cases")
POLICIES = {p.name: p for p in policies.builtin()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    result = run_case(case, POLICIES, INDEXES)
    assert result.problems == ()
