"""route-references: Gateway API's trust model, checked before a route or Gateway is stored.

Asks the attachment model, for each parentRef, Gateway API's route condition reasons: a
parentRef must name a kind the platform supports (InvalidKind: anything but a Gateway, a
ListenerSet, a Service for a mesh, and the kinds the setting extraParentKinds lists), select a
listener (NoMatchingParent), one that admits the route's kind and namespace
(NotAllowedByListeners, `allowedRoutes`; a ListenerSet its Gateway does not admit counts as
that too), whose hostname meets the route's (NoMatchingListenerHostname). Mesh parents (a
Service, GEP-1294) and parents not in the view are not judged further. A backendRef names a
Service or a kind extraBackendKinds lists (InvalidKind, as ResolvedRefs says it): tenant
clusters such as vCluster's Gateway API sync refuse other kinds. A reference into another
namespace needs a ReferenceGrant there (RefNotPermitted, GEP-709), except a mesh route's
backendRef to its own parent Service. ReferenceGrants are read one namespace at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from policies.gateway.attachment import ParentAttachment, Reason, Refused
from policies.gateway.grants import grant_permits
from policies.gateway.model import CORE_PROTOCOLS, SERVED, Listener, Route
from policies.gateway.refs import BackendRef, backend_refs, object_ref
from policies.gateway.request import attachment_of, parent_needs
from policies.gateway.topology import with_topology
from webhook.core.decision import Decision, allowed, denied
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    LISTENERSET,
    NAMESPACE,
    REFERENCEGRANT,
    TCPROUTE,
    TLSROUTE,
    UDPROUTE,
    GroupKind,
    group_kind_problem,
    parse_group_kind,
)
from webhook.core.labels import namespace_labels
from webhook.core.objects import as_list, dig, metadata
from webhook.core.policy import Mode, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

MAX_FINDINGS = 10  # problems named in one answer; the rest are counted
EXTRA_PARENT_KINDS = "extraParentKinds"
EXTRA_BACKEND_KINDS = "extraBackendKinds"
# GEP-1748: a multi-cluster route's parent and backends may be ServiceImports.
SERVICE_IMPORT = "ServiceImport.multicluster.x-k8s.io"


def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
    obj = review.object
    if review.operation == "DELETE" or obj is None:
        return allowed()
    namespace = str(metadata(obj).get("namespace") or review.namespace or "")
    source = review.group_kind
    problems: list[str] = []
    if source in (GATEWAY, LISTENERSET):
        refs = list(gateway_refs(obj, namespace))
    else:
        extra = kinds_setting(settings.get(EXTRA_PARENT_KINDS, ()))
        attachment = attachment_of(review, view)
        parents = attachment.parents if attachment is not None else ()
        route = attachment.route if attachment is not None else None
        problems = [
            p for parent in parents if route and (p := parent_problem(route, parent, view, extra))
        ]
        mesh = {
            (p.namespace, p.name)
            for p in (attachment.route.parents if attachment else ())
            if p.is_mesh
        }
        backends = kinds_setting(settings.get(EXTRA_BACKEND_KINDS, ()))
        refs = []
        for ref in route_refs(obj, namespace):
            if ref.group == "" and ref.kind == "Service":
                if (ref.namespace, ref.name) not in mesh:
                    refs.append(ref)
            elif GroupKind(ref.group, ref.kind) in backends:
                refs.append(ref)
            else:
                problems.append(backend_kind_problem(ref, backends))
    problems += ref_problems(refs, source, namespace, view)
    if len(problems) > MAX_FINDINGS:
        more = len(problems) - MAX_FINDINGS
        problems = [
            *problems[:MAX_FINDINGS],
            f"... and {more} more problems like these, not listed",
        ]
    return denied(*problems)


# --- parentRefs and listeners' allowedRoutes -------------------------------------------------


def kinds_setting(value: Iterable[str]) -> frozenset[GroupKind]:
    """The kinds a setting lists as `Kind.group` strings (checked when the configuration
    loads; a malformed one here raises, and the policy then denies naming itself)."""
    return frozenset(parse_group_kind(text) for text in value)


def kinds_problem(value: object) -> str | None:
    """What is wrong with a list of `Kind.group` strings, or None (at configuration load)."""
    for text in value if isinstance(value, list | tuple) else [value]:
        problem = group_kind_problem(text)
        if problem is not None:
            return problem
    return None


def parent_problem(
    route: Route, parent: ParentAttachment, view: ClusterView, extra: frozenset[GroupKind]
) -> str | None:
    """Gateway API's reason for a parentRef that attaches nowhere, with the fix (None: it
    attaches, is a mesh parent or one of the `extra` kinds, or names a parent not in the
    cluster yet)."""
    ref = parent.parent
    where = ref.where
    reason = parent.reason
    kind = GroupKind(ref.group, ref.kind)
    invalid = reason is Reason.INVALID_KIND or (reason is Reason.MESH and not ref.is_mesh)
    if invalid and kind not in extra:
        listed = ", ".join(sorted(map(str, extra))) or "none"
        return (
            f"{where}: InvalidKind: a parentRef names a Gateway or a ListenerSet (group "
            f'gateway.networking.k8s.io), a Service (group "") for a mesh, or a kind this '
            f"platform supports (setting {EXTRA_PARENT_KINDS}: {listed}); {ref.kind} of group "
            f"{_group(ref.group)} is none of them, so nothing takes the route there; point it "
            f"at one of those, or add {kind} to {EXTRA_PARENT_KINDS} if your platform "
            "supports it"
        )
    if reason is Reason.NO_MATCHING_PARENT:
        owned = (
            parent.listener_set.listeners
            if parent.listener_set
            else (parent.gateway.listeners if parent.gateway else ())
        )
        names = ", ".join(repr(item.name) for item in owned)
        return (
            f"{where}: NoMatchingParent: the {ref.kind} has no listener that this parentRef "
            f"selects; set sectionName (and port) to one of its listeners ({names or 'none'})"
        )
    if reason is Reason.NOT_ALLOWED_BY_LISTENERS and not parent.selected:
        gateway = parent.gateway
        source = gateway.listener_sets_from if gateway else "None"
        name = f"Gateway {gateway.namespace}/{gateway.name}" if gateway else "its Gateway"
        return (
            f"{where}: NotAllowedByListeners: {name} does not admit ListenerSets from namespace "
            f"{ref.namespace} (spec.allowedListeners.namespaces.from: {source}), so none of "
            f"this ListenerSet's listeners takes routes; allow it in {name}'s "
            f"spec.allowedListeners"
        )
    if reason is Reason.NOT_ALLOWED_BY_LISTENERS:
        kind, namespace = route.kind, route.namespace
        refusals = [
            f"listener {r.listener.name!r} "
            + "; it also ".join(_refusal(r.listener, r.why, kind, namespace, view))
            for r in parent.refusals
        ]
        return (
            f"{where}: NotAllowedByListeners: no listener it selects admits {kind.kind} from "
            f"namespace {namespace}: {'; '.join(refusals)}"
        )
    if reason is Reason.NO_MATCHING_LISTENER_HOSTNAME:
        hosts = ", ".join(route.hostnames)
        listeners = "; ".join(
            f"listener {r.listener.name!r} has hostname {r.listener.hostname}"
            for r in parent.refusals
            if r.why == (Refused.HOSTNAME,)
        )
        return (
            f"{where}: NoMatchingListenerHostname: the route's hostnames ({hosts}) match no "
            f"hostname of the listeners that admit it ({listeners}); add a hostname that the "
            f"listener matches to spec.hostnames, or attach to a listener whose hostname matches"
        )
    return None


def _refusal(
    listener: Listener, why: tuple[Refused, ...], kind: GroupKind, route_ns: str, view: ClusterView
) -> list[str]:
    """Why a listener does not admit the route, each with the fix."""
    reasons = []
    if Refused.KIND in why:
        reasons.append(_kind_refusal(listener, kind))
    if Refused.NAMESPACE in why:
        reasons.append(_namespace_refusal(listener, route_ns, view))
    return reasons


def _kind_refusal(listener: Listener, kind: GroupKind) -> str:
    protocol = listener.protocol or "?"
    serving = sorted({p for (p, _), kinds in SERVED.items() if kind in kinds})
    if listener.explicit_kinds and (protocol in serving or protocol not in CORE_PROTOCOLS):
        names = ", ".join(k.kind for k in listener.explicit_kinds)
        return f"admits only kinds {names} (allowedRoutes.kinds); add kind {kind.kind} there"
    return (
        f"has protocol {protocol}, which does not serve {kind.kind}; "
        f"attach to a listener with protocol {' or '.join(serving) or 'that serves it'}"
    )


def _namespace_refusal(listener: Listener, route_ns: str, view: ClusterView) -> str:
    source = listener.namespaces_from
    home = listener.home
    if source == "Same":
        return (
            f"admits routes only from its own namespace {home} "
            f"(allowedRoutes.namespaces.from: Same); set from: All, or from: Selector "
            f"matching Namespace {route_ns}, on that listener"
        )
    if source != "Selector":
        return f"admits no namespace (allowedRoutes.namespaces.from: {source})"
    found = view.get(NAMESPACE, None, route_ns)
    labels = namespace_labels(found) if found is not None else {}
    if not listener.selector.valid:
        return (
            "has an allowedRoutes.namespaces.selector that Kubernetes refuses (an unknown "
            "operator, or values that do not fit it), which selects no namespace; fix the "
            "selector on that listener"
        )
    return (
        f"admits routes only from namespaces matching {render(listener)} "
        f"(allowedRoutes.namespaces.from: Selector), and Namespace {route_ns} "
        f"({render_labels(labels)}) does not match; label Namespace {route_ns} to match it"
    )


def render(listener: Listener) -> str:
    """A listener's namespace selector as kubectl writes it: `a=b,c in (d,e),!f`."""
    selector = listener.selector
    parts = [f"{k}={v}" for k, v in sorted(selector.labels)]
    for req in selector.requirements:
        values = ",".join(sorted(req.values))
        shapes = {"In": f"{req.key} in ({values})", "NotIn": f"{req.key} notin ({values})"}
        parts.append(
            shapes.get(req.operator, req.key if req.operator == "Exists" else f"!{req.key}")
        )
    return ",".join(parts) or "everything"


