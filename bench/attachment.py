"""Attachment-model cost per request, in process: the issue-13 targets, as ratios in one run.

    .venv/bin/python bench/attachment.py            # N = 5,000 rivals
    .venv/bin/python bench/attachment.py --n 500

Scenarios (one Gateway with 64 listeners, as in issue 13):
- `ordinary`: an HTTPRoute with 1 hostname and 1 parentRef, against N HTTPRoutes sharing its
  hostname, and against a view holding only the Gateway (the baseline). Target: ratio <= 2.
- `wide`: a route within CRD limits (16 hostnames with wildcards x 32 parentRefs) against the
  same N rivals. Target: <= 50 ms.
- `gateway-update`: a Gateway UPDATE taking Passthrough from all 64 listeners with N TLSRoutes
  attached. Target: <= 100 ms.
Each figure is the median of repeated runs of `Engine.validate` (every shipped policy, defaults);
the answer's size (messages and warnings) is printed with it, since answers must stay small.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import policies
from webhook.cluster.memory import MemoryView
from webhook.core.config import Config
from webhook.core.policy import kept_fields
from webhook.core.review import Review
from webhook.engine import Engine

GW = "gateway.networking.k8s.io/v1"
HOST = "shop.example.com"


def make_view(objects: list[dict[str, Any]], engine: Engine) -> Any:
    try:  # the attachment model (issue 13)
        from policies.gateway.indexes import INDEXES

        return MemoryView(objects, derive=INDEXES, kept=kept_fields(engine.policies))
    except ImportError:  # the code before it, for before/after figures from one script
        from policies.gateway.indexers import INDEXERS  # type: ignore[import-not-found]

        return MemoryView(objects, indexers=INDEXERS, kept=kept_fields(engine.policies))  # type: ignore[call-arg]


def gateway(protocol: str, mode: str | None) -> dict[str, Any]:
    listeners = []
    for i in range(64):
        item: dict[str, Any] = {"name": f"l{i}", "protocol": protocol, "port": 8000 + i}
        if mode:
            item["tls"] = {"mode": mode}
        item["allowedRoutes"] = {"namespaces": {"from": "All"}}
        listeners.append(item)
    return {
        "apiVersion": GW,
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "infra"},
        "spec": {"gatewayClassName": "example", "listeners": listeners},
    }


def route(kind: str, name: str, hostnames: list[str], parents: int = 1) -> dict[str, Any]:
    refs = [{"name": "edge", "namespace": "infra"}]
    refs += [
        {"name": "edge", "namespace": "infra", "sectionName": f"l{i}"} for i in range(1, parents)
    ]
    return {
        "apiVersion": GW,
        "kind": kind,
        "metadata": {"name": name, "namespace": f"team-{hash(name) % 50}"},
        "spec": {
            "parentRefs": refs,
            "hostnames": hostnames,
            "rules": [{"backendRefs": [{"name": "backend", "port": 443}]}],
        },
    }


def timed(
    engine: Engine, review: Review, view: Any, repeat: int, path: bool = False
) -> tuple[float, Any]:
    """The median time of validating a fresh copy of `review`: each request has its own memo
    (the attachment, backendRefs and claims policies share), as each admission does. `path`:
    the server's whole per-request engine work, `needs` (read-through) and `locks` (the claim
    step) around the verdict."""

    def once() -> Any:
        fresh = dataclasses.replace(review)
        if path:
            engine.needs(fresh, view)
        result = engine.validate(fresh, view)
        if path:
            engine.locks(fresh, view)
        return result

    result = once()  # warm
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = once()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def size(outcome: Any) -> int:
    return len(json.dumps([list(outcome.messages), list(outcome.warnings)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="rivals (default 5000)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    shipped = policies.builtin()
    engine = Engine(shipped, Config.defaults(shipped))
    http_gateway = gateway("HTTP", None)
    rivals = [route("HTTPRoute", f"rival-{i}", [HOST]) for i in range(args.n)]
    empty = make_view([http_gateway], engine)
    full = make_view([http_gateway, *rivals], engine)

    ordinary = Review.from_manifest(route("HTTPRoute", "mine", [HOST]))
    base_s, base_out = timed(engine, ordinary, empty, args.repeat)
    full_s, full_out = timed(engine, ordinary, full, args.repeat)
    base_path_s, _ = timed(engine, ordinary, empty, args.repeat, path=True)
    full_path_s, path_out = timed(engine, ordinary, full, args.repeat, path=True)

    names = [f"h{i}.example.com" for i in range(12)] + [
        "*.example.com",
        "*.shop.example.com",
        HOST,
        "*.com",
    ]
    wide = Review.from_manifest(route("HTTPRoute", "wide", names, parents=32))
    wide_s, wide_out = timed(engine, wide, full, max(3, args.repeat // 4))

    tls_old = gateway("TLS", "Passthrough")
    tls_new = gateway("TLS", "Terminate")
    attached = [route("TLSRoute", f"tls-{i}", [f"t{i}.example.com"]) for i in range(args.n)]
    tls_view = make_view([tls_old, *attached], engine)
    update = Review.from_manifest(tls_new, "UPDATE", tls_old)
    update_s, update_out = timed(engine, update, tls_view, max(3, args.repeat // 4))

    rows = [
        ("ordinary, empty view (baseline)", base_s, size(base_out), ""),
        (
            f"ordinary, {args.n} rivals",
            full_s,
            size(full_out),
            f"ratio {full_s / base_s:.2f} (target <= 2)",
        ),
        ("ordinary, needs+validate+locks, empty view", base_path_s, size(base_out), ""),
        (
            f"ordinary, needs+validate+locks, {args.n} rivals",
            full_path_s,
            size(path_out),
            f"ratio {full_path_s / base_path_s:.2f} (target <= 2)",
        ),
        (
            f"16 hostnames x 32 parentRefs, {args.n} rivals",
            wide_s,
            size(wide_out),
            "target <= 50 ms",
        ),
        (f"Gateway update, {args.n} attached", update_s, size(update_out), "target <= 100 ms"),
    ]
    for title, seconds, answer, note in rows:
        print(f"{title:48} {seconds * 1000:9.2f} ms  answer {answer:7} B  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
