"""Issue 15 end to end: hostile user policies over HTTPS and in `edgeguard review`.

The server answers other requests while a user policy is evaluated (its CEL runs in a worker
process), and each case gets its exact AdmissionReview response.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import admission_review, make_tls, make_view, running
from tests.vap.test_workers import (
    NAMES,
    POLICY,
    QUANTITY,
    REDOS,
    SLOW,
    load,
    patient,
    pool,
    pool_object,
    slow_object,
    validation,
)
from webhook.cel.cost import LIMIT_EXCEEDED
from webhook.cli import main
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.server.http import ServerState, make_app
from webhook.vap.workers import Pool

__all__ = ["patient", "pool"]  # the worker-pool fixtures, shared with tests/vap/test_workers
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def state(tmp_path: Path, pool: Pool, body: str, failure: str = "Fail") -> ServerState:
    user = [load(tmp_path, body, pool, failure)]
    served = ServerState(Engine(user, Config.defaults(user)), make_view())
    pool.on_failure = served.metrics.user_policy_failed
    return served


def denied(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": UID,
            "allowed": False,
            "status": {"code": code, "reason": reason, "message": message},
        },
    }


async def admit(served: ServerState, obj: dict[str, Any]) -> Any:
    async with (
        running(make_app(served), make_tls()) as (base, client),
        client.post(base + "/validate", json=admission_review(obj)) as resp,
    ):
        assert resp.status == 200
        return await resp.json()


async def test_case_1_redos_is_answered_at_once_with_its_reason(tmp_path: Path, pool: Pool) -> None:
    served = state(tmp_path, pool, validation(REDOS, "label must be dash-separated"))
    body = await admit(served, pool_object(label="a" * 30 + "!"))
    assert body == denied(422, "Invalid", "[pools/b] label must be dash-separated")


async def test_case_2_the_cost_limit_answers_with_the_api_servers_words(
    tmp_path: Path, patient: Pool
) -> None:
    served = state(tmp_path, patient, validation(NAMES))
    body = await admit(served, pool_object(names=[f"name-{i}" for i in range(5000)]))
    message = f"[pools/b] expression '{NAMES}' resulted in error: {LIMIT_EXCEEDED}"
    assert body == denied(422, "Invalid", message)


async def test_case_3_the_quantity_policy_admits(tmp_path: Path, pool: Pool) -> None:
    served = state(tmp_path, pool, validation(QUANTITY))
    body = await admit(served, pool_object(memory="1Gi"))
    assert body["response"] == {"uid": UID, "allowed": True}


async def test_health_answers_while_a_hostile_evaluation_runs(tmp_path: Path, pool: Pool) -> None:
    served = state(tmp_path, pool, validation(SLOW))
    obj = slow_object()
    async with running(make_app(served), make_tls()) as (base, client):
        hostile = asyncio.create_task(client.post(base + "/validate", json=admission_review(obj)))
        await asyncio.sleep(0.3)  # the evaluation is under way in a worker
        started = time.monotonic()
        async with client.get(base + "/healthz") as health:
            assert (health.status, await health.json()) == (200, {"status": "ok"})
        assert time.monotonic() - started < 0.1
        assert not hostile.done()
        async with await hostile as resp:
            body = await resp.json()
        async with client.get(base + "/metrics") as metrics:
            text = await metrics.text()
    message = "[pools/b] evaluation failed: did not finish within 1 s; its worker was stopped"
    assert body == denied(422, "Invalid", message)
    assert 'edgeguard_user_policy_failures_total{kind="timeout",policy="pools/b"} 1.0' in text


async def test_failure_policy_ignore_admits_with_a_warning(tmp_path: Path, pool: Pool) -> None:
    served = state(tmp_path, pool, validation(SLOW), failure="Ignore")
    obj = slow_object()
    body = await admit(served, obj)
    assert body["response"] == {
        "uid": UID,
        "allowed": True,
        "warnings": [
            "[pools/b] evaluation failed: did not finish within 1 s; its worker was stopped;"
            " ignored (failurePolicy: Ignore)"
        ],
    }


@pytest.mark.parametrize(
    ("reason", "code"),
    [("Forbidden", 403), ("Unauthorized", 401), ("RequestEntityTooLarge", 413), ("Invalid", 422)],
)
async def test_a_validations_reason_is_the_answers_reason_and_code(
    tmp_path: Path, pool: Pool, reason: str, code: int
) -> None:
    body = f"  validations:\n  - expression: 'false'\n    message: refused\n    reason: {reason}"
    body = await admit(state(tmp_path, pool, body), pool_object())
    assert body == denied(code, reason, "[pools/b] refused")


async def test_audit_annotation_keys_are_one_segment(tmp_path: Path, pool: Pool) -> None:
    annotations = "  auditAnnotations:\n  - key: owner\n    valueExpression: object.metadata.name"
    body = await admit(state(tmp_path, pool, annotations), pool_object())
    assert body["response"] == {
        "uid": UID,
        "allowed": True,
        "auditAnnotations": {"pools_owner": "p1"},
    }


def write(tmp_path: Path, body: str, obj: dict[str, Any]) -> tuple[Path, Path]:
    policy, manifest = tmp_path / "policy.yaml", tmp_path / "pool.json"
    policy.write_text(POLICY.format(failure="Fail", body=body))
    manifest.write_text(json.dumps(obj))
    return policy, manifest


def test_review_reports_a_deadline_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = slow_object()
    policy, manifest = write(tmp_path, validation(SLOW), obj)
    args = ["review", "--cel-workers", "1", "--policy", str(policy), str(manifest)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert (
        "  DENY  pools/b: evaluation failed: did not finish within 1 s; its worker was stopped\n"
    ) in out


def test_review_refuses_the_crashing_policy_at_load_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = "has(object.spec.route) ? object.spec.route : {'service': object.spec.?service}"
    body = (
        f'  variables:\n  - name: route\n    expression: "{route}"\n'
        "  validations:\n  - expression: variables.route != null"
    )
    policy, manifest = write(tmp_path, body, pool_object())
    assert main(["review", "--policy", str(policy), str(manifest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"edgeguard: error: user policy error: {policy}:14: spec.variables[0].expression:"
        f" cannot compile {route!r}: the result may hold an optional value"
    )
