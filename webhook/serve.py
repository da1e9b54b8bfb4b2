"""`edgeguard serve`: wires settings, policies, view, certificates and the HTTPS server.

The only place that starts background tasks and handles signals. SIGTERM stops accepting
connections, lets in-flight requests finish (up to the grace period) and exits 0.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from policies.gateway.indexes import INDEXES
from webhook import certs
from webhook.cluster import client as kubeclient
from webhook.cluster.leases import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_NAMESPACE,
    ClaimMetrics,
    LeaseStore,
    refused,
)
from webhook.cluster.memory import MemoryView
from webhook.cluster.readthrough import ReadMetrics, ReadThrough
from webhook.cluster.reservations import ReservingView
from webhook.cluster.watch import ClusterWatch, ViewMetrics, WatchSettings
from webhook.core.locks import Lock
from webhook.core.outcome import Outcome
from webhook.core.policy import kept_fields
from webhook.core.review import Review
from webhook.core.view import ClusterView
from webhook.deploy import unreceived
from webhook.engine import Engine
from webhook.server.http import (
    DEFAULT_BODY_SECONDS,
    DEFAULT_MAX_BODY,
    ServerState,
    make_app,
    make_monitoring_app,
)
from webhook.server.metrics import watch_certificate
from webhook.server.tls import CertWatcher
from webhook.vap.workers import Pool

log = logging.getLogger("edgeguard.serve")


SIGNALS = (signal.SIGTERM, signal.SIGINT)
DEFAULT_TLS_CERT = Path("certs/tls.crt")
DEFAULT_TLS_KEY = Path("certs/tls.key")


@dataclass(frozen=True)
class ServeSettings:
    host: str = "0.0.0.0"
    port: int = 8443
    # Plain HTTP for /healthz, /readyz and /metrics (kubelet probes and Prometheus present no
    # client certificate); 0: none, they are then only on the HTTPS port.
    monitoring_port: int = 8080
    tls_cert: Path = DEFAULT_TLS_CERT
    tls_key: Path = DEFAULT_TLS_KEY
    # Make development certificates at tls_cert/tls_key when neither exists (not only at the
    # default paths).
    dev_certs: bool = False
    client_ca: Path | None = None
    max_body: int = DEFAULT_MAX_BODY
    extra_sans: tuple[str, ...] = ()
    grace_seconds: float = 25.0
    cert_poll_seconds: float = 2.0
    # aiohttp closes a connection that has not sent a complete request head this long after it
    # opened or after its previous answer (aiohttp's default: 3630 s). Above the API server's
    # 90 s idle timeout for webhook connections (Go's http.DefaultTransport) so that it, not
    # we, ends idle keep-alive connections.
    idle_seconds: float = 120.0
    body_seconds: float = DEFAULT_BODY_SECONDS
    kubeconfig: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    # Where hostname claims are kept as Leases (edgeguard's own namespace), and for how long a
    # claim protects a holder that is not in the view yet.
    namespace: str = DEFAULT_NAMESPACE
    claim_grace_seconds: float = DEFAULT_GRACE_SECONDS
    # With client_ca: the certificate names (CN or DNS SAN) allowed to call; empty: any.
    client_names: tuple[str, ...] = ()


def run(main: Coroutine[Any, Any, None]) -> None:
    """Runs `serve` on uvloop when it is installed (edgeguard[fast]), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


class StartupError(Exception):
    """A reason `serve` cannot start (a missing or broken certificate, ...): exit 2."""


def start(settings: ServeSettings) -> list[socket.socket]:
    """Everything `serve` checks and claims before it runs, in an order that changes nothing
    when something is wrong: the certificate paths, then the listening sockets (a port in use
    is found before anything is written), then the development certificates on first run."""
    make = dev_certificates_needed(settings)
    sockets = listen(settings.host, settings.port)
    try:
        if make:
            write_dev_certificates(settings)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


