"""Command-line options: values checked with a one-line reason, and flags whose value, when
not given, comes from an `EDGEGUARD_*` variable and then from a default.

Only the command line (webhook.cli) uses this; it reads the environment it is handed, and an
unusable value is an `OptionError` naming the flag or the variable (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

ENV_PREFIX = "EDGEGUARD_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# A Kubernetes Service or Namespace name: an RFC 1123 label (the API server's own check).
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Certificates end before the year 10000 (X.509 GeneralizedTime): a century is plenty.
MAX_DAYS = 36500


class OptionError(Exception):
    """A flag or environment value that cannot be used; the message names it."""


class Parser(argparse.ArgumentParser):
    """argparse with no silent abbreviations (`--cluster` is not `--cluster-state`) and one
    line per usage error (`edgeguard serve: error: argument --port: ...`), exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# --- value checks: each raises ArgumentTypeError, which argparse shows after the flag --------


def _expected(what: str, text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {what}, got {text!r}")


def _integer(text: str, what: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise _expected(what, text) from None
    if value < low or (high is not None and value > high):
        raise _expected(what, text)
    return value


def port(text: str) -> int:
    return _integer(text, "a port number from 1 to 65535", 1, 65535)


def port_or_zero(text: str) -> int:
    return _integer(text, "a port number from 1 to 65535, or 0 for none", 0, 65535)


def byte_count(text: str) -> int:
    return _integer(text, "a number of bytes (1 or more)", 1)


def columns(text: str) -> int:
    return _integer(text, "a number of columns (0 for no wrapping)", 0)


def days(text: str) -> int:
    return _integer(text, f"a number of days from 1 to {MAX_DAYS}", 1, MAX_DAYS)


def seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise _expected("a number of seconds (0 or more)", text) from None
    if not math.isfinite(value) or value < 0:
        raise _expected("a number of seconds (0 or more)", text)
    return value


def workers(text: str) -> int:
    return _integer(text, "a number of worker processes (1 or more)", 1)


def deadline(text: str) -> float:
    """A deadline in seconds: above 0, and at most 30 (the API server's longest webhook
    timeout)."""
    what = "a number of seconds above 0 and at most 30"
    try:
        value = float(text.strip())
    except ValueError:
        raise _expected(what, text) from None
    if not math.isfinite(value) or not 0 < value <= 30:
        raise _expected(what, text)
    return value


def mebibytes(text: str) -> int:
    """An address-space limit in MiB: 0 for none, else 128 or more (a worker needs ~64 MiB
    of address space to start)."""
    value = _integer(text, "a size in MiB: 0 (no limit) or 128 or more", 0)
    if 0 < value < 128:
        raise _expected("a size in MiB: 0 (no limit) or 128 or more", text)
    return value


def evaluations(text: str) -> int:
    return _integer(text, "a number of evaluations (1 or more)", 1)


def log_level(text: str) -> str:
    """The level as `logging` spells it; any case is accepted."""
    if text.strip().lower() not in LOG_LEVELS:
        raise _expected(f"one of {', '.join(LOG_LEVELS)} (any case)", text)
    return text.strip().upper()


def switch(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE or word in FALSE:
        return word in TRUE
    raise _expected(f"one of {', '.join(TRUE + FALSE)}", text)


def dns_label(text: str) -> str:
    if not DNS_LABEL.fullmatch(text):
        raise _expected("a DNS label (a-z, 0-9 and '-', at most 63 characters)", text)
    return text


def path(text: str) -> Path:
    if not text:
        raise _expected("a path", text)
    return Path(text)


def text_value(text: str) -> str:
    return text


def names(text: str) -> list[str]:
    """A comma-separated list, as an environment variable holds a repeatable flag."""
    return [item.strip() for item in text.split(",") if item.strip()]


# --- flags with an environment fallback --------------------------------------------------------


@dataclass(frozen=True)
class FromEnv:
    """Where a flag's value comes from when it is not given: `EDGEGUARD_<name>`, else the
    default (a string, converted like a given value; None for none)."""

    dest: str
    variables: tuple[str, ...]  # the first one set wins
    default: str | None
    convert: Callable[[str], Any]


class Flags:
    """The flags of one command; `resolve` fills in what was not given, from the environment."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self.from_env: list[FromEnv] = []
        self.repeatable: list[str] = []

    def add(
        self,
        *flags: str,
        help: str,
        env: str | None = None,
        first_env: str | None = None,
        default: str | None = None,
        shown: str | None = None,
        convert: Callable[[str], Any] = text_value,
        repeat: bool = False,
        **kwargs: Any,
    ) -> None:
        """A flag; its help ends with its default (`shown`, or `default`) and its variable.
        A repeatable flag collects a list (`EDGEGUARD_<env>` holds it comma-separated)."""
        notes = [f"default: {shown or default or 'none'}"]
        if kwargs.get("required"):
            notes = ["required"]
        variables = (*([first_env] if first_env else []), ENV_PREFIX + env) if env else ()
        if env is not None:
            shown_env = ", then ".join(variables)
            notes.append(f"env {shown_env}" + (", comma-separated" if repeat else ""))
        full = f"{help} ({'; '.join(notes)})".replace("%", "%%")
        later = env is not None or repeat
        action = self.parser.add_argument(
            *flags,
            action="append" if repeat else "store",
            type=convert,
            default=None if later or default is None else convert(default),
            help=full,
            **kwargs,
        )
        if repeat:
            self.repeatable.append(action.dest)
        if env is not None:
            self.from_env.append(FromEnv(action.dest, variables, default, convert))

    def switch(self, *flags: str, help: str, env: str | None = None) -> None:
        """An on/off flag, off by default; `EDGEGUARD_<env>=1` turns it on."""
        notes = "default: off" + (f"; env {ENV_PREFIX}{env}=1" if env else "")
        action = self.parser.add_argument(
            *flags, action="store_true", default=None if env else False, help=f"{help} ({notes})"
        )
        if env is not None:
            self.from_env.append(FromEnv(action.dest, (ENV_PREFIX + env,), "0", switch))

    def finish(self) -> None:
        """Record, in the parsed namespace, what `resolve` has to fill in."""
        self.parser.set_defaults(_from_env=tuple(self.from_env), _repeatable=tuple(self.repeatable))


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> argparse.Namespace:
    """Fill in each flag that was not given from its variable, then its default. An empty
    variable counts as unset (a Deployment often sets `value: ""`)."""
    for spec in getattr(args, "_from_env", ()):
        if getattr(args, spec.dest) is not None:
            continue
        variable = next((v for v in spec.variables if environ.get(v)), "")
        raw = environ.get(variable, "") if variable else ""
        repeat = spec.dest in getattr(args, "_repeatable", ())
        if raw:
            try:
                value = [spec.convert(v) for v in names(raw)] if repeat else spec.convert(raw)
            except argparse.ArgumentTypeError as exc:
                raise OptionError(f"{variable}: {exc}") from None
        elif spec.default is not None:
            value = spec.convert(spec.default)
        else:
            value = [] if repeat else None
        setattr(args, spec.dest, value)
    for dest in getattr(args, "_repeatable", ()):
        if getattr(args, dest, None) is None:
            setattr(args, dest, [])
    return args
