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


def test_a_mismatch_fails_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "edgeguard-test.yaml").write_text(SUITE_FILE)
    (tmp_path / "pool.yaml").write_text(POOL)
    case = tmp_path / "route-required-fields" / "allow" / "wrong.yaml"
    case.parent.mkdir(parents=True)
    case.write_text(
        "request:\n  object:\n" + "".join(f"    {line}\n" for line in POOL.splitlines())
    )
    assert main(["test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    rows = [line.split()[-3:] for line in out.splitlines() if line.endswith(("PASS", "FAIL"))]
    assert rows == [["allow", "deny", "FAIL"], ["pass", "fail", "FAIL"], ["pass", "-", "FAIL"]]
    assert "    allowed: expected True, got False" in out
    assert "    expected pass, got fail\n" in out
    assert "    no such resource\n" in out
    assert out.endswith("3 tests: 0 passed, 3 failed\n")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("results: {}\n", "a suite file is a mapping with a results: list"),
        (
            "results: []\nresource: []\n",
            "unknown keys ['resource']; expected ['name', 'policies', 'config', 'resources',"
            " 'clusterState', 'operation', 'oldResources', 'results']",
        ),
        ("policies: [nope]\nresults: []\n", "unknown policies ['nope']"),
        (
            "results: [{policy: x, resources: [], result: maybe}]\n",
            "each result needs policy, resources and result"
            " (one of ('pass', 'fail', 'warn', 'audit', 'skip'))",
        ),
    ],
)
def test_a_malformed_suite_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    (tmp_path / "edgeguard-test.yaml").write_text(text)
    assert main(["test", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"edgeguard: error: {tmp_path}/edgeguard-test.yaml: {error}\n"


def test_an_unparsable_case_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "p" / "deny" / "bad.yaml"
    case.parent.mkdir(parents=True)
    case.write_text("request:\n  object: [\n")
    assert main(["test", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"edgeguard: error: {case}:3: not valid YAML")
