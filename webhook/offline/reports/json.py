"""A review run as JSON for scripts: schema `edgeguard.review/v1`, documented in README.md.

Stable: keys are only ever added, never renamed or removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from webhook.offline.run import ObjectReport, Run

SCHEMA = "edgeguard.review/v1"


def as_json(run: Run) -> str:
    document = {
        "schema": SCHEMA,
        "summary": {
            "objects": len(run.objects),
            "allowed": len(run.objects) - run.denied,
            "denied": run.denied,
            "warned": run.warned,
            "patched": run.patched,
            "skipped": len(run.skipped),
        },
        "objects": [_object_json(report) for report in run.objects],
        "skipped": [
            {"file": note.path, "line": note.line, "reason": note.reason} for note in run.skipped
        ],
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def _object_json(report: ObjectReport) -> dict[str, Any]:
    review = report.review
    return {
        "file": report.document.path,
        "line": report.document.line,
        "apiVersion": review.kind.api_version,
        "kind": review.kind.kind,
        "namespace": review.namespace,
        "name": review.name,
        "operation": review.operation,
        "allowed": report.allowed,
        "results": [
            {
                "policy": v.policy,
                "mode": v.mode,
                "result": v.result,
                "messages": list(v.messages),
                "patch": [dict(op) for op in v.patch],
                "notes": list(v.notes),
            }
            for v in report.verdicts
        ],
        "warnings": list(report.warnings),
        "patch": [dict(op) for op in report.patch],
        "mutatedObject": plain(report.mutated) if report.mutated is not None else None,
    }


def plain(value: Any) -> Any:
    """Mappings and tuples as the plain dicts and lists JSON and YAML writers take."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
