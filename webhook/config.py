"""The policy configuration: one YAML file, checked at load against the known policies.

An unknown key, policy name, mode or a setting of the wrong type stops the program with the
file, line and what was expected (`ConfigError`). Read once, at the top, then passed down
frozen; nothing below reads files or the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from webhook.policy import Mode, Policy

TOP_KEYS = ("policies", "view", "userPolicies", "userPolicyNamePrefix")
POLICY_KEYS = ("mode", "exemptNamespaces", "settings")
VIEW_KEYS = ("notSynced", "reservationSeconds", "crdRecheckSeconds")
NOT_SYNCED = ("Deny", "Warn")


class ConfigError(Exception):
    """A configuration problem, located: `file:line: what is wrong; what was expected`."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line = source, line


@dataclass(frozen=True)
class PolicyConfig:
    mode: Mode
    exempt_namespaces: frozenset[str] = frozenset()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ViewConfig:
    not_synced: str = "Deny"
    reservation_seconds: float = 30.0
    crd_recheck_seconds: float = 60.0


@dataclass(frozen=True)
class Config:
    policies: Mapping[str, PolicyConfig]
    view: ViewConfig = ViewConfig()

    @classmethod
    def defaults(cls, policies: Iterable[Policy]) -> Config:
        return cls(MappingProxyType({p.name: _default(p) for p in policies}))

    def for_policy(self, policy: Policy) -> PolicyConfig:
        return self.policies.get(policy.name) or _default(policy)


def load(path: Path | None, policies: Iterable[Policy]) -> Config:
    """Load and check a configuration file; None gives every policy its defaults."""
    known = {p.name: p for p in policies}
    if path is None:
        return Config.defaults(known.values())
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, 0, f"cannot read the configuration: {exc.strerror}") from exc
    return parse(text, source, known.values())


def parse(text: str, source: str, policies: Iterable[Policy]) -> Config:
    known = {p.name: p for p in policies}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(source, line, f"not valid YAML: {exc}") from exc
    if root is None:
        return Config.defaults(known.values())
    loc = _Locator(source)
    top = loc.mapping(root, TOP_KEYS, "the configuration")
    chosen = {name: _default(policy) for name, policy in known.items()}
    if "policies" in top:
        entries = loc.mapping(top["policies"], tuple(known), "policies")
        for name, node in entries.items():
            chosen[name] = _policy(loc, node, known[name])
    view = _view(loc, top["view"]) if "view" in top else ViewConfig()
    # userPolicies are loaded before this (user_policy_sources); here they are only checked.
    if "userPolicies" in top:
        loc.strings(top["userPolicies"], "userPolicies")
    if "userPolicyNamePrefix" in top:
        loc.typed(top["userPolicyNamePrefix"], "", "userPolicyNamePrefix")
    return Config(MappingProxyType(chosen), view)


def user_policy_sources(path: Path | None) -> tuple[list[Path], str]:
    """The ValidatingAdmissionPolicy files a configuration names (relative to it) and the name
    prefix to give them; read before the rest, since `policies:` may set their modes."""
    if path is None:
        return [], ""
    source = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except OSError as exc:
        raise ConfigError(source, 0, f"cannot read the configuration: {exc.strerror}") from exc
    except yaml.YAMLError:
        return [], ""  # parse() reports it with its line
    if not isinstance(root, yaml.MappingNode):
        return [], ""
    loc = _Locator(source)
    fields = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    paths = loc.strings(fields["userPolicies"], "userPolicies") if "userPolicies" in fields else []
    prefix = ""
    if "userPolicyNamePrefix" in fields:
        prefix = str(loc.typed(fields["userPolicyNamePrefix"], "", "userPolicyNamePrefix"))
    return [path.parent / p for p in paths], prefix


def _default(policy: Policy) -> PolicyConfig:
    return PolicyConfig(policy.default_mode, frozenset(), MappingProxyType(dict(policy.defaults)))


def _policy(loc: _Locator, node: yaml.Node, policy: Policy) -> PolicyConfig:
    fields = loc.mapping(node, POLICY_KEYS, f"policies.{policy.name}")
    mode = policy.default_mode
    if "mode" in fields:
        modes = [m.value for m in Mode]
        mode = Mode(loc.choice(fields["mode"], modes, f"policies.{policy.name}.mode"))
    exempt = frozenset(
        loc.strings(fields["exemptNamespaces"], f"policies.{policy.name}.exemptNamespaces")
        if "exemptNamespaces" in fields
        else ()
    )
    settings = dict(policy.defaults)
    if "settings" in fields:
        where = f"policies.{policy.name}.settings"
        given = loc.mapping(fields["settings"], tuple(policy.defaults), where)
        for key, value_node in given.items():
            if key in policy.choices:
                settings[key] = loc.choice(value_node, policy.choices[key], f"{where}.{key}")
            else:
                settings[key] = loc.typed(value_node, policy.defaults[key], f"{where}.{key}")
    return PolicyConfig(mode, exempt, MappingProxyType(settings))


def _view(loc: _Locator, node: yaml.Node) -> ViewConfig:
    fields = loc.mapping(node, VIEW_KEYS, "view")
    base = ViewConfig()
    return ViewConfig(
        loc.choice(fields["notSynced"], NOT_SYNCED, "view.notSynced")
        if "notSynced" in fields
        else base.not_synced,
        float(loc.typed(fields["reservationSeconds"], 1.0, "view.reservationSeconds"))
        if "reservationSeconds" in fields
        else base.reservation_seconds,
        float(loc.typed(fields["crdRecheckSeconds"], 1.0, "view.crdRecheckSeconds"))
        if "crdRecheckSeconds" in fields
        else base.crd_recheck_seconds,
    )


class _Locator:
    """Reads YAML nodes, raising ConfigError at the node's line when one is not as expected."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(self.source, node.start_mark.line + 1, message)

    def mapping(self, node: yaml.Node, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in allowed:
                expected = ", ".join(allowed) or "nothing"
                raise self.fail(
                    key_node, f"unknown key {key!r} in {where}; expected one of: {expected}"
                )
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r} in {where}")
            out[key] = value_node
        return out

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} must be a single value")
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)

    def choice(self, node: yaml.Node, choices: Iterable[str], where: str) -> str:
        options = list(choices)
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        if value not in options:
            raise self.fail(node, f"{where} is {value!r}; expected one of: {', '.join(options)}")
        return str(value)

    def strings(self, node: yaml.Node, where: str) -> list[str]:
        if not isinstance(node, yaml.SequenceNode) or not all(
            isinstance(item, yaml.ScalarNode) for item in node.value
        ):
            raise self.fail(node, f"{where} must be a list of strings")
        return [str(item.value) for item in node.value]

    def typed(self, node: yaml.Node, default: Any, where: str) -> Any:
        value = self.scalar(node, where) if isinstance(node, yaml.ScalarNode) else None
        expected = type(default)
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            got = f", got {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            raise self.fail(node, f"{where} must be a {expected.__name__}{got}")
        return value
