"""What a policy is: a named pure function of (Review, ClusterView, settings) to a Decision.

Policies import this module and the core types only; the engine wires them up.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.decision import Decision
from webhook.kinds import GroupKind
from webhook.review import Review
from webhook.view import ClusterView

Settings = Mapping[str, Any]
Check = Callable[[Review, ClusterView, Settings], Decision]


class Mode(enum.Enum):
    """What a policy's denial does: deny, warn, record in the audit log, or nothing."""

    ENFORCE = "Enforce"
    WARN = "Warn"
    AUDIT = "Audit"
    OFF = "Off"


@dataclass(frozen=True)
class Policy:
    """A named check. `referential` policies read other objects from the cluster view."""

    name: str
    kinds: frozenset[GroupKind]
    check: Check
    mutating: bool = False
    default_mode: Mode = Mode.ENFORCE
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # Settings whose value must be one of a few words (checked when the configuration loads).
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    operations: frozenset[str] = frozenset({"CREATE", "UPDATE", "DELETE"})
    referential: bool = False
    description: str = ""

    def matches(self, review: Review) -> bool:
        return review.group_kind in self.kinds and review.operation in self.operations

    def __call__(self, review: Review, view: ClusterView, settings: Settings) -> Decision:
        return self.check(review, view, settings)
