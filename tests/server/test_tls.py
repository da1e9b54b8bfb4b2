"""Tests for webhook.certwatch: rotation under load, bad pairs, protocol policy, client certs.

Rotation runs a real aiohttp HTTPS server on loopback; protocol checks hand-shake in memory so
the server's own refusal reason is visible (asyncio closes without flushing the TLS alert).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from cryptography import x509

from webhook.server.tls import CertWatcher

INTERVAL = 0.1
# The new certificate must be served one poll after the change; the rest is scheduling slack.
SWAP_DEADLINE = 0.5
TLS12_SUITES = {
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}


@pytest.fixture(scope="module")
def server_cas() -> tuple[trustme.CA, trustme.CA]:
    return trustme.CA(), trustme.CA()


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "tls.crt", tmp_path / "tls.key"


@pytest.fixture
def client_ctx(server_cas: tuple[trustme.CA, trustme.CA]) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    for ca in server_cas:
        ca.configure_trust(ctx)
    return ctx


def serial(leaf: trustme.LeafCert) -> int:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_pair(pair: tuple[Path, Path], leaf: trustme.LeafCert) -> None:
    replace(pair[0], b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    replace(pair[1], leaf.private_key_pem.bytes())


def publish(volume: Path, leaf: trustme.LeafCert, version: str) -> None:
    """Update `volume` the way kubelet's AtomicWriter updates a Secret volume.

    Files live in a `..<timestamp>` directory; `..data` points at it and is swapped with one
    rename; the visible names are fixed symlinks through `..data`.
    """
    target = volume / f"..{version}"
    target.mkdir()
    write_pair((target / "tls.crt", target / "tls.key"), leaf)
    data = volume / "..data"
    previous = data.resolve() if data.is_symlink() else None
    (volume / "..data_tmp").symlink_to(target.name)
    os.replace(volume / "..data_tmp", data)
    for name in ("tls.crt", "tls.key"):
        if not (volume / name).is_symlink():
            (volume / name).symlink_to(f"..data/{name}")
    if previous is not None:
        for file in previous.iterdir():
            file.unlink()
        previous.rmdir()


@contextlib.asynccontextmanager
async def serving(watcher: CertWatcher) -> AsyncIterator[str]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=watcher.context).start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def polling(watcher: CertWatcher) -> AsyncIterator[None]:
    task = asyncio.create_task(watcher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def session_for(ctx: ssl.SSLContext) -> aiohttp.ClientSession:
    """A client that opens a new connection, hence a new handshake, for every request."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, force_close=True))


async def served_serial(url: str, ctx: ssl.SSLContext) -> int:
    """The serial of the certificate a new connection to `url` is served, after a 200 "ok"."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        tls = writer.get_extra_info("ssl_object")
        assert isinstance(tls, ssl.SSLObject)
        der = tls.getpeercert(binary_form=True)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"\r\n\r\nok")
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def await_serial(url: str, ctx: ssl.SSLContext, expected: int) -> float:
    """Seconds until new connections are served the certificate with `expected` serial."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while await served_serial(url, ctx) != expected:
        assert loop.time() - start < SWAP_DEADLINE
        await asyncio.sleep(0.01)
    return loop.time() - start


async def hammer(session: aiohttp.ClientSession, url: str, outcomes: Counter[str]) -> None:
    while True:
        try:
            async with session.get(url) as resp:
                outcomes[await resp.text()] += 1
        except Exception as exc:  # any failure is counted, and the test fails on it
            outcomes[repr(exc)] += 1


async def rotate_under_load(
    watcher: CertWatcher,
    client_ctx: ssl.SSLContext,
    leaves: Sequence[trustme.LeafCert],
    install: Sequence[Callable[[], None]],
) -> Counter[str]:
    """Install each leaf in turn (by calling the matching `install` step) while clients hammer."""
    outcomes: Counter[str] = Counter()
    async with serving(watcher) as url, polling(watcher), session_for(client_ctx) as session:
        load = [asyncio.create_task(hammer(session, url, outcomes)) for _ in range(4)]
        try:
            for leaf, step in zip(leaves, install, strict=True):
                step()
                assert await await_serial(url, client_ctx, serial(leaf)) < SWAP_DEADLINE
        finally:
            for task in load:
                task.cancel()
            await asyncio.gather(*load, return_exceptions=True)
    return outcomes


