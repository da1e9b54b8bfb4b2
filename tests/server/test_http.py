"""The HTTPS transport: exact AdmissionReview responses and exact 4xx errors."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from tests.support import (
    AUDITED,
    TEST_POLICIES,
    WIDGET,
    admission_review,
    make_tls,
    make_view,
    nested,
    running,
    widget,
)
from webhook.cluster.memory import MemoryView
from webhook.core.config import Config
from webhook.core.decision import Decision, denied
from webhook.core.kinds import SERVICE, TLSROUTE
from webhook.core.policy import Policy, Settings
from webhook.core.review import Review
from webhook.core.view import ClusterView
from webhook.engine import Engine
from webhook.server.http import ServerState, make_app

UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def state(max_body: int = 3 * 1024 * 1024, synced: bool = True) -> ServerState:
    shipped = [*TEST_POLICIES, AUDITED]
    engine = Engine(shipped, Config.defaults(shipped))
    return ServerState(engine, make_view(synced=synced), max_body=max_body)


async def post(path: str, body: Any, st: ServerState | None = None) -> tuple[int, Any]:
    async with (
        running(make_app(st or state()), make_tls()) as (base, client),
        client.post(base + path, json=body) as resp,
    ):
        return resp.status, await resp.json()


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_allowed_answers_in_the_request_version(version: str) -> None:
    status, body = await post("/validate", admission_review(widget(), version=version))
    assert status == 200
    assert body == {
        "apiVersion": f"admission.k8s.io/{version}",
        "kind": "AdmissionReview",
        "response": {"uid": UID, "allowed": True},
    }


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_every_denial_is_reported_and_names_its_policy(version: str) -> None:
    obj = widget(labels={"forbidden": "x", "twice": "y", "forbidden2": ""})
    status, body = await post("/validate", admission_review(obj, version=version))
    assert status == 200
    assert body == {
        "apiVersion": f"admission.k8s.io/{version}",
        "kind": "AdmissionReview",
        "response": {
            "uid": UID,
            "allowed": False,
            "status": {
                "code": 403,
                "reason": "Forbidden",
                "message": "[no-forbidden-label] label forbidden is set at "
                "metadata.labels.forbidden; remove it; [two-denials] first problem; "
                "[two-denials] second problem",
            },
            "auditAnnotations": {
                "audited": "label forbidden is set at metadata.labels.forbidden; remove it"
            },
        },
    }


async def test_warnings_go_to_response_warnings() -> None:
    status, body = await post("/validate", admission_review(widget(labels={"warn": "1"})))
    assert status == 200
    assert body["response"] == {
        "uid": UID,
        "allowed": True,
        "warnings": ["[size-warning] size is 1"],
    }


async def test_a_policy_that_raises_denies_with_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="edgeguard.engine")
    status, body = await post("/validate", admission_review(widget(labels={"crash": "1"})))
    assert status == 200
    assert body["response"] == {
        "uid": UID,
        "allowed": False,
        "status": {
            "code": 500,
            "reason": "InternalError",
            "message": "[crashes-on-label] internal error: KeyError: 'spec.missing'",
        },
    }
    record = caplog.records[-1]
    assert record.getMessage() == (
        "policy crashes-on-label raised on example.com/v1, Kind=Widget w1"
    )
    assert record.exc_info is not None and record.exc_info[0] is KeyError


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
async def test_mutation_chains_policies_into_one_patch(version: str) -> None:
    status, body = await post("/mutate", admission_review(widget(), version=version))
    response = body["response"]
    assert status == 200
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == [
        {"op": "add", "path": "/metadata/labels/team", "value": "edge"},
        {"op": "add", "path": "/metadata/annotations", "value": {"team": "edge"}},
    ]
    assert set(response) == {"uid", "allowed", "patchType", "patch"}


async def test_mutation_without_change_has_no_patch_fields() -> None:
    obj = widget(labels={"team": "core"})
    obj["metadata"]["annotations"] = {"team": "core"}
    assert await post("/mutate", admission_review(obj)) == (
        200,
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": UID, "allowed": True},
        },
    )


async def test_delete_without_object_is_reviewed_on_old_object() -> None:
    review = admission_review(None, operation="DELETE", old=widget(labels={"forbidden": "1"}))
    status, body = await post("/validate", review)
    assert (status, body["response"]["allowed"]) == (200, False)


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not-an-object", [1, 2], "body must be a JSON object (an AdmissionReview)"),
    (
        "wrong-api-version",
        {"apiVersion": "v1", "kind": "AdmissionReview"},
        "apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1, got 'v1'",
    ),
    (
        "wrong-kind",
        {"apiVersion": "admission.k8s.io/v1", "kind": "Pod"},
        "kind must be AdmissionReview, got 'Pod'",
    ),
    (
        "no-request",
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        "request is missing or is not an object",
    ),
]


def _without(field: str) -> dict[str, Any]:
    review = admission_review(widget())
    del review["request"][field]
    return review


@pytest.mark.parametrize(
    ("body", "message"),
    [
        *[(body, message) for _, body, message in BAD_BODIES],
        (_without("uid"), "request.uid is missing or is not a non-empty string"),
        (_without("kind"), "request.kind is missing or is not an object"),
        (
            _without("operation"),
            "request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got None",
        ),
        (_without("object"), "request.object is required for CREATE"),
        (
            admission_review(widget(), operation="UPDATE"),
            "request.oldObject is required for UPDATE",
        ),
    ],
)
async def test_malformed_reviews_get_400_with_the_reason(body: Any, message: str) -> None:
    assert await post("/validate", body) == (400, {"error": message})


async def _raw(
    method: str, path: str, data: bytes, content_type: str, st: ServerState | None = None
) -> tuple[int, Any, str]:
    async with running(make_app(st or state()), make_tls()) as (base, client):
        headers = {"Content-Type": content_type}
        async with client.request(method, base + path, data=data, headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers.get("Allow", "")


async def test_wrong_method_is_405() -> None:
    status, body, allow = await _raw("GET", "/validate", b"", "application/json")
    assert (status, body, allow) == (
        405,
        {"error": "method GET not allowed; use POST"},
        "POST",
    )


async def test_non_json_content_type_is_415() -> None:
    status, body, _ = await _raw("POST", "/mutate", b"{}", "text/plain")
    assert (status, body) == (
        415,
        {"error": "content type text/plain not supported; use application/json"},
    )


async def test_body_over_the_limit_is_413() -> None:
    data = json.dumps(admission_review(widget())).encode()
    status, body, _ = await _raw("POST", "/validate", data, "application/json", state(100))
    assert (status, body) == (
        413,
        {"error": f"body of {len(data)} bytes exceeds the limit of 100 bytes"},
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"{not json",
            "body is not valid JSON: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
        (b"", "empty body: expected an AdmissionReview"),
        (b"[" * 100000, "body is not valid JSON: nested too deeply"),
        (
            b"\x80abc",
            "body is not valid JSON: 'utf-8' codec can't decode byte 0x80 in "
            "position 0: invalid start byte",
        ),
    ],
)
async def test_unparsable_json_is_400(data: bytes, message: str) -> None:
    status, body, _ = await _raw("POST", "/validate", data, "application/json")
    assert (status, body) == (400, {"error": message})


async def test_health_readiness_and_metrics() -> None:
    st = state(synced=False)
    st.checks["certificate"] = lambda: True
    async with running(make_app(st), make_tls()) as (base, client):
        async with client.get(base + "/healthz") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
        async with client.get(base + "/readyz") as resp:
            assert (resp.status, await resp.json()) == (
                503,
                {"ready": False, "checks": {"certificate": True, "view": False}},
            )
        assert isinstance(st.view, MemoryView)
        st.view.mark_synced()
        async with client.get(base + "/readyz") as resp:
            assert (resp.status, await resp.json()) == (
                200,
                {"ready": True, "checks": {"certificate": True, "view": True}},
            )
        st.view.mark_stale(frozenset({TLSROUTE, SERVICE}))
        async with client.get(base + "/readyz") as resp:
            assert (resp.status, await resp.json()) == (
                503,
                {
                    "ready": False,
                    "checks": {"certificate": True, "view": False},
                    "staleKinds": ["Service", "TLSRoute.gateway.networking.k8s.io"],
                },
            )
        st.view.mark_stale(frozenset())
        review = admission_review(widget(labels={"forbidden": "1"}))
        async with client.post(base + "/validate", json=review) as resp:
            assert resp.status == 200
        async with client.get(base + "/metrics") as resp:
            text = await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    lines = set(text.splitlines())
    assert (
        'edgeguard_admission_requests_total{decision="denied",endpoint="validate",'
        'kind="Widget.example.com",operation="CREATE"} 1.0'
    ) in lines
    assert (
        'edgeguard_policy_evaluations_total{policy="no-forbidden-label",result="deny"} 1.0' in lines
    )
    assert 'edgeguard_policy_evaluations_total{policy="audited",result="audit"} 1.0' in lines
    assert 'edgeguard_admission_duration_seconds_count{endpoint="validate"} 1.0' in lines


async def test_decision_log_line_has_no_object_content(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edgeguard.admission")
    secret = widget(labels={"forbidden": "1"})
    secret["data"] = {"password": "aHVudGVyMg=="}
    await post("/validate", admission_review(secret, dry_run=True))
    record = next(r for r in caplog.records if r.name == "edgeguard.admission")
    fields = record.__dict__["fields"]
    latency = fields.pop("latencyMs")
    assert isinstance(latency, float) and latency >= 0
    assert fields == {
        "endpoint": "validate",
        "uid": UID,
        "kind": "example.com/v1, Kind=Widget",
        "object": "default/w1",
        "operation": "CREATE",
        "dryRun": True,
        "user": "alice",
        "decision": "denied",
        "policies": ["no-forbidden-label", "audited"],
        "denied": ["no-forbidden-label"],
        "warned": [],
        "message": "[no-forbidden-label] label forbidden is set at metadata.labels.forbidden;"
        " remove it",
        "warnings": "",
        "patched": False,
    }
    assert "aHVudGVyMg" not in caplog.text


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "stdlib"])
def test_json_codec_gives_the_same_answers_with_or_without_orjson(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webhook.core import json as codec
    from webhook.server import http as server

    if not fast:
        monkeypatch.setattr(codec, "orjson", None)
    assert server.parse_json(b'{"a": [1, "\\u00e9", null]}') == {"a": [1, "é", None]}
    assert server.parse_json(b"[NaN]")[0] != 0  # the standard library's leniency, kept
    with pytest.raises(ValueError, match="Expecting value: line 1 column 1"):
        server.parse_json(b"nope")
    assert json.loads(server.dump_json({"b": [True, "é"]})) == {"b": [True, "é"]}


def _echo_name(review: Review, view: ClusterView, settings: Settings) -> Decision:
    return denied(f"name {review.name} is not allowed")


async def test_a_deeply_nested_object_is_mutated_not_a_500() -> None:
    obj = widget()
    obj["spec"]["deep"] = nested(800)  # jsonpatch's deepcopy recursed past the limit here
    status, body = await post("/mutate", admission_review(obj))
    assert status == 200
    response = body["response"]
    assert (response["allowed"], response["patchType"]) == (True, "JSONPatch")
    assert json.loads(base64.b64decode(response["patch"])) == [
        {"op": "add", "path": "/metadata/labels/team", "value": "edge"},
        {"op": "add", "path": "/metadata/annotations", "value": {"team": "edge"}},
    ]


async def test_a_uid_with_a_lone_surrogate_is_400_not_500() -> None:
    body = json.dumps(admission_review(widget(), uid="\ud800")).encode()
    status, answer, _ = await _raw("POST", "/validate", body, "application/json")
    assert (status, answer) == (
        400,
        {"error": "request.uid is not valid Unicode text (it has a lone surrogate)"},
    )


async def test_a_message_echoing_a_lone_surrogate_is_still_written() -> None:
    echo = Policy("echo-name", frozenset({WIDGET}), _echo_name)
    st = ServerState(Engine([echo], Config.defaults([echo])), make_view())
    body = json.dumps(admission_review(widget(name="w\udc80"))).encode()
    status, answer, _ = await _raw("POST", "/validate", body, "application/json", st)
    assert status == 200
    assert answer["response"] == {
        "uid": UID,
        "allowed": False,
        "status": {
            "code": 403,
            "reason": "Forbidden",
            "message": "[echo-name] name w\udc80 is not allowed",
        },
    }
