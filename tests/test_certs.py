"""Tests for webhook.certs: what the generated files contain and that a TLS client trusts them."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from webhook.certs import (
    CertFileError,
    CertPaths,
    ca_bundle,
    dev_sans,
    generate,
    generate_dev,
    san_entry,
    service_sans,
)

SERVICE_SANS = [
    "guard",
    "guard.system",
    "guard.system.svc",
    "guard.system.svc.cluster.local",
]
DEV_DNS = [
    "localhost",
    "edgeguard",
    "edgeguard.edgeguard",
    "edgeguard.edgeguard.svc",
    "edgeguard.edgeguard.svc.cluster.local",
]


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def dns_names(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)


def ip_names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


@pytest.fixture
def paths(tmp_path: Path) -> CertPaths:
    return generate(tmp_path / "out", "guard", "system", extra_sans=["guard.example", "10.0.0.7"])


def test_generate_returns_the_four_paths(tmp_path: Path, paths: CertPaths) -> None:
    out = tmp_path / "out"
    assert paths == CertPaths(out / "ca.crt", out / "ca.key", out / "tls.crt", out / "tls.key")
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]


def test_service_sans() -> None:
    assert service_sans("guard", "system") == tuple(SERVICE_SANS)


def test_serving_cert_sans_in_order(paths: CertPaths) -> None:
    cert = load(paths.cert)
    assert dns_names(cert) == [*SERVICE_SANS, "guard.example"]
    assert ip_names(cert) == ["10.0.0.7"]


def test_serving_cert_profile(paths: CertPaths) -> None:
    cert = load(paths.cert)
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_cert_sign, usage.key_encipherment) == (
        True,
        False,
        False,
    )
    assert cert.subject.rfc4514_string() == "CN=guard.system.svc"
    assert cert.issuer == load(paths.ca).subject


def test_ca_profile(paths: CertPaths) -> None:
    ca = load(paths.ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert (constraints.critical, constraints.value.ca) == (True, True)
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    assert ca.subject.rfc4514_string() == "CN=edgeguard webhook CA"


@pytest.mark.parametrize("name", ["ca", "cert"])
def test_keys_are_p256(paths: CertPaths, name: str) -> None:
    key = load(getattr(paths, name)).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"


def test_validity_days(tmp_path: Path) -> None:
    cert = load(generate(tmp_path, "guard", "system", days=30).cert)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == datetime.timedelta(days=30, minutes=5)


@pytest.mark.parametrize(
    ("name", "mode"), [("ca", 0o644), ("ca_key", 0o600), ("cert", 0o644), ("key", 0o600)]
)
def test_file_modes(paths: CertPaths, name: str, mode: int) -> None:
    assert stat.S_IMODE(getattr(paths, name).stat().st_mode) == mode


def test_regenerate_with_force_replaces_files_and_leaves_no_temporaries(tmp_path: Path) -> None:
    first = load(generate(tmp_path, "guard", "system").cert).serial_number
    second = load(generate(tmp_path, "guard", "system", force=True).cert).serial_number
    assert first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]


def test_generate_refuses_a_folder_that_holds_certificates(tmp_path: Path) -> None:
    generate(tmp_path, "guard", "system")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(CertFileError) as refused:
        generate(tmp_path, "guard", "system")
    assert str(refused.value) == (
        f"{tmp_path / 'ca.crt'}, {tmp_path / 'ca.key'}, {tmp_path / 'tls.crt'}, "
        f"{tmp_path / 'tls.key'} already exist; pass --force to replace them, or choose "
        "another --out"
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_dev_certificates_are_signed_by_the_ca_already_there(tmp_path: Path) -> None:
    first = generate_dev(tmp_path)
    ca = first.ca.read_bytes()
    first.cert.unlink()
    first.key.unlink()
    second = generate_dev(tmp_path)
    assert second.ca.read_bytes() == ca
    issuer = x509.load_pem_x509_certificate(ca)
    load(second.cert).verify_directly_issued_by(issuer)


@pytest.mark.parametrize("kept", ["ca.crt", "ca.key"])
def test_dev_certificates_refuse_half_a_ca(tmp_path: Path, kept: str) -> None:
    generate_dev(tmp_path)
    for name in ("tls.crt", "tls.key", {"ca.crt": "ca.key", "ca.key": "ca.crt"}[kept]):
        (tmp_path / name).unlink()
    lack = {"ca.crt": "ca.key", "ca.key": "ca.crt"}[kept]
    with pytest.raises(CertFileError) as refused:
        generate_dev(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path / kept} exists but {tmp_path / lack} does not: edgeguard signs development "
        f"certificates with that CA and will not replace half of it; restore {tmp_path / lack}, "
        f"or remove {tmp_path / kept}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept]


def test_dev_certificates_never_replace_a_file(tmp_path: Path) -> None:
    (tmp_path / "tls.key").write_text("real key")
    with pytest.raises(CertFileError) as refused:
        generate_dev(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path / 'tls.key'} already exists; edgeguard does not replace it"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.key"]
    assert (tmp_path / "tls.key").read_text() == "real key"


def test_dev_sans() -> None:
    assert dev_sans(["dev.example", "localhost"]) == (
        "localhost",
        "127.0.0.1",
        "edgeguard",
        "edgeguard.edgeguard",
        "edgeguard.edgeguard.svc",
        "edgeguard.edgeguard.svc.cluster.local",
        "dev.example",
    )


def test_generate_dev(tmp_path: Path) -> None:
    cert = load(generate_dev(tmp_path, ["::1"]).cert)
    assert dns_names(cert) == DEV_DNS
    assert ip_names(cert) == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("10.1.2.3", x509.IPAddress(ipaddress.ip_address("10.1.2.3"))),
        ("fd00::1", x509.IPAddress(ipaddress.ip_address("fd00::1"))),
        ("edgeguard.example", x509.DNSName("edgeguard.example")),
        ("10.1.2", x509.DNSName("10.1.2")),
    ],
)
def test_san_entry(name: str, entry: x509.GeneralName) -> None:
    assert san_entry(name) == entry


@pytest.mark.parametrize("days", [0, -1])
def test_rejects_non_positive_days(tmp_path: Path, days: int) -> None:
    with pytest.raises(ValueError, match=f"^days must be at least 1, got {days}$"):
        generate(tmp_path, "guard", "system", days=days)


def test_ca_bundle_decodes_to_the_ca_pem(paths: CertPaths) -> None:
    assert base64.b64decode(ca_bundle(paths.ca)) == paths.ca.read_bytes()


def serve_once(server_ctx: ssl.SSLContext, listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with server_ctx.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(tls.recv(5))


@pytest.mark.parametrize("hostname", ["localhost", "edgeguard.edgeguard.svc", "127.0.0.1"])
def test_handshake_with_generated_ca(tmp_path: Path, hostname: str) -> None:
    paths = generate_dev(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(paths.cert, paths.key)
    client_ctx = ssl.create_default_context(cafile=str(paths.ca))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=serve_once, args=(server_ctx, listener))
        server.start()
        port = listener.getsockname()[1]
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname=hostname) as tls,
        ):
            tls.sendall(b"hello")
            assert tls.recv(5) == b"hello"
            assert tls.version() == "TLSv1.3"
        server.join(timeout=5)
