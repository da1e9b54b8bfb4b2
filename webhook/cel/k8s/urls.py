"""Kubernetes CEL URL library: url(), isURL() and the URL getters.

Parsing follows Go's url.ParseRequestURI as Kubernetes uses it: an absolute URI or an
absolute path, no fragment handling, a numeric port, no spaces or control characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote

from webhook.cel.cost import traverse
from webhook.cel.k8s import opaque
from webhook.cel.k8s.declaration import Overload, global_, member
from webhook.cel.k8s.pattern import compiled

_SCHEME = compiled(r"[A-Za-z][A-Za-z0-9+.\-]*")
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


class ParsedURL(NamedTuple):
    scheme: str
    host: str  # with port, IPv6 in brackets, as Go's URL.Host
    path: str  # unescaped
    raw_query: str


@lru_cache(maxsize=256)
def parse_request_uri(text: str) -> ParsedURL:
    """Go's url.ParseRequestURI, for the cases Kubernetes rules meet; ValueError if invalid."""
    if not text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError(f"parse {text!r}: invalid URI for request")
    rest, _, raw_query = text.partition("?")
    scheme = ""
    if not rest.startswith("/"):
        head, colon, tail = rest.partition(":")
        if not colon or not _SCHEME.fullmatch(head):
            raise ValueError(f"parse {text!r}: invalid URI for request")
        scheme, rest = head.lower(), tail
    host = ""
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        host = _check_authority(text, authority.rpartition("@")[2])
    elif scheme and not rest.startswith("/"):
        return ParsedURL(scheme, "", "", raw_query)  # opaque, e.g. "mailto:a@b"
    return ParsedURL(scheme, host, unquote(rest), raw_query)


def _check_authority(text: str, host: str) -> str:
    name, port = host, ""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(f"parse {text!r}: missing ']' in host")
        name, port = host[: end + 1], host[end + 1 :]
        if port and not port.startswith(":"):
            raise ValueError(f"parse {text!r}: invalid port {port!r} after host")
        port = port[1:]
    elif ":" in host:
        name, _, port = host.rpartition(":")
    if (port and not port.isdigit()) or " " in name:
        raise ValueError(f"parse {text!r}: invalid port or host")
    return host


def _parsed(value: Mapping[str, object]) -> ParsedURL:
    return parse_request_uri(opaque.unwrap(value, opaque.URL))


def url(text: str) -> dict[str, str]:
    try:
        parse_request_uri(text)
    except ValueError as exc:
        raise ValueError(f"URL parse error during conversion from string: {exc}") from exc
    return opaque.wrap(opaque.URL, text)


is_url = opaque.validator(parse_request_uri)


def get_scheme(value: Mapping[str, object]) -> str:
    return _parsed(value).scheme


def get_host(value: Mapping[str, object]) -> str:
    return _parsed(value).host


def get_hostname(value: Mapping[str, object]) -> str:
    host = _parsed(value).host
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rpartition(":")[0] if ":" in host else host


def get_port(value: Mapping[str, object]) -> str:
    host = _parsed(value).host
    tail = host[host.find("]") + 1 :] if host.startswith("[") else host
    return tail.rpartition(":")[2] if ":" in tail else ""


def get_escaped_path(value: Mapping[str, object]) -> str:
    return quote(_parsed(value).path, safe=_PATH_SAFE)


def get_query(value: Mapping[str, object]) -> dict[str, list[str]]:
    return parse_qs(_parsed(value).raw_query, keep_blank_values=True)


OVERLOADS: tuple[Overload, ...] = (
    global_("url", "string_to_url", ("string",), "opaque", url, traverse),
    global_("isURL", "is_url_string", ("string",), "bool", is_url, traverse),
    member("getScheme", "url_get_scheme", ("opaque",), "string", get_scheme),
    member("getHost", "url_get_host", ("opaque",), "string", get_host),
    member("getHostname", "url_get_hostname", ("opaque",), "string", get_hostname),
    member("getPort", "url_get_port", ("opaque",), "string", get_port),
    member("getEscapedPath", "url_get_escaped_path", ("opaque",), "string", get_escaped_path),
    member("getQuery", "url_get_query", ("opaque",), "map(string, list(string))", get_query),
)
