"""The `edgeguard` command: serve, certs generate, review and test.

Configuration enters here once: flags with EDGEGUARD_* environment fallbacks (webhook.options)
become frozen settings passed down; the policies are wired up here. Exit codes: 0 ok, 1 denied
(review) or a mismatch (test), 2 usage, input or configuration error, in one line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import policies
from policies.gateway.indexes import INDEXES
from webhook import options, version
from webhook.cluster.leases import DEFAULT_GRACE_SECONDS, DEFAULT_NAMESPACE
from webhook.config import ConfigError, load, user_policy_sources
from webhook.core.config import Config
from webhook.core.policy import Policy
from webhook.core.review import ReviewError
from webhook.engine import Engine
from webhook.offline import inputs, reports, run, runner
from webhook.options import Flags, OptionError, Parser
from webhook.server import logs
from webhook.vap.bound import Evaluator
from webhook.vap.load import VAPError, load_user_policies
from webhook.vap.workers import Pool, WorkerSettings, WorkerStartError
from webhook.yamlio.manifests import ManifestError

ENV = os.environ
# The server's body limit (webhook/server/http.py says why); repeated so that `review` and
# `test` need not import the HTTPS stack.
DEFAULT_MAX_BODY = 3 * 1024 * 1024

DESCRIPTION = """\
edgeguard checks the Kubernetes objects that expose TLS workloads (OpenBao, OpenVox/Puppet)
through the Gateway API: a TLSRoute on a terminating listener, two owners of one hostname, a
route without a hostname. The same policies run as an admission webhook (serve) and over
manifest files in CI (review, test)."""
EPILOG = """\
exit codes: 0 nothing denied, every test passed; 1 something denied (or warned, with
--warnings-as-errors) or a test failed; 2 a usage, input or configuration error.
Run `edgeguard COMMAND --help` for a command's flags."""
Subparsers = argparse._SubParsersAction  # argparse's own name for what add_subparsers returns


