"""How a review run is shown: text for people, JSON for scripts, SARIF and JUnit for CI.

Pure functions from a `Run` to a string; the CLI decides where it goes.
"""

from __future__ import annotations

from webhook.offline.reports.json import as_json
from webhook.offline.reports.junit import junit
from webhook.offline.reports.sarif import sarif
from webhook.offline.reports.text import Style, text
from webhook.offline.run import Run

__all__ = ["FORMATS", "Style", "render"]

FORMATS = ("text", "json", "sarif", "junit")


PLAIN = Style()


def render(run: Run, fmt: str, style: Style = PLAIN, warnings_as_errors: bool = False) -> str:
    """The run in one of FORMATS (`style` is for text); --warnings-as-errors turns JUnit
    warnings into failures."""
    if fmt == "json":
        return as_json(run)
    if fmt == "sarif":
        return sarif(run)
    if fmt == "junit":
        return junit(run, warnings_as_errors)
    return text(run, style)
