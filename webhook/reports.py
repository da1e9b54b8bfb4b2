"""How a review run is shown: text for people, JSON for scripts, SARIF and JUnit for CI.

Pure functions from a `Run` to a string; the CLI decides where it goes. The JSON schema
(`edgeguard.review/v1`) is documented in README.md and only grows by new keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from webhook.junit import junit
from webhook.reviewing import ObjectReport, Run, Verdict
from webhook.sarif import sarif

SCHEMA = "edgeguard.review/v1"
LABELS = {
    "allow": "PASS",
    "deny": "DENY",
    "error": "ERROR",
    "warn": "WARN",
    "audit": "AUDIT",
    "patch": "PATCH",
}
COLOURS = {"PASS": "32", "DENY": "31", "ERROR": "31", "WARN": "33", "AUDIT": "36", "PATCH": "36"}


def text(run: Run, colour: bool = False, show_mutations: bool = False) -> str:
    lines: list[str] = []
    for report in run.objects:
        lines.append(f"{report.document.source}: {report.title} ({report.review.operation})")
        if not report.verdicts:
            lines.append("  no policy applies")
        for verdict in report.verdicts:
            lines.extend(_verdict_lines(verdict, colour))
        if show_mutations:
            lines.extend(_mutation_lines(report))
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def summary(run: Run) -> str:
    count = len(run.objects)
    noun = "object" if count == 1 else "objects"
    return f"{count} {noun}: {run.denied} denied, {run.warned} with warnings"


def _verdict_lines(verdict: Verdict, colour: bool) -> list[str]:
    label = LABELS.get(verdict.result, verdict.result.upper())
    shown = f"\x1b[{COLOURS.get(label, '0')}m{label:<5}\x1b[0m" if colour else f"{label:<5}"
    head = f"  {shown} {verdict.policy}"
    if not verdict.messages:
        return [head]
    first, *rest = verdict.messages
    return [f"{head}: {first}", *(f"{' ' * 8}{message}" for message in rest)]


def _mutation_lines(report: ObjectReport) -> list[str]:
    lines: list[str] = []
    for verdict in report.verdicts:
        if verdict.result == "patch":
            lines.append(f"  patch from {verdict.policy}:")
            lines.extend(_indented(_yaml([dict(op) for op in verdict.patch])))
    if report.mutated is not None:
        lines.append("  resulting object:")
        lines.extend(_indented(_yaml(report.mutated)))
    return lines


def _yaml(value: Any) -> str:
    return yaml.safe_dump(_plain(value), sort_keys=False, default_flow_style=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _indented(block: str) -> list[str]:
    return [f"    {line}" for line in block.splitlines()]


def as_json(run: Run) -> str:
    document = {
        "schema": SCHEMA,
        "summary": {
            "objects": len(run.objects),
            "allowed": len(run.objects) - run.denied,
            "denied": run.denied,
            "warned": run.warned,
        },
        "objects": [_object_json(report) for report in run.objects],
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
            }
            for v in report.verdicts
        ],
        "warnings": list(report.warnings),
        "patch": [dict(op) for op in report.patch],
        "mutatedObject": _plain(report.mutated) if report.mutated is not None else None,
    }


FORMATS = ("text", "json", "sarif", "junit")


def render(
    run: Run,
    fmt: str,
    colour: bool = False,
    show_mutations: bool = False,
    warnings_as_errors: bool = False,
) -> str:
    """The run in one of FORMATS; --warnings-as-errors turns JUnit warnings into failures."""
    if fmt == "json":
        return as_json(run)
    if fmt == "sarif":
        return sarif(run)
    if fmt == "junit":
        return junit(run, warnings_as_errors)
    return text(run, colour, show_mutations)
