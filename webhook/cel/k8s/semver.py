"""Kubernetes CEL semver library: semver(), isSemver(), major/minor/patch and ordering.

Strict Semantic Versioning 2.0.0 as blang/semver's Parse: no "v" prefix, no leading zeros.
Build metadata is dropped from the travelling text because it never affects comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from webhook.cel.cost import traverse
from webhook.cel.k8s import opaque
from webhook.cel.k8s.declaration import Overload, global_, member
from webhook.cel.k8s.pattern import compiled

_NUMBER = r"(0|[1-9]\d*)"
_IDENTIFIER = r"(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = compiled(
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
    rf"(?:-({_IDENTIFIER}(?:\.{_IDENTIFIER})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


class Version(NamedTuple):
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...]

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.pre)}" if self.pre else core


@lru_cache(maxsize=1024)
def parse_semver(text: str) -> Version:
    match = _SEMVER.fullmatch(text)
    if match is None:
        raise ValueError(f"could not parse {text!r} as semver")
    pre = tuple(match.group(4).split(".")) if match.group(4) else ()
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre)


def _pre_key(identifier: str) -> tuple[int, int, str]:
    """Numeric identifiers sort before alphanumeric ones, numerically."""
    return (0, int(identifier), "") if identifier.isdigit() else (1, 0, identifier)


def _order(version: Version) -> tuple[Any, ...]:
    # A release sorts after all of its pre-releases.
    pre = (0, tuple(_pre_key(part) for part in version.pre)) if version.pre else (1, ())
    return (version.major, version.minor, version.patch, pre)


def _version(value: Mapping[str, object]) -> Version:
    return parse_semver(opaque.unwrap(value, opaque.SEMVER))


def semver(text: str) -> dict[str, str]:
    return opaque.wrap(opaque.SEMVER, str(parse_semver(text)))


is_semver = opaque.validator(parse_semver)


def major(value: Mapping[str, object]) -> int:
    return _version(value).major


def minor(value: Mapping[str, object]) -> int:
    return _version(value).minor


def patch(value: Mapping[str, object]) -> int:
    return _version(value).patch


def compare(left: Mapping[str, object], right: Mapping[str, object]) -> int:
    a, b = _order(_version(left)), _order(_version(right))
    return (a > b) - (a < b)


OVERLOADS: tuple[Overload, ...] = (
    global_("semver", "string_to_semver", ("string",), "opaque", semver, traverse),
    global_("isSemver", "is_semver_string", ("string",), "bool", is_semver, traverse),
    member("major", "semver_major", ("opaque",), "int", major),
    member("minor", "semver_minor", ("opaque",), "int", minor),
    member("patch", "semver_patch", ("opaque",), "int", patch),
)
