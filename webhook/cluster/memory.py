"""The in-memory cluster view: objects by kind, namespace and name, plus indexes.

`MemoryView` implements `ClusterView` with one writer (the watch loop, or a loader of files);
every lookup on the admission path is a dictionary lookup, never a scan of every object. What
it derives and which spec fields it keeps are given by the wiring (`Deriving`, `KeptFields`).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind, group_kind_of
from webhook.core.objects import ObjectKey, key_of, metadata
from webhook.core.view import Derived, DerivedT, Deriving, KeptFields

DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
# The metadata policies read; the rest (uid, resourceVersion, managedFields, timestamps) is
# dropped from cached objects, as are the last-applied annotation and the status fields no
# policy reads (`KeptFields.status`: a GatewayClass's conditions and supportedFeatures, say).
KEPT_METADATA = frozenset(
    {"name", "namespace", "generateName", "labels", "annotations", "deletionTimestamp"}
)
OWNER_FIELDS = ("apiVersion", "kind", "name", "controller")
MAX_INTERN_DEPTH = 64
SHORT = 64  # strings up to this length are interned: kinds, names, hostnames, label values


def slim(obj: JSONObject, kept: KeptFields) -> JSONObject:
    """The object as the view keeps it: only what policies read, with keys and short strings
    interned so that thousands of cached objects share them (memory per object)."""
    meta = metadata(obj)
    meta_kept: dict[str, Any] = {k: v for k, v in meta.items() if k in KEPT_METADATA and v}
    annotations = meta_kept.get("annotations")
    if isinstance(annotations, dict) and any(a in annotations for a in DROPPED_ANNOTATIONS):
        annotations = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
        if annotations:
            meta_kept["annotations"] = annotations
        else:
            del meta_kept["annotations"]
    owners = meta.get("ownerReferences")
    if isinstance(owners, list) and owners:
        meta_kept["ownerReferences"] = [
            {k: ref[k] for k in OWNER_FIELDS if k in ref} for ref in owners if isinstance(ref, dict)
        ]
    body = {k: v for k, v in obj.items() if k not in ("status", "metadata", "spec")}
    kind = group_kind_of(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        fields = kept.spec.get(kind) if kind is not None else None
        body["spec"] = dict(spec) if fields is None else _kept(fields, spec)
    status = obj.get("status")
    wanted = kept.status.get(kind) if kind is not None else None
    if wanted and isinstance(status, dict):
        body["status"] = _kept(wanted, status)
    interned: JSONObject = _interned({**body, "metadata": meta_kept}, 0)
    return interned


def _kept(fields: tuple[str, ...], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields policies read of a cached object's spec (or status).

    `a.b` keeps only `b` of each item of the list `a` (items without it are dropped)."""
    whole = {f for f in fields if "." not in f}
    out = {k: spec[k] for k in whole if k in spec}
    parts: dict[str, list[str]] = {}
    for head, _, sub in (f.partition(".") for f in fields if "." in f):
        if head not in whole:
            parts.setdefault(head, []).append(sub)
    for head, subs in parts.items():
        if head in spec:
            out[head] = _projected(spec[head], subs)
    return out


def _projected(value: Any, subs: list[str]) -> Any:
    if not isinstance(value, list):
        return value
    return [
        {sub: item[sub] for sub in subs if sub in item}
        for item in value
        if isinstance(item, dict) and any(sub in item for sub in subs)
    ]


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
    """An indexed, in-memory ClusterView. Only its owner calls `upsert` and `delete`.

    `derive` makes the derived indexes it keeps current (each told of every write); with
    `base`, each is made over the base view's instance of it (an overlay: pending objects).
    """

    def __init__(
        self,
        objects: Iterable[JSONObject] = (),
        synced: bool = True,
        *,
        derive: Sequence[Deriving],
        kept: KeptFields,
        base: MemoryView | None = None,
    ) -> None:
        self.derive, self.kept = tuple(derive), kept
        self._objects: dict[GroupKind, dict[str, dict[str, JSONObject]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        bases: Sequence[Derived | None] = (
            base._indexes if base is not None else [None] * len(self.derive)
        )
        self._indexes: list[Derived] = [make(b) for make, b in zip(self.derive, bases, strict=True)]
        self._by_type: dict[type, Derived] = {type(index): index for index in self._indexes}
        self._synced = synced
        self._stale: frozenset[GroupKind] = frozenset()
        for obj in objects:
            self.upsert(obj)

    @property
    def synced(self) -> bool:
        return self._synced

    def mark_synced(self, synced: bool = True) -> None:
        self._synced = synced

    def stale_kinds(self) -> frozenset[GroupKind]:
        return self._stale

    def mark_stale(self, kinds: frozenset[GroupKind]) -> None:
        """The writer says which kinds it has lost contact with (none: all fresh)."""
        self._stale = kinds

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

    def derived(self, kind: type[DerivedT]) -> DerivedT:
        found = self._by_type.get(kind)
        if found is None:
            raise LookupError(f"the view keeps no {kind.__name__} index (see its `derive`)")
        return cast(DerivedT, found)

    def reserves(self, obj: JSONObject, key: ObjectKey) -> bool:
        """Whether any derived index says the object makes a claim others must not take."""
        return any(index.reserves(obj, key) for index in self._indexes)

    def upsert(self, obj: JSONObject) -> None:
        obj = slim(obj, self.kept)  # first, so the index keys share the interned strings
        key = key_of(obj)
        if key is None:
            return
        names = self._objects[key.group_kind][key.namespace]
        names[key.name] = obj
        for index in self._indexes:
            index.upsert(obj, key)

    def delete(self, kind: GroupKind, namespace: str | None, name: str) -> None:
        names = self._objects.get(kind, {}).get(namespace or "")
        old = names.pop(name, None) if names is not None else None
        if old is None:
            return
        key = ObjectKey(kind.group, kind.kind, namespace or "", name)
        for index in self._indexes:
            index.delete(key)
