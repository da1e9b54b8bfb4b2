"""unique-hostnames: one owner per SNI/Host name on a Gateway listener (or in the cluster).

Reads the attachment model only: the object's effective hostnames on each listener it can
really attach to (Gateway API: the intersection of the route's and the listener's hostnames;
a route without hostnames takes the listener's), and the claim index of the view's Topology,
where rivals are grouped by holder. The cost of a check is its own claims times the rivals it
names (at most MAX_FINDINGS), never the number of claims in the cluster. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from policies.gateway.claims import (
    ALL_SECTIONS,
    CLUSTER,
    Claim,
    Holders,
    Slot,
    Unresolved,
    slot_id,
    slot_of,
)
from policies.gateway.model import ANY_HOSTNAME, ListenerId, Route
from policies.gateway.request import attachment_of, claims_for, parent_needs, topology
from policies.gateway.topology import Topology, claims_of, with_topology
from webhook.core.decision import Decision, allowed, verdict
from webhook.core.hostnames import is_wildcard, parent_wildcards
from webhook.core.kinds import (
    GRPCROUTE,
    HTTPROUTE,
    OPENBAO_CLUSTER,
    POOL,
    TLSROUTE,
)
from webhook.core.locks import Lock
from webhook.core.objects import ObjectKey, metadata
from webhook.core.policy import Policy, Settings
from webhook.core.review import RELIED_ON, Review
from webhook.core.view import ClusterView

SCOPE = "scope"
HTTP_DUPLICATES = "httpRouteDuplicates"
SCOPES = ("listener", "cluster")
HTTP_MODES = ("Warn", "Enforce")
MERGING_KINDS = (HTTPROUTE, GRPCROUTE)
CONFLICT, MERGE, OVERLAP = "conflict", "merge", "overlap"
KEPT = " (allowed: this object already claimed the hostname there before this update)"
MAX_FINDINGS = 10
POOL_SCOPE = "pools-of-namespace"  # the OpenVox operator's rule: one Pool per hostname
MAX_LISTENERS = 5  # listeners named for one collision; the rest are counted


class Lookup(enum.Enum):
    EXACT = "exact"  # the claims of the name itself
    WILDCARD = "wildcard"  # the claims of a wildcard that covers the name
    COVERS = "covers"  # the claims of the names the wildcard under review covers


@dataclass
class Found:
    """One rival holder of one of the object's hostnames, and where they collide."""

    lookup: Lookup
    hostname: str  # the object's effective hostname
    name: str  # the name the rival claims (the hostname, or a wildcard, or a covered name)
    rival: Claim
    slots: dict[Slot, None] = field(default_factory=dict)  # the first MAX_LISTENERS + 1
    kept: bool = False
    shared: bool = False  # on a listener (or unresolved parent), not only cluster-wide
    more_slots: int = 0

    def add(self, slot: Slot) -> None:
        """Where they collide; a cluster-wide collision is only named where no listener is
        shared, and listeners past MAX_LISTENERS are counted."""
        if slot in self.slots:
            return
        if slot != CLUSTER and not self.shared:
            self.shared = True
            self.slots = {s: None for s in self.slots if s != CLUSTER}
        if len(self.slots) < MAX_LISTENERS:
            self.slots[slot] = None
        else:
            self.more_slots += 1


@dataclass(frozen=True)
class Finding:
    text: str
    kind: str
    kept: bool = False


def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
    scope, enforce_http = read_settings(settings)
    obj = review.object
    if review.operation == "DELETE" or obj is None or metadata(obj).get("deletionTimestamp"):
        return allowed()  # deleting frees the claim
    attachment = attachment_of(review, view)
    if attachment is None or not attachment.route.claims_hostnames:
        return allowed()
    route = attachment.route
    topo = topology(view)
    kept = old_claims(review, topo)
    pools = pool_findings(route, review, topo)
    search = Search(topo, route, scope, kept, frozenset(pools))
    search.run(claims_for(review, view))
    findings = [*pools.values(), *search.findings()]
    messages: list[str] = []
    warnings: list[str] = []
    for finding in findings:
        if finding.kind == OVERLAP or (finding.kind == MERGE and not enforce_http):
            warnings.append(finding.text)
        elif finding.kept:
            warnings.append(finding.text + KEPT)  # an old collision: do not block the update
        else:
            messages.append(finding.text)
    more = search.more()
    if more:
        (messages if messages else warnings).append(more)
    if messages:  # what the denial relies on, for the server to confirm (webhook.core.review)
        denying = [*pools, *(f.rival.claimant for f in search.found.values())]
        review.memo[RELIED_ON] = [(k.group_kind, k.namespace, k.name) for k in denying]
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


