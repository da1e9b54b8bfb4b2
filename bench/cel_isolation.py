"""Issue 15 before/after: hostile user policies in process (before) and in workers (after).

    .venv/bin/python bench/cel_isolation.py [--quick]

Each case runs in its own process so that its resident memory (RSS) is its own. "before" is
what edgeguard did until issue 15: the CEL evaluated in the server's process with the same
runtime, find() on Python's backtracking `re`. "after" is the path of `edgeguard serve` and
`review`: the policy loaded from a file and evaluated by the worker pool (deadline 1 s,
512 MiB per worker, the cost meter). Prints one JSON document and a table; figures are in
bench/README.md. Loopback-free and offline: no server is started.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REDOS = "^([a-z0-9]+-?)+$"
NAMES = (
    "object.spec.extra.names.all(n, object.spec.extra.names.indexOf(n) =="
    " object.spec.extra.names.lastIndexOf(n))"
)
QUANTITY = "quantity(object.spec.extra.memory).compareTo(quantity('4Gi')) <= 0"


def doubling(times: int) -> str:
    """A 16-character string doubled `times` times with cel.bind, as in issue 15."""
    binds = "".join(f"cel.bind(s{i + 1}, s{i} + s{i}, " for i in range(times))
    return f"cel.bind(s0, 'xxxxxxxxxxxxxxxx', {binds}size(s{times}) > 0" + ")" * (times + 1)


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pool_object(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "openvox.voxpupuli.org/v1alpha1",
        "kind": "Pool",
        "metadata": {"name": "p1", "namespace": "puppet"},
        "spec": {"extra": extra},
    }


# --- one case, in this process -----------------------------------------------------------


def before(expression: str, obj: dict[str, Any], repeat: int = 1) -> dict[str, Any]:
    """The expression evaluated in this process, one activation per request (the old path)."""
    from webhook.cel.cost import METER
    from webhook.cel.runtime import CelEvalError
    from webhook.vap.evaluate import environment

    env = environment()
    program = env.compile(expression)
    METER.limit = 2**62  # the old path had no cost limit
    rss0, start, result = rss_mib(), time.perf_counter(), ""
    for _ in range(repeat):
        activation = env.activation({"object": obj, "oldObject": None, "variables": {}})
        try:
            result = str(program.evaluate(activation))
        except CelEvalError as exc:
            result = f"error: {exc}"
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds / repeat,
        "rss_before_mib": rss0,
        "rss_after_mib": rss_mib(),
        "peak_mib": peak_mib(),
        "result": result[:120],
    }


def redos_before(length: int) -> dict[str, Any]:
    """find() as it was: Python's `re` (backtracking) on the issue's pattern."""
    label = "a" * length + "!"
    start = time.perf_counter()
    match = re.compile(REDOS).search(label)
    return {"seconds": time.perf_counter() - start, "result": str(match is not None)}


def after(expression: str, obj: dict[str, Any], repeat: int = 1, **pool: Any) -> dict[str, Any]:
    """The expression as a user policy of `edgeguard serve`: loaded from a file, evaluated by
    the worker pool; the server process's RSS and the workers' as they report it."""
    from policies.gateway.indexes import INDEXES
    from webhook.cluster.memory import MemoryView
    from webhook.core.review import Review
    from webhook.vap.load import load_user_policies
    from webhook.vap.workers import Pool, WorkerSettings

    workers = Pool(WorkerSettings(**pool))
    workers.start()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "policy.yaml"
        path.write_text(_policy(expression))
        [policy] = load_user_policies([path], evaluator=workers)
    restarts: list[str] = []
    workers.on_restart = restarts.append
    review = Review.from_manifest(obj)
    view = MemoryView(derive=INDEXES, kept={})
    policy(review, view, {})  # the workers are up and have compiled the policy
    rss0, start = rss_mib(), time.perf_counter()
    latencies, decision = [], None
    for _ in range(repeat):
        begin = time.perf_counter()
        decision = policy(review, view, {})
        latencies.append(time.perf_counter() - begin)
    seconds = time.perf_counter() - start
    worker_rss = _worker_rss(workers)
    workers.close()
    latencies.sort()
    assert decision is not None
    return {
        "seconds": seconds / repeat,
        "p99_seconds": latencies[int(len(latencies) * 0.99) - 1] if repeat >= 100 else None,
        "server_rss_before_mib": rss0,
        "server_rss_after_mib": rss_mib(),
        "worker_rss_mib": worker_rss,
        "worker_restarts": restarts,
        "result": (decision.messages or decision.warnings or ("allowed",))[0][:120],
    }


def _worker_rss(workers: Any) -> list[float]:
    found = []
    for pid in workers.pids():
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
                found.append(round(int(statm.read().split()[1]) * 4096 / 2**20, 1))
        except OSError:
            continue
    return found


def _policy(expression: str) -> str:
    quoted = expression.replace('"', '\\"')
    return f"""\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: bench}}
