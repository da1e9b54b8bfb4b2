"""The engine: matching, modes, exemptions, crash containment, mutation order."""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any

import pytest

from tests.support import (
    ADD_TEAM,
    COPY_TEAM,
    CRASHES,
    NO_FORBIDDEN,
    TEST_POLICIES,
    WIDGET,
    make_view,
    nested,
    widget,
)
from webhook.core.config import Config, PolicyConfig, ViewConfig
from webhook.core.decision import Decision, allowed
from webhook.core.kinds import GATEWAY, NAMESPACE, SERVICE, GroupKind
from webhook.core.outcome import PolicyResult, Result
from webhook.core.policy import Mode, Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView
from webhook.engine import NOT_SYNCED, Engine

VIEW = make_view()


def engine(modes: dict[str, Mode] | None = None, exempt: frozenset[str] = frozenset()) -> Engine:
    base = Config.defaults(TEST_POLICIES)
    chosen = {
        name: PolicyConfig((modes or {}).get(name, c.mode), exempt, c.settings)
        for name, c in base.policies.items()
    }
    return Engine(TEST_POLICIES, Config(MappingProxyType(chosen)))


def forbidden() -> Review:
    return Review.from_manifest(widget(labels={"forbidden": "1", "twice": "1"}))


def test_all_denials_are_reported() -> None:
    outcome = engine().validate(forbidden(), VIEW)
    assert (outcome.allowed, outcome.code) == (False, 403)
    assert outcome.messages == (
        "[no-forbidden-label] label forbidden is set at metadata.labels.forbidden; remove it",
        "[two-denials] first problem",
        "[two-denials] second problem",
    )
    assert outcome.fired == ("no-forbidden-label", "two-denials")


@pytest.mark.parametrize(
    ("mode", "allowed_", "warnings", "audit"),
    [
        (Mode.WARN, True, ("[two-denials] first problem", "[two-denials] second problem"), {}),
        (Mode.AUDIT, True, (), {"two-denials": "first problem; second problem"}),
        (Mode.OFF, True, (), {}),
    ],
)
def test_modes(
    mode: Mode, allowed_: bool, warnings: tuple[str, ...], audit: dict[str, str]
) -> None:
    review = Review.from_manifest(widget(labels={"twice": "1"}))
    outcome = engine({"two-denials": mode}).validate(review, VIEW)
    assert (outcome.allowed, outcome.warnings, dict(outcome.audit)) == (allowed_, warnings, audit)


def test_exempt_namespace_skips_the_policy() -> None:
    outcome = engine(exempt=frozenset({"default"})).validate(forbidden(), VIEW)
    assert (outcome.allowed, outcome.results) == (True, ())


def test_other_kinds_are_not_checked() -> None:
    obj = widget(labels={"forbidden": "1"}) | {"apiVersion": "other.io/v1"}
    assert engine().validate(Review.from_manifest(obj), VIEW).results == ()


def test_crash_fails_closed_even_in_warn_mode() -> None:
    review = Review.from_manifest(widget(labels={"crash": "1"}))
    outcome = engine({CRASHES.name: Mode.WARN}).validate(review, VIEW)
    assert (outcome.allowed, outcome.code, outcome.messages) == (
        False,
        500,
        ("[crashes-on-label] internal error: KeyError: 'spec.missing'",),
    )


def test_mutations_run_in_order_on_the_previous_result() -> None:
    outcome = engine().mutate(Review.from_manifest(widget()), VIEW)
    assert outcome.patch == (
        {"op": "add", "path": "/metadata/labels/team", "value": "edge"},
        {"op": "add", "path": "/metadata/annotations", "value": {"team": "edge"}},
    )
    assert outcome.object is not None
    assert outcome.object["metadata"]["annotations"] == {"team": "edge"}
    assert [r.result for r in outcome.results] == ["patch", "patch"]


