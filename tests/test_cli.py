"""The `edgeguard` command: help, version, and start-up errors as one line with exit 2."""

from __future__ import annotations

import argparse
import errno
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT
from webhook import cli, options
from webhook.cli import main

HELP_NOTE = re.compile(
    r"\((required|default: .+?)"
    r"(; env ((?:[A-Z_]+, then )?EDGEGUARD_[A-Z_]+)(=1|, comma-separated)?)?\)$"
)


GENERATE = ["certs", "generate", "--service", "s", "--namespace", "n"]


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its prog, e.g. `edgeguard certs generate`."""
    found: dict[str, argparse.ArgumentParser] = {}
    pending = [cli.parser()]
    while pending:
        parser = pending.pop()
        found[parser.prog] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    return found


def _flags(parser: argparse.ArgumentParser) -> dict[str, tuple[str, str | None]]:
    """Each flag's default and variable, as its help text states them."""
    out: dict[str, tuple[str, str | None]] = {}
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        match = HELP_NOTE.search(" ".join(str(action.help).split()))
        assert match, f"{parser.prog} {action.option_strings[-1]}: {action.help!r}"
        out[action.option_strings[-1]] = (match.group(1), match.group(3))
    return out


def test_every_serve_flag_says_its_default_and_its_variable() -> None:
    assert _flags(_parsers()["edgeguard serve"]) == {
        "--host": ("default: 0.0.0.0", "EDGEGUARD_HOST"),
        "--port": ("default: 8443", "EDGEGUARD_PORT"),
        "--monitoring-port": ("default: 8080", "EDGEGUARD_MONITORING_PORT"),
        "--tls-cert": ("default: certs/tls.crt", "EDGEGUARD_TLS_CERT"),
        "--tls-key": ("default: certs/tls.key", "EDGEGUARD_TLS_KEY"),
        "--dev-certs": ("default: off", "EDGEGUARD_DEV_CERTS"),
        "--client-ca": (
            "default: none, no client certificate is asked for",
            "EDGEGUARD_CLIENT_CA",
        ),
        "--config": ("default: none, every policy in its default mode", "EDGEGUARD_CONFIG"),
        "--kubeconfig": (
            "default: $KUBECONFIG, the pod's service account, then ~/.kube/config; with none "
            "of them the view is empty",
            "EDGEGUARD_KUBECONFIG",
        ),
        "--max-body": ("default: 3145728, 3 MiB, the API server's own cap", "EDGEGUARD_MAX_BODY"),
        "--san": ("default: none", "EDGEGUARD_SANS"),
        "--grace": ("default: 25 seconds", "EDGEGUARD_GRACE"),
        "--namespace": ("default: edgeguard", "POD_NAMESPACE, then EDGEGUARD_NAMESPACE"),
        "--claim-grace": ("default: 30 seconds", "EDGEGUARD_CLAIM_GRACE"),
        "--client-cn": ("default: any name the CA signed", "EDGEGUARD_CLIENT_CNS"),
        "--log-level": ("default: info", "EDGEGUARD_LOG_LEVEL"),
        "--cel-workers": ("default: 2", "EDGEGUARD_CEL_WORKERS"),
        "--cel-timeout": ("default: 1 second", "EDGEGUARD_CEL_TIMEOUT"),
        "--cel-memory": ("default: 512 MiB", "EDGEGUARD_CEL_MEMORY"),
        "--cel-recycle": ("default: 10000", "EDGEGUARD_CEL_RECYCLE"),
    }


def test_every_flag_of_every_command_says_what_it_does_and_its_default() -> None:
    parsers = _parsers()
    assert sorted(parsers) == [
        "edgeguard",
        "edgeguard certs",
        "edgeguard certs generate",
        "edgeguard review",
        "edgeguard serve",
        "edgeguard test",
    ]
    for parser in parsers.values():
        assert parser.allow_abbrev is False, parser.prog
        assert parser.description, parser.prog
        for flag, (default, _) in _flags(parser).items():
            help_text = next(a.help for a in parser._actions if flag in a.option_strings)
            assert str(help_text).index("(") > 5, f"{parser.prog} {flag} says what it does"
            assert default, flag
    assert _flags(parsers["edgeguard certs generate"])["--service"] == ("required", None)


def test_the_top_level_help_speaks_to_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "The same policies run as an admission webhook (serve) and over manifest files" in out
    assert "exit codes: 0 nothing denied, every test passed; 1 something denied" in out
    assert "Configuration enters here" not in out


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"edgeguard {project['version']}\n"


