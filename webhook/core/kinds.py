"""The Kubernetes kinds edgeguard knows: group, kind, plural resource and served versions.

One table, so that policies, the cluster view, RBAC, webhook rules and user policies' resource
rules agree. It must not import anything but the standard library.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple


class GroupKind(NamedTuple):
    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


class KindInfo(NamedTuple):
    group_kind: GroupKind
    resource: str
    versions: tuple[str, ...]
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.group_kind.group

    @property
    def kind(self) -> str:
        return self.group_kind.kind


GATEWAY_GROUP = "gateway.networking.k8s.io"
OPENVOX_GROUP = "openvox.voxpupuli.org"
OPENBAO_GROUP = "openbao.org"
CERT_MANAGER_GROUP = "cert-manager.io"

GATEWAYCLASS = GroupKind(GATEWAY_GROUP, "GatewayClass")
GATEWAY = GroupKind(GATEWAY_GROUP, "Gateway")
HTTPROUTE = GroupKind(GATEWAY_GROUP, "HTTPRoute")
GRPCROUTE = GroupKind(GATEWAY_GROUP, "GRPCRoute")
TLSROUTE = GroupKind(GATEWAY_GROUP, "TLSRoute")
TCPROUTE = GroupKind(GATEWAY_GROUP, "TCPRoute")
UDPROUTE = GroupKind(GATEWAY_GROUP, "UDPRoute")
LISTENERSET = GroupKind(GATEWAY_GROUP, "ListenerSet")
REFERENCEGRANT = GroupKind(GATEWAY_GROUP, "ReferenceGrant")
BACKENDTLSPOLICY = GroupKind(GATEWAY_GROUP, "BackendTLSPolicy")
POOL = GroupKind(OPENVOX_GROUP, "Pool")
SERVER = GroupKind(OPENVOX_GROUP, "Server")
OPENVOX_CERTIFICATE = GroupKind(OPENVOX_GROUP, "Certificate")
OPENBAO_CLUSTER = GroupKind(OPENBAO_GROUP, "OpenBaoCluster")
CM_CERTIFICATE = GroupKind(CERT_MANAGER_GROUP, "Certificate")
SERVICE = GroupKind("", "Service")
NAMESPACE = GroupKind("", "Namespace")

# The kinds the cluster view watches and policies read. Served versions are read from the
# CRDs in ../shared/data (see SOURCES.md there).
KINDS: dict[GroupKind, KindInfo] = {
    info.group_kind: info
    for info in (
        KindInfo(GATEWAYCLASS, "gatewayclasses", ("v1", "v1beta1"), namespaced=False),
        KindInfo(GATEWAY, "gateways", ("v1", "v1beta1")),
        KindInfo(HTTPROUTE, "httproutes", ("v1", "v1beta1")),
        KindInfo(GRPCROUTE, "grpcroutes", ("v1",)),
        KindInfo(TLSROUTE, "tlsroutes", ("v1", "v1alpha2", "v1alpha3")),
        KindInfo(TCPROUTE, "tcproutes", ("v1", "v1alpha2")),
        KindInfo(UDPROUTE, "udproutes", ("v1", "v1alpha2")),
        KindInfo(LISTENERSET, "listenersets", ("v1",)),
        KindInfo(REFERENCEGRANT, "referencegrants", ("v1", "v1beta1")),
        # v1alpha3 is in the CRD but no longer served.
        KindInfo(BACKENDTLSPOLICY, "backendtlspolicies", ("v1",)),
        KindInfo(POOL, "pools", ("v1alpha1",)),
        KindInfo(SERVER, "servers", ("v1alpha1",)),
        KindInfo(OPENVOX_CERTIFICATE, "certificates", ("v1alpha1",)),
        KindInfo(OPENBAO_CLUSTER, "openbaoclusters", ("v1alpha1",)),
        KindInfo(CM_CERTIFICATE, "certificates", ("v1",)),
        KindInfo(SERVICE, "services", ("v1",)),
        KindInfo(NAMESPACE, "namespaces", ("v1",), namespaced=False),
    )
}
# Kinds outside KINDS that user policies commonly select (the Kubernetes API reference).
EXTRA: tuple[KindInfo, ...] = (
    KindInfo(
        GroupKind("apiextensions.k8s.io", "CustomResourceDefinition"),
        "customresourcedefinitions",
        ("v1",),
        namespaced=False,
    ),
    KindInfo(GroupKind("", "Pod"), "pods", ("v1",)),
    KindInfo(GroupKind("", "ConfigMap"), "configmaps", ("v1",)),
    KindInfo(GroupKind("", "Secret"), "secrets", ("v1",)),
    KindInfo(GroupKind("", "ServiceAccount"), "serviceaccounts", ("v1",)),
    KindInfo(GroupKind("apps", "Deployment"), "deployments", ("v1",)),
    KindInfo(GroupKind("apps", "StatefulSet"), "statefulsets", ("v1",)),
    KindInfo(GroupKind("apps", "DaemonSet"), "daemonsets", ("v1",)),
)
# Every kind edgeguard can resolve a resource rule against: the watched ones, then EXTRA.
RESOURCES: tuple[KindInfo, ...] = (*KINDS.values(), *EXTRA)
BY_KIND: dict[GroupKind, KindInfo] = {info.group_kind: info for info in RESOURCES}


# A Kind (Gateway API's Kind: a CamelCase name) and an API group (a DNS subdomain; "" is the
# core group), as `Kind.group` writes them: `ServiceImport.multicluster.x-k8s.io`, `Service`.
_KIND = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")
_GROUP = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def parse_group_kind(text: str) -> GroupKind:
    """`Kind.group` (GroupKind's own string form) as a GroupKind; ValueError if malformed."""
    problem = group_kind_problem(text)
    if problem is not None:
        raise ValueError(problem)
    kind, _, group = text.partition(".")
    return GroupKind(group, kind)


def group_kind_problem(text: object) -> str | None:
    """What is wrong with a `Kind.group` string, or None when it is one."""
    if not isinstance(text, str):
        return f"{text!r} is not a string of the form Kind.group"
    kind, _, group = text.partition(".")
    if len(kind) > 63 or not _KIND.fullmatch(kind):
        return f"{text!r}: {kind!r} is not a kind (1 to 63 letters, digits and -, first a letter)"
    if "." in text and (len(group) > 253 or not _GROUP.fullmatch(group)):
        return f"{text!r}: {group!r} is not an API group (a DNS subdomain, lower case)"
    return None


def group_of(api_version: str) -> str:
    """The group of an apiVersion: "" for the core group ("v1")."""
    return api_version.rpartition("/")[0]


def group_kind_of(obj: object) -> GroupKind | None:
    """The GroupKind of a manifest, or None when apiVersion or kind is missing."""
    if not isinstance(obj, dict):
        return None
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        return None
    return _from_api_version(api_version, kind)


@functools.lru_cache(maxsize=1024)
def _from_api_version(api_version: str, kind: str) -> GroupKind:
    # Policies ask this of the same few apiVersions many times per request (the hot path).
    return GroupKind(group_of(api_version), kind)
