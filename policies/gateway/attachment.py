"""Which listeners a route attaches to, with which hostnames, and if none, why not.

One answer for every policy, worked out per parentRef as Gateway API defines it:

1. A parentRef outside Gateway API's group is not a listener parent: a core Service is a mesh
   attachment (GEP-1294), a ServiceImport or an implementation's own kind is the
   implementation's business (`Mesh`: not judged). In Gateway API's group, anything but a
   Gateway or a ListenerSet is `InvalidKind`.
2. A Gateway or ListenerSet that is not in the view: `ParentNotFound` (edgeguard's word; it may
   be created later). A ListenerSet attaches only where its Gateway's
   `spec.allowedListeners` admits its namespace (GEP-1713, default `None`); a route on a
   ListenerSet the Gateway does not admit is `NotAllowedByListeners`.
3. `sectionName` and `port` select listeners (ParentReference.sectionName, .port); a route
   that targets a Gateway attaches only to the Gateway's own listeners, never to those of its
   ListenerSets. None selected: `NoMatchingParent`.
4. Each selected listener admits the route when its `allowedRoutes.kinds` (or its protocol's
   kinds) include the route's kind and `allowedRoutes.namespaces` admits the route's namespace
   (`Same` is the listener's own object's namespace; `Selector` is a strict LabelSelector over
   the Namespace's labels). None does: `NotAllowedByListeners`.
5. Among those, the route attaches where its hostnames intersect the listener's
   (`model.intersect`). None does: `NoMatchingListenerHostname`. Otherwise `Accepted`.

Pure: it reads Gateways, ListenerSets and Namespace labels through `Lookup`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from policies.gateway.model import (
    ANY_HOSTNAME,
    HOSTNAME_KINDS,
    Gateway,
    Listener,
    ListenerSet,
    Parent,
    Route,
    intersect,
)
from webhook.core.kinds import GATEWAY_GROUP
from webhook.core.labels import LabelSelector


class Reason(enum.StrEnum):
    """A parentRef's outcome, in Gateway API's words (RouteConditionReason) where it has one."""

    ACCEPTED = "Accepted"
    PARENT_NOT_FOUND = "ParentNotFound"  # not in the view: nothing to judge yet
    MESH = "Mesh"  # a Service (GEP-1294) or another group's parent: no listener involved
    INVALID_KIND = "InvalidKind"
    NO_MATCHING_PARENT = "NoMatchingParent"
    NOT_ALLOWED_BY_LISTENERS = "NotAllowedByListeners"
    NO_MATCHING_LISTENER_HOSTNAME = "NoMatchingListenerHostname"


class Refused(enum.StrEnum):
    """Why one selected listener does not take the route."""

    KIND = "kind"
    NAMESPACE = "namespace"
    HOSTNAME = "hostname"


class Lookup(Protocol):
    """What attachment reads: Gateways, ListenerSets and Namespace labels (None: unknown)."""

    def gateway(self, namespace: str, name: str) -> Gateway | None: ...

    def listener_set(self, namespace: str, name: str) -> ListenerSet | None: ...

    def namespace_labels(self, name: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Hit:
    """The route attaches to `listener` and gets `hostnames` there (ANY_HOSTNAME: all)."""

    listener: Listener
    hostnames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    listener: Listener
    why: tuple[Refused, ...]


@dataclass(frozen=True, slots=True)
class ParentAttachment:
    parent: Parent
    reason: Reason
    gateway: Gateway | None = None  # the Gateway (a ListenerSet's parent Gateway)
    listener_set: ListenerSet | None = None
    selected: tuple[Listener, ...] = ()
    hits: tuple[Hit, ...] = ()
    refusals: tuple[Refusal, ...] = ()

    @property
    def known(self) -> bool:
        """Whether the parent could be judged (found in the view, and a listener parent)."""
        return self.reason not in (Reason.PARENT_NOT_FOUND, Reason.MESH)


@dataclass(frozen=True, slots=True)
class Attachment:
    route: Route
    parents: tuple[ParentAttachment, ...]

    def hits(self) -> Iterator[Hit]:
        for parent in self.parents:
            yield from parent.hits

    def hostnames(self) -> tuple[str, ...]:
        """The names the route is reached by: its effective hostnames on every listener it
        attaches to, and its declared ones where the parent is not in the view yet."""
        found: dict[str, None] = {}
        for parent in self.parents:
            if parent.reason is Reason.PARENT_NOT_FOUND:
                found.update(dict.fromkeys(self.route.hostnames))
            for hit in parent.hits:
                found.update(dict.fromkeys(h for h in hit.hostnames if h != ANY_HOSTNAME))
        return tuple(found)


def attach(route: Route, lookup: Lookup) -> Attachment:
    """Every parentRef of the route with its outcome (see the module's docstring)."""
    return Attachment(
        route, tuple(attach_parent(route, parent, lookup) for parent in route.parents)
    )


def attach_parent(route: Route, parent: Parent, lookup: Lookup) -> ParentAttachment:
    if parent.group != GATEWAY_GROUP:
        return ParentAttachment(parent, Reason.MESH)
    listener_set = None
    if parent.is_gateway:
        gateway = lookup.gateway(parent.namespace, parent.name)
        if gateway is None:
            return ParentAttachment(parent, Reason.PARENT_NOT_FOUND)
        listeners = gateway.listeners
    elif parent.is_listener_set:
        listener_set = lookup.listener_set(parent.namespace, parent.name)
        if listener_set is None:
            return ParentAttachment(parent, Reason.PARENT_NOT_FOUND)
        gateway = lookup.gateway(*listener_set.parent) if listener_set.parent is not None else None
        if gateway is None:
            return ParentAttachment(parent, Reason.PARENT_NOT_FOUND, listener_set=listener_set)
        if not admits_listener_set(gateway, listener_set, lookup):
            return ParentAttachment(parent, Reason.NOT_ALLOWED_BY_LISTENERS, gateway, listener_set)
        listeners = listener_set.listeners
    else:
        return ParentAttachment(parent, Reason.INVALID_KIND)
    selected = tuple(
        listener
        for listener in listeners
        if (parent.section is None or listener.name == parent.section)
        and (parent.port is None or listener.port == parent.port)
    )
    if not selected:
        return ParentAttachment(parent, Reason.NO_MATCHING_PARENT, gateway, listener_set)
    hits: list[Hit] = []
    refusals: list[Refusal] = []
    for listener in selected:
        why: list[Refused] = []
        if route.kind not in listener.kinds:
            why.append(Refused.KIND)
        if not admits_namespace(listener, route.namespace, lookup):
            why.append(Refused.NAMESPACE)
        names: tuple[str, ...] = ()
        if not why:
            names = intersect(listener.hostname, route.hostnames)
            if route.kind not in HOSTNAME_KINDS:
                names = ()  # TCPRoute and UDPRoute match no hostname: they claim none
            elif not names:
                why.append(Refused.HOSTNAME)
        if why:
            refusals.append(Refusal(listener, tuple(why)))
        else:
            hits.append(Hit(listener, names))
    if hits:
        reason = Reason.ACCEPTED
    elif any(r.why == (Refused.HOSTNAME,) for r in refusals):
        reason = Reason.NO_MATCHING_LISTENER_HOSTNAME
    else:
        reason = Reason.NOT_ALLOWED_BY_LISTENERS
    return ParentAttachment(
        parent, reason, gateway, listener_set, selected, tuple(hits), tuple(refusals)
    )


def admits_namespace(listener: Listener, namespace: str, lookup: Lookup) -> bool:
    """AllowedRoutes.namespaces: Same (the listener's own object's namespace), All, or a
    Selector over the Namespace's labels. A Namespace not in the view is given the benefit of
    the doubt (its labels cannot be judged); any other `from` admits nothing."""
    source = listener.namespaces_from
    if source == "All":
        return True
    if source == "Same":
        return namespace == listener.home
    if source == "Selector":
        return _selected(listener.selector, namespace, lookup)
    return False


def admits_listener_set(gateway: Gateway, listener_set: ListenerSet, lookup: Lookup) -> bool:
    """Gateway.spec.allowedListeners.namespaces (GEP-1713): None (the default) admits no
    ListenerSet, Same those in the Gateway's namespace, All any, Selector by labels."""
    source = gateway.listener_sets_from
    if source == "All":
        return True
    if source == "Same":
        return listener_set.namespace == gateway.namespace
    if source == "Selector":
        return _selected(gateway.listener_sets_selector, listener_set.namespace, lookup)
    return False


def _selected(selector: LabelSelector, namespace: str, lookup: Lookup) -> bool:
    labels = lookup.namespace_labels(namespace)
    if labels is None:
        return selector.valid
    return selector.matches(labels)
