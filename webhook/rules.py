"""Declarative CEL rules from YAML: kinds, expression, message; compiled once at load.

A rule that does not compile stops the program at start (`RuleError` with file and line). At
admission a rule that returns a non-bool or fails to evaluate denies and names itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.cel import CelError, CelEvalError, Environment, Program
from webhook.decision import Decision, verdict
from webhook.kinds import GroupKind
from webhook.policy import Settings
from webhook.review import Review
from webhook.vap_eval import request_of
from webhook.view import ClusterView

VARIABLES = ("object", "oldObject", "request")
RULE_KEYS = frozenset({"name", "kinds", "expression", "message", "operations"})


class RuleError(Exception):
    """A rule file problem, located: `file:line: what is wrong`."""


@dataclass(frozen=True)
class Rule:
    name: str
    kinds: frozenset[GroupKind]
    operations: frozenset[str]
    program: Program
    message: str


class RuleSet:
    """Rules compiled into one CEL environment; evaluated against one activation per review."""

    def __init__(self, rules: Iterable[Rule], env: Environment) -> None:
        self.rules = tuple(rules)
        self.env = env
        self.kinds = frozenset(k for rule in self.rules for k in rule.kinds)

    def check(self, review: Review, view: ClusterView, settings: Settings) -> Decision:
        matching = [
            r
            for r in self.rules
            if review.group_kind in r.kinds and review.operation in r.operations
        ]
        if not matching or review.object is None:
            return verdict(())
        activation = self.env.activation(
            {"object": review.object, "oldObject": review.old_object, "request": request_of(review)}
        )
        return verdict(self._failures(matching, activation))

    @staticmethod
    def _failures(rules: list[Rule], activation: Any) -> Iterable[str]:
        for rule in rules:
            try:
                result = rule.program.evaluate(activation)
            except CelEvalError as exc:
                yield f"rule {rule.name} could not be evaluated (denied to be safe): {exc}"
                continue
            if not isinstance(result, bool):
                yield f"rule {rule.name} returned {type(result).__name__}, not bool (denied)"
            elif not result:
                yield rule.message


def load(path: Path, env: Environment | None = None) -> RuleSet:
    env = env or Environment(VARIABLES)
    source = str(path)
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.SequenceNode):
        raise RuleError(f"{source}:1: a rule file is a list of rules")
    return RuleSet((_rule(node, source, env) for node in root.value), env)


def _rule(node: yaml.Node, source: str, env: Environment) -> Rule:
    line = node.start_mark.line + 1
    raw = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    if not isinstance(raw, dict):
        raise RuleError(f"{source}:{line}: a rule is a mapping")
    unknown = set(raw) - RULE_KEYS
    missing = {"name", "kinds", "expression", "message"} - set(raw)
    if unknown or missing:
        raise RuleError(
            f"{source}:{line}: rule keys are {', '.join(sorted(RULE_KEYS))}; "
            f"unknown: {sorted(unknown)}, missing: {sorted(missing)}"
        )
    try:
        program = env.compile(str(raw["expression"]))
    except CelError as exc:
        raise RuleError(f"{source}:{line}: rule {raw['name']}: {exc}") from exc
    kinds = frozenset(GroupKind(str(k["group"]), str(k["kind"])) for k in raw["kinds"])
    operations = frozenset(raw.get("operations") or ("CREATE", "UPDATE"))
    return Rule(str(raw["name"]), kinds, operations, program, str(raw["message"]))
