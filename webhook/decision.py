"""A policy's verdict as a value, made by a few named constructors.

Only the server turns decisions into response JSON; policies never build wire dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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

    @property
    def message(self) -> str:
        return "; ".join(self.messages)

    def with_warnings(self, *warnings: str) -> Decision:
        return Decision(
            self.allowed,
            self.messages,
            self.code,
            self.patch,
            self.warnings + tuple(warnings),
            self.audit,
        )


def allowed(*warnings: str) -> Decision:
    return Decision(True, warnings=tuple(warnings))


def denied(*messages: str) -> Decision:
    """A denial; several messages are all reported. With none, the verdict is allowed."""
    if not messages:
        return allowed()
    return Decision(False, tuple(messages), 403)


def verdict(messages: Iterable[str], warnings: Iterable[str] = ()) -> Decision:
    """Denied when there is any message, else allowed; warnings are kept either way."""
    found = tuple(messages)
    return Decision(not found, found, 403 if found else 200, warnings=tuple(warnings))


def patched(ops: Iterable[PatchOp], *warnings: str) -> Decision:
    return Decision(True, patch=tuple(ops), warnings=tuple(warnings))


def errored(exc: BaseException) -> Decision:
    """A policy that crashed: a denial with code 500 (fail closed)."""
    return Decision(False, (f"internal error: {type(exc).__name__}: {exc}",), 500)
