"""User ValidatingAdmissionPolicies wired into serve's configuration and `edgeguard review`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support import SHARED_DATA, make_view
from webhook.cli import configured, main
from webhook.core.policy import Mode
from webhook.core.review import Review
from webhook.engine import Engine

DATA = SHARED_DATA / "openbao-operator"
SAMPLE = DATA / "samples" / "openbao_v1alpha1_openbaocluster.yaml"
NAME = "openbao-operator-validate-openbaocluster/openbao-operator-validate-openbaocluster"
MESSAGE = "spec.initContainer is required, must be enabled, and must specify a non-empty image."


def test_the_configuration_loads_user_policies_and_sets_their_mode(tmp_path: Path) -> None:
    config = tmp_path / "edgeguard.yaml"
    config.write_text(
        f"userPolicies: [{DATA / 'admission'}]\n"
        "userPolicyNamePrefix: openbao-operator-\n"
        f"policies:\n  {NAME}:\n    mode: Warn\n"
    )
    known, chosen = configured(config)
    assert [p.name for p in known][-1] == NAME
    assert chosen.policies[NAME].mode is Mode.WARN
    sample = yaml.safe_load(SAMPLE.read_text())
    sample["metadata"]["namespace"] = "openbao"
    outcome = Engine(known, chosen).validate(Review.from_manifest(sample), make_view())
    assert (outcome.allowed, outcome.warnings) == (True, (f"[{NAME}] {MESSAGE}",))


def test_a_user_policy_file_that_names_no_loaded_policy_stops_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "edgeguard.yaml"
    config.write_text(f"userPolicies: [{DATA / 'admission'}]\n")
    assert main(["serve", "--config", str(config), "--port", "1"]) == 2
    err = capsys.readouterr().err
    binding = DATA / "admission" / "validate-openbaocluster-binding.yaml"
    assert err.startswith(
        f"edgeguard: error: user policy error: {binding}:6: spec.policyName: no "
        "ValidatingAdmissionPolicy named 'openbao-operator-validate-openbaocluster' is loaded"
    )


def test_review_runs_user_policies_beside_the_built_in_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The sample repeats `version: "2.4.4"` upstream, which review refuses as kubectl does.
    sample = tmp_path / SAMPLE.name
    lines = SAMPLE.read_text().splitlines(keepends=True)
    assert lines[8] == lines[9] == '  version: "2.4.4"\n'
    sample.write_text("".join(lines[:9] + lines[10:]))
    args = ["review", "--policy", str(DATA / "admission")]
    args += ["--policy-name-prefix", "openbao-operator-", str(sample)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"  DENY  {NAME}: {MESSAGE}\n" in out
    assert "  PASS  route-required-fields\n" in out
