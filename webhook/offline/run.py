"""`edgeguard review`: the engine run over manifests, as the API server would admit them.

The given objects (plus any cluster state) form the cluster view, so conflicts between files
are found; hostname claims are admitted in input order, as `kubectl apply` would send them
(`webhook.offline.order`). Each object is mutated, then validated as mutated, like admission
does. It decides nothing itself and writes no output: reports turn a `Run` into text, JSON,
SARIF or JUnit.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from webhook.core.decision import PatchOp
from webhook.core.json import JSONObject
from webhook.core.objects import ObjectKey, key_of
from webhook.core.outcome import Outcome, Result
from webhook.core.review import Review
from webhook.core.view import ClusterView, Deriving
from webhook.engine import Engine
from webhook.offline.order import InputOrder
from webhook.yamlio.manifests import Document, Skipped


@dataclass(frozen=True)
class Verdict:
    """One policy's verdict on one object; `messages` include its warnings, untagged."""

    policy: str
    mode: str
    result: Result
    messages: tuple[str, ...] = ()
    patch: tuple[PatchOp, ...] = ()
    notes: tuple[str, ...] = ()  # what the policy could not judge (shown by --verbose)


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
        """A policy warned (or denied in Warn mode). A patch and its notes are not warnings:
        changing the object is what a mutating policy is for."""
        return any(v.result is Result.WARN for v in self.verdicts)

    @property
    def patched(self) -> bool:
        return bool(self.patch)

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
    # Inputs that are not Kubernetes objects (values.yaml, a kustomization, ...), with why.
    skipped: tuple[Skipped, ...] = ()

    @property
    def denied(self) -> int:
        return sum(not o.allowed for o in self.objects)

    @property
    def warned(self) -> int:
        return sum(o.warned for o in self.objects)

    @property
    def patched(self) -> int:
        return sum(o.patched for o in self.objects)

    def exit_code(self, warnings_as_errors: bool = False) -> int:
        failed = self.denied or (warnings_as_errors and self.warned)
        return 1 if failed else 0


# A finding whose fix in a cluster differs from its fix in review, and what to say in review.
REVIEW_HINTS = (
    (
        " is not in the cluster yet",
        "in edgeguard review, --cluster-state FILE supplies what the cluster holds, e.g. the "
        "output of `kubectl get gateways -A -o yaml`; or add its manifest to the input",
    ),
)


def review(
    engine: Engine,
    documents: Sequence[Document],
    cluster: Iterable[Document] = (),
    old: Iterable[Document] = (),
    operation: str = "CREATE",
    *,
    derive: Sequence[Deriving],
    skipped: Sequence[Skipped] = (),
) -> Run:
    """Admit every document; hostname claims in input order (`webhook.offline.order`). For
    UPDATE, an object with no old version is a CREATE.

    The view holds what the engine's policies read, indexed by `derive`."""
    ordered = InputOrder(list(cluster), documents, derive, engine.policies)
    # An old object matches a new one by group, kind, namespace and name.
    olds: dict[ObjectKey | None, JSONObject] = (
        {key_of(d.obj): d.obj for d in old} if operation == "UPDATE" else {}
    )
    olds.pop(None, None)
    modes = {p.name: engine.config.for_policy(p).mode.value for p in engine.policies}

    def admit(view: ClusterView, doc: Document) -> tuple[ObjectReport, bool]:
        report = _admit(engine, modes, view, doc, olds.get(key_of(doc.obj)))
        return report, report.allowed

    reports: dict[int, ObjectReport] = {}
    for index in ordered.order():
        report = ordered.admit(index, admit)
        if not report.allowed:
            rivals = _rivals(report, ordered, documents)
            if rivals:
                again = ordered.without(rivals, index, admit)
                named = [f"{_title(documents[i])} ({documents[i].source})" for i in rivals]
                report = _attributed(report, again, named)
        reports[index] = report
    rules = tuple(Rule(p.name, p.description, modes[p.name]) for p in engine.policies)
    return Run(tuple(reports[i] for i in range(len(documents))), rules, tuple(skipped))


def _rivals(report: ObjectReport, ordered: InputOrder, documents: Sequence[Document]) -> list[int]:
    """The admitted input objects a denial names (as `Kind namespace/name`): the ones that
    may have taken what this object claims. Bounded by what the messages say."""
    said = " ".join(m for v in report.verdicts if v.result is Result.DENY for m in v.messages)
    return [
        i
        for i in ordered.admitted
        if re.search(re.escape(_title(documents[i])) + r"(?![\w./-])", said)
    ]


def _title(document: Document) -> str:
    key = key_of(document.obj)
    return str(key) if key is not None else ""


def _attributed(
    report: ObjectReport, without: ObjectReport, rivals: Sequence[str]
) -> ObjectReport:
    """`report`, its denials that go away without the earlier `rivals` of the same input
    saying so: admission would let the first in and refuse this one."""
    cleared = {v.policy for v in without.verdicts if v.result is not Result.DENY}
    note = (
        f"In this input, also claimed by {' and '.join(rivals)}, which comes first: admission "
        "lets the first in and refuses this one"
    )
    verdicts = tuple(
        dataclasses.replace(v, messages=(*v.messages, note))
        if v.result is Result.DENY and v.policy in cleared
        else v
        for v in report.verdicts
    )
    return dataclasses.replace(report, verdicts=verdicts)


def _admit(
    engine: Engine,
    modes: Mapping[str, str],
    view: ClusterView,
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
        shown = tuple(_in_review(m) for m in messages)
        yield Verdict(result.policy, mode, result.result, shown, result.patch, result.notes)


def _in_review(message: str) -> str:
    for phrase, hint in REVIEW_HINTS:
        if phrase in message:
            return f"{message} ({hint})"
    return message
