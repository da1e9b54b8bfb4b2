"""What the engine answers for one request: the combined verdict and each policy's part.

The server, logs, metrics and reports read these; `Result` values are the wire, log and metric
label values of a policy's part.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from webhook.core.decision import PatchOp


class Result(enum.StrEnum):
    """One policy's part in a decision, after its mode was applied."""

    ALLOW = "allow"
    DENY = "deny"
    WARN = "warn"
    AUDIT = "audit"
    PATCH = "patch"
    ERROR = "error"


@dataclass(frozen=True)
class PolicyResult:
    """One policy's part in a decision; `result` labels metrics and logs."""

    policy: str
    result: Result
    messages: tuple[str, ...] = ()
    patch: tuple[PatchOp, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what it could not judge (Decision.notes): for people only


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    code: int = 200
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    patch: tuple[PatchOp, ...] = ()
    audit: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    results: tuple[PolicyResult, ...] = ()
    object: Mapping[str, Any] | None = None
    # A policy crashed: the request is denied as an internal error.
    errored: bool = False

    @property
    def message(self) -> str:
        return "; ".join(self.messages)

    @property
    def decision(self) -> str:
        """allowed, denied or error: the label of metrics and decision logs."""
        return "allowed" if self.allowed else "error" if self.errored else "denied"

    @property
    def fired(self) -> tuple[str, ...]:
        return tuple(r.policy for r in self.results if r.result is not Result.ALLOW)
