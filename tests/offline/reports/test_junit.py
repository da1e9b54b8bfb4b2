"""JUnit XML: the class is the policy (no file name split at its dots), XML stays valid."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from policies.gateway.indexes import INDEXES
from tests.support import NO_FORBIDDEN, WARNS, widget
from webhook.core.config import Config
from webhook.core.policy import Policy
from webhook.engine import Engine
from webhook.offline.reports.junit import junit
from webhook.offline.run import review
from webhook.yamlio.manifests import Document, Skipped

POLICIES = [NO_FORBIDDEN, WARNS]


def test_cases_are_named_for_the_object_and_classed_by_policy() -> None:
    engine = Engine(POLICIES, Config.defaults(POLICIES))
    documents = [
        Document(widget("w\x1b[0m", {"forbidden": "1", "warn": "1"}), "apps/pool.v2.yaml", 4)
    ]
    skipped = [Skipped("chart/values.yaml", 1, "not a Kubernetes object")]
    out = junit(review(engine, documents, derive=INDEXES, skipped=skipped), True)
    suite = ET.fromstring(out.split("\n", 1)[1])[0]
    assert suite.attrib == {
        "name": "edgeguard review",
        "tests": "3",
        "errors": "0",
        "failures": "2",
        "skipped": "1",
        "time": "0",
    }
    cases = [
        (c.attrib["classname"], c.attrib["name"], [(r.tag, r.attrib.get("message")) for r in c])
        for c in suite
    ]
    assert cases == [
        (
            "no-forbidden-label",
            "Widget default/w\\x1b[0m (apps/pool.v2.yaml:4)",
            [
                (
                    "failure",
                    "label forbidden is set at metadata.labels.forbidden; remove it",
                )
            ],
        ),
        (
            "size-warning",
            "Widget default/w\\x1b[0m (apps/pool.v2.yaml:4)",
            [("failure", "size is 1")],
        ),
        ("not-reviewed", "chart/values.yaml:1", [("skipped", "not a Kubernetes object")]),
    ]


def test_a_dotted_policy_name_is_not_split_into_package_and_class() -> None:
    dotted = Policy("gateway.example.com/binding", NO_FORBIDDEN.kinds, NO_FORBIDDEN.check)
    engine = Engine([dotted], Config.defaults([dotted]))
    documents = [Document(widget("w", {"forbidden": "1"}), "a.yaml", 1)]
    suite = ET.fromstring(junit(review(engine, documents, derive=INDEXES)).split("\n", 1)[1])
    assert [c.attrib["classname"] for c in suite[0]] == ["gateway_example_com/binding"]
