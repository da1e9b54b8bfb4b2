"""Which requests a ValidatingAdmissionPolicy or binding selects: resource rules and selectors.

A `Review` carries a kind, not a resource, so rules are resolved against the table of known
resources (`webhook.core.kinds.RESOURCES`); a rule naming a resource outside it is refused at
load, so a policy never silently matches nothing. No CEL and no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from webhook.core.kinds import BY_KIND, NAMESPACE, RESOURCES, KindInfo
from webhook.core.labels import EVERYTHING, LabelSelector, labels_of
from webhook.core.review import Review
from webhook.yamlio.located import Node

ALL = "*"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
SCOPES = ("*", "Cluster", "Namespaced")
RULE_FIELDS = ("apiGroups", "apiVersions", "operations", "resources", "resourceNames", "scope")
MATCH_FIELDS = (
    "resourceRules",
    "excludeResourceRules",
    "namespaceSelector",
    "objectSelector",
    "matchPolicy",
)


@dataclass(frozen=True)
class ResourceRule:
    groups: frozenset[str]
    versions: frozenset[str]
    operations: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str] = frozenset()
    scope: str = ALL

    def covers(self, res: KindInfo) -> bool:
        """Group, resource and scope agree (versions and operations are per request)."""
        return (
            _any(self.groups, res.group)
            and (_any(self.resources, res.resource) or "*/*" in self.resources)
            and (self.scope == ALL or (self.scope == "Namespaced") == res.namespaced)
        )

    def matches(self, res: KindInfo, review: Review, equivalent: bool) -> bool:
        version = review.kind.version
        return (
            self.covers(res)
            and _any(self.operations, review.operation)
            and (
                _any(self.versions, version)
                # matchPolicy Equivalent: another served version of the same resource matches
                # (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/#matching-requests-matchpolicy)
                or (equivalent and bool(self.versions & set(res.versions)))
            )
            and (not self.names or review.name in self.names)
        )


Labels = Callable[[], Mapping[str, str]]


@dataclass(frozen=True)
class MatchResources:
    """matchConstraints (policy) or matchResources (binding); no rules selects every resource."""

    rules: tuple[ResourceRule, ...] = ()
    excluded: tuple[ResourceRule, ...] = ()
    namespace_selector: LabelSelector = EVERYTHING
    object_selector: LabelSelector = EVERYTHING
    equivalent: bool = True

    def resources(self) -> frozenset[KindInfo]:
        if not self.rules:
            return frozenset(RESOURCES)
        return frozenset(r for r in RESOURCES if any(rule.covers(r) for rule in self.rules))

    def operations(self) -> frozenset[str]:
        if not self.rules:
            return frozenset(OPERATIONS)
        ops = {op for rule in self.rules for op in rule.operations}
        return frozenset(OPERATIONS) if ALL in ops else frozenset(ops)

    def selects(self, review: Review, namespace_labels: Labels) -> bool:
        """Whether the request is selected; `namespace_labels` may raise when unknown."""
        res = BY_KIND.get(review.group_kind)
        if res is None:
            return False
        if self.rules and not any(r.matches(res, review, self.equivalent) for r in self.rules):
            return False
        if any(r.matches(res, review, self.equivalent) for r in self.excluded):
            return False
        return self._objects_match(review) and self._namespace_matches(
            res, review, namespace_labels
        )

    def _objects_match(self, review: Review) -> bool:
        # Either the new or the old object may match; a missing one never does.
        # https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#matching-requests-objectselector
        if self.object_selector.empty:
            return True
        return any(
            obj is not None and self.object_selector.matches(labels_of(obj))
            for obj in (review.object, review.old_object)
        )

    def _namespace_matches(self, res: KindInfo, review: Review, labels: Labels) -> bool:
        # A Namespace is matched on its own labels; other cluster-scoped objects always match.
        if self.namespace_selector.empty:
            return True
        if res.group_kind == NAMESPACE:
            return self.namespace_selector.matches(labels_of(review.current))
        if not res.namespaced:
            return True
        return self.namespace_selector.matches(labels())


def _any(allowed: frozenset[str], value: str) -> bool:
    return ALL in allowed or value in allowed


def parse_match(node: Node, *, needs_rules: bool) -> MatchResources:
    fields = node.mapping(MATCH_FIELDS)
    rules_node = fields.get("resourceRules")
    if needs_rules and rules_node is None:
        raise node.error("resourceRules is required")
    rules = tuple(_rule(n, known=True) for n in rules_node.sequence()) if rules_node else ()
    if needs_rules and not rules:
        raise node.error("resourceRules must not be empty")
    excluded_node = fields.get("excludeResourceRules")
    excluded = (
        tuple(_rule(n, known=False) for n in excluded_node.sequence()) if excluded_node else ()
    )
    policy = fields.get("matchPolicy")
    match_policy = policy.string() if policy else "Equivalent"
    if policy and match_policy not in ("Exact", "Equivalent"):
        raise policy.error("must be Exact or Equivalent")
    return MatchResources(
        rules,
        excluded,
        LabelSelector.from_located(fields.get("namespaceSelector")),
        LabelSelector.from_located(fields.get("objectSelector")),
        equivalent=match_policy == "Equivalent",
    )


def _rule(node: Node, *, known: bool) -> ResourceRule:
    fields = node.mapping(RULE_FIELDS)
    lists: dict[str, frozenset[str]] = {}
    for name in ("apiGroups", "apiVersions", "operations", "resources"):
        field = fields.get(name)
        if field is None:
            raise node.error(f"{name} is required")
        lists[name] = frozenset(_strings(field))
    bad_ops = lists["operations"] - {*OPERATIONS, ALL}
    if bad_ops:
        raise fields["operations"].error(f"unknown operations {sorted(bad_ops)}")
    scope = fields["scope"].string() if "scope" in fields else ALL
    if scope not in SCOPES:
        raise fields["scope"].error(f"must be one of {', '.join(SCOPES)}")
    names = (
        frozenset(fields["resourceNames"].strings()) if "resourceNames" in fields else frozenset()
    )
    rule = ResourceRule(
        lists["apiGroups"],
        lists["apiVersions"],
        lists["operations"],
        lists["resources"],
        names,
        scope,
    )
    _check_resources(fields["resources"], rule, known)
    return rule


def _strings(node: Node) -> tuple[str, ...]:
    # apiGroups may hold "" (the core group), so plain strings rather than non-empty ones.
    items = node.sequence()
    values = tuple(item.value() for item in items)
    for item, value in zip(items, values, strict=True):
        if not isinstance(value, str):
            raise item.error("must be a string")
    if not values:
        raise node.error("must not be empty")
    return tuple(str(v) for v in values)


def _check_resources(node: Node, rule: ResourceRule, known: bool) -> None:
    for item in rule.resources:
        if "/" in item and item != "*/*":
            raise node.error(
                f"subresource {item!r} is not supported by edgeguard: it admits whole objects"
            )
        if (
            known
            and item not in (ALL, "*/*")
            and not any(r.resource == item and _any(rule.groups, r.group) for r in RESOURCES)
        ):
            raise node.error(f"resource {item!r} is not known to edgeguard; {_known(rule)}")
    if known and not any(rule.covers(r) for r in RESOURCES):
        raise node.error(f"this rule selects no resource edgeguard knows; {_known(rule)}")


def _known(rule: ResourceRule) -> str:
    names = sorted(
        f"{r.resource}.{r.group}" if r.group else r.resource
        for r in RESOURCES
        if _any(rule.groups, r.group)
    )
    return f"known in these groups: {', '.join(names) or 'none'}"
