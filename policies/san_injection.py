"""sni-san-injection: put the SNI hostnames a workload is reached by into its certificate's SANs.

Mutates OpenVox Certificates (spec.dnsAltNames) and annotated cert-manager Certificates
(spec.dnsNames), and warns about Pools whose Certificate lacks their hostname. It removes only
names it injected itself (listed in the bookkeeping annotation), never a name a person wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.gateway.grants import grant_permits
from policies.gateway.model import Route, route_enabled
from policies.gateway.refs import backend_refs
from policies.gateway.request import topology
from policies.gateway.topology import with_topology
from webhook.core import hostnames
from webhook.core.decision import Decision, PatchOp, allowed, patched
from webhook.core.hostnames import normalize
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    CM_CERTIFICATE,
    OPENBAO_CLUSTER,
    OPENVOX_CERTIFICATE,
    POOL,
    REFERENCEGRANT,
    SERVER,
    SERVICE,
    TLSROUTE,
    group_kind_of,
)
from webhook.core.objects import ObjectKey, dig, key_of, metadata
from webhook.core.policy import Need, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

INJECTED = "edgeguard.io/injected-dns-names"
SNI_FROM_SERVICE = "edgeguard.io/sni-from-service"
Wanted = dict[str, str]  # hostname -> why it belongs in the certificate


def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
    obj = review.object
    if obj is None:
        return allowed()
    namespace = review.namespace or str(metadata(obj).get("namespace") or "")
    name = review.name or str(metadata(obj).get("name") or "")
    if review.group_kind == POOL:
        return _pool_warnings(obj, namespace, view)
    if review.group_kind == OPENVOX_CERTIFICATE:
        wanted, notes = _openvox_wanted(namespace, name, view)
        gone = "no Pool with injectDNSAltName: true joined by a Server using this Certificate"
        return _mutate(obj, "dnsAltNames", wanted, notes, gone + " has it any more")
    return _cert_manager(obj, namespace, view)


# --- OpenVox: Pool -> Server (spec.poolRefs, spec.certificateRef) -> Certificate -------------


def _injectable(pool: JSONObject, notes: list[str] | None = None) -> str | None:
    """The Pool's hostname when it asks for injection and may be a dnsAltName."""
    route = dig(pool, "spec", "route")
    if not route_enabled(pool) or dig(route, "injectDNSAltName") is not True:
        return None
    hostname = dig(route, "hostname")
    if not isinstance(hostname, str) or not hostname:
        return None
    problem = hostnames.problem(hostname)
    if problem is None and hostnames.is_wildcard(hostname):
        problem = "is a wildcard, which the operator's Certificate webhook refuses as a dnsAltName"
    if problem is None:
        return hostname
    if notes is not None:
        notes.append(
            f"{_ref(pool)} has spec.route.injectDNSAltName: true but its spec.route.hostname "
            f'"{hostname}" {problem}: it is not added to spec.dnsAltNames; give the Pool a '
            f"valid, non-wildcard hostname or set injectDNSAltName: false"
        )
    return None


def _servers(namespace: str, view: ClusterView) -> list[JSONObject]:
    found = view.list(SERVER, namespace)
    return sorted(found, key=lambda s: str(metadata(s).get("name") or ""))


def _openvox_wanted(namespace: str, cert: str, view: ClusterView) -> tuple[Wanted, list[str]]:
    wanted: Wanted = {}
    notes: list[str] = []
    for server in _servers(namespace, view):
        if dig(server, "spec", "certificateRef") != cert:
            continue
        for pool_name in _strings(dig(server, "spec", "poolRefs")) or []:
            pool = view.get(POOL, namespace, pool_name)
            hostname = _injectable(pool, notes) if pool is not None else None
            if hostname is not None and hostname not in wanted:
                wanted[hostname] = (
                    f"{_ref(pool or {})} (spec.route.hostname) is joined by {_ref(server)} "
                    f"(spec.poolRefs), which uses this Certificate (spec.certificateRef)"
                )
    return wanted, sorted(set(notes))


def _pool_warnings(pool: JSONObject, namespace: str, view: ClusterView) -> Decision:
    hostname = _injectable(pool)
    name = metadata(pool).get("name")
    if hostname is None:
        return allowed()
    users: dict[str, list[str]] = {}
    for server in _servers(namespace, view):
        cert = dig(server, "spec", "certificateRef")
        if isinstance(cert, str) and name in (_strings(dig(server, "spec", "poolRefs")) or []):
            users.setdefault(cert, []).append(_ref(server))
    warnings = []
    for cert, servers in sorted(users.items()):
        found = view.get(OPENVOX_CERTIFICATE, namespace, cert)
        names = (_strings(dig(found, "spec", "dnsAltNames")) or []) if found else None
        if names is None or hostname in {normalize(n) for n in names}:
            continue
        target = _named("Certificate", namespace, cert)
        warnings.append(
            f"{target} (spec.certificateRef of {', '.join(servers)}) "
            f'lacks spec.route.hostname "{hostname}" in spec.dnsAltNames: edgeguard adds it at '
            f"the Certificate's next update; update the Certificate (any change) to add it now"
        )
    return allowed(*warnings)


