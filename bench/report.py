"""The short table printed after the JSON, and the issue's targets checked against the figures."""

from __future__ import annotations

from typing import Any

Result = dict[str, Any]


def _ratio(pair: Result) -> float:
    return float(pair["edgeguard"]["rps"]) / float(pair["baseline"]["rps"])


def review_rate(result: Result) -> tuple[float, str]:
    last = result["review"][-1]
    if last["cli"]:
        return float(last["cli"]["objects_per_s"]), f"edgeguard review, {last['objects']} objects"
    return float(last["engine_objects_per_s"]), f"engine loop (no CLI), {last['objects']} objects"


def cel_share(result: Result) -> dict[str, float]:
    """CEL's part of the server CPU one request costs (policy check / server µs per request)."""
    cel, adm = result["cel"], result["admission"]
    shares = {}
    for name in ("Pool", "OpenBaoCluster"):
        row = adm.get(f"{name}@8")
        if row:
            cpu = row["edgeguard"]["server_cpu_us_per_req"]
            shares[name] = cel[name]["us_policy_check_full_object"] / cpu
    mix_cel = sum(cel[n]["us_policy_check_full_object"] for n in ("Pool", "OpenBaoCluster")) / 5
    shares["mix"] = mix_cel / adm["mix@8"]["edgeguard"]["server_cpu_us_per_req"]
    return shares


def targets(result: Result) -> dict[str, Any]:
    mix8 = result["admission"]["mix@8"]
    per_object = max(m["bytes_per_object"] for m in result["scale"]["memory"])
    rate, how = review_rate(result)
    largest = result["scale"]["sizes"][-1]
    checks = {
        "throughput_vs_baseline@8 >= 0.5": (_ratio(mix8), _ratio(mix8) >= 0.5),
        "p99@8 < 2 ms": (mix8["edgeguard"]["p99_us"] / 1000, mix8["edgeguard"]["p99_us"] < 2000),
        f"p50 {largest}/100 @1 <= 1.3": (
            result["scale"]["p50_ratio_largest_over_100@1"],
            result["scale"]["p50_ratio_largest_over_100@1"] <= 1.3,
        ),
        "bytes per cached object <= 2048": (per_object, per_object <= 2048),
        f"review >= 2000 objects/s ({how})": (rate, rate >= 2000),
    }
    return {name: {"value": round(v, 3), "met": ok} for name, (v, ok) in checks.items()}


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def _load_rows(rows: Result, title: str) -> list[str]:
    out = [
        title,
        f"{'workload@conns':<22}{'eg req/s':>9}{'p50':>7}{'p99':>7}{'cpu µs':>8}"
        f"{'base req/s':>11}{'p50':>7}{'p99':>7}{'cpu µs':>8}{'eg/base':>8}",
    ]
    for key, pair in rows.items():
        if not isinstance(pair, dict) or "edgeguard" not in pair:
            continue
        e, b = pair["edgeguard"], pair["baseline"]
        out.append(
            f"{key:<22}{e['rps']:>9.0f}{_ms(e['p50_us']):>7}{_ms(e['p99_us']):>7}"
            f"{e['server_cpu_us_per_req']:>8.0f}{b['rps']:>11.0f}{_ms(b['p50_us']):>7}"
            f"{_ms(b['p99_us']):>7}{b['server_cpu_us_per_req']:>8.0f}{_ratio(pair):>8.2f}"
        )
    return out


def table(result: Result) -> str:
    tool = result["versions"]["load_generator"]
    lines = _load_rows(
        result["admission"], f"(1) admission, HTTPS keep-alive, view 10k objects, {tool} (ms)"
    )
    lines += _load_rows(result["variants"], "uvloop / orjson (each with its own baseline)")
    sc = result["scale"]
    lines.append("(2) view scale (routes+Pools): fill s, server RSS MiB, p50 ms at 1 and 8 conns")
    for size in sc["sizes"]:
        n, s = str(size), sc[str(size)]
        lines.append(
            f"  {n:>7}: fill {s['server']['fill_seconds']:.2f}  rss "
            f"{s['server']['rss_kib'] / 1024:.0f}  p50@1 {_ms(s['mix@1']['p50_us'])}  "
            f"p50@8 {_ms(s['mix@8']['p50_us'])}"
        )
    lines.append(
        f"  p50 ratio {sc['sizes'][-1]}/100: {sc['p50_ratio_largest_over_100@1']:.2f} (1 conn), "
        f"{sc['p50_ratio_largest_over_100@8']:.2f} (8 conns)"
    )
    for m in sc["memory"]:
        lines.append(
            f"  bytes/object at {m['routes']}: {m['bytes_per_object']:.0f} as cached; "
            f"{m['bytes_per_object_interned']:.0f} with keys and repeated values interned; "
            f"indexes {m['index_share']:.0%} of it"
        )
    lines.append("(3) review, objects/s")
    for r in result["review"]:
        cli = r["cli"]
        shown = f"{cli['objects_per_s']:.0f} (CLI, exit {cli['exit_code']})" if cli else "no CLI"
        lines.append(
            f"  {r['objects']:>6}: {shown}; engine loop {r['engine_objects_per_s']:.0f}; "
            f"YAML (libyaml) {r['yaml_c_objects_per_s']:.0f}"
        )
    lines.append("(4) CEL, µs")
    for name in ("Pool", "OpenBaoCluster"):
        c = result["cel"][name]
        lines.append(
            f"  {name}: {c['rules']} rules, {c['us_per_rule_eval_warm']:.1f}/rule warm; "
            f"policy check {c['us_policy_check_full_object']:.1f} (slim object "
            f"{c['us_policy_check_slim_object']:.1f}); "
            f"engine.validate {c['us_engine_validate']:.1f}"
        )
    lines.append(
        "  CEL share of server CPU per request: "
        + ", ".join(f"{k} {v:.0%}" for k, v in cel_share(result).items())
    )
    br = result["request_breakdown"]
    lines.append(
        f"  handler steps, µs per request outside the network (total {br['us_total']:.0f}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in br["us_per_request"].items())
    )
    lines.append("targets")
    for name, t in result["targets"].items():
        lines.append(f"  {'met ' if t['met'] else 'MISS'}  {name}: {t['value']}")
    lines.append(f"took {result['seconds']:.0f} s")
    return "\n".join(lines)
