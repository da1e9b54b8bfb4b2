"""tls-passthrough: ACME and mTLS workloads keep TLS end to end through the Gateway.

Checks OpenBaoClusters, OpenVox Pools and routes against the Gateway listeners they attach to,
and Gateway updates against the routes attached. Where the Gateway terminates TLS in front of
OpenBao, the hop to OpenBao must stay TLS (`policies.termination`). Pure: it reads the cluster
view and never guesses about a Gateway that is not in it (operator objects then get a warning).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from policies.gateway.attachment import Attachment, ParentAttachment, Reason, Refusal, Refused
from policies.gateway.model import (
    GATEWAY_KIND,
    LISTENER_SET_KIND,
    Listener,
    ListenerId,
    Route,
)
from policies.gateway.model import Gateway as GatewayModel
from policies.gateway.model import ListenerSet as ListenerSetModel
from policies.gateway.refs import BackendRef, backend_refs
from policies.gateway.request import attachment_of, backends_of, parent_needs, topology
from policies.gateway.services import passthrough_reason
from policies.gateway.topology import with_topology
from policies.termination import hop_needs, openbao_hop_problem, public_backend_warnings
from webhook.core.decision import Decision, allowed, denied, verdict
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    BACKENDTLSPOLICY,
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    LISTENERSET,
    OPENBAO_CLUSTER,
    POOL,
    SERVICE,
    TLSROUTE,
    GroupKind,
)
from webhook.core.objects import ObjectKey, dig, key_of, metadata
from webhook.core.policy import Need as ReadNeed
from webhook.core.policy import Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

ALLOW_TERMINATE = "allowTLSRouteTerminate"
MAX_NAMED = 10  # attached objects named in one denial; the rest are counted
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


def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
    obj = review.object
    if review.operation == "DELETE" or obj is None or metadata(obj).get("deletionTimestamp"):
        return allowed()  # deleting, or a finalizer being removed: nothing gets routed anew
    kind = review.group_kind
    if kind in (HTTPROUTE, GRPCROUTE):
        return check_http_backends(obj, backends_of(review), view)
    if kind in (GATEWAY, LISTENERSET):
        if review.old_object is None:
            return allowed()
        return check_listener_update(obj, review.old_object, view, settings)
    attachment = attachment_of(review, view)
    if attachment is None:
        return allowed()
    if kind == OPENBAO_CLUSTER:
        return check_openbao(obj, attachment, view)
    if kind == POOL:
        return check_pool(attachment, view)
    if kind == TLSROUTE:
        return check_tlsroute(obj, attachment, view, settings)
    return allowed()


def check_openbao(obj: JSONObject, attachment: Attachment, view: ClusterView) -> Decision:
    gateway = dig(obj, "spec", "gateway")
    if dig(gateway, "enabled") is not True:
        return allowed()
    hop = openbao_hop_problem(obj, view)
    plain = [hop] if hop is not None else []
    acme = dig(obj, "spec", "tls", "mode") == "ACME"
    passthrough = dig(gateway, "tlsPassthrough") is True
    if not (acme or passthrough):
        return denied(*plain)
    why = (
        "ACME needs OpenBao to remain the TLS endpoint"
        if acme
        else "spec.gateway.tlsPassthrough is true, so OpenBao must remain the TLS endpoint"
    )
    if not passthrough:
        # Judge where it would attach once it makes the TLSRoute it must make.
        route = dataclasses.replace(attachment.route, kind=TLSROUTE)
        attachment = topology(view).attach(route)
    need = Need(why, "spec.gateway.gatewayRef", "spec.gateway.listenerName")
    messages, warnings = workload_findings(attachment, need)
    return verdict(([ACME_OFF] if acme and not passthrough else []) + plain + messages, warnings)


def check_pool(attachment: Attachment, view: ClusterView) -> Decision:
    need = Need(
        "Puppet's mTLS needs the Puppet server to remain the TLS endpoint",
        "spec.route.gatewayRef.name",
        "spec.route.gatewayRef.sectionName",
    )
    return verdict(*workload_findings(attachment, need))


def check_tlsroute(
    obj: JSONObject, attachment: Attachment, view: ClusterView, settings: Settings
) -> Decision:
    """A TLSRoute that needs passthrough must get it on the listeners it really attaches to;
    parentRefs that attach nowhere are route-references' business (NoMatchingParent,
    NotAllowedByListeners, NoMatchingListenerHostname), not this policy's."""
    why = tlsroute_need(obj, view, settings)
    if why is None:
        return allowed()
    messages: list[str] = []
    warnings: list[str] = []
    for parent in attachment.parents:
        if parent.reason is not Reason.ACCEPTED:
            continue
        need = Need(why, parent.parent.path, f"{parent.parent.path}.sectionName")
        problem = hits_problem(parent, need)
        if problem is not None:
            messages.append(problem)
        else:
            warnings += also_terminating(parent, need)
    return verdict(messages, warnings)


