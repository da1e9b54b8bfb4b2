"""The HTTPS transport: AdmissionReview in, AdmissionReview out, plus health and metrics.

It refuses bad input with a 4xx and a JSON reason (never a 500), turns the body into a
`Review`, asks the engine, and writes the response. It holds no policy logic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from webhook.core import json as codec
from webhook.core.outcome import Outcome
from webhook.core.review import Review, ReviewError
from webhook.core.view import ClusterView
from webhook.engine import Engine
from webhook.server.logs import log_decision
from webhook.server.metrics import CONTENT_TYPE, Metrics
from webhook.server.response import admission_response

# The API server caps request bodies at 3 MiB (etcd's default object limit is 1.5 MiB, and an
# UPDATE review carries the object twice), so a larger body is not a real AdmissionReview.
DEFAULT_MAX_BODY = 3 * 1024 * 1024
# The API server sends a review's body at once, within its webhook timeout (at most 30 s); a
# body still arriving after this long is a stalled or hostile client. aiohttp has no body
# timeout of its own: without this the handler (and SIGTERM's drain) waits for it forever.
DEFAULT_BODY_SECONDS = 10.0
JSON_TYPES = ("application/json",)
Decide = Callable[[Review, ClusterView], Awaitable[Outcome]]


@dataclass
class ServerState:
    engine: Engine
    view: ClusterView
    metrics: Metrics = field(default_factory=Metrics)
    max_body: int = DEFAULT_MAX_BODY
    body_seconds: float = DEFAULT_BODY_SECONDS
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    in_flight: int = 0
    # Set on SIGTERM: every answer from then on closes its connection, so a keep-alive client
    # (the API server) does not send its next review into a socket about to be closed.
    closing: bool = False
    # Called right after a validating verdict, before any other request runs (no await in
    # between), so the live view can hold an admitted claim until the watch shows it.
    admitted: Callable[[Review, bool], object] | None = None
    # Takes the claims an allowed validating verdict relies on through the API server (other
    # replicas): the verdict as it stands then (webhook.cluster.leases). Runs after `admitted`.
    settle: Callable[[Review, Outcome], Awaitable[Outcome]] | None = None
    # What /mutate reads: the watched objects, never another request's reservation (a forged
    # or refused admission must not change what is injected into a certificate).
    watched: ClusterView | None = None
    # With a client CA: the certificate names (CN or DNS SAN) allowed to call; empty: any.
    client_names: frozenset[str] = frozenset()
    # Read-your-writes (webhook.cluster.readthrough): read what a request names and the view
    # lacks before deciding (warnings for what could not be read), and after a denial confirm
    # what it relied on (True: the view changed, decide again).
    prepare: Callable[[Review], Awaitable[list[str]]] | None = None
    confirm: Callable[[Review], Awaitable[bool]] | None = None

    def __post_init__(self) -> None:
        self.metrics.serving(kind for policy in self.engine.policies for kind in policy.kinds)

    async def drained(self, grace: float, poll: float = 0.02, quiet: float = 0.1) -> bool:
        """Waits until no admission has been in progress for `quiet` seconds (a request whose
        head was read just before the count was taken has then started), or `grace` seconds;
        True when drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        idle_since: float | None = None
        while loop.time() < deadline:
            now = loop.time()
            if self.in_flight:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= quiet:
                return True
            await asyncio.sleep(poll)
        return not self.in_flight


STATE = web.AppKey("state", ServerState)

# The request and answer codec (orjson when installed), by the names tests and tools use.
parse_json = codec.loads
dump_json = codec.dumps


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def make_app(state: ServerState) -> web.Application:
    # aiohttp's own limit sits above ours so that our handler answers 413 with a JSON reason.
    app = web.Application(client_max_size=state.max_body + 1)
    app[STATE] = state
    app.router.add_route("*", "/validate", _admission("validate", state.engine.validate_async))
    app.router.add_route("*", "/mutate", _admission("mutate", state.engine.mutate_async))
    _add_monitoring(app)
    return app


def make_monitoring_app(state: ServerState) -> web.Application:
    """/healthz, /readyz and /metrics alone, for the plain-HTTP monitoring port: the kubelet's
    probes and Prometheus present no client certificate (controller-runtime's convention)."""
    app = web.Application()
    app[STATE] = state
    _add_monitoring(app)
    return app


def _add_monitoring(app: web.Application) -> None:
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)


