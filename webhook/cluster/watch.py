"""The live cluster view: list, then watch, every kind edgeguard reads (kopf's pattern).

The only writer of the view; relists on 410 Gone, a broken or silent stream with jittered,
capped backoff, and looks again for absent CRDs. It tracks each kind's last contact with the
API server and marks kinds out of contact past the bound as stale. It never decides admissions.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import ClientError
from prometheus_client import CollectorRegistry, Counter, Gauge

from webhook.cluster.client import ApiError, Gone, JsonLines, KubeClient, NotFound
from webhook.core.config import ViewConfig
from webhook.core.json import JSONObject
from webhook.core.kinds import KINDS, GroupKind, KindInfo
from webhook.core.objects import metadata

log = logging.getLogger("edgeguard.cluster")
RBAC_VERBS = ("get", "list", "watch")


class Store(Protocol):
    """The writer's side of a view (MemoryView, ReservingView)."""

    def list(self, kind: GroupKind, namespace: str | None = None) -> Sequence[JSONObject]: ...
    def upsert(self, obj: JSONObject) -> None: ...
    def delete(self, kind: GroupKind, namespace: str | None, name: str) -> None: ...
    def mark_synced(self, synced: bool = True) -> None: ...
    def mark_stale(self, kinds: frozenset[GroupKind]) -> None: ...


def rbac_rules(kinds: Iterable[KindInfo] = KINDS.values()) -> list[tuple[str, str]]:
    """The (apiGroup, resource) pairs the view reads, each with verbs RBAC_VERBS."""
    return sorted({(info.group_kind.group, info.resource) for info in kinds})


class SilentWatch(Exception):
    """A watch that sent nothing, not even its end, past the time it asked the server for."""


@dataclass(frozen=True)
class WatchSettings:
    crd_recheck_seconds: float = 60.0
    page_size: int = 500
    # Each watch asks the server to end it after between this and twice this (jittered as
    # client-go does, so that the watches of many replicas do not all restart at once). The
    # server ends it on time, so a healthy quiet kind is in contact at least this often.
    watch_seconds: float = 20.0
    # A watch from which nothing arrived (no event, bookmark or end) for its timeoutSeconds
    # plus this is silent (a half-open connection): it is closed and the kind relisted.
    watch_grace_seconds: float = 5.0
    # A kind out of contact (no list, event, bookmark, watch opened or ended) for longer is
    # stale; a kind whose CRD is absent gets crd_recheck_seconds more.
    stale_seconds: float = 60.0
    freshness_check_seconds: float = 1.0
    # A served kind that discovery stops listing keeps its objects until a second discovery
    # this much later agrees (a lone 404 during an API server restart empties nothing).
    gone_confirm_seconds: float = 10.0
    backoff_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0

    @classmethod
    def from_config(cls, config: ViewConfig) -> WatchSettings:
        """Watch timing derived from the staleness bound: a watch lasts a third to two thirds
        of it and is declared silent by three quarters of it, so a healthy kind never goes
        stale and a silent one is relisted before it does."""
        stale = config.stale_seconds
        return cls(
            crd_recheck_seconds=config.crd_recheck_seconds,
            watch_seconds=stale / 3,
            watch_grace_seconds=min(5.0, stale / 12),
            stale_seconds=stale,
            gone_confirm_seconds=min(10.0, config.crd_recheck_seconds),
        )


class ViewMetrics:
    """The watch loop's Prometheus series, on the server's registry."""

    def __init__(self, registry: CollectorRegistry, objects: Gauge | None = None) -> None:
        self.objects = objects or Gauge(
            "edgeguard_view_objects",
            "Objects in the cluster view by kind.",
            ("kind",),
            registry=registry,
        )
        self.last_event_age = Gauge(
            "edgeguard_view_last_event_age_seconds",
            "Seconds since the last contact with the API server about the kind: a list, watch "
            "event or bookmark, a watch opened or ended, or (CRD absent) discovery.",
            ("kind",),
            registry=registry,
        )
        self.freshness = FreshnessMetrics(registry)
        self.served = Gauge(
            "edgeguard_view_kind_served",
            "1 when the API server serves the kind (its CRD is installed), else 0.",
            ("kind",),
            registry=registry,
        )
        self.relists = Counter(
            "edgeguard_view_relists",
            "Lists after the first, by kind.",
            ("kind",),
            registry=registry,
        )
        self.watch_errors = Counter(
            "edgeguard_view_watch_errors",
            "Failed lists and watches by kind and reason (gone, http, stream, error).",
            ("kind", "reason"),
            registry=registry,
        )


