"""The deployment manifests: they parse, build, validate against their schemas, follow the
policies (webhook rules) and KINDS (RBAC), and keep to webhook good practice.

Each kustomization is built by a small Python stand-in for kustomize (resources, patches,
secretGenerator: what manifests/ uses, nothing more) and, when kubectl is on PATH, also by
`kubectl kustomize`, whose output must then be the same.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import policies
from tests.support import ROOT, SHARED_DATA
from webhook.config import VIEW_KEYS, load
from webhook.core.config import Config, ViewConfig
from webhook.core.kinds import KINDS
from webhook.deploy import (
    OBSERVED,
    admission_rules,
    cluster_role_rules,
    role_rules,
    to_yaml,
    unreceived,
)
from webhook.deploy import main as deploy_main
from webhook.vap.load import load_user_policies

MANIFESTS = ROOT / "manifests"
README = (ROOT / "README.md").read_text()
CRDS = SHARED_DATA
BUILDS = ("base", "overlays/cert-manager", "overlays/self-signed")
NAMESPACE = "edgeguard"
SECRET = "edgeguard-tls"
SERVICE_DNS = f"edgeguard.{NAMESPACE}.svc"
# The oldest Kubernetes we support and the newest schemas the package ships.
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
# Never intercept what the API server or the control plane needs to stay healthy.
# https://kubernetes.io/docs/concepts/cluster-administration/admission-webhooks-good-practices/
CRITICAL_RESOURCES = frozenset(
    {
        "tokenreviews",
        "subjectaccessreviews",
        "selfsubjectaccessreviews",
        "localsubjectaccessreviews",
        "leases",
        "events",
    }
)
CRITICAL_GROUPS = frozenset(
    {"authentication.k8s.io", "authorization.k8s.io", "coordination.k8s.io", "events.k8s.io"}
)
KUSTOMIZE_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "patches",
        "secretGenerator",
        "configMapGenerator",
        "generatorOptions",
    }
)

Obj = dict[str, Any]


# --- building ---------------------------------------------------------------------------------


def documents(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def kustomize(directory: Path) -> list[Obj]:
    """Build a kustomization the way kustomize does, for the features manifests/ uses."""
    spec = documents(directory / "kustomization.yaml")[0]
    unknown = set(spec) - KUSTOMIZE_KEYS
    assert not unknown, f"{directory}: the Python kustomize stand-in does not handle {unknown}"
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        target = directory / entry
        objects += kustomize(target) if target.is_dir() else documents(target)
    options = spec.get("generatorOptions", {})
    objects += [secret(directory, args, options) for args in spec.get("secretGenerator", [])]
    objects += [config_map(directory, args, options) for args in spec.get("configMapGenerator", [])]
    for entry in spec.get("patches", []):
        assert set(entry) == {"path"}, f"{directory}: only `patches: - path:` is handled"
        for patch in documents(directory / entry["path"]):
            targets = [i for i, obj in enumerate(objects) if key(obj) == key(patch)]
            assert len(targets) == 1, f"{directory}: patch {key(patch)} matches {len(targets)}"
            objects[targets[0]] = merge(objects[targets[0]], patch)
    return objects


def generated_files(
    directory: Path, args: Mapping[str, Any], read: Callable[[Path], str]
) -> dict[str, str]:
    """A generator's `files` (`name=path` or `path`, named by the file) read into its data."""
    data = {}
    for item in args["files"]:
        name, _, path = item.rpartition("=")
        data[name or Path(path).name] = read(directory / path)
    return data


def secret(directory: Path, args: Mapping[str, Any], options: Mapping[str, Any]) -> Obj:
    assert options.get("disableNameSuffixHash") is True, "name hashes are not reproduced"
    data = generated_files(
        directory, args, lambda p: base64.b64encode(p.read_bytes()).decode("ascii")
    )
    metadata = {"name": args["name"]} | (
        {"namespace": args["namespace"]} if "namespace" in args else {}
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": args.get("type", "Opaque"),
        "data": data,
    }


