"""Property tests: hostile AdmissionReviews against `Review` parsing and the live endpoints.

Seeds are the requests of every case file under tests/cases (real kinds, real policies); each
example mutates one (wrong types at any field, huge or odd strings, deep nesting, nulls,
deleted keys, duplicate keys in the raw JSON). Whatever arrives, the server answers a 4xx with
{"error": reason} or a well-formed AdmissionReview response: never a 5xx, never a hang.
`EDGEGUARD_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py` is the longer bounded run.
"""

from __future__ import annotations

import base64
import copy
import http.client
import io
import json
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policies
from tests.support import TLS, admission_review, make_tls, make_view
from webhook.cluster.memory import MemoryView
from webhook.core.config import Config
from webhook.core.review import ADMISSION_VERSIONS, Review, ReviewError
from webhook.engine import Engine
from webhook.server.http import ServerState, make_app, parse_json
from webhook.server.response import admission_response
from webhook.yamlio import manifests

CASES = Path(__file__).parent / "cases"
EXAMPLES = int(os.environ.get("EDGEGUARD_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RESPONSE_KEYS = {"uid", "allowed", "status", "warnings", "patchType", "patch", "auditAnnotations"}
# Nesting that Python's json parses, so it reaches the policies; deeper is tested on its own.
DEPTHS = (10, 200, 500)


def _cases() -> list[dict[str, Any]]:
    specs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(CASES.rglob("*.yaml"))]
    return [s for s in specs if isinstance(s, dict) and isinstance(s.get("request"), dict)]


def _seed(request: Mapping[str, Any]) -> dict[str, Any]:
    operation = str(request.get("operation", "CREATE"))
    obj, old = request.get("object"), request.get("oldObject")
    return admission_review(obj, operation=operation, old=old, dry_run=bool(request.get("dryRun")))


SPECS = _cases()
SEEDS = [_seed(spec["request"]) for spec in SPECS]
CREATE = next(s for s in SEEDS if s["request"]["operation"] == "CREATE")
CLUSTER = [obj for spec in SPECS for obj in spec.get("cluster") or [] if isinstance(obj, dict)]
SHIPPED = policies.builtin()
ENGINE = Engine(SHIPPED, Config.defaults(SHIPPED))


def view() -> MemoryView:
    return make_view(CLUSTER)


# --- strategies -----------------------------------------------------------------------------

ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",  # a lone surrogate: valid JSON ("\ud800"), not encodable as UTF-8
        "\u202e\u0301é中文🙂",
        "*.example.com",
        "..",
        "a" * 70_000,
        "x." * 20_000,
        "-1",
        "null",
        "CREATE ",
        "admission.k8s.io/v2",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    ODD_STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any = "x") -> Any:
    value: Any = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


HOSTILE = st.one_of(JSON_VALUES, st.sampled_from(DEPTHS).map(nested))


def paths(value: Any, limit: int = 12) -> list[tuple[Any, ...]]:
    """Locations in a JSON tree (dict keys and list indexes) down to `limit`, root included."""
    found: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        here, node = stack.pop()
        found.append(here)
        if len(here) >= limit:
            continue
        if isinstance(node, dict):
            stack.extend(((*here, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*here, i), v) for i, v in enumerate(node))
    return found


def mutated(root: Any, where: tuple[Any, ...], how: str, value: Any) -> Any:
    if not where:
        return value if how != "delete" else {}
    parent = root
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    if how == "delete":
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return root


@st.composite
def mutated_reviews(draw: st.DrawFn, within: tuple[str, ...] = ()) -> Any:
    """A seed with one to three mutations, anywhere or only under `within` (e.g. the object)."""
    review = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(paths(review)))
        if where[: len(within)] != within:
            continue
        how = draw(st.sampled_from(["replace", "delete", "null", "wrap"]))
        value = None if how == "null" else draw(HOSTILE)
        review = mutated(review, where, how, value)
        if not isinstance(review, dict | list):
            break
    return review


SHAPES = st.sampled_from(
    [
        ("DELETE", "object", None),  # DELETE carries oldObject only
        ("DELETE", "oldObject", None),  # ... or nothing at all (older API servers)
        ("UPDATE", "oldObject", None),  # UPDATE without oldObject is malformed
        ("CONNECT", "object", None),
        ("CREATE", "kind", None),
        ("CREATE", "kind", {"group": "", "version": "v1"}),
        ("CREATE", "kind", {"group": "x.io", "version": "v9", "kind": "Unknown"}),
        ("CREATE", "object", {}),
        ("CREATE", "object", {"metadata": None, "spec": None}),
        ("CREATE", "namespace", ""),
        ("CREATE", "userInfo", None),
    ]
)


