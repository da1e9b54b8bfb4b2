"""Exclusive locks a verdict relies on, held by the API server across every replica.

A policy whose allow means "nobody else has this" (one owner per hostname) declares the locks
it relies on; after an allowed, real admission the server takes each one as an object the API
server creates atomically (a Lease: see webhook.cluster.leases), so two replicas cannot both
allow the same claim. The same idea as Kubernetes' IPAddress objects for Service ClusterIPs
(KEP-1880): the allocated value is the object's name. Types only; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webhook.core.review import Review
    from webhook.core.view import ClusterView


@dataclass(frozen=True)
class Lock:
    """One claim: `scope` and `value` identify what is locked (a listener and a hostname),
    `holder` who holds it (the claiming object's root owner, as `group/Kind/namespace/name`),
    `text` how a message names it."""

    policy: str
    scope: str
    value: str
    holder: str
    text: str

    @property
    def key(self) -> str:
        return f"{self.policy}\n{self.scope}\n{self.value}"


# The locks an allowed review takes (policy settings as the third argument).
Locks = Callable[["Review", "ClusterView", Mapping[str, object]], Sequence[Lock]]
# Whether the view still shows `holder` holding the lock (scope, value): a Lease whose holder
# no longer does is stale and may be taken over or released.
Holds = Callable[["ClusterView", str, str, str], bool]
