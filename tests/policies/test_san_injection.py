"""Edge cases of sni-san-injection that YAML cases cannot express (odd shapes, escaping)."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from policies.san_injection import POLICY, _escape
from tests.support import make_view
from webhook.core.review import Review

NS = "openvox-system"
POOL = {
    "apiVersion": "openvox.voxpupuli.org/v1alpha1",
    "kind": "Pool",
    "metadata": {"name": "puppet", "namespace": NS},
    "spec": {
        "route": {
            "enabled": True,
            "hostname": "puppet.example.com",
            "injectDNSAltName": True,
            "gatewayRef": {"name": "edge"},
        }
    },
}
SERVER = {
    "apiVersion": "openvox.voxpupuli.org/v1alpha1",
    "kind": "Server",
    "metadata": {"name": "stable", "namespace": NS},
    "spec": {"certificateRef": "stable-cert", "poolRefs": ["puppet"], "configRef": "production"},
}


def _cert(**fields: Any) -> dict[str, Any]:
    cert = {
        "apiVersion": "openvox.voxpupuli.org/v1alpha1",
        "kind": "Certificate",
        "metadata": {"name": "stable-cert", "namespace": NS},
    }
    return cert | fields


@pytest.mark.parametrize(
    ("key", "token"),
    [("edgeguard.io/injected-dns-names", "edgeguard.io~1injected-dns-names"), ("a~b/c", "a~0b~1c")],
)
def test_escape(key: str, token: str) -> None:
    assert _escape(key) == token


STALE = {"edgeguard.io/injected-dns-names": "old.example.com"}


@pytest.mark.parametrize(
    ("cert", "expected"),
    [
        (
            _cert(
                metadata={"name": "stable-cert", "namespace": NS, "annotations": STALE},
                spec={"dnsAltNames": [7, "old.example.com"]},
            ),
            {"dnsAltNames": [7, "puppet.example.com"]},
        ),
        (_cert(), {"dnsAltNames": ["puppet.example.com"]}),
        (_cert(spec={"dnsAltNames": None}), {"dnsAltNames": ["puppet.example.com"]}),
    ],
    ids=["non-string-entry-and-stale-name", "no-spec", "null-list"],
)
def test_odd_shapes_patch_cleanly(cert: dict[str, Any], expected: dict[str, Any]) -> None:
    view = make_view([POOL, SERVER])
    decision = POLICY(Review.from_manifest(cert), view, {})
    patched = jsonpatch.apply_patch(cert, list(decision.patch))
    assert patched["spec"] == expected
    assert patched["metadata"]["annotations"] == {
        "edgeguard.io/injected-dns-names": "puppet.example.com"
    }
    again = POLICY(Review.from_manifest(patched), view, {})
    assert again.patch == ()


def test_without_metadata_map_adds_it() -> None:
    cert = {"apiVersion": "openvox.voxpupuli.org/v1alpha1", "kind": "Certificate"}
    review = Review.from_manifest(cert)
    review = Review(review.uid, "CREATE", review.kind, NS, "stable-cert", cert, None)
    decision = POLICY(review, make_view([POOL, SERVER]), {})
    assert list(decision.patch) == [
        {"op": "add", "path": "/spec", "value": {"dnsAltNames": ["puppet.example.com"]}},
        {
            "op": "add",
            "path": "/metadata",
            "value": {"annotations": {"edgeguard.io/injected-dns-names": "puppet.example.com"}},
        },
    ]
