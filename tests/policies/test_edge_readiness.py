"""edge-readiness: the pieces the YAML cases do not show one by one."""

from __future__ import annotations

from typing import Any

from policies.edge_readiness import MAX_FINDINGS, POLICY
from tests.support import make_view
from webhook.core.kinds import GATEWAY, GATEWAYCLASS
from webhook.core.review import Review

GW = "gateway.networking.k8s.io"


def gateway(name: str, cls: str = "missing") -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"gatewayClassName": cls, "listeners": [{"name": "http", "protocol": "HTTP"}]},
    }


def route(*parents: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"parentRefs": [{"name": p} for p in parents]},
    }


def test_findings_are_capped_and_the_rest_counted() -> None:
    names = [f"gw-{i:02}" for i in range(MAX_FINDINGS + 3)]
    view = make_view([gateway(n) for n in names])
    decision = POLICY(Review.from_manifest(route(*names)), view, {})
    assert not decision.allowed
    assert len(decision.messages) == MAX_FINDINGS + 1
    assert decision.messages[0].startswith(
        "spec.parentRefs[0] (Gateway apps/gw-00): GatewayClass missing (spec.gatewayClassName of "
        "the Gateway) is not in the cluster"
    )
    assert decision.messages[-1] == "... and 3 more findings like these"
    assert len(decision.notes) == MAX_FINDINGS + 1
    assert decision.notes[-1] == "... and 3 more notes like these"


def test_a_gateway_status_only_change_is_seen() -> None:
    view = make_view([gateway("edge")])
    review = Review.from_manifest(route("edge"))
    failing = {
        "conditions": [
            {"type": "Programmed", "status": "False", "reason": "Invalid", "message": ""}
        ]
    }
    view.upsert({**gateway("edge"), "status": failing})
    assert any(
        "the Gateway is not programmed (Programmed: False, reason Invalid)" in m
        for m in POLICY(review, view, {}).messages
    )


def test_the_view_keeps_the_status_the_policy_reads() -> None:
    assert POLICY.reads_status[GATEWAYCLASS] == (
        "conditions.type",
        "conditions.status",
        "conditions.reason",
        "conditions.message",
        "supportedFeatures",
    )
    assert GATEWAY in POLICY.reads_status
