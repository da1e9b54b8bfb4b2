"""How a Kubernetes CEL library function is declared, without naming the CEL runtime.

`webhook.cel` turns these into runtime declarations; library modules only list them, each with
its cost in the Kubernetes cost model (`webhook.cel.cost`; nominal unless said).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from webhook.cel.cost import nominal

# "opaque" is how the Kubernetes opaque types (IP, CIDR, URL, Quantity, Semver, Format) travel:
# a tagged map, see `webhook.cel.k8s.opaque`.
TypeName = Literal[
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "null",
    "duration",
    "timestamp",
    "dyn",
    "list",
    "list(string)",
    "map",
    "map(string, list(string))",
    "opaque",
]


@dataclass(frozen=True)
class Overload:
    function: str
    id: str
    params: tuple[TypeName, ...]
    result: TypeName
    impl: Callable[..., object]
    member: bool = False
    cost: Callable[..., int] = nominal


def member(
    function: str,
    id: str,
    params: tuple[TypeName, ...],
    result: TypeName,
    impl: Callable[..., object],
    cost: Callable[..., int] = nominal,
) -> Overload:
    """A receiver-style overload: `params[0]` is the receiver."""
    return Overload(function, id, params, result, impl, member=True, cost=cost)


def global_(
    function: str,
    id: str,
    params: tuple[TypeName, ...],
    result: TypeName,
    impl: Callable[..., object],
    cost: Callable[..., int] = nominal,
) -> Overload:
    return Overload(function, id, params, result, impl, cost=cost)