def test_mutation_in_warn_mode_is_not_applied() -> None:
    outcome = engine({ADD_TEAM.name: Mode.WARN}).mutate(Review.from_manifest(widget()), VIEW)
    assert outcome.patch == ()
    assert outcome.warnings == (
        '[add-team] would apply [{"op": "add", "path": "/metadata/labels/team", "value": "edge"}]',
    )
    assert [r.policy for r in outcome.results] == [ADD_TEAM.name, COPY_TEAM.name]


def _bad_patch(review: Review, view: ClusterView, settings: Settings) -> Decision:
    return Decision(True, patch=({"op": "replace", "path": "/nope/deeper", "value": 1},))


def test_a_patch_that_does_not_apply_is_an_error() -> None:
    bad = Policy("bad-patch", frozenset({WIDGET}), _bad_patch, mutating=True)
    eng = Engine([bad], Config.defaults([bad]))
    outcome = eng.mutate(Review.from_manifest(widget()), VIEW)
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.messages[0].startswith("[bad-patch] internal error: JsonPointerException: ")


def _reads_view(review: Review, view: ClusterView, settings: Settings) -> Decision:
    return allowed()


@pytest.mark.parametrize(
    ("not_synced", "expected"),
    [
        ("Deny", (False, (f"[refs] {NOT_SYNCED}",), ())),
        ("Warn", (True, (), (f"[refs] {NOT_SYNCED}",))),
    ],
)
def test_referential_policies_wait_for_the_view(
    not_synced: str, expected: tuple[bool, tuple[str, ...], tuple[str, ...]]
) -> None:
    refs = Policy("refs", frozenset({WIDGET}), _reads_view, referential=True)
    config = Config(Config.defaults([refs]).policies, ViewConfig(not_synced=not_synced))
    outcome = Engine([refs, NO_FORBIDDEN], config).validate(
        Review.from_manifest(widget()), make_view(synced=False)
    )
    assert (outcome.allowed, outcome.messages, outcome.warnings) == expected
    if not_synced == "Deny":
        assert outcome.results[0] == PolicyResult("refs", Result.DENY, (NOT_SYNCED,))
    else:
        assert outcome.results[0] == PolicyResult("refs", Result.WARN, warnings=(NOT_SYNCED,))


GATEWAYS = Policy(
    "reads-gateways", frozenset({WIDGET}), _reads_view, referential=True, reads={GATEWAY: ()}
)
SERVICES = Policy(
    "reads-services", frozenset({WIDGET}), _reads_view, referential=True, reads={SERVICE: ()}
)
UNDECLARED = Policy("reads-anything", frozenset({WIDGET}), _reads_view, referential=True)
STALE_GATEWAYS = (
    "cluster view stale: no contact with the API server about Gateway.gateway.networking.k8s.io "
    "for over 60 s: edgeguard cannot check references to other objects"
)


@pytest.mark.parametrize(
    ("stale", "denials"),
    [
        (frozenset(), ()),
        (
            frozenset({GATEWAY}),
            (f"[reads-gateways] {STALE_GATEWAYS}", f"[reads-anything] {STALE_GATEWAYS}"),
        ),
        (
            frozenset({SERVICE, NAMESPACE}),
            (
                "[reads-services] cluster view stale: no contact with the API server about "
                "Service for over 60 s: edgeguard cannot check references to other objects",
                "[reads-anything] cluster view stale: no contact with the API server about "
                "Namespace, Service for over 60 s: edgeguard cannot check references to other "
                "objects",
            ),
        ),
    ],
    ids=["fresh", "gateways-stale", "services-and-namespaces-stale"],
)
def test_a_stale_kind_holds_back_only_the_policies_that_read_it(
    stale: frozenset[GroupKind], denials: tuple[str, ...]
) -> None:
    chosen = [GATEWAYS, SERVICES, UNDECLARED, NO_FORBIDDEN]
    view = make_view()
    view.mark_stale(stale)
    outcome = Engine(chosen, Config.defaults(chosen)).validate(forbidden(), view)
    assert outcome.messages == (
        *denials,
        "[no-forbidden-label] label forbidden is set at metadata.labels.forbidden; remove it",
    )


