"""Every YAML case under tests/cases, run through the engine with its one policy."""

from __future__ import annotations

import pytest

import policies
from policies.gateway.indexes import INDEXES
from tests.support import TESTS
from webhook.offline.cases import Case, difference, discover, run_case

CASES = discover(TESTS / "cases")
POLICIES = {p.name: p for p in policies.builtin()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    result = run_case(case, POLICIES, INDEXES)
    assert result.problems == ()


def test_a_difference_marks_where_two_messages_differ() -> None:
    expected = ["[p] spec.route.hostname: hostname is required when the route is enabled"]
    got = ["[p] spec.route.hostname: hostname is required when route is enabled", "[p] other"]
    assert difference("messages", expected, got).splitlines() == [
        "messages differ (- expected, + got):",
        "  - [p] spec.route.hostname: hostname is required when the route is enabled",
        "  ?                                                   ----",
        "  + [p] spec.route.hostname: hostname is required when route is enabled",
        "  + [p] other",
    ]
    assert difference("patch", [{"op": "add", "path": "/a"}], []).splitlines() == [
        "patch differ (- expected, + got):",
        '  - {"op": "add", "path": "/a"}',
    ]