def tlsroute_need(obj: JSONObject, view: ClusterView, settings: Settings) -> str | None:
    """Why this TLSRoute needs a Passthrough listener, or None when termination is fine."""
    if not settings.get(ALLOW_TERMINATE, False):
        return f"TLS termination for TLSRoutes is off (setting {ALLOW_TERMINATE}: false)"
    reasons = backend_reasons(backend_refs(obj), view)
    if not reasons:
        return None
    where, service, reason = reasons[0]
    return f"{where} names Service {service}, which requires TLS passthrough because {reason}"


def check_http_backends(obj: JSONObject, refs: Sequence[BackendRef], view: ClusterView) -> Decision:
    """Refuse a backend that needs passthrough; warn of an OpenBao backend whose hop from the
    Gateway would be plain HTTP (`termination`)."""
    kind = str(obj.get("kind", "route"))
    article = "an" if kind.startswith("HTTP") else "a"
    reasons = backend_reasons(refs, view)
    refused = frozenset(where for where, _, _ in reasons)
    return verdict(
        (
            f"{where}: Service {service} requires TLS passthrough because {reason}, but "
            f"{article} {kind} makes the Gateway terminate TLS in front of it; remove this "
            f"backendRef and route the Service with a TLSRoute on a listener with {PASSTHROUGH}"
            for where, service, reason in reasons
        ),
        public_backend_warnings(obj, view, refused, refs),
    )


def backend_reasons(refs: Sequence[BackendRef], view: ClusterView) -> list[tuple[str, str, str]]:
    """(field path, namespace/name, reason) of each backendRef whose Service needs passthrough."""
    found = []
    for backend in refs:
        if (backend.group, backend.kind) != ("", "Service"):
            continue
        reason = passthrough_reason(view, backend.namespace, backend.name)
        if reason is not None:
            found.append((backend.path, f"{backend.namespace}/{backend.name}", reason))
    return found


def workload_findings(attachment: Attachment, need: Need) -> tuple[list[str], list[str]]:
    """Denials and warnings for an operator's workload (a Pool, an OpenBaoCluster) that needs a
    Passthrough listener on each parent it names."""
    messages: list[str] = []
    warnings: list[str] = []
    for parent in attachment.parents:
        ref = parent.parent
        if parent.reason is Reason.PARENT_NOT_FOUND:
            warnings.append(
                f"{need.gateway_field}: {ref.target} is not in the cluster yet, so edgeguard "
                f"cannot check that it passes TLS through ({need.why}); give it a listener with "
                f"{PASSTHROUGH}"
            )
            continue
        problem = (
            hits_problem(parent, need)
            if parent.reason is Reason.ACCEPTED
            else attach_problem(attachment.route, parent, need)
        )
        if problem is not None:
            messages.append(problem)
        else:
            warnings += also_terminating(parent, need)
    return messages, warnings


def hits_problem(parent: ParentAttachment, need: Need) -> str | None:
    """A denial when none of the listeners the object attaches to passes TLS through; it names
    the listeners that would be used."""
    if any(hit.listener.passthrough for hit in parent.hits):
        return None
    where = need.section_field if parent.parent.section else need.gateway_field
    used = ", ".join(hit.listener.describe() for hit in parent.hits)
    if len(parent.hits) == len(parent.selected):
        found = f"{parent.parent.target} offers {used}, none with {PASSTHROUGH}"
        other = "make one of those listeners pass TLS through"
    else:
        found = f"{parent.parent.target} would route it through {used}, none with {PASSTHROUGH}"
        passing = [item for item in parent.selected if item.passthrough]
        if passing:
            found += f" ({'; '.join(refusal_text(parent, item) for item in passing)})"
        other = "make that listener pass TLS through"
    return (
        f"{where}: {found}; {need.why}. Point {need.section_field} at a listener with "
        f"{PASSTHROUGH}, or {other}"
    )


