"""Claims held by the API server: one `coordination.k8s.io/v1` Lease per locked claim.

Each replica keeps its own view and reservations, so two concurrent admissions reaching two
replicas could both be allowed. Before answering an allowed, real admission that takes a new
claim (webhook.core.locks), the server creates a Lease whose *name* is derived from the claim:
the API server's create is atomic, so exactly one replica's create succeeds (the design of
Service ClusterIP allocation with IPAddress objects, KEP-1880). Then:

- created: the claim is ours; AlreadyExists with our holder: ours already;
- AlreadyExists with another holder that the view shows still claiming it: denied, naming it;
- another holder that does not claim it any more (gone from the view, or moved) and whose
  Lease is older than the grace period: taken over by an update conditioned on the Lease's
  resourceVersion, so two takeovers cannot both win; younger than the grace period: denied
  (it was admitted by another replica moments ago and is not in this view yet).

A dry run reads the Lease and writes nothing. An API error denies (fails closed), with the
reason. `sweep` deletes Leases whose holder no longer claims them, after the grace period
(the holder was deleted, moved its hostname, or was admitted and then refused further down the
admission chain), each delete conditioned on the resourceVersion it judged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from webhook.cluster.client import FAILURES, Conflict, KubeClient, NotFound
from webhook.core.locks import Lock
from webhook.core.outcome import Outcome, PolicyResult, Result

log = logging.getLogger("edgeguard.claims")

GROUP_VERSION = "coordination.k8s.io/v1"
LABEL = "edgeguard.io/claim"  # every claim Lease carries it; the sweep lists by it
MANAGED = {"app.kubernetes.io/managed-by": "edgeguard", LABEL: "hostname"}
ANNOTATIONS = {
    "policy": "edgeguard.io/policy",
    "scope": "edgeguard.io/scope",
    "value": "edgeguard.io/hostname",
    "holder": "edgeguard.io/holder",
}
DEFAULT_NAMESPACE = "edgeguard"
DEFAULT_GRACE_SECONDS = 30.0
# One claim's round trip, well under the webhook's timeoutSeconds (5 s in the manifests).
DEFAULT_TIMEOUT_SECONDS = 2.0
Holds = Callable[[Lock], bool]


def lease_name(lock: Lock) -> str:
    """A valid, fixed-length object name derived from the claim (its policy, scope and
    value): the same claim always maps to the same Lease, on every replica."""
    digest = hashlib.sha256(lock.key.encode()).hexdigest()[:40]
    return f"claim-{digest}"


def holder_text(holder: str) -> str:
    """`group/Kind/namespace/name` as messages name objects: `Kind namespace/name`."""
    parts = holder.split("/", 3)
    if len(parts) != 4:
        return holder
    _, kind, namespace, name = parts
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


class ClaimMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.claims = Counter(
            "edgeguard_claims",
            "Hostname claims taken through the API server (Leases), by result: created, held "
            "(ours already), taken_over (a stale holder's), denied (another holder), "
            "error (API server unreachable or failing: the admission was denied).",
            ("result",),
            registry=registry,
        )
        self.seconds = Histogram(
            "edgeguard_claim_seconds",
            "Time spent taking one claim through the API server.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        self.released = Counter(
            "edgeguard_claims_released",
            "Claim Leases deleted by the sweep because their holder no longer claims them.",
            registry=registry,
        )


@dataclass
class LeaseStore:
    client: KubeClient
    namespace: str = DEFAULT_NAMESPACE
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    metrics: ClaimMetrics | None = None
    clock: Callable[[], float] = time.time

    @property
    def collection(self) -> str:
        return f"/apis/{GROUP_VERSION}/namespaces/{self.namespace}/leases"

    async def acquire(self, locks: Sequence[Lock], holds: Holds, dry_run: bool) -> str | None:
        """Take every lock (a dry run only checks them); the first refusal's message, or None.
        Leases this call created are deleted again when a later lock is refused."""
        created: list[str] = []
        for lock in locks:
            start = time.perf_counter()
            result, message = await self._take(lock, holds, dry_run)
            if self.metrics is not None:
                self.metrics.claims.labels(result).inc()
                self.metrics.seconds.observe(time.perf_counter() - start)
            if message is not None:
                await self._undo(created)
                return message
            if result == "created" and not dry_run:
                created.append(lease_name(lock))
        return None

    async def _take(self, lock: Lock, holds: Holds, dry_run: bool) -> tuple[str, str | None]:
        name = lease_name(lock)
        try:
            if dry_run:
                existing = await self._get(name)
                if existing is None:
                    return "created", None
                return await self._judge(lock, existing, holds, dry_run=True)
            try:
                await self._create(lock, name)
                return "created", None
            except Conflict:
                existing = await self._get(name)
                if existing is None:  # deleted between our create and our read: once more
                    await self._create(lock, name)
                    return "created", None
                return await self._judge(lock, existing, holds, dry_run=False)
        except FAILURES as exc:
            log.warning("claim of %s failed: %s", lock.text, exc)
            return "error", self._unreachable(lock, exc)

    async def _judge(
        self, lock: Lock, existing: dict[str, Any], holds: Holds, dry_run: bool
    ) -> tuple[str, str | None]:
        theirs = _annotation(existing, "holder")
        if theirs == lock.holder:
            return "held", None
        name = lease_name(lock)
        other = Lock(lock.policy, lock.scope, lock.value, theirs, lock.text)
        if holds(other):
            return "denied", (
                f"{lock.text} is already claimed by {holder_text(theirs)} (Lease "
                f"{self.namespace}/{name}, through which edgeguard keeps one owner per hostname "
                f"across its replicas); choose another hostname, or free it in "
                f"{holder_text(theirs)} first"
            )
        age = self.clock() - _renewed(existing)
        if age < self.grace_seconds:
            return "denied", (
                f"{lock.text} was claimed {max(age, 0):.0f} s ago by {holder_text(theirs)} "
                f"through another edgeguard replica (Lease {self.namespace}/{name}), which is "
                f"not in this replica's view yet; if it never appears, the claim lapses "
                f"{self.grace_seconds:g} s after it was taken: try again then"
            )
        if dry_run:
            return "taken_over", None
        lease = self._lease(lock, name)
        lease["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        try:
            await self.client.write_json(
                "PUT", f"{self.collection}/{name}", lease, self.timeout_seconds
            )
        except Conflict:  # another replica took it over first: judge the winner
            winner = await self._get(name)
            if winner is None or _annotation(winner, "holder") == lock.holder:
                return "held", None
            return "denied", (
                f"{lock.text} was just claimed by {holder_text(_annotation(winner, 'holder'))} "
                f"through another edgeguard replica (Lease {self.namespace}/{name}); choose "
                "another hostname, or try again if that object never appears"
            )
        log.info("took over claim of %s from %s (no longer claims it)", lock.text, theirs)
        return "taken_over", None

    async def sweep(self, holds: Holds) -> int:
        """Delete the claim Leases whose holder no longer claims them, past the grace period;
        how many were deleted."""
        listed = await self.client.get_json(
            f"{self.collection}?labelSelector={LABEL}", timeout=self.timeout_seconds * 5
        )
        released = 0
        now = self.clock()
        for lease in listed.get("items") or []:
            lock = _lock_of(lease)
            if lock is None or now - _renewed(lease) < self.grace_seconds or holds(lock):
                continue
            name = lease["metadata"]["name"]
            precondition = {"resourceVersion": lease["metadata"]["resourceVersion"]}
            body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": precondition}
            try:
                await self.client.write_json(
                    "DELETE", f"{self.collection}/{name}", body, self.timeout_seconds
                )
            except (NotFound, Conflict):
                continue  # gone already, or renewed (taken over) since we listed it
            released += 1
            log.info("released claim of %s by %s: it no longer claims it", lock.value, lock.holder)
        if released and self.metrics is not None:
            self.metrics.released.inc(released)
        return released

    async def run_sweeps(self, holds: Holds, every: float) -> None:
        """Sweep forever (a task the server cancels at shutdown); errors are logged."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep(holds)
            except FAILURES as exc:
                log.warning("claim sweep failed: %s", exc)

    async def _create(self, lock: Lock, name: str) -> None:
        lease = self._lease(lock, name)
        await self.client.write_json("POST", self.collection, lease, self.timeout_seconds)

    async def _get(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.client.get_json(
                f"{self.collection}/{name}", timeout=self.timeout_seconds
            )
        except NotFound:
            return None
        return found

    async def _undo(self, names: list[str]) -> None:
        for name in names:
            try:
                await self.client.write_json(
                    "DELETE", f"{self.collection}/{name}", None, self.timeout_seconds
                )
            except FAILURES as exc:
                log.warning("could not release claim Lease %s (the sweep will): %s", name, exc)

    def _lease(self, lock: Lock, name: str) -> dict[str, Any]:
        now = _micro_time(self.clock())
        return {
            "apiVersion": GROUP_VERSION,
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(MANAGED),
                "annotations": {
                    ANNOTATIONS["policy"]: lock.policy,
                    ANNOTATIONS["scope"]: lock.scope,
                    ANNOTATIONS["value"]: lock.value,
                    ANNOTATIONS["holder"]: lock.holder,
                },
            },
            "spec": {
                "holderIdentity": lock.holder[:128],
                "acquireTime": now,
                "renewTime": now,
            },
        }

    def _unreachable(self, lock: Lock, exc: BaseException) -> str:
        reason = str(exc) or type(exc).__name__
        return (
            f"edgeguard could not record the claim of {lock.text} with the API server "
            f"({reason}), so it cannot make sure that no other replica admits the same "
            "hostname; it refuses rather than risk a duplicate: try again"
        )