def render_labels(labels: Mapping[str, Any]) -> str:
    return "labels " + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# --- references into other namespaces and ReferenceGrants ------------------------------------


def route_refs(obj: JSONObject, namespace: str) -> Iterator[BackendRef]:
    """Every backendRef of a route, request mirrors included, with its field path."""
    yield from backend_refs(obj, namespace, mirrors=True)


def gateway_refs(obj: JSONObject, namespace: str) -> Iterator[BackendRef]:
    """A Gateway's (or ListenerSet's) certificate references: listeners' Secrets, client cert,
    CA bundles."""
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


def backend_kind_problem(ref: BackendRef, extra: frozenset[GroupKind]) -> str:
    """InvalidKind for a backendRef to a kind the platform does not support."""
    kind = GroupKind(ref.group, ref.kind)
    listed = ", ".join(sorted(map(str, extra))) or "none"
    return (
        f"{ref.path} ({target(ref)}): InvalidKind: a backendRef names a Service (group \"\") "
        f"or a kind this platform supports (setting {EXTRA_BACKEND_KINDS}: {listed}); "
        f"{ref.kind} of group {_group(ref.group)} is none of them, so the route reports "
        "ResolvedRefs: False and sends this backend no traffic; point it at a Service, or add "
        f"{kind} to {EXTRA_BACKEND_KINDS} if your platform supports it"
    )


