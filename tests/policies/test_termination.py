"""tls-passthrough's termination-path rules: the pieces the YAML cases do not show."""

from __future__ import annotations

from typing import Any

import pytest

from policies.termination import MAX_NAMED, openbao_hop_problem, public_backend_warnings
from tests.support import make_view

OPENBAO: dict[str, Any] = {
    "apiVersion": "openbao.org/v1alpha1",
    "kind": "OpenBaoCluster",
    "metadata": {"name": "bao", "namespace": "apps"},
    "spec": {"tls": {"enabled": True}},
}


def route(backends: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "rules": [
                {"backendRefs": [{"name": "bao-public", "port": 8200 + i} for i in range(backends)]}
            ]
        },
    }


def test_warnings_are_capped_and_the_rest_counted() -> None:
    found = public_backend_warnings(route(MAX_NAMED + 2), make_view([OPENBAO]))
    assert len(found) == MAX_NAMED + 1
    assert found[0].startswith(
        "spec.rules[0].backendRefs[0]: Service apps/bao-public is the public Service of "
        "OpenBaoCluster apps/bao, which serves TLS"
    )
    assert found[-1] == "... and 2 more backendRefs like these, not listed"


def test_refused_backends_are_not_warned_of_again() -> None:
    skip = frozenset({"spec.rules[0].backendRefs[0]"})
    assert public_backend_warnings(route(1), make_view([OPENBAO]), skip) == []


def test_a_cluster_not_in_the_view_is_not_guessed_at() -> None:
    assert public_backend_warnings(route(1), make_view()) == []


@pytest.mark.parametrize(
    ("backend_tls", "refused"),
    [
        ({}, False),
        ({"enabled": True}, False),
        ({"enabled": None}, False),
        ({"enabled": False}, True),
    ],
)
def test_backend_tls_must_be_explicitly_false_to_be_refused(
    backend_tls: dict[str, Any], refused: bool
) -> None:
    gateway = {"enabled": True, "gatewayRef": {"name": "edge"}, "backendTLS": backend_tls}
    obj = {**OPENBAO, "spec": {**OPENBAO["spec"], "gateway": gateway}}
    assert (openbao_hop_problem(obj, make_view()) is not None) is refused
