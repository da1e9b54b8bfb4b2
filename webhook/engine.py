"""The policy engine: runs the matching policies for one Review and combines their verdicts.

The same engine serves the webhook, server-side dry-run and `edgeguard review`. It applies
each policy's mode, contains crashes (a policy that raises denies, naming itself) and never
writes wire formats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import jsonpatch

from webhook.core.audit import audit_key
from webhook.core.config import Config, PolicyConfig
from webhook.core.decision import Decision, PatchOp, errored
from webhook.core.kinds import GroupKind
from webhook.core.locks import Lock
from webhook.core.outcome import Outcome, PolicyResult, Result
from webhook.core.policy import Deferred, Mode, Need, Policy
from webhook.core.review import Review
from webhook.core.view import ClusterView

log = logging.getLogger("edgeguard.engine")
MAX_NEEDS = 32  # objects read through per request at most (a route has at most 32 parentRefs)
NOT_SYNCED = "cluster view not synced yet: edgeguard cannot check references to other objects"
TOO_DEEP = (
    "the object is nested too deeply to apply this policy's patch; flatten it or exempt its "
    "namespace"
)
STALE = (
    "cluster view stale: no contact with the API server about {kinds} for over {seconds:g} s: "
    "edgeguard cannot check references to other objects"
)


class Engine:
    def __init__(self, policies: Iterable[Policy], config: Config) -> None:
        ordered = list(policies)
        names = [p.name for p in ordered]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"policy names must be unique: {', '.join(duplicates)}")
        self.config = config
        self.validating = tuple(p for p in ordered if not p.mutating)
        self.mutating = tuple(p for p in ordered if p.mutating)
        # Each policy with its configuration, resolved once: the request path only reads it.
        self._validating = tuple((p, config.for_policy(p)) for p in self.validating)
        self._mutating = tuple((p, config.for_policy(p)) for p in self.mutating)
        self._exempt = config.exempt_namespaces

    @property
    def policies(self) -> tuple[Policy, ...]:
        return self.validating + self.mutating

    def validate(
        self,
        review: Review,
        view: ClusterView,
        ahead: Mapping[str, Decision] | None = None,
    ) -> Outcome:
        """`ahead`: decisions already made (by `validate_async`), by policy name."""
        tally = _Tally()
        stale = view.stale_kinds()
        for policy, chosen in self._active(self._validating, review):
            decision = ahead.get(policy.name) if ahead else None
            if decision is None:
                decision = self._run(policy, chosen, review, view, stale)
            tally.add(policy, decision, chosen.mode)
        return tally.outcome(review.object)

    async def validate_async(self, review: Review, view: ClusterView) -> Outcome:
        """As `validate`, awaiting the deferred policies (user CEL in worker processes) first,
        all at once; the others then run without an await, so that what follows the verdict
        (the view holding an admitted claim) sees the state they decided on."""
        pending = [
            (policy, chosen, policy.deferred)
            for policy, chosen in self._active(self._validating, review)
            if policy.deferred is not None
        ]
        if not pending:
            return self.validate(review, view)
        stale = view.stale_kinds()
        decided = await asyncio.gather(
            *(self._run_deferred(d, p, chosen, review, view, stale) for p, chosen, d in pending)
        )
        ahead = {policy.name: d for (policy, _, _), d in zip(pending, decided, strict=True)}
        return self.validate(review, view, ahead)

    async def mutate_async(self, review: Review, view: ClusterView) -> Outcome:
        return self.mutate(review, view)

    def mutate(self, review: Review, view: ClusterView) -> Outcome:
        """Runs mutating policies in order, each on the object the previous one left."""
        tally = _Tally()
        current = review
        stale = view.stale_kinds()
        for policy, chosen in self._active(self._mutating, review):
            mode = chosen.mode
            decision = self._run(policy, chosen, current, view, stale)
            if decision.patch and mode is Mode.ENFORCE and current.object is not None:
                try:
                    new = _patch(current.object, decision.patch)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    log.exception("policy %s returned a patch that does not apply", policy.name)
                    decision = errored(exc)
                except RecursionError:
                    log.warning("policy %s: patch not applied: %s", policy.name, TOO_DEEP)
                    decision = Decision(False, (TOO_DEEP,), 403)
                else:
                    current = dataclasses.replace(current, object=new)
            tally.add(policy, decision, mode)
        return tally.outcome(current.object)

    def locks(self, review: Review, view: ClusterView) -> list[Lock]:
        """The locks an allowed review relies on: those of its enforcing policies (a policy
        that only warns blocks nothing, so it needs no lock). A policy whose `locks` raises
        contributes none: its verdict already failed closed."""
        found: list[Lock] = []
        for policy, chosen in self._active(self._validating, review):
            if policy.locks is None or chosen.mode is not Mode.ENFORCE:
                continue
            try:
                found.extend(policy.locks(review, view, chosen.settings))
            except Exception:
                log.exception("policy %s raised listing its locks", policy.name)
        return found

    def needs(self, review: Review, view: ClusterView) -> list[Need]:
        """What the active policies would read by name and the view lacks (read-through)."""
        found: dict[Need, None] = {}
        for policy, _ in (
            *self._active(self._validating, review),
            *self._active(self._mutating, review),
        ):
            if policy.needs is None:
                continue
            try:
                found.update(dict.fromkeys(policy.needs(review, view)))
            except Exception:
                log.exception("policy %s raised listing what it reads", policy.name)
        return list(found)[:MAX_NEEDS]

    def holds(self, view: ClusterView, lock: Lock) -> bool:
        """Whether the view still shows the lock's holder holding it (unknown policy: yes,
        so a lock nobody can judge is never taken over)."""
        policy = next((p for p in self.validating if p.name == lock.policy), None)
        if policy is None or policy.holds is None:
            return True
        return policy.holds(view, lock.scope, lock.value, lock.holder)

    def _active(
        self, policies: tuple[tuple[Policy, PolicyConfig], ...], review: Review
    ) -> Iterable[tuple[Policy, PolicyConfig]]:
        if review.namespace and review.namespace in self._exempt:
            return
        for policy, chosen in policies:
            if chosen.mode is Mode.OFF or not policy.matches(review):
                continue
            if review.namespace and review.namespace in chosen.exempt_namespaces:
                continue
            yield policy, chosen

    def _run(
        self,
        policy: Policy,
        chosen: PolicyConfig,
        review: Review,
        view: ClusterView,
        stale: frozenset[GroupKind],
    ) -> Decision:
        unsure = self._unsure(policy, view, stale)
        if unsure is not None:
            return unsure
        try:
            return policy(review, view, chosen.settings)
        except Exception as exc:
            return _crashed(policy, review, exc)

    async def _run_deferred(
        self,
        deferred: Deferred,
        policy: Policy,
        chosen: PolicyConfig,
        review: Review,
        view: ClusterView,
        stale: frozenset[GroupKind],
    ) -> Decision:
        unsure = self._unsure(policy, view, stale)
        if unsure is not None:
            return unsure
        try:
            return await deferred(review, view, chosen.settings)
        except Exception as exc:
            return _crashed(policy, review, exc)

    def _unsure(
        self, policy: Policy, view: ClusterView, stale: frozenset[GroupKind]
    ) -> Decision | None:
        """The answer of a referential policy when the view cannot be trusted for it."""
        if not policy.referential:
            return None
        unsure = self._unsynced(policy, view, stale)
        if unsure is None:
            return None
        if self.config.view.not_synced == "Warn":
            return Decision(True, warnings=(unsure,))
        return Decision(False, (unsure,), 403)

    def _unsynced(
        self, policy: Policy, view: ClusterView, stale: frozenset[GroupKind]
    ) -> str | None:
        """Why the view cannot be trusted for this policy, if so: not synced yet, or a kind it
        reads is stale (a referential policy that declares no `reads` depends on every kind)."""
        if not view.synced:
            return NOT_SYNCED
        if not stale:
            return None
        affected = stale.intersection(policy.reads) if policy.reads else stale
        if not affected:
            return None
        kinds = ", ".join(sorted(map(str, affected)))
        return STALE.format(kinds=kinds, seconds=self.config.view.stale_seconds)


def _crashed(policy: Policy, review: Review, exc: Exception) -> Decision:
    """A policy that raised: logged with its traceback, and its decision is the error's."""
    log.exception("policy %s raised on %s %s", policy.name, review.kind, review.name)
    return errored(exc)


