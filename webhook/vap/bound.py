"""One ValidatingAdmissionPolicy with one binding, as an edgeguard `Policy`.

Here, in the server's process: matching (rules, selectors, the namespace's labels from the
view) and the request's variables. The CEL runs in a worker process (`webhook.vap.workers`)
with a deadline; a worker that times out, crashes or runs out of memory is this policy's
failure, handled by its failurePolicy: Fail denies naming the reason, Ignore allows with a
warning. Either way it is logged and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from webhook.cel.request import request_of
from webhook.core.decision import Decision, verdict
from webhook.core.json import dumps
from webhook.core.kinds import BY_KIND, NAMESPACE
from webhook.core.labels import labels_of
from webhook.core.policy import Mode, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView
from webhook.vap.evaluate import PolicyText
from webhook.vap.match import MatchResources

# https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/validating-admission-policy-v1/
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


class WorkerFailure(Exception):
    """The evaluation did not finish: `kind` is timeout, crash or memory (the metric label)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Evaluator(Protocol):
    """Runs a job (the policy's text and the request's variables, JSON) in a worker."""

    def run(self, job: bytes) -> Mapping[str, Any]: ...

    async def run_async(self, job: bytes) -> Mapping[str, Any]: ...

    def failed(self, policy: str, failure: WorkerFailure) -> None: ...


class Unresolved(Exception):
    """Something the request needs is not known here (e.g. its namespace); failurePolicy applies."""


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy as loaded: its CEL as text, what it matches and whether it reads the namespace."""

    text: PolicyText
    match: MatchResources
    uses_namespace: bool = False

    @property
    def name(self) -> str:
        return self.text.name

    @property
    def fail(self) -> bool:
        return self.text.fail


class BoundPolicy:
    """One policy/binding pair: the edgeguard Policy's check, and its audit annotations."""

    def __init__(
        self,
        policy: LoadedPolicy,
        binding: str,
        actions: frozenset[str],
        match: MatchResources | None,
        evaluator: Evaluator,
    ) -> None:
        self.policy, self.binding, self.actions, self.binding_match = (
            policy,
            binding,
            actions,
            match,
        )
        self.evaluator = evaluator
        self.name = f"{policy.name}/{binding}"
        self._text = dumps(policy.text.to_json())

    @property
    def mode(self) -> Mode:
        """Deny wins, then Warn; Audit alone records the message in the audit annotations."""
        if "Deny" in self.actions:
            return Mode.ENFORCE
        return Mode.WARN if "Warn" in self.actions else Mode.AUDIT

    def as_policy(self) -> Policy:
        matches = [self.policy.match, *([self.binding_match] if self.binding_match else [])]
        resources = frozenset.intersection(*(m.resources() for m in matches))
        operations = frozenset.intersection(*(m.operations() for m in matches))
        referential = self.policy.uses_namespace or any(
            not m.namespace_selector.empty for m in matches
        )
        return Policy(
            name=self.name,
            kinds=frozenset(r.group_kind for r in resources),
            check=self,
            default_mode=self.mode,
            operations=operations,
            referential=referential,
            description=f"ValidatingAdmissionPolicy {self.policy.name!r}, binding {self.binding!r}",
            deferred=self.deferred,
        )

    def __call__(self, review: Review, view: ClusterView, settings: Settings) -> Decision:
        return _with_audit(self.evaluate(review, view))

    async def deferred(
        self, review: Review, view: ClusterView, settings: Settings
    ) -> Decision:
        """The same verdict without blocking the event loop: the worker is awaited."""
        job = self._job(review, view)
        if isinstance(job, Evaluation):
            return _with_audit(job)
        try:
            reply = await self.evaluator.run_async(job)
        except WorkerFailure as exc:
            return _with_audit(self._worker_failed(exc))
        return _with_audit(self._evaluation(reply))

    def evaluate(self, review: Review, view: ClusterView) -> Evaluation:
        job = self._job(review, view)
        if isinstance(job, Evaluation):
            return job
        try:
            reply = self.evaluator.run(job)
        except WorkerFailure as exc:
            return self._worker_failed(exc)
        return self._evaluation(reply)

    def _job(self, review: Review, view: ClusterView) -> bytes | Evaluation:
        """The worker's job, or the evaluation when matching alone decides it."""
        try:
            if not self._selects(review, view):
                return Evaluation(verdict(()), {})
        except Unresolved as exc:
            return _evaluation([(str(exc), "Invalid")] if self.policy.fail else [], {})
        data = {
            "object": review.object,
            "oldObject": review.old_object,
            "request": request_of(review),
            "namespaceObject": _namespace_object(review, view),
        }
        encoded = dumps(data)
        return b'{"policy":' + self._text + b',"data":' + encoded + b"}"

    def _evaluation(self, reply: Mapping[str, Any]) -> Evaluation:
        failures = [(str(m), str(r)) for m, r in reply["failures"]]
        return _evaluation(failures, dict(reply["annotations"]))

    def _worker_failed(self, exc: WorkerFailure) -> Evaluation:
        self.evaluator.failed(self.name, exc)
        message = f"evaluation failed: {exc}"
        if self.policy.fail:
            return _evaluation([(message, "Invalid")], {})
        warning = f"{message}; ignored (failurePolicy: Ignore)"
        return Evaluation(Decision(True, warnings=(warning,)), {})

    def _selects(self, review: Review, view: ClusterView) -> bool:
        def labels() -> Mapping[str, str]:
            namespace = review.namespace or "default"
            found = view.get(NAMESPACE, None, namespace)
            if found is None:
                raise Unresolved(
                    f"namespace {namespace!r} is not in the cluster view, so the namespaceSelector"
                    " cannot be evaluated"
                )
            return labels_of(found)

        return self.policy.match.selects(review, labels) and (
            self.binding_match is None or self.binding_match.selects(review, labels)
        )


def _with_audit(found: Evaluation) -> Decision:
    if not found.annotations:
        return found.decision
    return dataclasses.replace(found.decision, audit=tuple(sorted(found.annotations.items())))


def _evaluation(failures: list[tuple[str, str]], annotations: dict[str, str]) -> Evaluation:
    """The first failure's reason gives the code, as the API server does with the first denial."""
    if not failures:
        return Evaluation(verdict(()), annotations)
    code = REASON_CODES.get(failures[0][1], 422)
    return Evaluation(Decision(False, tuple(m for m, _ in failures), code), annotations)


def _namespace_object(review: Review, view: ClusterView) -> Mapping[str, Any] | None:
    res = BY_KIND.get(review.group_kind)
    if res is None or not res.namespaced:
        return None
    return view.get(NAMESPACE, None, review.namespace or "default")



