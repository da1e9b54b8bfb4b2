"""webhook.vap.evaluate: validations, messages, conditions, variables and audit annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import make_view
from tests.vap.common import (
    configmap,
    decide,
    engine_outcome,
    namespace,
    one,
    spec,
    write,
)
from webhook.core.review import Review
from webhook.vap.load import load_bindings, load_user_policies

# --- evaluation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validation", "messages", "code"),
    [
        ("- expression: object.data.x == 'y'\n    message: x must be y", ("x must be y",), 422),
        ("- expression: object.data.x == 'y'", ("failed expression: object.data.x == 'y'",), 422),
        (
            "- expression: object.data.x == 'y'\n"
            "    messageExpression: \"'x is ' + object.data.x\"",
            ("x is n",),
            422,
        ),
        (
            "- expression: object.data.x == 'y'\n    message: fallback\n"
            "    messageExpression: object.data.missing",
            ("fallback",),
            422,
        ),
        (
            "- expression: object.data.x == 'y'\n    message: fallback\n    messageExpression: '1'",
            ("fallback",),
            422,
        ),
        ("- expression: 'false'\n    message: m\n    reason: Forbidden", ("m",), 403),
        ("- expression: 'false'\n    message: m\n    reason: Unauthorized", ("m",), 401),
        (
            "- expression: object.data.missing == 'y'",
            (
                "expression 'object.data.missing == 'y'' resulted in error: NOT_FOUND: Key not"
                ' found in map : "missing"',
            ),
            422,
        ),
        (
            "- expression: object.data.x",
            ("expression 'object.data.x' resulted in error: must evaluate to bool, got str",),
            422,
        ),
        ("- expression: 'true'", (), 200),
        (
            "- expression: 'false'\n    message: a\n  - expression: 'false'\n    message: b",
            ("a", "b"),
            422,
        ),
    ],
)
def test_validations_and_their_messages(
    tmp_path: Path, validation: str, messages: tuple[str, ...], code: int
) -> None:
    policy = one(tmp_path, spec(f"  validations:\n  {validation}\n"))
    decision = decide(policy, Review.from_manifest(configmap(x="n")))
    assert (decision.allowed, decision.messages, decision.code) == (not messages, messages, code)


@pytest.mark.parametrize(
    ("failure_policy", "conditions", "messages"),
    [
        ("Fail", "object.data.x == 'n'", ("m",)),
        ("Fail", "object.data.x == 'other'", ()),
        ("Ignore", "object.data.x == 'n'", ("m",)),
        (
            "Fail",
            "object.data.missing == 'n'",
            (
                "failed to evaluate matchCondition 'c': NOT_FOUND: Key not found in map :"
                ' "missing"',
            ),
        ),
        ("Ignore", "object.data.missing == 'n'", ()),
        (
            "Fail",
            "object.data.x",
            ("failed to evaluate matchCondition 'c': must evaluate to bool, got str",),
        ),
    ],
)
def test_match_conditions_and_failure_policy(
    tmp_path: Path, failure_policy: str, conditions: str, messages: tuple[str, ...]
) -> None:
    body = (
        f"  failurePolicy: {failure_policy}\n  matchConditions:\n  - name: c\n"
        f"    expression: \"{conditions}\"\n  validations:\n  - expression: 'false'\n"
        "    message: m\n"
    )
    policy = one(tmp_path, spec(body))
    assert decide(policy, Review.from_manifest(configmap(x="n"))).messages == messages


def test_ignore_skips_a_validation_that_errors_and_keeps_the_others(tmp_path: Path) -> None:
    body = (
        "  failurePolicy: Ignore\n  validations:\n  - expression: object.data.missing == 'y'\n"
        "  - expression: 'false'\n    message: still checked\n"
    )
    decision = decide(one(tmp_path, spec(body)), Review.from_manifest(configmap()))
    assert decision.messages == ("still checked",)


@pytest.mark.parametrize(
    ("expression", "messages"),
    [
        ("variables.b == 3", ()),
        ("variables.b == 4", ("failed expression: variables.b == 4",)),
        (
            "variables.broken == 1",
            (
                "expression 'variables.broken == 1' resulted in error: variables.broken:"
                ' NOT_FOUND: Key not found in map : "missing"',
            ),
        ),
    ],
)
def test_variables_in_order_and_errors_traced(
    tmp_path: Path, expression: str, messages: tuple[str, ...]
) -> None:
    body = (
        "  variables:\n  - name: a\n    expression: int(object.data.n)\n"
        "  - name: broken\n    expression: object.data.missing\n"
        "  - name: b\n    expression: variables.a + 1\n"
        f"  validations:\n  - expression: {expression}\n"
    )
    decision = decide(one(tmp_path, spec(body)), Review.from_manifest(configmap(n="2")))
    assert decision.messages == messages


def test_request_variable(tmp_path: Path) -> None:
    fields = (
        "request.operation",
        "request.kind.group",
        "request.kind.version",
        "request.kind.kind",
        "request.resource.resource",
        "request.namespace",
        "request.name",
        "request.userInfo.username",
        "string(request.dryRun)",
        "request.subResource",
    )
    text = " + '|' + ".join(fields)
    body = f"  validations:\n  - expression: 'false'\n    messageExpression: \"{text}\"\n"
    review = Review.from_admission(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u1",
                "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "operation": "CREATE",
                "namespace": "apps",
                "name": "cm",
                "object": configmap(),
                "userInfo": {"username": "alice"},
                "dryRun": True,
            },
        }
    )
    assert decide(one(tmp_path, spec(body)), review).messages == (
        "CREATE||v1|ConfigMap|configmaps|apps|cm|alice|true|",
    )


@pytest.mark.parametrize(
    ("view", "messages"),
    [
        ([namespace(team="a")], ()),
        (
            [namespace(team="b")],
            ("failed expression: namespaceObject.metadata.labels.team == 'a'",),
        ),
        (
            [],
            (
                "expression 'namespaceObject.metadata.labels.team == 'a'' resulted in error:"
                " INVALID_ARGUMENT: Applying SELECT to non-message type",
            ),
        ),
    ],
)
def test_namespace_object(
    tmp_path: Path, view: list[dict[str, Any]], messages: tuple[str, ...]
) -> None:
    body = "  validations:\n  - expression: namespaceObject.metadata.labels.team == 'a'\n"
    policy = one(tmp_path, spec(body))
    assert policy.referential is True
    assert decide(policy, Review.from_manifest(configmap()), make_view(view)).messages == messages


def test_audit_annotations(tmp_path: Path) -> None:
    body = (
        "  auditAnnotations:\n  - key: owner\n    valueExpression: object.data.owner\n"
        "  - key: absent\n    valueExpression: 'null'\n"
        "  - key: bad\n    valueExpression: size(object.data)\n"
    )
    [bound] = load_bindings([write(tmp_path, spec(body))])
    evaluation = bound.evaluate(Review.from_manifest(configmap(owner="team-a")), make_view())
    assert (evaluation.annotations, evaluation.decision.messages) == (
        {"p_owner": "team-a"},
        (
            "auditAnnotation 'bad': valueExpression 'size(object.data)' resulted in error: must"
            " evaluate to a string or null, got int",
        ),
    )


def test_audit_annotations_reach_the_admission_response(tmp_path: Path) -> None:
    body = "  auditAnnotations:\n  - key: owner\n    valueExpression: object.data.owner\n"
    [policy] = load_user_policies([write(tmp_path, spec(body))])
    outcome = engine_outcome(policy, Review.from_manifest(configmap(owner="team-a")))
    assert (outcome.allowed, dict(outcome.audit)) == (True, {"p_owner": "team-a"})
