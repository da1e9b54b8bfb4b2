"""The cluster's Gateway API topology, kept current as objects are written to the view.

`Topology` is the view's derived index for Gateway API (see `webhook.core.view.Derived`): it
holds every Gateway and ListenerSet parsed once, each route's (or Pool's, or OpenBaoCluster's)
attachment, the hostname claims that attachment makes (`ClaimIndex`), the routes on each
listener, the users of each Service and the Pools of each hostname. A write of a Gateway, a
ListenerSet or a Namespace re-attaches just the routes that depend on it, so every read on the
admission path is a dictionary lookup.

An overlay (`base` given) holds the objects a replica has admitted but not yet seen in the
watch: its reads are the union of its own entries and the base's, and its routes attach to
the base's Gateways. Only the view writes; policies read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from policies.gateway.attachment import Attachment, Reason, attach
from policies.gateway.claims import (
    ALL_SECTIONS,
    CLUSTER,
    Claim,
    ClaimIndex,
    Holders,
    Slot,
    Unresolved,
    union,
)
from policies.gateway.model import (
    ANY_HOSTNAME,
    GATEWAY_KIND,
    LISTENER_SET_KIND,
    Gateway,
    ListenerId,
    ListenerSet,
    Route,
)
from policies.gateway.refs import backend_refs
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    LISTENERSET,
    NAMESPACE,
    OPENBAO_CLUSTER,
    POOL,
    TCPROUTE,
    TLSROUTE,
    UDPROUTE,
    GroupKind,
)
from webhook.core.labels import namespace_labels
from webhook.core.objects import ObjectKey

ParentKey = tuple[str, str, str]
_ROUTE_FIELDS = ("hostnames", "parentRefs", "rules.backendRefs")
# The spec fields the topology reads of cached objects: every policy that stands on it keeps
# them (`with_topology`), so the view never drops what attachment needs.
READS: dict[GroupKind, tuple[str, ...]] = {
    GATEWAY: ("gatewayClassName", "listeners", "allowedListeners"),
    LISTENERSET: ("parentRef", "listeners"),
    HTTPROUTE: _ROUTE_FIELDS,
    GRPCROUTE: _ROUTE_FIELDS,
    TLSROUTE: _ROUTE_FIELDS,
    TCPROUTE: ("parentRefs", "rules.backendRefs"),
    UDPROUTE: ("parentRefs", "rules.backendRefs"),
    POOL: ("route",),
    OPENBAO_CLUSTER: ("gateway",),
    NAMESPACE: (),
}


def with_topology(reads: Mapping[GroupKind, tuple[str, ...]]) -> dict[GroupKind, tuple[str, ...]]:
    """A policy's own `reads` plus the topology's."""
    kinds = {**READS, **reads}
    return {
        kind: tuple(sorted({*READS.get(kind, ()), *reads.get(kind, ())})) for kind in kinds
    }  # (GATEWAY_KIND or LISTENER_SET_KIND, namespace, name)


class Entry(NamedTuple):
    route: Route
    attachment: Attachment
    claims: tuple[Claim, ...]
    backends: tuple[tuple[str, str], ...]
    pool_names: tuple[str, ...]


class Topology:
    """Gateway API's attachment graph over the view's objects (a `Derived` index)."""

    def __init__(self, base: Topology | None = None) -> None:
        self.base = base
        # Bumped whenever what attachment reads changes (a Gateway, a ListenerSet, Namespace
        # labels): an attachment worked out at one version holds while it stays.
        self._version = 0
        self._gateways: dict[tuple[str, str], Gateway] = {}
        self._sets: dict[tuple[str, str], ListenerSet] = {}
        self._sets_of: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
        self._namespaces: dict[str, Mapping[str, Any]] = {}
        self._routes: dict[ObjectKey, Entry] = {}
        self._dependents: dict[ParentKey, dict[ObjectKey, None]] = {}
        self._in_namespace: dict[str, dict[ObjectKey, None]] = {}
        self._on_listener: dict[ListenerId, dict[ObjectKey, None]] = {}
        self._backends: dict[tuple[str, str], dict[ObjectKey, None]] = {}
        self._pools: dict[tuple[str, str], dict[ObjectKey, None]] = {}
        self.index = ClaimIndex()

    # --- Lookup: what attachment reads ---------------------------------------------------------

    def gateway(self, namespace: str, name: str) -> Gateway | None:
        found = self._gateways.get((namespace, name))
        if found is None and self.base is not None:
            return self.base.gateway(namespace, name)
        return found

    def listener_set(self, namespace: str, name: str) -> ListenerSet | None:
        found = self._sets.get((namespace, name))
        if found is None and self.base is not None:
            return self.base.listener_set(namespace, name)
        return found

    def namespace_labels(self, name: str) -> Mapping[str, Any] | None:
        found = self._namespaces.get(name)
        if found is None and self.base is not None:
            return self.base.namespace_labels(name)
        return found

    # --- reads for policies --------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Of what attachment reads, here and in the base: equal versions, equal answers."""
        return self._version + (self.base.version if self.base is not None else 0)

    def attach(self, route: Route) -> Attachment:
        return attach(route, self)

    def exact(self, slot: Slot, hostname: str) -> Holders:
        own = self.index.exact(slot, hostname)
        return union(self.base.exact(slot, hostname), own) if self.base is not None else own

    def covered(self, slot: Slot, wildcard: str) -> Holders:
        own = self.index.covered(slot, wildcard)
        return union(self.base.covered(slot, wildcard), own) if self.base is not None else own

    def entry(self, key: ObjectKey) -> Entry | None:
        found = self._routes.get(key)
        if found is None and self.base is not None:
            return self.base.entry(key)
        return found

    def on_listener(self, listener: ListenerId) -> Mapping[ObjectKey, None]:
        """The routes (and Pools, OpenBaoClusters) attached to a listener."""
        return self._merged(lambda t: t._on_listener, listener)

    def backend_users(self, namespace: str, service: str) -> Mapping[ObjectKey, None]:
        """The routes, Pools and OpenBaoClusters that send traffic to a Service."""
        return self._merged(lambda t: t._backends, (namespace, service))

    def pools(self, namespace: str, hostname: str) -> Mapping[ObjectKey, None]:
        """The enabled Pools of a namespace that declare a hostname (attached or not)."""
        return self._merged(lambda t: t._pools, (namespace, hostname))

    def _merged(
        self, table: Callable[[Topology], Mapping[Any, dict[ObjectKey, None]]], key: Any
    ) -> Mapping[ObjectKey, None]:
        own: Mapping[ObjectKey, None] = table(self).get(key, {})
        if self.base is None:
            return own
        theirs = self.base._merged(table, key)
        return {**theirs, **own} if own else theirs

    # --- Derived: the view's writes ------------------------------------------------------------

    def reserves(self, obj: JSONObject, key: ObjectKey) -> bool:
        """Whether the object claims a hostname: on a listener it attaches to (or a parent not
        in the view), or, for a Pool, in its namespace (the operator's one-Pool rule)."""
        route = Route.parse(obj)
        if route is None:
            return False
        if route.key.group_kind == POOL and route.hostnames:
            return True
        return bool(claims_of(route, attach(route, self)))

    def upsert(self, obj: JSONObject, key: ObjectKey) -> None:
        kind = key.group_kind
        if kind == GATEWAY:
            gateway = Gateway.parse(obj)
            if self._gateways.get((key.namespace, key.name)) != gateway:
                self._gateways[(key.namespace, key.name)] = gateway
                self._version += 1
                self._reattach(self._gateway_dependents(key.namespace, key.name))
        elif kind == LISTENERSET:
            self._put_set(key.namespace, key.name, ListenerSet.parse(obj))
        elif kind == NAMESPACE:
            labels = namespace_labels(obj)
            if self._namespaces.get(key.name) != labels:
                self._namespaces[key.name] = labels
                self._version += 1
                self._reattach(self._namespace_dependents(key.name))
        else:
            route = Route.parse(obj)
            if route is not None:
                self._drop_route(key)
                self._add_route(route, obj)

    def delete(self, key: ObjectKey) -> None:
        kind = key.group_kind
        if kind == GATEWAY:
            if self._gateways.pop((key.namespace, key.name), None) is not None:
                self._version += 1
                self._reattach(self._gateway_dependents(key.namespace, key.name))
        elif kind == LISTENERSET:
            self._put_set(key.namespace, key.name, None)
        elif kind == NAMESPACE:
            if self._namespaces.pop(key.name, None) is not None:
                self._version += 1
                self._reattach(self._namespace_dependents(key.name))
        else:
            self._drop_route(key)

    # --- maintenance ---------------------------------------------------------------------------

    def _put_set(self, namespace: str, name: str, new: ListenerSet | None) -> None:
        old = self._sets.get((namespace, name))
        if old == new:
            return
        self._version += 1
        if old is not None and old.parent is not None:
            _drop(self._sets_of, old.parent, (namespace, name))
        if new is None:
            self._sets.pop((namespace, name), None)
        else:
            self._sets[(namespace, name)] = new
            if new.parent is not None:
                self._sets_of.setdefault(new.parent, {})[(namespace, name)] = None
        self._reattach(self._dependents.get((LISTENER_SET_KIND, namespace, name), {}))

    def _gateway_dependents(self, namespace: str, name: str) -> list[ObjectKey]:
        found = dict(self._dependents.get((GATEWAY_KIND, namespace, name), {}))
        for ns, set_name in self._sets_of.get((namespace, name), {}):
            found.update(self._dependents.get((LISTENER_SET_KIND, ns, set_name), {}))
        return list(found)

    def _namespace_dependents(self, namespace: str) -> list[ObjectKey]:
        found = dict(self._in_namespace.get(namespace, {}))
        for ns, set_name in self._sets:
            if ns == namespace:
                found.update(self._dependents.get((LISTENER_SET_KIND, ns, set_name), {}))
        return list(found)

    def _reattach(self, keys: Iterable[ObjectKey]) -> None:
        for key in list(keys):
            entry = self._routes.get(key)
            if entry is not None:
                self._unregister(key, entry, parents=False)
                self._register(key, entry.route, entry.backends, entry.pool_names, False)

    def _add_route(self, route: Route, obj: JSONObject) -> None:
        backends = tuple((b.namespace, b.name) for b in backend_refs(obj))
        pools = route.hostnames if route.key.group_kind == POOL else ()
        self._register(route.key, route, backends, pools, True)

    def _register(
        self,
        key: ObjectKey,
        route: Route,
        backends: tuple[tuple[str, str], ...],
        pool_names: tuple[str, ...],
        parents: bool,
    ) -> None:
        attachment = attach(route, self)
        claims = tuple(claims_of(route, attachment))
        self._routes[key] = Entry(route, attachment, claims, backends, pool_names)
        for claim in claims:
            self.index.add(claim)
        for hit in attachment.hits():
            self._on_listener.setdefault(hit.listener.id, {})[key] = None
        if not parents:
            return
        for parent in route.parents:
            if parent.is_gateway or parent.is_listener_set:
                self._dependents.setdefault((parent.kind, parent.namespace, parent.name), {})[
                    key
                ] = None
        self._in_namespace.setdefault(key.namespace, {})[key] = None
        for slot in backends:
            self._backends.setdefault(slot, {})[key] = None
        for hostname in pool_names:
            self._pools.setdefault((key.namespace, hostname), {})[key] = None

    def _drop_route(self, key: ObjectKey) -> None:
        entry = self._routes.pop(key, None)
        if entry is not None:
            self._unregister(key, entry, parents=True)

    def _unregister(self, key: ObjectKey, entry: Entry, parents: bool) -> None:
        for claim in entry.claims:
            self.index.remove(claim)
        for hit in entry.attachment.hits():
            _drop(self._on_listener, hit.listener.id, key)
        if not parents:
            return
        for parent in entry.route.parents:
            _drop(self._dependents, (parent.kind, parent.namespace, parent.name), key)
        _drop(self._in_namespace, key.namespace, key)
        for slot in entry.backends:
            _drop(self._backends, slot, key)
        for hostname in entry.pool_names:
            _drop(self._pools, (key.namespace, hostname), key)

    def snapshot_claims(self) -> dict[tuple[str, Slot, str], frozenset[Claim]]:
        """Every claim entry, the base's and this overlay's together."""
        own = self.index.snapshot()
        if self.base is None:
            return own
        merged = dict(self.base.snapshot_claims())
        for key, claims in own.items():
            merged[key] = merged.get(key, frozenset()) | claims
        return merged

    def snapshot(self) -> dict[str, Any]:
        """Everything derived, for comparing an index kept current with one built fresh."""
        return {
            "claims": self.index.snapshot(),
            "routes": {k: (e.attachment, e.claims) for k, e in self._routes.items()},
            "on_listener": {k: set(v) for k, v in self._on_listener.items()},
            "backends": {k: set(v) for k, v in self._backends.items()},
            "pools": {k: set(v) for k, v in self._pools.items()},
        }


