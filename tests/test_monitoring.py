"""manifests/monitoring: the alerts pass `promtool check rules` and fire from sample series
(`promtool test rules`), the dashboard's queries parse, every metric they read is one a running
`edgeguard serve` exports, and the kustomization builds objects valid for their CRDs.

promtool is required: found on PATH, or unpacked from Debian's `prometheus` package by
.ci/install-promtool into this virtualenv; where neither works the test fails, never skips.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientSession
from pytest_aiohttp import AiohttpServer

import policies
from tests.fake_apiserver import FakeApiServer
from tests.support import ROOT, TESTS
from tests.test_deploy import by_key, deployment, kubectl_kustomize, kustomize, one, selects
from tests.test_deploy import validate as validate_schema
from tests.test_serve import cluster_settings, serving
from webhook.core.config import Config
from webhook.engine import Engine

MONITORING = ROOT / "manifests" / "monitoring"
ALERT_TESTS = TESTS / "monitoring" / "alerts-test.yaml"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    here = Path(sys.executable).parent / "promtool"
    if found is None and not here.exists():
        done = subprocess.run(
            ["bash", str(ROOT / ".ci" / "install-promtool"), str(here.parent)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not here.exists():
            pytest.fail(
                "promtool is required and could not be installed (.ci/install-promtool: "
                f"{done.stderr.strip() or done.stdout.strip()}); install Debian's prometheus "
                "package or put promtool on PATH"
            )
    return found or str(here)


def rule_object() -> Obj:
    docs = list(yaml.safe_load_all((MONITORING / "prometheusrule.yaml").read_text()))
    assert len(docs) == 1
    rule: Obj = docs[0]
    return rule


def alerts() -> list[Obj]:
    return [r for group in rule_object()["spec"]["groups"] for r in group["rules"]]


def dashboard() -> Obj:
    found: Obj = json.loads((MONITORING / "dashboard.json").read_text())
    return found


def panels(board: Obj) -> Iterator[Obj]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in panels(dashboard()) for t in p.get("targets", [])]


def promql(text: str) -> str:
    """A dashboard query with Grafana's variables replaced, as Grafana sends it."""
    for variable, value in (
        ("$__rate_interval", "2m"),
        ("$namespace", "edgeguard"),
        ("$pod", ".*"),
    ):
        text = text.replace(variable, value)
    return text


def run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False)


# --- the alerts --------------------------------------------------------------------------------


def test_the_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_object()["spec"]))
    done = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (
        0,
        f"Checking rules.yaml\n  SUCCESS: {len(alerts())} rules found\n\n",
    ), done.stderr


def test_each_alert_fires_from_sample_series(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_object()["spec"]))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    done = run(promtool, "test", "rules", ALERT_TESTS.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Unit", "Testing:", ALERT_TESTS.name, "SUCCESS"]


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    cases = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    checks = [c for case in cases for c in case["alert_rule_test"]]
    fired = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    names = {a["alert"] for a in alerts()}
    assert fired == quiet == names
    assert names == {
        "EdgeguardDown",
        "EdgeguardAdmissionErrors",
        "EdgeguardRequestsRejected",
        "EdgeguardPolicyDenyingMuch",
        "EdgeguardLatencyNearTimeout",
        "EdgeguardViewStale",
        "EdgeguardViewNotSynced",
        "EdgeguardViewRelisting",
        "EdgeguardCertificateExpiringSoon",
    }


def test_every_alert_has_a_severity_a_delay_and_says_what_it_means() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert re.fullmatch(r"\d+[mh]", alert["for"]), alert["alert"]
        assert set(alert["annotations"]) == {"summary", "description"}, alert["alert"]


# --- the dashboard -----------------------------------------------------------------------------


def test_the_dashboards_queries_parse(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    recorded = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": promql(q)}
                    for i, q in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(recorded))
    done = run(promtool, "check", "rules", "queries.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout


def test_the_dashboard_is_one_grafana_imports() -> None:
    board = dashboard()
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)) == 16
    assert board["uid"] == "edgeguard"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and panel["description"], panel["title"]
        for query in (t["expr"] for t in panel["targets"]):
            assert 'namespace="$namespace"' in query, panel["title"]


# --- every metric read is one edgeguard exports --------------------------------------------


