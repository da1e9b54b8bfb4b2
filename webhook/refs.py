"""How objects point at each other: parentRefs, backendRefs, owners and hostname claims.

These are read off the Gateway API routes and the operators' own objects (an OpenVox Pool
and an OpenBaoCluster each stand for the route their operator creates). Pure functions;
the cluster view builds its indexes with them and policies ask the same questions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from webhook.kinds import (
    GATEWAY_GROUP,
    GRPCROUTE,
    HTTPROUTE,
    OPENBAO_CLUSTER,
    POOL,
    TLSROUTE,
    GroupKind,
    group_kind_of,
    group_of,
)

JSONObject = Mapping[str, Any]
ROUTE_KINDS = frozenset({TLSROUTE, HTTPROUTE, GRPCROUTE})
CLAIMANT_KINDS = ROUTE_KINDS | {POOL, OPENBAO_CLUSTER}


class ObjectKey(NamedTuple):
    group: str
    kind: str
    namespace: str
    name: str

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


class ParentRef(NamedTuple):
    namespace: str
    name: str
    section: str | None = None
    port: int | None = None


class BackendRef(NamedTuple):
    group: str
    kind: str
    namespace: str
    name: str
    port: int | None = None


class Claim(NamedTuple):
    """An owner's claim of an SNI hostname on a Gateway listener (None: every listener)."""

    hostname: str
    claimant: ObjectKey
    owners: tuple[ObjectKey, ...]  # the claimant first; a tuple is 4x smaller than a set
    parent: ParentRef

    def same_owner(self, other: Claim) -> bool:
        return any(owner in other.owners for owner in self.owners)


def normalize_hostname(hostname: str) -> str:
    """Hostnames compare as DNS names: lower-cased, one trailing dot removed."""
    lowered = hostname.lower()
    return lowered[:-1] if lowered.endswith(".") else lowered


def parent_wildcards(hostname: str) -> list[str]:
    """The wildcards that cover a name: a.b.example.com -> *.b.example.com, *.example.com, *.com.

    A wildcard label matches one or more labels, so `*.example.com` covers `a.b.example.com`.
    """
    labels = hostname.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]


