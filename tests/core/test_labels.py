"""webhook.core.labels: the one label selector, strict as apimachinery."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.core.labels import EVERYTHING, NOTHING, LabelSelector, namespace_labels

LABELS = {"team": "a", "tier": "edge"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, True),
        ({}, True),
        ({"matchLabels": {"team": "a"}}, True),
        ({"matchLabels": {"team": "b"}}, False),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "c"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "gone", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["x"]}]}, True),
    ],
)
def test_selectors_match_as_kubernetes_does(raw: Any, expected: bool) -> None:
    assert LabelSelector.from_dict(raw).matches(LABELS) is expected


@pytest.mark.parametrize(
    "raw",
    [
        {"matchExpressions": [{"key": "team", "operator": "in", "values": ["a"]}]},
        {"matchExpressions": [{"key": "team", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]},
        {"matchExpressions": [{"operator": "Exists"}]},
        {"matchLabels": {"team": 1}},
        {"matchExpressions": "team"},
    ],
)
def test_a_selector_apimachinery_refuses_selects_nothing(raw: Any) -> None:
    selector = LabelSelector.from_dict(raw)
    assert selector == NOTHING
    assert selector.matches(LABELS) is False
    assert selector.matches({}) is False


def test_no_selector_selects_everything() -> None:
    assert LabelSelector.from_dict("not a mapping") == EVERYTHING
    assert EVERYTHING.empty and EVERYTHING.matches({})


def test_namespace_labels_carry_the_name_label_kubernetes_sets() -> None:
    namespace = {"metadata": {"name": "apps", "labels": {"team": "a"}}}
    assert namespace_labels(namespace) == {"kubernetes.io/metadata.name": "apps", "team": "a"}
