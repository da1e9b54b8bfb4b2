"""Gateway API objects as the attachment model reads them: listeners, Gateways, ListenerSets,
parentRefs, and the routes (or the operators' objects standing for routes) that attach.

Each is parsed once from an untrusted object into a frozen, slotted record, with defaults
applied as the CRDs define them (https://gateway-api.sigs.k8s.io/reference/spec/):

- `ParentReference.group` defaults to `gateway.networking.k8s.io` and `kind` to `Gateway`;
  `group: ""` is the core group (a Service parent: GEP-1294 mesh attachment).
- `Listener.tls.mode` defaults to `Terminate`; `allowedRoutes.namespaces.from` to `Same`;
  `allowedRoutes.kinds` empty means the kinds the listener's protocol serves.
- `Gateway.spec.allowedListeners.namespaces.from` defaults to `None`: no ListenerSet attaches
  (GEP-1713).

Pure functions and records; no view, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from webhook.core import hostnames as names
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY_GROUP,
    GRPCROUTE,
    HTTPROUTE,
    OPENBAO_CLUSTER,
    POOL,
    TCPROUTE,
    TLSROUTE,
    UDPROUTE,
    GroupKind,
    group_kind_of,
)
from webhook.core.labels import EVERYTHING, LabelSelector
from webhook.core.objects import ObjectKey, as_list, dig, key_of, metadata

ROUTE_KINDS = frozenset({HTTPROUTE, GRPCROUTE, TLSROUTE, TCPROUTE, UDPROUTE})
CLAIMANT_KINDS = frozenset({HTTPROUTE, GRPCROUTE, TLSROUTE, POOL, OPENBAO_CLUSTER})
# The kinds that have `spec.hostnames` (TCPRoute and UDPRoute match no hostname).
HOSTNAME_KINDS = frozenset({HTTPROUTE, GRPCROUTE, TLSROUTE})
GATEWAY_KIND = "Gateway"
LISTENER_SET_KIND = "ListenerSet"
SERVICE_KIND = "Service"
ANY_HOSTNAME = "*"  # an effective hostname: the route takes every name the listener gets

# The route kinds a listener serves by protocol and TLS mode (ListenerSpec.protocol,
# GatewayTLSConfig.mode). HTTP and HTTPS serve HTTPRoute and GRPCRoute; a TLS listener serves
# TLSRoute (Passthrough: only TLSRoute, which is all it can route without decrypting); TCP
# and UDP their own kinds. A TLS listener that terminates may also be given other kinds
# explicitly (allowedRoutes.kinds), which edgeguard trusts as the implementation's choice.
SERVED: Mapping[tuple[str, str], frozenset[GroupKind]] = {
    ("HTTP", ""): frozenset({HTTPROUTE, GRPCROUTE}),
    ("HTTPS", "Terminate"): frozenset({HTTPROUTE, GRPCROUTE}),
    ("TLS", "Passthrough"): frozenset({TLSROUTE}),
    ("TLS", "Terminate"): frozenset({TLSROUTE}),
    ("TCP", ""): frozenset({TCPROUTE}),
    ("UDP", ""): frozenset({UDPROUTE}),
}
OPEN_TO_EXPLICIT = frozenset({("TLS", "Terminate")})
CORE_PROTOCOLS = frozenset(protocol for protocol, _ in SERVED)


class ListenerId(NamedTuple):
    """A listener by the object that defines it: a Gateway's own, or a ListenerSet's (a
    tuple: it is hashed on every claim lookup)."""

    owner_kind: str  # GATEWAY_KIND or LISTENER_SET_KIND
    namespace: str
    name: str
    section: str  # the listener's name

    @property
    def owner(self) -> str:
        return f"{self.owner_kind} {self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.owner} listener {self.section!r}"


@dataclass(frozen=True, slots=True)
class Listener:
    """One listener (Gateway `spec.listeners[]` or ListenerSet `spec.listeners[]`)."""

    id: ListenerId
    index: int
    protocol: str
    mode: str  # tls.mode for TLS and HTTPS (default Terminate), "" for the others
    port: int | None
    hostname: str | None  # normalized; None: every hostname (Listener.hostname unset)
    explicit_kinds: tuple[GroupKind, ...]  # allowedRoutes.kinds as written
    namespaces_from: str  # allowedRoutes.namespaces.from (default Same)
    selector: LabelSelector  # allowedRoutes.namespaces.selector (strict; invalid: nothing)
    home: str  # the namespace `from: Same` means: the Gateway's or the ListenerSet's

    @property
    def name(self) -> str:
        return self.id.section

    @property
    def passthrough(self) -> bool:
        return self.protocol == "TLS" and self.mode == "Passthrough"

    @property
    def terminating_tls(self) -> bool:
        return self.protocol == "TLS" and self.mode == "Terminate"

    @property
    def protocol_mode(self) -> str:
        """ "TLS/Terminate", "HTTPS/Terminate", or just "HTTP"."""
        return f"{self.protocol}/{self.mode}" if self.mode else self.protocol

    @property
    def kinds(self) -> frozenset[GroupKind]:
        """The route kinds that may attach (AllowedRoutes.kinds, or the protocol's)."""
        served = SERVED.get((self.protocol, self.mode))
        if not self.explicit_kinds:
            return served or frozenset()
        explicit = frozenset(self.explicit_kinds)
        if served is None or (self.protocol, self.mode) in OPEN_TO_EXPLICIT:
            return explicit  # an implementation's own protocol, or a terminating TLS listener
        return explicit & served

    def describe(self) -> str:
        return f"listener {self.name!r} ({self.protocol_mode})"


@dataclass(frozen=True, slots=True)
class Gateway:
    namespace: str
    name: str
    class_name: str
    listeners: tuple[Listener, ...]
    listener_sets_from: str  # spec.allowedListeners.namespaces.from (default None)
    listener_sets_selector: LabelSelector

    @classmethod
    def parse(cls, obj: JSONObject) -> Gateway:
        meta = metadata(obj)
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        allowed = dig(obj, "spec", "allowedListeners", "namespaces")
        return cls(
            namespace,
            name,
            str(dig(obj, "spec", "gatewayClassName") or ""),
            _listeners(GATEWAY_KIND, namespace, name, dig(obj, "spec", "listeners")),
            str(dig(allowed, "from") or "None"),
            LabelSelector.from_dict(dig(allowed, "selector")),
        )


@dataclass(frozen=True, slots=True)
class ListenerSet:
    namespace: str
    name: str
    parent: tuple[str, str] | None  # the Gateway (namespace, name) of spec.parentRef
    listeners: tuple[Listener, ...]

    @classmethod
    def parse(cls, obj: JSONObject) -> ListenerSet:
        meta = metadata(obj)
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        ref = dig(obj, "spec", "parentRef")
        group = _group(dig(ref, "group"))
        kind = dig(ref, "kind") or GATEWAY_KIND
        target = text_of(dig(ref, "name"))
        parent = (
            (text_of(dig(ref, "namespace")) or namespace, target)
            if target and group == GATEWAY_GROUP and kind == GATEWAY_KIND
            else None
        )
        listeners = _listeners(LISTENER_SET_KIND, namespace, name, dig(obj, "spec", "listeners"))
        return cls(namespace, name, parent, listeners)


def _listeners(owner: str, namespace: str, name: str, raw: object) -> tuple[Listener, ...]:
    found = []
    for index, item in enumerate(as_list(raw)):
        if not isinstance(item, dict) or not text_of(item.get("name")):
            continue
        protocol = str(item.get("protocol") or "")
        mode = str(dig(item, "tls", "mode") or "Terminate") if protocol in ("TLS", "HTTPS") else ""
        hostname = item.get("hostname")
        namespaces = dig(item, "allowedRoutes", "namespaces")
        source = str(dig(namespaces, "from") or "Same")
        selector = (
            LabelSelector.from_dict(dig(namespaces, "selector"))
            if source == "Selector"
            else EVERYTHING
        )
        kinds = tuple(
            GroupKind(_group(k.get("group")), str(k.get("kind") or ""))
            for k in as_list(dig(item, "allowedRoutes", "kinds"))
            if isinstance(k, dict)
        )
        port = item.get("port")
        found.append(
            Listener(
                ListenerId(owner, namespace, name, str(item["name"])),
                index,
                protocol,
                mode,
                port if isinstance(port, int) and not isinstance(port, bool) else None,
                names.normalize(hostname) if isinstance(hostname, str) and hostname else None,
                kinds,
                source,
                selector,
                namespace,
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Parent:
    """A ParentReference with its defaults applied; `path` is where it is written and not part
    of its identity (two references to one listener are one attachment)."""

    group: str
    kind: str
    namespace: str
    name: str
    section: str | None = None
    port: int | None = None
    path: str = field(default="", compare=False)

    @property
    def is_mesh(self) -> bool:
        """A Service parent: GEP-1294 (mesh), no Gateway or listener involved."""
        return self.group == "" and self.kind == SERVICE_KIND

    @property
    def is_gateway(self) -> bool:
        return self.group == GATEWAY_GROUP and self.kind == GATEWAY_KIND

    @property
    def is_listener_set(self) -> bool:
        return self.group == GATEWAY_GROUP and self.kind == LISTENER_SET_KIND

    @property
    def target(self) -> str:
        """`Gateway ns/name`, `ListenerSet ns/name`, or the group-qualified kind otherwise."""
        kind = self.kind if self.group in (GATEWAY_GROUP, "") else f"{self.kind}.{self.group}"
        return f"{kind} {self.namespace}/{self.name}"

    def selection(self) -> str:
        section = f", sectionName {self.section!r}" if self.section else ""
        return section + (f", port {self.port}" if self.port is not None else "")

    @property
    def where(self) -> str:
        """The reference as findings name it: `spec.parentRefs[0] (Gateway ns/name, ...)`."""
        return f"{self.path} ({self.target}{self.selection()})"


@dataclass(frozen=True, slots=True)
class Route:
    """What attaches: a Gateway API route, or an OpenVox Pool / OpenBaoCluster standing for the
    route its operator creates (a Pool makes a TLSRoute; an OpenBaoCluster a TLSRoute with
    `spec.gateway.tlsPassthrough: true`, else an HTTPRoute)."""

    key: ObjectKey
    kind: GroupKind  # the route kind it attaches as
    holder: ObjectKey  # who owns its hostnames: the controlling owner, else itself
    hostnames: tuple[str, ...]  # normalized, as declared (empty: the listener's)
    parents: tuple[Parent, ...]
    hostname_paths: tuple[str, ...] = field(default=(), compare=False)

    @property
    def namespace(self) -> str:
        return self.key.namespace

    @property
    def claims_hostnames(self) -> bool:
        return self.key.group_kind in CLAIMANT_KINDS

    def hostname_field(self, hostname: str) -> str:
        """The field path that holds a declared hostname (the listener's: the parentRef)."""
        for name, path in zip(self.hostnames, self.hostname_paths, strict=False):
            if name == hostname:
                return path
        if self.key.group_kind == POOL:
            return "spec.route.hostname"
        if self.key.group_kind == OPENBAO_CLUSTER:
            return "spec.gateway.hostname"
        return "spec.hostnames"

    @classmethod
    def parse(cls, obj: JSONObject, namespace: str | None = None) -> Route | None:
        """The object's attachment request, or None when it is not one of the kinds that
        attach (or has no name)."""
        key = key_of(obj, namespace)
        if key is None:
            return None
        gk = key.group_kind
        if gk in ROUTE_KINDS:
            found = [
                (names.normalize(h), f"spec.hostnames[{i}]")
                for i, h in enumerate(as_list(dig(obj, "spec", "hostnames")))
                if isinstance(h, str) and h and gk in HOSTNAME_KINDS
            ]
            unique = dict(reversed(found))  # the first path of each name
            hosts = tuple(dict.fromkeys(h for h, _ in found))
            return cls(
                key,
                gk,
                holder_of(obj, key),
                hosts,
                tuple(_route_parents(obj, key.namespace)),
                tuple(unique[h] for h in hosts),
            )
        if gk == POOL:
            return _pool(obj, key)
        if gk == OPENBAO_CLUSTER:
            return _openbao(obj, key)
        return None


def route_enabled(obj: JSONObject) -> bool:
    """Whether a Pool's route or an OpenBaoCluster's gateway is switched on."""
    gk = group_kind_of(obj)
    if gk == POOL:
        return dig(obj, "spec", "route", "enabled") is True
    if gk == OPENBAO_CLUSTER:
        return dig(obj, "spec", "gateway", "enabled") is True
    return False


def _pool(obj: JSONObject, key: ObjectKey) -> Route:
    route = dig(obj, "spec", "route")
    enabled = route_enabled(obj)
    ref = dig(route, "gatewayRef")
    parents: tuple[Parent, ...] = ()
    if enabled and text_of(dig(ref, "name")):
        path = "spec.route.gatewayRef"
        section = text_of(dig(ref, "sectionName"))
        parents = (
            Parent(GATEWAY_GROUP, GATEWAY_KIND, key.namespace, ref["name"], section, None, path),
        )
    hostname = dig(route, "hostname")
    hosts = (names.normalize(hostname),) if enabled and text_of(hostname) else ()
    return Route(
        key, TLSROUTE, holder_of(obj, key), hosts, parents, ("spec.route.hostname",) * len(hosts)
    )


def _openbao(obj: JSONObject, key: ObjectKey) -> Route:
    gateway = dig(obj, "spec", "gateway")
    enabled = route_enabled(obj)
    kind = TLSROUTE if dig(gateway, "tlsPassthrough") is True else HTTPROUTE
    ref = dig(gateway, "gatewayRef")
    parents: tuple[Parent, ...] = ()
    if enabled and text_of(dig(ref, "name")):
        namespace = text_of(dig(ref, "namespace")) or key.namespace
        section = text_of(dig(gateway, "listenerName"))
        path = "spec.gateway.gatewayRef"
        parents = (
            Parent(GATEWAY_GROUP, GATEWAY_KIND, namespace, ref["name"], section, None, path),
        )
    hostname = dig(gateway, "hostname")
    hosts = (names.normalize(hostname),) if enabled and text_of(hostname) else ()
    paths = ("spec.gateway.hostname",) * len(hosts)
    return Route(key, kind, holder_of(obj, key), hosts, parents, paths)


def _route_parents(obj: JSONObject, namespace: str) -> list[Parent]:
    parents = []
    for i, ref in enumerate(as_list(dig(obj, "spec", "parentRefs"))):
        name = text_of(dig(ref, "name"))
        if name is None:
            continue
        parents.append(
            Parent(
                _group(dig(ref, "group")),
                str(dig(ref, "kind") or GATEWAY_KIND),
                text_of(dig(ref, "namespace")) or namespace,
                name,
                text_of(dig(ref, "sectionName")),
                port_of(dig(ref, "port")),
                f"spec.parentRefs[{i}]",
            )
        )
    return parents


def holder_of(obj: JSONObject, key: ObjectKey) -> ObjectKey:
    """Who owns an object's hostnames: its controlling owner (ownerReferences[].controller,
    as an operator sets it: a Pool for the TLSRoute it makes), else the object itself."""
    for ref in as_list(metadata(obj).get("ownerReferences")):
        if isinstance(ref, dict) and ref.get("controller") is True and text_of(ref.get("name")):
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            return ObjectKey(group, str(ref.get("kind") or ""), key.namespace, ref["name"])
    return key


def intersect(listener: str | None, route: Sequence[str]) -> tuple[str, ...]:
    """The hostnames a route gets on a listener (HTTPRouteSpec.hostnames, TLSRouteSpec.
    hostnames: "the intersection of the Route's hostnames and the Listener's hostname").

    No listener hostname: the route's own (or every name, ANY_HOSTNAME, when it has none);
    no route hostnames: the listener's. Otherwise each pair that matches gives the more
    specific of the two (`*.example.com` and `a.example.com` give `a.example.com`), and no
    match at all means the route does not attach there (NoMatchingListenerHostname).
    """
    if listener is None:
        return tuple(route) or (ANY_HOSTNAME,)
    if not route:
        return (listener,)
    found: dict[str, None] = {}
    for name in route:
        if name == listener or (names.is_wildcard(listener) and covers(listener, name)):
            found[name] = None
        elif names.is_wildcard(name) and covers(name, listener):
            found[listener] = None
    return tuple(found)


def covers(wildcard: str, name: str) -> bool:
    """Whether `*.example.com` covers `name` (one or more labels before `.example.com`)."""
    return name != wildcard and name.endswith(wildcard[1:])


def _group(value: object) -> str:
    """A reference's group: unset or null is Gateway API's group, "" the core group."""
    return GATEWAY_GROUP if value is None else str(value)


def text_of(value: object) -> str | None:
    """A non-empty string field, or None (missing, empty, or not a string)."""
    return value if isinstance(value, str) and value else None


def port_of(value: object) -> int | None:
    """A port number field, or None (missing, or not an integer)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
