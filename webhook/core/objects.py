"""Object access: what every Kubernetes object has (kind, name, namespace, owners) and safe
reads of fields that may be missing or of the wrong type in untrusted input.

Generic over kinds: no Gateway API or operator semantics here (those live in policies).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind, group_kind_of, group_of


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


def as_list(value: object) -> list[Any]:
    """A list field as written, or [] when it is missing or not a list."""
    return value if isinstance(value, list) else []


def dicts(value: object) -> list[dict[str, Any]]:
    """The mapping items of a list field (others, which the schema refuses, left out)."""
    return [item for item in as_list(value) if isinstance(item, dict)]
