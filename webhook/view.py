"""The cluster as policies see it: objects by kind, namespace and name, plus indexes.

`ClusterView` is the read-only protocol policies use. `MemoryView` is the in-memory
implementation with one writer (the watch loop, or a loader of files); every lookup on the
admission path is a dictionary lookup, never a scan of every object.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from webhook.kinds import (
    CM_CERTIFICATE,
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    NAMESPACE,
    OPENBAO_CLUSTER,
    OPENVOX_CERTIFICATE,
    POOL,
    REFERENCEGRANT,
    SERVER,
    SERVICE,
    TLSROUTE,
    GroupKind,
    group_kind_of,
)
from webhook.refs import (
    ROUTE_KINDS,
    Claim,
    ObjectKey,
    backend_refs,
    claims,
    key_of,
    metadata,
    normalize_hostname,
    parent_refs,
    parent_wildcards,
)

JSONObject = Mapping[str, Any]
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class ClusterView(Protocol):
    """Read-only access to the cluster's current objects."""

    @property
    def synced(self) -> bool: ...

    def get(self, kind: GroupKind, namespace: str | None, name: str) -> JSONObject | None: ...

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[JSONObject]: ...

    def claims(self, hostname: str) -> Sequence[Claim]: ...

    def covered(self, wildcard: str) -> Sequence[Claim]: ...

    def attached(self, namespace: str, gateway: str) -> Sequence[JSONObject]: ...

    def backend_users(self, namespace: str, service: str) -> Sequence[JSONObject]: ...


# The metadata policies read; the rest (uid, resourceVersion, managedFields, timestamps) is
# dropped from cached objects, as are status and the last-applied annotation.
KEPT_METADATA = frozenset(
    {"name", "namespace", "generateName", "labels", "annotations", "deletionTimestamp"}
)
OWNER_FIELDS = ("apiVersion", "kind", "name", "controller")
# Spec fields the policies read from cached objects, by kind; routes keep only their rules'
# backendRefs. A kind not listed keeps its whole spec. The case suites run every policy on
# objects cached this way, so a field a policy needs and this drops fails a case.
KEPT_SPEC: dict[GroupKind, tuple[str, ...]] = {
    GATEWAY: ("listeners", "tls"),
    TLSROUTE: ("parentRefs", "hostnames", "rules"),
    HTTPROUTE: ("parentRefs", "hostnames", "rules"),
    GRPCROUTE: ("parentRefs", "hostnames", "rules"),
    REFERENCEGRANT: ("from", "to"),
    POOL: ("route",),
    SERVER: ("poolRefs", "certificateRef"),
    OPENVOX_CERTIFICATE: ("dnsAltNames",),
    OPENBAO_CLUSTER: ("gateway", "tls"),
    CM_CERTIFICATE: ("dnsNames", "secretName"),
    SERVICE: (),
    NAMESPACE: (),
}
MAX_INTERN_DEPTH = 64
SHORT = 64  # strings up to this length are interned: kinds, names, hostnames, label values


def slim(obj: JSONObject) -> JSONObject:
    """The object as the view keeps it: only what policies read, with keys and short strings
    interned so that thousands of cached objects share them (memory per object)."""
    meta = metadata(obj)
    kept: dict[str, Any] = {k: v for k, v in meta.items() if k in KEPT_METADATA and v}
    annotations = kept.get("annotations")
    if isinstance(annotations, dict) and any(a in annotations for a in DROPPED_ANNOTATIONS):
        annotations = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
        if annotations:
            kept["annotations"] = annotations
        else:
            del kept["annotations"]
    owners = meta.get("ownerReferences")
    if isinstance(owners, list) and owners:
        kept["ownerReferences"] = [
            {k: ref[k] for k in OWNER_FIELDS if k in ref} for ref in owners if isinstance(ref, dict)
        ]
    body = {k: v for k, v in obj.items() if k not in ("status", "metadata", "spec")}
    spec = obj.get("spec")
    if isinstance(spec, dict):
        body["spec"] = _kept_spec(group_kind_of(obj), spec)
    interned: JSONObject = _interned({**body, "metadata": kept}, 0)
    return interned


