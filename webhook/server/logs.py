"""JSON logs: one line per record, and one line per admission decision.

The decision line carries who, what and the verdict (which policies denied and warned, and
the message), never the object's content (so never a Secret's data); every value that comes
from the request is cut to a bounded length. aiohttp's own errors about malformed requests are
logged without the bytes they quote.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from webhook.core.outcome import Outcome, Result
from webhook.core.review import Review

admission_log = logging.getLogger("edgeguard.admission")
# A Kubernetes name is at most 253 characters; a user name or uid has no limit of its own.
MAX_FIELD = 256
# Policy messages are a few hundred characters; several of them, joined, stay under this.
MAX_MESSAGE = 2048
DENIED = (Result.DENY, Result.ERROR)


class JSONFormatter(logging.Formatter):
    """One JSON object per line, times in UTC (`2026-01-02T03:04:05.678Z`); the timestamp text
    is made once per second (hot path)."""

    _second = -1
    _stamp = ""

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse with the exception, whose text quotes the bytes
    it choked on (a Secret's data, when a body overran its Content-Length): keep the kind of
    error and its status, drop the bytes and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            said = record.getMessage()
            record.msg, record.args = "%s: %s (status %d)", (said, type(error).__name__, error.code)
            record.exc_info = record.exc_text = None
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())


def bounded(text: str, limit: int = MAX_FIELD) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def decision_fields(endpoint: str, review: Review, outcome: Outcome, ms: float) -> dict[str, Any]:
    where = f"{review.namespace}/{review.name}" if review.namespace else review.name
    return {
        "endpoint": endpoint,
        "uid": bounded(review.uid),
        "kind": bounded(str(review.kind)),
        "object": bounded(where),
        "operation": review.operation,
        "dryRun": review.dry_run,
        "user": bounded(review.user),
        "decision": outcome.decision,
        "policies": list(outcome.fired),
        "denied": [r.policy for r in outcome.results if r.result in DENIED],
        "warned": [r.policy for r in outcome.results if r.result is Result.WARN],
        "message": bounded(outcome.message, MAX_MESSAGE),
        "warnings": bounded("; ".join(outcome.warnings), MAX_MESSAGE),
        "patched": bool(outcome.patch),
        "latencyMs": round(ms, 3),
    }


def log_decision(endpoint: str, review: Review, outcome: Outcome, ms: float) -> None:
    fields = decision_fields(endpoint, review, outcome, ms)
    admission_log.info("admission %s", fields["decision"], extra={"fields": fields})
