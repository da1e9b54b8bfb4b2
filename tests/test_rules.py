"""Declarative CEL rules: compile at load with file and line; fail closed at admission."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import widget
from webhook.review import Review
from webhook.rules import RuleError, load
from webhook.view import MemoryView

KIND = "kinds: [{group: example.com, kind: Widget}]"


def rules(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(body)
    return path


def test_a_rule_that_does_not_compile_names_file_and_line(tmp_path: Path) -> None:
    path = rules(
        tmp_path,
        f"- name: ok\n  {KIND}\n  expression: 'true'\n  message: m\n"
        f"- name: broken\n  {KIND}\n  expression: 'object.spec.size >'\n  message: m\n",
    )
    with pytest.raises(RuleError) as info:
        load(path)
    assert str(info.value).startswith(
        f"{path}:5: rule broken: cannot compile 'object.spec.size >': "
    )


def test_unknown_and_missing_keys(tmp_path: Path) -> None:
    path = rules(tmp_path, f"- name: r\n  {KIND}\n  expresion: 'true'\n  message: m\n")
    with pytest.raises(RuleError) as info:
        load(path)
    assert str(info.value) == (
        f"{path}:1: rule keys are expression, kinds, message, name, operations; "
        "unknown: ['expresion'], missing: ['expression']"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("object.spec.size", "rule r returned int, not bool (denied)"),
        (
            "object.spec.missing == 1",
            "rule r could not be evaluated (denied to be safe): "
            'NOT_FOUND: Key not found in map : "missing"',
        ),
        ("object.spec.size == 2", "size must be 2"),
    ],
)
def test_evaluation_fails_closed_and_names_the_rule(
    tmp_path: Path, expression: str, message: str
) -> None:
    ruleset = load(
        rules(
            tmp_path,
            f"- name: r\n  {KIND}\n  expression: '{expression}'\n  message: size must be 2\n",
        )
    )
    decision = ruleset.check(Review.from_manifest(widget()), MemoryView(), {})
    assert (decision.allowed, decision.messages) == (False, (message,))


def test_all_failing_rules_are_reported_and_other_kinds_skipped(tmp_path: Path) -> None:
    body = "".join(
        f"- name: r{i}\n  {KIND}\n  expression: 'false'\n  message: m{i}\n" for i in range(3)
    )
    ruleset = load(rules(tmp_path, body))
    review = Review.from_manifest(widget())
    assert ruleset.check(review, MemoryView(), {}).messages == ("m0", "m1", "m2")
    other = Review.from_manifest(widget() | {"apiVersion": "other.io/v1"})
    assert ruleset.check(other, MemoryView(), {}).allowed is True


def test_the_shipped_hostname_rules_use_gateway_apis_pattern() -> None:
    from policies.hostnames import HOSTNAME
    from policies.required_fields import RULES

    matched = [
        r.program.source.split(".matches('")[1].split("')")[0].replace("\\\\", "\\")
        for r in RULES.rules
        if ".matches(" in r.program.source
    ]
    assert matched == [HOSTNAME.pattern, HOSTNAME.pattern]
