"""How objects point at the objects they use: backendRefs and other object references.

Read off the Gateway API routes and the operators' own objects (an OpenVox Pool and an
OpenBaoCluster each stand for the route and Service their operator creates), with namespaces
defaulted and the field path of each reference kept for messages. parentRefs, hostnames and
attachment are `policies.gateway.model` and `attachment`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from policies.gateway.model import ROUTE_KINDS, port_of, route_enabled, text_of
from webhook.core.json import JSONObject
from webhook.core.kinds import OPENBAO_CLUSTER, POOL, group_kind_of
from webhook.core.objects import as_list, dig, metadata

# The Service the OpenBao operator makes for a cluster's Gateway route: `<cluster>-public`.
PUBLIC_SUFFIX = "-public"


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
        public = BackendRef("", "Service", own, f"{name}{PUBLIC_SUFFIX}")
        return [public] if route_enabled(obj) else []
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
    if not text_of(name):
        return None
    return BackendRef(
        str(dig(raw, "group") or ""),
        str(dig(raw, "kind") or kind),
        text_of(dig(raw, "namespace")) or namespace,
        name,
        port_of(dig(raw, "port")),
        path,
    )

