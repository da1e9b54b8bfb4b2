"""`edgeguard serve` end to end: dev certificates, HTTPS, SIGTERM drains in-flight requests."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import ClientError, ClientSession, TCPConnector
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpServer

import policies
from tests.cluster.test_client import kubeconfig
from tests.fake_apiserver import FakeApiServer
from tests.support import TEST_POLICIES, admission_review, make_tls, make_view, widget
from webhook.cli import main
from webhook.core.config import Config
from webhook.core.view import ClusterView
from webhook.engine import Engine
from webhook.serve import ServeSettings, StartupError, ensure_dev_certificates, run, serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback() -> list[str]:
    """`edgeguard serve` arguments for a free port on loopback (a check after the bind)."""
    return ["serve", "--host", "127.0.0.1", "--port", str(free_port())]


def settings(tmp_path: Path) -> ServeSettings:
    return ServeSettings(
        host="127.0.0.1",
        port=free_port(),
        monitoring_port=free_port(),
        tls_cert=tmp_path / "certs" / "tls.crt",
        tls_key=tmp_path / "certs" / "tls.key",
        dev_certs=True,
        grace_seconds=5.0,
    )


def test_first_run_makes_dev_certificates_and_prints_a_curl_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = settings(tmp_path)
    ensure_dev_certificates(chosen)
    ca = tmp_path / "certs" / "ca.crt"
    assert ca.exists() and chosen.tls_cert.exists() and chosen.tls_key.exists()
    out = capsys.readouterr().out
    assert (
        f"made a development serving certificate at {chosen.tls_cert} signed by the CA at {ca}"
        in out
    )
    assert (
        f"curl --cacert {ca} -H 'Content-Type: application/json' --data "
        f"@examples/admissionreview-tlsroute.json https://localhost:{chosen.port}/validate"
    ) in out
    before = chosen.tls_cert.read_bytes()
    ensure_dev_certificates(chosen)
    assert chosen.tls_cert.read_bytes() == before


def test_dev_certificates_are_made_at_the_default_paths_without_a_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    ensure_dev_certificates(ServeSettings())
    assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == [
        "ca.crt",
        "ca.key",
        "tls.crt",
        "tls.key",
    ]
    assert capsys.readouterr().out.startswith(
        "edgeguard: made a development serving certificate at certs/tls.crt signed by the CA "
        "at certs/ca.crt (development only)\n"
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_mistyped_key_path_stops_serve_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real"
    args = ["certs", "generate", "--service", "svc", "--namespace", "ns", "--out", str(real)]
    assert main(args) == 0
    before = _snapshot(real)
    capsys.readouterr()
    typo = real / "tls.kye"
    serve_args = ["serve", "--port", "1", "--tls-cert", str(real / "tls.crt"), "--tls-key"]
    assert main([*serve_args, str(typo)]) == 2
    assert capsys.readouterr().err == (
        f"edgeguard: error: tls.key not found: {typo} (--tls-key); the certificate and its key "
        "must both exist\n"
    )
    assert _snapshot(real) == before


def test_missing_certificates_away_from_the_defaults_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = tmp_path / "a" / "tls.crt", tmp_path / "a" / "tls.key"
    assert main(["serve", "--port", "1", "--tls-cert", str(cert), "--tls-key", str(key)]) == 2
    assert capsys.readouterr().err == (
        f"edgeguard: error: tls.crt not found: {cert} (--tls-cert); development certificates are "
        "made only at the default paths (certs/tls.crt, certs/tls.key) or with --dev-certs\n"
    )
    assert not (tmp_path / "a").exists()


def test_certs_generate_refuses_to_replace_a_ca_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["certs", "generate", "--service", "svc", "--namespace", "ns", "--out", str(out)]
    assert main(args) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"edgeguard: error: {out / 'ca.crt'}, {out / 'ca.key'}, {out / 'tls.crt'}, "
        f"{out / 'tls.key'} already exist; pass --force to replace them, or choose another "
        "--out\n"
    )
    assert _snapshot(out) == before
    assert main([*args, "--force"]) == 0
    assert _snapshot(out)["ca.crt"] != before["ca.crt"]


def test_a_key_that_does_not_match_stops_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("one", "two"):
        args = ["certs", "generate", "--service", "s", "--namespace", "n"]
        assert main([*args, "--out", str(tmp_path / name)]) == 0
    cert, key = tmp_path / "one" / "tls.crt", tmp_path / "two" / "tls.key"
    capsys.readouterr()
    assert main([*loopback(), "--tls-cert", str(cert), "--tls-key", str(key)]) == 2
    assert capsys.readouterr().err == (
        f"edgeguard: error: cannot load serving certificate {cert} with key {key}: "
        "the key does not belong to the certificate\n"
    )


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (
            "cert-garbage",
            "the certificate file: it holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ),
        ("key-is-cert", "the key file holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)"),
        ("key-encrypted", "the key file holds an encrypted key (edgeguard needs it unencrypted)"),
    ],
)
def test_an_unloadable_certificate_or_key_stops_serve_naming_the_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken: str, reason: str
) -> None:
    args = ["certs", "generate", "--service", "s", "--namespace", "n", "--out", str(tmp_path)]
    assert main(args) == 0
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    if broken == "cert-garbage":
        cert = tmp_path / "garbage.crt"
        cert.write_text("garbage\n")
    elif broken == "key-is-cert":
        key = tmp_path / "tls.crt"
    else:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        key = tmp_path / "encrypted.key"
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main([*loopback(), "--tls-cert", str(cert), "--tls-key", str(key)]) == 2
    assert capsys.readouterr().err == (
        f"edgeguard: error: cannot load serving certificate {cert} with key {key}: {reason}\n"
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("broken", ["missing", "not a certificate"])
def test_an_unreadable_client_ca_stops_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    args = ["certs", "generate", "--service", "s", "--namespace", "n", "--out", str(tmp_path)]
    assert main(args) == 0
    client_ca = tmp_path / "client-ca.crt"
    if broken != "missing":
        client_ca.write_text(broken)
    capsys.readouterr()
    pair = ["--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key")]
    assert main([*loopback(), *pair, "--client-ca", str(client_ca)]) == 2
    reason = (
        f"cannot read client CA {client_ca}: No such file or directory"
        if broken == "missing"
        else f"cannot load client CA {client_ca}: it holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----)"
    )
    assert capsys.readouterr().err == f"edgeguard: error: {reason}\n"


async def _started(chosen: ServeSettings) -> AsyncIterator[None]:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection(chosen.host, chosen.port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        yield
        return
    raise AssertionError("server did not start")


@asynccontextmanager
async def serving(
    chosen: ServeSettings, engine: Engine, view: ClusterView | None = None
) -> AsyncIterator[None]:
    """`serve` with dev certificates, entered once it accepts connections; left by SIGTERM,
    once it has returned."""
    ensure_dev_certificates(chosen)
    server = asyncio.create_task(serve(chosen, engine, view))
    async for _ in _started(chosen):
        pass
    yield
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(server, 5)


async def cluster_settings(
    tmp_path: Path, aiohttp_server: AiohttpServer, fake: FakeApiServer
) -> ServeSettings:
    """`settings` with a kubeconfig for `fake`, served over TLS on loopback."""
    tls = make_tls()
    api = await aiohttp_server(fake.app(), ssl=tls.server_context)
    config = kubeconfig(tmp_path, f"https://127.0.0.1:{api.port}", tls, {"token": "t"})
    return dataclasses.replace(settings(tmp_path), kubeconfig=config)


async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    chosen = settings(tmp_path)
    ensure_dev_certificates(chosen)
    engine = Engine(TEST_POLICIES, Config.defaults(TEST_POLICIES))
    server = asyncio.create_task(serve(chosen, engine, make_view()))
    async for _ in _started(chosen):
        pass
    context = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
    body = json.dumps(admission_review(widget(labels={"forbidden": "1"}))).encode()
    released = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:10]
        await released.wait()
        yield body[10:]

    async with ClientSession(connector=TCPConnector(ssl=context)) as client:
        url = f"https://localhost:{chosen.port}/validate"
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        request = asyncio.create_task(client.post(url, data=slow_body(), headers=headers))
        await asyncio.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.2)
        assert not server.done()
        released.set()
        response = await request
        answer = await response.json()
        response.release()
    assert response.status == 200
    assert answer["response"]["allowed"] is False
    await asyncio.wait_for(server, 5)
    with pytest.raises(OSError):
        await asyncio.open_connection(chosen.host, chosen.port)


async def test_probes_and_metrics_are_plain_http_on_their_own_port_beside_mtls(
    tmp_path: Path,
) -> None:
    clients = trustme.CA()
    client_ca = tmp_path / "client-ca.crt"
    clients.cert_pem.write_to_path(str(client_ca))
    chosen = dataclasses.replace(settings(tmp_path), client_ca=client_ca)
    engine = Engine(TEST_POLICIES, Config.defaults(TEST_POLICIES))
    async with serving(chosen, engine, make_view()):
        certificate = x509.load_pem_x509_certificate(chosen.tls_cert.read_bytes())
        plain = f"http://127.0.0.1:{chosen.monitoring_port}"
        async with ClientSession() as client:
            async with client.get(plain + "/healthz") as resp:
                assert (resp.status, await resp.json()) == (200, {"status": "ok"})
            async with client.get(plain + "/readyz") as resp:
                assert (resp.status, await resp.json()) == (
                    200,
                    {"ready": True, "checks": {"certificate": True, "view": True}},
                )
            async with client.get(plain + "/metrics") as resp:
                metrics = {
                    sample.name: sample.value
                    for family in text_string_to_metric_families(await resp.text())
                    for sample in family.samples
                }
            async with client.post(plain + "/validate", json={}) as resp:
                assert resp.status == 404  # admission is only on the HTTPS port
        expiry = certificate.not_valid_after_utc.timestamp()
        assert metrics["edgeguard_certificate_expiry_timestamp_seconds"] == expiry
        # The kubelet's httpGet probe over HTTPS presents no client certificate: refused.
        context = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
        async with ClientSession(connector=TCPConnector(ssl=context)) as client:
            with pytest.raises(ClientError):
                async with client.get(f"https://localhost:{chosen.port}/readyz") as resp:
                    await resp.read()
    with pytest.raises(OSError):
        await asyncio.open_connection(chosen.host, chosen.monitoring_port)


async def test_a_monitoring_port_in_use_stops_serve_naming_the_flag(tmp_path: Path) -> None:
    chosen = settings(tmp_path)
    ensure_dev_certificates(chosen)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", chosen.monitoring_port))
        taken.listen()
        engine = Engine(TEST_POLICIES, Config.defaults(TEST_POLICIES))
        with pytest.raises(StartupError) as info:
            await serve(chosen, engine, make_view())
    assert str(info.value) == (
        f"cannot listen on 127.0.0.1:{chosen.monitoring_port} (--monitoring-port): "
        "Address already in use"
    )


def test_a_bad_configuration_stops_serve_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "edgeguard.yaml"
    config.write_text("policies:\n  no-such-policy: {}\n")
    assert main(["serve", "--config", str(config), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"edgeguard: error: configuration error: {config}:2: unknown key 'no-such-policy' in "
        "policies; "
    )


def test_certs_generate_prints_the_ca_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["certs", "generate", "--service", "edgeguard", "--namespace", "edgeguard"]
    assert main([*args, "--out", str(out)]) == 0
    import base64

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote {out / 'ca.crt'}, {out / 'tls.crt'}, {out / 'tls.key'}"
    bundle = printed[1].removeprefix("caBundle: ")
    assert base64.b64decode(bundle) == (out / "ca.crt").read_bytes()


def _pool(name: str, hostname: str) -> dict[str, Any]:
    return {
        "apiVersion": "openvox.voxpupuli.org/v1alpha1",
        "kind": "Pool",
        "metadata": {"name": name, "namespace": "puppet"},
        "spec": {"route": {"enabled": True, "hostname": hostname, "gatewayRef": {"name": "edge"}}},
    }


async def test_serve_keeps_a_live_view_of_the_cluster(
    tmp_path: Path, aiohttp_server: AiohttpServer
) -> None:
    fake = FakeApiServer()
    fake.install_all()
    fake.create(_pool("puppet", "puppet.example.com"))
    chosen = await cluster_settings(tmp_path, aiohttp_server, fake)
    shipped = policies.builtin()
    async with serving(chosen, Engine(shipped, Config.defaults(shipped))):
        context = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
        base = f"https://localhost:{chosen.port}"
        async with ClientSession(connector=TCPConnector(ssl=context)) as client:
            for _ in range(150):
                async with client.get(base + "/readyz") as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.02)
            assert resp.status == 200
            review = admission_review(_pool("second", "puppet.example.com"))
            async with client.post(base + "/validate", json=review) as resp:
                answer = (await resp.json())["response"]
    fake.close()
    assert answer["allowed"] is False
    assert answer["status"]["message"] == (
        "[unique-hostnames] spec.route.hostname: hostname puppet.example.com is already claimed "
        "by Pool puppet/puppet in the same namespace; the OpenVox operator stalls both Pools "
        "when two of them share a hostname. Choose another hostname, or disable the route of "
        "Pool puppet/puppet first"
    )


def test_run_takes_uvloop_when_it_is_installed() -> None:
    loops: list[str] = []

    async def main() -> None:
        loops.append(type(asyncio.get_running_loop()).__module__)

    run(main())
    assert loops == ["uvloop"]


def test_the_cli_default_body_limit_is_the_servers() -> None:
    from webhook import cli
    from webhook.server import http as server

    assert cli.DEFAULT_MAX_BODY == server.DEFAULT_MAX_BODY == 3 * 1024 * 1024
