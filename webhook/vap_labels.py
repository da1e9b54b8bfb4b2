"""Label selectors (metav1.LabelSelector) for namespaceSelector and objectSelector.

Parsed at load with file:line errors; matched against a plain label mapping. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.vap_yaml import Node

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        found = self.key in labels and labels[self.key] in self.values
        return found if self.operator == "In" else not found


@dataclass(frozen=True)
class LabelSelector:
    """A metav1.LabelSelector; the empty selector matches everything."""

    labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.labels and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels) and all(
            r.matches(labels) for r in self.requirements
        )


EVERYTHING = LabelSelector()


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def parse_selector(node: Node | None) -> LabelSelector:
    if node is None:
        return LabelSelector()
    fields = node.mapping(("matchLabels", "matchExpressions"))
    labels: tuple[tuple[str, str], ...] = ()
    if "matchLabels" in fields:
        raw = fields["matchLabels"].value()
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise fields["matchLabels"].error("must map label keys to string values")
        labels = tuple(sorted((str(k), v) for k, v in raw.items()))
    exprs = fields["matchExpressions"].sequence() if "matchExpressions" in fields else []
    return LabelSelector(labels, tuple(_requirement(n) for n in exprs))


def _requirement(node: Node) -> Requirement:
    fields = node.mapping(("key", "operator", "values"))
    key = fields["key"].string() if "key" in fields else ""
    if not key:
        raise node.error("key is required")
    operator = fields["operator"].string() if "operator" in fields else ""
    if operator not in OPERATORS:
        raise node.error(f"operator must be one of {', '.join(OPERATORS)}")
    values = fields["values"].strings() if "values" in fields else ()
    if (operator in ("In", "NotIn")) != bool(values):
        raise node.error(
            f"values must be {'non-empty' if operator in ('In', 'NotIn') else 'empty'}"
            f" for operator {operator}"
        )
    return Requirement(key, operator, frozenset(values))
