"""Hostile clients against `edgeguard serve`: slow and idle connections, weak TLS, leaky logs.

The slow-client checks run the real `serve()` with short limits. `ServeSettings.idle_seconds`
(aiohttp's keep-alive timeout, which also bounds how long a request head may take) and
`body_seconds` (408 for a body that stops arriving) come from the hardening patch in
RELIABILITY.md; without it aiohttp keeps such connections for 3630 s and a stalled body forever.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

import policies
from tests.support import admission_review, make_tls, make_view, running
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.serve import ServeSettings, ensure_dev_certificates, serve
from webhook.server.http import ServerState, make_app
from webhook.server.logs import JSONFormatter
from webhook.server.tls import CertWatcher

CASES = Path(__file__).parent / "cases"
SHIPPED = policies.builtin()
IDLE = 1.0
BODY = 0.5
SLACK = 1.0
CANARY = "c4n4ry-s3cr3t"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    """`serve()` on loopback with short idle and body limits; yields its port and a client."""
    chosen = ServeSettings(
        host="127.0.0.1",
        port=free_port(),
        monitoring_port=0,
        tls_cert=tmp_path / "certs" / "tls.crt",
        tls_key=tmp_path / "certs" / "tls.key",
        dev_certs=True,
        grace_seconds=1.0,
        idle_seconds=IDLE,
        body_seconds=BODY,
    )
    ensure_dev_certificates(chosen)
    engine = Engine(SHIPPED, Config.defaults(SHIPPED))
    server = asyncio.create_task(serve(chosen, engine, make_view()))
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", chosen.port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        break
    client = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
    client.check_hostname = False
    try:
        yield chosen.port, client
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent before."""
    start = time.monotonic()
    async with asyncio.timeout(seconds):
        data = await reader.read()
    return time.monotonic() - start, data


REVIEW = json.dumps(
    admission_review(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "TLSRoute",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"hostnames": ["app.example.com"], "parentRefs": [{"name": "edge"}]},
        }
    )
).encode()
HEAD = (
    b"POST /validate HTTP/1.1\r\nHost: edgeguard\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(REVIEW)
)


# --- slow and idle clients (need the hardening patch) -------------------------------------


async def test_a_connection_that_never_sends_a_request_is_closed(tmp_path: Path) -> None:
    async with serving(tmp_path) as (port, client):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        seconds, data = await closed_within(reader, IDLE + SLACK)
        writer.close()
    assert data == b"" and seconds > IDLE - 0.2


async def test_headers_sent_slowly_are_cut_off(tmp_path: Path) -> None:
    async with serving(tmp_path) as (port, client):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        start = time.monotonic()

        async def dribble() -> None:
            for byte in HEAD:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)  # each byte well within any per-read timeout

        trickle = asyncio.create_task(dribble())
        _, data = await closed_within(reader, IDLE + SLACK)
        closed_in = time.monotonic() - start
        trickle.cancel()
        await asyncio.gather(trickle, return_exceptions=True)
        writer.close()
    assert data == b""
    assert IDLE - 0.2 < closed_in < IDLE + SLACK


async def test_a_body_that_stops_arriving_gets_408(tmp_path: Path) -> None:
    async with serving(tmp_path) as (port, client):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.write(HEAD + REVIEW[:20])
        start = time.monotonic()
        async with asyncio.timeout(BODY + SLACK):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
        answered_in = time.monotonic() - start
        writer.close()
    assert BODY - 0.1 < answered_in < BODY + SLACK
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close\r\n" in head
    assert json.loads(body) == {"error": f"body not received within {BODY:g} s"}


async def test_many_idle_and_stalled_connections_do_not_stop_others(tmp_path: Path) -> None:
    """300 silent TCP connections, 300 idle TLS ones, 100 half heads and 100 half bodies."""
    async with serving(tmp_path) as (port, client):
        opened: list[asyncio.StreamWriter] = []
        for payload, tls, count in [
            (b"", False, 300),
            (b"", True, 300),
            (HEAD[:30], True, 100),
            (HEAD + REVIEW[:20], True, 100),
        ]:
            for _ in range(count):
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=client if tls else None
                )
                writer.write(payload)
                opened.append(writer)
        start = time.monotonic()
        answers = await asyncio.gather(*(admit(port, client) for _ in range(100)))
        served_in = time.monotonic() - start
        for writer in opened:
            writer.transport.abort()
    assert answers == [200] * 100
    assert served_in < 5.0


async def admit(port: int, client: ssl.SSLContext) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    writer.write(HEAD + REVIEW)
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


# --- TLS: what test_certwatch does not already refuse -------------------------------------


