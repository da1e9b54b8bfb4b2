"""A ValidatingAdmissionPolicy's CEL, evaluated on one request's variables: what runs in a worker.

Evaluation follows the Kubernetes order: matchConditions → variables → validations →
auditAnnotations. An evaluation error follows failurePolicy (Fail: it counts as a failed
validation; Ignore: it is skipped). The policy travels as text (`PolicyText`, JSON) and is
compiled where it runs; the request's variables travel as JSON. No view, no I/O, no clock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webhook.cel.cost import LIMIT_EXCEEDED, METER, OUT_OF_BUDGET, RUNTIME_BUDGET
from webhook.cel.runtime import Activation, CelEvalError, Environment, Program
from webhook.core.audit import audit_key

VARIABLES = ("object", "oldObject", "request", "namespaceObject", "variables")
VARIABLE_REF = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")
# k8s.io/apiserver/pkg/apis/cel/config.go: a longer messageExpression result is not used.
MAX_MESSAGE_BYTES = 5 * 1024
# Audit annotation values are cut here so that a hostile one cannot swell the response.
MAX_ANNOTATION_BYTES = 10 * 1024


@functools.cache
def environment() -> Environment:
    """The one CEL environment of user policies (per process)."""
    return Environment(VARIABLES)


@dataclass(frozen=True)
class ValidationText:
    expression: str
    message: str
    message_expression: str | None = None
    reason: str = "Invalid"


@dataclass(frozen=True)
class PolicyText:
    """A policy's CEL as text: what a worker needs to compile and evaluate it."""

    name: str
    fail: bool = True
    conditions: tuple[tuple[str, str], ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    validations: tuple[ValidationText, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fail": self.fail,
            "conditions": [list(c) for c in self.conditions],
            "variables": [list(v) for v in self.variables],
            "validations": [
                [v.expression, v.message, v.message_expression, v.reason] for v in self.validations
            ],
            "annotations": [list(a) for a in self.annotations],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PolicyText:
        return cls(
            name=str(raw["name"]),
            fail=bool(raw["fail"]),
            conditions=tuple((str(n), str(e)) for n, e in raw["conditions"]),
            variables=tuple((str(n), str(e)) for n, e in raw["variables"]),
            validations=tuple(ValidationText(*v) for v in raw["validations"]),
            annotations=tuple((str(k), str(e)) for k, e in raw["annotations"]),
        )


@dataclass(frozen=True)
class Named:
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
    fail: bool
    env: Environment
    conditions: tuple[Named, ...] = ()
    variables: tuple[Named, ...] = ()
    validations: tuple[Validation, ...] = ()
    annotations: tuple[Named, ...] = ()
    chained: tuple[bool, ...] = ()


def compile_policy(text: PolicyText, env: Environment) -> CompiledPolicy:
    """Raises CelError; the text was compiled once already at load, where errors are located."""

    def named(pairs: Sequence[tuple[str, str]]) -> tuple[Named, ...]:
        return tuple(Named(name, env.compile(source)) for name, source in pairs)

    variables = named(text.variables)
    return CompiledPolicy(
        name=text.name,
        fail=text.fail,
        env=env,
        conditions=named(text.conditions),
        variables=variables,
        validations=tuple(
            Validation(
                env.compile(v.expression),
                v.message,
                env.compile(v.message_expression) if v.message_expression else None,
                v.reason,
            )
            for v in text.validations
        ),
        annotations=named(text.annotations),
        chained=tuple(VARIABLE_REF.search(v.program.source) is not None for v in variables),
    )


@dataclass(frozen=True)
class Failure:
    message: str
    reason: str = "Invalid"


class OutOfBudget(Exception):
    """The evaluation spent more than RUNTIME_BUDGET: no further expression is run."""


@dataclass
class Progress:
    """Where an evaluation is, so that a worker that must stop at once (an expression over the
    cost limit: cel-cpp would go on calling) can still answer with what was found."""

    failures: list[Failure] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    current: str = ""
    spent: int = 0

    def cancelled(self, fail: bool) -> list[Failure]:
        """The failures, with the expression that went over the limit when failurePolicy is Fail."""
        if not fail:
            return list(self.failures)
        text = f"expression '{self.current.strip()}' resulted in error: {LIMIT_EXCEEDED}"
        return [*self.failures, Failure(text)]


def evaluate(
    policy: CompiledPolicy, data: Mapping[str, Any], progress: Progress | None = None
) -> Progress:
    """The policy's failures and audit annotations for one request's variables."""
    run = _Run(policy, data, progress or Progress())
    try:
        if run.conditions_hold():
            run.validate()
            run.annotate()
    except OutOfBudget:
        # As the API server: the budget error replaces the validations' results.
        run.progress.failures[:] = [Failure(OUT_OF_BUDGET)] if policy.fail else []
    return run.progress


class _Run:
    def __init__(self, policy: CompiledPolicy, data: Mapping[str, Any], progress: Progress) -> None:
        self.policy, self.progress = policy, progress
        env = policy.env
        base = {**data, "variables": {}}
        first = env.activation(base)
        values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        for variable, chained in zip(policy.variables, policy.chained, strict=True):
            act = env.activation({**base, "variables": dict(values)}) if chained else first
            try:
                values[variable.name] = self.run(variable.program, act)
            except CelEvalError as exc:  # lazy in Kubernetes: an error matters only when read
                self.errors[variable.name] = str(exc)
        self.activation = env.activation({**base, "variables": values}) if values else first

    def run(self, program: Program, activation: Activation | None = None) -> object:
        self.progress.current = program.source
        try:
            return program.evaluate(activation or self.activation)
        finally:
            self.progress.spent += METER.spent
            if self.progress.spent > RUNTIME_BUDGET:
                raise OutOfBudget

    def explain(self, program: Program, exc: CelEvalError) -> str:
        """The error, traced to a failed variable when the expression reads one."""
        for name in VARIABLE_REF.findall(program.source):
            if name in self.errors:
                return f"variables.{name}: {self.errors[name]}"
        return str(exc)

    def boolean(self, program: Program) -> bool:
        result = self.run(program)
        if not isinstance(result, bool):
            raise CelEvalError(f"must evaluate to bool, got {_type(result)}")
        return result

    def conditions_hold(self) -> bool:
        for condition in self.policy.conditions:
            try:
                result = self.boolean(condition.program)
            except CelEvalError as exc:
                if self.policy.fail:
                    self.progress.failures.append(
                        Failure(
                            f"failed to evaluate matchCondition '{condition.name}': "
                            f"{self.explain(condition.program, exc)}"
                        )
                    )
                return False  # with Ignore the policy is skipped
            if not result:
                return False
        return True

    def validate(self) -> None:
        for check in self.policy.validations:
            try:
                if self.boolean(check.program):
                    continue
            except CelEvalError as exc:
                if self.policy.fail:
                    self.progress.failures.append(
                        Failure(
                            f"expression '{check.program.source.strip()}' resulted in error: "
                            f"{self.explain(check.program, exc)}"
                        )
                    )
                continue
            self.progress.failures.append(Failure(self.message(check), check.reason))

    def message(self, check: Validation) -> str:
        """messageExpression when it gives a usable string, else message (Kubernetes' fallback)."""
        if check.message_program is not None:
            try:
                text = self.run(check.message_program)
            except CelEvalError:
                text = None
            if isinstance(text, str):
                text = text.strip()
                if text and "\n" not in text and len(text.encode()) <= MAX_MESSAGE_BYTES:
                    return text
        return check.message

    def annotate(self) -> None:
        for key, value in self._annotations():
            self.progress.annotations[audit_key(self.policy.name, key)] = value

    def _annotations(self) -> Iterator[tuple[str, str]]:
        for annotation in self.policy.annotations:
            try:
                value = self.run(annotation.program)
                if value is not None and not isinstance(value, str):
                    raise CelEvalError(f"must evaluate to a string or null, got {_type(value)}")
            except CelEvalError as exc:
                if self.policy.fail:
                    self.progress.failures.append(
                        Failure(
                            f"auditAnnotation '{annotation.name}': valueExpression "
                            f"'{annotation.program.source.strip()}' resulted in error: "
                            f"{self.explain(annotation.program, exc)}"
                        )
                    )
                continue
            value = (value or "").strip()
            if value:  # Kubernetes publishes no annotation for null or blank
                yield annotation.name, value.encode()[:MAX_ANNOTATION_BYTES].decode(
                    "utf-8", "ignore"
                )


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__
