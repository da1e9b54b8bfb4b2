"""Unit tests for the unique-hostnames helpers; the verdicts are in tests/cases/unique-hostnames."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.claims import ALL_SECTIONS, CLUSTER, Claim, Slot, Unresolved
from policies.gateway.model import ListenerId, Parent, Route
from policies.unique_hostnames import read_settings, where_of
from webhook.core.hostnames import parent_wildcards
from webhook.core.kinds import GATEWAY_GROUP, TLSROUTE
from webhook.core.objects import ObjectKey

ROUTE = ObjectKey("gateway.networking.k8s.io", "TLSRoute", "ns", "other")


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("a.b.example.com", ["*.b.example.com", "*.example.com", "*.com"]),
        ("*.b.example.com", ["*.example.com", "*.com"]),
        ("example.com", ["*.com"]),
        ("localhost", []),
        ("*.com", []),
    ],
)
def test_parent_wildcards(hostname: str, expected: list[str]) -> None:
    assert parent_wildcards(hostname) == expected


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, ("listener", False)),
        ({"scope": "cluster", "httpRouteDuplicates": "Enforce"}, ("cluster", True)),
    ],
)
def test_read_settings(settings: dict[str, Any], expected: tuple[str, bool]) -> None:
    assert read_settings(settings) == expected


@pytest.mark.parametrize("settings", [{"scope": "Listener"}, {"httpRouteDuplicates": "Deny"}])
def test_read_settings_refuses_unknown_values(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^policies\.unique-hostnames\.settings\."):
        read_settings(settings)


@pytest.mark.parametrize(
    ("api_version", "kind", "spec", "expected"),
    [
        (
            "openvox.voxpupuli.org/v1alpha1",
            "Pool",
            {"route": {"enabled": True, "hostname": "B.example.com"}},
            "spec.route.hostname",
        ),
        (
            "openbao.org/v1alpha1",
            "OpenBaoCluster",
            {"gateway": {"enabled": True, "hostname": "b.example.com."}},
            "spec.gateway.hostname",
        ),
        (
            "gateway.networking.k8s.io/v1alpha2",
            "TLSRoute",
            {"hostnames": ["a.example.com", "B.Example.com."]},
            "spec.hostnames[1]",
        ),
        ("gateway.networking.k8s.io/v1", "TLSRoute", {}, "spec.hostnames"),
    ],
)
def test_hostname_field(api_version: str, kind: str, spec: dict[str, Any], expected: str) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    route = Route.parse(obj, "ns")
    assert route is not None
    assert route.hostname_field("b.example.com") == expected


RIVAL = Claim(
    "a.example.com",
    CLUSTER,
    ROUTE,
    ROUTE,
    TLSROUTE,
    Parent(GATEWAY_GROUP, "Gateway", "ns", "gw", "tls", path="spec.parentRefs[0]"),
)


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        ([], "Gateway ns/gw"),
        ([ListenerId("Gateway", "ns", "gw", "a")], "Gateway ns/gw listener 'a'"),
        (
            [ListenerId("Gateway", "ns", "gw", "a"), ListenerId("Gateway", "ns", "gw", "b")],
            "Gateway ns/gw listeners 'a', 'b'",
        ),
        (
            [ListenerId("Gateway", "ns", "gw", "a"), ListenerId("ListenerSet", "ns", "ls", "c")],
            "Gateway ns/gw listener 'a' and ListenerSet ns/ls listener 'c'",
        ),
        ([Unresolved("Gateway", "ns", "gw", ALL_SECTIONS)], "Gateway ns/gw listener 'tls'"),
        ([Unresolved("Gateway", "ns", "gw", "x")], "Gateway ns/gw listener 'x'"),
    ],
)
def test_where_a_collision_is_named(slots: list[Slot], expected: str) -> None:
    assert where_of(slots, RIVAL) == expected
