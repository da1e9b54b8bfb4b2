"""Metrics: bounded labels whatever a caller sends, no _created series, process metrics, and
latency over the whole handling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from tests.support import (
    TEST_POLICIES,
    WIDGET,
    admission_review,
    make_tls,
    make_view,
    running,
    widget,
)
from webhook.core.config import Config
from webhook.core.review import Review
from webhook.engine import Engine
from webhook.server.http import ServerState, make_app
from webhook.server.metrics import Metrics


def _forged(index: int) -> Review:
    obj = widget(f"w{index}")
    obj["apiVersion"], obj["kind"] = f"forged{index}.example/v1", f"Kind{index}"
    return Review.from_admission(admission_review(obj))


def test_forged_kinds_are_counted_as_other() -> None:
    engine = Engine(TEST_POLICIES, Config.defaults(TEST_POLICIES))
    metrics = Metrics(kinds=[WIDGET])
    view = make_view()
    served = Review.from_admission(admission_review(widget()))
    for index in range(2000):
        review = _forged(index)
        metrics.observe("validate", review, engine.validate(review, view), 0.001)
    metrics.observe("validate", served, engine.validate(served, view), 0.001)
    lines = [
        line
        for line in metrics.render().decode().splitlines()
        if line.startswith("edgeguard_admission_requests_total")
    ]
    assert lines == [
        'edgeguard_admission_requests_total{decision="allowed",endpoint="validate",'
        'kind="other",operation="CREATE"} 2000.0',
        'edgeguard_admission_requests_total{decision="allowed",endpoint="validate",'
        'kind="Widget.example.com",operation="CREATE"} 1.0',
    ]
    assert len(metrics._children) <= 10  # the label cache is bounded too


def test_no_created_series_and_the_standard_process_metrics() -> None:
    metrics = Metrics(kinds=[WIDGET])
    review = Review.from_admission(admission_review(widget()))
    engine = Engine(TEST_POLICIES, Config.defaults(TEST_POLICIES))
    metrics.observe("validate", review, engine.validate(review, make_view()), 0.002)
    metrics.refused("validate", 415)
    text = metrics.render().decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert not [n for n in names if n.endswith("_created")]
    assert {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_objects_collected_total",
    } <= names


async def test_latency_covers_reading_the_body() -> None:
    engine = Engine(TEST_POLICIES, Config.defaults(TEST_POLICIES))
    state = ServerState(engine, make_view())
    body = json.dumps(admission_review(widget())).encode()

    async def slowly() -> AsyncIterator[bytes]:
        yield body[:20]
        await asyncio.sleep(0.3)
        yield body[20:]

    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    async with (
        running(make_app(state), make_tls()) as (base, client),
        client.post(base + "/validate", data=slowly(), headers=headers) as resp,
    ):
        assert resp.status == 200
    text = state.metrics.render().decode()
    [total] = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('edgeguard_admission_duration_seconds_sum{endpoint="validate"}')
    ]
    assert 0.3 <= total < 5.0
