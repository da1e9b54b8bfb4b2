"""The baseline: a bare aiohttp HTTPS handler that parses the body and answers a fixed allow.

It is the ceiling edgeguard is compared with in the same run (same TLS, loop and JSON library):
whatever edgeguard costs beyond it is policy, review conversion, metrics and logging.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

ALLOWED = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}


def make_app(loads: Callable[[bytes], Any] = json.loads) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = loads(await request.read())
        uid = body["request"]["uid"]
        return web.json_response({**ALLOWED, "response": {"uid": uid, "allowed": True}})

    app = web.Application(client_max_size=3 * 1024 * 1024 + 1)
    app.router.add_post("/validate", handle)
    app.router.add_post("/mutate", handle)
    return app