def _admission(
    endpoint: str, decide: Decide
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        state.in_flight += 1
        try:
            response = await admit(request, state)
        finally:
            state.in_flight -= 1
        if state.closing:
            response.force_close()
        return response

    async def admit(request: web.Request, state: ServerState) -> web.StreamResponse:
        start = time.perf_counter()  # the whole handling: body, decision, answer
        refused = _check_client(request, state.client_names) or _check_transport(
            request, state.max_body
        )
        if refused is None:
            body, refused = await _read_json(request, state.max_body, state.body_seconds)
        if refused is not None:
            state.metrics.refused(endpoint, refused.status)
            return refused
        try:
            review = Review.from_admission(body)
        except ReviewError as exc:
            state.metrics.refused(endpoint, 400)
            return error(400, str(exc))
        notes = await state.prepare(review) if state.prepare is not None else []
        watched = state.watched if endpoint == "mutate" else None
        view = watched if watched is not None else state.view  # not `or`: a view has a len()
        outcome = await decide(review, view)
        if not outcome.allowed and state.confirm is not None and await state.confirm(review):
            review = dataclasses.replace(review)  # a fresh per-request memo
            outcome = await decide(review, view)
        if notes:
            outcome = dataclasses.replace(outcome, warnings=(*outcome.warnings, *notes))
        # No await between the verdict and what follows: the view holds what was admitted
        # (the engine awaits user policies first, then decides the rest at once).
        if endpoint == "validate" and state.admitted is not None:
            state.admitted(review, outcome.allowed)
        if endpoint == "validate" and state.settle is not None and outcome.allowed:
            outcome = await state.settle(review, outcome)
        answer = dump_json(admission_response(review, outcome))
        seconds = time.perf_counter() - start
        state.metrics.observe(endpoint, review, outcome, seconds)
        log_decision(endpoint, review, outcome, seconds * 1000)
        return web.Response(body=answer, content_type="application/json")

    return handle


def _check_client(request: web.Request, allowed: frozenset[str]) -> web.Response | None:
    """403 unless the client certificate names one of the allowed callers (--client-cn)."""
    if not allowed:
        return None
    names = client_names(
        request.transport.get_extra_info("peercert") if request.transport else None
    )
    if names & allowed:
        return None
    shown = ", ".join(sorted(names)) or "no client certificate"
    return error(
        403,
        f"client {shown} is not allowed to call this webhook (--client-cn allows "
        f"{', '.join(sorted(allowed))})",
    )


def client_names(peercert: Any) -> frozenset[str]:
    """The CN and DNS SANs of a verified client certificate (ssl's getpeercert() form)."""
    if not isinstance(peercert, dict):
        return frozenset()
    names = {
        value for rdn in peercert.get("subject", ()) for key, value in rdn if key == "commonName"
    }
    names |= {value for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS"}
    return frozenset(names)


def _check_transport(request: web.Request, max_body: int) -> web.Response | None:
    if request.method != "POST":
        return error(405, f"method {request.method} not allowed; use POST", {"Allow": "POST"})
    if request.content_type not in JSON_TYPES:
        shown = request.content_type or "none"
        return error(415, f"content type {shown} not supported; use application/json")
    length = request.content_length
    if length is not None and length > max_body:
        return error(413, f"body of {length} bytes exceeds the limit of {max_body} bytes")
    return None


async def _read_json(
    request: web.Request, max_body: int, seconds: float
) -> tuple[Any, web.Response | None]:
    try:
        async with asyncio.timeout(seconds):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None, error(413, f"body exceeds the limit of {max_body} bytes")
    except TimeoutError:
        refused = error(408, f"body not received within {seconds:g} s")
        refused.force_close()
        return None, refused
    except ConnectionError:
        # The client went away mid-body: nobody reads this answer, but no traceback is logged.
        return None, error(400, "connection lost before the whole body arrived")
    if len(raw) > max_body:
        return None, error(413, f"body of {len(raw)} bytes exceeds the limit of {max_body} bytes")
    if not raw:
        return None, error(400, "empty body: expected an AdmissionReview")
    try:
        return parse_json(raw), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, error(400, f"body is not valid JSON: {exc}")
    except RecursionError:
        return None, error(400, "body is not valid JSON: nested too deeply")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    """Ready: every check passes, the view synced and no kind stale (a stale replica leaves
    the Service's endpoints, so the API server asks one that is in contact)."""
    state = request.app[STATE]
    checks = {name: check() for name, check in state.checks.items()}
    stale = sorted(map(str, state.view.stale_kinds()))
    checks.setdefault("view", state.view.synced and not stale)
    ready = all(checks.values())
    body: dict[str, Any] = {"ready": ready, "checks": checks}
    if stale:
        body["staleKinds"] = stale
    return web.json_response(body, status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = state.metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
