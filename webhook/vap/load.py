"""User policies: Kubernetes ValidatingAdmissionPolicy + binding files, compiled at load.

Every document is checked and every CEL expression compiled when the files are read; anything
wrong or unsupported (paramKind, paramRef, `authorizer`, an unknown field or resource) stops
the load with `VAPError` at `file:line`, never ignored. Each policy/binding pair becomes one
edgeguard `Policy` named `<policy>/<binding>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webhook.cel.runtime import CelError
from webhook.core.policy import Policy
from webhook.vap.bound import REASON_CODES, BoundPolicy, Evaluator, LoadedPolicy
from webhook.vap.evaluate import VARIABLE_REF, PolicyText, ValidationText, environment
from webhook.vap.match import MatchResources, parse_match
from webhook.yamlio.located import LocatedError, Node, documents, required
from webhook.yamlio.manifests import ManifestError

API_VERSION = "admissionregistration.k8s.io/v1"
POLICY, BINDING = "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"
UNSUPPORTED_VARIABLES = {
    "params": "parameter resources (paramKind/paramRef) are not supported",
    "authorizer": "authorization checks (the authorizer library) are not supported",
}
POLICY_FIELDS = (
    "failurePolicy",
    "matchConstraints",
    "matchConditions",
    "variables",
    "validations",
    "auditAnnotations",
)
BINDING_FIELDS = ("policyName", "validationActions", "matchResources")
ACTIONS = ("Deny", "Warn", "Audit")
SUFFIXES = (".yaml", ".yml", ".json")
STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


class VAPError(Exception):
    """A user policy problem, located: `file:line: what is wrong`."""


def load_user_policies(
    paths: Sequence[Path], name_prefix: str = "", evaluator: Evaluator | None = None
) -> list[Policy]:
    """The edgeguard policies of the given files and directories; raises VAPError.

    `name_prefix` is kustomize's `namePrefix`: it is added to every document's metadata.name
    (not to a binding's policyName), as `kustomize build` would before the API server sees it.
    Their CEL runs in `evaluator`'s workers (default: the process's shared pool).
    """
    return [bound.as_policy() for bound in load_bindings(paths, name_prefix, evaluator)]


def load_bindings(
    paths: Sequence[Path], name_prefix: str = "", evaluator: Evaluator | None = None
) -> list[BoundPolicy]:
    if evaluator is None:
        from webhook.vap.workers import shared_pool

        evaluator = shared_pool()
    try:
        return _load(paths, name_prefix, evaluator)
    except (LocatedError, ManifestError) as exc:
        raise VAPError(str(exc)) from exc


def _load(paths: Sequence[Path], name_prefix: str, evaluator: Evaluator) -> list[BoundPolicy]:
    policies: dict[str, tuple[LoadedPolicy, Node]] = {}
    bindings: dict[str, _Binding] = {}
    for doc in (doc for path in _files(paths) for doc in documents(path)):
        kind, name, spec = _header(doc, name_prefix)
        seen = policies if kind == POLICY else bindings
        if name in seen:
            raise doc.error(f"a second {kind} named {name!r}")
        if kind == POLICY:
            policies[name] = (_policy(name, spec), doc)
        else:
            bindings[name] = _binding(name, spec)
    bound = [_bind(b, policies, evaluator) for b in bindings.values()]
    used = {b.policy.name for b in bound}
    for name, (_, doc) in policies.items():
        if name not in used:
            raise doc.error(
                f"no {BINDING} names policy {name!r}; Kubernetes would not run it, so edgeguard"
                " will not either (add a binding)"
            )
    return bound


@dataclass(frozen=True)
class _Binding:
    name: str
    policy_name: Node
    actions: frozenset[str]
    match: MatchResources | None


def _files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()))
        else:
            found.append(path)  # a missing file is reported by the reader, with its name
    return found


def _header(doc: Node, prefix: str) -> tuple[str, str, Node]:
    fields = doc.mapping(("apiVersion", "kind", "metadata", "spec", "status"))
    kind = required(fields, "kind", doc).string()
    if kind not in (POLICY, BINDING):
        raise fields["kind"].error(f"expected {POLICY} or {BINDING}, got {kind!r}")
    version = required(fields, "apiVersion", doc)
    if version.value() != API_VERSION:
        raise version.error(f"only {API_VERSION} is supported, got {version.value()!r}")
    meta = required(fields, "metadata", doc)
    name = required(meta.mapping(), "name", meta).string()
    return kind, prefix + name, required(fields, "spec", doc)


def _policy(name: str, spec: Node) -> LoadedPolicy:
    unsupported = {"paramKind": UNSUPPORTED_VARIABLES["params"]}
    fields = spec.mapping(POLICY_FIELDS, unsupported)
    match = parse_match(required(fields, "matchConstraints", spec), needs_rules=True)
    if "validations" not in fields and "auditAnnotations" not in fields:
        raise spec.error("validations or auditAnnotations is required")
    variables = _variables(fields.get("variables"))
    names = frozenset(name for name, _ in variables)
    conditions = _named(fields.get("matchConditions"), "name", "expression", names)
    annotations = _named(fields.get("auditAnnotations"), "key", "valueExpression", names)
    for (key, _), node in zip(annotations, _items(fields.get("auditAnnotations")), strict=True):
        if len(key) > 63:
            raise node.error("key must be at most 63 characters")
    validations = tuple(_validation(n, names) for n in _items(fields.get("validations")))
    sources = [
        *(source for _, source in (*variables, *conditions, *annotations)),
        *(v.expression for v in validations),
        *(v.message_expression for v in validations if v.message_expression),
    ]
    text = PolicyText(
        name=name,
        fail=_failure_policy(fields.get("failurePolicy")),
        conditions=conditions,
        variables=variables,
        validations=validations,
        annotations=annotations,
    )
    uses_namespace = any(re.search(r"\bnamespaceObject\b", source) for source in sources)
    return LoadedPolicy(text, match, uses_namespace)


def _items(node: Node | None) -> list[Node]:
    return node.sequence() if node is not None else []


def _failure_policy(node: Node | None) -> bool:
    value = node.string() if node else "Fail"
    if node and value not in ("Fail", "Ignore"):
        raise node.error("must be Fail or Ignore")
    return value == "Fail"


Named = tuple[str, str]  # a name (or key) and its expression


def _variables(node: Node | None) -> tuple[Named, ...]:
    found: list[Named] = []
    for item in _items(node):
        fields = item.mapping(("name", "expression"))
        name = required(fields, "name", item).string()
        if not IDENTIFIER.match(name) or name in {v for v, _ in found}:
            raise fields["name"].error(f"{name!r} must be a unique CEL identifier")
        earlier = frozenset(v for v, _ in found)
        found.append((name, _compile(required(fields, "expression", item), earlier)))
    return tuple(found)


def _named(node: Node | None, key: str, expr: str, names: frozenset[str]) -> tuple[Named, ...]:
    found: list[Named] = []
    for item in _items(node):
        fields = item.mapping((key, expr))
        name = required(fields, key, item).string()
        if not QUALIFIED.match(name) or name in {n for n, _ in found}:
            raise fields[key].error(f"{name!r} must be a unique qualified name")
        found.append((name, _compile(required(fields, expr, item), names)))
    return tuple(found)


def _validation(node: Node, names: frozenset[str]) -> ValidationText:
    fields = node.mapping(("expression", "message", "messageExpression", "reason"))
    program = _compile(required(fields, "expression", node), names)
    message = fields["message"].string() if "message" in fields else ""
    if "\n" in message:
        raise fields["message"].error("must not contain line breaks")
    reason = fields["reason"].string() if "reason" in fields else "Invalid"
    if reason not in REASON_CODES:
        raise fields["reason"].error(f"must be one of {', '.join(REASON_CODES)}")
    message_node = fields.get("messageExpression")
    message_source = _compile(message_node, names) if message_node else None
    default = f"failed expression: {program.strip()}"
    return ValidationText(program, message.strip() or default, message_source, reason)


def _compile(node: Node, variables: frozenset[str]) -> str:
    """The expression's source, once it compiled (workers compile it again where it runs)."""
    source = node.string()
    for name in VARIABLE_REF.findall(source):
        if name not in variables:
            raise node.error(f"variables.{name} is not defined (before this expression)")
    try:
        environment().compile(source)
        return source
    except CelError as exc:
        code = STRING_LITERAL.sub("", source)
        used = [n for n in UNSUPPORTED_VARIABLES if re.search(rf"\b{n}\b", code)]
        if not used:
            raise node.error(str(exc)) from exc
        reasons = "; ".join(f"{n}: {UNSUPPORTED_VARIABLES[n]}" for n in used)
        message = f"the expression uses a variable edgeguard does not support: {reasons}"
        raise node.error(message) from exc