def old_claims(review: Review, topo: Topology) -> frozenset[tuple[Slot, str]]:
    """Where the object claimed each hostname before this update."""
    old = review.old_object
    route = Route.parse(old, review.namespace) if old is not None else None
    if route is None:
        return frozenset()
    return frozenset((c.slot, c.hostname) for c in claims_of(route, topo.attach(route)))


def pool_findings(route: Route, review: Review, topo: Topology) -> dict[ObjectKey, Finding]:
    """The operator's own rule, checked before it stalls: one Pool per hostname per namespace
    (whatever the Pools attach to)."""
    if route.key.group_kind != POOL:
        return {}
    old = Route.parse(review.old_object, review.namespace) if review.old_object else None
    kept = set(old.hostnames) if old is not None else set()
    found: dict[ObjectKey, Finding] = {}
    for hostname in route.hostnames:
        for other in topo.pools(route.namespace, hostname):
            if other != route.key and len(found) < MAX_FINDINGS:
                text = pool_text(hostname, other)
                found.setdefault(other, Finding(text, CONFLICT, hostname in kept))
    return found


def pool_text(hostname: str, other: ObjectKey) -> str:
    return (
        f"spec.route.hostname: hostname {hostname} is already claimed by {other} in the same "
        "namespace; the OpenVox operator stalls both Pools when two of them share a hostname. "
        f"Choose another hostname, or disable the route of {other} first"
    )


class Search:
    """The rivals of the object's claims, at most MAX_FINDINGS of them named, the rest
    counted; conflicts (the exact name) first, then wildcard overlaps."""

    def __init__(
        self,
        topo: Topology,
        route: Route,
        scope: str,
        kept: frozenset[tuple[Slot, str]],
        reported: frozenset[ObjectKey],
    ) -> None:
        self.topo, self.route, self.scope = topo, route, scope
        self.kept, self.reported = kept, reported
        self.found: dict[tuple[Lookup, str, str, ObjectKey], Found] = {}
        self.unnamed: dict[tuple[Lookup, str, str], int] = {}
        self.groups: dict[tuple[Lookup, str, str], dict[ObjectKey, Found]] = {}

    def run(self, claims: list[Claim]) -> None:
        mine = [(claim, slot) for claim in claims for slot in self.lookup_slots(claim)]
        for lookup in Lookup:
            for claim, slot in mine:
                for name, holders in self.targets(lookup, claim.hostname, slot):
                    self.collect(lookup, claim, name, slot, holders)

    def lookup_slots(self, claim: Claim) -> list[Slot]:
        """Where to look for rivals of one of the object's own claims."""
        slot = claim.slot
        if slot == CLUSTER:
            return [CLUSTER] if self.scope == "cluster" else []
        if isinstance(slot, Unresolved):
            if slot.section == ALL_SECTIONS:
                return [slot] if claim.parent.section is None else []
            if slot.section is None:
                return []  # looked up through the ALL_SECTIONS slot
            return [slot, slot._replace(section=None)]
        return [slot]

    def targets(self, lookup: Lookup, hostname: str, slot: Slot) -> Iterator[tuple[str, Holders]]:
        if lookup is Lookup.EXACT:
            yield hostname, self.topo.exact(slot, hostname)
        elif lookup is Lookup.WILDCARD and hostname != ANY_HOSTNAME:
            for wildcard in parent_wildcards(hostname):
                yield wildcard, self.topo.exact(slot, wildcard)
        elif lookup is Lookup.COVERS and is_wildcard(hostname):
            yield hostname, self.topo.covered(slot, hostname)

    def collect(self, lookup: Lookup, mine: Claim, name: str, slot: Slot, holders: Holders) -> None:
        if not holders:
            return
        me = self.route.holder
        others = len(holders) - (me in holders)
        if lookup is Lookup.EXACT and self.reported:
            others -= sum(1 for key in self.reported if key in holders and key != me)
        group = (lookup, mine.hostname, name)
        named_here = self.groups.setdefault(group, {})
        named = 0
        # Rivals already named for this name: add this slot to theirs (a bounded loop).
        shared = slot != CLUSTER
        for holder, found in named_here.items():
            if holder in holders:
                if shared or not found.shared:
                    found.add(slot)
                named += 1
        if len(self.found) < MAX_FINDINGS:
            for holder, claims in holders.items():
                if len(self.found) >= MAX_FINDINGS:
                    break
                if holder == me or holder in named_here:
                    continue
                if lookup is Lookup.EXACT and holder in self.reported:
                    continue
                rival = next(iter(claims.values()))
                kept = (mine.slot, mine.hostname) in self.kept
                shown = rival.hostname if lookup is Lookup.COVERS else name
                found = Found(lookup, mine.hostname, shown, rival, kept=kept)
                found.add(slot)
                self.found[(*group, holder)] = named_here[holder] = found
                named += 1
        self.unnamed[group] = max(self.unnamed.get(group, 0), others - named)

    def findings(self) -> list[Finding]:
        return [describe(self.route, found) for found in self.found.values()]

    def more(self) -> str:
        count = sum(self.unnamed.values())
        if count <= 0:
            return ""
        return (
            f"... and {count} more claims of these hostnames by other owners, not listed "
            f"(edgeguard names the first {MAX_FINDINGS})"
        )