def _patch(obj: Mapping[str, Any], ops: Iterable[PatchOp]) -> Any:
    """The object with the operations applied, the original untouched. Only the containers
    on each operation's path are copied (jsonpatch's own copy is a deepcopy, which recurses
    once per level of nesting: RecursionError on hostile but valid objects)."""
    ops = list(ops)
    doc: Any = dict(obj)
    for op in ops:
        for key in ("path", "from"):
            pointer = op.get(key)
            if isinstance(pointer, str):
                doc = _copied_along(doc, pointer)
    return jsonpatch.apply_patch(doc, ops, in_place=True)


def _copied_along(doc: Any, pointer: str) -> Any:
    """`doc` with every container the pointer passes through (not its target) copied."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    parent = doc
    for token in tokens[:-1]:
        if isinstance(parent, dict) and token in parent:
            key: Any = token
        elif isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
            key = int(token)
        else:
            break  # the path does not exist: jsonpatch reports it
        child = parent[key]
        if not isinstance(child, dict | list):
            break
        parent[key] = child = dict(child) if isinstance(child, dict) else list(child)
        parent = child
    return doc


class _Tally:
    """Folds policy decisions into one outcome, applying each policy's mode."""

    def __init__(self) -> None:
        self.denials: list[str] = []
        self.warnings: list[str] = []
        self.patch: list[PatchOp] = []
        self.audit: dict[str, str] = {}
        self.results: list[PolicyResult] = []
        self.errored = False
        # The first denial's code answers, as the API server answers with its first denial's
        # reason (a ValidatingAdmissionPolicy's `reason: Invalid` is 422, not 403).
        self.code: int | None = None

    def add(self, policy: Policy, decision: Decision, mode: Mode) -> None:
        name = policy.name
        self.audit.update(decision.audit)
        tagged = tuple(f"[{name}] {m}" for m in decision.messages)
        self.warnings.extend(f"[{name}] {w}" for w in decision.warnings)
        if decision.errored:
            self.errored = True
            self.denials.extend(tagged)
            result = Result.ERROR
        elif not decision.allowed:
            result = self._refuse(name, tagged, decision.message, mode, decision.code)
        elif decision.patch and mode is Mode.ENFORCE:
            self.patch.extend(decision.patch)
            result = Result.PATCH
        elif decision.patch:
            ops = jsonpatch.JsonPatch(list(decision.patch)).to_string()
            result = self._refuse(name, (f"[{name}] would apply {ops}",), ops, mode)
        else:
            result = Result.WARN if decision.warnings else Result.ALLOW
        self.results.append(
            PolicyResult(
                name, result, decision.messages, decision.patch, decision.warnings, decision.notes
            )
        )

    def _refuse(
        self, name: str, tagged: tuple[str, ...], message: str, mode: Mode, code: int = 403
    ) -> Result:
        if mode is Mode.ENFORCE:
            self.denials.extend(tagged)
            if self.code is None:
                self.code = code if 400 <= code < 500 else 403
            return Result.DENY
        if mode is Mode.WARN:
            self.warnings.extend(tagged)
            return Result.WARN
        self.audit[audit_key(name)] = message
        log.info("audit: %s", "; ".join(tagged))
        return Result.AUDIT

    def outcome(self, obj: Mapping[str, Any] | None) -> Outcome:
        code = 500 if self.errored else (self.code or 403) if self.denials else 200
        return Outcome(
            allowed=not self.denials,
            code=code,
            messages=tuple(self.denials),
            warnings=tuple(self.warnings),
            patch=tuple(self.patch),
            audit=MappingProxyType(dict(self.audit)),
            results=tuple(self.results),
            object=obj,
            errored=self.errored,
        )
