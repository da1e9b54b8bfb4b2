"""Kubernetes CEL quantity library over resource.Quantity semantics, computed exactly.

Parsing follows apimachinery's ParseQuantity: decimal SI (n u m k M G T P E), binary SI
(Ki Mi Gi Ti Pi Ei) and exponents (1e3); precision finer than 1n is rounded up; values
above 2^63-1 are capped. Values travel as exact decimal text, so CEL `==` compares amounts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from functools import lru_cache

from webhook.cel.cost import traverse
from webhook.cel.k8s import opaque
from webhook.cel.k8s.declaration import Overload, global_, member
from webhook.cel.k8s.pattern import compiled

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NANO = 10**9
_FORMAT = compiled(r"([+-]?)(\d*)(?:\.(\d*))?(.*)", dotall=True)
_EXPONENT = compiled(r"[eE]([+-]?\d+)")
_SUFFIXES: Mapping[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def _multiplier(text: str, suffix: str) -> Fraction:
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    exponent = _EXPONENT.fullmatch(suffix)
    if exponent is None or abs(int(exponent.group(1))) > 1000:
        raise ValueError(f"unable to parse quantity's suffix: {text!r}")
    return Fraction(10) ** int(exponent.group(1))


@lru_cache(maxsize=1024)
def parse_quantity(text: str) -> Fraction:
    """The amount `text` denotes, as Kubernetes would store it; ValueError if invalid."""
    match = _FORMAT.fullmatch(text)
    if not text or match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    sign, whole, fraction, suffix = match.groups()
    digits = f"{whole or '0'}.{fraction or '0'}"
    amount = Fraction(digits) * _multiplier(text, suffix)
    amount = Fraction(math.ceil(amount * _NANO), _NANO)  # round up to 1n, as ParseQuantity
    amount = min(amount, Fraction(_INT64_MAX))
    return -amount if sign == "-" else amount


def _canonical(amount: Fraction) -> str:
    """Exact decimal text; the denominator always divides a power of ten here."""
    scaled = amount * _NANO
    if scaled.denominator != 1:
        return f"{amount.numerator}/{amount.denominator}"
    sign = "-" if scaled < 0 else ""
    whole, nanos = divmod(abs(scaled.numerator), _NANO)
    return f"{sign}{whole}.{nanos:09d}".rstrip("0").rstrip(".")


def _amount(value: Mapping[str, object]) -> Fraction:
    return Fraction(opaque.unwrap(value, opaque.QUANTITY))


def wrap_quantity(amount: Fraction) -> dict[str, str]:
    return opaque.wrap(opaque.QUANTITY, _canonical(amount))


def quantity(text: str) -> dict[str, str]:
    return wrap_quantity(parse_quantity(text))


is_quantity = opaque.validator(parse_quantity)


def sign(value: Mapping[str, object]) -> int:
    amount = _amount(value)
    return (amount > 0) - (amount < 0)


def is_integer(value: Mapping[str, object]) -> bool:
    amount = _amount(value)
    return amount.denominator == 1 and _INT64_MIN <= amount <= _INT64_MAX


def as_integer(value: Mapping[str, object]) -> int:
    if not is_integer(value):
        raise ValueError("cannot convert value to integer")
    return _amount(value).numerator


def as_approximate_float(value: Mapping[str, object]) -> float:
    return float(_amount(value))


def add(value: Mapping[str, object], other: Mapping[str, object] | int) -> dict[str, str]:
    addend = Fraction(other) if isinstance(other, int) else _amount(other)
    return wrap_quantity(_amount(value) + addend)


def sub(value: Mapping[str, object], other: Mapping[str, object] | int) -> dict[str, str]:
    subtrahend = Fraction(other) if isinstance(other, int) else _amount(other)
    return wrap_quantity(_amount(value) - subtrahend)


def compare(left: Mapping[str, object], right: Mapping[str, object]) -> int:
    a, b = _amount(left), _amount(right)
    return (a > b) - (a < b)


OVERLOADS: tuple[Overload, ...] = (
    global_("quantity", "string_to_quantity", ("string",), "opaque", quantity, traverse),
    global_("isQuantity", "is_quantity_string", ("string",), "bool", is_quantity, traverse),
    member("sign", "quantity_sign", ("opaque",), "int", sign),
    member("isInteger", "quantity_is_integer", ("opaque",), "bool", is_integer),
    member("asInteger", "quantity_as_integer", ("opaque",), "int", as_integer),
    member(
        "asApproximateFloat",
        "quantity_as_approximate_float",
        ("opaque",),
        "double",
        as_approximate_float,
    ),
    member("add", "quantity_add", ("opaque", "opaque"), "opaque", add),
    member("add", "quantity_add_int", ("opaque", "int"), "opaque", add),
    member("sub", "quantity_sub", ("opaque", "opaque"), "opaque", sub),
    member("sub", "quantity_sub_int", ("opaque", "int"), "opaque", sub),
)
