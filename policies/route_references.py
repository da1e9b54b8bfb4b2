"""route-references: Gateway API's trust model, checked before a route or Gateway is stored.

A parentRef must select a listener whose allowedRoutes admits the route (NotAllowedByListeners);
a reference into another namespace needs a ReferenceGrant there (RefNotPermitted). It judges
only Gateways in the view and reads ReferenceGrants one namespace at a time, never a scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies.gateway.grants import grant_permits
from policies.gateway.listeners import DEFAULT_KINDS, admits_kind, gateway_for
from policies.gateway.listeners import selected_listeners as listeners_selected_by
from policies.gateway.refs import BackendRef, ParentRef, backend_refs, object_ref, parent_refs
from webhook.core.decision import Decision, allowed, denied
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    NAMESPACE,
    REFERENCEGRANT,
    TLSROUTE,
    GroupKind,
)
from webhook.core.labels import LabelSelector, namespace_labels
from webhook.core.objects import as_list, dicts, dig, metadata
from webhook.core.policy import Mode, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView


def check(review: Review, view: ClusterView[Any], settings: Settings) -> Decision:
    obj = review.object
    if review.operation == "DELETE" or obj is None:
        return allowed()
    namespace = str(metadata(obj).get("namespace") or review.namespace or "")
    source = review.group_kind
    if source == GATEWAY:
        problems = []
        refs = list(gateway_refs(obj, namespace))
    else:
        problems = [
            p
            for path, ref in parents(obj, namespace)
            if (p := parent_problem(path, ref, source, namespace, view))
        ]
        refs = list(route_refs(obj, namespace))
    problems += [p for ref in refs if (p := ref_problem(ref, source, namespace, view))]
    return denied(*problems)


# --- parentRefs and listeners' allowedRoutes -------------------------------------------------


def parents(obj: JSONObject, namespace: str) -> Iterator[tuple[str, ParentRef]]:
    """Each parentRef to a Gateway with its field path (namespace defaulted to the route's)."""
    for parent in parent_refs(obj, namespace):
        yield parent.path, parent


def parent_problem(
    path: str, parent: ParentRef, kind: GroupKind, namespace: str, view: ClusterView[Any]
) -> str | None:
    gateway = gateway_for(view, parent)
    if gateway is None:
        return None  # an unknown Gateway may be created later; nothing to judge
    where = f"{path} (Gateway {parent.namespace}/{parent.name}{_selection(parent)})"
    selected = listeners_selected_by(gateway, parent)
    if not selected:
        names = ", ".join(
            repr(item.get("name")) for item in dicts(dig(gateway, "spec", "listeners"))
        )
        return (
            f"{where}: NoMatchingParent: the Gateway has no listener that this parentRef "
            f"selects; set sectionName (and port) to one of its listeners ({names or 'none'})"
        )
    gateway_ns = str(metadata(gateway).get("namespace") or parent.namespace)
    refusals = [_refusal(item, kind, gateway_ns, namespace, view) for item in selected]
    if not all(refusals):
        return None
    return (
        f"{where}: NotAllowedByListeners: no listener it selects admits {kind.kind} from "
        f"namespace {namespace}: {'; '.join(r for r in refusals if r)}"
    )


def _selection(parent: ParentRef) -> str:
    section = f", sectionName {parent.section!r}" if parent.section else ""
    return section + (f", port {parent.port}" if parent.port is not None else "")


def _refusal(
    listener: JSONObject, kind: GroupKind, gateway_ns: str, route_ns: str, view: ClusterView[Any]
) -> str | None:
    """Why a listener does not admit the route, with the fix; None when it admits it."""
    by_kind = _kind_refusal(listener, kind)
    by_namespace = _namespace_refusal(listener, gateway_ns, route_ns, view)
    reasons = [r for r in (by_kind, by_namespace) if r]
    return f"listener {listener.get('name')!r} {'; it also '.join(reasons)}" if reasons else None


def _kind_refusal(listener: JSONObject, kind: GroupKind) -> str | None:
    if admits_kind(listener, kind):
        return None
    protocol = str(listener.get("protocol", "?"))
    serving = [p for p, kinds in DEFAULT_KINDS.items() if kind in kinds]
    explicit = dicts(dig(listener, "allowedRoutes", "kinds"))
    if explicit and (protocol in serving or protocol not in DEFAULT_KINDS):
        names = ", ".join(str(k.get("kind")) for k in explicit)
        return f"admits only kinds {names} (allowedRoutes.kinds); add kind {kind.kind} there"
    return (
        f"has protocol {protocol}, which does not serve {kind.kind}; "
        f"attach to a listener with protocol {' or '.join(serving) or 'that serves it'}"
    )


def _namespace_refusal(
    listener: JSONObject, gateway_ns: str, route_ns: str, view: ClusterView[Any]
) -> str | None:
    namespaces = dig(listener, "allowedRoutes", "namespaces")
    source = dig(namespaces, "from") or "Same"
    if source == "All" or (source == "Same" and route_ns == gateway_ns):
        return None
    if source == "Same":
        return (
            f"admits routes only from its own namespace {gateway_ns} "
            f"(allowedRoutes.namespaces.from: Same); set from: All, or from: Selector "
            f"matching Namespace {route_ns}, on that listener"
        )
    if source != "Selector":
        return f"admits no namespace (allowedRoutes.namespaces.from: {source})"
    found = view.get(NAMESPACE, None, route_ns)
    if found is None:
        return None  # an unknown Namespace's labels cannot be judged
    labels = namespace_labels(found)
    selector = dig(namespaces, "selector")
    if LabelSelector.from_dict(selector).matches(labels):
        return None
    return (
        f"admits routes only from namespaces matching {render_selector(selector)} "
        f"(allowedRoutes.namespaces.from: Selector), and Namespace {route_ns} "
        f"({render_labels(labels)}) does not match; label Namespace {route_ns} to match it"
    )


def render_selector(selector: object) -> str:
    """A LabelSelector as kubectl writes it: `a=b,c in (d,e),!f`."""
    if not isinstance(selector, dict):
        return "everything"
    match_labels = selector.get("matchLabels")
    parts = [f"{k}={v}" for k, v in sorted((match_labels or {}).items())]
    for expr in dicts(selector.get("matchExpressions")):
        key, op = expr.get("key"), expr.get("operator")
        values = ",".join(str(v) for v in expr.get("values") or [])
        shapes = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})"}
        parts.append(shapes.get(str(op), str(key) if op == "Exists" else f"!{key}"))
    return ",".join(parts) or "everything"


