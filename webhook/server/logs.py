"""JSON logs: one line per record, and one line per admission decision.

The decision line carries who, what and the verdict, never the object's content (so never a
Secret's data).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from webhook.core.outcome import Outcome
from webhook.core.review import Review

admission_log = logging.getLogger("edgeguard.admission")


class JSONFormatter(logging.Formatter):
    """One JSON object per line; the timestamp text is made once per second (hot path)."""

    _second = -1
    _stamp = ""

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        return f"{self._stamp}.{int(record.msecs):03d}"

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


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def decision_fields(endpoint: str, review: Review, outcome: Outcome, ms: float) -> dict[str, Any]:
    where = f"{review.namespace}/{review.name}" if review.namespace else review.name
    return {
        "endpoint": endpoint,
        "uid": review.uid,
        "kind": str(review.kind),
        "object": where,
        "operation": review.operation,
        "dryRun": review.dry_run,
        "user": review.user,
        "decision": outcome.decision,
        "policies": list(outcome.fired),
        "patched": bool(outcome.patch),
        "latencyMs": round(ms, 3),
    }


def log_decision(endpoint: str, review: Review, outcome: Outcome, ms: float) -> None:
    fields = decision_fields(endpoint, review, outcome, ms)
    admission_log.info("admission %s", fields["decision"], extra={"fields": fields})
