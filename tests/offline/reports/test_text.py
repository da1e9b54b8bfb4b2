"""The text report: findings only or every verdict, wrapping, escaping of manifest text."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from policies.gateway.indexes import INDEXES
from tests.support import NO_FORBIDDEN, TWO_DENIALS, WARNS, widget
from webhook.cli import main
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.offline.reports.escape import printable
from webhook.offline.reports.text import Style, text
from webhook.offline.run import Run, review
from webhook.yamlio.manifests import Document

POLICIES = [NO_FORBIDDEN, TWO_DENIALS, WARNS]
LONG = "spec.size: " + " ".join(f"word{i}" for i in range(40))


def _run(*documents: Document) -> Run:
    return review(
        Engine(POLICIES, Config.defaults(POLICIES)), list(documents), derive=INDEXES
    )


def test_findings_only_leaves_out_passing_objects_and_pass_lines() -> None:
    run = _run(
        Document(widget("ok"), "a.yaml", 1),
        Document(widget("bad", {"forbidden": "1", "warn": "1"}), "b.yaml", 1),
    )
    assert text(run, Style(findings_only=True)) == (
        "b.yaml:1: Widget default/bad (CREATE)\n"
        "  DENY  no-forbidden-label: label forbidden is set at metadata.labels.forbidden; remove"
        " it\n"
        "  WARN  size-warning: size is 1\n"
        "2 objects: 1 denied, 1 with warnings, 0 patched\n"
    )
    assert text(run).splitlines()[:4] == [
        "a.yaml:1: Widget default/ok (CREATE)",
        "  PASS  no-forbidden-label",
        "  PASS  two-denials",
        "  PASS  size-warning",
    ]


def _long_run() -> Run:
    """A denial whose message is longer than any terminal."""
    run = _run(Document(widget("bad", {"twice": "1"}), "b.yaml", 1))
    report = run.objects[0]
    verdicts = tuple(
        replace(v, messages=(LONG,)) if v.policy == "two-denials" else v for v in report.verdicts
    )
    return replace(run, objects=(replace(report, verdicts=verdicts),))


def test_long_messages_wrap_under_the_message_at_the_width() -> None:
    run = _run(Document(widget("bad", {"twice": "1"}), "b.yaml", 1))
    assert text(run, Style(findings_only=True, width=60)) == (
        "b.yaml:1: Widget default/bad (CREATE)\n"
        "  DENY  two-denials: first problem\n"
        "        second problem\n"
        "1 object: 1 denied, 0 with warnings, 0 patched\n"
    )
    lines = text(_long_run(), Style(findings_only=True, width=60, colour=True)).splitlines()
    assert lines[1] == "  \x1b[31mDENY \x1b[0m two-denials: spec.size: word0 word1 word2 word3"
    assert len(lines) == 8
    assert all(len(line) <= 60 and line.startswith("        word") for line in lines[2:-1])
    assert " ".join(" ".join(lines[1:-1]).split()[3:]) == LONG
    # No width (not a terminal): one line per message, as written.
    assert text(_long_run(), Style(findings_only=True)).splitlines()[1] == (
        f"  DENY  two-denials: {LONG}"
    )


def test_control_characters_in_names_and_messages_are_escaped() -> None:
    hidden = widget("x\r\x1b[32m  PASS  no-forbidden-label\x1b[0m\u202e", {"forbidden": "1"})
    run = _run(Document(hidden, "dir\x07/b.yaml", 1))
    out = text(run, Style(findings_only=True))
    assert out == (
        "dir\\x07/b.yaml:1: Widget default/x\\r\\x1b[32m  PASS  no-forbidden-label\\x1b[0m"
        "\\u202e (CREATE)\n"
        "  DENY  no-forbidden-label: label forbidden is set at metadata.labels.forbidden; remove"
        " it\n"
        "1 object: 1 denied, 0 with warnings, 0 patched\n"
    )
    assert printable("plain ümlaut ✓") == "plain ümlaut ✓"


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        ([], "findings"),  # a folder
        (["--verbose"], "all"),
        (["-q", "one/ok.yaml"], "findings"),
        (["one/ok.yaml"], "all"),  # one file
    ],
)
def test_the_default_is_findings_for_a_folder_and_everything_for_one_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    shown: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("one").mkdir()
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}}
    Path("one/ok.yaml").write_text(json.dumps(service))
    paths = [f for f in flags if f.endswith(".yaml")] or ["one"]
    options = [f for f in flags if not f.endswith(".yaml")]
    assert main(["review", *options, *paths]) == 0
    out = capsys.readouterr().out
    everything = (
        "one/ok.yaml:1: Service n/s (CREATE)\n"
        "  no policy applies\n"
        "1 object: 0 denied, 0 with warnings, 0 patched\n"
    )
    assert out == (everything if shown == "all" else everything.splitlines()[-1] + "\n")


def test_quiet_and_verbose_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["review", "-q", "--verbose", "x.yaml"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "edgeguard review: error: argument -v/--verbose: not allowed with argument -q/--quiet\n"
    )
