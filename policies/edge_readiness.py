"""edge-readiness: what the Gateway side must offer before a route can work, checked when an
OpenBaoCluster, an OpenVox Pool or a route is written rather than found after the fact.

The OpenBao operator reports these only once the object is stored (its Gateway guide's
prerequisites, the condition GatewayIntegrationReady). Here each parentRef's Gateway (for a
ListenerSet, its parent Gateway) is read from the view: the Gateway must exist, its
GatewayClass must exist and report `Accepted: True`, the class must list in
`status.supportedFeatures` the features this object needs (Gateway API's `pkg/features`
names) when it publishes any — a class that publishes none is Unknown, said only as a note —
and the Gateway must not report `Programmed: False`. Warn by default: a GatewayClass or
Gateway may be created after the objects that use it. A Gateway not in the cluster is named
here, except for the objects tls-passthrough already warns of it (an OpenVox Pool, an
OpenBaoCluster with ACME or tlsPassthrough: they need a passthrough listener it cannot check).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policies.gateway.attachment import Attachment, ParentAttachment, Reason
from policies.gateway.backend_tls import BackendTLS
from policies.gateway.model import Gateway
from policies.gateway.refs import BackendRef
from policies.gateway.request import attachment_of, backends_of, missing_parents
from policies.gateway.status import CONDITION_FIELDS, condition, reported, supported_features
from policies.gateway.topology import with_topology
from policies.passthrough import workload_needs_passthrough
from policies.termination import makes_backend_tls
from webhook.core.decision import Decision, allowed, verdict
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    BACKENDTLSPOLICY,
    GATEWAY,
    GATEWAYCLASS,
    GRPCROUTE,
    HTTPROUTE,
    OPENBAO_CLUSTER,
    POOL,
    TCPROUTE,
    TLSROUTE,
    UDPROUTE,
    GroupKind,
)
from webhook.core.objects import dig, metadata
from webhook.core.policy import Mode, Need, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

MAX_FINDINGS = 10  # findings named in one answer; the rest are counted
# Gateway API's feature names (pkg/features) for the route kinds.
ROUTE_FEATURES = {
    HTTPROUTE: "HTTPRoute",
    GRPCROUTE: "GRPCRoute",
    TLSROUTE: "TLSRoute",
    TCPROUTE: "TCPRoute",
    UDPROUTE: "UDPRoute",
}
LISTENER_SET_FEATURE = "ListenerSet"
TERMINATE_FEATURE = "TLSRouteModeTerminate"
BACKEND_TLS_FEATURE = "BackendTLSPolicy"
BACKEND_TLS_SUFFIX = "-backend-tls-policy"  # the OpenBao operator's BackendTLSPolicy name


@dataclass(frozen=True, slots=True)
class Wanted:
    """A Gateway API feature the object needs of its Gateway's class, and why."""

    feature: str
    why: str


