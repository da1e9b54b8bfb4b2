"""Policy test cases in YAML: the cluster's objects, one request, the expected verdict.

A case file (`tests/cases/<policy>/{allow,deny,mutate}/<name>.yaml`):

    description: why this case exists
    policy: tls-passthrough          # default: the folder two levels up
    mode: Enforce                    # default: the policy's own default mode
    settings: {allowTLSRouteTerminate: true}
    cluster: [ ...objects... ]       # already in the cluster
    clusterFiles: [../../../../../shared/data/...yaml]   # relative to the case file
    request: {operation: CREATE, object: {...}, oldObject: {...}, dryRun: false}
    expect: {allowed: false, messages: [...], warnings: [...], patch: [...], notes: [...]}

`notes` are what the policy could not judge (`edgeguard review --verbose` shows them); each
list that is left out is expected empty.

Mutation cases are also re-admitted with their patch applied and must then change nothing.
Used by the test suite and by `edgeguard test`, which shows each result as a `Row`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonpatch

from webhook.cluster.memory import MemoryView
from webhook.core.config import Config, PolicyConfig
from webhook.core.outcome import Outcome
from webhook.core.policy import Mode, Policy, kept_fields
from webhook.core.review import Review
from webhook.core.view import Deriving
from webhook.engine import Engine
from webhook.offline import schema
from webhook.yamlio.located import Node
from webhook.yamlio.manifests import load, read_value

VERDICTS = ("allow", "deny", "mutate")


@dataclass(frozen=True)
class Case:
    path: Path
    policy: str
    verdict: str
    spec: Mapping[str, Any]
    # The file's fields where they are, for checks against the loaded policies (`check`).
    fields: Mapping[str, Node] = dataclasses.field(default_factory=dict, compare=False)
    node: Node | None = dataclasses.field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"{self.policy}/{self.verdict}/{self.path.stem}"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    problems: tuple[str, ...]
    outcome: Outcome | None = None

    @property
    def got(self) -> str:
        """The verdict the engine gave, in the words of the case folders."""
        if self.outcome is None:
            return "-"
        if not self.outcome.allowed:
            return "deny"
        return "mutate" if self.outcome.patch else "allow"


@dataclass(frozen=True)
class Row:
    """One line of the `edgeguard test` table."""

    case: str
    policy: str
    expected: str
    got: str
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems


def row(result: CaseResult) -> Row:
    case = result.case
    return Row(case.name, case.policy, case.verdict, result.got, result.problems)


def discover(root: Path) -> list[Case]:
    """Every case under root, in a stable order, each file's shape checked (`schema.case`):
    a ManifestError names the file and line of the first problem."""
    cases = []
    for path in sorted(root.rglob("*.yaml")):
        verdict = path.parent.name
        if verdict not in VERDICTS:
            continue
        node = schema.root(path)
        fields = schema.case(node)
        spec = read_value(str(path))
        policy = str(spec.get("policy") or path.parent.parent.name)
        cases.append(Case(path, policy, verdict, spec, fields, node))
    return cases


def check(case: Case, policies: Mapping[str, Policy]) -> None:
    """The case's policy is loaded and its settings are that policy's (ManifestError)."""
    if case.node is not None:
        schema.case_policy(case.fields, case.node, case.policy, policies)


def run_case(case: Case, policies: Mapping[str, Policy], derive: Sequence[Deriving]) -> CaseResult:
    """The case's request admitted by its policy alone, over a view that keeps only what
    that policy reads (so a field it reads but does not declare fails its cases)."""
    policy = policies.get(case.policy)
    if policy is None:
        return CaseResult(case, (f"unknown policy {case.policy!r}",))
    spec = case.spec
    files = [case.path.parent / str(p) for p in spec.get("clusterFiles") or []]
    cluster = [*(doc.obj for doc in load(str(f) for f in files)), *(spec.get("cluster") or [])]
    view = MemoryView(cluster, derive=derive, kept=kept_fields([policy]))
    mode = Mode(spec["mode"]) if "mode" in spec else policy.default_mode
    settings = dict(policy.defaults) | dict(spec.get("settings") or {})
    config = Config(MappingProxyType({policy.name: PolicyConfig(mode, frozenset(), settings)}))
    engine = Engine([policy], config)
    review = _review(spec.get("request") or {}, case.path)
    decide = engine.mutate if policy.mutating else engine.validate
    outcome = decide(review, view)
    problems = list(_compare(case, outcome, spec.get("expect") or {}))
    if case.verdict == "mutate" and outcome.patch and review.object is not None:
        again = decide(_with_object(review, outcome.patch), view)
        if again.patch:
            problems.append(f"not idempotent: re-admission patched again {list(again.patch)}")
    return CaseResult(case, tuple(problems), outcome)


def _review(request: Mapping[str, Any], path: Path) -> Review:
    operation = str(request.get("operation", "CREATE"))
    obj, old = request.get("object"), request.get("oldObject")
    base = obj if obj is not None else old
    if not isinstance(base, dict):
        raise ValueError(f"{path}: request.object or request.oldObject is required")
    review = Review.from_manifest(base, operation, old, source=str(path))
    if operation == "DELETE":
        return review
    return dataclasses.replace(review, object=obj, dry_run=bool(request.get("dryRun", False)))


def _with_object(review: Review, patch: Sequence[Mapping[str, Any]]) -> Review:
    new = jsonpatch.apply_patch(review.object, [dict(op) for op in patch])
    return dataclasses.replace(review, object=new)


def _compare(case: Case, outcome: Outcome, expect: Mapping[str, Any]) -> Iterable[str]:
    wanted_allowed = expect.get("allowed", case.verdict != "deny")
    if case.verdict == "deny" and wanted_allowed:
        yield "a deny/ case must expect allowed: false"
    if outcome.allowed != wanted_allowed:
        said = f": {outcome.message}" if outcome.message else ""
        yield f"allowed: expected {wanted_allowed}, got {outcome.allowed}{said}"
    for key, got in (
        ("messages", list(outcome.messages)),
        ("warnings", list(outcome.warnings)),
        ("patch", [dict(op) for op in outcome.patch]),
        ("notes", [note for result in outcome.results for note in result.notes]),
    ):
        want = expect.get(key, [])
        if got != want:
            yield difference(key, want, got)
    if case.verdict == "mutate" and not outcome.patch:
        yield "a mutate/ case must produce a patch"


def difference(key: str, expected: Sequence[Any], got: Sequence[Any]) -> str:
    """What differs between two lists of messages or patch operations, line by line: `-`
    expected only, `+` got only, `?` where in a line they differ."""
    lines = difflib.ndiff([_line(v) for v in expected], [_line(v) for v in got])
    shown = (f"  {line.rstrip()}" for line in lines)
    return "\n".join([f"{key} differ (- expected, + got):", *shown])


def _line(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
