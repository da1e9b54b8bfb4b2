"""RE2 regular expressions, as Kubernetes' CEL libraries use them (Go's regexp is RE2).

Linear time whatever the input; no backreferences or lookaround (a compile error, as in Go);
`\\d`, `\\w` and `\\s` are ASCII. Errors are worded as Go's regexp ("error parsing regexp: ...").
The one door to google-re2 (module `re2`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr
_DOTALL = re2.Options()
_DOTALL.log_errors = False
_DOTALL.dot_nl = True


class PatternError(ValueError):
    """A pattern RE2 (and so Kubernetes) refuses; the message is Go's wording."""


Pattern = Any  # re2._Regexp, which the package does not type


@lru_cache(maxsize=256)
def compiled(pattern: str, dotall: bool = False) -> Pattern:
    try:
        return re2.compile(pattern, _DOTALL if dotall else _OPTIONS)
    except re2.error as exc:
        raise PatternError(f"error parsing regexp: {_go_text(exc)}") from exc


# RE2's error codes (re2.cc, CodeText) in Go's words (regexp/syntax, ErrorCode), which are
# what Kubernetes prints.
_GO_WORDS = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}


def _go_text(exc: Exception) -> str:
    """`invalid escape sequence: \\1` (RE2) as Go words it: "invalid escape sequence: `\\1`"."""
    raw = exc.args[0] if exc.args else b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, sep, argument = text.partition(": ")
    words = _GO_WORDS.get(code, code)
    return f"{words}: `{argument if sep else ''}`"
