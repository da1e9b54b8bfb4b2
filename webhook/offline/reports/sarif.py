"""SARIF 2.1.0 for code scanning: one rule per policy, one result per finding, file and line.

Plain dicts following the OASIS 2.1.0 schema (no library needed for this subset). Levels come
from the verdict: a denial or crash is an error, a warning a warning, an audit a note.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import PurePath
from typing import Any

from webhook.core.outcome import Result
from webhook.offline.run import ObjectReport, Rule, Run, Verdict

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Result.DENY: "error", Result.ERROR: "error", Result.WARN: "warning", Result.AUDIT: "note"}
MODE_LEVELS = {"Enforce": "error", "Warn": "warning", "Audit": "note", "Off": "none"}
STDIN_URI = "stdin"


def sarif(run: Run) -> str:
    index = {rule.name: i for i, rule in enumerate(run.rules)}
    results = [
        _result(report, verdict, index[verdict.policy])
        for report in run.objects
        for verdict in report.verdicts
        if verdict.result in LEVELS
    ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "edgeguard",
                        "version": _version(),
                        "rules": [_rule(rule) for rule in run.rules],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.name,
        "name": rule.name,
        "shortDescription": {"text": rule.description or rule.name},
        "defaultConfiguration": {"level": MODE_LEVELS[rule.mode]},
    }


def _result(report: ObjectReport, verdict: Verdict, index: int) -> dict[str, Any]:
    detail = "; ".join(verdict.messages) or f"{verdict.result} by {verdict.policy}"
    return {
        "ruleId": verdict.policy,
        "ruleIndex": index,
        "level": LEVELS[verdict.result],
        "message": {"text": f"{report.title}: {detail}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri(report.document.path)},
                    "region": {"startLine": report.document.line},
                }
            }
        ],
    }


def uri(path: str) -> str:
    """A relative path stays relative (code scanning resolves it from the checkout)."""
    if path == "<stdin>":
        return STDIN_URI
    pure = PurePath(path)
    return pure.as_uri() if pure.is_absolute() else pure.as_posix()


def _version() -> str:
    try:
        return metadata.version("edgeguard")
    except metadata.PackageNotFoundError:
        return "0.0.0"
