"""Prometheus metrics for admission: requests, latency and policy evaluations, and the
standard process and Python metrics.

Each server gets its own registry, so tests and several apps in one process do not mix. Every
label value is from a bounded set: the `kind` of a request the server does not serve (any
caller can send one) is counted as `other`, so forged kinds cannot grow memory or the scrape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from webhook.core.kinds import GroupKind
from webhook.core.outcome import Outcome
from webhook.core.review import Review

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Admission answers are expected in well under the API server's 5 s webhook timeout.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The `kind` label of a request for a kind the server's policies do not check.
OTHER = "other"


class Metrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, kinds: Iterable[GroupKind] = ()
    ) -> None:
        # No `_created` series beside each counter and histogram: they double the scrape and
        # say only when the process started, which process_start_time_seconds says once.
        # (A process-wide switch of prometheus-client.)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        self.serving(kinds)
        self._children: dict[tuple[object, ...], Any] = {}
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "edgeguard_admission_requests",
            "Admission requests by endpoint, kind, operation and decision.",
            ("endpoint", "kind", "operation", "decision"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "edgeguard_admission_duration_seconds",
            "Time to handle an admission request: reading its body, deciding, writing the "
            "answer's JSON.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.evaluations = Counter(
            "edgeguard_policy_evaluations",
            "Policy evaluations by policy and result (allow, deny, warn, audit, patch, error).",
            ("policy", "result"),
            registry=self.registry,
        )
        self.rejected = Counter(
            "edgeguard_rejected_requests",
            "Requests refused before admission (bad method, type, size or body) by status.",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.user_policy_failures = Counter(
            "edgeguard_user_policy_failures",
            "User policy evaluations that did not finish, by policy and kind (timeout: past"
            " --cel-timeout; crash: the worker died; memory: past --cel-memory).",
            ("policy", "kind"),
            registry=self.registry,
        )
        self.cel_worker_restarts = Counter(
            "edgeguard_cel_worker_restarts",
            "CEL worker processes replaced, by cause.",
            ("cause",),
            registry=self.registry,
        )
        self.view_objects = Gauge(
            "edgeguard_view_objects",
            "Objects in the cluster view by kind.",
            ("kind",),
            registry=self.registry,
        )

    def serving(self, kinds: Iterable[GroupKind]) -> None:
        """The kinds labelled by name (those the policies check); any other is `other`."""
        self._kinds = frozenset(kinds)

    def observe(self, endpoint: str, review: Review, outcome: Outcome, seconds: float) -> None:
        kind = review.group_kind if review.group_kind in self._kinds else OTHER
        labels = (endpoint, kind, review.operation, outcome.decision)
        self._child(self.requests, *labels).inc()
        self._child(self.latency, endpoint).observe(seconds)
        for result in outcome.results:
            self._child(self.evaluations, result.policy, result.result).inc()

    def user_policy_failed(self, policy: str, kind: str) -> None:
        """Called from the worker pool's threads (prometheus-client counters are thread-safe)."""
        self.user_policy_failures.labels(policy, kind).inc()

    def cel_worker_restarted(self, cause: str) -> None:
        self.cel_worker_restarts.labels(cause).inc()

    def refused(self, endpoint: str, status: int) -> None:
        self._child(self.rejected, endpoint, status).inc()

    def _child(self, metric: Any, *labels: object) -> Any:
        """metric.labels(...), remembered: prometheus-client's lookup is slow on the hot path."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*map(str, labels))
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)


def watch_certificate(registry: CollectorRegistry, not_after: Callable[[], float | None]) -> Gauge:
    """The serving certificate's expiry as a Unix time, read at each scrape (NaN until one is
    loaded), so an alert can fire days before a renewal that did not happen."""
    gauge = Gauge(
        "edgeguard_certificate_expiry_timestamp_seconds",
        "When the serving certificate in use expires (notAfter), in seconds since the epoch.",
        registry=registry,
    )

    def expiry() -> float:
        found = not_after()
        return math.nan if found is None else found

    gauge.set_function(expiry)
    return gauge