def attach_problem(route: Route, parent: ParentAttachment, need: Need) -> str:
    """A denial for a workload that attaches to no listener of its parent at all."""
    ref = parent.parent
    where = need.section_field if ref.section else need.gateway_field
    name = parent.parent.target
    if parent.reason is Reason.NO_MATCHING_PARENT:
        found = f"{name} has no listener{selection(ref.section, ref.port)}"
        other = f"add such a listener to the {ref.kind}"
    elif parent.reason is Reason.INVALID_KIND:
        found = f"{name} is not a Gateway"
        other = "point it at a Gateway"
    elif not parent.selected:
        found = f"{name} does not admit ListenerSets from namespace {ref.namespace}"
        other = "allow it in the Gateway's spec.allowedListeners"
    elif not any(item.passthrough for item in parent.selected):
        offered = ", ".join(item.describe() for item in parent.selected)
        found = f"{name} offers {offered}, none with {PASSTHROUGH}"
        other = "make one of those listeners pass TLS through"
    else:
        offered = "; ".join(refusal_text(parent, item) for item in parent.selected)
        found = f"{name} has no listener that {route.key} can attach to: {offered}"
        other = "change that listener so that it admits it"
    return (
        f"{where}: {found}; {need.why}. Point {need.section_field} at a listener with "
        f"{PASSTHROUGH}, or {other}"
    )


def refusal_text(parent: ParentAttachment, listener: Listener) -> str:
    """Why the object does not attach to a listener, in the listener's terms."""
    found = next((r for r in parent.refusals if r.listener is listener), None)
    if found is None:
        return f"{listener.describe()} is not used"
    return f"{listener.describe()} {refusal_reasons(found)}"


def refusal_reasons(refusal: Refusal) -> str:
    listener = refusal.listener
    reasons = []
    for why in refusal.why:
        if why is Refused.KIND:
            kinds = ", ".join(sorted(k.kind for k in listener.kinds)) or "no route kind"
            reasons.append(f"admits only {kinds}")
        elif why is Refused.NAMESPACE:
            reasons.append(
                "does not admit routes from the object's namespace "
                f"(allowedRoutes.namespaces.from: {listener.namespaces_from})"
            )
        else:
            reasons.append(
                f"has hostname {listener.hostname}, which the object's hostnames do not match"
            )
    return " and ".join(reasons)


def also_terminating(parent: ParentAttachment, need: Need) -> list[str]:
    """A warning when the workload also attaches to TLS listeners that terminate."""
    terminating = [hit.listener for hit in parent.hits if hit.listener.terminating_tls]
    if not terminating:
        return []
    keep = ", ".join(repr(hit.listener.name) for hit in parent.hits if hit.listener.passthrough)
    offered = ", ".join(item.describe() for item in terminating)
    return [
        f"{need.gateway_field}: {parent.parent.target} also offers {offered}, where the Gateway "
        f"terminates TLS although {need.why}; set {need.section_field} to {keep}"
    ]


def selection(section: str | None, port: int | None) -> str:
    named = f" named {section!r}" if section else ""
    on_port = f" on port {port}" if port is not None else ""
    return named + on_port or "s"