def ref_problems(
    refs: list[BackendRef], source: GroupKind, namespace: str, view: ClusterView
) -> list[str]:
    """RefNotPermitted for each reference into another namespace that no ReferenceGrant there
    permits (ReferenceGrant, GEP-709); the grants of each namespace are read once."""
    grants: dict[str, Sequence[JSONObject]] = {}
    problems = []
    for ref in refs:
        if ref.namespace == namespace:
            continue
        there = grants.get(ref.namespace)
        if there is None:
            there = grants[ref.namespace] = view.list(REFERENCEGRANT, ref.namespace)
        if any(permits(grant, source, namespace, ref) for grant in there):
            continue
        problems.append(ref_text(ref, source, namespace, there))
        if len(problems) > MAX_FINDINGS:
            break
    return problems


def ref_text(
    ref: BackendRef, source: GroupKind, namespace: str, grants: Sequence[JSONObject]
) -> str:
    names = sorted(str(metadata(g).get("name")) for g in grants)
    shown = ", ".join(names[:MAX_FINDINGS]) + (
        f" and {len(names) - MAX_FINDINGS} more" if len(names) > MAX_FINDINGS else ""
    )
    there = f" (ReferenceGrants there, none of which covers it: {shown})" if names else ""
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
    frozenset({TLSROUTE, HTTPROUTE, GRPCROUTE, TCPROUTE, UDPROUTE, GATEWAY, LISTENERSET}),
    check,
    # A DELETE is never refused, so the API server need not call (or wait for) the webhook.
    operations=frozenset({"CREATE", "UPDATE"}),
    default_mode=Mode.WARN,
    defaults={EXTRA_PARENT_KINDS: (SERVICE_IMPORT,), EXTRA_BACKEND_KINDS: (SERVICE_IMPORT,)},
    setting_checks={EXTRA_PARENT_KINDS: kinds_problem, EXTRA_BACKEND_KINDS: kinds_problem},
    referential=True,
    needs=parent_needs,
    # Gateways' listeners (and TLS, for references from them), grants, Namespaces' labels.
    reads=with_topology({GATEWAY: ("tls",), REFERENCEGRANT: ("from", "to")}),
    description=(
        "Routes name only parent and backend kinds the platform supports (InvalidKind), "
        "attach only to listeners that exist (NoMatchingParent), admit them "
        "(NotAllowedByListeners) and share a hostname with them (NoMatchingListenerHostname); "
        "references into other namespaces need a ReferenceGrant "
        "there (RefNotPermitted). Warn by default: `kubectl apply -f dir/` may create the "
        "grant after the route."
    ),
)
