"""The cost of an evaluation, in the Kubernetes cost model's units, for the functions edgeguard
implements in Python (the Kubernetes libraries in `webhook.cel.k8s`).

cel-expr-python exposes no cost tracker, so cel-cpp's own operations (comprehensions, string
concatenation) are not metered here: the worker's deadline and address-space limit bound them
(`webhook.vap.workers`). Each Python-implemented function charges what the API server's
CallCost charges (k8s.io/apiserver/pkg/cel/library/cost.go) plus one unit per list element it
is handed, since converting its arguments is what such a call really costs here. An expression
over PER_CALL_LIMIT fails, and a policy evaluation over RUNTIME_BUDGET stops, with the API
server's words.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# k8s.io/apiserver/pkg/apis/cel/config.go
PER_CALL_LIMIT = 1_000_000
RUNTIME_BUDGET = 10_000_000
# cel-go common/cost.go
STRING_TRAVERSAL_FACTOR = 0.1
REGEX_LENGTH_FACTOR = 0.25

ELEMENT_COST = 4

LIMIT_EXCEEDED = "operation cancelled: actual cost limit exceeded"
OUT_OF_BUDGET = (
    "validation failed due to running out of cost budget, no further validation rules will be run"
)


class CostLimitExceeded(Exception):
    """An expression spent more than PER_CALL_LIMIT."""

    def __init__(self) -> None:
        super().__init__(LIMIT_EXCEEDED)


class Meter:
    """What the expression being evaluated has spent; one per process (a worker evaluates one
    expression at a time). `on_exceeded` may end the evaluation at once: cel-cpp goes on
    calling functions after one failed, so a worker stops itself instead (webhook.vap.worker)."""

    def __init__(self, limit: int = PER_CALL_LIMIT) -> None:
        self.limit = limit
        self.spent = 0
        self.exceeded = False
        self.on_exceeded: Callable[[], None] | None = None

    def start(self) -> None:
        self.spent, self.exceeded = 0, False

    def charge(self, units: int) -> None:
        self.spent += units
        if self.spent > self.limit or self.exceeded:
            self.exceeded = True
            if self.on_exceeded is not None:
                self.on_exceeded()
            raise CostLimitExceeded


METER = Meter()


def string_cost(text: object, factor: float = STRING_TRAVERSAL_FACTOR) -> int:
    return math.ceil(len(text) * factor) if isinstance(text, str | bytes) else 1


def nominal(*args: object) -> int:
    return 1


def traverse(*args: object) -> int:
    """A string traversal of the first argument (parsers, url(), ip(), quantity() ...)."""
    return string_cost(args[0]) if args else 1


def regex(text: object, pattern: object, *rest: object) -> int:
    """find / findAll: the string's traversal times the pattern's length (cost.go)."""
    length = len(text) if isinstance(text, str) else 0
    strings = math.ceil((1 + length) * STRING_TRAVERSAL_FACTOR)
    return strings * string_cost(pattern, REGEX_LENGTH_FACTOR)


def elements(args: tuple[object, ...]) -> int:
    """What converting the arguments cost: ELEMENT_COST per element of each list argument."""
    return ELEMENT_COST * sum(len(arg) for arg in args if isinstance(arg, list))
