"""Command-line values: each refusal is one line naming what was expected; env fallbacks."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webhook import options
from webhook.options import Flags, OptionError, Parser, resolve


@pytest.mark.parametrize(
    ("convert", "text", "value"),
    [
        (options.port, "8443", 8443),
        (options.port, " 1 ", 1),
        (options.port, "65535", 65535),
        (options.byte_count, "1", 1),
        (options.days, "36500", 36500),
        (options.seconds, "0", 0.0),
        (options.seconds, "2.5", 2.5),
        (options.log_level, "debug", "DEBUG"),
        (options.log_level, "Warning", "WARNING"),
        (options.switch, "TRUE", True),
        (options.switch, "0", False),
        (options.dns_label, "edgeguard-2", "edgeguard-2"),
        (options.path, "certs/tls.crt", Path("certs/tls.crt")),
        (options.names, "a, b,,c", ["a", "b", "c"]),
    ],
)
def test_values_that_are_accepted(convert: Callable[[str], Any], text: str, value: Any) -> None:
    assert convert(text) == value


@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (options.port, "abc", "expected a port number from 1 to 65535, got 'abc'"),
        (options.port, "0", "expected a port number from 1 to 65535, got '0'"),
        (options.port, "70000", "expected a port number from 1 to 65535, got '70000'"),
        (options.byte_count, "-1", "expected a number of bytes (1 or more), got '-1'"),
        (options.days, "0", "expected a number of days from 1 to 36500, got '0'"),
        (options.days, "99999999", "expected a number of days from 1 to 36500, got '99999999'"),
        (options.seconds, "nan", "expected a number of seconds (0 or more), got 'nan'"),
        (options.seconds, "-3", "expected a number of seconds (0 or more), got '-3'"),
        (
            options.log_level,
            "verbose",
            "expected one of debug, info, warning, error, critical (any case), got 'verbose'",
        ),
        (
            options.switch,
            "maybe",
            "expected one of 1, true, yes, on, 0, false, no, off, got 'maybe'",
        ),
        (
            options.dns_label,
            "Edge_Guard",
            "expected a DNS label (a-z, 0-9 and '-', at most 63 characters), got 'Edge_Guard'",
        ),
        (options.path, "", "expected a path, got ''"),
    ],
)
def test_values_that_are_refused_say_what_was_expected(
    convert: Callable[[str], Any], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        convert(text)
    assert str(caught.value) == message


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="tool")
    f = Flags(p)
    f.add("--port", env="PORT", default="8443", convert=options.port, help="port")
    f.add("--san", env="SANS", repeat=True, help="names")
    f.add("--only", repeat=True, help="repeatable, no variable")
    f.add("--level", default="info", convert=options.log_level, help="level")
    f.switch("--dev", env="DEV", help="dev")
    f.finish()
    return p


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, {"port": 8443, "san": [], "only": [], "level": "INFO", "dev": False}),
        (
            [],
            {"EDGEGUARD_PORT": "9443", "EDGEGUARD_SANS": "a, b", "EDGEGUARD_DEV": "yes"},
            {"port": 9443, "san": ["a", "b"], "only": [], "level": "INFO", "dev": True},
        ),
        (
            ["--port", "1", "--san", "c", "--only", "x", "--only", "y", "--dev"],
            {"EDGEGUARD_PORT": "9443", "EDGEGUARD_SANS": "a", "EDGEGUARD_DEV": "0"},
            {"port": 1, "san": ["c"], "only": ["x", "y"], "level": "INFO", "dev": True},
        ),
        # An empty variable is unset (a Deployment's `value: ""`).
        (
            [],
            {"EDGEGUARD_PORT": "", "EDGEGUARD_DEV": ""},
            {"port": 8443, "san": [], "only": [], "level": "INFO", "dev": False},
        ),
    ],
)
def test_a_flag_beats_its_variable_which_beats_the_default(
    argv: list[str], environ: dict[str, str], expected: dict[str, Any]
) -> None:
    args = resolve(_parser().parse_args(argv), environ)
    assert {k: getattr(args, k) for k in expected} == expected


def test_a_bad_variable_names_itself() -> None:
    with pytest.raises(OptionError) as caught:
        resolve(_parser().parse_args([]), {"EDGEGUARD_PORT": "abc"})
    assert str(caught.value) == "EDGEGUARD_PORT: expected a port number from 1 to 65535, got 'abc'"


def test_help_ends_with_the_default_and_the_variable() -> None:
    helps = {a.dest: a.help for a in _parser()._actions}
    assert helps["port"] == "port (default: 8443; env EDGEGUARD_PORT)"
    assert helps["san"] == "names (default: none; env EDGEGUARD_SANS, comma-separated)"
    assert helps["dev"] == "dev (default: off; env EDGEGUARD_DEV=1)"
    assert helps["level"] == "level (default: info)"


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(["--port", "abc"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "tool: error: argument --port: expected a port number from 1 to 65535, got 'abc'\n"
    )


def test_no_abbreviations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--po", "1"])
    assert capsys.readouterr().err == "tool: error: unrecognized arguments: --po 1\n"
