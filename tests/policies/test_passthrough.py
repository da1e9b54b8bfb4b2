"""Unit tests for the tls-passthrough helpers; the verdicts are in tests/cases/tls-passthrough."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.listeners import protocol_mode
from policies.gateway.refs import ParentRef
from policies.passthrough import selection


@pytest.mark.parametrize(
    ("listener", "expected"),
    [
        ({"name": "tls", "protocol": "TLS", "tls": {"mode": "Passthrough"}}, "TLS/Passthrough"),
        ({"name": "tls", "protocol": "TLS"}, "TLS/Terminate"),
        ({"name": "https", "protocol": "HTTPS"}, "HTTPS/Terminate"),
        ({"name": "web", "protocol": "HTTP"}, "HTTP"),
    ],
)
def test_mode(listener: dict[str, Any], expected: str) -> None:
    assert protocol_mode(listener) == expected


@pytest.mark.parametrize(
    ("parent", "expected"),
    [
        (ParentRef("ns", "gw"), "s"),
        (ParentRef("ns", "gw", "tls"), " named 'tls'"),
        (ParentRef("ns", "gw", None, 443), " on port 443"),
        (ParentRef("ns", "gw", "tls", 443), " named 'tls' on port 443"),
    ],
)
def test_selection(parent: ParentRef, expected: str) -> None:
    assert selection(parent) == expected