async def test_rotation_by_replacing_files(
    pair: tuple[Path, Path],
    server_cas: tuple[trustme.CA, trustme.CA],
    client_ctx: ssl.SSLContext,
) -> None:
    leaves = [server_cas[i % 2].issue_cert("127.0.0.1") for i in range(4)]
    write_pair(pair, leaves[0])
    watcher = CertWatcher(*pair, interval=INTERVAL)
    steps = [functools.partial(write_pair, pair, leaf) for leaf in leaves[1:]]
    outcomes = await rotate_under_load(watcher, client_ctx, leaves[1:], steps)
    assert set(outcomes) == {"ok"}
    assert outcomes["ok"] > 10


async def test_rotation_by_kubernetes_symlink_swap(
    tmp_path: Path,
    server_cas: tuple[trustme.CA, trustme.CA],
    client_ctx: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edgeguard.certs")
    leaves = [server_cas[i % 2].issue_cert("127.0.0.1") for i in range(4)]
    publish(tmp_path, leaves[0], "2026_01_01_00_00_00.0")
    watcher = CertWatcher(tmp_path / "tls.crt", tmp_path / "tls.key", interval=INTERVAL)
    steps = [
        functools.partial(publish, tmp_path, leaf, f"2026_01_01_00_00_00.{n}")
        for n, leaf in enumerate(leaves[1:], start=1)
    ]
    outcomes = await rotate_under_load(watcher, client_ctx, leaves[1:], steps)
    assert set(outcomes) == {"ok"}
    assert outcomes["ok"] > 10
    assert [r.levelname for r in caplog.records] == ["INFO"] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "..2026_01_01_00_00_00.3",
        "..data",
        "tls.crt",
        "tls.key",
    ]


