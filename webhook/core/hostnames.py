"""Hostnames as Gateway API defines them: the one hostname pattern, validity, wildcards, and
which wildcards cover a name.

Names compare as DNS names: `normalize` them first.
"""

from __future__ import annotations

import re

# Gateway API's Hostname type: optional "*." prefix, DNS-1123 labels, 1-253 characters.
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_LENGTH = 253


def normalize(hostname: str) -> str:
    """Hostnames compare as DNS names: lower-cased, one trailing dot removed."""
    lowered = hostname.lower()
    return lowered[:-1] if lowered.endswith(".") else lowered


def is_valid(hostname: str) -> bool:
    return 1 <= len(hostname) <= MAX_LENGTH and HOSTNAME.fullmatch(hostname) is not None


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*.")


def problem(hostname: str) -> str | None:
    """Why a hostname is not valid, or None when it is."""
    if not hostname:
        return "must not be empty"
    if len(hostname) > MAX_LENGTH:
        return f"is {len(hostname)} characters long; at most {MAX_LENGTH} are allowed"
    if hostname != hostname.lower():
        return "must be lower case"
    if HOSTNAME.fullmatch(hostname) is None:
        return (
            "is not a valid DNS name: use lower-case labels of letters, digits and '-', "
            "separated by '.', optionally prefixed by '*.'"
        )
    return None


def parent_wildcards(hostname: str) -> list[str]:
    """The wildcards that cover a name: a.b.example.com -> *.b.example.com, *.example.com, *.com.

    A wildcard label matches one or more labels, so `*.example.com` covers `a.b.example.com`.
    """
    labels = hostname.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]
