"""Certificate generation for development and for self-managed deployments.

Writes a CA and an ECDSA P-256 serving certificate as PEM files, each replaced atomically.
It never reads or serves them: `webhook.certwatch` does that.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_SERVICE = "edgeguard"
DEV_NAMESPACE = "edgeguard"
CA_NAME = "edgeguard webhook CA"
# Backdate validity so a node whose clock lags a little still accepts a fresh certificate.
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    ca_key: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, out_dir: Path) -> CertPaths:
        """The file names `generate` writes, which are also a kubernetes.io/tls Secret's keys."""
        return cls(out_dir / "ca.crt", out_dir / "ca.key", out_dir / "tls.crt", out_dir / "tls.key")


def service_sans(service: str, namespace: str) -> tuple[str, ...]:
    """The names the API server may use to reach a webhook Service."""
    svc = f"{service}.{namespace}.svc"
    return (service, f"{service}.{namespace}", svc, f"{svc}.cluster.local")


def dev_sans(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Loopback names for `edgeguard serve` on a workstation, then the in-cluster names."""
    return _unique(("localhost", "127.0.0.1", *service_sans(DEV_SERVICE, DEV_NAMESPACE), *extra))


def generate(
    out_dir: Path,
    service: str,
    namespace: str,
    extra_sans: Sequence[str] = (),
    days: int = 365,
) -> CertPaths:
    """Write a fresh CA and a serving certificate for `<service>.<namespace>.svc`."""
    sans = _unique((*service_sans(service, namespace), *extra_sans))
    return issue(out_dir, f"{service}.{namespace}.svc", sans, days)


def generate_dev(out_dir: Path, extra_sans: Sequence[str] = (), days: int = 365) -> CertPaths:
    """Write the CA and serving certificate `edgeguard serve` creates on first run."""
    return issue(out_dir, "localhost", dev_sans(extra_sans), days)


def issue(out_dir: Path, common_name: str, sans: Sequence[str], days: int) -> CertPaths:
    """Write a new CA and a serving certificate it signs for exactly `sans`."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not sans:
        raise ValueError("a serving certificate needs at least one subject alternative name")
    not_before = datetime.datetime.now(datetime.UTC) - CLOCK_SKEW
    not_after = not_before + CLOCK_SKEW + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, not_before, not_after)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _serving_certificate(key, ca_key, ca_cert, common_name, sans, not_before, not_after)
    paths = CertPaths.in_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(paths.ca_key, _key_pem(ca_key), 0o600)
    _write(paths.ca, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths.key, _key_pem(key), 0o600)
    _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def ca_bundle(ca_path: Path) -> str:
    """The CA PEM in base64: the `caBundle` of a webhook configuration's clientConfig."""
    return base64.b64encode(ca_path.read_bytes()).decode("ascii")


def san_entry(name: str) -> x509.GeneralName:
    """An IP address SAN for anything that parses as one, a DNS name otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, not_before: datetime.datetime, not_after: datetime.datetime
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    public = key.public_key()
    return (
        _base_builder(name, name, public, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _serving_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    sans: Sequence[str],
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return (
        _base_builder(subject, ca_cert.subject, key.public_key(), not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([san_entry(s) for s in sans]), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` atomically: a reader sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
