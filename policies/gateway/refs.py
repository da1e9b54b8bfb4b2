"""How objects point at each other: parentRefs, backendRefs and hostname claims.

The one parser of each. They are read off the Gateway API routes and the operators' own
objects (an OpenVox Pool and an OpenBaoCluster each stand for the route their operator
creates), with namespaces defaulted and the field path of each reference kept for messages.
Pure functions; the cluster view's indexes and the policies ask the same questions here.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    TLSROUTE,
    group_kind_of,
)
from webhook.core.objects import ObjectKey, as_list, dig, key_of, metadata, owners_of

ROUTE_KINDS = frozenset({TLSROUTE, HTTPROUTE, GRPCROUTE})
CLAIMANT_KINDS = ROUTE_KINDS | {POOL, OPENBAO_CLUSTER}


@dataclass(frozen=True, slots=True)
class ParentRef:
    """A Gateway (and listener) an object attaches to; `path` is where it is written, and is
    not part of its identity (two refs to one listener are the same attachment)."""

    namespace: str
    name: str
    section: str | None = None
    port: int | None = None
    path: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class BackendRef:
    """A typed reference to another object: a backendRef, a request mirror's backendRef, or a
    Gateway's certificate reference (Gateway API's object references share this shape)."""

    group: str
    kind: str
    namespace: str
    name: str
    port: int | None = None
    path: str = field(default="", compare=False)


class Claim(NamedTuple):
    """An owner's claim of an SNI hostname on a Gateway listener (None: every listener)."""

    hostname: str
    claimant: ObjectKey
    owners: tuple[ObjectKey, ...]  # the claimant first; a tuple is 4x smaller than a set
    parent: ParentRef

    def same_owner(self, other: Claim) -> bool:
        return any(owner in other.owners for owner in self.owners)


def route_enabled(obj: JSONObject) -> bool:
    """Whether a Pool's route or an OpenBaoCluster's gateway is switched on."""
    gk = group_kind_of(obj)
    if gk == POOL:
        return dig(obj, "spec", "route", "enabled") is True
    if gk == OPENBAO_CLUSTER:
        return dig(obj, "spec", "gateway", "enabled") is True
    return False


def parent_refs(obj: JSONObject, namespace: str | None = None) -> list[ParentRef]:
    """The Gateways (and listeners) the object attaches to, namespaces defaulted to the
    object's (or `namespace` when it has none).

    A route's parentRef names a Gateway when its group and kind are unset or Gateway's; an
    explicit `null` is unset too (CRD defaulting prunes nulls before it defaults).
    """
    gk = group_kind_of(obj)
    own = str(metadata(obj).get("namespace") or namespace or "")
    if gk == POOL:
        ref = dig(obj, "spec", "route", "gatewayRef")
        name = dig(ref, "name")
        if not route_enabled(obj) or not _text(name):
            return []
        path = "spec.route.gatewayRef"
        return [ParentRef(own, name, _text(dig(ref, "sectionName")), path=path)]
    if gk == OPENBAO_CLUSTER:
        gateway = dig(obj, "spec", "gateway")
        name = dig(gateway, "gatewayRef", "name")
        if not route_enabled(obj) or not _text(name):
            return []
        ns = _text(dig(gateway, "gatewayRef", "namespace")) or own
        path = "spec.gateway.gatewayRef"
        return [ParentRef(ns, name, _text(dig(gateway, "listenerName")), path=path)]
    if gk not in ROUTE_KINDS:
        return []
    refs = []
    for i, ref in enumerate(as_list(dig(obj, "spec", "parentRefs"))):
        if dig(ref, "group") not in (None, GATEWAY_GROUP) or dig(ref, "kind") not in (
            None,
            "Gateway",
        ):
            continue
        name = dig(ref, "name")
        if _text(name):
            refs.append(
                ParentRef(
                    _text(dig(ref, "namespace")) or own,
                    name,
                    _text(dig(ref, "sectionName")),
                    _port(dig(ref, "port")),
                    f"spec.parentRefs[{i}]",
                )
            )
    return refs