# --- cert-manager: Certificate annotated with the Service its SNI names come from -----------


def _cert_manager(obj: JSONObject, namespace: str, view: ClusterView) -> Decision:
    annotations = _annotations(obj)
    service = annotations.get(SNI_FROM_SERVICE)
    if service is None and INJECTED not in annotations:
        return allowed()
    name = service.strip() if isinstance(service, str) else ""
    wanted, notes = _service_wanted(namespace, name, view)
    if service is not None and not name:
        notes.append(
            f"annotation metadata.annotations.{SNI_FROM_SERVICE} is empty: set it to the name "
            f"of the Service (in namespace {namespace}) whose TLSRoute hostnames belong in "
            f"spec.dnsNames, or remove it"
        )
    target = _named("Service", namespace, name)
    gone = (
        f"no TLSRoute or passthrough OpenBaoCluster sends it to {target} any more"
        if name
        else f"annotation {SNI_FROM_SERVICE} no longer names a Service"
    )
    return _mutate(obj, "dnsNames", wanted, notes, gone)


def _service_wanted(namespace: str, service: str, view: ClusterView) -> tuple[Wanted, list[str]]:
    wanted: Wanted = {}
    notes: list[str] = []
    topo = topology(view)
    keys = topo.backend_users(namespace, service) if service else {}
    found = (view.get(key.group_kind, key.namespace, key.name) for key in keys)
    for user in sorted((user for user in found if user is not None), key=_ref):
        if not any(
            (b.group, b.kind, b.namespace, b.name) == ("", "Service", namespace, service)
            for b in backend_refs(user)
        ):
            continue
        reason = _reason(user, namespace, service, view, notes)
        route = Route.parse(user) if reason else None
        entry = topo.entry(route.key) if route is not None else None
        attachment = entry.attachment if entry else (topo.attach(route) if route else None)
        for hostname in attachment.hostnames() if attachment is not None else ():
            if hostnames.is_valid(hostname):
                wanted.setdefault(hostname, reason)
    return wanted, notes


def _reason(
    user: JSONObject, namespace: str, service: str, view: ClusterView, notes: list[str]
) -> str:
    """Why the user's hostnames reach the Service ("" when they do not count)."""
    gk = group_kind_of(user)
    if gk == OPENBAO_CLUSTER:
        if dig(user, "spec", "gateway", "tlsPassthrough") is not True:
            return ""
        return f"{_ref(user)} (spec.gateway.hostname, tlsPassthrough: true) serves it"
    if gk != TLSROUTE:
        return ""
    route_ns = str(metadata(user).get("namespace") or "")
    target = _named("Service", namespace, service)
    if route_ns != namespace and not _granted(view, namespace, service, route_ns):
        notes.append(
            f"{_ref(user)} sends its hostnames to {target} (named by "
            f"metadata.annotations.{SNI_FROM_SERVICE}) from another namespace, but no "
            f"ReferenceGrant in namespace {namespace} allows it (RefNotPermitted): its hostnames "
            f"are not added to spec.dnsNames; create a ReferenceGrant in namespace {namespace} "
            f"from TLSRoute in namespace {route_ns} to Service {service}"
        )
        return ""
    return f"{_ref(user)} (spec.hostnames) sends it to {target}"


def _granted(view: ClusterView, namespace: str, service: str, from_ns: str) -> bool:
    """Whether a ReferenceGrant in `namespace` lets TLSRoutes of `from_ns` use the Service."""
    return any(
        grant_permits(grant, TLSROUTE, from_ns, SERVICE, service)
        for grant in view.list(REFERENCEGRANT, namespace)
    )


# --- the patch: bookkeeping, removals of stale injected names, sorted additions -------------