def test_a_stale_kind_warns_in_warn_mode_and_mutations_wait_too() -> None:
    mutating = Policy(
        "adds-gateway",
        frozenset({WIDGET}),
        _reads_view,
        mutating=True,
        referential=True,
        reads={GATEWAY: ()},
    )
    view = make_view()
    view.mark_stale(frozenset({GATEWAY}))
    warn = Config(Config.defaults([GATEWAYS]).policies, ViewConfig(not_synced="Warn"))
    validated = Engine([GATEWAYS], warn).validate(forbidden(), view)
    warned = (f"[reads-gateways] {STALE_GATEWAYS}",)
    assert (validated.allowed, validated.warnings) == (True, warned)
    mutated = Engine([mutating], Config.defaults([mutating])).mutate(forbidden(), view)
    assert (mutated.allowed, mutated.messages) == (False, (f"[adds-gateway] {STALE_GATEWAYS}",))


def test_configured_exempt_namespaces_skip_every_policy() -> None:
    config = dataclasses.replace(
        Config.defaults(TEST_POLICIES), exempt_namespaces=frozenset({"default"})
    )
    review = forbidden()
    assert review.namespace == "default"
    engine_ = Engine(TEST_POLICIES, config)
    assert engine_.validate(review, VIEW).results == ()
    assert engine_.mutate(review, VIEW).results == ()
    other = Review.from_manifest(widget(labels={"forbidden": "1"}) | {"metadata": {
        "name": "w1", "namespace": "shop", "labels": {"forbidden": "1"}}})  # fmt: skip
    assert engine_.validate(other, VIEW).allowed is False


def test_duplicate_policy_names_are_refused() -> None:
    with pytest.raises(ValueError, match="policy names must be unique: add-team"):
        Engine([ADD_TEAM, ADD_TEAM], Config.defaults([ADD_TEAM]))


def _patches(ops: list[dict[str, Any]]) -> Policy:
    def check(review: Review, view: ClusterView, settings: Settings) -> Decision:
        return Decision(True, patch=tuple(ops))

    return Policy("patches", frozenset({WIDGET}), check, mutating=True)


def test_a_patch_copies_only_what_it_changes_and_leaves_the_review_untouched() -> None:
    obj = widget()
    obj["spec"]["deep"] = nested(900)
    obj["spec"]["items"] = [{"x": 1}, {"x": 2}]
    before = json.dumps(obj)
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/items/1/x", "value": 3},
        {"op": "add", "path": "/spec/a~1b", "value": True},
        {"op": "move", "from": "/spec/size", "path": "/spec/count"},
    ]
    policy = _patches(ops)
    outcome = Engine([policy], Config.defaults([policy])).mutate(Review.from_manifest(obj), VIEW)
    assert (outcome.allowed, outcome.patch) == (True, tuple(ops))
    assert outcome.object is not None
    assert outcome.object["spec"]["items"] == [{"x": 1}, {"x": 3}]
    assert (outcome.object["spec"]["a/b"], outcome.object["spec"]["count"]) == (True, 1)
    assert "size" not in outcome.object["spec"]
    assert outcome.object["spec"]["deep"] is obj["spec"]["deep"]  # shared, not copied
    assert json.dumps(obj) == before


def test_a_patch_too_deep_to_apply_denies_naming_the_reason() -> None:
    obj = widget()
    obj["spec"]["deep"] = nested(900)
    policy = _patches([{"op": "copy", "from": "/spec/deep", "path": "/spec/again"}])
    outcome = Engine([policy], Config.defaults([policy])).mutate(Review.from_manifest(obj), VIEW)
    assert (outcome.allowed, outcome.code, outcome.messages) == (
        False,
        403,
        (
            "[patches] the object is nested too deeply to apply this policy's patch; flatten it "
            "or exempt its namespace",
        ),
    )
