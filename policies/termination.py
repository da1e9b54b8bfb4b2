"""tls-passthrough's rules for the termination path: where the Gateway terminates TLS in front
of OpenBao, the hop from the Gateway to OpenBao must stay encrypted.

The OpenBao operator's Gateway guide: "be explicit about backend trust and do not assume
termination alone preserves the same trust model". Without `spec.gateway.tlsPassthrough:
true` the operator creates an HTTPRoute to the Service `<cluster>-public` and, with
`spec.gateway.backendTLS.enabled` (default true) and TLS on, a BackendTLSPolicy
`<cluster>-backend-tls-policy` that makes the Gateway speak TLS to it. Turning backendTLS off
while OpenBao serves TLS sends plain HTTP to OpenBao's TLS port: refused, unless a
BackendTLSPolicy (the user's own, "external configuration") already targets that Service. A
user's HTTPRoute or GRPCRoute to `<cluster>-public` that no BackendTLSPolicy covers gets a
warning: the policy may be applied next.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.gateway.backend_tls import BackendTLS
from policies.gateway.model import holder_of
from policies.gateway.refs import PUBLIC_SUFFIX, BackendRef, backend_refs
from webhook.core.json import JSONObject
from webhook.core.kinds import BACKENDTLSPOLICY, OPENBAO_CLUSTER
from webhook.core.objects import ObjectKey, dig, key_of, metadata
from webhook.core.policy import Need
from webhook.core.view import ClusterView

MAX_NAMED = 10  # backendRefs warned of in one answer; the rest are counted
CA_SUFFIX = "-tls-ca"  # the ConfigMap with the CA of an OperatorManaged OpenBao


def plain_hop(obj: JSONObject, view: ClusterView) -> tuple[str, str] | None:
    """The (namespace, `<cluster>-public`) an OpenBaoCluster's Gateway would send plain HTTP
    to, or None: an enabled gateway on the termination path, TLS on, backendTLS off, and no
    BackendTLSPolicy in the view for the Service."""
    gateway = dig(obj, "spec", "gateway")
    if dig(gateway, "enabled") is not True or dig(gateway, "tlsPassthrough") is True:
        return None
    if dig(obj, "spec", "tls", "enabled") is not True:
        return None  # OpenBao serves plain HTTP: there is no TLS port to miss
    if dig(gateway, "backendTLS", "enabled") is not False:
        return None  # the operator makes the BackendTLSPolicy
    namespace = str(metadata(obj).get("namespace") or "")
    service = f"{metadata(obj).get('name') or ''}{PUBLIC_SUFFIX}"
    if view.derived(BackendTLS).policies(namespace, service):
        return None  # the user's own BackendTLSPolicy keeps the hop encrypted
    return namespace, service


def hop_needs(obj: JSONObject, view: ClusterView) -> list[Need]:
    """The namespace's BackendTLSPolicies, when the view has none for the Service the hop
    would go to (one applied with the OpenBaoCluster may not be in the watch yet)."""
    found = plain_hop(obj, view)
    return [(BACKENDTLSPOLICY, found[0], None)] if found is not None else []


def openbao_hop_problem(obj: JSONObject, view: ClusterView) -> str | None:
    """A denial for an OpenBaoCluster whose Gateway would send plain HTTP to OpenBao's TLS
    port, or None. Only for an enabled gateway on the termination path."""
    found = plain_hop(obj, view)
    if found is None:
        return None
    namespace, service = found
    return (
        "spec.gateway.backendTLS.enabled: false with spec.tls.enabled: true sends plain HTTP "
        "to OpenBao's TLS port: without spec.gateway.tlsPassthrough: true the operator routes "
        "OpenBao with an HTTPRoute (the Gateway decrypts), and with backendTLS off it creates "
        f"no BackendTLSPolicy, so the hop from the Gateway to Service {namespace}/{service} "
        "is not TLS; set spec.gateway.backendTLS.enabled: true (its default), or "
        "spec.gateway.tlsPassthrough: true, or first create a BackendTLSPolicy targeting "
        f"Service {namespace}/{service}"
    )


def public_backend_warnings(
    obj: JSONObject,
    view: ClusterView,
    skip: frozenset[str] = frozenset(),
    refs: Sequence[BackendRef] | None = None,
) -> list[str]:
    """A warning for each backendRef of a user's HTTP or gRPC route (not one the OpenBao
    operator made) to an OpenBao `<cluster>-public` Service that serves TLS and that no
    BackendTLSPolicy targets, nor will (the operator makes one for its own route). `skip`:
    the field paths already refused; `refs`: the object's `backend_refs`, when already read."""
    key = key_of(obj)
    holder = holder_of(obj, key) if key is not None else None
    index = view.derived(BackendTLS)
    found = []
    for ref in backend_refs(obj) if refs is None else refs:
        if (ref.group, ref.kind) != ("", "Service") or ref.path in skip:
            continue
        if not ref.name.endswith(PUBLIC_SUFFIX):
            continue
        name = ref.name.removesuffix(PUBLIC_SUFFIX)
        cluster = view.get(OPENBAO_CLUSTER, ref.namespace, name)
        if cluster is None or dig(cluster, "spec", "tls", "enabled") is not True:
            continue
        if holder == ObjectKey(OPENBAO_CLUSTER.group, OPENBAO_CLUSTER.kind, ref.namespace, name):
            continue  # the operator's own HTTPRoute: its BackendTLSPolicy comes with it
        if index.policies(ref.namespace, ref.name) or makes_backend_tls(cluster):
            continue
        found.append(
            f"{ref.path}: Service {ref.namespace}/{ref.name} is the public Service of "
            f"OpenBaoCluster {ref.namespace}/{name}, which serves TLS (spec.tls.enabled: "
            "true), and no BackendTLSPolicy targets it, so the Gateway sends plain HTTP to "
            "OpenBao's TLS port; create a BackendTLSPolicy in namespace "
            f'{ref.namespace} with targetRefs [{{group: "", kind: Service, name: {ref.name}}}] '
            f"that validates OpenBao's certificate (the CA in ConfigMap {name}{CA_SUFFIX} when "
            "the operator manages TLS), or route OpenBao through the OpenBaoCluster's own "
            "spec.gateway"
        )
    if len(found) > MAX_NAMED:
        more = len(found) - MAX_NAMED
        found = [*found[:MAX_NAMED], f"... and {more} more backendRefs like these, not listed"]
    return found


def makes_backend_tls(cluster: JSONObject) -> bool:
    """Whether the OpenBao operator makes a BackendTLSPolicy for `<cluster>-public`."""
    gateway = dig(cluster, "spec", "gateway")
    return (
        dig(gateway, "enabled") is True
        and dig(gateway, "tlsPassthrough") is not True
        and dig(cluster, "spec", "tls", "enabled") is True
        and dig(gateway, "backendTLS", "enabled") is not False
    )
