"""Gateway API semantics the policies share: listener selection, passthrough, attachment.

Read from the Gateway API spec (https://gateway-api.sigs.k8s.io/reference/spec/): a parentRef
selects listeners by sectionName and port; a listener's `allowedRoutes` (default `from: Same`)
decides which namespaces and kinds may attach; `tls.mode` defaults to Terminate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.kinds import (
    GATEWAY,
    GATEWAY_GROUP,
    GRPCROUTE,
    HTTPROUTE,
    NAMESPACE,
    OPENBAO_CLUSTER,
    POOL,
    SERVICE,
    TLSROUTE,
    GroupKind,
    group_kind_of,
)
from webhook.refs import ParentRef, dicts, dig, metadata
from webhook.view import ClusterView

JSONObject = Mapping[str, Any]
PASSTHROUGH_LABEL = "edgeguard.io/tls-passthrough"
NAME_LABEL = "kubernetes.io/metadata.name"
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


def describe(listener: JSONObject) -> str:
    protocol = listener.get("protocol", "?")
    mode = dig(listener, "tls", "mode") or ("Terminate" if protocol in ("TLS", "HTTPS") else "")
    detail = f"{protocol}/{mode}" if mode else str(protocol)
    return f"listener {listener.get('name', '?')!r} ({detail})"


def effective_kind(obj: JSONObject) -> GroupKind | None:
    """The route kind an object attaches as: Pools and ACME-style OpenBao make TLSRoutes."""
    gk = group_kind_of(obj)
    if gk == POOL:
        return TLSROUTE
    if gk == OPENBAO_CLUSTER:
        passthrough = dig(obj, "spec", "gateway", "tlsPassthrough") is True
        return TLSROUTE if passthrough else HTTPROUTE
    return gk


def gateway_for(view: ClusterView, parent: ParentRef) -> JSONObject | None:
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
    listener: JSONObject, gateway_namespace: str, route_namespace: str, view: ClusterView
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
        return matches_selector(dig(namespaces, "selector"), namespace_labels(namespace))
    return False


def namespace_labels(namespace: JSONObject) -> dict[str, Any]:
    """A Namespace's labels, with the kubernetes.io/metadata.name label Kubernetes sets."""
    labels = metadata(namespace).get("labels")
    name = str(metadata(namespace).get("name") or "")
    return {NAME_LABEL: name} | (labels if isinstance(labels, dict) else {})


def matches_selector(selector: object, labels: Mapping[str, Any]) -> bool:
    """A Kubernetes LabelSelector; an empty selector matches everything."""
    if not isinstance(selector, dict):
        return True
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op, values = str(expr.get("key")), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and (not present or labels[key] not in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def attachable_listeners(
    obj: JSONObject, parent: ParentRef, gateway: JSONObject, view: ClusterView
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


def can_attach(obj: JSONObject, parent: ParentRef, view: ClusterView) -> bool:
    """False only when the Gateway is known and no selected listener admits the object."""
    gateway = gateway_for(view, parent)
    return gateway is None or bool(attachable_listeners(obj, parent, gateway, view))


def passthrough_reason(view: ClusterView, namespace: str, service: str) -> str | None:
    """Why a Service needs TLS passthrough (a sentence), or None when it does not."""
    if view.get(POOL, namespace, service) is not None:
        return f"it is the Service of OpenVox Pool {namespace}/{service} (Puppet uses mTLS)"
    if service.endswith("-public"):
        cluster = view.get(OPENBAO_CLUSTER, namespace, service.removesuffix("-public"))
        if cluster is not None and dig(cluster, "spec", "tls", "mode") == "ACME":
            name = service.removesuffix("-public")
            return f"it is the public Service of OpenBaoCluster {namespace}/{name} in ACME mode"
    svc = view.get(SERVICE, namespace, service)
    labels = metadata(svc).get("labels") if svc else None
    if isinstance(labels, dict) and labels.get(PASSTHROUGH_LABEL) == "required":
        return f"it carries the label {PASSTHROUGH_LABEL}: required"
    return None


def names(items: Sequence[JSONObject]) -> str:
    return ", ".join(repr(item.get("name", "?")) for item in items)


def grant_permits(
    grant: JSONObject, source: GroupKind, namespace: str, target: GroupKind, name: str
) -> bool:
    """Whether a ReferenceGrant (in the target's namespace) lets `source` objects in
    `namespace` refer to the `target` kind object `name` (an empty `to.name`: any)."""
    from_ok = any(
        item.get("group", "") == source.group
        and item.get("kind") == source.kind
        and item.get("namespace") == namespace
        for item in dicts(dig(grant, "spec", "from"))
    )
    return from_ok and any(
        item.get("group", "") == target.group
        and item.get("kind") == target.kind
        and item.get("name") in (None, "", name)
        for item in dicts(dig(grant, "spec", "to"))
    )
