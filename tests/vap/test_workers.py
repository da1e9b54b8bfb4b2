"""webhook.vap.workers: deadline, crash, memory, cost limit and recycling, through real workers.

Each case of issue 15 is a Pool policy and object; the verdict is asserted exactly. Slow
evaluations are made with cel-cpp's own string operations (not metered, so only the deadline
stops them).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import make_view
from webhook.cel.cost import LIMIT_EXCEEDED, OUT_OF_BUDGET
from webhook.cli import main
from webhook.core.decision import Decision
from webhook.core.policy import Policy
from webhook.core.review import Review
from webhook.vap.bound import WorkerFailure
from webhook.vap.load import VAPError, load_user_policies
from webhook.vap.workers import Pool, WorkerSettings, WorkerSettingsError, WorkerStartError

POLICY = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: pools}}
spec:
  failurePolicy: {failure}
  matchConstraints:
    resourceRules:
    - apiGroups: [openvox.voxpupuli.org]
      apiVersions: [v1alpha1]
      operations: [CREATE, UPDATE]
      resources: [pools]
{body}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: b}}
spec: {{policyName: pools, validationActions: [Deny]}}
"""
REDOS = "object.spec.extra.label.find('^([a-z0-9]+-?)+$') == object.spec.extra.label"
NAMES = (
    "object.spec.extra.names.all(n, object.spec.extra.names.indexOf(n) =="
    " object.spec.extra.names.lastIndexOf(n))"
)
# 5,000 RE2 searches of a 500 KB string inside cel-cpp: about 5 s here, unmetered.
SLOW = (
    "cel.bind(b, object.spec.extra.big, object.spec.extra.names.all(n, !b.matches(n + '|a+b')))"
)
# 16 characters doubled 26 times: 1 GiB, past the 512 MiB address space of a worker.
DOUBLING = "cel.bind(s0, 'xxxxxxxxxxxxxxxx', " + "".join(
    f"cel.bind(s{i + 1}, s{i} + s{i}, " for i in range(26)
) + "size(s26) > 0" + ")" * 27
QUANTITY = "quantity(object.spec.extra.memory).compareTo(quantity('4Gi')) <= 0"


def validation(expression: str, message: str = "") -> str:
    quoted = expression.replace('"', '\\"')
    extra = f"\n    message: {message}" if message else ""
    return f'  validations:\n  - expression: "{quoted}"{extra}'


def pool_object(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "openvox.voxpupuli.org/v1alpha1",
        "kind": "Pool",
        "metadata": {"name": "p1", "namespace": "puppet"},
        "spec": {"extra": extra},
    }


def slow_object() -> dict[str, Any]:
    return pool_object(big="a" * 500_000, names=[f"n{i}" for i in range(5000)])


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    workers = Pool(WorkerSettings(workers=2, timeout=1.0))
    workers.start()
    yield workers
    workers.close()


@pytest.fixture(scope="module")
def patient() -> Iterator[Pool]:
    """A long deadline, for verdicts that must not depend on the machine's speed."""
    workers = Pool(WorkerSettings(workers=1, timeout=20.0))
    workers.start()
    yield workers
    workers.close()


def load(tmp_path: Path, body: str, pool: Pool, failure: str = "Fail") -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(failure=failure, body=body))
    [policy] = load_user_policies([path], evaluator=pool)
    return policy


def decide(policy: Policy, obj: dict[str, Any]) -> Decision:
    return policy(Review.from_manifest(obj), make_view(), {})


def test_case_1_redos_pattern_answers_at_once_with_re2(tmp_path: Path, pool: Pool) -> None:
    policy = load(tmp_path, validation(REDOS, "label must be dash-separated"), pool)
    assert decide(policy, pool_object(label="a" * 30 + "!")) == Decision(
        False, ("label must be dash-separated",), 422
    )
    assert decide(policy, pool_object(label="web-1-a")) == Decision(True)


def test_case_2_five_thousand_names_run_out_of_the_per_call_limit(
    tmp_path: Path, patient: Pool
) -> None:
    policy = load(tmp_path, validation(NAMES), patient)
    names = [f"name-{i}" for i in range(5000)]
    assert decide(policy, pool_object(names=names)) == Decision(
        False, (f"expression '{NAMES}' resulted in error: {LIMIT_EXCEEDED}",), 422
    )
    assert decide(policy, pool_object(names=names[:50])) == Decision(True)


def test_case_2_the_per_request_budget_stops_the_evaluation(
    tmp_path: Path, patient: Pool
) -> None:
    # A find() over 9,999 characters with a 400-character pattern costs 1,000 * 100 units;
    # each validation makes 9 (900,000, under the per-call limit): the twelfth passes the
    # 10,000,000 budget.
    pattern = "[a-z]+|" + "b" * 393
    check = f"object.spec.extra.n.all(i, object.spec.extra.long.find('{pattern}') != '')"
    # A validation that fails first: as in the API server, the budget error replaces it.
    body = "  validations:\n  - expression: 'false'\n    message: first\n" + "".join(
        f'  - expression: "{check}"\n    message: m{i}\n' for i in range(12)
    )
    policy = load(tmp_path, body.rstrip("\n"), patient)
    obj = pool_object(long="a" * 9_999, n=list(range(9)))
    assert decide(policy, obj) == Decision(False, (OUT_OF_BUDGET,), 422)
    under = decide(policy, pool_object(long="a" * 9_999, n=list(range(8))))
    assert under == Decision(False, ("first",), 422)


def test_case_2_a_string_past_the_address_space_is_the_policys_failure(
    tmp_path: Path, patient: Pool
) -> None:
    policy = load(tmp_path, validation(DOUBLING), patient)
    message = "evaluation failed: the worker ran out of memory (its limit: 512 MiB, --cel-memory)"
    assert decide(policy, pool_object()) == Decision(False, (message,), 422)
    # The worker was replaced: the next evaluation is answered.
    quantity = load(tmp_path, validation(QUANTITY), patient)
    assert decide(quantity, pool_object(memory="1Gi")) == Decision(True)


