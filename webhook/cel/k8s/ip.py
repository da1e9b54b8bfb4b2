"""Kubernetes CEL IP library: ip(), isIP() and the address predicates, as Go's netip.Addr.

Like Kubernetes, zones ("fe80::1%eth0") and IPv4-mapped IPv6 ("::ffff:1.2.3.4") are refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache

from webhook.cel.cost import traverse
from webhook.cel.k8s import opaque
from webhook.cel.k8s.declaration import Overload, global_, member

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_LINK_LOCAL_MULTICAST_V4 = ipaddress.ip_network("224.0.0.0/24")
_BROADCAST_V4 = ipaddress.IPv4Address("255.255.255.255")


@lru_cache(maxsize=1024)
def parse_ip(text: str) -> Address:
    """An address as Kubernetes accepts it; ValueError otherwise."""
    if "%" in text:
        raise ValueError(f"IP address {text!r} with zone value is not allowed")
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise ValueError(f"IP Address {text!r} parse error during conversion from string") from exc
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address {text!r} is not allowed")
    return address


def address_of(value: Mapping[str, object]) -> Address:
    return parse_ip(opaque.unwrap(value, opaque.IP))


def wrap_ip(address: Address) -> dict[str, str]:
    return opaque.wrap(opaque.IP, str(address))


def ip(text: str) -> dict[str, str]:
    return wrap_ip(parse_ip(text))


is_ip = opaque.validator(parse_ip)


def family(value: Mapping[str, object]) -> int:
    return address_of(value).version


def is_unspecified(value: Mapping[str, object]) -> bool:
    return address_of(value).is_unspecified


def is_loopback(value: Mapping[str, object]) -> bool:
    return address_of(value).is_loopback


def is_link_local_multicast(value: Mapping[str, object]) -> bool:
    address = address_of(value)
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LINK_LOCAL_MULTICAST_V4
    packed = address.packed
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


def is_link_local_unicast(value: Mapping[str, object]) -> bool:
    return address_of(value).is_link_local and not address_of(value).is_multicast


def is_global_unicast(value: Mapping[str, object]) -> bool:
    """Go's definition: private ranges count as global unicast, unlike Python's is_global."""
    address = address_of(value)
    return not (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or address.is_link_local
        or address == _BROADCAST_V4
    )


OVERLOADS: tuple[Overload, ...] = (
    global_("ip", "string_to_ip", ("string",), "opaque", ip, traverse),
    global_("isIP", "is_ip_string", ("string",), "bool", is_ip, traverse),
    member("family", "ip_family", ("opaque",), "int", family),
    member("isUnspecified", "ip_is_unspecified", ("opaque",), "bool", is_unspecified),
    member("isLoopback", "ip_is_loopback", ("opaque",), "bool", is_loopback),
    member(
        "isLinkLocalMulticast",
        "ip_is_link_local_multicast",
        ("opaque",),
        "bool",
        is_link_local_multicast,
    ),
    member(
        "isLinkLocalUnicast",
        "ip_is_link_local_unicast",
        ("opaque",),
        "bool",
        is_link_local_unicast,
    ),
    member("isGlobalUnicast", "ip_is_global_unicast", ("opaque",), "bool", is_global_unicast),
)
