"""The cluster as policies see it: the read-only `ClusterView`, and the seams that fill it.

`ClusterView` answers by kind, namespace and name, and from indexes (hostname claims, the
objects attached to a Gateway, the users of a Service). What goes into those indexes is domain
knowledge the framework does not have: the wiring supplies it as `Indexers`, and the fields a
cached object keeps as `KeptFields`. Protocols and aliases only; no implementation here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind
from webhook.core.objects import ObjectKey

# Of each kind, the top-level spec fields a cached object keeps ("rules.backendRefs": only the
# backendRefs of each rule). A kind not listed keeps its whole spec.
KeptFields = Mapping[GroupKind, tuple[str, ...]]
# Where an object is filed in a name index: (namespace, name) of a Gateway or a Service.
Slot = tuple[str, str]


class Claim(Hashable, Protocol):
    """What the view needs of a hostname claim: the (normalized) name it is filed under."""

    @property
    def hostname(self) -> str: ...


ClaimT = TypeVar("ClaimT", bound=Claim)
ClaimT_co = TypeVar("ClaimT_co", bound=Claim, covariant=True)


class ClusterView(Protocol[ClaimT_co]):
    """Read-only access to the cluster's current objects and indexes."""

    @property
    def synced(self) -> bool: ...

    def get(self, kind: GroupKind, namespace: str | None, name: str) -> JSONObject | None: ...

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[JSONObject]: ...

    def claims(self, hostname: str) -> Sequence[ClaimT_co]: ...

    def covered(self, wildcard: str) -> Sequence[ClaimT_co]: ...

    def attached(self, namespace: str, gateway: str) -> Sequence[JSONObject]: ...

    def backend_users(self, namespace: str, service: str) -> Sequence[JSONObject]: ...


class Indexers(Protocol[ClaimT_co]):
    """How the view files an object in its indexes (called on the object as the view keeps it).

    `claims`: the hostnames it claims (`ClusterView.claims`, and `covered` for the wildcards
    covering them); `parents`: the Gateways it attaches to (`attached`); `backends`: the
    Services it sends traffic to (`backend_users`).
    """

    def claims(self, obj: JSONObject, key: ObjectKey) -> Iterable[ClaimT_co]: ...

    def parents(self, obj: JSONObject) -> Iterable[Slot]: ...

    def backends(self, obj: JSONObject) -> Iterable[Slot]: ...
