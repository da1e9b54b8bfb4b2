"""Servers under test as child processes on loopback, and one measured load run against them.

Each measurement reports the load generator's figures plus the server process's own CPU time
per request (from /proc), which is what a 2-core node really pays per admission.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    info: dict[str, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


@contextmanager
def running(
    app: str, certs: Path, objects: int = 10_000, uvloop: bool = False, orjson: bool = False
) -> Iterator[Server]:
    port = _free_port()
    cmd = [sys.executable, "-m", "bench.target", app, "--port", str(port)]
    cmd += ["--cert", str(certs / "tls.crt"), "--key", str(certs / "tls.key")]
    cmd += ["--objects", str(objects)] + ["--uvloop"] * uvloop + ["--orjson"] * orjson
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{app} server exited with {proc.wait()}: {' '.join(cmd)}")
        yield Server(f"https://127.0.0.1:{port}", proc.pid, json.loads(line))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def answer(server: Server, path: str, body: bytes) -> Any:
    """One request, to check the workload is admitted as intended before timing it."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(
        server.url + path, body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.loads(response.read())


def measure(
    server: Server, requests: list[str], connections: int, seconds: float, work: Path, tool: str
) -> dict[str, Any]:
    before = cpu_seconds(server.pid)
    result = dict(_drive(server, requests, connections, seconds, work, tool))
    cpu = cpu_seconds(server.pid) - before
    n = max(1, int(result["requests"]))
    result["rps"] = n / float(result["seconds"])
    result["server_cpu_us_per_req"] = cpu / n * 1e6
    result["connections"] = connections
    return result


def _drive(
    server: Server, requests: list[str], connections: int, seconds: float, work: Path, tool: str
) -> Any:
    if tool == "wrk":
        return load.run_wrk(server.url, connections, seconds, requests, work)
    return load.run_client(server.url, connections, seconds, requests)
