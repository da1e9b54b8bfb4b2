"""JUnit XML for CI test reports: one test case per object and policy that applied to it.

A denial or a crash fails its case; a warning is written to system-out and fails only with
--warnings-as-errors; a file left out is a skipped case. The class is the policy (dots
replaced: Jenkins and GitLab read `a.b` as package and class), the name says the object, its
file and line. Built with junitparser, so the XML is what JUnit readers expect; text from the
manifests is escaped, so the XML stays valid.
"""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from webhook.core.outcome import Result
from webhook.offline.reports.escape import printable
from webhook.offline.run import ObjectReport, Run, Verdict

SUITE = "edgeguard review"
SKIPPED_CLASS = "not-reviewed"


def junit(run: Run, warnings_as_errors: bool = False) -> str:
    suite = TestSuite(SUITE)
    for report in run.objects:
        for verdict in report.verdicts:
            suite.add_testcase(_case(report, verdict, warnings_as_errors))
    for note in run.skipped:
        case = TestCase(printable(note.source), classname=SKIPPED_CLASS)
        case.result = [Skipped(printable(note.reason))]
        suite.add_testcase(case)
    suite.update_statistics()  # type: ignore[no-untyped-call]
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    body: bytes = xml.tostring()  # type: ignore[no-untyped-call]
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body.decode("utf-8") + "\n"


def _case(report: ObjectReport, verdict: Verdict, warnings_as_errors: bool) -> TestCase:
    name = printable(f"{report.title} ({report.document.source})")
    case = TestCase(name, classname=printable(verdict.policy).replace(".", "_"))
    messages = [printable(m) for m in verdict.messages]
    detail = "\n".join(messages)
    first = messages[0] if messages else verdict.result
    if verdict.result is Result.ERROR:
        case.result = [_with_text(Error(first, "error"), detail)]
    elif verdict.result is Result.DENY or (verdict.result is Result.WARN and warnings_as_errors):
        case.result = [_with_text(Failure(first, verdict.result), detail)]
    elif detail:
        case.system_out = f"{verdict.result}: {detail}"
    return case


def _with_text(result: Error | Failure, detail: str) -> Error | Failure:
    result.text = detail
    return result
