"""Benchmark inputs: a synthetic cluster and realistic AdmissionReviews built from real objects.

Templates are the upstream manifests in /work/shared/data (Gateway API, OpenVox, OpenBao), given
the metadata the API server adds (uid, resourceVersion, managedFields, last-applied) so that
bodies have their real size. Nothing here talks to the network or measures anything.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DATA = Path("/work/shared/data")
Obj = dict[str, Any]
NAMESPACES = 100  # objects are spread over this many namespaces (fewer when N is small)
BENCH_NS = "team-000"
GATEWAY = "edge"
CERT = "puppet-cert"
INJECTED_POOL = "pool-inject"


def _docs(relative: str) -> list[Obj]:
    text = (DATA / relative).read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _template(relative: str, kind: str) -> Obj:
    return next(d for d in _docs(relative) if d.get("kind") == kind)


TLSROUTE_T = _template("gateway-api/examples/standard/tls-routing/tls-route.yaml", "TLSRoute")
HTTPROUTE_T = _template("gateway-api/examples/standard/httproute.yaml", "HTTPRoute")
OPENBAO_T = _template(
    "openbao-operator/samples/openbao_v1alpha1_openbaocluster_gateway.yaml", "OpenBaoCluster"
)
CERT_T = _template("openvox-operator/samples/certificate.yaml", "Certificate")
POOL_T = _template("openvox-operator/samples/pool.yaml", "Pool")
SERVER_T = _template("openvox-operator/samples/server.yaml", "Server")


def _stamp(obj: Obj, name: str, namespace: str | None, serial: int) -> Obj:
    """What the API server adds to a stored object (slim() later drops the bulky parts)."""
    meta: Obj = dict(obj.get("metadata") or {})
    meta.pop("namespace", None)
    applied = {k: v for k, v in obj.items() if k != "metadata"}
    applied["metadata"] = {"name": name, **({"namespace": namespace} if namespace else {})}
    meta.update(
        name=name,
        uid=f"0b6f{serial:08x}-4c2e-4a8b-9d1e-{serial:012x}",
        resourceVersion=str(100000 + serial),
        generation=1,
        creationTimestamp="2026-05-04T10:00:00Z",
        labels={**(meta.get("labels") or {}), "app.kubernetes.io/part-of": "edge"},
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied) + "\n"
        },
        managedFields=[
            {
                "apiVersion": obj.get("apiVersion"),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {k: {} for k in (obj.get("spec") or {})}},
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "time": "2026-05-04T10:00:00Z",
            }
        ],
    )
    if namespace:
        meta["namespace"] = namespace
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("metadata", "status")}
    out["metadata"] = meta
    return out


def tlsroute(i: int, ns: str, section: str = "tls") -> Obj:
    obj = copy.deepcopy(TLSROUTE_T)
    obj["spec"]["parentRefs"] = [{"name": GATEWAY, "sectionName": section}]
    obj["spec"]["hostnames"] = [f"tls-{i}.{ns}.example.com"]
    obj["spec"]["rules"] = [{"backendRefs": [{"name": f"svc-{i}", "port": 443}]}]
    return _stamp(obj, f"tls-{i}", ns, i)


def httproute(i: int, ns: str) -> Obj:
    obj = copy.deepcopy(HTTPROUTE_T)
    obj["spec"]["parentRefs"] = [{"name": GATEWAY, "sectionName": "https"}]
    obj["spec"]["hostnames"] = [f"web-{i}.{ns}.example.com"]
    return _stamp(obj, f"web-{i}", ns, i)


def pool(i: int, ns: str, name: str | None = None, inject: bool = False) -> Obj:
    obj = copy.deepcopy(POOL_T)
    obj["spec"] = {
        "service": {"type": "ClusterIP", "port": 8140},
        "route": {
            "enabled": True,
            "hostname": f"puppet-{i}.{ns}.example.com",
            "gatewayRef": {"name": GATEWAY, "sectionName": "tls"},
            "injectDNSAltName": inject,
        },
    }
    return _stamp(obj, name or f"pool-{i}", ns, i)


def openbao(i: int, ns: str) -> Obj:
    obj = copy.deepcopy(OPENBAO_T)
    gateway = obj["spec"]["gateway"]
    gateway["gatewayRef"] = {"name": GATEWAY, "namespace": ns}
    gateway["hostname"] = f"bao-{i}.{ns}.example.com"
    gateway["tlsPassthrough"] = True
    gateway["listenerName"] = "tls"
    gateway.pop("annotations", None)
    gateway.pop("path", None)
    return _stamp(obj, f"bao-{i}", ns, i)


def server(ns: str, pools: list[str]) -> Obj:
    obj = copy.deepcopy(SERVER_T)
    obj["spec"]["certificateRef"] = CERT
    obj["spec"]["poolRefs"] = pools
    return _stamp(obj, "puppet", ns, 7)


def certificate(ns: str, names: list[str]) -> Obj:
    obj = copy.deepcopy(CERT_T)
    obj["spec"]["dnsAltNames"] = names
    return _stamp(obj, CERT, ns, 8)


def gateway(ns: str) -> Obj:
    obj: Obj = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "spec": {
            "gatewayClassName": "example-gateway-class",
            "listeners": [
                {"name": "tls", "protocol": "TLS", "port": 443, "tls": {"mode": "Passthrough"}},
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": 8443,
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "edge-cert"}]},
                },
            ],
        },
    }
    return _stamp(obj, GATEWAY, ns, 9)


def namespace(ns: str) -> Obj:
    return _stamp({"apiVersion": "v1", "kind": "Namespace", "spec": {}}, ns, None, 10)


def namespaces(routes: int) -> list[str]:
    return [f"team-{n:03d}" for n in range(max(1, min(NAMESPACES, routes // 10)))]


def cluster(routes: int) -> Iterator[Obj]:
    """Per namespace a Gateway, Server and Certificate; `routes` TLSRoutes/HTTPRoutes/Pools."""
    spaces = namespaces(routes)
    for ns in spaces:
        yield namespace(ns)
        yield gateway(ns)
        yield server(ns, [INJECTED_POOL, "pool-0"])
        yield certificate(ns, ["puppet"])
    yield pool(999_999, BENCH_NS, INJECTED_POOL, inject=True)
    for i in range(routes):
        ns = spaces[i % len(spaces)]
        yield (tlsroute, httproute, pool)[i % 3](i, ns)


def admission(obj: Obj, operation: str = "CREATE", old: Obj | None = None) -> Obj:
    api_version = str(obj["apiVersion"])
    group, _, version = api_version.rpartition("/")
    meta = obj["metadata"]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": "x"},
            "requestKind": {"group": group, "version": version, "kind": obj["kind"]},
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "operation": operation,
            "userInfo": {
                "username": "system:serviceaccount:openvox-system:openvox-operator",
                "uid": "1f7c2a0e-7e0b-4d0a-9f0e-2b1c3d4e5f60",
                "groups": ["system:serviceaccounts", "system:authenticated"],
            },
            "object": obj,
            "oldObject": old,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
        },
    }


def workloads() -> dict[str, tuple[str, bytes]]:
    """name -> (path, body). Each is admitted (allowed, or patched for the Certificate)."""
    new = 5_000_000  # serials no cluster object uses, so hostnames are fresh
    cert_old = certificate(BENCH_NS, ["puppet"])
    cert_new = copy.deepcopy(cert_old)
    cert_new["metadata"]["labels"]["touched"] = "yes"
    reviews = {
        "TLSRoute": ("/validate", admission(tlsroute(new, BENCH_NS))),
        "HTTPRoute": ("/validate", admission(httproute(new, BENCH_NS))),
        "Pool": ("/validate", admission(pool(new, BENCH_NS))),
        "OpenBaoCluster": ("/validate", admission(openbao(new, BENCH_NS))),
        "Certificate": ("/mutate", admission(cert_new, "UPDATE", cert_old)),
    }
    return {k: (path, json.dumps(body).encode()) for k, (path, body) in reviews.items()}


def manifests(count: int) -> list[Obj]:
    """`count` objects for `edgeguard review`: the cluster's kinds plus OpenBaoClusters."""
    spaces = namespaces(count)
    out: list[Obj] = []
    for i in range(count):
        ns = spaces[i % len(spaces)]
        out.append((tlsroute, httproute, pool, openbao)[i % 4](i, ns))
    return out
