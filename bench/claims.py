"""The cost of the claim step (issue 14): one Lease round trip per admission that takes a new
hostname, against the fake API server over loopback HTTP.

    .venv/bin/python bench/claims.py [--n 500]

Prints p50/p99 of `LeaseStore.acquire` for a new hostname (one create), for a hostname the
holder already holds (create refused, then one read), and for a dry run (one read).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from tests.fake_apiserver import FakeApiServer
from webhook.cluster.client import Endpoint, KubeClient
from webhook.cluster.leases import LeaseStore
from webhook.core.locks import Lock


def lock(i: int, holder: str = "g/TLSRoute/apps/web") -> Lock:
    host = f"h{i}.example.com"
    return Lock("unique-hostnames", "listener/Gateway/edge/edge/tls", host, holder, host)


async def measure(n: int) -> dict[str, list[float]]:
    fake = FakeApiServer()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def headers() -> dict[str, str]:
        return {}

    client = KubeClient(Endpoint(f"http://127.0.0.1:{port}", False), headers)
    store = LeaseStore(client, "edgeguard")
    samples: dict[str, list[float]] = {"new hostname": [], "held already": [], "dry run": []}
    for name, dry in (("new hostname", False), ("held already", False), ("dry run", True)):
        for i in range(n):
            start = time.perf_counter()
            refused = await store.acquire([lock(i)], lambda _: True, dry_run=dry)
            samples[name].append(time.perf_counter() - start)
            assert refused is None, refused
    await client.close()
    await runner.cleanup()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    for name, values in asyncio.run(measure(args.n)).items():
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"{name:14} p50 {statistics.median(values) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
