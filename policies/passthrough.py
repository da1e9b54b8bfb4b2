"""tls-passthrough: ACME and mTLS workloads keep TLS end to end through the Gateway.

Checks OpenBaoClusters, OpenVox Pools and routes against the Gateway listeners they attach to,
and Gateway updates against the routes attached. Pure: it reads the cluster view and never
guesses about a Gateway that is not in it (operator objects then get a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.gateway.listeners import (
    admits_kind,
    attachable_listeners,
    describe,
    gateway_for,
    is_passthrough,
    listeners,
    names,
    protocol_mode,
    selected_listeners,
)
from policies.gateway.refs import ParentRef, backend_refs, parent_refs
from policies.gateway.services import passthrough_reason
from webhook.core.decision import Decision, allowed, denied, verdict
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    NAMESPACE,
    OPENBAO_CLUSTER,
    POOL,
    SERVICE,
    TLSROUTE,
)
from webhook.core.objects import dig, key_of, metadata
from webhook.core.policy import Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

ALLOW_TERMINATE = "allowTLSRouteTerminate"
PASSTHROUGH = "protocol: TLS and tls.mode: Passthrough"
ACME_OFF = (
    "spec.gateway.tlsPassthrough: must be true when spec.tls.mode is ACME, because OpenBao must "
    "remain the TLS endpoint to complete ACME challenges and a Gateway that terminates TLS "
    "prevents that; set spec.gateway.tlsPassthrough: true (the operator then creates a "
    f"TLSRoute) and attach it to a Gateway listener with {PASSTHROUGH}"
)


@dataclass(frozen=True)
class Need:
    """Why a workload needs passthrough, and the fields that choose its Gateway listener."""

    why: str
    gateway_field: str
    section_field: str


def check(review: Review, view: ClusterView[Any], settings: Settings) -> Decision:
    obj = review.object
    if review.operation == "DELETE" or obj is None or metadata(obj).get("deletionTimestamp"):
        return allowed()  # deleting, or a finalizer being removed: nothing gets routed anew
    kind = review.group_kind
    if kind == OPENBAO_CLUSTER:
        return check_openbao(obj, view)
    if kind == POOL:
        return check_pool(obj, view)
    if kind == TLSROUTE:
        return check_tlsroute(obj, view, settings)
    if kind in (HTTPROUTE, GRPCROUTE):
        return check_http_backends(obj, view)
    if kind == GATEWAY and review.old_object is not None:
        return check_gateway_update(obj, review.old_object, view, settings)
    return allowed()


def check_openbao(obj: JSONObject, view: ClusterView[Any]) -> Decision:
    gateway = dig(obj, "spec", "gateway")
    acme = dig(obj, "spec", "tls", "mode") == "ACME"
    passthrough = dig(gateway, "tlsPassthrough") is True
    if dig(gateway, "enabled") is not True or not (acme or passthrough):
        return allowed()
    why = (
        "ACME needs OpenBao to remain the TLS endpoint"
        if acme
        else "spec.gateway.tlsPassthrough is true, so OpenBao must remain the TLS endpoint"
    )
    need = Need(why, "spec.gateway.gatewayRef", "spec.gateway.listenerName")
    messages, warnings = listener_findings(obj, parent_refs(obj), view, need)
    return verdict(([ACME_OFF] if acme and not passthrough else []) + messages, warnings)


def check_pool(obj: JSONObject, view: ClusterView[Any]) -> Decision:
    need = Need(
        "Puppet's mTLS needs the Puppet server to remain the TLS endpoint",
        "spec.route.gatewayRef.name",
        "spec.route.gatewayRef.sectionName",
    )
    return verdict(*listener_findings(obj, parent_refs(obj), view, need))


def check_tlsroute(obj: JSONObject, view: ClusterView[Any], settings: Settings) -> Decision:
    why = tlsroute_need(obj, view, settings)
    if why is None:
        return allowed()
    messages: list[str] = []
    warnings: list[str] = []
    for parent in parent_refs(obj):
        if gateway_for(view, parent) is None:
            continue
        need = Need(why, parent.path, f"{parent.path}.sectionName")
        found = listener_findings(obj, [parent], view, need)
        messages += found[0]
        warnings += found[1]
    return verdict(messages, warnings)


def tlsroute_need(obj: JSONObject, view: ClusterView[Any], settings: Settings) -> str | None:
    """Why this TLSRoute needs a Passthrough listener, or None when termination is fine."""
    if not settings.get(ALLOW_TERMINATE, False):
        return f"TLS termination for TLSRoutes is off (setting {ALLOW_TERMINATE}: false)"
    reasons = backend_reasons(obj, view)
    if not reasons:
        return None
    where, service, reason = reasons[0]
    return f"{where} names Service {service}, which requires TLS passthrough because {reason}"


def check_http_backends(obj: JSONObject, view: ClusterView[Any]) -> Decision:
    kind = str(obj.get("kind", "route"))
    article = "an" if kind.startswith("HTTP") else "a"
    return denied(
        *(
            f"{where}: Service {service} requires TLS passthrough because {reason}, but "
            f"{article} {kind} makes the Gateway terminate TLS in front of it; remove this "
            f"backendRef and route the Service with a TLSRoute on a listener with {PASSTHROUGH}"
            for where, service, reason in backend_reasons(obj, view)
        )
    )


def backend_reasons(obj: JSONObject, view: ClusterView[Any]) -> list[tuple[str, str, str]]:
    """(field path, namespace/name, reason) of each backendRef whose Service needs passthrough."""
    found = []
    for backend in backend_refs(obj):
        if (backend.group, backend.kind) != ("", "Service"):
            continue
        reason = passthrough_reason(view, backend.namespace, backend.name)
        if reason is not None:
            found.append((backend.path, f"{backend.namespace}/{backend.name}", reason))
    return found


def listener_findings(
    obj: JSONObject, parents: list[ParentRef], view: ClusterView[Any], need: Need
) -> tuple[list[str], list[str]]:
    """Denials and warnings for a workload that needs a Passthrough listener on each parent."""
    messages: list[str] = []
    warnings: list[str] = []
    for parent in parents:
        gateway = gateway_for(view, parent)
        if gateway is None:
            warnings.append(
                f"{need.gateway_field}: Gateway {parent.namespace}/{parent.name} is not in the "
                f"cluster yet, so edgeguard cannot check that it passes TLS through ({need.why}); "
                f"give it a listener with {PASSTHROUGH}"
            )
            continue
        problem = listener_problem(gateway, parent, need)
        if problem is not None:
            messages.append(problem)
        else:
            warnings += also_terminating(gateway, parent, need)
    return messages, warnings


def listener_problem(gateway: JSONObject, parent: ParentRef, need: Need) -> str | None:
    """A denial when no selected listener is TLS Passthrough; it names Gateway and listeners."""
    selected = selected_listeners(gateway, parent)
    if any(is_passthrough(listener) for listener in selected):
        return None
    where = need.section_field if parent.section else need.gateway_field
    name = f"Gateway {parent.namespace}/{parent.name}"
    if selected:
        offered = ", ".join(describe(listener) for listener in selected)
        found = f"{name} offers {offered}, none with {PASSTHROUGH}"
        other = "make one of those listeners pass TLS through"
    else:
        found = f"{name} has no listener{selection(parent)}"
        other = "add such a listener to the Gateway"
    return (
        f"{where}: {found}; {need.why}. Point {need.section_field} at a listener with "
        f"{PASSTHROUGH}, or {other}"
    )


def also_terminating(gateway: JSONObject, parent: ParentRef, need: Need) -> list[str]:
    """A warning when the workload also attaches to TLS listeners that terminate."""
    selected = selected_listeners(gateway, parent)
    terminating = [
        listener
        for listener in selected
        if listener.get("protocol") == "TLS"
        and not is_passthrough(listener)
        and admits_kind(listener, TLSROUTE)
    ]
    if not terminating:
        return []
    keep = names([listener for listener in selected if is_passthrough(listener)])
    offered = ", ".join(describe(listener) for listener in terminating)
    return [
        f"{need.gateway_field}: Gateway {parent.namespace}/{parent.name} also offers {offered}, "
        f"where the Gateway terminates TLS although {need.why}; set {need.section_field} "
        f"to {keep}"
    ]


def selection(parent: ParentRef) -> str:
    named = f" named {parent.section!r}" if parent.section else ""
    port = f" on port {parent.port}" if parent.port is not None else ""
    return named + port or "s"


def check_gateway_update(
    new: JSONObject, old: JSONObject, view: ClusterView[Any], settings: Settings
) -> Decision:
    """Deny turning a Passthrough listener off while routes needing passthrough use it."""
    current = {str(item.get("name")): (i, item) for i, item in enumerate(listeners(new))}
    gateway = f"Gateway {metadata(old).get('namespace', '')}/{metadata(old).get('name', '')}"
    messages = []
    for listener in listeners(old):
        index, now = current.get(str(listener.get("name")), (None, None))
        if not is_passthrough(listener) or (now is not None and is_passthrough(now)):
            continue
        users = passthrough_users(old, listener, view, settings)
        if now is None:
            what = f"spec.listeners: removing {describe(listener)} from {gateway}"
        else:
            what = f"spec.listeners[{index}]: changing {describe(listener)} of {gateway}"
            what += f" to {protocol_mode(now)}"
        if users:
            messages.append(
                f"{what} would stop passing TLS through for these attached routes, which require "
                f"passthrough: {', '.join(users)}; keep the listener with {PASSTHROUGH}, or first "
                "move these routes to another Passthrough listener (their sectionName) or delete "
                "them"
            )
    return denied(*messages)


def passthrough_users(
    gateway: JSONObject, listener: JSONObject, view: ClusterView[Any], settings: Settings
) -> list[str]:
    """The attached objects that can really attach to the listener and need passthrough."""
    namespace = str(metadata(gateway).get("namespace") or "")
    name = str(metadata(gateway).get("name") or "")
    users = set()
    for obj in view.attached(namespace, name):
        key = key_of(obj)
        if key is None or not requires_passthrough(obj, view, settings):
            continue
        for parent in parent_refs(obj):
            if (parent.namespace, parent.name) != (namespace, name):
                continue
            reachable = attachable_listeners(obj, parent, gateway, view)
            if any(item.get("name") == listener.get("name") for item in reachable):
                users.add(str(key))
    return sorted(users)


def requires_passthrough(obj: JSONObject, view: ClusterView[Any], settings: Settings) -> bool:
    kind = key_of(obj)
    group_kind = kind.group_kind if kind else None
    if group_kind == POOL:
        return True
    if group_kind == OPENBAO_CLUSTER:
        acme = dig(obj, "spec", "tls", "mode") == "ACME"
        return acme or dig(obj, "spec", "gateway", "tlsPassthrough") is True
    if group_kind == TLSROUTE:
        return tlsroute_need(obj, view, settings) is not None
    return False


POLICY = Policy(
    "tls-passthrough",
    frozenset({OPENBAO_CLUSTER, POOL, TLSROUTE, HTTPROUTE, GRPCROUTE, GATEWAY}),
    check,
    # A DELETE is never refused, so the API server need not call (or wait for) the webhook.
    operations=frozenset({"CREATE", "UPDATE"}),
    defaults={ALLOW_TERMINATE: False},
    referential=True,
    # Gateways' listeners; what decides whether an attached object needs passthrough and
    # where it attaches; Services' and Namespaces' labels.
    reads={
        GATEWAY: ("listeners",),
        POOL: ("route",),
        OPENBAO_CLUSTER: ("gateway", "tls"),
        TLSROUTE: ("parentRefs", "rules.backendRefs"),
        SERVICE: (),
        NAMESPACE: (),
    },
    description="ACME and mTLS workloads keep TLS end to end: their Gateway listener passes "
    "TLS through, and no HTTPRoute, GRPCRoute or listener change terminates it.",
)
