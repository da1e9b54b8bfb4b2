"""`edgeguard review`: exact JSON, SARIF, JUnit, text; exit codes, stdin, UPDATE, hostile YAML."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from policies.gateway.indexes import INDEXES
from tests.support import ADD_TEAM, NO_FORBIDDEN, SHARED_DATA, WARNS, widget
from webhook.cli import main
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.offline import run as reviewing
from webhook.offline.reports.text import Style, text
from webhook.yamlio import manifests

SAMPLES = SHARED_DATA / "openvox-operator" / "samples"
ONLY_REQUIRED_FIELDS = """\
policies:
  tls-passthrough: {mode: "Off"}
  unique-hostnames: {mode: "Off"}
  route-references: {mode: "Off"}
  edge-readiness: {mode: "Off"}
  sni-san-injection: {mode: "Off"}
"""
ROUTE = "  route:\n    enabled: true\n    gatewayRef:\n      name: edge\n"
MESSAGE = (
    "spec.route.hostname: hostname is required when route is enabled; set it to the SNI name"
    " agents connect to, or set spec.route.enabled to false"
)
Result = tuple[int, str, str]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the sample Pool, its route enabled but without hostname."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(ONLY_REQUIRED_FIELDS)
    (tmp_path / "pool.yaml").write_text((SAMPLES / "pool.yaml").read_text() + ROUTE)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = main(["review", "--config", "config.yaml", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_for_a_pool_with_route_but_no_hostname(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "-o", "json", "pool.yaml")
    assert code == 1
    assert json.loads(out) == {
        "schema": "edgeguard.review/v1",
        "summary": {
            "objects": 1,
            "allowed": 0,
            "denied": 1,
            "warned": 0,
            "patched": 0,
            "skipped": 0,
        },
        "objects": [
            {
                "file": "pool.yaml",
                "line": 2,
                "apiVersion": "openvox.voxpupuli.org/v1alpha1",
                "kind": "Pool",
                "namespace": "openvox-system",
                "name": "puppet",
                "operation": "CREATE",
                "allowed": False,
                "results": [
                    {
                        "policy": "route-required-fields",
                        "mode": "Enforce",
                        "result": "deny",
                        "messages": [MESSAGE],
                        "patch": [],
                        "notes": [],
                    }
                ],
                "warnings": [],
                "patch": [],
                "mutatedObject": None,
            }
        ],
        "skipped": [],
    }


def test_text_names_file_line_object_and_verdict(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "pool.yaml") == (
        1,
        "pool.yaml:2: Pool openvox-system/puppet (CREATE)\n"
        f"  DENY  route-required-fields: {MESSAGE}\n"
        "1 object: 1 denied, 0 with warnings, 0 patched\n",
        "",
    )


ONLY_EDGE_READINESS = """\
policies:
  route-required-fields: {mode: "Off"}
  tls-passthrough: {mode: "Off"}
  unique-hostnames: {mode: "Off"}
  route-references: {mode: "Off"}
  sni-san-injection: {mode: "Off"}
