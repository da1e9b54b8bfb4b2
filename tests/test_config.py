"""The configuration file: modes, exemptions and settings; errors located by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import TEST_POLICIES
from webhook.config import ConfigError, load, parse
from webhook.core.config import ViewConfig
from webhook.core.policy import Mode


def test_no_file_gives_every_policy_its_defaults() -> None:
    config = load(None, TEST_POLICIES)
    assert {name: c.mode for name, c in config.policies.items()} == {
        p.name: Mode.ENFORCE for p in TEST_POLICIES
    }
    assert dict(config.policies["add-team"].settings) == {"team": "edge"}
    assert config.view == ViewConfig("Deny", 30.0, 60.0, 60.0)
    assert config.exempt_namespaces == frozenset()


def test_a_full_file_is_read() -> None:
    text = """
policies:
  no-forbidden-label:
    mode: Warn
    exemptNamespaces: [kube-system, tools]
  add-team:
    mode: Audit
    settings:
      team: platform
exemptNamespaces: [sandbox, legacy]
view:
  notSynced: Warn
  reservationSeconds: 5
  staleSeconds: 90
"""
    config = parse(text, "edgeguard.yaml", TEST_POLICIES)
    chosen = config.policies["no-forbidden-label"]
    assert chosen.mode is Mode.WARN
    assert chosen.exempt_namespaces == frozenset({"kube-system", "tools"})
    assert config.policies["add-team"].mode is Mode.AUDIT
    assert dict(config.policies["add-team"].settings) == {"team": "platform"}
    assert config.policies["two-denials"].mode is Mode.ENFORCE
    assert config.view == ViewConfig("Warn", 5.0, 60.0, 90.0)
    assert config.exempt_namespaces == frozenset({"sandbox", "legacy"})


NAMES = "no-forbidden-label, two-denials, size-warning, crashes-on-label, add-team, copy-team"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "policies:\n  no-such-policy: {}\n",
            f"edgeguard.yaml:2: unknown key 'no-such-policy' in policies; expected one of: {NAMES}",
        ),
        (
            "polices: {}\n",
            "edgeguard.yaml:1: unknown key 'polices' in the configuration; "
            "expected one of: policies, exemptNamespaces, view, userPolicies, "
            "userPolicyNamePrefix",
        ),
        (
            "policies:\n  add-team:\n    mode: Block\n",
            "edgeguard.yaml:3: policies.add-team.mode is 'Block'; "
            "expected one of: Enforce, Warn, Audit, Off",
        ),
        (
            "policies:\n  add-team:\n    settings:\n      colour: red\n",
            "edgeguard.yaml:4: unknown key 'colour' in policies.add-team.settings; "
            "expected one of: team",
        ),
        (
            "policies:\n  add-team:\n    settings:\n      team: 3\n",
            "edgeguard.yaml:4: policies.add-team.settings.team must be a str, got '3'",
        ),
        (
            "policies:\n  add-team:\n    exemptNamespaces: tools\n",
            "edgeguard.yaml:3: policies.add-team.exemptNamespaces must be a list of strings",
        ),
        (
            "policies:\n  add-team: {}\n  add-team: {}\n",
            "edgeguard.yaml:3: duplicate key 'add-team' in policies",
        ),
        (
            "view:\n  notSynced: Allow\n",
            "edgeguard.yaml:2: view.notSynced is 'Allow'; expected one of: Deny, Warn",
        ),
        ("- a list\n", "edgeguard.yaml:1: the configuration must be a mapping"),
        (
            "view:\n  staleSeconds: 5\n",
            "edgeguard.yaml:2: view.staleSeconds must be at least 10, got 5",
        ),
        (
            "view:\n  staleSeconds: .nan\n",
            "edgeguard.yaml:2: view.staleSeconds must be at least 10, got nan",
        ),
        (
            "view:\n  staleSeconds: soon\n",
            "edgeguard.yaml:2: view.staleSeconds must be a float, got 'soon'",
        ),
        (
            "exemptNamespaces: sandbox\n",
            "edgeguard.yaml:1: exemptNamespaces must be a list of strings",
        ),
    ],
)
def test_bad_configuration_names_file_line_and_expectation(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, "edgeguard.yaml", TEST_POLICIES)
    assert str(info.value) == message


def test_unparsable_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse("policies:\n  add-team: [\n", "bad.yaml", TEST_POLICIES)
    assert str(info.value).startswith("bad.yaml:3: not valid YAML: ")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(ConfigError) as info:
        load(missing, TEST_POLICIES)
    assert (
        str(info.value) == f"{missing}:0: cannot read the configuration: No such file or directory"
    )


def test_a_setting_with_choices_must_be_one_of_them() -> None:
    import policies

    text = "policies:\n  unique-hostnames:\n    settings:\n      scope: namespace\n"
    with pytest.raises(ConfigError) as info:
        parse(text, "edgeguard.yaml", policies.builtin())
    assert str(info.value) == (
        "edgeguard.yaml:4: policies.unique-hostnames.settings.scope is 'namespace'; "
        "expected one of: listener, cluster"
    )


def test_the_readme_example_is_a_valid_configuration() -> None:
    import policies
    from tests.support import ROOT

    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse(example, "README.md", policies.builtin())
    assert config.exempt_namespaces == frozenset({"legacy"})
    assert config.policies["unique-hostnames"].exempt_namespaces == frozenset({"sandbox"})
    assert config.view == ViewConfig("Deny", 30.0, 60.0, 60.0)


def test_a_list_setting_is_read_as_a_tuple_of_checked_strings() -> None:
    import policies

    text = (
        "policies:\n  route-references:\n    settings:\n"
        "      extraBackendKinds: [ServiceImport.multicluster.x-k8s.io, Backend.example.com]\n"
        "      extraParentKinds: []\n"
    )
    settings = parse(text, "edgeguard.yaml", policies.builtin()).policies["route-references"]
    assert dict(settings.settings) == {
        "extraParentKinds": (),
        "extraBackendKinds": ("ServiceImport.multicluster.x-k8s.io", "Backend.example.com"),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ServiceImport",
            "edgeguard.yaml:4: policies.route-references.settings.extraBackendKinds must be a "
            "list of strings",
        ),
        (
            "[Backend.Example.com]",
            "edgeguard.yaml:4: policies.route-references.settings.extraBackendKinds: "
            "'Backend.Example.com': 'Example.com' is not an API group (a DNS subdomain, lower "
            "case)",
        ),
        (
            "[multicluster.x-k8s.io/ServiceImport]",
            "edgeguard.yaml:4: policies.route-references.settings.extraBackendKinds: "
            "'multicluster.x-k8s.io/ServiceImport': 'x-k8s.io/ServiceImport' is not an API "
            "group (a DNS subdomain, lower case)",
        ),
        (
            "['1Backend']",
            "edgeguard.yaml:4: policies.route-references.settings.extraBackendKinds: "
            "'1Backend': '1Backend' is not a kind (1 to 63 letters, digits and -, first a "
            "letter)",
        ),
    ],
)
def test_a_kinds_setting_names_what_is_wrong(value: str, message: str) -> None:
    import policies

    text = f"policies:\n  route-references:\n    settings:\n      extraBackendKinds: {value}\n"
    with pytest.raises(ConfigError) as info:
        parse(text, "edgeguard.yaml", policies.builtin())
    assert str(info.value) == message
