"""Gateway listeners: which ones a parentRef selects, and which routes they admit.

Read from the Gateway API spec (https://gateway-api.sigs.k8s.io/reference/spec/): a parentRef
selects listeners by sectionName and port; a listener's `allowedRoutes` (default `from: Same`)
decides which namespaces and kinds may attach; `tls.mode` defaults to Terminate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies.gateway.refs import ParentRef
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY,
    GATEWAY_GROUP,
    GRPCROUTE,
    HTTPROUTE,
    NAMESPACE,
    OPENBAO_CLUSTER,
    POOL,
    TLSROUTE,
    GroupKind,
    group_kind_of,
)
from webhook.core.labels import LabelSelector, namespace_labels
from webhook.core.objects import dig, metadata
from webhook.core.view import ClusterView

# The route kinds a listener accepts when allowedRoutes.kinds is empty, by protocol.
DEFAULT_KINDS: dict[str, frozenset[GroupKind]] = {
    "HTTP": frozenset({HTTPROUTE, GRPCROUTE}),
    "HTTPS": frozenset({HTTPROUTE, GRPCROUTE}),
    "TLS": frozenset({TLSROUTE}),
}


def listeners(gateway: JSONObject) -> list[JSONObject]:
    found = dig(gateway, "spec", "listeners")
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def selected_listeners(gateway: JSONObject, parent: ParentRef) -> list[JSONObject]:
    """The listeners a parentRef selects: by sectionName (listener name) and port when set."""
    return [
        listener
        for listener in listeners(gateway)
        if (parent.section is None or listener.get("name") == parent.section)
        and (parent.port is None or listener.get("port") == parent.port)
    ]


def is_passthrough(listener: JSONObject) -> bool:
    mode = dig(listener, "tls", "mode") or "Terminate"
    return listener.get("protocol") == "TLS" and mode == "Passthrough"


def protocol_mode(listener: JSONObject) -> str:
    """A listener's protocol and TLS mode, as in "TLS/Terminate" (just "HTTP" without TLS)."""
    protocol = listener.get("protocol", "?")
    mode = dig(listener, "tls", "mode") or ("Terminate" if protocol in ("TLS", "HTTPS") else "")
    return f"{protocol}/{mode}" if mode else str(protocol)


def describe(listener: JSONObject) -> str:
    return f"listener {listener.get('name', '?')!r} ({protocol_mode(listener)})"


def names(items: Sequence[JSONObject]) -> str:
    return ", ".join(repr(item.get("name", "?")) for item in items)


def effective_kind(obj: JSONObject) -> GroupKind | None:
    """The route kind an object attaches as: Pools and ACME-style OpenBao make TLSRoutes."""
    gk = group_kind_of(obj)
    if gk == POOL:
        return TLSROUTE
    if gk == OPENBAO_CLUSTER:
        passthrough = dig(obj, "spec", "gateway", "tlsPassthrough") is True
        return TLSROUTE if passthrough else HTTPROUTE
    return gk


def gateway_for(view: ClusterView[Any], parent: ParentRef) -> JSONObject | None:
    return view.get(GATEWAY, parent.namespace, parent.name)


def admits_kind(listener: JSONObject, kind: GroupKind) -> bool:
    allowed = dig(listener, "allowedRoutes", "kinds")
    if isinstance(allowed, list) and allowed:
        return any(
            isinstance(k, dict)
            and GroupKind(str(k.get("group", GATEWAY_GROUP)), str(k.get("kind", ""))) == kind
            for k in allowed
        )
    return kind in DEFAULT_KINDS.get(str(listener.get("protocol", "")), frozenset())


def admits_namespace(
    listener: JSONObject, gateway_namespace: str, route_namespace: str, view: ClusterView[Any]
) -> bool:
    namespaces = dig(listener, "allowedRoutes", "namespaces")
    source = dig(namespaces, "from") or "Same"
    if source == "All":
        return True
    if source == "Same":
        return route_namespace == gateway_namespace
    if source == "Selector":
        namespace = view.get(NAMESPACE, None, route_namespace)
        if namespace is None:
            return True  # unknown labels: not ours to refuse (route-references reports it)
        selector = LabelSelector.from_dict(dig(namespaces, "selector"))
        return selector.matches(namespace_labels(namespace))
    return False


def attachable_listeners(
    obj: JSONObject, parent: ParentRef, gateway: JSONObject, view: ClusterView[Any]
) -> list[JSONObject]:
    """The selected listeners that really admit this object (namespace and kind)."""
    kind = effective_kind(obj)
    route_ns = str(metadata(obj).get("namespace") or "")
    gateway_ns = str(metadata(gateway).get("namespace") or parent.namespace)
    return [
        listener
        for listener in selected_listeners(gateway, parent)
        if kind is not None
        and admits_kind(listener, kind)
        and admits_namespace(listener, gateway_ns, route_ns, view)
    ]


def can_attach(obj: JSONObject, parent: ParentRef, view: ClusterView[Any]) -> bool:
    """False only when the Gateway is known and no selected listener admits the object."""
    gateway = gateway_for(view, parent)
    return gateway is None or bool(attachable_listeners(obj, parent, gateway, view))