async def test_mismatched_pair_keeps_the_old_certificate(
    pair: tuple[Path, Path],
    server_cas: tuple[trustme.CA, trustme.CA],
    client_ctx: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old, new = server_cas[0].issue_cert("127.0.0.1"), server_cas[1].issue_cert("127.0.0.1")
    write_pair(pair, old)
    watcher = CertWatcher(*pair, interval=INTERVAL)
    replace(pair[0], new.cert_chain_pems[0].bytes())
    caplog.set_level(logging.INFO, logger="edgeguard.certs")
    assert watcher.reload() is False
    assert watcher.reload() is False
    assert caplog.record_tuples == [
        (
            "edgeguard.certs",
            logging.ERROR,
            f"cannot load serving certificate {pair[0]} with key {pair[1]}: "
            "the key does not belong to the certificate; keeping the previous certificate",
        )
    ]
    assert watcher.certificate is not None and watcher.certificate.serial_number == serial(old)
    async with serving(watcher) as url:
        assert await served_serial(url, client_ctx) == serial(old)
        replace(pair[1], new.private_key_pem.bytes())
        assert watcher.reload() is True
        assert await served_serial(url, client_ctx) == serial(new)


def test_missing_files_then_first_load(
    pair: tuple[Path, Path],
    server_cas: tuple[trustme.CA, trustme.CA],
    client_ctx: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = CertWatcher(*pair)
    assert (watcher.loaded, watcher.certificate, watcher.not_after) == (False, None, None)
    assert watcher.error == (
        f"cannot load serving certificate {pair[0]} with key {pair[1]}: "
        f"No such file or directory: {pair[0]}"
    )
    assert caplog.record_tuples == []  # the caller reports the first failure (serve: exit 2)
    with pytest.raises(ssl.SSLError) as refused:
        handshake(watcher.context, client_ctx)
    assert refused.value.reason == "CALLBACK_FAILED"
    leaf = server_cas[0].issue_cert("127.0.0.1")
    write_pair(pair, leaf)
    assert watcher.reload() is True
    assert watcher.reload() is False
    assert watcher.loaded is True
    expected = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert watcher.not_after == expected.not_valid_after_utc
    assert handshake(watcher.context, client_ctx) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[str, str]:
    """Run a handshake in memory; either side's failure propagates with its own reason."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(to_client, to_server, server_hostname="127.0.0.1")
    server = server_ctx.wrap_bio(to_server, to_client, server_side=True)
    done = {client: False, server: False}
    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
                done[side] = True
        if all(done.values()):
            version, cipher = server.version(), server.cipher()
            assert version is not None and cipher is not None
            return version, cipher[0]
    raise AssertionError("handshake did not finish")


@pytest.fixture
def watcher(pair: tuple[Path, Path], server_cas: tuple[trustme.CA, trustme.CA]) -> CertWatcher:
    write_pair(pair, server_cas[0].issue_cert("127.0.0.1"))
    return CertWatcher(*pair)


@contextlib.contextmanager
def legacy_tls() -> Iterator[None]:
    with pytest.warns(DeprecationWarning, match=r"^ssl\.TLSVersion\.TLSv1_1 is deprecated$"):
        yield


def test_context_policy(watcher: CertWatcher) -> None:
    ctx = watcher.context
    assert (ctx.minimum_version, ctx.maximum_version) == (
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.MAXIMUM_SUPPORTED,
    )
    assert ctx.options & ssl.OP_NO_COMPRESSION == ssl.OP_NO_COMPRESSION
    assert ctx.verify_mode == ssl.CERT_NONE
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == TLS12_SUITES


def test_tls13_preferred(watcher: CertWatcher, client_ctx: ssl.SSLContext) -> None:
    assert handshake(watcher.context, client_ctx) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")


def test_tls12_with_forward_secret_aead(watcher: CertWatcher, client_ctx: ssl.SSLContext) -> None:
    client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(watcher.context, client_ctx) == (
        "TLSv1.2",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    )


def test_tls11_refused(watcher: CertWatcher, client_ctx: ssl.SSLContext) -> None:
    with legacy_tls():
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    with legacy_tls():
        client_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    client_ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer it at all
    with pytest.raises(ssl.SSLError) as refused:
        handshake(watcher.context, client_ctx)
    assert refused.value.reason == "UNSUPPORTED_PROTOCOL"


def test_tls12_static_rsa_refused(watcher: CertWatcher, client_ctx: ssl.SSLContext) -> None:
    client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client_ctx.set_ciphers("AES128-GCM-SHA256")
    with pytest.raises(ssl.SSLError) as refused:
        handshake(watcher.context, client_ctx)
    assert refused.value.reason == "NO_SHARED_CIPHER"


async def test_tls11_refused_by_the_server(
    watcher: CertWatcher, client_ctx: ssl.SSLContext
) -> None:
    with legacy_tls():
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    with legacy_tls():
        client_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    client_ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    async with serving(watcher) as url, session_for(client_ctx) as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url)


@pytest.fixture
def mutual(
    pair: tuple[Path, Path],
    server_cas: tuple[trustme.CA, trustme.CA],
    client_ca: trustme.CA,
    tmp_path: Path,
) -> CertWatcher:
    write_pair(pair, server_cas[0].issue_cert("127.0.0.1"))
    client_ca.cert_pem.write_to_path(str(tmp_path / "client-ca.crt"))
    return CertWatcher(*pair, client_ca=tmp_path / "client-ca.crt")


def test_client_certificate_required(mutual: CertWatcher, client_ctx: ssl.SSLContext) -> None:
    assert mutual.context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ssl.SSLError) as refused:
        handshake(mutual.context, client_ctx)
    assert refused.value.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


def test_client_certificate_from_another_ca_refused(
    mutual: CertWatcher, server_cas: tuple[trustme.CA, trustme.CA], client_ctx: ssl.SSLContext
) -> None:
    server_cas[1].issue_cert("apiserver@example.com").configure_cert(client_ctx)
    with pytest.raises(ssl.SSLError) as refused:
        handshake(mutual.context, client_ctx)
    assert refused.value.reason == "CERTIFICATE_VERIFY_FAILED"


async def test_client_certificate_end_to_end(
    mutual: CertWatcher, client_ca: trustme.CA, client_ctx: ssl.SSLContext
) -> None:
    async with serving(mutual) as url:
        async with session_for(client_ctx) as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                async with session.get(url) as resp:
                    await resp.read()
        client_ca.issue_cert("apiserver@example.com").configure_cert(client_ctx)
        async with session_for(client_ctx) as session, session.get(url) as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
