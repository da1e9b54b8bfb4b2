"""The cluster as policies see it: objects by kind, namespace and name, plus indexes.

`ClusterView` is the read-only protocol policies use. `MemoryView` is the in-memory
implementation with one writer (the watch loop, or a loader of files); every lookup on the
admission path is a dictionary lookup, never a scan of every object.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from webhook.kinds import GroupKind, group_kind_of
from webhook.refs import (
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


def slim(obj: JSONObject) -> JSONObject:
    """The object without what no policy reads (managedFields, last-applied, status)."""
    meta = dict(metadata(obj))
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and any(a in annotations for a in DROPPED_ANNOTATIONS):
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
    return {k: v for k, v in obj.items() if k != "status"} | {"metadata": meta}


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
        key = key_of(obj)
        if key is None:
            return
        self.delete(key.group_kind, key.namespace, key.name)
        obj = slim(obj)
        self._objects[key.group_kind][key.namespace][key.name] = obj
        for claim in claims(obj):
            self._claims[claim.hostname].setdefault(key, []).append(claim)
            for wildcard in parent_wildcards(claim.hostname):
                if not claim.hostname.startswith("*."):
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
        for claim in claims(old):
            self._drop(self._claims, claim.hostname, key)
            for wildcard in parent_wildcards(claim.hostname):
                self._drop(self._covered, wildcard, key)
        for parent in parent_refs(old):
            self._drop(self._attached, (parent.namespace, parent.name), key)
        for backend in backend_refs(old):
            self._drop(self._backends, (backend.namespace, backend.name), key)

    def remove(self, obj: JSONObject) -> None:
        key = key_of(obj)
        gk = group_kind_of(obj)
        if key is not None and gk is not None:
            self.delete(gk, key.namespace, key.name)

    @staticmethod
    def _drop(index: dict[Any, dict[ObjectKey, Any]], slot: Any, key: ObjectKey) -> None:
        entries = index.get(slot)
        if entries is not None:
            entries.pop(key, None)
            if not entries:
                del index[slot]
