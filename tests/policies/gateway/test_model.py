"""The attachment model's pieces: hostname intersection, listener kinds, parentRef defaults."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.model import ANY_HOSTNAME, Gateway, Parent, Route, intersect
from webhook.core.kinds import GATEWAY_GROUP, GRPCROUTE, HTTPROUTE, TLSROUTE, GroupKind


@pytest.mark.parametrize(
    ("listener", "route", "expected"),
    [
        (None, [], (ANY_HOSTNAME,)),
        (None, ["a.example.com"], ("a.example.com",)),
        ("vault.example.com", [], ("vault.example.com",)),
        (
            "*.example.com",
            ["a.example.com", "a.b.example.com"],
            ("a.example.com", "a.b.example.com"),
        ),
        ("*.example.com", ["example.com"], ()),
        ("a.example.com", ["*.example.com"], ("a.example.com",)),
        ("*.b.example.com", ["*.example.com"], ("*.b.example.com",)),
        ("*.example.com", ["*.b.example.com"], ("*.b.example.com",)),
        ("tls.example.com", ["abc.example.com"], ()),
    ],
)
def test_intersect(listener: str | None, route: list[str], expected: tuple[str, ...]) -> None:
    assert intersect(listener, route) == expected


@pytest.mark.parametrize(
    ("listener", "kinds"),
    [
        ({"protocol": "HTTP"}, {HTTPROUTE, GRPCROUTE}),
        ({"protocol": "HTTPS"}, {HTTPROUTE, GRPCROUTE}),
        ({"protocol": "TLS"}, {TLSROUTE}),
        ({"protocol": "TLS", "tls": {"mode": "Passthrough"}}, {TLSROUTE}),
        ({"protocol": "HTTPS", "allowedRoutes": {"kinds": [{"kind": "TLSRoute"}]}}, set()),
        ({"protocol": "HTTP", "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}]}}, {HTTPROUTE}),
        (
            {"protocol": "example.com/custom", "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}]}},
            {HTTPROUTE},
        ),
        ({"protocol": "example.com/custom"}, set()),
    ],
)
def test_the_kinds_a_listener_admits(listener: dict[str, Any], kinds: set[GroupKind]) -> None:
    gateway = Gateway.parse(
        {"metadata": {"name": "g"}, "spec": {"listeners": [{"name": "l", **listener}]}}
    )
    assert gateway.listeners[0].kinds == kinds


def test_parent_refs_are_defaulted_as_the_crd_defaults_them() -> None:
    route = Route.parse(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "apps"},
            "spec": {
                "parentRefs": [
                    {"name": "edge", "group": None, "kind": None},
                    {"name": "mesh", "group": "", "kind": "Service"},
                    {"name": "extra", "kind": "ListenerSet", "namespace": "infra", "port": 443},
                    {"name": ""},
                ]
            },
        }
    )
    assert route is not None
    assert route.parents == (
        Parent(GATEWAY_GROUP, "Gateway", "apps", "edge"),
        Parent("", "Service", "apps", "mesh"),
        Parent(GATEWAY_GROUP, "ListenerSet", "infra", "extra", None, 443),
    )
    assert [p.path for p in route.parents] == [
        "spec.parentRefs[0]",
        "spec.parentRefs[1]",
        "spec.parentRefs[2]",
    ]
    assert [p.is_mesh for p in route.parents] == [False, True, False]


def test_a_route_owned_by_a_controller_is_held_by_it() -> None:
    route = Route.parse(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "TLSRoute",
            "metadata": {
                "name": "puppet",
                "namespace": "openvox",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "other"},
                    {
                        "apiVersion": "openvox.voxpupuli.org/v1alpha1",
                        "kind": "Pool",
                        "name": "puppet",
                        "controller": True,
                    },
                ],
            },
            "spec": {"hostnames": ["Puppet.Example.com."]},
        }
    )
    assert route is not None
    assert (str(route.holder), route.hostnames) == ("Pool openvox/puppet", ("puppet.example.com",))
