"""The shape of `edgeguard test` files (case files and suite files), checked at file:line.

A misspelled key (`mod:`, `expect.warning`) would otherwise be ignored and the test pass for
the wrong reason; so would an expectation about a policy that does not exist. Every key is
known, every value has its type, every policy named is loaded, or `ManifestError` (exit 2)
says where. It checks shapes only: what a case means is in `cases` and `suites`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from webhook.core.policy import Mode, Policy
from webhook.yamlio.located import LocatedError, Node, documents
from webhook.yamlio.manifests import ManifestError

CASE_KEYS = (
    "description",
    "policy",
    "mode",
    "settings",
    "cluster",
    "clusterFiles",
    "request",
    "expect",
)
REQUEST_KEYS = ("operation", "object", "oldObject", "dryRun")
EXPECT_KEYS = ("allowed", "messages", "warnings", "patch", "notes")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
SUITE_KEYS = (
    "name",
    "policies",
    "config",
    "resources",
    "clusterState",
    "operation",
    "oldResources",
    "results",
)
RESULT_KEYS = ("policy", "resources", "result", "messages", "patch")
RESULTS = ("pass", "fail", "warn", "audit", "skip")


def root(path: Path) -> Node:
    """The one document of a test file, located; ManifestError when it is not one mapping."""
    try:
        found = documents(path)
    except LocatedError as exc:
        raise ManifestError(exc.source, exc.line, exc.message) from exc
    if len(found) != 1 or not found[0].is_mapping:
        raise ManifestError(str(path), 1, "a test file is one YAML mapping")
    return found[0]


def case(node: Node) -> dict[str, Node]:
    """The fields of a case file, each checked; `policy` and `settings` are checked against
    the loaded policies by `case_policy`."""
    with located():
        fields = node.mapping(CASE_KEYS)
        for name in ("description", "policy"):
            if name in fields:
                fields[name].string()
        if "mode" in fields:
            _choice(fields["mode"], [m.value for m in Mode])
        if "settings" in fields:
            fields["settings"].mapping()
        if "cluster" in fields:
            _mappings(fields["cluster"])
        if "clusterFiles" in fields:
            fields["clusterFiles"].strings()
        request = fields.get("request")
        if request is None:
            raise node.error("request is required")
        _request(request)
        if "expect" in fields:
            _expect(fields["expect"])
    return fields


def _request(node: Node) -> None:
    fields = node.mapping(REQUEST_KEYS)
    if "operation" in fields:
        _choice(fields["operation"], OPERATIONS)
    for name in ("object", "oldObject"):
        if name in fields and fields[name].value() is not None:
            fields[name].mapping()
    if "object" not in fields and "oldObject" not in fields:
        raise node.error("object or oldObject is required")
    if "dryRun" in fields:
        _boolean(fields["dryRun"])


def _expect(node: Node) -> None:
    fields = node.mapping(EXPECT_KEYS)
    if "allowed" in fields:
        _boolean(fields["allowed"])
    for name in ("messages", "warnings", "notes"):
        if name in fields:
            _texts(fields[name])
    if "patch" in fields:
        _mappings(fields["patch"])


def case_policy(
    fields: Mapping[str, Node], node: Node, name: str, known: Mapping[str, Policy]
) -> None:
    """The case's policy is loaded, and its settings are that policy's."""
    with located():
        policy = known.get(name)
        where = fields.get("policy")
        if policy is None:
            said = "" if where is not None else " (the folder two levels up)"
            at = where or node
            raise at.error(f"policy {name!r}{said} is not loaded; loaded: {_names(known)}")
        if "settings" in fields:
            _keys(fields["settings"], policy.defaults, f"settings of {name}")


def suite(node: Node, known: Mapping[str, Policy]) -> dict[str, Node]:
    """The fields of a suite file, each checked, every policy named loaded."""
    with located():
        fields = node.mapping(SUITE_KEYS)
        if "results" not in fields:
            raise node.error("results is required")
        if "name" in fields:
            fields["name"].string()
        chosen: Collection[str] = known
        if "policies" in fields:
            chosen = [_policy(item, known) for item in fields["policies"].sequence()]
        for name in ("resources", "clusterState", "oldResources"):
            if name in fields:
                fields[name].strings()
        if "config" in fields:
            fields["config"].string()
        if "operation" in fields:
            _choice(fields["operation"], ("CREATE", "UPDATE"))
        for item in fields["results"].sequence():
            _result(item, known, chosen)
    return fields


def _result(node: Node, known: Mapping[str, Policy], chosen: Collection[str]) -> None:
    fields = node.mapping(RESULT_KEYS)
    for name in ("policy", "resources", "result"):
        if name not in fields:
            raise node.error(f"{name} is required")
    policy = _policy(fields["policy"], known)
    if policy not in chosen:
        raise fields["policy"].error(
            f"{policy!r} is not among this suite's policies: {', '.join(chosen)}"
        )
    fields["resources"].strings()
    _choice(fields["result"], RESULTS)
    if "messages" in fields:
        _texts(fields["messages"])
    if "patch" in fields:
        _mappings(fields["patch"])


def _policy(node: Node, known: Mapping[str, Policy]) -> str:
    name = node.string()
    if name not in known:
        raise node.error(f"policy {name!r} is not loaded; loaded: {_names(known)}")
    return name


def _names(known: Mapping[str, Policy]) -> str:
    return ", ".join(known) or "none"


def _choice(node: Node, choices: Collection[str]) -> str:
    value = node.value()
    if value not in choices:
        raise node.error(f"is {value!r}; expected one of: {', '.join(choices)}")
    return str(value)


def _boolean(node: Node) -> None:
    if not isinstance(node.value(), bool):
        raise node.error(f"must be true or false, got {node.text!r}")


def _texts(node: Node) -> None:
    for item in node.sequence():
        if not isinstance(item.value(), str):
            raise item.error("must be a string")


def _mappings(node: Node) -> None:
    for item in node.sequence():
        item.mapping()


def _keys(node: Node, allowed: Mapping[str, Any], what: str) -> None:
    for child in node.entries():
        if child.name not in allowed:
            known = ", ".join(allowed) or "none"
            raise child.error(f"unknown setting; {what}: {known}")


@contextlib.contextmanager
def located() -> Iterator[None]:
    """Turns the located reader's LocatedError into ManifestError (file:line, exit 2)."""
    try:
        yield
    except LocatedError as exc:
        raise ManifestError(exc.source, exc.line, exc.message) from exc
