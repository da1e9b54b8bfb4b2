"""The BackendTLSPolicies of each Service: a derived index kept current by the view."""

from __future__ import annotations

from typing import Any

from policies.gateway.backend_tls import BackendTLS
from tests.support import make_view
from webhook.cluster.memory import MemoryView
from webhook.core.kinds import BACKENDTLSPOLICY
from webhook.core.objects import ObjectKey

GW = "gateway.networking.k8s.io"


def policy(name: str, *services: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": s} for s in services]},
    }


def test_the_backend_tls_index_follows_writes_and_deletes() -> None:
    view = make_view([policy("a", "api", "web"), policy("b", "api")])
    index = view.derived(BackendTLS)
    assert (index.policies("apps", "api"), index.policies("apps", "web")) == (("a", "b"), ("a",))
    view.upsert(policy("a", "web"))  # no longer targets api
    assert (index.policies("apps", "api"), index.policies("apps", "web")) == (("b",), ("a",))
    view.delete(BACKENDTLSPOLICY, "apps", "b")
    view.delete(BACKENDTLSPOLICY, "apps", "a")
    assert (index.policies("apps", "api"), index.policies("apps", "web")) == ((), ())
    assert index._by_service == {} and index._targets == {}


def test_the_backend_tls_index_of_an_overlay_includes_its_base() -> None:
    base = make_view([policy("a", "api")])
    overlay = MemoryView(derive=base.derive, kept=base.kept, base=base)
    overlay.upsert(policy("b", "api"))
    assert overlay.derived(BackendTLS).policies("apps", "api") == ("a", "b")
    assert base.derived(BackendTLS).policies("apps", "api") == ("a",)


def test_only_service_targets_count() -> None:
    index = BackendTLS()
    obj = {
        "spec": {
            "targetRefs": [
                {"group": "", "kind": "Service", "name": "api"},
                {"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "api2"},
                {"group": "", "kind": "Service", "name": ""},
                "junk",
            ]
        }
    }
    index.upsert(obj, ObjectKey(GW, "BackendTLSPolicy", "apps", "p"))
    index.upsert(obj, ObjectKey(GW, "Gateway", "apps", "p"))  # another kind: ignored
    assert index._by_service == {("apps", "api"): {"p": None}}
