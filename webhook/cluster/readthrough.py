"""Read-your-writes for the live view: what the watch has not delivered yet, asked for directly.

The watch delivers an object a few milliseconds after the API server stored it, so a request
can arrive before the view shows an object it names: the Gateway created just before its
TLSRoute (`kubectl apply -f` of one file), or one created through another replica. Before the
engine runs, `prepare` reads such misses (the policies' `needs`) from the API server with a
short deadline and puts what it finds into the view; a miss is remembered for a few seconds so
a hostile stream of requests naming absent objects costs one read per name and TTL. After a
denial that relied on other objects (`RELIED_ON`), `confirm` reads those again, so a delete the
watch has not delivered yet does not refuse its replacement. API errors keep the view's answer,
and a warning says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from webhook.cluster.client import FAILURES
from webhook.cluster.memory import slim
from webhook.cluster.reservations import ReservingView
from webhook.cluster.watch import ClusterWatch
from webhook.core.kinds import GroupKind
from webhook.core.objects import key_of
from webhook.core.policy import Need
from webhook.core.review import RELIED_ON, Review
from webhook.engine import Engine

log = logging.getLogger("edgeguard.readthrough")
DEFAULT_TIMEOUT_SECONDS = 1.0
DEFAULT_MISS_SECONDS = 5.0
MAX_CONFIRM = 10  # rivals a denial names at most


class ReadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reads = Counter(
            "edgeguard_read_through",
            "Objects a request named that the view lacked (or a denial relied on), read from "
            "the API server, by result: found, missing, changed (a rival gone or changed: the "
            "request was judged again), error.",
            ("result",),
            registry=registry,
        )


@dataclass
class ReadThrough:
    watch: ClusterWatch
    view: ReservingView
    engine: Engine
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    miss_seconds: float = DEFAULT_MISS_SECONDS
    metrics: ReadMetrics | None = None
    clock: Callable[[], float] = time.monotonic
    _missed: dict[Need, float] = field(default_factory=dict, init=False, repr=False)

    async def prepare(self, review: Review) -> list[str]:
        """Read what the request needs and the view lacks (twice: a ListenerSet read in
        names its Gateway); warnings for what could not be read."""
        notes: list[str] = []
        for _ in range(2):
            wanted = [n for n in self.engine.needs(review, self.view) if self._worth(n)]
            if not wanted:
                break
            found = False
            for need in wanted:
                found |= await self._read(need, notes)
            if not found:
                break
        return notes

    async def confirm(self, review: Review) -> bool:
        """Whether any object the denial relied on is gone or changed at the API server (the
        view is then corrected, and the request must be judged again)."""
        changed = False
        for kind, namespace, name in (review.memo.get(RELIED_ON) or ())[:MAX_CONFIRM]:
            try:
                found = await self.watch.read(kind, namespace, name, self.timeout_seconds)
            except FAILURES as exc:
                self._count("error")
                log.warning("could not confirm %s %s/%s: %s", kind, namespace, name, exc)
                continue
            if found is None:
                continue
            current = self.view.memory.get(kind, namespace, name)
            if not found and current is not None:
                self.view.delete(kind, namespace, name)
                changed = True
            elif found and current is not None and slim(found[0], self.view.memory.kept) != current:
                self.view.upsert(found[0])
                changed = True
        if changed:
            self._count("changed")
        return changed

    def _worth(self, need: Need) -> bool:
        kind, namespace, name = need
        if name is not None and self.view.get(kind, namespace, name) is not None:
            return False
        until = self._missed.get(need)
        return until is None or until <= self.clock()

    async def _read(self, need: Need, notes: list[str]) -> bool:
        kind, namespace, name = need
        try:
            found = await self.watch.read(kind, namespace, name, self.timeout_seconds)
        except FAILURES as exc:
            self._count("error")
            notes.append(_unread(kind, namespace, name, exc))
            return False
        if not found:
            self._count("missing")
            self._missed[need] = self.clock() + self.miss_seconds
            if len(self._missed) > 10_000:  # bounded: drop the oldest half
                for old in sorted(self._missed, key=self._missed.__getitem__)[:5_000]:
                    del self._missed[old]
            return False
        for obj in found:
            key = key_of(obj)
            if key is not None and self.view.get(key.group_kind, key.namespace, key.name) is None:
                self.view.upsert(obj)
        self._count("found")
        return True

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reads.labels(result).inc()


def _unread(kind: GroupKind, namespace: str | None, name: str | None, exc: BaseException) -> str:
    what = f"{kind.kind} {namespace}/{name}" if name else f"the {kind.kind}s of {namespace}"
    return (
        f"edgeguard could not ask the API server for {what}, which this replica's view does not "
        f"show ({exc or type(exc).__name__}): the verdict is from the view alone"
    )
