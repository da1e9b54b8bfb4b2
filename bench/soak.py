"""Soak: edgeguard at a steady request rate for a bounded time; zero errors, flat memory.

`python -m bench.soak [--seconds 600] [--rate 200] [--connections 8] [--objects 2000]`
starts the bench server (full default policies, a view of `--objects` routes) in its own
process, sends the bench workloads at a fixed rate over keep-alive connections (every tenth
request on a new connection, so handshakes are soaked too), samples the server's RSS, and
prints one JSON summary. Exit 0 only with zero errors and RSS after warm-up within 10% of the
first sample after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench import fixtures, servers
from webhook import certs

RSS_TOLERANCE = 0.10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def admitted(path: str, answer: Any) -> bool:
    response = answer.get("response", {}) if isinstance(answer, dict) else {}
    if response.get("allowed") is not True:
        return False
    return path != "/mutate" or response.get("patchType") == "JSONPatch"


async def drive(
    url: str, pid: int, seconds: float, rate: float, connections: int, sample: float
) -> dict[str, Any]:
    work = list(fixtures.workloads().values())
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    rss: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + seconds
    interval = connections / rate

    async def worker(n: int) -> None:
        kept = aiohttp.TCPConnector(ssl=context, limit=1)
        fresh = aiohttp.TCPConnector(ssl=context, force_close=True)
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(connector=kept, timeout=timeout) as keep,
            aiohttp.ClientSession(connector=fresh, timeout=timeout) as new,
        ):
            sent = 0
            while (due := start + (sent + n / connections) * interval) < end:
                await asyncio.sleep(max(0.0, due - loop.time()))
                path, body = work[(sent * connections + n) % len(work)]
                session = new if sent % 10 == 9 else keep
                began = loop.time()
                try:
                    async with session.post(
                        url + path, data=body, headers={"Content-Type": "application/json"}
                    ) as resp:
                        answer = await resp.json()
                        ok = resp.status == 200 and admitted(path, answer)
                        outcomes["ok" if ok else f"bad-{resp.status}"] += 1
                except Exception as exc:  # every failure is counted; the soak fails on any
                    outcomes[type(exc).__name__] += 1
                latencies.append(loop.time() - began)
                sent += 1

    async def sampler() -> None:
        while loop.time() < end:
            rss.append((round(loop.time() - start, 1), rss_kib(pid)))
            await asyncio.sleep(sample)

    await asyncio.gather(sampler(), *(worker(n) for n in range(connections)))
    return verdict(outcomes, latencies, rss, loop.time() - start)


def verdict(
    outcomes: Counter[str], latencies: list[float], rss: list[tuple[float, int]], took: float
) -> dict[str, Any]:
    warm = [kib for t, kib in rss if t >= rss[-1][0] * 0.2] or [rss[-1][1]]
    growth = (max(warm) - warm[0]) / warm[0]
    ordered = sorted(latencies) or [0.0]
    errors = sum(v for k, v in outcomes.items() if k != "ok")
    return {
        "seconds": round(took, 1),
        "requests": sum(outcomes.values()),
        "rps": round(sum(outcomes.values()) / took, 1),
        "outcomes": dict(outcomes),
        "errors": errors,
        "latency_ms": {
            "p50": round(ordered[len(ordered) // 2] * 1000, 2),
            "p99": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
            "max": round(ordered[-1] * 1000, 2),
        },
        "rss_kib": {"after_warmup": warm[0], "max": max(warm), "last": warm[-1]},
        "rss_growth": round(growth, 4),
        "rss_samples": rss,
        "passed": errors == 0 and growth <= RSS_TOLERANCE,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.soak", description=__doc__)
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--rate", type=float, default=200.0, help="requests per second")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--objects", type=int, default=2000, help="routes in the server's view")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        certs.generate_dev(work)
        with servers.running("edgeguard", work, objects=args.objects) as server:
            summary = asyncio.run(
                drive(
                    server.url,
                    server.pid,
                    args.seconds,
                    args.rate,
                    args.connections,
                    min(args.sample, args.seconds / 10),
                )
            )
    summary["settings"] = vars(args)
    json.dump(summary, sys.stdout, indent=1)
    print()
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
