"""MemoryView: objects by kind and namespace, slimmed, and the derived indexes it keeps current."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import KEPT, make_view
from webhook.cluster.memory import MemoryView
from webhook.core.json import JSONObject
from webhook.core.kinds import GATEWAYCLASS, POOL, TLSROUTE
from webhook.core.objects import ObjectKey
from webhook.core.view import KeptFields


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


class Recorder:
    """A derived index that records what the view tells it (and, as an overlay, its base)."""

    def __init__(self, base: Recorder | None = None) -> None:
        self.base = base
        self.events: list[tuple[str, str, Any]] = []

    def upsert(self, obj: JSONObject, key: ObjectKey) -> None:
        self.events.append(("upsert", str(key), obj["spec"]["hostnames"]))

    def delete(self, key: ObjectKey) -> None:
        self.events.append(("delete", str(key), None))

    def reserves(self, obj: JSONObject, key: ObjectKey) -> bool:
        return bool(obj.get("spec", {}).get("hostnames"))



def test_derived_indexes_are_told_of_every_write_with_the_slimmed_object() -> None:
    view = MemoryView([route("a", "A.Example.com.")], derive=[Recorder], kept=KEPT)
    view.upsert(route("a", "c.example.com"))
    view.delete(TLSROUTE, "apps", "a")
    view.delete(TLSROUTE, "apps", "a")  # gone already: nothing to tell
    recorder = view.derived(Recorder)
    assert recorder.events == [
        ("upsert", "TLSRoute apps/a", ["A.Example.com."]),
        ("upsert", "TLSRoute apps/a", ["c.example.com"]),
        ("delete", "TLSRoute apps/a", None),
    ]
    assert (view.get(TLSROUTE, "apps", "a"), len(view)) == (None, 0)


def test_an_overlay_view_makes_its_indexes_over_the_bases() -> None:
    base = MemoryView(derive=[Recorder], kept=KEPT)
    overlay = MemoryView(derive=base.derive, kept=KEPT, base=base)
    assert overlay.derived(Recorder).base is base.derived(Recorder)
    claiming, plain = route("a", "x.example.com"), route("b")
    assert (base.reserves(claiming, key("a")), base.reserves(plain, key("b"))) == (True, False)


def test_asking_for_an_index_the_view_does_not_keep_names_it() -> None:
    view = MemoryView(derive=[], kept=KEPT)
    with pytest.raises(
        LookupError, match=r"^the view keeps no Recorder index \(see its `derive`\)$"
    ):
        view.derived(Recorder)


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


def gateway_class(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "traefik", "generation": 2},
        "spec": {"controllerName": "traefik.io/gateway-controller", "description": "x"},
        "status": status,
    }


def test_the_status_fields_policies_read_are_kept_and_no_other() -> None:
    accepted = {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "Handled by Traefik controller",
        "lastTransitionTime": "2026-08-01T10:00:00Z",
        "observedGeneration": 2,
    }
    kept = KeptFields(
        {GATEWAYCLASS: ("controllerName",)},
        {
            GATEWAYCLASS: (
                "conditions.type",
                "conditions.status",
                "conditions.reason",
                "conditions.message",
                "supportedFeatures",
            )
        },
    )
    features = [{"name": "HTTPRoute"}, {"name": "TLSRoute"}]
    status = gateway_class(conditions=[accepted], supportedFeatures=features, other="dropped")
    view = MemoryView([status], derive=[], kept=kept)
    assert view.get(GATEWAYCLASS, None, "traefik") == {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "traefik"},
        "spec": {"controllerName": "traefik.io/gateway-controller"},
        "status": {
            "conditions": [
                {
                    "type": "Accepted",
                    "status": "True",
                    "reason": "Accepted",
                    "message": "Handled by Traefik controller",
                }
            ],
            "supportedFeatures": [{"name": "HTTPRoute"}, {"name": "TLSRoute"}],
        },
    }


def test_a_kind_whose_status_no_policy_reads_keeps_none() -> None:
    kept = KeptFields({GATEWAYCLASS: ("controllerName",)}, {})
    view = MemoryView([gateway_class(conditions=[])], derive=[], kept=kept)
    stored = view.get(GATEWAYCLASS, None, "traefik")
    assert stored is not None
    assert "status" not in stored
