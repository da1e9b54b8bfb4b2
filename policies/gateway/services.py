"""Which Services need TLS passthrough: the backends of ACME and mTLS workloads.

A Service requires passthrough when it belongs to an OpenVox Pool (Puppet's mTLS), is the
`<cluster>-public` Service of an ACME OpenBaoCluster, or carries the opt-in label.
"""

from __future__ import annotations

from policies.gateway.refs import PUBLIC_SUFFIX
from webhook.core.kinds import OPENBAO_CLUSTER, POOL, SERVICE
from webhook.core.objects import dig, metadata
from webhook.core.view import ClusterView

PASSTHROUGH_LABEL = "edgeguard.io/tls-passthrough"


def passthrough_reason(view: ClusterView, namespace: str, service: str) -> str | None:
    """Why a Service needs TLS passthrough (a sentence), or None when it does not."""
    if view.get(POOL, namespace, service) is not None:
        return f"it is the Service of OpenVox Pool {namespace}/{service} (Puppet uses mTLS)"
    if service.endswith(PUBLIC_SUFFIX):
        cluster = view.get(OPENBAO_CLUSTER, namespace, service.removesuffix(PUBLIC_SUFFIX))
        if cluster is not None and dig(cluster, "spec", "tls", "mode") == "ACME":
            name = service.removesuffix(PUBLIC_SUFFIX)
            return f"it is the public Service of OpenBaoCluster {namespace}/{name} in ACME mode"
    svc = view.get(SERVICE, namespace, service)
    labels = metadata(svc).get("labels") if svc else None
    if isinstance(labels, dict) and labels.get(PASSTHROUGH_LABEL) == "required":
        return f"it carries the label {PASSTHROUGH_LABEL}: required"
    return None
