"""The `edgeguard` command: serve, certs generate, review and test.

Configuration enters here once: flags with EDGEGUARD_* environment fallbacks become frozen
settings passed down; the policies are wired up here. Exit codes: 0 ok, 1 denied (review) or
a mismatch (test), 2 usage, input or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import policies
from policies.gateway.indexes import INDEXES
from webhook.cluster.leases import DEFAULT_GRACE_SECONDS, DEFAULT_NAMESPACE
from webhook.config import ConfigError, load, user_policy_sources
from webhook.core.config import Config
from webhook.core.policy import Policy
from webhook.core.review import ReviewError
from webhook.engine import Engine
from webhook.offline import reports, run, runner
from webhook.server import logs
from webhook.vap.load import VAPError, load_user_policies
from webhook.yamlio import manifests
from webhook.yamlio.manifests import ManifestError

ENV = os.environ
# The server's body limit (webhook/server.py says why); repeated so that `review` and `test`
# need not import the HTTPS stack.
DEFAULT_MAX_BODY = 3 * 1024 * 1024


def _env(name: str, default: str | None = None) -> str | None:
    return ENV.get(f"EDGEGUARD_{name}", default)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the admission webhook over HTTPS")
    p.add_argument("--host", default=_env("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(_env("PORT", "8443") or 8443))
    p.add_argument(
        "--monitoring-port",
        type=int,
        default=int(_env("MONITORING_PORT", "8080") or 8080),
        help="plain-HTTP port for /healthz, /readyz and /metrics, for the kubelet's probes and "
        "Prometheus, which present no client certificate (default 8080; 0: none)",
    )
    p.add_argument("--tls-cert", type=Path, default=Path(_env("TLS_CERT", "certs/tls.crt") or ""))
    p.add_argument("--tls-key", type=Path, default=Path(_env("TLS_KEY", "certs/tls.key") or ""))
    p.add_argument(
        "--dev-certs",
        action="store_true",
        default=_env("DEV_CERTS", "") in ("1", "true", "yes"),
        help="make a development CA and certificate at --tls-cert/--tls-key when neither "
        "exists (done without this flag only at the default paths)",
    )
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
        default=int(_env("MAX_BODY") or DEFAULT_MAX_BODY),  # 3 MiB: see webhook/server.py
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
    p.add_argument(
        "--kubeconfig",
        type=Path,
        default=_path(_env("KUBECONFIG")),
        help="kubeconfig for the live cluster view (default: $KUBECONFIG, the pod's service "
        "account, then ~/.kube/config; none of them: an empty view)",
    )
    p.add_argument(
        "--namespace",
        default=ENV.get("POD_NAMESPACE") or _env("NAMESPACE", DEFAULT_NAMESPACE),
        help="edgeguard's own namespace, where hostname claims are kept as Leases (default: "
        f"$POD_NAMESPACE, then $EDGEGUARD_NAMESPACE, then {DEFAULT_NAMESPACE})",
    )
    p.add_argument(
        "--claim-grace",
        type=float,
        default=float(_env("CLAIM_GRACE", str(DEFAULT_GRACE_SECONDS)) or DEFAULT_GRACE_SECONDS),
        help="seconds a claim Lease protects a holder not yet in the view, before another "
        f"replica may take it over or the sweep releases it (default {DEFAULT_GRACE_SECONDS:g})",
    )
    p.add_argument(
        "--client-cn",
        action="append",
        default=_list(_env("CLIENT_CNS")),
        help="with --client-ca: the only client certificate names (CN or DNS SAN) allowed to "
        "call the webhook, as the API server's (repeatable; default: any the CA signed)",
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
    g.add_argument(
        "--force", action="store_true", help="replace the files already in --out (a new CA)"
    )


def _review_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("review", help="run the policies over manifests, as admission would")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, - for stdin")
    p.add_argument("-o", "--output", choices=reports.FORMATS, default="text")
    p.add_argument("--config", type=Path, default=_path(_env("CONFIG")))
    p.add_argument(
        "--cluster-state",
        action="append",
        default=[],
        metavar="PATH",
        help="objects already in the cluster (repeatable)",
    )
    p.add_argument("--operation", choices=("CREATE", "UPDATE"), default=None)
    p.add_argument(
        "--old",
        action="append",
        default=[],
        metavar="PATH",
        help="the old objects for UPDATE, matched by group, kind, namespace and name",
    )
    p.add_argument("--show-mutations", action="store_true", help="print patches and results")
    p.add_argument("--warnings-as-errors", action="store_true", help="warnings exit 1")
    _user_policy_arguments(p)


def _user_policy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="PATH",
        help="ValidatingAdmissionPolicy and binding files or folders to run too (repeatable)",
    )
    p.add_argument(
        "--policy-name-prefix",
        default="",
        metavar="PREFIX",
        help="prefix of the policy names in those files, as kustomize's namePrefix adds it",
    )


def _test_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("test", help="run policy case files and suite files under DIR")
    p.add_argument("dir", type=Path, metavar="DIR")
    _user_policy_arguments(p)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _list(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeguard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _certs_parser(sub)
    _review_parser(sub)
    _test_parser(sub)
    return p


def _run_serve(args: argparse.Namespace) -> int:
    # The HTTPS stack and the cluster client are imported only where they are used, so
    # `edgeguard review` in CI starts fast.
    from webhook.cluster import client as kubeclient
    from webhook.serve import ServeSettings, StartupError, ensure_dev_certificates, run, serve

    logs.setup(args.log_level)
    try:
        shipped, config = configured(args.config)
    except ConfigError as exc:
        print(f"edgeguard: configuration error: {exc}", file=sys.stderr)
        return 2
    except VAPError as exc:
        print(f"edgeguard: user policy error: {exc}", file=sys.stderr)
        return 2
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        monitoring_port=args.monitoring_port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        dev_certs=args.dev_certs,
        client_ca=args.client_ca,
        max_body=args.max_body,
        extra_sans=tuple(args.san),
        grace_seconds=args.grace,
        kubeconfig=args.kubeconfig,
        environ={k: ENV[k] for k in kubeclient.ENVIRONMENT if k in ENV},
        namespace=args.namespace,
        claim_grace_seconds=args.claim_grace,
        client_names=tuple(args.client_cn),
    )
    try:
        ensure_dev_certificates(settings)
        run(serve(settings, Engine(shipped, config)))
    except StartupError as exc:
        print(f"edgeguard: {exc}", file=sys.stderr)
        return 2
    except kubeclient.ClusterConfigError as exc:
        print(f"edgeguard: cluster configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_certs(args: argparse.Namespace) -> int:
    from webhook import certs

    try:
        paths = certs.generate(
            args.out, args.service, args.namespace, tuple(args.san), args.days, args.force
        )
    except certs.CertFileError as exc:
        return _usage(str(exc))
    print(f"wrote {paths.ca}, {paths.cert}, {paths.key}")
    print(f"caBundle: {certs.ca_bundle(paths.ca)}")
    return 0


def known_policies(extra: Sequence[Policy] = ()) -> list[Policy]:
    """The built-in policies, then any others (the plug point for user-written policies)."""
    return [*policies.builtin(), *extra]


def configured(
    config: Path | None, policy_paths: Sequence[str] = (), prefix: str = ""
) -> tuple[list[Policy], Config]:
    """The built-in and user policies (from the configuration and the command line), and the
    configuration checked against all of them. Raises ConfigError or VAPError."""
    paths, config_prefix = user_policy_sources(config)
    user = load_user_policies(paths, config_prefix) if paths else []
    if policy_paths:
        user += load_user_policies([Path(p) for p in policy_paths], prefix)
    known = known_policies(user)
    return known, load(config, known)


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in ENV


def _run_review(args: argparse.Namespace) -> int:
    operation = args.operation or ("UPDATE" if args.old else "CREATE")
    if operation == "UPDATE" and not args.old:
        return _usage("--operation UPDATE needs --old PATH with the objects as they are now")
    if operation == "CREATE" and args.old:
        return _usage("--old is for --operation UPDATE")
    known, config = configured(args.config, args.policy, args.policy_name_prefix)
    stdin = sys.stdin.buffer
    reviewed = run.review(
        Engine(known, config),
        manifests.load(args.paths, stdin),
        manifests.load(args.cluster_state, stdin),
        manifests.load(args.old, stdin),
        operation,
        derive=INDEXES,
    )
    sys.stdout.write(
        reports.render(
            reviewed, args.output, _colour(), args.show_mutations, args.warnings_as_errors
        )
    )
    return reviewed.exit_code(args.warnings_as_errors)


def _run_test(args: argparse.Namespace) -> int:
    known, _ = configured(None, args.policy, args.policy_name_prefix)
    rows = runner.run(args.dir, {p.name: p for p in known}, INDEXES)
    sys.stdout.write(runner.table(rows, _colour()))
    return 0 if all(row.passed for row in rows) else 1


def _usage(message: str) -> int:
    print(f"edgeguard: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return _run_serve(args)
    if args.command == "certs":
        return _run_certs(args)
    try:
        if args.command == "review":
            return _run_review(args)
        if args.command == "test":
            return _run_test(args)
    except (ManifestError, ReviewError) as exc:
        return _usage(str(exc))
    except ConfigError as exc:
        return _usage(f"configuration error: {exc}")
    except VAPError as exc:
        return _usage(f"user policy error: {exc}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
