"""What a policy is: a named pure function of (Review, ClusterView, settings) to a Decision.

Policies import this module and the core types only; the engine wires them up.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webhook.core.decision import Decision
from webhook.core.kinds import KINDS, GroupKind
from webhook.core.locks import Holds, Locks
from webhook.core.review import Review
from webhook.core.view import ClusterView, KeptFields

Settings = Mapping[str, Any]
# (kind, namespace, name): one object; name None: every object of the kind in the namespace.
Need = tuple[GroupKind, str | None, str | None]
Needs = Callable[[Review, ClusterView], Sequence[Need]]
Check = Callable[[Review, ClusterView, Settings], Decision]
Deferred = Callable[[Review, ClusterView, Settings], Awaitable[Decision]]


class Mode(enum.Enum):
    """What a policy's denial does: deny, warn, record in the audit log, or nothing."""

    ENFORCE = "Enforce"
    WARN = "Warn"
    AUDIT = "Audit"
    OFF = "Off"


@dataclass(frozen=True)
class Policy:
    """A named check. `referential` policies read other objects from the cluster view.

    `reads` names, by kind, the top-level spec fields the policy reads of objects it gets from
    the view (`rules.backendRefs`: only the backendRefs of each rule); the view keeps those
    and drops the rest of the spec of the kinds it watches (`kept_fields`). `reads_status`
    names the top-level status fields it reads (`conditions`): the view drops every other
    status field.
    """

    name: str
    kinds: frozenset[GroupKind]
    check: Check
    mutating: bool = False
    default_mode: Mode = Mode.ENFORCE
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # Settings whose value must be one of a few words (checked when the configuration loads).
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Settings checked further when the configuration loads: what is wrong with a value (a
    # sentence), or None when it is fine.
    setting_checks: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)
    operations: frozenset[str] = frozenset({"CREATE", "UPDATE", "DELETE"})
    referential: bool = False
    description: str = ""
    reads: Mapping[GroupKind, tuple[str, ...]] = field(default_factory=dict)
    reads_status: Mapping[GroupKind, tuple[str, ...]] = field(default_factory=dict)
    # The exclusive claims an allow relies on (webhook.core.locks), and how the view tells
    # whether a holder still holds one; None for policies whose verdicts need no lock.
    locks: Locks | None = None
    holds: Holds | None = None
    # The objects a check reads by name (or a kind in a namespace, name None) that the view
    # lacks: the server reads them through from the API server first (read-your-writes).
    needs: Needs | None = None
    # The same check without blocking the event loop (user policies, whose CEL runs in worker
    # processes): the server awaits it; `check` blocks (edgeguard review, tests).
    deferred: Deferred | None = None

    def matches(self, review: Review) -> bool:
        return review.group_kind in self.kinds and review.operation in self.operations

    def __call__(self, review: Review, view: ClusterView, settings: Settings) -> Decision:
        return self.check(review, view, settings)


def kept_fields(policies: Iterable[Policy]) -> KeptFields:
    """The spec fields the view keeps of each watched kind: those the policies read, and none
    of a kind no policy reads. Kinds the view does not watch keep their whole spec. Status
    fields: only those the policies read."""
    fields: dict[GroupKind, set[str]] = {kind: set() for kind in KINDS}
    status: dict[GroupKind, set[str]] = {}
    for policy in policies:
        for kind, names in policy.reads.items():
            fields.setdefault(kind, set()).update(names)
        for kind, names in policy.reads_status.items():
            status.setdefault(kind, set()).update(names)
    return KeptFields(
        {kind: tuple(sorted(names)) for kind, names in fields.items()},
        {kind: tuple(sorted(names)) for kind, names in status.items()},
    )