"""
BASIC_HTTP = SHARED_DATA / "gateway-api" / "examples" / "standard" / "basic-http.yaml"
NOT_JUDGED = (
    "        note: spec.parentRefs[0] (Gateway /my-gateway): the Gateway reports no Programmed "
    "condition; not judged\n"
    "        note: spec.parentRefs[0] (Gateway /my-gateway): GatewayClass example reports no "
    "status, so whether it is accepted is not judged\n"
    "        note: spec.parentRefs[0] (Gateway /my-gateway): GatewayClass example publishes no "
    "status.supportedFeatures, so whether it supports HTTPRoute is Unknown (publishing them is "
    "optional); not a finding\n"
)


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_text_says_what_a_policy_could_not_judge(
    work: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    (work / "config.yaml").write_text(ONLY_EDGE_READINESS)
    code, out, err = cli(capsys, flag, str(BASIC_HTTP))
    assert (code, err) == (0, "")
    assert out == (
        f"{BASIC_HTTP}:3: GatewayClass example (CREATE)\n"
        "  no policy applies\n"
        f"{BASIC_HTTP}:14: Gateway my-gateway (CREATE)\n"
        "  no policy applies\n"
        f"{BASIC_HTTP}:25: HTTPRoute http-app-1 (CREATE)\n"
        "  PASS  edge-readiness\n"
        + NOT_JUDGED
        + "3 objects: 0 denied, 0 with warnings, 0 patched\n"
    )


def test_notes_are_not_warnings_and_only_verbose_text_shows_them(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "config.yaml").write_text(ONLY_EDGE_READINESS)
    code, out, _ = cli(capsys, "--warnings-as-errors", str(BASIC_HTTP))
    assert code == 0
    assert "note:" not in out
    code, out, _ = cli(capsys, "-o", "json", str(BASIC_HTTP))
    (route,) = [o for o in json.loads(out)["objects"] if o["kind"] == "HTTPRoute"]
    assert route["warnings"] == []
    assert route["results"] == [
        {
            "policy": "edge-readiness",
            "mode": "Warn",
            "result": "allow",
            "messages": [],
            "patch": [],
            "notes": [line.removeprefix("        note: ") for line in NOT_JUDGED.splitlines()],
        }
    ]


def _sarif_results(out: str) -> list[dict[str, Any]]:
    log = json.loads(out)
    assert (log["$schema"], log["version"]) == (
        "https://json.schemastore.org/sarif-2.1.0.json",
        "2.1.0",
    )
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "edgeguard"
    assert driver["rules"][0] == {
        "id": "route-required-fields",
        "name": "route-required-fields",
        "shortDescription": {
            "text": "An enabled Pool route or OpenBao gateway needs a valid hostname"
            " and gatewayRef."
        },
        "defaultConfiguration": {"level": "error"},
    }
    assert [r["defaultConfiguration"]["level"] for r in driver["rules"][1:]] == ["none"] * 5
    results: list[dict[str, Any]] = log["runs"][0]["results"]
    return results


def test_sarif_has_one_result_per_finding_with_file_and_line(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "-o", "sarif", "pool.yaml", str(SAMPLES / "pool.yaml"))
    assert code == 1
    assert _sarif_results(out) == [
        {
            "ruleId": "route-required-fields",
            "ruleIndex": 0,
            "level": "error",
            "message": {"text": f"Pool openvox-system/puppet: {MESSAGE}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": "pool.yaml"},
                        "region": {"startLine": 2},
                    }
                }
            ],
        }
    ]


def test_sarif_level_follows_the_mode(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "config.yaml").write_text(
        ONLY_REQUIRED_FIELDS + "  route-required-fields: {mode: Audit}\n"
    )
    code, out, _ = cli(capsys, "-o", "sarif", "pool.yaml")
    assert code == 0
    assert [r["level"] for r in json.loads(out)["runs"][0]["results"]] == ["note"]


def test_junit_has_one_case_per_object_and_policy(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "ok.yaml").write_text((SAMPLES / "pool.yaml").read_text())
    code, out, _ = cli(capsys, "-o", "junit", "pool.yaml", "ok.yaml")
    assert code == 1
    assert out == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<testsuites tests="2" failures="1" errors="0" skipped="0" time="0.0">'
        '<testsuite name="edgeguard review" tests="2" errors="0" failures="1" skipped="0"'
        ' time="0">'
        '<testcase name="Pool openvox-system/puppet (pool.yaml:2)"'
        ' classname="route-required-fields">'
        f'<failure message="{MESSAGE}" type="deny">{MESSAGE}</failure></testcase>'
        '<testcase name="Pool openvox-system/puppet (ok.yaml:2)"'
        ' classname="route-required-fields" />'
        "</testsuite></testsuites>\n"
    )


@pytest.mark.parametrize(
    ("mode", "flags", "code"),
    [
        ("Enforce", (), 1),
        ("Warn", (), 0),
        ("Warn", ("--warnings-as-errors",), 1),
        ("Audit", ("--warnings-as-errors",), 0),
        ("Off", (), 0),
    ],
)
def test_exit_code_follows_denials_and_warnings(
    work: Path, capsys: pytest.CaptureFixture[str], mode: str, flags: tuple[str, ...], code: int
) -> None:
    (work / "config.yaml").write_text(
        ONLY_REQUIRED_FIELDS + f'  route-required-fields: {{mode: "{mode}"}}\n'
    )
    assert cli(capsys, *flags, "pool.yaml")[0] == code


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ("broken.yaml",),
            "broken.yaml:3: not valid YAML: mapping values are not allowed here",
        ),
        (("nope.yaml",), "nope.yaml: no such file or directory"),
        (
            ("--operation", "UPDATE", "pool.yaml"),
            "--operation UPDATE needs --old PATH with the objects as they are now",
        ),
        (
            ("--operation", "CREATE", "--old", "pool.yaml", "pool.yaml"),
            "--old is for --operation UPDATE",
        ),
        (
            ("bomb.yaml",),
            "bomb.yaml:6: more than 500000 nodes once aliases are expanded (an alias bomb?)",
        ),
        (("binary.yaml",), "binary.yaml:1: binary content (a NUL byte), not YAML or JSON"),
    ],
)
def test_input_and_usage_errors_exit_2_naming_file_and_line(
    work: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], error: str
) -> None:
    (work / "broken.yaml").write_text("apiVersion: v1\nkind: X\nmetadata: a: b\n")
    levels = "".join(f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    (work / "bomb.yaml").write_text(f"l0: &l0 [{','.join(['x'] * 9)}]\n{levels}")
    (work / "binary.yaml").write_bytes(b"\x7fELF\x00\x01")
    started = time.perf_counter()
    assert cli(capsys, *argv) == (2, "", f"edgeguard: error: {error}\n")
    assert time.perf_counter() - started < 1.0


def test_stdin_and_kind_list(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = json.dumps([{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}])
    listed = f"apiVersion: v1\nkind: List\nitems: {items}\n---\n" + (work / "pool.yaml").read_text()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(listed.encode())))
    code, out, _ = cli(capsys, "--verbose", "-")
    assert code == 1
    assert out.splitlines()[0] == "<stdin>:3: Service s (CREATE)"
    assert out.splitlines()[2] == "<stdin>:6: Pool openvox-system/puppet (CREATE)"


def test_update_matches_old_objects_by_kind_namespace_and_name(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "old.yaml").write_text((work / "pool.yaml").read_text() + "    hostname: a.example\n")
    (work / "new.yaml").write_text(
        (work / "pool.yaml").read_text()
        + "---\n"
        + (work / "pool.yaml").read_text().replace("name: puppet", "name: fresh")
    )
    code, out, _ = cli(capsys, "-o", "json", "--old", "old.yaml", "new.yaml")
    assert code == 1
    assert [(o["name"], o["operation"]) for o in json.loads(out)["objects"]] == [
        ("puppet", "UPDATE"),
        ("fresh", "CREATE"),
    ]


TLSROUTE = """\
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: NAME, namespace: NAME}
spec:
  parentRefs: [{name: edge, namespace: gw}]
  hostnames: [bao.example.com]
  rules: [{backendRefs: [{name: bao, port: 8200}]}]