def _annotation(lease: dict[str, Any], field_name: str) -> str:
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(ANNOTATIONS[field_name], ""))


def _lock_of(lease: dict[str, Any]) -> Lock | None:
    policy, scope, value, holder = (
        _annotation(lease, key) for key in ("policy", "scope", "value", "holder")
    )
    if not (policy and scope and value and holder):
        return None
    return Lock(policy, scope, value, holder, f"hostname {value}")


def _renewed(lease: dict[str, Any]) -> float:
    """When the Lease was last taken (spec.renewTime, else its creation); 0 if unreadable."""
    spec = lease.get("spec") or {}
    stamp = spec.get("renewTime") or (lease.get("metadata") or {}).get("creationTimestamp")
    try:
        return datetime.datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return 0.0


def _micro_time(seconds: float) -> str:
    """A metav1.MicroTime: RFC 3339 with microseconds, in UTC."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def refused(outcome: Outcome, lock_policy: str, message: str) -> Outcome:
    """The outcome of an allowed review whose claim was refused: denied, naming the policy."""
    tagged = f"[{lock_policy}] {message}"
    result = PolicyResult(lock_policy, Result.DENY, (message,))
    return dataclasses.replace(
        outcome,
        allowed=False,
        code=403,
        messages=(tagged,),
        patch=(),
        results=(*(r for r in outcome.results if r.policy != lock_policy), result),
    )
