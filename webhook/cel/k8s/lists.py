"""Kubernetes CEL list library: isSorted, sum, min, max, indexOf, lastIndexOf.

Follows k8s.io/apiserver/pkg/cel/library/lists.go; mixed element kinds are errors, as there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import pairwise
from typing import Any

from webhook.cel.k8s.declaration import Overload, TypeName, member

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Kinds that may be searched for with indexOf/lastIndexOf (the runtime dispatches on kind).
_ELEMENT_KINDS: tuple[TypeName, ...] = (
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "duration",
    "timestamp",
    "list",
    "map",
)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _check_comparable(items: Sequence[Any]) -> None:
    kinds = {_kind(item) for item in items}
    if len(kinds) > 1:
        raise TypeError(f"no such overload: list elements of mixed types {sorted(kinds)}")


def equal(left: object, right: object) -> bool:
    """CEL equality: bool never equals a number, lists and maps compare element-wise."""
    if _kind(left) != _kind(right):
        return False
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return left == right


def is_sorted(items: list[Any]) -> bool:
    _check_comparable(items)
    return all(a <= b for a, b in pairwise(items))


def total(items: list[Any]) -> object:
    """`sum()`: the zero of the element type for an empty list; int overflow is an error."""
    _check_comparable(items)
    if not items:
        return 0
    if isinstance(items[0], timedelta):
        return sum(items[1:], start=items[0])
    if isinstance(items[0], bool) or not isinstance(items[0], int | float):
        raise TypeError(f"no such overload: sum of {type(items[0]).__name__}")
    result = sum(items)
    if isinstance(result, int) and not _INT64_MIN <= result <= _INT64_MAX:
        raise OverflowError("integer overflow")
    return result


def minimum(items: list[Any]) -> object:
    if not items:
        raise ValueError("min called on empty list")
    _check_comparable(items)
    return min(items)


def maximum(items: list[Any]) -> object:
    if not items:
        raise ValueError("max called on empty list")
    _check_comparable(items)
    return max(items)


def index_of(items: list[Any], wanted: Any) -> int:
    return next((i for i, item in enumerate(items) if equal(item, wanted)), -1)


def last_index_of(items: list[Any], wanted: Any) -> int:
    found = [i for i, item in enumerate(items) if equal(item, wanted)]
    return found[-1] if found else -1


OVERLOADS: tuple[Overload, ...] = (
    member("isSorted", "list_is_sorted", ("list",), "bool", is_sorted),
    member("sum", "list_sum", ("list",), "dyn", total),
    member("min", "list_min", ("list",), "dyn", minimum),
    member("max", "list_max", ("list",), "dyn", maximum),
    *(
        member("indexOf", f"list_index_of_{kind}", ("list", kind), "int", index_of)
        for kind in _ELEMENT_KINDS
    ),
    *(
        member("lastIndexOf", f"list_last_index_of_{kind}", ("list", kind), "int", last_index_of)
        for kind in _ELEMENT_KINDS
    ),
)
