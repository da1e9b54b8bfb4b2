"""The worker process: evaluates user policies' CEL, one job at a time, over a pipe.

A job is JSON bytes {"policy": PolicyText, "data": variables}; the answer is JSON bytes
{"failures": [[message, reason]...], "annotations": {...}, "rss": bytes}. Compiled policies
are cached by their text. The address space is limited at start, so a runaway evaluation
ends in a MemoryError (answered, then the worker exits) or a crash, never in the server. An
expression over the cost limit ends the evaluation at once: the worker answers and exits.
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from webhook.cel.cost import METER
from webhook.cel.runtime import CelError
from webhook.core.json import dumps, loads
from webhook.vap.evaluate import (
    VARIABLES,
    CompiledPolicy,
    PolicyText,
    Progress,
    compile_policy,
    environment,
    evaluate,
)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CACHE_SIZE = 256
READY = b"ready"  # the first message: the worker has started and can take jobs


def main(argv: list[str]) -> None:
    """`python -m webhook.vap.worker FD MEMORY`: serves jobs on the socket FD until it closes,
    in at most MEMORY bytes of address space (0: no limit)."""
    serve(Connection(int(argv[0])), int(argv[1]))


def serve(conn: Connection, memory_bytes: int) -> None:
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    environment()  # built before the first job, which should not wait for it
    conn.send_bytes(READY)
    cache: dict[bytes, CompiledPolicy] = {}
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            reply = _handle(raw, cache, lambda answer: _stop(conn, answer))
        except MemoryError:
            _stop(conn, {"error": "memory", "message": "the worker ran out of memory"})
        except (CelError, KeyError, TypeError, ValueError) as exc:
            reply = {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}
        conn.send_bytes(dumps(reply))


def _handle(
    raw: bytes, cache: dict[bytes, CompiledPolicy], stop: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    start = raw.index(b',"data":')
    key = raw[len(b'{"policy":') : start]
    job = loads(raw)
    policy = cache.get(key)
    if policy is None:
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        policy = cache[key] = compile_policy(PolicyText.from_json(job["policy"]), environment())
    data = {name: job["data"].get(name) for name in VARIABLES if name != "variables"}
    progress = Progress()

    def cancelled() -> None:
        failures = progress.cancelled(policy.fail)
        stop(_answer(failures_of(failures), progress.annotations))

    METER.on_exceeded = cancelled
    try:
        found = evaluate(policy, data, progress)
    finally:
        METER.on_exceeded = None
    return _answer(failures_of(found.failures), found.annotations)


def failures_of(failures: list[Any]) -> list[list[str]]:
    return [[f.message, f.reason] for f in failures]


def _answer(failures: list[list[str]], annotations: dict[str, str]) -> dict[str, Any]:
    return {"failures": failures, "annotations": annotations, "rss": rss()}


def _stop(conn: Connection, answer: dict[str, Any]) -> None:
    """Answers and exits now: the evaluation in progress cannot be stopped any other way."""
    answer["exit"] = True
    try:
        conn.send_bytes(dumps(answer))
    finally:
        sys.stdout.flush()
        os._exit(0)


_STATM: list[Any] = []


def rss() -> int:
    """This process's resident memory in bytes (/proc, kept open: it is read after each job)."""
    try:
        if not _STATM:
            _STATM.append(open("/proc/self/statm", "rb", buffering=0))  # noqa: SIM115
        statm = _STATM[0]
        statm.seek(0)
        return int(statm.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    main(sys.argv[1:])
