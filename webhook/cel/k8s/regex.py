"""Kubernetes CEL regex library: `<string>.find(re)`, `.findAll(re)`, `.findAll(re, n)`.

Patterns are RE2 in Kubernetes; Python's `re` agrees on the common subset. Compiled patterns
are cached because rules pass the same literal on every request.
"""

from __future__ import annotations

import re
from functools import lru_cache

from webhook.cel.k8s.declaration import Overload, member


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"error parsing regexp {pattern!r}: {exc}") from exc


def find(text: str, pattern: str) -> str:
    """The first match, or "" when there is none."""
    match = _compiled(pattern).search(text)
    return match.group(0) if match else ""


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    """All matches (at most `limit` when it is not negative), as Go's FindAllString."""
    if limit == 0:
        return []
    found: list[str] = []
    previous_end = -1
    for match in _compiled(pattern).finditer(text):
        # Go ignores an empty match that abuts the preceding match; Python keeps it.
        if match.start() == match.end() == previous_end:
            continue
        found.append(match.group(0))
        previous_end = match.end()
    return found if limit < 0 else found[:limit]


OVERLOADS: tuple[Overload, ...] = (
    member("find", "string_find_string", ("string", "string"), "string", find),
    member("findAll", "string_find_all_string", ("string", "string"), "list(string)", find_all),
    member(
        "findAll",
        "string_find_all_string_int",
        ("string", "string", "int"),
        "list(string)",
        find_all,
    ),
)
