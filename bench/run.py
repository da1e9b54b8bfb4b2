"""Every edgeguard benchmark, on loopback, bounded: `python bench/run.py [--quick]`.

Prints one JSON document, then a short table with ratios against the baseline measured in the
same run (see bench/README.md). Not part of CI's test step. Full run < 10 min, --quick < 60 s.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import fixtures, inprocess, load, servers
from bench.report import table, targets
from webhook import certs

CONNECTIONS = (1, 8, 32)


def versions(tool: str) -> dict[str, str]:
    out = {"python": platform.python_version(), "load_generator": tool}
    for dist in ("aiohttp", "cel-expr-python", "uvloop", "orjson", "PyYAML", "prometheus-client"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    if tool == "wrk":
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        out["wrk"] = (done.stdout + done.stderr).split("[")[0].strip()
    return out


def workload_files(work: Path) -> dict[str, list[str]]:
    """name -> wrk/client request specs (PATH=FILE); "mix" cycles through all five."""
    specs: dict[str, list[str]] = {}
    for name, (path, body) in fixtures.workloads().items():
        file = work / f"{name}.json"
        file.write_bytes(body)
        specs[name] = [f"{path}={file}"]
    specs["mix"] = [spec for name in list(specs) for spec in specs[name]]
    return specs


def check_admitted(server: servers.Server) -> dict[str, str]:
    """Each workload must be allowed (the Certificate patched), or the figures mean nothing."""
    seen = {}
    for name, (path, body) in fixtures.workloads().items():
        response = servers.answer(server, path, body)["response"]
        if not response.get("allowed"):
            raise SystemExit(f"bench: {name} was denied: {response}")
        seen[name] = "patched" if "patch" in response else "allowed"
    return seen


def admission(ctx: Context) -> dict[str, Any]:
    names = ["mix"] if ctx.quick else list(ctx.specs)
    rows: dict[str, Any] = {}
    with (
        servers.running("edgeguard", ctx.work) as edge,
        servers.running("baseline", ctx.work) as base,
    ):
        rows["verdicts"] = check_admitted(edge)
        rows["edgeguard_server"] = edge.info
        for name in names:
            for c in CONNECTIONS:
                rows[f"{name}@{c}"] = {
                    "edgeguard": ctx.measure(edge, ctx.specs[name], c),
                    "baseline": ctx.measure(base, ctx.specs[name], c),
                }
    return rows


def variants(ctx: Context) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for uv, oj in ((True, False), (False, True), (True, True)):
        label = "+".join(n for n, on in (("uvloop", uv), ("orjson", oj)) if on)
        with (
            servers.running("edgeguard", ctx.work, uvloop=uv, orjson=oj) as edge,
            servers.running("baseline", ctx.work, uvloop=uv, orjson=oj) as base,
        ):
            check_admitted(edge)
            for c in (8,) if ctx.quick else (1, 8):
                rows[f"{label}@{c}"] = {
                    "edgeguard": ctx.measure(edge, ctx.specs["mix"], c),
                    "baseline": ctx.measure(base, ctx.specs["mix"], c),
                }
    return rows


def scale(ctx: Context) -> dict[str, Any]:
    sizes = (100, 10_000) if ctx.quick else (100, 10_000, 100_000)
    rows: dict[str, Any] = {"sizes": sizes}
    for n in sizes:
        with servers.running("edgeguard", ctx.work, objects=n) as edge:
            check_admitted(edge)
            rows[str(n)] = {
                "server": edge.info,
                **{f"mix@{c}": ctx.measure(edge, ctx.specs["mix"], c) for c in (1, 8)},
            }
    for c in (1, 8):
        key = f"mix@{c}"
        rows[f"p50_ratio_largest_over_100@{c}"] = (
            rows[str(sizes[-1])][key]["p50_us"] / rows["100"][key]["p50_us"]
        )
    rows["memory"] = [inprocess.view_memory(n) for n in sizes]
    return rows


class Context:
    def __init__(self, quick: bool, tool: str, work: Path) -> None:
        self.quick, self.tool, self.work = quick, tool, work
        self.seconds = 1.0 if quick else 3.0
        self.specs = workload_files(work)

    def measure(self, server: servers.Server, specs: list[str], c: int) -> dict[str, Any]:
        return servers.measure(server, specs, c, self.seconds, self.work, self.tool)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a < 60 s subset (1 s load runs)")
    p.add_argument("--load", choices=("auto", "wrk", "aiohttp"), default="auto")
    p.add_argument("--json", type=Path, help="also write the JSON document here")
    args = p.parse_args(argv)
    tool = args.load if args.load != "auto" else "wrk" if load.have_wrk() else "aiohttp"
    started = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory(prefix="edgeguard-bench-") as tmp:
        work = Path(tmp)
        certs.generate_dev(work)
        ctx = Context(args.quick, tool, work)
        review_sizes = (1000,) if args.quick else (1000, 10_000)
        result: dict[str, Any] = {
            "date": started.isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "cpus": os.cpu_count(),
            "versions": versions(tool),
            "admission": admission(ctx),
            "variants": variants(ctx),
            "scale": scale(ctx),
            "review": [inprocess.review_speed(n, work) for n in review_sizes],
            "cel": inprocess.cel_cost(500 if args.quick else 3000),
            "request_breakdown": inprocess.request_breakdown(200 if args.quick else 2000),
        }
    result["seconds"] = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    result["targets"] = targets(result)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
