"""Pending reservations: what reserves, what a policy then sees, and what clears them."""

from __future__ import annotations

from typing import Any

import pytest

from policies.gateway.topology import Topology
from tests.cluster.test_watch import Clock
from tests.fake_apiserver import tls_route
from tests.support import KEPT, admission_review, claimants, make_view
from webhook.cluster.memory import slim
from webhook.cluster.reservations import ReservingView
from webhook.core.kinds import REFERENCEGRANT, TLSROUTE
from webhook.core.objects import ObjectKey
from webhook.core.review import Review

HOST = "shop.example.com"


def key(name: str) -> ObjectKey:
    return ObjectKey(TLSROUTE.group, "TLSRoute", "apps", name)


def review(obj: dict[str, Any] | None, **options: Any) -> Review:
    return Review.from_admission(admission_review(obj, **options))


def with_version(obj: dict[str, Any], rv: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}}


@pytest.fixture
def clock() -> Clock:
    return Clock(50.0)


@pytest.fixture
def view(clock: Clock) -> ReservingView:
    return ReservingView(make_view(), hold_seconds=30.0, clock=clock)


def test_an_admitted_create_is_claimed_until_the_hold_expires(
    view: ReservingView, clock: Clock
) -> None:
    assert view.admitted(review(tls_route("web", HOST, "Other.example.com.")), allowed=True)
    assert claimants(view, HOST) == ["TLSRoute apps/web"]
    assert claimants(view, "other.example.com") == ["TLSRoute apps/web"]
    route = tls_route("web", HOST, "Other.example.com.")
    assert view.get(TLSROUTE, "apps", "web") == route
    assert view.list(TLSROUTE) == [route]
    topology = view.derived(Topology)
    assert topology.backend_users("apps", "web") == {key("web"): None}
    clock.now += 29.9
    assert view.pending == 1
    clock.now += 0.1
    assert claimants(view, HOST) == []
    assert view.pending == 0
    assert view.get(TLSROUTE, "apps", "web") is None
    assert view.list(TLSROUTE) == []
    assert view.derived(Topology).backend_users("apps", "web") == {}


@pytest.mark.parametrize(
    ("request_review", "allowed"),
    [
        (review(tls_route("web", HOST), dry_run=True), True),
        (review(tls_route("web", HOST)), False),
        (review(None, operation="DELETE", old=tls_route("web", HOST)), True),
    ],
    ids=["dry-run", "denied", "delete"],
)
def test_nothing_is_reserved_for(
    view: ReservingView, request_review: Review, allowed: bool
) -> None:
    assert view.admitted(request_review, allowed) is False
    assert claimants(view, HOST) == []
    assert view.pending == 0


def test_whatever_is_admitted_is_seen_by_the_next_admission(view: ReservingView) -> None:
    grant = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "g", "namespace": "a"},
        "spec": {"from": [], "to": []},
    }
    assert view.admitted(review(grant), allowed=True) is True
    assert view.pending == 1
    assert view.list(REFERENCEGRANT, "a") == [slim(grant, KEPT)]


def test_the_watch_showing_the_object_clears_its_reservation(view: ReservingView) -> None:
    view.admitted(review(tls_route("web", HOST)), allowed=True)
    view.upsert(with_version(tls_route("web", HOST), "7"))
    assert view.pending == 0
    assert claimants(view, HOST) == ["TLSRoute apps/web"]  # now from the watched object, once


def test_an_update_is_held_until_a_newer_version_is_seen(view: ReservingView) -> None:
    view.upsert(with_version(tls_route("web", "old.example.com"), "7"))
    moved = with_version(tls_route("web", HOST), "7")  # UPDATE: admitted against version 7
    old = with_version(tls_route("web", "old.example.com"), "7")
    assert view.admitted(review(moved, operation="UPDATE", old=old), allowed=True)
    view.upsert(with_version(tls_route("web", "old.example.com"), "7"))  # a relist of the old
    assert view.get(TLSROUTE, "apps", "web") == slim(moved, KEPT)  # the admitted version wins
    assert view.list(TLSROUTE, "apps") == [slim(moved, KEPT)]
    assert claimants(view, HOST) == ["TLSRoute apps/web"]
    # The old hostname stays taken until the watch shows the update (it may yet fail).
    assert claimants(view, "old.example.com") == ["TLSRoute apps/web"]
    view.upsert(with_version(tls_route("web", HOST), "8"))
    assert view.pending == 0
    assert claimants(view, "old.example.com") == []
    assert claimants(view, HOST) == ["TLSRoute apps/web"]


def test_a_deletion_seen_in_the_watch_clears_the_reservation(view: ReservingView) -> None:
    view.admitted(review(tls_route("web", HOST)), allowed=True)
    view.delete(TLSROUTE, "apps", "web")
    assert view.pending == 0
    assert claimants(view, HOST) == []


def test_reserving_again_replaces_the_earlier_reservation(
    view: ReservingView, clock: Clock
) -> None:
    view.admitted(review(tls_route("web", "first.example.com")), allowed=True)
    clock.now += 20.0
    view.admitted(review(tls_route("web", HOST)), allowed=True)
    assert claimants(view, "first.example.com") == []
    clock.now += 20.0  # the first reservation's deadline has passed, the second's has not
    assert claimants(view, HOST) == ["TLSRoute apps/web"]
    assert view.pending == 1


def test_the_view_reports_the_memory_views_sync_state(view: ReservingView) -> None:
    view.mark_synced(False)
    assert (view.synced, view.memory.synced) == (False, False)
    view.mark_synced()
    assert view.synced is True


def test_the_view_reports_the_memory_views_stale_kinds(view: ReservingView) -> None:
    assert view.stale_kinds() == frozenset()
    view.mark_stale(frozenset({TLSROUTE}))
    only_routes = frozenset({TLSROUTE})
    assert (view.stale_kinds(), view.memory.stale_kinds()) == (only_routes, only_routes)
    view.mark_stale(frozenset())
    assert view.stale_kinds() == frozenset()
