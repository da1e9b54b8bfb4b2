"""webhook.vap.match: which requests a policy and binding select."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import make_view
from tests.vap.common import (
    DENY_ALL,
    MATCH,
    SELECTOR,
    configmap,
    decide,
    namespace,
    one,
    policies_for_cases,
    spec,
)
from webhook.core.kinds import GATEWAY, GroupKind
from webhook.core.review import Review


@pytest.mark.parametrize(
    ("failure_policy", "view", "messages"),
    [
        ("Fail", [namespace(team="a")], ("m",)),
        ("Fail", [namespace(team="b")], ()),
        (
            "Fail",
            [],
            (
                "namespace 'apps' is not in the cluster view, so the namespaceSelector cannot be"
                " evaluated",
            ),
        ),
        ("Ignore", [], ()),
    ],
)
def test_namespace_selector(
    tmp_path: Path, failure_policy: str, view: list[dict[str, Any]], messages: tuple[str, ...]
) -> None:
    text = spec(f"  failurePolicy: {failure_policy}\n" + DENY_ALL, match=MATCH + SELECTOR)
    policy = one(tmp_path, text)
    assert policy.referential is True
    assert decide(policy, Review.from_manifest(configmap()), make_view(view)).messages == messages


@pytest.mark.parametrize(("labels", "messages"), [({"team": "a"}, ("m",)), ({"team": "b"}, ())])
def test_a_namespace_is_selected_on_its_own_labels(
    tmp_path: Path, labels: dict[str, str], messages: tuple[str, ...]
) -> None:
    match = MATCH.replace("[configmaps]", "[namespaces]") + SELECTOR
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    review = Review.from_manifest(namespace("apps", **labels))
    assert decide(policy, review).messages == messages


@pytest.mark.parametrize(
    ("new", "old", "messages"),
    [
        ({"tier": "web"}, None, ("m",)),
        ({}, {"tier": "web"}, ("m",)),
        ({"tier": "db"}, {}, ()),
    ],
)
def test_object_selector_matches_new_or_old(
    tmp_path: Path,
    new: dict[str, str],
    old: dict[str, str] | None,
    messages: tuple[str, ...],
) -> None:
    match = (
        MATCH + "    objectSelector:\n      matchExpressions:\n"
        "      - {key: tier, operator: In, values: [web]}\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    old_obj = configmap(labels=old) if old is not None else None
    review = Review.from_manifest(configmap(labels=new), "UPDATE" if old_obj else "CREATE", old_obj)
    assert decide(policy, review).messages == messages


@pytest.mark.parametrize(
    ("extra", "name", "messages"),
    [
        ("      resourceNames: [cm]\n", "cm", ("m",)),
        ("      resourceNames: [cm]\n", "other", ()),
        ("      scope: '*'\n", "cm", ("m",)),
        ("      scope: Namespaced\n", "cm", ("m",)),
    ],
)
def test_resource_names_and_scope(
    tmp_path: Path, extra: str, name: str, messages: tuple[str, ...]
) -> None:
    policy = one(tmp_path, spec(DENY_ALL, match=MATCH + extra))
    assert decide(policy, Review.from_manifest(configmap(name))).messages == messages


def test_exclude_resource_rules(tmp_path: Path) -> None:
    match = MATCH + (
        "    excludeResourceRules:\n    - apiGroups: ['']\n      apiVersions: ['*']\n"
        "      operations: ['*']\n      resources: [configmaps]\n      resourceNames: [skip]\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    verdicts = [decide(policy, Review.from_manifest(configmap(n))).messages for n in ("a", "skip")]
    assert verdicts == [("m",), ()]


def test_binding_match_resources_narrow_the_policy(tmp_path: Path) -> None:
    match = MATCH.replace("[configmaps]", "[configmaps, secrets]")
    binding = (
        "  matchResources:\n    resourceRules:\n    - apiGroups: ['']\n      apiVersions: [v1]\n"
        "      operations: [CREATE]\n      resources: [secrets]\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, binding, match))
    secret = configmap() | {"kind": "Secret"}
    assert (policy.kinds, policy.operations) == (
        frozenset({GroupKind("", "Secret")}),
        frozenset({"CREATE"}),
    )
    verdicts = [
        decide(policy, Review.from_manifest(secret)).messages,
        decide(policy, Review.from_manifest(configmap())).messages,
        decide(policy, Review.from_manifest(secret, "UPDATE", secret)).messages,
    ]
    assert verdicts == [("m",), (), ()]


@pytest.mark.parametrize(("match_policy", "messages"), [("Equivalent", ("m",)), ("Exact", ())])
def test_match_policy(tmp_path: Path, match_policy: str, messages: tuple[str, ...]) -> None:
    match = (
        "  matchConstraints:\n    matchPolicy: " + match_policy + "\n    resourceRules:\n"
        "    - apiGroups: [gateway.networking.k8s.io]\n      apiVersions: [v1beta1]\n"
        "      operations: ['*']\n      resources: [gateways]\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "g", "namespace": "apps"},
    }
    assert policy.kinds == frozenset({GATEWAY})
    assert decide(policy, Review.from_manifest(gateway)).messages == messages


def test_delete_sees_the_old_object(tmp_path: Path) -> None:
    match = MATCH.replace("[CREATE, UPDATE]", "[DELETE]")
    body = "  validations:\n  - expression: object == null && oldObject.data.keep != 'yes'\n"
    policy = one(tmp_path, spec(body, match=match))
    verdicts = [
        decide(policy, Review.from_manifest(configmap(keep=k), "DELETE")).allowed
        for k in ("no", "yes")
    ]
    assert verdicts == [True, False]


def test_the_real_policies_leave_other_kinds_alone() -> None:
    review = Review.from_manifest(configmap())
    assert [p.matches(review) for p in policies_for_cases().values()] == [False, False]
