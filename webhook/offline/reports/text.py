"""A review run as text for people: one line per object, one per policy verdict.

Pure: a `Run` in, a string out; colour only when asked.
"""

from __future__ import annotations

from typing import Any

import yaml

from webhook.core.outcome import Result
from webhook.offline.reports.json import plain
from webhook.offline.run import ObjectReport, Run, Verdict

LABELS = {
    Result.ALLOW: "PASS",
    Result.DENY: "DENY",
    Result.ERROR: "ERROR",
    Result.WARN: "WARN",
    Result.AUDIT: "AUDIT",
    Result.PATCH: "PATCH",
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
        if verdict.result is Result.PATCH:
            lines.append(f"  patch from {verdict.policy}:")
            lines.extend(_indented(_yaml([dict(op) for op in verdict.patch])))
    if report.mutated is not None:
        lines.append("  resulting object:")
        lines.extend(_indented(_yaml(report.mutated)))
    return lines


def _yaml(value: Any) -> str:
    return yaml.safe_dump(plain(value), sort_keys=False, default_flow_style=False)


def _indented(block: str) -> list[str]:
    return [f"    {line}" for line in block.splitlines()]
