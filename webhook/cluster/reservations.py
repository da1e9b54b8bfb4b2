"""Pending objects: admitted by this replica, not yet seen in the watch.

`ReservingView` overlays them on the watched objects, so that what this replica admitted is
what its next admission sees (read-your-writes: a Gateway and the TLSRoute applied right after
it), and two racing admissions cannot both take a hostname. Only the server reserves; the watch
loop (and the read-through of objects the watch has not delivered) writes objects, clearing
reservations.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webhook.cluster.memory import MemoryView
from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind
from webhook.core.objects import ObjectKey, key_of, metadata
from webhook.core.review import Review
from webhook.core.view import DerivedT

RESERVING_OPERATIONS = frozenset({"CREATE", "UPDATE"})


@dataclass(frozen=True)
class Reservation:
    key: ObjectKey
    resource_version: str  # of the admitted object: "" for a CREATE
    expires: float


class ReservingView:
    """A ClusterView over the watched MemoryView plus the objects reserved by admission.

    Reads are a union: a reserved object is visible (its version wins over the watched one),
    and the watched version's claims still count, so an UPDATE moving a hostname frees the old
    one only once the watch shows it. The pending objects' derived indexes are overlays on the
    watched ones (their routes attach to the watched Gateways).
    """

    def __init__(
        self,
        memory: MemoryView,
        hold_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory = memory
        self.hold_seconds = hold_seconds
        self._clock = clock
        self._pending = MemoryView(derive=memory.derive, kept=memory.kept, base=memory)
        self._held: dict[ObjectKey, Reservation] = {}
        self._expiry: deque[Reservation] = deque()

    # The ClusterView protocol: reads for policies.

    @property
    def synced(self) -> bool:
        return self.memory.synced

    def stale_kinds(self) -> frozenset[GroupKind]:
        return self.memory.stale_kinds()

    def get(self, kind: GroupKind, namespace: str | None, name: str) -> JSONObject | None:
        found = self._pending.get(kind, namespace, name) if self._live() else None
        return found if found is not None else self.memory.get(kind, namespace, name)

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[JSONObject]:
        watched = self.memory.list(kind, namespace)
        # Every allowed write is reserved, so something is nearly always pending: merge only
        # when this kind (in this namespace) has a pending object.
        pending = self._pending.list(kind, namespace) if self._live() else ()
        return _union(watched, pending) if pending else watched

    def derived(self, kind: type[DerivedT]) -> DerivedT:
        return self._pending.derived(kind) if self._live() else self.memory.derived(kind)

    # The server's side: reservations.

    @property
    def pending(self) -> int:
        self._live()
        return len(self._held)

    def admitted(self, review: Review, allowed: bool) -> bool:
        """Reserve after an allowed, real (not dry-run) CREATE or UPDATE: whatever this replica
        admits is visible to the next admission at once (read-your-writes), until the watch
        shows it or the hold expires.

        Call it right after the verdict, with no await in between: policies run in the
        event loop, so the next admission already sees the reservation.
        """
        if not allowed or review.dry_run or review.operation not in RESERVING_OPERATIONS:
            return False
        if review.object is None:
            return False
        return self.reserve(review.object, review.namespace, review.name)

    def unreserve(self, review: Review) -> None:
        """Drop the reservation an admission made (its claim was refused after all)."""
        if review.object is not None:
            obj = _identified(review.object, review.namespace, review.name)
            key = key_of(obj)
            if key is not None:
                self._release(key)

    def reserve(self, obj: JSONObject, namespace: str | None = None, name: str = "") -> bool:
        """Hold the object until the watch shows it or hold_seconds pass (False: nothing held)."""
        obj = _identified(obj, namespace, name)
        meta = metadata(obj)
        key = key_of(obj)
        self._live()
        if key is None or not meta["name"]:
            return False
        self._release(key)
        version = str(meta.get("resourceVersion") or "")
        reservation = Reservation(key, version, self._clock() + self.hold_seconds)
        self._held[key] = reservation
        self._expiry.append(reservation)
        self._pending.upsert(obj)
        return True

    # The watch loop's side: writes, which clear reservations.

    def mark_synced(self, synced: bool = True) -> None:
        self.memory.mark_synced(synced)

    def mark_stale(self, kinds: frozenset[GroupKind]) -> None:
        self.memory.mark_stale(kinds)

    def upsert(self, obj: JSONObject) -> None:
        self.memory.upsert(obj)
        key = key_of(obj)
        held = self._held.get(key) if key is not None else None
        if held is None:
            return
        # The resourceVersion an UPDATE was admitted against is the object before it.
        seen = str(metadata(obj).get("resourceVersion") or "")
        if not held.resource_version or seen != held.resource_version:
            self._release(held.key)

    def delete(self, kind: GroupKind, namespace: str | None, name: str) -> None:
        self.memory.delete(kind, namespace, name)
        self._release(ObjectKey(kind.group, kind.kind, namespace or "", name))

    def _release(self, key: ObjectKey) -> None:
        if self._held.pop(key, None) is not None:
            self._pending.delete(key.group_kind, key.namespace, key.name)

    def _live(self) -> bool:
        """Drops expired reservations; whether any remain."""
        now = self._clock()
        while self._expiry and self._expiry[0].expires <= now:
            old = self._expiry.popleft()
            if self._held.get(old.key) is old:
                self._release(old.key)
        return bool(self._held)


def _identified(obj: JSONObject, namespace: str | None, name: str) -> JSONObject:
    """The object with the name and namespace of its request where it has none of its own
    (a CREATE with generateName, a namespace taken from the request)."""
    meta = dict(metadata(obj))
    meta["name"] = meta.get("name") or name
    meta["namespace"] = meta.get("namespace") or namespace or ""
    return {**obj, "metadata": meta}


def _union(watched: Sequence[JSONObject], pending: Sequence[JSONObject]) -> list[JSONObject]:
    """Both lists by object key, the pending version in place of the watched one."""
    merged = {key_of(obj): obj for obj in watched}
    merged.update((key_of(obj), obj) for obj in pending)
    return list(merged.values())