def backend_refs(
    obj: JSONObject, namespace: str | None = None, *, mirrors: bool = False
) -> list[BackendRef]:
    """Every backend the object sends traffic to: a route's rules' backendRefs (and, with
    `mirrors`, the backends its RequestMirror filters copy requests to), or the Service its
    operator creates for a Pool or an OpenBaoCluster."""
    gk = group_kind_of(obj)
    own = str(metadata(obj).get("namespace") or namespace or "")
    name = str(metadata(obj).get("name") or "")
    if gk == POOL:
        return [BackendRef("", "Service", own, name)] if route_enabled(obj) else []
    if gk == OPENBAO_CLUSTER:
        return [BackendRef("", "Service", own, f"{name}-public")] if route_enabled(obj) else []
    if gk not in ROUTE_KINDS:
        return []
    return [ref for ref in _route_backends(obj, own, mirrors) if ref is not None]


def _route_backends(obj: JSONObject, namespace: str, mirrors: bool) -> Iterator[BackendRef | None]:
    for i, rule in enumerate(as_list(dig(obj, "spec", "rules"))):
        base = f"spec.rules[{i}]"
        for j, backend in enumerate(as_list(dig(rule, "backendRefs"))):
            path = f"{base}.backendRefs[{j}]"
            yield object_ref(backend, path, namespace, "Service")
            if mirrors:
                yield from _mirrors(path, backend, namespace)
        if mirrors:
            yield from _mirrors(base, rule, namespace)


def _mirrors(base: str, holder: object, namespace: str) -> Iterator[BackendRef | None]:
    for k, item in enumerate(as_list(dig(holder, "filters"))):
        path = f"{base}.filters[{k}].requestMirror.backendRef"
        yield object_ref(dig(item, "requestMirror", "backendRef"), path, namespace, "Service")


def object_ref(raw: object, path: str, namespace: str, kind: str) -> BackendRef | None:
    """The reference written at `path` (group default "", the given default kind, namespace
    defaulted), or None when it names nothing."""
    name = dig(raw, "name")
    if not _text(name):
        return None
    return BackendRef(
        str(dig(raw, "group") or ""),
        str(dig(raw, "kind") or kind),
        _text(dig(raw, "namespace")) or namespace,
        name,
        _port(dig(raw, "port")),
        path,
    )


def hostnames(obj: JSONObject) -> list[str]:
    """The normalized SNI/Host names the object claims (empty when its route is off)."""
    gk = group_kind_of(obj)
    if gk in (POOL, OPENBAO_CLUSTER):
        path = ("spec", "route", "hostname") if gk == POOL else ("spec", "gateway", "hostname")
        name = dig(obj, *path)
        ok = route_enabled(obj) and isinstance(name, str) and name
        return [names.normalize(name)] if ok else []
    if gk in ROUTE_KINDS:
        found = [h for h in as_list(dig(obj, "spec", "hostnames")) if isinstance(h, str) and h]
        return list(dict.fromkeys(names.normalize(h) for h in found))
    return []


def claims(obj: JSONObject, key: ObjectKey | None = None) -> Iterator[Claim]:
    """The object's hostname claims, one per hostname and parentRef (`key`: its ObjectKey,
    when the caller has it, so that an index shares one instance)."""
    key = key or key_of(obj)
    if key is None or key.group_kind not in CLAIMANT_KINDS:
        return
    owners = owners_of(obj, key)
    found = hostnames(obj)
    for parent in parent_refs(obj):
        for hostname in found:
            yield Claim(hostname, key, owners, parent)


def _text(value: object) -> str | None:
    """A non-empty string field, or None (missing, empty, or not a string)."""
    return value if isinstance(value, str) and value else None


def _port(value: object) -> int | None:
    return value if isinstance(value, int) else None
