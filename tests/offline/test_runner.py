"""`edgeguard test DIR`: the project's own cases, the example suite, mismatches, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import TESTS
from webhook.cli import main
from webhook.offline.cases import discover

SUITE_FILE = """\
name: broken expectations
policies: [route-required-fields]
resources: [pool.yaml]
results:
- policy: route-required-fields
  resources: [Pool/openvox-system/puppet, Pool/openvox-system/absent]
  result: pass
"""
POOL = """\
apiVersion: openvox.voxpupuli.org/v1alpha1
kind: Pool
metadata: {name: puppet, namespace: openvox-system}
spec: {route: {enabled: true, gatewayRef: {name: edge}}}
"""


def test_the_project_cases_pass(capsys: pytest.CaptureFixture[str]) -> None:
    count = len(discover(TESTS / "cases"))
    assert main(["test", str(TESTS / "cases")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["CASE", "POLICY", "EXPECTED", "GOT", "RESULT"]
    assert out.splitlines()[-1] == f"{count} tests: {count} passed, 0 failed"


def test_the_example_suite_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(TESTS / "suites")]) == 0
    assert capsys.readouterr().out == (
        "CASE                                                    POLICY"
        "                 EXPECTED  GOT   RESULT\n"
        "pools need a hostname: Pool/openvox-system/puppet       route-required-fields"
        "  pass      pass  PASS\n"
        "pools need a hostname: Pool/openvox-system/no-hostname  route-required-fields"
        "  fail      fail  PASS\n"
        "pools need a hostname: Service/openvox-system/puppet    route-required-fields"
        "  skip      skip  PASS\n"
        "3 tests: 3 passed, 0 failed\n"
    )


LOADED = (
    "route-required-fields, tls-passthrough, unique-hostnames, route-references,"
    " edge-readiness, sni-san-injection"
)
MESSAGE = (
    "spec.route.hostname: hostname is required when route is enabled; set it to the SNI name"
    " agents connect to, or set spec.route.enabled to false"
)


def test_a_mismatch_shows_the_policys_message_and_a_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "edgeguard-test.yaml").write_text(
        SUITE_FILE
        + "- policy: route-required-fields\n  resources: [Pool/openvox-system/puppet]\n"
        "  result: fail\n  messages: ['spec.route.hostname: hostname is required']\n"
    )
    (tmp_path / "pool.yaml").write_text(POOL)
    case = tmp_path / "route-required-fields" / "allow" / "wrong.yaml"
    case.parent.mkdir(parents=True)
    case.write_text(
        "request:\n  object:\n" + "".join(f"    {line}\n" for line in POOL.splitlines())
    )
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[1:] == [
        "route-required-fields/allow/wrong                route-required-fields  allow"
        "     deny  FAIL",
        f"    allowed: expected True, got False: [route-required-fields] {MESSAGE}",
        "    messages differ (- expected, + got):",
        f"      + [route-required-fields] {MESSAGE}",
        "broken expectations: Pool/openvox-system/puppet  route-required-fields  pass"
        "      fail  FAIL",
        f"    expected pass, got fail: {MESSAGE}",
        "broken expectations: Pool/openvox-system/absent  route-required-fields  pass"
        "      -     FAIL",
        "    no such resource",
        "broken expectations: Pool/openvox-system/puppet  route-required-fields  fail"
        "      fail  FAIL",
        "    messages differ (- expected, + got):",
        "      - spec.route.hostname: hostname is required",
        f"      + {MESSAGE}",
        "4 tests: 0 passed, 4 failed",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("results: {}\n", "1: results: must be a list"),
        ("name: x\n", "1: results is required"),
        (
            "results: []\nresource: []\n",
            "2: resource: unknown field; known fields: name, policies, config, resources,"
            " clusterState, operation, oldResources, results",
        ),
        (
            "policies: [nope]\nresults: []\n",
            f"1: policies[0]: policy 'nope' is not loaded; loaded: {LOADED}",
        ),
        (
            "results:\n- policy: nope\n  resources: [Pool/a/b]\n  result: skip\n",
            f"2: results[0].policy: policy 'nope' is not loaded; loaded: {LOADED}",
        ),
        (
            "policies: [tls-passthrough]\nresults:\n- policy: route-required-fields\n"
            "  resources: [Pool/a/b]\n  result: skip\n",
            "3: results[0].policy: 'route-required-fields' is not among this suite's policies:"
            " tls-passthrough",
        ),
        (
            "results:\n- {policy: tls-passthrough, resources: [], result: maybe}\n",
            "2: results[0].result: is 'maybe'; expected one of: pass, fail, warn, audit, skip",
        ),
        (
            "results:\n- {policy: tls-passthrough, resources: [], result: fail, mesages: []}\n",
            "2: results[0].mesages: unknown field; known fields: policy, resources, result,"
            " messages, patch",
        ),
        ("results:\n- {policy: tls-passthrough, result: fail}\n", "2: results[0]: resources is"
         " required"),
    ],
)
def test_a_malformed_suite_file_exits_2_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    (tmp_path / "edgeguard-test.yaml").write_text(text)
    assert main(["test", str(tmp_path)]) == 2
    assert capsys.readouterr() == (
        "",
        f"edgeguard: error: {tmp_path}/edgeguard-test.yaml:{error}\n",
    )


CASE = """\
description: a case
request:
  operation: CREATE
  object: {apiVersion: v1, kind: Service, metadata: {name: s, namespace: n}}
