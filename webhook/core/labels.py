"""The one label selector (metav1.LabelSelector): Gateway allowedRoutes, VAP namespace and
object selectors.

Strict as apimachinery is: an unknown operator, a missing key or values that do not fit the
operator make a selector invalid. Read from located YAML (a user policy) that is an error at
the line; read from an object in the cluster (a listener's selector) it selects nothing.
No I/O; located YAML is read through the small `Located` protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from webhook.core.json import JSONObject

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
# Kubernetes sets this label on every Namespace (since 1.22); Gateway API examples select on it.
NAME_LABEL = "kubernetes.io/metadata.name"


class InvalidSelector(ValueError):
    """A selector apimachinery would refuse; the message says why."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, Any]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        found = self.key in labels and labels[self.key] in self.values
        return found if self.operator == "In" else not found

    @classmethod
    def of(cls, key: object, operator: object, values: Sequence[str]) -> Requirement:
        """A checked requirement; InvalidSelector says what apimachinery would refuse."""
        return cls(_key(key), _operator(operator), _values(str(operator), values))


def _key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidSelector("key is required")
    return key


def _operator(operator: object) -> str:
    if operator not in OPERATORS:
        raise InvalidSelector(f"operator must be one of {', '.join(OPERATORS)}")
    return str(operator)


def _values(operator: str, values: Sequence[str]) -> frozenset[str]:
    if (operator in ("In", "NotIn")) != bool(values):
        raise InvalidSelector(
            f"values must be {'non-empty' if operator in ('In', 'NotIn') else 'empty'}"
            f" for operator {operator}"
        )
    return frozenset(values)


class Located(Protocol):
    """What the selector reads of a located YAML node (`webhook.yamlio.located.Node`)."""

    def mapping(self, known: tuple[str, ...] | None = None) -> Mapping[str, Located]: ...
    def sequence(self) -> Sequence[Located]: ...
    def string(self) -> str: ...
    def strings(self) -> tuple[str, ...]: ...
    def value(self) -> Any: ...
    def error(self, message: str) -> Exception: ...


@dataclass(frozen=True)
class LabelSelector:
    """A metav1.LabelSelector; the empty selector matches everything."""

    labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()
    valid: bool = True  # False: a selector apimachinery refuses, which selects nothing

    @property
    def empty(self) -> bool:
        return self.valid and not self.labels and not self.requirements

    def matches(self, labels: Mapping[str, Any]) -> bool:
        return (
            self.valid
            and all(labels.get(k) == v for k, v in self.labels)
            and all(r.matches(labels) for r in self.requirements)
        )

    @classmethod
    def from_dict(cls, raw: object) -> LabelSelector:
        """A selector written in an object; none (not a mapping) selects everything, an
        invalid one nothing."""
        if not isinstance(raw, dict):
            return EVERYTHING
        try:
            return cls(_match_labels(raw.get("matchLabels") or {}), _expressions(raw))
        except InvalidSelector:
            return NOTHING

    @classmethod
    def from_located(cls, node: Located | None) -> LabelSelector:
        """A selector in a user policy; raises the node's error at the offending line."""
        if node is None:
            return EVERYTHING
        fields = node.mapping(("matchLabels", "matchExpressions"))
        labels: tuple[tuple[str, str], ...] = ()
        if "matchLabels" in fields:
            try:
                labels = _match_labels(fields["matchLabels"].value())
            except InvalidSelector as exc:
                raise fields["matchLabels"].error(str(exc)) from exc
        exprs = fields["matchExpressions"].sequence() if "matchExpressions" in fields else []
        return cls(labels, tuple(_located_requirement(n) for n in exprs))


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(valid=False)


def _match_labels(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise InvalidSelector("must map label keys to string values")
    return tuple(sorted((str(k), v) for k, v in raw.items()))


def _expressions(raw: Mapping[str, Any]) -> tuple[Requirement, ...]:
    exprs = raw.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise InvalidSelector("matchExpressions must be a list")
    found = []
    for expr in exprs:
        if not isinstance(expr, dict):
            raise InvalidSelector("each matchExpression must be a mapping")
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidSelector("values must be a list of strings")
        found.append(Requirement.of(expr.get("key"), expr.get("operator"), values))
    return tuple(found)


def _located_requirement(node: Located) -> Requirement:
    fields = node.mapping(("key", "operator", "values"))
    try:
        key = _key(fields["key"].string() if "key" in fields else "")
        operator = _operator(fields["operator"].string() if "operator" in fields else "")
        values = fields["values"].strings() if "values" in fields else ()
        return Requirement(key, operator, _values(operator, values))
    except InvalidSelector as exc:
        raise node.error(str(exc)) from exc


def labels_of(obj: JSONObject) -> Mapping[str, str]:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def namespace_labels(namespace: JSONObject) -> dict[str, Any]:
    """A Namespace's labels, with the kubernetes.io/metadata.name label Kubernetes sets."""
    meta = namespace.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    labels = meta.get("labels")
    return {NAME_LABEL: str(meta.get("name") or "")} | (labels if isinstance(labels, dict) else {})
