"""The in-process measurements: view memory (tracemalloc), review speed and CEL cost.

No network here; each function returns plain figures for run.py to print.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import policies
from bench import fixtures
from policies import required_fields
from webhook.cluster.memory import MemoryView, slim
from webhook.core.config import Config
from webhook.core.review import Review
from webhook.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def engine() -> Engine:
    shipped = policies.builtin()
    return Engine(shipped, Config.defaults(shipped))


def _interned(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A decoded JSON object whose keys and short string values are shared, not copied."""
    return {
        sys.intern(k): sys.intern(v) if isinstance(v, str) and len(v) <= SHORT else v
        for k, v in pairs
    }


SHORT = 32  # apiVersions, kinds, namespaces, listener names, timestamps; not uids or hostnames


def _held(texts: list[str], fill: Callable[[list[str]], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept = fill(texts)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return held, kept


def _view(texts: list[str], hook: Any = None) -> MemoryView:
    view = MemoryView()
    for text in texts:
        view.upsert(json.loads(text, object_pairs_hook=hook))
    return view


def view_memory(routes: int) -> dict[str, Any]:
    """Bytes the view holds per cached object, objects decoded from JSON as a watch would."""
    texts = [json.dumps(o) for o in fixtures.cluster(routes)]
    held, view = _held(texts, _view)
    objects = len(view)  # type: ignore[arg-type]
    del view
    bare, kept = _held(texts, lambda ts: [slim(json.loads(t)) for t in ts])
    del kept
    interned, kept = _held(texts, lambda ts: _view(ts, _interned))
    del kept
    return {
        "routes": routes,
        "objects": objects,
        "bytes_per_object": held / objects,
        "bytes_per_object_interned": interned / objects,
        "index_share": (held - bare) / held,
    }


STEPS = (
    "json.loads",
    "Review.from_admission",
    "engine",
    "admission_response",
    "metrics",
    "log_decision",
    "json_response",
)


def request_breakdown(repeat: int) -> dict[str, Any]:
    """µs per step of the /validate and /mutate handler, outside the network, mix average."""
    import logging

    from aiohttp import web

    from webhook.server import logs
    from webhook.server.metrics import Metrics
    from webhook.server.response import admission_response

    logs.setup("INFO")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    logging.getLogger().handlers[0].setStream(devnull)  # type: ignore[attr-defined]
    eng, metrics = engine(), Metrics()
    view = MemoryView(fixtures.cluster(10_000))
    totals = dict.fromkeys(STEPS, 0.0)
    clock = time.perf_counter
    for _ in range(repeat):
        for path, body in fixtures.workloads().values():
            decide = eng.validate if path == "/validate" else eng.mutate
            t0 = clock()
            raw = json.loads(body)
            t1 = clock()
            review = Review.from_admission(raw)
            t2 = clock()
            outcome = decide(review, view)
            t3 = clock()
            payload = admission_response(review, outcome)
            t4 = clock()
            metrics.observe(path[1:], review, outcome, t4 - t1)
            t5 = clock()
            logs.log_decision(path[1:], review, outcome, 0.1)
            t6 = clock()
            web.json_response(payload)
            t7 = clock()
            for step, seconds in zip(
                STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True
            ):
                totals[step] += seconds
    devnull.close()
    logging.getLogger().handlers.clear()
    n = repeat * len(fixtures.workloads())
    us = {step: seconds / n * 1e6 for step, seconds in totals.items()}
    return {"us_per_request": us, "us_total": sum(us.values())}


def _per_second(count: int, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def review_speed(count: int, work: Path) -> dict[str, Any]:
    """`edgeguard review` objects/s if the command exists; always the engine loop it runs."""
    objs = fixtures.manifests(count)
    text = yaml.safe_dump_all(objs, sort_keys=False)
    out: dict[str, Any] = {"objects": count}
    out["yaml_c_objects_per_s"] = _per_second(
        count, lambda: list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    )
    if count <= 1000:
        out["yaml_py_objects_per_s"] = _per_second(count, lambda: list(yaml.safe_load_all(text)))
    eng = engine()
    view = MemoryView(objs)

    def loop() -> None:
        for obj in objs:
            review = Review.from_manifest(obj)
            eng.validate(review, view)
            eng.mutate(review, view)

    out["engine_objects_per_s"] = _per_second(count, loop)
    out["cli"] = _cli(text, count, work)
    return out


def _cli(text: str, count: int, work: Path) -> dict[str, Any] | None:
    base = [sys.executable, "-m", "webhook.cli", "review"]
    probe = subprocess.run([*base, "--help"], cwd=ROOT, capture_output=True, timeout=60)
    if probe.returncode != 0:
        return None
    path = work / f"review-{count}.yaml"
    path.write_text(text)
    one = work / "review-1.yaml"
    one.write_text(text.split("\n---\n", 1)[0] + "\n")
    timings = []
    for file in (one, path):
        start = time.perf_counter()
        done = subprocess.run([*base, str(file)], cwd=ROOT, capture_output=True, timeout=300)
        timings.append((time.perf_counter() - start, done.returncode))
    (startup, _), (total, code) = timings
    return {
        "command": "edgeguard review FILE",
        "exit_code": code,
        "seconds": total,
        "objects_per_s": count / total,
        "objects_per_s_excluding_startup": count / max(1e-9, total - startup),
        "startup_seconds": startup,
    }


def _us(repeat: int, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        work()
    return (time.perf_counter() - start) / repeat * 1e6


def cel_cost(repeat: int) -> dict[str, Any]:
    """µs per rule evaluation and per policy check, on the Pool and OpenBaoCluster reviews."""
    view = MemoryView(fixtures.cluster(100))
    return {name: _cel_for(name, view, repeat) for name in ("Pool", "OpenBaoCluster")}


def _cel_for(name: str, view: MemoryView, repeat: int) -> dict[str, Any]:
    rules, eng = required_fields.RULES, engine()
    review = Review.from_admission(json.loads(fixtures.workloads()[name][1]))
    assert review.object is not None
    slimmed = dataclasses.replace(review, object=slim(review.object))
    matching = [r for r in rules.rules if review.group_kind in r.kinds]
    warm = rules.env.activation({"object": review.object, "oldObject": None, "request": {}})
    for rule in matching:
        rule.program.evaluate(warm)
    per_eval = _us(repeat, lambda: [r.program.evaluate(warm) for r in matching])

    def fresh(obj: Any) -> None:
        act = rules.env.activation({"object": obj, "oldObject": None, "request": {}})
        for rule in matching:
            rule.program.evaluate(act)

    return {
        "rules": len(matching),
        "us_per_rule_eval_warm": per_eval / len(matching),
        "us_all_rules_fresh_activation_full_object": _us(repeat, lambda: fresh(review.object)),
        "us_all_rules_fresh_activation_slim_object": _us(repeat, lambda: fresh(slimmed.object)),
        "us_policy_check_full_object": _us(repeat, lambda: rules.check(review, view, {})),
        "us_policy_check_slim_object": _us(repeat, lambda: rules.check(slimmed, view, {})),
        "us_engine_validate": _us(repeat, lambda: eng.validate(review, view)),
    }