def _binding(name: str, spec: Node) -> _Binding:
    unsupported = {"paramRef": UNSUPPORTED_VARIABLES["params"]}
    fields = spec.mapping(BINDING_FIELDS, unsupported)
    policy_name = required(fields, "policyName", spec)
    policy_name.string()
    actions_node = required(fields, "validationActions", spec)
    actions = actions_node.strings()
    if not actions or set(actions) - set(ACTIONS) or len(set(actions)) != len(actions):
        raise actions_node.error(f"must be a non-empty list of distinct {', '.join(ACTIONS)}")
    if {"Deny", "Warn"} <= set(actions):
        raise actions_node.error("Deny and Warn may not be used together")
    match_node = fields.get("matchResources")
    match = parse_match(match_node, needs_rules=False) if match_node else None
    return _Binding(name, policy_name, frozenset(actions), match)


def _bind(
    binding: _Binding, policies: dict[str, tuple[LoadedPolicy, Node]], evaluator: Evaluator
) -> BoundPolicy:
    wanted = binding.policy_name.string()
    found = policies.get(wanted)
    if found is None:
        raise binding.policy_name.error(
            f"no {POLICY} named {wanted!r} is loaded{_hint(wanted, policies)}"
        )
    return BoundPolicy(found[0], binding.name, binding.actions, binding.match, evaluator)


def _hint(wanted: str, policies: dict[str, tuple[LoadedPolicy, Node]]) -> str:
    loaded = sorted(policies)
    prefixes = [wanted[: -len(n)] for n in loaded if wanted.endswith(n) and wanted != n]
    if prefixes:
        return (
            f" (loaded: {', '.join(loaded)}; if kustomize adds namePrefix {prefixes[0]!r} to"
            " these files, give that prefix)"
        )
    return f" (loaded: {', '.join(loaded) or 'none'})"