"""
CLAIMED = (
    "spec.hostnames[0]: hostname bao.example.com is already claimed on Gateway gw/edge by "
    "TLSRoute {rival}; Gateway API gives a hostname on a listener to one route only (the oldest"
    " wins), so the other gets no traffic while still showing Accepted. Choose another "
    "hostname, or free bao.example.com in TLSRoute {rival} first"
)


def _hostname_verdicts(out: str) -> list[tuple[str, str, list[str]]]:
    return [
        (o["name"], r["result"], r["messages"])
        for o in json.loads(out)["objects"]
        for r in o["results"]
        if r["policy"] == "unique-hostnames"
    ]


def test_the_first_of_two_new_claims_in_one_input_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `kubectl apply` would send them: a.yaml first is admitted, b.yaml then refused."""
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(TLSROUTE.replace("NAME", name))
    assert main(["review", "-o", "json", str(tmp_path)]) == 1
    also = (
        f"In this input, also claimed by TLSRoute a/a ({tmp_path}/a.yaml:1), which comes first: "
        "admission lets the first in and refuses this one"
    )
    assert _hostname_verdicts(capsys.readouterr().out) == [
        ("a", "allow", []),
        ("b", "deny", [CLAIMED.format(rival="a/a"), also]),
        # A refused object claims nothing: c conflicts with a only.
        ("c", "deny", [CLAIMED.format(rival="a/a"), also]),
    ]


def test_a_claim_in_the_cluster_state_is_not_in_this_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state.yaml").write_text(TLSROUTE.replace("NAME", "old"))
    (tmp_path / "new.yaml").write_text(TLSROUTE.replace("NAME", "new"))
    argv = ["review", "-o", "json", "--cluster-state", str(tmp_path / "state.yaml")]
    assert main([*argv, str(tmp_path / "new.yaml")]) == 1
    assert _hostname_verdicts(capsys.readouterr().out) == [
        ("new", "deny", [CLAIMED.format(rival="old/old")])
    ]


HOST = "puppet.example.com"


def test_an_object_refused_for_another_reason_claims_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = (
        "apiVersion: openvox.voxpupuli.org/v1alpha1\nkind: Pool\n"
        "metadata: {name: NAME, namespace: ns}\nspec:\n"
        "  route: {enabled: true, hostname: HOST, gatewayRef: {name: edge}}\n"
    )
    # The first Pool's hostname is not lower case: refused, so the second may take it.
    first = pool.replace("NAME", "first").replace("HOST", "Puppet.example.com")
    (tmp_path / "1.yaml").write_text(first)
    (tmp_path / "2.yaml").write_text(pool.replace("NAME", "second").replace("HOST", HOST))
    assert main(["review", "-o", "json", str(tmp_path)]) == 1
    found = json.loads(capsys.readouterr().out)["objects"]
    assert [(o["name"], o["allowed"]) for o in found] == [("first", False), ("second", True)]


