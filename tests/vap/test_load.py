"""webhook.vap.load: the real policies load, case files, and errors at load with file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.gateway.indexes import INDEXES
from tests.support import TESTS
from tests.vap.common import (
    BINDING,
    DATA,
    DENY_ALL,
    GATEWAY_VAP,
    GW_NAME,
    HEAD,
    M_CHANNEL,
    M_INIT,
    M_SELF_INIT,
    M_VERSION,
    MATCH,
    OB_NAME,
    OPENBAO_PREFIX,
    OPENBAO_VAP,
    SAMPLES,
    VALID,
    configmap,
    decide,
    engine_outcome,
    one,
    policies_for_cases,
    spec,
    write,
)
from webhook.core.kinds import GroupKind
from webhook.core.policy import Mode
from webhook.core.review import Review
from webhook.offline.cases import Case, discover, run_case
from webhook.vap.load import VAPError, load_user_policies

# --- the real inputs ----------------------------------------------------------------------


def test_gateway_safe_upgrades_loads_as_one_policy() -> None:
    [policy] = load_user_policies([GATEWAY_VAP])
    assert (
        policy.name,
        policy.kinds,
        policy.operations,
        policy.default_mode,
        policy.referential,
        policy.mutating,
    ) == (
        GW_NAME,
        frozenset({GroupKind("apiextensions.k8s.io", "CustomResourceDefinition")}),
        frozenset({"CREATE", "UPDATE"}),
        Mode.ENFORCE,
        False,
        False,
    )


def test_openbao_binding_names_the_kustomize_prefixed_policy() -> None:
    with pytest.raises(VAPError) as info:
        load_user_policies([OPENBAO_VAP])
    assert str(info.value) == (
        f"{OPENBAO_VAP}/validate-openbaocluster-binding.yaml:6: spec.policyName: no"
        " ValidatingAdmissionPolicy named 'openbao-operator-validate-openbaocluster' is loaded"
        " (loaded: validate-openbaocluster; if kustomize adds namePrefix 'openbao-operator-' to"
        " these files, give that prefix)"
    )


def test_openbao_policy_loads_with_its_kustomize_prefix() -> None:
    [policy] = load_user_policies([OPENBAO_VAP], OPENBAO_PREFIX)
    assert (policy.name, policy.kinds, policy.operations, policy.default_mode) == (
        OB_NAME,
        frozenset({GroupKind("openbao.org", "OpenBaoCluster")}),
        frozenset({"CREATE", "UPDATE"}),
        Mode.ENFORCE,
    )


@pytest.mark.parametrize(
    ("sample", "messages"),
    [
        # At this commit the policy requires spec.initContainer, which most samples omit and
        # the CRD does not default: the API server would refuse them the same way.
        ("openbao_v1alpha1_openbaocluster.yaml", [M_INIT]),
        ("openbao_v1alpha1_openbaocluster_acme.yaml", [M_INIT]),
        ("openbao_v1alpha1_openbaocluster_external_tls.yaml", [M_INIT, M_SELF_INIT]),
        ("openbao_v1alpha1_openbaocluster_gateway.yaml", []),
        ("openbao_v1alpha1_openbaocluster_ingress.yaml", [M_INIT]),
    ],
)
def test_openbao_samples_as_published(sample: str, messages: list[str]) -> None:
    [policy] = load_user_policies([OPENBAO_VAP], OPENBAO_PREFIX)
    docs = yaml.safe_load_all((SAMPLES / sample).read_text())
    [obj] = [d for d in docs if d and d["kind"] == "OpenBaoCluster"]
    outcome = engine_outcome(policy, Review.from_manifest(obj))
    assert (outcome.allowed, list(outcome.messages)) == (
        not messages,
        [f"[{OB_NAME}] {m}" for m in messages],
    )


CRD_FILES = sorted(p.name for p in (DATA / "gateway-api/crds/standard").glob("*.yaml"))
CRD_FILES.remove("gateway.networking.k8s.io_vap_safeupgrades.yaml")


def crd(channel: str, name: str, version: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((DATA / "gateway-api/crds" / channel / name).read_text())
    if version is not None:
        obj["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] = version
    return obj


@pytest.mark.parametrize("name", CRD_FILES)
def test_real_gateway_api_crds(name: str) -> None:
    [policy] = load_user_policies([GATEWAY_VAP])
    released = crd("standard", name, "v1.6.0")
    experimental = crd("experimental", name, "v1.6.0")
    verdicts = [
        # This checkout's bundles say v0.0.0-dev; releases stamp the real version.
        decide(policy, Review.from_manifest(crd("standard", name))).messages,
        decide(policy, Review.from_manifest(released)).messages,
        decide(policy, Review.from_manifest(crd("standard", name, "v1.3.1"))).messages,
        decide(policy, Review.from_manifest(experimental, "UPDATE", released)).messages,
        decide(policy, Review.from_manifest(released, "UPDATE", experimental)).messages,
    ]
    assert verdicts == [(M_VERSION,), (), (M_VERSION,), (M_CHANNEL,), ()]




CASES = discover(TESTS / "vap" / "cases")


def test_there_are_allow_and_deny_cases_for_both_real_policies() -> None:
    found = {(c.path.parent.parent.name, c.verdict) for c in CASES}
    assert found == {
        ("gateway-safe-upgrades", "allow"),
        ("gateway-safe-upgrades", "deny"),
        ("openbao", "allow"),
        ("openbao", "deny"),
    }


@pytest.mark.parametrize(
    "case", CASES, ids=[c.path.relative_to(c.path.parents[2]).as_posix() for c in CASES]
)
def test_case(case: Case) -> None:
    assert run_case(case, policies_for_cases(), INDEXES).problems == ()


# --- errors at load ---------------------------------------------------------------------


LOAD_ERRORS: list[tuple[str, str]] = [
    (
        HEAD + "  paramKind: {apiVersion: v1, kind: ConfigMap}\n" + MATCH + VALID + BINDING,
        "6: spec.paramKind: is not supported by edgeguard: parameter resources"
        " (paramKind/paramRef) are not supported",
    ),
    (
        spec(VALID, "  paramRef: {name: settings}\n"),
        "22: spec.paramRef: is not supported by edgeguard: parameter resources"
        " (paramKind/paramRef) are not supported",
    ),
    (
        spec(
            "  validations:\n  - expression: authorizer.path('/healthz').check('get').allowed()\n"
        ),
        "13: spec.validations[0].expression: the expression uses a variable edgeguard does not"
        " support: authorizer: authorization checks (the authorizer library) are not supported",
    ),
    (
        spec("  validations:\n  - expression: object.data.size == params.size\n"),
        "13: spec.validations[0].expression: the expression uses a variable edgeguard does not"
        " support: params: parameter resources (paramKind/paramRef) are not supported",
    ),
    (
        spec("  validations:\n  - expression: variables.missing\n"),
        "13: spec.validations[0].expression: variables.missing is not defined (before this"
        " expression)",
    ),
    (
        spec(
            "  variables:\n  - name: a\n    expression: variables.b\n"
            "  - name: b\n    expression: 'true'\n" + VALID
        ),
        "14: spec.variables[0].expression: variables.b is not defined (before this expression)",
    ),
    (
        spec("  validation:\n  - expression: 'true'\n"),
        "12: spec.validation: unknown field; known fields: failurePolicy, matchConstraints,"
        " matchConditions, variables, validations, auditAnnotations",
    ),
    (
        spec("  validations:\n  - expression: 'true'\n    reason: Teapot\n"),
        "14: spec.validations[0].reason: must be one of Unauthorized, Forbidden, Invalid,"
        " RequestEntityTooLarge",
    ),
    (
        spec("  validations:\n  - expression: 'true'\n    message: \"two\\nlines\"\n"),
        "14: spec.validations[0].message: must not contain line breaks",
    ),
    (
        spec("  failurePolicy: Sometimes\n" + VALID),
        "12: spec.failurePolicy: must be Fail or Ignore",
    ),
    (HEAD + MATCH + BINDING, "5: spec: validations or auditAnnotations is required"),
    (
        spec(VALID, match=MATCH.replace("[configmaps]", "[widgets]")),
        "11: spec.matchConstraints.resourceRules[0].resources: resource 'widgets' is not known to"
        " edgeguard; known in these groups: configmaps, namespaces, pods, secrets,"
        " serviceaccounts, services",
    ),
    (
        spec(VALID, match=MATCH.replace("[configmaps]", "[pods/status]")),
        "11: spec.matchConstraints.resourceRules[0].resources: subresource 'pods/status' is not"
        " supported by edgeguard: it admits whole objects",
    ),
    (
        spec(VALID, match=MATCH.replace("['']", "[example.com]").replace("[configmaps]", "['*']")),
        "11: spec.matchConstraints.resourceRules[0].resources: this rule selects no resource"
        " edgeguard knows; known in these groups: none",
    ),
    (
        spec(VALID, match=MATCH.replace("[CREATE, UPDATE]", "[CREATE, PATCH]")),
        "10: spec.matchConstraints.resourceRules[0].operations: unknown operations ['PATCH']",
    ),
    (
        spec(
            VALID,
            match=MATCH + "    namespaceSelector:\n      matchExpressions:\n"
            "      - {key: team, operator: Like, values: [a]}\n",
        ),
        "14: spec.matchConstraints.namespaceSelector.matchExpressions[0]: operator must be one of"
        " In, NotIn, Exists, DoesNotExist",
    ),
    (
        spec(VALID).replace("[Deny]", "[Deny, Warn]"),
        "21: spec.validationActions: Deny and Warn may not be used together",
    ),
    (
        spec(VALID).replace("[Deny]", "[Block]"),
        "21: spec.validationActions: must be a non-empty list of distinct Deny, Warn, Audit",
    ),
    (
        HEAD + MATCH + VALID,
        "1: no ValidatingAdmissionPolicyBinding names policy 'p'; Kubernetes would not run it, so"
        " edgeguard will not either (add a binding)",
    ),
    (
        spec(VALID).replace("policyName: p", "policyName: q"),
        "20: spec.policyName: no ValidatingAdmissionPolicy named 'q' is loaded (loaded: p)",
    ),
    (
        spec(VALID).replace("/v1\nkind: ValidatingAdmissionPolicy\n", "/v1beta1\nkind: X\n", 1),
        "2: kind: expected ValidatingAdmissionPolicy or ValidatingAdmissionPolicyBinding, got 'X'",
    ),
    (
        spec(VALID).replace("/v1\n", "/v1beta1\n", 1),
        "1: apiVersion: only admissionregistration.k8s.io/v1 is supported, got"
        " 'admissionregistration.k8s.io/v1beta1'",
    ),
    (
        HEAD + MATCH + VALID + "---\n" + HEAD + MATCH + VALID + BINDING,
        "15: a second ValidatingAdmissionPolicy named 'p'",
    ),
    (
        spec(VALID) + "  matchResources: [\n",
        "23: not valid YAML: expected the node content, but found '<stream end>'",
    ),
]


@pytest.mark.parametrize(("text", "error"), LOAD_ERRORS)
def test_errors_at_load_name_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(VAPError) as info:
        load_user_policies([path])
    assert str(info.value) == f"{path}:{error}"


def test_an_expression_that_does_not_compile(tmp_path: Path) -> None:
    path = write(tmp_path, spec("  validations:\n  - expression: object.data.x ==\n"))
    with pytest.raises(VAPError) as info:
        load_user_policies([path])
    assert str(info.value).startswith(
        f"{path}:13: spec.validations[0].expression: cannot compile 'object.data.x =='"
    )


@pytest.mark.parametrize(
    ("actions", "mode", "messages", "warnings", "audit"),
    [
        ("[Deny]", Mode.ENFORCE, ("[p/b] m",), (), {}),
        ("[Deny, Audit]", Mode.ENFORCE, ("[p/b] m",), (), {}),
        ("[Warn]", Mode.WARN, (), ("[p/b] m",), {}),
        ("[Warn, Audit]", Mode.WARN, (), ("[p/b] m",), {}),
        ("[Audit]", Mode.AUDIT, (), (), {"p_b": "m"}),
    ],
)
def test_validation_actions_become_the_policy_mode(
    tmp_path: Path,
    actions: str,
    mode: Mode,
    messages: tuple[str, ...],
    warnings: tuple[str, ...],
    audit: dict[str, str],
) -> None:
    policy = one(tmp_path, spec(DENY_ALL).replace("[Deny]", actions))
    outcome = engine_outcome(policy, Review.from_manifest(configmap()))
    assert (policy.default_mode, outcome.messages, outcome.warnings, dict(outcome.audit)) == (
        mode,
        messages,
        warnings,
        audit,
    )


def test_a_directory_and_a_name_prefix(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    write(tmp_path / "policies", HEAD + MATCH + DENY_ALL, "a-policy.yaml")
    binding = BINDING.removeprefix("---\n").replace("policyName: p", "policyName: team-p")
    write(tmp_path / "policies", binding, "b-binding.yml")
    write(tmp_path / "policies", "ignored", "notes.txt")
    [policy] = load_user_policies([tmp_path / "policies"], "team-")
    assert policy.name == "team-p/team-b"
