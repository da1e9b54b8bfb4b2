"""Every real object in ../shared/data, reviewed with all policies against the rest of its file.

No denial is expected except those listed in EXPECTED_DENIALS, each with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

import policies
from tests.support import make_view
from webhook.core.config import Config
from webhook.core.review import Review
from webhook.engine import Engine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = ("gateway-api/examples", "openvox-operator/samples", "openbao-operator/samples")
SHIPPED = policies.builtin()
ENGINE = Engine(SHIPPED, Config.defaults(SHIPPED))

# (file relative to DATA, kind, name) -> the exact denial messages and why they are right.
EXPECTED_DENIALS: dict[tuple[str, str, str], tuple[tuple[str, ...], str]] = {}


def _documents() -> list[tuple[str, int, Mapping[str, Any]]]:
    found: list[tuple[str, int, Mapping[str, Any]]] = []
    for folder in FOLDERS:
        for path in sorted((DATA / folder).rglob("*.yaml")):
            docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
            for index, doc in enumerate(docs):
                found.append((str(path.relative_to(DATA)), index, doc))
    return found


DOCUMENTS = _documents()


def test_the_shared_data_is_there() -> None:
    assert len(DOCUMENTS) >= 120


@pytest.mark.parametrize(
    ("path", "index", "obj"),
    DOCUMENTS,
    ids=[f"{p}#{i}" for p, i, _ in DOCUMENTS],
)
def test_real_object_passes_every_policy(path: str, index: int, obj: Mapping[str, Any]) -> None:
    others = [d for p, i, d in DOCUMENTS if p == path and i != index]
    view = make_view(others)
    review = Review.from_manifest(obj, source=path)
    validated = ENGINE.validate(review, view)
    mutated = ENGINE.mutate(review, view)
    key = (path, str(obj.get("kind")), str(obj.get("metadata", {}).get("name")))
    expected = EXPECTED_DENIALS.get(key, ((), ""))[0]
    assert validated.messages + mutated.messages == expected
