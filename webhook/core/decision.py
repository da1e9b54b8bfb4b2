"""A policy's verdict as a value, made by a few named constructors.

Only the server turns decisions into response JSON; policies never build wire dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

PatchOp = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    messages: tuple[str, ...] = ()
    code: int = 200
    patch: tuple[PatchOp, ...] = ()
    warnings: tuple[str, ...] = ()
    # Extra audit annotations (key, value) the policy records whatever its verdict.
    audit: tuple[tuple[str, str], ...] = ()
    # The policy crashed (made by `errored`): a denial whatever the policy's mode.
    errored: bool = False
    # What the policy could not judge, and why (a class that publishes no features, say):
    # neither a denial nor a warning, shown by `edgeguard review --verbose`, never sent to the
    # API server.
    notes: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(self.messages)

    def with_warnings(self, *warnings: str) -> Decision:
        return replace(self, warnings=self.warnings + tuple(warnings))


def allowed(*warnings: str) -> Decision:
    return Decision(True, warnings=tuple(warnings))


def denied(*messages: str) -> Decision:
    """A denial; several messages are all reported. With none, the verdict is allowed."""
    if not messages:
        return allowed()
    return Decision(False, tuple(messages), 403)


def verdict(
    messages: Iterable[str], warnings: Iterable[str] = (), notes: Iterable[str] = ()
) -> Decision:
    """Denied when there is any message, else allowed; warnings and notes are kept either way."""
    found = tuple(messages)
    return Decision(
        not found, found, 403 if found else 200, warnings=tuple(warnings), notes=tuple(notes)
    )


def patched(ops: Iterable[PatchOp], *warnings: str) -> Decision:
    return Decision(True, patch=tuple(ops), warnings=tuple(warnings))


def errored(exc: BaseException) -> Decision:
    """A policy that crashed: a denial with code 500 (fail closed)."""
    message = f"internal error: {type(exc).__name__}: {exc}"
    return Decision(False, (message,), 500, errored=True)
