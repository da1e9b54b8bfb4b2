"""The live view against a fake API server over HTTP: sync, events, relists, CRDs, readiness."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient, AiohttpServer

from policies import unique_hostnames
from policies.gateway.claims import CLUSTER
from policies.gateway.model import Route
from policies.gateway.topology import Topology, claims_of
from tests.fake_apiserver import EDGE_GATEWAY, FakeApiServer, client_for, eventually, tls_route
from tests.support import admission_review, claimants, make_view
from webhook.cluster.reservations import ReservingView
from webhook.cluster.watch import ClusterWatch, ViewMetrics, WatchSettings, rbac_rules
from webhook.core.config import Config
from webhook.core.decision import Decision, allowed, denied
from webhook.core.kinds import (
    GATEWAY,
    GATEWAYCLASS,
    KINDS,
    OPENBAO_CLUSTER,
    SERVICE,
    TLSROUTE,
    GroupKind,
)
from webhook.core.objects import ObjectKey
from webhook.core.policy import Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView
from webhook.engine import Engine
from webhook.server.http import ServerState, make_app
from webhook.server.metrics import Metrics

TOKEN = "t0ken"
FAST = WatchSettings(
    crd_recheck_seconds=0.05,
    page_size=2,
    watch_seconds=30.0,
    freshness_check_seconds=0.01,
    gone_confirm_seconds=0.05,
    backoff_seconds=0.01,
    backoff_cap_seconds=0.05,
)
Client = TestClient[Any, Any]
WALL = 1_800_000_000.0  # the wall clock the watch reads in these tests: 2027-01-15T08:00:00Z


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Live:
    view: ReservingView
    watch: ClusterWatch
    registry: CollectorRegistry
    clock: Clock

    def sample(self, name: str, kind: GroupKind, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {"kind": str(kind), **labels})

    def samples(self, name: str) -> dict[tuple[str, ...], float]:
        return {
            tuple(s.labels.values()): s.value
            for metric in self.registry.collect()
            for s in metric.samples
            if s.name == name
        }


@pytest.fixture
def fake() -> FakeApiServer:
    api = FakeApiServer(token=TOKEN)
    api.install_all()
    return api


@asynccontextmanager
async def live(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, settings: WatchSettings = FAST
) -> AsyncIterator[Live]:
    server = await aiohttp_server(fake.app())

    client = client_for(server, TOKEN)
    clock = Clock()
    view = ReservingView(make_view(synced=False), 30.0, clock)
    registry = CollectorRegistry()
    metrics = ViewMetrics(registry)
    watch = ClusterWatch(
        client, view, settings, metrics, clock=clock, rng=random.Random(7), wall=lambda: WALL
    )
    watch.start()
    try:
        yield Live(view, watch, registry, clock)
    finally:
        await watch.close()
        fake.close()


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "team": "edge",
            },
        },
        "spec": {"ports": [{"port": 8443}]},
        "status": {"loadBalancer": {}},
    }


def openbao(name: str, hostname: str) -> dict[str, Any]:
    return {
        "apiVersion": "openbao.org/v1alpha1",
        "kind": "OpenBaoCluster",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "gateway": {
                "enabled": True,
                "hostname": hostname,
                "gatewayRef": {"name": "edge", "namespace": "edge"},
            }
        },
    }


def claim_of(kind: GroupKind, name: str) -> list[str]:
    return [str(ObjectKey(kind.group, kind.kind, "apps", name))]


def queries(fake: FakeApiServer, path: str) -> list[list[tuple[str, str]]]:
    parts = [urlsplit(r) for r in fake.requests]
    return [parse_qsl(p.query) for p in parts if p.path == path]


def watched_from(fake: FakeApiServer, path: str) -> list[str]:
    return [dict(q)["resourceVersion"] for q in queries(fake, path) if ("watch", "true") in q]


def continue_token(rv: int, offset: int) -> str:
    return base64.b64encode(json.dumps([rv, offset]).encode()).decode()


async def test_first_sync_lists_every_page_then_watches_from_the_list_version(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    for i in range(5):
        fake.create(service(f"svc-{i}"))  # resourceVersions 101..105
    fake.create(tls_route("web", "app.example.com"))  # 106
    async with live(fake, aiohttp_server) as lv:
        assert not lv.view.synced
        await eventually(lambda: lv.view.synced and fake.watching(SERVICE))
        assert lv.watch.synced
        assert lv.view.get(SERVICE, "apps", "svc-3") == {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "svc-3",
                "namespace": "apps",
                "annotations": {"team": "edge"},
            },
            "spec": {},
        }
        assert claimants(lv.view, "app.example.com") == claim_of(TLSROUTE, "web")
        requests = queries(fake, "/api/v1/services")
        assert requests[:3] == [
            [("limit", "2")],
            [("limit", "2"), ("continue", continue_token(106, 2))],
            [("limit", "2"), ("continue", continue_token(106, 4))],
        ]
        watch = dict(requests[3])
        assert 30 <= int(watch.pop("timeoutSeconds")) < 60
        assert watch == {"watch": "true", "resourceVersion": "106", "allowWatchBookmarks": "true"}
        assert lv.samples("edgeguard_view_objects") == {
            (str(kind),): {SERVICE: 5.0, TLSROUTE: 1.0}.get(kind, 0.0) for kind in KINDS
        }
        assert lv.samples("edgeguard_view_kind_served") == {(str(kind),): 1.0 for kind in KINDS}
        assert lv.samples("edgeguard_view_watch_errors_total") == {}
        assert lv.samples("edgeguard_view_relists_total") == {}


async def test_watch_events_update_objects_and_claims(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        fake.create(tls_route("web", "app.example.com"))
        await eventually(lambda: claimants(lv.view, "app.example.com"))
        assert claimants(lv.view, "APP.example.com.") == claim_of(TLSROUTE, "web")
        fake.update(tls_route("web", "api.example.com"))
        await eventually(lambda: claimants(lv.view, "api.example.com"))
        assert claimants(lv.view, "app.example.com") == []
        route = lv.view.get(TLSROUTE, "apps", "web")
        assert route is not None and route["spec"]["hostnames"] == ["api.example.com"]
        fake.delete(TLSROUTE, "apps", "web")
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "web") is None)
        assert claimants(lv.view, "api.example.com") == []
        assert lv.samples("edgeguard_view_relists_total") == {}


async def test_a_gatewayclass_status_update_reaches_the_view(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    """A controller writes only status (cluster-scoped GatewayClass): the view keeps the fields
    edge-readiness reads and follows each update."""
    gateway_class = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": "traefik"},
        "spec": {"controllerName": "traefik.io/gateway-controller"},
    }

    def accepted(status: str) -> dict[str, Any]:
        condition = {"type": "Accepted", "status": status, "reason": "Pending", "message": "m"}
        return {"conditions": [condition | {"lastTransitionTime": "1970-01-01T00:00:00Z"}]}

    def stored_status() -> Any:
        found = lv.view.get(GATEWAYCLASS, None, "traefik")
        return found.get("status") if found is not None else None

    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(GATEWAYCLASS))
        fake.create(gateway_class | {"status": accepted("Unknown")})
        await eventually(lambda: stored_status() is not None)
        fake.update(gateway_class | {"status": accepted("True")})
        kept = {"type": "Accepted", "status": "True", "reason": "Pending", "message": "m"}
        await eventually(lambda: stored_status() == {"conditions": [kept]})


async def test_a_bookmark_is_an_event_and_the_next_watch_starts_from_it(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    path = "/apis/gateway.networking.k8s.io/v1/tlsroutes"
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        lv.clock.now += 42.0
        assert lv.sample("edgeguard_view_last_event_age_seconds", TLSROUTE) == 42.0
        rv = fake.bookmark(TLSROUTE)
        await eventually(
            lambda: lv.sample("edgeguard_view_last_event_age_seconds", TLSROUTE) == 0.0
        )
        fake.end_watches(TLSROUTE)  # as the server's timeoutSeconds does
        await eventually(lambda: rv in watched_from(fake, path))
        assert watched_from(fake, path) == ["100", rv]
        assert lv.samples("edgeguard_view_relists_total") == {}
        assert lv.samples("edgeguard_view_watch_errors_total") == {}


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-410"])
async def test_410_gone_relists_and_drops_what_was_deleted_meanwhile(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, as_http: bool
) -> None:
    fake.gone_as_http = as_http
    fake.create(tls_route("a", "a.example.com"))
    fake.create(tls_route("b", "b.example.com"))
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        fake.forget(TLSROUTE, "apps", "b")
        fake.expire(TLSROUTE)
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "b") is None)
        assert [r["metadata"]["name"] for r in lv.view.list(TLSROUTE)] == ["a"]
        assert claimants(lv.view, "b.example.com") == []
        assert lv.samples("edgeguard_view_relists_total") == {(str(TLSROUTE),): 1.0}
        assert lv.samples("edgeguard_view_watch_errors_total") == {(str(TLSROUTE), "gone"): 1.0}
        assert lv.view.synced
        await eventually(lambda: fake.watching(TLSROUTE))
        fake.create(tls_route("c", "c.example.com"))
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "c") is not None)


async def test_a_dropped_stream_is_followed_by_a_relist_and_a_new_watch(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        fake.drop(TLSROUTE)
        await eventually(
            lambda: lv.sample("edgeguard_view_watch_errors_total", TLSROUTE, reason="stream")
        )
        fake.create(tls_route("late", "late.example.com"))
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "late") is not None)
        assert lv.samples("edgeguard_view_watch_errors_total") == {(str(TLSROUTE), "stream"): 1.0}
        assert lv.samples("edgeguard_view_relists_total") == {(str(TLSROUTE),): 1.0}


async def test_an_expired_continue_token_restarts_the_list(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    fake.expire_next_continue = True
    for i in range(5):
        fake.create(service(f"svc-{i}"))
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced)
        names = [s["metadata"]["name"] for s in lv.view.list(SERVICE)]
        assert sorted(names) == ["svc-0", "svc-1", "svc-2", "svc-3", "svc-4"]
        assert queries(fake, "/api/v1/services")[:3] == [
            [("limit", "2")],
            [("limit", "2"), ("continue", continue_token(105, 2))],
            [("limit", "2")],
        ]
        assert lv.samples("edgeguard_view_watch_errors_total") == {(str(SERVICE), "gone"): 1.0}


async def test_a_crd_installed_later_is_watched_without_a_restart(
    aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgeguard.cluster")
    fake = FakeApiServer(token=TOKEN)
    fake.install_all(without=frozenset({OPENBAO_CLUSTER}))
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced)
        assert OPENBAO_CLUSTER not in lv.watch.served
        assert lv.sample("edgeguard_view_kind_served", OPENBAO_CLUSTER) == 0.0
        assert (
            "OpenBaoCluster.openbao.org: not served by the API server (CRD not installed?); "
            "looking again every 0.05 s"
        ) in caplog.messages
        fake.install(OPENBAO_CLUSTER)
        fake.create(openbao("vault", "vault.example.com"))
        await eventually(lambda: lv.view.get(OPENBAO_CLUSTER, "apps", "vault") is not None)
        assert lv.sample("edgeguard_view_kind_served", OPENBAO_CLUSTER) == 1.0
        assert claimants(lv.view, "vault.example.com") == claim_of(OPENBAO_CLUSTER, "vault")
        fake.uninstall(OPENBAO_CLUSTER)
        await eventually(lambda: lv.view.get(OPENBAO_CLUSTER, "apps", "vault") is None)
        assert lv.sample("edgeguard_view_kind_served", OPENBAO_CLUSTER) == 0.0
        assert lv.view.synced


async def test_readyz_answers_503_until_every_kind_is_listed(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    fake.held = {GATEWAY}
    async with live(fake, aiohttp_server) as lv:
        engine = Engine([], Config.defaults([]))
        client = await aiohttp_client(make_app(ServerState(engine, lv.view)))
        watched = len(KINDS) - 1  # every kind but the held one lists, then watches
        await eventually(lambda: len([r for r in fake.requests if "watch=true" in r]) == watched)
        assert not lv.view.synced and not lv.watch.synced
        assert await ready(client) == (503, {"ready": False, "checks": {"view": False}})
        fake.release()
        await eventually(lambda: lv.view.synced)
        assert await ready(client) == (200, {"ready": True, "checks": {"view": True}})


async def ready(client: Client) -> tuple[int, Any]:
    async with client.get("/readyz") as response:
        return response.status, await response.json()


async def test_rbac_rules_are_exactly_what_the_loop_reads(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced)
    paths = [_group_resource(urlsplit(r).path) for r in fake.requests]
    assert sorted({p for p in paths if p is not None}) == rbac_rules()
    assert rbac_rules() == [
        ("", "namespaces"),
        ("", "services"),
        ("cert-manager.io", "certificates"),
        ("gateway.networking.k8s.io", "backendtlspolicies"),
        ("gateway.networking.k8s.io", "gatewayclasses"),
        ("gateway.networking.k8s.io", "gateways"),
        ("gateway.networking.k8s.io", "grpcroutes"),
        ("gateway.networking.k8s.io", "httproutes"),
        ("gateway.networking.k8s.io", "listenersets"),
        ("gateway.networking.k8s.io", "referencegrants"),
        ("gateway.networking.k8s.io", "tcproutes"),
        ("gateway.networking.k8s.io", "tlsroutes"),
        ("gateway.networking.k8s.io", "udproutes"),
        ("openbao.org", "openbaoclusters"),
        ("openvox.voxpupuli.org", "certificates"),
        ("openvox.voxpupuli.org", "pools"),
        ("openvox.voxpupuli.org", "servers"),
    ]


def _group_resource(path: str) -> tuple[str, str] | None:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 3:
        return ("", parts[2])
    if parts[0] == "apis" and len(parts) == 4:
        return (parts[1], parts[3])
    return None  # discovery


# --- The reservation race, through the real server and the live watch ---------------------------


def _first_claim_wins(review: Review, view: ClusterView, settings: Settings) -> Decision:
    topology = view.derived(Topology)
    route = Route.parse(review.current)
    for mine in claims_of(route, topology.attach(route)) if route is not None else ():
        if mine.slot != CLUSTER:
            continue
        for holder, claims in topology.exact(CLUSTER, mine.hostname).items():
            if holder != mine.holder:
                other = next(iter(claims))
                return denied(f"hostname {mine.hostname} is already claimed by {other}")
    return allowed()


FIRST_CLAIM_WINS = Policy(
    "first-claim-wins", frozenset({TLSROUTE}), _first_claim_wins, referential=True
)


def reserving_state(policies: Sequence[Policy], view: ReservingView) -> ServerState:
    """The server as serve() wires it: each /validate verdict reserves before the next."""
    engine = Engine(policies, Config.defaults(policies))
    return ServerState(engine, view, admitted=view.admitted)


async def admit(client: Client, obj: dict[str, Any], dry_run: bool = False) -> Any:
    body = admission_review(obj, dry_run=dry_run)
    async with client.post("/validate", json=body) as response:
        assert response.status == 200
        return (await response.json())["response"]


@pytest.mark.parametrize(
    "policy", [FIRST_CLAIM_WINS, unique_hostnames.POLICY], ids=lambda p: str(p.name)
)
async def test_concurrent_admissions_of_one_hostname_admit_exactly_one(
    fake: FakeApiServer,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    policy: Policy,
) -> None:
    fake.create(EDGE_GATEWAY)
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        client = await aiohttp_client(make_app(reserving_state([policy], lv.view)))
        routes = [tls_route(f"r{i}", "shop.example.com") for i in range(8)]

        dry = await asyncio.gather(*(admit(client, r, dry_run=True) for r in routes))
        assert [answer["allowed"] for answer in dry] == [True] * 8
        assert lv.view.pending == 0

        answers = await asyncio.gather(*(admit(client, r) for r in routes))
        verdicts = [answer["allowed"] for answer in answers]
        assert verdicts.count(True) == 1
        winner = routes[verdicts.index(True)]["metadata"]["name"]
        refusals = {a["status"]["message"] for a in answers if not a["allowed"]}
        assert len(refusals) == 1 and f"TLSRoute apps/{winner}" in refusals.pop()
        assert lv.view.pending == 1

        fake.create(tls_route(winner, "shop.example.com"))
        await eventually(lambda: lv.view.pending == 0)
        assert claimants(lv.view, "shop.example.com") == claim_of(TLSROUTE, winner)
        late = await admit(client, tls_route("late", "shop.example.com"))
        assert late["allowed"] is False


async def test_a_loser_is_told_who_holds_the_hostname(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced)
        client = await aiohttp_client(make_app(reserving_state([FIRST_CLAIM_WINS], lv.view)))
        assert (await admit(client, tls_route("first", "shop.example.com")))["allowed"] is True
        assert (await admit(client, tls_route("second", "shop.example.com"))) == {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "allowed": False,
            "status": {
                "code": 403,
                "reason": "Forbidden",
                "message": "[first-claim-wins] hostname shop.example.com is already claimed by "
                "TLSRoute apps/first",
            },
        }


async def test_the_view_metrics_join_the_servers_registry(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    server = await aiohttp_server(fake.app())

    client = client_for(server, TOKEN)
    served = Metrics()
    store = make_view(synced=False)
    metrics = ViewMetrics(served.registry, objects=served.view_objects)
    watch = ClusterWatch(client, store, FAST, metrics, kinds=[KINDS[SERVICE]])
    fake.create(service("svc-0"))
    watch.start()
    try:
        await eventually(lambda: store.synced)
    finally:
        await watch.close()
    text = served.render().decode()
    assert 'edgeguard_view_objects{kind="Service"} 1.0' in text.splitlines()
    assert 'edgeguard_view_kind_served{kind="Service"} 1.0' in text.splitlines()
