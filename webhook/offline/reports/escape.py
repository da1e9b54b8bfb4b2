"""Text from manifests made safe to show: control and invisible characters escaped.

An object's name, a file name or a message quoting a field can hold ANSI escapes, `\\r` or a
right-to-left override that would hide or rewrite a DENY line in a terminal or a CI log, or
make XML invalid. Every report passes such text through `printable` first.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with each character that is not printable (controls, format characters such as
    bidi overrides, separators other than the space) written as its Python escape (`\\x1b`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(character: str) -> str:
    return character.encode("unicode_escape").decode("ascii")
