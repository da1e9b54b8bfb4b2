"""edgeguard: a Kubernetes admission webhook for TLS-identity edges on the Gateway API."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed edgeguard's version (0.0.0 when run from a tree that is not installed)."""
    try:
        return metadata.version("edgeguard")
    except metadata.PackageNotFoundError:
        return "0.0.0"
