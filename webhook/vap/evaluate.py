"""A compiled ValidatingAdmissionPolicy with one binding, evaluated against a Review.

Evaluation follows the Kubernetes order: match (rules, selectors) → matchConditions →
variables → validations → auditAnnotations. An evaluation error follows failurePolicy (Fail:
it counts as a failed validation; Ignore: it is skipped). It never reads files or the clock.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.cel.request import request_of
from webhook.cel.runtime import Activation, CelEvalError, Environment, Program
from webhook.core.decision import Decision, verdict
from webhook.core.kinds import BY_KIND, NAMESPACE
from webhook.core.labels import labels_of
from webhook.core.policy import Mode, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView
from webhook.vap.match import MatchResources

# https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/validating-admission-policy-v1/
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}
VARIABLE_REF = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")


class Unresolved(Exception):
    """Something the request needs is not known here (e.g. its namespace); failurePolicy applies."""


@dataclass(frozen=True)
class Named:
    """A compiled matchCondition, variable or auditAnnotation."""

    name: str
    program: Program


@dataclass(frozen=True)
class Validation:
    program: Program
    message: str
    message_program: Program | None = None
    reason: str = "Invalid"


@dataclass(frozen=True)
class CompiledPolicy:
    name: str
    env: Environment
    match: MatchResources
    fail: bool = True
    conditions: tuple[Named, ...] = ()
    variables: tuple[Named, ...] = ()
    validations: tuple[Validation, ...] = ()
    annotations: tuple[Named, ...] = ()
    uses_namespace: bool = False


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class Failure:
    message: str
    reason: str = "Invalid"


class BoundPolicy:
    """One policy/binding pair: the edgeguard Policy's check, and its audit annotations."""

    def __init__(
        self,
        policy: CompiledPolicy,
        binding: str,
        actions: frozenset[str],
        match: MatchResources | None,
    ) -> None:
        self.policy, self.binding, self.actions, self.binding_match = (
            policy,
            binding,
            actions,
            match,
        )
        self.name = f"{policy.name}/{binding}"
        self._chained = tuple(
            VARIABLE_REF.search(v.program.source) is not None for v in policy.variables
        )

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
        )

    def __call__(self, review: Review, view: ClusterView, settings: Settings) -> Decision:
        found = self.evaluate(review, view)
        if not found.annotations:
            return found.decision
        return dataclasses.replace(found.decision, audit=tuple(sorted(found.annotations.items())))

    def evaluate(self, review: Review, view: ClusterView) -> Evaluation:
        try:
            if not self._selects(review, view):
                return Evaluation(verdict(()), {})
        except Unresolved as exc:
            return _evaluation([Failure(str(exc))] if self.policy.fail else [], {})
        run = self._run(review, view)
        failures: list[Failure] = []
        if not self._conditions_hold(run, failures):
            return _evaluation(failures, {})
        failures.extend(self._validate(run))
        annotations = dict(self._annotate(run, failures))
        return _evaluation(failures, annotations)

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

    def _run(self, review: Review, view: ClusterView) -> _Run:
        env = self.policy.env
        data: dict[str, Any] = {
            "object": review.object,
            "oldObject": review.old_object,
            "request": request_of(review),
            "namespaceObject": _namespace_object(review, view),
            "variables": {},
        }
        base = env.activation(data)
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for variable, chained in zip(self.policy.variables, self._chained, strict=True):
            act = env.activation(data | {"variables": dict(values)}) if chained else base
            try:
                values[variable.name] = variable.program.evaluate(act)
            except CelEvalError as exc:  # lazy in Kubernetes: an error matters only when read
                errors[variable.name] = str(exc)
        final = env.activation(data | {"variables": values}) if values else base
        return _Run(final, errors)

    def _conditions_hold(self, run: _Run, failures: list[Failure]) -> bool:
        for condition in self.policy.conditions:
            try:
                result = _boolean(condition.program, run.activation)
            except CelEvalError as exc:
                if self.policy.fail:
                    failures.append(
                        Failure(
                            f"failed to evaluate matchCondition '{condition.name}': "
                            f"{run.explain(condition.program, exc)}"
                        )
                    )
                return False  # with Ignore the policy is skipped
            if not result:
                return False
        return True

    def _validate(self, run: _Run) -> Iterator[Failure]:
        for check in self.policy.validations:
            try:
                if _boolean(check.program, run.activation):
                    continue
            except CelEvalError as exc:
                if self.policy.fail:
                    yield Failure(
                        f"expression '{check.program.source.strip()}' resulted in error: "
                        f"{run.explain(check.program, exc)}"
                    )
                continue
            yield Failure(_message(check, run.activation), check.reason)

    def _annotate(self, run: _Run, failures: list[Failure]) -> Iterator[tuple[str, str]]:
        for annotation in self.policy.annotations:
            try:
                value = annotation.program.evaluate(run.activation)
                if value is not None and not isinstance(value, str):
                    raise CelEvalError(f"must evaluate to a string or null, got {_type(value)}")
            except CelEvalError as exc:
                if self.policy.fail:
                    failures.append(
                        Failure(
                            f"auditAnnotation '{annotation.name}': valueExpression "
                            f"'{annotation.program.source.strip()}' resulted in error: "
                            f"{run.explain(annotation.program, exc)}"
                        )
                    )
                continue
            if value is not None:
                yield f"{self.policy.name}/{annotation.name}", value


@dataclass(frozen=True)
class _Run:
    """One request's activation, and the variables that failed to evaluate."""

    activation: Activation
    errors: Mapping[str, str]

    def explain(self, program: Program, exc: CelEvalError) -> str:
        """The error, traced to a failed variable when the expression reads one."""
        for name in VARIABLE_REF.findall(program.source):
            if name in self.errors:
                return f"variables.{name}: {self.errors[name]}"
        return str(exc)


def _evaluation(failures: list[Failure], annotations: dict[str, str]) -> Evaluation:
    if not failures:
        return Evaluation(verdict(()), annotations)
    code = REASON_CODES.get(failures[0].reason, 422)
    return Evaluation(Decision(False, tuple(f.message for f in failures), code), annotations)


def _boolean(program: Program, activation: Activation) -> bool:
    result = program.evaluate(activation)
    if not isinstance(result, bool):
        raise CelEvalError(f"must evaluate to bool, got {_type(result)}")
    return result


def _message(check: Validation, activation: Activation) -> str:
    """messageExpression when it gives a usable string, else message (Kubernetes' fallback)."""
    if check.message_program is not None:
        try:
            text = check.message_program.evaluate(activation)
        except CelEvalError:
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text:
            return text.strip()
    return check.message


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _namespace_object(review: Review, view: ClusterView) -> Mapping[str, Any] | None:
    res = BY_KIND.get(review.group_kind)
    if res is None or not res.namespaced:
        return None
    return view.get(NAMESPACE, None, review.namespace or "default")
