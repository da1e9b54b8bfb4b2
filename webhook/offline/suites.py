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
from webhook.offline.cases import Row
from webhook.offline.run import ObjectReport, Verdict, review
from webhook.yamlio.manifests import Document, ManifestError, load

FILENAME = "edgeguard-test.yaml"
RESULTS = ("pass", "fail", "warn", "audit", "skip")
GOT = {Result.ALLOW: "pass", Result.PATCH: "pass", Result.DENY: "fail", Result.ERROR: "fail"}
KEYS = (
    "name",
    "policies",
    "config",
    "resources",
    "clusterState",
    "operation",
    "oldResources",
    "results",
)


def discover(root: Path) -> list[Path]:
    return sorted(root.rglob(FILENAME))


def run(
    path: Path, spec: Any, known: Mapping[str, Policy], derive: Sequence[Deriving]
) -> list[Row]:
    """The rows of one suite file; a malformed file raises ManifestError naming it."""
    if not isinstance(spec, dict) or not isinstance(spec.get("results"), list):
        raise ManifestError(str(path), 0, "a suite file is a mapping with a results: list")
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise ManifestError(str(path), 0, f"unknown keys {unknown}; expected {list(KEYS)}")
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
    return [
        row
        for expected in spec["results"]
        for row in _rows(title, _expectation(path, expected), objects)
    ]


def _engine(path: Path, spec: Mapping[str, Any], known: Mapping[str, Policy]) -> Engine:
    names = spec.get("policies") or list(known)
    missing = [n for n in names if n not in known]
    if missing:
        raise ManifestError(str(path), 0, f"unknown policies {missing}")
    config_path = path.parent / str(spec["config"]) if spec.get("config") else None
    config = load_config(config_path, known.values())
    return Engine([known[n] for n in names], config)


def _documents(path: Path, spec: Mapping[str, Any], key: str) -> list[Document]:
    return load(str(path.parent / str(p)) for p in spec.get(key) or [])


def _name(doc: Document) -> str:
    meta = doc.obj.get("metadata") or {}
    parts = [doc.obj["kind"], meta.get("namespace"), meta.get("name")]
    return "/".join(str(p) for p in parts if p)


def _expectation(path: Path, raw: object) -> Mapping[str, Any]:
    if (
        not isinstance(raw, dict)
        or raw.get("result") not in RESULTS
        or not isinstance(raw.get("policy"), str)
        or not isinstance(raw.get("resources"), list)
    ):
        raise ManifestError(
            str(path), 0, f"each result needs policy, resources and result (one of {RESULTS})"
        )
    return raw


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
        problems = [] if got == want else [f"expected {want}, got {got}"]
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
            yield f"{key}: expected {expected[key]!r}, got {got!r}"
