"""dev.py: `serve` and `test` become the server and pytest, so SIGTERM leaves nothing behind."""

from __future__ import annotations

import http.client
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT
from tests.test_serve import free_port

DEV = str(ROOT / "dev.py")


def _serving(port: int, seconds: float = 30.0) -> bool:
    """Whether GET /healthz answers (the port is bound before the server is up)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=1, context=context)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    return False


def _listening(port: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def test_sigterm_to_dev_py_serve_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    certs = tmp_path / "certs"
    argv = [
        sys.executable, DEV, "serve", "--host", "127.0.0.1", "--port", str(port), "--dev-certs",
        "--monitoring-port", "0",
        "--tls-cert", str(certs / "tls.crt"), "--tls-key", str(certs / "tls.key"),
    ]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            assert _serving(port), "edgeguard serve did not start"
            # The process started as dev.py is now the server itself.
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
            assert cmdline[1:3] == [str(ROOT / ".venv" / "bin" / "edgeguard").encode(), b"serve"]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
    assert not _listening(port, seconds=0.2), "something still listens after SIGTERM"


def test_dev_py_test_is_pytest_itself(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sleeps.py").write_text(
        "import os, time\n"
        "def test_sleeps():\n"
        f"    open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
    )
    argv = [
        sys.executable, DEV, "test", "-q", "-p", "no:cacheprovider",
        "-c", str(tmp_path / "pytest.ini"), str(tmp_path / "test_sleeps.py"),
    ]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 30
            while not marker.exists() or not marker.read_text():
                assert time.monotonic() < deadline, "the test did not start"
                time.sleep(0.05)
            assert int(marker.read_text()) == proc.pid
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == -signal.SIGTERM
        finally:
            proc.kill()