def config_map(directory: Path, args: Mapping[str, Any], options: Mapping[str, Any]) -> Obj:
    assert options.get("disableNameSuffixHash") is True, "name hashes are not reproduced"
    assert set(args) <= {"name", "namespace", "files", "options"}, args
    data = generated_files(directory, args, lambda p: p.read_text(encoding="utf-8"))
    metadata: dict[str, Any] = {"name": args["name"]}
    if "namespace" in args:
        metadata["namespace"] = args["namespace"]
    labels = args.get("options", {}).get("labels")
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def merge(base: Any, patch: Any) -> Any:
    """A strategic merge patch, for lists whose merge key is `name` (webhooks, containers)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(base[k], v) if k in base else v
        return out
    if isinstance(base, list) and isinstance(patch, list) and named(base) and named(patch):
        merged = {item["name"]: item for item in base}
        for item in patch:
            merged[item["name"]] = merge(merged.get(item["name"], {}), item)
        return list(merged.values())
    return patch


def named(items: Sequence[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def by_key(objects: Sequence[Obj]) -> dict[tuple[str, str, str, str], Obj]:
    """Objects by identity, Secret data decoded: kustomize wraps base64 at 70 columns."""
    keyed = {key(obj): decoded(obj) for obj in objects}
    assert len(keyed) == len(objects), "two objects share apiVersion, kind, namespace and name"
    return keyed


def decoded(obj: Obj) -> Obj:
    if obj["kind"] != "Secret":
        return obj
    return obj | {"data": {k: base64.b64decode(v) for k, v in obj.get("data", {}).items()}}


def kubectl_kustomize(directory: Path) -> list[Obj] | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]


def generate(overlay: Path) -> None:
    """Run the self-signed overlay's one documented command, with this interpreter's edgeguard."""
    env = dict(os.environ, EDGEGUARD=f"{sys.executable} -m webhook.cli")
    subprocess.run(
        ["bash", str(overlay / "generate.sh"), "--days", "30"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of manifests/ with the self-signed overlay filled in by generate.sh."""
    copy = tmp_path_factory.mktemp("manifests") / "manifests"
    shutil.copytree(MANIFESTS, copy, ignore=shutil.ignore_patterns("certs", "cabundle.yaml"))
    generate(copy / "overlays" / "self-signed")
    return copy


@pytest.fixture(scope="module")
def built(tree: Path) -> dict[str, list[Obj]]:
    """Every build, by kubectl when present (checked equal to the stand-in), else the stand-in."""
    return {name: kubectl_kustomize(tree / name) or kustomize(tree / name) for name in BUILDS}


def one(objects: Sequence[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def deployment(objects: Sequence[Obj]) -> Obj:
    return one(objects, "Deployment")


def container(objects: Sequence[Obj]) -> Obj:
    containers: list[Obj] = deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --- parsing and building ---------------------------------------------------------------------


# Every YAML file under manifests/ is a manifest, but the policy configuration.
MANIFEST_FILES = sorted(p for p in MANIFESTS.rglob("*.yaml") if p.name != "edgeguard.yaml")


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_every_manifest_parses(path: Path) -> None:
    docs = documents(path)
    assert docs
    assert all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs)


@pytest.mark.parametrize("name", BUILDS)
def test_kustomize_builds_and_kubectl_agrees(tree: Path, name: str) -> None:
    ours = by_key(kustomize(tree / name))
    assert len(ours) >= 10
    theirs = kubectl_kustomize(tree / name)
    if theirs is not None:
        assert by_key(theirs) == ours


def test_the_self_signed_overlay_is_not_committed_filled() -> None:
    ignored = (MANIFESTS / "overlays" / "self-signed" / ".gitignore").read_text().split()
    assert {"/certs/", "/cabundle.yaml"} <= set(ignored)


# --- schemas ----------------------------------------------------------------------------------


@cache
def crd_schemas() -> dict[tuple[str, str], Obj]:
    """openAPIV3Schema by (apiVersion, kind), from every CRD in ../shared/data."""
    schemas: dict[tuple[str, str], Obj] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for doc in documents(path):
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                api = f"{spec['group']}/{version['name']}"
                schemas[(api, spec["names"]["kind"])] = strict(version["schema"]["openAPIV3Schema"])
    schemas[("cert-manager.io/v1", "Issuer")] = strict(ISSUER_SCHEMA)
    return schemas


# cert-manager's Issuer CRD is not in ../shared/data: this is its v1 schema for the two issuer
# types the overlay uses (selfSigned, ca), written from cert-manager's API reference.
ISSUER_SCHEMA: Obj = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "selfSigned": {
                    "type": "object",
                    "properties": {"crlDistributionPoints": {"type": "array"}},
                },
                "ca": {
                    "type": "object",
                    "required": ["secretName"],
                    "properties": {
                        "secretName": {"type": "string"},
                        "crlDistributionPoints": {"type": "array"},
                        "issuingCertificateURLs": {"type": "array"},
                        "ocspServers": {"type": "array"},
                    },
                },
            },
        },
    },
}


