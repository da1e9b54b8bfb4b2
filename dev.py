#!/usr/bin/env python3
"""Set-up commands that need only Python 3.11 and pip: `python3 dev.py serve|test|lint`.

Creates .venv when missing, installs edgeguard with its test extras when pyproject.toml
changed, then runs the webhook, the test suite, or the linters (ruff, mypy --strict, and the
import-layer contracts in .importlinter). `serve` and `test` replace this process (exec), so a
signal sent to it (SIGTERM, Ctrl-C) reaches the server or pytest itself, and nothing is left
running when it ends.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".edgeguard-installed"


def ensure_installed() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(digest)


def replace_with(argv: list[str]) -> int:
    """Become `argv` (exec): its signals and exit code are the caller's. Windows has no exec
    that keeps the process, so there it runs as a child."""
    if os.name == "nt":
        return subprocess.call(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def _stop(signum: int, frame: object) -> None:
    # subprocess.call kills its child when the wait is interrupted by an exception.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test", "lint"):
        print("usage: python3 dev.py serve|test|lint [args...]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)  # while installing or linting: stop the child too
    ensure_installed()
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "serve":
        return replace_with([str(BIN / "edgeguard"), "serve", *rest])
    if command == "test":
        return replace_with([str(BIN / "python"), "-m", "pytest", *rest])
    for tool in (["ruff", "check", "."], ["mypy", "--strict"], ["lint-imports"]):
        failed = subprocess.call([str(BIN / tool[0]), *tool[1:]])
        if failed:
            return failed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
