"""JUnit XML for CI test reports: one test case per object and policy that applied to it.

A denial or a crash fails its case; a warning is written to system-out and fails only with
--warnings-as-errors. Built with junitparser, so the XML is what JUnit readers expect.
"""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from webhook.core.outcome import Result
from webhook.offline.run import ObjectReport, Run, Verdict

SUITE = "edgeguard review"


def junit(run: Run, warnings_as_errors: bool = False) -> str:
    suite = TestSuite(SUITE)
    for report in run.objects:
        for verdict in report.verdicts:
            suite.add_testcase(_case(report, verdict, warnings_as_errors))
    suite.update_statistics()  # type: ignore[no-untyped-call]
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    body: bytes = xml.tostring()  # type: ignore[no-untyped-call]
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body.decode("utf-8") + "\n"


def _case(report: ObjectReport, verdict: Verdict, warnings_as_errors: bool) -> TestCase:
    case = TestCase(f"{report.title}: {verdict.policy}", classname=report.document.source)
    detail = "\n".join(verdict.messages)
    first = verdict.messages[0] if verdict.messages else verdict.result
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
