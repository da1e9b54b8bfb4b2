"""User policies in the ValidatingAdmissionPolicy format: load errors, matching, evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from policies.gateway.indexers import INDEXERS
from policies.gateway.refs import Claim
from tests.support import make_view
from webhook.cluster.memory import MemoryView
from webhook.core.config import Config, PolicyConfig
from webhook.core.decision import Decision
from webhook.core.kinds import GATEWAY, GroupKind
from webhook.core.outcome import Outcome
from webhook.core.policy import Mode, Policy
from webhook.core.review import Review
from webhook.engine import Engine
from webhook.offline.cases import Case, discover, run_case
from webhook.vap.load import VAPError, load_bindings, load_user_policies

DATA = Path(__file__).parents[2] / "shared" / "data"
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


def decide(policy: Policy, review: Review, view: MemoryView[Claim] | None = None) -> Decision:
    return policy(review, view or make_view(), {})


def engine_outcome(
    policy: Policy, review: Review, view: MemoryView[Claim] | None = None
) -> Outcome:
    config = Config(MappingProxyType({policy.name: PolicyConfig(policy.default_mode)}))
    return Engine([policy], config).validate(review, view or make_view())


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


def policies_for_cases() -> dict[str, Policy]:
    loaded = load_user_policies([GATEWAY_VAP]) + load_user_policies([OPENBAO_VAP], OPENBAO_PREFIX)
    return {p.name: p for p in loaded}


CASES = discover(Path(__file__).parent / "vap" / "cases")


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
    assert run_case(case, policies_for_cases(), INDEXERS).problems == ()


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


# --- evaluation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("validation", "messages", "code"),
    [
        ("- expression: object.data.x == 'y'\n    message: x must be y", ("x must be y",), 422),
        ("- expression: object.data.x == 'y'", ("failed expression: object.data.x == 'y'",), 422),
        (
            "- expression: object.data.x == 'y'\n"
            "    messageExpression: \"'x is ' + object.data.x\"",
            ("x is n",),
            422,
        ),
        (
            "- expression: object.data.x == 'y'\n    message: fallback\n"
            "    messageExpression: object.data.missing",
            ("fallback",),
            422,
        ),
        (
            "- expression: object.data.x == 'y'\n    message: fallback\n    messageExpression: '1'",
            ("fallback",),
            422,
        ),
        ("- expression: 'false'\n    message: m\n    reason: Forbidden", ("m",), 403),
        ("- expression: 'false'\n    message: m\n    reason: Unauthorized", ("m",), 401),
        (
            "- expression: object.data.missing == 'y'",
            (
                "expression 'object.data.missing == 'y'' resulted in error: NOT_FOUND: Key not"
                ' found in map : "missing"',
            ),
            422,
        ),
        (
            "- expression: object.data.x",
            ("expression 'object.data.x' resulted in error: must evaluate to bool, got str",),
            422,
        ),
        ("- expression: 'true'", (), 200),
        (
            "- expression: 'false'\n    message: a\n  - expression: 'false'\n    message: b",
            ("a", "b"),
            422,
        ),
    ],
)
def test_validations_and_their_messages(
    tmp_path: Path, validation: str, messages: tuple[str, ...], code: int
) -> None:
    policy = one(tmp_path, spec(f"  validations:\n  {validation}\n"))
    decision = decide(policy, Review.from_manifest(configmap(x="n")))
    assert (decision.allowed, decision.messages, decision.code) == (not messages, messages, code)


@pytest.mark.parametrize(
    ("failure_policy", "conditions", "messages"),
    [
        ("Fail", "object.data.x == 'n'", ("m",)),
        ("Fail", "object.data.x == 'other'", ()),
        ("Ignore", "object.data.x == 'n'", ("m",)),
        (
            "Fail",
            "object.data.missing == 'n'",
            (
                "failed to evaluate matchCondition 'c': NOT_FOUND: Key not found in map :"
                ' "missing"',
            ),
        ),
        ("Ignore", "object.data.missing == 'n'", ()),
        (
            "Fail",
            "object.data.x",
            ("failed to evaluate matchCondition 'c': must evaluate to bool, got str",),
        ),
    ],
)
def test_match_conditions_and_failure_policy(
    tmp_path: Path, failure_policy: str, conditions: str, messages: tuple[str, ...]
) -> None:
    body = (
        f"  failurePolicy: {failure_policy}\n  matchConditions:\n  - name: c\n"
        f"    expression: \"{conditions}\"\n  validations:\n  - expression: 'false'\n"
        "    message: m\n"
    )
    policy = one(tmp_path, spec(body))
    assert decide(policy, Review.from_manifest(configmap(x="n"))).messages == messages


def test_ignore_skips_a_validation_that_errors_and_keeps_the_others(tmp_path: Path) -> None:
    body = (
        "  failurePolicy: Ignore\n  validations:\n  - expression: object.data.missing == 'y'\n"
        "  - expression: 'false'\n    message: still checked\n"
    )
    decision = decide(one(tmp_path, spec(body)), Review.from_manifest(configmap()))
    assert decision.messages == ("still checked",)


@pytest.mark.parametrize(
    ("expression", "messages"),
    [
        ("variables.b == 3", ()),
        ("variables.b == 4", ("failed expression: variables.b == 4",)),
        (
            "variables.broken == 1",
            (
                "expression 'variables.broken == 1' resulted in error: variables.broken:"
                ' NOT_FOUND: Key not found in map : "missing"',
            ),
        ),
    ],
)
def test_variables_in_order_and_errors_traced(
    tmp_path: Path, expression: str, messages: tuple[str, ...]
) -> None:
    body = (
        "  variables:\n  - name: a\n    expression: int(object.data.n)\n"
        "  - name: broken\n    expression: object.data.missing\n"
        "  - name: b\n    expression: variables.a + 1\n"
        f"  validations:\n  - expression: {expression}\n"
    )
    decision = decide(one(tmp_path, spec(body)), Review.from_manifest(configmap(n="2")))
    assert decision.messages == messages


def test_request_variable(tmp_path: Path) -> None:
    fields = (
        "request.operation",
        "request.kind.group",
        "request.kind.version",
        "request.kind.kind",
        "request.resource.resource",
        "request.namespace",
        "request.name",
        "request.userInfo.username",
        "string(request.dryRun)",
        "request.subResource",
    )
    text = " + '|' + ".join(fields)
    body = f"  validations:\n  - expression: 'false'\n    messageExpression: \"{text}\"\n"
    review = Review.from_admission(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u1",
                "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "operation": "CREATE",
                "namespace": "apps",
                "name": "cm",
                "object": configmap(),
                "userInfo": {"username": "alice"},
                "dryRun": True,
            },
        }
    )
    assert decide(one(tmp_path, spec(body)), review).messages == (
        "CREATE||v1|ConfigMap|configmaps|apps|cm|alice|true|",
    )


@pytest.mark.parametrize(
    ("view", "messages"),
    [
        ([namespace(team="a")], ()),
        (
            [namespace(team="b")],
            ("failed expression: namespaceObject.metadata.labels.team == 'a'",),
        ),
        (
            [],
            (
                "expression 'namespaceObject.metadata.labels.team == 'a'' resulted in error:"
                " INVALID_ARGUMENT: Applying SELECT to non-message type",
            ),
        ),
    ],
)
def test_namespace_object(
    tmp_path: Path, view: list[dict[str, Any]], messages: tuple[str, ...]
) -> None:
    body = "  validations:\n  - expression: namespaceObject.metadata.labels.team == 'a'\n"
    policy = one(tmp_path, spec(body))
    assert policy.referential is True
    assert decide(policy, Review.from_manifest(configmap()), make_view(view)).messages == messages


SELECTOR = "    namespaceSelector:\n      matchLabels: {team: a}\n"
DENY_ALL = "  validations:\n  - expression: 'false'\n    message: m\n"


@pytest.mark.parametrize(
    ("failure_policy", "view", "messages"),
    [
        ("Fail", [namespace(team="a")], ("m",)),
        ("Fail", [namespace(team="b")], ()),
        (
            "Fail",
            [],
            (
                "namespace 'apps' is not in the cluster view, so the namespaceSelector cannot be"
                " evaluated",
            ),
        ),
        ("Ignore", [], ()),
    ],
)
def test_namespace_selector(
    tmp_path: Path, failure_policy: str, view: list[dict[str, Any]], messages: tuple[str, ...]
) -> None:
    text = spec(f"  failurePolicy: {failure_policy}\n" + DENY_ALL, match=MATCH + SELECTOR)
    policy = one(tmp_path, text)
    assert policy.referential is True
    assert decide(policy, Review.from_manifest(configmap()), make_view(view)).messages == messages


@pytest.mark.parametrize(("labels", "messages"), [({"team": "a"}, ("m",)), ({"team": "b"}, ())])
def test_a_namespace_is_selected_on_its_own_labels(
    tmp_path: Path, labels: dict[str, str], messages: tuple[str, ...]
) -> None:
    match = MATCH.replace("[configmaps]", "[namespaces]") + SELECTOR
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    review = Review.from_manifest(namespace("apps", **labels))
    assert decide(policy, review).messages == messages


@pytest.mark.parametrize(
    ("new", "old", "messages"),
    [
        ({"tier": "web"}, None, ("m",)),
        ({}, {"tier": "web"}, ("m",)),
        ({"tier": "db"}, {}, ()),
    ],
)
def test_object_selector_matches_new_or_old(
    tmp_path: Path,
    new: dict[str, str],
    old: dict[str, str] | None,
    messages: tuple[str, ...],
) -> None:
    match = (
        MATCH + "    objectSelector:\n      matchExpressions:\n"
        "      - {key: tier, operator: In, values: [web]}\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    old_obj = configmap(labels=old) if old is not None else None
    review = Review.from_manifest(configmap(labels=new), "UPDATE" if old_obj else "CREATE", old_obj)
    assert decide(policy, review).messages == messages


@pytest.mark.parametrize(
    ("extra", "name", "messages"),
    [
        ("      resourceNames: [cm]\n", "cm", ("m",)),
        ("      resourceNames: [cm]\n", "other", ()),
        ("      scope: '*'\n", "cm", ("m",)),
        ("      scope: Namespaced\n", "cm", ("m",)),
    ],
)
def test_resource_names_and_scope(
    tmp_path: Path, extra: str, name: str, messages: tuple[str, ...]
) -> None:
    policy = one(tmp_path, spec(DENY_ALL, match=MATCH + extra))
    assert decide(policy, Review.from_manifest(configmap(name))).messages == messages


def test_exclude_resource_rules(tmp_path: Path) -> None:
    match = MATCH + (
        "    excludeResourceRules:\n    - apiGroups: ['']\n      apiVersions: ['*']\n"
        "      operations: ['*']\n      resources: [configmaps]\n      resourceNames: [skip]\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    verdicts = [decide(policy, Review.from_manifest(configmap(n))).messages for n in ("a", "skip")]
    assert verdicts == [("m",), ()]


def test_binding_match_resources_narrow_the_policy(tmp_path: Path) -> None:
    match = MATCH.replace("[configmaps]", "[configmaps, secrets]")
    binding = (
        "  matchResources:\n    resourceRules:\n    - apiGroups: ['']\n      apiVersions: [v1]\n"
        "      operations: [CREATE]\n      resources: [secrets]\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, binding, match))
    secret = configmap() | {"kind": "Secret"}
    assert (policy.kinds, policy.operations) == (
        frozenset({GroupKind("", "Secret")}),
        frozenset({"CREATE"}),
    )
    verdicts = [
        decide(policy, Review.from_manifest(secret)).messages,
        decide(policy, Review.from_manifest(configmap())).messages,
        decide(policy, Review.from_manifest(secret, "UPDATE", secret)).messages,
    ]
    assert verdicts == [("m",), (), ()]


@pytest.mark.parametrize(("match_policy", "messages"), [("Equivalent", ("m",)), ("Exact", ())])
def test_match_policy(tmp_path: Path, match_policy: str, messages: tuple[str, ...]) -> None:
    match = (
        "  matchConstraints:\n    matchPolicy: " + match_policy + "\n    resourceRules:\n"
        "    - apiGroups: [gateway.networking.k8s.io]\n      apiVersions: [v1beta1]\n"
        "      operations: ['*']\n      resources: [gateways]\n"
    )
    policy = one(tmp_path, spec(DENY_ALL, match=match))
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "g", "namespace": "apps"},
    }
    assert policy.kinds == frozenset({GATEWAY})
    assert decide(policy, Review.from_manifest(gateway)).messages == messages


def test_delete_sees_the_old_object(tmp_path: Path) -> None:
    match = MATCH.replace("[CREATE, UPDATE]", "[DELETE]")
    body = "  validations:\n  - expression: object == null && oldObject.data.keep != 'yes'\n"
    policy = one(tmp_path, spec(body, match=match))
    verdicts = [
        decide(policy, Review.from_manifest(configmap(keep=k), "DELETE")).allowed
        for k in ("no", "yes")
    ]
    assert verdicts == [True, False]


@pytest.mark.parametrize(
    ("actions", "mode", "messages", "warnings", "audit"),
    [
        ("[Deny]", Mode.ENFORCE, ("[p/b] m",), (), {}),
        ("[Deny, Audit]", Mode.ENFORCE, ("[p/b] m",), (), {}),
        ("[Warn]", Mode.WARN, (), ("[p/b] m",), {}),
        ("[Warn, Audit]", Mode.WARN, (), ("[p/b] m",), {}),
        ("[Audit]", Mode.AUDIT, (), (), {"p/b": "m"}),
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


def test_audit_annotations(tmp_path: Path) -> None:
    body = (
        "  auditAnnotations:\n  - key: owner\n    valueExpression: object.data.owner\n"
        "  - key: absent\n    valueExpression: 'null'\n"
        "  - key: bad\n    valueExpression: size(object.data)\n"
    )
    [bound] = load_bindings([write(tmp_path, spec(body))])
    evaluation = bound.evaluate(Review.from_manifest(configmap(owner="team-a")), make_view())
    assert (evaluation.annotations, evaluation.decision.messages) == (
        {"p/owner": "team-a"},
        (
            "auditAnnotation 'bad': valueExpression 'size(object.data)' resulted in error: must"
            " evaluate to a string or null, got int",
        ),
    )


def test_a_directory_and_a_name_prefix(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    write(tmp_path / "policies", HEAD + MATCH + DENY_ALL, "a-policy.yaml")
    binding = BINDING.removeprefix("---\n").replace("policyName: p", "policyName: team-p")
    write(tmp_path / "policies", binding, "b-binding.yml")
    write(tmp_path / "policies", "ignored", "notes.txt")
    [policy] = load_user_policies([tmp_path / "policies"], "team-")
    assert policy.name == "team-p/team-b"


def test_the_real_policies_leave_other_kinds_alone() -> None:
    review = Review.from_manifest(configmap())
    assert [p.matches(review) for p in policies_for_cases().values()] == [False, False]


def test_audit_annotations_reach_the_admission_response(tmp_path: Path) -> None:
    body = "  auditAnnotations:\n  - key: owner\n    valueExpression: object.data.owner\n"
    [policy] = load_user_policies([write(tmp_path, spec(body))])
    outcome = engine_outcome(policy, Review.from_manifest(configmap(owner="team-a")))
    assert (outcome.allowed, dict(outcome.audit)) == (True, {"p/owner": "team-a"})
