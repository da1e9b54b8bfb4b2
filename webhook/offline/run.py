"""`edgeguard review`: the engine run over manifests, as the API server would admit them.

The given objects (plus any cluster state) form the cluster view, so conflicts between files
are found. Each object is mutated, then validated as mutated, like admission does. It decides
nothing itself and writes no output: reports turn a `Run` into text, JSON, SARIF or JUnit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from webhook.cluster.memory import MemoryView
from webhook.core.decision import PatchOp
from webhook.core.json import JSONObject
from webhook.core.objects import ObjectKey, key_of
from webhook.core.outcome import Outcome, Result
from webhook.core.policy import kept_fields
from webhook.core.review import Review
from webhook.core.view import Deriving
from webhook.engine import Engine
from webhook.yamlio.manifests import Document


@dataclass(frozen=True)
class Verdict:
    """One policy's verdict on one object; `messages` include its warnings, untagged."""

    policy: str
    mode: str
    result: Result
    messages: tuple[str, ...] = ()
    patch: tuple[PatchOp, ...] = ()


@dataclass(frozen=True)
class ObjectReport:
    document: Document
    review: Review
    verdicts: tuple[Verdict, ...]
    allowed: bool
    warnings: tuple[str, ...] = ()
    patch: tuple[PatchOp, ...] = ()
    mutated: JSONObject | None = None  # the object after enforced patches, when patched

    @property
    def warned(self) -> bool:
        return bool(self.warnings)

    @property
    def title(self) -> str:
        """`Kind namespace/name`, or `Kind name` for a cluster-scoped object."""
        where = f"{self.review.namespace}/{self.review.name}" if self.review.namespace else ""
        return f"{self.review.kind.kind} {where or self.review.name}"


@dataclass(frozen=True)
class Rule:
    """A policy as reports list it (SARIF rules)."""

    name: str
    description: str
    mode: str


@dataclass(frozen=True)
class Run:
    objects: tuple[ObjectReport, ...]
    rules: tuple[Rule, ...]

    @property
    def denied(self) -> int:
        return sum(not o.allowed for o in self.objects)

    @property
    def warned(self) -> int:
        return sum(o.warned for o in self.objects)

    def exit_code(self, warnings_as_errors: bool = False) -> int:
        failed = self.denied or (warnings_as_errors and self.warned)
        return 1 if failed else 0


def review(
    engine: Engine,
    documents: Sequence[Document],
    cluster: Iterable[Document] = (),
    old: Iterable[Document] = (),
    operation: str = "CREATE",
    *,
    derive: Sequence[Deriving],
) -> Run:
    """Admit every document. For UPDATE, an object with no old version is a CREATE.

    The view holds what the engine's policies read, indexed by `derive`."""
    view = MemoryView(
        [*(d.obj for d in cluster), *(d.obj for d in documents)],
        derive=derive,
        kept=kept_fields(engine.policies),
    )
    # An old object matches a new one by group, kind, namespace and name.
    olds: dict[ObjectKey | None, JSONObject] = (
        {key_of(d.obj): d.obj for d in old} if operation == "UPDATE" else {}
    )
    olds.pop(None, None)
    modes = {p.name: engine.config.for_policy(p).mode.value for p in engine.policies}
    reports = tuple(
        _admit(engine, modes, view, doc, olds.get(key_of(doc.obj))) for doc in documents
    )
    rules = tuple(Rule(p.name, p.description, modes[p.name]) for p in engine.policies)
    return Run(reports, rules)


def _admit(
    engine: Engine,
    modes: Mapping[str, str],
    view: MemoryView,
    doc: Document,
    old: JSONObject | None,
) -> ObjectReport:
    operation = "CREATE" if old is None else "UPDATE"
    request = Review.from_manifest(doc.obj, operation, old, doc.source)
    mutated = engine.mutate(request, view)
    checked = dataclasses.replace(request, object=mutated.object) if mutated.patch else request
    validated = engine.validate(checked, view)
    verdicts = (*_verdicts(modes, validated), *_verdicts(modes, mutated))
    return ObjectReport(
        document=doc,
        review=request,
        verdicts=verdicts,
        allowed=mutated.allowed and validated.allowed,
        warnings=mutated.warnings + validated.warnings,
        patch=mutated.patch,
        mutated=mutated.object if mutated.patch else None,
    )


def _verdicts(modes: Mapping[str, str], outcome: Outcome) -> Iterable[Verdict]:
    for result in outcome.results:
        messages = list(result.messages)
        messages += [w for w in result.warnings if w not in messages]
        mode = modes[result.policy]
        yield Verdict(result.policy, mode, result.result, tuple(messages), result.patch)
