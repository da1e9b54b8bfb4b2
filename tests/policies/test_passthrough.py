"""Unit tests for the tls-passthrough helpers; the verdicts are in tests/cases/tls-passthrough."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.model import Gateway
from policies.passthrough import selection


@pytest.mark.parametrize(
    ("listener", "expected"),
    [
        ({"name": "tls", "protocol": "TLS", "tls": {"mode": "Passthrough"}}, "TLS/Passthrough"),
        ({"name": "tls", "protocol": "TLS"}, "TLS/Terminate"),
        ({"name": "https", "protocol": "HTTPS"}, "HTTPS/Terminate"),
        ({"name": "web", "protocol": "HTTP"}, "HTTP"),
        ({"name": "odd", "protocol": "HTTP", "tls": {"mode": "Passthrough"}}, "HTTP"),
    ],
)
def test_mode(listener: dict[str, Any], expected: str) -> None:
    gateway = Gateway.parse({"metadata": {"name": "g"}, "spec": {"listeners": [listener]}})
    assert gateway.listeners[0].protocol_mode == expected


@pytest.mark.parametrize(
    ("section", "port", "expected"),
    [
        (None, None, "s"),
        ("tls", None, " named 'tls'"),
        (None, 443, " on port 443"),
        ("tls", 443, " named 'tls' on port 443"),
    ],
)
def test_selection(section: str | None, port: int | None, expected: str) -> None:
    assert selection(section, port) == expected
