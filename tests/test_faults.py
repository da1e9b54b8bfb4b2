"""Faults during load: watch streams cut, the serving certificate rotated, SIGTERM.

Each check runs a short version by default and the full count the issue asks for under
`-m slow` (`pytest -m slow tests/test_faults.py`). Figures are in RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import signal
import socket
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from cryptography import x509
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer

import policies
from policies import unique_hostnames
from tests.fake_apiserver import EDGE_GATEWAY, FakeApiServer, client_for, eventually
from tests.support import admission_review, make_view
from webhook.cluster.memory import MemoryView
from webhook.cluster.watch import ClusterWatch, ViewMetrics, WatchSettings
from webhook.core.config import Config
from webhook.core.kinds import GATEWAY, TLSROUTE
from webhook.core.review import Review
from webhook.engine import NOT_SYNCED, Engine
from webhook.serve import ServeSettings, serve

TOKEN = "t0ken"
FAST = WatchSettings(
    crd_recheck_seconds=0.05,
    page_size=3,
    watch_seconds=30.0,
    backoff_seconds=0.005,
    backoff_cap_seconds=0.02,
)
SHIPPED = policies.builtin()
STABLE = [f"stable-{i}.example.com" for i in range(5)]


def route(name: str, hostname: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "TLSRoute",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "parentRefs": [{"name": "edge", "namespace": "edge", "sectionName": "tls"}],
            "hostnames": [hostname],
            "rules": [{"backendRefs": [{"name": name, "port": 8443}]}],
        },
    }


def probe(hostname: str) -> Review:
    return Review.from_admission(admission_review(route("probe", hostname)))


def keys(objects: Any) -> set[tuple[str, str]]:
    return {(o["metadata"]["name"], o["spec"]["hostnames"][0]) for o in objects}


@contextlib.asynccontextmanager
async def watched(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> AsyncIterator[tuple[MemoryView, CollectorRegistry]]:
    server = await aiohttp_server(fake.app())

    client = client_for(server, TOKEN)
    view = make_view(synced=False)
    registry = CollectorRegistry()
    watch = ClusterWatch(client, view, FAST, ViewMetrics(registry), rng=random.Random(8))
    watch.start()
    try:
        yield view, registry
    finally:
        await watch.close()
        fake.close()


@pytest.mark.parametrize("cuts", [5, pytest.param(100, marks=pytest.mark.slow)])
async def test_watch_cut_repeatedly_converges_and_no_verdict_is_wrong(
    aiohttp_server: AiohttpServer, cuts: int
) -> None:
    """Cut the TLSRoute stream `cuts` times (dropped, or expired with 410) while routes change
    with and without events; admissions that depend only on unchanging routes never err."""
    rng = random.Random(cuts)
    fake = FakeApiServer(token=TOKEN)
    fake.install_all()
    fake.create(EDGE_GATEWAY)
    for i, hostname in enumerate(STABLE):
        fake.create(route(f"stable-{i}", hostname))
    engine = Engine([unique_hostnames.POLICY], Config.defaults([unique_hostnames.POLICY]))
    verdicts: Counter[str] = Counter()
    async with watched(fake, aiohttp_server) as (view, registry):
        await eventually(lambda: view.synced and fake.watching(TLSROUTE))
        stop = asyncio.Event()

        async def admit_continuously() -> None:
            while not stop.is_set():
                taken = engine.validate(probe(rng.choice(STABLE)), view)
                free = engine.validate(probe("free.example.com"), view)
                verdicts[f"taken:{taken.allowed}"] += 1
                verdicts[f"free:{free.allowed}"] += 1
                if not view.synced:
                    verdicts[f"not-synced:{NOT_SYNCED in taken.messages}"] += 1
                await asyncio.sleep(0)

        admissions = asyncio.create_task(admit_continuously())
        for n in range(cuts):
            churn = f"churn-{rng.randrange(8)}"
            present = fake.watching(TLSROUTE) and ("apps", churn) in _objects(fake)
            action = rng.choice(["create", "update", "delete", "forget"] if present else ["create"])
            if action in ("create", "update"):
                fake.update(route(churn, f"{churn}-{n}.example.com"))
            elif action == "delete":
                fake.delete(TLSROUTE, "apps", churn)
            else:
                fake.forget(TLSROUTE, "apps", churn)  # only a relist can notice
            before = watch_errors(registry)
            if rng.random() < 0.2:
                fake.expire(TLSROUTE)
            else:
                fake.drop(TLSROUTE)
            await eventually(functools.partial(recovered, registry, fake, before), seconds=5.0)
        truth = keys(o for o in _objects(fake).values() if o["kind"] == "TLSRoute")
        before = watch_errors(registry)
        fake.expire(TLSROUTE)  # a last relist is how a watch learns of silent deletions
        await eventually(
            lambda: watch_errors(registry) > before and keys(view.list(TLSROUTE)) == truth,
            seconds=5.0,
        )
        stop.set()
        await admissions
    print(f"cuts={cuts} verdicts={dict(verdicts)} watch_errors={watch_errors(registry)}")
    assert view.get(GATEWAY, "edge", "edge") is not None
    assert watch_errors(registry) == cuts + 1
    assert verdicts["taken:True"] == 0, verdicts
    assert verdicts["free:False"] == 0, verdicts
    assert verdicts["taken:False"] > cuts


def recovered(registry: CollectorRegistry, fake: FakeApiServer, errors_before: float) -> bool:
    """The cut was seen (one more watch error) and a new watch is open."""
    return watch_errors(registry) > errors_before and fake.watching(TLSROUTE) > 0


def watch_errors(registry: CollectorRegistry) -> float:
    return sum(
        s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == "edgeguard_view_watch_errors_total" and s.labels["kind"] == str(TLSROUTE)
    )


def _objects(fake: FakeApiServer) -> Mapping[tuple[str, str], dict[str, Any]]:
    return fake._resources[TLSROUTE].objects


# --- the serving certificate rotated under load -------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install(cert: Path, key: Path, leaf: trustme.LeafCert) -> None:
    for path, data in (
        (cert, b"".join(b.bytes() for b in leaf.cert_chain_pems)),
        (key, leaf.private_key_pem.bytes()),
    ):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


@dataclass
class Served:
    url: str
    port: int
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, leaf: trustme.LeafCert) -> AsyncIterator[Served]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    install(cert, key, leaf)
    chosen = ServeSettings(
        host="127.0.0.1",
        port=free_port(),
        monitoring_port=0,
        tls_cert=cert,
        tls_key=key,
        grace_seconds=5.0,
        cert_poll_seconds=0.05,
    )
    engine = Engine(SHIPPED, Config.defaults(SHIPPED))
    task = asyncio.create_task(serve(chosen, engine, make_view()))
    for _ in range(200):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", chosen.port)
            writer.close()
            break
        await asyncio.sleep(0.02)
    try:
        yield Served(f"https://127.0.0.1:{chosen.port}/validate", chosen.port, task)
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


REVIEW = admission_review(route("web", "app.example.com"))


async def hammer(session: aiohttp.ClientSession, url: str, outcomes: Counter[str]) -> None:
    while True:
        try:
            async with session.post(url, json=REVIEW) as resp:
                await resp.read()
                outcomes[str(resp.status)] += 1
        except Exception as exc:  # every failure is counted; the test fails on any
            outcomes[type(exc).__name__] += 1


async def served_serial(port: int, ctx: ssl.SSLContext) -> int:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    tls = writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True)
    writer.close()
    return x509.load_der_x509_certificate(der).serial_number


@pytest.mark.parametrize("rotations", [3, pytest.param(20, marks=pytest.mark.slow)])
async def test_certificate_rotated_under_load_fails_no_handshake(
    tmp_path: Path, rotations: int
) -> None:
    cas = trustme.CA(), trustme.CA()
    leaves = [cas[i % 2].issue_cert("127.0.0.1") for i in range(rotations + 1)]
    client = ssl.create_default_context()
    for ca in cas:
        ca.configure_trust(client)
    outcomes: Counter[str] = Counter()
    async with serving(tmp_path, leaves[0]) as served:
        fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client, force_close=True))
        kept = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client))
        load = [asyncio.create_task(hammer(fresh, served.url, outcomes)) for _ in range(6)]
        load += [asyncio.create_task(hammer(kept, served.url, outcomes)) for _ in range(2)]
        for leaf in leaves[1:]:
            install(tmp_path / "tls.crt", tmp_path / "tls.key", leaf)
            expected = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
            deadline = time.monotonic() + 2.0
            while await served_serial(served.port, client) != expected.serial_number:
                assert time.monotonic() < deadline, "new certificate not served within 2 s"
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # some load on each certificate
        for task in load:
            task.cancel()
        await asyncio.gather(*load, return_exceptions=True)
        await fresh.close()
        await kept.close()
    print(f"rotations={rotations} outcomes={dict(outcomes)}")
    assert set(outcomes) == {"200"}, outcomes
    assert outcomes["200"] > 20 * rotations


# --- SIGTERM under load -------------------------------------------------------------------


@dataclass
class Tally:
    answered: int = 0
    refused: int = 0  # could not connect: the request was never sent
    lost: Counter[str] | None = None


@pytest.mark.parametrize("seconds", [0.5, pytest.param(3.0, marks=pytest.mark.slow)])
async def test_sigterm_under_load_loses_no_in_flight_request(
    tmp_path: Path, seconds: float
) -> None:
    ca = trustme.CA()
    client = ssl.create_default_context()
    ca.configure_trust(client)
    tally = Tally(lost=Counter())
    body = REVIEW

    async def one(session: aiohttp.ClientSession, url: str, keep_alive: bool, slow: bool) -> None:
        assert tally.lost is not None
        try:
            data: Any = body
            if slow:
                raw = json.dumps(body).encode()

                async def halves() -> AsyncIterator[bytes]:
                    yield raw[:40]
                    await asyncio.sleep(0.2)
                    yield raw[40:]

                data = halves()
                headers = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
                async with session.post(url, data=data, headers=headers) as resp:
                    await resp.read()
            else:
                async with session.post(url, json=data) as resp:
                    await resp.read()
            assert resp.status == 200
            tally.answered += 1
        except aiohttp.ClientConnectorError:
            tally.refused += 1
            raise
        except Exception as exc:
            kind = ("keep-alive" if keep_alive else "new-connection") + (" slow" if slow else "")
            tally.lost[f"{type(exc).__name__} on {kind}"] += 1

    async def client_loop(url: str, keep_alive: bool, slow: bool) -> None:
        connector = aiohttp.TCPConnector(ssl=client, force_close=not keep_alive)
        async with aiohttp.ClientSession(connector=connector) as session:
            with contextlib.suppress(aiohttp.ClientConnectorError):
                while True:
                    await one(session, url, keep_alive, slow)

    async with serving(tmp_path, ca.issue_cert("127.0.0.1")) as served:
        clients = [
            asyncio.create_task(client_loop(served.url, keep_alive, slow))
            for keep_alive in (True, False)
            for slow in (True, False)
            for _ in range(3)
        ]
        await asyncio.sleep(seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(served.task, 10)
        _, pending = await asyncio.wait(clients, timeout=10)
    print(f"load={seconds}s {tally}")
    assert not pending
    assert tally.lost == Counter(), tally
    assert tally.answered > 10 and tally.refused == len(clients)
