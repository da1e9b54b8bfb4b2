"""unique-hostnames: one owner per SNI/Host name on a Gateway listener (or in the cluster).

Reads only the view's claim index (`ClusterView.claims`) and single objects from it; it never
scans a kind. A claim counts only where its route can really attach. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from policies.gateway.listeners import attachable_listeners, effective_kind, gateway_for
from policies.gateway.refs import Claim, ParentRef, claims, hostnames
from webhook.core.decision import Decision, allowed, verdict
from webhook.core.hostnames import is_wildcard, normalize, parent_wildcards
from webhook.core.json import JSONObject
from webhook.core.kinds import (
    GATEWAY,
    GRPCROUTE,
    HTTPROUTE,
    NAMESPACE,
    OPENBAO_CLUSTER,
    POOL,
    TLSROUTE,
)
from webhook.core.objects import ObjectKey, dig, key_of, metadata
from webhook.core.policy import Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

SCOPE = "scope"
HTTP_DUPLICATES = "httpRouteDuplicates"
SCOPES = ("listener", "cluster")
HTTP_MODES = ("Warn", "Enforce")
MERGING_KINDS = (HTTPROUTE, GRPCROUTE)
CONFLICT, MERGE, OVERLAP = "conflict", "merge", "overlap"
KEPT = " (allowed: this object already claimed the hostname there before this update)"


class Lookup(enum.Enum):
    CLAIMS = "claims"  # the claims of the name itself (an exact name or a covering wildcard)
    COVERED = "covered"  # the claims of the names the wildcard under review covers


class Target(NamedTuple):
    """What to look up in the view for one of the object's claims."""

    lookup: Lookup
    name: str


@dataclass(frozen=True)
class Rival:
    """Another owner's claim, with the object that makes it (read from the view)."""

    claim: Claim
    holder: JSONObject

    @property
    def owners(self) -> list[str]:
        return sorted(str(o) for o in self.claim.owners if o != self.claim.claimant)

    @property
    def source(self) -> str:
        """Where to change the hostname: the owner that writes the route, or the route."""
        return self.owners[0] if self.owners else str(self.claim.claimant)

    def __str__(self) -> str:
        owned = f" (owned by {', '.join(self.owners)})" if self.owners else ""
        return f"{self.claim.claimant}{owned}"


@dataclass(frozen=True)
class Finding:
    text: str
    kind: str
    kept: bool = False


def check(review: Review, view: ClusterView[Claim], settings: Settings) -> Decision:
    scope, enforce_http = read_settings(settings)
    obj = review.object
    if review.operation == "DELETE" or obj is None or metadata(obj).get("deletionTimestamp"):
        return allowed()  # deleting frees the claim
    old = review.old_object
    pools = pool_findings(obj, old, view)
    findings = [*pools.values(), *listener_findings(obj, old, view, scope, frozenset(pools))]
    messages: list[str] = []
    warnings: list[str] = []
    for finding in findings:
        if finding.kind == OVERLAP or (finding.kind == MERGE and not enforce_http):
            warnings.append(finding.text)
        elif finding.kept:
            warnings.append(finding.text + KEPT)  # an old collision: do not block the update
        else:
            messages.append(finding.text)
    return verdict(messages, warnings)


def read_settings(settings: Settings) -> tuple[str, bool]:
    """(scope, whether same-kind HTTPRoute/GRPCRoute duplicates deny); a bad value raises."""
    scope = settings.get(SCOPE, "listener")
    http = settings.get(HTTP_DUPLICATES, "Warn")
    for key, value, choices in ((SCOPE, scope, SCOPES), (HTTP_DUPLICATES, http, HTTP_MODES)):
        if value not in choices:
            raise ValueError(
                f"policies.unique-hostnames.settings.{key}: got {value!r}; set it to one of "
                f"{', '.join(choices)} in the configuration"
            )
    return str(scope), http == "Enforce"


def pool_findings(
    obj: JSONObject, old: JSONObject | None, view: ClusterView[Claim]
) -> dict[ObjectKey, Finding]:
    """The operator's own rule, checked before it stalls: one Pool per hostname per namespace."""
    key = key_of(obj)
    if key is None or key.group_kind != POOL:
        return {}
    kept = set(hostnames(old)) if old is not None else set()
    found: dict[ObjectKey, Finding] = {}
    for hostname in hostnames(obj):
        for claim in view.claims(hostname):
            other = claim.claimant
            if other.group_kind != POOL or other.namespace != key.namespace or other == key:
                continue
            found.setdefault(other, Finding(pool_text(hostname, other), CONFLICT, hostname in kept))
    return found