def render_labels(labels: Mapping[str, Any]) -> str:
    return "labels " + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# --- references into other namespaces and ReferenceGrants ------------------------------------


def route_refs(obj: JSONObject, namespace: str) -> Iterator[BackendRef]:
    """Every backendRef of a route, request mirrors included, with its field path."""
    yield from backend_refs(obj, namespace, mirrors=True)


def gateway_refs(obj: JSONObject, namespace: str) -> Iterator[BackendRef]:
    """A Gateway's certificate references: listeners' Secrets, client cert, CA bundles."""
    for i, listener in enumerate(as_list(dig(obj, "spec", "listeners"))):
        path = f"spec.listeners[{i}].tls.certificateRefs"
        yield from _refs(path, dig(listener, "tls", "certificateRefs"), namespace, "Secret")
    tls = dig(obj, "spec", "tls")
    path = "spec.tls.backend.clientCertificateRef"
    yield from _ref(path, dig(tls, "backend", "clientCertificateRef"), namespace, "Secret")
    cas = dig(tls, "frontend", "default", "validation", "caCertificateRefs")
    path = "spec.tls.frontend.default.validation.caCertificateRefs"
    yield from _refs(path, cas, namespace, "ConfigMap")
    for p, port in enumerate(as_list(dig(tls, "frontend", "perPort"))):
        path = f"spec.tls.frontend.perPort[{p}].tls.validation.caCertificateRefs"
        cas = dig(port, "tls", "validation", "caCertificateRefs")
        yield from _refs(path, cas, namespace, "ConfigMap")


def _refs(path: str, refs: object, namespace: str, kind: str) -> Iterator[BackendRef]:
    for j, ref in enumerate(as_list(refs)):
        yield from _ref(f"{path}[{j}]", ref, namespace, kind)


def _ref(path: str, raw: object, namespace: str, kind: str) -> Iterator[BackendRef]:
    ref = object_ref(raw, path, namespace, kind)
    if ref is not None:
        yield ref


def target(ref: BackendRef) -> str:
    return f"{GroupKind(ref.group, ref.kind)} {ref.namespace}/{ref.name}"


def ref_problem(
    ref: BackendRef, source: GroupKind, namespace: str, view: ClusterView[Any]
) -> str | None:
    if ref.namespace == namespace:
        return None
    grants = view.list(REFERENCEGRANT, ref.namespace)
    if any(permits(grant, source, namespace, ref) for grant in grants):
        return None
    names = ", ".join(sorted(str(metadata(g).get("name")) for g in grants))
    there = f" (ReferenceGrants there, none of which covers it: {names})" if names else ""
    return (
        f"{ref.path}: RefNotPermitted: the reference to {target(ref)} crosses into namespace "
        f"{ref.namespace} and no ReferenceGrant there permits it{there}; add a ReferenceGrant "
        f"in namespace {ref.namespace} with from {{group: {_group(source.group)}, kind: "
        f"{source.kind}, namespace: {namespace}}} and to {{group: {_group(ref.group)}, "
        f"kind: {ref.kind}, name: {ref.name}}}, or point the reference into namespace {namespace}"
    )


def permits(grant: JSONObject, source: GroupKind, namespace: str, ref: BackendRef) -> bool:
    """Whether a ReferenceGrant (in ref's namespace) lets `source` in `namespace` use ref."""
    return grant_permits(grant, source, namespace, GroupKind(ref.group, ref.kind), ref.name)


def _group(group: str) -> str:
    return group or '""'


POLICY = Policy(
    "route-references",
    frozenset({TLSROUTE, HTTPROUTE, GRPCROUTE, GATEWAY}),
    check,
    # A DELETE is never refused, so the API server need not call (or wait for) the webhook.
    operations=frozenset({"CREATE", "UPDATE"}),
    default_mode=Mode.WARN,
    referential=True,
    # Gateways' listeners (and TLS, for references from them), grants, Namespaces' labels.
    reads={GATEWAY: ("listeners", "tls"), REFERENCEGRANT: ("from", "to"), NAMESPACE: ()},
    description=(
        "Routes attach only where a listener's allowedRoutes admits them "
        "(NotAllowedByListeners); references into other namespaces need a ReferenceGrant "
        "there (RefNotPermitted). Warn by default: `kubectl apply -f dir/` may create the "
        "grant after the route."
    ),
)
