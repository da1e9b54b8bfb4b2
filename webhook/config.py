"""The policy configuration: one YAML file, checked at load against the known policies.

An unknown key, policy name, mode or a setting of the wrong type stops the program with the
file, line and what was expected (`ConfigError`). Read once, at the top, then passed down
frozen; nothing below reads files or the environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from webhook.core.config import Config, PolicyConfig, ViewConfig
from webhook.core.policy import Mode, Policy
from webhook.yamlio.located import LocatedError, Node, compose

TOP_KEYS = ("policies", "exemptNamespaces", "view", "userPolicies", "userPolicyNamePrefix")
POLICY_KEYS = ("mode", "exemptNamespaces", "settings")
VIEW_KEYS = ("notSynced", "reservationSeconds", "crdRecheckSeconds", "staleSeconds")
# Watches last a third to two thirds of view.staleSeconds: below this they would reopen every
# few seconds.
MIN_STALE_SECONDS = 10.0
NOT_SYNCED = ("Deny", "Warn")


class ConfigError(Exception):
    """A configuration problem, located: `file:line: what is wrong; what was expected`."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line = source, line

    @classmethod
    def of(cls, exc: LocatedError) -> ConfigError:
        return cls(exc.source, exc.line, exc.message)


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
        root = compose(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(source, line, f"not valid YAML: {exc}") from exc
    if root is None:
        return Config.defaults(known.values())
    try:
        return _config(root, known)
    except LocatedError as exc:
        raise ConfigError.of(exc) from exc


def _config(root: Node, known: dict[str, Policy]) -> Config:
    top = _mapping(root, TOP_KEYS, "the configuration")
    chosen = {name: PolicyConfig.default(policy) for name, policy in known.items()}
    if "policies" in top:
        entries = _mapping(top["policies"], tuple(known), "policies")
        for name, node in entries.items():
            chosen[name] = _policy(node, known[name])
    view = _view(top["view"]) if "view" in top else ViewConfig()
    exempt = (
        frozenset(_strings(top["exemptNamespaces"], "exemptNamespaces"))
        if "exemptNamespaces" in top
        else frozenset()
    )
    # userPolicies are loaded before this (user_policy_sources); here they are only checked.
    if "userPolicies" in top:
        _strings(top["userPolicies"], "userPolicies")
    if "userPolicyNamePrefix" in top:
        _typed(top["userPolicyNamePrefix"], "", "userPolicyNamePrefix")
    return Config(MappingProxyType(chosen), view, exempt)


def user_policy_sources(path: Path | None) -> tuple[list[Path], str]:
    """The ValidatingAdmissionPolicy files a configuration names (relative to it) and the name
    prefix to give them; read before the rest, since `policies:` may set their modes."""
    if path is None:
        return [], ""
    source = str(path)
    try:
        root = compose(path.read_text(encoding="utf-8"), source)
    except OSError as exc:
        raise ConfigError(source, 0, f"cannot read the configuration: {exc.strerror}") from exc
    except yaml.YAMLError:
        return [], ""  # parse() reports it with its line
    if root is None or not root.is_mapping:
        return [], ""
    fields = {c.name: c for c in root.entries() if isinstance(c.key, yaml.ScalarNode)}
    try:
        paths = _strings(fields["userPolicies"], "userPolicies") if "userPolicies" in fields else []
        prefix = ""
        if "userPolicyNamePrefix" in fields:
            prefix = str(_typed(fields["userPolicyNamePrefix"], "", "userPolicyNamePrefix"))
    except LocatedError as exc:
        raise ConfigError.of(exc) from exc
    return [path.parent / p for p in paths], prefix


def _policy(node: Node, policy: Policy) -> PolicyConfig:
    fields = _mapping(node, POLICY_KEYS, f"policies.{policy.name}")
    mode = policy.default_mode
    if "mode" in fields:
        modes = [m.value for m in Mode]
        mode = Mode(_choice(fields["mode"], modes, f"policies.{policy.name}.mode"))
    exempt = frozenset(
        _strings(fields["exemptNamespaces"], f"policies.{policy.name}.exemptNamespaces")
        if "exemptNamespaces" in fields
        else ()
    )
    settings = dict(policy.defaults)
    if "settings" in fields:
        where = f"policies.{policy.name}.settings"
        given = _mapping(fields["settings"], tuple(policy.defaults), where)
        for key, value_node in given.items():
            if key in policy.choices:
                settings[key] = _choice(value_node, policy.choices[key], f"{where}.{key}")
            elif isinstance(policy.defaults[key], tuple):
                settings[key] = tuple(_strings(value_node, f"{where}.{key}"))
            else:
                settings[key] = _typed(value_node, policy.defaults[key], f"{where}.{key}")
            check = policy.setting_checks.get(key)
            problem = check(settings[key]) if check is not None else None
            if problem is not None:
                raise value_node.fail(f"{where}.{key}: {problem}")
    return PolicyConfig(mode, exempt, MappingProxyType(settings))


def _view(node: Node) -> ViewConfig:
    fields = _mapping(node, VIEW_KEYS, "view")
    base = ViewConfig()
    return ViewConfig(
        _choice(fields["notSynced"], NOT_SYNCED, "view.notSynced")
        if "notSynced" in fields
        else base.not_synced,
        float(_typed(fields["reservationSeconds"], 1.0, "view.reservationSeconds"))
        if "reservationSeconds" in fields
        else base.reservation_seconds,
        float(_typed(fields["crdRecheckSeconds"], 1.0, "view.crdRecheckSeconds"))
        if "crdRecheckSeconds" in fields
        else base.crd_recheck_seconds,
        _stale_seconds(fields["staleSeconds"]) if "staleSeconds" in fields else base.stale_seconds,
    )


def _stale_seconds(node: Node) -> float:
    value = float(_typed(node, 1.0, "view.staleSeconds"))
    if not value >= MIN_STALE_SECONDS:
        raise node.fail(f"view.staleSeconds must be at least {MIN_STALE_SECONDS:g}, got {value:g}")
    return value


# The configuration's own wording of shape errors (at the value's line; keys at theirs).


def _mapping(node: Node, allowed: tuple[str, ...], where: str) -> dict[str, Node]:
    if not node.is_mapping:
        raise node.fail(f"{where} must be a mapping")
    out: dict[str, Node] = {}
    for child in node.entries():
        key = child.name
        if key not in allowed:
            expected = ", ".join(allowed) or "nothing"
            raise child.fail(
                f"unknown key {key!r} in {where}; expected one of: {expected}", at_key=True
            )
        if key in out:
            raise child.fail(f"duplicate key {key!r} in {where}", at_key=True)
        out[key] = child
    return out


def _choice(node: Node, choices: Iterable[str], where: str) -> str:
    options = list(choices)
    value = node.text
    if value not in options:
        raise node.fail(f"{where} is {value!r}; expected one of: {', '.join(options)}")
    return str(value)


def _strings(node: Node, where: str) -> list[str]:
    if not node.is_sequence or not all(item.is_scalar for item in node.sequence()):
        raise node.fail(f"{where} must be a list of strings")
    return [str(item.text) for item in node.sequence()]


def _typed(node: Node, default: Any, where: str) -> Any:
    value = node.value() if node.is_scalar else None
    expected = type(default)
    ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        got = f", got {node.text!r}" if node.is_scalar else ""
        raise node.fail(f"{where} must be a {expected.__name__}{got}")
    return value
