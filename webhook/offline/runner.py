"""`edgeguard test DIR`: every case file and suite file under DIR, as one table.

Case files are the per-policy `allow/`, `deny/`, `mutate/` folders of `webhook.offline.cases`; suite
files are `edgeguard-test.yaml` (`webhook.offline.suites`). Any mismatch fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from webhook.core.policy import Policy
from webhook.core.review import ReviewError
from webhook.core.view import Deriving
from webhook.offline import cases, suites
from webhook.offline.cases import Row
from webhook.yamlio.manifests import ManifestError, read_value

HEADERS = ("CASE", "POLICY", "EXPECTED", "GOT", "RESULT")


def run(root: Path, known: Mapping[str, Policy], derive: Sequence[Deriving]) -> list[Row]:
    """Every row under root; unreadable files raise ManifestError (exit 2)."""
    if not root.is_dir():
        raise ManifestError(str(root), 0, "not a directory")
    found = cases.discover(root)
    for case in found:
        cases.check(case, known)
    rows = [_case_row(case, known, derive) for case in found]
    for path in suites.discover(root):
        rows.extend(suites.run(path, read_value(str(path)), known, derive))
    return rows


def _case_row(case: cases.Case, known: Mapping[str, Policy], derive: Sequence[Deriving]) -> Row:
    try:
        return cases.row(cases.run_case(case, known, derive))
    except (ValueError, ReviewError, KeyError) as exc:
        return Row(case.name, case.policy, case.verdict, "-", (f"{case.path}: {exc}",))


def table(rows: Sequence[Row], colour: bool = False) -> str:
    cells = [(r.case, r.policy, r.expected, r.got, "PASS" if r.passed else "FAIL") for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(HEADERS)]
    lines = [_line(HEADERS, widths, False)]
    for row, line in zip(rows, cells, strict=True):
        lines.append(_line(line, widths, colour))
        lines.extend(f"    {text}" for problem in row.problems for text in problem.splitlines())
    lines.append(summary(rows))
    return "\n".join(lines) + "\n"


def summary(rows: Sequence[Row]) -> str:
    failed = sum(not r.passed for r in rows)
    return f"{len(rows)} tests: {len(rows) - failed} passed, {failed} failed"


def _line(cells: Sequence[str], widths: Sequence[int], colour: bool) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
    if colour:
        code = "32" if cells[-1] == "PASS" else "31"
        padded[-1] = f"\x1b[{code}m{cells[-1]}\x1b[0m"
    return "  ".join(padded).rstrip()