def strict(schema: Any) -> Any:
    """Refuse unknown fields, as `kubectl apply` does (field validation Strict, the default)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    closed = "properties" in out and "additionalProperties" not in out
    if closed and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@pytest.mark.parametrize("name", BUILDS)
def test_every_built_object_validates_against_its_schema(
    built: dict[str, list[Obj]], name: str
) -> None:
    for obj in built[name]:
        validate(obj)


def validate(obj: Obj) -> None:
    custom = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    if custom is not None:
        jsonschema.Draft7Validator(custom).validate(obj)
        return
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    ("kind", "path"),
    [("Deployment", ("spec", "replica")), ("Certificate", ("spec", "dnsName"))],
)
def test_the_schemas_refuse_an_unknown_field(
    built: dict[str, list[Obj]], kind: str, path: tuple[str, str]
) -> None:
    obj = one(built["overlays/cert-manager"], kind, "edgeguard")
    broken = merge(obj, {path[0]: {path[1]: 1}})
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


# --- webhook rules and good practice -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mutating"), [(WEBHOOK_KINDS[0], False), (WEBHOOK_KINDS[1], True)]
)
def test_webhook_rules_are_the_ones_derived_from_the_policies(
    built: dict[str, list[Obj]], kind: str, mutating: bool
) -> None:
    (hook,) = one(built["base"], kind)["webhooks"]
    expected = admission_rules(policies.builtin(), mutating=mutating)
    assert hook["rules"] == expected, (
        f"{kind} rules drifted from the policies; put these in manifests/base:\n"
        + to_yaml(expected)
    )


@pytest.mark.parametrize(
    ("kind", "mutating"), [(WEBHOOK_KINDS[0], False), (WEBHOOK_KINDS[1], True)]
)
def test_webhook_rules_cover_each_declared_kind_and_nothing_else(
    built: dict[str, list[Obj]], kind: str, mutating: bool
) -> None:
    (hook,) = one(built["base"], kind)["webhooks"]
    declared = {
        gk for policy in policies.builtin() if policy.mutating == mutating for gk in policy.kinds
    }
    declared |= set() if mutating else OBSERVED  # read-your-writes: seen, not judged
    wanted = {(gk.group, KINDS[gk].resource) for gk in declared}
    matched = {
        (g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert matched == wanted
    served = {(gk.group, KINDS[gk].resource): set(KINDS[gk].versions) for gk in declared}
    for rule in hook["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert set(rule["apiVersions"]) <= served[(group, resource)]


def webhooks(objects: Sequence[Obj]) -> Iterator[tuple[str, Obj]]:
    for kind in WEBHOOK_KINDS:
        for hook in one(objects, kind)["webhooks"]:
            yield kind, hook


@pytest.mark.parametrize("name", BUILDS)
def test_webhooks_follow_good_practice(built: dict[str, list[Obj]], name: str) -> None:
    objects = built[name]
    service = one(objects, "Service")
    for kind, hook in webhooks(objects):
        mutating = kind == "MutatingWebhookConfiguration"
        assert hook["admissionReviewVersions"] == ["v1"]
        # Validation writes a claim Lease for an allowed real admission, never on a dry run.
        assert hook["sideEffects"] == ("None" if mutating else "NoneOnDryRun")
        assert hook["timeoutSeconds"] <= 5
        assert hook["matchPolicy"] == "Equivalent"
        assert hook["failurePolicy"] == ("Ignore" if mutating else "Fail")
        assert hook.get("reinvocationPolicy") == ("IfNeeded" if mutating else None)
        assert hook["clientConfig"]["service"] == {
            "name": service["metadata"]["name"],
            "namespace": service["metadata"]["namespace"],
            "path": "/mutate" if mutating else "/validate",
            "port": service["spec"]["ports"][0]["port"],
        }
        for rule in hook["rules"]:
            fields = [*rule["apiGroups"], *rule["apiVersions"], *rule["operations"]]
            assert "*" not in fields + rule["resources"]
            assert not CRITICAL_RESOURCES & {r.split("/")[0] for r in rule["resources"]}
            assert not CRITICAL_GROUPS & set(rule["apiGroups"])
            allowed = {"CREATE", "UPDATE"} if mutating else {"CREATE", "UPDATE", "DELETE"}
            assert set(rule["operations"]) <= allowed


@pytest.mark.parametrize(
    ("labels", "reviewed"),
    [
        ({"kubernetes.io/metadata.name": "kube-system"}, False),
        ({"kubernetes.io/metadata.name": NAMESPACE}, False),
        # A label a namespace admin can set grants nothing (exemptNamespaces in the ConfigMap
        # does, which only edgeguard's operators can change).
        ({"kubernetes.io/metadata.name": "shop", "edgeguard.io/ignore": "true"}, True),
        ({"kubernetes.io/metadata.name": "shop", "edgeguard.io/ignore": "false"}, True),
        ({"kubernetes.io/metadata.name": "shop"}, True),
        ({"kubernetes.io/metadata.name": "default"}, True),
    ],
)
def test_namespace_selector(
    built: dict[str, list[Obj]], labels: dict[str, str], reviewed: bool
) -> None:
    for _, hook in webhooks(built["base"]):
        assert selects(hook["namespaceSelector"], labels) is reviewed


def test_the_namespace_selector_reads_only_the_name_the_api_server_sets(
    built: dict[str, list[Obj]],
) -> None:
    for _, hook in webhooks(built["base"]):
        assert hook["namespaceSelector"] == {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": ["kube-system", NAMESPACE],
                }
            ]
        }
        assert "objectSelector" not in hook


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector's meaning, as the API server evaluates it."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, values = labels.get(expr["key"]), expr.get("values", [])
        ok = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }[expr["operator"]]
        if not ok:
            return False
    return True


# --- RBAC ---------------------------------------------------------------------------------------


def test_cluster_role_is_the_one_derived_from_kinds(built: dict[str, list[Obj]]) -> None:
    rules = one(built["base"], "ClusterRole")["rules"]
    assert rules == cluster_role_rules(), to_yaml(cluster_role_rules())


def test_the_only_writes_are_claim_leases_in_edgeguards_namespace(
    built: dict[str, list[Obj]],
) -> None:
    objects = built["base"]
    role = one(objects, "Role")
    assert (role["metadata"]["namespace"], role["rules"]) == (NAMESPACE, role_rules())
    binding = one(objects, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "edgeguard-claims",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "edgeguard", "namespace": NAMESPACE}
    ]
    env = deployment(objects)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in env


def test_rbac_reads_every_watched_kind(built: dict[str, list[Obj]]) -> None:
    objects = built["base"]
    rules = one(objects, "ClusterRole")["rules"]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {(info.group_kind.group, info.resource) for info in KINDS.values()}
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in rules)
    assert all(set(rule) == {"apiGroups", "resources", "verbs"} for rule in rules)
    binding = one(objects, "ClusterRoleBinding")
    account = one(objects, "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one(objects, "ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "edgeguard", "namespace": NAMESPACE}
    ]
    assert (account["metadata"]["name"], account["metadata"]["namespace"]) == (
        "edgeguard",
        NAMESPACE,
    )
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


# --- the Deployment and its neighbours --------------------------------------------------------


def test_deployment_security_settings(built: dict[str, list[Obj]]) -> None:
    pod = deployment(built["base"])["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(built["base"])["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}


def test_deployment_availability(built: dict[str, list[Obj]]) -> None:
    objects = built["base"]
    spec = deployment(objects)["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["priorityClassName"] == "system-cluster-critical"
    hosts, zones = pod["topologySpreadConstraints"]
    assert (hosts["topologyKey"], hosts["whenUnsatisfiable"], hosts["maxSkew"]) == (
        "kubernetes.io/hostname",
        "DoNotSchedule",
        1,
    )
    # A tainted (failed, cordoned) node is no domain, so a replacement replica still fits.
    assert hosts["nodeTaintsPolicy"] == "Honor"
    assert (zones["topologyKey"], zones["whenUnsatisfiable"]) == (
        "topology.kubernetes.io/zone",
        "ScheduleAnyway",
    )
    for spread in (hosts, zones):
        assert spread["matchLabelKeys"] == ["pod-template-hash"]
        assert selects(spread["labelSelector"], pod_labels)
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1
    assert selects(pdb["selector"], pod_labels)
    service = one(objects, "Service")["spec"]
    assert service["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
        {"name": "metrics", "port": 8080, "targetPort": "monitoring", "protocol": "TCP"},
    ]
    assert all(pod_labels.get(k) == v for k, v in service["selector"].items())


def test_the_network_policy_admits_only_the_webhook_port(built: dict[str, list[Obj]]) -> None:
    objects = built["base"]
    policy = one(objects, "NetworkPolicy")["spec"]
    pod_labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["podSelector"], pod_labels)
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [{"ports": [{"port": "https", "protocol": "TCP"}]}]


def test_shutdown_fits_the_termination_grace_period(built: dict[str, list[Obj]]) -> None:
    from webhook.serve import ServeSettings

    pod = deployment(built["base"])["spec"]["template"]["spec"]
    assert container(built["base"])["lifecycle"] == {
        "preStop": {"exec": {"command": ["sleep", "5"]}}
    }
    assert pod["terminationGracePeriodSeconds"] == 35 > 5 + ServeSettings().grace_seconds


def test_container_probes_ports_resources_and_args(built: dict[str, list[Obj]]) -> None:
    c = container(built["base"])
    assert c["ports"] == [
        {"name": "https", "containerPort": 8443, "protocol": "TCP"},
        {"name": "monitoring", "containerPort": 8080, "protocol": "TCP"},
    ]
    # Plain HTTP on the monitoring port: the kubelet presents no client certificate, so probes
    # over the webhook port fail under --client-ca.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "monitoring", "scheme": "HTTP"}
    # Memory from bench/README.md's figures, plus two CEL workers of at most 512 MiB
    # (--cel-memory); no CPU limit (throttling past the 5 s timeout).
    assert c["resources"] == {
        "requests": {"cpu": "100m", "memory": "352Mi"},
        "limits": {"memory": "1792Mi"},
    }
    assert c["args"] == [
        "--tls-cert", "/certs/tls.crt", "--tls-key", "/certs/tls.key",
        "--config", "/config/edgeguard.yaml", "--monitoring-port", "8080",
    ]  # fmt: skip


def test_the_args_parse_to_the_ports_the_manifests_name(built: dict[str, list[Obj]]) -> None:
    from webhook.cli import parser
    from webhook.options import resolve

    c = container(built["base"])
    args = resolve(parser().parse_args(["serve", *c["args"]]), {})
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert (args.port, args.monitoring_port) == (ports["https"], ports["monitoring"])


def test_certificate_and_configuration_are_mounted(built: dict[str, list[Obj]]) -> None:
    objects = built["base"]
    pod = deployment(objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container(objects)["volumeMounts"]}
    assert mounts["/certs"]["secret"]["secretName"] == SECRET
    config = one(objects, "ConfigMap")
    assert mounts["/config"]["configMap"]["name"] == config["metadata"]["name"]
    assert "edgeguard.yaml" in config["data"]


def test_the_configmap_holds_the_file_ci_reviews_with(built: dict[str, list[Obj]]) -> None:
    shipped_file = MANIFESTS / "base" / "edgeguard.yaml"
    for name in BUILDS:
        data = one(built[name], "ConfigMap", "edgeguard")["data"]
        assert data == {"edgeguard.yaml": shipped_file.read_text()}, name


def test_the_shipped_configuration_is_the_policies_defaults() -> None:
    """One verdict in CI and in the cluster: `edgeguard review` without --config, with the
    shipped file, and the cluster agree on every mode, exemption, setting and view value."""
    shipped = policies.builtin()
    path = MANIFESTS / "base" / "edgeguard.yaml"
    config = load(path, shipped)
    listed = yaml.safe_load(path.read_text())["policies"]
    assert list(listed) == [p.name for p in shipped], "list every shipped policy, in order"
    for policy in shipped:
        assert set(listed[policy.name].get("settings", {})) == set(policy.defaults), policy.name
    assert config == Config.defaults(shipped)
    assert config.view == ViewConfig()
    assert set(yaml.safe_load(path.read_text())["view"]) == set(VIEW_KEYS)


def test_the_readme_states_each_policys_default_mode() -> None:
    row = r"^\| `([a-z][a-z-]+)`(?: \(mutating\))? \|.*\| (\w+) \|[^|]*\|$"
    rows = re.findall(row, README, re.M)
    assert dict(rows) == {p.name: p.default_mode.value for p in policies.builtin()}


def test_the_readme_reviews_in_ci_with_the_clusters_configuration() -> None:
    commands = re.findall(r"^\s*(?:run: |- |\$ )?(edgeguard review .*)$", README, re.M)
    ci = [c for c in commands if "-o sarif" in c]
    assert ci == [
        "edgeguard review --config manifests/base/edgeguard.yaml -o sarif manifests/"
        " > edgeguard.sarif"
    ]


def test_everything_namespaced_is_in_edgeguard(built: dict[str, list[Obj]]) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding", *WEBHOOK_KINDS}
    for name in BUILDS:
        for obj in built[name]:
            expected = None if obj["kind"] in cluster_scoped else NAMESPACE
            assert obj["metadata"].get("namespace") == expected, key(obj)


# --- overlays ---------------------------------------------------------------------------------


def test_cert_manager_overlay_issues_and_injects_the_serving_certificate(
    built: dict[str, list[Obj]],
) -> None:
    objects = built["overlays/cert-manager"]
    serving = [
        o for o in objects if o["kind"] == "Certificate" and o["spec"]["secretName"] == SECRET
    ]
    (certificate,) = serving
    assert SERVICE_DNS in certificate["spec"]["dnsNames"]
    issuers = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Issuer"}
    issuer = issuers[certificate["spec"]["issuerRef"]["name"]]
    ca = one(objects, "Certificate", issuer["spec"]["ca"]["secretName"])
    assert ca["spec"]["isCA"] is True
    assert issuers[ca["spec"]["issuerRef"]["name"]]["spec"] == {"selfSigned": {}}
    source = f"{certificate['metadata']['namespace']}/{certificate['metadata']['name']}"
    for kind in WEBHOOK_KINDS:
        annotations = one(objects, kind)["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == source


def test_self_signed_overlay_serves_a_certificate_its_ca_bundle_trusts(
    built: dict[str, list[Obj]],
) -> None:
    objects = built["overlays/self-signed"]
    data = one(objects, "Secret", SECRET)["data"]
    assert one(objects, "Secret", SECRET)["type"] == "kubernetes.io/tls"
    serving = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    assert b"PRIVATE KEY" in base64.b64decode(data["tls.key"])
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert SERVICE_DNS in names.get_values_for_type(x509.DNSName)
    for _, hook in webhooks(objects):
        (ca,) = bundle(hook)
        serving.verify_directly_issued_by(ca)


def bundle(hook: Mapping[str, Any]) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(base64.b64decode(hook["clientConfig"]["caBundle"]))


def test_generate_again_keeps_the_previous_ca_in_the_bundle(tmp_path: Path) -> None:
    shutil.copytree(MANIFESTS, tmp_path / "manifests", ignore=shutil.ignore_patterns("certs"))
    overlay = tmp_path / "manifests" / "overlays" / "self-signed"
    generate(overlay)
    first = (overlay / "certs" / "ca.crt").read_bytes()
    generate(overlay)
    second = (overlay / "certs" / "ca.crt").read_bytes()
    for _, hook in webhooks(kustomize(overlay)):
        pems = [c.public_bytes(Encoding.PEM) for c in bundle(hook)]
        assert pems == [second, first]


def _checkout(tmp_path: Path, venv: bool) -> Path:
    """A copy of the self-signed overlay where a checkout keeps it, with or without .venv."""
    overlay = tmp_path / "repo" / "manifests" / "overlays" / "self-signed"
    overlay.mkdir(parents=True)
    shutil.copy(MANIFESTS / "overlays" / "self-signed" / "generate.sh", overlay)
    if venv:
        bin_dir = tmp_path / "repo" / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "edgeguard").symlink_to(Path(sys.executable).parent / "edgeguard")
    return overlay


def _generate_without_edgeguard(overlay: Path) -> subprocess.CompletedProcess[str]:
    """Run the overlay's generate.sh with no edgeguard on PATH and no EDGEGUARD."""
    env = {k: v for k, v in os.environ.items() if k != "EDGEGUARD"}
    return subprocess.run(
        ["bash", str(overlay / "generate.sh")],
        env=env | {"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_generate_uses_the_checkouts_venv_when_edgeguard_is_not_on_path(tmp_path: Path) -> None:
    overlay = _checkout(tmp_path, venv=True)
    done = _generate_without_edgeguard(overlay)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == (
        f"wrote {overlay}/certs/ca.crt, {overlay}/certs/tls.crt, {overlay}/certs/tls.key"
    )
    assert done.stdout.splitlines()[-1] == (
        f"wrote {overlay}/cabundle.yaml; apply with: kubectl apply --server-side -k {overlay}"
    )


def test_generate_without_any_edgeguard_says_how_to_get_one(tmp_path: Path) -> None:
    overlay = _checkout(tmp_path, venv=False)
    done = _generate_without_edgeguard(overlay)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "generate.sh: edgeguard not found: run 'python3 dev.py test' in the repository once (it"
        " makes .venv/bin/edgeguard), put edgeguard on PATH, or set EDGEGUARD\n",
    )
    assert not (overlay / "certs").exists()


# --- the image ---------------------------------------------------------------------------------


def test_dockerfile_runs_edgeguard_serve_as_non_root_from_slim_python() -> None:
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    assert bases and all(b == "python:3.11-slim" for b in bases)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users == ["65532:65532"]
    assert text.rstrip().splitlines()[-1] == 'ENTRYPOINT ["edgeguard", "serve"]'
    assert "[test]" not in text


def test_dockerignore_keeps_only_the_package_sources() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:] for line in lines if line.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "webhook", "policies"}


