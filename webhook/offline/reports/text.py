"""A review run as text for people: one line per object, one per policy verdict.

Pure: a `Run` in, a string out. Findings only (objects with something to say) or every
verdict; long lines wrapped at a width when asked (a terminal's); colour only when asked.
Names and messages from the manifests are escaped (`escape.printable`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import yaml

from webhook.core.outcome import Result
from webhook.offline.reports.escape import printable
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
INDENT = " " * 8  # where a verdict's message continues
# Narrower than this, wrapping would leave a word or two per line: better not to wrap.
MIN_WIDTH = 40


@dataclass(frozen=True)
class Style:
    colour: bool = False
    show_mutations: bool = False
    # Only objects with a finding (not PASS), and only their findings.
    findings_only: bool = False
    width: int = 0  # wrap lines at this many columns; 0: never
    # Under each verdict, what the policy could not judge and why (its notes).
    verbose: bool = False


PLAIN = Style()


def text(run: Run, style: Style = PLAIN) -> str:
    lines: list[str] = []
    for report in run.objects:
        lines.extend(_object_lines(report, style))
    lines.extend(
        f"{printable(note.source)}: skipped: {printable(note.reason)}" for note in run.skipped
    )
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def summary(run: Run) -> str:
    count = len(run.objects)
    noun = "object" if count == 1 else "objects"
    line = f"{count} {noun}: {run.denied} denied, {run.warned} with warnings, {run.patched} patched"
    skipped = len(run.skipped)
    if skipped:
        line += f"; {skipped} {'file' if skipped == 1 else 'files'} skipped"
    return line


def _object_lines(report: ObjectReport, style: Style) -> list[str]:
    shown = [
        v for v in report.verdicts if not style.findings_only or v.result is not Result.ALLOW
    ]
    if style.findings_only and not shown:
        return []
    title = printable(f"{report.document.source}: {report.title} ({report.review.operation})")
    lines = [title]
    if not report.verdicts:
        lines.append("  no policy applies")
    for verdict in shown:
        lines.extend(_verdict_lines(verdict, style))
        if style.verbose:
            for note in verdict.notes:
                lines.extend(_wrapped(f"{INDENT}note: {printable(note)}", style.width))
    if style.show_mutations:
        lines.extend(_mutation_lines(report))
    return lines


def _verdict_lines(verdict: Verdict, style: Style) -> list[str]:
    label = LABELS.get(verdict.result, verdict.result.upper())
    head = f"  {label:<5} {printable(verdict.policy)}"
    messages = [printable(m) for m in verdict.messages]
    if not messages:
        lines = [head]
    else:
        first, *rest = messages
        lines = _wrapped(f"{head}: {first}", style.width)
        for message in rest:
            lines.extend(_wrapped(INDENT + message, style.width))
    if style.colour:
        lines[0] = f"  \x1b[{COLOURS.get(label, '0')}m{label:<5}\x1b[0m{lines[0][7:]}"
    return lines


def _wrapped(line: str, width: int) -> list[str]:
    if width < MIN_WIDTH or len(line) <= width:
        return [line]
    return textwrap.wrap(
        line, width, subsequent_indent=INDENT, break_long_words=False, break_on_hyphens=False
    )


def _mutation_lines(report: ObjectReport) -> list[str]:
    lines: list[str] = []
    for verdict in report.verdicts:
        if verdict.result is Result.PATCH:
            lines.append(f"  patch from {printable(verdict.policy)}:")
            lines.extend(_indented(_yaml([dict(op) for op in verdict.patch])))
    if report.mutated is not None:
        lines.append("  resulting object:")
        lines.extend(_indented(_yaml(report.mutated)))
    return lines


def _yaml(value: Any) -> str:
    # The emitter writes control characters as escapes in double-quoted scalars.
    return yaml.safe_dump(plain(value), sort_keys=False, default_flow_style=False)


def _indented(block: str) -> list[str]:
    return [f"    {line}" for line in block.splitlines()]
