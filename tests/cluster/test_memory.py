"""MemoryView: objects by kind and namespace, and the claim, covered-name and reference indexes."""

from __future__ import annotations

from typing import Any

from policies.gateway.refs import Claim, ParentRef
from tests.support import make_view
from webhook.core.kinds import POOL, TLSROUTE
from webhook.core.objects import ObjectKey


def route(name: str, *hostnames: str, backend: str = "svc") -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "TLSRoute",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"},
        },
        "spec": {
            "parentRefs": [{"name": "edge", "namespace": "edge", "sectionName": "tls"}],
            "hostnames": list(hostnames),
            "rules": [{"backendRefs": [{"name": backend, "port": 443}]}],
        },
        "status": {"parents": []},
    }


def key(name: str) -> ObjectKey:
    return ObjectKey("gateway.networking.k8s.io", "TLSRoute", "apps", name)


def claim(name: str, hostname: str) -> Claim:
    return Claim(hostname, key(name), (key(name),), ParentRef("edge", "edge", "tls"))


def test_indexes_follow_upserts_and_deletes() -> None:
    view = make_view([route("a", "A.Example.com."), route("b", "*.example.com")])
    assert view.claims("a.example.com") == [claim("a", "a.example.com")]
    assert view.covered("*.example.com") == [claim("a", "a.example.com")]
    assert view.covered("*.com") == [claim("a", "a.example.com")]
    assert [o["metadata"]["name"] for o in view.attached("edge", "edge")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in view.backend_users("apps", "svc")] == ["a", "b"]
    view.upsert(route("a", "c.example.com", backend="other"))
    assert view.claims("a.example.com") == []
    assert view.covered("*.example.com") == [claim("a", "c.example.com")]
    assert [o["metadata"]["name"] for o in view.backend_users("apps", "svc")] == ["b"]
    view.delete(TLSROUTE, "apps", "a")
    assert (view.covered("*.example.com"), view.get(TLSROUTE, "apps", "a"), len(view)) == (
        [],
        None,
        1,
    )


def test_stored_objects_are_slimmed() -> None:
    view = make_view([route("a", "a.example.com")])
    stored = view.get(TLSROUTE, "apps", "a")
    assert stored is not None
    assert "status" not in stored
    assert stored["metadata"] == {"name": "a", "namespace": "apps", "annotations": {"a": "b"}}


def test_list_by_namespace_and_everywhere() -> None:
    pools = [
        {
            "apiVersion": "openvox.voxpupuli.org/v1alpha1",
            "kind": "Pool",
            "metadata": {"name": n, "namespace": ns},
        }
        for n, ns in (("p1", "a"), ("p2", "b"))
    ]
    view = make_view(pools)
    assert [p["metadata"]["name"] for p in view.list(POOL, "a")] == ["p1"]
    assert [p["metadata"]["name"] for p in view.list(POOL)] == ["p1", "p2"]
    assert view.list(TLSROUTE) == []
