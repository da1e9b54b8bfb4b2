"""route-required-fields: an enabled route needs a valid hostname and a Gateway reference.

A Pool's `spec.route` and an OpenBaoCluster's `spec.gateway` are read as the CRDs define them.
A field of the wrong type (a string where an object belongs, a hostname that is a number)
cannot be checked: it is denied to be safe, with a message naming the field. As before, when
a check is decided by the other fields (a disabled route), a bad type there does not matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from webhook.core import hostnames
from webhook.core.decision import Decision, verdict
from webhook.core.kinds import OPENBAO_CLUSTER, POOL
from webhook.core.policy import Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView

# The first two Pool messages are the OpenVox operator's own CRD messages, with where and how.
POOL_HOSTNAME_REQUIRED = (
    "spec.route.hostname: hostname is required when route is enabled; set it to the SNI name "
    "agents connect to, or set spec.route.enabled to false"
)
POOL_GATEWAY_REQUIRED = (
    "spec.route.gatewayRef.name: gatewayRef.name is required when route is enabled; name the "
    "Gateway (in the Pool's namespace) whose TLS passthrough listener serves the Pool"
)
INVALID = (
    "{}: not a valid Gateway API hostname; use lower-case DNS labels (letters, digits, '-') "
    "separated by '.', at most 253 characters, optionally '*.' first"
)
POOL_WILDCARD_INJECTED = (
    "spec.route.hostname: a wildcard hostname cannot be injected into the Certificate's "
    "dnsAltNames (the operator's Certificate webhook refuses wildcards); use a single name or "
    "set spec.route.injectDNSAltName to false"
)
OPENBAO_HOSTNAME_REQUIRED = (
    "spec.gateway.hostname: hostname is required when the gateway is enabled; set it to the "
    "name clients use to reach OpenBao, or set spec.gateway.enabled to false"
)
OPENBAO_GATEWAY_REQUIRED = (
    "spec.gateway.gatewayRef.name: gatewayRef.name is required when the gateway is enabled; "
    "name the Gateway the OpenBao route attaches to"
)


_MISSING = object()


class Unreadable(Exception):
    """A field whose type makes a check impossible; the message names it."""

    def __init__(self, path: str, expected: str, value: object) -> None:
        problem = (
            "is missing" if value is _MISSING else f"must be {expected}, got {_json_type(value)}"
        )
        super().__init__(f"{path}: {problem}; edgeguard cannot check the route (denied to be safe)")


Term = Callable[[], bool]


def either(*terms: Term) -> bool:
    """True when any term is true, even if another cannot be read; else the first
    unreadable term raises (as CEL's `||` does)."""
    problem: Unreadable | None = None
    for term in terms:
        try:
            if term():
                return True
        except Unreadable as exc:
            problem = problem or exc
    if problem is not None:
        raise problem
    return False


def both(*terms: Term) -> bool:
    """False when any term is false, even if another cannot be read (CEL's `&&`)."""
    problem: Unreadable | None = None
    for term in terms:
        try:
            if not term():
                return False
        except Unreadable as exc:
            problem = problem or exc
    if problem is not None:
        raise problem
    return True


@dataclass(frozen=True)
class Section:
    """`spec.<name>` of the object under review, read field by field as the checks need."""

    obj: Any
    name: str

    @property
    def path(self) -> str:
        return f"spec.{self.name}"

    def _spec(self) -> Any:
        spec = self.obj.get("spec", _MISSING)
        if not isinstance(spec, dict):
            raise Unreadable("spec", "an object", spec)
        return spec

    def present(self) -> Any:
        """The section itself; a missing one cannot be read."""
        found = self._spec().get(self.name, _MISSING)
        if not isinstance(found, dict):
            raise Unreadable(self.path, "an object", found)
        return found

    def field(self, name: str, default: Any) -> Any:
        """A field of the section, `default` when it or the section is missing."""
        section = self._spec().get(self.name, _MISSING)
        if section is _MISSING:
            return default
        if not isinstance(section, dict):
            raise Unreadable(self.path, "an object", section)
        return section.get(name, default)

    def required_field(self, name: str, default: Any) -> Any:
        """A field of the section, `default` when it is missing; the section must be there."""
        return self.present().get(name, default)

    def enabled(self) -> bool:
        return _bool(f"{self.path}.enabled", self.field("enabled", False))

    def hostname_size(self) -> int:
        return _size(f"{self.path}.hostname", self.required_field("hostname", ""))

    def gateway_name_size(self) -> int:
        ref = self.required_field("gatewayRef", _MISSING)
        if ref is _MISSING:
            return 0
        if not isinstance(ref, dict):
            raise Unreadable(f"{self.path}.gatewayRef", "an object", ref)
        return _size(f"{self.path}.gatewayRef.name", ref.get("name", ""))

    def hostname_valid(self) -> bool:
        path = f"{self.path}.hostname"
        hostname = self.present().get("hostname", _MISSING)
        return both(
            lambda: _size(path, hostname) <= hostnames.MAX_LENGTH,
            lambda: hostnames.HOSTNAME.fullmatch(_string(path, hostname)) is not None,
        )


def pool_failures(route: Section) -> Iterator[Callable[[], str | None]]:
    """Each check of a Pool's route: its message when it fails, None when it holds."""
    off: Term = lambda: not route.enabled()  # noqa: E731 - a term, as the others
    yield _rule(POOL_HOSTNAME_REQUIRED, off, lambda: route.hostname_size() > 0)
    yield _rule(POOL_GATEWAY_REQUIRED, off, lambda: route.gateway_name_size() > 0)
    valid = INVALID.format("spec.route.hostname")
    yield _rule(valid, off, lambda: route.hostname_size() == 0, route.hostname_valid)
    yield _rule(
        POOL_WILDCARD_INJECTED,
        off,
        lambda: (
            not _bool(
                f"{route.path}.injectDNSAltName", route.required_field("injectDNSAltName", False)
            )
        ),
        lambda: (
            not _string(f"{route.path}.hostname", route.required_field("hostname", "")).startswith(
                "*."
            )
        ),
    )


def openbao_failures(gateway: Section) -> Iterator[Callable[[], str | None]]:
    off: Term = lambda: not gateway.enabled()  # noqa: E731 - a term, as the others
    yield _rule(OPENBAO_HOSTNAME_REQUIRED, off, lambda: gateway.hostname_size() > 0)
    yield _rule(OPENBAO_GATEWAY_REQUIRED, off, lambda: gateway.gateway_name_size() > 0)
    valid = INVALID.format("spec.gateway.hostname")
    yield _rule(valid, off, lambda: gateway.hostname_size() == 0, gateway.hostname_valid)


def _rule(message: str, *holds: Term) -> Callable[[], str | None]:
    """A check that holds when any of `holds` does; its message otherwise."""
    return lambda: None if either(*holds) else message


def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
    obj = review.object
    if obj is None:
        return verdict(())
    if review.group_kind == POOL:
        rules = pool_failures(Section(obj, "route"))
    elif review.group_kind == OPENBAO_CLUSTER:
        rules = openbao_failures(Section(obj, "gateway"))
    else:
        return verdict(())
    messages: list[str] = []
    for rule in rules:
        try:
            message = rule()
        except Unreadable as exc:
            message = str(exc)
        if message is not None and message not in messages:
            messages.append(message)
    return verdict(messages)


def _bool(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise Unreadable(path, "true or false", value)
    return value


def _string(path: str, value: object) -> str:
    if not isinstance(value, str):
        raise Unreadable(path, "a string", value)
    return value


def _size(path: str, value: object) -> int:
    """CEL's size(): characters of a string, items of a list or an object."""
    if isinstance(value, str | list | dict):
        return len(value)
    raise Unreadable(path, "a string", value)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


POLICY = Policy(
    "route-required-fields",
    frozenset({POOL, OPENBAO_CLUSTER}),
    check,
    operations=frozenset({"CREATE", "UPDATE"}),
    description="An enabled Pool route or OpenBao gateway needs a valid hostname and gatewayRef.",
)
