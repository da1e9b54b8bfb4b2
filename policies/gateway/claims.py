"""Hostname claims: who holds which effective hostname where, indexed for O(1) rival lookups.

A claim is filed under a slot (a resolved listener; an unresolved parent, when the Gateway or
ListenerSet is not in the view yet; or the whole cluster, for `scope: cluster`) and a
normalized hostname. Under each key, claims are grouped by holder (the owner of the hostname:
a Pool and the TLSRoute it controls are one holder), so the number of rivals is a `len` and the
first few are a slice, however many there are. A second table files every claim under each
wildcard that covers it, in both directions: `*.b.example.com` is filed under `*.example.com`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from policies.gateway.model import ANY_HOSTNAME, ListenerId, Parent
from webhook.core.hostnames import parent_wildcards
from webhook.core.kinds import GroupKind
from webhook.core.objects import ObjectKey

ALL_SECTIONS = "\x00all"  # an unresolved slot holding every sectionName of one parent
CLUSTER = "cluster"  # the slot of `scope: cluster`: one owner per hostname in the cluster


class Unresolved(NamedTuple):
    """A parent that is not in the view: claims there collide by sectionName (unset: any)."""

    owner_kind: str
    namespace: str
    name: str
    section: str | None

    def __str__(self) -> str:
        where = f"{self.owner_kind} {self.namespace}/{self.name}"
        shown = self.section not in (None, ALL_SECTIONS)
        return f"{where} listener {self.section!r}" if shown else where


Slot = ListenerId | Unresolved | str


def slot_id(slot: Slot) -> str:
    """A slot as a stable string (a Lease annotation other replicas read back)."""
    if isinstance(slot, ListenerId):
        return f"listener/{slot.owner_kind}/{slot.namespace}/{slot.name}/{slot.section}"
    if isinstance(slot, Unresolved):
        return f"parent/{slot.owner_kind}/{slot.namespace}/{slot.name}/{slot.section or ''}"
    return str(slot)


def slot_of(ident: str) -> Slot:
    """The slot a `slot_id` names (read back from a Lease). Kubernetes names hold no '/', so
    the split is exact; any other text is returned as is, a slot nothing is ever filed in."""
    prefix, _, rest = ident.partition("/")
    parts = rest.split("/")
    if prefix == "listener" and len(parts) == 4:
        return ListenerId(*parts)
    if prefix == "parent" and len(parts) == 4:
        return Unresolved(parts[0], parts[1], parts[2], parts[3] or None)
    return ident


class Claim(NamedTuple):
    hostname: str  # effective and normalized; ANY_HOSTNAME for every name of the listener
    slot: Slot
    claimant: ObjectKey
    holder: ObjectKey
    kind: GroupKind  # the route kind the claimant attaches as
    parent: Parent


Holders = Mapping[ObjectKey, Mapping[ObjectKey, Claim]]  # holder -> claimant -> claim
EMPTY: Holders = {}


class ClaimIndex:
    """Claims by (slot, hostname), and by (slot, wildcard) for the names a wildcard covers."""

    def __init__(self) -> None:
        self._exact: dict[tuple[Slot, str], dict[ObjectKey, dict[ObjectKey, Claim]]] = {}
        self._covered: dict[tuple[Slot, str], dict[ObjectKey, dict[ObjectKey, Claim]]] = {}

    def add(self, claim: Claim) -> None:
        _file(self._exact, (claim.slot, claim.hostname), claim)
        if claim.hostname != ANY_HOSTNAME:
            for wildcard in parent_wildcards(claim.hostname):
                _file(self._covered, (claim.slot, wildcard), claim)

    def remove(self, claim: Claim) -> None:
        _unfile(self._exact, (claim.slot, claim.hostname), claim)
        if claim.hostname != ANY_HOSTNAME:
            for wildcard in parent_wildcards(claim.hostname):
                _unfile(self._covered, (claim.slot, wildcard), claim)

    def exact(self, slot: Slot, hostname: str) -> Holders:
        return self._exact.get((slot, hostname), EMPTY)

    def covered(self, slot: Slot, wildcard: str) -> Holders:
        """Claims of names under the wildcard (`*.example.com`: `a.example.com`,
        `*.b.example.com`, ...)."""
        return self._covered.get((slot, wildcard), EMPTY)

    def snapshot(self) -> dict[tuple[str, Slot, str], frozenset[Claim]]:
        """Every entry, for comparing two indexes (tests)."""
        out: dict[tuple[str, Slot, str], frozenset[Claim]] = {}
        for table, entries in (("exact", self._exact), ("covered", self._covered)):
            for (slot, name), holders in entries.items():
                out[(table, slot, name)] = frozenset(
                    claim for claims in holders.values() for claim in claims.values()
                )
        return out


def _file(
    table: dict[tuple[Slot, str], dict[ObjectKey, dict[ObjectKey, Claim]]],
    key: tuple[Slot, str],
    claim: Claim,
) -> None:
    table.setdefault(key, {}).setdefault(claim.holder, {})[claim.claimant] = claim


def _unfile(
    table: dict[tuple[Slot, str], dict[ObjectKey, dict[ObjectKey, Claim]]],
    key: tuple[Slot, str],
    claim: Claim,
) -> None:
    holders = table.get(key)
    if holders is None:
        return
    claims = holders.get(claim.holder)
    if claims is not None and claims.get(claim.claimant) == claim:
        del claims[claim.claimant]
        if not claims:
            del holders[claim.holder]
            if not holders:
                del table[key]


class Union(Mapping[ObjectKey, Mapping[ObjectKey, Claim]]):
    """Two holder maps read as one without copying either (an overlay on the watched index):
    a holder in both shows the overlay's claims merged over the base's."""

    def __init__(self, base: Holders, top: Holders) -> None:
        self.base, self.top = base, top

    def __getitem__(self, key: ObjectKey) -> Mapping[ObjectKey, Claim]:
        if key in self.top:
            return {**self.base.get(key, {}), **self.top[key]}
        return self.base[key]

    def __iter__(self) -> Iterator[ObjectKey]:
        yield from self.base
        yield from (key for key in self.top if key not in self.base)

    def __len__(self) -> int:
        return len(self.base) + sum(1 for key in self.top if key not in self.base)

    def __contains__(self, key: object) -> bool:
        return key in self.base or key in self.top


def union(base: Holders, top: Holders) -> Holders:
    if not top:
        return base
    if not base:
        return top
    return Union(base, top)