@pytest.fixture(scope="module")
def server_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def watcher(tmp_path: Path, server_ca: trustme.CA) -> CertWatcher:
    leaf = server_ca.issue_cert("127.0.0.1")
    (tmp_path / "tls.crt").write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    (tmp_path / "tls.key").write_bytes(leaf.private_key_pem.bytes())
    return CertWatcher(tmp_path / "tls.crt", tmp_path / "tls.key")


def server_refusal(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> str:
    """In-memory handshake; the server side's refusal reason (it must refuse)."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(to_client, to_server, server_hostname="127.0.0.1")
    server = server_ctx.wrap_bio(to_server, to_client, server_side=True)
    for _ in range(10):
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
            client.do_handshake()
        try:
            server.do_handshake()
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLError as exc:
            return str(exc.reason)
        raise AssertionError(f"server accepted {server.version()} {server.cipher()}")
    raise AssertionError("handshake did not finish")


@contextlib.contextmanager
def legacy() -> Iterator[None]:
    with pytest.warns(DeprecationWarning, match=r"^ssl\.TLSVersion\.TLSv1 is deprecated$"):
        yield


def test_tls10_refused(watcher: CertWatcher) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    with legacy():
        client.minimum_version = ssl.TLSVersion.TLSv1
    with legacy():
        client.maximum_version = ssl.TLSVersion.TLSv1
    client.set_ciphers("ALL:@SECLEVEL=0")
    assert server_refusal(watcher.context, client) == "UNSUPPORTED_PROTOCOL"


WEAK_SUITES = [
    "ECDHE-ECDSA-AES128-SHA",  # CBC with SHA-1 MAC
    "ECDHE-ECDSA-AES256-SHA384",  # CBC
    "ECDHE-RSA-AES128-SHA256",  # CBC
    "DHE-RSA-AES128-GCM-SHA256",  # finite-field DH
    "AES256-GCM-SHA384",  # no forward secrecy
    "ECDHE-ECDSA-CAMELLIA256-SHA384",  # CBC, not AEAD
    "ECDHE-ECDSA-NULL-SHA",  # no encryption
    "AECDH-AES128-SHA",  # anonymous
]


@pytest.mark.parametrize("suite", WEAK_SUITES)
def test_weak_tls12_suites_refused(watcher: CertWatcher, suite: str) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(f"{suite}:@SECLEVEL=0")
    assert server_refusal(watcher.context, client) == "NO_SHARED_CIPHER"


# --- logs: no object content, no Secret data, with the real policies ----------------------


def planted(obj: Any) -> Any:
    """The object with the canary in annotations, labels, Secret-like data and every string."""
    if not isinstance(obj, dict):
        return obj
    out = json.loads(json.dumps(obj).replace('"spec": {', f'"spec": {{"x-{CANARY}": "{CANARY}", '))
    meta = out.setdefault("metadata", {})
    meta.setdefault("annotations", {})["note"] = CANARY
    meta.setdefault("labels", {})["canary"] = CANARY
    out["data"] = {"password": base64.b64encode(CANARY.encode()).decode()}
    out["stringData"] = {"token": CANARY}
    return out


def case_reviews() -> list[tuple[str, dict[str, Any], list[Any]]]:
    found = []
    for path in sorted(CASES.rglob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(spec, dict) or not isinstance(spec.get("request"), dict):
            continue
        request = spec["request"]
        review = admission_review(
            planted(request.get("object")),
            operation=str(request.get("operation", "CREATE")),
            old=planted(request.get("oldObject")),
        )
        cluster = [planted(o) for o in spec.get("cluster") or []]
        found.append((str(path.relative_to(CASES)), review, cluster))
    return found


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "apps"},
    "type": "Opaque",
    "data": {"password": base64.b64encode(CANARY.encode()).decode()},
}


async def test_logs_carry_no_object_content_for_any_policy_or_case(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cases = case_reviews()
    engine = Engine(SHIPPED, Config.defaults(SHIPPED))
    reviews = [review for _, review, _ in cases] + [admission_review(SECRET)]
    broken = admission_review(planted(SECRET))
    broken["request"]["kind"] = {"kind": CANARY}  # refused with 400; the reason is not logged
    view = make_view([obj for _, _, cluster in cases for obj in cluster])
    async with running(make_app(ServerState(engine, view)), make_tls()) as (base, client):
        for review in [*reviews, broken]:
            for path in ("/validate", "/mutate"):
                async with client.post(base + path, json=review) as resp:
                    assert resp.status in (200, 400)
    assert len(reviews) > 100
    formatter = JSONFormatter()
    decisions = [r for r in caplog.records if r.name == "edgeguard.admission"]
    assert len(decisions) == 2 * len(reviews)
    for record in caplog.records:
        assert CANARY not in formatter.format(record), record.name
        assert base64.b64encode(CANARY.encode()).decode() not in formatter.format(record)