def claims_of(route: Route, attachment: Attachment) -> list[Claim]:
    """The hostname claims an attachment makes: each effective hostname on each listener the
    route attaches to; its declared hostnames on a parent not in the view (by sectionName,
    and once for "any section"); and every name once more in the cluster-wide slot."""
    if not route.claims_hostnames:
        return []
    found: dict[tuple[Slot, str], Claim] = {}
    cluster: dict[str, Claim] = {}

    def add(slot: Slot, hostname: str, parent: Any) -> None:
        claim = Claim(hostname, slot, route.key, route.holder, route.kind, parent)
        found.setdefault((slot, hostname), claim)
        if hostname != ANY_HOSTNAME:
            cluster.setdefault(hostname, claim._replace(slot=CLUSTER))

    for parent in attachment.parents:
        if parent.reason is Reason.PARENT_NOT_FOUND:
            ref = parent.parent
            for hostname in route.hostnames:
                add(Unresolved(ref.kind, ref.namespace, ref.name, ref.section), hostname, ref)
                add(Unresolved(ref.kind, ref.namespace, ref.name, ALL_SECTIONS), hostname, ref)
            continue
        for hit in parent.hits:
            for hostname in hit.hostnames:
                add(hit.listener.id, hostname, parent.parent)
    return [*found.values(), *cluster.values()]


def _drop(table: dict[Any, dict[Any, None]], slot: Any, key: Any) -> None:
    entries = table.get(slot)
    if entries is not None:
        entries.pop(key, None)
        if not entries:
            del table[slot]