# --- rules for user policies ------------------------------------------------------------------

CONFIGMAP_POLICY = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: cm}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [''], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations:
  - expression: 'true'
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: b}
spec: {policyName: cm, validationActions: [Deny]}
"""
BASE_WEBHOOK = MANIFESTS / "base" / "validatingwebhookconfiguration.yaml"


def test_the_shipped_rules_match_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_main(["--check", str(BASE_WEBHOOK)]) == 0
    assert capsys.readouterr().out == f"{BASE_WEBHOOK}: rules match the policies\n"


@pytest.mark.parametrize(
    "text",
    ["- a list\n", "just text\n", "kind: ValidatingWebhookConfiguration\nwebhooks: {a: 1}\n"],
)
def test_check_of_a_document_that_is_no_webhook_configuration_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    manifest = tmp_path / "vwc.yaml"
    manifest.write_text(text)
    assert deploy_main(["--check", str(manifest)]) == 1
    assert capsys.readouterr().err == (
        f"{manifest}: not a ValidatingWebhookConfiguration with webhooks\n"
    )


def test_a_user_policy_of_another_kind_needs_its_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "cm.yaml"
    policy.write_text(CONFIGMAP_POLICY)
    assert deploy_main(["--policy", str(policy), "--check", str(BASE_WEBHOOK)]) == 1
    expected = [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["configmaps"],
            "scope": "Namespaced",
        },
        *admission_rules(policies.builtin(), mutating=False),
    ]
    assert capsys.readouterr().err == (
        f"{BASE_WEBHOOK}: its rules are not the ones the policies need; they should be:\n"
        + to_yaml(expected)
        + "\n"
    )
    [user] = load_user_policies([policy])
    assert unreceived([*policies.builtin(), user]) == [
        "user policy cm/b selects configmaps (CREATE), which the webhook rules of manifests/base"
        " do not send to edgeguard: unless the ValidatingWebhookConfiguration adds them"
        " (python -m webhook.deploy --config FILE prints the rules), this policy never sees"
        " those requests"
    ]
    assert unreceived(policies.builtin()) == []