def _serve_parser(sub: Subparsers[Parser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the admission webhook over HTTPS",
        description="Run the admission webhook: POST /validate and /mutate (AdmissionReview) "
        "over HTTPS; GET /healthz, /readyz and /metrics over plain HTTP on --monitoring-port.",
    )
    f = Flags(p)
    f.add("--host", env="HOST", default="0.0.0.0", help="address to listen on")
    f.add("--port", env="PORT", default="8443", convert=options.port, help="HTTPS port")
    f.add(
        "--monitoring-port",
        env="MONITORING_PORT",
        default="8080",
        convert=options.port_or_zero,
        help="plain-HTTP port for /healthz, /readyz and /metrics, for the kubelet's probes and "
        "Prometheus, which present no client certificate; 0: none (then on the HTTPS port)",
    )
    f.add(
        "--tls-cert",
        env="TLS_CERT",
        default="certs/tls.crt",
        convert=options.path,
        metavar="FILE",
        help="serving certificate (PEM), reloaded when the file changes; made with --tls-key "
        "on first run at the default paths",
    )
    f.add(
        "--tls-key",
        env="TLS_KEY",
        default="certs/tls.key",
        convert=options.path,
        metavar="FILE",
        help="private key of --tls-cert (PEM)",
    )
    f.switch(
        "--dev-certs",
        env="DEV_CERTS",
        help="make a development CA and certificate at --tls-cert/--tls-key when neither "
        "exists (done without this flag only at the default paths)",
    )
    f.add(
        "--client-ca",
        env="CLIENT_CA",
        convert=options.path,
        shown="none, no client certificate is asked for",
        metavar="FILE",
        help="require client certificates signed by this CA (PEM)",
    )
    f.add(
        "--config",
        env="CONFIG",
        convert=options.path,
        shown="none, every policy in its default mode",
        metavar="FILE",
        help="the policy configuration file (YAML)",
    )
    f.add(
        "--kubeconfig",
        env="KUBECONFIG",
        convert=options.path,
        shown="$KUBECONFIG, the pod's service account, then ~/.kube/config; with none of "
        "them the view is empty",
        metavar="FILE",
        help="kubeconfig of the cluster the live view watches",
    )
    f.add(
        "--max-body",
        env="MAX_BODY",
        default=str(DEFAULT_MAX_BODY),
        shown="3145728, 3 MiB, the API server's own cap",
        convert=options.byte_count,
        metavar="BYTES",
        help="largest request body accepted",
    )
    f.add(
        "--san",
        env="SANS",
        repeat=True,
        metavar="NAME",
        help="extra DNS name or IP address in the development certificate (repeatable)",
    )
    f.add(
        "--grace",
        env="GRACE",
        default="25",
        shown="25 seconds",
        convert=options.seconds,
        metavar="SECONDS",
        help="time in-flight requests get to finish on SIGTERM",
    )
    f.add(
        "--log-level",
        env="LOG_LEVEL",
        default="info",
        convert=options.log_level,
        metavar="LEVEL",
        help=f"one of {', '.join(options.LOG_LEVELS)}; one JSON line per admission decision at "
        "info",
    )
    f.add(
        "--namespace",
        env="NAMESPACE",
        first_env="POD_NAMESPACE",
        default=DEFAULT_NAMESPACE,
        convert=options.dns_label,
        help="edgeguard's own namespace, where hostname claims are kept as Leases",
    )
    f.add(
        "--claim-grace",
        env="CLAIM_GRACE",
        default=f"{DEFAULT_GRACE_SECONDS:g}",
        shown=f"{DEFAULT_GRACE_SECONDS:g} seconds",
        convert=options.seconds,
        metavar="SECONDS",
        help="how long a claim Lease protects a holder not yet in the view, before another "
        "replica may take it over or the sweep releases it",
    )
    f.add(
        "--client-cn",
        env="CLIENT_CNS",
        repeat=True,
        metavar="NAME",
        shown="any name the CA signed",
        help="with --client-ca: a client certificate name (CN or DNS SAN) allowed to call the "
        "webhook, as the API server's (repeatable)",
    )
    _cel_arguments(f)
    f.finish()


def _certs_parser(sub: Subparsers[Parser]) -> None:
    p = sub.add_parser(
        "certs",
        help="certificate tools",
        description="Certificate tools for running edgeguard without cert-manager.",
    )
    csub = p.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    g = csub.add_parser(
        "generate",
        help="write a CA and a serving certificate for the webhook's Service",
        description="Write ca.crt, ca.key, tls.crt and tls.key (ECDSA P-256) for the Service "
        "SERVICE.NAMESPACE.svc into --out, and print the base64 caBundle.",
    )
    f = Flags(g)
    f.add("--service", required=True, convert=options.dns_label, help="the webhook's Service")
    f.add("--namespace", required=True, convert=options.dns_label, help="the Service's namespace")
    f.add(
        "--out",
        required=True,
        convert=options.path,
        metavar="DIR",
        help="folder to write the four files into (made when missing)",
    )
    f.add(
        "--san",
        repeat=True,
        metavar="NAME",
        help="extra DNS name or IP address in the serving certificate (repeatable)",
    )
    f.add(
        "--days",
        default="365",
        convert=options.days,
        help="how long the serving certificate and the CA are valid",
    )
    f.switch("--force", help="replace the files already in --out (with a new CA)")
    f.finish()


def _review_parser(sub: Subparsers[Parser]) -> None:
    p = sub.add_parser(
        "review",
        help="run the policies over manifests, as admission would",
        description="Admit manifests offline, as the API server would send them to edgeguard, "
        "and report each policy's verdict.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files, folders (every *.yaml, *.yml, *.json in them) and - for stdin; files "
        "that are not Kubernetes objects (values.yaml, kustomization.yaml, ...) are skipped "
        "with a note",
    )
    f = Flags(p)
    f.add(
        "--kustomize",
        repeat=True,
        metavar="DIR",
        convert=options.path,
        help="review what `kustomize build DIR` renders (with kustomize or kubectl on PATH; "
        "repeatable)",
    )
    f.add(
        "--exclude",
        repeat=True,
        metavar="GLOB",
        help="leave out files whose path, name or folder matches GLOB (repeatable)",
    )
    f.switch("--allow-empty", help="accept a folder or stdin with nothing to review (exit 0)")
    f.add(
        "-o",
        "--output",
        default="text",
        choices=reports.FORMATS,
        help=f"report format: {', '.join(reports.FORMATS)}",
    )
    f.add(
        "--config",
        env="CONFIG",
        convert=options.path,
        shown="none, every policy in its default mode",
        metavar="FILE",
        help="the policy configuration file: the one the cluster uses",
    )
    f.add(
        "--cluster-state",
        repeat=True,
        metavar="PATH",
        help="objects already in the cluster, e.g. from `kubectl get -o yaml` (repeatable)",
    )
    f.add(
        "--operation",
        choices=("CREATE", "UPDATE"),
        shown="CREATE, or UPDATE with --old",
        help="the operation each object is admitted with",
    )
    f.add(
        "--old",
        repeat=True,
        metavar="PATH",
        help="the objects as they are now, for UPDATE; matched to the new ones by group, kind, "
        "namespace and name (repeatable)",
    )
    f.switch("--show-mutations", help="print each JSON Patch and the resulting object")
    f.switch("--warnings-as-errors", help="exit 1 on a warning too (a patch is not a warning)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const="findings",
        help="text: only the objects with a finding, and only their findings (default: on, "
        "unless the input is one file)",
    )
    shown.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const="all",
        help="text: every object and every policy's verdict, PASS too (default: on when the "
        "input is one file), and, asked for, what each policy could not judge (notes)",
    )
    f.add(
        "--width",
        convert=options.columns,
        metavar="COLUMNS",
        shown="the terminal's width, no wrapping when not a terminal",
        help="text: wrap long lines at this width; 0 never wraps",
    )
    _user_policy_arguments(f)
    _cel_arguments(f)
    f.finish()


