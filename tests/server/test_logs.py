"""Decision logs: UTC times, who denied and who warned, bounded lines, no request bytes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterator

import pytest

from tests.support import (
    NO_FORBIDDEN,
    WARNS,
    admission_review,
    make_tls,
    make_view,
    running,
    widget,
)
from webhook.core.config import Config
from webhook.core.review import Review
from webhook.engine import Engine
from webhook.server import logs
from webhook.server.http import ServerState, make_app
from webhook.server.logs import JSONFormatter, MalformedRequests, decision_fields

CANARY = "hunter2-canary"
POLICIES = [NO_FORBIDDEN, WARNS]


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("edgeguard.test", logging.INFO, "f.py", 1, "hello", (), None)
    record.created, record.msecs = created, (created % 1) * 1000
    return record


@pytest.fixture
def tokyo() -> Iterator[None]:
    """A local time zone far from UTC: the log must not follow it."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_times_are_utc_with_z(tokyo: None) -> None:
    line = json.loads(JSONFormatter().format(_record(1_767_323_045.5)))
    assert line == {
        "time": "2026-01-02T03:04:05.500Z",
        "level": "info",
        "logger": "edgeguard.test",
        "message": "hello",
    }


def test_the_decision_says_who_denied_and_who_warned() -> None:
    engine = Engine(POLICIES, Config.defaults(POLICIES))
    review = Review.from_admission(admission_review(widget(labels={"forbidden": "", "warn": ""})))
    fields = decision_fields("validate", review, engine.validate(review, make_view()), 1.25)
    assert fields == {
        "endpoint": "validate",
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": "example.com/v1, Kind=Widget",
        "object": "default/w1",
        "operation": "CREATE",
        "dryRun": False,
        "user": "alice",
        "decision": "denied",
        "policies": ["no-forbidden-label", "size-warning"],
        "denied": ["no-forbidden-label"],
        "warned": ["size-warning"],
        "message": "[no-forbidden-label] label forbidden is set at metadata.labels.forbidden;"
        " remove it",
        "warnings": "[size-warning] size is 1",
        "patched": False,
        "latencyMs": 1.25,
    }


def test_values_from_the_request_are_bounded() -> None:
    """One request once made a 1 MiB log line: user, uid and name have no limit of their own."""
    engine = Engine(POLICIES, Config.defaults(POLICIES))
    huge = "x" * (1024 * 1024)
    body = admission_review(widget(huge), uid=huge)
    body["request"]["userInfo"]["username"] = huge
    body["request"]["kind"]["kind"] = huge
    review = Review.from_admission(body)
    fields = decision_fields("validate", review, engine.validate(review, make_view()), 0.5)
    line = JSONFormatter().format(
        logging.makeLogRecord({"msg": "admission", "fields": fields, "name": "edgeguard.admission"})
    )
    assert len(line) < 4096
    cut = "x" * 256 + f"... ({1024 * 1024 - 256} more characters)"
    assert (fields["uid"], fields["user"]) == (cut, cut)
    assert fields["object"] == "default/" + "x" * 248 + f"... ({1024 * 1024 - 248} more characters)"


@pytest.fixture
def filtered() -> Iterator[None]:
    server = logging.getLogger("aiohttp.server")
    guard = MalformedRequests()
    server.addFilter(guard)
    try:
        yield
    finally:
        server.removeFilter(guard)


async def test_a_malformed_request_is_logged_without_its_bytes(
    caplog: pytest.LogCaptureFixture, filtered: None
) -> None:
    caplog.set_level(logging.DEBUG)
    tls = make_tls()
    engine = Engine(POLICIES, Config.defaults(POLICIES))
    body = json.dumps({"data": {"password": CANARY}}).encode()
    async with running(make_app(ServerState(engine, make_view())), tls) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        for raw in (
            b"POST /validate HTTP/1.1\r\nHost: x\r\nX: \x01" + body + b"\r\n\r\n",
            b"POST /validate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz"
            + body
            + b"\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=tls.client_context, server_hostname="localhost"
            )
            writer.write(raw)
            await writer.drain()
            assert (await reader.read(100)).startswith(b"HTTP/1.0 400 Bad Request")
            writer.close()
        await asyncio.sleep(0.05)
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.getMessage() for r in server] == [
        "Error handling request from 127.0.0.1: BadHttpMessage (status 400)"
    ] * 2
    assert all(r.exc_info is None for r in server)
    formatter = JSONFormatter()
    assert not [r for r in caplog.records if CANARY in formatter.format(r)]


def test_setup_installs_the_filter_once() -> None:
    # The root logger's handlers and level are restored by conftest's _root_logger_restored.
    try:
        logs.setup("DEBUG")
        logs.setup("INFO")
        server = logging.getLogger("aiohttp.server")
        assert sum(isinstance(f, MalformedRequests) for f in server.filters) == 1
    finally:
        for guard in [f for f in server.filters if isinstance(f, MalformedRequests)]:
            server.removeFilter(guard)
