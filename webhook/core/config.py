"""The configuration as the program uses it: frozen values, one per policy and one for the view.

Made once at the top (`webhook.config` reads the YAML file) and passed down; nothing here
reads files or the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from webhook.core.policy import Mode, Policy


@dataclass(frozen=True)
class PolicyConfig:
    mode: Mode
    exempt_namespaces: frozenset[str] = frozenset()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def default(cls, policy: Policy) -> PolicyConfig:
        return cls(policy.default_mode, frozenset(), MappingProxyType(dict(policy.defaults)))


@dataclass(frozen=True)
class ViewConfig:
    not_synced: str = "Deny"
    reservation_seconds: float = 30.0
    crd_recheck_seconds: float = 60.0
    # A kind out of contact with the API server longer than this is stale: its checks answer
    # as before the first sync (not_synced), and /readyz says so.
    stale_seconds: float = 60.0


@dataclass(frozen=True)
class Config:
    policies: Mapping[str, PolicyConfig]
    view: ViewConfig = ViewConfig()
    # Namespaces no policy reviews. Only edgeguard's own configuration grants exemptions: the
    # webhooks' namespaceSelector names kube-system and edgeguard's namespace and reads no
    # label a namespace admin could set.
    exempt_namespaces: frozenset[str] = frozenset()

    @classmethod
    def defaults(cls, policies: Iterable[Policy]) -> Config:
        return cls(MappingProxyType({p.name: PolicyConfig.default(p) for p in policies}))

    def for_policy(self, policy: Policy) -> PolicyConfig:
        return self.policies.get(policy.name) or PolicyConfig.default(policy)