@st.composite
def edge_shapes(draw: st.DrawFn) -> Any:
    """Seeds bent into the shapes the API server sends rarely, or never."""
    review = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    operation, field, value = draw(SHAPES)
    request = review["request"]
    request["operation"] = operation
    if operation == "DELETE":
        request["oldObject"] = request.get("oldObject") or request.get("object")
    request[field] = value
    review["apiVersion"] = draw(
        st.sampled_from([*ADMISSION_VERSIONS, "admission.k8s.io/v1beta2", "v1", ""])
    )
    return review


BODIES = st.one_of(
    mutated_reviews(),
    mutated_reviews(within=("request", "object")),
    edge_shapes(),
    JSON_VALUES,
)


def encode(value: Any, duplicate: tuple[tuple[Any, ...], Any, bool] | None = None) -> bytes:
    """JSON text, optionally with the object key at `where` written twice (first or last)."""
    if duplicate is None:
        return json.dumps(value).encode()
    where, other, before = duplicate

    def dump(node: Any, depth: int) -> str:
        if depth == len(where) - 1:
            assert isinstance(node, dict)
            items = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in node.items()]
            extra = f"{json.dumps(where[-1])}:{json.dumps(other)}"
            return "{" + ",".join([extra, *items] if before else [*items, extra]) + "}"
        step = where[depth]
        if isinstance(node, dict):
            parts = [
                f"{json.dumps(k)}:{dump(v, depth + 1) if k == step else json.dumps(v)}"
                for k, v in node.items()
            ]
            return "{" + ",".join(parts) + "}"
        parts = [dump(v, depth + 1) if i == step else json.dumps(v) for i, v in enumerate(node)]
        return "[" + ",".join(parts) + "]"

    return dump(value, 0).encode()


@st.composite
def raw_bodies(draw: st.DrawFn) -> tuple[bytes, Any]:
    """(bytes sent, what the server parses them to: with orjson installed, integers beyond
    64 bits become floats, so the stdlib's reading is not the reference)."""
    body = draw(BODIES)
    if not draw(st.booleans()):
        return encode(body), parse_json(encode(body))
    keyed = [p for p in paths(body) if p and isinstance(p[-1], str)]
    if not keyed:
        return encode(body), parse_json(encode(body))
    where = draw(st.sampled_from(keyed))
    other, before = draw(SCALARS), draw(st.booleans())
    data = encode(body, (where, other, before))
    return data, parse_json(data)


# --- parsing and the engine, in process ---------------------------------------------------


@FUZZ
@given(BODIES)
def test_parsing_either_succeeds_or_says_why(body: Any) -> None:
    try:
        review = Review.from_admission(body)
    except ReviewError as exc:
        assert str(exc)
        return
    request = body["request"]
    assert (review.uid, review.operation) == (request["uid"], request["operation"])
    assert review.api_version == body["apiVersion"]
    for outcome in (ENGINE.validate(review, view()), ENGINE.mutate(review, view())):
        check_response(admission_response(review, outcome), review)


@FUZZ
@given(edge_shapes())
def test_rare_shapes_are_parsed_or_refused_exactly(body: Any) -> None:
    request = body["request"]
    try:
        review = Review.from_admission(body)
    except ReviewError:
        refused = (
            body["apiVersion"] not in ADMISSION_VERSIONS
            or not isinstance(request.get("kind"), dict)
            or "kind" not in request["kind"]
            or (request["operation"] == "UPDATE" and request.get("oldObject") is None)
            or (request["operation"] in ("CREATE", "UPDATE") and request.get("object") is None)
        )
        assert refused
        return
    if request["operation"] == "DELETE":
        assert review.object is None or request.get("object") is not None
        check_response(admission_response(review, ENGINE.validate(review, view())), review)


# --- the endpoints, over HTTPS ------------------------------------------------------------


class ThreadedServer:
    """The real app on loopback, in its own thread and loop, so hypothesis can stay sync."""

    def __init__(self, app: web.Application, tls: TLS) -> None:
        self.app, self.tls = app, tls
        self.port = 0
        self._ready = threading.Event()
        self._stop: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        assert self._ready.wait(10), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
        self._thread.join(10)

    def _run(self) -> None:
        import asyncio

        async def main() -> None:
            runner = web.AppRunner(self.app, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.tls.server_context)
            await site.start()
            self.port = runner.addresses[0][1]
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            self._stop = lambda: loop.call_soon_threadsafe(stop.set)
            self._ready.set()
            await stop.wait()
            await runner.cleanup()

        asyncio.run(main())

    def post(
        self, path: str, data: bytes, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.tls.client_context, timeout=10
        )
        try:
            conn.request("POST", path, data, {"Content-Type": content_type})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    state = ServerState(ENGINE, view())
    with ThreadedServer(make_app(state), make_tls()) as running:
        yield running


