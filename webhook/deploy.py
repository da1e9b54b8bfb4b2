"""The admission and RBAC rules the deployment manifests must carry, computed from the policies.

tests/test_deploy.py compares manifests/base with these, so a policy that declares a new kind
fails the tests until the YAML follows (`python -m webhook.deploy` prints the blocks).
Pure data: no I/O, and no concrete policy is imported here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import yaml

from webhook.cluster.watch import RBAC_VERBS, rbac_rules
from webhook.core.kinds import (
    CM_CERTIFICATE,
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    KINDS,
    LISTENERSET,
    OPENBAO_CLUSTER,
    OPENVOX_CERTIFICATE,
    POOL,
    REFERENCEGRANT,
    SERVER,
    TCPROUTE,
    TLSROUTE,
    UDPROUTE,
    GroupKind,
    KindInfo,
)
from webhook.core.policy import Policy

# A DELETE has no object to patch, so the mutating webhook never asks for one.
MUTABLE_OPERATIONS = frozenset({"CREATE", "UPDATE"})

Rule = dict[str, Any]
# Read-your-writes: the kinds checks read from other objects are sent to the validating webhook
# on CREATE and UPDATE even where no policy judges them, so that what a replica admitted is
# what its next admission sees (ReservingView) before the watch delivers it. Not Services and
# Namespaces: every write of those in the cluster would then depend on edgeguard (failurePolicy
# Fail) for a label or two; a request that names one by name still reads the view.
OBSERVED = frozenset(
    {
        GATEWAY,
        LISTENERSET,
        REFERENCEGRANT,
        HTTPROUTE,
        GRPCROUTE,
        TLSROUTE,
        TCPROUTE,
        UDPROUTE,
        POOL,
        SERVER,
        OPENBAO_CLUSTER,
        OPENVOX_CERTIFICATE,
        CM_CERTIFICATE,
    }
)


def admission_rules(policies: Iterable[Policy], *, mutating: bool) -> list[Rule]:
    """One rule per (group, versions, operations, scope), naming the resources that share them.

    Grouping only kinds that agree on everything else keeps the rule's cross product exact: no
    version, resource or operation is matched that no policy handles.
    """
    operations: dict[GroupKind, set[str]] = {}
    for policy in policies:
        if policy.mutating != mutating:
            continue
        wanted = policy.operations & MUTABLE_OPERATIONS if mutating else policy.operations
        for kind in policy.kinds:
            operations.setdefault(kind, set()).update(wanted)
    for kind in () if mutating else OBSERVED:
        operations.setdefault(kind, set()).update(MUTABLE_OPERATIONS)
    grouped: dict[tuple[str, tuple[str, ...], tuple[str, ...], str], set[str]] = {}
    for kind, ops in operations.items():
        if not ops:
            continue
        info = _info(kind)
        key = (kind.group, info.versions, tuple(sorted(ops)), _scope(info))
        grouped.setdefault(key, set()).add(info.resource)
    return [
        {
            "apiGroups": [group],
            "apiVersions": list(versions),
            "operations": list(ops),
            "resources": sorted(resources),
            "scope": scope,
        }
        for (group, versions, ops, scope), resources in sorted(grouped.items())
    ]


def cluster_role_rules(kinds: Iterable[KindInfo] = KINDS.values()) -> list[Rule]:
    """Read-only access to exactly what the watch loop reads (cluster.rbac_rules), by group."""
    by_group: dict[str, list[str]] = {}
    for group, resource in rbac_rules(kinds):
        by_group.setdefault(group, []).append(resource)
    return [
        {"apiGroups": [group], "resources": resources, "verbs": list(RBAC_VERBS)}
        for group, resources in sorted(by_group.items())
    ]


# What the server does with claim Leases in its own namespace (webhook.cluster.leases): create,
# read (a claim held elsewhere), update (take over a stale claim), delete (release), and list
# for the sweep. Nothing else is written, and nowhere else.
LEASE_VERBS = ("create", "get", "update", "delete", "list", "watch")


def role_rules() -> list[Rule]:
    """The namespaced Role: the claim Leases, in edgeguard's own namespace only."""
    return [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": list(LEASE_VERBS)}
    ]


def to_yaml(rules: list[Rule]) -> str:
    """Rules in the manifests' own layout, ready to paste under `rules:` or `webhooks[].rules:`."""
    return yaml.safe_dump(rules, sort_keys=False, default_flow_style=None, width=100)


def _info(kind: GroupKind) -> KindInfo:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"policy kind {kind} is not in webhook.core.kinds.KINDS") from None


def _scope(info: KindInfo) -> str:
    return "Namespaced" if info.namespaced else "Cluster"


def main() -> int:
    import policies  # wiring point: only the command line picks the shipped policies

    shipped = policies.builtin()
    blocks = {
        "ValidatingWebhookConfiguration rules": admission_rules(shipped, mutating=False),
        "MutatingWebhookConfiguration rules": admission_rules(shipped, mutating=True),
        "ClusterRole rules": cluster_role_rules(),
        "Role rules": role_rules(),
    }
    for title, rules in blocks.items():
        sys.stdout.write(f"# {title}\n{to_yaml(rules)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