def _mutate(obj: JSONObject, field: str, wanted: Wanted, notes: list[str], gone: str) -> Decision:
    found = dig(obj, "spec", field)
    current: list[Any] | None = found if isinstance(found, list) else None
    present = {normalize(n) for n in current or [] if isinstance(n, str)}
    injected = _parse(_annotations(obj).get(INJECTED))
    added = sorted(h for h in wanted if h not in present)
    stale = injected - wanted.keys()
    drop = [i for i, n in enumerate(current or []) if isinstance(n, str) and n in stale]
    record = sorted((injected & wanted.keys()) | set(added))
    ops = _list_ops(obj, field, current, drop, added) + _annotation_ops(obj, record)
    if not ops:
        return allowed(*notes)
    info = [
        f'added "{h}" to spec.{field}: {wanted[h]}; recorded in annotation {INJECTED}'
        for h in added
    ] + [
        f'removed "{(current or [])[i]}" from spec.{field}[{i}]: edgeguard injected it and '
        f"{gone}; to keep it, add it back and leave it out of annotation {INJECTED}"
        for i in drop
    ]
    return patched(ops, *info, *notes)


def _list_ops(
    obj: JSONObject, field: str, current: list[Any] | None, drop: list[int], added: list[str]
) -> list[PatchOp]:
    if current is None:
        if not added:
            return []
        if not isinstance(obj.get("spec"), dict):
            return [{"op": "add", "path": "/spec", "value": {field: added}}]
        return [{"op": "add", "path": f"/spec/{field}", "value": added}]
    # Highest index first, so that each removal leaves the earlier indexes valid.
    ops: list[PatchOp] = [
        {"op": "remove", "path": f"/spec/{field}/{i}"} for i in sorted(drop, reverse=True)
    ]
    return ops + [{"op": "add", "path": f"/spec/{field}/-", "value": h} for h in added]


def _annotation_ops(obj: JSONObject, record: list[str]) -> list[PatchOp]:
    value = ",".join(record)
    annotations = metadata(obj).get("annotations")
    path = f"/metadata/annotations/{_escape(INJECTED)}"
    if not isinstance(annotations, dict):
        if not record:
            return []
        if not isinstance(obj.get("metadata"), dict):
            return [{"op": "add", "path": "/metadata", "value": {"annotations": {INJECTED: value}}}]
        return [{"op": "add", "path": "/metadata/annotations", "value": {INJECTED: value}}]
    if INJECTED not in annotations:
        return [{"op": "add", "path": path, "value": value}] if record else []
    if not record:
        return [{"op": "remove", "path": path}]
    if annotations[INJECTED] == value:
        return []
    return [{"op": "replace", "path": path, "value": value}]


def _escape(key: str) -> str:
    """A JSON-pointer token (RFC 6901): `~` becomes `~0`, `/` becomes `~1`."""
    return key.replace("~", "~0").replace("/", "~1")


def _parse(value: object) -> set[str]:
    if not isinstance(value, str):
        return set()
    return {normalize(n.strip()) for n in value.split(",") if n.strip()}


def _annotations(obj: JSONObject) -> Mapping[str, Any]:
    found = metadata(obj).get("annotations")
    return found if isinstance(found, dict) else {}


def _strings(value: object) -> list[str] | None:
    """A list of strings as written (non-strings kept out), or None when it is not a list."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else None


def _ref(obj: JSONObject) -> str:
    return str(key_of(obj) or "?")


def _named(kind: str, namespace: str, name: str) -> str:
    """`Kind ns/name`, or `Kind name` for an object filed under no namespace."""
    return str(ObjectKey("", kind, namespace, name))


def needs(review: Review, view: ClusterView) -> list[Need]:
    """An OpenVox Certificate no Server in the view uses: the namespace's Servers are read
    through (a Server created moments ago, not yet in the watch)."""
    obj = review.object
    if review.group_kind != OPENVOX_CERTIFICATE or obj is None:
        return []
    namespace = review.namespace or str(metadata(obj).get("namespace") or "")
    name = review.name or str(metadata(obj).get("name") or "")
    users = [s for s in view.list(SERVER, namespace) if dig(s, "spec", "certificateRef") == name]
    return [] if users else [(SERVER, namespace, None)]


POLICY = Policy(
    "sni-san-injection",
    frozenset({OPENVOX_CERTIFICATE, CM_CERTIFICATE, POOL}),
    check,
    mutating=True,
    operations=frozenset({"CREATE", "UPDATE"}),
    referential=True,
    needs=needs,
    # Pool -> Server -> Certificate; the routes and OpenBaoClusters sending to a Service
    # (the backend index) and their hostnames; ReferenceGrants.
    reads=with_topology(
        {
            SERVER: ("certificateRef", "poolRefs"),
            OPENVOX_CERTIFICATE: ("dnsAltNames",),
            CM_CERTIFICATE: ("dnsNames", "secretName"),
            REFERENCEGRANT: ("from", "to"),
        }
    ),
    description="Adds the SNI hostnames routed to a workload to its certificate's SAN list.",
)