def pool_text(hostname: str, other: ObjectKey) -> str:
    return (
        f"spec.route.hostname: hostname {hostname} is already claimed by {other} in the same "
        "namespace; the OpenVox operator stalls both Pools when two of them share a hostname. "
        f"Choose another hostname, or disable the route of {other} first"
    )


def listener_findings(
    obj: JSONObject,
    old: JSONObject | None,
    view: ClusterView[Claim],
    scope: str,
    reported: frozenset[ObjectKey] = frozenset(),
) -> list[Finding]:
    """Collisions and wildcard overlaps of each of the object's attachable claims.

    One finding per hostname and rival owner (a Pool and the TLSRoute it owns are one owner);
    owners in `reported` were already named by the Pool rule.
    """
    kept = {(c.hostname, c.parent) for c in claims(old)} if old is not None else set()
    attach = Attachment(view)
    seen: dict[tuple[str, Target], list[Claim]] = {}
    found: list[Finding] = []
    for mine in claims(obj):
        if not attach.can(obj, mine.parent):
            continue
        for target in targets(mine.hostname):
            done = seen.setdefault((mine.hostname, target), [])
            for rival in rivals(view, attach, target, mine):
                exact = target == Target(Lookup.CLAIMS, mine.hostname)
                if any(rival.claim.same_owner(c) for c in done) or (
                    exact and not reported.isdisjoint(rival.claim.owners)
                ):
                    continue
                shared = shared_listener(obj, mine.parent, rival, attach)
                if shared is None and scope != "cluster":
                    continue
                done.append(rival.claim)
                finding = describe(obj, mine, rival, target, shared)
                kept_here = (mine.hostname, mine.parent) in kept
                found.append(Finding(finding.text, finding.kind, kept_here))
    return found


def targets(hostname: str) -> list[Target]:
    """The name itself, the wildcards that cover it, and for a wildcard the names it covers."""
    found = [Target(Lookup.CLAIMS, name) for name in (hostname, *parent_wildcards(hostname))]
    return found + ([Target(Lookup.COVERED, hostname)] if is_wildcard(hostname) else [])


class Attachment:
    """The listeners an object really attaches to through a parentRef (None: the Gateway is
    not in the view), worked out once per object and parentRef within one check."""

    def __init__(self, view: ClusterView[Claim]) -> None:
        self.view = view
        self._found: dict[tuple[int, ParentRef], frozenset[str] | None] = {}

    def listeners(self, obj: JSONObject, parent: ParentRef) -> frozenset[str] | None:
        key = (id(obj), parent)
        if key not in self._found:
            gateway = gateway_for(self.view, parent)
            self._found[key] = (
                None
                if gateway is None
                else frozenset(
                    str(item.get("name"))
                    for item in attachable_listeners(obj, parent, gateway, self.view)
                )
            )
        return self._found[key]

    def can(self, obj: JSONObject, parent: ParentRef) -> bool:
        """gateway.can_attach: False only when the Gateway is known and admits nothing."""
        names = self.listeners(obj, parent)
        return names is None or bool(names)


def rivals(
    view: ClusterView[Claim], attach: Attachment, target: Target, mine: Claim
) -> Iterator[Rival]:
    """Claims of the target (a name, or the names a wildcard covers) by other owners whose
    route can really attach."""
    covered = target.lookup is Lookup.COVERED
    found = view.covered(target.name) if covered else view.claims(target.name)
    for claim in found:
        if claim.same_owner(mine):  # the claimant is always the first of its owners
            continue
        other = claim.claimant
        holder = view.get(other.group_kind, other.namespace, other.name)
        if holder is not None and attach.can(holder, claim.parent):
            yield Rival(claim, holder)


def shared_listener(
    obj: JSONObject, parent: ParentRef, rival: Rival, attach: Attachment
) -> str | None:
    """Where both claims are on one listener ("" when unnamed), or None when they are not.

    Same Gateway, and sectionName (and port) unset on either side or equal; when the Gateway is
    known, the listeners each can really attach to must also intersect.
    """
    theirs = rival.claim.parent
    if (parent.namespace, parent.name) != (theirs.namespace, theirs.name):
        return None
    mine = attach.listeners(obj, parent)
    if mine is None:
        if differ(parent.section, theirs.section) or differ(parent.port, theirs.port):
            return None
        section = parent.section or theirs.section
        return f" listener {section!r}" if section else ""
    both = mine & (attach.listeners(rival.holder, theirs) or frozenset())
    if not both:
        return None
    return (" listener " if len(both) == 1 else " listeners ") + ", ".join(map(repr, sorted(both)))