def metric_names(text: str) -> set[str]:
    """The edgeguard series names a PromQL text reads (label names and values excluded)."""
    without_labels = re.sub(r"\{[^}]*\}", "", text)
    return set(re.findall(r"\bedgeguard_[a-z0-9_]+\b", without_labels))


def exported(exposition: str) -> set[str]:
    """Every series name an exposition can carry, from its TYPE lines (a counter without
    samples yet still has one): counters end in _total, histograms add _bucket/_count/_sum."""
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.M):
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        elif kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        else:
            names.add(name)
    return names


async def test_every_metric_the_rules_and_dashboard_read_is_exported(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    fake = FakeApiServer()
    fake.install_all()
    chosen = await cluster_settings(tmp_path, aiohttp_server, fake)
    shipped = policies.builtin()
    async with (
        serving(chosen, Engine(shipped, Config.defaults(shipped))),
        ClientSession() as client,
        client.get(f"http://127.0.0.1:{chosen.monitoring_port}/metrics") as resp,
    ):
        exposition = await resp.text()
    fake.close()
    served = exported(exposition)
    read_by_rules = set().union(*(metric_names(a["expr"]) for a in alerts()))
    read_by_dashboard = set().union(*(metric_names(q) for q in dashboard_queries()))
    assert read_by_rules - served == set()
    assert read_by_dashboard - served == set()
    assert read_by_rules == {
        "edgeguard_policy_evaluations_total",
        "edgeguard_rejected_requests_total",
        "edgeguard_admission_duration_seconds_bucket",
        "edgeguard_view_stale",
        "edgeguard_view_synced",
        "edgeguard_view_relists_total",
        "edgeguard_certificate_expiry_timestamp_seconds",
    }
    # Prometheus's own `up` is the one other series they read.
    others = {a["alert"] for a in alerts() if "up{" in a["expr"]}
    assert others == {"EdgeguardDown"}


def test_metric_names_are_read_from_queries_not_from_label_values() -> None:
    text = 'sum(rate(edgeguard_a_total{kind="edgeguard_b"}[5m])) / edgeguard_c'
    assert metric_names(text) == {"edgeguard_a_total", "edgeguard_c"}
    exposition = (
        "# TYPE edgeguard_x_total counter\n# TYPE edgeguard_h histogram\n# TYPE edgeguard_g gauge\n"
    )
    assert exported(exposition) == {
        "edgeguard_x_total",
        "edgeguard_h_bucket",
        "edgeguard_h_count",
        "edgeguard_h_sum",
        "edgeguard_g",
    }


# --- the kustomization -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built() -> list[Obj]:
    ours = kustomize(MONITORING)
    theirs = kubectl_kustomize(MONITORING)
    if theirs is not None:
        assert by_key(theirs) == by_key(ours)
    return theirs or ours


def test_the_monitoring_objects_validate_against_their_schemas(built: list[Obj]) -> None:
    assert sorted((o["kind"], o["metadata"]["name"]) for o in built) == [
        ("ConfigMap", "edgeguard-dashboard"),
        ("NetworkPolicy", "edgeguard-metrics"),
        ("PrometheusRule", "edgeguard"),
        ("ServiceMonitor", "edgeguard"),
    ]
    for obj in built:
        assert obj["metadata"]["namespace"] == "edgeguard"
        validate_schema(obj)


def test_the_service_monitor_scrapes_the_services_metrics_port(built: list[Obj]) -> None:
    base = kustomize(ROOT / "manifests" / "base")
    service = one(base, "Service")
    monitor = one(built, "ServiceMonitor")["spec"]
    assert selects(monitor["selector"], service["metadata"]["labels"])
    assert monitor["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    (endpoint,) = monitor["endpoints"]
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    container_ports = {
        p["name"]: p for p in deployment(base)["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert container_ports[port["targetPort"]]["containerPort"] == 8080
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "http")
    # The alerts select job="edgeguard": the job a ServiceMonitor gives is the Service's name.
    assert service["metadata"]["name"] == "edgeguard"
    policy = one(built, "NetworkPolicy")["spec"]
    assert policy["ingress"][0]["ports"] == [{"port": "monitoring", "protocol": "TCP"}]


def test_the_dashboard_config_map_carries_the_dashboard_for_grafanas_sidecar(
    built: list[Obj],
) -> None:
    config_map = one(built, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["edgeguard.json"]) == dashboard()
