"""edgeguard's built-in edge policies: pure functions of (Review, ClusterView, settings)."""

from __future__ import annotations

from policies import (
    edge_readiness,
    passthrough,
    required_fields,
    route_references,
    san_injection,
    unique_hostnames,
)
from webhook.core.policy import Policy


def builtin() -> list[Policy]:
    """Every shipped policy, validating first, mutating in the order they run."""
    return [
        required_fields.POLICY,
        passthrough.POLICY,
        unique_hostnames.POLICY,
        route_references.POLICY,
        edge_readiness.POLICY,
        san_injection.POLICY,
    ]