def differ(a: object, b: object) -> bool:
    return a is not None and b is not None and a != b


def describe(
    obj: JSONObject, mine: Claim, rival: Rival, target: Target, shared: str | None
) -> Finding:
    """The finding's text and kind: a conflict, a legal rule merge, or a wildcard overlap."""
    theirs = rival.claim.parent
    scoped = " (setting scope: cluster)" if shared is None else ""
    on = f"on Gateway {theirs.namespace}/{theirs.name}{shared or ''} by {rival}{scoped}"
    where = f"{field_of(obj, mine.hostname)}: hostname {mine.hostname}"
    if target.lookup is Lookup.COVERED:
        return Finding(covers_text(where, rival, on, shared), OVERLAP)
    if target.name != mine.hostname:
        text = overlap_text(where, mine.hostname, target.name, on, rival, shared)
        return Finding(text, OVERLAP)
    kind = effective_kind(obj)
    if kind in MERGING_KINDS and kind == effective_kind(rival.holder):
        merge = "" if shared is None else merge_effect(kind.kind)
        fix = f"Use another hostname, or move these rules into {rival.claim.claimant}"
        return Finding(f"{where} is also claimed {on}{merge}. {fix}", MERGE)
    effect = (
        "this webhook allows one owner per hostname in the whole cluster"
        if shared is None
        else "Gateway API gives a hostname on a listener to one route only (the oldest wins), "
        "so the other gets no traffic while still showing Accepted"
    )
    fix = f"Choose another hostname, or free {mine.hostname} in {rival.source} first"
    return Finding(f"{where} is already claimed {on}; {effect}. {fix}", CONFLICT)


def overlap_text(
    where: str, hostname: str, wildcard: str, on: str, rival: Rival, shared: str | None
) -> str:
    effect = (
        f"the more specific name wins, so {rival} no longer gets traffic for {hostname}"
        if shared is not None
        else f"DNS decides which Gateway receives {hostname}"
    )
    covered = f"{where} is covered by the wildcard {wildcard} claimed {on}"
    return f"{covered}; {effect}. Make sure that is intended"


def covers_text(where: str, rival: Rival, on: str, shared: str | None) -> str:
    name = rival.claim.hostname
    covered = f"{where} covers {name}, claimed {on}"
    effect = (
        f"the more specific name wins, so this route gets no traffic for {name}"
        if shared is not None
        else f"DNS decides which Gateway receives {name}"
    )
    return f"{covered}; {effect}. Make sure that is intended"


def merge_effect(kind: str) -> str:
    return (
        f"; Gateway API merges the rules of {kind}s that share a hostname on a listener, "
        "so requests may reach either route's backends"
    )


def field_of(obj: JSONObject, hostname: str) -> str:
    """The field path that holds the hostname in this object."""
    key = key_of(obj)
    kind = key.group_kind if key is not None else None
    if kind == POOL:
        return "spec.route.hostname"
    if kind == OPENBAO_CLUSTER:
        return "spec.gateway.hostname"
    found = dig(obj, "spec", "hostnames")
    for index, item in enumerate(found if isinstance(found, list) else []):
        if isinstance(item, str) and normalize(item) == hostname:
            return f"spec.hostnames[{index}]"
    return "spec.hostnames"


POLICY = Policy(
    "unique-hostnames",
    frozenset({POOL, OPENBAO_CLUSTER, TLSROUTE, HTTPROUTE, GRPCROUTE}),
    check,
    # A DELETE is never refused, so the API server need not call (or wait for) the webhook.
    operations=frozenset({"CREATE", "UPDATE"}),
    defaults={SCOPE: "listener", HTTP_DUPLICATES: "Warn"},
    choices={SCOPE: SCOPES, HTTP_DUPLICATES: HTTP_MODES},
    referential=True,
    # What claims are read from (hostnames and parentRefs), Gateways' listeners, Namespaces'
    # labels (allowedRoutes selectors).
    reads={
        GATEWAY: ("listeners",),
        TLSROUTE: ("hostnames", "parentRefs"),
        HTTPROUTE: ("hostnames", "parentRefs"),
        GRPCROUTE: ("hostnames", "parentRefs"),
        POOL: ("route",),
        OPENBAO_CLUSTER: ("gateway",),
        NAMESPACE: (),
    },
    description=(
        "One owner per SNI/Host name on a Gateway listener (or cluster-wide): denies duplicate "
        "Pool, OpenBaoCluster and TLSRoute hostnames, warns on HTTPRoute duplicates and on "
        "wildcard overlaps"
    ),
)