def test_a_slow_evaluation_is_stopped_at_the_deadline(tmp_path: Path, pool: Pool) -> None:
    policy = load(tmp_path, validation(SLOW), pool)
    obj = slow_object()
    start = time.monotonic()
    decision = decide(policy, obj)
    assert time.monotonic() - start < 2.0
    message = "evaluation failed: did not finish within 1 s; its worker was stopped"
    assert decision == Decision(False, (message,), 422)


def test_failure_policy_ignore_allows_with_a_warning(tmp_path: Path, pool: Pool) -> None:
    policy = load(tmp_path, validation(SLOW), pool, failure="Ignore")
    obj = slow_object()
    warning = (
        "evaluation failed: did not finish within 1 s; its worker was stopped; ignored"
        " (failurePolicy: Ignore)"
    )
    assert decide(policy, obj) == Decision(True, warnings=(warning,))


def test_case_4_the_crashing_variable_is_refused_at_load(tmp_path: Path, pool: Pool) -> None:
    route = "has(object.spec.route) ? object.spec.route : {'service': object.spec.?service}"
    body = (
        f'  variables:\n  - name: route\n    expression: "{route}"\n'
        "  validations:\n  - expression: variables.route != null"
    )
    with pytest.raises(VAPError) as caught:
        load(tmp_path, body, pool)
    assert str(caught.value) == (
        f"{tmp_path / 'policy.yaml'}:14: spec.variables[0].expression: cannot compile {route!r}:"
        " the result may hold an optional value (at {'service': ...}), which edgeguard cannot"
        " hand back from CEL; make it an optional entry ({?'key': x.?field}, [?x.?field]) or"
        " use .orValue(default)"
    )


def test_a_worker_killed_by_a_signal_is_the_policys_failure(tmp_path: Path) -> None:
    own = Pool(WorkerSettings(workers=1, timeout=10.0))
    try:
        policy = load(tmp_path, validation(SLOW), own)
        obj = slow_object()
        own.start()
        [pid] = own.pids()
        threading.Timer(0.5, os.kill, (pid, signal.SIGSEGV)).start()
        message = "evaluation failed: the worker was killed by SIGSEGV"
        assert decide(policy, obj) == Decision(False, (message,), 422)
        quantity = load(tmp_path, validation(QUANTITY), own)
        assert decide(quantity, pool_object(memory="8Gi")) == Decision(
            False, (f"failed expression: {QUANTITY}",), 422
        )
    finally:
        own.close()


def test_workers_are_recycled_after_a_number_of_jobs(tmp_path: Path) -> None:
    own = Pool(WorkerSettings(workers=1, recycle_after=3))
    try:
        policy = load(tmp_path, validation(QUANTITY), own)
        own.start()
        first = own.pids()
        for _ in range(3):
            assert decide(policy, pool_object(memory="1Gi")) == Decision(True)
        assert decide(policy, pool_object(memory="1Gi")) == Decision(True)
        assert own.pids() != first
    finally:
        own.close()


def test_failures_are_reported_to_the_pool_listener(tmp_path: Path) -> None:
    own = Pool(WorkerSettings(workers=1, timeout=0.5))
    seen: list[tuple[str, str]] = []
    own.on_failure = lambda policy, kind: seen.append((policy, kind))
    try:
        policy = load(tmp_path, validation(SLOW), own)
        obj = slow_object()
        assert decide(policy, obj).allowed is False
        assert seen == [("pools/b", "timeout")]
    finally:
        own.close()


def test_no_free_worker_before_the_deadline_is_a_timeout(tmp_path: Path) -> None:
    own = Pool(WorkerSettings(workers=1, timeout=0.5))
    try:
        policy = load(tmp_path, validation(SLOW), own)
        obj = slow_object()
        own.start()
        busy = threading.Thread(target=decide, args=(policy, obj))
        busy.start()
        deadline = time.monotonic() + 30.0  # until the slow evaluation holds the only worker
        while own._idle.qsize() and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(WorkerFailure) as caught:
            own.run(b"{}")
        busy.join()
        assert (caught.value.kind, str(caught.value)) == (
            "timeout",
            "no CEL worker became free within 0.5 s",
        )
    finally:
        own.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (WorkerSettings(workers=0), "--cel-workers must be at least 1, got 0"),
        (WorkerSettings(timeout=0), "--cel-timeout must be above 0 and at most 30 s, got 0"),
        (
            WorkerSettings(memory_mib=64),
            "--cel-memory must be at least 128 MiB (or 0: no limit), got 64",
        ),
        (WorkerSettings(recycle_after=0), "--cel-recycle must be at least 1, got 0"),
    ],
)
def test_settings_out_of_range_name_their_flag(settings: WorkerSettings, message: str) -> None:
    with pytest.raises(WorkerSettingsError) as caught:
        settings.check()
    assert str(caught.value) == message


def test_a_worker_that_cannot_start_stops_the_pool_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    own = Pool(WorkerSettings(workers=1))
    with pytest.raises(WorkerStartError) as caught:
        own.start()
    assert str(caught.value) == "a CEL worker did not start: the worker exited with status 1"
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(failure="Fail", body=validation(QUANTITY)))
    manifest = tmp_path / "pool.yaml"
    manifest.write_text(json.dumps(pool_object(memory="1Gi")))
    assert main(["review", "--policy", str(policy), str(manifest)]) == 2
    assert capsys.readouterr().err == (
        "edgeguard: error: a CEL worker did not start: the worker exited with status 1\n"
    )
