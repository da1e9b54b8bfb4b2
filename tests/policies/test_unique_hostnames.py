"""Unit tests for the unique-hostnames helpers; the verdicts are in tests/cases/unique-hostnames."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.refs import Claim, ParentRef
from policies.unique_hostnames import (
    Attachment,
    Rival,
    field_of,
    read_settings,
    shared_listener,
)
from tests.support import make_view
from webhook.core.hostnames import parent_wildcards
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
        ("openvox.voxpupuli.org/v1alpha1", "Pool", {}, "spec.route.hostname"),
        ("openbao.org/v1alpha1", "OpenBaoCluster", {}, "spec.gateway.hostname"),
        (
            "gateway.networking.k8s.io/v1alpha2",
            "TLSRoute",
            {"hostnames": ["a.example.com", "B.Example.com."]},
            "spec.hostnames[1]",
        ),
    ],
)
def test_field_of(api_version: str, kind: str, spec: dict[str, Any], expected: str) -> None:
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    assert field_of(obj, "b.example.com") == expected


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        (ParentRef("ns", "gw"), ParentRef("ns", "gw"), ""),
        (ParentRef("ns", "gw", "tls"), ParentRef("ns", "gw"), " listener 'tls'"),
        (ParentRef("ns", "gw", "tls"), ParentRef("ns", "gw", "tls-alt"), None),
        (ParentRef("ns", "gw", None, 443), ParentRef("ns", "gw", None, 8443), None),
        (ParentRef("ns", "gw"), ParentRef("other", "gw"), None),
    ],
)
def test_shared_listener_without_the_gateway(
    mine: ParentRef, theirs: ParentRef, expected: str | None
) -> None:
    rival = Rival(Claim("a.example.com", ROUTE, (ROUTE,), theirs), {})
    assert shared_listener({}, mine, rival, Attachment(make_view())) == expected
