"""Shared pieces of the ValidatingAdmissionPolicy tests: policy text builders and runners."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tests.support import SHARED_DATA, make_view
from webhook.cluster.memory import MemoryView
from webhook.core.config import Config, PolicyConfig
from webhook.core.decision import Decision
from webhook.core.kinds import GroupKind
from webhook.core.outcome import Outcome
from webhook.core.policy import Policy
from webhook.core.review import Review
from webhook.engine import Engine
from webhook.vap.load import load_user_policies

DATA = SHARED_DATA
GATEWAY_VAP = DATA / "gateway-api/crds/standard/gateway.networking.k8s.io_vap_safeupgrades.yaml"
OPENBAO_VAP = DATA / "openbao-operator/admission"
SAMPLES = DATA / "openbao-operator/samples"
OPENBAO_PREFIX = "openbao-operator-"
GW_NAME = "safe-upgrades.gateway.networking.k8s.io/safe-upgrades.gateway.networking.k8s.io"
OB_NAME = "openbao-operator-validate-openbaocluster/openbao-operator-validate-openbaocluster"
CONFIGMAP = GroupKind("", "ConfigMap")

HEAD = (
    "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n"
    "metadata:\n  name: p\nspec:\n"
)  # lines 1-5; the spec's own lines start at 6
MATCH = (
    "  matchConstraints:\n    resourceRules:\n    - apiGroups: ['']\n      apiVersions: [v1]\n"
    "      operations: [CREATE, UPDATE]\n      resources: [configmaps]\n"
)  # lines 6-11
VALID = "  validations:\n  - expression: 'true'\n"  # lines 12-13 after MATCH
BINDING = (
    "---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\n"
    "metadata:\n  name: b\nspec:\n  policyName: p\n  validationActions: [Deny]\n"
)  # after HEAD + MATCH + VALID: `---` is line 14, validationActions line 21

M_INIT = "spec.initContainer is required, must be enabled, and must specify a non-empty image."
M_SELF_INIT = (
    "spec.selfInit.requests is required and must not be empty when spec.selfInit.enabled is true."
)
M_CHANNEL = (
    "Installing experimental CRDs on top of standard channel CRDs is prohibited by default."
    " Uninstall ValidatingAdmissionPolicy safe-upgrades.gateway.networking.k8s.io to install"
    " experimental CRDs on top of standard channel CRDs."
)
M_VERSION = (
    "Installing CRDs with version before v1.5.0 is prohibited by default. Uninstall"
    " ValidatingAdmissionPolicy safe-upgrades.gateway.networking.k8s.io to install older versions."
)


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one(tmp_path: Path, text: str) -> Policy:
    [policy] = load_user_policies([write(tmp_path, text)])
    return policy


def spec(body: str, binding: str = "", match: str = MATCH) -> str:
    """A policy `p` with the given spec lines (after matchConstraints) and binding `b`."""
    return HEAD + match + body + BINDING + binding


def configmap(
    name: str = "cm", namespace: str = "apps", labels: Mapping[str, str] | None = None, **data: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def namespace(name: str = "apps", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def decide(policy: Policy, review: Review, view: MemoryView | None = None) -> Decision:
    return policy(review, view or make_view(), {})


def engine_outcome(
    policy: Policy, review: Review, view: MemoryView | None = None
) -> Outcome:
    config = Config(MappingProxyType({policy.name: PolicyConfig(policy.default_mode)}))
    return Engine([policy], config).validate(review, view or make_view())


SELECTOR = "    namespaceSelector:\n      matchLabels: {team: a}\n"
DENY_ALL = "  validations:\n  - expression: 'false'\n    message: m\n"


def policies_for_cases() -> dict[str, Policy]:
    loaded = load_user_policies([GATEWAY_VAP]) + load_user_policies([OPENBAO_VAP], OPENBAO_PREFIX)
    return {p.name: p for p in loaded}
