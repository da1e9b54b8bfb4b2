"""A load generator: `wrk` (C, preferred) or an aiohttp client, always in a separate process.

Closed loop over keep-alive HTTPS connections: each connection sends the next request as soon
as the previous answer arrives, cycling through the given (path, body) requests. Both report
requests, seconds, non-2xx count and latency percentiles in microseconds.
`python -m bench.load URL CONNECTIONS SECONDS PATH=FILE...` runs the aiohttp client.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

WRK_SCRIPT = r"""
local reqs = {}
local n = 0
init = function(args)
  for i, a in ipairs(args) do
    local path, file = a:match("([^=]+)=(.+)")
    local fh = io.open(file, "rb")
    local body = fh:read("*a")
    fh:close()
    reqs[i] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.6f,"non2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f,"mean_us":%.1f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, connections: int, seconds: float, requests: list[str], work: Path) -> Any:
    script = work / "bench.lua"
    script.write_text(WRK_SCRIPT)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    cmd += ["-s", str(script), url, "--", *requests]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def run_client(url: str, connections: int, seconds: float, requests: list[str]) -> Any:
    cmd = [sys.executable, "-m", "bench.load", url, str(connections), str(seconds), *requests]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(out.stdout)


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


async def _connection(
    url: str, bodies: list[tuple[str, bytes]], deadline: float, lat: list[float]
) -> int:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    failed = 0
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=1, ssl=context)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        i = 0
        while time.perf_counter() < deadline:
            path, body = bodies[i % len(bodies)]
            i += 1
            start = time.perf_counter()
            async with session.post(path, data=body, headers=headers) as response:
                await response.read()
                failed += response.status >= 300
            lat.append((time.perf_counter() - start) * 1e6)
    return failed


async def _client(url: str, connections: int, seconds: float, specs: list[str]) -> Any:
    bodies = [(p, Path(f).read_bytes()) for p, f in (s.split("=", 1) for s in specs)]
    lat: list[float] = []
    start = time.perf_counter()
    tasks = [_connection(url, bodies, start + seconds, lat) for _ in range(connections)]
    failed = sum(await asyncio.gather(*tasks))
    elapsed = time.perf_counter() - start
    lat.sort()
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "non2xx": failed,
        "socket_errors": 0,
        "p50_us": _percentile(lat, 50),
        "p90_us": _percentile(lat, 90),
        "p99_us": _percentile(lat, 99),
        "max_us": lat[-1] if lat else 0.0,
        "mean_us": sum(lat) / len(lat) if lat else 0.0,
    }


if __name__ == "__main__":
    url, conns, secs, *specs = sys.argv[1:]
    print(json.dumps(asyncio.run(_client(url, int(conns), float(secs), specs))))