@dataclass
class OnGateway:
    """What one Gateway is asked for, across the parentRefs that lead to it."""

    gateway: Gateway
    where: str  # the first parentRef that leads to it
    direct: bool  # that parentRef names the Gateway itself (not a ListenerSet of it)
    needs: dict[str, Wanted] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The Gateway as the findings name it after `where`."""
        if self.direct:
            return "the Gateway"
        return f"its Gateway {self.gateway.namespace}/{self.gateway.name}"


def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
    obj = review.object
    if review.operation == "DELETE" or obj is None or metadata(obj).get("deletionTimestamp"):
        return allowed()
    attachment = attachment_of(review, view)
    if attachment is None or not attachment.parents:
        return allowed()
    shared = object_features(obj, review.group_kind, view, backends_of(review))
    gateways: dict[tuple[str, str], OnGateway] = {}
    findings: list[str] = []
    for parent in attachment.parents:
        if parent.reason in (Reason.MESH, Reason.INVALID_KIND):
            continue  # no Gateway involved, or route-references' InvalidKind
        where = parent.parent.where
        gateway = parent.gateway
        if gateway is None:
            # tls-passthrough already says so for the workloads it checks: said once, there.
            if not workload_needs_passthrough(obj, review.group_kind):
                findings.append(missing_parent(where, parent, noun(review.group_kind)))
            continue
        entry = gateways.setdefault(
            (gateway.namespace, gateway.name),
            OnGateway(gateway, where, parent.parent.is_gateway),
        )
        for need in (*shared, *parent_features(attachment, parent)):
            entry.needs.setdefault(need.feature, need)
    notes: list[str] = []
    for entry in gateways.values():
        found, said = gateway_findings(entry, noun(review.group_kind), view)
        findings += found
        notes += said
    if len(findings) > MAX_FINDINGS:
        more = len(findings) - MAX_FINDINGS
        findings = [*findings[:MAX_FINDINGS], f"... and {more} more findings like these"]
    if len(notes) > MAX_FINDINGS:
        more = len(notes) - MAX_FINDINGS
        notes = [*notes[:MAX_FINDINGS], f"... and {more} more notes like these"]
    # Findings deny; the default mode, Warn, turns them into warnings.
    return verdict(findings, (), notes)


def readiness_needs(review: Review, view: ClusterView) -> list[Need]:
    """What the check reads by name and the view lacks (the read-through fills it first): the
    Gateways and ListenerSets the object names, and the GatewayClass of each Gateway found."""
    attachment = attachment_of(review, view)
    needs = missing_parents(attachment)
    for parent in attachment.parents if attachment is not None else ():
        name = parent.gateway.class_name if parent.gateway is not None else ""
        if name and view.get(GATEWAYCLASS, None, name) is None:
            needs.append((GATEWAYCLASS, None, name))
    return needs


def noun(kind: GroupKind) -> str:
    if kind == POOL:
        return "this Pool's route"
    if kind == OPENBAO_CLUSTER:
        return "this OpenBaoCluster's route"
    return f"this {kind.kind}"


def missing_parent(where: str, parent: ParentAttachment, what: str) -> str:
    """The Gateway reference does not resolve: its target, or a ListenerSet's Gateway, is
    not in the cluster."""
    ref = parent.parent
    listener_set = parent.listener_set
    if listener_set is None:
        return (
            f"{where}: the {ref.kind} is not in the cluster, so nothing routes traffic for "
            f"{what} yet; create it, or point {ref.path} at an existing {ref.kind}"
        )
    if listener_set.parent is None:
        return (
            f"{where}: the ListenerSet's spec.parentRef names no Gateway, so its listeners "
            f"serve nothing; set spec.parentRef of ListenerSet {ref.namespace}/{ref.name}"
        )
    namespace, name = listener_set.parent
    return (
        f"{where}: the ListenerSet's parent Gateway {namespace}/{name} is not in the cluster, "
        f"so nothing routes traffic for {what} yet; create the Gateway, or fix "
        f"spec.parentRef of ListenerSet {ref.namespace}/{ref.name}"
    )


# --- what the object needs -----------------------------------------------------------------


def object_features(
    obj: JSONObject, kind: GroupKind, view: ClusterView, refs: Sequence[BackendRef]
) -> list[Wanted]:
    """The features the object needs of every Gateway it names: its route kind's, and
    BackendTLSPolicy when the hop to its backends is TLS (HTTP and gRPC routes; TLSRoutes only
    where a listener terminates, see `parent_needs`)."""
    needs: list[Wanted] = []
    if kind == POOL:
        needs.append(Wanted("TLSRoute", "the OpenVox operator routes a Pool with a TLSRoute"))
    elif kind == OPENBAO_CLUSTER:
        needs += openbao_features(obj)
    elif kind in ROUTE_FEATURES:
        needs.append(Wanted(ROUTE_FEATURES[kind], "the route's own kind"))
    if kind in (HTTPROUTE, GRPCROUTE, OPENBAO_CLUSTER):
        needs += backend_tls_features(refs, view)
    return needs


def openbao_features(obj: JSONObject) -> list[Wanted]:
    gateway = dig(obj, "spec", "gateway")
    name = str(metadata(obj).get("name") or "")
    if dig(gateway, "tlsPassthrough") is True:
        why = "spec.gateway.tlsPassthrough: true makes the OpenBao operator create a TLSRoute"
        return [Wanted("TLSRoute", why)]
    needs = [
        Wanted(
            "HTTPRoute",
            "without spec.gateway.tlsPassthrough: true the OpenBao operator creates an HTTPRoute",
        )
    ]
    if makes_backend_tls(obj):
        needs.append(
            Wanted(
                BACKEND_TLS_FEATURE,
                f"the OpenBao operator creates BackendTLSPolicy {name}{BACKEND_TLS_SUFFIX} to "
                "keep the hop from the Gateway to OpenBao encrypted "
                "(spec.gateway.backendTLS.enabled, default true)",
            )
        )
    return needs


def backend_tls_features(refs: Sequence[BackendRef], view: ClusterView) -> list[Wanted]:
    """BackendTLSPolicy, when a BackendTLSPolicy targets a backend Service of the object: a
    class without it would ignore that policy and send plain text."""
    index = view.derived(BackendTLS)
    for ref in refs:
        if (ref.group, ref.kind) != ("", "Service"):
            continue
        names = index.policies(ref.namespace, ref.name)
        if names:
            where = ref.path or "its backend"
            why = (
                f"BackendTLSPolicy {ref.namespace}/{names[0]} makes the Gateway speak TLS to "
                f"Service {ref.namespace}/{ref.name} ({where})"
            )
            return [Wanted(BACKEND_TLS_FEATURE, why)]
    return []


def parent_features(attachment: Attachment, parent: ParentAttachment) -> Iterable[Wanted]:
    """What this parentRef adds: ListenerSet support; for a TLSRoute that lands on a listener
    that terminates, TLSRouteModeTerminate (an extended feature)."""
    if parent.parent.is_listener_set:
        yield Wanted(LISTENER_SET_FEATURE, f"{parent.parent.path} attaches through a ListenerSet")
    if attachment.route.kind == TLSROUTE:
        for hit in parent.hits:
            if hit.listener.terminating_tls:
                why = f"it attaches to {hit.listener.describe()}, where the Gateway terminates TLS"
                yield Wanted(TERMINATE_FEATURE, why)
                break


# --- what the Gateway and its class report -------------------------------------------------


def gateway_findings(entry: OnGateway, what: str, view: ClusterView) -> tuple[list[str], list[str]]:
    """Findings and notes about one Gateway: its class (exists, accepted, features) and its
    own Programmed condition."""
    gateway, where, named = entry.gateway, entry.where, entry.subject
    found: list[str] = []
    notes: list[str] = []
    stored = view.get(GATEWAY, gateway.namespace, gateway.name)
    programmed = condition(stored, "Programmed") if stored is not None else None
    if programmed is not None and programmed.status == "False":
        found.append(
            f"{where}: {named} is not programmed ({programmed.describe()}), so it serves no "
            f"traffic for {what}; see the Gateway's status and its controller's logs"
        )
    elif programmed is not None and programmed.status != "True":
        notes.append(f"{where}: {named} reports {programmed.describe()}; only False is a finding")
    elif programmed is None:
        notes.append(f"{where}: {named} reports no Programmed condition; not judged")
    class_name = gateway.class_name
    if not class_name:
        return found, notes
    gateway_class = view.get(GATEWAYCLASS, None, class_name)
    if gateway_class is None:
        found.append(
            f"{where}: GatewayClass {class_name} (spec.gatewayClassName of {named}) is not in "
            "the cluster, so no controller programs the Gateway; install the controller that "
            "provides the class, or set the Gateway's spec.gatewayClassName to an installed one"
        )
        return found, notes
    of = f"GatewayClass {class_name}" + ("" if entry.direct else f" of {named}")
    found += acceptance(where, of, gateway_class, notes)
    found += features(where, of, gateway_class, entry.needs, what, notes)
    return found, notes


def acceptance(where: str, of: str, found: JSONObject, notes: list[str]) -> list[str]:
    accepted = condition(found, "Accepted")
    if accepted is None and not reported(found):
        notes.append(f"{where}: {of} reports no status, so whether it is accepted is not judged")
        return []
    if accepted is None:
        return [
            f"{where}: {of} reports no Accepted condition, so no controller has accepted it; "
            "check that the controller its spec.controllerName names is running"
        ]
    if accepted.status == "True":
        return []
    if accepted.status == "False":
        return [
            f"{where}: {of} is not accepted by its controller ({accepted.describe()}), so the "
            "Gateway is not programmed; fix the GatewayClass as its controller says, or use a "
            "Gateway of another class"
        ]
    controller = dig(found, "spec", "controllerName")
    named = f"the controller {controller}" if isinstance(controller, str) and controller else ""
    return [
        f"{where}: {of} is not accepted yet ({accepted.describe()}), so no controller has "
        f"taken it up; check that {named or 'its controller'} is running"
    ]


def features(
    where: str, of: str, found: JSONObject, needs: dict[str, Wanted], what: str, notes: list[str]
) -> list[str]:
    wanted = ", ".join(needs)
    published = supported_features(found)
    if published is None:
        notes.append(
            f"{where}: {of} publishes no status.supportedFeatures, so whether it supports "
            f"{wanted} is Unknown (publishing them is optional); not a finding"
        )
        return []
    missing = [need for feature, need in needs.items() if feature not in published]
    if not missing:
        return []
    names = ", ".join(need.feature for need in missing)
    whys = "; ".join(f"{need.feature}: {need.why}" for need in missing)
    return [
        f"{where}: {of} does not list {names} in status.supportedFeatures, which {what} "
        f"needs ({whys}); attach to a Gateway whose class supports {names}"
    ]


# The status fields read of GatewayClasses and Gateways: conditions (without their
# timestamps) and the class's features.
STATUS_READS = {
    GATEWAYCLASS: (*CONDITION_FIELDS, "supportedFeatures"),
    GATEWAY: CONDITION_FIELDS,
}

POLICY = Policy(
    "edge-readiness",
    frozenset({OPENBAO_CLUSTER, POOL, HTTPROUTE, GRPCROUTE, TLSROUTE, TCPROUTE, UDPROUTE}),
    check,
    # Warnings only, and a DELETE is never refused: the API server need not call on DELETE.
    operations=frozenset({"CREATE", "UPDATE"}),
    default_mode=Mode.WARN,
    referential=True,
    reads=with_topology(
        {
            GATEWAYCLASS: ("controllerName",),
            OPENBAO_CLUSTER: ("gateway", "tls"),
            BACKENDTLSPOLICY: ("targetRefs",),
        }
    ),
    reads_status=STATUS_READS,
    needs=readiness_needs,
    description=(
        "Before an OpenBaoCluster, Pool or route is stored: its Gateway exists and is not "
        "Programmed: False, the Gateway's GatewayClass exists and is Accepted, and lists in "
        "status.supportedFeatures what the object needs (TLSRoute, BackendTLSPolicy, ...). "
        "Warn by default: a GatewayClass may be created after its users."
    ),
)
