"""The admission and RBAC rules the deployment manifests must carry, computed from the policies.

tests/test_deploy.py compares manifests/base with these, so a policy that declares a new kind
fails the tests until the YAML follows (`python -m webhook.deploy` prints the blocks). User
policies count too: `python -m webhook.deploy --config FILE` prints the rules with theirs,
`--check MANIFEST` fails when a ValidatingWebhookConfiguration lacks them, and `serve` warns at
start about user policies that the shipped rules never send it (`unreceived`).
No concrete policy is imported here but in `main`, the command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from webhook.cluster.watch import RBAC_VERBS, rbac_rules
from webhook.core.kinds import (
    BY_KIND,
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
    grouped: dict[tuple[str, tuple[str, ...], tuple[str, ...], str], set[str]] = {}
    for kind, ops in _operations(policies, mutating=mutating).items():
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


def _operations(policies: Iterable[Policy], *, mutating: bool) -> dict[GroupKind, set[str]]:
    """The operations each kind's requests are sent for: what the policies of that webhook
    handle, and for the validating one the writes of the kinds checks read (OBSERVED)."""
    operations: dict[GroupKind, set[str]] = {}
    for policy in policies:
        if policy.mutating != mutating:
            continue
        wanted = policy.operations & MUTABLE_OPERATIONS if mutating else policy.operations
        for kind in policy.kinds:
            operations.setdefault(kind, set()).update(wanted)
    for kind in () if mutating else OBSERVED:
        operations.setdefault(kind, set()).update(MUTABLE_OPERATIONS)
    return operations


def unreceived(policies: Sequence[Policy]) -> list[str]:
    """For each user policy (a deferred one) that selects requests the built-in policies' rules
    (those of manifests/base) do not send, a line saying so: start-up warnings of `serve`."""
    sent = _operations((p for p in policies if p.deferred is None), mutating=False)
    lines = []
    for policy in policies:
        if policy.deferred is None:
            continue
        missing: dict[str, set[str]] = {}
        for kind in policy.kinds:
            info = _info(kind)
            for operation in policy.operations:
                if operation not in sent.get(kind, ()):
                    name = f"{info.resource}.{kind.group}" if kind.group else info.resource
                    missing.setdefault(name, set()).add(operation)
        if missing:
            shown = "; ".join(f"{n} ({', '.join(sorted(o))})" for n, o in sorted(missing.items()))
            lines.append(
                f"user policy {policy.name} selects {shown}, which the webhook rules of"
                " manifests/base do not send to edgeguard: unless the"
                " ValidatingWebhookConfiguration adds them (python -m webhook.deploy --config FILE"
                " prints the rules), this policy never sees those requests"
            )
    return lines


def _info(kind: GroupKind) -> KindInfo:
    try:
        return BY_KIND[kind]
    except KeyError:
        raise ValueError(f"policy kind {kind} is not in webhook.core.kinds.RESOURCES") from None


def _scope(info: KindInfo) -> str:
    return "Namespaced" if info.namespaced else "Cluster"


def drift(manifest: Any, rules: list[Rule]) -> str | None:
    """What a ValidatingWebhookConfiguration document lacks or has beyond `rules`, or None."""
    hooks = manifest.get("webhooks") if isinstance(manifest, dict) else None
    kind = manifest.get("kind") if isinstance(manifest, dict) else None
    if kind != "ValidatingWebhookConfiguration" or not isinstance(hooks, list) or not hooks:
        return "not a ValidatingWebhookConfiguration with webhooks"
    found = hooks[0].get("rules") if isinstance(hooks[0], dict) else None
    if found == rules:
        return None
    return "its rules are not the ones the policies need; they should be:\n" + to_yaml(rules)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m webhook.deploy", description=__doc__)
    p.add_argument("--config", type=Path, help="the configuration; its userPolicies count")
    p.add_argument("--policy", action="append", default=[], metavar="PATH")
    p.add_argument("--policy-name-prefix", default="", metavar="PREFIX")
    p.add_argument(
        "--check",
        type=Path,
        metavar="MANIFEST",
        help="compare this ValidatingWebhookConfiguration's rules; exit 1 when they differ",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import policies  # wiring point: only the command line picks the shipped policies
    from webhook.config import ConfigError, user_policy_sources
    from webhook.vap.load import VAPError, load_user_policies

    args = _arguments(sys.argv[1:] if argv is None else argv)
    try:
        paths, prefix = user_policy_sources(args.config)
        user = load_user_policies(paths, prefix) if paths else []
        user += load_user_policies([Path(p) for p in args.policy], args.policy_name_prefix)
    except (ConfigError, VAPError) as exc:
        print(f"webhook.deploy: {exc}", file=sys.stderr)
        return 2
    known = [*policies.builtin(), *user]
    validating = admission_rules(known, mutating=False)
    if args.check is not None:
        try:
            manifest = yaml.safe_load(args.check.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            print(f"webhook.deploy: {args.check}: {exc}", file=sys.stderr)
            return 2
        problem = drift(manifest, validating)
        if problem:
            print(f"{args.check}: {problem}", file=sys.stderr)
            return 1
        print(f"{args.check}: rules match the policies")
        return 0
    blocks = {
        "ValidatingWebhookConfiguration rules": validating,
        "MutatingWebhookConfiguration rules": admission_rules(known, mutating=True),
        "ClusterRole rules": cluster_role_rules(),
        "Role rules": role_rules(),
    }
    for title, rules in blocks.items():
        sys.stdout.write(f"# {title}\n{to_yaml(rules)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