def _user_policy_arguments(f: Flags) -> None:
    f.add(
        "--policy",
        repeat=True,
        metavar="PATH",
        help="ValidatingAdmissionPolicy and binding files or folders to run too (repeatable)",
    )
    f.add(
        "--policy-name-prefix",
        default="",
        shown="no prefix",
        metavar="PREFIX",
        help="prefix of the policy names in those files, as kustomize's namePrefix adds it",
    )


def _test_parser(sub: Subparsers[Parser]) -> None:
    p = sub.add_parser(
        "test",
        help="run policy case files and suite files under DIR",
        description="Run every case file (<policy>/allow|deny|mutate/*.yaml) and suite file "
        "(edgeguard-test.yaml) under DIR and print one row per test.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="the folder of tests")
    f = Flags(p)
    _user_policy_arguments(f)
    _cel_arguments(f)
    f.finish()


def _cel_arguments(f: Flags) -> None:
    """The worker processes that evaluate user policies' CEL (webhook.vap.workers)."""
    base = WorkerSettings()
    f.add(
        "--cel-workers",
        env="CEL_WORKERS",
        default=str(base.workers),
        convert=options.workers,
        metavar="N",
        help="worker processes evaluating user policies",
    )
    f.add(
        "--cel-timeout",
        env="CEL_TIMEOUT",
        default=f"{base.timeout:g}",
        shown=f"{base.timeout:g} second",
        convert=options.deadline,
        metavar="SECONDS",
        help="deadline of a request's user policies; past it their failurePolicy applies",
    )
    f.add(
        "--cel-memory",
        env="CEL_MEMORY",
        default=str(base.memory_mib),
        shown=f"{base.memory_mib} MiB",
        convert=options.mebibytes,
        metavar="MIB",
        help="address space of each worker (0: no limit)",
    )
    f.add(
        "--cel-recycle",
        env="CEL_RECYCLE",
        default=str(base.recycle_after),
        convert=options.evaluations,
        metavar="N",
        help="evaluations after which a worker is replaced (bounds a leak of the CEL runtime)",
    )


def worker_pool(args: argparse.Namespace) -> Pool:
    """The pool of CEL workers the flags ask for (started when a user policy needs it)."""
    settings = WorkerSettings(
        workers=args.cel_workers,
        timeout=args.cel_timeout,
        memory_mib=args.cel_memory,
        recycle_after=args.cel_recycle,
    )
    settings.check()
    return Pool(settings)


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="edgeguard",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"edgeguard {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(sub)
    _certs_parser(sub)
    _review_parser(sub)
    _test_parser(sub)
    return p


def _run_serve(args: argparse.Namespace) -> int:
    # The HTTPS stack and the cluster client are imported only where they are used, so
    # `edgeguard review` in CI starts fast.
    from webhook.cluster import client as kubeclient
    from webhook.serve import ServeSettings, StartupError, run, serve, start

    logs.setup(args.log_level)
    pool = worker_pool(args)
    try:
        shipped, config = configured(args.config, evaluator=pool)
    except ConfigError as exc:
        return _usage(f"configuration error: {exc}")
    except VAPError as exc:
        return _usage(f"user policy error: {exc}")
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
        sockets = start(settings)
        run(serve(settings, Engine(shipped, config), sockets=sockets, pool=pool))
    except StartupError as exc:
        return _usage(str(exc))
    except kubeclient.ClusterConfigError as exc:
        return _usage(f"cluster configuration error: {exc}")
    except WorkerStartError as exc:
        return _usage(str(exc))
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
    config: Path | None,
    policy_paths: Sequence[str] = (),
    prefix: str = "",
    evaluator: Evaluator | None = None,
) -> tuple[list[Policy], Config]:
    """The built-in and user policies (from the configuration and the command line), and the
    configuration checked against all of them. Raises ConfigError or VAPError. User policies
    run in `evaluator`'s workers (default: the process's shared pool)."""
    paths, config_prefix = user_policy_sources(config)
    user = load_user_policies(paths, config_prefix, evaluator) if paths else []
    if policy_paths:
        user += load_user_policies([Path(p) for p in policy_paths], prefix, evaluator)
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
    if not args.paths and not args.kustomize:
        return _usage("review needs a PATH (a file, a folder or - for stdin) or --kustomize DIR")
    pool = worker_pool(args)
    known, config = configured(args.config, args.policy, args.policy_name_prefix, pool)
    pool.start_for(known)  # a worker that cannot start: the command's error (exit 2)
    stdin = sys.stdin.buffer
    chosen = inputs.Options(tuple(args.exclude), args.allow_empty)
    given = inputs.gather(args.paths, stdin, chosen)
    for directory in args.kustomize:
        given.extend(inputs.rendered(directory, chosen))
    reviewed = run.review(
        Engine(known, config),
        given.documents,
        inputs.gather(args.cluster_state, stdin, chosen).documents,
        inputs.gather(args.old, stdin, chosen).documents,
        operation,
        derive=INDEXES,
        skipped=given.skipped,
    )
    style = reports.Style(
        colour=_colour(),
        show_mutations=args.show_mutations,
        findings_only=_findings_only(args),
        width=args.width if args.width is not None else _terminal_width(),
        verbose=args.verbosity == "all",
    )
    sys.stdout.write(reports.render(reviewed, args.output, style, args.warnings_as_errors))
    return reviewed.exit_code(args.warnings_as_errors)