def describe(route: Route, found: Found) -> Finding:
    """The finding's text and kind: a conflict, a legal rule merge, or a wildcard overlap."""
    rival = found.rival
    shared = [slot for slot in found.slots if slot != CLUSTER]
    scoped = "" if shared else " (setting scope: cluster)"
    more = f" and {found.more_slots} more listeners" if found.more_slots else ""
    on = f"on {where_of(shared, rival)}{more} by {rival_text(rival)}{scoped}"
    where = f"{route.hostname_field(found.hostname)}: {hostname_text(route, found.hostname)}"
    source = str(rival.holder)
    if found.lookup is Lookup.COVERS:
        effect = (
            f"the more specific name wins, so this route gets no traffic for {found.name}"
            if shared
            else f"DNS decides which Gateway receives {found.name}"
        )
        text = f"{where} covers {found.name}, claimed {on}; {effect}. Make sure that is intended"
        return Finding(text, OVERLAP)
    if found.lookup is Lookup.WILDCARD:
        effect = (
            f"the more specific name wins, so {rival_text(rival)} no longer gets traffic for "
            f"{found.hostname}"
            if shared
            else f"DNS decides which Gateway receives {found.hostname}"
        )
        covered = f"{where} is covered by the wildcard {found.name} claimed {on}"
        return Finding(f"{covered}; {effect}. Make sure that is intended", OVERLAP)
    if route.kind in MERGING_KINDS and route.kind == rival.kind:
        merge = merge_effect(route.kind.kind) if shared else ""
        fix = f"Use another hostname, or move these rules into {rival.claimant}"
        return Finding(f"{where} is also claimed {on}{merge}. {fix}", MERGE, found.kept)
    effect = (
        "Gateway API gives a hostname on a listener to one route only (the oldest wins), "
        "so the other gets no traffic while still showing Accepted"
        if shared
        else "this webhook allows one owner per hostname in the whole cluster"
    )
    shown = "every hostname" if found.hostname == ANY_HOSTNAME else found.hostname
    fix = f"Choose another hostname, or free {shown} in {source} first"
    return Finding(f"{where} is already claimed {on}; {effect}. {fix}", CONFLICT, found.kept)


def hostname_text(route: Route, hostname: str) -> str:
    if hostname == ANY_HOSTNAME:
        return "no hostnames (the route takes every hostname of the listener)"
    if hostname in route.hostnames:
        return f"hostname {hostname}"
    if not route.hostnames:
        return f"hostname {hostname} (the listener's: the route sets no hostnames)"
    return f"hostname {hostname} (where the route's hostnames meet the listener's)"


def where_of(slots: list[Slot], rival: Claim) -> str:
    """`Gateway ns/name listener 'a'` (or listeners 'a', 'b'); per parent for several."""
    if not slots:
        return rival.parent.target
    groups: dict[str, list[str]] = {}
    for slot in slots:
        if isinstance(slot, ListenerId):
            groups.setdefault(slot.owner, []).append(slot.section)
        elif isinstance(slot, Unresolved):
            owner = f"{slot.owner_kind} {slot.namespace}/{slot.name}"
            names = groups.setdefault(owner, [])
            section = slot.section
            if section in (None, ALL_SECTIONS):
                section = rival.parent.section
            if section not in (None, ALL_SECTIONS) and section not in names:
                names.append(section)
    parts = []
    for owner, names in groups.items():
        if not names:
            parts.append(owner)
            continue
        label = " listener " if len(names) == 1 else " listeners "
        parts.append(owner + label + ", ".join(map(repr, names)))
    return " and ".join(parts)