def test_show_mutations_prints_each_patch_and_the_result_as_yaml() -> None:
    engine = Engine(
        [NO_FORBIDDEN, WARNS, ADD_TEAM], Config.defaults([NO_FORBIDDEN, WARNS, ADD_TEAM])
    )
    documents = manifests.parse(json.dumps(widget("w1", {"warn": "1"})), "w.json")
    run = reviewing.review(engine, documents, derive=INDEXES)
    assert text(run, Style(show_mutations=True)) == (
        "w.json:1: Widget default/w1 (CREATE)\n"
        "  PASS  no-forbidden-label\n"
        "  WARN  size-warning: size is 1\n"
        "  PATCH add-team\n"
        "  patch from add-team:\n"
        "    - op: add\n"
        "      path: /metadata/labels/team\n"
        "      value: edge\n"
        "  resulting object:\n"
        "    apiVersion: example.com/v1\n"
        "    kind: Widget\n"
        "    metadata:\n"
        "      name: w1\n"
        "      namespace: default\n"
        "      labels:\n"
        "        warn: '1'\n"
        "        team: edge\n"
        "    spec:\n"
        "      size: 1\n"
        "1 object: 0 denied, 1 with warnings, 1 patched\n"
    )
    assert run.exit_code() == 0
    assert run.exit_code(warnings_as_errors=True) == 1
    assert (
        text(run, Style(colour=True)).splitlines()[2]
        == "  \x1b[33mWARN \x1b[0m size-warning: size is 1"
    )


SAN_STATE = """\
apiVersion: openvox.voxpupuli.org/v1alpha1
kind: Server
metadata: {name: stable, namespace: openvox-system}
spec: {configRef: production, certificateRef: stable-cert, poolRefs: [puppet]}
---
apiVersion: openvox.voxpupuli.org/v1alpha1
kind: Pool
metadata: {name: puppet, namespace: openvox-system}
spec:
  route: {enabled: true, hostname: puppet.example.com, injectDNSAltName: true,
          gatewayRef: {name: edge, sectionName: tls}}
"""
SAN_CERTIFICATE = """\
apiVersion: openvox.voxpupuli.org/v1alpha1
kind: Certificate
metadata: {name: stable-cert, namespace: openvox-system}
spec: {authorityRef: production-ca, certname: puppet, dnsAltNames: [puppet]}
"""


def test_a_patch_is_its_own_category_not_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAN injection is what the tool is for: --warnings-as-errors (the pre-commit example)
    passes it."""
    monkeypatch.chdir(tmp_path)
    Path("state.yaml").write_text(SAN_STATE)
    Path("cert.yaml").write_text(SAN_CERTIFICATE)
    argv = ["review", "--warnings-as-errors", "--cluster-state", "state.yaml", "cert.yaml"]
    assert main(argv) == 0
    assert capsys.readouterr().out == (
        "cert.yaml:1: Certificate openvox-system/stable-cert (CREATE)\n"
        '  PATCH sni-san-injection: added "puppet.example.com" to spec.dnsAltNames: Pool'
        " openvox-system/puppet (spec.route.hostname) is joined by Server openvox-system/stable"
        " (spec.poolRefs), which uses this Certificate (spec.certificateRef); recorded in"
        " annotation edgeguard.io/injected-dns-names\n"
        "1 object: 0 denied, 0 with warnings, 1 patched\n"
    )
    assert main(["review", "-o", "json", *argv[1:]]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == {
        "objects": 1,
        "allowed": 1,
        "denied": 0,
        "warned": 0,
        "patched": 1,
        "skipped": 0,
    }


def test_a_gateway_missing_in_review_says_cluster_state_supplies_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's worked example, as it prints."""
    monkeypatch.chdir(tmp_path)
    Path("pool.yaml").write_text((SAMPLES / "pool.yaml").read_text() + ROUTE)
    assert main(["review", "pool.yaml"]) == 1
    assert capsys.readouterr().out == (
        "pool.yaml:2: Pool openvox-system/puppet (CREATE)\n"
        f"  DENY  route-required-fields: {MESSAGE}\n"
        "  WARN  tls-passthrough: spec.route.gatewayRef.name: Gateway openvox-system/edge is not"
        " in the cluster yet, so edgeguard cannot check that it passes TLS through (Puppet's"
        " mTLS needs the Puppet server to remain the TLS endpoint); give it a listener with"
        " protocol: TLS and tls.mode: Passthrough (in edgeguard review, --cluster-state FILE"
        " supplies what the cluster holds, e.g. the output of `kubectl get gateways -A -o yaml`;"
        " or add its manifest to the input)\n"
        "  PASS  unique-hostnames\n"
        "  PASS  edge-readiness\n"
        "  PASS  sni-san-injection\n"
        "1 object: 1 denied, 1 with warnings, 0 patched\n"
    )