def _findings_only(args: argparse.Namespace) -> bool:
    """-q or --verbose as asked; else every verdict for one file, findings for more."""
    if args.verbosity is not None:
        return bool(args.verbosity == "findings")
    one_file = len(args.paths) == 1 and not args.kustomize and os.path.isfile(args.paths[0])
    return not one_file


def _terminal_width() -> int:
    if not sys.stdout.isatty():
        return 0
    return shutil.get_terminal_size().columns


def _run_test(args: argparse.Namespace) -> int:
    pool = worker_pool(args)
    known, _ = configured(None, args.policy, args.policy_name_prefix, pool)
    pool.start_for(known)  # a worker that cannot start: the command's error (exit 2)
    rows = runner.run(args.dir, {p.name: p for p in known}, INDEXES)
    sys.stdout.write(runner.table(rows, _colour()))
    return 0 if all(row.passed for row in rows) else 1


def _usage(message: str) -> int:
    print(f"edgeguard: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _dispatch(options.resolve(parser().parse_args(argv), ENV))
        sys.stdout.flush()  # here, so that a closed pipe is reported like any other error
    except OptionError as exc:
        return _usage(str(exc))
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        print("edgeguard: interrupted", file=sys.stderr)
        return 130
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _run_serve(args)
    if args.command == "certs":
        return _run_certs(args)
    try:
        with _offline_logs(quiet_crashes=args.command == "test"):
            if args.command == "review":
                return _run_review(args)
            if args.command == "test":
                return _run_test(args)
    except (ManifestError, ReviewError, WorkerStartError) as exc:
        return _usage(str(exc))
    except ConfigError as exc:
        return _usage(f"configuration error: {exc}")
    except VAPError as exc:
        return _usage(f"user policy error: {exc}")
    return 2


@contextlib.contextmanager
def _offline_logs(quiet_crashes: bool) -> Iterator[None]:
    """While `review` or `test` runs, edgeguard's log records go to stderr as one line each,
    without tracebacks: a policy that crashes is in the report already (ERROR, or a test's
    expected verdict), and `test` leaves such crashes to its table."""
    logger = logging.getLogger("edgeguard")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("edgeguard: %(message)s"))
    engine = logging.getLogger("edgeguard.engine")
    saved = logger.handlers[:], logger.propagate, logger.level, engine.level
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.WARNING)
    if quiet_crashes:
        engine.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
        engine.setLevel(saved[3])


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(self.formatMessage(_with_message(record)).split())


def _with_message(record: logging.LogRecord) -> logging.LogRecord:
    record.message = record.getMessage()
    return record


def _broken_pipe() -> int:
    """stdout was closed early (`edgeguard ... | head`): say so once, and keep Python from
    failing again when it flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout has no file descriptor (tests capture it)
    return _usage("the output was closed before all of it was written (broken pipe)")


if __name__ == "__main__":
    sys.exit(main())
