"""Suite files (`edgeguard-test.yaml`): policies, resources, cluster state, expected results.

In the spirit of `kyverno test`. Paths are relative to the suite file:

    name: pools need a hostname
    policies: [route-required-fields]    # default: every known policy
    config: config.yaml                  # optional policy configuration (modes, settings)
    resources: [resources.yaml]          # files or directories, as for `edgeguard review`
    clusterState: [cluster.yaml]         # optional: objects already in the cluster
    operation: CREATE                    # CREATE | UPDATE (with oldResources)
    oldResources: [old.yaml]
    results:
    - policy: route-required-fields
      resources: [Pool/openvox-system/puppet]    # Kind/namespace/name or Kind/name
      result: fail                       # pass | fail | warn | audit | skip
      messages: [...]                    # optional, exact
      patch: [...]                       # optional, exact (mutating policies)

Resources run through `webhook.offline.run.review`, the very path `edgeguard review` takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from webhook.config import load as load_config
from webhook.core.outcome import Result
from webhook.core.policy import Policy
from webhook.core.view import Deriving
from webhook.engine import Engine
from webhook.offline import schema
from webhook.offline.cases import Row, difference
from webhook.offline.run import ObjectReport, Verdict, review
from webhook.yamlio.manifests import Document, load

FILENAME = "edgeguard-test.yaml"
GOT = {Result.ALLOW: "pass", Result.PATCH: "pass", Result.DENY: "fail", Result.ERROR: "fail"}


def discover(root: Path) -> list[Path]:
    return sorted(root.rglob(FILENAME))


def run(
    path: Path, spec: Any, known: Mapping[str, Policy], derive: Sequence[Deriving]
) -> list[Row]:
    """The rows of one suite file; a malformed file (an unknown key, an unknown policy, a
    value of the wrong type) raises ManifestError naming its file and line."""
    schema.suite(schema.root(path), known)
    engine = _engine(path, spec, known)
    reviewed = review(
        engine,
        _documents(path, spec, "resources"),
        _documents(path, spec, "clusterState"),
        _documents(path, spec, "oldResources"),
        str(spec.get("operation", "CREATE")),
        derive=derive,
    )
    objects = {_name(report.document): report for report in reviewed.objects}
    title = str(spec.get("name") or path.parent.name)
    return [row for expected in spec["results"] for row in _rows(title, expected, objects)]


def _engine(path: Path, spec: Mapping[str, Any], known: Mapping[str, Policy]) -> Engine:
    names = spec.get("policies") or list(known)
    config_path = path.parent / str(spec["config"]) if spec.get("config") else None
    config = load_config(config_path, known.values())
    return Engine([known[n] for n in names], config)


def _documents(path: Path, spec: Mapping[str, Any], key: str) -> list[Document]:
    return load(str(path.parent / str(p)) for p in spec.get(key) or [])


def _name(doc: Document) -> str:
    meta = doc.obj.get("metadata") or {}
    parts = [doc.obj["kind"], meta.get("namespace"), meta.get("name")]
    return "/".join(str(p) for p in parts if p)


def _rows(
    title: str, expected: Mapping[str, Any], objects: Mapping[str, ObjectReport]
) -> Iterable[Row]:
    policy, want = expected["policy"], expected["result"]
    for resource in expected["resources"]:
        report = objects.get(str(resource))
        if report is None:
            yield Row(f"{title}: {resource}", policy, want, "-", ("no such resource",))
            continue
        verdict = next((v for v in report.verdicts if v.policy == policy), None)
        got = "skip" if verdict is None else GOT.get(verdict.result, str(verdict.result))
        problems = [] if got == want else [f"expected {want}, got {got}{_said(verdict)}"]
        problems += _details(expected, verdict)
        yield Row(f"{title}: {resource}", policy, want, got, tuple(problems))


def _details(expected: Mapping[str, Any], verdict: Verdict | None) -> Iterable[str]:
    for key in ("messages", "patch"):
        if key not in expected:
            continue
        got: list[Any] = []
        if verdict is not None:
            got = list(verdict.messages) if key == "messages" else [dict(p) for p in verdict.patch]
        if got != expected[key]:
            yield difference(key, expected[key], got)


def _said(verdict: Verdict | None) -> str:
    """What the policy said, to show beside a verdict that was not the one expected."""
    return f": {'; '.join(verdict.messages)}" if verdict is not None and verdict.messages else ""
