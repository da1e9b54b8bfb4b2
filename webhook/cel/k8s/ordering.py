"""compareTo, isLessThan and isGreaterThan, shared by Quantity and Semver.

Both types travel as the same map kind, so each function has one overload that dispatches on
the value's tag; comparing a Quantity with a Semver is a no-such-overload error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from webhook.cel.k8s import opaque, quantity, semver
from webhook.cel.k8s.declaration import Overload, member

_COMPARE: Mapping[str, Callable[[Mapping[str, object], Mapping[str, object]], int]] = {
    opaque.QUANTITY: quantity.compare,
    opaque.SEMVER: semver.compare,
}


def compare_to(left: Mapping[str, object], right: Mapping[str, object]) -> int:
    kind = opaque.type_of(left)
    if kind not in _COMPARE or opaque.type_of(right) != kind:
        raise TypeError(f"no such overload: {kind}.compareTo({opaque.type_of(right)})")
    return _COMPARE[kind](left, right)


def is_less_than(left: Mapping[str, object], right: Mapping[str, object]) -> bool:
    return compare_to(left, right) < 0


def is_greater_than(left: Mapping[str, object], right: Mapping[str, object]) -> bool:
    return compare_to(left, right) > 0


OVERLOADS: tuple[Overload, ...] = (
    member("compareTo", "opaque_compare_to", ("opaque", "opaque"), "int", compare_to),
    member("isLessThan", "opaque_is_less_than", ("opaque", "opaque"), "bool", is_less_than),
    member(
        "isGreaterThan", "opaque_is_greater_than", ("opaque", "opaque"), "bool", is_greater_than
    ),
)