def check_listener_update(
    new: JSONObject, old: JSONObject, view: ClusterView, settings: Settings
) -> Decision:
    """Deny turning a Passthrough listener (of a Gateway or a ListenerSet) off while objects
    that need passthrough are attached to it. Each attached object is judged once, however
    many listeners it is on; at most MAX_NAMED listeners and objects are named."""
    owner_kind = LISTENER_SET_KIND if old.get("kind") == LISTENER_SET_KIND else GATEWAY_KIND
    parse = ListenerSetModel.parse if owner_kind == LISTENER_SET_KIND else GatewayModel.parse
    current = {item.name: item for item in parse(new).listeners}
    meta = metadata(old)
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    owner = f"{owner_kind} {namespace}/{name}"
    topo = topology(view)
    needs: dict[ObjectKey, bool] = {}
    messages: list[str] = []
    more = 0
    for listener in parse(old).listeners:
        now = current.get(listener.name)
        if not listener.passthrough or (now is not None and now.passthrough):
            continue
        attached = topo.on_listener(ListenerId(owner_kind, namespace, name, listener.name))
        if len(messages) >= MAX_NAMED:  # only counted from here: does any user need it?
            more += any(_needs(key, needs, view, settings) for key in attached)
            continue
        users = [key for key in attached if _needs(key, needs, view, settings)]
        if not users:
            continue
        if now is None:
            what = f"spec.listeners: removing {listener.describe()} from {owner}"
        else:
            what = f"spec.listeners[{now.index}]: changing {listener.describe()} of {owner}"
            what += f" to {now.protocol_mode}"
        named = ", ".join(str(key) for key in heapq.nsmallest(MAX_NAMED, users, key=str))
        extra = len(users) - MAX_NAMED
        listed = named + (f" and {extra} more" if extra > 0 else "")
        messages.append(
            f"{what} would stop passing TLS through for these attached routes, which require "
            f"passthrough: {listed}; keep the listener with {PASSTHROUGH}, or first "
            "move these routes to another Passthrough listener (their sectionName) or delete "
            "them"
        )
    if more:
        messages.append(f"... and {more} more listeners like these, not listed")
    return denied(*messages)


def _needs(
    key: ObjectKey, memo: dict[ObjectKey, bool], view: ClusterView, settings: Settings
) -> bool:
    found = memo.get(key)
    if found is None:
        obj = view.get(key.group_kind, key.namespace, key.name)
        found = memo[key] = obj is not None and requires_passthrough(obj, view, settings)
    return found


def requires_passthrough(obj: JSONObject, view: ClusterView, settings: Settings) -> bool:
    kind = key_of(obj)
    group_kind = kind.group_kind if kind else None
    if group_kind == TLSROUTE:
        return tlsroute_need(obj, view, settings) is not None
    return group_kind is not None and workload_needs_passthrough(obj, group_kind)


def workload_needs_passthrough(obj: JSONObject, kind: GroupKind) -> bool:
    """An operator's workload that must stay the TLS endpoint: every Pool (Puppet's mTLS), an
    OpenBaoCluster with ACME or spec.gateway.tlsPassthrough."""
    if kind == POOL:
        return True
    if kind == OPENBAO_CLUSTER:
        acme = dig(obj, "spec", "tls", "mode") == "ACME"
        return acme or dig(obj, "spec", "gateway", "tlsPassthrough") is True
    return False


def passthrough_needs(review: Review, view: ClusterView) -> list[ReadNeed]:
    """What the check reads by name and the view lacks: the parents, and for an OpenBaoCluster
    whose backend hop would be plain, the BackendTLSPolicies of its namespace."""
    needs = parent_needs(review, view)
    if review.group_kind == OPENBAO_CLUSTER and review.object is not None:
        needs += hop_needs(review.object, view)
    return needs


POLICY = Policy(
    "tls-passthrough",
    frozenset({OPENBAO_CLUSTER, POOL, TLSROUTE, HTTPROUTE, GRPCROUTE, GATEWAY, LISTENERSET}),
    check,
    # A DELETE is never refused, so the API server need not call (or wait for) the webhook.
    operations=frozenset({"CREATE", "UPDATE"}),
    defaults={ALLOW_TERMINATE: False},
    referential=True,
    needs=passthrough_needs,
    # Gateways' listeners; what decides whether an attached object needs passthrough and
    # where it attaches; Services' and Namespaces' labels.
    reads=with_topology(
        {
            OPENBAO_CLUSTER: ("gateway", "tls"),
            TLSROUTE: ("rules.backendRefs",),
            SERVICE: (),
            BACKENDTLSPOLICY: ("targetRefs",),
        }
    ),
    description="ACME and mTLS workloads keep TLS end to end: their Gateway listener passes "
    "TLS through, and no HTTPRoute, GRPCRoute or listener change terminates it. Where the "
    "Gateway terminates TLS in front of OpenBao, the hop to OpenBao stays TLS "
    "(spec.gateway.backendTLS, or a BackendTLSPolicy).",
)