spec:
  matchConstraints:
    resourceRules:
    - {{apiGroups: [openvox.voxpupuli.org], apiVersions: [v1alpha1], operations: [CREATE],
       resources: [pools]}}
  validations:
  - expression: "{quoted}"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: b}}
spec: {{policyName: bench, validationActions: [Deny]}}
"""


def case(name: str, quick: bool) -> dict[str, Any]:
    names = [f"name-{i}" for i in range(5000)]
    leak_requests = 2000 if quick else 10_000
    cases: dict[str, Any] = {
        "redos_before_22": lambda: redos_before(22),
        "redos_before_24": lambda: redos_before(24),
        "redos_after_28": lambda: after(f"object.spec.extra.label.find('{REDOS}') == ''",
                                        pool_object(label="a" * 28 + "!"), 100),
        "redos_after_100000": lambda: after(f"object.spec.extra.label.find('{REDOS}') == ''",
                                            pool_object(label="a" * 100_000 + "!"), 20),
        # The old path over 1,000 names (5,000 takes about 25 times as long: every call
        # converts the whole list); the new one over the 5,000.
        "names_before_1000": lambda: before(NAMES, pool_object(names=names[:1000])),
        "names_after_5000": lambda: after(NAMES, pool_object(names=names), 5),
        "doubling_before_22": lambda: before(doubling(22), pool_object()),
        "doubling_after_22": lambda: after(doubling(22), pool_object(), 3),
        "doubling_after_26": lambda: after(doubling(26), pool_object(), 3),
        "quantity_before": lambda: before(QUANTITY, pool_object(memory="1Gi"), leak_requests),
        "quantity_after": lambda: after(QUANTITY, pool_object(memory="1Gi"), leak_requests),
        "quantity_after_recycle_1000": lambda: after(
            QUANTITY, pool_object(memory="1Gi"), leak_requests, recycle_after=1000
        ),
    }
    return dict(cases[name]())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # one case, in this process
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(case(args.case, args.quick)))
        return 0
    names = [
        "redos_before_22", "redos_before_24", "redos_after_28", "redos_after_100000",
        "names_before_1000", "names_after_5000",
        "doubling_before_22", "doubling_after_22", "doubling_after_26",
        "quantity_before", "quantity_after", "quantity_after_recycle_1000",
    ]
    results: dict[str, Any] = {}
    for name in names:
        command = [sys.executable, __file__, "--case", name, *(["--quick"] if args.quick else [])]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        results[name] = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr}
    print(json.dumps(results, indent=2))
    print(_table(results, 2000 if args.quick else 10_000))
    return 0


def _table(results: dict[str, Any], requests: int) -> str:
    def ms(name: str) -> str:
        return f"{results[name].get('seconds', float('nan')) * 1000:.1f}"

    redos22, redos24 = results["redos_before_22"]["seconds"], results["redos_before_24"]["seconds"]
    growth = (redos24 / redos22) ** 0.5  # per character
    lines = [
        "| case | before | after | after/before |",
        "|---|---|---|---|",
        f"| ReDoS, 22 / 24 characters (re) | {ms('redos_before_22')} / {ms('redos_before_24')} ms"
        f" (x{growth:.2f} per character; 28: ~{redos24 * growth**4:.1f} s) |"
        f" 28: {ms('redos_after_28')} ms, 100,000: {ms('redos_after_100000')} ms |"
        f" {results['redos_after_28']['seconds'] / (redos24 * growth**4):.5f} |",
    ]
    for before_name, after_name, title in (
        ("names_before_1000", "names_after_5000", "names (1,000 before / 5,000 after)"),
        ("doubling_before_22", "doubling_after_22", "string doubled 22 times"),
        ("doubling_before_22", "doubling_after_26", "string doubled 26 times (after)"),
    ):
        b, a = results[before_name], results[after_name]
        lines.append(
            f"| {title} | {ms(before_name)} ms, RSS {b['rss_before_mib']:.0f}→"
            f"{b['rss_after_mib']:.0f} MiB | {ms(after_name)} ms, server RSS"
            f" {a['server_rss_before_mib']:.0f}→{a['server_rss_after_mib']:.0f} MiB, workers"
            f" {a['worker_rss_mib']} MiB | {a['seconds'] / b['seconds']:.3f} |"
        )
    for name in ("quantity_before", "quantity_after", "quantity_after_recycle_1000"):
        r = results[name]
        first, last = (
            (r["rss_before_mib"], r["rss_after_mib"])
            if "rss_before_mib" in r
            else (r["server_rss_before_mib"], r["server_rss_after_mib"])
        )
        per = (last - first) * 2**20 / requests
        lines.append(
            f"| quantity policy x {requests:,} ({name}) | {r['seconds'] * 1e6:.0f} µs/request |"
            f" process RSS {first:.1f}→{last:.1f} MiB ({per:.0f} B/request), workers"
            f" {r.get('worker_rss_mib', '-')} MiB, restarts {len(r.get('worker_restarts', []))}"
            " | |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
