"""Kubernetes CEL CIDR library: cidr(), isCIDR(), containment, and string() of IP and CIDR.

As Go's netip.ParsePrefix, host bits are kept ("10.0.0.1/8" stays so); masked() clears them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache

from webhook.cel.cost import traverse
from webhook.cel.k8s import opaque
from webhook.cel.k8s.declaration import Overload, global_, member
from webhook.cel.k8s.ip import Address, address_of, parse_ip, wrap_ip

Prefix = tuple[Address, int]


@lru_cache(maxsize=1024)
def parse_cidr(text: str) -> Prefix:
    """(address, prefix length); ValueError unless Kubernetes accepts `text`."""
    error = f"network address parse error during conversion from string: {text!r}"
    address_text, slash, bits_text = text.partition("/")
    if not slash or not bits_text.isdigit() or (bits_text != "0" and bits_text[0] == "0"):
        raise ValueError(error)
    try:
        address = parse_ip(address_text)
    except ValueError as exc:
        raise ValueError(f"{error}: {exc}") from exc
    bits = int(bits_text)
    if bits > address.max_prefixlen:
        raise ValueError(error)
    return address, bits


def _prefix_of(value: Mapping[str, object]) -> Prefix:
    return parse_cidr(opaque.unwrap(value, opaque.CIDR))


def _network(prefix: Prefix) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network((prefix[0], prefix[1]), strict=False)


def _wrap(prefix: Prefix) -> dict[str, str]:
    return opaque.wrap(opaque.CIDR, f"{prefix[0]}/{prefix[1]}")


def cidr(text: str) -> dict[str, str]:
    return _wrap(parse_cidr(text))


is_cidr = opaque.validator(parse_cidr)


def contains_ip(value: Mapping[str, object], other: Mapping[str, object] | str) -> bool:
    address = parse_ip(other) if isinstance(other, str) else address_of(other)
    network = _network(_prefix_of(value))
    return address.version == network.version and address in network


def contains_cidr(value: Mapping[str, object], other: Mapping[str, object] | str) -> bool:
    inner = parse_cidr(other) if isinstance(other, str) else _prefix_of(other)
    outer = _prefix_of(value)
    network = _network(outer)
    return inner[0].version == network.version and inner[1] >= outer[1] and inner[0] in network


def cidr_ip(value: Mapping[str, object]) -> dict[str, str]:
    return wrap_ip(_prefix_of(value)[0])


def masked(value: Mapping[str, object]) -> dict[str, str]:
    network = _network(_prefix_of(value))
    return _wrap((network.network_address, network.prefixlen))


def prefix_length(value: Mapping[str, object]) -> int:
    return _prefix_of(value)[1]


def to_string(value: Mapping[str, object]) -> str:
    """string(ip) and string(cidr): both travel as the same map kind, so one overload."""
    if opaque.type_of(value) == opaque.IP:
        return str(address_of(value))
    prefix = _prefix_of(value)
    return f"{prefix[0]}/{prefix[1]}"


OVERLOADS: tuple[Overload, ...] = (
    global_("cidr", "string_to_cidr", ("string",), "opaque", cidr, traverse),
    global_("isCIDR", "is_cidr_string", ("string",), "bool", is_cidr, traverse),
    member("containsIP", "cidr_contains_ip_ip", ("opaque", "opaque"), "bool", contains_ip),
    member("containsIP", "cidr_contains_ip_string", ("opaque", "string"), "bool", contains_ip),
    member("containsCIDR", "cidr_contains_cidr_cidr", ("opaque", "opaque"), "bool", contains_cidr),
    member(
        "containsCIDR", "cidr_contains_cidr_string", ("opaque", "string"), "bool", contains_cidr
    ),
    member("ip", "cidr_ip", ("opaque",), "opaque", cidr_ip),
    member("masked", "cidr_masked", ("opaque",), "opaque", masked),
    member("prefixLength", "cidr_prefix_length", ("opaque",), "int", prefix_length),
    global_("string", "string_ip_or_cidr", ("opaque",), "string", to_string),
)