# What a failed bind means to someone starting edgeguard (errno -> the likely reason).
BIND_REASONS = {
    errno.EADDRINUSE: "the port is in use (is edgeguard already running?); choose another --port",
    errno.EACCES: "permission denied (ports below 1024 need privileges); choose another --port",
    errno.EADDRNOTAVAIL: "no network interface has this address; check --host",
}


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to; a StartupError naming the flag
    and the reason otherwise. Bound here, before any background task, so that serving twice
    or a wrong --host stops the program at once."""
    try:
        found = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"--host {host}: cannot resolve it ({exc.strerror})") from exc
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, address in dict.fromkeys((f, k, p, a) for f, k, p, _, a in found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                reason = BIND_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
                raise StartupError(f"cannot listen on {host}:{port}: {reason}") from exc
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def ensure_dev_certificates(settings: ServeSettings) -> None:
    """Make a development CA and serving certificate on first run, and only then (see
    `dev_certificates_needed`). Nothing is overwritten."""
    if dev_certificates_needed(settings):
        write_dev_certificates(settings)


def dev_certificates_needed(settings: ServeSettings) -> bool:
    """Whether this is a first run that makes development certificates: neither --tls-cert
    nor --tls-key exists, at the default paths or with --dev-certs. Any other missing file is
    a StartupError, never a reason to write (a typo in a path must not replace real keys)."""
    cert, key = settings.tls_cert, settings.tls_key
    present = [_present(cert), _present(key)]
    if all(present):
        return False
    defaults = (cert, key) == (DEFAULT_TLS_CERT, DEFAULT_TLS_KEY)
    if any(present) or not (defaults or settings.dev_certs):
        flag, missing = ("--tls-key", key) if present[0] else ("--tls-cert", cert)
        what = DEFAULT_TLS_KEY.name if present[0] else DEFAULT_TLS_CERT.name
        hint = (
            "the certificate and its key must both exist"
            if any(present)
            else f"development certificates are made only at the default paths "
            f"({DEFAULT_TLS_CERT}, {DEFAULT_TLS_KEY}) or with --dev-certs"
        )
        raise StartupError(f"{what} not found: {missing} ({flag}); {hint}")
    return True


def write_dev_certificates(settings: ServeSettings) -> None:
    cert, key = settings.tls_cert, settings.tls_key
    try:
        paths = certs.generate_dev(cert.parent, settings.extra_sans, cert=cert, key=key)
    except certs.CertFileError as exc:
        raise StartupError(str(exc)) from exc
    print(
        f"edgeguard: made a development serving certificate at {paths.cert} signed by the CA "
        f"at {paths.ca} (development only)"
    )
    print(
        "edgeguard: try it with:\n"
        f"  curl --cacert {paths.ca} -H 'Content-Type: application/json' "
        f"--data @examples/admissionreview-tlsroute.json https://localhost:{settings.port}/validate",
        flush=True,
    )


SWEEP_SECONDS = 10.0  # how often stale claim Leases are looked for


def claim_step(
    engine: Engine, view: ReservingView, leases: LeaseStore
) -> Callable[[Review, Outcome], Awaitable[Outcome]]:
    """After an allowed validating verdict: take its locks through the API server, so that
    another replica cannot allow the same claim (a dry run only checks them). Liveness is read
    from the watched objects, never from this replica's reservations."""
    holds = _holds(engine, view)

    async def settle(review: Review, outcome: Outcome) -> Outcome:
        if review.operation not in ("CREATE", "UPDATE"):
            return outcome
        locks = engine.locks(review, view.memory)  # not our own reservation just made
        if not locks:
            return outcome
        refusal = await leases.acquire(locks, holds, review.dry_run)
        if refusal is None:
            return outcome
        view.unreserve(review)  # admitted (and reserved) by the verdict, refused by its claim
        return refused(outcome, locks[0].policy, refusal)

    return settle


def _holds(engine: Engine, view: ReservingView) -> Callable[[Lock], bool]:
    return lambda lock: engine.holds(view.memory, lock)


