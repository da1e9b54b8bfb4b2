"""Kubernetes CEL regex library: `<string>.find(re)`, `.findAll(re)`, `.findAll(re, n)`.

Patterns are RE2, as in Kubernetes (k8s.io/apiserver/pkg/cel/library/regex.go uses Go's
regexp): matching is linear in the input, so no pattern can stall an evaluation. Compiled
patterns are cached because rules pass the same literal on every request.
"""

from __future__ import annotations

from webhook.cel.cost import regex
from webhook.cel.k8s.declaration import Overload, member
from webhook.cel.k8s.pattern import PatternError, compiled


def _pattern(pattern: str) -> object:
    try:
        return compiled(pattern)
    except PatternError as exc:
        raise ValueError(f"Illegal regex: {exc}") from exc


def find(text: str, pattern: str) -> str:
    """The first match, or "" when there is none."""
    match = _pattern(pattern).search(text)  # type: ignore[attr-defined]
    return str(match.group(0)) if match else ""


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    """All matches (at most `limit` when it is not negative), as Go's FindAllString."""
    if limit == 0:
        return []
    found: list[str] = []
    previous_end = -1
    for match in _pattern(pattern).finditer(text):  # type: ignore[attr-defined]
        # Go ignores an empty match that abuts the preceding match; RE2's finditer keeps it.
        if match.start() == match.end() == previous_end:
            continue
        found.append(str(match.group(0)))
        previous_end = match.end()
        if 0 < limit <= len(found):
            break
    return found


OVERLOADS: tuple[Overload, ...] = (
    member("find", "string_find_string", ("string", "string"), "string", find, regex),
    member(
        "findAll", "string_find_all_string", ("string", "string"), "list(string)", find_all,
        regex,
    ),
    member(
        "findAll",
        "string_find_all_string_int",
        ("string", "string", "int"),
        "list(string)",
        find_all,
        regex,
    ),
)
