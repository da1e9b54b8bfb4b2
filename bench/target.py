"""One server under test, in its own process: edgeguard (full default policies) or the baseline.

`python -m bench.target edgeguard --port P --cert C --key K --objects N [--uvloop] [--orjson]`
fills a MemoryView with N routes and Pools, starts HTTPS on 127.0.0.1 and prints one JSON line
(`ready`, fill time, RSS) on stdout, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import signal
import sys
import time
import types
from pathlib import Path
from typing import Any

from aiohttp import web

import policies
from bench import baseline, fixtures
from webhook.cluster.memory import MemoryView
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.server import http as edgeguard_server
from webhook.server import logs
from webhook.server.http import ServerState
from webhook.server.tls import CertWatcher


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def use_orjson() -> None:
    """Swap the JSON library edgeguard's transport uses (the fix the lead would make in code)."""
    import orjson

    edgeguard_server.json = types.SimpleNamespace(loads=orjson.loads)  # type: ignore[attr-defined,assignment]
    dumps = functools.partial(web.json_response, dumps=lambda o: orjson.dumps(o).decode())
    web.json_response = dumps


def edgeguard_app(objects: int, info: dict[str, Any]) -> web.Application:
    shipped = policies.builtin()
    engine = Engine(shipped, Config.defaults(shipped))
    # As from a watch: each object is decoded from its own JSON text, then cached.
    texts = [json.dumps(o) for o in fixtures.cluster(objects)]
    rss = rss_kib()
    start = time.perf_counter()
    view = MemoryView()
    for text in texts:
        view.upsert(json.loads(text))
    info["fill_seconds"] = time.perf_counter() - start
    info["view_objects"] = len(view)
    del texts
    info["view_rss_kib"] = rss_kib() - rss
    return edgeguard_server.make_app(ServerState(engine, view))


async def serve(args: argparse.Namespace) -> None:
    info: dict[str, Any] = {"ready": True, "app": args.app, "pid": os.getpid()}
    if args.app == "edgeguard":
        app = edgeguard_app(args.objects, info)
        context = CertWatcher(args.cert, args.key).context
    else:
        loads: Any = json.loads
        if args.orjson:
            import orjson

            loads = orjson.loads
        app = baseline.make_app(loads)
        context = CertWatcher(args.cert, args.key).context
    # Keep-alive above the API server's idle timeout (90 s), as production would.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=120)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=context, backlog=256)
    await site.start()
    info["rss_kib"] = rss_kib()
    print(json.dumps(info), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("app", choices=("edgeguard", "baseline"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", type=Path, required=True)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--orjson", action="store_true")
    p.add_argument("--log-level", default="INFO", help="edgeguard's JSON decision log level")
    args = p.parse_args()
    # Production logging: one JSON line per decision on stderr (the runner discards it).
    logs.setup(args.log_level)
    logging.getLogger("aiohttp.access").disabled = True
    if args.orjson and args.app == "edgeguard":
        use_orjson()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