def test_no_silent_abbreviation_of_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["review", "--cluster", "state.yaml", "pool.yaml"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == "edgeguard: error: unrecognized arguments: --cluster\n"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["serve", "--log-level", "verbose"],
            "edgeguard serve: error: argument --log-level: expected one of debug, info, warning,"
            " error, critical (any case), got 'verbose'",
        ),
        (
            ["serve", "--port", "70000"],
            "edgeguard serve: error: argument --port: expected a port number from 1 to 65535,"
            " got '70000'",
        ),
        (
            ["serve", "--grace", "-1"],
            "edgeguard serve: error: argument --grace: expected a number of seconds (0 or more),"
            " got '-1'",
        ),
        (
            ["serve", "--cel-timeout", "0"],
            "edgeguard serve: error: argument --cel-timeout: expected a number of seconds above 0"
            " and at most 30, got '0'",
        ),
        (
            ["review", "--cel-memory", "64", "x.yaml"],
            "edgeguard review: error: argument --cel-memory: expected a size in MiB: 0 (no"
            " limit) or 128 or more, got '64'",
        ),
        (
            ["test", "--cel-workers", "0", "dir"],
            "edgeguard test: error: argument --cel-workers: expected a number of worker processes"
            " (1 or more), got '0'",
        ),
        (
            [*GENERATE, "--out", "o", "--days", "0"],
            "edgeguard certs generate: error: argument --days: expected a number of days from 1"
            " to 36500, got '0'",
        ),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr() == ("", f"{error}\n")


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("PORT", "abc", "EDGEGUARD_PORT: expected a port number from 1 to 65535, got 'abc'"),
        ("MAX_BODY", "3M", "EDGEGUARD_MAX_BODY: expected a number of bytes (1 or more), got '3M'"),
        (
            "LOG_LEVEL",
            "loud",
            "EDGEGUARD_LOG_LEVEL: expected one of debug, info, warning, error, critical (any"
            " case), got 'loud'",
        ),
        (
            "DEV_CERTS",
            "maybe",
            "EDGEGUARD_DEV_CERTS: expected one of 1, true, yes, on, 0, false, no, off, got 'maybe'",
        ),
    ],
)
def test_a_bad_environment_variable_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    error: str,
) -> None:
    monkeypatch.setenv(f"EDGEGUARD_{variable}", value)
    assert main(["serve"]) == 2
    assert capsys.readouterr() == ("", f"edgeguard: error: {error}\n")


def test_the_log_level_takes_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEGUARD_LOG_LEVEL", "Debug")
    args = options.resolve(cli.parser().parse_args(["serve"]), os.environ)
    assert args.log_level == "DEBUG"
    args = options.resolve(cli.parser().parse_args(["serve", "--log-level", "error"]), {})
    assert args.log_level == "ERROR"


def _dev_serve(tmp_path: Path, host: str, port: int) -> list[str]:
    certs = tmp_path / "certs"
    return [
        "serve", "--host", host, "--port", str(port), "--dev-certs",
        "--tls-cert", str(certs / "tls.crt"), "--tls-key", str(certs / "tls.key"),
    ]  # fmt: skip


def test_a_port_in_use_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(_dev_serve(tmp_path, "127.0.0.1", port)) == 2
    assert capsys.readouterr() == (
        "",
        f"edgeguard: error: cannot listen on 127.0.0.1:{port}: the port is in use (is edgeguard"
        " already running?); choose another --port\n",
    )
    assert not (tmp_path / "certs").exists()


def test_a_host_that_does_not_resolve_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_dev_serve(tmp_path, "256.1.1.1", 8443)) == 2
    out, err = capsys.readouterr()
    # The reason after the flag is the C library's (gai_strerror).
    assert (out, err.count("\n")) == ("", 1)
    assert err.startswith("edgeguard: error: --host 256.1.1.1: cannot resolve it (")
    assert not (tmp_path / "certs").exists()


def test_certs_generate_into_an_unusable_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    args = ["certs", "generate", "--service", "s", "--namespace", "n", "--out"]
    assert main([*args, str(tmp_path / "file" / "out")]) == 2
    long = tmp_path / ("x" * 300)
    assert main([*args, str(long)]) == 2
    assert capsys.readouterr() == (
        "",
        f"edgeguard: error: cannot create folder {tmp_path / 'file' / 'out'}: "
        f"{os.strerror(errno.ENOTDIR)}\n"
        f"edgeguard: error: cannot check {long / 'ca.crt'}: {os.strerror(errno.ENAMETOOLONG)}\n",
    )


def test_a_closed_output_pipe_is_one_line(tmp_path: Path) -> None:
    """`edgeguard certs generate ... | head -0`: the reader is gone before anything is written."""
    out = tmp_path / "out"
    with subprocess.Popen(
        [sys.executable, "-m", "webhook.cli", "certs", "generate", "--service", "s",
         "--namespace", "n", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
    assert (proc.returncode, err) == (
        2,
        "edgeguard: error: the output was closed before all of it was written (broken pipe)\n",
    )
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