def _present(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()
    except OSError as exc:  # a folder on the way that cannot be read, a name too long
        raise StartupError(f"cannot check {path}: {exc.strerror}") from exc


async def serve(
    settings: ServeSettings,
    engine: Engine,
    view: ClusterView | None = None,
    sockets: list[socket.socket] | None = None,
    pool: Pool | None = None,
) -> None:
    """Serves until SIGTERM on `sockets` (from `start`; bound here when not given); with no
    `view`, the live one: the cluster watched, holding what the engine's policies read,
    indexed as Gateway API defines (policies.gateway). The sockets are closed on return.
    `pool`: the workers of the user policies, started here and stopped on the way out."""
    if settings.client_names and settings.client_ca is None:
        for sock in sockets or ():
            sock.close()
        raise StartupError(
            "--client-cn needs --client-ca: without client certificates there is no name to check"
        )
    bound = sockets if sockets is not None else listen(settings.host, settings.port)
    # First, so that SIGTERM while connecting to the cluster still ends the program cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        if pool is not None:
            pool.start_for(engine.policies)  # before serving: a failure stops the program
        await _serve(settings, engine, view, bound, stop, pool)
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        for sock in bound:
            sock.close()
        if pool is not None:
            pool.close()


async def _serve(
    settings: ServeSettings,
    engine: Engine,
    view: ClusterView | None,
    sockets: list[socket.socket],
    stop: asyncio.Event,
    pool: Pool | None = None,
) -> None:
    watcher = CertWatcher(
        settings.tls_cert, settings.tls_key, settings.client_ca, settings.cert_poll_seconds
    )
    if watcher.error is not None:
        raise StartupError(watcher.error)
    live: ReservingView | None = None
    client: kubeclient.KubeClient | None = None
    if view is None:
        client = await kubeclient.connect(settings.kubeconfig, settings.environ)
        if client is None:
            log.warning("no cluster found (no kubeconfig, not in a pod): the cluster view is empty")
        hold = engine.config.view.reservation_seconds
        kept = kept_fields(engine.policies)
        memory = MemoryView(synced=client is None, derive=INDEXES, kept=kept)
        live = ReservingView(memory, hold)
        view = live
    leases: LeaseStore | None = None
    state = ServerState(
        engine,
        view,
        max_body=settings.max_body,
        body_seconds=settings.body_seconds,
        admitted=live.admitted if live else None,
        watched=live.memory if live else None,
        client_names=frozenset(settings.client_names),
    )
    if client is not None and live is not None:
        leases = LeaseStore(
            client,
            settings.namespace,
            settings.claim_grace_seconds,
            metrics=ClaimMetrics(state.metrics.registry),
        )
        state.settle = claim_step(engine, live, leases)
    state.checks["certificate"] = lambda: watcher.loaded
    watch_certificate(state.metrics.registry, lambda: _timestamp(watcher))
    _user_policies(engine, state, pool)
    try:
        monitoring = await _serve_monitoring(settings, state)
    except StartupError:
        if client is not None:
            await client.close()
        raise
    watch: ClusterWatch | None = None
    if client is not None and live is not None:
        metrics = ViewMetrics(state.metrics.registry, objects=state.metrics.view_objects)
        watch = ClusterWatch(client, live, WatchSettings.from_config(engine.config.view), metrics)
        reads = ReadThrough(watch, live, engine, metrics=ReadMetrics(state.metrics.registry))
        state.prepare, state.confirm = reads.prepare, reads.confirm
        watch.start()
    runner = web.AppRunner(
        make_app(state),
        shutdown_timeout=settings.grace_seconds,
        keepalive_timeout=settings.idle_seconds,
    )
    await runner.setup()
    sites = [web.SockSite(runner, sock, ssl_context=watcher.context) for sock in sockets]
    for site in sites:
        await site.start()
    log.info("serving HTTPS on %s:%d", settings.host, settings.port)
    reload_task = asyncio.create_task(watcher.run())
    sweeps = (
        asyncio.create_task(leases.run_sweeps(_holds(engine, live), SWEEP_SECONDS))
        if leases is not None and live is not None
        else None
    )
    try:
        await stop.wait()
        state.closing = True
        # aiohttp's own shutdown drops TLS connections whose body is still arriving, so stop
        # accepting first and wait for the admissions in progress before closing connections.
        for site in sites:
            await site.stop()
        log.info(
            "shutting down: finishing in-flight requests (up to %.0f s)", settings.grace_seconds
        )
        if not await state.drained(settings.grace_seconds):
            log.warning("grace period over with %d admissions in progress", state.in_flight)
    finally:
        reload_task.cancel()
        if sweeps is not None:
            sweeps.cancel()
        await runner.cleanup()
        if monitoring is not None:
            await monitoring.cleanup()
        if watch is not None:
            await watch.close()
    log.info("stopped")


def _user_policies(engine: Engine, state: ServerState, pool: Pool | None) -> None:
    """Counts the workers' failures and replacements, and says at start which user policies
    the shipped webhook rules never send requests to (webhook.deploy.unreceived)."""
    user = [p for p in engine.policies if p.deferred is not None]
    if pool is not None and user:
        pool.on_failure = state.metrics.user_policy_failed
        pool.on_restart = state.metrics.cel_worker_restarted
        log.info(
            "user policies: %d, evaluated in %d worker processes (deadline %g s)",
            len(user),
            pool.settings.workers,
            pool.settings.timeout,
        )
    for line in unreceived(engine.policies):
        log.warning(line)


async def _serve_monitoring(settings: ServeSettings, state: ServerState) -> web.AppRunner | None:
    """The plain-HTTP probes and metrics site; it answers until the very end of a shutdown."""
    if not settings.monitoring_port:
        return None
    runner = web.AppRunner(make_monitoring_app(state), shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.monitoring_port).start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{settings.host}:{settings.monitoring_port}"
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StartupError(f"cannot listen on {where} (--monitoring-port): {reason}") from exc
    log.info(
        "serving /healthz, /readyz and /metrics over HTTP on %s:%d",
        settings.host,
        settings.monitoring_port,
    )
    return runner


def _timestamp(watcher: CertWatcher) -> float | None:
    return None if watcher.not_after is None else watcher.not_after.timestamp()
