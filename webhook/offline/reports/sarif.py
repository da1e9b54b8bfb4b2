"""SARIF 2.1.0 for code scanning: one rule per policy, one result per finding, file and line.

Plain dicts following the OASIS 2.1.0 schema (no library needed for this subset). Levels come
from the verdict: a denial or crash is an error, a warning a warning, an audit a note.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from webhook import version
from webhook.core.outcome import Result
from webhook.offline.run import ObjectReport, Rule, Run, Verdict
from webhook.yamlio.manifests import Document, Skipped

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
                        "version": version(),
                        "rules": [_rule(rule) for rule in run.rules],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [_note(n) for n in run.skipped],
                    }
                ],
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
        "locations": [_location(report.document)],
    }


def _location(document: Document) -> dict[str, Any]:
    """Where an object is: its file and line, or (rendered by kustomize) the kustomization."""
    if document.origin is not None:
        return {"physicalLocation": {"artifactLocation": {"uri": uri(document.origin)}}}
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri(document.path)},
            "region": {"startLine": document.line},
        }
    }


def _note(skipped: Skipped) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": uri(skipped.path)}}
    if skipped.line:
        location["region"] = {"startLine": skipped.line}
    return {
        "level": "note",
        "message": {"text": f"skipped: {skipped.reason}"},
        "locations": [{"physicalLocation": location}],
    }


def uri(path: str) -> str:
    """A URI reference for a file: a relative path stays relative (code scanning resolves it
    from the checkout), percent-encoded (`sp ace/p#1.yaml` is `sp%20ace/p%231.yaml`)."""
    if path == "<stdin>":
        return STDIN_URI
    pure = PurePath(path)
    return pure.as_uri() if pure.is_absolute() else quote(pure.as_posix(), safe="/")