def metadata(obj: JSONObject) -> JSONObject:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def dig(obj: object, *path: str) -> Any:
    """obj[path[0]][path[1]]..., or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def key_of(obj: JSONObject, namespace: str | None = None) -> ObjectKey | None:
    gk = group_kind_of(obj)
    name = metadata(obj).get("name")
    if gk is None or not isinstance(name, str):
        return None
    ns = metadata(obj).get("namespace") or namespace or ""
    return ObjectKey(gk.group, gk.kind, str(ns), name)


def owners_of(obj: JSONObject, key: ObjectKey) -> tuple[ObjectKey, ...]:
    """The object itself, then the objects its ownerReferences name (same namespace)."""
    owners = [key]
    refs = metadata(obj).get("ownerReferences")
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            group = group_of(str(ref.get("apiVersion", "")))
            owner = ObjectKey(group, str(ref.get("kind", "")), key.namespace, ref["name"])
            if owner not in owners:
                owners.append(owner)
    return tuple(owners)


def route_enabled(obj: JSONObject) -> bool:
    """Whether a Pool's route or an OpenBaoCluster's gateway is switched on."""
    gk = group_kind_of(obj)
    if gk == POOL:
        return dig(obj, "spec", "route", "enabled") is True
    if gk == OPENBAO_CLUSTER:
        return dig(obj, "spec", "gateway", "enabled") is True
    return False


def parent_refs(obj: JSONObject) -> list[ParentRef]:
    """The Gateways (and listeners) the object attaches to, namespaces defaulted."""
    gk = group_kind_of(obj)
    namespace = str(metadata(obj).get("namespace") or "")
    if gk == POOL:
        ref = dig(obj, "spec", "route", "gatewayRef")
        name = dig(ref, "name")
        if not route_enabled(obj) or not isinstance(name, str) or not name:
            return []
        return [ParentRef(namespace, name, _str_or_none(dig(ref, "sectionName")))]
    if gk == OPENBAO_CLUSTER:
        gateway = dig(obj, "spec", "gateway")
        name = dig(gateway, "gatewayRef", "name")
        if not route_enabled(obj) or not isinstance(name, str) or not name:
            return []
        ns = _str_or_none(dig(gateway, "gatewayRef", "namespace")) or namespace
        return [ParentRef(ns, name, _str_or_none(dig(gateway, "listenerName")))]
    if gk not in ROUTE_KINDS:
        return []
    refs = []
    for ref in as_list(dig(obj, "spec", "parentRefs")):
        if dig(ref, "group") not in (None, GATEWAY_GROUP) or dig(ref, "kind") not in (
            None,
            "Gateway",
        ):
            continue
        name = dig(ref, "name")
        if isinstance(name, str) and name:
            port = dig(ref, "port")
            refs.append(
                ParentRef(
                    _str_or_none(dig(ref, "namespace")) or namespace,
                    name,
                    _str_or_none(dig(ref, "sectionName")),
                    port if isinstance(port, int) else None,
                )
            )
    return refs


def backend_refs(obj: JSONObject) -> list[BackendRef]:
    """Every backend the object sends traffic to (rules' backendRefs, or the operator's)."""
    gk = group_kind_of(obj)
    namespace = str(metadata(obj).get("namespace") or "")
    name = str(metadata(obj).get("name") or "")
    if gk == POOL:
        return [BackendRef("", "Service", namespace, name)] if route_enabled(obj) else []
    if gk == OPENBAO_CLUSTER:
        if not route_enabled(obj):
            return []
        return [BackendRef("", "Service", namespace, f"{name}-public")]
    refs = []
    for ref in _route_backends(obj) if gk in ROUTE_KINDS else ():
        ref_name = dig(ref, "name")
        if isinstance(ref_name, str) and ref_name:
            port = dig(ref, "port")
            refs.append(
                BackendRef(
                    str(dig(ref, "group") or ""),
                    str(dig(ref, "kind") or "Service"),
                    _str_or_none(dig(ref, "namespace")) or namespace,
                    ref_name,
                    port if isinstance(port, int) else None,
                )
            )
    return refs


def hostnames(obj: JSONObject) -> list[str]:
    """The normalized SNI/Host names the object claims (empty when its route is off)."""
    gk = group_kind_of(obj)
    if gk in (POOL, OPENBAO_CLUSTER):
        path = ("spec", "route", "hostname") if gk == POOL else ("spec", "gateway", "hostname")
        name = dig(obj, *path)
        ok = route_enabled(obj) and isinstance(name, str) and name
        return [normalize_hostname(name)] if ok else []
    if gk in ROUTE_KINDS:
        found = [h for h in as_list(dig(obj, "spec", "hostnames")) if isinstance(h, str) and h]
        return list(dict.fromkeys(normalize_hostname(h) for h in found))
    return []


def claims(obj: JSONObject, key: ObjectKey | None = None) -> Iterator[Claim]:
    """The object's hostname claims, one per hostname and parentRef (`key`: its ObjectKey,
    when the caller has it, so that an index shares one instance)."""
    key = key or key_of(obj)
    if key is None or key.group_kind not in CLAIMANT_KINDS:
        return
    owners = owners_of(obj, key)
    names = hostnames(obj)
    for parent in parent_refs(obj):
        for hostname in names:
            yield Claim(hostname, key, owners, parent)


def _route_backends(obj: JSONObject) -> Iterator[object]:
    for rule in as_list(dig(obj, "spec", "rules")):
        yield from as_list(dig(rule, "backendRefs"))


def as_list(value: object) -> list[Any]:
    """A list field as written, or [] when it is missing or not a list."""
    return value if isinstance(value, list) else []


def dicts(value: object) -> list[dict[str, Any]]:
    """The mapping items of a list field (others, which the schema refuses, left out)."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