def _kept_spec(kind: GroupKind | None, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec fields policies read of a cached object of this kind (all, for other kinds)."""
    fields = KEPT_SPEC.get(kind) if kind is not None else None
    if fields is None:
        return dict(spec)
    kept = {k: spec[k] for k in fields if k in spec}
    rules = kept.get("rules")
    if kind in ROUTE_KINDS and isinstance(rules, list):
        kept["rules"] = [
            {"backendRefs": rule["backendRefs"]}
            for rule in rules
            if isinstance(rule, dict) and "backendRefs" in rule
        ]
    return kept


def _interned(value: Any, depth: int) -> Any:
    if depth > MAX_INTERN_DEPTH:  # no real object nests this deep; keep hostile ones as sent
        return value
    if isinstance(value, dict):
        return {sys.intern(str(k)): _interned(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v, depth + 1) for v in value]
    if isinstance(value, str) and len(value) <= SHORT:
        return sys.intern(value)
    return value


class MemoryView:
    """An indexed, in-memory ClusterView. Only its owner calls `upsert` and `delete`."""

    def __init__(self, objects: Iterable[JSONObject] = (), synced: bool = True) -> None:
        self._objects: dict[GroupKind, dict[str, dict[str, JSONObject]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self._claims: dict[str, dict[ObjectKey, list[Claim]]] = defaultdict(dict)
        self._covered: dict[str, dict[ObjectKey, list[Claim]]] = defaultdict(dict)
        self._attached: dict[tuple[str, str], dict[ObjectKey, JSONObject]] = defaultdict(dict)
        self._backends: dict[tuple[str, str], dict[ObjectKey, JSONObject]] = defaultdict(dict)
        self._synced = synced
        for obj in objects:
            self.upsert(obj)

    @property
    def synced(self) -> bool:
        return self._synced

    def mark_synced(self, synced: bool = True) -> None:
        self._synced = synced

    def __len__(self) -> int:
        return sum(len(names) for kinds in self._objects.values() for names in kinds.values())

    def get(self, kind: GroupKind, namespace: str | None, name: str) -> JSONObject | None:
        namespaces = self._objects.get(kind)
        names = namespaces.get(namespace or "") if namespaces else None
        return names.get(name) if names else None

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[JSONObject]:
        namespaces = self._objects.get(kind)
        if not namespaces:
            return []
        if namespace is not None:
            return list(namespaces.get(namespace, {}).values())
        return [obj for names in namespaces.values() for obj in names.values()]

    def claims(self, hostname: str) -> Sequence[Claim]:
        found = self._claims.get(normalize_hostname(hostname))
        return [claim for group in found.values() for claim in group] if found else []

    def covered(self, wildcard: str) -> Sequence[Claim]:
        """Claims of the names a wildcard covers (`*.example.com`: `a.example.com`, ...)."""
        found = self._covered.get(normalize_hostname(wildcard))
        return [claim for group in found.values() for claim in group] if found else []

    def attached(self, namespace: str, gateway: str) -> Sequence[JSONObject]:
        return list(self._attached.get((namespace, gateway), {}).values())

    def backend_users(self, namespace: str, service: str) -> Sequence[JSONObject]:
        return list(self._backends.get((namespace, service), {}).values())

    def upsert(self, obj: JSONObject) -> None:
        obj = slim(obj)  # first, so the index keys share the interned strings
        key = key_of(obj)
        if key is None:
            return
        self.delete(key.group_kind, key.namespace, key.name)
        self._objects[key.group_kind][key.namespace][key.name] = obj
        for claim in claims(obj, key):
            self._claims[claim.hostname].setdefault(key, []).append(claim)
            if not claim.hostname.startswith("*."):
                for wildcard in parent_wildcards(claim.hostname):
                    self._covered[wildcard].setdefault(key, []).append(claim)
        for parent in parent_refs(obj):
            self._attached[(parent.namespace, parent.name)][key] = obj
        for backend in backend_refs(obj):
            self._backends[(backend.namespace, backend.name)][key] = obj

    def delete(self, kind: GroupKind, namespace: str | None, name: str) -> None:
        names = self._objects.get(kind, {}).get(namespace or "")
        old = names.pop(name, None) if names is not None else None
        if old is None:
            return
        key = ObjectKey(kind.group, kind.kind, namespace or "", name)
        for claim in claims(old, key):
            self._drop(self._claims, claim.hostname, key)
            for wildcard in parent_wildcards(claim.hostname):
                self._drop(self._covered, wildcard, key)
        for parent in parent_refs(old):
            self._drop(self._attached, (parent.namespace, parent.name), key)
        for backend in backend_refs(old):
            self._drop(self._backends, (backend.namespace, backend.name), key)

    @staticmethod
    def _drop(index: dict[Any, dict[ObjectKey, Any]], slot: Any, key: ObjectKey) -> None:
        entries = index.get(slot)
        if entries is not None:
            entries.pop(key, None)
            if not entries:
                del index[slot]
