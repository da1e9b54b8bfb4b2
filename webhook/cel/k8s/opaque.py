"""The wire form of Kubernetes' opaque CEL types: a map {"@type": name, "value": canonical}.

cel-expr-python cannot carry Python objects through CEL (an abstract/opaque type fails with
"Unimplemented type: 13"), so each value travels as a tagged map whose canonical text makes
CEL equality agree with Kubernetes' (e.g. quantity("1") == quantity("1000m")).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

TYPE_KEY = "@type"
VALUE_KEY = "value"

IP = "net.IP"
CIDR = "net.CIDR"
URL = "kubernetes.URL"
QUANTITY = "kubernetes.Quantity"
SEMVER = "kubernetes.Semver"
FORMAT = "kubernetes.NamedFormat"


def wrap(type_name: str, text: str) -> dict[str, str]:
    return {TYPE_KEY: type_name, VALUE_KEY: text}


def type_of(value: Mapping[str, object]) -> str:
    tag = value.get(TYPE_KEY)
    return tag if isinstance(tag, str) else "map"


def unwrap(value: Mapping[str, object], type_name: str) -> str:
    """The canonical text of `value`, which must be a `type_name`; else a no-overload error."""
    text = value.get(VALUE_KEY)
    if type_of(value) != type_name or not isinstance(text, str):
        raise TypeError(f"no such overload: expected {type_name}, got {type_of(value)}")
    return text


def validator(parse: Callable[[str], object]) -> Callable[[str], bool]:
    """isIP, isCIDR, isQuantity...: whether `parse` accepts the text (it raises ValueError)."""

    def valid(text: str) -> bool:
        try:
            parse(text)
        except ValueError:
            return False
        return True

    return valid