def rival_text(rival: Claim) -> str:
    if rival.holder != rival.claimant:
        return f"{rival.claimant} (owned by {rival.holder})"
    return str(rival.claimant)


def merge_effect(kind: str) -> str:
    return (
        f"; Gateway API merges the rules of {kind}s that share a hostname on a listener, "
        "so requests may reach either route's backends"
    )


# --- locks: the claims an allow relies on, held across replicas (webhook.core.locks) --------


def holder_id(key: ObjectKey) -> str:
    return f"{key.group}/{key.kind}/{key.namespace}/{key.name}"


def holder_key(ident: str) -> ObjectKey | None:
    parts = ident.split("/", 3)
    return ObjectKey(*parts) if len(parts) == 4 else None


def locks(review: Review, view: ClusterView, settings: Settings) -> list[Lock]:
    """One lock per hostname the object takes where a duplicate would be denied, and that its
    owner does not already hold in the view (so an unchanged claim costs no API call)."""
    scope, enforce_http = read_settings(settings)
    obj = review.object
    if review.operation not in ("CREATE", "UPDATE") or obj is None:
        return []
    attachment = attachment_of(review, view)
    if attachment is None or not attachment.route.claims_hostnames:
        return []
    route = attachment.route
    topo = topology(view)
    holder = holder_id(route.holder)
    found: dict[tuple[str, str], Lock] = {}
    merging = route.kind in MERGING_KINDS and not enforce_http
    for claim in [] if merging else claims_for(review, view):
        slot = claim.slot
        if (slot == CLUSTER) != (scope == "cluster"):
            continue
        if isinstance(slot, Unresolved) and slot.section == ALL_SECTIONS:
            continue
        if route.holder in topo.exact(slot, claim.hostname):
            continue
        text = f"hostname {claim.hostname} on {where_of([slot], claim)}"
        ident = slot_id(slot)
        found[(ident, claim.hostname)] = Lock(POLICY.name, ident, claim.hostname, holder, text)
    if route.key.group_kind == POOL:
        for hostname in route.hostnames:
            if route.key not in topo.pools(route.namespace, hostname):
                ident = f"{POOL_SCOPE}/{route.namespace}"
                text = f"hostname {hostname} for Pools in namespace {route.namespace}"
                found[(ident, hostname)] = Lock(POLICY.name, ident, hostname, holder, text)
    return list(found.values())


def holds(view: ClusterView, scope: str, value: str, holder: str) -> bool:
    """Whether the view still shows `holder` claiming `value` in `scope` (a Lease's claim)."""
    key = holder_key(holder)
    if key is None:
        return False
    topo = topology(view)
    if scope.startswith(f"{POOL_SCOPE}/"):
        namespace = scope.removeprefix(f"{POOL_SCOPE}/")
        return any(
            other == key or _holder_of(topo, other) == key
            for other in topo.pools(namespace, value)
        )
    return key in topo.exact(slot_of(scope), value)


def _holder_of(topo: Topology, key: ObjectKey) -> ObjectKey | None:
    entry = topo.entry(key)
    return entry.route.holder if entry is not None else None


POLICY = Policy(
    "unique-hostnames",
    frozenset({POOL, OPENBAO_CLUSTER, TLSROUTE, HTTPROUTE, GRPCROUTE}),
    check,
    # A DELETE is never refused, so the API server need not call (or wait for) the webhook.
    operations=frozenset({"CREATE", "UPDATE"}),
    defaults={SCOPE: "listener", HTTP_DUPLICATES: "Warn"},
    choices={SCOPE: SCOPES, HTTP_DUPLICATES: HTTP_MODES},
    referential=True,
    locks=locks,
    needs=parent_needs,
    holds=holds,
    # What claims are read from (hostnames, parentRefs, owners), Gateways' and ListenerSets'
    # listeners, Namespaces' labels (allowedRoutes selectors).
    reads=with_topology({}),
    description=(
        "One owner per SNI/Host name on a Gateway listener (or cluster-wide): denies duplicate "
        "Pool, OpenBaoCluster and TLSRoute hostnames, warns on HTTPRoute duplicates and on "
        "wildcard overlaps"
    ),
)
