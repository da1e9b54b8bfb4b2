"""The `edgeguard` command: serve, certs generate (review and test come from their modules).

Configuration enters here once: flags with EDGEGUARD_* environment fallbacks become frozen
settings passed down. Exit codes: 0 ok, 1 denied (review), 2 usage, input or config error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import policies
from webhook import certs, logs
from webhook.config import ConfigError, load
from webhook.engine import Engine
from webhook.serve import ServeSettings, ensure_dev_certificates, serve
from webhook.server import DEFAULT_MAX_BODY

ENV = os.environ


def _env(name: str, default: str | None = None) -> str | None:
    return ENV.get(f"EDGEGUARD_{name}", default)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the admission webhook over HTTPS")
    p.add_argument("--host", default=_env("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(_env("PORT", "8443") or 8443))
    p.add_argument("--tls-cert", type=Path, default=Path(_env("TLS_CERT", "certs/tls.crt") or ""))
    p.add_argument("--tls-key", type=Path, default=Path(_env("TLS_KEY", "certs/tls.key") or ""))
    p.add_argument(
        "--client-ca",
        type=Path,
        default=_path(_env("CLIENT_CA")),
        help="require client certificates signed by this CA",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=_path(_env("CONFIG")),
        help="the policy configuration file (YAML)",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=int(_env("MAX_BODY") or DEFAULT_MAX_BODY),
        help="largest request body in bytes (default 3 MiB: the API server's cap)",
    )
    p.add_argument(
        "--san",
        action="append",
        default=_list(_env("SANS")),
        help="extra SAN for the development certificate (repeatable)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=float(_env("GRACE", "25") or 25),
        help="seconds to let in-flight requests finish on SIGTERM",
    )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))


def _certs_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("certs", help="certificate tools")
    csub = p.add_subparsers(dest="certs_command", required=True)
    g = csub.add_parser("generate", help="write ca.crt, tls.crt, tls.key for a Service")
    g.add_argument("--service", required=True)
    g.add_argument("--namespace", required=True)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--san", action="append", default=[])
    g.add_argument("--days", type=int, default=365)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _list(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeguard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _certs_parser(sub)
    return p


def _run_serve(args: argparse.Namespace) -> int:
    logs.setup(args.log_level)
    shipped = policies.builtin()
    try:
        config = load(args.config, shipped)
    except ConfigError as exc:
        print(f"edgeguard: configuration error: {exc}", file=sys.stderr)
        return 2
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        client_ca=args.client_ca,
        max_body=args.max_body,
        extra_sans=tuple(args.san),
        grace_seconds=args.grace,
    )
    ensure_dev_certificates(settings)
    asyncio.run(serve(settings, Engine(shipped, config)))
    return 0


def _run_certs(args: argparse.Namespace) -> int:
    paths = certs.generate(args.out, args.service, args.namespace, tuple(args.san), args.days)
    print(f"wrote {paths.ca}, {paths.cert}, {paths.key}")
    print(f"caBundle: {certs.ca_bundle(paths.ca)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return _run_serve(args)
    if args.command == "certs":
        return _run_certs(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