class FreshnessMetrics:
    """Whether the view is synced, and which kinds are stale (out of contact past the bound)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.synced = Gauge(
            "edgeguard_view_synced",
            "1 once every kind was listed (or found not served) at least once, else 0.",
            registry=registry,
        )
        self.stale = Gauge(
            "edgeguard_view_stale",
            "1 while the kind is out of contact with the API server for longer than "
            "view.staleSeconds (its checks then answer as before the first sync), else 0.",
            ("kind",),
            registry=registry,
        )


@dataclass
class _Kind:
    info: KindInfo
    listed: bool = False
    served: bool | None = None
    lists: int = 0
    # Monotonic time of the last contact with the API server about this kind.
    last_event: float | None = None
    stale: bool = False
    # When discovery stopped listing a kind that was served (its removal not yet confirmed).
    gone_at: float | None = None
    version: str = ""  # the served version the kind is listed and watched in

    @property
    def label(self) -> str:
        return str(self.info.group_kind)


class ClusterWatch:
    """Keeps a Store equal to the cluster, one task per kind. Owns (and closes) the client."""

    def __init__(
        self,
        client: KubeClient,
        store: Store,
        settings: WatchSettings = WatchSettings(),
        metrics: ViewMetrics | None = None,
        kinds: Iterable[KindInfo] = KINDS.values(),
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client, self._store, self.settings = client, store, settings
        self._metrics = metrics or ViewMetrics(CollectorRegistry())
        self._kinds = {info.group_kind: _Kind(info) for info in kinds}
        self._clock, self._rng, self._wall = clock, rng or random.Random(), wall
        self._synced = False
        self._stale: frozenset[GroupKind] = frozenset()
        self._tasks: list[asyncio.Task[None]] = []
        for state in self._kinds.values():
            self._metrics.objects.labels(state.label).set_function(self._counter(state))
            self._metrics.last_event_age.labels(state.label).set_function(self._age(state))
        self._watch_freshness_metrics()

    @property
    def synced(self) -> bool:
        """True once every kind finished its first list or was found not served."""
        return self._synced

    @property
    def served(self) -> frozenset[GroupKind]:
        return frozenset(gk for gk, state in self._kinds.items() if state.served)

    async def read(
        self, kind: GroupKind, namespace: str | None, name: str | None, timeout: float
    ) -> list[JSONObject] | None:
        """The API server's current object (a list of one), or every object of the kind in the
        namespace when `name` is None; [] when there is none, None when the kind is not served.
        For lookups the view misses (read-through); raises on an API error or the deadline."""
        state = self._kinds.get(kind)
        if state is None or not state.served or not state.version:
            return None
        info = state.info
        path = _resource_path(info, state.version, namespace if info.namespaced else None)
        path += f"/{name}" if name else ""
        try:
            found = _mapping(await self._client.get_json(path, timeout=timeout))
        except NotFound:
            return []
        items = [found] if name else list(found.get("items") or ())
        return [_typed(info, state.version, item) for item in items if isinstance(item, dict)]

    def start(self) -> None:
        self._store.mark_synced(False)
        self._store.mark_stale(frozenset())
        for state in self._kinds.values():
            self._tasks.append(asyncio.create_task(self._follow(state), name=state.label))
        self._tasks.append(asyncio.create_task(self._check_freshness(), name="freshness"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._client.close()

    async def _follow(self, state: _Kind) -> None:
        attempt = 0
        while True:
            try:
                version = await self._discover(state)
                if version is None:
                    await asyncio.sleep(self._recheck_delay(state))
                    continue
                rv = await self._list(state, version)
                attempt = 0
                while True:
                    rv = await self._watch(state, version, rv)
            except NotFound:
                log.info("%s: list or watch answered 404; looking again", state.label)
            except Exception as exc:  # the loop must outlive any one failure
                self._failed(state, exc)
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    def _failed(self, state: _Kind, exc: Exception) -> None:
        if isinstance(exc, Gone):
            reason = "gone"
            log.info("%s: %s; relisting", state.label, exc)
        elif isinstance(exc, ApiError):
            reason = "http"
            log.warning("%s: the API server answered %s; relisting", state.label, exc)
        elif isinstance(exc, SilentWatch):
            reason = "silent"
            log.warning("%s: %s; relisting", state.label, exc)
        elif isinstance(exc, ClientError | asyncio.TimeoutError | ValueError):
            reason = "stream"
            log.warning("%s: watch stream broken (%r); relisting", state.label, exc)
        else:
            reason = "error"
            log.error("%s: unexpected failure; relisting", state.label, exc_info=exc)
        self._metrics.watch_errors.labels(state.label, reason).inc()

    def _backoff(self, attempt: int) -> float:
        base, cap = self.settings.backoff_seconds, self.settings.backoff_cap_seconds
        delay: float = min(cap, base * 2.0 ** min(attempt, 32))
        return delay * (0.5 + self._rng.random() / 2)

    async def _discover(self, state: _Kind) -> str | None:
        """The first of the kind's versions the API server serves, or None.

        A kind that was served and is no longer listed keeps its objects until a second
        discovery, gone_confirm_seconds later, agrees; only then is it emptied."""
        version = await self._served_version(state.info)
        if version is not None:
            self._set_served(state, True, version)
            return version
        if state.served and state.gone_at is None:
            state.gone_at = self._clock()
            log.warning(
                "%s: no longer served by the API server (discovery); keeping its %d objects "
                "until discovery confirms it in %g s",
                state.label,
                len(self._store.list(state.info.group_kind)),
                self.settings.gone_confirm_seconds,
            )
            return None
        self._set_served(state, False, "")
        self._touch(state)  # discovery answered: knowing the kind is absent is up to date
        return None

    async def _served_version(self, info: KindInfo) -> str | None:
        for version in info.versions:
            try:
                found = await self._client.get_json(_group_path(info, version))
            except NotFound:
                continue
            resources = found.get("resources") if isinstance(found, dict) else None
            if any(isinstance(r, dict) and r.get("name") == info.resource for r in resources or ()):
                return version
        return None

    def _recheck_delay(self, state: _Kind) -> float:
        if state.served and state.gone_at is not None:
            return self.settings.gone_confirm_seconds
        return self.settings.crd_recheck_seconds

    def _set_served(self, state: _Kind, served: bool, version: str) -> None:
        if served and state.gone_at is not None:
            path = _group_path(state.info, version)
            log.info("%s: served again; relisting %s", state.label, path)
        elif served and state.served is not True:
            log.info("%s: watching %s", state.label, _group_path(state.info, version))
        elif not served and state.served:
            count = len(self._store.list(state.info.group_kind))
            log.warning(
                "%s: its CRD is gone (discovery confirmed after %g s); removed its %d objects "
                "from the view; looking again every %g s",
                state.label,
                self.settings.gone_confirm_seconds,
                count,
                self.settings.crd_recheck_seconds,
            )
            self._replace(state, "", [])
        elif not served and state.served is None:
            log.info(
                "%s: not served by the API server (CRD not installed?); looking again every %g s",
                state.label,
                self.settings.crd_recheck_seconds,
            )
            self._replace(state, "", [])
        state.served, state.gone_at = served, None
        state.version = version if served else ""
        self._metrics.served.labels(state.label).set(1.0 if served else 0.0)
        if not served:
            self._listed(state)

    async def _list(self, state: _Kind, version: str) -> str:
        """A consistent, paginated list; the view's kind replaced at once when it completes."""
        path = _resource_path(state.info, version)
        items: list[Any] = []
        params = {"limit": str(self.settings.page_size)}
        while True:
            page = _mapping(await self._client.get_json(path, params))
            items.extend(page.get("items") or ())
            meta = _mapping(page.get("metadata"))
            if not meta.get("continue"):
                break
            params = {"limit": str(self.settings.page_size), "continue": str(meta["continue"])}
        state.lists += 1
        if state.lists > 1:
            self._metrics.relists.labels(state.label).inc()
        self._replace(state, version, items)
        self._listed(state)
        return str(meta.get("resourceVersion") or "")

    def _replace(self, state: _Kind, version: str, items: Iterable[Any]) -> None:
        kind = state.info.group_kind
        fresh: set[tuple[str, str]] = set()
        for item in items:
            if isinstance(item, dict):
                self._store.upsert(_typed(state.info, version, item))
                meta = metadata(item)
                fresh.add((str(meta.get("namespace") or ""), str(meta.get("name"))))
        for old in self._store.list(kind):
            meta = metadata(old)
            key = (str(meta.get("namespace") or ""), str(meta.get("name")))
            if key not in fresh:
                self._store.delete(kind, key[0], key[1])
        self._touch(state)

    def _listed(self, state: _Kind) -> None:
        state.listed = True
        if not self._synced and all(s.listed for s in self._kinds.values()):
            self._synced = True
            self._store.mark_synced(True)
            log.info("cluster view synced: %d kinds served", len(self.served))

    async def _watch(self, state: _Kind, version: str, rv: str) -> str:
        """Follows one watch stream; the last resourceVersion seen when the server ends it.

        The server must end it after timeoutSeconds; nothing at all (no event, bookmark or
        end) for timeoutSeconds plus the grace means the stream is silent: SilentWatch."""
        path = _resource_path(state.info, version)
        seconds = max(1, int(self.settings.watch_seconds * (1 + self._rng.random())))
        params = {
            "watch": "true",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        silence = seconds + self.settings.watch_grace_seconds
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(silence) as deadline:
                async with await self._client.open(path, params) as response:
                    self._touch(state)
                    lines = JsonLines(response)
                    while (line := await lines.next()) is not None:
                        deadline.reschedule(loop.time() + silence)
                        rv = self._apply(state, version, json.loads(line)) or rv
        except TimeoutError as exc:
            raise SilentWatch(
                f"watch silent: nothing (no event, bookmark or end) for {silence:g} s, "
                f"past the {seconds} s it asked for"
            ) from exc
        self._touch(state)  # the server ended the watch on time
        return rv

    def _apply(self, state: _Kind, version: str, event: Any) -> str:
        kind_of_event, obj = _mapping(event).get("type"), _mapping(_mapping(event).get("object"))
        if kind_of_event == "ERROR":
            # An expired resourceVersion comes as a Status in the stream, not as HTTP 410.
            code, message = obj.get("code"), str(obj.get("message", ""))
            raise ApiError.of(_int(code, 500), message)
        self._touch(state)
        meta = metadata(obj)
        kind = state.info.group_kind
        if kind_of_event in ("ADDED", "MODIFIED"):
            self._store.upsert(_typed(state.info, version, obj))
        elif kind_of_event == "DELETED":
            self._store.delete(kind, meta.get("namespace"), str(meta.get("name")))
        elif kind_of_event != "BOOKMARK":
            log.warning("%s: ignoring a watch event of type %r", state.label, kind_of_event)
        return str(meta.get("resourceVersion") or "")

    # Freshness: each kind's last contact, and the kinds past the bound.

    def _touch(self, state: _Kind) -> None:
        state.last_event = self._clock()
        if state.stale:
            self._mark_freshness()

    def _bound(self, state: _Kind) -> float:
        extra = self.settings.crd_recheck_seconds if state.served is False else 0.0
        return self.settings.stale_seconds + extra

    def _is_stale(self, state: _Kind, now: float) -> bool:
        if not state.listed or state.last_event is None:
            return False  # before its first list, `synced` (not staleness) speaks for it
        return now - state.last_event > self._bound(state)

    async def _check_freshness(self) -> None:
        while True:
            await asyncio.sleep(self.settings.freshness_check_seconds)
            self._mark_freshness()

    def _mark_freshness(self) -> None:
        """Marks in the store the kinds now stale, logging each that went stale or recovered."""
        now = self._clock()
        for state in self._kinds.values():
            stale = self._is_stale(state, now)
            if stale != state.stale:
                state.stale = stale
                self._log_freshness(state, now)
        stale_kinds = frozenset(gk for gk, state in self._kinds.items() if state.stale)
        if stale_kinds != self._stale:
            self._stale = stale_kinds
            self._store.mark_stale(stale_kinds)

    def _log_freshness(self, state: _Kind, now: float) -> None:
        assert state.last_event is not None
        if state.stale:
            since = _iso(self._wall() - (now - state.last_event))
            log.warning(
                "%s: stale: no contact with the API server since %s (%.0f s, over the %g s "
                "bound); checks that read it answer as before the first sync",
                state.label,
                since,
                now - state.last_event,
                self._bound(state),
            )
        else:
            log.info("%s: in contact with the API server again; no longer stale", state.label)

    def _watch_freshness_metrics(self) -> None:
        freshness = self._metrics.freshness
        freshness.synced.set_function(lambda: 1.0 if self._synced else 0.0)
        for state in self._kinds.values():
            freshness.stale.labels(state.label).set_function(self._stale_flag(state))

    @staticmethod
    def _stale_flag(state: _Kind) -> Callable[[], float]:
        return lambda: 1.0 if state.stale else 0.0

    def _counter(self, state: _Kind) -> Callable[[], float]:
        return lambda: float(len(self._store.list(state.info.group_kind)))

    def _age(self, state: _Kind) -> Callable[[], float]:
        return lambda: math.nan if state.last_event is None else self._clock() - state.last_event


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _group_path(info: KindInfo, version: str) -> str:
    group = info.group_kind.group
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _resource_path(info: KindInfo, version: str, namespace: str | None = None) -> str:
    """The collection of a kind, across namespaces or in one."""
    within = f"/namespaces/{namespace}" if namespace else ""
    return f"{_group_path(info, version)}{within}/{info.resource}"


def _typed(info: KindInfo, version: str, item: JSONObject) -> JSONObject:
    """An object with its apiVersion and kind: list items carry neither (the list's own
    fields say them); what the object states itself is kept."""
    group, kind = info.group_kind
    return {"apiVersion": f"{group}/{version}" if group else version, "kind": kind, **item}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) else default


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
