"""Read your writes: objects applied together are judged together, as `edgeguard review` judges
them, against a fake API server whose watch delivers events only after the admission answer."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient, AiohttpServer

import policies
from policies.gateway.indexes import INDEXES
from tests.cluster.test_watch import FAST, TOKEN
from tests.cluster.test_watch import admit as admit_on
from tests.fake_apiserver import (
    EDGE_CLASS,
    EDGE_GATEWAY,
    FakeApiServer,
    client_for,
    eventually,
    tls_route,
)
from tests.support import SHARED_DATA, make_view
from webhook.cluster.readthrough import ReadMetrics, ReadThrough
from webhook.cluster.reservations import ReservingView
from webhook.cluster.watch import ClusterWatch, ViewMetrics
from webhook.core.config import Config
from webhook.core.kinds import BACKENDTLSPOLICY, GATEWAY, GATEWAYCLASS, TLSROUTE
from webhook.engine import Engine
from webhook.offline.run import review
from webhook.server.http import ServerState, make_app
from webhook.yamlio.manifests import load

Client = TestClient[Any, Any]
SHIPPED = policies.builtin()
CONFORMANCE = SHARED_DATA / "gateway-api" / "conformance"


@dataclass
class Replica:
    client: Client
    view: ReservingView
    registry: CollectorRegistry


@pytest.fixture
def fake() -> FakeApiServer:
    api = FakeApiServer(token=TOKEN)
    api.install_all()
    api.create(EDGE_CLASS)
    return api


@asynccontextmanager
async def replica(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> AsyncIterator[Replica]:
    server = await aiohttp_server(fake.app())

    kube = client_for(server, TOKEN)
    view = ReservingView(make_view(synced=False), 30.0)
    registry = CollectorRegistry()
    watch = ClusterWatch(kube, view, FAST, ViewMetrics(registry), rng=random.Random(3))
    engine = Engine(SHIPPED, Config.defaults(SHIPPED))
    reads = ReadThrough(watch, view, engine, metrics=ReadMetrics(registry))
    state = ServerState(
        engine,
        view,
        admitted=view.admitted,
        watched=view.memory,
        prepare=reads.prepare,
        confirm=reads.confirm,
    )
    watch.start()
    await eventually(lambda: view.synced)
    try:
        yield Replica(await aiohttp_client(make_app(state)), view, registry)
    finally:
        await watch.close()
        fake.close()


async def admit(r: Replica, obj: dict[str, Any], dry_run: bool = False) -> Any:
    return await admit_on(r.client, obj, dry_run)


def offline(documents: list[Any]) -> list[tuple[bool, list[str]]]:
    engine = Engine(SHIPPED, Config.defaults(SHIPPED))
    run = review(engine, documents, derive=INDEXES)
    return [
        (o.allowed, [*o.warnings, *(m for v in o.verdicts for m in v.messages)])
        for o in run.objects
    ]


def answer(response: Any) -> tuple[bool, list[str]]:
    message = response.get("status", {}).get("message")
    return response["allowed"], [*response.get("warnings", []), *([message] if message else [])]


def reads(r: Replica, result: str) -> float:
    return r.registry.get_sample_value("edgeguard_read_through_total", {"result": result}) or 0.0


async def test_a_file_applied_object_by_object_gets_the_offline_verdict(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    # The conformance file lists its TLSRoute first; applied Gateway first, as a user would.
    path = CONFORMANCE / "tests" / "tlsroute-terminate-simple-same-namespace.yaml"
    documents = sorted(load([str(path)]), key=lambda d: d.obj["kind"] != "Gateway")
    fake.delayed = {GATEWAY, TLSROUTE}  # the watch lags behind every write
    async with replica(fake, aiohttp_server, aiohttp_client) as r:
        verdicts = []
        for document in documents:
            response = await admit(r, dict(document.obj))
            verdicts.append(answer(response))
            if response["allowed"]:
                fake.create(document.obj)  # stored, but not yet in the watch
        assert [allowed for allowed, _ in verdicts] == [a for a, _ in offline(documents)]
        assert [allowed for allowed, _ in verdicts] == [True, False]  # the TLSRoute: Terminate
        assert r.view.pending == 1  # the Gateway, until the watch shows it


async def test_a_gateway_made_through_another_replica_is_read_through(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    fake.delayed = {GATEWAY}
    async with replica(fake, aiohttp_server, aiohttp_client) as r:
        terminating = {
            **EDGE_GATEWAY,
            "spec": {
                "gatewayClassName": "edge",
                "listeners": [
                    {"name": "tls", "protocol": "TLS", "port": 443, "tls": {"mode": "Terminate"}}
                ],
            },
        }
        fake.create(terminating)  # not admitted here, and not in the watch yet
        route = tls_route("web", "shop.example.com", namespace="edge")
        allowed, messages = answer(await admit(r, route))
        assert (allowed, messages) == (
            False,
            [
                "[tls-passthrough] spec.parentRefs[0]: Gateway edge/edge offers listener 'tls' "
                "(TLS/Terminate), none with protocol: TLS and tls.mode: Passthrough; TLS "
                "termination for TLSRoutes is off (setting allowTLSRouteTerminate: false). Point "
                "spec.parentRefs[0].sectionName at a listener with protocol: TLS and tls.mode: "
                "Passthrough, or make one of those listeners pass TLS through"
            ],
        )
        assert reads(r, "found") == 1.0
        # A name that is nowhere is read once, then remembered for a few seconds.
        absent = tls_route("other", "x.example.com", gateway="missing")
        for _ in range(3):
            assert (await admit(r, absent))["allowed"]
        assert reads(r, "missing") == 1.0


async def test_a_replacement_is_not_refused_by_the_object_it_replaces(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    fake.create(EDGE_GATEWAY)
    fake.create(tls_route("old", "shop.example.com"))
    async with replica(fake, aiohttp_server, aiohttp_client) as r:
        await eventually(lambda: r.view.memory.get(TLSROUTE, "apps", "old") is not None)
        await eventually(lambda: fake.watching(TLSROUTE))  # past the list: events only now
        fake.delayed = {TLSROUTE}
        fake.delete(TLSROUTE, "apps", "old")  # the DELETED event has not arrived yet
        response = await admit(r, tls_route("new", "shop.example.com"))
        assert answer(response) == (True, [])
        assert reads(r, "changed") == 1.0
        assert r.view.memory.get(TLSROUTE, "apps", "old") is None
        # A rival that really exists still refuses it.
        fake.create(tls_route("real", "taken.example.com"))
        fake.flush()
        await eventually(lambda: r.view.memory.get(TLSROUTE, "apps", "real") is not None)
        assert (await admit(r, tls_route("late", "taken.example.com")))["allowed"] is False


async def test_a_dry_run_pends_nothing(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async with replica(fake, aiohttp_server, aiohttp_client) as r:
        assert (await admit(r, EDGE_GATEWAY, dry_run=True))["allowed"]
        assert r.view.pending == 0
        assert (await admit(r, EDGE_GATEWAY))["allowed"]
        assert r.view.pending == 1
        assert r.view.get(GATEWAY, "edge", "edge") is not None


async def test_a_gatewayclass_not_yet_in_the_watch_is_read_through(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    """edge-readiness reads a Gateway's class by name: one created just before (or through
    another replica) is read from the API server, not reported missing."""
    fake.delayed = {GATEWAY, GATEWAYCLASS}
    async with replica(fake, aiohttp_server, aiohttp_client) as r:
        fake.create({**EDGE_CLASS, "metadata": {"name": "late"}})
        fake.create({**EDGE_GATEWAY, "spec": {**EDGE_GATEWAY["spec"], "gatewayClassName": "late"}})
        route = tls_route("web", "shop.example.com", namespace="edge")
        assert answer(await admit(r, route)) == (True, [])
        assert reads(r, "found") == 2.0  # the Gateway, then its class
        assert r.view.get(GATEWAYCLASS, None, "late") is not None


async def test_a_backendtlspolicy_applied_with_its_openbaocluster_is_read_through(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    """tls-passthrough refuses backendTLS off unless a BackendTLSPolicy covers <cluster>-public:
    one created a moment before, not in the watch yet, is read from the API server."""
    fake.delayed = {BACKENDTLSPOLICY}
    cluster = {
        "apiVersion": "openbao.org/v1alpha1",
        "kind": "OpenBaoCluster",
        "metadata": {"name": "bao", "namespace": "edge"},
        "spec": {
            "tls": {"enabled": True},
            "gateway": {
                "enabled": True,
                "gatewayRef": {"name": "edge"},
                "hostname": "bao.example.com",
                "backendTLS": {"enabled": False},
            },
        },
    }
    policy = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "BackendTLSPolicy",
        "metadata": {"name": "bao-public", "namespace": "edge"},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "bao-public"}]},
    }
    async with replica(fake, aiohttp_server, aiohttp_client) as r:
        fake.create(policy)  # stored, not yet in the watch
        allowed, _ = answer(await admit(r, cluster))
        assert allowed is True
        assert reads(r, "found") == 1.0
        # Without one, it is refused (the namespace's policies read once: none covers it).
        other = {**cluster, "metadata": {"name": "bao", "namespace": "apps"}}
        allowed, messages = answer(await admit(r, other))
        assert (allowed, reads(r, "found")) == (False, 1.0)
        assert messages[-1].startswith(
            "[tls-passthrough] spec.gateway.backendTLS.enabled: false with spec.tls.enabled: true"
        )
