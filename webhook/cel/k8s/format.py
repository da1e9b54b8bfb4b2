"""Kubernetes CEL format library: `format.<name>()` and `<Format>.validate(string)`.

Kubernetes returns optional<list<string>> from validate; cel-expr-python cannot return an
optional from a Python function, so `validate` returns the list of errors, empty when valid.
`format.named(name)` errors on an unknown name instead of returning optional.none().
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime

from webhook.cel.cost import string_cost
from webhook.cel.k8s import opaque
from webhook.cel.k8s.declaration import Overload, global_, member
from webhook.cel.k8s.pattern import compiled
from webhook.cel.k8s.urls import parse_request_uri

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_DATE = compiled(r"\d{4}-\d{2}-\d{2}")
_DATETIME = compiled(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    """apimachinery's RegexError wording, double space included."""
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


def _max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _matcher(pattern: str) -> Callable[[str], bool]:
    regexp = compiled(pattern)
    return lambda text: regexp.fullmatch(text) is not None


_is_label = _matcher(_DNS1123_LABEL)
_is_subdomain = _matcher(_DNS1123_SUBDOMAIN)
_is_1035 = _matcher(_DNS1035_LABEL)
_is_qualified = _matcher(_QUALIFIED_NAME)
_is_label_value = _matcher(_LABEL_VALUE)


def dns1123_label(text: str) -> list[str]:
    errors = [_max_len(63)] if len(text) > 63 else []
    if not _is_label(text):
        errors.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
                " '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL,
                "my-name",
                "123-abc",
            )
        )
    return errors


def dns1123_subdomain(text: str) -> list[str]:
    errors = [_max_len(253)] if len(text) > 253 else []
    if not _is_subdomain(text):
        errors.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
                " '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN,
                "example.com",
            )
        )
    return errors


def dns1035_label(text: str) -> list[str]:
    errors = [_max_len(63)] if len(text) > 63 else []
    if not _is_1035(text):
        errors.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start"
                " with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_LABEL,
                "my-name",
                "abc-123",
            )
        )
    return errors


def qualified_name(text: str) -> list[str]:
    parts = text.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_MESSAGE, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errors: list[str] = []
    if len(parts) == 2:
        if not parts[0]:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + error for error in dns1123_subdomain(parts[0]))
    name = parts[-1]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + _max_len(63))
    if name and not _is_qualified(name):
        errors.append(
            "name part "
            + _regex_error(_QUALIFIED_MESSAGE, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
        )
    return errors


_QUALIFIED_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an"
    " alphanumeric character"
)


def label_value(text: str) -> list[str]:
    errors = [_max_len(63)] if len(text) > 63 else []
    if not _is_label_value(text):
        errors.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-',"
                " '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errors


def _prefix(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """A generateName prefix may end in '-': mask it as apimachinery's maskTrailingDash does."""

    def validate(text: str) -> list[str]:
        masked = text[:-1] + "a" if len(text) > 1 and text.endswith("-") else text
        return check(masked)

    return validate


def _one(check: Callable[[str], object], message: str) -> Callable[[str], list[str]]:
    def validate(text: str) -> list[str]:
        try:
            check(text)
        except ValueError:
            return [message]
        return []

    return validate


def _base64(text: str) -> None:
    try:
        base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


def _date(text: str) -> None:
    if not _DATE.fullmatch(text):
        raise ValueError(text)
    date.fromisoformat(text)


def _datetime(text: str) -> None:
    if not _DATETIME.fullmatch(text):
        raise ValueError(text)
    datetime.fromisoformat(text.upper().replace("Z", "+00:00").replace(" ", "T"))


FORMATS: Mapping[str, Callable[[str], list[str]]] = {
    "dns1123Label": dns1123_label,
    "dns1123Subdomain": dns1123_subdomain,
    "dns1035Label": dns1035_label,
    "qualifiedName": qualified_name,
    "dns1123LabelPrefix": _prefix(dns1123_label),
    "dns1123SubdomainPrefix": _prefix(dns1123_subdomain),
    "dns1035LabelPrefix": _prefix(dns1035_label),
    "labelValue": label_value,
    "uri": _one(parse_request_uri, "invalid URI"),
    "uuid": _one(uuid.UUID, "invalid UUID"),
    "byte": _one(_base64, "invalid base64"),
    "date": _one(_date, "invalid date"),
    "datetime": _one(_datetime, "invalid datetime"),
}


def named(name: str) -> dict[str, str]:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}")
    return opaque.wrap(opaque.FORMAT, name)


def validate(fmt: Mapping[str, object], text: str) -> list[str]:
    return FORMATS[opaque.unwrap(fmt, opaque.FORMAT)](text)


def _constructor(name: str) -> Callable[[], dict[str, str]]:
    return lambda: opaque.wrap(opaque.FORMAT, name)


OVERLOADS: tuple[Overload, ...] = (
    global_("format.named", "format_named_string", ("string",), "opaque", named),
    member(
        "validate", "format_validate_string", ("opaque", "string"), "list(string)", validate,
        lambda _format, text: string_cost(text),
    ),
    *(
        global_(f"format.{name}", f"format_{name}", (), "opaque", _constructor(name))
        for name in FORMATS
    ),
)
