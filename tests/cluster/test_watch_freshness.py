"""Freshness of the live view against a fake API server: outages, silent watches, lone 404s.

Each kind's last contact with the API server (a list, watch event or bookmark, a watch opened
or ended) is tracked; past view.staleSeconds the kind is stale, its checks answer as before the
first sync, /readyz says 503, and it recovers on the next contact without a restart.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from policies import unique_hostnames
from tests.cluster.test_watch import FAST, Client, admit, fake, live, ready
from tests.fake_apiserver import EDGE_GATEWAY, FakeApiServer, eventually, tls_route
from tests.support import claimants
from webhook.cluster.watch import WatchSettings
from webhook.core.config import Config, ViewConfig
from webhook.core.kinds import KINDS, OPENBAO_CLUSTER, TLSROUTE
from webhook.engine import Engine
from webhook.server.http import ServerState, make_app

__all__ = ["fake"]  # the fake API server fixture, shared with test_watch
ALL_KINDS = sorted(str(kind) for kind in KINDS)
# The kinds unique-hostnames reads (its `reads`), as the stale message lists them.
READ_BY_UNIQUE = (
    "GRPCRoute.gateway.networking.k8s.io, Gateway.gateway.networking.k8s.io, "
    "HTTPRoute.gateway.networking.k8s.io, ListenerSet.gateway.networking.k8s.io, Namespace, "
    "OpenBaoCluster.openbao.org, Pool.openvox.voxpupuli.org, "
    "TCPRoute.gateway.networking.k8s.io, TLSRoute.gateway.networking.k8s.io, "
    "UDPRoute.gateway.networking.k8s.io"
)
STALE = (
    f"[unique-hostnames] cluster view stale: no contact with the API server about "
    f"{READ_BY_UNIQUE} for over 60 s: edgeguard cannot check references to other objects"
)
PROBES = {
    "dup": tls_route("dup", "shop.example.com"),  # shop.example.com is held by route "held"
    "free": tls_route("free", "free.example.com"),
    "late": tls_route("late", "new.example.com"),  # "outage" takes it while the view is blind
}


def test_the_stale_message_lists_the_kinds_the_policy_reads() -> None:
    read = set(KINDS) & set(unique_hostnames.POLICY.reads)
    assert ", ".join(sorted(map(str, read))) == READ_BY_UNIQUE


def verdict(answer: dict[str, Any]) -> str:
    """One probe's answer in short: a duplicate's denial by who holds the name (the policy's
    own wording is tested in tests/policies), anything else in full."""
    if not answer["allowed"]:
        message = answer["status"]["message"]
        taken = re.search(r" is already claimed on .* by (\w+ [\w/-]+);", message)
        return f"denied: taken by {taken[1]}" if taken else f"denied: {message}"
    warnings = answer.get("warnings")
    return f"allowed with warning: {'; '.join(warnings)}" if warnings else "allowed"


async def verdicts(client: Client) -> dict[str, str]:
    return {name: verdict(await admit(client, route)) for name, route in PROBES.items()}


FRESH = {"dup": "denied: taken by TLSRoute apps/held", "free": "allowed", "late": "allowed"}
EXPECTED = {
    "Deny": {
        "before the outage": FRESH,
        "down 30 s": FRESH,
        "down 61 s": {name: f"denied: {STALE}" for name in PROBES},
        "after the outage": FRESH | {"late": "denied: taken by TLSRoute apps/outage"},
    },
    "Warn": {
        "before the outage": FRESH,
        "down 30 s": FRESH,
        "down 61 s": {name: f"allowed with warning: {STALE}" for name in PROBES},
        "after the outage": FRESH | {"late": "denied: taken by TLSRoute apps/outage"},
    },
}
READY = (200, {"ready": True, "checks": {"view": True}})
STALE_READINESS = (503, {"ready": False, "checks": {"view": False}, "staleKinds": ALL_KINDS})


@pytest.mark.parametrize("not_synced", ["Deny", "Warn"])
async def test_an_outage_past_the_bound_answers_as_unsynced_and_recovers_without_restart(
    fake: FakeApiServer,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
    caplog: pytest.LogCaptureFixture,
    not_synced: str,
) -> None:
    caplog.set_level(logging.INFO, logger="edgeguard.cluster")
    fake.create(EDGE_GATEWAY)
    fake.create(tls_route("held", "shop.example.com"))
    policy = unique_hostnames.POLICY
    config = dataclasses.replace(Config.defaults([policy]), view=ViewConfig(not_synced))
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        client = await aiohttp_client(make_app(ServerState(Engine([policy], config), lv.view)))
        table = {"before the outage": await verdicts(client)}
        readiness = {"before the outage": await ready(client)}

        fake.go_down()
        await eventually(
            lambda: lv.sample("edgeguard_view_watch_errors_total", TLSROUTE, reason="stream")
        )
        fake.create(tls_route("outage", "new.example.com"))  # written meanwhile, unseen
        lv.clock.now += 30.0
        table["down 30 s"] = await verdicts(client)
        readiness["down 30 s"] = await ready(client)
        assert lv.view.stale_kinds() == frozenset()

        lv.clock.now += 31.0
        await eventually(lambda: lv.view.stale_kinds() == frozenset(KINDS))
        table["down 61 s"] = await verdicts(client)
        readiness["down 61 s"] = await ready(client)
        assert lv.samples("edgeguard_view_stale") == {(k,): 1.0 for k in ALL_KINDS}
        assert lv.sample("edgeguard_view_last_event_age_seconds", TLSROUTE) == 61.0

        fake.come_back()
        await eventually(lambda: not lv.view.stale_kinds())
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "outage") is not None)
        table["after the outage"] = await verdicts(client)
        readiness["after the outage"] = await ready(client)
        assert lv.samples("edgeguard_view_stale") == {(k,): 0.0 for k in ALL_KINDS}
    assert table == EXPECTED[not_synced]
    assert readiness == {
        "before the outage": READY,
        "down 30 s": READY,
        "down 61 s": STALE_READINESS,
        "after the outage": READY,
    }
    assert (
        "TLSRoute.gateway.networking.k8s.io: stale: no contact with the API server since "
        "2027-01-15T07:58:59Z (61 s, over the 60 s bound); checks that read it answer as before "
        "the first sync"
    ) in caplog.messages
    assert (
        "TLSRoute.gateway.networking.k8s.io: in contact with the API server again; no longer stale"
    ) in caplog.messages


async def test_a_silent_watch_is_closed_and_the_kind_relisted(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Every watch asks for timeoutSeconds=1; nothing for 1.3 s means a half-open connection.
    settings = dataclasses.replace(FAST, watch_seconds=0.5, watch_grace_seconds=0.3)
    async with live(fake, aiohttp_server, settings) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        fake.silence(TLSROUTE)
        fake.create(tls_route("late", "late.example.com"))  # the silent stream never sends it
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "late") is not None, 5.0)
        assert lv.samples("edgeguard_view_watch_errors_total") == {(str(TLSROUTE), "silent"): 1.0}
        assert lv.samples("edgeguard_view_relists_total") == {(str(TLSROUTE),): 1.0}
        assert (
            "TLSRoute.gateway.networking.k8s.io: watch silent: nothing (no event, bookmark or "
            "end) for 1.3 s, past the 1 s it asked for; relisting"
        ) in caplog.messages
        assert lv.view.stale_kinds() == frozenset()


async def test_watches_ask_for_bookmarks_and_a_timeout_within_the_staleness_bound() -> None:
    settings = WatchSettings.from_config(ViewConfig(stale_seconds=60.0, crd_recheck_seconds=60.0))
    assert (settings.watch_seconds, settings.watch_grace_seconds) == (20.0, 5.0)
    assert settings.stale_seconds == 60.0
    # The longest a healthy quiet kind goes without contact (a watch of 2 x 20 s) and the
    # longest before a silent one is relisted (40 + 5 s) are both inside the 60 s bound.
    assert 2 * settings.watch_seconds + settings.watch_grace_seconds < settings.stale_seconds
    longer = WatchSettings.from_config(ViewConfig(stale_seconds=300.0))
    assert (longer.watch_seconds, longer.watch_grace_seconds) == (100.0, 5.0)


async def test_a_quiet_kind_stays_fresh_on_bookmarks_and_on_watches_the_server_ends(
    fake: FakeApiServer, aiohttp_server: AiohttpServer
) -> None:
    def age() -> float | None:
        return lv.sample("edgeguard_view_last_event_age_seconds", TLSROUTE)

    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        for _ in range(3):  # 150 s without an object event: a bookmark every 50 s
            lv.clock.now += 50.0
            fake.bookmark(TLSROUTE)
            await eventually(lambda: age() == 0.0)
        for _ in range(3):  # 150 s more: the server ends each watch (its timeoutSeconds)
            lv.clock.now += 50.0
            fake.end_watches(TLSROUTE)
            await eventually(lambda: age() == 0.0)
        # The other kinds had no contact for those 300 s (their watches were left open).
        await eventually(lambda: lv.view.stale_kinds() == frozenset(KINDS) - {TLSROUTE})
        assert lv.samples("edgeguard_view_relists_total") == {}


async def test_a_lone_404_keeps_the_kinds_objects_until_discovery_confirms(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgeguard.cluster")
    fake.create(tls_route("kept", "kept.example.com"))
    settings = dataclasses.replace(FAST, gone_confirm_seconds=0.5)
    async with live(fake, aiohttp_server, settings) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        fake.hide(TLSROUTE)  # discovery, list and watch answer 404 for a moment
        warned = (
            "TLSRoute.gateway.networking.k8s.io: no longer served by the API server (discovery); "
            "keeping its 1 objects until discovery confirms it in 0.5 s"
        )
        await eventually(lambda: warned in caplog.messages)
        assert lv.view.get(TLSROUTE, "apps", "kept") is not None
        assert claimants(lv.view, "kept.example.com") != []
        fake.unhide(TLSROUTE)
        served_again = (
            "TLSRoute.gateway.networking.k8s.io: served again; relisting "
            "/apis/gateway.networking.k8s.io/v1"
        )
        await eventually(lambda: served_again in caplog.messages)
        await eventually(lambda: fake.watching(TLSROUTE))
        assert lv.view.get(TLSROUTE, "apps", "kept") is not None
        assert lv.sample("edgeguard_view_kind_served", TLSROUTE) == 1.0
        assert not [m for m in caplog.messages if "its CRD is gone" in m]


async def test_a_removed_crd_is_emptied_once_discovery_confirms_it(
    fake: FakeApiServer, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgeguard.cluster")
    fake.create(tls_route("gone", "gone.example.com"))
    async with live(fake, aiohttp_server) as lv:
        await eventually(lambda: lv.view.synced and fake.watching(TLSROUTE))
        fake.uninstall(TLSROUTE)
        await eventually(lambda: lv.view.get(TLSROUTE, "apps", "gone") is None)
        assert claimants(lv.view, "gone.example.com") == []
        assert lv.sample("edgeguard_view_kind_served", TLSROUTE) == 0.0
        assert (
            "TLSRoute.gateway.networking.k8s.io: its CRD is gone (discovery confirmed after "
            "0.05 s); removed its 1 objects from the view; looking again every 0.05 s"
        ) in caplog.messages
        # Knowing the kind is absent stays fresh while discovery answers.
        lv.clock.now += 100.0
        await eventually(lambda: lv.sample("edgeguard_view_last_event_age_seconds", TLSROUTE) == 0)
        assert TLSROUTE not in lv.view.stale_kinds()


async def test_an_absent_crd_is_stale_only_past_the_bound_plus_its_recheck(
    aiohttp_server: AiohttpServer,
) -> None:
    fake = FakeApiServer(token="t0ken")
    fake.install_all(without=frozenset({OPENBAO_CLUSTER}))
    settings = dataclasses.replace(FAST, crd_recheck_seconds=3600.0)  # one discovery only
    async with live(fake, aiohttp_server, settings) as lv:
        await eventually(lambda: lv.view.synced)
        fake.go_down()
        served = [kind for kind in KINDS if kind != OPENBAO_CLUSTER]
        # Every broken watch seen first, so no "watch ended" contact lands after the jump.
        await eventually(
            lambda: all(
                lv.sample("edgeguard_view_watch_errors_total", kind, reason="stream")
                for kind in served
            )
        )
        lv.clock.now += 61.0
        await eventually(lambda: len(lv.view.stale_kinds()) == len(KINDS) - 1)
        assert OPENBAO_CLUSTER not in lv.view.stale_kinds()
        lv.clock.now += 3600.0
        await eventually(lambda: OPENBAO_CLUSTER in lv.view.stale_kinds())
