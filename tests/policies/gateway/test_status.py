"""Controllers' status as policies read it: conditions and supported features."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.status import Condition, condition, reported, supported_features


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {"supportedFeatures": [{"name": "HTTPRoute"}, {"name": "TLSRoute"}]},
            {"HTTPRoute", "TLSRoute"},
        ),
        ({"supportedFeatures": ["HTTPRoute", "Gateway"]}, {"HTTPRoute", "Gateway"}),  # before v1.2
        ({"supportedFeatures": []}, None),
        ({"supportedFeatures": "HTTPRoute"}, None),  # not a list: the schema refuses it
        ({"supportedFeatures": [{"name": ""}, {}, 7]}, None),
        ({}, None),
    ],
)
def test_supported_features(status: dict[str, Any], expected: set[str] | None) -> None:
    found = supported_features({"status": status})
    assert found == (frozenset(expected) if expected is not None else None)


def test_a_long_condition_message_is_cut() -> None:
    obj = {
        "status": {"conditions": [{"type": "Accepted", "status": "False", "message": "x" * 500}]}
    }
    found = condition(obj, "Accepted")
    assert found == Condition("Accepted", "False", "", "x" * 500)
    assert found.describe() == f'Accepted: False: "{"x" * 197}..."'


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"conditions": [{"type": "Accepted", "status": "True"}]}, True),
        ({"conditions": []}, False),
        ({"conditions": "Accepted"}, False),
        ({}, False),
    ],
)
def test_reported(status: dict[str, Any], expected: bool) -> None:
    assert reported({"status": status}) is expected


def test_a_condition_without_status_is_unknown() -> None:
    obj = {"status": {"conditions": [{"type": "Programmed"}]}}
    assert condition(obj, "Programmed") == Condition("Programmed", "Unknown", "", "")
    assert condition(obj, "Accepted") is None


def test_a_condition_of_the_wrong_types_is_read_as_unknown() -> None:
    obj = {"status": {"conditions": [{"type": "Accepted", "status": 7, "reason": ["r"]}]}}
    assert condition(obj, "Accepted") == Condition("Accepted", "Unknown", "", "")
