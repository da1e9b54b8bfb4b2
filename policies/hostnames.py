"""Hostnames as Gateway API defines them: validity, wildcards, and which names a wildcard covers.

Compare only normalized names (`webhook.refs.normalize_hostname`).
"""

from __future__ import annotations

import re

# Gateway API's Hostname type: optional "*." prefix, DNS-1123 labels, 1-253 characters.
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_valid(hostname: str) -> bool:
    return 1 <= len(hostname) <= 253 and HOSTNAME.fullmatch(hostname) is not None


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*.")


def problem(hostname: str) -> str | None:
    """Why a hostname is not valid, or None when it is."""
    if not hostname:
        return "must not be empty"
    if len(hostname) > 253:
        return f"is {len(hostname)} characters long; at most 253 are allowed"
    if hostname != hostname.lower():
        return "must be lower case"
    if HOSTNAME.fullmatch(hostname) is None:
        return (
            "is not a valid DNS name: use lower-case labels of letters, digits and '-', "
            "separated by '.', optionally prefixed by '*.'"
        )
    return None
