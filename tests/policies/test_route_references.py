"""route-references: the pieces the YAML cases do not show one by one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from policies.gateway.indexes import INDEXES
from policies.gateway.model import Gateway
from policies.gateway.refs import BackendRef
from policies.route_references import (
    POLICY,
    gateway_refs,
    permits,
    render,
    route_refs,
)
from tests.support import KEPT, make_view
from webhook.cluster.memory import MemoryView
from webhook.core.kinds import (
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    LISTENERSET,
    TCPROUTE,
    TLSROUTE,
    UDPROUTE,
    GroupKind,
)
from webhook.core.policy import Mode
from webhook.core.review import Review

GW = "gateway.networking.k8s.io"
SERVICE_REF = BackendRef("", "Service", "backend", "api", path="spec.rules[0].backendRefs[0]")


def _grant(frm: dict[str, Any], to: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"from": [frm], "to": [to]}}


FROM_APPS = {"group": GW, "kind": "HTTPRoute", "namespace": "apps"}


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        (_grant(FROM_APPS, {"group": "", "kind": "Service"}), True),
        (_grant(FROM_APPS, {"group": "", "kind": "Service", "name": "api"}), True),
        (_grant(FROM_APPS, {"group": "", "kind": "Service", "name": "other"}), False),
        (_grant(FROM_APPS, {"group": "", "kind": "Secret"}), False),
        (_grant(FROM_APPS | {"namespace": "prod"}, {"group": "", "kind": "Service"}), False),
        (_grant(FROM_APPS | {"kind": "TLSRoute"}, {"group": "", "kind": "Service"}), False),
        (_grant(FROM_APPS | {"group": ""}, {"group": "", "kind": "Service"}), False),
        ({"spec": {}}, False),
    ],
)
def test_permits(grant: dict[str, Any], expected: bool) -> None:
    assert permits(grant, HTTPROUTE, "apps", SERVICE_REF) is expected


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "team", "operator": "In", "values": ["x", "y"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "shared", "operator": "Exists"},
                    {"key": "private", "operator": "DoesNotExist"},
                ]
            },
            "team in (x,y),env notin (dev),shared,!private",
        ),
        ({}, "everything"),
        (None, "everything"),
    ],
)
def test_render_selector(selector: object, text: str) -> None:
    listener = {
        "name": "l",
        "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "Selector", "selector": selector}},
    }
    gateway = Gateway.parse({"metadata": {"name": "g"}, "spec": {"listeners": [listener]}})
    assert render(gateway.listeners[0]) == text


def test_route_refs_include_mirrors_at_both_levels() -> None:
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "m"}}}
    route = {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "spec": {
            "rules": [
                {"backendRefs": [{"name": "a", "filters": [mirror]}], "filters": [mirror]},
                {"backendRefs": [{"name": "b", "namespace": "x", "kind": "Other", "group": "g"}]},
            ]
        },
    }
    assert list(route_refs(route, "apps")) == [
        BackendRef("", "Service", "apps", "a", path="spec.rules[0].backendRefs[0]"),
        BackendRef(
            "",
            "Service",
            "apps",
            "m",
            path="spec.rules[0].backendRefs[0].filters[0].requestMirror.backendRef",
        ),
        BackendRef(
            "", "Service", "apps", "m", path="spec.rules[0].filters[0].requestMirror.backendRef"
        ),
        BackendRef("g", "Other", "x", "b", path="spec.rules[1].backendRefs[0]"),
    ]


def test_gateway_refs_include_client_certificate() -> None:
    gateway = {
        "spec": {"tls": {"backend": {"clientCertificateRef": {"name": "c", "namespace": "p"}}}}
    }
    assert list(gateway_refs(gateway, "edge")) == [
        BackendRef("", "Secret", "p", "c", path="spec.tls.backend.clientCertificateRef"),
    ]


class _CountingView(MemoryView):
    """Records every list() so the test can prove no namespace-wide scan happens."""

    def __init__(self, objects: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(objects, derive=INDEXES, kept=KEPT)
        self.listed: list[tuple[GroupKind, str | None]] = []

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[Mapping[str, Any]]:
        self.listed.append((kind, namespace))
        return super().list(kind, namespace)


def test_grants_are_read_one_namespace_at_a_time() -> None:
    route = {
        "apiVersion": f"{GW}/v1alpha2",
        "kind": "TLSRoute",
        "metadata": {"name": "r", "namespace": "apps"},
        "spec": {"rules": [{"backendRefs": [{"name": "a", "namespace": "one"}, {"name": "b"}]}]},
    }
    view = _CountingView([])
    decision = POLICY(Review.from_manifest(route), view, {})
    assert not decision.allowed
    assert all(namespace is not None for _, namespace in view.listed)
    assert [namespace for _, namespace in view.listed] == ["one"]


def test_listener_refusing_kind_and_namespace_names_both() -> None:
    gateway = {
        "apiVersion": f"{GW}/v1beta1",
        "kind": "Gateway",
        "metadata": {"name": "web", "namespace": "infra"},
        "spec": {"listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
    }
    route = {
        "apiVersion": f"{GW}/v1",
        "kind": "TLSRoute",
        "metadata": {"name": "r", "namespace": "apps"},
        "spec": {"parentRefs": [{"name": "web", "namespace": "infra"}]},
    }
    decision = POLICY(Review.from_manifest(route), make_view([gateway]), {})
    assert decision.messages == (
        "spec.parentRefs[0] (Gateway infra/web): NotAllowedByListeners: no listener it selects "
        "admits TLSRoute from namespace apps: listener 'http' has protocol HTTP, which does not "
        "serve TLSRoute; attach to a listener with protocol TLS; it also admits routes only from "
        "its own namespace infra (allowedRoutes.namespaces.from: Same); set from: All, or from: "
        "Selector matching Namespace apps, on that listener",
    )


def test_policy_shape() -> None:
    assert POLICY.default_mode is Mode.WARN
    assert POLICY.referential
    assert POLICY.kinds == {
        TLSROUTE,
        HTTPROUTE,
        GRPCROUTE,
        TCPROUTE,
        UDPROUTE,
        GATEWAY,
        LISTENERSET,
    }
