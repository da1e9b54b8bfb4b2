"""Shared test support: AdmissionReview builders and a real HTTPS server on loopback."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from aiohttp import ClientSession, TCPConnector, web

import policies
from policies.gateway.indexes import INDEXES
from webhook.cluster.memory import MemoryView
from webhook.core.decision import Decision, allowed, denied, patched
from webhook.core.hostnames import normalize
from webhook.core.kinds import GroupKind
from webhook.core.policy import Mode, Policy, Settings, kept_fields
from webhook.core.review import Review
from webhook.core.view import ClusterView

WIDGET = GroupKind("example.com", "Widget")
# What the view keeps of each kind when the shipped policies run (as `edgeguard serve` wires it).
KEPT = kept_fields(policies.builtin())


TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# The real CRDs, samples and conformance manifests (../shared/data/SOURCES.md).
SHARED_DATA = ROOT.parent / "shared" / "data"


def claimants(view: ClusterView, hostname: str) -> list[str]:
    """Who claims a hostname on some listener (or on a Gateway not in the view), as
    "Kind ns/name", sorted."""
    from policies.gateway.claims import CLUSTER
    from policies.gateway.topology import Topology

    hostname = normalize(hostname)
    found: dict[str, None] = {}
    for (table, slot, name), claims in view.derived(Topology).snapshot_claims().items():
        if table == "exact" and slot != CLUSTER and name == hostname:
            found.update((str(c.claimant), None) for c in claims)
    return sorted(found)


def make_view(objects: Iterable[Mapping[str, Any]] = (), synced: bool = True) -> MemoryView:
    """A view indexed and slimmed as `edgeguard serve` wires it for the shipped policies."""
    return MemoryView(objects, synced, derive=INDEXES, kept=KEPT)


def admission_review(
    obj: Mapping[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: Mapping[str, Any] | None = None,
    version: str = "v1",
    uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002",
    dry_run: bool = False,
) -> dict[str, Any]:
    """An AdmissionReview as the API server sends it, for any object."""
    source = obj or old or {}
    api_version = str(source.get("apiVersion", "v1"))
    group, _, ver = api_version.rpartition("/")
    meta = source.get("metadata", {})
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": group, "version": ver, "kind": source.get("kind", "")},
        "resource": {"group": group, "version": ver, "resource": "widgets"},
        "name": meta.get("name", ""),
        "operation": operation,
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    if meta.get("namespace"):
        request["namespace"] = meta["namespace"]
    return {
        "apiVersion": f"admission.k8s.io/{version}",
        "kind": "AdmissionReview",
        "request": request,
    }


def widget(name: str = "w1", labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default", "labels": dict(labels or {})},
        "spec": {"size": 1},
    }


def nested(depth: int) -> Any:
    """A string nested `depth` objects deep: {"a": {"a": ... "leaf"}}."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def _labels(review: Review) -> Mapping[str, str]:
    return review.current.get("metadata", {}).get("labels", {}) or {}


def _no_forbidden(review: Review, view: ClusterView, settings: Settings) -> Decision:
    if "forbidden" in _labels(review):
        return denied("label forbidden is set at metadata.labels.forbidden; remove it")
    return allowed()


def _two_denials(review: Review, view: ClusterView, settings: Settings) -> Decision:
    if "twice" in _labels(review):
        return denied("first problem", "second problem")
    return allowed()


def _warns(review: Review, view: ClusterView, settings: Settings) -> Decision:
    return (
        allowed(f"size is {review.current['spec']['size']}")
        if "warn" in _labels(review)
        else allowed()
    )


def _crashes(review: Review, view: ClusterView, settings: Settings) -> Decision:
    if "crash" in _labels(review):
        raise KeyError("spec.missing")
    return allowed()


def _add_owner_label(review: Review, view: ClusterView, settings: Settings) -> Decision:
    if "team" in _labels(review):
        return allowed()
    return patched([{"op": "add", "path": "/metadata/labels/team", "value": settings["team"]}])


def _copy_team(review: Review, view: ClusterView, settings: Settings) -> Decision:
    team = _labels(review).get("team")
    if team is None or review.current.get("metadata", {}).get("annotations"):
        return allowed()
    return patched([{"op": "add", "path": "/metadata/annotations", "value": {"team": team}}])


KINDS = frozenset({WIDGET})
NO_FORBIDDEN = Policy("no-forbidden-label", KINDS, _no_forbidden)
TWO_DENIALS = Policy("two-denials", KINDS, _two_denials)
WARNS = Policy("size-warning", KINDS, _warns)
CRASHES = Policy("crashes-on-label", KINDS, _crashes)
ADD_TEAM = Policy("add-team", KINDS, _add_owner_label, mutating=True, defaults={"team": "edge"})
COPY_TEAM = Policy("copy-team", KINDS, _copy_team, mutating=True)
TEST_POLICIES = [NO_FORBIDDEN, TWO_DENIALS, WARNS, CRASHES, ADD_TEAM, COPY_TEAM]
AUDITED = Policy("audited", KINDS, _no_forbidden, default_mode=Mode.AUDIT)


@dataclass
class TLS:
    ca: trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def make_tls() -> TLS:
    ca = trustme.CA()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return TLS(ca, server, client)


@asynccontextmanager
async def running(app: web.Application, tls: TLS) -> AsyncIterator[tuple[str, ClientSession]]:
    """Serves the app over HTTPS on a free loopback port; yields its base URL and a client."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context)
    await site.start()
    port = runner.addresses[0][1]
    async with ClientSession(connector=TCPConnector(ssl=tls.client_context)) as client:
        try:
            yield f"https://127.0.0.1:{port}", client
        finally:
            await runner.cleanup()