def check_response(body: Any, review: Review) -> None:
    """A well-formed AdmissionReview response for `review`."""
    assert set(body) == {"apiVersion", "kind", "response"}
    assert (body["apiVersion"], body["kind"]) == (review.api_version, "AdmissionReview")
    response = body["response"]
    assert set(response) <= RESPONSE_KEYS
    assert response["uid"] == review.uid
    assert isinstance(response["allowed"], bool)
    if not response["allowed"]:
        status = response["status"]
        assert status["code"] in (403, 500) and isinstance(status["message"], str)
        assert status["reason"] == {403: "Forbidden", 500: "InternalError"}[status["code"]]
        assert "patch" not in response
    if "patch" in response:
        assert response["patchType"] == "JSONPatch"
        ops = json.loads(base64.b64decode(response["patch"]))
        assert ops and all(op["op"] in ("add", "replace", "remove") for op in ops)
    assert all(isinstance(w, str) for w in response.get("warnings", []))


def check_answer(status: int, raw: bytes, sent: Any) -> None:
    assert status < 500, raw[:300]
    body = json.loads(raw)
    try:
        review = Review.from_admission(sent)
    except ReviewError as exc:
        assert (status, body) == (400, {"error": str(exc)})
        return
    assert status == 200, body
    check_response(body, review)


@FUZZ
@given(raw_bodies(), st.sampled_from(["/validate", "/mutate"]))
def test_every_answer_is_a_reason_or_a_review(
    server: ThreadedServer, body: tuple[bytes, Any], path: str
) -> None:
    data, parsed = body
    status, raw = server.post(path, data)
    check_answer(status, raw, parsed)


@FUZZ
@given(st.binary(max_size=512), st.sampled_from(["/validate", "/mutate"]))
def test_bytes_that_are_not_json_get_400(server: ThreadedServer, data: bytes, path: str) -> None:
    status, raw = server.post(path, data)
    try:
        parsed = parse_json(data)
    except (ValueError, RecursionError):
        assert status == 400 and set(json.loads(raw)) == {"error"}
        return
    check_answer(status, raw, parsed)


@pytest.mark.parametrize("depth", [*DEPTHS, 900, 2000, 100_000])
def test_deep_nesting_inside_the_object(server: ThreadedServer, depth: int) -> None:
    review = copy.deepcopy(CREATE)
    review["request"]["object"]["spec"] = "DEEP"
    head, tail = encode(review).split(b'"DEEP"')
    data = head + b'{"a":[' * depth + b"1" + b"]}" * depth + tail
    status, raw = server.post("/validate", data)
    answer = json.loads(raw)
    if depth >= 2000 or status == 400:
        assert depth > 500
        assert (status, answer) == (400, {"error": "body is not valid JSON: nested too deeply"})
    else:
        check_response(answer, Review.from_admission(review))


def test_a_body_just_under_the_limit_is_answered(server: ThreadedServer) -> None:
    review = copy.deepcopy(CREATE)
    review["request"]["object"]["metadata"]["annotations"] = {"big": ""}
    room = 3 * 1024 * 1024 - len(encode(review))
    review["request"]["object"]["metadata"]["annotations"]["big"] = "a" * (room - 16)
    data = encode(review)
    assert len(data) <= 3 * 1024 * 1024
    status, raw = server.post("/mutate", data)
    check_answer(status, raw, json.loads(data))


# --- `edgeguard review` input: hostile YAML ----------------------------------------------

YAML_PIECES = st.sampled_from(
    [
        "a: &x [1, 2]\n",
        "b: *x\n",
        "c: *missing\n",
        "---\n",
        "- ",
        "[" * 300,
        "{" * 50,
        "!!python/object:os.system {}\n",
        "!!binary aGVsbG8=\n",
        "? complex\n: key\n",
        "kind: Pod\napiVersion: v1\nmetadata: {name: p}\n",
        "\t",
        "\x00",
        "\ufeff",
        "'unterminated\n",
        "x: " + "y" * 10_000 + "\n",
        "<<: *x\n",
    ]
)


@FUZZ
@given(
    st.one_of(
        st.lists(YAML_PIECES, max_size=12).map(lambda parts: "".join(parts).encode()),
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
def test_review_input_is_parsed_or_refused_with_a_reason(data: bytes) -> None:
    """`edgeguard review -`: any bytes give documents or a ManifestError naming the line."""
    try:
        documents = manifests.load(["-"], io.BytesIO(data))
    except manifests.ManifestError as exc:
        assert str(exc).startswith("<stdin>:"), str(exc)
        return
    assert isinstance(documents, list)
