"""The cluster as policies see it: the read-only `ClusterView`, and the seams that fill it.

`ClusterView` answers by kind, namespace and name, and hands out derived indexes: domain
structures (Gateway API's attachment graph, for one) that the view keeps current on each write
but does not understand. The wiring supplies them as `Derived` factories, and the fields a cached
object keeps as `KeptFields`. Protocols, aliases and plain records only; no implementation here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind
from webhook.core.objects import ObjectKey


@dataclass(frozen=True)
class KeptFields:
    """What a cached object keeps. `spec`: of each kind, the top-level spec fields
    ("rules.backendRefs": only the backendRefs of each rule); a kind not listed keeps its whole
    spec. `status`: of each kind, the top-level status fields (`conditions`); status is
    dropped from every kind but these, and of these all but the fields listed."""

    spec: Mapping[GroupKind, tuple[str, ...]]
    status: Mapping[GroupKind, tuple[str, ...]] = field(default_factory=dict)


class Derived(Protocol):
    """An index the view keeps current: told of each object as the view keeps it, after it is
    stored (`upsert`) and after it is removed (`delete`). `reserves` says whether an object
    makes a claim another object must not also take (offline review admits those in input
    order, as the API server would)."""

    def upsert(self, obj: JSONObject, key: ObjectKey) -> None: ...

    def delete(self, key: ObjectKey) -> None: ...

    def reserves(self, obj: JSONObject, key: ObjectKey) -> bool: ...


DerivedT = TypeVar("DerivedT", bound=Derived)
# Makes a derived index; given the base view's instance for an overlay (pending objects).
Deriving = Callable[[Any], Derived]


class ClusterView(Protocol):
    """Read-only access to the cluster's current objects and derived indexes."""

    @property
    def synced(self) -> bool: ...

    def stale_kinds(self) -> frozenset[GroupKind]:
        """Kinds out of contact with the API server for longer than the freshness bound: what
        the view holds of them may be out of date (checks reading them answer as unsynced)."""
        ...

    def get(self, kind: GroupKind, namespace: str | None, name: str) -> JSONObject | None: ...

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[JSONObject]: ...

    def derived(self, kind: type[DerivedT]) -> DerivedT: ...
