"""Hostname claims held by the API server: two replicas (two app instances, each with its own
view, watch and reservations) against one fake API server, over real HTTP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient, AiohttpServer

from policies import unique_hostnames
from tests.cluster.test_watch import FAST, TOKEN, WALL, Clock
from tests.cluster.test_watch import admit as admit_on
from tests.fake_apiserver import EDGE_GATEWAY, FakeApiServer, client_for, eventually, tls_route
from tests.support import admission_review, make_view
from webhook.cluster.client import KubeClient
from webhook.cluster.leases import ClaimMetrics, LeaseStore, lease_name
from webhook.cluster.reservations import ReservingView
from webhook.cluster.watch import ClusterWatch, ViewMetrics
from webhook.core.config import Config
from webhook.core.kinds import TLSROUTE
from webhook.core.locks import Lock
from webhook.engine import Engine
from webhook.serve import ServeSettings, StartupError, _holds, claim_step, serve
from webhook.server.http import ServerState, client_names, make_app

Client = TestClient[Any, Any]
POLICY = unique_hostnames.POLICY
HOST = "shop.example.com"
NAMESPACE = "edgeguard"


@dataclass
class Replica:
    client: Client
    view: ReservingView
    leases: LeaseStore
    registry: CollectorRegistry


@pytest.fixture
def fake() -> FakeApiServer:
    api = FakeApiServer(token=TOKEN)
    api.install_all()
    api.create(EDGE_GATEWAY)
    return api


@asynccontextmanager
async def replicas(
    fake: FakeApiServer,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    clock: Clock,
    count: int = 2,
) -> AsyncIterator[list[Replica]]:
    server = await aiohttp_server(fake.app())

    made: list[Replica] = []
    watches: list[ClusterWatch] = []
    kubes: list[KubeClient] = []
    engine = Engine([POLICY], Config.defaults([POLICY]))
    for i in range(count):
        kube = client_for(server, TOKEN)
        kubes.append(kube)
        view = ReservingView(make_view(synced=False), 30.0)
        registry = CollectorRegistry()
        watch = ClusterWatch(kube, view, FAST, ViewMetrics(registry), rng=random.Random(i))
        watch.start()
        watches.append(watch)
        leases = LeaseStore(kube, NAMESPACE, 30.0, metrics=ClaimMetrics(registry), clock=clock)
        state = ServerState(
            engine,
            view,
            admitted=view.admitted,
            watched=view.memory,
            settle=claim_step(engine, view, leases),
        )
        made.append(Replica(await aiohttp_client(make_app(state)), view, leases, registry))
    await eventually(lambda: all(r.view.synced for r in made))
    try:
        yield made
    finally:
        for watch in watches:
            await watch.close()
        for kube in kubes:
            await kube.close()
        fake.close()


async def admit(replica: Replica, obj: dict[str, Any], dry_run: bool = False) -> Any:
    return await admit_on(replica.client, obj, dry_run)


def lock(holder: str, hostname: str = HOST) -> Lock:
    return Lock(
        "unique-hostnames",
        "listener/Gateway/edge/edge/tls",
        hostname,
        f"gateway.networking.k8s.io/TLSRoute/apps/{holder}",
        f"hostname {hostname} on Gateway edge/edge listener 'tls'",
    )


def claimed(fake: FakeApiServer) -> dict[str, str]:
    """The claim Leases in the fake API server: hostname -> holder."""
    return {
        lease["metadata"]["annotations"]["edgeguard.io/hostname"]: lease["metadata"]["annotations"][
            "edgeguard.io/holder"
        ]
        for lease in fake.leases.values()
    }


async def test_two_replicas_racing_one_hostname_admit_exactly_one(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async with replicas(fake, aiohttp_server, aiohttp_client, Clock(WALL)) as (one, two):
        for round_ in range(20):
            host = f"r{round_}.example.com"
            answers = await asyncio.gather(
                admit(one, tls_route(f"a{round_}", host)), admit(two, tls_route(f"b{round_}", host))
            )
            assert sum(a["allowed"] for a in answers) == 1, answers
            (refusal,) = [a["status"]["message"] for a in answers if not a["allowed"]]
            winner = f"a{round_}" if answers[0]["allowed"] else f"b{round_}"
            assert refusal == (
                f"[unique-hostnames] hostname {host} on Gateway edge/edge listener 'tls' was "
                f"claimed 0 s ago by TLSRoute apps/{winner} through another edgeguard replica "
                f"(Lease edgeguard/{lease_name(lock(winner, host))}), which is not in this "
                "replica's view yet; if it never appears, the claim lapses 30 s after it was "
                "taken: try again then"
            )
        assert len(fake.leases) == 20


async def test_the_holder_itself_passes_and_a_live_holder_is_named(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    clock = Clock(WALL)
    async with replicas(fake, aiohttp_server, aiohttp_client, clock) as (one, two):
        assert (await admit(one, tls_route("web", HOST)))["allowed"]
        fake.create(tls_route("web", HOST))
        await eventually(lambda: two.view.memory.get(*KEY) is not None)
        # The same object again (a re-apply through the other replica): no new claim, no write.
        writes = len(fake.lease_writes)
        assert (await admit(two, tls_route("web", HOST)))["allowed"]
        assert len(fake.lease_writes) == writes
        clock.now += 3600  # long past the grace period: the holder is still live, so no takeover
        assert await one.leases.acquire([lock("other")], _holds_of(one), dry_run=False) == (
            f"hostname {HOST} on Gateway edge/edge listener 'tls' is already claimed by "
            f"TLSRoute apps/web (Lease edgeguard/{lease_name(lock('web'))}, through which "
            "edgeguard keeps one owner per hostname across its replicas); choose another "
            "hostname, or free it in TLSRoute apps/web first"
        )
        assert claimed(fake) == {HOST: "gateway.networking.k8s.io/TLSRoute/apps/web"}


KEY = (TLSROUTE, "apps", "web")


def _holds_of(replica: Replica) -> Any:
    engine = Engine([POLICY], Config.defaults([POLICY]))
    return _holds(engine, replica.view)


async def test_a_stale_claim_is_taken_over_by_exactly_one_of_two_replicas(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    clock = Clock(WALL)
    async with replicas(fake, aiohttp_server, aiohttp_client, clock) as (one, two):
        # Admitted, then refused further down the admission chain: never stored.
        assert (await admit(one, tls_route("ghost", HOST)))["allowed"]
        clock.now += 31.0
        answers = await asyncio.gather(
            admit(one, tls_route("a", HOST)), admit(two, tls_route("b", HOST))
        )
        assert sorted(a["allowed"] for a in answers) == [False, True]
        winner = "a" if answers[0]["allowed"] else "b"
        assert claimed(fake) == {HOST: f"gateway.networking.k8s.io/TLSRoute/apps/{winner}"}
        assert [m for m, _ in fake.lease_writes].count("PUT") in (1, 2)  # one won, one lost


async def test_the_sweep_releases_claims_whose_holder_is_gone(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    clock = Clock(WALL)
    async with replicas(fake, aiohttp_server, aiohttp_client, clock, count=1) as (one,):
        assert (await admit(one, tls_route("web", HOST)))["allowed"]
        assert (await admit(one, tls_route("ghost", "ghost.example.com")))["allowed"]
        fake.create(tls_route("web", HOST))
        await eventually(lambda: one.view.memory.get(*KEY) is not None)
        holds = _holds_of(one)
        assert await one.leases.sweep(holds) == 0  # within the grace period: nothing yet
        clock.now += 31.0
        assert await one.leases.sweep(holds) == 1  # the ghost never appeared
        assert claimed(fake) == {HOST: "gateway.networking.k8s.io/TLSRoute/apps/web"}
        fake.delete(*KEY)
        await eventually(lambda: one.view.memory.get(*KEY) is None)
        assert await one.leases.sweep(holds) == 1  # deleted: its claim is released
        assert fake.leases == {}


async def test_a_dry_run_writes_nothing(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async with replicas(fake, aiohttp_server, aiohttp_client, Clock(WALL), count=1) as (one,):
        assert (await admit(one, tls_route("web", HOST), dry_run=True))["allowed"]
        assert (fake.lease_writes, fake.leases, one.view.pending) == ([], {}, 0)
        assert (await admit(one, tls_route("web", HOST)))["allowed"]
        dry = await admit(one, tls_route("other", HOST), dry_run=True)
        assert dry["allowed"] is False
        assert [m for m, _ in fake.lease_writes] == ["POST"]


async def test_the_api_server_down_denies_the_claim_with_the_reason(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async with replicas(fake, aiohttp_server, aiohttp_client, Clock(WALL), count=1) as (one,):
        one.leases.timeout_seconds = 0.5
        fake.go_down()
        answer = await admit(one, tls_route("web", HOST))
        assert answer["allowed"] is False
        assert answer["status"]["message"].startswith(
            f"[unique-hostnames] edgeguard could not record the claim of hostname {HOST} on "
            "Gateway edge/edge listener 'tls' with the API server ("
        )
        assert answer["status"]["message"].endswith(
            "), so it cannot make sure that no other replica admits the same hostname; it "
            "refuses rather than risk a duplicate: try again"
        )
        assert one.view.pending == 0  # the refused claim's reservation is dropped too
        error = one.registry.get_sample_value("edgeguard_claims_total", {"result": "error"})
        assert error == 1.0


def test_client_names_are_the_certificates_cn_and_dns_sans() -> None:
    peercert = {
        "subject": ((("organizationName", "k8s"),), (("commonName", "kube-apiserver"),)),
        "subjectAltName": (("DNS", "apiserver.internal"), ("IP Address", "10.0.0.1")),
    }
    assert client_names(peercert) == {"kube-apiserver", "apiserver.internal"}
    assert client_names(None) == frozenset()


async def test_a_client_not_named_by_client_cn_is_refused(aiohttp_client: AiohttpClient) -> None:
    engine = Engine([POLICY], Config.defaults([POLICY]))
    state = ServerState(engine, make_view(), client_names=frozenset({"kube-apiserver"}))
    client = await aiohttp_client(make_app(state))
    async with client.post("/validate", json=admission_review(tls_route("web", HOST))) as response:
        assert (response.status, await response.json()) == (
            403,
            {
                "error": "client no client certificate is not allowed to call this webhook "
                "(--client-cn allows kube-apiserver)"
            },
        )


async def test_client_cn_without_client_ca_stops_at_start() -> None:
    with pytest.raises(StartupError, match=r"^--client-cn needs --client-ca: "):
        await serve(
            ServeSettings(client_names=("kube-apiserver",)), Engine([], Config.defaults([]))
        )