expect:
  allowed: true
"""


@pytest.mark.parametrize(
    ("folder", "text", "error"),
    [
        (
            "tls-passthrough",
            CASE + "mod: Warn\n",
            "7: mod: unknown field; known fields: description, policy, mode, settings, cluster,"
            " clusterFiles, request, expect",
        ),
        (
            "tls-passthrough",
            CASE + "  warning: [x]\n",
            "7: expect.warning: unknown field; known fields: allowed, messages, warnings, patch, "
            "notes",
        ),
        (
            "tls-passthrough",
            CASE + "mode: Enforced\n",
            "7: mode: is 'Enforced'; expected one of: Enforce, Warn, Audit, Off",
        ),
        (
            "tls-passthrough",
            CASE.replace("CREATE", "CREAT"),
            "3: request.operation: is 'CREAT'; expected one of: CREATE, UPDATE, DELETE, CONNECT",
        ),
        (
            "tls-passthrough",
            CASE + "  allowed: yes please\n",
            "7: expect.allowed: appears twice",
        ),
        (
            "tls-passthrough",
            CASE + "settings: {allowTLSRouteTerminat: true}\n",
            "7: settings.allowTLSRouteTerminat: unknown setting; settings of tls-passthrough:"
            " allowTLSRouteTerminate",
        ),
        (
            "no-such-policy",
            CASE,
            "1: policy 'no-such-policy' (the folder two levels up) is not loaded; loaded:"
            f" {LOADED}",
        ),
        (
            "tls-passthrough",
            "policy: tls-passthru\n" + CASE,
            f"1: policy: policy 'tls-passthru' is not loaded; loaded: {LOADED}",
        ),
        ("tls-passthrough", "description: no request\n", "1: request is required"),
    ],
)
def test_a_malformed_case_file_exits_2_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str, text: str, error: str
) -> None:
    case = tmp_path / folder / "allow" / "case.yaml"
    case.parent.mkdir(parents=True)
    case.write_text(text)
    assert main(["test", str(tmp_path)]) == 2
    assert capsys.readouterr() == ("", f"edgeguard: error: {case}:{error}\n")


def test_a_passing_run_with_a_crashing_case_prints_no_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """unique-hostnames/deny/bad-scope-setting-fails-closed.yaml expects the policy to crash."""
    assert main(["test", str(TESTS / "cases" / "unique-hostnames")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "unique-hostnames/deny/bad-scope-setting-fails-closed" in out


def test_an_unparsable_case_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "p" / "deny" / "bad.yaml"
    case.parent.mkdir(parents=True)
    case.write_text("request:\n  object: [\n")
    assert main(["test", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"edgeguard: error: {case}:3: not valid YAML")
